/**
 * The machinery of `ClusterActors`: the entity, its handler, and the Registry with its transport.
 *
 * One entity type, one persisted RPC `deliver` whose payload is the encoded envelope (its primary key the
 * envelope id, so a re-sent message is stored once). On the runner that owns an address, the handler hands
 * the envelope to the local actor registered there and waits for that actor to have handled it (the core's
 * run loop calls `transport.handle` around each handling, which records the message through `Idempotency`
 * and completes the wait); the result carries the reply, if the message was an ask.
 * @internal
 */
import { Cause, Deferred, Duration, Effect, Exit, Layer, Option, Schedule, Schema, Scope } from "effect"
import type * as Entity from "effect/cluster/Entity"
import * as MessageStorage from "effect/cluster/MessageStorage"
import { Sharding } from "effect/cluster/Sharding"
import * as ShardId from "effect/cluster/ShardId"
import * as Snowflake from "effect/cluster/Snowflake"
import { Actor, Envelope, Registry } from "@handoffkit/core"
import * as envelopes from "@handoffkit/core/internal/envelope"
import type {
  ActorEntity as ActorEntityType,
  EncodedEnvelope,
  Undeliverable as UndeliverableType
} from "../ClusterActors.ts"
import * as Idempotency from "../Idempotency.ts"

type Encoded = typeof EncodedEnvelope.Type

/** @internal */
export const encode = (env: Envelope.Envelope<unknown>): Encoded => {
  const out: Record<string, unknown> = {
    id: env.id,
    from: env.from,
    to: env.to,
    sentAt: env.sentAt,
    payload: env.payload === undefined ? null : env.payload
  }
  if (env.correlationId !== undefined) out.correlationId = env.correlationId
  if (env.causationId !== undefined) out.causationId = env.causationId
  if (env.replyTo !== undefined) out.replyTo = env.replyTo
  return out as Encoded
}

/** @internal */
export const decode = (e: Encoded): Envelope.Envelope<unknown> =>
  envelopes.make(e.from, e.to, e.payload, e.sentAt, e.causationId, e.correlationId, e.replyTo, e.id)

const decodeStoredPayload = Schema.decodeUnknownOption(
  Schema.Struct({ envelope: Envelope.schema(Schema.Json) })
)

/** A stored `deliver` payload as an envelope; undefined when it is not one. @internal */
export const decodeStored = (payload: unknown): Envelope.Envelope<unknown> | undefined => {
  const decoded = decodeStoredPayload(payload)
  return Option.isSome(decoded) ? decode(decoded.value.envelope as Encoded) : undefined
}

// Where a request of the entity was stored.
const storedAt = (request: Entity.Request<any>): Idempotency.StoredAt => ({
  shardId: ShardId.toString(request.address.shardId),
  entityType: request.address.entityType,
  entityId: request.address.entityId,
  requestId: String(request.requestId)
})

interface Pending {
  readonly done: Deferred.Deferred<Idempotency.Result, UndeliverableType>
  reply: Encoded | null
  /** Where the message was stored, when its handling is to check first that none before it is left. */
  readonly after: Idempotency.StoredAt | undefined
}

interface ReplySlot extends Registry.Recipient {
  readonly fail: (error: Actor.NoReply) => void
}
const isReplySlot = (recipient: Registry.Recipient | undefined): recipient is ReplySlot =>
  recipient !== undefined && "fail" in recipient

// How long a claimed message may stay unprocessed before a runner holding its shard has it read again.
const staleAfter = Duration.seconds(10)

// How long a delivery keeps retrying while the cluster's storage is unreachable (a database restart).
const sendRetry = Schedule.spaced("200 millis").pipe(
  Schedule.while(({ elapsed }) => Duration.isLessThan(Duration.millis(elapsed), Duration.minutes(2)))
)

const retrying = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, {
    while: (error) => {
      const tag = (error as { readonly _tag?: string })._tag
      return tag === "PersistenceError" || tag === "EntityNotAssignedToRunner"
    },
    schedule: sendRetry
  })

/** @internal */
export const layer = (
  ActorEntity: typeof ActorEntityType,
  Undeliverable: typeof UndeliverableType,
  serve: boolean
): Layer.Layer<Registry.Registry, never, Sharding | Idempotency.Idempotency> => {
  const undeliverable = (address: string, reason: string) => new Undeliverable({ address, reason })
  return Layer.effect(
    Registry.Registry,
    Effect.gen(function* () {
      const scope = yield* Scope.Scope
      const client = yield* ActorEntity.client
      const idempotency = serve ? yield* Idempotency.Idempotency : undefined
      // Actors spawned here and reply slots of asks made here.
      const locals = new Map<string, Registry.Recipient>()
      const waiting = new Map<string, Deferred.Deferred<Registry.Recipient>>()
      // Messages the entity handler has handed to a local actor, by envelope id; and by reply address.
      const pending = new Map<string, Pending>()
      const captures = new Map<string, Pending>()
      // The number of messages sent so far while handling a message, by that message's id.
      const counters = new Map<string, number>()

      const awaitLocal = (address: string) =>
        Effect.suspend(() => {
          const found = locals.get(address)
          if (found !== undefined) return Effect.succeed(found)
          let deferred = waiting.get(address)
          if (deferred === undefined) {
            deferred = Deferred.makeUnsafe<Registry.Recipient>()
            waiting.set(address, deferred)
          }
          return Deferred.await(deferred).pipe(
            Effect.timeoutOrElse({
              duration: "1 minute",
              orElse: () =>
                Effect.fail(undeliverable(address, "no actor is spawned at this address on its runner"))
            })
          )
        })

      const route =
        (address: string) =>
        (env: Envelope.Envelope<any>): Effect.Effect<void, Registry.DeliveryError> => {
          const payload = { envelope: encode(env) }
          if (env.replyTo === undefined) {
            return Effect.mapError(
              retrying(client(address).deliver(payload, { discard: true })),
              (error) =>
                new Registry.DeliveryError({ address, reason: String((error as Error).message ?? error) })
            )
          }
          // An ask: the reply comes back as the request's result; hand it to the asker's slot.
          const replyTo = env.replyTo
          const failSlot = (reason: string) =>
            Effect.sync(() => {
              const slot = locals.get(replyTo)
              if (isReplySlot(slot)) slot.fail(new Actor.NoReply({ address, messageId: env.id, reason }))
            })
          return retrying(client(address).deliver(payload)).pipe(
            Effect.matchEffect({
              onSuccess: (result) => {
                const reply = result.reply
                if (reply === null) return failSlot("the actor handled the message without replying")
                const slot = locals.get(replyTo)
                return slot === undefined ? Effect.void : Effect.ignore(slot.deliver(decode(reply)))
              },
              onFailure: (error) => failSlot(String((error as Error).message ?? error))
            }),
            Effect.forkIn(scope),
            Effect.asVoid
          )
        }

      const routed = new Map<string, Registry.Recipient>()
      const routeRecipient = (address: string): Registry.Recipient => {
        let recipient = routed.get(address)
        if (recipient === undefined) {
          recipient = { address, deliver: route(address) }
          routed.set(address, recipient)
        }
        return recipient
      }

      const transport: Registry.Transport = {
        route,
        handle: (_address, env, handling) => {
          const entry = pending.get(env.id)
          const attempt = Effect.suspend(() => {
            // Each attempt (a retry after a database error re-runs it) sends the same ids again.
            counters.set(env.id, 0)
            return handling
          })
          const run =
            idempotency === undefined
              ? Effect.map(attempt, () => ({ outcome: "handled" as const, reply: entry?.reply ?? null }))
              : idempotency.run(env, attempt, () => entry?.reply ?? null, entry?.after)
          return run.pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                counters.delete(env.id)
                if (entry === undefined) return
                Deferred.doneUnsafe(
                  entry.done,
                  Exit.isSuccess(exit)
                    ? Exit.succeed(exit.value)
                    : Exit.fail(
                        undeliverable(env.to, `its behaviour did not complete: ${Cause.pretty(exit.cause)}`)
                      )
                )
              })
            ),
            Effect.asVoid
          )
        },
        messageId: (causationId) => {
          if (causationId === undefined) return undefined
          const n = counters.get(causationId)
          if (n === undefined) return undefined
          counters.set(causationId, n + 1)
          return `${causationId}.${n}`
        }
      }

      const registry = Registry.Registry.of({
        register: (recipient) =>
          Effect.suspend(() => {
            if (locals.has(recipient.address)) {
              return Effect.fail(new Registry.AddressTaken({ address: recipient.address }))
            }
            locals.set(recipient.address, recipient)
            const waiter = waiting.get(recipient.address)
            if (waiter !== undefined) {
              waiting.delete(recipient.address)
              Deferred.doneUnsafe(waiter, Exit.succeed(recipient))
            }
            return Effect.succeed(
              Effect.sync(() => {
                if (locals.get(recipient.address) === recipient) locals.delete(recipient.address)
              })
            )
          }),
        lookup: (address) =>
          Effect.sync(() => {
            const local = locals.get(address)
            return isReplySlot(local) ? local : routeRecipient(address)
          }),
        lookupUnsafe: (address) => {
          // A reply to a message handled here goes back as the request's result, wherever its asker is.
          const capture = captures.get(address)
          if (capture !== undefined) {
            return {
              address,
              deliver: (reply: Envelope.Envelope<any>) =>
                Effect.sync(() => {
                  capture.reply = encode(reply)
                })
            }
          }
          const local = locals.get(address)
          if (isReplySlot(local)) return local
          return address.includes("/reply/") ? undefined : routeRecipient(address)
        },
        addresses: Effect.sync(() =>
          Array.from(locals.values())
            .filter((r) => !isReplySlot(r))
            .map((r) => r.address)
        ),
        transport
      })

      if (serve) {
        const storage = yield* Effect.serviceOption(MessageStorage.MessageStorage)
        // Hands one envelope to the actor spawned here at its address and waits until it has handled it (or,
        // given `after`, found its entity behind: see `deliver`).
        const handOver = (env: Envelope.Envelope<unknown>, after?: Idempotency.StoredAt) =>
          Effect.gen(function* () {
            const recipient = yield* awaitLocal(env.to)
            const entry: Pending = { done: Deferred.makeUnsafe(), reply: null, after }
            pending.set(env.id, entry)
            if (env.replyTo !== undefined) captures.set(env.replyTo, entry)
            yield* Effect.mapError(recipient.deliver(env), (error) => undeliverable(env.to, error.reason))
            // The actor may stop before it takes the message: then it is gone from `locals`.
            const stopped = Effect.repeat(
              Effect.suspend(() =>
                locals.get(env.to) === recipient
                  ? Effect.void
                  : Effect.fail(undeliverable(env.to, "the actor stopped before handling it"))
              ),
              Schedule.spaced("1 second")
            )
            const result = yield* Effect.raceFirst(
              Deferred.await(entry.done),
              Effect.flatMap(stopped, () => Effect.never)
            )
            return { outcome: result.outcome, reply: result.reply as Encoded | null }
          }).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                pending.delete(env.id)
                if (env.replyTo !== undefined) captures.delete(env.replyTo)
              })
            )
          )
        // Messages of this entity stored before this one and not handled yet (a runner that was losing the
        // shard claimed them and left them behind): handled first, in the order they were stored, so every
        // sender's order holds; then the cluster is told to read them again, and finds them handled.
        const catchUp = (request: Entity.Request<any>) =>
          Effect.gen(function* () {
            const address = request.address
            const backlog = yield* idempotency!.backlog(storedAt(request))
            if (backlog.length === 0) return
            yield* Effect.logWarning("handling messages left behind in storage before this one").pipe(
              Effect.annotateLogs({ address: address.entityId, count: backlog.length })
            )
            for (const stored of backlog) {
              const earlier = decodeStored(stored.payload)
              // A failed behaviour is not recorded: the cluster delivers that message again later.
              if (earlier !== undefined) yield* Effect.ignore(handOver(earlier))
            }
            if (Option.isSome(storage)) {
              yield* Effect.ignore(
                storage.value.resetRequests(backlog.map((stored) => Snowflake.Snowflake(stored.requestId)))
              )
            }
          })
        // A message left behind with no later message of its entity to catch it up would wait for the
        // cluster's ten-minute re-read: claims this long unprocessed on shards held here are read again
        // (a message still queued here is recognised by the cluster and skipped).
        if (Option.isSome(storage)) {
          const sharding = yield* Sharding
          yield* idempotency!.stale(ActorEntity.type, staleAfter).pipe(
            Effect.flatMap((claims) => {
              const mine = claims.filter((claim) => sharding.hasShardId(ShardId.fromString(claim.shardId)))
              return mine.length === 0
                ? Effect.void
                : storage.value.resetRequests(mine.map((claim) => Snowflake.Snowflake(claim.requestId)))
            }),
            Effect.ignore,
            Effect.repeat(Schedule.spaced(staleAfter)),
            Effect.forkIn(scope)
          )
        }
        const handlers = ActorEntity.toLayer(
          ActorEntity.of({
            // The check for messages left behind is made in the statement that claims the message (one round
            // trip for both, just before its behaviour would run, as a separate query before it was); only
            // when some are found is the backlog read, handled, and the message handed over again.
            deliver: (request) =>
              Effect.gen(function* () {
                const env = decode(request.payload.envelope as Encoded)
                const first = yield* handOver(env, storedAt(request as Entity.Request<any>))
                if (first.outcome !== "behind") return first
                yield* catchUp(request as Entity.Request<any>)
                return yield* handOver(env)
              }) as any
          }),
          { concurrency: 1 }
        )
        yield* Layer.buildWithScope(handlers, scope)
      }
      return registry
    })
  ) as any
}
