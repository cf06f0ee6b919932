/**
 * The harness runs a topology (an Effect that starts actors and sends them messages) under a fresh in-memory
 * tracer and registry, closes its scope, and hands back the whole trace together with how the topology ended.
 *
 * **When to use**
 *
 * In tests that prove a topology correct: run it with `run` and assert over the events, or with `runAndCheck`
 * to fail with `Invariants.InvariantViolated` when the trace breaks an invariant. Under `it.effect` the
 * TestClock drives the trace's `ts` and any timeout in the topology.
 *
 * **Details**
 *
 * The trace is complete when `run` returns: the topology's scope is closed first, so every actor it started
 * has exited and every message still queued has been dead-lettered and traced.
 *
 * @since 0.1.0
 */
import { Actor, type Registry, Tracer } from "@handoffkit/core"
import { Clock, Effect, type Exit, type Scope } from "effect"
import * as Faults from "./Faults.ts"
import * as Invariants from "./Invariants.ts"
import * as Topology from "./Topology.ts"

/**
 * What `run` gives back: the trace, in `seq` order, and the topology's exit (with its value, `A`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { Harness } from "@handoffkit/testing"
 *
 * const program = Effect.map(Harness.run(Effect.void), (result: Harness.Result<never>) => Exit.isSuccess(result.exit))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Result<E, A = void> {
  readonly events: ReadonlyArray<Tracer.Event>
  readonly exit: Exit.Exit<A, E>
}

/**
 * Options of `run`.
 *
 * **Details**
 *
 * `sinks`: more destinations for the same events (a `Tracer.jsonl` file, say), written alongside the
 * in-memory copy that `run` returns.
 *
 * **Example**
 *
 * ```ts
 * import { Harness } from "@handoffkit/testing"
 *
 * const kinds: Array<string> = []
 * const options: Harness.Options = { sinks: [{ write: (event) => void kinds.push(event.kind) }] }
 * console.log(options.sinks?.length) // 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly sinks?: ReadonlyArray<Tracer.Sink> | undefined
}

/**
 * Runs `topology` with a fresh memory tracer as `Tracer.CurrentTracer`, a fresh `Actor.layer` registry and its
 * own Scope, closes that scope, and returns the trace and the topology's exit.
 *
 * **When to use**
 *
 * To get the complete trace of a topology, including one that fails or is interrupted on purpose (a crash
 * schedule): the failure is in `exit`, not in the error channel, so the trace is never lost.
 *
 * **Details**
 *
 * Event timestamps come from Effect's `Clock`, so `TestClock` drives them. The scope is closed before the
 * events are returned: every actor made in it has exited. The returned array is a snapshot: nothing is
 * added to it afterwards.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 * import { Harness } from "@handoffkit/testing"
 *
 * const topology = Effect.gen(function*() {
 *   const echo = yield* Actor.make<string, string>("echo", (m, context) => context.reply(m.payload))
 *   yield* Actor.ask(echo, "ping")
 * })
 * const program = Effect.map(Harness.run(topology), ({ events }) => events.map((e) => e.kind))
 * Effect.runPromise(program).then(console.log) // ["spawn", "send", "receive", "send", "receive", "exit"]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = <A, E, R>(
  topology: Effect.Effect<A, E, R>,
  options?: Options
): Effect.Effect<Result<E, A>, never, Exclude<R, Scope.Scope | Registry.Registry>> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const events: Array<Tracer.Event> = []
    const tracer = Tracer.make(
      [{ write: (event) => void events.push(event) }, ...(options?.sinks ?? [])],
      () => clock.currentTimeMillisUnsafe()
    )
    const exit = yield* topology.pipe(
      Effect.scoped,
      Effect.provideService(Tracer.CurrentTracer, tracer),
      Effect.provide(Actor.layer),
      Effect.exit
    )
    return { events: events.slice(), exit } satisfies Result<E, A>
    // TypeScript cannot see that the nested `Exclude`s of `scoped` and `provide` equal this one.
  }) as Effect.Effect<Result<E, A>, never, Exclude<R, Scope.Scope | Registry.Registry>>

/**
 * Runs `topology` like `run`, then checks its trace with `Invariants.check`.
 *
 * **When to use**
 *
 * As the body of a property test: it fails with `InvariantViolated` listing every broken invariant.
 *
 * **Details**
 *
 * The topology's own failure does not fail `runAndCheck` (it is in the result's `exit`); only a broken
 * invariant does.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 * import { Harness } from "@handoffkit/testing"
 *
 * const topology = Effect.gen(function*() {
 *   const sink = yield* Actor.make<number>("sink", () => Effect.void)
 *   yield* Actor.send(sink, 1)
 * })
 * const program = Effect.map(Harness.runAndCheck(topology), ({ events }) => events.length)
 * Effect.runPromise(program).then(console.log) // 4
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const runAndCheck = <A, E, R>(
  topology: Effect.Effect<A, E, R>,
  options?: Options & Invariants.Options
): Effect.Effect<Result<E, A>, Invariants.InvariantViolated, Exclude<R, Scope.Scope | Registry.Registry>> =>
  Effect.flatMap(run(topology, options), (result) =>
    Effect.as(Invariants.check(result.events, options), result)
  )

/**
 * What `runTopology` gives back: the trace, the interpreter's exit with its `Topology.Report`, and every
 * violation `Topology.violations` found.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Harness, Topology } from "@handoffkit/testing"
 *
 * const topology: Topology.Topology = { _tag: "Pipeline", stages: [{ capacity: 0, work: 0 }], messages: 1, handoff: false }
 * const program = Effect.map(Harness.runTopology(topology), (result: Harness.TopologyResult) => result.violations)
 * Effect.runPromise(program).then(console.log) // []
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TopologyResult extends Result<never, Topology.Report> {
  readonly violations: ReadonlyArray<Invariants.Violation>
}

/**
 * Runs a topology description under a fault schedule with `run` (a fresh tracer, registry and scope; the
 * `TestClock` under `it.effect`) and checks the run with `Topology.violations`.
 *
 * **When to use**
 *
 * As the body of a property over random topologies and schedules, when you want to look at the result
 * yourself (the report's counters, the trace); `checkTopology` fails instead.
 *
 * **Details**
 *
 * Never fails: a defect of the interpreter (or of the core under it) is the `runs` violation. The schedule
 * defaults to `Faults.none`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Harness, Topology } from "@handoffkit/testing"
 *
 * const topology: Topology.Topology = {
 *   _tag: "FanOut",
 *   workers: [{ capacity: 1, work: 0 }, { capacity: 0, work: 1 }],
 *   jobs: 3,
 *   quorum: 2,
 *   timeout: 10,
 *   collectorCapacity: 1
 * }
 * const program = Effect.map(Harness.runTopology(topology), ({ exit, violations }) => [
 *   exit._tag === "Success" ? exit.value.rounds.length : -1,
 *   violations.length
 * ])
 * Effect.runPromise(program).then(console.log) // [3, 0]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const runTopology = (
  topology: Topology.Topology,
  schedule: Faults.Schedule = Faults.none,
  options?: Options
): Effect.Effect<TopologyResult> =>
  Effect.map(run(Topology.interpret(topology, schedule), options), (result) => ({
    ...result,
    violations: Topology.violations(topology, schedule, result)
  }))

/**
 * Runs like `runTopology` and fails with `Invariants.InvariantViolated` when the run broke anything.
 *
 * **When to use**
 *
 * As the one line of a property test: `Harness.checkTopology(topology, schedule)`. The failure lists every
 * violation with the `seq`s of the events to look at; the property runner adds the shrunk input and the
 * replay token.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Harness, Topology } from "@handoffkit/testing"
 *
 * const topology: Topology.Topology = {
 *   _tag: "NurseryTree",
 *   root: {
 *     _tag: "Supervisor",
 *     strategy: "one-for-all",
 *     maxRestarts: 1,
 *     window: 10,
 *     children: [{ _tag: "Worker", restart: "permanent", work: 0, capacity: 1 }]
 *   },
 *   messages: 2
 * }
 * const schedule = { faults: [{ _tag: "Crash", target: 1, message: 1 } as const], preemption: 0 }
 * const program = Effect.map(Harness.checkTopology(topology, schedule), ({ exit }) =>
 *   exit._tag === "Success" ? exit.value.crashed : -1
 * )
 * Effect.runPromise(program).then(console.log) // 1
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const checkTopology = (
  topology: Topology.Topology,
  schedule: Faults.Schedule = Faults.none,
  options?: Options
): Effect.Effect<TopologyResult, Invariants.InvariantViolated> =>
  Effect.flatMap(runTopology(topology, schedule, options), (result) =>
    result.violations.length === 0
      ? Effect.succeed(result)
      : Effect.fail(new Invariants.InvariantViolated({ violations: result.violations }))
  )
