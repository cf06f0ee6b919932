/** A small seeded PRNG (mulberry32) returning floats in [0, 1), for deterministic test data. */
export const random = (seed: number) => {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Deterministic text of `length` UTF-16 units: every UTF-8 width, JSON escapes, sentences, and (unless
 * `wellFormed`) lone surrogates. Built as code units in one array, so the string is flat (as real messages
 * are) and cheap to make.
 */
export const textOf = (seed: number, length: number, options?: { readonly wellFormed?: boolean }): string => {
  const wellFormed = options?.wellFormed ?? false
  const next = random(seed)
  const below = (n: number) => Math.floor(next() * n)
  const specials = ['"', "\\", "\n", "\t", "\u0000", "\u001f", "\u007f", "\u2028", ". ", "! "]
  const units: Array<number> = []
  while (units.length < length) {
    const kind = below(12)
    if (kind < 5) units.push(32 + below(95))
    else if (kind === 5) for (const c of specials[below(specials.length)]) units.push(c.charCodeAt(0))
    else if (kind === 6) units.push(0xa0 + below(0x700))
    else if (kind <= 8) units.push(0x4e00 + below(0x5000))
    else if (kind <= 10) {
      const cp = 0x1f300 + below(0x300) - 0x10000
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff))
    } else units.push(wellFormed ? 0xe9 : 0xd800 + below(0x800)) // lone (or accidentally paired) surrogates
  }
  // Cutting at `length` may split a pair (another lone surrogate); well-formed text keeps the whole pair.
  if (!wellFormed) units.length = length
  return String.fromCharCode(...units)
}
