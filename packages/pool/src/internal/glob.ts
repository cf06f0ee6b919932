/**
 * The glob engine behind `Task`'s owned paths and `Plan`'s overlap prediction. A glob is compiled once into
 * brace-free alternatives, each a list of segments; a segment is `**` (any number of whole segments, zero
 * included) or a list of tokens matched against one path segment. Overlap is an exact intersection of two
 * segment automata (and, inside a segment, of two token automata) that also builds a witness path, so every
 * "they overlap" comes with a path both globs match, and every "they do not" is a proof by exhaustion.
 *
 * Syntax: `*` (any characters but `/`, also a leading dot), `?` (one character but `/`), `[abc]`, `[a-z]`,
 * `[!a]` / `[^a]` (one character of, or not of, the class; never `/`), `{a,b}` (alternatives, nested, may hold
 * `/`), `**` as a whole segment (inside a segment, `**` is `*`). No escapes: a backslash is refused. A pattern
 * (or brace alternative) without `*`, `?` or `[` is a path: it matches that path and everything under it.
 * @internal
 */
import { Result } from "effect"

type Token =
  | { readonly _tag: "char"; readonly code: number }
  | { readonly _tag: "any" }
  | { readonly _tag: "star" }
  | {
      readonly _tag: "class"
      readonly negated: boolean
      readonly ranges: ReadonlyArray<readonly [number, number]>
    }

type Segment =
  { readonly _tag: "globstar" } | { readonly _tag: "segment"; readonly tokens: ReadonlyArray<Token> }

/** A parsed glob: its brace-free alternatives, each a list of segments. */
export interface Compiled {
  readonly source: string
  readonly alternatives: ReadonlyArray<ReadonlyArray<Segment>>
}

/** More alternatives than this (after brace expansion) is refused: no glob an owner writes needs them. */
export const maxAlternatives = 256
/** Longer globs are refused. */
export const maxLength = 1024

const SLASH = 47
const globstar: Segment = { _tag: "globstar" }
const starSegment: ReadonlyArray<Token> = [{ _tag: "star" }]

const codePoints = (text: string): Array<number> => Array.from(text, (char) => char.codePointAt(0)!)

const isMagic = (text: string): boolean => /[*?[]/.test(text)

/** Expands `{a,b}` alternatives (nested) into brace-free strings, or says why it cannot. */
const expand = (glob: string): Result.Result<Array<string>, string> => {
  // Parses a sequence up to `}` or `,` (when nested) into its expansions.
  let index = 0
  const sequence = (nested: boolean): Array<string> | string => {
    let out: Array<string> = [""]
    while (index < glob.length) {
      const char = glob[index]
      if (nested && (char === "}" || char === ",")) return out
      if (char === "}") return `has a "}" that closes no "{"`
      if (char === "{") {
        index++
        const options: Array<string> = []
        for (;;) {
          const option = sequence(true)
          if (typeof option === "string") return option
          options.push(...option)
          if (index >= glob.length) return `has a "{" that is never closed`
          if (glob[index++] === "}") break
        }
        const next: Array<string> = []
        for (const prefix of out) for (const option of options) next.push(prefix + option)
        if (next.length > maxAlternatives) return `expands to more than ${maxAlternatives} alternatives`
        out = next
        continue
      }
      out = out.map((prefix) => prefix + char)
      index++
    }
    return out
  }
  const result = sequence(false)
  return typeof result === "string" ? Result.fail(result) : Result.succeed(result)
}

/** Tokenizes one path segment's pattern. */
const tokenize = (segment: string): Result.Result<Array<Token>, string> => {
  const chars = codePoints(segment)
  const tokens: Array<Token> = []
  for (let i = 0; i < chars.length; i++) {
    const code = chars[i]
    if (code === 42 /* * */) {
      if (tokens.at(-1)?._tag !== "star") tokens.push({ _tag: "star" })
    } else if (code === 63 /* ? */) {
      tokens.push({ _tag: "any" })
    } else if (code === 91 /* [ */) {
      let j = i + 1
      const negated = chars[j] === 33 /* ! */ || chars[j] === 94 /* ^ */
      if (negated) j++
      const ranges: Array<readonly [number, number]> = []
      let first = true
      for (; j < chars.length && (first || chars[j] !== 93) /* ] */; j++, first = false) {
        const lo = chars[j]
        if (chars[j + 1] === 45 /* - */ && j + 2 < chars.length && chars[j + 2] !== 93) {
          const hi = chars[j + 2]
          if (hi < lo)
            return Result.fail(
              `has the reversed range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}`
            )
          ranges.push([lo, hi])
          j += 2
        } else {
          ranges.push([lo, lo])
        }
      }
      if (j >= chars.length) return Result.fail(`has a "[" that is never closed`)
      tokens.push({ _tag: "class", negated, ranges })
      i = j
    } else {
      tokens.push({ _tag: "char", code })
    }
  }
  return Result.succeed(tokens)
}

/**
 * Parses a glob (already normalized: relative, no empty, `.` or `..` segments; see `normalize`).
 */
export const parse = (glob: string): Result.Result<Compiled, string> => {
  const expanded = expand(glob)
  if (Result.isFailure(expanded)) return Result.fail(expanded.failure)
  const alternatives: Array<Array<Segment>> = []
  for (const alternative of expanded.success) {
    const parts = alternative.split("/")
    const segments: Array<Segment> = []
    for (const part of parts) {
      if (part === "" || part === "." || part === "..") {
        const which = expanded.success.length > 1 ? `an alternative "${alternative}" with ` : ""
        if (part === "..") return Result.fail(`has ${which}a ".." segment: it leaves the repository`)
        return Result.fail(`has ${which}an empty or "." segment`)
      }
      if (part === "**") {
        if (segments.at(-1)?._tag !== "globstar") segments.push(globstar)
        continue
      }
      const tokens = tokenize(part)
      if (Result.isFailure(tokens)) return Result.fail(tokens.failure)
      segments.push({ _tag: "segment", tokens: tokens.success })
    }
    // A path without wildcards owns itself and everything under it.
    if (!isMagic(alternative) && segments.at(-1)?._tag !== "globstar") segments.push(globstar)
    alternatives.push(segments)
  }
  return Result.succeed({ source: glob, alternatives })
}

/** The first segment of some alternative that is literally the git directory, if any. */
export const gitDirAlternative = (compiled: Compiled): string | undefined => {
  for (const segments of compiled.alternatives) {
    const first = segments[0]
    if (first?._tag !== "segment" || first.tokens.length !== 4) continue
    const text = first.tokens
      .map((token) => (token._tag === "char" ? String.fromCodePoint(token.code) : "\0"))
      .join("")
    if (text.toLowerCase() === ".git") return text
  }
  return undefined
}

/**
 * Checks and normalizes an owned glob: refuses what could leave the repository or reach its git directory,
 * drops `./` and `.` segments, doubled and trailing slashes. Returns the normalized glob or the reason.
 */
export const normalize = (glob: string): Result.Result<string, string> => {
  if (glob.length === 0) return Result.fail("is empty")
  if (glob.length > maxLength) return Result.fail(`is ${glob.length} characters long; at most ${maxLength}`)
  // oxlint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f]/.exec(glob)
  if (control !== null) return Result.fail(`contains the control character U+${hex(control[0])}`)
  if (glob.includes("\\"))
    return Result.fail("contains a backslash: write paths with /, there are no escapes")
  if (glob.startsWith("/"))
    return Result.fail("is an absolute path: owned paths are relative to the repository root")
  if (/^[A-Za-z]:/.test(glob)) return Result.fail("looks like a Windows absolute path")
  if (glob === "~" || glob.startsWith("~/"))
    return Result.fail(`starts with "~": owned paths are relative to the repository root`)
  const segments = glob.split("/")
  if (segments.includes("..")) return Result.fail('has a ".." segment: it leaves the repository')
  const normalized = segments.filter((segment) => segment !== "" && segment !== ".").join("/")
  if (normalized === "") return Result.fail('names the repository root itself: own "**" to own everything')
  const compiled = parse(normalized)
  if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
  const git = gitDirAlternative(compiled.success)
  if (git !== undefined) return Result.fail(`reaches into the git directory (${git}): it cannot be owned`)
  return Result.succeed(normalized)
}

const hex = (char: string): string => char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")

// -----------------------------------------------------------------------------
// matching
// -----------------------------------------------------------------------------

const tokenAccepts = (token: Token, code: number): boolean => {
  if (code === SLASH) return false
  switch (token._tag) {
    case "char":
      return token.code === code
    case "any":
    case "star":
      return true
    case "class": {
      const inside = token.ranges.some(([lo, hi]) => code >= lo && code <= hi)
      return inside !== token.negated
    }
  }
}

// Both matchers below run the automaton with one boolean per position: linear in the input, no backtracking,
// so no glob (`*a*a*a*a*b`) can make a long path slow.

const segmentMatches = (tokens: ReadonlyArray<Token>, segment: ReadonlyArray<number>): boolean => {
  const n = tokens.length
  // at[i]: tokens[0..i) can match the prefix read so far.
  let at = new Uint8Array(n + 1)
  let next = new Uint8Array(n + 1)
  at[0] = 1
  for (let i = 0; i < n && at[i] === 1 && tokens[i]._tag === "star"; i++) at[i + 1] = 1
  for (const code of segment) {
    next.fill(0)
    let any = false
    for (let i = 0; i < n; i++) {
      if (at[i] === 0 || !tokenAccepts(tokens[i], code)) continue
      next[tokens[i]._tag === "star" ? i : i + 1] = 1
      any = true
    }
    if (!any) return false
    for (let i = 0; i < n; i++) if (next[i] === 1 && tokens[i]._tag === "star") next[i + 1] = 1
    ;[at, next] = [next, at]
  }
  return at[n] === 1
}

const alternativeMatches = (
  segments: ReadonlyArray<Segment>,
  path: ReadonlyArray<ReadonlyArray<number>>
): boolean => {
  const n = segments.length
  let at = new Uint8Array(n + 1)
  let next = new Uint8Array(n + 1)
  at[0] = 1
  for (let p = 0; p < n && at[p] === 1 && segments[p]._tag === "globstar"; p++) at[p + 1] = 1
  for (const part of path) {
    next.fill(0)
    let any = false
    for (let p = 0; p < n; p++) {
      if (at[p] === 0) continue
      const segment = segments[p]
      if (segment._tag === "globstar") next[p] = 1
      else if (segmentMatches(segment.tokens, part)) next[p + 1] = 1
      else continue
      any = true
    }
    if (!any) return false
    for (let p = 0; p < n; p++) if (next[p] === 1 && segments[p]._tag === "globstar") next[p + 1] = 1
    ;[at, next] = [next, at]
  }
  return at[n] === 1
}

/** Whether a repository-relative path (`src/a.ts`, no leading `./`) matches. */
export const matches = (compiled: Compiled, path: string): boolean => {
  if (path === "") return false
  const parts = path.split("/")
  if (parts.some((part) => part === "")) return false
  const coded = parts.map(codePoints)
  return compiled.alternatives.some((segments) => alternativeMatches(segments, coded))
}

// -----------------------------------------------------------------------------
// intersection
// -----------------------------------------------------------------------------

const boundaries = (token: Token): Array<number> => {
  switch (token._tag) {
    case "char":
      return [token.code]
    case "class":
      return token.ranges.flatMap(([lo, hi]) => [lo, hi + 1])
    default:
      return []
  }
}

const usable = (code: number) =>
  code > 0 && code <= 0x10ffff && code !== SLASH && (code < 0xd800 || code > 0xdfff)

/**
 * A character both tokens accept, or undefined. Trying a few candidates is enough: the characters both accept
 * form runs, and the first usable character of a run is a class range's low end, one past a range's high end,
 * a literal, or one past an unusable character (NUL, `/`, the surrogates); or, when neither token lists a
 * character, `a`.
 */
const pick = (a: Token, b: Token): number | undefined => {
  const candidates = [...boundaries(a), ...boundaries(b), 1, SLASH + 1, 97, 0xe000]
  for (const code of candidates)
    if (usable(code) && tokenAccepts(a, code) && tokenAccepts(b, code)) return code
  return undefined
}

/** A non-empty segment both token lists match, or undefined: breadth-first over the product automaton. */
const segmentWitness = (a: ReadonlyArray<Token>, b: ReadonlyArray<Token>): string | undefined => {
  type State = { readonly i: number; readonly j: number; readonly some: boolean }
  const key = (s: State) => `${s.i},${s.j},${s.some ? 1 : 0}`
  const parent = new Map<string, { readonly from: State; readonly code: number | undefined }>()
  const start: State = { i: 0, j: 0, some: false }
  parent.set(key(start), { from: start, code: undefined })
  const queue: Array<State> = [start]
  while (queue.length > 0) {
    const state = queue.shift()!
    if (state.i === a.length && state.j === b.length && state.some) {
      const codes: Array<number> = []
      for (let s = state; key(s) !== key(start);) {
        const step = parent.get(key(s))!
        if (step.code !== undefined) codes.push(step.code)
        s = step.from
      }
      return String.fromCodePoint(...codes.toReversed())
    }
    const visit = (next: State, code: number | undefined) => {
      if (parent.has(key(next))) return
      parent.set(key(next), { from: state, code })
      queue.push(next)
    }
    const ta = a[state.i]
    const tb = b[state.j]
    if (ta?._tag === "star") visit({ ...state, i: state.i + 1 }, undefined)
    if (tb?._tag === "star") visit({ ...state, j: state.j + 1 }, undefined)
    if (ta !== undefined && tb !== undefined) {
      const code = pick(ta, tb)
      if (code !== undefined) {
        visit(
          {
            i: ta._tag === "star" ? state.i : state.i + 1,
            j: tb._tag === "star" ? state.j : state.j + 1,
            some: true
          },
          code
        )
      }
    }
  }
  return undefined
}

const alternativesWitness = (a: ReadonlyArray<Segment>, b: ReadonlyArray<Segment>): string | undefined => {
  type State = { readonly p: number; readonly q: number; readonly some: boolean }
  const key = (s: State) => `${s.p},${s.q},${s.some ? 1 : 0}`
  const parent = new Map<string, { readonly from: State; readonly segment: string | undefined }>()
  const start: State = { p: 0, q: 0, some: false }
  parent.set(key(start), { from: start, segment: undefined })
  const queue: Array<State> = [start]
  const segmentCache = new Map<string, string | undefined>()
  const both = (p: number, q: number, ta: ReadonlyArray<Token>, tb: ReadonlyArray<Token>) => {
    const k = `${p},${q}`
    if (!segmentCache.has(k)) segmentCache.set(k, segmentWitness(ta, tb))
    return segmentCache.get(k)
  }
  while (queue.length > 0) {
    const state = queue.shift()!
    if (state.p === a.length && state.q === b.length && state.some) {
      const parts: Array<string> = []
      for (let s = state; key(s) !== key(start);) {
        const step = parent.get(key(s))!
        if (step.segment !== undefined) parts.push(step.segment)
        s = step.from
      }
      return parts.toReversed().join("/")
    }
    const visit = (next: State, segment: string | undefined) => {
      if (parent.has(key(next))) return
      parent.set(key(next), { from: state, segment })
      queue.push(next)
    }
    const sa = a[state.p]
    const sb = b[state.q]
    if (sa?._tag === "globstar") visit({ ...state, p: state.p + 1 }, undefined)
    if (sb?._tag === "globstar") visit({ ...state, q: state.q + 1 }, undefined)
    if (sa === undefined || sb === undefined) continue
    const ta = sa._tag === "globstar" ? starSegment : sa.tokens
    const tb = sb._tag === "globstar" ? starSegment : sb.tokens
    const segment = both(sa._tag === "globstar" ? -1 : state.p, sb._tag === "globstar" ? -1 : state.q, ta, tb)
    if (segment === undefined) continue
    visit(
      {
        p: sa._tag === "globstar" ? state.p : state.p + 1,
        q: sb._tag === "globstar" ? state.q : state.q + 1,
        some: true
      },
      segment
    )
  }
  return undefined
}

/** A path both globs match, or undefined when there is none. */
export const witness = (a: Compiled, b: Compiled): string | undefined => {
  for (const sa of a.alternatives) {
    for (const sb of b.alternatives) {
      const path = alternativesWitness(sa, sb)
      if (path !== undefined) return path
    }
  }
  return undefined
}

const cache = new Map<string, Compiled | undefined>()

/** `parse`, cached (bounded), `undefined` for a glob that does not parse. */
export const compile = (glob: string): Compiled | undefined => {
  if (cache.has(glob)) return cache.get(glob)
  const parsed = parse(glob)
  const compiled = Result.isSuccess(parsed) ? parsed.success : undefined
  if (cache.size >= 4096) cache.clear()
  cache.set(glob, compiled)
  return compiled
}
