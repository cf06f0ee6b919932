/**
 * Seeded multi-hop handoff scenarios: a chain of agents, each adding its work (tool outputs, file edits,
 * decisions with their reasons, open questions, pending steps) to a task it hands on, with numbers and
 * identifiers planted at known places. The same seed and options give the same scenario, byte for byte.
 *
 * **When to use**
 *
 * To measure what a handoff strategy keeps: generate scenarios, run them through `Fidelity.run`, and ask
 * the probes of `Probe.probesOf` of what the last agent received.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import type { Compactor } from "@handoffkit/core"
import * as Random from "./internal/random.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * How large a scenario is.
 *
 * **Details**
 *
 * - `hops`: handoffs in the chain, 1 to 8 (hop `i` is agent `i` handing to agent `i + 1`).
 * - `bytes`: the bytes of all the agents' items together, 4 KiB to 1 MiB (tool output fills up to it).
 * - `editsPerHop`, `decisionsPerHop`, `numbersPerHop`: what each hop plants (default 10, 5, 10: four hops
 *   give the 40 file edits, 20 decisions and 40 numbers of issue 19).
 * - `pendingSteps`: the steps each agent leaves pending (default 2).
 *
 * **Example**
 *
 * ```ts
 * import { Scenario } from "@handoffkit/fidelity"
 *
 * const options: Scenario.Options = { hops: 4, bytes: 32 * 1024 }
 * console.log(options.hops) // 4
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly hops: number
  readonly bytes: number
  readonly editsPerHop?: number | undefined
  readonly decisionsPerHop?: number | undefined
  readonly numbersPerHop?: number | undefined
  readonly pendingSteps?: number | undefined
}

/**
 * One agent's turn: the items it adds to the conversation, and the same work as data (what its edit tools
 * touched, what it decided and why, what it leaves pending).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Scenario } from "@handoffkit/fidelity"
 *
 * const scenario = Effect.runSync(Scenario.generate(1, { hops: 2, bytes: 8192 }))
 * const hop: Scenario.Hop = scenario.hops[0]
 * console.log(hop.agent, hop.notes.decisions?.length) // "planner" 5
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Hop {
  readonly agent: string
  readonly items: ReadonlyArray<Compactor.Item>
  readonly notes: Compactor.Notes
}

/**
 * A number or identifier planted in a tool output, as the line `cue: value`.
 *
 * **Example**
 *
 * ```ts
 * import { Scenario } from "@handoffkit/fidelity"
 *
 * const fact: Scenario.Fact = { cue: "p99 latency of billing", value: "418 ms", hop: 0 }
 * console.log(`${fact.cue}: ${fact.value}`) // "p99 latency of billing: 418 ms"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Fact {
  readonly cue: string
  readonly value: string
  readonly hop: number
}

/**
 * A generated chain and what was planted in it, for the probes.
 *
 * **Details**
 *
 * `edits` are in the order they happened; `decisions` carry their `subject` (the start of `what`, unique
 * in the scenario); `pending` is what the last hop left pending.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Scenario } from "@handoffkit/fidelity"
 *
 * const scenario: Scenario.Scenario = Effect.runSync(Scenario.generate(7, { hops: 4, bytes: 32 * 1024 }))
 * console.log(scenario.edits.length, scenario.decisions.length, scenario.facts.length) // 40 20 40
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Scenario {
  readonly seed: number
  readonly hops: ReadonlyArray<Hop>
  readonly facts: ReadonlyArray<Fact>
  readonly edits: ReadonlyArray<Compactor.Artifact & { readonly hop: number }>
  readonly decisions: ReadonlyArray<Compactor.Decision & { readonly subject: string; readonly hop: number }>
  readonly pending: ReadonlyArray<string>
}

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * Options out of range: names the option and its allowed range.
 *
 * **Example**
 *
 * ```ts
 * import { Scenario } from "@handoffkit/fidelity"
 *
 * console.log(new Scenario.ScenarioInvalid({ option: "hops", value: 9, reason: "must be an integer from 1 to 8" }).message)
 * // scenario option hops = 9: must be an integer from 1 to 8
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ScenarioInvalid extends Schema.TaggedError<ScenarioInvalid>()("ScenarioInvalid", {
  option: Schema.String,
  value: Schema.Unknown,
  reason: Schema.String
}) {
  override get message() {
    return `scenario option ${this.option} = ${String(this.value)}: ${this.reason}`
  }
}

// -----------------------------------------------------------------------------
// vocabulary
// -----------------------------------------------------------------------------

const agents = [
  "planner",
  "researcher",
  "coder",
  "tester",
  "reviewer",
  "fixer",
  "verifier",
  "releaser",
  "owner"
]
const dirs = [
  "src/http",
  "src/retry",
  "src/auth",
  "src/cache",
  "src/db",
  "src/queue",
  "src/api",
  "test",
  "docs"
]
const names = [
  "client",
  "policy",
  "session",
  "token",
  "store",
  "pool",
  "router",
  "worker",
  "schema",
  "config",
  "limits",
  "backoff",
  "metrics",
  "errors",
  "handler",
  "codec"
]
const services = [
  "checkout",
  "billing",
  "search",
  "auth-gw",
  "orders",
  "stock",
  "notify",
  "ledger",
  "gateway",
  "reports",
  "media",
  "profile"
]
const metrics: ReadonlyArray<readonly [string, (r: Random.Random) => string]> = [
  ["p99 latency", (r) => `${20 + r.int(4000)} ms`],
  ["p50 latency", (r) => `${2 + r.int(300)} ms`],
  ["error rate", (r) => `${r.int(10)}.${r.int(100)}%`],
  ["queue depth", (r) => `${r.int(20000)}`],
  ["heap peak", (r) => `${40 + r.int(2000)} MiB`],
  ["cold start", (r) => `${100 + r.int(3000)} ms`],
  ["open conns", (r) => `${r.int(5000)}`],
  ["build id", (r) => `b-${hex(r, 7)}`],
  ["trace id", (r) => hex(r, 16)],
  ["deployed commit", (r) => hex(r, 10)]
]
const areas = ["retry", "cache", "auth", "db", "queue", "http", "log", "build", "deploy", "test"]
const knobs = ["budget", "ttl", "timeout", "pool size", "batch", "format", "order", "limit"]
const choices: ReadonlyArray<(r: Random.Random) => string> = [
  (r) => `${2 + r.int(9)} attempts`,
  (r) => `${10 + r.int(990)} ms`,
  (r) => `${1 + r.int(64)} per worker`,
  () => "jittered backoff",
  () => "move to config",
  () => "keep as is",
  () => "pin to v2",
  () => "drop it"
]
const reasons: ReadonlyArray<(r: Random.Random, service: string) => string> = [
  (r, s) => `${s} drops bursts over ${10 + r.int(90)} rps`,
  (r, s) => `${s} p99 doubled at ${2 + r.int(30)} workers`,
  (_, s) => `${s} tests flake on shared state`,
  (_, s) => `${s} owners asked in review`,
  (r, s) => `${s} ran out of memory at ${1 + r.int(16)} GiB`,
  (_, s) => `the ${s} client cannot parse v3`
]
const verbs = ["add a test for", "document", "benchmark", "rename", "profile", "review", "split", "clean up"]
const logWords = ["handled batch", "flushed", "retried", "evicted", "acked", "résumé sent for", "compacted"]

const hex = (r: Random.Random, length: number) =>
  Array.from({ length }, () => "0123456789abcdef"[r.int(16)]).join("")

// -----------------------------------------------------------------------------
// generation
// -----------------------------------------------------------------------------

const check = (
  option: string,
  value: number | undefined,
  fallback: number,
  minimum: number,
  maximum: number
): Effect.Effect<number, ScenarioInvalid> => {
  const v = value ?? fallback
  return Number.isInteger(v) && v >= minimum && v <= maximum
    ? Effect.succeed(v)
    : Effect.fail(
        new ScenarioInvalid({ option, value: v, reason: `must be an integer from ${minimum} to ${maximum}` })
      )
}

/**
 * Generates the scenario of a seed: deterministic, the same on every run.
 *
 * **Details**
 *
 * Each hop's items are, in a seeded order: the agent's opening note (with an open question), one
 * `apply_patch` output per file edit (`apply_patch M src/retry/policy.ts (+12 -3)` then the hunk), shell
 * outputs holding the planted `cue: value` lines among log lines, one note per decision
 * (`Decided: what, because why.`), and last its handing-over note (`Pending: a; b.`). Files are created,
 * modified and deleted (a deleted file may come back); the same file is touched by several hops. Fails with
 * `ScenarioInvalid` for options out of range.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Scenario } from "@handoffkit/fidelity"
 *
 * const a = Effect.runSync(Scenario.generate(42, { hops: 3, bytes: 16 * 1024 }))
 * const b = Effect.runSync(Scenario.generate(42, { hops: 3, bytes: 16 * 1024 }))
 * console.log(a.hops.length, JSON.stringify(a) === JSON.stringify(b)) // 3 true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const generate = Effect.fn("Scenario.generate")(function* (seed: number, options: Options) {
  const hops = yield* check("hops", options.hops, 4, 1, 8)
  const bytes = yield* check("bytes", options.bytes, 32 * 1024, 4 * 1024, 1024 * 1024)
  const editsPerHop = yield* check("editsPerHop", options.editsPerHop, 10, 0, 50)
  const decisionsPerHop = yield* check("decisionsPerHop", options.decisionsPerHop, 5, 0, 8)
  const numbersPerHop = yield* check("numbersPerHop", options.numbersPerHop, 10, 0, 15)
  const pendingSteps = yield* check("pendingSteps", options.pendingSteps, 2, 0, 5)
  const r = Random.make(seed)

  // Files: some exist before the task, the others are created by it.
  const fileCount = Math.max(3, Math.round(editsPerHop * hops * 0.4))
  const paths: Array<string> = []
  const seen = new Set<string>()
  while (paths.length < fileCount) {
    const dir = r.pick(dirs)
    const name = r.pick(names)
    const ext = dir === "docs" ? ".md" : dir === "test" ? ".test.ts" : ".ts"
    let path = `${dir}/${name}${ext}`
    if (seen.has(path)) path = `${dir}/${name}-${paths.length}${ext}`
    seen.add(path)
    paths.push(path)
  }
  const exists = new Map(paths.map((path) => [path, r.next() < 0.6]))

  const usedCues = new Set<string>()
  const usedSubjects = new Set<string>()
  const facts: Array<Fact> = []
  const edits: Array<Compactor.Artifact & { readonly hop: number }> = []
  const decisions: Array<Compactor.Decision & { readonly subject: string; readonly hop: number }> = []
  const result: Array<Hop> = []
  let pending: ReadonlyArray<string> = []

  for (let h = 0; h < hops; h++) {
    const agent = agents[h]
    const next = agents[h + 1]

    // A seeded order of the hop's tool outputs and notes, then their content in that order (so edits
    // happen in the order a reader meets them).
    const shells = Math.max(2, Math.ceil(numbersPerHop / 3))
    const slots: Array<"patch" | "shell" | "decision"> = [
      ...Array.from({ length: editsPerHop }, () => "patch" as const),
      ...Array.from({ length: shells }, () => "shell" as const),
      ...Array.from({ length: decisionsPerHop }, () => "decision" as const)
    ]
    for (let i = slots.length - 1; i > 0; i--) {
      const j = r.int(i + 1)
      ;[slots[i], slots[j]] = [slots[j], slots[i]]
    }

    // The planted numbers and identifiers, spread over the shell outputs.
    const hopFacts: Array<Fact> = []
    for (let m = 0; m < numbersPerHop; m++) {
      let cue = ""
      let make = metrics[0][1]
      for (let attempt = 0; cue === "" || usedCues.has(cue); attempt++) {
        const [metric, value] = r.pick(metrics)
        const service = r.pick(services)
        cue = attempt > 20 ? `${metric} of ${service}-${h}${m}` : `${metric} of ${service}`
        make = value
      }
      usedCues.add(cue)
      const fact = { cue, value: make(r), hop: h }
      hopFacts.push(fact)
      facts.push(fact)
    }

    const body: Array<Compactor.Item> = []
    const hopEdits: Array<Compactor.Artifact> = []
    const hopDecisions: Array<Compactor.Decision> = []
    let shell = 0
    for (const slot of slots) {
      if (slot === "patch") {
        const path = r.pick(paths)
        const op: Compactor.Artifact["op"] = !exists.get(path)
          ? "created"
          : r.next() < 0.15
            ? "deleted"
            : "modified"
        exists.set(path, op !== "deleted")
        hopEdits.push({ op, path })
        edits.push({ op, path, hop: h })
        const letter = op === "created" ? "A" : op === "deleted" ? "D" : "M"
        const added = op === "deleted" ? 0 : 1 + r.int(80)
        const removed = op === "created" ? 0 : r.int(40)
        body.push({
          from: `${agent}/apply_patch`,
          text: `apply_patch ${letter} ${path} (+${added} -${removed})\n`
        })
      } else if (slot === "shell") {
        const lines = hopFacts
          .filter((_, i) => i % shells === shell)
          .map((fact) => `${fact.cue}: ${fact.value}`)
        shell++
        body.push({
          from: `${agent}/shell`,
          text: `$ npm run probe -- --${r.pick(areas)}\n${lines.map((line) => `${line}\n`).join("")}`
        })
      } else {
        let subject = ""
        for (let attempt = 0; subject === "" || usedSubjects.has(subject); attempt++) {
          subject =
            attempt > 20
              ? `${r.pick(areas)} ${r.pick(knobs)} ${h}${hopDecisions.length}`
              : `${r.pick(areas)} ${r.pick(knobs)}`
        }
        usedSubjects.add(subject)
        const what = `${subject}: ${r.pick(choices)(r)}`
        const why = r.pick(reasons)(r, r.pick(services))
        hopDecisions.push({ what, why })
        decisions.push({ what, why, subject, hop: h })
        body.push({
          from: agent,
          text: `Decided: ${what}, because ${why}. Checked it against the ${r.pick(services)} dashboards.`
        })
      }
    }

    const steps = Array.from(
      { length: pendingSteps },
      (_, i) => `${r.pick(verbs)} ${r.pick(paths)} step ${h}.${i}`
    )
    const opening: Compactor.Item = {
      from: agent,
      text: `${h === 0 ? "Starting" : "Picking up"} the retry rework. Open question: does ${r.pick(services)} need a ${r.pick(knobs)} change?`
    }
    const closing: Compactor.Item = {
      from: agent,
      text: `${steps.length > 0 ? `Pending: ${steps.join("; ")}.` : "Nothing pending."} Handing over to ${next}.`
    }
    const share = Math.floor(bytes / hops)
    let size = [opening, closing, ...body].reduce(
      (sum, item) => sum + item.text.length + item.from.length + 21,
      0
    )
    const tools = body.map((item, i) => [item, i] as const).filter(([item]) => item.from !== agent)
    const filled = body.map((item) => item.text.split("\n").slice(0, -1))
    for (let k = 0; size < share && tools.length > 0; k++) {
      const [item, i] = tools[k % tools.length]
      const line = item.from.endsWith("/shell")
        ? `2026-12-07T06:${String(r.int(60)).padStart(2, "0")}:${String(r.int(60)).padStart(2, "0")}Z INFO ${r.pick(services)} worker-${r.int(16)} ${r.pick(logWords)} ${r.int(100000)} in ${r.int(900)} ms → ok`
        : `@@ -${r.int(400)},${r.int(30)} +${r.int(400)},${r.int(30)} @@ ${r.pick(names)}\n+  const ${r.pick(names)}${r.int(100)} = ${r.pick(names)}.${r.pick(logWords).split(" ")[0]}(${r.int(1000)})`
      // Log lines go anywhere after the command, so planted lines end up anywhere in the output; hunks
      // follow the patch's header line. A planted line is never split.
      const lines = filled[i]
      lines.splice(item.from.endsWith("/shell") ? 1 + r.int(lines.length) : lines.length, 0, line)
      size += line.length + 1
    }
    const items = [
      opening,
      ...body.map((item, i) =>
        item.from === agent ? item : { from: item.from, text: `${filled[i].join("\n")}\n` }
      ),
      closing
    ]
    pending = steps
    result.push({
      agent,
      items,
      notes: { artifacts: hopEdits, decisions: hopDecisions, pending: steps }
    })
  }
  return { seed, hops: result, facts, edits, decisions, pending } satisfies Scenario
})
