/**
 * The tasks of a pool run and the file they come from. A task file (JSON, or YAML) lists tasks: each has an id
 * (which becomes the branch `handoffkit/<id>/<attempt>` and a directory name), a prompt for the coding agent,
 * and the paths it owns (globs relative to the repository root); optionally its own test gate, timeout,
 * retries, agent, commit author and message. Optional `defaults` apply to every task that does not set the
 * field. Its guarantee: a decoded task is safe to hand to git and to a process spawner. Every hostile or
 * mistyped input is refused with a `TaskFileError` naming the file, the entry and the field, never silently
 * ignored or passed on.
 *
 * **When to use**
 *
 * To read the task file of `handoffkit pool run` (`decodeFile`), or tasks built in a program (`decode`), before
 * `Plan.make` and `Pool.run`.
 *
 * **Details**
 *
 * ```yaml
 * defaults:                       # optional: applied to every task that does not set the field
 *   agent: { type: command, argv: ["node", "agent.js"] }
 *   gate: ["npm", "test"]
 *   timeout: 10 minutes           # or a number of milliseconds
 *   retries: 2
 *   author: { name: "Agent", email: "agent@example.com" }
 * tasks:                          # the file may also be a bare list of tasks
 *   - id: fix-parser              # required: see validateId
 *     prompt: "Fix the parser"    # required, not blank
 *     owns: ["src/parser/**", "test/parser.test.ts"]   # required, at least one glob
 *     title: "..."                # optional, one line; default: the prompt's first line, cut to 72 characters
 *     gate: ["npm", "test", "--", "parser"]            # optional argv, never a shell string
 *     timeout: "5 minutes"        # optional: a positive duration of at most 24 hours
 *     retries: 1                  # optional, 0 to 100: re-dispatches of a conflicted task (default 2)
 *     agent: codex                # optional: a name, {type: codex, model?, fast?} or {type: command, argv, env?}
 *     author: { name: "A", email: "a@example.com" }    # optional commit author
 *     message: "..."              # optional commit message (default: the title)
 * ```
 *
 * Rules, each one a `TaskFileError` when broken:
 * - Unknown fields are refused, with a guess at the one meant (`own` → did you mean owns?).
 * - Owned globs (syntax in `Plan`): relative, `/`-separated, no `..` segment, no backslash, no control
 *   character, not the git directory (`.git`, `.git/**`), brace alternatives included. They are normalized:
 *   `./src/x/` is `src/x`, doubled slashes and `.` segments go, and a glob listed twice is kept once. A glob
 *   without wildcards is a path and owns everything under it.
 * - `gate` and a command agent's `argv`: a non-empty list of non-empty strings without NUL. A string is refused
 *   with a hint: a shell string is never run.
 * - A codex `model` must start with a letter or a digit (it cannot pass for an option); `env` names are
 *   `[A-Za-z_][A-Za-z0-9_]*`; author names and emails hold no `<`, `>`, newline or NUL.
 * - Ids that are equal, or equal but for case (they name branches and directories), are refused, naming both
 *   entries.
 * - A task's own field replaces the default whole (an agent object is not merged with the default's).
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Result, Schema } from "effect"
import * as internal from "./internal/taskFile.ts"

/**
 * The agent a task names: the name of one the caller registers (`codex` is always known), or an object:
 * `{ type: "codex", model?, fast? }` or `{ type: "command", argv, env? }`.
 *
 * **When to use**
 *
 * To read a decoded task's `agent`; the pool turns it into an agent to run.
 *
 * **Details**
 *
 * A name is an id-like string (`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`). A command's `argv` is a non-empty list of
 * non-empty strings; it is spawned as is, never through a shell. `env` is added to the agent's environment.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const decode = Schema.decodeUnknownSync(Task.AgentSpec)
 * console.log(decode("codex"), decode({ type: "command", argv: ["node", "agent.js"] })) // "codex" {type:"command",argv:["node","agent.js"]}
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const AgentSpec = internal.AgentSpec

/**
 * @category models
 * @since 0.1.0
 */
export type AgentSpec = typeof AgentSpec.Type

/**
 * A commit author: `{ name, email }`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * console.log(Schema.is(Task.Author)({ name: "Agent", email: "agent@example.com" })) // true
 * console.log(Schema.is(Task.Author)({ name: "Agent <x>", email: "agent@example.com" })) // false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Author = internal.Author

/**
 * @category models
 * @since 0.1.0
 */
export type Author = typeof Author.Type

/**
 * A decoded task, with the file's defaults applied and its owned globs normalized.
 *
 * **When to use**
 *
 * As produced by `decode`/`decodeFile`; decoding a value with this schema checks a task built elsewhere
 * (restored from a journal, made in a program) by the same rules.
 *
 * **Details**
 *
 * `title` and `message` are always set (defaults: the prompt's first line, cut to 72 characters; the title);
 * `retries` defaults to 2. `gate`, `timeout`, `agent` and `author` are absent when neither the task nor the
 * defaults set them: the pool then uses its own settings.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const { tasks } = Effect.runSync(Task.decode(
 *   JSON.stringify([{ id: "fix-parser", prompt: "Fix the parser\n\nIt drops comments.", owns: ["./src/parser/"] }]),
 *   { file: "tasks.json" }
 * ))
 * const task: Task.Task = tasks[0]
 * console.log(task.title, task.owns, task.retries, task.message) // "Fix the parser" ["src/parser"] 2 "Fix the parser"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Task = Schema.Struct({
  id: internal.Id,
  title: internal.Line,
  prompt: internal.Text,
  owns: internal.Owns,
  gate: Schema.optional(internal.Argv),
  timeout: Schema.optional(internal.Timeout),
  retries: internal.Retries,
  agent: Schema.optional(AgentSpec),
  author: Schema.optional(Author),
  message: internal.Text
})

/**
 * @category models
 * @since 0.1.0
 */
export type Task = typeof Task.Type

/**
 * The tasks of one file, in file order (the order `Plan` serializes overlapping tasks in).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const file: Task.TaskFile = Effect.runSync(Task.decode("- {id: a, prompt: do a, owns: [a]}", { file: "t.yaml" }))
 * console.log(file.file, file.tasks.map((task) => task.id)) // "t.yaml" ["a"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TaskFile {
  readonly file: string
  readonly tasks: ReadonlyArray<Task>
}

/**
 * One problem of a task file: the entry (`task`: its id, or `#3` for the entry at index 3 when it has no
 * valid id; absent for the file as a whole or its `defaults`), the field (a path such as `owns[1]`,
 * `agent.argv`, `defaults.gate`) and the reason.
 *
 * **Example**
 *
 * ```ts
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const problem: Task.Problem = { task: "#3", field: "id", reason: "is empty" }
 * console.log(problem.task) // "#3"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Problem = Schema.Struct({
  task: Schema.UndefinedOr(Schema.String),
  field: Schema.UndefinedOr(Schema.String),
  reason: Schema.String
})

/**
 * @category models
 * @since 0.1.0
 */
export type Problem = typeof Problem.Type

const lineOf = (file: string, problem: Problem): string => {
  const task =
    problem.task === undefined
      ? ""
      : `task ${problem.task.startsWith("#") ? problem.task : internal.show(problem.task)}: `
  const field = problem.field === undefined ? "" : `field ${problem.field}: `
  return `${file}: ${task}${field}${problem.reason}`
}

/**
 * A task file that cannot be used: unreadable, empty, not JSON or YAML, or with tasks that break the rules.
 *
 * **When to use**
 *
 * `catchTag("TaskFileError")` to show the user what to fix; `problems` lists every problem found, not only
 * the first.
 *
 * **Details**
 *
 * `task`, `field` and `reason` are those of the first problem; `problems` holds all of them in file order. The
 * `message` has one line per problem: `tasks.yaml: task "fix-parser": field owns[1]: "../x" has a ".."
 * segment: it leaves the repository`. Values from the file are shown quoted with every non-ASCII or control
 * character escaped, and long ones cut, so a hostile id cannot garble a terminal.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const text = `tasks:\n  - id: fix-parser\n    prompt: Fix the parser\n    owns: ["src/**", "../x"]\n`
 * const error = Effect.runSync(Effect.flip(Task.decode(text, { file: "tasks.yaml" })))
 * console.log(error.task, error.field) // "fix-parser" "owns[1]"
 * console.log(error.message) // "tasks.yaml: task \"fix-parser\": field owns[1]: \"../x\" has a \"..\" segment: it leaves the repository"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class TaskFileError extends Schema.TaggedError<TaskFileError>()("TaskFileError", {
  file: Schema.String,
  task: Schema.UndefinedOr(Schema.String),
  field: Schema.UndefinedOr(Schema.String),
  reason: Schema.String,
  problems: Schema.Array(Problem)
}) {
  override get message(): string {
    const problems = this.problems.length > 0 ? this.problems : [this]
    return problems.map((problem) => lineOf(this.file, problem)).join("\n")
  }
}

const failure = (file: string, problems: ReadonlyArray<Problem>): TaskFileError =>
  new TaskFileError({ file, ...problems[0], problems })

/**
 * Checks a task id: it must match `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, hold no `..`, and not end in `.lock`
 * (in any case) or `.`.
 *
 * **When to use**
 *
 * To check an id before using it as a branch or directory name outside a task file (a CLI argument such as
 * `handoffkit pool retry <id>`).
 *
 * **Details**
 *
 * Ids become branch names `handoffkit/<id>/<attempt>` and directory names, so the rule is git's
 * `check-ref-format` and a portable file name, narrowed to ASCII: no `/`, spaces, shell characters, leading
 * `-` (it cannot pass for an option), `@{`, control characters, NUL or non-ASCII letters (no look-alikes, no
 * right-to-left marks). Succeeds with the id, or fails with the reason.
 *
 * **Example**
 *
 * ```ts
 * import { Result } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * console.log(Result.isSuccess(Task.validateId("fix-parser.2"))) // true
 * console.log(Result.getFailure(Task.validateId("--upload-pack=evil")).pipe((o) => o._tag === "Some" ? o.value : "")) // "\"--upload-pack=evil\" starts with \"-\": an id starts with a letter or a digit"
 * ```
 *
 * @category validation
 * @since 0.1.0
 */
export const validateId: (id: string) => Result.Result<string, string> = internal.validateId

/**
 * Decodes a task file's text.
 *
 * **When to use**
 *
 * For tasks that are not in a file of their own (built by a program, sent over the wire); `decodeFile` reads
 * a file.
 *
 * **Details**
 *
 * `file` names the source in errors and picks the format by its extension (`.json`, `.yaml`, `.yml`) unless
 * `format` is given. YAML is read with `effect/encoding/Yaml`. Fails with a `TaskFileError` carrying every
 * problem found: empty text, text that does not parse (with the parser's line), a value that is neither a
 * list of tasks nor `{ tasks, defaults? }`, an empty list, and every broken rule of the module's comment.
 *
 * **Example**
 *
 * ```ts
 * import { Duration, Effect } from "effect"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const text = [
 *   "defaults:",
 *   "  gate: [npm, test]",
 *   "  timeout: 10 minutes",
 *   "tasks:",
 *   "  - id: fix-parser",
 *   "    prompt: Fix the parser",
 *   "    owns: [src/parser/**]",
 *   "  - id: docs",
 *   "    prompt: Document the parser",
 *   "    owns: [docs/parser.md]",
 *   "    gate: [npm, run, docs]"
 * ].join("\n")
 * const { tasks } = Effect.runSync(Task.decode(text, { file: "tasks.yaml" }))
 * console.log(tasks.map((task) => task.gate?.join(" "))) // ["npm test","npm run docs"]
 * console.log(Duration.toMinutes(tasks[1].timeout!)) // 10
 * ```
 *
 * @see {@link decodeFile}
 * @category decoding
 * @since 0.1.0
 */
export const decode = (
  text: string,
  options: { readonly file: string; readonly format?: "json" | "yaml" | undefined }
): Effect.Effect<TaskFile, TaskFileError> =>
  Effect.suspend(() => {
    const format = options.format ?? internal.formatOf(options.file)
    if (format === undefined) {
      return Effect.fail(
        failure(options.file, [
          {
            task: undefined,
            field: undefined,
            reason: `has no .json, .yaml or .yml extension: say which format it is`
          }
        ])
      )
    }
    const result = internal.decodeText(text, format)
    return Result.isSuccess(result)
      ? Effect.succeed({ file: options.file, tasks: result.success })
      : Effect.fail(failure(options.file, result.failure))
  })

/**
 * Reads and decodes a task file.
 *
 * **When to use**
 *
 * For `handoffkit pool run tasks.yaml` and any program that runs a task file.
 *
 * **Details**
 *
 * The format comes from the extension (`.json`, `.yaml`, `.yml`); any other is a `TaskFileError` before the
 * file is read. A file that cannot be read (missing, a directory, no permission) is a `TaskFileError` naming
 * it, as is everything `decode` refuses.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import * as Task from "@handoffkit/pool/Task"
 *
 * const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "task-doc-"))
 * const file = Path.join(dir, "tasks.json")
 * Fs.writeFileSync(file, JSON.stringify({ tasks: [{ id: "notes", prompt: "Write notes", owns: ["notes.md"] }] }))
 * const program = Task.decodeFile(file).pipe(Effect.provide(NodeServices.layer))
 * const { tasks } = await Effect.runPromise(program)
 * Fs.rmSync(dir, { recursive: true })
 * console.log(tasks[0].id, tasks[0].owns) // "notes" ["notes.md"]
 * ```
 *
 * @see {@link decode}
 * @category decoding
 * @since 0.1.0
 */
export const decodeFile = (path: string): Effect.Effect<TaskFile, TaskFileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    if (internal.formatOf(path) === undefined) {
      return yield* Effect.fail(
        failure(path, [
          { task: undefined, field: undefined, reason: "has no .json, .yaml or .yml extension" }
        ])
      )
    }
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(path)
      .pipe(
        Effect.mapError((error) =>
          failure(path, [{ task: undefined, field: undefined, reason: `cannot be read: ${error.message}` }])
        )
      )
    return yield* decode(text, { file: path })
  })
