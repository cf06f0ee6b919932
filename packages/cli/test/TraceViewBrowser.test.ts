import { NodeServices } from "@effect/platform-node"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Tracer } from "@handoffkit/core"
import { agents } from "@handoffkit/example-handoff-chain/src/chain.ts"
import { reviewers } from "@handoffkit/example-review-fanout/src/fanout.ts"
import type { Browser, Page } from "playwright-core"
import * as TraceView from "../src/TraceView.ts"
import * as Chromium from "./fixtures/chromium.ts"
import { runCli } from "./fixtures/cli.ts"
import { writeBigTrace } from "./fixtures/bigTrace.ts"
import { handoffChain, reviewFanout, worktreePool } from "./fixtures/exampleTraces.ts"

// The pages of the examples' real traces, opened in headless Chromium (Debian's `chromium`), asserted on the
// DOM the page drew: what a person sees, counted.

if (!Chromium.run) console.warn(Chromium.missing)

const read = (path: string) =>
  Effect.runPromise(
    Tracer.readJsonl(path).pipe(
      Effect.map((read) => read.events),
      Effect.provide(NodeServices.layer)
    )
  )
const write = (files: ReadonlyArray<string>, out: string) =>
  Effect.runPromise(TraceView.write(files, out).pipe(Effect.provide(NodeServices.layer)))

/** What the trace says was delivered: each receive of a message whose send is in the trace. */
const delivered = (events: ReadonlyArray<Tracer.Event>) => {
  const sent = new Map(events.filter((e) => e.kind === "send").map((e) => [e.messageId, e.actor]))
  return events
    .filter((e) => e.kind === "receive" && sent.has(e.messageId))
    .map((e) => ({ message: e.messageId!, from: sent.get(e.messageId)!, to: e.actor }))
}

const arrowsOf = (page: Page) =>
  page.$$eval("#tl .arrow", (lines) =>
    lines.map((line) => ({
      message: line.getAttribute("data-message")!,
      from: line.getAttribute("data-from")!,
      to: line.getAttribute("data-to")!,
      handoff: line.classList.contains("handoff")
    }))
  )
const lanesOf = (page: Page) =>
  page.$$eval("#tl .lane", (lanes) => lanes.map((g) => g.getAttribute("data-agent")!))
const bySorted = <A extends { readonly message: string }>(xs: ReadonlyArray<A>) =>
  xs.toSorted((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0))

const screenshot = async (page: Page, name: string) => {
  Fs.mkdirSync(Chromium.artifacts, { recursive: true })
  const path = Path.join(Chromium.artifacts, `${name}.png`)
  Fs.rmSync(path, { force: true })
  await page.screenshot({ path, fullPage: true })
  const bytes = Fs.readFileSync(path)
  // A PNG, of a page with something on it (a blank page of this size compresses to a few KiB).
  assert.strictEqual(bytes.subarray(1, 4).toString("latin1"), "PNG")
  assert.isAbove(bytes.length, 20_000, `${name}.png is a picture of a drawn page`)
}

describe.skipIf(!Chromium.run)("trace view in Chromium", () => {
  let browser: Browser
  let dir: string
  const traces = {} as {
    chain: ReadonlyArray<Tracer.Event>
    fanout: ReadonlyArray<Tracer.Event>
    pool: ReadonlyArray<Tracer.Event>
    spent: {
      readonly tokensIn: number
      readonly tokensOut: number
      readonly calls: number
      readonly cost: number
    }
    outcomes: Record<string, string>
  }
  const file = (name: string) => Path.join(dir, name)

  beforeAll(async () => {
    dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-view-")))
    browser = await Chromium.launch()
    await Effect.runPromise(handoffChain(file("chain.jsonl")))
    const fanout = await Effect.runPromise(reviewFanout(file("fanout.jsonl")))
    const pool = await Effect.runPromise(worktreePool(file("pool.jsonl")))
    traces.chain = await read(file("chain.jsonl"))
    traces.fanout = await read(file("fanout.jsonl"))
    traces.pool = await read(file("pool.jsonl"))
    traces.spent = fanout.spent
    traces.outcomes = Object.fromEntries(pool.tasks.map((t) => [t.task, t.outcome]))
    // The chain's page through the command itself, as a user makes it; the others through the module.
    const cli = await runCli(["trace", "view", file("chain.jsonl"), "-o", file("chain.html")])
    assert.strictEqual(cli.code, 0, cli.stderr)
    assert.match(cli.stdout, /wrote .*chain\.html: \d+ events/)
    await write([file("fanout.jsonl")], file("fanout.html"))
    await write([file("pool.jsonl")], file("pool.html"))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    if (dir !== undefined) Fs.rmSync(dir, { recursive: true, force: true })
  })

  it("handoff chain: a lane per agent, an arrow per delivered message, the task's owners in order", async () => {
    const { page, errors } = await Chromium.open(browser, file("chain.html"))
    // The agents of the example, and the outside world that handed the task to the first of them.
    assert.sameMembers(await lanesOf(page), [...agents, "external"])
    const arrows = await arrowsOf(page)
    const expected = delivered(traces.chain)
    assert.strictEqual(expected.length, agents.length, "the example hands the task in and on 4 times")
    assert.deepStrictEqual(
      bySorted(arrows.map(({ message, from, to }) => ({ message, from, to }))),
      bySorted(expected)
    )
    // Every one of them was a handoff of the task.
    assert.isTrue(arrows.every((arrow) => arrow.handoff))
    const owners = await page.$$eval("#owners .task", (tasks) =>
      tasks.map((task) => ({
        task: task.getAttribute("data-task"),
        owners: [...task.querySelectorAll(".owner")].map((o) => o.getAttribute("data-owner"))
      }))
    )
    const taskIds = [
      ...new Set(traces.chain.filter((e) => e.kind === "handoff").map((e) => e.data?.taskId as string))
    ]
    assert.deepStrictEqual(owners, [{ task: taskIds[0], owners: [...agents] }])
    // No budget in this example: the page says so rather than drawing a flat curve.
    assert.isFalse(traces.chain.some((e) => e.kind === "budget.commit"))
    assert.strictEqual(await page.textContent("#budget-none"), "no budget was charged in this trace")
    await screenshot(page, "handoff-chain")
    assert.deepStrictEqual(errors, [])
    await page.close()
  })

  it("review fan-out: lanes, arrows, and the budget curves end at what the budget spent", async () => {
    const { page, errors } = await Chromium.open(browser, file("fanout.html"))
    assert.sameMembers(await lanesOf(page), ["external", "lead", ...reviewers.map((r) => r.name), "findings"])
    const arrows = await arrowsOf(page)
    const expected = delivered(traces.fanout)
    // The code in, one message to each reviewer, one finding from each to the join.
    assert.strictEqual(expected.length, 1 + 2 * reviewers.length)
    assert.deepStrictEqual(
      bySorted(arrows.map(({ message, from, to }) => ({ message, from, to }))),
      bySorted(expected)
    )
    assert.isTrue(
      await page.$eval("#owners", (section) => (section as HTMLElement).hidden),
      "no task handed off"
    )
    const last = Object.fromEntries(
      await page.$$eval("#budget .last", (dots) =>
        dots.map((dot) => [dot.getAttribute("data-metric"), Number(dot.getAttribute("data-value"))])
      )
    )
    // What the run's Budget says it spent (its snapshot, not the trace): the curves' last points.
    assert.deepStrictEqual(last, {
      tokensIn: traces.spent.tokensIn,
      tokensOut: traces.spent.tokensOut,
      calls: traces.spent.calls,
      cost: traces.spent.cost
    })
    assert.strictEqual(traces.spent.calls, reviewers.length)
    await screenshot(page, "review-fanout")
    assert.deepStrictEqual(errors, [])
    await page.close()
  })

  it("every event of a trace comes back from the page as it was traced", async () => {
    const { page, errors } = await Chromium.open(browser, file("fanout.html"), { width: 1400, height: 4000 })
    await page.evaluate(() => {
      const list = document.getElementById("list")!
      list.style.height = "2000px"
      list.dispatchEvent(new Event("scroll"))
    })
    await page.waitForFunction(
      (n) => document.querySelectorAll("#rows .row").length === n,
      traces.fanout.length
    )
    const shown: Array<unknown> = []
    for (let i = 0; i < traces.fanout.length; i++) {
      await page.click(`#rows .row:nth-child(${i + 1})`)
      shown.push(JSON.parse((await page.textContent("#payload"))!))
    }
    assert.deepStrictEqual(
      shown.toSorted((a: any, b: any) => a.seq - b.seq),
      traces.fanout.toSorted((a, b) => a.seq - b.seq)
    )
    assert.deepStrictEqual(errors, [])
    await page.close()
  })

  it("clicking the last handoff shows its causal chain back to the root; filtering by agent narrows the view", async () => {
    const { page, errors } = await Chromium.open(browser, file("chain.html"))
    const last = delivered(traces.chain).at(-1)!
    // (A click event on the arrow's hit line: a vertical line has an empty box, which Playwright will not click.)
    await page.dispatchEvent(`#tl .arrow[data-message="${last.message}"] + .arrow-hit`, "click")
    const chain = await page.$$eval("#chain .step", (steps) =>
      steps.map((s) => s.getAttribute("data-message"))
    )
    // The chain of messages that led to the last hop: one per hop, from the task's arrival at the planner.
    assert.deepStrictEqual(
      chain,
      delivered(traces.chain).map((d) => d.message)
    )
    assert.match((await page.textContent("#chain .step"))!, /^root .* external → planner handoff task-/)
    const payload = JSON.parse((await page.textContent("#payload"))!)
    assert.strictEqual(payload.kind, "send")
    assert.strictEqual(payload.messageId, last.message)

    const agentValue = await page.$eval(
      "#f-agent",
      (select) => [...(select as HTMLSelectElement).options].find((o) => o.textContent === "coder")!.value
    )
    await page.selectOption("#f-agent", agentValue)
    const arrows = await arrowsOf(page)
    assert.deepStrictEqual(arrows.map((a) => [a.from, a.to]).toSorted(), [
      ["coder", "tester"],
      ["researcher", "coder"]
    ])
    const rows = await page.$$eval("#rows .row", (rows) =>
      rows.map((row) => [
        row.querySelector(".c-actor")!.textContent,
        row.querySelector(".c-peer")!.textContent
      ])
    )
    const touching = traces.chain.filter((e) => e.actor === "coder" || e.peer === "coder")
    assert.strictEqual(rows.length, touching.length)
    assert.isTrue(rows.every(([actor, peer]) => actor === "coder" || peer === "coder"))
    const kindValue = await page.$eval(
      "#f-kind",
      (select) => [...(select as HTMLSelectElement).options].find((o) => o.textContent === "handoff")!.value
    )
    await page.selectOption("#f-kind", kindValue)
    assert.strictEqual(
      await page.$$eval("#rows .row", (rows) => rows.length),
      traces.chain.filter((e) => e.kind === "handoff" && e.actor === "coder").length
    )
    assert.deepStrictEqual(errors, [])
    await page.close()
  })

  it("pool run: each task's phases as bars per worker, and the train's batches", async () => {
    const { page, errors } = await Chromium.open(browser, file("pool.html"))
    const rows = await page.$$eval("#pool .pool-task", (rows) =>
      rows.map((row) => ({
        task: row.getAttribute("data-task")!,
        worker: row.getAttribute("data-worker")!,
        outcome: row.getAttribute("data-outcome")!,
        phases: [...row.querySelectorAll(".phase")].map((bar) => bar.getAttribute("data-phase"))
      }))
    )
    // Outcomes as the pool's own summary has them.
    assert.deepStrictEqual(Object.fromEntries(rows.map((r) => [r.task, r.outcome])), traces.outcomes)
    for (const row of rows) {
      assert.deepStrictEqual(
        row.phases,
        row.outcome === "merged" ? ["agent", "commit", "gate", "merge"] : ["agent", "commit", "gate"],
        row.task
      )
      // The worker that ran its agent, as the trace's phase events say.
      const ran = traces.pool.find((e) => e.data?.task === row.task && e.data?.phase === "agent")
      assert.strictEqual(row.worker, String(ran?.data?.worker))
    }
    const batches = await page.$$eval("#pool .batch", (batches) =>
      batches.map((b) => [b.getAttribute("data-outcome"), b.getAttribute("data-tasks")])
    )
    const merged = traces.pool
      .filter((e) => e.kind === "pool.merge")
      .map((e) => (e.data!.tasks as Array<string>).join(" "))
    assert.deepStrictEqual(
      batches,
      merged.map((tasks) => ["merged", tasks])
    )
    assert.sameMembers(
      merged.flatMap((tasks) => tasks.split(" ")),
      Object.keys(traces.outcomes).filter((task) => traces.outcomes[task] === "merged")
    )
    // The pool's own message passing: a lane per worker, the train and the coordinator.
    const lanes = await lanesOf(page)
    assert.includeMembers(lanes, ["pool/coordinator", "pool/train", "pool/worker-0"])
    assert.strictEqual((await arrowsOf(page)).length, delivered(traces.pool).length)
    await screenshot(page, "worktree-pool")
    assert.deepStrictEqual(errors, [])
    await page.close()
  })

  it("a secret in a payload is redacted; markup in the trace is shown as text and no script of it runs", async () => {
    // Written by hand, not by the Tracer (which redacts): the page must redact whatever wrote the file.
    const secrets = ["sk-proj-abcdefghijklmnop1234", "abc.def.ghi-token", "ghp_topsecretvalue123"]
    const hostile = "<script>alert(1)</script>"
    const breakout = "</script><script>alert(2)</script>"
    const lines = [
      { seq: 1, ts: 1000, kind: "spawn", actor: "<img src=x onerror=alert(3)>" },
      {
        seq: 2,
        ts: 1001,
        kind: "tool.call",
        actor: "<img src=x onerror=alert(3)>",
        data: {
          note: hostile,
          more: breakout,
          apiKey: secrets[0],
          header: `Authorization: Bearer ${secrets[1]}`,
          env: `GITHUB_TOKEN=${secrets[2]}`
        }
      },
      { seq: 3, ts: 1002, kind: "send", actor: "a", peer: "<b onmouseover=alert(4)>b</b>", messageId: "m-1" }
    ]
    Fs.writeFileSync(file("hostile.jsonl"), lines.map((line) => JSON.stringify(line)).join("\n") + "\n")
    await write([file("hostile.jsonl")], file("hostile.html"))
    const html = Fs.readFileSync(file("hostile.html"), "utf8")
    for (const secret of secrets) assert.notInclude(html, secret)
    assert.notInclude(html, "<script>alert", "the trace's markup is not in the page as markup")

    const { page, errors, dialogs } = await Chromium.open(browser, file("hostile.html"))
    // The dialog watch works: a dialog the test itself opens is seen.
    await page.evaluate(() => alert("control"))
    assert.deepStrictEqual(dialogs, ["alert: control"])
    dialogs.length = 0
    await page.click("#rows .row:nth-child(2)")
    await page.hover("#tl .lane")
    const payload = JSON.parse((await page.textContent("#payload"))!)
    assert.strictEqual(payload.data.note, hostile)
    assert.strictEqual(payload.data.more, breakout)
    assert.strictEqual(payload.data.apiKey, "[REDACTED]")
    assert.include(payload.data.header, "[REDACTED]")
    assert.include(payload.data.env, "[REDACTED]")
    for (const secret of secrets) assert.notInclude(await page.content(), secret)
    // Shown as the characters they are, nowhere parsed: the page's own two scripts, no image, no handler.
    assert.include(await page.textContent("#payload"), "<script>alert(1)</script>")
    assert.include(await page.textContent("#tl"), "<img src=x onerror=alert(3)>")
    assert.strictEqual(await page.$$eval("script", (scripts) => scripts.length), 2)
    assert.strictEqual(await page.$$eval("img, [onerror], [onmouseover]", (nodes) => nodes.length), 0)
    assert.deepStrictEqual(dialogs, [])
    assert.deepStrictEqual(errors, [])
    await page.close()
  })

  it("100,000 events: under 5 MB, and only what is in view is in the document", async () => {
    const n = 100_000
    await Effect.runPromise(writeBigTrace(file("big.jsonl"), n))
    const written = await write([file("big.jsonl")], file("big.html"))
    assert.strictEqual(written.events, n)
    assert.isBelow(written.bytes, 5 * 1024 * 1024)
    const { page, errors } = await Chromium.open(browser, file("big.html"))
    const count = () => page.evaluate(() => document.getElementsByTagName("*").length)
    assert.isBelow(await count(), 20_000)
    assert.match((await page.textContent("#list-note"))!, /^100,000 of 100,000 events$/)
    assert.isBelow(await page.$$eval("#rows .row", (rows) => rows.length), 60)
    assert.match((await page.textContent("#tl-note"))!, /drawn as density/)
    // Scrolled to the end, the list draws the last events, still only a screenful of them.
    await page.$eval("#list", (list) => list.scrollTo(0, list.scrollHeight))
    await page.waitForFunction(
      () => document.querySelector("#rows .row:last-child .c-seq")?.textContent === "100000"
    )
    assert.isBelow(await page.$$eval("#rows .row", (rows) => rows.length), 60)
    // Zoomed in far, single events and arrows come back.
    for (let i = 0; i < 12; i++) await page.click("#zoom-in")
    await page.waitForFunction(() => document.querySelectorAll("#tl .mark").length > 0)
    assert.isAbove(await page.$$eval("#tl .arrow", (arrows) => arrows.length), 0)
    assert.isBelow(await count(), 20_000)
    await screenshot(page, "100k-events")
    assert.deepStrictEqual(errors, [])
    await page.close()
  })
})
