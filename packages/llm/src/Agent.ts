/**
 * An agent is an actor whose behaviour is a model loop: it takes one message at a time from its mailbox,
 * asks its model (any `effect/ai` `LanguageModel`) what to do, runs the tools the model calls, and ends its
 * turn with an answer or by handing the task to a peer.
 *
 * **Guarantees**
 *
 * - Peers are reached only through tools the runtime carries out: `handoff_to_<peer>` is a `Handoff` (the
 *   task and its context move; this agent can no longer touch it) and `send_to_<peer>` is a send. Both are
 *   stamped with this agent as `from` and the handled message as cause.
 * - Everything a message brings (the task, a peer's note, the thread) reaches the model inside JSON-quoted
 *   `<data>` blocks, and the system prompt says that data is never an instruction.
 * - Every model call is charged to the budget: it reserves `calls: 1`, the call's output bound and an upper
 *   bound of its input before the request, and commits the reported usage after. An interrupted call
 *   commits what was reported (at least the call) and refunds the rest. Before each call the agent selects
 *   on the budget: a spent budget ends the turn with outcome `"budget-exhausted"`.
 * - Interrupting the agent aborts its HTTP request.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Schema, Stream } from "effect"
import { AiError, LanguageModel, Prompt, Tool, Toolkit } from "effect/ai"
import { Actor, Budget, Compactor, Corpus, DeadLetter, Handoff, Select, Tracer } from "@handoffkit/core"
import type { Address, Envelope } from "@handoffkit/core/Envelope"
import type { AddressTaken, Registry } from "@handoffkit/core/Registry"
import type { MailboxInvalid } from "@handoffkit/core/Mailbox"
import type { ActorInvalid } from "@handoffkit/core/Actor"
import * as options_ from "@handoffkit/core/internal/options"
import type * as Scope from "effect/Scope"
import * as caller from "./internal/caller.ts"
import { agentLine, dataBlock, dataRule, toolName } from "./internal/prompt.ts"

/**
 * A task an agent can own: its goal, and where its result goes.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * const task: Agent.Task = { goal: "review src/auth.ts", reportTo: "collector" }
 * console.log(task.reportTo) // "collector"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Task {
  readonly goal: string
  /** The address that receives the `Result` of whoever finishes the task. */
  readonly reportTo?: Address | undefined
}

/**
 * A message for an agent that hands it no task: a peer's note or a question.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * console.log(Agent.message("is the cache warm?")._tag) // "Message"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Message {
  readonly _tag: "Message"
  readonly text: string
  readonly reportTo?: Address | undefined
}

/**
 * What an agent's mailbox accepts: a handed-over task, or a message.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * const input: Agent.Input = Agent.message("hello")
 * console.log(input._tag) // "Message"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Input = Handoff.Transfer<Task> | Message

/**
 * How a turn ended.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * const outcome: Agent.Outcome = "handed-off"
 * console.log(outcome) // "handed-off"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome = "answered" | "handed-off" | "budget-exhausted" | "max-steps" | "failed"

/**
 * The result of a turn: sent to the task's `reportTo`, and the reply when the agent was asked.
 *
 * **Details**
 *
 * `text` is the answer (`"answered"`), the note handed over (`"handed-off"`, with `to`), or why the turn
 * stopped. `usage` is what this turn's model calls were charged.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * const result: Agent.Result = {
 *   _tag: "Result", agent: "reviewer", taskId: "task-1", outcome: "answered", text: "LGTM",
 *   usage: { calls: 1, tokensIn: 120, tokensOut: 4 }
 * }
 * console.log(result.outcome) // "answered"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Result {
  readonly _tag: "Result"
  readonly agent: Address
  readonly taskId: string | undefined
  readonly outcome: Outcome
  readonly text: string
  readonly to?: Address | undefined
  readonly usage: { readonly calls: number; readonly tokensIn: number; readonly tokensOut: number }
}

/**
 * A tool of the agent's own: a name and description the model sees, a Schema its arguments are decoded
 * with, and the effect that runs it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Agent } from "@handoffkit/llm"
 *
 * const wordCount: Agent.AgentTool = Agent.tool("word_count", {
 *   description: "Counts the words of a text",
 *   parameters: Schema.Struct({ text: Schema.String }),
 *   run: ({ text }) => Effect.succeed(text.split(/\s+/).length)
 * })
 * console.log(wordCount.name) // "word_count"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface AgentTool<R = never> {
  readonly name: string
  readonly description: string
  readonly parameters: Schema.Codec<any, any>
  readonly run: (params: any) => Effect.Effect<unknown, unknown, R>
}

/**
 * Makes a tool for an agent.
 *
 * **Details**
 *
 * Arguments the model sends that do not decode with `parameters` are not run: the model gets the decoding
 * error as the tool's result, so it can correct itself. A failing `run` is reported to the model the same
 * way. Results are sent to the model as JSON.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Agent } from "@handoffkit/llm"
 *
 * const lookup = Agent.tool("lookup", {
 *   description: "Finds a symbol's definition",
 *   parameters: Schema.Struct({ symbol: Schema.String }),
 *   run: ({ symbol }) => Effect.succeed(`${symbol} is defined in src/index.ts`)
 * })
 * console.log(lookup.description) // "Finds a symbol's definition"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const tool = <S extends Schema.Codec<any, any>, R = never>(
  name: string,
  options: {
    readonly description: string
    readonly parameters: S
    readonly run: (params: S["Type"]) => Effect.Effect<unknown, unknown, R>
  }
): AgentTool<R> => ({ name, ...options })

/**
 * Makes a `Message`.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * console.log(Agent.message("ping", { reportTo: "me" }).reportTo) // "me"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const message = (text: string, options?: { readonly reportTo?: Address | undefined }): Message => ({
  _tag: "Message",
  text,
  reportTo: options?.reportTo
})

/**
 * Makes a task handle to hand to an agent with `Handoff.send`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Handoff } from "@handoffkit/core"
 * import { Agent } from "@handoffkit/llm"
 *
 * const program = Agent.task("review the diff", { reportTo: "lead" }).pipe(Effect.flatMap(Handoff.get))
 * console.log(Effect.runSync(program).goal) // "review the diff"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const task = (
  goal: string,
  options?: { readonly reportTo?: Address | undefined; readonly context?: Handoff.HandoffContext | undefined }
): Effect.Effect<Handoff.Task<Task>> =>
  Handoff.make<Task>({ goal, reportTo: options?.reportTo }, options?.context)

/**
 * Prices per million tokens, to charge a budget's `cost` dimension (USD).
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * const price: Agent.Price = { inputPerMillion: 1.25, outputPerMillion: 10 }
 * console.log(price.outputPerMillion) // 10
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Price {
  readonly inputPerMillion: number
  readonly outputPerMillion: number
}

/**
 * How an agent is configured.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * const options: Agent.Options = { instructions: "Review code for bugs.", handoffTo: ["fixer"], maxSteps: 4 }
 * console.log(options.handoffTo) // ["fixer"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<R = never> {
  /** The agent's system prompt: the only text the model takes as instructions. */
  readonly instructions: string
  /** Peers this agent may hand its task to (a `handoff_to_<peer>` tool each). */
  readonly handoffTo?: ReadonlyArray<Address> | undefined
  /** Peers this agent may message (a `send_to_<peer>` tool each). */
  readonly sendTo?: ReadonlyArray<Address> | undefined
  readonly tools?: ReadonlyArray<AgentTool<R>> | undefined
  /** Charged for every model call. */
  readonly budget?: Budget.Budget | undefined
  /** The output bound of each call: reserved from the budget and sent as `max_output_tokens`. Default 1024. */
  readonly maxOutputTokens?: number | undefined
  /** Model calls per turn before the turn stops with `"max-steps"`. Default 8. */
  readonly maxSteps?: number | undefined
  /** Stream responses (`streamText`) instead of waiting for whole ones. Default false. */
  readonly stream?: boolean | undefined
  /** Prices, to charge the budget's `cost`. */
  readonly price?: Price | undefined
  /** Mailbox and supervision options of the underlying actor. */
  readonly actor?: Actor.Options | undefined
  /**
   * Bounds the context this agent hands over: the thread of notes is compacted (`Compactor.compact`) within
   * the policy's bound, and everything left out goes to the Corpus, recoverable byte for byte from the
   * refs. Needs a `Corpus` service. Without it, the whole thread is handed over.
   */
  readonly compaction?: Compactor.Policy | undefined
}

/**
 * An agent's configuration was refused; the message says what is wrong.
 *
 * **Example**
 *
 * ```ts
 * import { Agent } from "@handoffkit/llm"
 *
 * console.log(new Agent.AgentInvalid({ address: "a", reason: "two tools are named x" }).message)
 * // "agent a: two tools are named x"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class AgentInvalid extends Schema.TaggedError<AgentInvalid>()("AgentInvalid", {
  address: Schema.String,
  option: Schema.optionalKey(Schema.String),
  value: Schema.optionalKey(Schema.String),
  reason: Schema.String
}) {
  override get message() {
    return `agent ${this.address}: ${this.reason}`
  }
}

interface ToolCall {
  readonly id: string
  readonly name: string
  readonly params: unknown
}

interface Step {
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly usage: { readonly tokensIn: number; readonly tokensOut: number }
}

const HandoffParams = Schema.Struct({
  note: Schema.String.annotate({
    description: "What the peer needs to know to carry on: findings, state, next step."
  })
})
const SendParams = Schema.Struct({ text: Schema.String.annotate({ description: "The message." }) })

/**
 * The Schema every agent's {@link Options} are decoded with before the agent starts.
 *
 * **When to use**
 *
 * To check an agent configuration read from a file or made by a model before starting it.
 *
 * **Details**
 *
 * `instructions` is a string; `handoffTo` and `sendTo` lists of non-empty addresses; `maxOutputTokens` and
 * `maxSteps` positive integers; `stream` a boolean; `price` two non-negative finite prices per million
 * tokens; `budget` a `Budget`; `actor` decodes with `Actor.OptionsSchema`. {@link make} fails with
 * {@link AgentInvalid} naming the option and the value otherwise, before anything starts.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Agent } from "@handoffkit/llm"
 *
 * const valid = Schema.is(Agent.OptionsSchema)
 * console.log(valid({ instructions: "Review.", maxSteps: 4 }), valid({ instructions: "Review.", maxSteps: NaN }))
 * // true false
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const OptionsSchema = Schema.Struct({
  instructions: Schema.String,
  handoffTo: options_.optional(Schema.Array(options_.Name)),
  sendTo: options_.optional(Schema.Array(options_.Name)),
  tools: options_.optional(Schema.Array(Schema.Unknown)),
  budget: options_.optional(options_.Branded<Budget.Budget>(Budget.TypeId, "a Budget")),
  maxOutputTokens: options_.optional(options_.PositiveInt),
  maxSteps: options_.optional(options_.PositiveInt),
  stream: options_.optional(Schema.Boolean),
  price: options_.optional(
    Schema.Struct({
      inputPerMillion: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
      outputPerMillion: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
    })
  ),
  actor: options_.optional(Actor.OptionsSchema)
})

/**
 * Starts an agent at `address`.
 *
 * **When to use**
 *
 * To put a model in a topology: hand it tasks with `Handoff.send`, ask it with `Actor.ask` (the reply is its
 * `Result`), or let peers reach it through their `handoff_to_`/`send_to_` tools.
 *
 * **Details**
 *
 * Needs a `LanguageModel` (for example `OpenAi.layer`) and the actor Registry. A turn runs model calls until
 * the model answers without calling a tool, hands the task off, or the budget or `maxSteps` stops it. Its
 * `Result` goes to the task's (or message's) `reportTo`, unless the task was handed off (whoever finishes it
 * reports), and is the reply to an ask; a `reportTo` that names
 * no actor makes the result a dead letter (`"no-such-address"`), never a silent loss. A model error after the
 * provider's retries ends the turn with outcome `"failed"`; the agent goes on with its next message.
 * Fails with `AgentInvalid` when two tools would share a name.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Actor } from "@handoffkit/core"
 * import { Agent, OpenAi, ScriptedServer } from "@handoffkit/llm"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make([ScriptedServer.Turn.text("Looks correct.")])
 *   const reviewer = yield* Agent.make("reviewer", { instructions: "Review the code you are given." }).pipe(
 *     Effect.provide(OpenAi.layer({ model: "gpt-5.5", baseURL: server.url }))
 *   )
 *   const result = yield* Actor.ask(reviewer, Agent.message("const x = 1"))
 *   return [result.outcome, result.text]
 * }).pipe(Effect.scoped, Effect.provide(Actor.layer))
 * Effect.runPromise(program).then(console.log) // ["answered", "Looks correct."]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R = never>(
  address: Address,
  options: Options<R>
): Effect.Effect<
  Actor.ActorRef<Input, Result>,
  AgentInvalid | AddressTaken | MailboxInvalid | ActorInvalid,
  Scope.Scope | Registry | LanguageModel.LanguageModel | R
> =>
  Effect.gen(function* () {
    const refused = options_.check(OptionsSchema, options)
    if (refused !== undefined) {
      return yield* new AgentInvalid({
        address,
        option: refused.option,
        value: refused.value,
        reason: `invalid option "${refused.option}" (${refused.value}): ${refused.problem}`
      })
    }
    const model = yield* LanguageModel.LanguageModel
    const tracer = yield* Tracer.CurrentTracer
    const handoffTools = new Map(
      (options.handoffTo ?? []).map((peer) => [toolName("handoff_to_", peer), peer])
    )
    const sendTools = new Map((options.sendTo ?? []).map((peer) => [toolName("send_to_", peer), peer]))
    const ownTools = new Map((options.tools ?? []).map((t) => [t.name, t]))
    const names = [...handoffTools.keys(), ...sendTools.keys(), ...(options.tools ?? []).map((t) => t.name)]
    const duplicate = names.find((name, i) => names.indexOf(name) !== i)
    if (duplicate !== undefined) {
      return yield* new AgentInvalid({ address, reason: `two tools are named ${duplicate}` })
    }
    const modelTools = [
      ...[...handoffTools].map(([name, peer]) =>
        Tool.dynamic(name, {
          description: `Hand the whole task to ${peer}, with a note. You stop working on it: ${peer} owns it.`,
          parameters: HandoffParams
        })
      ),
      ...[...sendTools].map(([name, peer]) =>
        Tool.dynamic(name, {
          description: `Send a message to ${peer}. You keep the task.`,
          parameters: SendParams
        })
      ),
      ...(options.tools ?? []).map((t) =>
        Tool.dynamic(t.name, { description: t.description, parameters: t.parameters })
      )
    ]
    const toolkit = Toolkit.make(...modelTools)
    // The tool definitions are part of every request's input: their bytes bound their tokens.
    const toolBytes = encoder.encode(
      JSON.stringify(modelTools.map((t) => [t.name, Tool.getDescription(t), Tool.getJsonSchema(t)]))
    ).length
    const system = [
      options.instructions,
      agentLine(address),
      dataRule,
      handoffTools.size > 0
        ? "To give the task to a peer, call its handoff_to_ tool with a note; after that the task is theirs."
        : ""
    ]
      .filter((line) => line !== "")
      .join("\n\n")
    const compaction = options.compaction
    const corpus = yield* Effect.serviceOption(Corpus.Corpus)
    if (compaction !== undefined && corpus._tag === "None") {
      return yield* new AgentInvalid({
        address,
        reason: "compaction needs a Corpus service (Corpus.layerMemory, …)"
      })
    }
    // The context handed over with a note: the received one plus the note, compacted when a policy is set
    // (everything the bound leaves out stays recoverable from the refs).
    const handOver = (received: Handoff.HandoffContext, note: string) =>
      compaction === undefined || corpus._tag === "None"
        ? Effect.succeed<Handoff.HandoffContext>({
            summary: note,
            refs: received.refs,
            thread: [...received.thread, { from: address, text: note }]
          })
        : Effect.gen(function* () {
            const items = yield* Compactor.recover(received)
            return yield* Compactor.compact([...items, { from: address, text: note }], compaction, {
              actor: address
            })
          }).pipe(Effect.provideService(Corpus.Corpus, corpus.value))
    const maxOutputTokens = options.maxOutputTokens ?? 1024
    const maxSteps = options.maxSteps ?? 8
    const budget = options.budget
    const context = yield* Effect.context<R>()

    // One model call, charged to the budget. `reported` holds the usage the provider has reported so far, so an
    // interrupted call commits exactly that (and the call itself).
    const callModel = (
      prompt: Prompt.Prompt,
      cause: { readonly id: string; readonly correlationId?: string | undefined }
    ) => {
      let reported = { tokensIn: 0, tokensOut: 0 }
      const request: Effect.Effect<Step, unknown> = options.stream
        ? Effect.gen(function* () {
            let text = ""
            let finished = false
            const toolCalls: Array<ToolCall> = []
            yield* model
              .streamText({
                prompt,
                toolkit,
                disableToolCallResolution: true,
                toolCallValidation: "deferred"
              })
              .pipe(
                Stream.runForEach((part) =>
                  Effect.sync(() => {
                    if (part.type === "text-delta") text += part.delta
                    else if (part.type === "tool-call")
                      toolCalls.push({ id: part.id, name: part.name, params: part.params })
                    else if (part.type === "finish") {
                      finished = true
                      reported = {
                        tokensIn: part.usage.inputTokens.total ?? 0,
                        tokensOut: part.usage.outputTokens.total ?? 0
                      }
                    }
                  })
                )
              )
            // Whatever the provider: a stream without its finish part is an incomplete answer, not an answer.
            if (!finished) {
              return yield* AiError.make({
                module: "Agent",
                method: "streamText",
                reason: new AiError.InvalidOutputError({
                  description: "the model's stream ended before its finish"
                })
              })
            }
            return { text, toolCalls, usage: reported }
          })
        : Effect.map(
            model.generateText({
              prompt,
              toolkit,
              disableToolCallResolution: true,
              toolCallValidation: "deferred"
            }),
            (response) => {
              reported = {
                tokensIn: response.usage.inputTokens.total ?? 0,
                tokensOut: response.usage.outputTokens.total ?? 0
              }
              return {
                text: response.text,
                toolCalls: response.toolCalls.map((call) => ({
                  id: call.id,
                  name: call.name,
                  params: call.params
                })),
                usage: reported
              }
            }
          )
      const traced = request.pipe(
        Effect.provideService(caller.CurrentCaller, {
          actor: address,
          causationId: cause.id,
          correlationId: cause.correlationId,
          maxOutputTokens
        })
      )
      if (budget === undefined) return traced
      const charge = (usage: { readonly tokensIn: number; readonly tokensOut: number }): Budget.Usage => ({
        calls: 1,
        tokensIn: usage.tokensIn,
        tokensOut: usage.tokensOut,
        ...(options.price === undefined ? {} : { cost: costOf(options.price, usage) })
      })
      const bound = { tokensIn: inputBound(prompt) + toolBytes, tokensOut: maxOutputTokens }
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Budget.reserve(budget, charge(bound)), (reservation) =>
          Effect.flatMap(Effect.exit(restore(traced)), (exit) =>
            Effect.andThen(
              Budget.commit(reservation, charge(Exit.isSuccess(exit) ? exit.value.usage : reported)),
              exit
            )
          )
        )
      )
    }

    const runTool = (
      call: ToolCall,
      own: AgentTool<R>
    ): Effect.Effect<{ readonly result: unknown; readonly isFailure: boolean }> =>
      Schema.decodeUnknownEffect(own.parameters)(call.params).pipe(
        Effect.flatMap((params) => own.run(params)),
        Effect.map((result) => ({ result, isFailure: false })),
        Effect.catchCause((cause) =>
          Effect.succeed({
            result: { error: cause.toString().slice(0, 2000) },
            isFailure: true
          })
        ),
        Effect.provide(context)
      ) as Effect.Effect<{ readonly result: unknown; readonly isFailure: boolean }>

    const emitTool = (
      kind: "tool.call" | "tool.result",
      call: ToolCall,
      cause: string,
      data: Record<string, string | number>
    ) => {
      if (tracer.enabled) {
        tracer.emit({
          kind,
          actor: address,
          messageId: call.id,
          causationId: cause,
          data: { tool: call.name, ...data }
        })
      }
    }

    const receive = (envelope: Envelope<Input>, ctx: Actor.ActorContext<Input, Result>) =>
      Effect.gen(function* () {
        const input = envelope.payload
        // The task this turn owns, if any, and the data blocks the model reads.
        let handle: Handoff.Task<Task> | undefined
        let goal: string
        let reportTo: Address | undefined
        let handedContext: Handoff.HandoffContext = Handoff.emptyContext
        const blocks: Array<string> = []
        if (input._tag === "Transfer") {
          handle = input.task
          const owned = yield* Handoff.get(input.task)
          goal = owned.goal
          reportTo = owned.reportTo
          handedContext = input.context
          blocks.push(dataBlock({ kind: "task", id: handle.id, from: input.from }, goal))
          if (input.context.summary !== "") {
            blocks.push(dataBlock({ kind: "handoff-note", from: input.from }, input.context.summary))
          }
          for (const entry of input.context.thread)
            blocks.push(dataBlock({ kind: "thread", from: entry.from }, entry.text))
          for (const ref of input.context.refs) blocks.push(dataBlock({ kind: "corpus-ref" }, ref))
        } else {
          goal = input.text
          reportTo = input.reportTo
          blocks.push(dataBlock({ kind: "message", from: envelope.from }, input.text))
        }
        let prompt = Prompt.make([
          { role: "system", content: system },
          { role: "user", content: blocks.join("\n\n") }
        ])
        const spent = { calls: 0, tokensIn: 0, tokensOut: 0 }
        const finish = (outcome: Outcome, text: string, to?: Address) =>
          report(ctx, envelope, reportTo, {
            _tag: "Result",
            agent: address,
            taskId: handle?.id,
            outcome,
            text,
            to,
            usage: { ...spent }
          })
        const cause = { id: envelope.id, correlationId: envelope.correlationId }

        for (let step = 0; step < maxSteps; step++) {
          if (budget !== undefined) {
            // The budget case outranks going on: a spent budget ends the turn before another call.
            const spentOut = yield* Select.select(
              Select.budget(budget, () => Effect.succeed(true)),
              Select.orElse(() => Effect.succeed(false))
            ).pipe(Effect.orDie)
            if (spentOut) return yield* finish("budget-exhausted", "the budget is spent")
          }
          const exit = yield* Effect.exit(callModel(prompt, cause))
          if (Exit.isFailure(exit)) {
            const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
            if (failure === undefined) return yield* Effect.failCause(exit.cause) // interrupts and defects
            spent.calls += 1
            const error = failure.error
            if (error instanceof Budget.BudgetExceeded)
              return yield* finish("budget-exhausted", error.message)
            return yield* finish("failed", error instanceof Error ? error.message : String(error))
          }
          const stepResult = exit.value
          spent.calls += 1
          spent.tokensIn += stepResult.usage.tokensIn
          spent.tokensOut += stepResult.usage.tokensOut
          if (stepResult.toolCalls.length === 0) return yield* finish("answered", stepResult.text)

          const results: Array<{
            readonly call: ToolCall
            readonly result: unknown
            readonly isFailure: boolean
          }> = []
          // A tool call that could not be carried out: the model reads why, the trace says what failed.
          const refuse = (call: ToolCall, error: string, failure: string) => {
            results.push({ call, result: { error }, isFailure: true })
            emitTool("tool.result", call, cause.id, { failure })
          }
          for (const call of stepResult.toolCalls) {
            emitTool("tool.call", call, cause.id, {})
            const peer = handoffTools.get(call.name)
            if (peer !== undefined) {
              const params = yield* Schema.decodeUnknownEffect(HandoffParams)(call.params).pipe(Effect.option)
              if (params._tag === "None") {
                refuse(call, "expected { note: string }", "bad arguments")
                continue
              }
              const note = params.value.note
              const target = yield* Actor.lookup<Handoff.Transfer<Task>>(peer).pipe(Effect.option)
              if (target._tag === "None") {
                refuse(call, `no agent is at ${peer}`, "no such peer")
                continue
              }
              const context = yield* Effect.result(handOver(handedContext, note))
              if (context._tag === "Failure") {
                refuse(call, context.failure.message, context.failure._tag)
                continue
              }
              // A message brought no task: the handoff makes one of its text.
              const owned = handle ?? (yield* task(goal, { reportTo }))
              const handed = yield* Handoff.sendFrom(ctx, owned, target.value, {
                context: context.success
              }).pipe(Effect.result)
              if (handed._tag === "Failure") {
                refuse(call, handed.failure.message, handed.failure._tag)
                continue
              }
              emitTool("tool.result", call, cause.id, { to: peer })
              return yield* finish("handed-off", note, peer)
            }
            const sendPeer = sendTools.get(call.name)
            if (sendPeer !== undefined) {
              const params = yield* Schema.decodeUnknownEffect(SendParams)(call.params).pipe(Effect.option)
              const target = yield* Actor.lookup<Input>(sendPeer).pipe(Effect.option)
              const error =
                params._tag === "None"
                  ? "expected { text: string }"
                  : target._tag === "None"
                    ? `no agent is at ${sendPeer}`
                    : yield* ctx.send(target.value, message(params.value.text)).pipe(
                        Effect.as(undefined),
                        Effect.catch((error) => Effect.succeed(error.message))
                      )
              if (error !== undefined) {
                refuse(call, error, error)
                continue
              }
              results.push({ call, result: { sent: true }, isFailure: false })
              emitTool("tool.result", call, cause.id, { to: sendPeer })
              continue
            }
            const own = ownTools.get(call.name)
            if (own === undefined) {
              refuse(call, `there is no tool named ${call.name}`, "no such tool")
              continue
            }
            const outcome = yield* runTool(call, own)
            results.push({ call, ...outcome })
            emitTool("tool.result", call, cause.id, outcome.isFailure ? { failure: "tool failed" } : {})
          }
          prompt = Prompt.concat(
            prompt,
            Prompt.make([
              {
                role: "assistant",
                content: [
                  ...(stepResult.text === "" ? [] : [{ type: "text" as const, text: stepResult.text }]),
                  ...stepResult.toolCalls.map((call) => ({
                    type: "tool-call" as const,
                    id: call.id,
                    name: call.name,
                    params: call.params,
                    providerExecuted: false
                  }))
                ]
              },
              {
                role: "tool",
                content: results.map(({ call, isFailure, result }) => ({
                  type: "tool-result" as const,
                  id: call.id,
                  name: call.name,
                  isFailure,
                  result,
                  providerExecuted: false
                }))
              }
            ])
          )
        }
        return yield* finish("max-steps", `stopped after ${maxSteps} model calls`)
      })

    // Each turn is a span (child of the span current when the agent was made, so a request that starts
    // agents sees their turns under it), carrying the message's ids so OpenTelemetry shows the causal chain.
    const turn = (envelope: Envelope<Input>, ctx: Actor.ActorContext<Input, Result>) =>
      receive(envelope, ctx).pipe(
        Effect.withSpan("handoffkit.agent.turn", {
          attributes: {
            "handoffkit.agent": address,
            "handoffkit.message_id": envelope.id,
            "handoffkit.causation_id": envelope.causationId ?? "",
            "handoffkit.correlation_id": envelope.correlationId ?? "",
            "handoffkit.from": envelope.from
          }
        })
      )
    return yield* Actor.make<Input, Result, Registry>(address, turn, options.actor)
  })

const costOf = (price: Price, usage: { readonly tokensIn: number; readonly tokensOut: number }): number =>
  (usage.tokensIn * price.inputPerMillion + usage.tokensOut * price.outputPerMillion) / 1_000_000

// An upper bound of a request's input tokens: a byte-level tokenizer never makes more tokens than bytes, plus
// a margin for the message framing the provider adds.
const encoder = new TextEncoder()
const inputBound = (prompt: Prompt.Prompt): number =>
  encoder.encode(JSON.stringify(prompt.content)).length + 64 * (prompt.content.length + 1)

// The result goes to `reportTo` (a dead letter if nobody is there) and answers an ask.
const report = (
  ctx: Actor.ActorContext<Input, Result>,
  envelope: Envelope<Input>,
  reportTo: Address | undefined,
  result: Result
) =>
  Effect.gen(function* () {
    // A handed-off task is not finished: its result comes from whoever finishes it.
    if (reportTo !== undefined && result.outcome !== "handed-off") {
      const target = yield* Actor.lookup<Result>(reportTo).pipe(Effect.option)
      const sent =
        target._tag === "Some"
          ? yield* ctx
              .send(target.value, result, { correlationId: envelope.correlationId })
              .pipe(Effect.isSuccess)
          : false
      if (!sent) {
        const sink = yield* DeadLetter.DeadLetters
        sink.publish({
          mailbox: reportTo,
          message: result,
          reason: target._tag === "Some" ? "closed" : "no-such-address"
        })
      }
    }
    if (envelope.replyTo !== undefined) yield* ctx.reply(result).pipe(Effect.ignore)
  })
