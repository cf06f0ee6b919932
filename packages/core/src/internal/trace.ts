/**
 * The tracer's machinery: redaction, `seq` and `ts` assignment, the message-event fast path shared by every
 * primitive that moves envelopes (actors, the broker), the memory store, and the JSONL line encoder.
 *
 * The fast path: a message event (send, receive, dead letter, broker events) is passed as fields, from the
 * envelope, to sinks that can take fields (`FieldsTypeId`): the memory store keeps them as one row of a chunk
 * and the JSONL sink encodes them straight to UTF-8 bytes, so the hot path allocates no event object and no
 * string. Sinks that only have `write` get an `Event` built once for all of them.
 * @internal
 */
import type * as DeadLetter from "../DeadLetter.ts"
import type { Address, Envelope } from "../Envelope.ts"
import type * as Tracer from "../Tracer.ts"
import * as envelope from "./envelope.ts"

type Data = NonNullable<Tracer.Event["data"]>
type MutableEvent = { -readonly [K in keyof Tracer.Event]: Tracer.Event[K] }

// ---------------------------------------------------------------------------------------------------------
// redaction
// ---------------------------------------------------------------------------------------------------------

// Secrets that must never reach a sink: OpenAI-style keys, bearer tokens, and KEY=value assignments of
// variables whose name says they hold a secret.
const secretPatterns: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bsk-[A-Za-z0-9_-]{8,}/g, "sk-[REDACTED]"],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi, "Bearer [REDACTED]"],
  [/\b([A-Z0-9_]*(?:API_KEY|SECRET|TOKEN|PASSWORD)[A-Z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g, "$1=[REDACTED]"]
]

// Every secret pattern contains one of these markers: a string without any of them has nothing to redact.
const mayHoldSecret = /sk-|bearer|=/i

/** @internal */
export const redactString = (text: string): string => {
  // Most strings (addresses, ids, reasons) contain none of the markers: one cheap test skips the rest.
  if (!mayHoldSecret.test(text)) return text
  let out = text
  for (const [pattern, replacement] of secretPatterns) out = out.replace(pattern, replacement)
  return out
}

const secretKey = /^(api[-_]?key|authorization|password|secret|token|access[-_]?token)$/i

/** @internal */
export const redact = (value: unknown): unknown => {
  if (typeof value === "string") return redactString(value)
  if (Array.isArray(value)) {
    // Copy on write: an array (or object) with nothing to redact is returned as it is, allocation-free.
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const inner = redact(value[i])
      if (inner !== value[i]) (out ??= value.slice())[i] = inner
    }
    return out ?? value
  }
  if (typeof value === "object" && value !== null) {
    let out: Record<string, unknown> | undefined
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue
      const inner = (value as Record<string, unknown>)[key]
      const redacted = secretKey.test(key) ? "[REDACTED]" : redact(inner)
      if (redacted !== inner) (out ??= { ...(value as Record<string, unknown>) })[key] = redacted
    }
    return out ?? value
  }
  return value
}

// ---------------------------------------------------------------------------------------------------------
// the message-event fast path
// ---------------------------------------------------------------------------------------------------------

/** The key of a sink's field writer. @internal */
export const FieldsTypeId = "~handoffkit/Tracer/Sink/fields" as const

/** The key of a tracer's message emitter. @internal */
export const MessageTypeId = "~handoffkit/Tracer/message" as const

/**
 * Writes one message event given as fields (already numbered, timed and redacted): what `write` would get,
 * without the object.
 * @internal
 */
export type WriteFields = (
  seq: number,
  ts: number,
  kind: Tracer.Kind,
  actor: Address,
  peer: Address | undefined,
  messageId: string,
  causationId: string | undefined,
  correlationId: string | undefined,
  data: Data | undefined
) => void

/** A sink that also takes message events as fields. @internal */
export interface FieldSink extends Tracer.Sink {
  readonly [FieldsTypeId]: WriteFields
}

type EmitMessage = (
  kind: Tracer.Kind,
  actor: Address,
  peer: Address | undefined,
  env: Envelope<unknown>,
  data: Data | undefined,
  ts: number | undefined
) => void

interface MessageTracer extends Tracer.Tracer {
  readonly [MessageTypeId]: EmitMessage
}

/**
 * The event `write` gets for a message event: only the fields that are set, in the order of the schema.
 * @internal
 */
export const eventOf = (
  seq: number,
  ts: number,
  kind: Tracer.Kind,
  actor: Address,
  peer: Address | undefined,
  messageId: string,
  causationId: string | undefined,
  correlationId: string | undefined,
  data: Data | undefined
): Tracer.Event => {
  const event = { seq, ts, kind, actor } as MutableEvent
  if (peer !== undefined) event.peer = peer
  event.messageId = messageId
  if (causationId !== undefined) event.causationId = causationId
  if (correlationId !== undefined) event.correlationId = correlationId
  if (data !== undefined) event.data = data
  return event
}

/**
 * A fresh event about an envelope, for a tracer made outside this module (its `emit` completes it).
 * @internal
 */
export const messageEvent = (
  kind: Tracer.Kind,
  actor: Address,
  peer: Address | undefined,
  env: Envelope<unknown>,
  data?: Data,
  ts?: number
): Tracer.Emitted => {
  const event = { kind, actor } as { -readonly [K in keyof Tracer.Emitted]: Tracer.Emitted[K] }
  if (ts !== undefined) event.ts = ts
  if (peer !== undefined) event.peer = peer
  event.messageId = env.id
  if (env.causationId !== undefined) event.causationId = env.causationId
  if (env.correlationId !== undefined) event.correlationId = env.correlationId
  if (data !== undefined) event.data = data
  return event
}

/**
 * Traces an event about an envelope: `actor` is whom it is about, `peer` the other side, `ts` the moment
 * (read from the tracer's clock when not given). Call only when `tracer.enabled`.
 * @internal
 */
export const emitMessage = (
  tracer: Tracer.Tracer,
  kind: Tracer.Kind,
  actor: Address,
  peer: Address | undefined,
  env: Envelope<unknown>,
  data?: Data,
  ts?: number
): void => {
  const message = (tracer as Partial<MessageTracer>)[MessageTypeId]
  if (message !== undefined) message(kind, actor, peer, env, data, ts)
  else tracer.emit(messageEvent(kind, actor, peer, env, data, ts))
}

/** `Tracer.make`. @internal */
export const make = (sinks: ReadonlyArray<Tracer.Sink>, now: () => number): Tracer.Tracer => {
  let seq = 0
  const emit = (emitted: Tracer.Emitted): void => {
    // `emit` takes ownership of the object it is given (callers build it fresh) and completes it in place.
    const event = emitted as MutableEvent
    if (event.data !== undefined) event.data = redact(event.data) as Data
    event.seq = ++seq
    if (event.ts === undefined) event.ts = now()
    for (let i = 0; i < sinks.length; i++) sinks[i].write(event)
  }
  // Addresses and ids are the runtime's own strings: as in any event, they are not redacted; `data` is.
  const writers = sinks.map((sink) => (sink as Partial<FieldSink>)[FieldsTypeId])
  const only = writers.length === 1 ? writers[0] : undefined
  const message: EmitMessage =
    only !== undefined
      ? // One sink taking fields (a memory or JSONL tracer): a direct call, no loop.
        (kind, actor, peer, env, data, ts) =>
          only(
            ++seq,
            ts === undefined ? now() : ts,
            kind,
            actor,
            peer,
            env.id,
            env.causationId,
            env.correlationId,
            data === undefined ? undefined : (redact(data) as Data)
          )
      : (kind, actor, peer, env, data, ts) => {
          const n = ++seq
          const at = ts === undefined ? now() : ts
          const redacted = data === undefined ? undefined : (redact(data) as Data)
          // Sinks without a field writer share one event object.
          let event: Tracer.Event | undefined
          for (let i = 0; i < writers.length; i++) {
            const write = writers[i]
            if (write !== undefined) {
              write(n, at, kind, actor, peer, env.id, env.causationId, env.correlationId, redacted)
            } else {
              event ??= eventOf(
                n,
                at,
                kind,
                actor,
                peer,
                env.id,
                env.causationId,
                env.correlationId,
                redacted
              )
              sinks[i].write(event)
            }
          }
        }
  const tracer: MessageTracer = { enabled: true, emit, [MessageTypeId]: message }
  return tracer
}

/**
 * A dead-letter sink that first traces each letter as a `dead-letter` event of `address` (with the envelope's
 * ids when the letter is an envelope, and `detail` of it in `data`), then hands it to `sink`.
 * @internal
 */
export const tracedSink = (
  sink: DeadLetter.Sink,
  tracer: Tracer.Tracer,
  address: Address,
  detail?: (env: Envelope<unknown>) => Record<string, string>
): DeadLetter.Sink =>
  tracer.enabled
    ? {
        publish: (letter) => {
          const message = letter.message
          if (typeof message === "object" && message !== null && envelope.TypeId in message) {
            const env = message as Envelope<unknown>
            emitMessage(tracer, "dead-letter", address, env.from, env, {
              reason: letter.reason,
              ...detail?.(env)
            })
          } else {
            tracer.emit({ kind: "dead-letter", actor: address, data: { reason: letter.reason } })
          }
          sink.publish(letter)
        }
      }
    : sink

// ---------------------------------------------------------------------------------------------------------
// the memory store
// ---------------------------------------------------------------------------------------------------------

// A memory trace keeps every event, so all it keeps outlives the young generation, and the garbage collector
// copies whatever does, twice (within the young generation, then out of it). That, far more than allocating,
// is what tracing to memory costs. So a message event keeps as few bytes as it can, and is built into an
// `Event` object only when `events` is read. It is a row of three slots in a chunk (one array, copied in one
// piece), instead of an event object and its boxed `ts` (two objects, about 110 bytes):
// - its head: what it shares with the events around it (kind, actor, peer, causationId), one object for all
//   the rows with the same four (the last two heads are reused: a handler's sends, or a stream of receives,
//   share theirs); with correlationId and data when either is set, a head of its own. For an event that came
//   through `emit`, the `Event` itself.
// - its messageId: the counter behind a runtime-made id (a small integer), else the envelope's string;
// - its `ts`, as a small integer offset from the chunk's first `ts` (unboxed), or boxed in a one-element array
//   when that would not give it back exactly (a fraction, 0 or -0, NaN, a clock jump).
// `seq` is not stored: a memory tracer writes every event it numbers here, in order, so an event's `seq` is
// the previous one's plus one.

const ROWS = 1024 // rows per chunk: 24 KiB, copied quickly while young
const SLOTS = 3

interface RowHead {
  readonly kind: Tracer.Kind
  readonly actor: Address
  readonly peer: Address | undefined
  readonly causationId: string | undefined
  readonly correlationId: string | undefined
  readonly data: Data | undefined
}

interface Chunk {
  readonly refs: Array<unknown>
  base: number // the first finite `ts` of the chunk's message rows (NaN until there is one)
  rows: number
}

// A row's messageId slot back as the id: see `message`.
const idAt = (ref: unknown): string => (typeof ref === "number" ? envelope.idOf(ref) : (ref as string))

const makeChunk = (): Chunk => ({
  // A chunk of holes, filled row by row: `Array.from({ length })` would first write every slot.
  // oxlint-disable-next-line unicorn/no-new-array
  refs: new Array<unknown>(ROWS * SLOTS),
  base: NaN,
  rows: 0
})

/** `Tracer.memory`. @internal */
export const memory = (
  now: () => number
): { readonly tracer: Tracer.Tracer; readonly events: Array<Tracer.Event> } => {
  const events: Array<Tracer.Event> = []
  let full: Array<Chunk> = []
  let chunk = makeChunk()
  let seq = 0
  let builtSeq = 0

  let last0: RowHead | undefined
  let last1: RowHead | undefined
  const headOf = (
    kind: Tracer.Kind,
    actor: Address,
    peer: Address | undefined,
    causationId: string | undefined
  ): RowHead => {
    const h0 = last0
    if (
      h0 !== undefined &&
      h0.causationId === causationId &&
      h0.actor === actor &&
      h0.peer === peer &&
      h0.kind === kind
    ) {
      return h0
    }
    const h1 = last1
    last1 = h0
    if (
      h1 !== undefined &&
      h1.causationId === causationId &&
      h1.actor === actor &&
      h1.peer === peer &&
      h1.kind === kind
    ) {
      return (last0 = h1)
    }
    return (last0 = { kind, actor, peer, causationId, correlationId: undefined, data: undefined })
  }

  const room = (): Chunk => {
    if (chunk.rows < ROWS) return chunk
    full.push(chunk)
    return (chunk = makeChunk())
  }

  const emit = (emitted: Tracer.Emitted): void => {
    const event = emitted as MutableEvent
    if (event.data !== undefined) event.data = redact(event.data) as Data
    event.seq = ++seq
    if (event.ts === undefined) event.ts = now()
    const c = room()
    c.refs[c.rows++ * SLOTS] = event
  }

  // The message path writes its row directly: no event object, no sink call in between.
  const message: EmitMessage = (kind, actor, peer, env, data, ts) => {
    const at = ts === undefined ? now() : ts
    seq++
    const correlationId = env.correlationId
    const head: RowHead =
      correlationId === undefined && data === undefined
        ? headOf(kind, actor, peer, env.causationId)
        : {
            kind,
            actor,
            peer,
            causationId: env.causationId,
            correlationId,
            data: data === undefined ? undefined : (redact(data) as Data)
          }
    const c = room()
    if (c.base !== c.base && Number.isFinite(at)) c.base = at
    const slot = c.rows++ * SLOTS
    const refs = c.refs
    refs[slot] = head
    // The counter behind a runtime-made id (a small integer) rather than the id string: see `CounterId`.
    refs[slot + 1] = (env as { readonly [envelope.CounterId]?: number })[envelope.CounterId] ?? env.id
    // Unboxed when the offset gives `ts` back exactly (never for 0: `base + offset` would lose a -0).
    const offset = at - c.base
    refs[slot + 2] = offset === (offset | 0) && c.base + offset === at && at !== 0 ? offset : [at]
  }

  const build = (c: Chunk): void => {
    const refs = c.refs
    for (let slot = 0; slot < c.rows * SLOTS; slot += SLOTS) {
      const head = refs[slot] as RowHead | Tracer.Event
      if ("seq" in head) {
        events.push(head)
        builtSeq = head.seq
        continue
      }
      const ts = refs[slot + 2]
      events.push(
        eventOf(
          ++builtSeq,
          typeof ts === "number" ? c.base + ts : (ts as [number])[0],
          head.kind,
          head.actor,
          head.peer,
          idAt(refs[slot + 1]),
          head.causationId,
          head.correlationId,
          head.data
        )
      )
    }
  }
  const settle = (): void => {
    if (chunk.rows === 0) return
    for (const c of full) build(c)
    build(chunk)
    full = []
    chunk = makeChunk()
  }

  // `events` stays one live array: every access first builds the events recorded since the last one (its
  // length is known without building them).
  const live = new Proxy(events, {
    get: (target, key) => {
      if (key === "length") return target.length + full.length * ROWS + chunk.rows
      settle()
      return Reflect.get(target, key)
    },
    set: (target, key, value) => {
      settle()
      return Reflect.set(target, key, value)
    },
    has: (target, key) => {
      settle()
      return Reflect.has(target, key)
    },
    ownKeys: (target) => {
      settle()
      return Reflect.ownKeys(target)
    },
    getOwnPropertyDescriptor: (target, key) => {
      settle()
      return Reflect.getOwnPropertyDescriptor(target, key)
    },
    defineProperty: (target, key, descriptor) => {
      settle()
      return Reflect.defineProperty(target, key, descriptor)
    },
    deleteProperty: (target, key) => {
      settle()
      return Reflect.deleteProperty(target, key)
    }
  })
  const tracer: MessageTracer = { enabled: true, emit, [MessageTypeId]: message }
  return { tracer, events: live }
}

// ---------------------------------------------------------------------------------------------------------
// JSONL: events encoded straight to UTF-8 bytes
// ---------------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder()
const ascii = (text: string): Uint8Array => utf8.encode(text)

// The fixed parts of a line, in the order `JSON.stringify` writes an `Event`'s fields.
const SEQ = ascii('{"seq":')
const TS = ascii(',"ts":')
const KIND = ascii(',"kind":')
const ACTOR = ascii(',"actor":')
const PEER = ascii(',"peer":')
const MESSAGE_ID = ascii(',"messageId":')
const CAUSATION_ID = ascii(',"causationId":')
const CORRELATION_ID = ascii(',"correlationId":')
const SPAN_ID = ascii(',"spanId":')
const DATA = ascii(',"data":')

/**
 * A growable byte buffer that events are encoded into, as JSON Lines, byte for byte what
 * `JSON.stringify(event) + "\n"` encodes to in UTF-8 (for events whose fields are in the schema's order).
 *
 * Strings made of printable ASCII other than `"` and `\` (nearly every address, id and kind) are copied
 * char by char; any other string goes through `JSON.stringify`, so escaping is JSON's own. Numbers that are
 * non-negative safe integers (`seq`, and `ts` from a clock) are written digit by digit; any other number
 * through `JSON.stringify` too.
 * @internal
 */
export class LineWriter {
  bytes: Uint8Array
  length = 0
  // `seq` usually follows the previous one: its digits are kept and incremented in place.
  private lastSeq = -1
  private readonly seqDigits = withPrefix(SEQ)
  private seqView: Uint8Array = EMPTY
  // `ts` repeats from event to event (a clock ticks in milliseconds): its digits are kept.
  private lastTs = -1
  private readonly tsDigits = withPrefix(TS)
  private tsView: Uint8Array = EMPTY
  // Message events repeat their kind, actor and peer: the encoded `,"kind":…,"actor":…,"peer":…,"messageId":`
  // of the last few triples is kept, and so is the encoded `,"causationId":…` of the last cause.
  private readonly heads: Array<LineHead> = []
  private nextHead = 0
  private cause: string | undefined = undefined
  private causeBytes: Uint8Array = EMPTY

  constructor(capacity = 1 << 16) {
    this.bytes = new Uint8Array(capacity)
  }

  /** Makes room for `extra` more bytes. */
  reserve(extra: number): void {
    const need = this.length + extra
    if (need <= this.bytes.length) return
    const grown = new Uint8Array(Math.max(need, this.bytes.length * 2))
    grown.set(this.bytes.subarray(0, this.length))
    this.bytes = grown
  }

  /** One message event, from its fields. */
  fields(
    seq: number,
    ts: number,
    kind: string,
    actor: string,
    peer: string | undefined,
    messageId: string,
    causationId: string | undefined,
    correlationId: string | undefined,
    data: Data | undefined
  ): void {
    const json = data === undefined ? undefined : JSON.stringify(data)
    this.reserve(
      bound(kind) +
        bound(actor) +
        bound(peer) +
        bound(messageId) +
        bound(causationId) +
        bound(correlationId) +
        (json === undefined ? 0 : 3 * json.length) +
        256
    )
    this.sequence(seq)
    this.timestamp(ts)
    this.head(kind, actor, peer)
    this.string(messageId)
    if (causationId !== undefined) {
      if (causationId !== this.cause) {
        const start = this.length
        this.constant(CAUSATION_ID)
        this.string(causationId)
        this.cause = causationId
        this.causeBytes = this.bytes.slice(start, this.length)
      } else {
        this.constant(this.causeBytes)
      }
    }
    if (correlationId !== undefined) {
      this.constant(CORRELATION_ID)
      this.string(correlationId)
    }
    if (json !== undefined) {
      this.constant(DATA)
      this.text(json)
    }
    this.end()
  }

  /** One event. */
  event(event: Tracer.Event): void {
    const json = event.data === undefined ? undefined : JSON.stringify(event.data)
    this.reserve(
      bound(event.kind) +
        bound(event.actor) +
        bound(event.peer) +
        bound(event.messageId) +
        bound(event.causationId) +
        bound(event.correlationId) +
        bound(event.spanId) +
        (json === undefined ? 0 : 3 * json.length) +
        256
    )
    this.sequence(event.seq)
    this.timestamp(event.ts)
    this.constant(KIND)
    this.string(event.kind)
    this.constant(ACTOR)
    this.string(event.actor)
    if (event.peer !== undefined) {
      this.constant(PEER)
      this.string(event.peer)
    }
    if (event.messageId !== undefined) {
      this.constant(MESSAGE_ID)
      this.string(event.messageId)
    }
    if (event.causationId !== undefined) {
      this.constant(CAUSATION_ID)
      this.string(event.causationId)
    }
    if (event.correlationId !== undefined) {
      this.constant(CORRELATION_ID)
      this.string(event.correlationId)
    }
    if (event.spanId !== undefined) {
      this.constant(SPAN_ID)
      this.string(event.spanId)
    }
    if (json !== undefined) {
      this.constant(DATA)
      this.text(json)
    }
    this.end()
  }

  private head(kind: string, actor: string, peer: string | undefined): void {
    const heads = this.heads
    for (let i = 0; i < heads.length; i++) {
      const head = heads[i]
      if (head.kind === kind && head.actor === actor && head.peer === peer) return this.constant(head.bytes)
    }
    const start = this.length
    this.constant(KIND)
    this.string(kind)
    this.constant(ACTOR)
    this.string(actor)
    if (peer !== undefined) {
      this.constant(PEER)
      this.string(peer)
    }
    this.constant(MESSAGE_ID)
    const head: LineHead = { kind, actor, peer, bytes: this.bytes.slice(start, this.length) }
    if (heads.length < LINE_HEADS) heads.push(head)
    else heads[this.nextHead] = head
    this.nextHead = (this.nextHead + 1) % LINE_HEADS
  }

  private constant(part: Uint8Array): void {
    // `set` copies with one call: far cheaper than a byte loop beyond a few bytes.
    this.bytes.set(part, this.length)
    this.length += part.length
  }

  /** A JSON string: quoted directly when plain, else escaped by `JSON.stringify`. */
  private string(value: string): void {
    const bytes = this.bytes
    const start = this.length
    let at = start + 1
    bytes[start] = 0x22
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i)
      // Printable ASCII except `"` and `\`: what JSON writes as it is.
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.length = start
        this.text(JSON.stringify(value))
        return
      }
      bytes[at++] = c
    }
    bytes[at++] = 0x22
    this.length = at
  }

  /** Text already in JSON form, as UTF-8. */
  private text(json: string): void {
    const bytes = this.bytes
    let at = this.length
    for (let i = 0; i < json.length; i++) {
      const c = json.charCodeAt(i)
      if (c >= 0x80) {
        // Non-ASCII (JSON leaves it unescaped, and escapes lone surrogates): the encoder writes the rest.
        this.length = at + utf8.encodeInto(json.slice(i), bytes.subarray(at)).written
        return
      }
      bytes[at++] = c
    }
    this.length = at
  }

  private number(value: number): void {
    if (isDigits(value)) this.length = writeDigits(this.bytes, this.length, value)
    else this.text(JSON.stringify(value))
  }

  /** `{"seq":` and the digits of `seq`. */
  private sequence(seq: number): void {
    const digits = this.seqDigits
    if (seq === this.lastSeq + 1 && this.seqView.length > 0 && seq <= Number.MAX_SAFE_INTEGER) {
      // Add one in place; a carry out of the first digit makes the number one digit longer.
      let i = this.seqView.length - 1
      while (i >= SEQ.length && digits[i] === 0x39) digits[i--] = 0x30
      if (i >= SEQ.length) digits[i]++
      else {
        digits.copyWithin(SEQ.length + 1, SEQ.length, this.seqView.length)
        digits[SEQ.length] = 0x31
        this.seqView = digits.subarray(0, this.seqView.length + 1)
      }
    } else if (isDigits(seq)) {
      this.seqView = digits.subarray(0, writeDigits(digits, SEQ.length, seq))
    } else {
      this.lastSeq = -1
      this.seqView = EMPTY
      this.constant(SEQ)
      return this.number(seq)
    }
    this.lastSeq = seq
    this.constant(this.seqView)
  }

  /** `,"ts":` and the digits of `ts`. */
  private timestamp(ts: number): void {
    if (ts !== this.lastTs || this.tsView.length === 0) {
      if (!isDigits(ts)) {
        this.constant(TS)
        return this.number(ts)
      }
      this.lastTs = ts
      this.tsView = this.tsDigits.subarray(0, writeDigits(this.tsDigits, TS.length, ts))
    }
    this.constant(this.tsView)
  }

  private end(): void {
    const at = this.length
    this.bytes[at] = 0x7d // }
    this.bytes[at + 1] = 0x0a // \n
    this.length = at + 2
  }
}

interface LineHead {
  readonly kind: string
  readonly actor: string
  readonly peer: string | undefined
  readonly bytes: Uint8Array
}

const LINE_HEADS = 8
const EMPTY = new Uint8Array(0)

// A buffer starting with `prefix`, with room for the digits of any number after it.
const withPrefix = (prefix: Uint8Array): Uint8Array => {
  const buffer = new Uint8Array(prefix.length + 24)
  buffer.set(prefix)
  return buffer
}

// A non-negative safe integer (negative zero included: JSON writes it "0"), written digit by digit.
const isDigits = (value: number): boolean =>
  value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value

// Worst case bytes of a JSON string: every UTF-16 unit escaped as \uXXXX, plus the quotes.
const bound = (value: string | undefined): number => (value === undefined ? 0 : 6 * value.length + 2)

// The decimal digits of a non-negative safe integer, written at `at`; returns where they end.
const writeDigits = (bytes: Uint8Array, at: number, value: number): number => {
  let end = at
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) end++
  const after = end + 1
  let rest = value
  while (rest >= 10) {
    const next = Math.floor(rest / 10)
    bytes[end--] = 0x30 + (rest - next * 10)
    rest = next
  }
  bytes[end] = 0x30 + rest
  return after
}
