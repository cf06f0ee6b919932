/**
 * The compactor machinery: exact byte accounting of a `HandoffContext`'s JSON, truncation that respects it,
 * the extractive summarizer, and the entries stored in the Corpus.
 *
 * The bound is kept by arithmetic that is exact, not estimated: `JSON.stringify` of a context is
 * `{"summary":S,"refs":R,"thread":T}` (plus `,"budget":B`), so its UTF-8 size is the size of the empty shell
 * plus the sizes of what goes between the quotes and brackets. Every ref of one namespace has the same
 * length, a thread item's size is the size of its own JSON, and `jsonStringBytes` counts a string's JSON
 * escaping code point by code point. `compact` still measures the result and dies if it is over: a bug must
 * fail loudly, never hand over an oversized context.
 * @internal
 */
import type { Item } from "../Compactor.ts"

/** UTF-8 bytes of a string, as `TextEncoder` encodes it (a lone surrogate becomes U+FFFD: 3 bytes). @internal */
export const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/** The UTF-8 size of `JSON.stringify(value)`. @internal */
export const jsonBytes = (value: unknown): number => utf8Length(JSON.stringify(value))

/** The UTF-8 bytes one code point takes inside a JSON string literal (after `JSON.stringify`'s escaping). */
const codePointBytes = (cp: number): number => {
  if (cp === 0x22 || cp === 0x5c) return 2 // \" \\
  if (cp < 0x20) return cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d ? 2 : 6
  if (cp < 0x80) return 1
  if (cp < 0x800) return 2
  if (cp >= 0xd800 && cp <= 0xdfff) return 6 // a lone surrogate is escaped as \udxxx
  if (cp < 0x10000) return 3
  return 4
}

/**
 * The UTF-8 bytes of `JSON.stringify(text)` without its two quotes, counted without building the JSON
 * (the compactor sizes every item, and items can be large). @internal
 */
export const jsonStringBytes = (text: string): number => {
  let bytes = 0
  const length = text.length
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4
        i++
        continue
      }
    }
    bytes += codePointBytes(c)
  }
  return bytes
}

/** The UTF-8 bytes of `JSON.stringify({ from, text })`: `{"from":"","text":""}` is 21 bytes. @internal */
export const itemBytes = (item: Item): number => 21 + jsonStringBytes(item.from) + jsonStringBytes(item.text)

const ellipsis = "…"
const ellipsisBytes = 3

/**
 * The longest prefix of `text` (whole code points) whose JSON string body fits in `maxBytes`, ending with
 * "…" when something was cut and there is room for it. @internal
 */
export const truncate = (text: string, maxBytes: number): string => {
  if (maxBytes <= 0) return ""
  if (jsonStringBytes(text) <= maxBytes) return text
  const budget = maxBytes >= ellipsisBytes ? maxBytes - ellipsisBytes : maxBytes
  let used = 0
  let end = 0
  for (const char of text) {
    const cost = codePointBytes(char.codePointAt(0)!)
    if (used + cost > budget) break
    used += cost
    end += char.length
  }
  return maxBytes >= ellipsisBytes ? text.slice(0, end) + ellipsis : text.slice(0, end)
}

const sentenceEnd = /[.!?。！？](?=\s|$)/

/** The first sentence of a text, whitespace collapsed (looking at its first 2,000 characters only). @internal */
export const firstSentence = (text: string): string => {
  const head = text.slice(0, 2_000).replace(/\s+/g, " ").trim()
  const match = sentenceEnd.exec(head)
  return match === null ? head : head.slice(0, match.index + 1)
}

/**
 * One line per item, `from: first sentence`, each cut to an equal share of `maxBytes` (at least 24 bytes,
 * at most 240), so that a long first item does not crowd out the others. When not every line fits, the
 * lines that do are followed by `(+N more)`, so a reader knows the refs hold more. @internal
 */
export const extract = (items: ReadonlyArray<Item>, maxBytes: number, previous = ""): string =>
  extractLines(
    [
      ...(previous === "" ? [] : previous.split("\n")),
      ...items.map((item) => `${item.from}: ${firstSentence(item.text)}`)
    ],
    maxBytes
  )

/** `extract` over ready lines (a previous summary's lines are taken as they are). @internal */
export const extractLines = (all: ReadonlyArray<string>, maxBytes: number): string => {
  if (all.length === 0) return ""
  const newline = 2 // "\n" is 2 bytes inside a JSON string
  const share = Math.floor(maxBytes / all.length) - newline
  const perLine = Math.min(240, Math.max(24, share))
  const lines: Array<string> = []
  let used = 0
  for (let i = 0; i < all.length; i++) {
    const line = truncate(all[i], perLine)
    const cost = jsonStringBytes(line) + (i > 0 ? newline : 0)
    const last = i === all.length - 1
    const tail = last ? 0 : jsonStringBytes(`(+${all.length - i - 1} more)`) + newline
    if (used + cost + tail > maxBytes) {
      lines.push(`(+${all.length - i} more)`)
      break
    }
    lines.push(line)
    used += cost
  }
  return lines.join("\n")
}

// -----------------------------------------------------------------------------
// the ledger: artifact trail, decisions, pending steps
// -----------------------------------------------------------------------------

/** A context's ledger as ordered lists (a record's key order is its insertion order). @internal */
export interface Ledger {
  /** path → operations, oldest first (`A` created, `M` modified, `D` deleted), in order of first touch. */
  readonly artifacts: ReadonlyArray<readonly [string, string]>
  /** what → why, oldest first. */
  readonly decisions: ReadonlyArray<readonly [string, string]>
  readonly pending: ReadonlyArray<string>
}

/** @internal */
export const emptyLedger: Ledger = { artifacts: [], decisions: [], pending: [] }

/** @internal */
export const isEmptyLedger = (ledger: Ledger): boolean =>
  ledger.artifacts.length === 0 && ledger.decisions.length === 0 && ledger.pending.length === 0

/** The ledger a context holds in its fields. @internal */
export const ledgerOf = (context: {
  readonly artifacts?: { readonly [path: string]: string } | undefined
  readonly decisions?: { readonly [what: string]: string } | undefined
  readonly pending?: ReadonlyArray<string> | undefined
}): Ledger => ({
  artifacts: Object.entries(context.artifacts ?? {}),
  decisions: Object.entries(context.decisions ?? {}),
  pending: context.pending ?? []
})

const opLetter = { created: "A", modified: "M", deleted: "D" } as const

/** Adds notes to a ledger: operations append to a path's history, a decision on the same `what` replaces the reason. @internal */
export const note = (
  ledger: Ledger,
  notes: {
    readonly artifacts?:
      ReadonlyArray<{ readonly op: keyof typeof opLetter; readonly path: string }> | undefined
    readonly decisions?: ReadonlyArray<{ readonly what: string; readonly why: string }> | undefined
    readonly pending?: ReadonlyArray<string> | undefined
  }
): Ledger => {
  const artifacts = new Map(ledger.artifacts)
  for (const { op, path } of notes.artifacts ?? [])
    artifacts.set(path, (artifacts.get(path) ?? "") + opLetter[op])
  const decisions = new Map(ledger.decisions)
  for (const { what, why } of notes.decisions ?? []) decisions.set(what, why)
  return {
    artifacts: [...artifacts],
    decisions: [...decisions],
    pending: notes.pending === undefined ? ledger.pending : [...notes.pending]
  }
}

/** Two ledgers one after the other (`later` continues `earlier`). @internal */
export const concat = (earlier: Ledger, later: Ledger): Ledger => {
  const artifacts = new Map(earlier.artifacts)
  for (const [path, ops] of later.artifacts) artifacts.set(path, (artifacts.get(path) ?? "") + ops)
  const decisions = new Map(earlier.decisions)
  for (const [what, why] of later.decisions) decisions.set(what, why)
  return { artifacts: [...artifacts], decisions: [...decisions], pending: later.pending }
}

/** The context fields of a ledger (empty parts left out). `Object.fromEntries` makes own keys of any path. @internal */
export const fieldsOf = (
  ledger: Ledger
): {
  artifacts?: { readonly [path: string]: string }
  decisions?: { readonly [what: string]: string }
  pending?: ReadonlyArray<string>
} => ({
  ...(ledger.artifacts.length > 0 ? { artifacts: Object.fromEntries(ledger.artifacts) } : {}),
  ...(ledger.decisions.length > 0 ? { decisions: Object.fromEntries(ledger.decisions) } : {}),
  ...(ledger.pending.length > 0 ? { pending: [...ledger.pending] } : {})
})

const pairBytes = ([key, value]: readonly [string, string]): number =>
  jsonStringBytes(key) + jsonStringBytes(value) + 5 // "k":"v"

/** The bytes of `,"label":{pairs from `from` on}` (0 when there are none). */
const recordBytes = (label: number, pairs: ReadonlyArray<readonly [string, string]>, from = 0): number => {
  let bytes = 0
  for (let i = from; i < pairs.length; i++) bytes += pairBytes(pairs[i])
  return pairs.length - from <= 0 ? 0 : label + 2 + bytes + pairs.length - from - 1
}

/** The bytes a ledger adds to a context's JSON: `,"artifacts":{…}`, `,"decisions":{…}`, `,"pending":[…]`. @internal */
export const ledgerBytes = (ledger: Ledger): number => {
  const pending =
    ledger.pending.length === 0
      ? 0
      : 11 +
        2 +
        ledger.pending.reduce((sum, step) => sum + jsonStringBytes(step) + 2, 0) +
        ledger.pending.length -
        1
  return recordBytes(13, ledger.artifacts) + recordBytes(13, ledger.decisions) + pending
}

/**
 * The part of a ledger that fits in `maxBytes`, and the rest. Pending steps go first (next first), then the
 * decisions and the artifacts share what is left: the oldest entry of whichever takes more bytes goes out
 * first, so recent work stays in view. @internal
 */
export const fitLedger = (
  ledger: Ledger,
  bound: number
): { readonly kept: Ledger; readonly rest: Ledger } => {
  const maxBytes = Math.max(0, bound)
  if (ledgerBytes(ledger) <= maxBytes) return { kept: ledger, rest: emptyLedger }
  let pending = ledger.pending.length
  const pendingBytes = (count: number) => {
    let bytes = 0
    for (let i = 0; i < count; i++) bytes += jsonStringBytes(ledger.pending[i]) + 2
    return count === 0 ? 0 : 11 + 2 + bytes + count - 1
  }
  while (pending > 0 && pendingBytes(pending) > maxBytes) pending--
  const left = maxBytes - pendingBytes(pending)
  let a = 0 // artifacts dropped from the front
  let d = 0 // decisions dropped from the front
  // Sizes are kept incrementally: each drop removes one pair (and its comma, or the whole field).
  let aBytes = recordBytes(13, ledger.artifacts)
  let dBytes = recordBytes(13, ledger.decisions)
  while (aBytes + dBytes > left) {
    if ((aBytes >= dBytes && a < ledger.artifacts.length) || d >= ledger.decisions.length) {
      a++
      aBytes = a === ledger.artifacts.length ? 0 : aBytes - pairBytes(ledger.artifacts[a - 1]) - 1
    } else {
      d++
      dBytes = d === ledger.decisions.length ? 0 : dBytes - pairBytes(ledger.decisions[d - 1]) - 1
    }
  }
  return {
    kept: {
      artifacts: ledger.artifacts.slice(a),
      decisions: ledger.decisions.slice(d),
      pending: ledger.pending.slice(0, pending)
    },
    rest: {
      artifacts: ledger.artifacts.slice(0, a),
      decisions: ledger.decisions.slice(0, d),
      pending: pending < ledger.pending.length ? ledger.pending : []
    }
  }
}

// -----------------------------------------------------------------------------
// entries in the Corpus
// -----------------------------------------------------------------------------

/** An entry the compactor wrote, decoded; undefined for anything else. @internal */
export const decodeEntry = (
  text: string
):
  | { readonly _tag: "Item"; readonly item: Item }
  | { readonly _tag: "Index"; readonly refs: ReadonlyArray<string> }
  | { readonly _tag: "Ledger"; readonly ledger: Ledger }
  | undefined => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null) return undefined
  const entry = value as Record<string, unknown>
  if (entry._tag === "Item" && typeof entry.from === "string" && typeof entry.text === "string")
    return { _tag: "Item", item: { from: entry.from, text: entry.text } }
  if (
    entry._tag === "Index" &&
    Array.isArray(entry.refs) &&
    entry.refs.every((ref) => typeof ref === "string")
  )
    return { _tag: "Index", refs: entry.refs as ReadonlyArray<string> }
  if (
    entry._tag === "Ledger" &&
    isPairs(entry.artifacts) &&
    isPairs(entry.decisions) &&
    isStrings(entry.pending)
  )
    return {
      _tag: "Ledger",
      ledger: { artifacts: entry.artifacts, decisions: entry.decisions, pending: entry.pending }
    }
  return undefined
}

const isStrings = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((x) => typeof x === "string")

const isPairs = (value: unknown): value is ReadonlyArray<readonly [string, string]> =>
  Array.isArray(value) && value.every((pair) => isStrings(pair) && pair.length === 2)

/**
 * The stored form of the ledger entries a bound left out. Its `pending` is the whole list when some steps
 * did not fit (the context holds its first ones), empty otherwise. @internal
 */
export const encodeLedger = (ledger: Ledger): string =>
  JSON.stringify({
    _tag: "Ledger",
    artifacts: ledger.artifacts,
    decisions: ledger.decisions,
    pending: ledger.pending
  })

/** The stored form of an item. JSON escapes lone surrogates, so even those come back byte for byte. @internal */
export const encodeItem = (item: Item): string =>
  JSON.stringify({ _tag: "Item", from: item.from, text: item.text })

/** @internal */
export const encodeIndex = (refs: ReadonlyArray<string>): string => JSON.stringify({ _tag: "Index", refs })

/**
 * Index entries may point at index entries: `append` indexes the refs it carries, so a chain of handoffs
 * nests one level a hop. Entries are content-addressed (no cycles); the limit only bounds a hostile Corpus. @internal
 */
export const maxIndexDepth = 10_000
