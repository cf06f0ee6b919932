/**
 * Asks three agents one question and prints the first two answers. Offline against the scripted server by
 * default; against OpenAI when OPENAI_API_KEY is set. Start it with `npm start -w examples/quorum`.
 */
import { Effect } from "effect"
import { Actor } from "@handoffkit/core"
import { OpenAi } from "@handoffkit/llm"
import { ask, script } from "./quorum.ts"

const question = process.argv[2] ?? "How should a producer avoid flooding a slow consumer?"
const result = await Effect.runPromise(
  ask(question).pipe(Effect.provide([OpenAi.layerLiveOrScripted(script), Actor.layer]))
)
for (const answer of result.answers) console.log(`[${answer.agent}] ${answer.text}`)
console.log(`first ${result.answers.length} of 3; ${result.spent.calls} calls charged`)
