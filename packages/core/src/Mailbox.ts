/**
 * A `Mailbox` is an actor's inbox: a FIFO queue of messages with an explicit capacity and overflow policy,
 * that can be closed. Its guarantee: every message offered is received exactly once or dead-lettered with a
 * reason; none is silently lost, none is duplicated.
 *
 * **When to use**
 *
 * Every actor owns one; use one directly when two fibers talk without the actor machinery, or as a case of a
 * `Select`. Capacity 0 is a rendezvous (a send completes only when a receiver takes it); capacity N buffers N
 * messages; overflow past N either back-pressures the sender (default), fails with `MailboxFull`, or hands the
 * message to the dead letters.
 *
 * @since 0.1.0
 */
import { Effect, Option, Schema } from "effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import { DeadLetters } from "./DeadLetter.ts"
import * as internal from "./internal/mailbox.ts"
import * as options_ from "./internal/options.ts"

/**
 * The brand carried by every `Mailbox`; test for it with `isMailbox`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Mailbox } from "@handoffkit/core"
 *
 * console.log(Mailbox.TypeId) // "~handoffkit/Mailbox"
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
export type TypeId = "~handoffkit/Mailbox"

/**
 * What a full mailbox does with one more message.
 *
 * - `"suspend"`: the sender waits until there is room (back-pressure). The default.
 * - `"fail"`: the send fails with `MailboxFull`; the message stays with the sender.
 * - `"dead-letter"`: the message goes to the dead letters with reason `"overflow"`; the send succeeds.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DeadLetter, Mailbox } from "@handoffkit/core"
 *
 * const sink = DeadLetter.collect()
 * const overflow: Mailbox.Overflow = "dead-letter"
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>({ capacity: 1, overflow })
 *   yield* Mailbox.offer(inbox, "kept")
 *   yield* Mailbox.offer(inbox, "dropped") // succeeds: the message goes to the dead letters
 *   return yield* Mailbox.size(inbox)
 * }).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
 * console.log(Effect.runSync(program), sink.letters[0].reason) // 1 "overflow"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Overflow = "suspend" | "fail" | "dead-letter"

/**
 * A bounded or unbounded FIFO of messages of type `A`, owned by one receiver.
 *
 * **Details**
 *
 * Messages are taken in the order they were accepted, so order per sender is preserved. A mailbox is either
 * open or closed; once closed it accepts nothing, and what it still holds can be drained (`take`, `poll`) or
 * dead-lettered (`shutdown`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>({ capacity: 8 })
 *   yield* Mailbox.offer(inbox, "hello")
 *   return yield* Mailbox.take(inbox)
 * })
 * console.log(Effect.runSync(program)) // "hello"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Mailbox<in out A> extends Pipeable {
  readonly [TypeId]: TypeId
  /** The address this mailbox receives for (for traces and dead letters). */
  readonly address: string
  /** 0 for a rendezvous, `Infinity` for unbounded. */
  readonly capacity: number
  readonly overflow: Overflow
  /** @internal phantom */
  readonly "~A"?: (a: A) => A
}

/**
 * Sending to a closed mailbox.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>()
 *   yield* Mailbox.close(inbox, "actor stopped")
 *   return yield* Mailbox.offer(inbox, 1).pipe(Effect.flip)
 * })
 * console.log(Effect.runSync(program).message) // mailbox "mailbox-…" is closed (actor stopped)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MailboxClosed extends Schema.TaggedError<MailboxClosed>()("MailboxClosed", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `mailbox "${this.address}" is closed (${this.reason})`
  }
}

/**
 * Sending to a full mailbox whose overflow policy is `"fail"`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>({ capacity: 1, overflow: "fail" })
 *   yield* Mailbox.offer(inbox, 1)
 *   return yield* Mailbox.offer(inbox, 2).pipe(Effect.flip)
 * })
 * console.log(Effect.runSync(program)._tag) // "MailboxFull"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  address: Schema.String,
  capacity: Schema.Number
}) {
  override get message() {
    return `mailbox "${this.address}" is full (capacity ${this.capacity})`
  }
}

/**
 * Options that make no mailbox: a negative or fractional capacity, or a rendezvous that does not suspend.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const error = Effect.runSync(Effect.flip(Mailbox.make({ capacity: -1 })))
 * console.log(error.message) // invalid mailbox option "capacity": …
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MailboxInvalid extends Schema.TaggedError<MailboxInvalid>()("MailboxInvalid", {
  option: Schema.String,
  value: Schema.optionalKey(Schema.String),
  problem: Schema.String
}) {
  override get message() {
    return `invalid mailbox option "${this.option}": ${this.problem}`
  }
}

/**
 * Tells whether a value is a `Mailbox`.
 *
 * **Example**
 *
 * ```ts
 * import { Mailbox } from "@handoffkit/core"
 *
 * console.log(Mailbox.isMailbox("inbox")) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isMailbox = (u: unknown): u is Mailbox<unknown> => hasProperty(u, TypeId)

/**
 * Options of `make`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const options: Mailbox.Options = { capacity: 32, overflow: "suspend", address: "planner-inbox" }
 * const inbox = Effect.runSync(Mailbox.make<string>(options))
 * console.log(inbox.address, inbox.capacity) // "planner-inbox" 32
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** 0 (rendezvous), a positive integer, or `Infinity` (the default). */
  readonly capacity?: number | undefined
  /** What a full mailbox does; default `"suspend"`. A rendezvous only suspends. */
  readonly overflow?: Overflow | undefined
  /** The address for traces and dead letters; default a fresh `mailbox-<n>`. */
  readonly address?: string | undefined
}

/**
 * The Schema every {@link Options} value is decoded with before a mailbox is made.
 *
 * **When to use**
 *
 * To check mailbox options read from outside the program.
 *
 * **Details**
 *
 * `capacity` is 0, a positive integer or `Infinity`; `overflow` one of `"suspend"`, `"fail"`,
 * `"dead-letter"`; `address` a non-empty string. {@link make} fails with {@link MailboxInvalid} naming the
 * option and the value otherwise, and refuses a rendezvous that does not suspend.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const valid = Schema.is(Mailbox.OptionsSchema)
 * console.log(valid({ capacity: 0 }), valid({ capacity: NaN }), valid({ overflow: "block" })) // true false false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const OptionsSchema = Schema.Struct({
  capacity: options_.optional(
    Schema.Number.check(
      Schema.makeFilter(
        (n: number) => n === Number.POSITIVE_INFINITY || (Number.isSafeInteger(n) && n >= 0),
        {
          expected: "0, a positive integer or Infinity"
        }
      )
    )
  ),
  overflow: options_.optional(Schema.Literals(["suspend", "fail", "dead-letter"])),
  address: options_.optional(options_.Name)
})

let anonymous = 0

/**
 * Makes a mailbox.
 *
 * **When to use**
 *
 * Actors make their own; make one directly for fiber-to-fiber messaging or to `Select` over.
 *
 * **Details**
 *
 * The dead-letter sink in scope (`DeadLetter.DeadLetters`) is captured now and receives everything this
 * mailbox gives up on. Fails with `MailboxInvalid` for a capacity that is negative, fractional or NaN, and for
 * a rendezvous (capacity 0) whose overflow is not `"suspend"` (nothing could ever be accepted).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const rendezvous = yield* Mailbox.make<string>({ capacity: 0 })
 *   const bounded = yield* Mailbox.make<string>({ capacity: 16, overflow: "fail" })
 *   return [rendezvous.capacity, bounded.capacity]
 * })
 * console.log(Effect.runSync(program)) // [0, 16]
 * ```
 *
 * @see {@link offer} {@link take} {@link close}
 * @category constructors
 * @since 0.1.0
 */
export const make = <A>(options?: Options): Effect.Effect<Mailbox<A>, MailboxInvalid> =>
  Effect.withFiber((fiber) => {
    const problem = options_.check(OptionsSchema, options ?? {})
    if (problem !== undefined) {
      return Effect.fail(
        new MailboxInvalid({
          option: problem.option,
          value: problem.value,
          problem: `${problem.value} is not ${options_.expected(problem)}`
        })
      )
    }
    const capacity = options?.capacity ?? Number.POSITIVE_INFINITY
    const overflow = options?.overflow ?? "suspend"
    if (capacity === 0 && overflow !== "suspend") {
      return Effect.fail(
        new MailboxInvalid({
          option: "overflow",
          value: options_.show(overflow),
          problem: `a rendezvous (capacity 0) must suspend, got "${overflow}"`
        })
      )
    }
    const address = options?.address ?? `mailbox-${anonymous++}`
    return Effect.succeed(
      internal.makeUnsafe<A>(address, capacity, overflow, fiber.getRef(DeadLetters), fiber.currentDispatcher)
    )
  })

/**
 * Sends a message into the mailbox.
 *
 * **When to use**
 *
 * To deliver to a mailbox you hold; actors usually `Actor.send` instead, which wraps the message in an
 * `Envelope`.
 *
 * **Details**
 *
 * Completes when the message is accepted. When the mailbox is full: waits (`"suspend"`; for a rendezvous,
 * until a receiver takes it), fails with `MailboxFull` (`"fail"`), or dead-letters it and completes
 * (`"dead-letter"`). Fails with `MailboxClosed` when the mailbox is or becomes closed before acceptance: the
 * message was then not accepted and is still the sender's. Interrupting a waiting sender withdraws its
 * message (it is recorded as a dead letter with reason `"withdrawn"`), unless a receiver took it first; as with any effect, an interrupt that lands as the send
 * completes wins over its result, so an interrupted sender cannot tell which happened (a `Handoff`, which must
 * know, delivers uninterruptibly).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, pipe } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>({ capacity: 2 })
 *   yield* Mailbox.offer(inbox, 1)
 *   yield* pipe(inbox, Mailbox.offer(2)) // data-last
 *   return yield* Mailbox.size(inbox)
 * })
 * console.log(Effect.runSync(program)) // 2
 * ```
 *
 * @category sending
 * @since 0.1.0
 */
export const offer: {
  <A>(message: A): (self: Mailbox<A>) => Effect.Effect<void, MailboxClosed | MailboxFull>
  <A>(self: Mailbox<A>, message: A): Effect.Effect<void, MailboxClosed | MailboxFull>
} = dual(2, internal.offer)

/**
 * Sends without waiting: `true` when accepted (or dead-lettered by an overflow policy of `"dead-letter"`),
 * `false` when the mailbox is full or closed and nothing changed.
 *
 * **When to use**
 *
 * In synchronous callbacks (timers, foreign event handlers) that cannot run an Effect.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const inbox = Effect.runSync(Mailbox.make<string>({ capacity: 1 }))
 * console.log(Mailbox.offerUnsafe(inbox, "a"), Mailbox.offerUnsafe(inbox, "b")) // true false
 * ```
 *
 * @category sending
 * @since 0.1.0
 */
export const offerUnsafe = <A>(self: Mailbox<A>, message: A): boolean => {
  const result = internal.offerUnsafe(self, message)
  return result === "accepted" || result === "dead-lettered"
}

/**
 * Takes the oldest message, waiting for one.
 *
 * **When to use**
 *
 * To receive from one mailbox; to wait on several events at once use `Select`.
 *
 * **Details**
 *
 * Fails with `MailboxClosed` once the mailbox is closed and drained. Waiting takes nothing: a receiver
 * interrupted while waiting loses no message. Once `take` has completed, the message is in your hands: if your
 * fiber may be interrupted before you hand it on, receive with `Select.receive` instead, whose handler runs
 * in the same uninterruptible step as the take.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Fiber } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>({ capacity: 0 })
 *   const receiver = yield* Effect.forkChild(Mailbox.take(inbox))
 *   yield* Mailbox.offer(inbox, "handed over") // completes when the receiver takes it
 *   return yield* Fiber.join(receiver)
 * })
 * Effect.runPromise(program).then(console.log) // "handed over"
 * ```
 *
 * @category receiving
 * @since 0.1.0
 */
export const take: <A>(self: Mailbox<A>) => Effect.Effect<A, MailboxClosed> = internal.take

/**
 * Takes the oldest message if there is one, without waiting.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>()
 *   const before = yield* Mailbox.poll(inbox)
 *   yield* Mailbox.offer(inbox, 7)
 *   const after = yield* Mailbox.poll(inbox)
 *   return [Option.isNone(before), Option.getOrThrow(after)]
 * })
 * console.log(Effect.runSync(program)) // [true, 7]
 * ```
 *
 * @category receiving
 * @since 0.1.0
 */
export const poll = <A>(self: Mailbox<A>): Effect.Effect<Option.Option<A>> =>
  Effect.sync(() => {
    const message = internal.pollUnsafe(self)
    return message === internal.Empty ? Option.none() : Option.some(message)
  })

/**
 * The number of messages waiting to be taken (buffered plus those of blocked senders).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>()
 *   yield* Mailbox.offer(inbox, 1)
 *   return yield* Mailbox.size(inbox)
 * })
 * console.log(Effect.runSync(program)) // 1
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const size = <A>(self: Mailbox<A>): Effect.Effect<number> =>
  Effect.sync(() => internal.sizeUnsafe(self))

/**
 * Whether the mailbox is closed.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>()
 *   yield* Mailbox.close(inbox, "done")
 *   return yield* Mailbox.isClosed(inbox)
 * })
 * console.log(Effect.runSync(program)) // true
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const isClosed = <A>(self: Mailbox<A>): Effect.Effect<boolean> =>
  Effect.sync(() => internal.impl(self).closedReason !== undefined)

/**
 * Closes the mailbox: no new message is accepted; what it holds can still be taken.
 *
 * **When to use**
 *
 * To tell the receiver "nothing more is coming" while letting it drain. Use `shutdown` to give up on what
 * is queued as well.
 *
 * **Details**
 *
 * Returns `true` if this call closed it, `false` if it was already closed. Senders parked on a full mailbox
 * fail with `MailboxClosed`, keeping their messages. Receivers and selects waiting on an empty mailbox wake
 * and see it closed.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>()
 *   yield* Mailbox.offer(inbox, 1)
 *   yield* Mailbox.close(inbox, "producer finished")
 *   const last = yield* Mailbox.take(inbox) // still drainable
 *   const after = yield* Mailbox.take(inbox).pipe(Effect.flip)
 *   return [last, after._tag]
 * })
 * console.log(Effect.runSync(program)) // [1, "MailboxClosed"]
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const close: {
  (reason: string): <A>(self: Mailbox<A>) => Effect.Effect<boolean>
  <A>(self: Mailbox<A>, reason: string): Effect.Effect<boolean>
} = dual(2, <A>(self: Mailbox<A>, reason: string) => Effect.sync(() => internal.closeUnsafe(self, reason)))

/**
 * Closes the mailbox and hands every queued message to the dead letters with `reason`.
 *
 * **When to use**
 *
 * When the receiver stops for good (an actor exits): nothing queued is handled, and nothing is lost either:
 * each message is published to the dead-letter sink.
 *
 * **Details**
 *
 * Returns the number of messages dead-lettered.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DeadLetter, Mailbox } from "@handoffkit/core"
 *
 * const sink = DeadLetter.collect()
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>()
 *   yield* Mailbox.offer(inbox, "unhandled")
 *   return yield* Mailbox.shutdown(inbox, "stopped")
 * }).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
 * console.log(Effect.runSync(program), sink.letters[0].message) // 1 "unhandled"
 * ```
 *
 * @category lifecycle
 * @since 0.1.0
 */
export const shutdown: {
  (reason: "closed" | "stopped"): <A>(self: Mailbox<A>) => Effect.Effect<number>
  <A>(self: Mailbox<A>, reason: "closed" | "stopped"): Effect.Effect<number>
} = dual(2, <A>(self: Mailbox<A>, reason: "closed" | "stopped") =>
  Effect.sync(() => internal.shutdownUnsafe(self, reason, reason))
)
