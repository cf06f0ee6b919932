/**
 * An `Envelope` is one message in flight between actors: who sent it, to whom, why (its causation) and what
 * it carries. Envelopes are made by the runtime, never by user code: `from` is stamped from the sending
 * actor's own address, so an actor cannot speak for another, and every envelope is frozen on creation.
 *
 * Message ids are stable and unique across processes (a random per-process prefix plus a counter), which is
 * what a distributed transport needs to deduplicate at-least-once deliveries.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { hasProperty } from "effect/Predicate"
import * as internal from "./internal/envelope.ts"

/**
 * The brand carried by every `Envelope`; test for it with `isEnvelope`.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Envelope } from "@handoffkit/core"
 *
 * console.log(Envelope.TypeId) // "~handoffkit/Envelope"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = internal.TypeId

/**
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = "~handoffkit/Envelope"

/**
 * The address of an actor or mailbox: a non-empty string, unique within a Registry.
 *
 * **Details**
 *
 * Addresses are plain strings so that they survive encoding and can name actors on other machines.
 * `"external"` is the address stamped on messages sent from outside any actor.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { type Envelope, Registry } from "@handoffkit/core"
 *
 * const reviewer: Envelope.Address = "reviewer"
 * const program = Effect.gen(function*() {
 *   const registry = yield* Registry.Registry
 *   yield* registry.register({ address: reviewer, deliver: () => Effect.void })
 *   return yield* registry.addresses
 * }).pipe(Effect.provide(Registry.layer))
 * console.log(Effect.runSync(program)) // ["reviewer"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Address = string

/**
 * The address stamped as `from` on messages sent by code that is not an actor (a test, an HTTP handler).
 *
 * **Example**
 *
 * ```ts
 * import { Envelope } from "@handoffkit/core"
 *
 * console.log(Envelope.external) // "external"
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const external: Address = internal.external

/**
 * A message together with its routing and causal metadata. Immutable.
 *
 * **When to use**
 *
 * Actors receive envelopes; read `payload` for the content and `id`/`causationId`/`correlationId` to relate
 * messages to one another (replies, traces, joins).
 *
 * **Details**
 *
 * - `id`: unique, stable message id.
 * - `from`: stamped by the runtime from the sender's address (never taken from user input).
 * - `to`: the destination address.
 * - `correlationId`: groups a request with its reply, or the parts of one round of a join.
 * - `causationId`: the id of the message whose handling produced this one; absent for roots.
 * - `replyTo`: for an `ask`, the address its reply goes to (an address, not a callback, so a reply can cross
 *   processes).
 * - `sentAt`: epoch milliseconds read from Effect's `Clock` at send time.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const echo = yield* Actor.make<string, string>("echo", (envelope, context) =>
 *     context.reply(`${envelope.from} -> ${envelope.to}: ${envelope.payload}`)
 *   )
 *   return yield* Actor.ask(echo, "hello")
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "external -> echo: hello"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Envelope<out A> {
  readonly [TypeId]: TypeId
  readonly id: string
  readonly from: Address
  readonly to: Address
  readonly correlationId: string | undefined
  readonly causationId: string | undefined
  readonly replyTo: Address | undefined
  readonly sentAt: number
  readonly payload: A
}

/**
 * Tells whether a value is an `Envelope`.
 *
 * **Example**
 *
 * ```ts
 * import { Envelope } from "@handoffkit/core"
 *
 * console.log(Envelope.isEnvelope({ payload: 1 })) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isEnvelope = (u: unknown): u is Envelope<unknown> => hasProperty(u, TypeId)

/**
 * The Schema of an envelope's encoded form, for transports and traces that cross process boundaries.
 *
 * **When to use**
 *
 * Encode envelopes to JSON (for a trace or a persisted mailbox) and decode them back, validating the
 * metadata and the payload with the payload's own Schema.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Envelope } from "@handoffkit/core"
 *
 * const Encoded = Envelope.schema(Schema.String)
 * const decoded = Schema.decodeUnknownSync(Encoded)({
 *   id: "m-1", from: "a", to: "b", sentAt: 0, payload: "hi"
 * })
 * console.log(decoded.payload) // "hi"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const schema = <S extends Schema.Top>(payload: S) =>
  Schema.Struct({
    id: Schema.String,
    from: Schema.String,
    to: Schema.String,
    correlationId: Schema.optional(Schema.String),
    causationId: Schema.optional(Schema.String),
    replyTo: Schema.optional(Schema.String),
    sentAt: Schema.Number,
    payload
  })
