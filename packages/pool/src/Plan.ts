/**
 * The plan of a pool run: which tasks own which paths, which pairs of tasks are predicted to conflict because
 * their owned globs overlap, and the serialization rule that keeps such pairs apart. Its guarantee: two tasks
 * whose owned paths overlap never run at the same time, and the later one in file order waits for the earlier
 * one to finish (merged, failed or conflicted); nothing ever waits on a task after it, so the rule cannot
 * deadlock.
 *
 * **When to use**
 *
 * To show a user what a task file will do before it runs (`format`), to decide which queued tasks may start
 * now (`ready`), and to find the changes an agent made outside its task's owned paths (`outside`).
 *
 * **Details**
 *
 * Globs (as `Task` normalizes them): `*` any characters but `/` (a leading dot too), `?` one character but
 * `/`, `[abc]` / `[a-z]` / `[!a]` one character of (or not of) a class, `{a,b}` alternatives (nested, may hold
 * `/`), `**` as a whole segment any number of whole segments (zero included; inside a segment `**` is `*`).
 * There are no escapes. A glob (or brace alternative) without `*`, `?` or `[` is a path: it matches that path
 * and, when it is a directory, everything under it (`src/x` is `src/x/**`). Matching is case-sensitive, like
 * git's paths. Overlap is decided exactly, by intersecting the two globs' automata: `overlaps` is true exactly
 * when some path matches both, and `commonPath` names one.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import * as Glob from "./internal/glob.ts"
import type { Task } from "./Task.ts"

/**
 * The brand carried by every `Plan`; test for it with `isPlan`.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * console.log(Plan.TypeId) // "~handoffkit/pool/Plan"
 * ```
 *
 * @category type ids
 * @since 0.1.0
 */
export const TypeId: TypeId = "~handoffkit/pool/Plan"

/**
 * @category type ids
 * @since 0.1.0
 */
export type TypeId = "~handoffkit/pool/Plan"

/**
 * What a plan needs of a task: its id and its owned globs. A decoded `Task` is one.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const owner: Plan.Owner = { id: "docs", owns: ["docs/**"] }
 * console.log(Plan.ownedBy(owner, "docs/intro.md")) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Owner {
  readonly id: string
  readonly owns: ReadonlyArray<string>
}

/**
 * A predicted conflict: tasks `a` and `b` (`a` earlier in file order) own globs that some path matches both.
 *
 * **Details**
 *
 * `globs` is the first overlapping pair (`a`'s glob, then `b`'s, each in the order the task lists them);
 * `example` is a path both match.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const plan = Plan.make([
 *   { id: "fix-a", owns: ["src/x/**"] },
 *   { id: "fix-b", owns: ["src/x/y.ts"] }
 * ])
 * const overlap: Plan.Overlap = plan.overlaps[0]
 * console.log(overlap.a, overlap.b, overlap.globs, overlap.example) // "fix-a" "fix-b" ["src/x/**","src/x/y.ts"] "src/x/y.ts"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Overlap {
  readonly a: string
  readonly b: string
  readonly globs: readonly [string, string]
  readonly example: string
}

/**
 * The tasks of a run in file order and their predicted conflicts.
 *
 * **Details**
 *
 * `overlaps` holds one entry per overlapping pair of tasks, ordered by `a` then `b` in file order. A task id
 * that occurs twice counts once, at its first position (decoded task files never repeat an id).
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const plan: Plan.Plan<Plan.Owner> = Plan.make([{ id: "a", owns: ["a/**"] }, { id: "b", owns: ["b/**"] }])
 * console.log(plan.tasks.length, plan.overlaps.length) // 2 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Plan<out T extends Owner = Task> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly tasks: ReadonlyArray<T>
  readonly overlaps: ReadonlyArray<Overlap>
}

/**
 * Whether a value is a `Plan`.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * console.log(Plan.isPlan(Plan.make([])), Plan.isPlan({ tasks: [] })) // true false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isPlan = (u: unknown): u is Plan<Owner> => hasProperty(u, TypeId)

/**
 * Whether a repository-relative path matches a glob.
 *
 * **When to use**
 *
 * To test one glob; `ownedBy` tests a task's globs.
 *
 * **Details**
 *
 * Paths are as git prints them: relative, `/`-separated, no leading `./`. A glob that does not parse (an
 * unclosed `[` or `{`, a `..` segment; `Task` refuses these) matches nothing. See the module's comment for the
 * syntax; note that a glob without wildcards also matches everything under it.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * console.log(Plan.matches("src/*.ts", "src/a.ts"), Plan.matches("src/*.ts", "src/x/a.ts")) // true false
 * console.log(Plan.matches("src/**", "src/x/a.ts"), Plan.matches("src/x", "src/x/a.ts")) // true true
 * console.log(Plan.matches("{docs,notes}/*.md", "notes/a.md"), Plan.matches("[!a]*", "abc")) // true false
 * ```
 *
 * @see {@link overlaps}
 * @category globs
 * @since 0.1.0
 */
export const matches = (glob: string, path: string): boolean => {
  const compiled = Glob.compile(glob)
  return compiled !== undefined && Glob.matches(compiled, path)
}

/**
 * A path that both globs match, or `undefined` when no path does.
 *
 * **When to use**
 *
 * To show why two globs overlap (`format` uses it).
 *
 * **Details**
 *
 * The path found is a shortest one in segments; when it is not `undefined`, `matches` is true for both globs.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * console.log(Plan.commonPath("src/**", "*\/a.ts"), Plan.commonPath("*.md", "docs/x.md")) // "src/a.ts" undefined
 * ```
 *
 * @see {@link overlaps}
 * @category globs
 * @since 0.1.0
 */
export const commonPath = (a: string, b: string): string | undefined => {
  const ca = Glob.compile(a)
  const cb = Glob.compile(b)
  return ca === undefined || cb === undefined ? undefined : Glob.witness(ca, cb)
}

/**
 * Whether some path matches both globs.
 *
 * **When to use**
 *
 * To predict whether two tasks may touch the same file.
 *
 * **Details**
 *
 * Exact, not a heuristic: it intersects the globs' automata segment by segment (and character by character
 * inside a segment), so it is true exactly when a common path exists. A glob that does not parse overlaps
 * nothing.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * console.log(Plan.overlaps("src/a/**", "src/b/**"), Plan.overlaps("src/**", "src/a.ts")) // false true
 * console.log(Plan.overlaps("src/*.ts", "src/a.*"), Plan.overlaps("*.md", "docs/x.md")) // true false
 * console.log(Plan.overlaps("**\/*.ts", "src/a.ts"), Plan.overlaps("{a,b}/x", "b/**")) // true true
 * ```
 *
 * @see {@link commonPath}
 * @category globs
 * @since 0.1.0
 */
export const overlaps = (a: string, b: string): boolean => commonPath(a, b) !== undefined

interface Index {
  readonly order: ReadonlyMap<string, number>
  readonly neighbours: ReadonlyMap<string, ReadonlySet<string>>
}

const indexes = new WeakMap<object, Index>()

const PlanProto = {
  [TypeId]: TypeId,
  pipe() {
    // oxlint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

const indexOf = (plan: Plan<Owner>): Index => indexes.get(plan)!

/**
 * Plans a list of tasks: finds every pair whose owned globs overlap.
 *
 * **When to use**
 *
 * Once per run, on the decoded tasks (`Task.decodeFile`), before anything starts.
 *
 * **Details**
 *
 * Pure and synchronous. Each pair of tasks is compared glob by glob until the first overlapping pair; the
 * cost grows with the square of the number of tasks (100 tasks of 3 globs each plan in milliseconds).
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const plan = Plan.make([
 *   { id: "parser", owns: ["src/parser/**"] },
 *   { id: "lexer", owns: ["src/lexer/**"] },
 *   { id: "tokens", owns: ["src/{lexer,parser}/tokens.ts"] }
 * ])
 * console.log(plan.overlaps.map((o) => `${o.a}/${o.b}`)) // ["parser/tokens","lexer/tokens"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <T extends Owner>(tasks: ReadonlyArray<T>): Plan<T> => {
  const order = new Map<string, number>()
  const unique: Array<T> = []
  for (const task of tasks) {
    if (order.has(task.id)) continue
    order.set(task.id, unique.length)
    unique.push(task)
  }
  const neighbours = new Map<string, Set<string>>(unique.map((task) => [task.id, new Set<string>()]))
  const found: Array<Overlap> = []
  for (let i = 0; i < unique.length; i++) {
    for (let j = i + 1; j < unique.length; j++) {
      const a = unique[i]
      const b = unique[j]
      pairs: for (const ga of a.owns) {
        for (const gb of b.owns) {
          const example = commonPath(ga, gb)
          if (example === undefined) continue
          found.push({ a: a.id, b: b.id, globs: [ga, gb], example })
          neighbours.get(a.id)!.add(b.id)
          neighbours.get(b.id)!.add(a.id)
          break pairs
        }
      }
    }
  }
  const plan: Plan<T> = Object.assign(Object.create(PlanProto), { tasks, overlaps: found })
  indexes.set(plan, { order, neighbours })
  return plan
}

/**
 * The tasks predicted to conflict with one task, in file order.
 *
 * **When to use**
 *
 * To tell a user what a task waits for, or what a conflicted task collided with.
 *
 * **Details**
 *
 * An id not in the plan conflicts with nothing.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const plan = Plan.make([
 *   { id: "a", owns: ["src/**"] },
 *   { id: "b", owns: ["docs/**"] },
 *   { id: "c", owns: ["src/c.ts"] }
 * ])
 * console.log(Plan.conflictsOf(plan, "c"), plan.pipe(Plan.conflictsOf("b"))) // ["a"] []
 * ```
 *
 * @category queries
 * @since 0.1.0
 */
export const conflictsOf: {
  (id: string): (plan: Plan<Owner>) => ReadonlyArray<string>
  (plan: Plan<Owner>, id: string): ReadonlyArray<string>
} = dual(2, (plan: Plan<Owner>, id: string): ReadonlyArray<string> => {
  const { neighbours, order } = indexOf(plan)
  return [...(neighbours.get(id) ?? [])].sort((x, y) => order.get(x)! - order.get(y)!)
})

/**
 * Whether a path is one a task owns: it matches one of the task's globs.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const task = { id: "parser", owns: ["src/parser", "test/parser.test.ts"] }
 * console.log(Plan.ownedBy(task, "src/parser/index.ts"), Plan.ownedBy(task, "src/lexer.ts")) // true false
 * ```
 *
 * @see {@link outside}
 * @category queries
 * @since 0.1.0
 */
export const ownedBy: {
  (path: string): (task: Pick<Owner, "owns">) => boolean
  (task: Pick<Owner, "owns">, path: string): boolean
} = dual(2, (task: Pick<Owner, "owns">, path: string): boolean =>
  task.owns.some((glob) => matches(glob, path))
)

/**
 * The changed paths a task does not own, in the order given.
 *
 * **When to use**
 *
 * After an agent's attempt is committed: the pool reports (or refuses) changes outside the task's owned paths,
 * because they are what the plan did not foresee and may conflict with other tasks.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const task = { id: "parser", owns: ["src/parser/**"] }
 * console.log(Plan.outside(task, ["src/parser/a.ts", "package.json", "src/lexer.ts"])) // ["package.json","src/lexer.ts"]
 * ```
 *
 * @see {@link ownedBy}
 * @category queries
 * @since 0.1.0
 */
export const outside: {
  (paths: ReadonlyArray<string>): (task: Pick<Owner, "owns">) => ReadonlyArray<string>
  (task: Pick<Owner, "owns">, paths: ReadonlyArray<string>): ReadonlyArray<string>
} = dual(2, (task: Pick<Owner, "owns">, paths: ReadonlyArray<string>): ReadonlyArray<string> =>
  paths.filter((path) => !ownedBy(task, path))
)

/**
 * What is running and what has finished, as `ready` reads it.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const state: Plan.State = { running: new Set(["a"]), done: new Set() }
 * console.log(state.running.has("a")) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  /** Tasks started (queued for a worker or at work) and not yet finished. */
  readonly running: ReadonlySet<string>
  /** Tasks finished for good: merged, failed, conflicted or skipped. */
  readonly done: ReadonlySet<string>
}

/**
 * The candidates that may start now, in the order given: the serialization rule of the pool.
 *
 * **When to use**
 *
 * Each time a task is queued or finishes, on the tasks waiting to start.
 *
 * **Details**
 *
 * A candidate may start when no task it overlaps is running and every task it overlaps that comes earlier in
 * file order is done. Candidates returned together never overlap each other (a later one would wait for the
 * earlier). The rule cannot deadlock: a task only ever waits for tasks before it in file order, so the earliest
 * task not done waits for nothing but running tasks to finish. A task that finishes and is queued again (a
 * retry) is simply not in `done` meanwhile, and later overlapping tasks wait for it again. An id not in the
 * plan overlaps nothing, and a candidate given twice is returned once.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const plan = Plan.make([
 *   { id: "a", owns: ["src/**"] },
 *   { id: "b", owns: ["src/b.ts"] },
 *   { id: "c", owns: ["docs/**"] }
 * ])
 * console.log(Plan.ready(plan, { running: new Set(), done: new Set() }, ["a", "b", "c"])) // ["a","c"]
 * console.log(Plan.ready(plan, { running: new Set(["c"]), done: new Set(["a"]) }, ["b"])) // ["b"]
 * ```
 *
 * @category scheduling
 * @since 0.1.0
 */
export const ready: {
  (state: State, candidates: ReadonlyArray<string>): (plan: Plan<Owner>) => ReadonlyArray<string>
  (plan: Plan<Owner>, state: State, candidates: ReadonlyArray<string>): ReadonlyArray<string>
} = dual(3, (plan: Plan<Owner>, state: State, candidates: ReadonlyArray<string>): ReadonlyArray<string> => {
  const { neighbours, order } = indexOf(plan)
  const starting = new Set<string>()
  for (const id of candidates) {
    if (starting.has(id)) continue
    const position = order.get(id)
    const blocked = [...(neighbours.get(id) ?? [])].some(
      (other) =>
        state.running.has(other) ||
        starting.has(other) ||
        (order.get(other)! < position! && !state.done.has(other))
    )
    if (!blocked) starting.add(id)
  }
  return [...starting]
})

/**
 * The plan as text for a person: each task with what it owns, then each predicted conflict.
 *
 * **When to use**
 *
 * Before a run (`handoffkit pool plan`), so the user sees which tasks will run one after the other and can
 * split owned paths more finely.
 *
 * **Example**
 *
 * ```ts
 * import * as Plan from "@handoffkit/pool/Plan"
 *
 * const text = Plan.format(Plan.make([
 *   { id: "fix-a", owns: ["src/x/**"] },
 *   { id: "fix-b", owns: ["src/x/y.ts", "docs/**"] }
 * ]))
 * console.log(text.split("\n").at(-1)) // "  fix-a and fix-b both own src/x/** ∩ src/x/y.ts: run one after the other"
 * console.log(Plan.format(Plan.make([{ id: "a", owns: ["a"] }])).split("\n").at(-1)) // "no predicted conflicts"
 * ```
 *
 * @category formatting
 * @since 0.1.0
 */
export const format = (plan: Plan<Owner>): string => {
  const lines: Array<string> = []
  const count = plan.overlaps.length
  lines.push(`${plan.tasks.length} task${plan.tasks.length === 1 ? "" : "s"}:`)
  const seen = new Set<string>()
  for (const task of plan.tasks) {
    if (seen.has(task.id)) continue
    seen.add(task.id)
    lines.push(`  ${task.id} owns ${task.owns.join(", ")}`)
  }
  if (count === 0) {
    lines.push("no predicted conflicts")
  } else {
    lines.push(`${count} predicted conflict${count === 1 ? "" : "s"}:`)
    for (const overlap of plan.overlaps) {
      const [ga, gb] = overlap.globs
      const both = ga === gb ? ga : `${ga} ∩ ${gb}`
      lines.push(`  ${overlap.a} and ${overlap.b} both own ${both}: run one after the other`)
    }
  }
  return lines.join("\n")
}
