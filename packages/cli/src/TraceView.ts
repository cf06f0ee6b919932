/**
 * A `TraceView` is what `handoffkit trace view FILE… [-o run.html]` writes: one self-contained HTML page that
 * shows a run. A lane per agent over time, with every message as an arrow from its sender to its receiver
 * (handoffs drawn bold); who owned each handed-off task when; the budget (tokens, calls, cost) over time;
 * dead letters, restarts and failures marked; for a pool run, each task's phases (agent, commit, gate,
 * merge) per worker and the merge train's batches. Clicking an event shows it as traced and its causal
 * chain back to the root; the page filters by agent and by kind.
 *
 * **When to use**
 *
 * After a run, to look at it: open the file in any browser, offline. Several trace files (one per process)
 * make one page, merged as `TraceSummary.load` merges them.
 *
 * **Details**
 *
 * - Self-contained: its script and style are inline; a Content-Security-Policy allows that script (by its
 *   hash) and nothing else, and no request of any kind. Nothing from the trace is ever markup: names, ids
 *   and payloads reach the page as text, so a payload `<script>alert(1)</script>` shows as those characters.
 * - Redacted: every string of the trace goes through `Tracer.redact` again before it is written, whatever
 *   wrote the file.
 * - Large traces: the events travel in a compact column form (100,000 events are a few megabytes) and only
 *   what is in view is drawn: the timeline's marks and arrows in its time window (as density when there are
 *   more than a few thousand), the event list's visible rows.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem } from "effect"
import type { PlatformError } from "effect/PlatformError"
import type * as Tracer from "@handoffkit/core/Tracer"
import * as TraceSummary from "./TraceSummary.ts"
import * as internal from "./internal/traceView.ts"

/**
 * Options of a page.
 *
 * **Details**
 *
 * `title`: the page's heading and `<title>` (default: the trace files' names, or "trace").
 *
 * **Example**
 *
 * ```ts
 * import type * as TraceView from "@handoffkit/cli/TraceView"
 *
 * const options: TraceView.Options = { title: "nightly review" }
 * console.log(options.title) // "nightly review"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly title?: string | undefined
}

const titleOf = (trace: TraceSummary.Trace, options: Options | undefined): string =>
  options?.title ?? (trace.files.length > 0 ? trace.files.join(" + ") : "trace")

const asTrace = (input: TraceSummary.Trace | ReadonlyArray<Tracer.Event>): TraceSummary.Trace =>
  Array.isArray(input) ? TraceSummary.merge([{ file: "", events: input }]) : (input as TraceSummary.Trace)

/**
 * The page of a trace, as one HTML document.
 *
 * **When to use**
 *
 * When the events are in hand (`Tracer.memory()`, a merged `Trace`); `write` reads files and writes the page.
 *
 * **Details**
 *
 * Bare events are taken as one file's. The page is the same for the same trace: no date or random part.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceView from "@handoffkit/cli/TraceView"
 *
 * const html = TraceView.page([
 *   { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" },
 *   { seq: 2, ts: 4, kind: "receive", actor: "coder", peer: "planner", messageId: "m-1" }
 * ], { title: "two agents" })
 * console.log(html.startsWith("<!doctype html>"), html.includes("<title>two agents</title>")) // true true
 * ```
 *
 * @category rendering
 * @since 0.1.0
 */
export const page = (input: TraceSummary.Trace | ReadonlyArray<Tracer.Event>, options?: Options): string => {
  const trace = asTrace(input)
  return internal.page(internal.model(trace, titleOf(trace, options)))
}

/**
 * What `write` wrote: where, how many bytes, and how many events the page holds.
 *
 * **Example**
 *
 * ```ts
 * import type * as TraceView from "@handoffkit/cli/TraceView"
 *
 * const written: TraceView.Written = { path: "run.html", bytes: 48_213, events: 35 }
 * console.log(written.path) // "run.html"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Written {
  readonly path: string
  readonly bytes: number
  readonly events: number
}

/**
 * Where `handoffkit trace view` writes when not told: the first file's path with `.html` for its extension
 * (`run.jsonl` gives `run.html`; a directory `traces/` gives `traces.html`).
 *
 * **Example**
 *
 * ```ts
 * import * as TraceView from "@handoffkit/cli/TraceView"
 *
 * console.log(TraceView.defaultOutput(["logs/run.jsonl", "logs/b.jsonl"])) // "logs/run.html"
 * console.log(TraceView.defaultOutput(["trace"])) // "trace.html"
 * console.log(TraceView.defaultOutput(["runs/cluster/"])) // "runs/cluster.html"
 * ```
 *
 * @category rendering
 * @since 0.1.0
 */
export const defaultOutput = (files: ReadonlyArray<string>): string => {
  // A directory of traces (`traces/`) gives `traces.html`.
  const first = (files[0] ?? "trace").replace(/\/+$/, "") || "trace"
  const slash = first.lastIndexOf("/")
  const dot = first.lastIndexOf(".")
  return `${dot > slash + 1 ? first.slice(0, dot) : first}.html`
}

/**
 * Reads trace files, merges them and writes their page to `out`.
 *
 * **Details**
 *
 * Fails as `TraceSummary.load` does (`TraceFileError`, `Tracer.TraceDecodeError`, naming the file and line),
 * and with the file system's error when `out` cannot be written.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, FileSystem } from "effect"
 * import * as TraceView from "@handoffkit/cli/TraceView"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const dir = yield* fs.makeTempDirectoryScoped()
 *   yield* fs.writeFileString(`${dir}/run.jsonl`, '{"seq":1,"ts":0,"kind":"spawn","actor":"planner"}\n')
 *   const written = yield* TraceView.write([`${dir}/run.jsonl`], `${dir}/run.html`)
 *   return written.events
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // 1
 * ```
 *
 * @category rendering
 * @since 0.1.0
 */
export const write = Effect.fn("handoffkit/cli/TraceView.write")(function* (
  files: ReadonlyArray<string>,
  out: string,
  options?: Options
): Effect.fn.Return<
  Written,
  TraceSummary.TraceFileError | Tracer.TraceDecodeError | PlatformError,
  FileSystem.FileSystem
> {
  const fs = yield* FileSystem.FileSystem
  const trace = yield* TraceSummary.load(files)
  const html = page(trace, options)
  yield* fs.writeFileString(out, html)
  return { path: out, bytes: Buffer.byteLength(html, "utf8"), events: trace.events.length }
})
