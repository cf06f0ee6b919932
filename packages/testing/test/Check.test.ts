import { assert, describe, it } from "@effect/vitest"
import { Check } from "../src/index.ts"

// `propOptions` reads the environment: each case sets it, reads the options, and restores it.
const set = (values: Record<string, string | undefined>) => {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
}

const withEnv = <A>(env: Record<string, string | undefined>, f: () => A): A => {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]))
  set(env)
  try {
    return f()
  } finally {
    set(saved)
  }
}

const clean = { HANDOFFKIT_RUNS: undefined, HANDOFFKIT_SEED: undefined, HANDOFFKIT_REPLAY: undefined }

describe("Check.propOptions", () => {
  it("defaults to 200 runs and a minute, with no seed and no replay", () => {
    assert.deepStrictEqual(
      withEnv(clean, () => Check.propOptions()),
      { timeout: 60_000, arbitrary: { runs: 200 } }
    )
    assert.deepStrictEqual(
      withEnv(clean, () => Check.propOptions({ runs: 500, timeout: 5_000 })),
      { timeout: 5_000, arbitrary: { runs: 500 } }
    )
  })

  it("takes the seed and the replay token from the environment; HANDOFFKIT_RUNS only raises the runs", () => {
    const env = {
      HANDOFFKIT_RUNS: "1000",
      HANDOFFKIT_SEED: "42",
      HANDOFFKIT_REPLAY: '[0,"1",1,1,[],"ReturnedFalse"]'
    }
    assert.deepStrictEqual(
      withEnv(env, () => Check.propOptions().arbitrary),
      {
        runs: 1000,
        seed: "42",
        replay: env.HANDOFFKIT_REPLAY
      }
    )
    assert.strictEqual(
      withEnv({ ...clean, HANDOFFKIT_RUNS: "10" }, () => Check.propOptions().arbitrary.runs),
      200
    )
    assert.strictEqual(
      withEnv({ ...clean, HANDOFFKIT_RUNS: "many" }, () => Check.propOptions().arbitrary.runs),
      200
    )
    assert.deepStrictEqual(
      withEnv({ ...clean, HANDOFFKIT_SEED: "" }, () => Check.propOptions().arbitrary),
      {
        runs: 200
      }
    )
  })
})

describe("propOptions at the door (issue 18)", () => {
  it("runs or a timeout that is not a positive number is a CheckInvalid naming it, never a property that runs nothing", () => {
    for (const [options, option] of [
      [{ runs: NaN }, "runs"],
      [{ runs: 0 }, "runs"],
      [{ runs: -3 }, "runs"],
      [{ runs: 2.5 }, "runs"],
      [{ runs: "200" }, "runs"],
      [{ timeout: Infinity }, "timeout"],
      [{ timeout: -1 }, "timeout"],
      [{ timeout: NaN }, "timeout"]
    ] as const) {
      let thrown: unknown
      try {
        Check.propOptions(options as never)
      } catch (error) {
        thrown = error
      }
      assert.instanceOf(thrown, Check.CheckInvalid, JSON.stringify(options))
      assert.strictEqual((thrown as Check.CheckInvalid).option, option)
    }
    assert.isAtLeast(Check.propOptions({ runs: 300, timeout: 1000 }).arbitrary.runs, 300)
  })
})
