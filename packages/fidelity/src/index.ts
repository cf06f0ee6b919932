/**
 * HandoffKit fidelity: a judge-free benchmark of what survives a chain of bounded handoffs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Fidelity from "./Fidelity.ts"
/** @since 0.1.0 */
export * as Probe from "./Probe.ts"
/** @since 0.1.0 */
export * as Reader from "./Reader.ts"
/** @since 0.1.0 */
export * as Scenario from "./Scenario.ts"
/** @since 0.1.0 */
export * as Strategy from "./Strategy.ts"
/** @since 0.1.0 */
export * as Model from "./Model.ts"
