/**
 * How an agent builds the context it hands on from the one it received and its own work. The strategies
 * the benchmark compares, on the same scenarios:
 *
 * - `naive`: pass everything (the received thread plus the new items); no bound.
 * - `truncate`: the whole transcript cut to the bound, its head and its tail; no refs.
 * - `compactor`: today's pattern (examples/handoff-chain): recover everything received, add the new items,
 *   `Compactor.compact` with the default extractive summary.
 * - `slip`: the mistake of issue 19: compact the received thread (as decoded in another process) and the
 *   new items, without the received refs. In-process, `Handoff.send` refuses such a context.
 * - `append`: `Compactor.append`: the received refs carried forward, nothing re-read.
 * - `structured`: `Compactor.append` with the hop's notes: artifact trail, decisions and pending steps as
 *   ledger fields of the handoff.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Compactor, type Corpus, type Handoff } from "@handoffkit/core"
import * as text from "./internal/text.ts"
import type * as Scenario from "./Scenario.ts"

/**
 * The names of the strategies, in the order tables list them.
 *
 * **Example**
 *
 * ```ts
 * import { Strategy } from "@handoffkit/fidelity"
 *
 * console.log(Strategy.names.join(" ")) // "naive truncate compactor slip append structured"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const names = ["naive", "truncate", "compactor", "slip", "append", "structured"] as const

/**
 * One of `names`.
 *
 * **Example**
 *
 * ```ts
 * import { Strategy } from "@handoffkit/fidelity"
 *
 * const name: Strategy.Name = "append"
 * console.log(Strategy.byName(name).name) // "append"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Name = (typeof names)[number]

/**
 * A strategy: builds the context to hand on within `maxBytes` (except `naive`, which has no bound).
 *
 * **Example**
 *
 * ```ts
 * import { Strategy } from "@handoffkit/fidelity"
 *
 * const strategy: Strategy.Strategy = Strategy.byName("structured")
 * console.log(strategy.name, strategy.bounded) // "structured" true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Strategy {
  readonly name: Name
  /** Whether the handed-over context keeps the bound. */
  readonly bounded: boolean
  readonly handOn: (
    received: Handoff.HandoffContext,
    hop: Scenario.Hop,
    maxBytes: number
  ) => Effect.Effect<
    Handoff.HandoffContext,
    Compactor.BoundTooSmall | Corpus.CorpusError | Compactor.UnrecoverableEntry,
    Corpus.Corpus
  >
}

const namespace = "fidelity"

const naive: Strategy = {
  name: "naive",
  bounded: false,
  handOn: (received, hop) => Effect.succeed({ ...received, thread: [...received.thread, ...hop.items] })
}

const truncate: Strategy = {
  name: "truncate",
  bounded: true,
  handOn: (received, hop, maxBytes) =>
    Effect.sync(() => {
      const transcript = [
        ...(received.summary === "" ? [] : [received.summary]),
        ...[...received.thread, ...hop.items].map((item) => `${item.from}: ${item.text}`)
      ].join("\n")
      const room = maxBytes - text.jsonBytes({ summary: "", refs: [], thread: [] })
      if (text.jsonBytes(transcript) - 2 <= room) return { summary: transcript, refs: [], thread: [] }
      const gap = "\n…\n"
      const half = Math.floor((room - (text.jsonBytes(gap) - 2)) / 2)
      return {
        summary: `${text.head(transcript, half)}${gap}${text.tail(transcript, half)}`,
        refs: [],
        thread: []
      }
    })
}

const compactor: Strategy = {
  name: "compactor",
  bounded: true,
  handOn: (received, hop, maxBytes) =>
    Effect.gen(function* () {
      const everything = [...(yield* Compactor.recover(received)), ...hop.items]
      return yield* Compactor.compact(everything, { maxBytes }, { namespace })
    })
}

const slip: Strategy = {
  name: "slip",
  bounded: true,
  handOn: (received, hop, maxBytes) => {
    // The thread as another process decodes it: the same items, other objects.
    const thread: Array<Compactor.Item> = JSON.parse(JSON.stringify(received.thread))
    return Compactor.compact([...thread, ...hop.items], { maxBytes }, { namespace })
  }
}

const append: Strategy = {
  name: "append",
  bounded: true,
  handOn: (received, hop, maxBytes) => Compactor.append(received, hop.items, { maxBytes }, { namespace })
}

const structured: Strategy = {
  name: "structured",
  bounded: true,
  handOn: (received, hop, maxBytes) =>
    Compactor.append(received, hop.items, { maxBytes }, { namespace, notes: hop.notes })
}

const all: Record<Name, Strategy> = { naive, truncate, compactor, slip, append, structured }

/**
 * The strategy of a name.
 *
 * **Example**
 *
 * ```ts
 * import { Strategy } from "@handoffkit/fidelity"
 *
 * console.log(Strategy.byName("naive").bounded) // false
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const byName = (name: Name): Strategy => all[name]
