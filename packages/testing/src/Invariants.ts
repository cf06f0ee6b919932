/**
 * Invariant checks over a HandoffKit trace: pure functions from the events a `Tracer` recorded to the list of
 * rules those events break. Each check names its invariant, says in words what is wrong, and points at the
 * events (by `seq`) that show it, so a failing property test tells you where to look in the trace.
 *
 * **When to use**
 *
 * After running a topology under a tracer (see `Harness.run`), to prove that it kept the guarantees the core
 * promises: no message lost or duplicated, one owner per task, budgets respected, no actor outliving its
 * scope, causes before effects. `all` runs every check; `check` turns violations into a typed failure.
 *
 * **Details**
 *
 * The checks read only the trace: they never throw and never block. An empty result means the trace is
 * consistent with the invariant; it cannot prove that an event the topology never traced happened.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import type { Budget, Tracer } from "@handoffkit/core"

/**
 * One broken invariant: which one, what is wrong, and the `seq` of the events that show it.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violation = Schema.decodeUnknownSync(Invariants.Violation)({
 *   invariant: "seqIncreases",
 *   message: "seq 3 follows seq 4",
 *   events: [4, 3]
 * })
 * console.log(violation.events) // [4, 3]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Violation = Schema.Struct({
  invariant: Schema.String,
  message: Schema.String,
  events: Schema.Array(Schema.Number)
})

/**
 * @category models
 * @since 0.1.0
 */
export type Violation = typeof Violation.Type

/**
 * Limits per budget label, in the units of `Budget.Usage` (tokens, USD, calls). A label not listed, or a
 * dimension left out, is not limited.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const limits: Invariants.BudgetLimits = { "budget-1": { tokensOut: 4000, cost: 0.25 } }
 * console.log(Object.keys(limits)) // ["budget-1"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type BudgetLimits = Readonly<Record<string, Budget.Usage>>

/**
 * What `all` and `check` need beyond the trace.
 *
 * **Details**
 *
 * `budgets`: the limits `budgetRespected` checks; without it, budgets are not checked.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const options: Invariants.Options = { budgets: { planner: { calls: 10 } } }
 * console.log(options.budgets?.planner.calls) // 10
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly budgets?: BudgetLimits | undefined
}

type Events = ReadonlyArray<Tracer.Event>

// -----------------------------------------------------------------------------
// checks
// -----------------------------------------------------------------------------

/**
 * Every `send` has exactly one `receive` or `dead-letter` of the same `messageId` after it: no message is lost,
 * none is delivered twice.
 *
 * **When to use**
 *
 * On the trace of a topology whose scope has closed: by then every message sent has an outcome, even those
 * still queued when an actor stopped (they are dead-lettered).
 *
 * **Details**
 *
 * Sends and outcomes of one `messageId` are paired in `seq` order, each send with the first unpaired outcome
 * after it. A send left unpaired is lost; an outcome left unpaired (a second one, or one traced before its
 * send) is a duplicate. A `receive` followed by a `dead-letter` with reason `"failed"` counts as one outcome:
 * it is how an actor whose behavior failed on the message traces its fate. A send without a `messageId` cannot be paired and is reported. Outcomes of messages that
 * were never traced as a `send` (a broker's dead letters, say) are not this check's business and are ignored.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.noLossNoDuplicate([
 *   { seq: 1, ts: 0, kind: "send", actor: "a", peer: "b", messageId: "m-1" },
 *   { seq: 2, ts: 0, kind: "receive", actor: "b", peer: "a", messageId: "m-1" },
 *   { seq: 3, ts: 0, kind: "receive", actor: "b", peer: "a", messageId: "m-1" }
 * ])
 * console.log(violations.map((v) => v.events)) // [[3]]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const noLossNoDuplicate = (events: Events): ReadonlyArray<Violation> => {
  const invariant = "noLossNoDuplicate"
  const violations: Array<Violation> = []
  const byMessage = new Map<string, Array<Tracer.Event>>()
  for (const event of events) {
    if (event.kind === "send" && event.messageId === undefined) {
      violations.push({ invariant, message: `send seq ${event.seq} has no messageId`, events: [event.seq] })
      continue
    }
    if (event.kind !== "send" && event.kind !== "receive" && event.kind !== "dead-letter") continue
    if (event.messageId === undefined) continue
    const list = byMessage.get(event.messageId)
    if (list === undefined) byMessage.set(event.messageId, [event])
    else list.push(event)
  }
  for (const [messageId, list] of byMessage) {
    const sends = list.filter((e) => e.kind === "send")
    if (sends.length === 0) continue
    const outcomes = list.filter((e) => e.kind !== "send")
    const paired = new Set<Tracer.Event>()
    for (const send of sends) {
      const outcome = outcomes.find((o) => !paired.has(o) && o.seq > send.seq)
      // A message whose handling failed is received and then dead-lettered with reason "failed": one delivery.
      const failed =
        outcome?.kind === "receive"
          ? outcomes.find((o) => !paired.has(o) && o.seq > outcome.seq && isFailedHandling(o))
          : undefined
      if (failed !== undefined) paired.add(failed)
      if (outcome === undefined) {
        violations.push({
          invariant,
          message: `message ${messageId} sent at seq ${send.seq} (${send.actor} -> ${send.peer ?? "?"}) was neither received nor dead-lettered`,
          events: [send.seq]
        })
      } else {
        paired.add(outcome)
      }
    }
    for (const outcome of outcomes) {
      if (paired.has(outcome)) continue
      violations.push({
        invariant,
        message: `message ${messageId} has an extra ${outcome.kind} at seq ${outcome.seq} by ${outcome.actor} (sent ${sends.length} time(s): seq ${sends.map((s) => s.seq).join(", ")})`,
        events: [outcome.seq]
      })
    }
  }
  return violations
}

const isFailedHandling = (event: Tracer.Event): boolean =>
  event.kind === "dead-letter" && event.data?.reason === "failed"

/**
 * `seq` strictly increases along the trace.
 *
 * **When to use**
 *
 * On any trace, in particular one read back from a file or merged from several sinks.
 *
 * **Details**
 *
 * Reports each event whose `seq` is not greater than the one before it, with both seqs.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.seqIncreases([
 *   { seq: 1, ts: 0, kind: "spawn", actor: "a" },
 *   { seq: 1, ts: 0, kind: "exit", actor: "a" }
 * ])
 * console.log(violations.length) // 1
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const seqIncreases = (events: Events): ReadonlyArray<Violation> => {
  const violations: Array<Violation> = []
  for (let i = 1; i < events.length; i++) {
    const before = events[i - 1].seq
    const after = events[i].seq
    if (after > before) continue
    violations.push({
      invariant: "seqIncreases",
      message: `event ${i} (${events[i].kind} by ${events[i].actor}) has seq ${after}, not above the previous seq ${before}`,
      events: [before, after]
    })
  }
  return violations
}

/**
 * Every `causationId` names a message that was received before the event carrying it: an actor can only react
 * to what it has seen.
 *
 * **When to use**
 *
 * On traces of actors that reply or forward with `context.send`/`context.reply`, which set the causation.
 *
 * **Details**
 *
 * For each event with a `causationId`, there must be a `receive` of that `messageId` with a smaller `seq`.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.causalConsistency([
 *   { seq: 1, ts: 0, kind: "send", actor: "b", peer: "c", messageId: "m-2", causationId: "m-1" },
 *   { seq: 2, ts: 0, kind: "receive", actor: "b", peer: "a", messageId: "m-1" }
 * ])
 * console.log(violations[0].events) // [1, 2]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const causalConsistency = (events: Events): ReadonlyArray<Violation> => {
  const violations: Array<Violation> = []
  const firstReceive = new Map<string, number>()
  for (const event of events) {
    if (event.kind === "receive" && event.messageId !== undefined && !firstReceive.has(event.messageId)) {
      firstReceive.set(event.messageId, event.seq)
    }
  }
  for (const event of events) {
    if (event.causationId === undefined) continue
    const cause = firstReceive.get(event.causationId)
    if (cause !== undefined && cause < event.seq) continue
    violations.push({
      invariant: "causalConsistency",
      message:
        cause === undefined
          ? `${event.kind} at seq ${event.seq} by ${event.actor} is caused by ${event.causationId}, which was never received`
          : `${event.kind} at seq ${event.seq} by ${event.actor} is caused by ${event.causationId}, first received later at seq ${cause}`,
      events: cause === undefined ? [event.seq] : [event.seq, cause]
    })
  }
  return violations
}

const dimensions = ["tokensIn", "tokensOut", "cost", "calls"] as const

/**
 * The `budget.commit` charges of each budget label, summed, never exceed that label's limits.
 *
 * **When to use**
 *
 * On traces of topologies that spend from budgets: pass the limits each budget was made with, keyed by the
 * budget's label (the `actor` of its events).
 *
 * **Details**
 *
 * Commits are summed per label and dimension in trace order; the first commit that takes a dimension over its
 * limit is reported (once per label and dimension), with every commit of that label up to it. A relative
 * tolerance of 1e-9 absorbs floating-point rounding of `cost`.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const check = Invariants.budgetRespected({ b: { calls: 2 } })
 * const violations = check([
 *   { seq: 1, ts: 0, kind: "budget.commit", actor: "b", data: { calls: 2 } },
 *   { seq: 2, ts: 0, kind: "budget.commit", actor: "b", data: { calls: 1 } }
 * ])
 * console.log(violations[0].events) // [1, 2]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const budgetRespected =
  (limits: BudgetLimits) =>
  (events: Events): ReadonlyArray<Violation> => {
    const violations: Array<Violation> = []
    const spent = new Map<string, { sums: Record<string, number>; seqs: Array<number>; over: Set<string> }>()
    for (const event of events) {
      if (event.kind !== "budget.commit") continue
      const limit = limits[event.actor]
      if (limit === undefined) continue
      let entry = spent.get(event.actor)
      if (entry === undefined) {
        entry = { sums: {}, seqs: [], over: new Set() }
        spent.set(event.actor, entry)
      }
      entry.seqs.push(event.seq)
      for (const dimension of dimensions) {
        const amount = event.data?.[dimension]
        if (typeof amount !== "number") continue
        const sum = (entry.sums[dimension] ?? 0) + amount
        entry.sums[dimension] = sum
        const max = limit[dimension]
        if (max === undefined || entry.over.has(dimension) || sum <= max + Math.abs(max) * 1e-9) continue
        entry.over.add(dimension)
        violations.push({
          invariant: "budgetRespected",
          message: `budget ${event.actor} committed ${sum} ${dimension} by seq ${event.seq}, over its limit of ${max}`,
          events: entry.seqs.slice()
        })
      }
    }
    return violations
  }

/**
 * A task is handed over only by its current owner: the `actor` of each `handoff` of a task is the `to` of the
 * task's previous handoff (any actor may make the first).
 *
 * **When to use**
 *
 * On traces of topologies that pass `Handoff` tasks along, to prove that no two agents ever owned one task.
 *
 * **Details**
 *
 * Reads `data.taskId` and `data.to` of `handoff` events (as `Handoff.send` traces them). The `actor` is the
 * `from` the handoff was made with, so hand over with `Handoff.sendFrom` (or pass `from`) inside actors: a
 * handoff traced as `"external"` by an actor that owns the task is reported too. A `handoff` without a string
 * `taskId` and `to` is reported as malformed.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.oneOwnerPerTask([
 *   { seq: 1, ts: 0, kind: "handoff", actor: "planner", data: { taskId: "t-1", to: "coder" } },
 *   { seq: 2, ts: 0, kind: "handoff", actor: "planner", data: { taskId: "t-1", to: "reviewer" } }
 * ])
 * console.log(violations[0].events) // [1, 2]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const oneOwnerPerTask = (events: Events): ReadonlyArray<Violation> => {
  const invariant = "oneOwnerPerTask"
  const violations: Array<Violation> = []
  const owner = new Map<string, { readonly to: string; readonly seq: number }>()
  for (const event of events) {
    if (event.kind !== "handoff") continue
    const taskId = event.data?.taskId
    const to = event.data?.to
    if (typeof taskId !== "string" || typeof to !== "string") {
      violations.push({
        invariant,
        message: `handoff at seq ${event.seq} by ${event.actor} has no string data.taskId and data.to`,
        events: [event.seq]
      })
      continue
    }
    const previous = owner.get(taskId)
    if (previous !== undefined && previous.to !== event.actor) {
      violations.push({
        invariant,
        message: `task ${taskId} handed to ${to} by ${event.actor} at seq ${event.seq}, but its owner since seq ${previous.seq} is ${previous.to}`,
        events: [previous.seq, event.seq]
      })
    }
    owner.set(taskId, { to, seq: event.seq })
  }
  return violations
}

/**
 * Every `spawn` of an actor has a later `exit` of the same actor: nothing outlives the scope it was started in.
 *
 * **When to use**
 *
 * On the trace of a topology whose scope has closed (as `Harness.run` returns it).
 *
 * **Details**
 *
 * Spawns and exits of one address are paired in order (a supervised actor spawns once per incarnation and
 * exits each time). A spawn left unpaired is reported; so is an exit with no spawn before it.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.noOrphanFibers([
 *   { seq: 1, ts: 0, kind: "spawn", actor: "a" },
 *   { seq: 2, ts: 0, kind: "spawn", actor: "b" },
 *   { seq: 3, ts: 0, kind: "exit", actor: "a" }
 * ])
 * console.log(violations[0].events) // [2]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const noOrphanFibers = (events: Events): ReadonlyArray<Violation> => {
  const invariant = "noOrphanFibers"
  const violations: Array<Violation> = []
  const running = new Map<string, Array<number>>()
  for (const event of events) {
    if (event.kind === "spawn") {
      const list = running.get(event.actor)
      if (list === undefined) running.set(event.actor, [event.seq])
      else list.push(event.seq)
    } else if (event.kind === "exit") {
      const list = running.get(event.actor)
      if (list !== undefined && list.length > 0) list.shift()
      else {
        violations.push({
          invariant,
          message: `${event.actor} exited at seq ${event.seq} without a spawn before it`,
          events: [event.seq]
        })
      }
    }
  }
  for (const [actor, seqs] of running) {
    for (const seq of seqs) {
      violations.push({ invariant, message: `${actor} spawned at seq ${seq} never exited`, events: [seq] })
    }
  }
  return violations.sort((a, b) => a.events[0] - b.events[0])
}

/**
 * Every copy a broker publishes to a subscriber has exactly one fate: taken once (a `select` that fired
 * `receive` on the subscription's mailbox), or dead-lettered once; and every publish gives each of its
 * subscribers a copy.
 *
 * **When to use**
 *
 * On traces of topologies with a `Broker` whose subscribers take from their subscription with
 * `Select.receive` (which traces the take). It is not part of `all`: a subscriber that takes with
 * `Mailbox.take` leaves no trace of its takes, and its copies would look lost.
 *
 * **Details**
 *
 * The events of one message id at one subscriber (its address is the events' `actor`) are read in `seq`
 * order. A copy is queued (`broker.deliver`) and then taken or dead-lettered (closed at unsubscribe, or evicted
 * by `drop-oldest`, traced `broker.overflow` then `dead-letter`); or refused at publish (`broker.overflow` then
 * `dead-letter`, or a `dead-letter` alone when the queue was closed). A queued copy with no fate is lost; a
 * second fate is a duplicate; a take of a copy that was never queued is reported too. A `broker.publish` whose
 * `data.subscribers` differs from the number of subscribers that got a copy is reported.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.brokerCopies([
 *   { seq: 1, ts: 0, kind: "broker.publish", actor: "external", messageId: "m-1", data: { subscribers: 2 } },
 *   { seq: 2, ts: 0, kind: "broker.deliver", actor: "s1", messageId: "m-1" },
 *   { seq: 3, ts: 0, kind: "broker.deliver", actor: "s2", messageId: "m-1" },
 *   { seq: 4, ts: 0, kind: "select", actor: "s1", messageId: "m-1", data: { fired: "receive" } }
 * ])
 * console.log(violations.map((v) => v.events)) // [[3]]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const brokerCopies = (events: Events): ReadonlyArray<Violation> => {
  const invariant = "brokerCopies"
  const violations: Array<Violation> = []
  const publishes = new Map<string, Tracer.Event>()
  for (const event of events) {
    if (event.kind === "broker.publish" && event.messageId !== undefined)
      publishes.set(event.messageId, event)
  }
  const copies = new Map<string, Array<Tracer.Event>>()
  for (const event of events) {
    if (event.messageId === undefined || !publishes.has(event.messageId)) continue
    const relevant =
      event.kind === "broker.deliver" ||
      event.kind === "broker.overflow" ||
      event.kind === "dead-letter" ||
      (event.kind === "select" && event.data?.fired === "receive")
    if (!relevant) continue
    const key = `${event.messageId}\u0000${event.actor}`
    const list = copies.get(key)
    if (list === undefined) copies.set(key, [event])
    else list.push(event)
  }
  const copiesOf = new Map<string, number>()
  for (const list of copies.values()) {
    const [first, ...rest] = list
    const copy = `copy of ${first.messageId} at ${first.actor}`
    if (first.kind === "select") {
      violations.push({
        invariant,
        message: `${copy} was taken at seq ${first.seq} but never queued`,
        events: [first.seq]
      })
      continue
    }
    copiesOf.set(first.messageId!, (copiesOf.get(first.messageId!) ?? 0) + 1)
    // A queued copy may be evicted: `broker.overflow` marks it, its `dead-letter` is the fate.
    const fates = first.kind === "broker.deliver" ? rest.filter((e) => e.kind !== "broker.overflow") : rest
    if (first.kind === "dead-letter") {
      for (const extra of rest) {
        violations.push({
          invariant,
          message: `${copy} was dead-lettered at seq ${first.seq}, then has a ${extra.kind} at seq ${extra.seq}`,
          events: [first.seq, extra.seq]
        })
      }
      continue
    }
    if (fates.length === 0) {
      violations.push({
        invariant,
        message:
          first.kind === "broker.deliver"
            ? `${copy} was queued at seq ${first.seq} and never taken nor dead-lettered`
            : `${copy} overflowed at seq ${first.seq} and was never dead-lettered`,
        events: [first.seq]
      })
      continue
    }
    if (first.kind === "broker.overflow" && fates[0].kind !== "dead-letter") {
      violations.push({
        invariant,
        message: `${copy} was refused at seq ${first.seq}, yet taken at seq ${fates[0].seq}`,
        events: [first.seq, fates[0].seq]
      })
    }
    for (const extra of fates.slice(1)) {
      violations.push({
        invariant,
        message: `${copy} has a second fate: ${extra.kind} at seq ${extra.seq} after ${fates[0].kind} at seq ${fates[0].seq}`,
        events: [fates[0].seq, extra.seq]
      })
    }
  }
  for (const [messageId, publish] of publishes) {
    const expected = publish.data?.subscribers
    const got = copiesOf.get(messageId) ?? 0
    if (typeof expected === "number" && got !== expected) {
      violations.push({
        invariant,
        message: `message ${messageId} was published at seq ${publish.seq} to ${expected} subscriber(s), but ${got} got a copy`,
        events: [publish.seq]
      })
    }
  }
  return violations.sort((a, b) => a.events[0] - b.events[0])
}

/**
 * Each round of a join or a quorum takes at most one part per sender, ends once (completed or expired), and
 * ends with exactly the parts it accepted.
 *
 * **When to use**
 *
 * On traces of a `Join` (`Join.make`, `Join.actor`) or of `Quorum.collect`. It is not part of `all`: it
 * tells rounds apart by correlation id only, so two joins of one trace must not share round ids.
 *
 * **Details**
 *
 * Per correlation id, in `seq` order: an accepted `join.part` (no `data.rejected`, no `data.ignored`) opens a
 * round if none is open, and a second accepted part from the same sender (`actor`) in one round is reported.
 * `join.complete` (`data.parts`) and a successful `quorum.complete` (`data.successes`) end the round, as do
 * `join.expire` (`data.received`) and a failed `quorum.complete`; the count they carry must equal the parts
 * accepted since the round opened. An end when no round is open is reported as a round ending twice, unless it
 * ends an empty round (awaited, or a quorum of 0).
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.joinRounds([
 *   { seq: 1, ts: 0, kind: "join.part", actor: "alice", correlationId: "r-1", data: { received: 1 } },
 *   { seq: 2, ts: 0, kind: "join.part", actor: "alice", correlationId: "r-1", data: { received: 2 } },
 *   { seq: 3, ts: 0, kind: "join.complete", actor: "review", correlationId: "r-1", data: { parts: 2 } }
 * ])
 * console.log(violations.map((v) => v.events)) // [[1, 2]]
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const joinRounds = (events: Events): ReadonlyArray<Violation> => {
  const invariant = "joinRounds"
  const violations: Array<Violation> = []
  const open = new Map<string, { readonly senders: Map<string, number>; readonly seqs: Array<number> }>()
  const lastEnd = new Map<string, number>()
  const end = (event: Tracer.Event, id: string, count: unknown, how: string) => {
    const round = open.get(id)
    open.delete(id)
    if (round === undefined) {
      if (count === 0) return
      const previous = lastEnd.get(id)
      violations.push({
        invariant,
        message:
          previous === undefined
            ? `round ${id} ${how} at seq ${event.seq} with ${String(count)} part(s), but none was accepted`
            : `round ${id} ${how} again at seq ${event.seq}: it already ended at seq ${previous}`,
        events: previous === undefined ? [event.seq] : [previous, event.seq]
      })
    } else if (count !== round.seqs.length) {
      violations.push({
        invariant,
        message: `round ${id} ${how} at seq ${event.seq} with ${String(count)} part(s), but ${round.seqs.length} were accepted`,
        events: [...round.seqs, event.seq]
      })
    }
    lastEnd.set(id, event.seq)
  }
  for (const event of events) {
    const id = event.correlationId
    if (id === undefined) continue
    switch (event.kind) {
      case "join.part": {
        if (event.data?.rejected !== undefined || event.data?.ignored !== undefined) break
        let round = open.get(id)
        if (round === undefined) {
          round = { senders: new Map(), seqs: [] }
          open.set(id, round)
        }
        const earlier = round.senders.get(event.actor)
        if (earlier !== undefined) {
          violations.push({
            invariant,
            message: `round ${id} accepted a second part from ${event.actor} at seq ${event.seq} (the first at seq ${earlier})`,
            events: [earlier, event.seq]
          })
        }
        round.senders.set(event.actor, event.seq)
        round.seqs.push(event.seq)
        break
      }
      case "join.complete":
        end(event, id, event.data?.parts, "completed")
        break
      case "join.expire":
        end(event, id, event.data?.received, "expired")
        break
      case "quorum.complete":
        end(event, id, event.data?.successes, event.data?.ok === true ? "completed" : "failed")
        break
      default:
        break
    }
  }
  return violations.sort((a, b) => a.events[0] - b.events[0])
}

/**
 * Runs every check: `seqIncreases`, `noLossNoDuplicate`, `causalConsistency`, `oneOwnerPerTask`,
 * `noOrphanFibers`, and `budgetRespected` when `options.budgets` is given.
 *
 * **When to use**
 *
 * As the one assertion of a property test over random topologies: `assert.deepStrictEqual(all(events), [])`.
 *
 * **Details**
 *
 * The violations come grouped by check, in the order above.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const violations = Invariants.all([
 *   { seq: 1, ts: 0, kind: "spawn", actor: "a" },
 *   { seq: 2, ts: 0, kind: "send", actor: "external", peer: "a", messageId: "m-1" }
 * ])
 * console.log(violations.map((v) => v.invariant)) // ["noLossNoDuplicate", "noOrphanFibers"]
 * ```
 *
 * @see brokerCopies and joinRounds, which are not part of `all`
 * @category checks
 * @since 0.1.0
 */
export const all = (events: Events, options?: Options): ReadonlyArray<Violation> => [
  ...seqIncreases(events),
  ...noLossNoDuplicate(events),
  ...causalConsistency(events),
  ...oneOwnerPerTask(events),
  ...noOrphanFibers(events),
  ...(options?.budgets !== undefined ? budgetRespected(options.budgets)(events) : [])
]

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * A trace broke invariants. `violations` lists them all; the message names the first few.
 *
 * **Example**
 *
 * ```ts
 * import { Invariants } from "@handoffkit/testing"
 *
 * const error = new Invariants.InvariantViolated({
 *   violations: [{ invariant: "noOrphanFibers", message: "a spawned at seq 1 never exited", events: [1] }]
 * })
 * console.log(error.message) // "1 invariant violation(s): noOrphanFibers: a spawned at seq 1 never exited"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InvariantViolated extends Schema.TaggedError<InvariantViolated>()("InvariantViolated", {
  violations: Schema.Array(Violation)
}) {
  override get message() {
    const shown = this.violations.slice(0, 5).map((v) => `${v.invariant}: ${v.message}`)
    const more = this.violations.length > 5 ? `; and ${this.violations.length - 5} more` : ""
    return `${this.violations.length} invariant violation(s): ${shown.join("; ")}${more}`
  }
}

/**
 * Runs `all` and fails with `InvariantViolated` when any invariant is broken.
 *
 * **When to use**
 *
 * Inside an Effect test or program, to stop at the first bad trace with a typed error that lists everything
 * wrong with it.
 *
 * **Details**
 *
 * Succeeds with `void` when `all` finds nothing; never fails otherwise, never blocks.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Invariants } from "@handoffkit/testing"
 *
 * const program = Invariants.check([{ seq: 1, ts: 0, kind: "spawn", actor: "a" }]).pipe(Effect.flip)
 * Effect.runPromise(program).then((error) => console.log(error.violations.length)) // 1
 * ```
 *
 * @category checks
 * @since 0.1.0
 */
export const check = (events: Events, options?: Options): Effect.Effect<void, InvariantViolated> =>
  Effect.suspend(() => {
    const violations = all(events, options)
    return violations.length === 0 ? Effect.void : Effect.fail(new InvariantViolated({ violations }))
  })
