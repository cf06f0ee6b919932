import { NodeServices } from "@effect/platform-node"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Queue, Schema } from "effect"
import { Actor, Budget, Handoff, Tracer } from "@handoffkit/core"
import { Agent, OpenAi, ScriptedServer } from "@handoffkit/llm"
import * as Pool from "@handoffkit/pool/Pool"
import * as TraceSummary from "../src/TraceSummary.ts"
import * as Task from "@handoffkit/pool/Task"

// Every trace here is written by real primitives (actors, handoffs, an agent calling a scripted model server,
// a pool run in a real repository) through `Tracer.jsonl`, and read back from the files.

interface Did {
  received: number
  sent: number
  handoffs: number
}

const requests = ["plan the retry policy", "plan the cache"]

type ToPlanner = string | { readonly _tag: "Approved"; readonly task: string }

/**
 * Two "processes" writing two files: A runs the planner (and the outside world that asks it), B the coder
 * and the reviewer. Both log the reviewer (its tracer writes to both files), so its events are in both.
 * Each request goes external → planner, planner hands the task to the coder, the coder hands it to the
 * reviewer, the reviewer approves to the planner. Every behavior counts what it does.
 */
const topology = (a: string, b: string) =>
  Effect.gen(function* () {
    const did: Record<string, Did> = {
      external: { received: 0, sent: 0, handoffs: 0 },
      planner: { received: 0, sent: 0, handoffs: 0 },
      coder: { received: 0, sent: 0, handoffs: 0 },
      reviewer: { received: 0, sent: 0, handoffs: 0 }
    }
    yield* Effect.scoped(
      Effect.gen(function* () {
        const sinkA = yield* Tracer.jsonl(a)
        const sinkB = yield* Tracer.jsonl(b)
        const processA = Tracer.make([sinkA])
        const processB = Tracer.make([sinkB])
        const both = Tracer.make([sinkB, sinkA])
        const approvals = yield* Queue.unbounded<string>()
        // The reviewer answers the planner, made after it.
        const refs: { planner?: Actor.ActorRef<ToPlanner> } = {}

        const reviewer = yield* Actor.make<Handoff.Transfer<string>>("reviewer", (message, context) =>
          Effect.gen(function* () {
            did.reviewer.received++
            const task = yield* Handoff.get(message.payload.task)
            yield* Effect.sleep("3 millis") // reading the diff
            yield* context.send(refs.planner!, { _tag: "Approved", task })
            did.reviewer.sent++
          })
        ).pipe(Effect.provideService(Tracer.CurrentTracer, both))

        const coder = yield* Actor.make<Handoff.Transfer<string>>("coder", (message, context) =>
          Effect.gen(function* () {
            did.coder.received++
            yield* Effect.sleep("5 millis") // writing the code
            yield* Handoff.sendFrom(context, message.payload.task, reviewer, {
              context: { summary: "implemented", refs: [], thread: [] }
            })
            did.coder.sent++
            did.coder.handoffs++
          })
        ).pipe(Effect.provideService(Tracer.CurrentTracer, processB))

        const planner = yield* Actor.make<ToPlanner>("planner", (message, context) =>
          Effect.gen(function* () {
            did.planner.received++
            const payload = message.payload
            if (typeof payload !== "string") return yield* Queue.offer(approvals, payload.task)
            const task = yield* Handoff.make(`implement: ${payload}`)
            yield* Handoff.sendFrom(context, task, coder)
            did.planner.sent++
            did.planner.handoffs++
          })
        ).pipe(Effect.provideService(Tracer.CurrentTracer, processA))
        refs.planner = planner

        for (const request of requests) {
          yield* Actor.send(planner, request).pipe(Effect.provideService(Tracer.CurrentTracer, processA))
          did.external.sent++
          yield* Queue.take(approvals)
        }
      })
    ) // the actors stopped and the files are flushed
    return did
  }).pipe(Effect.provide(Actor.layer))

const identity = {
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com"
}

/** A real repository (branch main, one commit) and a root for the pool, removed with the scope. */
const repository = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-trace-pool-")))
    const repo = Path.join(dir, "repo")
    Fs.mkdirSync(repo)
    const git = (...args: ReadonlyArray<string>) =>
      execFileSync("git", ["-C", repo, ...args], { env: { ...process.env, ...identity }, encoding: "utf8" })
    git("init", "-q", "-b", "main")
    Fs.writeFileSync(Path.join(repo, "README.md"), "a project\n")
    git("add", "-A")
    git("commit", "-qm", "initial")
    return { dir, repo, root: Path.join(dir, "root") }
  }),
  (p) => Effect.sync(() => Fs.rmSync(p.dir, { recursive: true, force: true }))
)

/** A command agent that writes one file. */
const writes = (file: string) => [
  "node",
  "-e",
  `const fs = require("node:fs"); fs.mkdirSync("src", { recursive: true }); fs.writeFileSync(${JSON.stringify(file)}, "done\\n")`
]

const tempDir = FileSystem.FileSystem.use((fs) => fs.makeTempDirectoryScoped({ prefix: "handoffkit-trace-" }))

const countsOf = (row: TraceSummary.AgentRow | undefined): Did | undefined =>
  row === undefined ? undefined : { received: row.received, sent: row.sent, handoffs: row.handoffs }

const byAgent = (summary: TraceSummary.Summary): Record<string, Did | undefined> =>
  Object.fromEntries(summary.agents.map((row) => [row.agent, countsOf(row)]))

// Words the tables themselves print (headers, labels); everything else printed must come from the files.
const vocabulary = new Set(
  [
    "trace:",
    "events,",
    "files,",
    "duplicates",
    "dropped,",
    "from",
    "agent",
    "received",
    "sent",
    "handoffs",
    "dead",
    "calls",
    "tokens",
    "in",
    "out",
    "first",
    "last",
    "total",
    "budget",
    "cost",
    "(USD)",
    "exhausted",
    "->"
  ].concat(Tracer.Kind.literals)
)
const isNumberLike = (word: string) =>
  /^[+-]?\d+(\.\d+)?(ms|s)?,?$/.test(word) || /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(word)

describe("TraceSummary", () => {
  it.live(
    "two processes' traces of one topology: counts as the program did, merged without double counting, chains across files",
    () =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* tempDir
        const a = `${dir}/a.jsonl`
        const b = `${dir}/b.jsonl`
        const did = yield* topology(a, b)
        assert.deepStrictEqual(did, {
          external: { received: 0, sent: 2, handoffs: 0 },
          planner: { received: 4, sent: 2, handoffs: 2 },
          coder: { received: 2, sent: 2, handoffs: 2 },
          reviewer: { received: 2, sent: 2, handoffs: 0 }
        })

        // Each file alone sees part of the run: A lacks the coder's side, B the planner's.
        const onlyA = TraceSummary.summarize(yield* TraceSummary.load([a]))
        const onlyB = TraceSummary.summarize(yield* TraceSummary.load([b]))
        assert.strictEqual(byAgent(onlyA).coder, undefined)
        assert.strictEqual(byAgent(onlyB).planner, undefined)
        assert.deepStrictEqual(byAgent(onlyA).reviewer, did.reviewer)
        assert.deepStrictEqual(byAgent(onlyB).reviewer, did.reviewer)

        // Merged: every agent's counts are what it did, though the reviewer's events are in both files.
        const trace = yield* TraceSummary.load([a, b])
        const summary = TraceSummary.summarize(trace)
        assert.deepStrictEqual(byAgent(summary), did)
        const rawA = (yield* Tracer.readJsonl(a)).events
        const rawB = (yield* Tracer.readJsonl(b)).events
        const mirrored = rawA.filter((event) => event.actor === "reviewer").length
        assert.isAbove(mirrored, 4) // spawn, 2 receives, 2 sends, exit
        assert.strictEqual(trace.duplicates, mirrored)
        assert.strictEqual(trace.events.length, rawA.length + rawB.length - mirrored)
        // Concatenating the files instead would count the reviewer twice: the dedup is what makes it right.
        const naive = TraceSummary.summarize([...rawA, ...rawB])
        assert.deepStrictEqual(byAgent(naive).reviewer, { received: 4, sent: 4, handoffs: 0 })
        assert.deepStrictEqual(summary.totals, {
          ...summary.totals,
          messages: 8,
          received: 8,
          sent: 8,
          handoffs: 4,
          deadLetters: 0
        })
        assert.deepStrictEqual(summary.files, [a, b])
        // A file given again, or the files in the other order, change no count.
        const again = TraceSummary.summarize(yield* TraceSummary.load([a, b, b, a]))
        const reversed = TraceSummary.summarize(yield* TraceSummary.load([b, a]))
        assert.deepStrictEqual(again.agents, summary.agents)
        assert.deepStrictEqual(again.totals, summary.totals)
        assert.deepStrictEqual(byAgent(reversed), did)
        assert.deepStrictEqual(reversed.totals, summary.totals)
        // Time spans: each agent's first and last event, within the run's.
        for (const row of summary.agents) {
          assert.isAtLeast(row.first, summary.start!)
          assert.isAtMost(row.last, summary.end!)
          assert.isAtMost(row.first, row.last)
        }

        // The chain of the last message (the second approval) goes back to the second request.
        const lastApproval = trace.events.findLast((e) => e.kind === "send" && e.actor === "reviewer")!
        const secondRequest = trace.events.findLast((e) => e.kind === "send" && e.actor === "external")!
        const chain = yield* TraceSummary.chain(trace.events, lastApproval.messageId)
        assert.strictEqual(chain.messageId, lastApproval.messageId)
        assert.strictEqual(chain.root, secondRequest.messageId)
        assert.strictEqual(chain.rootCause, undefined)
        assert.strictEqual(chain.messages, 4)
        assert.deepStrictEqual(
          chain.steps.map((step) => `${step.depth} ${step.from} -> ${step.to} ${step.kind}`),
          [
            "0 external -> planner send",
            "0 external -> planner receive",
            "1 planner -> coder handoff",
            "1 planner -> coder receive",
            "2 coder -> reviewer handoff",
            "2 coder -> reviewer receive",
            "3 reviewer -> planner send",
            "3 reviewer -> planner receive"
          ]
        )
        // Linked across files: the planner's handoff was recorded in A, its receive by the coder in B; the
        // reviewer's receive, in both files, is one step.
        const fileOf = (n: number) => chain.steps[n].file
        assert.deepStrictEqual([fileOf(2), fileOf(3), fileOf(4), fileOf(7)], [a, b, b, a])
        assert.strictEqual(chain.steps[2].messageId, chain.steps[3].messageId)
        // Each message was caused by the one before it.
        const ids = [0, 2, 4, 6].map((i) => chain.steps[i].messageId)
        for (const [i, step] of chain.steps.entries()) {
          const k = Math.floor(i / 2)
          assert.strictEqual(step.messageId, ids[k])
          assert.strictEqual(step.causationId, k === 0 ? undefined : ids[k - 1])
        }
        // The clocks: the coder worked 5 ms before handing on, the reviewer 3 ms before approving (a timer may
        // fire up to a millisecond early by Date.now).
        assert.isAtLeast(chain.steps[4].offset - chain.steps[3].offset, 4)
        assert.isAtLeast(chain.steps[6].offset - chain.steps[5].offset, 2)
        for (let i = 1; i < chain.steps.length; i++)
          assert.isAtLeast(chain.steps[i].offset, chain.steps[i - 1].offset)
        // With no id: the longest chain, the latest of the two as long.
        assert.deepStrictEqual(yield* TraceSummary.chain(trace.events), chain)
        // From the first request: back to itself, and forward through everything it caused.
        const firstRequest = trace.events.find((e) => e.kind === "send" && e.actor === "external")!
        const forward = yield* TraceSummary.chain(trace.events, firstRequest.messageId)
        assert.strictEqual(forward.messages, 4)
        assert.deepStrictEqual(
          forward.steps.map((step) => step.depth),
          [0, 0, 1, 1, 2, 2, 3, 3]
        )
        const missing = yield* Effect.flip(TraceSummary.chain(trace.events, "no-such-id"))
        assert.strictEqual(missing._tag, "MessageNotFound")
        assert.strictEqual(missing.message, "no message no-such-id in the trace")

        // The text: a header line, then a table with a header row and a row per agent, then the total.
        const text = TraceSummary.format(summary)
        const lines = text.split("\n")
        assert.match(
          lines[0],
          new RegExp(`^trace: ${trace.events.length} events, 2 files, ${mirrored} duplicates dropped, `)
        )
        assert.match(
          lines[2],
          /^agent\s+received\s+sent\s+handoffs\s+dead\s+calls\s+tokens in\s+tokens out\s+first\s+last$/
        )
        const rows = Object.fromEntries(
          lines.slice(3).map((line) => {
            const [name, received, sent, handoffs] = line.split(/\s+/)
            return [name, { received: Number(received), sent: Number(sent), handoffs: Number(handoffs) }]
          })
        )
        assert.deepStrictEqual(rows, { ...did, total: { received: 8, sent: 8, handoffs: 4 } })
        // Fixed width: every row of the table is as long as its header.
        // Fixed-width columns: numbers end under the end of their header, times start under its start.
        const columns = [
          "received",
          "sent",
          "handoffs",
          "dead",
          "calls",
          "tokens in",
          "tokens out",
          "first",
          "last"
        ]
        for (const line of lines.slice(3)) {
          const cells = [...line.matchAll(/\S+/g)].slice(1)
          assert.strictEqual(cells.length, columns.length)
          for (const [c, cell] of cells.entries()) {
            const at = lines[2].indexOf(columns[c])
            if (c < 7) assert.strictEqual(cell.index + cell[0].length, at + columns[c].length, line)
            else assert.strictEqual(cell.index, at, line)
          }
        }
        const chainText = TraceSummary.formatChain(chain).split("\n")
        assert.strictEqual(chainText.length, 8)
        for (const [i, line] of chainText.entries()) {
          const step = chain.steps[i]
          assert.match(
            line,
            new RegExp(
              `^${"  ".repeat(step.depth)}${step.messageId}\\s+${step.from} -> ${step.to}\\s+${step.kind}\\s+\\+\\d+ms$`
            )
          )
        }

        // Nothing printed that is not in the trace: every word is a table word, a number or time, or is in
        // the files.
        const raw = (yield* fs.readFileString(a)) + (yield* fs.readFileString(b))
        for (const word of [...text.split(/\s+/), ...chainText.join(" ").split(/\s+/)]) {
          if (word === "" || vocabulary.has(word) || isNumberLike(word)) continue
          assert.include(
            raw,
            JSON.stringify(word),
            `printed ${JSON.stringify(word)}, which is not in the trace`
          )
        }

        // The JSON form decodes back to the same summary and chain.
        assert.deepStrictEqual(
          Schema.decodeUnknownSync(TraceSummary.Summary)(JSON.parse(TraceSummary.toJson(summary))),
          summary
        )
        assert.deepStrictEqual(
          Schema.decodeUnknownSync(TraceSummary.Chain)(JSON.parse(TraceSummary.toJson(chain))),
          chain
        )
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
  )

  it.effect(
    "a corrupt line, a missing file: typed errors naming the file (and line); a torn last line is skipped",
    () =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* tempDir
        const good = `${dir}/good.jsonl`
        yield* Effect.scoped(
          Effect.gen(function* () {
            const tracer = Tracer.make([yield* Tracer.jsonl(good)])
            yield* Effect.scoped(
              Effect.gen(function* () {
                const echo = yield* Actor.make<string, string>("echo", (m, context) =>
                  context.reply(m.payload)
                )
                assert.strictEqual(yield* Actor.ask(echo, "ping"), "ping")
              })
            ).pipe(Effect.provide(Actor.layer), Effect.provideService(Tracer.CurrentTracer, tracer))
          })
        )
        const lines = (yield* fs.readFileString(good)).split("\n").filter((line) => line !== "")
        assert.isAtLeast(lines.length, 4)

        // A line in the middle that is not an event.
        const corrupt = `${dir}/corrupt.jsonl`
        yield* fs.writeFileString(
          corrupt,
          [lines[0], lines[1], '{"seq":3,"ts":"later"', ...lines.slice(2), ""].join("\n")
        )
        const decodeError = yield* Effect.flip(TraceSummary.load([good, corrupt]))
        assert.strictEqual(decodeError._tag, "TraceDecodeError")
        assert.isTrue(
          decodeError._tag === "TraceDecodeError" && decodeError.path === corrupt && decodeError.line === 3
        )
        assert.include(decodeError.message, `${corrupt}:3`)

        // A file that is not there.
        const missing = `${dir}/missing.jsonl`
        const fileError = yield* Effect.flip(TraceSummary.load([good, missing]))
        assert.strictEqual(fileError._tag, "TraceFileError")
        assert.isTrue(
          fileError._tag === "TraceFileError" && fileError.path === missing && fileError.reason === "NotFound"
        )
        assert.strictEqual(fileError.message, `${missing}: cannot read the trace (no such file)`)
        const caught = yield* TraceSummary.load([missing]).pipe(
          Effect.catchTag("TraceFileError", (error) => Effect.succeed(error.path))
        )
        assert.strictEqual(caught, missing)

        // A torn last line (a crash mid-write) is not fatal: skipped, and reported with its place.
        const torn = `${dir}/torn.jsonl`
        yield* fs.writeFileString(torn, [...lines, lines[0].slice(0, 20)].join("\n"))
        const trace = yield* TraceSummary.load([torn])
        assert.strictEqual(trace.events.length, lines.length)
        assert.deepStrictEqual(trace.torn, [{ file: torn, line: lines.length + 1 }])
        const summary = TraceSummary.summarize(trace)
        assert.include(TraceSummary.format(summary), `skipped a torn last line: ${torn}:${lines.length + 1}`)
        assert.deepStrictEqual(countsOf(summary.agents.find((row) => row.agent === "echo")), {
          received: 1,
          sent: 1,
          handoffs: 0
        })
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
  )

  it.live(
    "an agent calling a model: its tokens from the model's responses, the cost from the budget's charges",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = `${dir}/agent.jsonl`
        const usages = [
          { input_tokens: 1200, output_tokens: 80 },
          { input_tokens: 900, output_tokens: 45 }
        ]
        const price: Agent.Price = { inputPerMillion: 1.25, outputPerMillion: 10 }
        const spent = yield* Effect.scoped(
          Effect.gen(function* () {
            const tracer = Tracer.make([yield* Tracer.jsonl(path)])
            return yield* Effect.gen(function* () {
              const server = yield* ScriptedServer.make(
                usages.map((usage, i) => ScriptedServer.Turn.text(`review ${i + 1}: fine`, { usage }))
              )
              const budget = yield* Budget.make({ tokensOut: 10_000, calls: 10 })
              const results = yield* Queue.unbounded<Agent.Result>()
              yield* Actor.make<Agent.Result>("lead", (m) => Queue.offer(results, m.payload))
              const reviewer = yield* Agent.make("reviewer", {
                instructions: "Review what you are handed.",
                budget,
                price
              }).pipe(
                Effect.provide(
                  OpenAi.layer({
                    model: "gpt-test",
                    baseURL: server.url,
                    retry: { times: 0, base: 0, cap: 0, jitter: false }
                  })
                )
              )
              const coder = yield* Actor.make<string>("coder", (message, context) =>
                Effect.gen(function* () {
                  const task = yield* Agent.task(message.payload, { reportTo: "lead" })
                  yield* Handoff.sendFrom(context, task, reviewer)
                })
              )
              for (const goal of ["review src/net.ts", "review src/cache.ts"]) {
                yield* Actor.send(coder, goal)
                assert.strictEqual((yield* Queue.take(results)).outcome, "answered")
              }
              return (yield* Budget.snapshot(budget)).spent
            }).pipe(
              Effect.scoped,
              Effect.provide(Actor.layer),
              Effect.provideService(Tracer.CurrentTracer, tracer)
            )
          })
        )
        const trace = yield* TraceSummary.load([path])
        const summary = TraceSummary.summarize(trace)
        const reviewer = summary.agents.find((row) => row.agent === "reviewer")!
        assert.strictEqual(reviewer.modelCalls, 2)
        assert.strictEqual(reviewer.tokensIn, 1200 + 900)
        assert.strictEqual(reviewer.tokensOut, 80 + 45)
        assert.deepStrictEqual(countsOf(reviewer), { received: 2, sent: 2, handoffs: 0 })
        assert.deepStrictEqual(countsOf(summary.agents.find((row) => row.agent === "coder")), {
          received: 2,
          sent: 2,
          handoffs: 2
        })
        // The budget's row is what the budget says it spent, cost included.
        assert.strictEqual(summary.budgets.length, 1)
        const [budget] = summary.budgets
        assert.deepStrictEqual(
          { calls: budget.calls, tokensIn: budget.tokensIn, tokensOut: budget.tokensOut },
          { calls: spent.calls, tokensIn: spent.tokensIn, tokensOut: spent.tokensOut }
        )
        const cost = (2100 * price.inputPerMillion + 125 * price.outputPerMillion) / 1e6
        assert.closeTo(budget.cost, cost, 1e-9)
        assert.closeTo(spent.cost, cost, 1e-9)
        assert.strictEqual(summary.totals.cost, budget.cost)
        assert.strictEqual(summary.totals.tokensIn, 2100)
        const text = TraceSummary.format(summary)
        assert.match(text, /\nbudget\s+calls\s+tokens in\s+tokens out\s+cost \(USD\)\s+exhausted\n/)
        assert.match(
          text,
          new RegExp(`\\n${budget.budget}\\s+2\\s+2100\\s+125\\s+${budget.cost.toFixed(6)}\\n`)
        )
        // The report to the lead was caused by the handoff to the reviewer, caused by the coder's message.
        const report = trace.events.findLast((e) => e.kind === "send" && e.actor === "reviewer")!
        const chain = yield* TraceSummary.chain(trace.events, report.messageId)
        assert.deepStrictEqual(
          chain.steps
            .filter((step) => step.kind !== "receive")
            .map((step) => `${step.from} -> ${step.to} ${step.kind}`),
          ["external -> coder send", "coder -> reviewer handoff", "reviewer -> lead send"]
        )
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
  )

  it.live(
    "a pool run: tasks merged and failed, gate runs and batches as the pool reports them",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = `${dir}/pool.jsonl`
        const p = yield* repository
        const { tasks } = yield* Task.decode(
          JSON.stringify({
            tasks: [
              {
                id: "good",
                prompt: "add src/good.txt",
                owns: ["src/good.txt"],
                agent: { type: "command", argv: writes("src/good.txt") }
              },
              {
                id: "bad",
                prompt: "add src/bad.txt",
                owns: ["src/bad.txt"],
                agent: { type: "command", argv: writes("src/bad.txt") }
              }
            ]
          }),
          { file: "tasks.json" }
        )
        // The gate: red once src/bad.txt exists.
        const gate = ["node", "-e", 'process.exit(require("node:fs").existsSync("src/bad.txt") ? 1 : 0)']
        const result = yield* Effect.scoped(
          Effect.gen(function* () {
            const tracer = Tracer.make([yield* Tracer.jsonl(path)])
            return yield* Pool.run({ repo: p.repo, root: p.root, tasks, workers: 2, gate }).pipe(
              Effect.provide(Pool.layerNode(p.root)),
              Effect.provideService(Tracer.CurrentTracer, tracer)
            )
          })
        )
        const outcomes = Object.fromEntries(result.tasks.map((t) => [t.task, t.outcome]))
        assert.deepStrictEqual(outcomes, { good: "merged", bad: "failed" })
        const summary = TraceSummary.summarize(yield* TraceSummary.load([path]))
        const pool = summary.pool!
        assert.deepStrictEqual(
          {
            tasks: pool.tasks,
            merged: pool.merged,
            failed: pool.failed,
            conflicted: pool.conflicted,
            skipped: pool.skipped,
            unfinished: pool.unfinished
          },
          { tasks: 2, merged: 1, failed: 1, conflicted: 0, skipped: 0, unfinished: 0 }
        )
        assert.strictEqual(pool.gateRuns, result.taskGateRuns + result.trainGateRuns)
        assert.strictEqual(pool.gatesCached, result.cachedGates)
        assert.isAtLeast(pool.gatesFailed, 1) // the bad task's own gate
        assert.deepStrictEqual([pool.batches, pool.landed], [1, 1])
        // The pool's own message passing: the coordinator hands out two jobs, the workers take one each,
        // only the good task reaches the train (the bad one's gate is red), and the train reports it merged.
        const row = (agent: string) => summary.agents.find((r) => r.agent === agent)
        assert.strictEqual(row("pool/coordinator")?.sent, 2)
        assert.strictEqual(row("pool/coordinator")?.received, 1)
        const workers = summary.agents.filter((r) => r.agent.startsWith("pool/worker-"))
        assert.strictEqual(
          workers.reduce((n, r) => n + r.received, 0),
          2
        )
        assert.strictEqual(
          workers.reduce((n, r) => n + r.sent, 0),
          1
        )
        assert.deepStrictEqual([row("pool/train")?.received, row("pool/train")?.sent], [1, 1])
        // The good task's way through the pool is one causal chain: job -> ready -> merged.
        const chain = yield* TraceSummary.chain(
          (yield* TraceSummary.load([path])).events,
          "pool:good:1:merged"
        )
        assert.deepStrictEqual(
          [...new Set(chain.steps.map((step) => step.messageId))],
          ["pool:good:1:job", "pool:good:1:ready", "pool:good:1:merged"]
        )
        const text = TraceSummary.format(summary).split("\n")
        const header = text.findIndex((line) => line.startsWith("pool "))
        assert.match(text[header + 1], /^total\s+2\s+1\s+1\s+0\s+0\s+0\s+\d+/)
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    60_000
  )
})
