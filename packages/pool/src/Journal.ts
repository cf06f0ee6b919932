/**
 * The pool's durable journal: every state change of every task, written (and synced to disk) before it takes
 * effect, so that a run killed at any point can be resumed with nothing finished redone and nothing merged
 * twice.
 *
 * **When to use**
 *
 * `Pool.run` writes it; read it with `read` and fold it with `replay` to see where a run stands (what
 * `handoffkit pool status` prints), or provide `layerMemory` in tests.
 *
 * **Details**
 *
 * - The file is JSON Lines, one `Entry` per line; `append` returns once the line is on disk (an `fsync` that
 *   began after the write completed; concurrent appends share one). A torn last line (the process
 *   died mid-write) is ignored on read; a damaged line anywhere else is a `JournalError` naming the line.
 * - Write-ahead: `prepared` or `dispatched` is written before the worktree is made, `merging` (with the base's old and new
 *   commits) before the base is moved, `merged` after the move is confirmed, `cleaned` after the worktree and
 *   branch are gone. `replay` folds the entries into one `TaskState` per task.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Context, Effect, Layer, Schema } from "effect"

// -----------------------------------------------------------------------------
// entries
// -----------------------------------------------------------------------------

const Base = { seq: Schema.Number, ts: Schema.Number }
const Attempt = { task: Schema.String, attempt: Schema.Number }

/**
 * One journal entry. `seq` increases by one per entry; `ts` is epoch milliseconds.
 *
 * **Details**
 *
 * - `run`: a run (or a resumed run) started on `base` at `baseCommit`, with these task ids.
 * - `prepared`: an attempt's worktree is being made ahead of a free worker (at `from`), so the worker that
 *   takes the attempt starts its agent at once. It does not change where the task stands (still queued): a run
 *   killed before the attempt is `dispatched` removes that worktree and branch when resumed.
 * - `dispatched`: an attempt of a task was given to `worker`, in `worktree` on `branch`, from `from`.
 * - `agent`: the attempt's agent finished (its work is in the worktree, maybe not committed yet).
 * - `committed`: the attempt's work is `commit` on its branch; `changed` and `outside` (changed paths the
 *   task does not own) are recorded.
 * - `gated`: the gate ran on the attempt's commit in its worktree (`passed`, `log`).
 * - `merging`: a batch of the train is about to move `base` from `old` to `next`; `merged`: it did.
 * - `failed`, `conflicted`, `skipped`: the task ended without being merged (`conflicted` with `final`
 *   false means it was sent back to its agent).
 * - `cleaned`: the attempt's worktree is removed (and its branch, when merged).
 * - `finished`: the run ended.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const entry = Schema.decodeUnknownSync(Journal.Entry)({ _tag: "skipped", seq: 1, ts: 0, task: "a", reason: "budget spent" })
 * console.log(entry._tag) // "skipped"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Entry = Schema.Union([
  Schema.TaggedStruct("run", {
    ...Base,
    base: Schema.String,
    baseCommit: Schema.String,
    tasks: Schema.Array(Schema.String),
    file: Schema.optional(Schema.String),
    options: Schema.optional(Schema.Record(Schema.String, Schema.Json))
  }),
  Schema.TaggedStruct("prepared", {
    ...Base,
    ...Attempt,
    branch: Schema.String,
    worktree: Schema.String,
    from: Schema.String
  }),
  Schema.TaggedStruct("dispatched", {
    ...Base,
    ...Attempt,
    worker: Schema.Number,
    branch: Schema.String,
    worktree: Schema.String,
    from: Schema.String
  }),
  Schema.TaggedStruct("agent", { ...Base, ...Attempt, summary: Schema.NullOr(Schema.String) }),
  Schema.TaggedStruct("committed", {
    ...Base,
    ...Attempt,
    commit: Schema.String,
    changed: Schema.Array(Schema.String),
    outside: Schema.Array(Schema.String)
  }),
  Schema.TaggedStruct("gated", {
    ...Base,
    ...Attempt,
    commit: Schema.String,
    tree: Schema.String,
    passed: Schema.Boolean,
    runs: Schema.Number,
    log: Schema.String
  }),
  Schema.TaggedStruct("merging", {
    ...Base,
    batch: Schema.Number,
    old: Schema.String,
    next: Schema.String,
    tasks: Schema.Array(Schema.Struct({ ...Attempt, commit: Schema.String, merge: Schema.String }))
  }),
  Schema.TaggedStruct("merged", { ...Base, batch: Schema.Number, old: Schema.String, next: Schema.String }),
  Schema.TaggedStruct("failed", { ...Base, ...Attempt, phase: Schema.String, reason: Schema.String }),
  Schema.TaggedStruct("conflicted", {
    ...Base,
    ...Attempt,
    files: Schema.Array(Schema.String),
    final: Schema.Boolean
  }),
  Schema.TaggedStruct("skipped", { ...Base, task: Schema.String, reason: Schema.String }),
  Schema.TaggedStruct("cleaned", { ...Base, ...Attempt, branchDeleted: Schema.Boolean }),
  Schema.TaggedStruct("finished", { ...Base, interrupted: Schema.Boolean })
])

/**
 * @category models
 * @since 0.1.0
 */
export type Entry = typeof Entry.Type

/**
 * An entry as it is handed to `append`: without `seq` and `ts`, which the journal assigns.
 *
 * **Example**
 *
 * ```ts
 * import type * as Journal from "@handoffkit/pool/Journal"
 *
 * const entry: Journal.Draft = { _tag: "skipped", task: "a", reason: "budget spent" }
 * console.log(entry._tag) // "skipped"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Draft = Entry extends infer E ? (E extends Entry ? Omit<E, "seq" | "ts"> : never) : never

/**
 * The journal could not be read or written. `line` is set for a damaged line.
 *
 * **Example**
 *
 * ```ts
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const error = new Journal.JournalError({ path: "/x/journal.jsonl", line: 3, reason: "not JSON" })
 * console.log(error.message) // "/x/journal.jsonl:3: not JSON"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class JournalError extends Schema.TaggedError<JournalError>()("JournalError", {
  path: Schema.String,
  line: Schema.optional(Schema.Number),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}${this.line === undefined ? "" : `:${this.line}`}: ${this.reason}`
  }
}

// -----------------------------------------------------------------------------
// the service
// -----------------------------------------------------------------------------

/**
 * The journal service: `append` writes one entry durably before returning; `entries` reads all of them.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const program = Effect.gen(function*() {
 *   const journal = yield* Journal.Journal
 *   yield* journal.append({ _tag: "skipped", task: "a", reason: "budget spent" })
 *   return (yield* journal.entries).map((entry) => entry._tag)
 * })
 * Effect.runPromise(program.pipe(Effect.provide(Journal.layerMemory))).then(console.log) // ["skipped"]
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Journal extends Context.Service<
  Journal,
  {
    readonly path: string | undefined
    readonly append: (entry: Draft) => Effect.Effect<Entry, JournalError>
    readonly entries: Effect.Effect<ReadonlyArray<Entry>, JournalError>
  }
>()("@handoffkit/pool/Journal") {}

const decodeEntry = Schema.decodeUnknownSync(Entry)
const encodeEntry = Schema.encodeSync(Entry)

/**
 * Parses a journal's text. A last line without its newline that does not parse is a torn write and ignored.
 *
 * **Example**
 *
 * ```ts
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const text = `{"_tag":"skipped","seq":1,"ts":0,"task":"a","reason":"budget spent"}\n{"_tag":"fin`
 * console.log(Journal.parse(text, "journal.jsonl").length) // 1
 * ```
 *
 * @category reading
 * @since 0.1.0
 */
export const parse = (text: string, path: string): ReadonlyArray<Entry> => {
  const lines = text.split("\n")
  const entries: Array<Entry> = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line === "") continue
    const torn = i === lines.length - 1
    try {
      entries.push(decodeEntry(JSON.parse(line)))
    } catch (cause) {
      if (torn) break
      throw new JournalError({
        path,
        line: i + 1,
        reason: String(cause instanceof Error ? cause.message : cause)
      })
    }
  }
  return entries
}

/**
 * The journal in a file, created (with its directory) when missing. Appends are synced to disk before they
 * return. Opening it truncates a torn last line, so the next append starts on a line of its own.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const path = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "journal-")), "journal.jsonl")
 * const program = Effect.gen(function*() {
 *   const journal = yield* Journal.Journal
 *   yield* journal.append({ _tag: "skipped", task: "a", reason: "budget spent" })
 * })
 * Effect.runPromise(program.pipe(Effect.provide(Journal.layerFile(path)))).then(() =>
 *   console.log(Fs.readFileSync(path, "utf8").split("\n").length) // 2
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFile = (path: string): Layer.Layer<Journal, JournalError> =>
  Layer.effect(
    Journal,
    Effect.try({
      try: () => {
        Fs.mkdirSync(Path.dirname(path), { recursive: true })
        const existing = Fs.existsSync(path) ? Fs.readFileSync(path, "utf8") : ""
        const entries = [...parse(existing, path)]
        // Cut a torn tail so the next line starts clean.
        const keep =
          existing.endsWith("\n") || existing === "" ? existing.length : existing.lastIndexOf("\n") + 1
        if (keep !== existing.length) Fs.truncateSync(path, keep)
        const fd = Fs.openSync(path, "a")
        let seq = entries.length === 0 ? 0 : entries[entries.length - 1].seq
        // Group commit: a line is written at once (in seq order: nothing else runs between the seq and the
        // write), and its append returns once an fsync that began after the write has completed. One fsync
        // is in flight at a time and covers every line written before it began, so concurrent appenders
        // share syncs, and none of them blocks the event loop while the disk works.
        let durable = seq
        let flushing = false
        const waiting: Array<{ readonly seq: number; readonly done: (error: unknown) => void }> = []
        const flush = () => {
          flushing = true
          const target = seq
          Fs.fsync(fd, (error) => {
            flushing = false
            if (error === null) durable = target
            for (let i = waiting.length - 1; i >= 0; i--) {
              if (error !== null || waiting[i].seq <= target) waiting.splice(i, 1)[0].done(error)
            }
            if (waiting.length > 0) flush()
          })
        }
        const synced = (upTo: number) =>
          Effect.callback<void, JournalError>((resume) => {
            if (durable >= upTo) return resume(Effect.void)
            waiting.push({
              seq: upTo,
              done: (error) =>
                resume(
                  error === null
                    ? Effect.void
                    : Effect.fail(new JournalError({ path, reason: `cannot sync: ${String(error)}` }))
                )
            })
            if (!flushing) flush()
          })
        const append = (draft: Draft) =>
          Effect.try({
            try: () => {
              const entry = decodeEntry({ ...draft, seq: seq + 1, ts: Date.now() })
              Fs.writeSync(fd, `${JSON.stringify(encodeEntry(entry))}\n`)
              seq = entry.seq
              entries.push(entry)
              return entry
            },
            catch: (cause) => new JournalError({ path, reason: `cannot append: ${String(cause)}` })
          }).pipe(Effect.tap((entry) => synced(entry.seq)))
        return Journal.of({ path, append, entries: Effect.sync(() => entries.slice()) })
      },
      catch: (cause) =>
        cause instanceof JournalError
          ? cause
          : new JournalError({ path, reason: `cannot open: ${String(cause)}` })
    })
  )

/**
 * A journal in memory, for tests and for runs that need no resume.
 *
 * **Example**
 *
 * ```ts
 * import { Layer } from "effect"
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * console.log(Layer.isLayer(Journal.layerMemory)) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Journal> = Layer.sync(Journal, () => {
  const entries: Array<Entry> = []
  return Journal.of({
    path: undefined,
    append: (draft) =>
      Effect.sync(() => {
        const entry = decodeEntry({ ...draft, seq: entries.length + 1, ts: Date.now() })
        entries.push(entry)
        return entry
      }),
    entries: Effect.sync(() => entries.slice())
  })
})

/**
 * Reads a journal file without opening it for writing (what `pool status` does). A missing file reads as
 * empty.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * Effect.runPromise(Journal.read("/nonexistent/journal.jsonl")).then((entries) => console.log(entries.length)) // 0
 * ```
 *
 * @category reading
 * @since 0.1.0
 */
export const read = (path: string): Effect.Effect<ReadonlyArray<Entry>, JournalError> =>
  Effect.try({
    try: () => (Fs.existsSync(path) ? parse(Fs.readFileSync(path, "utf8"), path) : []),
    catch: (cause) =>
      cause instanceof JournalError
        ? cause
        : new JournalError({ path, reason: `cannot read: ${String(cause)}` })
  })

// -----------------------------------------------------------------------------
// replay
// -----------------------------------------------------------------------------

/**
 * Where one task stands after a journal's entries.
 *
 * **Details**
 *
 * `phase` is the last step taken: `queued` (nothing yet), `dispatched`, `agent`, `committed`, `gated`,
 * `merging`, `merged`, `cleaned`, or an end: `failed`, `conflicted`, `skipped`. `attempt`, `branch`,
 * `worktree`, `from`, `commit` and `merge` describe the latest attempt; `reason` says why it ended unmerged.
 *
 * **Example**
 *
 * ```ts
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const [state] = Journal.replay([{ _tag: "skipped", seq: 1, ts: 0, task: "a", reason: "budget spent" }]).values()
 * console.log(state.phase, state.reason) // "skipped" "budget spent"
 * ```
 *
 * @category replay
 * @since 0.1.0
 */
export interface TaskState {
  readonly task: string
  readonly phase:
    | "queued"
    | "dispatched"
    | "agent"
    | "committed"
    | "gated"
    | "merging"
    | "merged"
    | "cleaned"
    | "failed"
    | "conflicted"
    | "skipped"
  readonly attempt: number
  readonly worker: number | undefined
  readonly branch: string | undefined
  readonly worktree: string | undefined
  readonly from: string | undefined
  readonly commit: string | undefined
  readonly passed: boolean | undefined
  readonly merge: string | undefined
  readonly mergedInto: string | undefined
  readonly reason: string | undefined
  readonly conflictFiles: ReadonlyArray<string>
  readonly gateLog: string | undefined
  readonly gateRuns: number
  readonly branches: ReadonlyArray<string>
}

const fresh = (task: string): TaskState => ({
  task,
  phase: "queued",
  attempt: 0,
  worker: undefined,
  branch: undefined,
  worktree: undefined,
  from: undefined,
  commit: undefined,
  passed: undefined,
  merge: undefined,
  mergedInto: undefined,
  reason: undefined,
  conflictFiles: [],
  gateLog: undefined,
  gateRuns: 0,
  branches: []
})

/**
 * Folds entries into the state of every task they mention, in the order tasks first appear.
 *
 * **Details**
 *
 * A `merging` entry without its `merged` leaves its tasks in `merging`: whether the base moved is for the
 * caller to check against the repository (the move is a compare-and-swap, so it happened at most once).
 *
 * **Example**
 *
 * ```ts
 * import * as Journal from "@handoffkit/pool/Journal"
 *
 * const states = Journal.replay([
 *   { _tag: "run", seq: 1, ts: 0, base: "main", baseCommit: "c0", tasks: ["a", "b"] },
 *   { _tag: "dispatched", seq: 2, ts: 0, task: "a", attempt: 1, worker: 0, branch: "handoffkit/a/1", worktree: "/w/a-1", from: "c0" }
 * ])
 * console.log([...states.values()].map((s) => s.phase)) // ["dispatched", "queued"]
 * ```
 *
 * @category replay
 * @since 0.1.0
 */
export const replay = (entries: ReadonlyArray<Entry>): Map<string, TaskState> => {
  const states = new Map<string, TaskState>()
  const batches = new Map<number, ReadonlyArray<{ task: string; merge: string }>>()
  const update = (task: string, f: (state: TaskState) => Partial<TaskState>) => {
    const state = states.get(task) ?? fresh(task)
    states.set(task, { ...state, ...f(state) })
  }
  for (const entry of entries) {
    switch (entry._tag) {
      case "run":
        for (const task of entry.tasks) if (!states.has(task)) states.set(task, fresh(task))
        break
      case "dispatched":
        update(entry.task, (state) => ({
          phase: "dispatched",
          attempt: entry.attempt,
          worker: entry.worker,
          branch: entry.branch,
          worktree: entry.worktree,
          from: entry.from,
          commit: undefined,
          passed: undefined,
          merge: undefined,
          reason: undefined,
          branches: state.branches.includes(entry.branch) ? state.branches : [...state.branches, entry.branch]
        }))
        break
      case "prepared":
        // Made ahead of a worker: the task is still queued until an attempt is dispatched.
        break
      case "agent":
        update(entry.task, () => ({ phase: "agent" }))
        break
      case "committed":
        update(entry.task, () => ({ phase: "committed", commit: entry.commit }))
        break
      case "gated":
        update(entry.task, (state) => ({
          phase: "gated",
          passed: entry.passed,
          gateLog: entry.log,
          gateRuns: state.gateRuns + entry.runs
        }))
        break
      case "merging":
        batches.set(entry.batch, entry.tasks)
        for (const part of entry.tasks) update(part.task, () => ({ phase: "merging", merge: part.merge }))
        break
      case "merged":
        for (const part of batches.get(entry.batch) ?? []) {
          update(part.task, () => ({ phase: "merged", merge: part.merge, mergedInto: entry.next }))
        }
        break
      case "failed":
        update(entry.task, () => ({ phase: "failed", reason: `${entry.phase}: ${entry.reason}` }))
        break
      case "conflicted":
        update(entry.task, () => ({
          phase: entry.final ? "conflicted" : "queued",
          conflictFiles: entry.files,
          reason: `conflict in ${entry.files.join(", ")}`
        }))
        break
      case "skipped":
        update(entry.task, () => ({ phase: "skipped", reason: entry.reason }))
        break
      case "cleaned":
        update(entry.task, (state) => (state.phase === "merged" ? { phase: "cleaned" } : {}))
        break
      case "finished":
        break
    }
  }
  return states
}
