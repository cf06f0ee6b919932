/**
 * A review queue: files to review feed one rendezvous mailbox; N workers pull from it, each in a select on
 * "a task OR the run is finished OR the budget is spent". Tasks move by handoff, so each file is owned by
 * exactly one worker; when the budget runs out the queue closes and the files nobody took come back to the
 * feeder, still owned by it: nothing is lost and nothing is reviewed twice.
 */
import { Deferred, Effect, Exit } from "effect"
import { Budget, Handoff, Mailbox, Nursery, Select } from "@handoffkit/core"

export interface File {
  readonly path: string
  readonly text: string
}

export interface Finding {
  readonly path: string
  readonly worker: string
  readonly todos: number
  readonly longLines: number
}

export interface Report {
  readonly findings: ReadonlyArray<Finding>
  /** Files no worker took, handed back to the feeder when the queue closed. */
  readonly unreviewed: ReadonlyArray<string>
  readonly callsSpent: number
}

// The "model call" of this example: deterministic, so the test can check every finding.
const review = (file: File, worker: string): Finding => {
  const lines = file.text.split("\n")
  return {
    path: file.path,
    worker,
    todos: lines.filter((line) => line.includes("TODO")).length,
    longLines: lines.filter((line) => line.length > 100).length
  }
}

export const runReview = (
  files: ReadonlyArray<File>,
  options: { readonly workers: number; readonly calls: number }
) =>
  Effect.gen(function* () {
    const budget = yield* Budget.make({ calls: options.calls })
    const queue = yield* Mailbox.make<Handoff.Transfer<File>>({ capacity: 0, address: "review-queue" })
    const finished = yield* Deferred.make<void>()
    const findings: Array<Finding> = []
    const unreviewed: Array<string> = []

    const worker = (name: string) =>
      Effect.gen(function* () {
        for (;;) {
          const next = yield* Select.select(
            Select.signal(finished, () => Effect.succeed({ _tag: "Finished" } as const)),
            Select.budget(budget, () => Effect.succeed({ _tag: "BudgetSpent" } as const)),
            Select.receive(queue, (transfer) =>
              Effect.succeed({ _tag: "Task", task: transfer.task } as const)
            )
          )
          if (next._tag === "BudgetSpent") {
            // Stop taking work; close the queue so a feeder waiting on it gets its task back.
            yield* Mailbox.close(queue, "budget spent")
            return
          }
          if (next._tag === "Finished") return
          const file = yield* Handoff.get(next.task)
          const spent = yield* Effect.exit(Budget.spend(budget, { calls: 1 }))
          if (Exit.isFailure(spent)) {
            unreviewed.push(file.path)
            yield* Mailbox.close(queue, "budget spent")
            return
          }
          findings.push(review(file, name))
        }
      })

    yield* Nursery.run({ name: "review", strategy: "one-for-all" }, (nursery) =>
      Effect.gen(function* () {
        for (let w = 0; w < options.workers; w++) {
          yield* Nursery.start(nursery, worker(`worker-${w}`), { name: `worker-${w}`, restart: "temporary" })
        }
        for (const file of files) {
          const task = yield* Handoff.make(file)
          // A rendezvous: the send completes when a worker takes the task. If the queue closed, the task is
          // still ours (the handoff failed and kept ownership): report it instead of losing it.
          const sent = yield* Effect.exit(
            Handoff.transfer(task, queue.address, (t) => Mailbox.offer(queue, t))
          )
          if (Exit.isFailure(sent)) unreviewed.push((yield* Handoff.get(task)).path)
        }
        yield* Deferred.succeed(finished, void 0)
      })
    )
    const snapshot = yield* Budget.snapshot(budget)
    return { findings, unreviewed, callsSpent: snapshot.spent.calls } satisfies Report
  }).pipe(Effect.scoped)
