import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Stream } from "effect"
import { AiError, LanguageModel } from "effect/ai"
import { Actor, Budget } from "@handoffkit/core"
import { Agent, OpenAi, ScriptedServer } from "@handoffkit/llm"

const { Turn } = ScriptedServer

const noRetry = { times: 0, base: 0, cap: 0, jitter: false } as const

/** JSON a server may answer with status 200 that is no Responses API answer: wrong types, wrong nesting. */
const wrongShapes: ReadonlyArray<unknown> = [
  { id: "resp_1", object: "response", model: "gpt-test", created_at: 1e20, output: [] },
  { id: "resp_2", model: "gpt-test", created_at: "yesterday", output: [] },
  { id: "resp_3", model: "gpt-test", created_at: 1, output: "not a list" },
  {
    id: "resp_4",
    model: "gpt-test",
    created_at: 1,
    output: [{ type: "message", content: [{ type: "output_text" }] }]
  },
  { id: "resp_5", model: "gpt-test", created_at: 1, output: [{ type: "function_call", name: 7 }] },
  { id: "resp_6", model: "gpt-test", created_at: 1, output: [], usage: { input_tokens: "ten" } },
  { choices: [{ message: { content: "a chat completion, not a response" } }] },
  [],
  "just a string",
  null
]

const expectInvalidOutput = (exit: Exit.Exit<unknown, unknown>, label: string) => {
  assert.isTrue(Exit.isFailure(exit), `${label}: expected a failure`)
  if (!Exit.isFailure(exit)) return
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  assert.isDefined(failure, `${label}: a typed failure, not a defect: ${String(exit.cause)}`)
  const error = failure?._tag === "Fail" ? failure.error : undefined
  assert.isTrue(AiError.isAiError(error), `${label}: an AiError`)
  if (!AiError.isAiError(error)) return
  assert.strictEqual(error.reason._tag, "InvalidOutputError", label)
  assert.isTrue(error.isRetryable, `${label}: retryable`)
}

describe("the model's wire, decoded at the door (issue 18)", () => {
  it.live(
    "a 200 whose JSON is of the wrong shape is a typed, retryable InvalidOutputError, never a defect",
    () =>
      Effect.gen(function* () {
        for (const [i, body] of wrongShapes.entries()) {
          const server = yield* ScriptedServer.make([Turn.malformed(body)])
          const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url, retry: noRetry })
          const exit = yield* Effect.exit(model.generateText({ prompt: "hi" }))
          expectInvalidOutput(exit, `shape ${i}`)
          assert.strictEqual((yield* server.requests).length, 1)
        }
      }).pipe(Effect.scoped)
  )

  it.live("a malformed answer is retried by the provider's policy like a 5xx", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.malformed(wrongShapes[0]), Turn.text("second try")])
      const model = yield* OpenAi.make({
        model: "gpt-test",
        baseURL: server.url,
        retry: { times: 1, base: 1, cap: 1, jitter: false }
      })
      const response = yield* model.generateText({ prompt: "hi" })
      assert.strictEqual(response.text, "second try")
      assert.strictEqual((yield* server.requests).length, 2)
    }).pipe(Effect.scoped)
  )

  it.live("a non-streamed body cut off in the middle is a retryable InvalidOutputError", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.cut({ text: "half an answer" })])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url, retry: noRetry })
      expectInvalidOutput(yield* Effect.exit(model.generateText({ prompt: "hi" })), "cut body")
    }).pipe(Effect.scoped)
  )

  it.live("a stream that stops before its completion event fails the stream; its text is not an answer", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.cut({ text: "The answer is" })])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url, retry: noRetry })
      const seen: Array<string> = []
      const exit = yield* Effect.exit(
        Stream.runForEach(model.streamText({ prompt: "hi" }), (part) =>
          Effect.sync(() => seen.push(part.type))
        )
      )
      expectInvalidOutput(exit, "cut stream")
      assert.include(seen, "text-delta") // the part that did arrive was passed on, then the stream failed
      assert.notInclude(seen, "finish")
    }).pipe(Effect.scoped)
  )

  it.live("a stream event of the wrong shape fails the stream with a typed error", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([
        Turn.malformed({ type: "response.created", response: { id: 5, created_at: 1e20 } })
      ])
      const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url, retry: noRetry })
      expectInvalidOutput(
        yield* Effect.exit(Stream.runDrain(model.streamText({ prompt: "hi" }))),
        "malformed stream event"
      )
    }).pipe(Effect.scoped)
  )

  for (const stream of [false, true]) {
    it.live(
      `an agent's turn (${stream ? "streamed" : "whole"}) ends "failed" on a malformed or cut answer`,
      () =>
        Effect.gen(function* () {
          const server = yield* ScriptedServer.make([
            Turn.malformed(wrongShapes[0]),
            Turn.cut({ text: "The answer is" }),
            Turn.text("a real answer")
          ])
          const program = Effect.gen(function* () {
            const agent = yield* Agent.make("solver", { instructions: "Answer.", stream })
            const first = yield* Actor.ask(agent, Agent.message("one"))
            const second = yield* Actor.ask(agent, Agent.message("two"))
            const third = yield* Actor.ask(agent, Agent.message("three"))
            return [first, second, third] as const
          })
          const [first, second, third] = yield* program.pipe(
            Effect.scoped,
            Effect.provide(OpenAi.layer({ model: "gpt-test", baseURL: server.url, retry: noRetry }))
          )
          assert.strictEqual(first.outcome, "failed")
          assert.include(first.text, "not a Responses API")
          assert.strictEqual(second.outcome, "failed")
          assert.notStrictEqual(second.text, "The answer is")
          // The actor lived through both: the next turn is answered.
          assert.strictEqual(third.outcome, "answered")
          assert.strictEqual(third.text, "a real answer")
        }).pipe(Effect.provide(Actor.layer))
    )
  }
})

/** `OpenAi.layerConfig` reading `env` (as it would read the process's environment). */
const configured = (env: Record<string, string>) =>
  OpenAi.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

/** The text of one answer from a `layerConfig` built from `env`. */
const answer = (env: Record<string, string>) =>
  LanguageModel.generateText({ prompt: "hi" }).pipe(
    Effect.map((r) => r.text),
    Effect.provide(configured(env))
  )

describe("OpenAi.layerConfig without a key (issue 18)", () => {
  for (const env of [{}, { OPENAI_API_KEY: "" }] as const) {
    it.live(`${JSON.stringify(env)}: a ConfigError naming OPENAI_API_KEY, before any call or charge`, () =>
      Effect.gen(function* () {
        let requests = 0
        const budget = yield* Budget.make({ calls: 5 })
        const program = Effect.gen(function* () {
          yield* Effect.sync(() => requests++)
          yield* Budget.spend(budget, { calls: 1 })
          return yield* LanguageModel.generateText({ prompt: "hi" })
        })
        const exit = yield* Effect.exit(program.pipe(Effect.provide(configured(env))))
        assert.isTrue(Exit.isFailure(exit))
        if (!Exit.isFailure(exit)) return
        const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
        assert.strictEqual(
          failure?._tag === "Fail" ? (failure.error as { _tag?: string })._tag : "none",
          "ConfigError"
        )
        assert.include(
          String(failure?._tag === "Fail" ? (failure.error as Error).message : ""),
          "OPENAI_API_KEY"
        )
        assert.strictEqual(requests, 0)
        assert.strictEqual((yield* Budget.snapshot(budget)).spent.calls, 0)
      }).pipe(Effect.scoped)
    )
  }

  it.live("with a key, or a base URL of a server that needs none, the layer builds and answers", () =>
    Effect.gen(function* () {
      const server = yield* ScriptedServer.make([Turn.text("keyless"), Turn.text("keyed")])
      assert.strictEqual(yield* answer({ OPENAI_BASE_URL: server.url }), "keyless")
      assert.strictEqual(
        yield* answer({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: "sk-test-0123456789" }),
        "keyed"
      )
      const layer: Layer.Layer<LanguageModel.LanguageModel, unknown> = OpenAi.layerConfig
      assert.isTrue(Layer.isLayer(layer))
    }).pipe(Effect.scoped)
  )
})

describe("Agent options at the door (issue 18)", () => {
  it.live(
    "hostile options are refused with AgentInvalid naming the option and the value; nothing is called",
    () =>
      Effect.gen(function* () {
        const server = yield* ScriptedServer.make([Turn.text("never asked")])
        const cases: ReadonlyArray<readonly [Record<string, unknown>, string, string]> = [
          [{ maxSteps: NaN }, "maxSteps", "NaN"],
          [{ maxSteps: 2.5 }, "maxSteps", "2.5"],
          [{ maxOutputTokens: -1 }, "maxOutputTokens", "-1"],
          [{ maxOutputTokens: Infinity }, "maxOutputTokens", "Infinity"],
          [{ handoffTo: [""] }, "handoffTo.0", '""'],
          [{ stream: "yes" }, "stream", '"yes"'],
          [{ price: { inputPerMillion: NaN, outputPerMillion: 1 } }, "price.inputPerMillion", "NaN"],
          [{ actor: { capacity: -5 } }, "actor.capacity", "-5"],
          [{ budget: { cost: 1 } }, "budget", '{"cost":1}']
        ]
        for (const [extra, option, value] of cases) {
          const error = yield* Agent.make("solver", { instructions: "Answer.", ...(extra as object) }).pipe(
            Effect.flip,
            Effect.scoped,
            Effect.provide(OpenAi.layer({ model: "gpt-test", baseURL: server.url, retry: noRetry }))
          )
          assert.strictEqual(error._tag, "AgentInvalid", option)
          if (error._tag !== "AgentInvalid") continue
          assert.strictEqual(error.option, option)
          assert.strictEqual(error.value, value)
          assert.include(error.message, option)
        }
        assert.strictEqual((yield* server.requests).length, 0)
        // Valid options still make an agent that answers.
        const answer = yield* Effect.gen(function* () {
          const agent = yield* Agent.make("solver", {
            instructions: "Answer.",
            maxSteps: 2,
            maxOutputTokens: 100
          })
          return yield* Actor.ask(agent, Agent.message("hi"))
        }).pipe(
          Effect.scoped,
          Effect.provide(OpenAi.layer({ model: "gpt-test", baseURL: server.url, retry: noRetry }))
        )
        assert.strictEqual(answer.outcome, "answered")
      }).pipe(Effect.provide(Actor.layer))
  )
})

describe("OpenAi options at the door (issue 18)", () => {
  it.live(
    "hostile provider options: every call fails with an AiError naming the option, before any request",
    () =>
      Effect.gen(function* () {
        const server = yield* ScriptedServer.make([Turn.text("never asked")])
        const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
          [{ model: "" }, "model"],
          [{ maxOutputTokens: NaN }, "maxOutputTokens"],
          [{ maxOutputTokens: 0 }, "maxOutputTokens"],
          [{ retry: { times: NaN, base: 0, cap: 0, jitter: false } }, "retry.times"],
          [{ retry: { times: 2, base: "soon", cap: 0, jitter: false } }, "retry.base"],
          [{ baseURL: "not a url" }, "baseURL"],
          [{ apiKey: "sk-plain-string" }, "apiKey"]
        ]
        for (const [extra, option] of cases) {
          const model = yield* OpenAi.make({ model: "gpt-test", baseURL: server.url, ...(extra as object) })
          const error = yield* Effect.flip(model.generateText({ prompt: "hi" }))
          assert.strictEqual(error.reason._tag, "InvalidUserInputError", option)
          assert.include(error.message, `"${option}"`)
          assert.notInclude(error.message, "sk-plain-string") // a key given as a plain string is not echoed…
          const streamed = yield* Effect.flip(Stream.runDrain(model.streamText({ prompt: "hi" })))
          assert.strictEqual(streamed.reason._tag, "InvalidUserInputError", option)
        }
        assert.strictEqual((yield* server.requests).length, 0)
      }).pipe(Effect.scoped)
  )
})
