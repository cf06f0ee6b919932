import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { soak } from "./soak.ts"

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

// The short soak (the `core.soak` benchmark runs the same topology for 2,000,000 messages): a supervisor, 20
// actors, a broker and a join, with restarts and interrupted batches of sends.
describe("soak (issue 18)", () => {
  it.live(
    "40,000 messages with restarts and interruptions: counts balance, no fiber left, the heap stays flat",
    () =>
      Effect.gen(function* () {
        const report = yield* soak(40_000, 16)
        console.log(
          JSON.stringify({ ...report, heap: report.heap.map((bytes) => Math.round(bytes / 1e5) / 10) })
        )
        assert.isAtLeast(report.sent, 40_000)
        // Every message sent was received (a failed handling counts once) or dead-lettered.
        assert.strictEqual(report.sent, report.received + report.deadLettered)
        // The restarts and interruptions did happen.
        assert.isAtLeast(report.restarts, 30)
        assert.strictEqual(report.restarts, report.failedHandling)
        assert.isAtLeast(report.interruptedBatches, 5)
        assert.isAbove(report.joinsCompleted, 0)
        // Every actor incarnation that started has exited, and no child fiber outlived the scope.
        assert.strictEqual(report.spawned, report.exited)
        assert.isAbove(report.peakFibers, 20, "the fiber count saw the actors' fibers") // so 0 below means something
        assert.isAbove(report.fibersStarted, report.restarts)
        assert.strictEqual(report.fibersLeft, 0)
        // Flat heap: the last quarter of the samples within 10% of the second quarter (plus 2 MB of slack for
        // a short run, where one young-generation page is a large share).
        const quarter = report.heap.length / 4
        const second = report.heap.slice(quarter, 2 * quarter)
        const last = report.heap.slice(3 * quarter)
        assert.isAtMost(mean(last), mean(second) * 1.1 + 2e6, `heap samples: ${report.heap.join(", ")}`)
      }),
    120_000
  )
})
