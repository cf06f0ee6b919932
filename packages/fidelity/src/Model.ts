/**
 * The optional real-model mode: the same probes asked of a model that is given only the handoff (the
 * context's JSON), scored by exact match: an answer counts when it contains the planted value exactly.
 *
 * **When to use**
 *
 * To see how a model reads what a strategy hands over. `npm run bench -- fidelity.model` runs it through
 * `@handoffkit/llm`'s OpenAI provider when `OPENAI_API_KEY` is set, and is skipped otherwise.
 *
 * **Details**
 *
 * One request per context: the questions are numbered and the model answers with a JSON array of strings,
 * one per question. An answer that is not a string, or missing, counts as not answered. Artifact probes ask
 * the file's history only (not the order across files).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { LanguageModel } from "effect/ai"
import type { Handoff } from "@handoffkit/core"
import * as Probe from "./Probe.ts"

/**
 * The prompt the model gets for a context and its probes.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 * import { Model } from "@handoffkit/fidelity"
 *
 * const prompt = Model.promptOf(Handoff.emptyContext, [{ kind: "continuation", position: 0, step: "ship it" }])
 * console.log(prompt.includes("1. What is pending step number 1?")) // true
 * ```
 *
 * @category prompting
 * @since 0.1.0
 */
export const promptOf = (context: Handoff.HandoffContext, probes: ReadonlyArray<Probe.Probe>): string =>
  [
    "You are taking over a task. This is the handoff you received, as JSON; it is all you know:",
    JSON.stringify(context),
    "",
    'Answer each question from the handoff alone, exactly as it states the answer. Where it does not say, answer "unknown".',
    `Reply with a JSON array of ${probes.length} strings, one answer per question, in order, and nothing else.`,
    "",
    ...probes.map((probe, i) => `${i + 1}. ${Probe.question(probe)}`)
  ].join("\n")

/**
 * The probes a model's reply answers: answer `i` must contain the exact planted value of probe `i`.
 *
 * **Example**
 *
 * ```ts
 * import { Model } from "@handoffkit/fidelity"
 *
 * const probes = [{ kind: "recall", cue: "p99 latency of billing", answer: "418 ms" }] as const
 * console.log(Model.scoreReply('["418 ms"]', probes), Model.scoreReply("I think 41 ms", probes)) // [true] [false]
 * ```
 *
 * @category scoring
 * @since 0.1.0
 */
export const scoreReply = (reply: string, probes: ReadonlyArray<Probe.Probe>): Array<boolean> => {
  const start = reply.indexOf("[")
  const end = reply.lastIndexOf("]")
  let answers: unknown = []
  if (start >= 0 && end > start) {
    try {
      answers = JSON.parse(reply.slice(start, end + 1))
    } catch {
      answers = []
    }
  }
  const list = Array.isArray(answers) ? answers : []
  return probes.map((probe, i) => typeof list[i] === "string" && list[i].includes(Probe.expected(probe)))
}

/**
 * Asks the model in scope every probe about a context, in one request, and tells which it answered.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 * import { OpenAi, ScriptedServer } from "@handoffkit/llm"
 * import { Model } from "@handoffkit/fidelity"
 *
 * const context = { ...Handoff.emptyContext, pending: ["ship it"] }
 * const probes = [{ kind: "continuation", position: 0, step: "ship it" }] as const
 * const offline = OpenAi.layerLiveOrScripted([ScriptedServer.Turn.text('["ship it"]')], { environment: {} })
 * Effect.runPromise(Model.ask(context, probes).pipe(Effect.provide(offline))).then(console.log) // [true]
 * ```
 *
 * @category scoring
 * @since 0.1.0
 */
export const ask = Effect.fn("Model.ask")(function* (
  context: Handoff.HandoffContext,
  probes: ReadonlyArray<Probe.Probe>
) {
  const response = yield* LanguageModel.generateText({ prompt: promptOf(context, probes) })
  return scoreReply(response.text, probes)
})
