/**
 * Runs the chain naive and compacted and prints the bytes per hop.
 * Start it with `npm start -w examples/handoff-chain` (optionally `-- MAX_BYTES`).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { Corpus } from "@handoffkit/core"
import { runChain, table } from "./chain.ts"

const maxBytes = Number(process.argv[2] ?? 2_000)
const program = Effect.gen(function* () {
  const naive = yield* runChain("naive", { maxBytes })
  const compacted = yield* runChain("compacted", { maxBytes })
  console.log(table(naive, compacted, maxBytes))
}).pipe(Effect.provide(Corpus.layerMemory))

// runMain reports a failure once (a bound too small, a corrupt entry) and exits non-zero.
NodeRuntime.runMain(program)
