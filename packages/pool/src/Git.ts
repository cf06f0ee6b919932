/**
 * The worktree pool's only door to git: every git command the pool runs goes through the `Git` service, one
 * spawned `git` process a call, with an argv (never a shell). Its guarantees: no input is ever read by a shell
 * or as an option (`--end-of-options` before revisions, `--` before paths, literal pathspecs); git never waits
 * for a person (stdin closed, no prompt, no pager, no editor); no hook of the repository runs; moving a ref is a
 * compare-and-swap; and the two operations that could lose work refuse instead (`deleteMergedBranch` deletes
 * only a merged branch, `syncCheckout` never overwrites a local change).
 *
 * **When to use**
 *
 * Whenever the pool (or a test of it) touches a repository: making and removing worktrees, committing what an
 * agent left, predicting merges with `mergeTree`, building the merge train's commits with `commitTree`, and
 * moving the base branch with `updateRef`.
 *
 * **Details**
 *
 * - Every command is `git -C <dir> -c core.pager=cat -c core.hooksPath=/dev/null -c color.ui=false
 *   -c core.quotePath=false -c commit.gpgSign=false ... <args>`, with stdin on /dev/null and, on top of the
 *   caller's environment, `GIT_TERMINAL_PROMPT=0`, `GIT_EDITOR=true`, `GIT_PAGER=cat`, `GIT_OPTIONAL_LOCKS=0`,
 *   `GIT_LITERAL_PATHSPECS=1` and `LC_ALL=C` (git's messages, which some operations read, are in English).
 *   Variables that would point git at another repository (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, ...)
 *   and identity variables (`GIT_AUTHOR_*`, `GIT_COMMITTER_*`) are removed: identities are given per commit.
 * - The user's configuration (system, global, repository) still applies: filters such as LFS, merge settings,
 *   `safe.directory`. Only what could block, prompt, sign or run repository code is overridden.
 * - Each git runs in a process group of its own. Interrupting a call sends the group SIGTERM (git removes its
 *   lock files), SIGKILL after 2 seconds, and returns once git has exited; what git started (a slow filter) goes
 *   with it.
 * - A failing command is a `GitError` that names the command, the directory, the exit code and git's stderr.
 * - Operations take the directory first (`repo`: any worktree of the repository; `worktree`/`dir`: that one).
 *   Branch names are short (`feature/x`); refs are full (`refs/heads/feature/x`).
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Schema, type Scope, Semaphore } from "effect"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as forkServer from "./internal/forkServer.ts"
import * as parse from "./internal/gitParse.ts"
import * as runner from "./internal/gitRun.ts"

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

const shown = (arg: string): string => (/^[\w@%+=:,./^{}~-]+$/.test(arg) ? arg : JSON.stringify(arg))

/**
 * A git command that failed: it exited with a code the operation does not expect, was killed, or could not
 * start.
 *
 * **When to use**
 *
 * Catch it with `Effect.catchTag("GitError", ...)`; read `stderr` for git's reason.
 *
 * **Details**
 *
 * - `args`: the command's arguments after `git` and the fixed `-C`/`-c` options (`["worktree", "add", ...]`).
 * - `dir`: the directory given with `-C`. `exitCode`: git's exit code, or null when git was killed by a signal
 *   or could not start (then `stderr` says why).
 * - `stderr`: git's stderr, trimmed and cut to its first 4 KB.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const error = new Git.GitError({
 *   args: ["worktree", "add", "-b", "t1", "--", "/tmp/w 1", "main"],
 *   dir: "/x",
 *   exitCode: 128,
 *   stderr: "fatal: invalid reference: main"
 * })
 * console.log(error.message) // git worktree add -b t1 -- "/tmp/w 1" main in /x failed (exit 128): fatal: invalid reference: main
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class GitError extends Schema.TaggedError<GitError>()("GitError", {
  args: Schema.Array(Schema.String),
  dir: Schema.String,
  exitCode: Schema.NullOr(Schema.Number),
  stderr: Schema.String
}) {
  override get message(): string {
    const how = this.exitCode === null ? "did not exit normally" : `exit ${this.exitCode}`
    const why = this.stderr === "" ? "" : `: ${this.stderr}`
    return `git ${this.args.map(shown).join(" ")} in ${this.dir} failed (${how})${why}`
  }
}

const refAt = (value: string | null): string => (value === null ? "absent" : `at ${value}`)

/**
 * A compare-and-swap of a ref that found the ref somewhere else than expected, so nothing was changed.
 *
 * **When to use**
 *
 * From `updateRef`, `createRef` and `deleteRef`: someone else moved the ref; read `actual`, recompute, retry.
 *
 * **Details**
 *
 * `expected` is null for `createRef` (the ref was expected not to exist); `actual` is null when the ref does
 * not exist. `actual` is read right after the failed swap.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const error = new Git.RefMoved({ repo: "/x", ref: "refs/heads/main", expected: "a1b2", actual: "c3d4" })
 * console.log(error.message) // refs/heads/main in /x is at c3d4, not at a1b2: it was not changed
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class RefMoved extends Schema.TaggedError<RefMoved>()("RefMoved", {
  repo: Schema.String,
  ref: Schema.String,
  expected: Schema.NullOr(Schema.String),
  actual: Schema.NullOr(Schema.String)
}) {
  override get message(): string {
    return `${this.ref} in ${this.repo} is ${refAt(this.actual)}, not ${refAt(this.expected)}: it was not changed`
  }
}

/**
 * `worktreeAdd` asked to create a branch that already exists.
 *
 * **When to use**
 *
 * Catch it to reuse the branch (`worktreeAddExisting`) or pick another name.
 *
 * **Details**
 *
 * Nothing was created: no branch, no worktree.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * console.log(new Git.BranchExists({ repo: "/x", branch: "t1" }).message) // the branch t1 already exists in /x
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class BranchExists extends Schema.TaggedError<BranchExists>()("BranchExists", {
  repo: Schema.String,
  branch: Schema.String
}) {
  override get message(): string {
    return `the branch ${this.branch} already exists in ${this.repo}`
  }
}

/**
 * A branch that an operation needs does not exist.
 *
 * **When to use**
 *
 * From `worktreeAddExisting`.
 *
 * **Details**
 *
 * Nothing was created.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * console.log(new Git.NoSuchBranch({ repo: "/x", branch: "t1" }).message) // there is no branch t1 in /x
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class NoSuchBranch extends Schema.TaggedError<NoSuchBranch>()("NoSuchBranch", {
  repo: Schema.String,
  branch: Schema.String
}) {
  override get message(): string {
    return `there is no branch ${this.branch} in ${this.repo}`
  }
}

/**
 * `deleteMergedBranch` refused: the branch has commits that `into` does not contain.
 *
 * **When to use**
 *
 * Catch it to keep the branch (its work is not merged) and report it.
 *
 * **Details**
 *
 * The branch was not deleted and not changed.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const error = new Git.BranchNotMerged({ repo: "/x", branch: "t1", into: "refs/heads/main" })
 * console.log(error.message) // the branch t1 in /x is not merged into refs/heads/main: it was kept
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class BranchNotMerged extends Schema.TaggedError<BranchNotMerged>()("BranchNotMerged", {
  repo: Schema.String,
  branch: Schema.String,
  into: Schema.String
}) {
  override get message(): string {
    return `the branch ${this.branch} in ${this.repo} is not merged into ${this.into}: it was kept`
  }
}

/**
 * `deleteMergedBranch` refused: the branch is checked out in a worktree.
 *
 * **When to use**
 *
 * Remove the worktree first (`worktreeRemove`), then delete the branch.
 *
 * **Details**
 *
 * The branch was not deleted.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const error = new Git.BranchCheckedOut({ repo: "/x", branch: "t1", worktree: "/w/t1" })
 * console.log(error.message) // the branch t1 in /x is checked out in /w/t1: it was kept
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class BranchCheckedOut extends Schema.TaggedError<BranchCheckedOut>()("BranchCheckedOut", {
  repo: Schema.String,
  branch: Schema.String,
  worktree: Schema.String
}) {
  override get message(): string {
    return `the branch ${this.branch} in ${this.repo} is checked out in ${this.worktree}: it was kept`
  }
}

/**
 * `syncCheckout` refused: bringing the checkout from `old` to `next` would overwrite a local change (an edited
 * or staged file that the move changes, an untracked file in the way of a new one, an unfinished merge).
 *
 * **When to use**
 *
 * Tell the user their checkout is behind its branch: the branch moved, their files did not. They can bring
 * them up to date themselves (`git stash; git reset --hard; git stash pop`, or a commit and a merge).
 *
 * **Details**
 *
 * Nothing was changed: not the index, not a file. `detail` is git's explanation (it names the paths).
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const error = new Git.CheckoutStale({
 *   repo: "/x", old: "a1b2", next: "c3d4", detail: "error: Entry 'a.txt' not uptodate. Cannot merge."
 * })
 * console.log(error.message) // the checkout in /x was left at a1b2 …: error: Entry 'a.txt' not uptodate. Cannot merge.
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class CheckoutStale extends Schema.TaggedError<CheckoutStale>()("CheckoutStale", {
  repo: Schema.String,
  old: Schema.String,
  next: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `the checkout in ${this.repo} was left at ${this.old} (its branch is at ${this.next}): local changes would be overwritten: ${this.detail}`
  }
}

// -----------------------------------------------------------------------------
// The service
// -----------------------------------------------------------------------------

/**
 * Options of one raw git command (`run`).
 *
 * **When to use**
 *
 * With `run`, for a git command that has no operation here.
 *
 * **Details**
 *
 * - `env`: more environment variables for this command (on top of the fixed ones; they can override them).
 * - `okExitCodes`: exit codes that are not failures (default `[0]`); any other is a `GitError`.
 * - `maxStdoutBytes`: keep at most this many bytes of stdout (the rest is read and dropped; `truncated` says
 *   so). Default: all of it.
 * - `input`: what git reads on its stdin (then closed); default: nothing (stdin is `/dev/null`).
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const options: Git.RunOptions = { okExitCodes: [0, 1], maxStdoutBytes: 1024 }
 * console.log(options.okExitCodes) // [0, 1]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RunOptions {
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly okExitCodes?: ReadonlyArray<number> | undefined
  readonly maxStdoutBytes?: number | undefined
  readonly input?: string | undefined
}

/**
 * What a raw git command printed, and its exit code.
 *
 * **When to use**
 *
 * Read it from `run`.
 *
 * **Details**
 *
 * `stdout` and `stderr` are decoded as UTF-8. `stdoutBytes` is the size of the whole stdout, also when only
 * `maxStdoutBytes` of it were kept (`truncated`).
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const output: Git.Output = { exitCode: 0, stdout: "main\n", stderr: "", stdoutBytes: 5, truncated: false }
 * console.log(output.stdout.trim()) // "main"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Output {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  readonly stdoutBytes: number
  readonly truncated: boolean
}

/**
 * The git service: runs one git command (see the module doc for how), the primitive every operation of this
 * module is built on.
 *
 * **When to use**
 *
 * Provide it with `layer` (on a `ChildProcessSpawner`) or `layerNode`; call the operations of this module,
 * which use it. Provide another implementation to record or refuse commands in a test.
 *
 * **Details**
 *
 * `run(dir, args, options)` runs `git -C dir <fixed options> ...args` (no `-C` when `dir` is undefined) and
 * fails with `GitError` unless the exit code is in `options.okExitCodes` (default `[0]`).
 *
 * **Example**
 *
 * ```ts
 * import * as Os from "node:os"
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const program = Effect.gen(function*() {
 *   const git = yield* Git.Git
 *   const output = yield* git.run(Os.tmpdir(), ["check-ref-format", "refs/heads/feature/x"])
 *   return output.exitCode
 * }).pipe(Effect.provide(Git.layerNode))
 * Effect.runPromise(program).then(console.log) // 0
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Git extends Context.Service<
  Git,
  {
    readonly run: (
      dir: string | undefined,
      args: ReadonlyArray<string>,
      options?: RunOptions
    ) => Effect.Effect<Output, GitError>
  }
>()("@handoffkit/pool/Git") {}

/** A full object id (SHA-1 or SHA-256): never an option, never a name to resolve. */
const isObjectId = (text: string): boolean => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(text)

/**
 * Makes the git service on a `ChildProcessSpawner`.
 *
 * **When to use**
 *
 * To build the service yourself; `layer` is this as a Layer.
 *
 * **Details**
 *
 * The service spawns the `git` found on the PATH. Its `worktree` commands (`add`, `remove`, `prune`, ...) run
 * one at a time: git's worktree administration is not safe to run concurrently on one repository.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const program = Effect.gen(function*() {
 *   const git = yield* Git.make
 *   const output = yield* git.run(undefined, ["--version"])
 *   return output.stdout.startsWith("git version")
 * }).pipe(Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Git["Service"], never, ChildProcessSpawner> = Effect.gen(function* () {
  const spawner = yield* ChildProcessSpawner
  return yield* serviceOf((request) => runner.run(spawner, request))
})

/**
 * A git service whose commands a small helper process starts (see the module's `layerForked`), living in the
 * current scope; when the helper is gone, commands are spawned directly.
 *
 * **When to use**
 *
 * In a long run that spawns many git commands from a large process: the pool's own layer uses it.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const program = Effect.gen(function*() {
 *   const git = yield* Git.makeForked
 *   const output = yield* git.run(undefined, ["--version"])
 *   return output.stdout.startsWith("git version")
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeForked: Effect.Effect<Git["Service"], never, ChildProcessSpawner | Scope.Scope> = Effect.gen(
  function* () {
    const spawner = yield* ChildProcessSpawner
    const direct = (request: runner.Request) => runner.run(spawner, request)
    // The server boots (a Node process: tens of milliseconds) beside the caller's first commands, which spawn
    // directly until it is up; if it never comes up, or dies, they always do.
    let server: forkServer.ForkServer | undefined
    yield* Effect.forkScoped(
      forkServer.start(spawner).pipe(
        Effect.tap((started) => Effect.sync(() => (server = started))),
        Effect.ignore
      )
    )
    const service = yield* serviceOf((request) =>
      server !== undefined && server.alive() ? server.run(request) : direct(request)
    )
    forkServer.ofService.set(service, () => (server !== undefined && server.alive() ? server : undefined))
    return service
  }
)

const serviceOf = Effect.fnUntraced(function* (
  exec: (request: runner.Request) => Effect.Effect<runner.Output, runner.Failure>
) {
  // git's worktree administration is not safe to run concurrently on one repository: a `worktree add` lists
  // the others and can read one another `add` is still writing ("failed to read .git/worktrees/<x>/commondir"),
  // and fail. The service runs its `worktree` commands one at a time; every other command runs freely.
  const worktreeAdmin = yield* Semaphore.make(1)
  return Git.of({
    run: (dir, args, options) => {
      const where = dir ?? process.cwd()
      const command = exec({
        dir,
        args,
        env: options?.env,
        maxStdoutBytes: options?.maxStdoutBytes,
        input: options?.input
      }).pipe(
        Effect.mapError(
          (failure) =>
            new GitError({ args, dir: where, exitCode: null, stderr: runner.clipStderr(failure.stderr) })
        ),
        Effect.flatMap((output) =>
          (options?.okExitCodes ?? [0]).includes(output.exitCode)
            ? Effect.succeed(output)
            : Effect.fail(
                new GitError({
                  args,
                  dir: where,
                  exitCode: output.exitCode,
                  stderr: runner.clipStderr(output.stderr)
                })
              )
        )
      )
      return args[0] === "worktree" ? worktreeAdmin.withPermit(command) : command
    }
  })
})

/**
 * The git service as a Layer, on a `ChildProcessSpawner`.
 *
 * **When to use**
 *
 * In a program that already provides the Node services (`NodeServices.layer` from `@effect/platform-node`);
 * otherwise `layerNode`.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const services = Layer.provideMerge(Git.layer, NodeServices.layer) // Git and the Node services
 * const program = Git.checkRefFormat("feature/x").pipe(Effect.provide(services))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Git, never, ChildProcessSpawner> = Layer.effect(Git, make)

/**
 * The git service as a Layer that needs nothing: `layer` with Node's process spawner.
 *
 * **When to use**
 *
 * In Node programs and tests that do not provide `NodeServices.layer` themselves.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const program = Git.checkRefFormat("has space").pipe(Effect.provide(Git.layerNode))
 * Effect.runPromise(program).then(console.log) // false
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerNode: Layer.Layer<Git> = layer.pipe(Layer.provide(NodeServices.layer))

/**
 * The git service as a Layer whose commands a small helper process starts: `makeForked` for the Layer's
 * lifetime.
 *
 * **When to use**
 *
 * For a run of many git commands from a large process (the pool's own layer, `Pool.layerFor`, uses it). One-off
 * calls are better served by `layer`: the helper costs a Node start-up (~50 ms) when the Layer is built.
 *
 * **Details**
 *
 * Starting a process forks the process that starts it, at a cost that grows with the memory it has mapped:
 * measured here with Node 24, 0.6 ms of CPU per spawn at 52 MB resident and 9.3 ms at 454 MB. A pool's process
 * (Effect, the loader) sits near 200 MB, and every worker, the train and the journal share its one thread. The
 * helper is a bare Node process (~40 MB) started through the `ChildProcessSpawner`; the service writes it a line
 * of JSON a command and reads one back. Every guarantee of `Git` holds as with `layer` (git leads its own process
 * group; interrupting a call signals it). The helper ends with the Layer's scope, or when the process that
 * started it dies; if it is gone, commands are spawned directly.
 *
 * **Example**
 *
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const services = Layer.provideMerge(Git.layerForked, NodeServices.layer)
 * const program = Git.run(undefined, ["--version"]).pipe(
 *   Effect.map((output) => output.stdout.startsWith("git version")),
 *   Effect.provide(services)
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerForked: Layer.Layer<Git, never, ChildProcessSpawner> = Layer.effect(Git, makeForked)

/**
 * Runs one git command in `dir` through the service: the escape hatch for what this module has no operation
 * for.
 *
 * **When to use**
 *
 * Rarely: prefer an operation, which knows its command's exit codes and output format.
 *
 * **Details**
 *
 * See `Git` and `RunOptions`. Put `--end-of-options` before revisions and `--` before paths yourself.
 *
 * **Example**
 *
 * ```ts
 * import * as Os from "node:os"
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const program = Git.run(Os.tmpdir(), ["rev-parse", "--is-inside-work-tree"], { okExitCodes: [0, 128] }).pipe(
 *   Effect.map((output) => output.exitCode),
 *   Effect.provide(Git.layerNode)
 * )
 * Effect.runPromise(program).then(console.log) // 128
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = (
  dir: string | undefined,
  args: ReadonlyArray<string>,
  options?: RunOptions
): Effect.Effect<Output, GitError, Git> => Git.use((git) => git.run(dir, args, options))

const stdoutOf = (dir: string, args: ReadonlyArray<string>, options?: RunOptions) =>
  Effect.map(run(dir, args, options), (output) => output.stdout)

const firstLine = (text: string): string => text.replace(/\r?\n[\s\S]*$/, "")

/** A failed command as a `GitError` of the same shape a failing exit gives. */
const gitError = (dir: string, args: ReadonlyArray<string>, output: Output): GitError =>
  new GitError({ args, dir, exitCode: output.exitCode, stderr: runner.clipStderr(output.stderr) })

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/**
 * Who wrote or committed a commit.
 *
 * **When to use**
 *
 * In `commitAll` and `commitTree` (`author`, `committer`).
 *
 * **Details**
 *
 * Passed to git as `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL` (and `GIT_COMMITTER_*`), so no git config identity is
 * needed and none is used.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const ada: Git.Identity = { name: "Ada Lovelace", email: "ada@example.com" }
 * console.log(`${ada.name} <${ada.email}>`) // "Ada Lovelace <ada@example.com>"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Identity {
  readonly name: string
  readonly email: string
}

/**
 * One line of `status`: a path and its two-letter porcelain code.
 *
 * **When to use**
 *
 * Read it from `Status.entries`.
 *
 * **Details**
 *
 * `code` is git's `XY` (index, worktree): `" M"` modified, `"M "` staged, `"A "` added, `" D"` deleted,
 * `"R "` renamed (then `from` is the old path), `"UU"` unmerged, `"??"` untracked. `path` is relative to the top
 * of the worktree, unquoted.
 *
 * **Example**
 *
 * ```ts
 * import { Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const entry: Git.StatusEntry = { code: "R ", path: "new.txt", from: Option.some("old.txt") }
 * console.log(entry.code.trim(), Option.getOrUndefined(entry.from)) // "R" "old.txt"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface StatusEntry {
  readonly code: string
  readonly path: string
  readonly from: Option.Option<string>
}

/**
 * What `status` found in a worktree.
 *
 * **When to use**
 *
 * Test `clean` before work that needs an unmodified tree; list `entries` to say what is in the way.
 *
 * **Details**
 *
 * `clean` is true when there is no entry: no staged, modified, deleted or unmerged path, and (unless
 * `status` was asked with `untracked: false`) no untracked file. Ignored files never count.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const status: Git.Status = { clean: true, entries: [] }
 * console.log(status.clean) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Status {
  readonly clean: boolean
  readonly entries: ReadonlyArray<StatusEntry>
}

/**
 * One worktree of a repository, as `worktreeList` reports it.
 *
 * **When to use**
 *
 * To find the pool's worktrees after a crash, or where a branch is checked out.
 *
 * **Details**
 *
 * `path` is absolute (the main worktree first). `head` is the checked-out commit (empty for a bare main
 * repository; 40 zeros on an unborn branch). `branch` is the short branch name, none when detached.
 * `locked`: `git worktree lock` was used on it. `prunable`: its directory is gone (`worktreePrune` forgets it).
 *
 * **Example**
 *
 * ```ts
 * import { Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const tree: Git.Worktree = { path: "/w/t1", head: "a1b2", branch: Option.some("t1"), locked: false, prunable: false }
 * console.log(Option.getOrElse(tree.branch, () => "(detached)")) // "t1"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Worktree {
  readonly path: string
  readonly head: string
  readonly branch: Option.Option<string>
  readonly locked: boolean
  readonly prunable: boolean
}

/**
 * A local branch and the commit it points at.
 *
 * **When to use**
 *
 * Read it from `listBranches`.
 *
 * **Details**
 *
 * `name` is short (`handoffkit/t1/1`, not `refs/heads/...`); `commit` a full object id.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const branch: Git.Branch = { name: "handoffkit/t1/1", commit: "a1b2" }
 * console.log(`refs/heads/${branch.name}`) // "refs/heads/handoffkit/t1/1"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Branch {
  readonly name: string
  readonly commit: string
}

/**
 * What merging two commits gives, from `mergeTree`: a tree, and the paths that conflict.
 *
 * **When to use**
 *
 * Narrow on `_tag`: `"Clean"` → `commitTree` the `tree`; `"Conflict"` → report `paths`.
 *
 * **Details**
 *
 * A conflict's `tree` holds the conflicted files with conflict markers (useful to show, not to commit).
 * `paths` lists each conflicted path once, in git's order.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const merged: Git.MergeResult = { _tag: "Conflict", tree: "a1b2", paths: ["src/a.ts"] }
 * console.log(merged._tag === "Conflict" ? merged.paths : []) // ["src/a.ts"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type MergeResult =
  | { readonly _tag: "Clean"; readonly tree: string }
  | { readonly _tag: "Conflict"; readonly tree: string; readonly paths: ReadonlyArray<string> }

/**
 * What a commit says besides its content: message, author, committer, date.
 *
 * **When to use**
 *
 * In `commitAll`; `CommitTreeOptions` adds the tree and parents.
 *
 * **Details**
 *
 * `committer` defaults to `author`. `date` (any format git accepts: `"2026-12-06T12:00:00Z"`,
 * `"@1700000000 +0000"`) is both the author and committer date; by default, now. A commit with the same tree,
 * parents, message, identities and date has the same id.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const options: Git.CommitOptions = {
 *   message: "t1: parse dates",
 *   author: { name: "agent-1", email: "agent-1@handoffkit.local" },
 *   date: "2026-12-06T12:00:00Z"
 * }
 * console.log(options.committer ?? options.author) // { name: "agent-1", email: "agent-1@handoffkit.local" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CommitOptions {
  readonly message: string
  readonly author: Identity
  readonly committer?: Identity | undefined
  readonly date?: string | undefined
}

/**
 * Options of `commitTree`: a tree, its parents, and what `CommitOptions` says.
 *
 * **When to use**
 *
 * To make a merge commit from `mergeTree`'s tree (`parents: [tip, branch]`).
 *
 * **Details**
 *
 * `tree` and `parents` are object ids or revisions; the parents' order is kept (the first is the mainline).
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const options: Git.CommitTreeOptions = {
 *   tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
 *   parents: [],
 *   message: "empty root",
 *   author: { name: "pool", email: "pool@handoffkit.local" }
 * }
 * console.log(options.parents.length) // 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CommitTreeOptions extends CommitOptions {
  readonly tree: string
  readonly parents: ReadonlyArray<string>
}

/**
 * Options of `diff`.
 *
 * **When to use**
 *
 * To bound a diff that goes into a prompt or a log.
 *
 * **Details**
 *
 * `maxBytes` (default 65536): a longer diff is cut at the last line end before it and ends with a marker
 * line `[diff cut: N of M bytes shown]`.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const options: Git.DiffOptions = { maxBytes: 16 * 1024 }
 * console.log(options.maxBytes) // 16384
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface DiffOptions {
  readonly maxBytes?: number | undefined
}

/**
 * Options of `checkoutDetached`.
 *
 * **When to use**
 *
 * To keep a cache between gate runs in the merge train's worktree (`keep: ["node_modules"]`).
 *
 * **Details**
 *
 * `keep`: gitignore-style patterns of untracked or ignored files that the clean-up leaves in place (default:
 * none, so the worktree holds exactly the commit's files).
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const options: Git.CheckoutOptions = { keep: ["node_modules", ".cache/"] }
 * console.log(options.keep?.length) // 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckoutOptions {
  readonly keep?: ReadonlyArray<string> | undefined
  readonly clean?: boolean | undefined
}

const defaultDiffBytes = 64 * 1024

const identityEnv = (options: CommitOptions): Record<string, string> => {
  const committer = options.committer ?? options.author
  return {
    GIT_AUTHOR_NAME: options.author.name,
    GIT_AUTHOR_EMAIL: options.author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
    ...(options.date === undefined ? {} : { GIT_AUTHOR_DATE: options.date, GIT_COMMITTER_DATE: options.date })
  }
}

const shortBranch = (ref: string): Option.Option<string> =>
  ref.startsWith("refs/heads/") ? Option.some(ref.slice("refs/heads/".length)) : Option.none()

// -----------------------------------------------------------------------------
// Revisions
// -----------------------------------------------------------------------------

/**
 * The top directory of the worktree that `dir` is in.
 *
 * **When to use**
 *
 * To check that a path is a repository's top (the pool's `repo`), or to find it from a subdirectory.
 *
 * **Details**
 *
 * `git rev-parse --show-toplevel`: an absolute path with symlinks resolved. Fails with `GitError` when `dir` is
 * in no worktree (or does not exist).
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
 *
 * const repo = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-")))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * Fs.mkdirSync(Path.join(repo, "src"))
 * const program = Git.topLevel(Path.join(repo, "src")).pipe(
 *   Effect.map((top) => top === repo),
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category revisions
 * @since 0.1.0
 */
export const topLevel = (dir: string): Effect.Effect<string, GitError, Git> =>
  Effect.map(stdoutOf(dir, ["rev-parse", "--show-toplevel"]), firstLine)

/**
 * The full object id that a revision names.
 *
 * **When to use**
 *
 * To pin a branch, tag or expression (`main`, `refs/heads/t1`, `HEAD~2`) to the commit it means now.
 *
 * **Details**
 *
 * `git rev-parse --verify --end-of-options <rev>`: a revision that starts with `-` is read as a revision, not an
 * option. Fails with `GitError` when the revision names nothing (or more than one thing). The id is not peeled:
 * an annotated tag gives the tag object (`rev^{commit}` gives its commit).
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   const main = yield* Git.revParse(repo, "main")
 *   const missing = yield* Git.revParse(repo, "nope").pipe(Effect.flip)
 *   return [main.length, missing._tag]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [40, "GitError"]
 * ```
 *
 * @category revisions
 * @since 0.1.0
 */
export const revParse = (dir: string, rev: string): Effect.Effect<string, GitError, Git> =>
  Effect.map(stdoutOf(dir, ["rev-parse", "--verify", "--end-of-options", rev]), firstLine)

/**
 * The full object id that a revision names, or none when it names nothing.
 *
 * **When to use**
 *
 * When a missing revision is a normal case (a branch that may not exist yet).
 *
 * **Details**
 *
 * `git rev-parse --verify --quiet --end-of-options <rev>`: exit 1 is none. Still fails with `GitError` when
 * `dir` is not a repository.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Git.tryRevParse(repo, "refs/heads/main").pipe(
 *   Effect.map(Option.isNone), // nothing is committed yet
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category revisions
 * @since 0.1.0
 */
export const tryRevParse = (dir: string, rev: string): Effect.Effect<Option.Option<string>, GitError, Git> =>
  Effect.map(
    run(dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", rev], { okExitCodes: [0, 1] }),
    (output) => (output.exitCode === 0 ? Option.some(firstLine(output.stdout)) : Option.none())
  )

/**
 * The id of a commit's tree.
 *
 * **When to use**
 *
 * To tell whether two commits hold the same files (a gate that passed on one tree need not run again on it).
 *
 * **Details**
 *
 * `revParse(dir, commit + "^{tree}")`. Fails with `GitError` when `commit` names no commit or tree.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const first = yield* Git.commitAll(repo, { message: "first", author: ada })
 *   const tree = yield* Git.treeOf(repo, "main")
 *   const same = yield* Git.commitTree(repo, { tree, parents: [], message: "same files", author: ada })
 *   return [first._tag, (yield* Git.treeOf(repo, same)) === tree]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["Some", true]
 * ```
 *
 * @category revisions
 * @since 0.1.0
 */
export const treeOf = (dir: string, commit: string): Effect.Effect<string, GitError, Git> =>
  revParse(dir, `${commit}^{tree}`)

/**
 * Whether commit `a` is an ancestor of (or the same as) commit `b`: whether `b` contains `a`.
 *
 * **When to use**
 *
 * To know whether a branch is merged (`isAncestor(repo, branchTip, "main")`), or whether a move of a ref is a
 * fast-forward.
 *
 * **Details**
 *
 * `git merge-base --is-ancestor --end-of-options a b`: exit 0 true, 1 false; anything else (a revision that
 * names nothing) is a `GitError`.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const first = yield* Git.commitAll(repo, { message: "first", author: ada })
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "two\n")
 *   const second = yield* Git.commitAll(repo, { message: "second", author: ada })
 *   return [
 *     yield* Git.isAncestor(repo, Option.getOrThrow(first), "main"),
 *     yield* Git.isAncestor(repo, "main", Option.getOrThrow(first)),
 *     Option.isSome(second)
 *   ]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [true, false, true]
 * ```
 *
 * @category revisions
 * @since 0.1.0
 */
export const isAncestor = (repo: string, a: string, b: string): Effect.Effect<boolean, GitError, Git> =>
  Effect.map(
    run(repo, ["merge-base", "--is-ancestor", "--end-of-options", a, b], { okExitCodes: [0, 1] }),
    (output) => output.exitCode === 0
  )

// -----------------------------------------------------------------------------
// The working tree
// -----------------------------------------------------------------------------

/**
 * What is modified, staged or untracked in a worktree.
 *
 * **When to use**
 *
 * Before work that needs a clean tree (the pool refuses to start on a main tree with uncommitted changes), or to
 * list what an agent changed.
 *
 * **Details**
 *
 * `git status --porcelain -z --untracked-files=all` (`=no` with `untracked: false`; default `true`): with
 * `untracked: false`, untracked files are neither listed nor counted against `clean`. Ignored files never are.
 * Runs with `GIT_OPTIONAL_LOCKS=0`: it never writes the index, so it cannot collide with the user's git.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "notes .txt"), "draft\n")
 *   const all = yield* Git.status(repo)
 *   const tracked = yield* Git.status(repo, { untracked: false })
 *   return [all.clean, all.entries.map((entry) => `${entry.code} ${entry.path}`), tracked.clean]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [false, ["?? notes .txt"], true]
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const status = (
  dir: string,
  options?: { readonly untracked?: boolean | undefined }
): Effect.Effect<Status, GitError, Git> =>
  Effect.map(
    stdoutOf(dir, [
      "status",
      "--porcelain",
      "-z",
      options?.untracked === false ? "--untracked-files=no" : "--untracked-files=all"
    ]),
    (text) => {
      const entries = parse.statusEntries(text).map((entry): StatusEntry => ({
        code: entry.code,
        path: entry.path,
        from: Option.fromUndefinedOr(entry.from)
      }))
      return { clean: entries.length === 0, entries }
    }
  )

/**
 * The branch checked out in a worktree, or none when its HEAD is detached.
 *
 * **When to use**
 *
 * To know whether the user's main worktree has the base branch checked out (then `syncCheckout` after moving
 * it), or to default the base branch.
 *
 * **Details**
 *
 * `git symbolic-ref --quiet HEAD`, `refs/heads/x` → `x`. A branch with no commit yet (a fresh repository) is
 * still its branch.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "trunk", repo])
 * const program = Git.currentBranch(repo).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then((branch) => console.log(branch._tag, branch._tag === "Some" ? branch.value : "")) // "Some" "trunk"
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const currentBranch = (dir: string): Effect.Effect<Option.Option<string>, GitError, Git> =>
  Effect.map(run(dir, ["symbolic-ref", "--quiet", "HEAD"], { okExitCodes: [0, 1] }), (output) =>
    output.exitCode === 0 ? shortBranch(firstLine(output.stdout)) : Option.none()
  )

/**
 * Commits everything in a worktree (new, changed and deleted files) and returns the new commit, or none when
 * there was nothing to commit.
 *
 * **When to use**
 *
 * After an agent worked in its worktree: what it left becomes a commit on the worktree's branch.
 *
 * **Details**
 *
 * `git add -A`, then, if the index differs from HEAD, `git commit --no-verify -m <message>` with the author and
 * committer from the options (through the environment; no config identity is needed) and no signing. No hook
 * runs (no pre-commit, commit-msg, prepare-commit-msg or post-commit). Ignored files are not committed. On a
 * branch with no commit yet, this makes its first commit. The message is cleaned as `git commit -m` does
 * (surrounding blank lines and trailing spaces removed).
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const made = yield* Git.commitAll(repo, { message: "add a", author: ada })
 *   const again = yield* Git.commitAll(repo, { message: "nothing", author: ada })
 *   return [Option.isSome(made), Option.isNone(again)]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [true, true]
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const commitAll = (
  worktree: string,
  options: CommitOptions
): Effect.Effect<Option.Option<string>, GitError, Git> =>
  Effect.map(
    commitWork(worktree, options),
    Option.map((made) => made.commit)
  )

/**
 * A commit, its tree, its parents and the paths it changes against its first parent: what `commitWork` and
 * `headOf` tell.
 *
 * **Example**
 *
 * ```ts
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const made: Git.Committed = { commit: "a".repeat(40), tree: "b".repeat(40), parents: ["c".repeat(40)], changed: ["a.txt"] }
 * console.log(made.tree.length) // 40
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export interface Committed {
  readonly commit: string
  readonly tree: string
  readonly parents: ReadonlyArray<string>
  /**
   * The paths the commit changes against its first parent (all its paths for a root commit; none for a merge),
   * as `changedPaths` tells them: renames are not detected, paths are relative to the repository's top.
   */
  readonly changed: ReadonlyArray<string>
}

/**
 * `commitAll`, telling the new commit's tree, parent and changed paths as well as its id.
 *
 * **When to use**
 *
 * When the tree and the changed paths are needed next (the pool keys the gates it ran by tree, and checks the
 * paths against what the task owns): all come from one git command after the commit, instead of one each.
 *
 * **Details**
 *
 * As `commitAll`: `git add -A`, then `git commit --no-verify`; `Option.none()` when there was nothing to commit;
 * then `headOf`.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const made = yield* Git.commitWork(repo, { message: "add a", author: { name: "Ada", email: "ada@example.com" } })
 *   const tree = Option.getOrThrow(made).tree
 *   return tree === (yield* Git.treeOf(repo, "HEAD"))
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const commitWork = (
  worktree: string,
  options: CommitOptions
): Effect.Effect<Option.Option<Committed>, GitError, Git> =>
  Effect.gen(function* () {
    yield* run(worktree, ["add", "-A"])
    // Everything is staged, hooks are off: `commit` exits 1 only when there is nothing to commit (its message
    // is fixed, LC_ALL=C), which saves asking `diff --cached` first.
    const args = ["commit", "--no-verify", "--quiet", "-m", options.message]
    const committed = yield* run(worktree, args, { env: identityEnv(options), okExitCodes: [0, 1] })
    if (committed.exitCode === 1) {
      if (/nothing (added )?to commit/.test(committed.stdout)) return Option.none()
      return yield* new GitError({
        args,
        dir: worktree,
        exitCode: 1,
        stderr: runner.clipStderr(committed.stderr || committed.stdout)
      })
    }
    return Option.some(yield* headOf(worktree))
  })

/**
 * The commit `HEAD` names in `dir`, its tree, its parents and the paths it changes against its first parent,
 * from one `git diff-tree -r -z --root --always --no-renames --name-only --format=... HEAD --`.
 *
 * **When to use**
 *
 * To learn where a worktree's branch is after someone else committed on it (an agent that commits its own
 * work), with the tree the gates are keyed by.
 *
 * **Details**
 *
 * Fails with `GitError` when `HEAD` names no commit (a branch with none yet). A merge's `changed` is empty (no
 * combined diff): compare it with a parent through `changedPaths`.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "add a", author: { name: "Ada", email: "ada@example.com" } })
 *   const head = yield* Git.headOf(repo)
 *   return head.commit === (yield* Git.revParse(repo, "HEAD"))
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category revisions
 * @since 0.1.0
 */
export const headOf = (dir: string): Effect.Effect<Committed, GitError, Git> =>
  Effect.gen(function* () {
    // `HEAD --`: a revision even if the worktree has a file named HEAD. `--always`: the header of a commit that
    // changes nothing too. The output is the header, a NUL, a newline, then the paths, each ending in a NUL.
    const args = [
      "diff-tree",
      "-r",
      "-z",
      "--root",
      "--always",
      "--no-renames",
      "--name-only",
      "--format=%H %T %P",
      "HEAD",
      "--"
    ]
    const output = yield* stdoutOf(dir, args)
    const end = output.indexOf("\0")
    const ids = (end < 0 ? output : output.slice(0, end)).trim().split(" ")
    const [commit, tree, ...parents] = ids
    if (end < 0 || ids.length < 2 || !ids.every(isObjectId)) {
      return yield* new GitError({
        args,
        dir,
        exitCode: 0,
        stderr: `expected a commit, a tree and parents, got ${JSON.stringify(output.slice(0, 200))}`
      })
    }
    const changed = parse.nulFields(output.slice(end + 1).replace(/^\n/, ""))
    return { commit: commit!, tree: tree!, parents, changed }
  })

/**
 * Makes a worktree hold exactly a commit's files, detached: for the merge train's gate worktree.
 *
 * **When to use**
 *
 * Before each gate run in a worktree that is reused, so nothing a previous run left behind (build output,
 * generated files, a half-written file) can make the gate pass or fail.
 *
 * **Details**
 *
 * Resolves `commit` to its id, then `git checkout --detach --force <id>` (local changes are thrown away) and
 * `git clean -ffdx` (every untracked and ignored file and directory goes, nested repositories too), except
 * paths matching `options.keep` (gitignore patterns, each passed as `-e`): keep a dependency cache there if the
 * gate may reuse it. With `clean: false` the clean is left out, for a caller that cleans the worktree itself
 * after each use (`cleanWorktree`, off its critical path). Only for worktrees the pool owns: never call it on
 * the user's checkout.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "edited\n")
 *   Fs.writeFileSync(Path.join(repo, "build.log"), "left over\n")
 *   Fs.mkdirSync(Path.join(repo, "cache"))
 *   yield* Git.checkoutDetached(repo, "main", { keep: ["cache"] })
 *   return [Fs.readFileSync(Path.join(repo, "a.txt"), "utf8"), Fs.existsSync(Path.join(repo, "build.log")), Fs.existsSync(Path.join(repo, "cache"))]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["one\n", false, true]
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const checkoutDetached = (
  worktree: string,
  commit: string,
  options?: CheckoutOptions
): Effect.Effect<void, GitError, Git> =>
  Effect.gen(function* () {
    // Resolved first: `checkout` cannot take `--end-of-options` with `--detach`, and an id is never an option
    // (a full object id is one already: it cannot start with "-", and checkout refuses one that is no commit).
    const id = isObjectId(commit) ? commit : yield* revParse(worktree, `${commit}^{commit}`)
    yield* run(worktree, ["checkout", "--quiet", "--detach", "--force", id, "--"])
    if (options?.clean !== false) yield* cleanWorktree(worktree, options)
  })

/**
 * Removes every untracked and ignored file and directory of a worktree (`git clean -ffdx`), except paths
 * matching `options.keep`: what `checkoutDetached` does after its checkout.
 *
 * **When to use**
 *
 * Right after a gate ran in a reused worktree, while nothing waits on it, so that the next
 * `checkoutDetached(..., { clean: false })` finds it clean. Only for worktrees the pool owns.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * Fs.writeFileSync(Path.join(repo, "built.txt"), "output\n")
 * Fs.mkdirSync(Path.join(repo, "cache"))
 * Fs.writeFileSync(Path.join(repo, "cache", "dep.txt"), "kept\n")
 * const program = Git.cleanWorktree(repo, { keep: ["cache/"] }).pipe(
 *   Effect.map(() => [Fs.existsSync(Path.join(repo, "built.txt")), Fs.existsSync(Path.join(repo, "cache", "dep.txt"))]),
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [false, true]
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const cleanWorktree = (
  worktree: string,
  options?: CheckoutOptions
): Effect.Effect<void, GitError, Git> =>
  Effect.asVoid(
    run(worktree, ["clean", "-ffdxq", ...(options?.keep ?? []).flatMap((pattern) => ["-e", pattern])])
  )

/**
 * Moves a pool worktree's checked-out branch to `commit`, and its index and files with it.
 *
 * **When to use**
 *
 * For a worktree made ahead of time (at an older base) that is about to be handed to an agent: it starts from
 * the base as it is now, as a worktree made now would.
 *
 * **Details**
 *
 * Resolves `commit` to its id, then `git reset --hard` to it: the branch checked out in `worktree` points at
 * `commit`, and every tracked file is `commit`'s (local changes to tracked files are thrown away; untracked
 * files stay). Only for worktrees the pool owns and no agent has worked in yet: never call it on the user's
 * checkout.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: ada })
 *   const tree = Path.join(root, "t1")
 *   yield* Git.worktreeAdd(repo, { path: tree, branch: "t1", base: "main" })
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "two\n")
 *   const second = Option.getOrThrow(yield* Git.commitAll(repo, { message: "second", author: ada }))
 *   yield* Git.resetWorktree(tree, second)
 *   return [Fs.readFileSync(Path.join(tree, "a.txt"), "utf8"), (yield* Git.revParse(repo, "t1")) === second]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["two\n", true]
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const resetWorktree = (worktree: string, commit: string): Effect.Effect<void, GitError, Git> =>
  Effect.gen(function* () {
    // An id is never an option; a name is resolved first (reset has no `--end-of-options` before a commit).
    const id = isObjectId(commit) ? commit : yield* revParse(worktree, `${commit}^{commit}`)
    yield* run(worktree, ["reset", "--hard", "--quiet", "--no-recurse-submodules", id, "--"])
  })

/**
 * Brings the user's checkout of a branch from `old` to `next` after the branch itself was moved there (with
 * `updateRef`), without touching the user's other changes; refuses with `CheckoutStale` instead of overwriting
 * one.
 *
 * **When to use**
 *
 * After the merge train moved the base branch while it is checked out in the user's main worktree: without
 * this, their index and files would still be `old`'s and `git status` would show the merge reverted.
 *
 * **Details**
 *
 * `git read-tree -m -u <old> <next>`, git's two-tree fast-forward: each path that differs between `old` and
 * `next` is updated in the index and on disk; every other path (and every local change to it, staged or not,
 * and every untracked file) is left alone. When a path the move changes has a local change (edited, staged, or
 * an untracked file where `next` adds one), or the index has unmerged entries, git refuses before writing
 * anything: `CheckoutStale`, and the index and files are as they were. HEAD is not touched (it already names the
 * branch). Call it only on a worktree whose HEAD is the moved branch (`currentBranch`).
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const old = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: ada }))
 *   const empty = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
 *   const next = yield* Git.commitTree(repo, { tree: empty, parents: [old], message: "remove a", author: ada })
 *   yield* Git.updateRef(repo, "refs/heads/main", next, old) // the branch moves, its checkout does not
 *   Fs.writeFileSync(Path.join(repo, "mine.txt"), "untracked, kept\n")
 *   yield* Git.syncCheckout(repo, old, next)
 *   return [Fs.existsSync(Path.join(repo, "a.txt")), Fs.existsSync(Path.join(repo, "mine.txt"))]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [false, true]
 * ```
 *
 * @category working tree
 * @since 0.1.0
 */
export const syncCheckout = (
  repo: string,
  old: string,
  next: string
): Effect.Effect<void, GitError | CheckoutStale, Git> =>
  Effect.gen(function* () {
    const args = ["read-tree", "-m", "-u", "--end-of-options", old, next]
    const output = yield* run(repo, args, { okExitCodes: [0, 1, 128] })
    if (output.exitCode === 0) return
    const detail = runner.clipStderr(output.stderr)
    if (
      /not uptodate|would be overwritten|would be lost|resolve your current index|Cannot merge/.test(detail)
    ) {
      return yield* new CheckoutStale({ repo, old, next, detail })
    }
    return yield* gitError(repo, args, output)
  })

// -----------------------------------------------------------------------------
// Comparing and merging
// -----------------------------------------------------------------------------

/**
 * The paths whose content differs between two commits (or trees).
 *
 * **When to use**
 *
 * To see which files a task touched (`changedPaths(repo, base, commit)`), e.g. to check them against the files
 * it was allowed to change.
 *
 * **Details**
 *
 * `git diff --name-only -z --no-renames --end-of-options <from> <to>`: renames are not detected, so a moved file
 * appears twice (its old and its new path). Paths are relative to the repository's top, unquoted, in git's
 * order.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "old.txt"), "content\n")
 *   const first = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: ada }))
 *   Fs.renameSync(Path.join(repo, "old.txt"), Path.join(repo, "new.txt"))
 *   const second = Option.getOrThrow(yield* Git.commitAll(repo, { message: "rename", author: ada }))
 *   return yield* Git.changedPaths(repo, first, second)
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["new.txt", "old.txt"]
 * ```
 *
 * @category comparing
 * @since 0.1.0
 */
export const changedPaths = (
  dir: string,
  from: string,
  to: string
): Effect.Effect<ReadonlyArray<string>, GitError, Git> =>
  Effect.map(
    stdoutOf(dir, [
      "diff",
      "--name-only",
      "-z",
      "--no-renames",
      "--no-ext-diff",
      "--no-relative",
      "--end-of-options",
      from,
      to,
      "--"
    ]),
    parse.nulFields
  )

/**
 * The unified diff between two commits, optionally limited to some paths, cut to a size.
 *
 * **When to use**
 *
 * To show an agent what changed on the base since it started (`diff(repo, from, base, conflictedPaths)`), or to
 * log a change.
 *
 * **Details**
 *
 * `git diff --no-ext-diff --no-textconv --no-color --src-prefix=a/ --dst-prefix=b/ --end-of-options <from>
 * <to> -- <paths...>`: the user's external diff and text conversion programs never run, and the `a/`/`b/`
 * prefixes are fixed. Paths are literal (no globs, no `:(magic)`); none means every path. A diff longer than
 * `maxBytes` (default 64 KiB) is cut at a line end and ends with `[diff cut: N of M bytes shown]`. Binary files
 * show as `Binary files ... differ`.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   Fs.writeFileSync(Path.join(repo, "b.txt"), "one\n")
 *   const first = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: ada }))
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "two\n")
 *   Fs.writeFileSync(Path.join(repo, "b.txt"), "two\n")
 *   const second = Option.getOrThrow(yield* Git.commitAll(repo, { message: "second", author: ada }))
 *   const text = yield* Git.diff(repo, first, second, ["a.txt"])
 *   return text.split("\n").filter((line) => /^[-+][^-+]/.test(line))
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["-one", "+two"]
 * ```
 *
 * @category comparing
 * @since 0.1.0
 */
export const diff = (
  dir: string,
  from: string,
  to: string,
  paths?: ReadonlyArray<string> | undefined,
  options?: DiffOptions
): Effect.Effect<string, GitError, Git> => {
  const maxBytes = Math.max(0, Math.floor(options?.maxBytes ?? defaultDiffBytes))
  return Effect.map(
    run(
      dir,
      [
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--no-relative",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--end-of-options",
        from,
        to,
        "--",
        ...(paths ?? [])
      ],
      { maxStdoutBytes: maxBytes }
    ),
    (output) => parse.cutDiff(output.stdout, output.stdoutBytes, output.truncated, maxBytes)
  )
}

/**
 * Merges two commits without touching any worktree or index, and says whether they conflict: the tree of the
 * merge and, on a conflict, the conflicted paths.
 *
 * **When to use**
 *
 * To predict a conflict before any checkout, and to build the merge train's stack (`mergeTree` the tip with
 * the next branch, `commitTree` the tree with both as parents).
 *
 * **Details**
 *
 * `git merge-tree --write-tree --name-only -z --no-messages --end-of-options <ours> <theirs>` (git ≥ 2.38): a
 * real three-way merge (renames detected) on the merge base git finds for the two commits; git 2.39 has no way
 * to name another base, so merge commits, not trees. Exit 0 is `Clean`, exit 1 with a tree is `Conflict`
 * (content, modify/delete, add/add and rename conflicts alike); anything else (a revision that names nothing,
 * unrelated histories) is a `GitError`. The tree is written to the object store either way.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const edit = (text: string) => Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), text)
 *   return Option.getOrThrow(yield* Git.commitAll(repo, { message: text, author: ada }))
 * })
 * const program = Effect.gen(function*() {
 *   const base = yield* edit("one\n")
 *   const ours = yield* edit("ours\n")
 *   yield* Git.checkoutDetached(repo, base)
 *   const theirs = yield* edit("theirs\n")
 *   const merged = yield* Git.mergeTree(repo, ours, theirs)
 *   const clean = yield* Git.mergeTree(repo, ours, base)
 *   return [merged._tag, merged._tag === "Conflict" ? merged.paths : [], clean._tag]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["Conflict", ["a.txt"], "Clean"]
 * ```
 *
 * @category comparing
 * @since 0.1.0
 */
export const mergeTree = (
  repo: string,
  ours: string,
  theirs: string
): Effect.Effect<MergeResult, GitError, Git> =>
  Effect.gen(function* () {
    const args = [
      "merge-tree",
      "--write-tree",
      "--name-only",
      "-z",
      "--no-messages",
      "--end-of-options",
      ours,
      theirs
    ]
    const output = yield* run(repo, args, { okExitCodes: [0, 1] })
    // Exit 1 is also how merge-tree reports a revision it cannot read: only a tree id on stdout means a merge.
    const merged = parse.mergeTreeOutput(output.stdout)
    if (merged === undefined) return yield* gitError(repo, args, output)
    return output.exitCode === 0
      ? { _tag: "Clean" as const, tree: merged.tree }
      : { _tag: "Conflict" as const, tree: merged.tree, paths: merged.paths }
  })

/**
 * Makes a commit from a tree and parents, touching no worktree, index or ref, and returns its id.
 *
 * **When to use**
 *
 * With `mergeTree`'s tree, to make the merge train's merge commits; then move the branch with `updateRef`.
 *
 * **Details**
 *
 * `git commit-tree -p <parent>... -m <message> --end-of-options <tree>`, with the identities and date of the
 * options through the environment, unsigned. The message is stored as given (plus a final newline). The commit
 * is reachable from nothing until a ref points at it.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const make = Git.commitTree(repo, {
 *   tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", // the empty tree
 *   parents: [],
 *   message: "root",
 *   author: { name: "pool", email: "pool@example.com" },
 *   date: "2026-12-06T12:00:00Z"
 * })
 * const program = Effect.all([make, make]).pipe(
 *   Effect.map(([a, b]) => a === b), // same content, identities and date: the same commit
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category comparing
 * @since 0.1.0
 */
export const commitTree = (repo: string, options: CommitTreeOptions): Effect.Effect<string, GitError, Git> =>
  Effect.map(
    stdoutOf(
      repo,
      [
        "commit-tree",
        ...options.parents.flatMap((parent) => ["-p", parent]),
        "-m",
        options.message,
        "--end-of-options",
        options.tree
      ],
      { env: identityEnv(options) }
    ),
    firstLine
  )

// -----------------------------------------------------------------------------
// Refs
// -----------------------------------------------------------------------------

/** Where a full ref points, read exactly (no abbreviation rules), or none. */
const refValue = (repo: string, ref: string): Effect.Effect<Option.Option<string>, GitError, Git> =>
  Effect.map(stdoutOf(repo, ["for-each-ref", "--format=%(refname)%00%(objectname)", ref]), (text) => {
    for (const line of text.split("\n")) {
      const [name, id] = line.split("\0")
      if (name === ref && id !== undefined) return Option.some(id)
    }
    return Option.none()
  })

const requireFullRef = (
  repo: string,
  args: ReadonlyArray<string>,
  ref: string
): Effect.Effect<void, GitError> =>
  ref.startsWith("refs/")
    ? Effect.void
    : Effect.fail(
        new GitError({
          args,
          dir: repo,
          exitCode: null,
          stderr: `not run: ${JSON.stringify(ref)} is not a full ref name (refs/...); update-ref would create it as a file under .git`
        })
      )

/** Runs an `update-ref` swap; when git refuses and the ref is not where it was expected, that is `RefMoved`. */
const swapRef = (
  repo: string,
  ref: string,
  args: ReadonlyArray<string>,
  expected: string | null
): Effect.Effect<void, GitError | RefMoved, Git> =>
  Effect.gen(function* () {
    yield* requireFullRef(repo, args, ref)
    const output = yield* run(repo, args, { okExitCodes: [0, 1, 128] })
    if (output.exitCode !== 0) return yield* movedOrFailed(repo, args, output, [{ ref, expected }])
  })

/**
 * Why a compare-and-swap of `refs` that git refused failed: `RefMoved` for the first ref not where it was
 * expected (read now), else a `GitError` (a lock held by another git, a bad id: not a move).
 */
const movedOrFailed = (
  repo: string,
  args: ReadonlyArray<string>,
  output: Output,
  refs: ReadonlyArray<{ readonly ref: string; readonly expected: string | null }>
): Effect.Effect<never, GitError | RefMoved, Git> =>
  Effect.gen(function* () {
    for (const { expected, ref } of refs) {
      const actual = Option.getOrNull(yield* refValue(repo, ref))
      if (actual !== expected) return yield* new RefMoved({ repo, ref, expected, actual })
    }
    return yield* gitError(repo, args, output)
  })

/**
 * Moves a ref to `next` only if it still points at `expected`: a compare-and-swap.
 *
 * **When to use**
 *
 * To move the base branch to the merge train's tip: if the user (or another pool) moved it meanwhile, nothing
 * happens and you learn where it is. Retrying after a crash cannot apply a move twice.
 *
 * **Details**
 *
 * `git update-ref -m handoffkit --end-of-options <ref> <next> <expected>`, atomic under git's ref lock. `ref`
 * must be a full name (`refs/heads/main`; anything else fails with `GitError` before git runs). When the ref is
 * not at `expected` (or does not exist): `RefMoved` with `actual`, read right after. Other failures (`next` is
 * not an object, the lock is held by another git) are `GitError`. The branch's checkout, if any, is not touched:
 * see `syncCheckout`.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const first = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: ada }))
 *   const next = yield* Git.commitTree(repo, { tree: first + "^{tree}", parents: [first], message: "next", author: ada })
 *   yield* Git.updateRef(repo, "refs/heads/main", next, first)
 *   const stale = yield* Git.updateRef(repo, "refs/heads/main", next, first).pipe(Effect.flip)
 *   return [stale._tag, stale._tag === "RefMoved" && stale.actual === next]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["RefMoved", true]
 * ```
 *
 * @category refs
 * @since 0.1.0
 */
export const updateRef = (
  repo: string,
  ref: string,
  next: string,
  expected: string
): Effect.Effect<void, GitError | RefMoved, Git> =>
  swapRef(repo, ref, ["update-ref", "-m", "handoffkit", "--end-of-options", ref, next, expected], expected)

/**
 * Creates a ref at `commit` only if it does not exist yet.
 *
 * **When to use**
 *
 * To claim a ref name (a branch for an attempt, a marker ref) without ever moving an existing one.
 *
 * **Details**
 *
 * `git update-ref -m handoffkit --end-of-options <ref> <commit> ""` (an empty old value: must not exist). `ref`
 * must be a full name. When it exists: `RefMoved` with `expected: null` and `actual` where it points.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   const root = yield* Git.commitTree(repo, {
 *     tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", parents: [], message: "root", author: { name: "p", email: "p@example.com" }
 *   })
 *   yield* Git.createRef(repo, "refs/heads/claimed", root)
 *   const again = yield* Git.createRef(repo, "refs/heads/claimed", root).pipe(Effect.flip)
 *   return [yield* Git.branchExists(repo, "claimed"), again._tag]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [true, "RefMoved"]
 * ```
 *
 * @category refs
 * @since 0.1.0
 */
export const createRef = (
  repo: string,
  ref: string,
  commit: string
): Effect.Effect<void, GitError | RefMoved, Git> =>
  swapRef(repo, ref, ["update-ref", "-m", "handoffkit", "--end-of-options", ref, commit, ""], null)

/**
 * Deletes a ref only if it still points at `expected`.
 *
 * **When to use**
 *
 * To drop a ref you made, without losing a move someone else made since. For branches that may hold work, use
 * `deleteMergedBranch`.
 *
 * **Details**
 *
 * `git update-ref -m handoffkit -d --end-of-options <ref> <expected>`; `ref` must be a full name. When the ref is
 * elsewhere or gone: `RefMoved` (`actual` null when gone). Its reflog goes with it.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   const root = yield* Git.commitTree(repo, {
 *     tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", parents: [], message: "root", author: { name: "p", email: "p@example.com" }
 *   })
 *   yield* Git.createRef(repo, "refs/handoffkit/marker", root)
 *   yield* Git.deleteRef(repo, "refs/handoffkit/marker", root)
 *   const gone = yield* Git.deleteRef(repo, "refs/handoffkit/marker", root).pipe(Effect.flip)
 *   return gone._tag === "RefMoved" ? gone.actual : "?"
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // null
 * ```
 *
 * @category refs
 * @since 0.1.0
 */
export const deleteRef = (
  repo: string,
  ref: string,
  expected: string
): Effect.Effect<void, GitError | RefMoved, Git> =>
  swapRef(repo, ref, ["update-ref", "-m", "handoffkit", "-d", "--end-of-options", ref, expected], expected)

/**
 * Deletes several refs in one transaction, each only if it still points at its expected id: all of them, or
 * none.
 *
 * **When to use**
 *
 * To delete many branches known to be merged (the pool's cleanup of a merged batch) with one git process
 * instead of one each.
 *
 * **Details**
 *
 * `git update-ref -m handoffkit -z --stdin` with a `delete <ref> <expected>` per ref. Every `ref` must be a full
 * name (else `GitError` before git runs). When one is not at its expected id (or is gone), nothing is deleted
 * and the call fails with `RefMoved` for the first such ref, read right after; other failures are `GitError`.
 * No refs: nothing runs.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   const root = yield* Git.revParse(repo, "HEAD")
 *   yield* Git.createRef(repo, "refs/heads/x", root)
 *   yield* Git.createRef(repo, "refs/heads/y", root)
 *   yield* Git.deleteRefs(repo, [{ ref: "refs/heads/x", expected: root }, { ref: "refs/heads/y", expected: root }])
 *   return yield* Git.branchExists(repo, "x")
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // false
 * ```
 *
 * @category refs
 * @since 0.1.0
 */
export const deleteRefs = (
  repo: string,
  refs: ReadonlyArray<{ readonly ref: string; readonly expected: string }>
): Effect.Effect<void, GitError | RefMoved, Git> =>
  Effect.gen(function* () {
    if (refs.length === 0) return
    const args = ["update-ref", "-m", "handoffkit", "-z", "--stdin"]
    for (const { ref } of refs) yield* requireFullRef(repo, args, ref)
    const input = refs.map(({ expected, ref }) => `delete ${ref}\0${expected}\0`).join("")
    const output = yield* run(repo, args, { input, okExitCodes: [0, 1, 128] })
    if (output.exitCode !== 0) return yield* movedOrFailed(repo, args, output, refs)
  })

// -----------------------------------------------------------------------------
// Branches
// -----------------------------------------------------------------------------

/**
 * Whether a local branch exists.
 *
 * **When to use**
 *
 * Before `worktreeAdd` / `worktreeAddExisting`, or to check a base branch.
 *
 * **Details**
 *
 * Looks up exactly `refs/heads/<branch>` (no abbreviation rules: a tag or a remote branch of that name does not
 * count). A branch with no commit yet (a fresh repository's) does not exist.
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
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   return [yield* Git.branchExists(repo, "main"), yield* Git.branchExists(repo, "feature")]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [true, false]
 * ```
 *
 * @category branches
 * @since 0.1.0
 */
export const branchExists = (repo: string, branch: string): Effect.Effect<boolean, GitError, Git> =>
  Effect.map(branchCommit(repo, branch), Option.isSome)

/**
 * The commit a local branch points at, or `Option.none()` when there is no such branch.
 *
 * **When to use**
 *
 * When the answer to `branchExists` and the branch's commit are both needed: one git command instead of two.
 *
 * **Details**
 *
 * As `branchExists`: exactly `refs/heads/<branch>`, from `git for-each-ref`; a branch with no commit yet does
 * not exist.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const made = yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   const main = yield* Git.branchCommit(repo, "main")
 *   return [Option.getOrThrow(main) === Option.getOrThrow(made), Option.isNone(yield* Git.branchCommit(repo, "x"))]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [true, true]
 * ```
 *
 * @category branches
 * @since 0.1.0
 */
export const branchCommit = (
  repo: string,
  branch: string
): Effect.Effect<Option.Option<string>, GitError, Git> => refValue(repo, `refs/heads/${branch}`)

/**
 * The local branches whose name starts with `prefix`, with their commits.
 *
 * **When to use**
 *
 * To find the pool's branches (`listBranches(repo, "handoffkit/")`) after a crash, or to report what is left.
 *
 * **Details**
 *
 * A plain string prefix on the short name (`""` lists every branch), sorted by name. Read with
 * `git for-each-ref refs/heads/`.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const first = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } }))
 *   yield* Git.createRef(repo, "refs/heads/handoffkit/t1/1", first)
 *   yield* Git.createRef(repo, "refs/heads/handoffkit/t2/1", first)
 *   const branches = yield* Git.listBranches(repo, "handoffkit/")
 *   return branches.map((branch) => branch.name)
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["handoffkit/t1/1", "handoffkit/t2/1"]
 * ```
 *
 * @category branches
 * @since 0.1.0
 */
export const listBranches = (
  repo: string,
  prefix: string
): Effect.Effect<ReadonlyArray<Branch>, GitError, Git> =>
  Effect.map(stdoutOf(repo, ["for-each-ref", "--format=%(refname)%00%(objectname)", "refs/heads/"]), (text) =>
    text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [ref = "", commit = ""] = line.split("\0")
        return { name: ref.slice("refs/heads/".length), commit }
      })
      .filter((branch) => branch.name.startsWith(prefix))
  )

/** How many times `deleteMergedBranch` re-checks a branch that moved while it was being deleted. */
const deleteAttempts = 5

/**
 * Deletes a branch only if its work is merged: if `into` contains the branch's tip. Returns whether a branch was
 * deleted (false: there was no such branch).
 *
 * **When to use**
 *
 * To clean up after a merge. This is the one guard that keeps unmerged work: there is deliberately no way to
 * force-delete a branch in this module.
 *
 * **Details**
 *
 * Reads the branch's tip, checks `isAncestor(tip, into)` (else `BranchNotMerged`, nothing deleted), refuses a
 * branch checked out in any worktree (`BranchCheckedOut`: remove the worktree first), then deletes the ref only
 * if it still points at the tip that was checked (`deleteRef`). A branch that moved meanwhile is checked again,
 * from the start (up to 5 times, then `BranchNotMerged`), so a commit made during the call is never lost. `into`
 * is any revision (`refs/heads/main`, `main`, an id). Branch config (`branch.<name>.*`) is left.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const repo = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const ada = { name: "Ada", email: "ada@example.com" }
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const first = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: ada }))
 *   const ahead = yield* Git.commitTree(repo, { tree: first + "^{tree}", parents: [first], message: "unmerged", author: ada })
 *   yield* Git.createRef(repo, "refs/heads/merged", first)
 *   yield* Git.createRef(repo, "refs/heads/ahead", ahead)
 *   const deleted = yield* Git.deleteMergedBranch(repo, "merged", "main")
 *   const kept = yield* Git.deleteMergedBranch(repo, "ahead", "main").pipe(Effect.flip)
 *   return [deleted, kept._tag, yield* Git.branchExists(repo, "ahead")]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(repo, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [true, "BranchNotMerged", true]
 * ```
 *
 * @category branches
 * @since 0.1.0
 */
export const deleteMergedBranch = (
  repo: string,
  branch: string,
  into: string
): Effect.Effect<boolean, GitError | BranchNotMerged | BranchCheckedOut, Git> =>
  Effect.gen(function* () {
    const ref = `refs/heads/${branch}`
    for (let attempt = 0; attempt < deleteAttempts; attempt++) {
      const tip = yield* refValue(repo, ref)
      if (Option.isNone(tip)) return false
      if (!(yield* isAncestor(repo, tip.value, into)))
        return yield* new BranchNotMerged({ repo, branch, into })
      const holder = (yield* worktreeList(repo)).find(
        (tree) => Option.isSome(tree.branch) && tree.branch.value === branch
      )
      if (holder !== undefined) return yield* new BranchCheckedOut({ repo, branch, worktree: holder.path })
      const deleted = yield* deleteRef(repo, ref, tip.value).pipe(
        Effect.as(true),
        Effect.catchTag("RefMoved", () => Effect.succeed(false))
      )
      if (deleted) return true
    }
    return yield* new BranchNotMerged({ repo, branch, into })
  })

/**
 * Whether `name` can be a branch name: what `git branch` would accept.
 *
 * **When to use**
 *
 * Before making a branch from outside input (a task id): refuse ids that git refuses, instead of failing later.
 *
 * **Details**
 *
 * `git check-ref-format refs/heads/<name>` (no repository needed), plus what `git branch` refuses on top of it (a
 * name that starts with `-`, and `HEAD`) and `@`, which `git branch` accepts but every revision reads as HEAD. So no spaces, no `..`, no `~^:?*[\`, no control characters, no
 * component that starts with `.` or ends with `.lock`, no trailing `/` or `.`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const names = ["handoffkit/t-1/1", "has space", "-rf", "a..b", "ünïcode"]
 * const program = Effect.forEach(names, Git.checkRefFormat).pipe(Effect.provide(Git.layerNode))
 * Effect.runPromise(program).then(console.log) // [true, false, false, false, true]
 * ```
 *
 * @category branches
 * @since 0.1.0
 */
export const checkRefFormat = (name: string): Effect.Effect<boolean, GitError, Git> =>
  name === "" || name.startsWith("-") || name === "HEAD" || name === "@"
    ? Effect.succeed(false)
    : Effect.map(
        run(undefined, ["check-ref-format", `refs/heads/${name}`], { okExitCodes: [0, 1] }),
        (output) => output.exitCode === 0
      )

// -----------------------------------------------------------------------------
// Worktrees
// -----------------------------------------------------------------------------

/**
 * Creates a worktree at `path` on a new branch `branch` that starts at `base`.
 *
 * **When to use**
 *
 * For each attempt of a task: its own directory and branch, off the base's current commit.
 *
 * **Details**
 *
 * Fails with `BranchExists` (nothing created) when the branch exists. Resolves `base` to a commit, creates the
 * branch there by a compare-and-swap from nothing (no upstream), then `git worktree add --no-checkout -- <path>
 * <branch>` and `git reset --hard` in the new worktree: only the first of the two holds git's worktree
 * administration, so worktrees of one repository check out side by side. `path` must not exist or be an empty
 * directory; relative paths are relative to `repo`. If a step fails, the branch and worktree it made are taken
 * back, so a failed call leaves nothing behind.
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
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   const path = Path.join(root, "task 1")
 *   yield* Git.worktreeAdd(repo, { path, branch: "handoffkit/t1/1", base: "main" })
 *   const again = yield* Git.worktreeAdd(repo, { path: Path.join(root, "other"), branch: "handoffkit/t1/1", base: "main" }).pipe(Effect.flip)
 *   return [Fs.readFileSync(Path.join(path, "a.txt"), "utf8"), again._tag]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // ["one\n", "BranchExists"]
 * ```
 *
 * @category worktrees
 * @since 0.1.0
 */
export const worktreeAdd = (
  repo: string,
  options: { readonly path: string; readonly branch: string; readonly base: string }
): Effect.Effect<void, GitError | BranchExists, Git> =>
  Effect.gen(function* () {
    const { branch, path } = options
    if (branch.startsWith("-") || branch === "HEAD") {
      // What `git branch` refuses and `update-ref` would not: a name that reads as an option, or HEAD.
      return yield* new GitError({
        args: ["worktree", "add", "-b", branch],
        dir: repo,
        exitCode: null,
        stderr: `not run: ${JSON.stringify(branch)} is not a valid branch name`
      })
    }
    // A name is pinned to the commit it names now; a full object id is one (worktree add refuses a non-commit).
    const base = isObjectId(options.base) ? options.base : yield* revParse(repo, `${options.base}^{commit}`)
    // The branch first, by a compare-and-swap from nothing: it exists already, or someone makes it meanwhile,
    // and nothing is created.
    const ref = `refs/heads/${branch}`
    yield* createRef(repo, ref, base).pipe(
      Effect.catchTag("RefMoved", () => Effect.fail(new BranchExists({ repo, branch })))
    )
    const added = yield* Effect.result(addAndCheckOut(repo, path, branch))
    if (added._tag === "Success") return
    // Take back the branch this call made, if no worktree has it and it has not moved.
    const trees = yield* worktreeList(repo).pipe(Effect.orElseSucceed(() => []))
    if (!trees.some((tree) => Option.getOrUndefined(tree.branch) === branch)) {
      yield* deleteRef(repo, ref, base).pipe(Effect.ignore)
    }
    return yield* added.failure
  })

/**
 * `worktree add --no-checkout` (the part that needs the repository's worktree administration to itself: see
 * `make`), then the checkout, `reset --hard` in the new worktree, which runs beside other worktrees' own: what
 * `worktree add` runs itself, minus the serialisation of the costly half. A checkout that fails takes its
 * worktree back.
 */
const addAndCheckOut = (repo: string, path: string, branch: string): Effect.Effect<void, GitError, Git> =>
  Effect.gen(function* () {
    yield* run(repo, ["worktree", "add", "--quiet", "--no-checkout", "--", path, branch])
    const where = NodePath.resolve(repo, path)
    yield* run(where, ["reset", "--hard", "--quiet", "--no-recurse-submodules"]).pipe(
      Effect.tapError(() => run(repo, ["worktree", "remove", "--force", "--", where]).pipe(Effect.ignore))
    )
  })

/**
 * Creates a worktree at `path` with an existing branch checked out.
 *
 * **When to use**
 *
 * To resume an attempt whose worktree was removed (after a crash) but whose branch holds its work.
 *
 * **Details**
 *
 * Fails with `NoSuchBranch` when the branch does not exist (git would otherwise check out a commit of that name,
 * detached). `git worktree add --no-checkout -- <path> <branch>`, then the checkout (see `worktreeAdd`); fails with `GitError` when the branch is checked out in
 * another worktree, or `path` exists and is not empty.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   const first = Option.getOrThrow(yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } }))
 *   yield* Git.createRef(repo, "refs/heads/t1", first)
 *   yield* Git.worktreeAddExisting(repo, { path: Path.join(root, "t1"), branch: "t1" })
 *   return yield* Git.currentBranch(Path.join(root, "t1"))
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then((branch) => console.log(Option.getOrNull(branch))) // "t1"
 * ```
 *
 * @category worktrees
 * @since 0.1.0
 */
export const worktreeAddExisting = (
  repo: string,
  options: { readonly path: string; readonly branch: string }
): Effect.Effect<void, GitError | NoSuchBranch, Git> =>
  Effect.gen(function* () {
    if (!(yield* branchExists(repo, options.branch))) {
      return yield* new NoSuchBranch({ repo, branch: options.branch })
    }
    yield* addAndCheckOut(repo, options.path, options.branch)
  })

/**
 * Creates a worktree at `path` with a commit checked out, detached (on no branch).
 *
 * **When to use**
 *
 * For the merge train's gate worktree, which moves from commit to commit (`checkoutDetached`) and never
 * commits.
 *
 * **Details**
 *
 * `git worktree add --detach -- <path> <commit>`.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   yield* Git.worktreeAddDetached(repo, { path: Path.join(root, "gate"), commit: "main" })
 *   return Option.isNone(yield* Git.currentBranch(Path.join(root, "gate")))
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category worktrees
 * @since 0.1.0
 */
export const worktreeAddDetached = (
  repo: string,
  options: { readonly path: string; readonly commit: string }
): Effect.Effect<void, GitError, Git> =>
  Effect.asVoid(run(repo, ["worktree", "add", "--quiet", "--detach", "--", options.path, options.commit]))

/**
 * Removes a worktree and its directory, whatever is in it; a worktree whose directory is already gone is
 * forgotten instead.
 *
 * **When to use**
 *
 * When an attempt is done (its work committed on its branch) or abandoned. The branch stays: delete it with
 * `deleteMergedBranch`.
 *
 * **Details**
 *
 * `git worktree remove --force -- <path>`: uncommitted changes, untracked and ignored files in it are deleted.
 * When `path` does not exist: `worktreePrune`. Fails with `GitError` when `path` exists but is not a worktree of
 * `repo`, or is locked. Relative paths are relative to `repo`.
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
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   const path = Path.join(root, "t1")
 *   yield* Git.worktreeAdd(repo, { path, branch: "t1", base: "main" })
 *   Fs.writeFileSync(Path.join(path, "draft.txt"), "uncommitted\n")
 *   yield* Git.worktreeRemove(repo, path)
 *   yield* Git.worktreeRemove(repo, path) // already gone: fine
 *   return [Fs.existsSync(path), (yield* Git.worktreeList(repo)).length, yield* Git.branchExists(repo, "t1")]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [false, 1, true]
 * ```
 *
 * @category worktrees
 * @since 0.1.0
 */
export const worktreeRemove = (repo: string, path: string): Effect.Effect<void, GitError, Git> =>
  Effect.suspend(() =>
    Fs.existsSync(NodePath.resolve(repo, path))
      ? Effect.asVoid(run(repo, ["worktree", "remove", "--force", "--", path]))
      : worktreePrune(repo)
  )

/**
 * Forgets the worktrees whose directories are gone.
 *
 * **When to use**
 *
 * After directories were deleted by hand or by a crash, so their branches can be checked out again.
 *
 * **Details**
 *
 * `git worktree prune`. Worktrees whose directory exists, and locked ones, are kept.
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
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   yield* Git.worktreeAdd(repo, { path: Path.join(root, "t1"), branch: "t1", base: "main" })
 *   Fs.rmSync(Path.join(root, "t1"), { recursive: true })
 *   const before = (yield* Git.worktreeList(repo)).map((tree) => tree.prunable)
 *   yield* Git.worktreePrune(repo)
 *   return [before, (yield* Git.worktreeList(repo)).length]
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [[false, true], 1]
 * ```
 *
 * @category worktrees
 * @since 0.1.0
 */
export const worktreePrune = (repo: string): Effect.Effect<void, GitError, Git> =>
  Effect.asVoid(run(repo, ["worktree", "prune"]))

/**
 * The worktrees of a repository: the main one first, then the linked ones.
 *
 * **When to use**
 *
 * To find where a branch is checked out, or the worktrees a crashed run left.
 *
 * **Details**
 *
 * `git worktree list --porcelain -z`; see `Worktree`. Paths are absolute as git recorded them.
 *
 * **Example**
 *
 * ```ts
 * import { execFileSync } from "node:child_process"
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Option } from "effect"
 * import * as Git from "@handoffkit/pool/Git"
 *
 * const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "git-doc-"))
 * const repo = Path.join(root, "repo")
 * execFileSync("git", ["init", "-q", "-b", "main", repo])
 * const program = Effect.gen(function*() {
 *   Fs.writeFileSync(Path.join(repo, "a.txt"), "one\n")
 *   yield* Git.commitAll(repo, { message: "first", author: { name: "Ada", email: "ada@example.com" } })
 *   yield* Git.worktreeAdd(repo, { path: Path.join(root, "t 1"), branch: "t1", base: "main" })
 *   const trees = yield* Git.worktreeList(repo)
 *   return trees.map((tree) => [Path.basename(tree.path), Option.getOrNull(tree.branch)])
 * }).pipe(
 *   Effect.provide(Git.layerNode),
 *   Effect.ensuring(Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
 * )
 * Effect.runPromise(program).then(console.log) // [["repo", "main"], ["t 1", "t1"]]
 * ```
 *
 * @category worktrees
 * @since 0.1.0
 */
export const worktreeList = (repo: string): Effect.Effect<ReadonlyArray<Worktree>, GitError, Git> =>
  Effect.map(stdoutOf(repo, ["worktree", "list", "--porcelain", "-z"]), (text) =>
    parse.worktreeRecords(text).map((record): Worktree => ({
      path: record.path,
      head: record.head,
      branch: record.branch === undefined ? Option.none() : shortBranch(record.branch),
      locked: record.locked,
      prunable: record.prunable
    }))
  )
