import { afterAll, assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Schema, Scope } from "effect"
import { Check } from "@handoffkit/testing"
import * as Actor from "../src/Actor.ts"
import * as Broker from "../src/Broker.ts"
import * as Budget from "../src/Budget.ts"
import * as DeadLetter from "../src/DeadLetter.ts"
import * as Join from "../src/Join.ts"
import * as Mailbox from "../src/Mailbox.ts"
import * as Nursery from "../src/Nursery.ts"
import * as Quorum from "../src/Quorum.ts"

// Every public options type of the core, field by field: what a valid value is (an oracle written from the
// docs, independent of the Schemas under test), the options it is tried in, and how the module's typed error
// names the option. A hostile value must give that error naming the field and the value; a valid one must not
// be refused. The list of fields covered is printed, so a new option without coverage shows.

// -----------------------------------------------------------------------------
// What a valid value is, per kind of field
// -----------------------------------------------------------------------------

const isNumber = (v: unknown): v is number => typeof v === "number"
const millisOf = (v: unknown): number | undefined => {
  if (v === null || typeof v === "boolean" || typeof v === "function" || typeof v === "symbol")
    return undefined
  if (v === undefined) return undefined
  const d = Duration.fromInput(v as Duration.Input)
  if (Option.isNone(d)) return undefined
  const millis = Duration.toMillis(d.value)
  return Number.isNaN(millis) ? undefined : millis
}

type Kind =
  | "count"
  | "positive-int"
  | "count-or-infinity"
  | "positive-int-or-infinity"
  | "name"
  | "amount"
  | "duration"
  | "positive-duration"
  | "finite-duration"
  | "finite-positive-duration"
  | "function"
  | "count-or-names"
  | "positive-int-or-names"
  | { readonly literals: ReadonlyArray<string> }
  | { readonly between: readonly [number, number] }

const valid = (kind: Kind, v: unknown): boolean => {
  if (typeof kind === "object") {
    if ("literals" in kind) return typeof v === "string" && kind.literals.includes(v)
    return Number.isSafeInteger(v) && (v as number) >= kind.between[0] && (v as number) <= kind.between[1]
  }
  switch (kind) {
    case "count":
      return Number.isSafeInteger(v) && (v as number) >= 0
    case "positive-int":
      return Number.isSafeInteger(v) && (v as number) >= 1
    case "count-or-infinity":
      return v === Infinity || (Number.isSafeInteger(v) && (v as number) >= 0)
    case "positive-int-or-infinity":
      return v === Infinity || (Number.isSafeInteger(v) && (v as number) >= 1)
    case "name":
      return typeof v === "string" && v.trim() !== ""
    case "amount":
      return isNumber(v) && !Number.isNaN(v) && v >= 0
    case "function":
      return typeof v === "function"
    case "count-or-names":
      return valid("count", v) || (Array.isArray(v) && v.every((x) => valid("name", x)))
    case "positive-int-or-names":
      return (
        valid("positive-int", v) ||
        (Array.isArray(v) && v.length > 0 && v.every((x) => valid("name", x)) && new Set(v).size === v.length)
      )
    case "duration": {
      const m = millisOf(v)
      return m !== undefined && m >= 0
    }
    case "positive-duration": {
      const m = millisOf(v)
      return m !== undefined && m > 0
    }
    case "finite-duration": {
      const m = millisOf(v)
      return m !== undefined && m >= 0 && Number.isFinite(m)
    }
    case "finite-positive-duration": {
      const m = millisOf(v)
      return m !== undefined && m > 0 && Number.isFinite(m)
    }
  }
}

// -----------------------------------------------------------------------------
// The options types
// -----------------------------------------------------------------------------

interface Field {
  readonly path: string
  readonly kind: Kind
  /** Absent is a valid value (an optional field). */
  readonly optional: boolean
}

interface Refusal {
  readonly option: string
  /** The text that must show the value. */
  readonly text: string
}

interface Entry {
  readonly name: string
  readonly base: Record<string, unknown>
  readonly fields: ReadonlyArray<Field>
  /** Runs the operation with these options; the effect is observed for a few steps, then interrupted. */
  readonly run: (options: any) => Effect.Effect<unknown, unknown, Scope.Scope>
  /** The module's typed error for an invalid option, read as (option, text), or undefined for any other. */
  readonly refusal: (error: unknown) => Refusal | undefined
}

const tagged = (
  error: unknown,
  tag: string
): error is Record<string, unknown> & { readonly message: string } =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === tag

const byOption =
  (tag: string) =>
  (error: unknown): Refusal | undefined =>
    tagged(error, tag)
      ? { option: String(error.option), text: `${String(error.value)} ${error.message}` }
      : undefined

const opt = (path: string, kind: Kind): Field => ({ path, kind, optional: true })
const req = (path: string, kind: Kind): Field => ({ path, kind, optional: false })

const strategies = { literals: ["one-for-one", "one-for-all", "rest-for-one"] }
const restarts = { literals: ["permanent", "transient", "temporary"] }
const mailboxOverflows = { literals: ["suspend", "fail", "dead-letter"] }

const withActors = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, Actor.layer)

const entries: ReadonlyArray<Entry> = [
  {
    name: "Nursery.Options",
    base: { intensity: { maxRestarts: 3, window: "5 seconds" } },
    fields: [
      opt("name", "name"),
      opt("strategy", strategies),
      req("intensity.maxRestarts", "count"),
      req("intensity.window", "positive-duration"),
      opt("maxChildren", "positive-int-or-infinity"),
      opt("maxDepth", "count"),
      opt("onEvent", "function")
    ],
    run: (options) => Nursery.make(options),
    refusal: byOption("NurseryInvalid")
  },
  {
    name: "Nursery.StartOptions",
    base: {},
    fields: [opt("name", "name"), opt("restart", restarts)],
    run: (options) => Effect.flatMap(Nursery.make(), (n) => Nursery.start(n, Effect.void, options)),
    refusal: byOption("NurseryInvalid")
  },
  {
    name: "Actor.Options",
    base: {},
    fields: [
      opt("capacity", "count-or-infinity"),
      opt("overflow", mailboxOverflows),
      opt("restart", restarts)
    ],
    run: (options) => withActors(Actor.make<string>("actor-under-test", () => Effect.void, options)),
    refusal: byOption("ActorInvalid")
  },
  {
    name: "Actor.make address",
    base: { address: "worker" },
    fields: [req("address", "name")],
    run: (options) => withActors(Actor.make<string>(options.address, () => Effect.void)),
    refusal: byOption("ActorInvalid")
  },
  {
    name: "Actor.AskOptions",
    base: {},
    fields: [opt("timeout", "positive-duration")],
    run: (options) =>
      withActors(
        Effect.flatMap(
          Actor.make<string, string>("asked", (m, context) => context.reply(m.payload)),
          (ref) => Actor.ask(ref, "ping", options)
        )
      ),
    refusal: (error) => {
      if (!tagged(error, "NoReply")) return undefined
      const match = /^invalid ask option "([^"]+)" \((.*)\): /s.exec(String(error.reason))
      return match === null ? undefined : { option: match[1]!, text: `${match[2]!} ${error.message}` }
    }
  },
  {
    name: "Mailbox.Options",
    base: {},
    fields: [opt("capacity", "count-or-infinity"), opt("overflow", mailboxOverflows), opt("address", "name")],
    run: (options) => Mailbox.make(options),
    refusal: byOption("MailboxInvalid")
  },
  {
    name: "Join.Options",
    base: { parts: 3, timeout: "1 minute" },
    fields: [
      req("parts", "positive-int-or-names"),
      opt("quorum", { between: [1, 3] }),
      req("timeout", "finite-positive-duration"),
      opt("retain", "finite-duration"),
      opt("name", "name")
    ],
    run: (options) => Join.make(options),
    refusal: byOption("JoinInvalid")
  },
  {
    name: "Broker.SubscribeOptions",
    base: {},
    fields: [
      opt("capacity", "positive-int"),
      opt("overflow", { literals: ["dead-letter", "drop-oldest"] }),
      opt("address", "name")
    ],
    run: (options) =>
      Effect.flatMap(Broker.make<string>(), (broker) => Broker.subscribe(broker, "jobs", options)),
    refusal: byOption("InvalidSubscription")
  },
  {
    name: "Quorum.CollectOptions",
    base: { correlationId: "round-1", k: 0, parts: 2, timeout: "1 minute" },
    fields: [
      req("correlationId", "name"),
      req("k", { between: [0, 2] }),
      req("parts", "count-or-names"),
      req("timeout", "finite-duration"),
      opt("onIgnored", "function")
    ],
    run: (options) =>
      Effect.flatMap(Mailbox.make<any>(), (mailbox) => Quorum.collect(mailbox, { ...options, k: options.k })),
    refusal: (error) => {
      if (!tagged(error, "QuorumFailed")) return undefined
      const match = /^invalid option "([^"]+)" \((.*)\): /s.exec(String(error.reason))
      return match === null ? undefined : { option: match[1]!, text: `${match[2]!} ${error.message}` }
    }
  },
  {
    name: "Budget.Limits",
    base: {},
    fields: [
      opt("tokensIn", "amount"),
      opt("tokensOut", "amount"),
      opt("cost", "amount"),
      opt("calls", "amount"),
      opt("time", "duration")
    ],
    run: (options) => Budget.make(options),
    refusal: (error) =>
      tagged(error, "BudgetInvalid") ? { option: String(error.field), text: error.message } : undefined
  }
]

// Quorum's `k` is valid from 0 to `parts`, and `parts` must hold k: keep k at 0 when parts is under test.

// -----------------------------------------------------------------------------
// Running one case
// -----------------------------------------------------------------------------

const setPath = (base: Record<string, unknown>, path: string, value: unknown, present: boolean) => {
  const copy: Record<string, unknown> = structuredClone(base)
  const keys = path.split(".")
  let at = copy
  for (const key of keys.slice(0, -1)) {
    at[key] = { ...(at[key] as object) }
    at = at[key] as Record<string, unknown>
  }
  const last = keys[keys.length - 1]!
  if (present) at[last] = value
  else delete at[last]
  return copy
}

/** How a value must show in the error: as JavaScript prints a number, a JSON string for a string. */
const rendering = (v: unknown): string | undefined => {
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v)
  if (typeof v === "string") return JSON.stringify(v.slice(0, 40)).slice(0, -1)
  return undefined
}

const covered = new Map<string, { hostile: number; valid: number }>()

/** Runs one options value: refused (with what), accepted, or something else (a defect, a hang would fail). */
const tryCase = (entry: Entry, field: Field, value: unknown, present: boolean) =>
  Effect.gen(function* () {
    const options = setPath(entry.base, field.path, value, present)
    const fiber = yield* Effect.forkChild(Effect.scoped(entry.run(options)), { startImmediately: true })
    // Options are checked at the door, before anything waits: a few steps are enough to see a refusal.
    for (let i = 0; i < 20 && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    const exit = fiber.pollUnsafe()
    if (exit === undefined) yield* Fiber.interrupt(fiber)
    const key = `${entry.name}: ${field.path}`
    const tally = covered.get(key) ?? { hostile: 0, valid: 0 }
    covered.set(key, tally)
    const label = `${key} = ${present ? String(rendering(value) ?? typeof value) : "(absent)"}`
    const ok = present ? valid(field.kind, value) : field.optional
    if (exit !== undefined && Exit.isFailure(exit)) {
      const reasons = exit.cause.reasons
      assert.isFalse(
        reasons.some((r) => r._tag === "Die"),
        `${label}: a defect instead of a typed error: ${String(exit.cause)}`
      )
    }
    const failure =
      exit !== undefined && Exit.isFailure(exit)
        ? exit.cause.reasons.find((r) => r._tag === "Fail")
        : undefined
    const refusal = failure?._tag === "Fail" ? entry.refusal(failure.error) : undefined
    if (ok) {
      tally.valid++
      assert.isUndefined(refusal, `${label}: a valid value was refused: ${refusal?.text}`)
      return
    }
    tally.hostile++
    assert.isDefined(refusal, `${label}: not refused with the module's typed error (exit: ${String(exit)})`)
    // A list names its element: `parts.1`.
    assert.isTrue(
      refusal!.option === field.path || refusal!.option.startsWith(`${field.path}.`),
      `${label}: ${refusal!.option}`
    )
    const shown = present ? rendering(value) : undefined
    if (shown !== undefined) assert.include(refusal!.text, shown, `${label}: the error shows the value`)
  })

// -----------------------------------------------------------------------------
// Hostile values
// -----------------------------------------------------------------------------

const nasties: ReadonlyArray<unknown> = [
  NaN,
  Infinity,
  -Infinity,
  -1,
  -0.5,
  1.5,
  2 ** 53 + 0.5,
  0,
  1,
  3,
  "3",
  "",
  "   ",
  "5 sekonds",
  "-5 seconds",
  "soon",
  "Infinity",
  "bogus-literal",
  "one-for-one",
  "permanent",
  "suspend",
  "worker",
  true,
  null,
  {},
  [],
  [1, 2],
  ["reviewer-a", "reviewer-b"],
  ["reviewer-a", "reviewer-a"],
  () => undefined
]

const everyField = entries.flatMap((entry) => entry.fields.map((field) => ({ entry, field })))

describe("options at the door (issue 18)", () => {
  it.effect("every field of every options type, with every named hostile value and absent", () =>
    Effect.gen(function* () {
      for (const { entry, field } of everyField) {
        yield* tryCase(entry, field, undefined, false)
        for (const value of nasties) {
          // Quorum's k must not exceed parts: the base keeps k at 0, so parts is tried alone.
          yield* tryCase(entry, field, value, true)
        }
      }
    })
  )

  it.effect.prop(
    "random values in every field: refused with the typed error naming it iff invalid",
    {
      field: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: everyField.length - 1 })),
      value: Schema.Union([
        Schema.Number,
        Schema.Int.check(Schema.isBetween({ minimum: -5, maximum: 5 })),
        Schema.String,
        Schema.Literals([
          "1 second",
          "0 millis",
          "2 minutes",
          "-1 minutes",
          "10 lightyears",
          "Infinity",
          "-Infinity"
        ]),
        Schema.Boolean,
        Schema.Null
      ])
    },
    ({ field, value }) =>
      Effect.gen(function* () {
        const { entry, field: f } = everyField[field]!
        yield* tryCase(entry, f, value, true)
      }),
    Check.propOptions({ runs: 300 })
  )

  it("prints the options covered, each tried with hostile and valid values", () => {
    const lines = [...covered.entries()].map(([key, t]) => `${key}  (hostile ${t.hostile}, valid ${t.valid})`)
    console.log(`options covered (${lines.length}):\n  ${lines.join("\n  ")}`)
    assert.strictEqual(covered.size, everyField.length)
    for (const [key, t] of covered) {
      assert.isAbove(t.hostile, 0, `${key} was never tried with a hostile value`)
      assert.isAbove(t.valid, 0, `${key} was never tried with a valid value`)
    }
  })
})

afterAll(() => covered.clear())

describe("DeadLetter.ring size (issue 18)", () => {
  it("a size that bounds nothing throws DeadLetterInvalid naming it; a valid size still bounds", () => {
    for (const size of [NaN, -1, 1.5, Infinity, "8" as unknown as number]) {
      assert.throws(() => DeadLetter.ring(size), DeadLetter.DeadLetterInvalid)
    }
    const sink = DeadLetter.ring(2)
    for (const message of [1, 2, 3]) sink.publish({ mailbox: "m", message, reason: "closed" })
    assert.deepStrictEqual(
      sink.recent().map((letter) => letter.message),
      [2, 3]
    )
  })
})
