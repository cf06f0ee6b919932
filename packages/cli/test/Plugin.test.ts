import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ScriptedServer } from "@handoffkit/llm"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Util from "node:util"

// The Codex plugin in plugins/handoffkit, checked three ways: its manifests against the rules codex applies,
// installed and listed by the real codex CLI in a temporary CODEX_HOME, and used by `codex exec` against a
// ScriptedServer on 127.0.0.1, whose scripted model runs the `handoffkit review` command the skill names in a
// temporary git repository. Every command line the skills name is checked against the real CLI's help, and
// the examples they show are run.

const repoRoot = Path.resolve(import.meta.dirname, "..", "..", "..")
const pluginRoot = Path.join(repoRoot, "plugins", "handoffkit")
const marketplaceFile = Path.join(repoRoot, ".agents", "plugins", "marketplace.json")
const manifestFile = Path.join(pluginRoot, ".codex-plugin", "plugin.json")
const cliBin = Path.join(repoRoot, "packages", "cli", "bin", "handoffkit.js")
const codexBin = createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")

// -----------------------------------------------------------------------------
// the plugin's files
// -----------------------------------------------------------------------------

interface Skill {
  readonly name: string
  readonly description: string
  /** SKILL.md without its front matter. */
  readonly body: string
  readonly file: string
}

const readJson = (file: string): any => JSON.parse(Fs.readFileSync(file, "utf8"))

const skillNames = (): Array<string> =>
  Fs.readdirSync(Path.join(pluginRoot, "skills"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .toSorted()

const readSkill = (name: string): Skill => {
  const file = Path.join(pluginRoot, "skills", name, "SKILL.md")
  const text = Fs.readFileSync(file, "utf8")
  const match = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text)
  assert.isNotNull(match, `${file} opens with YAML front matter between --- lines`)
  const field = (key: string) => new RegExp(`^${key}:\\s*(.+)$`, "m").exec(match![1])?.[1].trim() ?? ""
  return { name: field("name"), description: field("description"), body: match![2], file }
}

/** The fenced blocks of a Markdown text in the given language, each as its text. */
const fencedBlocks = (markdown: string, language: string): Array<string> => {
  const blocks: Array<string> = []
  const fence = /^([ \t]*)```(\w*)\n([\s\S]*?)^\1```[ \t]*$/gm
  for (const match of markdown.matchAll(fence)) {
    if (match[2] !== language) continue
    // Blocks inside a list item are indented: strip the fence's indentation from each line.
    const indent = match[1]
    blocks.push(
      match[3]
        .split("\n")
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join("\n")
    )
  }
  return blocks
}

const isCommand = (line: string) => /^handoffkit\s+\S/.test(line)

/** The `handoffkit …` lines of a Markdown text's sh blocks, without trailing comments. */
const blockCommands = (markdown: string): Array<string> =>
  fencedBlocks(markdown, "sh")
    .flatMap((block) => block.split("\n"))
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter(isCommand)

/** Every `handoffkit …` command line of a Markdown text: the lines of its sh blocks and its code spans. */
const commandLines = (markdown: string): Array<string> => {
  const withoutBlocks = markdown.replace(/^[ \t]*```[\s\S]*?^[ \t]*```[ \t]*$/gm, "")
  const spans = [...withoutBlocks.matchAll(/`([^`\n]+)`/g)].map((match) => match[1].trim())
  return [...blockCommands(markdown), ...spans.filter(isCommand)]
}

/** Splits a command line into words the way sh does for plain words and quoted strings (no expansions). */
const words = (line: string): Array<string> =>
  [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2] ?? match[3])

/** The subcommand a command line names: the words after `handoffkit` up to the first argument or flag. */
const subcommandOf = (line: string): Array<string> => {
  const rest = words(line).slice(1)
  const end = rest.findIndex((word) => !/^[a-z][a-z-]*$/.test(word))
  return rest.slice(0, end === -1 ? rest.length : end).slice(0, 2)
}

// -----------------------------------------------------------------------------
// processes
// -----------------------------------------------------------------------------

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `file args` without a shell, stdin closed; the child is killed if the test is interrupted. */
const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}
): Effect.Effect<Ran> =>
  Effect.callback<Ran>((resume) => {
    const child = ChildProcess.spawn(file, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", (error) => resume(Effect.succeed({ code: null, stdout, stderr: String(error) })))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The real `handoffkit` bin, run with this Node (24: the bin needs type stripping). */
const handoffkit = (args: ReadonlyArray<string>, cwd?: string) =>
  run(process.execPath, [cliBin, ...args], cwd === undefined ? {} : { cwd })

/** A fresh directory, removed with the test's scope. */
const tempDirectory = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix)))),
    (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))
  )

/** codex's environment: no credentials of ours, its own CODEX_HOME, and `extraPath` first on the PATH. */
const codexEnv = (home: string, extraPath?: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, CODEX_HOME: home }
  delete env.OPENAI_API_KEY
  delete env.CODEX_API_KEY
  delete env.CODEX_ACCESS_TOKEN
  if (extraPath !== undefined) env.PATH = `${extraPath}${Path.delimiter}${process.env.PATH ?? ""}`
  return env
}

const codex = (home: string, args: ReadonlyArray<string>, options: { cwd?: string; path?: string } = {}) =>
  run(process.execPath, [codexBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: codexEnv(home, options.path)
  })

/** A CODEX_HOME with the plugin installed from this repository's marketplace, as a user would. */
const installedHome = Effect.gen(function* () {
  const home = yield* tempDirectory("handoffkit-plugin-home-")
  const marketplace = readJson(marketplaceFile)
  const added = yield* codex(home, ["plugin", "marketplace", "add", repoRoot])
  const installed = yield* codex(home, ["plugin", "add", `handoffkit@${marketplace.name}`])
  const listed = yield* codex(home, ["plugin", "list"])
  return { home, marketplace, added, installed, listed }
})

const git = (cwd: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const ran = yield* run("git", ["-c", "user.name=Test", "-c", "user.email=test@example.com", ...args], {
      cwd
    })
    assert.strictEqual(ran.code, 0, `git ${args.join(" ")}: ${ran.stderr}`)
    return ran.stdout
  })

/** A small real git repository with files of different sizes in a few directories. */
const sampleRepo = Effect.gen(function* () {
  const repo = yield* tempDirectory("handoffkit-plugin-repo-")
  const files: Record<string, string> = {
    "README.md": "# sample\n\nA repository to review.\n",
    "package.json": '{ "name": "sample", "private": true, "type": "module" }\n',
    "src/parser.ts":
      `export const parse = (text: string) => text.split("\\n").map((line) => line.trim())\n`.repeat(8),
    "src/auth.ts":
      "export const check = (a: string, b: string) => a == b // TODO: constant-time compare\n".repeat(4),
    "src/util/strings.ts": "export const pad = (s: string, n: number) => s.padEnd(n)\n".repeat(3),
    "test/parser.test.ts": 'import { parse } from "../src/parser.ts"\nconsole.log(parse("a\\nb"))\n',
    "docs/guide.md": "# Guide\n\nRun it.\n".repeat(5)
  }
  for (const [file, content] of Object.entries(files)) {
    Fs.mkdirSync(Path.dirname(Path.join(repo, file)), { recursive: true })
    Fs.writeFileSync(Path.join(repo, file), content)
  }
  yield* git(repo, ["init", "-q", "-b", "main"])
  yield* git(repo, ["add", "-A"])
  yield* git(repo, ["commit", "-q", "-m", "sample"])
  return repo
})

/** Every text an input item of a Responses request carries. */
const inputTexts = (body: unknown): Array<string> => {
  const texts: Array<string> = []
  for (const item of (body as { readonly input?: ReadonlyArray<any> }).input ?? []) {
    if (Array.isArray(item.content)) for (const part of item.content) texts.push(String(part.text ?? ""))
    if (typeof item.output === "string") texts.push(item.output)
  }
  return texts
}

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("the Codex plugin", () => {
  it("follows the manifest rules: ./ paths that exist inside the plugin, the marketplace's name, ≤ 3 prompts", () => {
    const marketplace = readJson(marketplaceFile)
    const manifest = readJson(manifestFile)
    assert.strictEqual(marketplace.name, "handoffkit-local")
    const entries = marketplace.plugins.filter((entry: any) => entry.name === manifest.name)
    assert.strictEqual(entries.length, 1, "one marketplace entry named like the plugin")
    const [entry] = entries
    assert.deepStrictEqual(entry.source.source, "local")
    assert.isTrue(entry.source.path.startsWith("./"), entry.source.path)
    assert.strictEqual(Path.resolve(repoRoot, entry.source.path), pluginRoot)
    assert.deepStrictEqual([manifest.name, manifest.version], ["handoffkit", "0.1.0"])

    // Every path the manifest names (and there may be more than skills) starts with ./, stays inside the
    // plugin folder and exists.
    const paths: Array<string> = []
    for (const key of ["skills", "mcpServers", "hooks", "apps"]) {
      if (typeof manifest[key] === "string") paths.push(manifest[key])
    }
    for (const key of ["composerIcon", "logo"]) {
      if (typeof manifest.interface?.[key] === "string") paths.push(manifest.interface[key])
    }
    paths.push(...(manifest.interface?.screenshots ?? []))
    assert.include(paths, "./skills/")
    for (const path of paths) {
      assert.isTrue(path.startsWith("./"), `${path} starts with ./`)
      const resolved = Path.resolve(pluginRoot, path)
      assert.isFalse(Path.relative(pluginRoot, resolved).startsWith(".."), `${path} stays inside the plugin`)
      assert.isTrue(Fs.existsSync(resolved), `${path} exists`)
    }
    assert.isUndefined(manifest.mcpServers, "no MCP server is shipped")

    // Install copies regular files only: a symlink would be lost.
    const walk = (directory: string): Array<string> =>
      Fs.readdirSync(directory, { withFileTypes: true }).flatMap((dirent) => {
        const full = Path.join(directory, dirent.name)
        return dirent.isDirectory() ? walk(full) : [full]
      })
    for (const file of walk(pluginRoot))
      assert.isTrue(Fs.lstatSync(file).isFile(), `${file} is a regular file`)

    const prompts: ReadonlyArray<string> = manifest.interface.defaultPrompt
    assert.isAtLeast(prompts.length, 1)
    assert.isAtMost(prompts.length, 3)
    for (const prompt of prompts) assert.match(prompt, /^\$handoffkit /)
    assert.isString(manifest.interface.displayName)
    assert.isString(manifest.interface.shortDescription)

    // Each skill is named after its folder, with a short description: descriptions share a small budget.
    assert.deepStrictEqual(skillNames(), ["effect-programs", "handoffkit"])
    for (const name of skillNames()) {
      const skill = readSkill(name)
      assert.strictEqual(skill.name, name)
      assert.isAbove(skill.description.length, 20)
      assert.isAtMost(skill.description.length, 250, `${name}'s description`)
      assert.match(skill.description, /^Use when /)
    }
  })

  it.live(
    "installs with the real codex CLI: marketplace add, plugin add <plugin>@<marketplace>, listed installed and enabled",
    () =>
      Effect.gen(function* () {
        const { home, marketplace, added, installed, listed } = yield* installedHome
        assert.strictEqual(added.code, 0, added.stderr)
        assert.include(added.stdout, `Added marketplace \`${marketplace.name}\``)
        assert.strictEqual(installed.code, 0, installed.stderr)
        assert.include(
          installed.stdout,
          `Added plugin \`handoffkit\` from marketplace \`${marketplace.name}\``
        )
        assert.strictEqual(listed.code, 0, listed.stderr)
        assert.match(listed.stdout, /^handoffkit@handoffkit-local\s+installed, enabled\s+0\.1\.0\s/m)

        // codex copied the plugin into its cache: the skills it will read are these files, byte for byte.
        const cached = Path.join(home, "plugins", "cache", marketplace.name, "handoffkit", "0.1.0")
        for (const name of skillNames()) {
          const file = Path.join("skills", name, "SKILL.md")
          assert.strictEqual(
            Fs.readFileSync(Path.join(cached, file), "utf8"),
            Fs.readFileSync(Path.join(pluginRoot, file), "utf8")
          )
        }

        // A bare plugin name is refused: codex needs <plugin>@<marketplace> (or --marketplace).
        const bare = yield* codex(home, ["plugin", "add", "handoffkit"])
        assert.notStrictEqual(bare.code, 0)
        assert.include(bare.stderr, "--marketplace")
      }),
    30_000
  )

  it.live(
    "`$handoffkit:handoffkit run 3 review agents in parallel in this repo`: the skill reaches the model, which runs `handoffkit review` to three disjoint scopes",
    () =>
      Effect.gen(function* () {
        const { home, installed } = yield* installedHome
        assert.strictEqual(installed.code, 0, installed.stderr)
        const repo = yield* sampleRepo
        const skill = readSkill("handoffkit")

        // `handoffkit` on the PATH: a shim running this repository's bin with this Node.
        const bin = yield* tempDirectory("handoffkit-plugin-bin-")
        Fs.writeFileSync(
          Path.join(bin, "handoffkit"),
          `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(cliBin)} "$@"\n`,
          { mode: 0o755 }
        )

        // The model does what the skill says: the review command line it shows, for three reviewers, as JSON
        // (the builtin reviewer's: the one that needs no network, unlike `--reviewer codex`).
        const reviewLines = blockCommands(skill.body).filter(
          (line) => subcommandOf(line).join(" ") === "review" && !words(line).includes("--reviewer")
        )
        assert.strictEqual(reviewLines.length, 1, `one builtin \`handoffkit review\` line in ${skill.file}`)
        const [reviewLine] = reviewLines
        assert.includeMembers(words(reviewLine), ["--reviewers", "3", "--json"])
        const server = yield* ScriptedServer.make([
          ScriptedServer.Turn.toolCall("exec_command", { cmd: reviewLine }, { callId: "call_review" }),
          ScriptedServer.Turn.text("Three reviewers, three disjoint scopes: no findings to report.")
        ])

        const prompt = "$handoffkit:handoffkit run 3 review agents in parallel in this repo"
        const ran = yield* codex(
          home,
          [
            "exec",
            "--json",
            "--ephemeral",
            "--skip-git-repo-check",
            "-s",
            "workspace-write",
            "-C",
            repo,
            "-c",
            'model_provider="stub"',
            "-c",
            'model="gpt-5.5"',
            "-c",
            'model_providers.stub.name="stub"',
            "-c",
            `model_providers.stub.base_url=${JSON.stringify(server.url)}`,
            "-c",
            'model_providers.stub.wire_api="responses"',
            "-c",
            "model_providers.stub.request_max_retries=0",
            "-c",
            "model_providers.stub.stream_max_retries=0",
            // Without this codex runs commands in a login shell, whose profile resets the PATH (and the shim).
            "-c",
            "allow_login_shell=false",
            "--",
            prompt
          ],
          { cwd: repo, path: bin }
        )
        assert.strictEqual(ran.code, 0, `codex exec: ${ran.stderr}`)

        // The first request: the skill is listed with its description, and the mention inlined its body.
        const requests = (yield* server.requests).filter((request) => request.path === "/v1/responses")
        assert.strictEqual(requests.length, 2)
        const first = inputTexts(requests[0].body)
        assert.isTrue(
          first.some((text) => text.includes(`- handoffkit:handoffkit: ${skill.description} (file: `)),
          "the skill is listed with its description"
        )
        const inlined = first.find((text) => text.includes("<name>handoffkit:handoffkit</name>"))
        assert.isDefined(inlined, "the mentioned skill is inlined")
        assert.include(inlined!, skill.body.trim())
        assert.include(inlined!, reviewLine)
        assert.isTrue(first.some((text) => text.includes(prompt)))

        // codex ran exactly that command line, in the repository, and it succeeded.
        const events = ran.stdout
          .split("\n")
          .filter((line) => line.trim() !== "")
          .map((line) => JSON.parse(line))
        const commands = events.filter(
          (event) => event.type === "item.completed" && event.item.type === "command_execution"
        )
        assert.strictEqual(commands.length, 1)
        assert.include(commands[0].item.command, reviewLine)
        assert.strictEqual(commands[0].item.exit_code, 0, commands[0].item.aggregated_output)
        const answer = events.find(
          (event) => event.type === "item.completed" && event.item.type === "agent_message"
        )
        assert.strictEqual(
          answer?.item.text,
          "Three reviewers, three disjoint scopes: no findings to report."
        )

        // The second request carried the command's output back to the model: the review as JSON.
        const output = (requests[1].body as { input: ReadonlyArray<any> }).input.find(
          (item) => item.type === "function_call_output" && item.call_id === "call_review"
        )?.output
        assert.isString(output)
        assert.include(output, "Process exited with code 0")
        const json = output.slice(output.indexOf("\nOutput:\n") + "\nOutput:\n".length)
        const review = JSON.parse(json)

        // Three scopes, one per reviewer, disjoint, covering every tracked file, each with its files' bytes.
        const tracked = (yield* git(repo, ["ls-files"])).split("\n").filter((file) => file !== "")
        assert.deepStrictEqual(
          review.scopes.map((scope: any) => scope.reviewer),
          [1, 2, 3]
        )
        const scoped: Array<string> = review.scopes.flatMap((scope: any) => scope.files)
        assert.strictEqual(new Set(scoped).size, scoped.length, "no file is in two scopes")
        assert.deepStrictEqual(scoped.toSorted(), tracked.toSorted())
        for (const scope of review.scopes) {
          assert.isAbove(scope.files.length, 0)
          const bytes = scope.files.reduce(
            (sum: number, file: string) => sum + Fs.statSync(Path.join(repo, file)).size,
            0
          )
          assert.strictEqual(scope.bytes, bytes)
        }
        assert.deepStrictEqual(review.failed, [])

        // The findings are joined by file and line, each from the reviewer whose scope holds its file: here the
        // TODO markers on the four lines of src/auth.ts.
        const owner = review.scopes.find((scope: any) => scope.files.includes("src/auth.ts")).reviewer
        const todos = review.findings.filter((finding: any) => /TODO/.test(finding.message))
        assert.deepStrictEqual(
          todos.map((finding: any) => [finding.file, finding.line, finding.reviewers]),
          [1, 2, 3, 4].map((line) => ["src/auth.ts", line, [owner]])
        )
        for (const finding of review.findings) {
          for (const reviewer of finding.reviewers) {
            assert.include(review.scopes[reviewer - 1].files, finding.file, `${finding.file}:${finding.line}`)
          }
        }
      }),
    60_000
  )

  it.live(
    "every `handoffkit …` command line in the skills names a real subcommand and only its flags",
    () =>
      Effect.gen(function* () {
        const lines = skillNames().flatMap((name) => commandLines(readSkill(name).body))
        assert.isAtLeast(lines.length, 5)
        const bySubcommand = new Map<string, Array<string>>()
        for (const line of lines) {
          const subcommand = subcommandOf(line).join(" ")
          assert.notStrictEqual(subcommand, "", `a subcommand in ${JSON.stringify(line)}`)
          bySubcommand.set(subcommand, [...(bySubcommand.get(subcommand) ?? []), line])
        }
        assert.includeMembers(
          [...bySubcommand.keys()],
          ["review", "plan", "pool run", "pool resume", "pool status"]
        )
        for (const [subcommand, used] of bySubcommand) {
          const help = yield* handoffkit([...subcommand.split(" "), "--help"])
          assert.strictEqual(help.code, 0, `handoffkit ${subcommand} --help: ${help.stderr}`)
          // --help on an unknown subcommand also exits 0, with its parent's help: check whose help this is.
          assert.match(
            help.stdout,
            new RegExp(`USAGE\\n\\s+handoffkit ${subcommand} `),
            `the help of ${subcommand}`
          )
          for (const line of used) {
            for (const flag of words(line).filter((word) => word.startsWith("--"))) {
              assert.include(
                help.stdout,
                `${flag} `,
                `${JSON.stringify(line)}: ${flag} is a flag of ${subcommand}`
              )
            }
          }
        }
      }),
    60_000
  )

  it.live(
    "the skill's task file decodes and plans without overlaps",
    () =>
      Effect.gen(function* () {
        const blocks = fencedBlocks(readSkill("handoffkit").body, "yaml")
        assert.strictEqual(blocks.length, 1)
        const directory = yield* tempDirectory("handoffkit-plugin-tasks-")
        const file = Path.join(directory, "tasks.yaml")
        Fs.writeFileSync(file, blocks[0])
        const planned = yield* handoffkit(["plan", file, "--json"])
        assert.strictEqual(planned.code, 0, planned.stderr)
        const plan = JSON.parse(planned.stdout)
        assert.isAtLeast(plan.tasks.length, 2)
        assert.deepStrictEqual(plan.overlaps, [])
      }),
    30_000
  )

  it.live(
    "the effect-programs skill's examples run and print what their last comment says",
    () =>
      Effect.gen(function* () {
        const blocks = fencedBlocks(readSkill("effect-programs").body, "ts")
        assert.isAtLeast(blocks.length, 2)
        // Beside a node_modules that is this repository's, so that `@handoffkit/core` and `effect` resolve.
        const directory = yield* tempDirectory("handoffkit-plugin-examples-")
        Fs.symlinkSync(Path.join(repoRoot, "node_modules"), Path.join(directory, "node_modules"))
        for (const [i, block] of blocks.entries()) {
          const expected = /\.then\(console\.log\) \/\/ (.+)\n?$/.exec(block.trimEnd())?.[1]
          assert.isDefined(
            expected,
            `example ${i + 1} ends by printing its result, with the result in a comment`
          )
          const file = Path.join(directory, `example-${i + 1}.ts`)
          Fs.writeFileSync(file, block)
          const ran = yield* run(process.execPath, [file], { cwd: directory })
          assert.strictEqual(ran.code, 0, ran.stderr)
          // The comment is a JavaScript value: the example prints what console.log prints for it.
          const value: unknown = new Function(`return (${expected})`)()
          assert.strictEqual(ran.stdout.trimEnd(), typeof value === "string" ? value : Util.inspect(value))
        }
      }),
    30_000
  )
})
