/**
 * The worktree worker pool. A list of tasks feeds one queue mailbox; N workers pull from it; each attempt runs
 * its coding agent in a git worktree and branch of its own, commits what the agent left, and gates it on the
 * repository's test command; a merge train stacks passing branches onto the moving base, gates the stack's tip,
 * bisects a red tip to its culprit, and moves the base with one compare-and-swap. Its guarantees: the tests
 * decide (never the agent's word); nothing unmerged is ever deleted (a failed or conflicted task keeps its
 * branch); every step is journaled before it takes effect, so a run killed anywhere resumes with nothing
 * finished redone and nothing merged twice.
 *
 * **When to use**
 *
 * To have several coding agents work on one repository at once and land only what passes its tests, from an
 * Effect program or from `handoffkit pool run`.
 *
 * @since 0.1.0
 */
import * as Path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import type { Budget } from "@handoffkit/core"
import type * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Agents from "./Agents.ts"
import * as Git from "./Git.ts"
import * as Journal from "./Journal.ts"
import type * as Task from "./Task.ts"
import * as internal from "./internal/pool.ts"

/**
 * The pool could not start or go on: a dirty main tree, a missing base branch, a journal of another run.
 *
 * **Example**
 *
 * ```ts
 * import * as Pool from "@handoffkit/pool/Pool"
 *
 * console.log(new Pool.PoolError({ reason: "the main tree has uncommitted changes: a.txt" }).message)
 * // "the main tree has uncommitted changes: a.txt"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class PoolError extends Schema.TaggedError<PoolError>()("PoolError", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/**
 * What a run is asked to do.
 *
 * **Details**
 *
 * - `repo`: the repository's main worktree. It must be clean (untracked files aside), or nothing starts.
 * - `tasks`: decoded tasks (`Task.decodeFile`). `file`, `options`: recorded in the journal for `pool resume`.
 * - `base`: the branch merged into (default: the branch checked out in `repo`).
 * - `root`: where worktrees, logs, per-worker homes and the journal go (default `defaultRoot(repo)`); nothing
 *   of the run is written outside it (and the repository's own `.git`).
 * - `workers`: how many attempts run at once (default 2).
 * - `lookahead`: how many queued attempts get their worktree made ahead of a free worker (default: `workers`;
 *   0 makes each one when a worker takes it). While the agents run, the next attempts' checkouts are made, so
 *   a worker that finishes starts its next agent at once; each one is brought to the base as it is when taken.
 *   Costs up to this many extra checkouts on disk.
 * - `agent`: the agent of tasks that name none; `agents`: agents tasks name (`agent: reviewer`); a task's
 *   `agent: codex` uses `codex` (default `Agents.codex()`).
 * - `gate`: the repository's test command, an argv (never a shell string). Without one nothing is gated.
 *   `preflight` (default true): gate each attempt in its worktree before it joins the train (with the task's
 *   own `gate` if it has one). `flakyRetries` (default 1): a red gate is re-run this many times before it is
 *   believed. `gateTimeout`: a gate run longer than this is red.
 * - `batch`: the train's batch size, `{ initial (4), max (16) }`, doubled on green and halved on red; or
 *   `"serial"` (one task per gate). `wait` (default 0): how long the train, once it has one passing branch,
 *   waits for more to fill the batch before it gates (like a merge queue's batch wait time).
 * - `overlap`: `"serialize"` (default) never runs two tasks whose owned paths overlap at once; `"parallel"`
 *   runs them and lets the train send the later one back with the conflict.
 * - `outside`: changes outside a task's owned paths are `"report"`ed (default) or `"refuse"`d.
 * - `timeout`: per-task agent timeout when the task sets none (default 30 minutes): the agent and every
 *   process it started are killed.
 * - `budget`: each attempt spends one call of it (and a Codex agent its tokens); once it is spent no attempt
 *   starts, and the ones running finish.
 * - `author` (of agents' commits when the task names none), `committer` (of merge commits).
 * - `onEvent`: called with every progress `Event` (the live status and the logs are built on it).
 *
 * **Example**
 *
 * ```ts
 * import * as Agents from "@handoffkit/pool/Agents"
 * import type * as Pool from "@handoffkit/pool/Pool"
 *
 * const config: Pool.Config = {
 *   repo: "/src/app",
 *   tasks: [],
 *   workers: 3,
 *   agent: Agents.command(["node", "scripts/agent.js"]),
 *   gate: ["npm", "test"]
 * }
 * console.log(config.workers) // 3
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  readonly repo: string
  readonly tasks: ReadonlyArray<Task.Task>
  readonly file?: string | undefined
  readonly options?: Record<string, Schema.Json> | undefined
  readonly base?: string | undefined
  readonly root?: string | undefined
  readonly workers?: number | undefined
  readonly lookahead?: number | undefined
  readonly agent?: Agents.Agent | undefined
  readonly agents?: Readonly<Record<string, Agents.Agent>> | undefined
  readonly codex?: ((options?: Agents.CodexOptions) => Agents.Agent) | undefined
  readonly gate?: ReadonlyArray<string> | undefined
  readonly preflight?: boolean | undefined
  readonly flakyRetries?: number | undefined
  readonly gateTimeout?: Duration.Input | undefined
  readonly batch?:
    | {
        readonly initial?: number | undefined
        readonly max?: number | undefined
        readonly wait?: Duration.Input | undefined
      }
    | "serial"
    | undefined
  readonly overlap?: "serialize" | "parallel" | undefined
  readonly outside?: "report" | "refuse" | undefined
  readonly timeout?: Duration.Input | undefined
  readonly budget?: Budget.Budget | undefined
  readonly author?: { readonly name: string; readonly email: string } | undefined
  readonly committer?: { readonly name: string; readonly email: string } | undefined
  readonly onEvent?: ((event: Event) => void) | undefined
}

/**
 * A `Config` with every default filled in (what the machinery runs on).
 *
 * **Example**
 *
 * ```ts
 * import type * as Pool from "@handoffkit/pool/Pool"
 *
 * const workers = (resolved: Pool.Resolved) => resolved.workers
 * console.log(typeof workers) // "function"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Resolved {
  readonly repo: string
  readonly tasks: ReadonlyArray<Task.Task>
  readonly file: string | undefined
  readonly options: Record<string, Schema.Json> | undefined
  readonly base: string
  /** The base's commit when `resolve` looked (a fresh run starts from it instead of asking git again). */
  readonly baseCommit?: string | undefined
  readonly root: string
  readonly workers: number
  readonly lookahead: number
  readonly agent: Agents.Agent | undefined
  readonly agents: Readonly<Record<string, Agents.Agent>>
  readonly codex: (options?: Agents.CodexOptions) => Agents.Agent
  readonly gate: ReadonlyArray<string> | undefined
  readonly preflight: boolean
  readonly flakyRetries: number
  readonly gateTimeout: Duration.Input | undefined
  readonly serial: boolean
  readonly batchInitial: number
  readonly batchMax: number
  readonly batchWait: Duration.Duration
  readonly overlap: "serialize" | "parallel"
  readonly outside: "report" | "refuse"
  readonly timeout: Duration.Duration
  readonly budget: Budget.Budget | undefined
  readonly author: { readonly name: string; readonly email: string } | undefined
  readonly committer: { readonly name: string; readonly email: string } | undefined
  readonly onEvent: ((event: Event) => void) | undefined
}

/**
 * What the pool reports as it goes: the live status, the line logs and the trace are built on these.
 *
 * **Details**
 *
 * `Phase` phases: `queued`, `agent`, `committed`, `outside` (changed paths it does not own), `gate`,
 * `ready` (waiting for the train), `conflicted`, `redispatched`, `merged`, `failed`, `skipped`, `stale` (the
 * main tree could not follow the base). `Gate` is one gate verdict (`scope` `task` in a worktree or `train` on a
 * stack's tip; `cached` when the tree was gated before). `Batch` a stack built; `Merged` the base moved.
 *
 * **Example**
 *
 * ```ts
 * import type * as Pool from "@handoffkit/pool/Pool"
 *
 * const event: Pool.Event = { _tag: "Phase", task: "fix-a", attempt: 1, phase: "agent" }
 * console.log(event._tag) // "Phase"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Event =
  | {
      readonly _tag: "Planned"
      readonly tasks: ReadonlyArray<string>
      readonly overlaps: ReadonlyArray<readonly [string, string]>
    }
  | {
      readonly _tag: "Phase"
      readonly task: string
      readonly attempt: number
      readonly phase: string
      readonly worker?: number | undefined
      readonly detail?: string | undefined
    }
  | {
      readonly _tag: "Gate"
      readonly scope: "task" | "train"
      readonly task: string
      readonly passed: boolean
      readonly runs: number
      readonly cached: boolean
      readonly log: string
    }
  | {
      readonly _tag: "Batch"
      readonly batch: number
      readonly tasks: ReadonlyArray<string>
      readonly tip: string
    }
  | {
      readonly _tag: "Merged"
      readonly batch: number
      readonly tasks: ReadonlyArray<string>
      readonly old: string
      readonly next: string
    }
  | { readonly _tag: "Finished"; readonly summary: Summary }

/**
 * How one task ended.
 *
 * **Details**
 *
 * `outcome`: `merged` (`merge` is its merge commit in the base), `failed` (the agent failed or timed out,
 * it changed nothing, its gate was red, or the train found it breaks the tests), `conflicted` (it kept
 * conflicting after its retries), `skipped` (the budget was spent first). `branch` is where its work is
 * kept when it was not merged. `phases`: milliseconds spent per phase in this process.
 *
 * **Example**
 *
 * ```ts
 * import type * as Pool from "@handoffkit/pool/Pool"
 *
 * const outcome: Pool.TaskOutcome = {
 *   task: "fix-a", outcome: "failed", attempts: 1, reason: "gate: tests fail", branch: "handoffkit/fix-a/1",
 *   merge: undefined, phases: { agent: 1200 }
 * }
 * console.log(outcome.branch) // "handoffkit/fix-a/1"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TaskOutcome {
  readonly task: string
  readonly outcome: "merged" | "failed" | "conflicted" | "skipped"
  readonly attempts: number
  readonly reason: string | undefined
  readonly branch: string | undefined
  readonly merge: string | undefined
  readonly phases: Readonly<Record<string, number>>
}

/**
 * The end of a run: every task's outcome, the base before and after, and what the gates cost.
 *
 * **Details**
 *
 * `trainGateRuns` counts gate runs on the train's stacks (bisection included); `taskGateRuns` those in the
 * tasks' worktrees; `cachedGates` the gates skipped because the tree had been gated green already.
 * `mergedAhead` counts the merges the train made while a batch's gate ran and then stacked unchanged.
 *
 * **Example**
 *
 * ```ts
 * import type * as Pool from "@handoffkit/pool/Pool"
 *
 * const merged = (summary: Pool.Summary) => summary.tasks.filter((t) => t.outcome === "merged").length
 * console.log(typeof merged) // "function"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Summary {
  readonly base: string
  readonly baseBefore: string
  readonly baseAfter: string
  readonly tasks: ReadonlyArray<TaskOutcome>
  readonly trainGateRuns: number
  readonly taskGateRuns: number
  readonly cachedGates: number
  readonly gateMillis: number
  readonly batches: number
  readonly bisections: number
  readonly mergedAhead: number
  readonly millis: number
  readonly journal: string | undefined
}

/**
 * Where a repository's runs go by default: `<parent>/<name>.handoffkit` beside the repository, so that the
 * worktrees are outside the main tree (its tools and test runners never see them) and survive a reboot.
 *
 * **Example**
 *
 * ```ts
 * import * as Pool from "@handoffkit/pool/Pool"
 *
 * console.log(Pool.defaultRoot("/src/app")) // "/src/app.handoffkit"
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const defaultRoot = (repo: string): string => {
  const resolved = Path.resolve(repo)
  return Path.join(Path.dirname(resolved), `${Path.basename(resolved)}.handoffkit`)
}

/**
 * The journal's path under a root.
 *
 * **Example**
 *
 * ```ts
 * import * as Pool from "@handoffkit/pool/Pool"
 *
 * console.log(Pool.journalPath("/src/app.handoffkit")) // "/src/app.handoffkit/journal.jsonl"
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const journalPath = (root: string): string => Path.join(root, "journal.jsonl")

const positiveInt = (name: string, value: number | undefined, fallback: number, min = 1) => {
  const n = value ?? fallback
  return Number.isInteger(n) && n >= min
    ? Effect.succeed(n)
    : Effect.fail(new PoolError({ reason: `${name} must be an integer >= ${min}, got ${String(value)}` }))
}

/**
 * Fills in a `Config`'s defaults and checks what can be checked before anything runs: the repository, the
 * base branch, a clean main tree, the root outside the main tree, the numbers.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Pool from "@handoffkit/pool/Pool"
 * import * as Git from "@handoffkit/pool/Git"
 * import { NodeServices } from "@effect/platform-node"
 *
 * const program = Pool.resolve({ repo: "/nonexistent/repo", tasks: [] }).pipe(
 *   Effect.provide(Git.layer),
 *   Effect.provide(NodeServices.layer),
 *   Effect.catch((error) => Effect.succeed(error._tag))
 * )
 * Effect.runPromise(program).then(console.log) // "PoolError"
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const resolve = Effect.fnUntraced(function* (config: Config) {
  const repo = Path.resolve(config.repo)
  // Three read-only questions at once (each is a git process; a run's start waits on them), answered in order.
  const [top, current, firstStatus] = yield* Effect.all(
    [
      Effect.result(Git.topLevel(repo)),
      config.base === undefined ? Effect.result(Git.currentBranch(repo)) : Effect.succeed(undefined),
      Effect.result(Git.status(repo, { untracked: false }))
    ],
    { concurrency: "unbounded" }
  )
  if (top._tag === "Failure") return yield* new PoolError({ reason: `${repo} is not a git repository` })
  if (Path.resolve(top.success) !== repo) {
    return yield* new PoolError({
      reason: `${repo} is not the top of its repository (that is ${top.success})`
    })
  }
  let base = config.base
  if (current !== undefined) {
    const branch = yield* Effect.fromResult(current)
    if (branch._tag === "None") {
      return yield* new PoolError({ reason: `${repo} has no branch checked out: name the base branch` })
    }
    base = branch.value
  }
  const baseCommit = base === undefined ? Option.none() : yield* Git.branchCommit(repo, base)
  if (base === undefined || Option.isNone(baseCommit)) {
    return yield* new PoolError({ reason: `the base branch ${base} does not exist in ${repo}` })
  }
  let status = yield* Effect.fromResult(firstStatus)
  if (!status.clean && (yield* catchUpCheckout(repo, base)))
    status = yield* Git.status(repo, { untracked: false })
  if (!status.clean) {
    const paths = status.entries.slice(0, 10).map((entry) => entry.path)
    return yield* new PoolError({
      reason: `the main tree ${repo} has uncommitted changes (${paths.join(", ")}${status.entries.length > 10 ? ", ..." : ""}): commit or stash them first`
    })
  }
  const root = Path.resolve(config.root ?? defaultRoot(repo))
  const relative = Path.relative(repo, root)
  if (relative === "" || (!relative.startsWith("..") && !Path.isAbsolute(relative))) {
    return yield* new PoolError({
      reason: `the worktree root ${root} is inside the main tree ${repo}: put it outside`
    })
  }
  const workers = yield* positiveInt("workers", config.workers, 2)
  const lookahead = yield* positiveInt("lookahead", config.lookahead, workers, 0)
  const flakyRetries = yield* positiveInt("flakyRetries", config.flakyRetries, 1, 0)
  const serial = config.batch === "serial"
  const batch = config.batch === "serial" ? undefined : config.batch
  const batchMax = yield* positiveInt("batch.max", batch?.max, 16)
  const batchInitial = yield* positiveInt("batch.initial", batch?.initial, Math.min(4, batchMax))
  if (
    config.gate !== undefined &&
    (config.gate.length === 0 || config.gate.some((arg) => arg.length === 0))
  ) {
    return yield* new PoolError({ reason: "gate must be a non-empty argv of non-empty strings" })
  }
  const resolved: Resolved = {
    repo,
    tasks: config.tasks,
    file: config.file,
    options: config.options,
    base,
    baseCommit: baseCommit.value,
    root,
    workers,
    lookahead,
    agent: config.agent,
    agents: config.agents ?? {},
    codex: config.codex ?? Agents.codex,
    gate: config.gate,
    preflight: config.preflight ?? true,
    flakyRetries,
    gateTimeout: config.gateTimeout,
    serial,
    batchInitial: Math.min(batchInitial, batchMax),
    batchMax,
    batchWait: Duration.fromInputUnsafe(batch?.wait ?? 0),
    overlap: config.overlap ?? "serialize",
    outside: config.outside ?? "report",
    timeout: Duration.fromInputUnsafe(config.timeout ?? "30 minutes"),
    budget: config.budget,
    author: config.author,
    committer: config.committer,
    onEvent: config.onEvent
  }
  return resolved
})

/**
 * A run killed between moving the base and bringing the main tree's checkout along leaves that checkout at
 * the old commit: it looks edited, and is not. When the journal says the base moved from `old` to where it is
 * now, the checkout is brought from `old` to it (a two-tree `read-tree` that refuses to touch a real local
 * change). Returns whether it did.
 */
const catchUpCheckout = Effect.fnUntraced(function* (repo: string, base: string) {
  const journal = yield* Effect.serviceOption(Journal.Journal)
  if (journal._tag === "None") return false
  const branch = yield* Git.currentBranch(repo)
  if (branch._tag === "None" || branch.value !== base) return false
  const head = yield* Git.revParse(repo, `refs/heads/${base}`)
  const landing = (yield* journal.value.entries).findLast(
    (entry): entry is Journal.Entry & { readonly _tag: "merging" } =>
      entry._tag === "merging" && entry.next === head
  )
  if (landing === undefined) return false
  const synced = yield* Effect.result(Git.syncCheckout(repo, landing.old, landing.next))
  return synced._tag === "Success"
})

/**
 * Runs the pool to the end: every task merged, failed, conflicted or skipped, and returns the `Summary`.
 *
 * **When to use**
 *
 * From an Effect program with `Git.layer`, a `Journal` layer (`layerFor(root)` writes `journal.jsonl` under
 * the root; resuming is running again with the same tasks and root) and `NodeServices.layer`.
 *
 * **Details**
 *
 * - Before anything starts, `resolve` checks the config and refuses a dirty main tree.
 * - A journal that already has entries is resumed: finished steps are not redone, merged tasks are not
 *   merged again (a batch's base move is a compare-and-swap recorded before and after), worktrees and
 *   branches of merged tasks are cleaned up if a crash left them.
 * - Interrupting the run kills every agent and gate process and leaves the journal ready to resume.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import * as Agents from "@handoffkit/pool/Agents"
 * import * as Pool from "@handoffkit/pool/Pool"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "pool-doc-"))
 * const repo = Path.join(dir, "repo")
 * const env = { ...process.env, GIT_AUTHOR_NAME: "a", GIT_AUTHOR_EMAIL: "a@x", GIT_COMMITTER_NAME: "a", GIT_COMMITTER_EMAIL: "a@x" }
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * Fs.writeFileSync(Path.join(repo, "README.md"), "hello\n")
 * execFileSync("git", ["-C", repo, "add", "."])
 * execFileSync("git", ["-C", repo, "commit", "-qm", "init"], { env })
 *
 * const program = Effect.gen(function*() {
 *   const { tasks } = yield* Task.decode(
 *     JSON.stringify({ tasks: [{ id: "notes", prompt: "write notes", owns: ["notes.txt"] }] }),
 *     { file: "tasks.json" }
 *   )
 *   const summary = yield* Pool.run({
 *     repo,
 *     tasks,
 *     agent: Agents.command(["node", "-e", "require('fs').writeFileSync('notes.txt', 'done')"]),
 *     gate: ["test", "-f", "notes.txt"]
 *   }).pipe(Effect.provide(Pool.layerFor(Pool.defaultRoot(repo))))
 *   return summary.tasks.map((task) => `${task.task}: ${task.outcome}`)
 * })
 * Effect.runPromise(program.pipe(Effect.provide(NodeServices.layer))).then(console.log) // ["notes: merged"]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = (config: Config) =>
  Effect.gen(function* () {
    const resolved = yield* resolve(config)
    return yield* internal.run(resolved)
  }).pipe(Effect.scoped)

/**
 * The services `run` needs besides Node's: git and a journal file under `root`.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import * as Pool from "@handoffkit/pool/Pool"
 *
 * console.log(Layer.isLayer(Pool.layerFor("/tmp/app.handoffkit"))) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFor = (
  root: string
): Layer.Layer<Git.Git | Journal.Journal, Journal.JournalError, ChildProcessSpawner.ChildProcessSpawner> =>
  Layer.merge(Git.layerForked, Journal.layerFile(journalPath(root)))

/**
 * Everything `run` needs on Node, in one layer: git, the journal file under `root`, and Node's services
 * (processes, files) for the agents and gates.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import * as Pool from "@handoffkit/pool/Pool"
 *
 * console.log(Layer.isLayer(Pool.layerNode("/tmp/app.handoffkit"))) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerNode = (
  root: string
): Layer.Layer<Git.Git | Journal.Journal | NodeServices.NodeServices, Journal.JournalError> =>
  layerFor(root).pipe(Layer.provideMerge(NodeServices.layer))
