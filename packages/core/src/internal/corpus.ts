/**
 * The corpus machinery: name rules, refs, hashing, and the two backends behind one service.
 *
 * Invariants (each kept by the function named):
 * 1. An entry is stored under the SHA-256 of its bytes, and `get` hashes what it read before returning it
 *    (`makeService`): a reader never receives bytes that do not hash to the ref it asked for.
 * 2. On disk nothing is ever written in place (`writeAtomic`): bytes go to a file under `tmp/`, are synced,
 *    and are renamed into place. A rename is atomic, so a crash leaves either no entry or the whole entry.
 * 3. A keyed write stores its entry before it touches the key (`put`), so a key never points to a missing
 *    entry; the key's read-modify-write runs under the key's lock (`FileSystemBackend.updateKey`) or in one
 *    synchronous step (`MemoryBackend.updateKey`), and the `corpus.put` event is emitted inside that step,
 *    so the trace's order of keyed events is the commit order.
 * @internal
 */
import { Effect, type FileSystem, type Path, type PlatformError, Schema, Semaphore } from "effect"
import { Digest } from "effect/crypto"
import {
  CorpusCorrupt,
  CorpusStorageError,
  InvalidName,
  RefNotFound,
  type Corpus,
  type MergePolicy,
  type PutOptions,
  type Ref
} from "../Corpus.ts"
import type * as Tracer from "../Tracer.ts"

// -----------------------------------------------------------------------------
// names and refs
// -----------------------------------------------------------------------------

/** @internal */
export const maxNamespaceLength = 200
/** @internal */
export const maxKeyLength = 512

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const segmentPattern = /^[A-Za-z0-9_.-]+$/
// With the `u` flag a well-formed surrogate pair is one code point, so only lone surrogates match.
const loneSurrogate = /\p{Cs}/u
// eslint-disable-next-line no-control-regex
const controlCharacter = /[\u0000-\u001f\u007f]/

/** Why a namespace is invalid, or undefined. @internal */
export const namespaceProblem = (namespace: unknown): string | undefined => {
  if (typeof namespace !== "string") return "must be a string"
  if (namespace.length === 0) return "must not be empty"
  if (namespace.length > maxNamespaceLength) return `must be at most ${maxNamespaceLength} characters`
  for (const segment of namespace.split("/")) {
    if (segment.length === 0) return `must not have an empty segment (a leading, trailing or doubled "/")`
    if (segment === "." || segment === "..") return `must not have a "." or ".." segment`
    if (!segmentPattern.test(segment))
      return `may only contain letters, digits, ".", "_" and "-", in segments separated by "/"`
  }
  return undefined
}

/** Why a key is invalid, or undefined. @internal */
export const keyProblem = (key: unknown): string | undefined => {
  if (typeof key !== "string") return "must be a string"
  if (key.length === 0) return "must not be empty"
  if (key.length > maxKeyLength) return `must be at most ${maxKeyLength} characters`
  if (key === "." || key === "..") return `must not be "." or ".."`
  if (key.includes("/") || key.includes("\\")) return "must not contain slashes"
  if (controlCharacter.test(key)) return "must not contain control characters"
  if (loneSurrogate.test(key)) return "must be well-formed Unicode (it has a lone surrogate)"
  return undefined
}

/** @internal */
export const checkNamespace = (namespace: string): Effect.Effect<void, InvalidName> => {
  const reason = namespaceProblem(namespace)
  return reason === undefined
    ? Effect.void
    : Effect.fail(new InvalidName({ field: "namespace", value: String(namespace), reason }))
}

/** @internal */
export const checkKey = (key: string): Effect.Effect<void, InvalidName> => {
  const reason = keyProblem(key)
  return reason === undefined
    ? Effect.void
    : Effect.fail(new InvalidName({ field: "key", value: String(key), reason }))
}

const refPattern = /^corpus:\/\/(.+)\/sha256-([0-9a-f]{64})$/

/** @internal */
export const makeRef = (namespace: string, hex: string): Ref => `corpus://${namespace}/sha256-${hex}`

/** Splits a ref into its namespace and hash, or undefined if it is not one. @internal */
export const parseRefUnsafe = (
  ref: unknown
): { readonly namespace: string; readonly hex: string } | undefined => {
  if (typeof ref !== "string") return undefined
  const match = refPattern.exec(ref)
  if (match === null || namespaceProblem(match[1]) !== undefined) return undefined
  return { namespace: match[1], hex: match[2] }
}

/** @internal */
export const parseRef = (
  ref: string
): Effect.Effect<{ readonly namespace: string; readonly hex: string }, InvalidName> =>
  Effect.suspend(() => {
    const parsed = parseRefUnsafe(ref)
    return parsed === undefined
      ? Effect.fail(
          new InvalidName({
            field: "ref",
            value: String(ref),
            reason: "expected corpus://<namespace>/sha256-<64 lowercase hex digits>"
          })
        )
      : Effect.succeed(parsed)
  })

// -----------------------------------------------------------------------------
// backends
// -----------------------------------------------------------------------------

/** What differs between the memory and the disk: where bytes and key records live. @internal */
export interface Backend {
  readonly writeObject: (
    namespace: string,
    hex: string,
    bytes: Uint8Array
  ) => Effect.Effect<void, CorpusStorageError>
  /** The stored bytes, or undefined when there is no such entry. */
  readonly readObject: (
    namespace: string,
    hex: string
  ) => Effect.Effect<Uint8Array | undefined, CorpusStorageError>
  readonly listObjects: (namespace: string) => Effect.Effect<ReadonlyArray<string>, CorpusStorageError>
  /**
   * Merges `ref` into the key's refs by `policy`, atomically with respect to every other update of that
   * key, and calls `onCommit` before any other update of the key can start.
   */
  readonly updateKey: (
    namespace: string,
    key: string,
    policy: MergePolicy,
    ref: Ref,
    onCommit: () => void
  ) => Effect.Effect<void, CorpusStorageError | CorpusCorrupt>
  readonly readKey: (
    namespace: string,
    key: string
  ) => Effect.Effect<ReadonlyArray<Ref>, CorpusStorageError | CorpusCorrupt>
  readonly listKeys: (
    namespace: string
  ) => Effect.Effect<ReadonlyArray<string>, CorpusStorageError | CorpusCorrupt>
}

const inNamespace = <A>(map: Map<string, Map<string, A>>, namespace: string): Map<string, A> => {
  let inner = map.get(namespace)
  if (inner === undefined) {
    inner = new Map()
    map.set(namespace, inner)
  }
  return inner
}

/** @internal */
export const makeMemoryBackend = (): Backend => {
  const objects = new Map<string, Map<string, Uint8Array>>()
  const keys = new Map<string, Map<string, ReadonlyArray<Ref>>>()
  return {
    writeObject: (namespace, hex, bytes) =>
      Effect.sync(() => void inNamespace(objects, namespace).set(hex, bytes)),
    readObject: (namespace, hex) => Effect.sync(() => objects.get(namespace)?.get(hex)),
    listObjects: (namespace) => Effect.sync(() => Array.from(objects.get(namespace)?.keys() ?? [])),
    // One synchronous step: no other fiber can run between the read, the write and the trace event.
    updateKey: (namespace, key, policy, ref, onCommit) =>
      Effect.sync(() => {
        const inner = inNamespace(keys, namespace)
        inner.set(key, merge(policy, inner.get(key) ?? [], ref))
        onCommit()
      }),
    readKey: (namespace, key) => Effect.sync(() => keys.get(namespace)?.get(key) ?? []),
    listKeys: (namespace) => Effect.sync(() => Array.from(keys.get(namespace)?.keys() ?? []))
  }
}

const KeyRecord = Schema.fromJsonString(
  Schema.Struct({ key: Schema.String, refs: Schema.Array(Schema.String) })
)
const decodeKeyRecord = Schema.decodeUnknownOption(KeyRecord)

const isNotFound = (error: PlatformError.PlatformError): boolean => error.reason._tag === "NotFound"

const storageError = (operation: string, path: string) => (error: PlatformError.PlatformError) =>
  new CorpusStorageError({ operation, path, reason: error.message })

const objectName = /^sha256-([0-9a-f]{64})$/
const keyFileName = /^[0-9a-f]{64}\.json$/
const lockStripes = 64

/**
 * The on-disk layout under `root`:
 *
 * - `objects/<namespace>/sha256-<hex>`: the entries (a "/" in a namespace is written "+", so every
 *   namespace is one directory and no namespace's directory can sit inside another's);
 * - `keys/<namespace>/<sha256 of the key>.json`: `{ key, refs }`, the key's current refs;
 * - `tmp/`: files being written, renamed into place once complete. A crash may leave files here; none of
 *   them is ever visible under a ref.
 * @internal
 */
export const makeFileSystemBackend = Effect.fnUntraced(function* (
  root: string,
  fs: FileSystem.FileSystem,
  path: Path.Path,
  digest: Digest.Digest["Service"]
) {
  const tmp = path.join(root, "tmp")
  const objectsRoot = path.join(root, "objects")
  const keysRoot = path.join(root, "keys")
  for (const dir of [tmp, objectsRoot, keysRoot]) {
    yield* fs
      .makeDirectory(dir, { recursive: true })
      .pipe(Effect.mapError(storageError("makeDirectory", dir)))
  }
  const directoryOf = (base: string, namespace: string) => path.join(base, namespace.replaceAll("/", "+"))
  const made = new Set<string>()
  const ensureDirectory = (dir: string) =>
    made.has(dir)
      ? Effect.void
      : fs.makeDirectory(dir, { recursive: true }).pipe(
          Effect.mapError(storageError("makeDirectory", dir)),
          Effect.tap(() => Effect.sync(() => void made.add(dir)))
        )
  // If a write fails, the directory may have been removed behind our back: make it again next time.
  const forgetDirectoryOnError =
    (dir: string) =>
    <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.tapError(self, () => Effect.sync(() => void made.delete(dir)))
  let counter = 0
  // Write to a fresh file under tmp/, sync it, rename it over `target`. Whatever interrupts or fails before
  // the rename leaves `target` as it was; the temp file is removed on the way out (a crash may leave it).
  const writeAtomic = (target: string, bytes: Uint8Array) =>
    Effect.suspend(() => {
      const staging = path.join(
        tmp,
        `${Date.now().toString(36)}-${(counter++).toString(36)}-${crypto.randomUUID()}`
      )
      const write = Effect.scoped(
        Effect.gen(function* () {
          const file = yield* fs.open(staging, { flag: "wx" })
          yield* file.writeAll(bytes)
          yield* file.sync
        })
      ).pipe(Effect.mapError(storageError("write", staging)))
      return write.pipe(
        Effect.andThen(fs.rename(staging, target).pipe(Effect.mapError(storageError("rename", target)))),
        Effect.onError(() => Effect.ignore(fs.remove(staging, { force: true })))
      )
    })
  const readIfExists = (file: string) =>
    fs.readFile(file).pipe(
      Effect.map((bytes): Uint8Array | undefined => bytes),
      Effect.catchIf(isNotFound, () => Effect.succeed(undefined)),
      Effect.mapError(storageError("read", file))
    )
  const listIfExists = (dir: string) =>
    fs.readDirectory(dir).pipe(
      Effect.catchIf(isNotFound, () => Effect.succeed<Array<string>>([])),
      Effect.mapError(storageError("readDirectory", dir))
    )
  const keyFile = (namespace: string, key: string) =>
    Effect.map(digest.digestHex(Digest.sha256, encoder.encode(key)), (hex) => ({
      dir: directoryOf(keysRoot, namespace),
      file: path.join(directoryOf(keysRoot, namespace), `${hex}.json`),
      stripe: parseInt(hex.slice(0, 4), 16) % lockStripes
    }))
  const readRecord = (file: string, namespace: string, key: string) =>
    Effect.flatMap(readIfExists(file), (bytes) => {
      if (bytes === undefined) return Effect.succeed<ReadonlyArray<Ref>>([])
      const record = decodeKeyRecord(decoder.decode(bytes))
      if (
        record._tag === "None" ||
        record.value.key !== key ||
        !record.value.refs.every((r) => parseRefUnsafe(r))
      )
        return Effect.fail(
          new CorpusCorrupt({
            ref: makeKeyLocator(namespace, key),
            reason: `its record ${file} is not a valid key record`
          })
        )
      return Effect.succeed(record.value.refs as ReadonlyArray<Ref>)
    })
  // Keys hash onto a fixed set of locks: bounded memory, and two keys rarely share one.
  const locks = Array.from({ length: lockStripes }, () => Semaphore.makeUnsafe(1))

  const backend: Backend = {
    writeObject: (namespace, hex, bytes) => {
      const dir = directoryOf(objectsRoot, namespace)
      return Effect.andThen(ensureDirectory(dir), writeAtomic(path.join(dir, `sha256-${hex}`), bytes)).pipe(
        forgetDirectoryOnError(dir)
      )
    },
    readObject: (namespace, hex) =>
      readIfExists(path.join(directoryOf(objectsRoot, namespace), `sha256-${hex}`)),
    listObjects: (namespace) =>
      Effect.map(listIfExists(directoryOf(objectsRoot, namespace)), (names) =>
        names.flatMap((name) => {
          const match = objectName.exec(name)
          return match === null ? [] : [match[1]]
        })
      ),
    updateKey: (namespace, key, policy, ref, onCommit) =>
      Effect.flatMap(keyFile(namespace, key), ({ dir, file, stripe }) =>
        locks[stripe].withPermit(
          // Not interruptible: the rename (the commit) and its trace event must not be separated.
          Effect.uninterruptible(
            Effect.gen(function* () {
              // Last-writer-wins does not read what it replaces, so it also repairs a damaged record.
              const current = policy === "union" ? yield* readRecord(file, namespace, key) : []
              yield* ensureDirectory(dir)
              const refs = merge(policy, current, ref)
              yield* writeAtomic(file, encoder.encode(JSON.stringify({ key, refs })))
              onCommit()
            }).pipe(forgetDirectoryOnError(dir))
          )
        )
      ),
    readKey: (namespace, key) =>
      Effect.flatMap(keyFile(namespace, key), ({ file }) => readRecord(file, namespace, key)),
    listKeys: (namespace) =>
      Effect.gen(function* () {
        const dir = directoryOf(keysRoot, namespace)
        const names = (yield* listIfExists(dir)).filter((name) => keyFileName.test(name))
        return yield* Effect.forEach(
          names,
          (name) =>
            Effect.flatMap(readIfExists(path.join(dir, name)), (bytes) => {
              const record = bytes === undefined ? undefined : decodeKeyRecord(decoder.decode(bytes))
              if (record === undefined) return Effect.succeed([] as Array<string>) // removed meanwhile
              return record._tag === "Some"
                ? Effect.succeed([record.value.key])
                : Effect.fail(
                    new CorpusCorrupt({
                      ref: `corpus://${namespace}`,
                      reason: `its key record ${path.join(dir, name)} is not valid JSON`
                    })
                  )
            }),
          { concurrency: 8 }
        ).pipe(Effect.map((lists) => lists.flat()))
      })
  }
  return backend
})

/** How a key is named in errors. @internal */
export const makeKeyLocator = (namespace: string, key: string): string =>
  `corpus://${namespace}?key=${encodeURIComponent(key)}`

// -----------------------------------------------------------------------------
// the service
// -----------------------------------------------------------------------------

/** @internal */
export const merge = (policy: MergePolicy, current: ReadonlyArray<Ref>, ref: Ref): ReadonlyArray<Ref> =>
  policy === "union" ? (current.includes(ref) ? current : [...current, ref]) : [ref]

/** The service over a backend: validation, hashing, verification and tracing live here, once. @internal */
export const makeService = (
  backend: Backend,
  digest: Digest.Digest["Service"],
  tracer: Tracer.Tracer
): Corpus["Service"] => {
  const sha256 = (bytes: Uint8Array) => digest.digestHex(Digest.sha256, bytes)

  const put = (content: Uint8Array | string, options: PutOptions) =>
    Effect.gen(function* () {
      const { namespace, key } = options
      yield* checkNamespace(namespace)
      if (key !== undefined) yield* checkKey(key)
      // Copy first: the caller may change its array while we hash and write.
      // `new Uint8Array` copies (a Buffer's `slice` would not).
      const bytes = typeof content === "string" ? encoder.encode(content) : new Uint8Array(content)
      const hex = yield* sha256(bytes)
      const ref = makeRef(namespace, hex)
      yield* backend.writeObject(namespace, hex, bytes)
      const policy = options.merge ?? "last-writer-wins"
      const emit = () => {
        if (tracer.enabled)
          tracer.emit({
            kind: "corpus.put",
            actor: "corpus",
            data: {
              namespace,
              bytes: bytes.length,
              ref,
              ...(key !== undefined ? { key, merge: policy } : {})
            }
          })
      }
      if (key === undefined) emit()
      else yield* backend.updateKey(namespace, key, policy, ref, emit)
      return ref
    }).pipe(Effect.withSpan("Corpus.put"))

  const get = (ref: string) =>
    Effect.gen(function* () {
      const { namespace, hex } = yield* parseRef(ref)
      const bytes = yield* backend.readObject(namespace, hex)
      if (bytes === undefined) return yield* new RefNotFound({ ref })
      const actual = yield* sha256(bytes)
      if (actual !== hex)
        return yield* new CorpusCorrupt({
          ref,
          reason: `its ${bytes.length} stored bytes hash to sha256-${actual}`
        })
      // A copy: the caller must not be able to change what is stored (the memory backend shares its array).
      return new Uint8Array(bytes)
    }).pipe(Effect.withSpan("Corpus.get"))

  return {
    put,
    get,
    getText: (ref) => Effect.map(get(ref), (bytes) => decoder.decode(bytes)),
    resolve: (namespace, key) =>
      Effect.andThen(
        Effect.andThen(checkNamespace(namespace), checkKey(key)),
        backend.readKey(namespace, key)
      ),
    list: (namespace) =>
      Effect.andThen(
        checkNamespace(namespace),
        Effect.map(backend.listObjects(namespace), (hexes) =>
          hexes.map((hex) => makeRef(namespace, hex)).sort()
        )
      ),
    keys: (namespace) =>
      Effect.andThen(
        checkNamespace(namespace),
        Effect.map(backend.listKeys(namespace), (keys) => [...keys].sort())
      )
  }
}
