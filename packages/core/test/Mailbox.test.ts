import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option } from "effect"
import { DeadLetter, Mailbox } from "../src/index.ts"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

describe("Mailbox", () => {
  it.effect("is FIFO", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>({ capacity: 8 })
      for (const n of [1, 2, 3]) yield* Mailbox.offer(inbox, n)
      const got = [yield* Mailbox.take(inbox), yield* Mailbox.take(inbox), yield* Mailbox.take(inbox)]
      assert.deepStrictEqual(got, [1, 2, 3])
    })
  )

  it.effect("rendezvous: a send completes only when a receiver takes it", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<string>({ capacity: 0 })
      const sender = yield* Effect.forkChild(Mailbox.offer(inbox, "x"))
      yield* settle
      assert.isUndefined(sender.pollUnsafe(), "sender must wait for a receiver")
      assert.strictEqual(yield* Mailbox.size(inbox), 1)
      assert.strictEqual(yield* Mailbox.take(inbox), "x")
      yield* settle
      assert.deepStrictEqual(sender.pollUnsafe(), Exit.void)
    })
  )

  it.effect("rendezvous: a waiting receiver gets the message and the sender is released", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<string>({ capacity: 0 })
      const receiver = yield* Effect.forkChild(Mailbox.take(inbox))
      yield* settle
      yield* Mailbox.offer(inbox, "y")
      assert.strictEqual(yield* Fiber.join(receiver), "y")
    })
  )

  it.effect("rendezvous: an interrupted sender withdraws its message", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<string>({ capacity: 0 })
      const sender = yield* Effect.forkChild(Mailbox.offer(inbox, "withdrawn"))
      yield* settle
      yield* Fiber.interrupt(sender)
      assert.strictEqual(yield* Mailbox.size(inbox), 0)
      assert.isTrue(Option.isNone(yield* Mailbox.poll(inbox)))
    })
  )

  it.effect("back-pressure: a full mailbox parks the sender until there is room", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>({ capacity: 1 })
      yield* Mailbox.offer(inbox, 1)
      const sender = yield* Effect.forkChild(Mailbox.offer(inbox, 2))
      yield* settle
      assert.isUndefined(sender.pollUnsafe())
      assert.strictEqual(yield* Mailbox.take(inbox), 1)
      yield* settle
      assert.deepStrictEqual(sender.pollUnsafe(), Exit.void)
      assert.strictEqual(yield* Mailbox.take(inbox), 2)
    })
  )

  it.effect("overflow fail: MailboxFull names the mailbox and its capacity", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>({ capacity: 1, overflow: "fail", address: "reviewer" })
      yield* Mailbox.offer(inbox, 1)
      const error = yield* Effect.flip(Mailbox.offer(inbox, 2))
      assert.strictEqual(error._tag, "MailboxFull")
      assert.include(error.message, "reviewer")
      assert.include(error.message, "capacity 1")
    })
  )

  it.effect("overflow dead-letter: the dropped message reaches the dead letters with reason overflow", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const inbox = yield* Mailbox.make<number>({ capacity: 1, overflow: "dead-letter", address: "m" }).pipe(
        Effect.provideService(DeadLetter.DeadLetters, sink)
      )
      yield* Mailbox.offer(inbox, 1)
      yield* Mailbox.offer(inbox, 2)
      assert.deepStrictEqual(sink.letters, [{ mailbox: "m", message: 2, reason: "overflow" }])
      assert.strictEqual(yield* Mailbox.take(inbox), 1)
    })
  )

  it.effect("send to a closed mailbox is a typed MailboxClosed error naming it and the reason", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>({ address: "planner" })
      yield* Mailbox.close(inbox, "actor stopped")
      const error = yield* Effect.flip(Mailbox.offer(inbox, 1))
      assert.strictEqual(error._tag, "MailboxClosed")
      assert.strictEqual(error.message, `mailbox "planner" is closed (actor stopped)`)
    })
  )

  it.effect("close keeps queued messages drainable, then take fails", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>()
      yield* Mailbox.offer(inbox, 1)
      assert.isTrue(yield* Mailbox.close(inbox, "done"))
      assert.isFalse(yield* Mailbox.close(inbox, "again"))
      assert.strictEqual(yield* Mailbox.take(inbox), 1)
      assert.strictEqual((yield* Effect.flip(Mailbox.take(inbox)))._tag, "MailboxClosed")
    })
  )

  it.effect("close wakes a waiting receiver with MailboxClosed and fails parked senders", () =>
    Effect.gen(function* () {
      const empty = yield* Mailbox.make<number>()
      const receiver = yield* Effect.forkChild(Mailbox.take(empty))
      const full = yield* Mailbox.make<number>({ capacity: 1 })
      yield* Mailbox.offer(full, 1)
      const sender = yield* Effect.forkChild(Mailbox.offer(full, 2))
      yield* settle
      yield* Mailbox.close(empty, "bye")
      yield* Mailbox.close(full, "bye")
      const r = yield* Fiber.await(receiver)
      const s = yield* Fiber.await(sender)
      assert.isTrue(Exit.isFailure(r) && Exit.isFailure(s))
      assert.strictEqual(yield* Mailbox.size(full), 1, "only the accepted message stays")
    })
  )

  it.effect("shutdown dead-letters every queued message with its reason", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const inbox = yield* Mailbox.make<string>({ address: "x" }).pipe(
        Effect.provideService(DeadLetter.DeadLetters, sink)
      )
      yield* Mailbox.offer(inbox, "a")
      yield* Mailbox.offer(inbox, "b")
      assert.strictEqual(yield* Mailbox.shutdown(inbox, "stopped"), 2)
      assert.deepStrictEqual(
        sink.letters.map((l) => [l.message, l.reason]),
        [
          ["a", "stopped"],
          ["b", "stopped"]
        ]
      )
    })
  )

  it.effect("invalid options are typed errors naming the option", () =>
    Effect.gen(function* () {
      const negative = yield* Effect.flip(Mailbox.make({ capacity: -1 }))
      assert.strictEqual(negative.option, "capacity")
      const fractional = yield* Effect.flip(Mailbox.make({ capacity: 1.5 }))
      assert.strictEqual(fractional.option, "capacity")
      const rendezvousFail = yield* Effect.flip(Mailbox.make({ capacity: 0, overflow: "fail" }))
      assert.strictEqual(rendezvousFail.option, "overflow")
    })
  )

  it.effect("an interrupted receiver takes nothing", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>()
      const receiver = yield* Effect.forkChild(Mailbox.take(inbox))
      yield* settle
      yield* Fiber.interrupt(receiver)
      yield* Mailbox.offer(inbox, 9)
      assert.strictEqual(yield* Mailbox.take(inbox), 9)
    })
  )
})
