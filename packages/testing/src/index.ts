/**
 * HandoffKit testing: run a topology under a traced harness and check invariants over its trace.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Check from "./Check.ts"
/** @since 0.1.0 */
export * as Harness from "./Harness.ts"
/** @since 0.1.0 */
export * as Invariants from "./Invariants.ts"
