/**
 * The synchronous ledger behind `Budget`. Everything here is plain, synchronous JavaScript: every public
 * operation of `Budget` runs one of these functions inside a single `Effect.sync`, so a check and the update it
 * guards can never be separated by another fiber (JavaScript runs one fiber step at a time and nothing here
 * yields). That is what makes `reserve` an atomic check-and-hold.
 *
 * Units: amounts are kept in "vectors" of the four usage dimensions. Tokens and calls are kept as given (exact
 * when they are integers, as they are in practice). Cost is kept as an integer number of nano-dollars, so adding
 * and removing many small costs never drifts: the sums are exact up to 2^53 nano-dollars (about 9 million USD).
 * A limit is rounded to the nearest nano-dollar; a charge (what is reserved, committed or spent) is rounded
 * *up* (`chargeUnits`), so a positive cost is never charged as zero and the ledger can only over-count, never
 * under-count, what was spent.
 *
 * Hierarchy: a child ledger either *slices* a dimension (the child has its own limit, which was reserved from the
 * parent as one hold and is settled with the parent when the child closes) or *passes it through* (the child
 * has no limit of its own: every hold and charge in that dimension is applied to the parent at once, and so on
 * up the chain, so the parent's limit bounds the child's spending live).
 *
 * @internal
 */

/** @internal */
export const dimensions = ["tokensIn", "tokensOut", "cost", "calls"] as const

/** @internal */
export type Dimension = (typeof dimensions)[number]

/** @internal */
export type Vec = [number, number, number, number]

/** @internal */
export const COST = 2

/** @internal */
export const NANO_USD = 1_000_000_000

/** @internal */
export const zero = (): Vec => [0, 0, 0, 0]

/** Converts one user-facing value of dimension `i` to internal units. @internal */
export const toUnits = (i: number, value: number): number =>
  i === COST && Number.isFinite(value) ? Math.round(value * NANO_USD) : value

/**
 * Converts one charged value of dimension `i` to internal units, rounding a cost *up* to the next nano-dollar
 * (a cost of 4e-10 USD is charged as 1e-9, never as 0). The tolerance of one part in 10^12 keeps floating-point
 * noise from rounding an exact price up (`0.0042 * 1e9` is `4200000.000000001`, charged as 4200000). @internal
 */
export const chargeUnits = (i: number, value: number): number =>
  i === COST && Number.isFinite(value) ? Math.ceil(value * NANO_USD * (1 - 1e-12)) : value

/** Converts one internal value of dimension `i` to user-facing units. @internal */
export const fromUnits = (i: number, value: number): number =>
  i === COST && Number.isFinite(value) ? value / NANO_USD : value

/** @internal */
export const toVec = (usage: { readonly [K in Dimension]?: number | undefined }): Vec => {
  const v = zero()
  for (let i = 0; i < 4; i++) {
    const x = usage[dimensions[i]]
    if (x !== undefined) v[i] = chargeUnits(i, x)
  }
  return v
}

/** @internal */
export const fromVec = (v: Readonly<Vec>): { [K in Dimension]: number } => ({
  tokensIn: v[0],
  tokensOut: v[1],
  cost: fromUnits(COST, v[2]),
  calls: v[3]
})

/** Why a ledger is exhausted. "closed" means its scope closed (its lifetime is over). @internal */
export type Cause = Dimension | "time" | "closed"

/** @internal */
export interface Ledger {
  /** Own limit per dimension, Infinity when this ledger has none. */
  readonly limit: Vec
  readonly spent: Vec
  readonly reserved: Vec
  readonly parent: Ledger | undefined
  /** Dimensions with no own limit whose holds and charges are applied to the parent too. */
  readonly passThrough: readonly [boolean, boolean, boolean, boolean]
  /** Epoch millis (Clock) at which the time limit passes, Infinity when none (already min'd with the parent). */
  readonly deadline: number
  readonly now: () => number
  exhaustedBy: Cause | undefined
  closed: boolean
  readonly children: Set<Ledger>
  readonly holds: Set<Hold>
  /** The hold on the parent that this ledger's sliced dimensions came from. */
  readonly slice: Hold | undefined
  /** Called (after the mutation completes) when the ledger becomes exhausted. */
  readonly notify: () => void
}

/** @internal */
export interface Hold {
  readonly ledger: Ledger
  /** What is still held, per dimension (internal units). */
  readonly held: Vec
  settledBy: "commit" | "refund" | "close" | undefined
}

// -----------------------------------------------------------------------------
// notifications are deferred until the outermost operation finishes, so that a
// fiber woken by an exhaustion never observes a half-applied update
// -----------------------------------------------------------------------------

let depth = 0
let pending: Array<() => void> = []

/** Runs `f` as one atomic ledger operation and then fires the exhaustion notifications it caused. @internal */
export const atomically = <A>(f: () => A): A => {
  depth++
  try {
    return f()
  } finally {
    depth--
    if (depth === 0 && pending.length > 0) {
      const fire = pending
      pending = []
      for (const notify of fire) notify()
    }
  }
}

/** @internal */
export const makeLedger = (options: {
  readonly limit: Vec
  readonly parent: Ledger | undefined
  readonly slice?: Hold | undefined
  readonly deadline: number
  readonly now: () => number
  readonly notify: () => void
}): Ledger => {
  const parent = options.parent
  const passThrough = options.limit.map((l) => parent !== undefined && l === Infinity) as [
    boolean,
    boolean,
    boolean,
    boolean
  ]
  const ledger: Ledger = {
    limit: options.limit,
    spent: zero(),
    reserved: zero(),
    parent,
    passThrough,
    deadline: parent === undefined ? options.deadline : Math.min(options.deadline, parent.deadline),
    now: options.now,
    exhaustedBy: undefined,
    closed: false,
    children: new Set(),
    holds: new Set(),
    slice: options.slice,
    notify: options.notify
  }
  if (parent !== undefined) {
    parent.children.add(ledger)
    if (parent.exhaustedBy !== undefined) exhaust(ledger, parent.exhaustedBy)
  }
  // a zero limit is reached at once
  for (let i = 0; i < 4; i++) checkDim(ledger, i)
  refreshTime(ledger)
  return ledger
}

/** Marks `ledger` and all its descendants exhausted (first cause wins). @internal */
export const exhaust = (ledger: Ledger, cause: Cause): void => {
  if (ledger.exhaustedBy !== undefined) return
  ledger.exhaustedBy = cause
  pending.push(ledger.notify)
  for (const child of ledger.children) exhaust(child, cause)
  if (depth === 0) atomically(() => undefined)
}

const checkDim = (ledger: Ledger, i: number): void => {
  if (ledger.limit[i] !== Infinity && ledger.spent[i] >= ledger.limit[i]) exhaust(ledger, dimensions[i])
}

/** Exhausts every ledger on the chain from `ledger` up whose deadline has passed. @internal */
export const refreshTime = (ledger: Ledger): void => {
  for (let l: Ledger | undefined = ledger; l !== undefined; l = l.parent) {
    if (l.exhaustedBy === undefined && l.deadline !== Infinity && l.now() >= l.deadline) exhaust(l, "time")
  }
}

/** @internal */
export const isExhausted = (ledger: Ledger): boolean => {
  if (ledger.exhaustedBy === undefined) atomically(() => refreshTime(ledger))
  return ledger.exhaustedBy !== undefined
}

/** Applies a change of reserved / spent in dimension `i` to `ledger` and its pass-through ancestors. */
const apply = (ledger: Ledger, i: number, deltaReserved: number, deltaSpent: number): void => {
  for (let l: Ledger | undefined = ledger; l !== undefined; l = l.passThrough[i] ? l.parent : undefined) {
    l.reserved[i] += deltaReserved
    l.spent[i] += deltaSpent
    if (deltaSpent > 0) checkDim(l, i)
  }
}

/** What is left in dimension `i` for `ledger` (Infinity when nothing on its chain limits it). @internal */
export const remaining = (ledger: Ledger, i: number): number => {
  for (let l: Ledger | undefined = ledger; l !== undefined; l = l.passThrough[i] ? l.parent : undefined) {
    if (l.limit[i] !== Infinity) return Math.max(0, l.limit[i] - l.spent[i] - l.reserved[i])
  }
  return Infinity
}

/** @internal */
export interface Shortfall {
  readonly reason: "insufficient" | "exhausted" | "closed"
  readonly dimension: Dimension | "time"
  /** Internal units. */
  readonly requested: number
  /** Internal units. */
  readonly remaining: number
  /** Index of the dimension, -1 for time. */
  readonly index: number
}

/**
 * Checks whether `amount` can be held now: the ledger (and its chain) must not be exhausted or out of time and,
 * in every dimension, spent + reserved + amount must stay within the limit that governs it.
 * @internal
 */
export const shortfall = (ledger: Ledger, amount: Readonly<Vec>): Shortfall | undefined => {
  refreshTime(ledger)
  if (ledger.closed) return { reason: "closed", dimension: "time", requested: 0, remaining: 0, index: -1 }
  const by = ledger.exhaustedBy
  if (by !== undefined) {
    if (by === "time" || by === "closed") {
      return {
        reason: by === "closed" ? "closed" : "exhausted",
        dimension: "time",
        requested: 0,
        remaining: 0,
        index: -1
      }
    }
    const index = dimensions.indexOf(by)
    return { reason: "exhausted", dimension: by, requested: amount[index], remaining: 0, index }
  }
  for (let i = 0; i < 4; i++) {
    const left = remaining(ledger, i)
    if (amount[i] > left) {
      return {
        reason: "insufficient",
        dimension: dimensions[i],
        requested: amount[i],
        remaining: left,
        index: i
      }
    }
  }
  return undefined
}

/** Holds `amount` (which must have passed `shortfall` in the same synchronous step). @internal */
export const hold = (ledger: Ledger, amount: Readonly<Vec>): Hold => {
  for (let i = 0; i < 4; i++) if (amount[i] !== 0) apply(ledger, i, amount[i], 0)
  const h: Hold = { ledger, held: [amount[0], amount[1], amount[2], amount[3]], settledBy: undefined }
  ledger.holds.add(h)
  return h
}

/** @internal */
export interface Overrun {
  readonly index: number
  /** Internal units. */
  readonly held: number
  /** Internal units. */
  readonly actual: number
}

/**
 * Charges `actual` against `h`. When `final`, the rest of the hold is released and the hold is settled;
 * otherwise only what was charged is released (up to what is held) and the hold stays open. Anything charged
 * beyond what is held is still charged (it was spent) and reported as an overrun.
 * @internal
 */
export const charge = (h: Hold, actual: Readonly<Vec>, final: boolean): Overrun | undefined => {
  let overrun: Overrun | undefined
  for (let i = 0; i < 4; i++) {
    // Only a limited dimension can be overrun: charging what nobody limits (a provider's full usage report,
    // say) is bookkeeping, not an error.
    if (overrun === undefined && actual[i] > h.held[i] && isLimited(h.ledger, i))
      overrun = { index: i, held: h.held[i], actual: actual[i] }
  }
  for (let i = 0; i < 4; i++) {
    const release = final ? h.held[i] : Math.min(actual[i], h.held[i])
    h.held[i] -= release
    if (release !== 0 || actual[i] !== 0) apply(h.ledger, i, -release, actual[i])
  }
  if (final) {
    h.settledBy = "commit"
    h.ledger.holds.delete(h)
  }
  return overrun
}

/** Whether dimension `i` is limited by this ledger or, through pass-through, by an ancestor. */
const isLimited = (ledger: Ledger, i: number): boolean => {
  for (let l: Ledger | undefined = ledger; l !== undefined; l = l.passThrough[i] ? l.parent : undefined) {
    if (l.limit[i] !== Infinity) return true
  }
  return false
}

/** Releases what `h` still holds without charging anything. @internal */
export const release = (h: Hold, settledBy: "refund" | "close"): void => {
  for (let i = 0; i < 4; i++) {
    const x = h.held[i]
    h.held[i] = 0
    if (x !== 0) apply(h.ledger, i, -x, 0)
  }
  h.settledBy = settledBy
  h.ledger.holds.delete(h)
}

/**
 * Closes a ledger (idempotent): its descendants are closed first (so their slices come back to it), holds still
 * open on it are charged in full (their model calls may have happened; the hold is the conservative upper
 * bound), it is marked closed and exhausted and detached from its parent, and its slice is settled with the
 * parent: what it spent in the sliced dimensions is charged and the unspent rest is released (the passed-through
 * dimensions were charged to the parent as they were spent).
 * @internal
 */
export const close = (ledger: Ledger): void => {
  if (ledger.closed) return
  ledger.closed = true
  for (const child of Array.from(ledger.children)) close(child)
  for (const h of Array.from(ledger.holds)) {
    charge(h, [h.held[0], h.held[1], h.held[2], h.held[3]], true)
    h.settledBy = "close"
  }
  exhaust(ledger, "closed")
  ledger.parent?.children.delete(ledger)
  const slice = ledger.slice
  if (slice !== undefined && slice.settledBy === undefined) {
    const sliced = zero()
    for (let i = 0; i < 4; i++) if (!ledger.passThrough[i]) sliced[i] = ledger.spent[i]
    charge(slice, sliced, true)
  }
}
