/**
 * The `handoffkit` command: `pool run | resume | status`, `plan`, `review`, `trace summary`, `demo` and
 * `doctor`, on `effect/cli`.
 *
 * **When to use**
 *
 * `main` is what the `handoffkit` bin runs; `run` embeds the same commands in another Effect program (a
 * test, a larger tool) with the arguments given as an array, never through a shell.
 *
 * **Details**
 *
 * Exit codes: `0` when the work succeeded; `2` when the invocation is wrong (an unknown flag, a bad value, a
 * task file that does not decode: the message names the file, the task and the field; a repository the pool
 * refuses, such as a dirty main tree); `1` when the work itself failed (a task not merged, a failed
 * reviewer, a failed check); `130` when interrupted. Nothing is half-written: `--json` output is one document
 * printed at the end, and the pool's journal lets an interrupted run resume.
 *
 * @since 0.1.0
 */
import { Cause, Console, Effect, Exit } from "effect"
import { CliError, CliOutput, Command } from "effect/cli"
import { UsageError, WorkFailed } from "./internal/args.ts"
import { demo } from "./internal/demoCommand.ts"
import { doctor } from "./internal/doctorCommand.ts"
import { plan } from "./internal/planCommand.ts"
import { review } from "./internal/reviewCommand.ts"
import { pool } from "./internal/poolCommand.ts"
import { trace } from "./internal/traceCommand.ts"

export {
  /**
   * The invocation is wrong: a flag's value, a file, the state of the repository. Exit code 2.
   *
   * **Example**
   *
   * ```ts
   * import * as Cli from "@handoffkit/cli/Cli"
   *
   * console.log(new Cli.UsageError({ reason: "--workers: must be a whole number >= 1, got 0" }).message) // "--workers: must be a whole number >= 1, got 0"
   * ```
   *
   * @category errors
   * @since 0.1.0
   */
  UsageError,
  /**
   * The work failed: a task not merged, a reviewer that failed, a failed check. Exit code 1.
   *
   * **Example**
   *
   * ```ts
   * import * as Cli from "@handoffkit/cli/Cli"
   *
   * console.log(new Cli.WorkFailed({ reason: "1 of 3 tasks not merged" })._tag) // "WorkFailed"
   * ```
   *
   * @category errors
   * @since 0.1.0
   */
  WorkFailed
}

/**
 * The version the command reports with `--version`.
 *
 * **Example**
 *
 * ```ts
 * import * as Cli from "@handoffkit/cli/Cli"
 *
 * console.log(Cli.version) // "0.1.0"
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const version = "0.1.0"

/**
 * The exit codes: `Ok` 0, `Failed` 1 (the work failed), `Usage` 2 (the invocation is wrong), `Interrupted` 130.
 *
 * **Example**
 *
 * ```ts
 * import * as Cli from "@handoffkit/cli/Cli"
 *
 * console.log(Cli.ExitCode.Usage) // 2
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, Interrupted: 130 } as const

/**
 * The root `handoffkit` command with every subcommand.
 *
 * **Example**
 *
 * ```ts
 * import { Command } from "effect/cli"
 * import * as Cli from "@handoffkit/cli/Cli"
 *
 * console.log(Command.isCommand(Cli.command), Cli.command.name) // true "handoffkit"
 * ```
 *
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("handoffkit").pipe(
  Command.withDescription(
    "Coordinate coding agents by message passing: a worktree pool with a local merge train, parallel reviews, traces"
  ),
  Command.withSubcommands([pool, plan, review, trace, demo, doctor])
)

/**
 * Runs the command line `args` (without the program name), failing with what went wrong.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Cli from "@handoffkit/cli/Cli"
 *
 * const program = Cli.run(["plan", "/nonexistent/tasks.yaml"]).pipe(
 *   Effect.catch((error) => Effect.succeed(error._tag)),
 *   Effect.provide(NodeServices.layer)
 * )
 * Effect.runPromise(program).then(console.log) // "TaskFileError"
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(args).pipe(Effect.provideService(CliOutput.Presenter, presenter))

// A wrong invocation gets its errors and where to look, on stderr, not the whole help on stdout: a script
// reading stdout (`--json`) sees nothing, a person sees the problem first.
const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.gen(function* () {
          const formatter = yield* CliOutput.Formatter
          yield* Console.error(formatter.formatErrors(event.errors))
          yield* Console.error(`Run "${event.commandPath.join(" ")} --help" for its arguments and flags.`)
        })
      : CliOutput.defaultPresenter.present(event)
}

/** Whether a failure is the invocation's fault rather than the work's. */
const isUsage = (error: unknown): boolean => {
  if (CliError.isCliError(error)) return true
  if (typeof error !== "object" || error === null || !("_tag" in error)) return false
  switch (error._tag) {
    case "UsageError":
    case "TaskFileError":
    case "PoolError":
    case "BudgetInvalid":
    case "TraceFileError":
    case "TraceDecodeError":
    case "MessageNotFound":
    case "ReviewInvalid":
    case "NotARepository":
      return true
    default:
      return false
  }
}

const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const message = (error as { readonly message?: unknown }).message
    if (typeof message === "string" && message !== "") return message
    const reason = (error as { readonly reason?: unknown }).reason
    if (typeof reason === "string" && reason !== "") return reason
  }
  return String(error)
}

/**
 * The exit code for how a run of the command ended, with what to print on stderr (nothing for a parse
 * error: `effect/cli` printed it with the help already).
 *
 * **Example**
 *
 * ```ts
 * import { Exit } from "effect"
 * import * as Cli from "@handoffkit/cli/Cli"
 *
 * console.log(Cli.exitCodeOf(Exit.void).code) // 0
 * console.log(Cli.exitCodeOf(Exit.fail(new Cli.UsageError({ reason: "--workers: must be >= 1" })))) // { code: 2, message: "--workers: must be >= 1" }
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const exitCodeOf = <E>(
  exit: Exit.Exit<unknown, E>
): { readonly code: number; readonly message?: string } => {
  if (Exit.isSuccess(exit)) return { code: ExitCode.Ok }
  const cause = exit.cause
  if (Cause.hasInterruptsOnly(cause)) return { code: ExitCode.Interrupted, message: "interrupted" }
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    const failure = error.value
    if (CliError.isCliError(failure)) {
      // A ShowHelp without errors is a command that needs a subcommand (`handoffkit pool`): the help was
      // printed, and the invocation was still incomplete. (`--help` itself succeeds.)
      return { code: ExitCode.Usage }
    }
    return { code: isUsage(failure) ? ExitCode.Usage : ExitCode.Failed, message: messageOf(failure) }
  }
  return { code: ExitCode.Failed, message: Cause.pretty(cause) }
}

/**
 * Runs the command line and returns its exit code, having printed any error on stderr as one message
 * prefixed `handoffkit:`. Never fails.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Cli from "@handoffkit/cli/Cli"
 *
 * Effect.runPromise(Cli.main(["plan", "/nonexistent/tasks.txt"]).pipe(Effect.provide(NodeServices.layer))).then(console.log) // 2
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const main = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(run(args))
    const { code, message } = exitCodeOf(exit)
    if (message !== undefined)
      yield* Console.error(`handoffkit: ${message.replaceAll("\n", "\nhandoffkit: ")}`)
    return code
  })
