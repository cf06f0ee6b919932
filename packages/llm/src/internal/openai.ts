/**
 * The wire mapping of the OpenAI provider: effect/ai prompts to Responses API input, Responses API output and
 * stream events to effect/ai response parts, SDK errors to `AiError`s.
 * @internal
 */
import { Duration, Schema } from "effect"
import { AiError, type LanguageModel, type Prompt, type Response, Tool } from "effect/ai"
import OpenAI, { APIConnectionError, APIError } from "openai"

type InputItem = OpenAI.Responses.ResponseInputItem
type FunctionTool = OpenAI.Responses.FunctionTool

const fail = (method: string, reason: AiError.AiErrorReason): AiError.AiError =>
  AiError.make({ module: "OpenAi", method, reason })

// -----------------------------------------------------------------------------
// What the wire must carry: every answer and stream event is decoded with these before it is read
// -----------------------------------------------------------------------------

const not = (...types: ReadonlyArray<string>) =>
  Schema.String.check(
    Schema.makeFilter((t: string) => !types.includes(t), {
      expected: `a type other than ${types.join(", ")}`
    })
  )

/** Seconds since the epoch that a `Date` can hold (a larger number throws a `RangeError` in `toISOString`). */
const EpochSeconds = Schema.Finite.check(
  Schema.makeFilter((n: number) => Math.abs(n) <= 8.64e12, { expected: "seconds since the epoch" })
)
const TokenCount = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

const UsageWire = Schema.Struct({
  input_tokens: TokenCount,
  output_tokens: TokenCount,
  input_tokens_details: Schema.optionalKey(
    Schema.NullOr(Schema.Struct({ cached_tokens: Schema.optionalKey(Schema.NullOr(TokenCount)) }))
  ),
  output_tokens_details: Schema.optionalKey(
    Schema.NullOr(Schema.Struct({ reasoning_tokens: Schema.optionalKey(Schema.NullOr(TokenCount)) }))
  )
})

const ContentWire = Schema.Union([
  Schema.Struct({ type: Schema.Literal("output_text"), text: Schema.String }),
  Schema.Struct({ type: not("output_text") })
])

const FunctionCallWire = Schema.Struct({
  type: Schema.Literal("function_call"),
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String
})

const ItemWire = Schema.Union([
  Schema.Struct({ type: Schema.Literal("message"), id: Schema.String, content: Schema.Array(ContentWire) }),
  FunctionCallWire,
  Schema.Struct({ type: not("message", "function_call") })
])

const ResponseWire = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  created_at: EpochSeconds,
  output: Schema.Array(ItemWire),
  usage: Schema.optionalKey(Schema.NullOr(UsageWire)),
  incomplete_details: Schema.optionalKey(
    Schema.NullOr(Schema.Struct({ reason: Schema.optionalKey(Schema.NullOr(Schema.String)) }))
  ),
  error: Schema.optionalKey(Schema.NullOr(Schema.Struct({ message: Schema.optionalKey(Schema.String) })))
})

/** A Responses API answer as the provider reads it. @internal */
export type ResponseWire = typeof ResponseWire.Type

/** The head of a response carried by `response.created`: no output yet, and `created_at` may be absent. */
const ResponseHeadWire = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  created_at: Schema.optionalKey(Schema.NullOr(EpochSeconds))
})

const eventSchemas = {
  "response.created": Schema.Struct({ type: Schema.Literal("response.created"), response: ResponseHeadWire }),
  "response.output_item.added": Schema.Struct({
    type: Schema.Literal("response.output_item.added"),
    item: Schema.Union([
      Schema.Struct({ type: Schema.Literal("message"), id: Schema.String }),
      Schema.Struct({ type: not("message") })
    ])
  }),
  "response.output_text.delta": Schema.Struct({
    type: Schema.Literal("response.output_text.delta"),
    item_id: Schema.String,
    delta: Schema.String
  }),
  "response.output_item.done": Schema.Struct({
    type: Schema.Literal("response.output_item.done"),
    item: ItemWire
  }),
  "response.completed": Schema.Struct({ type: Schema.Literal("response.completed"), response: ResponseWire }),
  "response.incomplete": Schema.Struct({
    type: Schema.Literal("response.incomplete"),
    response: ResponseWire
  }),
  "response.failed": Schema.Struct({
    type: Schema.Literal("response.failed"),
    response: Schema.Struct({
      error: Schema.optionalKey(Schema.NullOr(Schema.Struct({ message: Schema.optionalKey(Schema.String) })))
    })
  }),
  error: Schema.Struct({ type: Schema.Literal("error"), message: Schema.String })
} as const

const EventHead = Schema.Struct({ type: Schema.String })

/** A stream event as the provider reads it. @internal */
export type EventWire =
  | { readonly [K in keyof typeof eventSchemas]: (typeof eventSchemas)[K]["Type"] }[keyof typeof eventSchemas]
  | { readonly type: "ignored" }

const malformed = (method: string, what: string, error: Schema.SchemaError): AiError.AiError =>
  fail(
    method,
    new AiError.InvalidOutputError({
      description: `the model's ${what} is not a Responses API ${what}: ${error.message.slice(0, 500)}`
    })
  )

/** Decodes a whole (non-streamed) answer; a malformed one is a retryable `InvalidOutputError`. @internal */
export const decodeResponse = (method: string, body: unknown): ResponseWire | AiError.AiError => {
  const result = Schema.decodeUnknownExit(ResponseWire)(body)
  if (result._tag === "Success") return result.value
  const failure = result.cause.reasons.find((r) => r._tag === "Fail")
  return failure?._tag === "Fail" && Schema.isSchemaError(failure.error)
    ? malformed(method, "answer", failure.error)
    : fail(method, new AiError.InvalidOutputError({ description: "the model's answer could not be read" }))
}

/** Decodes one stream event; a malformed one is a retryable `InvalidOutputError`. @internal */
export const decodeEvent = (event: unknown): EventWire | AiError.AiError => {
  const head = Schema.decodeUnknownExit(EventHead)(event)
  // Event types the provider does not read (`response.in_progress`, content part events, …) pass unread.
  const schema: Schema.Top | undefined =
    head._tag === "Success" && Object.hasOwn(eventSchemas, head.value.type)
      ? eventSchemas[head.value.type as keyof typeof eventSchemas]
      : head._tag === "Success"
        ? undefined
        : EventHead
  if (schema === undefined) return { type: "ignored" }
  const result = Schema.decodeUnknownExit(schema as Schema.Decoder<EventWire>)(event)
  if (result._tag === "Success") return result.value
  const failure = result.cause.reasons.find((r) => r._tag === "Fail")
  return failure?._tag === "Fail" && Schema.isSchemaError(failure.error)
    ? malformed("streamText", "stream event", failure.error)
    : fail("streamText", new AiError.InvalidOutputError({ description: "a stream event could not be read" }))
}

/** A stream that ended without `response.completed` (or `response.incomplete`): a retryable error. @internal */
export const truncated = (): AiError.AiError =>
  fail(
    "streamText",
    new AiError.InvalidOutputError({
      description:
        "the stream ended before its completion event (response.completed): the answer is incomplete"
    })
  )

/** Prompt → Responses API `input`. System messages become developer messages. @internal */
export const toInput = (prompt: Prompt.Prompt): Array<InputItem> | AiError.AiError => {
  const items: Array<InputItem> = []
  for (const message of prompt.content) {
    switch (message.role) {
      case "system":
        items.push({ role: "developer", content: message.content })
        break
      case "user": {
        const content: Array<OpenAI.Responses.ResponseInputText> = []
        for (const part of message.content) {
          if (part.type !== "text") {
            return fail(
              "toInput",
              new AiError.InvalidUserInputError({
                description: `a user message holds a ${part.type} part (${part.mediaType}); this provider sends text only`
              })
            )
          }
          content.push({ type: "input_text", text: part.text })
        }
        items.push({ role: "user", content })
        break
      }
      case "assistant":
        for (const part of message.content) {
          if (part.type === "text") items.push({ role: "assistant", content: part.text })
          else if (part.type === "tool-call" && !part.providerExecuted) {
            items.push({
              type: "function_call",
              call_id: part.id,
              name: part.name,
              arguments: JSON.stringify(part.params ?? {})
            })
          }
        }
        break
      case "tool":
        for (const part of message.content) {
          if (part.type !== "tool-result") continue
          items.push({
            type: "function_call_output",
            call_id: part.id,
            output: typeof part.result === "string" ? part.result : JSON.stringify(part.result ?? null)
          })
        }
        break
    }
  }
  return items
}

/** The toolkit's tools as Responses API function tools, and the tool choice. @internal */
export const toTools = (
  options: LanguageModel.ProviderOptions
): {
  readonly tools: Array<FunctionTool> | undefined
  readonly toolChoice: OpenAI.Responses.ResponseCreateParams["tool_choice"] | undefined
} => {
  let tools = options.tools.filter((tool) => Tool.isUserDefined(tool) || Tool.isDynamic(tool))
  const choice = options.toolChoice
  let toolChoice: OpenAI.Responses.ResponseCreateParams["tool_choice"] | undefined
  if (choice === "auto" || choice === "none" || choice === "required") toolChoice = choice
  else if ("tool" in choice) toolChoice = { type: "function", name: choice.tool }
  else {
    const allowed = new Set<string>(choice.oneOf)
    tools = tools.filter((tool) => allowed.has(tool.name))
    toolChoice = choice.mode === "required" ? "required" : "auto"
  }
  if (tools.length === 0) return { tools: undefined, toolChoice: undefined }
  return {
    tools: tools.map((tool) => {
      const definition: FunctionTool = {
        type: "function",
        name: tool.name,
        parameters: Tool.getJsonSchema(tool) as Record<string, unknown>,
        strict: false
      }
      const description = Tool.getDescription(tool)
      if (description !== undefined) definition.description = description
      return definition
    }),
    toolChoice
  }
}

/** Responses API usage → effect/ai usage. @internal */
export const toUsage = (usage: ResponseWire["usage"]): typeof Response.Usage.Encoded => {
  if (usage == null) return { inputTokens: {}, outputTokens: {} }
  const cached = usage.input_tokens_details?.cached_tokens ?? 0
  const reasoning = usage.output_tokens_details?.reasoning_tokens ?? 0
  return {
    inputTokens: { uncached: usage.input_tokens - cached, total: usage.input_tokens, cacheRead: cached },
    outputTokens: { total: usage.output_tokens, text: usage.output_tokens - reasoning, reasoning }
  }
}

const finishReason = (
  response: Pick<ResponseWire, "incomplete_details">,
  toolCalls: boolean
): Response.FinishReason => {
  const reason = response.incomplete_details?.reason
  if (reason === "max_output_tokens") return "length"
  if (reason === "content_filter") return "content-filter"
  return toolCalls ? "tool-calls" : "stop"
}

const parseArguments = (call: typeof FunctionCallWire.Type): unknown | AiError.AiError => {
  try {
    return call.arguments === "" ? {} : JSON.parse(call.arguments)
  } catch {
    return fail(
      "parse",
      new AiError.InvalidOutputError({
        description: `the arguments of tool call ${call.call_id} (${call.name}) are not JSON: ${call.arguments.slice(0, 200)}`
      })
    )
  }
}

/** A complete Responses API response → response parts. @internal */
export const fromResponse = (response: ResponseWire): Array<Response.PartEncoded> | AiError.AiError => {
  const parts: Array<Response.PartEncoded> = [
    {
      type: "response-metadata",
      id: response.id,
      modelId: response.model,
      timestamp: new Date(response.created_at * 1000).toISOString()
    }
  ]
  let toolCalls = false
  for (const item of response.output) {
    if (item.type === "message" && "content" in item) {
      for (const content of item.content) {
        if (content.type === "output_text" && "text" in content)
          parts.push({ type: "text", text: content.text })
      }
    } else if (item.type === "function_call" && "call_id" in item) {
      const params = parseArguments(item)
      if (AiError.isAiError(params)) return params
      toolCalls = true
      parts.push({ type: "tool-call", id: item.call_id, name: item.name, params })
    }
  }
  parts.push({ type: "finish", reason: finishReason(response, toolCalls), usage: toUsage(response.usage) })
  return parts
}

/**
 * Stream events → stream parts, keeping the little state the mapping needs (whether a tool was called).
 * @internal
 */
export const streamMapper = () => {
  let toolCalls = false
  return (raw: unknown): Array<Response.StreamPartEncoded> | AiError.AiError => {
    const event = decodeEvent(raw)
    if (AiError.isAiError(event)) return event
    switch (event.type) {
      case "response.created":
        return [
          {
            type: "response-metadata",
            id: event.response.id,
            modelId: event.response.model,
            timestamp: new Date((event.response.created_at ?? 0) * 1000).toISOString()
          }
        ]
      case "response.output_item.added":
        return "id" in event.item && event.item.type === "message"
          ? [{ type: "text-start", id: event.item.id }]
          : []
      case "response.output_text.delta":
        return [{ type: "text-delta", id: event.item_id, delta: event.delta }]
      case "response.output_item.done": {
        const item = event.item
        if (item.type === "message" && "id" in item) return [{ type: "text-end", id: item.id }]
        if (item.type === "function_call" && "call_id" in item) {
          const params = parseArguments(item)
          if (AiError.isAiError(params)) return params
          toolCalls = true
          return [{ type: "tool-call", id: item.call_id, name: item.name, params }]
        }
        return []
      }
      case "response.completed":
      case "response.incomplete":
        return [
          {
            type: "finish",
            reason: finishReason(event.response, toolCalls),
            usage: toUsage(event.response.usage)
          }
        ]
      case "response.failed":
        return fail(
          "streamText",
          new AiError.InternalProviderError({
            description: `the response failed: ${event.response.error?.message ?? "no reason given"}`
          })
        )
      case "error":
        return fail(
          "streamText",
          new AiError.InternalProviderError({ description: `the stream reported an error: ${event.message}` })
        )
      default:
        return []
    }
  }
}

/** How long the server asked us to wait: `retry-after-ms`, or `retry-after` in seconds or as a date. @internal */
export const retryAfter = (headers: Headers | undefined, now: number): Duration.Duration | undefined => {
  if (headers === undefined) return undefined
  const ms = Number(headers.get("retry-after-ms") ?? Number.NaN)
  if (Number.isFinite(ms) && ms >= 0) return Duration.millis(ms)
  const value = headers.get("retry-after")
  if (value === null) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return Duration.seconds(seconds)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

/** An error of the SDK (or of the fetch under it) → an `AiError` whose reason says whether a retry may help. @internal */
export const toAiError = (method: string, error: unknown, now: number): AiError.AiError => {
  if (AiError.isAiError(error)) return error
  if (error instanceof APIConnectionError) {
    return fail(
      method,
      new AiError.NetworkError({
        reason: "TransportError",
        method: "POST",
        url: "responses",
        description: error.message
      })
    )
  }
  if (error instanceof APIError && error.status !== undefined) {
    const description = `HTTP ${error.status}: ${error.message}`
    if (error.status === 429) {
      const after = retryAfter(error.headers, now)
      return fail(method, new AiError.RateLimitError(after === undefined ? {} : { retryAfter: after }))
    }
    if (error.status >= 500) return fail(method, new AiError.InternalProviderError({ description }))
    return fail(
      method,
      AiError.reasonFromHttpStatus({ status: error.status, body: error.error, description })
    )
  }
  // The SDK reads the body itself: a cut-off JSON body is a `SyntaxError`, a body of the wrong shape can be a
  // `TypeError` from its helpers. Both are an answer that could not be read, which a retry may fix.
  if (error instanceof SyntaxError || error instanceof TypeError || error instanceof RangeError) {
    return fail(
      method,
      new AiError.InvalidOutputError({
        description: `the model's answer could not be read: ${error.message}`
      })
    )
  }
  return fail(
    method,
    new AiError.UnknownError({ description: error instanceof Error ? error.message : String(error) })
  )
}
