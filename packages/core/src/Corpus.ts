/**
 * The `Corpus` is the one store agents deliberately share: content-addressed entries, each named by the
 * SHA-256 of its bytes under a namespace, optionally reachable through a key. A ref
 * (`corpus://<namespace>/sha256-<hex>`) is stable: the same bytes always give the same ref, and a ref always
 * resolves to exactly those bytes. Its guarantee: `get` never returns bytes that do not hash to the ref it
 * was given (it fails with `CorpusCorrupt` instead), and a crash never leaves half an entry under a ref.
 *
 * **When to use**
 *
 * Whenever material is too large or too shared to travel in a message: put it in the Corpus and send the
 * ref. The Compactor stores everything it drops from a context here. Keys name a changing value ("the
 * current plan"): each keyed write says how it merges with the writes before it, last-writer-wins or union.
 *
 * Provide `Corpus.layerMemory` (tests, one process) or `Corpus.layerFileSystem(root)` (durable, needs
 * Effect's `FileSystem` and `Path`, for example from `NodeServices.layer` in `@effect/platform-node`).
 *
 * @since 0.1.0
 */
import { Context, Effect, FileSystem, Layer, Path, Schema } from "effect"
import { Digest } from "effect/crypto"
import * as internal from "./internal/corpus.ts"
import * as Tracer from "./Tracer.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A reference to an entry: `corpus://<namespace>/sha256-<64 lowercase hex digits>`.
 *
 * **Details**
 *
 * The hash is the SHA-256 of the entry's bytes, so a ref names content, not a place: the same bytes put
 * twice in one namespace give the same ref, and a ref can only ever resolve to those bytes. Refs are plain
 * strings, so they travel in a `HandoffContext` and across processes unchanged.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const ref: Corpus.Ref =
 *   "corpus://notes/sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
 * console.log(Corpus.isRef(ref)) // true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Ref = `corpus://${string}/sha256-${string}`

/**
 * Tells whether a value is a well-formed ref (a valid namespace and a 64-digit lowercase hex SHA-256).
 *
 * **When to use**
 *
 * To check refs that arrive from outside (a model's tool call, a context decoded from JSON) before using
 * them. `get` checks too, and fails with `InvalidName` on a malformed ref.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * console.log(Corpus.isRef("corpus://notes/sha256-abc")) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isRef = (u: unknown): u is Ref => internal.parseRefUnsafe(u) !== undefined

/**
 * How a keyed write combines with what the key held before.
 *
 * **Details**
 *
 * - `"last-writer-wins"`: the key now holds exactly this write's ref. Of concurrent writers, the one that
 *   commits last wins; every write is committed whole, so the key holds one of the written refs.
 * - `"union"`: this write's ref is added to the key's set (once: refs are not repeated). Concurrent union
 *   writes never lose one another.
 *
 * A key's history may mix both: a union write adds to whatever the last-writer-wins write left.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const policy: Corpus.MergePolicy = "union"
 * console.log(policy) // "union"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type MergePolicy = "last-writer-wins" | "union"

/**
 * Where `put` stores an entry.
 *
 * **Details**
 *
 * - `namespace`: one or more segments of letters, digits, `.`, `_` and `-`, separated by `/` (not `.` or
 *   `..`, at most 200 characters). It is part of the ref.
 * - `key` (optional): also make the key name this entry. A key is 1 to 512 characters of well-formed
 *   Unicode, with no slash, backslash or control character, and not `.` or `..`.
 * - `merge` (optional, for keyed writes): defaults to `"last-writer-wins"`.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const options: Corpus.PutOptions = { namespace: "task-42/reviews", key: "latest", merge: "union" }
 * console.log(options.namespace) // "task-42/reviews"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface PutOptions {
  readonly namespace: string
  readonly key?: string | undefined
  readonly merge?: MergePolicy | undefined
}

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * A namespace, key or ref that breaks the naming rules. `field` says which one, `reason` which rule.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const error = new Corpus.InvalidName({ field: "namespace", value: "../etc", reason: "must not have a \".\" or \"..\" segment" })
 * console.log(error.message) // invalid namespace "../etc": must not have a "." or ".." segment
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidName extends Schema.TaggedError<InvalidName>()("InvalidName", {
  field: Schema.Literals(["namespace", "key", "ref"]),
  value: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    const shown = this.value.length > 80 ? `${this.value.slice(0, 80)}…` : this.value
    return `invalid ${this.field} ${JSON.stringify(shown)}: ${this.reason}`
  }
}

/**
 * No entry is stored under the ref.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * console.log(new Corpus.RefNotFound({ ref: "corpus://notes/sha256-00" }).message) // no corpus entry at corpus://notes/sha256-00
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class RefNotFound extends Schema.TaggedError<RefNotFound>()("RefNotFound", {
  ref: Schema.String
}) {
  override get message() {
    return `no corpus entry at ${this.ref}`
  }
}

/**
 * What is stored no longer matches its name: an entry's bytes do not hash to its ref, or a key's record
 * cannot be read.
 *
 * **Details**
 *
 * Only damage from outside (a disk error, a hand-edited file) can cause it: the Corpus itself never writes
 * in place. Putting the same content again repairs an entry.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const error = new Corpus.CorpusCorrupt({ ref: "corpus://notes/sha256-2c…", reason: "its 3 stored bytes hash to sha256-9f…" })
 * console.log(error.message) // corpus entry corpus://notes/sha256-2c… is corrupt: its 3 stored bytes hash to sha256-9f…
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class CorpusCorrupt extends Schema.TaggedError<CorpusCorrupt>()("CorpusCorrupt", {
  ref: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `corpus entry ${this.ref} is corrupt: ${this.reason}`
  }
}

/**
 * The storage under the Corpus failed (a file system error on disk: permissions, a full disk).
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const error = new Corpus.CorpusStorageError({ operation: "rename", path: "/data/objects/x", reason: "disk full" })
 * console.log(error.message) // corpus storage failed to rename /data/objects/x: disk full
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class CorpusStorageError extends Schema.TaggedError<CorpusStorageError>()("CorpusStorageError", {
  operation: Schema.String,
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `corpus storage failed to ${this.operation} ${this.path}: ${this.reason}`
  }
}

/**
 * Every error a Corpus operation can fail with.
 *
 * **Example**
 *
 * ```ts
 * import { Corpus } from "@handoffkit/core"
 *
 * const describe = (error: Corpus.CorpusError): string => error._tag
 * console.log(describe(new Corpus.RefNotFound({ ref: "corpus://a/sha256-00" }))) // "RefNotFound"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type CorpusError = InvalidName | RefNotFound | CorpusCorrupt | CorpusStorageError

// -----------------------------------------------------------------------------
// the service
// -----------------------------------------------------------------------------

/**
 * The Corpus service: one interface over the in-memory and the on-disk backends.
 *
 * **When to use**
 *
 * Use the accessors (`Corpus.put`, `Corpus.get`, ...) in programs; implement the service to put the Corpus
 * somewhere else (a database, an object store) with the same contract.
 *
 * **Details**
 *
 * - `put(content, options)` stores bytes (a string is stored as its UTF-8 encoding) and returns the ref.
 *   With a `key`, it then updates the key by its merge policy. Emits `corpus.put` (namespace, bytes, ref,
 *   and key and merge for keyed writes) on the tracer in scope when the layer was built, at the moment the
 *   write commits: for one key, the trace's order is the commit order.
 * - `get(ref)` returns a copy of the bytes, after checking they hash to the ref (`CorpusCorrupt` if not);
 *   `RefNotFound` if there is no such entry; `InvalidName` if the ref is malformed. `getText` decodes UTF-8.
 * - `resolve(namespace, key)` returns the key's current refs: one for last-writer-wins, the set (in order
 *   of first write) for union, none for a key never written.
 * - `list(namespace)` returns the refs of every entry in the namespace, sorted; `keys(namespace)` its keys.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const corpus = yield* Corpus.Corpus
 *   const ref = yield* corpus.put("hello", { namespace: "notes" })
 *   return yield* corpus.getText(ref)
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // "hello"
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Corpus extends Context.Service<
  Corpus,
  {
    readonly put: (
      content: Uint8Array | string,
      options: PutOptions
    ) => Effect.Effect<Ref, InvalidName | CorpusCorrupt | CorpusStorageError>
    readonly get: (ref: string) => Effect.Effect<Uint8Array, CorpusError>
    readonly getText: (ref: string) => Effect.Effect<string, CorpusError>
    readonly resolve: (
      namespace: string,
      key: string
    ) => Effect.Effect<ReadonlyArray<Ref>, InvalidName | CorpusCorrupt | CorpusStorageError>
    readonly list: (namespace: string) => Effect.Effect<ReadonlyArray<Ref>, InvalidName | CorpusStorageError>
    readonly keys: (
      namespace: string
    ) => Effect.Effect<ReadonlyArray<string>, InvalidName | CorpusCorrupt | CorpusStorageError>
  }
>()("@handoffkit/core/Corpus") {}

/**
 * Makes an in-memory Corpus.
 *
 * **When to use**
 *
 * In tests, and for material that need not outlive the process. Prefer `layerMemory` to provide it.
 *
 * **Details**
 *
 * Entries are kept as copies of what was put, and `get` returns copies, so nobody can change a stored
 * entry. Captures `Tracer.CurrentTracer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const corpus = yield* Corpus.makeMemory
 *   const a = yield* corpus.put("same bytes", { namespace: "notes" })
 *   const b = yield* corpus.put(new TextEncoder().encode("same bytes"), { namespace: "notes" })
 *   return a === b
 * })
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<Corpus["Service"]> = Effect.gen(function* () {
  const digest = yield* Digest.Digest
  const tracer = yield* Tracer.CurrentTracer
  return Corpus.of(internal.makeService(internal.makeMemoryBackend(), digest, tracer))
}).pipe(Effect.provide(Digest.layerWebCrypto))

/**
 * Makes a Corpus stored under the directory `root`, through Effect's `FileSystem` and `Path` services.
 *
 * **When to use**
 *
 * When entries must survive the process. Prefer `layerFileSystem` to provide it.
 *
 * **Details**
 *
 * Creates `root` if needed. Layout: `objects/<namespace>/sha256-<hex>` for entries,
 * `keys/<namespace>/<sha256 of the key>.json` for keys, `tmp/` for writes in progress. Every write goes to a
 * new file under `tmp/`, is synced, and is renamed into place: a crash or an interruption leaves either no
 * entry or the whole entry (and possibly a stray file under `tmp/`, never visible under a ref). Writes of
 * one key are serialized within this Corpus; give each root a single process that writes keys. Fails with
 * `CorpusStorageError` if `root` cannot be created. Captures `Tracer.CurrentTracer`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, FileSystem } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const fs = yield* FileSystem.FileSystem
 *   const corpus = yield* Corpus.makeFileSystem(yield* fs.makeTempDirectoryScoped())
 *   return yield* corpus.put("hello", { namespace: "notes" })
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // corpus://notes/sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeFileSystem = (
  root: string
): Effect.Effect<Corpus["Service"], CorpusStorageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const digest = yield* Digest.Digest
    const tracer = yield* Tracer.CurrentTracer
    const backend = yield* internal.makeFileSystemBackend(root, fs, path, digest)
    return Corpus.of(internal.makeService(backend, digest, tracer))
  }).pipe(Effect.provide(Digest.layerWebCrypto))

/**
 * The in-memory Corpus as a Layer.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Corpus.list("notes").pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // []
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Corpus> = Layer.effect(Corpus, makeMemory)

/**
 * The on-disk Corpus under `root` as a Layer (see `makeFileSystem`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, FileSystem, Layer } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const root = yield* FileSystem.FileSystem.use((fs) => fs.makeTempDirectoryScoped())
 *   const layer = Corpus.layerFileSystem(root)
 *   const ref = yield* Corpus.put("kept on disk", { namespace: "notes" }).pipe(Effect.provide(layer))
 *   // A new Corpus on the same directory finds it.
 *   return yield* Corpus.getText(ref).pipe(Effect.provide(Layer.fresh(layer)))
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * Effect.runPromise(program).then(console.log) // "kept on disk"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFileSystem = (
  root: string
): Layer.Layer<Corpus, CorpusStorageError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Corpus, makeFileSystem(root))

// -----------------------------------------------------------------------------
// accessors
// -----------------------------------------------------------------------------

/**
 * Stores content in the Corpus in scope and returns its ref.
 *
 * **Details**
 *
 * The same bytes in the same namespace always give the same ref (putting them again is harmless). With
 * `key`, the key is updated by `merge` (default last-writer-wins) after the entry is stored, so a key never
 * names a missing entry. Fails with `InvalidName` naming the bad field before anything is written.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* Corpus.put("draft 1", { namespace: "plan", key: "current" })
 *   const latest = yield* Corpus.put("draft 2", { namespace: "plan", key: "current" })
 *   const current = yield* Corpus.resolve("plan", "current")
 *   return current.length === 1 && current[0] === latest
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const put = (
  content: Uint8Array | string,
  options: PutOptions
): Effect.Effect<Ref, InvalidName | CorpusCorrupt | CorpusStorageError, Corpus> =>
  Corpus.use((corpus) => corpus.put(content, options))

/**
 * Reads the bytes of an entry, checked against its ref.
 *
 * **Details**
 *
 * Fails with `RefNotFound` if there is no entry, `CorpusCorrupt` if the stored bytes no longer hash to the
 * ref, and `InvalidName` (field `"ref"`) if the ref is malformed. The bytes are a copy.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const ref = yield* Corpus.put(new Uint8Array([1, 2, 3]), { namespace: "blobs" })
 *   return Array.from(yield* Corpus.get(ref))
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // [1, 2, 3]
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const get = (ref: string): Effect.Effect<Uint8Array, CorpusError, Corpus> =>
  Corpus.use((corpus) => corpus.get(ref))

/**
 * Reads an entry as UTF-8 text, checked against its ref (see `get`).
 *
 * **Details**
 *
 * A string put in the Corpus comes back identical, as long as it is well-formed Unicode: a lone surrogate
 * cannot be encoded in UTF-8 and is stored as U+FFFD. Store JSON (which escapes lone surrogates) when that
 * matters.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   const ref = yield* Corpus.put("naïve café ☕", { namespace: "notes" })
 *   return yield* Corpus.getText(ref)
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // "naïve café ☕"
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const getText = (ref: string): Effect.Effect<string, CorpusError, Corpus> =>
  Corpus.use((corpus) => corpus.getText(ref))

/**
 * The current refs of a key.
 *
 * **Details**
 *
 * Last-writer-wins leaves exactly one ref, the last committed; union writes accumulate every distinct ref,
 * in order of first write. A key never written resolves to no refs.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* Corpus.put("lgtm", { namespace: "pr-7", key: "reviews", merge: "union" })
 *   yield* Corpus.put("nit: rename x", { namespace: "pr-7", key: "reviews", merge: "union" })
 *   yield* Corpus.put("lgtm", { namespace: "pr-7", key: "reviews", merge: "union" })
 *   return (yield* Corpus.resolve("pr-7", "reviews")).length
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // 2
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const resolve = (
  namespace: string,
  key: string
): Effect.Effect<ReadonlyArray<Ref>, InvalidName | CorpusCorrupt | CorpusStorageError, Corpus> =>
  Corpus.use((corpus) => corpus.resolve(namespace, key))

/**
 * The refs of every entry in a namespace, sorted (entries of other namespaces, including nested ones such
 * as `a/b` for `a`, are not listed).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* Corpus.put("one", { namespace: "notes" })
 *   yield* Corpus.put("two", { namespace: "notes" })
 *   yield* Corpus.put("elsewhere", { namespace: "notes/archive" })
 *   return (yield* Corpus.list("notes")).length
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // 2
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const list = (
  namespace: string
): Effect.Effect<ReadonlyArray<Ref>, InvalidName | CorpusStorageError, Corpus> =>
  Corpus.use((corpus) => corpus.list(namespace))

/**
 * The keys written in a namespace, sorted.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Corpus } from "@handoffkit/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* Corpus.put("v1", { namespace: "plan", key: "current" })
 *   yield* Corpus.put("old", { namespace: "plan", key: "archived" })
 *   return yield* Corpus.keys("plan")
 * }).pipe(Effect.provide(Corpus.layerMemory))
 * Effect.runPromise(program).then(console.log) // ["archived", "current"]
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const keys = (
  namespace: string
): Effect.Effect<ReadonlyArray<string>, InvalidName | CorpusCorrupt | CorpusStorageError, Corpus> =>
  Corpus.use((corpus) => corpus.keys(namespace))
