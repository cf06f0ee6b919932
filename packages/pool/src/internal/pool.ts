/**
 * The pool's machinery: a coordinator that owns every task's state, N workers pulling attempts from one queue
 * mailbox, and the merge train, each a fiber, talking only by messages. The coordinator is the only writer of
 * task state; the train is the only writer of the base ref. Every step is journaled before it takes effect.
 * @internal
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Latch, Option, Queue, Semaphore } from "effect"
import { Budget, Mailbox, Select, Tracer } from "@handoffkit/core"
import * as Agents from "../Agents.ts"
import * as Gate from "../Gate.ts"
import * as Git from "../Git.ts"
import { Journal, replay, type Draft, type TaskState } from "../Journal.ts"
import * as Plan from "../Plan.ts"
import type * as Task from "../Task.ts"
import * as Pool from "../Pool.ts"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as forkServer from "./forkServer.ts"
import * as Process from "./process.ts"
import { killStrays } from "./strays.ts"
import * as Train from "./train.ts"

const defaultIdentity = { name: "HandoffKit", email: "handoffkit@localhost" }

/** An attempt handed to a worker. `start` says where to pick it up (a resumed attempt skips finished steps). */
interface Job {
  readonly task: Task.Task
  readonly attempt: number
  readonly start: "agent" | "commit" | "gate"
  readonly from: string | undefined
  readonly commit: string | undefined
  readonly conflict: Agents.Conflict | undefined
}

/** A committed attempt whose gate passed (or was not asked for): what the train stacks. */
interface Ready {
  /** From the journal of a killed run: its merge may have landed already. */
  readonly resumed?: boolean | undefined
  readonly task: Task.Task
  readonly attempt: number
  readonly commit: string
  readonly from: string
  readonly branch: string
  readonly worktree: string
}

type ToCoordinator =
  | { readonly _tag: "Ready"; readonly ready: Ready }
  | {
      readonly _tag: "Ended"
      readonly task: string
      readonly outcome: "failed" | "skipped"
      readonly reason: string
    }
  | { readonly _tag: "Merged"; readonly tasks: ReadonlyArray<{ task: string; merge: string }> }
  | { readonly _tag: "TrainFailed"; readonly task: string; readonly reason: string }
  | { readonly _tag: "Crashed"; readonly cause: Cause.Cause<unknown> }
  | {
      readonly _tag: "Conflict"
      readonly ready: Ready
      readonly files: ReadonlyArray<string>
      readonly theirs: string
    }

const branchOf = (task: string, attempt: number) => `handoffkit/${task}/${attempt}`
/** An attempt's key in the run's own sets and maps (journaled attempts, worktrees made ahead). */
const attemptKey = (task: string, attempt: number) => `${task}:${attempt}`

const workerName = (index: number) => `pool/worker-${index}`
const jobId = (task: string, attempt: number) => `pool:${task}:${attempt}:job`
const readyId = (task: string, attempt: number) => `pool:${task}:${attempt}:ready`
/**
 * `runWith`, its agents and gates started from a fork server (`process.Launcher`): the git service's (see
 * `forkServer.ofService`), or one that boots beside the run's first steps; until it is up (or if it dies) they
 * are spawned directly.
 */
export const run = (config: Pool.Resolved) =>
  Effect.gen(function* () {
    // The git service's own server when it has one (`Git.layerForked`); else one of the run's own.
    let current = forkServer.ofService.get(yield* Git.Git)
    if (current === undefined) {
      const spawner = yield* ChildProcessSpawner
      let server: forkServer.ForkServer | undefined
      yield* Effect.forkScoped(
        forkServer.start(spawner).pipe(
          Effect.tap((started) => Effect.sync(() => (server = started))),
          Effect.ignore
        )
      )
      current = () => server
    }
    const serverNow = current
    return yield* runWith(config).pipe(
      Effect.provideService(Process.Launcher, {
        alive: () => serverNow()?.alive() === true,
        launch: (request) => {
          const server = serverNow()
          return server === undefined
            ? Effect.fail({ message: "the pool's fork server exited", code: null })
            : server.launch(request)
        }
      })
    )
  }).pipe(Effect.scoped)

const runWith = Effect.fnUntraced(function* (config: Pool.Resolved) {
  const journal = yield* Journal
  const tracer = yield* Tracer.CurrentTracer
  const repo = config.repo
  const baseRef = `refs/heads/${config.base}`
  const tasks = config.tasks
  const plan = Plan.make(tasks)
  const started = Date.now()

  const emit = (event: Pool.Event) => {
    config.onEvent?.(event)
    if (tracer.enabled) {
      const { _tag, ...data } = event
      tracer.emit({
        kind: _tag === "Gate" ? "pool.gate" : _tag === "Merged" ? "pool.merge" : "pool.task",
        actor: "task" in event && typeof event.task === "string" ? `pool/${event.task}` : "pool/train",
        data: { event: _tag, ...(JSON.parse(JSON.stringify(data)) as Record<string, never>) }
      })
    }
  }
  const write = (entry: Draft) => journal.append(entry)

  // The pool's own message passing in the trace: the coordinator hands a job to a worker through the queue
  // mailbox, the worker hands its passing commit to the train, the train tells the coordinator how it ended.
  // Ids name the task and attempt, so a task's way through the pool is one causal chain
  // (job -> ready -> merged), beside the agents' own events.
  const traceMessage = (
    kind: "send" | "receive",
    actor: string,
    peer: string,
    messageId: string,
    causationId?: string
  ) => {
    if (tracer.enabled)
      tracer.emit({ kind, actor, peer, messageId, causationId, correlationId: messageId.split(":")[1] })
  }
  const traced = (from: string, to: string, messageId: string, causationId?: string) => {
    traceMessage("send", from, to, messageId, causationId)
    traceMessage("receive", to, from, messageId, causationId)
  }

  // ---------------------------------------------------------------------------
  // state: where every task stands, from the journal (a resumed run) or fresh
  // ---------------------------------------------------------------------------

  const previous = yield* journal.entries
  const runEntry = previous.find((entry) => entry._tag === "run")
  if (runEntry !== undefined && runEntry._tag === "run") {
    const mine = tasks.map((task) => task.id).toSorted()
    const theirs = runEntry.tasks.toSorted()
    if (mine.join("\n") !== theirs.join("\n")) {
      return yield* Effect.fail(
        new Pool.PoolError({
          reason: `the journal ${journal.path ?? "(memory)"} belongs to a run of other tasks (${theirs.join(", ")}); use another root or remove it`
        })
      )
    }
  }
  const states = replay(previous)
  if (previous.length > 0) {
    // A killed run's agents and gates outlived it (they lead process groups of their own): stop them before
    // their worktrees are redone.
    const strays = yield* killStrays(config.root)
    if (strays.length > 0) {
      emit({
        _tag: "Phase",
        task: "(resume)",
        attempt: 0,
        phase: "killed",
        detail: `${strays.length} processes a killed run left in ${[...new Set(strays.map((s) => s.cwd))].join(", ")}`
      })
    }
  }
  // A fresh run starts where `resolve` saw the base a moment ago; a resumed one asks again, after the strays.
  const baseCommit =
    previous.length === 0 && config.baseCommit !== undefined
      ? config.baseCommit
      : yield* Git.revParse(repo, baseRef)
  if (runEntry === undefined) {
    yield* write({
      _tag: "run",
      base: config.base,
      baseCommit,
      tasks: tasks.map((task) => task.id),
      ...(config.file === undefined ? {} : { file: config.file }),
      ...(config.options === undefined ? {} : { options: config.options })
    })
  }
  const baseBefore = runEntry?._tag === "run" ? runEntry.baseCommit : baseCommit

  const outcome = new Map<string, Pool.TaskOutcome>()
  const metrics = {
    trainGateRuns: 0,
    taskGateRuns: 0,
    cachedGates: 0,
    gateMillis: 0,
    batches: 0,
    bisections: 0,
    mergedAhead: 0
  }
  const phaseMillis = new Map<string, Record<string, number>>()
  const addPhase = (task: string, phase: string, millis: number) => {
    const record = phaseMillis.get(task) ?? {}
    record[phase] = (record[phase] ?? 0) + millis
    phaseMillis.set(task, record)
  }
  const attempts = new Map<string, number>()
  const finish = (task: string, result: Omit<Pool.TaskOutcome, "task" | "attempts" | "phases">) => {
    outcome.set(task, {
      task,
      attempts: attempts.get(task) ?? 0,
      phases: phaseMillis.get(task) ?? {},
      ...result
    })
  }
  /** Trees whose gate passed: a stack or a rebase that lands on one is not gated again. */
  const greenTrees = new Set<string>()

  const worktreeOf = (task: string, attempt: number) =>
    Path.join(config.root, "worktrees", `${task}-${attempt}`)
  const logDir = (task: string) => Path.join(config.root, "logs", task)
  // Worktrees of merged attempts on their way out (see `cleanupAll`); what a crash left here is emptied at start.
  const trashDir = Path.join(config.root, "trash")
  yield* Effect.promise(() => Fs.promises.rm(trashDir, { recursive: true, force: true }))

  /** Moves a worktree into the trash as `name` (one rename: to git it is gone at once); its path there. */
  const intoTrash = (worktree: string, name: string) => {
    const to = Path.join(trashDir, name)
    Fs.mkdirSync(trashDir, { recursive: true })
    Fs.rmSync(to, { recursive: true, force: true })
    Fs.renameSync(worktree, to)
    return to
  }

  /** Removes an attempt's worktree; the branch stays (it is deleted only once merged). */
  const removeWorktree = (path: string) =>
    Fs.existsSync(path) ? Git.worktreeRemove(repo, path) : Git.worktreePrune(repo)

  /**
   * Deletes merged attempts' worktrees and branches, after checking each merge is in the base. A batch costs a
   * few git processes whatever its size: each worktree is moved into the trash (one rename: to git it is gone at
   * once, and a crash leaves nothing half-deleted under `worktrees/`), one `worktree prune` forgets them all,
   * one `worktree list` tells which branches are checked out elsewhere, one `update-ref` transaction deletes
   * the merged branches; the trash is emptied by fs, not git.
   */
  const cleanupAll = Effect.fnUntraced(function* (
    items: ReadonlyArray<{
      readonly task: string
      readonly attempt: number
      readonly merged?: string | undefined
    }>
  ) {
    const trashed: Array<string> = []
    for (const item of items) {
      const worktree = worktreeOf(item.task, item.attempt)
      if (Fs.existsSync(worktree)) trashed.push(intoTrash(worktree, `${item.task}-${item.attempt}`))
    }
    yield* Git.worktreePrune(repo)
    const holders = items.some((item) => item.merged !== undefined)
      ? new Set(
          (yield* Git.worktreeList(repo)).flatMap((tree) =>
            Option.isSome(tree.branch) ? [tree.branch.value] : []
          )
        )
      : new Set<string>()
    // The train just landed each `merged` (a parent of the base's new merge commit): a branch whose tip is still
    // exactly it is in the base, so a compare-and-swap on that tip deletes it safely, without asking git whether
    // it is merged: all of them in one transaction. If one moved, none is deleted, and each is seen to below.
    const swaps = items.flatMap((item) =>
      item.merged !== undefined && !holders.has(branchOf(item.task, item.attempt))
        ? [{ ref: `refs/heads/${branchOf(item.task, item.attempt)}`, expected: item.merged }]
        : []
    )
    const swapped = new Set<string>()
    if (swaps.length > 1) {
      const all = yield* Git.deleteRefs(repo, swaps).pipe(
        Effect.as(true),
        Effect.catchTag("RefMoved", () => Effect.succeed(false))
      )
      if (all) for (const swap of swaps) swapped.add(swap.ref)
    }
    const cleaned: Array<Draft> = []
    for (const item of items) {
      const branch = branchOf(item.task, item.attempt)
      let deleted: boolean | undefined
      if (swapped.has(`refs/heads/${branch}`)) deleted = true
      else if (item.merged !== undefined && !holders.has(branch)) {
        // One at a time (alone, or after the transaction found one moved). Moved, checked out elsewhere or
        // gone: the full check below decides.
        deleted = yield* Git.deleteRef(repo, `refs/heads/${branch}`, item.merged).pipe(
          Effect.as(true),
          Effect.catchTag("RefMoved", () => Effect.succeed(undefined))
        )
      }
      // Refuses unless the branch is in the base; false when there was none to delete.
      deleted ??= yield* Git.deleteMergedBranch(repo, branch, baseRef)
      cleaned.push({ _tag: "cleaned", task: item.task, attempt: item.attempt, branchDeleted: deleted })
    }
    // Once all are gone, journaled together: concurrent appends share one sync to disk.
    yield* Effect.forEach(cleaned, write, { concurrency: "unbounded", discard: true })
    yield* Effect.promise(() =>
      Promise.all(trashed.map((path) => Fs.promises.rm(path, { recursive: true, force: true })))
    )
  })
  /** `cleanupAll` of one attempt. */
  const cleanup = (task: string, attempt: number, merged?: string) => cleanupAll([{ task, attempt, merged }])

  /**
   * An ended attempt's worktree, if it is still there: what is in it is committed on its branch (the work is
   * kept), then the worktree goes. What `fail` does, for attempts a killed run ended.
   */
  const putAway = Effect.fnUntraced(function* (task: Task.Task, attempt: number, why: string) {
    const worktree = worktreeOf(task.id, attempt)
    if (!Fs.existsSync(worktree)) return
    yield* Git.commitAll(worktree, {
      message: `WIP ${task.id} (attempt ${attempt}): ${why}`,
      author: task.author ?? config.author ?? defaultIdentity
    }).pipe(Effect.ignore)
    yield* removeWorktree(worktree).pipe(Effect.ignore)
  })

  // The base as the train last moved it: the train is its only writer in this run, so workers start from it
  // and the train stacks onto it without asking git again. Someone else moving it makes the train's
  // compare-and-swap fail; the train then reads it anew.
  let knownBase = baseCommit
  let baseStale = false
  // Attempts a killed run dispatched: their worktree and branch may be left over.
  const journaled = new Set(
    previous.flatMap((entry) => (entry._tag === "dispatched" ? [attemptKey(entry.task, entry.attempt)] : []))
  )

  // Attempts a killed run made worktrees for ahead of a worker, and never dispatched: nothing of value (no agent
  // ran in them). Their worktree and branch go; the attempt is made again when a worker takes it.
  for (const entry of previous) {
    if (entry._tag !== "prepared" || journaled.has(attemptKey(entry.task, entry.attempt))) continue
    if (Fs.existsSync(entry.worktree)) yield* Git.worktreeRemove(repo, entry.worktree)
    else yield* Git.worktreePrune(repo)
    yield* Git.deleteMergedBranch(repo, entry.branch, baseRef).pipe(
      Effect.catchTag("BranchNotMerged", () => Effect.succeed(false))
    )
  }

  // Decide, task by task, where a resumed run picks up.
  const initialJobs: Array<Job> = []
  const initialReady: Array<Ready> = []
  const headNow = baseCommit
  for (const task of tasks) {
    const state: TaskState | undefined = states.get(task.id)
    attempts.set(task.id, state?.attempt ?? 0)
    const job = (start: Job["start"], extra: Partial<Job> = {}): Job => ({
      task,
      attempt: state?.attempt ?? 1,
      start,
      from: state?.from,
      commit: state?.commit,
      conflict: undefined,
      ...extra
    })
    // A task the journal has as committed: its commit, base and branch are all recorded.
    const ready = (): Ready => ({
      resumed: true,
      task,
      attempt: state!.attempt,
      commit: state!.commit!,
      from: state!.from!,
      branch: state!.branch!,
      worktree: state!.worktree!
    })
    switch (state?.phase ?? "queued") {
      case "queued":
        initialJobs.push(
          job("agent", { attempt: (state?.attempt ?? 0) + 1, from: undefined, commit: undefined })
        )
        break
      case "dispatched":
      case "agent": {
        // The agent may have finished, and its work been committed, before the crash: a branch ahead of where
        // it started holds that work, and it goes on to the gate.
        const branch = branchOf(task.id, state!.attempt)
        const tip = (yield* Git.branchExists(repo, branch))
          ? yield* Git.revParse(repo, `refs/heads/${branch}`)
          : undefined
        const worktree = worktreeOf(task.id, state!.attempt)
        if (tip !== undefined && tip !== state!.from) {
          initialJobs.push(job("gate", { commit: tip }))
        } else if (state!.phase === "agent" && tip !== undefined && Fs.existsSync(worktree)) {
          initialJobs.push(job("commit")) // the agent finished: what it left is committed, not redone
        } else {
          // Killed mid-agent: the attempt is redone from the start as the next one. What the killed agent had
          // written but not committed is not finished work; its worktree and empty branch go.
          if (Fs.existsSync(worktree)) yield* Git.worktreeRemove(repo, worktree)
          else yield* Git.worktreePrune(repo)
          if (tip !== undefined) yield* Git.deleteMergedBranch(repo, branch, baseRef)
          initialJobs.push(job("agent", { attempt: state!.attempt + 1, from: undefined, commit: undefined }))
        }
        break
      }
      case "committed":
        initialJobs.push(job("gate"))
        break
      case "gated":
        if (state!.passed === true) {
          initialReady.push(ready())
        } else {
          yield* write({
            _tag: "failed",
            task: task.id,
            attempt: state!.attempt,
            phase: "gate",
            reason: "tests fail"
          })
          yield* putAway(task, state!.attempt, "gate failed")
          finish(task.id, {
            outcome: "failed",
            reason: "gate: tests fail",
            branch: state!.branch,
            merge: undefined
          })
        }
        break
      case "merging": {
        // The compare-and-swap happened at most once: the base holds the merge or it does not.
        const merged = state!.merge !== undefined && (yield* Git.isAncestor(repo, state!.merge, headNow))
        if (merged) {
          yield* cleanup(task.id, state!.attempt)
          finish(task.id, { outcome: "merged", reason: undefined, branch: undefined, merge: state!.merge })
        } else {
          initialReady.push(ready())
        }
        break
      }
      case "merged":
        yield* cleanup(task.id, state!.attempt)
        finish(task.id, { outcome: "merged", reason: undefined, branch: undefined, merge: state!.merge })
        break
      case "cleaned":
        finish(task.id, { outcome: "merged", reason: undefined, branch: undefined, merge: state!.merge })
        break
      case "failed":
      case "conflicted":
      case "skipped":
        // Ended before a crash that came before its worktree was put away.
        if (state!.attempt > 0) yield* putAway(task, state!.attempt, `${state!.phase}`)
        finish(task.id, {
          outcome: state!.phase as "failed" | "conflicted" | "skipped",
          reason: state!.reason,
          branch: state!.branch,
          merge: undefined
        })
        break
    }
  }
  emit({
    _tag: "Planned",
    tasks: tasks.map((task) => task.id),
    overlaps: plan.overlaps.map((o) => [o.a, o.b])
  })

  // ---------------------------------------------------------------------------
  // gates
  // ---------------------------------------------------------------------------

  /** Runs a gate, retrying a red result up to `flakyRetries` times before believing it. */
  const gateWithRetries = Effect.fnUntraced(function* (
    argv: ReadonlyArray<string>,
    directory: string,
    logBase: string
  ) {
    let runs = 0
    let last: Gate.Result | undefined
    while (runs <= config.flakyRetries) {
      runs += 1
      const result = yield* Gate.run({
        argv,
        directory,
        logFile: `${logBase}-${runs}.log`,
        ...(config.gateTimeout === undefined ? {} : { timeout: config.gateTimeout })
      })
      metrics.gateMillis += result.durationMs
      last = result
      if (result.passed) break
    }
    return {
      passed: last!.passed,
      runs,
      log: last!.logFile,
      exitCode: last!.exitCode,
      timedOut: last!.timedOut
    }
  })

  // ---------------------------------------------------------------------------
  // workers: take an attempt from the queue, run it to a gated commit
  // ---------------------------------------------------------------------------

  const queue = yield* Mailbox.make<Job>({ address: "pool/queue" })
  const inbox = yield* Mailbox.make<ToCoordinator>({ address: "pool/coordinator" })
  const trainInbox = yield* Mailbox.make<Ready>({ address: "pool/train" })
  const tell = (message: ToCoordinator) => Mailbox.offer(inbox, message).pipe(Effect.ignore)
  // Merged attempts to clean up (worktree and branch), off the train's path: the base has moved already and
  // the journal says so, so the train goes on to the next batch meanwhile. Drained before the run finishes;
  // a crash in between leaves `merged` without `cleaned` in the journal, and the resumed run cleans up.
  const cleanups = yield* Queue.unbounded<
    { readonly task: string; readonly attempt: number; readonly commit: string },
    Cause.Done
  >()
  /** A worker or the train that breaks (git or the journal failing under it) fails the run, never hangs it. */
  const crashReported = <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : tell({ _tag: "Crashed", cause })
      )
    )

  const fail = Effect.fnUntraced(function* (
    job: Job,
    phase: string,
    reason: string,
    worktree: string,
    outcome: "failed" | "skipped" = "failed"
  ) {
    yield* write(
      outcome === "failed"
        ? { _tag: "failed", task: job.task.id, attempt: job.attempt, phase, reason }
        : { _tag: "skipped", task: job.task.id, reason: `${phase}: ${reason}` }
    )
    // Keep the work: whatever the agent left is committed on its branch before the worktree goes.
    if (Fs.existsSync(worktree)) {
      yield* Git.commitAll(worktree, {
        message: `WIP ${job.task.id} (attempt ${job.attempt}): ${phase} failed\n\n${reason}`,
        author: job.task.author ?? config.author ?? defaultIdentity
      }).pipe(Effect.ignore)
      yield* removeWorktree(worktree).pipe(Effect.ignore)
    }
    emit({
      _tag: "Phase",
      task: job.task.id,
      attempt: job.attempt,
      phase: outcome,
      detail: `${phase}: ${reason}`
    })
    yield* tell({ _tag: "Ended", task: job.task.id, outcome, reason: `${phase}: ${reason}` })
  })

  const agentFor = (task: Task.Task): Agents.Agent | undefined => {
    const spec = task.agent
    if (spec === undefined) return config.agent
    if (typeof spec === "string")
      return config.agents[spec] ?? (spec === "codex" ? config.codex() : undefined)
    if (spec.type === "command")
      return Agents.command(spec.argv, spec.env === undefined ? {} : { env: spec.env })
    return config.codex({
      ...(spec.model === undefined ? {} : { model: spec.model }),
      ...(spec.fast === undefined ? {} : { fast: spec.fast })
    })
  }

  const promptOf = (job: Job) => {
    if (job.conflict === undefined) return job.task.prompt
    return [
      job.task.prompt,
      "",
      `Your previous attempt (branch ${job.conflict.previousBranch}) no longer merges: these files were changed by work merged meanwhile: ${job.conflict.files.join(", ")}.`,
      "This worktree starts from the new base, which has that work. Redo the task on top of it. The other side's change:",
      "",
      job.conflict.theirs
    ].join("\n")
  }

  /** Runs a step of a job; a failure of the pool's own machinery under it (git, the journal) fails the task. */
  const settled = <E, R>(job: Job, self: Effect.Effect<void, E, R>) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(self)
      if (Exit.isFailure(exit)) {
        if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
        const reason = Cause.pretty(exit.cause).split("\n")[0]
        yield* write({ _tag: "failed", task: job.task.id, attempt: job.attempt, phase: "pool", reason })
        yield* tell({ _tag: "Ended", task: job.task.id, outcome: "failed", reason: `pool: ${reason}` })
      }
    })
  const gates = yield* Semaphore.make(config.workers)

  // ---------------------------------------------------------------------------
  // lookahead: worktrees made for queued attempts while the agents run
  // ---------------------------------------------------------------------------

  /**
   * A queued attempt's worktree, made ahead of a worker by the preparer, or by the worker that takes the attempt
   * first (`claimed` says which one makes it: the other leaves it alone). `made` is the base it was made at.
   */
  interface Warm {
    claimed: boolean
    readonly made: Deferred.Deferred<string, unknown>
  }
  const warm = new Map<string, Warm>()
  const toPrepare = yield* Queue.unbounded<Job, Cause.Done>()
  // Worktrees made ahead and not yet taken: at most `lookahead` of them on disk.
  const ahead = yield* Semaphore.make(config.lookahead)

  /** The attempt's worktree and branch, off `from`, after what a killed run of the same attempt left. */
  const makeWorktree = Effect.fnUntraced(function* (job: Job, from: string) {
    const branch = branchOf(job.task.id, job.attempt)
    const worktree = worktreeOf(job.task.id, job.attempt)
    // A crashed attempt of the same number left these behind: nothing of value (its branch has no commit).
    if (journaled.has(attemptKey(job.task.id, job.attempt))) {
      if (Fs.existsSync(worktree)) yield* Git.worktreeRemove(repo, worktree)
      yield* Git.deleteMergedBranch(repo, branch, baseRef)
    }
    yield* Git.worktreeAdd(repo, { path: worktree, branch, base: from })
  })

  // Workers between taking an attempt and starting its agent. The preparer works only while there are none: a
  // worker starting an agent is on the run's critical path, a worktree made ahead is not, and both take turns
  // on git's worktree administration (a run's first wave would otherwise start its agents at half the pace).
  let starting = 0
  const noneStarting = yield* Latch.make(true)
  const startingBegins = () => {
    starting++
    noneStarting.closeUnsafe()
  }
  const startingEnds = () => {
    if (--starting === 0) noneStarting.openUnsafe()
  }

  /**
   * Makes queued attempts' worktrees, in queue order, one at a time, unless a worker took the attempt first;
   * each once no worker is starting an agent.
   */
  const preparer = Effect.gen(function* () {
    while (true) {
      const job = yield* Queue.take(toPrepare)
      const key = attemptKey(job.task.id, job.attempt)
      if (warm.get(key)?.claimed !== false) continue
      yield* noneStarting.await
      yield* ahead.take(1)
      const slot = warm.get(key)
      if (slot === undefined || slot.claimed) {
        yield* ahead.release(1)
        continue
      }
      slot.claimed = true
      const from = knownBase
      const exit = yield* Effect.exit(
        Effect.gen(function* () {
          yield* write({
            _tag: "prepared",
            task: job.task.id,
            attempt: job.attempt,
            branch: branchOf(job.task.id, job.attempt),
            worktree: worktreeOf(job.task.id, job.attempt),
            from
          })
          yield* makeWorktree(job, from)
          return from
        })
      )
      if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
      yield* Deferred.done(slot.made, exit)
    }
  }).pipe(Effect.catchIf(Cause.isDone, () => Effect.void))

  /**
   * A worker took `job`: the worktree the preparer made (or is making) for it, if any; otherwise the preparer
   * will not make one, and the worker does.
   */
  const claim = Effect.fnUntraced(function* (job: Job) {
    const key = attemptKey(job.task.id, job.attempt)
    const slot = warm.get(key)
    warm.delete(key)
    if (slot === undefined) return undefined
    if (!slot.claimed) {
      slot.claimed = true
      return undefined
    }
    yield* ahead.release(1)
    return slot.made
  })

  /** A worktree made ahead for an attempt that will not run (budget spent, no agent): it and its branch go. */
  const discard = Effect.fnUntraced(function* (
    job: Job,
    made: Deferred.Deferred<string, unknown> | undefined
  ) {
    if (made === undefined) return
    const from = yield* Effect.exit(Deferred.await(made))
    if (Exit.isFailure(from)) return
    const worktree = worktreeOf(job.task.id, job.attempt)
    if (Fs.existsSync(worktree)) yield* Git.worktreeRemove(repo, worktree)
    yield* Git.deleteRef(repo, `refs/heads/${branchOf(job.task.id, job.attempt)}`, from.value).pipe(
      Effect.catchTag("RefMoved", () => Effect.void)
    )
  })

  const work = Effect.fnUntraced(function* (worker: number, job: Job) {
    const task = job.task
    const branch = branchOf(task.id, job.attempt)
    const worktree = worktreeOf(task.id, job.attempt)
    const author = task.author ?? config.author ?? defaultIdentity
    attempts.set(task.id, job.attempt)
    let from = job.from
    const commit = job.commit

    if (job.start === "agent") {
      startingBegins()
      let started = false
      const agentStarts = () => {
        if (started) return
        started = true
        startingEnds()
      }
      yield* Effect.addFinalizer(() => Effect.sync(agentStarts))
      const made = yield* claim(job)
      const agent = agentFor(task)
      if (agent === undefined) {
        yield* discard(job, made)
        return yield* fail(job, "agent", `no agent named ${JSON.stringify(task.agent)}`, worktree)
      }
      if (config.budget !== undefined) {
        // An agent that charges the budget itself (Codex: its model calls and tokens) is only checked here.
        const spent = agent.chargesBudget
          ? Budget.isExhaustedUnsafe(config.budget)
            ? Effect.fail("exhausted" as const)
            : Effect.void
          : Budget.spend(config.budget, { calls: 1 })
        if ((yield* Effect.result<void, unknown, never>(spent))._tag === "Failure") {
          yield* discard(job, made)
          yield* write({ _tag: "skipped", task: task.id, reason: "budget spent" })
          emit({
            _tag: "Phase",
            task: task.id,
            attempt: job.attempt,
            phase: "skipped",
            detail: "budget spent"
          })
          return yield* tell({ _tag: "Ended", task: task.id, outcome: "skipped", reason: "budget spent" })
        }
      }
      const base = knownBase
      from = base
      const dispatched = write({
        _tag: "dispatched",
        task: task.id,
        attempt: job.attempt,
        worker,
        branch,
        worktree,
        from
      })
      // Made ahead: brought to the base as it is now (before `dispatched` says it starts there, so a crash in
      // between leaves a `prepared` attempt, which a resumed run removes). If making it failed, it is made here.
      const ready =
        made === undefined
          ? false
          : yield* Deferred.await(made).pipe(
              Effect.flatMap((at) => (at === base ? Effect.void : Git.resetWorktree(worktree, base))),
              Effect.as(true),
              Effect.catchCause((cause) =>
                Cause.hasInterruptsOnly(cause)
                  ? Effect.failCause(cause)
                  : Effect.gen(function* () {
                      if (Fs.existsSync(worktree))
                        yield* Git.worktreeRemove(repo, worktree).pipe(Effect.ignore)
                      yield* Git.deleteMergedBranch(repo, branch, baseRef).pipe(Effect.ignore)
                      return false
                    })
              )
            )
      yield* dispatched
      emit({ _tag: "Phase", task: task.id, attempt: job.attempt, worker, phase: "agent" })
      if (!ready) yield* makeWorktree(job, base)
      agentStarts()
      const t0 = Date.now()
      const timeout = task.timeout ?? config.timeout
      const result = yield* agent
        .run({
          task,
          directory: worktree,
          prompt: promptOf(job),
          attempt: job.attempt,
          worker,
          workerHome: Path.join(config.root, "homes", `worker-${worker}`),
          logFile: Path.join(logDir(task.id), `agent-${job.attempt}.log`),
          conflict: job.conflict,
          budget: config.budget
        })
        .pipe(Effect.timeoutOption(timeout), Effect.result)
      addPhase(task.id, "agent", Date.now() - t0)
      if (result._tag === "Failure" && result.failure.reason === "budget") {
        // The budget ran out under it: what it did is kept on its branch, and the task counts as skipped.
        yield* fail(job, "agent", result.failure.message, worktree, "skipped")
        return
      }
      if (result._tag === "Failure") {
        return yield* fail(job, "agent", result.failure.message, worktree)
      }
      if (Option.isNone(result.success)) {
        return yield* fail(job, "agent", `timed out after ${Duration.format(timeout)}`, worktree)
      }
      yield* write({
        _tag: "agent",
        task: task.id,
        attempt: job.attempt,
        summary: result.success.value.summary ?? null
      })
    }

    // The commit, the ownership check and the gate run beside the worker's next agent: agents are what a run
    // has few of, so the worker takes its next job now; at most `workers` gates run at once. Their failures are
    // the task's, as the agent's are.
    yield* Effect.forkChild(settled(job, afterAgent(worker, job, { from, commit, branch, worktree, author })))
  })

  /** The attempt's work committed on its branch, its paths checked against what it owns, then its gate. */
  const afterAgent = Effect.fnUntraced(function* (
    worker: number,
    job: Job,
    made: {
      readonly from: string | undefined
      readonly commit: string | undefined
      readonly branch: string
      readonly worktree: string
      readonly author: Task.Author
    }
  ) {
    const task = job.task
    const { branch, worktree, author, from } = made
    let { commit } = made
    // The attempt's head, when it is committed here: its tree keys the train's cache of green trees.
    let head: Git.Committed | undefined
    if (job.start === "agent" || job.start === "commit") {
      const t0 = Date.now()
      const committed = yield* Git.commitWork(worktree, { message: task.message, author })
      // Nothing left to commit: an agent that commits its own work (Codex, aider and others do) moved the
      // branch itself, and its commits are the attempt's work. One that did neither changed nothing.
      head = Option.isSome(committed) ? committed.value : yield* Git.headOf(worktree)
      if (Option.isNone(committed) && (from === undefined || head.commit === from)) {
        return yield* fail(job, "commit", "the agent changed nothing", worktree)
      }
      commit = head.commit
      addPhase(task.id, "commit", Date.now() - t0)
    }
    if (from === undefined || commit === undefined) {
      return yield* fail(job, "resume", "the journal lost the attempt's commit", worktree)
    }
    // The pool's own commit on top of where the attempt started: git told its changed paths with its id.
    const changed =
      head !== undefined && head.parents.length === 1 && head.parents[0] === from
        ? head.changed
        : yield* Git.changedPaths(repo, from, commit)
    const outside = Plan.outside(task, changed)
    yield* write({ _tag: "committed", task: task.id, attempt: job.attempt, commit, changed, outside })
    emit({ _tag: "Phase", task: task.id, attempt: job.attempt, worker, phase: "committed", detail: commit })
    if (outside.length > 0) {
      emit({
        _tag: "Phase",
        task: task.id,
        attempt: job.attempt,
        worker,
        phase: "outside",
        detail: outside.join(", ")
      })
      if (config.outside === "refuse") {
        return yield* fail(job, "ownership", `changed paths it does not own: ${outside.join(", ")}`, worktree)
      }
    }

    yield* gates.withPermit(gateStage(worker, job, { commit, tree: head?.tree, from, branch, worktree }))
  })

  /** The task's gate in its worktree (unless `preflight` is off), then the commit goes to the train. */
  const gateStage = Effect.fnUntraced(function* (
    worker: number,
    job: Job,
    made: {
      readonly commit: string
      readonly tree: string | undefined
      readonly from: string
      readonly branch: string
      readonly worktree: string
    }
  ) {
    const task = job.task
    const { commit, from, branch, worktree } = made
    const treeOfCommit = made.tree === undefined ? Git.treeOf(repo, commit) : Effect.succeed(made.tree)
    const gateArgv = task.gate ?? config.gate
    if (config.preflight && gateArgv !== undefined) {
      emit({ _tag: "Phase", task: task.id, attempt: job.attempt, phase: "gate" })
      if (!Fs.existsSync(worktree)) yield* Git.worktreeAddExisting(repo, { path: worktree, branch })
      const t0 = Date.now()
      // The commit's tree is looked up while the gate runs (it is what the train's cache of green trees keys on).
      const [verdict, tree] = yield* Effect.all(
        [
          gateWithRetries(gateArgv, worktree, Path.join(logDir(task.id), `gate-${job.attempt}`)).pipe(
            Effect.tap(() => Effect.sync(() => addPhase(task.id, "gate", Date.now() - t0)))
          ),
          treeOfCommit
        ],
        { concurrency: 2 }
      )
      metrics.taskGateRuns += verdict.runs
      yield* write({
        _tag: "gated",
        task: task.id,
        attempt: job.attempt,
        commit,
        tree,
        passed: verdict.passed,
        runs: verdict.runs,
        log: verdict.log
      })
      emit({
        _tag: "Gate",
        scope: "task",
        task: task.id,
        passed: verdict.passed,
        runs: verdict.runs,
        cached: false,
        log: verdict.log
      })
      if (!verdict.passed) {
        const how = verdict.timedOut ? "timed out" : `exit ${verdict.exitCode}`
        return yield* fail(job, "gate", `tests fail (${how}; log ${verdict.log})`, worktree)
      }
      if (task.gate === undefined) greenTrees.add(tree)
    } else {
      const tree = yield* treeOfCommit
      yield* write({
        _tag: "gated",
        task: task.id,
        attempt: job.attempt,
        commit,
        tree,
        passed: true,
        runs: 0,
        log: ""
      })
    }
    emit({ _tag: "Phase", task: task.id, attempt: job.attempt, phase: "ready" })
    traceMessage(
      "send",
      workerName(worker),
      "pool/train",
      readyId(task.id, job.attempt),
      jobId(task.id, job.attempt)
    )
    yield* tell({ _tag: "Ready", ready: { task, attempt: job.attempt, commit, from, branch, worktree } })
  })

  const worker = (index: number) =>
    Effect.gen(function* () {
      while (true) {
        const next =
          config.budget === undefined
            ? yield* Mailbox.take(queue).pipe(Effect.map(Option.some))
            : yield* Select.select(
                Select.budget(config.budget, () => Effect.succeed(Option.none<Job>())),
                Select.receive(queue, (job: Job) => Effect.succeed(Option.some(job)))
              )
        if (Option.isNone(next)) {
          // The budget is spent: every attempt still queued, or queued later, is skipped, none is started.
          while (true) {
            const left = yield* Mailbox.take(queue)
            if (left.start === "agent") yield* discard(left, yield* claim(left))
            yield* write({ _tag: "skipped", task: left.task.id, reason: "budget spent" })
            emit({
              _tag: "Phase",
              task: left.task.id,
              attempt: left.attempt,
              phase: "skipped",
              detail: "budget spent"
            })
            yield* tell({ _tag: "Ended", task: left.task.id, outcome: "skipped", reason: "budget spent" })
          }
        }
        const job = next.value
        traceMessage("receive", workerName(index), "pool/coordinator", jobId(job.task.id, job.attempt))
        yield* settled(job, Effect.scoped(work(index, job)))
      }
    }).pipe(
      Effect.catchTag("MailboxClosed", () => Effect.void),
      crashReported
    )

  // ---------------------------------------------------------------------------
  // the merge train
  // ---------------------------------------------------------------------------

  const trainTree = Path.join(config.root, "train")
  let trainTreeReady = false
  let trainTreeCleaning: Fiber.Fiber<void, Git.GitError> | undefined
  let batchNumber = Math.max(
    0,
    ...previous.map((entry) => (entry._tag === "merging" || entry._tag === "merged" ? entry.batch : 0))
  )

  /** Is the tree of `commit` green? Trees already gated green are not gated again. */
  const tipIsGreen = Effect.fnUntraced(function* (commit: string, tree: string, label: string) {
    if (config.gate === undefined) return true
    if (greenTrees.has(tree)) {
      metrics.cachedGates += 1
      emit({ _tag: "Gate", scope: "train", task: label, passed: true, runs: 0, cached: true, log: "" })
      return true
    }
    if (!trainTreeReady) {
      if (Fs.existsSync(trainTree)) yield* Git.worktreeRemove(repo, trainTree)
      // A run killed after moving it into the trash, before the prune, left git's entry for it: pruned, then
      // added again.
      yield* Git.worktreeAddDetached(repo, { path: trainTree, commit }).pipe(
        Effect.catchTag("GitError", () =>
          Effect.andThen(Git.worktreePrune(repo), Git.worktreeAddDetached(repo, { path: trainTree, commit }))
        )
      )
      trainTreeReady = true
    } else {
      // Cleaned after its last gate run (see below), off the train's path.
      if (trainTreeCleaning !== undefined) yield* Fiber.join(trainTreeCleaning)
      yield* Git.checkoutDetached(trainTree, commit, { clean: false })
    }
    const verdict = yield* gateWithRetries(
      config.gate,
      trainTree,
      Path.join(config.root, "logs", "train", `batch-${batchNumber}-${commit.slice(0, 12)}`)
    )
    // What the gate left behind goes now, while the train lands the batch or stacks the next one.
    trainTreeCleaning = yield* Effect.forkChild(Git.cleanWorktree(trainTree))
    metrics.trainGateRuns += verdict.runs
    emit({
      _tag: "Gate",
      scope: "train",
      task: label,
      passed: verdict.passed,
      runs: verdict.runs,
      cached: false,
      log: verdict.log
    })
    if (verdict.passed) greenTrees.add(tree)
    return verdict.passed
  })

  interface Stacked {
    readonly ready: Ready
    readonly merge: string
    readonly tree: string
  }

  // The base's moves, for the user's checkout of it to follow, off the train's path (see `follower`).
  const moves = yield* Queue.unbounded<{ readonly old: string; readonly next: string }, Cause.Done>()
  /**
   * Brings the user's checkout of the base along after the train moved it, unless they changed a file the move
   * touches (then it says the checkout is stale, and leaves it). Moves that queued up meanwhile are one move,
   * from the first's `old` to the last's `next`. A run killed before its checkout followed is caught up when
   * the pool starts again (`Pool.resolve`).
   */
  const follower = Effect.gen(function* () {
    while (true) {
      const batch = yield* Queue.takeAll(moves)
      if (batch.length === 0) continue
      const old = batch[0]!.old
      const next = batch[batch.length - 1]!.next
      const checkedOut = yield* Git.currentBranch(repo)
      if (Option.isNone(checkedOut) || checkedOut.value !== config.base) continue
      yield* Git.syncCheckout(repo, old, next).pipe(
        Effect.catch((error) =>
          Effect.sync(() =>
            emit({ _tag: "Phase", task: "(main tree)", attempt: 0, phase: "stale", detail: error.message })
          )
        )
      )
    }
  }).pipe(Effect.catchIf(Cause.isDone, () => Effect.void))

  /** Moves the base from `old` to the merge of `stack`'s last entry, journaled, then cleans the merged up. */
  const land = Effect.fnUntraced(function* (old: string, stack: ReadonlyArray<Stacked>) {
    const next = stack[stack.length - 1].merge
    const tasksOf = stack.map((s) => ({
      task: s.ready.task.id,
      attempt: s.ready.attempt,
      commit: s.ready.commit,
      merge: s.merge
    }))
    yield* write({ _tag: "merging", batch: batchNumber, old, next, tasks: tasksOf })
    const moved = yield* Effect.result(Git.updateRef(repo, baseRef, next, old))
    if (moved._tag === "Failure") {
      if (moved.failure._tag === "RefMoved") {
        baseStale = true
        return false
      }
      return yield* Effect.fail(moved.failure)
    }
    yield* write({ _tag: "merged", batch: batchNumber, old, next })
    knownBase = next
    yield* Queue.offer(moves, { old, next })
    emit({ _tag: "Merged", batch: batchNumber, tasks: tasksOf.map((t) => t.task), old, next })
    for (const part of tasksOf) {
      yield* Queue.offer(cleanups, part)
      const ready = readyId(part.task, part.attempt)
      traced("pool/train", "pool/coordinator", `pool:${part.task}:${part.attempt}:merged`, ready)
    }
    yield* tell({ _tag: "Merged", tasks: tasksOf.map((t) => ({ task: t.task, merge: t.merge })) })
    return true
  })

  /** The merge commit of `ready` onto `tip` (the tree `mergeTree` gave), as the train stacks it. */
  const mergeCommit = (tip: string, ready: Ready, tree: string) =>
    Git.commitTree(repo, {
      tree,
      parents: [tip, ready.commit],
      message: `Merge ${ready.task.id}: ${ready.task.title}\n\nhandoffkit-task: ${ready.task.id}\nhandoffkit-attempt: ${ready.attempt}`,
      author: config.committer ?? defaultIdentity
    })

  // Clean merges made ahead, while a batch's gate ran, onto its tip: what the next batch stacks first if that
  // batch lands. Keyed by the tip they were made onto, so one is only ever used where it would be made again.
  const mergedAhead = new Map<string, { readonly merge: string; readonly tree: string }>()
  const aheadKey = (onto: string, ready: Ready) => `${onto} ${ready.task.id}:${ready.attempt} ${ready.commit}`

  /**
   * While the gate of a batch with tip `tip` runs (until `done`), takes the passing branches that arrive and
   * stacks them onto `tip`, up to the next batch's size, stopping at the first conflict or resumed one. Returns
   * every branch it took, to join the queue as they would have. Nothing is made ahead when branches are still
   * waiting: they go first, so a stack onto `tip` would not be the next batch's.
   */
  const stackAhead = Effect.fnUntraced(function* (
    tip: string,
    limit: number,
    waiting: number,
    done: Deferred.Deferred<void>
  ) {
    mergedAhead.clear()
    const arrived: Array<Ready> = []
    if (waiting > 0) return arrived
    let onto = tip
    let open = true
    while (true) {
      const next = yield* Select.select(
        Select.signal(done, () => Effect.succeed(Option.none<Ready>())),
        Select.receive(trainInbox, (ready: Ready) => Effect.succeed(Option.some(ready)))
      )
      if (Option.isNone(next)) return arrived
      const ready = next.value
      arrived.push(ready)
      if (!open || ready.resumed === true || arrived.length > limit) {
        open = false
        continue
      }
      const merged = yield* Git.mergeTree(repo, onto, ready.commit)
      if (merged._tag === "Conflict") {
        open = false
        continue
      }
      const merge = yield* mergeCommit(onto, ready, merged.tree)
      mergedAhead.set(aheadKey(onto, ready), { merge, tree: merged.tree })
      onto = merge
    }
  })

  const train = Effect.gen(function* () {
    const sizing: Train.Sizing = config.serial
      ? Train.serial
      : { initial: config.batchInitial, min: 1, max: config.batchMax }
    let size = sizing.initial
    const pending: Array<Ready> = [...initialReady]
    while (true) {
      if (pending.length === 0) pending.push(yield* Mailbox.take(trainInbox))
      // Fill the batch: what is already waiting, then, up to the batch wait, what arrives. A select, not a
      // race of take against a timer, so that no passing branch is ever lost between the two.
      const deadline = Date.now() + Duration.toMillis(config.batchWait)
      while (pending.length < size) {
        const more = yield* Mailbox.poll(trainInbox)
        if (Option.isSome(more)) {
          pending.push(more.value)
          continue
        }
        const left = deadline - Date.now()
        if (left <= 0) break
        const arrived = yield* Select.select(
          Select.receive(trainInbox, (ready: Ready) => Effect.succeed(Option.some(ready))),
          Select.timeout(Duration.millis(left), () => Effect.succeed(Option.none<Ready>()))
        )
        if (Option.isNone(arrived)) break
        pending.push(arrived.value)
      }
      const batch = pending.splice(0, size)
      const received = (ready: Ready) =>
        traceMessage("receive", "pool/train", "pool/coordinator", readyId(ready.task.id, ready.attempt))
      batch.forEach(received)
      batchNumber += 1
      metrics.batches += 1
      if (baseStale) {
        knownBase = yield* Git.revParse(repo, baseRef)
        baseStale = false
      }
      const old = knownBase
      const stack: Array<Stacked> = []
      const deferred: Array<Ready> = []
      let tip = old
      // The batch's branches, then those that pass while it is stacked, up to its size: a branch that arrives
      // now joins this batch's gate run instead of waiting for the next one.
      for (let i = 0; ; i++) {
        if (i === batch.length) {
          if (batch.length >= size || pending.length > 0) break
          const more = yield* Mailbox.poll(trainInbox)
          if (Option.isNone(more)) break
          received(more.value)
          batch.push(more.value)
        }
        const ready = batch[i]!
        if (ready.resumed === true && (yield* Git.isAncestor(repo, ready.commit, old))) {
          // Already in the base (a resumed run whose move landed): merging again would be a second merge.
          yield* cleanup(ready.task.id, ready.attempt)
          yield* tell({ _tag: "Merged", tasks: [{ task: ready.task.id, merge: ready.commit }] })
          continue
        }
        const ahead = mergedAhead.get(aheadKey(tip, ready))
        if (ahead !== undefined) {
          metrics.mergedAhead += 1
          stack.push({ ready, merge: ahead.merge, tree: ahead.tree })
          tip = ahead.merge
          continue
        }
        const merged = yield* Git.mergeTree(repo, tip, ready.commit)
        if (merged._tag === "Conflict") {
          const againstBase = tip === old ? merged : yield* Git.mergeTree(repo, old, ready.commit)
          if (againstBase._tag === "Clean") {
            deferred.push(ready) // it conflicts with a batch-mate only: try it after them
            continue
          }
          const theirs = yield* Git.diff(repo, ready.from, old, againstBase.paths)
          emit({
            _tag: "Phase",
            task: ready.task.id,
            attempt: ready.attempt,
            phase: "conflicted",
            detail: againstBase.paths.join(", ")
          })
          traced(
            "pool/train",
            "pool/coordinator",
            `pool:${ready.task.id}:${ready.attempt}:conflict`,
            readyId(ready.task.id, ready.attempt)
          )
          yield* tell({ _tag: "Conflict", ready, files: againstBase.paths, theirs })
          continue
        }
        const merge = yield* mergeCommit(tip, ready, merged.tree)
        stack.push({ ready, merge, tree: merged.tree })
        tip = merge
      }
      mergedAhead.clear()
      pending.unshift(...deferred)
      if (stack.length === 0) continue
      emit({ _tag: "Batch", batch: batchNumber, tasks: stack.map((s) => s.ready.task.id), tip })
      // The next batch's merges are made while this one's gate runs. A green batch lands at once: the merge
      // being made ahead when the gate ended is finished beside the landing, not before it.
      const gated = yield* Deferred.make<void>()
      const ahead = yield* Effect.forkChild(
        stackAhead(tip, Train.next(sizing, size, true), pending.length, gated)
      )
      const green = yield* tipIsGreen(tip, stack[stack.length - 1].tree, `batch ${batchNumber}`).pipe(
        Effect.ensuring(Deferred.succeed(gated, undefined))
      )
      if (green) {
        const landed = yield* land(old, stack)
        pending.push(...(yield* Fiber.join(ahead)))
        if (!landed) pending.unshift(...stack.map((s) => s.ready))
        size = Train.next(sizing, size, true)
        continue
      }
      pending.push(...(yield* Fiber.join(ahead)))
      // Red: bisect to the first entry whose prefix is red. Before it, the prefix was gated green.
      metrics.bisections += 1
      const culprit =
        stack.length === 1
          ? 0
          : yield* Train.firstRed(stack.length, (index) =>
              index === stack.length - 1
                ? Effect.succeed(false)
                : tipIsGreen(stack[index].merge, stack[index].tree, `batch ${batchNumber} bisect`)
            )
      if (culprit > 0) {
        const landed = yield* land(old, stack.slice(0, culprit))
        if (!landed) pending.unshift(...stack.slice(0, culprit).map((s) => s.ready))
      }
      const blamed = stack[culprit].ready
      traced(
        "pool/train",
        "pool/coordinator",
        `pool:${blamed.task.id}:${blamed.attempt}:failed`,
        readyId(blamed.task.id, blamed.attempt)
      )
      yield* tell({
        _tag: "TrainFailed",
        task: blamed.task.id,
        reason:
          culprit === 0
            ? "the tests fail once it is merged into the base"
            : `the tests fail once it is merged after ${stack
                .slice(0, culprit)
                .map((s) => s.ready.task.id)
                .join(", ")}`
      })
      pending.unshift(...stack.slice(culprit + 1).map((s) => s.ready))
      size = Train.next(sizing, size, false)
    }
  }).pipe(
    Effect.catchTag("MailboxClosed", () => Effect.void),
    crashReported
  )

  // ---------------------------------------------------------------------------
  // the coordinator: dispatch in plan order, follow every task to its end
  // ---------------------------------------------------------------------------

  const waiting: Array<Job> = [...initialJobs]
  const running = new Set<string>(initialReady.map((r) => r.task.id))
  const done = new Set<string>(outcome.keys())
  const order = new Map(tasks.map((task, index) => [task.id, index]))

  const dispatch = Effect.gen(function* () {
    if (config.budget !== undefined && Budget.isExhaustedUnsafe(config.budget)) {
      for (const job of waiting.splice(0)) {
        yield* write({ _tag: "skipped", task: job.task.id, reason: "budget spent" })
        emit({
          _tag: "Phase",
          task: job.task.id,
          attempt: job.attempt,
          phase: "skipped",
          detail: "budget spent"
        })
        finish(job.task.id, {
          outcome: "skipped",
          reason: "budget spent",
          branch: undefined,
          merge: undefined
        })
        done.add(job.task.id)
      }
      return
    }
    waiting.sort((a, b) => order.get(a.task.id)! - order.get(b.task.id)!)
    const allowed =
      config.overlap === "parallel"
        ? waiting.map((job) => job.task.id)
        : Plan.ready(
            plan,
            { running, done },
            waiting.map((job) => job.task.id)
          )
    for (const id of allowed) {
      const index = waiting.findIndex((job) => job.task.id === id)
      const [job] = waiting.splice(index, 1)
      running.add(id)
      emit({ _tag: "Phase", task: id, attempt: job.attempt, phase: "queued" })
      traceMessage("send", "pool/coordinator", "pool/queue", jobId(id, job.attempt))
      if (job.start === "agent" && config.lookahead > 0) {
        warm.set(attemptKey(id, job.attempt), {
          claimed: false,
          made: yield* Deferred.make<string, unknown>()
        })
        yield* Queue.offer(toPrepare, job)
      }
      yield* Mailbox.offer(queue, job)
    }
  })

  // Forked from this fiber, one by one: a fork inside a concurrent forEach would belong to (and die with) the
  // forEach's own short-lived fibers.
  const workers: Array<Fiber.Fiber<void, unknown>> = []
  for (let index = 0; index < config.workers; index++) workers.push(yield* Effect.forkChild(worker(index)))
  const trainFiber = yield* Effect.forkChild(train)
  const preparerFiber = yield* Effect.forkChild(crashReported(preparer))
  const followerFiber = yield* Effect.forkChild(crashReported(follower))
  let cleanerFailure: Cause.Cause<unknown> | undefined
  const cleaner = yield* Effect.forkChild(
    Effect.gen(function* () {
      while (true) {
        // Whatever merged meanwhile is cleaned up together.
        const next = yield* Queue.takeAll(cleanups)
        yield* cleanupAll(
          next.map((item) => ({ task: item.task, attempt: item.attempt, merged: item.commit }))
        )
      }
    }).pipe(
      Effect.catchIf(Cause.isDone, () => Effect.void),
      Effect.catchCause((cause) => {
        cleanerFailure = cause
        return Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : tell({ _tag: "Crashed", cause })
      })
    )
  )

  const end = (task: string) => {
    running.delete(task)
    done.add(task)
  }

  yield* dispatch
  while (done.size < tasks.length) {
    const message = yield* Mailbox.take(inbox)
    switch (message._tag) {
      case "Crashed":
        return yield* Effect.failCause(message.cause as Cause.Cause<never>)
      case "Ready":
        yield* Mailbox.offer(trainInbox, message.ready)
        break
      case "Ended":
        finish(message.task, {
          outcome: message.outcome,
          reason: message.reason,
          branch:
            message.outcome === "failed"
              ? branchOf(message.task, attempts.get(message.task) ?? 1)
              : undefined,
          merge: undefined
        })
        end(message.task)
        break
      case "Merged":
        for (const part of message.tasks) {
          emit({ _tag: "Phase", task: part.task, attempt: attempts.get(part.task) ?? 1, phase: "merged" })
          finish(part.task, { outcome: "merged", reason: undefined, branch: undefined, merge: part.merge })
          end(part.task)
        }
        break
      case "TrainFailed": {
        const attempt = attempts.get(message.task) ?? 1
        yield* write({ _tag: "failed", task: message.task, attempt, phase: "train", reason: message.reason })
        const worktree = worktreeOf(message.task, attempt)
        if (Fs.existsSync(worktree)) yield* removeWorktree(worktree)
        emit({
          _tag: "Phase",
          task: message.task,
          attempt,
          phase: "failed",
          detail: `train: ${message.reason}`
        })
        finish(message.task, {
          outcome: "failed",
          reason: `train: ${message.reason}`,
          branch: branchOf(message.task, attempt),
          merge: undefined
        })
        end(message.task)
        break
      }
      case "Conflict": {
        const { ready } = message
        const worktree = worktreeOf(ready.task.id, ready.attempt)
        if (Fs.existsSync(worktree)) yield* removeWorktree(worktree)
        const again = ready.attempt <= ready.task.retries
        yield* write({
          _tag: "conflicted",
          task: ready.task.id,
          attempt: ready.attempt,
          files: message.files,
          final: !again
        })
        if (again) {
          emit({ _tag: "Phase", task: ready.task.id, attempt: ready.attempt, phase: "redispatched" })
          running.delete(ready.task.id)
          waiting.push({
            task: ready.task,
            attempt: ready.attempt + 1,
            start: "agent",
            from: undefined,
            commit: undefined,
            conflict: { files: message.files, theirs: message.theirs, previousBranch: ready.branch }
          })
        } else {
          finish(ready.task.id, {
            outcome: "conflicted",
            reason: `conflict in ${message.files.join(", ")} after ${ready.attempt} attempts`,
            branch: ready.branch,
            merge: undefined
          })
          end(ready.task.id)
        }
        break
      }
    }
    yield* dispatch
  }
  yield* Queue.end(cleanups)
  yield* Queue.end(moves)
  yield* Mailbox.close(queue, "the run is over")
  yield* Mailbox.close(trainInbox, "the run is over")
  yield* Queue.end(toPrepare)
  yield* Fiber.interruptAll([...workers, trainFiber, preparerFiber])
  // The train's worktree goes as merged ones do, while the last cleanup runs: renamed into the trash (to git it
  // is gone at once), forgotten by the prune below, emptied by fs.
  const trainTrash = Fs.existsSync(trainTree) ? intoTrash(trainTree, "train") : undefined
  yield* Fiber.join(cleaner)
  yield* Fiber.join(followerFiber)
  if (cleanerFailure !== undefined) return yield* Effect.failCause(cleanerFailure as Cause.Cause<never>)
  yield* Git.worktreePrune(repo)
  const [baseAfter] = yield* Effect.all(
    [
      Git.revParse(repo, baseRef),
      write({ _tag: "finished", interrupted: false }),
      Effect.promise(() =>
        trainTrash === undefined
          ? Promise.resolve()
          : Fs.promises.rm(trainTrash, { recursive: true, force: true })
      )
    ],
    { concurrency: "unbounded" }
  )
  const summary: Pool.Summary = {
    base: config.base,
    baseBefore,
    baseAfter,
    tasks: tasks.map((task) => outcome.get(task.id)!),
    trainGateRuns: metrics.trainGateRuns,
    taskGateRuns: metrics.taskGateRuns,
    cachedGates: metrics.cachedGates,
    gateMillis: metrics.gateMillis,
    batches: metrics.batches,
    bisections: metrics.bisections,
    mergedAhead: metrics.mergedAhead,
    millis: Date.now() - started,
    journal: journal.path
  }
  emit({ _tag: "Finished", summary })
  return summary
})
