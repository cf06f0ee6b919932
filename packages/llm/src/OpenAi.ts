/**
 * OpenAI models for HandoffKit, on the official `openai` SDK and its Responses API, as an `effect/ai`
 * `LanguageModel`. Every agent program written against `LanguageModel` runs on it unchanged.
 *
 * **Guarantees**
 *
 * - One logical call is one `generateText`/`streamText`; it retries 429 and 5xx responses and dropped
 *   connections with backoff, honouring `Retry-After`, and fails with a typed `AiError` otherwise. The SDK's
 *   own retries are off, so every wait is an Effect `sleep` (testable with `TestClock`).
 * - Interrupting a call aborts its HTTP request: the server sees the connection close.
 * - Each HTTP attempt is a `model.request` trace event and each outcome a `model.response`, with the caller's
 *   actor and cause when an `Agent` makes the call. Keys never reach the trace.
 *
 * @since 0.1.0
 */
import { Config, ConfigProvider, Duration, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { AiError, LanguageModel } from "effect/ai"
import OpenAI from "openai"
import { Tracer } from "@handoffkit/core"
import * as options_ from "@handoffkit/core/internal/options"
import * as caller from "./internal/caller.ts"
import * as ScriptedServer from "./ScriptedServer.ts"
import * as wire from "./internal/openai.ts"

/**
 * When and how often a failed call is tried again.
 *
 * **Details**
 *
 * Only errors that may pass are retried: 429, 5xx, and connection failures. The wait before retry `n`
 * (1-based) is the server's `Retry-After` when it sends one, else `base * 2^(n-1)` capped at `cap`, spread by
 * up to ±20% when `jitter` is on so that agents throttled together do not come back together.
 *
 * **Example**
 *
 * ```ts
 * import { OpenAi } from "@handoffkit/llm"
 *
 * const policy: OpenAi.RetryPolicy = { times: 2, base: "200 millis", cap: "5 seconds", jitter: false }
 * console.log(policy.times) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryPolicy {
  /** How many retries after the first attempt. */
  readonly times: number
  readonly base: Duration.Input
  readonly cap: Duration.Input
  readonly jitter: boolean
}

/**
 * Four retries, from 500 ms doubling up to 30 s, with jitter.
 *
 * **Example**
 *
 * ```ts
 * import { OpenAi } from "@handoffkit/llm"
 *
 * console.log(OpenAi.defaultRetry.times) // 4
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultRetry: RetryPolicy = { times: 4, base: "500 millis", cap: "30 seconds", jitter: true }

/**
 * What the provider needs: the model, and where and how to reach it.
 *
 * **Example**
 *
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAi } from "@handoffkit/llm"
 *
 * const options: OpenAi.Options = { model: "gpt-5.5", apiKey: Redacted.make("sk-your-key"), maxOutputTokens: 2000 }
 * console.log(String(options.apiKey)) // "<redacted>"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly model: string
  /** The API key; default: none (a local server needs none). Kept `Redacted` so no log prints it. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Where the Responses API lives; default OpenAI's. A scripted server's `url` for tests. */
  readonly baseURL?: string | undefined
  /** Sent as `max_output_tokens`: the bound an agent reserves from its budget before each call. */
  readonly maxOutputTokens?: number | undefined
  readonly retry?: RetryPolicy | undefined
  /** A client of your own (proxies, headers); `apiKey` and `baseURL` are then ignored. */
  readonly client?: OpenAI | undefined
}

/**
 * The Schema every provider {@link Options} value is decoded with when the provider is made.
 *
 * **When to use**
 *
 * To check provider options read from outside the program before making the provider.
 *
 * **Details**
 *
 * `model` is a non-empty string, `apiKey` a `Redacted`, `baseURL` a URL, `maxOutputTokens` a positive
 * integer, `retry` a policy whose `times` is a non-negative integer, `base` and `cap` durations and `jitter`
 * a boolean. A provider made with options that do not decode answers every call at once with an `AiError`
 * (`InvalidUserInputError`) naming the option and the value, before any request is sent.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { OpenAi } from "@handoffkit/llm"
 *
 * const valid = Schema.is(OpenAi.OptionsSchema)
 * console.log(valid({ model: "gpt-5.5", maxOutputTokens: 2000 }), valid({ model: "gpt-5.5", maxOutputTokens: NaN }))
 * // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const OptionsSchema = Schema.Struct({
  model: options_.Name,
  apiKey: options_.optional(
    Schema.declare((u: unknown): u is Redacted.Redacted<string> => Redacted.isRedacted(u), {
      expected: "a Redacted key"
    })
  ),
  baseURL: options_.optional(
    Schema.String.check(Schema.makeFilter((u: string) => URL.canParse(u), { expected: "a URL" }))
  ),
  maxOutputTokens: options_.optional(options_.PositiveInt),
  retry: options_.optional(
    Schema.Struct({
      times: options_.Count,
      base: options_.DurationInput,
      cap: options_.DurationInput,
      jitter: Schema.Boolean
    })
  ),
  client: options_.optional(Schema.Unknown)
})

const usageData = (usage: ReturnType<typeof wire.toUsage>, finish: string, toolCalls: number) => ({
  inputTokens: usage.inputTokens.total ?? 0,
  outputTokens: usage.outputTokens.total ?? 0,
  finish,
  toolCalls
})

type Emit = (kind: "model.request" | "model.response", data: Record<string, string | number>) => void

const jitterOf = (policy: RetryPolicy, millis: number): number =>
  policy.jitter ? millis * (0.8 + Math.random() * 0.4) : millis

/**
 * Builds a `LanguageModel` that calls OpenAI's Responses API through the `openai` SDK.
 *
 * **When to use**
 *
 * To give agents (or any `effect/ai` program) an OpenAI model, or any server that speaks the Responses API,
 * such as the scripted server of `ScriptedServer` in tests.
 *
 * **Details**
 *
 * Text, function tools (with tool results fed back as `function_call_output`), streaming and usage are
 * mapped both ways. Files in prompts are refused with a typed `InvalidUserInputError`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { OpenAi, ScriptedServer } from "@handoffkit/llm"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("hello")])
 *   const model = yield* OpenAi.make({ model: "gpt-5.5", baseURL: server.url })
 *   const response = yield* model.generateText({ prompt: "say hello" })
 *   return response.text
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // "hello"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<LanguageModel.LanguageModel> =>
  Effect.suspend(() => {
    const refused = options_.check(OptionsSchema, options)
    if (refused !== undefined) {
      // The provider's type promises no error at make, so the refusal is every call's typed answer.
      const error = (method: string) =>
        AiError.make({
          module: "OpenAi",
          method,
          reason: new AiError.InvalidUserInputError({
            // A key is a secret however it was passed: its value is never shown.
            description: `invalid OpenAi option "${refused.option}" (${refused.option === "apiKey" ? "not shown" : refused.value}): ${refused.problem}`
          })
        })
      return LanguageModel.make({
        generateText: () => Effect.fail(error("generateText")),
        streamText: () => Stream.fail(error("streamText"))
      })
    }
    const client =
      options.client ??
      new OpenAI({
        apiKey: options.apiKey === undefined ? "unused" : Redacted.value(options.apiKey),
        maxRetries: 0,
        ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL })
      })
    const policy = options.retry ?? defaultRetry

    const body = (providerOptions: LanguageModel.ProviderOptions, maxOutputTokens: number | undefined) => {
      const input = wire.toInput(providerOptions.prompt)
      if (AiError.isAiError(input)) return input
      const { toolChoice, tools } = wire.toTools(providerOptions)
      const bound =
        maxOutputTokens === undefined
          ? options.maxOutputTokens
          : Math.min(maxOutputTokens, options.maxOutputTokens ?? maxOutputTokens)
      return {
        model: options.model,
        input,
        ...(tools === undefined ? {} : { tools }),
        ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
        ...(bound === undefined ? {} : { max_output_tokens: bound })
      }
    }

    // One logical call: attempts with backoff, each traced. `request` starts an HTTP request with the signal.
    const withRetries = <A>(
      method: string,
      stream: boolean,
      span: LanguageModel.ProviderOptions["span"],
      request: (signal: AbortSignal) => Promise<A>
    ): Effect.Effect<readonly [A, Emit], AiError.AiError> =>
      Effect.gen(function* () {
        const tracer = yield* Tracer.CurrentTracer
        const who = yield* caller.CurrentCaller
        const callId = caller.nextCallId()
        // The model call's span (made by LanguageModel) says who called and why, like the trace events.
        span.attribute("handoffkit.call_id", callId)
        span.attribute("handoffkit.agent", who.actor)
        if (who.causationId !== undefined) span.attribute("handoffkit.causation_id", who.causationId)
        if (who.correlationId !== undefined) span.attribute("handoffkit.correlation_id", who.correlationId)
        const emit = (kind: "model.request" | "model.response", data: Record<string, string | number>) => {
          if (tracer.enabled) {
            tracer.emit({
              kind,
              actor: who.actor,
              messageId: callId,
              causationId: who.causationId,
              correlationId: who.correlationId,
              data
            })
          }
        }
        for (let attempt = 1; ; attempt++) {
          emit("model.request", { model: options.model, attempt, stream: String(stream) })
          const result = yield* Effect.result(
            Effect.tryPromise({
              try: (signal) => request(signal),
              catch: (error) => wire.toAiError(method, error, Date.now())
            })
          )
          if (result._tag === "Success") return [result.success, emit as Emit] as const
          const error = result.failure
          const retry = error.isRetryable && attempt <= policy.times
          const wait = retry
            ? (error.retryAfter ??
              Duration.millis(
                jitterOf(
                  policy,
                  Math.min(
                    Duration.toMillis(Duration.fromInputUnsafe(policy.cap)),
                    Duration.toMillis(Duration.fromInputUnsafe(policy.base)) * 2 ** (attempt - 1)
                  )
                )
              ))
            : undefined
          emit("model.response", {
            attempt,
            error: error.reason._tag,
            ...(wait === undefined ? {} : { retryInMs: Duration.toMillis(wait) })
          })
          if (wait === undefined) return yield* Effect.fail(error)
          yield* Effect.sleep(wait)
        }
      })

    return LanguageModel.make({
      generateText: (providerOptions) =>
        Effect.gen(function* () {
          const request = body(providerOptions, (yield* caller.CurrentCaller).maxOutputTokens)
          if (AiError.isAiError(request)) return yield* Effect.fail(request)
          // The answer is decoded inside the attempt, so a malformed 200 is retried like a 5xx.
          const [response, emit] = yield* withRetries("generateText", false, providerOptions.span, (signal) =>
            client.responses.create({ ...request, stream: false }, { signal }).then((body: unknown) => {
              const decoded = wire.decodeResponse("generateText", body)
              if (AiError.isAiError(decoded)) throw decoded
              return decoded
            })
          )
          const parts = wire.fromResponse(response)
          if (AiError.isAiError(parts)) return yield* Effect.fail(parts)
          const finish = parts[parts.length - 1]
          if (finish?.type === "finish") {
            emit(
              "model.response",
              usageData(finish.usage, finish.reason, parts.filter((part) => part.type === "tool-call").length)
            )
          }
          return parts
        }),
      streamText: (providerOptions) =>
        Stream.unwrap(
          Effect.gen(function* () {
            const request = body(providerOptions, (yield* caller.CurrentCaller).maxOutputTokens)
            if (AiError.isAiError(request)) return yield* Effect.fail(request)
            // Aborted when the stream ends for any reason, so an interrupted consumer closes the connection.
            const controller = yield* Effect.acquireRelease(
              Effect.sync(() => new AbortController()),
              (controller) => Effect.sync(() => controller.abort())
            )
            // An attempt stops when it is interrupted (its own signal) or when the stream ends (the controller).
            const [events, emit] = yield* withRetries("streamText", true, providerOptions.span, (signal) =>
              client.responses.create(
                { ...request, stream: true },
                { signal: AbortSignal.any([signal, controller.signal]) }
              )
            )
            const map = wire.streamMapper()
            let toolCalls = 0
            let finished = false
            return Stream.fromAsyncIterable(events as AsyncIterable<unknown>, (error) =>
              wire.toAiError("streamText", error, Date.now())
            ).pipe(
              Stream.mapEffect((event) => {
                const parts = map(event)
                if (AiError.isAiError(parts)) return Effect.fail(parts)
                for (const part of parts) {
                  if (part.type === "tool-call") toolCalls++
                  if (part.type === "finish") {
                    finished = true
                    emit("model.response", usageData(part.usage, part.reason, toolCalls))
                  }
                }
                return Effect.succeed(parts)
              }),
              Stream.flatMap((parts) => Stream.fromIterable(parts)),
              // A stream that ends before its completion event is an incomplete answer, never a whole one.
              Stream.concat(
                Stream.suspend(() => {
                  if (finished) return Stream.empty
                  const error = wire.truncated()
                  emit("model.response", { error: error.reason._tag })
                  return Stream.fail(error)
                })
              )
            )
          })
        )
    })
  })

/**
 * A Layer providing `LanguageModel` from OpenAI with the given options.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { OpenAi, ScriptedServer } from "@handoffkit/llm"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("from a layer")])
 *   const response = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
 *     Effect.provide(OpenAi.layer({ model: "gpt-5.5", baseURL: server.url }))
 *   )
 *   return response.text
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // "from a layer"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

const missingKey =
  "OPENAI_API_KEY is missing or empty: set it to your OpenAI API key (or set OPENAI_BASE_URL to a server that needs no key)"

/**
 * The provider's options read from the environment: `OPENAI_API_KEY` (redacted), `OPENAI_BASE_URL`
 * (optional), `HANDOFFKIT_MODEL` (default `gpt-5.5`) and `HANDOFFKIT_MAX_OUTPUT_TOKENS` (default 4096).
 *
 * **Details**
 *
 * Without `OPENAI_BASE_URL` (that is, against OpenAI itself) `OPENAI_API_KEY` is required: a missing or empty
 * key is a `ConfigError` naming `OPENAI_API_KEY`, raised when the config is read, so a program that builds
 * {@link layerConfig} fails before any model call is tried or charged. With `OPENAI_BASE_URL` set (a local or
 * scripted server that needs no key) the key is optional (an empty one counts as none).
 *
 * **Example**
 *
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { OpenAi } from "@handoffkit/llm"
 *
 * const env = ConfigProvider.fromUnknown({ OPENAI_API_KEY: "sk-your-key", HANDOFFKIT_MODEL: "gpt-5.5-mini" })
 * const program = OpenAi.config.parse(env).pipe(Effect.map((options) => options.model))
 * Effect.runPromise(program).then(console.log) // "gpt-5.5-mini"
 * ```
 *
 * @category config
 * @since 0.1.0
 */
export const config: Config.Config<Options> = Config.all({
  baseURL: Config.option(Config.String("OPENAI_BASE_URL")),
  model: Config.withDefault(Config.String("HANDOFFKIT_MODEL"), "gpt-5.5"),
  maxOutputTokens: Config.withDefault(Config.Int("HANDOFFKIT_MAX_OUTPUT_TOKENS"), 4096)
}).pipe(
  Config.flatMap(({ baseURL, maxOutputTokens, model }) => {
    const key = Config.option(Config.schema(Schema.Redacted(Schema.NonEmptyString), "OPENAI_API_KEY"))
    const required = Config.flatMap(key, (apiKey) =>
      Option.isSome(apiKey)
        ? Config.succeed(apiKey)
        : Config.fail(new ConfigProvider.SourceError({ message: missingKey }))
    )
    return Config.map(Option.isSome(baseURL) ? key : required, (apiKey): Options => {
      const options: { -readonly [K in keyof Options]: Options[K] } = { model, maxOutputTokens }
      if (Option.isSome(apiKey)) options.apiKey = apiKey.value
      if (Option.isSome(baseURL)) options.baseURL = baseURL.value
      return options
    })
  })
)

/**
 * A Layer providing `LanguageModel` from OpenAI, configured from the environment (see `config`).
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { OpenAi } from "@handoffkit/llm"
 *
 * const live = OpenAi.layerConfig
 * console.log(Layer.isLayer(live)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<LanguageModel.LanguageModel, Config.ConfigError> = Layer.effect(
  LanguageModel.LanguageModel,
  Effect.flatMap(config, make)
)

/**
 * OpenAI, configured from the environment, when `OPENAI_API_KEY` is set; otherwise a `ScriptedServer` on
 * 127.0.0.1 answering from `script`, with the provider pointed at it.
 *
 * **When to use**
 *
 * For examples and demos that must run offline by default and against a real model on demand.
 *
 * **Details**
 *
 * The scripted server lives as long as the Layer. Retries are off against it, so a script that errs fails
 * at once.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { OpenAi, ScriptedServer } from "@handoffkit/llm"
 *
 * const offline = OpenAi.layerLiveOrScripted([ScriptedServer.Turn.text("scripted")], { environment: {} })
 * const program = LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(offline))
 * Effect.runPromise(program).then((response) => console.log(response.text)) // "scripted"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerLiveOrScripted = (
  script: ScriptedServer.Script,
  options?: {
    /** Where to look for `OPENAI_API_KEY`; default `process.env`. */
    readonly environment?: Readonly<Record<string, string | undefined>> | undefined
  }
): Layer.Layer<LanguageModel.LanguageModel, Config.ConfigError | ScriptedServer.ScriptedServerError> => {
  const environment = options?.environment ?? process.env
  const key = environment.OPENAI_API_KEY
  if (key !== undefined && key !== "") return layerConfig
  return Layer.effect(
    LanguageModel.LanguageModel,
    Effect.flatMap(ScriptedServer.make(script), (server) =>
      make({
        model: environment.HANDOFFKIT_MODEL ?? "gpt-5.5",
        baseURL: server.url,
        retry: { times: 0, base: 0, cap: 0, jitter: false }
      })
    )
  )
}
