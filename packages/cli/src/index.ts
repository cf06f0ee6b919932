/**
 * The `handoffkit` command: pool, review, plan, trace, demo, doctor.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Cli from "./Cli.ts"

/** @since 0.1.0 */
export * as Review from "./Review.ts"

/** @since 0.1.0 */
export * as TraceSummary from "./TraceSummary.ts"

/** @since 0.1.0 */
export * as TraceExport from "./TraceExport.ts"

/** @since 0.1.0 */
export * as TraceView from "./TraceView.ts"
