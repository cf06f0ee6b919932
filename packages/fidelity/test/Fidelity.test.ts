import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Compactor, Corpus, Handoff } from "@handoffkit/core"
import * as Fidelity from "../src/Fidelity.ts"
import * as Probe from "../src/Probe.ts"
import * as Reader from "../src/Reader.ts"
import * as Scenario from "../src/Scenario.ts"
import * as Strategy from "../src/Strategy.ts"

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const bounds = [1024, 2048, 8192, 32768] as const
const compactors: ReadonlySet<Strategy.Name> = new Set(["compactor", "append", "structured"])
/** A table's figures: everything but the times. */
const figures = (rows: ReadonlyArray<Fidelity.Row>) => rows.map(({ ms: _, ...figures }) => figures)
/** Every occurrence of `needle` cut by one character, as a bound cuts a value. */
const cut = (text: string, needle: string) => text.split(needle).join(`${needle.slice(0, -1)}…`)
const bounded = Strategy.names.filter((name) => Strategy.byName(name).bounded)

/** What the property runs covered, so a generator change that stops reaching a case fails the suite. */
const covered = { hops: new Set<number>(), trimmed: 0 }

describe("Fidelity", () => {
  it.effect.prop(
    "at every bound and hop count: the Compactor's strategies answer every probe with refs, and no bounded strategy hands over more than its bound at any hop",
    { seed: Schema.Int, hops: Int(1, 8), kib: Int(4, 32) },
    ({ seed, hops, kib }) =>
      Effect.gen(function* () {
        const scenario = yield* Scenario.generate(seed, { hops, bytes: kib * 1024 })
        const files = new Set(scenario.edits.map((edit) => edit.path)).size
        for (const bound of bounds) {
          for (const name of bounded) {
            // Each chain in a Corpus of its own; its refs are read back from that Corpus, at every hop.
            const unanswered = yield* Effect.gen(function* () {
              const strategy = Strategy.byName(name)
              let context = Handoff.emptyContext
              const missed: Array<string> = []
              for (let hop = 0; hop < hops; hop++) {
                context = yield* strategy.handOn(context, scenario.hops[hop], bound)
                // Measured independently of the strategies' own accounting.
                const size = new TextEncoder().encode(JSON.stringify(context)).length
                assert.isAtMost(size, bound, `${name}, hop ${hop + 1}`)
                covered.hops.add(hop + 1)
                if (!compactors.has(name)) continue
                if (name === "structured" && Object.keys(context.artifacts ?? {}).length < files)
                  covered.trimmed++
                const view = yield* Reader.withRefs(context)
                for (const probe of Probe.probesOf(scenario, hop + 1)) {
                  if (!Reader.answers(view, probe)) missed.push(`hop ${hop + 1}: ${JSON.stringify(probe)}`)
                }
              }
              return missed
            }).pipe(Effect.provide(Corpus.layerMemory))
            assert.deepStrictEqual(unanswered, [], `${name} at ${bound} bytes: unanswered with refs`)
          }
        }
      }),
    { timeout: 60_000, arbitrary: { runs: 4 } }
  )

  it.effect(
    "the 1 MiB, 8-hop chain: at every hop and bound, within the bound, and all answered with refs",
    () =>
      Effect.gen(function* () {
        const scenario = yield* Scenario.generate(99, { hops: 8, bytes: 1024 * 1024 })
        for (const bound of bounds) {
          for (const name of ["truncate", "append", "structured"] as const) {
            const missed = yield* Effect.gen(function* () {
              let context = Handoff.emptyContext
              const missed: Array<string> = []
              for (let hop = 0; hop < 8; hop++) {
                context = yield* Strategy.byName(name).handOn(context, scenario.hops[hop], bound)
                assert.isAtMost(Compactor.byteLength(context), bound, `${name}, hop ${hop + 1}`)
                covered.hops.add(hop + 1)
                if (name === "truncate") continue
                const view = yield* Reader.withRefs(context)
                const probes = Probe.probesOf(scenario, hop + 1)
                missed.push(
                  ...probes.filter((probe) => !Reader.answers(view, probe)).map((p) => JSON.stringify(p))
                )
              }
              return missed
            }).pipe(Effect.provide(Corpus.layerMemory))
            assert.deepStrictEqual(missed, [], `${name} at ${bound}`)
          }
        }
      })
  )

  it("the properties reached every hop count and a trimmed ledger", () => {
    assert.strictEqual(covered.hops.size, 8)
    assert.isAbove(covered.trimmed, 0)
  })

  it.effect(
    "from the summary alone at 2 KiB after 4 hops, structured keeps >= 95% of the artifact trail and >= 90% of the decisions, beside truncate and naive on the same scenarios",
    () =>
      Effect.gen(function* () {
        const rows = yield* Fidelity.measure({
          seeds: [1, 2, 3, 4, 5, 6, 7, 8],
          hops: [4],
          bounds: [2048],
          strategies: ["naive", "truncate", "compactor", "structured"]
        })
        const row = (name: Strategy.Name) => rows.find((r) => r.strategy === name)!
        const structured = row("structured")
        assert.isAtLeast(structured.alone.artifact, 0.95)
        assert.isAtLeast(structured.alone.decision, 0.9)
        assert.isAtMost(structured.largest, 2048)
        // Beside it, on the same scenarios: truncate and today's compactor lose most of the trail and the
        // decisions at this bound; naive keeps everything by handing over the whole 64 KiB.
        for (const name of ["truncate", "compactor"] as const) {
          assert.isBelow(row(name).alone.artifact, 0.2, name)
          assert.isBelow(row(name).alone.decision, 0.2, name)
          assert.isAtMost(row(name).largest, 2048, name)
        }
        assert.strictEqual(row("naive").alone.all, 1)
        assert.isAbove(row("naive").largest, 16 * 2048)
      })
  )

  it.effect("the same seeds give the same table, and other seeds another", () =>
    Effect.gen(function* () {
      const options = { seeds: [11], hops: [2, 4], bounds: [1024, 8192] }
      const first = yield* Fidelity.measure(options)
      const second = yield* Fidelity.measure(options)
      const other = yield* Fidelity.measure({ ...options, seeds: [13] })
      assert.deepStrictEqual(figures(second), figures(first))
      assert.strictEqual(Fidelity.table(second), Fidelity.table(first))
      assert.notStrictEqual(Fidelity.table(other), Fidelity.table(first))
      assert.strictEqual(first.length, 2 * (1 + (Strategy.names.length - 1) * 2))
    })
  )

  it.effect("scenario options out of range fail with ScenarioInvalid naming the option", () =>
    Effect.gen(function* () {
      const hops = yield* Effect.flip(Scenario.generate(1, { hops: 9, bytes: 8192 }))
      assert.strictEqual(hops.option, "hops")
      const bytes = yield* Effect.flip(Scenario.generate(1, { hops: 2, bytes: 2 * 1024 * 1024 }))
      assert.strictEqual(bytes.option, "bytes")
      assert.include(bytes.message, "from 4096 to 1048576")
    })
  )

  it.effect(
    "the reader counts only exact answers: cut values, wrong histories and wrong orders do not count",
    () =>
      Effect.gen(function* () {
        const scenario = yield* Scenario.generate(21, { hops: 2, bytes: 8192 })
        const probes = Probe.probesOf(scenario)
        const full = Reader.alone({
          summary: "",
          refs: [],
          thread: scenario.hops.flatMap((hop) => hop.items)
        })
        assert.deepStrictEqual(
          probes.filter((probe) => !Reader.answers(full, probe)),
          []
        )
        // Every planted text value cut by one character: nothing of it is answered any more.
        const recall = probes.find((probe) => probe.kind === "recall")!
        const artifact = probes.find((probe) => probe.kind === "artifact" && probe.after !== null)!
        const decision = probes.find((probe) => probe.kind === "decision")!
        const damaged = Reader.alone({
          summary: "",
          refs: [],
          thread: scenario.hops.flatMap((hop) =>
            hop.items.map((item) => ({
              from: item.from,
              text: cut(
                cut(item.text, Probe.expected(recall)),
                decision.kind === "decision" ? decision.why : ""
              )
            }))
          )
        })
        assert.isFalse(Reader.answers(damaged, recall))
        assert.isFalse(Reader.answers(damaged, decision))
        // A typed trail wins over the text, and must be exact: history and the file touched before.
        const ledger = (artifacts: Record<string, string>) => ({
          ...full,
          ledger: { ...full.ledger, artifacts }
        })
        if (artifact.kind !== "artifact" || artifact.after === null) return assert.fail("no artifact probe")
        assert.isTrue(
          Reader.answers(ledger({ [artifact.after]: "M", [artifact.path]: artifact.history }), artifact)
        )
        assert.isFalse(
          Reader.answers(ledger({ [artifact.after]: "M", [artifact.path]: `${artifact.history}M` }), artifact)
        )
        assert.isFalse(Reader.answers(ledger({ [artifact.path]: artifact.history }), artifact))
      })
  )
})
