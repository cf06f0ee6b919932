/**
 * First two of three: the same question goes to three answering agents, the first two answers win, and
 * the third agent is stopped, which aborts its model request.
 */
import { Effect } from "effect"
import type { LanguageModel } from "effect/ai"
import { Actor, Budget, Quorum } from "@handoffkit/core"
import type { Registry } from "@handoffkit/core/Registry"
import { Agent, ScriptedServer } from "@handoffkit/llm"

/** The answerers. Each runs with its own instructions, so their answers are independent. */
export const answerers = [
  { name: "careful", instructions: "Answer precisely and say how sure you are." },
  { name: "quick", instructions: "Answer in one sentence." },
  { name: "thorough", instructions: "Answer with the reasoning behind it." }
] as const

/** The first `k` answers, in the order they came, and what the question cost. */
export interface Answers {
  readonly answers: ReadonlyArray<Agent.Result>
  readonly spent: Budget.Amounts
}

// One answerer, alive only while its answer is awaited: when the quorum interrupts it, its scope closes,
// the agent stops, and its HTTP request is aborted.
const answer = (question: string, who: (typeof answerers)[number], budget: Budget.Budget) =>
  Effect.scoped(
    Effect.gen(function* () {
      const agent = yield* Agent.make(who.name, { instructions: who.instructions, budget })
      const result = yield* Actor.ask(agent, Agent.message(question), { timeout: "2 minutes" })
      if (result.outcome !== "answered") return yield* Effect.fail(result)
      return result
    })
  )

/** Asks all answerers and returns the first `k` answers. */
export const ask = (
  question: string,
  k = 2
): Effect.Effect<
  Answers,
  Quorum.QuorumFailed | Budget.BudgetInvalid,
  LanguageModel.LanguageModel | Registry
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const budget = yield* Budget.make({ calls: answerers.length, tokensOut: 10_000 })
      const answers = yield* Quorum.firstK(
        answerers.map((who) => answer(question, who, budget)),
        k
      )
      return { answers, spent: (yield* Budget.snapshot(budget)).spent }
    })
  )

/** Offline answers: two come quickly, the third never finishes (its request hangs until aborted). */
export const script: ScriptedServer.Script = ScriptedServer.byAgent({
  quick: [ScriptedServer.Turn.text("Use a bounded mailbox.", { delayMs: 10 })],
  careful: [ScriptedServer.Turn.text("A bounded mailbox with back-pressure; fairly sure.", { delayMs: 40 })],
  thorough: [ScriptedServer.Turn.hang()]
})
