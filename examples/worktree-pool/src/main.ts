import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Progress } from "@handoffkit/pool"
import { runExample } from "./pool.ts"

const program = Effect.gen(function* () {
  const { repo, summary } = yield* runExample(process.stdout)
  console.log(`\n${Progress.formatSummary(summary)}\n\nthe repository: ${repo}`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(NodeServices.layer)))
