/**
 * A review of a repository by k reviewers, each owning one area of it: the tracked files are split into k
 * disjoint scopes balanced by bytes, one reviewer a scope reports findings with file and line, and the
 * findings are joined, deduplicated and sorted. Its guarantee: every tracked file is in exactly one scope, and
 * the scopes' sizes differ by no more than the largest file; a reviewer that fails is reported, and the
 * others' findings are kept.
 *
 * **When to use**
 *
 * Behind `handoffkit review`, or to fan a review out to agents yourself: `run` with a `Reviewer` — `builtin`
 * (offline checks), `codex` (one Codex agent a scope) or `command` (any program a scope). `scopes` alone
 * splits a file list, e.g. into the owned globs of a pool's tasks.
 *
 * **Details**
 *
 * - Scopes keep directories whole where that does not break the bound, so each reads as an area of ownership;
 *   `Scope.owns` names it as globs of `@handoffkit/pool`'s `Plan`.
 * - The reviewers run concurrently, one fiber each, and their reports meet in a `Join` round of
 *   `@handoffkit/core`: one part per reviewer, success or failure, so the round always completes.
 * - A result is plain data: `JSON.stringify` of it is the `--json` form; `format` is the text form.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { Cause, Duration, Effect, Exit, Option, Redacted, Schema, Stream } from "effect"
import * as ChildProcess from "effect/process/ChildProcess"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import { Budget, Join } from "@handoffkit/core"
import * as Codex from "@handoffkit/llm/Codex"
import * as Git from "@handoffkit/pool/Git"
import * as internal from "./internal/review.ts"

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/**
 * How serious a finding is: `"error"` (wrong: a bug, a conflict marker), `"warning"` (likely wrong),
 * `"info"` (worth a look).
 *
 * **When to use**
 *
 * In `Finding.severity`; decode a reviewer's output with it.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * console.log(Schema.is(Review.Severity)("warning"), Schema.is(Review.Severity)("high")) // true false
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Severity = Schema.Literals(["error", "warning", "info"])

/**
 * @category models
 * @since 0.1.0
 */
export type Severity = typeof Severity.Type

/**
 * One finding of one reviewer: a file (relative to the repository's top directory), a 1-based line, a
 * severity and a message.
 *
 * **When to use**
 *
 * What a `Reviewer` reports. Decode findings you read yourself with this schema; `parseFindings` reads them
 * leniently from text.
 *
 * **Details**
 *
 * `file` and `message` are not empty; `line` is a whole number of 1 or more.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const finding = Schema.decodeUnknownSync(Review.Finding)({
 *   file: "src/a.ts", line: 3, severity: "error", message: "debugger statement"
 * })
 * console.log(`${finding.file}:${finding.line}`) // "src/a.ts:3"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Finding = Schema.Struct({
  file: Schema.NonEmptyString,
  line: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  severity: Severity,
  message: Schema.NonEmptyString
})

/**
 * @category models
 * @since 0.1.0
 */
export type Finding = typeof Finding.Type

/**
 * A tracked file of a repository and its size, as `listFiles` gives it.
 *
 * **When to use**
 *
 * The input of `scopes`.
 *
 * **Details**
 *
 * `path` is relative to the repository's top directory, `/`-separated, as git prints it. `size` is in bytes: a
 * whole number, 0 or more.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const file: Review.TrackedFile = { path: "src/index.ts", size: 1204 }
 * console.log(file.path) // "src/index.ts"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TrackedFile {
  readonly path: string
  readonly size: number
}

/**
 * One reviewer's area of ownership: its files, their total size, and the same area as globs.
 *
 * **When to use**
 *
 * A `Reviewer` gets its scope; a result lists every scope.
 *
 * **Details**
 *
 * - `reviewer` is 1 to k. Scopes are numbered in path order (reviewer 1's first file comes before reviewer
 *   2's); empty scopes come last.
 * - `files` is sorted; `bytes` is the sum of their sizes.
 * - `owns` are globs of `@handoffkit/pool`'s `Plan` (`src/**` for a directory kept whole, a path for a single
 *   file): every file of the scope matches one of them, no file of another scope does, and no two scopes'
 *   globs overlap, so they can be a pool task's owned paths. (A path holding a brace, a backslash or a control
 *   character, which a glob cannot spell, is written with `?` there and may match a neighbour too.)
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const [scope] = Review.scopesUnsafe([{ path: "docs/a.md", size: 10 }, { path: "docs/b.md", size: 20 }], 1)
 * console.log(scope.reviewer, scope.files, scope.bytes, scope.owns) // 1 ["docs/a.md", "docs/b.md"] 30 ["**"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Scope {
  readonly reviewer: number
  readonly files: ReadonlyArray<string>
  readonly bytes: number
  readonly owns: ReadonlyArray<string>
}

/**
 * What a reviewer is told besides its scope.
 *
 * **When to use**
 *
 * The second argument of a `Reviewer`.
 *
 * **Details**
 *
 * `repo` is the repository's top directory (absolute; the scope's paths are relative to it); `reviewers` is
 * k; `budget` is `run`'s, for reviewers that spend (the `codex` reviewer charges its runs to it).
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const context: Review.Context = { repo: "/src/project", reviewers: 3, budget: undefined }
 * console.log(context.reviewers) // 3
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Context {
  readonly repo: string
  readonly reviewers: number
  readonly budget: Budget.Budget | undefined
}

/**
 * What one reviewer reports: its findings, and how many pieces of its output were not findings.
 *
 * **When to use**
 *
 * Return it from a `Reviewer`; `parseFindings` makes one from text.
 *
 * **Details**
 *
 * `skipped` counts the lines (or JSON items) of the reviewer's output that were not findings. `run` adds the
 * findings it drops: those of files that are not tracked.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const report: Review.Report = {
 *   findings: [{ file: "src/a.ts", line: 1, severity: "info", message: "trailing whitespace" }],
 *   skipped: 0
 * }
 * console.log(report.findings.length) // 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly findings: ReadonlyArray<Finding>
  readonly skipped: number
}

/**
 * A reviewer: reviews the files of one scope of the repository and reports findings.
 *
 * **When to use**
 *
 * Pass one to `run`: `builtin`, `codex(...)`, `command(...)`, or your own function.
 *
 * **Details**
 *
 * `run` calls it once per non-empty scope, concurrently. It may report on files outside its scope (they are
 * kept, and deduplicated with their owner's findings) but not on untracked ones (dropped and counted as
 * skipped). Its failure, defect or timeout is the reviewer's entry in `Result.failed`; it never fails the run.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * // Reports the first line of every file of its scope.
 * const firstLines: Review.Reviewer<never> = (scope) =>
 *   Effect.succeed({
 *     findings: scope.files.map((file) => ({ file, line: 1, severity: "info" as const, message: "look here" })),
 *     skipped: 0
 *   })
 * const [scope] = Review.scopesUnsafe([{ path: "a.ts", size: 1 }], 1)
 * const report = Effect.runSync(firstLines(scope, { repo: "/r", reviewers: 1, budget: undefined }))
 * console.log(report.findings[0]?.file) // "a.ts"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Reviewer<E = ReviewerFailed, R = never> = (
  scope: Scope,
  context: Context
) => Effect.Effect<Report, E, R>

/**
 * A finding of the joined review: one per (file, line, message), with every reviewer that reported it.
 *
 * **Details**
 *
 * `reviewers` is sorted and holds each reviewer once; `severity` is the most severe one given.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const reported: Review.Reported = {
 *   file: "src/a.ts", line: 7, severity: "error", message: "merge conflict marker", reviewers: [1, 3]
 * }
 * console.log(reported.reviewers.length) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Reported extends Finding {
  readonly reviewers: ReadonlyArray<number>
}

/**
 * A reviewer that failed, and why.
 *
 * **Details**
 *
 * `error` is the failure's tag (`"ReviewerFailed"`, or `"Defect"` for a defect); `message` says what went
 * wrong.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const failure: Review.Failure = { reviewer: 2, error: "ReviewerFailed", message: "reviewer 2 failed: exit 1" }
 * console.log(failure.error) // "ReviewerFailed"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Failure {
  readonly reviewer: number
  readonly error: string
  readonly message: string
}

/**
 * How much of a reviewer's output was not a finding of a tracked file.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const skipped: Review.Skipped = { reviewer: 1, count: 2 }
 * console.log(skipped.count) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Skipped {
  readonly reviewer: number
  readonly count: number
}

/**
 * The outcome of a review: its scopes, the joined findings, and what failed or was skipped.
 *
 * **When to use**
 *
 * Read it from `run`; print it with `format`, or as JSON (`JSON.stringify(result)`): it is plain data.
 *
 * **Details**
 *
 * - `repo`: the repository's top directory. `scopes`: all k of them, empty ones included.
 * - `findings`: deduplicated (see `Reported`), sorted by file, then line, then message.
 * - `failed`: one entry per reviewer that failed, by reviewer. `skipped`: one per reviewer whose output held
 *   something that was not a finding of a tracked file, by reviewer.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const result: Review.Result = { repo: "/r", scopes: [], findings: [], failed: [], skipped: [] }
 * console.log(JSON.stringify(result)) // '{"repo":"/r","scopes":[],"findings":[],"failed":[],"skipped":[]}'
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Result {
  readonly repo: string
  readonly scopes: ReadonlyArray<Scope>
  readonly findings: ReadonlyArray<Reported>
  readonly failed: ReadonlyArray<Failure>
  readonly skipped: ReadonlyArray<Skipped>
}

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/**
 * An input of a review that cannot work: a number of reviewers below 1, a file list with a path twice, a
 * timeout that never ends.
 *
 * **When to use**
 *
 * Catch it with `Effect.catchTag("ReviewInvalid", ...)` to tell the user which option to fix.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const error = Effect.runSync(Effect.flip(Review.scopes([], 0)))
 * console.log(error.message) // invalid review option "reviewers": 0 is not a whole number of 1 or more
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ReviewInvalid extends Schema.TaggedError<ReviewInvalid>()("ReviewInvalid", {
  option: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `invalid review option "${this.option}": ${this.problem}`
  }
}

/**
 * The directory to review is not in a git worktree (or does not exist).
 *
 * **When to use**
 *
 * From `listFiles` and `run`: tell the user to run the review inside a repository.
 *
 * **Details**
 *
 * `detail` is git's reason.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const error = new Review.NotARepository({ path: "/tmp/x", detail: "fatal: not a git repository" })
 * console.log(error.message) // /tmp/x is not in a git worktree: fatal: not a git repository
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NotARepository extends Schema.TaggedError<NotARepository>()("NotARepository", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.path} is not in a git worktree${this.detail === "" ? "" : `: ${this.detail}`}`
  }
}

/**
 * A reviewer that could not review its scope: its program did not start or exited with an error, its agent
 * failed, a file could not be read, or its time ran out.
 *
 * **When to use**
 *
 * Fail with it from your own `Reviewer`; `run` lists it in `Result.failed`.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * console.log(new Review.ReviewerFailed({ reviewer: 2, detail: "lint exited with code 3" }).message)
 * // reviewer 2 failed: lint exited with code 3
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ReviewerFailed extends Schema.TaggedError<ReviewerFailed>()("ReviewerFailed", {
  reviewer: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `reviewer ${this.reviewer} failed: ${this.detail}`
  }
}

// -----------------------------------------------------------------------------
// Scopes
// -----------------------------------------------------------------------------

const checkReviewers = (k: number): ReviewInvalid | undefined =>
  Number.isSafeInteger(k) && k >= 1
    ? undefined
    : new ReviewInvalid({ option: "reviewers", problem: `${k} is not a whole number of 1 or more` })

const scopesOf = (files: ReadonlyArray<TrackedFile>, k: number): ReadonlyArray<Scope> | ReviewInvalid => {
  const invalid = checkReviewers(k)
  if (invalid !== undefined) return invalid
  const tree = internal.treeOf(files)
  if (typeof tree === "string") return new ReviewInvalid({ option: "files", problem: tree })
  return internal.scopesOf(tree, k)
}

/**
 * Splits files into `k` disjoint scopes balanced by bytes: every file is in exactly one scope, and the largest
 * scope holds at most the largest file's size more than the smallest.
 *
 * **When to use**
 *
 * To give k reviewers (or k pool tasks) areas of ownership; `run` does it for the tracked files.
 *
 * **Details**
 *
 * - Always exactly `k` scopes. With more reviewers than files (or than areas), some scopes are empty; `run`
 *   starts no reviewer for an empty scope.
 * - Balance: files go largest first to the scope with the fewest bytes, which keeps the bound. Directories
 *   are kept whole where the placement still meets the bound (first directories of up to a fair share of the
 *   bytes, then of half that, down to the largest file's size, where it always holds), and no whole directory
 *   holds more than its share of files, so scopes read as areas.
 * - Deterministic: the same files (in any order) and `k` give the same scopes. See `Scope` for the numbering.
 * - Fails with `ReviewInvalid` when `k` is not a whole number of 1 or more, or a file has an invalid path
 *   (empty, absolute, `.`/`..` segments), an invalid size, is listed twice, or is also another file's
 *   directory.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const files = [
 *   { path: "src/parse.ts", size: 400 },
 *   { path: "src/print.ts", size: 300 },
 *   { path: "docs/guide.md", size: 500 },
 *   { path: "docs/api.md", size: 200 }
 * ]
 * const scopes = Effect.runSync(Review.scopes(files, 2))
 * console.log(scopes.map((scope) => [scope.owns, scope.bytes])) // [[["docs/**"], 700], [["src/**"], 700]]
 * ```
 *
 * @see {@link scopesUnsafe} for the synchronous form
 * @category scopes
 * @since 0.1.0
 */
export const scopes = (
  files: ReadonlyArray<TrackedFile>,
  k: number
): Effect.Effect<ReadonlyArray<Scope>, ReviewInvalid> =>
  Effect.suspend(() => {
    const result = scopesOf(files, k)
    return result instanceof ReviewInvalid ? Effect.fail(result) : Effect.succeed(result)
  })

/**
 * `scopes`, synchronously: throws the `ReviewInvalid` instead of failing with it.
 *
 * **When to use**
 *
 * Where the input is known to be valid (a test, files from `listFiles`) and an Effect is in the way.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const scopes = Review.scopesUnsafe([{ path: "a.ts", size: 5 }], 3)
 * console.log(scopes.map((scope) => scope.files.length)) // [1, 0, 0]
 * ```
 *
 * @see {@link scopes}
 * @category scopes
 * @since 0.1.0
 */
export const scopesUnsafe = (files: ReadonlyArray<TrackedFile>, k: number): ReadonlyArray<Scope> => {
  const result = scopesOf(files, k)
  if (result instanceof ReviewInvalid) throw result
  return result
}

// -----------------------------------------------------------------------------
// Files
// -----------------------------------------------------------------------------

const tracked = (
  repo: string
): Effect.Effect<
  { readonly top: string; readonly files: ReadonlyArray<TrackedFile> },
  NotARepository | Git.GitError,
  Git.Git
> =>
  Effect.gen(function* () {
    const shown = yield* Git.run(repo, ["rev-parse", "--show-toplevel"], { okExitCodes: [0, 128] })
    if (shown.exitCode !== 0) return yield* new NotARepository({ path: repo, detail: shown.stderr.trim() })
    const top = shown.stdout.replace(/\r?\n[\s\S]*$/, "")
    const listed = yield* Git.run(top, ["ls-files", "-z", "--cached", "--full-name"])
    // An unmerged path is listed once per stage.
    const paths = [...new Set(listed.stdout.split("\0").filter((path) => path !== ""))].sort(internal.compare)
    const files = yield* Effect.forEach(
      paths,
      (path) =>
        Effect.promise(() =>
          Fs.promises.lstat(NodePath.join(top, path)).then(
            (stat) => (stat.isFile() ? stat.size : 0),
            () => 0
          )
        ).pipe(Effect.map((size): TrackedFile => ({ path, size }))),
      { concurrency: 32 }
    )
    return { top, files }
  })

/**
 * The tracked files of the repository that `repo` is in, with their sizes.
 *
 * **When to use**
 *
 * To see what a review will cover, or to split a repository with `scopes` yourself.
 *
 * **Details**
 *
 * - `git ls-files -z --cached` through `@handoffkit/pool`'s `Git` service (an argv, never a shell), run in the
 *   top directory of `repo`'s worktree: paths are relative to it, sorted, each once (also when unmerged).
 * - Sizes are the worktree's: a regular file's size in bytes; 0 for a tracked path that is missing from the
 *   worktree, a symbolic link or a submodule.
 * - Fails with `NotARepository` when `repo` is not in a worktree (or does not exist), with `GitError` when
 *   git fails otherwise.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "review-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * Fs.mkdirSync(Path.join(repo, "src"))
 * Fs.writeFileSync(Path.join(repo, "src", "a.ts"), "export const a = 1\n")
 * Fs.writeFileSync(Path.join(repo, "notes.txt"), "not tracked\n")
 * execFileSync("git", ["-C", repo, "add", "src"])
 * const program = Review.listFiles(repo).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [{ path: "src/a.ts", size: 19 }]
 * ```
 *
 * @category files
 * @since 0.1.0
 */
export const listFiles = (
  repo: string
): Effect.Effect<ReadonlyArray<TrackedFile>, NotARepository | Git.GitError, Git.Git> =>
  Effect.map(tracked(repo), ({ files }) => files)

// -----------------------------------------------------------------------------
// Reviewers
// -----------------------------------------------------------------------------

/**
 * Reads findings from a reviewer's text output, leniently: what is not a finding is counted, never a failure.
 *
 * **When to use**
 *
 * In your own `Reviewer` that runs something printing findings; `codex` and `command` use it.
 *
 * **Details**
 *
 * - The whole text is read as one JSON document when it is one (an array of findings, `{ "findings": [...] }`
 *   or a single finding); otherwise one JSON value per line (JSON lines; a trailing comma is allowed).
 *   Blank lines and code fences are ignored.
 * - A finding is an object with `file` (or `path`; a leading `./` is dropped), `line` (a whole number of 1 or
 *   more, or a string of one), `message` (whitespace collapsed) and `severity`: `error`, `warning` or `info`,
 *   also under common other names (`critical`/`high` → error, `medium`/`minor` → warning, `low`/`nit`/`note`
 *   → info), `"warning"` when missing.
 * - Every other line, or item of a document, is counted in `skipped`.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const report = Review.parseFindings([
 *   "Here is what I found:",
 *   '{"file": "./src/a.ts", "line": "12", "severity": "high", "message": "unchecked index"}',
 *   '{"file": "src/b.ts", "line": 0, "message": "no line"}'
 * ].join("\n"))
 * console.log(report.findings, report.skipped)
 * // [{ file: "src/a.ts", line: 12, severity: "error", message: "unchecked index" }] 2
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export const parseFindings = (text: string): Report => internal.parse(text)

const isMissing = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === "ENOENT" || code === "ENOTDIR"
}

const readText = (
  repo: string,
  path: string,
  reviewer: number
): Effect.Effect<string | undefined, ReviewerFailed> =>
  Effect.tryPromise({
    try: async () => {
      const file = NodePath.join(repo, path)
      try {
        const stat = await Fs.promises.lstat(file)
        if (!stat.isFile() || stat.size > internal.maxFileBytes) return undefined
        const bytes = await Fs.promises.readFile(file)
        return internal.isBinary(bytes) ? undefined : new TextDecoder().decode(bytes)
      } catch (error) {
        // A tracked file deleted from the worktree is not there to review.
        if (isMissing(error)) return undefined
        throw error
      }
    },
    catch: (error) => new ReviewerFailed({ reviewer, detail: `cannot read ${path}: ${String(error)}` })
  })

/**
 * A reviewer that needs no model: it reads every file of its scope and reports what plain checks find.
 *
 * **When to use**
 *
 * Offline, in CI, or as a first pass before agents; also a deterministic reviewer for tests.
 *
 * **Details**
 *
 * Per line (1-based; `\r\n` endings are fine):
 * - `TODO` (info), `FIXME` and `XXX` (warning) as whole words: `"TODO marker"`.
 * - A merge conflict marker (error): `<<<<<<<` at the start of a line, then `=======` or `|||||||` and
 *   `>>>>>>>` after it.
 * - A `debugger;` statement on a line of its own, in JavaScript and TypeScript files (error).
 * - A space before a tab in the indentation (warning; tabs then spaces, for alignment, are fine).
 * - Trailing spaces or tabs (info), and lines of more than 120 characters (info).
 *
 * Binary files (a NUL byte in the first 8000 bytes, as git decides), files over 4 MiB, symbolic links,
 * submodules and tracked files missing from the worktree are not read. Fails with `ReviewerFailed` when a file
 * cannot be read for another reason.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "review-doc-"))
 * Fs.writeFileSync(Path.join(repo, "a.js"), "const a = 1\ndebugger;\n// FIXME: name\n")
 * const [scope] = Review.scopesUnsafe([{ path: "a.js", size: 36 }], 1)
 * const program = Review.builtin(scope, { repo, reviewers: 1, budget: undefined }).pipe(
 *   Effect.map((report) => report.findings.map((finding) => `${finding.line} ${finding.severity} ${finding.message}`)),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["2 error debugger statement", "3 warning FIXME marker"]
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export const builtin: Reviewer = (scope, context) =>
  Effect.gen(function* () {
    const findings: Array<Finding> = []
    for (const path of scope.files) {
      const text = yield* readText(context.repo, path, scope.reviewer)
      if (text !== undefined) findings.push(...internal.check(path, text))
    }
    return { findings, skipped: 0 }
  })

/**
 * Options of the `codex` reviewer.
 *
 * **Details**
 *
 * - `baseUrl`, `apiKey`, `model`, `config`, `codexPath`, `killGrace`: as in `Codex.Options` of
 *   `@handoffkit/llm`.
 * - `sandbox`: default `"read-only"`: a reviewer reads, it does not write.
 * - `homes`: a directory for the reviewers' `CODEX_HOME`s: reviewer n uses `<homes>/reviewer-<n>` (made when
 *   missing, and kept). Without it, each run gets a fresh temporary home, removed afterwards. Either way no
 *   two reviewers share a home: parallel codex runs sharing one interfere.
 * - `instructions`: added to the prompt (what to look for).
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const options: Review.CodexOptions = { model: "gpt-5.1-codex", homes: "/tmp/review-homes" }
 * console.log(options.sandbox ?? "read-only") // "read-only"
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export interface CodexOptions {
  readonly baseUrl?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly model?: string | undefined
  readonly sandbox?: Codex.Sandbox | undefined
  readonly config?: Readonly<Record<string, string>> | undefined
  readonly homes?: string | undefined
  readonly instructions?: string | undefined
  readonly codexPath?: string | undefined
  readonly killGrace?: Duration.Input | undefined
}

/**
 * The prompt of a Codex reviewer: who it is, the files it owns, and how to answer.
 *
 * **When to use**
 *
 * To see what the `codex` reviewer asks (or to ask the same of another agent).
 *
 * **Details**
 *
 * It names the scope's files one a line (`- <path>`) and asks for findings as JSON lines
 * `{"file", "line", "severity", "message"}`, nothing else, or `[]` when there are none.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const [scope] = Review.scopesUnsafe([{ path: "src/a.ts", size: 10 }], 1)
 * const prompt = Review.codexPrompt(scope, { repo: "/r", reviewers: 1, budget: undefined })
 * console.log(prompt.includes("\n- src/a.ts\n")) // true
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export const codexPrompt = (scope: Scope, context: Context, instructions?: string): string =>
  [
    `You are reviewer ${scope.reviewer} of ${context.reviewers}, reviewing the git repository in the current directory. ` +
      `Your area of ownership is the ${scope.files.length === 1 ? "file" : `${scope.files.length} files`} below ` +
      "(paths relative to the repository root); other reviewers own the rest, so report on these only.",
    "",
    ...scope.files.map((file) => `- ${file}`),
    "",
    "Read each file and report real problems: bugs, security issues, unhandled edge cases, misleading names or " +
      "comments. Do not change any file.",
    ...(instructions === undefined || instructions === "" ? [] : ["", instructions]),
    "",
    "Answer with the findings only, one a line, each a JSON object of this shape:",
    '{"file": "path/of/the/file", "line": 12, "severity": "error", "message": "what is wrong, in one sentence"}',
    '"file" is one of the paths above, "line" is 1-based, "severity" is "error", "warning" or "info". ' +
      "No prose and no code fences. If you find nothing, answer [] alone."
  ].join("\n")

/**
 * A reviewer that hands its scope to a Codex agent: one `codex exec` a scope, through `@handoffkit/llm`'s
 * `Codex.run`, in the repository's top directory.
 *
 * **When to use**
 *
 * For a model's review; `baseUrl` points it at any OpenAI-compatible server (a `ScriptedServer` in tests).
 *
 * **Details**
 *
 * - The prompt is `codexPrompt` (with `instructions`); codex runs in a read-only sandbox by default, with its
 *   own `CODEX_HOME` (see `CodexOptions.homes`), `HANDOFFKIT_REVIEWER=<n>` in its environment, and its trace
 *   events under the actor `review/reviewer-<n>`.
 * - Its final message is read with `parseFindings`: lines that are not findings are counted, not fatal.
 * - The run is charged to `Context.budget` (see `Codex.run`). A codex that fails (or a budget that refuses)
 *   is a `ReviewerFailed` with codex's reason; so is a run that ends without an answer. Interrupting the
 *   review (its timeout) kills codex and what it started.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([
 *     ScriptedServer.Turn.text('{"file": "a.ts", "line": 1, "severity": "warning", "message": "unused export"}')
 *   ])
 *   const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "review-codex-doc-"))
 *   Fs.writeFileSync(Path.join(repo, "a.ts"), "export const a = 1\n")
 *   const [scope] = Review.scopesUnsafe([{ path: "a.ts", size: 19 }], 1)
 *   const reviewer = Review.codex({ baseUrl: server.url })
 *   const report = yield* reviewer(scope, { repo, reviewers: 1, budget: undefined })
 *   Fs.rmSync(repo, { recursive: true, force: true })
 *   return report.findings.map((finding) => `${finding.file}:${finding.line} ${finding.message}`)
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["a.ts:1 unused export"]
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export const codex =
  (options?: CodexOptions): Reviewer =>
  (scope, context) =>
    Effect.gen(function* () {
      const reviewer = scope.reviewer
      const failed = (detail: string) => new ReviewerFailed({ reviewer, detail })
      const home =
        options?.homes === undefined ? undefined : NodePath.resolve(options.homes, `reviewer-${reviewer}`)
      if (home !== undefined) {
        yield* Effect.try({
          try: () => Fs.mkdirSync(home, { recursive: true }),
          catch: (error) => failed(`cannot make CODEX_HOME ${home}: ${String(error)}`)
        })
      }
      const result = yield* Codex.run({
        prompt: codexPrompt(scope, context, options?.instructions),
        directory: context.repo,
        sandbox: options?.sandbox ?? "read-only",
        model: options?.model,
        baseUrl: options?.baseUrl,
        apiKey: options?.apiKey,
        config: options?.config,
        codexHome: home,
        codexPath: options?.codexPath,
        killGrace: options?.killGrace,
        budget: context.budget,
        env: { HANDOFFKIT_REVIEWER: String(reviewer), HANDOFFKIT_REVIEWERS: String(context.reviewers) },
        actor: `review/reviewer-${reviewer}`
      }).pipe(Effect.mapError((error) => failed(error.message)))
      if (result.finalMessage === undefined) return yield* failed("codex ended its turn without an answer")
      return internal.parse(result.finalMessage)
    })

/**
 * Options of the `command` reviewer.
 *
 * **Details**
 *
 * - `input`: how the command gets its scope. `"stdin"` (default): a JSON object on stdin,
 *   `{"reviewer": n, "reviewers": k, "repo": "<top directory>", "files": [...]}`. `"args"`: the files appended
 *   to the argv (put `--` at the end of the argv if the program reads options), stdin closed.
 * - `env`: more environment variables. `okExitCodes`: exit codes that are not failures (default `[0]`; add 1
 *   for linters that exit 1 when they find something).
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const options: Review.CommandOptions = { input: "args", okExitCodes: [0, 1] }
 * console.log(options.input) // "args"
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export interface CommandOptions {
  readonly input?: "stdin" | "args" | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly okExitCodes?: ReadonlyArray<number> | undefined
}

const tail = (text: string, max: number): string => {
  const trimmed = text.trim()
  return trimmed.length <= max ? trimmed : `…${trimmed.slice(-max)}`
}

/**
 * A reviewer that runs a program once a scope, which prints its findings as JSON lines on stdout.
 *
 * **When to use**
 *
 * To plug in any tool or script (a linter wrapped to print findings, another agent's CLI).
 *
 * **Details**
 *
 * - `argv` is the program and its arguments, run as they are (never through a shell) in the repository's top
 *   directory, with `HANDOFFKIT_REVIEWER`, `HANDOFFKIT_REVIEWERS` and `HANDOFFKIT_REPO` added to the
 *   environment. The scope comes on stdin or as arguments (see `CommandOptions`).
 * - Stdout is read with `parseFindings`. An exit code outside `okExitCodes`, a signal, or a program that does
 *   not start is a `ReviewerFailed` naming the program, the code and the end of its stderr.
 * - The program runs in a process group of its own: interrupting the reviewer (the review's timeout) ends the
 *   group, SIGTERM then SIGKILL after 2 seconds.
 *
 * **Example**
 *
 * ```ts
 * import * as Os from "node:os"
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * // Reports line 1 of every file it is given.
 * const script = `
 *   let input = ""
 *   process.stdin.on("data", (chunk) => (input += chunk)).on("end", () => {
 *     for (const file of JSON.parse(input).files)
 *       console.info(JSON.stringify({ file, line: 1, severity: "info", message: "seen" }))
 *   })`
 * const reviewer = Review.command([process.execPath, "-e", script])
 * const [scope] = Review.scopesUnsafe([{ path: "a.ts", size: 1 }, { path: "b.ts", size: 1 }], 1)
 * const program = reviewer(scope, { repo: Os.tmpdir(), reviewers: 1, budget: undefined }).pipe(
 *   Effect.provide(NodeServices.layer)
 * )
 * Effect.runPromise(program).then((report) => console.log(report.findings.map((f) => f.file))) // ["a.ts", "b.ts"]
 * ```
 *
 * @category reviewers
 * @since 0.1.0
 */
export const command =
  (argv: ReadonlyArray<string>, options?: CommandOptions): Reviewer<ReviewerFailed, ChildProcessSpawner> =>
  (scope, context) =>
    Effect.gen(function* () {
      const reviewer = scope.reviewer
      const failed = (detail: string) => new ReviewerFailed({ reviewer, detail })
      const [program, ...args] = argv
      if (program === undefined || program === "") return yield* failed("the review command is empty")
      const byArgs = options?.input === "args"
      const payload = JSON.stringify({
        reviewer,
        reviewers: context.reviewers,
        repo: context.repo,
        files: scope.files
      })
      const spawner = yield* ChildProcessSpawner
      const output = yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* spawner.spawn(
            ChildProcess.make(program, byArgs ? [...args, ...scope.files] : args, {
              cwd: context.repo,
              env: {
                ...options?.env,
                HANDOFFKIT_REVIEWER: String(reviewer),
                HANDOFFKIT_REVIEWERS: String(context.reviewers),
                HANDOFFKIT_REPO: context.repo
              },
              extendEnv: true,
              detached: true,
              stdin: byArgs ? "ignore" : { stream: Stream.make(new TextEncoder().encode(payload)) },
              stdout: "pipe",
              stderr: "pipe",
              forceKillAfter: "2 seconds"
            })
          )
          const [stdout, stderr, exitCode] = yield* Effect.all(
            [
              Stream.mkString(Stream.decodeText(handle.stdout)),
              Stream.mkString(Stream.decodeText(handle.stderr)),
              handle.exitCode
            ],
            { concurrency: "unbounded" }
          )
          return { stdout, stderr, exitCode: exitCode as number }
        })
      ).pipe(Effect.mapError((error) => failed(`cannot run ${JSON.stringify(program)}: ${error.message}`)))
      if (!(options?.okExitCodes ?? [0]).includes(output.exitCode)) {
        const why = tail(output.stderr, 1000)
        return yield* failed(
          `${JSON.stringify(program)} exited with code ${output.exitCode}${why === "" ? "" : `: ${why}`}`
        )
      }
      return internal.parse(output.stdout)
    })

// -----------------------------------------------------------------------------
// Running a review
// -----------------------------------------------------------------------------

/**
 * Options of `run`.
 *
 * **Details**
 *
 * - `repo`: any directory in the repository's worktree. `reviewers`: k, 1 or more. `reviewer`: what reviews
 *   each scope.
 * - `budget`: passed to each reviewer (`Context.budget`); the `codex` reviewer charges its runs to it.
 * - `timeout`: how long each reviewer may take (default 30 minutes); one that takes longer is interrupted and
 *   listed as failed. Its clean-up after the interrupt (killing its processes) must take less than a minute:
 *   the join round that gathers the reports closes a minute after the timeout.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const options: Review.RunOptions = { repo: ".", reviewers: 4, reviewer: Review.builtin, timeout: "5 minutes" }
 * console.log(options.reviewers) // 4
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export interface RunOptions<E = ReviewerFailed, R = never> {
  readonly repo: string
  readonly reviewers: number
  readonly reviewer: Reviewer<E, R>
  readonly budget?: Budget.Budget | undefined
  readonly timeout?: Duration.Input | undefined
}

type Outcome =
  | { readonly _tag: "Reported"; readonly report: Report }
  | { readonly _tag: "Failed"; readonly failure: Failure }

const failureOf = <E>(reviewer: number, cause: Cause.Cause<E>): Failure => {
  const error = Cause.findError(cause)
  if (error._tag === "Success") {
    const value: unknown = error.success
    const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {}
    return {
      reviewer,
      error: typeof record._tag === "string" ? record._tag : "Error",
      message: typeof record.message === "string" ? record.message : String(value)
    }
  }
  if (Cause.hasInterruptsOnly(cause))
    return { reviewer, error: "Interrupted", message: `reviewer ${reviewer} was interrupted` }
  const defect = Cause.squash(cause)
  return {
    reviewer,
    error: "Defect",
    message: `reviewer ${reviewer} died: ${defect instanceof Error ? defect.message : String(defect)}`
  }
}

/** Keeps the findings of tracked files (paths made relative to the top directory), counting the others. */
const ownFindings = (report: Report, top: string, tracked: ReadonlySet<string>): Report => {
  const findings: Array<Finding> = []
  let skipped = report.skipped
  for (const raw of report.findings) {
    const finding = internal.findingOf(raw)
    const file =
      finding === undefined
        ? undefined
        : NodePath.isAbsolute(finding.file)
          ? NodePath.relative(top, finding.file)
          : finding.file
    if (finding === undefined || file === undefined || !tracked.has(file)) skipped++
    else findings.push(file === finding.file ? finding : { ...finding, file })
  }
  return { findings, skipped }
}

const senderOf = (reviewer: number): string => `reviewer-${reviewer}`

/**
 * Runs a review: lists the tracked files of `repo`, splits them into `reviewers` scopes, runs one reviewer a
 * non-empty scope, concurrently, and joins their findings.
 *
 * **When to use**
 *
 * The whole of `handoffkit review`; print the result with `format`, or as JSON.
 *
 * **Details**
 *
 * - Scopes: `scopes` of `listFiles`, so every tracked file is in exactly one scope. Empty scopes (more
 *   reviewers than areas) get no reviewer.
 * - Each reviewer runs in a fiber of its own and sends one part, its report or its failure, to a `Join` round
 *   (`@handoffkit/core`) that expects exactly those reviewers; the round completes when all have sent. A
 *   reviewer that fails, dies or passes `timeout` is listed in `failed` and the others' findings are kept.
 * - Findings are kept only for tracked files (an absolute path in the repository is made relative); the rest
 *   count as skipped. They are deduplicated by (file, line, message), keeping every reviewer that reported
 *   one, and sorted by file, then line.
 * - Fails only before any reviewer starts: `ReviewInvalid` (`reviewers` below 1, a `timeout` that is not
 *   finite and above zero), `NotARepository`, `GitError`. Interrupting it interrupts every reviewer.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "review-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * Fs.mkdirSync(Path.join(repo, "src"))
 * Fs.writeFileSync(Path.join(repo, "src", "a.ts"), "export const a = 1 \n")
 * Fs.writeFileSync(Path.join(repo, "README.md"), "# Demo\n\nTODO: write this\n")
 * execFileSync("git", ["-C", repo, "add", "."])
 * const program = Review.run({ repo, reviewers: 2, reviewer: Review.builtin }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * const lines = (result: Review.Result) => result.findings.map((f) => `${f.file}:${f.line} ${f.message} ${f.reviewers}`)
 * Effect.runPromise(program).then((result) => console.log(lines(result)))
 * // ["README.md:3 TODO marker 1", "src/a.ts:1 trailing whitespace 2"]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = <E = ReviewerFailed, R = never>(
  options: RunOptions<E, R>
): Effect.Effect<Result, ReviewInvalid | NotARepository | Git.GitError, Git.Git | R> =>
  Effect.gen(function* () {
    const k = options.reviewers
    const invalid = checkReviewers(k)
    if (invalid !== undefined) return yield* invalid
    const timeout = Option.getOrUndefined(Duration.fromInput(options.timeout ?? "30 minutes"))
    if (timeout === undefined || !Duration.isFinite(timeout) || Duration.toMillis(timeout) <= 0) {
      return yield* new ReviewInvalid({
        option: "timeout",
        problem: `${timeout === undefined ? String(options.timeout) : Duration.format(timeout)} is not a finite duration above zero`
      })
    }
    const { top, files } = yield* tracked(options.repo)
    const scopes = scopesOf(files, k)
    if (scopes instanceof ReviewInvalid) return yield* scopes
    const busy = scopes.filter((scope) => scope.files.length > 0)
    const context: Context = { repo: top, reviewers: k, budget: options.budget }
    const paths = new Set(files.map((file) => file.path))
    if (busy.length === 0) return { repo: top, scopes, findings: [], failed: [], skipped: [] }

    const round = yield* Effect.scoped(
      Effect.gen(function* () {
        // Every reviewer sends exactly one part before its own timeout, so the round completes before the
        // join's, which is a minute later.
        const join = yield* Join.make<Outcome>({
          parts: busy.map((scope) => senderOf(scope.reviewer)),
          timeout: Duration.sum(timeout, Duration.minutes(1)),
          name: "review"
        })
        for (const scope of busy) {
          yield* Effect.suspend(() => options.reviewer(scope, context)).pipe(
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () =>
                Effect.fail(
                  new ReviewerFailed({
                    reviewer: scope.reviewer,
                    detail: `did not finish within ${Duration.format(timeout)}`
                  })
                )
            }),
            Effect.exit,
            Effect.map((exit): Outcome =>
              Exit.isSuccess(exit)
                ? { _tag: "Reported", report: ownFindings(exit.value, top, paths) }
                : { _tag: "Failed", failure: failureOf(scope.reviewer, exit.cause) }
            ),
            Effect.flatMap((value) =>
              Join.offer(join, { correlationId: "review", from: senderOf(scope.reviewer), value })
            ),
            // Cannot fail: each reviewer sends once, as itself, before the round's timeout.
            Effect.orDie,
            Effect.forkScoped
          )
        }
        return yield* Join.await(join, "review")
      })
    ).pipe(Effect.orDie)

    const reports: Array<{ readonly reviewer: number; readonly findings: ReadonlyArray<Finding> }> = []
    const failed: Array<Failure> = []
    const skipped: Array<Skipped> = []
    for (const scope of busy) {
      const outcome = round.bySender.get(senderOf(scope.reviewer))!
      if (outcome._tag === "Failed") {
        failed.push(outcome.failure)
        continue
      }
      reports.push({ reviewer: scope.reviewer, findings: outcome.report.findings })
      if (outcome.report.skipped > 0)
        skipped.push({ reviewer: scope.reviewer, count: outcome.report.skipped })
    }
    return { repo: top, scopes, findings: internal.dedupe(reports), failed, skipped }
  })

/**
 * The text form of a review's result: the scopes, then the findings as `path:line  severity  message`, then
 * the reviewers that failed or whose output was skipped.
 *
 * **When to use**
 *
 * For `handoffkit review` without `--json`.
 *
 * **Example**
 *
 * ```ts
 * import * as Review from "@handoffkit/cli/Review"
 *
 * const text = Review.format({
 *   repo: "/r",
 *   scopes: [{ reviewer: 1, files: ["src/a.ts"], bytes: 20, owns: ["src/**"] }],
 *   findings: [{ file: "src/a.ts", line: 4, severity: "error", message: "debugger statement", reviewers: [1] }],
 *   failed: [],
 *   skipped: []
 * })
 * console.log(text.split("\n"))
 * // ["1 reviewer over 1 file (20 bytes):", "  reviewer 1: 1 file, 20 bytes: src/**", "", "1 finding:", "src/a.ts:4  error    debugger statement"]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const format = (result: Result): string => internal.format(result)
