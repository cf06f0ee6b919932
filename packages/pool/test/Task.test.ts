import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Result, Schema } from "effect"
import { Check } from "@handoffkit/testing"
import * as Task from "../src/Task.ts"
import { prng } from "./fixtures/prng.ts"

const fixture = (name: string) => Path.join(import.meta.dirname, "fixtures", "tasks", name)

/** Block-style YAML (not JSON in disguise), scalars double-quoted with JSON's escapes. */
const scalar = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : String(v))
const isNode = (v: unknown) => typeof v === "object" && v !== null
const toYaml = (value: unknown, indent = ""): string => {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`
    return value
      .map((item) => {
        if (!isNode(item) || (Array.isArray(item) && item.length === 0))
          return `${indent}- ${isNode(item) ? "[]" : scalar(item)}\n`
        const body = toYaml(item, `${indent}  `)
        return `${indent}- ${body.slice(indent.length + 2)}`
      })
      .join("")
  }
  if (isNode(value)) {
    const entries = Object.entries(value as Record<string, unknown>)
    if (entries.length === 0) return `${indent}{}\n`
    return entries
      .map(([key, v]) => {
        const name = JSON.stringify(key)
        if (!isNode(v)) return `${indent}${name}: ${scalar(v)}\n`
        if (Array.isArray(v) && v.length === 0) return `${indent}${name}: []\n`
        if (!Array.isArray(v) && Object.keys(v as object).length === 0) return `${indent}${name}: {}\n`
        return `${indent}${name}:\n${toYaml(v, `${indent}  `)}`
      })
      .join("")
  }
  return `${indent}${scalar(value)}\n`
}

const formats = [
  { format: "JSON", file: "tasks.json", text: (value: unknown) => JSON.stringify(value, null, 2) },
  { format: "YAML", file: "tasks.yaml", text: (value: unknown) => toYaml(value) }
] as const

const entry = (fields: Record<string, unknown>) => ({
  id: "t",
  prompt: "Do it.",
  owns: ["src/**"],
  ...fields
})

/** Safe to print: every character of the message is printable ASCII (or a line break between problems). */
const printable = (text: string) => /^[\x20-\x7e\n]*$/.test(text)

interface Hostile {
  readonly name: string
  /** The whole file's value, or a list of entries. */
  readonly file: unknown
  readonly task: string | undefined
  readonly field: string | undefined
  readonly reason: string
  /** How many problems the file has (1 unless one mistake is also another, as a misspelled required field). */
  readonly count?: number
}

const idCase = (name: string, id: unknown, reason: string): Hostile => ({
  name: `id ${name}`,
  file: [entry({ id })],
  task: "#0",
  field: "id",
  reason
})

const ownsCase = (name: string, glob: unknown, reason: string): Hostile => ({
  name: `owned glob ${name}`,
  file: [entry({ owns: ["docs/**", glob] })],
  task: "t",
  field: "owns[1]",
  reason
})

const hostile: ReadonlyArray<Hostile> = [
  idCase("with a path (../x)", "../x", `"../x" starts with "."`),
  idCase("that is a git option (--upload-pack=evil)", "--upload-pack=evil", `starts with "-"`),
  idCase("with shell syntax (a b;rm -rf /)", "a b;rm -rf /", `contains " "`),
  idCase("of 300 characters", "a".repeat(300), "is 300 characters long: at most 64"),
  idCase("of 65 characters", "a".repeat(65), "at most 64"),
  idCase("with a non-ASCII letter (fïx)", "fïx", "contains U+00EF"),
  idCase("that is an emoji", "fix-\u{1F525}", "contains U+1F525"),
  idCase("with a right-to-left override", "fix\u202Egnp", "contains U+202E"),
  idCase("with a right-to-left mark", "fix\u200F", "contains U+200F"),
  idCase("with a NUL", "fix\u0000x", "contains U+0000"),
  idCase("with a newline", "fix\nx", "contains U+000A"),
  idCase("that is empty", "", "is empty"),
  idCase("with a..b", "a..b", `contains "..": git refuses it`),
  idCase("ending in .lock", "x.lock", `ends with ".lock"`),
  idCase("ending in .LOCK", "x.LOCK", `ends with ".lock"`),
  idCase("with @{", "a@{1}", `contains "@"`),
  idCase("ending in .", "fix.", `ends with "."`),
  idCase("ending in /", "fix/", `contains "/"`),
  idCase("with a backslash", "a\\b", `contains "\\\\"`),
  idCase("that is a number", 123, "expected string, got the number 123"),
  {
    name: "id missing",
    file: [{ prompt: "p", owns: ["a"] }],
    task: "#0",
    field: "id",
    reason: "is required"
  },
  {
    name: "id twice (both entries named)",
    file: [entry({ id: "fix" }), entry({ id: "other" }), entry({ id: "fix" })],
    task: "fix",
    field: "id",
    reason: `entries #0 and #2 both have the id "fix"`
  },
  {
    name: "ids that differ only in case",
    file: [entry({ id: "Fix" }), entry({ id: "fix" })],
    task: "fix",
    field: "id",
    reason: `entries #0 ("Fix") and #1 ("fix") have ids that differ only in case`
  },
  ownsCase("that is absolute", "/etc/passwd", "is an absolute path"),
  ownsCase("with a .. segment", "../x", `"../x" has a ".." segment: it leaves the repository`),
  ownsCase("that climbs out after normalization", "src/./../../x", `has a ".." segment`),
  ownsCase("with .. in a brace alternative", "{src,..}/x", `has an alternative "../x" with a ".." segment`),
  ownsCase("with a backslash", "src\\x", "contains a backslash"),
  ownsCase("that is empty", "", `"" is empty`),
  ownsCase("with a NUL", "src/\u0000x", "contains the control character U+0000"),
  ownsCase("that is the git directory's contents", ".git/**", "reaches into the git directory"),
  ownsCase("that is the git directory", ".git", "reaches into the git directory"),
  ownsCase("that reaches the git directory after ./", "./.git/config", "reaches into the git directory"),
  ownsCase("that reaches .GIT", ".GIT/hooks", "reaches into the git directory"),
  ownsCase("that reaches the git directory by a brace", "{src,.git}/**", "reaches into the git directory"),
  ownsCase("that is a Windows path", "C:/Users/x", "looks like a Windows absolute path"),
  ownsCase("that is the home directory", "~/.ssh", `starts with "~"`),
  ownsCase("that is the repository root", "./", "names the repository root itself"),
  ownsCase("with an unclosed [", "src/[ab", `has a "[" that is never closed`),
  ownsCase("with an unclosed {", "src/{a,b", `has a "{" that is never closed`),
  ownsCase("with a stray }", "src/a}", `has a "}" that closes no "{"`),
  ownsCase("with a reversed range", "src/[z-a]", "has the reversed range z-a"),
  ownsCase(
    "with too many alternatives",
    "{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}",
    "more than 256 alternatives"
  ),
  ownsCase("that is a number", 5, "expected string, got the number 5"),
  {
    name: "owns given as a string",
    file: [entry({ owns: "src/**" })],
    task: "t",
    field: "owns",
    reason: `is a string: give a list of globs, e.g. ["src/**"]`
  },
  { name: "owns empty", file: [entry({ owns: [] })], task: "t", field: "owns", reason: "is empty" },
  { name: "owns missing", file: [{ id: "t", prompt: "p" }], task: "t", field: "owns", reason: "is required" },
  {
    name: "gate given as a shell string",
    file: [entry({ gate: "npm test && rm -rf /" })],
    task: "t",
    field: "gate",
    reason: `give an argv array, e.g. ["npm", "test"]: a shell string is never run`
  },
  { name: "gate empty", file: [entry({ gate: [] })], task: "t", field: "gate", reason: "is empty" },
  {
    name: "gate with an empty argument",
    file: [entry({ gate: ["npm", ""] })],
    task: "t",
    field: "gate[1]",
    reason: "is empty"
  },
  {
    name: "gate with a NUL",
    file: [entry({ gate: ["npm", "te\u0000st"] })],
    task: "t",
    field: "gate[1]",
    reason: "contains a NUL character"
  },
  {
    name: "gate with a number",
    file: [entry({ gate: ["sleep", 5] })],
    task: "t",
    field: "gate[1]",
    reason: "expected string, got the number 5"
  },
  {
    name: "a command agent's argv as a shell string",
    file: [entry({ agent: { type: "command", argv: "node agent.js" } })],
    task: "t",
    field: "agent.argv",
    reason: "a shell string is never run"
  },
  {
    name: "a command agent's argv empty",
    file: [entry({ agent: { type: "command", argv: [] } })],
    task: "t",
    field: "agent.argv",
    reason: "is empty"
  },
  {
    name: "a command agent without argv",
    file: [entry({ agent: { type: "command" } })],
    task: "t",
    field: "agent.argv",
    reason: "is required"
  },
  {
    name: "an agent of an unknown type",
    file: [entry({ agent: { type: "shell", command: "x" } })],
    task: "t",
    field: "agent.type",
    reason: `"shell" is not an agent type: use "codex" or "command"`
  },
  {
    name: "an agent object without a type",
    file: [entry({ agent: { argv: ["x"] } })],
    task: "t",
    field: "agent.type",
    reason: "is required"
  },
  {
    name: "an agent name with shell syntax",
    file: [entry({ agent: "codex; rm -rf /" })],
    task: "t",
    field: "agent",
    reason: `contains ";"`
  },
  {
    name: "a codex model that passes for an option",
    file: [entry({ agent: { type: "codex", model: "--dangerously-bypass-approvals-and-sandbox" } })],
    task: "t",
    field: "agent.model",
    reason: "cannot pass for an option"
  },
  {
    name: "a codex agent's fast as a string",
    file: [entry({ agent: { type: "codex", fast: "yes" } })],
    task: "t",
    field: "agent.fast",
    reason: `expected boolean, got the string "yes"`
  },
  {
    name: "an env name that is not a variable name",
    file: [entry({ agent: { type: "command", argv: ["x"], env: { "A B": "1" } } })],
    task: "t",
    field: `agent.env["A B"]`,
    reason: `"A B" is not an environment variable name`
  },
  {
    name: "an env value with a NUL",
    file: [entry({ agent: { type: "command", argv: ["x"], env: { A: "1\u00002" } } })],
    task: "t",
    field: "agent.env.A",
    reason: "contains a NUL character"
  },
  {
    name: "an author name with <",
    file: [entry({ author: { name: "A <evil@x>", email: "a@x" } })],
    task: "t",
    field: "author.name",
    reason: `contains "<"`
  },
  {
    name: "an author email with a newline",
    file: [entry({ author: { name: "A", email: "a@x\nB" } })],
    task: "t",
    field: "author.email",
    reason: "contains U+000A"
  },
  {
    name: "an author without email",
    file: [entry({ author: { name: "A" } })],
    task: "t",
    field: "author.email",
    reason: "is required"
  },
  {
    name: "timeout of 0 ms",
    file: [entry({ timeout: 0 })],
    task: "t",
    field: "timeout",
    reason: "must be positive"
  },
  {
    name: "timeout negative",
    file: [entry({ timeout: -5 })],
    task: "t",
    field: "timeout",
    reason: "must be positive"
  },
  {
    name: "timeout of 0 seconds",
    file: [entry({ timeout: "0 seconds" })],
    task: "t",
    field: "timeout",
    reason: "must be positive"
  },
  {
    name: "timeout over 24 hours",
    file: [entry({ timeout: "25 hours" })],
    task: "t",
    field: "timeout",
    reason: "at most 24 hours"
  },
  {
    name: "timeout of 24 hours and 1 ms",
    file: [entry({ timeout: 86_400_001 })],
    task: "t",
    field: "timeout",
    reason: "at most 24 hours"
  },
  {
    name: "timeout Infinity",
    file: [entry({ timeout: "Infinity" })],
    task: "t",
    field: "timeout",
    reason: "is not finite"
  },
  {
    name: "timeout in words",
    file: [entry({ timeout: "soon" })],
    task: "t",
    field: "timeout",
    reason: `"soon" is not a duration`
  },
  {
    name: "timeout as a boolean",
    file: [entry({ timeout: true })],
    task: "t",
    field: "timeout",
    reason: "got the boolean true"
  },
  {
    name: "retries negative",
    file: [entry({ retries: -1 })],
    task: "t",
    field: "retries",
    reason: "from 0 to 100"
  },
  {
    name: "retries fractional",
    file: [entry({ retries: 1.5 })],
    task: "t",
    field: "retries",
    reason: "is 1.5"
  },
  {
    name: "retries over 100",
    file: [entry({ retries: 101 })],
    task: "t",
    field: "retries",
    reason: "is 101"
  },
  {
    name: "retries as a string",
    file: [entry({ retries: "2" })],
    task: "t",
    field: "retries",
    reason: `expected a whole number, got the string "2"`
  },
  {
    name: "prompt blank",
    file: [entry({ prompt: "  \n " })],
    task: "t",
    field: "prompt",
    reason: "is empty"
  },
  {
    name: "prompt missing",
    file: [{ id: "t", owns: ["a"] }],
    task: "t",
    field: "prompt",
    reason: "is required"
  },
  {
    name: "title of two lines",
    file: [entry({ title: "one\ntwo" })],
    task: "t",
    field: "title",
    reason: "must be one line"
  },
  { name: "message blank", file: [entry({ message: " " })], task: "t", field: "message", reason: "is empty" },
  {
    name: "a misspelled field (own)",
    file: [{ id: "t", prompt: "p", own: ["src/**"] }],
    task: "t",
    field: "own",
    reason: "is not a known field: did you mean owns?",
    count: 2
  },
  {
    name: "an unknown field far from any",
    file: [entry({ priority: 1 })],
    task: "t",
    field: "priority",
    reason: "is not a known field (the fields are id, prompt, owns, title"
  },
  {
    name: "a misspelled agent field",
    file: [entry({ agent: { type: "codex", modle: "x" } })],
    task: "t",
    field: "agent.modle",
    reason: "did you mean model?"
  },
  {
    name: "a misspelled top-level field",
    file: { task: [entry({})] },
    task: undefined,
    field: "task",
    reason: "did you mean tasks?",
    count: 2
  },
  {
    name: "a misspelled defaults field",
    file: { defaults: { gates: ["npm", "test"] }, tasks: [entry({})] },
    task: undefined,
    field: "defaults.gates",
    reason: "did you mean gate?"
  },
  {
    name: "a field defaults do not have",
    file: { defaults: { owns: ["src/**"] }, tasks: [entry({})] },
    task: undefined,
    field: "defaults.owns",
    reason: "is not a known field"
  },
  {
    name: "a defaults gate as a shell string",
    file: { defaults: { gate: "npm test" }, tasks: [entry({})] },
    task: undefined,
    field: "defaults.gate",
    reason: "a shell string is never run"
  },
  {
    name: "defaults that are not an object",
    file: { defaults: ["npm"], tasks: [entry({})] },
    task: undefined,
    field: "defaults",
    reason: "expected an object, got a list"
  },
  {
    name: "an entry that is not an object",
    file: [entry({}), "fix the parser"],
    task: "#1",
    field: undefined,
    reason: `expected a task (an object with id, prompt and owns), got the string "fix the parser"`
  },
  {
    name: "tasks that are not a list",
    file: { tasks: { id: "t" } },
    task: undefined,
    field: "tasks",
    reason: "expected a list of tasks, got an object"
  },
  { name: "tasks missing", file: { defaults: {} }, task: undefined, field: "tasks", reason: "is required" },
  {
    name: "an empty list of tasks",
    file: { tasks: [] },
    task: undefined,
    field: "tasks",
    reason: "holds no tasks"
  },
  { name: "a bare empty list", file: [], task: undefined, field: undefined, reason: "holds no tasks" },
  {
    name: "a file that is a string",
    file: "fix the parser",
    task: undefined,
    field: undefined,
    reason: "expected a list of tasks, or an object with tasks"
  }
]

// -----------------------------------------------------------------------------
// generated task files: valid entries with random fields replaced by hostile values, and raw junk
// -----------------------------------------------------------------------------

const hostileStrings: ReadonlyArray<string> = [
  "",
  " ",
  "../x",
  "/etc/passwd",
  "a/../../b",
  "--upload-pack=evil",
  "a b;rm -rf /",
  "$(touch pwned)",
  "`id`",
  "x".repeat(300),
  "fïx",
  "fix-\u{1F525}",
  "fix\u202Egnp",
  "a\u0000b",
  "line\nbreak",
  "\r",
  "a..b",
  "x.lock",
  "HEAD",
  "@{1}",
  "__proto__",
  "constructor",
  "src/**",
  "src/{a,b}.ts",
  "[",
  "**/..",
  "~/x",
  "C:\\x",
  "5 minutes",
  "forever",
  "codex",
  "ok-id"
]

const pick = <A>(random: (n: number) => number, values: ReadonlyArray<A>): A => values[random(values.length)]!

const fields = ["id", "title", "prompt", "owns", "gate", "timeout", "retries", "agent", "author", "message"]

/** A value of any JSON shape, hostile strings and edge numbers included. */
const junkValue = (random: (n: number) => number, depth = 0): unknown => {
  switch (random(depth > 2 ? 5 : 8)) {
    case 0:
      return pick(random, hostileStrings)
    case 1:
      return pick(random, [0, -1, 1, 1.5, 2 ** 53, -0, 1e300, 86_400_001, 101])
    case 2:
      return pick(random, [true, false, null])
    case 3:
      return `${pick(random, hostileStrings)}${pick(random, hostileStrings)}`
    case 4:
      return pick(random, ["a", "b", "t1", "src/**"])
    case 5:
      return Array.from({ length: random(4) }, () => junkValue(random, depth + 1))
    default: {
      const out: Record<string, unknown> = {}
      for (let i = random(4); i > 0; i--)
        out[pick(random, [...fields, ...hostileStrings])] = junkValue(random, depth + 1)
      return out
    }
  }
}

const validAgents: ReadonlyArray<unknown> = [
  "codex",
  { type: "codex", model: "gpt-5.1-codex", fast: true },
  { type: "command", argv: ["node", "agent.js"], env: { MODE: "fast" } }
]

/** A valid entry, then (half the time) 1 to 3 of its fields replaced, added or removed. */
const genEntry = (random: (n: number) => number, index: number): Record<string, unknown> => {
  const entry: Record<string, unknown> = {
    id: `t${index}`,
    prompt: `Task ${index}.`,
    owns: [`src/t${index}/**`]
  }
  if (random(2) === 0) entry.gate = ["npm", "test"]
  if (random(2) === 0) entry.timeout = pick(random, ["5 minutes", 90_000])
  if (random(2) === 0) entry.retries = random(4)
  if (random(2) === 0) entry.agent = pick(random, validAgents)
  if (random(3) === 0) entry.author = { name: "Agent", email: "agent@example.com" }
  // Half the entries stay valid, so that whole files of them decode too.
  for (let i = random(2) === 0 ? 0 : 1 + random(3); i > 0; i--) {
    const field = random(8) === 0 ? pick(random, hostileStrings) : pick(random, fields)
    if (random(6) === 0) delete entry[field]
    else entry[field] = random(3) === 0 ? junkValue(random) : pick(random, hostileStrings)
  }
  return entry
}

/** Valid defaults, then (a third of the time) one field replaced or added. */
const genDefaults = (random: (n: number) => number): Record<string, unknown> => {
  const defaults: Record<string, unknown> = {}
  if (random(2) === 0) defaults.gate = ["npm", "test"]
  if (random(2) === 0) defaults.retries = random(4)
  if (random(2) === 0) defaults.agent = pick(random, validAgents)
  if (random(3) === 0) defaults[pick(random, fields)] = junkValue(random)
  return defaults
}

/** A whole file's value: a list of entries, or `{ defaults, tasks }`, or any other shape. */
const genFile = (random: (n: number) => number): unknown => {
  const entries = Array.from({ length: random(5) }, (_, i) => genEntry(random, random(8) === 0 ? 0 : i))
  switch (random(8)) {
    case 0:
      return junkValue(random)
    case 1:
      return { defaults: junkValue(random), tasks: entries }
    case 2:
    case 3:
      return { defaults: genDefaults(random), tasks: entries }
    default:
      return entries
  }
}

/** Text that is neither JSON nor YAML, or almost: the parsers' own errors. */
const genText = (random: (n: number) => number): string => {
  const alphabet = [
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    '"',
    "'",
    "-",
    " ",
    "\n",
    "#",
    "&",
    "*",
    "!",
    "|",
    ">",
    "%",
    "@",
    "a",
    "1",
    "\t",
    "\\",
    "\u0000"
  ]
  return Array.from({ length: 1 + random(60) }, () => pick(random, alphabet)).join("")
}

const decodeStats = { runs: 0, decoded: 0, refused: 0, multi: 0 }

describe("Task", () => {
  it.prop(
    "any task file decodes to valid tasks or is refused with a TaskFileError naming the file, one printable line a problem; never a defect",
    { seed: Schema.Int },
    ({ seed }) => {
      const random = prng(seed)
      const { file, text } = pick(random, formats)
      const source = random(5) === 0 ? genText(random) : text(genFile(random))
      const exit = Effect.runSyncExit(Task.decode(source, { file }))
      const info = `${file}:\n${source}`
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        assert.isTrue(
          error._tag === "Some",
          `a defect, not a typed error: ${Cause.pretty(exit.cause)}\n${info}`
        )
        if (error._tag !== "Some") return
        const e = error.value
        assert.strictEqual(e._tag, "TaskFileError", info)
        assert.strictEqual(e.file, file, info)
        assert.isAtLeast(e.problems.length, 1, info)
        const lines = e.message.split("\n")
        assert.strictEqual(lines.length, e.problems.length, info)
        for (const line of lines) {
          assert.isTrue(line.startsWith(`${file}: `), `${line}\n${info}`)
          assert.isTrue(printable(line), `not safe to print: ${JSON.stringify(line)}\n${info}`)
        }
        decodeStats.refused++
        if (e.problems.length > 1) decodeStats.multi++
      } else {
        const tasks = exit.value.tasks
        assert.strictEqual(exit.value.file, file)
        const lower = new Set<string>()
        for (const task of tasks) {
          assert.isTrue(Schema.is(Task.Task)(task), `not a valid task: ${JSON.stringify(task)}\n${info}`)
          assert.isTrue(Result.isSuccess(Task.validateId(task.id)), `${task.id}\n${info}`)
          assert.isFalse(lower.has(task.id.toLowerCase()), `id twice: ${task.id}\n${info}`)
          lower.add(task.id.toLowerCase())
          assert.isAtLeast(task.owns.length, 1, info)
          for (const glob of task.owns) {
            assert.isFalse(
              glob.startsWith("/") || glob.split("/").includes(".."),
              `${glob} leaves the repository\n${info}`
            )
          }
          if (task.gate !== undefined)
            assert.isTrue(task.gate.length > 0 && task.gate.every((arg) => arg !== ""), info)
          assert.isTrue(Number.isInteger(task.retries) && task.retries >= 0, info)
          if (task.timeout !== undefined) assert.isTrue(Duration.toMillis(task.timeout) > 0, info)
        }
        decodeStats.decoded++
      }
      // The same text decodes the same way again.
      assert.deepStrictEqual(Effect.runSyncExit(Task.decode(source, { file })), exit)
      decodeStats.runs++
    },
    Check.propOptions({ runs: 600 })
  )

  it("the task file property saw files decoded, refused, and refused for several problems", () => {
    assert.isAtLeast(decodeStats.runs, 600)
    assert.isAbove(decodeStats.decoded, 80)
    assert.isAbove(decodeStats.refused, 200)
    assert.isAbove(decodeStats.multi, 80)
  })
  describe("hostile input is refused, naming the file, the entry and the field", () => {
    for (const { format, file, text } of formats) {
      for (const c of hostile) {
        it.effect(`${c.name} (${format})`, () =>
          Effect.gen(function* () {
            const error = yield* Effect.flip(Task.decode(text(c.file), { file }))
            assert.strictEqual(error._tag, "TaskFileError")
            assert.strictEqual(error.file, file)
            assert.strictEqual(error.task, c.task)
            assert.strictEqual(error.field, c.field)
            assert.include(error.reason, c.reason)
            assert.strictEqual(error.problems.length, c.count ?? 1, error.message)
            const where =
              c.task === undefined ? "" : `task ${c.task.startsWith("#") ? c.task : JSON.stringify(c.task)}: `
            const field = c.field === undefined ? "" : `field ${c.field}: `
            assert.strictEqual(error.message.split("\n")[0], `${file}: ${where}${field}${error.reason}`)
            assert.isTrue(printable(error.message), `not safe to print: ${JSON.stringify(error.message)}`)
          })
        )
      }
    }
  })

  it.effect("hostile values are shown escaped and cut, never raw", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Task.decode(JSON.stringify([entry({ id: `\u202Eevil\u0007${"x".repeat(100)}` })]), { file: "t.json" })
      )
      assert.include(error.reason, `"\\u202eevil\\u0007`)
      assert.include(error.reason, "... (106 characters)")
      assert.notInclude(error.message, "x".repeat(50))
    })
  )

  it.effect("a file with many problems reports all of them, one line each, in file order", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Task.decodeFile(fixture("hostile.yaml")))
      const file = fixture("hostile.yaml")
      assert.deepStrictEqual(
        error.problems.map((p) => [p.task, p.field]),
        [
          ["#0", "id"],
          ["escape", "owns[0]"],
          ["escape", "owns[1]"],
          ["escape", "owns[2]"],
          ["shell", "gate"],
          ["typo", "own"],
          ["typo", "owns"],
          ["escape", "id"]
        ]
      )
      assert.deepStrictEqual([error.task, error.field], ["#0", "id"])
      const lines = error.message.split("\n")
      assert.strictEqual(lines.length, 8)
      for (const line of lines) assert.isTrue(line.startsWith(`${file}: task `), line)
      assert.strictEqual(
        lines[1],
        `${file}: task "escape": field owns[0]: "../outside" has a ".." segment: it leaves the repository`
      )
      assert.strictEqual(
        lines[7],
        `${file}: task "escape": field id: entries #1 and #4 both have the id "escape"`
      )
    }).pipe(Effect.provide(NodeServices.layer))
  )

  describe("the file", () => {
    it.effect("a valid YAML file: defaults applied, globs normalized, titles and messages filled in", () =>
      Effect.gen(function* () {
        const { file, tasks } = yield* Task.decodeFile(fixture("valid.yaml"))
        assert.strictEqual(file, fixture("valid.yaml"))
        assert.deepStrictEqual(
          tasks.map((task) => task.id),
          ["fix-parser", "docs.parser_v2", "Lexer-2"]
        )
        const [parser, docs, lexer] = tasks
        // `./src/parser/` is `src/parser`; `src/parser/**` is kept (it is another glob), nothing is listed twice.
        assert.deepStrictEqual(parser.owns, ["src/parser", "test/parser.test.ts", "src/parser/**"])
        assert.strictEqual(
          parser.title,
          "Fix the parser: it drops comments that follow a closing brace on the"
        )
        assert.strictEqual(parser.message, parser.title)
        assert.deepStrictEqual(parser.gate, ["npm", "test", "--", "parser"])
        assert.isTrue(Duration.equals(parser.timeout!, Duration.minutes(10)))
        assert.strictEqual(parser.retries, 3)
        assert.deepStrictEqual(parser.agent, {
          type: "command",
          argv: ["node", "agent.js"],
          env: { AGENT_MODE: "fast" }
        })
        assert.deepStrictEqual(parser.author, { name: "Agent", email: "agent@example.com" })

        assert.deepStrictEqual(docs.owns, ["docs/{parser,errors}.md"])
        assert.strictEqual(docs.title, "Document the parser")
        assert.strictEqual(docs.message, "docs: the parser's error messages")
        assert.deepStrictEqual(docs.gate, ["npm", "test"])
        assert.isTrue(Duration.equals(docs.timeout!, Duration.millis(90_000)))
        assert.strictEqual(docs.retries, 0)
        assert.strictEqual(docs.agent, "codex")

        assert.deepStrictEqual(lexer.agent, { type: "codex", model: "gpt-5.1-codex", fast: true })
        assert.deepStrictEqual(lexer.author, { name: "Lexer Bot", email: "lexer@example.com" })
        assert.strictEqual(lexer.title, "Speed up the lexer.")
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("the same file in JSON decodes to the same tasks", () =>
      Effect.gen(function* () {
        const yaml = yield* Task.decodeFile(fixture("valid.yaml"))
        const json = yield* Task.decodeFile(fixture("valid.json"))
        assert.deepStrictEqual(json.tasks, yaml.tasks)
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("round trip: decoded tasks written back as a task file decode to themselves", () =>
      Effect.gen(function* () {
        const { tasks } = yield* Task.decodeFile(fixture("valid.yaml"))
        const written = tasks.map((task) => ({
          ...task,
          ...(task.timeout === undefined ? {} : { timeout: Duration.toMillis(task.timeout) })
        }))
        for (const { file, text } of formats) {
          const again = yield* Task.decode(text({ tasks: written }), { file })
          assert.deepStrictEqual(again.tasks, tasks)
        }
        // Each decoded task is a `Task` by the schema's own rules (what a journal restoring it would check).
        for (const task of tasks) assert.deepStrictEqual(Schema.decodeUnknownSync(Task.Task)(task), task)
        assert.isFalse(Schema.is(Task.Task)({ ...tasks[0], owns: ["../x"] }))
        assert.isFalse(Schema.is(Task.Task)({ ...tasks[0], id: "--x" }))
        assert.isFalse(Schema.is(Task.Task)({ ...tasks[0], timeout: Duration.hours(25) }))
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("a bare list (.yml), and no defaults: optional fields are absent, retries are 2", () =>
      Effect.gen(function* () {
        const { tasks } = yield* Task.decodeFile(fixture("bare.yml"))
        assert.deepStrictEqual(tasks, [
          { id: "a", title: "Do a.", prompt: "Do a.", owns: ["a"], retries: 2, message: "Do a." },
          { id: "b", title: "Do b.", prompt: "Do b.", owns: ["b"], retries: 2, message: "Do b." }
        ])
        assert.isFalse(
          "gate" in tasks[0] || "timeout" in tasks[0] || "agent" in tasks[0] || "author" in tasks[0]
        )
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("a task's own field replaces the default whole", () =>
      Effect.gen(function* () {
        const { tasks } = yield* Task.decode(
          JSON.stringify({
            defaults: { agent: { type: "codex", model: "m1", fast: true }, retries: 5, timeout: 1000 },
            tasks: [
              entry({ id: "a" }),
              entry({ id: "b", agent: { type: "codex" }, retries: 0, timeout: "2 seconds" })
            ]
          }),
          { file: "t.json" }
        )
        assert.deepStrictEqual(tasks[0].agent, { type: "codex", model: "m1", fast: true })
        assert.strictEqual(tasks[0].retries, 5)
        assert.deepStrictEqual(tasks[1].agent, { type: "codex" })
        assert.strictEqual(tasks[1].retries, 0)
        assert.strictEqual(Duration.toMillis(tasks[1].timeout!), 2000)
      })
    )

    it.effect("globs are normalized and listed once", () =>
      Effect.gen(function* () {
        const { tasks } = yield* Task.decode(
          JSON.stringify([
            entry({ owns: ["./a//b/./c/", "a/b/c", "./x", "src/**", ".github/**", "**/*.md", ".gitignore"] })
          ]),
          { file: "t.json" }
        )
        assert.deepStrictEqual(tasks[0].owns, ["a/b/c", "x", "src/**", ".github/**", "**/*.md", ".gitignore"])
      })
    )

    it.effect("the default title is the prompt's first non-blank line, control characters made spaces", () =>
      Effect.gen(function* () {
        const { tasks } = yield* Task.decode(
          JSON.stringify([entry({ prompt: "\n\n  Fix\tthe parser  \nmore" })]),
          {
            file: "t.json"
          }
        )
        assert.strictEqual(tasks[0].title, "Fix the parser")
        assert.strictEqual(tasks[0].message, "Fix the parser")
      })
    )

    it.effect("format: from the extension (any case), or given", () =>
      Effect.gen(function* () {
        const text = JSON.stringify([entry({})])
        assert.strictEqual((yield* Task.decode(text, { file: "T.JSON" })).tasks.length, 1)
        assert.strictEqual((yield* Task.decode(text, { file: "tasks.txt", format: "json" })).tasks.length, 1)
        assert.strictEqual((yield* Task.decode(text, { file: "tasks", format: "yaml" })).tasks.length, 1)
        const error = yield* Effect.flip(Task.decode(text, { file: "tasks.txt" }))
        assert.strictEqual(error.file, "tasks.txt")
        assert.include(error.message, "has no .json, .yaml or .yml extension")
      })
    )

    it.effect("an empty file, and one of only comments", () =>
      Effect.gen(function* () {
        const empty = yield* Effect.flip(Task.decodeFile(fixture("empty.yaml")))
        assert.strictEqual(empty.file, fixture("empty.yaml"))
        assert.include(empty.reason, "is empty")
        const comments = yield* Effect.flip(Task.decode("# nothing yet\n", { file: "t.yaml" }))
        assert.include(comments.reason, "holds no tasks")
        const blank = yield* Effect.flip(Task.decode(" \n\t\n", { file: "t.json" }))
        assert.include(blank.reason, "is empty")
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("invalid JSON names the line", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Task.decodeFile(fixture("broken.json")))
        assert.strictEqual(error.file, fixture("broken.json"))
        assert.isUndefined(error.task)
        assert.include(error.reason, "is not valid JSON")
        assert.include(error.reason, "line 3")
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect(
      "invalid JSON's words quote the file escaped, on one line (no terminal escape gets through)",
      () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(Task.decode("\u001b[2J\n}", { file: "t.json" }))
          assert.include(error.reason, "is not valid JSON")
          assert.include(error.reason, "\\u001b[2J\\n}")
          assert.isTrue(printable(error.message), JSON.stringify(error.message))
          assert.strictEqual(error.message.split("\n").length, 1)
        })
    )

    it.effect("invalid YAML says so, with the parser's words", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Task.decodeFile(fixture("broken.yaml")))
        assert.strictEqual(error.file, fixture("broken.yaml"))
        assert.include(error.reason, "is not valid YAML")
        const block = yield* Effect.flip(
          Task.decode("tasks:\n  - id: a\n   bad: indent\n", { file: "t.yaml" })
        )
        assert.include(block.reason, "is not valid YAML")
        assert.match(block.reason, /line \d/)
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("a missing file, and a directory, are errors naming the path", () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "task-test-"))
        try {
          const missing = Path.join(dir, "nope.yaml")
          const error = yield* Effect.flip(Task.decodeFile(missing))
          assert.strictEqual(error.file, missing)
          assert.include(error.reason, "cannot be read")
          assert.isTrue(error.message.startsWith(`${missing}: cannot be read`))
          const folder = Path.join(dir, "tasks.yaml")
          Fs.mkdirSync(folder)
          const directory = yield* Effect.flip(Task.decodeFile(folder))
          assert.strictEqual(directory.file, folder)
          assert.include(directory.reason, "cannot be read")
          const other = yield* Effect.flip(Task.decodeFile(Path.join(dir, "tasks.toml")))
          assert.include(other.reason, "has no .json, .yaml or .yml extension")
        } finally {
          Fs.rmSync(dir, { recursive: true, force: true })
        }
      }).pipe(Effect.provide(NodeServices.layer))
    )

    it.effect("a prototype key is an unknown field, not a prototype", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Task.decode(`[{"id": "t", "prompt": "p", "owns": ["a"], "__proto__": {"retries": 9}}]`, {
            file: "t.json"
          })
        )
        assert.strictEqual(error.field, "__proto__")
        assert.include(error.reason, "is not a known field")
      })
    )
  })

  describe("validateId", () => {
    it("accepts ids that are safe branch and directory names", () => {
      for (const id of ["a", "fix-parser", "Fix_Parser.2", "0", "a".repeat(64), "v1.2-rc_3", "x.lockfile"]) {
        assert.isTrue(Result.isSuccess(Task.validateId(id)), id)
      }
    })

    it("refuses the rest, saying why", () => {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", "is empty"],
        ["-x", `starts with "-"`],
        [".x", `starts with "."`],
        ["_x", `starts with "_"`],
        ["a/b", `contains "/"`],
        ["a..b", `contains ".."`],
        ["a.lock", `ends with ".lock"`],
        ["a.", `ends with "."`],
        ["a~1", `contains "~"`],
        ["a^b", `contains "^"`],
        ["a:b", `contains ":"`],
        ["a*", `contains "*"`],
        ["a[b", `contains "["`],
        ["HEAD@{0}", `contains "@"`],
        ["a".repeat(65), "at most 64"]
      ]
      for (const [id, reason] of cases) {
        const result = Task.validateId(id)
        assert.isTrue(Result.isFailure(result), id)
        if (Result.isFailure(result)) assert.include(result.failure, reason, id)
      }
    })
  })
})
