/**
 * The join machinery: a table of open rounds, a table of recently closed rounds, and one sweeper fiber that
 * expires and forgets them on time.
 *
 * Invariants (each kept by the function that mutates the field it names):
 * 1. A round id is in at most one table: `open` or `closed`. `openRound` inserts into `open`; `complete` and
 *    `expire` move it from `open` to `closed`; `forget` removes it from `closed`. Nothing else touches them.
 * 2. A round's deferred is completed exactly once: by `complete` (success), `expire` (`RoundExpired`) or
 *    `shutdown` (interrupt), and each of those first removes the round from `open`, so none can run twice.
 * 3. Both tables are in insertion order, which is deadline order: `open` by `deadline = openedAt + timeout`,
 *    `closed` by `forgetAt = closedAt + retain`, and the Clock never goes back. So the sweeper stops at the
 *    first entry that is not due, and memory is bounded by the rounds touched in the last
 *    `timeout + retain`: an abandoned round cannot stay.
 * 4. Every decision and its effect on the tables happen in one synchronous step, with no yield in between, so
 *    concurrent `offer`s and the sweeper never see a half-made change. `offer` and `await` also apply a
 *    due expiry or forget themselves, so the outcome depends on the Clock only, never on when the sweeper
 *    happened to run.
 * @internal
 */
import { Clock, Deferred, Duration, Effect, Exit, Option, Schema, Scope } from "effect"
import { pipeArguments } from "effect/Pipeable"
import type { Address, Envelope } from "../Envelope.ts"
import { isEnvelope } from "../Envelope.ts"
import type { Join, OfferError, Options, Part, PartInput, Round } from "../Join.ts"
import {
  DuplicatePart,
  JoinInvalid,
  MissingCorrelationId,
  RoundClosed,
  RoundExpired,
  UnexpectedSender
} from "../Join.ts"
import * as options_ from "./options.ts"
import * as Tracer from "../Tracer.ts"

/** @internal */
export const TypeId = "~handoffkit/Join" as const

interface OpenRound<A> {
  readonly id: string
  readonly openedAt: number
  readonly deadline: number
  readonly parts: Array<Part<A>>
  readonly senders: Set<Address>
  readonly deferred: Deferred.Deferred<Round<A>, RoundExpired>
}

interface ClosedRound<A> {
  readonly state: "completed" | "expired"
  readonly forgetAt: number
  readonly deferred: Deferred.Deferred<Round<A>, RoundExpired>
}

/** @internal */
export interface JoinImpl<A> extends Join<A> {
  readonly expectedSenders: ReadonlySet<Address> | undefined
  readonly timeoutMillis: number
  readonly retainMillis: number
  readonly clock: Clock.Clock
  readonly tracer: Tracer.Tracer
  readonly open: Map<string, OpenRound<A>>
  readonly closed: Map<string, ClosedRound<A>>
  /** Told of each expiry, synchronously, when it happens (the actor form forwards it to its actor). */
  readonly onExpired: ((error: RoundExpired) => void) | undefined
  isShutdown: boolean
  /** When the sweeper next wakes by itself; `Infinity` while it waits for a first round. */
  wakeAt: number
  /** Completing it wakes the sweeper early (a round or tombstone now falls due before `wakeAt`). */
  wake: Deferred.Deferred<void> | undefined
}

const JoinProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toString(this: JoinImpl<unknown>) {
    return `Join(${this.name})`
  },
  toJSON(this: JoinImpl<unknown>) {
    return { _id: "Join", name: this.name, parts: this.parts, quorum: this.quorum, open: this.open.size }
  }
}

/** @internal */
export const impl = <A>(self: Join<A>) => self as JoinImpl<A>

const invalid = (option: string, problem: string, value: unknown) =>
  Effect.fail(new JoinInvalid({ option, value: options_.show(value), problem }))

/** The shape of `Join.Options`; the rules that relate fields (quorum ≤ parts, no sender twice) follow it. */
export const OptionsSchema = Schema.Struct({
  parts: Schema.Union([options_.PositiveInt, Schema.Array(options_.Name).check(Schema.isMinLength(1))]),
  quorum: options_.optional(options_.PositiveInt),
  timeout: options_.FinitePositiveDurationInput,
  retain: options_.optional(options_.FiniteDurationInput),
  name: options_.optional(options_.Name)
})

const durationMillis = (input: Duration.Input): number | undefined => {
  const duration = Duration.fromInput(input)
  return Option.isSome(duration) ? Duration.toMillis(duration.value) : undefined
}

/** Validates the options and builds the join; no fiber yet. @internal */
export const makeUnsafe = <A>(
  options: Options,
  clock: Clock.Clock,
  tracer: Tracer.Tracer,
  onExpired: ((error: RoundExpired) => void) | undefined
): Effect.Effect<JoinImpl<A>, JoinInvalid> => {
  const problem = options_.check(OptionsSchema, options)
  if (problem !== undefined) return Effect.fail(new JoinInvalid(problem))
  const list = typeof options.parts === "number" ? undefined : options.parts
  const parts = list === undefined ? (options.parts as number) : list.length
  if (!Number.isInteger(parts) || parts < 1) {
    return invalid("parts", `${parts} is not a positive integer number of parts`, options.parts)
  }
  const expectedSenders = list === undefined ? undefined : new Set(list)
  if (expectedSenders !== undefined && expectedSenders.size !== parts) {
    return invalid("parts", "the list of expected senders names a sender twice", options.parts)
  }
  const quorum = options.quorum ?? parts
  if (!Number.isInteger(quorum) || quorum < 1 || quorum > parts) {
    return invalid(
      "quorum",
      `${quorum} is not an integer between 1 and ${parts} (the number of parts)`,
      quorum
    )
  }
  const timeoutMillis = durationMillis(options.timeout)
  if (timeoutMillis === undefined || !(timeoutMillis > 0) || !Number.isFinite(timeoutMillis)) {
    return invalid("timeout", "must be a finite duration above zero: every round must end", options.timeout)
  }
  const retainMillis = options.retain === undefined ? timeoutMillis : durationMillis(options.retain)
  if (retainMillis === undefined || !(retainMillis >= 0) || !Number.isFinite(retainMillis)) {
    return invalid("retain", "must be a finite duration, zero or more", options.retain)
  }
  const self: JoinImpl<A> = Object.create(JoinProto)
  Object.assign(self, {
    name: options.name ?? "join",
    parts,
    quorum,
    senders: list === undefined ? undefined : [...list],
    timeout: Duration.millis(timeoutMillis),
    expectedSenders,
    timeoutMillis,
    retainMillis,
    clock,
    tracer,
    open: new Map(),
    closed: new Map(),
    onExpired,
    isShutdown: false,
    wakeAt: Number.POSITIVE_INFINITY,
    wake: undefined
  })
  return Effect.succeed(self)
}

/** Makes the join and starts its sweeper in the current Scope. @internal */
export const make = <A>(
  options: Options,
  onExpired?: (error: RoundExpired) => void
): Effect.Effect<Join<A>, JoinInvalid, Scope.Scope> =>
  Effect.withFiber((fiber) =>
    Effect.gen(function* () {
      const self = yield* makeUnsafe<A>(
        options,
        fiber.getRef(Clock.Clock),
        fiber.getRef(Tracer.CurrentTracer),
        onExpired
      )
      const scope = yield* Scope.Scope
      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => shutdown(self))
      )
      yield* Effect.forkIn(sweeper(self), scope)
      return self as Join<A>
    })
  )

// -----------------------------------------------------------------------------
// the sweeper
// -----------------------------------------------------------------------------

/** Expires the open rounds and forgets the closed ones that are due at `now`. @internal */
export const sweep = <A>(self: JoinImpl<A>, now: number): void => {
  for (const round of self.open.values()) {
    if (round.deadline > now) break
    expire(self, round)
  }
  for (const [id, closed] of self.closed) {
    if (closed.forgetAt > now) break
    self.closed.delete(id)
  }
}

const nextDue = <A>(self: JoinImpl<A>): number => {
  let next = Number.POSITIVE_INFINITY
  for (const round of self.open.values()) {
    next = round.deadline
    break
  }
  for (const closed of self.closed.values()) {
    next = Math.min(next, closed.forgetAt)
    break
  }
  return next
}

// One step: sweep, then sleep until the next entry falls due, or until woken because an earlier one appeared.
// The wake-up deferred is installed in the same synchronous step as the sweep, so no wake-up is lost.
const sweeper = <A>(self: JoinImpl<A>): Effect.Effect<never> =>
  Effect.forever(
    Effect.suspend(() => {
      const now = self.clock.currentTimeMillisUnsafe()
      sweep(self, now)
      const next = nextDue(self)
      const wake = Deferred.makeUnsafe<void>()
      self.wakeAt = next
      self.wake = wake
      const woken = Deferred.await(wake)
      return next === Number.POSITIVE_INFINITY
        ? woken
        : Effect.raceFirst(self.clock.sleep(Duration.millis(next - now)), woken)
    })
  )

const wakeFor = <A>(self: JoinImpl<A>, due: number): void => {
  if (due < self.wakeAt && self.wake !== undefined) {
    const wake = self.wake
    self.wake = undefined
    self.wakeAt = Number.NEGATIVE_INFINITY
    Deferred.doneUnsafe(wake, Exit.void)
  }
}

// -----------------------------------------------------------------------------
// round transitions
// -----------------------------------------------------------------------------

const openRound = <A>(self: JoinImpl<A>, id: string, now: number): OpenRound<A> => {
  const round: OpenRound<A> = {
    id,
    openedAt: now,
    deadline: now + self.timeoutMillis,
    parts: [],
    senders: new Set(),
    deferred: Deferred.makeUnsafe()
  }
  self.open.set(id, round)
  wakeFor(self, round.deadline)
  return round
}

const close = <A>(self: JoinImpl<A>, round: OpenRound<A>, state: "completed" | "expired", now: number) => {
  self.open.delete(round.id)
  const forgetAt = now + self.retainMillis
  self.closed.set(round.id, { state, forgetAt, deferred: round.deferred })
  wakeFor(self, forgetAt)
}

const expire = <A>(self: JoinImpl<A>, round: OpenRound<A>): void => {
  // Closed at its deadline, not at the moment someone noticed: the outcome depends on the Clock alone.
  close(self, round, "expired", round.deadline)
  const missing =
    self.senders === undefined ? [] : self.senders.filter((sender) => !round.senders.has(sender))
  const error = new RoundExpired({
    correlationId: round.id,
    join: self.name,
    received: round.parts.length,
    needed: self.quorum,
    millis: self.timeoutMillis,
    missing
  })
  if (self.tracer.enabled) {
    self.tracer.emit({
      kind: "join.expire",
      actor: self.name,
      correlationId: round.id,
      data: { round: round.id, received: round.parts.length, needed: self.quorum }
    })
  }
  Deferred.doneUnsafe(round.deferred, Exit.fail(error))
  self.onExpired?.(error)
}

const complete = <A>(self: JoinImpl<A>, round: OpenRound<A>, now: number): Round<A> => {
  close(self, round, "completed", now)
  const parts = Object.freeze(round.parts.slice())
  const result: Round<A> = Object.freeze({
    correlationId: round.id,
    parts,
    values: Object.freeze(parts.map((part) => part.value)),
    bySender: new Map(parts.map((part) => [part.from, part.value] as const)),
    openedAt: round.openedAt,
    completedAt: now
  })
  if (self.tracer.enabled) {
    self.tracer.emit({
      kind: "join.complete",
      actor: self.name,
      correlationId: round.id,
      data: { round: round.id, parts: parts.length, expected: self.parts, millis: now - round.openedAt }
    })
  }
  Deferred.doneUnsafe(round.deferred, Exit.succeed(result))
  return result
}

/** Stops the join: open rounds' awaiters are interrupted and both tables are emptied. @internal */
export const shutdown = <A>(self: JoinImpl<A>): void => {
  if (self.isShutdown) return
  self.isShutdown = true
  const open = [...self.open.values()]
  self.open.clear()
  self.closed.clear()
  self.wake = undefined
  for (const round of open) Deferred.doneUnsafe(round.deferred, Effect.interrupt)
}

// Applies what is due for this one id at `now`: an expiry, or forgetting its tombstone.
const settle = <A>(self: JoinImpl<A>, id: string, now: number): OpenRound<A> | ClosedRound<A> | undefined => {
  const round = self.open.get(id)
  if (round !== undefined) {
    if (round.deadline > now) return round
    expire(self, round)
  }
  const closed = self.closed.get(id)
  if (closed === undefined) return undefined
  if (closed.forgetAt > now) return closed
  self.closed.delete(id)
  return undefined
}

// -----------------------------------------------------------------------------
// offer and await
// -----------------------------------------------------------------------------

const traceRejected = <A>(self: JoinImpl<A>, part: PartInput<A>, rejected: string) => {
  if (!self.tracer.enabled) return
  self.tracer.emit({
    kind: "join.part",
    actor: part.from,
    correlationId: part.correlationId,
    ...(part.messageId !== undefined ? { messageId: part.messageId } : {}),
    data: { round: part.correlationId, rejected }
  })
}

/** Turns an envelope or a part description into a part description. @internal */
export const toPart = <A>(input: Envelope<A> | PartInput<A>): PartInput<A> | MissingCorrelationId => {
  if (!isEnvelope(input)) return input
  if (input.correlationId === undefined) {
    return new MissingCorrelationId({ messageId: input.id, from: input.from })
  }
  return { correlationId: input.correlationId, from: input.from, value: input.payload, messageId: input.id }
}

/** Adds one part, synchronously: the completed round, `undefined`, or why the part was refused. @internal */
export const offerUnsafe = <A>(self: JoinImpl<A>, part: PartInput<A>): Round<A> | undefined | OfferError => {
  const id = part.correlationId
  const from = part.from
  if (self.isShutdown) {
    traceRejected(self, part, "RoundClosed")
    return new RoundClosed({ correlationId: id, from, join: self.name, state: "shut down" })
  }
  if (self.expectedSenders !== undefined && !self.expectedSenders.has(from)) {
    traceRejected(self, part, "UnexpectedSender")
    return new UnexpectedSender({ correlationId: id, from, join: self.name, expected: self.senders! })
  }
  const now = self.clock.currentTimeMillisUnsafe()
  const found = settle(self, id, now)
  if (found !== undefined && "state" in found) {
    traceRejected(self, part, "RoundClosed")
    return new RoundClosed({ correlationId: id, from, join: self.name, state: found.state })
  }
  const round = found ?? openRound(self, id, now)
  if (round.senders.has(from)) {
    traceRejected(self, part, "DuplicatePart")
    return new DuplicatePart({ correlationId: id, from, join: self.name })
  }
  round.senders.add(from)
  round.parts.push(Object.freeze({ from, value: part.value, messageId: part.messageId, receivedAt: now }))
  if (self.tracer.enabled) {
    self.tracer.emit({
      kind: "join.part",
      actor: from,
      correlationId: id,
      ...(part.messageId !== undefined ? { messageId: part.messageId } : {}),
      data: { round: id, received: round.parts.length, needed: self.quorum }
    })
  }
  return round.parts.length >= self.quorum ? complete(self, round, now) : undefined
}

/** @internal */
export const isRefusal = (u: unknown): u is OfferError | MissingCorrelationId =>
  u instanceof DuplicatePart ||
  u instanceof RoundClosed ||
  u instanceof UnexpectedSender ||
  u instanceof MissingCorrelationId

/** @internal */
export const offer = <A>(
  self: Join<A>,
  input: Envelope<A> | PartInput<A>
): Effect.Effect<Option.Option<Round<A>>, OfferError | MissingCorrelationId> =>
  Effect.suspend((): Effect.Effect<Option.Option<Round<A>>, OfferError | MissingCorrelationId> => {
    const part = toPart(input)
    if (part instanceof MissingCorrelationId) return Effect.fail(part)
    const result = offerUnsafe(impl(self), part)
    if (result === undefined) return Effect.succeedNone
    return isRefusal(result) ? Effect.fail(result) : Effect.succeedSome(result)
  })

/** @internal */
export const await_ = <A>(self: Join<A>, id: string): Effect.Effect<Round<A>, RoundExpired> =>
  Effect.suspend(() => {
    const join = impl(self)
    if (join.isShutdown) return Effect.interrupt
    const now = join.clock.currentTimeMillisUnsafe()
    const found = settle(join, id, now) ?? openRound(join, id, now)
    return Deferred.await(found.deferred)
  })
