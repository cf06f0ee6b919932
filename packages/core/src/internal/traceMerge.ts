/**
 * The machinery of `TraceMerge`: a topological merge of per-process event sequences, where each source keeps
 * its own order and a message's delivery waits for its send, ties broken by time.
 *
 * The invariant, kept by `merge`'s loop: an event is emitted only when every event before it in its source has
 * been, and, when it is a delivery of a message some source sent, when at least one send of that message has
 * been. Among the events allowed, the one with the smallest (ts, source, seq) goes first.
 * @internal
 */
import type * as TraceMerge from "../TraceMerge.ts"
import type * as Tracer from "../Tracer.ts"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * The kinds whose `messageId` is an envelope's id (unique across processes: the runtime gives each process
 * its own prefix). The same one of these recorded by two processes is one event. Other events carry ids that
 * are only unique per process (model call ids, `call-1` in every process), or none.
 * @internal
 */
export const envelopeKinds: ReadonlySet<string> = new Set([
  "send",
  "receive",
  "dead-letter",
  "broker.publish",
  "broker.deliver",
  "broker.overflow"
])

/**
 * Kinds that put a message on its way.
 * @internal
 */
export const sendKinds: ReadonlySet<string> = new Set(["send", "broker.publish"])

/**
 * Kinds that happen to a message once it is on its way: never before one of its sends.
 * @internal
 */
export const afterSendKinds: ReadonlySet<string> = new Set([
  "receive",
  "dead-letter",
  "broker.deliver",
  "broker.overflow"
])

/**
 * What makes two events the same event. An envelope event is the same when it is about the same envelope,
 * seen by the same actor, from the same peer: its `seq` and `ts` are those of whichever process recorded it.
 * Any other event is the same only when it is equal field for field (the same tracer wrote it twice).
 * @internal
 */
export const identity = (event: Tracer.Event): string =>
  event.messageId !== undefined && envelopeKinds.has(event.kind)
    ? JSON.stringify(["m", event.kind, event.actor, event.peer ?? null, event.messageId])
    : JSON.stringify([
        "e",
        event.seq,
        event.ts,
        event.kind,
        event.actor,
        event.peer ?? null,
        event.messageId ?? null,
        event.causationId ?? null,
        event.correlationId ?? null,
        event.spanId ?? null,
        event.data ?? null
      ])

/** Whether event `a` of source `sa` goes before `b` of `sb` when both may go next: by time, source, seq. */
const before = (a: Tracer.Event, sa: number, b: Tracer.Event, sb: number): boolean =>
  a.ts !== b.ts ? a.ts < b.ts : sa !== sb ? sa < sb : a.seq < b.seq

/** `TraceMerge.merge`. @internal */
export const merge = (sources: ReadonlyArray<TraceMerge.Source>): TraceMerge.TraceMerge => {
  // How many sends of each message the sources hold, and how many are out already.
  const sends = new Map<string, number>()
  // Of each event (by identity), the most copies one source holds: that many are the event, the rest repeats.
  const perSource = new Map<string, Array<number>>()
  const keys: Array<Array<string>> = sources.map((source, s) =>
    source.events.map((event) => {
      if (event.messageId !== undefined && sendKinds.has(event.kind)) {
        sends.set(event.messageId, (sends.get(event.messageId) ?? 0) + 1)
      }
      const key = identity(event)
      let counts = perSource.get(key)
      if (counts === undefined) perSource.set(key, (counts = []))
      counts[s] = (counts[s] ?? 0) + 1
      return key
    })
  )
  const kept = new Map<string, number>()
  for (const [key, counts] of perSource) kept.set(key, Math.max(...counts.filter((n) => n !== undefined)))
  const seen = new Map<string, number>()
  const sent = new Map<string, number>()

  const heads = sources.map(() => 0)
  const total = sources.reduce((n, source) => n + source.events.length, 0)
  const events: Array<TraceMerge.Merged> = []
  let repeats = 0
  let unordered = 0

  const ready = (event: Tracer.Event): boolean =>
    event.messageId === undefined ||
    !afterSendKinds.has(event.kind) ||
    (sends.get(event.messageId) ?? 0) === 0 ||
    (sent.get(event.messageId) ?? 0) > 0

  while (events.length < total) {
    let pick = -1
    let fallback = -1
    for (let s = 0; s < sources.length; s++) {
      const event = sources[s].events[heads[s]]
      if (event === undefined) continue
      if (fallback === -1 || before(event, s, sources[fallback].events[heads[fallback]], fallback))
        fallback = s
      if (!ready(event)) continue
      if (pick === -1 || before(event, s, sources[pick].events[heads[pick]], pick)) pick = s
    }
    // Every next event is a delivery whose send is still behind another delivery: the sources contradict
    // each other (a causal cycle). Take the earliest anyway, and count it, rather than stop.
    if (pick === -1) {
      pick = fallback
      unordered++
    }
    const index = heads[pick]++
    const event = sources[pick].events[index]
    const key = keys[pick][index]
    const copy = (seen.get(key) ?? 0) + 1
    seen.set(key, copy)
    const merged = { ...event, origin: sources[pick].origin } as Mutable<TraceMerge.Merged>
    const keep = kept.get(key)!
    if (copy > keep) {
      merged.repeat = copy - keep
      repeats++
    }
    if (event.messageId !== undefined && sendKinds.has(event.kind)) {
      sent.set(event.messageId, (sent.get(event.messageId) ?? 0) + 1)
    }
    events.push(merged)
  }
  return { origins: sources.map((source) => source.origin), events, repeats, unordered }
}
