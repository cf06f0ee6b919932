import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Scope } from "effect"
import { Budget, Tracer } from "@handoffkit/core"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Review from "../src/Review.ts"
import {
  drain,
  eventually,
  getTrace,
  hanging,
  hangingScript,
  post,
  postEvents,
  start,
  waitUntil
} from "./harness.ts"

const names = Review.reviewers.map((r) => r.name)
const agentsOf = (runId: string) => names.map((name) => Review.address(runId, name))

// Every actor a run spawned has exited, and each agent's exit says how.
const exits = (events: ReadonlyArray<Tracer.Event>, runId: string) => {
  const mine = events.filter((e) => e.actor.startsWith(`${runId}/`))
  const spawned = mine.filter((e) => e.kind === "spawn").map((e) => e.actor)
  const exited = new Map(
    mine.filter((e) => e.kind === "exit").map((e) => [e.actor, (e.data as { outcome: string }).outcome])
  )
  return { spawned, exited }
}

describe("effect-service", () => {
  it.live(
    "POST /reviews returns the joined findings as JSON, and GET /runs/:id/trace the run's trace",
    () =>
      Effect.gen(function* () {
        const service = yield* start({ script: Review.script() })
        const reply = yield* Effect.promise(() => post(service.url, { code: Review.sample, language: "js" }))
        assert.strictEqual(reply.status, 200)
        assert.strictEqual(reply.runId, reply.body.runId)
        assert.deepStrictEqual(
          reply.body.findings.map((f: Review.Finding) => f.reviewer),
          names
        )
        assert.include(reply.body.findings[0].text, "constant-time")
        assert.isTrue(reply.body.findings.every((f: Review.Finding) => f.outcome === "answered"))
        assert.deepStrictEqual(reply.body.spent, { calls: 3, tokensIn: 530, tokensOut: 58, cost: 0 })

        // The code reached each reviewer as data, with the run's id as correlation id in the trace.
        const requests = yield* service.model.requests
        assert.strictEqual(requests.length, 3)
        assert.deepStrictEqual(requests.map(Review.reviewerOf).toSorted(), names.toSorted())
        for (const request of requests) assert.include(JSON.stringify(request.body), "users.find")

        const trace = yield* Effect.promise(() => getTrace(service.url, reply.body.runId))
        assert.strictEqual(trace.status, 200)
        assert.strictEqual(trace.body.status, "completed")
        const events: Array<Tracer.Event> = trace.body.events
        const complete = events.filter((e) => e.kind === "join.complete")
        assert.strictEqual(complete.length, 1)
        assert.strictEqual(complete[0]!.correlationId, reply.body.runId)
        assert.strictEqual(events.filter((e) => e.kind === "model.request").length, 3)
        const missing = yield* Effect.promise(() => getTrace(service.url, "run-nope"))
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.body.error, "NoSuchRun")
      }).pipe(Effect.scoped),
    10_000
  )

  it.live(
    "with Accept: text/event-stream it streams started, each finding as it arrives, findings, done",
    () =>
      Effect.gen(function* () {
        // The reviewers answer 250 ms apart, so the findings must arrive one by one.
        const delays: Record<string, number> = { security: 500, performance: 0, readability: 250 }
        const base = Review.script()
        const service = yield* start({
          script: (request) => {
            const turn = base(request)
            return { ...turn, delayMs: delays[Review.reviewerOf(request)!] } as typeof turn
          }
        })
        const stream = yield* Effect.promise(() => postEvents(service.url, { code: Review.sample }))
        assert.strictEqual(stream.status, 200)
        const arrivals: Array<[string, number]> = []
        const events = yield* Effect.promise(async () => {
          const out = []
          for (let event = await stream.next(); event !== undefined; event = await stream.next()) {
            arrivals.push([event.event, Date.now()])
            out.push(event)
          }
          return out
        })
        assert.deepStrictEqual(
          events.map((e) => e.event),
          ["started", "finding", "finding", "finding", "findings", "done"]
        )
        assert.isFalse(stream.broken())
        assert.strictEqual(events[0]!.data.runId, stream.runId)
        assert.deepStrictEqual(events[0]!.data.limits, { calls: 3, tokensOut: 3 * 1024 })
        assert.deepStrictEqual(
          events.slice(1, 4).map((e) => e.data.reviewer),
          ["performance", "readability", "security"]
        )
        // Streamed as they came: the first finding was out well before the last one.
        assert.isAbove(arrivals[3]![1] - arrivals[1]![1], 300)
        assert.deepStrictEqual(
          events[4]!.data.findings.map((f: Review.Finding) => f.reviewer),
          names
        )
        assert.strictEqual(events[5]!.data.spent.calls, 3)
      }).pipe(Effect.scoped),
    10_000
  )

  it.live(
    "a body that fails the Schema gets a 400 naming the field, and starts nothing",
    () =>
      Effect.gen(function* () {
        const service = yield* start({ script: Review.script(), serviceBudget: { calls: 9 } })
        const cases: Array<[unknown, string]> = [
          [{ code: 42 }, "code"],
          [{}, "code"],
          [{ code: "" }, "code"],
          [{ code: "x", language: "" }, "language"],
          [{ code: "x", colour: "red" }, "colour"],
          [{ code: "x".repeat(100_001) }, "code"],
          [JSON.stringify({ code: "x".repeat(2_000_000) }), "body"],
          ["not json {", "body"],
          [[1, 2], "body"]
        ]
        for (const [body, field] of cases) {
          const reply = yield* Effect.promise(() => post(service.url, body))
          assert.strictEqual(reply.status, 400, JSON.stringify(body))
          assert.strictEqual(reply.body.error, "InvalidRequest")
          assert.strictEqual(reply.body.field, field, JSON.stringify(reply.body))
          assert.include(reply.body.message, `${field}: `)
          assert.isNull(reply.runId)
        }
        const missing = yield* Effect.promise(() => post(service.url, {}))
        assert.deepStrictEqual(missing.body.issues, [{ field: "code", message: "Missing key" }])
        assert.strictEqual((yield* service.model.requests).length, 0)
        const { reserved, spent } = yield* Budget.snapshot(service.budget)
        assert.strictEqual(reserved.calls + spent.calls, 0)
      }).pipe(Effect.scoped),
    10_000
  )

  it.live(
    "a client that disconnects mid-run: its agents are interrupted, the model sees its connections closed, " +
      "the unspent budget returns, and a concurrent request finishes unaffected",
    () =>
      Effect.gen(function* () {
        const limits = { calls: 30, tokensOut: 30_000 }
        // Answers take 300 ms, so the concurrent request is still waiting on the model when this one is cut.
        const service = yield* start({ script: hangingScript(300), serviceBudget: limits })
        // security and performance hang; readability answers, so one finding is streamed before the cut.
        const stream = yield* Effect.promise(() =>
          postEvents(service.url, { code: `${Review.sample}\n// HANG:security,performance` })
        )
        const runId = stream.runId!
        const first = yield* Effect.promise(() => stream.next())
        assert.strictEqual(first?.event, "started")
        const finding = yield* Effect.promise(() => stream.next())
        assert.strictEqual(finding?.data.reviewer, "readability")
        yield* waitUntil(
          "both hanging model calls",
          Effect.map(hanging(service.model), (n) => n === 2)
        )
        // While the run is in flight its whole slice is held on the service budget.
        const during = yield* Budget.snapshot(service.budget)
        assert.strictEqual(during.reserved.tokensOut + during.spent.tokensOut, 3 * 1024)

        const other = yield* Effect.forkChild(
          Effect.promise(() => post(service.url, { code: Review.sample }))
        )
        yield* waitUntil(
          "the concurrent request's model calls",
          Effect.map(service.model.requests, (requests) => requests.length === 6)
        )
        stream.abort()
        yield* service.model.awaitDisconnect
        const trace = yield* Effect.promise(() =>
          eventually("the run to be interrupted", async () => {
            const reply = await getTrace(service.url, runId)
            return reply.body.status === "interrupted" ? reply.body : undefined
          })
        )
        yield* waitUntil(
          "both disconnects",
          Effect.map(service.model.disconnects, (n) => n === 2)
        )
        const cut = (yield* service.model.requests).filter((r) => r.closedEarly)
        assert.deepStrictEqual(cut.map(Review.reviewerOf).toSorted(), ["performance", "security"])

        // Every agent fiber of the run was interrupted (its actor loop exited "interrupted"), every actor it
        // spawned has exited, and no address of the run is left in the Registry.
        const { exited, spawned } = exits(trace.events, runId)
        for (const agent of agentsOf(runId)) assert.strictEqual(exited.get(agent), "interrupted", agent)
        assert.strictEqual(spawned.length, 5)
        assert.deepStrictEqual(spawned.toSorted(), [...exited.keys()].toSorted())
        assert.isFalse((yield* service.registry.addresses).some((a) => a.startsWith(`${runId}/`)))

        // The concurrent request was not disturbed.
        const reply = yield* Fiber.join(other)
        assert.strictEqual(reply.status, 200)
        assert.deepStrictEqual(
          reply.body.findings.map((f: Review.Finding) => f.outcome),
          ["answered", "answered", "answered"]
        )

        // The interrupted run was charged what it spent (three calls, one answered) and nothing more: the
        // rest of its slice went back to the service budget.
        assert.deepStrictEqual(trace.spent, { calls: 3, tokensIn: 174, tokensOut: 12, cost: 0 })
        yield* waitUntil(
          "the service budget to settle",
          Effect.map(service.reviews.inFlight, (n) => n === 0)
        )
        const after = yield* Budget.snapshot(service.budget)
        assert.deepStrictEqual(after.reserved, { calls: 0, tokensIn: 0, tokensOut: 0, cost: 0 })
        assert.strictEqual(after.spent.calls, 3 + 3)
        assert.strictEqual(after.spent.tokensOut, 12 + reply.body.spent.tokensOut)
        assert.strictEqual(after.remaining.tokensOut, limits.tokensOut - after.spent.tokensOut)
        assert.strictEqual(after.remaining.calls, limits.calls - 6)
      }).pipe(Effect.scoped),
    15_000
  )

  it.live(
    "a JSON client that gives up while waiting interrupts its run too",
    () =>
      Effect.gen(function* () {
        const service = yield* start({ script: hangingScript(), serviceBudget: { calls: 3 } })
        const controller = new AbortController()
        const request = fetch(`${service.url}/reviews`, {
          method: "POST",
          body: JSON.stringify({ code: "// HANG:security,performance,readability" }),
          signal: controller.signal
        }).catch((error: unknown) => error)
        yield* waitUntil(
          "three hanging model calls",
          Effect.map(hanging(service.model), (n) => n === 3)
        )
        // The run holds the whole service budget: a second request is refused at admission.
        const refused = yield* Effect.promise(() => post(service.url, { code: "x" }))
        assert.strictEqual(refused.status, 429)
        controller.abort()
        assert.instanceOf(yield* Effect.promise(() => request), Error)
        yield* waitUntil(
          "three disconnects",
          Effect.map(service.model.disconnects, (n) => n === 3)
        )
        yield* waitUntil(
          "the run to end",
          Effect.map(service.reviews.inFlight, (n) => n === 0)
        )
        // Interrupted calls are charged as calls: this budget is spent, not leaked as reserved.
        const after = yield* Budget.snapshot(service.budget)
        assert.deepStrictEqual([after.spent.calls, after.reserved.calls], [3, 0])
        assert.deepStrictEqual(yield* service.registry.addresses, [])
      }).pipe(Effect.scoped),
    10_000
  )

  it.live(
    "50 concurrent requests against a budget for 30 runs: spend never passes the limit, 30 complete, " +
      "20 get a 429 with the reason, none hangs",
    () =>
      Effect.gen(function* () {
        const service = yield* start({
          script: Review.script({ delayMs: 100 }),
          serviceBudget: { calls: 90 }
        })
        // Sample the budget as fast as the scheduler lets us while the requests run.
        let peak = 0
        let samples = 0
        const sampler = yield* Effect.forkChild(
          Effect.forever(
            Effect.andThen(
              Effect.map(Budget.snapshot(service.budget), (s) => {
                samples++
                peak = Math.max(peak, s.spent.calls + s.reserved.calls)
              }),
              Effect.sleep("2 millis")
            )
          )
        )
        const replies = yield* Effect.promise(() =>
          Promise.all(
            Array.from({ length: 50 }, (_, i) => post(service.url, { code: `${Review.sample}\n// #${i}` }))
          )
        )
        yield* Fiber.interrupt(sampler)
        const done = replies.filter((r) => r.status === 200)
        const refused = replies.filter((r) => r.status === 429)
        assert.strictEqual(done.length, 30)
        assert.strictEqual(refused.length, 20)
        for (const reply of done) assert.strictEqual(reply.body.findings.length, 3)
        for (const reply of refused) {
          assert.strictEqual(reply.body.error, "BudgetExceeded")
          assert.strictEqual(reply.body.dimension, "calls")
          assert.include(["insufficient", "exhausted"], reply.body.reason)
          assert.include(reply.body.message, "calls")
          assert.isNull(reply.runId)
        }
        const final = yield* Budget.snapshot(service.budget)
        assert.isAtLeast(samples, 10)
        assert.isAtMost(peak, 90)
        assert.strictEqual(final.spent.calls, 90)
        assert.strictEqual(final.reserved.calls, 0)
        assert.strictEqual((yield* service.model.requests).length, 90)
      }).pipe(Effect.scoped),
    15_000
  )

  it.live(
    "closing the service's scope interrupts in-flight runs, flushes the JSONL trace, leaves no fiber",
    () =>
      Effect.gen(function* () {
        const file = join(mkdtempSync(join(tmpdir(), "effect-service-")), "trace.jsonl")
        const scope = yield* Scope.make()
        const sink = yield* Tracer.jsonl(file, { flushEvery: "1 hour" }).pipe(
          Scope.provide(scope),
          Effect.provide(NodeServices.layer)
        )
        const service = yield* start({
          script: hangingScript(),
          tracer: Tracer.make([sink]),
          scope
        })
        const stream = yield* Effect.promise(() =>
          postEvents(service.url, { code: "// HANG:security,performance,readability" })
        )
        const runId = stream.runId!
        assert.strictEqual((yield* Effect.promise(() => stream.next()))?.event, "started")
        yield* waitUntil(
          "three hanging model calls",
          Effect.map(hanging(service.model), (n) => n === 3)
        )
        assert.strictEqual(readFileSync(file, "utf8"), "", "nothing flushed before the close")
        assert.strictEqual(yield* service.reviews.inFlight, 1)

        const closed = yield* Effect.timed(Scope.close(scope, Exit.void))
        // The stream ended (cut) without a findings event; the model saw its three connections closed.
        const rest = yield* Effect.promise(() => drain(stream))
        assert.isFalse(rest.some((e) => e.event === "findings"))
        yield* waitUntil(
          "three disconnects",
          Effect.map(service.model.disconnects, (n) => n === 3)
        )
        assert.strictEqual(yield* service.reviews.inFlight, 0)
        const trace = yield* service.reviews.trace(runId)
        assert.strictEqual(trace._tag === "Some" && trace.value.status, "interrupted")

        // The JSONL trace was flushed on close and holds the run's events up to the agents' exits.
        const { events, torn } = yield* Tracer.readJsonl(file).pipe(Effect.provide(NodeServices.layer))
        assert.isUndefined(torn)
        const { exited, spawned } = exits(events, runId)
        assert.strictEqual(spawned.length, 5)
        for (const agent of agentsOf(runId)) assert.strictEqual(exited.get(agent), "interrupted", agent)
        assert.deepStrictEqual(spawned.toSorted(), [...exited.keys()].toSorted())
        assert.strictEqual(events.filter((e) => e.kind === "model.request").length, 3)
        assert.deepStrictEqual(yield* service.registry.addresses, [])
        // Nobody listens any more.
        const refused = yield* Effect.promise(() =>
          fetch(`${service.url}/runs/${runId}/trace`).then(
            () => false,
            () => true
          )
        )
        assert.isTrue(refused)
        console.log(`scope closed in ${Duration.toMillis(closed[0]).toFixed(0)} ms`)
      }).pipe(Effect.scoped),
    10_000
  )

  it("docs/embedding.md shows src/main.ts as it is", () => {
    const main = readFileSync(new URL("../src/main.ts", import.meta.url), "utf8")
    const doc = readFileSync(new URL("../../../docs/embedding.md", import.meta.url), "utf8")
    const code = main.slice(main.indexOf("*/\n") + 3)
    const block = /```ts\n([\s\S]*?)```/.exec(doc)?.[1]
    assert.strictEqual(block, code)
    assert.isBelow(code.trim().split("\n").length, 30)
  }, 1_000)
})
