/**
 * Exactly-once behaviour over at-least-once delivery. The cluster redelivers a persisted message whose
 * completion it had not recorded when a runner died; `Idempotency` records each handled message by its
 * envelope id, so a redelivered message is recognised and its behaviour is not run again.
 *
 * **When to use**
 *
 * `ClusterActors` uses it for every message it hands to an actor. Provide `layerSql` on PostgreSQL (the
 * record is written in the same transaction as the behaviour's own SQL effects) or `layerMemory` for the
 * cluster embedded in one process without a database.
 *
 * **Details**
 *
 * - `layerSql` keeps table `handoffkit_handled (message_id primary key, address, reply, handled_at)`. A
 *   message is claimed by inserting its id at the start of a transaction; the behaviour runs inside that
 *   transaction, so its writes through the same `SqlClient` commit together with the claim or not at all.
 *   A second delivery of the same id finds the row (or waits on it while the first is in flight) and is
 *   skipped; the reply recorded with it is returned again, so an `ask` still gets its answer.
 * - A transaction that fails for a database error (a connection lost, PostgreSQL restarting) rolls back and
 *   is retried, with the same id, until the database answers again (`retry`, default up to 2 minutes); also
 *   when the behaviour turned that error into a defect (`Effect.orDie` on its own SQL).
 * - Order: `backlog` lists the messages stored for an actor before the one being handled and not handled
 *   yet; `run` with `after` checks that there are none in the statement that claims the id (one round trip
 *   for both), and rolls the claim back when there are. The cluster reads stored messages in the order they
 *   were stored, but a message claimed by a runner that was losing its shard can be left behind while later
 *   ones reach the new owner; handling the backlog first keeps every sender's order (see `ClusterActors`).
 *   `stale` lists messages claimed long ago and still not processed, so a runner can have the cluster read
 *   again one it left behind with no later message of its entity to catch it up (the cluster itself re-reads
 *   a claim after ten minutes).
 * - Not covered: effects outside the database (an HTTP call, a model request, a file). They run again when
 *   the message is redelivered before its transaction committed; make them idempotent by the envelope id.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import type { Envelope } from "@handoffkit/core"
import { SqlClient } from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"

/**
 * What happened to one delivery: the behaviour ran (`"handled"`), or the id had been handled already
 * (`"duplicate"`), with the reply recorded for it (an encoded reply envelope, or `null`); or, when `run` was
 * given where the message was stored (`after`), messages of its entity stored before it are not handled yet
 * (`"behind"`): nothing ran, nothing was recorded, `reply` is `null`.
 *
 * **Example**
 *
 * ```ts
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * const result: Idempotency.Result = { outcome: "duplicate", reply: null }
 * console.log(result.outcome) // "duplicate"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Result {
  readonly outcome: "handled" | "duplicate" | "behind"
  readonly reply: unknown
}

/**
 * A stored message the cluster has not reported processed: its request id (the cluster's) and its stored
 * `deliver` payload (`{ envelope }`, an encoded envelope).
 *
 * **Example**
 *
 * ```ts
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * const stored: Idempotency.Stored = { requestId: "7", payload: { envelope: { id: "m-1" } } }
 * console.log(stored.requestId) // "7"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Stored {
  readonly requestId: string
  readonly payload: unknown
}

/**
 * Where a message being handled was stored: its entity and the cluster's request id.
 *
 * **Example**
 *
 * ```ts
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * const at: Idempotency.StoredAt = { shardId: "default:3", entityType: "HandoffKitActor", entityId: "a", requestId: "7" }
 * console.log(at.entityId) // "a"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface StoredAt {
  readonly shardId: string
  readonly entityType: string
  readonly entityId: string
  readonly requestId: string
}

/**
 * A stored message claimed by a read long ago and not processed: its request id and its shard
 * (`ShardId.toString` form).
 *
 * **Example**
 *
 * ```ts
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * const claim: Idempotency.Claim = { requestId: "7", shardId: "default:3" }
 * console.log(claim.shardId) // "default:3"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Claim {
  readonly requestId: string
  readonly shardId: string
}

/**
 * The idempotency service.
 *
 * **Details**
 *
 * `run(envelope, handling, reply, after)` runs `handling` unless `envelope.id` was handled before; `reply()` is
 * read after `handling` succeeded and stored with the id. With `after` (where the message was stored), it
 * first checks, in the statement that claims the id, that `backlog(after)` is empty, and returns `"behind"`
 * without running anything when it is not. `backlog(at)` lists, in the order they were stored, the messages
 * of the same entity stored before the one at `at` whose envelope ids were not handled yet (always empty in
 * memory, where the cluster cannot leave one behind). `stale(entityType, olderThan)` lists
 * that entity type's unprocessed requests whose last read is older than `olderThan` (empty in memory).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Envelope } from "@handoffkit/core"
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * const envelope = { id: "m-1", payload: "hi" } as unknown as Envelope.Envelope<string>
 * const program = Effect.gen(function*() {
 *   const idempotency = yield* Idempotency.Idempotency
 *   let runs = 0
 *   const handling = Effect.sync(() => void runs++)
 *   yield* idempotency.run(envelope, handling, () => null)
 *   const again = yield* idempotency.run(envelope, handling, () => null)
 *   return [runs, again.outcome]
 * }).pipe(Effect.provide(Idempotency.layerMemory))
 * console.log(Effect.runSync(program)) // [1, "duplicate"]
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Idempotency extends Context.Service<
  Idempotency,
  {
    readonly run: <E, R>(
      envelope: Envelope.Envelope<unknown>,
      handling: Effect.Effect<void, E, R>,
      reply: () => unknown,
      after?: StoredAt | undefined
    ) => Effect.Effect<Result, E, R>
    readonly backlog: (at: StoredAt) => Effect.Effect<ReadonlyArray<Stored>>
    readonly stale: (entityType: string, olderThan: Duration.Duration) => Effect.Effect<ReadonlyArray<Claim>>
  }
>()("@handoffkit/cluster/Idempotency") {}

/**
 * Records handled ids in memory: exactly-once within one process (the cluster embedded in it).
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * console.log(Layer.isLayer(Idempotency.layerMemory)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Idempotency> = Layer.sync(Idempotency, () => {
  const handled = new Map<string, unknown>()
  return Idempotency.of({
    run: (envelope, handling, reply) =>
      Effect.suspend(() => {
        if (handled.has(envelope.id)) {
          return Effect.succeed<Result>({ outcome: "duplicate", reply: handled.get(envelope.id) ?? null })
        }
        return Effect.map(handling, () => {
          const value = reply() ?? null
          handled.set(envelope.id, value)
          return { outcome: "handled", reply: value } satisfies Result
        })
      }),
    backlog: () => Effect.succeed([]),
    stale: () => Effect.succeed([])
  })
})

/**
 * The table `layerSql` keeps.
 *
 * **Example**
 *
 * ```ts
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * console.log(Idempotency.table) // "handoffkit_handled"
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const table = "handoffkit_handled"

// A lost connection, a restarting server, a deadlock: worth retrying. A syntax error or a violated
// constraint is not.
const permanent = new Set([
  "SqlSyntaxError",
  "UniqueViolation",
  "ConstraintError",
  "AuthorizationError",
  "AuthenticationError"
])
// Fails the claiming transaction of a message whose entity is behind, so that it rolls back.
const rollBack = { _tag: "Behind" } as const

const isTransient = (error: unknown): boolean => isSqlError(error) && !permanent.has(error.reason._tag)

/**
 * Records handled ids in PostgreSQL, in the transaction of the behaviour (see the module's details).
 *
 * **Details**
 *
 * Creates the table when missing. Behaviours that write to the database must do it through the same
 * `SqlClient` this layer is given, so their writes join its transaction.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { Idempotency } from "@handoffkit/cluster"
 *
 * console.log(Layer.isLayer(Idempotency.layerSql())) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSql = (options?: {
  /** How long to keep retrying a transaction while the database is unreachable; default 2 minutes. */
  readonly retryFor?: Duration.Input | undefined
  /** The cluster's message table (`SqlMessageStorage`'s, with its prefix); default `cluster_messages`. */
  readonly messagesTable?: string | undefined
}): Layer.Layer<Idempotency, SqlError, SqlClient> =>
  Layer.effect(
    Idempotency,
    Effect.gen(function* () {
      const sql = yield* SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
        message_id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        reply JSONB,
        handled_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`
      const retryFor = Duration.fromInputUnsafe(options?.retryFor ?? "2 minutes")
      const retry = Schedule.spaced("100 millis").pipe(
        Schedule.while(({ elapsed }) => Duration.isLessThan(Duration.millis(elapsed), retryFor))
      )
      const messages = options?.messagesTable ?? "cluster_messages"
      const retrying = <A>(effect: Effect.Effect<A, SqlError>): Effect.Effect<A> =>
        effect.pipe(
          Effect.retry({ while: isTransient, schedule: retry }),
          Effect.catchIf(isSqlError, (error) => Effect.die(error))
        )
      // Requests (kind 0) of the entity, not reported processed, stored before `at`, whose envelope id has
      // no record here. The shard filter uses the cluster's (shard_id, processed, ...) index.
      const behind = (at: StoredAt) => sql`
        FROM ${sql(messages)} m
        WHERE m.shard_id = ${at.shardId} AND m.processed = FALSE AND m.kind = 0
          AND m.entity_type = ${at.entityType} AND m.entity_id = ${at.entityId}
          AND m.rowid < (SELECT c.rowid FROM ${sql(messages)} c WHERE c.id = ${at.requestId}::bigint)
          AND NOT EXISTS (SELECT 1 FROM ${sql(table)} h
            WHERE h.message_id = (m.payload::jsonb -> 'envelope' ->> 'id'))`
      // The claim of `envelope`'s id; with `after`, in the same statement, whether its entity is behind.
      const claim = (envelope: Envelope.Envelope<unknown>, after: StoredAt | undefined) =>
        after === undefined
          ? Effect.map(
              sql<{ readonly message_id: string }>`
                INSERT INTO ${sql(table)} (message_id, address) VALUES (${envelope.id}, ${envelope.to})
                ON CONFLICT (message_id) DO NOTHING RETURNING message_id`,
              (rows) => ({ claimed: rows.length > 0, behind: false })
            )
          : Effect.map(
              sql<{ readonly claimed: number; readonly behind: boolean }>`
                WITH claimed AS (
                  INSERT INTO ${sql(table)} (message_id, address) VALUES (${envelope.id}, ${envelope.to})
                  ON CONFLICT (message_id) DO NOTHING RETURNING message_id)
                SELECT (SELECT count(*) FROM claimed)::int AS claimed,
                  EXISTS (SELECT 1 ${behind(after)}) AS behind`,
              (rows) => ({ claimed: rows[0]!.claimed > 0, behind: rows[0]!.behind })
            )
      return Idempotency.of({
        backlog: (at) =>
          retrying(
            sql<{ readonly request_id: string; readonly payload: string }>`
              SELECT m.id::text AS request_id, m.payload ${behind(at)}
              ORDER BY m.rowid`
          ).pipe(
            Effect.map((rows) =>
              rows.map((row) => ({ requestId: row.request_id, payload: JSON.parse(row.payload) as unknown }))
            )
          ),
        stale: (entityType, olderThan) =>
          retrying(
            sql<{ readonly request_id: string; readonly shard_id: string }>`
              SELECT m.id::text AS request_id, m.shard_id FROM ${sql(messages)} m
              WHERE m.processed = FALSE AND m.kind = 0 AND m.entity_type = ${entityType}
                AND m.last_read < now() - make_interval(secs => ${Duration.toSeconds(olderThan)})
              ORDER BY m.rowid LIMIT 1000`
          ).pipe(
            Effect.map((rows) => rows.map((row) => ({ requestId: row.request_id, shardId: row.shard_id })))
          ),
        run: <E, R>(
          envelope: Envelope.Envelope<unknown>,
          handling: Effect.Effect<void, E, R>,
          reply: () => unknown,
          after?: StoredAt | undefined
        ) =>
          sql
            .withTransaction(
              Effect.gen(function* () {
                const claimed = yield* claim(envelope, after)
                // Earlier messages first: the claim is rolled back with the transaction.
                if (claimed.claimed && claimed.behind) return yield* Effect.fail(rollBack)
                if (!claimed.claimed) {
                  const rows = yield* sql<{ readonly reply: unknown }>`
                    SELECT reply FROM ${sql(table)} WHERE message_id = ${envelope.id}`
                  return { outcome: "duplicate", reply: rows[0]?.reply ?? null } satisfies Result
                }
                yield* handling
                const value = reply() ?? null
                if (value !== null) {
                  yield* sql`UPDATE ${sql(table)} SET reply = ${JSON.stringify(value)}::jsonb
                    WHERE message_id = ${envelope.id}`
                }
                return { outcome: "handled", reply: value } satisfies Result
              })
            )
            .pipe(
              Effect.catchIf(
                (error): error is typeof rollBack => error === rollBack,
                () => Effect.succeed<Result>({ outcome: "behind", reply: null })
              ),
              // A behaviour that turned its own SQL error into a defect (`Effect.orDie`) rolled back with the
              // transaction all the same: a lost connection there is as retryable as one in the claim.
              Effect.catchDefect((defect) =>
                isTransient(defect) ? Effect.fail(defect as SqlError) : Effect.die(defect)
              ),
              // Database errors that may pass are retried: the transaction rolled back, so nothing of it happened.
              Effect.retry({ while: isTransient, schedule: retry }),
              Effect.catchIf(isSqlError, (error) => Effect.die(error))
            ) as Effect.Effect<Result, E, R>
      })
    })
  )
