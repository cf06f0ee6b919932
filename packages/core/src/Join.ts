/**
 * A `Join` gathers the parts of rounds: a round is keyed by a correlation id and takes one part per sender;
 * it completes when its parts are in (all of them, or a quorum of them) and expires when its timeout passes
 * first. Its guarantees: a round completes at most once and then accepts no more parts; a sender's second
 * part in a round is refused (`DuplicatePart`) and never counted; every round ends, completed or expired,
 * within its timeout; and closed rounds are forgotten after a while, so no memory grows with abandoned
 * rounds.
 *
 * **When to use**
 *
 * Fan-out and fan-in between agents: a planner asks three reviewers for a verdict on one change and waits
 * for all three (a join) or for the first two (a quorum, with `quorum: 2`). Use `make` with `offer` and
 * `await` between fibers, or `actor` for an actor that receives the parts as messages and acts on each
 * completed round. To race effects rather than gather messages, see `Quorum.firstK`.
 *
 * **Details**
 *
 * - A round opens when it is first touched (its first part, or an `await`) and expires `timeout` later unless
 *   complete. Time is read from Effect's `Clock`, so `TestClock` drives it in tests.
 * - A closed round (completed or expired) is remembered for `retain` (default: the timeout): parts for it
 *   then fail with `RoundClosed` and `await` returns its outcome. After that its id is forgotten, and a
 *   part that late opens a new round. The round table therefore holds only the rounds touched in the last
 *   `timeout + retain`, and `size` and `retained` fall to 0 once traffic stops.
 * - A refused part is not dead-lettered: `DeadLetter.Reason` has no reason for it. `offer` returns it to the
 *   caller as a typed error, the actor form passes it to `onReject`, and both trace it.
 * - Traced (when a tracer is provided before `make`): `join.part` per accepted part (`actor` is the sender)
 *   and per refused one (`data.rejected` names the error), `join.complete` and `join.expire` per round.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Queue, Schema, Scope } from "effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import * as Actor from "./Actor.ts"
import type { Address, Envelope } from "./Envelope.ts"
import * as internalActor from "./internal/actor.ts"
import * as internal from "./internal/join.ts"
import type { MailboxInvalid } from "./Mailbox.ts"
import type { AddressTaken, Registry } from "./Registry.ts"

/**
 * The brand carried by every `Join`; test for it with `isJoin`.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * console.log(Join.TypeId) // "~handoffkit/Join"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = "~handoffkit/Join"

/**
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = "~handoffkit/Join"

/**
 * A join: the table of its open rounds and how each round completes.
 *
 * **Details**
 *
 * - `parts`: how many senders each round expects.
 * - `quorum`: how many distinct senders' parts complete a round (`parts` unless a quorum was asked for).
 * - `senders`: the expected senders, when they were named; parts from anyone else are refused.
 * - `timeout`: how long a round may stay open.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join: Join.Join<string> = yield* Join.make<string>({ parts: 3, quorum: 2, timeout: "1 minute" })
 *   return [join.parts, join.quorum]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // [3, 2]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Join<in out A> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly parts: number
  readonly quorum: number
  readonly senders: ReadonlyArray<Address> | undefined
  readonly timeout: Duration.Duration
  /** @internal phantom */
  readonly "~A"?: (_: A) => A
}

/**
 * Options of `make`.
 *
 * **Details**
 *
 * - `parts`: the number of senders a round expects, or the list of them (then parts from anyone else fail
 *   with `UnexpectedSender`).
 * - `quorum`: complete a round at this many distinct senders' parts instead of all of them (1 to `parts`).
 * - `timeout`: how long a round may stay open, counted from when it is first touched. Finite, above zero.
 * - `retain`: how long a closed round is remembered (so late parts get `RoundClosed`); default the timeout.
 * - `name`: the join's name in traces and errors; default `"join"`.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * const options: Join.Options = { parts: ["alice", "bob"], timeout: "30 seconds", name: "review" }
 * console.log(options.name) // "review"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly parts: number | ReadonlyArray<Address>
  readonly quorum?: number | undefined
  readonly timeout: Duration.Input
  readonly retain?: Duration.Input | undefined
  readonly name?: string | undefined
}

/**
 * A part to offer when there is no envelope: its round, its sender and its value.
 *
 * **Details**
 *
 * `from` is taken on trust here. Where senders must not speak for one another, offer the `Envelope` itself
 * (its `from` is stamped by the runtime) or use `actor`.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * const part: Join.PartInput<number> = { correlationId: "round-1", from: "alice", value: 7 }
 * console.log(part.from) // "alice"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface PartInput<A> {
  readonly correlationId: string
  readonly from: Address
  readonly value: A
  readonly messageId?: string | undefined
}

/**
 * One accepted part of a round.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join = yield* Join.make<string>({ parts: 1, timeout: "1 minute" })
 *   const round = yield* Join.offer(join, { correlationId: "r", from: "alice", value: "ok" })
 *   const part: Join.Part<string> = Option.getOrThrow(round).parts[0]
 *   return part.from
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // "alice"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Part<A> {
  readonly from: Address
  readonly value: A
  /** The envelope's id, when the part came in one. */
  readonly messageId: string | undefined
  /** Clock time at which it was accepted, in epoch milliseconds. */
  readonly receivedAt: number
}

/**
 * A completed round: its parts in arrival order, and by sender.
 *
 * **Details**
 *
 * Frozen. `parts` and `values` are in the order the parts were accepted; `bySender` maps each sender to its
 * value. A round with a quorum holds exactly `quorum` parts.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join = yield* Join.make<number>({ parts: 2, timeout: "1 minute" })
 *   yield* Join.offer(join, { correlationId: "sum", from: "a", value: 1 })
 *   const round = yield* Join.offer(join, { correlationId: "sum", from: "b", value: 2 })
 *   const done: Join.Round<number> = Option.getOrThrow(round)
 *   return [done.values, done.bySender.get("b")]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // [[1, 2], 2]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Round<A> {
  readonly correlationId: string
  readonly parts: ReadonlyArray<Part<A>>
  readonly values: ReadonlyArray<A>
  readonly bySender: ReadonlyMap<Address, A>
  readonly openedAt: number
  readonly completedAt: number
}

/**
 * A sender's second part in one round: refused, and not counted.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * console.log(new Join.DuplicatePart({ correlationId: "r-1", from: "alice", join: "review" }).message)
 * // round "r-1" of join "review" already has a part from "alice": the duplicate was not counted
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DuplicatePart extends Schema.TaggedError<DuplicatePart>()("DuplicatePart", {
  correlationId: Schema.String,
  from: Schema.String,
  join: Schema.String
}) {
  override get message() {
    return `round "${this.correlationId}" of join "${this.join}" already has a part from "${this.from}": the duplicate was not counted`
  }
}

/**
 * A part for a round that has already completed or expired (or whose join was shut down): not accepted.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * console.log(new Join.RoundClosed({ correlationId: "r-1", from: "bob", join: "review", state: "completed" }).message)
 * // round "r-1" of join "review" has already completed: the part from "bob" was not accepted
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class RoundClosed extends Schema.TaggedError<RoundClosed>()("RoundClosed", {
  correlationId: Schema.String,
  from: Schema.String,
  join: Schema.String,
  state: Schema.Literals(["completed", "expired", "shut down"])
}) {
  override get message() {
    const why = this.state === "shut down" ? "is closed: the join was shut down" : `has already ${this.state}`
    return `round "${this.correlationId}" of join "${this.join}" ${why}: the part from "${this.from}" was not accepted`
  }
}

/**
 * A round whose timeout passed before it completed. `missing` names the senders that never sent, when the
 * join was given their list.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * const error = new Join.RoundExpired({
 *   correlationId: "r-1", join: "review", received: 1, needed: 2, millis: 5000, missing: ["bob"]
 * })
 * console.log(error.message)
 * // round "r-1" of join "review" expired after 5000 ms with 1 of 2 parts (missing: "bob")
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class RoundExpired extends Schema.TaggedError<RoundExpired>()("RoundExpired", {
  correlationId: Schema.String,
  join: Schema.String,
  received: Schema.Number,
  needed: Schema.Number,
  millis: Schema.Number,
  missing: Schema.Array(Schema.String)
}) {
  override get message() {
    const missing =
      this.missing.length === 0 ? "" : ` (missing: ${this.missing.map((m) => `"${m}"`).join(", ")})`
    return `round "${this.correlationId}" of join "${this.join}" expired after ${this.millis} ms with ${this.received} of ${this.needed} parts${missing}`
  }
}

/**
 * A part from a sender the join was not told to expect.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * console.log(new Join.UnexpectedSender({ correlationId: "r-1", from: "eve", join: "review", expected: ["alice", "bob"] }).message)
 * // "eve" is not an expected sender of round "r-1" of join "review" (expected: "alice", "bob")
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class UnexpectedSender extends Schema.TaggedError<UnexpectedSender>()("UnexpectedSender", {
  correlationId: Schema.String,
  from: Schema.String,
  join: Schema.String,
  expected: Schema.Array(Schema.String)
}) {
  override get message() {
    return `"${this.from}" is not an expected sender of round "${this.correlationId}" of join "${this.join}" (expected: ${this.expected.map((s) => `"${s}"`).join(", ")})`
  }
}

/**
 * An envelope offered to a join without a `correlationId`: it belongs to no round.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * console.log(new Join.MissingCorrelationId({ messageId: "m-1", from: "alice" }).message)
 * // message m-1 from "alice" has no correlationId, so it belongs to no round
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MissingCorrelationId extends Schema.TaggedError<MissingCorrelationId>()("MissingCorrelationId", {
  messageId: Schema.String,
  from: Schema.String
}) {
  override get message() {
    return `message ${this.messageId} from "${this.from}" has no correlationId, so it belongs to no round`
  }
}

/**
 * Options of `make` that cannot work: no parts, a quorum out of range, a timeout that never ends.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Join.make({ parts: 2, quorum: 3, timeout: "1 second" }).pipe(Effect.flip, Effect.scoped)
 * Effect.runPromise(program).then((error) => console.log(error.message))
 * // invalid join option "quorum" (3): 3 is not an integer between 1 and 2 (the number of parts)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class JoinInvalid extends Schema.TaggedError<JoinInvalid>()("JoinInvalid", {
  option: Schema.String,
  value: Schema.optionalKey(Schema.String),
  problem: Schema.String
}) {
  override get message() {
    const value = this.value === undefined ? "" : ` (${this.value})`
    return `invalid join option "${this.option}"${value}: ${this.problem}`
  }
}

/**
 * The Schema every {@link Options} value is decoded with before a join is made.
 *
 * **When to use**
 *
 * To check join options read from outside the program (a config, a model's tool call).
 *
 * **Details**
 *
 * `parts` is a positive integer or a non-empty list of non-empty addresses, `quorum` a positive integer,
 * `timeout` a positive, finite duration (every round must end), `retain` a finite duration, `name` a
 * non-empty string. {@link make} fails with {@link JoinInvalid} naming the first field that does not decode,
 * then checks what relates fields (a quorum above the parts, a sender named twice).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const valid = Schema.is(Join.OptionsSchema)
 * console.log(valid({ parts: 3, timeout: "1 minute" }), valid({ parts: 3, timeout: "Infinity" })) // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const OptionsSchema = internal.OptionsSchema

/**
 * Why `offer` refused a part.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * const describe = (error: Join.OfferError): string => error._tag
 * console.log(describe(new Join.DuplicatePart({ correlationId: "r", from: "a", join: "j" }))) // "DuplicatePart"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type OfferError = DuplicatePart | RoundClosed | UnexpectedSender

/**
 * Tells whether a value is a `Join`.
 *
 * **Example**
 *
 * ```ts
 * import { Join } from "@handoffkit/core"
 *
 * console.log(Join.isJoin({ parts: 2 })) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isJoin = (u: unknown): u is Join<unknown> => hasProperty(u, TypeId)

/**
 * Makes a join, with a sweeper that expires and forgets rounds on time, living in the current Scope.
 *
 * **When to use**
 *
 * To gather parts between fibers: producers `offer`, a coordinator `await`s each round.
 *
 * **Details**
 *
 * The tracer in scope (`Tracer.CurrentTracer`) and the Clock are captured now. Fails with `JoinInvalid` for
 * `parts` that is not a positive integer (or a list naming a sender twice), a `quorum` outside 1 to `parts`,
 * a `timeout` that is not finite and above zero, or a negative `retain`. When the Scope closes, the join
 * shuts down: whoever awaits an open round is interrupted, and later parts fail with `RoundClosed`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const votes = yield* Join.make<boolean>({ parts: ["alice", "bob"], timeout: "10 seconds" })
 *   yield* Join.offer(votes, { correlationId: "pr-7", from: "bob", value: true })
 *   yield* Join.offer(votes, { correlationId: "pr-7", from: "alice", value: false })
 *   const round = yield* Join.await(votes, "pr-7")
 *   return round.parts.map((part) => `${part.from}:${part.value}`)
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["bob:true", "alice:false"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A>(options: Options): Effect.Effect<Join<A>, JoinInvalid, Scope.Scope> =>
  internal.make<A>(options)

/**
 * Adds a part to its round: an `Envelope` (round from its `correlationId`, sender from its `from`) or a
 * `PartInput`.
 *
 * **When to use**
 *
 * Wherever a part arrives. The result tells whether this part completed its round.
 *
 * **Details**
 *
 * Never waits. Succeeds with the completed `Round` when this part completed it, and with `Option.none()`
 * otherwise (the part was accepted and the round is still open). The part is refused, and not counted, when
 * its sender already has a part in the round (`DuplicatePart`), when the round has already completed or
 * expired or the join was shut down (`RoundClosed`), when the sender is not among the expected ones
 * (`UnexpectedSender`), or when an envelope has no correlation id (`MissingCorrelationId`). A part for an
 * unknown round opens it. A part that arrives at the round's deadline or later finds it expired.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join = yield* Join.make<string>({ parts: 2, timeout: "1 minute" })
 *   yield* Join.offer(join, { correlationId: "r", from: "alice", value: "yes" })
 *   const again = yield* Join.offer(join, { correlationId: "r", from: "alice", value: "no" }).pipe(Effect.flip)
 *   return again._tag
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // "DuplicatePart"
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const offer: {
  <A>(
    part: Envelope<A> | PartInput<A>
  ): (self: Join<A>) => Effect.Effect<Option.Option<Round<A>>, OfferError | MissingCorrelationId>
  <A>(
    self: Join<A>,
    part: Envelope<A> | PartInput<A>
  ): Effect.Effect<Option.Option<Round<A>>, OfferError | MissingCorrelationId>
} = dual(2, <A>(self: Join<A>, part: Envelope<A> | PartInput<A>) => internal.offer(self, part))

/**
 * Waits for a round to complete and returns it.
 *
 * **When to use**
 *
 * In the coordinator that needs the whole round before it goes on.
 *
 * **Details**
 *
 * Returns at once for a round that completed and is still remembered; waits for an open one; opens an
 * unknown one (its timeout starts now, so awaiting before the first part arrives is safe). Fails with
 * `RoundExpired` when the round expires. Interrupting the waiter leaves the round as it is. Interrupted when
 * the join shuts down.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Fiber } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join = yield* Join.make<number>({ parts: 2, timeout: "1 minute" })
 *   const waiter = yield* Effect.forkChild(Join.await(join, "r"))
 *   yield* Join.offer(join, { correlationId: "r", from: "a", value: 1 })
 *   yield* Join.offer(join, { correlationId: "r", from: "b", value: 2 })
 *   return (yield* Fiber.join(waiter)).values
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // [1, 2]
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
const await_: {
  (correlationId: string): <A>(self: Join<A>) => Effect.Effect<Round<A>, RoundExpired>
  <A>(self: Join<A>, correlationId: string): Effect.Effect<Round<A>, RoundExpired>
} = dual(2, <A>(self: Join<A>, correlationId: string) => internal.await_(self, correlationId))
export { await_ as await }

/**
 * The number of open rounds: the size of the round table.
 *
 * **When to use**
 *
 * To check that nothing is left behind: once traffic stops and the timeout has passed, it is 0.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join = yield* Join.make<number>({ parts: 2, timeout: "1 minute" })
 *   yield* Join.offer(join, { correlationId: "r", from: "a", value: 1 })
 *   return yield* Join.size(join)
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // 1
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const size = <A>(self: Join<A>): Effect.Effect<number> =>
  Effect.sync(() => internal.impl(self).open.size)

/**
 * The number of closed rounds still remembered (so that late parts get `RoundClosed`).
 *
 * **When to use**
 *
 * With `size`, to check that memory does not grow: it falls to 0 once `retain` has passed since the last
 * round closed.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const join = yield* Join.make<number>({ parts: 1, timeout: "1 minute" })
 *   yield* Join.offer(join, { correlationId: "r", from: "a", value: 1 })
 *   return [yield* Join.size(join), yield* Join.retained(join)]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // [0, 1]
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const retained = <A>(self: Join<A>): Effect.Effect<number> =>
  Effect.sync(() => internal.impl(self).closed.size)

/**
 * Options of `actor`: the join's options, the actor's mailbox options, and what to do with each outcome.
 *
 * **Details**
 *
 * - `onComplete`: called with each completed round, once.
 * - `onExpire`: called with each expired round's `RoundExpired`, once; default: nothing (it is traced).
 * - `onReject`: called with each refused part and why; default: nothing (it is traced).
 *
 * All three run in the actor's fiber, one message at a time, so they may keep private state. If one fails,
 * the actor stops (or restarts under a `nursery`; the round table survives the restart).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Join } from "@handoffkit/core"
 *
 * const options: Join.ActorOptions<string> = {
 *   parts: 3,
 *   timeout: "2 minutes",
 *   onComplete: (round) => Effect.log(`round ${round.correlationId}: ${round.values.join(", ")}`)
 * }
 * console.log(options.parts) // 3
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ActorOptions<A, E = never, R = never> extends Omit<Options, "name">, Actor.Options {
  readonly onComplete: (round: Round<A>) => Effect.Effect<void, E, R>
  readonly onExpire?: ((expired: RoundExpired) => Effect.Effect<void, E, R>) | undefined
  readonly onReject?:
    | ((error: OfferError | MissingCorrelationId, message: Envelope<A>) => Effect.Effect<void, E, R>)
    | undefined
}

// How an expiry reaches the actor: a message from itself whose payload no one else can make.
class Expired {
  readonly error: RoundExpired
  constructor(error: RoundExpired) {
    this.error = error
  }
}

/**
 * Starts an actor at `address` that joins the messages it receives into rounds by their `correlationId`.
 *
 * **When to use**
 *
 * For a coordinator actor: workers reply to it with the round's correlation id, and it acts once per round,
 * when the round completes or expires.
 *
 * **Details**
 *
 * A message's sender is its envelope's `from`, stamped by the runtime, so a sender cannot deliver another's
 * part; a second message from one sender in a round is refused as a duplicate. Messages are handled one at
 * a time, so `onComplete`, `onExpire` and `onReject` never run concurrently; an expiry is delivered to the
 * actor as a message from itself. The actor's name in traces is its address. It lives in the current Scope
 * and fails like `Actor.make` (`AddressTaken`, `MailboxInvalid`) or `make` (`JoinInvalid`).
 *
 * **Example**
 *
 * ```ts
 * import { Deferred, Effect } from "effect"
 * import { Actor, Join } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const done = yield* Deferred.make<ReadonlyArray<string>>()
 *   const gather = yield* Join.actor<string>("gather", {
 *     parts: 2,
 *     timeout: "1 minute",
 *     onComplete: (round) => Deferred.succeed(done, round.parts.map((p) => `${p.from}=${p.value}`))
 *   })
 *   const worker = (name: string) =>
 *     Actor.make<string>(name, (message, context) =>
 *       context.send(gather, message.payload.toUpperCase(), { correlationId: "job-1" }))
 *   yield* Actor.send(yield* worker("w1"), "a")
 *   yield* Actor.send(yield* worker("w2"), "b")
 *   return (yield* Deferred.await(done)).toSorted()
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // ["w1=A", "w2=B"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const actor = <A, E = never, R = never>(
  address: Address,
  options: ActorOptions<A, E, R>
): Effect.Effect<
  Actor.ActorRef<A>,
  JoinInvalid | AddressTaken | MailboxInvalid | Actor.ActorInvalid,
  Scope.Scope | Registry | R
> =>
  Effect.gen(function* () {
    const expiries = yield* Queue.unbounded<RoundExpired>()
    const join = yield* internal.make<A>({ ...options, name: address }, (error) => {
      Queue.offerUnsafe(expiries, error)
    })
    const { onComplete, onExpire, onReject } = options
    const ref = yield* Actor.make<A | Expired, never, R>(
      address,
      (message) => {
        const payload = message.payload
        if (payload instanceof Expired) return onExpire === undefined ? Effect.void : onExpire(payload.error)
        const part = internal.toPart(message as Envelope<A>)
        const result =
          part instanceof MissingCorrelationId ? part : internal.offerUnsafe(internal.impl(join), part)
        if (result === undefined) return Effect.void
        if (internal.isRefusal(result)) {
          return onReject === undefined ? Effect.void : onReject(result, message as Envelope<A>)
        }
        return onComplete(result)
      },
      options
    )
    // Expiries are found by the join's sweeper; they reach the behavior through the actor's own mailbox, so
    // the behavior stays the only code touching the actor's state. If the actor has stopped, none can.
    yield* Queue.take(expiries).pipe(
      Effect.flatMap((error) =>
        internalActor.sendFrom(address, undefined, ref, new Expired(error), error.correlationId)
      ),
      Effect.ignore,
      Effect.forever,
      Effect.forkScoped
    )
    return ref as Actor.ActorRef<A>
  })
