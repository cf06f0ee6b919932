import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Effect } from "effect"
import * as Journal from "../src/Journal.ts"
import * as Pool from "../src/Pool.ts"
import { prng } from "./fixtures/prng.ts"
import {
  agent,
  branches,
  gateScript,
  goodModule,
  mergesPerTask,
  project,
  worktrees
} from "./fixtures/pool/project.ts"

// Random crashes: a random set of tasks (some break the tests), a random number of workers, and a random
// schedule of SIGKILLs, each after a random number of journal writes of the process it kills (so anywhere:
// between any two steps of any task, inside a batch's merge, during cleanup). The pool is started again on
// the same root after each, until a run completes. Whatever the schedule, the end is the one an
// uninterrupted run reaches: every good task merged exactly once, every bad one failed with its work on its
// branch, no worktree left, no other branch left; and no agent whose end was journaled ran again.
//
// HANDOFFKIT_SEED picks the first case, HANDOFFKIT_RUNS how many (each is a few pool processes).

const runner = Path.join(import.meta.dirname, "fixtures", "pool", "run.ts")
const runs = Number(process.env.HANDOFFKIT_RUNS ?? 5)
const firstSeed = Number(process.env.HANDOFFKIT_SEED ?? 20261207)

const runPool = (config: Record<string, unknown>) =>
  Effect.callback<{ code: number | null; signal: string | null; stderr: string }>((resume) => {
    const child = spawn(process.execPath, [runner, JSON.stringify(config)], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal, stderr })))
  })

describe("Pool under random crashes", () => {
  for (let i = 0; i < runs; i++) {
    const seed = firstSeed + i
    it.live(
      `seed ${seed}: killed at random journal writes, resumed until done, it ends as an uninterrupted run would`,
      () =>
        Effect.gen(function* () {
          const random = prng(seed)
          const p = yield* project()
          const agentLog = Path.join(p.dir, "agent-runs.log")
          const n = 3 + random(3)
          // Kinds: good (adds its module), bad (a module that fails the suite), shared (also rewrites shared.txt,
          // which the other shared tasks own too: they wait for each other, in file order).
          const tasks = Array.from({ length: n }, (_, k) => {
            const id = `t${k}`
            const roll = random(6)
            const bad = roll === 0
            const shared = roll >= 4
            const content = bad ? "export const check = () => false\n" : goodModule(id)
            const steps = [
              { log: agentLog },
              { sleep: random(300) },
              { write: `src/${id}.mjs`, content },
              ...(shared ? [{ write: "shared.txt", content: `line by ${id}\nsecond line\n` }] : [])
            ]
            return {
              id,
              bad,
              shared,
              entry: {
                id,
                prompt: `add ${id}`,
                owns: [`src/${id}.mjs`, ...(shared ? ["shared.txt"] : [])],
                agent: { type: "command", argv: agent(...steps) }
              }
            }
          })
          const taskFile = Path.join(p.dir, "tasks.json")
          Fs.writeFileSync(taskFile, JSON.stringify({ tasks: tasks.map((t) => t.entry) }))
          const config = {
            repo: p.repo,
            root: p.root,
            taskFile,
            workers: 1 + random(3),
            gate: ["node", gateScript, Path.join(p.dir, "gate.json"), "--", "node", "test.mjs"]
          }
          // The first run writes at least 1 + 5n entries (every task's dispatched, agent, committed, gated and
          // merged or failed): the first crash always hits. Later ones may fall after a resumed run's end.
          const crashes = Array.from({ length: 1 + random(3) }, (_, k) => 1 + random(k === 0 ? n * 5 : n * 7))
          const agentRuns = () =>
            Fs.existsSync(agentLog) ? Fs.readFileSync(agentLog, "utf8").split("\n").filter(Boolean) : []
          const count = (id: string) => agentRuns().filter((x) => x === id).length
          // For each task whose agent's end was journaled before a crash: how often its agent had run then.
          const frozen = new Map<string, number>()
          let killed = 0
          for (const crashAfterAppends of crashes) {
            const result = yield* runPool({ ...config, crashAfterAppends })
            if (result.signal !== "SIGKILL") {
              assert.strictEqual(result.code, 0, `seed ${seed}: ${result.stderr}`)
              break
            }
            killed += 1
            const entries = yield* Journal.read(Pool.journalPath(p.root))
            for (const entry of entries) {
              if (entry._tag === "agent" && !frozen.has(entry.task)) frozen.set(entry.task, count(entry.task))
            }
          }
          const last = yield* runPool(config)
          assert.strictEqual(last.code, 0, `seed ${seed}, crashes ${crashes}: ${last.stderr}`)

          assert.isAtLeast(killed, 1, `seed ${seed}: the first crash hit`)
          const info = `seed ${seed}, workers ${config.workers}, crashes after ${crashes} writes (${killed} hit)`
          const merges = mergesPerTask(p)
          for (const t of tasks) {
            if (t.bad) {
              assert.isUndefined(merges[t.id], `${info}: ${t.id} breaks the tests and must not be merged`)
              assert.isFalse(Fs.existsSync(Path.join(p.repo, "src", `${t.id}.mjs`)), info)
            } else {
              assert.strictEqual(merges[t.id], 1, `${info}: ${t.id} merged exactly once`)
              assert.strictEqual(p.git("show", `main:src/${t.id}.mjs`), goodModule(t.id).trimEnd(), info)
            }
          }
          // Shared tasks ran one after the other in file order, each on the last one's merged line.
          const lastShared = tasks.findLast((t) => t.shared && !t.bad)
          const line1 = p.git("show", "main:shared.txt").split("\n")[0]
          assert.strictEqual(
            line1,
            lastShared === undefined ? "original line" : `line by ${lastShared.id}`,
            info
          )
          assert.deepStrictEqual(worktrees(p), [p.repo], info)
          const kept = branches(p).filter((b) => b !== "main")
          assert.deepStrictEqual(
            kept.map((b) => b.split("/")[1]).toSorted(),
            tasks
              .filter((t) => t.bad)
              .map((t) => t.id)
              .toSorted(),
            `${info}: only the failed tasks keep a branch (${kept})`
          )
          for (const [task, runsThen] of frozen) {
            assert.strictEqual(count(task), runsThen, `${info}: ${task}'s agent had finished, and ran again`)
          }
          // The main tree follows the base and passes its own tests.
          assert.strictEqual(p.git("status", "--porcelain", "--untracked-files=no"), "", info)
        }),
      120_000
    )
  }
})
