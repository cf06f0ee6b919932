import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { runCli, type Result } from "./fixtures/cli.ts"

// `handoffkit demo` as a newcomer runs it (`npm run demo` runs exactly this bin): offline, the real codex CLI
// against the scripted model server, a pool of three workers, a review and the trace summary. Then the other
// commands on what it left: `review --json` and `trace summary` on one and on two trace files.

let dir: string
/** The events of the pool's coordinator and train: one "process" of the split trace. */
const central = (line: string) => /"actor":"pool\/(coordinator|train)"/.test(line)
let demo: Result
const repo = () => Path.join(dir, "calc")
const git = (...args: ReadonlyArray<string>) =>
  execFileSync("git", ["-C", repo(), ...args], { encoding: "utf8" }).trim()

beforeAll(async () => {
  dir = Path.join(Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-demo-test-"))), "demo")
  // No key and no git identity needed: the demo brings its own.
  demo = await runCli(["demo", "--dir", dir], {
    env: {
      OPENAI_API_KEY: undefined,
      GIT_AUTHOR_NAME: undefined,
      GIT_AUTHOR_EMAIL: undefined,
      GIT_COMMITTER_NAME: undefined,
      GIT_COMMITTER_EMAIL: undefined
    }
  })
}, 240_000)

afterAll(() => Fs.rmSync(Path.dirname(dir), { recursive: true, force: true }))

describe("handoffkit demo", () => {
  it("ends with merged work, a review's findings and a trace summary, and exits 0", () => {
    assert.strictEqual(demo.code, 0, demo.stderr)
    assert.include(demo.stdout, "4 of 4 merged into main")
    // Merged for real: the four files are on main, each through one merge commit of the train.
    for (const file of ["src/mul.mjs", "src/div.mjs", "src/pow.mjs", "docs/operations.md"]) {
      assert.isNotEmpty(git("show", `main:${file}`))
    }
    const merges = git("log", "--merges", "--format=%s", "main").split("\n")
    assert.deepStrictEqual(merges.map((subject) => /^Merge (\w+): /.exec(subject)?.[1]).toSorted(), [
      "div",
      "docs",
      "mul",
      "pow"
    ])
    // The merged repository passes its own tests, and no worktree or task branch is left.
    execFileSync("node", ["test.mjs"], { cwd: repo(), stdio: "ignore" })
    assert.deepStrictEqual(git("worktree", "list", "--porcelain").match(/^worktree /gm)?.length, 1)
    assert.strictEqual(git("branch", "--list", "handoffkit/*"), "")
    // The review: three scopes, and the planted TODO found at its line.
    assert.include(demo.stdout, "3 reviewers over 8 files")
    assert.match(demo.stdout, /^src\/sub\.mjs:1\s+info\s+TODO marker$/m)
    // The trace summary: a row per agent (the pool's and the three codex workers'), and a causal chain.
    for (const agent of [
      "pool/coordinator",
      "pool/train",
      "codex/worker-0",
      "codex/worker-1",
      "codex/worker-2"
    ]) {
      assert.match(demo.stdout, new RegExp(`^${agent}\\s+\\d+`, "m"))
    }
    assert.include(demo.stdout, "causal chain (the longest):")
    assert.match(demo.stdout, /pool:\w+:1:merged\s+pool\/train -> pool\/coordinator/)
  })

  it("ran three real codex workers, each with its own CODEX_HOME, through the scripted server only", () => {
    const homes = Path.join(dir, "calc.handoffkit", "homes")
    const made = Fs.readdirSync(homes).filter((name) => Fs.existsSync(Path.join(homes, name, "codex-home")))
    assert.deepStrictEqual(made.toSorted(), ["worker-0", "worker-1", "worker-2"])
    const trace = Fs.readFileSync(Path.join(dir, "trace.jsonl"), "utf8")
    const requests = trace.split("\n").filter((line) => line.includes(`"kind":"model.request"`))
    assert.isAtLeast(requests.length, 4)
  })

  it("review --json splits every tracked file into exactly one of k scopes, sizes within the largest file", async () => {
    const tracked = git("ls-files", "-z").split("\0").filter(Boolean)
    const size = (file: string) => Fs.statSync(Path.join(repo(), file)).size
    const largest = Math.max(...tracked.map(size))
    for (const k of [1, 2, 3, 5]) {
      const result = await runCli(["review", "--repo", repo(), "--reviewers", String(k), "--json"])
      assert.strictEqual(result.code, 0, result.stderr)
      const review = JSON.parse(result.stdout) as {
        scopes: ReadonlyArray<{ files: ReadonlyArray<string>; bytes: number }>
        findings: ReadonlyArray<{ file: string; line: number }>
      }
      assert.strictEqual(review.scopes.length, k)
      const all = review.scopes.flatMap((scope) => scope.files)
      assert.deepStrictEqual(all.toSorted(), tracked.toSorted(), `k=${k}: every file exactly once`)
      const bytes = review.scopes.map((scope) => scope.bytes)
      assert.isAtMost(Math.max(...bytes) - Math.min(...bytes), largest, `k=${k}`)
      assert.deepStrictEqual(
        review.findings.map((f) => `${f.file}:${f.line}`),
        ["src/sub.mjs:1"]
      )
    }
    const bad = await runCli(["review", "--repo", repo(), "--reviewers", "0"])
    assert.strictEqual(bad.code, 2)
    assert.include(bad.stderr, "--reviewers")
    const notRepo = await runCli(["review", "--repo", Os.tmpdir()])
    assert.strictEqual(notRepo.code, 2)
  })

  it("trace summary prints the demo's table and chain; split in two files, the merged view is the same", async () => {
    const traceFile = Path.join(dir, "trace.jsonl")
    const one = await runCli(["trace", "summary", traceFile, "--json"])
    assert.strictEqual(one.code, 0, one.stderr)
    const whole = JSON.parse(one.stdout)
    // Two "processes": the pool's coordinator and train in one file, everyone else in the other; each file
    // alone misses half of each message's story.
    const lines = Fs.readFileSync(traceFile, "utf8").split("\n").filter(Boolean)
    const a = Path.join(dir, "a.jsonl")
    const b = Path.join(dir, "b.jsonl")
    Fs.writeFileSync(a, lines.filter(central).join("\n") + "\n")
    Fs.writeFileSync(b, lines.filter((line) => !central(line)).join("\n") + "\n")
    const two = await runCli(["trace", "summary", a, b, "--json"])
    assert.strictEqual(two.code, 0, two.stderr)
    const merged = JSON.parse(two.stdout)
    assert.deepStrictEqual(merged.summary.agents, whole.summary.agents)
    assert.deepStrictEqual(
      merged.chain.steps.map((s: { messageId: string; kind: string }) => [s.messageId, s.kind]),
      whole.chain.steps.map((s: { messageId: string; kind: string }) => [s.messageId, s.kind])
    )
    // The chain of one task crosses both files: the worker's ready (file b) caused the train's merged (file a).
    const onlyA = JSON.parse((await runCli(["trace", "summary", a, "--json"])).stdout)
    assert.isBelow(onlyA.chain.steps.length, merged.chain.steps.length)

    const text = await runCli(["trace", "summary", a, b])
    assert.match(text.stdout, /^agent\s+received\s+sent\s+handoffs/m)
    const missing = await runCli(["trace", "summary", Path.join(dir, "nope.jsonl")])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "nope.jsonl")
  })
})
