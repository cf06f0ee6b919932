/**
 * A `ScriptedServer` is a real OpenAI-compatible HTTP server on 127.0.0.1 whose model answers come from a
 * script: each `POST /v1/responses` is answered by the next scripted `Turn` (a text, tool calls, an HTTP error,
 * or a response that never ends), in the Responses API wire format, as JSON or as server-sent events.
 *
 * **When to use**
 *
 * In tests of anything that talks to a model over HTTP: the `openai` SDK (pass `server.url` as `baseURL`), the
 * Codex CLI (as a model provider's `base_url`), or a HandoffKit agent. The test decides what the model says,
 * then checks what the client did and what it sent (`requests`), offline and deterministically. Scripted
 * errors, delays, slow streams and hangs exercise retries, timeouts and cancellation without a real model.
 *
 * **Details**
 *
 * - The server listens on 127.0.0.1 on a free port and lives as long as the `Scope` it was made in: closing
 *   the scope stops it, destroys open connections (a hanging one too) and interrupts every answer in flight.
 * - Every request is recorded, in order of arrival, with its headers (credentials redacted), parsed JSON body,
 *   the turn that answered it, and whether the client went away before the answer was complete.
 * - A list script answers the n-th `POST /v1/responses` with its n-th turn; when it runs out, the request gets
 *   a 500 naming the request. `routed` lets several agents share one server, each with its own list.
 * - Streamed answers follow the real event sequence (`response.created` … `response.completed`, each event
 *   with a `sequence_number`), strict enough for the `openai` SDK's stream accumulator and for `codex`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import OpenAI from "openai"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("Hello!", { usage: { input_tokens: 3 } })])
 *   const client = new OpenAI({ baseURL: server.url, apiKey: "test", maxRetries: 0 })
 *   const response = yield* Effect.promise(() => client.responses.create({ model: "gpt-test", input: "Hi" }))
 *   const [request] = yield* server.requests
 *   return [response.output_text, response.usage?.input_tokens, request?.body]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["Hello!", 3, { model: "gpt-test", input: "Hi" }]
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Schema, type Scope } from "effect"
import { hasProperty } from "effect/Predicate"
import { agentNamed } from "./internal/prompt.ts"
import * as internal from "./internal/scriptedServer.ts"

// -----------------------------------------------------------------------------
// Type ids
// -----------------------------------------------------------------------------

/**
 * The brand carried by every `ScriptedServer`; test for it with `isScriptedServer`.
 *
 * **When to use**
 *
 * Rarely directly: `isScriptedServer` is the guard built on it.
 *
 * **Details**
 *
 * A string constant, stable across copies of the package.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * console.log(ScriptedServer.TypeId) // "~handoffkit/llm/ScriptedServer"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = internal.TypeId

/**
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = "~handoffkit/llm/ScriptedServer"

// -----------------------------------------------------------------------------
// Turns
// -----------------------------------------------------------------------------

/**
 * The token usage a turn reports, as in the Responses API's `usage` (`total_tokens` is their sum).
 *
 * **When to use**
 *
 * To check that a client charges what the model reported, for example to a `Budget`.
 *
 * **Details**
 *
 * Missing counts default to 10 input and 5 output tokens. Cached and reasoning token details are reported
 * as 0.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const usage: ScriptedServer.TurnUsage = { input_tokens: 1200, output_tokens: 80 }
 * const turn = ScriptedServer.Turn.text("ok", { usage })
 * console.log(turn._tag) // "Text"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TurnUsage {
  readonly input_tokens?: number
  readonly output_tokens?: number
}

/**
 * A turn whose answer is an assistant message with `text`.
 *
 * **When to use**
 *
 * For a model's final answer; make it with `Turn.text`.
 *
 * **Details**
 *
 * `delayMs` waits before answering (no headers are sent yet, so it also tests a client's request timeout).
 * When streamed, the text is split into `chunks` `response.output_text.delta` events (default 1, never more
 * than its code points), `chunkDelayMs` apart.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const turn: ScriptedServer.TextTurn = { _tag: "Text", text: "Hello", chunks: 5, chunkDelayMs: 20 }
 * console.log(turn.text) // "Hello"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TextTurn {
  readonly _tag: "Text"
  readonly text: string
  readonly usage?: TurnUsage | undefined
  readonly delayMs?: number | undefined
  readonly chunks?: number | undefined
  readonly chunkDelayMs?: number | undefined
}

/**
 * One function call of a `ToolCallsTurn`.
 *
 * **When to use**
 *
 * In `Turn.toolCalls`, to make the model call several tools in one answer.
 *
 * **Details**
 *
 * `arguments` is encoded with `JSON.stringify`, except a string, which is sent as it is (so a script can also
 * send arguments that are not valid JSON). `callId` defaults to `call_<request index>_<position>`.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const call: ScriptedServer.ToolCall = { name: "read_file", arguments: { path: "README.md" }, callId: "call_readme" }
 * console.log(ScriptedServer.Turn.toolCalls([call])._tag) // "ToolCalls"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ToolCall {
  readonly name: string
  readonly arguments: unknown
  readonly callId?: string | undefined
}

/**
 * A turn whose answer is one or more `function_call` output items, after an optional message.
 *
 * **When to use**
 *
 * To make the model use a tool; make it with `Turn.toolCall` or `Turn.toolCalls`.
 *
 * **Details**
 *
 * The message (when `text` is given) comes first in `output`, then the calls in order, each with the item id
 * `fc_<request index>_<position>`. `delayMs` waits before answering.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const turn: ScriptedServer.ToolCallsTurn = {
 *   _tag: "ToolCalls",
 *   calls: [{ name: "exec_command", arguments: { cmd: "ls" } }],
 *   text: "Let me look."
 * }
 * console.log(turn.calls.length) // 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ToolCallsTurn {
  readonly _tag: "ToolCalls"
  readonly calls: ReadonlyArray<ToolCall>
  readonly text?: string | undefined
  readonly usage?: TurnUsage | undefined
  readonly delayMs?: number | undefined
}

/**
 * A turn answered with an HTTP error status and an OpenAI-style body `{"error":{"message","type","param","code"}}`.
 *
 * **When to use**
 *
 * To test a client's handling of rate limits, server errors and refusals; make it with `Turn.error`.
 *
 * **Details**
 *
 * `status` is 400–599. `headers` are added to the answer (e.g. `{ "retry-after": "2" }`). `type` defaults to
 * the OpenAI type for the status (`rate_limit_error` for 429, `server_error` for 5xx, …); `code` defaults to
 * `null`; `message` to one naming the status and the request. The `openai` SDK raises the matching `APIError`
 * subclass, and retries 429 and 5xx itself unless given `maxRetries: 0`.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const turn: ScriptedServer.ErrorTurn = { _tag: "Error", status: 503, message: "overloaded" }
 * console.log(turn.status) // 503
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorTurn {
  readonly _tag: "Error"
  readonly status: number
  readonly message?: string | undefined
  readonly code?: string | undefined
  readonly type?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * A turn whose answer never completes.
 *
 * **When to use**
 *
 * To test cancellation and timeouts: a client that aborts, or an agent that is interrupted, while the model is
 * still answering; make it with `Turn.hang`. Pair it with `awaitDisconnect`.
 *
 * **Details**
 *
 * Streamed: the server sends `response.created`, `response.in_progress` and, when `text` is given, the
 * message's first events and the text as one delta, then nothing more until the client disconnects (`usage`
 * is never reported, as no `response.completed` is sent). Not streamed: no headers are ever sent.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const turn: ScriptedServer.HangTurn = { _tag: "Hang", text: "Thinking" }
 * console.log(turn._tag) // "Hang"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface HangTurn {
  readonly _tag: "Hang"
  readonly text?: string | undefined
  readonly usage?: TurnUsage | undefined
}

/**
 * A turn whose answer is a 200 carrying JSON that is not a Responses API answer.
 *
 * **When to use**
 *
 * To test that a client treats a well-formed HTTP answer with a malformed body as an error, not as an
 * answer; make it with `Turn.malformed`.
 *
 * **Details**
 *
 * Not streamed: the body is `body` as JSON, with status 200 and a JSON content type. Streamed: the server
 * opens the event stream and sends `body` as the data of one event of type `response.created`, then closes
 * the stream.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const turn = ScriptedServer.Turn.malformed({ id: 42, output: "not a list", created_at: "yesterday" })
 * console.log(turn._tag) // "Malformed"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface MalformedTurn {
  readonly _tag: "Malformed"
  readonly body: unknown
}

/**
 * A turn whose answer stops before it is complete: the connection is closed cleanly mid-answer.
 *
 * **When to use**
 *
 * To test that a client does not take a truncated answer for a whole one; make it with `Turn.cut`.
 *
 * **Details**
 *
 * Streamed: the server sends `response.created`, `response.in_progress` and, when `text` is given, the
 * message's first events and the text as one delta, then ends the stream without `response.completed`. Not
 * streamed: the server sends a 200 whose JSON body is cut off in the middle.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const turn = ScriptedServer.Turn.cut({ text: "The answer is" })
 * console.log(turn._tag) // "Cut"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CutTurn {
  readonly _tag: "Cut"
  readonly text?: string | undefined
}

/**
 * One scripted model turn: the answer to one `POST /v1/responses`.
 *
 * **When to use**
 *
 * In a `Script`; build turns with the `Turn` constructors.
 *
 * **Details**
 *
 * A turn is plain data, so the same turn can be used in several scripts and servers. Turns of a list script
 * are checked when the server is made (`make` fails on an invalid one); a turn returned by a script function
 * is checked when it is played (an invalid one is answered with a 500 that says what is wrong).
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const script: ReadonlyArray<ScriptedServer.Turn> = [
 *   ScriptedServer.Turn.toolCall("exec_command", { cmd: "echo hi > f.txt" }),
 *   ScriptedServer.Turn.text("done")
 * ]
 * console.log(script.map((turn) => turn._tag)) // ["ToolCalls", "Text"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Turn = TextTurn | ToolCallsTurn | ErrorTurn | HangTurn | MalformedTurn | CutTurn

/**
 * Constructors of `Turn`s.
 *
 * **When to use**
 *
 * To write scripts: `Turn.text`, `Turn.toolCall` (one call), `Turn.toolCalls` (several), `Turn.error`,
 * `Turn.hang`, and for broken answers `Turn.malformed` and `Turn.cut`.
 *
 * **Details**
 *
 * Each returns plain data without checking it; `make` checks a list script's turns.
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const { Turn } = ScriptedServer
 * const script = [
 *   Turn.error(429, { headers: { "retry-after": "1" } }),
 *   Turn.toolCall("get_weather", { city: "Paris" }, { callId: "call_w" }),
 *   Turn.text("Sunny.", { chunks: 3, usage: { input_tokens: 40, output_tokens: 2 } }),
 *   Turn.hang()
 * ]
 * console.log(script.map((turn) => turn._tag)) // ["Error", "ToolCalls", "Text", "Hang"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const Turn: {
  readonly text: (text: string, options?: Omit<TextTurn, "_tag" | "text">) => Turn
  readonly toolCall: (
    name: string,
    args: unknown,
    options?: Omit<ToolCallsTurn, "_tag" | "calls"> & { readonly callId?: string | undefined }
  ) => Turn
  readonly toolCalls: (
    calls: ReadonlyArray<ToolCall>,
    options?: Omit<ToolCallsTurn, "_tag" | "calls">
  ) => Turn
  readonly error: (status: number, options?: Omit<ErrorTurn, "_tag" | "status">) => Turn
  readonly hang: (options?: Omit<HangTurn, "_tag">) => Turn
  readonly malformed: (body: unknown) => Turn
  readonly cut: (options?: Omit<CutTurn, "_tag">) => Turn
} = {
  text: (text, options) => ({ ...options, _tag: "Text", text }),
  toolCall: (name, args, options) => {
    const { callId, ...rest } = options ?? {}
    return { ...rest, _tag: "ToolCalls", calls: [{ name, arguments: args, callId }] }
  },
  toolCalls: (calls, options) => ({ ...options, _tag: "ToolCalls", calls }),
  error: (status, options) => ({ ...options, _tag: "Error", status }),
  hang: (options) => ({ ...options, _tag: "Hang" }),
  malformed: (body) => ({ _tag: "Malformed", body }),
  cut: (options) => ({ ...options, _tag: "Cut" })
}

// -----------------------------------------------------------------------------
// Requests and scripts
// -----------------------------------------------------------------------------

/**
 * One request the server received, as recorded.
 *
 * **When to use**
 *
 * To check what a client sent (`body.input`, `body.tools`, a `function_call_output`), how it was answered
 * (`turn`), and whether the client gave up early (`closedEarly`). A script function receives it to choose a
 * turn.
 *
 * **Details**
 *
 * - `index` is the 0-based order of arrival over all requests, including `GET /v1/models` and unknown paths.
 * - `headers` have lower-case names; the values of `authorization`, `proxy-authorization`, `api-key`,
 *   `x-api-key` and `cookie` are replaced by `"[redacted]"`.
 * - `body` is the parsed JSON body (the raw text when it is not JSON; `""` when empty); `stream` is
 *   `body.stream === true`.
 * - `turn` is the turn that answered it; `undefined` while a script function is choosing it, for requests
 *   the script does not answer (`GET /v1/models`, 404s) and when no turn was left (answered 500).
 * - The record is a live view: `turn` and `closedEarly` are filled in after the fact, so read them from
 *   `requests` once the exchange is over.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import OpenAI from "openai"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("4")])
 *   const client = new OpenAI({ baseURL: server.url, apiKey: "secret", maxRetries: 0 })
 *   yield* Effect.promise(() => client.responses.create({ model: "m", input: "2+2?" }))
 *   const [request]: ReadonlyArray<ScriptedServer.RecordedRequest> = yield* server.requests
 *   return [request?.path, request?.headers.authorization, request?.turn?._tag, request?.closedEarly]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["/v1/responses", "[redacted]", "Text", false]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RecordedRequest {
  readonly index: number
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
  readonly stream: boolean
  readonly turn: Turn | undefined
  readonly closedEarly: boolean
}

/**
 * What the server answers: a list of turns consumed in order, or a function choosing the turn per request.
 *
 * **When to use**
 *
 * A list for one client with a known conversation; a function when the answer depends on the request (the
 * tools offered, the input); `routed` for several agents sharing one server.
 *
 * **Details**
 *
 * Only `POST /v1/responses` requests consult the script. A list answers its n-th such request with its n-th
 * turn; past its end, requests get a 500 whose message names the request index. A function is called once
 * per request, in order of arrival, with the request's record (`turn` still `undefined`); if it throws, the
 * request gets a 500 carrying the thrown message. A function may keep state (it is called synchronously,
 * one request at a time).
 *
 * **Example**
 *
 * ```ts
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const echo: ScriptedServer.Script = (request) => {
 *   const input = (request.body as { input?: unknown }).input
 *   return ScriptedServer.Turn.text(typeof input === "string" ? input : "?")
 * }
 * console.log(typeof echo) // "function"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Script = ReadonlyArray<Turn> | ((request: RecordedRequest) => Turn)

/**
 * A running scripted server: where to reach it and what it has seen.
 *
 * **When to use**
 *
 * Pass `url` as the `baseURL` of the `openai` SDK, or as a Codex model provider's `base_url`; read `requests`
 * after the exchange; wait with `awaitRequests` or `awaitDisconnect` instead of sleeping.
 *
 * **Details**
 *
 * - `url` is `http://127.0.0.1:PORT/v1`.
 * - `requests` is the records so far, in order of arrival.
 * - `disconnects` counts responses cut short by the client closing the connection (before the answer was
 *   complete: aborting a stream, or giving up on a delayed or hanging answer). Connections the server closes
 *   itself when its scope closes are not counted.
 * - `awaitDisconnect` completes once `disconnects` is at least 1; `awaitRequests(n)` once at least `n`
 *   requests have arrived (bodies read and recorded). Both are interruptible and wait without polling.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server: ScriptedServer.ScriptedServer = yield* ScriptedServer.make([])
 *   const models = yield* Effect.promise(() => fetch(`${server.url}/models`).then((res) => res.json()))
 *   yield* server.awaitRequests(1)
 *   return [server.url.endsWith("/v1"), models.object, yield* server.disconnects]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // [true, "list", 0]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ScriptedServer {
  readonly [TypeId]: TypeId
  readonly url: string
  readonly port: number
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  readonly disconnects: Effect.Effect<number>
  readonly awaitDisconnect: Effect.Effect<void>
  readonly awaitRequests: (n: number) => Effect.Effect<void>
}

/**
 * The server could not be started, or its script is invalid.
 *
 * **When to use**
 *
 * Catch it with `Effect.catchTag("ScriptedServerError", ...)`; in a test, let it fail the test.
 *
 * **Details**
 *
 * `reason` says what went wrong: the listen error, or which turn of a list script is invalid and why.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = ScriptedServer.make([ScriptedServer.Turn.text("hi", { chunks: 0 })]).pipe(Effect.flip, Effect.scoped)
 * Effect.runPromise(program).then((error) => console.log(error.message))
 * // ScriptedServer: turn 0 of the script is invalid: Text.chunks must be a positive integer, got 0
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ScriptedServerError extends Schema.TaggedError<ScriptedServerError>()("ScriptedServerError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `ScriptedServer: ${this.reason}`
  }
}

// -----------------------------------------------------------------------------
// Constructors
// -----------------------------------------------------------------------------

/**
 * Starts a scripted server on 127.0.0.1 (a free port) for the life of the current `Scope`.
 *
 * **When to use**
 *
 * In a test, inside `Effect.scoped` (or a test scope), before starting the client under test.
 *
 * **Details**
 *
 * - Fails with `ScriptedServerError` if a turn of a list script is invalid (the script is checked up front)
 *   or the server cannot listen.
 * - Answers `POST /v1/responses` from the script (JSON, or SSE when `body.stream` is true), `GET /v1/models`
 *   with a one-model list, anything else with a 404 JSON error naming the method and path; a request body
 *   that is not a JSON object gets a 400.
 * - When the scope closes, the server stops listening (later connections are refused), destroys every open
 *   connection, hanging ones included, and interrupts every answer in flight; closing completes after that.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import OpenAI from "openai"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("Hello there", { chunks: 2 })])
 *   const client = new OpenAI({ baseURL: server.url, apiKey: "test", maxRetries: 0 })
 *   const deltas = yield* Effect.promise(async () => {
 *     const out: Array<string> = []
 *     const stream = await client.responses.create({ model: "m", input: "Hi", stream: true })
 *     for await (const event of stream) if (event.type === "response.output_text.delta") out.push(event.delta)
 *     return out
 *   })
 *   return deltas
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["Hello", " there"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: (script: Script) => Effect.Effect<ScriptedServer, ScriptedServerError, Scope.Scope> =
  Effect.fn("ScriptedServer.make")(function* (script: Script) {
    if (Array.isArray(script)) {
      for (const [i, turn] of (script as ReadonlyArray<Turn>).entries()) {
        const problem = internal.turnProblem(turn)
        if (problem !== undefined)
          return yield* new ScriptedServerError({ reason: `turn ${i} of the script is invalid: ${problem}` })
      }
    } else if (typeof script !== "function") {
      return yield* new ScriptedServerError({
        reason: "a script is a list of turns or a function returning a turn"
      })
    }
    const running = yield* internal
      .listen(script)
      .pipe(Effect.mapError((reason) => new ScriptedServerError({ reason })))
    const { state } = running
    const server: ScriptedServer = {
      [TypeId]: TypeId,
      url: `http://127.0.0.1:${running.port}/v1`,
      port: running.port,
      requests: Effect.sync(() => state.requests.slice()),
      disconnects: Effect.sync(() => state.disconnects),
      awaitDisconnect: running.waitFor(() => state.disconnects >= 1),
      awaitRequests: (n) => running.waitFor(() => state.requests.length >= n)
    }
    return server
  })

/**
 * The address of the `Agent` that made a request, read from the system prompt `Agent` writes
 * (`You are the agent "<address>"`); undefined for a request no agent made.
 *
 * **When to use**
 *
 * In script functions that answer by agent, when `byAgent`'s fixed lists are not enough.
 *
 * **Example**
 *
 * ```ts
 * import { ScriptedServer } from "@handoffkit/llm"
 *
 * const body = { input: [{ role: "developer", content: 'Review.\n\nYou are the agent "run-1/security" in a team' }] }
 * const request = { index: 0, method: "POST", path: "/v1/responses", headers: {}, body, stream: false, turn: undefined, closedEarly: false }
 * console.log(ScriptedServer.agentOf(request)) // "run-1/security"
 * ```
 *
 * @category requests
 * @since 0.1.0
 */
export const agentOf = (request: RecordedRequest): string | undefined => agentNamed(request.body)

/**
 * A script for several agents sharing one server: each request is routed to a named list of turns.
 *
 * **When to use**
 *
 * When a test runs a topology of agents against one server and each agent needs its own conversation, told
 * apart by something in its requests: `body.model`, or a marker in `body.instructions`.
 *
 * **Details**
 *
 * `route` names the list for each `POST /v1/responses`; each list is consumed in order, independently of the
 * others. A name with no list, or a list that has run out, answers a 500 whose message names the route and
 * the request index (codes `unknown_route` and `script_exhausted`). A thrown `route` answers a 500 carrying
 * its message. The positions live in the returned script: give each server its own `routed(...)`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import OpenAI from "openai"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const script = ScriptedServer.routed((request) => String((request.body as { model?: unknown }).model), {
 *   planner: [ScriptedServer.Turn.text("plan: write f.txt")],
 *   coder: [ScriptedServer.Turn.text("wrote f.txt")]
 * })
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make(script)
 *   const client = new OpenAI({ baseURL: server.url, apiKey: "test", maxRetries: 0 })
 *   const ask = (model: string) =>
 *     Effect.promise(() => client.responses.create({ model, input: "go" })).pipe(Effect.map((r) => r.output_text))
 *   return [yield* ask("coder"), yield* ask("planner")]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["wrote f.txt", "plan: write f.txt"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const routed = (
  route: (request: RecordedRequest) => string,
  scripts: Readonly<Record<string, ReadonlyArray<Turn>>>
): Script => {
  const positions = new Map<string, number>()
  return (request) => {
    const name = route(request)
    const turns = Object.hasOwn(scripts, name) ? scripts[name] : undefined
    if (turns === undefined) {
      return Turn.error(500, {
        code: "unknown_route",
        message: `ScriptedServer: request #${request.index} was routed to ${JSON.stringify(name)}, which has no script (routes: ${Object.keys(
          scripts
        )
          .map((key) => JSON.stringify(key))
          .join(", ")})`
      })
    }
    const position = positions.get(name) ?? 0
    positions.set(name, position + 1)
    const turn = turns[position]
    return turn !== undefined
      ? turn
      : Turn.error(500, {
          code: "script_exhausted",
          message: `ScriptedServer: no turn left for request #${request.index} on route ${JSON.stringify(name)}: its script has ${turns.length} turn(s) and all were used`
        })
  }
}

/**
 * A script for several agents sharing one server: each request goes to the list of the agent that made it,
 * read from the system prompt `Agent` writes (`You are the agent "<address>"`).
 *
 * **When to use**
 *
 * In tests of topologies of `Agent`s, where requests from different agents interleave.
 *
 * **Details**
 *
 * The same as `routed` with the agent's address as the route: a request from an agent without a list, or
 * with its list used up, is answered 500 naming the agent and the request index.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 * import { Agent, OpenAi, ScriptedServer } from "@handoffkit/llm"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make(
 *     ScriptedServer.byAgent({ a: [ScriptedServer.Turn.text("from a")], b: [ScriptedServer.Turn.text("from b")] })
 *   )
 *   const model = OpenAi.layer({ model: "gpt-5.5", baseURL: server.url })
 *   const b = yield* Agent.make("b", { instructions: "Answer." }).pipe(Effect.provide(model))
 *   return (yield* Actor.ask(b, Agent.message("hi"))).text
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "from b"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const byAgent = (scripts: Readonly<Record<string, ReadonlyArray<Turn>>>): Script =>
  routed((request) => agentOf(request) ?? "(no agent)", scripts)

// -----------------------------------------------------------------------------
// Guards
// -----------------------------------------------------------------------------

/**
 * Tells whether a value is a `ScriptedServer`.
 *
 * **When to use**
 *
 * In helpers that accept either a server or a plain URL.
 *
 * **Details**
 *
 * Checks for the `TypeId` brand only.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = ScriptedServer.make([]).pipe(Effect.map(ScriptedServer.isScriptedServer), Effect.scoped)
 * Effect.runPromise(program).then(console.log) // true
 * console.log(ScriptedServer.isScriptedServer({ url: "http://127.0.0.1:1/v1" })) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isScriptedServer = (u: unknown): u is ScriptedServer => hasProperty(u, TypeId)
