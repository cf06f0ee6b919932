/**
 * The topology interpreter: builds a `Topology` from the real core primitives, feeds it, applies a fault
 * schedule, and lets it settle. Everything it decides comes from the description and the schedule (no clock
 * reads, no `Math.random`), so a run is replayed by running the same input again.
 * @internal
 */
import { Actor, Broker, Budget, Handoff, Join, Nursery, Select, Tracer } from "@handoffkit/core"
import type { Registry } from "@handoffkit/core"
import { Clock, Duration, Effect, Exit, Fiber, Scheduler, type Scope } from "effect"
import * as Faults from "../Faults.ts"
import type * as Topology from "../Topology.ts"

/** Yields per driver step: enough for a message to move one hop. */
const STEP_YIELDS = 3
/** Settling: rounds of this many yields, until this many rounds in a row saw no progress (or the cap). */
const SETTLE_YIELDS = 10
const SETTLE_IDLE = 3
const SETTLE_MAX = 200

const yields = (n: number): Effect.Effect<void> =>
  n <= 0 ? Effect.void : Effect.repeat(Effect.yieldNow, { times: n - 1 })

/** Something a fault can hit: stopped by `Interrupt`, failed by `Crash` on its n-th message. */
interface Target {
  readonly name: string
  stop: Effect.Effect<void>
  readonly crashAt: Set<number>
  handled: number
}

/** The mutable state of one run, touched only synchronously. */
interface Run {
  readonly targets: Array<Target>
  readonly budget: Budget.Budget
  readonly tracer: Tracer.Tracer
  progress: number
  completed: number
  refused: number
  crashed: number
  interrupted: number
  ticks: number
  ownershipErrors: number
  readonly rounds: Array<Topology.Report["rounds"][number]>
}

interface Built {
  readonly feed: Effect.Effect<void>
  readonly expected: number | undefined
}

const target = (run: Run, name: string): Target => {
  const t: Target = { name, stop: Effect.void, crashAt: new Set(), handled: 0 }
  run.targets.push(t)
  return t
}

/** Counts a handled message and fails it when the schedule says this target crashes on it. */
const guard =
  (run: Run, t: Target) =>
  <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E | Faults.InjectedCrash, R> =>
    Effect.suspend((): Effect.Effect<A, E | Faults.InjectedCrash, R> => {
      run.progress++
      const n = ++t.handled
      if (t.crashAt.has(n)) {
        run.crashed++
        return Effect.fail(new Faults.InjectedCrash({ target: t.name, ordinal: n }))
      }
      return body
    })

/** Works `work` yields under a one-call reservation; false when the budget refused it. */
const spend = (run: Run, work: number): Effect.Effect<boolean> =>
  Budget.withReservation(run.budget, { calls: 1 }, () =>
    Effect.as(yields(work), [true, { calls: 1 }] as const)
  ).pipe(
    Effect.catchTag("BudgetExceeded", () =>
      Effect.sync(() => {
        run.refused++
        return false
      })
    ),
    // A commit of what was reserved cannot overrun: if it does, the budget is broken, and that is a defect.
    Effect.orDie
  )

/** The feeder made progress: one more message sent (or given up). */
const progressed = (run: Run) =>
  Effect.sync(() => {
    run.progress++
  })

/** A plain fiber traced like an actor: `spawn` when it starts, `exit` however it ends. */
const traced = <E>(run: Run, name: string, effect: Effect.Effect<void, E>): Effect.Effect<void, E> =>
  Effect.suspend(() => {
    if (run.tracer.enabled) run.tracer.emit({ kind: "spawn", actor: name })
    return effect
  }).pipe(
    Effect.onExit((exit) =>
      Effect.sync(() => {
        if (!run.tracer.enabled) return
        const outcome = Exit.isSuccess(exit)
          ? "done"
          : Exit.hasInterrupts(exit) && !Exit.hasFails(exit) && !Exit.hasDies(exit)
            ? "interrupted"
            : "failed"
        run.tracer.emit({ kind: "exit", actor: name, data: { outcome } })
      })
    )
  )

/** Moves the clock: `TestClock.adjust` under a test clock, a real sleep otherwise. */
const advance = (millis: number): Effect.Effect<void> =>
  Effect.flatMap(Clock.clockWith(Effect.succeed), (clock) => {
    const adjust = (clock as Clock.Clock & { readonly adjust?: (d: Duration.Input) => Effect.Effect<void> })
      .adjust
    return typeof adjust === "function" ? adjust.call(clock, Duration.millis(millis)) : Effect.sleep(millis)
  })

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

// -----------------------------------------------------------------------------
// builders: one per kind; each registers its targets after the feeder's
// -----------------------------------------------------------------------------

type Env = Scope.Scope | Registry.Registry

const pipeline = (run: Run, t: Topology.Pipeline): Effect.Effect<Built, never, Env> =>
  Effect.gen(function* () {
    const last = t.stages.length - 1
    const targets = t.stages.map((_, i) => target(run, `stage-${i}`))
    if (t.handoff) {
      const refs: Array<Actor.ActorRef<Handoff.Transfer<number>>> = []
      for (let i = 0; i <= last; i++) {
        const stage = t.stages[i]
        const ref = yield* Actor.make<Handoff.Transfer<number>>(
          `stage-${i}`,
          (message, context) =>
            guard(
              run,
              targets[i]
            )(
              Effect.gen(function* () {
                const task = message.payload.task
                // The receiver owns the task now: reading it must succeed.
                const owned = yield* Effect.exit(Handoff.get(task))
                if (Exit.isFailure(owned)) {
                  run.ownershipErrors++
                  return
                }
                if (!(yield* spend(run, stage.work))) return
                if (i === last) {
                  run.completed++
                  return
                }
                yield* Handoff.sendFrom(context, task, refs[i + 1]).pipe(
                  Effect.catchTags({
                    OwnershipMoved: () => Effect.sync(() => void run.ownershipErrors++),
                    DeliveryError: () => Effect.void // still ours; the trace has the rejected message
                  })
                )
              })
            ),
          { capacity: stage.capacity }
        ).pipe(Effect.orDie)
        refs.push(ref)
        targets[i].stop = Actor.stop(ref)
      }
      const feed = Effect.forEach(
        range(t.messages),
        (n) =>
          Effect.flatMap(Handoff.make(n), (task) => Handoff.send(task, refs[0])).pipe(
            Effect.catchTags({
              OwnershipMoved: () => Effect.sync(() => void run.ownershipErrors++),
              DeliveryError: () => Effect.void
            }),
            Effect.andThen(progressed(run))
          ),
        { discard: true }
      )
      return { feed, expected: t.messages }
    }
    const refs: Array<Actor.ActorRef<number>> = []
    for (let i = 0; i <= last; i++) {
      const stage = t.stages[i]
      const ref = yield* Actor.make<number>(
        `stage-${i}`,
        (message, context) =>
          guard(
            run,
            targets[i]
          )(
            Effect.gen(function* () {
              if (!(yield* spend(run, stage.work))) return
              if (i === last) {
                run.completed++
                return
              }
              yield* Effect.ignore(context.send(refs[i + 1], message.payload))
            })
          ),
        { capacity: stage.capacity }
      ).pipe(Effect.orDie)
      refs.push(ref)
      targets[i].stop = Actor.stop(ref)
    }
    const feed = Effect.forEach(
      range(t.messages),
      (n) => Effect.andThen(Effect.ignore(Actor.send(refs[0], n)), progressed(run)),
      { discard: true }
    )
    return { feed, expected: t.messages }
  })

const fanOut = (run: Run, t: Topology.FanOut): Effect.Effect<Built, never, Env> =>
  Effect.gen(function* () {
    const quorum = Math.max(1, Math.min(t.quorum, t.workers.length))
    const names = t.workers.map((_, i) => `worker-${i}`)
    const sourceTarget = target(run, "source")
    const workerTargets = names.map((name) => target(run, name))
    const collectorTarget = target(run, "collector")
    const collector = yield* Join.actor<number, Faults.InjectedCrash>("collector", {
      parts: names,
      quorum,
      timeout: Duration.millis(t.timeout),
      capacity: t.collectorCapacity,
      // A crash of the collector fails its j-th completed round (the join itself is the core's).
      onComplete: (round) =>
        guard(
          run,
          collectorTarget
        )(
          Effect.sync(() => {
            run.completed++
            run.rounds.push({
              correlationId: round.correlationId,
              senders: round.parts.map((p) => p.from),
              openedAt: round.openedAt,
              completedAt: round.completedAt
            })
          })
        )
    }).pipe(Effect.orDie)
    collectorTarget.stop = Actor.stop(collector)
    const workers: Array<Actor.ActorRef<number>> = []
    for (let i = 0; i < t.workers.length; i++) {
      const stage = t.workers[i]
      const ref = yield* Actor.make<number>(
        names[i],
        (message, context) =>
          guard(
            run,
            workerTargets[i]
          )(
            Effect.gen(function* () {
              if (!(yield* spend(run, stage.work))) return
              yield* Effect.ignore(
                context.send(collector, message.payload, { correlationId: message.correlationId })
              )
            })
          ),
        { capacity: stage.capacity }
      ).pipe(Effect.orDie)
      workers.push(ref)
      workerTargets[i].stop = Actor.stop(ref)
    }
    const source = yield* Actor.make<number>("source", (message, context) =>
      guard(
        run,
        sourceTarget
      )(
        Effect.forEach(
          workers,
          (worker) =>
            Effect.ignore(context.send(worker, message.payload, { correlationId: `job-${message.payload}` })),
          { discard: true }
        )
      )
    ).pipe(Effect.orDie)
    sourceTarget.stop = Actor.stop(source)
    const feed = Effect.forEach(
      range(t.jobs),
      (n) => Effect.andThen(Effect.ignore(Actor.send(source, n)), progressed(run)),
      { discard: true }
    )
    return { feed, expected: t.jobs }
  })

const broadcast = (run: Run, t: Topology.Broadcast): Effect.Effect<Built, never, Env> =>
  Effect.gen(function* () {
    const broker = yield* Broker.make<number>()
    const publisherTarget = target(run, "publisher")
    // Subscribed before anything is published: every publish reaches every subscriber.
    for (let i = 0; i < t.subscribers.length; i++) {
      const spec = t.subscribers[i]
      const name = `subscriber-${i}`
      const subscription = yield* Broker.subscribe(broker, "news", {
        capacity: spec.capacity,
        overflow: spec.overflow,
        address: name
      }).pipe(Effect.orDie)
      if (spec.pace < 0) continue // never takes: its queue fills up and overflows
      const consumer = target(run, name)
      const take = Select.select(
        Select.receive(subscription.mailbox, () =>
          guard(
            run,
            consumer
          )(
            Effect.gen(function* () {
              if (yield* spend(run, 0)) run.completed++
            })
          )
        )
      )
      const fiber = yield* traced(
        run,
        name,
        Effect.forever(Effect.andThen(take, yields(spec.pace))).pipe(
          // The subscription closed and was drained: nothing more can come.
          Effect.catchTag("SelectNoLiveCase", () => Effect.void)
        )
      ).pipe(Effect.ignore, Effect.forkScoped)
      consumer.stop = Fiber.interrupt(fiber)
    }
    const publisher = yield* Actor.make<number>("publisher", (message, context) =>
      guard(run, publisherTarget)(Effect.orDie(Broker.publishFrom(context, broker, "news", message.payload)))
    ).pipe(Effect.orDie)
    publisherTarget.stop = Actor.stop(publisher)
    const feed = Effect.forEach(
      range(t.messages),
      (n) => Effect.andThen(Effect.ignore(Actor.send(publisher, n)), progressed(run)),
      { discard: true }
    )
    return { feed, expected: undefined }
  })

const nurseryOptions = (supervisor: Topology.Supervisor, name: string): Nursery.Options => ({
  name,
  strategy: supervisor.strategy,
  intensity: { maxRestarts: supervisor.maxRestarts, window: Duration.millis(supervisor.window) }
})

const nurseryTree = (run: Run, t: Topology.NurseryTree): Effect.Effect<Built, never, Env> =>
  Effect.gen(function* () {
    const workers: Array<Actor.ActorRef<number>> = []
    const build = (
      nursery: Nursery.Nursery,
      supervisor: Topology.Supervisor,
      name: string
    ): Effect.Effect<void, never, Env> =>
      Effect.forEach(
        supervisor.children,
        (child, i) =>
          Effect.gen(function* () {
            if (child._tag === "Supervisor") {
              const nested = yield* Nursery.nested(nursery, nurseryOptions(child, `${name}.${i}`)).pipe(
                Effect.orDie
              )
              return yield* build(nested, child, `${name}.${i}`)
            }
            const address = `${name}.w${i}`
            const worker = target(run, address)
            const ref = yield* Actor.make<number>(
              address,
              () =>
                guard(
                  run,
                  worker
                )(
                  Effect.gen(function* () {
                    if (yield* spend(run, child.work)) run.completed++
                  })
                ),
              { nursery, restart: child.restart, capacity: child.capacity }
            ).pipe(Effect.orDie)
            workers.push(ref)
            worker.stop = Actor.stop(ref)
          }),
        { discard: true }
      )
    const root = yield* Nursery.make(nurseryOptions(t.root, "root")).pipe(Effect.orDie)
    yield* build(root, t.root, "root")
    const feed = Effect.forEach(
      range(workers.length === 0 ? 0 : t.messages),
      (n) => Effect.andThen(Effect.ignore(Actor.send(workers[n % workers.length], n)), progressed(run)),
      { discard: true }
    )
    return { feed, expected: workers.length === 0 ? 0 : t.messages }
  })

/** One call per message each actor handles when nothing goes wrong: the budget a quiet run needs. */
const demandOf = (t: Topology.Topology): number => {
  switch (t._tag) {
    case "Pipeline":
      return t.messages * t.stages.length
    case "FanOut":
      return t.jobs * t.workers.length
    case "Broadcast":
      return t.messages * t.subscribers.filter((s) => s.pace >= 0).length
    case "NurseryTree":
      return t.messages
  }
}

/** @internal */
export const interpret = (
  topology: Topology.Topology,
  schedule: Faults.Schedule = Faults.none
): Effect.Effect<Topology.Report, never, Scope.Scope | Registry.Registry> => {
  const program = Effect.gen(function* () {
    const demand = demandOf(topology)
    const percents = schedule.faults.flatMap((f) => (f._tag === "Exhaust" ? [f.percent] : []))
    const limit = percents.length === 0 ? demand : Math.floor((demand * Math.min(...percents)) / 100)
    const run: Run = {
      targets: [],
      budget: yield* Budget.make({ calls: limit }).pipe(Effect.orDie),
      tracer: yield* Tracer.CurrentTracer,
      progress: 0,
      completed: 0,
      refused: 0,
      crashed: 0,
      interrupted: 0,
      ticks: 0,
      ownershipErrors: 0,
      rounds: []
    }
    const feeder = target(run, "feeder")
    const built =
      topology._tag === "Pipeline"
        ? yield* pipeline(run, topology)
        : topology._tag === "FanOut"
          ? yield* fanOut(run, topology)
          : topology._tag === "Broadcast"
            ? yield* broadcast(run, topology)
            : yield* nurseryTree(run, topology)
    for (const fault of schedule.faults) {
      if (fault._tag === "Crash") run.targets[fault.target % run.targets.length].crashAt.add(fault.message)
    }
    // Forked last, so that closing the scope interrupts it first: a send still waiting for room is withdrawn
    // (and traced) before the actors stop.
    const feeding = yield* Effect.forkScoped(built.feed)
    feeder.stop = Fiber.interrupt(feeding)

    const timed = schedule.faults.filter(
      (f): f is Faults.Interrupt | Faults.Tick => f._tag === "Interrupt" || f._tag === "Tick"
    )
    const lastStep = timed.reduce((max, f) => Math.max(max, f.after), -1)
    for (let step = 0; step <= lastStep; step++) {
      for (const fault of timed) {
        if (fault.after !== step) continue
        if (fault._tag === "Interrupt") {
          run.interrupted++
          yield* run.targets[fault.target % run.targets.length].stop
        } else {
          run.ticks++
          yield* advance(fault.millis)
        }
      }
      yield* yields(STEP_YIELDS)
    }
    let idle = 0
    for (let round = 0; round < SETTLE_MAX && idle < SETTLE_IDLE; round++) {
      const before = run.progress
      yield* yields(SETTLE_YIELDS)
      idle = run.progress === before ? idle + 1 : 0
    }
    return {
      kind: topology._tag,
      targets: run.targets.map((t) => t.name),
      expected: built.expected,
      completed: run.completed,
      budget: limit,
      refused: run.refused,
      crashed: run.crashed,
      interrupted: run.interrupted,
      ticks: run.ticks,
      ownershipErrors: run.ownershipErrors,
      rounds: run.rounds.slice()
    } satisfies Topology.Report
  })
  return schedule.preemption === 0
    ? program
    : Effect.provideService(program, Scheduler.MaxOpsBeforeYield, schedule.preemption)
}
