/**
 * Probes: questions about a scenario with exact answers, of four kinds.
 *
 * - `recall`: a planted number or identifier (`p99 latency of billing` → `418 ms`).
 * - `artifact`: one per file the chain touched: what was done to it, in order (`AMD`: created, modified,
 *   deleted), and which file was first touched just before it (the order across files).
 * - `decision`: one per decision: what was decided about a subject, and why.
 * - `continuation`: one per step the last agent left pending, at its place in the list.
 *
 * @since 0.1.0
 */
import type * as Scenario from "./Scenario.ts"

/**
 * The kinds of probe, in the order tables list them.
 *
 * **Example**
 *
 * ```ts
 * import { Probe } from "@handoffkit/fidelity"
 *
 * console.log(Probe.kinds.join(", ")) // "recall, artifact, decision, continuation"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const kinds = ["recall", "artifact", "decision", "continuation"] as const

/**
 * One of `kinds`.
 *
 * **Example**
 *
 * ```ts
 * import { Probe } from "@handoffkit/fidelity"
 *
 * const kind: Probe.Kind = "decision"
 * console.log(Probe.kinds.includes(kind)) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Kind = (typeof kinds)[number]

/**
 * A question with its exact answer.
 *
 * **Example**
 *
 * ```ts
 * import { Probe } from "@handoffkit/fidelity"
 *
 * const probe: Probe.Probe = { kind: "artifact", path: "src/retry/policy.ts", history: "AM", after: null }
 * console.log(probe.kind) // "artifact"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Probe =
  | { readonly kind: "recall"; readonly cue: string; readonly answer: string }
  | {
      readonly kind: "artifact"
      readonly path: string
      /** The operations on the file, oldest first: `A` created, `M` modified, `D` deleted. */
      readonly history: string
      /** The file first touched just before this one, `null` for the first. */
      readonly after: string | null
    }
  | { readonly kind: "decision"; readonly subject: string; readonly what: string; readonly why: string }
  | { readonly kind: "continuation"; readonly position: number; readonly step: string }

const letter = { created: "A", modified: "M", deleted: "D" } as const

/**
 * Every probe of a scenario: its facts, its files, its decisions and its last pending steps; with `hops`,
 * those of its first `hops` hops only (what the context handed over at that hop must answer).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Probe, Scenario } from "@handoffkit/fidelity"
 *
 * const scenario = Effect.runSync(Scenario.generate(3, { hops: 4, bytes: 32 * 1024 }))
 * const probes = Probe.probesOf(scenario)
 * console.log(probes.filter((p) => p.kind === "decision").length, probes.filter((p) => p.kind === "continuation").length) // 20 2
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const probesOf = (scenario: Scenario.Scenario, hops: number = scenario.hops.length): Array<Probe> => {
  const histories = new Map<string, string>()
  for (const edit of scenario.edits) {
    if (edit.hop < hops) histories.set(edit.path, (histories.get(edit.path) ?? "") + letter[edit.op])
  }
  const order = [...histories.keys()]
  const pending =
    hops === scenario.hops.length ? scenario.pending : (scenario.hops[hops - 1]?.notes.pending ?? [])
  return [
    ...scenario.facts
      .filter((fact) => fact.hop < hops)
      .map((fact): Probe => ({ kind: "recall", cue: fact.cue, answer: fact.value })),
    ...order.map((path, i): Probe => ({
      kind: "artifact",
      path,
      history: histories.get(path)!,
      after: i === 0 ? null : order[i - 1]
    })),
    ...scenario.decisions
      .filter((d) => d.hop < hops)
      .map((d): Probe => ({ kind: "decision", subject: d.subject, what: d.what, why: d.why })),
    ...pending.map((step, position): Probe => ({ kind: "continuation", position, step }))
  ]
}

/**
 * The question a probe asks, in words (for a model, or a report).
 *
 * **Example**
 *
 * ```ts
 * import { Probe } from "@handoffkit/fidelity"
 *
 * console.log(Probe.question({ kind: "recall", cue: "p99 latency of billing", answer: "418 ms" }))
 * // What is the p99 latency of billing? Answer with the value only.
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const question = (probe: Probe): string => {
  switch (probe.kind) {
    case "recall":
      return `What is the ${probe.cue}? Answer with the value only.`
    case "artifact":
      return `Which operations were applied to the file ${probe.path}, oldest first? Answer with letters only: A created, M modified, D deleted (for example AMM).`
    case "decision":
      return `What was decided about "${probe.subject}", and why? Answer exactly as "<what was decided>, because <why>".`
    case "continuation":
      return `What is pending step number ${probe.position + 1}? Answer with the step only.`
  }
}

/**
 * The exact text a model's answer must contain for the probe to count as answered.
 *
 * **Example**
 *
 * ```ts
 * import { Probe } from "@handoffkit/fidelity"
 *
 * console.log(Probe.expected({ kind: "continuation", position: 0, step: "document src/db/pool.ts step 3.0" }))
 * // document src/db/pool.ts step 3.0
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const expected = (probe: Probe): string => {
  switch (probe.kind) {
    case "recall":
      return probe.answer
    case "artifact":
      return probe.history
    case "decision":
      return `${probe.what}, because ${probe.why}`
    case "continuation":
      return probe.step
  }
}
