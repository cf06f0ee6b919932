/**
 * The contract between benchmark files and the runner (`scripts/bench.ts`).
 *
 * Types only, in a declaration file so that bench files inside a package's TypeScript project
 * (`packages/core/bench/*.bench.ts`, part of core's composite project) can `import type` them:
 * a declaration file is exempt from the project's `rootDir`, an implementation file under `scripts/` is not.
 *
 * A bench file default-exports (or exports as `benchmarks`) a `ReadonlyArray<Benchmark | BenchSpec>`.
 */

/** One measurement of a benchmark: its value and, when it has a baseline, the baseline's value from the same run. */
export interface Measurement {
  readonly value: number
  readonly baseline?: number
}

/**
 * Thresholds on `ratio = value / baseline`. Missed thresholds mark the JSON line `"ok": false`;
 * with `--strict` the runner then exits 1.
 */
export interface Expect {
  readonly ratioAtLeast?: number
  readonly ratioAtMost?: number
}

/** The runner's raw form: `run` does all the work, including any repetitions and the baseline. */
export interface Benchmark {
  /** Dotted name, e.g. `core.mailbox.throughput`; `npm run bench -- core.mailbox` selects by prefix. */
  readonly name: string
  /** Unit of `value`, e.g. `msg/s`, `bytes/fiber`. */
  readonly unit: string
  /** What the baseline is, usually the name of the raw benchmark it is compared with. */
  readonly baseline?: string
  readonly expect?: Expect
  readonly run: () => Promise<Measurement>
}

/**
 * The declarative form: the runner (through `bench` from `scripts/bench-kit.ts`) warms both sides up, then
 * measures subject and baseline interleaved (A B B A A B ...) so that machine noise and drift hit both
 * alike, and reports the aggregate (median by default) of each side.
 */
export interface BenchSpec {
  readonly name: string
  readonly unit: string
  readonly baseline?: string
  readonly expect?: Expect
  /** One measurement of the subject, e.g. `() => throughput(program, n)`. */
  readonly measure: () => Promise<number>
  /** One measurement of the baseline; required when `baseline` is set. */
  readonly baselineMeasure?: () => Promise<number>
  /** Measured rounds per side (default 5). */
  readonly rounds?: number
  /** Unreported warm-up rounds per side (default 1). */
  readonly warmup?: number
  /** How rounds are combined (default `median`); `max` = best for rates, `min` = best for costs. */
  readonly aggregate?: "median" | "max" | "min"
}

/** What a bench file exports. */
export type BenchFileExport = ReadonlyArray<Benchmark | BenchSpec>
