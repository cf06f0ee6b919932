import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scheduler, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Budget, DeadLetter, Mailbox, Select, Tracer } from "../src/index.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

const yields = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

// A tiny deterministic PRNG so a property's schedule is a function of its generated seed (replayable).
const prng = (seed: number) => {
  let s = seed | 0 || 1
  return (bound: number) => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) % bound
  }
}

const Box = Schema.Struct({
  capacity: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  messages: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 25 })),
  closeAt: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 40 }))
})

describe("Select", () => {
  it.effect.prop(
    "loss-free: every offered message is received exactly once or dead-lettered, under interruption and closes",
    {
      boxes: Schema.Array(Box).check(Schema.isBetweenLength(1, 8)),
      seed: Schema.Int,
      // 2 or less livelocks Effect's own scheduler (measured); 3 forces a yield every few steps.
      opsBeforeYield: Schema.Int.check(Schema.isBetween({ minimum: 3, maximum: 64 }))
    },
    ({ boxes, seed, opsBeforeYield }) =>
      Effect.gen(function* () {
        const random = prng(seed)
        const offered: Array<string> = []
        const received: Array<string> = []
        const dead: Array<string> = []
        // Run under the harness: the test traces each offer as a `send` (before it is made), each message a
        // handler gets as a `receive`, each refused offer and each dead letter as a `dead-letter`, and the kit
        // checks the trace (every message sent is received once or dead-lettered once, nothing twice).
        const { events, exit } = yield* Harness.run(
          Effect.gen(function* () {
            const tracer = yield* Tracer.CurrentTracer
            const trace = (kind: Tracer.Kind, actor: string, message: string, reason?: string) =>
              tracer.emit({
                kind,
                actor,
                messageId: message,
                ...(reason === undefined ? {} : { data: { reason } })
              })
            const sink: DeadLetter.Sink = {
              publish: (letter) => {
                dead.push(letter.message as string)
                trace("dead-letter", letter.mailbox, letter.message as string, letter.reason)
              }
            }
            const mailboxes = yield* Effect.forEach(boxes, (box, i) =>
              Mailbox.make<string>({
                capacity: box.capacity === 3 ? Infinity : box.capacity,
                address: `box-${i}`
              })
            ).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))

            const producers = yield* Effect.forEach(boxes, (box, b) =>
              Effect.forkChild(
                Effect.gen(function* () {
                  for (let i = 0; i < box.messages; i++) {
                    if (i === box.closeAt) yield* Mailbox.close(mailboxes[b], "random close")
                    yield* yields(random(3))
                    const message = `${b}:${i}`
                    trace("send", `producer-${b}`, message)
                    const exit = yield* Effect.exit(Mailbox.offer(mailboxes[b], message))
                    if (Exit.isSuccess(exit)) offered.push(message)
                    else trace("dead-letter", `box-${b}`, message, "rejected")
                  }
                })
              )
            )
            const cases = (stop: Deferred.Deferred<void>) => [
              Select.signal(stop, () => Effect.succeed("stopped" as const)),
              ...mailboxes.map((mailbox) =>
                Select.receive(mailbox, (message) =>
                  Effect.sync(() => void (received.push(message), trace("receive", mailbox.address, message)))
                )
              )
            ]
            const allDone = () => producers.every((p) => p.pollUnsafe() !== undefined)
            // Selectors come and go: each is interrupted or signalled at a random moment.
            while (!allDone()) {
              const stop = yield* Deferred.make<void>()
              const selector = yield* Effect.forkChild(
                Effect.repeat(Select.selectAll(cases(stop)), { while: (r) => r !== "stopped" })
              )
              yield* yields(1 + random(12))
              if (random(2) === 0) yield* Fiber.interrupt(selector)
              else {
                yield* Deferred.succeed(stop, void 0)
                yield* Fiber.await(selector)
              }
            }
            // Drain what is left without waiting, then shut everything down: leftovers become dead letters.
            const drainStop = yield* Deferred.make<void>()
            let more = true
            while (more) {
              more = yield* Select.selectAll([
                ...cases(drainStop),
                Select.orElse(() => Effect.succeed("stopped" as const))
              ]).pipe(
                Effect.map((r) => r !== "stopped"),
                Effect.catchTag("SelectNoLiveCase", () => Effect.succeed(false))
              )
            }
            for (const mailbox of mailboxes) yield* Mailbox.shutdown(mailbox, "closed")
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, opsBeforeYield))
        )
        assert.isTrue(Exit.isSuccess(exit))
        // Every message sent is received once or dead-lettered once (a refused offer is traced as dead), and
        // nothing is both: checked by the kit on the trace.
        assert.deepStrictEqual(Invariants.noLossNoDuplicate(events), [])
        const seen = [...received, ...dead]
        assert.strictEqual(new Set(seen).size, seen.length, "no message is duplicated")
        assert.deepStrictEqual(
          [...seen].sort(),
          [...offered].sort(),
          "every offered message is accounted for, and nothing else"
        )
        // Order per mailbox (and so per sender) is preserved among received messages.
        for (let b = 0; b < boxes.length; b++) {
          const order = received.filter((m) => m.startsWith(`${b}:`)).map((m) => Number(m.split(":")[1]))
          assert.deepStrictEqual(
            order,
            [...order].sort((x, y) => x - y)
          )
        }
      }),
    Check.propOptions({ timeout: 120_000 })
  )

  it.effect("control cases outrank a ready message, which stays queued", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<string>()
      const cancel = yield* Deferred.make<string>()
      yield* Mailbox.offer(inbox, "work")
      yield* Deferred.succeed(cancel, "stop")
      const fired = yield* Select.select(
        Select.receive(inbox, (m) => Effect.succeed(`message ${m}`)),
        Select.signal(cancel, (why) => Effect.succeed(`signal ${why}`))
      )
      assert.strictEqual(fired, "signal stop")
      assert.strictEqual(yield* Mailbox.size(inbox), 1)
    })
  )

  it.effect("a spent budget outranks a ready message", () =>
    Effect.gen(function* () {
      const budget = yield* Budget.make({ calls: 2 })
      const inbox = yield* Mailbox.make<string>()
      yield* Mailbox.offer(inbox, "task")
      const before = yield* Select.select(
        Select.budget(budget, () => Effect.succeed("budget")),
        Select.receive(inbox, Effect.succeed)
      )
      assert.strictEqual(before, "task")
      yield* Mailbox.offer(inbox, "task-2")
      yield* Budget.spend(budget, { calls: 2 })
      const after = yield* Select.select(
        Select.budget(budget, () => Effect.succeed("budget")),
        Select.receive(inbox, Effect.succeed)
      )
      assert.strictEqual(after, "budget")
    })
  )

  it.effect("a waiting select fires the budget case when another fiber spends the rest", () =>
    Effect.gen(function* () {
      const budget = yield* Budget.make({ tokensOut: 100 })
      const inbox = yield* Mailbox.make<string>()
      const selector = yield* Effect.forkChild(
        Select.select(
          Select.budget(budget, () => Effect.succeed("spent")),
          Select.receive(inbox, Effect.succeed)
        )
      )
      yield* settle
      assert.isUndefined(selector.pollUnsafe())
      yield* Budget.spend(budget, { tokensOut: 100 })
      assert.strictEqual(yield* Fiber.join(selector), "spent")
    })
  )

  it.effect("fairness: four always-ready mailboxes over 10,000 selects each get at least 20%", () =>
    Effect.gen(function* () {
      const mailboxes = yield* Effect.forEach([0, 1, 2, 3], () => Mailbox.make<number>())
      for (const mailbox of mailboxes) for (let i = 0; i < 10_000; i++) Mailbox.offerUnsafe(mailbox, i)
      const counts = [0, 0, 0, 0]
      const cases = mailboxes.map((mailbox, i) =>
        Select.receive(mailbox, () => Effect.sync(() => void counts[i]++))
      )
      for (let i = 0; i < 10_000; i++) yield* Select.selectAll(cases)
      for (const count of counts) assert.isAtLeast(count, 2_000, `counts ${counts}`)
      assert.strictEqual(
        counts.reduce((a, b) => a + b, 0),
        10_000
      )
    })
  )

  it.effect("timeout fires at its deadline, not before (TestClock)", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<string>()
      const selector = yield* Effect.forkChild(
        Select.select(
          Select.receive(inbox, Effect.succeed),
          Select.timeout("1 second", () => Effect.succeed("timeout"))
        )
      )
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(selector.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(selector), "timeout")
      assert.strictEqual(yield* Mailbox.size(inbox), 0)
    })
  )

  it.effect("a message before the deadline wins, and the timeout is not restarted by wake-ups", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<string>()
      const other = yield* Mailbox.make<string>()
      const selector = yield* Effect.forkChild(
        Select.select(
          Select.receive(inbox, Effect.succeed),
          Select.timeout("1 second", () => Effect.succeed("timeout"))
        )
      )
      yield* TestClock.adjust("500 millis")
      yield* Mailbox.offer(inbox, "in time")
      assert.strictEqual(yield* Fiber.join(selector), "in time")
      // A select woken without firing (here by a mailbox closing) keeps its original deadline.
      const closing = yield* Mailbox.make<string>()
      const waiting = yield* Effect.forkChild(
        Select.select(
          Select.receive(other, Effect.succeed),
          Select.receive(closing, Effect.succeed),
          Select.timeout("1 second", () => Effect.succeed("timeout"))
        )
      )
      yield* TestClock.adjust("600 millis")
      yield* Mailbox.close(closing, "gone")
      yield* settle
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust("399 millis")
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(waiting), "timeout")
    })
  )

  it.effect("a select with no live case fails with SelectNoLiveCase instead of hanging", () =>
    Effect.gen(function* () {
      const a = yield* Mailbox.make<string>({ address: "a" })
      const b = yield* Mailbox.make<string>({ address: "b" })
      yield* Mailbox.close(a, "done")
      yield* Mailbox.close(b, "done")
      const error = yield* Effect.flip(
        Select.select(Select.receive(a, Effect.succeed), Select.receive(b, Effect.succeed))
      )
      assert.strictEqual(error._tag, "SelectNoLiveCase")
      assert.include(error.message, "a, b")
      const empty = yield* Effect.flip(Select.selectAll<never, never, never>([]))
      assert.strictEqual(empty.message, "select has no cases")
    })
  )

  it.effect("a waiting select fails with SelectNoLiveCase when its last mailbox closes", () =>
    Effect.gen(function* () {
      const a = yield* Mailbox.make<string>()
      const selector = yield* Effect.forkChild(Select.select(Select.receive(a, Effect.succeed)))
      yield* settle
      yield* Mailbox.close(a, "done")
      const exit = yield* Fiber.await(selector)
      assert.isTrue(Exit.isFailure(exit))
    })
  )

  it.effect("a closed mailbox still delivers what it holds before its case dies", () =>
    Effect.gen(function* () {
      const a = yield* Mailbox.make<string>()
      yield* Mailbox.offer(a, "last words")
      yield* Mailbox.close(a, "done")
      assert.strictEqual(yield* Select.select(Select.receive(a, Effect.succeed)), "last words")
    })
  )

  it.effect("orElse fires only when nothing is ready", () =>
    Effect.gen(function* () {
      const a = yield* Mailbox.make<string>()
      const none = yield* Select.select(
        Select.receive(a, Effect.succeed),
        Select.orElse(() => Effect.succeed("none"))
      )
      assert.strictEqual(none, "none")
      yield* Mailbox.offer(a, "x")
      const some = yield* Select.select(
        Select.receive(a, Effect.succeed),
        Select.orElse(() => Effect.succeed("none"))
      )
      assert.strictEqual(some, "x")
    })
  )

  it.effect("a rendezvous sender is released by a select", () =>
    Effect.gen(function* () {
      const a = yield* Mailbox.make<string>({ capacity: 0 })
      const selector = yield* Effect.forkChild(Select.select(Select.receive(a, Effect.succeed)))
      yield* settle
      yield* Mailbox.offer(a, "hand to hand")
      assert.strictEqual(yield* Fiber.join(selector), "hand to hand")
    })
  )
})
