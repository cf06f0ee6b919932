import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Effect, Option } from "effect"
import { Budget } from "@handoffkit/core"
import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
import * as Agents from "../src/Agents.ts"
import {
  eventually,
  groupIsGone,
  pidsIn,
  readProc,
  runningInGroup,
  tempDirectory
} from "./fixtures/agents/procs.ts"
import { modes, type Mode } from "./fixtures/agents/launcher.ts"

// Command agents are real processes (node scripts and shells in test/fixtures/agents); the Codex agent is the
// real codex binary (node_modules/@openai/codex) against a ScriptedServer on 127.0.0.1. What runs is checked
// in /proc.

const fixtures = Path.join(import.meta.dirname, "fixtures", "agents")
const node = process.execPath
const { Turn } = ScriptedServer

/** A run of task `id` in `root/worktree-<worker>`, logging to `root/logs/<id>/agent-<attempt>.log`. */
const runIn = (root: string, overrides: Partial<Agents.Run> & { readonly id?: string } = {}): Agents.Run => {
  const id = overrides.id ?? "add-flag"
  const worker = overrides.worker ?? 0
  const attempt = overrides.attempt ?? 1
  const directory = overrides.directory ?? Path.join(root, `worktree-${worker}`)
  Fs.mkdirSync(directory, { recursive: true })
  return {
    task: { id, prompt: `the task ${id}` },
    directory,
    prompt: `Do ${id}.\nKeep it small.`,
    attempt,
    worker,
    workerHome: Path.join(root, "homes", `worker-${worker}`),
    logFile: Path.join(root, "logs", id, `agent-${attempt}.log`),
    conflict: undefined,
    budget: undefined,
    ...overrides
  }
}

const runAgent = (agent: Agents.Agent, run: Agents.Run) =>
  agent.run(run).pipe(Effect.provide(NodeServices.layer))

const allModes = modes()
const runnerIn = (mode: Mode) => (agent: Agents.Agent, run: Agents.Run) => mode.provide(agent.run(run))

const recorded = (directory: string) =>
  JSON.parse(Fs.readFileSync(Path.join(directory, "run.json"), "utf8")) as {
    readonly cwd: string
    readonly variables: Record<string, string>
    readonly promptFile: string | null
    readonly conflictFile: string | null
    readonly stdinBytes: number
  }

for (const mode of allModes)
  describe(`Agents.command (${mode.name})`, () => {
    const runAgent = runnerIn(mode)

    it.live("it is started by this process, or by the fork server (a process of its own)", () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-")
        const run = runIn(root)
        yield* runAgent(
          Agents.command([node, "-e", "require('fs').writeFileSync('parent', String(process.ppid))"]),
          run
        )
        const parent = Number(Fs.readFileSync(Path.join(run.directory, "parent"), "utf8"))
        if (mode.name === "direct") assert.strictEqual(parent, process.pid)
        else assert.notStrictEqual(parent, process.pid)
      })
    )

    it.live("runs in the worktree with the run in its environment; its last line is the summary", () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-")
        const run = runIn(root, { worker: 2, attempt: 1 })
        const outcome = yield* runAgent(
          Agents.command([node, Path.join(fixtures, "env.mjs")], {
            env: { HANDOFFKIT_TASK_ID: "not this", EXTRA: "x" }
          }),
          run
        )
        assert.deepStrictEqual(outcome, { summary: "env agent: done", usage: undefined })
        const seen = recorded(run.directory)
        assert.strictEqual(seen.cwd, run.directory)
        const promptFile = Path.join(root, "logs", "add-flag", "agent-1.prompt.md")
        assert.deepStrictEqual(seen.variables, {
          HANDOFFKIT_TASK_ID: "add-flag",
          HANDOFFKIT_ATTEMPT: "1",
          HANDOFFKIT_WORKER: "2",
          HANDOFFKIT_WORKER_HOME: run.workerHome,
          HANDOFFKIT_PROMPT: "Do add-flag.\nKeep it small.",
          HANDOFFKIT_PROMPT_FILE: promptFile
        })
        assert.strictEqual(seen.promptFile, run.prompt)
        assert.strictEqual(seen.conflictFile, null)
        assert.strictEqual(seen.stdinBytes, 0)
        const log = Fs.readFileSync(run.logFile, "utf8")
        assert.include(log, "wrote run.json\n")
        assert.include(log, "a warning on stderr\n")
      })
    )

    it.live("a re-dispatched task gets the conflicting files and the other side's diff", () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-")
        const conflict: Agents.Conflict = {
          files: ["src/cli.ts", "test/cli.test.ts"],
          theirs:
            "--- a/src/cli.ts\n+++ b/src/cli.ts\n@@ -1 +1 @@\n-const verbose = false\n+const quiet = true\n",
          previousBranch: "pool/add-flag/1"
        }
        const run = runIn(root, { attempt: 2, conflict })
        yield* runAgent(Agents.command([node, Path.join(fixtures, "env.mjs")]), run)
        const seen = recorded(run.directory)
        assert.strictEqual(seen.variables.HANDOFFKIT_ATTEMPT, "2")
        assert.strictEqual(seen.variables.HANDOFFKIT_CONFLICT_FILES, "src/cli.ts\ntest/cli.test.ts")
        assert.strictEqual(
          seen.variables.HANDOFFKIT_CONFLICT_FILE,
          Path.join(root, "logs", "add-flag", "agent-2.conflict.md")
        )
        assert.include(seen.conflictFile!, "pool/add-flag/1")
        assert.include(seen.conflictFile!, "- src/cli.ts\n- test/cli.test.ts\n")
        assert.include(seen.conflictFile!, conflict.theirs)
      })
    )

    it.live("a non-zero exit is AgentFailed reason exit, with the code and the last line", () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-")
        const run = runIn(root)
        const error = yield* runAgent(
          Agents.command([node, Path.join(fixtures, "env.mjs"), "4"], { name: "env" }),
          run
        ).pipe(Effect.flip)
        assert.deepStrictEqual(
          {
            tag: error._tag,
            reason: error.reason,
            exitCode: error.exitCode,
            agent: error.agent,
            task: error.task
          },
          { tag: "AgentFailed", reason: "exit", exitCode: 4, agent: "env", task: "add-flag" }
        )
        assert.strictEqual(error.detail, "exited with code 4: a warning on stderr")
        assert.strictEqual(error.logFile, run.logFile)
        assert.include(error.message, `its output is in ${run.logFile}`)
      })
    )

    it.live("a program or worktree that does not exist is AgentFailed reason spawn", () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-")
        const noProgram = yield* runAgent(Agents.command(["no-such-agent-cli", "--yes"]), runIn(root)).pipe(
          Effect.flip
        )
        assert.deepStrictEqual([noProgram.reason, noProgram.exitCode], ["spawn", null])
        assert.include(
          noProgram.detail,
          `"no-such-agent-cli" in ${Path.join(root, "worktree-0")}: no such program`
        )
        const gone = Path.join(root, "removed-worktree")
        const run = runIn(root, { directory: gone })
        Fs.rmSync(gone, { recursive: true })
        const noDirectory = yield* runAgent(Agents.command([node, "-e", ""]), run).pipe(Effect.flip)
        assert.strictEqual(noDirectory.reason, "spawn")
        assert.include(noDirectory.detail, `in ${gone}: the directory does not exist`)
      })
    )

    it.live(
      "interrupted (the pool's timeout), a hanging agent's whole process group is killed and waited for",
      () =>
        Effect.gen(function* () {
          const root = yield* tempDirectory("handoffkit-agents-")
          const run = runIn(root)
          const pidFile = Path.join(root, "pids")
          // A shell that started a grandchild `sleep 300` and waits for it.
          const agent = Agents.command(["sh", "-c", `echo $$ > ${pidFile}; sleep 300 & wait`])
          const started = Date.now()
          const result = yield* runAgent(agent, run).pipe(Effect.timeoutOption("300 millis"))
          // From the timeout to the interrupt's completion: signalling the group and waiting until nothing runs.
          const killMs = Date.now() - started - 300
          assert.isTrue(Option.isNone(result))
          const [pgid] = yield* pidsIn(pidFile, 1)
          // When the interrupt completed, nothing of the group ran any more.
          assert.deepStrictEqual(runningInGroup(pgid!), [])
          assert.isBelow(killMs, 1_000, `the kill took ${killMs} ms`)
          console.log(
            `Agents.command: killing an interrupted agent's group (sh + sleep 300) took ${killMs} ms`
          )
          assert.match(
            Fs.readFileSync(run.logFile, "utf8"),
            /interrupted after \d+ ms: the process group was killed/
          )
          yield* eventually("the agent's process group to be empty", () =>
            groupIsGone(pgid!) ? true : undefined
          )
        })
    )

    it.live("interrupted, a grandchild that ignores SIGTERM gets SIGKILL after the grace period", () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-")
        const run = runIn(root)
        const agent = Agents.command([node, Path.join(fixtures, "tree.mjs"), "hang", "stubborn", "sleep"], {
          env: { PIDS: Path.join(root, "pids") },
          killGrace: "300 millis"
        })
        const started = Date.now()
        const result = yield* runAgent(agent, run).pipe(Effect.timeoutOption("700 millis"))
        const took = Date.now() - started
        assert.isTrue(Option.isNone(result))
        const [leader, stubborn] = yield* pidsIn(Path.join(root, "pids"), 3)
        assert.deepStrictEqual(runningInGroup(leader!), [])
        const proc = readProc(stubborn!)
        assert.isTrue(proc === undefined || proc.state === "Z")
        // 700 ms of run, then 300 ms of grace before SIGKILL.
        assert.isAtLeast(took, 1_000)
        assert.isBelow(took, 2_500)
      })
    )
  })

// -----------------------------------------------------------------------------
// codex
// -----------------------------------------------------------------------------

const inputOf = (request: ScriptedServer.RecordedRequest): string =>
  JSON.stringify((request.body as { readonly input?: unknown } | undefined)?.input ?? "")

/**
 * The scripted model: its first answer has codex run a shell command that records CODEX_HOME in the worktree
 * (and prints it, so its output comes back to the server); once the command's output is in, it ends the turn.
 */
const script = (request: ScriptedServer.RecordedRequest): ScriptedServer.Turn =>
  inputOf(request).includes("function_call_output")
    ? Turn.text(`done: ${/worktree-\d/.exec(inputOf(request))?.[0] ?? "?"}`, {
        usage: { input_tokens: 300, output_tokens: 12 }
      })
    : Turn.toolCall(
        "exec_command",
        { cmd: 'echo "home=$CODEX_HOME" | tee codex-home.txt' },
        { usage: { input_tokens: 100, output_tokens: 5 } }
      )

describe("Agents.codex", () => {
  it.live(
    "two workers run codex in parallel, each in its worktree with its own CODEX_HOME, kept across its runs",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-codex-")
        const server = yield* ScriptedServer.make(script)
        const fast = Agents.codex({ baseUrl: server.url, fast: true })
        const normal = Agents.codex({ baseUrl: server.url })
        const runs = [runIn(root, { id: "a", worker: 0 }), runIn(root, { id: "b", worker: 1 })] as const
        const started = Date.now()
        const [first, second] = yield* Effect.all([runAgent(fast, runs[0]), runAgent(normal, runs[1])], {
          concurrency: 2
        })
        const took = Date.now() - started
        console.log(`Agents.codex: two parallel codex runs (one shell call each) took ${took} ms`)
        assert.deepStrictEqual(first, {
          summary: "done: worktree-0",
          usage: { tokensIn: 400, tokensOut: 17, calls: 1 }
        })
        assert.strictEqual(second.summary, "done: worktree-1")

        const homes = runs.map((run) => Path.join(run.workerHome, "codex-home"))
        for (const [i, run] of runs.entries()) {
          // The command ran in the worker's worktree, and CODEX_HOME reached its shell.
          assert.strictEqual(
            Fs.readFileSync(Path.join(run.directory, "codex-home.txt"), "utf8"),
            `home=${homes[i]}\n`
          )
          assert.isTrue(
            Fs.existsSync(Path.join(homes[i]!, "installation_id")),
            "codex initialised the home, kept"
          )
          const log = Fs.readFileSync(run.logFile, "utf8")
          assert.include(log, `CODEX_HOME ${homes[i]}`)
          assert.include(log, `[codex] $ `)
          assert.include(log, "codex-home.txt")
          assert.include(log, `final message:\ndone: worktree-${i}`)
        }

        // What the server saw: both workers' requests, each carrying its worktree; the command's output (with
        // CODEX_HOME) came back in the second request of each; only the fast agent asked for priority.
        const requests = (yield* server.requests).filter((request) => request.path === "/v1/responses")
        for (const [i, run] of runs.entries()) {
          const mine = requests.filter((request) => inputOf(request).includes(run.directory))
          assert.strictEqual(mine.length, 2, `requests of worker ${i}`)
          assert.isTrue(inputOf(mine[1]!).includes(`home=${homes[i]}`))
          const tiers = mine.map(
            (request) => (request.body as { readonly service_tier?: string }).service_tier
          )
          assert.deepStrictEqual(tiers, i === 0 ? ["priority", "priority"] : [undefined, undefined])
        }

        // The worker's next task uses the same home.
        const id = Fs.readFileSync(Path.join(homes[0]!, "installation_id"), "utf8")
        const again = runIn(root, { id: "c", worker: 0, directory: Path.join(root, "worktree-0-next") })
        yield* runAgent(fast, again)
        assert.strictEqual(
          Fs.readFileSync(Path.join(again.directory, "codex-home.txt"), "utf8"),
          `home=${homes[0]}\n`
        )
        assert.strictEqual(Fs.readFileSync(Path.join(homes[0]!, "installation_id"), "utf8"), id)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "a failed model turn is AgentFailed reason model; a budget that refuses the run is reason budget",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDirectory("handoffkit-agents-codex-")
        const server = yield* ScriptedServer.make([Turn.error(500, { message: "the model is overloaded" })])
        const model = yield* runAgent(Agents.codex({ baseUrl: server.url }), runIn(root)).pipe(Effect.flip)
        assert.deepStrictEqual([model._tag, model.reason, model.agent], ["AgentFailed", "model", "codex"])
        assert.include(Fs.readFileSync(model.logFile, "utf8"), "failed after")

        const budget = yield* Budget.make({ calls: 0 })
        const refused = yield* runAgent(
          Agents.codex({ baseUrl: server.url }),
          runIn(root, { id: "b", budget })
        ).pipe(Effect.flip)
        assert.deepStrictEqual([refused.reason, refused.exitCode], ["budget", null])
        assert.include(refused.detail, "calls")
      }).pipe(Effect.scoped),
    30_000
  )
})
