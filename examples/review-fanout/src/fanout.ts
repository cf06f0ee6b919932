/**
 * A review fan-out: a lead sends one piece of code to three reviewers with disjoint scopes, and a join
 * gathers their findings into one round, keyed by the review's correlation id, one part per reviewer.
 */
import { Deferred, type Duration, Effect } from "effect"
import type { LanguageModel } from "effect/ai"
import { Actor, Budget, Join } from "@handoffkit/core"
import type { Registry } from "@handoffkit/core/Registry"
import { Agent, ScriptedServer } from "@handoffkit/llm"
import type * as Scope from "effect/Scope"

/** The reviewers and the part of a review each owns: no two look at the same thing. */
export const reviewers = [
  { name: "security", scope: "authentication, secrets, injection and input validation" },
  { name: "performance", scope: "allocations, loops, I/O and anything on a hot path" },
  { name: "readability", scope: "naming, structure and comments" }
] as const

/** One reviewer's findings. */
export interface Finding {
  readonly reviewer: string
  readonly text: string
}

/** What a review returns: the findings, one per reviewer, and what it spent. */
export interface Review {
  readonly correlationId: string
  readonly findings: ReadonlyArray<Finding>
  readonly spent: Budget.Amounts
}

const instructions = (scope: string) =>
  `You are a code reviewer. Review ONLY ${scope}; other reviewers cover everything else. ` +
  "Answer with a short list of concrete findings, or 'no findings'."

/**
 * Reviews `code` with the three reviewers under one budget and returns the joined findings.
 */
export const review = (
  code: string,
  options?: { readonly budget?: Budget.Limits | undefined; readonly timeout?: Duration.Input | undefined }
): Effect.Effect<Review, unknown, LanguageModel.LanguageModel | Registry | Scope.Scope> =>
  Effect.gen(function* () {
    const budget = yield* Budget.make(options?.budget ?? { calls: 9, tokensOut: 20_000 })
    const round = yield* Deferred.make<Join.Round<Agent.Result>, Join.RoundExpired>()
    yield* Join.actor<Agent.Result>("findings", {
      // One part from each reviewer, and from no one else.
      parts: reviewers.map((r) => r.name),
      timeout: options?.timeout ?? "2 minutes",
      onComplete: (done) => Deferred.succeed(round, done),
      onExpire: (expired) => Deferred.fail(round, expired)
    })
    const agents = yield* Effect.forEach(reviewers, (reviewer) =>
      Agent.make(reviewer.name, { instructions: instructions(reviewer.scope), budget })
    )
    // The lead fans the code out: every message it sends carries the review's correlation id, and the
    // reviewers' results carry it on to the join.
    const correlationId = `review-${Date.now().toString(36)}`
    const lead = yield* Actor.make<string>("lead", (message, context) =>
      Effect.forEach(
        agents,
        (agent) =>
          context.send(agent, Agent.message(message.payload, { reportTo: "findings" }), { correlationId }),
        { discard: true }
      )
    )
    yield* Actor.send(lead, code)
    const joined = yield* Deferred.await(round)
    return {
      correlationId: joined.correlationId,
      findings: joined.parts.map((part) => ({ reviewer: part.from, text: part.value.text })),
      spent: (yield* Budget.snapshot(budget)).spent
    }
  })

/** The scripted reviewers' answers for offline runs: each request goes to the script of its agent. */
export const script: ScriptedServer.Script = ScriptedServer.byAgent({
  security: [
    ScriptedServer.Turn.text(
      "- the token is compared with ==, which leaks timing; use a constant-time compare",
      {
        delayMs: 30,
        usage: { input_tokens: 180, output_tokens: 22 }
      }
    )
  ],
  performance: [
    ScriptedServer.Turn.text("- users.find inside the loop makes the check O(n^2); index users by id once", {
      delayMs: 10,
      usage: { input_tokens: 176, output_tokens: 24 }
    })
  ],
  readability: [
    ScriptedServer.Turn.text("- `chk` says nothing; call it `isAuthorized`", {
      delayMs: 20,
      usage: { input_tokens: 174, output_tokens: 12 }
    })
  ]
})

/** The code the example reviews. */
export const sample = `export function chk(users, requests, token) {
  return requests.filter((r) => users.find((u) => u.id === r.user).token == token)
}`
