/**
 * Runs the review fan-out on a sample and prints the joined findings. Offline against the scripted server
 * by default; against OpenAI when OPENAI_API_KEY is set (HANDOFFKIT_MODEL picks the model).
 * Start it with `npm start -w examples/review-fanout`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { type Config, Console, Effect, Predicate } from "effect"
import { Actor } from "@handoffkit/core"
import { OpenAi } from "@handoffkit/llm"
import { review, sample, script } from "./fanout.ts"

const program = Effect.gen(function* () {
  const result = yield* review(sample).pipe(Effect.scoped)
  for (const finding of result.findings) console.log(`[${finding.reviewer}]\n${finding.text}\n`)
  console.log(
    `round ${result.correlationId}: ${result.findings.length} reviewers, ${result.spent.calls} calls`
  )
}).pipe(
  Effect.provide([OpenAi.layerLiveOrScripted(script), Actor.layer]),
  // A typed error is handled by its tag: one clear line and a non-zero exit, no stack dump.
  // (`review` fails with `unknown`, so the tag is tested here rather than by `Effect.catchTag`.)
  Effect.catchIf(
    (error): error is Config.ConfigError => Predicate.isTagged(error, "ConfigError"),
    (error) =>
      Console.error(`configuration: ${error.message}`).pipe(
        Effect.andThen(Effect.sync(() => (process.exitCode = 2)))
      )
  )
)

// runMain reports any failure once (no unhandled-rejection stack) and exits non-zero; Ctrl-C interrupts.
NodeRuntime.runMain(program)
