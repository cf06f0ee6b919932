/**
 * The broker machinery: a table of subscriptions by topic, and a publish that delivers to each of them with
 * one non-blocking offer.
 *
 * Invariants (each kept by the function that mutates the field it names):
 * 1. A publish is one synchronous step: it finds the subscriptions, makes the envelope and offers a copy to
 *    each with no yield in between, so it never waits on a subscriber and every subscriber sees publishes in
 *    the order they happened.
 * 2. A subscription is in the table exactly while it is active. `unsubscribe` removes it and shuts its mailbox
 *    down in one step, so no publish can reach a mailbox that is about to be shut down, and what it still
 *    holds goes to the dead letters with reason `"closed"`.
 * 3. Each copy offered is accepted into the subscriber's mailbox or dead-lettered (reason `"overflow"`, or
 *    `"closed"` when the subscriber closed its own mailbox); under `"drop-oldest"` the copy dead-lettered is
 *    the oldest queued one. Every copy dead-lettered goes through the subscription's sink, which traces it.
 * @internal
 */
import { Effect, Scope } from "effect"
import { pipeArguments } from "effect/Pipeable"
import type { Broker, Overflow, Subscription } from "../Broker.ts"
import type * as DeadLetter from "../DeadLetter.ts"
import { DeadLetters } from "../DeadLetter.ts"
import type { Address, Envelope } from "../Envelope.ts"
import * as Mailbox from "../Mailbox.ts"
import type * as Tracer from "../Tracer.ts"
import * as envelope from "./envelope.ts"
import * as mailbox from "./mailbox.ts"
import { emitMessage, tracedSink } from "./trace.ts"

/** @internal */
export const TypeId = "~handoffkit/Broker" as const

/** @internal */
export const SubscriptionTypeId = "~handoffkit/Broker/Subscription" as const

/** @internal */
export interface BrokerImpl<A> extends Broker<A> {
  readonly tracer: Tracer.Tracer
  /** Subscriptions to a concrete topic, by topic: a publish finds them with one lookup. */
  readonly exact: Map<string, Set<SubscriptionImpl<A>>>
  /** Subscriptions with a wildcard, matched segment by segment on each publish. */
  readonly wildcard: Set<SubscriptionImpl<A>>
  /** Active subscriptions. */
  subscribers: number
  /** The last number used in a default subscriber address. */
  lastAddress: number
}

/** @internal */
export interface SubscriptionImpl<A> extends Subscription<A> {
  readonly broker: BrokerImpl<A>
  /** The pattern's segments when it has a wildcard, else undefined. */
  readonly segments: ReadonlyArray<string> | undefined
  /** Where this subscription's dead letters go: the sink in scope at subscribe, plus the trace. */
  readonly sink: DeadLetter.Sink
  active: boolean
}

const BrokerProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toString(this: BrokerImpl<unknown>) {
    return `Broker(${this.subscribers} subscriptions)`
  },
  toJSON(this: BrokerImpl<unknown>) {
    return { _id: "Broker", topics: Array.from(this.exact.keys()), subscriptions: this.subscribers }
  }
}

const SubscriptionProto = {
  [SubscriptionTypeId]: SubscriptionTypeId,
  toString(this: SubscriptionImpl<unknown>) {
    return `Subscription(${this.address} to ${this.topic})`
  },
  toJSON(this: SubscriptionImpl<unknown>) {
    return {
      _id: "Subscription",
      topic: this.topic,
      address: this.address,
      capacity: this.capacity,
      overflow: this.overflow,
      active: this.active
    }
  }
}

/** @internal */
export const makeUnsafe = <A>(tracer: Tracer.Tracer): Broker<A> => {
  const self: BrokerImpl<A> = Object.create(BrokerProto)
  Object.assign(self, { tracer, exact: new Map(), wildcard: new Set(), subscribers: 0, lastAddress: 0 })
  return self
}

/** @internal */
export const impl = <A>(self: Broker<A>): BrokerImpl<A> => self as BrokerImpl<A>

// -----------------------------------------------------------------------------
// topics
// -----------------------------------------------------------------------------

/**
 * What is wrong with a topic (or, with `wildcards`, a subscription pattern), or undefined if nothing is.
 * A topic is dot-separated non-empty segments; `*` (one segment) and `>` (one or more trailing segments) are
 * whole segments of a pattern only. A character scan, so the publish path allocates nothing to validate.
 * @internal
 */
export const topicProblem = (topic: string, wildcards: boolean): string | undefined => {
  if (typeof topic !== "string") return "a topic is a string"
  if (topic.length === 0) return "a topic is a non-empty string"
  let start = 0
  for (let i = 0; i <= topic.length; i++) {
    if (i < topic.length && topic.charCodeAt(i) !== 46 /* . */) continue
    const length = i - start
    if (length === 0)
      return `segment ${countSegments(topic, start)} is empty (segments are separated by single dots)`
    for (let j = start; j < i; j++) {
      const c = topic[j]
      if (c !== "*" && c !== ">") continue
      if (!wildcards) return `"${c}" is a wildcard, for subscriptions only: publish to a concrete topic`
      if (length !== 1) return `a wildcard stands for whole segments, not part of "${topic.slice(start, i)}"`
      if (c === ">" && i !== topic.length)
        return `">" matches the rest of a topic, so it must be the last segment`
    }
    start = i + 1
  }
  return undefined
}

const countSegments = (topic: string, before: number): number => {
  let n = 1
  for (let i = 0; i < before; i++) if (topic.charCodeAt(i) === 46) n++
  return n
}

/** The pattern's segments if it has a wildcard, else undefined (an exact subscription). @internal */
export const wildcardSegments = (pattern: string): ReadonlyArray<string> | undefined => {
  const segments = pattern.split(".")
  return segments.some((s) => s === "*" || s === ">") ? segments : undefined
}

/** Whether a wildcard pattern matches a topic, both split into segments. @internal */
export const matches = (pattern: ReadonlyArray<string>, topic: ReadonlyArray<string>): boolean => {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]
    if (p === ">") return topic.length > i
    if (i >= topic.length || (p !== "*" && p !== topic[i])) return false
  }
  return pattern.length === topic.length
}

// -----------------------------------------------------------------------------
// tracing
// -----------------------------------------------------------------------------

/** The subscription's dead-letter sink: traced with the envelope's ids and its topic, then the sink in scope. */
const subscriptionSink = (sink: DeadLetter.Sink, tracer: Tracer.Tracer, address: Address): DeadLetter.Sink =>
  tracedSink(sink, tracer, address, (env) => ({ topic: env.to }))

// -----------------------------------------------------------------------------
// subscribing
// -----------------------------------------------------------------------------

/** A fresh subscriber address when none is given: the pattern and a number unique in this broker. @internal */
export const nextAddress = <A>(self: Broker<A>, pattern: string): string => {
  const broker = impl(self)
  return `${pattern}/subscriber-${++broker.lastAddress}`
}

/**
 * Makes the subscription's mailbox and puts it in the table, with a finalizer on the Scope that takes it out.
 * The options must have been validated.
 * @internal
 */
export const subscribe = <A>(
  self: Broker<A>,
  topic: string,
  address: Address,
  capacity: number,
  overflow: Overflow
): Effect.Effect<Subscription<A>, never, Scope.Scope> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      const scope = yield* Scope.Scope
      const sink = subscriptionSink(yield* DeadLetters, impl(self).tracer, address)
      // The mailbox's own policy is "dead-letter" under both broker policies: it never blocks an offer, and the
      // copies it gives up on go to the subscription's traced sink. The options were checked, so `make` cannot fail.
      const inbox = yield* Mailbox.make<Envelope<A>>({ capacity, overflow: "dead-letter", address }).pipe(
        Effect.provideService(DeadLetters, sink),
        Effect.orDie
      )
      const subscription: SubscriptionImpl<A> = Object.create(SubscriptionProto)
      Object.assign(subscription, {
        broker: impl(self),
        topic,
        address,
        capacity,
        overflow,
        mailbox: inbox,
        segments: wildcardSegments(topic),
        sink,
        active: false
      })
      // Added, then the finalizer registered, with no interruption in between: a subscription is never left in
      // the table without a way out (a Scope already closed runs the finalizer at once).
      addUnsafe(subscription)
      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => unsubscribeUnsafe(subscription))
      )
      return subscription as Subscription<A>
    })
  )

/** Puts the subscription in the table: from now on every matching publish offers it a copy. @internal */
const addUnsafe = <A>(subscription: SubscriptionImpl<A>): void => {
  const broker = subscription.broker
  if (subscription.segments !== undefined) broker.wildcard.add(subscription)
  else {
    let set = broker.exact.get(subscription.topic)
    if (set === undefined) broker.exact.set(subscription.topic, (set = new Set()))
    set.add(subscription)
  }
  subscription.active = true
  broker.subscribers++
}

const removeUnsafe = <A>(subscription: SubscriptionImpl<A>): boolean => {
  if (!subscription.active) return false
  subscription.active = false
  const broker = subscription.broker
  broker.subscribers--
  if (subscription.segments !== undefined) broker.wildcard.delete(subscription)
  else {
    const set = broker.exact.get(subscription.topic)
    if (set !== undefined) {
      set.delete(subscription)
      // Drop the empty set so topics that had subscribers once do not accumulate.
      if (set.size === 0) broker.exact.delete(subscription.topic)
    }
  }
  return true
}

/**
 * Removes the subscription and shuts its mailbox down in one step (invariant 2): what is still queued is
 * dead-lettered with reason `"closed"`. Idempotent. Returns the number of messages dead-lettered.
 * @internal
 */
export const unsubscribeUnsafe = <A>(subscription: SubscriptionImpl<A>): number => {
  removeUnsafe(subscription)
  return mailbox.shutdownUnsafe(subscription.mailbox, "unsubscribed", "closed")
}

// -----------------------------------------------------------------------------
// publishing
// -----------------------------------------------------------------------------

/**
 * Publishes synchronously (invariant 1) and returns the number of subscribers whose mailbox accepted a copy.
 * The topic must have been validated.
 * @internal
 */
export const publishUnsafe = <A>(
  self: Broker<A>,
  topic: string,
  payload: A,
  from: Address,
  causationId: string | undefined,
  correlationId: string | undefined,
  sentAt: number
): number => {
  const broker = impl(self)
  const exact = broker.exact.get(topic)
  let targets: Array<SubscriptionImpl<A>> | undefined
  if (broker.wildcard.size > 0) {
    const segments = topic.split(".")
    for (const subscription of broker.wildcard) {
      if (matches(subscription.segments!, segments)) (targets ??= []).push(subscription)
    }
  }
  const env = envelope.make(from, topic, payload, sentAt, causationId, correlationId)
  const tracer = broker.tracer
  if (tracer.enabled) {
    emitMessage(
      tracer,
      "broker.publish",
      from,
      undefined,
      env,
      { topic, subscribers: (exact?.size ?? 0) + (targets?.length ?? 0) },
      sentAt
    )
  }
  let delivered = 0
  // Deleting from a Set while iterating it is safe in JS: `deliver` may prune a subscriber that closed its mailbox.
  if (exact !== undefined)
    for (const subscription of exact) if (deliver(subscription, env, sentAt)) delivered++
  if (targets !== undefined)
    for (const subscription of targets) if (deliver(subscription, env, sentAt)) delivered++
  return delivered
}

/**
 * Offers one copy without waiting (invariant 3): `true` when the subscriber's mailbox accepted it.
 */
const deliver = <A>(subscription: SubscriptionImpl<A>, env: Envelope<A>, ts: number): boolean => {
  const inbox = subscription.mailbox
  const tracer = subscription.broker.tracer
  const mb = mailbox.impl(inbox)
  if (mb.closedReason !== undefined) {
    // The subscriber closed its own mailbox: it wants nothing more. The copy is not silently dropped, and the
    // subscription leaves the table so later publishes do not count it.
    removeUnsafe(subscription)
    subscription.sink.publish({ mailbox: subscription.address, message: env, reason: "closed" })
    return false
  }
  if (mailbox.sizeUnsafe(inbox) >= subscription.capacity) {
    if (subscription.overflow === "dead-letter") {
      if (tracer.enabled) overflowEvent(subscription, env, ts)
      // The mailbox's own overflow policy is "dead-letter": the offer hands the copy to the subscription's sink.
      mailbox.offerUnsafe(inbox, env)
      return false
    }
    // "drop-oldest": make room by giving up on the oldest queued copy.
    const oldest = mailbox.pollUnsafe(inbox)
    if (oldest !== mailbox.Empty) {
      if (tracer.enabled) overflowEvent(subscription, oldest, ts)
      subscription.sink.publish({ mailbox: subscription.address, message: oldest, reason: "overflow" })
    }
  }
  if (mailbox.offerUnsafe(inbox, env) !== "accepted") return false
  if (tracer.enabled) {
    emitMessage(tracer, "broker.deliver", subscription.address, env.from, env, { topic: env.to }, ts)
  }
  return true
}

const overflowEvent = <A>(subscription: SubscriptionImpl<A>, env: Envelope<A>, ts: number): void =>
  emitMessage(
    subscription.broker.tracer,
    "broker.overflow",
    subscription.address,
    env.from,
    env,
    { topic: env.to, policy: subscription.overflow, capacity: subscription.capacity },
    ts
  )
