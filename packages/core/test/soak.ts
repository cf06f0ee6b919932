/**
 * The soak: a supervisor (a `Nursery`), 20 actors under it, a `Broker` and a `Join`, driven for a number of
 * messages with restarts (every 997th message crashes its actor, which the nursery restarts) and interruptions
 * (every 7th batch of sends is interrupted mid-way), while the heap is sampled after forced garbage
 * collections. Shared by the short version in `npm test` (Soak.test.ts) and the `core.soak` benchmark.
 *
 * Counted from the trace by a streaming sink (nothing is kept per message, so the soak itself holds no
 * growing state): `send`, `receive` and `dead-letter` events. A message whose handling failed is received
 * and then dead-lettered with reason `"failed"` (one delivery, as `Invariants.noLossNoDuplicate` counts it),
 * so the balance is `sent = received + dead-lettered (other than "failed")`.
 */
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Effect, Fiber, Metric } from "effect"
import { Actor, Broker, Join, Mailbox, Nursery, Tracer } from "../src/index.ts"

/** A full garbage collection: `global.gc` under `--expose-gc`, else the same function fetched through v8. */
export const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

const heapAfterGc = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

export interface SoakReport {
  readonly messages: number
  readonly sent: number
  readonly received: number
  readonly deadLettered: number
  readonly failedHandling: number
  readonly brokerDropped: number
  readonly delivered: number
  readonly restarts: number
  readonly interruptedBatches: number
  readonly published: number
  readonly joinParts: number
  readonly joinsCompleted: number
  readonly joinsExpired: number
  readonly spawned: number
  readonly exited: number
  /** Child fibers started under the soak and not yet ended, read after its scope closed. */
  readonly fibersLeft: number
  /** Child fibers started in all (actor loops, restarts, senders, timers), and the most alive at once. */
  readonly fibersStarted: number
  readonly peakFibers: number
  /** Heap used after forced GCs, sampled at even steps of the run. */
  readonly heap: ReadonlyArray<number>
  /** Mean heap of the last quarter of the samples over the mean of the second quarter. */
  readonly heapRatio: number
}

const WORKERS = 20
const BATCH = 1_000
const CRASH_EVERY = 997
const INTERRUPT_EVERY = 7

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

/** Runs the soak for `messages` sends (at least), taking `samples` heap samples (a multiple of 4 is best). */
export const soak = (messages: number, samples = 16): Effect.Effect<SoakReport> =>
  Effect.gen(function* () {
    const counts = {
      sent: 0,
      received: 0,
      deadLettered: 0,
      failedHandling: 0,
      brokerDropped: 0,
      delivered: 0,
      restarts: 0,
      published: 0,
      joinParts: 0,
      joinsCompleted: 0,
      joinsExpired: 0,
      spawned: 0,
      exited: 0
    }
    const tracer = Tracer.make([
      {
        write: (event) => {
          switch (event.kind) {
            case "send":
              counts.sent++
              break
            case "receive":
              counts.received++
              break
            case "dead-letter":
              // The joiner's dead letters are broker copies it had no room for, not actor messages.
              if (event.actor === "joiner") counts.brokerDropped++
              else if (event.data?.reason === "failed") counts.failedHandling++
              else counts.deadLettered++
              break
            case "broker.deliver":
              counts.delivered++
              break
            case "nursery.restart":
              counts.restarts++
              break
            case "broker.publish":
              counts.published++
              break
            case "join.part":
              counts.joinParts++
              break
            case "join.complete":
              counts.joinsCompleted++
              break
            case "join.expire":
              counts.joinsExpired++
              break
            case "spawn":
              counts.spawned++
              break
            case "exit":
              counts.exited++
              break
          }
        }
      }
    ])
    let fibers = 0
    let peakFibers = 0
    let fibersStarted = 0
    const metrics: Metric.FiberRuntimeMetricsService = {
      recordFiberStart: () => {
        fibersStarted++
        if (++fibers > peakFibers) peakFibers = fibers
      },
      recordFiberEnd: () => {
        fibers--
      }
    }
    const heap: Array<number> = []
    let interruptedBatches = 0

    const run = Effect.gen(function* () {
      const broker = yield* Broker.make<number>()
      const results = yield* Broker.subscribe(broker, "results", { capacity: 4096, address: "joiner" })
      const join = yield* Join.make<number>({ parts: WORKERS, timeout: "500 millis", retain: "100 millis" })
      const supervisor = yield* Nursery.make({
        name: "soak",
        intensity: { maxRestarts: 1_000_000, window: "1 second" }
      })
      const workers = yield* Effect.forEach(
        Array.from({ length: WORKERS }, (_, i) => i),
        (i) =>
          Actor.make<number>(
            `worker-${i}`,
            (message, context) =>
              message.payload % CRASH_EVERY === CRASH_EVERY - 1
                ? Effect.fail("crash")
                : Effect.ignore(
                    Broker.publishFrom(context, broker, "results", message.payload, {
                      correlationId: `batch-${Math.floor(message.payload / WORKERS)}`
                    })
                  ),
            { nursery: supervisor, restart: "permanent", capacity: 16 }
          )
      )
      // The joiner: every result is a part of its batch's round (one per worker).
      yield* Nursery.start(
        supervisor,
        Effect.forever(
          Effect.flatMap(Mailbox.take(results.mailbox), (part) => Effect.ignore(Join.offer(join, part)))
        ),
        { name: "joiner", restart: "permanent" }
      )
      const every = Math.max(1, Math.floor(messages / samples))
      let next = 0
      let nextSample = every
      for (let batch = 0; counts.sent < messages; batch++) {
        const from = next
        const sender = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: BATCH }, (_, i) => from + i),
            (n) => Effect.ignore(Actor.send(workers[n % WORKERS]!, n)),
            { discard: true }
          ),
          { startImmediately: true }
        )
        if (batch % INTERRUPT_EVERY === INTERRUPT_EVERY - 1) {
          for (let i = 0; i < 3; i++) yield* Effect.yieldNow
          yield* Fiber.interrupt(sender)
          interruptedBatches++
        } else {
          yield* Fiber.join(sender)
        }
        next += BATCH
        // Let the joiner catch up with the batch's results (bounded: a stalled joiner shows as dropped copies).
        for (let i = 0; i < 20_000 && (yield* Mailbox.size(results.mailbox)) > 0; i++) yield* Effect.yieldNow
        if (counts.sent >= nextSample) {
          nextSample += every
          // Let the actors drain before measuring, so the sample holds the steady state, not a queue.
          for (let i = 0; i < 50; i++) yield* Effect.yieldNow
          heap.push(heapAfterGc())
        }
      }
    })

    // The options are all valid: a refusal here is a bug of the soak, so it is a defect.
    yield* Effect.scoped(run).pipe(
      Effect.orDie,
      Effect.provide(Actor.layer),
      Effect.provideService(Tracer.CurrentTracer, tracer),
      Effect.provideService(Metric.FiberRuntimeMetrics, metrics)
    )
    const quarter = Math.max(1, Math.floor(heap.length / 4))
    const second = heap.slice(quarter, 2 * quarter)
    const last = heap.slice(heap.length - quarter)
    return {
      messages,
      ...counts,
      interruptedBatches,
      fibersLeft: fibers,
      fibersStarted,
      peakFibers,
      heap,
      heapRatio: mean(last) / mean(second)
    }
  })
