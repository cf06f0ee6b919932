import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Schema, Scope } from "effect"
import type { ActorContext, ActorRef, AskOptions } from "../Actor.ts"
import { AskTimeout, NoReply } from "../Actor.ts"
import type * as DeadLetter from "../DeadLetter.ts"
import { DeadLetters } from "../DeadLetter.ts"
import type { Address, Envelope } from "../Envelope.ts"
import type { Mailbox, Overflow } from "../Mailbox.ts"
import * as Mailboxes from "../Mailbox.ts"
import * as Nursery from "../Nursery.ts"
import * as Tracer from "../Tracer.ts"
import { DeliveryError, Registry, type Recipient } from "../Registry.ts"
import { pipeArguments } from "effect/Pipeable"
import * as envelope from "./envelope.ts"
import * as mailbox from "./mailbox.ts"
import * as options_ from "./options.ts"

/** The shape of `Actor.AskOptions`: a timeout that is a positive duration (`Infinity` waits for ever). */
export const AskOptionsSchema = Schema.Struct({ timeout: options_.optional(options_.PositiveDurationInput) })
import { emitMessage, tracedSink } from "./trace.ts"

/** @internal */
export const TypeId = "~handoffkit/ActorRef" as const

/** @internal */
export interface ActorRefImpl<In, Reply> extends ActorRef<In, Reply> {
  readonly deliver: (envelope: Envelope<In>) => Effect.Effect<void, DeliveryError>
  /** Local refs only: a delivery that reports, through `receipt`, the moment the mailbox takes the envelope. */
  readonly deliverWithReceipt:
    ((envelope: Envelope<In>, receipt?: mailbox.Receipt) => Effect.Effect<void, DeliveryError>) | undefined
  /** Local refs only: the actor's mailbox, which a traced send offers to directly when it has room. */
  readonly inbox: Mailbox<Envelope<In>> | undefined
  readonly registry: Registry["Service"]
  /** How the actor (its current incarnation, when supervised) ended; absent for a looked-up ref. */
  awaitExit: Effect.Effect<Exit.Exit<void, unknown>> | undefined
  stop: Effect.Effect<void> | undefined
}

/** @internal */
export const RefProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toString(this: ActorRef<unknown, unknown>) {
    return `ActorRef(${this.address})`
  },
  toJSON(this: ActorRef<unknown, unknown>) {
    return { _id: "ActorRef", address: this.address }
  }
}

/** @internal */
export const impl = <In, Reply>(ref: ActorRef<In, Reply>) => ref as ActorRefImpl<In, Reply>

const toDeliveryError = (error: Mailboxes.MailboxClosed | Mailboxes.MailboxFull) =>
  new DeliveryError({ address: error.address, reason: error.message })

/** @internal */
export const deliverToMailbox =
  <In>(target: Mailbox<Envelope<In>>) =>
  (env: Envelope<In>, receipt?: mailbox.Receipt): Effect.Effect<void, DeliveryError> => {
    // Fast path with no extra effect: most sends find room.
    const result = mailbox.offerUnsafe(target, env)
    if (result === "accepted" || result === "dead-lettered") {
      mailbox.accept(receipt)
      return Effect.void
    }
    return Effect.mapError(mailbox.offer(target, env, receipt), toDeliveryError)
  }

// A reply slot is a recipient registered for one ask. `fail` lets the runtime end an ask early (no reply will
// come) instead of leaving the asker to its timeout.
interface ReplySlot extends Recipient {
  /** Takes the reply; like a mailbox, it marks `receipt` accepted, so a traced reply is never withdrawn after. */
  readonly deliver: (reply: Envelope<any>, receipt?: mailbox.Receipt) => Effect.Effect<void, DeliveryError>
  readonly fail: (error: NoReply) => void
}
const isReplySlot = (recipient: Recipient | undefined): recipient is ReplySlot =>
  recipient !== undefined && "fail" in recipient

/**
 * Traces a send and delivers it, so that the send always gets exactly one outcome in the trace, after it.
 *
 * **Details**
 *
 * - A local mailbox (`inbox`) with room takes the envelope at once, and then the send is traced: no receiver
 *   can run in between, so the receive still comes after the send.
 * - Otherwise the send is traced and the delivery started in one uninterruptible step: an interrupt either
 *   lands before it (nothing was sent, nothing traced) or reaches the delivery, which is then accounted for.
 *   A rejected delivery is traced as a dead letter (reason "rejected"), and so is a delivery interrupted before
 *   the mailbox took charge of the envelope (reason "withdrawn"). Once the mailbox has it, the mailbox
 *   accounts for it (a receive, or its own "withdrawn" dead letter when the waiting sender is interrupted).
 * @internal
 */
const tracedDeliver = <In>(
  tracer: Tracer.Tracer,
  deliver: (env: Envelope<In>, receipt?: mailbox.Receipt) => Effect.Effect<void, DeliveryError>,
  inbox: Mailbox<Envelope<In>> | undefined,
  env: Envelope<In>,
  sentAt: number,
  receipt?: mailbox.Receipt
): Effect.Effect<void, DeliveryError> => {
  if (!tracer.enabled) return deliver(env, receipt)
  if (inbox !== undefined && mailbox.offerToBufferUnsafe(inbox, env)) {
    emitMessage(tracer, "send", env.from, env.to, env, undefined, sentAt)
    mailbox.accept(receipt)
    return Effect.void
  }
  return Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      // Emitted before delivery: the mailbox may dead-letter the envelope at once.
      emitMessage(tracer, "send", env.from, env.to, env, undefined, sentAt)
      const tracked: mailbox.Receipt = receipt ?? { accepted: false }
      const delivered = deliver(env, tracked)
      if (delivered === Effect.void) return delivered
      return Effect.onExit(restore(delivered), (exit) => {
        if (exit._tag === "Success") return Effect.void
        return Effect.sync(() => {
          const failure = exit.cause.reasons.find(Cause.isFailReason)
          if (failure !== undefined) {
            emitMessage(tracer, "dead-letter", env.to, env.from, env, {
              reason: "rejected",
              error: failure.error.reason
            })
          } else if (!tracked.accepted && !tracked.parked && Exit.hasInterrupts(exit)) {
            emitMessage(tracer, "dead-letter", env.to, env.from, env, { reason: "withdrawn" })
          }
        })
      })
    })
  )
}

/** Sends `payload` from `from` (stamped here, never taken from the caller). @internal */
export const sendFrom = <In>(
  from: Address,
  causationId: string | undefined,
  to: ActorRef<In, any>,
  payload: In,
  correlationId: string | undefined,
  tracer?: Tracer.Tracer
): Effect.Effect<void, DeliveryError> =>
  Effect.withFiber((fiber) => {
    const ref = impl(to)
    const sentAt = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    const id = ref.registry.transport?.messageId(causationId)
    const env = envelope.make(from, ref.address, payload, sentAt, causationId, correlationId, undefined, id)
    return tracedDeliver(tracer ?? fiber.getRef(Tracer.CurrentTracer), ref.deliver, ref.inbox, env, sentAt)
  })

/**
 * Sends with a receipt when the ref is local (interruptible: the receipt tells whether the envelope went
 * out), and uninterruptibly otherwise (a remote delivery cannot tell; finishing it is the only way to know).
 * `receipt.accepted` is true once the envelope was accepted, whatever the effect's exit.
 * @internal
 */
export const sendWithReceipt = <In>(
  from: Address,
  causationId: string | undefined,
  to: ActorRef<In, any>,
  payload: In,
  receipt: mailbox.Receipt
): Effect.Effect<void, DeliveryError> =>
  Effect.withFiber((fiber) => {
    const ref = impl(to)
    const sentAt = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    const id = ref.registry.transport?.messageId(causationId)
    const env = envelope.make(from, ref.address, payload, sentAt, causationId, undefined, undefined, id)
    const tracer = fiber.getRef(Tracer.CurrentTracer)
    if (ref.deliverWithReceipt !== undefined) {
      return tracedDeliver(tracer, ref.deliverWithReceipt, ref.inbox, env, sentAt, receipt)
    }
    return Effect.uninterruptible(
      Effect.tap(
        tracedDeliver(tracer, ref.deliver, ref.inbox, env, sentAt),
        Effect.sync(() => mailbox.accept(receipt))
      )
    )
  })

/** @internal */
export const askFrom = <In, Reply>(
  from: Address,
  causationId: string | undefined,
  to: ActorRef<In, Reply>,
  payload: In,
  options: AskOptions | undefined
): Effect.Effect<Reply, AskTimeout | NoReply | DeliveryError> =>
  Effect.withFiber((fiber) => {
    // An ask whose timeout is no duration is refused at the door: it will never be answered, and nothing is sent.
    const refused = options_.check(AskOptionsSchema, options ?? {})
    if (refused !== undefined) {
      return Effect.fail(
        new NoReply({
          address: to.address,
          messageId: "(not sent)",
          reason: `invalid ask option "${refused.option}" (${refused.value}): ${refused.problem}`
        })
      )
    }
    const ref = impl(to)
    const registry = ref.registry
    const correlationId = envelope.nextId()
    const replyAddress = `${ref.address}/reply/${correlationId}`
    const deferred = Deferred.makeUnsafe<Reply, NoReply>()
    const tracer = fiber.getRef(Tracer.CurrentTracer)
    const slot: ReplySlot = {
      address: replyAddress,
      deliver: (reply, receipt) =>
        Effect.sync(() => {
          mailbox.accept(receipt)
          // The asker receives the reply: `actor` is the asker, as for any receive.
          if (tracer.enabled) {
            emitMessage(tracer, "receive", from, reply.from, reply)
          }
          Deferred.doneUnsafe(deferred, Exit.succeed(reply.payload))
        }),
      fail: (error) => void Deferred.doneUnsafe(deferred, Exit.fail(error))
    }
    const timeout = Duration.fromInputUnsafe(options?.timeout ?? "30 seconds")
    const sentAt = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    const id = registry.transport?.messageId(causationId)
    const env = envelope.make(
      from,
      ref.address,
      payload,
      sentAt,
      causationId,
      correlationId,
      replyAddress,
      id
    )
    return Effect.acquireUseRelease(
      Effect.orDie(registry.register(slot)),
      () =>
        Effect.andThen(
          tracedDeliver(tracer, ref.deliver, ref.inbox, env, sentAt),
          Deferred.await(deferred).pipe(
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () =>
                Effect.fail(
                  new AskTimeout({
                    address: ref.address,
                    messageId: env.id,
                    millis: Duration.toMillis(timeout)
                  })
                )
            })
          )
        ),
      (unregister) => unregister
    )
  })

/** @internal */
export interface Spawn<In, Reply, E, R> {
  readonly name: Address
  readonly capacity: number | undefined
  readonly overflow: Overflow | undefined
  /** Called once per incarnation, so a restarted actor starts from fresh private state. */
  readonly makeReceive: () => (
    message: Envelope<In>,
    context: ActorContext<In, Reply>
  ) => Effect.Effect<void, E, R>
  readonly nursery: Nursery.Nursery | undefined
  readonly restart: Nursery.RestartPolicy | undefined
}

/** @internal */
export const make = <In, Reply, E, R>(spawn: Spawn<In, Reply, E, R>) =>
  Effect.gen(function* () {
    const registry = yield* Registry
    const scope = yield* Scope.Scope
    const tracer = yield* Tracer.CurrentTracer
    // Dead letters of this actor (overflow, withdrawn sends, leftovers at stop) reach the trace too, with
    // the envelope's ids.
    const sink = tracedSink(yield* DeadLetters, tracer, spawn.name)
    const inbox = yield* Mailboxes.make<Envelope<In>>({
      capacity: spawn.capacity ?? 1024,
      overflow: spawn.overflow,
      address: spawn.name
    }).pipe(Effect.provideService(DeadLetters, sink))
    const ref: ActorRefImpl<In, Reply> = Object.create(RefProto)
    const deliver = deliverToMailbox(inbox)
    // With a transport (a distributed registry), the actor's own ref sends through it; the transport hands
    // messages to this process's actor by the local delivery registered below.
    const transport = registry.transport
    Object.assign(ref, {
      address: spawn.name,
      deliver: transport === undefined ? deliver : transport.route(spawn.name),
      deliverWithReceipt: transport === undefined ? deliver : undefined,
      inbox: transport === undefined ? inbox : undefined,
      registry
    })
    const unregister = yield* registry.register({ address: spawn.name, deliver: deliver as any })
    const incarnation = Effect.suspend(() => {
      if (tracer.enabled) tracer.emit({ kind: "spawn", actor: spawn.name })
      return runLoop(ref, inbox, sink, tracer, spawn.makeReceive())
    }).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          if (tracer.enabled) {
            tracer.emit({
              kind: "exit",
              actor: spawn.name,
              data: {
                outcome: Exit.isSuccess(exit)
                  ? "done"
                  : Exit.hasInterrupts(exit) && !Exit.hasFails(exit) && !Exit.hasDies(exit)
                    ? "interrupted"
                    : "failed"
              }
            })
          }
        })
      )
    )
    const finalize = Effect.andThen(
      Effect.sync(() => stopMailbox(inbox, sink, registry)),
      unregister
    )
    if (spawn.nursery === undefined) {
      // Unsupervised: the actor ends with its loop; its mailbox and address go with it.
      const fiber = yield* incarnation.pipe(
        Effect.onExit(() => finalize),
        Effect.forkIn(scope, { startImmediately: true })
      )
      ref.awaitExit = Fiber.await(fiber) as Effect.Effect<Exit.Exit<void, unknown>>
      ref.stop = Fiber.interrupt(fiber)
    } else {
      // Supervised: the nursery restarts the loop on the same mailbox (queued messages survive a restart);
      // the mailbox and the address live until this Scope closes.
      const child = yield* Nursery.start(spawn.nursery, incarnation, {
        name: spawn.name,
        restart: spawn.restart ?? "transient"
      }).pipe(Effect.orDie)
      ref.awaitExit = child.await as Effect.Effect<Exit.Exit<void, unknown>>
      ref.stop = Effect.andThen(Nursery.stop(child), finalize)
      yield* Scope.addFinalizer(scope, ref.stop)
    }
    return ref as ActorRef<In, Reply>
  })

// Dead-letter what is left and tell every asker among them that no reply is coming.
const stopMailbox = <In>(
  inbox: Mailbox<Envelope<In>>,
  sink: DeadLetter.Sink,
  registry: Registry["Service"]
) => {
  mailbox.closeUnsafe(inbox, "actor stopped")
  for (
    let message = mailbox.pollUnsafe(inbox);
    message !== mailbox.Empty;
    message = mailbox.pollUnsafe(inbox)
  ) {
    sink.publish({ mailbox: inbox.address, message, reason: "stopped" })
    failAsker(registry, message, "the actor stopped before handling it")
  }
}

const failAsker = (registry: Registry["Service"], message: Envelope<unknown>, why: string) => {
  if (message.replyTo === undefined) return
  const slot = registry.lookupUnsafe(message.replyTo)
  if (isReplySlot(slot)) slot.fail(new NoReply({ address: message.to, messageId: message.id, reason: why }))
}

const runLoop = <In, Reply, E, R>(
  ref: ActorRefImpl<In, Reply>,
  inbox: Mailbox<Envelope<In>>,
  sink: DeadLetter.Sink,
  tracer: Tracer.Tracer,
  receive: (message: Envelope<In>, context: ActorContext<In, Reply>) => Effect.Effect<void, E, R>
): Effect.Effect<void, E, R> => {
  // The message being handled, and whether it was replied to. Touched only by this actor's fiber.
  let current: Envelope<In> | undefined
  let replied = false
  const context: ActorContext<In, Reply> = {
    self: ref,
    get message() {
      return current!
    },
    // An actor's sends use the tracer it was made with (no lookup per message).
    send: (to, payload, options) =>
      sendFrom(ref.address, current?.id, to, payload, options?.correlationId, tracer),
    ask: (to, payload, options) => askFrom(ref.address, current?.id, to, payload, options),
    reply: (value) =>
      Effect.suspend(() => {
        const message = current
        if (message === undefined || message.replyTo === undefined || replied) return Effect.void
        replied = true
        const slot = ref.registry.lookupUnsafe(message.replyTo)
        if (slot === undefined) return Effect.void // the asker gave up (timeout or interrupt)
        return Effect.withFiber((fiber) => {
          const sentAt = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
          const reply = envelope.make(
            ref.address,
            message.replyTo!,
            value,
            sentAt,
            message.id,
            message.correlationId
          )
          return tracedDeliver(tracer, slot.deliver, undefined, reply, sentAt)
        })
      })
  }
  const afterHandle = () => {
    if (current !== undefined && current.replyTo !== undefined && !replied) {
      failAsker(ref.registry, current, "the actor handled the message without replying")
    }
    current = undefined
    return loop
  }
  // The behavior is called in the same synchronous step as the take, so a taken message always reaches it;
  // its effect then runs interruptibly (an LLM call must be stoppable). No uninterruptible region is needed
  // per message: there is no moment at which a message has been taken but not handed to the behavior.
  const loop: Effect.Effect<void, E, R> = Effect.suspend(() => {
    const message = mailbox.pollUnsafe(inbox)
    if (message !== mailbox.Empty) {
      current = message
      replied = false
      if (tracer.enabled) emitMessage(tracer, "receive", ref.address, message.from, message)
      const transport = ref.registry.transport
      const handling = receive(message, context)
      return Effect.flatMap(
        transport === undefined ? handling : transport.handle(ref.address, message, handling),
        afterHandle
      )
    }
    if (mailbox.impl(inbox).closedReason !== undefined) return Effect.void
    return Effect.flatMap(mailbox.awaitAny([inbox]), () => loop)
  })
  return loop.pipe(
    Effect.onExit((exit) =>
      Effect.sync(() => {
        // The message whose handling failed is not silently gone: it is a dead letter, reason "failed".
        if (current !== undefined && (Exit.hasFails(exit) || Exit.hasDies(exit))) {
          sink.publish({ mailbox: inbox.address, message: current, reason: "failed" })
        }
        if (current !== undefined && !replied) {
          failAsker(ref.registry, current as Envelope<unknown>, "the actor stopped while handling it")
        }
        current = undefined
      })
    )
  )
}
