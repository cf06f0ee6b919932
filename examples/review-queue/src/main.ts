/**
 * Runs the review queue over a few generated files and prints the report.
 * Start it with `npm start -w examples/review-queue` (optionally `-- WORKERS CALLS`).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { runReview } from "./review.ts"

const [workers = 3, calls = 8] = process.argv.slice(2).map(Number)
const files = Array.from({ length: 10 }, (_, i) => ({
  path: `src/file-${i}.ts`,
  text: Array.from({ length: i + 1 }, (_, j) => (j % 3 === 0 ? "// TODO: tidy" : "x".repeat(j * 15))).join(
    "\n"
  )
}))

const program = Effect.gen(function* () {
  const report = yield* runReview(files, { workers, calls })
  for (const finding of report.findings) {
    console.log(`${finding.worker}  ${finding.path}  todos=${finding.todos} long=${finding.longLines}`)
  }
  console.log(
    `reviewed ${report.findings.length}, unreviewed ${report.unreviewed.length}, calls spent ${report.callsSpent}`
  )
})

// runMain reports a failure once (a typed error, not an unhandled-rejection stack) and exits non-zero.
NodeRuntime.runMain(program)
