/**
 * Running one command of the pool (an agent, a gate) as a process group whose output goes to a log file, and
 * making sure nothing of that group outlives the run.
 *
 * The guarantee, kept by `runLogged`: when the run ends, for any reason (the command exits, its time runs out,
 * the calling fiber is interrupted), no process of its process group is still running. The command starts as
 * the leader of a new session and process group (`detached`); ending the run sends the whole group SIGTERM,
 * then SIGKILL after `killGrace` to what is left (a grandchild that ignores SIGTERM), and waits until no member
 * runs. When the leader is still running at that moment (a timeout, an interrupt), the descendants that left
 * the group (`setsid`, their own process group) are found through /proc and killed with it. A process that
 * left the group and whose parent has exited is no longer a known descendant: it escapes. If it holds the
 * output pipe open, the log stops being read a second after the run (a note in the log says so).
 *
 * @internal
 */
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { Context, Duration, Effect, Fiber, Option, Schema, Scope, Stream } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as ChildProcess from "effect/process/ChildProcess"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type * as ForkServer from "./forkServer.ts"

/** A command that could not be started: no such program, no such directory, or no log file. */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>()("SpawnFailed", {
  command: Schema.String,
  cwd: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot start ${JSON.stringify(this.command)} in ${this.cwd}: ${this.detail}`
  }
}

export interface Options {
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  /** Added to this process's environment; a variable set to `undefined` is removed. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly logFile: string
  readonly timeout?: Duration.Input | undefined
  readonly killGrace?: Duration.Input | undefined
}

export interface Exited {
  /** The exit code, or null when a signal ended the process. */
  readonly exitCode: number | null
  readonly signal: string | null
  /** The run's time ran out and the group was killed. */
  readonly timedOut: boolean
  /** The leader's pid, which is also the process group's id. */
  readonly pid: number
  readonly durationMs: number
  /** The end of what the command printed on stdout (at most `tailBytes`), e.g. for a summary line. */
  readonly stdoutTail: string
  /** The end of what it printed on stderr (at most `tailBytes`), e.g. for the reason of a failure. */
  readonly stderrTail: string
}

/** How much of the output's end `stdoutTail` and `stderrTail` keep. */
export const tailBytes = 4096

/** How long the log is still read after the group is gone, for a pipe a process outside it holds open. */
const drainWait = Duration.seconds(1)

/** How long to wait for processes to disappear after SIGKILL (they cannot refuse it; this bounds a D state). */
const killWaitMillis = 2_000

/**
 * Where `runLogged` starts its commands: through a fork server (`forkServer.launch`) while one runs, else
 * with Node's spawner directly. `Pool.run` sets it for its agents and gates: a spawn from the pool's large
 * process costs milliseconds of the thread every worker shares, one from the server a fraction of that.
 */
export const Launcher = Context.Reference<
  { readonly alive: () => boolean; readonly launch: ForkServer.ForkServer["launch"] } | undefined
>("@handoffkit/pool/internal/process/Launcher", { defaultValue: () => undefined })

/** The environment `runLogged` gives a command: this process's, with `env` added (undefined: removed). */
const environmentOf = (env: Options["env"]): Record<string, string> => {
  const all: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) all[key] = value
  for (const [key, value] of Object.entries(env ?? {})) {
    if (value === undefined) delete all[key]
    else all[key] = value
  }
  return all
}

export const runLogged = (
  options: Options
): Effect.Effect<Exited, SpawnFailed, ChildProcessSpawner | FileSystem.FileSystem> =>
  Effect.suspend(() => {
    // Outside the scope: the output is drained by the scope's finalizer, after the exit is known.
    let stdoutTail: Uint8Array = new Uint8Array(0)
    let stderrTail: Uint8Array = new Uint8Array(0)
    return Effect.scoped(
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const spawner = yield* ChildProcessSpawner
        const cwd = NodePath.resolve(options.cwd)
        const program = options.argv[0]
        const failed = (detail: string) => new SpawnFailed({ command: program ?? "", cwd, detail })
        if (program === undefined || program === "") return yield* failed("the command line is empty")
        const grace = Duration.fromInputUnsafe(options.killGrace ?? "2 seconds")

        yield* fs
          .makeDirectory(NodePath.dirname(options.logFile), { recursive: true })
          .pipe(Effect.mapError((error) => failed(`cannot make the log's directory: ${error.message}`)))
        // Scoped: closed last, after the group is gone and the output is drained.
        const log = yield* fs
          .open(options.logFile, { flag: "a" })
          .pipe(
            Effect.mapError((error) => failed(`cannot open the log ${options.logFile}: ${error.message}`))
          )

        const note = (text: string) =>
          log.writeAll(encoder.encode(`[handoffkit] ${text}\n`)).pipe(Effect.ignore)
        yield* note(`$ ${options.argv.map(shown).join(" ")}  (in ${cwd})`)

        const started = Date.now()
        // Set once the command runs; read by the finalizer, which may run before that.
        const running: { pid?: number; drain?: Fiber.Fiber<void> } = {}
        let ended: string | undefined
        // Runs however the run ends: kills what is left of the group (all of it when interrupted; what the leader
        // left behind after an exit), then lets the output drain into the log.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            const { pid, drain } = running
            if (pid === undefined) return
            yield* terminate(pid, grace)
            if (drain !== undefined) {
              const drained = yield* Fiber.await(drain).pipe(Effect.timeoutOption(drainWait))
              if (Option.isNone(drained)) {
                yield* Fiber.interrupt(drain)
                yield* note("the output is still open: a process that left the process group holds it")
              }
            }
            yield* note(ended ?? `interrupted after ${Date.now() - started} ms: the process group was killed`)
          })
        )

        // Through the fork server when one runs: it reports the pid once the command runs, streams its output,
        // and reports its exit; the group is ended from here by pid either way.
        const launcher = yield* Launcher
        const viaServer =
          launcher !== undefined && launcher.alive()
            ? launcher
                .launch({ file: program, args: options.argv.slice(1), cwd, env: environmentOf(options.env) })
                .pipe(
                  Effect.map((launched) => ({
                    ...launched,
                    exit: launched.exit.pipe(
                      Effect.catch(() => Effect.succeed({ exitCode: null, signal: "unknown" }))
                    )
                  }))
                )
            : undefined
        // The spawner kills the group itself when the scope it spawns in closes, but it counts a zombie as alive:
        // an orphaned grandchild that died stays a zombie until pid 1 reaps it (up to two seconds on some hosts,
        // never under an init that does not reap), and each kill would wait for that. So the handle lives in a
        // scope that is never closed, and `terminate` does the killing, with zombies counted as gone.
        const spawnScope = yield* Scope.make()
        const direct = Effect.suspend(() =>
          spawner
            .spawn(
              ChildProcess.make(program, options.argv.slice(1), {
                cwd,
                ...(options.env === undefined ? {} : { env: { ...options.env } }),
                extendEnv: true,
                detached: true,
                stdin: "ignore",
                stdout: "pipe",
                stderr: "pipe",
                forceKillAfter: grace
              })
            )
            .pipe(
              Scope.provide(spawnScope),
              Effect.mapError((error): ForkServer.LaunchFailure => ({
                message: error.message,
                code: (error.cause as NodeJS.ErrnoException | undefined)?.code ?? null
              })),
              Effect.map((spawned) => ({
                pid: spawned.pid,
                stdout: spawned.stdout,
                stderr: spawned.stderr,
                exit: spawned.exitCode.pipe(
                  Effect.map((code): { exitCode: number | null; signal: string | null } => ({
                    exitCode: code,
                    signal: null
                  })),
                  Effect.catch((error) => Effect.succeed({ exitCode: null, signal: signalOf(error) }))
                )
              }))
            )
        )
        const starting: Effect.Effect<Started, ForkServer.LaunchFailure> = viaServer ?? direct
        const handle = yield* starting.pipe(
          Effect.mapError((error) =>
            failed(Fs.existsSync(cwd) ? spawnProblem(error) : "the directory does not exist")
          ),
          Effect.tapError((error) => note(error.message))
        )
        const pid = handle.pid
        running.pid = pid
        // Not a child of this fiber: an interrupted run still logs what the group says while it is killed. The
        // finalizer above waits for it.
        // stdout and stderr are two pipes: their order in the log is the order the chunks came in, which need
        // not be the order they were written in, so each keeps a tail of its own.
        running.drain = yield* Effect.forkDetach(
          Effect.all(
            [
              Stream.runForEach(handle.stdout, (chunk) => {
                stdoutTail = keepTail(stdoutTail, chunk)
                return log.writeAll(chunk)
              }),
              Stream.runForEach(handle.stderr, (chunk) => {
                stderrTail = keepTail(stderrTail, chunk)
                return log.writeAll(chunk)
              })
            ],
            { concurrency: 2, discard: true }
          ).pipe(Effect.ignore)
        )
        const result = (
          exited: { exitCode: number | null; signal: string | null },
          timedOut: boolean
        ): Omit<Exited, "stdoutTail" | "stderrTail"> => {
          const durationMs = Date.now() - started
          const how = exited.exitCode === null ? `killed by ${exited.signal}` : `exit code ${exited.exitCode}`
          ended = timedOut ? `timed out after ${durationMs} ms (${how})` : `${how} after ${durationMs} ms`
          return { ...exited, timedOut, pid, durationMs }
        }

        const exit = handle.exit
        if (options.timeout === undefined) return result(yield* exit, false)
        const inTime = yield* Effect.timeoutOption(exit, options.timeout)
        if (Option.isSome(inTime)) return result(inTime.value, false)
        yield* terminate(pid, grace)
        return result(yield* exit, true)
      })
    ).pipe(
      Effect.map((exited): Exited => ({
        ...exited,
        stdoutTail: decoder.decode(stdoutTail),
        stderrTail: decoder.decode(stderrTail)
      }))
    )
  })

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const shown = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))

const keepTail = (tail: Uint8Array, chunk: Uint8Array): Uint8Array => {
  if (chunk.length >= tailBytes) return chunk.slice(chunk.length - tailBytes)
  const keep = Math.min(tail.length, tailBytes - chunk.length)
  const out = new Uint8Array(keep + chunk.length)
  out.set(tail.subarray(tail.length - keep), 0)
  out.set(chunk, keep)
  return out
}

/** A command `runLogged` started, by the fork server or directly. */
interface Started {
  readonly pid: number
  readonly stdout: Stream.Stream<Uint8Array, unknown>
  readonly stderr: Stream.Stream<Uint8Array, unknown>
  readonly exit: Effect.Effect<{ readonly exitCode: number | null; readonly signal: string | null }>
}

/** Why a command could not start, from the spawn error's code where it has one. */
const spawnProblem = (error: ForkServer.LaunchFailure): string => {
  if (error.code === "ENOENT") return "no such program (ENOENT)"
  if (error.code === "EACCES") return "the program is not executable (EACCES)"
  return error.message
}

/** The spawner reports a death by signal as an error whose cause says "...receipt of signal: 'SIGTERM'". */
const signalOf = (error: { readonly message: string; readonly cause?: unknown }): string => {
  const text = error.cause instanceof Error ? error.cause.message : error.message
  return /signal: '?([A-Z0-9]+)'?/.exec(text)?.[1] ?? "unknown"
}

// -----------------------------------------------------------------------------
// processes
// -----------------------------------------------------------------------------

/** A process as /proc shows it: enough to find a group's members and a tree, and to tell a pid's reuse. */
export interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly pgid: number
  readonly state: string
  readonly start: string
}

export const hasProc = Fs.existsSync("/proc/self/stat")

const readProc = (pid: number): Proc | undefined => {
  let stat: string
  try {
    stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { pid, state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19]! }
}

const allProcs = (): Array<Proc> => {
  let names: Array<string>
  try {
    names = Fs.readdirSync("/proc")
  } catch {
    return []
  }
  const out: Array<Proc> = []
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const proc = readProc(Number(name))
    if (proc !== undefined) out.push(proc)
  }
  return out
}

/** A zombie runs nothing: it has exited and waits to be reaped (by pid 1, if its parent died first). */
const runs = (proc: Proc): boolean => proc.state !== "Z" && proc.state !== "X"

/** Whether the process seen earlier still runs: same pid, same start time, not a zombie. */
const stillRuns = (proc: Proc): boolean => {
  const now = readProc(proc.pid)
  return now !== undefined && now.start === proc.start && runs(now)
}

/**
 * Whether a member of process group `pgid` still runs. With /proc, zombies do not count; without it (macOS),
 * any member does.
 */
export const groupRuns = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
  } catch {
    // ESRCH: no member at all. EPERM: only processes that are not ours, so none of this group.
    return false
  }
  return hasProc ? allProcs().some((proc) => proc.pgid === pgid && runs(proc)) : true
}

/** Whether process `pid` itself still runs (not a zombie, with /proc). */
const leaderRuns = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const proc = hasProc ? readProc(pid) : undefined
  return proc === undefined ? !hasProc : runs(proc)
}

/** The running descendants of `root` that are not in its process group (they left it). Linux only. */
const strays = (root: number): Array<Proc> => {
  if (!hasProc) return []
  const children = new Map<number, Array<Proc>>()
  for (const proc of allProcs()) {
    const siblings = children.get(proc.ppid)
    if (siblings === undefined) children.set(proc.ppid, [proc])
    else siblings.push(proc)
  }
  const out: Array<Proc> = []
  const queue = [root]
  while (queue.length > 0) {
    for (const proc of children.get(queue.shift()!) ?? []) {
      if (proc.pgid !== root && runs(proc)) out.push(proc)
      queue.push(proc.pid)
    }
  }
  return out
}

const signal = (target: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(target, sig)
  } catch {
    // ESRCH: gone already. EPERM: not ours to signal (a setuid program); nothing more can be done.
  }
}

const signalAll = (pgid: number, others: ReadonlyArray<Proc>, sig: NodeJS.Signals): void => {
  signal(-pgid, sig)
  for (const proc of others) {
    if (!stillRuns(proc)) continue
    // A stray that leads a group of its own takes that group with it.
    if (proc.pgid === proc.pid) signal(-proc.pid, sig)
    signal(proc.pid, sig)
  }
}

/** Polls (every 10 ms, the operating system has no event for it) until nothing runs or the time is up. */
const awaitNothingRuns = (
  pgid: number,
  others: ReadonlyArray<Proc>,
  millis: number
): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const deadline = Date.now() + millis
    for (;;) {
      if (!groupRuns(pgid) && !others.some(stillRuns)) return true
      if (Date.now() >= deadline) return false
      yield* Effect.sleep(10)
    }
  })

/**
 * Kills group `pgid` (and, while its leader lives, the descendants that left it) and waits until nothing of it
 * runs: SIGTERM, up to `grace`, then SIGKILL to what is left (seen again, with what was started meanwhile).
 * Quick when the group is empty already (one `kill(-pgid, 0)`).
 */
export const terminate = (pgid: number, grace: Duration.Duration): Effect.Effect<void> =>
  Effect.gen(function* () {
    const known = new Map<number, Proc>()
    const see = () => {
      for (const proc of strays(pgid)) if (!known.has(proc.pid)) known.set(proc.pid, proc)
      return [...known.values()]
    }
    // The common case, a group whose leader exited and left nothing behind, costs two signals and no scan of
    // /proc: the strays of a dead leader were reparented, so its pid finds none of them by parent any more.
    if (!groupRuns(pgid) && (!leaderRuns(pgid) || see().length === 0)) return
    signalAll(pgid, see(), "SIGTERM")
    if (yield* awaitNothingRuns(pgid, [...known.values()], Duration.toMillis(grace))) return
    signalAll(pgid, see(), "SIGKILL")
    yield* awaitNothingRuns(pgid, [...known.values()], killWaitMillis)
  }).pipe(Effect.uninterruptible)
