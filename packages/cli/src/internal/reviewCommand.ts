/**
 * `handoffkit review`: k reviewers over disjoint, balanced scopes of the repository's tracked files; their
 * findings joined, deduplicated and printed (or emitted as one JSON document).
 * @internal
 */
import * as Path from "node:path"
import { Console, Effect, Option, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Git from "@handoffkit/pool/Git"
import * as Review from "../Review.ts"
import { argvOf, atLeast, WorkFailed } from "./args.ts"

/** Runs a review and prints it; fails with `WorkFailed` when a reviewer failed (the others' findings kept). */
export const runReview = Effect.fn("handoffkit/cli/review.run")(function* (options: {
  readonly repo: string
  readonly reviewers: number
  readonly reviewer: Review.Reviewer<Review.ReviewerFailed, never>
  readonly json: boolean
}) {
  const result = yield* Review.run({
    repo: options.repo,
    reviewers: options.reviewers,
    reviewer: options.reviewer
  }).pipe(Effect.provide(Git.layer))
  yield* Console.log(options.json ? JSON.stringify(result, null, 2) : Review.format(result))
  if (result.failed.length > 0) {
    return yield* new WorkFailed({
      reason: `${result.failed.length} of ${result.scopes.length} reviewers failed: ${result.failed.map((f) => `reviewer ${f.reviewer}: ${f.message}`).join("; ")}`
    })
  }
  return result
})

/** `handoffkit review`. */
export const review = Command.make(
  "review",
  {
    repo: Flag.String("repo").pipe(
      Flag.withDescription(
        "The repository to review (any directory in it); the current directory by default"
      ),
      Flag.withDefault(".")
    ),
    reviewers: Flag.Int("reviewers").pipe(
      Flag.withAlias("k"),
      Flag.withDescription(
        "How many reviewers: the tracked files are split into this many disjoint scopes (default 3)"
      ),
      Flag.withDefault(3)
    ),
    reviewer: Flag.Literals("reviewer", ["builtin", "codex"]).pipe(
      Flag.withDescription(
        "Who reviews each scope: builtin (offline checks: markers, debugger statements, conflict markers, long lines, whitespace) or codex (one codex agent per scope, its own CODEX_HOME)"
      ),
      Flag.withDefault("builtin")
    ),
    command: Flag.String("command").pipe(
      Flag.withDescription(
        "Instead: a command run once per scope (JSON argv or plain words), given the scope as JSON on stdin, printing JSON-lines findings"
      ),
      Flag.optional
    ),
    model: Flag.String("model").pipe(Flag.withDescription("The model codex reviewers use"), Flag.optional),
    baseUrl: Flag.String("base-url").pipe(
      Flag.withDescription("An OpenAI-compatible endpoint for codex reviewers"),
      Flag.optional
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print {scopes, findings, failed, skipped} as one JSON document"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("handoffkit/cli/review")(function* (input) {
    const reviewers = yield* atLeast("reviewers", input.reviewers, 1)
    const repo = Path.resolve(input.repo)
    let reviewer: Review.Reviewer<Review.ReviewerFailed, never>
    if (Option.isSome(input.command)) {
      const argv = yield* argvOf("command", input.command.value)
      const services = yield* Effect.context<ChildProcessSpawner>()
      const run = Review.command(argv)
      reviewer = (scope, context) => run(scope, context).pipe(Effect.provideContext(services))
    } else if (input.reviewer === "codex") {
      const key = process.env.OPENAI_API_KEY
      reviewer = Review.codex({
        model: Option.getOrUndefined(input.model),
        baseUrl: Option.getOrUndefined(input.baseUrl),
        // Read once, carried redacted: it reaches neither a log nor the output.
        apiKey: key === undefined || key === "" ? undefined : Redacted.make(key)
      })
    } else reviewer = Review.builtin
    yield* runReview({ repo, reviewers, reviewer, json: input.json })
  })
).pipe(
  Command.withDescription(
    "k reviewers over the repository: every tracked file in exactly one of k balanced scopes; findings joined and deduplicated"
  ),
  Command.withExamples([
    { command: "handoffkit review --reviewers 3", description: "Three offline reviewers" },
    {
      command: "handoffkit review --reviewers 3 --reviewer codex --json",
      description: "Three codex reviewers, as JSON"
    }
  ])
)
