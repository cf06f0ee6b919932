/**
 * Handoff fidelity (issue 19), `npm run bench -- fidelity`: prints on stderr the table of every strategy at
 * bounds of 1, 2, 8 and 32 KiB after 1, 2, 4 and 8 hops (20 seeded scenarios each, 16 KiB of items a hop),
 * then a sweep of scenario sizes from 4 KiB to 1 MiB, and reports:
 * - `fidelity.table`: seconds the table took; its figures (all but the times) hash to the printed digest,
 *   the same on every run (same seeds, same table).
 * - `fidelity.artifact` / `fidelity.decision`: the share of artifact-trail / decision probes answered from
 *   the context alone at 2 KiB after 4 hops by `structured`, against `truncate` on the same scenarios.
 * - `fidelity.refs`: the lowest share answered with refs by the Compactor's strategies, over every bound
 *   and hop count (must be 100).
 * - `fidelity.append`: ms per 8-hop chain of `append` against `compactor` (recover everything each hop).
 * - `fidelity.model` (only with OPENAI_API_KEY): the probes asked of a real model given only the handoff.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { Corpus } from "@handoffkit/core"
import { OpenAi } from "@handoffkit/llm"
import type { Benchmark } from "../../../scripts/bench-types.d.ts"
import * as Fidelity from "../src/Fidelity.ts"
import * as Model from "../src/Model.ts"
import * as Probe from "../src/Probe.ts"
import * as Scenario from "../src/Scenario.ts"
import * as Strategy from "../src/Strategy.ts"

const seeds = Array.from({ length: 20 }, (_, i) => i + 1)
const bounds = [1024, 2048, 8192, 32768]

let measured: { readonly rows: ReadonlyArray<Fidelity.Row>; readonly seconds: number } | undefined
const table = async () => {
  if (measured !== undefined) return measured
  const start = performance.now()
  const rows = await Effect.runPromise(Fidelity.measure({ seeds, hops: [1, 2, 4, 8], bounds }))
  const seconds = (performance.now() - start) / 1000
  const digest = createHash("sha256").update(Fidelity.table(rows)).digest("hex").slice(0, 16)
  console.log(`\nhandoff fidelity: ${seeds.length} scenarios per hop count, 16 KiB of items a hop\n`)
  console.log(Fidelity.table(rows, { time: true }))
  console.log(`\nfigures digest (all but ms): ${digest}\n`)
  if (!process.env.OPENAI_API_KEY) console.log("fidelity.model skipped: OPENAI_API_KEY is not set")
  measured = { rows, seconds }
  return measured
}

const cell = (
  rows: ReadonlyArray<Fidelity.Row>,
  strategy: Strategy.Name,
  maxBytes: number | null,
  hops: number
) => {
  const row = rows.find((r) => r.strategy === strategy && r.maxBytes === maxBytes && r.hops === hops)
  if (row === undefined) throw new Error(`no row for ${strategy} at ${maxBytes} after ${hops} hops`)
  return row
}

const sizes = async () => {
  const rows: Array<Fidelity.Row> = []
  for (const kib of [1, 16, 256]) {
    // 4 hops of 1, 16 and 256 KiB: 4 KiB, 64 KiB and 1 MiB of items.
    rows.push(
      ...(await Effect.runPromise(
        Fidelity.measure({
          seeds: seeds.slice(0, 5),
          hops: [4],
          bounds: [2048],
          bytesPerHop: kib * 1024,
          strategies: ["naive", "truncate", "compactor", "append", "structured"]
        })
      ))
    )
  }
  console.log("\nscenario sizes, 4 hops, 2 KiB bound, 5 scenarios each\n")
  console.log(Fidelity.table(rows, { time: true }))
  return rows
}

const model: Benchmark = {
  name: "fidelity.model",
  unit: "% answered",
  baseline: "fidelity.model truncate",
  run: async () => {
    const results = new Map<Strategy.Name, number>()
    for (const name of ["truncate", "compactor", "structured"] as const) {
      let answered = 0
      let asked = 0
      for (const seed of seeds.slice(0, 3)) {
        const scored = await Effect.runPromise(
          Effect.gen(function* () {
            const scenario = yield* Scenario.generate(seed, { hops: 4, bytes: 64 * 1024 })
            const chain = yield* Fidelity.run(scenario, Strategy.byName(name), 2048).pipe(
              Effect.provide(Corpus.layerMemory)
            )
            return yield* Model.ask(chain.final, Probe.probesOf(scenario))
          }).pipe(Effect.provide(OpenAi.layerConfig))
        )
        answered += scored.filter(Boolean).length
        asked += scored.length
      }
      results.set(name, (100 * answered) / asked)
      console.log(
        `real model, 2 KiB after 4 hops, ${name}: ${((100 * answered) / asked).toFixed(1)}% of ${asked} probes`
      )
    }
    return { value: results.get("structured")!, baseline: results.get("truncate")! }
  }
}

/** `structured` from the context alone at 2 KiB after 4 hops, against `truncate` on the same scenarios. */
const against = (kind: "artifact" | "decision"): Benchmark => ({
  name: `fidelity.${kind}`,
  unit: "% answered",
  baseline: "truncate, same scenarios",
  run: async () => {
    const { rows } = await table()
    return {
      value: 100 * cell(rows, "structured", 2048, 4).alone[kind],
      baseline: 100 * cell(rows, "truncate", 2048, 4).alone[kind]
    }
  }
})

const benchmarks: ReadonlyArray<Benchmark> = [
  {
    name: "fidelity.table",
    unit: "s",
    run: async () => ({ value: (await table()).seconds })
  },
  against("artifact"),
  against("decision"),
  {
    name: "fidelity.refs",
    unit: "% answered (lowest)",
    run: async () => {
      const { rows } = await table()
      const ours = rows.filter(
        (r) => r.strategy === "compactor" || r.strategy === "append" || r.strategy === "structured"
      )
      return { value: 100 * Math.min(...ours.map((r) => r.withRefs.all)) }
    }
  },
  {
    name: "fidelity.append",
    unit: "ms/chain",
    baseline: "compactor (recover everything each hop), 8 hops at 1 KiB",
    run: async () => {
      const { rows } = await table()
      return { value: cell(rows, "append", 1024, 8).ms, baseline: cell(rows, "compactor", 1024, 8).ms }
    }
  },
  {
    name: "fidelity.sizes",
    unit: "% answered",
    baseline: "truncate at 1 MiB",
    run: async () => {
      const rows = await sizes()
      const big = (name: Strategy.Name) => rows.find((r) => r.strategy === name && r.context === 1024 * 1024)!
      return { value: 100 * big("structured").alone.all, baseline: 100 * big("truncate").alone.all }
    }
  },
  ...(process.env.OPENAI_API_KEY ? [model] : [])
]

export default benchmarks
