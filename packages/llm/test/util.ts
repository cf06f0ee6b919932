import { assert } from "@effect/vitest"
import { Effect } from "effect"

/** Waits in real time: the HTTP exchanges and processes of these tests are real even under a TestClock. */
export const realSleep = (ms: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Polls `condition` every 5 ms of real time, failing the test after `tries` polls. */
export const eventually = (condition: () => boolean, what: string, tries = 1000) =>
  Effect.gen(function* () {
    for (let i = 0; i < tries; i++) {
      if (condition()) return
      yield* realSleep(5)
    }
    assert.fail(`timed out waiting for ${what}`)
  })
