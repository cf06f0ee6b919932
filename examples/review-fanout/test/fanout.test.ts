import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Actor, Tracer } from "@handoffkit/core"
import { OpenAi, ScriptedServer } from "@handoffkit/llm"
import { Invariants } from "@handoffkit/testing"
import { review, reviewers, sample, script } from "../src/fanout.ts"

describe("review-fanout example", () => {
  it.live("three reviewers with disjoint scopes, one joined round of their findings", () =>
    Effect.gen(function* () {
      const { events, tracer } = Tracer.memory()
      const server = yield* ScriptedServer.make(script)
      const result = yield* review(sample).pipe(
        Effect.scoped,
        Effect.provide([OpenAi.layer({ model: "gpt-test", baseURL: server.url }), Actor.layer]),
        Effect.provideService(Tracer.CurrentTracer, tracer)
      )
      console.log(result.findings.map((f) => `[${f.reviewer}] ${f.text}`).join("\n"))
      assert.deepStrictEqual(
        result.findings.map((f) => f.reviewer).toSorted(),
        reviewers.map((r) => r.name).toSorted()
      )
      assert.include(result.findings.find((f) => f.reviewer === "security")!.text, "constant-time")
      assert.strictEqual(result.spent.calls, 3)
      assert.strictEqual(result.spent.tokensOut, 22 + 24 + 12)

      // Each reviewer's instructions name only its own scope; the code reaches every one of them as data.
      const requests = yield* server.requests
      assert.strictEqual(requests.length, 3)
      for (const request of requests) {
        const input = (request.body as { input: Array<{ role: string; content: any }> }).input
        const developer = String(input.find((item) => item.role === "developer")!.content)
        const own = reviewers.filter((r) => developer.includes(r.scope))
        assert.strictEqual(own.length, 1, "exactly one scope in the instructions")
        assert.notInclude(developer, "users.find")
        assert.include(JSON.stringify(input.filter((item) => item.role === "user")), "users.find")
      }
      // The join completed one round with the lead's correlation id; the trace is complete and causal.
      const complete = events.filter((e) => e.kind === "join.complete")
      assert.strictEqual(complete.length, 1)
      assert.strictEqual(complete[0]!.correlationId, result.correlationId)
      assert.deepStrictEqual(Invariants.all(events), [])
    }).pipe(Effect.scoped)
  )
})
