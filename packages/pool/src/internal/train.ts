/**
 * The merge train's pure parts: batch sizing and the bisection that finds the first red prefix of a stack.
 * The effectful train (stacking with `git merge-tree`, gating, moving the base) lives in `internal/pool.ts`.
 * @internal
 */
import { Effect } from "effect"

/** How the train sizes its batches: serial is a fixed batch of one. */
export interface Sizing {
  readonly initial: number
  readonly min: number
  readonly max: number
}

export const serial: Sizing = { initial: 1, min: 1, max: 1 }

/** Grow on green (double, up to max), shrink on red (halve, down to min), like Zuul's window. */
export const next = (sizing: Sizing, size: number, green: boolean): number =>
  green ? Math.min(sizing.max, Math.max(size * 2, sizing.min)) : Math.max(sizing.min, Math.floor(size / 2))

/**
 * The index of the first red prefix. `isGreen(i)` gates the stack's tip after entry `i`; the tip after the
 * last entry is known red, and the base (before entry 0) is known green. Binary search: a prefix is green
 * when every prefix before it is (the stack only adds to a green base), so the first red one is found in
 * about log2(n) gate runs; the prefix just before it was gated green (or is the base).
 */
export const firstRed = <E, R>(
  length: number,
  isGreen: (index: number) => Effect.Effect<boolean, E, R>
): Effect.Effect<number, E, R> =>
  Effect.gen(function* () {
    let lo = 0
    let hi = length - 1
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2)
      if (yield* isGreen(mid)) lo = mid + 1
      else hi = mid
    }
    return lo
  })
