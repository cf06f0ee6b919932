/**
 * A `TraceSummary` is what `handoffkit trace summary FILE…` prints: who did what in a run, read from the JSONL
 * traces `@handoffkit/core`'s `Tracer.jsonl` wrote. One table row per agent (messages received and sent,
 * handoffs, dead letters, model calls and tokens, first and last moment), the budgets' charges and cost, the
 * pool's tasks and gates when the run was a pool run, and the causal chain of a message: the messages that led
 * to it, root first, and those it caused.
 *
 * **When to use**
 *
 * After a run, to see where the messages went and what they cost; with several files (one per process), to
 * see the run as one: `load` merges them by message and causation ids, so a send in one file meets its
 * receive in the other and an event recorded by both is counted once.
 *
 * **Details**
 *
 * Everything printed comes from the trace: actors, ids, kinds, times, and the numbers of the events' `data`.
 * The trace was redacted when it was written (`Tracer.redact`); nothing here reads a payload or undoes that.
 *
 * @since 0.1.0
 */
import { Effect, type FileSystem, Schema } from "effect"
import * as TraceMerge from "@handoffkit/core/TraceMerge"
import * as Tracer from "@handoffkit/core/Tracer"
import * as internal from "./internal/traceSummary.ts"

// -----------------------------------------------------------------------------
// the merged view
// -----------------------------------------------------------------------------

/**
 * A trace event and the file it was read from.
 *
 * **Example**
 *
 * ```ts
 * import type * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const entry: TraceSummary.Entry = { seq: 1, ts: 0, kind: "spawn", actor: "planner", file: "a.jsonl" }
 * console.log(entry.file) // "a.jsonl"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry extends Tracer.Event {
  readonly file: string
}

/**
 * One view of one or more trace files: their events in one order, each event once.
 *
 * **Details**
 *
 * - `events`: in causal order (see `merge`): each file's own order kept, no receive before its send, then
 *   by `ts`, by the file's place in `files`, by `seq`.
 * - `duplicates`: how many events were dropped because another file (or the same one) holds them already.
 * - `torn`: the torn last lines (a write cut short by a crash) that were skipped, by file and line.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const trace: TraceSummary.Trace = TraceSummary.merge([])
 * console.log(trace.events.length, trace.duplicates) // 0 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Trace {
  readonly files: ReadonlyArray<string>
  readonly events: ReadonlyArray<Entry>
  readonly duplicates: number
  readonly torn: ReadonlyArray<{ readonly file: string; readonly line: number }>
}

/**
 * A trace file that could not be read: it does not exist, is not a file, or may not be read.
 *
 * **Details**
 *
 * `reason` is the file system's: `NotFound`, `PermissionDenied`, … A file that reads but holds a line that is
 * not an event fails with `Tracer.TraceDecodeError` instead, naming the file and the line.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * console.log(new TraceSummary.TraceFileError({ path: "run.jsonl", reason: "NotFound" }).message)
 * // "run.jsonl: cannot read the trace (no such file)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TraceFileError extends Schema.TaggedError<TraceFileError>()("TraceFileError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    const reason =
      this.reason === "NotFound"
        ? "no such file"
        : this.reason === "PermissionDenied"
          ? "permission denied"
          : this.reason
    return `${this.path}: cannot read the trace (${reason})`
  }
}

/**
 * The message asked for is not in the trace (or, with no id, the trace holds no message at all).
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * console.log(new TraceSummary.MessageNotFound({ messageId: "m-9" }).message) // "no message m-9 in the trace"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class MessageNotFound extends Schema.TaggedError<MessageNotFound>()("MessageNotFound", {
  messageId: Schema.optionalKey(Schema.String)
}) {
  override get message() {
    return this.messageId === undefined
      ? "the trace holds no message"
      : `no message ${this.messageId} in the trace`
  }
}

/**
 * Merges the events of several traces into one view.
 *
 * **When to use**
 *
 * When the events are in hand already (`Tracer.memory()`, a test); `load` reads files and merges them.
 *
 * **Details**
 *
 * The events are in the causal order of `TraceMerge.merge` (`@handoffkit/core`): each source's events in
 * the order it holds them, a message's receive never before its send (whatever the processes' clocks say),
 * and otherwise by `ts`, then by the source's place in `sources`, then by `seq`. An event that appears in
 * more than one source is kept once (the core's merge marks the extra copies as repeats; they are dropped
 * here and counted in `duplicates`):
 *
 * - a message event (send, receive, dead letter, broker publish, delivery, overflow) is the same event when
 *   it is about the same envelope (`messageId`), with the same kind, actor and peer, whichever process
 *   recorded it and when;
 * - any other event is the same only when it is equal field for field (the same tracer wrote it to both).
 *
 * A source may hold an event more than once (two tracers writing one file): the view keeps as many copies as
 * the source holding the most of them, so merging never drops what one source alone had, and adding a
 * source that holds nothing new changes nothing. Message events with different ids are never merged, so a
 * send in one file and its receive in another both stay, linked by their `messageId`.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const send = { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" } as const
 * const receive = { seq: 8, ts: 2, kind: "receive", actor: "coder", peer: "planner", messageId: "m-1" } as const
 * const trace = TraceSummary.merge([
 *   { file: "a.jsonl", events: [send] },
 *   { file: "b.jsonl", events: [{ ...send, seq: 7 }, receive] } // process B recorded the send too
 * ])
 * console.log(trace.events.map((e) => `${e.kind}@${e.file}`), trace.duplicates)
 * // ["send@a.jsonl", "receive@b.jsonl"] 1
 * ```
 *
 * @see {@link load} to read the files first
 *
 * @category constructors
 * @since 0.1.0
 */
export const merge: (
  sources: ReadonlyArray<{
    readonly file: string
    readonly events: ReadonlyArray<Tracer.Event>
    readonly torn?: { readonly line: number } | undefined
  }>
) => Trace = internal.merge

/**
 * Reads JSONL trace files (as `Tracer.jsonl` writes them) and merges them into one view.
 *
 * **When to use**
 *
 * To summarize a run from its files: `handoffkit trace summary a.jsonl b.jsonl`.
 *
 * **Details**
 *
 * A directory stands for the `.jsonl` files directly in it, by name (one per runner of a cluster, say).
 * Each file is read with `Tracer.readJsonl`, in order; their events are merged as `merge` does. A torn last
 * line is skipped and reported in `torn`. A file that cannot be read fails with `TraceFileError`, a line that
 * is not an event with `Tracer.TraceDecodeError`; both name the file (the latter with the line).
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, FileSystem } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const dir = yield* fs.makeTempDirectoryScoped()
 *   const line = (ts: number, kind: string, actor: string, peer: string) =>
 *     `${JSON.stringify({ seq: 1, ts, kind, actor, peer, messageId: "m-1" })}\n`
 *   yield* fs.writeFileString(`${dir}/a.jsonl`, line(0, "send", "planner", "coder")) // process A
 *   yield* fs.writeFileString(`${dir}/b.jsonl`, line(3, "receive", "coder", "planner")) // process B
 *   const trace = yield* TraceSummary.load([`${dir}/a.jsonl`, `${dir}/b.jsonl`])
 *   const missing = yield* TraceSummary.load([`${dir}/c.jsonl`]).pipe(Effect.flip)
 *   return [trace.events.map((event) => event.kind), missing._tag]
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // [["send", "receive"], "TraceFileError"]
 * ```
 *
 * @see {@link merge} for events in hand
 * @see {@link summarize} for the table of what it holds
 *
 * @category constructors
 * @since 0.1.0
 */
export const load = (
  files: ReadonlyArray<string>
): Effect.Effect<Trace, TraceFileError | Tracer.TraceDecodeError, FileSystem.FileSystem> =>
  Effect.forEach(files, (path) =>
    TraceMerge.files([path]).pipe(
      Effect.catchTag("PlatformError", (error) =>
        Effect.fail(new TraceFileError({ path, reason: error.reason._tag }))
      )
    )
  ).pipe(
    Effect.flatMap((found) =>
      Effect.forEach(found.flat(), (file) =>
        Tracer.readJsonl(file).pipe(
          Effect.map(({ events, torn }) => ({ file, events, torn })),
          Effect.catchTag("PlatformError", (error) =>
            Effect.fail(new TraceFileError({ path: file, reason: error.reason._tag }))
          )
        )
      )
    ),
    Effect.map(internal.merge)
  )

// -----------------------------------------------------------------------------
// the summary
// -----------------------------------------------------------------------------

/**
 * One agent's row: every actor that sent, received, handed off, called a model or was spawned.
 *
 * **Details**
 *
 * - `received`: `receive` and `broker.deliver` events of the agent; `sent`: its `send` and `broker.publish`.
 * - `handoffs`: tasks it handed over (`handoff` events: one per task that a receiver's mailbox accepted).
 * - `deadLetters`: messages to it that became dead letters (and broker copies dropped on overflow).
 * - `modelCalls`, `tokensIn`, `tokensOut`: the model calls that reported usage in a `model.response`
 *   (`OpenAi`: `inputTokens`/`outputTokens` of a finished call; `Codex`: the `usage` of a completed turn).
 * - `first`, `last`: the `ts` of its first and last event (epoch milliseconds).
 *
 * A trace holds no cost per agent: cost is charged to budgets (see `BudgetRow`).
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const row = Schema.decodeUnknownSync(TraceSummary.AgentRow)({
 *   agent: "coder", received: 1, sent: 1, handoffs: 1, deadLetters: 0, modelCalls: 2, tokensIn: 900,
 *   tokensOut: 120, first: 0, last: 40
 * })
 * console.log(row.tokensIn) // 900
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const AgentRow = Schema.Struct({
  agent: Schema.String,
  received: Schema.Number,
  sent: Schema.Number,
  handoffs: Schema.Number,
  deadLetters: Schema.Number,
  modelCalls: Schema.Number,
  tokensIn: Schema.Number,
  tokensOut: Schema.Number,
  first: Schema.Number,
  last: Schema.Number
})

/**
 * @category models
 * @since 0.1.0
 */
export type AgentRow = typeof AgentRow.Type

/**
 * What a budget was charged: the sum of its `budget.commit` events, under its label (`budget-1`, a child
 * `budget-1/1`), and whether it was exhausted.
 *
 * **Details**
 *
 * `cost` is in USD, as `Budget` keeps it (charged by agents given a `price`). A child budget's charges are
 * traced under the child only, so the rows add up to what was spent.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const row = Schema.decodeUnknownSync(TraceSummary.BudgetRow)({
 *   budget: "budget-1", calls: 2, tokensIn: 900, tokensOut: 120, cost: 0.0023, exhausted: false
 * })
 * console.log(row.cost) // 0.0023
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const BudgetRow = Schema.Struct({
  budget: Schema.String,
  calls: Schema.Number,
  tokensIn: Schema.Number,
  tokensOut: Schema.Number,
  cost: Schema.Number,
  exhausted: Schema.Boolean
})

/**
 * @category models
 * @since 0.1.0
 */
export type BudgetRow = typeof BudgetRow.Type

/**
 * A pool run, from its `pool.task`, `pool.gate` and `pool.merge` events.
 *
 * **Details**
 *
 * - `tasks`: the tasks that had a phase, each counted by its last one: `merged`, `failed`, `conflicted`,
 *   `skipped`, or `unfinished` (any other: still queued or running when the trace ends).
 * - `gates`: gate verdicts (task and train); `gateRuns`: the runs they took (a flaky gate is run again);
 *   `gatesFailed`: red verdicts; `gatesCached`: verdicts skipped because that tree was gated green already.
 * - `batches`: batches the merge train landed; `landed`: the tasks in them.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const pool = Schema.decodeUnknownSync(TraceSummary.PoolSummary)({
 *   tasks: 3, merged: 2, failed: 1, conflicted: 0, skipped: 0, unfinished: 0, gates: 4, gateRuns: 4,
 *   gatesFailed: 1, gatesCached: 0, batches: 1, landed: 2
 * })
 * console.log(pool.merged, pool.failed) // 2 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const PoolSummary = Schema.Struct({
  tasks: Schema.Number,
  merged: Schema.Number,
  failed: Schema.Number,
  conflicted: Schema.Number,
  skipped: Schema.Number,
  unfinished: Schema.Number,
  gates: Schema.Number,
  gateRuns: Schema.Number,
  gatesFailed: Schema.Number,
  gatesCached: Schema.Number,
  batches: Schema.Number,
  landed: Schema.Number
})

/**
 * @category models
 * @since 0.1.0
 */
export type PoolSummary = typeof PoolSummary.Type

/**
 * The summary of a trace: its agents, budgets and pool, and the totals. It is plain data, so
 * `JSON.stringify` (or `toJson`) gives the `--json` form and this schema decodes it back.
 *
 * **Details**
 *
 * - `files`, `duplicates`, `torn`: from the `Trace` it was made of (empty when made of bare events).
 * - `start`, `end`: the first and last `ts`, absent when there are no events.
 * - `agents`: ordered by their first event; `budgets` by label; `pool` only when there were pool events.
 * - `totals`: the agents' columns summed, the distinct `messages`, and the budgets' `cost`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const summary = TraceSummary.summarize([
 *   { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" }
 * ])
 * const decoded = Schema.decodeUnknownSync(TraceSummary.Summary)(JSON.parse(TraceSummary.toJson(summary)))
 * console.log(decoded.totals.sent, decoded.agents[0].agent) // 1 "planner"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Summary = Schema.Struct({
  files: Schema.Array(Schema.String),
  events: Schema.Number,
  duplicates: Schema.Number,
  torn: Schema.Array(Schema.Struct({ file: Schema.String, line: Schema.Number })),
  start: Schema.optionalKey(Schema.Number),
  end: Schema.optionalKey(Schema.Number),
  agents: Schema.Array(AgentRow),
  budgets: Schema.Array(BudgetRow),
  pool: Schema.optionalKey(PoolSummary),
  totals: Schema.Struct({
    agents: Schema.Number,
    messages: Schema.Number,
    received: Schema.Number,
    sent: Schema.Number,
    handoffs: Schema.Number,
    deadLetters: Schema.Number,
    modelCalls: Schema.Number,
    tokensIn: Schema.Number,
    tokensOut: Schema.Number,
    cost: Schema.Number
  })
})

/**
 * @category models
 * @since 0.1.0
 */
export type Summary = typeof Summary.Type

/**
 * Summarizes a trace: per agent, per budget, the pool, and the totals.
 *
 * **When to use**
 *
 * On what `load` returned (the summary then names the files and the duplicates dropped), or on bare events
 * (`Tracer.memory().events`).
 *
 * **Details**
 *
 * Reads only what the events hold; see `AgentRow`, `BudgetRow` and `PoolSummary` for where each number comes
 * from. Events the tables have no column for (selects, joins, nursery, corpus) count in `events` only.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const summary = TraceSummary.summarize([
 *   { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" },
 *   { seq: 2, ts: 4, kind: "receive", actor: "coder", peer: "planner", messageId: "m-1" },
 *   { seq: 3, ts: 9, kind: "model.response", actor: "coder", data: { inputTokens: 800, outputTokens: 60 } },
 *   { seq: 4, ts: 9, kind: "budget.commit", actor: "budget-1", data: { calls: 1, tokensIn: 800, cost: 0.0016 } }
 * ])
 * console.log(summary.agents.map((row) => [row.agent, row.sent, row.received, row.tokensIn]))
 * // [["planner", 1, 0, 0], ["coder", 0, 1, 800]]
 * console.log(summary.totals.cost) // 0.0016
 * ```
 *
 * @see {@link format} for the table
 *
 * @category summarizing
 * @since 0.1.0
 */
export const summarize: (input: Trace | ReadonlyArray<Tracer.Event>) => Summary = internal.summarize

// -----------------------------------------------------------------------------
// causal chains
// -----------------------------------------------------------------------------

/**
 * One event of a chain: a message sent (or handed off), received, delivered or dead-lettered.
 *
 * **Details**
 *
 * `from` and `to` are the message's sender and receiver, whichever side recorded the event. `kind` is the
 * event's, except that the send of a handoff reads `handoff` (with its `taskId`). `depth` is the message's
 * distance from the chain's root; `offset` is milliseconds since the root was first seen. `file` is where
 * the event was read, when it came from `load`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const step = Schema.decodeUnknownSync(TraceSummary.Step)({
 *   messageId: "m-2", causationId: "m-1", depth: 1, from: "planner", to: "coder", kind: "handoff", ts: 12,
 *   offset: 12
 * })
 * console.log(step.kind) // "handoff"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Step = Schema.Struct({
  messageId: Schema.String,
  causationId: Schema.optionalKey(Schema.String),
  depth: Schema.Number,
  from: Schema.String,
  to: Schema.String,
  kind: Tracer.Kind,
  ts: Schema.Number,
  offset: Schema.Number,
  file: Schema.optionalKey(Schema.String),
  taskId: Schema.optionalKey(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export type Step = typeof Step.Type

/**
 * The causal chain of one message: the messages that caused it, from the root, then the ones it caused.
 *
 * **Details**
 *
 * `messageId` is the message asked for; `root` the first message of the chain; `rootCause` the root's own
 * `causationId` when that message is not in the trace. `messages` counts the messages of the chain and
 * `steps` holds their events: the path from the root down to the message, then what it caused, depth first.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const chain: TraceSummary.Chain = Effect.runSync(
 *   TraceSummary.chain([{ seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" }])
 * )
 * console.log(chain.root, chain.messages) // "m-1" 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Chain = Schema.Struct({
  messageId: Schema.String,
  root: Schema.String,
  rootCause: Schema.optionalKey(Schema.String),
  messages: Schema.Number,
  steps: Schema.Array(Step)
})

/**
 * @category models
 * @since 0.1.0
 */
export type Chain = typeof Chain.Type

/**
 * The causal chain of a message: back through `causationId` to the root, and forward to what it caused.
 * Without an id, the longest chain of the trace: the one down to its deepest message (the latest of those).
 *
 * **When to use**
 *
 * To see how a message came about and what it set off, or what a run's longest thread of work was.
 *
 * **Details**
 *
 * Messages are the envelopes of the trace, linked by their ids across files: a send recorded by one process
 * and its receive recorded by another are one message. Each message's steps come in order, its send before
 * what became of it, whatever the clocks of the processes said. A handoff is shown on the send it was
 * accepted with: the last send from its actor to its receiver before it, in its file. Fails with
 * `MessageNotFound` when `messageId` is not a message of the trace, or when the trace holds none. It reads
 * the events only, synchronously: `Effect.runSync` runs it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const events = [
 *   { seq: 1, ts: 0, kind: "send", actor: "external", peer: "planner", messageId: "m-1" },
 *   { seq: 2, ts: 1, kind: "receive", actor: "planner", peer: "external", messageId: "m-1" },
 *   { seq: 3, ts: 5, kind: "send", actor: "planner", peer: "coder", messageId: "m-2", causationId: "m-1" },
 *   { seq: 4, ts: 7, kind: "receive", actor: "coder", peer: "planner", messageId: "m-2", causationId: "m-1" }
 * ] as const
 * const longest = Effect.runSync(TraceSummary.chain(events))
 * console.log(longest.messageId, longest.root, longest.steps.length) // "m-2" "m-1" 4
 * const missing = Effect.runSync(Effect.flip(TraceSummary.chain(events, "m-9")))
 * console.log(missing.message) // "no message m-9 in the trace"
 * ```
 *
 * @see {@link formatChain} for its lines
 *
 * @category causal chains
 * @since 0.1.0
 */
export const chain = (
  events: ReadonlyArray<Tracer.Event>,
  messageId?: string | undefined
): Effect.Effect<Chain, MessageNotFound> =>
  Effect.suspend(() => {
    const found = internal.chain(events, messageId)
    return found === undefined
      ? Effect.fail(new MessageNotFound(messageId === undefined ? {} : { messageId }))
      : Effect.succeed(found)
  })

// -----------------------------------------------------------------------------
// text
// -----------------------------------------------------------------------------

/**
 * The summary as plain text: a header line, then fixed-width tables with a header row each (agents, then
 * budgets, then the pool, as present), each ending with a `total` row.
 *
 * **Details**
 *
 * Times are offsets from the trace's first event (`+12ms`, `+3.4s`, `+2m05s`); the header gives its date
 * (UTC). Numbers are right-aligned, names left-aligned, columns two spaces apart.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const text = TraceSummary.format(TraceSummary.summarize([
 *   { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" },
 *   { seq: 2, ts: 12, kind: "receive", actor: "coder", peer: "planner", messageId: "m-1" }
 * ]))
 * const [head, , columns, planner] = text.split("\n")
 * console.log(head) // "trace: 2 events, 12ms from 1970-01-01T00:00:00.000Z"
 * console.log(columns) // "agent    received  sent  handoffs  dead  calls  tokens in  tokens out  first  last"
 * console.log(planner) // "planner         0     1         0     0      0          0           0  +0ms   +0ms"
 * ```
 *
 * @see {@link toJson} for the `--json` form
 *
 * @category text
 * @since 0.1.0
 */
export const format: (summary: Summary) => string = internal.format

/**
 * A chain as text, one line per step: the message id (indented by its depth), `from -> to`, the kind and
 * the offset from the root, in aligned columns.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const chain = TraceSummary.chain([
 *   { seq: 1, ts: 0, kind: "send", actor: "planner", peer: "coder", messageId: "m-1" },
 *   { seq: 2, ts: 12, kind: "receive", actor: "coder", peer: "planner", messageId: "m-1" }
 * ])
 * console.log(TraceSummary.formatChain(Effect.runSync(chain)).split("\n"))
 * // ["m-1  planner -> coder  send     +0ms", "m-1  planner -> coder  receive  +12ms"]
 * ```
 *
 * @category text
 * @since 0.1.0
 */
export const formatChain: (chain: Chain) => string = internal.formatChain

/**
 * The `--json` form of a summary or a chain: indented JSON, which `Summary` or `Chain` decodes back.
 *
 * **Example**
 *
 * ```ts
 * import * as TraceSummary from "@handoffkit/cli/TraceSummary"
 *
 * const json = TraceSummary.toJson(TraceSummary.summarize([]))
 * console.log(JSON.parse(json).events) // 0
 * ```
 *
 * @category text
 * @since 0.1.0
 */
export const toJson = (value: Summary | Chain): string => JSON.stringify(value, null, 2)
