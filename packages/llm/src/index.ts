/**
 * LLM agents for HandoffKit.
 *
 * @since 0.1.0
 */
export {}
