/**
 * Asks three agents one question and prints the first two answers. Offline against the scripted server by
 * default; against OpenAI when OPENAI_API_KEY is set. Start it with `npm start -w examples/quorum`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Actor } from "@handoffkit/core"
import { OpenAi } from "@handoffkit/llm"
import { ask, script } from "./quorum.ts"

const question = process.argv[2] ?? "How should a producer avoid flooding a slow consumer?"
const program = Effect.gen(function* () {
  const result = yield* ask(question)
  for (const answer of result.answers) console.log(`[${answer.agent}] ${answer.text}`)
  console.log(`first ${result.answers.length} of 3; ${result.spent.calls} calls charged`)
}).pipe(
  Effect.provide([OpenAi.layerLiveOrScripted(script), Actor.layer]),
  // A typed error is handled by its tag: one clear line and a non-zero exit, no stack dump.
  Effect.catchTag("ConfigError", (error) =>
    Console.error(`configuration: ${error.message}`).pipe(
      Effect.andThen(Effect.sync(() => (process.exitCode = 2)))
    )
  )
)

// runMain reports any failure once (no unhandled-rejection stack) and exits non-zero; Ctrl-C interrupts.
NodeRuntime.runMain(program)
