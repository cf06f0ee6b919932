/**
 * `TraceMerge` joins the traces of several processes (one JSONL file per runner of a cluster, say) into one
 * causal view: every event once, in an order where each process's own events keep their order and a
 * message's receive never comes before its send, whichever process sent it and whatever its clock said.
 *
 * **When to use**
 *
 * When one run was traced by several tracers: runners of `@handoffkit/cluster` each writing their own file
 * (`HANDOFFKIT_TRACE_DIR`), a client and a server, two halves of one test. `handoffkit trace summary` and
 * `trace view` merge the files they are given this way.
 *
 * **Details**
 *
 * - Order: a topological order of two relations: each source's events in the order the source holds them
 *   (a tracer writes in `seq` order), and, for a message, one of its sends (`send`, `broker.publish`) before
 *   each of its deliveries (`receive`, `dead-letter`, `broker.deliver`, `broker.overflow`). Among the events
 *   both allow next, the earliest `ts` goes first, then the source given first, then the smaller `seq`. So
 *   clocks only decide between events that are causally unrelated; a runner whose clock runs behind cannot
 *   put a receive before its send.
 * - Origin: every event keeps the name of its source in `origin` (for cluster runners, the file name names
 *   the runner).
 * - Repeats: an envelope event (send, receive, dead letter, broker publish, delivery, overflow) is the same
 *   event wherever it was recorded when it has the same kind, actor, peer and `messageId`; any other event is
 *   the same only when equal field for field. Of each event, the view keeps as many copies as the one source
 *   holding the most of them; every further copy stays in the view, in its place, marked with `repeat` (1 for
 *   the first extra copy, 2 for the next, ...). A redelivery after a runner died (the message received on the
 *   dead runner and again on the one that took its shards) is such a repeat, and so is an event of a file
 *   given twice. `withoutRepeats` drops them, for counting.
 * - Contradictions: sources that no order can satisfy (a delivery in each of two files waiting for a send
 *   behind the other) do not stop the merge: the earliest waiting event goes out anyway and is counted in
 *   `unordered`, which is 0 for traces the runtime wrote.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as internal from "./internal/traceMerge.ts"
import * as Tracer from "./Tracer.ts"

/**
 * One trace to merge: its events in the order they were recorded, and what to call it.
 *
 * **Example**
 *
 * ```ts
 * import type { TraceMerge } from "@handoffkit/core"
 *
 * const source: TraceMerge.Source = { origin: "runner-a.jsonl", events: [] }
 * console.log(source.origin) // "runner-a.jsonl"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Source {
  readonly origin: string
  readonly events: ReadonlyArray<Tracer.Event>
}

/**
 * An event of the merged view: the event as its source recorded it, the source's name, and, when it is an
 * extra copy of an event already in the view, which copy.
 *
 * **Example**
 *
 * ```ts
 * import type { TraceMerge } from "@handoffkit/core"
 *
 * const event: TraceMerge.Merged = { seq: 4, ts: 10, kind: "receive", actor: "acc-1", messageId: "m-1", origin: "b.jsonl", repeat: 1 }
 * console.log(event.repeat) // 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Merged extends Tracer.Event {
  readonly origin: string
  /** Set on an extra copy of an event already in the view (a redelivery): 1 for the first, 2 for the next. */
  readonly repeat?: number | undefined
}

/**
 * The merged view.
 *
 * **Details**
 *
 * `events` in causal order (see the module's details); `origins` the sources' names in the order given;
 * `repeats` how many events are marked `repeat`; `unordered` how many went out against the order because the
 * sources contradict each other.
 *
 * **Example**
 *
 * ```ts
 * import { TraceMerge } from "@handoffkit/core"
 *
 * const view: TraceMerge.TraceMerge = TraceMerge.merge([])
 * console.log(view.events.length, view.repeats, view.unordered) // 0 0 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TraceMerge {
  readonly origins: ReadonlyArray<string>
  readonly events: ReadonlyArray<Merged>
  readonly repeats: number
  readonly unordered: number
}

/**
 * Merges several traces into one causal view.
 *
 * **Details**
 *
 * The order and the rule for repeats are the module's. The result is the same for the same sources in the
 * same order; a source holding nothing new (the same file given twice) only adds repeats.
 *
 * **Example**
 *
 * ```ts
 * import { TraceMerge } from "@handoffkit/core"
 *
 * // Runner b's clock is 50 ms behind: its receive is stamped before runner a's send.
 * const a = [{ seq: 1, ts: 100, kind: "send", actor: "parse", peer: "enrich", messageId: "m-1" }] as const
 * const b = [
 *   { seq: 1, ts: 60, kind: "receive", actor: "enrich", peer: "parse", messageId: "m-1" },
 *   { seq: 2, ts: 70, kind: "send", actor: "enrich", peer: "collector", messageId: "m-1.0", causationId: "m-1" }
 * ] as const
 * const view = TraceMerge.merge([{ origin: "a.jsonl", events: a }, { origin: "b.jsonl", events: b }])
 * console.log(view.events.map((e) => `${e.kind} ${e.messageId}@${e.origin}`))
 * // ["send m-1@a.jsonl", "receive m-1@b.jsonl", "send m-1.0@b.jsonl"]
 * ```
 *
 * @see {@link read} to read files and directories first
 *
 * @category constructors
 * @since 0.1.0
 */
export const merge: (sources: ReadonlyArray<Source>) => TraceMerge = internal.merge

/**
 * The events of a view without the repeats: each event once, for counting.
 *
 * **Example**
 *
 * ```ts
 * import { TraceMerge } from "@handoffkit/core"
 *
 * const receive = { seq: 1, ts: 5, kind: "receive", actor: "acc-1", peer: "client", messageId: "m-1" } as const
 * // Runner a died after receiving m-1; runner b received it again when it took a's shards.
 * const view = TraceMerge.merge([{ origin: "a", events: [receive] }, { origin: "b", events: [{ ...receive, ts: 9 }] }])
 * console.log(view.events.length, TraceMerge.withoutRepeats(view).length, view.events[1].repeat) // 2 1 1
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const withoutRepeats = (view: TraceMerge): Array<Merged> =>
  view.events.filter((event) => event.repeat === undefined)

/**
 * The trace files `paths` name: a file as it is, a directory as the `.jsonl` files directly in it, by name.
 *
 * **Details**
 *
 * A path that does not exist fails with the file system's error (`NotFound`), naming it.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, FileSystem } from "effect"
 * import { TraceMerge } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const dir = yield* fs.makeTempDirectoryScoped()
 *   yield* fs.writeFileString(`${dir}/runner-b.jsonl`, "")
 *   yield* fs.writeFileString(`${dir}/runner-a.jsonl`, "")
 *   yield* fs.writeFileString(`${dir}/notes.txt`, "")
 *   const files = yield* TraceMerge.files([dir])
 *   return files.map((file) => file.slice(dir.length + 1))
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // ["runner-a.jsonl", "runner-b.jsonl"]
 * ```
 *
 * @category files
 * @since 0.1.0
 */
export const files = (
  paths: ReadonlyArray<string>
): Effect.Effect<Array<string>, PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const out: Array<string> = []
    for (const path of paths) {
      const info = yield* fs.stat(path)
      if (info.type !== "Directory") {
        out.push(path)
        continue
      }
      const names = (yield* fs.readDirectory(path)).filter((name) => name.endsWith(".jsonl")).sort()
      for (const name of names) {
        const full = `${path.endsWith("/") ? path.slice(0, -1) : path}/${name}`
        if ((yield* fs.stat(full)).type !== "Directory") out.push(full)
      }
    }
    return out
  })

/**
 * Reads trace files and directories (see `files`) with `Tracer.readJsonl` and merges them; each file's path
 * is its events' `origin`.
 *
 * **Details**
 *
 * A torn last line (a process killed mid-write) is skipped and reported in `torn`. A line that is not an
 * event fails with `Tracer.TraceDecodeError` naming the file and line; a path that cannot be read with the
 * file system's error.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, FileSystem } from "effect"
 * import { TraceMerge } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const dir = yield* fs.makeTempDirectoryScoped()
 *   const line = (ts: number, kind: string, actor: string, peer: string) =>
 *     `${JSON.stringify({ seq: 1, ts, kind, actor, peer, messageId: "m-1" })}\n`
 *   yield* fs.writeFileString(`${dir}/a.jsonl`, line(9, "send", "planner", "coder"))
 *   yield* fs.writeFileString(`${dir}/b.jsonl`, line(3, "receive", "coder", "planner")) // a clock behind
 *   const { view } = yield* TraceMerge.read([dir])
 *   return view.events.map((event) => event.kind)
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // ["send", "receive"]
 * ```
 *
 * @category files
 * @since 0.1.0
 */
export const read = (
  paths: ReadonlyArray<string>
): Effect.Effect<
  {
    readonly view: TraceMerge
    readonly torn: ReadonlyArray<{ readonly origin: string; readonly line: number }>
  },
  Tracer.TraceDecodeError | PlatformError,
  FileSystem.FileSystem
> =>
  Effect.gen(function* () {
    const found = yield* files(paths)
    const read = yield* Effect.forEach(found, (file) =>
      Effect.map(Tracer.readJsonl(file), ({ events, torn }) => ({ origin: file, events, torn }))
    )
    return {
      view: merge(read),
      torn: read.flatMap((source) =>
        source.torn === undefined ? [] : [{ origin: source.origin, line: source.torn.line }]
      )
    }
  })
