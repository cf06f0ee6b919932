import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import { Check } from "@handoffkit/testing"
import { Tracer } from "../src/index.ts"
import * as envelope from "../src/internal/envelope.ts"
import * as trace from "../src/internal/trace.ts"

// Strings that try to break a hand-written JSON encoder: quotes, backslashes, control characters, DEL, line
// separators, non-ASCII, surrogate pairs and lone surrogates, mixed with plain characters and random UTF-16
// code units.
const tricky = ['"', "\\", "\n", "\r", "\t", "\b", "\u0000", "\u001f", "\u007f", "\u2028", "é", "€", "😀"]
const lone = ["\ud800", "\udbff", "\udc00", "\udfff"]
const plain = ["a", "Z", "0", "-", "_", ".", "/", ":", "@", "+", " ", "~"]
const alphabet = [...tricky, ...lone, ...plain]
const Unit = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff }))
const Pick = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: alphabet.length - 1 }))
const text = Arbitrary.map(
  Arbitrary.array(
    Arbitrary.schema(
      Schema.Union([Schema.TaggedStruct("pick", { i: Pick }), Schema.TaggedStruct("unit", { u: Unit })])
    ),
    { maxLength: 10 }
  ),
  (parts) => parts.map((p) => (p._tag === "pick" ? alphabet[p.i] : String.fromCharCode(p.u))).join("")
)
// Numbers as a clock or a counter gives them, and the ones JSON writes differently: fractions, negatives,
// -0, huge, NaN and infinities (JSON writes those as null).
const special = [0, -0, 1.5, -3, 1e21, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, NaN, Infinity, -Infinity]
const number = Arbitrary.map(
  Arbitrary.schema(
    Schema.Union([
      Schema.TaggedStruct("int", { n: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2e12 })) }),
      Schema.TaggedStruct("special", {
        i: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: special.length - 1 }))
      }),
      Schema.TaggedStruct("finite", { n: Schema.Finite })
    ])
  ),
  (x) => (x._tag === "special" ? special[x.i] : x.n)
)
const maybe = <A>(arbitrary: Arbitrary.Arbitrary<A>) =>
  Arbitrary.map(
    Arbitrary.all({ some: Arbitrary.schema(Schema.Boolean), value: arbitrary }),
    ({ some, value }) => (some ? value : undefined)
  )

const data = maybe(
  Arbitrary.map(
    Arbitrary.all({ text, n: number, list: Arbitrary.array(text, { maxLength: 3 }) }),
    ({ text, n, list }) => ({ text, n, list, nested: { text } })
  )
)

// One event, with fields drawn from small pools (so heads, causes and timestamps repeat, as they do in a run)
// or from tricky strings.
const event = Arbitrary.all({
  mode: Arbitrary.schema(Schema.Literals(["fields", "event"])),
  seqStep: Arbitrary.schema(Schema.Literals([1, 1, 1, 2, 0])),
  ts: Arbitrary.schema(Schema.Literals(["same", "next", "other"])),
  tsOther: number,
  kind: Arbitrary.schema(Schema.Union([Tracer.Kind, Schema.Literal("tricky")])),
  kindText: text,
  actor: Arbitrary.schema(Schema.Literals(["producer", "consumer", "tricky"])),
  actorText: text,
  peer: maybe(Arbitrary.schema(Schema.Literals(["producer", "consumer", "tricky"]))),
  messageId: text,
  causationId: maybe(Arbitrary.schema(Schema.Literals(["cause-1", "cause-2", "tricky"]))),
  correlationId: maybe(text),
  spanId: maybe(text),
  data
})

type Generated = typeof event extends Arbitrary.Arbitrary<infer A> ? A : never

// The events of a generated run, in the order of the schema's fields, only the ones that are set.
const events = (generated: ReadonlyArray<Generated>): Array<{ mode: string; event: Tracer.Event }> => {
  let seq = 0
  let ts = 1_700_000_000_000
  return generated.map((g) => {
    seq += g.seqStep
    if (g.ts === "next") ts += 1
    const ordered: Record<string, unknown> = {
      seq: g.seqStep === 2 ? g.tsOther : seq,
      ts: g.ts === "same" || g.ts === "next" ? ts : g.tsOther,
      kind: g.kind === "tricky" ? g.kindText : g.kind,
      actor: g.actor === "tricky" ? g.actorText : g.actor
    }
    if (g.peer !== undefined) ordered.peer = g.peer === "tricky" ? g.actorText : g.peer
    ordered.messageId = g.messageId
    if (g.causationId !== undefined)
      ordered.causationId = g.causationId === "tricky" ? g.kindText : g.causationId
    if (g.correlationId !== undefined) ordered.correlationId = g.correlationId
    if (g.mode === "event" && g.spanId !== undefined) ordered.spanId = g.spanId
    if (g.data !== undefined) ordered.data = g.data
    return { mode: g.mode, event: ordered as Tracer.Event }
  })
}

const decoder = new TextDecoder("utf-8", { fatal: true })

describe("Tracer fast paths", () => {
  it.prop(
    "the JSONL line writer writes exactly the UTF-8 of JSON.stringify(event) + newline, event after event",
    {
      run: Arbitrary.array(event, { minLength: 1, maxLength: 12 }),
      capacity: Schema.Literals([1, 64, 65536])
    },
    ({ run, capacity }) => {
      const writer = new trace.LineWriter(capacity)
      let expected = ""
      for (const { mode, event } of events(run)) {
        expected += `${JSON.stringify(event)}\n`
        if (mode === "fields") {
          writer.fields(
            event.seq,
            event.ts,
            event.kind,
            event.actor,
            event.peer,
            event.messageId!,
            event.causationId,
            event.correlationId,
            event.data
          )
        } else {
          writer.event(event)
        }
      }
      // `fatal`: the bytes are valid UTF-8 (a lone surrogate must have been escaped, not encoded).
      assert.strictEqual(decoder.decode(writer.bytes.subarray(0, writer.length)), expected)
      // And every line parses back to its event.
      const lines = expected.split("\n").slice(0, -1)
      assert.deepStrictEqual(
        lines.map((line) => JSON.parse(line)),
        events(run).map(({ event }) => JSON.parse(JSON.stringify(event)))
      )
    },
    Check.propOptions()
  )

  it.prop(
    "the memory tracer's events equal what a plain sink receives, however they are emitted and read",
    {
      steps: Arbitrary.array(
        Arbitrary.all({
          op: Arbitrary.schema(Schema.Literals(["send", "receive", "dead-letter", "emit", "read", "length"])),
          id: Arbitrary.schema(Schema.Literals(["fresh", "tricky", "same"])),
          idText: text,
          actor: Arbitrary.schema(Schema.Literals(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])),
          peer: maybe(Arbitrary.schema(Schema.Literals(["a", "b", "c"]))),
          cause: maybe(Arbitrary.schema(Schema.Literals(["cause-1", "cause-2"]))),
          correlation: maybe(text),
          ts: maybe(number),
          data
        }),
        { maxLength: 60 }
      ),
      clock: Arbitrary.array(number, { minLength: 1, maxLength: 8 }),
      bulk: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1200 }))
    },
    ({ steps, clock, bulk }) => {
      // Both tracers read the same clock values in the same order.
      const clockOf = () => {
        let i = 0
        return () => clock[i++ % clock.length]
      }
      const memory = Tracer.memory(clockOf())
      const written: Array<Tracer.Event> = []
      const reference = Tracer.make([{ write: (e) => void written.push(e) }], clockOf())
      const both = (f: (tracer: Tracer.Tracer) => void) => {
        f(memory.tracer)
        f(reference)
      }
      let last = envelope.make("a", "b", 0, 0, undefined, undefined)
      const message = (kind: Tracer.Kind, step: (typeof steps)[number]) => {
        if (step.id !== "same") {
          last = envelope.make(
            step.actor,
            step.peer ?? "x",
            0,
            0,
            step.cause,
            step.correlation,
            undefined,
            step.id === "tricky" ? step.idText : envelope.nextId()
          )
        }
        const env = last
        const data = step.data as Record<string, Schema.Json> | undefined
        both((tracer) => trace.emitMessage(tracer, kind, step.actor, step.peer, env, data, step.ts))
      }
      // Enough events first to fill more than one chunk, sometimes.
      for (let i = 0; i < bulk; i++) {
        const env = envelope.make("p", "q", i, 0, "cause-1", undefined)
        both((tracer) => trace.emitMessage(tracer, i % 2 === 0 ? "send" : "receive", "p", "q", env))
      }
      for (const step of steps) {
        switch (step.op) {
          case "send":
          case "receive":
          case "dead-letter":
            message(step.op, step)
            break
          case "emit":
            both((tracer) =>
              tracer.emit({
                kind: "tool.call",
                actor: step.actor,
                ...(step.ts !== undefined ? { ts: step.ts } : {}),
                ...(step.data !== undefined ? { data: step.data as Record<string, Schema.Json> } : {})
              })
            )
            break
          case "read":
            assert.deepStrictEqual([...memory.events], written)
            break
          case "length":
            assert.strictEqual(memory.events.length, written.length)
            break
        }
      }
      assert.strictEqual(memory.events.length, written.length)
      // deepStrictEqual tells -0 from 0 and matches NaN with NaN: every `ts` comes back exactly.
      assert.deepStrictEqual([...memory.events], written)
      for (let i = 1; i < memory.events.length; i++)
        assert.isAbove(memory.events[i].seq, memory.events[i - 1].seq)
      // The array stays live and usable as an array.
      assert.isTrue(Array.isArray(memory.events))
      assert.strictEqual(JSON.stringify(memory.events), JSON.stringify(written))
    },
    Check.propOptions()
  )

  it("message events are redacted on the fast path too: in memory, in field sinks, in plain sinks", () => {
    const secret = "OPENAI_API_KEY=sk-live-abcdefghijkl"
    const env = envelope.make("a", "b", 1, 7, undefined, undefined)
    const data = {
      reason: "rejected",
      error: `bad ${secret}`,
      headers: { authorization: "Bearer abcdefghijkl" }
    }
    const memory = Tracer.memory()
    const fields: Array<unknown> = []
    const fieldSink: trace.FieldSink = {
      write: () => assert.fail("a field sink gets message events as fields"),
      [trace.FieldsTypeId]: (...args) => void fields.push(args)
    }
    const plain: Array<Tracer.Event> = []
    for (const tracer of [
      memory.tracer,
      Tracer.make([fieldSink]),
      Tracer.make([fieldSink, { write: (e) => void plain.push(e) }])
    ]) {
      trace.emitMessage(tracer, "dead-letter", "b", "a", env, data)
    }
    const seen = JSON.stringify([memory.events, fields, plain])
    assert.notInclude(seen, "sk-live-abcdefghijkl")
    assert.notInclude(seen, "Bearer abcdefghijkl")
    assert.include(seen, "OPENAI_API_KEY=[REDACTED]")
    assert.strictEqual(fields.length, 2)
    assert.strictEqual(plain.length, 1)
    // The caller's object is left as it was.
    assert.include(data.error, secret)
  })

  it("the memory tracer's events array is live: read, emit more, read again; its length needs no building", () => {
    const trace = Tracer.memory(() => 5)
    const events = trace.events
    trace.tracer.emit({ kind: "spawn", actor: "a" })
    assert.strictEqual(events.length, 1)
    const env = envelope.make("a", "b", 1, 7, undefined, undefined)
    emitTwice(trace.tracer, env)
    assert.strictEqual(events.length, 3)
    assert.deepStrictEqual(
      events.map((e) => [e.seq, e.kind, e.actor, e.peer, e.ts]),
      [
        [1, "spawn", "a", undefined, 5],
        [2, "send", "a", "b", 7],
        [3, "receive", "b", "a", 5]
      ]
    )
    assert.strictEqual(events[1].messageId, env.id)
    // Written into like any array.
    events.length = 0
    emitTwice(trace.tracer, env)
    assert.deepStrictEqual(
      events.map((e) => e.seq),
      [4, 5]
    )
  })
})

const emitTwice = (tracer: Tracer.Tracer, env: ReturnType<typeof envelope.make<number>>) => {
  trace.emitMessage(tracer, "send", env.from, env.to, env, undefined, env.sentAt)
  trace.emitMessage(tracer, "receive", env.to, env.from, env)
}
