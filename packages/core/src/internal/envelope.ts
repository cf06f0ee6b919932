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
  id: string = nextId()
): Envelope<A> => {
  const self = Object.create(EnvelopeProto)
  self.id = id
  self.from = from
  self.to = to
  self.correlationId = correlationId
  self.causationId = causationId
  self.replyTo = replyTo
  self.sentAt = sentAt
  self.payload = payload
  return Object.freeze(self)
}
