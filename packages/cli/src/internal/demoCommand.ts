/**
 * `handoffkit demo`: the whole product offline. A scratch repository, the scripted model server on
 * 127.0.0.1 playing the model, a pool of three real Codex workers (each in its own worktree and CODEX_HOME)
 * gated by the repository's tests and merged by the train, with live progress; then three reviewers over the
 * merged repository; then the trace summary of the run. No key and no network beyond loopback.
 * @internal
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { Tracer } from "@handoffkit/core"
import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
import * as Agents from "@handoffkit/pool/Agents"
import * as Plan from "@handoffkit/pool/Plan"
import * as Pool from "@handoffkit/pool/Pool"
import * as Progress from "@handoffkit/pool/Progress"
import * as Task from "@handoffkit/pool/Task"
import * as Review from "../Review.ts"
import * as TraceSummary from "../TraceSummary.ts"
import { atLeast, UsageError, WorkFailed } from "./args.ts"
import * as Demo from "./demo.ts"
import { runReview } from "./reviewCommand.ts"
import { printSummary } from "./traceCommand.ts"

const heading = (text: string) => Console.log(`\n== ${text}\n`)

/** `handoffkit demo`. */
export const demo = Command.make(
  "demo",
  {
    dir: Flag.String("dir").pipe(
      Flag.withDescription(
        "Where to put the scratch repository, its worktrees and the trace (a new temporary directory by default)"
      ),
      Flag.optional
    ),
    workers: Flag.Int("workers").pipe(Flag.withDescription("Codex workers (default 3)"), Flag.withDefault(3))
  },
  Effect.fn("handoffkit/cli/demo")(function* (input) {
    const workers = yield* atLeast("workers", input.workers, 1)
    let dir: string
    if (Option.isSome(input.dir)) {
      dir = Path.resolve(input.dir.value)
      if (Fs.existsSync(dir) && Fs.readdirSync(dir).length > 0) {
        return yield* new UsageError({ reason: `--dir: ${dir} is not empty: give a new or empty directory` })
      }
      Fs.mkdirSync(dir, { recursive: true })
    } else dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "handoffkit-demo-"))
    const repo = Demo.makeRepository(dir)
    const tasksFile = Path.join(dir, "tasks.yaml")
    Fs.writeFileSync(tasksFile, Demo.taskFile())
    const traceFile = Path.join(dir, "trace.jsonl")
    const root = Pool.defaultRoot(repo)

    yield* Console.log(
      [
        "HandoffKit demo, offline: a scratch repository, a scripted model server on 127.0.0.1, the real codex CLI.",
        `  repository  ${repo}`,
        `  tasks       ${tasksFile}`,
        `  trace       ${traceFile}`
      ].join("\n")
    )
    const file = yield* Task.decodeFile(tasksFile)
    yield* heading("plan")
    yield* Console.log(Plan.format(Plan.make(file.tasks)))

    yield* heading(`pool: ${file.tasks.length} tasks, ${workers} codex workers, gated on "node test.mjs"`)
    const summary = yield* Effect.gen(function* () {
      const server = yield* ScriptedServer.make(Demo.script)
      const tracer = Tracer.make([yield* Tracer.jsonl(traceFile)])
      const progress = Progress.make({
        write: (text) => process.stdout.write(text),
        isTTY: process.stdout.isTTY,
        columns: process.stdout.columns
      })
      return yield* Pool.run({
        repo,
        root,
        tasks: file.tasks,
        file: tasksFile,
        workers,
        // Codex talks to the scripted server only; the parent's OpenAI credentials are not passed on.
        codex: (options) => Agents.codex({ ...options, baseUrl: server.url }),
        gate: ["node", "test.mjs"],
        author: Demo.author,
        committer: Demo.author,
        onEvent: progress.onEvent
      }).pipe(
        Effect.provideService(Tracer.CurrentTracer, tracer),
        Effect.provide(Pool.layerFor(root)),
        Effect.ensuring(Effect.sync(() => progress.close()))
      )
    }).pipe(Effect.scoped)
    yield* Console.log(`\n${Progress.formatSummary(summary)}`)

    yield* heading("review: 3 reviewers over disjoint scopes of the merged repository")
    yield* runReview({ repo, reviewers: 3, reviewer: Review.builtin, json: false })

    yield* heading("trace summary")
    yield* printSummary(yield* TraceSummary.load([traceFile]))

    yield* Console.log(
      [
        "",
        `Everything is in ${dir}: look with`,
        `  git -C ${repo} log --graph --oneline`,
        `  npx handoffkit pool status --repo ${repo}`,
        `  npx handoffkit trace summary ${traceFile}`
      ].join("\n")
    )
    const unmerged = summary.tasks.filter((t) => t.outcome !== "merged")
    if (unmerged.length > 0) {
      return yield* new WorkFailed({
        reason: `demo: ${unmerged.map((t) => `${t.task} ${t.outcome}`).join(", ")}`
      })
    }
  })
).pipe(
  Command.withDescription(
    "The whole thing offline: a scratch repository, a scripted model, three real codex workers, a review, the trace"
  )
)
