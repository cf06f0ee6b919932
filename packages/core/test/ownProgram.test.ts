import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

// The README's "Run your own program" section, done as a new user would: its file written to a scratch
// directory inside the clone, then its command run from a shell whose `node` is the machine's own (the
// repository's node_modules/.bin taken off the PATH), so only `npx` can bring Node 24.
const root = path.resolve(import.meta.dirname, "../../..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const section = readme.slice(readme.indexOf("## Run your own program"))
const program = /```ts my-program\.ts\n([\s\S]*?)```/.exec(section)?.[1]
const command = /```sh\n(.*?)\n```/.exec(section)?.[1]

const userPath = (process.env.PATH ?? "")
  .split(path.delimiter)
  .filter((dir) => !dir.includes("node_modules"))
  .join(path.delimiter)

const run = (dir: string, args: ReadonlyArray<string>) => {
  const [bin, ...rest] = command!.split(" ")
  const result = spawnSync(bin!, [...rest, ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, PATH: userPath },
    timeout: 120_000
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe("README: run your own program", () => {
  it("the section has a program and the command that runs it", () => {
    assert.isString(program)
    assert.strictEqual(command, "npx node my-program.ts")
  })

  it("the command runs the program on the bundled Node 24, and a typed error is handled by its tag", () => {
    const dir = fs.mkdtempSync(path.join(root, ".own-program-"))
    try {
      fs.writeFileSync(path.join(dir, "my-program.ts"), program!)
      const ok = run(dir, [])
      assert.strictEqual(ok.status, 0, ok.stderr)
      assert.strictEqual(ok.stdout.trim(), "calls left: 2")
      const refused = run(dir, ["-1"])
      assert.strictEqual(refused.status, 2, refused.stderr)
      assert.match(refused.stderr.trim(), /^bad limit: .*calls.*-1/)
      assert.notInclude(refused.stderr, "    at ") // one line, no stack dump
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
