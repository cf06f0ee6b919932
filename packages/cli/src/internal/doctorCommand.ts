/**
 * `handoffkit doctor`: what this machine has for a run, each check with what it found. Keys are reported as
 * present or absent, never shown.
 * @internal
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import * as ChildProcess from "effect/process/ChildProcess"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Pool from "@handoffkit/pool/Pool"
import { WorkFailed } from "./args.ts"
import { codexCommand } from "./codexBinary.ts"

interface Check {
  readonly check: string
  readonly status: "ok" | "warn" | "fail"
  readonly detail: string
}

const versionOf = (text: string): ReadonlyArray<number> =>
  (/(\d+)\.(\d+)(?:\.(\d+))?/.exec(text) ?? []).slice(1).map((part) => Number(part ?? 0))

const atLeast = (found: ReadonlyArray<number>, wanted: ReadonlyArray<number>): boolean => {
  for (let i = 0; i < wanted.length; i++) {
    const a = found[i] ?? 0
    if (a !== wanted[i]) return a > wanted[i]
  }
  return true
}

/** The nearest directory at or above `path` that exists. */
const existingAncestor = (path: string): string => {
  let dir = path
  while (!Fs.existsSync(dir) && Path.dirname(dir) !== dir) dir = Path.dirname(dir)
  return dir
}

const checks = Effect.fn("handoffkit/cli/doctor")(function* (repoFlag: string) {
  const spawner = yield* ChildProcessSpawner
  const output = (command: string, args: ReadonlyArray<string>, cwd?: string) =>
    spawner
      .string(ChildProcess.make(command, args, { cwd, stdin: "ignore", stderr: "pipe" }))
      .pipe(Effect.scoped, Effect.timeout("20 seconds"), Effect.result)
  const out: Array<Check> = []

  const node = versionOf(process.version)
  out.push({
    check: "node",
    status: atLeast(node, [22]) ? "ok" : "fail",
    detail: `${process.version}${atLeast(node, [22]) ? "" : ": HandoffKit needs Node >= 22 (npm install brings Node 24)"}`
  })

  const git = yield* output("git", ["--version"])
  if (git._tag === "Failure") out.push({ check: "git", status: "fail", detail: "git was not found on PATH" })
  else {
    const ok = atLeast(versionOf(git.success), [2, 38])
    out.push({
      check: "git",
      status: ok ? "ok" : "fail",
      detail: `${git.success.trim()}${ok ? "" : ": the merge train needs git >= 2.38 (merge-tree --write-tree)"}`
    })
  }

  const codexRun = codexCommand(["--version"])
  const codexPath = codexRun.args[0] === "--version" ? codexRun.file : codexRun.args[0]
  const codex = yield* output(codexRun.file, codexRun.args)
  out.push(
    codex._tag === "Failure"
      ? { check: "codex", status: "warn", detail: `${codexPath} did not run: codex agents cannot work` }
      : { check: "codex", status: "ok", detail: `${codex.success.trim()} (${codexPath})` }
  )

  const key = process.env.OPENAI_API_KEY
  const codexHome = process.env.CODEX_HOME ?? Path.join(process.env.HOME ?? "", ".codex")
  const auth = Fs.existsSync(Path.join(codexHome, "auth.json"))
  out.push({
    check: "keys",
    status: key !== undefined && key !== "" ? "ok" : auth ? "ok" : "warn",
    detail: `OPENAI_API_KEY ${key !== undefined && key !== "" ? "present" : "absent"}; codex login ${auth ? "present" : "absent"} (${Path.join(codexHome, "auth.json")}); the demo needs neither`
  })

  const repo = Path.resolve(repoFlag)
  const top = yield* output("git", ["-C", repo, "rev-parse", "--show-toplevel"])
  if (top._tag === "Failure" || top.success.trim() === "") {
    out.push({ check: "repository", status: "warn", detail: `${repo} is not in a git repository` })
  } else {
    const topDir = top.success.trim()
    const dirty = yield* output("git", ["-C", topDir, "status", "--porcelain", "--untracked-files=no"])
    const clean = dirty._tag === "Success" && dirty.success.trim() === ""
    out.push({
      check: "repository",
      status: clean ? "ok" : "warn",
      detail: `${topDir}${clean ? "" : ": has uncommitted changes (the pool refuses a dirty main tree)"}`
    })
    const root = Pool.defaultRoot(topDir)
    const dir = existingAncestor(root)
    let writable = true
    try {
      Fs.accessSync(dir, Fs.constants.W_OK)
    } catch {
      writable = false
    }
    out.push({
      check: "worktree root",
      status: writable ? "ok" : "fail",
      detail: `${root}${writable ? " (writable)" : `: ${dir} is not writable; give --root`}`
    })
  }
  return out
})

/** `handoffkit doctor`. */
export const doctor = Command.make(
  "doctor",
  {
    repo: Flag.String("repo").pipe(Flag.withDescription("The repository to check"), Flag.withDefault(".")),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print the checks as JSON"), Flag.withDefault(false))
  },
  Effect.fn("handoffkit/cli/doctor.command")(function* (input) {
    const found = yield* checks(input.repo)
    if (input.json) yield* Console.log(JSON.stringify(found, null, 2))
    else {
      const width = Math.max(...found.map((c) => c.check.length))
      yield* Console.log(
        found.map((c) => `${c.status.padEnd(4)}  ${c.check.padEnd(width)}  ${c.detail}`).join("\n")
      )
    }
    const failed = found.filter((c) => c.status === "fail")
    if (failed.length > 0) {
      return yield* new WorkFailed({ reason: `doctor: ${failed.map((c) => c.check).join(", ")} failed` })
    }
  })
).pipe(
  Command.withDescription("Check git, node, codex, keys (present or not, never shown) and the worktree root")
)
