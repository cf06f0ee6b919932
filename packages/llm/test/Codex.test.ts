import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Redacted, Result, Schema } from "effect"
import { Actor, Budget, Tracer } from "@handoffkit/core"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Codex from "../src/Codex.ts"
import * as ScriptedServer from "../src/ScriptedServer.ts"

// These tests run the real codex binary (node_modules/@openai/codex) against a ScriptedServer on 127.0.0.1.
// A run takes about a second here, mostly process start.

const { Turn } = ScriptedServer

/** A fresh directory for codex to work in, removed with the test's scope. */
const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-codex-test-")))),
  (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))
)

/** A memory tracer whose `toolCalled` completes at the first `tool.call` event. */
const watchedTracer = Effect.gen(function* () {
  const toolCalled = yield* Deferred.make<void>()
  const events: Array<Tracer.Event> = []
  const tracer = Tracer.make([
    {
      write: (event) => {
        events.push(event)
        if (event.kind === "tool.call") Deferred.doneUnsafe(toolCalled, Exit.void)
      }
    }
  ])
  return { tracer, events, toolCalled }
})

/** The events a run traced (model and tool events of `actor`). */
const runEvents = (events: ReadonlyArray<Tracer.Event>, actor: string) =>
  events.filter((event) => event.actor === actor && /^(model|tool)\./.test(event.kind))

// -----------------------------------------------------------------------------
// processes, as /proc shows them
// -----------------------------------------------------------------------------

interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly pgid: number
  readonly state: string
  readonly start: string
  readonly argv: ReadonlyArray<string>
  readonly cwd: string | undefined
}

const readProc = (pid: number): Proc | undefined => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const argv = Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((arg) => arg !== "")
    let cwd: string | undefined
    try {
      cwd = Fs.readlinkSync(`/proc/${pid}/cwd`)
    } catch {
      cwd = undefined
    }
    return {
      pid,
      state: fields[0],
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      start: fields[19],
      argv,
      cwd
    }
  } catch {
    return undefined
  }
}

const processes = (): Array<Proc> =>
  Fs.readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => readProc(Number(name)) ?? [])

const treeOf = (root: number): Array<Proc> => {
  const all = processes()
  const out: Array<Proc> = []
  const queue = [root]
  while (queue.length > 0) {
    const parent = queue.shift()!
    for (const proc of all) {
      if (proc.ppid === parent) {
        out.push(proc)
        queue.push(proc.pid)
      }
    }
  }
  return out
}

/** Still running: the same process (pid and start time) and not a zombie. */
const isRunning = (proc: Proc): boolean => {
  const now = readProc(proc.pid)
  return now !== undefined && now.start === proc.start && now.state !== "Z" && now.state !== "X"
}

/** Waits for a condition of the operating system (no event to wait on): polls, up to 10 seconds. */
const eventually = <A>(what: string, probe: () => A | undefined): Effect.Effect<A> =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      const found = probe()
      if (found !== undefined) return found
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** The command lines of those still running. */
const running = (procs: ReadonlyArray<Proc>): Array<string> =>
  procs.filter(isRunning).map((proc) => proc.argv.join(" "))

const groupIsGone = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

/**
 * Starts a run whose model has codex run `sleep 30`, and waits until codex is in it: the run's fiber, the
 * codex process (spawned by this process: on Node 24, bin/codex.js execve's the native binary, same pid) and
 * its directory.
 */
const sleepingRun = (budget: Budget.Budget, reserve?: Budget.Usage) =>
  Effect.gen(function* () {
    const { tracer, toolCalled } = yield* watchedTracer
    const directory = yield* tempDirectory
    const server = yield* ScriptedServer.make([
      Turn.toolCall("exec_command", { cmd: "sleep 30" }),
      Turn.text("too late")
    ])
    const fiber = yield* Codex.run({
      prompt: "wait a while",
      directory,
      baseUrl: server.url,
      budget,
      ...(reserve === undefined ? {} : { reserve })
    }).pipe(Effect.provideService(Tracer.CurrentTracer, tracer), Effect.forkChild)
    yield* Deferred.await(toolCalled).pipe(Effect.timeout("10 seconds"))
    const codex = processes().find((proc) => proc.ppid === process.pid && proc.argv.includes(directory))
    assert.isDefined(codex, "the codex process, a child of this process")
    return { codex: codex!, directory, fiber }
  })

describe("Codex", () => {
  it.live(
    "runs the command the model asks for, traces codex's events in order and charges the reported usage",
    () =>
      Effect.gen(function* () {
        const { tracer, events } = yield* watchedTracer
        const directory = yield* tempDirectory
        const server = yield* ScriptedServer.make([
          Turn.toolCall(
            "exec_command",
            { cmd: "echo hi > f.txt" },
            { usage: { input_tokens: 100, output_tokens: 10 } }
          ),
          Turn.text("done", { usage: { input_tokens: 130, output_tokens: 7 } })
        ])
        const budget = yield* Budget.make({ tokensIn: 10_000, tokensOut: 1_000, calls: 3 })
        const result = yield* Codex.run({
          prompt: "write hi to f.txt",
          directory,
          baseUrl: server.url,
          budget,
          reserve: { tokensIn: 1_000, tokensOut: 100 }
        }).pipe(Effect.provideService(Tracer.CurrentTracer, tracer))

        assert.strictEqual(Fs.readFileSync(Path.join(directory, "f.txt"), "utf8"), "hi\n")
        assert.strictEqual(result.finalMessage, "done")
        assert.strictEqual(result.exitCode, 0)
        // codex sums the usage of the turn's two model requests.
        assert.deepStrictEqual(result.usage, {
          inputTokens: 230,
          cachedInputTokens: 0,
          outputTokens: 17,
          reasoningOutputTokens: 0
        })
        assert.strictEqual(result.budgetOverrun, undefined)
        assert.deepStrictEqual(
          result.events.map((event) => event.type),
          [
            "thread.started",
            "turn.started",
            "item.started",
            "item.completed",
            "item.completed",
            "turn.completed"
          ]
        )

        // The second request carried the command's output back to the model.
        const requests = yield* server.requests
        assert.strictEqual(requests.length, 2)
        assert.include(JSON.stringify(requests[1].body), "function_call_output")

        const traced = runEvents(events, "codex")
        assert.deepStrictEqual(
          traced.map((event) => [event.kind, event.data?.codexType]),
          [
            ["model.request", "turn.started"],
            ["tool.call", "item.started"],
            ["tool.result", "item.completed"],
            ["model.response", "item.completed"],
            ["model.response", "turn.completed"]
          ]
        )
        const [, call, toolResult, message, completed] = traced
        assert.include(String(call.data?.command), "echo hi > f.txt")
        assert.strictEqual(toolResult.data?.exitCode, 0)
        assert.strictEqual(toolResult.data?.status, "completed")
        assert.deepStrictEqual([message.data?.textLength, message.data?.preview], [4, "done"])
        assert.deepStrictEqual(completed.data?.usage, {
          inputTokens: 230,
          cachedInputTokens: 0,
          outputTokens: 17,
          reasoningOutputTokens: 0
        })
        assert.isTrue(traced.every((event) => event.causationId === undefined))

        // Charged exactly what codex reported, plus the call; nothing left on hold.
        const { spent, reserved } = yield* Budget.snapshot(budget)
        assert.deepStrictEqual(spent, { tokensIn: 230, tokensOut: 17, cost: 0, calls: 1 })
        assert.deepStrictEqual(reserved, { tokensIn: 0, tokensOut: 0, cost: 0, calls: 0 })
      }),
    15_000
  )

  it.live(
    "interrupting a run kills codex and the command it is running, and settles the reservation",
    () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 5, tokensIn: 100_000 })
        const { codex, directory, fiber } = yield* sleepingRun(budget, { tokensIn: 5_000 })
        const sleep = yield* eventually("the sleep codex runs", () =>
          treeOf(codex.pid).find((proc) => proc.argv[0] === "sleep" && proc.argv[1] === "30")
        )
        // The command runs in the directory, in a session of its own (codex's sandbox): a kill of codex's
        // process group alone would not reach it.
        assert.strictEqual(sleep.cwd, directory)
        assert.notStrictEqual(sleep.pgid, codex.pgid)
        const tree = treeOf(codex.pid)
        const during = yield* Budget.snapshot(budget)
        assert.deepStrictEqual([during.spent.calls, during.reserved.tokensIn], [1, 5_000])

        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.hasInterrupts(exit))

        // The interrupt completed only after everything was gone: no process of codex's group, of the tree
        // seen during the run, or in the directory still runs.
        assert.deepStrictEqual(running(processes().filter((proc) => proc.pgid === codex.pgid)), [])
        assert.deepStrictEqual(running([codex, ...tree]), [])
        assert.deepStrictEqual(running(processes().filter((proc) => proc.cwd === directory)), [])
        // What codex had not reaped yet stays a zombie until pid 1 reaps it (here once a second); after that the
        // group is empty, so nothing of it was left running.
        yield* eventually("codex's process group to be empty", () =>
          groupIsGone(codex.pgid) ? true : undefined
        )
        // The call was charged; the tokens held for it were refunded (codex never reported usage).
        const after = yield* Budget.snapshot(budget)
        assert.deepStrictEqual(after.spent, { tokensIn: 0, tokensOut: 0, cost: 0, calls: 1 })
        assert.deepStrictEqual(after.reserved, { tokensIn: 0, tokensOut: 0, cost: 0, calls: 0 })
      }),
    15_000
  )

  it.live(
    "a budget's time limit stops a run in progress: BudgetExceeded for time, and nothing of codex left",
    () =>
      Effect.gen(function* () {
        const budget = yield* Budget.make({ calls: 5, time: "3 seconds" })
        const { codex, directory, fiber } = yield* sleepingRun(budget)
        const error = yield* Fiber.join(fiber).pipe(Effect.flip, Effect.timeout("10 seconds"))
        assert.strictEqual(error._tag, "BudgetExceeded")
        assert.strictEqual(error._tag === "BudgetExceeded" ? error.dimension : undefined, "time")
        assert.deepStrictEqual(running(processes().filter((proc) => proc.cwd === directory)), [])
        yield* eventually("codex's process group to be empty", () =>
          groupIsGone(codex.pgid) ? true : undefined
        )
        const after = yield* Budget.snapshot(budget)
        assert.strictEqual(after.spent.calls, 1)
        assert.strictEqual(after.reserved.calls, 0)
      }),
    15_000
  )

  it.live(
    "a model error fails the run with a typed CodexError naming the directory and exit code; the key never leaks",
    () =>
      Effect.gen(function* () {
        const { tracer, events } = yield* watchedTracer
        const directory = yield* tempDirectory
        // codex replaces a 500's message with its own; a 401's it passes on, here with the key echoed back (a
        // careless server). The second key has no `sk-` shape: only the exact-key scrubbing can catch it.
        const keys = ["sk-test-secret-123", "test-secret-4f9a2c77"]
        const server = yield* ScriptedServer.make([
          Turn.error(500, { message: `upstream failed for key ${keys[0]}` }),
          Turn.error(401, { message: `invalid key ${keys[1]}` })
        ])
        const budget = yield* Budget.make({ calls: 2, tokensIn: 1_000 })
        const runWith = (key: string) =>
          Codex.run({
            prompt: "anything",
            directory,
            baseUrl: server.url,
            apiKey: Redacted.make(key),
            budget,
            reserve: { tokensIn: 500 }
          }).pipe(Effect.provideService(Tracer.CurrentTracer, tracer), Effect.flip)
        const serverError = yield* runWith(keys[0])
        const echoed = yield* runWith(keys[1])

        for (const error of [serverError, echoed]) {
          assert.strictEqual(error._tag, "CodexError")
          if (error._tag !== "CodexError") return
          assert.strictEqual(error.reason, "turn-failed")
          assert.strictEqual(error.exitCode, 1)
          assert.include(error.message, `codex turn failed in ${directory} (exit code 1)`)
        }
        assert.include(echoed.message, "invalid key [REDACTED]")
        // Each key was sent to the model server (the server's record redacts its value)...
        const requests = yield* server.requests
        assert.deepStrictEqual(
          requests.map((request) => request.headers.authorization),
          ["[redacted]", "[redacted]"]
        )
        // ...and appears in no error and no trace event.
        const traced = runEvents(events, "codex")
        assert.deepStrictEqual(
          traced.map((event) => event.data?.codexType),
          ["turn.started", "error", "turn.failed", "turn.started", "error", "turn.failed"]
        )
        for (const text of [
          serverError.message,
          echoed.message,
          JSON.stringify([serverError, echoed]),
          JSON.stringify(events)
        ]) {
          for (const key of keys) assert.notInclude(text, key)
        }
        const { spent, reserved } = yield* Budget.snapshot(budget)
        assert.deepStrictEqual([spent.calls, spent.tokensIn, reserved.calls, reserved.tokensIn], [2, 0, 0, 0])
      }),
    15_000
  )

  it.live(
    "a Codex agent answers asks with results, goes on after a failed run, and traces under the task's id",
    () =>
      Effect.gen(function* () {
        const { tracer, events } = yield* watchedTracer
        const directory = yield* tempDirectory
        const server = yield* ScriptedServer.make([
          Turn.error(500),
          Turn.toolCall("exec_command", { cmd: "echo agent > a.txt" }),
          Turn.text("written")
        ])
        const [first, second] = yield* Effect.gen(function* () {
          const coder = yield* Codex.agent("coder", { directory, baseUrl: server.url })
          const first = yield* Actor.ask(coder, { prompt: "fail, please" }, { timeout: "15 seconds" })
          const second = yield* Actor.ask(coder, { prompt: "write a.txt" }, { timeout: "15 seconds" })
          return [first, second] as const
        }).pipe(Effect.provide(Actor.layer), Effect.provideService(Tracer.CurrentTracer, tracer))

        assert.isTrue(Result.isFailure(first))
        if (Result.isFailure(first)) assert.strictEqual(first.failure._tag, "CodexError")
        assert.isTrue(Result.isSuccess(second))
        if (Result.isSuccess(second)) assert.strictEqual(second.success.finalMessage, "written")
        assert.strictEqual(Fs.readFileSync(Path.join(directory, "a.txt"), "utf8"), "agent\n")

        const received = events.filter((event) => event.kind === "receive" && event.actor === "coder")
        assert.strictEqual(received.length, 2)
        const traced = runEvents(events, "coder")
        const causes = new Set(traced.map((event) => event.causationId))
        assert.deepStrictEqual(
          [...causes],
          received.map((event) => event.messageId)
        )
        // The second task's run: a command, then the answer.
        assert.deepStrictEqual(
          traced.filter((event) => event.causationId === received[1].messageId).map((event) => event.kind),
          ["model.request", "tool.call", "tool.result", "model.response", "model.response"]
        )
      }),
    15_000
  )

  it.live("a run that cannot start charges nothing and says why", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const budget = yield* Budget.make({ calls: 2 })
      const missing = Path.join(directory, "missing")
      const noDirectory = yield* Codex.run({ prompt: "x", directory: missing, budget }).pipe(Effect.flip)
      const noBinary = yield* Codex.run({
        prompt: "x",
        directory,
        budget,
        codexPath: Path.join(directory, "no-codex-here")
      }).pipe(Effect.flip)
      assert.deepStrictEqual(
        [noDirectory._tag, noDirectory.message],
        ["CodexError", `codex could not start in ${missing}: the directory does not exist`]
      )
      assert.strictEqual(noBinary._tag, "CodexError")
      if (noBinary._tag === "CodexError") assert.strictEqual(noBinary.reason, "spawn")
      assert.include(noBinary.message, "ENOENT")
      const { spent, reserved } = yield* Budget.snapshot(budget)
      assert.deepStrictEqual([spent.calls, reserved.calls], [0, 0])

      // A budget with no call left refuses before anything starts.
      yield* Budget.spend(budget, { calls: 2 })
      const refused = yield* Codex.run({ prompt: "x", directory, budget }).pipe(Effect.flip)
      assert.strictEqual(refused._tag, "BudgetExceeded")
    })
  )

  it.effect("decodes codex's events strictly, and keeps unknown event and item types as raw", () =>
    Effect.gen(function* () {
      const turn = yield* Codex.decodeEvent(
        '{"type":"turn.completed","usage":{"input_tokens":5,"cached_input_tokens":1,"output_tokens":2,"reasoning_output_tokens":0}}'
      )
      assert.deepStrictEqual(turn, {
        type: "turn.completed",
        usage: { input_tokens: 5, cached_input_tokens: 1, output_tokens: 2, reasoning_output_tokens: 0 }
      })
      const future = yield* Codex.decodeEvent('{"type":"plan.updated","steps":["a"]}')
      assert.deepStrictEqual(future, {
        type: "unknown",
        codexType: "plan.updated",
        raw: { type: "plan.updated", steps: ["a"] }
      })
      assert.deepStrictEqual(Schema.encodeSync(Codex.CodexEvent)(future), {
        type: "plan.updated",
        steps: ["a"]
      })
      const reasoning = yield* Codex.decodeEvent(
        '{"type":"item.completed","item":{"id":"i","type":"reasoning","text":"t"}}'
      )
      assert.deepStrictEqual(reasoning, {
        type: "item.completed",
        item: { type: "unknown", codexType: "reasoning", raw: { id: "i", type: "reasoning", text: "t" } }
      })
      for (const line of [
        "not json",
        '{"no":"type"}',
        '{"type":"turn.completed"}',
        '{"type":"item.started","item":{"id":"i","type":"command_execution"}}'
      ]) {
        const error = yield* Codex.decodeEvent(line).pipe(Effect.flip)
        assert.strictEqual(error._tag, "SchemaError", line)
      }
    })
  )
})
