/**
 * The distributed set-up: runner processes on `NodeClusterSocket` with `@effect/sql-pg` storage, and client
 * processes that only send, all configured through `Config`.
 *
 * **When to use**
 *
 * Provide `layer` in every runner process and `layerClient` in a process that only sends and asks.
 *
 * **Details**
 *
 * - `HANDOFFKIT_PG_URL` (required): the PostgreSQL the cluster keeps its messages, shard locks and the
 *   idempotency table in.
 * - `HANDOFFKIT_RUNNER_HOST` / `HANDOFFKIT_RUNNER_PORT`: the address this runner listens on and is reached
 *   at (default `localhost:34431`).
 * - `HANDOFFKIT_LOCK_EXPIRY`: how long a dead runner's shards stay locked before another takes them (default
 *   10 seconds). Failover costs about this much plus one lock refresh; runners and clients must agree on it.
 * - `HANDOFFKIT_TRACE_DIR` (optional): a directory each process writes its trace to, one JSONL file of its
 *   own (`runner-<host>-<port>-<pid>.jsonl`, `client-<pid>.jsonl`), through `Tracer.jsonl`: the actors
 *   spawned under the layer and the sends made under it are traced with their message and causation ids.
 *   `handoffkit trace summary <dir>` (or `TraceMerge.read`) merges the files into one causal view.
 * - The runner's `SqlClient` (a pool of its own, apart from the cluster's storage) is provided to the actors:
 *   their writes through it join the transaction that records the message as handled.
 *
 * @since 0.1.0
 */
import { Config, Duration, Effect, FileSystem, Layer, Option, type Redacted } from "effect"
import { NodeClusterSocket, NodeFileSystem } from "@effect/platform-node"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import type * as ShardingConfig from "effect/cluster/ShardingConfig"
import type { SqlClient } from "effect/sql/SqlClient"
import { type Registry, Tracer } from "@handoffkit/core"
import * as ClusterActors from "./ClusterActors.ts"
import * as Idempotency from "./Idempotency.ts"

/**
 * The settings of a runner or client.
 *
 * **Example**
 *
 * ```ts
 * import { ConfigProvider, Duration, Effect } from "effect"
 * import { ClusterRunner } from "@handoffkit/cluster"
 *
 * const provider = ConfigProvider.fromUnknown({ HANDOFFKIT_PG_URL: "postgres://127.0.0.1/test", HANDOFFKIT_LOCK_EXPIRY: "3 seconds" })
 * const settings = Effect.runSync(ClusterRunner.config.parse(provider))
 * console.log(settings.runnerPort, Duration.toMillis(settings.lockExpiry), settings.traceDir._tag) // 34431 3000 "None"
 * ```
 *
 * @category config
 * @since 0.1.0
 */
export const config: Config.Config<{
  readonly pgUrl: Redacted.Redacted<string>
  readonly runnerHost: string
  readonly runnerPort: number
  readonly lockExpiry: Duration.Duration
  readonly traceDir: Option.Option<string>
}> = Config.all({
  pgUrl: Config.Redacted("HANDOFFKIT_PG_URL"),
  runnerHost: Config.String("HANDOFFKIT_RUNNER_HOST").pipe(Config.withDefault("localhost")),
  runnerPort: Config.Port("HANDOFFKIT_RUNNER_PORT").pipe(Config.withDefault(34431)),
  lockExpiry: Config.Duration("HANDOFFKIT_LOCK_EXPIRY").pipe(Config.withDefault(Duration.seconds(10))),
  traceDir: Config.option(Config.String("HANDOFFKIT_TRACE_DIR"))
}) as any

/**
 * Where a process of the cluster writes its trace under `HANDOFFKIT_TRACE_DIR`: one file per process, named
 * after its role, its runner address and its pid, so the merged view tells which process recorded what.
 *
 * **Example**
 *
 * ```ts
 * import { ClusterRunner } from "@handoffkit/cluster"
 *
 * console.log(ClusterRunner.traceFile("/tmp/traces", { runner: "localhost:34431", pid: 812 }))
 * // "/tmp/traces/runner-localhost-34431-812.jsonl"
 * console.log(ClusterRunner.traceFile("/tmp/traces", { pid: 813 })) // "/tmp/traces/client-813.jsonl"
 * ```
 *
 * @category tracing
 * @since 0.1.0
 */
export const traceFile = (
  dir: string,
  who: { readonly runner?: string | undefined; readonly pid: number }
): string =>
  `${dir.replace(/\/+$/, "")}/${
    who.runner === undefined
      ? `client-${who.pid}`
      : `runner-${who.runner.replace(/[^A-Za-z0-9.-]+/g, "-")}-${who.pid}`
  }.jsonl`

/**
 * Traces to `traceFile(dir, ...)` when `dir` is set: a tracer on a `Tracer.jsonl` sink provided as
 * `Tracer.CurrentTracer` (the file is flushed and closed with the layer); nothing when it is not.
 */
const traceLayer = (dir: Option.Option<string>, runner: string | undefined) =>
  Option.match(dir, {
    onNone: () => Layer.empty,
    onSome: (dir) =>
      Layer.effect(
        Tracer.CurrentTracer,
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          yield* fs.makeDirectory(dir, { recursive: true })
          const sink = yield* Tracer.jsonl(traceFile(dir, { runner, pid: process.pid }))
          return Tracer.make([sink])
        })
      ).pipe(Layer.provide(NodeFileSystem.layer))
  })

/**
 * The sharding settings a runner and a client derive from the lock expiry: locks refreshed four times per
 * expiry, stored messages polled every 250 ms (so moved messages are not held up by the poll).
 *
 * **Example**
 *
 * ```ts
 * import { Duration } from "effect"
 * import { ClusterRunner } from "@handoffkit/cluster"
 *
 * const sharding = ClusterRunner.shardingConfig(Duration.seconds(4))
 * console.log(Duration.toMillis(Duration.fromInputUnsafe(sharding.shardLockRefreshInterval!))) // 1000
 * ```
 *
 * @category config
 * @since 0.1.0
 */
export const shardingConfig = (
  lockExpiry: Duration.Duration
): Partial<ShardingConfig.ShardingConfig["Service"]> => ({
  shardLockExpiration: lockExpiry,
  shardLockRefreshInterval: Duration.millis(Math.max(100, Duration.toMillis(lockExpiry) / 4)),
  entityMessagePollInterval: Duration.millis(250),
  refreshAssignmentsInterval: Duration.millis(500),
  runnerHealthCheckInterval: Duration.seconds(1),
  entityMaxIdleTime: Duration.minutes(5)
})

/**
 * A runner: serves the actors spawned in its process for the shards it owns.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ClusterRunner } from "@handoffkit/cluster"
 *
 * console.log(Layer.isLayer(ClusterRunner.layer)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Registry.Registry | SqlClient | PgClient.PgClient, unknown> = Layer.unwrap(
  Effect.gen(function* () {
    const c = yield* config
    const app = PgClient.layer({ url: c.pgUrl, applicationName: "handoffkit-actors" })
    const sharding = NodeClusterSocket.layer({
      shardingConfig: {
        ...shardingConfig(c.lockExpiry),
        runnerAddress: Option.some(RunnerAddress.make(c.runnerHost, c.runnerPort))
      }
    }).pipe(Layer.provide(PgClient.layer({ url: c.pgUrl, applicationName: "handoffkit-cluster" })))
    return ClusterActors.layer.pipe(
      Layer.provide(Idempotency.layerSql()),
      Layer.provide(sharding),
      Layer.provideMerge(app),
      Layer.merge(traceLayer(c.traceDir, `${c.runnerHost}:${c.runnerPort}`))
    )
  })
)

/**
 * A client: sends and asks, handles nothing.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { ClusterRunner } from "@handoffkit/cluster"
 *
 * console.log(Layer.isLayer(ClusterRunner.layerClient)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient: Layer.Layer<Registry.Registry, unknown> = Layer.unwrap(
  Effect.gen(function* () {
    const c = yield* config
    const sharding = NodeClusterSocket.layer({
      clientOnly: true,
      shardingConfig: shardingConfig(c.lockExpiry)
    }).pipe(Layer.provide(PgClient.layer({ url: c.pgUrl, applicationName: "handoffkit-client" })))
    return ClusterActors.layerClient.pipe(
      Layer.provide(sharding),
      Layer.merge(traceLayer(c.traceDir, undefined))
    )
  })
)
