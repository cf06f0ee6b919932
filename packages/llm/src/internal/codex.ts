/**
 * The process machinery behind `Codex.run`: resolving the binary, spawning it in its own process group, reading
 * its stdout line by line, and killing it together with everything it started.
 *
 * @internal
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { Deferred, Duration, Effect, Exit, Queue, Scope } from "effect"

// -----------------------------------------------------------------------------
// the binary
// -----------------------------------------------------------------------------

/**
 * The command that runs codex. The npm package's `bin/codex.js` is run with this very Node (on Node ≥ 22.15 it
 * `execve`s the native binary, so the pid we spawn is codex's own); any other path is run as it is.
 */
export const command = (
  codexPath: string | undefined
): { readonly file: string; readonly prefix: ReadonlyArray<string> } => {
  const path = codexPath ?? resolveDefault()
  return path.endsWith(".js") ? { file: process.execPath, prefix: [path] } : { file: path, prefix: [] }
}

const resolveDefault = (): string => {
  try {
    return createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")
  } catch {
    return "codex"
  }
}

// -----------------------------------------------------------------------------
// a temporary CODEX_HOME
// -----------------------------------------------------------------------------

/** A fresh directory for CODEX_HOME (codex refuses a missing one), removed when the scope closes. */
export const tempHome: Effect.Effect<string, string, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => Fs.promises.mkdtemp(Path.join(Os.tmpdir(), "handoffkit-codex-home-")),
    catch: (error) => `cannot make a temporary CODEX_HOME: ${String(error)}`
  }),
  (home) =>
    Effect.promise(() => Fs.promises.rm(home, { recursive: true, force: true }).catch(() => undefined))
)

// -----------------------------------------------------------------------------
// the child
// -----------------------------------------------------------------------------

/** How the child ended: an exit code, or the signal that killed it. */
export interface Exited {
  readonly code: number | null
  readonly signal: string | null
}

/** The end of stdout, in the line queue. */
export const EOF: unique symbol = Symbol.for("handoffkit/llm/Codex/EOF")

export interface Child {
  readonly pid: number
  /** Stdout, one line at a time (without the newline), then `EOF`. */
  readonly lines: Queue.Dequeue<string | typeof EOF>
  readonly exited: Deferred.Deferred<Exited>
  /** The last lines codex wrote to stderr (at most `stderrLines`, each at most 500 characters). */
  readonly stderrTail: () => ReadonlyArray<string>
}

const stderrLines = 20

/**
 * Spawns the child in its own session and process group (`detached`), stdin on /dev/null, and registers a
 * finalizer that, unless it has exited already, kills it and every process it started (`terminate`) and waits
 * for all of them to be gone. The finalizer runs uninterruptibly, so an interrupted run completes only after
 * that.
 */
export const spawn = (options: {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv
  readonly killGrace: Duration.Duration
}): Effect.Effect<Child, string, Scope.Scope> =>
  Effect.gen(function* () {
    const lines = yield* Queue.unbounded<string | typeof EOF>()
    const exited = yield* Deferred.make<Exited>()
    const start = Effect.callback<Child, string>((resume) => {
      let child: ChildProcess.ChildProcess
      try {
        child = ChildProcess.spawn(options.file, options.args, {
          cwd: options.cwd,
          env: options.env,
          detached: true,
          stdio: ["ignore", "pipe", "pipe"]
        })
      } catch (error) {
        resume(Effect.fail(String(error)))
        return
      }
      let started = false
      let ended = false
      let pending = ""
      const end = () => {
        if (ended) return
        ended = true
        if (pending !== "") Queue.offerUnsafe(lines, pending)
        pending = ""
        Queue.offerUnsafe(lines, EOF)
      }
      const stderr: Array<string> = []
      let stderrPending = ""
      child.stdout!.setEncoding("utf8")
      child.stdout!.on("data", (chunk: string) => {
        const parts = (pending + chunk).split("\n")
        pending = parts.pop()!
        for (const part of parts) Queue.offerUnsafe(lines, part)
      })
      child.stdout!.on("close", end)
      child.stdout!.on("error", end)
      child.stderr!.setEncoding("utf8")
      child.stderr!.on("data", (chunk: string) => {
        const parts = (stderrPending + chunk).split("\n")
        stderrPending = parts.pop()!.slice(-500)
        for (const part of parts) if (part.trim() !== "") stderr.push(part.slice(0, 500))
        if (stderr.length > stderrLines) stderr.splice(0, stderr.length - stderrLines)
      })
      child.stderr!.on("error", () => {})
      child.on("exit", (code, signal) => {
        Deferred.doneUnsafe(exited, Exit.succeed({ code, signal }))
        // A process codex left behind could hold stdout open: stop waiting for it a moment after the exit
        // (normally stdout closes first, or right after).
        if (!ended) {
          setTimeout(() => {
            child.stdout?.destroy()
            end()
          }, 1000).unref()
        }
      })
      child.on("error", (error) => {
        if (!started) resume(Effect.fail(error.message))
      })
      child.on("spawn", () => {
        started = true
        resume(
          Effect.succeed({
            pid: child.pid!,
            lines,
            exited,
            stderrTail: () => (stderrPending.trim() === "" ? stderr.slice() : [...stderr, stderrPending])
          })
        )
      })
    })
    return yield* Effect.acquireRelease(start, (child) => terminate(child, options.killGrace))
  })

// -----------------------------------------------------------------------------
// killing the tree
// -----------------------------------------------------------------------------

/** A process as seen in /proc: enough to find its children and to tell it from a later process with its pid. */
interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly pgid: number
  readonly state: string
  readonly start: string
}

const readProc = (pid: number): Proc | undefined => {
  let stat: string
  try {
    stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { pid, state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19] }
}

const hasProc = Fs.existsSync("/proc/self/stat")

const allProcs = (): Array<Proc> => {
  const out: Array<Proc> = []
  let names: Array<string>
  try {
    names = Fs.readdirSync("/proc")
  } catch {
    return out
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const proc = readProc(Number(name))
    if (proc !== undefined) out.push(proc)
  }
  return out
}

/** Every live descendant of `root` (not `root` itself), found through parent pids. Linux only; [] elsewhere. */
export const descendants = (root: number): Array<Proc> => {
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
      out.push(proc)
      queue.push(proc.pid)
    }
  }
  return out
}

/** Whether the process we saw is still there: same pid, same start time, and not a zombie. */
const alive = (proc: Proc): boolean => {
  const now = readProc(proc.pid)
  return now !== undefined && now.start === proc.start && now.state !== "Z" && now.state !== "X"
}

const signal = (target: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(target, sig)
  } catch {
    // ESRCH: gone already. EPERM: not ours to kill (a setuid helper); nothing more we can do.
  }
}

/**
 * Signals the child's process group and, because codex runs each command in a session of its own (its
 * sandbox helper calls setsid, and bubblewrap starts a new session), every process group and process of the
 * tree seen now: a group kill alone would leave the commands running.
 */
const signalTree = (pid: number, tree: ReadonlyArray<Proc>, sig: NodeJS.Signals): void => {
  signal(-pid, sig)
  const groups = new Set<number>()
  for (const proc of tree) {
    if (!alive(proc)) continue
    if (proc.pgid !== pid && proc.pgid > 1 && !groups.has(proc.pgid)) {
      groups.add(proc.pgid)
      signal(-proc.pgid, sig)
    }
    signal(proc.pid, sig)
  }
}

const merge = (known: Map<number, Proc>, more: ReadonlyArray<Proc>): void => {
  for (const proc of more) if (!known.has(proc.pid)) known.set(proc.pid, proc)
}

/**
 * Kills the child and every process it started, and waits until they are gone.
 *
 * If the child has exited already, only the processes it left in its own process group are killed. Otherwise:
 * SIGTERM to the whole tree, up to `grace` for the child to exit, then SIGKILL to what is left of the tree
 * (seen again, with anything started meanwhile); then wait for the child's exit (reaped by Node) and for every
 * process seen in the tree to stop running (polling /proc for at most two seconds). A zombie counts as gone:
 * the child's children were reparented when it died, and only pid 1 can reap them.
 */
export const terminate = (child: Child, grace: Duration.Duration): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { pid, exited } = child
    if (Deferred.isDoneUnsafe(exited)) {
      // Nothing can join the group of a leader that is gone except its own descendants, so what is left in
      // it was started by this run.
      if (!hasProc) return signal(-pid, "SIGKILL")
      const left = allProcs().filter((proc) => proc.pgid === pid && proc.state !== "Z")
      if (left.length > 0) signalTree(pid, left, "SIGKILL")
      return
    }
    const tree = new Map<number, Proc>()
    merge(tree, descendants(pid))
    signalTree(pid, [...tree.values()], "SIGTERM")
    const early = yield* Deferred.await(exited).pipe(Effect.timeoutOption(grace))
    if (early._tag === "None") {
      merge(tree, descendants(pid))
      signalTree(pid, [...tree.values()], "SIGKILL")
      yield* Deferred.await(exited)
    }
    // The child is gone and reaped. Its descendants were reparented; kill whatever of them still runs.
    const left = [...tree.values()].filter(alive)
    if (left.length === 0) return
    signalTree(pid, left, "SIGKILL")
    for (let i = 0; i < 200 && left.some(alive); i++) yield* Effect.sleep(10)
  })
