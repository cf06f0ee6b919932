/**
 * UTF-8 accounting and cutting for the strategies that do not go through the Compactor.
 * @internal
 */

/** The UTF-8 bytes of `JSON.stringify(value)`. @internal */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), "utf8")

/** The bytes one code point takes inside a JSON string literal. */
const cost = (char: string): number => {
  const c = char.charCodeAt(0)
  return c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c ? 1 : jsonBytes(char) - 2
}

/** The longest prefix of `text` whose JSON string body fits in `maxBytes` (whole code points). @internal */
export const head = (text: string, maxBytes: number): string => {
  let used = 0
  let end = 0
  for (const char of text) {
    const c = cost(char)
    if (used + c > maxBytes) break
    used += c
    end += char.length
  }
  return text.slice(0, end)
}

/** The longest suffix of `text` whose JSON string body fits in `maxBytes` (whole code points). @internal */
export const tail = (text: string, maxBytes: number): string => {
  const chars = Array.from(text)
  let used = 0
  let start = chars.length
  while (start > 0) {
    const c = cost(chars[start - 1])
    if (used + c > maxBytes) break
    used += c
    start--
  }
  return chars.slice(start).join("")
}
