import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Actor, Tracer } from "@handoffkit/core"
import { OpenAi, ScriptedServer } from "@handoffkit/llm"
import { Invariants } from "@handoffkit/testing"
import { ask, script } from "../src/quorum.ts"

describe("quorum example", () => {
  it.live("the first two of three answers win; the third agent's request is aborted", () =>
    Effect.gen(function* () {
      const { events, tracer } = Tracer.memory()
      const server = yield* ScriptedServer.make(script)
      const result = yield* ask("how to avoid flooding a consumer?").pipe(
        Effect.provide([OpenAi.layer({ model: "gpt-test", baseURL: server.url }), Actor.layer]),
        Effect.provideService(Tracer.CurrentTracer, tracer)
      )
      console.log(result.answers.map((a) => `[${a.agent}] ${a.text}`).join("\n"))
      assert.deepStrictEqual(
        result.answers.map((a) => a.agent),
        ["quick", "careful"]
      )
      // The loser was asked, then cut off: its connection closed, its call charged, nothing left reserved.
      yield* server.awaitDisconnect.pipe(Effect.timeout("5 seconds"))
      const requests = yield* server.requests
      assert.strictEqual(requests.length, 3)
      assert.deepStrictEqual(
        requests.filter((r) => r.closedEarly).map((r) => r.turn?._tag),
        ["Hang"]
      )
      // firstK returns once the loser is stopped: its call is charged, but no tokens, since it reported none.
      assert.strictEqual(result.spent.calls, 3)
      assert.strictEqual(result.spent.tokensOut, 5 + 5, "the two answers' output tokens only")
      const exits = events.filter((e) => e.kind === "exit").map((e) => [e.actor, e.data?.outcome])
      assert.deepStrictEqual(
        exits.find(([actor]) => actor === "thorough"),
        ["thorough", "interrupted"]
      )
      assert.deepStrictEqual(Invariants.all(events), [])
    }).pipe(Effect.scoped)
  )
})
