/**
 * How a run shows itself: on a terminal a live status redrawn in place (per worker: task, phase, elapsed;
 * the totals; gate runs and time), otherwise one plain line per event; and a summary at the end. It is built
 * on `Pool.Event`s only, so anything else (a web page, a test) can follow a run the same way.
 *
 * @since 0.1.0
 */
import type * as Pool from "./Pool.ts"

/**
 * Where progress goes: anything with `write` (a `process.stdout`, a test buffer), and whether it is a terminal.
 *
 * **Example**
 *
 * ```ts
 * import type * as Progress from "@handoffkit/pool/Progress"
 *
 * const lines: Array<string> = []
 * const output: Progress.Output = { write: (text) => void lines.push(text), isTTY: false }
 * console.log(output.isTTY) // false
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Output {
  readonly write: (text: string) => unknown
  readonly isTTY?: boolean | undefined
  readonly columns?: number | undefined
}

/**
 * A progress display: give `onEvent` to `Pool.run`'s config, call `close` when the run ends.
 *
 * **Example**
 *
 * ```ts
 * import * as Progress from "@handoffkit/pool/Progress"
 *
 * const lines: Array<string> = []
 * const progress = Progress.make({ write: (text) => void lines.push(text), isTTY: false }, { clock: () => 0 })
 * progress.onEvent({ _tag: "Phase", task: "fix-a", attempt: 1, worker: 0, phase: "agent" })
 * progress.close()
 * console.log(lines[0]) // "[00:00] fix-a: agent (worker 1)\n"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Progress {
  readonly onEvent: (event: Pool.Event) => void
  readonly close: () => void
}

interface WorkerView {
  task: string
  phase: string
  since: number
}

const clock = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000))
  const m = Math.floor(s / 60)
  return `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/**
 * Makes a progress display on `output`: live (redrawn in place, at most every `interval` ms, default 100)
 * when `output.isTTY`, plain lines otherwise.
 *
 * **Details**
 *
 * The live status uses ANSI cursor-up and erase-line sequences only, and redraws the same number of lines
 * it drew (one per worker, then the totals), each cut to fit `output.columns` so none wraps: it never
 * scrolls. Plain lines carry the run's elapsed time, the task and what happened; nothing is printed twice.
 *
 * **Example**
 *
 * ```ts
 * import * as Progress from "@handoffkit/pool/Progress"
 *
 * let screen = ""
 * const progress = Progress.make({ write: (text) => void (screen += text), isTTY: true, columns: 80 }, { clock: () => 0 })
 * progress.onEvent({ _tag: "Phase", task: "fix-a", attempt: 1, worker: 0, phase: "agent" })
 * progress.close()
 * console.log(screen.includes("worker 1  fix-a")) // true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  output: Output,
  options: { readonly interval?: number; readonly clock?: () => number } = {}
): Progress => {
  const now = options.clock ?? Date.now
  const started = now()
  const live = output.isTTY === true
  const workers = new Map<number, WorkerView>()
  const where = new Map<string, string>()
  let gateRuns = 0
  let gateCached = 0
  let drawn = 0
  let dirty = false
  let closed = false

  const count = (phase: (p: string) => boolean) => [...where.values()].filter(phase).length
  const totals = () => {
    return {
      queued: count((p) => p === "queued" || p === "redispatched"),
      running: count((p) => p === "agent" || p === "committed" || p === "gate" || p === "outside"),
      gated: count((p) => p === "ready" || p === "stacked"),
      merged: count((p) => p === "merged"),
      failed: count((p) => p === "failed"),
      conflicted: count((p) => p === "conflicted"),
      skipped: count((p) => p === "skipped")
    }
  }

  const statusLines = () => {
    const t = now()
    // Cut to the terminal's real width (a line that wrapped would take more rows than the cursor-up counts,
    // and the block would scroll instead of being redrawn), however narrow it is.
    const width = output.columns !== undefined && output.columns > 1 ? output.columns : 100
    const lines = [...workers.entries()]
      .toSorted(([a], [b]) => a - b)
      .map(([index, view]) =>
        `worker ${index + 1}  ${view.task}  ${view.phase}  ${clock(t - view.since)}`.slice(0, width - 1)
      )
    const s = totals()
    lines.push(
      `${clock(t - started)}  queued ${s.queued}  running ${s.running}  gated ${s.gated}  merged ${s.merged}  failed ${s.failed}  conflicted ${s.conflicted}${s.skipped > 0 ? `  skipped ${s.skipped}` : ""}  gates ${gateRuns}${gateCached > 0 ? ` (+${gateCached} cached)` : ""}`.slice(
        0,
        width - 1
      )
    )
    return lines
  }

  const redraw = () => {
    if (!dirty || !live) return
    dirty = false
    const lines = statusLines()
    let text = drawn > 0 ? `\x1b[${drawn}A` : ""
    for (const line of lines) text += `\r\x1b[2K${line}\n`
    // Fewer lines than last time: clear the leftovers and come back up.
    for (let i = lines.length; i < drawn; i++) text += "\r\x1b[2K\n"
    if (drawn > lines.length) text += `\x1b[${drawn - lines.length}A`
    drawn = Math.max(lines.length, 0)
    output.write(text)
  }

  const timer = live
    ? setInterval(() => {
        dirty = true
        redraw()
      }, options.interval ?? 100)
    : undefined
  timer?.unref?.()

  const line = (text: string) => {
    if (!live) output.write(`[${clock(now() - started)}] ${text}\n`)
  }

  const onEvent = (event: Pool.Event) => {
    if (closed) return
    switch (event._tag) {
      case "Planned":
        for (const task of event.tasks) if (!where.has(task)) where.set(task, "queued")
        line(
          `planned ${event.tasks.length} tasks${event.overlaps.length > 0 ? `; run one after the other: ${event.overlaps.map(([a, b]) => `${a}/${b}`).join(", ")}` : ""}`
        )
        break
      case "Phase": {
        if (event.task !== "(main tree)") where.set(event.task, event.phase)
        if (event.worker !== undefined) {
          workers.set(event.worker, { task: event.task, phase: event.phase, since: now() })
        }
        if (event.phase === "ready" || event.phase === "failed" || event.phase === "skipped") {
          for (const [index, view] of workers) {
            if (view.task === event.task) workers.set(index, { task: "-", phase: "idle", since: now() })
          }
        }
        line(
          `${event.task}: ${event.phase}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ""}${event.worker === undefined ? "" : ` (worker ${event.worker + 1})`}${event.detail === undefined ? "" : `: ${event.detail}`}`
        )
        break
      }
      case "Gate":
        if (event.cached) gateCached += 1
        else gateRuns += event.runs
        line(
          `gate ${event.scope === "task" ? event.task : event.task}: ${event.passed ? "green" : "red"}${event.cached ? " (tree already gated)" : event.runs > 1 ? ` after ${event.runs} runs` : ""}`
        )
        break
      case "Batch":
        for (const task of event.tasks) where.set(task, "stacked")
        line(`train: batch ${event.batch} stacks ${event.tasks.join(", ")}`)
        break
      case "Merged":
        line(`train: merged ${event.tasks.join(", ")} (${event.old.slice(0, 8)}..${event.next.slice(0, 8)})`)
        break
      case "Finished":
        break
    }
    dirty = true
    if (live && drawn === 0) redraw()
  }

  const close = () => {
    if (closed) return
    if (timer !== undefined) clearInterval(timer)
    dirty = true
    redraw()
    closed = true
  }
  return { onEvent, close }
}

/**
 * The end-of-run summary as text: per task its outcome (and merge commit, or where its work is kept and
 * why), then the gate runs per merged task and the time per phase.
 *
 * **Example**
 *
 * ```ts
 * import * as Progress from "@handoffkit/pool/Progress"
 *
 * const text = Progress.formatSummary({
 *   base: "main", baseBefore: "aaaaaaaa", baseAfter: "bbbbbbbb",
 *   tasks: [{ task: "fix-a", outcome: "merged", attempts: 1, reason: undefined, branch: undefined, merge: "cccccccc", phases: { agent: 1500 } }],
 *   trainGateRuns: 1, taskGateRuns: 1, cachedGates: 0, gateMillis: 800, batches: 1, bisections: 0, mergedAhead: 0, millis: 3000, journal: undefined
 * })
 * console.log(text.split("\n")[0]) // "fix-a  merged  cccccccc"
 * ```
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatSummary = (summary: Pool.Summary): string => {
  const width = Math.max(...summary.tasks.map((t) => t.task.length), 4)
  const lines = summary.tasks.map((t) => {
    const head = `${t.task.padEnd(width)}  ${t.outcome}`
    if (t.outcome === "merged")
      return `${head}  ${(t.merge ?? "").slice(0, 8)}${t.attempts > 1 ? `  (attempt ${t.attempts})` : ""}`
    return `${head}${t.branch === undefined ? "" : `  work kept on ${t.branch}`}${t.reason === undefined ? "" : `  (${t.reason})`}`
  })
  const merged = summary.tasks.filter((t) => t.outcome === "merged").length
  const phases = new Map<string, number>()
  for (const t of summary.tasks)
    for (const [phase, ms] of Object.entries(t.phases)) phases.set(phase, (phases.get(phase) ?? 0) + ms)
  lines.push(
    "",
    `${merged} of ${summary.tasks.length} merged into ${summary.base} (${summary.baseBefore.slice(0, 8)}..${summary.baseAfter.slice(0, 8)}) in ${seconds(summary.millis)}`,
    `gates: ${summary.trainGateRuns} on the train in ${summary.batches} batches (${merged > 0 ? (summary.trainGateRuns / merged).toFixed(2) : "0"} per merged task), ${summary.taskGateRuns} in worktrees, ${summary.cachedGates} skipped as already gated; ${seconds(summary.gateMillis)} gating`,
    `time per phase: ${[...phases.entries()].map(([phase, ms]) => `${phase} ${seconds(ms)}`).join(", ") || "-"}`
  )
  if (summary.journal !== undefined) lines.push(`journal: ${summary.journal}`)
  return lines.join("\n")
}
