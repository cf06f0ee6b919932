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
 * @since 0.1.0
 */
import { Context, Effect, Schema } from "effect"
import type { Usage } from "./Budget.ts"
import * as Corpus from "./Corpus.ts"
import type { HandoffContext } from "./Handoff.ts"
import * as internal from "./internal/compactor.ts"
import { checkNamespace, makeRef } from "./internal/corpus.ts"
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
 * the summary inside the context's JSON, escaping included).
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
}

/**
 * Where and for whom to compact.
 *
 * **Details**
 *
 * - `namespace` (optional): the Corpus namespace for the stored items (default `"context"`).
 * - `budget` (optional): the remaining budget to carry in the context; it counts toward the bound.
 * - `actor` (optional): who compacts, for the trace (default `"compactor"`).
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
 * available bytes (between 24 and 240) with "…".
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
  Effect.sync(() => internal.extract(items, hint.maxBytes))

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
): Effect.Effect<
  HandoffContext,
  BoundTooSmall | Corpus.InvalidName | Corpus.CorpusCorrupt | Corpus.CorpusStorageError | E,
  Corpus.Corpus | R
> =>
  Effect.gen(function* () {
    const namespace = options?.namespace ?? defaultNamespace
    yield* checkNamespace(namespace)
    const corpus = yield* Corpus.Corpus
    const tracer = yield* Tracer.CurrentTracer
    const max = Math.floor(policy.maxBytes)
    // Copies with exactly `from` and `text`: the thread must not carry extra fields the accounting ignores.
    const all: Array<Item> = items.map((item) => ({ from: item.from, text: item.text }))
    const n = all.length
    const sizes = all.map(internal.itemBytes)
    const keepRecent = policy.keepRecent
    const keep =
      keepRecent === undefined || Number.isNaN(keepRecent)
        ? n
        : Math.max(0, Math.min(n, Math.floor(keepRecent)))
    const budget = options?.budget
    const shell =
      budget === undefined
        ? { summary: "", refs: [], thread: [] }
        : { summary: "", refs: [], thread: [], budget }
    const base = internal.jsonBytes(shell)

    const inputBytes = n === 0 ? 2 : 2 + sizes.reduce((sum, size) => sum + size, 0) + n - 1
    const finish = (context: HandoffContext, dropped: number, indexed: boolean) =>
      Effect.suspend(() => {
        const outputBytes = byteLength(context)
        // Exact arithmetic above makes this unreachable; if it ever is reached, fail loudly, never oversize.
        if (!(outputBytes <= max))
          return Effect.die(new Error(`Compactor: ${outputBytes} bytes exceed the bound of ${max} (a bug)`))
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
    const withBudget = (context: Omit<HandoffContext, "budget">): HandoffContext =>
      budget === undefined ? context : { ...context, budget }

    // 1. Everything verbatim, if it fits: nothing to drop, nothing to store.
    const threadBytes = (count: number) => {
      let bytes = 0
      for (let i = n - count; i < n; i++) bytes += sizes[i]
      return count === 0 ? 0 : bytes + count - 1 // commas
    }
    if (keep === n && base + threadBytes(n) <= max) {
      return yield* finish(withBudget({ summary: "", refs: [], thread: all }), 0, false)
    }
    if (n === 0) return yield* new BoundTooSmall({ maxBytes: policy.maxBytes, required: base })

    // 2. Room for one ref is the minimum: every ref of a namespace has the same length.
    const refBytes = internal.jsonBytes(makeRef(namespace, "0".repeat(64)))
    const minimal = base + refBytes
    if (!(minimal <= max)) return yield* new BoundTooSmall({ maxBytes: policy.maxBytes, required: minimal })
    const wanted =
      policy.summaryBytes !== undefined && policy.summaryBytes >= 0 ? policy.summaryBytes : max / 4
    const reserve = Math.min(Math.floor(wanted), max - minimal)

    // 3. The thread: the longest suffix (within keepRecent) that fits beside one ref and the reserve. It
    //    never takes every item: if all fitted beside a ref they would have fitted alone (step 1).
    const room = max - minimal - reserve
    let kept = 0
    let used = 0
    while (kept < keep && kept < n - 1) {
      const next = used + sizes[n - 1 - kept] + (kept > 0 ? 1 : 0)
      if (next > room) break
      used = next
      kept++
    }
    const dropped = all.slice(0, n - kept)
    const thread = all.slice(n - kept)

    // 4. Store every dropped item; list their refs if they fit (leaving the reserve), else one index ref.
    const itemRefs = yield* Effect.forEach(
      dropped,
      (item) => corpus.put(internal.encodeItem(item), { namespace }),
      { concurrency: 8 }
    )
    const listed = dropped.length * refBytes + dropped.length - 1
    const indexed = base + listed + used + reserve > max
    const refs: ReadonlyArray<string> = indexed
      ? [yield* corpus.put(internal.encodeIndex(itemRefs), { namespace })]
      : itemRefs
    const refsUsed = indexed ? refBytes : listed

    // 5. The summary gets what is left, and is cut to it whatever the summarizer returns.
    const available = max - base - refsUsed - used
    let summary = ""
    if (available > 0) {
      const summarizer: Summarizer<E, R> = policy.summarizer ?? (yield* CurrentSummarizer)
      summary = internal.truncate(yield* summarizer(dropped, { maxBytes: available }), available)
    }
    return yield* finish(withBudget({ summary, refs, thread }), dropped.length, indexed)
  }).pipe(Effect.withSpan("Compactor.compact"))

/**
 * Rebuilds every item a context was compacted from: the items behind its refs (in order, through index
 * entries), then its thread.
 *
 * **Details**
 *
 * The result equals the items given to `compact`, byte for byte and in order (only `from` and `text` are
 * kept). Fails with the Corpus's errors (`RefNotFound` if the Corpus in scope is not the one the context
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
  Effect.gen(function* () {
    const corpus = yield* Corpus.Corpus
    const expand = (
      ref: string,
      depth: number
    ): Effect.Effect<ReadonlyArray<Item>, Corpus.CorpusError | UnrecoverableEntry> =>
      Effect.flatMap(corpus.getText(ref), (text) => {
        const entry = internal.decodeEntry(text)
        if (entry === undefined)
          return Effect.fail(
            new UnrecoverableEntry({ ref, reason: "it is not an item or an index of items" })
          )
        if (entry._tag === "Item") return Effect.succeed([entry.item])
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
    return [...stored.flat(), ...context.thread.map((item) => ({ from: item.from, text: item.text }))]
  }).pipe(Effect.withSpan("Compactor.recover"))
