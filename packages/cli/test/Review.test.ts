import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Duration, Effect, Layer, Schema } from "effect"
import { NodeServices } from "@effect/platform-node"
import { Budget } from "@handoffkit/core"
import * as ScriptedServer from "@handoffkit/llm/ScriptedServer"
import * as Git from "@handoffkit/pool/Git"
import * as Plan from "@handoffkit/pool/Plan"
import { Check } from "@handoffkit/testing"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Review from "../src/Review.ts"

// Real temporary git repositories, real processes (node for the command reviewer, the codex CLI against a
// ScriptedServer on 127.0.0.1 for the codex reviewer).

const { Turn } = ScriptedServer

const reviewerScript = Path.join(import.meta.dirname, "fixtures", "review-reviewer.mjs")
const services = Layer.mergeAll(Git.layerNode, NodeServices.layer)

// -----------------------------------------------------------------------------
// repositories
// -----------------------------------------------------------------------------

/** The fixtures' git: no system or global config, a fixed identity, no hooks, no signing. */
const gitEnv: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "HandoffKit Test",
  GIT_AUTHOR_EMAIL: "test@handoffkit.local",
  GIT_COMMITTER_NAME: "HandoffKit Test",
  GIT_COMMITTER_EMAIL: "test@handoffkit.local",
  LC_ALL: "C"
}

const git = (dir: string, ...args: Array<string>): string =>
  execFileSync(
    "git",
    [
      "-C",
      dir,
      "-c",
      "core.quotePath=false",
      "-c",
      "commit.gpgSign=false",
      "-c",
      "core.hooksPath=/dev/null",
      ...args
    ],
    { env: gitEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }
  )

const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix)))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const writeFiles = (dir: string, files: Readonly<Record<string, string | Uint8Array>>): void => {
  for (const [path, content] of Object.entries(files)) {
    Fs.mkdirSync(Path.dirname(Path.join(dir, path)), { recursive: true })
    Fs.writeFileSync(Path.join(dir, path), content)
  }
}

/** A repository at `<tmp>/repo` with `files` committed on main; removed with the test's scope. */
const makeRepo = (files: Readonly<Record<string, string | Uint8Array>>) =>
  Effect.gen(function* () {
    const root = yield* tempDir("handoffkit-review-")
    const dir = Path.join(root, "repo")
    Fs.mkdirSync(dir)
    git(dir, "init", "-q", "-b", "main")
    writeFiles(dir, files)
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "--allow-empty", "-m", "initial")
    return { root, dir }
  })

const trackedPaths = (dir: string): Array<string> =>
  git(dir, "ls-files", "-z")
    .split("\0")
    .filter((path) => path !== "")

// -----------------------------------------------------------------------------
// the scopes' contract
// -----------------------------------------------------------------------------

/** Checks everything `scopes` promises of `scopes` for `files` and `k`; returns the scopes' spread in bytes. */
const assertScopes = (
  files: ReadonlyArray<Review.TrackedFile>,
  k: number,
  scopes: ReadonlyArray<Review.Scope>
): number => {
  assert.strictEqual(scopes.length, k, "exactly k scopes")
  assert.deepStrictEqual(
    scopes.map((scope) => scope.reviewer),
    Array.from({ length: k }, (_, i) => i + 1)
  )
  // Every file in exactly one scope, and nothing else in any.
  const owner = new Map<string, number>()
  for (const scope of scopes) {
    for (const path of scope.files) {
      assert.isFalse(owner.has(path), `${path} is in scope ${owner.get(path)} and scope ${scope.reviewer}`)
      owner.set(path, scope.reviewer)
    }
  }
  assert.deepStrictEqual([...owner.keys()].sort(), files.map((file) => file.path).sort())
  // Sizes add up, and differ by no more than the largest file.
  const size = new Map(files.map((file) => [file.path, file.size]))
  for (const scope of scopes) {
    assert.strictEqual(
      scope.bytes,
      scope.files.reduce((sum, path) => sum + size.get(path)!, 0)
    )
    assert.deepStrictEqual([...scope.files], [...scope.files].sort(), "files sorted")
  }
  const largest = Math.max(0, ...files.map((file) => file.size))
  const bytes = scopes.map((scope) => scope.bytes)
  const spread = Math.max(...bytes) - Math.min(...bytes)
  assert.isAtMost(spread, largest, `scopes of ${bytes.join(", ")} bytes differ by more than ${largest}`)
  // The owned globs: each file matches its own scope's, no other scope's; no two scopes' globs overlap.
  for (const scope of scopes) {
    assert.strictEqual(scope.owns.length === 0, scope.files.length === 0)
    for (const path of files.map((file) => file.path)) {
      const mine = scope.owns.some((glob) => Plan.matches(glob, path))
      assert.strictEqual(mine, owner.get(path) === scope.reviewer, `${path} against ${scope.owns.join(" ")}`)
    }
  }
  for (const a of scopes) {
    for (const b of scopes) {
      if (a.reviewer >= b.reviewer) continue
      for (const x of a.owns)
        for (const y of b.owns) assert.isFalse(Plan.overlaps(x, y), `${x} overlaps ${y}`)
    }
  }
  return spread
}

const Segment = Schema.Literals(["a", "b", "c", "d"])
const Leaf = Schema.Literals(["x.ts", "y.md", "z.js", "w", "v.txt", "[u]*.ts"])
const GenFile = Arbitrary.all({
  dirs: Arbitrary.array(Arbitrary.schema(Segment), { maxLength: 3 }),
  leaf: Arbitrary.schema(Leaf),
  size: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2_000 }))),
  scale: Arbitrary.schema(Schema.Literals([0, 1, 1, 1, 40]))
})

/** Areas of one shape: `count` directories holding the same files (the cases where coarse areas miss the bound). */
const GenAreas = Arbitrary.all({
  count: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 6 }))),
  sizes: Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 20 }))), {
    minLength: 1,
    maxLength: 3
  }),
  parent: Arbitrary.schema(Schema.Literals(["", "pkg/"]))
})

/** What the property reached, so a generator change that stops reaching a case fails the suite. */
const reached = { emptyScopes: 0, wholeDirectories: 0, tight: 0, cases: 0 }

describe("Review.scopes", () => {
  it.effect.prop(
    "k disjoint scopes cover every file once, differ by at most the largest file, and do not depend on order",
    {
      generated: Arbitrary.array(GenFile, { maxLength: 40 }),
      areas: GenAreas,
      k: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 9 })))
    },
    ({ generated, areas, k }) =>
      Effect.gen(function* () {
        const byPath = new Map<string, Review.TrackedFile>()
        for (let i = 0; i < areas.count; i++) {
          for (const [j, size] of areas.sizes.entries()) {
            const path = `${areas.parent}area${i}/f${j}.ts`
            byPath.set(path, { path, size })
          }
        }
        for (const file of generated) {
          const path = [...file.dirs, file.leaf].join("/")
          if (!byPath.has(path)) byPath.set(path, { path, size: file.size * file.scale })
        }
        const files = [...byPath.values()]
        const scopes = yield* Review.scopes(files, k)
        const spread = assertScopes(files, k, scopes)
        // Deterministic: the same files in another order give the same scopes.
        assert.deepStrictEqual(yield* Review.scopes(files.toReversed(), k), scopes)
        assert.deepStrictEqual(Review.scopesUnsafe(files, k), scopes)
        reached.cases++
        if (scopes.some((scope) => scope.files.length === 0) && files.length > 0) reached.emptyScopes++
        if (scopes.some((scope) => scope.owns.some((glob) => glob.endsWith("/**"))))
          reached.wholeDirectories++
        if (spread > 0 && spread === Math.max(...files.map((file) => file.size))) reached.tight++
      }),
    Check.propOptions({ runs: 300 })
  )

  it("the property reached empty scopes, whole directories and a spread of exactly the largest file", () => {
    assert.isAtLeast(reached.cases, 300)
    assert.isAbove(reached.emptyScopes, 0)
    assert.isAbove(reached.wholeDirectories, 0)
    assert.isAbove(reached.tight, 0)
  })

  it("keeps directories whole when that meets the bound: each reviewer gets an area", () => {
    const files = ["api", "web", "docs"].flatMap((dir) =>
      [1, 2, 3].map((i) => ({ path: `${dir}/file${i}.ts`, size: 100 * i }))
    )
    const scopes = Review.scopesUnsafe(files, 3)
    assertScopes(files, 3, scopes)
    assert.deepStrictEqual(
      scopes.map((scope) => [scope.owns, scope.bytes]),
      [
        [["api/**"], 600],
        [["docs/**"], 600],
        [["web/**"], 600]
      ]
    )
  })

  it("splits coarse areas down to files when no coarser placement meets the bound", () => {
    // Three areas of 12 bytes for two reviewers: whole, they would be 24 and 12 apart by 12 > 10.
    const files = ["a", "b", "c"].flatMap((dir) => [
      { path: `${dir}/big.ts`, size: 10 },
      { path: `${dir}/small.ts`, size: 2 }
    ])
    const scopes = Review.scopesUnsafe(files, 2)
    assert.isAtMost(assertScopes(files, 2, scopes), 10)
    assert.deepStrictEqual(
      scopes.map((scope) => [scope.files, scope.bytes]),
      [
        [["a/big.ts", "c/big.ts"], 20],
        [["a/small.ts", "b/big.ts", "b/small.ts", "c/small.ts"], 16]
      ]
    )
  })

  it("splits a directory that is too big for one reviewer, and gives surplus reviewers empty scopes", () => {
    const big = [
      { path: "src/huge.bin", size: 1000 },
      ...[1, 2, 3, 4].map((i) => ({ path: `src/s${i}.ts`, size: 250 }))
    ]
    const scopes = Review.scopesUnsafe(big, 2)
    assertScopes(big, 2, scopes)
    assert.deepStrictEqual(
      scopes.map((scope) => scope.bytes),
      [1000, 1000]
    )
    const many = Review.scopesUnsafe(
      [
        { path: "one.ts", size: 3 },
        { path: "two.ts", size: 4 }
      ],
      4
    )
    assert.deepStrictEqual(
      many.map((scope) => scope.files),
      [["one.ts"], ["two.ts"], [], []]
    )
  })

  it.effect("refuses k below 1 and file lists that are not a tree of paths, naming what is wrong", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [ReadonlyArray<Review.TrackedFile>, number, string]> = [
        [[], 0, 'invalid review option "reviewers": 0 is not a whole number of 1 or more'],
        [[], 1.5, 'invalid review option "reviewers": 1.5 is not a whole number of 1 or more'],
        [
          [
            { path: "a.ts", size: 1 },
            { path: "a.ts", size: 2 }
          ],
          1,
          'invalid review option "files": "a.ts" is listed twice'
        ],
        [
          [{ path: "a.ts", size: -1 }],
          1,
          'invalid review option "files": "a.ts" has the size -1: sizes are whole numbers of bytes, 0 or more'
        ],
        [
          [
            { path: "a", size: 1 },
            { path: "a/b", size: 1 }
          ],
          1,
          'invalid review option "files": "a/b" is under "a", which is a file'
        ],
        [[{ path: "/etc/passwd", size: 1 }], 1, "not a repository-relative path"]
      ]
      for (const [files, k, message] of cases) {
        const error = yield* Effect.flip(Review.scopes(files, k))
        assert.strictEqual(error._tag, "ReviewInvalid")
        assert.include(error.message, message)
        assert.throws(() => Review.scopesUnsafe(files, k), message.slice(0, 20))
      }
    })
  )
})

// -----------------------------------------------------------------------------
// a real repository
// -----------------------------------------------------------------------------

describe("Review.listFiles and run on a repository", () => {
  it.live(
    "splits every tracked file of the repository into exactly one of the k scopes, within the bound",
    () =>
      Effect.gen(function* () {
        const { dir } = yield* makeRepo({
          "README.md": "# Project\n".repeat(40),
          "package.json": '{ "name": "x" }\n',
          "src/index.ts": "export * from './a.ts'\n".repeat(30),
          "src/a.ts": "export const a = 1\n".repeat(200),
          "src/deep/b.ts": "export const b = 2\n".repeat(12),
          "src/deep/c d.ts": "// a space in the name\n",
          "src/[weird]*name?.ts": "// glob characters in the name\n",
          "docs/guide.md": "Read me.\n".repeat(300),
          "docs/ünïcode.md": "ü\n",
          "test/a.test.ts": "test('a')\n".repeat(50),
          ".gitignore": "ignored.log\n"
        })
        writeFiles(dir, { "untracked.txt": "not in the index\n", "ignored.log": "ignored\n" })
        // Deleted from the worktree but still tracked: in a scope, with size 0.
        Fs.rmSync(Path.join(dir, "package.json"))

        const files = yield* Review.listFiles(dir)
        assert.deepStrictEqual(
          files.map((file) => file.path),
          trackedPaths(dir).sort()
        )
        for (const file of files) {
          const full = Path.join(dir, file.path)
          assert.strictEqual(file.size, Fs.existsSync(full) ? Fs.statSync(full).size : 0, file.path)
        }
        // From a subdirectory: the same files, relative to the top.
        assert.deepStrictEqual(yield* Review.listFiles(Path.join(dir, "src", "deep")), files)

        for (const k of [1, 2, 3, 5, 11, 20]) {
          const result = yield* Review.run({ repo: dir, reviewers: k, reviewer: Review.builtin })
          assertScopes(files, k, result.scopes)
          assert.deepStrictEqual(result.scopes, yield* Review.scopes(files, k))
          assert.strictEqual(result.repo, dir)
          assert.deepStrictEqual(result.failed, [])
        }
      }).pipe(Effect.scoped, Effect.provide(services)),
    60_000
  )

  it.live("a directory outside any repository is NotARepository; bad options are ReviewInvalid", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("handoffkit-review-norepo-")
      const error = yield* Effect.flip(Review.listFiles(dir))
      assert.strictEqual(error._tag, "NotARepository")
      assert.include(error.message, `${dir} is not in a git worktree: fatal: not a git repository`)
      const missing = yield* Effect.flip(
        Review.run({ repo: Path.join(dir, "nope"), reviewers: 2, reviewer: Review.builtin })
      )
      assert.strictEqual(missing._tag, "NotARepository")

      const { dir: repo } = yield* makeRepo({ "a.ts": "x\n" })
      const zero = yield* Effect.flip(Review.run({ repo, reviewers: 0, reviewer: Review.builtin }))
      assert.strictEqual(
        zero.message,
        'invalid review option "reviewers": 0 is not a whole number of 1 or more'
      )
      const forever = yield* Effect.flip(
        Review.run({ repo, reviewers: 1, reviewer: Review.builtin, timeout: Duration.infinity })
      )
      assert.strictEqual(forever._tag, "ReviewInvalid")
      assert.include(forever.message, '"timeout"')
    }).pipe(Effect.scoped, Effect.provide(services))
  )

  it.live("an empty repository gives k empty scopes and starts no reviewer", () =>
    Effect.gen(function* () {
      const { dir } = yield* makeRepo({})
      let calls = 0
      const counting: Review.Reviewer<never> = () =>
        Effect.sync(() => (calls++, { findings: [], skipped: 0 }))
      const result = yield* Review.run({ repo: dir, reviewers: 3, reviewer: counting })
      assert.deepStrictEqual(
        result.scopes.map((scope) => scope.files.length),
        [0, 0, 0]
      )
      assert.strictEqual(calls, 0)
      assert.deepStrictEqual(result.findings, [])
    }).pipe(Effect.scoped, Effect.provide(services))
  )
})

// -----------------------------------------------------------------------------
// the builtin reviewer
// -----------------------------------------------------------------------------

const planted = [
  "export const a = 1", // 1
  "// TODO: rename this", // 2  TODO marker
  "const b = 2   ", // 3  trailing whitespace
  "debugger;", // 4  debugger statement
  `const long = "${"x".repeat(121)}"`, // 5  136 characters
  "<<<<<<< HEAD", // 6  conflict
  "const c = 1", // 7
  "=======", // 8  conflict
  "const c = 2", // 9
  ">>>>>>> feature", // 10 conflict
  " \tconst d = 4", // 11 space before tab
  "// FIXME: XXX twice, FIXME again", // 12 FIXME and XXX, once each
  "\t  aligned()", // 13 tabs then spaces: fine
  "  debugger // still a statement" // 14 debugger statement
].join("\n")

const clean = [
  "// todo in lower case, TODOS, FIXMEs and XXXL are not markers",
  "const debuggerEnabled = true",
  "if (debuggerEnabled) console.log('debugger;') // not a statement of its own",
  `const exactly = "${"y".repeat(102)}"`, // exactly 120 characters
  "\t\treturn 1",
  "\t  // tab then spaces for alignment",
  "<<<<<< six, not seven",
  "====== six",
  ">>>>>>>> eight",
  "const windows = true\r",
  "    four spaces\r",
  ""
].join("\n")

describe("Review.builtin", () => {
  it.live("finds the planted issues at their exact lines, and nothing in clean, binary or prose files", () =>
    Effect.gen(function* () {
      assert.strictEqual(clean.split("\n")[3]!.length, 120)
      const { dir } = yield* makeRepo({
        "src/planted.ts": `${planted}\n`,
        "src/clean.ts": clean,
        "src/crlf.ts": "const a = 1\r\nconst b = 2\r\n",
        "docs/heading.md": "Title\n=======\n\ndebugger;\n\nText.\n",
        "assets/blob.bin": new Uint8Array([0x54, 0x4f, 0x44, 0x4f, 0x20, 0x00, 0x20, 0x20, 0x0a]),
        "notes/empty.txt": ""
      })
      const result = yield* Review.run({ repo: dir, reviewers: 2, reviewer: Review.builtin })
      const owner = result.scopes.find((scope) => scope.files.includes("src/planted.ts"))!.reviewer
      const at = (line: number, severity: Review.Severity, message: string): Review.Reported => ({
        file: "src/planted.ts",
        line,
        severity,
        message,
        reviewers: [owner]
      })
      assert.deepStrictEqual(result.findings, [
        at(2, "info", "TODO marker"),
        at(3, "info", "trailing whitespace"),
        at(4, "error", "debugger statement"),
        at(5, "info", "line is 136 characters long (over 120)"),
        at(6, "error", "merge conflict marker"),
        at(8, "error", "merge conflict marker"),
        at(10, "error", "merge conflict marker"),
        at(11, "warning", "space before tab in indentation"),
        at(12, "warning", "FIXME marker"),
        at(12, "warning", "XXX marker"),
        at(14, "error", "debugger statement")
      ])
      assert.deepStrictEqual(result.failed, [])
      assert.deepStrictEqual(result.skipped, [])
    }).pipe(Effect.scoped, Effect.provide(services))
  )
})

// -----------------------------------------------------------------------------
// joining: the command reviewer
// -----------------------------------------------------------------------------

const reviewFiles = {
  "api/routes.ts": "export const routes = []\n".repeat(10),
  "api/server.ts": "export const server = 1\n".repeat(10),
  "web/app.ts": "export const app = 1\n".repeat(12),
  "web/view.ts": "export const view = 1\n".repeat(11),
  "docs/intro.md": "Intro.\n".repeat(35),
  "docs/usage.md": "Usage.\n".repeat(35)
}

const own = (result: Review.Result): Array<Review.Reported> =>
  result.scopes.flatMap((scope) =>
    scope.files.map((file) => ({
      file,
      line: 1,
      severity: "info" as const,
      message: `own: ${file}`,
      reviewers: [scope.reviewer]
    }))
  )

const sorted = (findings: ReadonlyArray<Review.Reported>) =>
  findings.toSorted((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line))

/** A defect in reviewer 1, a typed failure in reviewer 3, a finding from reviewer 2. */
const unreliable: Review.Reviewer = (scope) =>
  scope.reviewer === 1
    ? Effect.die(new Error("kaput"))
    : scope.reviewer === 3
      ? Effect.fail(new Review.ReviewerFailed({ reviewer: 3, detail: "no" }))
      : Effect.succeed({
          findings: [{ file: scope.files[0]!, line: 1, severity: "info" as const, message: "ok" }],
          skipped: 0
        })

describe("Review.command and run's join", () => {
  it.live(
    "joins the reviewers' findings: one entry per (file, line, message), every reporter kept, sorted",
    () =>
      Effect.gen(function* () {
        const { dir } = yield* makeRepo(reviewFiles)
        const reviewer = Review.command([process.execPath, reviewerScript, "shared", "web/app.ts"])
        const result = yield* Review.run({ repo: dir, reviewers: 3, reviewer })
        assert.deepStrictEqual(result.failed, [])
        assert.strictEqual(result.scopes.filter((scope) => scope.files.length > 0).length, 3)
        const shared: Review.Reported = {
          file: "web/app.ts",
          line: 2,
          severity: "error",
          message: "shared finding",
          reviewers: [1, 2, 3]
        }
        assert.deepStrictEqual(result.findings, sorted([...own(result), shared]))
        // Each reviewer printed a line that is not JSON and a finding of an untracked file.
        assert.deepStrictEqual(result.skipped, [
          { reviewer: 1, count: 2 },
          { reviewer: 2, count: 2 },
          { reviewer: 3, count: 2 }
        ])
        // The JSON form is the result itself.
        assert.deepStrictEqual(JSON.parse(JSON.stringify(result)), result)
        const text = Review.format(result)
        assert.include(
          text,
          `3 reviewers over 6 files (${result.scopes.reduce((n, s) => n + s.bytes, 0)} bytes):`
        )
        assert.include(text, "\n  reviewer 1: 2 files, ")
        assert.include(text, "\n7 findings:\n")
        assert.include(text, "\nweb/app.ts:2     error    shared finding")
        assert.include(
          text,
          "reviewer 2: 2 lines of its output were not a finding of a tracked file (skipped)"
        )
      }).pipe(Effect.scoped, Effect.provide(services)),
    30_000
  )

  it.live("passes the files as arguments when asked", () =>
    Effect.gen(function* () {
      const { dir } = yield* makeRepo(reviewFiles)
      const reviewer = Review.command([process.execPath, reviewerScript, "own"], { input: "args" })
      const result = yield* Review.run({ repo: dir, reviewers: 2, reviewer })
      assert.deepStrictEqual(result.findings, sorted(own(result)))
    }).pipe(Effect.scoped, Effect.provide(services))
  )

  it.live("a reviewer that fails is reported with its reason, and the others' findings survive", () =>
    Effect.gen(function* () {
      const { dir } = yield* makeRepo(reviewFiles)
      const reviewer = Review.command([process.execPath, reviewerScript, "fail-on", "2"])
      const result = yield* Review.run({ repo: dir, reviewers: 3, reviewer })
      assert.deepStrictEqual(result.failed, [
        {
          reviewer: 2,
          error: "ReviewerFailed",
          message: `reviewer 2 failed: ${JSON.stringify(process.execPath)} exited with code 3: boom`
        }
      ])
      assert.deepStrictEqual(
        result.findings,
        sorted(own(result).filter((finding) => finding.reviewers[0] !== 2))
      )
      assert.include(Review.format(result), `reviewer 2 failed (ReviewerFailed): reviewer 2 failed: `)
    }).pipe(Effect.scoped, Effect.provide(services))
  )

  it.live("a reviewer that dies, cannot start or passes its timeout is failed; its process is gone", () =>
    Effect.gen(function* () {
      const { dir, root } = yield* makeRepo(reviewFiles)
      const mixed = yield* Review.run({ repo: dir, reviewers: 3, reviewer: unreliable })
      assert.deepStrictEqual(
        mixed.failed.map((failure) => [failure.reviewer, failure.error, failure.message]),
        [
          [1, "Defect", "reviewer 1 died: kaput"],
          [3, "ReviewerFailed", "reviewer 3 failed: no"]
        ]
      )
      assert.deepStrictEqual(
        mixed.findings.map((finding) => finding.reviewers),
        [[2]]
      )

      const missing = yield* Review.run({
        repo: dir,
        reviewers: 1,
        reviewer: Review.command([Path.join(root, "no-such-program")])
      })
      assert.strictEqual(missing.failed.length, 1)
      assert.include(missing.failed[0]!.message, "reviewer 1 failed: cannot run")

      const pidFile = Path.join(root, "hung.pid")
      const started = Date.now()
      const hung = yield* Review.run({
        repo: dir,
        reviewers: 2,
        reviewer: Review.command([process.execPath, reviewerScript, "hang-on", "1", pidFile]),
        timeout: "1500 millis"
      })
      assert.isBelow(Date.now() - started, 10_000)
      assert.deepStrictEqual(hung.failed, [
        { reviewer: 1, error: "ReviewerFailed", message: "reviewer 1 failed: did not finish within 1s 500ms" }
      ])
      assert.deepStrictEqual(hung.findings, sorted(own(hung).filter((finding) => finding.reviewers[0] === 2)))
      const pid = Number(Fs.readFileSync(pidFile, "utf8"))
      assert.throws(() => process.kill(pid, 0), /ESRCH/, "the hung reviewer's process was killed")
    }).pipe(Effect.scoped, Effect.provide(services))
  )
})

// -----------------------------------------------------------------------------
// the codex reviewer
// -----------------------------------------------------------------------------

const inputOf = (request: ScriptedServer.RecordedRequest): string =>
  JSON.stringify((request.body as { readonly input?: unknown } | undefined)?.input ?? "")

const codexFiles = {
  "lib/alpha.ts": "export const alpha = 1\n".repeat(20),
  "lib/beta.ts": "export const beta = 2\n".repeat(20),
  "docs/gamma.md": "Gamma.\n".repeat(60),
  "docs/delta.md": "Delta.\n".repeat(60)
}

/**
 * The scripted model of each reviewer: first it has codex run `echo "home=$CODEX_HOME"` (read-only sandbox:
 * reading is allowed); once the output is back, it answers with a finding for each file its prompt names, a
 * line of prose and a finding of a file that does not exist.
 */
const reviewScript = (request: ScriptedServer.RecordedRequest): ScriptedServer.Turn => {
  const input = inputOf(request)
  if (!input.includes("function_call_output")) {
    return Turn.toolCall("exec_command", { cmd: 'echo "home=$CODEX_HOME"' })
  }
  const files = Object.keys(codexFiles).filter((path) => input.includes(`- ${path}\\n`))
  return Turn.text(
    [
      "Here is what I found:",
      ...files.map((file) =>
        JSON.stringify({ file, line: 3, severity: "warning", message: `scripted: ${file}` })
      ),
      JSON.stringify({ file: "imagined.ts", line: 1, severity: "info", message: "no such file" })
    ].join("\n")
  )
}

describe("Review.codex", () => {
  it.live(
    "one real codex a scope, each with its own CODEX_HOME; its JSON-lines answer is parsed, bad lines counted",
    () =>
      Effect.gen(function* () {
        const { dir, root } = yield* makeRepo(codexFiles)
        const server = yield* ScriptedServer.make(reviewScript)
        const homes = Path.join(root, "homes")
        const result = yield* Review.run({
          repo: dir,
          reviewers: 2,
          reviewer: Review.codex({ baseUrl: server.url, homes })
        })
        assert.deepStrictEqual(result.failed, [])
        const expected = result.scopes.flatMap((scope) =>
          scope.files.map((file): Review.Reported => ({
            file,
            line: 3,
            severity: "warning",
            message: `scripted: ${file}`,
            reviewers: [scope.reviewer]
          }))
        )
        assert.strictEqual(expected.length, 4)
        assert.deepStrictEqual(result.findings, sorted(expected))
        assert.deepStrictEqual(result.skipped, [
          { reviewer: 1, count: 2 },
          { reviewer: 2, count: 2 }
        ])

        // Each reviewer's codex ran with its own home, which codex initialised, and only with its own files.
        const requests = (yield* server.requests).filter((request) => request.path === "/v1/responses")
        for (const scope of result.scopes) {
          const home = Path.join(homes, `reviewer-${scope.reviewer}`)
          assert.isTrue(Fs.existsSync(Path.join(home, "installation_id")), `codex initialised ${home}`)
          const mine = requests.filter((request) =>
            inputOf(request).includes(`You are reviewer ${scope.reviewer} of 2`)
          )
          assert.strictEqual(mine.length, 2, `requests of reviewer ${scope.reviewer}`)
          assert.include(inputOf(mine[1]!), `home=${home}`)
          for (const other of result.scopes.filter((s) => s !== scope).flatMap((s) => s.files)) {
            assert.notInclude(inputOf(mine[0]!), `- ${other}\\n`)
          }
        }
      }).pipe(Effect.scoped, Effect.provide(services)),
    60_000
  )

  it.live(
    "a budget that allows one codex run: the other reviewer fails on the budget, the first one's findings stay",
    () =>
      Effect.gen(function* () {
        const { dir } = yield* makeRepo(codexFiles)
        const server = yield* ScriptedServer.make(() =>
          Turn.text(JSON.stringify({ file: "lib/alpha.ts", line: 1, severity: "info", message: "seen" }))
        )
        const budget = yield* Budget.make({ calls: 1 })
        const result = yield* Review.run({
          repo: dir,
          reviewers: 2,
          reviewer: Review.codex({ baseUrl: server.url }),
          budget
        })
        assert.strictEqual(result.failed.length, 1)
        assert.include(result.failed[0]!.message, "Budget exceeded in calls")
        const ran = 3 - result.failed[0]!.reviewer
        assert.deepStrictEqual(result.findings, [
          { file: "lib/alpha.ts", line: 1, severity: "info", message: "seen", reviewers: [ran] }
        ])
      }).pipe(Effect.scoped, Effect.provide(services)),
    60_000
  )
})

// -----------------------------------------------------------------------------
// parsing
// -----------------------------------------------------------------------------

describe("Review.parseFindings", () => {
  it("reads JSON lines, a JSON array or a findings object, leniently, counting what is not a finding", () => {
    const a = { file: "a.ts", line: 1, severity: "error", message: "x" } as const
    assert.deepStrictEqual(Review.parseFindings(""), { findings: [], skipped: 0 })
    assert.deepStrictEqual(Review.parseFindings("[]"), { findings: [], skipped: 0 })
    assert.deepStrictEqual(Review.parseFindings(JSON.stringify([a, { nope: 1 }])), {
      findings: [a],
      skipped: 1
    })
    assert.deepStrictEqual(Review.parseFindings(JSON.stringify({ findings: [a] })), {
      findings: [a],
      skipped: 0
    })
    assert.deepStrictEqual(
      Review.parseFindings(
        [
          "```json",
          `${JSON.stringify({ path: "./a.ts", line: " 1 ", severity: "Critical", message: "  x  " })},`,
          '{"file": "b.ts", "line": 2, "message": "no severity: a warning"}',
          '{"file": "b.ts", "line": 2.5, "message": "not a line"}',
          '{"file": "b.ts", "line": 3, "severity": "catastrophic", "message": "unknown severity"}',
          "{broken json",
          "```",
          "",
          "That is all."
        ].join("\n")
      ),
      {
        findings: [a, { file: "b.ts", line: 2, severity: "warning", message: "no severity: a warning" }],
        skipped: 4
      }
    )
  })
})
