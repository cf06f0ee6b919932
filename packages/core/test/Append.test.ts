import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as Compactor from "../src/Compactor.ts"
import * as Corpus from "../src/Corpus.ts"
import * as Handoff from "../src/Handoff.ts"
import { random, textOf } from "./text.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** The memory Corpus, counting reads: `append` must not read what the refs it carries point to. */
const counting = () => {
  const reads = { count: 0 }
  const layer = Layer.effect(
    Corpus.Corpus,
    Effect.gen(function* () {
      const corpus = yield* Corpus.Corpus
      return Corpus.Corpus.of({
        ...corpus,
        get: (ref) => Effect.suspend(() => ((reads.count += 1), corpus.get(ref))),
        getText: (ref) => Effect.suspend(() => ((reads.count += 1), corpus.getText(ref)))
      })
    })
  ).pipe(Layer.provide(Corpus.layerMemory))
  return { reads, layer }
}

const ops = ["created", "modified", "deleted"] as const

/** A hop of work: items of any size and text, and notes (a few paths, so that histories grow). */
const hopOf = (seed: number, hop: number) => {
  const next = random(seed ^ (hop * 0x9e3779b1))
  const items = Array.from({ length: Math.floor(next() * 6) }, (_, i) => ({
    from: ["coder", "tester", "🤖"][i % 3],
    text: textOf(seed + hop * 131 + i, Math.floor(next() * 1500))
  }))
  const notes: Compactor.Notes = {
    artifacts: Array.from({ length: Math.floor(next() * 6) }, () => ({
      op: ops[Math.floor(next() * 3)],
      path: ["src/a.ts", "src/b.ts", "__proto__", 'd"q\\.ts', `src/hop-${hop}.ts`][Math.floor(next() * 5)]
    })),
    decisions: Array.from({ length: Math.floor(next() * 4) }, (_, i) => ({
      what: `decision ${Math.floor(next() * 6)}`,
      why: textOf(seed + hop * 7 + i, Math.floor(next() * 80))
    })),
    ...(next() < 0.7 ? { pending: [`step ${hop}.0`, textOf(seed + hop, 30)] } : {})
  }
  return { items, notes }
}

/** What the property reached, so that a generator change that stops reaching a case fails the suite. */
const reached = { indexed: 0, ledgerStored: 0, verbatim: 0 }

describe("Compactor.append", () => {
  it.effect.prop(
    "a chain of appends: every context within its bound, nothing re-read, and the last recovers every item and the whole ledger",
    { seed: Schema.Int, hops: Int(1, 8), maxBytes: Int(300, 6000), withNotes: Schema.Boolean },
    ({ seed, hops, maxBytes, withNotes }) => {
      const { reads, layer } = counting()
      return Effect.gen(function* () {
        let context = Handoff.emptyContext
        const items: Array<Compactor.Item> = []
        let expected: Compactor.Ledger = { artifacts: {}, decisions: {}, pending: [] }
        for (let hop = 0; hop < hops; hop++) {
          const work = hopOf(seed, hop)
          const notes = withNotes ? work.notes : undefined
          context = yield* Compactor.append(context, work.items, { maxBytes }, { namespace: "chain", notes })
          assert.isAtMost(new TextEncoder().encode(JSON.stringify(context)).length, maxBytes, `hop ${hop}`)
          Schema.decodeUnknownSync(Handoff.HandoffContext)(context)
          if (context.refs.length === 1 && hop > 0) reached.indexed++
          if (context.refs.length === 0) reached.verbatim++
          items.push(...work.items)
          if (notes !== undefined) {
            const artifacts = new Map(Object.entries(expected.artifacts))
            for (const { op, path } of notes.artifacts ?? [])
              artifacts.set(
                path,
                (artifacts.get(path) ?? "") + { created: "A", modified: "M", deleted: "D" }[op]
              )
            const decisions = new Map(Object.entries(expected.decisions))
            for (const { what, why } of notes.decisions ?? []) decisions.set(what, why)
            expected = {
              artifacts: Object.fromEntries(artifacts),
              decisions: Object.fromEntries(decisions),
              pending: notes.pending ?? expected.pending
            }
          }
        }
        assert.strictEqual(reads.count, 0, "append read the Corpus")
        const recovered = yield* Compactor.recover(context)
        assert.strictEqual(recovered.length, items.length)
        recovered.forEach((item, i) => {
          assert.isTrue(item.from === items[i].from && item.text === items[i].text, `item ${i}`)
        })
        const ledger = yield* Compactor.recoverLedger(context)
        if (Object.keys(ledger.artifacts).length > Object.keys(context.artifacts ?? {}).length)
          reached.ledgerStored++
        assert.deepStrictEqual(Object.entries(ledger.artifacts), Object.entries(expected.artifacts))
        assert.deepStrictEqual(Object.entries(ledger.decisions), Object.entries(expected.decisions))
        assert.deepStrictEqual(ledger.pending, expected.pending)
      }).pipe(Effect.provide(layer))
    },
    { arbitrary: { runs: 60 } }
  )

  it("the property reached indexed refs, stored ledger entries and verbatim contexts", () => {
    for (const [name, count] of Object.entries(reached)) assert.isAbove(count, 0, `no run was ${name}`)
  })

  it.effect("the ledger comes first within the bound, and what it cannot hold is stored and recovered", () =>
    Effect.gen(function* () {
      const artifacts = Array.from({ length: 60 }, (_, i) => ({
        op: "created" as const,
        path: `src/m${i}.ts`
      }))
      const decisions = Array.from({ length: 30 }, (_, i) => ({
        what: `knob ${i}: ${i} ms`,
        why: `run ${i} timed out`
      }))
      const items = Array.from({ length: 10 }, (_, i) => ({
        from: "coder",
        text: `did step ${i}. `.repeat(20)
      }))
      const context = yield* Compactor.compact(
        items,
        { maxBytes: 1500 },
        { notes: { artifacts, decisions, pending: ["next"] } }
      )
      assert.isAtMost(Compactor.byteLength(context), 1500)
      // Recent entries kept, oldest moved out; the pending step always in view.
      assert.deepStrictEqual(context.pending, ["next"])
      assert.isTrue(Object.hasOwn(context.artifacts ?? {}, "src/m59.ts"))
      assert.isFalse(Object.hasOwn(context.artifacts ?? {}, "src/m0.ts"))
      const ledger = yield* Compactor.recoverLedger(context)
      assert.strictEqual(Object.keys(ledger.artifacts).length, 60)
      assert.strictEqual(Object.keys(ledger.artifacts)[0], "src/m0.ts")
      assert.strictEqual(Object.keys(ledger.decisions).length, 30)
      assert.deepStrictEqual((yield* Compactor.recover(context)).length, 10)
      // ledgerBytes caps the fields.
      const capped = yield* Compactor.compact(
        items,
        { maxBytes: 1500, ledgerBytes: 200 },
        { notes: { artifacts } }
      )
      assert.isAtMost(JSON.stringify({ artifacts: capped.artifacts }).length - 1, 200)
      assert.strictEqual(Object.keys((yield* Compactor.recoverLedger(capped)).artifacts).length, 60)
    }).pipe(Effect.provide(Corpus.layerMemory))
  )
})

const deliver = (into: Array<Handoff.Transfer<string>>) => (transfer: Handoff.Transfer<string>) =>
  Effect.sync(() => void into.push(transfer))

describe("Handoff refuses a context that lost the refs the task arrived with", () => {
  it.effect(
    "compacting the received thread alone is refused; append, recover-then-compact and the context itself pass",
    () =>
      Effect.gen(function* () {
        const first = Array.from({ length: 12 }, (_, i) => ({
          from: "planner",
          text: `plan ${i}. `.repeat(10)
        }))
        const received = yield* Compactor.compact(first, { maxBytes: 600 })
        assert.isAbove(received.refs.length, 0)
        const mine = [{ from: "coder", text: "done" }]
        const inbox: Array<Handoff.Transfer<string>> = []

        // The slip: the thread (in-process objects or decoded copies) plus new items, without the refs.
        for (const thread of [received.thread, JSON.parse(JSON.stringify(received.thread))]) {
          const task = yield* Handoff.make("t", received)
          const slip = yield* Compactor.compact([...thread, ...mine], { maxBytes: 600 })
          const error = yield* Effect.flip(Handoff.transfer(task, "next", deliver(inbox), { context: slip }))
          assert.strictEqual(error._tag, "RefsDropped")
          if (error._tag === "RefsDropped") {
            assert.strictEqual(error.of, received.refs.length)
            assert.include(error.message, "Compactor.append")
          }
          // Nothing moved: the sender still owns the task.
          assert.strictEqual(yield* Handoff.get(task), "t")
        }
        // A recovery missing one item does not carry the refs either.
        const partial = (yield* Compactor.recover(received)).slice(1)
        const task = yield* Handoff.make("t", received)
        const lossy = yield* Compactor.compact([...partial, ...mine], { maxBytes: 600 })
        assert.strictEqual(
          (yield* Effect.flip(Handoff.transfer(task, "next", deliver(inbox), { context: lossy })))._tag,
          "RefsDropped"
        )

        const good = [
          yield* Compactor.append(received, mine, { maxBytes: 600 }),
          yield* Compactor.compact([...(yield* Compactor.recover(received)), ...mine], { maxBytes: 600 }),
          yield* Compactor.compact([...(yield* Compactor.recover(received)), ...mine], { maxBytes: 100_000 }),
          { ...received, summary: "reworded" }
        ]
        for (const context of good) {
          const owned = yield* Handoff.make("t", received)
          yield* Handoff.transfer(owned, "next", deliver(inbox), { context })
        }
        yield* Handoff.transfer(yield* Handoff.make("t", received), "next", deliver(inbox))
        assert.strictEqual(inbox.length, good.length + 1)
      }).pipe(Effect.provide(Corpus.layerMemory))
  )
})
