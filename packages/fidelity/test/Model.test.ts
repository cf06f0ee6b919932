import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { LanguageModel } from "effect/ai"
import { Corpus } from "@handoffkit/core"
import { OpenAi, ScriptedServer } from "@handoffkit/llm"
import * as Fidelity from "../src/Fidelity.ts"
import * as Model from "../src/Model.ts"
import * as Probe from "../src/Probe.ts"
import * as Scenario from "../src/Scenario.ts"
import * as Strategy from "../src/Strategy.ts"

const handoffOf = Effect.gen(function* () {
  const scenario = yield* Scenario.generate(5, { hops: 4, bytes: 64 * 1024 })
  const chain = yield* Fidelity.run(scenario, Strategy.byName("structured"), 2048).pipe(
    Effect.provide(Corpus.layerMemory)
  )
  return { context: chain.final, probes: Probe.probesOf(scenario) }
})

describe("Model", () => {
  it.effect("over HTTP on 127.0.0.1: the model gets only the handoff, and answers count by exact match", () =>
    Effect.gen(function* () {
      const { context, probes } = yield* handoffOf
      // A scripted model answering the first half right and the rest with the value cut by one character.
      const answers = probes.map((probe, i) =>
        i % 2 === 0 ? Probe.expected(probe) : Probe.expected(probe).slice(0, -1)
      )
      const server = yield* ScriptedServer.make([
        ScriptedServer.Turn.text(`Sure:\n${JSON.stringify(answers)}`)
      ])
      const model = yield* OpenAi.make({ model: "scripted", baseURL: server.url })
      const scored = yield* Model.ask(context, probes).pipe(
        Effect.provideService(LanguageModel.LanguageModel, model)
      )
      assert.deepStrictEqual(
        scored,
        probes.map((_, i) => i % 2 === 0)
      )
      const [request] = yield* server.requests
      const body = JSON.stringify(request.body)
      assert.include(body, JSON.stringify(JSON.stringify(context)).slice(1, -1))
      assert.include(body, `${probes.length}. `)
    }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!process.env.OPENAI_API_KEY)(
    "a real model (OPENAI_API_KEY set) reads the structured handoff",
    () =>
      Effect.gen(function* () {
        const { context, probes } = yield* handoffOf
        const scored = yield* Model.ask(context, probes).pipe(Effect.provide(OpenAi.layerConfig))
        const answered = scored.filter(Boolean).length
        console.error(`real model: ${answered} of ${probes.length} probes answered from a 2 KiB handoff`)
        assert.strictEqual(scored.length, probes.length)
      })
  )
})
