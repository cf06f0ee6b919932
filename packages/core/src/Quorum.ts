/**
 * A quorum is "the first k of n": ask n agents (or run n attempts), keep the first k answers, and stop the
 * rest. Its guarantee: `firstK` returns exactly k results, in the order they completed, and before it returns
 * every effect that had not finished has been interrupted and has finished its clean-up; if k successes
 * become impossible it fails at once with `QuorumFailed`, having stopped the rest the same way.
 *
 * **When to use**
 *
 * - `firstK` over effects: hedged model calls, "any two of these three reviewers", racing tools.
 * - `collect` over messages: the first k distinct senders' replies to one correlation id, from a mailbox.
 * - For a long-lived coordinator that runs many quorum rounds by message, use `Join.actor` (or `Join.make`)
 *   with its `quorum` option: a round completes at its k-th distinct sender and later parts are refused.
 *
 * **Details**
 *
 * Traced (when a tracer is provided): one `quorum.complete` event per decided quorum, whether it succeeded
 * or failed, with the counts in `data`.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Schema } from "effect"
import { dual } from "effect/Function"
import { hasProperty } from "effect/Predicate"
import type { Address, Envelope } from "./Envelope.ts"
import type * as Join from "./Join.ts"
// Mailbox.ts before its machinery: the two import each other, and the public module must load first.
import { type Mailbox, MailboxClosed } from "./Mailbox.ts"
import * as mailboxes from "./internal/mailbox.ts"
import * as options_ from "./internal/options.ts"
import * as Tracer from "./Tracer.ts"

/**
 * A quorum that cannot be reached: too many failed for k to succeed, the time ran out, or k was impossible
 * from the start.
 *
 * **Details**
 *
 * `k` successes were needed of `n`; `successes` and `failures` are the counts when it was decided, and
 * `causes` summarizes the first failures (at most ten, one line each). `correlationId` names the round, for
 * `collect`.
 *
 * **Example**
 *
 * ```ts
 * import { Quorum } from "@handoffkit/core"
 *
 * const error = new Quorum.QuorumFailed({
 *   k: 2, n: 3, successes: 1, failures: 2, reason: "too many failed", causes: ["timeout", "rate limited"]
 * })
 * console.log(error.message)
 * // quorum of 2 of 3 failed: too many failed (1 succeeded, 2 failed; causes: timeout | rate limited)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class QuorumFailed extends Schema.TaggedError<QuorumFailed>()("QuorumFailed", {
  k: Schema.Number,
  n: Schema.Number,
  successes: Schema.Number,
  failures: Schema.Number,
  reason: Schema.String,
  correlationId: Schema.optional(Schema.String),
  causes: Schema.Array(Schema.String)
}) {
  override get message() {
    const round = this.correlationId === undefined ? "" : ` for round "${this.correlationId}"`
    const causes = this.causes.length === 0 ? "" : `; causes: ${this.causes.join(" | ")}`
    return `quorum of ${this.k} of ${this.n}${round} failed: ${this.reason} (${this.successes} succeeded, ${this.failures} failed${causes})`
  }
}

const maxCauses = 10

const summarize = (cause: Cause.Cause<unknown>): string => {
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  const text =
    error instanceof Error
      ? hasProperty(error, "_tag") && typeof error._tag === "string"
        ? `${error._tag}: ${error.message}`
        : error.message
      : String(error)
  const line = text.split("\n")[0]
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}

const firstKImpl = <A, E, R>(
  effects: Iterable<Effect.Effect<A, E, R>>,
  k: number
): Effect.Effect<Array<A>, QuorumFailed, R> =>
  Effect.withFiber((parent) => {
    const all = Array.from(effects)
    const n = all.length
    const tracer = parent.getRef(Tracer.CurrentTracer)
    const impossible = (reason: string) =>
      Effect.fail(new QuorumFailed({ k, n, successes: 0, failures: 0, reason, causes: [] }))
    if (!Number.isInteger(k) || k < 0) return impossible(`k must be an integer from 0 to ${n}`)
    if (k > n) return impossible(`${k} successes are impossible from ${n} effects`)
    if (k === 0) return Effect.succeed([])

    // Written only by the children's exit hooks, each in one synchronous step. The first k successes, in
    // the order the hooks ran, are the winners: that is completion order. After the decision, exits are
    // only counted (finished late, or interrupted by us).
    const winners: Array<A> = []
    const failures: Array<Cause.Cause<E>> = []
    let decided = false
    let settled = 0
    let interrupted = 0
    const decision = Deferred.makeUnsafe<void>()
    const settle = (exit: Exit.Exit<A, E>) => {
      settled++
      if (decided) {
        if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) interrupted++
        return
      }
      if (Exit.isSuccess(exit)) winners.push(exit.value)
      else failures.push(exit.cause)
      if (winners.length === k || failures.length > n - k || settled === n) {
        decided = true
        Deferred.doneUnsafe(decision, Exit.void)
      }
    }
    const run = (effect: Effect.Effect<A, E, R>) =>
      Effect.onExit(effect, (exit) => Effect.sync(() => settle(exit)))

    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        // Each effect starts at once, so every effect forked has started (and an interrupt reaches its
        // finalizers). One that completes synchronously may decide the quorum: the rest are then not started.
        const fibers: Array<Fiber.Fiber<A, E>> = []
        for (const effect of all) {
          if (decided) break
          fibers.push(yield* Effect.forkChild(run(effect), { startImmediately: true }))
        }
        // Whatever ends the wait (the decision, or our own interruption), the losers are interrupted and
        // awaited before this returns: no effect of the quorum outlives it.
        yield* restore(Deferred.await(decision)).pipe(Effect.ensuring(Fiber.interruptAll(fibers)))
        const ok = winners.length === k
        if (tracer.enabled) {
          tracer.emit({
            kind: "quorum.complete",
            actor: "quorum",
            data: {
              k,
              n,
              ok,
              successes: winners.length,
              failures: failures.length,
              interrupted,
              notStarted: n - fibers.length
            }
          })
        }
        if (ok) return winners
        return yield* new QuorumFailed({
          k,
          n,
          successes: winners.length,
          failures: failures.length,
          reason: `${failures.length} failed, so at most ${n - failures.length} can succeed`,
          causes: failures.slice(0, maxCauses).map(summarize)
        })
      })
    )
  })

/**
 * Runs all the effects concurrently and returns the first `k` successes, in completion order, once the
 * others are interrupted.
 *
 * **When to use**
 *
 * When k answers out of n are enough: hedged requests to several models, a majority of reviewers, the first
 * replica to respond (`k = 1`).
 *
 * **Details**
 *
 * - Succeeds with exactly `k` values, in the order their effects completed.
 * - Fails with `QuorumFailed` as soon as more than `n - k` effects have failed (a defect or an interruption
 *   from elsewhere counts as a failure), carrying the counts and a summary of the causes.
 * - Either way, every effect still running at the decision is interrupted, and awaited (its finalizers have
 *   run) before `firstK` returns. Interrupting `firstK` interrupts and awaits them all too.
 * - Effects are started in order, each at once; if the first ones complete synchronously and decide the
 *   quorum, the rest are never started.
 * - `k = 0` succeeds with `[]` without running anything; `k > n` (or a `k` that is not a non-negative
 *   integer) fails with `QuorumFailed` without running anything.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Quorum } from "@handoffkit/core"
 *
 * const reviewer = (name: string, millis: number) => Effect.as(Effect.sleep(millis), name)
 * const program = Quorum.firstK(
 *   [reviewer("slow", 300), reviewer("fast", 10), reviewer("medium", 50), Effect.fail("offline")],
 *   2
 * )
 * Effect.runPromise(program).then(console.log) // ["fast", "medium"]
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const firstK: {
  (
    k: number
  ): <A, E, R>(effects: Iterable<Effect.Effect<A, E, R>>) => Effect.Effect<Array<A>, QuorumFailed, R>
  <A, E, R>(effects: Iterable<Effect.Effect<A, E, R>>, k: number): Effect.Effect<Array<A>, QuorumFailed, R>
} = dual(2, firstKImpl)

/**
 * Why `collect` passed over a message it took from the mailbox.
 *
 * - `"other round"`: its `correlationId` is not the round's.
 * - `"duplicate"`: its sender already has a part in the round.
 * - `"unexpected sender"`: its sender is not in the list of expected senders.
 *
 * **Example**
 *
 * ```ts
 * import { Quorum } from "@handoffkit/core"
 *
 * const reason: Quorum.Ignored = "duplicate"
 * console.log(reason) // "duplicate"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Ignored = "other round" | "duplicate" | "unexpected sender"

/**
 * Options of `collect`.
 *
 * **Details**
 *
 * - `correlationId`: the round.
 * - `k`: how many distinct senders' parts complete it.
 * - `parts`: how many senders there are (n), or the list of them (then others are ignored).
 * - `timeout`: how long to wait for the k-th part.
 * - `onIgnored`: called with each message taken but not counted, and why; keep it short (it runs as part of
 *   the receive). Default: nothing, the message is dropped (and traced).
 *
 * **Example**
 *
 * ```ts
 * import { Quorum } from "@handoffkit/core"
 *
 * const options: Quorum.CollectOptions<string> = { correlationId: "vote-1", k: 2, parts: 3, timeout: "1 minute" }
 * console.log(options.k) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CollectOptions<A> {
  readonly correlationId: string
  readonly k: number
  readonly parts: number | ReadonlyArray<Address>
  readonly timeout: Duration.Input
  readonly onIgnored?: ((message: Envelope<A>, reason: Ignored) => Effect.Effect<void>) | undefined
}

/**
 * The Schema every {@link CollectOptions} value is decoded with before a round is collected.
 *
 * **When to use**
 *
 * To check quorum options read from outside the program.
 *
 * **Details**
 *
 * `correlationId` is a non-empty string, `k` a non-negative integer, `parts` a non-negative integer or a
 * list of non-empty addresses, `timeout` a finite duration, `onIgnored` a function. {@link collect} fails
 * with {@link QuorumFailed} whose reason names the option and the value otherwise (and then checks
 * `k <= n`).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Quorum } from "@handoffkit/core"
 *
 * const valid = Schema.is(Quorum.CollectOptionsSchema)
 * console.log(valid({ correlationId: "r1", k: 2, parts: 3, timeout: "1 minute" }), valid({ correlationId: "r1", k: NaN, parts: 3, timeout: 10 }))
 * // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const CollectOptionsSchema = Schema.Struct({
  correlationId: options_.Name,
  k: options_.Count,
  parts: Schema.Union([options_.Count, Schema.Array(options_.Name)]),
  timeout: options_.FiniteDurationInput,
  onIgnored: options_.optional(options_.Fn)
})

/**
 * Takes messages from `mailbox` until `k` distinct senders have sent a part for the round, and returns them.
 *
 * **When to use**
 *
 * In an agent that has sent a request to n peers with one correlation id and reads their replies from a
 * mailbox of its own: it goes on with the first k.
 *
 * **Details**
 *
 * - Completes at the k-th distinct sender's part; the round holds exactly k parts, in arrival order.
 * - Messages taken that do not count (another round, a repeat from one sender, an unexpected sender) are
 *   passed to `onIgnored` and otherwise dropped, with a `join.part` trace event whose `data.ignored` says
 *   why: they are not dead-lettered, since `DeadLetter.Reason` has no reason for them. Give the round a
 *   mailbox of its own so that nothing else is taken.
 * - Later parts are not taken: they stay in the mailbox for its owner (shutting it down dead-letters them
 *   with reason `"closed"`).
 * - Fails with `QuorumFailed` when `timeout` passes first (a part arriving at the deadline is too late), when
 *   the mailbox is closed and drained first, or when `k` is not an integer from 0 to n. `k = 0` completes at
 *   once with no parts. Taking is loss-free: a message taken is always counted or ignored, and interrupting
 *   `collect` while it waits takes nothing.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Mailbox, Quorum } from "@handoffkit/core"
 * import type { Envelope } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const replies = yield* Mailbox.make<Envelope.Envelope<string>>()
 *   const planner = yield* Actor.make<string>("planner", (message) => Mailbox.offer(replies, message))
 *   for (const name of ["r1", "r2", "r3"]) {
 *     const reviewer = yield* Actor.make<string>(name, (message, context) =>
 *       context.send(planner, `${name} approves`, { correlationId: message.payload }))
 *     yield* Actor.send(reviewer, "pr-42")
 *   }
 *   const round = yield* Quorum.collect(replies, { correlationId: "pr-42", k: 2, parts: 3, timeout: "1 minute" })
 *   return round.parts.length
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // 2
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const collect = <A>(
  mailbox: Mailbox<Envelope<A>>,
  options: CollectOptions<A>
): Effect.Effect<Join.Round<A>, QuorumFailed> =>
  Effect.withFiber((fiber) => {
    const problem = options_.check(CollectOptionsSchema, options)
    if (problem !== undefined) {
      const k = typeof options?.k === "number" ? options.k : Number.NaN
      return Effect.fail(
        new QuorumFailed({
          k,
          n: 0,
          successes: 0,
          failures: 0,
          reason: `invalid option "${problem.option}" (${problem.value}): ${problem.problem}`,
          correlationId: typeof options?.correlationId === "string" ? options.correlationId : "",
          causes: []
        })
      )
    }
    const { correlationId, k, onIgnored } = options
    const list = typeof options.parts === "number" ? undefined : options.parts
    const expected = list === undefined ? undefined : new Set(list)
    const n = list === undefined ? (options.parts as number) : list.length
    const clock = fiber.getRef(Clock.Clock)
    const tracer = fiber.getRef(Tracer.CurrentTracer)
    const timeout = Duration.fromInput(options.timeout)
    const millis = Option.isSome(timeout) ? Duration.toMillis(timeout.value) : Number.NaN
    const fail = (successes: number, reason: string, causes: ReadonlyArray<string> = []) =>
      Effect.fail(new QuorumFailed({ k, n, successes, failures: 0, reason, correlationId, causes }))
    if (!Number.isInteger(n) || n < 0)
      return fail(0, `invalid option "parts" (${n}): not a number of senders`)
    if (!Number.isInteger(k) || k < 0 || k > n)
      return fail(0, `invalid option "k" (${k}): k must be an integer from 0 to ${n}`)
    if (!(millis >= 0)) return fail(0, "the timeout is not a duration")

    const openedAt = clock.currentTimeMillisUnsafe()
    const deadline = openedAt + millis
    const parts: Array<Join.Part<A>> = []
    const senders = new Set<Address>()
    const done = () => {
      const now = clock.currentTimeMillisUnsafe()
      const frozen = Object.freeze(parts.slice())
      if (tracer.enabled) {
        tracer.emit({
          kind: "quorum.complete",
          actor: mailbox.address,
          correlationId,
          data: { round: correlationId, k, n, ok: true, successes: frozen.length }
        })
      }
      return Effect.succeed<Join.Round<A>>(
        Object.freeze({
          correlationId,
          parts: frozen,
          values: Object.freeze(frozen.map((part) => part.value)),
          bySender: new Map(frozen.map((part) => [part.from, part.value] as const)),
          openedAt,
          completedAt: now
        })
      )
    }
    const ignore = (message: Envelope<A>, reason: Ignored): Effect.Effect<void> => {
      if (tracer.enabled) {
        tracer.emit({
          kind: "join.part",
          actor: message.from,
          messageId: message.id,
          ...(message.correlationId !== undefined ? { correlationId: message.correlationId } : {}),
          data: { round: correlationId, ignored: reason }
        })
      }
      return onIgnored === undefined ? Effect.void : onIgnored(message, reason)
    }
    const receive = (message: Envelope<A>): Effect.Effect<void> => {
      if (message.correlationId !== correlationId) return ignore(message, "other round")
      if (expected !== undefined && !expected.has(message.from)) return ignore(message, "unexpected sender")
      if (senders.has(message.from)) return ignore(message, "duplicate")
      senders.add(message.from)
      const receivedAt = clock.currentTimeMillisUnsafe()
      parts.push(
        Object.freeze({ from: message.from, value: message.payload, messageId: message.id, receivedAt })
      )
      if (tracer.enabled) {
        tracer.emit({
          kind: "join.part",
          actor: message.from,
          messageId: message.id,
          correlationId,
          data: { round: correlationId, received: parts.length, needed: k }
        })
      }
      return Effect.void
    }
    // Poll and count (or ignore) in one synchronous step, uninterruptibly: a message taken is always handled.
    // Only the wait is interruptible, and waiting takes nothing. The deadline outranks a ready message.
    const run = Effect.uninterruptibleMask((restore) => {
      const loop: Effect.Effect<Join.Round<A>, QuorumFailed> = Effect.suspend(() => {
        if (parts.length >= k) return done()
        const now = clock.currentTimeMillisUnsafe()
        if (now >= deadline) return fail(parts.length, `timed out after ${millis} ms`)
        const message = mailboxes.pollUnsafe(mailbox)
        if (message !== mailboxes.Empty) return Effect.flatMap(receive(message), () => loop)
        const closedReason = mailboxes.impl(mailbox).closedReason
        if (closedReason !== undefined) {
          const closed = new MailboxClosed({ address: mailbox.address, reason: closedReason })
          return fail(parts.length, "the mailbox closed first", [closed.message])
        }
        const wait = Effect.raceFirst(
          mailboxes.awaitAny([mailbox]),
          clock.sleep(Duration.millis(deadline - now))
        )
        return Effect.flatMap(restore(wait), () => loop)
      })
      return loop
    })
    return run.pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (tracer.enabled) {
            tracer.emit({
              kind: "quorum.complete",
              actor: mailbox.address,
              correlationId,
              data: { round: correlationId, k, n, ok: false, successes: error.successes }
            })
          }
        })
      )
    )
  })
