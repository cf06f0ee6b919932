/**
 * A seeded generator (mulberry32): the same seed gives the same scenario on every machine and Node version.
 * @internal
 */
export interface Random {
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [0, bound). */
  readonly int: (bound: number) => number
  readonly pick: <A>(choices: ReadonlyArray<A>) => A
}

/** @internal */
export const make = (seed: number): Random => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (bound: number) => Math.floor(next() * bound)
  return { next, int, pick: (choices) => choices[int(choices.length)] }
}
