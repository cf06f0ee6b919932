/**
 * `trace.view`: a 100,000-event trace's page loading in headless Chromium (from navigation until the page has
 * drawn it: parsed, indexed, timeline, list and charts), against parsing the same JSONL in node with
 * `Tracer.readJsonl` (what `trace summary` does). The page must load in under 3 s and weigh under 5 MB:
 * a run that misses either fails with the figures. `trace.view.bytes` is the page's size.
 */
import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { Tracer } from "@handoffkit/core"
import type { BenchSpec } from "../../../scripts/bench-types.d.ts"
import * as TraceView from "../src/TraceView.ts"
import * as Chromium from "../test/fixtures/chromium.ts"
import { writeBigTrace } from "../test/fixtures/bigTrace.ts"

const N = 100_000
let made: { readonly jsonl: string; readonly html: string; readonly bytes: number } | undefined

const files = async () => {
  if (made !== undefined) return made
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-bench-view-"))
  process.once("exit", () => Fs.rmSync(dir, { recursive: true, force: true }))
  const jsonl = Path.join(dir, "big.jsonl")
  const html = Path.join(dir, "big.html")
  await Effect.runPromise(writeBigTrace(jsonl, N))
  const written = await Effect.runPromise(
    TraceView.write([jsonl], html).pipe(Effect.provide(NodeServices.layer))
  )
  if (written.events !== N) throw new Error(`the trace has ${written.events} events, not ${N}`)
  if (written.bytes >= 5 * 1024 * 1024) throw new Error(`the page is ${written.bytes} bytes: not under 5 MB`)
  return (made = { jsonl, html, bytes: written.bytes })
}

const load = async (): Promise<number> => {
  const { html } = await files()
  const browser = await Chromium.launch()
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    const start = performance.now()
    await page.goto(`file://${html}`)
    await page.waitForSelector("html[data-ready=true]", { timeout: 30_000 })
    const ms = performance.now() - start
    if (ms >= 3000) throw new Error(`the page took ${ms.toFixed(0)} ms to load: not under 3 s`)
    return ms
  } finally {
    await browser.close()
  }
}

const parse = async (): Promise<number> => {
  const { jsonl } = await files()
  const start = performance.now()
  const read = await Effect.runPromise(Tracer.readJsonl(jsonl).pipe(Effect.provide(NodeServices.layer)))
  const ms = performance.now() - start
  if (read.events.length !== N) throw new Error(`read ${read.events.length} events`)
  return ms
}

const benchmarks: ReadonlyArray<BenchSpec> = [
  {
    name: "trace.view",
    unit: "ms (100,000 events: page load in Chromium)",
    baseline: "ms parsing the same JSONL in node (Tracer.readJsonl)",
    measure: load,
    baselineMeasure: parse,
    rounds: 5,
    warmup: 1
  },
  {
    name: "trace.view.bytes",
    unit: "bytes (the page of 100,000 events; under 5 MB)",
    measure: async () => (await files()).bytes,
    rounds: 1,
    warmup: 0
  }
]

export default benchmarks
