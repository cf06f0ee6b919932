/**
 * The `Registry` maps addresses to the actors (or reply slots) that receive for them. Addresses are unique:
 * registering a taken address fails. It is a service, so that a distributed implementation (actors as
 * `effect/cluster` entities, mailboxes persisted in PostgreSQL) can replace the in-memory one without any
 * change to actor code.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { Address, Envelope } from "./Envelope.ts"

/**
 * Something that receives envelopes for an address.
 *
 * **Details**
 *
 * `deliver` completes when the envelope is accepted (it may wait under back-pressure) and fails with a typed
 * error when it cannot be; it must never drop an envelope silently.
 *
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "@handoffkit/core"
 *
 * const audit: Registry.Recipient = { address: "audit-log", deliver: () => Effect.void }
 * const program = Effect.gen(function*() {
 *   const registry = yield* Registry.Registry
 *   yield* registry.register(audit)
 *   return (yield* registry.lookup("audit-log")).address
 * }).pipe(Effect.provide(Registry.layer))
 * console.log(Effect.runSync(program)) // "audit-log"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Recipient {
  readonly address: Address
  readonly deliver: (envelope: Envelope<any>) => Effect.Effect<void, DeliveryError>
}

/**
 * Why a delivery failed: the recipient is gone, its mailbox is closed or full.
 *
 * **Example**
 *
 * ```ts
 * import { Registry } from "@handoffkit/core"
 *
 * const error = new Registry.DeliveryError({ address: "reviewer", reason: "mailbox is closed (stopped)" })
 * console.log(error.message) // cannot deliver to "reviewer": mailbox is closed (stopped)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DeliveryError extends Schema.TaggedError<DeliveryError>()("DeliveryError", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot deliver to "${this.address}": ${this.reason}`
  }
}

/**
 * Registering an address that is already taken.
 *
 * **Example**
 *
 * ```ts
 * import { Registry } from "@handoffkit/core"
 *
 * console.log(new Registry.AddressTaken({ address: "planner" }).message)
 * // address "planner" is already registered
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AddressTaken extends Schema.TaggedError<AddressTaken>()("AddressTaken", {
  address: Schema.String
}) {
  override get message() {
    return `address "${this.address}" is already registered`
  }
}

/**
 * Looking up an address nobody receives for.
 *
 * **Example**
 *
 * ```ts
 * import { Registry } from "@handoffkit/core"
 *
 * console.log(new Registry.NoSuchAddress({ address: "ghost" }).message) // no actor is registered at "ghost"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NoSuchAddress extends Schema.TaggedError<NoSuchAddress>()("NoSuchAddress", {
  address: Schema.String
}) {
  override get message() {
    return `no actor is registered at "${this.address}"`
  }
}

/**
 * What a distributed Registry carries besides its addresses: how an actor's own ref delivers, how each message
 * is handled, and how the ids of messages sent while handling are made. The in-memory registry has none; a
 * Registry with a `transport` (the one of `@handoffkit/cluster`) runs the same actors over another engine.
 *
 * **Details**
 *
 * - `route(address)`: the delivery an actor's own `ActorRef` uses. Without a transport it is the actor's local
 *   mailbox; with one, a send goes through the transport (persisted, routed to whichever process owns the
 *   address), and the transport hands it to the local actor by the `deliver` it registered.
 * - `handle(address, envelope, handling)`: wraps the handling of each message by a local actor (for a
 *   transaction, an idempotency check, a completion signal). It must run `handling` at most once.
 * - `messageId(causationId)`: the id of a message sent while handling `causationId`; `undefined` for a fresh
 *   one. A transport that redelivers makes it deterministic, so that a re-run sends the same ids.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor, Registry } from "@handoffkit/core"
 *
 * const handled: Array<string> = []
 * const transport: Registry.Transport = {
 *   route: () => () => Effect.void,
 *   handle: (address, envelope, handling) => Effect.tap(handling, () => Effect.sync(() => handled.push(`${address}:${envelope.payload}`))),
 *   messageId: () => undefined
 * }
 * const program = Effect.gen(function*() {
 *   const registry = yield* Registry.makeMemory
 *   const withTransport = Registry.Registry.of({ ...registry, transport })
 *   yield* Actor.make<string>("quiet", () => Effect.void).pipe(Effect.provideService(Registry.Registry, withTransport))
 *   return (yield* registry.lookup("quiet")).address
 * }).pipe(Effect.scoped)
 * console.log(Effect.runSync(program)) // "quiet"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Transport {
  readonly route: (address: Address) => (envelope: Envelope<any>) => Effect.Effect<void, DeliveryError>
  readonly handle: <E, R>(
    address: Address,
    envelope: Envelope<any>,
    handling: Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E, R>
  readonly messageId: (causationId: string | undefined) => string | undefined
}

/**
 * The registry service.
 *
 * **When to use**
 *
 * Actors register themselves; look addresses up with `lookup` when you only have a name (from a trace, a
 * config file, a model's tool call). Provide `Registry.layer` (in memory) or another implementation.
 *
 * **Details**
 *
 * - `register` fails with `AddressTaken` if the address is taken, and returns an effect that unregisters.
 * - `lookup` fails with `NoSuchAddress`.
 * - `lookupUnsafe` is the synchronous twin used on hot paths.
 * - `transport`, when present, changes how actors deliver and handle (see `Transport`); absent in memory.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* Registry.Registry
 *   yield* registry.register({ address: "sink", deliver: () => Effect.void })
 *   const taken = yield* registry.register({ address: "sink", deliver: () => Effect.void }).pipe(Effect.flip)
 *   return taken._tag
 * }).pipe(Effect.provide(Registry.layer))
 * console.log(Effect.runSync(program)) // "AddressTaken"
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Registry extends Context.Service<
  Registry,
  {
    readonly register: (recipient: Recipient) => Effect.Effect<Effect.Effect<void>, AddressTaken>
    readonly lookup: (address: Address) => Effect.Effect<Recipient, NoSuchAddress>
    readonly lookupUnsafe: (address: Address) => Recipient | undefined
    readonly addresses: Effect.Effect<ReadonlyArray<Address>>
    /** Present on a distributed registry: see `Transport`. */
    readonly transport?: Transport | undefined
  }
>()("@handoffkit/core/Registry") {}

/**
 * Makes an in-memory registry.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "@handoffkit/core"
 *
 * const registry = Effect.runSync(Registry.makeMemory)
 * console.log(registry.lookupUnsafe("nobody")) // undefined
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<Registry["Service"]> = Effect.sync(() => {
  const recipients = new Map<Address, Recipient>()
  return Registry.of({
    register: (recipient) =>
      Effect.suspend(() => {
        if (recipients.has(recipient.address))
          return Effect.fail(new AddressTaken({ address: recipient.address }))
        recipients.set(recipient.address, recipient)
        // Unregister only our own entry: a later actor may have re-registered the address.
        return Effect.succeed(
          Effect.sync(() => {
            if (recipients.get(recipient.address) === recipient) recipients.delete(recipient.address)
          })
        )
      }),
    lookup: (address) =>
      Effect.suspend(() => {
        const recipient = recipients.get(address)
        return recipient === undefined
          ? Effect.fail(new NoSuchAddress({ address }))
          : Effect.succeed(recipient)
      }),
    lookupUnsafe: (address) => recipients.get(address),
    addresses: Effect.sync(() => Array.from(recipients.keys()))
  })
})

/**
 * The in-memory registry as a Layer.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* Registry.Registry
 *   return yield* registry.addresses
 * }).pipe(Effect.provide(Registry.layer))
 * console.log(Effect.runSync(program)) // []
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Registry> = Layer.effect(Registry, makeMemory)
