import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { runReview } from "../src/review.ts"

const file = (i: number) => ({ path: `f${i}.ts`, text: i % 2 === 0 ? "// TODO\nok" : "ok" })

describe("review-queue example", () => {
  it.effect("with budget enough, every file is reviewed exactly once", () =>
    Effect.gen(function* () {
      const files = Array.from({ length: 12 }, (_, i) => file(i))
      const report = yield* runReview(files, { workers: 3, calls: 100 })
      assert.deepStrictEqual(report.findings.map((f) => f.path).sort(), files.map((f) => f.path).sort())
      assert.deepStrictEqual(report.unreviewed, [])
      assert.strictEqual(report.callsSpent, 12)
      assert.strictEqual(report.findings.find((f) => f.path === "f0.ts")!.todos, 1)
    })
  )

  it.effect.prop(
    "whatever the budget and the number of workers: reviewed + unreviewed = all files, none twice, never over budget",
    {
      count: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 })),
      workers: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5 })),
      calls: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 25 }))
    },
    ({ count, workers, calls }) =>
      Effect.gen(function* () {
        const files = Array.from({ length: count }, (_, i) => file(i))
        const report = yield* runReview(files, { workers, calls })
        const seen = [...report.findings.map((f) => f.path), ...report.unreviewed]
        assert.strictEqual(new Set(seen).size, seen.length, "no file twice")
        assert.deepStrictEqual([...seen].sort(), files.map((f) => f.path).sort(), "no file lost")
        assert.isAtMost(report.callsSpent, calls)
        assert.strictEqual(report.findings.length, report.callsSpent)
        assert.strictEqual(report.findings.length, Math.min(count, calls))
      }),
    { timeout: 60_000, arbitrary: { runs: 200 } }
  )
})
