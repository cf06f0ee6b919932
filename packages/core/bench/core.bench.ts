/**
 * HandoffKit core benchmarks, each against a raw `effect` baseline measured in the same run (interleaved by
 * the runner), so the ratio is what matters, not the machine.
 */
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect, Fiber, FileSystem, Layer, Scope } from "effect"
import type { BenchSpec } from "../../../scripts/bench-types.d.ts"
import { Actor, Mailbox, Select, Tracer } from "../src/index.ts"
import {
  heapUsedAfterGc,
  perSecond,
  rawFiberBytes,
  rawFiberSpawn,
  rawPingPong,
  rawQueueThroughput,
  rawRaceAllTakeThroughput,
  sizes,
  timed
} from "./baseline.bench.ts"

const N = sizes.queue

/** Actor to actor: a producer actor sends `n` messages to a consumer actor (mailbox capacity 1024). */
export const mailboxThroughput = async (n: number): Promise<number> => {
  const { ms } = await timed(actorToActor(n))
  return perSecond(n, ms)
}

/** The same with every event traced to memory. */
export const tracedMemoryThroughput = async (n: number): Promise<number> => {
  const trace = Tracer.memory()
  const { ms } = await timed(actorToActor(n).pipe(Effect.provideService(Tracer.CurrentTracer, trace.tracer)))
  if (trace.events.length < 2 * n) throw new Error(`only ${trace.events.length} events for ${n} messages`)
  return perSecond(n, ms)
}

/** The same with every event traced to a JSONL file (flushed before the clock stops). */
export const tracedJsonlThroughput = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped()
    const start = performance.now()
    yield* Effect.scoped(
      Effect.gen(function* () {
        const tracer = Tracer.make([yield* Tracer.jsonl(`${dir}/bench.jsonl`)])
        yield* actorToActor(n).pipe(Effect.provideService(Tracer.CurrentTracer, tracer))
      })
    )
    return performance.now() - start
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
  return perSecond(n, await Effect.runPromise(program))
}

const actorToActor = (n: number) =>
  Effect.gen(function* () {
    const done = yield* Deferred.make<void>()
    let handled = 0
    const consumer = yield* Actor.make<number>("consumer", () =>
      ++handled === n ? Deferred.succeed(done, void 0) : Effect.void
    )
    const producer = yield* Actor.make<"go">("producer", (_, context) =>
      Effect.gen(function* () {
        for (let i = 0; i < n; i++) yield* context.send(consumer, i)
      })
    )
    yield* Actor.send(producer, "go")
    yield* Deferred.await(done)
  }).pipe(Effect.scoped, Effect.provide(Actor.layer))

/** One selector over four mailboxes, each fed by its own producer fiber; `n` messages in all. */
export const select4Throughput = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const mailboxes = yield* Effect.forEach([0, 1, 2, 3], () => Mailbox.make<number>({ capacity: 1024 }))
    const cases = mailboxes.map((mailbox) => Select.receive(mailbox, Effect.succeed))
    // Each select consumes exactly one message.
    const consumer = yield* Effect.forkChild(
      Effect.gen(function* () {
        for (let received = 0; received < n; received++) yield* Select.selectAll(cases)
      })
    )
    yield* Effect.forEach(
      mailboxes,
      (mailbox, k) =>
        Effect.gen(function* () {
          const share = Math.floor(n / 4) + (k < n % 4 ? 1 : 0)
          for (let i = 0; i < share; i++) yield* Mailbox.offer(mailbox, i)
        }),
      { concurrency: "unbounded", discard: true }
    )
    yield* Fiber.join(consumer)
  })
  const { ms } = await timed(program)
  return perSecond(n, ms)
}

/** `n` sequential asks from outside to an echo actor. */
export const askRoundtrip = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const echo = yield* Actor.make<number, number>("echo", (message, context) =>
      context.reply(message.payload)
    )
    for (let i = 0; i < n; i++) yield* Actor.ask(echo, i)
  }).pipe(Effect.scoped, Effect.provide(Actor.layer))
  const { ms } = await timed(program)
  return perSecond(n, ms)
}

const spawnIdle = (n: number, registered: { count: number }) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) {
      yield* Actor.make<number>(`idle-${i}`, () => Effect.void)
      registered.count++
    }
  })

/** Spawns `n` idle actors (each: a mailbox, a registry entry, a parked fiber). Returns actors per second. */
export const actorSpawn = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const registered = { count: 0 }
    const start = performance.now()
    yield* spawnIdle(n, registered).pipe(Scope.provide(scope))
    yield* Effect.yieldNow
    const ms = performance.now() - start
    yield* Scope.close(scope, Effect.void as any)
    return perSecond(n, ms)
  }).pipe(Effect.provide(Actor.layer))
  return Effect.runPromise(program)
}

/** Heap bytes per idle actor: heap after gc before and after spawning `n` of them. */
export const actorBytes = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const registered = { count: 0 }
    const before = yield* Effect.sync(heapUsedAfterGc)
    yield* spawnIdle(n, registered).pipe(Scope.provide(scope))
    for (let i = 0; i < 10; i++) yield* Effect.yieldNow
    const after = yield* Effect.sync(heapUsedAfterGc)
    yield* Scope.close(scope, Effect.void as any)
    return (after - before) / n
  }).pipe(Effect.provide(Layer.fresh(Actor.layer)))
  return Effect.runPromise(program)
}

export const benchmarks = [
  {
    name: "core.mailbox.throughput",
    unit: "msg/s",
    baseline: "raw.queue.throughput",
    measure: () => mailboxThroughput(N),
    baselineMeasure: () => rawQueueThroughput(N),
    expect: { ratioAtLeast: 0.5 }
  },
  {
    name: "core.trace.memory",
    unit: "msg/s",
    baseline: "core.mailbox.throughput (tracing off)",
    measure: () => tracedMemoryThroughput(N),
    baselineMeasure: () => mailboxThroughput(N),
    expect: { ratioAtLeast: 0.7 },
    // GC timing makes single rounds of a tracing run swing widely on a shared machine: more rounds, same median.
    rounds: 9
  },
  {
    name: "core.trace.jsonl",
    unit: "msg/s",
    baseline: "core.mailbox.throughput (tracing off)",
    measure: () => tracedJsonlThroughput(N),
    baselineMeasure: () => mailboxThroughput(N),
    expect: { ratioAtLeast: 0.3 },
    // GC timing makes single rounds of a tracing run swing widely on a shared machine: more rounds, same median.
    rounds: 9
  },
  {
    name: "core.select4.throughput",
    unit: "msg/s",
    baseline: "raw.queue.throughput",
    measure: () => select4Throughput(N),
    baselineMeasure: () => rawQueueThroughput(N),
    expect: { ratioAtLeast: 0.4 }
  },
  {
    name: "core.select4.vs_raceall",
    unit: "msg/s",
    baseline: "raw.raceAll.throughput",
    measure: () => select4Throughput(N),
    baselineMeasure: () => rawRaceAllTakeThroughput(sizes.raceAll),
    expect: { ratioAtLeast: 5 }
  },
  {
    name: "core.ask.roundtrip",
    unit: "roundtrips/s",
    baseline: "raw.pingpong",
    measure: () => askRoundtrip(sizes.pingPong),
    baselineMeasure: () => rawPingPong(sizes.pingPong),
    expect: { ratioAtLeast: 0.5 }
  },
  {
    name: "core.actor.spawn",
    unit: "actors/s",
    baseline: "raw.fiber.spawn",
    measure: () => actorSpawn(100_000),
    baselineMeasure: () => rawFiberSpawn(sizes.fiberSpawn),
    rounds: 3
  },
  {
    name: "core.actor.bytes",
    unit: "bytes/actor",
    baseline: "raw.fiber.bytes",
    measure: () => actorBytes(100_000),
    baselineMeasure: () => rawFiberBytes(sizes.fiberBytes),
    rounds: 3,
    expect: { ratioAtMost: 3 }
  }
] satisfies ReadonlyArray<BenchSpec>

export default benchmarks
