/**
 * A `Broker` fans messages out by topic: a publisher names a topic, and every current subscriber to it gets
 * its own copy, in its own bounded mailbox. Its guarantee: one slow subscriber never holds up the publisher or
 * the others. A publish never waits; a subscriber whose queue is full loses the copy to the dead letters (or
 * gives up its oldest one), and every copy is either delivered into its mailbox or dead-lettered, traced
 * either way.
 *
 * **When to use**
 *
 * For one-to-many news between agents that should not know about each other: "a review was filed", "the
 * build went red". For work that exactly one agent must take, send to an actor or a queue mailbox instead; for
 * a task changing hands, use a `Handoff`.
 *
 * **Details**
 *
 * - Topics are dot-separated names (`reviews.new`). A subscription's pattern may use `*` for one segment
 *   (`reviews.*`) and `>` as its last segment for one or more (`reviews.>`).
 * - Subscriptions are scoped: closing the Scope unsubscribes, and what the subscriber had not taken yet is
 *   dead-lettered with reason `"closed"`.
 * - A subscription exposes its `Mailbox`, so a subscriber takes with `Mailbox.take` or waits on it among other
 *   events with `Select.receive`.
 * - Every message is an `Envelope` addressed to the topic, one per publish, shared by all its subscribers:
 *   `from` is `"external"`, or the actor's address with `publishFrom`.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Schema, type Scope } from "effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type { ActorContext } from "./Actor.ts"
import type { Address, Envelope } from "./Envelope.ts"
import { external } from "./Envelope.ts"
import * as internal from "./internal/broker.ts"
import * as options_ from "./internal/options.ts"
import type * as Mailbox from "./Mailbox.ts"
import { CurrentTracer } from "./Tracer.ts"

/**
 * The brand carried by every `Broker`; test for it with `isBroker`.
 *
 * **Example**
 *
 * ```ts
 * import { Broker } from "@handoffkit/core"
 *
 * console.log(Broker.TypeId) // "~handoffkit/Broker"
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
export type TypeId = "~handoffkit/Broker"

/**
 * The brand carried by every `Subscription`; test for it with `isSubscription`.
 *
 * **Example**
 *
 * ```ts
 * import { Broker } from "@handoffkit/core"
 *
 * console.log(Broker.SubscriptionTypeId) // "~handoffkit/Broker/Subscription"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const SubscriptionTypeId: SubscriptionTypeId = internal.SubscriptionTypeId

/**
 * @category type ids
 * @since 0.1.0
 */
export type SubscriptionTypeId = "~handoffkit/Broker/Subscription"

/**
 * A set of topics whose messages are payloads of type `A` (use a union for topics that carry different
 * messages).
 *
 * **Details**
 *
 * The broker holds only its subscription table: it owns no fiber and needs no Scope. The tracer in scope at
 * `make` is the one it writes to.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker } from "@handoffkit/core"
 *
 * type News = { readonly _tag: "Filed"; readonly file: string } | { readonly _tag: "Red"; readonly job: string }
 * const program = Effect.gen(function*() {
 *   const broker: Broker.Broker<News> = yield* Broker.make<News>()
 *   return yield* Broker.publish(broker, "builds.red", { _tag: "Red", job: "lint" })
 * })
 * console.log(Effect.runSync(program)) // 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Broker<in out A = unknown> extends Pipeable {
  readonly [TypeId]: TypeId
  /** @internal phantom */
  readonly "~A"?: (a: A) => A
}

/**
 * What a full subscriber queue does with one more copy. Neither policy ever makes the publisher wait.
 *
 * - `"dead-letter"`: the new copy goes to the dead letters with reason `"overflow"`; the queue keeps the
 *   oldest messages. The default: the subscriber sees a prefix of what was published, with no gaps in it.
 * - `"drop-oldest"`: the oldest queued copy goes to the dead letters with reason `"overflow"` and the new one
 *   is queued: the subscriber sees the latest news (a status feed).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker, Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<number>()
 *   const prefix = yield* Broker.subscribe(broker, "progress", { capacity: 2, overflow: "dead-letter" })
 *   const latest = yield* Broker.subscribe(broker, "progress", { capacity: 2, overflow: "drop-oldest" })
 *   for (const percent of [25, 50, 75, 100]) yield* Broker.publish(broker, "progress", percent)
 *   const first = yield* Mailbox.take(prefix.mailbox)
 *   const last = yield* Mailbox.take(latest.mailbox)
 *   return [first.payload, last.payload]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [25, 75]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Overflow = "dead-letter" | "drop-oldest"

/**
 * One subscriber's view of the topics matching its pattern: a bounded mailbox the broker offers copies to.
 *
 * **Details**
 *
 * Take messages from `mailbox` (`Mailbox.take`, `Select.receive`). It stays subscribed until its Scope
 * closes; then its mailbox is shut down (a waiting `take` fails with `MailboxClosed`) and what it held is
 * dead-lettered with reason `"closed"`. Closing the mailbox yourself also ends the subscription: the next
 * publish that reaches it dead-letters its copy (reason `"closed"`) and removes it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker, Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<string>()
 *   const subscription = yield* Broker.subscribe(broker, "reviews.*", { capacity: 8, address: "auditor" })
 *   yield* Broker.publish(broker, "reviews.new", "PR 12")
 *   const message = yield* Mailbox.take(subscription.mailbox)
 *   return [subscription.address, message.to, message.payload]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // ["auditor", "reviews.new", "PR 12"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Subscription<in out A> {
  readonly [SubscriptionTypeId]: SubscriptionTypeId
  /** The topic or pattern subscribed to. */
  readonly topic: string
  /** The subscriber's address: the mailbox's address, the `actor` of its trace events and dead letters. */
  readonly address: Address
  readonly capacity: number
  readonly overflow: Overflow
  readonly mailbox: Mailbox.Mailbox<Envelope<A>>
}

/**
 * Options of `subscribe`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker } from "@handoffkit/core"
 *
 * const options: Broker.SubscribeOptions = { capacity: 16, overflow: "drop-oldest", address: "dashboard" }
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<string>()
 *   const subscription = yield* Broker.subscribe(broker, "builds.>", options)
 *   return [subscription.address, subscription.capacity, subscription.overflow]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // ["dashboard", 16, "drop-oldest"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SubscribeOptions {
  /** The subscriber's queue size, a positive integer; default 64. */
  readonly capacity?: number | undefined
  /** What a full queue does; default `"dead-letter"`. */
  readonly overflow?: Overflow | undefined
  /** The subscriber's address (an actor passes its own); default `<pattern>/subscriber-<n>`. */
  readonly address?: Address | undefined
}

/**
 * Options of `publish` and `publishFrom`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker, Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<string>()
 *   const votes = yield* Broker.subscribe(broker, "votes")
 *   yield* Broker.publish(broker, "votes", "approve", { correlationId: "round-3" })
 *   return (yield* Mailbox.take(votes.mailbox)).correlationId
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // "round-3"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface PublishOptions {
  /** Set as the envelope's `correlationId`, to group related messages. */
  readonly correlationId?: string | undefined
}

/**
 * A topic or subscription pattern that names nothing: empty, an empty segment (`"a..b"`), a wildcard in a
 * published topic, or a wildcard that is not a whole segment.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make()
 *   return yield* Broker.publish(broker, "reviews.*", "?").pipe(Effect.flip)
 * })
 * console.log(Effect.runSync(program).message)
 * // invalid topic "reviews.*": "*" is a wildcard, for subscriptions only: publish to a concrete topic
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidTopic extends Schema.TaggedError<InvalidTopic>()("InvalidTopic", {
  topic: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `invalid topic "${this.topic}": ${this.problem}`
  }
}

/**
 * Subscription options that make no subscription: a capacity that is not a positive integer, an unknown
 * overflow policy, an empty address.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make()
 *   return yield* Broker.subscribe(broker, "reviews", { capacity: 0, address: "auditor" }).pipe(Effect.flip)
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program).message)
 * // invalid subscription of "auditor" to "reviews": capacity 0 is not a positive integer
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidSubscription extends Schema.TaggedError<InvalidSubscription>()("InvalidSubscription", {
  topic: Schema.String,
  address: Schema.String,
  option: Schema.optionalKey(Schema.String),
  value: Schema.optionalKey(Schema.String),
  problem: Schema.String
}) {
  override get message() {
    return `invalid subscription of "${this.address}" to "${this.topic}": ${this.problem}`
  }
}

/**
 * Tells whether a value is a `Broker`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker } from "@handoffkit/core"
 *
 * console.log(Broker.isBroker(Effect.runSync(Broker.make())), Broker.isBroker("news")) // true false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isBroker = (u: unknown): u is Broker<unknown> => hasProperty(u, TypeId)

/**
 * Tells whether a value is a `Subscription`.
 *
 * **Example**
 *
 * ```ts
 * import { Broker } from "@handoffkit/core"
 *
 * console.log(Broker.isSubscription({ topic: "news" })) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isSubscription = (u: unknown): u is Subscription<unknown> => hasProperty(u, SubscriptionTypeId)

/**
 * Makes a broker with no subscriptions.
 *
 * **When to use**
 *
 * Once per group of agents that share news; hand it to them like any other value.
 *
 * **Details**
 *
 * Captures the tracer in scope (`Tracer.CurrentTracer`): provide it before `make` for the broker's events to
 * be traced.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker, Tracer } from "@handoffkit/core"
 *
 * const trace = Tracer.memory()
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<string>()
 *   yield* Broker.publish(broker, "builds.red", "lint failed")
 * }).pipe(Effect.provideService(Tracer.CurrentTracer, trace.tracer))
 * Effect.runSync(program)
 * console.log(trace.events.map((event) => event.kind)) // ["broker.publish"]
 * ```
 *
 * @see {@link subscribe} {@link publish}
 * @category constructors
 * @since 0.1.0
 */
export const make = <A = unknown>(): Effect.Effect<Broker<A>> =>
  Effect.withFiber((fiber) => Effect.succeed(internal.makeUnsafe<A>(fiber.getRef(CurrentTracer))))

/**
 * The Schema every {@link SubscribeOptions} value is decoded with before a subscription is made.
 *
 * **When to use**
 *
 * To check subscription options read from outside the program.
 *
 * **Details**
 *
 * `capacity` is a positive integer (a subscriber's queue is always bounded), `overflow` one of
 * `"dead-letter"`, `"drop-oldest"`, `address` a non-empty string. {@link subscribe} fails with
 * {@link InvalidSubscription} naming the option and the value otherwise.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Broker } from "@handoffkit/core"
 *
 * const valid = Schema.is(Broker.SubscribeOptionsSchema)
 * console.log(valid({ capacity: 8 }), valid({ capacity: Infinity })) // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const SubscribeOptionsSchema = Schema.Struct({
  capacity: options_.optional(options_.PositiveInt),
  overflow: options_.optional(Schema.Literals(["dead-letter", "drop-oldest"])),
  address: options_.optional(options_.Name)
})

/**
 * Subscribes to a topic, or to every topic a pattern matches, for as long as the Scope is open.
 *
 * **When to use**
 *
 * In the scope of whoever consumes the news (an actor's scope, a `Nursery` child): the subscription cannot
 * outlive it.
 *
 * **Details**
 *
 * Takes effect at once: every publish that happens after `subscribe` completes offers this subscriber a copy.
 * The subscription gets its own mailbox of `capacity` (default 64), whose overflow policy decides what a full
 * queue does (`"dead-letter"` by default; see `Overflow`). When the Scope closes, the subscription is removed
 * and its mailbox shut down in one step: publishes no longer reach it, a fiber waiting on it fails with
 * `MailboxClosed`, and what it held goes to the dead letters (the `DeadLetter.DeadLetters` sink in scope at
 * `subscribe`) with reason `"closed"`. Fails with `InvalidTopic` for a malformed pattern and with
 * `InvalidSubscription` for malformed options.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker, Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<string>()
 *   const all = yield* Broker.subscribe(broker, "reviews.>")
 *   const filed = yield* broker.pipe(Broker.subscribe("reviews.filed"))
 *   yield* Broker.publish(broker, "reviews.filed", "PR 7")
 *   yield* Broker.publish(broker, "reviews.merged.main", "PR 6")
 *   return [yield* Mailbox.size(all.mailbox), yield* Mailbox.size(filed.mailbox)]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [2, 1]
 * ```
 *
 * @see {@link publish} {@link Subscription}
 * @category subscribing
 * @since 0.1.0
 */
export const subscribe: {
  (
    topic: string,
    options?: SubscribeOptions
  ): <A>(self: Broker<A>) => Effect.Effect<Subscription<A>, InvalidTopic | InvalidSubscription, Scope.Scope>
  <A>(
    self: Broker<A>,
    topic: string,
    options?: SubscribeOptions
  ): Effect.Effect<Subscription<A>, InvalidTopic | InvalidSubscription, Scope.Scope>
} = dual(
  (args) => isBroker(args[0]),
  <A>(
    self: Broker<A>,
    topic: string,
    options?: SubscribeOptions
  ): Effect.Effect<Subscription<A>, InvalidTopic | InvalidSubscription, Scope.Scope> =>
    Effect.suspend((): Effect.Effect<Subscription<A>, InvalidTopic | InvalidSubscription, Scope.Scope> => {
      const badTopic = internal.topicProblem(topic, true)
      if (badTopic !== undefined)
        return Effect.fail(new InvalidTopic({ topic: String(topic), problem: badTopic }))
      const problem = options_.check(SubscribeOptionsSchema, options ?? {})
      const capacity = options?.capacity ?? 64
      const overflow = options?.overflow ?? "dead-letter"
      const address =
        options?.address === undefined || problem !== undefined
          ? internal.nextAddress(self, topic)
          : options.address
      if (problem !== undefined)
        return Effect.fail(
          new InvalidSubscription({
            topic,
            address: typeof options?.address === "string" ? options.address : String(address),
            option: problem.option,
            value: problem.value,
            problem: `${problem.option} ${problem.value} is not ${options_.expected(problem)}`
          })
        )
      return internal.subscribe(self, topic, address, capacity, overflow)
    })
)

const publishWith = <A>(
  self: Broker<A>,
  topic: string,
  payload: A,
  from: Address,
  causationId: string | undefined,
  options: PublishOptions | undefined
): Effect.Effect<number, InvalidTopic> =>
  Effect.withFiber((fiber) => {
    const problem = internal.topicProblem(topic, false)
    if (problem !== undefined) return Effect.fail(new InvalidTopic({ topic: String(topic), problem }))
    const sentAt = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    return Effect.succeed(
      internal.publishUnsafe(self, topic, payload, from, causationId, options?.correlationId, sentAt)
    )
  })

/**
 * Publishes a message to every current subscriber of `topic`, without waiting on any of them, from outside
 * any actor (`from` is `"external"`).
 *
 * **When to use**
 *
 * From tests, handlers, the CLI. Inside an actor's behavior use `publishFrom`, which stamps the actor's
 * address and the causation.
 *
 * **Details**
 *
 * One synchronous step: one envelope (`to` is the topic) is offered to each matching subscription's mailbox
 * with a non-blocking offer, so publish never waits and never fails because of a subscriber. A full queue
 * dead-letters a copy by its overflow policy. Returns the number of subscribers whose queue accepted the
 * message (0 when nobody is subscribed: the message is not a dead letter then, as nobody asked for it). Every
 * subscriber sees publishes in the order they happened. Fails with `InvalidTopic` for an empty topic, an
 * empty segment or a wildcard. Traced as one `broker.publish` event (`data`: `topic`, `subscribers`), then
 * per subscriber `broker.deliver`, or `broker.overflow` followed by the `dead-letter` of the copy given up.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Broker, DeadLetter } from "@handoffkit/core"
 *
 * const sink = DeadLetter.collect()
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<number>()
 *   yield* Broker.subscribe(broker, "ticks", { capacity: 1, address: "slow" }) // never takes
 *   yield* Broker.subscribe(broker, "ticks", { capacity: 8, address: "fast" })
 *   const first = yield* Broker.publish(broker, "ticks", 1)
 *   const second = yield* broker.pipe(Broker.publish("ticks", 2))
 *   return [first, second]
 * }).pipe(Effect.scoped, Effect.provideService(DeadLetter.DeadLetters, sink))
 * console.log(Effect.runSync(program)) // [2, 1]
 * // Closing the scope unsubscribes the last subscription first.
 * console.log(sink.letters.map((letter) => `${letter.mailbox} ${letter.reason}`))
 * // ["slow overflow", "fast closed", "fast closed", "slow closed"]
 * ```
 *
 * @see {@link publishFrom} {@link subscribe}
 * @category publishing
 * @since 0.1.0
 */
export const publish: {
  <A>(
    topic: string,
    payload: A,
    options?: PublishOptions
  ): (self: Broker<A>) => Effect.Effect<number, InvalidTopic>
  <A>(
    self: Broker<A>,
    topic: string,
    payload: A,
    options?: PublishOptions
  ): Effect.Effect<number, InvalidTopic>
} = dual(
  (args) => isBroker(args[0]),
  <A>(self: Broker<A>, topic: string, payload: A, options?: PublishOptions) =>
    publishWith(self, topic, payload, external, undefined, options)
)

/**
 * Publishes from inside an actor's behavior: the envelope's `from` is the actor's address and its
 * `causationId` the id of the message being handled.
 *
 * **When to use**
 *
 * Whenever an actor announces something, so the trace links the news to the message that caused it.
 *
 * **Details**
 *
 * As `publish` otherwise: never waits, returns the number of subscribers that accepted a copy, fails with
 * `InvalidTopic`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Broker, Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const broker = yield* Broker.make<string>()
 *   const news = yield* Broker.subscribe(broker, "reviews.filed")
 *   const reviewer = yield* Actor.make<string>("reviewer", (message, context) =>
 *     Effect.asVoid(Broker.publishFrom(context, broker, "reviews.filed", `reviewed ${message.payload}`))
 *   )
 *   yield* Actor.send(reviewer, "PR 9")
 *   const filed = yield* Mailbox.take(news.mailbox)
 *   return [filed.from, filed.payload]
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // ["reviewer", "reviewed PR 9"]
 * ```
 *
 * @see {@link publish}
 * @category publishing
 * @since 0.1.0
 */
export const publishFrom = <A, In, Reply>(
  context: ActorContext<In, Reply>,
  self: Broker<A>,
  topic: string,
  payload: A,
  options?: PublishOptions
): Effect.Effect<number, InvalidTopic> =>
  publishWith(self, topic, payload, context.self.address, context.message.id, options)
