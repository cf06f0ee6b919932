/**
 * LLM agents for HandoffKit: model-driven actors, an OpenAI provider on the `openai` SDK, and a scripted
 * OpenAI-compatible server for offline tests.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Agent from "./Agent.ts"

/** @since 0.1.0 */
export * as Codex from "./Codex.ts"

/** @since 0.1.0 */
export * as HandoffKit from "./HandoffKit.ts"

/** @since 0.1.0 */
export * as OpenAi from "./OpenAi.ts"

/** @since 0.1.0 */
export * as ScriptedServer from "./ScriptedServer.ts"
