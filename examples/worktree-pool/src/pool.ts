/**
 * The worktree pool on a scratch repository, offline: four tasks for three command agents, the repository's
 * own test command as the gate, a merge train that lands what passes. One task breaks the tests and is set
 * aside with its branch kept; the others are merged.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import { Pool, Progress, Task } from "@handoffkit/pool"

const identity = {
  GIT_AUTHOR_NAME: "Example",
  GIT_AUTHOR_EMAIL: "example@example.com",
  GIT_COMMITTER_NAME: "Example",
  GIT_COMMITTER_EMAIL: "example@example.com"
}

/** A scratch repository whose `node test.mjs` checks that every `src/*.mjs` module's `ok` is true. */
export const scratchRepository = (): { readonly dir: string; readonly repo: string } => {
  const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-example-")))
  const repo = Path.join(dir, "repo")
  const git = (...args: Array<string>) =>
    execFileSync("git", ["-C", repo, ...args], { env: { ...process.env, ...identity } })
  Fs.mkdirSync(Path.join(repo, "src"), { recursive: true })
  execFileSync("git", ["init", "-q", "-b", "main", repo])
  Fs.writeFileSync(
    Path.join(repo, "test.mjs"),
    [
      'import * as fs from "node:fs"',
      'import * as path from "node:path"',
      'import { pathToFileURL } from "node:url"',
      'const files = fs.readdirSync("src").filter((f) => f.endsWith(".mjs"))',
      "let failed = 0",
      "for (const f of files) {",
      '  const m = await import(pathToFileURL(path.resolve("src", f)).href)',
      '  if (m.ok !== true) { console.log("FAIL " + f); failed++ }',
      "}",
      "process.exit(failed ? 1 : 0)",
      ""
    ].join("\n")
  )
  Fs.writeFileSync(Path.join(repo, "src", "base.mjs"), "export const ok = true\n")
  git("add", "-A")
  git("commit", "-qm", "initial")
  return { dir, repo }
}

/** An agent that writes one module (argv, no shell: the content travels as an argument). */
const writer = (file: string, content: string) => ({
  type: "command",
  argv: [
    "node",
    "-e",
    "const fs = require('fs'); fs.mkdirSync(require('path').dirname(process.argv[1]), { recursive: true }); fs.writeFileSync(process.argv[1], process.argv[2])",
    file,
    content
  ]
})

export const tasksYaml = (): string =>
  JSON.stringify({
    defaults: { timeout: "1 minute" },
    tasks: [
      {
        id: "parser",
        prompt: "Add the parser module",
        owns: ["src/parser.mjs"],
        agent: writer("src/parser.mjs", "export const ok = true\n")
      },
      {
        id: "lexer",
        prompt: "Add the lexer module",
        owns: ["src/lexer.mjs"],
        agent: writer("src/lexer.mjs", "export const ok = true\n")
      },
      {
        id: "printer",
        prompt: "Add the printer module",
        owns: ["src/printer.mjs"],
        agent: writer("src/printer.mjs", "export const ok = false\n")
      },
      { id: "docs", prompt: "Write the docs", owns: ["docs/**"], agent: writer("docs/README.md", "# Docs\n") }
    ]
  })

/** Runs the pool on a fresh scratch repository and returns the summary and where it ran. */
export const runExample = (output: Progress.Output) =>
  Effect.gen(function* () {
    const { dir, repo } = scratchRepository()
    const { tasks } = yield* Task.decode(tasksYaml(), { file: "tasks.json" })
    const progress = Progress.make(output)
    const summary = yield* Pool.run({
      repo,
      tasks,
      workers: 3,
      gate: ["node", "test.mjs"],
      onEvent: progress.onEvent
    }).pipe(
      Effect.provide(Pool.layerFor(Pool.defaultRoot(repo))),
      Effect.ensuring(Effect.sync(progress.close))
    )
    return { dir, repo, summary }
  })
