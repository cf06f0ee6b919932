import * as Fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { inject } from "vitest"
import { Postgres } from "@handoffkit/cluster"
import { testDatabase } from "./fixture/pg.ts"

const query = (url: string, statement: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
      return yield* sql.unsafe<Record<string, unknown>>(statement)
    })
  ).pipe(Effect.provide(Reactivity.layer))

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("Postgres.embedded", () => {
  it.live(
    "starts a real server, restarts it on the same data, and leaves nothing behind when its Scope closes",
    () =>
      Effect.gen(function* () {
        const root = inject("pgRoot")
        // Closed by the test itself; the outer Scope closes it too when an expectation fails first.
        const scope = yield* Scope.fork(yield* Scope.Scope)
        const server = yield* Postgres.embedded({ root }).pipe(Scope.provide(scope))
        const url = Redacted.value(server.url)
        const pid = server.pid()!
        assert.strictEqual(alive(pid), true)
        assert.isTrue(Postgres.leftovers(root).includes(pid))
        yield* query(url, "CREATE TABLE kept (n int)")
        yield* query(url, "INSERT INTO kept VALUES (7)")
        yield* server.stop
        assert.strictEqual(alive(pid), false)
        yield* server.start
        const rows = yield* query(url, "SELECT n FROM kept")
        assert.deepStrictEqual(rows, [{ n: 7 }])
        const restarted = server.pid()!
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(alive(restarted), false)
        assert.isFalse(Postgres.leftovers(root).includes(restarted))
        assert.strictEqual(Fs.existsSync(server.dataDir), false)
      }).pipe(Effect.scoped, Effect.orDie),
    60_000
  )

  it.live(
    "gives each test its own schema and drops it after",
    () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const db = yield* testDatabase.pipe(Scope.provide(scope))
        yield* query(db.url, "CREATE TABLE mine (n int)")
        const inSchema = yield* query(
          db.baseUrl,
          `SELECT table_name FROM information_schema.tables WHERE table_schema = '${db.schema}'`
        )
        assert.deepStrictEqual(inSchema, [{ table_name: "mine" }])
        yield* Scope.close(scope, Exit.void)
        const after = yield* query(
          db.baseUrl,
          `SELECT schema_name FROM information_schema.schemata WHERE schema_name = '${db.schema}'`
        )
        assert.deepStrictEqual(after, [])
      }).pipe(Effect.orDie),
    60_000
  )
})
