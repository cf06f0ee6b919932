/**
 * HandoffKit core: coordinate agents by passing messages, the way Go coordinates goroutines.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Actor from "./Actor.ts"
/** @since 0.1.0 */
export * as Broker from "./Broker.ts"
/** @since 0.1.0 */
export * as Budget from "./Budget.ts"
/** @since 0.1.0 */
export * as Compactor from "./Compactor.ts"
/** @since 0.1.0 */
export * as Corpus from "./Corpus.ts"
/** @since 0.1.0 */
export * as DeadLetter from "./DeadLetter.ts"
/** @since 0.1.0 */
export * as Envelope from "./Envelope.ts"
/** @since 0.1.0 */
export * as Handoff from "./Handoff.ts"
/** @since 0.1.0 */
export * as Join from "./Join.ts"
/** @since 0.1.0 */
export * as Mailbox from "./Mailbox.ts"
/** @since 0.1.0 */
export * as Nursery from "./Nursery.ts"
/** @since 0.1.0 */
export * as Quorum from "./Quorum.ts"
/** @since 0.1.0 */
export * as Registry from "./Registry.ts"
/** @since 0.1.0 */
export * as Select from "./Select.ts"
/** @since 0.1.0 */
export * as Tracer from "./Tracer.ts"
/** @since 0.1.0 */
export * as TraceMerge from "./TraceMerge.ts"
