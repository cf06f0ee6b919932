import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Compactor, Corpus } from "@handoffkit/core"
import { agents, runChain, table } from "../src/chain.ts"

describe("handoff-chain example", () => {
  it.effect(
    "naive grows at every hop; compacted stays within its bound; every hop's text comes back from the refs",
    () =>
      Effect.gen(function* () {
        const maxBytes = 2_000
        const naive = yield* runChain("naive", { maxBytes })
        const compacted = yield* runChain("compacted", { maxBytes })
        assert.strictEqual(naive.hops.length, agents.length - 1)
        assert.strictEqual(compacted.hops.length, agents.length - 1)
        for (let i = 1; i < naive.hops.length; i++) {
          assert.isAbove(naive.hops[i].bytes, naive.hops[i - 1].bytes, `naive hop ${i + 1} grows`)
        }
        for (const hop of compacted.hops) assert.isAtMost(hop.bytes, maxBytes)
        assert.isAbove(naive.hops.at(-1)!.bytes, maxBytes, "the naive chain really exceeds the bound")
        // The full text of every hop is recovered, byte for byte, from what the last agent received.
        const recovered = yield* Compactor.recover(compacted.final)
        assert.deepStrictEqual(recovered, [...compacted.notes])
        assert.deepStrictEqual(naive.final.thread, naive.notes)
        console.log(table(naive, compacted, maxBytes))
      }).pipe(Effect.provide(Corpus.layerMemory))
  )
})
