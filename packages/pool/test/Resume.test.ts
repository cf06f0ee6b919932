import { assert, describe, it } from "@effect/vitest"
import { spawn, type ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Effect } from "effect"
import * as Journal from "../src/Journal.ts"
import * as Pool from "../src/Pool.ts"
import { readProc } from "./fixtures/agents/procs.ts"
import {
  agent,
  branches,
  gateScript,
  goodModule,
  mergesPerTask,
  project,
  worktrees,
  type Project
} from "./fixtures/pool/project.ts"

// The pool runs as a child process and is killed with SIGKILL at several points: in the middle of an agent,
// in the middle of a gate, and between a merge and its cleanup. Each time it is started again on the same
// root, until a run completes. The end must equal an uninterrupted run: the same tree on main, the same tasks
// merged, each exactly once, the same branches, no worktree left, and no finished step redone.

const runner = Path.join(import.meta.dirname, "fixtures", "pool", "run.ts")

interface Setup {
  readonly p: Project
  readonly taskFile: string
  readonly agentLog: string
  readonly gateState: string
  readonly pauseMarker: string
}

/** A task whose agent logs its run to `agentLog`, does `extra`, and adds its module. */
const loggedTask =
  (agentLog: string) =>
  (id: string, ...extra: ReadonlyArray<Record<string, unknown>>) => ({
    id,
    prompt: `add ${id}`,
    owns: [`src/${id}.mjs`],
    agent: {
      type: "command",
      argv: agent({ log: agentLog }, ...extra, { write: `src/${id}.mjs`, content: goodModule(id) })
    }
  })

type TaskOf = ReturnType<typeof loggedTask>

/** A project's task file, by default five tasks of which b pauses (once) in its agent. */
const setup = (
  p: Project,
  tasks: (task: TaskOf, pauseMarker: string) => ReadonlyArray<ReturnType<TaskOf>> = (task, pause) => [
    task("a"),
    task("b", { pause, ms: 60_000 }),
    task("c"),
    task("d"),
    task("e")
  ]
): Setup => {
  const agentLog = Path.join(p.dir, "agent-runs.log")
  const gateState = Path.join(p.dir, "gate.json")
  const pauseMarker = Path.join(p.dir, "paused")
  const taskFile = Path.join(p.dir, "tasks.json")
  Fs.writeFileSync(taskFile, JSON.stringify({ tasks: tasks(loggedTask(agentLog), pauseMarker) }))
  return { p, taskFile, agentLog, gateState, pauseMarker }
}

/** The pool on `s` as a child process (2 workers unless `options` say otherwise). */
const start = (
  s: Setup,
  options: { readonly crashAfter?: string; readonly workers?: number; readonly lookahead?: number } = {}
): ChildProcess =>
  spawn(
    process.execPath,
    [
      runner,
      JSON.stringify({
        repo: s.p.repo,
        root: s.p.root,
        taskFile: s.taskFile,
        workers: 2,
        gate: ["node", gateScript, s.gateState, "--", "node", "test.mjs"],
        ...options
      })
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )

const exited = (child: ChildProcess) =>
  Effect.callback<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resume) => {
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (chunk) => (stdout += chunk))
      child.stderr!.on("data", (chunk) => (stderr += chunk))
      child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    }
  )

const waitFor = (file: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 600; i++) {
      if (Fs.existsSync(file)) return
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`${file} never appeared`))
  })

/** Runs the pool and SIGKILLs it once `marker` appears. */
const killAt = (s: Setup, marker: string) =>
  Effect.gen(function* () {
    const child = start(s)
    const done = exited(child)
    yield* waitFor(marker)
    child.kill("SIGKILL")
    const result = yield* done
    assert.strictEqual(result.signal, "SIGKILL", result.stderr)
  })

const agentRuns = (s: Setup) =>
  Fs.existsSync(s.agentLog) ? Fs.readFileSync(s.agentLog, "utf8").split("\n").filter(Boolean) : []

const count = (list: ReadonlyArray<string>, id: string) => list.filter((x) => x === id).length

/** Tasks whose agent had finished (its `agent` entry is in the journal). */
const finishedAgents = (s: Setup) =>
  new Set(
    Effect.runSync(Journal.read(Pool.journalPath(s.p.root))).flatMap((e) =>
      e._tag === "agent" ? [e.task] : []
    )
  )

describe("Pool resume", () => {
  it.live(
    "killed mid-agent, mid-gate and between merge and cleanup, it resumes to the same end as an uninterrupted run",
    () =>
      Effect.gen(function* () {
        // The run that is never interrupted, for comparison.
        const clean = setup(yield* project())
        Fs.writeFileSync(clean.pauseMarker, "skip the pause\n")
        const reference = yield* exited(start(clean))
        assert.strictEqual(reference.code, 0, reference.stderr)

        const s = setup(yield* project())
        // 1. Mid-agent: b's agent pauses; kill the pool there.
        yield* killAt(s, s.pauseMarker)
        const afterFirst = { runs: agentRuns(s), finished: finishedAgents(s) }

        // 2. Mid-gate: the next gate run writes the marker and hangs; kill there.
        const gateMarker = Path.join(s.p.dir, "in-gate")
        Fs.writeFileSync(s.gateState, JSON.stringify({ touch: gateMarker, sleep: 60_000 }))
        yield* killAt(s, gateMarker)
        const afterSecond = { runs: agentRuns(s), finished: finishedAgents(s) }
        Fs.writeFileSync(s.gateState, "{}")

        // 3. Between merge and cleanup: the process dies right after journaling a merged batch.
        const third = yield* exited(start(s, { crashAfter: "merged" }))
        assert.strictEqual(third.signal, "SIGKILL", third.stderr)
        const afterThird = { runs: agentRuns(s), finished: finishedAgents(s) }
        const merging = Effect.runSync(Journal.read(Pool.journalPath(s.p.root))).filter(
          (e) => e._tag === "merged"
        )
        assert.isAtLeast(merging.length, 1)

        // 4. To the end.
        const last = yield* exited(start(s))
        assert.strictEqual(last.code, 0, last.stderr)
        const summary = JSON.parse(last.stdout) as Pool.Summary

        // Every task merged, each exactly once, as in the uninterrupted run.
        assert.deepStrictEqual(
          summary.tasks.map((t) => [t.task, t.outcome]),
          ["a", "b", "c", "d", "e"].map((id) => [id, "merged"]),
          JSON.stringify(summary.tasks)
        )
        assert.deepStrictEqual(mergesPerTask(s.p), mergesPerTask(clean.p))
        assert.deepStrictEqual(Object.values(mergesPerTask(s.p)), [1, 1, 1, 1, 1])
        assert.strictEqual(s.p.git("rev-parse", "main^{tree}"), clean.p.git("rev-parse", "main^{tree}"))
        assert.deepStrictEqual(branches(s.p), branches(clean.p))
        assert.deepStrictEqual(
          branches(s.p),
          ["main"],
          JSON.stringify(
            Effect.runSync(Journal.read(Pool.journalPath(s.p.root))).filter((e) => e._tag !== "run")
          )
        )
        assert.deepStrictEqual(worktrees(s.p), [s.p.repo])
        assert.strictEqual(s.p.git("status", "--porcelain"), "")

        // Nothing finished was redone: an agent that had finished before a kill never ran again.
        const runs = agentRuns(s)
        for (const before of [afterFirst, afterSecond, afterThird]) {
          for (const id of before.finished) {
            assert.strictEqual(
              count(runs, id),
              count(before.runs, id),
              `${id}'s agent ran again after it had finished`
            )
          }
        }
        // The agent and the gate the killed runs left behind (process groups of their own) were stopped by the
        // runs that resumed, not left to write into worktrees being redone.
        for (const marker of [s.pauseMarker, gateMarker]) {
          const pid = Number(Fs.readFileSync(marker, "utf8").trim())
          const proc = readProc(pid)
          assert.isTrue(
            proc === undefined || proc.state === "Z",
            `the process ${pid} of ${marker} outlived its run`
          )
        }
        // b was killed mid-agent and ran again. Another agent runs twice only when a kill caught it running too
        // (the loop above proves no finished one did): never more often than there were kills.
        assert.isAtLeast(count(runs, "b"), 2)
        for (const id of ["a", "b", "c", "d", "e"]) assert.isAtMost(count(runs, id), 3, id)
      }),
    240_000
  )

  it.live(
    "killed while worktrees made ahead wait for a worker, it removes them and makes them again when resumed",
    () =>
      Effect.gen(function* () {
        const s = setup(yield* project(), (task, pause) => [
          task("a", { pause, ms: 60_000 }),
          task("b"),
          task("c")
        ])
        const p = s.p
        const options = { workers: 1, lookahead: 2 }
        const run = () => start(s, options)
        const journalNow = () =>
          Fs.existsSync(Pool.journalPath(p.root))
            ? Effect.runSync(Journal.read(Pool.journalPath(p.root)))
            : []
        // While a's agent pauses, the one worker is busy: b's and c's worktrees are made ahead of it.
        const child = run()
        const done = exited(child)
        yield* waitFor(s.pauseMarker)
        const madeAhead = () =>
          journalNow().flatMap((e) => (e._tag === "prepared" && Fs.existsSync(e.worktree) ? [e] : []))
        for (let i = 0; i < 600 && madeAhead().length < 2; i++) yield* Effect.sleep("50 millis")
        // Let the second checkout finish (its `prepared` entry is written before it is made).
        yield* Effect.sleep("300 millis")
        child.kill("SIGKILL")
        assert.strictEqual((yield* done).signal, "SIGKILL")
        const left = madeAhead()
        assert.deepStrictEqual(left.map((e) => e.task).toSorted(), ["b", "c"])
        assert.isFalse(journalNow().some((e) => e._tag === "dispatched" && e.task !== "a"))
        assert.sameMembers(
          branches(p),
          ["main", "handoffkit/a/1", "handoffkit/b/1", "handoffkit/c/1"],
          "the killed run left its branches"
        )

        // Resumed, the run removes them before it makes any worktree: killed at its first `prepared` entry (before
        // that worktree is made), none of the ones left is on disk, nor its branch.
        const second = yield* exited(start(s, { ...options, crashAfter: "prepared" }))
        assert.strictEqual(second.signal, "SIGKILL", second.stderr)
        for (const entry of left) assert.isFalse(Fs.existsSync(entry.worktree), entry.worktree)
        assert.notIncludeMembers(branches(p), ["handoffkit/b/1", "handoffkit/c/1"])

        const last = yield* exited(run())
        assert.strictEqual(last.code, 0, last.stderr)
        const summary = JSON.parse(last.stdout) as Pool.Summary
        assert.deepStrictEqual(
          summary.tasks.map((t) => [t.task, t.outcome]),
          [
            ["a", "merged"],
            ["b", "merged"],
            ["c", "merged"]
          ]
        )
        assert.deepStrictEqual(mergesPerTask(p), { a: 1, b: 1, c: 1 })
        assert.deepStrictEqual(branches(p), ["main"])
        assert.deepStrictEqual(worktrees(p), [p.repo])
        assert.strictEqual(p.git("status", "--porcelain"), "")
        // b and c never ran before the kill; each agent ran once, in the resumed run.
        assert.strictEqual(count(agentRuns(s), "b"), 1)
        assert.strictEqual(count(agentRuns(s), "c"), 1)
      }),
    120_000
  )
})
