import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Effect, Fiber } from "effect"
import * as Gate from "../src/Gate.ts"
import {
  eventually,
  groupIsGone,
  killLeftover,
  pidsIn,
  readProc,
  runningInGroup,
  stillRuns,
  tempDirectory
} from "./fixtures/agents/procs.ts"
import { modes, type Mode } from "./fixtures/agents/launcher.ts"

// Real processes in real temporary directories; what runs is checked in /proc. A gate is `runLogged`, the
// process machinery the agents share, so its guarantee (nothing of the process group left running when the run
// ends) is tried here in every way a run ends: exit, failure, timeout, interruption.

const tree = Path.join(import.meta.dirname, "fixtures", "agents", "tree.mjs")
const node = process.execPath

const allModes = modes()
const gateIn = (mode: Mode) => (options: Gate.Options) => mode.provide(Gate.run(options))

for (const mode of allModes)
  describe(`Gate.run (${mode.name})`, () => {
    const gate = gateIn(mode)

    it.live("a gate that exits 0 passes, one that exits 1 does not; stdout and stderr are in its log", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const green = yield* gate({
          argv: [node, "-e", "console.log('12 passed'); console.error('a deprecation warning')"],
          directory,
          logFile: Path.join(directory, "logs", "task", "gate-1.log")
        })
        assert.deepStrictEqual(
          { ...green, durationMs: 0 },
          {
            passed: true,
            exitCode: 0,
            signal: null,
            timedOut: false,
            durationMs: 0,
            logFile: Path.join(directory, "logs", "task", "gate-1.log")
          }
        )
        const log = Fs.readFileSync(green.logFile, "utf8")
        assert.include(log, "12 passed\n")
        assert.include(log, "a deprecation warning\n")
        assert.match(log, /^\[handoffkit\] \$ .*node -e .*\(in .*\)\n/)
        assert.match(log, /\[handoffkit\] exit code 0 after \d+ ms\n$/)

        const red = yield* gate({
          argv: [node, "-e", "console.log('1 failed'); process.exit(1)"],
          directory,
          logFile: Path.join(directory, "logs", "task", "gate-2.log")
        })
        assert.deepStrictEqual([red.passed, red.exitCode, red.signal, red.timedOut], [false, 1, null, false])
        assert.include(Fs.readFileSync(red.logFile, "utf8"), "1 failed\n")
      })
    )

    it.live("runs in the directory, with the given environment, and appends to an existing log", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const logFile = Path.join(directory, "gate.log")
        Fs.writeFileSync(logFile, "earlier run\n")
        const result = yield* gate({
          argv: [node, "-e", "console.log(process.cwd(), process.env.GATE_MODE)"],
          directory,
          logFile,
          env: { GATE_MODE: "ci" }
        })
        assert.isTrue(result.passed)
        const log = Fs.readFileSync(logFile, "utf8")
        assert.isTrue(log.startsWith("earlier run\n"))
        assert.include(log, `${directory} ci\n`)
      })
    )

    it.live(
      "a timeout is a result: killed by SIGTERM, timedOut, and nothing of its group runs afterwards",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory("handoffkit-gate-")
          const result = yield* gate({
            argv: [node, tree, "hang", "sleep", "sleep"],
            directory,
            logFile: Path.join(directory, "gate.log"),
            timeout: "500 millis"
          })
          const [leader, ...grandchildren] = yield* pidsIn(Path.join(directory, "pids"), 3)
          assert.deepStrictEqual(
            [result.passed, result.exitCode, result.signal, result.timedOut],
            [false, null, "SIGTERM", true]
          )
          assert.isAtLeast(result.durationMs, 500)
          assert.deepStrictEqual(runningInGroup(leader!), [])
          for (const pid of grandchildren)
            assert.isFalse(readProc(pid) !== undefined && readProc(pid)!.state !== "Z")
          assert.match(
            Fs.readFileSync(result.logFile, "utf8"),
            /timed out after \d+ ms \(killed by SIGTERM\)\n$/
          )
          // Zombies of reparented grandchildren wait for pid 1 (here about once a second); then the group is empty.
          yield* eventually("the gate's process group to be empty", () =>
            groupIsGone(leader!) ? true : undefined
          )
        })
    )

    it.live("a grandchild that ignores SIGTERM is killed with SIGKILL after the grace period", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const result = yield* gate({
          argv: [node, tree, "hang", "stubborn"],
          directory,
          logFile: Path.join(directory, "gate.log"),
          timeout: "600 millis",
          killGrace: "300 millis"
        })
        const [leader, stubborn] = yield* pidsIn(Path.join(directory, "pids"), 2)
        assert.isTrue(result.timedOut)
        assert.deepStrictEqual(runningInGroup(leader!), [])
        const proc = readProc(stubborn!)
        assert.isTrue(proc === undefined || proc.state === "Z", "the stubborn grandchild was killed")
        // It did get SIGTERM first, and said so in the log.
        assert.include(Fs.readFileSync(result.logFile, "utf8"), "stubborn: ignoring SIGTERM")
      })
    )

    it.live("what a gate leaves running in its group when it exits is killed before run returns", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const passed = yield* gate({
          argv: [node, tree, "exit", "sleep"],
          directory,
          logFile: Path.join(directory, "gate-1.log")
        })
        const [leader] = yield* pidsIn(Path.join(directory, "pids"), 2)
        assert.isTrue(passed.passed)
        assert.deepStrictEqual(runningInGroup(leader!), [])

        Fs.rmSync(Path.join(directory, "pids"))
        const failed = yield* gate({
          argv: [node, tree, "fail", "sleep", "stubborn"],
          directory,
          logFile: Path.join(directory, "gate-2.log"),
          killGrace: "200 millis"
        })
        const [leader2] = yield* pidsIn(Path.join(directory, "pids"), 3)
        assert.deepStrictEqual([failed.passed, failed.exitCode], [false, 3])
        assert.deepStrictEqual(runningInGroup(leader2!), [])
      })
    )

    it.live("interrupting run kills the group and completes only when nothing of it runs", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const fiber = yield* Effect.forkChild(
          gate({ argv: [node, tree, "hang", "sleep"], directory, logFile: Path.join(directory, "gate.log") })
        )
        const [leader, sleep] = yield* pidsIn(Path.join(directory, "pids"), 2)
        assert.deepStrictEqual(runningInGroup(leader!).length, 2)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(runningInGroup(leader!), [])
        const proc = readProc(sleep!)
        assert.isTrue(proc === undefined || proc.state === "Z")
        assert.match(Fs.readFileSync(Path.join(directory, "gate.log"), "utf8"), /interrupted after \d+ ms/)
      })
    )

    it.live("a grandchild that left the group (setsid) is killed with a gate that times out", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const result = yield* gate({
          argv: [node, tree, "hang", "setsid"],
          directory,
          logFile: Path.join(directory, "gate.log"),
          timeout: "400 millis"
        })
        const [leader, escaped] = yield* pidsIn(Path.join(directory, "pids"), 2)
        assert.isTrue(result.timedOut)
        const proc = readProc(escaped!)
        // setsid forks when its caller leads a group; here it does not, so it is the sleep itself, in a session
        // of its own.
        assert.isTrue(
          proc === undefined || proc.state === "Z",
          "the setsid'd grandchild, found through /proc, is gone"
        )
        assert.deepStrictEqual(runningInGroup(leader!), [])
      })
    )

    it.live(
      "a grandchild that left the group escapes when the gate exits first (documented), and may hold the log",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory("handoffkit-gate-")
          const pidFile = Path.join(directory, "escaped")
          // The shell exits at once; its setsid'd child, now a child of pid 1 in a session of its own, keeps the
          // output pipe open.
          const result = yield* gate({
            argv: [
              "sh",
              "-c",
              `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 300' & sleep 0.2; echo gate done`
            ],
            directory,
            logFile: Path.join(directory, "gate.log")
          })
          const [escaped] = yield* pidsIn(pidFile, 1)
          const proc = readProc(escaped!)!
          try {
            assert.isTrue(result.passed)
            assert.isTrue(stillRuns(proc), "a process that left the group and lost its parent escapes")
            assert.notStrictEqual(proc.sid, readProc(process.pid)!.sid)
            const log = Fs.readFileSync(result.logFile, "utf8")
            assert.include(log, "gate done\n")
            assert.include(log, "the output is still open: a process that left the process group holds it")
          } finally {
            killLeftover(escaped!)
          }
        })
    )

    it.live("a gate that cannot start is a GateError naming the program and the directory", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory("handoffkit-gate-")
        const missing = yield* gate({
          argv: ["no-such-test-runner", "--run"],
          directory,
          logFile: Path.join(directory, "gate.log")
        }).pipe(Effect.flip)
        assert.strictEqual(missing._tag, "GateError")
        assert.strictEqual(
          missing.message,
          `the gate "no-such-test-runner" could not start in ${directory}: no such program (ENOENT)`
        )
        const nowhere = Path.join(directory, "nowhere")
        const noDirectory = yield* gate({
          argv: ["npm", "test"],
          directory: nowhere,
          logFile: Path.join(directory, "g.log")
        }).pipe(Effect.flip)
        assert.strictEqual(
          noDirectory.message,
          `the gate "npm" could not start in ${nowhere}: the directory does not exist`
        )
        assert.include(Fs.readFileSync(Path.join(directory, "g.log"), "utf8"), "the directory does not exist")
        const empty = yield* gate({ argv: [], directory, logFile: Path.join(directory, "g.log") }).pipe(
          Effect.flip
        )
        assert.include(empty.message, "the command line is empty")
      })
    )
  })
