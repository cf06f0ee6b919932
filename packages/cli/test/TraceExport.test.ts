import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Tracer } from "@handoffkit/core"
import { agents } from "@handoffkit/example-handoff-chain/src/chain.ts"
import { reviewers } from "@handoffkit/example-review-fanout/src/fanout.ts"
import * as TraceExport from "../src/TraceExport.ts"
import * as TraceSummary from "../src/TraceSummary.ts"
import { runCli } from "./fixtures/cli.ts"
import { handoffChain, reviewFanout } from "./fixtures/exampleTraces.ts"

// The examples' real traces through `@effect/opentelemetry` into OpenTelemetry's SDK: an in-process exporter
// for the spans themselves, a real OTLP/HTTP post to a collector stand-in on loopback for the command.

let dir: string
const file = (name: string) => Path.join(dir, name)
const load = (path: string) =>
  Effect.runPromise(TraceSummary.load([path]).pipe(Effect.provide(NodeServices.layer)))

const exportTrace = async (trace: TraceSummary.Trace) => {
  const exporter = new InMemorySpanExporter()
  const exported = await Effect.runPromise(
    TraceExport.spans(trace).pipe(Effect.provide(TraceExport.layer(exporter)))
  )
  return { exported, spans: exporter.getFinishedSpans() }
}
// To the millisecond the trace has: an hrtime of epoch milliseconds is a float away from it.
const ms = (time: readonly [number, number]) => Math.round(time[0] * 1000 + time[1] / 1e6)
const attr = (span: ReadableSpan, key: string) => span.attributes[key]

beforeAll(async () => {
  dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-otel-")))
  await Effect.runPromise(handoffChain(file("chain.jsonl")))
  await Effect.runPromise(reviewFanout(file("fanout.jsonl")))
}, 60_000)
afterAll(() => Fs.rmSync(dir, { recursive: true, force: true }))

describe("TraceExport", () => {
  it("handoff chain: a span per message from send to receive, each linked to its cause's span", async () => {
    const trace = await load(file("chain.jsonl"))
    const { exported, spans } = await exportTrace(trace)
    assert.strictEqual(exported.spans, spans.length)
    // One trace, one root.
    assert.strictEqual(new Set(spans.map((s) => s.spanContext().traceId)).size, 1)
    const roots = spans.filter((s) => s.parentSpanContext === undefined)
    assert.deepStrictEqual(
      roots.map((s) => s.name),
      ["handoffkit run"]
    )
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
    const sends = trace.events.filter((e) => e.kind === "send")
    const messageSpans = spans.filter((s) => attr(s, "handoffkit.kind") === "send")
    assert.strictEqual(messageSpans.length, sends.length)
    assert.strictEqual(messageSpans.length, agents.length)
    const spanOf = new Map(messageSpans.map((s) => [attr(s, "handoffkit.message_id"), s]))
    for (const send of sends) {
      const span = spanOf.get(send.messageId)!
      const receive = trace.events.find((e) => e.kind === "receive" && e.messageId === send.messageId)!
      // Its times are the trace's: sent, then received.
      assert.strictEqual(ms(span.startTime), send.ts)
      assert.strictEqual(ms(span.endTime), receive.ts)
      assert.strictEqual(span.name, `handoff ${send.actor} → ${receive.actor}`)
      assert.isString(attr(span, "handoffkit.task_id"))
      // Under the sender's span, under the root.
      const parent = byId.get(span.parentSpanContext!.spanId)!
      assert.strictEqual(parent.name, send.actor)
      assert.strictEqual(parent.parentSpanContext!.spanId, roots[0].spanContext().spanId)
      // Linked to the span of the message that caused it, by the causation id.
      const links = span.links.map((link) => ({
        to: byId.get(link.context.spanId),
        kind: link.attributes?.["handoffkit.link"],
        id: link.attributes?.["handoffkit.message_id"]
      }))
      if (send.causationId === undefined) assert.deepStrictEqual(links, [])
      else {
        assert.strictEqual(links.length, 1)
        assert.strictEqual(links[0].kind, "causation")
        assert.strictEqual(links[0].id, send.causationId)
        assert.strictEqual(links[0].to, spanOf.get(send.causationId))
      }
    }
    assert.strictEqual(exported.links, sends.filter((s) => s.causationId !== undefined).length + 0)
  })

  it("review fan-out: model calls are spans from request to response, linked to the message that asked", async () => {
    const trace = await load(file("fanout.jsonl"))
    const { spans } = await exportTrace(trace)
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
    const calls = spans.filter((s) => attr(s, "handoffkit.kind") === "model.request")
    assert.strictEqual(calls.length, reviewers.length)
    for (const call of calls) {
      const id = attr(call, "handoffkit.message_id")
      const request = trace.events.find((e) => e.kind === "model.request" && e.messageId === id)!
      const response = trace.events.find((e) => e.kind === "model.response" && e.messageId === id)!
      assert.strictEqual(ms(call.startTime), request.ts)
      assert.strictEqual(ms(call.endTime), response.ts)
      assert.strictEqual(call.name, `model ${request.actor}`)
      assert.include(String(attr(call, "handoffkit.end_data")), '"outputTokens"')
      const cause = byId.get(call.links[0].context.spanId)!
      assert.strictEqual(attr(cause, "handoffkit.message_id"), request.causationId)
      assert.strictEqual(cause.name, `send lead → ${request.actor}`)
    }
    // A join's part is about a message: linked to that message's span.
    const parts = spans.filter((s) => attr(s, "handoffkit.kind") === "join.part")
    assert.strictEqual(parts.length, reviewers.length)
    for (const part of parts) {
      const kinds = part.links.map((l) => l.attributes?.["handoffkit.link"]).toSorted()
      assert.deepStrictEqual(kinds, ["message"])
      const message = byId.get(
        part.links.find((l) => l.attributes?.["handoffkit.link"] === "message")!.context.spanId
      )!
      assert.strictEqual(attr(message, "handoffkit.message_id"), attr(part, "handoffkit.message_id"))
      assert.match(message.name, /^send \w+ → findings$/)
    }
  })

  it("secrets in a hand-written trace do not reach the spans", async () => {
    Fs.writeFileSync(
      file("secret.jsonl"),
      `${JSON.stringify({ seq: 1, ts: 5, kind: "tool.call", actor: "a", data: { apiKey: "sk-abcdefghijklmnop", cmd: "curl -H 'Authorization: Bearer xyz.abc.def'" } })}\n`
    )
    const { spans } = await exportTrace(await load(file("secret.jsonl")))
    const all = JSON.stringify(spans.map((s) => s.attributes))
    assert.notInclude(all, "sk-abcdefghijklmnop")
    assert.notInclude(all, "xyz.abc.def")
    assert.include(all, "[REDACTED]")
  })
})

describe("handoffkit trace export", () => {
  it("posts the spans as OTLP/HTTP JSON to the endpoint; a collector that is not there is exit 1 naming it", async () => {
    const bodies: Array<any> = []
    const server = Http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        bodies.push({ url: request.url, type: request.headers["content-type"], body: JSON.parse(body) })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const port = (server.address() as AddressInfo).port
      const endpoint = `http://127.0.0.1:${port}/v1/traces`
      const result = await runCli([
        "trace",
        "export",
        file("chain.jsonl"),
        "--endpoint",
        endpoint,
        "--service",
        "chain"
      ])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.match(result.stdout, new RegExp(`^exported \\d+ spans \\(4 links\\) to ${endpoint}`))
      assert.isAbove(bodies.length, 0)
      assert.strictEqual(bodies[0].url, "/v1/traces")
      assert.include(bodies[0].type, "application/json")
      const spans = bodies.flatMap((b) =>
        b.body.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans))
      )
      const resource = bodies[0].body.resourceSpans[0].resource.attributes
      assert.deepInclude(resource, { key: "service.name", value: { stringValue: "chain" } })
      const events = (await load(file("chain.jsonl"))).events
      const handoffs = spans.filter((s: any) => /^handoff \S+ → \S+$/.test(s.name))
      assert.strictEqual(handoffs.length, events.filter((e) => e.kind === "send").length)
      const linked = handoffs.filter((s: any) => (s.links ?? []).length === 1)
      assert.strictEqual(linked.length, agents.length - 1)
      const ids = new Set(spans.map((s: any) => s.spanId))
      for (const span of linked)
        assert.isTrue(ids.has(span.links[0].spanId), "a link to a span of the export")
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
    const closed = await runCli([
      "trace",
      "export",
      file("chain.jsonl"),
      "--endpoint",
      "http://127.0.0.1:9/v1/traces",
      "--timeout",
      "1"
    ])
    assert.strictEqual(closed.code, 1)
    assert.include(closed.stderr, "http://127.0.0.1:9/v1/traces: the collector did not take the spans")
    const missing = await runCli(["trace", "export", file("nothing.jsonl")])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "nothing.jsonl: cannot read the trace (no such file)")
  }, 60_000)
})

describe("handoffkit trace view", () => {
  it("writes the page beside the trace by default; a file that is not a trace is exit 2 naming the line", async () => {
    Fs.copyFileSync(file("fanout.jsonl"), file("run.jsonl"))
    const result = await runCli(["trace", "view", file("run.jsonl")])
    assert.strictEqual(result.code, 0, result.stderr)
    const html = Fs.readFileSync(file("run.html"), "utf8")
    assert.match(html, /^<!doctype html>/)
    // Self-contained: nothing to fetch.
    assert.notMatch(html, /<(script|link|img)[^>]+(src|href)=/)
    assert.include(html, "default-src 'none'")
    const events = (
      await Effect.runPromise(Tracer.readJsonl(file("run.jsonl")).pipe(Effect.provide(NodeServices.layer)))
    ).events
    assert.include(result.stdout, `wrote ${file("run.html")}: ${events.length} events`)

    Fs.writeFileSync(file("bad.jsonl"), '{"seq":1,"ts":0,"kind":"spawn","actor":"a"}\nnot json\n{"seq":3}\n')
    const bad = await runCli(["trace", "view", file("bad.jsonl"), "-o", file("bad.html")])
    assert.strictEqual(bad.code, 2)
    assert.include(bad.stderr, `${file("bad.jsonl")}:2: not a trace event`)
    assert.isFalse(Fs.existsSync(file("bad.html")), "nothing written")
  }, 60_000)
})
