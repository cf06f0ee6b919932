/**
 * The coding agents of the worktree pool: an `Agent` takes one `Run` (a task, the worktree it works in, its
 * prompt, its log file) and does the work there. Its guarantee: when `run` returns, fails or is interrupted,
 * nothing the agent started still runs. The pool imposes a task's time limit by interrupting `run`, and the
 * interrupt completes only after the agent's whole process group is gone.
 *
 * **When to use**
 *
 * Give the pool an agent: `command` for any program (a script, another CLI agent), `codex` for the Codex CLI,
 * `make` for an agent written as an Effect.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { Effect, Schema } from "effect"
import type * as Duration from "effect/Duration"
import type * as FileSystem from "effect/FileSystem"
import type * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import type * as Redacted from "effect/Redacted"
import { Tracer } from "@handoffkit/core"
import type * as Budget from "@handoffkit/core/Budget"
import * as Codex from "@handoffkit/llm/Codex"
import * as Process from "./internal/process.ts"

/**
 * The part of a task an agent reads. `Task.Task` of `./Task.ts` has these fields and more; this interface keeps
 * the agents independent of how tasks are written down.
 *
 * **When to use**
 *
 * In `Run.task`; an agent of your own reads `id` (for its logs) and `prompt` (the task's own words; the prompt
 * to act on is `Run.prompt`).
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const task: Agents.TaskInfo = { id: "add-flag", title: "Add --verbose", prompt: "Add a --verbose flag" }
 * console.log(task.id) // "add-flag"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TaskInfo {
  readonly id: string
  readonly title?: string | undefined
  readonly prompt: string
}

/**
 * Why a task is being done again: its previous attempt no longer merges, because work merged meanwhile changed
 * the same files.
 *
 * **When to use**
 *
 * The pool gives it in `Run.conflict` when it re-dispatches a task after a merge conflict.
 *
 * **Details**
 *
 * `files` are the conflicting paths; `theirs` is the other side's change to them (a unified diff, capped);
 * `previousBranch` holds the task's previous attempt, to reuse what still applies.
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const conflict: Agents.Conflict = {
 *   files: ["src/cli.ts"],
 *   theirs: "--- a/src/cli.ts\n+++ b/src/cli.ts\n@@ -1 +1 @@\n-old\n+new\n",
 *   previousBranch: "pool/add-flag/1"
 * }
 * console.log(conflict.files) // ["src/cli.ts"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Conflict {
  readonly files: ReadonlyArray<string>
  readonly theirs: string
  readonly previousBranch: string
}

/**
 * One run of an agent: which task, where, with what prompt.
 *
 * **When to use**
 *
 * The pool builds it for every attempt of a task; an agent of your own (`make`) reads it.
 *
 * **Details**
 *
 * - `directory`: the task's git worktree; the agent works there and nowhere else.
 * - `prompt`: the full prompt (the task's, plus the conflict when re-dispatched).
 * - `attempt` is 1-based; `worker` the 0-based index of the pool worker running it.
 * - `workerHome`: a directory private to the worker, kept across its tasks (the Codex agent keeps its
 *   `CODEX_HOME` there); it may not exist yet.
 * - `logFile`: where the agent's output goes (appended; its directory may not exist yet).
 * - `budget`: the pool's budget, for agents that charge model usage to it.
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const run: Agents.Run = {
 *   task: { id: "add-flag", prompt: "Add a --verbose flag" },
 *   directory: "/tmp/pool/worktrees/add-flag-1",
 *   prompt: "Add a --verbose flag",
 *   attempt: 1,
 *   worker: 0,
 *   workerHome: "/tmp/pool/homes/worker-0",
 *   logFile: "/tmp/pool/logs/add-flag/agent-1.log",
 *   conflict: undefined,
 *   budget: undefined
 * }
 * console.log(run.attempt, run.worker) // 1 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Run {
  readonly task: TaskInfo
  readonly directory: string
  readonly prompt: string
  readonly attempt: number
  readonly worker: number
  readonly workerHome: string
  readonly logFile: string
  readonly conflict: Conflict | undefined
  readonly budget: Budget.Budget | undefined
}

/**
 * What a successful run reports: a one-line summary of what the agent did, and what it spent.
 *
 * **When to use**
 *
 * The pool records `summary` in its journal; `usage` is for reports (a budget was charged already).
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const outcome: Agents.Outcome = { summary: "added --verbose and a test", usage: { tokensIn: 900, tokensOut: 120 } }
 * console.log(outcome.summary) // "added --verbose and a test"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Outcome {
  readonly summary: string | undefined
  readonly usage: Budget.Usage | undefined
}

/**
 * A run that did not succeed.
 *
 * **When to use**
 *
 * Catch it with `Effect.catchTag("AgentFailed", ...)`; the pool records it as the attempt's failure.
 *
 * **Details**
 *
 * `reason`: `"spawn"` the agent could not start (no such program or directory); `"exit"` it exited with a
 * code other than 0 or was killed by a signal (`exitCode` null); `"model"` its model failed (Codex reported
 * the turn failed); `"budget"` the budget refused or ran out. `detail` says more; `logFile` holds the output.
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const error = new Agents.AgentFailed({
 *   task: "add-flag", agent: "node", reason: "exit", exitCode: 2, detail: "exited with code 2", logFile: "/tmp/agent-1.log"
 * })
 * console.log(error.message) // agent node failed on task add-flag (exit): exited with code 2; its output is in /tmp/agent-1.log
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AgentFailed extends Schema.TaggedError<AgentFailed>()("AgentFailed", {
  task: Schema.String,
  agent: Schema.String,
  reason: Schema.Literals(["spawn", "exit", "model", "budget"]),
  exitCode: Schema.NullOr(Schema.Number),
  detail: Schema.String,
  logFile: Schema.String
}) {
  override get message(): string {
    return `agent ${this.agent} failed on task ${this.task} (${this.reason}): ${this.detail}; its output is in ${this.logFile}`
  }
}

/**
 * What an agent's `run` may use: the process spawner and the file system (`NodeServices.layer` provides both).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const needs: Effect.Effect<void, never, Agents.Requirements> = Effect.void
 * console.log(Effect.isEffect(needs)) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem

/**
 * A coding agent, as the pool sees it: a name and a way to run one task.
 *
 * **When to use**
 *
 * Build one with `command`, `codex` or `make`, and give it to the pool.
 *
 * **Details**
 *
 * `run` must leave nothing running when it ends, and must stop when interrupted: the pool's time limit is an
 * interrupt.
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const agent: Agents.Agent = Agents.command(["node", "scripts/agent.js"])
 * console.log(agent.name) // "node scripts/agent.js"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Agent {
  readonly name: string
  readonly run: (run: Run) => Effect.Effect<Outcome, AgentFailed, Requirements>
  /**
   * The agent charges `Run.budget` itself (a model call, its tokens); the pool then does not charge the
   * attempt's call on its own, so nothing is counted twice.
   */
  readonly chargesBudget?: boolean | undefined
}

/**
 * An agent from an Effect function.
 *
 * **When to use**
 *
 * For an agent that is not a program: one that edits files itself, calls a model through `@handoffkit/llm`,
 * or wraps another agent (to change its prompt, to log more).
 *
 * **Details**
 *
 * The function is the agent's `run`, as it is: it keeps the guarantee of `Agent` only if it starts nothing it
 * does not stop.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const notes = Agents.make("notes", (run) =>
 *   Effect.sync(() => {
 *     Fs.writeFileSync(Path.join(run.directory, "NOTES.md"), `# ${run.task.id}\n`)
 *     return { summary: "wrote NOTES.md", usage: undefined }
 *   })
 * )
 * const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agents-make-"))
 * const program = notes.run({
 *   task: { id: "notes", prompt: "write notes" }, directory, prompt: "write notes", attempt: 1, worker: 0,
 *   workerHome: directory, logFile: Path.join(directory, "agent.log"), conflict: undefined, budget: undefined
 * })
 * Effect.runPromise(program.pipe(Effect.provide(NodeServices.layer))).then((outcome) => {
 *   console.log(outcome.summary, Fs.readFileSync(Path.join(directory, "NOTES.md"), "utf8")) // "wrote NOTES.md" "# notes\n"
 *   Fs.rmSync(directory, { recursive: true })
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  name: string,
  run: (run: Run) => Effect.Effect<Outcome, AgentFailed, Requirements>
): Agent => ({ name, run })

// -----------------------------------------------------------------------------
// command
// -----------------------------------------------------------------------------

/**
 * Options of `command`.
 *
 * **When to use**
 *
 * To add environment variables for the agent, to change how long it gets between SIGTERM and SIGKILL, or its
 * name in errors.
 *
 * **Details**
 *
 * `env` is added to this process's environment (the `HANDOFFKIT_*` variables of the run win over it);
 * `killGrace` defaults to 2 seconds; `name` defaults to the program and its first argument.
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const options: Agents.CommandOptions = { env: { MODEL: "small" }, killGrace: "500 millis", name: "my-agent" }
 * console.log(Agents.command(["./agent.sh"], options).name) // "my-agent"
 * ```
 *
 * @category command
 * @since 0.1.0
 */
export interface CommandOptions {
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly killGrace?: Duration.Input | undefined
  readonly name?: string | undefined
}

/** A command's name in errors: its program and first argument (`node scripts/agent.js`), capped. */
const nameOf = (argv: ReadonlyArray<string>): string => {
  const name = argv.slice(0, 2).join(" ")
  return name.length > 80 ? `${name.slice(0, 77)}...` : name
}

/** How much of an agent's last output line becomes its summary. */
const summaryChars = 500

/** The files of a run beside its log: `agent-1.log` → `agent-1.prompt.md`, `agent-1.conflict.md`. */
const besideLog = (logFile: string, suffix: string): string => {
  const { dir, name } = NodePath.parse(logFile)
  return NodePath.join(dir, `${name}.${suffix}`)
}

const conflictText = (conflict: Conflict): string =>
  [
    `Your previous attempt (branch ${conflict.previousBranch}) no longer merges: work merged meanwhile changed`,
    "these files:",
    "",
    ...conflict.files.map((file) => `- ${file}`),
    "",
    "The other side's change to them:",
    "",
    conflict.theirs,
    ""
  ].join("\n")

/** Writes the prompt (and the conflict) beside the log, for the agent to read and for people to see later. */
const writeRunFiles = (
  run: Run
): Effect.Effect<{ readonly prompt: string; readonly conflict: string | undefined }, string> =>
  Effect.try({
    try: () => {
      Fs.mkdirSync(NodePath.dirname(run.logFile), { recursive: true })
      const prompt = besideLog(run.logFile, "prompt.md")
      Fs.writeFileSync(prompt, run.prompt)
      if (run.conflict === undefined) return { prompt, conflict: undefined }
      const conflict = besideLog(run.logFile, "conflict.md")
      Fs.writeFileSync(conflict, conflictText(run.conflict))
      return { prompt, conflict }
    },
    catch: (error) => `cannot write the prompt beside ${run.logFile}: ${String(error)}`
  })

const lastLine = (text: string): string | undefined => {
  const lines = text.split(/\r?\n/).map((line) => line.trim())
  for (let i = lines.length - 1; i >= 0; i--) {
    // The first line of the tail may be cut; a line is whole only if something came before it.
    if (lines[i] !== "" && (i > 0 || text.length < Process.tailBytes)) return lines[i]!.slice(0, summaryChars)
  }
  return undefined
}

/**
 * An agent that runs a program in the task's worktree.
 *
 * **When to use**
 *
 * For any agent that is a program: a script, another coding CLI, a test double in tests.
 *
 * **Details**
 *
 * - `argv` runs without a shell, in `Run.directory`, stdin closed, in a process group of its own; stdout and
 *   stderr are appended to `Run.logFile`.
 * - The run reaches the program through its environment: `HANDOFFKIT_TASK_ID`, `HANDOFFKIT_ATTEMPT`,
 *   `HANDOFFKIT_WORKER`, `HANDOFFKIT_WORKER_HOME`, `HANDOFFKIT_PROMPT` (the prompt) and
 *   `HANDOFFKIT_PROMPT_FILE` (a file beside the log holding it: `agent-1.log` → `agent-1.prompt.md`). When
 *   the task is re-dispatched after a conflict, also `HANDOFFKIT_CONFLICT_FILES` (the paths, one a line) and
 *   `HANDOFFKIT_CONFLICT_FILE` (a file with the conflict and the other side's diff); otherwise those two are
 *   unset.
 * - Exit 0 succeeds, with the last line the program printed on stdout (at most 500 characters) as the
 *   summary. Another exit code, or death by a signal, fails with `AgentFailed` reason `"exit"`, its detail
 *   ending with the last line of stderr (or of stdout, when stderr is empty); a program or directory that does
 *   not exist fails with reason `"spawn"`.
 * - When the program exits, what it left in its process group is killed. Interrupting `run` (the pool's time
 *   limit) kills the whole group (SIGTERM, then SIGKILL after `killGrace`) and waits until it is gone. A
 *   process that leaves the group (`setsid`) escapes, unless found through /proc as a descendant of a program
 *   being killed.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const script = "require('fs').writeFileSync('task.txt', process.env.HANDOFFKIT_TASK_ID); process.stdout.write('wrote task.txt')"
 * const agent = Agents.command([process.execPath, "-e", script])
 * const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agents-command-"))
 * const program = agent.run({
 *   task: { id: "hello", prompt: "say hello" }, directory, prompt: "say hello", attempt: 1, worker: 0,
 *   workerHome: Path.join(directory, "home"), logFile: Path.join(directory, "logs", "agent-1.log"),
 *   conflict: undefined, budget: undefined
 * })
 * Effect.runPromise(program.pipe(Effect.provide(NodeServices.layer))).then((outcome) => {
 *   console.log(outcome.summary, Fs.readFileSync(Path.join(directory, "task.txt"), "utf8")) // "wrote task.txt" "hello"
 *   Fs.rmSync(directory, { recursive: true })
 * })
 * ```
 *
 * @category command
 * @since 0.1.0
 */
export const command = (argv: ReadonlyArray<string>, options?: CommandOptions): Agent => {
  const name = options?.name ?? nameOf(argv)
  return make(name, (run) =>
    Effect.gen(function* () {
      const failed = (reason: AgentFailed["reason"], exitCode: number | null, detail: string) =>
        new AgentFailed({ task: run.task.id, agent: name, reason, exitCode, detail, logFile: run.logFile })
      const files = yield* writeRunFiles(run).pipe(Effect.mapError((detail) => failed("spawn", null, detail)))
      const exited = yield* Process.runLogged({
        argv,
        cwd: run.directory,
        logFile: run.logFile,
        killGrace: options?.killGrace,
        env: {
          ...options?.env,
          HANDOFFKIT_TASK_ID: run.task.id,
          HANDOFFKIT_ATTEMPT: String(run.attempt),
          HANDOFFKIT_WORKER: String(run.worker),
          HANDOFFKIT_WORKER_HOME: run.workerHome,
          HANDOFFKIT_PROMPT: run.prompt,
          HANDOFFKIT_PROMPT_FILE: files.prompt,
          HANDOFFKIT_CONFLICT_FILES: run.conflict?.files.join("\n"),
          HANDOFFKIT_CONFLICT_FILE: files.conflict
        }
      }).pipe(Effect.mapError((error) => failed("spawn", null, error.message)))
      if (exited.exitCode !== 0) {
        const how =
          exited.exitCode === null ? `killed by ${exited.signal}` : `exited with code ${exited.exitCode}`
        const last = lastLine(exited.stderrTail) ?? lastLine(exited.stdoutTail)
        return yield* failed("exit", exited.exitCode, last === undefined ? how : `${how}: ${last}`)
      }
      return { summary: lastLine(exited.stdoutTail), usage: undefined }
    })
  )
}

// -----------------------------------------------------------------------------
// codex
// -----------------------------------------------------------------------------

/**
 * Options of `codex`.
 *
 * **When to use**
 *
 * To choose the model, fast mode, the provider (`baseUrl`, `apiKey`) and codex's sandbox for the pool's Codex
 * agents.
 *
 * **Details**
 *
 * - `model`: codex's `-c model=...`. `fast: true`: codex's fast mode (`service_tier = "fast"`; codex then asks
 *   for the `priority` service tier: faster turns at a higher price).
 * - `baseUrl`, `apiKey`, `codexPath`, `sandbox` (default `"workspace-write"`), `killGrace`: as in
 *   `Codex.Options`. `config`: more `-c key=value` overrides, values in TOML.
 * - `name`: the agent's name in errors (default `"codex"`).
 *
 * **Example**
 *
 * ```ts
 * import { Redacted } from "effect"
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const options: Agents.CodexOptions = { model: "gpt-5.5", fast: true, apiKey: Redacted.make("sk-from-your-vault") }
 * console.log(Agents.codex(options).name, String(options.apiKey)) // "codex" "<redacted>"
 * ```
 *
 * @category codex
 * @since 0.1.0
 */
export interface CodexOptions {
  readonly model?: string | undefined
  readonly fast?: boolean | undefined
  readonly baseUrl?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly codexPath?: string | undefined
  readonly config?: Readonly<Record<string, string>> | undefined
  readonly sandbox?: Codex.Sandbox | undefined
  readonly killGrace?: Duration.Input | undefined
  readonly name?: string | undefined
}

const text = (value: Schema.Json | undefined): string =>
  typeof value === "string" ? value : JSON.stringify(value)

/** One line of the log for an event of the run (already small and redacted by `Codex.run`). */
const logLineOf = (event: Tracer.Emitted): string | undefined => {
  const data = event.data ?? {}
  switch (event.kind) {
    case "model.request":
      return "turn started"
    case "tool.call":
      return data.command === undefined ? `${text(data.tool)} started` : `$ ${text(data.command)}`
    case "tool.result": {
      if (data.command === undefined) return `${text(data.tool)} ${text(data.status ?? "done")}`
      const tail = typeof data.outputTail === "string" && data.outputTail !== "" ? `\n${data.outputTail}` : ""
      return `  exit ${text(data.exitCode)} (${text(data.outputLength)} bytes)${tail}`
    }
    case "model.response":
      if (data.usage !== undefined) return `usage ${text(data.usage)}`
      if (data.error !== undefined) return `error: ${text(data.error)}`
      if (data.preview !== undefined) return `codex: ${text(data.preview)}`
      return undefined
    default:
      return undefined
  }
}

/** A tracer that writes each event of the run to the log as it comes, and passes it on to `outer`. */
const loggingTracer = (logFile: string, outer: Tracer.Tracer): Tracer.Tracer => ({
  enabled: true,
  emit: (event) => {
    const line = logLineOf(event)
    if (line !== undefined) {
      try {
        Fs.appendFileSync(logFile, `[codex] ${line}\n`)
      } catch {
        // The log is for people; a full disk must not fail the run here (the final report will tell).
      }
    }
    if (outer.enabled) outer.emit(event)
  }
})

const codexFailure = (
  error: Codex.CodexError | Budget.BudgetExceeded
): { reason: AgentFailed["reason"]; exitCode: number | null } => {
  if (error._tag === "BudgetExceeded") return { reason: "budget", exitCode: null }
  switch (error.reason) {
    case "spawn":
      return { reason: "spawn", exitCode: null }
    case "turn-failed":
      return { reason: "model", exitCode: error.exitCode }
    default:
      return { reason: "exit", exitCode: error.exitCode }
  }
}

/**
 * An agent that runs the Codex CLI (`codex exec`) in the task's worktree, through `Codex.run` of
 * `@handoffkit/llm`.
 *
 * **When to use**
 *
 * For the pool's default coding agent: `agent: codex` in a task file uses it.
 *
 * **Details**
 *
 * - Each worker has its own `CODEX_HOME`, `<workerHome>/codex-home`, made on its first run and kept across the
 *   worker's tasks: parallel codex runs that share one home interfere. Codex gets the prompt, the model,
 *   `fast` (as `service_tier = "fast"`, so every request asks for the `priority` tier) and the options'
 *   config; the parent's OpenAI credentials are not passed on (see `Codex.run`).
 * - The run's model usage is charged to `Run.budget` as codex reports it; `Outcome.usage` is what it reported.
 *   The summary is codex's final message.
 * - The log gets one line per command codex ran (with its exit code and the end of its output), codex's
 *   messages and usage, all redacted; the final message and the usage at the end. The trace (the current
 *   `Tracer`) gets codex's events as `Codex.run` emits them.
 * - Failures: codex could not start → `"spawn"`; its turn failed (the model) → `"model"`; it exited otherwise
 *   → `"exit"`; the budget refused or ran out → `"budget"`.
 * - Interrupting `run` kills codex and every command it started (see `Codex.run`).
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 * import * as Agents from "@handoffkit/pool/Agents"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("nothing to change")])
 *   const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agents-codex-"))
 *   const directory = Path.join(root, "worktree")
 *   Fs.mkdirSync(directory)
 *   const outcome = yield* Agents.codex({ baseUrl: server.url }).run({
 *     task: { id: "check", prompt: "check the build" }, directory, prompt: "check the build", attempt: 1,
 *     worker: 0, workerHome: Path.join(root, "home"), logFile: Path.join(root, "agent-1.log"),
 *     conflict: undefined, budget: undefined
 *   })
 *   Fs.rmSync(root, { recursive: true })
 *   return outcome.summary
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // "nothing to change"
 * ```
 *
 * @category codex
 * @since 0.1.0
 */
export const codex = (options?: CodexOptions): Agent => {
  const name = options?.name ?? "codex"
  return charging(
    make(name, (run) =>
      Effect.gen(function* () {
        const failed = (reason: AgentFailed["reason"], exitCode: number | null, detail: string) =>
          new AgentFailed({ task: run.task.id, agent: name, reason, exitCode, detail, logFile: run.logFile })
        yield* writeRunFiles(run).pipe(Effect.mapError((detail) => failed("spawn", null, detail)))
        const codexHome = NodePath.join(run.workerHome, "codex-home")
        yield* Effect.try({
          try: () => Fs.mkdirSync(codexHome, { recursive: true }),
          catch: (error) => failed("spawn", null, `cannot make CODEX_HOME ${codexHome}: ${String(error)}`)
        })
        const log = (line: string) =>
          Effect.sync(() => {
            try {
              Fs.appendFileSync(run.logFile, `[handoffkit] ${line}\n`)
            } catch {
              // See `loggingTracer`.
            }
          })
        const settings = [
          options?.model === undefined ? undefined : `model ${options.model}`,
          options?.fast === true ? "fast" : undefined,
          `sandbox ${options?.sandbox ?? "workspace-write"}`,
          `CODEX_HOME ${codexHome}`
        ].filter((setting) => setting !== undefined)
        yield* log(`codex (${settings.join(", ")}) in ${run.directory}`)
        const outer = yield* Tracer.CurrentTracer
        const started = Date.now()
        const result = yield* Codex.run({
          prompt: run.prompt,
          directory: run.directory,
          codexHome,
          sandbox: options?.sandbox,
          model: options?.model,
          baseUrl: options?.baseUrl,
          apiKey: options?.apiKey,
          codexPath: options?.codexPath,
          killGrace: options?.killGrace,
          budget: run.budget,
          config: { ...options?.config, ...(options?.fast === true ? { service_tier: '"fast"' } : {}) },
          env: {
            HANDOFFKIT_TASK_ID: run.task.id,
            HANDOFFKIT_ATTEMPT: String(run.attempt),
            HANDOFFKIT_WORKER: String(run.worker)
          },
          actor: `${name}/worker-${run.worker}`,
          causationId: `${run.task.id}/${run.attempt}`
        }).pipe(
          Effect.provideService(Tracer.CurrentTracer, loggingTracer(run.logFile, outer)),
          Effect.onInterrupt(() => log(`interrupted after ${Date.now() - started} ms: codex was killed`)),
          Effect.catch((error) =>
            Effect.flatMap(log(`failed after ${Date.now() - started} ms: ${error.message}`), () => {
              const { reason, exitCode } = codexFailure(error)
              return Effect.fail(failed(reason, exitCode, error.message))
            })
          )
        )
        const usage = result.usage
        yield* log(
          `done after ${Date.now() - started} ms; tokens in ${usage.inputTokens} (cached ${usage.cachedInputTokens}), out ${usage.outputTokens} (reasoning ${usage.reasoningOutputTokens})`
        )
        if (result.finalMessage !== undefined)
          yield* log(`final message:\n${Tracer.redactString(result.finalMessage)}`)
        return {
          summary: result.finalMessage,
          usage: { tokensIn: usage.inputTokens, tokensOut: usage.outputTokens, calls: 1 }
        }
      })
    )
  )
}

/** Marks an agent as charging the run's budget itself. */
const charging = (agent: Agent): Agent => ({ ...agent, chargesBudget: true })
