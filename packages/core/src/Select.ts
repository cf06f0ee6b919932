/**
 * `Select` waits on several events at once — a message in any of several mailboxes, a signal (interrupt,
 * cancel), a budget running out, a timeout — and fires exactly one of them. Its guarantee: at most one
 * message is consumed per select, and a select that is interrupted, or fires another case, consumed nothing.
 *
 * **When to use**
 *
 * In an agent's run loop: "the next message, OR cancellation, OR the budget is spent, OR 30 seconds passed",
 * in one place, the way Go's `select` is used over channels.
 *
 * **How it stays loss-free**
 *
 * Waiting never consumes. The selecting fiber registers a wake-up on each mailbox (and races the control
 * cases' waits, which take nothing either); when woken it polls every case synchronously, in one step with no
 * yield, and takes at most one message. A bare `Effect.raceAll` over `Mailbox.take` would instead lose the
 * message an interrupted loser had already taken.
 *
 * **Priority and fairness**
 *
 * Control cases (`signal`, `budget`, `timeout`) are checked first, in the order given, so cancellation wins
 * over a ready message. Among ready mailboxes the start of the scan is random, so none is starved.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Schema } from "effect"
import type * as Budget from "./Budget.ts"
import * as BudgetModule from "./Budget.ts"
import * as internal from "./internal/mailbox.ts"
import type { Mailbox } from "./Mailbox.ts"
import { isEnvelope } from "./Envelope.ts"
import * as Tracer from "./Tracer.ts"

/**
 * The brand carried by every select case.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Select } from "@handoffkit/core"
 *
 * const fallback = Select.orElse(() => Effect.void)
 * console.log(fallback[Select.CaseTypeId]) // "~handoffkit/Select/Case"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const CaseTypeId: CaseTypeId = "~handoffkit/Select/Case"

/**
 * @category type ids
 * @since 0.1.0
 */
export type CaseTypeId = "~handoffkit/Select/Case"

/**
 * One case of a select: what it waits for and what runs when it fires.
 *
 * **Details**
 *
 * Build cases with `receive`, `signal`, `budget`, `timeout` and `orElse`; pass them to `select`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<number>()
 *   yield* Mailbox.offer(inbox, 2)
 *   const cases: Array<Select.Case<string>> = [
 *     Select.receive(inbox, (n) => Effect.succeed(`got ${n}`)),
 *     Select.orElse(() => Effect.succeed("nothing"))
 *   ]
 *   return yield* Select.selectAll(cases)
 * })
 * console.log(Effect.runSync(program)) // "got 2"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Case<A, E = never, R = never> = ReceiveCase<A, E, R> | ControlCase<A, E, R> | DefaultCase<A, E, R>

interface ReceiveCase<A, E, R> {
  readonly [CaseTypeId]: CaseTypeId
  readonly _tag: "Receive"
  readonly mailbox: Mailbox<any>
  readonly onMessage: (message: any) => Effect.Effect<A, E, R>
}

interface ControlCase<A, E, R> {
  readonly [CaseTypeId]: CaseTypeId
  readonly _tag: "Control"
  readonly label: string
  /** Called once per select: the per-select state (a deadline) and its ready check, wait, and handler. */
  readonly arm: (clock: Clock.Clock) => Omit<Armed<A, E, R>, "label">
}

interface Armed<A, E, R> {
  readonly label: string
  readonly ready: () => boolean
  readonly wait: Effect.Effect<unknown, unknown>
  readonly fire: () => Effect.Effect<A, E, R>
}

interface DefaultCase<A, E, R> {
  readonly [CaseTypeId]: CaseTypeId
  readonly _tag: "Default"
  readonly onNothingReady: () => Effect.Effect<A, E, R>
}

/**
 * A select whose cases can never fire: every mailbox is closed and drained, and there is no control or
 * default case. Failing beats hanging forever.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>()
 *   yield* Mailbox.close(inbox, "done")
 *   return yield* Select.select(Select.receive(inbox, Effect.succeed)).pipe(Effect.flip)
 * })
 * console.log(Effect.runSync(program)._tag) // "SelectNoLiveCase"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class SelectNoLiveCase extends Schema.TaggedError<SelectNoLiveCase>()("SelectNoLiveCase", {
  mailboxes: Schema.Array(Schema.String)
}) {
  override get message() {
    return this.mailboxes.length === 0
      ? "select has no cases"
      : `select has no live case: every mailbox is closed and drained (${this.mailboxes.join(", ")})`
  }
}

/**
 * A case that fires with the next message of `mailbox`.
 *
 * **Details**
 *
 * When this case fires, exactly one message has been taken and `onMessage` is called with it exactly once,
 * in the same step as the take. The handler is the hand-off: it runs uninterruptibly, so a taken message
 * always reaches it. Keep it short (record, forward, return the message) and do long work after `select`
 * returns, or wrap it in `Effect.interruptible` knowing an interrupt may then stop it. A receive case on a
 * closed, drained mailbox is dead: it never fires.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const jobs = yield* Mailbox.make<string>()
 *   const chat = yield* Mailbox.make<string>()
 *   yield* Mailbox.offer(chat, "hi")
 *   return yield* Select.select(
 *     Select.receive(jobs, (job) => Effect.succeed(`job ${job}`)),
 *     Select.receive(chat, (line) => Effect.succeed(`chat ${line}`))
 *   )
 * })
 * console.log(Effect.runSync(program)) // "chat hi"
 * ```
 *
 * @category cases
 * @since 0.1.0
 */
export const receive = <M, A, E = never, R = never>(
  mailbox: Mailbox<M>,
  onMessage: (message: M) => Effect.Effect<A, E, R>
): Case<A, E, R> => ({ [CaseTypeId]: CaseTypeId, _tag: "Receive", mailbox, onMessage })

/**
 * A control case that fires when `deferred` is completed (a cancel or interrupt signal), with its value.
 *
 * **Details**
 *
 * Outranks every receive case: if the signal is set and a message is ready, the signal fires and the message
 * stays queued. If the deferred failed, the select fails with its error.
 *
 * **Example**
 *
 * ```ts
 * import { Deferred, Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>()
 *   const cancel = yield* Deferred.make<string>()
 *   yield* Mailbox.offer(inbox, "work")
 *   yield* Deferred.succeed(cancel, "user pressed stop")
 *   return yield* Select.select(
 *     Select.signal(cancel, (why) => Effect.succeed(`cancelled: ${why}`)),
 *     Select.receive(inbox, Effect.succeed)
 *   )
 * })
 * console.log(Effect.runSync(program)) // "cancelled: user pressed stop"
 * ```
 *
 * @category cases
 * @since 0.1.0
 */
export const signal = <S, SE, A, E = never, R = never>(
  deferred: Deferred.Deferred<S, SE>,
  onSignal: (value: S) => Effect.Effect<A, E, R>
): Case<A, E | SE, R> => ({
  [CaseTypeId]: CaseTypeId,
  _tag: "Control",
  label: "signal",
  arm: () => ({
    ready: () => Deferred.isDoneUnsafe(deferred),
    wait: Effect.exit(Deferred.await(deferred)),
    fire: () => Effect.flatMap(Deferred.await(deferred), onSignal)
  })
})

/**
 * A control case that fires when `budget` is exhausted.
 *
 * **Details**
 *
 * Outranks every receive case, so an agent whose budget is spent stops taking work even if work is queued.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget, Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ calls: 1 })
 *   const inbox = yield* Mailbox.make<string>()
 *   yield* Mailbox.offer(inbox, "another task")
 *   yield* Budget.spend(budget, { calls: 1 })
 *   return yield* Select.select(
 *     Select.budget(budget, () => Effect.succeed("out of budget")),
 *     Select.receive(inbox, Effect.succeed)
 *   )
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // "out of budget"
 * ```
 *
 * @category cases
 * @since 0.1.0
 */
export const budget = <A, E = never, R = never>(
  budget: Budget.Budget,
  onExhausted: () => Effect.Effect<A, E, R>
): Case<A, E, R> => ({
  [CaseTypeId]: CaseTypeId,
  _tag: "Control",
  label: "budget",
  arm: () => ({
    ready: () => BudgetModule.isExhaustedUnsafe(budget),
    wait: BudgetModule.exhausted(budget),
    fire: onExhausted
  })
})

/**
 * A control case that fires once `duration` has passed since the select started.
 *
 * **Details**
 *
 * Time is read from Effect's `Clock`, so `TestClock` drives it in tests. The deadline is fixed when the
 * select starts; wake-ups for messages that another case consumes do not restart it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>()
 *   return yield* Select.select(
 *     Select.receive(inbox, Effect.succeed),
 *     Select.timeout("10 millis", () => Effect.succeed("nobody wrote"))
 *   )
 * })
 * Effect.runPromise(program).then(console.log) // "nobody wrote"
 * ```
 *
 * @category cases
 * @since 0.1.0
 */
export const timeout = <A, E = never, R = never>(
  duration: Duration.Input,
  onTimeout: () => Effect.Effect<A, E, R>
): Case<A, E, R> => {
  const millis = Duration.toMillis(duration)
  return {
    [CaseTypeId]: CaseTypeId,
    _tag: "Control",
    label: "timeout",
    arm: (clock) => {
      const deadline = clock.currentTimeMillisUnsafe() + millis
      return {
        ready: () => clock.currentTimeMillisUnsafe() >= deadline,
        wait: Effect.suspend(() => Effect.sleep(Math.max(0, deadline - clock.currentTimeMillisUnsafe()))),
        fire: onTimeout
      }
    }
  }
}

/**
 * The default case: fires when no other case is ready at the moment of the select, which never waits.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>()
 *   return yield* Select.select(
 *     Select.receive(inbox, Effect.succeed),
 *     Select.orElse(() => Effect.succeed("empty"))
 *   )
 * })
 * console.log(Effect.runSync(program)) // "empty"
 * ```
 *
 * @category cases
 * @since 0.1.0
 */
export const orElse = <A, E = never, R = never>(
  onNothingReady: () => Effect.Effect<A, E, R>
): Case<A, E, R> => ({
  [CaseTypeId]: CaseTypeId,
  _tag: "Default",
  onNothingReady
})

// The random scan start that makes selection fair.
const nextRandom = internal.nextRandom

// The fast path, for a select with only receive and default cases: one scan with no allocation. Returns
// undefined when it cannot decide (control cases, or nothing ready), and the full select takes over.
const scanReady = <A, E, R>(
  cases: ReadonlyArray<Case<A, E, R>>,
  tracer: Tracer.Tracer
): Effect.Effect<A, E, R> | undefined => {
  const n = cases.length
  if (n === 0) return undefined
  let fallback: DefaultCase<A, E, R> | undefined
  for (let i = 0; i < n; i++) {
    const c = cases[i]
    if (c._tag === "Control") return undefined
    if (c._tag === "Default") fallback ??= c
  }
  const start = n > 1 ? nextRandom(n) : 0
  for (let k = 0; k < n; k++) {
    const c = cases[(start + k) % n]
    if (c._tag !== "Receive") continue
    const message = internal.pollUnsafe(c.mailbox)
    if (message !== internal.Empty) {
      if (tracer.enabled) traceReceive(tracer, c.mailbox, message)
      return c.onMessage(message)
    }
  }
  if (fallback !== undefined && tracer.enabled)
    tracer.emit({ kind: "select", actor: "select", data: { fired: "default" } })
  return fallback?.onNothingReady()
}

// The select decision, with the message's ids when it is an envelope (the usual case in an actor).
const traceReceive = (tracer: Tracer.Tracer, mailbox: Mailbox<any>, message: unknown): void => {
  const event: { -readonly [K in keyof Tracer.Emitted]: Tracer.Emitted[K] } = {
    kind: "select",
    actor: mailbox.address,
    data: { fired: "receive" }
  }
  if (isEnvelope(message)) {
    event.messageId = message.id
    event.peer = message.from
    if (message.causationId !== undefined) event.causationId = message.causationId
    if (message.correlationId !== undefined) event.correlationId = message.correlationId
  }
  tracer.emit(event)
}

type CaseA<C> = C extends Case<infer A, any, any> ? A : never
type CaseE<C> = C extends Case<any, infer E, any> ? E : never
type CaseR<C> = C extends Case<any, any, infer R> ? R : never

/**
 * Waits until one case can fire, fires exactly that one, and returns what its handler returns.
 *
 * **When to use**
 *
 * Whenever an agent must react to whichever comes first among messages, cancellation, budget exhaustion and
 * time.
 *
 * **Details**
 *
 * - Exactly one case fires; at most one message is consumed.
 * - Ready control cases outrank ready messages; among ready mailboxes the choice is uniformly random.
 * - With a default case, `select` never waits.
 * - Interrupting a waiting select consumes nothing; handlers run uninterruptibly (they are the hand-off).
 * - Fails with `SelectNoLiveCase` instead of hanging when no case can ever fire.
 *
 * **Example**
 *
 * ```ts
 * import { Deferred, Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inbox = yield* Mailbox.make<string>()
 *   const cancel = yield* Deferred.make<void>()
 *   yield* Mailbox.offer(inbox, "task-1")
 *   return yield* Select.select(
 *     Select.receive(inbox, (task) => Effect.succeed({ _tag: "task", task } as const)),
 *     Select.signal(cancel, () => Effect.succeed({ _tag: "cancelled" } as const)),
 *     Select.timeout("1 second", () => Effect.succeed({ _tag: "idle" } as const))
 *   )
 * })
 * Effect.runPromise(program).then(console.log) // { _tag: "task", task: "task-1" }
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const select = <const Cases extends ReadonlyArray<Case<any, any, any>>>(
  ...cases: Cases
): Effect.Effect<CaseA<Cases[number]>, CaseE<Cases[number]> | SelectNoLiveCase, CaseR<Cases[number]>> =>
  selectAll(cases)

/**
 * `select` over an array of cases, for a number of cases known only at run time.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Mailbox, Select } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const inboxes = yield* Effect.forEach([1, 2, 3], () => Mailbox.make<number>())
 *   yield* Mailbox.offer(inboxes[2], 42)
 *   return yield* Select.selectAll(inboxes.map((inbox) => Select.receive(inbox, Effect.succeed)))
 * })
 * console.log(Effect.runSync(program)) // 42
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const selectAll = <A, E, R>(
  cases: ReadonlyArray<Case<A, E, R>>
): Effect.Effect<A, E | SelectNoLiveCase, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber) => {
      const tracer = fiber.getRef(Tracer.CurrentTracer)
      const ready = scanReady(cases, tracer)
      if (ready !== undefined) return ready
      const receives: Array<ReceiveCase<A, E, R>> = []
      const mailboxes: Array<Mailbox<any>> = []
      const armed: Array<Armed<A, E, R>> = []
      let fallback: DefaultCase<A, E, R> | undefined
      const clock = fiber.getRef(Clock.Clock)
      for (const c of cases) {
        if (c._tag === "Receive") {
          receives.push(c)
          mailboxes.push(c.mailbox)
        } else if (c._tag === "Control") armed.push({ ...c.arm(clock), label: c.label })
        else fallback ??= c
      }
      const n = receives.length
      // Mailboxes still open, refreshed by each scan: a closed, drained mailbox must not be waited on (it is
      // always "ready", so waiting on it would spin).
      let open: Array<Mailbox<any>> = mailboxes
      // Only the wait is interruptible, and the wait takes nothing.
      const wait = Effect.suspend(() =>
        Effect.ignore(
          restore(
            armed.length === 0
              ? internal.awaitAny(open)
              : Effect.raceAll([internal.awaitAny(open), ...armed.map((a) => a.wait)])
          )
        )
      )

      // One synchronous scan: the only place a select takes a message. The handler is called in the same
      // step and its effect runs before the uninterruptible region ends, so a taken message always reaches
      // its handler (the loss-free rule).
      const scan = (): Effect.Effect<A, E | SelectNoLiveCase, R> | undefined => {
        for (let i = 0; i < armed.length; i++) {
          if (armed[i].ready()) {
            if (tracer.enabled)
              tracer.emit({ kind: "select", actor: "select", data: { fired: armed[i].label } })
            return armed[i].fire()
          }
        }
        const start = n > 1 ? nextRandom(n) : 0
        let closed = 0
        for (let k = 0; k < n; k++) {
          const c = receives[(start + k) % n]
          const message = internal.pollUnsafe(c.mailbox)
          if (message !== internal.Empty) {
            if (tracer.enabled) traceReceive(tracer, c.mailbox, message)
            return c.onMessage(message)
          }
          if (internal.impl(c.mailbox).closedReason !== undefined) closed++
        }
        if (fallback !== undefined) {
          if (tracer.enabled) tracer.emit({ kind: "select", actor: "select", data: { fired: "default" } })
          return fallback.onNothingReady()
        }
        if (closed > 0) open = mailboxes.filter((m) => internal.impl(m).closedReason === undefined)
        if (open.length === 0 && armed.length === 0) {
          return Effect.fail(new SelectNoLiveCase({ mailboxes: mailboxes.map((m) => m.address) }))
        }
        return undefined
      }
      const loop: Effect.Effect<A, E | SelectNoLiveCase, R> = Effect.suspend(
        () => scan() ?? Effect.flatMap(wait, () => loop)
      )
      return loop
    })
  )
