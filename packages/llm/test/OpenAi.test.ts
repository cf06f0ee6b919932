import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Schema, Stream } from "effect"
import { AiError, LanguageModel, Tool, Toolkit } from "effect/ai"
import { TestClock } from "effect/testing"
import { Tracer } from "@handoffkit/core"
import { OpenAi, ScriptedServer } from "@handoffkit/llm"
import { eventually, realSleep } from "./util.ts"

const { Turn } = ScriptedServer

const bodyOf = (request: ScriptedServer.RecordedRequest) => request.body as Record<string, any>

const Lookup = Tool.dynamic("lookup", {
  description: "Finds a symbol",
  parameters: Schema.Struct({ symbol: Schema.String })
})

describe("OpenAi", () => {
  it.live("generateText: text and usage from the server, request in the Responses API shape", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.text("the answer", { usage: { input_tokens: 42, output_tokens: 7 } })
      ])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url, maxOutputTokens: 300 })
      const response = yield* model.generateText({
        prompt: [
          { role: "system", content: "be brief" },
          { role: "user", content: "what is it?" }
        ]
      })
      assert.strictEqual(response.text, "the answer")
      assert.strictEqual(response.usage.inputTokens.total, 42)
      assert.strictEqual(response.usage.outputTokens.total, 7)
      assert.strictEqual(response.finishReason, "stop")
      const [request] = yield* server.requests
      const body = bodyOf(request!)
      assert.strictEqual(body.model, "gpt-test")
      assert.strictEqual(body.max_output_tokens, 300)
      assert.deepStrictEqual(body.input, [
        { role: "developer", content: "be brief" },
        { role: "user", content: [{ type: "input_text", text: "what is it?" }] }
      ])
    }).pipe(Effect.scoped)
  )

  it.live("tool calls come back as tool-call parts; their results go back as function_call_output", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.toolCall("lookup", { symbol: "Budget" }, { callId: "call_7" }),
        Turn.text("Budget is in core")
      ])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url })
      const toolkit = Toolkit.make(Lookup)
      const first = yield* model.generateText({
        prompt: "where is Budget?",
        toolkit,
        disableToolCallResolution: true
      })
      assert.strictEqual(first.finishReason, "tool-calls")
      assert.deepStrictEqual(
        first.toolCalls.map((call) => [call.id, call.name, call.params]),
        [["call_7", "lookup", { symbol: "Budget" }]]
      )
      const second = yield* model.generateText({
        prompt: [
          { role: "user", content: "where is Budget?" },
          {
            role: "assistant",
            content: [{ type: "tool-call", id: "call_7", name: "lookup", params: { symbol: "Budget" } }]
          },
          {
            role: "tool",
            content: [{ type: "tool-result", id: "call_7", name: "lookup", isFailure: false, result: "core" }]
          }
        ],
        toolkit,
        disableToolCallResolution: true
      })
      assert.strictEqual(second.text, "Budget is in core")
      const requests = yield* server.requests
      const firstBody = bodyOf(requests[0]!)
      assert.deepStrictEqual(
        firstBody.tools.map((tool: any) => [tool.type, tool.name]),
        [["function", "lookup"]]
      )
      const input = bodyOf(requests[1]!).input as Array<any>
      assert.deepStrictEqual(input[1], {
        type: "function_call",
        call_id: "call_7",
        name: "lookup",
        arguments: '{"symbol":"Budget"}'
      })
      // A string result goes as it is; anything else as JSON.
      assert.deepStrictEqual(input[2], { type: "function_call_output", call_id: "call_7", output: "core" })
    }).pipe(Effect.scoped)
  )

  it.live("streamText: deltas in order, then a finish part with the usage", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.text("one two three four", { chunks: 4, usage: { input_tokens: 5, output_tokens: 4 } })
      ])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url })
      const parts = yield* Stream.runCollect(model.streamText({ prompt: "count" }))
      const deltas = parts.filter((part) => part.type === "text-delta").map((part) => part.delta)
      assert.isAtLeast(deltas.length, 2)
      assert.strictEqual(deltas.join(""), "one two three four")
      const finish = parts.find((part) => part.type === "finish")
      assert.strictEqual(finish?.usage.outputTokens.total, 4)
      assert.isTrue((yield* server.requests)[0]!.stream)
    }).pipe(Effect.scoped)
  )

  it.effect("retries: 429 with Retry-After, then 500, then success is one call of three requests", () =>
    Effect.gen(function* () {
      const { events, tracer } = Tracer.memory()
      const server = yield* ScriptedServer.make([
        Turn.error(429, { message: "slow down", headers: { "retry-after": "3" } }),
        Turn.error(500, { message: "oops" }),
        Turn.text("finally")
      ])
      const model = yield* OpenAi.make({
        model: "gpt-test",
        baseURL: server.url,
        retry: { times: 3, base: "1 second", cap: "1 minute", jitter: false }
      })
      const fiber = yield* model
        .generateText({ prompt: "hi" })
        .pipe(Effect.provideService(Tracer.CurrentTracer, tracer), Effect.forkChild)
      const waits = () => events.filter((event) => event.data?.retryInMs !== undefined)
      const requestCount = () => events.filter((event) => event.kind === "model.request").length

      // The 429 asked for 3 s: nothing is sent before they pass.
      yield* eventually(() => waits().length === 1, "the 429 to be handled")
      assert.strictEqual(waits()[0]!.data!.retryInMs, 3000)
      yield* TestClock.adjust("2999 millis")
      yield* realSleep(30)
      assert.strictEqual(requestCount(), 1)
      yield* TestClock.adjust("1 millis")
      yield* server.awaitRequests(2)

      // The 500 sent no Retry-After: the backoff of the second attempt is base * 2 = 2 s.
      yield* eventually(() => waits().length === 2, "the 500 to be handled")
      assert.strictEqual(waits()[1]!.data!.retryInMs, 2000)
      yield* TestClock.adjust("1999 millis")
      yield* realSleep(30)
      assert.strictEqual(requestCount(), 2)
      yield* TestClock.adjust("1 millis")

      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.text, "finally")
      assert.strictEqual((yield* server.requests).length, 3)
      const callIds = new Set(events.filter((e) => e.kind === "model.request").map((e) => e.messageId))
      assert.strictEqual(callIds.size, 1, "the three requests are one logical call")
      assert.deepStrictEqual(
        events.filter((e) => e.kind === "model.request").map((e) => e.data?.attempt),
        [1, 2, 3]
      )
    }).pipe(Effect.scoped)
  )

  it.live("a 400 is not retried and fails with a typed error naming the status", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.error(400, { message: "bad field input[0]" }),
        Turn.text("x")
      ])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url })
      const error = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.isTrue(AiError.isAiError(error))
      assert.strictEqual(error.reason._tag, "InvalidRequestError")
      assert.include(error.message, "bad field input[0]")
      assert.strictEqual((yield* server.requests).length, 1)
    }).pipe(Effect.scoped)
  )

  it.live("retries stop after `times`: the last error is returned", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.error(503), Turn.error(503), Turn.text("never")])
      const model = yield* OpenAi.make({
        model: "gpt-test",
        baseURL: server.url,
        retry: { times: 1, base: "1 millis", cap: "1 millis", jitter: false }
      })
      const error = yield* Effect.flip(model.generateText({ prompt: "hi" }))
      assert.strictEqual(error.reason._tag, "InternalProviderError")
      assert.strictEqual((yield* server.requests).length, 2)
    }).pipe(Effect.scoped)
  )

  it.live("interrupting a stream closes the HTTP connection", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.hang({ text: "partial answer" })])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url })
      const received: Array<string> = []
      const fiber = yield* model.streamText({ prompt: "go" }).pipe(
        Stream.runForEach((part) =>
          Effect.sync(() => part.type === "text-delta" && received.push(part.delta))
        ),
        Effect.forkChild
      )
      yield* eventually(() => received.length > 0, "the first delta")
      yield* Fiber.interrupt(fiber)
      yield* server.awaitDisconnect.pipe(Effect.timeout("5 seconds"))
      const [request] = yield* server.requests
      assert.isTrue(request!.closedEarly)
      assert.strictEqual(yield* server.disconnects, 1)
    }).pipe(Effect.scoped)
  )

  it.live("the API key reaches the server but never the trace", () =>
    Effect.gen(function* () {
      const { events, tracer } = Tracer.memory()
      const server = yield* ScriptedServer.make([Turn.error(401, { message: "bad key" })])
      const model = yield* OpenAi.make({
        model: "gpt-test",
        baseURL: server.url,
        apiKey: Redacted.make("sk-live-secret-0123456789")
      })
      const error = yield* Effect.flip(
        model.generateText({ prompt: "hi" }).pipe(Effect.provideService(Tracer.CurrentTracer, tracer))
      )
      assert.strictEqual(error.reason._tag, "AuthenticationError")
      const [request] = yield* server.requests
      assert.strictEqual(request!.headers.authorization, "[redacted]")
      assert.notInclude(JSON.stringify(events), "sk-live-secret")
      assert.notInclude(error.message, "sk-live-secret")
    }).pipe(Effect.scoped)
  )

  it.effect("config: defaults, and the key from the environment stays redacted", () =>
    Effect.gen(function* () {
      const { ConfigProvider } = yield* Effect.promise(() => import("effect"))
      const options = yield* OpenAi.config.parse(
        ConfigProvider.fromUnknown({
          OPENAI_API_KEY: "sk-env-secret-0123456789",
          OPENAI_BASE_URL: "http://127.0.0.1:1/v1"
        })
      )
      assert.strictEqual(options.model, "gpt-5.5")
      assert.strictEqual(options.maxOutputTokens, 4096)
      assert.strictEqual(options.baseURL, "http://127.0.0.1:1/v1")
      assert.notInclude(String(options.apiKey), "sk-env")
      assert.strictEqual(Redacted.value(options.apiKey!), "sk-env-secret-0123456789")
    })
  )

  it.live("LanguageModel through the layer", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.text("via layer")])
      const response = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(OpenAi.layer({ model: "gpt-test", baseURL: server.url }))
      )
      assert.strictEqual(response.text, "via layer")
    }).pipe(Effect.scoped)
  )
})
