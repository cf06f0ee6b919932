/**
 * The service's review: three reviewers with disjoint scopes look at one piece of code, and a join gathers
 * their results into one round keyed by the run's id. Every actor of a run lives under the run's own
 * addresses (`<runId>/security`, `<runId>/findings`, ...) in its own nursery, so runs never share a
 * mailbox and closing a run's scope stops every fiber it started.
 *
 * This is the service's own module (examples do not import each other); it follows the idea of
 * examples/review-fanout.
 */
import { Duration, Effect, Schema } from "effect"
import type { LanguageModel } from "effect/ai"
import type * as Scope from "effect/Scope"
import type * as EffectTracer from "effect/Tracer"
import { Actor, Budget, Join, Nursery } from "@handoffkit/core"
import type { Registry } from "@handoffkit/core/Registry"
import { Agent, ScriptedServer } from "@handoffkit/llm"

/** The reviewers and the part of a review each owns: no two look at the same thing. */
export const reviewers = [
  { name: "security", scope: "authentication, secrets, injection and input validation" },
  { name: "performance", scope: "allocations, loops, I/O and anything on a hot path" },
  { name: "readability", scope: "naming, structure and comments" }
] as const

/** The body of `POST /reviews`: the code to review and, optionally, its language. */
export const ReviewRequest = Schema.Struct({
  code: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(100_000)),
  language: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)))
})

/** A decoded `POST /reviews` body. */
export type ReviewRequest = typeof ReviewRequest.Type

/** One reviewer's result: its text, and how its turn ended (`"answered"`, `"budget-exhausted"`, ...). */
export interface Finding {
  readonly reviewer: string
  readonly outcome: Agent.Outcome
  readonly text: string
}

/** What a run returns: the joined findings, one per reviewer in the order of `reviewers`, and its spend. */
export interface Review {
  readonly runId: string
  readonly findings: ReadonlyArray<Finding>
  readonly spent: Budget.Amounts
}

/** A progress event of a run, as streamed to a client that asked for server-sent events. */
export type Progress =
  | {
      readonly type: "started"
      readonly runId: string
      readonly reviewers: ReadonlyArray<string>
      /** The run's budget: the dimensions it limits. */
      readonly limits: Budget.Usage
    }
  | ({ readonly type: "finding"; readonly runId: string } & Finding)
  | { readonly type: "findings"; readonly runId: string; readonly findings: ReadonlyArray<Finding> }
  | { readonly type: "done"; readonly runId: string; readonly spent: Budget.Amounts }
  | { readonly type: "error"; readonly runId: string; readonly error: string; readonly message: string }

/** A run that ended without its joined findings: the round expired before every reviewer reported. */
export class ReviewFailed extends Schema.TaggedError<ReviewFailed>()("ReviewFailed", {
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `review ${this.runId} failed: ${this.reason}`
  }
}

/** What one run needs besides the request. */
export interface RunOptions {
  readonly runId: string
  /** The run's budget: every model call of its agents is charged to it. */
  readonly budget: Budget.Budget
  /** Called with each progress event, from whichever fiber produced it; must not block. */
  readonly emit: (event: Progress) => void
  /** How long the join waits for all reviewers. */
  readonly timeout: Duration.Input
  /** The output bound of each model call (reserved from the budget before the call). */
  readonly maxOutputTokens: number
  /** The request's span: it is given the id of the message that started the run. */
  readonly span?: EffectTracer.Span | undefined
}

/** The dimensions of `amounts` that are finite: a budget's limits without the unlimited ones. */
export const limited = (amounts: Budget.Amounts): Budget.Usage => {
  const out: { -readonly [K in keyof Budget.Usage]: Budget.Usage[K] } = {}
  for (const key of ["tokensIn", "tokensOut", "cost", "calls"] as const) {
    if (Number.isFinite(amounts[key])) out[key] = amounts[key]
  }
  return out
}

const instructions = (scope: string) =>
  `You are a code reviewer. Review ONLY ${scope}; other reviewers cover everything else. ` +
  "Answer with a short list of concrete findings, or 'no findings'."

/** The address of a run's actor: the run id, a slash, the actor's role. */
export const address = (runId: string, role: string): string => `${runId}/${role}`

/** The role of an address made by `address` (the part after the last slash). */
export const roleOf = (actor: string): string => actor.slice(actor.lastIndexOf("/") + 1)

/**
 * Runs one review: starts the run's nursery, its join and collector, three agents and a lead, sends the code,
 * and waits for the joined round. Agents are made here, so their turn spans are children of the current span.
 * Closing the Scope interrupts and awaits every fiber of the run (agents' HTTP requests are aborted).
 */
export const run = (
  request: ReviewRequest,
  options: RunOptions
): Effect.Effect<Review, ReviewFailed, Scope.Scope | Registry | LanguageModel.LanguageModel> =>
  Effect.gen(function* () {
    const { budget, emit, runId } = options
    const nursery = yield* Nursery.make({ name: runId, maxChildren: reviewers.length + 2 })
    const parts = reviewers.map((reviewer) => address(runId, reviewer.name))
    const join = yield* Join.make<Agent.Result>({
      parts,
      timeout: options.timeout,
      name: address(runId, "findings")
    })
    // The collector reports each result as it arrives, then offers it to the join: the envelope's `from`
    // (stamped by the runtime) is the part's sender, so no reviewer can fill another's part.
    yield* Actor.make<Agent.Result>(
      address(runId, "findings"),
      (message) => {
        const result = message.payload
        emit({
          type: "finding",
          runId,
          reviewer: roleOf(message.from),
          outcome: result.outcome,
          text: result.text
        })
        return Effect.ignore(Join.offer(join, message))
      },
      { nursery }
    )
    const agents = yield* Effect.forEach(reviewers, (reviewer) =>
      Agent.make(address(runId, reviewer.name), {
        instructions: instructions(reviewer.scope),
        budget,
        maxOutputTokens: options.maxOutputTokens,
        maxSteps: 1,
        actor: { nursery }
      })
    )
    const code =
      request.language === undefined ? request.code : `Language: ${request.language}\n\n${request.code}`
    // The lead fans the code out with the run's id as correlation id; the reviewers' results carry it on to
    // the join. The request's span is given the id of the message that started it all, which every agent
    // turn carries as its cause.
    const lead = yield* Actor.make<string>(
      address(runId, "lead"),
      (message, context) => {
        options.span?.attribute("handoffkit.message_id", message.id)
        return Effect.forEach(
          agents,
          (agent) =>
            context.send(agent, Agent.message(message.payload, { reportTo: address(runId, "findings") }), {
              correlationId: runId
            }),
          { discard: true }
        )
      },
      { nursery }
    )
    yield* Actor.send(lead, code)
    const round = yield* Join.await(join, runId).pipe(
      Effect.mapError(
        (expired) =>
          new ReviewFailed({
            runId,
            reason: `no joined findings within ${Duration.format(Duration.fromInputUnsafe(options.timeout))} (${expired.message})`
          })
      )
    )
    const findings = reviewers.map((reviewer): Finding => {
      const result = round.bySender.get(address(runId, reviewer.name))!
      return { reviewer: reviewer.name, outcome: result.outcome, text: result.text }
    })
    emit({ type: "findings", runId, findings })
    return { runId, findings, spent: (yield* Budget.snapshot(budget)).spent }
  }).pipe(
    Effect.catchTags({
      AddressTaken: Effect.die,
      MailboxInvalid: Effect.die,
      ActorInvalid: Effect.die,
      NurseryInvalid: Effect.die,
      JoinInvalid: Effect.die,
      AgentInvalid: Effect.die,
      DeliveryError: Effect.die
    })
  )

// -----------------------------------------------------------------------------
// The scripted model, for offline runs, tests and the benchmark
// -----------------------------------------------------------------------------

const answers: Record<string, { readonly text: string; readonly usage: ScriptedServer.TurnUsage }> = {
  security: {
    text: "- the token is compared with ==, which leaks timing; use a constant-time compare",
    usage: { input_tokens: 180, output_tokens: 22 }
  },
  performance: {
    text: "- users.find inside the loop makes the check O(n^2); index users by id once",
    usage: { input_tokens: 176, output_tokens: 24 }
  },
  readability: {
    text: "- `chk` says nothing; call it `isAuthorized`",
    usage: { input_tokens: 174, output_tokens: 12 }
  }
}

/** The reviewer a model request comes from (its role, read from the agent's instructions), if any. */
export const reviewerOf = (request: ScriptedServer.RecordedRequest): string | undefined => {
  const agent = ScriptedServer.agentOf(request)
  return agent === undefined ? undefined : roleOf(agent)
}

/**
 * A scripted model for any number of runs: each request is answered with its reviewer's canned findings,
 * after `delayMs` (default 20).
 */
export const script =
  (options?: {
    readonly delayMs?: number | undefined
  }): ((request: ScriptedServer.RecordedRequest) => ScriptedServer.Turn) =>
  (request) => {
    const reviewer = reviewerOf(request)
    const answer = reviewer === undefined ? undefined : answers[reviewer]
    return answer === undefined
      ? ScriptedServer.Turn.error(500, { message: `no scripted answer for reviewer ${String(reviewer)}` })
      : ScriptedServer.Turn.text(answer.text, { delayMs: options?.delayMs ?? 20, usage: answer.usage })
  }

/** The code the examples and tests review. */
export const sample = `export function chk(users, requests, token) {
  return requests.filter((r) => users.find((u) => u.id === r.user).token == token)
}`
