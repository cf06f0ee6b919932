/**
 * The service's parallelism: the scripted model answers every call after 1 s, so one review (three agents
 * calling the model at once) takes a little over 1 s. 50 concurrent reviews take about as long if requests
 * never wait on one another (a shared lock, mailbox or budget would serialize them).
 *
 * `service.parallelism`: value = requests per second with 50 in flight; baseline = 50 × the rate of one
 * request alone (perfect parallelism), both measured in the same run after a warm-up. The ratio is
 * (wall time of one request alone) / (wall time of 50 concurrent requests); target >= 0.6.
 */
import { Effect, Exit, Scope } from "effect"
import type { Benchmark } from "../../../scripts/bench-types.d.ts"
import * as Review from "../src/Review.ts"
import { post, start } from "../test/harness.ts"

const concurrent = 50
const modelDelayMs = 1000

// A full collection before each measurement, so that neither pays for the garbage of what came before.
const collect = (): void => (globalThis as { gc?: () => void }).gc?.()

const wallMs = async (requests: number, url: string): Promise<number> => {
  const begin = performance.now()
  const replies = await Promise.all(
    Array.from({ length: requests }, (_, i) =>
      post(url, { code: `${Review.sample}\n// #${i}` }, { timeoutMs: 30_000 })
    )
  )
  const ms = performance.now() - begin
  const failed = replies.find((reply) => reply.status !== 200)
  if (failed !== undefined)
    throw new Error(`a request failed: ${failed.status} ${JSON.stringify(failed.body)}`)
  return ms
}

const parallelism: Benchmark = {
  name: "service.parallelism",
  unit: "req/s",
  baseline: `${concurrent} × the rate of one request alone`,
  expect: { ratioAtLeast: 0.6 },
  run: async () => {
    let delayMs = 0
    const scope = Effect.runSync(Scope.make())
    try {
      const service = await Effect.runPromise(
        start({
          script: (request) => Review.script({ delayMs })(request),
          service: { log: false },
          scope
        }).pipe(Scope.provide(scope))
      )
      // Warm-up without the model's delay: code paths compiled, connections to the model opened.
      for (let i = 0; i < 3; i++) await wallMs(concurrent, service.url)
      delayMs = modelDelayMs
      collect()
      const one = await wallMs(1, service.url)
      collect()
      const many = await wallMs(concurrent, service.url)
      console.error(`one request: ${one.toFixed(0)} ms; ${concurrent} concurrent: ${many.toFixed(0)} ms`)
      return { value: (concurrent * 1000) / many, baseline: (concurrent * 1000) / one }
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

export default [parallelism]
