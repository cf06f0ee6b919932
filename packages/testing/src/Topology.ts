/**
 * Topologies as data: a pipeline of actors, a fan-out to workers joined by a collector, a broker broadcasting
 * to subscribers with bounded queues, a supervision tree of nurseries. Each is a plain Schema-described value,
 * with an arbitrary that generates it and an interpreter that builds it from the real `@handoffkit/core`
 * primitives and runs it under a fault schedule.
 *
 * **When to use**
 *
 * To prove the core (or a change to it) correct over many shapes at once: generate a topology and a
 * `Faults.Schedule`, run them with `Harness.runTopology`, and require that the trace breaks no invariant. For
 * your own topology, write it as an Effect and use `Harness.run`; this module is for the shapes the core
 * promises to handle.
 *
 * **Details**
 *
 * Every topology has an input sent from outside by a feeder fiber, a shared budget charged one call per
 * handled message, and a list of fault targets (the feeder first, then its actors and fibers in the order
 * `interpret` describes). `violations` checks a finished run: the trace invariants of `Invariants`, and per
 * shape what its own contract adds (a round joins one part per sender, restarts stay within the intensity, a
 * topology that nothing disturbed delivers everything).
 *
 * @since 0.1.0
 */
import type { Registry, Tracer } from "@handoffkit/core"
import { Arbitrary, Cause, Exit, type Effect, Schema, type Scope } from "effect"
import type * as Faults from "./Faults.ts"
import * as internal from "./internal/interpret.ts"
import * as Invariants from "./Invariants.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

// -----------------------------------------------------------------------------
// descriptions
// -----------------------------------------------------------------------------

/**
 * One actor of a pipeline or a fan-out: its mailbox capacity (0 is a rendezvous) and how many times it yields
 * while working on a message.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const stage = Schema.decodeUnknownSync(Topology.Stage)({ capacity: 0, work: 2 })
 * console.log(stage.capacity) // 0
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Stage = Schema.Struct({ capacity: NonNegativeInt, work: NonNegativeInt })

/**
 * @category models
 * @since 0.1.0
 */
export type Stage = typeof Stage.Type

/**
 * A chain of actors `stage-0 -> stage-1 -> ... -> stage-(n-1)`: the feeder sends `messages` messages to the
 * first stage, each stage works and forwards, the last one completes them.
 *
 * **Details**
 *
 * With `handoff`, each message is a `Handoff` task and every hop is an ownership transfer (`Handoff.sendFrom`),
 * so `oneOwnerPerTask` has something to check; otherwise stages forward with `context.send`.
 *
 * **Example**
 *
 * ```ts
 * import { Topology } from "@handoffkit/testing"
 *
 * const pipeline: Topology.Pipeline = {
 *   _tag: "Pipeline",
 *   stages: [{ capacity: 1, work: 0 }, { capacity: 0, work: 2 }],
 *   messages: 5,
 *   handoff: true
 * }
 * console.log(pipeline.stages.length) // 2
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Pipeline = Schema.TaggedStruct("Pipeline", {
  stages: Schema.Array(Stage).check(Schema.isMinLength(1)),
  messages: NonNegativeInt,
  handoff: Schema.Boolean
})

/**
 * @category models
 * @since 0.1.0
 */
export type Pipeline = typeof Pipeline.Type

/**
 * Fan-out and fan-in: a `source` actor sends each of `jobs` jobs to every worker (`worker-0`...), each worker
 * works and answers a `collector` (a `Join.actor`) with the job's correlation id; a round completes at
 * `quorum` distinct workers' answers, or expires `timeout` milliseconds after its first answer.
 *
 * **Details**
 *
 * `quorum` is clamped to the number of workers. `collectorCapacity` is the collector's mailbox capacity.
 *
 * **Example**
 *
 * ```ts
 * import { Topology } from "@handoffkit/testing"
 *
 * const fanOut: Topology.FanOut = {
 *   _tag: "FanOut",
 *   workers: [{ capacity: 1, work: 1 }, { capacity: 2, work: 0 }, { capacity: 0, work: 3 }],
 *   jobs: 4,
 *   quorum: 2,
 *   timeout: 30,
 *   collectorCapacity: 1
 * }
 * console.log(fanOut.quorum) // 2
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const FanOut = Schema.TaggedStruct("FanOut", {
  workers: Schema.Array(Stage).check(Schema.isMinLength(1)),
  jobs: NonNegativeInt,
  quorum: PositiveInt,
  timeout: PositiveInt,
  collectorCapacity: NonNegativeInt
})

/**
 * @category models
 * @since 0.1.0
 */
export type FanOut = typeof FanOut.Type

/**
 * One subscriber of a broadcast: its queue's capacity and overflow policy, and how many times it yields
 * between two takes (`-1`: it never takes, so its queue fills up).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const slow = Schema.decodeUnknownSync(Topology.Subscriber)({ capacity: 2, overflow: "drop-oldest", pace: 3 })
 * console.log(slow.overflow) // "drop-oldest"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Subscriber = Schema.Struct({
  capacity: PositiveInt,
  overflow: Schema.Literals(["dead-letter", "drop-oldest"]),
  pace: Schema.Int.check(Schema.isGreaterThanOrEqualTo(-1))
})

/**
 * @category models
 * @since 0.1.0
 */
export type Subscriber = typeof Subscriber.Type

/**
 * A broker broadcast: a `publisher` actor publishes each of `messages` messages to the topic `news`, which
 * every subscriber (`subscriber-0`...) receives on its own bounded queue, taken with `Select.receive`.
 *
 * **Example**
 *
 * ```ts
 * import { Topology } from "@handoffkit/testing"
 *
 * const broadcast: Topology.Broadcast = {
 *   _tag: "Broadcast",
 *   subscribers: [
 *     { capacity: 1, overflow: "dead-letter", pace: 0 },
 *     { capacity: 2, overflow: "drop-oldest", pace: -1 }
 *   ],
 *   messages: 6
 * }
 * console.log(broadcast.subscribers.length) // 2
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Broadcast = Schema.TaggedStruct("Broadcast", {
  subscribers: Schema.Array(Subscriber).check(Schema.isMinLength(1)),
  messages: NonNegativeInt
})

/**
 * @category models
 * @since 0.1.0
 */
export type Broadcast = typeof Broadcast.Type

/**
 * A worker actor in a nursery tree: its restart policy, how long it works on a message (in yields), and its
 * mailbox capacity.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const worker = Schema.decodeUnknownSync(Topology.Worker)({ _tag: "Worker", restart: "permanent", work: 1, capacity: 2 })
 * console.log(worker.restart) // "permanent"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Worker = Schema.TaggedStruct("Worker", {
  restart: Schema.Literals(["permanent", "transient", "temporary"]),
  work: NonNegativeInt,
  capacity: NonNegativeInt
})

/**
 * @category models
 * @since 0.1.0
 */
export type Worker = typeof Worker.Type

/**
 * A nursery: its strategy, its restart intensity (`maxRestarts` within `window` milliseconds) and its children,
 * workers or nested nurseries.
 *
 * **Example**
 *
 * ```ts
 * import { Topology } from "@handoffkit/testing"
 *
 * const team: Topology.Supervisor = {
 *   _tag: "Supervisor",
 *   strategy: "one-for-all",
 *   maxRestarts: 1,
 *   window: 10,
 *   children: [{ _tag: "Worker", restart: "transient", work: 0, capacity: 1 }]
 * }
 * console.log(team.children.length) // 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Supervisor {
  readonly _tag: "Supervisor"
  readonly strategy: "one-for-one" | "one-for-all" | "rest-for-one"
  readonly maxRestarts: number
  readonly window: number
  readonly children: ReadonlyArray<Worker | Supervisor>
}

/**
 * The schema of a `Supervisor`, recursive: a child is a `Worker` or a `Supervisor`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const tree = Schema.decodeUnknownSync(Topology.Supervisor)({
 *   _tag: "Supervisor",
 *   strategy: "one-for-one",
 *   maxRestarts: 3,
 *   window: 100,
 *   children: [{ _tag: "Supervisor", strategy: "rest-for-one", maxRestarts: 0, window: 5, children: [] }]
 * })
 * console.log(tree.children[0]._tag) // "Supervisor"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Supervisor: Schema.Codec<Supervisor> = Schema.TaggedStruct("Supervisor", {
  strategy: Schema.Literals(["one-for-one", "one-for-all", "rest-for-one"]),
  maxRestarts: NonNegativeInt,
  window: PositiveInt,
  children: Schema.Array(Schema.Union([Worker, Schema.suspend((): Schema.Codec<Supervisor> => Supervisor)]))
})

/**
 * A supervision tree: the `root` nursery and its subtree; the feeder sends `messages` messages round-robin to
 * the workers (in depth-first order). Worker addresses are their paths: `root.w0`, `root.1.w0`...
 *
 * **Example**
 *
 * ```ts
 * import { Topology } from "@handoffkit/testing"
 *
 * const tree: Topology.NurseryTree = {
 *   _tag: "NurseryTree",
 *   root: {
 *     _tag: "Supervisor",
 *     strategy: "one-for-one",
 *     maxRestarts: 2,
 *     window: 10,
 *     children: [{ _tag: "Worker", restart: "permanent", work: 1, capacity: 1 }]
 *   },
 *   messages: 3
 * }
 * console.log(tree.root.strategy) // "one-for-one"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const NurseryTree = Schema.TaggedStruct("NurseryTree", { root: Supervisor, messages: NonNegativeInt })

/**
 * @category models
 * @since 0.1.0
 */
export type NurseryTree = typeof NurseryTree.Type

/**
 * Any topology: a `Pipeline`, a `FanOut`, a `Broadcast` or a `NurseryTree`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const topology = Schema.decodeUnknownSync(Topology.Topology)({
 *   _tag: "Pipeline",
 *   stages: [{ capacity: 0, work: 0 }],
 *   messages: 1,
 *   handoff: false
 * })
 * console.log(topology._tag) // "Pipeline"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Topology = Schema.Union([Pipeline, FanOut, Broadcast, NurseryTree])

/**
 * @category models
 * @since 0.1.0
 */
export type Topology = typeof Topology.Type

// -----------------------------------------------------------------------------
// arbitraries
// -----------------------------------------------------------------------------

/**
 * Bounds of the generated topologies.
 *
 * **Details**
 *
 * Defaults: every kind; at most 4 actors per group (stages, workers, subscribers, children of a nursery),
 * 8 messages, capacities up to 3, work up to 3 yields, nursery trees 3 levels deep, join timeouts up to 50 ms.
 *
 * **Example**
 *
 * ```ts
 * import { Topology } from "@handoffkit/testing"
 *
 * const options: Topology.ArbitraryOptions = { kinds: ["Pipeline", "FanOut"], maxActors: 3 }
 * console.log(options.maxActors) // 3
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ArbitraryOptions {
  readonly kinds?: ReadonlyArray<Topology["_tag"]> | undefined
  readonly maxActors?: number | undefined
  readonly maxMessages?: number | undefined
  readonly maxCapacity?: number | undefined
  readonly maxWork?: number | undefined
  readonly maxDepth?: number | undefined
  readonly maxTimeout?: number | undefined
}

// The generated shapes, as bounded schemas: Schema-derived arbitraries shrink toward smaller bounds for free.
const bounded = (options: ArbitraryOptions | undefined) => {
  const actors = Math.max(1, options?.maxActors ?? 4)
  const messages = Int(0, options?.maxMessages ?? 8)
  const stage = Schema.Struct({
    capacity: Int(0, options?.maxCapacity ?? 3),
    work: Int(0, options?.maxWork ?? 3)
  })
  const group = Schema.Array(stage).check(Schema.isBetweenLength(1, actors))
  const worker = Schema.TaggedStruct("Worker", {
    restart: Schema.Literals(["permanent", "transient", "temporary"]),
    work: Int(0, options?.maxWork ?? 3),
    capacity: Int(0, options?.maxCapacity ?? 3)
  })
  // Unrolled by depth: a bounded tree without a recursive schema.
  const supervisor = (depth: number): Schema.Codec<Supervisor> =>
    Schema.TaggedStruct("Supervisor", {
      strategy: Schema.Literals(["one-for-one", "one-for-all", "rest-for-one"]),
      maxRestarts: Int(0, 3),
      window: Schema.Literals([3, 10, 1000]),
      children: Schema.Array(depth > 1 ? Schema.Union([worker, supervisor(depth - 1)]) : worker).check(
        Schema.isBetweenLength(1, actors)
      )
    }) as Schema.Codec<Supervisor>
  return {
    Pipeline: Schema.TaggedStruct("Pipeline", { stages: group, messages, handoff: Schema.Boolean }),
    FanOut: Schema.TaggedStruct("FanOut", {
      workers: group,
      jobs: messages,
      quorum: Int(1, actors),
      timeout: Int(1, options?.maxTimeout ?? 50),
      collectorCapacity: Int(0, options?.maxCapacity ?? 3)
    }),
    Broadcast: Schema.TaggedStruct("Broadcast", {
      subscribers: Schema.Array(
        Schema.Struct({
          capacity: Int(1, Math.max(1, options?.maxCapacity ?? 3)),
          overflow: Schema.Literals(["dead-letter", "drop-oldest"]),
          pace: Int(-1, options?.maxWork ?? 3)
        })
      ).check(Schema.isBetweenLength(1, actors)),
      messages: Int(0, 2 * (options?.maxMessages ?? 8))
    }),
    NurseryTree: Schema.TaggedStruct("NurseryTree", {
      root: supervisor(Math.max(1, options?.maxDepth ?? 3)),
      messages
    })
  } as const
}

/**
 * Generates pipelines of 1 to `maxActors` stages.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const program = Arbitrary.sampleEffect(Topology.pipeline({ maxActors: 2 }), { count: 10, seed: 3 })
 * Effect.runPromise(program).then((xs) => console.log(xs.every((p) => p.stages.length <= 2))) // true
 * ```
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const pipeline = (options?: ArbitraryOptions): Arbitrary.Arbitrary<Pipeline> =>
  Arbitrary.schema(bounded(options).Pipeline)

/**
 * Generates fan-outs of 1 to `maxActors` workers with a collector.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const program = Arbitrary.sampleEffect(Topology.fanOut(), { count: 10, seed: 3 })
 * Effect.runPromise(program).then((xs) => console.log(xs.every((f) => f.workers.length >= 1))) // true
 * ```
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const fanOut = (options?: ArbitraryOptions): Arbitrary.Arbitrary<FanOut> =>
  Arbitrary.schema(bounded(options).FanOut)

/**
 * Generates broadcasts to 1 to `maxActors` subscribers, with up to twice `maxMessages` messages.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const program = Arbitrary.sampleEffect(Topology.broadcast({ maxMessages: 4 }), { count: 10, seed: 3 })
 * Effect.runPromise(program).then((xs) => console.log(xs.every((b) => b.messages <= 8))) // true
 * ```
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const broadcast = (options?: ArbitraryOptions): Arbitrary.Arbitrary<Broadcast> =>
  Arbitrary.schema(bounded(options).Broadcast)

/**
 * Generates supervision trees up to `maxDepth` levels deep and `maxActors` children wide, with random
 * strategies, intensities (0 to 3 restarts within 3, 10 or 1000 ms) and restart policies.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const depth = (s: Topology.Supervisor): number =>
 *   1 + Math.max(0, ...s.children.map((c) => (c._tag === "Supervisor" ? depth(c) : 0)))
 * const program = Arbitrary.sampleEffect(Topology.nurseryTree({ maxDepth: 2 }), { count: 20, seed: 3 })
 * Effect.runPromise(program).then((xs) => console.log(xs.every((t) => depth(t.root) <= 2))) // true
 * ```
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const nurseryTree = (options?: ArbitraryOptions): Arbitrary.Arbitrary<NurseryTree> =>
  Arbitrary.schema(bounded(options).NurseryTree) as Arbitrary.Arbitrary<NurseryTree>

/**
 * Generates topologies of the kinds in `options.kinds` (all four by default).
 *
 * **When to use**
 *
 * As the first input of a topology property, with `Faults.arbitrary()` as the second.
 *
 * **Details**
 *
 * Shrinking makes a failing topology smaller within its kind (fewer actors and messages, smaller capacities
 * and work), and tries the kinds listed earlier first.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { Topology } from "@handoffkit/testing"
 *
 * const program = Arbitrary.sampleEffect(Topology.arbitrary({ kinds: ["Broadcast", "NurseryTree"] }), {
 *   count: 20,
 *   seed: 5
 * })
 * Effect.runPromise(program).then((xs) => console.log(xs.every((t) => t._tag === "Broadcast" || t._tag === "NurseryTree")))
 * // true
 * ```
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const arbitrary = (options?: ArbitraryOptions): Arbitrary.Arbitrary<Topology> => {
  const schemas = bounded(options)
  const kinds = options?.kinds ?? (["Pipeline", "FanOut", "Broadcast", "NurseryTree"] as const)
  const members = kinds.map((kind) => schemas[kind])
  return Arbitrary.schema(
    members.length === 1 ? members[0] : Schema.Union(members)
  ) as Arbitrary.Arbitrary<Topology>
}

// -----------------------------------------------------------------------------
// interpreting
// -----------------------------------------------------------------------------

/**
 * What a run of `interpret` reports beside its trace.
 *
 * **Details**
 *
 * - `targets`: the fault targets, in index order (the feeder first).
 * - `expected`: how many messages reach the end when nothing goes wrong (undefined for a broadcast, whose
 *   overflow policies decide); `completed`: how many did.
 * - `budget`: the calls limit of the shared budget; `refused`: reservations it refused.
 * - `crashed`, `interrupted`, `ticks`: the faults that actually happened.
 * - `ownershipErrors`: how often an owner found its own task handle dead (never, if `Handoff` is right).
 * - `rounds`: the fan-in rounds the collector completed: the senders of their parts in order, and when each
 *   opened and completed (Clock milliseconds).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Harness, Topology } from "@handoffkit/testing"
 *
 * const topology: Topology.Topology = { _tag: "Pipeline", stages: [{ capacity: 1, work: 0 }], messages: 2, handoff: false }
 * const program = Effect.map(Harness.runTopology(topology), ({ exit }) => {
 *   const report: Topology.Report | undefined = exit._tag === "Success" ? exit.value : undefined
 *   return report?.completed
 * })
 * Effect.runPromise(program).then(console.log) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly kind: Topology["_tag"]
  readonly targets: ReadonlyArray<string>
  readonly expected: number | undefined
  readonly completed: number
  readonly budget: number
  readonly refused: number
  readonly crashed: number
  readonly interrupted: number
  readonly ticks: number
  readonly ownershipErrors: number
  readonly rounds: ReadonlyArray<{
    readonly correlationId: string
    readonly senders: ReadonlyArray<string>
    readonly openedAt: number
    readonly completedAt: number
  }>
}

/**
 * Builds the topology from the real core primitives, feeds it, applies the schedule's faults, lets it settle,
 * and reports what happened. Run it under `Harness.run` (or use `Harness.runTopology`).
 *
 * **When to use**
 *
 * When you need the run itself (to add your own assertions over the trace); `Harness.runTopology` wraps it and
 * checks `violations`.
 *
 * **Details**
 *
 * Fault targets, by kind (the feeder, the fiber sending the input from outside, is always target 0):
 *
 * - `Pipeline`: feeder, `stage-0`...`stage-(n-1)`.
 * - `FanOut`: feeder, `source`, `worker-0`..., `collector` (a crash of the collector fails its j-th completed round).
 * - `Broadcast`: feeder, `publisher`, then the consuming subscribers (a `pace` of -1 has no fiber to target).
 * - `NurseryTree`: feeder, then the workers in depth-first order (supervised actors: a crash restarts them).
 *
 * Every handled message reserves one call on the shared budget while the handler works, and commits it; a
 * refused reservation drops the message. The driver applies `Interrupt` and `Tick` faults at their steps (each
 * step yields a few times), then yields until nothing progresses any more, and returns: closing the scope stops
 * the rest. Never fails: the topology's own failures (crashes, refused sends) are part of the run.
 * `preemption` applies to every fiber forked here.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Faults, Harness, Invariants, Topology } from "@handoffkit/testing"
 *
 * const topology: Topology.Topology = {
 *   _tag: "Pipeline",
 *   stages: [{ capacity: 0, work: 1 }, { capacity: 1, work: 0 }],
 *   messages: 3,
 *   handoff: true
 * }
 * const schedule: Faults.Schedule = { faults: [{ _tag: "Crash", target: 2, message: 2 }], preemption: 0 }
 * const program = Effect.map(Harness.run(Topology.interpret(topology, schedule)), ({ events }) =>
 *   Invariants.all(events).length
 * )
 * Effect.runPromise(program).then(console.log) // 0
 * ```
 *
 * @category interpreting
 * @since 0.1.0
 */
export const interpret = (
  topology: Topology,
  schedule?: Faults.Schedule
): Effect.Effect<Report, never, Scope.Scope | Registry.Registry> => internal.interpret(topology, schedule)

// -----------------------------------------------------------------------------
// checking
// -----------------------------------------------------------------------------

// The shared budget's label (`budget-<n>`) is the `actor` of its events: the topology makes no other budget.
const budgetLabels = (events: ReadonlyArray<Tracer.Event>): Array<string> => [
  ...new Set(events.filter((e) => e.kind.startsWith("budget.")).map((e) => e.actor))
]

/** Nurseries of a tree with their names as `interpret` gives them. */
const nurseriesOf = (supervisor: Supervisor, name: string): Array<readonly [string, Supervisor]> => [
  [name, supervisor],
  ...supervisor.children.flatMap((child, i) =>
    child._tag === "Supervisor" ? nurseriesOf(child, `${name}.${i}`) : []
  )
]

/**
 * Checks a finished run of `interpret`: every trace invariant, and what the topology's own contract adds.
 *
 * **When to use**
 *
 * On what `Harness.run(Topology.interpret(topology, schedule))` returned; `Harness.runTopology` does it for you.
 *
 * **Details**
 *
 * - `runs`: the interpreter itself ended with a success (a defect in the core shows up here).
 * - `Invariants.all`, with the shared budget's limit for `budgetRespected`; for a `Broadcast`, also
 *   `Invariants.brokerCopies`.
 * - `completes`: under a quiet schedule (`Faults.isQuiet`), everything sent reaches the end: `completed`
 *   equals `expected` (for a broadcast, no subscriber that takes is left with queued copies when it closes).
 * - `ownership`: no owner ever found its own task handle dead.
 * - `joinRounds` (fan-out): `Invariants.joinRounds` over the trace; and in the report, each round completed
 *   with exactly `quorum` parts from distinct workers, and completed once: a round id completes again only in
 *   a new round opened once the join forgot the first (`retain`, which is the `timeout`, after completing).
 * - `restartIntensity` (nursery tree): no nursery restarted more than `maxRestarts` times within its window,
 *   and none escalated twice.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Faults, Harness, Topology } from "@handoffkit/testing"
 *
 * const topology: Topology.Topology = { _tag: "Broadcast", subscribers: [{ capacity: 1, overflow: "dead-letter", pace: 0 }], messages: 4 }
 * const program = Effect.map(Harness.run(Topology.interpret(topology)), (result) =>
 *   Topology.violations(topology, Faults.none, result)
 * )
 * Effect.runPromise(program).then(console.log) // []
 * ```
 *
 * @category checking
 * @since 0.1.0
 */
export const violations = (
  topology: Topology,
  schedule: Faults.Schedule,
  result: { readonly events: ReadonlyArray<Tracer.Event>; readonly exit: Exit.Exit<Report, unknown> }
): ReadonlyArray<Invariants.Violation> => {
  const { events, exit } = result
  if (Exit.isFailure(exit)) {
    return [
      { invariant: "runs", message: `the topology did not run: ${Cause.pretty(exit.cause)}`, events: [] }
    ]
  }
  const report = exit.value
  const budgets: Record<string, { calls: number }> = {}
  for (const label of budgetLabels(events)) budgets[label] = { calls: report.budget }
  const found: Array<Invariants.Violation> = [...Invariants.all(events, { budgets })]
  const quiet = schedule.faults.length === 0
  if (topology._tag === "Broadcast") {
    found.push(...Invariants.brokerCopies(events))
    if (quiet) {
      const taking = new Set(topology.subscribers.flatMap((s, i) => (s.pace >= 0 ? [`subscriber-${i}`] : [])))
      const left = events.filter(
        (e) => e.kind === "dead-letter" && taking.has(e.actor) && e.data?.reason === "closed"
      )
      if (left.length > 0) {
        found.push({
          invariant: "completes",
          message: `with nothing going wrong, ${left.length} copies were still queued at subscribers that take (${[...new Set(left.map((e) => e.actor))].join(", ")})`,
          events: left.map((e) => e.seq)
        })
      }
    }
  } else if (quiet && report.completed !== report.expected) {
    found.push({
      invariant: "completes",
      message: `with nothing going wrong, ${report.completed} of ${report.expected} messages reached the end`,
      events: []
    })
  }
  if (report.ownershipErrors > 0) {
    found.push({
      invariant: "ownership",
      message: `an owner found its own task handle dead ${report.ownershipErrors} time(s)`,
      events: []
    })
  }
  if (topology._tag === "FanOut") {
    found.push(...Invariants.joinRounds(events))
    const quorum = Math.min(topology.quorum, topology.workers.length)
    const forgetAt = new Map<string, number>()
    for (const round of report.rounds) {
      const forgotten = forgetAt.get(round.correlationId)
      const problems = [
        ...(forgotten !== undefined && round.openedAt < forgotten
          ? [`completed twice (again in a round opened at ${round.openedAt}, before ${forgotten})`]
          : []),
        ...(round.senders.length !== quorum ? [`has ${round.senders.length} parts, not ${quorum}`] : []),
        ...(new Set(round.senders).size !== round.senders.length
          ? [`has two parts from one sender (${round.senders.join(", ")})`]
          : [])
      ]
      forgetAt.set(round.correlationId, round.completedAt + topology.timeout)
      for (const problem of problems) {
        const completions = events.filter(
          (e) => e.kind === "join.complete" && e.correlationId === round.correlationId
        )
        found.push({
          invariant: "joinRounds",
          message: `round ${round.correlationId} ${problem}`,
          events: completions.map((e) => e.seq)
        })
      }
    }
  }
  if (topology._tag === "NurseryTree") {
    for (const [name, supervisor] of nurseriesOf(topology.root, "root")) {
      const restarts = events.filter((e) => e.kind === "nursery.restart" && e.data?.nursery === name)
      for (const restart of restarts) {
        const inWindow = restarts.filter(
          (r) => r.seq <= restart.seq && restart.ts - r.ts <= supervisor.window
        )
        if (inWindow.length > supervisor.maxRestarts) {
          found.push({
            invariant: "restartIntensity",
            message: `nursery ${name} restarted ${inWindow.length} times within ${supervisor.window} ms, over its ${supervisor.maxRestarts}`,
            events: inWindow.map((r) => r.seq)
          })
          break
        }
      }
      const escalations = events.filter((e) => e.kind === "nursery.escalate" && e.actor === name)
      if (escalations.length > 1) {
        found.push({
          invariant: "restartIntensity",
          message: `nursery ${name} escalated ${escalations.length} times`,
          events: escalations.map((e) => e.seq)
        })
      }
    }
  }
  return found
}
