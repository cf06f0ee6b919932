/**
 * A small process that starts git commands for the pool, so that the pool's own (large) process does not.
 *
 * Why: starting a process forks the process that starts it, and a fork costs in proportion to the memory the
 * forking process has mapped. Measured with Node 24 here: 0.6 ms of CPU per spawn at 52 MB resident, 9.3 ms at
 * 454 MB; a pool run's process sits near 200 MB (Effect, the TypeScript loader), so each of the ~13 git
 * commands a task costs took ~3.5 ms of the one thread that also runs every worker, the train and the journal.
 * The server is a bare Node process (no module loaded, ~40 MB): it forks cheaply, and the pool's thread only
 * writes and reads one line of JSON a command.
 *
 * The server itself is started through Effect's `ChildProcessSpawner`, in the scope of the layer that owns it:
 * closing that scope ends it; so does the pool's process dying (its stdin closes). Each git it starts leads a
 * process group of its own, as with a direct spawn, and the server reports its pid first, so that interrupting
 * a call signals git's group from here, as `gitRun.run` does. When the server is gone, calls fail with a
 * `Failure` that says so (the service then spawns directly: see `Git.layerForked`).
 *
 * @internal
 */
import { type Cause, Deferred, Effect, Option, Queue, Scope, Stream } from "effect"
import * as ChildProcess from "effect/process/ChildProcess"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type { Failure, Output, Request } from "./gitRun.ts"
import { environmentOf, argvOf, signalGroup, killGrace } from "./gitRun.ts"

/**
 * The server, as CommonJS source for `node -e`: one git request per line on stdin (`{ i, file, args, cwd,
 * gitEnv, extra, cap, input }`, `input` base64, written to the command's stdin), for each a `{ i, pid }` line
 * once started, then `{ i, code, signal, out, total, err }` (base64) once it has exited, its output is read and
 * what it left in its process group was sent SIGTERM, or `{ i, error }` when it could not start. A git request
 * carries no whole environment: git's (`gitEnv`) comes once, with the first request, and each request adds its
 * own variables (`extra`), which saves the pool's thread building and encoding it for every command. A request
 * with `stream` (an agent, a gate: see `launch`) carries its whole `env` and gets its output as it comes
 * instead: `{ i, o }` and `{ i, e }` chunks (base64), `{ i, oEnd }` and `{ i, eEnd }` when a pipe closes,
 * `{ i, exit: [code, signal] }` when it exits.
 * It exits when stdin ends.
 */
export const source = String.raw`
"use strict"
const { spawn } = require("node:child_process")
const send = (message) => process.stdout.write(JSON.stringify(message) + "\n")
const errCap = 65536
let buffered = ""
let gitEnv
const launch = (r) => {
  let child
  try {
    child = spawn(r.file, r.args, { cwd: r.cwd ?? undefined, env: r.env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
  } catch (e) {
    send({ i: r.i, error: String((e && e.message) || e), code: (e && e.code) || null })
    return
  }
  let started = false
  child.on("error", (e) => {
    if (started) return
    started = true
    send({ i: r.i, error: String((e && e.message) || e), code: (e && e.code) || null })
  })
  child.on("spawn", () => {
    started = true
    send({ i: r.i, pid: child.pid })
  })
  child.stdout.on("data", (chunk) => send({ i: r.i, o: chunk.toString("base64") }))
  child.stderr.on("data", (chunk) => send({ i: r.i, e: chunk.toString("base64") }))
  child.stdout.on("close", () => send({ i: r.i, oEnd: true }))
  child.stderr.on("close", () => send({ i: r.i, eEnd: true }))
  child.on("exit", (code, signal) => send({ i: r.i, exit: [code, signal] }))
}
const start = (r) => {
  if (r.stream) return launch(r)
  let child
  let ended = false
  const input = typeof r.input === "string" ? Buffer.from(r.input, "base64") : undefined
  try {
    if (r.gitEnv !== undefined) gitEnv = r.gitEnv
    const env = r.extra === undefined ? gitEnv : Object.assign({}, gitEnv, r.extra)
    child = spawn(r.file, r.args, { cwd: r.cwd ?? undefined, env, detached: true, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
  } catch (e) {
    send({ i: r.i, error: String((e && e.message) || e) })
    return
  }
  if (input !== undefined) {
    // A git that exits without reading all of it closes the pipe: its exit code tells what happened.
    child.stdin.on("error", () => {})
    child.stdin.end(input)
  }
  const cap = typeof r.cap === "number" ? r.cap : Infinity
  const kept = []
  let keptLength = 0
  let total = 0
  const err = []
  let errLength = 0
  child.on("error", (e) => {
    if (ended) return
    ended = true
    send({ i: r.i, error: String((e && e.message) || e) })
  })
  if (child.pid !== undefined) send({ i: r.i, pid: child.pid })
  child.stdout.on("data", (chunk) => {
    total += chunk.length
    if (keptLength < cap) {
      const part = keptLength + chunk.length <= cap ? chunk : chunk.subarray(0, cap - keptLength)
      kept.push(part)
      keptLength += part.length
    }
  })
  child.stderr.on("data", (chunk) => {
    if (errLength < errCap) {
      const part = chunk.subarray(0, errCap - errLength)
      err.push(part)
      errLength += part.length
    }
  })
  child.on("close", (code, signal) => {
    if (ended) return
    ended = true
    // What git left in its group goes, as with a direct spawn (ESRCH, the usual answer, is not an error).
    try { process.kill(-child.pid, "SIGTERM") } catch {}
    send({ i: r.i, code, signal, total, out: Buffer.concat(kept).toString("base64"), err: Buffer.concat(err).toString("base64") })
  })
}
process.stdin.on("data", (chunk) => {
  buffered += chunk.toString("utf8")
  let at
  while ((at = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, at)
    buffered = buffered.slice(at + 1)
    if (line.length === 0) continue
    let request
    try {
      request = JSON.parse(line)
    } catch {
      continue
    }
    start(request)
  }
})
process.stdin.on("end", () => process.exit(0))
send({ ready: true })
`

/**
 * The server behind a git service made by `Git.makeForked`, by that service: so that a pool run given such a
 * service starts its agents and gates from the same server instead of booting a second one (a Node process:
 * about 40 ms of CPU at the start of a run, when the run's first git commands are also waiting). The getter
 * says `undefined` while that server boots, and after it is gone.
 */
export const ofService = new WeakMap<object, () => ForkServer | undefined>()

interface Pending {
  readonly pid: Deferred.Deferred<number, Failure>
  readonly done: Deferred.Deferred<Output, Failure>
}

type Reply =
  | { readonly ready: true }
  | { readonly i: number; readonly pid: number }
  | { readonly i: number; readonly error: string }
  | {
      readonly i: number
      readonly code: number | null
      readonly signal: string | null
      readonly total: number
      readonly out: string
      readonly err: string
    }

/** What `launch` starts: an argv in a directory, with the whole environment it gets. */
export interface LaunchRequest {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
}

/** A process `launch` started, leading a process group of its own (its pid is the group's id). */
export interface Launched {
  readonly pid: number
  readonly stdout: Stream.Stream<Uint8Array>
  readonly stderr: Stream.Stream<Uint8Array>
  /** Its exit: the code, or the signal that ended it; fails when the server went away first. */
  readonly exit: Effect.Effect<{ readonly exitCode: number | null; readonly signal: string | null }, Failure>
}

/** Why `launch` could not start a process: the spawn error's message and code (`ENOENT`, `EACCES`). */
export interface LaunchFailure {
  readonly message: string
  readonly code: string | null
}

export interface ForkServer {
  /** Whether the server still runs (false once it exited: calls then fail at once). */
  readonly alive: () => boolean
  /** Runs git once through the server: the same contract as `gitRun.run`. */
  readonly run: (request: Request) => Effect.Effect<Output, Failure>
  /**
   * Starts a process through the server and returns once it runs, its output streamed back as it comes. It is
   * the caller's to end (its group signalled from here by pid), as a detached direct spawn would be.
   */
  readonly launch: (request: LaunchRequest) => Effect.Effect<Launched, LaunchFailure>
}

interface Streaming {
  readonly pid: Deferred.Deferred<number, LaunchFailure>
  readonly stdout: Queue.Queue<Uint8Array, Cause.Done>
  readonly stderr: Queue.Queue<Uint8Array, Cause.Done>
  readonly exit: Deferred.Deferred<
    { readonly exitCode: number | null; readonly signal: string | null },
    Failure
  >
  /** Of its two pipes' ends and its exit, how many are still to come (the entry goes at 0). */
  left: number
}

type StreamReply =
  | { readonly i: number; readonly pid: number }
  | { readonly i: number; readonly error: string; readonly code: string | null }
  | { readonly i: number; readonly o: string }
  | { readonly i: number; readonly e: string }
  | { readonly i: number; readonly oEnd: true }
  | { readonly i: number; readonly eEnd: true }
  | { readonly i: number; readonly exit: readonly [number | null, string | null] }

const decoder = new TextDecoder("utf-8")
const fromBase64 = (text: string): Uint8Array => Buffer.from(text, "base64")

/**
 * Starts the server in the current scope; its end (or the server's death) fails every call still waiting.
 * Resolves once the server said it is ready.
 */
export const start = (
  spawner: ChildProcessSpawner["Service"]
): Effect.Effect<ForkServer, Failure, Scope.Scope> =>
  Effect.gen(function* () {
    const handle = yield* spawner
      .spawn(
        ChildProcess.make(process.execPath, ["-e", source], {
          stdin: "pipe",
          stdout: "pipe",
          stderr: "inherit"
        })
      )
      .pipe(Effect.mapError((error): Failure => ({ exitCode: null, stderr: String(error.message) })))
    const pending = new Map<number, Pending>()
    const streaming = new Map<number, Streaming>()
    let next = 0
    let alive = true
    const ready = yield* Deferred.make<void, Failure>()
    const lines = yield* Queue.unbounded<string>()
    const gone: Failure = { exitCode: null, stderr: "the pool's fork server exited" }
    const failAll = Effect.sync(() => {
      alive = false
      const all = [...pending.values()]
      pending.clear()
      const launched = [...streaming.values()]
      streaming.clear()
      return { all, launched }
    }).pipe(
      Effect.tap(({ launched }) =>
        Effect.forEach(
          launched,
          (l) =>
            Effect.all([
              Deferred.fail(l.pid, { message: gone.stderr, code: null }),
              Deferred.fail(l.exit, gone),
              Queue.end(l.stdout),
              Queue.end(l.stderr)
            ]),
          { discard: true }
        )
      ),
      Effect.map(({ all }) => all),
      Effect.flatMap((all) =>
        Effect.forEach(all, (p) => Effect.andThen(Deferred.fail(p.pid, gone), Deferred.fail(p.done, gone)), {
          discard: true
        })
      ),
      Effect.andThen(Deferred.fail(ready, gone))
    )

    const onStreamReply = (i: number, l: Streaming, reply: StreamReply): Effect.Effect<void> => {
      if ("pid" in reply) return Deferred.succeed(l.pid, reply.pid)
      if ("error" in reply) {
        streaming.delete(i)
        return Effect.andThen(
          Deferred.fail(l.pid, { message: reply.error, code: reply.code }),
          Effect.all([Queue.end(l.stdout), Queue.end(l.stderr)])
        )
      }
      if ("o" in reply) return Queue.offer(l.stdout, fromBase64(reply.o))
      if ("e" in reply) return Queue.offer(l.stderr, fromBase64(reply.e))
      // Its pipes may outlive it (a grandchild holds them): the entry goes once both closed and it exited.
      const settled = Effect.sync(() => {
        if (--l.left === 0) streaming.delete(i)
      })
      if ("oEnd" in reply) return Effect.andThen(Queue.end(l.stdout), settled)
      if ("eEnd" in reply) return Effect.andThen(Queue.end(l.stderr), settled)
      return Effect.andThen(
        Deferred.succeed(l.exit, { exitCode: reply.exit[0], signal: reply.exit[1] }),
        settled
      )
    }

    const onReply = (reply: Reply) =>
      Effect.suspend(() => {
        if ("ready" in reply) return Deferred.succeed(ready, undefined)
        const l = streaming.get(reply.i)
        if (l !== undefined) return onStreamReply(reply.i, l, reply as StreamReply)
        const p = pending.get(reply.i)
        if (p === undefined) return Effect.void
        if ("pid" in reply) return Deferred.succeed(p.pid, reply.pid)
        pending.delete(reply.i)
        if ("error" in reply) {
          const failure: Failure = { exitCode: null, stderr: reply.error }
          return Effect.andThen(Deferred.fail(p.pid, failure), Deferred.fail(p.done, failure))
        }
        if (reply.code === null) {
          const failure: Failure = {
            exitCode: null,
            stderr: `git was killed by ${reply.signal ?? "a signal"}`
          }
          return Effect.andThen(Deferred.fail(p.pid, failure), Deferred.fail(p.done, failure))
        }
        const out = fromBase64(reply.out)
        return Deferred.succeed(p.done, {
          exitCode: reply.code,
          stdout: decoder.decode(out),
          stderr: decoder.decode(fromBase64(reply.err)),
          stdoutBytes: reply.total,
          truncated: reply.total > out.length
        })
      })

    yield* handle.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => onReply(JSON.parse(line) as Reply)),
      Effect.ignore,
      Effect.ensuring(failAll),
      Effect.forkScoped
    )
    yield* Stream.fromQueue(lines).pipe(
      Stream.encodeText,
      Stream.run(handle.stdin),
      Effect.ignore,
      Effect.ensuring(failAll),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => Effect.andThen(Queue.shutdown(lines), failAll))
    yield* Deferred.await(ready)

    // This process's environment as git gets it (see `gitRun.environmentOf`), as it is when the server starts:
    // building it is most of the cost of a request, and it does not change during a run.
    const gitEnv = environmentOf({ dir: undefined, args: [] })
    let envSent = false
    const run = (request: Request): Effect.Effect<Output, Failure> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          if (!alive) return yield* Effect.fail(gone)
          const i = next++
          const p: Pending = {
            pid: yield* Deferred.make<number, Failure>(),
            done: yield* Deferred.make<Output, Failure>()
          }
          pending.set(i, p)
          // The git environment goes with the first request; a request's own variables go with it.
          const line = JSON.stringify({
            i,
            file: "git",
            args: argvOf(request),
            cwd: null,
            ...(envSent ? {} : { gitEnv }),
            ...(request.env === undefined ? {} : { extra: request.env }),
            ...(request.input === undefined
              ? {}
              : { input: Buffer.from(request.input, "utf8").toString("base64") }),
            cap: Number.isFinite(request.maxStdoutBytes ?? Number.POSITIVE_INFINITY)
              ? request.maxStdoutBytes
              : null
          })
          envSent = true
          yield* Queue.offer(lines, `${line}\n`)
          const stop = Effect.gen(function* () {
            const pid = yield* Deferred.await(p.pid).pipe(Effect.option)
            if (Option.isNone(pid)) return
            signalGroup(pid.value, "SIGTERM")
            const exited = yield* Deferred.await(p.done).pipe(Effect.ignore, Effect.timeoutOption(killGrace))
            if (Option.isNone(exited)) {
              signalGroup(pid.value, "SIGKILL")
              yield* Deferred.await(p.done).pipe(Effect.ignore)
            }
          })
          // What git left in its group the server ends before it replies.
          return yield* restore(Deferred.await(p.done)).pipe(Effect.onInterrupt(() => stop))
        })
      )

    const launch = (request: LaunchRequest): Effect.Effect<Launched, LaunchFailure> =>
      Effect.uninterruptible(
        Effect.gen(function* () {
          if (!alive) return yield* Effect.fail({ message: gone.stderr, code: null })
          const i = next++
          const l: Streaming = {
            pid: yield* Deferred.make<number, LaunchFailure>(),
            stdout: yield* Queue.unbounded<Uint8Array, Cause.Done>(),
            stderr: yield* Queue.unbounded<Uint8Array, Cause.Done>(),
            exit: yield* Deferred.make<
              { readonly exitCode: number | null; readonly signal: string | null },
              Failure
            >(),
            left: 3
          }
          streaming.set(i, l)
          const line = JSON.stringify({ i, stream: true, ...request })
          yield* Queue.offer(lines, `${line}\n`)
          // Uninterruptible until it runs: once its pid is known here, the caller can always end it.
          const pid = yield* Deferred.await(l.pid)
          return {
            pid,
            stdout: Stream.fromQueue(l.stdout),
            stderr: Stream.fromQueue(l.stderr),
            exit: Deferred.await(l.exit)
          }
        })
      )

    return { alive: () => alive, run, launch }
  })
