/**
 * docs/cluster.md's "Two runners and a client", run as written: its `pg.ts`, `runner.ts` and `client.ts`
 * blocks become files, started in the order and with the variables its commands give (free ports instead of
 * 34431/34432), and the table the doc names must hold what it says.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Redacted, Schedule, type Scope } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { inject } from "vitest"
import { freePort, RunnerFailed } from "./fixture/processes.ts"

const doc = Fs.readFileSync(Path.resolve(import.meta.dirname, "../../../docs/cluster.md"), "utf8")

const block = (name: string): string => {
  const found = new RegExp("```ts " + name.replace(".", "\\.") + "\\n([\\s\\S]*?)```").exec(doc)
  assert.isNotNull(found, `docs/cluster.md has a \`\`\`ts ${name} block`)
  return found![1]!
}

/** Starts `node file` and waits for `line` on its stdout (or its exit, when `line` is undefined). */
const start = (
  file: string,
  env: Record<string, string>,
  line?: string
): Effect.Effect<
  { readonly stdout: () => string; readonly output: () => string; readonly code: number | null },
  RunnerFailed,
  Scope.Scope
> =>
  Effect.gen(function* () {
    let stdout = ""
    let output = ""
    const seen = yield* Deferred.make<void, RunnerFailed>()
    const exited = yield* Deferred.make<number | null>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, [file], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.gen(function* () {
          if (child.exitCode !== null || child.signalCode !== null) return
          child.kill("SIGTERM")
          const gone = yield* Deferred.await(exited).pipe(Effect.timeout("10 seconds"), Effect.option)
          if (gone._tag === "None") child.kill("SIGKILL")
          yield* Deferred.await(exited)
        })
    )
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      output += chunk.toString()
      if (line !== undefined && stdout.includes(line)) Deferred.doneUnsafe(seen, Effect.void)
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on("exit", (code) => {
      Deferred.doneUnsafe(exited, Effect.succeed(code))
      if (line === undefined) Deferred.doneUnsafe(seen, Effect.void)
      else
        Deferred.doneUnsafe(
          seen,
          Effect.fail(new RunnerFailed({ reason: `${Path.basename(file)} exited (${code}):\n${output}` }))
        )
    })
    yield* Deferred.await(seen).pipe(
      Effect.timeoutOrElse({
        duration: "90 seconds",
        orElse: () =>
          Effect.fail(new RunnerFailed({ reason: `${Path.basename(file)}: nothing in 90 s:\n${output}` }))
      })
    )
    return { stdout: () => stdout, output: () => output, code: child.exitCode }
  })

describe("docs/cluster.md", () => {
  it("gives the commands it says it does", () => {
    for (const command of [
      "node pg.ts",
      "export HANDOFFKIT_PG_URL=",
      "HANDOFFKIT_RUNNER_PORT=34431 node runner.ts",
      "HANDOFFKIT_RUNNER_PORT=34432 node runner.ts",
      "node client.ts                                # sent 100 messages"
    ]) {
      assert.include(doc, command)
    }
  })

  it.live(
    "pg.ts, two runner.ts and client.ts run as written: the 100 messages are in table tallies, each once",
    () =>
      Effect.gen(function* () {
        // Beside the tests, so the files resolve the workspace's packages; *.gen.ts: ignored by git and tsc.
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(import.meta.dirname, ".cluster-doc-"))),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        const file = (name: string) => {
          const path = Path.join(dir, name.replace(/\.ts$/, ".gen.ts"))
          Fs.writeFileSync(path, block(name))
          return path
        }
        // The throwaway server's folder goes under the suite's root, so the leak check covers it.
        const pg = yield* start(file("pg.ts"), { TMPDIR: inject("pgRoot") }, "\n")
        const url = pg.stdout().trim().split("\n")[0]!
        assert.match(url, /^postgres:\/\/postgres:handoffkit@127\.0\.0\.1:\d+\/postgres$/)
        const runner = file("runner.ts")
        const [first, second] = [yield* freePort, yield* freePort]
        yield* start(runner, { HANDOFFKIT_PG_URL: url, HANDOFFKIT_RUNNER_PORT: String(first) }, "ready\n")
        yield* start(runner, { HANDOFFKIT_PG_URL: url, HANDOFFKIT_RUNNER_PORT: String(second) }, "ready\n")
        const client = yield* start(file("client.ts"), { HANDOFFKIT_PG_URL: url })
        assert.strictEqual(client.code, 0, client.output())
        assert.include(client.output(), "sent 100 messages")

        const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const rows = yield* sql<{ readonly n: number; readonly total: number; readonly counters: number }>`
          SELECT count(*)::int AS n, coalesce(sum(amount), 0)::int AS total,
            count(DISTINCT counter)::int AS counters FROM tallies`.pipe(
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (rows) => rows[0]!.n >= 100 }),
          Effect.timeout("60 seconds")
        )
        assert.deepStrictEqual(rows, [{ n: 100, total: 4950, counters: 10 }])
      }).pipe(Effect.scoped, Effect.orDie),
    180_000
  )
})
