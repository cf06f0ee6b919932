/**
 * Running one `git` command: an argv, never a shell; `-C <dir>` first; stdin closed; an environment that can
 * neither prompt, page, open an editor, run a hook, nor be redirected to another repository by the caller's
 * `GIT_DIR`.
 *
 * @internal
 */
import { Effect, Option, Scope, Stream } from "effect"
import * as ChildProcess from "effect/process/ChildProcess"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"

/** What a command produced, whichever code it exited with. */
export interface Output {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  readonly stdoutBytes: number
  readonly truncated: boolean
}

/** Why a command did not produce an `Output`: it could not start, or a signal ended it. */
export interface Failure {
  readonly exitCode: null
  readonly stderr: string
}

export interface Request {
  readonly dir: string | undefined
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly maxStdoutBytes?: number | undefined
  /** Written to git's stdin, which is then closed; without it, stdin is `/dev/null`. */
  readonly input?: string | undefined
}

/** The stderr kept in an error, in bytes: enough for git's messages, bounded for a runaway one. */
export const stderrCap = 4096

/**
 * Configuration every command gets, as `-c` options (they win over the user's config files, and apply only to
 * this command). The user's own config (identity, filters such as LFS, merge settings) still applies otherwise.
 */
const fixedConfig: ReadonlyArray<string> = [
  "-c",
  "core.pager=cat",
  // No hook of the repository runs at the pool's hands: not post-checkout on `worktree add`, not
  // reference-transaction on `update-ref`, not prepare-commit-msg or post-commit on `commit`.
  "-c",
  "core.hooksPath=/dev/null",
  "-c",
  "color.ui=false",
  "-c",
  "core.quotePath=false",
  "-c",
  "commit.gpgSign=false",
  "-c",
  "tag.gpgSign=false",
  "-c",
  "advice.detachedHead=false",
  // No automatic gc or maintenance after a commit: it would run (and may detach) in the middle of a run,
  // repacking and pruning while other worktrees write, and it costs a process per commit.
  "-c",
  "gc.auto=0",
  "-c",
  "maintenance.auto=false"
]

/**
 * Variables of the caller's environment that would make git work on another repository or index than the one
 * named by `-C` (set when the pool itself runs inside a git hook or alias), or run an external diff.
 */
const removed = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
  "GIT_PREFIX",
  "GIT_QUARANTINE_PATH",
  "GIT_EXTERNAL_DIFF",
  "GIT_AUTHOR_NAME",
  "GIT_AUTHOR_EMAIL",
  "GIT_AUTHOR_DATE",
  "GIT_COMMITTER_NAME",
  "GIT_COMMITTER_EMAIL",
  "GIT_COMMITTER_DATE"
]

const fixedEnv: Record<string, string | undefined> = {
  ...Object.fromEntries(removed.map((name) => [name, undefined])),
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "",
  SSH_ASKPASS: "",
  GIT_EDITOR: "true",
  GIT_SEQUENCE_EDITOR: "true",
  GIT_PAGER: "cat",
  PAGER: "cat",
  // `status` would otherwise refresh and write the index, taking index.lock under a user's running git.
  GIT_OPTIONAL_LOCKS: "0",
  // A path given to an operation is a path: never a glob or a `:(magic)` pathspec.
  GIT_LITERAL_PATHSPECS: "1",
  LC_ALL: "C",
  LANGUAGE: undefined
}

/** The whole environment a command runs with: the caller's, with `fixedEnv` and the request's on top. */
export const environmentOf = (request: Request): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries({ ...process.env, ...fixedEnv, ...request.env })) {
    if (value !== undefined) env[name] = value
  }
  return env
}

/** The whole argv after `git`: `-C dir`, the fixed config, then the command's own arguments. */
export const argvOf = (request: Request): Array<string> => [
  ...(request.dir === undefined ? [] : ["-C", request.dir]),
  ...fixedConfig,
  ...request.args
]

const decoder = new TextDecoder("utf-8")
const encoder = new TextEncoder()

/** Concatenates chunks, keeping at most `cap` bytes, and counts all of them. */
const collect = <E>(stream: Stream.Stream<Uint8Array, E>, cap: number) =>
  Stream.runFold(
    stream,
    () => ({ chunks: [] as Array<Uint8Array>, kept: 0, total: 0 }),
    (acc, chunk) => {
      acc.total += chunk.length
      if (acc.kept < cap) {
        const part = acc.kept + chunk.length <= cap ? chunk : chunk.subarray(0, cap - acc.kept)
        acc.chunks.push(part)
        acc.kept += part.length
      }
      return acc
    }
  ).pipe(
    Effect.map((acc) => {
      const bytes = new Uint8Array(acc.kept)
      let at = 0
      for (const chunk of acc.chunks) {
        bytes.set(chunk, at)
        at += chunk.length
      }
      return { bytes, total: acc.total }
    })
  )

/** Trims and caps git's stderr for an error, keeping its start (where git says what failed). */
export const clipStderr = (text: string): string => {
  const trimmed = text.trim()
  const bytes = new TextEncoder().encode(trimmed)
  if (bytes.length <= stderrCap) return trimmed
  return `${decoder.decode(bytes.subarray(0, stderrCap - 20)).replace(/\uFFFD$/, "")} … (stderr cut)`
}

/** Sends a signal to a process group, if it still has members that are ours. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: the group is empty. EPERM: nothing of it is ours.
  }
}

/** How long git gets after SIGTERM (to remove its lock files) before its group gets SIGKILL. */
export const killGrace = "2 seconds"

/**
 * Runs git once and returns what it printed and its exit code, or a `Failure` when it did not exit normally.
 *
 * git runs as the leader of a process group of its own, so what it starts (a filter such as `sleep 30; cat`, a
 * remote helper) goes with it. Interrupting the caller sends the group SIGTERM (git then removes its
 * `index.lock` and ref locks), waits for git to exit, and after 2 seconds sends SIGKILL. When git exits by
 * itself, whatever it left in its group gets SIGTERM, without waiting.
 *
 * The spawner's own scope is not used to end the group: closing it waits until no member of the group is left,
 * zombies included, and a helper git did not reap, orphaned to a pid 1 that reaps slowly, would cost seconds a
 * call. That scope is left open; nothing in it needs closing once the process has exited.
 */
export const run = (
  spawner: ChildProcessSpawner["Service"],
  request: Request
): Effect.Effect<Output, Failure> =>
  Effect.gen(function* () {
    const spawnScope = yield* Scope.make()
    const handle = yield* spawner
      .spawn(
        ChildProcess.make("git", argvOf(request), {
          env: { ...fixedEnv, ...request.env },
          extendEnv: true,
          detached: true,
          stdin: request.input === undefined ? "ignore" : Stream.make(encoder.encode(request.input)),
          stdout: "pipe",
          stderr: "pipe"
        })
      )
      .pipe(Scope.provide(spawnScope))
    const pid = handle.pid
    const stop = Effect.gen(function* () {
      signalGroup(pid, "SIGTERM")
      const exited = yield* handle.exitCode.pipe(Effect.ignore, Effect.timeoutOption(killGrace))
      if (Option.isNone(exited)) {
        signalGroup(pid, "SIGKILL")
        yield* handle.exitCode.pipe(Effect.ignore)
      }
    })
    const [stdout, stderr, exitCode] = yield* Effect.all(
      [
        collect(handle.stdout, request.maxStdoutBytes ?? Number.POSITIVE_INFINITY),
        collect(handle.stderr, 64 * 1024),
        handle.exitCode
      ],
      { concurrency: "unbounded" }
    ).pipe(
      Effect.onInterrupt(() => stop),
      Effect.ensuring(Effect.sync(() => signalGroup(pid, "SIGTERM")))
    )
    return {
      exitCode: exitCode as number,
      stdout: decoder.decode(stdout.bytes),
      stderr: decoder.decode(stderr.bytes),
      stdoutBytes: stdout.total,
      truncated: stdout.total > stdout.bytes.length
    }
  }).pipe(Effect.mapError((error): Failure => ({ exitCode: null, stderr: String(error.message) })))
