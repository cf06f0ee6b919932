/**
 * The machinery of `Review`: splitting files into balanced scopes, the builtin reviewer's checks, the lenient
 * parser of findings as JSON lines, joining and deduplicating the reviewers' findings, and the text form.
 *
 * Invariants of `scopesOf` (each kept where it is written):
 * 1. Every file goes into exactly one unit (`unitsOf` visits each directory once and, for a directory it does
 *    not take whole, each of its files once), and every unit into exactly one scope (`assign`).
 * 2. A unit is at most `limit` bytes. Each unit goes to a scope that holds the fewest bytes at that moment,
 *    so when the fullest scope got its last unit `u`, it held no more than the final emptiest one:
 *    fullest ≤ emptiest + u ≤ emptiest + limit. The last attempt has `limit` = the largest file, so the bound
 *    max − min ≤ largest file always holds for the scopes returned.
 * 3. Nothing depends on the order of the input: units are sorted by (bytes, files, path) before they are
 *    placed, and scopes are numbered by their first path.
 * @internal
 */
import type { Finding, Reported, Result, Scope, Severity } from "../Review.ts"

// -----------------------------------------------------------------------------
// scopes
// -----------------------------------------------------------------------------

/** A file to place: its path relative to the repository, and its size in bytes. */
export interface Sized {
  readonly path: string
  readonly size: number
}

interface Dir {
  /** "" for the root, else the directory's path. */
  readonly path: string
  bytes: number
  count: number
  readonly files: Map<string, Sized>
  readonly dirs: Map<string, Dir>
}

interface Unit {
  readonly key: string
  readonly glob: string
  readonly files: ReadonlyArray<Sized>
  readonly bytes: number
}

const newDir = (path: string): Dir => ({ path, bytes: 0, count: 0, files: new Map(), dirs: new Map() })

/** Builds the directory tree of the files, or says which file cannot be placed in one. */
export const treeOf = (files: ReadonlyArray<Sized>): Dir | string => {
  const root = newDir("")
  for (const file of files) {
    const path: unknown = file.path
    if (typeof path !== "string" || path === "") return "a file has an empty path"
    const size: unknown = file.size
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      return `${JSON.stringify(path)} has the size ${String(size)}: sizes are whole numbers of bytes, 0 or more`
    }
    const segments = path.split("/")
    if (
      segments.some((segment) => segment === "" || segment === "." || segment === "..") ||
      path.includes("\0")
    ) {
      return `${JSON.stringify(path)} is not a repository-relative path (no leading, trailing or doubled "/", no "." or ".." segments)`
    }
    const chain: Array<Dir> = [root]
    let dir = root
    for (const name of segments.slice(0, -1)) {
      if (dir.files.has(name)) {
        return `${JSON.stringify(path)} is under ${JSON.stringify(join(dir.path, name))}, which is a file`
      }
      let next = dir.dirs.get(name)
      if (next === undefined) {
        next = newDir(join(dir.path, name))
        dir.dirs.set(name, next)
      }
      dir = next
      chain.push(dir)
    }
    const name = segments[segments.length - 1]!
    if (dir.files.has(name)) return `${JSON.stringify(path)} is listed twice`
    if (dir.dirs.has(name)) return `${JSON.stringify(path)} is also a directory of other files`
    dir.files.set(name, file)
    for (const above of chain) {
      above.bytes += size
      above.count += 1
    }
  }
  return root
}

const join = (dir: string, name: string): string => (dir === "" ? name : `${dir}/${name}`)

/**
 * A path as a glob of `@handoffkit/pool`'s `Plan` that matches it and, unless the path holds a brace, a
 * backslash or a control character, nothing else: `*`, `?` and `[` go in a one-character class (`Plan` has no
 * escapes); braces are expanded before classes are read, so they, and what a glob cannot hold, become `?`
 * (that one character or any other).
 */
export const globOf = (path: string): string =>
  // oxlint-disable-next-line no-control-regex
  path.replace(/[*?[]/g, (char) => `[${char}]`).replace(/[{}\\\u0000-\u001f\u007f]/g, "?")

const allFiles = (dir: Dir, out: Array<Sized>): Array<Sized> => {
  for (const file of dir.files.values()) out.push(file)
  for (const sub of dir.dirs.values()) allFiles(sub, out)
  return out
}

/**
 * The units of placement: every directory of at most `limit` bytes and `maxFiles` files is one unit (its
 * topmost such directory: an area of ownership), every other file a unit of its own.
 */
const unitsOf = (root: Dir, limit: number, maxFiles: number): Array<Unit> => {
  const units: Array<Unit> = []
  const visit = (dir: Dir): void => {
    if (dir.count > 0 && dir.bytes <= limit && dir.count <= maxFiles) {
      units.push({
        key: dir.path,
        glob: dir.path === "" ? "**" : `${globOf(dir.path)}/**`,
        files: allFiles(dir, []),
        bytes: dir.bytes
      })
      return
    }
    for (const file of dir.files.values()) {
      units.push({ key: file.path, glob: globOf(file.path), files: [file], bytes: file.size })
    }
    for (const sub of dir.dirs.values()) visit(sub)
  }
  visit(root)
  return units
}

interface Bin {
  readonly index: number
  bytes: number
  count: number
  readonly units: Array<Unit>
}

const lighter = (a: Bin, b: Bin): boolean =>
  a.bytes !== b.bytes ? a.bytes < b.bytes : a.count !== b.count ? a.count < b.count : a.index < b.index

/** Places each unit, largest first, on the scope with the fewest bytes (then files, then lowest index). */
const assign = (units: Array<Unit>, k: number): Array<Bin> => {
  const sorted = units.toSorted((a, b) =>
    a.bytes !== b.bytes
      ? b.bytes - a.bytes
      : a.files.length !== b.files.length
        ? b.files.length - a.files.length
        : compare(a.key, b.key)
  )
  const bins: Array<Bin> = Array.from({ length: k }, (_, index) => ({ index, bytes: 0, count: 0, units: [] }))
  // A binary min-heap of the bins by `lighter`: the root is always a scope with the fewest bytes.
  const heap = bins.slice()
  const down = (at: number): void => {
    for (;;) {
      const left = 2 * at + 1
      const right = left + 1
      let least = at
      if (left < heap.length && lighter(heap[left]!, heap[least]!)) least = left
      if (right < heap.length && lighter(heap[right]!, heap[least]!)) least = right
      if (least === at) return
      ;[heap[at], heap[least]] = [heap[least]!, heap[at]!]
      at = least
    }
  }
  for (const unit of sorted) {
    const bin = heap[0]!
    bin.units.push(unit)
    bin.bytes += unit.bytes
    bin.count += unit.files.length
    down(0)
  }
  return bins
}

const spread = (bins: ReadonlyArray<Bin>): number => {
  let max = -Infinity
  let min = Infinity
  for (const bin of bins) {
    max = Math.max(max, bin.bytes)
    min = Math.min(min, bin.bytes)
  }
  return max - min
}

/** Plain code-unit order: the same on every machine and locale. */
export const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Splits the files into `k` scopes (see the module's invariants). Tries coarse areas first: a directory of up
 * to a fair share of bytes stays whole if the placement still meets the bound, else the limit is halved, down
 * to the largest file, where the bound is guaranteed.
 */
export const scopesOf = (root: Dir, k: number): Array<Scope> => {
  const n = root.count
  const largest = maxSize(root)
  const maxFiles = Math.max(1, Math.ceil(n / k))
  let bins: Array<Bin> | undefined
  for (let limit = root.bytes / k; limit > largest; limit /= 2) {
    const attempt = assign(unitsOf(root, limit, maxFiles), k)
    if (spread(attempt) <= largest) {
      bins = attempt
      break
    }
  }
  bins ??= assign(unitsOf(root, largest, maxFiles), k)
  const scopes = bins.map((bin) => ({
    files: bin.units.flatMap((unit) => unit.files.map((file) => file.path)).toSorted(compare),
    bytes: bin.bytes,
    owns: bin.units.map((unit) => unit.glob).toSorted(compare)
  }))
  // Numbered in path order, so reviewer 1 has the area that comes first; empty scopes last.
  scopes.sort((a, b) =>
    a.files.length === 0 || b.files.length === 0
      ? b.files.length - a.files.length
      : compare(a.files[0]!, b.files[0]!)
  )
  return scopes.map(({ files, bytes, owns }, i) => ({ reviewer: i + 1, files, bytes, owns }))
}

const maxSize = (dir: Dir): number => {
  let max = 0
  for (const file of dir.files.values()) max = Math.max(max, file.size)
  for (const sub of dir.dirs.values()) max = Math.max(max, maxSize(sub))
  return max
}

// -----------------------------------------------------------------------------
// the builtin reviewer's checks
// -----------------------------------------------------------------------------

/** Lines longer than this many characters are reported. */
export const maxLineLength = 120

/** Files larger than this are not read by the builtin reviewer. */
export const maxFileBytes = 4 * 1024 * 1024

/** Git's test: a NUL byte in the first 8000 bytes makes a file binary. */
export const isBinary = (bytes: Uint8Array): boolean => bytes.subarray(0, 8000).includes(0)

const scripts = /\.(?:[cm]?[jt]sx?|vue|svelte|astro)$/i
const markers = /\b(TODO|FIXME|XXX)\b/g
const markerSeverity: Record<string, Severity> = { TODO: "info", FIXME: "warning", XXX: "warning" }

/** The findings of the builtin checks in one text file, in line order. */
export const check = (path: string, text: string): Array<Finding> => {
  const findings: Array<Finding> = []
  const add = (line: number, severity: Severity, message: string) =>
    findings.push({ file: path, line, severity, message })
  const lines = text.split("\n")
  if (lines[lines.length - 1] === "") lines.pop()
  const script = scripts.test(path)
  let inConflict = false
  for (const [i, raw] of lines.entries()) {
    const number = i + 1
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
    if (/^<{7}(?: |$)/.test(line)) {
      inConflict = true
      add(number, "error", "merge conflict marker")
    } else if (inConflict && /^(?:={7}|\|{7}(?: .*)?)$/.test(line)) {
      add(number, "error", "merge conflict marker")
    } else if (/^>{7}(?: |$)/.test(line) && (inConflict || line.length > 8)) {
      inConflict = false
      add(number, "error", "merge conflict marker")
    }
    const seen = new Set<string>()
    for (const match of line.matchAll(markers)) {
      const marker = match[1]!
      if (seen.has(marker)) continue
      seen.add(marker)
      add(number, markerSeverity[marker]!, `${marker} marker`)
    }
    if (script && /^\s*debugger\s*;?\s*(?:\/\/.*)?$/.test(line)) add(number, "error", "debugger statement")
    // The mix that is always wrong (git's space-before-tab): tabs then spaces for alignment are fine.
    if (/^[ \t]* \t/.test(line)) add(number, "warning", "space before tab in indentation")
    if (/[ \t]$/.test(line)) add(number, "info", "trailing whitespace")
    const length = [...line].length
    if (length > maxLineLength)
      add(number, "info", `line is ${length} characters long (over ${maxLineLength})`)
  }
  return findings
}

// -----------------------------------------------------------------------------
// findings as JSON lines
// -----------------------------------------------------------------------------

const severities: Record<string, Severity> = {
  error: "error",
  critical: "error",
  high: "error",
  major: "error",
  blocker: "error",
  bug: "error",
  warning: "warning",
  warn: "warning",
  medium: "warning",
  moderate: "warning",
  minor: "warning",
  info: "info",
  low: "info",
  note: "info",
  nit: "info",
  suggestion: "info",
  style: "info",
  hint: "info"
}

/**
 * Reads one decoded JSON value as a finding, taking what a model may write instead of the exact shape:
 * `path` for `file`, a line given as a numeric string, a severity under another common name (or none:
 * `"warning"`). Undefined when it is not a finding.
 */
export const findingOf = (value: unknown): Finding | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const record = value as Record<string, unknown>
  const rawFile = record.file ?? record.path
  const rawLine = record.line
  const rawMessage = record.message
  const rawSeverity = record.severity ?? "warning"
  if (typeof rawFile !== "string" || typeof rawMessage !== "string" || typeof rawSeverity !== "string") {
    return undefined
  }
  const line =
    typeof rawLine === "number"
      ? rawLine
      : typeof rawLine === "string" && /^\s*\d+\s*$/.test(rawLine)
        ? Number(rawLine)
        : NaN
  const file = rawFile.trim().replace(/^(?:\.\/)+/, "")
  const message = rawMessage.replace(/\s+/g, " ").trim()
  const severity = severities[rawSeverity.trim().toLowerCase()]
  if (!Number.isSafeInteger(line) || line < 1 || file === "" || message === "" || severity === undefined) {
    return undefined
  }
  return { file, line, severity, message }
}

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

/** The values a decoded JSON document holds as findings: an array's items, `{ findings: [...] }`, or itself. */
const itemsOf = (value: unknown): ReadonlyArray<unknown> =>
  Array.isArray(value)
    ? value
    : typeof value === "object" && value !== null && Array.isArray((value as { findings?: unknown }).findings)
      ? (value as { findings: ReadonlyArray<unknown> }).findings
      : [value]

/**
 * Findings in a reviewer's output: the whole text as one JSON document (an array of findings, an object with
 * `findings`, or one finding), else one JSON value a line. Blank lines and code fences are ignored; every
 * other line (or item) that is not a finding is counted in `skipped`.
 */
export const parse = (text: string): { findings: Array<Finding>; skipped: number } => {
  const findings: Array<Finding> = []
  let skipped = 0
  const take = (value: unknown) => {
    for (const item of itemsOf(value)) {
      const finding = findingOf(item)
      if (finding === undefined) skipped++
      else findings.push(finding)
    }
  }
  const whole = text.trim()
  if (whole === "") return { findings, skipped }
  const document = parseJson(whole)
  if (document.ok && typeof document.value === "object" && document.value !== null) {
    take(document.value)
    return { findings, skipped }
  }
  for (const raw of text.split("\n")) {
    const line = raw.trim().replace(/,$/, "")
    if (line === "" || line.startsWith("```")) continue
    const value = line.startsWith("{") || line.startsWith("[") ? parseJson(line) : { ok: false as const }
    if (value.ok) take(value.value)
    else skipped++
  }
  return { findings, skipped }
}

// -----------------------------------------------------------------------------
// joining
// -----------------------------------------------------------------------------

const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 }

/** Orders findings by file, then line, then message. */
export const byPlace = (a: Finding, b: Finding): number =>
  compare(a.file, b.file) ||
  a.line - b.line ||
  compare(a.message, b.message) ||
  rank[a.severity] - rank[b.severity]

/**
 * Joins the reviewers' findings: one entry per (file, line, message), with every reviewer that reported it
 * (in order) and the most severe severity any of them gave.
 */
export const dedupe = (
  reports: ReadonlyArray<{ readonly reviewer: number; readonly findings: ReadonlyArray<Finding> }>
): Array<Reported> => {
  const joined = new Map<string, { finding: Finding; reviewers: Set<number> }>()
  for (const { reviewer, findings } of reports) {
    for (const finding of findings) {
      const key = JSON.stringify([finding.file, finding.line, finding.message])
      const entry = joined.get(key)
      if (entry === undefined) {
        joined.set(key, { finding, reviewers: new Set([reviewer]) })
        continue
      }
      entry.reviewers.add(reviewer)
      if (rank[finding.severity] < rank[entry.finding.severity])
        entry.finding = { ...entry.finding, severity: finding.severity }
    }
  }
  return [...joined.values()]
    .map(({ finding, reviewers }) => ({
      file: finding.file,
      line: finding.line,
      severity: finding.severity,
      message: finding.message,
      reviewers: [...reviewers].toSorted((a, b) => a - b)
    }))
    .sort(byPlace)
}

// -----------------------------------------------------------------------------
// text
// -----------------------------------------------------------------------------

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

/** The text form of a result: the scopes, then the findings, then what failed or was skipped. */
export const format = (result: Result): string => {
  const lines: Array<string> = []
  const files = result.scopes.reduce((sum, scope) => sum + scope.files.length, 0)
  const bytes = result.scopes.reduce((sum, scope) => sum + scope.bytes, 0)
  lines.push(
    `${plural(result.scopes.length, "reviewer")} over ${plural(files, "file")} (${plural(bytes, "byte")}):`
  )
  for (const scope of result.scopes) {
    const owns = scope.owns.length <= 3 ? scope.owns.join(", ") : `${scope.owns.slice(0, 3).join(", ")}, …`
    const area = scope.files.length === 0 ? "" : `: ${owns}`
    lines.push(
      `  reviewer ${scope.reviewer}: ${plural(scope.files.length, "file")}, ${plural(scope.bytes, "byte")}${area}`
    )
  }
  lines.push("")
  if (result.findings.length === 0) lines.push("no findings")
  else {
    lines.push(`${plural(result.findings.length, "finding")}:`)
    const width = Math.max(...result.findings.map((finding) => `${finding.file}:${finding.line}`.length))
    for (const finding of result.findings) {
      const place = `${finding.file}:${finding.line}`.padEnd(width)
      lines.push(`${place}  ${finding.severity.padEnd(7)}  ${finding.message}`)
    }
  }
  for (const skipped of result.skipped) {
    lines.push(
      `reviewer ${skipped.reviewer}: ${plural(skipped.count, "line")} of its output ${skipped.count === 1 ? "was" : "were"} not a finding of a tracked file (skipped)`
    )
  }
  for (const failed of result.failed)
    lines.push(`reviewer ${failed.reviewer} failed (${failed.error}): ${failed.message}`)
  return lines.join("\n")
}
