/**
 * The machinery of `TraceExport`: a trace's events made into spans of Effect's `Tracer` (which
 * `@effect/opentelemetry` turns into OpenTelemetry spans), with the message and causation ids as links.
 * @internal
 */
import { Context, Effect, Exit, Option } from "effect"
import type * as EffectTracer from "effect/Tracer"
import * as Tracer from "@handoffkit/core/Tracer"
import type * as TraceSummary from "../TraceSummary.ts"
import { afterSendKinds, envelopeKinds, sendKinds } from "@handoffkit/core/internal/traceMerge"
import { matchHandoffs } from "./traceSummary.ts"

const nanos = (ms: number): bigint => BigInt(Math.round(ms * 1e6))

const closing: Readonly<Record<string, string>> = {
  "model.request": "model.response",
  "tool.call": "tool.result"
}

/** `TraceExport.spans`. @internal */
export const spans = (
  trace: TraceSummary.Trace,
  serviceName: string
): Effect.Effect<{ readonly spans: number; readonly links: number }> =>
  Effect.gen(function* () {
    const tracer = yield* Effect.tracer
    const events = trace.events
    const make = (
      name: string,
      start: number,
      parent: EffectTracer.AnySpan | undefined,
      kind: EffectTracer.SpanKind
    ) =>
      tracer.span({
        name,
        parent: parent === undefined ? Option.none() : Option.some(parent),
        annotations: Context.empty(),
        links: [],
        startTime: nanos(start),
        kind,
        root: parent === undefined,
        sampled: true
      })
    if (events.length === 0) return { spans: 0, links: 0 }
    const start = events[0].ts
    const end = events.reduce((max, event) => Math.max(max, event.ts), start)
    const root = make(`${serviceName} run`, start, undefined, "internal")
    root.attribute("handoffkit.files", trace.files.join(", "))
    root.attribute("handoffkit.events", events.length)

    // A span per actor, from its first event to its last.
    const actors = new Map<string, { span: EffectTracer.Span; last: number }>()
    for (const event of events) {
      const known = actors.get(event.actor)
      if (known !== undefined) known.last = Math.max(known.last, event.ts)
      else {
        const span = make(Tracer.redactString(event.actor), event.ts, root, "internal")
        span.attribute("handoffkit.actor", Tracer.redactString(event.actor))
        actors.set(event.actor, { span, last: event.ts })
      }
    }

    // Which events end another's span: a message's first delivery (or dead letter) ends its send; a model
    // response ends its request; a tool result its call.
    const endOf = new Map<number, number>()
    const ended = new Set<number>()
    const sendOf = new Map<string, number>()
    const open = new Map<string, number>()
    events.forEach((event, index) => {
      if (sendKinds.has(event.kind) && event.messageId !== undefined && !sendOf.has(event.messageId)) {
        sendOf.set(event.messageId, index)
        return
      }
      if (afterSendKinds.has(event.kind) && event.messageId !== undefined) {
        const send = sendOf.get(event.messageId)
        if (send !== undefined && !endOf.has(send)) {
          endOf.set(send, index)
          if (event.kind === "receive" || event.kind === "broker.deliver") ended.add(index)
        }
        return
      }
      if (closing[event.kind] !== undefined && event.messageId !== undefined) {
        open.set(`${event.actor}\u0000${closing[event.kind]}\u0000${event.messageId}`, index)
        return
      }
      const key = `${event.actor}\u0000${event.kind}\u0000${event.messageId}`
      const opened = open.get(key)
      if (opened !== undefined) {
        open.delete(key)
        endOf.set(opened, index)
        ended.add(index)
      }
    })
    const handoffs = matchHandoffs(events)

    interface Made {
      readonly span: EffectTracer.Span
      readonly index: number
      readonly end: number
    }
    const made: Array<Made> = []
    const messageSpan = new Map<string, EffectTracer.Span>()
    events.forEach((event, index) => {
      if (ended.has(index)) return
      const closer = endOf.get(index)
      const closingEvent = closer === undefined ? undefined : events[closer]
      const isSend = sendKinds.has(event.kind)
      const name = isSend
        ? `${handoffs.has(index) ? "handoff" : event.kind} ${event.actor} → ${closingEvent?.kind === "dead-letter" ? `${event.peer} (dead letter)` : (closingEvent?.actor ?? event.peer ?? "?")}`
        : event.kind.startsWith("model.")
          ? `model ${event.actor}`
          : `${event.kind} ${event.actor}`
      const kind: EffectTracer.SpanKind = isSend
        ? "producer"
        : event.kind === "receive" || event.kind === "broker.deliver"
          ? "consumer"
          : event.kind === "model.request" || event.kind === "tool.call"
            ? "client"
            : "internal"
      const span = make(Tracer.redactString(name), event.ts, actors.get(event.actor)!.span, kind)
      span.attribute("handoffkit.kind", event.kind)
      span.attribute("handoffkit.seq", event.seq)
      if (trace.files.length > 1) span.attribute("handoffkit.file", event.file)
      const text = (key: string, value: string | undefined) => {
        if (value !== undefined) span.attribute(key, Tracer.redactString(value))
      }
      text("handoffkit.peer", event.peer)
      text("handoffkit.message_id", event.messageId)
      text("handoffkit.causation_id", event.causationId)
      text("handoffkit.correlation_id", event.correlationId)
      const taskId = handoffs.get(index)
      if (taskId !== undefined) span.attribute("handoffkit.task_id", taskId)
      if (closingEvent !== undefined) {
        span.attribute("handoffkit.end_kind", closingEvent.kind)
        if (closingEvent.data !== undefined)
          span.attribute("handoffkit.end_data", JSON.stringify(Tracer.redact(closingEvent.data)))
      }
      if (event.data !== undefined)
        span.attribute("handoffkit.data", JSON.stringify(Tracer.redact(event.data)))
      if (
        event.messageId !== undefined &&
        envelopeKinds.has(event.kind) &&
        !messageSpan.has(event.messageId)
      ) {
        messageSpan.set(event.messageId, span)
      }
      made.push({ span, index, end: closingEvent?.ts ?? event.ts })
    })

    // Links: to the span of the message that caused it, and (for an event about a message, such as a join's
    // part) to that message's span.
    let links = 0
    for (const { span, index } of made) {
      const event = events[index]
      const add: Array<EffectTracer.SpanLink> = []
      const cause = event.causationId === undefined ? undefined : messageSpan.get(event.causationId)
      if (cause !== undefined && cause !== span) {
        add.push({
          span: cause,
          attributes: { "handoffkit.link": "causation", "handoffkit.message_id": event.causationId }
        })
      }
      const about =
        event.messageId === undefined || envelopeKinds.has(event.kind)
          ? undefined
          : messageSpan.get(event.messageId)
      if (about !== undefined && about !== span) {
        add.push({
          span: about,
          attributes: { "handoffkit.link": "message", "handoffkit.message_id": event.messageId }
        })
      }
      if (add.length > 0) {
        span.addLinks(add)
        links += add.length
      }
    }
    for (const { span, index, end: at } of made) {
      span.end(nanos(at), Exit.void)
      // An actor's span covers the spans under it (a send ends at its delivery).
      const owner = actors.get(events[index].actor)!
      owner.last = Math.max(owner.last, at)
    }
    for (const { span, last } of actors.values()) span.end(nanos(last), Exit.void)
    root.end(nanos(end), Exit.void)
    return { spans: made.length + actors.size + 1, links }
  })
