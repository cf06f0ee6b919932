import * as Fs from "node:fs"
import * as Path from "node:path"
import { spawn } from "node:child_process"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { agentScript, bin, identity, makeRepo, removeRepo, runCli, type Repo } from "./fixtures/cli.ts"

// The `handoffkit` bin run as a user runs it, in a child process, on real repositories: every command's
// help, the exit codes (0 done, 1 the work failed, 2 the invocation is wrong), messages that name the
// problem, JSON that is whole, and a killed run resumed from the command line.

const repos: Array<Repo> = []
const fresh = (files?: Record<string, string>) => {
  const repo = makeRepo(files)
  repos.push(repo)
  return repo
}
afterEach(() => {
  for (const repo of repos.splice(0)) removeRepo(repo)
})

const agent = JSON.stringify(["node", agentScript])

const tasksYaml = (tasks: ReadonlyArray<{ id: string; prompt: string; owns: string }>) =>
  `tasks:\n${tasks.map((t) => `  - id: ${t.id}\n    prompt: ${JSON.stringify(t.prompt)}\n    owns: [${JSON.stringify(t.owns)}]\n`).join("")}`

const poolRun = (r: Repo, tasks: string, ...more: ReadonlyArray<string>) =>
  runCli([
    "pool",
    "run",
    tasks,
    "--repo",
    r.repo,
    "--root",
    r.root,
    "--agent",
    agent,
    "--gate",
    "node test.mjs",
    ...more
  ])

describe("handoffkit", () => {
  const commands = [
    [],
    ["pool"],
    ["pool", "run"],
    ["pool", "resume"],
    ["pool", "status"],
    ["plan"],
    ["review"],
    ["trace"],
    ["trace", "summary"],
    ["trace", "view"],
    ["trace", "export"],
    ["demo"],
    ["doctor"]
  ]
  it("every command has --help: it prints the command's usage and exits 0", async () => {
    const results = await Promise.all(commands.map((path) => runCli([...path, "--help"])))
    for (const [i, result] of results.entries()) {
      const name = ["handoffkit", ...commands[i]].join(" ")
      assert.strictEqual(result.code, 0, `${name}: ${result.stderr}`)
      assert.include(result.stdout, "USAGE", name)
      assert.include(result.stdout, name)
    }
  }, 60_000)

  it("an unknown command, an unknown flag and a bad flag value exit 2 and say what is wrong, on stderr", async () => {
    const unknown = await runCli(["frobnicate"])
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, "frobnicate")

    const flag = await runCli(["plan", "tasks.yaml", "--no-such-flag"])
    assert.strictEqual(flag.code, 2)
    assert.include(flag.stderr, "--no-such-flag")
    assert.strictEqual(flag.stdout, "", "the help is not dumped on stdout")

    const r = fresh()
    const tasks = r.write("tasks.yaml", tasksYaml([{ id: "a", prompt: "a", owns: "a.txt" }]))
    const value = await poolRun(r, tasks, "--workers", "many")
    assert.strictEqual(value.code, 2)
    assert.include(value.stderr, "--workers")

    const zero = await poolRun(r, tasks, "--workers", "0")
    assert.strictEqual(zero.code, 2)
    assert.include(zero.stderr, "--workers: must be a whole number >= 1, got 0")

    const ahead = await poolRun(r, tasks, "--lookahead", "-1")
    assert.strictEqual(ahead.code, 2)
    assert.include(ahead.stderr, "--lookahead: must be a whole number >= 0, got -1")

    const shell = await runCli([
      "pool",
      "run",
      tasks,
      "--repo",
      r.repo,
      "--root",
      r.root,
      "--gate",
      "npm test && rm -rf /"
    ])
    assert.strictEqual(shell.code, 2)
    assert.include(shell.stderr, `--gate: "npm test && rm -rf /" holds "&"`)

    const duration = await poolRun(r, tasks, "--timeout", "soon")
    assert.strictEqual(duration.code, 2)
    assert.include(duration.stderr, `--timeout: "soon" is not a duration`)
    // Nothing ran: no root was made, the repository has its one commit.
    assert.isFalse(Fs.existsSync(r.root))
    assert.strictEqual(r.git("rev-list", "--count", "HEAD"), "1")
  })

  it("bad task files exit 2 with the file, the task and the field named, and nothing is started", async () => {
    const r = fresh()
    const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
      ["ids.yaml", tasksYaml([{ id: "../x", prompt: "p", owns: "a.txt" }]), ["ids.yaml", `"../x"`, "id"]],
      [
        "option.yaml",
        tasksYaml([{ id: "--upload-pack=evil", prompt: "p", owns: "a.txt" }]),
        ["option.yaml", "--upload-pack=evil", "starts with"]
      ],
      [
        "outside.yaml",
        tasksYaml([{ id: "a", prompt: "p", owns: "../../etc/passwd" }]),
        ["outside.yaml", `"a"`, "owns"]
      ],
      [
        "dup.yaml",
        tasksYaml([
          { id: "a", prompt: "p", owns: "a.txt" },
          { id: "a", prompt: "q", owns: "b.txt" }
        ]),
        ["dup.yaml", `"a"`]
      ],
      ["broken.json", `{"tasks": [`, ["broken.json"]],
      [
        "noprompt.json",
        JSON.stringify({ tasks: [{ id: "a", owns: ["a.txt"] }] }),
        ["noprompt.json", "prompt"]
      ]
    ]
    for (const [name, content, mentions] of cases) {
      const file = r.write(name, content)
      for (const args of [
        ["plan", file],
        ["pool", "run", file, "--repo", r.repo, "--root", r.root]
      ]) {
        const result = await runCli(args)
        assert.strictEqual(result.code, 2, `${name}: ${result.stderr}`)
        for (const mention of mentions) assert.include(result.stderr, mention, name)
        assert.match(result.stderr, /^handoffkit: /m)
      }
    }
    const missing = await runCli(["plan", Path.join(r.dir, "nope.yaml")])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "nope.yaml")
    assert.include(missing.stderr, "cannot be read")
    assert.isFalse(Fs.existsSync(r.root))
  })

  it("a dirty main tree is refused before anything starts, with exit 2", async () => {
    const r = fresh()
    const tasks = r.write("tasks.yaml", tasksYaml([{ id: "a", prompt: "a", owns: "a.txt" }]))
    Fs.appendFileSync(Path.join(r.repo, "README.md"), "edited\n")
    const result = await poolRun(r, tasks)
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "uncommitted changes (README.md)")
    assert.strictEqual(r.git("branch", "--list", "handoffkit/*"), "")
  })

  it("pool run merges passing work (exit 0); a task that breaks the tests makes it exit 1 with its branch kept", async () => {
    const r = fresh()
    const tasks = r.write(
      "tasks.yaml",
      tasksYaml([
        { id: "good-1", prompt: "fine", owns: "good-1.txt" },
        { id: "bad", prompt: "broken on purpose", owns: "bad.txt" },
        { id: "good-2", prompt: "fine too", owns: "good-2.txt" }
      ])
    )
    const result = await poolRun(r, tasks, "--workers", "2", "--json")
    assert.strictEqual(result.code, 1, result.stderr)
    // --json: stdout is one whole JSON document, even when the run failed.
    const summary = JSON.parse(result.stdout)
    const outcomes = Object.fromEntries(
      summary.tasks.map((t: { task: string; outcome: string }) => [t.task, t.outcome])
    )
    assert.deepStrictEqual(outcomes, { "good-1": "merged", bad: "failed", "good-2": "merged" })
    assert.strictEqual(summary.merged, 2)
    assert.include(result.stderr, "1 of 3 tasks not merged: bad (failed)")
    assert.strictEqual(r.git("show", "main:good-1.txt"), "fine")
    assert.strictEqual(r.git("show", "main:good-2.txt"), "fine too")
    assert.strictEqual(
      r.git("branch", "--list", "--format=%(refname:short)", "handoffkit/*"),
      "handoffkit/bad/1"
    )

    // The status command reads the journal the run left.
    const status = await runCli(["pool", "status", "--repo", r.repo, "--root", r.root, "--json"])
    assert.strictEqual(status.code, 0, status.stderr)
    const view = JSON.parse(status.stdout)
    assert.isTrue(view.finished)
    assert.deepStrictEqual(
      Object.fromEntries(view.tasks.map((t: { task: string; phase: string }) => [t.task, t.phase])),
      { "good-1": "merged", bad: "failed", "good-2": "merged" }
    )
    const text = await runCli(["pool", "status", "--repo", r.repo, "--root", r.root])
    assert.match(text.stdout, /^bad\s+failed\s+handoffkit\/bad\/1/m)
  })

  it("all merged exits 0 and prints the summary; a second run archives the finished journal", async () => {
    const r = fresh()
    const tasks = r.write(
      "tasks.yaml",
      tasksYaml([
        { id: "a", prompt: "alpha", owns: "a.txt" },
        { id: "b", prompt: "beta", owns: "b.txt" }
      ])
    )
    const first = await poolRun(r, tasks)
    assert.strictEqual(first.code, 0, first.stderr)
    assert.include(first.stdout, "2 of 2 merged into main")
    const again = r.write("again.yaml", tasksYaml([{ id: "c", prompt: "gamma", owns: "c.txt" }]))
    const second = await poolRun(r, again)
    assert.strictEqual(second.code, 0, second.stderr)
    assert.strictEqual(r.git("show", "main:c.txt"), "gamma")
    const journals = Fs.readdirSync(r.root).filter((f) => f.startsWith("journal"))
    assert.strictEqual(journals.length, 2, "the first run's journal is kept, renamed")
  })

  it("pool run and pool status work from a subdirectory: the repository is the one the directory is in", async () => {
    const r = fresh({ "src/lib.js": "export {}\n" })
    const tasks = r.write("tasks.yaml", tasksYaml([{ id: "a", prompt: "alpha", owns: "a.txt" }]))
    const cwd = Path.join(r.repo, "src")
    const run = await runCli(["pool", "run", tasks, "--agent", agent, "--gate", "node test.mjs"], { cwd })
    assert.strictEqual(run.code, 0, run.stderr)
    assert.strictEqual(r.git("show", "main:a.txt"), "alpha")
    assert.isTrue(
      Fs.existsSync(Path.join(r.dir, "repo.handoffkit")),
      "the default root is beside the repository"
    )
    assert.isFalse(Fs.existsSync(Path.join(cwd, "..", "src.handoffkit")), "not beside the subdirectory")
    assert.strictEqual(r.git("status", "--porcelain"), "")
    const status = await runCli(["pool", "status", "--json"], { cwd })
    assert.strictEqual(status.code, 0, status.stderr)
    assert.strictEqual(JSON.parse(status.stdout).tasks[0].phase, "merged")
  })

  it("a run killed mid-agent is refused by pool run (exit 2) and finished by pool resume", async () => {
    const r = fresh()
    const tasks = r.write(
      "tasks.yaml",
      tasksYaml([
        { id: "a", prompt: "alpha", owns: "a.txt" },
        { id: "b", prompt: "beta", owns: "b.txt" }
      ])
    )
    const marker = Path.join(r.dir, "paused")
    const child = spawn(
      process.execPath,
      [
        bin,
        "pool",
        "run",
        tasks,
        "--repo",
        r.repo,
        "--root",
        r.root,
        "--agent",
        agent,
        "--gate",
        "node test.mjs",
        "--workers",
        "1"
      ],
      { env: { ...process.env, ...identity, HANDOFFKIT_TEST_PAUSE: marker }, stdio: "ignore" }
    )
    const closed = new Promise((resolve) => child.on("close", resolve))
    for (let i = 0; i < 600 && !Fs.existsSync(marker); i++)
      await new Promise((resolve) => setTimeout(resolve, 100))
    assert.isTrue(Fs.existsSync(marker), "the agent started")
    child.kill("SIGKILL")
    await closed
    // The paused agent leads its own process group and outlived the CLI: resume stops it first.

    const rerun = await poolRun(r, tasks)
    assert.strictEqual(rerun.code, 2)
    assert.include(rerun.stderr, "handoffkit pool resume")

    const resumed = await runCli(
      [
        "pool",
        "resume",
        tasks,
        "--repo",
        r.repo,
        "--root",
        r.root,
        "--agent",
        agent,
        "--gate",
        "node test.mjs"
      ],
      { env: { HANDOFFKIT_TEST_PAUSE: marker } }
    )
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.strictEqual(r.git("show", "main:a.txt"), "alpha")
    assert.strictEqual(r.git("show", "main:b.txt"), "beta")
    // Each task merged exactly once.
    const merges = r.git("log", "--merges", "--format=%s", "main").split("\n")
    assert.deepStrictEqual(merges.toSorted(), ["Merge a: alpha", "Merge b: beta"])

    const nothing = fresh()
    const none = await runCli([
      "pool",
      "resume",
      tasks,
      "--repo",
      nothing.repo,
      "--root",
      nothing.root,
      "--agent",
      agent
    ])
    assert.strictEqual(none.code, 2)
    assert.include(none.stderr, "nothing to resume")
  }, 60_000)

  it("plan prints the predicted conflicts, as text and as JSON", async () => {
    const r = fresh()
    const tasks = r.write(
      "tasks.yaml",
      `tasks:\n  - {id: parser, prompt: p, owns: ["src/parser/**"]}\n  - {id: lexer, prompt: l, owns: ["src/parser/lexer.ts", "docs/**"]}\n  - {id: docs, prompt: d, owns: ["README.md"]}\n`
    )
    const text = await runCli(["plan", tasks])
    assert.strictEqual(text.code, 0, text.stderr)
    assert.include(text.stdout, "1 predicted conflict:")
    assert.include(text.stdout, "parser and lexer both own src/parser/** ∩ src/parser/lexer.ts")
    const json = await runCli(["plan", tasks, "--json"])
    const plan = JSON.parse(json.stdout)
    assert.deepStrictEqual(
      plan.overlaps.map((o: { a: string; b: string }) => [o.a, o.b]),
      [["parser", "lexer"]]
    )
  })

  it("doctor reports what it found, and a key only as present, never its value", async () => {
    const secret = "sk-test-doctor-0123456789abcdef"
    const r = fresh()
    const result = await runCli(["doctor", "--repo", r.repo, "--json"], { env: { OPENAI_API_KEY: secret } })
    assert.strictEqual(result.code, 0, result.stderr)
    const checks = JSON.parse(result.stdout) as ReadonlyArray<{
      check: string
      status: string
      detail: string
    }>
    const byName = Object.fromEntries(checks.map((c) => [c.check, c]))
    assert.strictEqual(byName.node.status, "ok")
    assert.strictEqual(byName.git.status, "ok")
    assert.strictEqual(byName.codex.status, "ok")
    assert.match(byName.codex.detail, /codex-cli \d+\.\d+/)
    assert.include(byName.keys.detail, "OPENAI_API_KEY present")
    assert.strictEqual(byName.repository.status, "ok")
    assert.strictEqual(byName["worktree root"].status, "ok")
    assert.notInclude(result.stdout + result.stderr, secret)
    const text = await runCli(["doctor", "--repo", r.repo], { env: { OPENAI_API_KEY: "" } })
    assert.include(text.stdout, "OPENAI_API_KEY absent")
  })
})
