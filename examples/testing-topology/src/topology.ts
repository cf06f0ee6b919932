/**
 * A three-stage topology to prove correct with `@handoffkit/testing`: a planner splits a job into tasks and
 * hands them, round-robin, to two workers; each worker does its work and hands the task on to a collector,
 * which completes once every task has arrived. Every task moves by `Handoff.sendFrom`, so the trace records
 * who owned it at each hop.
 */
import { Deferred, Effect } from "effect"
import { Actor, Handoff } from "@handoffkit/core"

export interface Input {
  /** How many tasks the planner makes. */
  readonly tasks: number
  /** Mailbox capacity of each worker (0 makes every handoff to it a rendezvous). */
  readonly capacities: readonly [number, number]
  /** Mailbox capacity of the collector. */
  readonly collectorCapacity: number
  /** Per worker: how many times it yields while working on a task (varies the interleaving). */
  readonly work: readonly [number, number]
}

/** The topology: it returns once the collector has received every task. Run it under `Harness.run`. */
export const topology = (input: Input) =>
  Effect.gen(function* () {
    const done = yield* Deferred.make<void>()
    let collected = 0
    const collector = yield* Actor.make<Handoff.Transfer<number>>(
      "collector",
      () => (++collected === input.tasks ? Deferred.succeed(done, void 0) : Effect.void),
      { capacity: input.collectorCapacity }
    )
    const workers = yield* Effect.forEach([0, 1] as const, (w) =>
      Actor.make<Handoff.Transfer<number>>(
        `worker-${w}`,
        (message, context) =>
          Effect.gen(function* () {
            yield* Handoff.get(message.payload.task) // the worker owns the task now
            for (let i = 0; i < input.work[w]; i++) yield* Effect.yieldNow
            yield* Handoff.sendFrom(context, message.payload.task, collector)
          }),
        { capacity: input.capacities[w] }
      )
    )
    const planner = yield* Actor.make<number>("planner", (message, context) =>
      Effect.forEach(
        Array.from({ length: message.payload }, (_, i) => i),
        (i) => Effect.flatMap(Handoff.make(i), (task) => Handoff.sendFrom(context, task, workers[i % 2])),
        { discard: true }
      )
    )
    yield* Actor.send(planner, input.tasks)
    if (input.tasks > 0) yield* Deferred.await(done)
  })
