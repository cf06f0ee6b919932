/**
 * The reviews service: admits a run against the service-wide budget, starts it in the request's scope, and
 * keeps the traces of recent runs.
 *
 * **Guarantees**
 *
 * - Admission is decided before anything starts: a run's budget is a child slice of the service budget
 *   (`Budget.child`), reserved at once. When the slice does not fit, `start` fails with the
 *   `Budget.BudgetExceeded` that names the dimension, and nothing runs.
 * - A run lives in the Scope of the request that started it: closing that scope (the response is done, the
 *   client went away, the server shuts down) interrupts the run's fiber, which closes its nursery (every
 *   agent interrupted and awaited, their model requests aborted) and then its budget, whose unspent part
 *   goes back to the service budget.
 * - Each run traces into its own memory tracer, which forwards every event to the service tracer
 *   (`Tracer.CurrentTracer` when the Layer is built: the JSONL file of `HandoffKit.layer`, say). The last
 *   `maxRuns` runs are kept, each with at most `maxEventsPerRun` events: memory stays bounded.
 * - Actor addresses are per run (`<runId>/<role>`) in the one service Registry: runs cannot reach each
 *   other's actors by name, every trace line names its run, and the Registry can be replaced by a
 *   distributed one without changing this module.
 */
import { Cause, Context, Duration, Effect, Exit, Fiber, FiberSet, Layer, Option, Queue, Stream } from "effect"
import { LanguageModel } from "effect/ai"
import type * as Scope from "effect/Scope"
import { Budget, Tracer } from "@handoffkit/core"
import { Registry } from "@handoffkit/core/Registry"
import { HandoffKit } from "@handoffkit/llm"
import * as Review from "./Review.ts"

/** How the service runs reviews. Every field has a default. */
export interface Options {
  /** The slice of the service budget each run gets. Default: one call and its output bound per reviewer. */
  readonly runLimits?: Budget.Limits | undefined
  /** The output bound of each model call. Default 1024. */
  readonly maxOutputTokens?: number | undefined
  /** How long a run waits for all reviewers before it fails. Default 2 minutes. */
  readonly timeout?: Duration.Input | undefined
  /** How many recent runs keep their trace. Default 256. */
  readonly maxRuns?: number | undefined
  /** How many trace events a run keeps; later ones are counted in `dropped`. Default 5000. */
  readonly maxEventsPerRun?: number | undefined
}

/** Where a run is: running, or how it ended. */
export type Status = "running" | "completed" | "failed" | "interrupted"

/** A run's trace as `GET /runs/:id/trace` returns it. */
export interface RunTrace {
  readonly runId: string
  readonly status: Status
  readonly startedAt: number
  readonly endedAt: number | undefined
  readonly spent: Budget.Amounts | undefined
  readonly events: ReadonlyArray<Tracer.Event>
  /** Events past `maxEventsPerRun`, not kept. */
  readonly dropped: number
}

/** A started run: its id, its progress events (ending after `done` or `error`), and its result. */
export interface Run {
  readonly runId: string
  /** The run's budget: the dimensions it limits. */
  readonly limits: Budget.Usage
  readonly progress: Stream.Stream<Review.Progress>
  readonly result: Effect.Effect<Review.Review, Review.ReviewFailed>
}

/** The reviews service. */
export class Reviews extends Context.Service<
  Reviews,
  {
    /**
     * Admits and starts a run in the current Scope (the request's). Fails at once, starting nothing, when
     * the run's budget slice does not fit in the service budget.
     */
    readonly start: (request: Review.ReviewRequest) => Effect.Effect<Run, Budget.BudgetExceeded, Scope.Scope>
    /** The trace of a recent run. */
    readonly trace: (runId: string) => Effect.Effect<Option.Option<RunTrace>>
    /** How many runs are in flight. */
    readonly inFlight: Effect.Effect<number>
  }
>()("@handoffkit/example-effect-service/Reviews") {}

interface Entry {
  readonly runId: string
  status: Status
  readonly startedAt: number
  endedAt: number | undefined
  spent: Budget.Amounts | undefined
  readonly events: Array<Tracer.Event>
  dropped: number
}

let runs = 0
const nextRunId = (): string => `run-${Date.now().toString(36)}-${(++runs).toString(36)}`

/** The default slice of the service budget per run: one call, and its output bound, per reviewer. */
export const defaultRunLimits = (maxOutputTokens: number): Budget.Limits => ({
  calls: Review.reviewers.length,
  tokensOut: Review.reviewers.length * maxOutputTokens
})

/** Makes the service from the HandoffKit services; it lives as long as the current Scope. */
export const make = (
  options?: Options
): Effect.Effect<
  Reviews["Service"],
  never,
  Scope.Scope | Registry | LanguageModel.LanguageModel | HandoffKit.ServiceBudget
> =>
  Effect.gen(function* () {
    const serviceBudget = yield* HandoffKit.ServiceBudget
    const registry = yield* Registry
    const model = yield* LanguageModel.LanguageModel
    const serviceTracer = yield* Tracer.CurrentTracer
    const maxOutputTokens = options?.maxOutputTokens ?? 1024
    const runLimits = options?.runLimits ?? defaultRunLimits(maxOutputTokens)
    const timeout = options?.timeout ?? Duration.minutes(2)
    const maxRuns = options?.maxRuns ?? 256
    const maxEvents = options?.maxEventsPerRun ?? 5000
    // Runs still in flight when the service closes are interrupted with it.
    const fibers = yield* FiberSet.make<Review.Review, Review.ReviewFailed>()
    const recent = new Map<string, Entry>()

    const open = (runId: string, startedAt: number): Entry => {
      const entry: Entry = {
        runId,
        status: "running",
        startedAt,
        endedAt: undefined,
        spent: undefined,
        events: [],
        dropped: 0
      }
      recent.set(runId, entry)
      // A Map iterates in insertion order: the first key is the oldest run.
      while (recent.size > maxRuns) recent.delete(recent.keys().next().value!)
      return entry
    }

    // The run's tracer: keeps its events (bounded) and forwards each one to the service tracer, which
    // numbers it in the service-wide sequence.
    const tracerOf = (entry: Entry): Tracer.Tracer => {
      const keep: Tracer.Sink = {
        write: (event) => {
          if (entry.events.length < maxEvents) entry.events.push(event)
          else entry.dropped++
        }
      }
      const forward: Tracer.Sink = { write: (event) => serviceTracer.emit({ ...event }) }
      return Tracer.make(serviceTracer.enabled ? [keep, forward] : [keep])
    }

    const start = (request: Review.ReviewRequest): Effect.Effect<Run, Budget.BudgetExceeded, Scope.Scope> =>
      Effect.gen(function* () {
        const scope = yield* Effect.scope
        const runId = nextRunId()
        // The request's span, ended when the request's scope closes: the run's agents are made under it.
        const span = yield* Effect.makeSpanScoped("handoffkit.service.review", {
          attributes: { "handoffkit.run_id": runId, "handoffkit.correlation_id": runId }
        })
        const budget = yield* Budget.child(serviceBudget, runLimits).pipe(
          Effect.catchTag("BudgetInvalid", Effect.die),
          Effect.tapError((error) =>
            Effect.sync(() => span.attribute("handoffkit.refused", `${error.dimension}: ${error.reason}`))
          )
        )
        const limits = Review.limited((yield* Budget.snapshot(budget)).limits)
        const entry = open(runId, Date.now())
        const progress = yield* Queue.unbounded<Review.Progress, Cause.Done>()
        const emit = (event: Review.Progress) => void Queue.offerUnsafe(progress, event)
        emit({ type: "started", runId, reviewers: Review.reviewers.map((r) => r.name), limits })
        const fiber = yield* Review.run(request, {
          runId,
          budget,
          emit,
          timeout,
          maxOutputTokens,
          span
        }).pipe(
          Effect.scoped,
          Effect.onExit((exit) =>
            Effect.gen(function* () {
              // The run's scope is closed here: every agent has exited and settled its model calls.
              const spent = (yield* Budget.snapshot(budget)).spent
              entry.spent = spent
              entry.endedAt = Date.now()
              if (Exit.isSuccess(exit)) {
                entry.status = "completed"
                emit({ type: "done", runId, spent })
              } else if (Cause.hasInterruptsOnly(exit.cause)) {
                entry.status = "interrupted"
              } else {
                entry.status = "failed"
                const failure = Cause.squash(exit.cause)
                emit({
                  type: "error",
                  runId,
                  error: failure instanceof Review.ReviewFailed ? failure._tag : "Defect",
                  message: failure instanceof Error ? failure.message : String(failure)
                })
              }
              Queue.endUnsafe(progress)
            })
          ),
          Effect.provideService(Tracer.CurrentTracer, tracerOf(entry)),
          Effect.provideService(Registry, registry),
          Effect.provideService(LanguageModel.LanguageModel, model),
          Effect.withParentSpan(span),
          Effect.forkIn(scope, { startImmediately: true })
        )
        yield* FiberSet.add(fibers, fiber)
        return { runId, limits, progress: Stream.fromQueue(progress), result: Fiber.join(fiber) }
      })

    return Reviews.of({
      start,
      trace: (runId) =>
        Effect.sync(() =>
          Option.map(Option.fromUndefinedOr(recent.get(runId)), (entry) => ({
            runId: entry.runId,
            status: entry.status,
            startedAt: entry.startedAt,
            endedAt: entry.endedAt,
            spent: entry.spent,
            events: entry.events.slice(),
            dropped: entry.dropped
          }))
        ),
      inFlight: FiberSet.size(fibers)
    })
  })

/** The service as a Layer, from the HandoffKit services (`HandoffKit.layer` or `HandoffKit.layerWith`). */
export const layer = (
  options?: Options
): Layer.Layer<Reviews, never, Registry | LanguageModel.LanguageModel | HandoffKit.ServiceBudget> =>
  Layer.effect(Reviews, make(options))
