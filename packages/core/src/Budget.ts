/**
 * Budgets: limits on tokens (in / out), cost, calls and wall time, shared by concurrent agents.
 *
 * **Model**
 *
 * Spending is two-phase. An agent `reserve`s an upper bound before it spends (say, before a model call), then
 * settles the reservation with `commit` (charging what was actually used and releasing the rest) or `refund`
 * (releasing all of it). `reserve` is an atomic check-and-hold: the check "spent + reserved + amount <= limit" and
 * the hold happen in one synchronous step, so no interleaving of fibers can ever make the budget overspend as
 * long as callers reserve an upper bound. (A `commit` larger than its reservation is still charged, because it
 * was spent in the world, and fails with `BudgetOverrun`.)
 *
 * A dimension absent from the limits is unlimited. Cost is in USD and kept internally as an integer number of
 * nano-dollars, so adding up many small costs never drifts with floating point; token and call counts are kept
 * as given (exact for integers).
 *
 * **Resolution** A cost limit is rounded to the nearest nano-dollar (1e-9 USD). A charge (what `reserve`,
 * `commit` and `spend` take) is rounded *up* to the next nano-dollar, never down: a cost below the resolution
 * is charged as one nano-dollar, not as nothing, so no run of tiny charges can slip past a limit (100,000
 * spends of 4e-10 USD against a limit of 1e-6 USD: the 1,001st is refused). The ledger may over-count a
 * sub-nano-dollar price by less than 1e-9 USD a charge; it never under-counts. Prices that are whole
 * nano-dollars (every real per-token price) are charged exactly.
 *
 * `exhausted` waits (on a `Deferred`) until the budget is exhausted, which is exactly when some limited
 * dimension's spent reaches its limit (`spent >= limit`), or the time limit passes, and never before. It is meant
 * as a `Select` case; `isExhaustedUnsafe` lets `Select` give it priority synchronously and `exhaustedDeferred`
 * gives the `Deferred` to race without consuming anything.
 *
 * `child(parent, limits)` slices a sub-budget off a parent: the child's limits are reserved from the parent as
 * one reservation, and when the child's scope closes what the child spent is charged to the parent and the
 * unspent rest is released back to it. A dimension the child does not limit is passed through: the child's
 * reservations and charges in it are applied to the parent as they happen, so the parent's limit still binds.
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Exit, Predicate, Schema, Scope } from "effect"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import * as internal from "./internal/budget.ts"
import * as options_ from "./internal/options.ts"
import * as Tracer from "./Tracer.ts"

// -----------------------------------------------------------------------------
// Schemas and models
// -----------------------------------------------------------------------------

const Amount = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * An amount of usage. Every field is a non-negative finite number; a missing field is zero. `cost` is in USD.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const usage = Schema.decodeUnknownSync(Budget.Usage)({ tokensIn: 1200, tokensOut: 300, cost: 0.0042 })
 * console.log(usage.tokensIn, usage.calls) // 1200 undefined
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Usage = Schema.Struct({
  tokensIn: Schema.optionalKey(Amount),
  tokensOut: Schema.optionalKey(Amount),
  cost: Schema.optionalKey(Amount),
  calls: Schema.optionalKey(Amount)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * Schema for `Limits`. `time` is a `Duration`, encoded as milliseconds. (The `Limits` type also accepts any
 * `Duration.Input`, such as `"30 seconds"`; decode with this schema or use `Duration.fromInputUnsafe` to get a
 * value it can encode.)
 *
 *
 * **Example**
 *
 * ```ts
 * import { Duration, Schema } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const encoded = Schema.encodeSync(Budget.Limits)({ cost: 2, time: Duration.seconds(30) })
 * console.log(encoded) // { cost: 2, time: 30000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Limits = Schema.Struct({
  ...Usage.fields,
  time: Schema.optionalKey(Schema.DurationFromMillis)
})

/**
 * Limits of a budget: the usage dimensions plus `time`, the wall-clock time from the budget's creation, measured
 * with Effect's `Clock` (so `TestClock` drives it). A missing field means no limit in that dimension. `Infinity`
 * is accepted as "no limit" too.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const limits: Budget.Limits = { tokensOut: 4000, cost: 0.25, time: "2 minutes" }
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make(limits)
 *   const snapshot = yield* Budget.snapshot(budget)
 *   return [snapshot.limits.cost, snapshot.limits.calls] // calls are not limited
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // [0.25, Infinity]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits extends Usage {
  readonly time?: Duration.Input
}

/**
 * The usage dimensions.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const isDimension = Schema.is(Budget.Dimension)
 * console.log(isDimension("cost"), isDimension("time")) // true false
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Dimension = Schema.Literals(internal.dimensions)

/**
 * @since 0.1.0
 * @category models
 */
export type Dimension = typeof Dimension.Type

/**
 * One number per usage dimension (cost in USD).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensIn: 1000 })
 *   yield* Budget.spend(budget, { tokensIn: 250 })
 *   const spent: Budget.Amounts = (yield* Budget.snapshot(budget)).spent
 *   return spent
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // { tokensIn: 250, tokensOut: 0, cost: 0, calls: 0 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Amounts {
  readonly tokensIn: number
  readonly tokensOut: number
  readonly cost: number
  readonly calls: number
}

/**
 * The state of a budget at one instant. `limits` is `Infinity` in a dimension the budget does not limit itself;
 * `remaining` is what a `reserve` could still get in each dimension right now (for a child this accounts for the
 * ancestors that bound the dimensions it passes through; `Infinity` when nothing limits it). `deadline` is the
 * `Clock` time (epoch millis) at which the time limit passes and `timeRemaining` the millis left (both
 * `Infinity` without a time limit).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 10 })
 *   yield* Budget.reserve(budget, { calls: 3 })
 *   yield* Budget.spend(budget, { calls: 2 })
 *   const { spent, reserved, remaining, exhausted }: Budget.Snapshot = yield* Budget.snapshot(budget)
 *   return [spent.calls, reserved.calls, remaining.calls, exhausted]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [2, 3, 5, false]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly limits: Amounts
  readonly spent: Amounts
  readonly reserved: Amounts
  readonly remaining: Amounts
  readonly deadline: number
  readonly timeRemaining: number
  readonly exhausted: boolean
}

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

const formatAmount = (dimension: string, value: number): string =>
  dimension === "cost" ? `$${value}` : dimension === "calls" ? `${value} calls` : `${value} ${dimension}`

/**
 * A reservation (or spend, or child slice) did not fit. `dimension` names the first dimension that did not fit
 * (`"time"` when the time limit has passed or the budget was closed), `requested` the amount asked for in it and
 * `remaining` what was left. `reason` is `"insufficient"` when the amount does not fit in what remains,
 * `"exhausted"` when the budget is already exhausted, and `"closed"` when the (child) budget's scope has closed.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensOut: 1000 })
 *   yield* Budget.reserve(budget, { tokensOut: 800 })
 *   return yield* Budget.reserve(budget, { tokensOut: 500 }).pipe(Effect.flip)
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program).message)
 * // Budget exceeded in tokensOut: requested 500 tokensOut but only 200 tokensOut remain
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  dimension: Schema.Literals([...internal.dimensions, "time"]),
  reason: Schema.Literals(["insufficient", "exhausted", "closed"]),
  requested: Schema.Number,
  remaining: Schema.Number
}) {
  override get message(): string {
    switch (this.reason) {
      case "closed":
        return "Budget closed: the scope of this budget has ended"
      case "exhausted":
        return this.dimension === "time"
          ? "Budget exhausted: its time limit has passed"
          : `Budget exhausted: its ${this.dimension} limit has been reached`
      case "insufficient":
        return `Budget exceeded in ${this.dimension}: requested ${formatAmount(this.dimension, this.requested)} but only ${formatAmount(this.dimension, this.remaining)} remain`
    }
  }
}

/**
 * A commit charged more than its reservation held in `dimension`. The excess *was* charged (it was spent); callers
 * must reserve an upper bound.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ cost: 1 })
 *   const reservation = yield* Budget.reserve(budget, { cost: 0.1 })
 *   const error = yield* Budget.commit(reservation, { cost: 0.15 }).pipe(Effect.flip)
 *   const { spent } = yield* Budget.snapshot(budget)
 *   return [error._tag, spent.cost] // the excess was charged anyway
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // ["BudgetOverrun", 0.15]
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetOverrun extends Schema.TaggedError<BudgetOverrun>()("BudgetOverrun", {
  dimension: Dimension,
  reserved: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `Budget overrun in ${this.dimension}: ${formatAmount(this.dimension, this.actual)} used but only ${formatAmount(this.dimension, this.reserved)} reserved (the excess was charged)`
  }
}

/**
 * The reservation was already settled: by a `commit`, a `refund`, or by the closing of its (child) budget's scope
 * (which charges open reservations in full).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 5 })
 *   const reservation = yield* Budget.reserve(budget, { calls: 1 })
 *   yield* Budget.refund(reservation)
 *   return yield* Budget.commit(reservation, { calls: 1 }).pipe(Effect.flip)
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program).message) // Reservation already settled by refund
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ReservationSettled extends Schema.TaggedError<ReservationSettled>()("ReservationSettled", {
  settledBy: Schema.Literals(["commit", "refund", "close"])
}) {
  override get message(): string {
    return this.settledBy === "close"
      ? "Reservation already settled: its budget's scope closed (open reservations are charged in full)"
      : `Reservation already settled by ${this.settledBy}`
  }
}

/**
 * Limits (or an amount) were invalid; `field` names the offending field.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const error = Effect.runSync(Effect.scoped(Effect.flip(Budget.make({ cost: -1 }))))
 * console.log(error.message) // Invalid budget cost: must be non-negative, got -1
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetInvalid extends Schema.TaggedError<BudgetInvalid>()("BudgetInvalid", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid budget ${this.field}: ${this.reason}`
  }
}

// -----------------------------------------------------------------------------
// Budget and Reservation
// -----------------------------------------------------------------------------

/**
 * The brand carried by every `Budget`; test for it with `isBudget`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Budget } from "@handoffkit/core"
 *
 * console.log(Budget.TypeId) // "~@handoffkit/core/Budget"
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId = "~@handoffkit/core/Budget"

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A budget shared by concurrent agents. Create one with `make` or `child`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget: Budget.Budget = yield* Budget.make({ calls: 3 })
 *   yield* Budget.spend(budget, { calls: 1 })
 *   return (yield* Budget.snapshot(budget)).remaining.calls
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // 2
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Budget extends Pipeable {
  readonly [TypeId]: TypeId
}

/**
 * Tells whether a value is a `Budget`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.map(Budget.make({ calls: 1 }), Budget.isBudget).pipe(Effect.scoped)
 * console.log(Effect.runSync(program), Budget.isBudget({ calls: 1 })) // true false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isBudget = (u: unknown): u is Budget => Predicate.hasProperty(u, TypeId)

/**
 * The brand carried by every `Reservation`; test for it with `isReservation`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Budget } from "@handoffkit/core"
 *
 * console.log(Budget.ReservationTypeId) // "~@handoffkit/core/Budget/Reservation"
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const ReservationTypeId = "~@handoffkit/core/Budget/Reservation"

/**
 * @since 0.1.0
 * @category type ids
 */
export type ReservationTypeId = typeof ReservationTypeId

/**
 * An amount held on a budget by `reserve`, to be settled once with `commit` or `refund`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensOut: 1000 })
 *   const reservation: Budget.Reservation = yield* Budget.reserve(budget, { tokensOut: 400 })
 *   return reservation.amount
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // { tokensIn: 0, tokensOut: 400, cost: 0, calls: 0 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reservation {
  readonly [ReservationTypeId]: ReservationTypeId
  readonly budget: Budget
  /** The amount reserved (every dimension present, cost in USD). */
  readonly amount: Amounts
}

/**
 * Tells whether a value is a `Reservation`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 1 })
 *   return Budget.isReservation(yield* Budget.reserve(budget, { calls: 1 }))
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program), Budget.isReservation({ amount: {} })) // true false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isReservation = (u: unknown): u is Reservation => Predicate.hasProperty(u, ReservationTypeId)

class BudgetImpl implements Budget {
  readonly [TypeId]: TypeId = TypeId
  readonly ledger: internal.Ledger
  readonly deferred: Deferred.Deferred<void>
  /** Where its charges are traced, and under which name (`budget-<n>`, children `<parent>/<n>`). */
  readonly tracer: Tracer.Tracer
  readonly label: string
  children = 0
  constructor(
    ledger: internal.Ledger,
    deferred: Deferred.Deferred<void>,
    tracer: Tracer.Tracer,
    label: string
  ) {
    this.ledger = ledger
    this.deferred = deferred
    this.tracer = tracer
    this.label = label
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toJSON() {
    return { _id: "Budget", ...snapshotUnsafe(this) }
  }
  toString() {
    return `Budget(${JSON.stringify(this.toJSON())})`
  }
}

class ReservationImpl implements Reservation {
  readonly [ReservationTypeId]: ReservationTypeId = ReservationTypeId
  readonly budget: Budget
  readonly amount: Amounts
  readonly hold: internal.Hold
  constructor(budget: Budget, hold: internal.Hold) {
    this.budget = budget
    this.hold = hold
    this.amount = internal.fromVec(hold.held)
  }
  toJSON() {
    return { _id: "Reservation", amount: this.amount, settledBy: this.hold.settledBy }
  }
}

const ledgerOf = (budget: Budget): internal.Ledger => (budget as BudgetImpl).ledger

const holdOf = (reservation: Reservation): internal.Hold => (reservation as ReservationImpl).hold

// -----------------------------------------------------------------------------
// validation
// -----------------------------------------------------------------------------

const checkAmount = (field: string, value: unknown, allowInfinity: boolean): BudgetInvalid | undefined => {
  if (typeof value !== "number")
    return new BudgetInvalid({ field, reason: `expected a number, got ${options_.show(value)}` })
  if (Number.isNaN(value)) return new BudgetInvalid({ field, reason: "NaN is not an amount" })
  if (value < 0) return new BudgetInvalid({ field, reason: `must be non-negative, got ${value}` })
  if (!allowInfinity && value === Infinity) return new BudgetInvalid({ field, reason: "must be finite" })
  return undefined
}

/** Internal units of a usage amount, or the first invalid field. */
const usageVec = (usage: Usage, prefix: string): internal.Vec | BudgetInvalid => {
  for (const d of internal.dimensions) {
    const value = usage[d]
    if (value === undefined) continue
    const invalid = checkAmount(`${prefix}.${d}`, value, false)
    if (invalid !== undefined) return invalid
  }
  return internal.toVec(usage)
}

interface ParsedLimits {
  readonly limit: internal.Vec
  /** Millis, Infinity when none. */
  readonly time: number
}

const parseLimits = (limits: Limits): ParsedLimits | BudgetInvalid => {
  if (typeof limits !== "object" || limits === null)
    return new BudgetInvalid({ field: "limits", reason: `expected an object, got ${options_.show(limits)}` })
  const limit: internal.Vec = [Infinity, Infinity, Infinity, Infinity]
  for (let i = 0; i < 4; i++) {
    const d = internal.dimensions[i]
    const value = limits[d]
    if (value === undefined) continue
    const invalid = checkAmount(d, value, true)
    if (invalid !== undefined) return invalid
    limit[i] = internal.toUnits(i, value)
  }
  let time = Infinity
  if (limits.time !== undefined) {
    const duration = Duration.fromInput(limits.time)
    if (duration._tag === "None") {
      return new BudgetInvalid({ field: "time", reason: `not a duration: ${options_.show(limits.time)}` })
    }
    const millis = Duration.toMillis(duration.value)
    if (Number.isNaN(millis) || millis < 0) {
      return new BudgetInvalid({
        field: "time",
        reason: `must be a non-negative duration, got ${options_.show(limits.time)}`
      })
    }
    time = millis
  }
  return { limit, time }
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

let budgets = 0

const newBudget = (options: {
  readonly limit: internal.Vec
  readonly parent: internal.Ledger | undefined
  readonly slice?: internal.Hold | undefined
  readonly deadline: number
  readonly now: () => number
  readonly tracer: Tracer.Tracer
  readonly label: string
}): BudgetImpl => {
  const deferred = Deferred.makeUnsafe<void>()
  const { tracer, label } = options
  const ledger = internal.makeLedger({
    ...options,
    notify: () => {
      if (tracer.enabled) tracer.emit({ kind: "budget.exhausted", actor: label })
      Deferred.doneUnsafe(deferred, Effect.void)
    }
  })
  return new BudgetImpl(ledger, deferred, tracer, label)
}

// Charges are traced with the amounts that are non-zero, in the Usage units (tokens, USD, calls).
const traceCharge = (budget: Budget, kind: Tracer.Kind, vec: internal.Vec): void => {
  const impl = budget as BudgetImpl
  if (!impl.tracer.enabled) return
  const data: Record<string, number> = {}
  for (let i = 0; i < vec.length; i++)
    if (vec[i] !== 0) data[internal.dimensions[i]] = internal.fromUnits(i, vec[i])
  impl.tracer.emit({ kind, actor: impl.label, data })
}

/** Sleeps until the ledger's deadline by its own clock (re-checking, so it never fires early), then marks it. */
const timer = (ledger: internal.Ledger): Effect.Effect<void> =>
  Effect.suspend(() => {
    const left = ledger.deadline - ledger.now()
    if (left > 0) return Effect.flatMap(Effect.sleep(left), () => timer(ledger))
    internal.atomically(() => internal.refreshTime(ledger))
    return Effect.void
  })

/**
 * Creates a budget. A time limit starts counting now (by the `Clock`) and forks a timer into the scope that
 * completes `exhausted` at the deadline. Invalid limits (negative, NaN, not a number, not a duration) fail with
 * `BudgetInvalid` naming the field.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensIn: 100_000, cost: 0.5, time: "10 minutes" })
 *   yield* Budget.spend(budget, { tokensIn: 2_000, cost: 0.01 })
 *   const { remaining } = yield* Budget.snapshot(budget)
 *   return [remaining.tokensIn, remaining.cost, remaining.calls]
 * }).pipe(Effect.scoped) // closing the scope stops the time limit's timer
 * Effect.runPromise(program).then(console.log) // [98000, 0.49, Infinity]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (limits: Limits) => Effect.Effect<Budget, BudgetInvalid, Scope.Scope> = Effect.fnUntraced(
  function* (limits: Limits) {
    const parsed = parseLimits(limits)
    if (parsed instanceof BudgetInvalid) return yield* parsed
    const clock = yield* Effect.clockWith(Effect.succeed)
    const now = () => clock.currentTimeMillisUnsafe()
    const tracer = yield* Tracer.CurrentTracer
    const budget = internal.atomically(() =>
      newBudget({
        limit: parsed.limit,
        parent: undefined,
        deadline: now() + parsed.time,
        now,
        tracer,
        label: `budget-${++budgets}`
      })
    )
    if (budget.ledger.deadline !== Infinity) yield* Effect.forkScoped(timer(budget.ledger))
    return budget as Budget
  }
)

/**
 * Slices a sub-budget off `parent`. The child's limits are reserved from the parent as one reservation (failing
 * with `BudgetExceeded` when they do not fit); the child spends against its own limits. A dimension the child does
 * not limit is passed through: its reservations and charges apply to the parent at once, so the parent's limit
 * still binds it.
 *
 * When the child's scope closes, its own children are closed first, reservations still open on it are charged in
 * full (their calls may have happened), what it spent is charged to the parent and the unspent part of the slice
 * is released back to the parent. The child is then closed: `reserve` on it fails (reason `"closed"`) and its
 * `exhausted` completes.
 *
 * The child's time limit is capped at the parent's deadline, and when the parent is exhausted (its time runs out
 * or one of its limits is reached) the child is exhausted too.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const team = yield* Budget.make({ cost: 1 })
 *   const during = yield* Effect.scoped(
 *     Effect.gen(function*() {
 *       const agent = yield* Budget.child(team, { cost: 0.25 })
 *       yield* Budget.spend(agent, { cost: 0.1 })
 *       return (yield* Budget.snapshot(team)).remaining.cost // the whole slice is held
 *     })
 *   )
 *   const after = (yield* Budget.snapshot(team)).remaining.cost // the unspent rest came back
 *   return [during, after]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [0.75, 0.9]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const child = (
  parent: Budget,
  limits: Limits
): Effect.Effect<Budget, BudgetExceeded | BudgetInvalid, Scope.Scope> =>
  Effect.suspend((): Effect.Effect<Budget, BudgetExceeded | BudgetInvalid, Scope.Scope> => {
    const parsed = parseLimits(limits)
    if (parsed instanceof BudgetInvalid) return Effect.fail(parsed)
    const parentLedger = ledgerOf(parent)
    const slice: internal.Vec = parsed.limit.map((l) => (l === Infinity ? 0 : l)) as internal.Vec
    const acquire = Effect.suspend(() => {
      const now = parentLedger.now
      const result = internal.atomically(() => {
        const short = internal.shortfall(parentLedger, slice)
        if (short !== undefined) return short
        const hold = internal.hold(parentLedger, slice)
        const parentImpl = parent as BudgetImpl
        return newBudget({
          limit: parsed.limit,
          parent: parentLedger,
          slice: hold,
          deadline: now() + parsed.time,
          now,
          tracer: parentImpl.tracer,
          label: `${parentImpl.label}/${++parentImpl.children}`
        })
      })
      return result instanceof BudgetImpl ? Effect.succeed(result) : Effect.fail(exceeded(result))
    })
    return Effect.acquireRelease(acquire, (budget) =>
      Effect.sync(() => internal.atomically(() => internal.close(budget.ledger)))
    ).pipe(
      Effect.tap((budget) =>
        budget.ledger.deadline < parentLedger.deadline ? Effect.forkScoped(timer(budget.ledger)) : Effect.void
      )
    )
  })

const exceeded = (s: internal.Shortfall): BudgetExceeded =>
  new BudgetExceeded({
    dimension: s.dimension,
    reason: s.reason,
    requested: s.index < 0 ? s.requested : internal.fromUnits(s.index, s.requested),
    remaining: s.index < 0 ? s.remaining : internal.fromUnits(s.index, s.remaining)
  })

// -----------------------------------------------------------------------------
// spending
// -----------------------------------------------------------------------------

/**
 * Holds `amount` on the budget, atomically: fails with `BudgetExceeded` if in any dimension spent + reserved +
 * amount would exceed the limit, or if the budget is exhausted, out of time or closed. An invalid amount
 * (negative, NaN, infinite) is a defect.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensOut: 1000 })
 *   yield* Budget.reserve(budget, { tokensOut: 600 })
 *   const error = yield* Budget.reserve(budget, { tokensOut: 600 }).pipe(Effect.flip)
 *   return [error._tag, error.remaining]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // ["BudgetExceeded", 400]
 * ```
 *
 * @since 0.1.0
 * @category spending
 */
export const reserve = (budget: Budget, amount: Usage): Effect.Effect<Reservation, BudgetExceeded> =>
  Effect.suspend(() => {
    const vec = usageVec(amount, "amount")
    if (vec instanceof BudgetInvalid) return Effect.die(vec)
    const ledger = ledgerOf(budget)
    const result = internal.atomically(() => internal.shortfall(ledger, vec) ?? internal.hold(ledger, vec))
    if (!("ledger" in result)) return Effect.fail(exceeded(result))
    traceCharge(budget, "budget.reserve", vec)
    return Effect.succeed<Reservation>(new ReservationImpl(budget, result))
  })

const overrunError = (o: internal.Overrun): BudgetOverrun =>
  new BudgetOverrun({
    dimension: internal.dimensions[o.index],
    reserved: internal.fromUnits(o.index, o.held),
    actual: internal.fromUnits(o.index, o.actual)
  })

const settle = (
  reservation: Reservation,
  actual: Usage,
  final: boolean
): Effect.Effect<void, BudgetOverrun | ReservationSettled> =>
  Effect.suspend((): Effect.Effect<void, BudgetOverrun | ReservationSettled> => {
    const vec = usageVec(actual, "actual")
    if (vec instanceof BudgetInvalid) return Effect.die(vec)
    const hold = holdOf(reservation)
    if (hold.settledBy !== undefined)
      return Effect.fail(new ReservationSettled({ settledBy: hold.settledBy }))
    // Traced inside the atomic step, so that the commit comes before the "budget.exhausted" it may cause.
    const overrun = internal.atomically(() => {
      const result = internal.charge(hold, vec, final)
      traceCharge(reservation.budget, "budget.commit", vec)
      return result
    })
    return overrun === undefined ? Effect.void : Effect.fail(overrunError(overrun))
  })

/**
 * Settles the reservation: releases what it still holds and charges `actual` (usage not already charged with
 * `commitPartial`). If `actual` exceeds what was held in a dimension, the excess is charged anyway (it was spent)
 * and the commit fails with `BudgetOverrun` naming the dimension; reserve an upper bound. Fails with
 * `ReservationSettled` if the reservation was already settled.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensOut: 1000 })
 *   const reservation = yield* Budget.reserve(budget, { tokensOut: 800 }) // an upper bound
 *   yield* Budget.commit(reservation, { tokensOut: 350 }) // what the call used
 *   const { spent, reserved } = yield* Budget.snapshot(budget)
 *   return [spent.tokensOut, reserved.tokensOut]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [350, 0]
 * ```
 *
 * @since 0.1.0
 * @category spending
 */
export const commit = (
  reservation: Reservation,
  actual: Usage
): Effect.Effect<void, BudgetOverrun | ReservationSettled> => settle(reservation, actual, true)

/**
 * Charges `usage` against the reservation without settling it: the charged amount moves from held to spent and
 * the reservation stays open for the rest. Use it to record usage as a streaming model call reports it, so that
 * an interrupted call has already charged what it used before `withReservation` (or you) refund the rest. Excess
 * over what is held is charged and reported as `BudgetOverrun` (the reservation then still stays open).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensOut: 1000 })
 *   const reservation = yield* Budget.reserve(budget, { tokensOut: 800 })
 *   yield* Budget.commitPartial(reservation, { tokensOut: 100 }) // a streamed chunk
 *   yield* Budget.commitPartial(reservation, { tokensOut: 150 }) // another
 *   const { spent, reserved } = yield* Budget.snapshot(budget)
 *   return [spent.tokensOut, reserved.tokensOut]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [250, 550]
 * ```
 *
 * @since 0.1.0
 * @category spending
 */
export const commitPartial = (
  reservation: Reservation,
  usage: Usage
): Effect.Effect<void, BudgetOverrun | ReservationSettled> => settle(reservation, usage, false)

/**
 * Settles the reservation, releasing what it still holds without charging anything. Fails with
 * `ReservationSettled` if the reservation was already settled.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 1 })
 *   const reservation = yield* Budget.reserve(budget, { calls: 1 })
 *   yield* Budget.refund(reservation) // the call never happened
 *   return (yield* Budget.snapshot(budget)).remaining.calls
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // 1
 * ```
 *
 * @since 0.1.0
 * @category spending
 */
export const refund = (reservation: Reservation): Effect.Effect<void, ReservationSettled> =>
  Effect.suspend(() => {
    const hold = holdOf(reservation)
    if (hold.settledBy !== undefined)
      return Effect.fail(new ReservationSettled({ settledBy: hold.settledBy }))
    const held = [...hold.held] as unknown as internal.Vec
    internal.atomically(() => internal.release(hold, "refund"))
    traceCharge(reservation.budget, "budget.refund", held)
    return Effect.void
  })

/**
 * Reserves `amount` and commits the same amount, in one atomic step.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 2 })
 *   yield* Budget.spend(budget, { calls: 2 })
 *   return Budget.isExhaustedUnsafe(budget)
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // true
 * ```
 *
 * @since 0.1.0
 * @category spending
 */
export const spend = (budget: Budget, amount: Usage): Effect.Effect<void, BudgetExceeded> =>
  Effect.suspend(() => {
    const vec = usageVec(amount, "amount")
    if (vec instanceof BudgetInvalid) return Effect.die(vec)
    const ledger = ledgerOf(budget)
    const short = internal.atomically(() => {
      const short = internal.shortfall(ledger, vec)
      if (short === undefined) {
        internal.charge(internal.hold(ledger, vec), vec, true)
        traceCharge(budget, "budget.commit", vec)
      }
      return short
    })
    return short === undefined ? Effect.void : Effect.fail(exceeded(short))
  })

/**
 * Reserves `amount`, runs `use` with the reservation and commits the usage it returns (which, like `commit`'s,
 * is the usage not already charged with `commitPartial`). If `use` fails or is interrupted, what the reservation
 * still holds is refunded.
 *
 * An interrupted model call may still have been billed: to charge it, record usage inside `use` with
 * `commitPartial` as the provider reports it (it is then kept, and only the rest is refunded), or settle the
 * reservation yourself (e.g. `commit` in an `Effect.onInterrupt`). If `use` settled the reservation itself, the
 * usage it returns is ignored. A commit that overruns the reservation fails with `BudgetOverrun` (the usage is
 * charged anyway).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const callModel = (prompt: string) =>
 *   Effect.succeed([`echo: ${prompt}`, { tokensOut: 30, calls: 1 }] as const) // the answer and its usage
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensOut: 1000, calls: 10 })
 *   const answer = yield* Budget.withReservation(budget, { tokensOut: 500, calls: 1 }, () => callModel("hi"))
 *   const { spent, reserved } = yield* Budget.snapshot(budget)
 *   return [answer, spent.tokensOut, reserved.tokensOut]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // ["echo: hi", 30, 0]
 * ```
 *
 * @since 0.1.0
 * @category spending
 */
export const withReservation = <A, E, R>(
  budget: Budget,
  amount: Usage,
  use: (reservation: Reservation) => Effect.Effect<readonly [A, Usage], E, R>
): Effect.Effect<A, E | BudgetExceeded | BudgetOverrun, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(reserve(budget, amount), (reservation) =>
      Effect.flatMap(Effect.exit(restore(Effect.suspend(() => use(reservation)))), (exit) => {
        const hold = holdOf(reservation)
        if (Exit.isSuccess(exit)) {
          const [a, usage] = exit.value
          if (hold.settledBy !== undefined) return Effect.succeed(a)
          return Effect.as(
            Effect.catchTag(commit(reservation, usage), "ReservationSettled", () => Effect.void),
            a
          )
        }
        if (hold.settledBy === undefined) internal.atomically(() => internal.release(hold, "refund"))
        return Effect.failCause(exit.cause)
      })
    )
  )

// -----------------------------------------------------------------------------
// exhaustion and inspection
// -----------------------------------------------------------------------------

/**
 * Waits until the budget is exhausted: some dimension it limits has spent reaching its limit, its time limit
 * has passed, an ancestor is exhausted, or (for a child) its scope has closed. Completes at once if it already
 * is; never before.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ time: "20 millis" })
 *   yield* Budget.exhausted(budget) // completes when the time limit passes
 *   return Budget.isExhaustedUnsafe(budget)
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @since 0.1.0
 * @category exhaustion
 */
export const exhausted = (budget: Budget): Effect.Effect<void> =>
  Effect.suspend(() => {
    isExhaustedUnsafe(budget)
    return Deferred.await((budget as BudgetImpl).deferred)
  })

/**
 * The `Deferred` that completes when the budget is exhausted, for racing (e.g. by `Select`) without consuming
 * anything. Treat it as read-only: only the budget completes it.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Deferred, Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 1 })
 *   const done = Budget.exhaustedDeferred(budget)
 *   const before = Deferred.isDoneUnsafe(done)
 *   yield* Budget.spend(budget, { calls: 1 })
 *   return [before, Deferred.isDoneUnsafe(done)]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [false, true]
 * ```
 *
 * @since 0.1.0
 * @category exhaustion
 */
export const exhaustedDeferred = (budget: Budget): Deferred.Deferred<void> => {
  isExhaustedUnsafe(budget)
  return (budget as BudgetImpl).deferred
}

/**
 * Whether the budget is exhausted now (synchronous; reads the `Clock` captured at creation for the time limit).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ tokensIn: 100 })
 *   yield* Budget.spend(budget, { tokensIn: 99 })
 *   const before = Budget.isExhaustedUnsafe(budget)
 *   yield* Budget.spend(budget, { tokensIn: 1 }) // spent reaches the limit
 *   return [before, Budget.isExhaustedUnsafe(budget)]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [false, true]
 * ```
 *
 * @since 0.1.0
 * @category exhaustion
 */
export const isExhaustedUnsafe = (budget: Budget): boolean => internal.isExhausted(ledgerOf(budget))

const snapshotUnsafe = (budget: Budget): Snapshot => {
  const ledger = ledgerOf(budget)
  const exhausted = internal.isExhausted(ledger)
  const left: internal.Vec = [0, 1, 2, 3].map((i) => internal.remaining(ledger, i)) as internal.Vec
  return {
    limits: internal.fromVec(ledger.limit),
    spent: internal.fromVec(ledger.spent),
    reserved: internal.fromVec(ledger.reserved),
    remaining: internal.fromVec(left),
    deadline: ledger.deadline,
    timeRemaining: Math.max(0, ledger.deadline - ledger.now()),
    exhausted
  }
}

/**
 * The budget's limits, spent, reserved and remaining amounts per dimension (`Infinity` where unlimited).
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ cost: 2 })
 *   yield* Budget.spend(budget, { cost: 0.5 })
 *   const { limits, spent, remaining } = yield* Budget.snapshot(budget)
 *   return [spent.cost, remaining.cost, limits.tokensIn]
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // [0.5, 1.5, Infinity]
 * ```
 *
 * @since 0.1.0
 * @category inspection
 */
export const snapshot = (budget: Budget): Effect.Effect<Snapshot> => Effect.sync(() => snapshotUnsafe(budget))
