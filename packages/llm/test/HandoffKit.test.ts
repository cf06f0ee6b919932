import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { Actor, Budget, Corpus, Tracer } from "@handoffkit/core"
import { Agent, HandoffKit, OpenAi, ScriptedServer } from "@handoffkit/llm"

const { Turn } = ScriptedServer

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "handoffkit-layer-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

// The model at `url`, through the kit's own provider.
const modelAt = (url: string) =>
  OpenAi.layer({ model: "gpt-test", baseURL: url, retry: { times: 0, base: 0, cap: 0, jitter: false } })

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))

describe("HandoffKit layers", () => {
  it.live(
    "the composed layer from the environment: JSONL trace flushed at close, corpus on disk, budget",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const traceFile = path.join(dir, "trace.jsonl")
        const env = {
          HANDOFFKIT_TRACE_FILE: traceFile,
          HANDOFFKIT_CORPUS_DIR: path.join(dir, "corpus"),
          HANDOFFKIT_BUDGET_CALLS: "5",
          HANDOFFKIT_BUDGET_TOKENS_OUT: "5000"
        }
        const server = yield* ScriptedServer.make([Turn.text("reviewed", { usage: { output_tokens: 12 } })])
        const kit = HandoffKit.layerWith({ model: modelAt(server.url) }).pipe(Layer.provide(withEnv(env)))
        const result = yield* Effect.gen(function* () {
          const root = yield* HandoffKit.ServiceBudget
          const ref = yield* Corpus.put("a finding worth keeping", { namespace: "findings" })
          const reviewer = yield* Agent.make("reviewer", { instructions: "Review.", budget: root })
          const answer = yield* Actor.ask(reviewer, Agent.message("x = 1"))
          return { answer, ref, snapshot: yield* Budget.snapshot(root) }
        }).pipe(Effect.scoped, Effect.provide(kit))
        assert.strictEqual(result.answer.text, "reviewed")
        assert.strictEqual(result.snapshot.limits.calls, 5)
        assert.strictEqual(result.snapshot.spent.tokensOut, 12)
        // The corpus was on disk: a fresh file-system corpus on the same directory resolves the ref.
        const again = yield* Corpus.getText(result.ref).pipe(
          Effect.provide(
            Corpus.layerFileSystem(env.HANDOFFKIT_CORPUS_DIR).pipe(Layer.provide(NodeServices.layer))
          )
        )
        assert.strictEqual(again, "a finding worth keeping")
        // The layer is closed: every event is in the file, down to the agent's exit.
        const { events, torn } = yield* Tracer.readJsonl(traceFile).pipe(Effect.provide(NodeServices.layer))
        assert.isUndefined(torn)
        const kinds = events.map((e) => e.kind)
        for (const kind of [
          "spawn",
          "receive",
          "model.request",
          "model.response",
          "budget.commit",
          "exit"
        ] as const) {
          assert.include(kinds, kind)
        }
        assert.isAbove(kinds.lastIndexOf("exit"), kinds.indexOf("model.response"))
      }).pipe(Effect.scoped)
  )

  it.effect("each service can be replaced by a Layer of the user's", () =>
    Effect.gen(function* () {
      const { events, tracer } = Tracer.memory()
      const kit = HandoffKit.layerWith({
        tracer: Layer.succeed(Tracer.CurrentTracer, tracer),
        corpus: Corpus.layerMemory,
        budget: HandoffKit.layerBudget({ calls: 2 }),
        model: modelAt("http://127.0.0.1:9/v1")
      })
      const snapshot = yield* Effect.gen(function* () {
        const root = yield* HandoffKit.ServiceBudget
        yield* Budget.spend(root, { calls: 1 })
        return yield* Budget.snapshot(root)
      }).pipe(Effect.provide(kit))
      assert.strictEqual(snapshot.limits.calls, 2)
      assert.strictEqual(snapshot.spent.calls, 1)
      // The budget traced into the user's tracer: the tracer layer is built before the others.
      assert.isTrue(events.some((e) => e.kind === "budget.commit"))
    })
  )

  it.effect("budget limits from the environment; unset limits are unlimited", () =>
    Effect.gen(function* () {
      const limits = yield* HandoffKit.budgetConfig.parse(
        ConfigProvider.fromUnknown({ HANDOFFKIT_BUDGET_COST: "2.5", HANDOFFKIT_BUDGET_CALLS: "30" })
      )
      assert.deepStrictEqual(limits, { calls: 30, cost: 2.5 })
      const bad = yield* Effect.flip(
        HandoffKit.budgetConfig.parse(ConfigProvider.fromUnknown({ HANDOFFKIT_BUDGET_CALLS: "thirty" }))
      )
      assert.include(String(bad), "HANDOFFKIT_BUDGET_CALLS")
    })
  )
})
