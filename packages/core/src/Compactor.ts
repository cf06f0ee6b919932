/**
 * The `Compactor` projects a conversation onto a `HandoffContext` that fits a byte bound: the most recent
 * items verbatim (`thread`), a summary of the rest (`summary`), and Corpus refs to the full text of
 * everything that was not kept verbatim (`refs`). Its guarantees: the context's size, the UTF-8 bytes of
 * `JSON.stringify(context)`, never exceeds `policy.maxBytes`; and nothing is lost: `recover` rebuilds every
 * original item, byte for byte and in order, from the refs and the thread.
 *
 * **When to use**
 *
 * Before a handoff (or whenever a context outgrows a model's window): compact, send the context, and let
 * the receiver read the thread, skim the summary, and `recover` (or `Corpus.get` one ref) when it needs
 * the details. Summarizers are pluggable: extractive by default, a model when one is given.
 *
 * To hand on a context you received, `append` it your items: its refs travel on without being read. Give
 * the files you touched, your decisions and the steps left as `notes`: they travel as typed fields of the
 * context (`artifacts`, `decisions`, `pending`), first within the bound (docs/fidelity.md measures why).
 *
 * @since 0.1.0
 */
import { Context, Effect, Schema } from "effect"
import type { Usage } from "./Budget.ts"
import * as Corpus from "./Corpus.ts"
import type { HandoffContext } from "./Handoff.ts"
import * as internal from "./internal/compactor.ts"
import { checkNamespace, makeRef } from "./internal/corpus.ts"
import * as lineage from "./internal/lineage.ts"
import * as Tracer from "./Tracer.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * One message of a conversation, as a context's thread holds it.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const item: Compactor.Item = { from: "planner", text: "Split the migration in two steps." }
 * console.log(item.from) // "planner"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Item {
  readonly from: string
  readonly text: string
}

/**
 * What a summarizer is told besides the items: how many bytes its summary may take (as the UTF-8 bytes of
 * the summary inside the context's JSON, escaping included), and, when appending, the summary it replaces.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const hint: Compactor.SummaryHint = { maxBytes: 400 }
 * console.log(hint.maxBytes) // 400
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SummaryHint {
  readonly maxBytes: number
  /**
   * When appending to a received context (`append`): its summary, which covers what came before the
   * items. A summarizer should fold it in: the new summary replaces it.
   */
  readonly previous?: string | undefined
}

/**
 * Summarizes the items the compactor does not keep verbatim.
 *
 * **When to use**
 *
 * Write one to summarize with a model (the llm package builds one from an agent), or with rules of your
 * own. Give it in `Policy.summarizer`, or provide it for a whole program with `CurrentSummarizer`.
 *
 * **Details**
 *
 * It receives the dropped items, oldest first, and a hint of the bytes available. It may return more: the
 * compactor truncates the summary to fit (at a code point, with "…"), so the bound holds whatever it
 * returns. Its failure fails `compact`; fall back inside it (`Effect.orElse`) if a summary is optional.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor } from "@handoffkit/core"
 *
 * const countOnly: Compactor.Summarizer = (items) => Effect.succeed(`${items.length} earlier messages`)
 * console.log(Effect.runSync(countOnly([{ from: "a", text: "hi" }], { maxBytes: 100 }))) // "1 earlier messages"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Summarizer<E = never, R = never> = (
  items: ReadonlyArray<Item>,
  hint: SummaryHint
) => Effect.Effect<string, E, R>

/**
 * How to compact.
 *
 * **Details**
 *
 * - `maxBytes`: the bound on the context's size (UTF-8 bytes of its JSON). Always kept.
 * - `keepRecent` (optional): at most this many recent items stay verbatim in the thread (default: as many
 *   as fit).
 * - `summaryBytes` (optional): bytes kept free for the summary when filling the thread (default: a quarter
 *   of `maxBytes`). Whatever the thread and refs leave over also goes to the summary.
 * - `summarizer` (optional): overrides `CurrentSummarizer`.
 * - `ledgerBytes` (optional): at most this many bytes for the ledger fields (`artifacts`, `decisions`,
 *   `pending`); default: all they need, beside one ref. They come first: the thread and the summary share
 *   what they leave.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const policy: Compactor.Policy = { maxBytes: 4_000, keepRecent: 6 }
 * console.log(policy.keepRecent) // 6
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Policy<E = never, R = never> {
  readonly maxBytes: number
  readonly keepRecent?: number | undefined
  readonly summaryBytes?: number | undefined
  readonly summarizer?: Summarizer<E, R> | undefined
  readonly ledgerBytes?: number | undefined
}

/**
 * One operation on a file, for the artifact trail.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const edit: Compactor.Artifact = { op: "modified", path: "src/retry.ts" }
 * console.log(edit.op) // "modified"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Artifact {
  readonly op: "created" | "modified" | "deleted"
  readonly path: string
}

/**
 * A decision and its reason.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const decision: Compactor.Decision = { what: "retry 3 times", why: "the gateway drops bursts" }
 * console.log(decision.why) // "the gateway drops bursts"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Decision {
  readonly what: string
  readonly why: string
}

/**
 * What an agent records as data while it works, for the context's ledger fields.
 *
 * **When to use**
 *
 * Give the files you touched (from your edit tools), the decisions you made and the steps left in
 * `CompactOptions.notes`: they travel as fields of the context (`artifacts`, `decisions`, `pending`), kept
 * first within the bound, instead of as prose a summary may cut.
 *
 * **Details**
 *
 * - `artifacts`: operations in the order they happened; each appends to its path's history.
 * - `decisions`: a decision on a `what` already recorded replaces its reason.
 * - `pending` (optional): the steps pending now, next first; it replaces the received list (leave it out
 *   to keep that list).
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const notes: Compactor.Notes = {
 *   artifacts: [{ op: "created", path: "src/retry.ts" }],
 *   decisions: [{ what: "retry 3 times", why: "the gateway drops bursts" }],
 *   pending: ["add the backoff test"]
 * }
 * console.log(notes.pending?.[0]) // "add the backoff test"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Notes {
  readonly artifacts?: ReadonlyArray<Artifact> | undefined
  readonly decisions?: ReadonlyArray<Decision> | undefined
  readonly pending?: ReadonlyArray<string> | undefined
}

/**
 * A context's whole ledger, as `recoverLedger` rebuilds it: the fields and what the bound moved into the
 * Corpus.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const ledger: Compactor.Ledger = { artifacts: { "src/retry.ts": "AM" }, decisions: {}, pending: [] }
 * console.log(ledger.artifacts["src/retry.ts"]) // "AM"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Ledger {
  readonly artifacts: { readonly [path: string]: string }
  readonly decisions: { readonly [what: string]: string }
  readonly pending: ReadonlyArray<string>
}

/**
 * Where and for whom to compact.
 *
 * **Details**
 *
 * - `namespace` (optional): the Corpus namespace for the stored items (default `"context"`).
 * - `budget` (optional): the remaining budget to carry in the context; it counts toward the bound.
 * - `actor` (optional): who compacts, for the trace (default `"compactor"`).
 * - `notes` (optional): artifacts, decisions and pending steps to add to the context's ledger fields.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const options: Compactor.CompactOptions = { namespace: "task-42", budget: { tokensIn: 20_000 } }
 * console.log(options.namespace) // "task-42"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CompactOptions {
  readonly namespace?: string | undefined
  readonly budget?: Usage | undefined
  readonly actor?: string | undefined
  readonly notes?: Notes | undefined
}

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * The bound cannot hold even a context with one ref and nothing else (or, with no items, the empty
 * context), so no compaction can keep both the bound and recoverability.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * console.log(new Compactor.BoundTooSmall({ maxBytes: 64, required: 127 }).message)
 * // a compacted context needs at least 127 bytes, but the bound is 64
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class BoundTooSmall extends Schema.TaggedError<BoundTooSmall>()("BoundTooSmall", {
  maxBytes: Schema.Number,
  required: Schema.Number
}) {
  override get message() {
    return `a compacted context needs at least ${this.required} bytes, but the bound is ${this.maxBytes}`
  }
}

/**
 * A ref in a context points to an entry the compactor did not write (not an item or an index of items).
 *
 * **Example**
 *
 * ```ts
 * import { Compactor } from "@handoffkit/core"
 *
 * const error = new Compactor.UnrecoverableEntry({ ref: "corpus://context/sha256-00", reason: "not a compactor entry" })
 * console.log(error.message) // cannot recover items from corpus://context/sha256-00: not a compactor entry
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class UnrecoverableEntry extends Schema.TaggedError<UnrecoverableEntry>()("UnrecoverableEntry", {
  ref: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot recover items from ${this.ref}: ${this.reason}`
  }
}

// -----------------------------------------------------------------------------
// summarizers
// -----------------------------------------------------------------------------

/**
 * The default summarizer: one line per item, `from: first sentence`, each cut to an equal share of the
 * available bytes (between 24 and 240) with "…". When appending, the previous summary's lines come first,
 * sharing the bytes like the others.
 *
 * **When to use**
 *
 * When no model is at hand, or as the fallback of a model summarizer: it is cheap, deterministic, and
 * quotes the items rather than paraphrasing them.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor } from "@handoffkit/core"
 *
 * const summary = Effect.runSync(
 *   Compactor.extractive(
 *     [
 *       { from: "planner", text: "Add retries. Three at most, with backoff." },
 *       { from: "coder", text: "Done!  Tests pass." }
 *     ],
 *     { maxBytes: 200 }
 *   )
 * )
 * console.log(summary) // "planner: Add retries.\ncoder: Done!"
 * ```
 *
 * @category summarizers
 * @since 0.1.0
 */
export const extractive: Summarizer = (items, hint) =>
  Effect.sync(() => internal.extract(items, hint.maxBytes, hint.previous ?? ""))

/**
 * The summarizer `compact` uses when the policy names none. Defaults to `extractive`.
 *
 * **When to use**
 *
 * Provide a model-backed summarizer once for a whole program instead of passing it in every policy. It
 * cannot fail: a model summarizer provided here should fall back to `extractive` on error.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor, Corpus } from "@handoffkit/core"
 *
 * const items = Array.from({ length: 20 }, (_, i) => ({ from: "agent", text: `step ${i} done. details follow.` }))
 * const program = Compactor.compact(items, { maxBytes: 600 }).pipe(
 *   Effect.provideService(Compactor.CurrentSummarizer, (dropped) => Effect.succeed(`${dropped.length} steps`)),
 *   Effect.provide(Corpus.layerMemory)
 * )
 * Effect.runPromise(program).then((context) => console.log(context.summary)) // "15 steps"
 * ```
 *
 * @category summarizers
 * @since 0.1.0
 */
export const CurrentSummarizer: Context.Reference<Summarizer> = Context.Reference<Summarizer>(
  "@handoffkit/core/Compactor/CurrentSummarizer",
  { defaultValue: () => extractive }
)

// -----------------------------------------------------------------------------
// compacting
// -----------------------------------------------------------------------------

/**
 * The size the bound applies to: the UTF-8 bytes of `JSON.stringify(context)`.
 *
 * **Example**
 *
 * ```ts
 * import { Compactor, Handoff } from "@handoffkit/core"
 *
 * console.log(Compactor.byteLength(Handoff.emptyContext)) // 36
 * ```
 *
 * @category compacting
 * @since 0.1.0
 */
export const byteLength = (context: HandoffContext): number => internal.jsonBytes(context)

const defaultNamespace = "context"

/** What `compact` and `append` return. */
type Compacted<E, R> = Effect.Effect<
  HandoffContext,
  BoundTooSmall | Corpus.InvalidName | Corpus.CorpusCorrupt | Corpus.CorpusStorageError | E,
  Corpus.Corpus | R
>

/**
 * Compacts items into a `HandoffContext` within `policy.maxBytes`, storing what it does not keep verbatim
 * in the Corpus.
 *
 * **When to use**
 *
 * Before handing a task over (`Handoff.make(task, context)`), or to keep an agent's own context bounded.
 *
 * **Details**
 *
 * - If every item fits verbatim (within `keepRecent`), the context is just the thread: no summary, no refs,
 *   nothing written.
 * - Otherwise the thread is the longest run of most recent items that fits (leaving `summaryBytes` free),
 *   every older item is stored as its own Corpus entry, and `refs` lists them in order; when those refs do
 *   not fit, an index entry listing them is stored and `refs` holds that one ref. The summary of the older
 *   items gets the remaining bytes and is truncated to them.
 * - With `options.notes`, the context's ledger fields (`artifacts`, `decisions`, `pending`) come first
 *   (within `policy.ledgerBytes`); what does not fit is stored as one ledger entry, listed with the refs.
 * - Given every item `recover` returned for a context (in this process), the result continues that
 *   context: its ledger fields and ledger entries travel on, and `Handoff.send` accepts it in its place.
 * - `byteLength(context) <= policy.maxBytes`, always; `recover(context)` returns the items, byte for byte.
 * - Fails with `BoundTooSmall` only if the bound cannot hold one ref (the required size depends on the
 *   namespace's length and the budget), with `InvalidName` for a bad namespace, and with the Corpus's and
 *   the summarizer's errors.
 * - Emits `compactor.compact` (namespace, inputBytes, outputBytes, dropped, kept, refs, indexed) on the
 *   tracer in scope.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor, Corpus } from "@handoffkit/core"
 *
 * const items = [
 *   { from: "planner", text: "Fix the flaky upload test. It fails one run in ten on CI." },
 *   { from: "coder", text: "Found it: the retry loop races the timeout. ".repeat(8) },
 *   { from: "reviewer", text: "Ship it." }
 * ]
 * const program = Effect.gen(function*() {
 *   const context = yield* Compactor.compact(items, { maxBytes: 360 }, { namespace: "task-7" })
 *   console.log(Compactor.byteLength(context) <= 360, context.refs.length, context.thread.length) // true 2 1
 *   console.log(context.summary) // planner: Fix the flaky upload test.…
 *   const recovered = yield* Compactor.recover(context)
 *   console.log(recovered[1].text === items[1].text) // true
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program)
 * ```
 *
 * @category compacting
 * @since 0.1.0
 */
export const compact = <E = never, R = never>(
  items: ReadonlyArray<Item>,
  policy: Policy<E, R>,
  options?: CompactOptions
): Compacted<E, R> => run(undefined, items, policy, options).pipe(Effect.withSpan("Compactor.compact"))

/**
 * Compacts a received context with new items into a context within `policy.maxBytes`, carrying every ref
 * of the received one forward without reading what they point to.
 *
 * **When to use**
 *
 * When an agent hands on a task it received: `append(received, myItems, policy)` instead of recovering the
 * whole history at every hop (which reads all of it, each hop). A context built from `received.thread`
 * alone would lose the received refs; `Handoff.send` refuses such a context with `RefsDropped`.
 *
 * **Details**
 *
 * - The items compacted are `received.thread` followed by `items`; the received refs come first in the new
 *   refs (listed, or inside the index entry, which may nest the received index). So `recover` of the result
 *   returns `recover(received)` followed by `items`, byte for byte.
 * - The received summary is handed to the summarizer as `hint.previous` (the default folds its lines in).
 * - The received ledger fields continue with `options.notes`; what the bound leaves out of them is stored
 *   in the Corpus (`recoverLedger` rebuilds all of it).
 * - The received budget is kept unless `options.budget` replaces it.
 * - The bound and the errors are those of `compact`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor, Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const first = Array.from({ length: 10 }, (_, i) => ({ from: "planner", text: `plan step ${i}. `.repeat(6) }))
 *   const received = yield* Compactor.compact(first, { maxBytes: 500 })
 *   const mine = [{ from: "coder", text: "implemented steps 0 to 9" }]
 *   const next = yield* Compactor.append(received, mine, { maxBytes: 500 })
 *   const all = yield* Compactor.recover(next)
 *   return [Compactor.byteLength(next) <= 500, all.length, all[10].from]
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // [true, 11, "coder"]
 * ```
 *
 * @category compacting
 * @since 0.1.0
 */
export const append = <E = never, R = never>(
  received: HandoffContext,
  items: ReadonlyArray<Item>,
  policy: Policy<E, R>,
  options?: CompactOptions
): Compacted<E, R> => run(received, items, policy, options).pipe(Effect.withSpan("Compactor.append"))

const run = <E, R>(
  received: HandoffContext | undefined,
  newItems: ReadonlyArray<Item>,
  policy: Policy<E, R>,
  options: CompactOptions | undefined
): Compacted<E, R> =>
  Effect.gen(function* () {
    const namespace = options?.namespace ?? defaultNamespace
    yield* checkNamespace(namespace)
    const corpus = yield* Corpus.Corpus
    const tracer = yield* Tracer.CurrentTracer
    const max = Math.floor(policy.maxBytes)
    const items = received === undefined ? newItems : [...received.thread, ...newItems]
    // Items `recover` rebuilt, all of them: the context they came from is continued (its content is stored
    // again below), with its ledger and the ledger entries behind its refs.
    const sources = received === undefined ? lineage.recoveredSources(newItems) : []
    const carriedRefs: ReadonlyArray<string> = [
      ...(received?.refs ?? []),
      ...sources.flatMap((source) => source.ledgerRefs)
    ]
    const previous = received?.summary ?? ""
    let ledger = internal.emptyLedger
    for (const source of sources) ledger = internal.concat(ledger, internal.ledgerOf(source.source))
    if (received !== undefined) ledger = internal.ledgerOf(received)
    if (options?.notes !== undefined) ledger = internal.note(ledger, options.notes)
    // Copies with exactly `from` and `text`: the thread must not carry extra fields the accounting ignores.
    const all: Array<Item> = items.map((item) => ({ from: item.from, text: item.text }))
    const n = all.length
    const sizes = all.map(internal.itemBytes)
    const keepRecent = policy.keepRecent
    const keep =
      keepRecent === undefined || Number.isNaN(keepRecent)
        ? n
        : Math.max(0, Math.min(n, Math.floor(keepRecent)))
    const budget = options?.budget ?? received?.budget
    const shellOf = (fields: internal.Ledger) => ({
      summary: "",
      refs: [],
      thread: [],
      ...(budget === undefined ? {} : { budget }),
      ...internal.fieldsOf(fields)
    })
    const base0 = internal.jsonBytes(shellOf(internal.emptyLedger))

    const inputBytes = n === 0 ? 2 : 2 + sizes.reduce((sum, size) => sum + size, 0) + n - 1
    const finish = (context: HandoffContext, dropped: number, indexed: boolean) =>
      Effect.suspend(() => {
        const outputBytes = byteLength(context)
        // Exact arithmetic above makes this unreachable; if it ever is reached, fail loudly, never oversize.
        if (!(outputBytes <= max))
          return Effect.die(new Error(`Compactor: ${outputBytes} bytes exceed the bound of ${max} (a bug)`))
        if (received !== undefined) lineage.inherit(context, [received])
        lineage.inherit(
          context,
          sources.map((source) => source.source)
        )
        if (tracer.enabled)
          tracer.emit({
            kind: "compactor.compact",
            actor: options?.actor ?? "compactor",
            data: {
              namespace,
              inputBytes,
              outputBytes,
              dropped,
              kept: context.thread.length,
              refs: context.refs.length,
              indexed
            }
          })
        return Effect.succeed(context)
      })
    const contextOf = (
      summary: string,
      refs: ReadonlyArray<string>,
      thread: ReadonlyArray<Item>,
      fields: internal.Ledger
    ): HandoffContext => ({
      summary,
      refs,
      thread,
      ...(budget === undefined ? {} : { budget }),
      ...internal.fieldsOf(fields)
    })

    // 1. Everything verbatim, if it fits: nothing to drop, nothing to store.
    const threadBytes = (count: number) => {
      let bytes = 0
      for (let i = n - count; i < n; i++) bytes += sizes[i]
      return count === 0 ? 0 : bytes + count - 1 // commas
    }
    const ledgerCap =
      policy.ledgerBytes !== undefined && policy.ledgerBytes >= 0 ? policy.ledgerBytes : Infinity
    const wholeLedger = internal.ledgerBytes(ledger)
    if (
      carriedRefs.length === 0 &&
      previous === "" &&
      keep === n &&
      wholeLedger <= ledgerCap &&
      base0 + wholeLedger + threadBytes(n) <= max
    ) {
      return yield* finish(contextOf("", [], all, ledger), 0, false)
    }
    const refBytes = internal.jsonBytes(makeRef(namespace, "0".repeat(64)))
    if (n === 0 && carriedRefs.length === 0 && internal.isEmptyLedger(ledger))
      return yield* new BoundTooSmall({ maxBytes: policy.maxBytes, required: base0 })

    // 2. The ledger first, beside room for one ref; what it cannot hold is stored as one ledger entry.
    if (!(base0 + refBytes <= max))
      return yield* new BoundTooSmall({ maxBytes: policy.maxBytes, required: base0 + refBytes })
    const { kept: shown, rest } = internal.fitLedger(ledger, Math.min(ledgerCap, max - base0 - refBytes))
    const fixed: Array<string> = [...carriedRefs]
    if (!internal.isEmptyLedger(rest))
      fixed.push(yield* corpus.put(internal.encodeLedger(rest), { namespace }))
    const base = internal.jsonBytes(shellOf(shown))

    // 3. Room for one ref is the minimum: every ref of a namespace has the same length.
    const minimal = base + refBytes
    const wanted =
      policy.summaryBytes !== undefined && policy.summaryBytes >= 0 ? policy.summaryBytes : max / 4
    const reserve = Math.min(Math.floor(wanted), max - minimal)

    // 4. The thread: the longest suffix (within keepRecent) that fits beside one ref and the reserve. Without
    //    refs to carry it never takes every item: if all fitted beside a ref they would have fitted alone.
    const room = max - minimal - reserve
    const most = fixed.length === 0 && previous === "" ? n - 1 : n
    let kept = 0
    let used = 0
    while (kept < keep && kept < most) {
      const next = used + sizes[n - 1 - kept] + (kept > 0 ? 1 : 0)
      if (next > room) break
      used = next
      kept++
    }
    const dropped = all.slice(0, n - kept)
    const thread = all.slice(n - kept)

    // 5. Store every dropped item; list the refs (carried ones first) if they fit, leaving the reserve, else
    //    one index ref.
    const itemRefs = yield* Effect.forEach(
      dropped,
      (item) => corpus.put(internal.encodeItem(item), { namespace }),
      { concurrency: 8 }
    )
    const allRefs = [...fixed, ...itemRefs]
    // Carried refs may be of another namespace (another length): they are measured, ours are all alike.
    const fixedBytes = fixed.reduce((sum, ref) => sum + internal.jsonBytes(ref), 0)
    const listed = fixedBytes + itemRefs.length * refBytes + allRefs.length - 1
    const indexed = (allRefs.length > 1 || listed > refBytes) && base + listed + used + reserve > max
    const refs: ReadonlyArray<string> = indexed
      ? [yield* corpus.put(internal.encodeIndex(allRefs), { namespace })]
      : allRefs
    const refsUsed = indexed ? refBytes : Math.max(0, listed)

    // 6. The summary gets what is left, and is cut to it whatever the summarizer returns.
    const available = max - base - refsUsed - used
    let summary = ""
    if (available > 0 && dropped.length > 0) {
      const summarizer: Summarizer<E, R> = policy.summarizer ?? (yield* CurrentSummarizer)
      const hint: SummaryHint = previous === "" ? { maxBytes: available } : { maxBytes: available, previous }
      summary = internal.truncate(yield* summarizer(dropped, hint), available)
    } else if (available > 0) summary = internal.truncate(previous, available)
    return yield* finish(contextOf(summary, refs, thread, shown), dropped.length, indexed)
  })

/**
 * Rebuilds every item a context was compacted from: the items behind its refs (in order, through index
 * entries), then its thread.
 *
 * **Details**
 *
 * The result equals the items given to `compact` (for `append`: the received context's items, then the new
 * ones), byte for byte and in order (only `from` and `text` are kept); ledger entries are `recoverLedger`'s. Fails with the Corpus's errors (`RefNotFound` if the Corpus in scope is not the one the context
 * was compacted into, `CorpusCorrupt` if an entry was damaged) and `UnrecoverableEntry` for a ref the
 * compactor did not write.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor, Corpus } from "@handoffkit/core"
 *
 * const items = Array.from({ length: 30 }, (_, i) => ({ from: i % 2 ? "coder" : "reviewer", text: `round ${i}` }))
 * const program = Effect.gen(function*() {
 *   const context = yield* Compactor.compact(items, { maxBytes: 300 })
 *   const recovered = yield* Compactor.recover(context)
 *   return [context.thread.length < 30, JSON.stringify(recovered) === JSON.stringify(items)]
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // [true, true]
 * ```
 *
 * @category compacting
 * @since 0.1.0
 */
export const recover = (
  context: HandoffContext
): Effect.Effect<Array<Item>, Corpus.CorpusError | UnrecoverableEntry, Corpus.Corpus> =>
  Effect.map(entriesOf(context), (entries) => {
    const items: Array<Item> = []
    const ledgerRefs: Array<string> = []
    for (const entry of entries) {
      if (entry._tag === "Item") items.push(entry.item)
      else ledgerRefs.push(entry.ref)
    }
    for (const item of context.thread) items.push({ from: item.from, text: item.text })
    lineage.markRecovered(items, context, ledgerRefs)
    return items
  }).pipe(Effect.withSpan("Compactor.recover"))

/**
 * Rebuilds a context's whole ledger: the ledger entries behind its refs (what earlier bounds left out of
 * the fields), then its own `artifacts`, `decisions` and `pending`.
 *
 * **Details**
 *
 * Artifact histories are joined oldest first, a later decision on the same `what` replaces the reason,
 * and the pending steps are the context's, with the steps its bound left out. Fails like `recover`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Compactor, Corpus } from "@handoffkit/core"
 *
 * const artifacts = Array.from({ length: 40 }, (_, i) => ({ op: "created" as const, path: `src/module-${i}.ts` }))
 * const program = Effect.gen(function*() {
 *   const context = yield* Compactor.compact([{ from: "coder", text: "scaffolded" }], { maxBytes: 600 }, { notes: { artifacts } })
 *   const ledger = yield* Compactor.recoverLedger(context)
 *   return [Object.keys(context.artifacts ?? {}).length < 40, Object.keys(ledger.artifacts).length]
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // [true, 40]
 * ```
 *
 * @category compacting
 * @since 0.1.0
 */
export const recoverLedger = (
  context: HandoffContext
): Effect.Effect<Ledger, Corpus.CorpusError | UnrecoverableEntry, Corpus.Corpus> =>
  Effect.map(entriesOf(context), (entries) => {
    let ledger = internal.emptyLedger
    let lastPending: ReadonlyArray<string> = []
    for (const entry of entries) {
      if (entry._tag !== "Ledger") continue
      ledger = internal.concat(ledger, { ...entry.ledger, pending: [] })
      lastPending = entry.ledger.pending
    }
    const own = internal.ledgerOf(context)
    // A bound that cut the pending steps stored the whole list; the context shows its first ones.
    const cut =
      lastPending.length > own.pending.length && own.pending.every((step, i) => lastPending[i] === step)
    const whole = internal.concat(ledger, { ...own, pending: cut ? lastPending : own.pending })
    return {
      artifacts: Object.fromEntries(whole.artifacts),
      decisions: Object.fromEntries(whole.decisions),
      pending: whole.pending
    }
  }).pipe(Effect.withSpan("Compactor.recoverLedger"))

type Entry =
  | { readonly _tag: "Item"; readonly item: Item }
  | { readonly _tag: "Ledger"; readonly ref: string; readonly ledger: internal.Ledger }

/** The entries behind a context's refs, in order, through index entries. */
const entriesOf = (
  context: HandoffContext
): Effect.Effect<Array<Entry>, Corpus.CorpusError | UnrecoverableEntry, Corpus.Corpus> =>
  Effect.gen(function* () {
    const corpus = yield* Corpus.Corpus
    const expand = (
      ref: string,
      depth: number
    ): Effect.Effect<ReadonlyArray<Entry>, Corpus.CorpusError | UnrecoverableEntry> =>
      Effect.flatMap(corpus.getText(ref), (text) => {
        const entry = internal.decodeEntry(text)
        if (entry === undefined)
          return Effect.fail(
            new UnrecoverableEntry({ ref, reason: "it is not an item or an index of items" })
          )
        if (entry._tag === "Item") return Effect.succeed([entry])
        if (entry._tag === "Ledger") return Effect.succeed([{ _tag: "Ledger", ref, ledger: entry.ledger }])
        if (depth >= internal.maxIndexDepth)
          return Effect.fail(
            new UnrecoverableEntry({ ref, reason: `indexes nest deeper than ${internal.maxIndexDepth}` })
          )
        return Effect.map(
          Effect.forEach(entry.refs, (inner) => expand(inner, depth + 1), { concurrency: 8 }),
          (lists) => lists.flat()
        )
      })
    const stored = yield* Effect.forEach(context.refs, (ref) => expand(ref, 0), { concurrency: 8 })
    return stored.flat()
  })
