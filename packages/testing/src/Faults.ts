/**
 * Fault schedules: what goes wrong while a topology runs, as data. A `Schedule` lists faults (an actor
 * crashes on its j-th message, a fiber is interrupted after n steps, the clock jumps, the budget is smaller
 * than the demand) and how often fibers are preempted. It is a plain Schema-described value, so a property
 * test generates it with `arbitrary`, a failure prints it, shrinking makes it smaller, and a replay rebuilds it.
 *
 * **When to use**
 *
 * With `Topology` and `Harness.runTopology`: generate a topology and a schedule, run one under the other,
 * and check the trace. A schedule refers to the topology's fault targets by index (taken modulo their number),
 * so any schedule fits any topology and both shrink independently.
 *
 * **Details**
 *
 * Steps are the interpreter's driver steps: each lets every fiber run a few times. Faults that name a step
 * happen in the order they are listed when their step comes. What each fault means for each kind of topology
 * is described on `Topology.interpret`.
 *
 * @since 0.1.0
 */
import { Arbitrary, Schema } from "effect"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/**
 * A crash: fault target `target` fails on its `message`-th message (counted from 1 over its whole life,
 * across restarts).
 *
 * **Details**
 *
 * The behavior fails with `InjectedCrash` before doing anything with the message, so the message is received
 * and then dead-lettered with reason `"failed"`. An unsupervised actor stops; one under a nursery is restarted
 * by its policy and strategy. Several crashes of one target within a nursery's window exhaust its intensity.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const crash = Schema.decodeUnknownSync(Faults.Crash)({ _tag: "Crash", target: 2, message: 1 })
 * console.log(crash.message) // 1
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Crash = Schema.TaggedStruct("Crash", { target: NonNegativeInt, message: PositiveInt })

/**
 * @category models
 * @since 0.1.0
 */
export type Crash = typeof Crash.Type

/**
 * An interruption: fault target `target` is stopped at driver step `after` (an actor with `Actor.stop`, a
 * plain fiber with `Fiber.interrupt`).
 *
 * **Details**
 *
 * Target 0 is always the feeder, the fiber that sends the topology its input from outside: interrupting it
 * stops a send or a handoff that may be waiting for room.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const stop = Schema.decodeUnknownSync(Faults.Interrupt)({ _tag: "Interrupt", target: 0, after: 3 })
 * console.log(stop.after) // 3
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Interrupt = Schema.TaggedStruct("Interrupt", { target: NonNegativeInt, after: NonNegativeInt })

/**
 * @category models
 * @since 0.1.0
 */
export type Interrupt = typeof Interrupt.Type

/**
 * A clock jump: at driver step `after` the clock moves `millis` forward (`TestClock.adjust` under
 * `it.effect`; a real sleep otherwise), so timeouts fire: rounds of a join expire, restart windows slide.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const tick = Schema.decodeUnknownSync(Faults.Tick)({ _tag: "Tick", after: 0, millis: 50 })
 * console.log(tick.millis) // 50
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Tick = Schema.TaggedStruct("Tick", { after: NonNegativeInt, millis: PositiveInt })

/**
 * @category models
 * @since 0.1.0
 */
export type Tick = typeof Tick.Type

/**
 * Budget exhaustion: the topology's shared budget allows only `percent` % of its demand (one call per
 * handled message), rounded down, so some reservations must fail.
 *
 * **Details**
 *
 * Without this fault the budget allows exactly the demand. With several, the smallest percentage wins.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const exhaust = Schema.decodeUnknownSync(Faults.Exhaust)({ _tag: "Exhaust", percent: 40 })
 * console.log(exhaust.percent) // 40
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Exhaust = Schema.TaggedStruct("Exhaust", { percent: Int(0, 99) })

/**
 * @category models
 * @since 0.1.0
 */
export type Exhaust = typeof Exhaust.Type

/**
 * One fault: a `Crash`, an `Interrupt`, a `Tick` or an `Exhaust`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const fault = Schema.decodeUnknownSync(Faults.Fault)({ _tag: "Tick", after: 1, millis: 10 })
 * console.log(fault._tag) // "Tick"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Fault = Schema.Union([Crash, Interrupt, Tick, Exhaust])

/**
 * @category models
 * @since 0.1.0
 */
export type Fault = typeof Fault.Type

/**
 * A fault schedule: the faults, and how often fibers are preempted.
 *
 * **Details**
 *
 * `preemption` is `Scheduler.MaxOpsBeforeYield` for every fiber of the topology: 0 keeps Effect's default,
 * 3 to 64 forces a yield every that many operations, so that fibers interleave at points they would otherwise
 * run through (1 and 2 livelock Effect's scheduler, so they are not allowed).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const schedule = Schema.decodeUnknownSync(Faults.Schedule)({
 *   faults: [{ _tag: "Crash", target: 1, message: 2 }],
 *   preemption: 5
 * })
 * console.log(schedule.faults.length) // 1
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Schedule = Schema.Struct({
  faults: Schema.Array(Fault),
  preemption: Int(0, 64).check(Schema.makeFilter((n) => n === 0 || n >= 3))
})

/**
 * @category models
 * @since 0.1.0
 */
export type Schedule = typeof Schedule.Type

/**
 * The empty schedule: nothing goes wrong, no forced preemption.
 *
 * **When to use**
 *
 * To run a topology as its author meant it to run: under it, every topology must complete (see
 * `Topology.violations`).
 *
 * **Example**
 *
 * ```ts
 * import { Faults } from "@handoffkit/testing"
 *
 * console.log(Faults.none.faults.length, Faults.isQuiet(Faults.none)) // 0 true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const none: Schedule = { faults: [], preemption: 0 }

/**
 * Whether nothing goes wrong under the schedule: it has no faults (preemption alone is not a fault).
 *
 * **Example**
 *
 * ```ts
 * import { Faults } from "@handoffkit/testing"
 *
 * console.log(Faults.isQuiet({ faults: [], preemption: 7 })) // true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isQuiet = (schedule: Schedule): boolean => schedule.faults.length === 0

/**
 * The failure an injected crash makes the behavior fail with.
 *
 * **Example**
 *
 * ```ts
 * import { Faults } from "@handoffkit/testing"
 *
 * console.log(new Faults.InjectedCrash({ target: "stage-1", ordinal: 2 }).message)
 * // injected crash: stage-1 fails on its message 2
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InjectedCrash extends Schema.TaggedError<InjectedCrash>()("InjectedCrash", {
  target: Schema.String,
  ordinal: Schema.Number
}) {
  override get message(): string {
    return `injected crash: ${this.target} fails on its message ${this.ordinal}`
  }
}

/**
 * Options of `arbitrary`: which faults, how many, and how large their numbers get.
 *
 * **Details**
 *
 * Defaults: every kind of fault, at most 4 faults, targets 0 to 7, steps 0 to 12, messages 1 to 4, clock
 * jumps of 1 to 100 ms, and preemption on (0 or 3 to 64). Set `preemption: false` to keep Effect's default.
 *
 * **Example**
 *
 * ```ts
 * import { Faults } from "@handoffkit/testing"
 *
 * const options: Faults.ArbitraryOptions = { kinds: ["Crash", "Interrupt"], maxFaults: 2 }
 * console.log(options.kinds) // ["Crash", "Interrupt"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ArbitraryOptions {
  readonly kinds?: ReadonlyArray<Fault["_tag"]> | undefined
  readonly maxFaults?: number | undefined
  readonly maxTarget?: number | undefined
  readonly maxStep?: number | undefined
  readonly maxMessage?: number | undefined
  readonly maxMillis?: number | undefined
  readonly preemption?: boolean | undefined
}

/**
 * Generates fault schedules: random faults of the chosen kinds and a random preemption.
 *
 * **When to use**
 *
 * As the second input of a topology property: `{ topology: Topology.arbitrary(), schedule: Faults.arbitrary() }`.
 *
 * **Details**
 *
 * Shrinking removes faults, then makes each one smaller (an earlier step, a lower target, a shorter jump) and
 * turns preemption off, so a counterexample ends up with the few faults that matter.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { Faults } from "@handoffkit/testing"
 *
 * const ticksOnly = (s: Faults.Schedule) => s.faults.length <= 3 && s.faults.every((f) => f._tag === "Tick")
 * const program = Arbitrary.sampleEffect(Faults.arbitrary({ kinds: ["Tick"], maxFaults: 3 }), { count: 5, seed: 1 })
 * Effect.runPromise(program).then((schedules) => console.log(schedules.every(ticksOnly))) // true
 * ```
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const arbitrary = (options?: ArbitraryOptions): Arbitrary.Arbitrary<Schedule> => {
  const maxTarget = options?.maxTarget ?? 7
  const maxStep = options?.maxStep ?? 12
  const kinds = new Set(options?.kinds ?? ["Crash", "Interrupt", "Tick", "Exhaust"])
  const members = [
    ...(kinds.has("Crash")
      ? [
          Schema.TaggedStruct("Crash", {
            target: Int(0, maxTarget),
            message: Int(1, options?.maxMessage ?? 4)
          })
        ]
      : []),
    ...(kinds.has("Interrupt")
      ? [Schema.TaggedStruct("Interrupt", { target: Int(0, maxTarget), after: Int(0, maxStep) })]
      : []),
    ...(kinds.has("Tick")
      ? [Schema.TaggedStruct("Tick", { after: Int(0, maxStep), millis: Int(1, options?.maxMillis ?? 100) })]
      : []),
    ...(kinds.has("Exhaust") ? [Exhaust] : [])
  ]
  const maxFaults = members.length === 0 ? 0 : (options?.maxFaults ?? 4)
  const bounded = Schema.Struct({
    faults: Schema.Array(members.length === 0 ? Crash : Schema.Union(members)).check(
      Schema.isBetweenLength(0, maxFaults)
    ),
    preemption:
      options?.preemption === false
        ? Schema.Literal(0)
        : Int(0, 64).check(Schema.makeFilter((n) => n === 0 || n >= 3))
  })
  return Arbitrary.schema(bounded) as Arbitrary.Arbitrary<Schedule>
}
