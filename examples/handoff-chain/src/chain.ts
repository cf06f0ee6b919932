/**
 * A four-hop handoff chain (planner → researcher → coder → tester → reviewer), run twice: once handing over
 * the whole thread (naive), once handing over a bounded context compacted into the Corpus. Each agent adds
 * its own notes; we record the bytes handed over at every hop.
 */
import { Deferred, Effect } from "effect"
import { Actor, Compactor, type Corpus, Handoff } from "@handoffkit/core"

export type Mode = "naive" | "compacted"

export interface Hop {
  readonly from: string
  readonly to: string
  readonly bytes: number
}

export interface Run {
  readonly hops: ReadonlyArray<Hop>
  /** What the last agent received. */
  readonly final: Handoff.HandoffContext
  /** Every agent's notes, in order: what a lossless chain must preserve. */
  readonly notes: ReadonlyArray<Compactor.Item>
}

export const agents = ["planner", "researcher", "coder", "tester", "reviewer"] as const

// Deterministic notes of a few kilobytes per agent, with non-ASCII text so that bytes ≠ characters.
export const notesOf = (agent: string, hop: number): Compactor.Item => ({
  from: agent,
  text: Array.from(
    { length: 12 + hop * 3 },
    (_, i) =>
      `${agent} step ${i}: checked módulo ${(i * 7) % 13} — résumé ${"✓".repeat(i % 4)} of the handoff.`
  ).join(" ")
})

export const runChain = (mode: Mode, options: { readonly maxBytes: number }) =>
  Effect.gen(function* () {
    const hops: Array<Hop> = []
    const notes: Array<Compactor.Item> = []
    const done = yield* Deferred.make<Handoff.HandoffContext>()
    const refs: Array<Actor.ActorRef<Handoff.Transfer<string>>> = []

    // Each agent adds its notes to what it received and hands the task on with the new context.
    const handover = (received: Handoff.HandoffContext, hop: number, agent: string) =>
      Effect.gen(function* () {
        const item = notesOf(agent, hop)
        notes.push(item)
        if (mode === "naive") {
          return { ...received, thread: [...received.thread, item] } satisfies Handoff.HandoffContext
        }
        const everything = [...(yield* Compactor.recover(received)), item]
        return yield* Compactor.compact(everything, { maxBytes: options.maxBytes }, { namespace: "chain" })
      })

    for (let i = agents.length - 1; i >= 0; i--) {
      const agent = agents[i]
      const next = refs[0]
      refs.unshift(
        yield* Actor.make<Handoff.Transfer<string>, never, Corpus.Corpus>(agent, (message, context) =>
          Effect.gen(function* () {
            const received = message.payload.context
            if (next === undefined) return void (yield* Deferred.succeed(done, received))
            const outgoing = yield* handover(received, i, agent)
            hops.push({ from: agent, to: next.address, bytes: Compactor.byteLength(outgoing) })
            yield* Handoff.sendFrom(context, message.payload.task, next, { context: outgoing })
          })
        )
      )
    }
    const task = yield* Handoff.make("ship the retry policy")
    yield* Handoff.send(task, refs[0])
    const final = yield* Deferred.await(done)
    return { hops, final, notes } satisfies Run
  }).pipe(Effect.scoped, Effect.provide(Actor.layer))

/** The table printed by `npm start -w examples/handoff-chain`. */
export const table = (naive: Run, compacted: Run, maxBytes: number): string => {
  const rows = naive.hops.map(
    (hop, i) => `| ${i + 1} | ${hop.from} → ${hop.to} | ${hop.bytes} | ${compacted.hops[i]?.bytes ?? "-"} |`
  )
  return [
    `bytes handed over per hop (compacted bound: ${maxBytes} bytes)`,
    "| hop | handoff | naive | compacted |",
    "|---|---|---|---|",
    ...rows
  ].join("\n")
}
