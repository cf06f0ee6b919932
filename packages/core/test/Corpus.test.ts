import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, layer } from "@effect/vitest"
import {
  Context,
  Effect,
  Exit,
  FileSystem,
  Fiber,
  Layer,
  Path,
  PlatformError,
  Scheduler,
  Schema
} from "effect"
import * as Corpus from "../src/Corpus.ts"
import * as Tracer from "../src/Tracer.ts"
import { Check } from "@handoffkit/testing"
import { makeTempRoot } from "./tempRoot.ts"
import { textOf } from "./text.ts"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const yields = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

type Backend = "memory" | "filesystem"
const backends: ReadonlyArray<Backend> = ["memory", "filesystem"]

/** What the properties reached: interrupted and contended keyed writes, crashes after some commits. */
const stats = { interrupted: 0, contended: 0, crashedMidway: 0 }
afterAll(() => {
  for (const [name, count] of Object.entries(stats)) assert.isAbove(count, 0, `no run was ${name}`)
})

/** One temp dir per test block, removed when the block ends. */
class Root extends Context.Service<Root, string>()("test/Corpus/Root") {}

/**
 * Every run shares the block's Corpus (so the file-system runs pay for no setup), in a namespace of its own.
 * The Corpus captures this module's tracer; runs pick their own events by namespace.
 */
const trace = Tracer.memory()
let counter = 0
const freshNamespace = (prefix: string) => `${prefix}-${counter++}`

const environment = (backend: Backend) => {
  const corpus =
    backend === "memory"
      ? Corpus.layerMemory
      : Layer.unwrap(Root.use((root) => Effect.succeed(Corpus.layerFileSystem(`${root}/shared`))))
  return corpus.pipe(
    Layer.provide(Layer.succeed(Tracer.CurrentTracer, trace.tracer)),
    Layer.provideMerge(Layer.effect(Root, makeTempRoot("handoffkit-corpus-"))),
    Layer.provideMerge(NodeServices.layer)
  )
}

const eventsIn = (namespace: string) =>
  trace.events.filter((e) => e.kind === "corpus.put" && e.data?.namespace === namespace)

const sha256Hex = (bytes: Uint8Array) =>
  Effect.promise(async () =>
    Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource)), (b) =>
      b.toString(16).padStart(2, "0")
    ).join("")
  )

const refOf = (namespace: string, content: Uint8Array | string) =>
  Effect.map(
    sha256Hex(typeof content === "string" ? new TextEncoder().encode(content) : content),
    (hex) => `corpus://${namespace}/sha256-${hex}`
  )

/** The file of an entry under a file-system corpus root (the layout documented in `makeFileSystem`). */
const objectFile = (path: Path.Path, root: string, ref: string) => {
  const match = /^corpus:\/\/(.+)\/(sha256-[0-9a-f]{64})$/.exec(ref)!
  return path.join(root, "objects", match[1].replaceAll("/", "+"), match[2])
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** Replays keyed `corpus.put` events in trace (commit) order: what the key must hold. */
const replay = (events: ReadonlyArray<Tracer.Event>, namespace: string, key: string): Array<string> => {
  let refs: Array<string> = []
  for (const event of events) {
    if (event.kind !== "corpus.put" || event.data?.namespace !== namespace || event.data?.key !== key)
      continue
    const ref = event.data.ref as string
    refs = event.data.merge === "union" ? (refs.includes(ref) ? refs : [...refs, ref]) : [ref]
  }
  return refs
}

const dead = () =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: "FileSystem",
    method: "crash",
    description: "power cut"
  })

/**
 * A file system that "loses power" at its `crashAt`-th mutating operation: that operation does nothing (or,
 * for a write, writes only the first half of its bytes) and every later operation fails, as if the process
 * had died there. Whatever was on disk stays as the crash left it.
 */
const crashingFileSystem = (fs: FileSystem.FileSystem, crashAt: number) => {
  let ops = 0
  const step = <A, E, R>(run: (torn: boolean) => Effect.Effect<A, E, R>) =>
    Effect.suspend(() => {
      const n = ops++
      if (n > crashAt) return Effect.fail(dead())
      return n === crashAt ? Effect.andThen(run(true), Effect.fail(dead())) : run(false)
    })
  const crashing: FileSystem.FileSystem = {
    ...fs,
    makeDirectory: (path, options) => step((torn) => (torn ? Effect.void : fs.makeDirectory(path, options))),
    rename: (from, to) => step((torn) => (torn ? Effect.void : fs.rename(from, to))),
    remove: (path, options) => step((torn) => (torn ? Effect.void : fs.remove(path, options))),
    open: (path, options) =>
      step(() => Effect.void).pipe(
        Effect.andThen(fs.open(path, options)),
        Effect.map((file) =>
          Object.create(file, {
            writeAll: {
              value: (bytes: Uint8Array) =>
                step((torn) => file.writeAll(torn ? bytes.subarray(0, bytes.length >> 1) : bytes))
            },
            sync: { get: () => step(() => file.sync) }
          })
        )
      )
  }
  return crashing
}

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

for (const backend of backends) {
  layer(environment(backend))(`Corpus (${backend})`, (it) => {
    it.effect.prop(
      "content addressing: the same bytes give the same ref, and get(put(x)) returns x",
      {
        entries: Schema.Array(
          Schema.Struct({
            bytes: Schema.Array(Int(0, 255)).check(Schema.isMaxLength(300)),
            seed: Schema.Int,
            length: Int(0, 400),
            nested: Schema.Boolean
          })
        ).check(Schema.isBetweenLength(1, 3))
      },
      ({ entries }) =>
        Effect.gen(function* () {
          const base = freshNamespace("addressing")
          const written = new Map<string, Set<string>>()
          for (const { bytes, seed, length, nested } of entries) {
            const namespace = nested ? `${base}/nested.dir` : base
            const data = Uint8Array.from(bytes)
            const text = textOf(seed, length, { wellFormed: true })
            const ref = yield* Corpus.put(data, { namespace })
            assert.isTrue(Corpus.isRef(ref))
            assert.strictEqual(ref, yield* refOf(namespace, data), "the ref is the SHA-256 of the bytes")
            // The caller's array is not shared with the store.
            data.fill(7)
            assert.isTrue(sameBytes(yield* Corpus.get(ref), Uint8Array.from(bytes)))
            // The same bytes again (as a Buffer, which is copied too): the same ref; a plain Uint8Array back.
            const buffer = Buffer.from(bytes)
            assert.strictEqual(yield* Corpus.put(buffer, { namespace }), ref)
            buffer.fill(9)
            const back = yield* Corpus.get(ref)
            assert.strictEqual(back.constructor, Uint8Array)
            assert.isTrue(sameBytes(back, Uint8Array.from(bytes)))
            const textRef = yield* Corpus.put(text, { namespace })
            assert.strictEqual(yield* Corpus.getText(textRef), text, "text comes back identical")
            assert.strictEqual(textRef, yield* refOf(namespace, new TextEncoder().encode(text)))
            const set = written.get(namespace) ?? new Set()
            set.add(ref).add(textRef)
            written.set(namespace, set)
          }
          // Another namespace: the same hash, another ref.
          const [first] = written.get(written.keys().next().value!)!
          const other = yield* Corpus.put(yield* Corpus.get(first), { namespace: `${base}-other` })
          assert.notStrictEqual(other, first)
          assert.strictEqual(other.split("/").pop(), first.split("/").pop())
          for (const [namespace, refs] of written) {
            assert.deepStrictEqual<ReadonlyArray<string>>(yield* Corpus.list(namespace), [...refs].sort())
          }
        }),
      Check.propOptions()
    )

    it.effect.prop(
      "keyed writes under concurrency and interruption: each key holds the merge of its commits, in commit order",
      {
        mode: Schema.Literals(["last-writer-wins", "union", "mixed"]),
        writes: Schema.Array(
          Schema.Struct({
            content: Int(0, 5),
            union: Schema.Boolean,
            delay: Int(0, 6),
            interruptAt: Int(-1, 8)
          })
        ).check(Schema.isBetweenLength(1, 8)),
        interrupting: Schema.Boolean,
        opsBeforeYield: Int(3, 32)
      },
      ({ mode, writes, interrupting, opsBeforeYield }) =>
        Effect.gen(function* () {
          const namespace = freshNamespace("plans")
          const key = "current plan ✓"
          const policyOf = (union: boolean): Corpus.MergePolicy =>
            mode === "union" || (mode === "mixed" && union) ? "union" : "last-writer-wins"
          const completed: Array<string> = []
          const written = yield* Effect.forEach(writes, (w) => refOf(namespace, `plan #${w.content}`))
          const resolved = yield* Effect.gen(function* () {
            const fibers = yield* Effect.forEach(writes, (w, i) =>
              Effect.forkChild(
                Effect.andThen(
                  yields(w.delay),
                  Corpus.put(`plan #${w.content}`, { namespace, key, merge: policyOf(w.union) }).pipe(
                    Effect.tap((ref) => Effect.sync(() => void completed.push(ref))),
                    Effect.tap((ref) => Effect.sync(() => assert.strictEqual(ref, written[i])))
                  )
                )
              )
            )
            if (interrupting) {
              for (let step = 0; step <= 8; step++) {
                yield* Effect.yieldNow
                for (let i = 0; i < writes.length; i++)
                  if (writes[i].interruptAt === step) yield* Fiber.interrupt(fibers[i])
              }
            }
            for (const fiber of fibers) {
              const exit = yield* Fiber.await(fiber)
              if (Exit.isFailure(exit))
                assert.isTrue(Exit.hasInterrupts(exit), "a write only fails by interruption")
            }
            return yield* Corpus.resolve(namespace, key)
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, opsBeforeYield))
          const events = eventsIn(namespace)
          // Every commit is one event, every completed write committed, and nothing else committed.
          assert.isAtMost(events.length, writes.length)
          assert.isAtLeast(events.length, completed.length)
          for (const event of events) assert.include(written, event.data?.ref as string)
          assert.deepStrictEqual([...resolved], replay(events, namespace, key))
          if (events.length > 0 && mode === "last-writer-wins") {
            assert.deepStrictEqual([...resolved], [events[events.length - 1].data?.ref])
          }
          if (mode === "union") {
            assert.strictEqual(new Set(resolved).size, resolved.length, "a union holds each ref once")
            for (const ref of completed) assert.include(resolved, ref, "a union loses no completed write")
            if (!interrupting) assert.sameMembers([...resolved], [...new Set(written)])
          }
          if (events.length < writes.length) stats.interrupted++
          if (new Set(events.map((e) => e.data?.ref)).size > 1) stats.contended++
          // Every ref a key holds resolves to its entry.
          yield* Effect.forEach(resolved, (ref) => Corpus.get(ref))
        }),
      Check.propOptions()
    )

    it.effect(
      "invalid namespaces, keys and refs are typed errors naming the field, and nothing is written",
      () =>
        Effect.gen(function* () {
          const ok = freshNamespace("ok")
          const badNamespaces = [
            "",
            "..",
            ".",
            "a/../b",
            "/a",
            "a/",
            "a//b",
            "a b",
            "ü",
            "a\\b",
            "a+b",
            "x".repeat(201)
          ]
          for (const namespace of badNamespaces) {
            const error = yield* Effect.flip(Corpus.put("x", { namespace }))
            assert.strictEqual(error._tag === "InvalidName" && error.field, "namespace", namespace)
            assert.include(error.message, "invalid namespace")
            const listed = yield* Effect.flip(Corpus.list(namespace))
            assert.strictEqual(listed._tag, "InvalidName")
          }
          const badKeys = ["", ".", "..", "a/b", "a\\b", "line\nbreak", "\ud800", "k".repeat(513)]
          for (const key of badKeys) {
            const error = yield* Effect.flip(Corpus.put("x", { namespace: ok, key }))
            assert.strictEqual(error._tag === "InvalidName" && error.field, "key", JSON.stringify(key))
            assert.include(error.message, "invalid key")
            const resolving = yield* Effect.flip(Corpus.resolve(ok, key))
            assert.strictEqual(resolving._tag === "InvalidName" && resolving.field, "key")
          }
          const hex = "ab".repeat(32)
          const badRefs = [
            "",
            `corpus://${ok}/sha256-abc`,
            `http://${ok}/sha256-${hex}`,
            `corpus://../sha256-${hex}`,
            `corpus://${ok}/sha256-${hex.toUpperCase()}`
          ]
          for (const ref of badRefs) {
            const error = yield* Effect.flip(Corpus.get(ref))
            assert.strictEqual(error._tag === "InvalidName" && error.field, "ref", ref)
          }
          assert.strictEqual(
            (yield* Effect.flip(Corpus.get(`corpus://${ok}/sha256-${hex}`)))._tag,
            "RefNotFound"
          )
          // The failures above wrote nothing; valid names with every allowed character work.
          assert.deepStrictEqual(yield* Corpus.list(ok), [])
          assert.deepStrictEqual(yield* Corpus.keys(ok), [])
          yield* Corpus.put("x", { namespace: `${ok}/A-z_0.9`, key: "ünï ✓ key.json" })
          assert.deepStrictEqual(yield* Corpus.keys(`${ok}/A-z_0.9`), ["ünï ✓ key.json"])
        })
    )

    it.effect("corpus.put is traced with the namespace, the size and the ref", () =>
      Effect.gen(function* () {
        const namespace = freshNamespace("traced")
        const plain = yield* Corpus.put("héllo", { namespace })
        const keyed = yield* Corpus.put("wörld", { namespace, key: "greeting", merge: "union" })
        assert.deepStrictEqual(
          eventsIn(namespace).map((e) => e.data),
          [
            { namespace, bytes: 6, ref: plain },
            { namespace, bytes: 6, ref: keyed, key: "greeting", merge: "union" }
          ]
        )
      })
    )

    if (backend !== "filesystem") return
    it.effect.prop(
      "a corrupted entry is CorpusCorrupt, never wrong bytes; putting it again repairs it",
      {
        seed: Schema.Int,
        length: Int(0, 3000),
        damage: Schema.Literals(["truncate", "flip", "append", "replace"]),
        at: Int(0, 1_000_000)
      },
      ({ seed, length, damage, at }) =>
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const path = yield* Path.Path
          const root = yield* Root
          const namespace = freshNamespace("damaged")
          const text = textOf(seed, length, { wellFormed: true })
          const ref = yield* Corpus.put(text, { namespace })
          const file = objectFile(path, `${root}/shared`, ref)
          const bytes = yield* fs.readFile(file)
          const damaged =
            damage === "truncate" && bytes.length > 0
              ? bytes.subarray(0, at % bytes.length)
              : damage === "flip" && bytes.length > 0
                ? bytes.map((b, i) => (i === at % bytes.length ? b ^ (1 << (at % 8)) : b))
                : damage === "replace"
                  ? new TextEncoder().encode(`not ${text}`)
                  : Uint8Array.from([...bytes, at % 256])
          yield* fs.writeFile(file, damaged)
          const error = yield* Effect.flip(Corpus.get(ref))
          assert.strictEqual(error._tag, "CorpusCorrupt")
          assert.include(error.message, ref)
          assert.strictEqual((yield* Effect.flip(Corpus.getText(ref)))._tag, "CorpusCorrupt")
          yield* Corpus.put(text, { namespace })
          assert.strictEqual(yield* Corpus.getText(ref), text)
        }),
      Check.propOptions()
    )

    it.effect.prop(
      "a crash at any point of any write leaves only whole entries, and keys that resolve",
      {
        writes: Schema.Array(
          Schema.Struct({
            seed: Schema.Int,
            length: Int(0, 2000),
            keyed: Schema.Boolean,
            union: Schema.Boolean
          })
        ).check(Schema.isBetweenLength(1, 4)),
        crashAt: Int(0, 30)
      },
      ({ writes, crashAt }) =>
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const root = `${yield* Root}/${freshNamespace("crash")}`
          const texts = writes.map((w) => textOf(w.seed, w.length, { wellFormed: true }))
          const completed: Array<string> = []
          // Run until the power cut.
          yield* Effect.forEach(writes, (w, i) =>
            Corpus.put(texts[i], {
              namespace: "work",
              ...(w.keyed
                ? { key: "k", merge: w.union ? ("union" as const) : ("last-writer-wins" as const) }
                : {})
            }).pipe(Effect.tap((ref) => Effect.sync(() => void completed.push(ref))))
          ).pipe(
            Effect.provide(Corpus.layerFileSystem(root)),
            Effect.provideService(FileSystem.FileSystem, crashingFileSystem(fs, crashAt)),
            Effect.ignore
          )
          // Restart on the same directory with a working disk.
          yield* Effect.gen(function* () {
            const listed = yield* Corpus.list("work")
            const expected = yield* Effect.forEach(texts, (text) => refOf("work", text))
            for (const ref of completed) assert.include(listed, ref, "a completed write survives")
            if (completed.length < writes.length) stats.crashedMidway += completed.length > 0 ? 1 : 0
            for (const ref of listed) {
              assert.include(expected, ref)
              const text = yield* Corpus.getText(ref) // never CorpusCorrupt: no half entry under a ref
              assert.strictEqual(text, texts[expected.indexOf(ref)])
            }
            for (const ref of yield* Corpus.resolve("work", "k")) yield* Corpus.get(ref)
            // And the corpus is usable again.
            const fresh = yield* Corpus.put("after the crash", {
              namespace: "work",
              key: "k",
              merge: "union"
            })
            assert.include(yield* Corpus.resolve("work", "k"), fresh)
          }).pipe(Effect.provide(Corpus.layerFileSystem(root)))
        }),
      Check.propOptions()
    )

    it.effect(
      "a damaged key record fails resolve with CorpusCorrupt; a last-writer-wins write repairs it",
      () =>
        Effect.gen(function* () {
          const fs = yield* FileSystem.FileSystem
          const path = yield* Path.Path
          const root = yield* Root
          const namespace = freshNamespace("plan")
          yield* Corpus.put("v1", { namespace, key: "current" })
          const dir = path.join(root, "shared", "keys", namespace)
          const [record] = yield* fs.readDirectory(dir)
          yield* fs.writeFileString(path.join(dir, record), `{"key":"current","refs":["not a ref"]}`)
          assert.strictEqual((yield* Effect.flip(Corpus.resolve(namespace, "current")))._tag, "CorpusCorrupt")
          const union = yield* Effect.flip(Corpus.put("v2", { namespace, key: "current", merge: "union" }))
          assert.strictEqual(union._tag, "CorpusCorrupt")
          const v3 = yield* Corpus.put("v3", { namespace, key: "current" })
          assert.deepStrictEqual(yield* Corpus.resolve(namespace, "current"), [v3])
        })
    )

    it.effect("entries and keys survive a restart on the same directory", () =>
      Effect.gen(function* () {
        const root = yield* Root
        const namespace = freshNamespace("durable")
        const ref = yield* Corpus.put("durable", { namespace, key: "k", merge: "union" })
        const reopened = yield* Corpus.makeFileSystem(`${root}/shared`)
        assert.strictEqual(yield* reopened.getText(ref), "durable")
        assert.deepStrictEqual(yield* reopened.resolve(namespace, "k"), [ref])
        assert.deepStrictEqual(yield* reopened.list(namespace), [ref])
        assert.deepStrictEqual(yield* reopened.keys(namespace), ["k"])
      })
    )
  })
}
