/**
 * Doc examples as tests, shared by the packages of this repository: every ```ts block in a JSDoc comment of
 * `<package>/src/*.ts` is written out as a module under `<package>/test/.docs/` (gitignored, excluded from
 * `tsc -b`), typechecked with `<package>/tsconfig.docs.json` and imported, which runs it. What it prints with
 * `console.log` is captured, and where the printing line ends with a `// <expected>` comment, the printed
 * values must match it, so the docs cannot drift from the API. A package's `test/docs.test.ts` calls
 * `docExamples` with the package's directory.
 * @internal
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"

// -----------------------------------------------------------------------------
// extraction
// -----------------------------------------------------------------------------

interface Block {
  /** The module file's name without `.ts`, e.g. `Mailbox`. */
  readonly module: string
  /** The export the comment documents (`module` for the module's own comment). */
  readonly target: string
  /** 1-based index of this block among the module's blocks, used in the file name. */
  readonly n: number
  /** The block's lines, with the comment's ` * ` stripped. */
  readonly lines: ReadonlyArray<string>
  /** 1-based line in the source file of `lines[0]`. */
  readonly firstLine: number
  /** How many characters were stripped from the start of each line (to map columns back). */
  readonly stripped: ReadonlyArray<number>
  /** The generated module. */
  readonly file: string
}

const withoutComments = (source: string): string => source.replace(/\/\*[\s\S]*?\*\//g, "")

const lineAt = (text: string, index: number): number => text.slice(0, index).split("\n").length

/** The name an export declared right after a comment goes by (resolving `export { x as y }`). */
const targetOf = (source: string, after: string, isFirst: boolean): string => {
  const declared =
    /^\s*(export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:const|let|var|function\*?|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/.exec(
      after
    )
  if (declared !== null) {
    const name = declared[2]
    if (declared[1] !== undefined) return name
    const alias = new RegExp(`export\\s*\\{[^}]*\\b${name.replace(/\$/g, "\\$")}\\s+as\\s+([\\w$]+)`).exec(
      withoutComments(source)
    )
    return alias?.[1] ?? name
  }
  const inBraces = /^\s*([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?\s*[,}]?/.exec(after)
  if (!isFirst && inBraces !== null && !/^\s*(import|export)\b/.test(after)) {
    return inBraces[2] ?? inBraces[1]
  }
  return isFirst && /^\s*(import|$)/.test(after) ? "module" : "(unknown)"
}

const extract = (file: string, outDir: string): Array<Block> => {
  const source = fs.readFileSync(file, "utf8")
  const module = path.basename(file, ".ts")
  const blocks: Array<Block> = []
  const comment = /\/\*\*([\s\S]*?)\*\//g
  let first = true
  for (let match = comment.exec(source); match !== null; match = comment.exec(source)) {
    const startLine = lineAt(source, match.index)
    const target = targetOf(source, source.slice(comment.lastIndex, comment.lastIndex + 300), first)
    first = false
    const raw = match[1].split("\n")
    let open: { lines: Array<string>; stripped: Array<number>; firstLine: number } | undefined
    for (let i = 0; i < raw.length; i++) {
      const prefix = i === 0 ? "" : (/^\s*\* ?/.exec(raw[i])?.[0] ?? "")
      const line = raw[i].slice(prefix.length)
      if (open === undefined) {
        if (/^```(ts|typescript)\s*$/.test(line.trim())) {
          open = { lines: [], stripped: [], firstLine: startLine + i + 1 }
        }
      } else if (/^```\s*$/.test(line.trim())) {
        const n = blocks.length + 1
        blocks.push({ module, target, n, ...open, file: path.join(outDir, `${module}-${n}.gen.ts`) })
        open = undefined
      } else {
        open.lines.push(line)
        // The first line of a comment has "/**" stripped by the regex, not a " * " prefix.
        open.stripped.push(prefix.length + (i === 0 ? 3 : 0))
      }
    }
    if (open !== undefined) throw new Error(`${module}.ts:${open.firstLine}: unterminated \`\`\`ts block`)
  }
  return blocks
}

/** Every exported name of a module: declarations and `export { a as b }` (not `export * as` re-exports). */
const exportedNames = (file: string): Array<string> => {
  const source = withoutComments(fs.readFileSync(file, "utf8"))
  const names = new Set<string>()
  const declaration =
    /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:const|let|var|function\*?|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/gm
  for (const m of source.matchAll(declaration)) names.add(m[1])
  for (const m of source.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const item of m[1].split(",")) {
      const name = /([\w$]+)\s*$/.exec(item.trim())?.[1]
      if (name !== undefined) names.add(name)
    }
  }
  return [...names]
}

// -----------------------------------------------------------------------------
// instrumentation
// -----------------------------------------------------------------------------

/** Index of a trailing `//` comment outside string literals, or -1. */
const commentStart = (line: string): number => {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === "'" || c === "`") quote = c
    else if (c === "/" && line[i + 1] === "/") return i
  }
  return -1
}

const splitLine = (line: string): { readonly code: string; readonly comment: string | undefined } => {
  const at = commentStart(line)
  return at < 0
    ? { code: line, comment: undefined }
    : { code: line.slice(0, at), comment: line.slice(at + 2).trim() }
}

/** Net count of `(` over `)` in code (strings are not looked into: good enough for examples). */
const parenBalance = (code: string): number => {
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < code.length; i++) {
    const c = code[i]
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === "'" || c === "`") quote = c
    else if (c === "(") depth++
    else if (c === ")") depth--
  }
  return depth
}

interface Expectation {
  /** Index of the line that prints (0-based in the block). */
  readonly line: number
  readonly text: string
}

/** Lines that begin a top-level statement and are not declarations: candidates to `await`. */
const statementStart =
  /^(?!(?:const|let|var|import|export|type|interface|function|class|for|if|while|await|return|declare)\b)[A-Za-z_$(]/

const HEADER = [
  "// Generated by test/docs.test.ts from a doc comment: edit the comment, not this file.",
  "export const __out: Array<{ readonly line: number; readonly args: ReadonlyArray<unknown> }> = []",
  "export const __log = (line: number) => (...args: Array<unknown>): void => void __out.push({ line, args })"
]

const instrument = (
  block: Block
): {
  readonly source: string
  readonly expectations: ReadonlyArray<Expectation>
  /** Per line, how many characters the rewriting inserted before the code (to map columns back). */
  readonly shifts: ReadonlyArray<number>
} => {
  const lines = [...block.lines]
  const expectations: Array<Expectation> = []
  for (let i = 0; i < lines.length; i++) {
    const { code } = splitLine(lines[i])
    if (!/\bconsole\.log\b/.test(code)) continue
    // The expected output is the trailing comment of the line that ends the call, or a comment line right after.
    let end = i
    let depth = parenBalance(code.slice(code.search(/\bconsole\.log\b/)))
    while (depth > 0 && end + 1 < lines.length) depth += parenBalance(splitLine(lines[++end]).code)
    const closing = splitLine(lines[end]).comment
    const next = end + 1 < lines.length ? /^\s*\/\/(.*)$/.exec(lines[end + 1]) : null
    const text = closing ?? next?.[1].trim()
    if (text !== undefined && text !== "") expectations.push({ line: i, text })
  }
  const shifts = lines.map(() => 0)
  for (let i = 0; i < lines.length; i++) {
    const { code, comment } = splitLine(lines[i])
    // Padded to the length of "console.log" (a call may have spaces before its arguments): columns stay put.
    let rewritten = code.replace(/\bconsole\.log\b/g, `__log(${i})`.padEnd("console.log".length))
    // A promise left floating at the top level (`Effect.runPromise(program).then(console.log)`) is awaited, so
    // the module settles only once the example has finished, and a rejection fails the example.
    if (statementStart.test(rewritten) && /runPromise|\.then\(|\.catch\(/.test(rewritten)) {
      const bare = rewritten.replace(/^void\s+/, "")
      shifts[i] = "await ".length - (rewritten.length - bare.length)
      rewritten = `await ${bare}`
    }
    lines[i] = comment === undefined ? rewritten : `${rewritten}//${lines[i].slice(code.length + 2)}`
  }
  return { source: [...HEADER, ...lines, ""].join("\n"), expectations, shifts }
}

// -----------------------------------------------------------------------------
// expected values: a small parser for JS literals (no eval of comment text)
// -----------------------------------------------------------------------------

class NotALiteral extends Error {}

const fail = (): never => {
  throw new NotALiteral()
}

/** Parses whitespace-separated JS literals (what `console.log(a, b)` prints), or undefined if it is not that. */
const parseLiterals = (text: string): Array<unknown> | undefined => {
  let i = 0
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++
  }
  const string = (): string => {
    const quote = text[i++]
    let out = ""
    while (i < text.length && text[i] !== quote) {
      if (text[i] === "\\") {
        const e = text[++i]
        const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0", b: "\b", f: "\f" }
        if (e === "u") {
          out += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16))
          i += 5
          continue
        }
        out += escapes[e] ?? e
        i++
      } else out += text[i++]
    }
    if (text[i] !== quote) fail()
    i++
    return out
  }
  const word = (): string => {
    const m = /^[A-Za-z_$][\w$]*/.exec(text.slice(i))
    if (m === null) return fail()
    i += m[0].length
    return m[0]
  }
  const value = (): unknown => {
    ws()
    const c = text[i]
    if (c === '"' || c === "'") return string()
    if (c === "[") {
      i++
      const items: Array<unknown> = []
      for (;;) {
        ws()
        if (text[i] === "]") break
        items.push(value())
        ws()
        if (text[i] === ",") i++
        else if (text[i] !== "]") fail()
      }
      i++
      return items
    }
    if (c === "{") {
      i++
      const object: Record<string, unknown> = {}
      for (;;) {
        ws()
        if (text[i] === "}") break
        const key = text[i] === '"' || text[i] === "'" ? string() : word()
        ws()
        if (text[i++] !== ":") fail()
        object[key] = value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] !== "}") fail()
      }
      i++
      return object
    }
    const number = /^-?(?:Infinity|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\w$])/.exec(text.slice(i))
    if (number !== null) {
      i += number[0].length
      return Number(number[0])
    }
    const constants: Record<string, unknown> = { true: true, false: false, null: null, undefined }
    const name = word()
    return name in constants ? constants[name] : fail()
  }
  try {
    const values: Array<unknown> = []
    ws()
    while (i < text.length) {
      values.push(value())
      if (i < text.length && !/\s/.test(text[i])) fail()
      ws()
    }
    return values.length === 0 ? undefined : values
  } catch (error) {
    if (error instanceof NotALiteral) return undefined
    throw error
  }
}

/** What `console.log` shows for values that print as plain text (strings, numbers, booleans), else undefined. */
const plainText = (values: ReadonlyArray<unknown>): string | undefined =>
  values.every((v) => ["string", "number", "boolean"].includes(typeof v))
    ? values.map(String).join(" ")
    : undefined

const wildcard = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split("…")
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("[\\s\\S]*")}$`
  )

// -----------------------------------------------------------------------------
// comparing
// -----------------------------------------------------------------------------

const printedBy = (
  out: ReadonlyArray<{ readonly line: number; readonly args: ReadonlyArray<unknown> }>,
  line: number
): ReadonlyArray<unknown> => out.filter((entry) => entry.line === line).flatMap((entry) => entry.args)

/**
 * What to compare for one printing line. A literal comment is compared with the printed values. Otherwise, if
 * what was printed is plain text, it must read as the comment (`…` stands for anything); if it is not (an Exit,
 * an Option), the comment is prose and only running and printing are checked.
 */
const check = (
  text: string,
  printed: ReadonlyArray<unknown>
): { readonly kind: "literal" | "text" | "none"; readonly actual: unknown; readonly expected: unknown } => {
  const literal = text.includes("…") ? undefined : parseLiterals(text)
  if (literal !== undefined) return { kind: "literal", actual: printed, expected: literal }
  if (printed.length === 0) return { kind: "text", actual: "(printed nothing)", expected: text }
  const shown = plainText(printed)
  if (shown === undefined) return { kind: "none", actual: "(printed)", expected: "(printed)" }
  return { kind: "text", actual: wildcard(text).test(shown) ? text : shown, expected: text }
}

/** Lets promises and macrotasks the example left behind run before its output is read. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

/** Registers the doc-example tests of the package whose directory is `pkg`. @internal */
export const docExamples = (pkg: string): void => {
  const root = path.resolve(pkg, "../..")
  const srcDir = path.join(pkg, "src")
  const outDir = path.join(pkg, "test", ".docs")
  const tsconfig = path.join(pkg, "tsconfig.docs.json")

  // -----------------------------------------------------------------------------
  // generation
  // -----------------------------------------------------------------------------

  const sources = fs
    .readdirSync(srcDir)
    .filter((name) => name.endsWith(".ts"))
    .sort()
    .map((name) => path.join(srcDir, name))

  const blocks = sources.flatMap((file) => extract(file, outDir))
  const generated = blocks.map((block) => ({ block, ...instrument(block) }))

  fs.mkdirSync(outDir, { recursive: true })
  for (const { block, source } of generated) {
    // Write only what changed, so a watching vitest is not woken up by its own output.
    const current = fs.existsSync(block.file) ? fs.readFileSync(block.file, "utf8") : undefined
    if (current !== source) fs.writeFileSync(block.file, source)
  }
  const wanted = new Set(blocks.map((block) => path.basename(block.file)))
  for (const name of fs.readdirSync(outDir)) {
    if (name.endsWith(".gen.ts") && !wanted.has(name)) fs.rmSync(path.join(outDir, name))
  }

  // -----------------------------------------------------------------------------
  // typechecking: one compiler run for every example
  // -----------------------------------------------------------------------------

  /** The compiler's diagnostics per generated file (positions mapped back to the source), and the rest. */
  let typeErrors: { readonly byFile: Map<string, Array<string>>; readonly other: Array<string> }

  const typecheck = () => {
    const tsc = path.join(root, "node_modules/typescript/bin/tsc")
    let output = ""
    try {
      execFileSync(process.execPath, [tsc, "-p", tsconfig, "--noEmit", "--pretty", "false"], {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000,
        stdio: "pipe"
      })
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string }
      output = `${e.stdout ?? ""}${e.stderr ?? ""}` || e.message
    }
    const byFile = new Map<string, Array<string>>()
    const other: Array<string> = []
    const byName = new Map(generated.map((entry) => [path.basename(entry.block.file), entry]))
    let last: Array<string> = other
    for (const line of output.split("\n")) {
      if (line.trim() === "") continue
      const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(line)
      const entry = m === null ? undefined : byName.get(path.basename(m[1]))
      if (m !== null && entry !== undefined) {
        const { block, shifts } = entry
        const index = Number(m[2]) - HEADER.length - 1
        const column = Number(m[3]) - (shifts[index] ?? 0) + (block.stripped[index] ?? 0)
        const where =
          index >= 0
            ? `src/${block.module}.ts:${block.firstLine + index}:${column}`
            : `${path.basename(block.file)}:${m[2]}:${m[3]}`
        last = byFile.get(block.file) ?? []
        byFile.set(block.file, last)
        last.push(`${where}: ${m[4]}`)
      } else if (m === null && /^\s/.test(line)) last.push(line)
      else {
        last = other
        other.push(line)
      }
    }
    typeErrors = { byFile, other }
  }

  // -----------------------------------------------------------------------------
  // tests
  // -----------------------------------------------------------------------------

  const stats = {
    found: blocks.length,
    ran: 0,
    asserted: 0,
    literal: 0,
    text: 0,
    unasserted: [] as Array<string>
  }

  describe("doc examples", () => {
    beforeAll(typecheck, 60_000)

    afterAll(() => {
      if (process.env.DOCS_STATS) process.stderr.write(`doc examples: ${JSON.stringify(stats)}\n`)
    })

    it("every export of src/*.ts carries a ```ts example", () => {
      const documented = new Set(blocks.map((block) => `${block.module}.${block.target}`))
      const missing = sources.flatMap((file) =>
        exportedNames(file)
          .map((name) => `${path.basename(file, ".ts")}.${name}`)
          .filter((name) => !documented.has(name))
      )
      expect(missing.length, `exports without an example in their doc comment: ${missing.join(", ")}`).toBe(0)
    })

    it("the examples typecheck as a project", () => {
      expect(typeErrors.other, `tsc -p ${path.relative(root, tsconfig)}`).toEqual([])
    })

    for (const { block, expectations } of generated) {
      const name = `${block.module}.${block.target}`
      it(`${name} (src/${block.module}.ts:${block.firstLine})`, async () => {
        const errors = typeErrors.byFile.get(block.file) ?? []
        expect(errors, `the example of ${name} does not compile`).toEqual([])

        // Whatever else the example prints (an `Effect.log`) is kept out of the test output, and shown on failure.
        const ambient: Array<string> = []
        const spy = vi
          .spyOn(console, "log")
          .mockImplementation((...args) => void ambient.push(args.join(" ")))
        let out: ReadonlyArray<{ readonly line: number; readonly args: ReadonlyArray<unknown> }>
        try {
          const mod = await import(/* @vite-ignore */ pathToFileURL(block.file).href)
          await settle()
          out = mod.__out
        } finally {
          spy.mockRestore()
        }
        stats.ran++

        // One comparison for all the example's printing lines, keyed by where they are: what each printed
        // against what its comment says.
        const checks = expectations.map(({ line, text }) => check(text, printedBy(out, line)))
        const key = (line: number, text: string) =>
          `src/${block.module}.ts:${block.firstLine + line} // ${text}`
        const actual = Object.fromEntries(expectations.map((e, i) => [key(e.line, e.text), checks[i].actual]))
        const expected = Object.fromEntries(
          expectations.map((e, i) => [key(e.line, e.text), checks[i].expected])
        )
        expect(actual, `what the example printed (other console output: ${JSON.stringify(ambient)})`).toEqual(
          expected
        )
        for (const { kind } of checks) if (kind !== "none") stats[kind]++
        if (checks.some(({ kind }) => kind !== "none")) stats.asserted++
        else stats.unasserted.push(name)
      }, 10_000)
    }
  })
}
