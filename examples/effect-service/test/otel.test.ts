import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { assert, describe, it } from "@effect/vitest"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import * as Review from "../src/Review.ts"
import { eventually, post, start } from "./harness.ts"

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId
const attribute = (span: ReadableSpan, key: string) => span.attributes[key]

describe("effect-service spans", () => {
  it.live(
    "an in-memory OpenTelemetry exporter sees request → agent turns → model calls, with the message ids",
    () =>
      Effect.gen(function* () {
        const exporter = new InMemorySpanExporter()
        const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
        const otel = OtelTracer.layer.pipe(
          Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider))
        )
        const service = yield* start({ script: Review.script(), extra: otel })
        // Two requests at once: each one's spans must form its own tree.
        const replies = yield* Effect.promise(() =>
          Promise.all([post(service.url, { code: Review.sample }), post(service.url, { code: "let x = 1" })])
        )
        for (const reply of replies) assert.strictEqual(reply.status, 200)

        const spans = yield* Effect.promise(() =>
          eventually("both review spans to end", () => {
            const done = exporter.getFinishedSpans()
            return done.filter((s) => s.name === "handoffkit.service.review").length === 2 ? done : undefined
          })
        )
        const childrenOf = (span: ReadableSpan, name: string) =>
          spans.filter((s) => parentOf(s) === span.spanContext().spanId && s.name === name)
        for (const reply of replies) {
          const runId: string = reply.body.runId
          const review = spans.find(
            (s) => s.name === "handoffkit.service.review" && attribute(s, "handoffkit.run_id") === runId
          )!
          assert.isDefined(review, runId)
          // The review span is a child of the HTTP server's span for the request.
          const request = spans.find((s) => s.spanContext().spanId === parentOf(review))!
          assert.strictEqual(request.name, "POST")
          assert.strictEqual(request.attributes["http.request.method"], "POST")
          assert.strictEqual(review.spanContext().traceId, request.spanContext().traceId)
          const started = attribute(review, "handoffkit.message_id")
          assert.isString(started)

          const turns = childrenOf(review, "handoffkit.agent.turn")
          assert.deepStrictEqual(
            turns.map((t) => attribute(t, "handoffkit.agent")).toSorted(),
            Review.reviewers.map((r) => Review.address(runId, r.name)).toSorted()
          )
          for (const turn of turns) {
            // Each turn was caused by the message that started the run, in the run's correlation.
            assert.strictEqual(attribute(turn, "handoffkit.causation_id"), started)
            assert.strictEqual(attribute(turn, "handoffkit.correlation_id"), runId)
            const calls = childrenOf(turn, "LanguageModel.generateText")
            assert.strictEqual(calls.length, 1, String(attribute(turn, "handoffkit.agent")))
            assert.strictEqual(attribute(calls[0]!, "handoffkit.agent"), attribute(turn, "handoffkit.agent"))
            assert.strictEqual(
              attribute(calls[0]!, "handoffkit.causation_id"),
              attribute(turn, "handoffkit.message_id")
            )
            assert.strictEqual(attribute(calls[0]!, "handoffkit.correlation_id"), runId)
          }
        }
        yield* Effect.promise(() => provider.shutdown())
      }).pipe(Effect.scoped),
    10_000
  )
})
