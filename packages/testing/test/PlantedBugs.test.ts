/**
 * The kit catches real bugs. Each section plants a known concurrency bug in a small stand-in written here (never in
 * the core), checks the invariant the real primitive promises with `Check`, and asserts two things: the check
 * reports a counterexample, and replaying its token reproduces the failure on the first run. The control runs the
 * same property against the real core primitive and asserts that it passes.
 *
 * The schedules are part of the generated input (how many times each fiber yields), so a replay re-runs the same
 * interleaving: the properties decide from their input alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Budget, Join, Mailbox, Nursery, Select, Tracer } from "@handoffkit/core"
import { Arbitrary, Effect, Fiber, Option, Queue, Schema } from "effect"
import { Check, Invariants } from "../src/index.ts"

const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))

const yields = (n: number) => Effect.repeat(Effect.yieldNow, { times: Math.max(0, n - 1) })

const RUNS = 200

/**
 * Asserts that `predicate` is falsified within RUNS runs, and that the replay token reproduces the failure on its
 * first (and only) run. Returns the counterexample for bug-specific assertions.
 */
const expectCaught = <A, E, R>(
  arbitrary: Arbitrary.Arbitrary<A>,
  predicate: (input: A) => Check.Outcome | Effect.Effect<Check.Outcome, E, R>
) =>
  Effect.gen(function* () {
    const found = yield* Check.counterexample(arbitrary, predicate, { runs: RUNS, seed: 7 })
    assert.isTrue(Option.isSome(found), "the kit found no counterexample for a planted bug")
    const counter = Option.getOrThrow(found)
    assert.include(counter.message, `Replay: ${counter.replay}`)
    const replayed = yield* Check.property(arbitrary, predicate, { replay: counter.replay })
    assert.strictEqual(replayed._tag, "Falsified", `replay did not reproduce: ${replayed._tag}`)
    if (replayed._tag === "Falsified") {
      assert.strictEqual(replayed.runs, 1)
      assert.deepStrictEqual(replayed.shrunkInput, counter.input)
    }
    return counter
  })

// -----------------------------------------------------------------------------
// 1. select: racing `take` arms that do an async step after the take
// -----------------------------------------------------------------------------

// Per queue: the yields its producer makes before each message it offers.
const SelectInput = Arbitrary.array(Arbitrary.array(int(0, 3), { maxLength: 5 }), {
  minLength: 1,
  maxLength: 4
})

/**
 * Producers offer concurrently; the consumer selects until every message was offered and the queues are empty.
 * Returns [offered, received, left in the queues]. A message taken by a losing arm is neither received nor left.
 */
const consumeAll = <Q>(
  schedule: ReadonlyArray<ReadonlyArray<number>>,
  make: () => Effect.Effect<Q>,
  offer: (queue: Q, message: number) => Effect.Effect<unknown>,
  size: (queue: Q) => Effect.Effect<number>,
  selectOne: (queues: ReadonlyArray<Q>) => Effect.Effect<number>
) =>
  Effect.gen(function* () {
    const queues = yield* Effect.forEach(schedule, make)
    const total = schedule.reduce((sum, gaps) => sum + gaps.length, 0)
    let offered = 0
    yield* Effect.forEach(
      schedule,
      (gaps, q) =>
        Effect.forEach(gaps, (gap, i) =>
          Effect.gen(function* () {
            yield* yields(gap)
            offered++ // counted before the offer, in the same synchronous step
            yield* offer(queues[q], q * 100 + i)
          })
        ),
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.forkChild)
    let received = 0
    while (true) {
      const sizes = yield* Effect.forEach(queues, size)
      const left = sizes.reduce((a, b) => a + b, 0)
      if (offered === total && left === 0) return { total, received, left }
      yield* selectOne(queues)
      received++
    }
  })

const naiveSelect = (queues: ReadonlyArray<Queue.Queue<number>>) =>
  // BUG: every arm takes, then yields; the first to finish wins and the others are interrupted after their take.
  Effect.raceAll(queues.map((queue) => Queue.take(queue).pipe(Effect.tap(() => Effect.yieldNow))))

const noLostMessage = (result: { total: number; received: number; left: number }) =>
  result.received + result.left === result.total

// -----------------------------------------------------------------------------
// 2. budget: check remaining, yield, then spend, without a reservation
// -----------------------------------------------------------------------------

// The limit, and per fiber: how many calls it wants and how long its "model call" takes (in yields).
const BudgetInput = Arbitrary.all({
  limit: int(1, 6),
  fibers: Arbitrary.array(Arbitrary.all({ calls: int(1, 3), work: int(0, 3) }), {
    minLength: 1,
    maxLength: 5
  })
})
type BudgetInput = { readonly limit: number; readonly fibers: ReadonlyArray<{ calls: number; work: number }> }

const naiveBudget = (input: BudgetInput) =>
  Effect.gen(function* () {
    const trace = Tracer.memory()
    let remaining = input.limit
    yield* Effect.forEach(
      input.fibers,
      ({ calls, work }) =>
        Effect.gen(function* () {
          if (remaining < calls) return // BUG: the check holds nothing back for this fiber...
          yield* yields(work) // ...while it does its work, others pass the same check
          remaining -= calls
          trace.tracer.emit({ kind: "budget.commit", actor: "naive", data: { calls } })
        }),
      { concurrency: "unbounded", discard: true }
    )
    return Invariants.budgetRespected({ naive: { calls: input.limit } })(trace.events)
  })

const realBudget = (input: BudgetInput) =>
  Effect.gen(function* () {
    const trace = Tracer.memory()
    yield* Effect.gen(function* () {
      const budget = yield* Budget.make({ calls: input.limit })
      yield* Effect.forEach(
        input.fibers,
        ({ calls, work }) =>
          Effect.gen(function* () {
            const reservation = yield* Budget.reserve(budget, { calls })
            yield* yields(work)
            yield* Budget.commit(reservation, { calls })
          }).pipe(Effect.catchTag("BudgetExceeded", () => Effect.void)),
        { concurrency: "unbounded", discard: true }
      )
    }).pipe(Effect.scoped, Effect.provideService(Tracer.CurrentTracer, trace.tracer))
    const commits = trace.events.filter((e) => e.kind === "budget.commit")
    const limits = Object.fromEntries(commits.map((e) => [e.actor, { calls: input.limit }]))
    return { commits: commits.length, violations: Invariants.budgetRespected(limits)(trace.events) }
  })

// -----------------------------------------------------------------------------
// 3. nursery: close interrupts every child but the last
// -----------------------------------------------------------------------------

// Per child: how many yields it runs before finishing on its own (-1: never), then how long before close.
const NurseryInput = Arbitrary.all({
  children: Arbitrary.array(int(-1, 4), { minLength: 1, maxLength: 5 }),
  closeAfter: int(0, 4)
})
type NurseryInput = { readonly children: ReadonlyArray<number>; readonly closeAfter: number }

// A child traces its own spawn (first thing it runs) and its exit (however it ends).
const tracedChild = (tracer: Tracer.Tracer, name: string, life: number) =>
  Effect.sync(() => tracer.emit({ kind: "spawn", actor: name })).pipe(
    Effect.andThen(life < 0 ? Effect.never : yields(life)),
    Effect.onExit(() => Effect.sync(() => tracer.emit({ kind: "exit", actor: name })))
  )

const naiveNursery = (input: NurseryInput) =>
  Effect.gen(function* () {
    const trace = Tracer.memory()
    const fibers = yield* Effect.forEach(input.children, (life, i) =>
      Effect.forkDetach(tracedChild(trace.tracer, `child-${i}`, life))
    )
    yield* yields(input.closeAfter)
    // BUG: an off-by-one forgets the last child, which keeps running after the nursery closed.
    yield* Effect.forEach(fibers.slice(0, -1), Fiber.interrupt, { discard: true })
    yield* yields(8) // let every child that was forked get to run
    const violations = Invariants.noOrphanFibers(trace.events.slice())
    yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true }) // clean up after the test, not the bug
    return violations
  })

const realNursery = (input: NurseryInput) =>
  Effect.gen(function* () {
    const trace = Tracer.memory()
    yield* Effect.gen(function* () {
      const nursery = yield* Nursery.make({ name: "control" })
      yield* Effect.forEach(input.children, (life, i) =>
        Nursery.start(nursery, tracedChild(trace.tracer, `child-${i}`, life), { name: `child-${i}` })
      )
      yield* yields(input.closeAfter)
      yield* Nursery.close(nursery)
    }).pipe(Effect.scoped)
    yield* yields(8)
    return Invariants.noOrphanFibers(trace.events)
  })

// -----------------------------------------------------------------------------
// 4. join: a round collector that accepts two parts from one sender
// -----------------------------------------------------------------------------

const PARTS = 3
const SENDERS = ["alice", "bob", "carol"]
// Parts offered concurrently: round, sender (index into SENDERS), and yields before the offer.
const JoinInput = Arbitrary.array(Arbitrary.all({ round: int(0, 1), sender: int(0, 2), delay: int(0, 3) }), {
  minLength: 1,
  maxLength: 8
})
type JoinInput = ReadonlyArray<{ round: number; sender: number; delay: number }>

const distinctSenders = (rounds: ReadonlyArray<ReadonlyArray<string>>) =>
  rounds.every((senders) => new Set(senders).size === senders.length)

const naiveJoin = (input: JoinInput) =>
  Effect.gen(function* () {
    const open = new Map<string, Array<string>>()
    const completed: Array<ReadonlyArray<string>> = []
    yield* Effect.forEach(
      input,
      ({ round, sender, delay }) =>
        Effect.gen(function* () {
          yield* yields(delay)
          const id = `r-${round}`
          const parts = open.get(id) ?? []
          parts.push(SENDERS[sender]) // BUG: nobody checks that this sender already gave its part
          open.set(id, parts)
          if (parts.length === PARTS) {
            open.delete(id)
            completed.push(parts)
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return completed
  })

const realJoin = (input: JoinInput) =>
  Effect.gen(function* () {
    const join = yield* Join.make<number>({ parts: PARTS, timeout: "1 minute" })
    const completed: Array<ReadonlyArray<string>> = []
    yield* Effect.forEach(
      input,
      ({ round, sender, delay }) =>
        Effect.gen(function* () {
          yield* yields(delay)
          const done = yield* Join.offer(join, {
            correlationId: `r-${round}`,
            from: SENDERS[sender],
            value: 1
          })
          if (Option.isSome(done)) completed.push(done.value.parts.map((part) => part.from))
        }).pipe(
          // the real Join refuses a second part from a sender, and a part for a round that already completed
          Effect.catchTags({ DuplicatePart: () => Effect.void, RoundClosed: () => Effect.void })
        ),
      { concurrency: "unbounded", discard: true }
    )
    return completed
  }).pipe(Effect.scoped)

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("planted bugs", () => {
  it.live(
    "select: racing Queue.take arms loses messages; the kit finds it and the replay reproduces it",
    () =>
      Effect.gen(function* () {
        const counter = yield* expectCaught(SelectInput, (schedule) =>
          consumeAll(
            schedule,
            () => Queue.unbounded<number>(),
            (queue, message) => Queue.offer(queue, message),
            Queue.size,
            naiveSelect
          ).pipe(Effect.map(noLostMessage))
        )
        // a loss needs two queues with a message each
        assert.isAtLeast(counter.input.filter((gaps) => gaps.length > 0).length, 2)
      })
  )

  it.live("select control: Select.select over Mailboxes loses nothing", () =>
    Effect.gen(function* () {
      const runs = yield* Check.assert(
        SelectInput,
        (schedule) =>
          consumeAll(
            schedule,
            () => Effect.orDie(Mailbox.make<number>()),
            (inbox, message) => Effect.orDie(Mailbox.offer(inbox, message)),
            Mailbox.size,
            (inboxes) =>
              Effect.orDie(
                Select.selectAll(
                  inboxes.map((inbox) => Select.receive(inbox, (m) => Effect.as(Effect.yieldNow, m)))
                )
              )
          ).pipe(Effect.map(noLostMessage)),
        { runs: RUNS, seed: 7 }
      )
      assert.strictEqual(runs, RUNS)
    })
  )

  it.live(
    "budget: check-then-spend without reservation overspends; the kit finds it and the replay reproduces it",
    () =>
      Effect.gen(function* () {
        const counter = yield* expectCaught(BudgetInput, (input) =>
          Effect.map(naiveBudget(input), (violations) => violations.length === 0)
        )
        assert.isAtLeast(counter.input.fibers.length, 2)
      })
  )

  it.live("budget control: Budget.reserve/commit never commits over the limit", () =>
    Effect.gen(function* () {
      let commits = 0
      const runs = yield* Check.assert(
        BudgetInput,
        (input) =>
          Effect.map(realBudget(input), (result) => {
            commits += result.commits
            return result.violations.length === 0
          }),
        { runs: RUNS, seed: 7 }
      )
      assert.strictEqual(runs, RUNS)
      assert.isAbove(commits, 0) // the control really traced commits for the check to read
    })
  )

  it.live("nursery: a close that forgets the last child leaves an orphan; found and replayed", () =>
    Effect.gen(function* () {
      const counter = yield* expectCaught(NurseryInput, (input) =>
        Effect.map(naiveNursery(input), (violations) => violations.length === 0)
      )
      assert.strictEqual(counter.input.children.at(-1), -1) // the forgotten child is one that runs forever
    })
  )

  it.live("nursery control: Nursery.close leaves no child running", () =>
    Effect.gen(function* () {
      const runs = yield* Check.assert(
        NurseryInput,
        (input) => Effect.map(realNursery(input), (violations) => violations.length === 0),
        { runs: RUNS, seed: 7 }
      )
      assert.strictEqual(runs, RUNS)
    })
  )

  it.live(
    "join: a collector that takes two parts from one sender completes a bad round; found and replayed",
    () =>
      Effect.gen(function* () {
        const counter = yield* expectCaught(JoinInput, (input) =>
          Effect.map(naiveJoin(input), distinctSenders)
        )
        assert.isAtLeast(counter.input.length, PARTS)
      })
  )

  it.live("join control: Join completes rounds only with distinct senders", () =>
    Effect.gen(function* () {
      let rounds = 0
      const runs = yield* Check.assert(
        JoinInput,
        (input) =>
          Effect.map(realJoin(input), (completed) => {
            rounds += completed.length
            return distinctSenders(completed)
          }),
        { runs: RUNS, seed: 7 }
      )
      assert.strictEqual(runs, RUNS)
      assert.isAbove(rounds, 0) // some rounds did complete
    })
  )
})
