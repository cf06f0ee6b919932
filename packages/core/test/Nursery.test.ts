import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Context, Deferred, Effect, Exit, Fiber, Scheduler, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Nursery from "../src/Nursery.ts"
import * as Tracer from "../src/Tracer.ts"
import { Check, Harness, Invariants } from "@handoffkit/testing"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

/** Yields until `condition` holds; dies instead of hanging when it never does. */
const eventually = (condition: () => boolean, label = "condition", max = 10_000) =>
  Effect.gen(function* () {
    for (let i = 0; i < max; i++) {
      if (condition()) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`${label} never held`))
  })

const yields = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

/** Records what happens to every incarnation of every child it wraps. */
const makeLog = () => {
  const events: Array<string> = []
  const incarnations: Record<string, number> = {}
  const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
  let enters = 0
  let exits = 0
  /** Wraps the body of child `name`; `behave` gets the incarnation number (1-based). */
  const child = <A, E>(name: string, behave: (incarnation: number) => Effect.Effect<A, E>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.withFiber((fiber) => {
        const n = (incarnations[name] = (incarnations[name] ?? 0) + 1)
        fibers.push(fiber)
        enters++
        events.push(`start ${name}#${n}`)
        return Effect.onExit(restore(behave(n)), (exit) =>
          Effect.sync(() => {
            exits++
            events.push(`${Exit.hasInterrupts(exit) ? "interrupted" : "ended"} ${name}#${n}`)
          })
        )
      })
    )
  return {
    events,
    incarnations,
    fibers,
    child,
    get enters() {
      return enters
    },
    get exits() {
      return exits
    },
    allDone: () => fibers.every((fiber) => fiber.pollUnsafe() !== undefined),
    starts: () => events.filter((e) => e.startsWith("start")).length
  }
}

const failAfter = (gate: Deferred.Deferred<void>, error = "boom") =>
  Effect.andThen(Deferred.await(gate), Effect.fail(error))

// -----------------------------------------------------------------------------
// strategies
// -----------------------------------------------------------------------------

describe("strategies restart exactly the right set", () => {
  const cases: ReadonlyArray<{
    readonly strategy: Nursery.Strategy
    readonly interrupted: ReadonlyArray<string>
    readonly restarted: ReadonlyArray<string>
  }> = [
    { strategy: "one-for-one", interrupted: [], restarted: ["b"] },
    { strategy: "one-for-all", interrupted: ["a", "c", "d"], restarted: ["a", "b", "c", "d"] },
    { strategy: "rest-for-one", interrupted: ["c", "d"], restarted: ["b", "c", "d"] }
  ]
  for (const { interrupted, restarted, strategy } of cases) {
    it.effect(strategy, () =>
      Effect.gen(function* () {
        const log = makeLog()
        const crash = yield* Deferred.make<void>()
        const n = yield* Nursery.make({ strategy, intensity: { maxRestarts: 5, window: "1 second" } })
        for (const name of ["a", "b", "c", "d"]) {
          yield* Nursery.start(
            n,
            log.child(name, (i) => (name === "b" && i === 1 ? failAfter(crash) : Effect.never)),
            { name }
          )
        }
        yield* eventually(() => log.starts() === 4)
        const before = log.events.length
        yield* Deferred.succeed(crash, undefined)
        yield* eventually(() => log.starts() === 4 + restarted.length, "restarts")
        yield* yields(20) // nothing else may happen afterwards
        const after = log.events.slice(before)
        const stops = after.filter((e) => e.startsWith("interrupted")).map((e) => e.slice(12, 13))
        const starts = after.filter((e) => e.startsWith("start")).map((e) => e.slice(6, 7))
        assert.deepStrictEqual([...stops].sort(), [...interrupted])
        assert.deepStrictEqual(starts, [...restarted], "restarted in start order")
        // every interrupted sibling exited before any restart
        const lastStop = Math.max(-1, ...after.map((e, i) => (e.startsWith("interrupted") ? i : -1)))
        const firstStart = after.findIndex((e) => e.startsWith("start"))
        assert.isTrue(lastStop < firstStart)
        for (const name of ["a", "b", "c", "d"]) {
          assert.strictEqual(log.incarnations[name], restarted.includes(name) ? 2 : 1, name)
        }
        const infos = yield* Nursery.children(n)
        assert.deepStrictEqual(
          infos.map((i) => i.name),
          ["a", "b", "c", "d"],
          "start order kept"
        )
        assert.deepStrictEqual(
          infos.map((i) => i.restarts),
          ["a", "b", "c", "d"].map((x) => (restarted.includes(x) ? 1 : 0))
        )
        assert.isTrue(infos.every((i) => i.alive))
      })
    )
  }

  it.effect("a temporary sibling stopped by one-for-all is not restarted", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const crash = yield* Deferred.make<void>()
      const n = yield* Nursery.make({ strategy: "one-for-all" })
      yield* Nursery.start(
        n,
        log.child("t", () => Effect.never),
        { name: "t", restart: "temporary" }
      )
      yield* Nursery.start(
        n,
        log.child("b", (i) => (i === 1 ? failAfter(crash) : Effect.never)),
        { name: "b" }
      )
      yield* eventually(() => log.starts() === 2)
      yield* Deferred.succeed(crash, undefined)
      yield* eventually(() => log.incarnations.b === 2)
      yield* yields(20)
      assert.strictEqual(log.incarnations.t, 1)
      assert.deepStrictEqual(
        (yield* Nursery.children(n)).map((i) => i.name),
        ["b"]
      )
    })
  )
})

// -----------------------------------------------------------------------------
// restart policies
// -----------------------------------------------------------------------------

describe("restart policies", () => {
  const outcomes = {
    succeed: Effect.void,
    fail: Effect.fail("boom"),
    die: Effect.die("bug"),
    interrupt: Effect.interrupt
  } as const
  const expected: Record<Nursery.RestartPolicy, Record<keyof typeof outcomes, boolean>> = {
    permanent: { succeed: true, fail: true, die: true, interrupt: true },
    transient: { succeed: false, fail: true, die: true, interrupt: false },
    temporary: { succeed: false, fail: false, die: false, interrupt: false }
  }
  for (const restart of ["permanent", "transient", "temporary"] as const) {
    for (const outcome of ["succeed", "fail", "die", "interrupt"] as const) {
      const restarted = expected[restart][outcome]
      it.effect(`${restart} child that ends with ${outcome} is ${restarted ? "" : "not "}restarted`, () =>
        Effect.gen(function* () {
          const log = makeLog()
          const n = yield* Nursery.make()
          yield* Nursery.start(
            n,
            log.child("c", (i) => (i === 1 ? outcomes[outcome] : Effect.never)),
            { restart }
          )
          if (restarted) {
            yield* eventually(() => log.incarnations.c === 2)
            assert.strictEqual(yield* Nursery.size(n), 1)
          } else {
            yield* Nursery.await(n) // empty: the child left
            assert.strictEqual(yield* Nursery.size(n), 0)
          }
          yield* yields(20)
          assert.strictEqual(log.incarnations.c, restarted ? 2 : 1)
        })
      )
    }
  }

  it.effect("the default policy is transient", () =>
    Effect.gen(function* () {
      const n = yield* Nursery.make()
      const child = yield* Nursery.start(n, Effect.void)
      assert.strictEqual(child.restart, "transient")
      yield* Nursery.await(n)
    })
  )

  it.effect("a restart keeps the services the child was started with", () =>
    Effect.gen(function* () {
      class Greeting extends Context.Service<Greeting, { readonly text: string }>()("test/Greeting") {}
      const seen: Array<string> = []
      const n = yield* Nursery.make()
      let runs = 0
      const child = Effect.gen(function* () {
        const greeting = yield* Greeting
        seen.push(greeting.text)
        if (++runs < 3) return yield* Effect.fail("again")
      })
      yield* Nursery.start(n, child).pipe(Effect.provideService(Greeting, { text: "hi" }))
      yield* Nursery.await(n)
      assert.deepStrictEqual(seen, ["hi", "hi", "hi"])
    })
  )

  it.effect("Child.await returns the exit of the current incarnation", () =>
    Effect.gen(function* () {
      const n = yield* Nursery.make()
      let runs = 0
      const child = yield* Nursery.start(
        n,
        Effect.suspend(() => (++runs === 1 ? Effect.fail("first") : Effect.succeed(42)))
      )
      const first = yield* child.await
      assert.deepStrictEqual(first, Exit.fail("first"))
      const second = yield* child.await
      assert.deepStrictEqual(second, Exit.succeed(42))
      assert.strictEqual(child.restarts, 1)
      // it left the nursery: await returns the last exit at once
      assert.deepStrictEqual(yield* child.await, Exit.succeed(42))
    })
  )

  it.effect("stop takes a permanent child out of supervision", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const n = yield* Nursery.make()
      const child = yield* Nursery.start(
        n,
        log.child("p", () => Effect.never),
        { restart: "permanent" }
      )
      yield* eventually(() => log.starts() === 1)
      const exit = yield* Nursery.stop(child)
      assert.isTrue(Exit.hasInterrupts(exit))
      assert.strictEqual(yield* Nursery.size(n), 0)
      yield* yields(20)
      assert.strictEqual(log.incarnations.p, 1)
      assert.isTrue(log.allDone())
      // stopping again returns the same exit
      assert.deepStrictEqual(yield* Nursery.stop(child), exit)
    })
  )
})

// -----------------------------------------------------------------------------
// intensity and escalation
// -----------------------------------------------------------------------------

describe("intensity", () => {
  it.effect("a child failing more than maxRestarts times within the window escalates", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const exit = yield* Effect.exit(
        Nursery.run({ name: "root", intensity: { maxRestarts: 2, window: "1 second" } }, (n) =>
          Nursery.start(
            n,
            log.child("w", () => Effect.fail("boom")),
            { name: "worker" }
          )
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, Nursery.NurseryEscalated)
      const escalated = error as Nursery.NurseryEscalated
      assert.strictEqual(escalated.nursery, "root")
      assert.strictEqual(escalated.child, "worker")
      assert.deepStrictEqual(escalated.cause, Cause.fail("boom"))
      assert.include(escalated.message, "boom")
      assert.include(escalated.message, `nursery "root" escalated`)
      assert.strictEqual(log.incarnations.w, 3, "1 start + 2 restarts")
      assert.isTrue(log.allDone())
    })
  )

  it.effect("maxRestarts 0 escalates on the first failure that needs a restart", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const exit = yield* Effect.exit(
        Nursery.run({ intensity: { maxRestarts: 0, window: "1 second" } }, (n) =>
          Nursery.start(
            n,
            log.child("w", () => Effect.die("bug"))
          )
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(log.incarnations.w, 1)
    })
  )

  it.effect("the window slides with the Clock (TestClock drives it)", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const n = yield* Nursery.make({ intensity: { maxRestarts: 1, window: "1 second" } })
      yield* Nursery.start(
        n,
        log.child("w", (i) => (i <= 3 ? failAfter(gates[i - 1]) : Effect.never))
      )
      yield* eventually(() => log.starts() === 1)
      yield* Deferred.succeed(gates[0], undefined) // restart 1 at t=0
      yield* eventually(() => log.incarnations.w === 2)
      yield* TestClock.adjust("1001 millis") // the first restart leaves the window
      yield* Deferred.succeed(gates[1], undefined) // restart 2 at t=1001: allowed
      yield* eventually(() => log.incarnations.w === 3)
      yield* Deferred.succeed(gates[2], undefined) // a second restart within 1s: escalates
      const result = yield* Effect.flip(Nursery.await(n))
      assert.strictEqual(result._tag, "NurseryEscalated")
      assert.strictEqual(log.incarnations.w, 3)
      assert.isTrue(log.allDone())
    })
  )

  it.effect("without the clock moving, the same failures escalate", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const n = yield* Nursery.make({ intensity: { maxRestarts: 1, window: "1 second" } })
      yield* Nursery.start(
        n,
        log.child("w", (i) => (i <= 2 ? failAfter(gates[i - 1]) : Effect.never))
      )
      yield* Deferred.succeed(gates[0], undefined)
      yield* eventually(() => log.incarnations.w === 2)
      yield* TestClock.adjust("1000 millis") // still inside the (inclusive) window
      yield* Deferred.succeed(gates[1], undefined)
      const result = yield* Effect.flip(Nursery.await(n))
      assert.strictEqual(result._tag, "NurseryEscalated")
    })
  )

  it.effect("a child that fails while a strategy stops it is stopped, not failed", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const crash = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const decisions: Array<string> = []
      const n = yield* Nursery.make({
        strategy: "one-for-all",
        intensity: { maxRestarts: 1, window: "1 second" },
        onEvent: (e) =>
          (e._tag === "Restarted" || e._tag === "Escalated") && decisions.push(`${e._tag} ${e.child}`)
      })
      yield* Nursery.start(
        n,
        log.child("a", (i) => (i === 1 ? failAfter(crash) : Effect.never)),
        { name: "a" }
      )
      // b cannot be interrupted until the gate opens, and then dies on its own
      yield* Nursery.start(
        n,
        log.child("b", (i) =>
          i === 1
            ? Effect.uninterruptible(Effect.andThen(Deferred.await(gate), Effect.die("bug")))
            : Effect.never
        ),
        { name: "b" }
      )
      yield* eventually(() => log.starts() === 2)
      yield* Deferred.succeed(crash, undefined)
      yield* yields(10)
      assert.deepStrictEqual(
        (yield* Nursery.children(n)).map((i) => i.status),
        ["restarting", "stopping"]
      )
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(() => log.starts() === 4)
      assert.deepStrictEqual(decisions, ["Restarted a"], "b's death while stopping is not a second failure")
      assert.deepStrictEqual(log.incarnations, { a: 2, b: 2 })
    })
  )

  it.effect("escalation stops every other child, and later starts fail with NurseryClosed", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const n = yield* Nursery.make({ intensity: { maxRestarts: 0, window: "1 second" } })
      yield* Nursery.start(
        n,
        log.child("a", () => Effect.never)
      )
      yield* Nursery.start(
        n,
        log.child("b", () => Effect.never)
      )
      const crash = yield* Deferred.make<void>()
      yield* Nursery.start(
        n,
        log.child("c", () => failAfter(crash))
      )
      yield* eventually(() => log.starts() === 3)
      yield* Deferred.succeed(crash, undefined)
      const error = yield* Effect.flip(Nursery.await(n))
      assert.strictEqual(error._tag, "NurseryEscalated")
      assert.isTrue(log.allDone())
      assert.strictEqual(log.enters, log.exits)
      const late = yield* Effect.flip(Nursery.start(n, Effect.void))
      assert.strictEqual(late._tag, "NurseryClosed")
    })
  )
})

// -----------------------------------------------------------------------------
// caps and closed nurseries
// -----------------------------------------------------------------------------

describe("caps and closed nurseries", () => {
  it.effect("the width cap fails with NurseryFull and frees up when a child leaves", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const n = yield* Nursery.make({ name: "narrow", maxChildren: 2 })
      yield* Nursery.start(n, Effect.never)
      yield* Nursery.start(n, Deferred.await(gate))
      const full = yield* Effect.flip(Nursery.start(n, Effect.never, { name: "third" }))
      assert.instanceOf(full, Nursery.NurseryFull)
      assert.strictEqual(full._tag, "NurseryFull")
      assert.strictEqual((full as Nursery.NurseryFull).maxChildren, 2)
      assert.include(full.message, `"third"`)
      const nestedFull = yield* Effect.flip(Nursery.nested(n))
      assert.strictEqual(nestedFull._tag, "NurseryFull")
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(() => Effect.runSync(Nursery.size(n)) === 1)
      yield* Nursery.start(n, Effect.never)
      assert.strictEqual(yield* Nursery.size(n), 2)
    })
  )

  it.effect("nested nurseries count toward the width of their parent", () =>
    Effect.gen(function* () {
      const n = yield* Nursery.make({ maxChildren: 1 })
      yield* Nursery.nested(n)
      const full = yield* Effect.flip(Nursery.start(n, Effect.void))
      assert.strictEqual(full._tag, "NurseryFull")
    })
  )

  it.effect("the depth cap fails with NurseryTooDeep", () =>
    Effect.gen(function* () {
      const root = yield* Nursery.make({ name: "root", maxDepth: 2 })
      const one = yield* Nursery.nested(root)
      const two = yield* Nursery.nested(one, { name: "two" })
      assert.deepStrictEqual([root.depth, one.depth, two.depth], [0, 1, 2])
      const error = yield* Effect.flip(Nursery.nested(two))
      assert.instanceOf(error, Nursery.NurseryTooDeep)
      const tooDeep = error as Nursery.NurseryTooDeep
      assert.deepStrictEqual([tooDeep.nursery, tooDeep.depth, tooDeep.maxDepth], ["two", 3, 2])
      // a nested nursery can only lower the cap
      const shallow = yield* Nursery.nested(root, { maxDepth: 1 })
      assert.strictEqual((yield* Effect.flip(Nursery.nested(shallow)))._tag, "NurseryTooDeep")
      const greedy = yield* Nursery.nested(root, { maxDepth: 100 })
      assert.strictEqual(greedy.maxDepth, 2)
    })
  )

  it.effect("the default depth cap is 16", () =>
    Effect.gen(function* () {
      let n = yield* Nursery.make()
      for (let i = 1; i <= 16; i++) n = yield* Nursery.nested(n)
      assert.strictEqual(n.depth, 16)
      const error = yield* Effect.flip(Nursery.nested(n))
      assert.strictEqual(error._tag, "NurseryTooDeep")
    })
  )

  it.effect("starting into a closed nursery fails with NurseryClosed and runs nothing", () =>
    Effect.gen(function* () {
      const n = yield* Effect.scoped(Nursery.make({ name: "gone" }))
      let ran = false
      const error = yield* Effect.flip(
        Nursery.start(
          n,
          Effect.sync(() => (ran = true)),
          { name: "late" }
        )
      )
      assert.instanceOf(error, Nursery.NurseryClosed)
      assert.include(error.message, `"late"`)
      assert.include(error.message, `"gone"`)
      assert.strictEqual((yield* Effect.flip(Nursery.nested(n)))._tag, "NurseryClosed")
      yield* yields(10)
      assert.isFalse(ran)
    })
  )

  it.effect("starting while a close is in progress fails with NurseryClosed", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const n = yield* Nursery.make()
      const started = yield* Deferred.make<void>()
      yield* Nursery.start(
        n,
        Effect.andThen(Deferred.succeed(started, undefined), Effect.never).pipe(
          Effect.onInterrupt(() => Deferred.await(release))
        )
      )
      yield* Deferred.await(started)
      const closing = yield* Effect.forkChild(Nursery.close(n))
      yield* yields(5)
      assert.isUndefined(closing.pollUnsafe(), "the close waits for the child's finalizer")
      assert.strictEqual((yield* Effect.flip(Nursery.start(n, Effect.void)))._tag, "NurseryClosed")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(closing)
    })
  )
})

// -----------------------------------------------------------------------------
// closing
// -----------------------------------------------------------------------------

describe("closing", () => {
  it.effect("a child that runs forever is interrupted and awaited when the scope closes", () =>
    Effect.gen(function* () {
      const log = makeLog()
      let cleaned = false
      const scope = yield* Scope.make()
      const n = yield* Scope.provide(Nursery.make(), scope)
      yield* Nursery.start(
        n,
        log.child("forever", () =>
          Effect.never.pipe(
            Effect.ensuring(
              Effect.andThen(
                yields(5),
                Effect.sync(() => (cleaned = true))
              )
            )
          )
        )
      )
      yield* eventually(() => log.starts() === 1)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(cleaned, "the close waited for the finalizer")
      assert.isTrue(log.allDone())
      assert.strictEqual(log.enters, log.exits)
    })
  )

  it.effect("close stops children one at a time in reverse start order", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const n = yield* Nursery.make()
      for (const name of ["a", "b", "c"]) {
        yield* Nursery.start(
          n,
          Effect.never.pipe(
            Effect.onInterrupt(() =>
              Effect.gen(function* () {
                events.push(`stop ${name}`)
                yield* yields(3)
                events.push(`stopped ${name}`)
              })
            )
          )
        )
      }
      yield* yields(5)
      yield* Nursery.close(n)
      assert.deepStrictEqual(events, ["stop c", "stopped c", "stop b", "stopped b", "stop a", "stopped a"])
    })
  )

  it.effect("nothing restarts once closing has begun", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const release = yield* Deferred.make<void>()
      const crash = yield* Deferred.make<void>()
      const n = yield* Nursery.make({ strategy: "one-for-all" })
      // a is slow to stop: the one-for-all restart stays pending while it finishes
      yield* Nursery.start(
        n,
        log.child("a", () => Effect.never.pipe(Effect.onInterrupt(() => Deferred.await(release))))
      )
      yield* Nursery.start(
        n,
        log.child("b", () => failAfter(crash))
      )
      yield* eventually(() => log.starts() === 2)
      yield* Deferred.succeed(crash, undefined)
      yield* yields(5)
      const infos = yield* Nursery.children(n)
      assert.deepStrictEqual(
        infos.map((i) => i.status),
        ["stopping", "restarting"]
      )
      const closing = yield* Effect.forkChild(Nursery.close(n))
      yield* yields(5)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(closing)
      yield* yields(10)
      assert.deepStrictEqual(log.incarnations, { a: 1, b: 1 })
      assert.isTrue(log.allDone())
    })
  )

  it.effect("a restart loop racing with close never outlives the close", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const n = yield* Nursery.make({ intensity: { maxRestarts: 1_000_000, window: "1 second" } })
      for (let i = 0; i < 5; i++) {
        yield* Nursery.start(
          n,
          log.child(`p${i}`, () => yields(i)),
          { restart: "permanent" }
        )
      }
      yield* eventually(() => log.starts() > 50)
      yield* Nursery.close(n)
      assert.isTrue(log.allDone())
      assert.strictEqual(log.enters, log.exits)
      const count = log.starts()
      yield* yields(20)
      assert.strictEqual(log.starts(), count)
    })
  )

  it.effect("closing from inside a child interrupts that child too", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const n = yield* Nursery.make()
      yield* Nursery.start(
        n,
        log.child("other", () => Effect.never)
      )
      yield* Nursery.start(
        n,
        log.child("closer", () => Nursery.close(n))
      )
      yield* Nursery.await(n)
      assert.isTrue(log.allDone())
      assert.deepStrictEqual(log.incarnations, { other: 1, closer: 1 })
    })
  )
})

// -----------------------------------------------------------------------------
// run
// -----------------------------------------------------------------------------

describe("run", () => {
  it.effect("waits for the children and returns the body's value", () =>
    Effect.gen(function* () {
      let done = false
      const fiber = yield* Effect.forkChild(
        Nursery.run({}, (n) =>
          Effect.as(
            Nursery.start(
              n,
              Effect.andThen(
                Effect.sleep("1 second"),
                Effect.sync(() => (done = true))
              )
            ),
            "value"
          )
        )
      )
      yield* yields(10)
      assert.isUndefined(fiber.pollUnsafe(), "run waits for its child")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), "value")
      assert.isTrue(done)
    })
  )

  it.effect("interrupts the children when the body fails", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const exit = yield* Effect.exit(
        Nursery.run({}, (n) =>
          Effect.gen(function* () {
            yield* Nursery.start(
              n,
              log.child("a", () => Effect.never)
            )
            yield* Nursery.start(
              n,
              log.child("b", () => Effect.never)
            )
            yield* eventually(() => log.starts() === 2)
            return yield* Effect.fail("body failed")
          })
        )
      )
      assert.deepStrictEqual(exit, Exit.fail("body failed"))
      assert.isTrue(log.allDone())
      assert.deepStrictEqual(
        log.events.filter((e) => e.startsWith("interrupted")),
        ["interrupted b#1", "interrupted a#1"]
      )
    })
  )

  it.effect("interrupts the children when the caller is interrupted", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const fiber = yield* Effect.forkChild(
        Nursery.run({}, (n) =>
          Effect.gen(function* () {
            const inner = yield* Nursery.nested(n)
            yield* Nursery.start(
              n,
              log.child("a", () => Effect.never)
            )
            yield* Nursery.start(
              inner,
              log.child("b", () => Effect.never)
            )
            return yield* Effect.never
          })
        )
      )
      yield* eventually(() => log.starts() === 2)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(log.allDone())
      assert.strictEqual(log.enters, log.exits)
    })
  )

  it.effect("fails with the escalation and interrupts the body", () =>
    Effect.gen(function* () {
      let bodyInterrupted = false
      const exit = yield* Effect.exit(
        Nursery.run({ intensity: { maxRestarts: 1, window: "1 second" } }, (n) =>
          Effect.gen(function* () {
            yield* Nursery.start(n, Effect.fail("boom"), { name: "crasher" })
            return yield* Effect.never.pipe(
              Effect.onInterrupt(() => Effect.sync(() => (bodyInterrupted = true)))
            )
          })
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(
        Exit.isFailure(exit) && (Cause.squash(exit.cause) as Nursery.NurseryEscalated).child,
        "crasher"
      )
      assert.isTrue(bodyInterrupted)
    })
  )
})

// -----------------------------------------------------------------------------
// nested nurseries
// -----------------------------------------------------------------------------

describe("nested nurseries", () => {
  it.effect("an escalation climbs to the root when the parent's intensity is exhausted", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Nursery.run({ name: "root", intensity: { maxRestarts: 0, window: "1 second" } }, (root) =>
          Effect.gen(function* () {
            const team = yield* Nursery.nested(root, {
              name: "team",
              intensity: { maxRestarts: 0, window: "1 second" }
            })
            yield* Nursery.start(team, Effect.fail("boom"), { name: "worker" })
          })
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? (Cause.squash(exit.cause) as Nursery.NurseryEscalated) : undefined
      assert.strictEqual(error?.nursery, "root")
      assert.strictEqual(error?.child, "team")
      const inner = error === undefined ? undefined : (Cause.squash(error.cause) as Nursery.NurseryEscalated)
      assert.strictEqual(inner?._tag, "NurseryEscalated")
      assert.strictEqual(inner?.nursery, "team")
      assert.strictEqual(inner?.child, "worker")
      assert.include(error?.message, "boom")
    })
  )

  it.effect("an escalation counts once in the parent and triggers its strategy on the siblings", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const events: Array<Nursery.NurseryEvent> = []
      const root = yield* Nursery.make({
        name: "root",
        strategy: "one-for-all",
        intensity: { maxRestarts: 5, window: "1 second" },
        onEvent: (event) => events.push(event)
      })
      yield* Nursery.start(
        root,
        log.child("sibling", () => Effect.never),
        { name: "sibling" }
      )
      const team = yield* Nursery.nested(root, {
        name: "team",
        intensity: { maxRestarts: 0, window: "1 second" }
      })
      yield* Nursery.start(
        team,
        log.child("worker", () => Effect.fail("boom"))
      )
      yield* eventually(() => log.incarnations.sibling === 2, "sibling restarted")
      assert.strictEqual(log.incarnations.worker, 1)
      assert.deepStrictEqual(
        (yield* Nursery.children(root)).map((i) => i.name),
        ["sibling"]
      )
      assert.deepStrictEqual(
        events
          .filter((e) => e.nursery === "root" && e._tag === "Restarted")
          .map((e) => e._tag === "Restarted" && e.child),
        ["team"]
      )
      assert.strictEqual((yield* Effect.flip(Nursery.start(team, Effect.void)))._tag, "NurseryClosed")
      assert.strictEqual((yield* Effect.flip(Nursery.await(team)))._tag, "NurseryEscalated")
    })
  )

  it.effect("close on a nested nursery stops its children and leaves the parent quietly", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const root = yield* Nursery.make({ strategy: "one-for-all" })
      yield* Nursery.start(
        root,
        log.child("sibling", () => Effect.never)
      )
      const team = yield* Nursery.nested(root)
      yield* Nursery.start(
        team,
        log.child("worker", () => Effect.never),
        { restart: "permanent" }
      )
      yield* eventually(() => log.starts() === 2)
      yield* Nursery.close(team)
      assert.strictEqual(log.events.includes("interrupted worker#1"), true)
      assert.strictEqual(yield* Nursery.size(root), 1)
      yield* yields(20)
      assert.deepStrictEqual(log.incarnations, { sibling: 1, worker: 1 })
      assert.strictEqual((yield* Effect.flip(Nursery.start(team, Effect.void)))._tag, "NurseryClosed")
    })
  )

  it.effect("closing the root closes a deep tree, leaves first", () =>
    Effect.gen(function* () {
      const log = makeLog()
      const scope = yield* Scope.make()
      const root = yield* Scope.provide(Nursery.make(), scope)
      let n = root
      for (let depth = 1; depth <= 4; depth++) {
        yield* Nursery.start(
          n,
          log.child(`c${depth}`, () => Effect.never)
        )
        n = yield* Nursery.nested(n)
      }
      yield* eventually(() => log.starts() === 4)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(log.allDone())
      assert.deepStrictEqual(
        log.events.filter((e) => e.startsWith("interrupted")),
        ["interrupted c4#1", "interrupted c3#1", "interrupted c2#1", "interrupted c1#1"]
      )
    })
  )
})

// -----------------------------------------------------------------------------
// the examples of the doc comments, run as written
// -----------------------------------------------------------------------------

describe("doc examples", () => {
  it.effect("start: a transient worker is restarted until it succeeds", () =>
    Effect.gen(function* () {
      let attempts = 0
      const flaky = Effect.suspend(() => (++attempts < 3 ? Effect.fail("not yet") : Effect.succeed("done")))
      const program = Nursery.run({}, (n) => Nursery.start(n, flaky, { name: "flaky" }))
      yield* program
      assert.strictEqual(attempts, 3)
    })
  )

  it.effect("run: fan out, then join", () =>
    Effect.gen(function* () {
      const results: Array<number> = []
      const program = Nursery.run({ name: "fan-out" }, (n) =>
        Effect.forEach([1, 2, 3], (i) =>
          Nursery.start(
            n,
            Effect.sync(() => results.push(i * 10))
          )
        )
      )
      yield* program
      assert.deepStrictEqual([...results].sort(), [10, 20, 30])
    })
  )

  it.effect("NurseryEscalated: a child that always fails", () =>
    Effect.gen(function* () {
      const program = Nursery.run({ intensity: { maxRestarts: 2, window: "1 second" } }, (n) =>
        Nursery.start(n, Effect.fail("boom"))
      ).pipe(Effect.catchTag("NurseryEscalated", (e) => Effect.succeed(e.child)))
      const child = yield* program
      assert.match(String(child), /^child-\d+$/)
    })
  )

  it.effect("NurseryEvent: logging restarts", () =>
    Effect.gen(function* () {
      const restarts: Array<string> = []
      let attempts = 0
      const program = Nursery.run(
        { onEvent: (event) => event._tag === "Restarted" && restarts.push(event.child) },
        (n) =>
          Nursery.start(
            n,
            Effect.suspend(() => (++attempts < 2 ? Effect.fail("once") : Effect.void)),
            { name: "flaky" }
          )
      )
      yield* program
      assert.deepStrictEqual(restarts, ["flaky"])
    })
  )

  it.effect("stop, children, size, NurseryTooDeep, NurseryFull, nested", () =>
    Effect.gen(function* () {
      const stopped = yield* Nursery.run({}, (n) =>
        Effect.gen(function* () {
          const server = yield* Nursery.start(n, Effect.never, { restart: "permanent" })
          return yield* Nursery.stop(server)
        })
      )
      assert.isTrue(Exit.hasInterrupts(stopped))
      const restarts = yield* Nursery.run({}, (n) =>
        Effect.gen(function* () {
          yield* Nursery.start(n, Effect.never)
          const restarts = (yield* Nursery.children(n)).map((info) => info.restarts)
          yield* Nursery.close(n)
          return restarts
        })
      )
      assert.deepStrictEqual(restarts, [0])
      assert.strictEqual(yield* Nursery.run({}, (n) => Nursery.size(n)), 0)
      const tooDeep = yield* Nursery.run({ maxDepth: 0 }, (n) => Effect.flip(Nursery.nested(n)))
      assert.strictEqual(tooDeep._tag, "NurseryTooDeep")
      const full = yield* Nursery.run({ maxChildren: 1 }, (n) =>
        Effect.gen(function* () {
          yield* Nursery.start(n, Effect.never)
          const error = yield* Effect.flip(Nursery.start(n, Effect.never))
          yield* Nursery.close(n)
          return error
        })
      )
      assert.strictEqual(full._tag, "NurseryFull")
      yield* Nursery.run({ name: "root" }, (root) =>
        Effect.gen(function* () {
          const team = yield* Nursery.nested(root, { name: "team", strategy: "one-for-all" })
          yield* Nursery.start(team, Effect.never, { name: "writer" })
          yield* Nursery.start(team, Effect.never, { name: "reviewer" })
          yield* Nursery.close(root)
        })
      )
      // start and nested are dual
      yield* Nursery.run({}, (n) =>
        Effect.gen(function* () {
          const child = yield* n.pipe(Nursery.start(Effect.succeed(1), { name: "piped" }))
          assert.deepStrictEqual(yield* child.await, Exit.succeed(1))
          const inner = yield* n.pipe(Nursery.nested({ name: "inner" }))
          assert.strictEqual(inner.parent, n)
          yield* Nursery.close(inner)
        })
      )
      assert.isTrue(Nursery.isNursery(yield* Effect.scoped(Nursery.make())))
      assert.isFalse(Nursery.isNursery({}))
      assert.isFalse(Nursery.isChild({}))
    })
  )
})

// -----------------------------------------------------------------------------
// property: random supervision trees
// -----------------------------------------------------------------------------

// A tiny deterministic PRNG, so a tree and its schedule are a function of the generated seed (replayable).
const prng = (seed: number) => {
  let s = seed | 0 || 1
  const next = (bound: number) => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) % bound
  }
  return {
    int: (lo: number, hi: number) => lo + next(hi - lo + 1),
    pick: <A>(items: ReadonlyArray<A>): A => items[next(items.length)],
    chance: (percent: number) => next(100) < percent
  }
}

interface Outcome {
  readonly end: "fail" | "die" | "succeed" | "forever"
  readonly yields: number
  readonly sleepMillis: number
}

interface ChildPlan {
  readonly _tag: "child"
  readonly name: string
  readonly restart: Nursery.RestartPolicy
  /** What incarnation i + 1 does; later incarnations run forever. */
  readonly script: ReadonlyArray<Outcome>
}

interface NurseryPlan {
  readonly _tag: "nursery"
  readonly name: string
  readonly strategy: Nursery.Strategy
  readonly maxRestarts: number
  readonly windowMillis: number
  readonly items: ReadonlyArray<ChildPlan | NurseryPlan>
}

interface Plan {
  readonly root: NurseryPlan
  readonly mode: "scope" | "run-interrupt" | "run-close"
  /** Clock steps of 1 ms, with the children running in between. */
  readonly steps: number
  /** Close while children may still be failing and restarting, instead of once the schedule has settled. */
  readonly closeEarly: boolean
  readonly closeAfterYields: number
}

const makePlan = (seed: number): Plan => {
  const r = prng(seed)
  const levels = r.pick([1, 2, 2, 3, 3])
  const outcome = (): Outcome => ({
    end: r.pick(["fail", "fail", "die", "succeed", "forever"] as const),
    yields: r.int(0, 4),
    sleepMillis: r.chance(40) ? r.int(1, 10) : 0
  })
  const nursery = (name: string, level: number): NurseryPlan => {
    const width = r.int(1, 5)
    const items: Array<ChildPlan | NurseryPlan> = []
    for (let i = 0; i < width; i++) {
      if (level < levels && r.chance(45)) {
        items.push(nursery(`${name}.${i}`, level + 1))
      } else {
        const script: Array<Outcome> = []
        const length = r.int(0, 3)
        for (let k = 0; k < length; k++) script.push(outcome())
        items.push({
          _tag: "child",
          name: `${name}.c${i}`,
          restart: r.pick(["permanent", "transient", "temporary"]),
          script
        })
      }
    }
    return {
      _tag: "nursery",
      name,
      strategy: r.pick(["one-for-one", "one-for-all", "rest-for-one"]),
      maxRestarts: r.int(0, 3),
      // 1000 ms never slides within a run (the clock moves at most ~25 ms); the others do
      windowMillis: r.pick([3, 10, 1000]),
      items
    }
  }
  return {
    root: nursery("r", 1),
    mode: r.pick(["scope", "run-interrupt", "run-close"]),
    steps: r.int(0, 25),
    closeEarly: r.chance(30),
    closeAfterYields: r.int(0, 20)
  }
}

const nurseriesOf = (plan: NurseryPlan): Array<NurseryPlan> => [
  plan,
  ...plan.items.flatMap((item) => (item._tag === "nursery" ? nurseriesOf(item) : []))
]

const childrenOf = (plan: NurseryPlan): Array<ChildPlan> =>
  plan.items.flatMap((item) => (item._tag === "child" ? [item] : childrenOf(item)))

/** Whether the nursery must count this exit of its child toward the intensity (no child here interrupts itself). */
const triggers = (exit: Exit.Exit<unknown, unknown>, item: ChildPlan | NurseryPlan): boolean => {
  if (Exit.isSuccess(exit)) return item._tag === "child" && item.restart === "permanent"
  if (Cause.hasInterruptsOnly(exit.cause)) return false
  return item._tag === "nursery" || item.restart !== "temporary"
}

/** The restart decisions an intensity of `maxRestarts` within `window` makes for failures at `times`. */
const simulate = (
  failures: ReadonlyArray<{ readonly child: string; readonly time: number }>,
  maxRestarts: number,
  window: number
): Array<string> => {
  const recent: Array<number> = []
  const decisions: Array<string> = []
  for (const { child, time } of failures) {
    while (recent.length > 0 && time - recent[0] > window) recent.shift()
    if (recent.length >= maxRestarts) {
      decisions.push(`Escalated ${child} @${time}`)
      break
    }
    recent.push(time)
    decisions.push(`Restarted ${child} @${time}`)
  }
  return decisions
}

/**
 * Runs a random tree under the harness (a memory tracer, its own registry and scope) and checks its trace with
 * the kit, besides what `runTree` asserts as it goes: every incarnation that started exited
 * (`noOrphanFibers`), and the nurseries traced exactly the starts, restarts and escalations they reported.
 */
// Across runs: the trees did run children, so `noOrphanFibers` had incarnations to pair.
const treeStats = { runs: 0, incarnations: 0 }

const checkTree = (input: { readonly seed: number; readonly opsBeforeYield: number }) =>
  Effect.gen(function* () {
    const { events: trace, exit } = yield* Harness.run(runTree(input))
    if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause) // an assertion of runTree failed
    const reported = exit.value
    assert.deepStrictEqual(Invariants.noOrphanFibers(trace), [])
    treeStats.runs++
    treeStats.incarnations += trace.filter((e) => e.kind === "spawn").length
    const count = (kind: Tracer.Kind) => trace.filter((e) => e.kind === kind).length
    const tagged = (tag: Nursery.NurseryEvent["_tag"]) => reported.filter((e) => e._tag === tag).length
    assert.strictEqual(count("nursery.start"), tagged("Started"))
    assert.strictEqual(count("nursery.restart"), tagged("Restarted"))
    assert.strictEqual(count("nursery.escalate"), tagged("Escalated"))
  })

const runTree = ({ opsBeforeYield: ops, seed }: { readonly seed: number; readonly opsBeforeYield: number }) =>
  Effect.gen(function* () {
    const plan = makePlan(seed)
    // half the runs preempt fibers every 3 to 35 operations, to shake out interleavings
    const preempt = ops >= 32
    const context = `seed ${seed}, ops ${ops}, mode ${plan.mode}, closeEarly ${plan.closeEarly}`
    const planOf = new Map<string, ChildPlan | NurseryPlan>()
    for (const n of nurseriesOf(plan.root)) {
      planOf.set(n.name, n)
      for (const item of n.items) planOf.set(item.name, item)
    }
    const parentOf = new Map<string, string>()
    for (const n of nurseriesOf(plan.root)) for (const item of n.items) parentOf.set(item.name, n.name)

    // what the test sees from inside the children
    const fibers: Array<{ readonly name: string; readonly fiber: Fiber.Fiber<unknown, unknown> }> = []
    const incarnations = new Map<string, number>()
    const ends: Array<{
      readonly child: string
      readonly time: number
      readonly exit: Exit.Exit<unknown, unknown>
      readonly beforeClose: boolean
    }> = []
    let enters = 0
    let exits = 0
    // what the nurseries report
    const events: Array<Nursery.NurseryEvent> = []
    const violations: Array<string> = []
    let closingAt = Number.POSITIVE_INFINITY

    const onEvent = (event: Nursery.NurseryEvent) => {
      events.push(event)
      if (event._tag === "Closed") {
        // no fiber started below this nursery is alive once it reports closed
        for (const { fiber, name } of fibers) {
          if (name.startsWith(`${event.nursery}.`) && fiber.pollUnsafe() === undefined) {
            violations.push(`${name} alive after ${event.nursery} closed`)
          }
        }
      }
    }

    const body = (item: ChildPlan) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.withFiber((fiber) => {
          const incarnation = (incarnations.get(item.name) ?? 0) + 1
          incarnations.set(item.name, incarnation)
          fibers.push({ name: item.name, fiber })
          enters++
          // Each incarnation is traced like an actor's, so that the kit's `noOrphanFibers` can pair them.
          const tracer = fiber.getRef(Tracer.CurrentTracer)
          tracer.emit({ kind: "spawn", actor: item.name })
          const clock = fiber.getRef(Clock.Clock)
          const o = item.script[incarnation - 1]
          const run =
            o === undefined || o.end === "forever"
              ? Effect.never
              : Effect.andThen(
                  o.sleepMillis > 0 ? Effect.sleep(o.sleepMillis) : yields(o.yields),
                  o.end === "fail" ? Effect.fail("crash") : o.end === "die" ? Effect.die("bug") : Effect.void
                )
          return Effect.onExit(restore(run), (exit) =>
            Effect.sync(() => {
              exits++
              tracer.emit({ kind: "exit", actor: item.name })
              ends.push({
                child: item.name,
                time: clock.currentTimeMillisUnsafe(),
                exit,
                beforeClose: closingAt === Number.POSITIVE_INFINITY
              })
            })
          )
        })
      )

    const optionsOf = (n: NurseryPlan): Nursery.Options => ({
      name: n.name,
      strategy: n.strategy,
      intensity: { maxRestarts: n.maxRestarts, window: n.windowMillis },
      onEvent
    })

    const build = (nursery: Nursery.Nursery, n: NurseryPlan): Effect.Effect<void> =>
      Effect.forEach(
        n.items,
        (item) =>
          item._tag === "child"
            ? Effect.ignore(Nursery.start(nursery, body(item), { name: item.name, restart: item.restart }))
            : Effect.ignore(
                Effect.flatMap(Nursery.nested(nursery, optionsOf(item)), (sub) => build(sub, item))
              ),
        {
          discard: true
        }
      )

    let quiescent = false
    const drive = Effect.gen(function* () {
      for (let step = 0; step < plan.steps; step++) {
        yield* yields(8)
        yield* TestClock.adjust(1)
      }
      if (plan.closeEarly) return yield* yields(plan.closeAfterYields)
      for (let round = 0; round < 100 && !quiescent; round++) {
        const before = events.length + ends.length
        yield* yields(60)
        quiescent = events.length + ends.length === before
      }
    })
    const markClosing = Effect.sync(() => {
      closingAt = events.length
    })

    let result: Exit.Exit<unknown, unknown>
    if (plan.mode === "scope") {
      const scope = yield* Scope.make()
      const root = yield* Scope.provide(Nursery.make(optionsOf(plan.root)), scope)
      yield* build(root, plan.root)
      yield* drive
      yield* markClosing
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(
        fibers.every(({ fiber }) => fiber.pollUnsafe() !== undefined),
        `a fiber outlived the scope (${context})`
      )
      result = yield* Effect.exit(Nursery.await(root))
    } else {
      const built = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Nursery.run(optionsOf(plan.root), (root) =>
          Effect.gen(function* () {
            yield* build(root, plan.root)
            yield* Deferred.succeed(built, undefined)
            yield* Deferred.await(finish)
            yield* Nursery.close(root)
          })
        )
      )
      yield* eventually(() => Deferred.isDoneUnsafe(built) || fiber.pollUnsafe() !== undefined, "built")
      yield* drive
      yield* markClosing
      if (plan.mode === "run-interrupt") {
        yield* Fiber.interrupt(fiber)
      } else {
        yield* Deferred.succeed(finish, undefined)
        yield* Fiber.await(fiber)
      }
      assert.isTrue(
        fibers.every(({ fiber }) => fiber.pollUnsafe() !== undefined),
        `a fiber outlived run (${context})`
      )
      result = fiber.pollUnsafe()!
    }

    // no fiber outlives its nursery, at any level; every incarnation that entered also exited
    assert.deepStrictEqual(violations, [], context)
    assert.strictEqual(enters, exits, context)
    assert.isTrue(plan.closeEarly || quiescent, `the schedule never settled (${context})`)

    // every incarnation the nurseries started also exited, and the test saw at most that many
    const started = new Map<string, number>()
    const exited = new Map<string, number>()
    for (const e of events) {
      if (e._tag === "Started") started.set(e.child, (started.get(e.child) ?? 0) + 1)
      if (e._tag === "Exited") exited.set(e.child, (exited.get(e.child) ?? 0) + 1)
    }
    assert.deepStrictEqual([...started].sort(), [...exited].sort(), context)
    for (const child of childrenOf(plan.root)) {
      assert.isAtMost(incarnations.get(child.name) ?? 0, started.get(child.name) ?? 0, context)
    }

    // per nursery: restarts within any window never exceed maxRestarts, and it escalates exactly at
    // the failure that would exceed them
    for (const n of nurseriesOf(plan.root)) {
      const decisions = events.filter(
        (e): e is Extract<Nursery.NurseryEvent, { _tag: "Restarted" | "Escalated" }> =>
          (e._tag === "Restarted" || e._tag === "Escalated") && e.nursery === n.name
      )
      const restarts = decisions.filter((e) => e._tag === "Restarted").map((e) => e.time)
      for (const d of decisions) {
        const inWindow = restarts.filter((t) => t <= d.time && d.time - t <= n.windowMillis).length
        if (d._tag === "Restarted") {
          assert.isAtMost(inWindow, n.maxRestarts, `${n.name} restarted too often (${context})`)
        } else {
          assert.strictEqual(inWindow, n.maxRestarts, `${n.name} escalated early (${context})`)
        }
      }
      const escalations = decisions.filter((e) => e._tag === "Escalated")
      assert.isAtMost(escalations.length, 1, context)
      if (escalations.length === 1) {
        const closed = events.find((e) => e._tag === "Closed" && e.nursery === n.name)
        assert.isTrue(
          closed?._tag === "Closed" && closed.escalated,
          `${n.name} escalated but never closed (${context})`
        )
      }
    }

    // the root decides exactly what its intensity says about the failures of its own children
    // (an exit the nursery caused by stopping the child never counts, whatever its cause: a child can fail
    // on its own just as the nursery interrupts it)
    const rootFailures = events
      .slice(0, closingAt)
      .flatMap((e) =>
        e._tag === "Exited" &&
        e.nursery === plan.root.name &&
        !e.stopped &&
        triggers(e.exit, planOf.get(e.child)!)
          ? [{ child: e.child, time: e.time }]
          : []
      )
    if (plan.root.strategy === "one-for-one") {
      // a one-for-one nursery stops children only when it closes or escalates
      const escalatedAt = events.findIndex((e) => e._tag === "Escalated" && e.nursery === plan.root.name)
      events.slice(0, closingAt).forEach((e, i) => {
        if (e._tag === "Exited" && e.nursery === plan.root.name && e.stopped) {
          assert.isTrue(
            escalatedAt >= 0 && escalatedAt < i,
            `${e.child} stopped by a one-for-one nursery (${context})`
          )
        }
      })
    }
    const rootDecisions = events
      .slice(0, closingAt)
      .flatMap((e) =>
        (e._tag === "Restarted" || e._tag === "Escalated") && e.nursery === plan.root.name
          ? [`${e._tag} ${e.child} @${e.time}`]
          : []
      )
    const expected = simulate(rootFailures, plan.root.maxRestarts, plan.root.windowMillis)
    assert.deepStrictEqual(rootDecisions, expected, context)

    // and the caller learns of the escalation, from await / run, exactly when it happened
    const rootEscalated = events.some((e) => e._tag === "Escalated" && e.nursery === plan.root.name)
    const escalatedBeforeClose = expected.some((d) => d.startsWith("Escalated"))
    const failure = Exit.isFailure(result) ? Cause.squash(result.cause) : undefined
    const escalatedError = failure instanceof Nursery.NurseryEscalated && failure.nursery === plan.root.name
    if (plan.mode === "run-interrupt") {
      // the caller's interruption wins over an escalation still stopping the children
      if (escalatedError) assert.isTrue(rootEscalated, context)
      else assert.isTrue(Exit.isFailure(result) && Cause.hasInterruptsOnly(result.cause), context)
    } else {
      assert.strictEqual(escalatedError, rootEscalated, context)
      if (!rootEscalated) assert.isTrue(Exit.isSuccess(result), context)
    }

    // independently of the events: under one-for-one, as many crashes (seen from inside the children)
    // as the intensity allows plus one, within one window, escalate the root
    // (with preemption, a clock step could fall between a child's end and the nursery's decision)
    if (plan.root.strategy === "one-for-one" && !preempt) {
      const crashes = ends.filter(
        (end) =>
          end.beforeClose &&
          parentOf.get(end.child) === plan.root.name &&
          triggers(end.exit, planOf.get(end.child)!)
      )
      const mustEscalate = simulate(crashes, plan.root.maxRestarts, plan.root.windowMillis).some((d) =>
        d.startsWith("Escalated")
      )
      if (mustEscalate) {
        assert.isTrue(rootEscalated, `crashes exceeded the intensity without escalation (${context})`)
      }
      // nested nurseries add failures the children cannot see; without them the count is exact
      const plainRoot = plan.root.items.every((item) => item._tag === "child")
      if (plainRoot && !mustEscalate) assert.isFalse(escalatedBeforeClose, context)
    }
    return events
  }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, ops >= 32 ? ops - 29 : 2048))

describe("property", () => {
  it.effect.prop(
    "no child outlives its nursery; restarts stay within the intensity; exceeding it escalates",
    {
      seed: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2_147_483_647 })),
      opsBeforeYield: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 64 }))
    },
    checkTree,
    Check.propOptions()
  )

  it("the random trees ran children, every incarnation traced", () => {
    assert.isAtLeast(treeStats.runs, 200)
    assert.isAbove(treeStats.incarnations, treeStats.runs)
  })
})

describe("options at the door (issue 18)", () => {
  it.effect("an intensity of NaN restarts is refused with NurseryInvalid, and the child never runs", () =>
    Effect.gen(function* () {
      let runs = 0
      const failing = Effect.suspend(() => {
        runs++
        return Effect.fail("always")
      })
      const error = yield* Nursery.run({ intensity: { maxRestarts: NaN, window: "5 seconds" } }, (n) =>
        Nursery.start(n, failing, { restart: "permanent" })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "NurseryInvalid")
      if (error._tag !== "NurseryInvalid") return
      assert.strictEqual(error.option, "intensity.maxRestarts")
      assert.strictEqual(error.value, "NaN")
      assert.strictEqual(runs, 0)
    })
  )

  it.effect(
    "other non-finite, negative and fractional intensities are refused; a valid one still escalates",
    () =>
      Effect.gen(function* () {
        for (const [maxRestarts, window, option] of [
          [Infinity, "5 seconds", "intensity.maxRestarts"],
          [-Infinity, "5 seconds", "intensity.maxRestarts"],
          [-1, "5 seconds", "intensity.maxRestarts"],
          [1.5, "5 seconds", "intensity.maxRestarts"],
          [3, "5 sekonds", "intensity.window"],
          [3, -10, "intensity.window"],
          [3, 0, "intensity.window"],
          [3, NaN, "intensity.window"]
        ] as const) {
          const error = yield* Effect.flip(
            Effect.scoped(Nursery.make({ intensity: { maxRestarts, window: window as any } }))
          )
          assert.strictEqual(error._tag, "NurseryInvalid")
          assert.strictEqual(error.option, option, `${maxRestarts} / ${String(window)}`)
        }
        let runs = 0
        const escalated = yield* Nursery.run({ intensity: { maxRestarts: 2, window: "1 minute" } }, (n) =>
          Nursery.start(
            n,
            Effect.suspend(() => {
              runs++
              return Effect.fail("always")
            }),
            { restart: "permanent" }
          )
        ).pipe(Effect.flip)
        assert.strictEqual(escalated._tag, "NurseryEscalated")
        assert.strictEqual(runs, 3)
      })
  )
})
