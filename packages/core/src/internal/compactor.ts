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
export const extract = (items: ReadonlyArray<Item>, maxBytes: number): string => {
  if (items.length === 0) return ""
  const newline = 2 // "\n" is 2 bytes inside a JSON string
  const share = Math.floor(maxBytes / items.length) - newline
  const perLine = Math.min(240, Math.max(24, share))
  const lines: Array<string> = []
  let used = 0
  for (let i = 0; i < items.length; i++) {
    const line = truncate(`${items[i].from}: ${firstSentence(items[i].text)}`, perLine)
    const cost = jsonStringBytes(line) + (i > 0 ? newline : 0)
    const last = i === items.length - 1
    const tail = last ? 0 : jsonStringBytes(`(+${items.length - i - 1} more)`) + newline
    if (used + cost + tail > maxBytes) {
      lines.push(`(+${items.length - i} more)`)
      break
    }
    lines.push(line)
    used += cost
  }
  return lines.join("\n")
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
  return undefined
}

/** The stored form of an item. JSON escapes lone surrogates, so even those come back byte for byte. @internal */
export const encodeItem = (item: Item): string =>
  JSON.stringify({ _tag: "Item", from: item.from, text: item.text })

/** @internal */
export const encodeIndex = (refs: ReadonlyArray<string>): string => JSON.stringify({ _tag: "Index", refs })

/** Index entries may point at index entries; no compactor writes more than one level, so this is plenty. @internal */
export const maxIndexDepth = 8
