/**
 * HandoffKit actors as `effect/cluster` entities: a Registry whose actors' mailboxes are persisted, sharded
 * over runner processes. An actor written against `@handoffkit/core` (`Actor.make`, `Actor.stateful`,
 * `context.send`, `context.ask`, `context.reply`) runs on it with no change to its code.
 *
 * **When to use**
 *
 * When a topology outgrows one process, or must survive a crash: provide `ClusterRunner.layer` (or, to try
 * it in one process, `layerEmbedded`) instead of `Actor.layer`. One process with no database stays the
 * default (`Actor.layer`).
 *
 * **Details**
 *
 * - An address is an entity id of one entity type, `HandoffKitActor`. Every runner runs the same program
 *   (it spawns every actor); the cluster decides which runner's actor handles an address: the one that owns
 *   its shard. The actor spawned on another runner stays idle until its shard moves there.
 * - `send` is a persisted message (`discard`: it completes once the message is stored); `ask` a persisted
 *   request whose reply travels back as the request's result, recorded with the message, so a redelivered
 *   ask is answered from the record.
 * - Every message keeps its envelope id; a message sent while handling another gets an id made from that
 *   one's (`<causation id>.<n>`), so a behaviour re-run after a crash sends the same ids and the cluster
 *   stores each once. Each handling runs through `Idempotency`: a redelivered message is not handled twice.
 * - Message order per sender is kept: an entity handles one message at a time, in the order stored. A
 *   runner that was losing a shard can leave a claimed message behind while later ones reach the new
 *   owner; before each message's behaviour runs, the statement that claims its id also looks for messages
 *   of its entity stored earlier and not yet handled; when there are some, the claim is rolled back, the
 *   handler handles those first (`Idempotency.backlog`), has the cluster read them again (they are
 *   duplicates by then), and hands the message over again. A sender's sends are ordered when each is stored before the next is sent (a
 *   `send` completes once stored).
 * - Payloads cross processes: they must be JSON values (`Schema.Json`).
 * - An actor's private state (a `stateful` actor's state, a closure) lives in the process that handles it:
 *   when its shard moves to another runner, the actor there starts from its own initial state. State that
 *   must survive belongs in the database, written by the behaviour (it commits with the message's record).
 *
 * @since 0.1.0
 */
import { Layer, Schema } from "effect"
import * as ClusterSchema from "effect/cluster/ClusterSchema"
import * as Entity from "effect/cluster/Entity"
import type { Sharding } from "effect/cluster/Sharding"
import * as Rpc from "effect/rpc/Rpc"
import * as TestRunner from "effect/cluster/TestRunner"
import { Envelope, type Registry } from "@handoffkit/core"
import * as Idempotency from "./Idempotency.ts"
import * as internal from "./internal/actors.ts"

/**
 * A message the cluster could not hand to an actor: no actor is spawned at its address on the runner that
 * owns it, the actor stopped, or its behaviour failed while handling it.
 *
 * **Example**
 *
 * ```ts
 * import { ClusterActors } from "@handoffkit/cluster"
 *
 * console.log(new ClusterActors.Undeliverable({ address: "stage-1", reason: "the actor stopped" }).message)
 * // cannot hand a message to "stage-1": the actor stopped
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class Undeliverable extends Schema.TaggedError<Undeliverable>()("Undeliverable", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot hand a message to "${this.address}": ${this.reason}`
  }
}

/**
 * The encoded form of an envelope on the wire and in storage (its payload a JSON value).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { ClusterActors } from "@handoffkit/cluster"
 *
 * const decoded = Schema.decodeUnknownSync(ClusterActors.EncodedEnvelope)({ id: "m", from: "a", to: "b", sentAt: 0, payload: [1] })
 * console.log(decoded.payload) // [1]
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const EncodedEnvelope = Envelope.schema(Schema.Json)

/**
 * The entity type every actor is an instance of, with its one persisted RPC, `deliver`.
 *
 * **Example**
 *
 * ```ts
 * import { ClusterActors } from "@handoffkit/cluster"
 *
 * console.log(ClusterActors.ActorEntity.type) // "HandoffKitActor"
 * ```
 *
 * @category entities
 * @since 0.1.0
 */
export const ActorEntity = Entity.make("HandoffKitActor", [
  Rpc.make("deliver", {
    payload: { envelope: EncodedEnvelope },
    success: Schema.Struct({
      outcome: Schema.Literals(["handled", "duplicate"]),
      reply: Schema.NullOr(EncodedEnvelope)
    }),
    error: Undeliverable,
    // A message re-sent with the same envelope id (a re-run after a crash, a retried send) is stored once.
    primaryKey: ({ envelope }) => envelope.id
  }).annotate(ClusterSchema.Persisted, true)
])

/**
 * The Registry on a cluster runner: its actors receive the messages of the shards it owns.
 *
 * **Details**
 *
 * Needs the cluster (`Sharding`, from `ClusterRunner.layer` or `TestRunner.layer`) and `Idempotency`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ClusterActors } from "@handoffkit/cluster"
 *
 * console.log(Layer.isLayer(ClusterActors.layer)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Registry.Registry, never, Sharding | Idempotency.Idempotency> =
  internal.layer(ActorEntity, Undeliverable, true)

/**
 * The Registry of a client process: it sends and asks, and handles nothing (actors spawned in it never
 * receive).
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ClusterActors } from "@handoffkit/cluster"
 *
 * console.log(Layer.isLayer(ClusterActors.layerClient)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient: Layer.Layer<Registry.Registry, never, Sharding> = internal.layer(
  ActorEntity,
  Undeliverable,
  false
) as Layer.Layer<Registry.Registry, never, Sharding>

/**
 * The cluster embedded in one process with no database: in-memory message storage (`TestRunner`), every
 * message still serialized and routed as between runners, and in-memory idempotency.
 *
 * **When to use**
 *
 * To check that a topology runs on the cluster before moving it to PostgreSQL and several runners.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 * import { ClusterActors } from "@handoffkit/cluster"
 *
 * const program = Effect.gen(function*() {
 *   const doubler = yield* Actor.make<number, number>("doubler", (m, context) => context.reply(m.payload * 2))
 *   return yield* Actor.ask(doubler, 21)
 * }).pipe(Effect.scoped, Effect.provide(ClusterActors.layerEmbedded))
 * Effect.runPromise(program).then(console.log) // 42
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerEmbedded: Layer.Layer<Registry.Registry> = layer.pipe(
  Layer.provide(Idempotency.layerMemory),
  Layer.provide(TestRunner.layer)
)
