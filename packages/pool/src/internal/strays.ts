/**
 * Processes a killed run left behind. Agents and gates run in process groups of their own, so when the pool
 * itself dies by SIGKILL nothing takes them down: they go on working in worktrees the resumed run is about
 * to remove or redo. Before a resumed run starts, every process whose working directory is under the run's
 * root is found through /proc and its whole process group killed. (Linux only; elsewhere this finds none.)
 * @internal
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Effect } from "effect"

interface Stray {
  readonly pid: number
  readonly pgid: number
  readonly cwd: string
}

const find = (root: string): Array<Stray> => {
  if (!Fs.existsSync("/proc")) return []
  const prefix = `${Path.resolve(root)}${Path.sep}`
  const strays: Array<Stray> = []
  for (const entry of Fs.readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      const cwd = Fs.readlinkSync(`/proc/${pid}/cwd`)
      if (!`${cwd}${Path.sep}`.startsWith(prefix)) continue
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      strays.push({ pid, pgid: Number(fields[2]), cwd })
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return strays
}

/** Kills the process groups of every process working under `root`, and waits (up to 5 s) until none is left. */
export const killStrays = (root: string): Effect.Effect<ReadonlyArray<Stray>> =>
  Effect.gen(function* () {
    const strays = find(root)
    if (strays.length === 0) return strays
    for (const group of new Set(strays.map((s) => s.pgid))) {
      if (group <= 1 || group === process.pid) continue
      try {
        process.kill(-group, "SIGKILL")
      } catch {
        // already gone
      }
    }
    for (const stray of strays) {
      try {
        process.kill(stray.pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 100 && find(root).some((s) => strays.some((t) => t.pid === s.pid)); i++) {
      yield* Effect.sleep("50 millis")
    }
    return strays
  })
