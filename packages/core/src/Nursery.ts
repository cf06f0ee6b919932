/**
 * A nursery is a supervisor with a scope: **no fiber started into a nursery outlives it.** Children are
 * started into a nursery; closing it (the scope it was made in closing, `close`, or the end of `run`)
 * interrupts every child and waits for each one to exit, in reverse start order, before the close
 * completes.
 *
 * **When to use**
 *
 * Use a nursery wherever a group of fibers (actors, agents, workers) must live and die together: to run
 * them concurrently, restart them when they crash, and be sure none is left running when the group is
 * done.
 *
 * **Details**
 *
 * Supervision follows Erlang/OTP. Each child has a restart policy (`permanent`, `transient`,
 * `temporary`); each nursery has a strategy (`one-for-one`, `one-for-all`, `rest-for-one`) and a restart
 * intensity: at most `maxRestarts` restarts within `window`, measured with Effect's `Clock` (so `TestClock`
 * drives it). A failure that would need one restart more escalates: the nursery stops all its children
 * and fails with {@link NurseryEscalated}. Its {@link await} and {@link run} fail with that error, and the
 * escalation of a {@link nested} nursery is a failure of that child in its parent, handled by the
 * parent's own strategy and intensity, up to the root.
 *
 * Structure follows Trio: {@link run} opens a nursery, runs a body that starts children, waits for the
 * children, and closes the nursery in every case (success, failure, escalation, interruption). Caps on
 * width (`maxChildren`) and depth (`maxDepth`) fail with typed errors instead of growing without bound.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Pipeable, Predicate, Schema, Scope } from "effect"
import { dual } from "effect/Function"
import * as internal from "./internal/nursery.ts"
import * as options_ from "./internal/options.ts"
import * as Tracer from "./Tracer.ts"

const describe = (name: string | undefined): string => (name === undefined ? "a child" : `"${name}"`)

const named = (name: string | undefined): { readonly child?: string } =>
  name === undefined ? {} : { child: name }

/**
 * The unique identifier carried by every {@link Nursery}.
 *
 * **When to use**
 *
 * Use through {@link isNursery}; it is exported so that the `Nursery` interface can name it.
 *
 * **Details**
 *
 * A string constant, the same in every copy of the module.
 *
 * **Example** (Reading the type id)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Effect.scoped(Effect.map(Nursery.make(), (n) => n[Nursery.TypeId] === Nursery.TypeId))
 * console.log(Effect.runSync(program)) // true
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = internal.TypeId

/**
 * The type of {@link TypeId}.
 *
 * **When to use**
 *
 * Use in type positions that need to name the nursery brand.
 *
 * **Details**
 *
 * A string literal type.
 *
 * **Example** (Naming the brand)
 *
 * ```ts
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const brand: Nursery.TypeId = Nursery.TypeId
 * console.log(brand) // "~@handoffkit/core/Nursery"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = internal.TypeId

/**
 * The unique identifier carried by every {@link Child}.
 *
 * **When to use**
 *
 * Use through {@link isChild}.
 *
 * **Details**
 *
 * A string constant, distinct from {@link TypeId}.
 *
 * **Example** (Checking a handle)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({}, (n) =>
 *   Effect.map(Nursery.start(n, Effect.void), (child) => child[Nursery.ChildTypeId] === Nursery.ChildTypeId))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const ChildTypeId: ChildTypeId = internal.ChildTypeId

/**
 * The type of {@link ChildTypeId}.
 *
 * **When to use**
 *
 * Use in type positions that need to name the child brand.
 *
 * **Details**
 *
 * A string literal type.
 *
 * **Example** (Naming the brand)
 *
 * ```ts
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const brand: Nursery.ChildTypeId = Nursery.ChildTypeId
 * console.log(brand) // "~@handoffkit/core/Nursery/Child"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export type ChildTypeId = internal.ChildTypeId

/**
 * Which children a nursery restarts when one of them fails.
 *
 * **When to use**
 *
 * Pick `one-for-one` for independent children, `one-for-all` for children that only make sense together,
 * `rest-for-one` for a pipeline where each child depends on those started before it.
 *
 * **Details**
 *
 * - `one-for-one`: only the failed child is restarted.
 * - `one-for-all`: every other live child is interrupted and awaited, then all are restarted in start order.
 * - `rest-for-one`: the children started after the failed one are interrupted and awaited, then the failed
 *   child and those are restarted in start order.
 *
 * A child keeps its place in the start order across restarts. Temporary children stopped on account of a
 * sibling are not restarted (as in OTP). One failure counts as one restart toward the intensity, however
 * many children it restarts.
 *
 * **Example** (A pipeline restarted from the failed stage on)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const started: Array<string> = []
 * let reads = 0
 * const reader = Effect.suspend(() => (++reads === 1 ? Effect.fail("connection reset") : Effect.never))
 * const strategy: Nursery.Strategy = "rest-for-one"
 * const onEvent = (event: Nursery.NurseryEvent) => event._tag === "Started" && started.push(event.child)
 * const program = Nursery.run({ strategy, onEvent }, (n) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(n, reader, { name: "reader" })
 *     yield* Nursery.start(n, Effect.never, { name: "parser" }) // restarted when the reader fails
 *     yield* Effect.sleep("20 millis")
 *     yield* Nursery.close(n)
 *   }))
 * Effect.runPromise(program).then(() => console.log(started)) // ["reader", "parser", "reader", "parser"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Strategy = internal.Strategy

/**
 * When a child is restarted after its incarnation ends on its own.
 *
 * **When to use**
 *
 * `permanent` for servers that must always run, `transient` (the default) for work that must finish
 * successfully, `temporary` for work that is never retried.
 *
 * **Details**
 *
 * - `permanent`: restarted whenever it ends: success, failure, defect, or an interruption that did not come
 *   from the nursery.
 * - `transient`: restarted only when it fails (a failure or a defect); success or an interruption ends it.
 * - `temporary`: never restarted; it leaves the nursery when it ends, whatever the exit.
 *
 * Children the nursery interrupts itself (close, strategy, {@link stop}) are never restarted on their own
 * account.
 *
 * **Example** (A permanent child)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * let runs = 0
 * const worker = Effect.suspend(() => (++runs === 1 ? Effect.void : Effect.never)) // ends once, successfully
 * const restart: Nursery.RestartPolicy = "permanent"
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(n, worker, { restart }) // restarted even after a success
 *     yield* Effect.sleep("20 millis")
 *     yield* Nursery.close(n)
 *   }))
 * Effect.runPromise(program).then(() => console.log(runs)) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type RestartPolicy = internal.RestartPolicy

/**
 * How many restarts a nursery allows within a sliding window before it escalates.
 *
 * **When to use**
 *
 * Pass as `intensity` in {@link Options}.
 *
 * **Details**
 *
 * A failure that needs a restart when `maxRestarts` restarts already happened within the last `window`
 * (inclusive) escalates instead. `maxRestarts: 0` escalates on the first such failure. The window is
 * measured with the `Clock` of the fiber that made the nursery.
 *
 * **Example** (At most 5 restarts a minute)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const intensity: Nursery.Intensity = { maxRestarts: 5, window: "1 minute" }
 * const program = Nursery.run({ intensity }, (n) => Effect.succeed(n.intensity.maxRestarts))
 * Effect.runPromise(program).then(console.log) // 5
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Intensity {
  readonly maxRestarts: number
  readonly window: Duration.Input
}

/**
 * Options of {@link make}, {@link nested} and {@link run}.
 *
 * **When to use**
 *
 * Use to name a nursery and choose its strategy, intensity and caps.
 *
 * **Details**
 *
 * Defaults: strategy `one-for-one`; intensity 3 restarts within 5 seconds; no width cap (`maxChildren`
 * counts children under supervision, including those waiting to be restarted); depth cap 16. A nested
 * nursery's `maxDepth` can only lower the cap inherited from its parent. Invalid durations are defects.
 * `onEvent` receives every {@link NurseryEvent} (a nested nursery without a hook of its own reports to
 * its parent's).
 *
 * **Example** (A small, strict nursery)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const options: Nursery.Options = {
 *   name: "agents",
 *   strategy: "one-for-all",
 *   intensity: { maxRestarts: 1, window: "10 seconds" },
 *   maxChildren: 8
 * }
 * const program = Nursery.run(options, (n) => Effect.succeed([n.name, n.strategy, n.maxChildren]))
 * Effect.runPromise(program).then(console.log) // ["agents", "one-for-all", 8]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly name?: string | undefined
  readonly strategy?: Strategy | undefined
  readonly intensity?: Intensity | undefined
  readonly maxChildren?: number | undefined
  readonly maxDepth?: number | undefined
  readonly onEvent?: ((event: NurseryEvent) => void) | undefined
}

/**
 * What a nursery reports to its `onEvent` hook: each start, exit, restart decision, escalation and close.
 *
 * **When to use**
 *
 * Use to trace supervision (a tracer can turn these into trace events) or, in tests, to check restart
 * decisions against the intensity with the times the nursery itself used.
 *
 * **Details**
 *
 * Events are reported synchronously, in the order the nursery makes its decisions; `time` is the
 * monotonic time in milliseconds of the nursery's `Clock` (the clock the intensity window is measured
 * with).
 *
 * - `Started`: an incarnation was forked (`incarnation` counts from 1).
 * - `Exited`: an incarnation ended. `stopped` is true when the nursery was stopping it (a strategy,
 *   {@link stop}, a close or an escalation): such an exit never counts as a failure, whatever its cause,
 *   since a child can fail on its own just as the nursery interrupts it.
 * - `Restarted`: one restart decision, one count toward the intensity however many children the strategy
 *   restarts (they then report `Started`).
 * - `Escalated`: the failure that exceeded the intensity, reported before the children are stopped.
 * - `Closed`: the last child has exited; `escalated` tells why the nursery closed.
 *
 * The hook must not throw (what it throws is dropped) and should be quick: it runs inside the nursery's
 * transitions.
 *
 * **Example** (Logging restarts)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const restarts: Array<string> = []
 * let attempts = 0
 * const flaky = Effect.suspend(() => (++attempts < 2 ? Effect.fail("once") : Effect.void))
 * const program = Nursery.run(
 *   { onEvent: (event) => event._tag === "Restarted" && restarts.push(event.child) },
 *   (n) => Nursery.start(n, flaky, { name: "flaky" })
 * )
 * Effect.runPromise(program).then(() => console.log(restarts)) // ["flaky"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type NurseryEvent =
  | {
      readonly _tag: "Started"
      readonly nurseryId: number
      readonly nursery: string
      readonly childId: number
      readonly child: string
      readonly incarnation: number
      readonly time: number
    }
  | {
      readonly _tag: "Exited"
      readonly nurseryId: number
      readonly nursery: string
      readonly childId: number
      readonly child: string
      readonly exit: Exit.Exit<unknown, unknown>
      readonly stopped: boolean
      readonly time: number
    }
  | {
      readonly _tag: "Restarted" | "Escalated"
      readonly nurseryId: number
      readonly nursery: string
      readonly childId: number
      readonly child: string
      readonly time: number
    }
  | {
      readonly _tag: "Closed"
      readonly nurseryId: number
      readonly nursery: string
      readonly escalated: boolean
      readonly time: number
    }

/**
 * Options of {@link start}.
 *
 * **When to use**
 *
 * Use to name a child (names appear in {@link children} and in {@link NurseryEscalated}) and to choose its
 * {@link RestartPolicy}.
 *
 * **Details**
 *
 * The default policy is `transient`; the default name is `child-<id>`. Names need not be unique.
 *
 * **Example** (A named permanent child)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const options: Nursery.StartOptions = { name: "mailbox-pump", restart: "permanent" }
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     const pump = yield* Nursery.start(n, Effect.never, options)
 *     yield* Nursery.close(n)
 *     return [pump.name, pump.restart]
 *   }))
 * Effect.runPromise(program).then(console.log) // ["mailbox-pump", "permanent"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface StartOptions {
  readonly name?: string | undefined
  readonly restart?: RestartPolicy | undefined
}

/**
 * A supervisor whose children never outlive it.
 *
 * **When to use**
 *
 * Get one from {@link make} (bound to a scope), {@link run} (bound to a body) or {@link nested} (bound to a
 * parent nursery), then {@link start} children into it.
 *
 * **Details**
 *
 * The fields describe the nursery's configuration; its live state is read with {@link children} and
 * {@link size}. `depth` is 0 for a root nursery and its parent's depth plus one for a nested one.
 *
 * **Example** (Starting two workers)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const done: Array<string> = []
 * const program = Nursery.run({ name: "workers" }, (nursery) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(nursery, Effect.sync(() => done.push("one")))
 *     yield* Nursery.start(nursery, Effect.sync(() => done.push("two")))
 *     return [nursery.name, nursery.depth]
 *   }))
 * Effect.runPromise(program).then((info) => console.log(info, done)) // ["workers", 0] ["one", "two"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Nursery extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly id: number
  readonly name: string
  readonly depth: number
  readonly strategy: Strategy
  readonly intensity: { readonly maxRestarts: number; readonly window: Duration.Duration }
  readonly maxChildren: number
  readonly maxDepth: number
  readonly parent: Nursery | undefined
}

/**
 * A handle on a supervised child: a stable identity over its successive incarnations.
 *
 * **When to use**
 *
 * Use to wait for the current incarnation of a child, read how often it was restarted, or {@link stop} it.
 *
 * **Details**
 *
 * - `await` waits for the end of the incarnation running when it is evaluated and returns its `Exit` (if
 *   the child is between incarnations, the next one; once the child has left the nursery, its last exit).
 *   It never fails.
 * - `restarts` is the number of incarnations started after the first one, read when accessed.
 *
 * **Example** (Waiting for one incarnation)
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     const child = yield* Nursery.start(n, Effect.succeed(42))
 *     return yield* child.await
 *   }))
 * Effect.runPromise(program).then((exit) => console.log(Exit.isSuccess(exit) && exit.value)) // 42
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Child<out A = unknown, out E = unknown> extends Pipeable.Pipeable {
  readonly [ChildTypeId]: ChildTypeId
  readonly id: number
  readonly name: string
  readonly restart: RestartPolicy
  readonly restarts: number
  readonly nursery: Nursery
  readonly await: Effect.Effect<Exit.Exit<A, E>>
}

/**
 * A snapshot of one supervised child, for tests and tracing.
 *
 * **When to use**
 *
 * Read through {@link children}.
 *
 * **Details**
 *
 * `kind` is `nursery` for a {@link nested} nursery. `status` is `running` (alive), `stopping` (interrupted
 * by the nursery, not yet exited) or `restarting` (exited, waiting for its restart); `alive` is true for
 * the first two.
 *
 * **Example** (Listing the children)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(n, Effect.never, { name: "a" })
 *     const infos = yield* Nursery.children(n)
 *     yield* Nursery.close(n)
 *     return infos.map((info) => [info.name, info.kind, info.status, info.restarts])
 *   }))
 * Effect.runPromise(program).then(console.log) // [["a", "child", "running", 0]]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ChildInfo {
  readonly id: number
  readonly name: string
  readonly kind: "child" | "nursery"
  readonly restart: RestartPolicy
  readonly restarts: number
  readonly alive: boolean
  readonly status: "running" | "stopping" | "restarting"
}

/**
 * Options that make no nursery, or no child: a restart count that is NaN, infinite, negative or fractional,
 * a window that is not a positive duration, an unknown strategy or restart policy, an empty name, a width or
 * depth cap that is not a count.
 *
 * **When to use**
 *
 * Catch it (`Effect.catchTag("NurseryInvalid", …)`) where the options come from a config file, a CLI or a
 * model's tool call.
 *
 * **Details**
 *
 * `option` is the path of the offending field (`intensity.maxRestarts`), `value` the value as given, shown as
 * JavaScript prints it (`NaN`, `"5 sekonds"`), `problem` what was expected. Nothing has run when it is raised.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Effect.scoped(Nursery.make({ intensity: { maxRestarts: NaN, window: "5 seconds" } }))
 * const error = Effect.runSync(Effect.flip(program))
 * console.log(error._tag, error.option, error.value) // NurseryInvalid intensity.maxRestarts NaN
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NurseryInvalid extends Schema.TaggedError<NurseryInvalid>()("NurseryInvalid", {
  option: Schema.String,
  value: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `invalid nursery option "${this.option}" (${this.value}): ${this.problem}`
  }
}

/**
 * The Schema every {@link Options} value is decoded with before a nursery is made.
 *
 * **When to use**
 *
 * To check a nursery configuration read from a file or a model before using it, or to derive a form.
 *
 * **Details**
 *
 * `intensity.maxRestarts` is a non-negative integer (not NaN, not `Infinity`: an endless restart loop is
 * what the intensity exists to stop), `intensity.window` a positive duration, `strategy` one of the three
 * strategies, `name` a non-empty string, `maxChildren` a positive integer or `Infinity`, `maxDepth` a
 * non-negative integer, `onEvent` a function. {@link make}, {@link run} and {@link nested} fail with
 * {@link NurseryInvalid} on the first field that does not decode.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const valid = Schema.is(Nursery.OptionsSchema)
 * console.log(valid({ intensity: { maxRestarts: 3, window: "5 seconds" } }), valid({ strategy: "all-for-none" }))
 * // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const OptionsSchema = Schema.Struct({
  name: options_.optional(options_.Name),
  strategy: options_.optional(Schema.Literals(["one-for-one", "one-for-all", "rest-for-one"])),
  intensity: options_.optional(
    Schema.Struct({
      maxRestarts: options_.Count,
      window: options_.PositiveDurationInput
    })
  ),
  maxChildren: options_.optional(options_.PositiveIntOrInfinity),
  maxDepth: options_.optional(options_.Count),
  onEvent: options_.optional(options_.Fn)
})

/**
 * The Schema every {@link StartOptions} value is decoded with before a child is started.
 *
 * **When to use**
 *
 * To check start options that come from outside the program.
 *
 * **Details**
 *
 * `name` is a non-empty string and `restart` one of `"permanent"`, `"transient"`, `"temporary"`;
 * {@link start} fails with {@link NurseryInvalid} otherwise, and nothing runs.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * console.log(Schema.is(Nursery.StartOptionsSchema)({ restart: "forever" })) // false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const StartOptionsSchema = Schema.Struct({
  name: options_.optional(options_.Name),
  restart: options_.optional(Schema.Literals(["permanent", "transient", "temporary"]))
})

const invalid = (schema: Schema.Top, input: unknown): NurseryInvalid | undefined => {
  const problem = options_.check(schema, input ?? {})
  return problem === undefined ? undefined : new NurseryInvalid(problem)
}

/**
 * Fails a start into a nursery that is closing, closed or escalating.
 *
 * **When to use**
 *
 * Catch with `Effect.catchTag("NurseryClosed", ...)` where starting late is expected (shutdown races).
 *
 * **Details**
 *
 * Nothing was started: the check and the fork happen in one synchronous step, so a child is either
 * supervised (and will be stopped by the close) or never started.
 *
 * **Example** (Starting after close)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Effect.gen(function*() {
 *   const n = yield* Effect.scoped(Nursery.make({ name: "done" }))
 *   return yield* Effect.flip(Nursery.start(n, Effect.void))
 * })
 * Effect.runPromise(program).then((error) => console.log(error.message))
 * // cannot start a child in nursery "done": the nursery is closed
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NurseryClosed extends Schema.TaggedError<NurseryClosed>()("NurseryClosed", {
  nursery: Schema.String,
  child: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    return `cannot start ${describe(this.child)} in nursery "${this.nursery}": the nursery is closed`
  }
}

/**
 * Fails a start into a nursery that already supervises `maxChildren` children.
 *
 * **When to use**
 *
 * Catch to apply back-pressure or shed load when a nursery is at its width cap.
 *
 * **Details**
 *
 * Children waiting to be restarted count toward the cap. Nothing was started.
 *
 * **Example** (A nursery of one)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({ name: "solo", maxChildren: 1 }, (n) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(n, Effect.never)
 *     const error = yield* Effect.flip(Nursery.start(n, Effect.never, { name: "second" }))
 *     yield* Nursery.close(n)
 *     return error
 *   }))
 * Effect.runPromise(program).then((error) => console.log(error.message))
 * // cannot start "second" in nursery "solo": it already supervises 1 children (maxChildren)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NurseryFull extends Schema.TaggedError<NurseryFull>()("NurseryFull", {
  nursery: Schema.String,
  child: Schema.optionalKey(Schema.String),
  maxChildren: Schema.Number
}) {
  override get message(): string {
    return `cannot start ${describe(
      this.child
    )} in nursery "${this.nursery}": it already supervises ${this.maxChildren} children (maxChildren)`
  }
}

/**
 * Fails a {@link nested} nursery that would be deeper than the depth cap.
 *
 * **When to use**
 *
 * Catch where nesting depth comes from data (recursive delegation between agents) to stop runaway trees.
 *
 * **Details**
 *
 * `depth` is the depth the nested nursery would have had; `maxDepth` the cap in force in `nursery`.
 *
 * **Example** (No nesting allowed)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({ name: "flat", maxDepth: 0 }, (n) => Effect.flip(Nursery.nested(n)))
 * Effect.runPromise(program).then((error) => console.log(error.message))
 * // cannot nest a nursery in "flat": depth 1 exceeds maxDepth 0
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NurseryTooDeep extends Schema.TaggedError<NurseryTooDeep>()("NurseryTooDeep", {
  nursery: Schema.String,
  depth: Schema.Number,
  maxDepth: Schema.Number
}) {
  override get message(): string {
    return `cannot nest a nursery in "${this.nursery}": depth ${this.depth} exceeds maxDepth ${this.maxDepth}`
  }
}

/**
 * The failure of a nursery whose restart intensity was exceeded.
 *
 * **When to use**
 *
 * Match on it from {@link await} or {@link run} to learn which child kept failing and why.
 *
 * **Details**
 *
 * `child` is the child whose failure would have needed one restart more than `maxRestarts` within
 * `windowMillis`; `cause` is that child's `Cause` (for a nested nursery, a cause holding the nested
 * escalation, so the chain is visible). By the time this error is observed, every child of the nursery has
 * exited. The message pretty-prints the cause.
 *
 * **Example** (A child that always fails)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({ intensity: { maxRestarts: 2, window: "1 second" } }, (n) =>
 *   Nursery.start(n, Effect.fail("boom"), { name: "doomed" })
 * ).pipe(Effect.catchTag("NurseryEscalated", (e) => Effect.succeed([e.child, e.maxRestarts])))
 * Effect.runPromise(program).then(console.log) // ["doomed", 2]
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NurseryEscalated extends Schema.TaggedError<NurseryEscalated>()("NurseryEscalated", {
  nursery: Schema.String,
  child: Schema.String,
  maxRestarts: Schema.Number,
  windowMillis: Schema.Number,
  cause: Schema.Cause(Schema.Unknown, Schema.Unknown)
}) {
  override get message(): string {
    return `nursery "${this.nursery}" escalated: child "${this.child}" failed again after ${this.maxRestarts} restarts within ${Duration.format(
      Duration.millis(this.windowMillis)
    )}\n${Cause.pretty(this.cause)}`
  }
}

const toCore = (self: Nursery): internal.NurseryCore => self as unknown as internal.NurseryCore

const toEntry = (self: Child<any, any>): internal.Entry => self as unknown as internal.Entry

const makeEscalated = (
  core: internal.NurseryCore,
  entry: internal.Entry,
  cause: Cause.Cause<unknown>
): unknown =>
  new NurseryEscalated({
    nursery: core.name,
    child: entry.name,
    maxRestarts: core.maxRestarts,
    windowMillis: core.windowMillis,
    cause
  })

// A nested nursery inherits its parent's user hook and tracer. They are kept apart so that tracing is
// composed once per nursery, never twice through inheritance.
const userHooks = new WeakMap<internal.NurseryCore, ((event: NurseryEvent) => void) | undefined>()
const tracers = new WeakMap<internal.NurseryCore, Tracer.Tracer>()

const traceEvent = (tracer: Tracer.Tracer, event: NurseryEvent): void => {
  switch (event._tag) {
    case "Started":
      return tracer.emit({
        kind: "nursery.start",
        actor: event.child,
        data: { nursery: event.nursery, incarnation: event.incarnation }
      })
    case "Restarted":
      return tracer.emit({ kind: "nursery.restart", actor: event.child, data: { nursery: event.nursery } })
    case "Escalated":
      return tracer.emit({ kind: "nursery.escalate", actor: event.nursery, data: { child: event.child } })
    default:
      return
  }
}

const makeCore = (
  options: Options | undefined,
  parent: internal.NurseryCore | undefined,
  clock: Clock.Clock,
  rootTracer?: Tracer.Tracer
): internal.NurseryCore => {
  const userHook = options?.onEvent ?? (parent === undefined ? undefined : userHooks.get(parent))
  const tracer = rootTracer ?? (parent === undefined ? undefined : tracers.get(parent)) ?? Tracer.disabled
  const onEvent = tracer.enabled
    ? (event: NurseryEvent) => {
        traceEvent(tracer, event)
        userHook?.(event)
      }
    : userHook
  const id = internal.nextNurseryId()
  const inherited = parent?.maxDepth ?? 16
  const core = new internal.NurseryCore({
    id,
    name: options?.name ?? `nursery-${id}`,
    strategy: options?.strategy ?? "one-for-one",
    maxRestarts: options?.intensity?.maxRestarts ?? 3,
    window: Duration.fromInputUnsafe(options?.intensity?.window ?? "5 seconds"),
    maxChildren: options?.maxChildren ?? Number.POSITIVE_INFINITY,
    maxDepth: Math.min(inherited, options?.maxDepth ?? inherited),
    depth: parent === undefined ? 0 : parent.depth + 1,
    parent,
    clock,
    makeEscalated,
    onEvent
  })
  userHooks.set(core, userHook)
  tracers.set(core, tracer)
  return core
}

/**
 * Checks whether a value is a {@link Nursery}.
 *
 * **When to use**
 *
 * Use to tell a nursery from other values, for example in `dual` APIs.
 *
 * **Details**
 *
 * Checks the {@link TypeId} brand.
 *
 * **Example** (Guarding)
 *
 * ```ts
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * console.log(Nursery.isNursery({})) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isNursery = (u: unknown): u is Nursery => Predicate.hasProperty(u, TypeId)

/**
 * Checks whether a value is a {@link Child} handle.
 *
 * **When to use**
 *
 * Use to tell child handles from other values.
 *
 * **Details**
 *
 * Checks the {@link ChildTypeId} brand.
 *
 * **Example** (Guarding)
 *
 * ```ts
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * console.log(Nursery.isChild({})) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isChild = (u: unknown): u is Child => Predicate.hasProperty(u, ChildTypeId)

/**
 * Opens a nursery bound to the current scope: closing the scope interrupts every child and awaits them
 * before the close completes.
 *
 * **When to use**
 *
 * Use when the nursery's lifetime is a scope you already manage (a layer, `Effect.scoped`); use
 * {@link run} for a body-shaped lifetime.
 *
 * **Details**
 *
 * The close interrupts the children one at a time in reverse start order, waiting for each to exit before
 * interrupting the next, and never restarts anything once it has begun. It waits as long as children take
 * to run their finalizers. The restart window is measured with the `Clock` of the calling fiber.
 *
 * **Example** (A nursery that lives as long as its scope)
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Effect.gen(function*() {
 *   const planner = yield* Effect.scoped(
 *     Effect.gen(function*() {
 *       const nursery = yield* Nursery.make({ name: "agents", strategy: "one-for-one" })
 *       return yield* Nursery.start(nursery, Effect.never, { name: "planner", restart: "permanent" })
 *     })
 *   ) // the planner is interrupted and awaited here
 *   return yield* planner.await
 * })
 * Effect.runPromise(program).then((exit) => console.log(Exit.hasInterrupts(exit))) // true
 * ```
 *
 * @see {@link run} for the Trio-style form
 * @see {@link nested} for a nursery inside a nursery
 * @category constructors
 * @since 0.1.0
 */
export const make: (options?: Options) => Effect.Effect<Nursery, NurseryInvalid, Scope.Scope> = Effect.fn(
  "Nursery.make"
)(function* (options?: Options) {
  const refused = invalid(OptionsSchema, options)
  if (refused !== undefined) return yield* refused
  const scope = yield* Scope.Scope
  const clock = yield* Clock.clockWith(Effect.succeed)
  const core = makeCore(options, undefined, clock, yield* Tracer.CurrentTracer)
  yield* Scope.addFinalizer(scope, core.close)
  return core as Nursery
})

/**
 * Starts a supervised child in a nursery and returns its handle.
 *
 * **When to use**
 *
 * Use for every fiber that should be supervised by (and never outlive) the nursery.
 *
 * **Details**
 *
 * The child runs on its own fiber with the services of the calling fiber (captured once and reused by
 * every restart), so `R` is required here. It is restarted according to its {@link RestartPolicy} and the
 * nursery's {@link Strategy}, within the nursery's {@link Intensity}. Fails with {@link NurseryClosed} if
 * the nursery is closing, closed or escalating, and with {@link NurseryFull} at the width cap; in both
 * cases nothing runs. Starting never waits for the child.
 *
 * **Example** (A transient worker, restarted until it succeeds)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * let attempts = 0
 * const flaky = Effect.suspend(() => (++attempts < 3 ? Effect.fail("not yet") : Effect.succeed("done")))
 *
 * const program = Nursery.run({}, (n) => Nursery.start(n, flaky, { name: "flaky" }))
 * Effect.runPromise(program).then(() => console.log(attempts)) // 3
 * ```
 *
 * @see {@link stop} to take a child out of supervision
 * @category combinators
 * @since 0.1.0
 */
export const start: {
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: StartOptions
  ): (self: Nursery) => Effect.Effect<Child<A, E>, NurseryClosed | NurseryFull | NurseryInvalid, R>
  <A, E, R>(
    self: Nursery,
    effect: Effect.Effect<A, E, R>,
    options?: StartOptions
  ): Effect.Effect<Child<A, E>, NurseryClosed | NurseryFull | NurseryInvalid, R>
} = dual(
  (args) => isNursery(args[0]),
  <A, E, R>(
    self: Nursery,
    effect: Effect.Effect<A, E, R>,
    options?: StartOptions
  ): Effect.Effect<Child<A, E>, NurseryClosed | NurseryFull | NurseryInvalid, R> => {
    const refused = invalid(StartOptionsSchema, options)
    if (refused !== undefined) return Effect.fail(refused)
    // The yield keeps user code out of the synchronous step that checks the state and registers the fiber.
    const body = Effect.andThen(Effect.yieldNow, effect) as Effect.Effect<unknown, unknown>
    return Effect.contextWith(
      (context: Context.Context<R>): Effect.Effect<Child<A, E>, NurseryClosed | NurseryFull> => {
        const core = toCore(self)
        const name = options?.name
        const result = core.add(
          name,
          options?.restart ?? "transient",
          "child",
          body,
          context as Context.Context<never>
        )
        if (result === "closed") return Effect.fail(new NurseryClosed({ nursery: core.name, ...named(name) }))
        if (result === "full") {
          return Effect.fail(
            new NurseryFull({ nursery: core.name, ...named(name), maxChildren: core.maxChildren })
          )
        }
        return Effect.succeed(result as unknown as Child<A, E>)
      }
    )
  }
)

/**
 * Opens a nursery that is itself a child of `self`, one level deeper.
 *
 * **When to use**
 *
 * Use to build a supervision tree: a team of agents under one parent, a group of workers restarted
 * together, a subtree whose failures must not take down its siblings until they exhaust their intensity.
 *
 * **Details**
 *
 * The nested nursery counts toward `self`'s width cap; its depth is `self.depth + 1` and must not exceed
 * `self.maxDepth` ({@link NurseryTooDeep}). It closes when `self` closes (before `self`'s earlier
 * children, by the reverse start order), when {@link close} is called on it, or when it escalates.
 *
 * A nested nursery is a `temporary` child that is never restarted: a restart would have to invent its
 * children. Its escalation is a failure of that child in `self`: it counts as one restart toward `self`'s
 * intensity (so repeated escalations escalate `self`, up to the root) and triggers `self`'s strategy on
 * the other children (`one-for-all` restarts them all, `rest-for-one` those started after it). The
 * nested nursery itself stays closed; starting into it fails with {@link NurseryClosed}. When `self`'s
 * strategy stops a nested nursery on account of a sibling, it is closed and not restarted either. For a
 * subtree that is rebuilt on failure, start a child whose body calls {@link run} and repopulates it.
 *
 * **Example** (A team under a root)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({ name: "root" }, (root) =>
 *   Effect.gen(function*() {
 *     const team = yield* Nursery.nested(root, { name: "team", strategy: "one-for-all" })
 *     yield* Nursery.start(team, Effect.never, { name: "writer" })
 *     yield* Nursery.start(team, Effect.never, { name: "reviewer" })
 *     const tree = [team.depth, (yield* Nursery.children(root)).map((c) => c.kind)]
 *     yield* Nursery.close(root)
 *     return tree
 *   }))
 * Effect.runPromise(program).then(console.log) // [1, ["nursery"]]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const nested: {
  (
    options?: Options
  ): (self: Nursery) => Effect.Effect<Nursery, NurseryClosed | NurseryFull | NurseryTooDeep | NurseryInvalid>
  (
    self: Nursery,
    options?: Options
  ): Effect.Effect<Nursery, NurseryClosed | NurseryFull | NurseryTooDeep | NurseryInvalid>
} = dual(
  (args) => isNursery(args[0]),
  (
    self: Nursery,
    options?: Options
  ): Effect.Effect<Nursery, NurseryClosed | NurseryFull | NurseryTooDeep | NurseryInvalid> =>
    Effect.withFiber(
      (fiber): Effect.Effect<Nursery, NurseryClosed | NurseryFull | NurseryTooDeep | NurseryInvalid> => {
        const refused = invalid(OptionsSchema, options)
        if (refused !== undefined) return Effect.fail(refused)
        const parent = toCore(self)
        const child = named(options?.name)
        if (parent.state !== "open") return Effect.fail(new NurseryClosed({ nursery: parent.name, ...child }))
        if (parent.depth + 1 > parent.maxDepth) {
          return Effect.fail(
            new NurseryTooDeep({ nursery: parent.name, depth: parent.depth + 1, maxDepth: parent.maxDepth })
          )
        }
        const core = makeCore(options, parent, parent.clock)
        const result = parent.add(core.name, "temporary", "nursery", core.life, fiber.context)
        if (result === "closed") return Effect.fail(new NurseryClosed({ nursery: parent.name, ...child }))
        if (result === "full") {
          return Effect.fail(
            new NurseryFull({ nursery: parent.name, ...child, maxChildren: parent.maxChildren })
          )
        }
        core.parentEntry = result
        return Effect.succeed(core as Nursery)
      }
    )
)

const await_ = (self: Nursery): Effect.Effect<void, NurseryEscalated> =>
  toCore(self).idle as Effect.Effect<void, NurseryEscalated>

export {
  /**
   * Waits until the nursery has no live child and no restart pending; fails if it escalated.
   *
   * **When to use**
   *
   * Use to wait for a batch of work started into a nursery, or to learn that the nursery gave up.
   *
   * **Details**
   *
   * Completes as soon as the nursery is empty (immediately if it already is; children started later are
   * not waited for) or once it is closed. Fails with {@link NurseryEscalated} once the nursery escalated
   * and all its children have exited. Interrupting the wait does not affect the nursery.
   *
   * **Example** (Waiting for the work)
   *
   * ```ts
   * import { Effect } from "effect"
   * import * as Nursery from "@handoffkit/core/Nursery"
   *
   * const program = Effect.scoped(
   *   Effect.gen(function*() {
   *     const n = yield* Nursery.make()
   *     const results: Array<string> = []
   *     const work = Effect.andThen(Effect.sleep("10 millis"), Effect.sync(() => results.push("done")))
   *     yield* Nursery.start(n, work)
   *     yield* Nursery.await(n)
   *     return results
   *   })
   * )
   * Effect.runPromise(program).then(console.log) // ["done"]
   * ```
   *
   * @see {@link join} (an alias)
   * @category combinators
   * @since 0.1.0
   */
  await_ as await
}

/**
 * Waits until the nursery has no live child and no restart pending; fails if it escalated. An alias of
 * {@link await}.
 *
 * **When to use**
 *
 * Use where `await` reads awkwardly (`Nursery.join(n)` in a pipeline).
 *
 * **Details**
 *
 * Same contract as {@link await}.
 *
 * **Example** (Joining a nursery)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * let finished = false
 * const program = Effect.scoped(
 *   Effect.flatMap(Nursery.make(), (n) =>
 *     Effect.andThen(Nursery.start(n, Effect.sync(() => (finished = true))), Nursery.join(n)))
 * )
 * Effect.runPromise(program).then(() => console.log(finished)) // true
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const join: (self: Nursery) => Effect.Effect<void, NurseryEscalated> = await_

/**
 * Runs `body` with a fresh nursery, waits for its children, and closes it in every case: no child
 * outlives the call.
 *
 * **When to use**
 *
 * Use as the default way to run concurrent children: the lifetime of the children is the extent of the
 * call, as in Trio.
 *
 * **Details**
 *
 * After `body` succeeds, waits for the nursery to be empty (see {@link await}) and returns `body`'s
 * value. If the nursery escalates at any point, `body` is interrupted and the call fails with
 * {@link NurseryEscalated}. If `body` fails or the caller is interrupted, the children are interrupted
 * (an interruption of the caller wins over an escalation still stopping the children). In every case the
 * nursery is closed (all children interrupted and awaited) before the call completes. `body` gets no
 * `Scope` from `run`: resources it acquires belong to the caller's scope and so outlive the children.
 *
 * **Example** (Fan out, then join)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const results: Array<number> = []
 * const program = Nursery.run({ name: "fan-out" }, (n) =>
 *   Effect.forEach([1, 2, 3], (i) => Nursery.start(n, Effect.sync(() => results.push(i * 10)))))
 * Effect.runPromise(program).then(() => console.log(results)) // [10, 20, 30]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const run = <A, E, R>(
  options: Options,
  body: (nursery: Nursery) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | NurseryEscalated | NurseryInvalid, R> =>
  // A scope of its own, not provided to `body`: resources `body` acquires must outlive the children.
  Effect.acquireUseRelease(
    Scope.make(),
    (scope) =>
      Effect.flatMap(Scope.provide(make(options), scope), (nursery) => {
        const core = toCore(nursery)
        return Effect.raceFirst(
          Effect.flatMap(body(nursery), (value) =>
            Effect.as(core.idle as Effect.Effect<void, NurseryEscalated>, value)
          ),
          core.escalated as Effect.Effect<never, NurseryEscalated>
        )
      }),
    (scope, exit) => Scope.close(scope, exit)
  )

/**
 * Closes a nursery: interrupts every child in reverse start order and waits for each to exit.
 *
 * **When to use**
 *
 * Use to end a nursery before its scope does: a {@link nested} nursery that is no longer needed, or a
 * root nursery whose work is done.
 *
 * **Details**
 *
 * Idempotent; later starts fail with {@link NurseryClosed}. Nothing is restarted once closing has begun.
 * A nested nursery closed this way leaves its parent like a stopped child (no restart, no failure). The
 * wait is interruptible, the close is not: it goes on without the caller. Closing from inside one of the
 * nursery's own children interrupts that child too.
 *
 * **Example** (Closing early)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const n = yield* Nursery.make()
 *     yield* Nursery.start(n, Effect.never)
 *     yield* Nursery.close(n) // the child has exited here
 *     return yield* Nursery.size(n)
 *   })
 * )
 * Effect.runPromise(program).then(console.log) // 0
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const close = (self: Nursery): Effect.Effect<void> =>
  Effect.suspend(() => {
    const core = toCore(self)
    const entry = core.parentEntry
    if (entry === undefined) return core.close
    entry.nursery.beginStop(entry)
    return Effect.andThen(entry.left, core.closed)
  })

/**
 * Takes a child out of supervision: interrupts its current incarnation, waits for it to exit, and never
 * restarts it.
 *
 * **When to use**
 *
 * Use to stop one actor or worker while its nursery goes on.
 *
 * **Details**
 *
 * Returns the exit of the child's last incarnation. A stop is not a failure: it triggers no strategy and
 * counts toward no intensity. Stopping a child that already left returns its last exit at once.
 *
 * **Example** (Stopping a server)
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     const server = yield* Nursery.start(n, Effect.never, { restart: "permanent" })
 *     return yield* Nursery.stop(server)
 *   }))
 * Effect.runPromise(program).then((exit) => console.log(Exit.hasInterrupts(exit))) // true
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const stop = <A, E>(child: Child<A, E>): Effect.Effect<Exit.Exit<A, E>> =>
  Effect.suspend(() => {
    const entry = toEntry(child)
    entry.nursery.beginStop(entry)
    return entry.left as Effect.Effect<Exit.Exit<A, E>>
  })

/**
 * Takes a snapshot of the children a nursery supervises, in start order.
 *
 * **When to use**
 *
 * Use in tests and tracing to see which children are alive and how often each was restarted.
 *
 * **Details**
 *
 * Includes children waiting to be restarted (`status: "restarting"`) and nested nurseries
 * (`kind: "nursery"`); children that left the nursery are not listed.
 *
 * **Example** (Counting restarts)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(n, Effect.never)
 *     const restarts = (yield* Nursery.children(n)).map((info) => info.restarts)
 *     yield* Nursery.close(n)
 *     return restarts
 *   }))
 * Effect.runPromise(program).then(console.log) // [0]
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const children = (self: Nursery): Effect.Effect<ReadonlyArray<ChildInfo>> =>
  Effect.sync(() =>
    toCore(self).entries.map((entry): ChildInfo => ({
      id: entry.id,
      name: entry.name,
      kind: entry.kind,
      restart: entry.restart,
      restarts: entry.restarts,
      alive: entry.status !== "waiting",
      status: entry.status === "waiting" ? "restarting" : entry.status
    }))
  )

/**
 * Counts the children a nursery supervises, the quantity the width cap bounds.
 *
 * **When to use**
 *
 * Use to check load against `maxChildren`, or in tests.
 *
 * **Details**
 *
 * Counts live children, children waiting to be restarted and nested nurseries.
 *
 * **Example** (Reading the size)
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Nursery from "@handoffkit/core/Nursery"
 *
 * const program = Nursery.run({}, (n) =>
 *   Effect.gen(function*() {
 *     yield* Nursery.start(n, Effect.never)
 *     const size = yield* Nursery.size(n)
 *     yield* Nursery.close(n)
 *     return size
 *   }))
 * Effect.runPromise(program).then(console.log) // 1
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const size = (self: Nursery): Effect.Effect<number> => Effect.sync(() => toCore(self).entries.length)
