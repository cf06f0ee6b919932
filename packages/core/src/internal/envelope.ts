import type { Address, Envelope } from "../Envelope.ts"

/** @internal */
export const TypeId = "~handoffkit/Envelope" as const

/** @internal */
export const external = "external"

// A per-process prefix keeps ids unique across processes (the cluster deduplicates by id); the counter keeps
// them cheap to make on the hot path. `crypto` is the Web Crypto global, present in browsers and Node.
const prefix = globalThis.crypto.randomUUID().slice(0, 8)
let counter = 0

/** @internal */
export const nextId = (): string => `${prefix}-${(counter++).toString(36)}`

/** The id the counter value `n` stands for. @internal */
export const idOf = (n: number): string => `${prefix}-${n.toString(36)}`

/**
 * Where an envelope whose id the runtime made keeps the counter behind it: a trace can keep that small integer
 * instead of the id string (a retained string costs far more than an integer in an array) and rebuild the
 * id with `idOf` when it is read. A symbol key, so it is not an enumerable field of the envelope.
 * @internal
 */
export const CounterId: unique symbol = Symbol.for("handoffkit/Envelope/counter") as any

const EnvelopeProto = { [TypeId]: TypeId }

/**
 * Makes a frozen envelope. Only the runtime calls this: the public API never accepts a `from`.
 * @internal
 */
export const make = <A>(
  from: Address,
  to: Address,
  payload: A,
  sentAt: number,
  causationId: string | undefined,
  correlationId: string | undefined,
  replyTo: Address | undefined = undefined,
  id?: string
): Envelope<A> => {
  const self = Object.create(EnvelopeProto)
  if (id === undefined) {
    const n = counter++
    self.id = idOf(n)
    self[CounterId] = n
  } else self.id = id
  self.from = from
  self.to = to
  self.correlationId = correlationId
  self.causationId = causationId
  self.replyTo = replyTo
  self.sentAt = sentAt
  self.payload = payload
  return Object.freeze(self)
}
