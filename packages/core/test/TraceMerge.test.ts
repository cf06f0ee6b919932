import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as FileSystem from "effect/FileSystem"
import * as TraceMerge from "../src/TraceMerge.ts"
import type * as Tracer from "../src/Tracer.ts"
import { Check } from "@handoffkit/testing"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * A run of several processes, simulated: each step sends a message (a root, or one caused by a message the
 * sending process received), receives a message in flight at its destination process, or redelivers a
 * received message to another process (a runner died, another took its shards). Every process stamps its
 * events with its own clock, `skew` off the real one, and numbers them itself; some processes trace no sends
 * (a client without a tracer).
 */
const simulate = (
  processes: number,
  skews: ReadonlyArray<number>,
  untracedSends: ReadonlyArray<boolean>,
  steps: ReadonlyArray<{ readonly op: number; readonly a: number; readonly b: number }>
) => {
  const sources: Array<Array<Tracer.Event>> = Array.from({ length: processes }, () => [])
  let now = 1_000
  const record = (p: number, event: Omit<Tracer.Event, "seq" | "ts">) => {
    now += 1 + ((event.actor.length * 7) % 3)
    sources[p].push({ ...event, seq: sources[p].length + 1, ts: now + skews[p] } as Tracer.Event)
  }
  interface Message {
    readonly id: string
    readonly from: string
    readonly to: string
    readonly at: number
    readonly causationId: string | undefined
  }
  const inFlight: Array<Message> = []
  const received: Array<{ readonly message: Message; readonly at: number }> = []
  let ids = 0
  const send = (p: number, from: string, causationId: string | undefined, b: number) => {
    const at = b % processes
    const message: Message = { id: `m-${ids++}`, from, to: `actor-${at}-${b % 3}`, at, causationId }
    if (!untracedSends[p]) {
      const event: Mutable<Omit<Tracer.Event, "seq" | "ts">> = {
        kind: "send",
        actor: from,
        peer: message.to,
        messageId: message.id
      }
      if (causationId !== undefined) event.causationId = causationId
      record(p, event)
    }
    inFlight.push(message)
  }
  const receive = (message: Message, at: number) => {
    const event: Mutable<Omit<Tracer.Event, "seq" | "ts">> = {
      kind: "receive",
      actor: message.to,
      peer: message.from,
      messageId: message.id
    }
    if (message.causationId !== undefined) event.causationId = message.causationId
    record(at, event)
    received.push({ message, at })
  }
  for (const { op, a, b } of steps) {
    if (op === 0 || (op === 1 && received.length === 0)) {
      send(a % processes, `client-${a % processes}`, undefined, b)
    } else if (op === 1) {
      // A behaviour sends while handling what it received: from the process that received it.
      const { message, at } = received[a % received.length]
      send(at, message.to, message.id, b)
    } else if (op === 2 && inFlight.length > 0) {
      const [message] = inFlight.splice(a % inFlight.length, 1)
      receive(message, message.at)
    } else if (op === 3 && received.length > 0) {
      const { message, at } = received[a % received.length]
      if (processes > 1) receive(message, (at + 1 + (b % (processes - 1))) % processes)
    }
  }
  return sources.map((events, p) => ({ origin: `runner-${p}.jsonl`, events }))
}

const line = (event: Tracer.Event) => `${JSON.stringify(event)}\n`

describe("TraceMerge", () => {
  it.effect.prop(
    "skewed clocks, untraced senders, redeliveries: each source keeps its order, no delivery precedes its send, nothing is lost, repeats are marked",
    {
      processes: Int(1, 4),
      skews: Schema.Array(Int(-300, 300)).check(Schema.isBetweenLength(4, 4)),
      untraced: Schema.Array(Schema.Boolean).check(Schema.isBetweenLength(4, 4)),
      steps: Schema.Array(Schema.Struct({ op: Int(0, 3), a: Int(0, 50), b: Int(0, 50) })).check(
        Schema.isBetweenLength(0, 60)
      )
    },
    ({ processes, skews, untraced, steps }) =>
      Effect.sync(() => {
        const sources = simulate(processes, skews, untraced, steps)
        const view = TraceMerge.merge(sources)
        const total = sources.reduce((n, s) => n + s.events.length, 0)
        assert.strictEqual(view.events.length, total)
        assert.strictEqual(view.unordered, 0)
        assert.deepStrictEqual(
          view.origins,
          sources.map((s) => s.origin)
        )
        // Each source's events, in its own order, and each as it was recorded (plus its origin).
        for (const source of sources) {
          const mine = view.events.filter((e) => e.origin === source.origin)
          assert.deepStrictEqual(
            mine.map(({ origin: _, repeat: __, ...event }) => event),
            source.events as Array<Tracer.Event>
          )
        }
        // A delivery never before a send of its message, when some source traced that send.
        const traced = new Set(
          sources.flatMap((s) => s.events.filter((e) => e.kind === "send").map((e) => e.messageId))
        )
        const sent = new Set<string>()
        for (const event of view.events) {
          if (event.kind === "send") sent.add(event.messageId!)
          if (event.kind === "receive" && traced.has(event.messageId)) {
            assert.isTrue(sent.has(event.messageId!), `receive of ${event.messageId} before its send`)
          }
        }
        // Repeats: a receive recorded by a second process is marked; each receive is once without repeats.
        const perSource = new Map<string, Map<string, number>>()
        for (const source of sources) {
          for (const e of source.events) {
            const key = `${e.kind}/${e.messageId}`
            const counts = perSource.get(key) ?? new Map<string, number>()
            counts.set(source.origin, (counts.get(source.origin) ?? 0) + 1)
            perSource.set(key, counts)
          }
        }
        const kept = TraceMerge.withoutRepeats(view)
        const keptCounts = new Map<string, number>()
        for (const e of kept)
          keptCounts.set(`${e.kind}/${e.messageId}`, (keptCounts.get(`${e.kind}/${e.messageId}`) ?? 0) + 1)
        for (const [key, counts] of perSource) {
          assert.strictEqual(keptCounts.get(key), Math.max(...counts.values()), key)
        }
        assert.strictEqual(view.repeats, total - kept.length)
        assert.isTrue(view.events.every((e) => e.repeat === undefined || e.repeat >= 1))
      }),
    Check.propOptions()
  )

  it("one source stays as it is; the same file twice adds only repeats; a clock behind cannot reorder a chain", () => {
    const sources = simulate(
      2,
      [0, -500],
      [false, false],
      [
        { op: 0, a: 0, b: 1 },
        { op: 2, a: 0, b: 0 },
        { op: 1, a: 0, b: 0 },
        { op: 2, a: 0, b: 0 },
        { op: 1, a: 1, b: 1 },
        { op: 2, a: 0, b: 0 }
      ]
    )
    const alone = TraceMerge.merge([sources[0]])
    assert.deepStrictEqual(
      alone.events.map(({ origin: _, ...event }) => event),
      sources[0].events as Array<Tracer.Event>
    )
    const twice = TraceMerge.merge([sources[0], sources[1], sources[0]])
    assert.strictEqual(twice.repeats, sources[0].events.length)
    assert.strictEqual(
      TraceMerge.withoutRepeats(twice).length,
      sources[0].events.length + sources[1].events.length
    )
    // runner-1's clock is 500 ms behind: by `ts` alone its receives would come before runner-0's sends.
    const view = TraceMerge.merge(sources)
    assert.deepStrictEqual(
      view.events.map((e) => `${e.kind} ${e.messageId} ${e.origin}`),
      [
        "send m-0 runner-0.jsonl",
        "receive m-0 runner-1.jsonl",
        "send m-1 runner-1.jsonl",
        "receive m-1 runner-0.jsonl",
        "send m-2 runner-0.jsonl",
        "receive m-2 runner-1.jsonl"
      ]
    )
    assert.isTrue(view.events[1].ts < view.events[0].ts)
  })

  it.effect("reads files and directories; a missing path fails naming it; a torn last line is reported", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      yield* fs.makeDirectory(`${dir}/runners`)
      yield* fs.writeFileString(
        `${dir}/runners/b.jsonl`,
        line({ seq: 1, ts: 1, kind: "receive", actor: "enrich", peer: "parse", messageId: "m-1" }) +
          '{"seq":2,'
      )
      yield* fs.writeFileString(
        `${dir}/runners/a.jsonl`,
        line({ seq: 1, ts: 5, kind: "send", actor: "parse", peer: "enrich", messageId: "m-1" })
      )
      yield* fs.writeFileString(`${dir}/runners/readme.txt`, "not a trace")
      yield* fs.writeFileString(
        `${dir}/client.jsonl`,
        line({ seq: 1, ts: 0, kind: "spawn", actor: "client" })
      )
      const { view, torn } = yield* TraceMerge.read([`${dir}/client.jsonl`, `${dir}/runners`])
      assert.deepStrictEqual(
        view.events.map((e) => `${e.kind}@${e.origin.slice(dir.length + 1)}`),
        ["spawn@client.jsonl", "send@runners/a.jsonl", "receive@runners/b.jsonl"]
      )
      assert.deepStrictEqual(torn, [{ origin: `${dir}/runners/b.jsonl`, line: 2 }])
      const missing = yield* Effect.flip(TraceMerge.read([`${dir}/nope`]))
      assert.strictEqual(missing._tag, "PlatformError")
      assert.include(String(missing.message), "nope")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
  )
})
