import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scheduler, Schema } from "effect"
import { Actor, DeadLetter, Handoff, Mailbox } from "../src/index.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

const yields = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

describe("Handoff", () => {
  it.effect("after a send, every use of the sender's handle fails with OwnershipMoved", () =>
    Effect.gen(function* () {
      const got = yield* Deferred.make<Handoff.Transfer<{ file: string }>>()
      const coder = yield* Actor.make<Handoff.Transfer<{ file: string }>>("coder", (m) =>
        Deferred.succeed(got, m.payload)
      )
      const task = yield* Handoff.make({ file: "src/a.ts" }, { ...Handoff.emptyContext, summary: "rename" })
      yield* Handoff.send(task, coder)
      const read = yield* Effect.flip(Handoff.get(task))
      assert.strictEqual(read._tag, "OwnershipMoved")
      assert.strictEqual(read.to, "coder")
      assert.include(read.message, `now belongs to "coder"`)
      assert.strictEqual((yield* Effect.flip(Handoff.context(task)))._tag, "OwnershipMoved")
      assert.strictEqual((yield* Effect.flip(Handoff.send(task, coder)))._tag, "OwnershipMoved")
      // The receiver owns it now, with the context that travelled with it.
      const transfer = yield* Deferred.await(got)
      assert.strictEqual(transfer.task.id, task.id)
      assert.deepStrictEqual(yield* Handoff.get(transfer.task), { file: "src/a.ts" })
      assert.strictEqual((yield* Handoff.context(transfer.task)).summary, "rename")
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("the task is frozen: neither the creator nor the receiver can change it", () =>
    Effect.gen(function* () {
      const original = { steps: ["a"], meta: { owner: "planner" } }
      const task = yield* Handoff.make(original)
      assert.throws(() => original.steps.push("b"))
      assert.throws(() => {
        original.meta.owner = "mallory"
      })
      assert.deepStrictEqual(yield* Handoff.get(task), { steps: ["a"], meta: { owner: "planner" } })
    })
  )

  it.effect("a failed delivery keeps ownership with the sender: nothing is lost", () =>
    Effect.gen(function* () {
      const gone = yield* Actor.make<Handoff.Transfer<string>>("gone", () => Effect.void)
      yield* Actor.stop(gone)
      const task = yield* Handoff.make("precious")
      const error = yield* Effect.flip(Handoff.send(task, gone))
      assert.strictEqual(error._tag, "DeliveryError")
      assert.strictEqual(yield* Handoff.get(task), "precious")
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("a chain A → B → C: each previous handle is dead, the last one owns it", () =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<Handoff.Task<number>>()
      const handles: Array<Handoff.Task<number>> = []
      const c = yield* Actor.make<Handoff.Transfer<number>>("c", (m) =>
        Deferred.succeed(done, m.payload.task)
      )
      const b = yield* Actor.make<Handoff.Transfer<number>>("b", (m, context) =>
        Effect.gen(function* () {
          handles.push(m.payload.task)
          assert.strictEqual(m.payload.from, "a")
          yield* Handoff.sendFrom(context, m.payload.task, c)
        })
      )
      const a = yield* Actor.make<Handoff.Transfer<number>>("a", (m, context) =>
        Effect.gen(function* () {
          handles.push(m.payload.task)
          yield* Handoff.sendFrom(context, m.payload.task, b)
        })
      )
      const task = yield* Handoff.make(7)
      handles.push(task)
      yield* Handoff.send(task, a)
      const last = yield* Deferred.await(done)
      for (const handle of handles) {
        assert.strictEqual((yield* Effect.flip(Handoff.get(handle)))._tag, "OwnershipMoved")
      }
      assert.strictEqual(yield* Handoff.get(last), 7)
    }).pipe(Effect.provide(Actor.layer))
  )

  it.effect.prop(
    "under concurrent sends of one handle exactly one succeeds; afterwards exactly one live handle exists",
    {
      senders: Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: 12 })),
      capacity: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 })),
      delays: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))),
      interruptSome: Schema.Boolean,
      opsBeforeYield: Schema.Int.check(Schema.isBetween({ minimum: 3, maximum: 32 }))
    },
    ({ senders, capacity, delays, interruptSome, opsBeforeYield }) =>
      Effect.gen(function* () {
        const received: Array<Handoff.Task<string>> = []
        // Under the harness, every accepted transfer is traced as a `handoff` (by `external`, to `inbox-i`), so
        // the kit's `oneOwnerPerTask` reports a task handed over by anyone but its current owner: two successful
        // sends of one handle would show as a second handoff by `external` after the task moved.
        const { events, exit } = yield* Harness.run(
          Effect.gen(function* () {
            const inboxes = yield* Effect.forEach(Array.from({ length: senders }), () =>
              Mailbox.make<Handoff.Transfer<string>>({ capacity })
            )
            const task = yield* Handoff.make("the task")
            // Receivers drain every inbox concurrently, at random paces.
            const receivers = yield* Effect.forEach(inboxes, (inbox, i) =>
              Effect.forkChild(
                Effect.forever(
                  Effect.flatMap(Mailbox.take(inbox), (t) =>
                    Effect.andThen(
                      Effect.sync(() => void received.push(t.task)),
                      yields(delays[i] ?? 0)
                    )
                  )
                )
              )
            )
            const fibers = yield* Effect.forEach(inboxes, (inbox, i) =>
              Effect.forkChild(
                Effect.andThen(
                  yields(delays[(i + 1) % Math.max(1, delays.length)] ?? 0),
                  Handoff.transfer(task, `inbox-${i}`, (t) => Mailbox.offer(inbox, t))
                )
              )
            )
            if (interruptSome) {
              yield* yields(1)
              for (let i = 0; i < fibers.length; i += 2) yield* Fiber.interrupt(fibers[i])
            }
            const exits = yield* Effect.forEach(fibers, Fiber.await)
            yield* yields(20)
            for (const r of receivers) yield* Fiber.interrupt(r)
            // A sender interrupted mid-transfer may still have handed the task over (the transfer itself is
            // not interruptible): ownership, not the sender's exit, is what must be consistent.
            const originalAlive = Exit.isSuccess(yield* Effect.exit(Handoff.get(task)))
            return { succeeded: exits.filter(Exit.isSuccess).length, originalAlive, taskId: task.id }
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, opsBeforeYield))
        )
        assert.isTrue(Exit.isSuccess(exit))
        if (!Exit.isSuccess(exit)) return
        const { succeeded, originalAlive, taskId } = exit.value
        assert.deepStrictEqual(Invariants.oneOwnerPerTask(events), [])
        const handoffs = events.filter((e) => e.kind === "handoff")
        assert.isAtMost(succeeded, 1, `${succeeded} sends succeeded`)
        assert.isAtMost(received.length, 1, `${received.length} receivers got the task`)
        assert.isAtLeast(received.length, succeeded, "every successful send was received")
        // The trace tells the same story: one handoff per receiver that got the task, of this task.
        assert.strictEqual(handoffs.length, received.length)
        for (const handoff of handoffs) assert.strictEqual(handoff.data?.taskId, taskId)
        const liveReceived = received.filter((h) => Exit.isSuccess(Effect.runSyncExit(Handoff.get(h)))).length
        assert.strictEqual(Number(originalAlive) + liveReceived, 1, "exactly one live owner")
        if (!interruptSome) assert.strictEqual(succeeded, 1)
      }),
    Check.propOptions()
  )

  it.effect(
    "two actors handing tasks to each other through full mailboxes do not keep their scope from closing",
    () =>
      Effect.gen(function* () {
        const refs: Array<Actor.ActorRef<Handoff.Transfer<number>>> = []
        yield* Effect.gen(function* () {
          for (const name of ["ping", "pong"]) {
            refs.push(
              yield* Actor.make<Handoff.Transfer<number>>(
                name,
                (m, context) => Handoff.sendFrom(context, m.payload.task, refs[name === "ping" ? 1 : 0]),
                { capacity: 0 }
              )
            )
          }
          for (let i = 0; i < 4; i++)
            yield* Effect.forkChild(Handoff.send(yield* Handoff.make(i), refs[i % 2]))
          yield* yields(50)
        }).pipe(Effect.scoped)
        // Reaching this line is the assertion: the scope closed although both actors were parked in handoffs.
        assert.strictEqual(refs.length, 2)
      }).pipe(Effect.provide(Actor.layer))
  )

  it.effect("an interrupted handoff that was not accepted stays with the sender; the copy is revoked", () =>
    Effect.gen(function* () {
      const sink = DeadLetter.collect()
      const gate = yield* Deferred.make<void>()
      const busy = yield* Actor.make<Handoff.Transfer<string>>("busy", () => Deferred.await(gate), {
        capacity: 0
      }).pipe(Effect.provideService(DeadLetter.DeadLetters, sink))
      yield* Handoff.send(yield* Handoff.make("first"), busy) // taken at once; the actor then blocks
      const task = yield* Handoff.make("second")
      const sending = yield* Effect.forkChild(Handoff.send(task, busy))
      yield* yields(10)
      yield* Fiber.interrupt(sending)
      assert.strictEqual(yield* Handoff.get(task), "second", "the sender still owns it")
      const withdrawn = sink.letters.find((l) => l.reason === "withdrawn")!
      const copy = (withdrawn.message as { payload: Handoff.Transfer<string> }).payload.task
      assert.strictEqual(
        (yield* Effect.flip(Handoff.get(copy)))._tag,
        "OwnershipMoved",
        "the copy is revoked"
      )
      yield* Deferred.succeed(gate, void 0)
    }).pipe(Effect.provide(Actor.layer))
  )
})
