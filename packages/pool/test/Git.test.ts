import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Effect, Fiber, Layer, Option } from "effect"
import type * as Scope from "effect/Scope"
import * as Git from "../src/Git.ts"
import { commitFiles, git, gitResult, makeRepo, makeTempDir, writeFiles } from "./fixtures/repo.ts"

// Every test runs the real git on real temporary repositories: the Git service is the pool's only door to
// git, so what it must get right is git's behaviour, not a model of it.

// Each test runs twice: with git spawned by this process (`layer`), and by the fork server (`layerForked`, the
// pool's own), which must keep every guarantee the direct spawn keeps.
const forked = Git.layerForked.pipe(Layer.provide(NodeServices.layer))
const live = <A, E>(name: string, test: () => Effect.Effect<A, E, Git.Git | Scope.Scope>) => {
  it.live(name, () => Effect.asVoid(test().pipe(Effect.provide(Git.layerNode))))
  it.live(`${name} (fork server)`, () => Effect.asVoid(test().pipe(Effect.provide(forked))))
}

const author = { name: "Ada Lovelace", email: "ada@example.com" }

/** Names that a shell, an option parser or a pathspec would read as something else. */
const hostile = [
  "with space",
  "ünïcødé ✓",
  "-leading-dash",
  "$(touch pwned)",
  "`touch pwned2`; touch pwned3",
  "*.txt"
]

/** No file named like the shell payloads above exists in any of `dirs` (or the test's working directory). */
const assertNoPwned = (...dirs: Array<string>) => {
  for (const dir of [...dirs, process.cwd()]) {
    for (const name of ["pwned", "pwned2", "pwned3"]) {
      assert.isFalse(Fs.existsSync(Path.join(dir, name)), `${name} in ${dir}`)
    }
  }
}

const sha = /^[0-9a-f]{40}$/

/** Whether a process runs: it exists and is not a zombie (which has exited and waits only to be reaped). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = Fs.existsSync(`/proc/${pid}/stat`) ? Fs.readFileSync(`/proc/${pid}/stat`, "utf8") : ""
  return !/\) [ZX] /.test(stat)
}

describe("Git: running git", () => {
  live(
    "a failing command is a GitError naming the command, the directory, the exit code and git's stderr",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n" })
        const error = yield* Git.revParse(repo.dir, "no-such-branch").pipe(Effect.flip)
        assert.strictEqual(error._tag, "GitError")
        assert.deepStrictEqual(error.args, ["rev-parse", "--verify", "--end-of-options", "no-such-branch"])
        assert.strictEqual(error.dir, repo.dir)
        assert.strictEqual(error.exitCode, 128)
        assert.include(error.stderr, "fatal:")
        assert.strictEqual(
          error.message,
          `git rev-parse --verify --end-of-options no-such-branch in ${repo.dir} failed (exit 128): ${error.stderr}`
        )

        const nowhere = yield* Git.status(Path.join(repo.root, "missing")).pipe(Effect.flip)
        assert.strictEqual(nowhere.exitCode, 128)
        assert.include(nowhere.stderr, "cannot change to")
      })
  )

  live("stderr is trimmed and cut to 4 KB", () =>
    Effect.gen(function* () {
      const dir = yield* makeTempDir()
      const error = yield* Git.run(dir, [`no-such-command-${"x".repeat(10_000)}`]).pipe(Effect.flip)
      assert.isAtMost(new TextEncoder().encode(error.stderr).length, 4096)
      assert.isTrue(error.stderr.endsWith("(stderr cut)"))
      assert.isTrue(error.stderr.startsWith("git: 'no-such-command-xxx"))
    })
  )

  live("git never waits for a person: no editor, no prompt, no pager", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      git(repo.dir, "config", "core.editor", "sleep 1000")
      git(repo.dir, "config", "core.pager", "sleep 1000")
      const started = Date.now()
      // `commit` without `-m` opens the editor: GIT_EDITOR=true makes it return an empty message at once.
      const commit = yield* Git.run(repo.dir, ["commit", "--allow-empty"], {
        env: {
          GIT_AUTHOR_NAME: "a",
          GIT_AUTHOR_EMAIL: "a@x",
          GIT_COMMITTER_NAME: "a",
          GIT_COMMITTER_EMAIL: "a@x"
        }
      }).pipe(Effect.flip)
      assert.include(commit.stderr, "empty commit message")
      const log = yield* Git.run(repo.dir, ["log", "--oneline"])
      assert.include(log.stdout, "initial")
      // A remote that would ask for a password fails instead of prompting.
      const fetch = yield* Git.run(repo.dir, ["ls-remote", "https://127.0.0.1:1/nothing.git"]).pipe(
        Effect.flip
      )
      assert.isNotNull(fetch.exitCode)
      assert.isBelow(Date.now() - started, 10_000)
    })
  )

  live("interrupting a call ends git and what it started, and leaves no lock behind", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ ".gitattributes": "*.txt filter=slow\n", "a.txt": "a\n" })
      const pidFile = Path.join(repo.root, "filter.pid")
      // A smudge filter that hangs: checking out a.txt blocks in it.
      git(repo.dir, "config", "filter.slow.smudge", `echo $$ > '${pidFile}'; sleep 30; cat`)
      Fs.rmSync(Path.join(repo.dir, "a.txt"))
      const fiber = yield* Effect.forkChild(Git.checkoutDetached(repo.dir, "HEAD"))
      for (let i = 0; i < 500 && !Fs.existsSync(pidFile); i++) yield* Effect.sleep("10 millis")
      const pid = Number(Fs.readFileSync(pidFile, "utf8").trim())
      assert.isTrue(alive(pid))
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      assert.isBelow(Date.now() - started, 3_000)
      try {
        for (let i = 0; i < 100 && alive(pid); i++) yield* Effect.sleep("10 millis")
        assert.isFalse(alive(pid), "the filter outlived the interrupted git")
      } finally {
        if (alive(pid)) process.kill(pid, "SIGKILL")
      }
      assert.isFalse(Fs.existsSync(Path.join(repo.dir, ".git", "index.lock")))
      // The repository is usable at once.
      git(repo.dir, "config", "--unset", "filter.slow.smudge")
      yield* Git.checkoutDetached(repo.dir, "HEAD")
      assert.strictEqual(Fs.readFileSync(Path.join(repo.dir, "a.txt"), "utf8"), "a\n")
    })
  )

  live("the caller's GIT_DIR and GIT_WORK_TREE do not redirect a command to another repository", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const other = yield* makeRepo({ "b.txt": "b\n" }, { message: "other" })
      const saved = { dir: process.env.GIT_DIR, tree: process.env.GIT_WORK_TREE }
      process.env.GIT_DIR = Path.join(other.dir, ".git")
      process.env.GIT_WORK_TREE = other.dir
      const head = yield* Git.revParse(repo.dir, "HEAD").pipe(
        Effect.ensuring(
          Effect.sync(() => {
            if (saved.dir === undefined) delete process.env.GIT_DIR
            else process.env.GIT_DIR = saved.dir
            if (saved.tree === undefined) delete process.env.GIT_WORK_TREE
            else process.env.GIT_WORK_TREE = saved.tree
          })
        )
      )
      assert.strictEqual(head, repo.initial)
    })
  )

  live("no hook of the repository runs", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const hooks = Path.join(repo.dir, ".git", "hooks")
      const marker = Path.join(repo.root, "hook-ran")
      for (const hook of [
        "pre-commit",
        "commit-msg",
        "prepare-commit-msg",
        "post-commit",
        "post-checkout",
        "reference-transaction"
      ]) {
        Fs.writeFileSync(Path.join(hooks, hook), `#!/bin/sh\necho ${hook} >> "${marker}"\nexit 1\n`, {
          mode: 0o755
        })
      }
      writeFiles(repo.dir, { "b.txt": "b\n" })
      const commit = yield* Git.commitAll(repo.dir, { message: "b", author })
      assert.isTrue(Option.isSome(commit))
      yield* Git.worktreeAdd(repo.dir, { path: Path.join(repo.root, "w"), branch: "w", base: "main" })
      yield* Git.updateRef(repo.dir, "refs/heads/w", repo.initial, Option.getOrThrow(commit))
      assert.isFalse(Fs.existsSync(marker))
    })
  )
})

describe("Git: revisions", () => {
  live("revParse, tryRevParse, treeOf and topLevel", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n", "src/b.txt": "b\n" })
      assert.strictEqual(yield* Git.revParse(repo.dir, "main"), repo.initial)
      assert.strictEqual(yield* Git.revParse(repo.dir, "refs/heads/main"), repo.initial)
      assert.deepStrictEqual(yield* Git.tryRevParse(repo.dir, "main"), Option.some(repo.initial))
      assert.deepStrictEqual(yield* Git.tryRevParse(repo.dir, "refs/heads/nope"), Option.none())
      assert.strictEqual(yield* Git.treeOf(repo.dir, repo.initial), git(repo.dir, "rev-parse", "HEAD^{tree}"))
      assert.strictEqual(yield* Git.topLevel(Path.join(repo.dir, "src")), repo.dir)
      // Not a repository at all: tryRevParse still fails, it does not say "none".
      const outside = yield* makeTempDir()
      assert.strictEqual((yield* Git.tryRevParse(outside, "HEAD").pipe(Effect.flip))._tag, "GitError")
      assert.strictEqual((yield* Git.topLevel(outside).pipe(Effect.flip))._tag, "GitError")
    })
  )

  live("a revision that looks like an option is read as a revision", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      // `git diff --output=<file>` would write a file; after --end-of-options it is a revision that names nothing.
      const written = Path.join(repo.root, "written")
      const diff = yield* Git.diff(repo.dir, `--output=${written}`, "HEAD").pipe(Effect.flip)
      assert.strictEqual(diff._tag, "GitError")
      const changed = yield* Git.changedPaths(repo.dir, `--output=${written}`, "HEAD").pipe(Effect.flip)
      assert.strictEqual(changed._tag, "GitError")
      assert.isFalse(Fs.existsSync(written))
      assert.deepStrictEqual(yield* Git.tryRevParse(repo.dir, "--all"), Option.none())
      assert.strictEqual(
        (yield* Git.isAncestor(repo.dir, "--help", "HEAD").pipe(Effect.flip))._tag,
        "GitError"
      )
      assert.strictEqual(
        (yield* Git.mergeTree(repo.dir, "--help", "HEAD").pipe(Effect.flip))._tag,
        "GitError"
      )
    })
  )

  live("isAncestor: true, false, and a GitError for a revision that names nothing", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const second = commitFiles(repo.dir, { "a.txt": "b\n" })
      assert.isTrue(yield* Git.isAncestor(repo.dir, repo.initial, second))
      assert.isTrue(yield* Git.isAncestor(repo.dir, second, second))
      assert.isFalse(yield* Git.isAncestor(repo.dir, second, repo.initial))
      const error = yield* Git.isAncestor(repo.dir, "nope", second).pipe(Effect.flip)
      assert.strictEqual(error.exitCode, 128)
    })
  )
})

describe("Git: the working tree", () => {
  live("status: codes, renames, hostile paths, and untracked files counted only when asked", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n", "old.txt": "moved\n", "gone.txt": "x\n" })
      assert.deepStrictEqual(yield* Git.status(repo.dir), { clean: true, entries: [] })
      writeFiles(repo.dir, {
        "a.txt": "changed\n",
        ...Object.fromEntries(hostile.map((name) => [name, "new\n"]))
      })
      writeFiles(repo.dir, { "line\nbreak.txt": "new\n", "ignored.log": "x\n", ".gitignore": "*.log\n" })
      Fs.rmSync(Path.join(repo.dir, "gone.txt"))
      git(repo.dir, "mv", "old.txt", "new.txt")

      const all = yield* Git.status(repo.dir)
      assert.isFalse(all.clean)
      const byPath = new Map(all.entries.map((entry) => [entry.path, entry]))
      assert.strictEqual(byPath.get("a.txt")?.code, " M")
      assert.strictEqual(byPath.get("gone.txt")?.code, " D")
      assert.strictEqual(byPath.get("new.txt")?.code, "R ")
      assert.deepStrictEqual(byPath.get("new.txt")?.from, Option.some("old.txt"))
      for (const name of [...hostile, "line\nbreak.txt", ".gitignore"])
        assert.strictEqual(byPath.get(name)?.code, "??", name)
      assert.isFalse(byPath.has("ignored.log"))

      const tracked = yield* Git.status(repo.dir, { untracked: false })
      assert.deepStrictEqual(tracked.entries.map((entry) => entry.path).sort(), [
        "a.txt",
        "gone.txt",
        "new.txt"
      ])

      git(repo.dir, "reset", "-q", "--hard")
      const onlyUntracked = yield* Git.status(repo.dir, { untracked: false })
      assert.isTrue(onlyUntracked.clean)
      assert.isFalse((yield* Git.status(repo.dir)).clean)
      assertNoPwned(repo.dir, repo.root)
    })
  )

  live("currentBranch: the branch, none when detached, the branch of a fresh repository", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" }, { branch: "trunk" })
      assert.deepStrictEqual(yield* Git.currentBranch(repo.dir), Option.some("trunk"))
      git(repo.dir, "checkout", "-q", "--detach")
      assert.deepStrictEqual(yield* Git.currentBranch(repo.dir), Option.none())
      const fresh = Path.join(repo.root, "fresh")
      git(repo.root, "init", "-q", "-b", "unborn", fresh)
      assert.deepStrictEqual(yield* Git.currentBranch(fresh), Option.some("unborn"))
    })
  )

  live(
    "commitAll: new, changed and deleted files with the given identities and date; none when nothing changed",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n", "gone.txt": "x\n", ".gitignore": "*.log\n" })
        assert.deepStrictEqual(yield* Git.commitAll(repo.dir, { message: "nothing", author }), Option.none())
        writeFiles(repo.dir, { "a.txt": "changed\n", "new dir/ü.txt": "new\n", "build.log": "ignored\n" })
        Fs.rmSync(Path.join(repo.dir, "gone.txt"))
        const made = yield* Git.commitAll(repo.dir, {
          message: "$(touch pwned) the message",
          author,
          committer: { name: "Pool", email: "pool@example.com" },
          date: "2026-12-06T12:00:00Z"
        })
        assert.isTrue(Option.isSome(made))
        const commit = Option.getOrThrow(made)
        assert.match(commit, sha)
        assert.strictEqual(git(repo.dir, "rev-parse", "HEAD"), commit)
        assert.strictEqual(
          git(repo.dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%aI|%cI|%s"),
          "Ada Lovelace <ada@example.com>|Pool <pool@example.com>|2026-12-06T12:00:00+00:00|2026-12-06T12:00:00+00:00|$(touch pwned) the message"
        )
        assert.deepStrictEqual(
          git(repo.dir, "show", "--name-status", "--format=", commit).split("\n").sort(),
          ["A\tnew dir/ü.txt", "D\tgone.txt", "M\ta.txt"]
        )
        assert.strictEqual(git(repo.dir, "status", "--porcelain"), "")
        assert.isTrue(Fs.existsSync(Path.join(repo.dir, "build.log")))

        // The committer defaults to the author.
        writeFiles(repo.dir, { "a.txt": "again\n" })
        yield* Git.commitAll(repo.dir, { message: "again", author })
        assert.strictEqual(git(repo.dir, "log", "-1", "--format=%cn <%ce>"), "Ada Lovelace <ada@example.com>")
        assertNoPwned(repo.dir, repo.root)
      })
  )

  live("commitAll makes the first commit of a fresh repository", () =>
    Effect.gen(function* () {
      const root = yield* makeTempDir()
      git(root, "init", "-q", "-b", "main", "fresh")
      const fresh = Path.join(root, "fresh")
      writeFiles(fresh, { "a.txt": "a\n" })
      const made = yield* Git.commitAll(fresh, { message: "first", author })
      assert.strictEqual(git(fresh, "rev-parse", "main"), Option.getOrThrow(made))
    })
  )

  live(
    "commitWork and headOf: the commit, its tree, parents and changed paths from one diff-tree, even beside a file named HEAD",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n" })
        assert.deepStrictEqual(yield* Git.commitWork(repo.dir, { message: "nothing", author }), Option.none())
        writeFiles(repo.dir, { HEAD: "a file named HEAD\n", "b.txt": "b\n" })
        const made = Option.getOrThrow(yield* Git.commitWork(repo.dir, { message: "b", author }))
        assert.strictEqual(made.commit, git(repo.dir, "rev-parse", "HEAD"))
        assert.strictEqual(made.tree, git(repo.dir, "rev-parse", "HEAD^{tree}"))
        assert.notStrictEqual(made.commit, repo.initial)
        assert.deepStrictEqual(made.parents, [repo.initial])
        // As changedPaths tells them: the two new files, relative to the top.
        assert.deepStrictEqual(made.changed, ["HEAD", "b.txt"])
        assert.deepStrictEqual(yield* Git.headOf(repo.dir), made)
        Fs.renameSync(Path.join(repo.dir, "a.txt"), Path.join(repo.dir, "odd name\n.txt"))
        const moved = Option.getOrThrow(yield* Git.commitWork(repo.dir, { message: "move", author }))
        assert.deepStrictEqual(moved.changed, yield* Git.changedPaths(repo.dir, made.commit, moved.commit))
        assert.deepStrictEqual(moved.changed.toSorted(), ["a.txt", "odd name\n.txt"])
        // A commit that changes nothing, and a merge: their header still comes, with no paths.
        git(repo.dir, "commit", "--allow-empty", "-qm", "empty")
        const empty = yield* Git.headOf(repo.dir)
        assert.deepStrictEqual([empty.parents, empty.changed], [[moved.commit], []])
        git(repo.dir, "checkout", "-qb", "side", made.commit)
        writeFiles(repo.dir, { "side.txt": "side\n" })
        git(repo.dir, "add", "-A")
        git(repo.dir, "commit", "-qm", "side")
        git(repo.dir, "merge", "-q", "--no-edit", "main")
        const merge = yield* Git.headOf(repo.dir)
        assert.strictEqual(merge.parents.length, 2)
        assert.deepStrictEqual(merge.changed, [])
        // A branch with no commit yet: a GitError, not a made-up id.
        const root = yield* makeTempDir()
        git(root, "init", "-q", "-b", "main", "fresh")
        const error = yield* Git.headOf(Path.join(root, "fresh")).pipe(Effect.flip)
        assert.strictEqual(error._tag, "GitError")
      })
  )

  live(
    "a command's environment: git's fixed variables under the caller's own, and its group ended after it",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n" })
        // Through the fork server once it is up (the first commands of a forked service may go direct).
        yield* Git.run(repo.dir, ["--version"])
        yield* Effect.sleep("400 millis")
        const env = { GIT_AUTHOR_NAME: "Extra Name", GIT_AUTHOR_EMAIL: "extra@example.com" }
        const ident = yield* Git.run(repo.dir, ["var", "GIT_AUTHOR_IDENT"], { env })
        assert.match(ident.stdout, /^Extra Name <extra@example\.com> /)
        // The fixed variables come with every command, with or without variables of its own.
        assert.strictEqual((yield* Git.run(repo.dir, ["var", "GIT_PAGER"], { env })).stdout.trim(), "cat")
        assert.strictEqual((yield* Git.run(repo.dir, ["var", "GIT_PAGER"])).stdout.trim(), "cat")
        // A process git leaves behind in its group (an alias's background job) is ended once git is done.
        const left = yield* Git.run(repo.dir, ["-c", "alias.bg=!sleep 30 >/dev/null 2>&1 & echo $!", "bg"])
        const pid = Number(left.stdout.trim())
        assert.isTrue(pid > 0, left.stdout)
        const alive = () => {
          try {
            return !/^\S+ \S+ [ZX] /.test(Fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/\(.*\)/, "x"))
          } catch {
            return false
          }
        }
        for (let i = 0; i < 100 && alive(); i++) yield* Effect.sleep("20 millis")
        assert.isFalse(alive(), `sleep ${pid} still runs`)
      })
  )

  live("checkoutDetached: exactly the commit's files, except what `keep` names", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n", ".gitignore": "node_modules/\n*.log\n" })
      const second = commitFiles(repo.dir, { "b.txt": "b\n" })
      const gate = Path.join(repo.root, "gate")
      yield* Git.worktreeAddDetached(repo.dir, { path: gate, commit: second })
      writeFiles(gate, {
        "a.txt": "edited\n",
        "untracked.txt": "x\n",
        "out/deep/file.txt": "x\n",
        "run.log": "x\n",
        "node_modules/dep/index.js": "cached\n"
      })
      Fs.rmSync(Path.join(gate, "b.txt"))
      yield* Git.checkoutDetached(gate, repo.initial, { keep: ["node_modules/"] })
      assert.strictEqual(git(gate, "rev-parse", "HEAD"), repo.initial)
      assert.deepStrictEqual(yield* Git.currentBranch(gate), Option.none())
      assert.strictEqual(Fs.readFileSync(Path.join(gate, "a.txt"), "utf8"), "a\n")
      assert.deepStrictEqual(Fs.readdirSync(gate).sort(), [".git", ".gitignore", "a.txt", "node_modules"])

      yield* Git.checkoutDetached(gate, "main")
      assert.deepStrictEqual(Fs.readdirSync(gate).sort(), [".git", ".gitignore", "a.txt", "b.txt"])
      assert.strictEqual((yield* Git.checkoutDetached(gate, "nope").pipe(Effect.flip))._tag, "GitError")
    })
  )
})

describe("Git: syncCheckout", () => {
  /** A repository whose main moved from `old` to `next` (as the merge train moves it) while checked out. */
  const moved = Effect.gen(function* () {
    const repo = yield* makeRepo({ "changed.txt": "old\n", "same.txt": "same\n", "deleted.txt": "x\n" })
    const old = repo.initial
    const side = Path.join(repo.root, "side")
    git(repo.dir, "worktree", "add", "-q", "--detach", side, old)
    Fs.rmSync(Path.join(side, "deleted.txt"))
    const next = commitFiles(side, { "changed.txt": "next\n", "added.txt": "added\n" }, "next")
    yield* Git.updateRef(repo.dir, "refs/heads/main", next, old)
    return { repo, old, next }
  })

  live("updates what next changed and keeps the user's unrelated edits and untracked files", () =>
    Effect.gen(function* () {
      const { next, old, repo } = yield* moved
      writeFiles(repo.dir, { "same.txt": "my edit\n", "mine.txt": "untracked\n" })
      yield* Git.syncCheckout(repo.dir, old, next)
      const read = (name: string) => Fs.readFileSync(Path.join(repo.dir, name), "utf8")
      assert.strictEqual(read("changed.txt"), "next\n")
      assert.strictEqual(read("added.txt"), "added\n")
      assert.isFalse(Fs.existsSync(Path.join(repo.dir, "deleted.txt")))
      assert.strictEqual(read("same.txt"), "my edit\n")
      assert.strictEqual(read("mine.txt"), "untracked\n")
      // Against the moved branch, only the user's own changes remain.
      assert.strictEqual(git(repo.dir, "status", "--porcelain"), " M same.txt\n?? mine.txt")
    })
  )

  live("refuses without loss when a local edit, a staged edit or an untracked file is in the way", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, (dir: string) => void]> = [
        ["edited", (dir) => writeFiles(dir, { "changed.txt": "my edit\n" })],
        [
          "staged",
          (dir) => {
            writeFiles(dir, { "changed.txt": "my staged edit\n" })
            git(dir, "add", "changed.txt")
          }
        ],
        ["untracked", (dir) => writeFiles(dir, { "added.txt": "mine, not theirs\n" })]
      ]
      for (const [name, dirty] of cases) {
        const { next, old, repo } = yield* moved
        dirty(repo.dir)
        const files = () =>
          Object.fromEntries(
            Fs.readdirSync(repo.dir)
              .filter((entry) => entry !== ".git")
              .map((entry) => [entry, Fs.readFileSync(Path.join(repo.dir, entry), "utf8")])
          )
        const before = { files: files(), index: git(repo.dir, "ls-files", "-s") }
        const error = yield* Git.syncCheckout(repo.dir, old, next).pipe(Effect.flip)
        assert.strictEqual(error._tag, "CheckoutStale", name)
        if (error._tag === "CheckoutStale") {
          assert.include(error.detail, name === "untracked" ? "added.txt" : "changed.txt", name)
          assert.strictEqual(error.old, old)
          assert.strictEqual(error.next, next)
        }
        assert.deepStrictEqual({ files: files(), index: git(repo.dir, "ls-files", "-s") }, before, name)
      }
    })
  )
})

describe("Git: comparing and merging", () => {
  live("changedPaths lists both sides of a rename and hostile paths as they are", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "old name.txt": "content that stays the same\n", "a.txt": "a\n" })
      git(repo.dir, "mv", "old name.txt", "new name.txt")
      const next = commitFiles(repo.dir, Object.fromEntries(hostile.map((name) => [`dir/${name}`, "x\n"])))
      const paths = yield* Git.changedPaths(repo.dir, repo.initial, next)
      assert.deepStrictEqual(
        [...paths].sort(),
        [...hostile.map((name) => `dir/${name}`), "new name.txt", "old name.txt"].sort()
      )
      assert.deepStrictEqual(yield* Git.changedPaths(repo.dir, next, next), [])
      assertNoPwned(repo.dir, repo.root)
    })
  )

  live("diff: literal paths, no external diff program, cut at a line end with a marker", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n", "*.txt": "star\n", "b.txt": "b\n" })
      // The user's external diff must not run: it would write this file.
      const marker = Path.join(repo.root, "external-ran")
      Fs.writeFileSync(Path.join(repo.root, "ext.sh"), `#!/bin/sh\ntouch "${marker}"\n`, { mode: 0o755 })
      git(repo.dir, "config", "diff.external", Path.join(repo.root, "ext.sh"))
      const next = commitFiles(repo.dir, { "a.txt": "A\n", "*.txt": "STAR\n", "b.txt": "B\n" })

      const star = yield* Git.diff(repo.dir, repo.initial, next, ["*.txt"])
      assert.include(star, "diff --git a/*.txt b/*.txt")
      assert.include(star, "+STAR")
      assert.notInclude(star, "a.txt") // "*.txt" is a file name, not a glob
      const all = yield* Git.diff(repo.dir, repo.initial, next)
      assert.strictEqual(all, git(repo.dir, "diff", "--no-ext-diff", repo.initial, next) + "\n")
      assert.isFalse(Fs.existsSync(marker))

      const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ✓`).join("\n") + "\n"
      const big = commitFiles(repo.dir, { "big.txt": lines })
      const whole = yield* Git.diff(repo.dir, next, big, undefined, { maxBytes: 1_000_000 })
      const size = new TextEncoder().encode(whole).length
      const cut = yield* Git.diff(repo.dir, next, big, undefined, { maxBytes: 1000 })
      const [body, markerLine] = [
        cut.slice(0, cut.lastIndexOf("\n[diff cut")),
        cut.slice(cut.lastIndexOf("\n[diff cut"))
      ]
      assert.isTrue(whole.startsWith(body))
      assert.isTrue(body.endsWith("\n"))
      assert.isAtMost(new TextEncoder().encode(body).length, 1000)
      assert.strictEqual(
        markerLine,
        `\n[diff cut: ${new TextEncoder().encode(body).length} of ${size} bytes shown]\n`
      )
    })
  )

  live(
    "mergeTree: clean merges, conflicting paths for two edits of one line, and a GitError for a bad revision",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({
          "shared.txt": "one\ntwo\nthree\n",
          "other.txt": "x\n",
          "doomed.txt": "d\n"
        })
        const side = Path.join(repo.root, "side")
        git(repo.dir, "worktree", "add", "-q", "--detach", side, repo.initial)
        const ours = commitFiles(
          repo.dir,
          { "shared.txt": "one\nOURS\nthree\n", "doomed.txt": "edited\n" },
          "ours"
        )
        Fs.rmSync(Path.join(side, "doomed.txt"))
        const theirs = commitFiles(
          side,
          { "shared.txt": "one\nTHEIRS\nthree\n", "with space ü.txt": "new\n" },
          "theirs"
        )
        const apart = commitFiles(side, { "other.txt": "y\n" }, "apart")

        const conflict = yield* Git.mergeTree(repo.dir, ours, theirs)
        assert.strictEqual(conflict._tag, "Conflict")
        if (conflict._tag === "Conflict") {
          assert.deepStrictEqual([...conflict.paths].sort(), ["doomed.txt", "shared.txt"])
          assert.match(conflict.tree, sha)
          assert.include(git(repo.dir, "show", `${conflict.tree}:shared.txt`), "<<<<<<<")
        }

        git(side, "checkout", "-q", "--detach", repo.initial)
        const clean = commitFiles(side, { "other.txt": "z\n", "new ü.txt": "n\n" }, "clean")
        const merged = yield* Git.mergeTree(repo.dir, ours, clean)
        assert.strictEqual(merged._tag, "Clean")
        assert.deepStrictEqual(git(repo.dir, "ls-tree", "--name-only", merged.tree).split("\n").sort(), [
          "doomed.txt",
          "new ü.txt",
          "other.txt",
          "shared.txt"
        ])
        assert.strictEqual(git(repo.dir, "show", `${merged.tree}:shared.txt`), "one\nOURS\nthree")
        assert.strictEqual((yield* Git.mergeTree(repo.dir, theirs, apart))._tag, "Clean")

        // merge-tree exits 1 for a revision it cannot read, as for a conflict: that must not pass for a conflict.
        const bad = yield* Git.mergeTree(repo.dir, ours, "no-such-commit").pipe(Effect.flip)
        assert.strictEqual(bad._tag, "GitError")
        assert.strictEqual(bad.exitCode, 1)
      })
  )

  live(
    "commitTree: the tree, the parents in order, the identities; the same inputs give the same commit",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n" })
        const second = commitFiles(repo.dir, { "b.txt": "b\n" })
        const tree = yield* Git.treeOf(repo.dir, second)
        const options = {
          tree,
          parents: [second, repo.initial],
          message: "Merge t1\n\nhandoffkit-task: t1",
          author,
          committer: { name: "Pool", email: "pool@example.com" },
          date: "@1700000000 +0000"
        }
        const merge = yield* Git.commitTree(repo.dir, options)
        assert.match(merge, sha)
        assert.strictEqual(merge, yield* Git.commitTree(repo.dir, options))
        assert.strictEqual(
          git(repo.dir, "log", "-1", "--format=%T|%P|%an|%cn|%at|%B", merge),
          `${tree}|${second} ${repo.initial}|Ada Lovelace|Pool|1700000000|Merge t1\n\nhandoffkit-task: t1\n`
        )
        assert.strictEqual(git(repo.dir, "rev-parse", "main"), second) // no ref moved
        const bad = yield* Git.commitTree(repo.dir, { ...options, parents: ["nope"] }).pipe(Effect.flip)
        assert.strictEqual(bad._tag, "GitError")
      })
  )
})

describe("Git: refs", () => {
  live(
    "updateRef moves a ref that is where it was expected, and reports RefMoved with the actual value otherwise",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n" })
        const second = commitFiles(repo.dir, { "a.txt": "b\n" })
        const third = commitFiles(repo.dir, { "a.txt": "c\n" })
        git(repo.dir, "update-ref", "refs/heads/target", repo.initial)

        yield* Git.updateRef(repo.dir, "refs/heads/target", second, repo.initial)
        assert.strictEqual(git(repo.dir, "rev-parse", "refs/heads/target"), second)

        const stale = yield* Git.updateRef(repo.dir, "refs/heads/target", third, repo.initial).pipe(
          Effect.flip
        )
        assert.strictEqual(stale._tag, "RefMoved")
        if (stale._tag === "RefMoved") {
          assert.deepStrictEqual(
            { ref: stale.ref, expected: stale.expected, actual: stale.actual },
            { ref: "refs/heads/target", expected: repo.initial, actual: second }
          )
        }
        assert.strictEqual(git(repo.dir, "rev-parse", "refs/heads/target"), second)

        const absent = yield* Git.updateRef(repo.dir, "refs/heads/absent", third, second).pipe(Effect.flip)
        assert.strictEqual(absent._tag === "RefMoved" ? absent.actual : "?", null)

        // A short name would make update-ref write .git/target: refused before git runs.
        const short = yield* Git.updateRef(repo.dir, "target", third, second).pipe(Effect.flip)
        assert.strictEqual(short._tag, "GitError")
        assert.isFalse(Fs.existsSync(Path.join(repo.dir, ".git", "target")))

        // The ref is where it was expected, but next is no object: a GitError, not a move.
        const bogus = yield* Git.updateRef(repo.dir, "refs/heads/target", "f".repeat(40), second).pipe(
          Effect.flip
        )
        assert.strictEqual(bogus._tag, "GitError")
        assert.strictEqual(git(repo.dir, "rev-parse", "refs/heads/target"), second)
      })
  )

  live(
    "createRef creates only what does not exist; deleteRef deletes only what is where it was expected",
    () =>
      Effect.gen(function* () {
        const repo = yield* makeRepo({ "a.txt": "a\n" })
        const second = commitFiles(repo.dir, { "a.txt": "b\n" })
        yield* Git.createRef(repo.dir, "refs/handoffkit/claim", repo.initial)
        const taken = yield* Git.createRef(repo.dir, "refs/handoffkit/claim", second).pipe(Effect.flip)
        assert.deepStrictEqual(taken._tag === "RefMoved" ? [taken.expected, taken.actual] : [], [
          null,
          repo.initial
        ])
        const wrong = yield* Git.deleteRef(repo.dir, "refs/handoffkit/claim", second).pipe(Effect.flip)
        assert.strictEqual(wrong._tag === "RefMoved" ? wrong.actual : "?", repo.initial)
        assert.strictEqual(git(repo.dir, "rev-parse", "refs/handoffkit/claim"), repo.initial)
        yield* Git.deleteRef(repo.dir, "refs/handoffkit/claim", repo.initial)
        assert.strictEqual(
          gitResult(repo.dir, "rev-parse", "--verify", "--quiet", "refs/handoffkit/claim").status,
          1
        )
      })
  )
})

describe("Git: deleteRefs and input", () => {
  live("deleteRefs deletes all of its refs in one transaction, or none when one of them moved", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const second = commitFiles(repo.dir, { "a.txt": "b\n" })
      const names = ["refs/heads/handoffkit/a/1", "refs/heads/handoffkit/b/1", "refs/heads/handoffkit/cü/1"]
      for (const name of names) git(repo.dir, "update-ref", name, repo.initial)
      // One moved: none is deleted, and the error names the moved one.
      git(repo.dir, "update-ref", names[1]!, second)
      const moved = yield* Git.deleteRefs(
        repo.dir,
        names.map((ref) => ({ ref, expected: repo.initial }))
      ).pipe(Effect.flip)
      assert.deepStrictEqual(
        moved._tag === "RefMoved" ? [moved.ref, moved.expected, moved.actual] : [moved._tag],
        [names[1], repo.initial, second]
      )
      for (const name of names)
        assert.strictEqual(gitResult(repo.dir, "rev-parse", "--verify", name).status, 0)
      // Each where it was expected: all go.
      yield* Git.deleteRefs(repo.dir, [
        { ref: names[0]!, expected: repo.initial },
        { ref: names[1]!, expected: second },
        { ref: names[2]!, expected: repo.initial }
      ])
      for (const name of names)
        assert.strictEqual(gitResult(repo.dir, "rev-parse", "--verify", name).status, 128)
      // A short name is refused before git runs; no refs, nothing to do.
      const short = yield* Git.deleteRefs(repo.dir, [{ ref: "main", expected: second }]).pipe(Effect.flip)
      assert.strictEqual(short._tag, "GitError")
      yield* Git.deleteRefs(repo.dir, [])
      assert.strictEqual(git(repo.dir, "rev-parse", "main"), second)
    })
  )

  live("run writes `input` to git's stdin", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const input = "héllo\n".repeat(20_000)
      const hashed = yield* Git.run(repo.dir, ["hash-object", "--stdin"], { input })
      const file = Path.join(repo.root, "input.txt")
      Fs.writeFileSync(file, input)
      assert.strictEqual(hashed.stdout.trim(), git(repo.dir, "hash-object", file))
    })
  )
})

describe("Git: branches", () => {
  live("branchExists and listBranches look at local branches only, by exact name and plain prefix", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      for (const name of ["handoffkit/t1/1", "handoffkit/t2/1", "handoffkitty", "other"]) {
        git(repo.dir, "branch", name)
      }
      git(repo.dir, "tag", "v1")
      git(repo.dir, "update-ref", "refs/remotes/origin/remote-only", repo.initial)
      assert.isTrue(yield* Git.branchExists(repo.dir, "handoffkit/t1/1"))
      assert.isFalse(yield* Git.branchExists(repo.dir, "handoffkit"))
      assert.isFalse(yield* Git.branchExists(repo.dir, "v1"))
      assert.isFalse(yield* Git.branchExists(repo.dir, "remote-only"))
      assert.deepStrictEqual(yield* Git.listBranches(repo.dir, "handoffkit/"), [
        { name: "handoffkit/t1/1", commit: repo.initial },
        { name: "handoffkit/t2/1", commit: repo.initial }
      ])
      assert.deepStrictEqual(
        (yield* Git.listBranches(repo.dir, "")).map((branch) => branch.name),
        ["handoffkit/t1/1", "handoffkit/t2/1", "handoffkitty", "main", "other"]
      )
    })
  )

  live("deleteMergedBranch deletes a merged branch, and keeps an unmerged or checked-out one", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      git(repo.dir, "branch", "merged")
      const work = Path.join(repo.root, "work")
      git(repo.dir, "worktree", "add", "-q", "-b", "unmerged", work)
      const unmergedTip = commitFiles(work, { "work.txt": "precious\n" }, "work")

      assert.isTrue(yield* Git.deleteMergedBranch(repo.dir, "merged", "refs/heads/main"))
      assert.isFalse(yield* Git.branchExists(repo.dir, "merged"))
      assert.isFalse(yield* Git.deleteMergedBranch(repo.dir, "merged", "main")) // already gone

      // Unmerged (and checked out): not merged comes first.
      const unmergedHeld = yield* Git.deleteMergedBranch(repo.dir, "unmerged", "main").pipe(Effect.flip)
      assert.strictEqual(unmergedHeld._tag, "BranchNotMerged")
      yield* Git.worktreeRemove(repo.dir, work)
      const notMerged = yield* Git.deleteMergedBranch(repo.dir, "unmerged", "main").pipe(Effect.flip)
      assert.strictEqual(notMerged._tag, "BranchNotMerged")
      assert.strictEqual(
        notMerged.message,
        `the branch unmerged in ${repo.dir} is not merged into main: it was kept`
      )
      assert.strictEqual(git(repo.dir, "rev-parse", "refs/heads/unmerged"), unmergedTip)

      // Merged now, but checked out in a worktree: kept until the worktree goes.
      yield* Git.updateRef(repo.dir, "refs/heads/main", unmergedTip, repo.initial)
      yield* Git.worktreeAddExisting(repo.dir, { path: work, branch: "unmerged" })
      const held = yield* Git.deleteMergedBranch(repo.dir, "unmerged", "main").pipe(Effect.flip)
      assert.strictEqual(held._tag, "BranchCheckedOut")
      assert.strictEqual(held._tag === "BranchCheckedOut" ? held.worktree : "", work)
      yield* Git.worktreeRemove(repo.dir, work)
      assert.isTrue(yield* Git.deleteMergedBranch(repo.dir, "unmerged", "main"))
      assert.strictEqual(git(repo.dir, "rev-parse", "main"), unmergedTip)

      // There is no way around the guard.
      assert.notProperty(Git, "deleteBranchForce")
      assert.notProperty(Git, "deleteBranch")
    })
  )

  live("checkRefFormat accepts what git branch accepts", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, boolean]> = [
        ["handoffkit/t-1/1", true],
        ["ünïcode", true],
        ["feature.x", true],
        ["", false],
        ["has space", false],
        ["-rf", false],
        ["a..b", false],
        ["x.lock", false],
        ["trailing/", false],
        [".hidden", false],
        ["a:b", false],
        ["a~1", false],
        ["a^", false],
        ["a?", false],
        ["a*", false],
        ["a[b", false],
        ["a\\b", false],
        ["a@{b", false],
        ["HEAD", false],
        ["@", false],
        ["tab\there", false],
        ["$(touch pwned)", false]
      ]
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      for (const [name, expected] of cases) {
        assert.strictEqual(yield* Git.checkRefFormat(name), expected, JSON.stringify(name))
        // The same verdict as git branch itself, except for "@": git makes that branch, but reads "@" as HEAD
        // wherever a revision is expected, so it is refused here.
        if (name === "" || name === "@") continue
        const made = gitResult(repo.dir, "branch", "--", name).status === 0
        assert.strictEqual(made, expected, `git branch ${JSON.stringify(name)}`)
        if (made) git(repo.dir, "branch", "-D", "--", name)
      }
      assertNoPwned(repo.dir, repo.root)
    })
  )
})

describe("Git: worktrees", () => {
  // git's worktree administration races with itself: an `add` that lists the worktrees while another `add`
  // is writing its entry fails with "failed to read .git/worktrees/<x>/commondir" (the pool's benchmark hit
  // it with 8 workers). The service runs them one at a time; this drives many at once, adds and removes.
  live("many concurrent worktree adds and removes on one repository all succeed", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      for (let round = 0; round < 3; round++) {
        const names = Array.from({ length: 12 }, (_, i) => `r${round}-w${i}`)
        yield* Effect.forEach(
          names,
          (name) =>
            Git.worktreeAdd(repo.dir, { path: Path.join(repo.root, name), branch: name, base: "main" }),
          { concurrency: "unbounded", discard: true }
        )
        const listed = yield* Git.worktreeList(repo.dir)
        assert.strictEqual(listed.length, 1 + names.length)
        yield* Effect.forEach(names, (name) => Git.worktreeRemove(repo.dir, Path.join(repo.root, name)), {
          concurrency: "unbounded",
          discard: true
        })
        assert.strictEqual((yield* Git.worktreeList(repo.dir)).length, 1)
      }
    })
  )

  live("worktreeAdd with hostile paths and branch names; BranchExists; worktreeList and worktreeRemove", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const paths = hostile.map((name) => Path.join(repo.root, name))
      for (const [i, path] of paths.entries()) {
        yield* Git.worktreeAdd(repo.dir, { path, branch: `t${i}/ü`, base: "main" })
        assert.strictEqual(Fs.readFileSync(Path.join(path, "a.txt"), "utf8"), "a\n")
        assert.deepStrictEqual(yield* Git.currentBranch(path), Option.some(`t${i}/ü`))
      }
      // A relative path is relative to the repository.
      yield* Git.worktreeAdd(repo.dir, { path: "../relative", branch: "rel", base: repo.initial })
      assert.isTrue(Fs.existsSync(Path.join(repo.root, "relative", "a.txt")))

      const listed = yield* Git.worktreeList(repo.dir)
      assert.deepStrictEqual(listed[0], {
        path: repo.dir,
        head: repo.initial,
        branch: Option.some("main"),
        locked: false,
        prunable: false
      })
      assert.deepStrictEqual(
        // Linked worktrees come in the order of git's administrative directories, not of their creation.
        listed
          .slice(1)
          .map((tree) => [tree.path, Option.getOrNull(tree.branch), tree.head])
          .sort(),
        [
          ...paths.map((path, i) => [path, `t${i}/ü`, repo.initial]),
          [Path.join(repo.root, "relative"), "rel", repo.initial]
        ].sort()
      )

      const exists = yield* Git.worktreeAdd(repo.dir, {
        path: Path.join(repo.root, "fresh"),
        branch: "t0/ü",
        base: "main"
      }).pipe(Effect.flip)
      assert.strictEqual(exists._tag, "BranchExists")
      assert.isFalse(Fs.existsSync(Path.join(repo.root, "fresh")))

      for (const path of paths) {
        writeFiles(path, { "uncommitted.txt": "x\n", "node_modules/x.js": "x\n" })
        yield* Git.worktreeRemove(repo.dir, path)
        assert.isFalse(Fs.existsSync(path))
      }
      assert.strictEqual((yield* Git.worktreeList(repo.dir)).length, 2)
      assert.isTrue(yield* Git.branchExists(repo.dir, "t0/ü")) // the branch stays
      assertNoPwned(repo.dir, repo.root)
    })
  )

  live("worktreeAdd onto a taken path fails and leaves no branch behind", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const taken = Path.join(repo.root, "taken")
      writeFiles(taken, { "something.txt": "x\n" })
      const error = yield* Git.worktreeAdd(repo.dir, { path: taken, branch: "t1", base: "main" }).pipe(
        Effect.flip
      )
      assert.strictEqual(error._tag, "GitError")
      assert.include(error.message, "already exists")
      assert.isFalse(yield* Git.branchExists(repo.dir, "t1"))
      const badBase = yield* Git.worktreeAdd(repo.dir, {
        path: Path.join(repo.root, "w"),
        branch: "t2",
        base: "nope"
      }).pipe(Effect.flip)
      assert.strictEqual(badBase._tag, "GitError")
      assert.isFalse(yield* Git.branchExists(repo.dir, "t2"))
      // A branch name that is an option is refused by git, not read as one.
      const dash = yield* Git.worktreeAdd(repo.dir, {
        path: Path.join(repo.root, "d"),
        branch: "--detach",
        base: "main"
      }).pipe(Effect.flip)
      assert.strictEqual(dash._tag, "GitError")
      assert.isFalse(Fs.existsSync(Path.join(repo.root, "d")))
    })
  )

  live("worktreeAddExisting checks out the branch, refuses a missing one and one checked out elsewhere", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const first = Path.join(repo.root, "first")
      yield* Git.worktreeAdd(repo.dir, { path: first, branch: "t1", base: "main" })
      const tip = commitFiles(first, { "work.txt": "w\n" })
      yield* Git.worktreeRemove(repo.dir, first)

      const again = Path.join(repo.root, "again -x")
      yield* Git.worktreeAddExisting(repo.dir, { path: again, branch: "t1" })
      assert.deepStrictEqual(yield* Git.currentBranch(again), Option.some("t1"))
      assert.strictEqual(git(again, "rev-parse", "HEAD"), tip)

      const twice = yield* Git.worktreeAddExisting(repo.dir, {
        path: Path.join(repo.root, "twice"),
        branch: "t1"
      }).pipe(Effect.flip)
      assert.strictEqual(twice._tag, "GitError")
      const missing = yield* Git.worktreeAddExisting(repo.dir, {
        path: Path.join(repo.root, "m"),
        branch: "HEAD"
      }).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "NoSuchBranch")
      assert.isFalse(Fs.existsSync(Path.join(repo.root, "m")))
    })
  )

  live("worktreeRemove of a directory already gone prunes it; worktreePrune forgets only gone ones", () =>
    Effect.gen(function* () {
      const repo = yield* makeRepo({ "a.txt": "a\n" })
      const gone = Path.join(repo.root, "gone")
      const kept = Path.join(repo.root, "kept")
      yield* Git.worktreeAdd(repo.dir, { path: gone, branch: "gone", base: "main" })
      yield* Git.worktreeAddDetached(repo.dir, { path: kept, commit: repo.initial })
      Fs.rmSync(gone, { recursive: true })
      const listed = yield* Git.worktreeList(repo.dir)
      assert.deepStrictEqual(
        listed.map((tree) => [Path.basename(tree.path), tree.prunable, Option.getOrNull(tree.branch)]),
        [
          ["repo", false, "main"],
          ["gone", true, "gone"],
          ["kept", false, null]
        ]
      )
      yield* Git.worktreeRemove(repo.dir, gone)
      assert.deepStrictEqual(
        (yield* Git.worktreeList(repo.dir)).map((tree) => Path.basename(tree.path)),
        ["repo", "kept"]
      )
      yield* Git.worktreePrune(repo.dir)
      assert.strictEqual((yield* Git.worktreeList(repo.dir)).length, 2)
      // The branch of the gone worktree can be checked out again.
      yield* Git.worktreeAddExisting(repo.dir, { path: gone, branch: "gone" })
      // A directory that is not a worktree is not removed.
      const stranger = Path.join(repo.root, "stranger")
      writeFiles(stranger, { "file.txt": "not git's\n" })
      assert.strictEqual((yield* Git.worktreeRemove(repo.dir, stranger).pipe(Effect.flip))._tag, "GitError")
      assert.isTrue(Fs.existsSync(Path.join(stranger, "file.txt")))
    })
  )
})
