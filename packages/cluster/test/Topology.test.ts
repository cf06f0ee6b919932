/**
 * Must-show 1: one topology (a pipeline, and a fan-in with a join), written against `@handoffkit/core` only,
 * gives identical outputs on the in-process runtime, on the cluster embedded in one process, and on two
 * runner processes over PostgreSQL (a client in this process).
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Layer, Redacted, Schedule } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Actor, type Registry } from "@handoffkit/core"
import { ClusterActors, ClusterRunner } from "@handoffkit/cluster"
import { testDatabase } from "./fixture/pg.ts"
import { startRunner } from "./fixture/processes.ts"
import { awaitShardsSettled } from "./fixture/shards.ts"
import { drive, expected, Output, spawn } from "./fixture/topology.ts"

/** Runs the topology in this process on `registry` and returns the collector's lines. */
const inThisProcess = (registry: Layer.Layer<Registry.Registry>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const done = yield* Deferred.make<void>()
    yield* spawn.pipe(
      Effect.provideService(Output, {
        emit: (line) =>
          Effect.sync(() => {
            lines.push(line)
            if (lines.length === expected) Deferred.doneUnsafe(done, Effect.void)
          })
      })
    )
    yield* drive
    yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
    return lines
  }).pipe(Effect.scoped, Effect.provide(registry))

const sorted = (lines: ReadonlyArray<string>) => [...lines].sort()

/** Lines of the pipeline, in the order the collector emitted them. */
const pipelineOrder = (lines: ReadonlyArray<string>) => lines.filter((line) => line.startsWith("pipe:"))

describe("topology on three runtimes", () => {
  it.live(
    "in-process, cluster embedded in one process, and two runner processes over PostgreSQL agree",
    () =>
      Effect.gen(function* () {
        const local = yield* inThisProcess(Actor.layer)
        assert.strictEqual(local.length, expected)
        const embedded = yield* inThisProcess(ClusterActors.layerEmbedded)
        assert.deepStrictEqual(sorted(embedded), sorted(local))
        // One sender feeds the pipeline, so its order is part of the output.
        assert.deepStrictEqual(pipelineOrder(embedded), pipelineOrder(local))

        const db = yield* testDatabase
        const lockExpiry = "3 seconds"
        // One after the other: the first creates the cluster's tables.
        yield* startRunner({ mode: "topology", pgUrl: db.url, lockExpiry })
        yield* startRunner({ mode: "topology", pgUrl: db.url, lockExpiry })
        // The join keeps its rounds in memory: drive it only once the rebalance to the second runner is over.
        yield* awaitShardsSettled(db.url)
        const client = ClusterRunner.layerClient.pipe(
          Layer.provide(
            ConfigProvider.layer(
              ConfigProvider.fromUnknown({ HANDOFFKIT_PG_URL: db.url, HANDOFFKIT_LOCK_EXPIRY: lockExpiry })
            )
          ),
          Layer.orDie
        )
        yield* drive.pipe(Effect.provide(client))
        const sql = yield* PgClient.make({ url: Redacted.make(db.url), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const read = sql<{ readonly line: string }>`SELECT line FROM outputs ORDER BY seq`
        const rows = yield* read.pipe(
          Effect.retry(Schedule.spaced("200 millis")),
          Effect.repeat({
            schedule: Schedule.spaced("200 millis"),
            until: (rows) => rows.length >= expected
          }),
          Effect.timeout("60 seconds")
        )
        // Let anything extra (a duplicate) arrive before the final read.
        yield* Effect.sleep("1 second")
        const cluster = (yield* read).map((row) => row.line)
        assert.strictEqual(rows.length, expected)
        assert.deepStrictEqual(sorted(cluster), sorted(local))
        assert.deepStrictEqual(pipelineOrder(cluster), pipelineOrder(local))
      }).pipe(Effect.scoped, Effect.orDie),
    120_000
  )
})
