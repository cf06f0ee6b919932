/**
 * Runs the review fan-out on a sample and prints the joined findings. Offline against the scripted server
 * by default; against OpenAI when OPENAI_API_KEY is set (HANDOFFKIT_MODEL picks the model).
 * Start it with `npm start -w examples/review-fanout`.
 */
import { Effect } from "effect"
import { Actor } from "@handoffkit/core"
import { OpenAi } from "@handoffkit/llm"
import { review, sample, script } from "./fanout.ts"

const result = await Effect.runPromise(
  review(sample).pipe(Effect.scoped, Effect.provide([OpenAi.layerLiveOrScripted(script), Actor.layer]))
)
for (const finding of result.findings) console.log(`[${finding.reviewer}]\n${finding.text}\n`)
console.log(`round ${result.correlationId}: ${result.findings.length} reviewers, ${result.spent.calls} calls`)
