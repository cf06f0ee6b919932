/**
 * The schemas and the decoder behind `Task`: what a task file may hold, field by field, and how its problems
 * become `{ task, field, reason }` entries naming the entry and the path of the field.
 * @internal
 */
import { Duration, Option, Result, Schema, SchemaAST, SchemaIssue } from "effect"
import * as Yaml from "effect/encoding/Yaml"
import * as Glob from "./glob.ts"

const formatIssue = SchemaIssue.makeFormatterDefault()

// -----------------------------------------------------------------------------
// showing hostile values safely
// -----------------------------------------------------------------------------

/** Every character that is not printable ASCII as an escape: a line break as `\n`, the rest as `\uXXXX`. */
const escapeUnprintable = (text: string): string =>
  text.replace(/[^\x20-\x7e]/g, (char) =>
    char === "\n" ? "\\n" : `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** A string as a quoted literal that prints safely: escapes every non-printable or non-ASCII character. */
export const show = (value: string): string => {
  const head = value.length > 48 ? value.slice(0, 40) : value
  const quoted = escapeUnprintable(JSON.stringify(head))
  return value.length > 48 ? `${quoted}... (${value.length} characters)` : quoted
}

/**
 * A parser's words as one printable line, escaped and cut as `show` does for values: V8's JSON errors quote the
 * file around the mistake as it is, line breaks and control characters included (`Unexpected token '\',
 * "\\\na}..." is not valid JSON`), and a problem is one line of the error.
 */
const printableLine = (message: string): string => {
  const escaped = escapeUnprintable(message)
  return escaped.length > 200 ? `${escaped.slice(0, 200)}... (cut)` : escaped
}

const describeChar = (char: string): string =>
  /^[\x21-\x7e]$/.test(char) || char === " "
    ? JSON.stringify(char)
    : `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`

/** What a raw value is, for "expected X, got Y". */
export const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (value === undefined) return "nothing"
  if (Array.isArray(value)) return "a list"
  switch (typeof value) {
    case "string":
      return `the string ${show(value)}`
    case "number":
    case "boolean":
      return `the ${typeof value} ${String(value)}`
    case "object":
      return "an object"
    default:
      return `a ${typeof value}`
  }
}

// -----------------------------------------------------------------------------
// ids and names
// -----------------------------------------------------------------------------

export const maxIdLength = 64

const nameProblem = (value: string, what: string): string | undefined => {
  if (value === "") return "is empty"
  const chars = Array.from(value)
  if (!/^[A-Za-z0-9]$/.test(chars[0])) {
    return `${show(value)} starts with ${describeChar(chars[0])}: ${what} starts with a letter or a digit`
  }
  const bad = chars.find((char) => !/^[A-Za-z0-9._-]$/.test(char))
  if (bad !== undefined) {
    return `${show(value)} contains ${describeChar(bad)}: ${what} holds only letters, digits, ".", "_" and "-"`
  }
  if (value.length > maxIdLength) return `is ${value.length} characters long: at most ${maxIdLength}`
  return undefined
}

/** Checks an id: see `Task.validateId`. */
export const validateId = (id: string): Result.Result<string, string> => {
  const problem =
    nameProblem(id, "an id") ??
    (id.includes("..")
      ? `${show(id)} contains "..": git refuses it in a branch name`
      : id.toLowerCase().endsWith(".lock")
        ? `${show(id)} ends with ".lock": git refuses it in a branch name`
        : id.endsWith(".")
          ? `${show(id)} ends with ".": git refuses it in a branch name`
          : undefined)
  return problem === undefined ? Result.succeed(id) : Result.fail(problem)
}

const reason = <T>(check: (value: T) => string | undefined) => Schema.makeFilter<T>((value) => check(value))

const nul = (text: string) => (text.includes("\0") ? "contains a NUL character" : undefined)

// oxlint-disable-next-line no-control-regex
const controlIn = (text: string) => /[\u0000-\u001f\u007f]/.exec(text)?.[0]

// -----------------------------------------------------------------------------
// field schemas
// -----------------------------------------------------------------------------

export const ARGV = "an argv array of strings"
export const OWNS = "a list of globs"

export const Id = Schema.String.check(
  reason((id: string) => Result.getFailure(validateId(id)).pipe(Option.getOrUndefined))
)

export const OwnedGlob = Schema.String.check(
  reason((glob: string) => {
    const normalized = Glob.normalize(glob)
    return Result.isFailure(normalized) ? `${show(glob)} ${normalized.failure}` : undefined
  })
)

export const Owns = Schema.Array(OwnedGlob)
  .annotate({ expected: OWNS })
  .check(
    reason((owns) =>
      owns.length === 0 ? `is empty: a task owns at least one glob, e.g. ["src/**"]` : undefined
    )
  )

export const Arg = Schema.String.check(reason((arg: string) => (arg === "" ? "is empty" : nul(arg))))

export const Argv = Schema.Array(Arg)
  .annotate({ expected: ARGV })
  .check(
    reason((argv) =>
      argv.length === 0 ? `is empty: give the command and its arguments, e.g. ["npm", "test"]` : undefined
    )
  )

export const Line = Schema.String.check(
  reason((text: string) => {
    if (text.trim() === "") return "is empty"
    if (/[\r\n]/.test(text)) return "must be one line"
    const control = controlIn(text)
    if (control !== undefined) return `contains the control character ${describeChar(control)}`
    return text.length > 200 ? `is ${text.length} characters long: at most 200` : undefined
  })
)

export const Text = Schema.String.check(
  reason((text: string) => (text.trim() === "" ? "is empty" : nul(text)))
)

export const IdentityPart = Schema.String.check(
  reason((text: string) => {
    if (text.trim() === "") return "is empty"
    const bad = /[<>\r\n\0]/.exec(text)
    if (bad !== null) return `contains ${describeChar(bad[0])}, which git refuses in a name or an email`
    return text.length > 200 ? `is ${text.length} characters long: at most 200` : undefined
  })
)

export const Author = Schema.Struct({ name: IdentityPart, email: IdentityPart })

export const AgentName = Schema.String.check(reason((name: string) => nameProblem(name, "an agent name")))

export const Model = Schema.String.check(
  reason((model: string) =>
    /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/.test(model)
      ? undefined
      : `${show(model)} is not a model name: it starts with a letter or a digit (so it cannot pass for an option) and holds only letters, digits, ".", "_", ":", "/" and "-"`
  )
)

export const Env = Schema.Record(Schema.String, Schema.String.check(reason(nul))).check(
  Schema.makeFilter((env: { readonly [key: string]: string }) => {
    const bad = Object.keys(env).filter((key) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
    return bad.length === 0
      ? undefined
      : bad.map((key) => ({ path: [key], issue: `${show(key)} is not an environment variable name` }))
  })
)

export const CodexAgent = Schema.Struct({
  type: Schema.Literal("codex"),
  model: Schema.optional(Model),
  fast: Schema.optional(Schema.Boolean)
})

export const CommandAgent = Schema.Struct({
  type: Schema.Literal("command"),
  argv: Argv,
  env: Schema.optional(Env)
})

export const AGENT = `an agent name (e.g. "codex") or an object {type: codex, ...} or {type: command, argv: [...]}`

export const AgentSpec = Schema.Union([AgentName, CodexAgent, CommandAgent]).annotate({ expected: AGENT })

export const maxTimeout = Duration.hours(24)

const durationProblem = (duration: Duration.Duration): string | undefined => {
  if (!Duration.isFinite(duration)) return "is not finite: at most 24 hours"
  if (Duration.toMillis(duration) <= 0) return "must be positive"
  if (Duration.isGreaterThan(duration, maxTimeout)) return `is ${Duration.format(duration)}: at most 24 hours`
  return undefined
}

export const TimeoutInput = Schema.Union([Schema.Number, Schema.String])
  .annotate({ expected: `a duration ("30 seconds", "5 minutes") or a number of milliseconds` })
  .check(
    reason((input: number | string) => {
      if (typeof input === "number") {
        return Number.isFinite(input)
          ? durationProblem(Duration.millis(input))
          : "is not finite: at most 24 hours"
      }
      const duration = Duration.fromInput(input as Duration.Input)
      if (Option.isNone(duration)) {
        return `${show(input)} is not a duration: write e.g. "30 seconds", "5 minutes", "1 hour", or a number of milliseconds`
      }
      return durationProblem(duration.value)
    })
  )

export const Timeout = Schema.Duration.check(reason(durationProblem))

export const maxRetries = 100

export const Retries = Schema.Number.annotate({ expected: "a whole number" }).check(
  reason((n: number) =>
    Number.isInteger(n) && n >= 0 && n <= maxRetries
      ? undefined
      : `is ${n}: a whole number from 0 to ${maxRetries}`
  )
)

const Entry = Schema.Struct({
  id: Id,
  prompt: Text,
  owns: Owns,
  title: Schema.optionalKey(Line),
  gate: Schema.optionalKey(Argv),
  timeout: Schema.optionalKey(TimeoutInput),
  retries: Schema.optionalKey(Retries),
  agent: Schema.optionalKey(AgentSpec),
  author: Schema.optionalKey(Author),
  message: Schema.optionalKey(Text)
})

const Defaults = Schema.Struct({
  agent: Schema.optionalKey(AgentSpec),
  gate: Schema.optionalKey(Argv),
  timeout: Schema.optionalKey(TimeoutInput),
  retries: Schema.optionalKey(Retries),
  author: Schema.optionalKey(Author)
})

// -----------------------------------------------------------------------------
// problems
// -----------------------------------------------------------------------------

export interface Problem {
  readonly task: string | undefined
  readonly field: string | undefined
  readonly reason: string
}

/** `owns[1]`, `agent.argv`, `agent.env["A B"]`. */
export const fieldOf = (path: ReadonlyArray<PropertyKey>): string | undefined => {
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "string" && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key))
      out += out === "" ? key : `.${key}`
    else out += `[${show(String(key))}]`
  }
  return out === "" ? undefined : out
}

const at = (raw: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let value = raw
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/** Levenshtein distance. */
const distance = (a: string, b: string) => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]
}

/** The closest name within edit distance 2, for "did you mean". */
const closest = (word: string, names: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = 3
  for (const name of names) {
    const d = distance(word.toLowerCase(), name.toLowerCase())
    if (d < bestDistance) {
      best = name
      bestDistance = d
    }
  }
  return best
}

export const unknownField = (key: string, names: ReadonlyArray<string>): string => {
  const guess = closest(key, names)
  return guess === undefined
    ? `is not a known field (the fields are ${names.join(", ")})`
    : `is not a known field: did you mean ${guess}?`
}

interface Leaf {
  readonly path: ReadonlyArray<PropertyKey>
  readonly reason: string
}

const expectedOf = (ast: SchemaAST.AST): string | undefined => {
  const expected = ast.annotations?.expected
  return typeof expected === "string" ? expected : undefined
}

/** Flattens a schema issue into one reason per failing field, reading the raw value where it helps. */
const flatten = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>, raw: unknown): Array<Leaf> => {
  switch (issue._tag) {
    case "Pointer":
      return flatten(issue.issue, [...path, ...issue.path], raw)
    case "Composite":
      return issue.issues.flatMap((inner) => flatten(inner, path, raw))
    case "Encoding":
      return flatten(issue.issue, path, raw)
    case "Filter": {
      const own = issue.filter.annotations?.message
      if (typeof own === "string") return [{ path, reason: own }]
      if (issue.issue._tag === "InvalidValue" && typeof issue.issue.annotations?.message === "string") {
        return [{ path, reason: issue.issue.annotations.message }]
      }
      return flatten(issue.issue, path, raw)
    }
    case "AnyOf": {
      if (issue.issues.length > 0) return issue.issues.flatMap((inner) => flatten(inner, path, raw))
      const value = at(raw, path)
      if (
        expectedOf(issue.ast) === AGENT &&
        typeof value === "object" &&
        value !== null &&
        !Array.isArray(value)
      ) {
        const type = (value as { readonly type?: unknown }).type
        if (type === undefined)
          return [{ path: [...path, "type"], reason: `is required: "codex" or "command"` }]
        return [
          {
            path: [...path, "type"],
            reason: `${typeof type === "string" ? show(type) : describe(type)} is not an agent type: use "codex" or "command"`
          }
        ]
      }
      const fallback = formatIssue(issue)
        .replace(/^Expected /, "")
        .replace(/ \| undefined$/, "")
      return [{ path, reason: `expected ${expectedOf(issue.ast) ?? fallback}, got ${describe(value)}` }]
    }
    case "MissingKey":
      return [{ path, reason: "is required" }]
    case "UnexpectedKey": {
      const names = SchemaAST.isObjects(issue.ast)
        ? issue.ast.propertySignatures.map((p) => String(p.name))
        : []
      const key = String(path.at(-1))
      return [{ path, reason: names.length === 0 ? "is not allowed" : unknownField(key, names) }]
    }
    case "InvalidType": {
      const value = at(raw, path)
      const expected = expectedOf(issue.ast)
      if (expected === ARGV && typeof value === "string") {
        return [
          {
            path,
            reason: `is a string: give an argv array, e.g. ["npm", "test"]: a shell string is never run`
          }
        ]
      }
      if (expected === OWNS && typeof value === "string") {
        return [{ path, reason: `is a string: give a list of globs, e.g. [${show(value)}]` }]
      }
      const fallback = SchemaIssue.defaultLeafHook(issue).replace(/^Expected /, "")
      return [{ path, reason: `expected ${expected ?? fallback}, got ${describe(value)}` }]
    }
    default: {
      const message = SchemaIssue.defaultLeafHook(issue)
      return [{ path, reason: message.charAt(0).toLowerCase() + message.slice(1) }]
    }
  }
}

const decodeWith = <S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  raw: unknown
): Result.Result<S["Type"], Array<Leaf>> => {
  const result = Schema.decodeUnknownResult(schema as unknown as Schema.Codec<S["Type"], unknown>)(raw, {
    errors: "all",
    onExcessProperty: "error"
  })
  return Result.isSuccess(result)
    ? Result.succeed(result.success)
    : Result.fail(flatten(result.failure.issue, [], raw))
}

// -----------------------------------------------------------------------------
// the file
// -----------------------------------------------------------------------------

export type Format = "json" | "yaml"

export const formatOf = (file: string): Format | undefined => {
  const lower = file.toLowerCase()
  if (lower.endsWith(".json")) return "json"
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml"
  return undefined
}

/** JSON.parse's message, with a line and column when it only gives a position. */
const jsonReason = (text: string, message: string): string => {
  const position = /at position (\d+)(?!\d| \(line)/.exec(message)
  if (position === null) return message
  const before = text.slice(0, Number(position[1]))
  const line = before.split("\n").length
  const column = before.length - before.lastIndexOf("\n")
  return `${message} (line ${line} column ${column})`
}

const parse = (text: string, format: Format): Result.Result<unknown, string> => {
  try {
    return Result.succeed(format === "json" ? JSON.parse(text) : Yaml.parse(text))
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return Result.fail(
      format === "json"
        ? `is not valid JSON: ${printableLine(jsonReason(text, message))}`
        : `is not valid YAML: ${printableLine(message)}`
    )
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const fileShape = `a list of tasks, or an object with tasks: [...] (and optionally defaults: {...})`

type Decoded = typeof Entry.Type
type DefaultsType = typeof Defaults.Type

export interface DecodedTask {
  readonly id: string
  readonly title: string
  readonly prompt: string
  readonly owns: ReadonlyArray<string>
  readonly gate?: ReadonlyArray<string> | undefined
  readonly timeout?: Duration.Duration | undefined
  readonly retries: number
  readonly agent?: typeof AgentSpec.Type | undefined
  readonly author?: typeof Author.Type | undefined
  readonly message: string
}

export const defaultRetries = 2
export const titleLength = 72

/** The first non-blank line of the prompt, control characters made spaces, cut to 72 characters at a word boundary. */
export const titleOf = (prompt: string): string => {
  const line = prompt.split(/\r?\n|\r/).find((l) => l.trim() !== "") ?? prompt
  // oxlint-disable-next-line no-control-regex
  const clean = line.replace(/[\u0000-\u001f\u007f]/g, " ").trim()
  const chars = Array.from(clean)
  if (chars.length <= titleLength) return clean
  // Cut at the last space that keeps the title at most 72 characters, unless that loses most of it.
  const cut = chars.slice(0, titleLength + 1).lastIndexOf(" ")
  return chars
    .slice(0, cut >= titleLength / 2 ? cut : titleLength)
    .join("")
    .trimEnd()
}

const timeoutOf = (input: number | string): Duration.Duration =>
  typeof input === "number" ? Duration.millis(input) : Duration.fromInputUnsafe(input as Duration.Input)

const build = (entry: Decoded, defaults: DefaultsType): DecodedTask => {
  const title = entry.title ?? titleOf(entry.prompt)
  const owns = [...new Set(entry.owns.map((glob) => Result.getOrThrow(Glob.normalize(glob))))]
  const gate = entry.gate ?? defaults.gate
  const timeout = entry.timeout ?? defaults.timeout
  const agent = entry.agent ?? defaults.agent
  const author = entry.author ?? defaults.author
  return {
    id: entry.id,
    title,
    prompt: entry.prompt,
    owns,
    ...(gate === undefined ? {} : { gate }),
    ...(timeout === undefined ? {} : { timeout: timeoutOf(timeout) }),
    retries: entry.retries ?? defaults.retries ?? defaultRetries,
    ...(agent === undefined ? {} : { agent }),
    ...(author === undefined ? {} : { author }),
    message: entry.message ?? title
  }
}

const problem = (task: string | undefined, field: string | undefined, reason: string): Problem => ({
  task,
  field,
  reason
})

/** Decodes a task file's text into its tasks, or every problem found. */
export const decodeText = (
  text: string,
  format: Format
): Result.Result<ReadonlyArray<DecodedTask>, ReadonlyArray<Problem>> => {
  if (text.trim() === "")
    return Result.fail([problem(undefined, undefined, `is empty: expected ${fileShape}`)])
  const parsed = parse(text, format)
  if (Result.isFailure(parsed)) return Result.fail([problem(undefined, undefined, parsed.failure)])
  const raw = parsed.success
  const problems: Array<Problem> = []
  let entries: ReadonlyArray<unknown> = []
  let defaults: DefaultsType = {}
  if (raw === null || raw === undefined) {
    return Result.fail([problem(undefined, undefined, `holds no tasks: expected ${fileShape}`)])
  } else if (Array.isArray(raw)) {
    entries = raw
  } else if (isRecord(raw)) {
    for (const key of Object.keys(raw)) {
      if (key !== "tasks" && key !== "defaults") {
        problems.push(
          problem(undefined, fieldOf([key]) ?? show(key), unknownField(key, ["defaults", "tasks"]))
        )
      }
    }
    if (!("tasks" in raw)) problems.push(problem(undefined, "tasks", `is required: expected a list of tasks`))
    else if (!Array.isArray(raw.tasks)) {
      problems.push(problem(undefined, "tasks", `expected a list of tasks, got ${describe(raw.tasks)}`))
    } else entries = raw.tasks
    if ("defaults" in raw) {
      if (!isRecord(raw.defaults)) {
        problems.push(problem(undefined, "defaults", `expected an object, got ${describe(raw.defaults)}`))
      } else {
        const decoded = decodeWith(Defaults, raw.defaults)
        if (Result.isSuccess(decoded)) defaults = decoded.success
        else {
          for (const leaf of decoded.failure) {
            problems.push(problem(undefined, fieldOf(["defaults", ...leaf.path]), leaf.reason))
          }
        }
      }
    }
  } else {
    return Result.fail([problem(undefined, undefined, `expected ${fileShape}, got ${describe(raw)}`)])
  }
  if (problems.length === 0 && entries.length === 0) {
    return Result.fail([problem(undefined, Array.isArray(raw) ? undefined : "tasks", "holds no tasks")])
  }

  const decoded: Array<Decoded> = []
  const seen = new Map<string, { readonly index: number; readonly id: string }>()
  entries.forEach((entry, index) => {
    const rawId = isRecord(entry) ? entry.id : undefined
    const label = typeof rawId === "string" && Result.isSuccess(validateId(rawId)) ? rawId : `#${index}`
    if (!isRecord(entry)) {
      problems.push(
        problem(
          label,
          undefined,
          `expected a task (an object with id, prompt and owns), got ${describe(entry)}`
        )
      )
      return
    }
    const result = decodeWith(Entry, entry)
    if (Result.isFailure(result)) {
      for (const leaf of result.failure) problems.push(problem(label, fieldOf(leaf.path), leaf.reason))
    } else decoded.push(result.success)
    if (label.startsWith("#")) return
    // Ids name branches and directories, and some file systems do not tell case apart.
    const key = label.toLowerCase()
    const first = seen.get(key)
    if (first === undefined) seen.set(key, { index, id: label })
    else {
      problems.push(
        problem(
          label,
          "id",
          first.id === label
            ? `entries #${first.index} and #${index} both have the id ${show(label)}`
            : `entries #${first.index} (${show(first.id)}) and #${index} (${show(label)}) have ids that differ only in case, and ids name branches and directories, which some file systems do not tell apart`
        )
      )
    }
  })
  if (problems.length > 0) return Result.fail(problems)
  return Result.succeed(decoded.map((entry) => build(entry, defaults)))
}
