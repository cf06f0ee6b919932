/**
 * The mailbox machinery. Modelled on Go's `runtime/chan.go`: a buffer, a queue of blocked senders and a set
 * of waiting receivers, all touched only synchronously, so every decision and its effect happen in one step
 * of one fiber with no yield in between.
 *
 * Invariants (each kept by the function that mutates the field it names):
 * 1. `buffer.length <= capacity`; a blocked sender exists only while the buffer is full (for capacity 0,
 *    whenever a sender waits).
 * 2. A message is in exactly one place at a time: a blocked sender's entry, the buffer, or handed out by
 *    `poll` (which removes it first). `poll` is the only taker, so nothing is ever taken twice.
 * 3. Waiting never consumes: receivers and selectors register a `wake` callback and then `poll` again
 *    synchronously. A waiter that is interrupted has taken nothing, so it can lose nothing.
 * 4. Once closed, nothing enters: new sends fail, blocked senders fail (their message goes back to them),
 *    queued messages stay drainable, and `shutdown` hands each queued message to the dead-letter sink.
 * @internal
 */
import { Effect, MutableList } from "effect"
import { pipeArguments } from "effect/Pipeable"
import type { SchedulerDispatcher } from "effect/Scheduler"
import type * as DeadLetter from "../DeadLetter.ts"
import { MailboxClosed, MailboxFull, type Mailbox, type Overflow } from "../Mailbox.ts"

/** @internal */
export const TypeId = "~handoffkit/Mailbox" as const

/** A sentinel for "nothing to take", so `poll` does not allocate an Option on the hot path. @internal */
export const Empty: unique symbol = Symbol.for("@handoffkit/core/Mailbox/Empty")
/** @internal */
export type Empty = typeof Empty

interface BlockedSender<A> {
  readonly message: A
  readonly resume: (effect: Effect.Effect<void, MailboxClosed>) => void
  readonly receipt: Receipt | undefined
}

/**
 * Set to `accepted: true` at the moment the mailbox takes the message in (into its buffer, its dead letters,
 * or a receiver's hands). A sender interrupted while parked reads it to know whether its message went out,
 * which its exit cannot tell (an interrupt wins over a completed effect's result).
 * @internal
 */
export interface Receipt {
  accepted: boolean
  /**
   * Set when the sender was parked with the message (waiting for room). From then on the mailbox accounts for
   * it: it is accepted, or withdrawn as a dead letter if the sender is interrupted first.
   */
  parked?: boolean
  /** Called once, at the moment of acceptance: before any receiver can act on the message. */
  readonly onAccepted?: (() => void) | undefined
}

/** Marks a receipt accepted and runs its hook. @internal */
export const accept = (receipt: Receipt | undefined): void => {
  if (receipt === undefined || receipt.accepted) return
  receipt.accepted = true
  receipt.onAccepted?.()
}

/** @internal */
export interface MailboxImpl<A> extends Mailbox<A> {
  readonly buffer: MutableList.MutableList<A>
  readonly senders: Set<BlockedSender<A>>
  readonly waiters: Set<() => void>
  readonly sink: DeadLetter.Sink
  readonly dispatcher: SchedulerDispatcher
  /** A wake-up of the waiters is scheduled and has not run yet. */
  wakeScheduled: boolean
  closedReason: string | undefined
}

const MailboxProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toString(this: MailboxImpl<unknown>) {
    return `Mailbox(${this.address})`
  },
  toJSON(this: MailboxImpl<unknown>) {
    return {
      _id: "Mailbox",
      address: this.address,
      capacity: this.capacity,
      size: sizeUnsafe(this),
      closed: this.closedReason !== undefined
    }
  }
}

/** @internal */
export const makeUnsafe = <A>(
  address: string,
  capacity: number,
  overflow: Overflow,
  sink: DeadLetter.Sink,
  dispatcher: SchedulerDispatcher
): Mailbox<A> => {
  const self: MailboxImpl<A> = Object.create(MailboxProto)
  Object.assign(self, {
    address,
    capacity,
    overflow,
    buffer: MutableList.make<A>(),
    senders: new Set(),
    waiters: new Set(),
    sink,
    dispatcher,
    wakeScheduled: false,
    closedReason: undefined
  })
  return self
}

/** @internal */
export const impl = <A>(self: Mailbox<A>): MailboxImpl<A> => self as MailboxImpl<A>

/** @internal */
export const sizeUnsafe = <A>(self: Mailbox<A>): number => {
  const mb = impl(self)
  return mb.buffer.length + mb.senders.size
}

/**
 * Wakes every waiter. The set is emptied before any waiter runs: a woken fiber may resume synchronously and
 * register again, and a Set being iterated would visit that new entry, waking it forever.
 * Each waiter unregisters itself from the other mailboxes it watches when woken.
 * @internal
 */
export const wakeAll = (waiters: Set<() => void>): void => {
  if (waiters.size === 0) return
  if (waiters.size === 1) {
    const wake: () => void = waiters.values().next().value!
    waiters.clear()
    return wake()
  }
  const all = Array.from(waiters)
  waiters.clear()
  // A woken fiber runs inline and the first one takes the message: start at a random waiter so competing
  // receivers (workers pulling from one queue) share the work instead of the first registered taking all.
  const start = nextRandom(all.length)
  for (let i = 0; i < all.length; i++) all[(start + i) % all.length]()
}

// xorshift32: a cheap, allocation-free random source for fair choices (which waiter wakes first, where a
// select starts its scan).
let seed = 0x9e3779b9 | 0
/** @internal */
export const nextRandom = (bound: number): number => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) % bound
}

// A resumed fiber runs inline, inside the caller's step. Resuming a blocked sender from `poll` inline would
// switch to it on every message while the mailbox is full (it refills one slot and blocks again); scheduling
// the resume lets the receiver drain a batch first. The sender's message is already accepted either way.
const resumeLater = <A>(mb: MailboxImpl<A>, sender: BlockedSender<A>): void =>
  mb.dispatcher.scheduleTask(() => sender.resume(Effect.void), 0)

/**
 * Takes one message synchronously: the only place a message leaves a mailbox (invariant 2).
 * When the buffer has room again, the oldest blocked sender's message moves in and that sender resumes.
 * @internal
 */
export const pollUnsafe = <A>(self: Mailbox<A>): A | Empty => {
  const mb = impl(self)
  if (mb.buffer.length > 0) {
    const message = MutableList.take(mb.buffer) as A
    if (mb.senders.size > 0) {
      const sender: BlockedSender<A> = mb.senders.values().next().value!
      mb.senders.delete(sender)
      MutableList.append(mb.buffer, sender.message)
      accept(sender.receipt)
      resumeLater(mb, sender)
    }
    return message
  }
  if (mb.senders.size > 0) {
    // Rendezvous (capacity 0): take straight from the oldest blocked sender.
    const sender: BlockedSender<A> = mb.senders.values().next().value!
    mb.senders.delete(sender)
    accept(sender.receipt)
    resumeLater(mb, sender)
    return sender.message
  }
  return Empty
}

/**
 * Wakes the waiters on the scheduler rather than inline, once per burst: a sender offering many messages in a
 * row then hands the receiver a batch, instead of switching to it on every message (as Effect's Queue does).
 * The waiters stay registered until the task runs, so no wake-up is lost.
 * @internal
 */
export const scheduleWake = (mb: MailboxImpl<any>): void => {
  if (mb.wakeScheduled || mb.waiters.size === 0) return
  mb.wakeScheduled = true
  mb.dispatcher.scheduleTask(() => {
    mb.wakeScheduled = false
    wakeAll(mb.waiters)
  }, 0)
}

/** Whether `poll` would return a message now. @internal */
export const hasMessageUnsafe = <A>(self: Mailbox<A>): boolean => {
  const mb = impl(self)
  return mb.buffer.length > 0 || mb.senders.size > 0
}

/** Closed and nothing left to take: a receive case on it can never fire again. @internal */
export const isDrainedUnsafe = <A>(self: Mailbox<A>): boolean =>
  impl(self).closedReason !== undefined && !hasMessageUnsafe(self)

/**
 * Offers into the buffer only: `true` when the message went in; `false`, with nothing changed (no dead letter,
 * no waiting), when the mailbox is closed or full. A traced send tries this first, then traces the send.
 * @internal
 */
export const offerToBufferUnsafe = <A>(self: Mailbox<A>, message: A): boolean => {
  const mb = impl(self)
  if (mb.closedReason !== undefined || mb.buffer.length >= mb.capacity) return false
  MutableList.append(mb.buffer, message)
  scheduleWake(mb)
  return true
}

/** @internal */
export type OfferResult = "accepted" | "full" | "closed" | "dead-lettered"

/**
 * Offers synchronously without blocking: `"accepted"` into the buffer, `"full"` (nothing changed),
 * `"closed"`, or `"dead-lettered"` when full and the policy drops to dead letters.
 * @internal
 */
export const offerUnsafe = <A>(self: Mailbox<A>, message: A): OfferResult => {
  const mb = impl(self)
  if (mb.closedReason !== undefined) return "closed"
  if (mb.buffer.length < mb.capacity) {
    MutableList.append(mb.buffer, message)
    scheduleWake(mb)
    return "accepted"
  }
  if (mb.overflow === "dead-letter") {
    mb.sink.publish({ mailbox: mb.address, message, reason: "overflow" })
    return "dead-lettered"
  }
  return "full"
}

const closedError = (mb: MailboxImpl<unknown>) =>
  new MailboxClosed({ address: mb.address, reason: mb.closedReason! })

/** @internal */
export const offer = <A>(
  self: Mailbox<A>,
  message: A,
  receipt?: Receipt
): Effect.Effect<void, MailboxClosed | MailboxFull> =>
  Effect.suspend((): Effect.Effect<void, MailboxClosed | MailboxFull> => {
    const mb = impl(self)
    switch (offerUnsafe(self, message)) {
      case "accepted":
      case "dead-lettered":
        accept(receipt)
        return Effect.void
      case "closed":
        return Effect.fail(closedError(mb as MailboxImpl<unknown>))
      case "full":
        return mb.overflow === "fail"
          ? Effect.fail(new MailboxFull({ address: mb.address, capacity: mb.capacity }))
          : offerOrWait(mb, message, receipt)
    }
  })

// Back-pressure: park the sender with its message. A receiver's `poll` moves the message in and resumes it.
// If the sender is interrupted first, its entry is removed and the message was never accepted.
const offerOrWait = <A>(mb: MailboxImpl<A>, message: A, receipt: Receipt | undefined) =>
  Effect.callback<void, MailboxClosed>((resume) => {
    const result = offerUnsafe(mb, message)
    if (result === "closed") return resume(Effect.fail(closedError(mb as MailboxImpl<unknown>)))
    if (result !== "full") {
      accept(receipt)
      return resume(Effect.void)
    }
    const entry: BlockedSender<A> = { message, resume, receipt }
    mb.senders.add(entry)
    if (receipt !== undefined) receipt.parked = true
    scheduleWake(mb)
    // Interrupted while parked: if the entry is still here the message was never taken, so it is withdrawn,
    // and recorded as a dead letter so that a traced send is never left without an outcome.
    return Effect.sync(() => {
      if (mb.senders.delete(entry)) mb.sink.publish({ mailbox: mb.address, message, reason: "withdrawn" })
    })
  })

/**
 * Suspends until any of `mailboxes` may have something to take (or was closed). Takes nothing (invariant 3).
 * @internal
 */
export const awaitAny = (mailboxes: ReadonlyArray<Mailbox<any>>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const unregister = () => {
      for (let i = 0; i < mailboxes.length; i++) impl(mailboxes[i]).waiters.delete(wake)
    }
    const wake = () => {
      unregister()
      resume(Effect.void)
    }
    for (let i = 0; i < mailboxes.length; i++) {
      const mb = impl(mailboxes[i])
      if (hasMessageUnsafe(mb) || mb.closedReason !== undefined) return resume(Effect.void)
    }
    for (let i = 0; i < mailboxes.length; i++) impl(mailboxes[i]).waiters.add(wake)
    return Effect.sync(unregister)
  })

/** @internal */
export const take = <A>(self: Mailbox<A>): Effect.Effect<A, MailboxClosed> =>
  Effect.suspend(() => {
    const message = pollUnsafe(self)
    if (message !== Empty) return Effect.succeed(message)
    const mb = impl(self)
    if (mb.closedReason !== undefined) return Effect.fail(closedError(mb as MailboxImpl<unknown>))
    return Effect.flatMap(awaitAny([self]), () => take(self))
  })

/** @internal */
export const closeUnsafe = <A>(self: Mailbox<A>, reason: string): boolean => {
  const mb = impl(self)
  if (mb.closedReason !== undefined) return false
  mb.closedReason = reason
  // Senders still parked never had their message accepted: they get it back as a MailboxClosed failure.
  const senders = Array.from(mb.senders)
  mb.senders.clear()
  for (const sender of senders) sender.resume(Effect.fail(closedError(mb as MailboxImpl<unknown>)))
  wakeAll(mb.waiters)
  return true
}

/** @internal */
export const shutdownUnsafe = <A>(
  self: Mailbox<A>,
  reason: string,
  deadLetterReason: DeadLetter.Reason
): number => {
  closeUnsafe(self, reason)
  const mb = impl(self)
  let count = 0
  while (mb.buffer.length > 0) {
    mb.sink.publish({ mailbox: mb.address, message: MutableList.take(mb.buffer), reason: deadLetterReason })
    count++
  }
  return count
}
