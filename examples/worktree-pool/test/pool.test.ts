import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { Effect } from "effect"
import { runExample } from "../src/pool.ts"

describe("examples/worktree-pool", () => {
  it.live(
    "merges the three good tasks, sets the breaking one aside with its branch, and logs plain lines when piped",
    () =>
      Effect.gen(function* () {
        let text = ""
        const { dir, repo, summary } = yield* runExample({
          write: (chunk) => void (text += chunk),
          isTTY: false
        })
        try {
          const outcome = Object.fromEntries(summary.tasks.map((t) => [t.task, t.outcome]))
          assert.deepStrictEqual(outcome, {
            parser: "merged",
            lexer: "merged",
            printer: "failed",
            docs: "merged"
          })
          const branches = execFileSync("git", ["-C", repo, "branch", "--format=%(refname:short)"], {
            encoding: "utf8"
          })
          assert.deepStrictEqual(branches.trim().split("\n").toSorted(), ["handoffkit/printer/1", "main"])
          assert.include(text, "printer: failed")
          assert.notInclude(text, "\x1b[")
        } finally {
          Fs.rmSync(dir, { recursive: true, force: true })
        }
      }).pipe(Effect.provide(NodeServices.layer)),
    60_000
  )
})
