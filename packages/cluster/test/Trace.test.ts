/**
 * One trace across processes: two runner processes and a client (this process), each writing its own JSONL
 * trace under `HANDOFFKIT_TRACE_DIR` (ClusterRunner's config), run the topology; `TraceMerge.read` of the
 * directory gives one causal view where every send is matched by its receive, after it, across processes.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Redacted, Schedule, Scope } from "effect"
import { NodeServices } from "@effect/platform-node"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { inject } from "vitest"
import { TraceMerge } from "@handoffkit/core"
import { ClusterRunner } from "@handoffkit/cluster"
import { testDatabase } from "./fixture/pg.ts"
import { startRunner } from "./fixture/processes.ts"
import { awaitShardsSettled } from "./fixture/shards.ts"
import { drive, expected, items, reviewers, rounds } from "./fixture/topology.ts"

describe("one trace across processes", () => {
  it.live(
    "two runners and a client write a trace each; the merged view matches every send with its receive, in causal order",
    () =>
      Effect.gen(function* () {
        const db = yield* testDatabase
        const dir = Fs.mkdtempSync(Path.join(inject("pgRoot"), "traces-"))
        const lockExpiry = "3 seconds"
        const env = { HANDOFFKIT_TRACE_DIR: dir }
        const runners = yield* Scope.make()
        const first = yield* startRunner({ mode: "topology", pgUrl: db.url, lockExpiry, env }).pipe(
          Scope.provide(runners)
        )
        const second = yield* startRunner({ mode: "topology", pgUrl: db.url, lockExpiry, env }).pipe(
          Scope.provide(runners)
        )
        // The join keeps its rounds in memory: drive it only once the rebalance to the second runner is over.
        yield* awaitShardsSettled(db.url)
        const client = ClusterRunner.layerClient.pipe(
          Layer.provide(
            ConfigProvider.layer(
              ConfigProvider.fromUnknown({
                HANDOFFKIT_PG_URL: db.url,
                HANDOFFKIT_LOCK_EXPIRY: lockExpiry,
                ...env
              })
            )
          ),
          Layer.orDie
        )
        yield* drive.pipe(Effect.provide(client))
        const sql = yield* PgClient.make({ url: Redacted.make(db.url), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const done = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM outputs`.pipe(
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (rows) => rows[0]!.n >= expected }),
          Effect.timeout("90 seconds"),
          Effect.option
        )
        if (done._tag === "None") {
          const lines = yield* sql<{ readonly line: string }>`SELECT line FROM outputs ORDER BY seq`
          const stuck = yield* sql<{
            readonly entity_id: string
            readonly n: number
            readonly processed: boolean
          }>`
            SELECT entity_id, processed, count(*)::int AS n FROM cluster_messages GROUP BY entity_id, processed ORDER BY entity_id`
          assert.fail(
            `the topology did not finish: ${lines.length} of ${expected} lines\n` +
              `${JSON.stringify(lines.map((l) => l.line))}\n${JSON.stringify(stuck)}\n` +
              `${first.log().slice(-3000)}\n${second.log().slice(-3000)}`
          )
        }
        // Stopped (SIGTERM): each runner flushes and closes its trace file as its layer closes.
        yield* Scope.close(runners, Exit.void)

        const files = Fs.readdirSync(dir).toSorted()
        assert.deepStrictEqual(
          files,
          [
            `client-${process.pid}.jsonl`,
            `runner-localhost-${first.port}-${first.child.pid}.jsonl`,
            `runner-localhost-${second.port}-${second.child.pid}.jsonl`
          ].toSorted()
        )
        const { view, torn } = yield* TraceMerge.read([dir]).pipe(Effect.provide(NodeServices.layer))
        assert.deepStrictEqual(torn, [])
        assert.strictEqual(view.unordered, 0)
        const events = TraceMerge.withoutRepeats(view)

        // Every send has its receive, later in the view; every receive its send, earlier.
        const sends = new Map<string, { readonly index: number; readonly origin: string }>()
        const receives = new Map<string, { readonly index: number; readonly origin: string }>()
        events.forEach((event, index) => {
          if (event.messageId === undefined) return
          if (event.kind === "send") sends.set(event.messageId, { index, origin: event.origin })
          if (event.kind === "receive") receives.set(event.messageId, { index, origin: event.origin })
        })
        // The client's sends (the items, each round to every reviewer) and the actors' (two pipeline hops per
        // item, a verdict per round and reviewer, a collector line per round).
        assert.strictEqual(sends.size, items + rounds * reviewers + 2 * items + rounds * reviewers + rounds)
        const unmatched = [...sends.keys()].filter((id) => !receives.has(id))
        assert.deepStrictEqual(unmatched, [], "sends without their receive")
        const orphans = [...receives.keys()].filter((id) => !sends.has(id))
        assert.deepStrictEqual(orphans, [], "receives without their send")
        let crossing = 0
        for (const [id, send] of sends) {
          const receive = receives.get(id)!
          assert.isBelow(send.index, receive.index, `send ${id} before its receive`)
          if (send.origin !== receive.origin) crossing++
        }
        // The client's sends are all received by runners; the runners' own sends land on either of them.
        assert.isAtLeast(crossing, items + rounds * reviewers)
        const byOrigin = new Map<string, number>()
        for (const event of events)
          byOrigin.set(Path.basename(event.origin), (byOrigin.get(Path.basename(event.origin)) ?? 0) + 1)
        console.log(
          `cluster trace: ${view.events.length} events from ${files.length} files (${[...byOrigin].map(([f, n]) => `${f}: ${n}`).join(", ")}); ` +
            `${sends.size} sends, all received, ${crossing} across processes; ${view.repeats} repeats`
        )
      }).pipe(Effect.scoped, Effect.orDie),
    120_000
  )
})
