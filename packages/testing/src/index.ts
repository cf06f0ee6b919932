/**
 * HandoffKit testing: run a topology under a traced harness and check invariants over its trace; generate
 * topologies and fault schedules to run.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Check from "./Check.ts"
/** @since 0.1.0 */
export * as Faults from "./Faults.ts"
/** @since 0.1.0 */
export * as Harness from "./Harness.ts"
/** @since 0.1.0 */
export * as Invariants from "./Invariants.ts"
/** @since 0.1.0 */
export * as Topology from "./Topology.ts"
