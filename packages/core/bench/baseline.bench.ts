/**
 * Raw baselines: what plain `effect` primitives (Queue, raceAll, fibers) achieve on this machine, so that
 * HandoffKit's own benchmarks can report themselves as a ratio of them.
 *
 * Each `raw*` function is one measurement (no warm-up, no repetition): use it as the `baselineMeasure` of a
 * `BenchSpec` and the runner warms it up and interleaves it with the subject, e.g.
 *
 * ```ts
 * import { heapUsedAfterGc, perSecond, timed } from "../../../scripts/bench-kit.ts"
import type { BenchSpec } from "../../../scripts/bench-types.d.ts"

export { heapUsedAfterGc, perSecond, timed }
 * import { rawQueueThroughput, timed, perSecond } from "./baseline.bench.ts"
 *
 * export default [{
 *   name: "core.mailbox.throughput", unit: "msg/s", baseline: "raw.queue.throughput",
 *   measure: () => timed(mailboxProgram(N)).then(({ ms }) => perSecond(N, ms)),
 *   baselineMeasure: () => rawQueueThroughput(N),
 *   expect: { ratioAtLeast: 0.5 }
 * }] satisfies ReadonlyArray<BenchSpec>
 * ```
 *
 * Bench files are type-checked by `scripts/tsconfig.json` (not by the package projects), so they import the
 * timing helpers of `scripts/bench-kit.ts` directly.
 */
import { Effect, Fiber, Queue } from "effect"
import { heapUsedAfterGc, perSecond, timed } from "../../../scripts/bench-kit.ts"
import type { BenchSpec } from "../../../scripts/bench-types.d.ts"

export { heapUsedAfterGc, perSecond, timed }

/** Capacity of the raw queues, as in the design's default mailbox. */
export const CAPACITY = 1024

const repeat = <E>(n: number, body: (i: number) => Effect.Effect<unknown, E>): Effect.Effect<void, E> =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* body(i)
  })

/** Yields until `done()` holds; gives up after `maxMs` (a safety net, never reached in practice). */
const settle = (done: () => boolean, maxMs = 5_000): Effect.Effect<void> =>
  Effect.gen(function* () {
    const deadline = performance.now() + maxMs
    while (!done() && performance.now() < deadline) yield* Effect.yieldNow
  })

/**
 * One producer fiber offers `n` numbers into a `Queue.bounded(1024)`, one consumer fiber takes `n` times.
 * Returns messages per second.
 */
export const rawQueueThroughput = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const queue = yield* Queue.bounded<number>(CAPACITY)
    const consumer = yield* Effect.forkChild(repeat(n, () => Queue.take(queue)))
    const producer = yield* Effect.forkChild(repeat(n, (i) => Queue.offer(queue, i)))
    yield* Fiber.join(producer)
    yield* Fiber.join(consumer)
  })
  const { ms } = await timed(program)
  return perSecond(n, ms)
}

/**
 * A select-like consumer loops on `Effect.raceAll` over `Queue.take` of 4 queues, each fed by its own
 * producer (`n` messages in all). `raceAll` can drop a message taken by a losing arm, so the consumer counts
 * what it actually received; once the producers are done and the queues drained (plus a few scheduler turns
 * for a message in flight), the clock stops. Returns received messages per second.
 */
export const rawRaceAllTakeThroughput = async (n: number, queueCount = 4): Promise<number> => {
  const program = Effect.gen(function* () {
    const queues: Array<Queue.Queue<number>> = []
    for (let k = 0; k < queueCount; k++) queues.push(yield* Queue.bounded<number>(CAPACITY))
    const takes = queues.map((queue) => Queue.take(queue))
    let received = 0
    const consumer = yield* Effect.forkChild(
      Effect.gen(function* () {
        for (;;) {
          yield* Effect.raceAll(takes)
          received++
        }
      })
    )
    const producers: Array<Fiber.Fiber<void>> = []
    for (let k = 0; k < queueCount; k++) {
      const share = Math.floor(n / queueCount) + (k < n % queueCount ? 1 : 0)
      producers.push(yield* Effect.forkChild(repeat(share, (i) => Queue.offer(queues[k]!, i))))
    }
    yield* Fiber.joinAll(producers)
    // Drained: every queue empty and the count unchanged for a few scheduler turns.
    let last = -1
    let stable = 0
    yield* settle(() => {
      const empty = queues.every((queue) => Queue.sizeUnsafe(queue) === 0)
      stable = empty && received === last ? stable + 1 : 0
      last = received
      return stable >= 3
    })
    yield* Fiber.interrupt(consumer)
    return received
  })
  const { ms, value: received } = await timed(program)
  return perSecond(received, ms)
}

/**
 * Two fibers bounce a message `n` times through two queues (ping → pong → ping). Returns round trips per
 * second.
 */
export const rawPingPong = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const ping = yield* Queue.bounded<number>(CAPACITY)
    const pong = yield* Queue.bounded<number>(CAPACITY)
    const ponger = yield* Effect.forkChild(
      repeat(n, () => Effect.flatMap(Queue.take(ping), (x) => Queue.offer(pong, x)))
    )
    const pinger = yield* Effect.forkChild(
      repeat(n, (i) => Effect.andThen(Queue.offer(ping, i), Queue.take(pong)))
    )
    yield* Fiber.join(pinger)
    yield* Fiber.join(ponger)
  })
  const { ms } = await timed(program)
  return perSecond(n, ms)
}

/**
 * Heap bytes per fiber parked on `Queue.take` of its own `Queue.bounded(1024)` (the queue included): heap
 * after gc before forking `n` such fibers and once all of them are parked. Needs `node --expose-gc`.
 */
export const rawFiberBytes = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const fibers: Array<Fiber.Fiber<number>> = []
    let parked = 0
    const before = yield* Effect.sync(heapUsedAfterGc)
    for (let i = 0; i < n; i++) {
      const queue = yield* Queue.bounded<number>(CAPACITY)
      fibers.push(
        yield* Effect.forkChild(
          Effect.suspend(() => {
            parked++
            return Queue.take(queue)
          })
        )
      )
    }
    yield* settle(() => parked === n)
    const after = yield* Effect.sync(heapUsedAfterGc)
    yield* Fiber.interruptAll(fibers)
    if (parked !== n) return yield* Effect.die(new Error(`only ${parked} of ${n} fibers parked`))
    return (after - before) / n
  })
  return Effect.runPromise(program)
}

/**
 * Forks `n` fibers that each block on `Queue.take` of one shared queue; the clock stops when all of them have
 * started and parked. Returns fibers per second.
 */
export const rawFiberSpawn = async (n: number): Promise<number> => {
  const program = Effect.gen(function* () {
    const queue = yield* Queue.bounded<number>(CAPACITY)
    const fibers: Array<Fiber.Fiber<number>> = []
    let parked = 0
    const blocked = Effect.suspend(() => {
      parked++
      return Queue.take(queue)
    })
    const start = performance.now()
    for (let i = 0; i < n; i++) fibers.push(yield* Effect.forkChild(blocked))
    yield* settle(() => parked === n)
    const ms = performance.now() - start
    yield* Fiber.interruptAll(fibers)
    if (parked !== n) return yield* Effect.die(new Error(`only ${parked} of ${n} fibers parked`))
    return perSecond(n, ms)
  })
  return Effect.runPromise(program)
}

/** Sizes chosen so each measurement takes tens of milliseconds on a 2-core CI machine. */
export const sizes = {
  queue: 200_000,
  raceAll: 20_000,
  pingPong: 10_000,
  fiberBytes: 100_000,
  fiberSpawn: 100_000
} as const

export const benchmarks = [
  { name: "raw.queue.throughput", unit: "msg/s", measure: () => rawQueueThroughput(sizes.queue) },
  {
    name: "raw.raceAll.throughput",
    unit: "msg/s",
    baseline: "raw.queue.throughput",
    measure: () => rawRaceAllTakeThroughput(sizes.raceAll),
    baselineMeasure: () => rawQueueThroughput(sizes.queue),
    // raceAll forks an arm per queue for every message: it must stay well below a plain queue.
    expect: { ratioAtMost: 1 }
  },
  { name: "raw.pingpong", unit: "roundtrips/s", measure: () => rawPingPong(sizes.pingPong) },
  {
    name: "raw.fiber.bytes",
    unit: "bytes/fiber",
    measure: () => rawFiberBytes(sizes.fiberBytes),
    rounds: 3
  },
  { name: "raw.fiber.spawn", unit: "fibers/s", measure: () => rawFiberSpawn(sizes.fiberSpawn) }
] satisfies ReadonlyArray<BenchSpec>

export default benchmarks
