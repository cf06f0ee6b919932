/**
 * The Codex CLI as a HandoffKit agent: `run` drives one `codex exec --json` in a directory and turns each of its
 * events into a trace event; `agent` is an actor that does so for every task it receives and replies with the
 * result. Its guarantee: no codex process outlives its run. Codex runs in a process group of its own, and
 * ending the run (success, failure or interrupt) kills that group and every process codex started, and waits
 * until they are gone; its temporary `CODEX_HOME` is removed, and a budget reservation made for it is settled.
 *
 * **When to use**
 *
 * To hand a coding task to Codex inside a HandoffKit topology (a worker of the worktree pool, a step of a
 * chain), with its model usage charged to a `Budget` and its commands and answers in the trace.
 *
 * **Details**
 *
 * - Each run gets a fresh temporary `CODEX_HOME`, so the user's `~/.codex` (config, credentials, sessions) is
 *   never read. The parent's `OPENAI_API_KEY`, `CODEX_API_KEY` and `CODEX_ACCESS_TOKEN` are not passed on:
 *   codex sees an API key only when the options give one, as a `Redacted`.
 * - With `baseUrl`, codex talks to that OpenAI-compatible server (Responses API, no retries); otherwise to
 *   OpenAI with `apiKey`.
 * - What reaches the trace is small and redacted: commands, exit codes, sizes and short previews, never whole
 *   outputs, and never the API key (also when a server echoes it back in an error).
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import {
  Cause,
  Deferred,
  Duration,
  Effect,
  Queue,
  Redacted,
  Result,
  Schema,
  SchemaTransformation
} from "effect"
import { Actor, Budget, Tracer } from "@handoffkit/core"
import type { Address } from "@handoffkit/core/Envelope"
import type { MailboxInvalid } from "@handoffkit/core/Mailbox"
import type { ActorInvalid } from "@handoffkit/core/Actor"
import type { AddressTaken, Registry } from "@handoffkit/core/Registry"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/codex.ts"

// -----------------------------------------------------------------------------
// Codex's events
// -----------------------------------------------------------------------------

const Count = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

interface UnknownEncoded {
  readonly type: string
  readonly [key: string]: unknown
}

interface UnknownDecoded {
  readonly type: "unknown"
  readonly codexType: string
  readonly raw: { readonly [key: string]: unknown }
}

/** Turns a record of any other `type` into `{ type: "unknown", codexType, raw }`, keeping all of it. */
const unknownOf = (known: ReadonlyArray<string>) =>
  Schema.StructWithRest(
    Schema.Struct({
      type: Schema.String.check(
        Schema.makeFilter((type: string) => !known.includes(type), {
          expected: `a type other than ${known.join(", ")}`
        })
      )
    }),
    [Schema.Record(Schema.String, Schema.Unknown)]
  ).pipe(
    Schema.decodeTo(
      Schema.Struct({
        type: Schema.Literal("unknown"),
        codexType: Schema.String,
        raw: Schema.Record(Schema.String, Schema.Unknown)
      }),
      SchemaTransformation.transform<UnknownDecoded, UnknownEncoded>({
        decode: (raw) => ({ type: "unknown", codexType: raw.type, raw }),
        encode: (event) => ({ ...event.raw, type: event.codexType })
      })
    )
  )

const CommandExecution = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("command_execution"),
  command: Schema.String,
  aggregated_output: Schema.optionalKey(Schema.String),
  exit_code: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  status: Schema.String
})

const AgentMessage = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("agent_message"),
  text: Schema.String
})

const ErrorItem = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("error"),
  message: Schema.String
})

/**
 * One item of a Codex turn, as carried by `item.started`, `item.updated` and `item.completed`.
 *
 * **When to use**
 *
 * To read a run's `events`: narrow on `item.type`.
 *
 * **Details**
 *
 * `command_execution` (a shell command: `command`, `aggregated_output`, `exit_code`, `status`),
 * `agent_message` (`text`) and `error` (`message`) are decoded strictly: a malformed one is a decode error.
 * Any other item type (`reasoning`, `file_change`, `mcp_tool_call`, `todo_list`, ... and types added by later
 * codex versions) decodes to `{ type: "unknown", codexType, raw }` with the whole item in `raw`.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const decode = Schema.decodeUnknownSync(Codex.Item)
 * console.log(decode({ id: "item_1", type: "agent_message", text: "done" }).type) // "agent_message"
 * console.log(decode({ id: "item_2", type: "reasoning", text: "hmm" }).type) // "unknown"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Item = Schema.Union([
  CommandExecution,
  AgentMessage,
  ErrorItem,
  unknownOf(["command_execution", "agent_message", "error"])
])

/**
 * @category models
 * @since 0.1.0
 */
export type Item = typeof Item.Type

const TurnUsage = Schema.Struct({
  input_tokens: Count,
  cached_input_tokens: Schema.optionalKey(Count),
  output_tokens: Count,
  reasoning_output_tokens: Schema.optionalKey(Count)
})

const knownEvents = [
  "thread.started",
  "turn.started",
  "turn.completed",
  "turn.failed",
  "item.started",
  "item.updated",
  "item.completed",
  "error"
] as const

/**
 * One line of `codex exec --json` output.
 *
 * **When to use**
 *
 * To read a run's `events`, or to decode codex output you stored yourself (see `decodeEvent`).
 *
 * **Details**
 *
 * The event types codex 0.169 emits are decoded strictly: `thread.started` (`thread_id`), `turn.started`,
 * `turn.completed` (`usage`, summed over the turn), `turn.failed` (`error.message`), `item.started` /
 * `item.updated` / `item.completed` (`item`, an `Item`) and `error` (`message`; codex also reports retries this
 * way, so an `error` alone does not end the turn). Any other type decodes to
 * `{ type: "unknown", codexType, raw }`: a newer codex adding events does not break a run.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const event = Schema.decodeUnknownSync(Codex.CodexEvent)({
 *   type: "turn.completed",
 *   usage: { input_tokens: 200, cached_input_tokens: 0, output_tokens: 20, reasoning_output_tokens: 0 }
 * })
 * console.log(event.type === "turn.completed" ? event.usage.output_tokens : -1) // 20
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const CodexEvent = Schema.Union([
  Schema.Struct({ type: Schema.Literal("thread.started"), thread_id: Schema.String }),
  Schema.Struct({ type: Schema.Literal("turn.started") }),
  Schema.Struct({ type: Schema.Literal("turn.completed"), usage: TurnUsage }),
  Schema.Struct({ type: Schema.Literal("turn.failed"), error: Schema.Struct({ message: Schema.String }) }),
  Schema.Struct({
    type: Schema.Literals(["item.started", "item.updated", "item.completed"]),
    item: Item
  }),
  Schema.Struct({ type: Schema.Literal("error"), message: Schema.String }),
  unknownOf(knownEvents)
])

/**
 * @category models
 * @since 0.1.0
 */
export type CodexEvent = typeof CodexEvent.Type

const EventFromLine = Schema.fromJsonString(CodexEvent)
const decodeLineExit = Schema.decodeUnknownExit(EventFromLine)

/**
 * Decodes one line of `codex exec --json` output.
 *
 * **When to use**
 *
 * To read codex output that was not produced by `run` (a saved log); `run` decodes its own lines.
 *
 * **Details**
 *
 * Fails with a `SchemaError` when the line is not JSON, has no string `type`, or is a known event type with the
 * wrong shape. An unknown event type succeeds (see `CodexEvent`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const program = Effect.gen(function*() {
 *   const known = yield* Codex.decodeEvent('{"type":"turn.started"}')
 *   const future = yield* Codex.decodeEvent('{"type":"plan.updated","steps":[]}')
 *   const broken = yield* Codex.decodeEvent('{"type":"turn.completed"}').pipe(Effect.flip)
 *   return [known.type, future.type, broken._tag]
 * })
 * console.log(Effect.runSync(program)) // ["turn.started", "unknown", "SchemaError"]
 * ```
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeEvent = (line: string): Effect.Effect<CodexEvent, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(EventFromLine)(line)

// -----------------------------------------------------------------------------
// Options and results
// -----------------------------------------------------------------------------

/**
 * Codex's sandbox for the commands its model runs: `-s read-only`, `workspace-write` (the directory and temp
 * dirs are writable, no network) or `danger-full-access`.
 *
 * **When to use**
 *
 * In `Options.sandbox`; the default is `"workspace-write"`.
 *
 * **Details**
 *
 * On Linux codex runs each command under bubblewrap in a new session; `run` kills those too.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * console.log(Schema.is(Codex.Sandbox)("read-only"), Schema.is(Codex.Sandbox)("none")) // true false
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Sandbox = Schema.Literals(["read-only", "workspace-write", "danger-full-access"])

/**
 * @category models
 * @since 0.1.0
 */
export type Sandbox = typeof Sandbox.Type

/**
 * What a run used, from codex's `turn.completed` (summed over every model request of the turn).
 *
 * **When to use**
 *
 * Read it from `RunResult.usage`; it is what `run` charges to the budget (`tokensIn` = `inputTokens`,
 * `tokensOut` = `outputTokens`).
 *
 * **Details**
 *
 * `cachedInputTokens` is part of `inputTokens` and `reasoningOutputTokens` part of `outputTokens`, as in the
 * Responses API. A count codex did not report is 0.
 *
 * **Example**
 *
 * ```ts
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const usage: Codex.Usage = { inputTokens: 200, cachedInputTokens: 0, outputTokens: 20, reasoningOutputTokens: 0 }
 * console.log(usage.inputTokens + usage.outputTokens) // 220
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Usage {
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly reasoningOutputTokens: number
}

/**
 * Options of `run`.
 *
 * **When to use**
 *
 * Every run needs `prompt` and `directory`; give `baseUrl` for an OpenAI-compatible server (a
 * `ScriptedServer` in tests) or `apiKey` for OpenAI.
 *
 * **Details**
 *
 * - `sandbox`: default `"workspace-write"`. `model`: passed as `-c model=...` when given.
 * - `baseUrl`: a custom model provider (`wire_api = "responses"`, no request or stream retries). `apiKey`: sent
 *   to that provider, or to OpenAI when there is no `baseUrl`; it reaches codex through its environment only.
 * - `config`: more `-c key=value` overrides, the value in TOML (`{ model_reasoning_effort: '"low"' }`); they
 *   come after the ones `run` sets.
 * - `env`: more environment variables for codex. `codexHome`: use this `CODEX_HOME` (not removed) instead of a
 *   fresh temporary one, e.g. one with plugins installed. `codexPath`: the codex executable or its npm
 *   `bin/codex.js` (default: the `@openai/codex` package, else `codex` on the PATH).
 * - `budget`, `reserve`: see `run`. `killGrace`: how long codex gets after SIGTERM before SIGKILL (default 2
 *   seconds).
 * - `actor` (default `"codex"`) and `causationId` go on every trace event of the run.
 *
 * **Example**
 *
 * ```ts
 * import { Redacted } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const options: Codex.Options = {
 *   prompt: "Fix the failing test in test/parse.test.ts",
 *   directory: "/tmp/worktree-1",
 *   sandbox: "workspace-write",
 *   apiKey: Redacted.make("sk-live-from-your-secret-store")
 * }
 * console.log(String(options.apiKey)) // "<redacted>"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly prompt: string
  readonly directory: string
  readonly sandbox?: Sandbox | undefined
  readonly model?: string | undefined
  readonly baseUrl?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly config?: Readonly<Record<string, string>> | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly codexHome?: string | undefined
  readonly codexPath?: string | undefined
  readonly budget?: Budget.Budget | undefined
  readonly reserve?: Budget.Usage | undefined
  readonly killGrace?: Duration.Input | undefined
  readonly actor?: string | undefined
  readonly causationId?: string | undefined
}

/**
 * What a successful run returns.
 *
 * **When to use**
 *
 * Read `finalMessage` for Codex's answer, `usage` for what it cost, `events` for everything it did.
 *
 * **Details**
 *
 * - `finalMessage`: the text of the last `agent_message` (`undefined` if codex said nothing).
 * - `exitCode`: always 0 (any other exit is a `CodexError`).
 * - `events`: every decoded line, in order.
 * - `budgetOverrun`: set when the reported usage exceeded what was reserved in a dimension the budget limits.
 *   The usage was charged anyway (it was spent, and codex cannot be stopped at a token count), so this is a
 *   report, not a failure: the work in the directory is done.
 *
 * **Example**
 *
 * ```ts
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const result: Codex.RunResult = {
 *   finalMessage: "done",
 *   usage: { inputTokens: 200, cachedInputTokens: 0, outputTokens: 20, reasoningOutputTokens: 0 },
 *   exitCode: 0,
 *   events: [{ type: "turn.started" }],
 *   budgetOverrun: undefined
 * }
 * console.log(result.finalMessage) // "done"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RunResult {
  readonly finalMessage: string | undefined
  readonly usage: Usage
  readonly exitCode: number
  readonly events: ReadonlyArray<CodexEvent>
  readonly budgetOverrun: Budget.BudgetOverrun | undefined
}

/**
 * A run that did not succeed, with what is known about why.
 *
 * **When to use**
 *
 * Catch it with `Effect.catchTag("CodexError", ...)`; `reason` says what failed.
 *
 * **Details**
 *
 * - `"spawn"`: codex could not start (missing binary or directory). `exitCode` is null.
 * - `"turn-failed"`: codex reported `turn.failed` (a model error, its retries spent); `detail` is its message.
 * - `"exit"`: codex exited with a code other than 0 (or was killed by `signal`), or exited 0 without
 *   completing its turn.
 * - `"decode"`: stdout line `line` is not a Codex event; codex was then killed.
 *
 * `stderr` holds codex's last stderr lines. Every string is redacted (`Tracer.redactString`, and the run's API
 * key wherever it appears).
 *
 * **Example**
 *
 * ```ts
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const error = new Codex.CodexError({
 *   reason: "exit", directory: "/tmp/repo", exitCode: 2, signal: null, detail: "unexpected argument", stderr: []
 * })
 * console.log(error.message) // codex exited with code 2 in /tmp/repo: unexpected argument
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class CodexError extends Schema.TaggedError<CodexError>()("CodexError", {
  reason: Schema.Literals(["spawn", "exit", "turn-failed", "decode"]),
  directory: Schema.String,
  exitCode: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  detail: Schema.String,
  line: Schema.optionalKey(Schema.Number),
  stderr: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const detail = this.detail === "" ? "" : `: ${this.detail}`
    switch (this.reason) {
      case "spawn":
        return `codex could not start in ${this.directory}${detail}`
      case "turn-failed":
        return `codex turn failed in ${this.directory} (exit code ${this.exitCode ?? "none"})${detail}`
      case "decode":
        return `codex stdout line ${this.line ?? "?"} in ${this.directory} is not a Codex event${detail}`
      case "exit":
        return this.signal !== null
          ? `codex was killed by ${this.signal} in ${this.directory}${detail}`
          : `codex exited with code ${this.exitCode ?? "none"} in ${this.directory}${detail}`
    }
  }
}

// -----------------------------------------------------------------------------
// run
// -----------------------------------------------------------------------------

/** The custom provider's name in codex's config, and the variable its API key is read from. */
const provider = "handoffkit"
const providerKeyVariable = "HANDOFFKIT_CODEX_API_KEY"

/** Item types that are tools: traced as `tool.call` / `tool.result` even though they are not decoded. */
const toolItems = new Set(["file_change", "mcp_tool_call", "web_search"])

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max)}…`)
const clipEnd = (text: string, max: number): string => (text.length <= max ? text : `…${text.slice(-max)}`)

const toml = (value: string): string => JSON.stringify(value)

const argumentsOf = (options: Options, directory: string): Array<string> => {
  const args = [
    "exec",
    "--json",
    "--ephemeral",
    "--skip-git-repo-check",
    "-s",
    options.sandbox ?? "workspace-write",
    "-C",
    directory
  ]
  const set = (key: string, value: string) => args.push("-c", `${key}=${value}`)
  // Without this, codex looks up github.com at start-up to sync its plugin list: an agent must reach no host
  // but its model. `options.config` can turn it back on.
  set("features.plugins", "false")
  if (options.model !== undefined) set("model", toml(options.model))
  if (options.baseUrl !== undefined) {
    const at = `model_providers.${provider}`
    set("model_provider", toml(provider))
    set(`${at}.name`, toml(provider))
    set(`${at}.base_url`, toml(options.baseUrl))
    set(`${at}.wire_api`, toml("responses"))
    set(`${at}.request_max_retries`, "0")
    set(`${at}.stream_max_retries`, "0")
    if (options.apiKey !== undefined) set(`${at}.env_key`, toml(providerKeyVariable))
  }
  for (const [key, value] of Object.entries(options.config ?? {})) set(key, value)
  // `--` so that a prompt starting with "-" is not read as a flag.
  args.push("--", options.prompt)
  return args
}

const environmentOf = (options: Options, home: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // Credentials of the parent are not codex's: it gets a key only when the options give one.
  delete env.OPENAI_API_KEY
  delete env.CODEX_API_KEY
  delete env.CODEX_ACCESS_TOKEN
  delete env[providerKeyVariable]
  Object.assign(env, options.env)
  env.CODEX_HOME = home
  if (options.apiKey !== undefined) {
    env[options.baseUrl !== undefined ? providerKeyVariable : "CODEX_API_KEY"] = Redacted.value(
      options.apiKey
    )
  }
  return env
}

const toUsage = (usage: typeof TurnUsage.Type): Usage => ({
  inputTokens: usage.input_tokens,
  cachedInputTokens: usage.cached_input_tokens ?? 0,
  outputTokens: usage.output_tokens,
  reasoningOutputTokens: usage.reasoning_output_tokens ?? 0
})

/**
 * Runs `codex exec --json` once, in `options.directory`, and returns its answer, usage and events.
 *
 * **When to use**
 *
 * For one coding task in a directory you own (a worktree); use `agent` to serve tasks as an actor.
 *
 * **Details**
 *
 * - Runs `codex exec --json --ephemeral --skip-git-repo-check -s <sandbox> -C <directory> -c ... -- <prompt>`
 *   with stdin on /dev/null, in its own process group, with a fresh temporary `CODEX_HOME` and without the
 *   parent's OpenAI credentials (see the module doc).
 * - Every stdout line is decoded as a `CodexEvent` and traced under `Tracer.CurrentTracer`: `turn.started` →
 *   `model.request`; a command's `item.started` / `item.completed` → `tool.call` / `tool.result` (command,
 *   exit code, status, output size and its last 200 characters); `agent_message` → `model.response` (text
 *   length and a 200-character preview); `turn.completed` → `model.response` with `usage`; `turn.failed` and
 *   `error` → `model.response` with `error`. `data.codexType` keeps codex's event type; strings are redacted.
 * - Fails with `CodexError` (see its reasons); a line that is not an event ends the run at once.
 * - Budget: before starting, reserves `reserve` (default `{ calls: 1 }`; `calls: 1` is added when missing) and
 *   fails with `BudgetExceeded` when it does not fit. Once codex has started, `calls: 1` is charged; at
 *   `turn.completed` the reported tokens (`tokensIn`, `tokensOut`). Whatever happens next (success, failure,
 *   interrupt), the rest of the reservation is refunded: the reservation is never left open. A codex that
 *   could not start charges nothing.
 * - When the budget has a time limit, the run is stopped as if interrupted when it passes, and fails with
 *   `BudgetExceeded` (dimension `"time"`).
 * - Interrupting the run sends SIGTERM to codex's process group and to every process codex started (its
 *   commands run in sessions of their own), then SIGKILL after `killGrace`; the interrupt completes only once
 *   codex has exited and none of its processes runs any more (what codex had not reaped yet is left for pid 1
 *   to reap). The same happens when the run fails early. Use it with a live clock (`it.live` in tests): the
 *   grace period is a real wait. Finding the processes codex started needs Linux's /proc; elsewhere only
 *   codex's process group is killed.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([
 *     ScriptedServer.Turn.toolCall("exec_command", { cmd: "echo hi > f.txt" }),
 *     ScriptedServer.Turn.text("done")
 *   ])
 *   const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "codex-example-"))
 *   const result = yield* Codex.run({ prompt: "write f.txt", directory, baseUrl: server.url })
 *   const written = Fs.readFileSync(Path.join(directory, "f.txt"), "utf8")
 *   Fs.rmSync(directory, { recursive: true })
 *   return [result.finalMessage, written]
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // ["done", "hi\n"]
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run: (options: Options) => Effect.Effect<RunResult, CodexError | Budget.BudgetExceeded> =
  Effect.fn("Codex.run")(function* (options: Options) {
    const tracer = yield* Tracer.CurrentTracer
    const budget = options.budget
    if (budget === undefined) return yield* Effect.scoped(execute(options, tracer, undefined))
    return yield* Budget.withReservation(budget, { calls: 1, ...options.reserve }, (reservation) =>
      Effect.map(
        Effect.raceFirst(Effect.scoped(execute(options, tracer, reservation)), timeLimit(budget)),
        (result) => [result, {}] as const
      )
    ).pipe(
      // Everything is charged with `commitPartial` as it is reported; the final commit is empty and cannot
      // overrun.
      Effect.catchTag("BudgetOverrun", (overrun) => Effect.die(overrun))
    )
  })

// Fails when the budget's time limit passes: raced with the run, it interrupts codex (and kills what it
// started) at the deadline. Other limits need no race: codex's spending is known only when its turn ends.
const timeLimit = (budget: Budget.Budget): Effect.Effect<never, Budget.BudgetExceeded> =>
  Effect.flatMap(Budget.snapshot(budget), ({ timeRemaining }) =>
    Number.isFinite(timeRemaining)
      ? Effect.andThen(
          Effect.sleep(timeRemaining),
          Effect.fail(
            new Budget.BudgetExceeded({ dimension: "time", reason: "exhausted", requested: 0, remaining: 0 })
          )
        )
      : Effect.never
  )

const execute = (
  options: Options,
  tracer: Tracer.Tracer,
  reservation: Budget.Reservation | undefined
): Effect.Effect<RunResult, CodexError, Scope.Scope> =>
  Effect.gen(function* () {
    const directory = Path.resolve(options.directory)
    const secret = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
    const scrub = (text: string): string =>
      Tracer.redactString(
        secret !== undefined && secret.length >= 4 ? text.split(secret).join("[REDACTED]") : text
      )
    const failure = (fields: {
      readonly reason: CodexError["reason"]
      readonly exitCode?: number | null
      readonly signal?: string | null
      readonly detail: string
      readonly line?: number
      readonly stderr?: ReadonlyArray<string>
    }) =>
      new CodexError({
        reason: fields.reason,
        directory,
        exitCode: fields.exitCode ?? null,
        signal: fields.signal ?? null,
        detail: clip(scrub(fields.detail), 1000),
        ...(fields.line === undefined ? {} : { line: fields.line }),
        stderr: (fields.stderr ?? []).map(scrub)
      })

    const isDirectory = yield* Effect.promise(() =>
      Fs.promises.stat(directory).then(
        (stat) => stat.isDirectory(),
        () => false
      )
    )
    if (!isDirectory) return yield* failure({ reason: "spawn", detail: "the directory does not exist" })
    const home =
      options.codexHome ??
      (yield* internal.tempHome.pipe(Effect.mapError((detail) => failure({ reason: "spawn", detail }))))
    const { file, prefix } = internal.command(options.codexPath)
    const child = yield* internal
      .spawn({
        file,
        args: [...prefix, ...argumentsOf(options, directory)],
        cwd: directory,
        env: environmentOf(options, home),
        killGrace: Duration.fromInputUnsafe(options.killGrace ?? "2 seconds")
      })
      .pipe(Effect.mapError((detail) => failure({ reason: "spawn", detail: `${file}: ${detail}` })))

    let budgetOverrun: Budget.BudgetOverrun | undefined
    const charge = (usage: Budget.Usage): Effect.Effect<void> =>
      reservation === undefined
        ? Effect.void
        : Budget.commitPartial(reservation, usage).pipe(
            Effect.catchTags({
              BudgetOverrun: (overrun) => Effect.sync(() => void (budgetOverrun ??= overrun)),
              ReservationSettled: () => Effect.void
            })
          )
    yield* charge({ calls: 1 })

    const actor = options.actor ?? "codex"
    const emit = (kind: Tracer.Kind, data: Record<string, Schema.Json>): void => {
      if (!tracer.enabled) return
      tracer.emit(
        options.causationId === undefined
          ? { kind, actor, data }
          : { kind, actor, causationId: options.causationId, data }
      )
    }
    const traceItem = (codexType: string, item: Item): void => {
      switch (item.type) {
        case "command_execution": {
          const command = clip(scrub(item.command), 500)
          if (codexType === "item.started") {
            emit("tool.call", { codexType, itemId: item.id, tool: item.type, command })
          } else if (codexType === "item.completed") {
            const output = item.aggregated_output ?? ""
            emit("tool.result", {
              codexType,
              itemId: item.id,
              tool: item.type,
              command,
              exitCode: item.exit_code ?? null,
              status: item.status,
              outputLength: output.length,
              outputTail: clipEnd(scrub(output), 200)
            })
          }
          return
        }
        case "agent_message": {
          if (codexType !== "item.completed") return
          emit("model.response", {
            codexType,
            itemId: item.id,
            itemType: item.type,
            textLength: item.text.length,
            preview: clip(scrub(item.text), 200)
          })
          return
        }
        case "error": {
          if (codexType !== "item.completed") return
          emit("model.response", {
            codexType,
            itemId: item.id,
            itemType: item.type,
            error: clip(scrub(item.message), 500)
          })
          return
        }
        case "unknown": {
          if (!toolItems.has(item.codexType) || codexType === "item.updated") return
          const id = item.raw.id
          const status = item.raw.status
          emit(codexType === "item.started" ? "tool.call" : "tool.result", {
            codexType,
            itemType: item.codexType,
            tool: item.codexType,
            ...(typeof id === "string" ? { itemId: id } : {}),
            ...(typeof status === "string" ? { status } : {})
          })
        }
      }
    }

    const events: Array<CodexEvent> = []
    let finalMessage: string | undefined
    let usage: Usage | undefined
    let turnFailure: string | undefined
    let lastError: string | undefined
    for (let lineNumber = 1; ; lineNumber++) {
      const line = yield* Queue.take(child.lines)
      if (line === internal.EOF) break
      if (line.trim() === "") continue
      // The key is scrubbed from the events too, so nothing `run` returns holds it (codex passes on what a
      // server says in an error, and a careless server may echo the key).
      const decoded = decodeLineExit(
        secret !== undefined && secret.length >= 4 ? line.split(secret).join("[REDACTED]") : line
      )
      if (decoded._tag === "Failure") {
        return yield* failure({
          reason: "decode",
          line: lineNumber,
          stderr: child.stderrTail(),
          detail: `${clip(line, 200)} (${decodeProblem(decoded.cause)})`
        })
      }
      const event = decoded.value
      events.push(event)
      switch (event.type) {
        case "turn.started":
          emit("model.request", { codexType: event.type })
          break
        case "item.started":
        case "item.updated":
        case "item.completed":
          if (event.item.type === "agent_message" && event.type === "item.completed")
            finalMessage = event.item.text
          traceItem(event.type, event.item)
          break
        case "turn.completed": {
          const turn = toUsage(event.usage)
          usage = usage === undefined ? turn : addUsage(usage, turn)
          emit("model.response", { codexType: event.type, usage: { ...turn } })
          yield* charge({ tokensIn: turn.inputTokens, tokensOut: turn.outputTokens })
          break
        }
        case "turn.failed":
          turnFailure = event.error.message
          emit("model.response", { codexType: event.type, error: clip(scrub(turnFailure), 500) })
          break
        case "error":
          lastError = event.message
          emit("model.response", { codexType: event.type, error: clip(scrub(lastError), 500) })
          break
      }
    }
    const exited = yield* Deferred.await(child.exited)
    if (turnFailure !== undefined) {
      return yield* failure({
        reason: "turn-failed",
        exitCode: exited.code,
        signal: exited.signal,
        detail: turnFailure,
        stderr: child.stderrTail()
      })
    }
    if (exited.code !== 0) {
      const stderr = child.stderrTail()
      return yield* failure({
        reason: "exit",
        exitCode: exited.code,
        signal: exited.signal,
        detail: lastError ?? stderr[stderr.length - 1] ?? "",
        stderr
      })
    }
    if (usage === undefined) {
      return yield* failure({
        reason: "exit",
        exitCode: 0,
        detail: "codex exited without completing its turn",
        stderr: child.stderrTail()
      })
    }
    return { finalMessage, usage, exitCode: 0, events, budgetOverrun } satisfies RunResult
  })

const addUsage = (a: Usage, b: Usage): Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  reasoningOutputTokens: a.reasoningOutputTokens + b.reasoningOutputTokens
})

const decodeProblem = (cause: Cause.Cause<Schema.SchemaError>): string => {
  const error = Cause.findError(cause)
  return Result.isSuccess(error) ? clip(error.success.message.replace(/\s+/g, " "), 300) : "undecodable"
}

// -----------------------------------------------------------------------------
// agent
// -----------------------------------------------------------------------------

/**
 * A task for a Codex agent: what to ask Codex.
 *
 * **When to use**
 *
 * As the payload you `Actor.ask` (or `Actor.send`) a Codex agent.
 *
 * **Details**
 *
 * The prompt is passed to codex as it is; the agent's directory and settings come from `agent`'s options.
 *
 * **Example**
 *
 * ```ts
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const task: Codex.Task = { prompt: "Add a --verbose flag to the CLI and a test for it" }
 * console.log(task.prompt.length > 0) // true
 * ```
 *
 * @category agent
 * @since 0.1.0
 */
export interface Task {
  readonly prompt: string
}

/**
 * A Codex agent's reply to an ask: the run's result, or why it failed.
 *
 * **When to use**
 *
 * Match on it after `Actor.ask(codexAgent, task)`.
 *
 * **Details**
 *
 * A failed run is a reply, not a failure of the actor: the agent goes on with its next task.
 *
 * **Example**
 *
 * ```ts
 * import { Result } from "effect"
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const describe = (reply: Codex.Reply): string =>
 *   Result.isSuccess(reply) ? `done: ${reply.success.finalMessage}` : `failed: ${reply.failure.message}`
 * console.log(describe(Result.fail(new Codex.CodexError({
 *   reason: "spawn", directory: "/nowhere", exitCode: null, signal: null, detail: "the directory does not exist", stderr: []
 * })))) // failed: codex could not start in /nowhere: the directory does not exist
 * ```
 *
 * @category agent
 * @since 0.1.0
 */
export type Reply = Result.Result<RunResult, CodexError | Budget.BudgetExceeded>

/**
 * Options of `agent`: those of `run` except what each task brings (`prompt`) and what the agent sets itself
 * (`actor`, `causationId`), plus the actor's mailbox options.
 *
 * **When to use**
 *
 * To start a Codex agent on a directory (its worktree), with a model provider and a budget.
 *
 * **Details**
 *
 * Every task runs with these options; `budget` is shared by all the agent's runs.
 *
 * **Example**
 *
 * ```ts
 * import * as Codex from "@handoffkit/llm/Codex"
 *
 * const options: Codex.AgentOptions = { directory: "/tmp/worktree-2", sandbox: "workspace-write", capacity: 16 }
 * console.log(options.directory) // "/tmp/worktree-2"
 * ```
 *
 * @category agent
 * @since 0.1.0
 */
export interface AgentOptions extends Omit<Options, "prompt" | "actor" | "causationId">, Actor.Options {}

/**
 * Starts an actor at `address` that runs Codex for each task it receives, one at a time, in its directory.
 *
 * **When to use**
 *
 * To make Codex a member of a topology: peers ask it with a `Task` and get a `Reply`.
 *
 * **Details**
 *
 * - Each task is one `run` with the agent's options, its trace events under `actor = address` and
 *   `causationId` = the received message's id, so the trace links Codex's work to the request.
 * - The agent replies to an ask with `Result.succeed(result)` or `Result.fail(error)`; a failed run does not
 *   stop the agent. A task that was sent (not asked) is run and its result dropped.
 * - Stopping the agent (or closing its scope) interrupts the current run: codex and its processes are killed
 *   as described in `run`.
 * - Fails with `AddressTaken` when the address is registered already.
 *
 * **Example**
 *
 * ```ts
 * import * as Fs from "node:fs"
 * import * as Os from "node:os"
 * import * as Path from "node:path"
 * import { Effect, Result } from "effect"
 * import { Actor } from "@handoffkit/core"
 * import * as Codex from "@handoffkit/llm/Codex"
 * import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("nothing to do")])
 *   const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "codex-agent-example-"))
 *   const coder = yield* Codex.agent("coder", { directory, baseUrl: server.url })
 *   const reply = yield* Actor.ask(coder, { prompt: "check the build" }, { timeout: "30 seconds" })
 *   Fs.rmSync(directory, { recursive: true })
 *   return Result.isSuccess(reply) ? reply.success.finalMessage : reply.failure.message
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // "nothing to do"
 * ```
 *
 * @category agent
 * @since 0.1.0
 */
export const agent = (
  address: Address,
  options: AgentOptions
): Effect.Effect<
  Actor.ActorRef<Task, Reply>,
  AddressTaken | MailboxInvalid | ActorInvalid,
  Scope.Scope | Registry
> =>
  Actor.make<Task, Reply>(
    address,
    (message, context) =>
      run({ ...options, prompt: message.payload.prompt, actor: address, causationId: message.id }).pipe(
        Effect.result,
        Effect.flatMap((reply) => context.reply(reply)),
        // The asker gave up (its ask timed out): the next task must still be served.
        Effect.catchTag("DeliveryError", () => Effect.void)
      ),
    {
      capacity: options.capacity,
      overflow: options.overflow,
      nursery: options.nursery,
      restart: options.restart
    }
  )
