import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Cause, Deferred, Duration, Effect, Exit, Fiber, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Budget from "../src/Budget.ts"
import * as Tracer from "../src/Tracer.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const dims = ["tokensIn", "tokensOut", "cost", "calls"] as const
type Dim = (typeof dims)[number]

/** Integer units per dimension: cost in nano-dollars (as the budget keeps it), the rest as is. */
const units = (d: Dim, x: number): number => (d === "cost" && Number.isFinite(x) ? Math.round(x * 1e9) : x)

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** Generated amounts use micro-dollars for cost; this turns them into a `Usage`. */
interface GenAmount {
  readonly tokensIn: number
  readonly tokensOut: number
  readonly costMicros: number
  readonly calls: number
}

const usageOf = (a: GenAmount): Budget.Usage => ({
  tokensIn: a.tokensIn,
  tokensOut: a.tokensOut,
  cost: a.costMicros / 1e6,
  calls: a.calls
})

const fraction = (a: GenAmount, percent: number): GenAmount => ({
  tokensIn: Math.floor((a.tokensIn * percent) / 100),
  tokensOut: Math.floor((a.tokensOut * percent) / 100),
  costMicros: Math.floor((a.costMicros * percent) / 100),
  calls: Math.floor((a.calls * percent) / 100)
})

const GenLimits = Schema.Struct({
  tokensIn: Schema.optionalKey(Int(0, 400)),
  tokensOut: Schema.optionalKey(Int(0, 400)),
  costMicros: Schema.optionalKey(Int(0, 3_000_000)),
  calls: Schema.optionalKey(Int(0, 25))
})

const limitsOf = (g: typeof GenLimits.Type): Budget.Limits => ({
  ...(g.tokensIn !== undefined ? { tokensIn: g.tokensIn } : {}),
  ...(g.tokensOut !== undefined ? { tokensOut: g.tokensOut } : {}),
  ...(g.costMicros !== undefined ? { cost: g.costMicros / 1e6 } : {}),
  ...(g.calls !== undefined ? { calls: g.calls } : {})
})

const GenAmountSchema = Schema.Struct({
  tokensIn: Int(0, 80),
  tokensOut: Int(0, 80),
  costMicros: Int(0, 400_000),
  calls: Int(0, 2)
})

const GenOp = Schema.Struct({
  amount: GenAmountSchema,
  commitPercent: Int(0, 100),
  refund: Schema.Boolean,
  yieldsBefore: Int(0, 2),
  yieldsHeld: Int(0, 3)
})

const yields = (n: number) =>
  Effect.repeat(Effect.yieldNow, { times: Math.max(0, n - 1) }).pipe(Effect.when(Effect.succeed(n > 0)))

const limitUnits = (limits: Budget.Limits, d: Dim): number => {
  const l = limits[d]
  return l === undefined ? Infinity : units(d, l)
}

/** Asserts spent <= limit and spent + reserved <= limit in every dimension. */
const checkWithin = (budget: Budget.Budget, limits: Budget.Limits) =>
  Effect.gen(function* () {
    const snap = yield* Budget.snapshot(budget)
    for (const d of dims) {
      const limit = limitUnits(limits, d)
      const spent = units(d, snap.spent[d])
      const reserved = units(d, snap.reserved[d])
      assert.isAtLeast(reserved, 0, `${d} reserved is negative`)
      assert.isAtMost(spent, limit, `${d} spent ${spent} > limit ${limit}`)
      assert.isAtMost(spent + reserved, limit, `${d} spent+reserved ${spent + reserved} > limit ${limit}`)
    }
    return snap
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  const error = Cause.findErrorOption(exit.cause)
  assert.isTrue(error._tag === "Some", `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  if (error._tag !== "Some") throw new Error("unreachable")
  return error.value
}

const settleYields = Effect.repeat(Effect.yieldNow, { times: 5 })

/** Re-raises what a run under `Harness.run` failed with (an assertion inside it), or returns its value. */
const rethrow = <A, E>(exit: Exit.Exit<A, E>): Effect.Effect<A, E> =>
  Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.failCause(exit.cause)

/** The labels of the budgets a trace charged, in order of first appearance. */
const budgetLabels = (events: ReadonlyArray<Tracer.Event>): Array<string> => [
  ...new Set(events.filter((e) => e.kind.startsWith("budget.")).map((e) => e.actor))
]

// -----------------------------------------------------------------------------
// properties
// -----------------------------------------------------------------------------

/** Scripts of reserve / commit / refund run concurrently on one budget, checked at every step; returns whether a
 * limit was reached. */
const run = (limits: Budget.Limits, scripts: ReadonlyArray<ReadonlyArray<typeof GenOp.Type>>) =>
  Effect.gen(function* () {
    const budget = yield* Budget.make({ ...limits, time: "1 hour" })
    const exhaustedFiber = yield* Effect.forkChild(Budget.exhausted(budget))
    const committed: Record<Dim, number> = { tokensIn: 0, tokensOut: 0, cost: 0, calls: 0 }

    const runScript = (script: ReadonlyArray<typeof GenOp.Type>) =>
      Effect.forEach(
        script,
        (op) =>
          Effect.gen(function* () {
            yield* yields(op.yieldsBefore)
            const exit = yield* Effect.exit(Budget.reserve(budget, usageOf(op.amount)))
            yield* checkWithin(budget, limits)
            if (Exit.isFailure(exit)) {
              const error = failureOf(exit)
              assert.strictEqual(error._tag, "BudgetExceeded")
              if (error.reason === "insufficient") assert.isAbove(error.requested, error.remaining)
              else assert.strictEqual(error.reason, "exhausted")
              return
            }
            const reservation = exit.value
            yield* yields(op.yieldsHeld)
            yield* checkWithin(budget, limits)
            if (op.refund) {
              yield* Budget.refund(reservation)
            } else {
              const part = fraction(op.amount, op.commitPercent)
              yield* Budget.commit(reservation, usageOf(part))
              committed.tokensIn += part.tokensIn
              committed.tokensOut += part.tokensOut
              committed.cost += part.costMicros * 1000
              committed.calls += part.calls
            }
            yield* checkWithin(budget, limits)
          }),
        { discard: true }
      )

    yield* Effect.forEach(scripts, runScript, { concurrency: "unbounded", discard: true })
    const snap = yield* checkWithin(budget, limits)
    let reached = false
    for (const d of dims) {
      assert.strictEqual(units(d, snap.spent[d]), committed[d], `${d}: spent must equal the sum committed`)
      assert.strictEqual(snap.reserved[d], 0, `${d}: nothing stays reserved`)
      if (units(d, snap.spent[d]) >= limitUnits(limits, d)) reached = true
    }
    yield* settleYields
    assert.strictEqual(
      exhaustedFiber.pollUnsafe() !== undefined,
      reached,
      "exhausted completed iff a limit was reached"
    )
    assert.strictEqual(Budget.isExhaustedUnsafe(budget), reached)
    assert.strictEqual(snap.exhausted, reached)
    return reached
  })

/** A parent with a spend and a reservation of its own, and a child whose scripts run concurrently. */
const runChild = ({
  parentLimits: genParent,
  childLimits: genChild,
  parentSpend,
  parentHold,
  childScripts
}: {
  readonly parentLimits: typeof GenLimits.Type
  readonly childLimits: typeof GenLimits.Type
  readonly parentSpend: typeof GenAmountSchema.Type
  readonly parentHold: typeof GenAmountSchema.Type
  readonly childScripts: ReadonlyArray<ReadonlyArray<typeof GenOp.Type>>
}) =>
  Effect.gen(function* () {
    const parentLimits = limitsOf(genParent)
    const childLimits = limitsOf(genChild)
    const parent = yield* Budget.make(parentLimits)
    yield* Effect.exit(Budget.spend(parent, usageOf(parentSpend)))
    // an unrelated reservation stays open on the parent for the child's whole life
    const hold = yield* Effect.exit(Budget.reserve(parent, usageOf(parentHold)))
    const before = yield* Budget.snapshot(parent)

    const scope = yield* Scope.make()
    const created = yield* Effect.exit(Budget.child(parent, childLimits).pipe(Scope.provide(scope)))
    if (Exit.isFailure(created)) {
      const error = failureOf(created)
      assert.strictEqual(error._tag, "BudgetExceeded")
      const after = yield* Budget.snapshot(parent)
      assert.deepStrictEqual(after, before, "a refused child leaves the parent untouched")
      yield* Scope.close(scope, Exit.void)
      return
    }
    const child = created.value

    // the slice is held on the parent
    const sliced = yield* Budget.snapshot(parent)
    for (const d of dims) {
      const slice = childLimits[d] ?? 0
      assert.strictEqual(units(d, sliced.reserved[d]), units(d, before.reserved[d]) + units(d, slice), d)
    }

    const committed: Record<Dim, number> = { tokensIn: 0, tokensOut: 0, cost: 0, calls: 0 }
    yield* Effect.forEach(
      childScripts,
      (script) =>
        Effect.forEach(
          script,
          (op) =>
            Effect.gen(function* () {
              yield* yields(op.yieldsBefore)
              const exit = yield* Effect.exit(Budget.reserve(child, usageOf(op.amount)))
              yield* checkWithin(child, childLimits)
              yield* checkWithin(parent, parentLimits)
              if (Exit.isFailure(exit)) return
              yield* yields(op.yieldsHeld)
              if (op.refund) return yield* Budget.refund(exit.value)
              const part = fraction(op.amount, op.commitPercent)
              yield* Budget.commit(exit.value, usageOf(part))
              committed.tokensIn += part.tokensIn
              committed.tokensOut += part.tokensOut
              committed.cost += part.costMicros * 1000
              committed.calls += part.calls
            }),
          { discard: true }
        ),
      { concurrency: "unbounded", discard: true }
    )

    const childSnap = yield* checkWithin(child, childLimits)
    for (const d of dims) assert.strictEqual(units(d, childSnap.spent[d]), committed[d], d)

    yield* Scope.close(scope, Exit.void)
    const after = yield* checkWithin(parent, parentLimits)
    for (const d of dims) {
      assert.strictEqual(
        units(d, after.spent[d]),
        units(d, before.spent[d]) + committed[d],
        `${d}: parent spent grows by exactly the child's spent`
      )
      assert.strictEqual(
        units(d, after.reserved[d]),
        units(d, before.reserved[d]),
        `${d}: parent reserved restored`
      )
      const limit = limitUnits(parentLimits, d)
      const expected = limit === Infinity ? Infinity : units(d, before.remaining[d]) - committed[d]
      assert.strictEqual(units(d, after.remaining[d]), expected, `${d}: the unspent slice is available again`)
    }

    // the child is closed
    const closed = failureOf(yield* Effect.exit(Budget.reserve(child, {})))
    assert.strictEqual(closed.reason, "closed")
    assert.isTrue(Budget.isExhaustedUnsafe(child))

    // and the parent's remaining can really be reserved (unless it is exhausted)
    if (!after.exhausted) {
      const rest: Record<string, number> = {}
      for (const d of dims) if (after.remaining[d] !== Infinity) rest[d] = after.remaining[d]
      const r = yield* Budget.reserve(parent, rest)
      yield* Budget.refund(r)
    }
    if (Exit.isSuccess(hold)) yield* Budget.refund(hold.value)
  })

describe("Budget", () => {
  it.effect.prop(
    "concurrent reserve / commit / refund never overspend; exhausted iff a limit is reached",
    {
      limits: GenLimits,
      scripts: Arbitrary.array(Arbitrary.array(Arbitrary.schema(GenOp), { maxLength: 12 }), {
        minLength: 2,
        maxLength: 16
      })
    },
    ({ limits: genLimits, scripts }) =>
      Effect.gen(function* () {
        const limits = limitsOf(genLimits)
        // Run under the harness, which traces every reserve, commit and refund: the kit then checks the trace
        // (`budgetRespected`: the commits never sum past a limit) besides the snapshots checked at every step.
        const { events, exit } = yield* Harness.run(run(limits, scripts))
        const reached = yield* rethrow(exit)
        const [label, ...others] = budgetLabels(events)
        assert.deepStrictEqual(others, [])
        assert.deepStrictEqual(Invariants.budgetRespected({ [label]: limits })(events), [])
        assert.strictEqual(
          events.some((e) => e.kind === "budget.exhausted"),
          reached,
          "budget.exhausted is traced iff a limit was reached"
        )
      }),
    Check.propOptions({ timeout: 30_000 })
  )

  it.effect.prop(
    "a child's spent goes to its parent and its unspent slice comes back when its scope closes",
    {
      parentLimits: GenLimits,
      childLimits: GenLimits,
      parentSpend: Arbitrary.schema(GenAmountSchema),
      parentHold: Arbitrary.schema(GenAmountSchema),
      childScripts: Arbitrary.array(Arbitrary.array(Arbitrary.schema(GenOp), { maxLength: 10 }), {
        minLength: 1,
        maxLength: 4
      })
    },
    (input) =>
      Effect.gen(function* () {
        const parentLimits = limitsOf(input.parentLimits)
        const childLimits = limitsOf(input.childLimits)
        // Under the harness, the kit checks each budget's traced commits against its own limits: the parent's
        // (`budget-<n>`) and the child's (`budget-<n>/<k>`, when it was made).
        const { events, exit } = yield* Harness.run(runChild(input))
        yield* rethrow(exit)
        const labels = budgetLabels(events)
        const parents = labels.filter((label) => !label.includes("/"))
        const children = labels.filter((label) => label.includes("/"))
        assert.isAtMost(parents.length, 1)
        assert.isAtMost(children.length, 1)
        for (const child of children)
          if (parents.length > 0) assert.strictEqual(child.split("/")[0], parents[0])
        const limits: Record<string, Budget.Limits> = {}
        for (const parent of parents) limits[parent] = parentLimits
        for (const child of children) limits[child] = childLimits
        assert.deepStrictEqual(Invariants.budgetRespected(limits)(events), [])
      }),
    Check.propOptions({ timeout: 30_000 })
  )

  // ---------------------------------------------------------------------------
  // edge cases
  // ---------------------------------------------------------------------------

  describe("reserve", () => {
    it.effect("fails with BudgetExceeded naming the dimension, requested and remaining", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensIn: 1000, tokensOut: 100 })
        yield* Budget.reserve(budget, { tokensOut: 60 })
        const error = yield* Effect.flip(Budget.reserve(budget, { tokensIn: 10, tokensOut: 50 }))
        assert.instanceOf(error, Budget.BudgetExceeded)
        assert.strictEqual(error.dimension, "tokensOut")
        assert.strictEqual(error.reason, "insufficient")
        assert.strictEqual(error.requested, 50)
        assert.strictEqual(error.remaining, 40)
        assert.include(error.message, "tokensOut")
        // nothing was held by the failed reserve
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.reserved.tokensIn, 0)
        assert.strictEqual(snap.reserved.tokensOut, 60)
        assert.strictEqual(snap.remaining.tokensOut, 40)
        assert.strictEqual(snap.remaining.cost, Infinity)
        assert.strictEqual(snap.limits.calls, Infinity)
      })
    )

    it.effect("holds exactly up to the limit under contention", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 10 })
        const exits = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) => Effect.andThen(yields(i % 3), Effect.exit(Budget.reserve(budget, { calls: 1 }))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(exits.filter(Exit.isSuccess).length, 10)
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.reserved.calls, 10)
        assert.isFalse(snap.exhausted, "reservations alone do not exhaust a budget")
      })
    )

    it.effect("an invalid amount is a defect", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({})
        const exit = yield* Effect.exit(Budget.reserve(budget, { tokensIn: -1 }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      })
    )
  })

  describe("settle", () => {
    it.effect("settling twice fails with ReservationSettled", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensIn: 100 })
        const a = yield* Budget.reserve(budget, { tokensIn: 10 })
        yield* Budget.commit(a, { tokensIn: 5 })
        const e1 = yield* Effect.flip(Budget.commit(a, { tokensIn: 5 }))
        assert.instanceOf(e1, Budget.ReservationSettled)
        assert.strictEqual(e1.settledBy, "commit")
        const e2 = yield* Effect.flip(Budget.refund(a))
        assert.strictEqual(e2._tag, "ReservationSettled")

        const b = yield* Budget.reserve(budget, { tokensIn: 10 })
        yield* Budget.refund(b)
        const e3 = yield* Effect.flip(Budget.refund(b))
        assert.strictEqual(e3.settledBy, "refund")
        const e4 = yield* Effect.flip(Budget.commit(b, {}))
        assert.strictEqual(e4._tag, "ReservationSettled")

        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensIn, 5)
        assert.strictEqual(snap.reserved.tokensIn, 0)
      })
    )

    it.effect("an overrun is charged and reported", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensIn: 100, cost: 1 })
        const r = yield* Budget.reserve(budget, { tokensIn: 10, cost: 0.1 })
        const error = yield* Effect.flip(Budget.commit(r, { tokensIn: 15, cost: 0.05 }))
        assert.instanceOf(error, Budget.BudgetOverrun)
        assert.strictEqual(error.dimension, "tokensIn")
        assert.strictEqual(error.reserved, 10)
        assert.strictEqual(error.actual, 15)
        assert.include(error.message, "tokensIn")
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensIn, 15)
        assert.strictEqual(snap.spent.cost, 0.05)
        assert.strictEqual(snap.reserved.tokensIn, 0)
        assert.strictEqual(snap.reserved.cost, 0)
        // the reservation is settled despite the overrun
        assert.strictEqual((yield* Effect.flip(Budget.refund(r)))._tag, "ReservationSettled")
      })
    )

    it.effect("commitPartial charges and keeps the rest held", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensOut: 100 })
        const r = yield* Budget.reserve(budget, { tokensOut: 50 })
        yield* Budget.commitPartial(r, { tokensOut: 20 })
        let snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensOut, 20)
        assert.strictEqual(snap.reserved.tokensOut, 30)
        yield* Budget.commit(r, { tokensOut: 10 })
        snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensOut, 30)
        assert.strictEqual(snap.reserved.tokensOut, 0)
      })
    )

    it.effect("cost does not drift with floating point", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ cost: 1 })
        for (let i = 0; i < 10; i++) yield* Budget.spend(budget, { cost: 0.1 })
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.cost, 1)
        assert.strictEqual(snap.remaining.cost, 0)
        assert.isTrue(snap.exhausted)
        const error = yield* Effect.flip(Budget.spend(budget, { cost: 0 }))
        assert.strictEqual(error.dimension, "cost")
        assert.strictEqual(error.reason, "exhausted")
      })
    )
  })

  describe("make", () => {
    it.effect("invalid limits fail with BudgetInvalid naming the field", () =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<readonly [Budget.Limits, string]> = [
          [{ tokensIn: -1 }, "tokensIn"],
          [{ cost: NaN }, "cost"],
          [{ calls: "3" as unknown as number }, "calls"],
          [{ tokensOut: 10, time: "soon" as Duration.Input }, "time"],
          [{ time: -5 }, "time"]
        ]
        for (const [limits, field] of cases) {
          const error = yield* Effect.flip(Budget.make(limits))
          assert.instanceOf(error, Budget.BudgetInvalid)
          assert.strictEqual(error.field, field)
          assert.include(error.message, field)
        }
        const parent = yield* Budget.make({})
        const error = yield* Effect.flip(Budget.child(parent, { calls: -2 }))
        assert.strictEqual(error._tag, "BudgetInvalid")
      })
    )

    it.effect("a zero limit is exhausted at once", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 0 })
        assert.isTrue(Budget.isExhaustedUnsafe(budget))
        yield* Budget.exhausted(budget)
      })
    )

    it("Usage and Limits are schemas", () => {
      assert.deepStrictEqual(Schema.encodeUnknownSync(Budget.Usage)({ tokensIn: 3, cost: 0.5 }), {
        tokensIn: 3,
        cost: 0.5
      })
      assert.throws(() => Schema.decodeUnknownSync(Budget.Usage)({ cost: -1 }))
      assert.throws(() => Schema.decodeUnknownSync(Budget.Usage)({ calls: Infinity }))
      const limits = Schema.decodeUnknownSync(Budget.Limits)({ calls: 3, time: 1500 })
      assert.strictEqual(limits.calls, 3)
      assert.isTrue(Duration.isDuration(limits.time))
      assert.deepStrictEqual(Schema.encodeSync(Budget.Limits)(limits), { calls: 3, time: 1500 })
      assert.isTrue(Budget.isBudget(Effect.runSync(Effect.scoped(Budget.make({})))))
      assert.isFalse(Budget.isBudget({}))
    })
  })

  describe("exhausted", () => {
    it.effect("waits until spent reaches a limit", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 2, tokensIn: 100 })
        const fiber = yield* Effect.forkChild(Budget.exhausted(budget))
        yield* settleYields
        assert.isUndefined(fiber.pollUnsafe())
        yield* Budget.spend(budget, { calls: 1, tokensIn: 99 })
        const r = yield* Budget.reserve(budget, { calls: 1 })
        yield* settleYields
        assert.isUndefined(fiber.pollUnsafe(), "still waiting below the limit (reservations do not count)")
        assert.isFalse(Budget.isExhaustedUnsafe(budget))
        yield* Budget.commit(r, { calls: 1 })
        yield* settleYields
        assert.isTrue(fiber.pollUnsafe() !== undefined && Exit.isSuccess(fiber.pollUnsafe()!))
        assert.isTrue(Budget.isExhaustedUnsafe(budget))
        assert.isTrue(Deferred.isDoneUnsafe(Budget.exhaustedDeferred(budget)))
        const error = yield* Effect.flip(Budget.reserve(budget, { tokensIn: 1 }))
        assert.strictEqual(error.dimension, "calls")
        assert.strictEqual(error.reason, "exhausted")
      })
    )

    it.effect("the time limit fires exactly at the deadline (TestClock)", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ time: "1 second" })
        const fiber = yield* Effect.forkChild(Budget.exhausted(budget))
        yield* settleYields
        yield* TestClock.adjust("999 millis")
        yield* settleYields
        assert.isUndefined(fiber.pollUnsafe(), "not before the deadline")
        assert.isFalse(Budget.isExhaustedUnsafe(budget))
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.timeRemaining, 1)
        yield* Budget.spend(budget, { calls: 1 })
        yield* TestClock.adjust("1 millis")
        yield* settleYields
        assert.isDefined(fiber.pollUnsafe(), "at the deadline")
        const error = yield* Effect.flip(Budget.reserve(budget, {}))
        assert.strictEqual(error.dimension, "time")
        assert.strictEqual(error.reason, "exhausted")
        assert.include(error.message, "time")
      })
    )

    it.effect("Fiber.join works on the exhausted waiter", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ time: 10 })
        const fiber = yield* Effect.forkChild(Budget.exhausted(budget))
        yield* TestClock.adjust(10)
        yield* Fiber.join(fiber)
      })
    )
  })

  describe("child", () => {
    it.effect("a child's time cannot outlive its parent and the parent's timeout exhausts it", () =>
      Effect.gen(function* () {
        const parent = yield* Budget.make({ time: "1 second" })
        const child = yield* Budget.child(parent, { time: "10 seconds" })
        const short = yield* Budget.child(parent, { time: "100 millis" })
        const parentSnap = yield* Budget.snapshot(parent)
        assert.strictEqual((yield* Budget.snapshot(child)).deadline, parentSnap.deadline)
        const fiber = yield* Effect.forkChild(Budget.exhausted(child))
        const shortFiber = yield* Effect.forkChild(Budget.exhausted(short))
        yield* TestClock.adjust("100 millis")
        yield* settleYields
        assert.isDefined(shortFiber.pollUnsafe())
        assert.isUndefined(fiber.pollUnsafe())
        assert.isFalse(Budget.isExhaustedUnsafe(parent), "a child's timeout does not exhaust the parent")
        yield* TestClock.adjust("900 millis")
        yield* settleYields
        assert.isDefined(fiber.pollUnsafe())
        assert.strictEqual((yield* Effect.flip(Budget.reserve(child, {}))).dimension, "time")
      })
    )

    it.effect("dimensions a child does not limit are bounded by the parent live", () =>
      Effect.gen(function* () {
        const parent = yield* Budget.make({ tokensIn: 100, calls: 3 })
        const child = yield* Budget.child(parent, { calls: 1 })
        yield* Budget.spend(child, { tokensIn: 60 })
        assert.strictEqual((yield* Budget.snapshot(parent)).spent.tokensIn, 60)
        const snap = yield* Budget.snapshot(child)
        assert.strictEqual(snap.limits.tokensIn, Infinity)
        assert.strictEqual(snap.remaining.tokensIn, 40)
        const error = yield* Effect.flip(Budget.spend(child, { tokensIn: 41 }))
        assert.strictEqual(error.dimension, "tokensIn")
        assert.strictEqual(error.remaining, 40)
        // reaching the parent's limit through the child exhausts both
        const fiber = yield* Effect.forkChild(Budget.exhausted(child))
        yield* Budget.spend(child, { tokensIn: 40 })
        yield* settleYields
        assert.isTrue(Budget.isExhaustedUnsafe(parent))
        assert.isDefined(fiber.pollUnsafe())
      })
    )

    it.effect("children of children settle up the chain", () =>
      Effect.gen(function* () {
        const root = yield* Budget.make({ tokensOut: 1000, cost: 10 })
        const outer = yield* Scope.make()
        const mid = yield* Budget.child(root, { tokensOut: 500, cost: 5 }).pipe(Scope.provide(outer))
        const inner = yield* Scope.make()
        const leaf = yield* Budget.child(mid, { tokensOut: 100 }).pipe(Scope.provide(inner))
        const tooBig = failureOf(
          yield* Effect.exit(Budget.child(mid, { tokensOut: 401 }).pipe(Effect.scoped))
        )
        assert.isTrue(tooBig._tag === "BudgetExceeded" && tooBig.dimension === "tokensOut")
        yield* Budget.spend(leaf, { tokensOut: 30, cost: 0.25 })
        let rootSnap = yield* Budget.snapshot(root)
        assert.strictEqual(rootSnap.reserved.tokensOut, 500)
        assert.strictEqual(
          (yield* Budget.snapshot(mid)).spent.cost,
          0.25,
          "cost passes through the leaf to mid"
        )
        yield* Scope.close(inner, Exit.void)
        const midSnap = yield* Budget.snapshot(mid)
        assert.strictEqual(midSnap.spent.tokensOut, 30)
        assert.strictEqual(midSnap.reserved.tokensOut, 0)
        yield* Budget.spend(mid, { tokensOut: 20 })
        yield* Scope.close(outer, Exit.void)
        rootSnap = yield* Budget.snapshot(root)
        assert.strictEqual(rootSnap.spent.tokensOut, 50)
        assert.strictEqual(rootSnap.spent.cost, 0.25)
        assert.strictEqual(rootSnap.reserved.tokensOut, 0)
        assert.strictEqual(rootSnap.reserved.cost, 0)
        assert.strictEqual(rootSnap.remaining.tokensOut, 950)
      })
    )

    it.effect("closing a child charges its open reservations in full", () =>
      Effect.gen(function* () {
        const parent = yield* Budget.make({ calls: 10 })
        const scope = yield* Scope.make()
        const child = yield* Budget.child(parent, { calls: 5 }).pipe(Scope.provide(scope))
        const r = yield* Budget.reserve(child, { calls: 2 })
        const fiber = yield* Effect.forkChild(Budget.exhausted(child))
        yield* Scope.close(scope, Exit.void)
        yield* settleYields
        assert.isDefined(fiber.pollUnsafe(), "a closed child is exhausted")
        const error = yield* Effect.flip(Budget.commit(r, { calls: 1 }))
        assert.strictEqual(error._tag, "ReservationSettled")
        if (error._tag === "ReservationSettled") assert.strictEqual(error.settledBy, "close")
        const snap = yield* Budget.snapshot(parent)
        assert.strictEqual(snap.spent.calls, 2)
        assert.strictEqual(snap.reserved.calls, 0)
      })
    )

    it.effect("a child that does not fit fails with BudgetExceeded", () =>
      Effect.gen(function* () {
        const parent = yield* Budget.make({ cost: 1 })
        yield* Budget.spend(parent, { cost: 0.75 })
        const error = yield* Effect.flip(Budget.child(parent, { cost: 0.5 }))
        assert.strictEqual(error._tag, "BudgetExceeded")
        if (error._tag === "BudgetExceeded") {
          assert.strictEqual(error.dimension, "cost")
          assert.strictEqual(error.requested, 0.5)
          assert.strictEqual(error.remaining, 0.25)
        }
      })
    )
  })

  describe("withReservation", () => {
    it.effect("commits the usage returned", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensOut: 100 })
        const a = yield* Budget.withReservation(budget, { tokensOut: 50 }, () =>
          Effect.succeed(["done", { tokensOut: 12 }] as const)
        )
        assert.strictEqual(a, "done")
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensOut, 12)
        assert.strictEqual(snap.reserved.tokensOut, 0)
      })
    )

    it.effect("refunds on failure", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensOut: 100 })
        const error = yield* Effect.flip(
          Budget.withReservation(budget, { tokensOut: 50 }, () => Effect.fail("boom"))
        )
        assert.strictEqual(error, "boom")
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensOut, 0)
        assert.strictEqual(snap.reserved.tokensOut, 0)
      })
    )

    it.effect("on interruption keeps what commitPartial charged and refunds the rest", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ tokensOut: 100 })
        const fiber = yield* Effect.forkChild(
          Budget.withReservation(budget, { tokensOut: 50 }, (r) =>
            Effect.andThen(Budget.commitPartial(r, { tokensOut: 7 }), Effect.never)
          )
        )
        yield* settleYields
        assert.strictEqual((yield* Budget.snapshot(budget)).reserved.tokensOut, 43)
        yield* Fiber.interrupt(fiber)
        const snap = yield* Budget.snapshot(budget)
        assert.strictEqual(snap.spent.tokensOut, 7)
        assert.strictEqual(snap.reserved.tokensOut, 0)
      })
    )

    it.effect("fails with BudgetExceeded without running use", () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 0 })
        let ran = false
        const error = yield* Effect.flip(
          Budget.withReservation(budget, { calls: 1 }, () =>
            Effect.sync(() => ((ran = true), [1, {}] as const))
          )
        )
        assert.strictEqual(error._tag, "BudgetExceeded")
        assert.isFalse(ran)
      })
    )
  })

  it.effect("committing usage in a dimension nobody limits is bookkeeping, not an overrun", () =>
    Effect.gen(function* () {
      const budget = yield* Budget.make({ tokensOut: 100 })
      const reservation = yield* Budget.reserve(budget, { tokensOut: 50 })
      // A provider reports input tokens too; they are not limited here, so the commit succeeds.
      yield* Budget.commit(reservation, { tokensOut: 30, tokensIn: 12 })
      const snapshot = yield* Budget.snapshot(budget)
      assert.strictEqual(snapshot.spent.tokensIn, 12)
      assert.strictEqual(snapshot.spent.tokensOut, 30)
      // In a limited dimension the same unreserved usage is an overrun.
      const limited = yield* Budget.make({ tokensOut: 100, tokensIn: 100 })
      const held = yield* Budget.reserve(limited, { tokensOut: 50 })
      const error = yield* Effect.flip(Budget.commit(held, { tokensOut: 30, tokensIn: 12 }))
      assert.strictEqual(error._tag, "BudgetOverrun")
    })
  )

  it.effect("charges are traced in causal order: reserve, commit, then the exhaustion it caused", () =>
    Effect.gen(function* () {
      const trace = Tracer.memory()
      yield* Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 2 })
        const child = yield* Budget.child(budget, { calls: 1 })
        const reservation = yield* Budget.reserve(budget, { calls: 1 })
        yield* Budget.refund(reservation)
        yield* Budget.spend(child, { calls: 1 })
        yield* Budget.spend(budget, { calls: 1 })
      }).pipe(Effect.scoped, Effect.provideService(Tracer.CurrentTracer, trace.tracer))
      assert.deepStrictEqual(
        trace.events.map((e) => `${e.kind} ${e.actor} ${JSON.stringify(e.data ?? {})}`),
        // spend is one atomic reserve-and-commit: traced as the commit.
        [
          `budget.reserve budget-N {"calls":1}`,
          `budget.refund budget-N {"calls":1}`,
          `budget.commit budget-N/1 {"calls":1}`,
          `budget.exhausted budget-N/1 {}`,
          `budget.commit budget-N {"calls":1}`,
          `budget.exhausted budget-N {}`
        ].map((line) => line.replace("budget-N", trace.events[0].actor))
      )
    })
  )
})

describe("resolution (issue 18)", () => {
  it.effect("a cost below the resolution is charged, never rounded to nothing: the limit still binds", () =>
    Effect.gen(function* () {
      const budget = yield* Budget.make({ cost: 0.000001 })
      let accepted = 0
      for (let i = 0; i < 100_000; i++) {
        const exit = yield* Effect.exit(Budget.spend(budget, { cost: 4e-10 }))
        if (Exit.isFailure(exit)) break
        accepted++
      }
      // Each 4e-10 is charged as one nano-dollar (rounded up): 1,000 fit in 1e-6, the 1,001st is refused.
      assert.strictEqual(accepted, 1000)
      const { spent } = yield* Budget.snapshot(budget)
      assert.isAbove(spent.cost, 0)
      assert.isAtMost(spent.cost, 0.000001)
      const refused = yield* Effect.flip(Budget.spend(budget, { cost: 4e-10 }))
      assert.strictEqual(refused._tag, "BudgetExceeded")
    }).pipe(Effect.scoped)
  )

  it.effect("exact prices are charged exactly (no float noise rounded up)", () =>
    Effect.gen(function* () {
      const budget = yield* Budget.make({ cost: 10 })
      for (let i = 0; i < 1000; i++) yield* Budget.spend(budget, { cost: 0.0042 })
      const { spent } = yield* Budget.snapshot(budget)
      assert.strictEqual(spent.cost, 4.2)
      const reservation = yield* Budget.reserve(budget, { cost: 0.1 })
      yield* Budget.commit(reservation, { cost: 0.0000000001 })
      assert.strictEqual((yield* Budget.snapshot(budget)).spent.cost, 4.200000001)
    }).pipe(Effect.scoped)
  )
})
