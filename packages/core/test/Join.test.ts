import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Actor from "../src/Actor.ts"
import * as Envelope from "../src/Envelope.ts"
import * as Join from "../src/Join.ts"
import * as Tracer from "../src/Tracer.ts"
import * as envelope from "../src/internal/envelope.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

/** A tracer whose timestamps come from the test's Clock. */
const testTracer = Effect.gen(function* () {
  const clock = yield* Clock.Clock
  return Tracer.memory(() => clock.currentTimeMillisUnsafe())
})

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

// -----------------------------------------------------------------------------
// a reference model of the round table, stepped at the same Clock times as the join
// -----------------------------------------------------------------------------

type Outcome =
  | { readonly _tag: "accepted"; readonly generation: number }
  | { readonly _tag: "completed"; readonly generation: number }
  | { readonly _tag: "DuplicatePart" }
  | { readonly _tag: "UnexpectedSender" }
  | { readonly _tag: "RoundClosed"; readonly state: "completed" | "expired" }

interface ModelRound {
  readonly generation: number
  status: "open" | "completed" | "expired"
  readonly deadline: number
  forgetAt: number
  readonly senders: Set<string>
  readonly values: Array<number>
}

const makeModel = (config: {
  readonly quorum: number
  readonly timeout: number
  readonly retain: number
  readonly expected: ReadonlySet<string> | undefined
}) => {
  const rounds = new Map<string, ModelRound>()
  const generations: Array<ModelRound> = []
  const touch = (id: string, now: number) => {
    const round = rounds.get(id)
    if (round === undefined) return undefined
    if (round.status === "open" && now >= round.deadline) {
      round.status = "expired"
      round.forgetAt = round.deadline + config.retain
    }
    if (round.status !== "open" && now >= round.forgetAt) {
      rounds.delete(id)
      return undefined
    }
    return round
  }
  const open = (id: string, now: number) => {
    const round: ModelRound = {
      generation: generations.length,
      status: "open",
      deadline: now + config.timeout,
      forgetAt: Infinity,
      senders: new Set(),
      values: []
    }
    generations.push(round)
    rounds.set(id, round)
    return round
  }
  return {
    generations,
    offer: (id: string, from: string, value: number, now: number): Outcome => {
      if (config.expected !== undefined && !config.expected.has(from)) return { _tag: "UnexpectedSender" }
      const found = touch(id, now)
      if (found !== undefined && found.status !== "open") return { _tag: "RoundClosed", state: found.status }
      const round = found ?? open(id, now)
      if (round.senders.has(from)) return { _tag: "DuplicatePart" }
      round.senders.add(from)
      round.values.push(value)
      if (round.values.length >= config.quorum) {
        round.status = "completed"
        round.forgetAt = now + config.retain
        return { _tag: "completed", generation: round.generation }
      }
      return { _tag: "accepted", generation: round.generation }
    },
    await: (id: string, now: number): ModelRound => touch(id, now) ?? open(id, now),
    finish: (now: number) => {
      for (const id of rounds.keys()) touch(id, now)
    }
  }
}

const invalid = (options: Join.Options) => Effect.flip(Effect.scoped(Join.make<number>(options)))

const Step = Schema.Struct({
  kind: Schema.Literals(["offer", "offer", "offer", "await"]),
  round: Int(0, 3),
  sender: Int(0, 4),
  at: Int(0, 60)
})

describe("Join", () => {
  it.effect.prop(
    "random arrivals, duplicates and timeouts: each round ends once, every accepted part is in exactly one completed round or its round expired, nothing is left",
    {
      senders: Int(1, 4),
      quorumSeed: Int(0, 3),
      named: Schema.Boolean,
      timeout: Int(1, 20),
      retain: Int(-1, 20),
      steps: Schema.Array(Step).check(Schema.isBetweenLength(0, 40))
    },
    ({ senders, quorumSeed, named, timeout, retain, steps }) =>
      Effect.gen(function* () {
        const quorum = 1 + (quorumSeed % senders)
        const names = Array.from({ length: senders }, (_, i) => `s${i}`)
        const retainMillis = retain < 0 ? timeout : retain
        const trace = yield* testTracer
        const scope = yield* Scope.make()
        const join = yield* Join.make<number>({
          parts: named ? names : senders,
          quorum,
          timeout: Duration.millis(timeout),
          ...(retain < 0 ? {} : { retain: Duration.millis(retain) })
        }).pipe(Scope.provide(scope), Effect.provideService(Tracer.CurrentTracer, trace.tracer))
        const model = makeModel({
          quorum,
          timeout,
          retain: retainMillis,
          expected: named ? new Set(names) : undefined
        })

        const ordered = steps.map((step, index) => ({ ...step, index })).sort((a, b) => a.at - b.at)
        const completedRounds: Array<{ readonly generation: number; readonly round: Join.Round<number> }> = []
        const accepted: Array<{ readonly value: number; readonly generation: number }> = []
        const awaiters: Array<{
          readonly generation: number
          readonly fiber: Fiber.Fiber<Join.Round<number>, Join.RoundExpired>
        }> = []
        let now = 0
        for (const step of ordered) {
          if (step.at > now) {
            yield* TestClock.adjust(Duration.millis(step.at - now))
            now = step.at
          }
          const id = `round-${step.round}`
          if (step.kind === "await") {
            const generation = model.await(id, now).generation
            const fiber = yield* Effect.forkChild(Join.await(join, id), { startImmediately: true })
            awaiters.push({ generation, fiber })
            continue
          }
          const from = `s${step.sender}`
          const expected = model.offer(id, from, step.index, now)
          const exit = yield* Effect.exit(Join.offer(join, { correlationId: id, from, value: step.index }))
          if (expected._tag === "accepted" || expected._tag === "completed") {
            assert.isTrue(Exit.isSuccess(exit), `part ${step.index} from ${from} at ${now} was refused`)
            if (Exit.isFailure(exit)) continue
            accepted.push({ value: step.index, generation: expected.generation })
            const result = exit.value
            assert.strictEqual(
              Option.isSome(result),
              expected._tag === "completed",
              "completes exactly at quorum"
            )
            if (Option.isSome(result))
              completedRounds.push({ generation: expected.generation, round: result.value })
          } else {
            assert.isTrue(Exit.isFailure(exit), `part ${step.index} should be refused with ${expected._tag}`)
            const error = yield* Effect.flip(exit)
            assert.strictEqual(error._tag, expected._tag)
            if (error._tag === "RoundClosed" && expected._tag === "RoundClosed") {
              assert.strictEqual(error.state, expected.state)
            }
            if (error._tag === "DuplicatePart" || error._tag === "RoundClosed") {
              assert.strictEqual(error.correlationId, id)
              assert.strictEqual(error.from, from)
            }
          }
        }

        // Let every round expire and every closed round be forgotten.
        yield* TestClock.adjust(Duration.millis(timeout + retainMillis + 1))
        now += timeout + retainMillis + 1
        model.finish(now)

        // No round completes twice, and the completed ones are exactly the model's.
        const completedGenerations = completedRounds.map((c) => c.generation)
        assert.strictEqual(
          new Set(completedGenerations).size,
          completedGenerations.length,
          "a round completed twice"
        )
        const modelCompleted = model.generations.filter((r) => r.status === "completed")
        assert.deepStrictEqual(
          [...completedGenerations].sort((x, y) => x - y),
          modelCompleted.map((r) => r.generation)
        )
        for (const { generation, round } of completedRounds) {
          assert.deepStrictEqual(round.values, model.generations[generation].values, "parts in arrival order")
          assert.strictEqual(round.parts.length, quorum)
          assert.strictEqual(new Set(round.parts.map((p) => p.from)).size, quorum, "one part per sender")
        }
        // Every accepted part is in exactly one completed round, or its round expired.
        for (const { value, generation } of accepted) {
          const holders = completedRounds.filter((c) => c.round.values.includes(value))
          if (model.generations[generation].status === "completed") {
            assert.strictEqual(holders.length, 1, `part ${value} is in ${holders.length} completed rounds`)
          } else {
            assert.strictEqual(model.generations[generation].status, "expired")
            assert.strictEqual(holders.length, 0)
          }
        }
        // Awaiters see their round's outcome.
        for (const { generation, fiber } of awaiters) {
          const exit = yield* Fiber.await(fiber)
          const round = model.generations[generation]
          if (round.status === "completed") {
            assert.isTrue(Exit.isSuccess(exit))
            if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value.values, round.values)
          } else {
            const error = yield* Effect.flip(exit)
            assert.strictEqual(error._tag, "RoundExpired")
            assert.strictEqual(error.received, round.values.length)
          }
        }
        // Abandoned rounds are collected: nothing open, nothing remembered.
        assert.strictEqual(yield* Join.size(join), 0, "open rounds left behind")
        assert.strictEqual(yield* Join.retained(join), 0, "closed rounds never forgotten")
        // The trace tells the same story: checked by the kit (each round takes one part per sender, ends once,
        // with exactly the parts it accepted), and counted.
        assert.deepStrictEqual(Invariants.seqIncreases(trace.events), [])
        assert.deepStrictEqual(Invariants.joinRounds(trace.events), [])
        const count = (kind: Tracer.Kind) => trace.events.filter((e) => e.kind === kind).length
        assert.strictEqual(count("join.complete"), modelCompleted.length)
        assert.strictEqual(
          count("join.expire"),
          model.generations.filter((r) => r.status === "expired").length
        )
        assert.strictEqual(
          trace.events.filter((e) => e.kind === "join.part" && e.data?.rejected === undefined).length,
          accepted.length
        )
        yield* Scope.close(scope, Exit.void)
      }),
    Check.propOptions()
  )

  it.effect.prop(
    "the actor form: every round ends exactly once (complete or expire) and every part is counted, refused or expired",
    {
      workers: Int(1, 4),
      quorumSeed: Int(0, 3),
      timeout: Int(2, 20),
      sends: Schema.Array(Schema.Struct({ worker: Int(0, 3), round: Int(0, 3), at: Int(0, 40) })).check(
        Schema.isBetweenLength(0, 30)
      )
    },
    ({ workers, quorumSeed, timeout, sends }) =>
      Effect.gen(function* () {
        // Under the harness every message is traced: the kit checks that none is lost or duplicated, that
        // causes come first, that no actor outlives the scope, and that every round is joined right.
        const { events, exit } = yield* Harness.run(
          Effect.gen(function* () {
            const quorum = 1 + (quorumSeed % workers)
            const completed: Array<Join.Round<number>> = []
            const expired: Array<Join.RoundExpired> = []
            const rejected: Array<Join.OfferError | Join.MissingCorrelationId> = []
            const scope = yield* Scope.make()
            const gather = yield* Join.actor<number>("gather", {
              parts: workers,
              quorum,
              timeout: Duration.millis(timeout),
              retain: Duration.millis(1000),
              onComplete: (round) => Effect.sync(() => void completed.push(round)),
              onExpire: (error) => Effect.sync(() => void expired.push(error)),
              onReject: (error) => Effect.sync(() => void rejected.push(error))
            }).pipe(Scope.provide(scope))
            // Workers forward what they are told to the gatherer: `from` is stamped with their own address.
            const refs = yield* Effect.forEach(Array.from({ length: workers }), (_, i) =>
              Actor.make<{ readonly round: string; readonly value: number }>(`w${i}`, (message, context) =>
                context.send(gather, message.payload.value, { correlationId: message.payload.round })
              ).pipe(Scope.provide(scope))
            )
            const ordered = sends
              .map((send, index) => ({ ...send, worker: send.worker % workers, index }))
              .sort((a, b) => a.at - b.at)
            let now = 0
            for (const send of ordered) {
              if (send.at > now) {
                yield* TestClock.adjust(Duration.millis(send.at - now))
                now = send.at
              }
              yield* Actor.send(refs[send.worker], { round: `r${send.round}`, value: send.index })
              yield* settle
            }
            yield* TestClock.adjust(Duration.millis(timeout + 1001))
            yield* settle

            const ended = [...completed.map((r) => r.correlationId), ...expired.map((e) => e.correlationId)]
            assert.strictEqual(new Set(ended).size, ended.length, "a round ended twice")
            const touched = new Set(ordered.map((s) => `r${s.round}`))
            assert.deepStrictEqual([...ended].sort(), [...touched].sort(), "every round touched ended")
            for (const round of completed) {
              assert.strictEqual(round.parts.length, quorum)
              assert.strictEqual(new Set(round.parts.map((p) => p.from)).size, quorum)
              for (const part of round.parts)
                assert.strictEqual(part.from, `w${ordered.find((s) => s.index === part.value)!.worker}`)
            }
            for (const error of rejected) assert.oneOf(error._tag, ["DuplicatePart", "RoundClosed"])
            const counted =
              completed.reduce((n, r) => n + r.parts.length, 0) + expired.reduce((n, e) => n + e.received, 0)
            assert.strictEqual(counted + rejected.length, ordered.length, "every part is accounted for")
            yield* Scope.close(scope, Exit.void)
          })
        )
        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause) // an assertion above failed
        assert.deepStrictEqual(Invariants.all(events), [])
        assert.deepStrictEqual(Invariants.joinRounds(events), [])
        // Every part reached the join: accepted or refused, each is traced.
        assert.strictEqual(events.filter((e) => e.kind === "join.part").length, sends.length)
      }),
    Check.propOptions()
  )

  it.effect("a sender's second part in a round is refused with DuplicatePart and not counted", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<string>({ parts: 2, timeout: "1 minute", name: "review" })
      yield* Join.offer(join, { correlationId: "r-1", from: "alice", value: "yes" })
      const error = yield* Effect.flip(Join.offer(join, { correlationId: "r-1", from: "alice", value: "no" }))
      assert.instanceOf(error, Join.DuplicatePart)
      assert.strictEqual(
        error.message,
        `round "r-1" of join "review" already has a part from "alice": the duplicate was not counted`
      )
      const round = yield* Join.offer(join, { correlationId: "r-1", from: "bob", value: "no" })
      assert.deepStrictEqual(Option.getOrThrow(round).values, ["yes", "no"])
    })
  )

  it.effect("a part for a completed round fails with RoundClosed; await still returns the round", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<number>({ parts: 1, timeout: "1 minute" })
      yield* Join.offer(join, { correlationId: "r", from: "a", value: 1 })
      const error = yield* Effect.flip(Join.offer(join, { correlationId: "r", from: "b", value: 2 }))
      assert.instanceOf(error, Join.RoundClosed)
      if (error._tag !== "RoundClosed") return
      assert.strictEqual(error.state, "completed")
      assert.include(error.message, `round "r"`)
      assert.include(error.message, `"b"`)
      assert.deepStrictEqual((yield* Join.await(join, "r")).values, [1])
    })
  )

  it.effect("a round that times out fails its awaiters with RoundExpired naming the missing senders", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<number>({ parts: ["alice", "bob", "carol"], timeout: "10 seconds" })
      const waiter = yield* Effect.forkChild(Join.await(join, "r"), { startImmediately: true })
      yield* Join.offer(join, { correlationId: "r", from: "bob", value: 1 })
      yield* TestClock.adjust("9999 millis")
      assert.isUndefined(waiter.pollUnsafe(), "still open just before the deadline")
      assert.strictEqual(yield* Join.size(join), 1)
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(waiter))
      assert.instanceOf(error, Join.RoundExpired)
      assert.deepStrictEqual([error.received, error.needed, error.millis], [1, 3, 10_000])
      assert.deepStrictEqual(error.missing, ["alice", "carol"])
      assert.include(error.message, `round "r"`)
      assert.strictEqual(yield* Join.size(join), 0)
      const late = yield* Effect.flip(Join.offer(join, { correlationId: "r", from: "alice", value: 2 }))
      assert.strictEqual(late._tag, "RoundClosed")
      if (late._tag === "RoundClosed") assert.strictEqual(late.state, "expired")
      // Remembered for `retain` (the timeout by default), then forgotten.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Join.retained(join), 0)
    })
  )

  it.effect("abandoned rounds are collected: the round table empties once the timeout passes", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<number>({ parts: 3, timeout: "1 second", retain: "0 millis" })
      for (let i = 0; i < 1000; i++) yield* Join.offer(join, { correlationId: `r-${i}`, from: "a", value: i })
      assert.strictEqual(yield* Join.size(join), 1000)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Join.size(join), 0)
      assert.strictEqual(yield* Join.retained(join), 0)
    })
  )

  it.effect("an unexpected sender is refused with UnexpectedSender and opens no round", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<number>({ parts: ["alice", "bob"], timeout: "1 minute", name: "votes" })
      const error = yield* Effect.flip(Join.offer(join, { correlationId: "r", from: "eve", value: 1 }))
      assert.instanceOf(error, Join.UnexpectedSender)
      assert.strictEqual(
        error.message,
        `"eve" is not an expected sender of round "r" of join "votes" (expected: "alice", "bob")`
      )
      assert.strictEqual(yield* Join.size(join), 0)
    })
  )

  it.effect("envelopes join by correlationId and from; one without a correlationId fails", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<string>({ parts: 2, timeout: "1 minute" })
      const now = yield* Clock.currentTimeMillis
      const a = envelope.make("alice", "join", "A", now, undefined, "job")
      const b = envelope.make("bob", "join", "B", now, undefined, "job")
      assert.isTrue(Option.isNone(yield* Join.offer(join, a)))
      const round = Option.getOrThrow(yield* join.pipe(Join.offer(b)))
      assert.deepStrictEqual(
        round.parts.map((p) => [p.from, p.value, p.messageId]),
        [
          ["alice", "A", a.id],
          ["bob", "B", b.id]
        ]
      )
      assert.strictEqual(round.bySender.get("bob"), "B")
      const loose: Envelope.Envelope<string> = envelope.make("carol", "join", "C", now, undefined, undefined)
      const error = yield* Effect.flip(Join.offer(join, loose))
      assert.instanceOf(error, Join.MissingCorrelationId)
      assert.include(error.message, loose.id)
    })
  )

  it.effect("a quorum completes at its k-th distinct sender and refuses later parts", () =>
    Effect.gen(function* () {
      const join = yield* Join.make<number>({ parts: 3, quorum: 2, timeout: "1 minute" })
      yield* Join.offer(join, { correlationId: "q", from: "a", value: 1 })
      yield* Effect.flip(Join.offer(join, { correlationId: "q", from: "a", value: 9 }))
      const round = yield* Join.offer(join, { correlationId: "q", from: "c", value: 3 })
      assert.deepStrictEqual(Option.getOrThrow(round).values, [1, 3])
      const late = yield* Effect.flip(Join.offer(join, { correlationId: "q", from: "b", value: 2 }))
      assert.strictEqual(late._tag, "RoundClosed")
    })
  )

  it.effect("invalid options fail with JoinInvalid", () =>
    Effect.gen(function* () {
      const cases: Array<readonly [Join.Options, string]> = [
        [{ parts: 0, timeout: "1 second" }, "parts"],
        [{ parts: 1.5, timeout: "1 second" }, "parts"],
        [{ parts: ["a", "a"], timeout: "1 second" }, "parts"],
        [{ parts: 2, quorum: 0, timeout: "1 second" }, "quorum"],
        [{ parts: 2, quorum: 3, timeout: "1 second" }, "quorum"],
        [{ parts: 2, timeout: "0 millis" }, "timeout"],
        [{ parts: 2, timeout: Duration.infinity }, "timeout"],
        [{ parts: 2, timeout: "1 second", retain: Duration.infinity }, "retain"]
      ]
      for (const [options, option] of cases) {
        const error = yield* invalid(options)
        assert.instanceOf(error, Join.JoinInvalid)
        assert.strictEqual(error.option, option)
        assert.include(error.message, `"${option}"`)
      }
    })
  )

  it.effect("closing the join's scope interrupts awaiters and closes it to new parts", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const join = yield* Join.make<number>({ parts: 2, timeout: "1 minute" }).pipe(Scope.provide(scope))
      yield* Join.offer(join, { correlationId: "r", from: "a", value: 1 })
      const waiter = yield* Effect.forkChild(Join.await(join, "r"), { startImmediately: true })
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(waiter)
      assert.isTrue(Exit.hasInterrupts(exit))
      assert.strictEqual(yield* Join.size(join), 0)
      const error = yield* Effect.flip(Join.offer(join, { correlationId: "r", from: "b", value: 2 }))
      assert.strictEqual(error._tag, "RoundClosed")
      if (error._tag === "RoundClosed") assert.strictEqual(error.state, "shut down")
    })
  )

  it.effect("traces join.part (actor = sender), join.complete and join.expire with small data", () =>
    Effect.gen(function* () {
      const trace = yield* testTracer
      const join = yield* Join.make<number>({ parts: 2, timeout: "1 second", name: "j" }).pipe(
        Effect.provideService(Tracer.CurrentTracer, trace.tracer)
      )
      yield* Join.offer(join, { correlationId: "done", from: "a", value: 1, messageId: "m-1" })
      yield* Join.offer(join, { correlationId: "done", from: "b", value: 2 })
      yield* Join.offer(join, { correlationId: "late", from: "a", value: 3 })
      yield* Effect.flip(Join.offer(join, { correlationId: "late", from: "a", value: 4 }))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(
        trace.events.map((e) => [e.kind, e.actor, e.correlationId]),
        [
          ["join.part", "a", "done"],
          ["join.part", "b", "done"],
          ["join.complete", "j", "done"],
          ["join.part", "a", "late"],
          ["join.part", "a", "late"],
          ["join.expire", "j", "late"]
        ]
      )
      assert.strictEqual(trace.events[0].messageId, "m-1")
      assert.deepStrictEqual(trace.events[2].data, { round: "done", parts: 2, expected: 2, millis: 0 })
      assert.deepStrictEqual(trace.events[4].data, { round: "late", rejected: "DuplicatePart" })
      assert.deepStrictEqual(trace.events[5].data, { round: "late", received: 1, needed: 2 })
      assert.strictEqual(trace.events[5].ts, 1000)
    })
  )

  it.effect("the actor form: from is the envelope's, so one actor cannot deliver two parts of a round", () =>
    Effect.gen(function* () {
      const rounds = yield* Deferred.make<Join.Round<string>>()
      const refused: Array<string> = []
      const gather = yield* Join.actor<string>("gather", {
        parts: 2,
        timeout: "1 minute",
        onComplete: (round) => Deferred.succeed(rounds, round),
        onReject: (error, message) => Effect.sync(() => void refused.push(`${error._tag}:${message.from}`))
      })
      // A worker that tries to send twice, pretending to be two senders, is still one sender.
      const cheat = yield* Actor.make<string>("cheat", (message, context) =>
        Effect.andThen(
          context.send(gather, `${message.payload}-1`, { correlationId: "job" }),
          context.send(gather, `${message.payload}-2`, { correlationId: "job" })
        )
      )
      const honest = yield* Actor.make<string>("honest", (message, context) =>
        context.send(gather, message.payload, { correlationId: "job" })
      )
      yield* Actor.send(cheat, "x")
      yield* settle
      assert.deepStrictEqual(refused, ["DuplicatePart:cheat"])
      assert.isFalse(yield* Deferred.isDone(rounds))
      yield* Actor.send(honest, "y")
      const round = yield* Deferred.await(rounds)
      assert.deepStrictEqual(
        round.parts.map((p) => `${p.from}=${p.value}`),
        ["cheat=x-1", "honest=y"]
      )
      // No correlation id: refused, not joined.
      yield* Actor.send(gather, "loose")
      yield* settle
      assert.deepStrictEqual(refused, ["DuplicatePart:cheat", `MissingCorrelationId:${Envelope.external}`])
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("the actor form: an expired round reaches onExpire, in the actor", () =>
    Effect.gen(function* () {
      const expired = yield* Deferred.make<Join.RoundExpired>()
      const completed: Array<string> = []
      const gather = yield* Join.actor<string>("gather", {
        parts: 2,
        timeout: "5 seconds",
        onComplete: (round) => Effect.sync(() => void completed.push(round.correlationId)),
        onExpire: (error) => Deferred.succeed(expired, error)
      })
      const worker = yield* Actor.make<string>("worker", (message, context) =>
        context.send(gather, message.payload, { correlationId: "job" })
      )
      yield* Actor.send(worker, "part")
      yield* settle
      yield* TestClock.adjust("5 seconds")
      const error = yield* Deferred.await(expired)
      assert.strictEqual(error.correlationId, "job")
      assert.strictEqual(error.join, "gather")
      assert.strictEqual(error.received, 1)
      assert.deepStrictEqual(completed, [])
    }).pipe(Effect.provide(Actor.layer))
  )
})
