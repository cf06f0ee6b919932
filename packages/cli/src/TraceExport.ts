/**
 * `TraceExport` sends a trace to OpenTelemetry: `handoffkit trace export FILE… --endpoint URL` posts it as
 * OTLP spans to a collector (Jaeger, Honeycomb, Grafana Tempo, the OpenTelemetry Collector), through
 * `@effect/opentelemetry`, so that the tools a team already uses show the same run.
 *
 * **When to use**
 *
 * After a run, to look at it beside the rest of a system's traces; `TraceView` is the page that shows what
 * spans cannot (lanes, owners, budget).
 *
 * **Details**
 *
 * The spans, all in one trace: a root span for the run; under it one span per actor, from its first event to
 * its last; under each actor one span per event, except that a message is one span from its send to its
 * delivery (or dead letter), a model call one from request to response, a tool call one from call to result.
 * Each span carries the event's ids as attributes (`handoffkit.message_id`, `handoffkit.causation_id`,
 * `handoffkit.correlation_id`, `handoffkit.task_id` for a handoff) and its `data` as JSON; and the ids are
 * links: a span links to the span of the message that caused it (`handoffkit.link` `causation`), and an
 * event about a message (a join's part) to that message's span (`message`). Every string is redacted again
 * (`Tracer.redact`) on the way out.
 *
 * @since 0.1.0
 */
import { Effect, type FileSystem, Layer, Schema } from "effect"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { resourceFromAttributes } from "@opentelemetry/resources"
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter
} from "@opentelemetry/sdk-trace-base"
import type * as Tracer from "@handoffkit/core/Tracer"
import * as TraceSummary from "./TraceSummary.ts"
import * as internal from "./internal/traceExport.ts"

/**
 * What an export made: how many spans, and how many links between them.
 *
 * **Example**
 *
 * ```ts
 * import type * as TraceExport from "@handoffkit/cli/TraceExport"
 *
 * const exported: TraceExport.Exported = { spans: 12, links: 4 }
 * console.log(exported.links) // 4
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Exported {
  readonly spans: number
  readonly links: number
}

/**
 * Makes the spans of a trace with the Effect `Tracer` in context (see `layer` and `layerOtlp` for one that
 * goes to OpenTelemetry).
 *
 * **When to use**
 *
 * To send a trace through a tracer of your own: provide `OtelTracer.layer` of `@effect/opentelemetry` with
 * your provider, or `layer(exporter)`.
 *
 * **Details**
 *
 * Span times are the events' (`ts`), not the clock's. Bare events are taken as one file's. `serviceName`
 * names the root span (`handoffkit run` by default).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
 * import * as TraceExport from "@handoffkit/cli/TraceExport"
 *
 * const exporter = new InMemorySpanExporter()
 * const program = TraceExport.spans([
 *   { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" },
 *   { seq: 2, ts: 4, kind: "receive", actor: "coder", peer: "planner", messageId: "m-1" }
 * ]).pipe(Effect.provide(TraceExport.layer(exporter)))
 * Effect.runPromise(program).then(() => console.log(exporter.getFinishedSpans().map((s) => s.name)))
 * // ["send planner → coder", "planner", "coder", "handoffkit run"]
 * ```
 *
 * @category exporting
 * @since 0.1.0
 */
export const spans = (
  input: TraceSummary.Trace | ReadonlyArray<Tracer.Event>,
  options?: { readonly serviceName?: string | undefined }
): Effect.Effect<Exported> =>
  internal.spans(
    Array.isArray(input) ? TraceSummary.merge([{ file: "", events: input }]) : (input as TraceSummary.Trace),
    options?.serviceName ?? "handoffkit"
  )

/**
 * The Effect `Tracer` of `@effect/opentelemetry`, on a tracer provider that hands every ended span to
 * `exporter` at once (a `SimpleSpanProcessor`, or a `BatchSpanProcessor` with `batch`); the provider is flushed
 * when the layer is released. The exporter stays the caller's: shut it down when done with it.
 *
 * **When to use**
 *
 * With an exporter of your own, or OpenTelemetry's `InMemorySpanExporter` in a test.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
 * import * as TraceExport from "@handoffkit/cli/TraceExport"
 *
 * const exporter = new InMemorySpanExporter()
 * const program = TraceExport.spans([{ seq: 1, ts: 0, kind: "spawn", actor: "planner" }], { serviceName: "demo" })
 * Effect.runPromise(program.pipe(Effect.provide(TraceExport.layer(exporter, { serviceName: "demo" })))).then(() =>
 *   console.log(exporter.getFinishedSpans()[0].resource.attributes["service.name"])
 * ) // "demo"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  exporter: SpanExporter,
  options?: { readonly serviceName?: string | undefined; readonly batch?: boolean | undefined }
): Layer.Layer<never> =>
  OtelTracer.layerWithoutOtelTracer.pipe(
    Layer.provide(OtelTracer.layerTracer),
    Layer.provide(
      Layer.effect(
        OtelTracer.OtelTracerProvider,
        Effect.acquireRelease(
          Effect.sync(
            () =>
              new BasicTracerProvider({
                resource: resourceFromAttributes({ "service.name": options?.serviceName ?? "handoffkit" }),
                spanProcessors: [
                  options?.batch === true
                    ? new BatchSpanProcessor(exporter)
                    : new SimpleSpanProcessor(exporter)
                ]
              })
          ),
          (provider) => Effect.ignore(Effect.tryPromise(() => provider.forceFlush()))
        )
      )
    )
  )

/**
 * The collector did not take the spans: it could not be reached, or it answered with an error.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceExport from "@handoffkit/cli/TraceExport"
 *
 * console.log(new TraceExport.ExportFailed({ endpoint: "http://127.0.0.1:4318/v1/traces", reason: "ECONNREFUSED" }).message)
 * // "http://127.0.0.1:4318/v1/traces: the collector did not take the spans (ECONNREFUSED)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ExportFailed extends Schema.TaggedError<ExportFailed>()("ExportFailed", {
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.endpoint}: the collector did not take the spans (${this.reason})`
  }
}

/**
 * Where `handoffkit trace export` sends spans when not told: the OTLP/HTTP traces endpoint of a collector on
 * this machine.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceExport from "@handoffkit/cli/TraceExport"
 *
 * console.log(TraceExport.defaultEndpoint) // "http://127.0.0.1:4318/v1/traces"
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultEndpoint = "http://127.0.0.1:4318/v1/traces"

/**
 * Reads trace files, merges them and posts their spans to an OTLP/HTTP endpoint (JSON), waiting until the
 * collector has taken them. `timeoutMillis` (default 10 s) bounds each batch's post, retries included.
 *
 * **Details**
 *
 * Fails as `TraceSummary.load` does for the files, and with `ExportFailed` naming the endpoint when a batch
 * of spans was not accepted.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, FileSystem } from "effect"
 * import * as TraceExport from "@handoffkit/cli/TraceExport"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const dir = yield* fs.makeTempDirectoryScoped()
 *   yield* fs.writeFileString(`${dir}/run.jsonl`, '{"seq":1,"ts":0,"kind":"spawn","actor":"planner"}\n')
 *   // Port 9 on loopback: nothing listens there.
 *   return yield* Effect.flip(TraceExport.exportOtlp([`${dir}/run.jsonl`], { endpoint: "http://127.0.0.1:9/v1/traces", timeoutMillis: 1_000 }))
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then((error) => console.log(error._tag)) // "ExportFailed"
 * ```
 *
 * @category exporting
 * @since 0.1.0
 */
export const exportOtlp = Effect.fn("handoffkit/cli/TraceExport.exportOtlp")(function* (
  files: ReadonlyArray<string>,
  options?: {
    readonly endpoint?: string | undefined
    readonly serviceName?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
    readonly timeoutMillis?: number | undefined
  }
): Effect.fn.Return<
  Exported,
  TraceSummary.TraceFileError | Tracer.TraceDecodeError | ExportFailed,
  FileSystem.FileSystem
> {
  const endpoint = options?.endpoint ?? defaultEndpoint
  const trace = yield* TraceSummary.load(files)
  const failures: Array<string> = []
  const otlp = new OTLPTraceExporter({
    url: endpoint,
    timeoutMillis: options?.timeoutMillis ?? 10_000,
    ...(options?.headers === undefined ? {} : { headers: { ...options.headers } })
  })
  // The SDK logs a failed export and goes on: this one remembers it, so the command can say so.
  const exporter: SpanExporter = {
    export: (batch: Array<ReadableSpan>, done) =>
      otlp.export(batch, (result) => {
        if (result.code !== 0) failures.push(result.error?.message ?? "export failed")
        done(result)
      }),
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush()
  }
  const exported = yield* spans(trace, { serviceName: options?.serviceName }).pipe(
    Effect.provide(layer(exporter, { serviceName: options?.serviceName, batch: true })),
    Effect.ensuring(Effect.ignore(Effect.tryPromise(() => otlp.shutdown())))
  )
  if (failures.length > 0) return yield* new ExportFailed({ endpoint, reason: failures[0] })
  return exported
})
