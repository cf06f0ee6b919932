/**
 * `core.soak`: the soak topology (a supervisor, 20 actors, a broker and a join, with restarts and interrupted
 * batches; see `test/soak.ts`) run for 2,000,000 messages. The value is the mean heap after forced GCs over
 * the last quarter of the run, the baseline the same over the second quarter: the ratio is the heap's growth,
 * expected at most 1.1. The run fails outright when the trace's counts do not balance or a fiber is left.
 */
import { Effect } from "effect"
import type { Benchmark } from "../../../scripts/bench-types.d.ts"
import { soak } from "../test/soak.ts"

const MESSAGES = Number(process.env.HANDOFFKIT_SOAK_MESSAGES ?? 2_000_000)

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

const benchmarks: ReadonlyArray<Benchmark> = [
  {
    name: "core.soak",
    unit: "heap bytes (last quarter)",
    baseline: "heap bytes (second quarter)",
    expect: { ratioAtMost: 1.1 },
    run: async () => {
      const report = await Effect.runPromise(soak(MESSAGES, 32))
      const problems = [
        report.sent < MESSAGES ? `only ${report.sent} sent` : undefined,
        report.sent !== report.received + report.deadLettered
          ? `sent ${report.sent} != received ${report.received} + dead-lettered ${report.deadLettered}`
          : undefined,
        report.fibersLeft !== 0 ? `${report.fibersLeft} fibers left after the scope closed` : undefined,
        report.spawned !== report.exited ? `${report.spawned} spawns but ${report.exited} exits` : undefined
      ].filter((p) => p !== undefined)
      if (problems.length > 0) throw new Error(`core.soak: ${problems.join("; ")}`)
      const { heap, ...counts } = report
      console.error(`core.soak: ${JSON.stringify(counts)}`)
      const quarter = Math.floor(heap.length / 4)
      return {
        value: mean(heap.slice(heap.length - quarter)),
        baseline: mean(heap.slice(quarter, 2 * quarter))
      }
    }
  }
]

export default benchmarks
