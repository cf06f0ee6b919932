import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect, Exit, Layer } from "effect"
import { Budget } from "@handoffkit/core"
import * as Git from "../src/Git.ts"
import * as Journal from "../src/Journal.ts"
import * as Pool from "../src/Pool.ts"
import {
  agent,
  branches,
  gateScript,
  goodModule,
  mergesPerTask,
  project,
  tasksOf,
  worktrees,
  type Project
} from "./fixtures/pool/project.ts"
import { readProc, runningInGroup } from "./fixtures/agents/procs.ts"

// End to end: real temporary repositories whose test command really runs, command agents that are real
// processes, real worktrees and branches. Nothing here is mocked.

const runPool = (p: Project, config: Omit<Pool.Config, "repo" | "root">) =>
  Pool.run({ repo: p.repo, root: p.root, ...config }).pipe(Effect.provide(Pool.layerNode(p.root)))

const command = (...steps: ReadonlyArray<Record<string, unknown>>) => ({
  type: "command",
  argv: agent(...steps)
})

const writes = (id: string) => ({
  id,
  prompt: `add the module ${id}`,
  owns: [`src/${id}.mjs`],
  agent: command({ write: `src/${id}.mjs`, content: goodModule(id) })
})

const outcomes = (summary: Pool.Summary) => Object.fromEntries(summary.tasks.map((t) => [t.task, t.outcome]))

const journalOf = (p: Project) => Effect.runSync(Journal.read(Pool.journalPath(p.root)))

/** Gate runs on the train for 8 passing tasks merged with `batch`. */
const trainGateRunsFor = (batch: Pool.Config["batch"]) =>
  Effect.gen(function* () {
    const p = yield* project()
    const tasks = yield* tasksOf(["a", "b", "c", "d", "e", "f", "g", "h"].map(writes))
    const summary = yield* runPool(p, {
      tasks,
      workers: 4,
      gate: ["node", "test.mjs"],
      preflight: false,
      batch
    })
    assert.deepStrictEqual(new Set(Object.values(outcomes(summary))), new Set(["merged"]))
    assert.deepStrictEqual(Object.values(mergesPerTask(p)), Array(8).fill(1))
    return summary.trainGateRuns
  }).pipe(Effect.scoped)

describe("Pool", () => {
  // With `Git.layerForked` (what `layerFor` and `layerNode` use), agents start from the server that starts git:
  // each agent finds its parent is a fork server whose parent is this process, and that it is the only one.
  it.live("agents start from the git service's fork server: one fork server per run", () =>
    Effect.gen(function* () {
      const p = yield* project()
      const script = String.raw`
        const fs = require("fs")
        const parentOf = (pid) => {
          try {
            const stat = fs.readFileSync("/proc/" + pid + "/stat", "utf8")
            return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
          } catch { return -1 }
        }
        const isServer = (pid) => {
          try { return fs.readFileSync("/proc/" + pid + "/cmdline", "utf8").includes("const errCap = 65536") }
          catch { return false }
        }
        const pool = parentOf(process.ppid)
        const servers = fs.readdirSync("/proc").filter((d) => /^[0-9]+$/.test(d) && parentOf(d) === pool && isServer(d))
        fs.writeFileSync("out-" + process.env.HANDOFFKIT_TASK_ID + ".json",
          JSON.stringify({ server: process.ppid, isServer: isServer(process.ppid), pool, servers: servers.length }))
      `
      const ids = ["s1", "s2", "s3"]
      const tasks = yield* tasksOf(
        ids.map((id) => ({
          id,
          prompt: id,
          owns: [`out-${id}.json`],
          agent: { type: "command", argv: ["node", "-e", script] }
        }))
      )
      const summary = yield* runPool(p, { tasks, workers: 3 })
      assert.deepStrictEqual(outcomes(summary), { s1: "merged", s2: "merged", s3: "merged" })
      const seen = ids.map(
        (id) =>
          JSON.parse(Fs.readFileSync(Path.join(p.repo, `out-${id}.json`), "utf8")) as {
            server: number
            isServer: boolean
            pool: number
            servers: number
          }
      )
      for (const one of seen) {
        assert.isTrue(one.isServer, "the agent's parent is a fork server")
        assert.strictEqual(one.pool, process.pid, "whose parent is the pool's process")
        assert.strictEqual(one.servers, 1, "the only fork server of the pool's process")
      }
      assert.strictEqual(new Set(seen.map((one) => one.server)).size, 1)
    }).pipe(Effect.scoped)
  )

  it.live(
    "10 tasks, 3 workers: the passing ones merged, a breaking one bisected and kept, a same-line conflict re-dispatched and merged",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const tasks = yield* tasksOf([
          ...["t1", "t2", "t3", "t4", "t5", "t6", "t7"].map(writes),
          {
            // Its own narrow gate passes; the repository's suite, on the train, does not.
            id: "breaker",
            prompt: "change the core value",
            owns: ["src/core.mjs", "src/breaker.mjs"],
            gate: ["node", "test.mjs", "src/breaker.mjs"],
            agent: command(
              { write: "src/core.mjs", content: "export const value = 2\n" },
              { write: "src/breaker.mjs", content: "export const check = (core) => core.value === 2\n" }
            )
          },
          {
            id: "line-a",
            prompt: "rewrite line 1",
            owns: ["shared.txt"],
            agent: command({ line: "shared.txt", text: "A" })
          },
          {
            id: "line-b",
            prompt: "rewrite line 1",
            owns: ["shared.txt"],
            agent: command({ line: "shared.txt", text: "B" })
          }
        ])
        const summary = yield* runPool(p, {
          tasks,
          workers: 3,
          gate: ["node", "test.mjs"],
          overlap: "parallel"
        })

        const byTask = outcomes(summary)
        for (const id of ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "line-a", "line-b"]) {
          assert.strictEqual(
            byTask[id],
            "merged",
            `${id}: ${JSON.stringify(summary.tasks.find((t) => t.task === id))}`
          )
        }
        const breaker = summary.tasks.find((t) => t.task === "breaker")!
        assert.strictEqual(breaker.outcome, "failed")
        assert.match(breaker.reason ?? "", /^train: the tests fail/)
        // One of the same-line pair went back to its agent with the conflict, and merged on its second attempt.
        const lines = summary.tasks.filter((t) => t.task.startsWith("line-"))
        assert.deepStrictEqual(lines.map((t) => t.attempts).toSorted(), [1, 2])
        const conflicted = journalOf(p).filter((e) => e._tag === "conflicted")
        assert.strictEqual(conflicted.length, 1)
        assert.deepStrictEqual(conflicted[0]._tag === "conflicted" && conflicted[0].files, ["shared.txt"])
        const firstLine = p.git("show", "main:shared.txt").split("\n")[0]
        assert.match(firstLine, /^(A B|B A)$/)

        // Each merged task is merged exactly once; the breaker never.
        const merges = mergesPerTask(p)
        for (const id of ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "line-a", "line-b"])
          assert.strictEqual(merges[id], 1)
        assert.strictEqual(merges["breaker"], undefined)
        // The breaker's reason is in the journal; its branch holds its work.
        const failed = journalOf(p).find((e) => e._tag === "failed" && e.task === "breaker")
        assert.strictEqual(failed?._tag === "failed" && failed.phase, "train")
        assert.strictEqual(p.git("show", "handoffkit/breaker/1:src/core.mjs"), "export const value = 2")

        // Only the main tree is left; only merged branches are gone.
        assert.deepStrictEqual(worktrees(p), [p.repo])
        const loser = lines.find((t) => t.attempts === 2)!.task
        assert.deepStrictEqual(
          branches(p),
          ["handoffkit/breaker/1", `handoffkit/${loser}/1`, "main"].toSorted()
        )
        // The main tree followed the base and passes its own suite.
        assert.strictEqual(p.git("status", "--porcelain"), "")
        assert.strictEqual(p.git("rev-parse", "HEAD"), summary.baseAfter)
        execFileSync("node", ["test.mjs"], { cwd: p.repo })
        assert.isTrue(summary.trainGateRuns >= 1)
      }),
    120_000
  )

  it.live(
    "the train gates fewer times than serial merging: 8 passing tasks",
    () =>
      Effect.gen(function* () {
        const serial = yield* trainGateRunsFor("serial")
        const train = yield* trainGateRunsFor({ initial: 4, max: 8, wait: "2 seconds" })
        assert.strictEqual(serial, 8)
        assert.isBelow(train, serial)
        assert.isAtMost(train, 2) // two batches of four: one gate each
      }),
    120_000
  )

  it.live(
    "one bad task in a batch of 6: the train bisects to it, the 5 good ones are merged and the bad one named",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const tasks = yield* tasksOf([
          writes("a"),
          writes("b"),
          writes("c"),
          {
            id: "bad",
            prompt: "break it",
            owns: ["src/bad.mjs"],
            agent: command({ write: "src/bad.mjs", content: "export const check = () => false\n" })
          },
          writes("d"),
          writes("e")
        ])
        const events: Array<Pool.Event> = []
        const summary = yield* runPool(p, {
          tasks,
          workers: 6,
          gate: ["node", "test.mjs"],
          preflight: false,
          batch: { initial: 6, wait: "5 seconds" },
          onEvent: (event) => void events.push(event)
        })
        assert.deepStrictEqual(outcomes(summary), {
          a: "merged",
          b: "merged",
          c: "merged",
          bad: "failed",
          d: "merged",
          e: "merged"
        })
        const first = events.find((e) => e._tag === "Batch")
        assert.strictEqual(first?._tag === "Batch" && first.tasks.length, 6)
        assert.strictEqual(summary.bisections, 1)
        assert.match(summary.tasks.find((t) => t.task === "bad")!.reason ?? "", /tests fail/)
        assert.deepStrictEqual(branches(p), ["handoffkit/bad/1", "main"])
        // The red tip (2 runs: a red gate is re-run once before it is believed), ceil(log2 6) = 3 bisection
        // probes (2 runs each at most: the red ones re-run too; a green one merges what it holds), then the
        // rest, in batches halved by the red (3): at most 2 + 6 + 2, where the batch's order (the order the
        // tasks got ready in) puts the culprit.
        assert.isAtMost(summary.trainGateRuns, 10)
        const probes = events.filter(
          (e) => e._tag === "Gate" && e.scope === "train" && e.task.endsWith("bisect")
        )
        assert.isAtMost(probes.length, 3)
      }),
    120_000
  )

  it.live(
    "a flaky gate (fails once, then passes) is retried and merged",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const state = Path.join(p.dir, "flaky.json")
        Fs.writeFileSync(state, JSON.stringify({ failFirst: 1 }))
        const tasks = yield* tasksOf([writes("a")])
        const summary = yield* runPool(p, {
          tasks,
          workers: 1,
          gate: ["node", gateScript, state, "--", "node", "test.mjs"],
          flakyRetries: 1
        })
        assert.strictEqual(outcomes(summary).a, "merged")
        assert.strictEqual(summary.taskGateRuns, 2)
        // The green tree was not gated again on the train: the base had not moved.
        assert.strictEqual(summary.trainGateRuns, 0)
        assert.strictEqual(Fs.readFileSync(`${state}.runs`, "utf8").trim().split("\n").length, 2)
      }),
    60_000
  )

  it.live(
    "a gate that keeps failing is believed: the task fails with its log and keeps its branch",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const tasks = yield* tasksOf([
          {
            id: "bad",
            prompt: "x",
            owns: ["src/bad.mjs"],
            agent: command({ write: "src/bad.mjs", content: "export const check = () => false\n" })
          }
        ])
        const summary = yield* runPool(p, { tasks, gate: ["node", "test.mjs"], flakyRetries: 2 })
        const bad = summary.tasks[0]
        assert.strictEqual(bad.outcome, "failed")
        assert.strictEqual(summary.taskGateRuns, 3)
        const log = /log (\S+)\)/.exec(bad.reason ?? "")![1]
        assert.include(Fs.readFileSync(log, "utf8"), "FAIL src/bad.mjs")
        assert.isTrue(log.startsWith(p.root))
        assert.deepStrictEqual(branches(p), ["handoffkit/bad/1", "main"])
        assert.deepStrictEqual(worktrees(p), [p.repo])
      }),
    60_000
  )

  it.live(
    "a hanging agent is killed at its timeout with every process of its group, and its task fails",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const pids = Path.join(p.dir, "pids")
        const tasks = yield* tasksOf([
          {
            id: "hang",
            prompt: "x",
            owns: ["a.txt"],
            timeout: 1500,
            agent: command({ write: "a.txt", content: "partial" }, { hang: pids })
          }
        ])
        const summary = yield* runPool(p, { tasks, gate: ["node", "test.mjs"] })
        assert.strictEqual(summary.tasks[0].outcome, "failed")
        assert.match(summary.tasks[0].reason ?? "", /timed out/)
        const [agentPid, sleeperPid] = Fs.readFileSync(pids, "utf8").trim().split(" ").map(Number)
        // Killed, both of them (a zombie, which waits only for pid 1 to reap it, runs nothing)...
        for (const pid of [agentPid, sleeperPid]) {
          const proc = readProc(pid)
          assert.isTrue(
            proc === undefined || proc.state === "Z",
            `process ${pid} still runs: ${JSON.stringify(proc)}`
          )
        }
        // ...and no member of the process group the agent led runs.
        assert.deepStrictEqual(runningInGroup(agentPid), [])
        // What it wrote before it hung is kept on its branch.
        assert.strictEqual(p.git("show", "handoffkit/hang/1:a.txt"), "partial")
        assert.deepStrictEqual(worktrees(p), [p.repo])
      }),
    60_000
  )

  it.live(
    "a spent budget stops new tasks: the rest are skipped, none started",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const budget = yield* Budget.make({ calls: 2 })
        const tasks = yield* tasksOf(["a", "b", "c", "d", "e"].map(writes))
        const summary = yield* runPool(p, { tasks, workers: 1, gate: ["node", "test.mjs"], budget })
        const byTask = outcomes(summary)
        assert.deepStrictEqual(Object.values(byTask).toSorted(), [
          "merged",
          "merged",
          "skipped",
          "skipped",
          "skipped"
        ])
        const dispatched = journalOf(p).filter((e) => e._tag === "dispatched").length
        assert.strictEqual(dispatched, 2)
        // The worktrees made ahead for the skipped ones went with them.
        assert.deepStrictEqual(branches(p), ["main"])
        assert.deepStrictEqual(worktrees(p), [p.repo])
      }),
    60_000
  )

  it.live(
    "the user's checkout follows the base, except where they edited a file a merge touches: that is kept, and reported",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const events: Array<Pool.Event> = []
        // a's agent edits shared.txt in its worktree, and (as the user, meanwhile) in the main tree too. It
        // finishes once b is merged, so that b's move of the base and a's are two (a move git refuses to follow
        // brings none of its files, b's included, had they landed together).
        const bMerged = Path.join(p.dir, "b-merged")
        const a = {
          id: "a",
          prompt: "edit shared",
          owns: ["shared.txt"],
          agent: command(
            { write: Path.join(p.repo, "shared.txt"), content: "the user's own edit\n" },
            { waitFor: bMerged },
            { write: "shared.txt", content: "line by a\nsecond line\n" }
          )
        }
        const tasks = yield* tasksOf([a, writes("b")])
        const summary = yield* runPool(p, {
          tasks,
          workers: 2,
          gate: ["node", "test.mjs"],
          onEvent: (event) => {
            events.push(event)
            if (event._tag === "Merged" && event.tasks.includes("b")) Fs.writeFileSync(bMerged, "")
          }
        })
        assert.deepStrictEqual(outcomes(summary), { a: "merged", b: "merged" })
        assert.strictEqual(p.git("show", "main:shared.txt"), "line by a\nsecond line")
        // The user's edit is still there, and the run said the checkout is stale.
        assert.strictEqual(Fs.readFileSync(Path.join(p.repo, "shared.txt"), "utf8"), "the user's own edit\n")
        assert.isTrue(
          events.some((e) => e._tag === "Phase" && e.task === "(main tree)" && e.phase === "stale"),
          JSON.stringify(events.filter((e) => e._tag === "Phase" && e.task === "(main tree)"))
        )
        // Where they edited nothing, the checkout followed: b's module is there.
        assert.isTrue(Fs.existsSync(Path.join(p.repo, "src", "b.mjs")))
      }),
    60_000
  )

  it.live("every train gate run starts from exactly its commit's files: what the last one left is gone", () =>
    Effect.gen(function* () {
      const p = yield* project()
      const tasks = yield* tasksOf(["a", "b", "c"].map(writes))
      // Fails if an earlier run's output is still there, then leaves some (untracked, and ignored by -x too).
      const gate = [
        "sh",
        "-c",
        "test ! -e gate-output && mkdir gate-output && touch gate-output/x && node test.mjs"
      ]
      const summary = yield* runPool(p, { tasks, workers: 1, preflight: false, batch: "serial", gate })
      assert.deepStrictEqual(outcomes(summary), { a: "merged", b: "merged", c: "merged" })
      assert.strictEqual(summary.trainGateRuns, 3)
    }).pipe(Effect.scoped)
  )

  it.live(
    "a train worktree a killed run left registered but gone (moved to the trash, not pruned) is made again",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const train = Path.join(p.root, "train")
        p.git("worktree", "add", "--detach", train, "main")
        Fs.rmSync(train, { recursive: true, force: true })
        const tasks = yield* tasksOf([writes("a")])
        const summary = yield* runPool(p, { tasks, workers: 1, preflight: false, gate: ["node", "test.mjs"] })
        assert.deepStrictEqual(outcomes(summary), { a: "merged" })
        assert.strictEqual(summary.trainGateRuns, 1)
        assert.deepStrictEqual(worktrees(p), [p.repo])
        assert.isFalse(Fs.existsSync(train))
      }).pipe(Effect.scoped)
  )

  it.live("a branch that passes while the train stacks a batch joins that batch, and its one gate run", () =>
    Effect.gen(function* () {
      const p = yield* project()
      const bPasses = yield* Deferred.make<void>()
      // The train's first merge waits until b has passed (and a moment more, for b to reach the train's inbox):
      // a was taken alone, and b arrives while a is being stacked.
      let first = true
      const git = Layer.effect(
        Git.Git,
        Effect.map(Git.make, (real) =>
          Git.Git.of({
            run: (dir, args, options) => {
              if (args[0] !== "merge-tree" || !first) return real.run(dir, args, options)
              first = false
              return Deferred.await(bPasses).pipe(
                Effect.andThen(Effect.sleep("300 millis")),
                Effect.andThen(real.run(dir, args, options))
              )
            }
          })
        )
      )
      const aPassed = Path.join(p.dir, "a-passed")
      const b = Object.assign(writes("b"), {
        agent: command({ waitFor: aPassed }, { write: "src/b.mjs", content: goodModule("b") })
      })
      const tasks = yield* tasksOf([writes("a"), b])
      const summary = yield* Pool.run({
        repo: p.repo,
        root: p.root,
        tasks,
        workers: 2,
        preflight: false,
        gate: ["node", "test.mjs"],
        onEvent: (event) => {
          if (event._tag !== "Phase" || event.phase !== "ready") return
          if (event.task === "a") Fs.writeFileSync(aPassed, "")
          if (event.task === "b") Deferred.doneUnsafe(bPasses, Exit.void)
        }
      }).pipe(
        Effect.provide(
          Layer.mergeAll(git, Journal.layerFile(Pool.journalPath(p.root))).pipe(
            Layer.provideMerge(NodeServices.layer)
          )
        )
      )
      assert.deepStrictEqual(outcomes(summary), { a: "merged", b: "merged" })
      assert.strictEqual(summary.batches, 1, JSON.stringify(summary))
      assert.strictEqual(summary.trainGateRuns, 1, JSON.stringify(summary))
      assert.deepStrictEqual(Object.values(mergesPerTask(p)), [1, 1])
    }).pipe(Effect.scoped)
  )

  it.live(
    "while a batch's gate runs, the train merges what arrives onto its tip, and stacks those merges next",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        // a reaches the train alone; its gate is slow; the others arrive while it runs.
        const later = ["b", "c", "d", "e"].map((id) =>
          Object.assign(writes(id), {
            agent: command({ sleep: 300 }, { write: `src/${id}.mjs`, content: goodModule(id) })
          })
        )
        const tasks = yield* tasksOf([writes("a"), ...later])
        const summary = yield* runPool(p, {
          tasks,
          workers: 5,
          preflight: false,
          gate: ["sh", "-c", "sleep 1.5 && node test.mjs"]
        })
        assert.deepStrictEqual(Object.values(outcomes(summary)), Array(5).fill("merged"))
        assert.isAtLeast(summary.mergedAhead, 1, JSON.stringify(summary))
        // The history is the one the train makes without it: one merge per task on the first-parent line, its
        // second parent the task's commit, its message naming the task.
        const line = p.git("rev-list", "--first-parent", `${summary.baseBefore}..main`).split("\n")
        assert.strictEqual(line.length, 5)
        const named = line.map((merge) => p.git("log", "-1", "--format=%s", merge).split(":")[0])
        assert.sameMembers(named, ["Merge a", "Merge b", "Merge c", "Merge d", "Merge e"])
        for (const merge of line) {
          const parents = p.git("rev-list", "--parents", "-n", "1", merge).split(" ")
          assert.strictEqual(parents.length, 3, merge)
        }
        execFileSync("node", ["test.mjs"], { cwd: p.repo })
        assert.deepStrictEqual(mergesPerTask(p), { a: 1, b: 1, c: 1, d: 1, e: 1 })
      }),
    60_000
  )

  it.live(
    "an agent that commits its own work: its commits are the attempt's, merged as they are; one that changes nothing fails",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const git = "git -c user.name=Agent -c user.email=agent@example.com"
        const selfCommit = (id: string, more: string) => ({
          id,
          prompt: `add ${id} and commit it`,
          owns: [`src/${id}.mjs`, `notes-${id}.txt`],
          agent: {
            type: "command",
            argv: [
              "sh",
              "-c",
              `mkdir -p src && printf '%s' "$0" > src/${id}.mjs && git add -A && ${git} commit -qm "${id} by its agent"${more}`,
              goodModule(id)
            ]
          }
        })
        const tasks = yield* tasksOf([
          // Commits everything itself.
          selfCommit("a", ""),
          // Commits, then leaves one more file uncommitted: the pool commits that on top.
          selfCommit("b", ` && echo later > notes-b.txt`),
          { id: "idle", prompt: "do nothing", owns: ["x"], agent: command() }
        ])
        const summary = yield* runPool(p, { tasks, workers: 2, gate: ["node", "test.mjs"] })
        assert.deepStrictEqual(outcomes(summary), { a: "merged", b: "merged", idle: "failed" })
        assert.include(summary.tasks[2]!.reason, "the agent changed nothing")
        assert.strictEqual(p.git("show", "main:src/a.mjs"), goodModule("a").trimEnd())
        assert.strictEqual(p.git("show", "main:notes-b.txt"), "later")
        // a's merge has the agent's own commit as its second parent; b's has the pool's commit on top of it.
        const second = (id: string) => summary.tasks.find((t) => t.task === id)!.merge! + "^2"
        assert.strictEqual(p.git("log", "-1", "--format=%s", second("a")), "a by its agent")
        assert.strictEqual(p.git("log", "-1", "--format=%s", `${second("b")}^`), "b by its agent")
        const committed = journalOf(p).find((e) => e._tag === "committed" && e.task === "a")
        assert(committed?._tag === "committed")
        assert.deepStrictEqual(committed.changed, ["src/a.mjs"])
      }),
    60_000
  )

  it.live(
    "lookahead 0: no worktree is made ahead, each worker makes its own, and the run ends the same",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const tasks = yield* tasksOf(["a", "b", "c", "d"].map(writes))
        const summary = yield* runPool(p, { tasks, workers: 2, lookahead: 0, gate: ["node", "test.mjs"] })
        assert.deepStrictEqual(outcomes(summary), { a: "merged", b: "merged", c: "merged", d: "merged" })
        const journal = journalOf(p)
        assert.strictEqual(journal.filter((e) => e._tag === "prepared").length, 0)
        assert.strictEqual(journal.filter((e) => e._tag === "dispatched").length, 4)
        assert.deepStrictEqual(branches(p), ["main"])
        assert.deepStrictEqual(worktrees(p), [p.repo])
        const refused = yield* runPool(p, { tasks, lookahead: -1 }).pipe(Effect.flip)
        assert.include(refused.message, "lookahead must be an integer >= 0, got -1")
      }),
    60_000
  )

  it.live(
    "a worktree made ahead starts from the base as it is when its worker takes it, not as it was when it was made",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const base0 = p.git("rev-parse", "main")
        // One worker: while `slow` runs, `a` (before it) merges, and `b` waits with its worktree made at base0.
        const slow = {
          ...writes("slow"),
          agent: command({ sleep: 1500 }, { write: "src/slow.mjs", content: goodModule("slow") })
        }
        const tasks = yield* tasksOf([writes("a"), slow, writes("b")])
        const summary = yield* runPool(p, { tasks, workers: 1, lookahead: 2, gate: ["node", "test.mjs"] })
        assert.deepStrictEqual(outcomes(summary), { a: "merged", slow: "merged", b: "merged" })
        const journal = journalOf(p)
        const prepared = journal.find((e) => e._tag === "prepared" && e.task === "b")
        const dispatched = journal.find((e) => e._tag === "dispatched" && e.task === "b")
        const committed = journal.find((e) => e._tag === "committed" && e.task === "b")
        assert(
          prepared?._tag === "prepared" &&
            dispatched?._tag === "dispatched" &&
            committed?._tag === "committed"
        )
        assert.strictEqual(prepared.from, base0, "made ahead, at the base of the run's start")
        assert.notStrictEqual(dispatched.from, base0, "a merged before b's worker took it")
        assert.isTrue(p.git("merge-base", "--is-ancestor", summary.tasks[0]!.merge!, dispatched.from) === "")
        // b's agent worked on the moved base: its commit's parent is it, and it changed only its own file (a
        // worktree left at base0 would have "deleted" a's module).
        assert.strictEqual(p.git("rev-parse", `${committed.commit}^`), dispatched.from)
        assert.deepStrictEqual(committed.changed, ["src/b.mjs"])
        assert.deepStrictEqual(committed.outside, [])
        assert.deepStrictEqual(worktrees(p), [p.repo])
      }),
    60_000
  )

  it.live(
    "overlapping tasks never run at the same time by default",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const tasks = yield* tasksOf([
          {
            id: "one",
            prompt: "x",
            owns: ["shared.txt"],
            agent: command({ sleep: 300 }, { line: "shared.txt", text: "one" })
          },
          { id: "two", prompt: "x", owns: ["shared.*"], agent: command({ line: "shared.txt", text: "two" }) }
        ])
        const events: Array<Pool.Event> = []
        const summary = yield* runPool(p, {
          tasks,
          workers: 2,
          gate: ["node", "test.mjs"],
          onEvent: (event) => void events.push(event)
        })
        assert.deepStrictEqual(outcomes(summary), { one: "merged", two: "merged" })
        const phases = events.flatMap((e) => (e._tag === "Phase" ? [`${e.task}:${e.phase}`] : []))
        // `two` is queued only once `one` is merged: no conflict, no retry.
        assert.isBelow(phases.indexOf("one:merged"), phases.indexOf("two:queued"))
        assert.strictEqual(summary.tasks.find((t) => t.task === "two")!.attempts, 1)
        assert.strictEqual(p.git("show", "main:shared.txt").split("\n")[0], "two")
      }),
    60_000
  )

  it.live(
    "changes outside a task's owned paths are reported, or refused by option",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const tasks = yield* tasksOf([
          {
            id: "stray",
            prompt: "x",
            owns: ["src/stray.mjs"],
            agent: command(
              { write: "src/stray.mjs", content: goodModule("s") },
              { write: "notes.txt", content: "x" }
            )
          }
        ])
        const events: Array<Pool.Event> = []
        const refused = yield* runPool(p, {
          tasks,
          gate: ["node", "test.mjs"],
          outside: "refuse",
          onEvent: (event) => void events.push(event)
        })
        assert.strictEqual(refused.tasks[0].outcome, "failed")
        assert.match(refused.tasks[0].reason ?? "", /does not own: notes\.txt/)
        assert.isTrue(
          events.some((e) => e._tag === "Phase" && e.phase === "outside" && e.detail === "notes.txt")
        )
        assert.deepStrictEqual(branches(p), ["handoffkit/stray/1", "main"])
      }),
    60_000
  )

  it.live("a dirty main tree is refused before anything starts", () =>
    Effect.gen(function* () {
      const p = yield* project()
      Fs.writeFileSync(Path.join(p.repo, "shared.txt"), "edited by hand\n")
      const tasks = yield* tasksOf([writes("a")])
      const error = yield* runPool(p, { tasks, gate: ["node", "test.mjs"] }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "PoolError")
      assert.match(error.message, /uncommitted changes \(shared\.txt\)/)
      assert.isFalse(Fs.existsSync(Path.join(p.root, "worktrees")))
      assert.deepStrictEqual(branches(p), ["main"])
    })
  )

  it.live("a worktree root inside the main tree is refused", () =>
    Effect.gen(function* () {
      const p = yield* project()
      const tasks = yield* tasksOf([writes("a")])
      const error = yield* Pool.run({ repo: p.repo, root: Path.join(p.repo, "wt"), tasks }).pipe(
        Effect.provide(Pool.layerNode(Path.join(p.dir, "elsewhere"))),
        Effect.flip
      )
      assert.match(error.message, /is inside the main tree/)
    })
  )
})
