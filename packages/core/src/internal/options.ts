/**
 * Options checked at the door. Every public constructor and operation of the core decodes the options it was
 * given with one Schema per options type before it does anything, so a value a user's config, an untyped caller
 * or a model's tool call can produce (NaN, ±Infinity, a negative or fractional count, a string where a number is
 * meant, an unknown literal, an empty name, an unparseable duration) is refused with the module's typed error
 * naming the option and the value, never taken as a silent default, a hang or a defect.
 *
 * @internal
 */
import { Duration, Option, Predicate, Schema, SchemaIssue } from "effect"

/** What is wrong with one option: its path (`intensity.maxRestarts`), the value as shown, and why. @internal */
export interface Problem {
  readonly option: string
  readonly value: string
  /** `Expected <what was expected>`. */
  readonly problem: string
}

/** What was expected, from a problem: `a positive integer` from `Expected a positive integer`. @internal */
export const expected = (problem: Problem): string => problem.problem.replace(/^Expected /, "")

/** Shows a value in an error message: strings quoted, numbers as JavaScript prints them (`NaN`, `-Infinity`). */
export const show = (value: unknown): string => {
  if (typeof value === "string") {
    const text = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
    return text
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value)
  if (value === undefined) return "undefined"
  if (value === null) return "null"
  if (typeof value === "function") return "a function"
  if (typeof value === "symbol") return String(value)
  if (Duration.isDuration(value)) return `Duration(${Duration.format(value)})`
  try {
    const text = JSON.stringify(value)
    if (text === undefined) return Object.prototype.toString.call(value)
    return text.length > 80 ? `${text.slice(0, 80)}…` : text
  } catch {
    return Object.prototype.toString.call(value)
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const at = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let value = input
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/**
 * Checks `input` against `schema`; `undefined` when it is valid, else the first problem, its option named by
 * its path under `prefix`. @internal
 */
export const check = (schema: Schema.Top, input: unknown, prefix?: string): Problem | undefined => {
  const result = Schema.decodeUnknownExit(schema as Schema.Decoder<unknown>)(input)
  if (result._tag === "Success") return undefined
  const error = result.cause.reasons.find((r) => r._tag === "Fail")
  const issue = error?._tag === "Fail" ? (error.error as { readonly issue?: unknown }).issue : undefined
  if (!SchemaIssue.isIssue(issue))
    return { option: prefix ?? "options", value: show(input), problem: "invalid" }
  const first = formatter(issue).issues[0]
  const path = (first?.path ?? []).map((p): PropertyKey => (typeof p === "object" ? p.key : p))
  const option = [prefix, ...path.map(String)].filter((s) => s !== undefined && s !== "").join(".")
  const value = at(input, path)
  return {
    option: option === "" ? "options" : option,
    value: show(value),
    problem: (first?.message ?? "invalid").replace(/, got .*$/s, "").replace(/ \| undefined$/, "")
  }
}

// -----------------------------------------------------------------------------
// Field schemas shared by the options types
// -----------------------------------------------------------------------------

/** A count: a non-negative integer. @internal */
export const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
  expected: "a non-negative integer"
})

/** A positive integer. @internal */
export const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
  expected: "a positive integer"
})

/** A cap: a non-negative integer or `Infinity` (no cap). @internal */
export const CountOrInfinity = Schema.Number.check(
  Schema.makeFilter((n: number) => n === Number.POSITIVE_INFINITY || (Number.isSafeInteger(n) && n >= 0), {
    expected: "a non-negative integer or Infinity"
  })
)

/** A positive cap: a positive integer or `Infinity`. @internal */
export const PositiveIntOrInfinity = Schema.Number.check(
  Schema.makeFilter((n: number) => n === Number.POSITIVE_INFINITY || (Number.isSafeInteger(n) && n >= 1), {
    expected: "a positive integer or Infinity"
  })
)

/** A name: a non-empty string that is not only blanks. @internal */
export const Name = Schema.String.check(
  Schema.makeFilter((s: string) => s.trim().length > 0, { expected: "a non-empty name" })
)

const durationMillis = (u: unknown): number | undefined => {
  if (u === undefined || u === null || typeof u === "boolean" || typeof u === "symbol") return undefined
  if (typeof u === "function") return undefined
  const d = Duration.fromInput(u as Duration.Input)
  if (Option.isNone(d)) return undefined
  const millis = Duration.toMillis(d.value)
  return Number.isNaN(millis) ? undefined : millis
}

/** A duration input (`"5 seconds"`, millis, a `Duration`) that parses to a non-negative duration. @internal */
export const DurationInput: Schema.Schema<Duration.Input> = Schema.declare(
  (u: unknown): u is Duration.Input => {
    const millis = durationMillis(u)
    return millis !== undefined && millis >= 0
  },
  { expected: 'a non-negative duration (like "5 seconds", a number of millis or a Duration)' }
)

/** A duration input that parses to a positive duration (`Infinity` allowed). @internal */
export const PositiveDurationInput: Schema.Schema<Duration.Input> = Schema.declare(
  (u: unknown): u is Duration.Input => {
    const millis = durationMillis(u)
    return millis !== undefined && millis > 0
  },
  { expected: 'a positive duration (like "5 seconds", a number of millis or a Duration)' }
)

/** A duration input that parses to a positive, finite duration (a timeout that must end). @internal */
export const FinitePositiveDurationInput: Schema.Schema<Duration.Input> = Schema.declare(
  (u: unknown): u is Duration.Input => {
    const millis = durationMillis(u)
    return millis !== undefined && millis > 0 && Number.isFinite(millis)
  },
  { expected: 'a positive, finite duration (like "30 seconds", a number of millis or a Duration)' }
)

/** A duration input that parses to a finite duration, zero or more. @internal */
export const FiniteDurationInput: Schema.Schema<Duration.Input> = Schema.declare(
  (u: unknown): u is Duration.Input => {
    const millis = durationMillis(u)
    return millis !== undefined && millis >= 0 && Number.isFinite(millis)
  },
  { expected: 'a finite duration, zero or more (like "1 minute", a number of millis or a Duration)' }
)

/** Any function (callbacks in options). @internal */
export const Fn: Schema.Schema<(...args: ReadonlyArray<any>) => unknown> = Schema.declare(
  (u: unknown): u is (...args: ReadonlyArray<any>) => unknown => Predicate.isFunction(u),
  { expected: "a function" }
)

/** An object with a given brand (a `Nursery`, a `Budget`), checked by its type id. @internal */
export const Branded = <A>(typeId: PropertyKey, expected: string): Schema.Schema<A> =>
  Schema.declare((u: unknown): u is A => Predicate.hasProperty(u, typeId), { expected })

/** `undefined` allowed as well as absence, as the options interfaces say (`?: X | undefined`). @internal */
export const optional = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.UndefinedOr(schema))
