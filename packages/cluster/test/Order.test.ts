/**
 * Messages left behind: a runner that is losing a shard can claim a stored message (its read marks it
 * `last_read`) after the new owner reset the shard's claims, and then skip it; the new owner reads only the
 * later ones, and the cluster would deliver the left-behind one about ten minutes later. Here that claim is
 * made by hand and kept through the new owner's reset (a trigger keeps it once), so the runner that takes
 * the shard does not read it:
 * - with later messages of its sender, its handler must find the earlier one in storage and handle it
 *   first (per-sender order), once, and have the cluster read it again (it is then a duplicate);
 * - with none, the runner must have the cluster read the stale claim again well before ten minutes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Schedule, Scope } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Actor } from "@handoffkit/core"
import * as Faults from "./fixture/faults.ts"
import { testDatabase } from "./fixture/pg.ts"
import { startRunner } from "./fixture/processes.ts"

const lockExpiry = "2 seconds"

/**
 * Stores `messages` messages of sender 0 to `acc-0` while no runner runs, leaves the first one claimed (kept
 * through one reset), starts a runner and waits until the sender's messages are handled; returns the seqs
 * in the order handled, the runner's log and whether the left-behind message ended up processed.
 */
const leaveFirstBehind = (messages: number) =>
  Effect.gen(function* () {
    const db = yield* testDatabase
    const sql = yield* PgClient.make({ url: Redacted.make(db.url), maxConnections: 2 }).pipe(
      Effect.provide(Reactivity.layer)
    )
    yield* Faults.createEffects(sql)
    const waitRows = (sender: number, n: number) =>
      sql<{
        readonly seq: number
      }>`SELECT seq FROM effects WHERE sender = ${sender} ORDER BY effects.id`.pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (rows) => rows.length >= n }),
        Effect.timeout("40 seconds")
      )
    const first = yield* Scope.make()
    yield* startRunner({ mode: "faults", pgUrl: db.url, lockExpiry }).pipe(Scope.provide(first))
    return yield* Effect.gen(function* () {
      const acc = yield* Actor.lookup<{ readonly sender: number; readonly seq: number }>("acc-0")
      // The first runner takes every shard and creates the cluster's tables; then it stops.
      yield* Actor.send(acc, { sender: -1, seq: 0 })
      yield* waitRows(-1, 1)
      yield* Scope.close(first, Exit.void)

      // With no runner, the messages are only stored.
      for (let seq = 0; seq < messages; seq++) yield* Actor.send(acc, { sender: 0, seq })
      const stored = yield* sql<{ readonly id: string; readonly seq: number }>`
        SELECT id::text, (payload::jsonb -> 'envelope' -> 'payload' ->> 'seq')::int AS seq
        FROM cluster_messages WHERE entity_id = 'acc-0' AND processed = FALSE ORDER BY rowid`
      assert.deepStrictEqual(
        stored.map((r) => r.seq),
        Array.from({ length: messages }, (_, seq) => seq)
      )
      const leftBehind = stored[0]!.id
      // The claim of a previous owner, kept through the next owner's reset of the shard (once).
      yield* sql`UPDATE cluster_messages SET last_read = now() WHERE id = ${leftBehind}::bigint`
      yield* sql`CREATE TABLE keep_claim (id BIGINT PRIMARY KEY, resets INT NOT NULL)`
      yield* sql`INSERT INTO keep_claim VALUES (${leftBehind}::bigint, 1)`
      yield* sql.unsafe(`CREATE FUNCTION keep_claim() RETURNS trigger AS $$
        BEGIN
          IF NEW.last_read IS NULL AND OLD.last_read IS NOT NULL THEN
            UPDATE keep_claim SET resets = resets - 1 WHERE id = OLD.id AND resets > 0;
            IF FOUND THEN NEW.last_read := OLD.last_read; END IF;
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql`)
      yield* sql`CREATE TRIGGER keep_claim BEFORE UPDATE ON cluster_messages
        FOR EACH ROW EXECUTE FUNCTION keep_claim()`

      const second = yield* startRunner({ mode: "faults", pgUrl: db.url, lockExpiry })
      const handled = yield* waitRows(0, messages)
      // The claim was kept through the reset (the runner did not simply read it).
      const kept = yield* sql<{ readonly resets: number }>`SELECT resets FROM keep_claim`
      assert.strictEqual(kept[0]!.resets, 0)
      const processed = yield* sql<{ readonly processed: boolean }>`
        SELECT processed FROM cluster_messages WHERE id = ${leftBehind}::bigint`.pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (rows) => rows[0]!.processed }),
        Effect.timeout("30 seconds"),
        Effect.map((rows) => rows[0]!.processed)
      )
      const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM effects WHERE sender = 0`
      return { seqs: handled.map((r) => r.seq), rows: rows[0]!.n, log: second.log(), processed }
    }).pipe(Effect.provide(Faults.clientLayer(db.url, lockExpiry)))
  }).pipe(Effect.scoped, Effect.orDie)

describe("messages left behind", () => {
  it.live(
    "one left claimed is handled before the later ones of its sender, once",
    () =>
      Effect.gen(function* () {
        const r = yield* leaveFirstBehind(5)
        assert.deepStrictEqual(r.seqs, [0, 1, 2, 3, 4])
        assert.strictEqual(r.rows, 5)
        assert.include(r.log, "handling messages left behind in storage")
        assert.isTrue(r.processed)
      }),
    120_000
  )

  it.live(
    "one left claimed with nothing after it is read again long before the cluster's ten minutes",
    () =>
      Effect.gen(function* () {
        const r = yield* leaveFirstBehind(1)
        assert.deepStrictEqual(r.seqs, [0])
        assert.strictEqual(r.rows, 1)
        assert.notInclude(r.log, "handling messages left behind in storage")
        assert.isTrue(r.processed)
      }),
    120_000
  )
})
