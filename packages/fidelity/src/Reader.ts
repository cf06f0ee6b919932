/**
 * The deterministic reader: answers probes from a handed-over context by exact match on the planted values,
 * no model and no judge.
 *
 * **Details**
 *
 * A `View` is what a receiver can read: text segments in order (the summary, then the thread; or, with
 * refs, every item the refs and the thread hold) and the ledger fields. The reader takes the typed ledger
 * when it has the answer's key, and reads the text otherwise:
 *
 * - recall: the line `cue: value`, whole (a value cut by "…" does not count);
 * - artifact: every `apply_patch X path` record in order, giving each file's history and the order of first
 *   touches; both must be exact;
 * - decision: the record `Decided: what, because why.` whose `what` starts with the subject;
 * - continuation: the last `Pending: a; b.` record (or the `pending` field), step at its place.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Compactor, type Corpus, type Handoff } from "@handoffkit/core"
import type * as Probe from "./Probe.ts"

/**
 * What a receiver can read.
 *
 * **Example**
 *
 * ```ts
 * import { Reader } from "@handoffkit/fidelity"
 *
 * const view: Reader.View = { text: ["Pending: ship it."], ledger: { artifacts: {}, decisions: {}, pending: [] } }
 * console.log(view.text.length) // 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface View {
  readonly text: ReadonlyArray<string>
  readonly ledger: Compactor.Ledger
}

/**
 * The view from the context alone: summary, thread and ledger fields, no Corpus.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 * import { Reader } from "@handoffkit/fidelity"
 *
 * const view = Reader.alone({ ...Handoff.emptyContext, summary: "coder: Decided: x: y, because z." })
 * console.log(view.text[0]) // "coder: Decided: x: y, because z."
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const alone = (context: Handoff.HandoffContext): View => ({
  text: [context.summary, ...context.thread.map((item) => `${item.from}: ${item.text}`)],
  ledger: {
    artifacts: context.artifacts ?? {},
    decisions: context.decisions ?? {},
    pending: context.pending ?? []
  }
})

/**
 * The view with refs: every item behind the refs and in the thread (`Compactor.recover`), and the whole
 * ledger (`Compactor.recoverLedger`). A context without refs reads as `alone`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor, Corpus } from "@handoffkit/core"
 * import { Reader } from "@handoffkit/fidelity"
 *
 * const items = Array.from({ length: 20 }, (_, i) => ({ from: "shell", text: `build id of run-${i}: b-${i}` }))
 * const program = Effect.gen(function*() {
 *   const context = yield* Compactor.compact(items, { maxBytes: 400 })
 *   const view = yield* Reader.withRefs(context)
 *   return view.text.length
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // 20
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const withRefs = (
  context: Handoff.HandoffContext
): Effect.Effect<View, Corpus.CorpusError | Compactor.UnrecoverableEntry, Corpus.Corpus> =>
  context.refs.length === 0
    ? Effect.succeed(alone(context))
    : Effect.gen(function* () {
        const items = yield* Compactor.recover(context)
        const ledger = yield* Compactor.recoverLedger(context)
        return { text: items.map((item) => `${item.from}: ${item.text}`), ledger }
      })

interface Reading {
  readonly text: string
  readonly histories: ReadonlyMap<string, string>
  readonly order: ReadonlyArray<string>
  readonly decisions: ReadonlyArray<readonly [string, string]>
  readonly pending: ReadonlyArray<string>
}

const readings = new WeakMap<View, Reading>()

const patchRecord = /apply_patch ([AMD]) (\S+)/g
const decisionRecord = /Decided: ([^\n]+?), because ([^\n]+?)\.(?=\s|$)/g
const pendingRecord = /Pending: ([^\n]*?)\.(?=\s|$)/g

const read = (view: View): Reading => {
  const cached = readings.get(view)
  if (cached !== undefined) return cached
  const text = view.text.join("\n")
  const histories = new Map<string, string>()
  for (const m of text.matchAll(patchRecord)) histories.set(m[2], (histories.get(m[2]) ?? "") + m[1])
  const decisions = [...text.matchAll(decisionRecord)].map((m) => [m[1], m[2]] as const)
  const pendings = [...text.matchAll(pendingRecord)]
  const last = pendings.at(-1)
  const reading: Reading = {
    text,
    histories,
    order: [...histories.keys()],
    decisions,
    pending: last === undefined ? [] : last[1].split("; ")
  }
  readings.set(view, reading)
  return reading
}

const boundary = /[0-9A-Za-z%.]/

/**
 * Whether the view answers the probe, by exact match on the planted value.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 * import { Reader } from "@handoffkit/fidelity"
 *
 * const view = Reader.alone({ ...Handoff.emptyContext, summary: "p99 latency of billing: 418 ms\np50 latency of search: 4…" })
 * console.log(Reader.answers(view, { kind: "recall", cue: "p99 latency of billing", answer: "418 ms" })) // true
 * console.log(Reader.answers(view, { kind: "recall", cue: "p50 latency of search", answer: "41 ms" })) // false
 * ```
 *
 * @category reading
 * @since 0.1.0
 */
export const answers = (view: View, probe: Probe.Probe): boolean => {
  const reading = read(view)
  switch (probe.kind) {
    case "recall": {
      const needle = `${probe.cue}: ${probe.answer}`
      for (let at = reading.text.indexOf(needle); at >= 0; at = reading.text.indexOf(needle, at + 1)) {
        const after = reading.text[at + needle.length]
        if (after === undefined || !boundary.test(after)) return true
      }
      return false
    }
    case "artifact": {
      const typed = Object.keys(view.ledger.artifacts)
      if (Object.hasOwn(view.ledger.artifacts, probe.path)) {
        const i = typed.indexOf(probe.path)
        return (
          view.ledger.artifacts[probe.path] === probe.history &&
          (i === 0 ? null : typed[i - 1]) === probe.after
        )
      }
      const i = reading.order.indexOf(probe.path)
      return (
        i >= 0 &&
        reading.histories.get(probe.path) === probe.history &&
        (i === 0 ? null : reading.order[i - 1]) === probe.after
      )
    }
    case "decision": {
      const prefix = `${probe.subject}: `
      const typed = Object.entries(view.ledger.decisions).find(([what]) => what.startsWith(prefix))
      const found = typed ?? reading.decisions.find(([what]) => what.startsWith(prefix))
      return found !== undefined && found[0] === probe.what && found[1] === probe.why
    }
    case "continuation": {
      const pending = view.ledger.pending.length > 0 ? view.ledger.pending : reading.pending
      return pending[probe.position] === probe.step
    }
  }
}
