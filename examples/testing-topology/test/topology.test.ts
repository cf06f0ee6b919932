import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { Harness } from "@handoffkit/testing"
import { topology } from "../src/topology.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const Pair = (minimum: number, maximum: number) =>
  Schema.Tuple([Int(minimum, maximum), Int(minimum, maximum)])

describe("testing-topology example", () => {
  it.effect.prop(
    "planner -> two workers -> collector breaks no invariant, whatever the sizes and capacities",
    { tasks: Int(0, 12), capacities: Pair(0, 3), collectorCapacity: Int(0, 3), work: Pair(0, 3) },
    (input) =>
      Effect.gen(function* () {
        const { events, exit } = yield* Harness.runAndCheck(topology(input)) // fails on any violation
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(events.filter((e) => e.kind === "handoff").length, 2 * input.tasks)
      }),
    { timeout: 60_000, arbitrary: { runs: 200 } }
  )
})
