/**
 * A small property runner on Effect's `Arbitrary`: check that a property holds for generated inputs, and when it
 * does not, get back the (shrunk) input that breaks it and a replay token that reproduces that exact failure.
 *
 * **When to use**
 *
 * To prove a topology or a primitive correct over random inputs (sizes, interleavings, crash points) and, above
 * all, to prove that a check catches a bug: run it against a planted bug and assert that `counterexample`
 * finds one, then replay the token and assert that the failure comes back on the first run.
 *
 * **Details**
 *
 * Built on `Arbitrary.checkEffect`: checking is deterministic for a given `seed`, the first falsification is
 * shrunk, and a replay token re-runs exactly that case and its shrink path. A property returns `true` or
 * nothing to pass, `false` to fail, or fails its Effect (the error is kept in the result). For the replay to
 * reproduce the failure, the property must decide from its input alone: encode schedules (how many times
 * each fiber yields) in the input rather than reading the clock or `Math.random`.
 *
 * @since 0.1.0
 */
import { Arbitrary, Effect, Option, Schema } from "effect"
import * as options_ from "@handoffkit/core/internal/options"

/**
 * What a property returns: `true` or nothing passes, `false` fails.
 *
 * **Example**
 *
 * ```ts
 * import { Check } from "@handoffkit/testing"
 *
 * const outcome: Check.Outcome = undefined // passes
 * console.log(outcome === undefined) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome = boolean | void

/**
 * Options of `property` and `counterexample`.
 *
 * **Details**
 *
 * `runs` (default 100) is how many inputs are tried, `seed` fixes the generated sequence, `replay` re-runs one
 * recorded failure (the other options are then ignored), `maxShrinks` bounds the shrink search.
 *
 * **Example**
 *
 * ```ts
 * import { Check } from "@handoffkit/testing"
 *
 * const options: Check.Options = { runs: 200, seed: 42 }
 * console.log(options.runs) // 200
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly runs?: number | undefined
  readonly seed?: string | number | undefined
  readonly replay?: string | undefined
  readonly maxShrinks?: number | undefined
}

/**
 * A falsified property: the input that first broke it, the smallest one shrinking found, why it failed, the
 * number of runs up to the failure, and the replay token.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect, Option } from "effect"
 * import { Check } from "@handoffkit/testing"
 *
 * const program = Check.counterexample(Arbitrary.array(Arbitrary.Constant(1)), (xs) => xs.length < 3)
 * Effect.runPromise(program).then((found) => {
 *   const counter: Check.Counterexample<Array<number>, never> = Option.getOrThrow(found)
 *   console.log(counter.input) // [1, 1, 1]
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Counterexample<A, E> {
  readonly input: A
  readonly initialInput: A
  readonly failure: Arbitrary.PropertyFailure<E>
  readonly runs: number
  readonly shrinks: number
  readonly replay: Arbitrary.Replay
  readonly message: string
}

/**
 * Checks `predicate` on inputs drawn from `arbitrary` and returns Effect's `CheckResult`.
 *
 * **When to use**
 *
 * When you need the whole result (passed, falsified, exhausted, or a replay that no longer reproduces); for
 * the usual questions use `counterexample` or `assert`.
 *
 * **Details**
 *
 * A predicate returning nothing counts as `true`. Never fails: a typed failure of the predicate is a
 * falsification kept in the result; defects and interruption pass through.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect, Schema } from "effect"
 * import { Check } from "@handoffkit/testing"
 *
 * const program = Check.property(Arbitrary.schema(Schema.Int), (n) => n + 0 === n, { runs: 50 })
 * Effect.runPromise(program).then((result) => console.log(result._tag)) // "Passed"
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const property = <A, E = never, R = never>(
  arbitrary: Arbitrary.Arbitrary<A>,
  predicate: (input: A) => Outcome | Effect.Effect<Outcome, E, R>,
  options?: Options
): Effect.Effect<Arbitrary.CheckResult<A, E>, never, R> =>
  Arbitrary.checkEffect(
    arbitrary,
    (input) => {
      const outcome = predicate(input)
      return Effect.isEffect(outcome) ? Effect.map(outcome, (ok) => ok !== false) : outcome !== false
    },
    {
      runs: options?.runs ?? 100,
      seed: options?.seed,
      replay: options?.replay,
      maxShrinks: options?.maxShrinks
    }
  )

/**
 * Checks like `property` and returns the counterexample when the property is falsified, `None` otherwise.
 *
 * **When to use**
 *
 * To assert that a check catches a bug: the counterexample carries the replay token to feed back through
 * `options.replay`.
 *
 * **Details**
 *
 * `None` covers every result that is not a falsification (passed, exhausted, replay mismatch). `message` is
 * Effect's `formatCheckFailure` text: the shrunk input, the failure and `Replay: <token>`.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect, Option, Schema } from "effect"
 * import { Check } from "@handoffkit/testing"
 *
 * const ints = Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 })))
 * const program = Effect.gen(function*() {
 *   const found = Option.getOrThrow(yield* Check.counterexample(ints, (n) => n < 50, { seed: 1 }))
 *   const again = yield* Check.counterexample(ints, (n) => n < 50, { replay: found.replay })
 *   return [found.input, Option.getOrThrow(again).runs]
 * })
 * Effect.runPromise(program).then(console.log) // [50, 1]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const counterexample = <A, E = never, R = never>(
  arbitrary: Arbitrary.Arbitrary<A>,
  predicate: (input: A) => Outcome | Effect.Effect<Outcome, E, R>,
  options?: Options
): Effect.Effect<Option.Option<Counterexample<A, E>>, never, R> =>
  Effect.map(property(arbitrary, predicate, options), (result) =>
    result._tag === "Falsified"
      ? Option.some({
          input: result.shrunkInput,
          initialInput: result.initialInput,
          failure: result.failure,
          runs: result.runs,
          shrinks: result.shrinks,
          replay: result.replay,
          message: Arbitrary.formatCheckFailure(result) ?? ""
        })
      : Option.none()
  )

/**
 * A property did not pass: `message` is Effect's report (shrunk input, failure, replay token or seed).
 *
 * **Example**
 *
 * ```ts
 * import { Check } from "@handoffkit/testing"
 *
 * const error = new Check.PropertyFailed({ result: "Falsified", report: "Property falsified after 1 run(s)" })
 * console.log(error.message) // "Falsified: Property falsified after 1 run(s)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class PropertyFailed extends Schema.TaggedError<PropertyFailed>()("PropertyFailed", {
  result: Schema.String,
  report: Schema.String
}) {
  override get message() {
    return `${this.result}: ${this.report}`
  }
}

/**
 * Checks like `property` and fails with `PropertyFailed` unless every run passed.
 *
 * **When to use**
 *
 * As the body of a test that a property holds (the control of a planted bug, say): the failure message
 * carries the replay token.
 *
 * **Details**
 *
 * Succeeds with the number of runs. Exhaustion and a replay mismatch fail too, with their own report.
 *
 * **Example**
 *
 * ```ts
 * import { Arbitrary, Effect, Schema } from "effect"
 * import { Check } from "@handoffkit/testing"
 *
 * const program = Check.assert(Arbitrary.schema(Schema.Boolean), (b) => b || !b, { runs: 20 })
 * Effect.runPromise(program).then(console.log) // 20
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const assert = <A, E = never, R = never>(
  arbitrary: Arbitrary.Arbitrary<A>,
  predicate: (input: A) => Outcome | Effect.Effect<Outcome, E, R>,
  options?: Options
): Effect.Effect<number, PropertyFailed, R> =>
  Effect.flatMap(property(arbitrary, predicate, options), (result) =>
    result._tag === "Passed"
      ? Effect.succeed(result.runs)
      : Effect.fail(
          new PropertyFailed({ result: result._tag, report: Arbitrary.formatCheckFailure(result) ?? "" })
        )
  )

/**
 * Options of {@link propOptions} that would make no property test: a number of runs or a timeout that is
 * not a positive number (NaN runs would run nothing, and a property that runs nothing cannot fail).
 *
 * **When to use**
 *
 * It is thrown when the test file is loaded, so the mistake shows as a failing file, not as a green one.
 *
 * **Example**
 *
 * ```ts
 * import { Check } from "@handoffkit/testing"
 *
 * try {
 *   Check.propOptions({ runs: NaN })
 * } catch (error) {
 *   console.log((error as Check.CheckInvalid).option) // "runs"
 * }
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class CheckInvalid extends Schema.TaggedError<CheckInvalid>()("CheckInvalid", {
  option: Schema.String,
  value: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `invalid property option "${this.option}" (${this.value}): ${this.problem}`
  }
}

const PropOptionsSchema = Schema.UndefinedOr(
  Schema.Struct({
    runs: Schema.optionalKey(Schema.UndefinedOr(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))),
    timeout: Schema.optionalKey(
      Schema.UndefinedOr(
        Schema.Finite.check(Schema.isGreaterThan(0)).annotate({
          expected: "a positive number of milliseconds"
        })
      )
    )
  })
)

/**
 * The options of a property test: at least `runs` runs (200 by default), a timeout, and the seed or replay
 * token from the environment, in the shape `it.effect.prop` takes as its fourth argument.
 *
 * **When to use**
 *
 * For every property test of a project, so that one environment variable replays any failure:
 * `it.effect.prop(name, inputs, body, Check.propOptions())`. `propOptions().arbitrary` also fits `Check.assert`.
 *
 * **Details**
 *
 * A failing property prints `Replay: [...]`. Re-run exactly that case with
 * `HANDOFFKIT_REPLAY='[...]' npx vitest run <file> -t '<test name>'`, explore other inputs with
 * `HANDOFFKIT_SEED=<n>`, and raise the number of runs with `HANDOFFKIT_RUNS=<n>` (it never goes below
 * `runs`). The timeout defaults to 60 seconds. Outside Node (no `process.env`) only the defaults apply.
 *
 * **Example**
 *
 * ```ts
 * import { Check } from "@handoffkit/testing"
 *
 * const options = Check.propOptions({ runs: 300 })
 * console.log(options.arbitrary.runs >= 300, options.timeout) // true 60000
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const propOptions = (options?: {
  readonly runs?: number | undefined
  readonly timeout?: number | undefined
}): {
  readonly timeout: number
  readonly arbitrary: { readonly runs: number; readonly seed?: string; readonly replay?: string }
} => {
  const refused = options_.check(PropOptionsSchema, options)
  if (refused !== undefined) throw new CheckInvalid(refused)
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}
  const runs = Math.max(options?.runs ?? 200, Number(env.HANDOFFKIT_RUNS ?? 0) || 0)
  const seed = env.HANDOFFKIT_SEED
  const replay = env.HANDOFFKIT_REPLAY
  return {
    timeout: options?.timeout ?? 60_000,
    arbitrary: {
      runs,
      ...(seed !== undefined && seed !== "" ? { seed } : {}),
      ...(replay !== undefined && replay !== "" ? { replay } : {})
    }
  }
}
