/**
 * Who is calling the model: the agent and the message it is handling, so that the provider's trace events
 * name the right actor and cause. Set by `Agent`; a direct user of a provider gets `"model"` and no cause.
 * @internal
 */
import { Context } from "effect"

/** @internal */
export interface Caller {
  readonly actor: string
  readonly causationId: string | undefined
  readonly correlationId: string | undefined
  /** The output bound the caller reserved for: the provider sends the smaller of it and its own. */
  readonly maxOutputTokens: number | undefined
}

/** @internal */
export const CurrentCaller: Context.Reference<Caller> = Context.Reference<Caller>("@handoffkit/llm/Caller", {
  defaultValue: () => ({
    actor: "model",
    causationId: undefined,
    correlationId: undefined,
    maxOutputTokens: undefined
  })
})

let callCounter = 0

/** A fresh id for one logical model call: its request and response events carry it as `messageId`. @internal */
export const nextCallId = (): string => `call-${(++callCounter).toString(36)}`
