/**
 * The offline demo's parts: a scratch repository (a tiny calculator whose `node test.mjs` really runs), the
 * tasks given to the pool, and the script of the model server that plays the model for the Codex agents.
 * Codex itself is real: the `codex` binary runs, calls the scripted server on 127.0.0.1 and runs the shell
 * commands the script asks for in each task's worktree.
 * @internal
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"

const { Turn } = ScriptedServer

/** The identity of the demo's commits (the machine may have no git identity configured). */
export const author = { name: "HandoffKit demo", email: "demo@handoffkit.invalid" }

const identity = {
  GIT_AUTHOR_NAME: author.name,
  GIT_AUTHOR_EMAIL: author.email,
  GIT_COMMITTER_NAME: author.name,
  GIT_COMMITTER_EMAIL: author.email
}

const testScript = `// The suite: every src/*.mjs module exports cases [input, expected]; one failure fails the run.
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
let failed = 0
for (const file of fs.readdirSync("src").filter((f) => f.endsWith(".mjs")).sort()) {
  const mod = await import(pathToFileURL(path.resolve("src", file)).href)
  for (const [args, expected] of mod.cases ?? []) {
    const got = mod.default(...args)
    if (got !== expected) {
      console.log(\`FAIL \${file}: (\${args}) gave \${got}, expected \${expected}\`)
      failed++
    }
  }
  console.log(\`ok \${file}\`)
}
process.exit(failed > 0 ? 1 : 0)
`

const files: Record<string, string> = {
  "README.md": "# calc\n\nA tiny calculator, one operation per module under src/.\n",
  "test.mjs": testScript,
  "src/add.mjs": "export default (a, b) => a + b\nexport const cases = [[[1, 2], 3]]\n",
  // A real finding for the review to report: an unfinished edge case.
  "src/sub.mjs":
    "// TODO: handle subtracting more than one number\nexport default (a, b) => a - b\nexport const cases = [[[3, 2], 1]]\n"
}

/** One task of the demo: what the pool is asked, and the shell command the scripted model answers with. */
interface DemoTask {
  readonly id: string
  readonly prompt: string
  readonly owns: ReadonlyArray<string>
  readonly file: string
  readonly content: string
}

export const tasks: ReadonlyArray<DemoTask> = [
  {
    id: "mul",
    prompt: "Add src/mul.mjs: multiplication, with test cases.",
    owns: ["src/mul.mjs"],
    file: "src/mul.mjs",
    content: "export default (a, b) => a * b\nexport const cases = [[[3, 4], 12], [[0, 9], 0]]\n"
  },
  {
    id: "div",
    prompt: "Add src/div.mjs: division that returns NaN for a zero divisor, with test cases.",
    owns: ["src/div.mjs"],
    file: "src/div.mjs",
    content:
      "export default (a, b) => (b === 0 ? NaN : a / b)\nexport const cases = [[[8, 2], 4], [[1, 4], 0.25]]\n"
  },
  {
    id: "pow",
    prompt: "Add src/pow.mjs: integer powers, with test cases.",
    owns: ["src/pow.mjs"],
    file: "src/pow.mjs",
    content: "export default (a, b) => a ** b\nexport const cases = [[[2, 10], 1024]]\n"
  },
  {
    id: "docs",
    prompt: "Document every operation in docs/operations.md.",
    owns: ["docs/**"],
    file: "docs/operations.md",
    content: "# Operations\n\n- add, sub, mul, div (NaN on a zero divisor), pow\n"
  }
]

/** The task file the demo writes, as a user would (YAML). */
export const taskFile = (): string =>
  `# The demo's tasks: one per operation, each owning the files it writes.\ntasks:\n${tasks
    .map(
      (t) =>
        `  - id: ${t.id}\n    prompt: ${JSON.stringify(t.prompt)}\n    owns: [${t.owns.map((o) => JSON.stringify(o)).join(", ")}]\n    agent: codex\n`
    )
    .join("")}`

/** Makes the scratch repository `<dir>/calc` with one commit, and returns its path. */
export const makeRepository = (dir: string): string => {
  const repo = Path.join(dir, "calc")
  Fs.mkdirSync(repo, { recursive: true })
  const git = (...args: ReadonlyArray<string>) =>
    execFileSync("git", ["-C", repo, ...args], { env: { ...process.env, ...identity }, stdio: "ignore" })
  execFileSync("git", ["init", "-q", "-b", "main", repo], { stdio: "ignore" })
  for (const [file, content] of Object.entries(files)) {
    Fs.mkdirSync(Path.dirname(Path.join(repo, file)), { recursive: true })
    Fs.writeFileSync(Path.join(repo, file), content)
  }
  git("add", "-A")
  git("commit", "-qm", "calc: add and sub")
  return repo
}

const inputOf = (request: ScriptedServer.RecordedRequest): string =>
  JSON.stringify((request.body as { readonly input?: unknown } | undefined)?.input ?? "")

// A heredoc with a quoted delimiter: the content goes to the file byte for byte, the shell expands nothing.
const writeCommand = (task: DemoTask): string =>
  `mkdir -p ${Path.dirname(task.file)} && cat > ${task.file} <<'HANDOFFKIT_EOF'\n${task.content}HANDOFFKIT_EOF\ncat ${task.file}`

/**
 * The model's side of each Codex run: the first request of a task gets one shell command that writes the
 * task's file; the request after the command's output gets the final message. Usage is reported so the
 * budget and the trace have tokens to count.
 */
export const script = (request: ScriptedServer.RecordedRequest): ScriptedServer.Turn => {
  const input = inputOf(request)
  const task = tasks.find((t) => input.includes(t.prompt))
  if (task === undefined)
    return Turn.text("I do not know this task.", { usage: { input_tokens: 50, output_tokens: 8 } })
  if (input.includes("function_call_output")) {
    return Turn.text(`Wrote ${task.file}.`, { usage: { input_tokens: 420, output_tokens: 12 } })
  }
  return Turn.toolCall(
    "exec_command",
    { cmd: writeCommand(task) },
    { usage: { input_tokens: 380, output_tokens: 64 } }
  )
}
