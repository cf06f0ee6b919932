/**
 * What the PostgreSQL restart test found: a behaviour that turns its own SQL error into a defect
 * (`Effect.orDie`, as most behaviours would) killed its actor when the connection dropped mid-transaction, and
 * the actor's later messages stayed unhandled. `Idempotency.layerSql` now retries such a transaction like a
 * failed one; a defect that is not a database error still dies, once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Redacted } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import { SqlClient } from "effect/sql/SqlClient"
import { ConnectionError, SqlError } from "effect/sql/SqlError"
import type { Envelope } from "@handoffkit/core"
import { Idempotency } from "@handoffkit/cluster"
import { testDatabase } from "./fixture/pg.ts"

const envelope = (id: string) => ({ id, to: "acc-1", payload: null }) as unknown as Envelope.Envelope<unknown>

describe("Idempotency.layerSql retries", () => {
  it.live(
    "a behaviour dying of a lost connection is retried in a fresh transaction; any other defect is not",
    () =>
      Effect.gen(function* () {
        const db = yield* testDatabase
        const layer = Idempotency.layerSql().pipe(
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(db.url), maxConnections: 2 })),
          Layer.orDie
        )
        yield* Effect.gen(function* () {
          const sql = yield* SqlClient
          const idempotency = yield* Idempotency.Idempotency
          yield* sql`CREATE TABLE writes (message_id TEXT NOT NULL, attempt INT NOT NULL)`

          let attempts = 0
          const flaky = Effect.gen(function* () {
            attempts++
            yield* Effect.orDie(sql`INSERT INTO writes VALUES ('m-1', ${attempts})`)
            if (attempts === 1) {
              // What `Effect.orDie` makes of a query on a connection the server closed.
              return yield* Effect.die(
                new SqlError({
                  reason: new ConnectionError({ cause: new Error("Connection closed"), operation: "query" })
                })
              )
            }
          })
          const result = yield* idempotency.run(envelope("m-1"), flaky, () => null)
          assert.strictEqual(result.outcome, "handled")
          assert.strictEqual(attempts, 2)
          // The first attempt's write rolled back with its transaction; the second's committed, claimed once.
          assert.deepStrictEqual(yield* sql`SELECT message_id, attempt FROM writes`, [
            { message_id: "m-1", attempt: 2 }
          ])
          assert.deepStrictEqual(
            yield* sql`SELECT count(*)::int AS n FROM ${sql(Idempotency.table)} WHERE message_id = 'm-1'`,
            [{ n: 1 }]
          )

          let runs = 0
          const broken = Effect.gen(function* () {
            runs++
            yield* Effect.orDie(sql`INSERT INTO writes VALUES ('m-2', ${runs})`)
            return yield* Effect.die(new Error("a bug in the behaviour"))
          })
          const exit = yield* Effect.exit(idempotency.run(envelope("m-2"), broken, () => null))
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          assert.strictEqual(runs, 1)
          assert.deepStrictEqual(yield* sql`SELECT attempt FROM writes WHERE message_id = 'm-2'`, [])
          assert.deepStrictEqual(
            yield* sql`SELECT count(*)::int AS n FROM ${sql(Idempotency.table)} WHERE message_id = 'm-2'`,
            [{ n: 0 }]
          )
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped, Effect.orDie),
    60_000
  )
})
