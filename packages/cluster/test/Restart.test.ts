/**
 * Must-show 3: PostgreSQL restarted mid-run. Two runner processes and a client (this process) on loopback, a
 * steady stream of messages from 10 concurrent senders to 50 actors; part way through, the embedded server is
 * stopped and, after a few seconds down, started again on the same data directory and port. The runners and
 * the client reconnect by themselves: every message is handled, and no behaviour runs twice for one message id
 * (asserted); the down time and the counts are reported.
 *
 * The server is this test's own (not the file's shared one, nor `HANDOFFKIT_PG_URL`): it is the one that gets
 * restarted. The behaviours record each message in table `effects` in the message's transaction (runner.ts,
 * mode `faults`), so a row is a behaviour that ran and committed.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Redacted, Schedule } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { inject } from "vitest"
import { Actor } from "@handoffkit/core"
import { ClusterRunner, Postgres } from "@handoffkit/cluster"
import { createEffects } from "./fixture/faults.ts"
import { startRunner } from "./fixture/processes.ts"

const messages = 2_000
const actors = 50
const senders = 10
const lockExpiry = "2 seconds"
const down = "3 seconds"

interface Row {
  readonly sender: number
  readonly seq: number
  readonly message_id: string
  readonly runner: number
  readonly at_ms: number
}

describe("PostgreSQL restart", () => {
  it.live(
    "the embedded server stopped and started on the same data mid-run: runners and client reconnect, 0 lost, 0 run twice",
    () =>
      Effect.gen(function* () {
        const server = yield* Postgres.embedded({ root: inject("pgRoot") })
        const url = Redacted.value(server.url)
        const admin = yield* PgClient.make({ url: server.url, maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        yield* createEffects(admin)
        const first = yield* startRunner({ mode: "faults", pgUrl: url, lockExpiry })
        const second = yield* startRunner({ mode: "faults", pgUrl: url, lockExpiry })
        const client = ClusterRunner.layerClient.pipe(
          Layer.provide(
            ConfigProvider.layer(
              ConfigProvider.fromUnknown({ HANDOFFKIT_PG_URL: url, HANDOFFKIT_LOCK_EXPIRY: lockExpiry })
            )
          ),
          Layer.orDie
        )

        let sent = 0
        const restartAfter = Math.floor(messages * 0.3)
        let restart:
          | Fiber.Fiber<{
              readonly downMs: number
              readonly sentWhileDown: number
              readonly upAt: number
            }>
          | undefined
        const perSender = messages / senders
        yield* Effect.gen(function* () {
          const refs = yield* Effect.forEach(
            Array.from({ length: actors }, (_, n) => n),
            (n) => Actor.lookup<{ readonly sender: number; readonly seq: number }>(`acc-${n}`)
          )
          yield* Effect.forEach(
            Array.from({ length: senders }, (_, s) => s),
            (sender) =>
              Effect.gen(function* () {
                for (let seq = 0; seq < perSender; seq++) {
                  yield* Actor.send(refs[(sender * 7 + seq) % actors]!, { sender, seq })
                  // A steady stream, not one burst: the restart lands among messages in flight.
                  yield* Effect.sleep("2 millis")
                  if (++sent === restartAfter) {
                    restart = yield* Effect.forkDetach(
                      Effect.gen(function* () {
                        const stoppedAt = Date.now()
                        const before = sent
                        yield* server.stop
                        yield* Effect.sleep(down)
                        yield* server.start
                        const upAt = Date.now()
                        return { downMs: upAt - stoppedAt, sentWhileDown: sent - before, upAt }
                      }).pipe(Effect.orDie)
                    )
                  }
                }
              }),
            { concurrency: "unbounded" }
          )
        }).pipe(Effect.provide(client))
        assert.isDefined(restart, "the restart was started mid-run")
        const { downMs, sentWhileDown, upAt } = yield* Fiber.join(restart!)

        // A fresh client: the admin connection died with the server.
        const sql = yield* PgClient.make({ url: server.url, maxConnections: 2 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const count = sql<{ readonly n: number }>`SELECT count(DISTINCT message_id)::int AS n FROM effects`
        yield* count.pipe(
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (rows) => rows[0]!.n >= messages }),
          Effect.timeout("90 seconds"),
          Effect.ignore
        )
        // Anything redelivered late would show up as a second row: give it a moment.
        yield* Effect.sleep("1 second")
        const rows = yield* sql<Row>`SELECT sender, seq, message_id, runner,
          handled_ms AS at_ms FROM effects ORDER BY id`
        const handled = new Set(rows.map((r) => `${r.sender}/${r.seq}`))
        const lost = messages - handled.size
        const ids = new Set(rows.map((r) => r.message_id))
        const twice = rows.length - ids.size + (rows.length - handled.size)
        const byFirst = rows.filter((r) => r.runner === first.child.pid).length
        const bySecond = rows.filter((r) => r.runner === second.child.pid).length
        // Handled after the server was up again: each runner reconnected and kept serving its actors.
        const after = rows.filter((r) => r.at_ms >= upAt)
        const afterFirst = after.filter((r) => r.runner === first.child.pid).length
        const afterSecond = after.filter((r) => r.runner === second.child.pid).length
        console.log(
          `cluster restart: PostgreSQL down ${(downMs / 1000).toFixed(2)} s after ${restartAfter} sends ` +
            `(${sentWhileDown} more accepted meanwhile); ${rows.length} handled ` +
            `(runner 1: ${byFirst}, runner 2: ${bySecond}; after the restart ${afterFirst} and ${afterSecond}), ` +
            `lost ${lost}, run twice ${twice}`
        )
        if (lost > 0) {
          // Where the lost ones are: stored and not processed (an actor stuck), processed (a failed
          // behaviour), or not stored at all (a send that was dropped).
          const stored = yield* sql<{ readonly payload: string; readonly processed: boolean }>`
            SELECT payload, processed FROM cluster_messages`
          const state = new Map<string, string>()
          for (const row of stored) {
            const m = /"sender":(\d+),"seq":(\d+)/.exec(row.payload)
            if (m !== null) state.set(`${m[1]}/${m[2]}`, row.processed ? "processed" : "unprocessed")
          }
          const where = new Map<string, Array<string>>()
          for (let s = 0; s < senders; s++) {
            for (let q = 0; q < perSender; q++) {
              if (handled.has(`${s}/${q}`)) continue
              const at = state.get(`${s}/${q}`) ?? "not stored"
              where.set(at, [...(where.get(at) ?? []), `${s}/${q}`])
            }
          }
          for (const [at, ids] of where)
            console.log(`lost, ${at}: ${ids.length} (${ids.slice(0, 12).join(" ")})`)
          console.log(first.log().slice(-4000), second.log().slice(-4000))
        }
        assert.strictEqual(lost, 0)
        assert.strictEqual(twice, 0)
        // Both runners lived through it and kept serving.
        assert.strictEqual(first.child.exitCode, null, first.log())
        assert.strictEqual(second.child.exitCode, null, second.log())
        assert.isAbove(afterFirst, 0)
        assert.isAbove(afterSecond, 0)
      }).pipe(Effect.scoped, Effect.orDie),
    240_000
  )
})
