/**
 * Machinery of `ScriptedServer`: the Responses API wire format (JSON and SSE) and the HTTP handler.
 *
 * @internal
 */
import { Cause, Effect, FiberSet, type Scope } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type * as ScriptedServer from "../ScriptedServer.ts"

/** @internal */
export const TypeId = "~handoffkit/llm/ScriptedServer" as const

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

// -----------------------------------------------------------------------------
// Turn validation
// -----------------------------------------------------------------------------

const isNonNegative = (n: unknown): boolean =>
  n === undefined || (typeof n === "number" && Number.isFinite(n) && n >= 0)

/** What is wrong with a turn, or `undefined` when the server can play it. */
export const turnProblem = (turn: ScriptedServer.Turn): string | undefined => {
  if (turn === null || typeof turn !== "object") {
    return "a turn must be an object made with Turn.text, Turn.toolCalls, Turn.error or Turn.hang"
  }
  const usage = "usage" in turn ? turn.usage : undefined
  if (usage !== undefined && !(isNonNegative(usage.input_tokens) && isNonNegative(usage.output_tokens))) {
    return "usage token counts must be non-negative finite numbers"
  }
  switch (turn._tag) {
    case "Text": {
      if (typeof turn.text !== "string") return "Text.text must be a string"
      if (turn.chunks !== undefined && !(Number.isInteger(turn.chunks) && turn.chunks >= 1)) {
        return `Text.chunks must be a positive integer, got ${String(turn.chunks)}`
      }
      if (!isNonNegative(turn.delayMs)) {
        return `Text.delayMs must be a non-negative number, got ${String(turn.delayMs)}`
      }
      if (!isNonNegative(turn.chunkDelayMs)) {
        return `Text.chunkDelayMs must be a non-negative number, got ${String(turn.chunkDelayMs)}`
      }
      return undefined
    }
    case "ToolCalls": {
      if (!Array.isArray(turn.calls) || turn.calls.length === 0) {
        return "ToolCalls.calls must be a non-empty array"
      }
      for (const [i, call] of turn.calls.entries()) {
        if (typeof call.name !== "string" || call.name.length === 0) {
          return `ToolCalls.calls[${i}].name must be a non-empty string`
        }
        if (call.callId !== undefined && (typeof call.callId !== "string" || call.callId.length === 0)) {
          return `ToolCalls.calls[${i}].callId must be a non-empty string`
        }
        if (typeof call.arguments !== "string") {
          try {
            if (JSON.stringify(call.arguments) === undefined) {
              return `ToolCalls.calls[${i}].arguments is not JSON`
            }
          } catch (error) {
            return `ToolCalls.calls[${i}].arguments cannot be encoded as JSON: ${String(error)}`
          }
        }
      }
      const ids = turn.calls.flatMap((call) => (call.callId === undefined ? [] : [call.callId]))
      if (new Set(ids).size !== ids.length) return "ToolCalls.calls have duplicate callIds"
      if (turn.text !== undefined && typeof turn.text !== "string") return "ToolCalls.text must be a string"
      if (!isNonNegative(turn.delayMs)) {
        return `ToolCalls.delayMs must be a non-negative number, got ${String(turn.delayMs)}`
      }
      return undefined
    }
    case "Error": {
      if (!(Number.isInteger(turn.status) && turn.status >= 400 && turn.status <= 599)) {
        return `Error.status must be an HTTP error status (400-599), got ${String(turn.status)}`
      }
      return undefined
    }
    case "Hang": {
      if (turn.text !== undefined && typeof turn.text !== "string") return "Hang.text must be a string"
      return undefined
    }
    case "Malformed": {
      try {
        if (JSON.stringify(turn.body) === undefined) return "Malformed.body is not JSON"
      } catch (error) {
        return `Malformed.body cannot be encoded as JSON: ${String(error)}`
      }
      return undefined
    }
    case "Cut": {
      if (turn.text !== undefined && typeof turn.text !== "string") return "Cut.text must be a string"
      return undefined
    }
    default:
      return `unknown turn tag ${JSON.stringify((turn as { _tag?: unknown })._tag)}`
  }
}

// -----------------------------------------------------------------------------
// Wire format (OpenAI Responses API)
// -----------------------------------------------------------------------------

/** Ids and echoed request fields shared by every rendering of one answer. */
interface Context {
  readonly index: number
  readonly id: string
  readonly model: string
  readonly createdAt: number
  readonly body: Record<string, unknown>
}

const makeContext = (record: ScriptedServer.RecordedRequest): Context => {
  const body =
    record.body !== null && typeof record.body === "object" && !Array.isArray(record.body)
      ? (record.body as Record<string, unknown>)
      : {}
  return {
    index: record.index,
    id: `resp_${record.index}`,
    model: typeof body.model === "string" ? body.model : "scripted",
    createdAt: Math.floor(Date.now() / 1000),
    body
  }
}

const usageOf = (usage: ScriptedServer.TurnUsage | undefined) => {
  const input_tokens = usage?.input_tokens ?? 10
  const output_tokens = usage?.output_tokens ?? 5
  return {
    input_tokens,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input_tokens + output_tokens
  }
}

const messageItem = (ctx: Context, position: number, text: string, status: "in_progress" | "completed") => ({
  type: "message",
  id: `msg_${ctx.index}_${position}`,
  status,
  role: "assistant",
  content: status === "completed" ? [outputText(text)] : []
})

const outputText = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] })

interface Call {
  readonly id: string
  readonly callId: string
  readonly name: string
  readonly arguments: string
}

const callsOf = (
  ctx: Context,
  turn: Extract<ScriptedServer.Turn, { _tag: "ToolCalls" }>
): ReadonlyArray<Call> =>
  turn.calls.map((call, i) => ({
    id: `fc_${ctx.index}_${i}`,
    callId: call.callId ?? `call_${ctx.index}_${i}`,
    name: call.name,
    // A string is sent as it is, so a script can also send arguments that are not valid JSON.
    arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments)
  }))

const callItem = (call: Call, status: "in_progress" | "completed") => ({
  type: "function_call",
  id: call.id,
  call_id: call.callId,
  name: call.name,
  arguments: status === "completed" ? call.arguments : "",
  status
})

/** The output items of a turn that completes: the message first (if any), then the calls. */
const outputItems = (ctx: Context, turn: Extract<ScriptedServer.Turn, { _tag: "Text" | "ToolCalls" }>) => {
  if (turn._tag === "Text") return [messageItem(ctx, 0, turn.text, "completed")]
  const items: Array<object> = []
  if (turn.text !== undefined) items.push(messageItem(ctx, 0, turn.text, "completed"))
  for (const call of callsOf(ctx, turn)) items.push(callItem(call, "completed"))
  return items
}

/** A full `Response` object. `output_text` is left out on purpose: the SDK derives it, as with the real API. */
const responseObject = (
  ctx: Context,
  status: "in_progress" | "completed",
  output: ReadonlyArray<object>,
  usage: ReturnType<typeof usageOf> | null
) => ({
  id: ctx.id,
  object: "response",
  created_at: ctx.createdAt,
  status,
  completed_at: status === "completed" ? Math.floor(Date.now() / 1000) : null,
  background: false,
  error: null,
  incomplete_details: null,
  instructions: ctx.body.instructions ?? null,
  max_output_tokens: null,
  metadata: {},
  model: ctx.model,
  output,
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: { effort: null, summary: null },
  store: false,
  temperature: 1,
  text: { format: { type: "text" } },
  tool_choice: "auto",
  tools: Array.isArray(ctx.body.tools) ? ctx.body.tools : [],
  top_p: 1,
  truncation: "disabled",
  usage
})

/** One SSE event to write, after waiting `pauseMs`. */
export interface Frame {
  readonly pauseMs: number
  readonly type: string
  readonly data: Record<string, unknown>
}

const splitText = (text: string, chunks: number): ReadonlyArray<string> => {
  // Split on code points, so no delta ends inside a surrogate pair.
  const points = Array.from(text)
  if (points.length === 0) return []
  const n = Math.min(chunks, points.length)
  const out: Array<string> = []
  for (let i = 0; i < n; i++) {
    out.push(
      points.slice(Math.floor((i * points.length) / n), Math.floor(((i + 1) * points.length) / n)).join("")
    )
  }
  return out
}

/** The SSE events of a turn, in the order and shape of the real API (every event carries a `sequence_number`). */
export const sseFrames = (
  ctx: Context,
  turn: Extract<ScriptedServer.Turn, { _tag: "Text" | "ToolCalls" | "Hang" | "Cut" }>
): ReadonlyArray<Frame> => {
  const frames: Array<Frame> = []
  const emit = (type: string, data: Record<string, unknown>, pauseMs = 0) =>
    frames.push({ pauseMs, type, data: { type, ...data, sequence_number: frames.length } })
  const messageEvents = (
    position: number,
    text: string,
    chunks: number,
    chunkDelayMs: number,
    complete: boolean
  ) => {
    const item = messageItem(ctx, position, text, "in_progress")
    emit("response.output_item.added", { output_index: position, item })
    const at = { item_id: item.id, output_index: position, content_index: 0 }
    emit("response.content_part.added", { ...at, part: outputText("") })
    for (const [i, delta] of splitText(text, chunks).entries()) {
      emit("response.output_text.delta", { ...at, delta, logprobs: [] }, i === 0 ? 0 : chunkDelayMs)
    }
    if (!complete) return
    emit("response.output_text.done", { ...at, text, logprobs: [] })
    emit("response.content_part.done", { ...at, part: outputText(text) })
    emit("response.output_item.done", {
      output_index: position,
      item: messageItem(ctx, position, text, "completed")
    })
  }
  emit("response.created", { response: responseObject(ctx, "in_progress", [], null) })
  emit("response.in_progress", { response: responseObject(ctx, "in_progress", [], null) })
  switch (turn._tag) {
    case "Hang":
    case "Cut": {
      // No completion follows: a hang keeps the stream open until the client goes away, a cut ends it here.
      if (turn.text !== undefined) messageEvents(0, turn.text, 1, 0, false)
      return frames
    }
    case "Text": {
      messageEvents(0, turn.text, turn.chunks ?? 1, turn.chunkDelayMs ?? 0, true)
      break
    }
    case "ToolCalls": {
      let position = 0
      if (turn.text !== undefined) messageEvents(position++, turn.text, 1, 0, true)
      for (const call of callsOf(ctx, turn)) {
        const at = { item_id: call.id, output_index: position }
        emit("response.output_item.added", { output_index: position, item: callItem(call, "in_progress") })
        emit("response.function_call_arguments.delta", { ...at, delta: call.arguments })
        emit("response.function_call_arguments.done", { ...at, name: call.name, arguments: call.arguments })
        emit("response.output_item.done", { output_index: position, item: callItem(call, "completed") })
        position++
      }
      break
    }
  }
  emit("response.completed", {
    response: responseObject(ctx, "completed", outputItems(ctx, turn), usageOf(turn.usage))
  })
  return frames
}

const errorType = (status: number): string => {
  switch (status) {
    case 400:
    case 422:
      return "invalid_request_error"
    case 401:
      return "authentication_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 409:
      return "conflict_error"
    case 429:
      return "rate_limit_error"
    default:
      return status >= 500 ? "server_error" : "invalid_request_error"
  }
}

const errorBody = (status: number, message: string, code: string | null, type?: string) =>
  JSON.stringify({ error: { message, type: type ?? errorType(status), param: null, code } })

// -----------------------------------------------------------------------------
// Server
// -----------------------------------------------------------------------------

const redactedHeaders = new Set(["authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"])

const recordHeaders = (raw: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue
    out[name] = redactedHeaders.has(name) ? "[redacted]" : Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

interface State {
  readonly script: ScriptedServer.Script
  readonly requests: Array<Mutable<ScriptedServer.RecordedRequest>>
  /** How many POST /v1/responses a list script has answered (the position of its next turn). */
  scriptPosition: number
  disconnects: number
  closing: boolean
  /** Called after every change of `requests` or `disconnects`. */
  readonly listeners: Set<() => void>
}

const notify = (state: State) => {
  for (const listener of Array.from(state.listeners)) listener()
}

/** Waits until `ready()` holds, re-checking after every change of the state. */
const waitFor = (state: State, ready: () => boolean): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const check = () => {
      if (!ready()) return
      state.listeners.delete(check)
      resume(Effect.void)
    }
    state.listeners.add(check)
    check()
    return Effect.sync(() => state.listeners.delete(check))
  })

const readBody = (req: Http.IncomingMessage): Effect.Effect<string, Error> =>
  Effect.callback<string, Error>((resume) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    req.on("error", (error) => resume(Effect.fail(error)))
  })

const sendJson = (
  res: Http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {}
) =>
  Effect.sync(() => {
    if (res.headersSent || res.destroyed) return
    res.writeHead(status, {
      ...headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body)
    })
    res.end(body)
  })

/** The turn that answers a POST /v1/responses, or why there is none (a 500's message and code). */
const chooseTurn = (
  state: State,
  record: ScriptedServer.RecordedRequest
): ScriptedServer.Turn | { readonly message: string; readonly code: string } => {
  if (typeof state.script === "function") {
    let turn: ScriptedServer.Turn
    try {
      turn = state.script(record)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      return {
        code: "script_error",
        message: `ScriptedServer: the script function threw for request #${record.index}: ${reason}`
      }
    }
    const problem = turnProblem(turn)
    return problem === undefined
      ? turn
      : {
          code: "script_error",
          message: `ScriptedServer: the script function returned an invalid turn for request #${record.index}: ${problem}`
        }
  }
  const position = state.scriptPosition++
  const turn = state.script[position]
  return turn !== undefined
    ? turn
    : {
        code: "script_exhausted",
        message: `ScriptedServer: no turn left for request #${record.index} (${record.method} ${record.path}): the script has ${state.script.length} turn(s) and all were used`
      }
}

const answer = (
  state: State,
  req: Http.IncomingMessage,
  res: Http.ServerResponse,
  onRecord: (record: Mutable<ScriptedServer.RecordedRequest>) => void
) =>
  Effect.gen(function* () {
    const raw = yield* readBody(req)
    let body: unknown = raw
    let parsed = raw.length === 0
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw)
        parsed = true
      } catch {
        // Kept as the raw text: the request is still recorded, and answered 400 below if it was meant for the model.
      }
    }
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname
    const method = req.method ?? "GET"
    const record: Mutable<ScriptedServer.RecordedRequest> = {
      index: state.requests.length,
      method,
      path,
      headers: recordHeaders(req.headers),
      body,
      stream: body !== null && typeof body === "object" && (body as { stream?: unknown }).stream === true,
      turn: undefined,
      closedEarly: false
    }
    state.requests.push(record)
    onRecord(record)
    notify(state)
    const requestId = { "x-request-id": `req_${record.index}` }

    if (method === "GET" && path === "/v1/models") {
      return yield* sendJson(
        res,
        200,
        JSON.stringify({
          object: "list",
          data: [{ id: "scripted", object: "model", created: 0, owned_by: "handoffkit" }]
        }),
        requestId
      )
    }
    if (method !== "POST" || path !== "/v1/responses") {
      return yield* sendJson(
        res,
        404,
        errorBody(
          404,
          `ScriptedServer: no route for ${method} ${path} (request #${record.index}): it answers POST /v1/responses and GET /v1/models`,
          "not_found"
        ),
        requestId
      )
    }
    if (!parsed || body === null || typeof body !== "object" || Array.isArray(body)) {
      return yield* sendJson(
        res,
        400,
        errorBody(
          400,
          `ScriptedServer: request #${record.index} has a body that is not a JSON object`,
          "invalid_json"
        ),
        requestId
      )
    }

    const chosen = chooseTurn(state, record)
    if (!("_tag" in chosen)) {
      return yield* sendJson(res, 500, errorBody(500, chosen.message, chosen.code), requestId)
    }
    const turn = chosen
    record.turn = turn
    const ctx = makeContext(record)

    if (turn._tag === "Error") {
      const message =
        turn.message ?? `ScriptedServer: scripted error ${turn.status} for request #${record.index}`
      return yield* sendJson(
        res,
        turn.status,
        errorBody(turn.status, message, turn.code ?? null, turn.type),
        { ...requestId, ...turn.headers }
      )
    }
    if (turn._tag === "Malformed") {
      if (!record.stream) return yield* sendJson(res, 200, JSON.stringify(turn.body), requestId)
      yield* Effect.sync(() => {
        res.writeHead(200, { ...requestId, "content-type": "text/event-stream; charset=utf-8" })
        res.end(`event: response.created\ndata: ${JSON.stringify(turn.body)}\n\n`)
      })
      return
    }
    if (turn._tag === "Cut" && !record.stream) {
      const text = turn.text ?? ""
      const whole = JSON.stringify(
        responseObject(ctx, "completed", outputItems(ctx, { _tag: "Text", text }), usageOf(undefined))
      )
      return yield* sendJson(res, 200, whole.slice(0, Math.floor(whole.length / 2)), requestId)
    }
    if (turn._tag !== "Hang" && turn._tag !== "Cut" && turn.delayMs !== undefined && turn.delayMs > 0) {
      yield* Effect.sleep(turn.delayMs)
    }
    if (!record.stream) {
      if (turn._tag === "Hang" || turn._tag === "Cut") return yield* Effect.never
      const usage = usageOf(turn.usage)
      return yield* sendJson(
        res,
        200,
        JSON.stringify(responseObject(ctx, "completed", outputItems(ctx, turn), usage)),
        requestId
      )
    }
    yield* Effect.sync(() => {
      res.writeHead(200, {
        ...requestId,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive"
      })
      // Headers go out now, so a client sees the stream open even when the first event is a while away.
      res.flushHeaders()
    })
    for (const frame of sseFrames(ctx, turn)) {
      if (frame.pauseMs > 0) yield* Effect.sleep(frame.pauseMs)
      // The 'close' handler interrupts this fiber, but only once Node emits it: until then, write nothing to a dead socket.
      if (res.destroyed) return
      yield* Effect.sync(() => res.write(`event: ${frame.type}\ndata: ${JSON.stringify(frame.data)}\n\n`))
    }
    if (turn._tag === "Hang") return yield* Effect.never
    // A cut ends the stream here, before `response.completed`: a clean close, not a dropped connection.
    yield* Effect.sync(() => res.end())
  })

/** The live server: its address plus the state its accessors read. */
export interface Running {
  readonly port: number
  readonly state: State
  readonly waitFor: (ready: () => boolean) => Effect.Effect<void>
}

/** Listens on 127.0.0.1, port 0; closing the scope stops listening, destroys open sockets and interrupts handlers. */
export const listen = (script: ScriptedServer.Script): Effect.Effect<Running, string, Scope.Scope> =>
  Effect.gen(function* () {
    const state: State = {
      script,
      requests: [],
      scriptPosition: 0,
      disconnects: 0,
      closing: false,
      listeners: new Set()
    }
    // Registered first, so it runs last: the server is closed (and its sockets destroyed) before handlers are interrupted.
    const runFork = yield* FiberSet.makeRuntime<never, void, never>()
    const server = Http.createServer((req, res) => {
      let record: Mutable<ScriptedServer.RecordedRequest> | undefined
      const fiber = runFork(
        answer(state, req, res, (r) => {
          record = r
        }).pipe(
          Effect.catchCause((cause) =>
            Effect.sync(() => {
              // A failure of the server itself (not of a turn): answer 500 if still possible, else cut the connection.
              if (res.destroyed) return
              if (!res.headersSent) {
                const body = errorBody(
                  500,
                  `ScriptedServer: internal error while answering ${req.method} ${req.url}: ${Cause.pretty(cause)}`,
                  "scripted_server_error"
                )
                res.writeHead(500, {
                  "content-type": "application/json",
                  "content-length": Buffer.byteLength(body)
                })
                res.end(body)
              } else {
                res.destroy()
              }
            })
          )
        )
      )
      res.on("close", () => {
        if (res.writableFinished) return
        // The connection went away before the response was complete.
        if (!state.closing && record !== undefined) {
          record.closedEarly = true
          state.disconnects++
          notify(state)
        }
        fiber.interruptUnsafe()
      })
    })
    yield* Effect.acquireRelease(
      Effect.callback<void, string>((resume) => {
        const onError = (error: Error) => resume(Effect.fail(`cannot listen on 127.0.0.1: ${error.message}`))
        server.once("error", onError)
        server.listen(0, "127.0.0.1", () => {
          server.off("error", onError)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          state.closing = true
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const port = (server.address() as AddressInfo).port
    return { port, state, waitFor: (ready) => waitFor(state, ready) }
  })
