import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Tracer } from "@handoffkit/core"
import { ScriptedServer } from "@handoffkit/llm"
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Review from "../src/Review.ts"
import { drain, eventually, hanging, hangingScript, postEvents, waitUntil } from "./harness.ts"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const key = "sk-test-0123456789abcdef"

// The processes whose parent is `pid`, read from /proc (Linux).
const childrenOf = (pid: number): Array<number> =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8")
        // The command name is in parentheses and may hold spaces: the fields after it are space-separated.
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid
      } catch {
        return false // it exited while we looked
      }
    })
    .map(Number)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("effect-service process", () => {
  it.live(
    "SIGTERM interrupts the in-flight run, flushes the JSONL trace, and the process exits leaving nothing",
    () =>
      Effect.gen(function* () {
        const model = yield* ScriptedServer.make(hangingScript())
        const file = join(mkdtempSync(join(tmpdir(), "effect-service-")), "trace.jsonl")
        const child = spawn(process.execPath, [main], {
          env: {
            ...process.env,
            PORT: "0",
            OPENAI_API_KEY: key,
            OPENAI_BASE_URL: model.url,
            HANDOFFKIT_MODEL: "gpt-test",
            HANDOFFKIT_TRACE_FILE: file
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
          })
        )
        let output = ""
        child.stdout.on("data", (chunk) => (output += String(chunk)))
        child.stderr.on("data", (chunk) => (output += String(chunk)))
        const exited = new Promise<readonly [number | null, NodeJS.Signals | null]>((resolve) =>
          child.once("exit", (code, signal) => resolve([code, signal]))
        )
        const url = yield* Effect.promise(() =>
          eventually(
            "the service to listen",
            () => {
              if (child.exitCode !== null) throw new Error(`the service exited at start:\n${output}`)
              return /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
            },
            10_000
          )
        )
        const stream = yield* Effect.promise(() =>
          postEvents(url, { code: `${Review.sample}\n// HANG:security,performance,readability` })
        )
        const runId = stream.runId!
        assert.strictEqual((yield* Effect.promise(() => stream.next()))?.event, "started")
        yield* waitUntil(
          "three hanging model calls",
          Effect.map(hanging(model), (n) => n === 3)
        )
        const descendants = childrenOf(child.pid!)

        const sentAt = Date.now()
        child.kill("SIGTERM")
        const [code, signal] = yield* Effect.promise(() => exited).pipe(Effect.timeout("10 seconds"))
        const tookMs = Date.now() - sentAt
        // Exited by itself (runMain: 130 for an interrupted program), not killed by the signal.
        assert.deepStrictEqual([code, signal], [130, null], output)
        // The client's stream was cut without findings; the model saw the three calls go away.
        const rest = yield* Effect.promise(() => drain(stream))
        assert.isFalse(rest.some((e) => e.event === "findings" || e.event === "done"))
        yield* waitUntil(
          "three disconnects",
          Effect.map(model.disconnects, (n) => n === 3)
        )

        // The JSONL trace was flushed: it holds the run up to every actor's exit, interrupted.
        const { events, torn } = yield* Tracer.readJsonl(file).pipe(Effect.provide(NodeServices.layer))
        assert.isUndefined(torn)
        const mine = events.filter((e) => e.actor.startsWith(`${runId}/`))
        const spawned = mine.filter((e) => e.kind === "spawn").map((e) => e.actor)
        const exits = new Map(
          mine.filter((e) => e.kind === "exit").map((e) => [e.actor, (e.data as { outcome: string }).outcome])
        )
        assert.strictEqual(spawned.length, 5)
        assert.deepStrictEqual(spawned.toSorted(), [...exits.keys()].toSorted())
        for (const reviewer of Review.reviewers) {
          assert.strictEqual(exits.get(Review.address(runId, reviewer.name)), "interrupted")
        }
        assert.strictEqual(mine.filter((e) => e.kind === "model.request").length, 3)
        assert.notInclude(readFileSync(file, "utf8"), key, "no secret in the trace")

        // Nothing is left: not the process, not any process it had started.
        assert.isFalse(alive(child.pid!))
        for (const pid of descendants) assert.isFalse(alive(pid), `process ${pid} outlived the service`)
        console.log(`exited ${tookMs} ms after SIGTERM; children while running: ${descendants.length}`)
      }).pipe(Effect.scoped),
    20_000
  )
})
