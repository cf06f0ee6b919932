import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Actor, DeadLetter, type Envelope, Nursery, Registry } from "../src/index.ts"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("Actor", () => {
  it.effect("handles messages one at a time, in order, with private state", () =>
    Effect.gen(function* () {
      let concurrent = 0
      let maxConcurrent = 0
      const seen: Array<number> = []
      const counter = yield* Actor.stateful<number, number | "get", number>(
        "counter",
        0,
        (sum, message, context) =>
          message.payload === "get"
            ? Effect.as(context.reply(sum), sum)
            : Effect.gen(function* () {
                concurrent++
                maxConcurrent = Math.max(maxConcurrent, concurrent)
                yield* Effect.yieldNow
                seen.push(message.payload as number)
                concurrent--
                return sum + (message.payload as number)
              })
      )
      yield* Effect.forEach([1, 2, 3, 4, 5], (n) => Actor.send(counter, n), { concurrency: "unbounded" })
      assert.strictEqual(yield* Actor.ask(counter, "get"), 15)
      assert.strictEqual(maxConcurrent, 1)
      assert.deepStrictEqual(seen, [1, 2, 3, 4, 5])
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("from is stamped by the runtime: an actor cannot speak for another", () =>
    Effect.gen(function* () {
      const received = yield* Deferred.make<Envelope.Envelope<{ from: string; text: string }>>()
      const bank = yield* Actor.make<{ from: string; text: string }>("bank", (message) =>
        Deferred.succeed(received, message)
      )
      const mallory = yield* Actor.make<string>("mallory", (_, context) =>
        // The payload claims to come from "admin"; the envelope says who really sent it.
        context.send(bank, { from: "admin", text: "transfer everything" })
      )
      yield* Actor.send(mallory, "go")
      const envelope = yield* Deferred.await(received)
      assert.strictEqual(envelope.from, "mallory")
      assert.strictEqual(envelope.to, "bank")
      assert.strictEqual(envelope.payload.from, "admin", "the claim is only data")
      // Envelopes are frozen: rewriting `from` after the fact is impossible too.
      assert.throws(() => {
        ;(envelope as any).from = "admin"
      })
      assert.strictEqual(envelope.from, "mallory")
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect(
    "messages from outside any actor are stamped external; causation links a reply to its cause",
    () =>
      Effect.gen(function* () {
        const got = yield* Deferred.make<Envelope.Envelope<string>>()
        const sink = yield* Actor.make<string>("sink", (message) => Deferred.succeed(got, message))
        const relay = yield* Actor.make<string>("relay", (message, context) =>
          Effect.gen(function* () {
            assert.strictEqual(message.from, "external")
            assert.isUndefined(message.causationId)
            yield* context.send(sink, `relayed ${message.payload}`)
          })
        )
        yield* Actor.send(relay, "hi")
        const relayed = yield* Deferred.await(got)
        assert.strictEqual(relayed.from, "relay")
        assert.isString(relayed.causationId)
        assert.notStrictEqual(relayed.causationId, relayed.id)
      }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("ask returns the reply; ids are unique", () =>
    Effect.gen(function* () {
      const ids = new Set<string>()
      const echo = yield* Actor.make<string, string>("echo", (message, context) => {
        ids.add(message.id)
        return context.reply(message.payload.toUpperCase())
      })
      const replies = yield* Effect.forEach(["a", "b", "c"], (s) => Actor.ask(echo, s), { concurrency: 3 })
      assert.deepStrictEqual(replies, ["A", "B", "C"])
      assert.strictEqual(ids.size, 3)
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("ask times out with a typed AskTimeout naming the actor (TestClock)", () =>
    Effect.gen(function* () {
      const silent = yield* Actor.make<string, string>("silent", () => Effect.never)
      const asking = yield* Effect.forkChild(
        Effect.flip(Actor.ask(silent, "anyone?", { timeout: "2 seconds" }))
      )
      yield* settle
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(asking.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(asking)
      assert.strictEqual(error._tag, "AskTimeout")
      assert.include(error.message, `"silent"`)
      assert.include(error.message, "2000 ms")
      // The reply slot is gone: nothing leaks in the registry.
      const registry = yield* Registry.Registry
      assert.deepStrictEqual(yield* registry.addresses, ["silent"])
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("an ask the actor handles without replying fails at once with NoReply", () =>
    Effect.gen(function* () {
      const rude = yield* Actor.make<string, string>("rude", () => Effect.void)
      const error = yield* Effect.flip(Actor.ask(rude, "hello?"))
      assert.strictEqual(error._tag, "NoReply")
      assert.include(error.message, "without replying")
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("registering a taken address is a typed error", () =>
    Effect.gen(function* () {
      yield* Actor.make<string>("planner", () => Effect.void)
      const error = yield* Effect.flip(Actor.make<string>("planner", () => Effect.void))
      assert.strictEqual(error._tag, "AddressTaken")
      assert.strictEqual(error.message, `address "planner" is already registered`)
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("stopping an actor dead-letters what it held, fails pending asks and frees the address", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const gate = yield* Deferred.make<void>()
      const slow = yield* Actor.make<string, string>("slow", () => Deferred.await(gate)).pipe(
        Effect.provideService(DeadLetter.DeadLetters, sink)
      )
      yield* Actor.send(slow, "first") // taken, blocks on the gate
      yield* settle
      yield* Actor.send(slow, "queued-1")
      const asking = yield* Effect.forkChild(Effect.flip(Actor.ask(slow, "queued-ask")))
      yield* settle
      yield* Actor.stop(slow)
      const error = yield* Fiber.join(asking)
      assert.strictEqual(error._tag, "NoReply")
      assert.deepStrictEqual(
        sink.letters.map((l) => [(l.message as Envelope.Envelope<string>).payload, l.reason]),
        [
          ["queued-1", "stopped"],
          ["queued-ask", "stopped"]
        ]
      )
      assert.strictEqual((yield* Effect.flip(Actor.send(slow, "late")))._tag, "DeliveryError")
      // The address is free again.
      yield* Actor.make<string>("slow", () => Effect.void)
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("a failing behavior stops the actor with its error", () =>
    Effect.gen(function* () {
      const fragile = yield* Actor.make<string>("fragile", (m) => Effect.fail(`boom on ${m.payload}`))
      yield* Actor.send(fragile, "x")
      const exit = yield* Actor.await(fragile)
      assert.deepStrictEqual(exit, Exit.fail("boom on x"))
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("closing the scope stops every actor in it", () =>
    Effect.gen(function* () {
      const registry = yield* Registry.Registry
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Actor.make<string>("a", () => Effect.never)
          yield* Actor.make<string>("b", () => Effect.void)
          assert.strictEqual((yield* registry.addresses).length, 2)
        })
      )
      assert.deepStrictEqual(yield* registry.addresses, [])
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("lookup by address gives a ref that delivers", () =>
    Effect.gen(function* () {
      const got = yield* Deferred.make<string>()
      yield* Actor.make<string>("named", (m) => Deferred.succeed(got, m.payload))
      const ref = yield* Actor.lookup<string>("named")
      yield* Actor.send(ref, "found")
      assert.strictEqual(yield* Deferred.await(got), "found")
      assert.strictEqual((yield* Effect.flip(Actor.lookup("ghost")))._tag, "NoSuchAddress")
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("a rendezvous actor: a send completes only when the actor takes it", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const busy = yield* Actor.make<string>("busy", () => Deferred.await(gate), { capacity: 0 })
      yield* Actor.send(busy, "one") // taken at once by the idle actor
      const second = yield* Effect.forkChild(Actor.send(busy, "two"))
      yield* settle
      assert.isUndefined(second.pollUnsafe(), "the actor is busy: the second send waits")
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(second)
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect(
    "a supervised actor is restarted by its nursery: the mailbox survives, state starts fresh, the failed message is a dead letter",
    () =>
      Effect.gen(function* () {
        const sink = DeadLetter.collect()
        const nursery = yield* Nursery.make({
          strategy: "one-for-one",
          intensity: { maxRestarts: 5, window: "1 minute" }
        })
        const counter = yield* Actor.stateful<number, "inc" | "crash" | "get", number>(
          "supervised",
          0,
          (count, message, context) =>
            message.payload === "inc"
              ? Effect.succeed(count + 1)
              : message.payload === "crash"
                ? Effect.fail("crashed on purpose")
                : Effect.as(context.reply(count), count),
          { nursery }
        ).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
        yield* Actor.send(counter, "inc")
        yield* Actor.send(counter, "inc")
        assert.strictEqual(yield* Actor.ask(counter, "get"), 2)
        // Queue a crash followed by work: the work must survive the restart.
        yield* Actor.send(counter, "crash")
        yield* Actor.send(counter, "inc")
        assert.strictEqual(
          yield* Actor.ask(counter, "get"),
          1,
          "fresh state after the restart, queued inc kept"
        )
        assert.deepStrictEqual(
          sink.letters.map((l) => [(l.message as Envelope.Envelope<string>).payload, l.reason]),
          [["crash", "failed"]]
        )
        const [info] = yield* Nursery.children(nursery)
        assert.strictEqual(info.name, "supervised")
        assert.strictEqual(info.restarts, 1)
      }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("past its intensity a supervised actor escalates, and the nursery fails", () =>
    Effect.gen(function* () {
      const nursery = yield* Nursery.make({ intensity: { maxRestarts: 1, window: "1 minute" } })
      const fragile = yield* Actor.make<string>("fragile-supervised", () => Effect.die("boom"), { nursery })
      for (let i = 0; i < 3; i++) yield* Effect.ignore(Actor.send(fragile, `hit ${i}`))
      const escalated = yield* Effect.flip(Nursery.await(nursery))
      assert.strictEqual(escalated._tag, "NurseryEscalated")
    }).pipe(Effect.provide(Actor.layer))
  )
})
