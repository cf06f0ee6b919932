/**
 * The `handoffkit` executable: runs `Cli.main` on the process's arguments with Node's services, and exits with
 * its code. SIGINT and SIGTERM interrupt the run (agents and gates are killed, the journal stays ready to
 * resume).
 * @internal
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import * as Cli from "./Cli.ts"

NodeRuntime.runMain(
  Cli.main(process.argv.slice(2)).pipe(
    Effect.flatMap((code) =>
      Effect.sync(() => {
        process.exitCode = code
      })
    ),
    Effect.provide(NodeServices.layer)
  ),
  { disableErrorReporting: true }
)
