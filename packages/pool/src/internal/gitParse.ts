/**
 * Readers of git's machine formats (`-z` everywhere, so a path may hold spaces, newlines, quotes or any
 * character but NUL), and the cutting of a diff to a size.
 *
 * @internal
 */

/** A full object id: SHA-1 (40 hex digits) or SHA-256 (64). */
export const isObjectId = (text: string): boolean => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(text)

/** The fields of a NUL-separated output, without the empty one after the last NUL. */
export const nulFields = (text: string): Array<string> => {
  const fields = text.split("\0")
  if (fields.length > 0 && fields[fields.length - 1] === "") fields.pop()
  return fields
}

export interface StatusEntry {
  readonly code: string
  readonly path: string
  readonly from: string | undefined
}

/**
 * `git status --porcelain -z` (v1): `XY PATH\0`, and for a rename or copy `XY PATH\0FROM\0`. The path is
 * relative to the top of the worktree.
 */
export const statusEntries = (text: string): Array<StatusEntry> => {
  const fields = nulFields(text)
  const entries: Array<StatusEntry> = []
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    const code = field.slice(0, 2)
    const path = field.slice(3)
    const renamed = code[0] === "R" || code[0] === "C" || code[1] === "R" || code[1] === "C"
    entries.push({ code, path, from: renamed ? fields[++i] : undefined })
  }
  return entries
}

export interface WorktreeRecord {
  readonly path: string
  readonly head: string
  readonly branch: string | undefined
  readonly bare: boolean
  readonly detached: boolean
  readonly locked: boolean
  readonly prunable: boolean
}

/** `git worktree list --porcelain -z`: records of `key value\0` lines, each record ended by an empty field. */
export const worktreeRecords = (text: string): Array<WorktreeRecord> => {
  const records: Array<WorktreeRecord> = []
  let current: { -readonly [K in keyof WorktreeRecord]: WorktreeRecord[K] } | undefined
  const flush = () => {
    if (current !== undefined) records.push(current)
    current = undefined
  }
  for (const field of text.split("\0")) {
    if (field === "") {
      flush()
      continue
    }
    const space = field.indexOf(" ")
    const key = space < 0 ? field : field.slice(0, space)
    const value = space < 0 ? "" : field.slice(space + 1)
    if (key === "worktree") {
      flush()
      current = {
        path: value,
        head: "",
        branch: undefined,
        bare: false,
        detached: false,
        locked: false,
        prunable: false
      }
      continue
    }
    if (current === undefined) continue
    switch (key) {
      case "HEAD":
        current.head = value
        break
      case "branch":
        current.branch = value
        break
      case "bare":
        current.bare = true
        break
      case "detached":
        current.detached = true
        break
      case "locked":
        current.locked = true
        break
      case "prunable":
        current.prunable = true
        break
    }
  }
  flush()
  return records
}

/**
 * `git merge-tree --write-tree --name-only -z --no-messages`: the tree id, then (on a conflict) each
 * conflicted path once. Undefined when the output does not start with a tree id (git failed).
 */
export const mergeTreeOutput = (
  text: string
): { readonly tree: string; readonly paths: ReadonlyArray<string> } | undefined => {
  const fields = nulFields(text)
  const tree = fields[0]
  if (tree === undefined || !isObjectId(tree)) return undefined
  const paths: Array<string> = []
  for (const path of fields.slice(1)) {
    if (path !== "" && !paths.includes(path)) paths.push(path)
  }
  return { tree, paths }
}

/** The marker put after a diff that was cut; `size` is the whole diff's size in bytes. */
export const cutMarker = (kept: number, size: number): string =>
  `\n[diff cut: ${kept} of ${size} bytes shown]\n`

/**
 * A diff of `size` bytes of which `text` holds the first `maxBytes` (`truncated` when that is not all of it):
 * returned whole when it is all there; otherwise cut at the last line end within `maxBytes` (so no line and no
 * character is split) and marked.
 */
export const cutDiff = (text: string, size: number, truncated: boolean, maxBytes: number): string => {
  if (!truncated) return text
  const head = new TextEncoder().encode(text).subarray(0, maxBytes)
  const lastNewline = head.lastIndexOf(10)
  const kept = lastNewline >= 0 ? head.subarray(0, lastNewline + 1) : new Uint8Array(0)
  return `${new TextDecoder().decode(kept)}${cutMarker(kept.length, size)}`
}
