/**
 * A dead letter is a message that could not be delivered, kept with the reason why. HandoffKit never drops a
 * message silently: a message that a closed mailbox still held, one that overflowed a mailbox whose policy is
 * to drop, or one addressed to nobody, becomes a `DeadLetter` published to the `DeadLetters` sink.
 *
 * @since 0.1.0
 */
import { Context, Schema } from "effect"
import * as options_ from "./internal/options.ts"

/**
 * Why a message became a dead letter.
 *
 * - `"closed"`: the mailbox was shut down while the message was still queued.
 * - `"overflow"`: the mailbox was full and its overflow policy is `"dead-letter"`.
 * - `"no-such-address"`: no actor is registered at the destination.
 * - `"stopped"`: the receiving actor stopped before handling it.
 * - `"failed"`: the actor's behavior failed while handling it (the actor stopped or was restarted).
 * - `"withdrawn"`: its sender was interrupted while waiting for room, before any receiver took it.
 *
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
 *   yield* Mailbox.offer(inbox, "queued")
 *   yield* Mailbox.shutdown(inbox, "closed")
 * }).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
 * Effect.runSync(program)
 * const reason: DeadLetter.Reason = sink.letters[0].reason
 * console.log(reason) // "closed"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Reason = "closed" | "overflow" | "no-such-address" | "stopped" | "failed" | "withdrawn"

/**
 * One undelivered message and why.
 *
 * **Example**
 *
 * ```ts
 * import type { DeadLetter } from "@handoffkit/core"
 *
 * const letter: DeadLetter.DeadLetter = { mailbox: "worker-1", message: "job", reason: "closed" }
 * console.log(letter.reason) // "closed"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface DeadLetter {
  readonly mailbox: string
  readonly message: unknown
  readonly reason: Reason
}

/**
 * Where dead letters go: a synchronous callback, called at the moment a message is given up on.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DeadLetter, Mailbox } from "@handoffkit/core"
 *
 * let overflowed = 0
 * const counting: DeadLetter.Sink = {
 *   publish: (letter) => void (letter.reason === "overflow" && overflowed++)
 * }
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>({ capacity: 1, overflow: "dead-letter" })
 *   yield* Effect.forEach([1, 2, 3], (n) => Mailbox.offer(inbox, n))
 * }).pipe(Effect.provideService(DeadLetter.DeadLetters, counting))
 * Effect.runSync(program)
 * console.log(overflowed) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Sink {
  readonly publish: (letter: DeadLetter) => void
}

/**
 * A sink that keeps every dead letter in an array, for tests and small runs.
 *
 * **When to use**
 *
 * Provide it as the `DeadLetters` reference in a test to assert that nothing was dropped silently.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DeadLetter, Mailbox } from "@handoffkit/core"
 *
 * const sink = DeadLetter.collect()
 * const program = Effect.gen(function*() {
 *   const mailbox = yield* Mailbox.make<string>({ capacity: 1, overflow: "dead-letter" })
 *   yield* Mailbox.offer(mailbox, "kept")
 *   yield* Mailbox.offer(mailbox, "dropped")
 * }).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
 *
 * Effect.runSync(program)
 * console.log(sink.letters.map((letter) => letter.message)) // ["dropped"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const collect = (): Sink & { readonly letters: Array<DeadLetter> } => {
  const letters: Array<DeadLetter> = []
  return { letters, publish: (letter) => void letters.push(letter) }
}

/**
 * A `ring` size that bounds nothing: NaN, negative, fractional or not a number (a NaN size would keep every
 * letter, a leak). Thrown by {@link ring} when it is called, so the mistake cannot go unnoticed.
 *
 * **Example**
 *
 * ```ts
 * import { DeadLetter } from "@handoffkit/core"
 *
 * try {
 *   DeadLetter.ring(-1)
 * } catch (error) {
 *   console.log((error as DeadLetter.DeadLetterInvalid).message) // invalid dead-letter ring "size" (-1): Expected a non-negative integer
 * }
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DeadLetterInvalid extends Schema.TaggedError<DeadLetterInvalid>()("DeadLetterInvalid", {
  option: Schema.String,
  value: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `invalid dead-letter ring "${this.option}" (${this.value}): ${this.problem}`
  }
}

/**
 * A sink that keeps the last `size` dead letters and a count of all of them.
 *
 * **When to use**
 *
 * The default sink: bounded memory, yet a recent history to inspect. `size` is a non-negative integer; any
 * other value throws {@link DeadLetterInvalid}.
 *
 * **Example**
 *
 * ```ts
 * import { DeadLetter } from "@handoffkit/core"
 *
 * const sink = DeadLetter.ring(2)
 * for (const message of [1, 2, 3]) sink.publish({ mailbox: "m", message, reason: "closed" })
 * console.log(sink.total, sink.recent().map((letter) => letter.message)) // 3 [2, 3]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const ring = (
  size: number
): Sink & { readonly total: number; readonly recent: () => Array<DeadLetter> } => {
  const problem = options_.check(options_.Count, size, "size")
  if (problem !== undefined) throw new DeadLetterInvalid(problem)
  const buffer: Array<DeadLetter> = []
  let total = 0
  return {
    get total() {
      return total
    },
    recent: () => buffer.slice(),
    publish: (letter) => {
      total++
      buffer.push(letter)
      if (buffer.length > size) buffer.shift()
    }
  }
}

/**
 * The dead-letter sink in scope. Mailboxes capture it when they are made.
 *
 * **Details**
 *
 * Defaults to a ring of the last 1,000 dead letters. Provide another `Sink` (a collector in tests, the Tracer's
 * sink in production) with `Effect.provideService(DeadLetter.DeadLetters, sink)`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DeadLetter } from "@handoffkit/core"
 *
 * const sink = DeadLetter.collect()
 * const program = Effect.gen(function*() {
 *   const current = yield* DeadLetter.DeadLetters
 *   current.publish({ mailbox: "m", message: "lost?", reason: "no-such-address" })
 * }).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
 * Effect.runSync(program)
 * console.log(sink.letters.length) // 1
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const DeadLetters: Context.Reference<Sink> = Context.Reference<Sink>("@handoffkit/core/DeadLetters", {
  defaultValue: () => ring(1000)
})
