/**
 * The machinery of `TraceView`: what the page shows, worked out from the events (lanes, arrows, owners,
 * budget curves, pool phases), and the compact form the page carries them in.
 *
 * The page holds the events column by column (numbers into string tables, ids and times as differences from
 * the previous one), so that 100,000 events stay a few megabytes and one `JSON.parse` reads them. Everything
 * from the trace is redacted again here (`Tracer.redact`), whatever wrote the file.
 * @internal
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Tracer from "@handoffkit/core/Tracer"
import type * as TraceSummary from "../TraceSummary.ts"
import { agentKinds as summaryAgentKinds, matchHandoffs } from "./traceSummary.ts"

type Json = Tracer.Event["data"]

/** One event as the page keeps it, before encoding. */
interface Row {
  readonly seq: number
  readonly ts: number
  readonly kind: string
  readonly actor: string
  readonly peer: string | undefined
  readonly messageId: string | undefined
  readonly causationId: string | undefined
  readonly correlationId: string | undefined
  readonly spanId: string | undefined
  readonly data: Json | undefined
  readonly file: number
}

/** The kinds whose actor is an agent: a lane of the page (the agents of `trace summary`, and nurseries' children). */
const agentKinds: ReadonlySet<string> = new Set([...summaryAgentKinds, "nursery.start", "nursery.restart"])

const sendKinds: ReadonlySet<string> = new Set(["send", "broker.publish"])
const deliveredKinds: ReadonlySet<string> = new Set(["receive", "broker.deliver"])

/** What the page is made of: the encoded events and what is derived from them. @internal */
export interface Model {
  readonly v: 1
  readonly title: string
  readonly files: ReadonlyArray<string>
  readonly t0: number
  readonly n: number
  readonly strings: ReadonlyArray<string>
  /** Ids: a string, or a number meaning the prefix of the last string before it followed by that number. */
  readonly ids: ReadonlyArray<string | number>
  /** Per event; see `encode` for each column's form. */
  readonly seq: ReadonlyArray<number>
  readonly ts: ReadonlyArray<number>
  readonly kind: ReadonlyArray<number>
  readonly actor: ReadonlyArray<number>
  readonly peer: ReadonlyArray<number>
  readonly msg: ReadonlyArray<number>
  readonly cause: ReadonlyArray<number>
  readonly corr: ReadonlyArray<number>
  readonly file?: ReadonlyArray<number>
  readonly span?: ReadonlyArray<number>
  readonly dataAt: ReadonlyArray<number>
  readonly data: ReadonlyArray<Json>
  /** Derived. */
  readonly lanes: ReadonlyArray<string>
  /** Flat pairs: send event, delivery event. */
  readonly arrows: ReadonlyArray<number>
  /** Flat pairs: arrow number, task (a string index): the arrows that handed a task over. */
  readonly handoffs: ReadonlyArray<number>
  /** Per task: its id and the handoff events that gave it to each owner, in order (flat: owner string, event). */
  readonly tasks: ReadonlyArray<{ readonly id: string; readonly owners: ReadonlyArray<number> }>
  readonly budget: Budget
  readonly pool: Pool | undefined
}

/** Cumulative charges at some of the `budget.commit` events (always the last one), and the totals. */
interface Budget {
  /** Flat: event, tokens in, tokens out, calls, cost (cumulative over every budget of the trace). */
  readonly points: ReadonlyArray<number>
  readonly totals: {
    readonly tokensIn: number
    readonly tokensOut: number
    readonly calls: number
    readonly cost: number
  }
  readonly budgets: ReadonlyArray<string>
  readonly exhausted: ReadonlyArray<number>
}

interface Pool {
  /** One per task attempt: its worker, and its phases as flat triples (phase, start event, end event). */
  readonly rows: ReadonlyArray<{
    readonly task: string
    readonly attempt: number
    readonly worker: number | null
    readonly outcome: string
    readonly bars: ReadonlyArray<string | number>
  }>
  readonly batches: ReadonlyArray<{
    readonly batch: number
    readonly tasks: ReadonlyArray<string>
    readonly start: number
    readonly end: number
    readonly outcome: string
  }>
}

const text = (value: string | undefined) => (value === undefined ? undefined : Tracer.redactString(value))

/** The redacted rows of a merged trace: every string through `Tracer.redactString`, `data` through `redact`. */
const rowsOf = (trace: TraceSummary.Trace): Array<Row> => {
  const fileIndex = new Map(trace.files.map((file, i) => [file, i]))
  return trace.events.map((event) => ({
    seq: event.seq,
    ts: event.ts,
    kind: event.kind,
    actor: Tracer.redactString(event.actor),
    peer: text(event.peer),
    messageId: text(event.messageId),
    causationId: text(event.causationId),
    correlationId: text(event.correlationId),
    spanId: text(event.spanId),
    data: event.data === undefined ? undefined : (Tracer.redact(event.data) as Json),
    file: fileIndex.get(event.file) ?? 0
  }))
}

// zigzag: small signed differences as small non-negative numbers
const zigzag = (d: number): number => (d >= 0 ? 2 * d : -2 * d - 1)

const numbered = /^(.*\D)?(0|[1-9]\d{0,14})$/

/** `TraceView.model`. @internal */
export const model = (trace: TraceSummary.Trace, title: string): Model => {
  const rows = rowsOf(trace)
  const n = rows.length

  const strings: Array<string> = []
  const stringIndex = new Map<string, number>()
  const str = (value: string): number => {
    let i = stringIndex.get(value)
    if (i === undefined) {
      i = strings.length
      strings.push(value)
      stringIndex.set(value, i)
    }
    return i
  }

  const ids: Array<string | number> = []
  const idIndex = new Map<string, number>()
  let idPrefix: string | undefined
  const id = (value: string): number => {
    let i = idIndex.get(value)
    if (i !== undefined) return i
    i = idIndex.size
    idIndex.set(value, i)
    const match = numbered.exec(value)
    const prefix = match?.[1] ?? ""
    if (match !== null && prefix === idPrefix) ids.push(Number(match[2]))
    else {
      ids.push(value)
      idPrefix = match === null ? undefined : prefix
    }
    return i
  }

  let t0 = n === 0 ? 0 : Infinity
  for (const row of rows) if (row.ts < t0) t0 = row.ts
  const seq: Array<number> = []
  const ts: Array<number> = []
  const kind: Array<number> = []
  const actor: Array<number> = []
  const peer: Array<number> = []
  const msg: Array<number> = []
  const cause: Array<number> = []
  const corr: Array<number> = []
  const file: Array<number> = []
  const span: Array<number> = []
  const dataAt: Array<number> = []
  const data: Array<Json> = []
  let lastSeq = 0
  let lastTs = t0
  let lastMsg = 0
  let lastCause = 0
  let lastData = 0
  let spans = false
  rows.forEach((row, index) => {
    seq.push(row.seq - lastSeq)
    lastSeq = row.seq
    ts.push(row.ts - lastTs)
    lastTs = row.ts
    kind.push(str(row.kind))
    actor.push(str(row.actor))
    peer.push(row.peer === undefined ? 0 : str(row.peer) + 1)
    if (row.messageId === undefined) msg.push(0)
    else {
      const i = id(row.messageId)
      msg.push(zigzag(i - lastMsg) + 1)
      lastMsg = i
    }
    if (row.causationId === undefined) cause.push(0)
    else {
      const i = id(row.causationId)
      cause.push(zigzag(i - lastCause) + 1)
      lastCause = i
    }
    corr.push(row.correlationId === undefined ? 0 : str(row.correlationId) + 1)
    file.push(row.file)
    if (row.spanId !== undefined) spans = true
    span.push(row.spanId === undefined ? 0 : str(row.spanId) + 1)
    if (row.data !== undefined) {
      dataAt.push(index - lastData)
      lastData = index
      data.push(row.data)
    }
  })

  // Lanes: the agents, in the order they first appear.
  const lanes: Array<string> = []
  const laneSet = new Set<string>()
  for (const row of rows) {
    if (agentKinds.has(row.kind) && !laneSet.has(row.actor)) {
      laneSet.add(row.actor)
      lanes.push(row.actor)
    }
  }

  // Arrows: a delivery and the send of its message (the first send of that id before it, else any).
  const sendOf = new Map<string, number>()
  rows.forEach((row, index) => {
    if (sendKinds.has(row.kind) && row.messageId !== undefined && !sendOf.has(row.messageId)) {
      sendOf.set(row.messageId, index)
    }
  })
  const arrows: Array<number> = []
  const arrowOfSend = new Map<number, number>()
  rows.forEach((row, index) => {
    if (!deliveredKinds.has(row.kind) || row.messageId === undefined) return
    const send = sendOf.get(row.messageId)
    if (send === undefined) return
    if (!arrowOfSend.has(send)) arrowOfSend.set(send, arrows.length / 2)
    arrows.push(send, index)
  })

  // Handoffs: the send each handoff was accepted with, as `trace summary` matches them; owners per task.
  const handoffs: Array<number> = []
  for (const [send, taskId] of matchHandoffs(trace.events)) {
    const arrow = arrowOfSend.get(send)
    if (arrow !== undefined) handoffs.push(arrow, str(taskId))
  }
  const tasks = new Map<string, Array<number>>()
  rows.forEach((row, index) => {
    if (row.kind !== "handoff") return
    const taskId = row.data?.taskId
    const to = row.data?.to
    if (typeof taskId !== "string" || typeof to !== "string") return
    let owners = tasks.get(taskId)
    if (owners === undefined) tasks.set(taskId, (owners = []))
    owners.push(str(to), index)
  })

  return {
    v: 1,
    title,
    files: trace.files.map((name) => Tracer.redactString(name)),
    t0,
    n,
    strings,
    ids,
    seq,
    ts,
    kind,
    actor,
    peer,
    msg,
    cause,
    corr,
    ...(trace.files.length > 1 ? { file } : {}),
    ...(spans ? { span } : {}),
    dataAt,
    data,
    lanes,
    arrows,
    handoffs,
    tasks: [...tasks].map(([taskId, owners]) => ({ id: taskId, owners })),
    budget: budgetOf(rows),
    pool: poolOf(rows)
  }
}

const numberAt = (data: Json | undefined, key: string): number => {
  const value = data?.[key]
  return typeof value === "number" && Number.isFinite(value) ? value : 0
}

// At most this many points per curve: one per commit up to it, then evenly spaced ones and always the last.
const MAX_POINTS = 2_000

const budgetOf = (rows: ReadonlyArray<Row>): Budget => {
  const commits: Array<number> = []
  const exhausted: Array<number> = []
  const budgets = new Set<string>()
  rows.forEach((row, index) => {
    if (row.kind === "budget.commit") {
      commits.push(index)
      budgets.add(row.actor)
    } else if (row.kind === "budget.exhausted") {
      exhausted.push(index)
      budgets.add(row.actor)
    }
  })
  const every = Math.max(1, Math.ceil(commits.length / MAX_POINTS))
  const points: Array<number> = []
  let tokensIn = 0
  let tokensOut = 0
  let calls = 0
  let cost = 0
  commits.forEach((index, i) => {
    const data = rows[index].data
    tokensIn += numberAt(data, "tokensIn")
    tokensOut += numberAt(data, "tokensOut")
    calls += numberAt(data, "calls")
    cost += numberAt(data, "cost")
    if (i % every === 0 || i === commits.length - 1)
      points.push(index, tokensIn, tokensOut, calls, round(cost))
  })
  return {
    points,
    totals: { tokensIn, tokensOut, calls, cost: round(cost) },
    budgets: [...budgets].sort(),
    exhausted
  }
}

// Costs are sums of small floats: rounded to the nano-dollar, as `trace summary` does.
const round = (usd: number): number => Math.round(usd * 1e9) / 1e9

/** The phase bars a pool task shows, by the phase that opens each: agent, commit, gate, merge. */
const barOf: Readonly<Record<string, string>> = {
  agent: "agent",
  committed: "commit",
  outside: "commit",
  gate: "gate",
  ready: "merge"
}
const terminal: ReadonlySet<string> = new Set(["merged", "failed", "conflicted", "skipped", "redispatched"])

const poolOf = (rows: ReadonlyArray<Row>): Pool | undefined => {
  interface Attempt {
    readonly task: string
    readonly attempt: number
    worker: number | null
    outcome: string
    readonly bars: Array<string | number>
    open: { readonly phase: string; readonly start: number } | undefined
  }
  const attempts = new Map<string, Attempt>()
  const order: Array<Attempt> = []
  const batches: Array<{ batch: number; tasks: Array<string>; start: number; end: number; outcome: string }> =
    []
  let pool = false
  const close = (attempt: Attempt, index: number) => {
    if (attempt.open === undefined) return
    attempt.bars.push(attempt.open.phase, attempt.open.start, index)
    attempt.open = undefined
  }
  rows.forEach((row, index) => {
    if (row.kind !== "pool.task" && row.kind !== "pool.gate" && row.kind !== "pool.merge") return
    pool = true
    const data = row.data ?? {}
    const event = data.event
    if (event === "Phase" && typeof data.task === "string" && !data.task.startsWith("(")) {
      const attemptNo = typeof data.attempt === "number" ? data.attempt : 1
      const key = `${data.task}\u0000${attemptNo}`
      let attempt = attempts.get(key)
      if (attempt === undefined) {
        attempt = {
          task: data.task,
          attempt: attemptNo,
          worker: null,
          outcome: "unfinished",
          bars: [],
          open: undefined
        }
        attempts.set(key, attempt)
        order.push(attempt)
      }
      const phase = typeof data.phase === "string" ? data.phase : ""
      if (typeof data.worker === "number") attempt.worker = data.worker
      const bar = barOf[phase]
      if (bar !== undefined) {
        if (attempt.open?.phase !== bar) {
          close(attempt, index)
          attempt.open = { phase: bar, start: index }
        }
      } else if (terminal.has(phase)) {
        close(attempt, index)
        attempt.outcome = phase
      }
      return
    }
    if (event === "Batch" && typeof data.batch === "number") {
      const tasks = Array.isArray(data.tasks)
        ? data.tasks.filter((t): t is string => typeof t === "string")
        : []
      batches.push({ batch: data.batch, tasks, start: index, end: -1, outcome: "open" })
      return
    }
    const batchNo =
      event === "Merged" && typeof data.batch === "number"
        ? data.batch
        : event === "Gate" && data.scope === "train" && typeof data.task === "string"
          ? Number(/^batch (\d+)$/.exec(data.task)?.[1] ?? NaN)
          : NaN
    if (Number.isNaN(batchNo)) return
    const batch = batches.findLast((b) => b.batch === batchNo && b.end === -1)
    if (batch === undefined) return
    if (event === "Merged") {
      batch.end = index
      batch.outcome = "merged"
    } else if (data.passed === false) {
      batch.end = index
      batch.outcome = "red"
    }
  })
  if (!pool) return undefined
  const last = rows.length - 1
  for (const attempt of order) close(attempt, last)
  for (const batch of batches) if (batch.end === -1) batch.end = last
  return {
    rows: order.map(({ task, attempt, worker, outcome, bars }) => ({ task, attempt, worker, outcome, bars })),
    batches
  }
}

/** JSON that is safe inside a `<script type="application/json">`: no `<` (so no `</script>`), no U+2028/9. */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replaceAll("<", "\\u003c")
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029")

// ---------------------------------------------------------------------------------------------------------
// the page
// ---------------------------------------------------------------------------------------------------------

let assets: { readonly script: string; readonly style: string } | undefined
const loadAssets = () =>
  (assets ??= {
    script: Fs.readFileSync(new URL("./viewer/client.js", import.meta.url), "utf8"),
    style: Fs.readFileSync(new URL("./viewer/style.css", import.meta.url), "utf8")
  })

const sha256 = (text: string): string => Crypto.createHash("sha256").update(text, "utf8").digest("base64")

const escapeHtml = (text: string): string =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

/** `TraceView.page`: the whole page, its script and style inline, allowed by hash and nothing else. @internal */
export const page = (view: Model): string => {
  const { script, style } = loadAssets()
  // The page may run its own script and nothing else, and fetch nothing: no network, no script from the trace.
  const policy = [
    "default-src 'none'",
    `script-src 'sha256-${sha256(script)}'`,
    `style-src 'sha256-${sha256(style)}'`,
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'"
  ].join("; ")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="handoffkit trace view">
<title>${escapeHtml(view.title)}</title>
<style>${style}</style>
</head>
<body>
<header><h1 id="title"></h1><div id="files"></div><div id="stats"></div></header>
<noscript><p>This page draws the trace with its own script: open it in a browser with JavaScript on.</p></noscript>
<div class="controls">
<label>agent <select id="f-agent"></select></label>
<label>kind <select id="f-kind"></select></label>
<button id="zoom-in" title="zoom in">+</button><button id="zoom-out" title="zoom out">&minus;</button><button id="zoom-fit" title="the whole run">fit</button>
<span id="tl-note" class="note"></span>
</div>
<main>
<div>
<section id="agents"><h2>Agents and messages</h2><div id="timeline"></div></section>
<section id="owners"><h2>Who owned each task</h2><div id="owners-body"></div></section>
<section id="budget"><h2>Budget over time</h2><div id="budget-body"></div></section>
<section id="pool" hidden><h2>Pool: phases per worker, and the merge train</h2><div id="pool-body"></div></section>
<section id="events"><h2>Events</h2><p id="list-note" class="note"></p><div id="list"><div id="spacer"></div><div id="rows"></div></div></section>
</div>
<aside><div class="sticky">
<h2>Event</h2><p id="detail-title" class="note">Click an event, an arrow or a bar.</p><pre id="payload"></pre>
<h2>Causal chain, from the root</h2><p id="chain-none" class="note">No message in this event's chain.</p><ol id="chain"></ol>
</div></aside>
</main>
<script type="application/json" id="trace-data">${scriptJson(view)}</script>
<script>${script}</script>
</body>
</html>
`
}
