/**
 * `handoffkit trace summary FILE…`, `trace view FILE… [-o run.html]`, `trace export FILE… [--endpoint URL]`. Summary: per agent what it received, sent and handed off, its tokens and time; the
 * causal chain of one message (the longest by default); several files merged by message and causation ids.
 * @internal
 */
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as TraceSummary from "../TraceSummary.ts"
import { UsageError, WorkFailed } from "./args.ts"
import * as TraceExport from "../TraceExport.ts"
import * as TraceView from "../TraceView.ts"

/** Prints the summary and the chain of a loaded trace: what `trace summary` and the demo show. */
export const printSummary = Effect.fn("handoffkit/cli/trace.print")(function* (
  trace: TraceSummary.Trace,
  options: { readonly message?: string | undefined; readonly json?: boolean | undefined } = {}
) {
  const summary = TraceSummary.summarize(trace)
  const chain = yield* TraceSummary.chain(trace.events, options.message)
  if (options.json === true) {
    yield* Console.log(JSON.stringify({ summary, chain }, null, 2))
  } else {
    yield* Console.log(TraceSummary.format(summary))
    yield* Console.log(`\ncausal chain${options.message === undefined ? " (the longest)" : ""}:`)
    yield* Console.log(TraceSummary.formatChain(chain))
  }
})

/** The trace files (or directories of them) every trace command reads, merged into one view. */
const traceFiles = Argument.String("files").pipe(
  Argument.withDescription(
    "Trace files (JSONL, written by --trace or Tracer.jsonl) or directories of them; several are merged"
  ),
  Argument.variadic({ min: 1 })
)

const summary = Command.make(
  "summary",
  {
    files: traceFiles,
    message: Flag.String("message").pipe(
      Flag.withDescription("The message whose causal chain to print (the longest chain by default)"),
      Flag.optional
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print the summary and the chain as JSON"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("handoffkit/cli/trace.summary")(function* (input) {
    const trace = yield* TraceSummary.load(input.files)
    yield* printSummary(trace, { message: Option.getOrUndefined(input.message), json: input.json })
  })
).pipe(
  Command.withDescription("Per agent: messages, handoffs, tokens, cost, time; and a causal chain"),
  Command.withExamples([
    { command: "handoffkit trace summary run.jsonl", description: "" },
    {
      command: "handoffkit trace summary a.jsonl b.jsonl --message m-12",
      description: "Two processes, one view"
    }
  ])
)

const view = Command.make(
  "view",
  {
    files: traceFiles,
    output: Flag.String("output").pipe(
      Flag.withAlias("o"),
      Flag.withDescription("The HTML file to write (default: the first file's name with .html)"),
      Flag.optional
    ),
    title: Flag.String("title").pipe(Flag.withDescription("The page's title"), Flag.optional)
  },
  Effect.fn("handoffkit/cli/trace.view")(function* (input) {
    const out = Option.getOrElse(input.output, () => TraceView.defaultOutput(input.files))
    const written = yield* TraceView.write(input.files, out, { title: Option.getOrUndefined(input.title) })
    yield* Console.log(
      `wrote ${written.path}: ${written.events} events, ${(written.bytes / 1024).toFixed(0)} KiB; open it in a browser`
    )
  })
).pipe(
  Command.withDescription(
    "One self-contained HTML page of a run: agents' lanes, messages, task owners, budget, pool phases"
  ),
  Command.withExamples([
    { command: "handoffkit trace view run.jsonl", description: "Writes run.html" },
    { command: "handoffkit trace view a.jsonl b.jsonl -o run.html", description: "Two processes, one page" }
  ])
)

const exportCommand = Command.make(
  "export",
  {
    files: traceFiles,
    endpoint: Flag.String("endpoint").pipe(
      Flag.withDescription(
        `The collector's OTLP/HTTP traces endpoint (default ${TraceExport.defaultEndpoint})`
      ),
      Flag.withDefault(TraceExport.defaultEndpoint)
    ),
    service: Flag.String("service").pipe(
      Flag.withDescription("The service.name of the spans"),
      Flag.withDefault("handoffkit")
    ),
    timeout: Flag.Int("timeout").pipe(
      Flag.withDescription("Seconds to wait for the collector per batch of spans, retries included"),
      Flag.withDefault(10)
    )
  },
  Effect.fn("handoffkit/cli/trace.export")(function* (input) {
    if (!(input.timeout >= 1))
      return yield* new UsageError({
        reason: `--timeout: must be a whole number of seconds >= 1, got ${input.timeout}`
      })
    const exported = yield* TraceExport.exportOtlp(input.files, {
      endpoint: input.endpoint,
      serviceName: input.service,
      timeoutMillis: input.timeout * 1000
    }).pipe(
      Effect.mapError((error) =>
        error._tag === "ExportFailed" ? new WorkFailed({ reason: error.message }) : error
      )
    )
    yield* Console.log(`exported ${exported.spans} spans (${exported.links} links) to ${input.endpoint}`)
  })
).pipe(
  Command.withDescription("Send a trace to an OpenTelemetry collector as OTLP spans, ids as span links"),
  Command.withExamples([
    { command: "handoffkit trace export run.jsonl", description: "To a collector on this machine" },
    {
      command: "handoffkit trace export a.jsonl b.jsonl --endpoint http://127.0.0.1:4318/v1/traces",
      description: ""
    }
  ])
)

/** `handoffkit trace`. */
export const trace = Command.make("trace").pipe(
  Command.withDescription("Read traces"),
  Command.withSubcommands([summary, view, exportCommand])
)
