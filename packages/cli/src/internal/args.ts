/**
 * What the commands share: the two ways a command can fail (the invocation was wrong, or the work failed),
 * and turning a flag's text into an argv without ever handing it to a shell.
 * @internal
 */
import { Effect, Schema } from "effect"

/** The invocation is wrong: a flag's value, a file, the state of the repository. Exit code 2. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/** The work itself failed (a task not merged, a reviewer that failed, a failed check). Exit code 1. */
export class WorkFailed extends Schema.TaggedError<WorkFailed>()("WorkFailed", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

// Characters a shell would interpret: a plain-words value holding one of them is refused, so nobody is
// surprised that `--gate "npm test && lint"` did not run `lint`.
const shellish = /[;&|<>`$(){}[\]*?~!#'"\\]/

/**
 * A command given on the command line as an argv: a JSON array of strings (`["node","fix.mjs"]`) or plain
 * words separated by spaces (`npm test`). Never run through a shell: a value with shell characters in plain
 * words is refused with the JSON form as the hint.
 */
export const argvOf = (flag: string, text: string): Effect.Effect<ReadonlyArray<string>, UsageError> => {
  const trimmed = text.trim()
  const bad = (reason: string) => Effect.fail(new UsageError({ reason: `--${flag}: ${reason}` }))
  if (trimmed.startsWith("[")) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      return bad(`${JSON.stringify(text)} is not a JSON array of strings`)
    }
    if (!Array.isArray(parsed) || parsed.length === 0)
      return bad("expected a non-empty JSON array of strings")
    if (!parsed.every((arg): arg is string => typeof arg === "string" && arg.length > 0)) {
      return bad("every element of the JSON array must be a non-empty string")
    }
    return Effect.succeed(parsed)
  }
  if (trimmed === "") return bad("is empty")
  const char = shellish.exec(trimmed)?.[0]
  if (char !== undefined) {
    return bad(
      `${JSON.stringify(text)} holds ${JSON.stringify(char)}, which only a shell would understand, and no shell is used: give the argv as JSON, e.g. ["sh","-c","..."] if you do want a shell`
    )
  }
  return Effect.succeed(trimmed.split(/\s+/))
}

/** A whole number flag that must be at least `min`. */
export const atLeast = (flag: string, value: number, min: number): Effect.Effect<number, UsageError> =>
  Number.isInteger(value) && value >= min
    ? Effect.succeed(value)
    : Effect.fail(new UsageError({ reason: `--${flag}: must be a whole number >= ${min}, got ${value}` }))
