import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scheduler, Schema, Scope } from "effect"
import * as Broker from "../src/Broker.ts"
import { Actor, DeadLetter, Mailbox, Select } from "../src/index.ts"
import type { Envelope } from "../src/Envelope.ts"
import * as Tracer from "../src/Tracer.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

const yields = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

/** Everything queued in a mailbox, taken without waiting. */
const drain = <A>(mailbox: Mailbox.Mailbox<Envelope<A>>) =>
  Effect.gen(function* () {
    const out: Array<A> = []
    for (;;) {
      const next = yield* Mailbox.poll(mailbox)
      if (next._tag === "None") return out
      out.push(next.value.payload)
    }
  })

const payloads = (
  letters: ReadonlyArray<DeadLetter.DeadLetter>,
  mailbox: string,
  reason?: DeadLetter.Reason
) =>
  letters
    .filter((letter) => letter.mailbox === mailbox && (reason === undefined || letter.reason === reason))
    .map((letter) => (letter.message as Envelope<unknown>).payload)

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)

const stats = { runs: 0, received: 0, overflow: 0, closed: 0, interrupted: 0 }

describe("Broker", () => {
  it.effect("a stalled subscriber does not delay the publisher or the other subscribers", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const trace = Tracer.memory()
      const n = 50
      const { fast, results, stalled } = yield* Effect.gen(function* () {
        const broker = yield* Broker.make<number>()
        const stalled = yield* Broker.subscribe(broker, "ticks", { capacity: 4, address: "stalled" })
        const fast = yield* Effect.forEach(["fast-1", "fast-2"], (address) =>
          Broker.subscribe(broker, "ticks", { capacity: n, address })
        )
        // Nobody takes while the publisher runs: if publish waited on any subscriber it could not finish.
        const publisher = yield* Effect.forkChild(
          Effect.forEach(range(1, n + 1), (i) => Broker.publish(broker, "ticks", i))
        )
        yield* yields(3)
        const done = publisher.pollUnsafe()
        assert.isDefined(done, "the publisher finished without any subscriber taking")
        assert.isTrue(Exit.isSuccess(done!))
        const results = yield* Fiber.join(publisher)
        return { fast, results, stalled }
      }).pipe(
        Effect.provideService(Tracer.CurrentTracer, trace.tracer),
        Effect.provideService(DeadLetter.DeadLetters, sink)
      )
      // The stalled subscriber's 4 slots took the first 4 copies; after that only the fast two accepted.
      assert.deepStrictEqual(
        results,
        range(1, n + 1).map((i) => (i <= 4 ? 3 : 2))
      )
      for (const subscription of fast)
        assert.deepStrictEqual(yield* drain(subscription.mailbox), range(1, n + 1))
      assert.strictEqual(yield* Mailbox.size(stalled.mailbox), 4)
      assert.deepStrictEqual(payloads(sink.letters, "stalled", "overflow"), range(5, n + 1))
      assert.strictEqual(sink.letters.length, n - 4)
      const count = (kind: Tracer.Kind, actor?: string) =>
        trace.events.filter((e) => e.kind === kind && (actor === undefined || e.actor === actor)).length
      assert.strictEqual(count("broker.publish", "external"), n)
      assert.strictEqual(count("broker.deliver", "fast-1"), n)
      assert.strictEqual(count("broker.deliver", "stalled"), 4)
      assert.strictEqual(count("broker.overflow", "stalled"), n - 4)
    })
  )

  it.effect("overflow goes to the dead letters and to the trace, under both policies", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const trace = Tracer.memory()
      yield* Effect.gen(function* () {
        const broker = yield* Broker.make<string>()
        const newest = yield* Broker.subscribe(broker, "jobs", { capacity: 2, address: "keeps-oldest" })
        const latest = yield* Broker.subscribe(broker, "jobs", {
          capacity: 2,
          overflow: "drop-oldest",
          address: "keeps-latest"
        })
        const counts = yield* Effect.forEach(["a", "b", "c", "d", "e"], (job) =>
          Broker.publish(broker, "jobs", job)
        )
        // "dead-letter" refuses the new copy (not counted); "drop-oldest" accepts it.
        assert.deepStrictEqual(counts, [2, 2, 1, 1, 1])
        assert.deepStrictEqual(yield* drain(newest.mailbox), ["a", "b"])
        assert.deepStrictEqual(yield* drain(latest.mailbox), ["d", "e"])
      }).pipe(
        Effect.scoped,
        Effect.provideService(Tracer.CurrentTracer, trace.tracer),
        Effect.provideService(DeadLetter.DeadLetters, sink)
      )
      assert.deepStrictEqual(payloads(sink.letters, "keeps-oldest"), ["c", "d", "e"])
      assert.deepStrictEqual(payloads(sink.letters, "keeps-latest"), ["a", "b", "c"])
      assert.isTrue(sink.letters.every((letter) => letter.reason === "overflow"))

      // The third publish, event by event: the publish, the refused copy (overflow then its dead letter), and
      // for the other subscriber the oldest copy given up, then the delivery of the new one.
      const third = trace.events.filter((e) => e.kind === "broker.publish")[2]
      const id = third.messageId!
      assert.deepStrictEqual(third.data, { topic: "jobs", subscribers: 2 })
      assert.strictEqual(third.actor, "external")
      const after = trace.events.filter((e) => e.seq > third.seq && e.seq < third.seq + 6)
      const firstId = trace.events.find((e) => e.kind === "broker.publish")!.messageId
      assert.deepStrictEqual(
        after.map((e) => [e.kind, e.actor, e.messageId, e.data?.reason]),
        [
          ["broker.overflow", "keeps-oldest", id, undefined],
          ["dead-letter", "keeps-oldest", id, "overflow"],
          ["broker.overflow", "keeps-latest", firstId, undefined],
          ["dead-letter", "keeps-latest", firstId, "overflow"],
          ["broker.deliver", "keeps-latest", id, undefined]
        ]
      )
      assert.deepStrictEqual(after[0].data, { topic: "jobs", policy: "dead-letter", capacity: 2 })
      // Every dead letter is in the trace with its message id.
      const traced = trace.events
        .filter((e) => e.kind === "dead-letter")
        .map((e) => `${e.actor} ${e.messageId}`)
      assert.deepStrictEqual(
        traced,
        sink.letters.map((letter) => `${letter.mailbox} ${(letter.message as Envelope<string>).id}`)
      )
    })
  )

  it.effect("closing the scope unsubscribes: publish reaches nobody, leftovers are dead letters", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const trace = Tracer.memory()
      yield* Effect.gen(function* () {
        const broker = yield* Broker.make<number>()
        const { subscription, waiter } = yield* Effect.gen(function* () {
          const subscription = yield* Broker.subscribe(broker, "news", { address: "reader" })
          const other = yield* Broker.subscribe(broker, "news", { address: "waiter" })
          assert.strictEqual(yield* Broker.publish(broker, "news", 1), 2)
          assert.strictEqual(yield* Broker.publish(broker, "news", 2), 2)
          assert.strictEqual(yield* Broker.publish(broker, "news", 3), 2)
          assert.strictEqual((yield* Mailbox.take(subscription.mailbox)).payload, 1)
          assert.deepStrictEqual(yield* drain(other.mailbox), [1, 2, 3])
          // A fiber waiting on the subscription when the scope closes wakes with MailboxClosed.
          const waiter = yield* Effect.forkChild(Mailbox.take(other.mailbox), { startImmediately: true })
          return { subscription, waiter }
        }).pipe(Effect.scoped)
        assert.strictEqual(yield* Broker.publish(broker, "news", 4), 0)
        assert.isTrue(yield* Mailbox.isClosed(subscription.mailbox))
        const exit = yield* Fiber.await(waiter)
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual((yield* Effect.flip(Fiber.join(waiter)))._tag, "MailboxClosed")
      }).pipe(
        Effect.provideService(Tracer.CurrentTracer, trace.tracer),
        Effect.provideService(DeadLetter.DeadLetters, sink)
      )
      assert.deepStrictEqual(payloads(sink.letters, "reader", "closed"), [2, 3])
      assert.strictEqual(sink.letters.length, 2)
      const closed = trace.events.filter((e) => e.kind === "dead-letter" && e.data?.reason === "closed")
      assert.deepStrictEqual(
        closed.map((e) => e.actor),
        ["reader", "reader"]
      )
      const last = trace.events.at(-1)!
      assert.deepStrictEqual([last.kind, last.data], ["broker.publish", { topic: "news", subscribers: 0 }])
    })
  )

  it.effect("a subscriber that closes its own mailbox is dropped; its copy is a dead letter", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      yield* Effect.gen(function* () {
        const broker = yield* Broker.make<string>()
        const quitter = yield* Broker.subscribe(broker, "t", { address: "quitter" })
        yield* Broker.subscribe(broker, "t", { address: "stays" })
        yield* Mailbox.close(quitter.mailbox, "not interested")
        assert.strictEqual(yield* Broker.publish(broker, "t", "x"), 1)
        assert.strictEqual(yield* Broker.publish(broker, "t", "y"), 1)
      }).pipe(Effect.scoped, Effect.provideService(DeadLetter.DeadLetters, sink))
      assert.deepStrictEqual(payloads(sink.letters, "quitter"), ["x"])
      assert.deepStrictEqual(
        sink.letters.map((letter) => letter.reason),
        ["closed", "closed", "closed"]
      )
    })
  )

  it.effect("wildcards: * is one segment, > one or more trailing segments", () =>
    Effect.gen(function* () {
      const broker = yield* Broker.make<string>()
      const patterns = ["reviews", "reviews.*", "reviews.>", "*.new", "reviews.*.urgent", ">"]
      const subscriptions = yield* Effect.forEach(patterns, (topic) => Broker.subscribe(broker, topic))
      const topics = ["reviews", "reviews.new", "reviews.new.urgent", "builds.new", "reviews.old.urgent.now"]
      const counts = yield* Effect.forEach(topics, (topic) => Broker.publish(broker, topic, topic))
      assert.deepStrictEqual(counts, [2, 4, 3, 2, 2])
      const seen = yield* Effect.forEach(subscriptions, (s) => drain(s.mailbox))
      assert.deepStrictEqual(seen, [
        ["reviews"],
        ["reviews.new"],
        ["reviews.new", "reviews.new.urgent", "reviews.old.urgent.now"],
        ["reviews.new", "builds.new"],
        ["reviews.new.urgent"],
        topics
      ])
    }).pipe(Effect.scoped)
  )

  it.effect("malformed topics and options fail with errors naming them", () =>
    Effect.gen(function* () {
      const broker = yield* Broker.make<string>()
      const publishError = (topic: string) => Effect.flip(Broker.publish(broker, topic, "x"))
      const subscribeError = (topic: string, options?: Broker.SubscribeOptions) =>
        Effect.flip(Broker.subscribe(broker, topic, options))
      assert.strictEqual((yield* publishError(""))._tag, "InvalidTopic")
      assert.strictEqual((yield* publishError("")).message, 'invalid topic "": a topic is a non-empty string')
      assert.include((yield* publishError("a..b")).message, "segment 2 is empty")
      assert.include((yield* publishError("a.")).message, "segment 2 is empty")
      assert.include((yield* publishError("a.>")).message, "for subscriptions only")
      assert.include((yield* subscribeError("a.b*")).message, 'not part of "b*"')
      assert.include((yield* subscribeError("a.>.b")).message, "must be the last segment")
      assert.include((yield* subscribeError(".a")).message, "segment 1 is empty")
      const capacity = yield* subscribeError("jobs", { capacity: 0, address: "w" })
      assert.strictEqual(capacity._tag, "InvalidSubscription")
      assert.strictEqual(
        capacity.message,
        'invalid subscription of "w" to "jobs": capacity 0 is not a positive integer'
      )
      assert.include((yield* subscribeError("jobs", { capacity: Infinity })).message, "capacity Infinity")
      assert.include((yield* subscribeError("jobs", { capacity: 1.5 })).message, "capacity 1.5")
      assert.include(
        (yield* subscribeError("jobs", { overflow: "suspend" as any })).message,
        'overflow "suspend"'
      )
      assert.include((yield* subscribeError("jobs", { address: "" })).message, "non-empty")
      // Nothing was subscribed by the failed attempts.
      assert.strictEqual(yield* Broker.publish(broker, "jobs", "x"), 0)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "publishFrom stamps the actor's address and the causation; the envelope is shared and frozen",
    () =>
      Effect.gen(function* () {
        const trace = Tracer.memory()
        const handled = yield* Deferred.make<string>()
        const broker = yield* Broker.make<string>().pipe(
          Effect.provideService(Tracer.CurrentTracer, trace.tracer)
        )
        const a = yield* Broker.subscribe(broker, "plans.*")
        const b = yield* Broker.subscribe(broker, "plans.ready")
        const planner = yield* Actor.make<string>("planner", (message, context) =>
          Effect.andThen(
            Deferred.succeed(handled, message.id),
            Broker.publishFrom(context, broker, "plans.ready", `plan for ${message.payload}`, {
              correlationId: "round-1"
            })
          )
        )
        yield* Actor.send(planner, "retries")
        const fromA = yield* Mailbox.take(a.mailbox)
        const fromB = yield* Mailbox.take(b.mailbox)
        assert.strictEqual(fromA, fromB, "one envelope per publish, shared by its subscribers")
        assert.isTrue(Object.isFrozen(fromA))
        assert.strictEqual(fromA.from, "planner")
        assert.strictEqual(fromA.to, "plans.ready")
        assert.strictEqual(fromA.causationId, yield* Deferred.await(handled))
        assert.strictEqual(fromA.correlationId, "round-1")
        assert.strictEqual(fromA.payload, "plan for retries")
        const published = trace.events.find((e) => e.kind === "broker.publish")!
        assert.strictEqual(published.actor, "planner")
        assert.strictEqual(published.causationId, fromA.causationId)
        assert.strictEqual(published.correlationId, "round-1")
        assert.deepStrictEqual(
          trace.events.filter((e) => e.kind === "broker.deliver").map((e) => [e.actor, e.messageId]),
          [
            [b.address, fromA.id],
            [a.address, fromA.id]
          ]
        )
      }).pipe(Effect.scoped, Effect.provide(Actor.layer))
  )

  it.effect("a subscription is a Select case", () =>
    Effect.gen(function* () {
      const broker = yield* Broker.make<string>()
      const alerts = yield* Broker.subscribe(broker, "alerts")
      const chatter = yield* Broker.subscribe(broker, "chatter")
      const selecting = yield* Effect.forkChild(
        Select.select(
          Select.receive(alerts.mailbox, (m) => Effect.succeed(`alert: ${m.payload}`)),
          Select.receive(chatter.mailbox, (m) => Effect.succeed(`chatter: ${m.payload}`))
        )
      )
      yield* yields(2)
      assert.isUndefined(selecting.pollUnsafe())
      yield* Broker.publish(broker, "chatter", "hi")
      assert.strictEqual(yield* Fiber.join(selecting), "chatter: hi")
      assert.strictEqual(yield* Mailbox.size(alerts.mailbox), 0)
    }).pipe(Effect.scoped)
  )

  it.effect.prop(
    "every copy published while subscribed is received once in order or dead-lettered, never both, never lost",
    {
      subscribers: Schema.Array(
        Schema.Struct({
          capacity: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 8 })),
          // Yields between takes; -1 is a subscriber that never takes.
          pace: Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 3 })),
          dropOldest: Schema.Boolean,
          wildcard: Schema.Boolean,
          subscribeAt: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 16 })),
          // Steps subscribed; past the end it stays until the run ends.
          stays: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 40 })),
          // The consumer is interrupted after this many takes (never when negative).
          interruptAfter: Schema.Int.check(Schema.isBetween({ minimum: -12, maximum: 6 }))
        })
      ).check(Schema.isBetweenLength(1, 6)),
      publishes: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 })),
      gaps: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))).check(
        Schema.isBetweenLength(1, 8)
      ),
      opsBeforeYield: Schema.Int.check(Schema.isBetween({ minimum: 3, maximum: 32 }))
    },
    ({ subscribers, publishes, gaps, opsBeforeYield }) =>
      Effect.gen(function* () {
        const sink = DeadLetter.collect()
        // Under the harness, the broker's publishes, deliveries and dead letters and the consumers' takes
        // (`Select.receive` traces them) land in one trace, which the kit checks with `brokerCopies`.
        const { events, exit } = yield* Harness.run(
          Effect.gen(function* () {
            const broker = yield* Broker.make<number>()
            const state = subscribers.map((spec, s) => ({
              spec,
              address: `s${s}`,
              scope: undefined as Scope.Closeable | undefined,
              consumer: undefined as Fiber.Fiber<void> | undefined,
              window: [] as Array<number>,
              received: [] as Array<number>
            }))
            let delivered = 0
            const unsubscribe = (sub: (typeof state)[number]) =>
              Effect.suspend(() => {
                const scope = sub.scope
                sub.scope = undefined
                return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
              })
            // One driver does every subscribe, unsubscribe and publish, so "published while subscribed" is exactly
            // the order of its steps; consumers run concurrently, preempted every `opsBeforeYield` operations.
            for (let t = 0; t <= publishes; t++) {
              for (const sub of state) {
                const { spec } = sub
                if (t === spec.subscribeAt) {
                  const scope = yield* Scope.make()
                  sub.scope = scope
                  const subscription = yield* Broker.subscribe(
                    broker,
                    spec.wildcard ? "topic.*" : "topic.x",
                    {
                      capacity: spec.capacity,
                      overflow: spec.dropOldest ? "drop-oldest" : "dead-letter",
                      address: sub.address
                    }
                  ).pipe(Scope.provide(scope), Effect.provideService(DeadLetter.DeadLetters, sink))
                  if (spec.pace >= 0) {
                    let taken = 0
                    const take = Select.select(
                      Select.receive(subscription.mailbox, (m) =>
                        Effect.sync(() => {
                          sub.received.push(m.payload)
                          taken++
                        })
                      )
                    )
                    const consumer = yield* Effect.forkChild(
                      Effect.forever(Effect.andThen(take, yields(spec.pace))).pipe(
                        Effect.catchTag("SelectNoLiveCase", () => Effect.void)
                      )
                    )
                    sub.consumer = consumer
                    if (spec.interruptAfter >= 0) {
                      const target = spec.interruptAfter
                      yield* Effect.forkChild(
                        Effect.andThen(
                          Effect.whileLoop({
                            while: () => taken < target && consumer.pollUnsafe() === undefined,
                            body: () => Effect.yieldNow,
                            step: () => {}
                          }),
                          Effect.andThen(
                            Fiber.interrupt(consumer),
                            Effect.sync(() => void stats.interrupted++)
                          )
                        )
                      )
                    }
                  }
                }
                if (sub.scope !== undefined && t === spec.subscribeAt + spec.stays) {
                  yield* unsubscribe(sub)
                }
              }
              if (t === publishes) break
              // Every third message goes to a topic only the wildcard subscribers see.
              const topic = t % 3 === 2 ? "topic.y" : "topic.x"
              for (const sub of state) {
                if (sub.scope !== undefined && (sub.spec.wildcard || topic === "topic.x")) sub.window.push(t)
              }
              delivered += yield* Broker.publish(broker, topic, t)
              yield* yields(gaps[t % gaps.length])
            }
            yield* yields(gaps[0])
            for (const sub of state) yield* unsubscribe(sub)
            // A consumer ends when its mailbox is shut down and empty (or was interrupted).
            for (const sub of state) if (sub.consumer !== undefined) yield* Fiber.await(sub.consumer)

            let overflowRefused = 0
            for (const sub of state) {
              const dead = sink.letters.filter((letter) => letter.mailbox === sub.address)
              const deadPayloads = dead.map((letter) => (letter.message as Envelope<number>).payload)
              for (let i = 1; i < sub.received.length; i++) {
                assert.isBelow(
                  sub.received[i - 1],
                  sub.received[i],
                  `${sub.address} receives in publish order, once`
                )
              }
              assert.isTrue(
                dead.every((letter) => letter.reason === "overflow" || letter.reason === "closed"),
                "only overflow and closed"
              )
              const accounted = [...sub.received, ...deadPayloads].sort((a, b) => a - b)
              assert.deepStrictEqual(
                accounted,
                sub.window,
                `${sub.address}: each copy received or dead-lettered, once`
              )
              const overflowed = dead.filter((letter) => letter.reason === "overflow")
              if (!sub.spec.dropOldest) overflowRefused += overflowed.length
              if (sub.spec.pace < 0) {
                // Nobody takes: the queue holds the first `capacity` copies (or the last, dropping the oldest).
                const cap = sub.spec.capacity
                const w = sub.window
                const kept = sub.spec.dropOldest ? w.slice(Math.max(0, w.length - cap)) : w.slice(0, cap)
                assert.deepStrictEqual(payloads(dead, sub.address, "closed"), kept)
              }
              stats.received += sub.received.length
              stats.overflow += overflowed.length
              stats.closed += dead.length - overflowed.length
            }
            // The count publish returns is the copies queued: every copy except those refused on overflow.
            const copies = state.reduce((n, sub) => n + sub.window.length, 0)
            assert.strictEqual(delivered, copies - overflowRefused)
            assert.strictEqual(yield* Broker.publish(broker, "topic.x", -1), 0)
            return delivered
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, opsBeforeYield))
        )
        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause) // an assertion above failed
        const delivered = exit.value
        // Every copy has exactly one fate: taken once, or dead-lettered once (checked by the kit).
        assert.deepStrictEqual(Invariants.brokerCopies(events), [])
        // The trace: one publish each (and the last one, to nobody), a delivery per accepted copy, and every dead
        // letter with its overflow.
        const count = (kind: Tracer.Kind) => events.filter((e) => e.kind === kind).length
        assert.strictEqual(count("broker.publish"), publishes + 1)
        assert.strictEqual(count("broker.deliver"), delivered)
        assert.strictEqual(count("dead-letter"), sink.letters.length)
        assert.strictEqual(
          count("broker.overflow"),
          sink.letters.filter((l) => l.reason === "overflow").length
        )
        stats.runs++
      }),
    Check.propOptions({ runs: 500 })
  )

  it("the property test exercised overflow, closing, interruption and delivery", () => {
    assert.isAtLeast(stats.runs, 200)
    assert.isAbove(stats.received, 0)
    assert.isAbove(stats.overflow, 0)
    assert.isAbove(stats.closed, 0)
    assert.isAbove(stats.interrupted, 0)
  })
})
