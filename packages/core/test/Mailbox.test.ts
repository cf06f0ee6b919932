import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Scheduler, Schema } from "effect"
import { DeadLetter, Mailbox, Select, Tracer } from "../src/index.ts"
import * as mailboxInternal from "../src/internal/mailbox.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

const yields = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

describe("Mailbox", () => {
  it.effect.prop(
    "every accepted message is received exactly once or dead-lettered, under interrupted senders and receivers",
    {
      capacity: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
      senders: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 6 }))).check(
        Schema.isBetweenLength(1, 6)
      ),
      interrupts: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 8 }))),
      receiverPace: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
      opsBeforeYield: Schema.Int.check(Schema.isBetween({ minimum: 3, maximum: 32 }))
    },
    ({ capacity, senders, interrupts, receiverPace, opsBeforeYield }) =>
      Effect.gen(function* () {
        const letters: Array<DeadLetter.DeadLetter> = []
        const attempted: Array<string> = []
        const succeeded: Array<string> = []
        const received: Array<string> = []
        // Under the harness, the test traces a `send` at the moment the mailbox accepts a message (its receipt),
        // a `receive` when the receiver gets it, and a `dead-letter` for each dead letter; the kit then checks
        // that every accepted message is received once or dead-lettered once.
        const { events, exit } = yield* Harness.run(
          Effect.gen(function* () {
            const tracer = yield* Tracer.CurrentTracer
            const sink: DeadLetter.Sink = {
              publish: (letter) => {
                letters.push(letter)
                tracer.emit({
                  kind: "dead-letter",
                  actor: "inbox",
                  messageId: letter.message as string,
                  data: { reason: letter.reason }
                })
              }
            }
            const inbox = yield* Mailbox.make<string>({ capacity, address: "inbox" }).pipe(
              Effect.provideService(DeadLetter.DeadLetters, sink)
            )
            const fibers = yield* Effect.forEach(senders, (count, s) =>
              Effect.forkChild(
                Effect.forEach(
                  Array.from({ length: count }, (_, i) => `${s}:${i}`),
                  (message) =>
                    Effect.andThen(
                      Effect.sync(() => void attempted.push(message)),
                      mailboxInternal
                        .offer(inbox, message, {
                          accepted: false,
                          onAccepted: () =>
                            tracer.emit({
                              kind: "send",
                              actor: `sender-${s}`,
                              peer: "inbox",
                              messageId: message
                            })
                        })
                        .pipe(
                          // Runs even when the sender is interrupted, with the offer's own outcome.
                          Effect.onExit((exit) =>
                            Effect.sync(() => void (Exit.isSuccess(exit) && succeeded.push(message)))
                          )
                        )
                    )
                )
              )
            )
            const receiver = yield* Effect.forkChild(
              Effect.forever(
                Effect.andThen(
                  // The handler is the hand-off: it runs in the same uninterruptible step as the take.
                  Select.select(
                    Select.receive(inbox, (m) =>
                      Effect.sync(() => {
                        received.push(m)
                        tracer.emit({ kind: "receive", actor: "receiver", peer: "inbox", messageId: m })
                      })
                    )
                  ),
                  yields(receiverPace)
                )
              )
            )
            for (const at of interrupts) {
              yield* yields(at)
              yield* Fiber.interrupt(fibers[at % fibers.length])
            }
            yield* yields(5)
            yield* Fiber.interrupt(receiver)
            for (const fiber of fibers) yield* Fiber.interrupt(fiber)
            yield* Mailbox.shutdown(inbox, "closed")
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, opsBeforeYield))
        )
        assert.isTrue(Exit.isSuccess(exit))
        // Every message the mailbox accepted is received exactly once or dead-lettered exactly once.
        assert.deepStrictEqual(Invariants.noLossNoDuplicate(events), [])
        const accepted = events.filter((e) => e.kind === "send").map((e) => e.messageId!)
        const accounted = [...received, ...letters.map((l) => l.message as string)]
        assert.strictEqual(new Set(accounted).size, accounted.length, "no duplicate")
        // Every send that completed was accepted and is accounted for; nothing appears that nobody sent.
        for (const message of succeeded) assert.include(accepted, message, "a completed send was accepted")
        for (const message of succeeded) assert.include(accounted, message, "a completed send is never lost")
        for (const message of accounted) assert.include(attempted, message, "nothing is invented")
        // A message given up by an interrupted sender (withdrawn) was never accepted, so never received.
        for (const letter of letters) {
          if (letter.reason === "withdrawn") assert.notInclude(accepted, letter.message as string)
        }
        // Beyond completed sends, only a sender's in-flight message at its interruption may have been taken:
        // at most one per sender.
        const extra = accounted.filter((m) => !succeeded.includes(m))
        assert.isAtMost(extra.length, senders.length)
        assert.strictEqual(new Set(extra.map((m) => m.split(":")[0])).size, extra.length)
      }),
    Check.propOptions()
  )

  it.effect("operations are dual: data-first and pipeable", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<number>({ capacity: 4 })
      yield* inbox.pipe(Mailbox.offer(1))
      yield* Mailbox.offer(inbox, 2)
      assert.strictEqual(yield* Mailbox.size(inbox), 2)
      assert.isTrue(yield* inbox.pipe(Mailbox.close("done")))
    })
  )

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

  it.effect("competing receivers share the work (workers pulling from one rendezvous queue)", () =>
    Effect.gen(function* () {
      const queue = yield* Mailbox.make<number>({ capacity: 0 })
      const counts = [0, 0, 0, 0]
      const workers = yield* Effect.forEach(counts, (_, w) =>
        Effect.forkChild(
          // Each task takes a little work after it is received, as a worker's would.
          Effect.forever(
            Effect.andThen(
              Select.select(Select.receive(queue, () => Effect.sync(() => void counts[w]++))),
              yields(3)
            )
          )
        )
      )
      for (let i = 0; i < 2_000; i++) yield* Mailbox.offer(queue, i)
      for (const worker of workers) yield* Fiber.interrupt(worker)
      assert.strictEqual(
        counts.reduce((a, b) => a + b, 0),
        2_000
      )
      for (const count of counts) assert.isAtLeast(count, 200, `counts ${counts}`)
    })
  )
})
