/**
 * `trace summary` and `trace view` given a directory of per-runner traces (as `HANDOFFKIT_TRACE_DIR` leaves
 * them): the files are merged in causal order, so a runner whose clock runs behind cannot put a receive
 * before its send, and a message redelivered to a second runner is counted once.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import * as TraceSummary from "../src/TraceSummary.ts"
import { runCli } from "./fixtures/cli.ts"

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-trace-dir-"))
afterAll(() => Fs.rmSync(dir, { recursive: true, force: true }))

const lines = (events: ReadonlyArray<Record<string, unknown>>) =>
  events.map((event) => JSON.stringify(event)).join("\n") + "\n"

describe("trace commands on a directory", () => {
  it("merge the runners' files causally, count a redelivery once, and name a missing directory", async () => {
    const traces = Path.join(dir, "traces")
    Fs.mkdirSync(traces)
    // The client sends m-1 to parse (runner a); parse sends m-1.0 to enrich (runner b, its clock 5 s behind),
    // which sends m-1.0.0 to the collector (runner a). Runner b died after receiving m-1.0 once; runner a got
    // it again (a redelivery) when it took b's shards.
    Fs.writeFileSync(
      Path.join(traces, "client-1.jsonl"),
      lines([{ seq: 1, ts: 10_000, kind: "send", actor: "client", peer: "parse", messageId: "m-1" }])
    )
    Fs.writeFileSync(
      Path.join(traces, "runner-a.jsonl"),
      lines([
        { seq: 1, ts: 10_010, kind: "receive", actor: "parse", peer: "client", messageId: "m-1" },
        {
          seq: 2,
          ts: 10_020,
          kind: "send",
          actor: "parse",
          peer: "enrich",
          messageId: "m-1.0",
          causationId: "m-1"
        },
        {
          seq: 3,
          ts: 13_000,
          kind: "receive",
          actor: "enrich",
          peer: "parse",
          messageId: "m-1.0",
          causationId: "m-1"
        },
        {
          seq: 4,
          ts: 13_050,
          kind: "receive",
          actor: "collector",
          peer: "enrich",
          messageId: "m-1.0.0",
          causationId: "m-1.0"
        }
      ])
    )
    Fs.writeFileSync(
      Path.join(traces, "runner-b.jsonl"),
      lines([
        {
          seq: 1,
          ts: 5_030,
          kind: "receive",
          actor: "enrich",
          peer: "parse",
          messageId: "m-1.0",
          causationId: "m-1"
        },
        {
          seq: 2,
          ts: 5_040,
          kind: "send",
          actor: "enrich",
          peer: "collector",
          messageId: "m-1.0.0",
          causationId: "m-1.0"
        }
      ])
    )
    const summary = await runCli(["trace", "summary", traces, "--json", "--message", "m-1.0.0"])
    assert.strictEqual(summary.code, 0, summary.stderr)
    const { summary: table, chain } = JSON.parse(summary.stdout)
    const enrich = table.agents.find((row: { agent: string }) => row.agent === "enrich")
    // Received once (the redelivery is the same receive), sent once.
    assert.strictEqual(enrich.received, 1)
    assert.strictEqual(enrich.sent, 1)
    // The chain runs root first, each receive after its send, across the three files.
    assert.deepStrictEqual(
      chain.steps.map((step: { kind: string; messageId: string }) => `${step.kind} ${step.messageId}`),
      ["send m-1", "receive m-1", "send m-1.0", "receive m-1.0", "send m-1.0.0", "receive m-1.0.0"]
    )

    // The merged view itself: each receive after its send although runner b's stamps are 5 s early; the
    // redelivered copy (runner a's) is the one dropped, being the later.
    const trace = await Effect.runPromise(
      TraceSummary.load([traces]).pipe(Effect.provide(NodeServices.layer))
    )
    assert.deepStrictEqual(
      trace.events.map((e) => `${e.kind} ${e.messageId} ${Path.basename(e.file)}`),
      [
        "send m-1 client-1.jsonl",
        "receive m-1 runner-a.jsonl",
        "send m-1.0 runner-a.jsonl",
        "receive m-1.0 runner-b.jsonl",
        "send m-1.0.0 runner-b.jsonl",
        "receive m-1.0.0 runner-a.jsonl"
      ]
    )
    assert.strictEqual(trace.duplicates, 1)

    const page = await runCli(["trace", "view", `${traces}/`])
    assert.strictEqual(page.code, 0, page.stderr)
    assert.include(page.stdout, `wrote ${traces}.html: 6 events`)
    assert.isTrue(Fs.existsSync(`${traces}.html`))

    const missing = await runCli(["trace", "summary", Path.join(dir, "nowhere")])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "nowhere")
  })
})
