/**
 * The gate: the repository's test command, run in a task's worktree, whose exit decides whether the task's work
 * may merge. Its guarantee: when `run` returns (or is interrupted), nothing the gate started still runs. The
 * command is the leader of a process group of its own; when it exits, times out or is interrupted, that whole
 * group is killed (SIGTERM, then SIGKILL after a grace period) and waited for, so a test runner's workers or a
 * server a test started cannot outlive the gate and hold the worktree.
 *
 * **When to use**
 *
 * The pool gates every task's commit with it; call it yourself to run any command in a directory with its
 * output kept in a file and a bounded time.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import type * as Duration from "effect/Duration"
import type * as FileSystem from "effect/FileSystem"
import type * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Process from "./internal/process.ts"

/**
 * What to run, where, and where its output goes.
 *
 * **When to use**
 *
 * As the argument of `run`.
 *
 * **Details**
 *
 * - `argv`: the program and its arguments, run without a shell (write `["sh", "-c", script]` yourself if you
 *   want one; never build the script from task input).
 * - `directory`: the working directory (the task's worktree).
 * - `logFile`: stdout and stderr are appended to it as they come, between a line naming the command and one
 *   saying how it ended; its directory is created. The pool passes `<root>/logs/<task>/gate-<n>.log`.
 * - `timeout`: when it passes, the gate is killed and the result says `timedOut` (not a failure of `run`).
 *   None by default.
 * - `env`: variables added to this process's environment. `killGrace`: how long the group gets between
 *   SIGTERM and SIGKILL (default 2 seconds).
 *
 * **Example**
 *
 * ```ts
 * import * as Gate from "@handoffkit/pool/Gate"
 *
 * const options: Gate.Options = {
 *   argv: ["npm", "test"],
 *   directory: "/tmp/worktrees/add-flag-1",
 *   logFile: "/tmp/pool/logs/add-flag/gate-1.log",
 *   timeout: "10 minutes"
 * }
 * console.log(options.argv.join(" ")) // "npm test"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly argv: ReadonlyArray<string>
  readonly directory: string
  readonly logFile: string
  readonly timeout?: Duration.Input | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly killGrace?: Duration.Input | undefined
}

/**
 * How a gate run ended.
 *
 * **When to use**
 *
 * Read `passed`; the rest says why not, and `logFile` where to look.
 *
 * **Details**
 *
 * - `passed`: the command exited with code 0 within its time.
 * - `exitCode`: the exit code, or null when a signal ended it (`signal`, e.g. `"SIGTERM"` after a timeout).
 * - `timedOut`: its time ran out and it was killed.
 * - `durationMs`: from the start to the exit (not counting the cleanup of the group afterwards).
 * - `logFile`: the file that holds its output.
 *
 * **Example**
 *
 * ```ts
 * import * as Gate from "@handoffkit/pool/Gate"
 *
 * const result: Gate.Result = {
 *   passed: false,
 *   exitCode: null,
 *   signal: "SIGTERM",
 *   timedOut: true,
 *   durationMs: 600_000,
 *   logFile: "/tmp/pool/logs/add-flag/gate-1.log"
 * }
 * console.log(result.passed || result.timedOut) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Result {
  readonly passed: boolean
  readonly exitCode: number | null
  readonly signal: string | null
  readonly timedOut: boolean
  readonly durationMs: number
  readonly logFile: string
}

/**
 * The gate could not be started at all: its program does not exist or cannot be run, its directory does not
 * exist, or its log file cannot be written. A gate that starts and fails is a `Result`, not this error.
 *
 * **When to use**
 *
 * Catch it with `Effect.catchTag("GateError", ...)`: it is a configuration problem, and retrying will not help.
 *
 * **Details**
 *
 * `message` names the program, the directory and what was wrong.
 *
 * **Example**
 *
 * ```ts
 * import * as Gate from "@handoffkit/pool/Gate"
 *
 * const error = new Gate.GateError({ argv: ["npm", "test"], directory: "/tmp/nowhere", detail: "the directory does not exist" })
 * console.log(error.message) // the gate "npm" could not start in /tmp/nowhere: the directory does not exist
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class GateError extends Schema.TaggedError<GateError>()("GateError", {
  argv: Schema.Array(Schema.String),
  directory: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `the gate ${JSON.stringify(this.argv[0] ?? "")} could not start in ${this.directory}: ${this.detail}`
  }
}

/**
 * Runs the gate command in `directory` and reports whether it passed.
 *
 * **When to use**
 *
 * To decide whether a worktree's state is good enough to merge: the pool runs it on each task's commit, and
 * retries a red result to tell a flaky failure from a real one.
 *
 * **Details**
 *
 * - The command runs without a shell, stdin closed, in a new process group; stdout and stderr go to `logFile`
 *   as they come.
 * - It succeeds with a `Result` however the command ends: exit 0 passes; another exit code, a signal or a
 *   timeout does not. It fails with `GateError` only when the command could not be started.
 * - When it returns, no process of the gate's process group runs: what the command left behind when it exited
 *   (a watcher, a server) is killed too, and a timeout kills the whole group (SIGTERM, SIGKILL after
 *   `killGrace` to a process that ignores it). Interrupting `run` does the same before the interrupt completes.
 * - A process that leaves the group (`setsid`) is not the gate's any more: it is killed when found through
 *   /proc as a descendant of a gate that is being killed, and escapes otherwise.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import * as Gate from "@handoffkit/pool/Gate"
 *
 * const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gate-example-"))
 * const program = Effect.gen(function*() {
 *   const green = yield* Gate.run({
 *     argv: [process.execPath, "-e", "process.stdout.write('12 tests passed')"],
 *     directory,
 *     logFile: Path.join(directory, "logs", "gate-1.log")
 *   })
 *   const red = yield* Gate.run({
 *     argv: [process.execPath, "-e", "process.stderr.write('1 test failed'); process.exit(1)"],
 *     directory,
 *     logFile: Path.join(directory, "logs", "gate-2.log")
 *   })
 *   const log = Fs.readFileSync(red.logFile, "utf8").includes("1 test failed")
 *   Fs.rmSync(directory, { recursive: true })
 *   return [green.passed, red.passed, red.exitCode, log]
 * })
 * Effect.runPromise(program.pipe(Effect.provide(NodeServices.layer))).then(console.log) // [true, false, 1, true]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = (
  options: Options
): Effect.Effect<Result, GateError, ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem> =>
  Process.runLogged({
    argv: options.argv,
    cwd: options.directory,
    logFile: options.logFile,
    env: options.env,
    timeout: options.timeout,
    killGrace: options.killGrace
  }).pipe(
    Effect.map((exited): Result => ({
      passed: exited.exitCode === 0 && !exited.timedOut,
      exitCode: exited.exitCode,
      signal: exited.signal,
      timedOut: exited.timedOut,
      durationMs: exited.durationMs,
      logFile: options.logFile
    })),
    Effect.mapError(
      (error) => new GateError({ argv: [...options.argv], directory: error.cwd, detail: error.detail })
    )
  )
