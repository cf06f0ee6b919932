import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Scheduler, Schema } from "effect"
import { identity } from "effect/Function"
import { TestClock } from "effect/testing"
import type * as Envelope from "../src/Envelope.ts"
import * as Mailbox from "../src/Mailbox.ts"
import * as Quorum from "../src/Quorum.ts"
import * as Tracer from "../src/Tracer.ts"
import * as envelope from "../src/internal/envelope.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

class Boom extends Schema.TaggedError<Boom>()("Boom", { id: Schema.Number }) {
  override get message() {
    return `effect ${this.id} failed`
  }
}

const Spec = Schema.Struct({
  delay: Int(0, 5),
  outcome: Schema.Literals(["succeed", "succeed", "fail", "die", "hang"])
})

// The clean-up waits on a Deferred, not a sleep: TestClock's sleep does not hold inside a finalizer.
const slowCleanup = (release: Deferred.Deferred<void>, cleaned: { count: number }) =>
  Effect.never.pipe(
    Effect.onInterrupt(() =>
      Effect.andThen(
        Deferred.await(release),
        Effect.sync(() => void cleaned.count++)
      )
    )
  )

describe("Quorum.firstK", () => {
  it.effect.prop(
    "random delays and failures: exactly k results in completion order, or QuorumFailed; every unfinished effect is interrupted and awaited",
    {
      specs: Schema.Array(Spec).check(Schema.isBetweenLength(0, 8)),
      k: Int(0, 9),
      // 0 keeps Effect's default; 3 to 64 forces yields every few steps, even between an effect's last step
      // and its exit, so the order in which effects log their completion may differ from the order of their
      // exits (which is what firstK sees). The exact order is checked only with the default.
      opsBeforeYield: Int(0, 64).check(Schema.makeFilter((n) => n === 0 || n >= 3))
    },
    ({ specs, k, opsBeforeYield }) =>
      Effect.gen(function* () {
        const n = specs.length
        // What each effect did: started, finished (ok or not, in completion order), or was interrupted.
        const started = new Set<number>()
        const finished: Array<{ readonly id: number; readonly ok: boolean }> = []
        const interrupted = new Set<number>()
        // An effect's fate is read from its exit, which is what firstK sees: under forced yields an effect can
        // reach its last step and still be interrupted before it exits, and then it did not finish.
        const effects = specs.map((spec, id) =>
          Effect.gen(function* () {
            started.add(id)
            if (spec.delay > 0) yield* Effect.sleep(Duration.seconds(spec.delay))
            if (spec.outcome === "hang") return yield* Effect.never
            if (spec.outcome === "succeed") return id
            return yield* spec.outcome === "fail"
              ? Effect.fail(new Boom({ id }))
              : Effect.die(new Error(`defect ${id}`))
          }).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                if (Exit.hasInterrupts(exit)) interrupted.add(id)
                else finished.push({ id, ok: Exit.isSuccess(exit) })
              })
            )
          )
        )
        // The fates are read the moment firstK returns, before the fiber that ran it ends (a fiber's end
        // interrupts its children too, which would hide losers that firstK left running).
        const fiber = yield* Effect.forkChild(
          Effect.gen(function* () {
            const exit = yield* Effect.exit(Quorum.firstK(effects, k))
            return { exit, finished: [...finished], interrupted: new Set(interrupted) }
          })
        )
        for (let second = 0; second <= 6; second++) {
          yield* settle
          yield* TestClock.adjust("1 second")
        }
        const successes = specs.filter((s) => s.outcome === "succeed").length
        const failing = specs.filter((s) => s.outcome === "fail" || s.outcome === "die").length
        // Hanging effects never finish: with too few successes and too few failures, nothing is decided.
        const undecided = k > 0 && k <= n && successes < k && failing <= n - k
        let exit: Exit.Exit<Array<number>, Quorum.QuorumFailed>
        if (undecided) {
          assert.isUndefined(fiber.pollUnsafe(), "undecided, so still waiting")
          yield* Fiber.interrupt(fiber)
          exit = Exit.interrupt()
        } else {
          const result = yield* Fiber.join(fiber)
          exit = result.exit
          finished.splice(0, finished.length, ...result.finished)
          interrupted.clear()
          for (const id of result.interrupted) interrupted.add(id)
        }

        if (k > n || k === 0) {
          assert.strictEqual(started.size, 0, "nothing runs when the quorum is trivial or impossible")
          if (k === 0) assert.deepStrictEqual(exit, Exit.succeed([]))
          else assert.strictEqual((yield* Effect.flip(exit))._tag, "QuorumFailed")
          return
        }
        // When firstK returned, each effect had finished, been interrupted, or never been started: exactly one.
        for (let id = 0; id < n; id++) {
          const done = finished.some((f) => f.id === id)
          const fates = [done, interrupted.has(id), !started.has(id)].filter(Boolean).length
          assert.strictEqual(fates, 1, `effect ${id}: finished ${done}, interrupted ${interrupted.has(id)}`)
          if (specs[id].outcome === "hang" && started.has(id)) {
            assert.isTrue(interrupted.has(id), `hanging effect ${id} not interrupted`)
          }
        }
        // Effects start in order, each at once; the ones never started were made unnecessary by effects that
        // completed synchronously.
        const unstarted = specs.map((_, id) => id).filter((id) => !started.has(id))
        if (unstarted.length > 0) {
          assert.deepStrictEqual(unstarted, specs.map((_, id) => id).slice(n - unstarted.length), "a suffix")
          for (const f of finished) assert.strictEqual(specs[f.id].delay, 0)
        }
        // Completion order is delay order (TestClock wakes sleepers in time order).
        const delays = finished.map((f) => specs[f.id].delay)
        assert.deepStrictEqual(
          delays,
          [...delays].sort((a, b) => a - b)
        )

        if (undecided) {
          assert.isTrue(Exit.hasInterrupts(exit))
          assert.strictEqual(finished.length + interrupted.size, n, "interrupting firstK stopped them all")
        } else if (successes >= k) {
          assert.isTrue(Exit.isSuccess(exit), "enough effects succeed")
          if (Exit.isFailure(exit)) return
          const winners = exit.value
          assert.strictEqual(winners.length, k)
          assert.strictEqual(new Set(winners).size, k)
          for (const id of winners) assert.strictEqual(specs[id].outcome, "succeed")
          // The first k successes, in completion order.
          if (opsBeforeYield === 0) {
            assert.deepStrictEqual(
              winners,
              finished
                .filter((f) => f.ok)
                .slice(0, k)
                .map((f) => f.id)
            )
          }
          // Always: in time order, and no success that came strictly earlier than the k-th winner was passed over.
          const winnerDelays = winners.map((id) => specs[id].delay)
          assert.deepStrictEqual(
            winnerDelays,
            [...winnerDelays].sort((a, b) => a - b)
          )
          const decidedAt = winnerDelays[k - 1]
          specs.forEach((spec, id) => {
            if (spec.outcome === "succeed" && spec.delay < decidedAt) assert.include(winners, id)
          })
          // Nothing that could still finish before the k-th winner was cut short.
          for (const id of interrupted) {
            if (specs[id].outcome !== "hang") assert.isAtLeast(specs[id].delay, decidedAt)
          }
        } else {
          const error = yield* Effect.flip(exit)
          assert.strictEqual(error._tag, "QuorumFailed")
          // Decided at the first failure that made k successes impossible.
          assert.strictEqual(error.failures, n - k + 1)
          let failures = 0
          let successesBefore = 0
          for (const f of finished) {
            if (f.ok) successesBefore++
            else if (++failures === n - k + 1) break
          }
          if (opsBeforeYield === 0) assert.strictEqual(error.successes, successesBefore)
          assert.isBelow(error.successes, k)
          assert.strictEqual(error.causes.length, Math.min(10, n - k + 1))
          for (const cause of error.causes) assert.match(cause, /^(Boom: effect \d+ failed|defect \d+)$/)
        }
      }).pipe(
        opsBeforeYield === 0 ? identity : Effect.provideService(Scheduler.MaxOpsBeforeYield, opsBeforeYield)
      ),
    Check.propOptions()
  )

  it.effect("interrupting firstK interrupts and awaits every effect", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const cleaned = { count: 0 }
      const slow = slowCleanup(release, cleaned)
      let atReturn = -1
      const fiber = yield* Effect.forkChild(
        Quorum.firstK([slow, slow, slow], 2).pipe(
          Effect.onInterrupt(() => Effect.sync(() => (atReturn = cleaned.count)))
        )
      )
      yield* settle
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* settle
      assert.isUndefined(interrupting.pollUnsafe(), "firstK waits for its effects' clean-up")
      yield* Deferred.succeed(release, void 0)
      yield* Fiber.join(interrupting)
      assert.strictEqual(atReturn, 3, "every effect had cleaned up when firstK itself was done")
    })
  )

  it.effect("the losers' clean-up has finished when firstK returns", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const cleaned = { count: 0 }
      const loser = slowCleanup(release, cleaned)
      const fiber = yield* Effect.forkChild(
        Effect.map(Quorum.firstK([loser, loser, Effect.succeed("winner")], 1), (winners) => [
          winners,
          cleaned.count
        ])
      )
      yield* settle
      assert.isUndefined(fiber.pollUnsafe(), "the winner is known, but the losers are still cleaning up")
      yield* Deferred.succeed(release, void 0)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [["winner"], 2])
    })
  )

  it.effect("QuorumFailed names the quorum, the counts and the causes", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Quorum.firstK([Effect.fail(new Boom({ id: 1 })), Effect.succeed(1), Effect.die("crash")], 2)
      )
      assert.instanceOf(error, Quorum.QuorumFailed)
      assert.deepStrictEqual([error.k, error.n, error.successes, error.failures], [2, 3, 1, 2])
      assert.deepStrictEqual(error.causes, ["Boom: effect 1 failed", "crash"])
      assert.strictEqual(
        error.message,
        "quorum of 2 of 3 failed: 2 failed, so at most 1 can succeed (1 succeeded, 2 failed; causes: Boom: effect 1 failed | crash)"
      )
      const impossible = yield* Effect.flip(Quorum.firstK([Effect.succeed(1)], 2))
      assert.include(impossible.message, "2 successes are impossible from 1 effects")
      const invalid = yield* Effect.flip(Effect.succeed(1).pipe((e) => [e], Quorum.firstK(-1)))
      assert.include(invalid.message, "k must be an integer")
    })
  )

  it.effect("traces quorum.complete with the counts", () =>
    Effect.gen(function* () {
      const trace = Tracer.memory()
      yield* Quorum.firstK([Effect.never, Effect.fail("no"), Effect.succeed(1), Effect.succeed(2)], 1).pipe(
        Effect.provideService(Tracer.CurrentTracer, trace.tracer)
      )
      assert.deepStrictEqual(
        trace.events.map((e) => [e.kind, e.data]),
        [
          [
            "quorum.complete",
            { k: 1, n: 4, ok: true, successes: 1, failures: 1, interrupted: 1, notStarted: 1 }
          ]
        ]
      )
    })
  )
})

// -----------------------------------------------------------------------------
// collect: the message form
// -----------------------------------------------------------------------------

const Message = Schema.Struct({
  sender: Int(0, 4),
  otherRound: Schema.Boolean,
  at: Int(0, 30)
})

describe("Quorum.collect", () => {
  it.effect.prop(
    "completes at the k-th distinct sender's part, ignores repeats and other rounds, leaves later parts queued, times out otherwise",
    {
      n: Int(1, 4),
      kSeed: Int(0, 4),
      named: Schema.Boolean,
      timeout: Int(1, 30),
      messages: Schema.Array(Message).check(Schema.isBetweenLength(0, 25))
    },
    ({ n, kSeed, named, timeout, messages }) =>
      Effect.gen(function* () {
        // Under the harness, collect's parts and outcome are traced; the kit checks the round: one part per
        // sender, and it ends once with exactly the parts it counted.
        const { events, exit } = yield* Harness.run(
          Effect.gen(function* () {
            const k = kSeed % (n + 1)
            const names = Array.from({ length: n }, (_, i) => `s${i}`)
            const inbox = yield* Mailbox.make<Envelope.Envelope<number>>({ address: "inbox" })
            const ignored: Array<readonly [number, Quorum.Ignored]> = []
            const fiber = yield* Effect.forkChild(
              Quorum.collect(inbox, {
                correlationId: "vote",
                k,
                parts: named ? names : n,
                timeout: Duration.millis(timeout),
                onIgnored: (message, reason) =>
                  Effect.sync(() => void ignored.push([message.payload, reason]))
              }),
              { startImmediately: true }
            )
            const clock = yield* Clock.Clock
            const ordered = messages.map((m, index) => ({ ...m, index })).sort((a, b) => a.at - b.at)
            let now = 0
            for (const m of ordered) {
              if (m.at > now) {
                yield* TestClock.adjust(Duration.millis(m.at - now))
                now = m.at
              }
              const env = envelope.make(
                `s${m.sender}`,
                "inbox",
                m.index,
                clock.currentTimeMillisUnsafe(),
                undefined,
                m.otherRound ? "other" : "vote"
              )
              yield* Mailbox.offer(inbox, env)
              yield* settle
            }
            yield* TestClock.adjust(Duration.millis(timeout + 1))
            const exit = yield* Fiber.await(fiber)

            // The model: take messages in order until the k-th distinct counted sender, or the deadline.
            const counted: Array<number> = []
            const expectedIgnored: Array<readonly [number, Quorum.Ignored]> = []
            const senders = new Set<number>()
            let taken = 0
            for (const m of ordered) {
              if (counted.length >= k || m.at >= timeout) break
              taken++
              if (m.otherRound) expectedIgnored.push([m.index, "other round"])
              else if (named && m.sender >= n) expectedIgnored.push([m.index, "unexpected sender"])
              else if (senders.has(m.sender)) expectedIgnored.push([m.index, "duplicate"])
              else {
                senders.add(m.sender)
                counted.push(m.index)
              }
            }
            assert.deepStrictEqual(ignored, expectedIgnored)
            if (counted.length >= k) {
              assert.isTrue(Exit.isSuccess(exit), "the quorum was reached in time")
              if (Exit.isSuccess(exit)) {
                assert.deepStrictEqual(exit.value.values, counted)
                assert.strictEqual(new Set(exit.value.parts.map((p) => p.from)).size, k)
              }
            } else {
              const error = yield* Effect.flip(exit)
              assert.strictEqual(error._tag, "QuorumFailed")
              assert.strictEqual(error.successes, counted.length)
              assert.strictEqual(error.correlationId, "vote")
              assert.include(error.message, "timed out")
            }
            // What was not taken is still queued, for the mailbox's owner.
            assert.strictEqual(yield* Mailbox.size(inbox), ordered.length - taken)
            return taken
          })
        )
        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause) // an assertion above failed
        assert.deepStrictEqual(Invariants.joinRounds(events), [])
        // Every message collect took is traced as a part, counted or ignored, and the round's end once.
        assert.strictEqual(events.filter((e) => e.kind === "join.part").length, exit.value)
        assert.strictEqual(events.filter((e) => e.kind === "quorum.complete").length, 1)
      }),
    Check.propOptions()
  )

  it.effect("fails with QuorumFailed when the mailbox closes first", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<Envelope.Envelope<string>>({ address: "replies" })
      yield* Mailbox.offer(inbox, envelope.make("a", "replies", "yes", 0, undefined, "r"))
      yield* Mailbox.close(inbox, "done")
      const error = yield* Effect.flip(
        Quorum.collect(inbox, { correlationId: "r", k: 2, parts: 3, timeout: "1 minute" })
      )
      assert.strictEqual(error.successes, 1)
      assert.strictEqual(
        error.message,
        `quorum of 2 of 3 for round "r" failed: the mailbox closed first (1 succeeded, 0 failed; causes: mailbox "replies" is closed (done))`
      )
    })
  )

  it.effect("k out of range fails with QuorumFailed at once", () =>
    Effect.gen(function* () {
      const inbox = yield* Mailbox.make<Envelope.Envelope<string>>()
      const error = yield* Effect.flip(
        Quorum.collect(inbox, { correlationId: "r", k: 4, parts: 3, timeout: "1 minute" })
      )
      assert.include(error.message, "k must be an integer from 0 to 3")
    })
  )

  it.effect("traces each counted part and quorum.complete", () =>
    Effect.gen(function* () {
      const trace = Tracer.memory()
      const inbox = yield* Mailbox.make<Envelope.Envelope<string>>({ address: "replies" })
      const first = envelope.make("a", "replies", "yes", 0, undefined, "r")
      yield* Mailbox.offer(inbox, first)
      yield* Mailbox.offer(inbox, envelope.make("a", "replies", "again", 0, undefined, "r"))
      yield* Mailbox.offer(inbox, envelope.make("b", "replies", "yes", 0, undefined, "r"))
      yield* Quorum.collect(inbox, { correlationId: "r", k: 2, parts: 2, timeout: "1 minute" }).pipe(
        Effect.provideService(Tracer.CurrentTracer, trace.tracer)
      )
      assert.deepStrictEqual(
        trace.events.map((e) => [e.kind, e.actor, e.data]),
        [
          ["join.part", "a", { round: "r", received: 1, needed: 2 }],
          ["join.part", "a", { round: "r", ignored: "duplicate" }],
          ["join.part", "b", { round: "r", received: 2, needed: 2 }],
          ["quorum.complete", "replies", { round: "r", k: 2, n: 2, ok: true, successes: 2 }]
        ]
      )
      assert.strictEqual(trace.events[0].messageId, first.id)
    })
  )
})
