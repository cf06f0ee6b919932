/**
 * An `Actor` is one agent: private state, one addressable mailbox, and a single fiber that handles one
 * message at a time. Its guarantee: messages are handled one at a time in arrival order, and every message
 * sent to it is either handled or dead-lettered with a reason when the actor stops.
 *
 * **When to use**
 *
 * For anything that owns state and reacts to messages: an LLM agent, a reviewer, a merge queue. Actors
 * coordinate only by messages (`send`, `ask`, handoffs); they never share a scratchpad.
 *
 * **Details**
 *
 * - `from` is stamped by the runtime: inside a behavior, `context.send` stamps the actor's own address;
 *   outside any actor, `Actor.send` stamps `"external"`. No API takes a `from`, so it cannot be spoofed.
 * - `causationId` is set to the message being handled, so the trace is a causal graph.
 * - An actor lives in a Scope: closing it interrupts the actor, dead-letters what its mailbox still holds,
 *   tells pending askers no reply is coming, and frees its address.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type { Address, Envelope } from "./Envelope.ts"
import { external } from "./Envelope.ts"
import * as internal from "./internal/actor.ts"
import * as options_ from "./internal/options.ts"
import * as NurseryModule from "./internal/nursery.ts"
import type { MailboxInvalid, Overflow } from "./Mailbox.ts"
import type * as Nursery from "./Nursery.ts"
import {
  type AddressTaken,
  type DeliveryError,
  type NoSuchAddress,
  Registry,
  layer as registryLayer
} from "./Registry.ts"

/**
 * The brand carried by every `ActorRef`; test for it with `isActorRef`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Actor } from "@handoffkit/core"
 *
 * console.log(Actor.TypeId) // "~handoffkit/ActorRef"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = internal.TypeId

/**
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = "~handoffkit/ActorRef"

/**
 * A typed handle to an actor: it accepts messages of type `In` and answers asks with `Reply`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const ref: Actor.ActorRef<string> = yield* Actor.make("logger", (m) => Effect.log(m.payload))
 *   return ref.address
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "logger"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ActorRef<in In, out Reply = never> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly address: Address
  /** @internal phantom */
  readonly "~In"?: (_: In) => void
  /** @internal phantom */
  readonly "~Reply"?: () => Reply
}

/**
 * What a behavior can do while handling a message: who it is, what it is handling, and how to speak.
 *
 * **Details**
 *
 * Every send from a context is stamped with the actor's address as `from` and the handled message's id as
 * `causationId`. `reply` answers the handled message if it was an `ask` (once; later calls do nothing); a
 * behavior that returns without replying to an ask fails the asker with `NoReply` at once.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const whoami = yield* Actor.make<string, string>("whoami", (message, context) =>
 *     context.reply(`${context.self.address} got ${message.payload} from ${context.message.from}`)
 *   )
 *   return yield* Actor.ask(whoami, "hi")
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "whoami got hi from external"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ActorContext<In, Reply> {
  readonly self: ActorRef<In, Reply>
  readonly message: Envelope<In>
  readonly send: <I>(
    to: ActorRef<I, any>,
    payload: I,
    options?: { readonly correlationId?: string | undefined }
  ) => Effect.Effect<void, DeliveryError>
  readonly ask: <I, R>(
    to: ActorRef<I, R>,
    payload: I,
    options?: AskOptions
  ) => Effect.Effect<R, AskTimeout | NoReply | DeliveryError>
  readonly reply: (value: Reply) => Effect.Effect<void, DeliveryError>
}

/**
 * Options of `ask`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const options: Actor.AskOptions = { timeout: "5 seconds" }
 * const program = Effect.gen(function*() {
 *   const echo = yield* Actor.make<string, string>("echo", (m, context) => context.reply(m.payload))
 *   return yield* Actor.ask(echo, "ping", options)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "ping"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface AskOptions {
  /**
   * How long to wait for the reply; default 30 seconds. A value that is not a positive duration (NaN, a
   * negative number, `"soon"`) is refused: the ask fails at once with `NoReply` whose reason names the
   * option and the value, and nothing is sent.
   */
  readonly timeout?: import("effect").Duration.Input | undefined
}

/**
 * An ask that got no reply in time.
 *
 * **Example**
 *
 * ```ts
 * import { Actor } from "@handoffkit/core"
 *
 * console.log(new Actor.AskTimeout({ address: "slow", messageId: "m-1", millis: 100 }).message)
 * // no reply from "slow" to message m-1 within 100 ms
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  address: Schema.String,
  messageId: Schema.String,
  millis: Schema.Number
}) {
  override get message() {
    return `no reply from "${this.address}" to message ${this.messageId} within ${this.millis} ms`
  }
}

/**
 * An ask that will never be answered: the actor stopped, or handled the message without replying.
 *
 * **Example**
 *
 * ```ts
 * import { Actor } from "@handoffkit/core"
 *
 * console.log(new Actor.NoReply({ address: "a", messageId: "m-1", reason: "the actor stopped" }).message)
 * // no reply from "a" to message m-1: the actor stopped
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NoReply extends Schema.TaggedError<NoReply>()("NoReply", {
  address: Schema.String,
  messageId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `no reply from "${this.address}" to message ${this.messageId}: ${this.reason}`
  }
}

/**
 * An actor that cannot be started as asked: an empty or reserved address, or an option that does not decode
 * with {@link OptionsSchema} (a capacity that is not a count, an unknown overflow or restart policy, a
 * `nursery` that is not a nursery).
 *
 * **When to use**
 *
 * Catch it where addresses or options come from outside the program (a config file, a model's tool call).
 *
 * **Details**
 *
 * `option` is `"address"` or the path of the offending option, `value` the value as given (as JavaScript
 * prints it), `problem` what was expected. Nothing was registered and nothing runs.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Actor.make<string>("worker", () => Effect.void, { capacity: NaN }).pipe(
 *   Effect.flip,
 *   Effect.scoped,
 *   Effect.provide(Actor.layer)
 * )
 * Effect.runPromise(program).then((e) => console.log(e._tag, e.message))
 * // ActorInvalid actor "worker": invalid option "capacity" (NaN): Expected a non-negative integer or Infinity
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ActorInvalid extends Schema.TaggedError<ActorInvalid>()("ActorInvalid", {
  address: Schema.String,
  option: Schema.String,
  value: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `actor ${JSON.stringify(this.address)}: invalid option "${this.option}" (${this.value}): ${this.problem}`
  }
}

/**
 * The Schema every actor's {@link Options} are decoded with before it starts.
 *
 * **When to use**
 *
 * To check actor options read from outside the program before starting anything.
 *
 * **Details**
 *
 * `capacity` is a non-negative integer or `Infinity`, `overflow` one of `"suspend"`, `"fail"`,
 * `"dead-letter"`, `nursery` a `Nursery`, `restart` one of `"permanent"`, `"transient"`, `"temporary"`.
 * The address itself must be a non-empty string other than the reserved `"external"`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * console.log(Schema.is(Actor.OptionsSchema)({ capacity: 16 }), Schema.is(Actor.OptionsSchema)({ capacity: -1 }))
 * // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const OptionsSchema = Schema.Struct({
  capacity: options_.optional(options_.CountOrInfinity),
  overflow: options_.optional(Schema.Literals(["suspend", "fail", "dead-letter"])),
  nursery: options_.optional(options_.Branded<Nursery.Nursery>(NurseryModule.TypeId, "a Nursery")),
  restart: options_.optional(Schema.Literals(["permanent", "transient", "temporary"]))
})

/** The address rule shared by every actor constructor: non-empty, not blank, not the reserved sender. */
const checkAddress = (address: unknown): options_.Problem | undefined => {
  const problem = options_.check(options_.Name, address, "address")
  if (problem !== undefined) return { ...problem, option: "address" }
  if (address === external) {
    return {
      option: "address",
      value: options_.show(address),
      problem: `"${external}" is reserved for senders outside any actor`
    }
  }
  return undefined
}

const invalidActor = (address: unknown, options: unknown): ActorInvalid | undefined => {
  const problem = checkAddress(address) ?? options_.check(OptionsSchema, options ?? {})
  return problem === undefined
    ? undefined
    : new ActorInvalid({
        address: typeof address === "string" ? address : options_.show(address),
        ...problem
      })
}

/**
 * Tells whether a value is an `ActorRef`.
 *
 * **Example**
 *
 * ```ts
 * import { Actor } from "@handoffkit/core"
 *
 * console.log(Actor.isActorRef("planner")) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isActorRef = (u: unknown): u is ActorRef<unknown, unknown> => hasProperty(u, TypeId)

/**
 * Options of `make` and `stateful`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const options: Actor.Options = { capacity: 16, overflow: "fail" }
 * const program = Effect.gen(function*() {
 *   const echo = yield* Actor.make<string, string>("echo", (m, context) => context.reply(m.payload), options)
 *   return yield* Actor.ask(echo, "bounded")
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "bounded"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Mailbox capacity; default 1024. 0 makes every send a rendezvous. */
  readonly capacity?: number | undefined
  /** What a full mailbox does; default `"suspend"` (back-pressure). */
  readonly overflow?: Overflow | undefined
  /**
   * Supervise the actor: its loop runs as a child of this nursery, which restarts it by its strategy and
   * intensity. A restarted actor keeps its mailbox (queued messages survive) and starts from fresh state;
   * the message whose handling failed becomes a dead letter with reason `"failed"`.
   */
  readonly nursery?: Nursery.Nursery | undefined
  /** Restart policy under `nursery`; default `"transient"` (restarted when it fails). */
  readonly restart?: Nursery.RestartPolicy | undefined
}

/**
 * Starts an actor at `address` whose behavior handles one message at a time.
 *
 * **When to use**
 *
 * For a stateless actor, or one whose state lives in the closure. Use `stateful` to thread state explicitly.
 *
 * **Details**
 *
 * Fails with `AddressTaken` when the address is registered already. The actor runs until its Scope closes
 * or its behavior fails; then its mailbox is closed and dead-lettered. A failing behavior stops the actor
 * (run it under a `Nursery` to restart it). The behavior's error type is free: a failure is the actor's exit,
 * seen by `Actor.await`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const doubler = yield* Actor.make<number, number>("doubler", (message, context) =>
 *     context.reply(message.payload * 2)
 *   )
 *   return yield* Actor.ask(doubler, 21)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // 42
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <In, Reply = never, R = never>(
  address: Address,
  receive: (message: Envelope<In>, context: ActorContext<In, Reply>) => Effect.Effect<void, unknown, R>,
  options?: Options
): Effect.Effect<
  ActorRef<In, Reply>,
  AddressTaken | MailboxInvalid | ActorInvalid,
  Scope.Scope | Registry | R
> => spawn(address, () => receive, options)

// Both constructors: `makeReceive` is called once per incarnation (a supervised actor restarts fresh).
const spawn = <In, Reply, R>(
  address: Address,
  makeReceive: () => (
    message: Envelope<In>,
    context: ActorContext<In, Reply>
  ) => Effect.Effect<void, unknown, R>,
  options: Options | undefined
): Effect.Effect<
  ActorRef<In, Reply>,
  AddressTaken | MailboxInvalid | ActorInvalid,
  Scope.Scope | Registry | R
> => {
  const refused = invalidActor(address, options)
  if (refused !== undefined) return Effect.fail(refused)
  return internal.make({
    name: address,
    capacity: options?.capacity,
    overflow: options?.overflow,
    makeReceive,
    nursery: options?.nursery,
    restart: options?.restart
  }) as any
}

/**
 * Starts an actor with private state `S`: each message maps the state to the next one.
 *
 * **When to use**
 *
 * For an agent whose context (conversation, findings, counters) belongs to it alone.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const counter = yield* Actor.stateful<number, "inc" | "get", number>("counter", 0, (count, m, context) =>
 *     m.payload === "inc" ? Effect.succeed(count + 1) : Effect.as(context.reply(count), count)
 *   )
 *   yield* Actor.send(counter, "inc")
 *   yield* Actor.send(counter, "inc")
 *   return yield* Actor.ask(counter, "get")
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // 2
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const stateful = <S, In, Reply = never, R = never>(
  address: Address,
  initial: S,
  receive: (
    state: S,
    message: Envelope<In>,
    context: ActorContext<In, Reply>
  ) => Effect.Effect<S, unknown, R>,
  options?: Options
): Effect.Effect<
  ActorRef<In, Reply>,
  AddressTaken | MailboxInvalid | ActorInvalid,
  Scope.Scope | Registry | R
> =>
  spawn(
    address,
    // Fresh state for every incarnation: a restarted actor starts again from `initial`.
    () => {
      let state = initial
      return (message: Envelope<In>, context: ActorContext<In, Reply>) =>
        Effect.map(receive(state, message, context), (next) => {
          state = next
        })
    },
    options
  )

/**
 * Sends a message from outside any actor (its `from` is `"external"`).
 *
 * **When to use**
 *
 * From tests, HTTP handlers, the CLI. Inside a behavior use `context.send`, which stamps the actor's address
 * and the causation.
 *
 * **Details**
 *
 * Completes when the actor's mailbox accepts the message (waits under back-pressure). Fails with
 * `DeliveryError` when the actor has stopped or its mailbox is full with overflow `"fail"`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, pipe } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const notes = yield* Actor.stateful<Array<string>, string, Array<string>>("notes", [], (seen, m, context) =>
 *     m.payload === "read"
 *       ? Effect.as(context.reply(seen), seen)
 *       : Effect.succeed([...seen, `${m.from}: ${m.payload}`])
 *   )
 *   yield* Actor.send(notes, "hello")
 *   yield* pipe(notes, Actor.send("again")) // data-last
 *   return yield* Actor.ask(notes, "read") // handled after both: one at a time, in arrival order
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // ["external: hello", "external: again"]
 * ```
 *
 * @category sending
 * @since 0.1.0
 */
export const send: {
  <In>(payload: In): (ref: ActorRef<In, any>) => Effect.Effect<void, DeliveryError>
  <In>(ref: ActorRef<In, any>, payload: In): Effect.Effect<void, DeliveryError>
} = dual(2, <In>(ref: ActorRef<In, any>, payload: In) =>
  internal.sendFrom(external, undefined, ref, payload, undefined)
)

/**
 * Sends a message and waits for the reply, from outside any actor.
 *
 * **Details**
 *
 * The envelope carries a fresh `correlationId` and a `replyTo` address; the reply is routed back through the
 * Registry. Fails with `AskTimeout` when no reply arrives in time (default 30 seconds), with `NoReply` as
 * soon as it is known that none will (the actor stopped, or handled the message without replying), and with
 * `DeliveryError` when the message cannot be delivered.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const silent = yield* Actor.make<string, string>("silent", () => Effect.never)
 *   return yield* Actor.ask(silent, "anyone?", { timeout: "50 millis" }).pipe(Effect.flip)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then((error) => console.log(error._tag)) // "AskTimeout"
 * ```
 *
 * @category sending
 * @since 0.1.0
 */
export const ask: {
  <In>(
    payload: In,
    options?: AskOptions
  ): <Reply>(ref: ActorRef<In, Reply>) => Effect.Effect<Reply, AskTimeout | NoReply | DeliveryError>
  <In, Reply>(
    ref: ActorRef<In, Reply>,
    payload: In,
    options?: AskOptions
  ): Effect.Effect<Reply, AskTimeout | NoReply | DeliveryError>
} = dual(
  (args) => isActorRef(args[0]),
  <In, Reply>(ref: ActorRef<In, Reply>, payload: In, options?: AskOptions) =>
    internal.askFrom(external, undefined, ref, payload, options)
)

/**
 * Finds the actor registered at `address`.
 *
 * **When to use**
 *
 * When all you have is a name (from a model's tool call, a config file). The message type is not checked
 * at run time: state the type you expect, or validate payloads with Schema in the behavior.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* Actor.make<string, string>("inbox", (m, context) => context.reply(`got ${m.payload}`))
 *   const ref = yield* Actor.lookup<string, string>("inbox")
 *   return yield* Actor.ask(ref, "found you")
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "got found you"
 * ```
 *
 * @category lookup
 * @since 0.1.0
 */
export const lookup = <In, Reply = never>(
  address: Address
): Effect.Effect<ActorRef<In, Reply>, NoSuchAddress, Registry> =>
  Effect.gen(function* () {
    const registry = yield* Registry
    const recipient = yield* registry.lookup(address)
    const ref: internal.ActorRefImpl<In, Reply> = Object.create(internal.RefProto)
    Object.assign(ref, {
      address,
      deliver: recipient.deliver,
      registry,
      awaitExit: undefined,
      stop: undefined
    })
    return ref as ActorRef<In, Reply>
  })

/**
 * Waits until the actor has stopped and returns how it ended.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const fragile = yield* Actor.make<string>("fragile", () => Effect.fail("boom"))
 *   yield* Actor.send(fragile, "hit")
 *   return yield* Actor.await(fragile)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // Exit.fail("boom")
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
const await_ = <In, Reply>(ref: ActorRef<In, Reply>): Effect.Effect<Exit.Exit<void, unknown>> =>
  Effect.suspend(() => {
    const awaitExit = internal.impl(ref).awaitExit
    return awaitExit === undefined ? Effect.succeed(Exit.void) : awaitExit
  })
export { await_ as await }

/**
 * Stops the actor now: interrupts it, dead-letters what it still holds and frees its address.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const worker = yield* Actor.make<string>("worker", () => Effect.never)
 *   yield* Actor.stop(worker)
 *   return yield* Actor.send(worker, "too late").pipe(Effect.flip)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then((error) => console.log(error._tag)) // "DeliveryError"
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const stop = <In, Reply>(ref: ActorRef<In, Reply>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const stop = internal.impl(ref).stop
    return stop === undefined ? Effect.void : stop
  })

/**
 * Everything actors need in one process: the in-memory Registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const echo = yield* Actor.make<string, string>("echo", (m, context) => context.reply(m.payload))
 *   return yield* Actor.ask(echo, "ping")
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "ping"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Registry> = registryLayer
