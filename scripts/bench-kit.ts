/**
 * Helpers for writing benchmarks that `scripts/bench.ts` runs.
 *
 * `bench(spec)` turns a declarative `BenchSpec` (a subject measurement and an optional baseline measurement)
 * into a runnable `Benchmark` that measures both sides interleaved in the same process, so the ratio between
 * them is robust to machine noise. `throughput`, `timed` and `heapBytesPer` are single measurements to plug
 * into `measure` / `baselineMeasure`.
 *
 * Files inside a package's TypeScript project cannot import this file (it is outside their `rootDir`); they
 * can `import type` the contract from `./bench-types.d.ts` and export plain `BenchSpec` objects, which the
 * runner passes through `bench` itself.
 */
import { Effect } from "effect"
import type { Benchmark, BenchFileExport, BenchSpec, Expect, Measurement } from "./bench-types.d.ts"

export type { Benchmark, BenchFileExport, BenchSpec, Expect, Measurement }

/** Median of a non-empty list. */
export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = xs.toSorted((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const aggregators = {
  median,
  max: (xs: ReadonlyArray<number>) => Math.max(...xs),
  min: (xs: ReadonlyArray<number>) => Math.min(...xs)
} as const

/**
 * Builds a runnable benchmark from a spec. Both sides get `warmup` unreported runs, then `rounds` measured
 * runs each, in the order A B B A A B ... (alternating which side goes first cancels linear drift as well
 * as noise), each from a collected heap; each side is reduced with `aggregate` (median by default).
 */
// Every run starts from a collected heap (`npm run bench` passes --expose-gc), so neither side pays for the
// garbage the run before it left: a traced run leaves hundreds of thousands of events behind.
const clean =
  <A>(measure: () => Promise<A>) =>
  (): Promise<A> => {
    ;(globalThis as { gc?: () => void }).gc?.()
    return measure()
  }

export const bench = (spec: BenchSpec): Benchmark => {
  if (spec.baseline !== undefined && spec.baselineMeasure === undefined) {
    throw new Error(`bench ${spec.name}: "baseline" is set but "baselineMeasure" is missing`)
  }
  const rounds = spec.rounds ?? 5
  const warmup = spec.warmup ?? 1
  const reduce = aggregators[spec.aggregate ?? "median"]
  const run = async (): Promise<Measurement> => {
    const subject = clean(spec.measure)
    const baseline = spec.baselineMeasure === undefined ? undefined : clean(spec.baselineMeasure)
    for (let i = 0; i < warmup; i++) {
      await subject()
      if (baseline) await baseline()
    }
    const values: Array<number> = []
    const baselines: Array<number> = []
    for (let i = 0; i < rounds; i++) {
      if (baseline && i % 2 === 1) {
        baselines.push(await baseline())
        values.push(await subject())
      } else {
        values.push(await subject())
        if (baseline) baselines.push(await baseline())
      }
    }
    return baseline ? { value: reduce(values), baseline: reduce(baselines) } : { value: reduce(values) }
  }
  return {
    name: spec.name,
    unit: spec.unit,
    ...(spec.baseline !== undefined ? { baseline: spec.baseline } : {}),
    ...(spec.expect !== undefined ? { expect: spec.expect } : {}),
    run
  }
}

/** Milliseconds taken by one run of `program`. */
export const timed = async <A, E>(
  program: Effect.Effect<A, E>
): Promise<{ readonly ms: number; readonly value: A }> => {
  const start = performance.now()
  const value = await Effect.runPromise(program)
  return { ms: performance.now() - start, value }
}

/** Items per second: `count` items processed in `ms` milliseconds. */
export const perSecond = (count: number, ms: number): number => (count * 1000) / Math.max(ms, 1e-6)

/**
 * Runs `program`, which processes `n` items, once and returns items per second.
 * Warm-up and repetitions are the job of `bench` (or the caller).
 */
export const throughput = async <A, E>(program: Effect.Effect<A, E>, n: number): Promise<number> => {
  const { ms } = await timed(program)
  return perSecond(n, ms)
}

const collect = (): (() => void) => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) {
    throw new Error("global.gc is not available: run node with --expose-gc (npm run bench does)")
  }
  return gc
}

/** `heapUsed` after two full garbage collections (needs `node --expose-gc`). */
export const heapUsedAfterGc = (): number => {
  const gc = collect()
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * Heap bytes retained per item: reads the heap (after gc) before `acquire` creates `n` items and again while
 * they are alive, then runs `release`. Needs `node --expose-gc`.
 */
export const heapBytesPer = async <A, E>(
  n: number,
  acquire: Effect.Effect<A, E>,
  release: (a: A) => Effect.Effect<unknown>
): Promise<number> => {
  const program = Effect.gen(function* () {
    const before = yield* Effect.sync(heapUsedAfterGc)
    const held = yield* acquire
    const after = yield* Effect.sync(heapUsedAfterGc)
    yield* release(held)
    return (after - before) / n
  })
  return Effect.runPromise(program)
}

/** Thresholds check: `true` when `ratio` satisfies every bound of `expect`. A missing ratio never does. */
export const meets = (expect: Expect, ratio: number | null): boolean =>
  ratio !== null &&
  Number.isFinite(ratio) &&
  (expect.ratioAtLeast === undefined || ratio >= expect.ratioAtLeast) &&
  (expect.ratioAtMost === undefined || ratio <= expect.ratioAtMost)

/** Narrows a bench file's entries to the spec form. */
export const isBenchSpec = (entry: Benchmark | BenchSpec): entry is BenchSpec =>
  typeof (entry as Partial<BenchSpec>).measure === "function"

/** Normalizes a bench file entry to the runnable form. */
export const toBenchmark = (entry: Benchmark | BenchSpec): Benchmark =>
  isBenchSpec(entry) ? bench(entry) : entry
