/**
 * Which Corpus refs a context carries, beyond the ones it lists: the in-process record that lets a handoff
 * refuse a context that lost the refs the task arrived with.
 *
 * A context built by `Compactor.append(received, …)` carries the received refs (listed, or inside an index
 * entry it wrote); one built by `Compactor.compact` from every item `Compactor.recover` returned for a
 * context carries that context's content (the items are stored again, or kept verbatim). Both are recorded
 * here, keyed by the context object (a WeakMap: nothing is kept alive). `missing(incoming, outgoing)` is
 * then the refs of `incoming` that `outgoing` neither lists nor carries.
 * @internal
 */
import type { HandoffContext } from "../Handoff.ts"

const carried = new WeakMap<object, ReadonlySet<string>>()

/** The refs a context carries without listing them (empty for a context this process did not build). */
export const carriedBy = (context: HandoffContext): ReadonlySet<string> => carried.get(context) ?? empty

const empty: ReadonlySet<string> = new Set()

/** Records that `context` carries `from`'s refs (and whatever `from` carried). @internal */
export const inherit = (context: HandoffContext, from: ReadonlyArray<HandoffContext>): void => {
  if (from.length === 0) return
  const refs = new Set(carried.get(context) ?? [])
  for (const source of from) {
    for (const ref of source.refs) refs.add(ref)
    for (const ref of carriedBy(source)) refs.add(ref)
  }
  carried.set(context, refs)
}

/** The refs of `incoming` that `outgoing` neither lists nor carries. @internal */
export const missing = (incoming: HandoffContext, outgoing: HandoffContext): Array<string> => {
  if (incoming.refs.length === 0) return []
  const listed = new Set(outgoing.refs)
  const inherited = carriedBy(outgoing)
  return incoming.refs.filter((ref) => !listed.has(ref) && !inherited.has(ref))
}

interface Mark {
  readonly source: HandoffContext
  readonly total: number
  /** The refs of the ledger entries met while recovering (they hold no items, so they must travel on). */
  readonly ledgerRefs: ReadonlyArray<string>
}

const recovered = new WeakMap<object, Mark>()

/** Marks the items `recover` rebuilt from `source` (fresh objects, so identity tells them apart). @internal */
export const markRecovered = (
  items: ReadonlyArray<object>,
  source: HandoffContext,
  ledgerRefs: ReadonlyArray<string>
): void => {
  const mark: Mark = { source, total: items.length, ledgerRefs }
  for (const item of items) recovered.set(item, mark)
}

/** The recoveries every one of whose items is among `items`, in the order they first appear. @internal */
export const recoveredSources = (items: ReadonlyArray<object>): Array<Mark> => {
  const counts = new Map<Mark, Set<object>>()
  for (const item of items) {
    const mark = recovered.get(item)
    if (mark === undefined) continue
    const seen = counts.get(mark) ?? new Set()
    seen.add(item)
    counts.set(mark, seen)
  }
  return [...counts].filter(([mark, seen]) => seen.size === mark.total).map(([mark]) => mark)
}
