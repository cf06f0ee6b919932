/**
 * `handoffkit pool run | resume | status`: the worktree pool from the command line.
 * @internal
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Console, Duration, Effect, Option, Redacted } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Budget, Tracer } from "@handoffkit/core"
import * as Agents from "@handoffkit/pool/Agents"
import * as Git from "@handoffkit/pool/Git"
import * as Journal from "@handoffkit/pool/Journal"
import * as Pool from "@handoffkit/pool/Pool"
import * as Progress from "@handoffkit/pool/Progress"
import * as Task from "@handoffkit/pool/Task"
import { argvOf, atLeast, UsageError, WorkFailed } from "./args.ts"

// -----------------------------------------------------------------------------
// flags
// -----------------------------------------------------------------------------

const tasksArg = Argument.String("tasks").pipe(
  Argument.withDescription("The task file (YAML or JSON): tasks with id, prompt, owns (globs), optional gate")
)

const repoFlag = Flag.String("repo").pipe(
  Flag.withDescription("The repository (any directory in it); the one of the current directory by default"),
  Flag.withDefault(".")
)

const rootFlag = Flag.String("root").pipe(
  Flag.withDescription(
    "Where worktrees, logs and the journal go; <repo>.handoffkit beside the repository by default"
  ),
  Flag.optional
)

const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("Print the result as one JSON document on stdout (progress goes to stderr)"),
  Flag.withDefault(false)
)

const runFlags = {
  tasks: tasksArg,
  repo: repoFlag,
  root: rootFlag,
  json: jsonFlag,
  workers: Flag.Int("workers").pipe(
    Flag.withAlias("w"),
    Flag.withDescription("How many agents work at once (default 2)"),
    Flag.withDefault(2)
  ),
  agent: Flag.String("agent").pipe(
    Flag.withDescription(
      `The agent of tasks that name none (default codex): "codex", or a command as a JSON argv (["node","fix.mjs"]) or plain words`
    ),
    Flag.withDefault("codex")
  ),
  gate: Flag.String("gate").pipe(
    Flag.withDescription(
      `The test command every task is gated on (a JSON argv or plain words, e.g. "npm test")`
    ),
    Flag.optional
  ),
  model: Flag.String("model").pipe(Flag.withDescription("The model codex agents use"), Flag.optional),
  fast: Flag.Boolean("fast").pipe(
    Flag.withDescription(`Codex's fast mode (service_tier = "fast": faster turns at a higher price)`),
    Flag.withDefault(false)
  ),
  baseUrl: Flag.String("base-url").pipe(
    Flag.withDescription(
      "An OpenAI-compatible endpoint for codex agents (a proxy, a local or scripted server)"
    ),
    Flag.optional
  ),
  timeout: Flag.String("timeout").pipe(
    Flag.withDescription(
      `Per-task time limit (default "30 minutes"); the agent and every process it started are killed`
    ),
    Flag.optional
  ),
  batch: Flag.String("batch").pipe(
    Flag.withDescription(
      `The train's first batch size (default 4), or "serial" to gate and merge one task at a time`
    ),
    Flag.optional
  ),
  batchMax: Flag.Int("batch-max").pipe(
    Flag.withDescription("The largest batch the train grows to (default 16)"),
    Flag.optional
  ),
  lookahead: Flag.Int("lookahead").pipe(
    Flag.withDescription(
      "How many queued tasks get their worktree made while the agents run (default: --workers; 0: none)"
    ),
    Flag.optional
  ),
  flakyRetries: Flag.Int("flaky-retries").pipe(
    Flag.withDescription("How often a red gate is re-run before it is believed (default 1)"),
    Flag.optional
  ),
  overlap: Flag.Literals("overlap", ["serialize", "parallel"]).pipe(
    Flag.withDescription(
      "Tasks whose owned paths overlap: never at once (serialize), or at once and re-dispatched"
    ),
    Flag.withDefault("serialize")
  ),
  outside: Flag.Literals("outside", ["report", "refuse"]).pipe(
    Flag.withDescription("Changes outside a task's owned paths: reported, or refused (the task fails)"),
    Flag.withDefault("report")
  ),
  budgetCalls: Flag.Int("budget-calls").pipe(
    Flag.withDescription("The run's budget in agent runs (codex: model calls); spent, no new task starts"),
    Flag.optional
  ),
  budgetTokens: Flag.Int("budget-tokens").pipe(
    Flag.withDescription("The run's budget in output tokens"),
    Flag.optional
  ),
  budgetTime: Flag.String("budget-time").pipe(
    Flag.withDescription(`The run's wall-clock budget ("1 hour"): once spent, no new task starts`),
    Flag.optional
  ),
  trace: Flag.String("trace").pipe(
    Flag.withDescription(
      "Append the run's trace (every message, agent event and pool step) to this JSONL file"
    ),
    Flag.optional
  )
}

type RunInput = Command.Command.Config.Infer<typeof runFlags>

// -----------------------------------------------------------------------------
// running
// -----------------------------------------------------------------------------

const durationOf = (flag: string, text: string): Effect.Effect<Duration.Duration, UsageError> => {
  const duration = Duration.fromInput(text as Duration.Input)
  return Option.isSome(duration) && Duration.isFinite(duration.value) && Duration.toMillis(duration.value) > 0
    ? Effect.succeed(duration.value)
    : Effect.fail(
        new UsageError({
          reason: `--${flag}: ${JSON.stringify(text)} is not a duration: write e.g. "10 minutes"`
        })
      )
}

const optionalOf = <A>(option: Option.Option<A>): A | undefined =>
  Option.isSome(option) ? option.value : undefined

/**
 * The top directory of the repository `dir` is in, so that the commands work from any directory of it; `dir`
 * itself when it is in none (the pool then says it is not a repository).
 */
const topOf = (dir: string) =>
  Git.topLevel(Path.resolve(dir)).pipe(
    Effect.map((top) => Path.resolve(top)),
    Effect.orElseSucceed(() => Path.resolve(dir)),
    Effect.provide(Git.layer)
  )

/** Where a run keeps its files, from the flags. */
const rootOf = (repo: string, root: Option.Option<string>): string =>
  Option.isSome(root) ? Path.resolve(root.value) : Pool.defaultRoot(Path.resolve(repo))

const journalEntries = (root: string) => {
  const path = Pool.journalPath(root)
  return Fs.existsSync(path) ? Journal.read(path) : Effect.succeed([] as ReadonlyArray<Journal.Entry>)
}

/** The pool's config from the flags and the task file; `UsageError` for any flag that is wrong. */
const configOf = Effect.fn("handoffkit/cli/pool.config")(function* (input: RunInput) {
  const repo = yield* topOf(input.repo)
  const file = yield* Task.decodeFile(input.tasks)
  const workers = yield* atLeast("workers", input.workers, 1)
  const gate = Option.isSome(input.gate) ? yield* argvOf("gate", input.gate.value) : undefined
  const codexOptions: Agents.CodexOptions = {
    model: optionalOf(input.model),
    fast: input.fast,
    baseUrl: optionalOf(input.baseUrl),
    // The key is read once, here, and travels redacted: it can reach neither a log nor the trace.
    apiKey: process.env.OPENAI_API_KEY === undefined ? undefined : Redacted.make(process.env.OPENAI_API_KEY)
  }
  const codex = (options?: Agents.CodexOptions) => Agents.codex({ ...codexOptions, ...options })
  const agent = input.agent.trim() === "codex" ? codex() : Agents.command(yield* argvOf("agent", input.agent))
  let batch: Pool.Config["batch"]
  if (Option.isSome(input.batch)) {
    if (input.batch.value === "serial") batch = "serial"
    else {
      const initial = Number(input.batch.value)
      yield* atLeast("batch", initial, 1)
      batch = { initial, max: optionalOf(input.batchMax) }
    }
  } else if (Option.isSome(input.batchMax))
    batch = { max: yield* atLeast("batch-max", input.batchMax.value, 1) }
  if (Option.isSome(input.flakyRetries)) yield* atLeast("flaky-retries", input.flakyRetries.value, 0)
  if (Option.isSome(input.lookahead)) yield* atLeast("lookahead", input.lookahead.value, 0)
  const timeout = Option.isSome(input.timeout) ? yield* durationOf("timeout", input.timeout.value) : undefined
  const limits: { calls?: number; tokensOut?: number; time?: Duration.Duration } = {}
  if (Option.isSome(input.budgetCalls))
    limits.calls = yield* atLeast("budget-calls", input.budgetCalls.value, 1)
  if (Option.isSome(input.budgetTokens))
    limits.tokensOut = yield* atLeast("budget-tokens", input.budgetTokens.value, 1)
  if (Option.isSome(input.budgetTime)) limits.time = yield* durationOf("budget-time", input.budgetTime.value)
  const config: Omit<Pool.Config, "budget" | "onEvent"> = {
    repo,
    root: rootOf(repo, input.root),
    tasks: file.tasks,
    file: Path.resolve(input.tasks),
    workers,
    agent,
    codex,
    gate,
    batch,
    lookahead: optionalOf(input.lookahead),
    flakyRetries: optionalOf(input.flakyRetries),
    overlap: input.overlap,
    outside: input.outside,
    timeout
  }
  return { config, limits }
})

/** The run's summary as data: what `--json` prints. */
const summaryJson = (summary: Pool.Summary) => ({
  base: summary.base,
  baseBefore: summary.baseBefore,
  baseAfter: summary.baseAfter,
  merged: summary.tasks.filter((t) => t.outcome === "merged").length,
  tasks: summary.tasks,
  gates: {
    train: summary.trainGateRuns,
    tasks: summary.taskGateRuns,
    cached: summary.cachedGates,
    millis: summary.gateMillis,
    batches: summary.batches,
    bisections: summary.bisections,
    mergedAhead: summary.mergedAhead
  },
  millis: summary.millis,
  journal: summary.journal
})

const runPool = Effect.fn("handoffkit/cli/pool.run")(function* (input: RunInput, mode: "run" | "resume") {
  const { config, limits } = yield* configOf(input)
  const root = config.root!
  const previous = yield* journalEntries(root)
  if (mode === "resume" && previous.length === 0) {
    return yield* new UsageError({
      reason: `nothing to resume: no journal at ${Pool.journalPath(root)} (start with: handoffkit pool run ${input.tasks})`
    })
  }
  if (mode === "run" && previous.length > 0) {
    if (previous.at(-1)?._tag !== "finished" || previous.at(-1)?._tag === undefined) {
      return yield* new UsageError({
        reason: `a run that did not finish has its journal at ${Pool.journalPath(root)}: go on with "handoffkit pool resume ${input.tasks}", or give another --root`
      })
    }
    // A finished run's journal is kept, renamed, and the new run starts its own: nothing is lost.
    const kept = Path.join(root, `journal-${previous.at(-1)!.ts}.jsonl`)
    Fs.renameSync(Pool.journalPath(root), kept)
  }
  const out = input.json ? process.stderr : process.stdout
  const progress = Progress.make({ write: (text) => out.write(text), isTTY: out.isTTY, columns: out.columns })
  const program = Effect.gen(function* () {
    const budget = Object.keys(limits).length > 0 ? yield* Budget.make(limits) : undefined
    const tracer = Option.isSome(input.trace)
      ? Tracer.make([yield* Tracer.jsonl(Path.resolve(input.trace.value))])
      : yield* Tracer.CurrentTracer
    return yield* Pool.run({ ...config, budget, onEvent: progress.onEvent }).pipe(
      Effect.provideService(Tracer.CurrentTracer, tracer),
      Effect.provide(Pool.layerFor(root))
    )
  }).pipe(Effect.scoped, Effect.ensuring(Effect.sync(() => progress.close())))
  const summary = yield* program
  if (input.json) yield* Console.log(JSON.stringify(summaryJson(summary), null, 2))
  else yield* Console.log(`\n${Progress.formatSummary(summary)}`)
  const unmerged = summary.tasks.filter((t) => t.outcome !== "merged")
  if (unmerged.length > 0) {
    return yield* new WorkFailed({
      reason: `${unmerged.length} of ${summary.tasks.length} tasks not merged: ${unmerged.map((t) => `${t.task} (${t.outcome})`).join(", ")}`
    })
  }
})

const run = Command.make("run", runFlags, (input) => runPool(input, "run")).pipe(
  Command.withDescription(
    "Run a task file: each task in its own worktree and branch, its agent, the gate, the merge train"
  ),
  Command.withExamples([
    { command: "handoffkit pool run tasks.yaml --workers 3 --gate 'npm test'", description: "Codex agents" },
    {
      command: `handoffkit pool run tasks.yaml --agent '["node","scripts/fix.mjs"]' --gate 'npm test' --json`,
      description: "A command as the agent, the result as JSON"
    }
  ])
)

const resume = Command.make("resume", runFlags, (input) => runPool(input, "resume")).pipe(
  Command.withDescription(
    "Go on with a run that was killed: nothing finished is redone and nothing is merged twice (same flags as run)"
  ),
  Command.withExamples([{ command: "handoffkit pool resume tasks.yaml --gate 'npm test'", description: "" }])
)

// -----------------------------------------------------------------------------
// status
// -----------------------------------------------------------------------------

const statusJson = (entries: ReadonlyArray<Journal.Entry>) => {
  const states = [...Journal.replay(entries).values()]
  const last = entries.at(-1)
  return {
    finished: last?._tag === "finished",
    interrupted: last?._tag === "finished" ? last.interrupted : undefined,
    tasks: states.map((s) => ({
      task: s.task,
      // A merged task's worktree and branch are cleaned up afterwards: it is still "merged".
      phase: s.phase === "cleaned" ? "merged" : s.phase,
      attempt: s.attempt,
      branch: s.branch,
      merge: s.merge,
      reason: s.reason,
      gateRuns: s.gateRuns
    }))
  }
}

const status = Command.make(
  "status",
  { repo: repoFlag, root: rootFlag, json: jsonFlag },
  Effect.fn("handoffkit/cli/pool.status")(function* (input) {
    const root = rootOf(yield* topOf(input.repo), input.root)
    const path = Pool.journalPath(root)
    if (!Fs.existsSync(path)) {
      return yield* new UsageError({ reason: `no run here: no journal at ${path} (give --repo or --root)` })
    }
    const view = statusJson(yield* Journal.read(path))
    if (input.json) return yield* Console.log(JSON.stringify(view, null, 2))
    const width = Math.max(4, ...view.tasks.map((t) => t.task.length))
    const lines = view.tasks.map((t) => {
      const where = t.phase === "merged" ? (t.merge ?? "").slice(0, 8) : (t.branch ?? "")
      return `${t.task.padEnd(width)}  ${t.phase.padEnd(10)}  ${where}${t.reason === undefined ? "" : `  (${t.reason})`}`
    })
    const counts = new Map<string, number>()
    for (const t of view.tasks) counts.set(t.phase, (counts.get(t.phase) ?? 0) + 1)
    lines.push(
      "",
      `${view.finished ? (view.interrupted === true ? "interrupted" : "finished") : "not finished (handoffkit pool resume goes on)"}: ${[...counts].map(([phase, n]) => `${n} ${phase}`).join(", ")}`,
      `journal: ${path}`
    )
    yield* Console.log(lines.join("\n"))
  })
).pipe(Command.withDescription("Where every task of the last run stands, read from its journal"))

/** `handoffkit pool`. */
export const pool = Command.make("pool").pipe(
  Command.withDescription(
    "The worktree pool: tasks to coding agents, gated by the tests, merged by a local train"
  ),
  Command.withSubcommands([run, resume, status])
)
