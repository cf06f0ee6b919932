/**
 * HandoffKit on `effect/cluster`: the same actors, with persisted mailboxes in PostgreSQL, sharded over
 * runner processes, and exactly-once behaviour by envelope id.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ClusterActors from "./ClusterActors.ts"
/** @since 0.1.0 */
export * as Idempotency from "./Idempotency.ts"
/** @since 0.1.0 */
export * as Postgres from "./Postgres.ts"
/** @since 0.1.0 */
export * as ClusterRunner from "./ClusterRunner.ts"
