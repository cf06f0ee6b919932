/**
 * Runs the chain naive and compacted and prints the bytes per hop.
 * Start it with `npm start -w examples/handoff-chain` (optionally `-- MAX_BYTES`).
 */
import { Effect } from "effect"
import { Corpus } from "@handoffkit/core"
import { runChain, table } from "./chain.ts"

const maxBytes = Number(process.argv[2] ?? 2_000)
const program = Effect.gen(function* () {
  const naive = yield* runChain("naive", { maxBytes })
  const compacted = yield* runChain("compacted", { maxBytes })
  return table(naive, compacted, maxBytes)
}).pipe(Effect.provide(Corpus.layerMemory))

console.log(await Effect.runPromise(program))
