/**
 * A handoff moves a task from one agent to another by ownership transfer: the task and the context it needs
 * travel together in one message, and the sender's handle is consumed by the send. Its guarantee: no two
 * agents ever own one task. After a successful send every use of the sender's handle fails with
 * `OwnershipMoved`; of several concurrent sends of one handle exactly one succeeds; and the task is frozen,
 * so nobody can change it behind the new owner's back.
 *
 * **When to use**
 *
 * When work changes hands (planner → coder → reviewer) and the receiver must be the only one acting on it,
 * with what it needs to continue: a bounded summary, references into the Corpus, the recent thread and the
 * remaining budget.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import type { ActorContext, ActorRef } from "./Actor.ts"
import * as Envelope from "./Envelope.ts"
import * as internalActor from "./internal/actor.ts"
import type { Receipt } from "./internal/mailbox.ts"
import * as internalMailbox from "./internal/mailbox.ts"
import type { DeliveryError } from "./Registry.ts"
import { Usage } from "./Budget.ts"
import * as envelope from "./internal/envelope.ts"
import * as lineage from "./internal/lineage.ts"
import * as Tracer from "./Tracer.ts"

/**
 * The brand carried by every task handle; test for it with `isTask`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 *
 * console.log(Handoff.TypeId) // "~handoffkit/Handoff/Task"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = "~handoffkit/Handoff/Task"

/**
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = "~handoffkit/Handoff/Task"

/**
 * What travels with a task so its new owner can continue without a shared scratchpad.
 *
 * **Details**
 *
 * - `summary`: a bounded summary of the work so far.
 * - `refs`: references into the Corpus for the full material.
 * - `thread`: the most recent messages, as data (`from`, `text`).
 * - `budget`: what is left to spend on the task.
 * - `artifacts` (optional): the artifact trail, as data: every file the task touched, in the order it was
 *   first touched, with what was done to it, oldest first (`A` created, `M` modified, `D` deleted): `"AMM"`.
 * - `decisions` (optional): what was decided, each with its reason (`what` → `why`), oldest first.
 * - `pending` (optional): the steps still to do, next first.
 *
 * Every field is Schema-encodable, so a handoff can cross processes. `Compactor.compact` and
 * `Compactor.append` fill the last three from the notes they are given and keep them within the bound.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Handoff } from "@handoffkit/core"
 *
 * const context = Schema.decodeUnknownSync(Handoff.HandoffContext)({
 *   summary: "tests pass; docs missing",
 *   refs: ["corpus://pr/7"],
 *   thread: [{ from: "coder", text: "ready for review" }],
 *   budget: { tokensOut: 2000 }
 * })
 * console.log(context.thread[0].from, context.budget?.tokensOut) // "coder" 2000
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const HandoffContext = Schema.Struct({
  summary: Schema.String,
  refs: Schema.Array(Schema.String),
  thread: Schema.Array(Schema.Struct({ from: Schema.String, text: Schema.String })),
  budget: Schema.optional(Usage),
  artifacts: Schema.optional(Schema.Record(Schema.String, Schema.String.check(Schema.isPattern(/^[AMD]+$/)))),
  decisions: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  pending: Schema.optional(Schema.Array(Schema.String))
})

/**
 * @category models
 * @since 0.1.0
 */
export type HandoffContext = typeof HandoffContext.Type

/**
 * An empty context: no summary, refs, thread or budget.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 *
 * console.log(Handoff.emptyContext.refs.length) // 0
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const emptyContext: HandoffContext = Object.freeze({ summary: "", refs: [], thread: [] })

/**
 * A handle on a task: whoever holds a live handle owns the task.
 *
 * **Details**
 *
 * `id` names the task across every handoff (each new owner gets a new handle for the same task id). Read
 * the task with `get` and its context with `context`; both fail with `OwnershipMoved` once the handle has
 * been sent.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const task: Handoff.Task<string> = yield* Handoff.make("write the changelog")
 *   return [task.id.startsWith("task-"), yield* Handoff.get(task)]
 * })
 * console.log(Effect.runSync(program)) // [true, "write the changelog"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Task<out T> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly id: string
  /** @internal phantom */
  readonly "~T"?: () => T
}

/**
 * The message a receiver gets: the new handle on the task and its context.
 *
 * **Example**
 *
 * ```ts
 * import { Deferred, Effect } from "effect"
 * import { Actor, Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const started = yield* Deferred.make<string>()
 *   const coder = yield* Actor.make<Handoff.Transfer<{ issue: number }>>("coder", (message) =>
 *     Effect.gen(function*() {
 *       const task = yield* Handoff.get(message.payload.task)
 *       yield* Deferred.succeed(started, `fixing #${task.issue} (${message.payload.context.summary})`)
 *     })
 *   )
 *   const task = yield* Handoff.make({ issue: 42 }, { ...Handoff.emptyContext, summary: "null check" })
 *   yield* Handoff.send(task, coder)
 *   return yield* Deferred.await(started)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "fixing #42 (null check)"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Transfer<T> {
  readonly _tag: "Transfer"
  readonly task: Task<T>
  readonly context: HandoffContext
  /** Who handed it over (the previous owner's address). */
  readonly from: string
}

/**
 * Using a handle whose task has been handed to someone else.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 *
 * console.log(new Handoff.OwnershipMoved({ taskId: "t-1", to: "coder", inFlight: false }).message)
 * // task t-1 now belongs to "coder": this handle was consumed by a handoff
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class OwnershipMoved extends Schema.TaggedError<OwnershipMoved>()("OwnershipMoved", {
  taskId: Schema.String,
  to: Schema.String,
  inFlight: Schema.Boolean
}) {
  override get message() {
    return this.inFlight
      ? `task ${this.taskId} is being handed to "${this.to}": this handle no longer owns it`
      : `task ${this.taskId} now belongs to "${this.to}": this handle was consumed by a handoff`
  }
}

/**
 * Handing a task over with a context that lost refs the task arrived with: what they point to would be
 * out of reach of every later owner.
 *
 * **Details**
 *
 * A context carries a ref when it lists it, or when this process built it with `Compactor.append` from
 * the received context, or with `Compactor.compact` from every item `Compactor.recover` returned for it.
 * The handoff fails before anything moves: the sender keeps the task.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 *
 * console.log(new Handoff.RefsDropped({ taskId: "t-1", dropped: 2, of: 3, ref: "corpus://c/sha256-00" }).message)
 * // task t-1: the context handed over drops 2 of the 3 refs the task arrived with (corpus://c/sha256-00, …); build it with Compactor.append(received, items, policy), or from Compactor.recover(received)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class RefsDropped extends Schema.TaggedError<RefsDropped>()("RefsDropped", {
  taskId: Schema.String,
  dropped: Schema.Number,
  of: Schema.Number,
  ref: Schema.String
}) {
  override get message() {
    const more = this.dropped > 1 ? ", …" : ""
    return `task ${this.taskId}: the context handed over drops ${this.dropped} of the ${this.of} refs the task arrived with (${this.ref}${more}); build it with Compactor.append(received, items, policy), or from Compactor.recover(received)`
  }
}

/**
 * `RefsDropped` when the options of a handoff give a context, `never` otherwise: a handoff that keeps the
 * task's context cannot drop its refs.
 *
 * **Example**
 *
 * ```ts
 * import type { Handoff } from "@handoffkit/core"
 *
 * const never: [Handoff.RefsDroppedIf<{}>] extends [never] ? "no error" : "error" = "no error"
 * console.log(never) // "no error"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type RefsDroppedIf<O> = O extends { readonly context: infer C }
  ? [C] extends [undefined]
    ? never
    : RefsDropped
  : never

type State =
  | { readonly _tag: "Owned" }
  | { readonly _tag: "Moving"; readonly to: string }
  | { readonly _tag: "Moved"; readonly to: string }

interface TaskImpl<T> extends Task<T> {
  readonly value: T
  readonly context: HandoffContext
  state: State
}

const TaskProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toString(this: TaskImpl<unknown>) {
    return `Task(${this.id}, ${this.state._tag})`
  },
  // Never print the task itself: it may be large or sensitive, and a trace should carry ids, not copies.
  toJSON(this: TaskImpl<unknown>) {
    return { _id: "Task", id: this.id, state: this.state._tag }
  }
}

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as any)[key])
  }
  return value
}

const makeHandle = <T>(id: string, value: T, context: HandoffContext): Task<T> => {
  const self: TaskImpl<T> = Object.create(TaskProto)
  Object.assign(self, { id, value, context, state: { _tag: "Owned" } })
  return self
}

/**
 * Tells whether a value is a task handle.
 *
 * **Example**
 *
 * ```ts
 * import { Handoff } from "@handoffkit/core"
 *
 * console.log(Handoff.isTask({ id: "t-1" })) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isTask = (u: unknown): u is Task<unknown> => hasProperty(u, TypeId)

/**
 * Creates a task owned by the caller. The task and its context are deep-frozen.
 *
 * **Details**
 *
 * Freezing is in place: the object given here can no longer be changed by anyone, including its creator,
 * which is what makes "the sender can no longer touch it" true of the data and not only of the handle.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const task = yield* Handoff.make({ title: "fix the flaky test" })
 *   return (yield* Handoff.get(task)).title
 * })
 * console.log(Effect.runSync(program)) // "fix the flaky test"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <T>(task: T, context: HandoffContext = emptyContext): Effect.Effect<Task<T>> =>
  Effect.sync(() => makeHandle(`task-${envelope.nextId()}`, deepFreeze(task), deepFreeze(context)))

const movedError = (self: TaskImpl<unknown>): OwnershipMoved | undefined =>
  self.state._tag === "Owned"
    ? undefined
    : new OwnershipMoved({ taskId: self.id, to: self.state.to, inFlight: self.state._tag === "Moving" })

const owned = <T>(handle: Task<T>): Effect.Effect<TaskImpl<T>, OwnershipMoved> =>
  Effect.suspend(() => {
    const error = movedError(handle as TaskImpl<unknown>)
    return error === undefined ? Effect.succeed(handle as TaskImpl<T>) : Effect.fail(error)
  })

/**
 * Reads the task, if this handle still owns it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const task = yield* Handoff.make(["step 1", "step 2"])
 *   return yield* Handoff.get(task)
 * })
 * console.log(Effect.runSync(program)) // ["step 1", "step 2"]
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const get = <T>(handle: Task<T>): Effect.Effect<T, OwnershipMoved> =>
  Effect.map(owned(handle), (self) => self.value)

/**
 * Reads the context that came with the task, if this handle still owns it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const task = yield* Handoff.make("t", { ...Handoff.emptyContext, summary: "half done" })
 *   return (yield* Handoff.context(task)).summary
 * })
 * console.log(Effect.runSync(program)) // "half done"
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const context = <T>(handle: Task<T>): Effect.Effect<HandoffContext, OwnershipMoved> =>
  Effect.map(owned(handle), (self) => self.context)

/**
 * Hands the task over through any delivery: the general form behind `send` and `sendFrom`.
 *
 * **When to use**
 *
 * When the transfer goes through something other than an actor's mailbox (a Broker topic, a pool queue).
 *
 * **Details**
 *
 * The claim is atomic: the handle switches to "moving" in one synchronous step, so of concurrent transfers
 * exactly one proceeds and the others fail with `OwnershipMoved`. If `deliver` fails, ownership returns to
 * this handle (nothing is lost, the caller may retry); if it succeeds, the handle is consumed for good.
 * `context` replaces the task's context for the new owner (for example a fresh summary); one that drops refs
 * the task arrived with fails with `RefsDropped` before anything moves (see `RefsDropped`). The delivery is not
 * interruptible (an interrupt between acceptance and our learning of it would leave two owners): it waits
 * under back-pressure until the receiver accepts or its mailbox closes.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const task = yield* Handoff.make("ship it")
 *   const received: Array<Handoff.Transfer<string>> = []
 *   yield* Handoff.transfer(task, "queue", (transfer) => Effect.sync(() => void received.push(transfer)))
 *   const again = yield* Handoff.get(task).pipe(Effect.flip)
 *   return [again._tag, yield* Handoff.get(received[0].task)]
 * })
 * console.log(Effect.runSync(program)) // ["OwnershipMoved", "ship it"]
 * ```
 *
 * @category handing over
 * @since 0.1.0
 */
export const transfer = <
  T,
  E,
  R,
  O extends { readonly context?: HandoffContext | undefined; readonly from?: string | undefined } = {}
>(
  handle: Task<T>,
  to: string,
  deliver: (transfer: Transfer<T>) => Effect.Effect<void, E, R>,
  options?: O
): Effect.Effect<void, OwnershipMoved | RefsDroppedIf<O> | E, R> =>
  // A delivery that cannot report acceptance is not interruptible: an interrupt landing after the receiver
  // accepted the message but before we learn of it would leave two owners.
  transferWith(
    handle,
    to,
    (payload, receipt) =>
      Effect.tap(
        deliver(payload),
        Effect.sync(() => internalMailbox.accept(receipt))
      ),
    options,
    false
  ) as Effect.Effect<void, OwnershipMoved | RefsDroppedIf<O> | E, R>

/**
 * The transfer machinery. With `interruptible`, the delivery must set `receipt.accepted` at the moment the
 * message is accepted: ownership is then decided by the receipt, not by the exit, so an interrupt can stop
 * a handoff waiting on a full mailbox (closing a scope never deadlocks) and still never leave two owners.
 */
const transferWith = <T, E, R>(
  handle: Task<T>,
  to: string,
  deliver: (transfer: Transfer<T>, receipt: Receipt) => Effect.Effect<void, E, R>,
  options: { readonly context?: HandoffContext | undefined; readonly from?: string | undefined } | undefined,
  interruptible: boolean
): Effect.Effect<void, OwnershipMoved | RefsDropped | E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber): Effect.Effect<void, OwnershipMoved | RefsDropped | E, R> => {
      // Check and claim in one synchronous step: a fiber may yield between any two effects, so a check in
      // one effect and the claim in the next would let two senders through (the property test found it).
      const self = handle as TaskImpl<T>
      const error = movedError(self as TaskImpl<unknown>)
      if (error !== undefined) return Effect.fail(error)
      const outgoing = options?.context
      if (outgoing !== undefined && outgoing !== self.context) {
        const dropped = lineage.missing(self.context, outgoing)
        if (dropped.length > 0)
          return Effect.fail(
            new RefsDropped({
              taskId: self.id,
              dropped: dropped.length,
              of: self.context.refs.length,
              ref: dropped[0]
            })
          )
      }
      self.state = { _tag: "Moving", to }
      const next = makeHandle(
        self.id,
        self.value,
        options?.context === undefined ? self.context : deepFreeze(options.context)
      )
      const from = options?.from ?? "external"
      const payload: Transfer<T> = Object.freeze({
        _tag: "Transfer",
        task: next,
        context: (next as TaskImpl<T>).context,
        from
      })
      const tracer = fiber.getRef(Tracer.CurrentTracer)
      const receipt: Receipt = {
        accepted: false,
        // At the moment of acceptance, before the receiver can act on the task (it may hand it on at once):
        // the handle is consumed for good and the handoff is traced, so the trace shows owners in order.
        onAccepted: () => {
          self.state = { _tag: "Moved", to }
          if (tracer.enabled) tracer.emit({ kind: "handoff", actor: from, data: { taskId: self.id, to } })
        }
      }
      const delivery = deliver(payload, receipt)
      return (interruptible ? restore(delivery) : delivery).pipe(
        Effect.onExit(() =>
          Effect.sync(() => {
            if (receipt.accepted) return
            // Not delivered (failed, or interrupted while waiting): still ours. The copy that never went
            // out (a withdrawn dead letter may hold it) is revoked, so exactly one live handle remains.
            self.state = { _tag: "Owned" }
            ;(next as TaskImpl<T>).state = { _tag: "Moved", to: `${from} (the handoff was not delivered)` }
          })
        )
      )
    })
  )

/**
 * Hands the task to an actor, from outside any actor.
 *
 * **Details**
 *
 * See `transfer` for the ownership rules. Fails with `DeliveryError` (and keeps ownership) when the actor
 * cannot accept the message. Unlike a generic `transfer`, this one can be interrupted while it waits for
 * room: the mailbox reports the moment it accepts the message, so an interrupted handoff that was not
 * accepted stays with the sender, and one that was belongs to the receiver.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const reviewer = yield* Actor.make<Handoff.Transfer<string>>("reviewer", () => Effect.void)
 *   const task = yield* Handoff.make("review PR 7")
 *   yield* Handoff.send(task, reviewer)
 *   return (yield* Handoff.get(task).pipe(Effect.flip))._tag
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "OwnershipMoved"
 * ```
 *
 * @category handing over
 * @since 0.1.0
 */
export const send = <T, O extends { readonly context?: HandoffContext | undefined } = {}>(
  handle: Task<T>,
  to: ActorRef<Transfer<T>, any>,
  options?: O
): Effect.Effect<void, OwnershipMoved | RefsDroppedIf<O> | DeliveryError> =>
  transferWith(
    handle,
    to.address,
    (payload, receipt) => internalActor.sendWithReceipt(Envelope.external, undefined, to, payload, receipt),
    { context: options?.context },
    true
  ) as Effect.Effect<void, OwnershipMoved | RefsDroppedIf<O> | DeliveryError>

/**
 * Hands the task to an actor from inside a behavior: the message is stamped with this actor as `from` and
 * the handled message as its cause.
 *
 * **Example**
 *
 * ```ts
 * import { Deferred, Effect } from "effect"
 * import { Actor, Handoff } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const handedBy = yield* Deferred.make<string>()
 *   const coder = yield* Actor.make<Handoff.Transfer<string>>("coder", (m) =>
 *     Deferred.succeed(handedBy, m.payload.from)
 *   )
 *   const planner = yield* Actor.make<string>("planner", (message, context) =>
 *     Effect.gen(function*() {
 *       const task = yield* Handoff.make(`implement ${message.payload}`)
 *       yield* Handoff.sendFrom(context, task, coder)
 *     })
 *   )
 *   yield* Actor.send(planner, "retry with backoff")
 *   return yield* Deferred.await(handedBy)
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "planner"
 * ```
 *
 * @category handing over
 * @since 0.1.0
 */
export const sendFrom = <T, In, Reply, O extends { readonly context?: HandoffContext | undefined } = {}>(
  context: ActorContext<In, Reply>,
  handle: Task<T>,
  to: ActorRef<Transfer<T>, any>,
  options?: O
): Effect.Effect<void, OwnershipMoved | RefsDroppedIf<O> | DeliveryError> =>
  transferWith(
    handle,
    to.address,
    (payload, receipt) =>
      internalActor.sendWithReceipt(context.self.address, context.message.id, to, payload, receipt),
    { context: options?.context, from: context.self.address },
    true
  ) as Effect.Effect<void, OwnershipMoved | RefsDroppedIf<O> | DeliveryError>
