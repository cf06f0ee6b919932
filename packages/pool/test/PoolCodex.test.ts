import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ScriptedServer } from "@handoffkit/llm"
import * as Agents from "../src/Agents.ts"
import * as Pool from "../src/Pool.ts"
import { branches, mergesPerTask, project, tasksOf, worktrees } from "./fixtures/pool/project.ts"

// The real codex binary (node_modules/@openai/codex) as the pool's agent, driven by a scripted model server on
// 127.0.0.1: each task's codex run is told to run one shell command that writes the task's file and prints
// its CODEX_HOME, whose output comes back to the server in the next request.

const { Turn } = ScriptedServer

const inputOf = (request: ScriptedServer.RecordedRequest): string =>
  JSON.stringify((request.body as { readonly input?: unknown } | undefined)?.input ?? "")

const script = (request: ScriptedServer.RecordedRequest): ScriptedServer.Turn => {
  const input = inputOf(request)
  if (input.includes("function_call_output")) return Turn.text("wrote it")
  const file = /out-[a-z]+\.txt/.exec(input)?.[0] ?? "unknown.txt"
  return Turn.toolCall("exec_command", { cmd: `echo "home=$CODEX_HOME" && echo written > ${file}` })
}

describe("Pool with Codex", () => {
  it.live(
    "3 tasks, 2 workers of the real codex CLI: all merged, one CODEX_HOME per worker, fast mode in every request",
    () =>
      Effect.gen(function* () {
        const p = yield* project()
        const server = yield* ScriptedServer.make(script)
        const tasks = yield* tasksOf(
          ["a", "b", "c"].map((id) => ({
            id,
            prompt: `Create the file out-${id}.txt`,
            owns: [`out-${id}.txt`],
            agent: "codex"
          }))
        )
        const summary = yield* Pool.run({
          repo: p.repo,
          root: p.root,
          tasks,
          workers: 2,
          codex: (options) => Agents.codex({ ...options, baseUrl: server.url, fast: true }),
          gate: ["node", "test.mjs"]
        }).pipe(Effect.provide(Pool.layerNode(p.root)))

        assert.deepStrictEqual(
          summary.tasks.map((t) => [t.task, t.outcome]),
          [
            ["a", "merged"],
            ["b", "merged"],
            ["c", "merged"]
          ]
        )
        for (const id of ["a", "b", "c"]) assert.strictEqual(p.git("show", `main:out-${id}.txt`), "written")
        assert.deepStrictEqual(mergesPerTask(p), { a: 1, b: 1, c: 1 })
        assert.deepStrictEqual(worktrees(p), [p.repo])
        assert.deepStrictEqual(branches(p), ["main"])

        const requests = (yield* server.requests).filter((request) => request.path === "/v1/responses")
        // Two requests per task: the shell call, then the answer after its output.
        assert.strictEqual(requests.length, 6)
        // Every request asked for the priority tier: fast mode reached codex.
        assert.deepStrictEqual(
          [...new Set(requests.map((r) => (r.body as { readonly service_tier?: string }).service_tier))],
          ["priority"]
        )
        // The homes the shells saw: one per worker, under the run's root, and no more than the workers.
        const homes = requests.flatMap((r) => /home=(\/[^\\"]+)/.exec(inputOf(r))?.[1] ?? [])
        assert.strictEqual(homes.length, 3)
        const distinct = [...new Set(homes)].toSorted()
        assert.isAtMost(distinct.length, 2)
        for (const home of distinct)
          assert.match(home, new RegExp(`^${p.root}/homes/worker-[01]/codex-home$`))
        // Both workers took part, each with its own home.
        assert.strictEqual(distinct.length, 2)
      }),
    120_000
  )
})
