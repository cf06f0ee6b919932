/**
 * `Idempotency.run` with `after`: the check for messages of the same entity stored earlier and not handled
 * yet is made in the statement that claims the message's id. When there are some, nothing runs and the claim
 * is rolled back (the message can be handed over again once they are handled); a message already handled is
 * a duplicate whatever is behind it. On a table shaped as the cluster's messages (the columns the check
 * reads), with the rows written by hand.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import { SqlClient } from "effect/sql/SqlClient"
import type { Envelope } from "@handoffkit/core"
import { Idempotency } from "@handoffkit/cluster"
import { testDatabase } from "./fixture/pg.ts"

const envelope = (id: string) => ({ id, to: "acc-1", payload: null }) as unknown as Envelope.Envelope<unknown>
const at = (requestId: string): Idempotency.StoredAt => ({
  shardId: "default:1",
  entityType: "HandoffKitActor",
  entityId: "acc-1",
  requestId
})

describe("Idempotency.run after", () => {
  it.live(
    "behind an earlier unhandled message nothing runs and nothing is recorded; once it is handled, it runs",
    () =>
      Effect.gen(function* () {
        const db = yield* testDatabase
        const layer = Idempotency.layerSql({ messagesTable: "messages" }).pipe(
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(db.url), maxConnections: 2 })),
          Layer.orDie
        )
        yield* Effect.gen(function* () {
          const sql = yield* SqlClient
          const idempotency = yield* Idempotency.Idempotency
          yield* sql`CREATE TABLE messages (id BIGINT PRIMARY KEY, rowid BIGSERIAL, shard_id TEXT NOT NULL,
            entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, kind INT NOT NULL,
            processed BOOLEAN NOT NULL DEFAULT FALSE, payload TEXT)`
          // m-1, m-2, m-3 of acc-1 in that order; m-0 of another entity before them, never handled.
          for (const [id, entity] of [
            ["10", "acc-2"],
            ["11", "acc-1"],
            ["12", "acc-1"],
            ["13", "acc-1"]
          ] as const) {
            yield* sql`INSERT INTO messages (id, shard_id, entity_type, entity_id, kind, payload)
              VALUES (${id}::bigint, 'default:1', 'HandoffKitActor', ${entity}, 0,
                ${JSON.stringify({ envelope: { id: `m-${Number(id) - 10}` } })})`
          }
          const runs: Array<string> = []
          const run = (id: string, requestId: string) =>
            idempotency.run(
              envelope(id),
              Effect.sync(() => void runs.push(id)),
              () => null,
              at(requestId)
            )
          const recorded = sql<{ readonly message_id: string }>`
            SELECT message_id FROM ${sql(Idempotency.table)} ORDER BY message_id`

          assert.strictEqual((yield* run("m-2", "12")).outcome, "behind")
          assert.deepStrictEqual(runs, [])
          assert.deepStrictEqual(yield* recorded, [])
          // The earlier one, whose only predecessor is another entity's: it runs.
          assert.strictEqual((yield* run("m-1", "11")).outcome, "handled")
          assert.strictEqual((yield* run("m-2", "12")).outcome, "handled")
          // Handled once: a duplicate, also when a message before it has no record (m-1's deleted).
          yield* sql`DELETE FROM ${sql(Idempotency.table)} WHERE message_id = 'm-1'`
          assert.strictEqual((yield* run("m-2", "12")).outcome, "duplicate")
          // A processed message is not behind anything.
          yield* sql`UPDATE messages SET processed = TRUE WHERE id IN (11, 12)`
          yield* sql`DELETE FROM ${sql(Idempotency.table)}`
          assert.strictEqual((yield* run("m-3", "13")).outcome, "handled")
          assert.deepStrictEqual(runs, ["m-1", "m-2", "m-3"])
          assert.deepStrictEqual(
            (yield* recorded).map((r) => r.message_id),
            ["m-3"]
          )
          // Without `after`, nothing is checked.
          yield* sql`UPDATE messages SET processed = FALSE`
          yield* sql`DELETE FROM ${sql(Idempotency.table)}`
          const plain = yield* idempotency.run(envelope("m-3"), Effect.void, () => null)
          assert.strictEqual(plain.outcome, "handled")
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped, Effect.orDie),
    60_000
  )
})
