/**
 * The machinery of `TraceSummary`: merging trace files into one view, the per-agent tallies, causal chains and
 * the plain-text tables.
 *
 * Everything here reads what the trace holds and nothing else: the events were redacted when they were
 * written (`Tracer.redact`), and what is printed is their actors, ids, kinds, times and the numbers of their
 * `data`, never the rest of `data`.
 * @internal
 */
import * as TraceMerge from "@handoffkit/core/TraceMerge"
import { envelopeKinds } from "@handoffkit/core/internal/traceMerge"
import type * as Tracer from "@handoffkit/core/Tracer"
import type * as TraceSummary from "../TraceSummary.ts"

type Entry = TraceSummary.Entry
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

// ---------------------------------------------------------------------------------------------------------
// merging
// ---------------------------------------------------------------------------------------------------------

/**
 * `TraceSummary.merge`: the core's causal merge (`TraceMerge.merge`: each file's order kept, no delivery before
 * its send, ties by time), each event once: the repeats it marks (a redelivery, a file given twice) are dropped.
 * @internal
 */
export const merge = (
  sources: ReadonlyArray<{
    readonly file: string
    readonly events: ReadonlyArray<Tracer.Event>
    readonly torn?: { readonly line: number } | undefined
  }>
): TraceSummary.Trace => {
  const view = TraceMerge.merge(sources.map((source) => ({ origin: source.file, events: source.events })))
  const events: Array<Entry> = []
  for (const merged of view.events) {
    if (merged.repeat !== undefined) continue
    const { origin, repeat: _, ...event } = merged
    events.push({ ...event, file: origin })
  }
  return {
    files: sources.map((source) => source.file),
    events,
    duplicates: view.repeats,
    torn: sources.flatMap((source) =>
      source.torn === undefined ? [] : [{ file: source.file, line: source.torn.line }]
    )
  }
}

// ---------------------------------------------------------------------------------------------------------
// summarizing
// ---------------------------------------------------------------------------------------------------------

/** The kinds that make their actor a row of the agents table. */
export const agentKinds: ReadonlySet<string> = new Set([
  "spawn",
  "exit",
  "send",
  "receive",
  "dead-letter",
  "handoff",
  "broker.publish",
  "broker.deliver",
  "broker.overflow",
  "model.request",
  "model.response",
  "tool.call",
  "tool.result"
])

const numberAt = (record: unknown, key: string): number | undefined => {
  if (typeof record !== "object" || record === null) return undefined
  const value = (record as Record<string, unknown>)[key]
  return typeof value === "number" && Number.isFinite(value) ? value : undefined
}

/**
 * The tokens a `model.response` reports, where it reports them:
 * - `OpenAi`: `{ inputTokens, outputTokens, finish, toolCalls }` when a call finished (a failed attempt has
 *   `{ attempt, error, retryInMs? }` instead);
 * - `Codex`: `{ codexType: "turn.completed", usage: { inputTokens, cachedInputTokens, outputTokens,
 *   reasoningOutputTokens } }` per turn (its other `model.response` events are messages and errors).
 */
const usageOf = (
  data: Tracer.Event["data"]
): { readonly tokensIn: number; readonly tokensOut: number } | undefined => {
  if (data === undefined) return undefined
  const tokensIn = numberAt(data, "inputTokens")
  const tokensOut = numberAt(data, "outputTokens")
  if (tokensIn !== undefined || tokensOut !== undefined)
    return { tokensIn: tokensIn ?? 0, tokensOut: tokensOut ?? 0 }
  const usage = data.usage
  const usageIn = numberAt(usage, "inputTokens")
  const usageOut = numberAt(usage, "outputTokens")
  if (usageIn !== undefined || usageOut !== undefined)
    return { tokensIn: usageIn ?? 0, tokensOut: usageOut ?? 0 }
  return undefined
}

const terminalPhases: ReadonlySet<string> = new Set(["merged", "failed", "conflicted", "skipped"])

const isTrace = (input: TraceSummary.Trace | ReadonlyArray<Tracer.Event>): input is TraceSummary.Trace =>
  !Array.isArray(input)

/** `TraceSummary.summarize`. @internal */
export const summarize = (input: TraceSummary.Trace | ReadonlyArray<Tracer.Event>): TraceSummary.Summary => {
  const events: ReadonlyArray<Tracer.Event> = isTrace(input) ? input.events : input
  const agents = new Map<string, Mutable<TraceSummary.AgentRow>>()
  const budgets = new Map<string, Mutable<TraceSummary.BudgetRow>>()
  const messages = new Set<string>()
  // Pool: each task's last phase, the gates and the batches landed.
  const phases = new Map<string, string>()
  let gates = 0
  let gateRuns = 0
  let gatesFailed = 0
  let gatesCached = 0
  let batches = 0
  let landed = 0
  let pool = false
  let start = Infinity
  let end = -Infinity

  const agent = (name: string, ts: number): Mutable<TraceSummary.AgentRow> => {
    let row = agents.get(name)
    if (row === undefined) {
      row = {
        agent: name,
        received: 0,
        sent: 0,
        handoffs: 0,
        deadLetters: 0,
        modelCalls: 0,
        tokensIn: 0,
        tokensOut: 0,
        first: ts,
        last: ts
      }
      agents.set(name, row)
    }
    if (ts < row.first) row.first = ts
    if (ts > row.last) row.last = ts
    return row
  }

  const budget = (name: string): Mutable<TraceSummary.BudgetRow> => {
    let row = budgets.get(name)
    if (row === undefined) {
      row = { budget: name, calls: 0, tokensIn: 0, tokensOut: 0, cost: 0, exhausted: false }
      budgets.set(name, row)
    }
    return row
  }

  for (const event of events) {
    if (event.ts < start) start = event.ts
    if (event.ts > end) end = event.ts
    if (event.messageId !== undefined && envelopeKinds.has(event.kind)) messages.add(event.messageId)
    if (agentKinds.has(event.kind)) {
      const row = agent(event.actor, event.ts)
      switch (event.kind) {
        case "send":
        case "broker.publish":
          row.sent++
          break
        case "receive":
        case "broker.deliver":
          row.received++
          break
        case "dead-letter":
        case "broker.overflow":
          row.deadLetters++
          break
        case "handoff":
          row.handoffs++
          break
        case "model.response": {
          const usage = usageOf(event.data)
          if (usage !== undefined) {
            row.modelCalls++
            row.tokensIn += usage.tokensIn
            row.tokensOut += usage.tokensOut
          }
          break
        }
      }
      continue
    }
    switch (event.kind) {
      case "budget.commit": {
        // What `Budget` charged, in its units: tokens, calls, and USD (the only place a trace holds a cost).
        const row = budget(event.actor)
        row.calls += numberAt(event.data, "calls") ?? 0
        row.tokensIn += numberAt(event.data, "tokensIn") ?? 0
        row.tokensOut += numberAt(event.data, "tokensOut") ?? 0
        row.cost += numberAt(event.data, "cost") ?? 0
        break
      }
      case "budget.exhausted":
        budget(event.actor).exhausted = true
        break
      case "pool.task": {
        pool = true
        const data = event.data
        // A `Phase` of a real task (the pool also reports on "(resume)" and "(main tree)").
        if (data?.event === "Phase" && typeof data.task === "string" && typeof data.phase === "string") {
          if (!data.task.startsWith("(")) phases.set(data.task, data.phase)
        }
        break
      }
      case "pool.gate":
        pool = true
        gates++
        gateRuns += numberAt(event.data, "runs") ?? 0
        if (event.data?.cached === true) gatesCached++
        else if (event.data?.passed === false) gatesFailed++
        break
      case "pool.merge": {
        pool = true
        batches++
        const tasks = event.data?.tasks
        landed += Array.isArray(tasks) ? tasks.length : 0
        break
      }
    }
  }

  const agentRows = [...agents.values()].sort((a, b) => a.first - b.first || compare(a.agent, b.agent))
  const budgetRows = [...budgets.values()].sort((a, b) => compare(a.budget, b.budget))
  for (const row of budgetRows) row.cost = roundCost(row.cost)
  const outcomes = { merged: 0, failed: 0, conflicted: 0, skipped: 0, unfinished: 0 }
  for (const phase of phases.values()) {
    if (terminalPhases.has(phase)) outcomes[phase as keyof typeof outcomes]++
    else outcomes.unfinished++
  }
  const summary: Mutable<TraceSummary.Summary> = {
    files: isTrace(input) ? [...input.files] : [],
    events: events.length,
    duplicates: isTrace(input) ? input.duplicates : 0,
    torn: isTrace(input) ? input.torn.map((torn) => ({ ...torn })) : [],
    agents: agentRows,
    budgets: budgetRows,
    totals: {
      agents: agentRows.length,
      messages: messages.size,
      received: sum(agentRows, "received"),
      sent: sum(agentRows, "sent"),
      handoffs: sum(agentRows, "handoffs"),
      deadLetters: sum(agentRows, "deadLetters"),
      modelCalls: sum(agentRows, "modelCalls"),
      tokensIn: sum(agentRows, "tokensIn"),
      tokensOut: sum(agentRows, "tokensOut"),
      cost: roundCost(budgetRows.reduce((total, row) => total + row.cost, 0))
    }
  }
  if (events.length > 0) {
    summary.start = start
    summary.end = end
  }
  if (pool) {
    summary.pool = {
      tasks: phases.size,
      ...outcomes,
      gates,
      gateRuns,
      gatesFailed,
      gatesCached,
      batches,
      landed
    }
  }
  return summary
}

type NumericKeys = "received" | "sent" | "handoffs" | "deadLetters" | "modelCalls" | "tokensIn" | "tokensOut"

const sum = (rows: ReadonlyArray<TraceSummary.AgentRow>, key: NumericKeys): number =>
  rows.reduce((total, row) => total + row[key], 0)

// Costs are sums of small floats: rounded to the nano-dollar, the unit `Budget` keeps them in.
const roundCost = (usd: number): number => Math.round(usd * 1e9) / 1e9

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// ---------------------------------------------------------------------------------------------------------
// causal chains
// ---------------------------------------------------------------------------------------------------------

interface Message {
  readonly id: string
  causationId: string | undefined
  from: string | undefined
  to: string | undefined
  /** Indexes into the events, in their order. */
  readonly events: Array<number>
  readonly children: Array<Message>
  parent: Message | undefined
}

/** Sends come first, then what became of the message (received, delivered, dead-lettered). */
const rank = (kind: string): number => (kind === "send" || kind === "broker.publish" ? 0 : 1)

/** `TraceSummary.chain`, or `undefined` when `messageId` names no message of the trace. @internal */
export const chain = (
  events: ReadonlyArray<Tracer.Event | Entry>,
  messageId: string | undefined
): TraceSummary.Chain | undefined => {
  const messages = new Map<string, Message>()
  events.forEach((event, index) => {
    if (event.messageId === undefined || !envelopeKinds.has(event.kind)) return
    let message = messages.get(event.messageId)
    if (message === undefined) {
      message = {
        id: event.messageId,
        causationId: undefined,
        from: undefined,
        to: undefined,
        events: [],
        children: [],
        parent: undefined
      }
      messages.set(event.messageId, message)
    }
    message.events.push(index)
    message.causationId ??= event.causationId
    // `actor` is whom the event is about: the sender of a send or publish, the receiver otherwise.
    if (event.kind === "send") {
      message.from = event.actor
      message.to ??= event.peer
    } else if (event.kind === "broker.publish") {
      message.from = event.actor
      message.to ??= typeof event.data?.topic === "string" ? event.data.topic : undefined
    } else {
      message.from ??= event.peer
      message.to ??= event.actor
    }
  })
  if (messages.size === 0) return undefined
  for (const message of messages.values()) {
    const parent = message.causationId === undefined ? undefined : messages.get(message.causationId)
    if (parent !== undefined && parent !== message) {
      message.parent = parent
      parent.children.push(message)
    }
  }
  // A causation cycle cannot come from one runtime (an id is made before its effects), but a trace is input:
  // walking up stops at the first message seen twice.
  const ancestry = (message: Message): Array<Message> => {
    const path: Array<Message> = []
    const seen = new Set<Message>()
    for (let at: Message | undefined = message; at !== undefined && !seen.has(at); at = at.parent) {
      seen.add(at)
      path.push(at)
    }
    return path.toReversed()
  }

  let target: Message | undefined
  if (messageId !== undefined) {
    target = messages.get(messageId)
    if (target === undefined) return undefined
  } else {
    // The longest chain: the message deepest in its causal tree, the latest of those.
    let depth = -1
    const depths = new Map<Message, number>()
    const depthOf = (message: Message): number => {
      const known = depths.get(message)
      if (known !== undefined) return known
      const d = ancestry(message).length - 1
      depths.set(message, d)
      return d
    }
    for (const message of messages.values()) {
      const d = depthOf(message)
      if (d > depth || (d === depth && last(message) >= last(target!))) {
        depth = d
        target = message
      }
    }
  }
  const path = ancestry(target!)
  const root = path[0]

  // Forward: what the target caused, depth first, each message's effects in the order they happened.
  const forward: Array<Message> = []
  const visited = new Set<Message>(path)
  const visit = (message: Message) => {
    for (const child of [...message.children].sort((a, b) => a.events[0] - b.events[0])) {
      if (visited.has(child)) continue
      visited.add(child)
      forward.push(child)
      visit(child)
    }
  }
  visit(target!)

  const handoffs = matchHandoffs(events)
  const base = path.length > 0 ? Math.min(...root.events.map((i) => events[i].ts)) : 0
  const steps: Array<TraceSummary.Step> = []
  const depthIn = new Map<Message, number>(path.map((message, depth) => [message, depth]))
  for (const message of [...path, ...forward]) {
    const depth = depthIn.get(message) ?? depthIn.get(message.parent!)! + 1
    depthIn.set(message, depth)
    const ordered = [...message.events].sort((a, b) => rank(events[a].kind) - rank(events[b].kind) || a - b)
    for (const index of ordered) {
      const event = events[index]
      const taskId = handoffs.get(index)
      const step: Mutable<TraceSummary.Step> = {
        messageId: message.id,
        depth,
        from: message.from ?? "?",
        to: message.to ?? "?",
        kind: taskId === undefined ? event.kind : "handoff",
        ts: event.ts,
        offset: event.ts - base
      }
      if (message.causationId !== undefined) step.causationId = message.causationId
      if ("file" in event && typeof event.file === "string") step.file = event.file
      if (taskId !== undefined) step.taskId = taskId
      steps.push(step)
    }
  }
  const result: Mutable<TraceSummary.Chain> = {
    messageId: target!.id,
    root: root.id,
    messages: path.length + forward.length,
    steps
  }
  if (root.causationId !== undefined) result.rootCause = root.causationId
  return result

  function last(message: Message): number {
    return message.events[message.events.length - 1]
  }
}

/**
 * Which sends were handoffs: a `handoff` event (traced by the sender's tracer at the moment the receiver's
 * mailbox took the task) belongs to the last send before it from its actor to its `to`, in the same file
 * (any file when its own holds none), that no other handoff took. Returns send index → task id.
 */
export const matchHandoffs = (events: ReadonlyArray<Tracer.Event | Entry>): Map<number, string> => {
  const fileOf = (event: Tracer.Event | Entry): string => ("file" in event ? event.file : "")
  const sends = new Map<string, Array<number>>()
  const matched = new Map<number, string>()
  events.forEach((event, index) => {
    if (event.kind === "send" && event.peer !== undefined) {
      const key = `${event.actor}\u0000${event.peer}`
      const list = sends.get(key)
      if (list === undefined) sends.set(key, [index])
      else list.push(index)
      return
    }
    if (event.kind !== "handoff") return
    const to = event.data?.to
    const taskId = event.data?.taskId
    if (typeof to !== "string") return
    const candidates = sends.get(`${event.actor}\u0000${to}`) ?? []
    const free = (i: number) => !matched.has(i)
    let found: number | undefined
    for (let i = candidates.length - 1; i >= 0 && found === undefined; i--) {
      if (free(candidates[i]) && fileOf(events[candidates[i]]) === fileOf(event)) found = candidates[i]
    }
    for (let i = candidates.length - 1; i >= 0 && found === undefined; i--) {
      if (free(candidates[i])) found = candidates[i]
    }
    if (found !== undefined) matched.set(found, typeof taskId === "string" ? taskId : "")
  })
  return matched
}

// ---------------------------------------------------------------------------------------------------------
// text
// ---------------------------------------------------------------------------------------------------------

/** Milliseconds since the start, as `+12ms`, `+3.4s`, `+2m05s`. */
export const offset = (millis: number): string => {
  const sign = millis < 0 ? "-" : "+"
  const ms = Math.abs(Math.round(millis))
  if (ms < 10_000) return `${sign}${ms}ms`
  if (ms < 120_000) return `${sign}${(ms / 1000).toFixed(1)}s`
  const minutes = Math.floor(ms / 60_000)
  return `${sign}${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}s`
}

/** Fixed-width columns: text left-aligned, numbers right-aligned, two spaces apart, no trailing blanks. */
const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
  align: ReadonlyArray<"left" | "right">
): Array<string> => {
  const cells = [header, ...rows.map((row) => row.map(String))]
  const widths = header.map((_, c) => Math.max(...cells.map((row) => row[c].length)))
  return cells.map((row) =>
    row
      .map((cell, c) => (align[c] === "right" ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join("  ")
      .trimEnd()
  )
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`

const usd = (cost: number): string => cost.toFixed(6)

/** `TraceSummary.format`. @internal */
export const format = (summary: TraceSummary.Summary): string => {
  const lines: Array<string> = []
  const head = [`trace: ${plural(summary.events, "event")}`]
  if (summary.files.length > 0) head.push(plural(summary.files.length, "file"))
  if (summary.duplicates > 0) head.push(`${plural(summary.duplicates, "duplicate")} dropped`)
  if (summary.start !== undefined && summary.end !== undefined) {
    head.push(`${offset(summary.end - summary.start).slice(1)} from ${new Date(summary.start).toISOString()}`)
  }
  lines.push(head.join(", "))
  for (const torn of summary.torn) lines.push(`skipped a torn last line: ${torn.file}:${torn.line}`)
  const start = summary.start ?? 0
  if (summary.agents.length > 0) {
    const { totals } = summary
    lines.push("")
    lines.push(
      ...table(
        [
          "agent",
          "received",
          "sent",
          "handoffs",
          "dead",
          "calls",
          "tokens in",
          "tokens out",
          "first",
          "last"
        ],
        [
          ...summary.agents.map((row) => [
            row.agent,
            row.received,
            row.sent,
            row.handoffs,
            row.deadLetters,
            row.modelCalls,
            row.tokensIn,
            row.tokensOut,
            offset(row.first - start),
            offset(row.last - start)
          ]),
          [
            "total",
            totals.received,
            totals.sent,
            totals.handoffs,
            totals.deadLetters,
            totals.modelCalls,
            totals.tokensIn,
            totals.tokensOut,
            offset(0),
            offset((summary.end ?? start) - start)
          ]
        ],
        ["left", "right", "right", "right", "right", "right", "right", "right", "left", "left"]
      )
    )
  }
  if (summary.budgets.length > 0) {
    const total = summary.budgets.reduce(
      (sum, row) => ({
        calls: sum.calls + row.calls,
        tokensIn: sum.tokensIn + row.tokensIn,
        tokensOut: sum.tokensOut + row.tokensOut
      }),
      { calls: 0, tokensIn: 0, tokensOut: 0 }
    )
    lines.push("")
    lines.push(
      ...table(
        ["budget", "calls", "tokens in", "tokens out", "cost (USD)", "exhausted"],
        [
          ...summary.budgets.map((row) => [
            row.budget,
            row.calls,
            row.tokensIn,
            row.tokensOut,
            usd(row.cost),
            row.exhausted ? "yes" : ""
          ]),
          ["total", total.calls, total.tokensIn, total.tokensOut, usd(summary.totals.cost), ""]
        ],
        ["left", "right", "right", "right", "right", "left"]
      )
    )
  }
  if (summary.pool !== undefined) {
    const pool = summary.pool
    lines.push("")
    lines.push(
      ...table(
        [
          "pool",
          "tasks",
          "merged",
          "failed",
          "conflicted",
          "skipped",
          "unfinished",
          "gates",
          "gate runs",
          "red",
          "cached",
          "batches"
        ],
        [
          [
            "total",
            pool.tasks,
            pool.merged,
            pool.failed,
            pool.conflicted,
            pool.skipped,
            pool.unfinished,
            pool.gates,
            pool.gateRuns,
            pool.gatesFailed,
            pool.gatesCached,
            pool.batches
          ]
        ],
        ["left", ...Array<"right">(11).fill("right")]
      )
    )
  }
  return lines.join("\n")
}

/** `TraceSummary.formatChain`. @internal */
export const formatChain = (chain: TraceSummary.Chain): string => {
  const rows = chain.steps.map((step) => [
    `${"  ".repeat(step.depth)}${step.messageId}`,
    `${step.from} -> ${step.to}`,
    step.kind,
    offset(step.offset)
  ])
  const lines = table(["", "", "", ""], rows, ["left", "left", "left", "left"]).slice(1)
  if (chain.rootCause !== undefined)
    lines.unshift(`(${chain.root} was caused by ${chain.rootCause}, not in the trace)`)
  return lines.join("\n")
}
