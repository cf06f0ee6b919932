/**
 * The runner: hands a scenario along its chain with a strategy, scores what the last agent received with
 * the probes (from the context alone, and with refs), and puts the figures of many scenarios in a table.
 *
 * **When to use**
 *
 * `npm run bench -- fidelity` prints the table of issue 19; call `measure` and `table` to measure your own
 * strategy mix, bounds or scenario sizes.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Compactor, Corpus, Handoff } from "@handoffkit/core"
import * as Probe from "./Probe.ts"
import * as Reader from "./Reader.ts"
import * as Scenario from "./Scenario.ts"
import * as Strategy from "./Strategy.ts"

/**
 * One chain handed along: the bytes handed over at each hop, and what the last agent received.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 * import { Fidelity, Scenario, Strategy } from "@handoffkit/fidelity"
 *
 * const program = Effect.gen(function*() {
 *   const scenario = yield* Scenario.generate(1, { hops: 4, bytes: 32 * 1024 })
 *   const chain: Fidelity.Chain = yield* Fidelity.run(scenario, Strategy.byName("structured"), 2048)
 *   return chain.bytes.every((bytes) => bytes <= 2048)
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Chain {
  /** The UTF-8 bytes of each handed-over context's JSON, hop by hop. */
  readonly bytes: ReadonlyArray<number>
  readonly final: Handoff.HandoffContext
  /** Milliseconds spent building the contexts, all hops. */
  readonly ms: number
}

/**
 * Hands the scenario along its chain: agent 0 starts from an empty context, each agent hands on what the
 * strategy builds from what it received and its hop.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 * import { Fidelity, Scenario, Strategy } from "@handoffkit/fidelity"
 *
 * const program = Effect.gen(function*() {
 *   const scenario = yield* Scenario.generate(2, { hops: 3, bytes: 12 * 1024 })
 *   const chain = yield* Fidelity.run(scenario, Strategy.byName("naive"), 0)
 *   return [chain.bytes.length, chain.final.thread.length > 0]
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // [3, true]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = Effect.fn("Fidelity.run")(function* (
  scenario: Scenario.Scenario,
  strategy: Strategy.Strategy,
  maxBytes: number
) {
  let context: Handoff.HandoffContext = Handoff.emptyContext
  const bytes: Array<number> = []
  let ms = 0
  for (const hop of scenario.hops) {
    const start = performance.now()
    context = yield* strategy.handOn(context, hop, maxBytes)
    ms += performance.now() - start
    bytes.push(Compactor.byteLength(context))
  }
  return { bytes, final: context, ms } satisfies Chain
})

/**
 * Probes answered and asked, per kind.
 *
 * **Example**
 *
 * ```ts
 * import { Fidelity } from "@handoffkit/fidelity"
 *
 * const tally: Fidelity.Tally = { recall: [3, 4], artifact: [2, 2], decision: [0, 1], continuation: [1, 1] }
 * console.log(tally.recall[0] / tally.recall[1]) // 0.75
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Tally = { readonly [K in Probe.Kind]: readonly [answered: number, asked: number] }

/**
 * Scores a context against a scenario's probes, from the context alone and with refs.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 * import { Fidelity, Scenario, Strategy } from "@handoffkit/fidelity"
 *
 * const program = Effect.gen(function*() {
 *   const scenario = yield* Scenario.generate(5, { hops: 2, bytes: 8192 })
 *   const chain = yield* Fidelity.run(scenario, Strategy.byName("append"), 1024)
 *   const { withRefs } = yield* Fidelity.score(scenario, chain.final)
 *   return withRefs.decision[0] === withRefs.decision[1]
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const score = Effect.fn("Fidelity.score")(function* (
  scenario: Scenario.Scenario,
  context: Handoff.HandoffContext
) {
  const probes = Probe.probesOf(scenario)
  const tally = (view: Reader.View): Tally => {
    const counts = Object.fromEntries(Probe.kinds.map((kind) => [kind, [0, 0]])) as Record<
      Probe.Kind,
      [number, number]
    >
    for (const probe of probes) {
      counts[probe.kind][1]++
      if (Reader.answers(view, probe)) counts[probe.kind][0]++
    }
    return counts
  }
  return { alone: tally(Reader.alone(context)), withRefs: tally(yield* Reader.withRefs(context)) }
})

/**
 * What to measure.
 *
 * **Details**
 *
 * Each hop count gets its own scenarios (one per seed), of `bytesPerHop × hops` bytes (default 16 KiB a
 * hop, at most 1 MiB) with the default per-hop plants; every strategy runs on the same scenarios, at every bound (`naive`
 * once, it has none).
 *
 * **Example**
 *
 * ```ts
 * import { Fidelity } from "@handoffkit/fidelity"
 *
 * const options: Fidelity.MeasureOptions = { seeds: [1, 2, 3], hops: [4], bounds: [2048] }
 * console.log(options.bounds) // [2048]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface MeasureOptions {
  readonly seeds: ReadonlyArray<number>
  readonly hops: ReadonlyArray<number>
  readonly bounds: ReadonlyArray<number>
  readonly strategies?: ReadonlyArray<Strategy.Name> | undefined
  readonly bytesPerHop?: number | undefined
}

/**
 * The figures of one strategy at one bound and hop count, over every seed.
 *
 * **Details**
 *
 * `alone` and `withRefs` are shares (0 to 1) of the probes answered, per kind and `all`; `maxBytes` is
 * the bound (`null` for naive); `largest` the most bytes handed over at any hop of any seed, `last` the
 * mean bytes of the last handoff; `ms` the mean time a chain took.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Fidelity } from "@handoffkit/fidelity"
 *
 * const rows = Effect.runSync(Fidelity.measure({ seeds: [1], hops: [1], bounds: [32 * 1024], strategies: ["append"] }))
 * const row: Fidelity.Row = rows[0]
 * console.log(row.strategy, row.withRefs.all) // "append" 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Row {
  readonly strategy: Strategy.Name
  readonly maxBytes: number | null
  readonly hops: number
  /** The bytes of each scenario's items (`bytesPerHop × hops`, at most 1 MiB). */
  readonly context: number
  readonly scenarios: number
  readonly alone: { readonly [K in Probe.Kind | "all"]: number }
  readonly withRefs: { readonly [K in Probe.Kind | "all"]: number }
  readonly largest: number
  readonly last: number
  readonly ms: number
}

const share = (answered: number, asked: number) => (asked === 0 ? 1 : answered / asked)

const shares = (tallies: ReadonlyArray<Tally>) => {
  const sum = (kind: Probe.Kind, i: 0 | 1) => tallies.reduce((total, tally) => total + tally[kind][i], 0)
  const byKind = Object.fromEntries(Probe.kinds.map((kind) => [kind, share(sum(kind, 0), sum(kind, 1))]))
  const answered = Probe.kinds.reduce((total, kind) => total + sum(kind, 0), 0)
  const asked = Probe.kinds.reduce((total, kind) => total + sum(kind, 1), 0)
  return { ...byKind, all: share(answered, asked) } as { readonly [K in Probe.Kind | "all"]: number }
}

/**
 * Runs every strategy on the scenarios of every seed, at every bound and hop count; each chain gets a
 * Corpus of its own (in memory). The same options give the same rows (but for `ms`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Fidelity } from "@handoffkit/fidelity"
 *
 * const rows = Effect.runSync(Fidelity.measure({ seeds: [1, 2], hops: [2], bounds: [8192], strategies: ["naive", "truncate"] }))
 * console.log(rows.map((row) => row.strategy).join(" "), rows[0].alone.all) // "naive truncate" 1
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const measure = Effect.fn("Fidelity.measure")(function* (options: MeasureOptions) {
  const strategies = options.strategies ?? Strategy.names
  const rows: Array<Row> = []
  for (const hops of options.hops) {
    const context = Math.min(1024 * 1024, (options.bytesPerHop ?? 16 * 1024) * hops)
    const scenarios = yield* Effect.forEach(options.seeds, (seed) =>
      Scenario.generate(seed, { hops, bytes: context })
    )
    for (const name of strategies) {
      const strategy = Strategy.byName(name)
      for (const maxBytes of strategy.bounded ? options.bounds : [null]) {
        const alone: Array<Tally> = []
        const withRefs: Array<Tally> = []
        let largest = 0
        let last = 0
        let ms = 0
        for (const scenario of scenarios) {
          const result = yield* Effect.gen(function* () {
            const chain = yield* run(scenario, strategy, maxBytes ?? Number.POSITIVE_INFINITY)
            return { chain, scores: yield* score(scenario, chain.final) }
          }).pipe(Effect.provide(Corpus.layerMemory))
          alone.push(result.scores.alone)
          withRefs.push(result.scores.withRefs)
          largest = Math.max(largest, ...result.chain.bytes)
          last += result.chain.bytes.at(-1) ?? 0
          ms += result.chain.ms
        }
        const n = Math.max(1, scenarios.length)
        rows.push({
          strategy: name,
          maxBytes,
          hops,
          context,
          scenarios: scenarios.length,
          alone: shares(alone),
          withRefs: shares(withRefs),
          largest,
          last: Math.round(last / n),
          ms: ms / n
        })
      }
    }
  }
  return rows
})

const percent = (share: number) => `${(share * 100).toFixed(1)}`
const kib = (bytes: number | null) =>
  bytes === null
    ? "none"
    : bytes >= 1024 * 1024
      ? `${bytes / 1024 / 1024} MiB`
      : `${Math.round(bytes / 1024)} KiB`

/**
 * The rows as a Markdown table: per hop count, strategy and bound, the share of probes answered from the
 * summary alone (per kind and all) and with refs, the bytes handed over, and (with `time`) the time.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Fidelity } from "@handoffkit/fidelity"
 *
 * const program = Fidelity.measure({ seeds: [1], hops: [1], bounds: [4096], strategies: ["structured"] })
 * Effect.runPromise(program).then((rows) =>
 *   console.log(Fidelity.table(rows).split("\n")[2].startsWith("| 1 | 16 KiB | structured | 4 KiB |")) // true
 * )
 * ```
 *
 * @category rendering
 * @since 0.1.0
 */
export const table = (
  rows: ReadonlyArray<Row>,
  options?: { readonly time?: boolean | undefined }
): string => {
  const time = options?.time === true
  const header = [
    "hops",
    "context",
    "strategy",
    "bound",
    "recall %",
    "artifact %",
    "decision %",
    "continuation %",
    "alone %",
    "with refs %",
    "largest B",
    "last B",
    ...(time ? ["ms/chain"] : [])
  ]
  const lines = rows.map((row) =>
    [
      String(row.hops),
      kib(row.context),
      row.strategy,
      kib(row.maxBytes),
      percent(row.alone.recall),
      percent(row.alone.artifact),
      percent(row.alone.decision),
      percent(row.alone.continuation),
      percent(row.alone.all),
      percent(row.withRefs.all),
      String(row.largest),
      String(row.last),
      ...(time ? [row.ms.toFixed(1)] : [])
    ].join(" | ")
  )
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...lines.map((line) => `| ${line} |`)
  ].join("\n")
}
