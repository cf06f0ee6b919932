import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import OpenAI, {
  APIConnectionError,
  APIUserAbortError,
  BadRequestError,
  InternalServerError,
  RateLimitError,
  type APIError
} from "openai"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ScriptedServer from "../src/ScriptedServer.ts"

const { Turn } = ScriptedServer

const clientOf = (server: ScriptedServer.ScriptedServer) =>
  new OpenAI({ baseURL: server.url, apiKey: "sk-test-not-a-secret", maxRetries: 0 })

/** A promise that must resolve, as an Effect. */
const run = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A promise that must reject: its rejection, as an Effect (a promise that resolves is a defect). */
const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      () => {
        throw new Error("expected the request to fail, but it succeeded")
      },
      (error: unknown) => error
    )
  )

const bodyOf = (request: ScriptedServer.RecordedRequest | undefined) => request?.body as Record<string, any>

describe("ScriptedServer", () => {
  it.live("answers a text turn as a Response object, with the script's usage, and records the request", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.text("Hello there", { usage: { input_tokens: 7, output_tokens: 3 } })
      ])
      const response = yield* run(() =>
        clientOf(server).responses.create({ model: "gpt-test", input: "Say hello", instructions: "Be brief" })
      )
      assert.strictEqual(response.output_text, "Hello there")
      assert.strictEqual(response.status, "completed")
      assert.strictEqual(response.model, "gpt-test")
      assert.deepStrictEqual(response.usage, {
        input_tokens: 7,
        input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
        output_tokens: 3,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 10
      })
      assert.strictEqual(response._request_id, "req_0")
      const requests = yield* server.requests
      assert.strictEqual(requests.length, 1)
      const [request] = requests
      assert.strictEqual(request?.index, 0)
      assert.strictEqual(request?.method, "POST")
      assert.strictEqual(request?.path, "/v1/responses")
      assert.deepStrictEqual(request?.body, {
        model: "gpt-test",
        input: "Say hello",
        instructions: "Be brief"
      })
      assert.strictEqual(request?.stream, false)
      assert.strictEqual(request?.headers.authorization, "[redacted]")
      assert.notInclude(JSON.stringify(requests), "sk-test-not-a-secret")
      assert.strictEqual(request?.turn?._tag, "Text")
      assert.strictEqual(request?.closedEarly, false)
      assert.strictEqual(yield* server.disconnects, 0)
    }).pipe(Effect.scoped)
  )

  it.live(
    "streams the text as ordered deltas ending in response.completed with the usage; responses.stream works",
    () =>
      Effect.gen(function* () {
        const text = "The quick brown fox jumps"
        const server = yield* ScriptedServer.make([
          Turn.text(text, { chunks: 4, chunkDelayMs: 5, usage: { input_tokens: 21, output_tokens: 5 } }),
          Turn.text("Second answer", { chunks: 3, usage: { input_tokens: 30, output_tokens: 2 } })
        ])
        const client = clientOf(server)
        const events = yield* run(async () => {
          const out: Array<OpenAI.Responses.ResponseStreamEvent> = []
          const stream = await client.responses.create({ model: "gpt-test", input: "go", stream: true })
          for await (const event of stream) out.push(event)
          return out
        })
        assert.deepStrictEqual(
          events.map((event) => event.type),
          [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            ...Array.from({ length: 4 }, () => "response.output_text.delta" as const),
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
          ]
        )
        assert.deepStrictEqual(
          events.map((event) => event.sequence_number),
          events.map((_, i) => i)
        )
        const deltas = events.flatMap((event) =>
          event.type === "response.output_text.delta" ? [event.delta] : []
        )
        assert.strictEqual(deltas.length, 4)
        assert.isTrue(deltas.every((delta) => delta.length > 0))
        assert.strictEqual(deltas.join(""), text)
        const completed = events.at(-1)
        assert.strictEqual(completed?.type, "response.completed")
        if (completed?.type === "response.completed") {
          assert.strictEqual(completed.response.usage?.input_tokens, 21)
          assert.strictEqual(completed.response.usage?.output_tokens, 5)
          assert.strictEqual(completed.response.usage?.total_tokens, 26)
        }

        const streamed = yield* run(async () => {
          const snapshots: Array<string> = []
          const stream = client.responses.stream({ model: "gpt-test", input: "again" })
          stream.on("response.output_text.delta", (event) => snapshots.push(event.snapshot))
          const final = await stream.finalResponse()
          return { final, snapshots }
        })
        assert.strictEqual(streamed.final.output_text, "Second answer")
        assert.strictEqual(streamed.final.usage?.input_tokens, 30)
        assert.strictEqual(streamed.final.usage?.output_tokens, 2)
        assert.strictEqual(streamed.snapshots.length, 3)
        assert.strictEqual(streamed.snapshots.at(-1), "Second answer")
        const requests = yield* server.requests
        assert.deepStrictEqual(
          requests.map((request) => request.stream),
          [true, true]
        )
      }).pipe(Effect.scoped)
  )

  it.live(
    "answers tool calls as function_call items, then records the follow-up's function_call_output",
    () =>
      Effect.gen(function* () {
        const server = yield* ScriptedServer.make([
          Turn.toolCalls(
            [
              { name: "get_weather", arguments: { city: "Paris" }, callId: "call_w" },
              { name: "get_time", arguments: { tz: "CET" } }
            ],
            { text: "Checking." }
          ),
          Turn.text("Sunny in Paris at noon."),
          Turn.toolCall("read_file", { path: "a b.txt" }, { callId: "call_read" })
        ])
        const client = clientOf(server)
        const tools: Array<OpenAI.Responses.FunctionTool> = [
          {
            type: "function",
            name: "get_weather",
            parameters: { type: "object", properties: { city: { type: "string" } } },
            strict: false
          },
          {
            type: "function",
            name: "get_time",
            parameters: { type: "object", properties: { tz: { type: "string" } } },
            strict: false
          }
        ]
        const first = yield* run(() =>
          client.responses.create({ model: "gpt-test", input: "Weather and time?", tools })
        )
        assert.strictEqual(first.output_text, "Checking.")
        const calls = first.output.filter(
          (item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === "function_call"
        )
        assert.deepStrictEqual(
          calls.map((call) => [call.name, JSON.parse(call.arguments), call.call_id]),
          [
            ["get_weather", { city: "Paris" }, "call_w"],
            ["get_time", { tz: "CET" }, "call_0_1"]
          ]
        )
        assert.deepStrictEqual(
          first.output.map((item) => item.type),
          ["message", "function_call", "function_call"]
        )

        const second = yield* run(() =>
          client.responses.create({
            model: "gpt-test",
            tools,
            input: [
              { role: "user", content: "Weather and time?" },
              ...calls,
              { type: "function_call_output", call_id: "call_w", output: "sunny" },
              { type: "function_call_output", call_id: "call_0_1", output: "12:00" }
            ]
          })
        )
        assert.strictEqual(second.output_text, "Sunny in Paris at noon.")
        const [, followUp] = yield* server.requests
        const outputs = (bodyOf(followUp).input as Array<Record<string, unknown>>).filter(
          (item) => item.type === "function_call_output"
        )
        assert.deepStrictEqual(outputs, [
          { type: "function_call_output", call_id: "call_w", output: "sunny" },
          { type: "function_call_output", call_id: "call_0_1", output: "12:00" }
        ])
        assert.strictEqual((bodyOf(followUp).tools as Array<unknown>).length, 2)

        // The same shape streamed, through the SDK's accumulating helper.
        const argumentEvents: Array<string> = []
        const streamed = yield* run(() => {
          const stream = client.responses.stream({ model: "gpt-test", input: "read it" })
          stream.on("response.function_call_arguments.done", (event) => argumentEvents.push(event.arguments))
          return stream.finalResponse()
        })
        const [call] = streamed.output
        assert.strictEqual(call?.type, "function_call")
        if (call?.type === "function_call") {
          assert.strictEqual(call.name, "read_file")
          assert.strictEqual(call.call_id, "call_read")
          assert.deepStrictEqual(JSON.parse(call.arguments), { path: "a b.txt" })
        }
        assert.deepStrictEqual(argumentEvents, ['{"path":"a b.txt"}'])
      }).pipe(Effect.scoped)
  )

  it.live("error turns raise the SDK's typed errors, with the status, headers and message", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.error(429, {
          message: "Rate limit reached for gpt-test",
          code: "rate_limit_exceeded",
          headers: { "retry-after": "2" }
        }),
        Turn.error(500, { message: "the scripted model fell over" }),
        Turn.error(400)
      ])
      const client = clientOf(server)
      const rateLimited = yield* rejection(() => client.responses.create({ model: "gpt-test", input: "hi" }))
      assert.instanceOf(rateLimited, RateLimitError)
      if (rateLimited instanceof RateLimitError) {
        assert.strictEqual(rateLimited.status, 429)
        assert.strictEqual(rateLimited.headers.get("retry-after"), "2")
        assert.include(rateLimited.message, "Rate limit reached for gpt-test")
        assert.strictEqual(rateLimited.code, "rate_limit_exceeded")
        assert.strictEqual(rateLimited.type, "rate_limit_error")
        assert.strictEqual(rateLimited.requestID, "req_0")
      }
      const failed = yield* rejection(() =>
        client.responses.create({ model: "gpt-test", input: "hi", stream: true })
      )
      assert.instanceOf(failed, InternalServerError)
      if (failed instanceof InternalServerError) {
        assert.strictEqual(failed.status, 500)
        assert.include(failed.message, "the scripted model fell over")
        assert.strictEqual(failed.type, "server_error")
      }
      const bad = yield* rejection(() => client.responses.create({ model: "gpt-test", input: "hi" }))
      assert.instanceOf(bad, BadRequestError)
      assert.include((bad as Error).message, "scripted error 400 for request #2")
      // maxRetries: 0, so exactly one request per call.
      assert.strictEqual((yield* server.requests).length, 3)
    }).pipe(Effect.scoped)
  )

  it.live("a hanging stream aborted by the client is recorded as a disconnect", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.hang({ text: "partial" })])
      const client = clientOf(server)
      const controller = new AbortController()
      const seen = yield* run(async () => {
        const types: Array<string> = []
        const stream = await client.responses.create(
          { model: "gpt-test", input: "hi", stream: true },
          { signal: controller.signal }
        )
        try {
          for await (const event of stream) {
            types.push(event.type)
            if (event.type === "response.output_text.delta") {
              types.push(`delta:${event.delta}`)
              controller.abort()
            }
          }
          // The SDK ends the iteration quietly on a user abort (or raises APIUserAbortError): both are a stop.
          types.push("stopped")
        } catch (error) {
          types.push(error instanceof APIUserAbortError ? "stopped" : `unexpected: ${String(error)}`)
        }
        return types
      })
      assert.deepStrictEqual(seen, [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "delta:partial",
        "stopped"
      ])
      yield* server.awaitDisconnect
      assert.strictEqual(yield* server.disconnects, 1)
      const [request] = yield* server.requests
      assert.strictEqual(request?.closedEarly, true)
      assert.strictEqual(request?.turn?._tag, "Hang")
    }).pipe(Effect.scoped)
  )

  it.live("a delayed answer the client gives up on is cut short; a finished one is not", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.text("too late", { delayMs: 10_000 }),
        Turn.text("on time")
      ])
      const client = clientOf(server)
      const controller = new AbortController()
      const pending = client.responses
        .create({ model: "gpt-test", input: "slow" }, { signal: controller.signal })
        .then(
          () => "answered",
          (error) => error
        )
      yield* server.awaitRequests(1)
      assert.strictEqual(yield* server.disconnects, 0)
      controller.abort()
      assert.instanceOf(yield* run(() => pending), APIUserAbortError)
      yield* server.awaitDisconnect
      const second = yield* run(() => client.responses.create({ model: "gpt-test", input: "fast" }))
      assert.strictEqual(second.output_text, "on time")
      const requests = yield* server.requests
      assert.deepStrictEqual(
        requests.map((request) => request.closedEarly),
        [true, false]
      )
      assert.strictEqual(yield* server.disconnects, 1)
    }).pipe(Effect.scoped)
  )

  it.live(
    "routed scripts keep one conversation per agent; an exhausted or unknown route answers 500 naming it",
    () =>
      Effect.gen(function* () {
        const script = ScriptedServer.routed((request) => String(bodyOf(request).model), {
          planner: [Turn.text("plan: two steps")],
          coder: [Turn.text("step 1 done"), Turn.text("step 2 done")]
        })
        const server = yield* ScriptedServer.make(script)
        const client = clientOf(server)
        const ask = (model: string) =>
          run(() => client.responses.create({ model, input: "next" })).pipe(Effect.map((r) => r.output_text))
        assert.strictEqual(yield* ask("coder"), "step 1 done")
        assert.strictEqual(yield* ask("planner"), "plan: two steps")
        assert.strictEqual(yield* ask("coder"), "step 2 done")
        const exhausted = yield* rejection(() => client.responses.create({ model: "planner", input: "more" }))
        assert.instanceOf(exhausted, InternalServerError)
        assert.include((exhausted as Error).message, 'no turn left for request #3 on route "planner"')
        assert.strictEqual((exhausted as APIError).code, "script_exhausted")
        const unknown = yield* rejection(() =>
          client.responses.create({ model: "reviewer", input: "review" })
        )
        assert.instanceOf(unknown, InternalServerError)
        assert.include((unknown as Error).message, 'request #4 was routed to "reviewer", which has no script')
        assert.strictEqual((unknown as APIError).code, "unknown_route")
        const requests = yield* server.requests
        assert.deepStrictEqual(
          requests.map((request) => [bodyOf(request).model, request.turn?._tag]),
          [
            ["coder", "Text"],
            ["planner", "Text"],
            ["coder", "Text"],
            ["planner", "Error"],
            ["reviewer", "Error"]
          ]
        )
      }).pipe(Effect.scoped)
  )

  it.live(
    "a list script answers 500 naming the request once it runs out; other paths are answered without a turn",
    () =>
      Effect.gen(function* () {
        const server = yield* ScriptedServer.make([Turn.text("only answer")])
        const client = clientOf(server)
        const models = yield* run(() => fetch(`${server.url}/models`).then((res) => res.json()))
        assert.deepStrictEqual(
          models.data.map((model: { id: string }) => model.id),
          ["scripted"]
        )
        const chat = yield* run(() => fetch(`${server.url}/chat/completions`, { method: "POST", body: "{}" }))
        assert.strictEqual(chat.status, 404)
        assert.include(
          (yield* run(() => chat.json())).error.message,
          "no route for POST /v1/chat/completions (request #1)"
        )
        // Neither used the script's only turn.
        assert.strictEqual(
          (yield* run(() => client.responses.create({ model: "m", input: "1" }))).output_text,
          "only answer"
        )
        const exhausted = yield* rejection(() => client.responses.create({ model: "m", input: "2" }))
        assert.instanceOf(exhausted, InternalServerError)
        assert.include((exhausted as Error).message, "no turn left for request #3 (POST /v1/responses)")
        const requests = yield* server.requests
        assert.deepStrictEqual(
          requests.map((request) => [request.method, request.path, request.turn?._tag]),
          [
            ["GET", "/v1/models", undefined],
            ["POST", "/v1/chat/completions", undefined],
            ["POST", "/v1/responses", "Text"],
            ["POST", "/v1/responses", undefined]
          ]
        )
        const invalid = yield* ScriptedServer.make([Turn.text("ok"), Turn.error(200)]).pipe(Effect.flip)
        assert.strictEqual(invalid._tag, "ScriptedServerError")
        assert.strictEqual(
          invalid.message,
          "ScriptedServer: turn 1 of the script is invalid: Error.status must be an HTTP error status (400-599), got 200"
        )
      }).pipe(Effect.scoped)
  )

  it.live("closing the scope closes the server, even with a hanging request open", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* ScriptedServer.make([Turn.hang()]).pipe(Scope.provide(scope))
      const client = clientOf(server)
      const pending = client.responses.create({ model: "m", input: "wait" }).then(
        () => "answered",
        (error) => error
      )
      yield* server.awaitRequests(1)
      // A hanging connection must not keep the close waiting. (Closing is uninterruptible: wait on it from outside.)
      const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
      yield* Fiber.join(closing).pipe(
        Effect.timeoutOrElse({
          duration: "3 seconds",
          orElse: () => Effect.die(new Error("closing the scope hung"))
        })
      )
      assert.instanceOf(yield* run(() => pending), APIConnectionError)
      const connect = yield* run(
        () =>
          new Promise<string>((resolve) => {
            const socket = Net.connect({ host: "127.0.0.1", port: server.port })
            socket.once("connect", () => {
              socket.destroy()
              resolve("connected")
            })
            socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
          })
      )
      assert.strictEqual(connect, "ECONNREFUSED")
      // The server cut the connection itself: that is not a client disconnect.
      assert.strictEqual(yield* server.disconnects, 0)
    })
  )

  it.live(
    "the real codex CLI runs a scripted shell call, then finishes with the scripted answer",
    () =>
      Effect.gen(function* () {
        const server = yield* ScriptedServer.make([
          Turn.toolCall("exec_command", { cmd: "echo hi > f.txt" }),
          Turn.text("done")
        ])
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-codex-"))),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        const repo = Path.join(dir, "repo")
        const home = Path.join(dir, "home")
        Fs.mkdirSync(repo)
        Fs.mkdirSync(home)
        const result = yield* runCodex(server.url, repo, home, "write hi to f.txt")
        assert.strictEqual(result.code, 0, `codex exited ${result.code}: ${result.stderr}`)
        assert.strictEqual(Fs.readFileSync(Path.join(repo, "f.txt"), "utf8"), "hi\n")
        const events = result.stdout
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map(
            (line) =>
              JSON.parse(line) as { type: string; item?: { type: string; text?: string; command?: string } }
          )
        const items = events.flatMap((event) =>
          event.type === "item.completed" && event.item ? [event.item] : []
        )
        assert.isTrue(
          items.some((item) => item.type === "command_execution" && item.command?.includes("echo hi > f.txt"))
        )
        assert.isTrue(items.some((item) => item.type === "agent_message" && item.text === "done"))
        assert.isTrue(events.some((event) => event.type === "turn.completed"))
        const requests = yield* server.requests
        const model = requests.filter((request) => request.path === "/v1/responses")
        assert.strictEqual(model.length, 2)
        assert.isTrue(model.every((request) => request.stream))
        const outputs = (bodyOf(model[1]).input as Array<Record<string, unknown>>).filter(
          (item) => item.type === "function_call_output"
        )
        assert.strictEqual(outputs.length, 1)
        assert.strictEqual(outputs[0]?.call_id, "call_0_0")
        assert.strictEqual(yield* server.disconnects, 0)
      }).pipe(Effect.scoped),
    30_000
  )
})

/** Runs `codex exec` against the server, with its own CODEX_HOME and none of the caller's OpenAI or Codex settings. */
const runCodex = (baseUrl: string, repo: string, home: string, prompt: string) =>
  Effect.callback<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith("OPENAI_") && !key.startsWith("CODEX_")) env[key] = value
    }
    env.CODEX_HOME = home
    const codex = Path.resolve(import.meta.dirname, "../../../node_modules/.bin/codex")
    const args = [
      "exec",
      "--json",
      "--ephemeral",
      "--skip-git-repo-check",
      "-s",
      "workspace-write",
      "-C",
      repo,
      // Without this, codex looks up github.com at start (to sync its curated plugin list); this test stays on 127.0.0.1.
      "-c",
      "features.plugins=false",
      "-c",
      "model_provider=stub",
      "-c",
      "model=gpt-5.5",
      "-c",
      "model_providers.stub.name=stub",
      "-c",
      `model_providers.stub.base_url=${JSON.stringify(baseUrl)}`,
      "-c",
      "model_providers.stub.wire_api=responses",
      "-c",
      "model_providers.stub.request_max_retries=0",
      "-c",
      "model_providers.stub.stream_max_retries=0",
      prompt
    ]
    const child = spawn(codex, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", (error) => resume(Effect.die(error)))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
