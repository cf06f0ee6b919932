/**
 * The kit against the real core: random topologies (pipelines, fan-out/fan-in, broker broadcasts, nursery
 * trees) under random fault schedules (crashes, interruptions, clock jumps, budget exhaustion, preemption), run
 * by `Harness.runTopology` and checked by every invariant. A failure prints the shrunk topology and schedule,
 * the violations with the `seq`s to look at, and a replay token (`HANDOFFKIT_REPLAY`, see `Check.propOptions`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Exit, Schema } from "effect"
import { Check, Faults, Harness, Invariants, Topology } from "../src/index.ts"

// What the runs did, across every property of this file: checked at the end, so that a property that never
// crashed, interrupted or exhausted anything cannot pass unnoticed.
const stats: Record<string, number> = {}
const count = (key: string, n = 1) => void (stats[key] = (stats[key] ?? 0) + n)

const record = (result: Harness.TopologyResult) => {
  if (!Exit.isSuccess(result.exit)) return
  const report = result.exit.value
  count("runs")
  count(`kind ${report.kind}`)
  count("crashed", report.crashed)
  count("interrupted", report.interrupted)
  count("ticks", report.ticks)
  count("refused", report.refused)
  count("completed", report.completed)
  count("rounds", report.rounds.length)
  for (const event of result.events) {
    count(event.kind === "dead-letter" ? `dead-letter ${String(event.data?.reason)}` : event.kind)
  }
}

/** The property body: run, record, and fail with every violation (the runner adds input and replay token). */
const holds = ({
  topology,
  schedule
}: {
  readonly topology: Topology.Topology
  readonly schedule: Faults.Schedule
}) =>
  Effect.gen(function* () {
    const result = yield* Harness.checkTopology(topology, schedule)
    assert.isTrue(Exit.isSuccess(result.exit))
    record(result)
  })

describe("random topologies under random faults", () => {
  it.effect.prop(
    "pipelines (plain and handoff) keep every invariant",
    { topology: Topology.pipeline(), schedule: Faults.arbitrary() },
    holds,
    Check.propOptions()
  )

  it.effect.prop(
    "fan-out to workers joined by a collector keeps every invariant, one part per sender and round",
    { topology: Topology.fanOut(), schedule: Faults.arbitrary() },
    holds,
    Check.propOptions()
  )

  it.effect.prop(
    "broker broadcasts give every copy exactly one fate",
    { topology: Topology.broadcast(), schedule: Faults.arbitrary() },
    holds,
    Check.propOptions()
  )

  it.effect.prop(
    "nursery trees leave no orphan and restart within their intensity",
    {
      topology: Topology.nurseryTree({ maxMessages: 12 }),
      // Crashes on early messages, several at a time, so that intensities run out and escalations happen.
      schedule: Faults.arbitrary({
        kinds: ["Crash", "Interrupt", "Tick"],
        maxFaults: 6,
        maxMessage: 2,
        maxMillis: 12
      })
    },
    holds,
    Check.propOptions()
  )

  it.effect.prop(
    "with nothing going wrong, every topology delivers everything, however fibers are preempted",
    { topology: Topology.arbitrary(), schedule: Faults.arbitrary({ maxFaults: 0 }) },
    ({ topology, schedule }) =>
      Effect.gen(function* () {
        assert.isTrue(Faults.isQuiet(schedule))
        const result = yield* Harness.checkTopology(topology, schedule) // includes "completes"
        if (Exit.isSuccess(result.exit) && result.exit.value.expected !== undefined) {
          assert.strictEqual(result.exit.value.completed, result.exit.value.expected)
          assert.strictEqual(result.exit.value.refused, 0)
        }
        record(result)
      }),
    Check.propOptions()
  )

  it("the runs exercised every fault and every fate", () => {
    assert.isAtLeast(stats.runs ?? 0, 5 * 200)
    for (const key of [
      "kind Pipeline",
      "kind FanOut",
      "kind Broadcast",
      "kind NurseryTree",
      "crashed",
      "interrupted",
      "ticks",
      "refused",
      "rounds",
      "handoff",
      "join.expire",
      "nursery.restart",
      "nursery.escalate",
      "broker.overflow",
      "budget.exhausted",
      "dead-letter failed",
      "dead-letter stopped",
      "dead-letter rejected",
      "dead-letter withdrawn",
      "dead-letter overflow",
      "dead-letter closed"
    ]) {
      assert.isAbove(stats[key] ?? 0, 0, `no run had any ${key}: ${JSON.stringify(stats)}`)
    }
  })
})

// -----------------------------------------------------------------------------
// the checks bite: real traces, doctored, are reported
// -----------------------------------------------------------------------------

const fanOut: Topology.FanOut = {
  _tag: "FanOut",
  workers: [
    { capacity: 1, work: 0 },
    { capacity: 0, work: 1 }
  ],
  jobs: 2,
  quorum: 2,
  timeout: 10,
  collectorCapacity: 1
}

const names = (violations: ReadonlyArray<Invariants.Violation>) => violations.map((v) => v.invariant)

describe("Topology.violations", () => {
  it.effect("a quiet fan-out completes every round; a doctored report or trace is caught", () =>
    Effect.gen(function* () {
      const result = yield* Harness.checkTopology(fanOut)
      assert.isTrue(Exit.isSuccess(result.exit))
      if (!Exit.isSuccess(result.exit)) return
      const report = result.exit.value
      assert.deepStrictEqual(
        report.rounds.map((r) => [r.correlationId, [...r.senders].sort()]),
        [
          ["job-0", ["worker-0", "worker-1"]],
          ["job-1", ["worker-0", "worker-1"]]
        ]
      )
      assert.deepStrictEqual(report.targets, ["feeder", "source", "worker-0", "worker-1", "collector"])
      // A round that took two parts from one sender, and the same round completed again while remembered.
      const bad = {
        ...report,
        rounds: [...report.rounds, { ...report.rounds[0], senders: ["worker-0", "worker-0"] }]
      }
      assert.deepStrictEqual(
        names(Topology.violations(fanOut, Faults.none, { events: result.events, exit: Exit.succeed(bad) })),
        ["joinRounds", "joinRounds"]
      )
      // A delivery that never happened, under a quiet schedule.
      const short = { ...report, completed: report.completed - 1 }
      assert.deepStrictEqual(
        names(Topology.violations(fanOut, Faults.none, { events: result.events, exit: Exit.succeed(short) })),
        ["completes"]
      )
      // A receive dropped from the trace (the collector's: nothing was caused by it): a lost message.
      const receive = result.events.findIndex((e) => e.kind === "receive" && e.actor === "collector")
      const dropped = result.events.filter((_, i) => i !== receive)
      assert.deepStrictEqual(
        names(Topology.violations(fanOut, Faults.none, { events: dropped, exit: result.exit })),
        ["noLossNoDuplicate"]
      )
      // The interpreter died: reported, not thrown.
      assert.deepStrictEqual(
        names(Topology.violations(fanOut, Faults.none, { events: [], exit: Exit.die("boom") })),
        ["runs"]
      )
    })
  )

  it.effect(
    "a broadcast whose trace shows a copy taken twice, or more commits than the budget, is caught",
    () =>
      Effect.gen(function* () {
        const broadcast: Topology.Broadcast = {
          _tag: "Broadcast",
          subscribers: [
            { capacity: 2, overflow: "drop-oldest", pace: 0 },
            { capacity: 1, overflow: "dead-letter", pace: -1 }
          ],
          messages: 4
        }
        const result = yield* Harness.checkTopology(broadcast)
        assert.isTrue(Exit.isSuccess(result.exit))
        const take = result.events.find((e) => e.kind === "select" && e.actor === "subscriber-0")!
        const again = [...result.events, { ...take, seq: result.events.length + 1000 }]
        assert.deepStrictEqual(
          Topology.violations(broadcast, Faults.none, { events: again, exit: result.exit }).map(
            (v) => v.invariant
          ),
          ["brokerCopies"]
        )
        const commit = result.events.find((e) => e.kind === "budget.commit")!
        const overspent = [
          ...result.events,
          { ...commit, seq: result.events.length + 1000, data: { calls: 100 } }
        ]
        assert.deepStrictEqual(
          Topology.violations(broadcast, Faults.none, { events: overspent, exit: result.exit }).map(
            (v) => v.invariant
          ),
          ["budgetRespected"]
        )
      })
  )

  it.effect("a nursery tree's restarts are checked against each nursery's intensity", () =>
    Effect.gen(function* () {
      const tree: Topology.NurseryTree = {
        _tag: "NurseryTree",
        root: {
          _tag: "Supervisor",
          strategy: "one-for-one",
          maxRestarts: 1,
          window: 1000,
          children: [{ _tag: "Worker", restart: "permanent", work: 0, capacity: 1 }]
        },
        messages: 3
      }
      // The worker crashes on its first two messages: one restart is allowed, the second failure escalates.
      const schedule: Faults.Schedule = {
        faults: [
          { _tag: "Crash", target: 1, message: 1 },
          { _tag: "Crash", target: 1, message: 2 }
        ],
        preemption: 0
      }
      const result = yield* Harness.checkTopology(tree, schedule)
      const kinds = result.events.map((e) => e.kind)
      assert.strictEqual(kinds.filter((k) => k === "nursery.restart").length, 1)
      assert.strictEqual(kinds.filter((k) => k === "nursery.escalate").length, 1)
      // The same trace read against a stricter intensity (no restart allowed) is reported.
      const strict = { ...tree, root: { ...tree.root, maxRestarts: 0 } }
      assert.deepStrictEqual(
        Topology.violations(strict, schedule, result).map((v) => v.invariant),
        ["restartIntensity"]
      )
    })
  )
})

// -----------------------------------------------------------------------------
// the descriptions and the arbitraries
// -----------------------------------------------------------------------------

/** A property that fails on runs that crashed something. */
const crashedNothing = (input: { topology: Topology.Topology; schedule: Faults.Schedule }) =>
  Effect.map(Harness.runTopology(input.topology, input.schedule), (result) =>
    Exit.isSuccess(result.exit) ? result.exit.value.crashed === 0 : true
  )

describe("descriptions and arbitraries", () => {
  it.effect("generated topologies and schedules are valid descriptions, within their bounds", () =>
    Effect.gen(function* () {
      const topologies = yield* Arbitrary.sampleEffect(Topology.arbitrary({ maxActors: 3, maxDepth: 2 }), {
        count: 200,
        seed: 11
      })
      const is = Schema.is(Topology.Topology)
      assert.isTrue(topologies.every(is))
      assert.deepStrictEqual([...new Set(topologies.map((t) => t._tag))].sort(), [
        "Broadcast",
        "FanOut",
        "NurseryTree",
        "Pipeline"
      ])
      const depth = (s: Topology.Supervisor): number =>
        1 + Math.max(0, ...s.children.map((c) => (c._tag === "Supervisor" ? depth(c) : 0)))
      for (const t of topologies) {
        if (t._tag === "Pipeline") assert.isAtMost(t.stages.length, 3)
        if (t._tag === "NurseryTree") assert.isAtMost(depth(t.root), 2)
      }
      const schedules = yield* Arbitrary.sampleEffect(Faults.arbitrary({ kinds: ["Crash", "Tick"] }), {
        count: 200,
        seed: 11
      })
      assert.isTrue(schedules.every(Schema.is(Faults.Schedule)))
      assert.isTrue(schedules.every((s) => s.faults.every((f) => f._tag === "Crash" || f._tag === "Tick")))
      assert.isTrue(schedules.some((s) => s.preemption > 0))
      assert.isTrue(
        (yield* Arbitrary.sampleEffect(Faults.arbitrary({ preemption: false }), {
          count: 50,
          seed: 2
        })).every((s) => s.preemption === 0)
      )
    })
  )

  it("a schedule rejects the preemptions that livelock Effect's scheduler, and accepts any target", () => {
    assert.isFalse(Schema.is(Faults.Schedule)({ faults: [], preemption: 2 }))
    assert.isTrue(
      Schema.is(Faults.Schedule)({ faults: [{ _tag: "Interrupt", target: 99, after: 0 }], preemption: 3 })
    )
  })

  it.effect("a replayed failure comes back: the interpreter decides from its input alone", () =>
    Effect.gen(function* () {
      const inputs = Arbitrary.all({ topology: Topology.arbitrary(), schedule: Faults.arbitrary() })
      // A property that fails on runs that crashed something: found, shrunk and replayed to the same input.
      const found = yield* Check.counterexample(inputs, crashedNothing, { runs: 200, seed: 3 })
      assert.isTrue(found._tag === "Some", "no run crashed anything")
      if (found._tag !== "Some") return
      const replayed = yield* Check.property(inputs, crashedNothing, { replay: found.value.replay })
      assert.strictEqual(replayed._tag, "Falsified")
      if (replayed._tag === "Falsified") assert.deepStrictEqual(replayed.shrunkInput, found.value.input)
      // Shrinking kept only what matters: one crash.
      assert.deepStrictEqual(
        found.value.input.schedule.faults.map((f) => f._tag),
        ["Crash"]
      )
    })
  )
})
