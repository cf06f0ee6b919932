import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as Compactor from "../src/Compactor.ts"
import * as Corpus from "../src/Corpus.ts"
import { HandoffContext } from "../src/Handoff.ts"
import * as Tracer from "../src/Tracer.ts"
import { Check } from "@handoffkit/testing"
import { makeTempRoot } from "./tempRoot.ts"
import { random, textOf } from "./text.ts"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const Int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const senders = ["planner", "coder", "reviewer ✓", 'q"uote\\', "", "🤖"]

/** `count` items with sizes from 0 to `maxLength` (the extremes more often than the middle). */
const itemsOf = (seed: number, count: number, maxLength: number): Array<Compactor.Item> => {
  const next = random(seed ^ 0x5bd1e995)
  return Array.from({ length: count }, (_, i) => {
    const pick = next()
    const length = pick < 0.15 ? 0 : pick < 0.3 ? maxLength : Math.floor(next() * (maxLength + 1))
    return { from: senders[Math.floor(next() * senders.length)], text: textOf(seed + i * 7919, length) }
  })
}

const utf8 = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length

const assertSameItems = (actual: ReadonlyArray<Compactor.Item>, expected: ReadonlyArray<Compactor.Item>) => {
  assert.strictEqual(actual.length, expected.length, "as many items")
  for (let i = 0; i < expected.length; i++) {
    // Strict string equality: the same UTF-16 code units, lone surrogates included.
    assert.isTrue(actual[i].from === expected[i].from, `item ${i}: from differs`)
    assert.isTrue(actual[i].text === expected[i].text, `item ${i}: text differs`)
  }
}

type Backend = "memory" | "filesystem"

/** What the main property covered, so that a generator change that stops reaching a case fails the suite. */
const stats = { runs: 0, verbatim: 0, listed: 0, indexed: 0, truncated: 0, tight: 0 }
afterAll(() => {
  for (const [name, count] of Object.entries(stats)) assert.isAbove(count, 0, `no run was ${name}`)
})

/** Runs share the block's Corpus (each in its own namespace) and this module's tracer. */
const trace = Tracer.memory()
let counter = 0
const freshNamespace = (prefix: string) => `${prefix}-${counter++}`

const environment = (backend: Backend) =>
  (backend === "memory"
    ? Corpus.layerMemory
    : Layer.unwrap(Effect.map(makeTempRoot("handoffkit-compactor-"), Corpus.layerFileSystem))
  ).pipe(
    Layer.provideMerge(Layer.succeed(Tracer.CurrentTracer, trace.tracer)),
    Layer.provideMerge(NodeServices.layer)
  )

class SummarizerFailed extends Schema.TaggedError<SummarizerFailed>()("SummarizerFailed", {}) {}

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

for (const backend of ["memory", "filesystem"] as const) {
  layer(environment(backend))(`Compactor (${backend})`, (it) => {
    it.effect.prop(
      "the context never exceeds its bound, and recover returns every item byte for byte, in order",
      {
        count: Int(0, 50),
        maxLength: Int(0, 5000),
        seed: Schema.Int,
        maxBytes: Int(200, 5000),
        keepRecent: Int(-1, 50),
        summaryBytes: Int(-1, 3000),
        summarizer: Schema.Literals(["default", "adversarial", "silent"]),
        withBudget: Schema.Boolean
      },
      ({ count, maxLength, seed, maxBytes, keepRecent, summaryBytes, summarizer, withBudget }) =>
        Effect.gen(function* () {
          const namespace = freshNamespace("context")
          const items = itemsOf(seed, count, maxLength)
          const original = items.map((item) => ({ ...item }))
          const summarized: Array<ReadonlyArray<Compactor.Item>> = []
          const policy: Compactor.Policy = {
            maxBytes,
            ...(keepRecent >= 0 ? { keepRecent } : {}),
            ...(summaryBytes >= 0 ? { summaryBytes } : {}),
            ...(summarizer === "default"
              ? {}
              : {
                  // Ignores the hint: far too long, full of escapes and lone surrogates; or nothing at all.
                  summarizer: (dropped: ReadonlyArray<Compactor.Item>) =>
                    Effect.sync(() => {
                      summarized.push(dropped)
                      return summarizer === "silent"
                        ? ""
                        : textOf(seed ^ 0x2545f491, 2_000 + ((seed >>> 0) % 20_000))
                    })
                })
          }
          const budget = { tokensIn: 120_000, cost: 0.125 }
          const context = yield* Compactor.compact(items, policy, {
            namespace,
            ...(withBudget ? { budget } : {})
          })
          // The bound, measured independently of the compactor's own accounting.
          const bytes = utf8(context)
          assert.isAtMost(bytes, maxBytes)
          assert.strictEqual(Compactor.byteLength(context), bytes)
          Schema.decodeUnknownSync(HandoffContext)(context)
          assert.deepStrictEqual(context.budget, withBudget ? budget : undefined)
          // The thread is the most recent items, verbatim; refs are refs in our namespace.
          const kept = context.thread.length
          if (keepRecent >= 0) assert.isAtMost(kept, keepRecent)
          assertSameItems(context.thread, original.slice(count - kept))
          for (const ref of context.refs) assert.isTrue(ref.startsWith(`corpus://${namespace}/sha256-`))
          // Nothing is compacted that fits as it is.
          const inputBytes = utf8(original)
          const shell = utf8({ summary: "", refs: [], thread: [], ...(withBudget ? { budget } : {}) })
          const verbatim = shell + inputBytes - 2
          if (verbatim <= maxBytes && (keepRecent < 0 || keepRecent >= count)) {
            assert.strictEqual(kept, count)
            assert.deepStrictEqual(context.refs, [])
          } else {
            assert.isAtLeast(context.refs.length, 1, "whatever is dropped is referenced")
          }
          // Nothing is lost.
          assertSameItems(yield* Compactor.recover(context), original)
          // The summarizer sees exactly the dropped items, and is not asked when nothing is dropped.
          if (summarized.length > 0) assertSameItems(summarized[0], original.slice(0, count - kept))
          if (kept === count) assert.strictEqual(summarized.length, 0)
          const event = trace.events.find(
            (e) => e.kind === "compactor.compact" && e.data?.namespace === namespace
          )!
          assert.strictEqual(event.data?.outputBytes, bytes)
          assert.strictEqual(event.data?.dropped, count - kept)
          assert.strictEqual(event.data?.inputBytes, inputBytes)
          stats.runs++
          if (kept === count) stats.verbatim++
          else if (event.data?.indexed === true) stats.indexed++
          else stats.listed++
          if (summarizer === "adversarial" && context.summary.endsWith("…")) stats.truncated++
          if (bytes > maxBytes - 8) stats.tight++
        }),
      Check.propOptions()
    )

    it.effect.prop(
      "BoundTooSmall only when the bound cannot hold one ref; the size it asks for is enough",
      {
        count: Int(0, 4),
        seed: Schema.Int,
        maxBytes: Int(0, 260),
        namespaceLength: Int(1, 40),
        withBudget: Schema.Boolean
      },
      ({ count, seed, maxBytes, namespaceLength, withBudget }) =>
        Effect.gen(function* () {
          const namespace = `${freshNamespace("b")}-${"n".repeat(namespaceLength)}`
          const items = itemsOf(seed, count, 40)
          const options = { namespace, ...(withBudget ? { budget: { calls: 3 } } : {}) }
          const outcome = yield* Effect.result(Compactor.compact(items, { maxBytes }, options))
          if (outcome._tag === "Success") {
            assert.isAtMost(utf8(outcome.success), maxBytes)
            assertSameItems(yield* Compactor.recover(outcome.success), items)
            return
          }
          const error = outcome.failure
          assert.strictEqual(error._tag, "BoundTooSmall")
          if (error._tag !== "BoundTooSmall") return
          assert.isAbove(error.required, maxBytes)
          const shell = utf8({
            summary: "",
            refs: [],
            thread: [],
            ...(withBudget ? { budget: { calls: 3 } } : {})
          })
          const oneRef = utf8(`corpus://${namespace}/sha256-${"0".repeat(64)}`)
          assert.strictEqual(error.required, count === 0 ? shell : shell + oneRef)
          const context = yield* Compactor.compact(items, { maxBytes: error.required }, options)
          assert.isAtMost(utf8(context), error.required)
          assertSameItems(yield* Compactor.recover(context), items)
        }),
      Check.propOptions()
    )

    it.effect("refs list the dropped items when they fit, and one index entry when they do not", () =>
      Effect.gen(function* () {
        const items = Array.from({ length: 12 }, (_, i) => ({ from: "agent", text: `step ${i}. Then more.` }))
        const listed = yield* Compactor.compact(
          items,
          { maxBytes: 2_000, keepRecent: 3 },
          { namespace: "listed" }
        )
        assert.strictEqual(listed.refs.length, 9)
        assert.strictEqual(listed.thread.length, 3)
        assert.deepStrictEqual(
          yield* Corpus.getText(listed.refs[4]),
          JSON.stringify({ _tag: "Item", ...items[4] })
        )
        assert.include(listed.summary, "agent: step 0.")
        const indexed = yield* Compactor.compact(
          items,
          { maxBytes: 400, keepRecent: 3 },
          { namespace: "indexed" }
        )
        assert.strictEqual(indexed.refs.length, 1)
        assert.isAtMost(utf8(indexed), 400)
        assertSameItems(yield* Compactor.recover(listed), items)
        assertSameItems(yield* Compactor.recover(indexed), items)
        // Compacting the same items again stores nothing new: entries are content-addressed.
        const before = yield* Corpus.list("indexed")
        yield* Compactor.compact(items, { maxBytes: 400, keepRecent: 3 }, { namespace: "indexed" })
        assert.deepStrictEqual(yield* Corpus.list("indexed"), before)
      })
    )

    it.effect("everything that fits stays verbatim and nothing is stored", () =>
      Effect.gen(function* () {
        const namespace = freshNamespace("fits")
        const items = [
          { from: "planner", text: "short" },
          { from: "coder", text: "also short" }
        ]
        const context = yield* Compactor.compact(items, { maxBytes: 200 }, { namespace })
        assert.deepStrictEqual(context, { summary: "", refs: [], thread: items })
        assert.deepStrictEqual(yield* Corpus.list(namespace), [])
        assert.deepStrictEqual(yield* Compactor.compact([], { maxBytes: 36 }), {
          summary: "",
          refs: [],
          thread: []
        })
      })
    )

    it.effect("summarizers: the policy's, else CurrentSummarizer; a failing one fails compact", () =>
      Effect.gen(function* () {
        const items = Array.from({ length: 20 }, (_, i) => ({ from: "a", text: `message ${i}` }))
        const fromPolicy = yield* Compactor.compact(items, {
          maxBytes: 500,
          summarizer: (dropped) => Effect.succeed(`policy saw ${dropped.length}`)
        })
        assert.match(fromPolicy.summary, /^policy saw \d+$/)
        const fromService = yield* Compactor.compact(items, { maxBytes: 500 }).pipe(
          Effect.provideService(Compactor.CurrentSummarizer, () => Effect.succeed("from the service"))
        )
        assert.strictEqual(fromService.summary, "from the service")
        const failed = yield* Effect.flip(
          Compactor.compact(items, { maxBytes: 500, summarizer: () => Effect.fail(new SummarizerFailed()) })
        )
        assert.strictEqual(failed._tag, "SummarizerFailed")
        // The default is extractive: first sentences, and a count of what did not fit.
        const extractive = yield* Compactor.compact(
          Array.from({ length: 30 }, (_, i) => ({ from: "b", text: `Sentence ${i}. And more.` })),
          { maxBytes: 400 }
        )
        assert.match(extractive.summary, /^b: Sentence 0\.\nb: Sentence 1\./)
        assert.match(extractive.summary, /\(\+\d+ more\)$/)
      })
    )

    it.effect("recover fails with typed errors for foreign, missing and malformed refs; bad namespaces", () =>
      Effect.gen(function* () {
        const foreign = yield* Corpus.put("just text", { namespace: "foreign" })
        const notOurs = yield* Effect.flip(Compactor.recover({ summary: "", refs: [foreign], thread: [] }))
        assert.strictEqual(notOurs._tag, "UnrecoverableEntry")
        const missing = `corpus://foreign/sha256-${"0".repeat(64)}`
        const gone = yield* Effect.flip(Compactor.recover({ summary: "", refs: [missing], thread: [] }))
        assert.strictEqual(gone._tag, "RefNotFound")
        const malformed = yield* Effect.flip(
          Compactor.recover({ summary: "", refs: ["../etc/passwd"], thread: [] })
        )
        assert.strictEqual(malformed._tag === "InvalidName" && malformed.field, "ref")
        const badNamespace = yield* Effect.flip(
          Compactor.compact([], { maxBytes: 100 }, { namespace: "../up" })
        )
        assert.strictEqual(badNamespace._tag === "InvalidName" && badNamespace.field, "namespace")
      })
    )
  })
}

// The default namespace and trace event shape, once.
layer(environment("memory"))("Compactor tracing", (it) => {
  it.effect("compactor.compact reports input and output bytes and what was dropped", () =>
    Effect.gen(function* () {
      const items = Array.from({ length: 10 }, (_, i) => ({ from: "x", text: "y".repeat(100 + i) }))
      const context = yield* Compactor.compact(items, { maxBytes: 600 }, { actor: "planner" })
      const event = trace.events.findLast((e) => e.kind === "compactor.compact" && e.actor === "planner")!
      assert.deepStrictEqual(event.data, {
        namespace: "context",
        inputBytes: utf8(items),
        outputBytes: utf8(context),
        dropped: 10 - context.thread.length,
        kept: context.thread.length,
        refs: context.refs.length,
        indexed: context.refs.length === 1 && 10 - context.thread.length > 1
      })
      assert.isTrue(context.refs.every((ref) => ref.startsWith("corpus://context/")))
      // Puts of the dropped items were traced too.
      assert.isAtLeast(
        trace.events.filter((e) => e.kind === "corpus.put" && e.data?.namespace === "context").length,
        1
      )
    })
  )
})
