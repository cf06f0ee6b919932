/**
 * Must-show 2: two runner processes and a client (this process) on loopback, 5,000 messages to 50 actors
 * from 10 concurrent senders, one runner killed with SIGKILL at a random moment (per seed; the seed also
 * picks the victim). Asserted per seed: no message lost, no behaviour run twice for one message id, the
 * order of each sender's messages to each actor kept, and a failover time (from the SIGKILL to the
 * survivor's first handling of an actor whose shard the victim held) that is defined and positive.
 *
 * The behaviours record each message in table `effects` in the message's transaction, so a row is a
 * behaviour that ran and committed; the cluster redelivers what the killed runner had not finished.
 * The scenario and its measures are in fixture/faults.ts (the cluster benchmarks run it too).
 *
 * `HANDOFFKIT_FAULT_SEEDS=1,2,3,...` picks the seeds (default 1,2,3).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import * as Faults from "./fixture/faults.ts"
import { testDatabase } from "./fixture/pg.ts"

const messages = 5_000
const lockExpiry = "2 seconds"
const seeds = (process.env.HANDOFFKIT_FAULT_SEEDS ?? "1,2,3").split(",").map(Number)

const runSeed = (seed: number) =>
  Effect.gen(function* () {
    const db = yield* testDatabase
    const killAfter = yield* Random.nextIntBetween(messages * 0.2, messages * 0.8)
    const victim = (yield* Random.nextIntBetween(0, 1)) as 0 | 1
    const outcome = yield* Faults.run({
      url: db.url,
      messages,
      actors: 50,
      senders: 10,
      lockExpiry,
      killAfter,
      victim
    })
    return { seed, killAfter, victim, ...outcome }
  }).pipe(Effect.scoped, Random.withSeed(seed))

describe("faults", () => {
  it.live(
    "SIGKILL of one of two runners: 0 lost, 0 run twice, per-sender order kept; failover reported",
    () =>
      Effect.gen(function* () {
        for (const seed of seeds) {
          const r = yield* runSeed(seed)
          const failover = r.failoverMs === undefined ? "n/a" : `${(r.failoverMs / 1000).toFixed(2)} s`
          console.log(
            `cluster faults seed ${r.seed}: SIGKILL of runner ${r.victim} after ${r.killAfter} sends; ` +
              `${r.handled} handled (victim ${r.byVictim}, survivor ${r.bySurvivor}), lost ${r.lost}, ` +
              `run twice ${r.twice}, out of order ${r.outOfOrder}, ` +
              `failover ${failover} over ${r.movedActors} moved actors (lock expiry ${lockExpiry}); ` +
              `settled in ${r.settleRounds} rounds, ${r.caughtUp} catch-ups`
          )
          assert.strictEqual(r.lost, 0, `seed ${seed}: messages lost`)
          assert.strictEqual(r.twice, 0, `seed ${seed}: behaviours run twice`)
          assert.strictEqual(r.outOfOrder, 0, `seed ${seed}: (actor, sender) pairs out of order`)
          // The kill did land mid-run: the victim held actors and the survivor took them over.
          assert.isAbove(r.byVictim, 0, `seed ${seed}: the victim handled nothing`)
          assert.isAbove(r.movedActors, 0, `seed ${seed}: no actor was on the victim at the kill`)
          assert.isDefined(r.failoverMs, `seed ${seed}: no moved actor was handled by the survivor`)
          assert.isAbove(r.failoverMs!, 0)
        }
      }).pipe(Effect.orDie),
    { timeout: 60_000 * Math.max(3, seeds.length) }
  )
})
