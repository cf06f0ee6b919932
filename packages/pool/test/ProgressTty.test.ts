import { assert, describe, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type * as Pool from "../src/Pool.ts"

// A real pool run (four tasks, two workers, agents that sleep a little) with its progress on the process's
// stdout: once in a real pseudo-terminal (a tmux pane, whose raw bytes are piped to a file as well), once
// with stdout piped. On the terminal the live status must be redrawn in place: the bytes hold many frames,
// each going back up exactly over the last, while the screen and its scrollback hold the status block once.
// Piped, the output must be plain lines, one per event, and no escape sequence at all.

const fixture = Path.join(import.meta.dirname, "fixtures", "tty", "run.ts")
const tasks = ["alpha", "bravo", "charlie", "delta"]
const rows = 30

const tempDir = () => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-tty-")))

/**
 * Polls `check` (every 100 ms, up to `ms`) until it returns something other than undefined; on a timeout the
 * error carries `diagnose()`.
 */
const poll = async <A>(
  what: string,
  check: () => A | undefined,
  diagnose: () => string = () => "",
  ms = 120_000
): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${diagnose()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const readOr = (file: string) => (Fs.existsSync(file) ? Fs.readFileSync(file, "utf8") : "")

/** The events the fixture's pool reported, in order. */
const eventsOf = (file: string): Array<Pool.Event> =>
  readOr(file)
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Pool.Event)

const count = (text: string, needle: string) => text.split(needle).length - 1

const esc = "\x1b"
/** A cursor-up sequence, its count captured. */
const cursorUp = new RegExp(`${esc}\\[(\\d+)A`)

/** The summary `Progress.formatSummary` prints for four merged tasks. */
const assertSummary = (lines: ReadonlyArray<string>) => {
  for (const task of tasks) {
    assert.strictEqual(
      lines.filter((line) => new RegExp(`^${task} +merged +[0-9a-f]{8}$`).test(line)).length,
      1,
      `summary line of ${task}`
    )
  }
  assert.strictEqual(lines.filter((line) => line.startsWith("4 of 4 merged into main (")).length, 1)
  assert.strictEqual(lines.filter((line) => line.startsWith("time per phase: agent ")).length, 1)
}

describe("Progress on a terminal and on a pipe", () => {
  // 100 columns, and a terminal narrower than the status lines (they must be cut, not wrapped: a wrapped
  // line takes more rows than the cursor-up goes back over, and the block scrolls).
  it.each([100, 32])(
    "in a real pseudo-terminal (tmux, %i columns) the live status is redrawn in place, not scrolled",
    async (columns) => {
      const dir = tempDir()
      // A private server on a socket in the test's own directory (removed with it), no config file.
      const socket = Path.join(dir, "tmux.sock")
      const { TMUX: _nested, ...env } = process.env
      const tmux = (...args: ReadonlyArray<string>) =>
        execFileSync("tmux", ["-S", socket, "-f", "/dev/null", ...args], { encoding: "utf8", env })
      const go = Path.join(dir, "go")
      const done = Path.join(dir, "done")
      const raw = Path.join(dir, "raw.log")
      const events = Path.join(dir, "events.jsonl")
      try {
        // The pane waits for `go` so that the raw bytes are piped to a file from the very first one; once the
        // run has ended it writes its exit code to `done` and stays open for the capture.
        tmux(
          "new-session",
          "-d",
          "-s",
          "run",
          "-x",
          String(columns),
          "-y",
          String(rows),
          "sh",
          "-c",
          'while [ ! -f "$1" ]; do sleep 0.05; done; "$2" "$3" "$4"; echo $? > "$5"; exec sleep 600',
          "sh",
          go,
          process.execPath,
          fixture,
          events,
          done
        )
        tmux("set-option", "-g", "status", "off")
        tmux("set-option", "-g", "history-limit", "5000")
        tmux("pipe-pane", "-o", "-t", "run", `cat >> '${raw}'`)
        assert.strictEqual(
          tmux("display-message", "-p", "-t", "run", "#{pane_width}x#{pane_height}").trim(),
          `${columns}x${rows}`
        )
        Fs.writeFileSync(go, "")

        const capture = () => tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "run")
        const diagnose = () =>
          `screen:\n${capture()}\nevent lines: ${count(readOr(events), "\n")}, raw bytes: ${readOr(raw).length}`
        const code = await poll(
          "the run in tmux to end",
          () => {
            const text = readOr(done).trim()
            return text === "" ? undefined : text
          },
          diagnose
        )
        assert.strictEqual(code, "0", diagnose())
        // The pane and the pipe may lag behind the process a little.
        const screen = await poll(
          "the summary on the screen",
          () => {
            const text = capture()
            return text.includes("journal: ") ? text : undefined
          },
          diagnose
        )
        const bytes = await poll(
          "the summary in the raw bytes",
          () => {
            const text = readOr(raw)
            return text.includes("journal: ") ? text : undefined
          },
          diagnose
        )

        // The bytes: many frames, each going back up over exactly the lines the frame before drew.
        const parts = bytes.split(cursorUp)
        const frames = (parts.length - 1) / 2
        assert.isAtLeast(frames, 5, "the status was redrawn several times")
        for (let i = 1; i < parts.length; i += 2) {
          const previous = parts[i - 1]
          const drawn = count(previous, "\x1b[2K")
          assert.strictEqual(Number(parts[i]), drawn, `cursor-up ${parts[i]} over a frame of ${drawn} lines`)
        }
        assert.isAtLeast(count(bytes, "\r\x1b[2Kworker 1  "), 5, "the worker line was written many times")
        assert.isAtLeast(count(bytes, "\r\x1b[2Kworker 2  "), 5)
        assert.notInclude(bytes, "] alpha: agent", "no plain event lines on a terminal")

        // The screen and all its scrollback: the status block once (its last frame), then the summary.
        const lines = screen.split("\n").map((line) => line.trimEnd())
        const worker1 = lines.flatMap((line, i) => (line.startsWith("worker 1  ") ? [i] : []))
        const worker2 = lines.flatMap((line, i) => (line.startsWith("worker 2  ") ? [i] : []))
        const totals = lines.flatMap((line, i) => (/^\d\d:\d\d {2}queued \d/.test(line) ? [i] : []))
        assert.deepStrictEqual([worker1.length, worker2.length, totals.length], [1, 1, 1], screen)
        assert.deepStrictEqual([worker2[0] - worker1[0], totals[0] - worker1[0]], [1, 2], screen)
        assert.match(lines[worker1[0]], /^worker 1 {2}- {2}idle {2}\d\d:\d\d$/)
        assert.match(lines[worker2[0]], /^worker 2 {2}- {2}idle {2}\d\d:\d\d$/)
        const final = lines[totals[0]]
        assert.isBelow(final.length, columns, "status lines are cut to the terminal's width")
        if (columns >= 80)
          assert.match(final, /^\d\d:\d\d {2}queued 0 {2}running 0 {2}gated 0 {2}merged 4 {2}failed 0 /)
        else assert.match(final, /^\d\d:\d\d {2}queued 0 {2}running 0 /)
        assert.isTrue(
          lines.every((line) => !/^\[\d\d:\d\d\] /.test(line)),
          "no plain event lines on a terminal"
        )
        assert.strictEqual(lines[totals[0] + 1], "")
        assertSummary(lines.slice(totals[0] + 1))
        assert.strictEqual(eventsOf(events).at(-1)?._tag, "Finished")
      } finally {
        try {
          tmux("kill-server")
        } catch {
          // already gone
        }
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    },
    180_000
  )

  it("piped, it prints one plain line per event and no escape sequence", async () => {
    const dir = tempDir()
    const events = Path.join(dir, "events.jsonl")
    try {
      const child = spawn(process.execPath, [fixture, events], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.stderr.on("data", (chunk) => (stderr += chunk))
      const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)))
      assert.strictEqual(code, 0, stderr)

      assert.notInclude(stdout, "\x1b", "no escape sequence")
      assert.notInclude(stdout, "\r", "no carriage return")
      const [log, ...rest] = stdout.split("\n\n")
      const lines = log.split("\n")
      const reported = eventsOf(events).filter((event) => event._tag !== "Finished")
      assert.strictEqual(lines.length, reported.length, "one line per event")
      let last = -1
      lines.forEach((line, i) => {
        const match = /^\[(\d\d):(\d\d)\] (.+)$/.exec(line)
        assert.isNotNull(match, line)
        const at = Number(match![1]) * 60 + Number(match![2])
        assert.isAtLeast(at, last, "the elapsed time never goes back")
        last = at
        const event = reported[i]
        const text = match![3]
        switch (event._tag) {
          case "Planned":
            assert.strictEqual(text, "planned 4 tasks")
            break
          case "Phase":
            assert.isTrue(
              text.startsWith(`${event.task}: ${event.phase}`),
              `${text} for ${JSON.stringify(event)}`
            )
            break
          case "Gate":
            assert.isTrue(text.startsWith(`gate ${event.task}: green`), text)
            break
          case "Batch":
            assert.strictEqual(text, `train: batch ${event.batch} stacks ${event.tasks.join(", ")}`)
            break
          case "Merged":
            assert.isTrue(text.startsWith(`train: merged ${event.tasks.join(", ")} (`), text)
            break
        }
      })
      for (const task of tasks) {
        for (const phase of ["queued", "agent", "committed", "gate", "ready", "merged"]) {
          const pattern = new RegExp(
            `^\\[\\d\\d:\\d\\d\\] ${task}: ${phase}( \\(worker [12]\\))?(: [0-9a-f]{40})?$`
          )
          assert.strictEqual(lines.filter((line) => pattern.test(line)).length, 1, `${task}: ${phase} once`)
        }
      }
      assert.isTrue(
        lines.every((line) => !line.startsWith("worker ")),
        "no live status when piped"
      )
      assertSummary(rest.join("\n\n").split("\n"))
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
