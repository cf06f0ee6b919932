/**
 * The `Tracer` records, message by message, everything every agent saw and sent: spawns and exits, sends,
 * receives and dead letters, select decisions, handoffs, budget charges, model requests and tool calls. Each
 * is one `Event` with a strictly increasing `seq` and the ids that make the trace a causal graph
 * (`messageId`, `causationId`, `correlationId`). Its guarantee: what reaches a sink has been redacted, so no
 * API key or bearer token is ever written.
 *
 * **When to use**
 *
 * Provide a tracer (`Tracer.memory()` in tests, a file or span sink in production) with
 * `Effect.provideService(Tracer.CurrentTracer, tracer)`; every primitive made under it emits its events.
 * Without one, tracing is off and costs a boolean check.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Exit, FileSystem, Latch, Option, Schema, Scope } from "effect"
import * as EffectTracer from "effect/Tracer"
import type { PlatformError } from "effect/PlatformError"
import * as internal from "./internal/trace.ts"

/**
 * What happened. Primitives emit these; model providers and tools add theirs.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Tracer } from "@handoffkit/core"
 *
 * console.log(Schema.is(Tracer.Kind)("handoff"), Schema.is(Tracer.Kind)("teleport")) // true false
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Kind = Schema.Literals([
  "spawn",
  "exit",
  "send",
  "receive",
  "dead-letter",
  "select",
  "handoff",
  "budget.reserve",
  "budget.commit",
  "budget.refund",
  "budget.exhausted",
  "nursery.start",
  "nursery.restart",
  "nursery.escalate",
  "join.part",
  "join.complete",
  "join.expire",
  "quorum.complete",
  "broker.publish",
  "broker.deliver",
  "broker.overflow",
  "corpus.put",
  "compactor.compact",
  "model.request",
  "model.response",
  "tool.call",
  "tool.result",
  "pool.task",
  "pool.gate",
  "pool.merge"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Kind = typeof Kind.Type

/**
 * One trace event.
 *
 * **Details**
 *
 * - `seq`: strictly increasing within one tracer.
 * - `ts`: epoch milliseconds from Effect's `Clock`.
 * - `actor`: the address of whoever the event is about (sender for `send`, receiver for `receive`).
 * - `peer`: the other side of a message event: the destination of a `send`, the sender of a `receive`.
 * - `messageId`, `causationId`, `correlationId`: the envelope's ids, when the event is about a message.
 * - `spanId`: the Effect span current when it happened, when there is one.
 * - `data`: small, JSON-encodable details (never whole payloads of unknown size: sizes, ids, reasons).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Tracer } from "@handoffkit/core"
 *
 * const event = Schema.decodeUnknownSync(Tracer.Event)({ seq: 1, ts: 0, kind: "send", actor: "a", messageId: "m-1" })
 * console.log(event.messageId) // "m-1"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Event = Schema.Struct({
  seq: Schema.Number,
  ts: Schema.Number,
  kind: Kind,
  actor: Schema.String,
  peer: Schema.optional(Schema.String),
  messageId: Schema.optional(Schema.String),
  causationId: Schema.optional(Schema.String),
  correlationId: Schema.optional(Schema.String),
  spanId: Schema.optional(Schema.String),
  data: Schema.optional(Schema.Record(Schema.String, Schema.Json))
})

/**
 * @category models
 * @since 0.1.0
 */
export type Event = typeof Event.Type

/**
 * What a primitive hands to `emit`: an event without `seq` and `ts`, which the tracer assigns. `emit` takes
 * ownership of the object and completes it in place, so pass a fresh object and do not reuse it.
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * const emitted: Tracer.Emitted = { kind: "tool.call", actor: "coder", data: { tool: "run_tests" } }
 * console.log(emitted.kind) // "tool.call"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Emitted = Omit<Event, "seq" | "ts"> & { readonly ts?: number | undefined }

/**
 * A destination for trace events.
 *
 * **Details**
 *
 * `write` is called synchronously, in `seq` order, with events already redacted. A sink must not throw.
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * const kinds: Array<string> = []
 * const sink: Tracer.Sink = { write: (event) => void kinds.push(event.kind) }
 * Tracer.make([sink]).emit({ kind: "exit", actor: "a" })
 * console.log(kinds) // ["exit"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Sink {
  readonly write: (event: Event) => void
}

/**
 * A tracer: assigns `seq`, redacts, and writes to its sinks.
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * const tracer: Tracer.Tracer = Tracer.memory().tracer
 * console.log(tracer.enabled) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Tracer {
  readonly enabled: boolean
  readonly emit: (event: Emitted) => void
}

/**
 * Replaces secrets in a string: `sk-...` keys, `Bearer` tokens, and `NAME=value` where NAME looks like a
 * secret (`OPENAI_API_KEY=...`, `GITHUB_TOKEN=...`).
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * console.log(Tracer.redactString("use OPENAI_API_KEY=sk-abcdefghijkl")) // "use OPENAI_API_KEY=[REDACTED]"
 * ```
 *
 * @category redaction
 * @since 0.1.0
 */
export const redactString: (text: string) => string = internal.redactString

/**
 * Redacts every string inside a JSON-like value, and drops values under keys that name a secret
 * (`apiKey`, `authorization`, `password`, `token`).
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * console.log(Tracer.redact({ headers: { authorization: "Bearer abc.def.ghi" }, note: "sk-1234567890" }))
 * // { headers: { authorization: "[REDACTED]" }, note: "sk-[REDACTED]" }
 * ```
 *
 * @category redaction
 * @since 0.1.0
 */
export const redact: (value: unknown) => unknown = internal.redact

/**
 * Makes a tracer writing to `sinks`. `now` gives `ts` (pass the Clock's `currentTimeMillisUnsafe` so
 * TestClock drives it).
 *
 * **When to use**
 *
 * To trace to sinks of your own, or to several at once (`Tracer.make([jsonlSink, spanSink])`).
 *
 * **Details**
 *
 * Each event gets the next `seq` (1, 2, ...) and, unless it has one, a `ts` from `now`; its `data` is redacted;
 * then every sink's `write` gets it, in `seq` order. The events the runtime emits about messages (sends,
 * receives, dead letters, broker deliveries) reach a plain sink as one object shared by all sinks, with only
 * the fields that are set.
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * const seen: Array<Tracer.Event> = []
 * const tracer = Tracer.make([{ write: (event) => void seen.push(event) }], () => 0)
 * tracer.emit({ kind: "send", actor: "a", messageId: "m-1" })
 * console.log(seen[0].seq) // 1
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (sinks: ReadonlyArray<Sink>, now: () => number = Date.now): Tracer =>
  internal.make(sinks, now)

/**
 * A tracer that keeps every event in memory, in `events`.
 *
 * **When to use**
 *
 * In tests, to assert over what happened; and to trace a run that is small enough to keep.
 *
 * **Details**
 *
 * `events` is one live array, in `seq` order: read it at any time, again and again, and it holds every event
 * emitted so far. It is built as it is read: the tracer keeps message events (the runtime's sends and
 * receives) in a compact form, because keeping an object per event is what makes tracing to memory costly,
 * and makes the `Event` objects on the next access to the array (its `length` needs none). An event passed to
 * `emit` is kept as the object it is.
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * const trace = Tracer.memory()
 * trace.tracer.emit({ kind: "spawn", actor: "planner" })
 * console.log(trace.events.map((event) => event.kind)) // ["spawn"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const memory = (
  now: () => number = Date.now
): { readonly tracer: Tracer; readonly events: Array<Event> } => internal.memory(now)

/**
 * Tracing off: `enabled` is false and `emit` does nothing. The default.
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * console.log(Tracer.disabled.enabled) // false
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const disabled: Tracer = { enabled: false, emit: () => {} }

/**
 * The tracer in scope. Primitives capture it when they are made, so provide it before making them.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "@handoffkit/core"
 *
 * const trace = Tracer.memory()
 * const program = Effect.gen(function*() {
 *   const tracer = yield* Tracer.CurrentTracer
 *   tracer.emit({ kind: "spawn", actor: "me" })
 * }).pipe(Effect.provideService(Tracer.CurrentTracer, trace.tracer))
 * Effect.runSync(program)
 * console.log(trace.events.length) // 1
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const CurrentTracer: Context.Reference<Tracer> = Context.Reference<Tracer>("@handoffkit/core/Tracer", {
  defaultValue: () => disabled
})

/**
 * A sink that appends events to a JSON Lines file: one JSON object per line.
 *
 * **When to use**
 *
 * To keep a run's trace on disk, to read back with `readJsonl` (or `handoffkit trace summary`).
 *
 * **Details**
 *
 * `write` only encodes the event (it is on the hot path), as the UTF-8 bytes of `JSON.stringify(event)` and a
 * newline, into a buffer; a fiber appends the buffer every `flushEvery` (default 100 ms) or as soon as about
 * 256 KiB (some 2,000 lines) are waiting, and closing the Scope flushes what is left before the file is
 * closed. A process killed between flushes loses at most that interval, and may leave a torn last line, which
 * `readJsonl` reports and skips.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Tracer } from "@handoffkit/core"
 *
 * const path = "/tmp/handoffkit-example-trace.jsonl"
 * const program = Effect.gen(function*() {
 *   yield* Effect.scoped(
 *     Effect.gen(function*() {
 *       const sink = yield* Tracer.jsonl(path)
 *       Tracer.make([sink]).emit({ kind: "spawn", actor: "planner" })
 *     })
 *   ) // the scope closed: the buffer is flushed
 *   const { events } = yield* Tracer.readJsonl(path)
 *   return events.at(-1)?.actor
 * }).pipe(Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // "planner"
 * ```
 *
 * @category sinks
 * @since 0.1.0
 */
export const jsonl = (
  path: string,
  options?: { readonly flushEvery?: Duration.Input | undefined }
): Effect.Effect<Sink, PlatformError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const file = yield* fs.open(path, { flag: "a" })
    // Events are encoded to UTF-8 as they come, into one of two byte buffers; a flush swaps them in one step
    // (so no line is written twice or skipped) and writes the full one while events fill the other.
    // Flushes are sequential (the periodic one, then the final one after it stopped) and a write is not
    // interrupted midway, so a buffer is never filled while it is being written.
    let filling = new internal.LineWriter()
    let spare = new internal.LineWriter()
    let woken = false
    const flush = Effect.suspend(() => {
      woken = false
      if (filling.length === 0) return Effect.void
      const full = filling
      filling = spare
      spare = full
      return Effect.uninterruptible(
        Effect.ensuring(
          file.writeAll(full.bytes.subarray(0, full.length)),
          Effect.sync(() => {
            full.length = 0
          })
        )
      )
    })
    // A burst of events wakes the flusher early, so buffers stay small.
    const wake = Latch.makeUnsafe(false)
    const written = (): void => {
      if (!woken && filling.length >= wakeAt) {
        woken = true
        wake.openUnsafe()
      }
    }
    // Registered before the flusher is forked, so it runs after the flusher is stopped (finalizers run in
    // reverse order): the last flush never races a periodic one.
    yield* Effect.addFinalizer(() => Effect.ignore(flush))
    const interval = options?.flushEvery ?? "100 millis"
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.andThen(
          Effect.raceFirst(wake.await, Effect.sleep(interval)),
          Effect.andThen(
            Effect.sync(() => wake.closeUnsafe()),
            flush
          )
        )
      )
    )
    const sink: internal.FieldSink = {
      write: (event) => {
        filling.event(event)
        written()
      },
      // Message events come as fields: encoded without an event object.
      [internal.FieldsTypeId]: (seq, ts, kind, actor, peer, messageId, causationId, correlationId, data) => {
        filling.fields(seq, ts, kind, actor, peer, messageId, causationId, correlationId, data)
        written()
      }
    }
    return sink
  })

// About 2,000 lines: the flusher is woken when that much is waiting.
const wakeAt = 1 << 18

/**
 * A JSONL trace line that is not a valid event (other than a torn last line).
 *
 * **Example**
 *
 * ```ts
 * import { Tracer } from "@handoffkit/core"
 *
 * console.log(new Tracer.TraceDecodeError({ path: "run.jsonl", line: 3, problem: "not JSON" }).message)
 * // run.jsonl:3: not a trace event (not JSON)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TraceDecodeError extends Schema.TaggedError<TraceDecodeError>()("TraceDecodeError", {
  path: Schema.String,
  line: Schema.Number,
  problem: Schema.String
}) {
  override get message() {
    return `${this.path}:${this.line}: not a trace event (${this.problem})`
  }
}

const decodeEvent = Schema.decodeUnknownExit(Event)

/**
 * Reads a JSONL trace back into events.
 *
 * **Details**
 *
 * A torn last line (a write cut short by a crash: no final newline and not a valid event) is reported in
 * `torn` and skipped, not fatal. Any other line that is not a valid event fails with `TraceDecodeError`
 * naming the file and the line number.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, FileSystem } from "effect"
 * import { Tracer } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const path = "/tmp/handoffkit-example-read.jsonl"
 *   yield* fs.writeFileString(path, '{"seq":1,"ts":0,"kind":"spawn","actor":"a"}\n{"seq":2,"ts')
 *   const { events, torn } = yield* Tracer.readJsonl(path)
 *   return [events.length, torn?.line]
 * }).pipe(Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // [1, 2]
 * ```
 *
 * @category sinks
 * @since 0.1.0
 */
export const readJsonl = (
  path: string
): Effect.Effect<
  {
    readonly events: Array<Event>
    readonly torn: { readonly line: number; readonly text: string } | undefined
  },
  TraceDecodeError | PlatformError,
  FileSystem.FileSystem
> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path)
    const lines = text.split("\n")
    const complete = text.endsWith("\n") || text.length === 0
    if (complete) lines.pop()
    const events: Array<Event> = []
    let torn: { readonly line: number; readonly text: string } | undefined
    for (let i = 0; i < lines.length; i++) {
      const isLast = i === lines.length - 1
      let parsed: unknown
      let problem: string | undefined
      try {
        parsed = JSON.parse(lines[i])
      } catch {
        problem = "not JSON"
      }
      if (problem === undefined) {
        const exit = decodeEvent(parsed)
        if (exit._tag === "Success") {
          events.push(exit.value)
          continue
        }
        problem = "does not match the event schema"
      }
      if (isLast && !complete) {
        torn = { line: i + 1, text: lines[i] }
        continue
      }
      return yield* new TraceDecodeError({ path, line: i + 1, problem })
    }
    return { events, torn }
  })

/**
 * A sink that turns each event into an Effect span, so OpenTelemetry exporters (`@effect/opentelemetry`)
 * show HandoffKit's events unchanged, under the span that was current when the sink was made.
 *
 * **Details**
 *
 * Each event is one ended span named `handoffkit.<kind>` (zero length, at the event's `ts`) with the
 * attributes `handoffkit.seq`, `handoffkit.actor`, `handoffkit.peer`, `handoffkit.message_id`,
 * `handoffkit.causation_id`, `handoffkit.correlation_id` and `handoffkit.data` (JSON), all already redacted.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as EffectTracer from "effect/Tracer"
 * import { Tracer } from "@handoffkit/core"
 *
 * const spans: Array<EffectTracer.NativeSpan> = []
 * const collector = EffectTracer.make({
 *   span(options) {
 *     const span = new EffectTracer.NativeSpan(options)
 *     spans.push(span)
 *     return span
 *   }
 * })
 * const program = Effect.gen(function*() {
 *   const sink = yield* Tracer.spans
 *   Tracer.make([sink]).emit({ kind: "send", actor: "planner", peer: "coder", messageId: "m-1" })
 * }).pipe(Effect.withSpan("request"), Effect.provideService(EffectTracer.Tracer, collector))
 * Effect.runSync(program)
 * const event = spans.find((span) => span.name === "handoffkit.send")
 * console.log(event?.attributes.get("handoffkit.peer"), event?.parent._tag) // "coder" "Some"
 * ```
 *
 * @category sinks
 * @since 0.1.0
 */
export const spans: Effect.Effect<Sink> = Effect.gen(function* () {
  const tracer = yield* EffectTracer.Tracer
  const parent: Option.Option<EffectTracer.AnySpan> = yield* Effect.option(Effect.currentParentSpan)
  return {
    write: (event) => {
      const at = BigInt(Math.round(event.ts)) * 1_000_000n
      const span = tracer.span({
        name: `handoffkit.${event.kind}`,
        parent,
        annotations: Context.empty(),
        links: [],
        startTime: at,
        kind: "internal",
        root: false,
        sampled: true
      })
      span.attribute("handoffkit.seq", event.seq)
      span.attribute("handoffkit.actor", event.actor)
      if (event.peer !== undefined) span.attribute("handoffkit.peer", event.peer)
      if (event.messageId !== undefined) span.attribute("handoffkit.message_id", event.messageId)
      if (event.causationId !== undefined) span.attribute("handoffkit.causation_id", event.causationId)
      if (event.correlationId !== undefined) span.attribute("handoffkit.correlation_id", event.correlationId)
      if (event.data !== undefined) span.attribute("handoffkit.data", JSON.stringify(event.data))
      span.end(at, Exit.void)
    }
  } satisfies Sink
})
