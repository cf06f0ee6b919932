/**
 * The supervision machine behind `Nursery`: one state machine per nursery, driven only by synchronous
 * transitions.
 *
 * Invariants, kept by the code next to them:
 * - Every field of a `NurseryCore` and of its `Entry`s is read and written only inside a synchronous
 *   transition (`dispatch`ed actions, `add`, `spawn`), never across an `await`: a decision and its effect
 *   happen in one JavaScript turn, so no other fiber can observe a half-made decision.
 * - Fiber exits arrive through `Fiber.addObserver`, which runs synchronously inside the exiting fiber, and
 *   `interruptUnsafe` can run a fiber to its end synchronously. Both re-enter the machine, so exits, closes
 *   and stops go through `dispatch`, which queues re-entrant actions and runs them one after another
 *   (`add` may run re-entrantly: it only appends an entry and forks a fiber that cannot exit at once).
 *   Waiters are resumed only after the queue is drained (`settle`), because resuming a fiber runs its code
 *   synchronously and it must see a consistent machine.
 * - Children are started with `Effect.runForkWith` behind a `yieldNow`, so no user code runs while the
 *   machine is deciding, and the fiber is registered in the same turn that checked the state: no child can
 *   be started into a nursery that has begun to close.
 * - Restarts happen only in state `open`. Once a nursery is closing or escalating, an exit only removes
 *   its entry and moves the shutdown on: nothing is ever restarted.
 *
 * @internal
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Fiber, Pipeable } from "effect"
import type { NurseryEvent } from "../Nursery.ts"

/** @internal */
export const TypeId = "~@handoffkit/core/Nursery" as const

/** @internal */
export type TypeId = typeof TypeId

/** @internal */
export const ChildTypeId = "~@handoffkit/core/Nursery/Child" as const

/** @internal */
export type ChildTypeId = typeof ChildTypeId

/** @internal */
export type Strategy = "one-for-one" | "one-for-all" | "rest-for-one"

/** @internal */
export type RestartPolicy = "permanent" | "transient" | "temporary"

/** @internal */
export type State = "open" | "escalating" | "closing" | "closed"

/** @internal */
export type EntryStatus = "running" | "stopping" | "waiting"

let lastNurseryId = 0
let lastChildId = 0

/** @internal */
export const nextNurseryId = (): number => ++lastNurseryId

/** @internal */
export const nextChildId = (): number => ++lastChildId

/**
 * One supervised child: a stable identity (`id`, `name`, position in start order) over a sequence of
 * incarnations, each a fiber running `body`.
 *
 * @internal
 */
export class Entry implements Pipeable.Pipeable {
  readonly [ChildTypeId]: ChildTypeId = ChildTypeId
  /** The fiber of the current incarnation, while it is alive. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined
  /** `running`: alive; `stopping`: the nursery interrupted it and waits for its exit; `waiting`: to be restarted. */
  status: EntryStatus = "waiting"
  /** False once the entry left the nursery for good. */
  supervised = true
  /** Stopped by a strategy: restarts in the nursery wait until it has exited. */
  barrier = false
  /** Stopped by a strategy and to be restarted with the batch once it has exited. */
  restartAfterStop = false
  incarnations = 0
  lastExit: Exit.Exit<unknown, unknown> | undefined = undefined
  /** Resumed at the end of the current incarnation, or when the entry leaves the nursery. */
  watchers: Array<(exit: Exit.Exit<unknown, unknown>) => void> = []
  /** Resumed when the entry leaves the nursery. */
  leaveWatchers: Array<(exit: Exit.Exit<unknown, unknown>) => void> = []

  readonly nursery: NurseryCore
  readonly id: number
  readonly name: string
  readonly restart: RestartPolicy
  readonly kind: "child" | "nursery"
  readonly body: Effect.Effect<unknown, unknown>
  readonly context: Context.Context<never>

  constructor(
    nursery: NurseryCore,
    id: number,
    name: string,
    restart: RestartPolicy,
    kind: "child" | "nursery",
    body: Effect.Effect<unknown, unknown>,
    context: Context.Context<never>
  ) {
    this.nursery = nursery
    this.id = id
    this.name = name
    this.restart = restart
    this.kind = kind
    this.body = body
    this.context = context
  }

  get restarts(): number {
    return this.incarnations > 0 ? this.incarnations - 1 : 0
  }

  get await(): Effect.Effect<Exit.Exit<unknown, unknown>> {
    return Effect.callback<Exit.Exit<unknown, unknown>>((resume) => {
      if (!this.supervised) return resume(Effect.succeed(this.lastExit!))
      const watcher = (exit: Exit.Exit<unknown, unknown>) => resume(Effect.succeed(exit))
      this.watchers.push(watcher)
      return Effect.sync(() => removeFrom(this.watchers, watcher))
    })
  }

  /** Completes with the last exit once the entry has left the nursery for good. */
  get left(): Effect.Effect<Exit.Exit<unknown, unknown>> {
    return Effect.callback<Exit.Exit<unknown, unknown>>((resume) => {
      if (!this.supervised) return resume(Effect.succeed(this.lastExit!))
      const watcher = (exit: Exit.Exit<unknown, unknown>) => resume(Effect.succeed(exit))
      this.leaveWatchers.push(watcher)
      return Effect.sync(() => removeFrom(this.leaveWatchers, watcher))
    })
  }

  pipe() {
    return Pipeable.pipeArguments(this, arguments)
  }
}

/** @internal */
export interface CoreOptions {
  readonly id: number
  readonly name: string
  readonly strategy: Strategy
  readonly maxRestarts: number
  readonly window: Duration.Duration
  readonly maxChildren: number
  readonly maxDepth: number
  readonly depth: number
  readonly parent: NurseryCore | undefined
  readonly clock: Clock.Clock
  /** Builds the error a nursery fails with when it escalates (the public `NurseryEscalated`). */
  readonly makeEscalated: (nursery: NurseryCore, child: Entry, cause: Cause.Cause<unknown>) => unknown
  readonly onEvent: ((event: NurseryEvent) => void) | undefined
}

const removeFrom = <A>(array: Array<A>, item: A): void => {
  const index = array.indexOf(item)
  if (index >= 0) array.splice(index, 1)
}

const isFailure = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) && (Cause.hasFails(exit.cause) || Cause.hasDies(exit.cause))

/**
 * The state machine of one nursery.
 *
 * @internal
 */
export class NurseryCore implements Pipeable.Pipeable {
  readonly [TypeId]: TypeId = TypeId
  readonly id: number
  readonly name: string
  readonly strategy: Strategy
  readonly intensity: { readonly maxRestarts: number; readonly window: Duration.Duration }
  readonly maxRestarts: number
  readonly windowMillis: number
  readonly maxChildren: number
  readonly maxDepth: number
  readonly depth: number
  readonly parent: NurseryCore | undefined
  readonly clock: Clock.Clock
  readonly makeEscalated: CoreOptions["makeEscalated"]
  readonly onEvent: CoreOptions["onEvent"]

  state: State = "open"
  /** Supervised children in start order; an entry keeps its position across restarts. */
  readonly entries: Array<Entry> = []
  /** Times (monotonic milliseconds) of the restarts inside the current window, oldest first. */
  readonly restartTimes: Array<number> = []
  /** The error this nursery failed with, once it escalated. */
  escalation: unknown = undefined
  /** The entry in the parent that owns this nested nursery. */
  parentEntry: Entry | undefined = undefined

  /** Resumed whenever the machine settles; each decides whether its condition holds. */
  private readonly settleWatchers: Array<() => void> = []
  private readonly queue: Array<() => void> = []
  private draining = false
  private readonly toResume: Array<() => void> = []

  constructor(options: CoreOptions) {
    this.id = options.id
    this.name = options.name
    this.strategy = options.strategy
    this.intensity = { maxRestarts: options.maxRestarts, window: options.window }
    this.maxRestarts = options.maxRestarts
    this.windowMillis = Duration.toMillis(options.window)
    this.maxChildren = options.maxChildren
    this.maxDepth = options.maxDepth
    this.depth = options.depth
    this.parent = options.parent
    this.clock = options.clock
    this.makeEscalated = options.makeEscalated
    this.onEvent = options.onEvent
  }

  /** Reports an event to the hook; a throwing hook must not corrupt the machine, so its errors are dropped. */
  private emit(event: NurseryEvent): void {
    if (this.onEvent === undefined) return
    try {
      this.onEvent(event)
    } catch {
      // the hook is for observation only
    }
  }

  pipe() {
    return Pipeable.pipeArguments(this, arguments)
  }

  // --------------------------------------------------------------------------
  // transitions
  // --------------------------------------------------------------------------

  /**
   * Runs `action` now, or after the action in progress when called re-entrantly, then resumes the waiters
   * the actions released.
   */
  dispatch(action: () => void): void {
    this.queue.push(action)
    if (this.draining) return
    this.draining = true
    try {
      let next = this.queue.shift()
      while (next !== undefined) {
        next()
        next = this.queue.shift()
      }
    } finally {
      this.draining = false
    }
    this.settle()
  }

  /** Resumes the settle watchers and the callbacks queued by transitions, outside the drain. */
  private settle(): void {
    if (this.settleWatchers.length > 0) {
      for (const watcher of this.settleWatchers.slice()) this.toResume.push(watcher)
    }
    while (this.toResume.length > 0) {
      const resume = this.toResume.shift()!
      resume()
    }
  }

  /** Starts one incarnation of `entry`. Only called in state `open`, inside a synchronous transition. */
  spawn(entry: Entry): void {
    entry.incarnations++
    entry.status = "running"
    entry.barrier = false
    entry.restartAfterStop = false
    const fiber = Effect.runForkWith(entry.context)(entry.body)
    entry.fiber = fiber
    if (this.onEvent !== undefined) {
      this.emit({
        _tag: "Started",
        nurseryId: this.id,
        nursery: this.name,
        childId: entry.id,
        child: entry.name,
        incarnation: entry.incarnations,
        time: this.now()
      })
    }
    fiber.addObserver((exit) => this.dispatch(() => this.onExit(entry, fiber, exit)))
  }

  /**
   * Adds a child and starts its first incarnation, in one synchronous step, or says why it cannot.
   */
  add(
    name: string | undefined,
    restart: RestartPolicy,
    kind: "child" | "nursery",
    body: Effect.Effect<unknown, unknown>,
    context: Context.Context<never>
  ): Entry | "closed" | "full" {
    if (this.state !== "open") return "closed"
    if (this.entries.length >= this.maxChildren) return "full"
    const id = nextChildId()
    const entry = new Entry(
      this,
      id,
      name ?? `${kind === "nursery" ? "nursery" : "child"}-${id}`,
      restart,
      kind,
      body,
      context
    )
    this.entries.push(entry)
    this.spawn(entry)
    return entry
  }

  private leave(entry: Entry): void {
    if (!entry.supervised) return
    entry.supervised = false
    entry.status = "waiting"
    entry.barrier = false
    entry.restartAfterStop = false
    removeFrom(this.entries, entry)
    const exit = entry.lastExit!
    const watchers = entry.watchers.splice(0).concat(entry.leaveWatchers.splice(0))
    for (const watcher of watchers) this.toResume.push(() => watcher(exit))
  }

  private now(): number {
    return Number(this.clock.monotonicTimeNanosUnsafe()) / 1_000_000
  }

  /** The exit of one incarnation. */
  private onExit(
    entry: Entry,
    fiber: Fiber.Fiber<unknown, unknown>,
    exit: Exit.Exit<unknown, unknown>
  ): void {
    if (entry.fiber !== fiber) return
    entry.fiber = undefined
    entry.lastExit = exit
    const wasStopping = entry.status === "stopping"
    if (this.onEvent !== undefined) {
      this.emit({
        _tag: "Exited",
        nurseryId: this.id,
        nursery: this.name,
        childId: entry.id,
        child: entry.name,
        exit,
        stopped: wasStopping || this.state !== "open",
        time: this.now()
      })
    }
    if (entry.watchers.length > 0) {
      for (const watcher of entry.watchers.splice(0)) this.toResume.push(() => watcher(exit))
    }
    if (this.state !== "open") {
      // Closing or escalating: nothing restarts, the shutdown moves on.
      this.leave(entry)
      this.shutdownNext()
      return
    }
    if (wasStopping) {
      if (entry.restartAfterStop) {
        entry.status = "waiting"
        entry.barrier = false
        entry.restartAfterStop = false
      } else {
        this.leave(entry)
      }
      this.flushRestarts()
      return
    }
    // The incarnation ended by itself (or was interrupted by someone other than this nursery).
    const failed = isFailure(exit)
    const restartSelf = entry.restart === "permanent" || (entry.restart === "transient" && failed)
    // A nested nursery is never restarted, but its escalation is a failure of this nursery's child.
    const triggers = restartSelf || (entry.kind === "nursery" && failed)
    if (!triggers) {
      this.leave(entry)
      this.flushRestarts()
      return
    }
    const now = this.now()
    while (this.restartTimes.length > 0 && now - this.restartTimes[0] > this.windowMillis) {
      this.restartTimes.shift()
    }
    if (this.restartTimes.length >= this.maxRestarts) {
      this.emit({
        _tag: "Escalated",
        nurseryId: this.id,
        nursery: this.name,
        childId: entry.id,
        child: entry.name,
        time: now
      })
      this.escalate(entry, Exit.isFailure(exit) ? exit.cause : Cause.empty)
      return
    }
    this.restartTimes.push(now)
    this.emit({
      _tag: "Restarted",
      nurseryId: this.id,
      nursery: this.name,
      childId: entry.id,
      child: entry.name,
      time: now
    })
    const index = this.entries.indexOf(entry)
    const siblings =
      this.strategy === "one-for-all"
        ? this.entries.filter((other) => other !== entry)
        : this.strategy === "rest-for-one"
          ? this.entries.slice(index + 1)
          : []
    if (restartSelf) {
      entry.status = "waiting"
    } else {
      this.leave(entry)
    }
    for (const sibling of siblings) {
      if (sibling.status === "running") {
        sibling.status = "stopping"
        sibling.barrier = true
        // As in OTP, a temporary child stopped on account of a sibling is not restarted.
        sibling.restartAfterStop = sibling.restart !== "temporary"
        sibling.fiber!.interruptUnsafe()
      } else if (sibling.status === "stopping" && !sibling.barrier) {
        // Already being stopped on request (`stop`): it leaves, but the batch still waits for it.
        sibling.barrier = true
      }
    }
    this.flushRestarts()
  }

  /** Starts every waiting entry in start order, once no strategy stop is in flight. */
  private flushRestarts(): void {
    if (this.state !== "open") return
    for (const entry of this.entries) {
      if (entry.status === "stopping" && entry.barrier) return
    }
    for (const entry of this.entries.slice()) {
      if (entry.status === "waiting" && entry.supervised && this.state === "open") this.spawn(entry)
    }
  }

  private escalate(entry: Entry, cause: Cause.Cause<unknown>): void {
    this.state = "escalating"
    this.escalation = this.makeEscalated(this, entry, cause)
    this.leave(entry)
    this.dropWaiting()
    this.shutdownNext()
  }

  private dropWaiting(): void {
    for (const entry of this.entries.slice()) {
      if (entry.status === "waiting") this.leave(entry)
    }
  }

  /**
   * Stops the children one at a time in reverse start order (each awaited before the next is
   * interrupted), and marks the nursery closed once none is left.
   */
  private shutdownNext(): void {
    if (this.state === "open" || this.state === "closed") return
    for (const entry of this.entries) {
      if (entry.status === "stopping") return
    }
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i]
      if (entry.status === "running") {
        entry.status = "stopping"
        entry.barrier = false
        entry.restartAfterStop = false
        entry.fiber!.interruptUnsafe()
        return
      }
    }
    this.dropWaiting()
    if (this.entries.length === 0) {
      this.state = "closed"
      this.emit({
        _tag: "Closed",
        nurseryId: this.id,
        nursery: this.name,
        escalated: this.escalation !== undefined,
        time: this.now()
      })
    }
  }

  /** Begins closing; idempotent. */
  beginClose(): void {
    this.dispatch(() => {
      if (this.state !== "open") return
      this.state = "closing"
      this.dropWaiting()
      this.shutdownNext()
    })
  }

  /** Takes `entry` out of supervision: interrupts its incarnation, never restarts it. */
  beginStop(entry: Entry): void {
    this.dispatch(() => {
      if (!entry.supervised) return
      if (entry.status === "waiting") {
        this.leave(entry)
        this.flushRestarts()
      } else if (entry.status === "running") {
        entry.status = "stopping"
        entry.barrier = false
        entry.restartAfterStop = false
        entry.fiber!.interruptUnsafe()
      } else {
        entry.restartAfterStop = false
      }
    })
  }

  // --------------------------------------------------------------------------
  // waiting
  // --------------------------------------------------------------------------

  /**
   * Waits until `check` returns an effect (checked now and each time the machine settles) and runs it.
   */
  waitFor<A, E>(check: () => Effect.Effect<A, E> | undefined): Effect.Effect<A, E> {
    return Effect.callback<A, E>((resume) => {
      const now = check()
      if (now !== undefined) return resume(now)
      const watcher = () => {
        const result = check()
        if (result === undefined) return
        removeFrom(this.settleWatchers, watcher)
        resume(result)
      }
      this.settleWatchers.push(watcher)
      return Effect.sync(() => removeFrom(this.settleWatchers, watcher))
    })
  }

  /** Completes once the nursery is closed (after every child has exited). */
  get closed(): Effect.Effect<void> {
    return this.waitFor(() => (this.state === "closed" ? Effect.void : undefined))
  }

  /** Closes the nursery and waits until every child has exited. */
  get close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.beginClose()
      return this.closed
    })
  }

  /** Completes when no child is alive or pending a restart; fails with the escalation once escalated. */
  get idle(): Effect.Effect<void, unknown> {
    return this.waitFor<void, unknown>(() => {
      if (this.state === "closed") {
        return this.escalation === undefined ? Effect.void : Effect.fail(this.escalation)
      }
      return this.state === "open" && this.entries.length === 0 ? Effect.void : undefined
    })
  }

  /** Fails with the escalation once this nursery has escalated and all its children have exited. */
  get escalated(): Effect.Effect<never, unknown> {
    return this.waitFor<never, unknown>(() =>
      this.state === "closed" && this.escalation !== undefined ? Effect.fail(this.escalation) : undefined
    )
  }

  /**
   * The life of a nested nursery as a child of its parent: it ends when the nursery closes, failing with
   * the escalation if it escalated; interrupting it closes the nursery and awaits its children.
   */
  get life(): Effect.Effect<void, unknown> {
    return Effect.onExit(
      this.waitFor<void, unknown>(() => {
        if (this.state !== "closed") return undefined
        return this.escalation === undefined ? Effect.void : Effect.fail(this.escalation)
      }),
      () => this.close
    )
  }
}
