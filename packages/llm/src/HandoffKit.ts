/**
 * HandoffKit as Layers, for Effect services: one Layer per service of the runtime (the actor Registry, the
 * Tracer, the Corpus, the service-wide Budget, the model) and `layer`, which composes them from the
 * environment with working defaults. Replace any one of them with `layerWith`, in a test or in production.
 *
 * **Configuration** (all optional)
 *
 * | variable | default | what it sets |
 * |---|---|---|
 * | `HANDOFFKIT_TRACE_FILE` | none | append every trace event to this JSONL file (flushed when the Layer closes) |
 * | `HANDOFFKIT_TRACE_SPANS` | `false` | also emit each trace event as an Effect span (for OpenTelemetry) |
 * | `HANDOFFKIT_CORPUS_DIR` | in memory | keep the Corpus on disk under this directory |
 * | `HANDOFFKIT_BUDGET_CALLS`, `_TOKENS_IN`, `_TOKENS_OUT`, `_COST` | unlimited | the service-wide budget |
 * | `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `HANDOFFKIT_MODEL`, `HANDOFFKIT_MAX_OUTPUT_TOKENS` | see `OpenAi.config` | the model |
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import { Config, Context, Effect, Layer, Option } from "effect"
import type { LanguageModel } from "effect/ai"
import { Actor, Budget, Corpus, Tracer } from "@handoffkit/core"
import type { Registry } from "@handoffkit/core/Registry"
import * as OpenAi from "./OpenAi.ts"

/**
 * The service-wide budget: runs slice child budgets off it (`Budget.child`), which return what they did not
 * spend when their scope closes.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@handoffkit/core"
 * import { HandoffKit } from "@handoffkit/llm"
 *
 * const program = Effect.gen(function*() {
 *   const root = yield* HandoffKit.ServiceBudget
 *   return (yield* Budget.snapshot(root)).limits.calls
 * }).pipe(Effect.provide(HandoffKit.layerBudget({ calls: 30 })))
 * Effect.runPromise(program).then(console.log) // 30
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class ServiceBudget extends Context.Service<ServiceBudget, Budget.Budget>()(
  "@handoffkit/llm/HandoffKit/ServiceBudget"
) {}

/**
 * A Layer of the service-wide budget with the given limits.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HandoffKit } from "@handoffkit/llm"
 *
 * console.log(Layer.isLayer(HandoffKit.layerBudget({ tokensOut: 1_000_000 }))) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBudget = (limits: Budget.Limits): Layer.Layer<ServiceBudget, Budget.BudgetInvalid> =>
  Layer.effect(ServiceBudget, Budget.make(limits))

/**
 * The service-wide budget's limits from the environment (`HANDOFFKIT_BUDGET_*`); a limit not set is
 * unlimited.
 *
 * **Example**
 *
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { HandoffKit } from "@handoffkit/llm"
 *
 * const env = ConfigProvider.fromUnknown({ HANDOFFKIT_BUDGET_CALLS: "30" })
 * Effect.runPromise(HandoffKit.budgetConfig.parse(env)).then((limits) => console.log(limits.calls)) // 30
 * ```
 *
 * @category config
 * @since 0.1.0
 */
export const budgetConfig: Config.Config<Budget.Limits> = Config.all({
  calls: Config.option(Config.Number("HANDOFFKIT_BUDGET_CALLS")),
  tokensIn: Config.option(Config.Number("HANDOFFKIT_BUDGET_TOKENS_IN")),
  tokensOut: Config.option(Config.Number("HANDOFFKIT_BUDGET_TOKENS_OUT")),
  cost: Config.option(Config.Number("HANDOFFKIT_BUDGET_COST"))
}).pipe(
  Config.map((limits) => {
    const result: { -readonly [K in keyof Budget.Limits]: Budget.Limits[K] } = {}
    for (const key of ["calls", "tokensIn", "tokensOut", "cost"] as const) {
      const value = limits[key]
      if (Option.isSome(value)) result[key] = value.value
    }
    return result
  })
)

/**
 * A Layer that sets the tracer every primitive emits to: JSONL file and/or Effect spans, from the environment
 * (`HANDOFFKIT_TRACE_FILE`, `HANDOFFKIT_TRACE_SPANS`). With neither, tracing is off (no cost).
 *
 * **Details**
 *
 * The JSONL file is appended to and flushed when the Layer's scope closes, so a service that shuts down
 * cleanly loses no event.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "@handoffkit/core"
 * import { HandoffKit } from "@handoffkit/llm"
 *
 * const program = Effect.gen(function*() {
 *   const tracer = yield* Tracer.CurrentTracer
 *   return tracer.enabled
 * })
 * Effect.runPromise(program.pipe(Effect.provide(HandoffKit.layerTracer))).then(console.log) // false
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTracer: Layer.Layer<never, Config.ConfigError> = Layer.effectContext(
  Effect.gen(function* () {
    const file = yield* Config.option(Config.String("HANDOFFKIT_TRACE_FILE"))
    const spans = yield* Config.withDefault(Config.Boolean("HANDOFFKIT_TRACE_SPANS"), false)
    const sinks: Array<Tracer.Sink> = []
    if (Option.isSome(file)) sinks.push(yield* Tracer.jsonl(file.value).pipe(Effect.orDie))
    if (spans) sinks.push(yield* Tracer.spans)
    const tracer = sinks.length === 0 ? Tracer.disabled : Tracer.make(sinks)
    return Context.make(Tracer.CurrentTracer, tracer)
  }).pipe(Effect.provide(NodeServices.layer))
)

/**
 * A Layer of the Corpus: on disk under `HANDOFFKIT_CORPUS_DIR` when it is set, else in memory.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 * import { HandoffKit } from "@handoffkit/llm"
 *
 * const program = Effect.flatMap(Corpus.put("notes", { namespace: "n" }), Corpus.getText)
 * Effect.runPromise(program.pipe(Effect.provide(HandoffKit.layerCorpus))).then(console.log) // "notes"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerCorpus: Layer.Layer<Corpus.Corpus, Config.ConfigError | Corpus.CorpusStorageError> =
  Layer.unwrap(
    Effect.map(Config.option(Config.String("HANDOFFKIT_CORPUS_DIR")), (dir) =>
      Option.isSome(dir)
        ? Corpus.layerFileSystem(dir.value).pipe(Layer.provide(NodeServices.layer))
        : Corpus.layerMemory
    )
  )

/**
 * Every service HandoffKit needs.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 * import type { HandoffKit } from "@handoffkit/llm"
 *
 * // A program that may use any HandoffKit service.
 * const program: Effect.Effect<string, never, HandoffKit.Services> = Effect.gen(function*() {
 *   yield* Corpus.Corpus
 *   return "has a corpus"
 * })
 * console.log(Effect.isEffect(program)) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Services = Registry | Corpus.Corpus | ServiceBudget | LanguageModel.LanguageModel

/**
 * Replacements for `layerWith`: each one given replaces the default Layer of that service.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 * import type { HandoffKit } from "@handoffkit/llm"
 *
 * const overrides: HandoffKit.Overrides = { corpus: Corpus.layerMemory }
 * console.log(Object.keys(overrides)) // ["corpus"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Overrides {
  readonly registry?: Layer.Layer<Registry, unknown> | undefined
  readonly tracer?: Layer.Layer<never, unknown> | undefined
  readonly corpus?: Layer.Layer<Corpus.Corpus, unknown> | undefined
  readonly budget?: Layer.Layer<ServiceBudget, unknown> | undefined
  readonly model?: Layer.Layer<LanguageModel.LanguageModel, unknown> | undefined
}

/**
 * The errors the Layers given in `O` may fail with.
 *
 * **Example**
 *
 * ```ts
 * import type { Budget } from "@handoffkit/core"
 * import type { HandoffKit } from "@handoffkit/llm"
 *
 * type E = HandoffKit.OverridesError<{ budget: ReturnType<typeof HandoffKit.layerBudget> }>
 * const error: E | undefined = undefined satisfies Budget.BudgetInvalid | undefined
 * console.log(error) // undefined
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type OverridesError<O> = {
  [K in keyof O]-?: O[K] extends Layer.Layer<any, infer E, any> | undefined ? E : never
}[keyof O]

/**
 * The HandoffKit services, each from its default Layer unless `overrides` replaces it.
 *
 * **When to use**
 *
 * In tests (a scripted model, an in-memory corpus, a small budget) and in services with their own wiring.
 *
 * **Details**
 *
 * The tracer Layer is built first, so the other services (the budget among them) trace into it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { HandoffKit, OpenAi, ScriptedServer } from "@handoffkit/llm"
 *
 * const test = HandoffKit.layerWith({
 *   model: OpenAi.layerLiveOrScripted([ScriptedServer.Turn.text("offline")], { environment: {} }),
 *   budget: HandoffKit.layerBudget({ calls: 3 })
 * })
 * const program = LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(test))
 * Effect.runPromise(program).then((response) => console.log(response.text)) // "offline"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWith = <const O extends Overrides>(
  overrides: O
): Layer.Layer<
  Services,
  OverridesError<O> | Config.ConfigError | Corpus.CorpusStorageError | Budget.BudgetInvalid
> => {
  const tracer: Layer.Layer<never, unknown> = overrides.tracer ?? layerTracer
  const budget = overrides.budget ?? Layer.unwrap(Effect.map(budgetConfig, (limits) => layerBudget(limits)))
  const services = Layer.mergeAll(
    overrides.registry ?? Actor.layer,
    overrides.corpus ?? layerCorpus,
    budget,
    overrides.model ?? OpenAi.layerConfig
  )
  return Layer.provideMerge(services, tracer) as Layer.Layer<Services, any>
}

/**
 * The HandoffKit services from the environment (see the module's table).
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import { HandoffKit } from "@handoffkit/llm"
 *
 * console.log(Layer.isLayer(HandoffKit.layer)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = layerWith({})
