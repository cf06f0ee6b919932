import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Check } from "@handoffkit/testing"
import * as Plan from "../src/Plan.ts"
import { prng } from "./fixtures/prng.ts"

// -----------------------------------------------------------------------------
// a second, independent matcher: globs as regular expressions
// -----------------------------------------------------------------------------

const expandBraces = (glob: string): Array<string> => {
  const inner = /\{([^{}]*)\}/.exec(glob)
  if (inner === null) return [glob]
  const before = glob.slice(0, inner.index)
  const after = glob.slice(inner.index + inner[0].length)
  return inner[1].split(",").flatMap((option) => expandBraces(before + option + after))
}

const segmentSource = (segment: string): string => {
  let out = ""
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]
    if (c === "*") out += "[^/]*"
    else if (c === "?") out += "[^/]"
    else if (c === "[") {
      const end = segment.indexOf("]", i + 2)
      let body = segment.slice(i + 1, end)
      const negated = body.startsWith("!") || body.startsWith("^")
      if (negated) body = body.slice(1)
      out += negated ? `[^/${body}]` : `[${body}]`
      i = end
    } else out += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  }
  return out
}

/** Matches `path + "/"`: each segment consumes itself and its slash; `**` any number of whole segments. */
const reference = (glob: string): ReadonlyArray<RegExp> =>
  expandBraces(glob).map((alternative) => {
    const parts = alternative.split("/")
    const literal = !/[*?[]/.test(alternative)
    const source = parts.map((part) => (part === "**" ? "(?:[^/]+/)*" : `${segmentSource(part)}/`)).join("")
    return new RegExp(`^${source}${literal ? "(?:[^/]+/)*" : ""}$`)
  })

const referenceMatches = (regexps: ReadonlyArray<RegExp>, path: string) =>
  regexps.some((r) => r.test(`${path}/`))

// -----------------------------------------------------------------------------
// generated globs and paths over a small alphabet
// -----------------------------------------------------------------------------

const tokens = ["a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-b]", "[.]"]

const genSegment = (random: (n: number) => number): string => {
  if (random(5) === 0) return "**"
  const length = 1 + random(3)
  let out = ""
  for (let i = 0; i < length; i++) out += tokens[random(tokens.length)]
  // `.` and `..` are not segments a task may own.
  return out === "." || out === ".." ? "a" : out
}

const genGlob = (random: (n: number) => number): string => {
  const count = 1 + random(3)
  const segments = Array.from({ length: count }, () =>
    random(6) === 0 ? `{${genSegment(random)},${genSegment(random)}}` : genSegment(random)
  )
  const glob = segments.join("/")
  // Sometimes alternatives of whole paths, with slashes inside the braces.
  return random(6) === 0 ? `{${glob},${genSegment(random)}/${genSegment(random)}}` : glob
}

/** Every path of 1 to 3 segments, each 1 or 2 characters of `a`, `b`, `.` (but not `.` or `..`): 1,110 paths. */
const allPaths: ReadonlyArray<string> = (() => {
  const chars = ["a", "b", "."]
  const segments = [...chars, ...chars.flatMap((x) => chars.map((y) => x + y))].filter(
    (s) => s !== "." && s !== ".."
  )
  const out: Array<string> = [...segments]
  for (const x of segments) for (const y of segments) out.push(`${x}/${y}`)
  for (const x of segments) for (const y of segments) for (const z of segments) out.push(`${x}/${y}/${z}`)
  return out
})()

const stats = { runs: 0, overlapping: 0, disjoint: 0, commonInRange: 0 }

const state = (running: ReadonlyArray<string>, done: ReadonlyArray<string>): Plan.State => ({
  running: new Set(running),
  done: new Set(done)
})

describe("Plan", () => {
  describe("globs", () => {
    it("matches: *, ?, classes, braces, ** and bare paths", () => {
      const cases: ReadonlyArray<readonly [string, string, boolean]> = [
        ["src/*.ts", "src/a.ts", true],
        ["src/*.ts", "src/x/a.ts", false],
        ["src/*.ts", "src/.hidden.ts", true],
        ["*", ".env", true],
        ["src/?.ts", "src/ab.ts", false],
        ["src/?.ts", "src/a.ts", true],
        ["src/[ab].ts", "src/b.ts", true],
        ["src/[ab].ts", "src/c.ts", false],
        ["src/[!ab].ts", "src/c.ts", true],
        ["src/[^ab].ts", "src/a.ts", false],
        ["src/[a-c]x", "src/bx", true],
        ["src/[]]", "src/]", true],
        ["{docs,notes}/*.md", "notes/a.md", true],
        ["{docs,notes}/*.md", "other/a.md", false],
        ["{a/b,c}/x", "a/b/x", true],
        ["{a/b,c}/x", "c/x", true],
        ["src/{a,b{1,2}}.ts", "src/b2.ts", true],
        ["src/**", "src/a/b/c.ts", true],
        ["src/**", "src", true],
        ["src/**/test/*.ts", "src/test/a.ts", true],
        ["src/**/test/*.ts", "src/x/y/test/a.ts", true],
        ["src/**/test/*.ts", "src/x/y/test/q/a.ts", false],
        ["**/*.ts", "a.ts", true],
        ["**/*.ts", "a/b/c.ts", true],
        ["src/a**b", "src/axyb", true],
        ["src/a**b", "src/ax/yb", false],
        // A glob without wildcards is a path: itself and everything under it.
        ["src/x", "src/x", true],
        ["src/x", "src/x/y/z.ts", true],
        ["src/x", "src/xy", false],
        ["src/{x,y}", "src/y/z.ts", true],
        ["src/x.ts", "src/x.ts", true],
        // Case-sensitive, like git's paths; malformed globs and paths match nothing.
        ["src/A.ts", "src/a.ts", false],
        ["src/[ab", "src/[ab", false],
        ["../x", "../x", false],
        ["src/**", "src//a", false],
        ["src/**", "", false]
      ]
      for (const [glob, path, expected] of cases) {
        assert.strictEqual(Plan.matches(glob, path), expected, `${glob} ~ ${path}`)
      }
    })

    it("overlaps: the cases the pool relies on", () => {
      const cases: ReadonlyArray<readonly [string, string, boolean]> = [
        ["src/a/**", "src/b/**", false],
        ["src/**", "src/a.ts", true],
        ["src/*.ts", "src/a.*", true],
        ["*.md", "docs/x.md", false],
        ["**/*.ts", "src/a.ts", true],
        ["{a,b}/x", "b/**", true],
        ["src/x", "src/x/y.ts", true],
        ["src/x", "src/xy.ts", false],
        ["*.ts", "*.md", false],
        ["[ab].ts", "c.ts", false],
        ["[!a]*", "a*", false],
        ["[!a]*", "[!b]*", true],
        ["?", "??", false],
        ["a*b", "*c", false],
        ["a*b", "*b", true],
        ["**/x", "y/**", true],
        ["**", "**", true],
        ["src/**/test/*.ts", "src/test/a.ts", true],
        ["src/*/a.ts", "src/b/*.ts", true],
        ["src/*/a.ts", "src/b/c/*.ts", false],
        ["docs/**/*.md", "docs/*.txt", false]
      ]
      for (const [a, b, expected] of cases) {
        assert.strictEqual(Plan.overlaps(a, b), expected, `${a} ∩ ${b}`)
        assert.strictEqual(Plan.overlaps(b, a), expected, `${b} ∩ ${a}`)
        const common = Plan.commonPath(a, b)
        assert.strictEqual(common !== undefined, expected)
        if (common !== undefined) assert.isTrue(Plan.matches(a, common) && Plan.matches(b, common), common)
      }
      // A witness outside the listed characters: the only path both match has a character neither names.
      const common = Plan.commonPath("[!ab]", "[!cd]")
      assert.isDefined(common)
      assert.isTrue(Plan.matches("[!ab]", common!) && Plan.matches("[!cd]", common!))
    })

    it.prop(
      "matches agrees with a regular-expression reference, and overlaps is exact (brute force over 1,110 paths)",
      { seed: Schema.Int },
      ({ seed }) => {
        const random = prng(seed)
        const a = genGlob(random)
        const b = random(4) === 0 ? a : genGlob(random)
        const ra = reference(a)
        const rb = reference(b)
        let common: string | undefined
        for (const path of allPaths) {
          const ma = Plan.matches(a, path)
          const mb = Plan.matches(b, path)
          assert.strictEqual(ma, referenceMatches(ra, path), `${a} ~ ${path}`)
          assert.strictEqual(mb, referenceMatches(rb, path), `${b} ~ ${path}`)
          if (ma && mb) common ??= path
        }
        const overlaps = Plan.overlaps(a, b)
        // Never "no" when a common path exists...
        if (common !== undefined) assert.isTrue(overlaps, `${a} and ${b} both match ${common}`)
        // ...and every "yes" comes with a path both match (it may lie beyond the enumerated ones).
        const witness = Plan.commonPath(a, b)
        assert.strictEqual(witness !== undefined, overlaps)
        if (witness !== undefined) {
          assert.isTrue(Plan.matches(a, witness) && Plan.matches(b, witness), `${a} ∩ ${b}: ${witness}`)
          assert.isTrue(
            referenceMatches(ra, witness) && referenceMatches(rb, witness),
            `${a} ∩ ${b}: ${witness}`
          )
        }
        assert.strictEqual(Plan.overlaps(b, a), overlaps)
        stats.runs++
        if (overlaps) stats.overlapping++
        else stats.disjoint++
        if (common !== undefined) stats.commonInRange++
      },
      Check.propOptions({ runs: 400 })
    )

    it("the glob property saw overlapping and disjoint pairs", () => {
      assert.isAtLeast(stats.runs, 400)
      assert.isAbove(stats.overlapping, 50)
      assert.isAbove(stats.disjoint, 50)
      assert.isAbove(stats.commonInRange, 50)
    })
  })

  describe("make", () => {
    const tasks = [
      { id: "parser", owns: ["src/parser/**", "test/parser.test.ts"] },
      { id: "lexer", owns: ["src/lexer/**"] },
      { id: "docs", owns: ["docs/**"] },
      { id: "tokens", owns: ["docs/tokens.md", "src/{lexer,parser}/tokens.ts"] },
      { id: "tests", owns: ["test/**"] }
    ]

    it("one overlap per pair, a before b in file order, with the first overlapping glob pair and a path", () => {
      const plan = Plan.make(tasks)
      assert.isTrue(Plan.isPlan(plan))
      assert.strictEqual(plan.tasks, tasks)
      assert.deepStrictEqual(plan.overlaps, [
        {
          a: "parser",
          b: "tokens",
          globs: ["src/parser/**", "src/{lexer,parser}/tokens.ts"],
          example: "src/parser/tokens.ts"
        },
        {
          a: "parser",
          b: "tests",
          globs: ["test/parser.test.ts", "test/**"],
          example: "test/parser.test.ts"
        },
        {
          a: "lexer",
          b: "tokens",
          globs: ["src/lexer/**", "src/{lexer,parser}/tokens.ts"],
          example: "src/lexer/tokens.ts"
        },
        { a: "docs", b: "tokens", globs: ["docs/**", "docs/tokens.md"], example: "docs/tokens.md" }
      ])
    })

    it("conflictsOf lists a task's overlapping tasks in file order", () => {
      const plan = Plan.make(tasks)
      assert.deepStrictEqual(Plan.conflictsOf(plan, "tokens"), ["parser", "lexer", "docs"])
      assert.deepStrictEqual(plan.pipe(Plan.conflictsOf("parser")), ["tokens", "tests"])
      assert.deepStrictEqual(Plan.conflictsOf(plan, "nope"), [])
    })

    it("format shows each task's globs and each predicted conflict", () => {
      assert.strictEqual(
        Plan.format(Plan.make(tasks)),
        [
          "5 tasks:",
          "  parser owns src/parser/**, test/parser.test.ts",
          "  lexer owns src/lexer/**",
          "  docs owns docs/**",
          "  tokens owns docs/tokens.md, src/{lexer,parser}/tokens.ts",
          "  tests owns test/**",
          "4 predicted conflicts:",
          "  parser and tokens both own src/parser/** ∩ src/{lexer,parser}/tokens.ts: run one after the other",
          "  parser and tests both own test/parser.test.ts ∩ test/**: run one after the other",
          "  lexer and tokens both own src/lexer/** ∩ src/{lexer,parser}/tokens.ts: run one after the other",
          "  docs and tokens both own docs/** ∩ docs/tokens.md: run one after the other"
        ].join("\n")
      )
      assert.strictEqual(
        Plan.format(
          Plan.make([
            { id: "a", owns: ["a/**"] },
            { id: "b", owns: ["a/**"] }
          ])
        ),
        "2 tasks:\n  a owns a/**\n  b owns a/**\n1 predicted conflict:\n  a and b both own a/**: run one after the other"
      )
      assert.strictEqual(
        Plan.format(Plan.make([{ id: "a", owns: ["a"] }])),
        "1 task:\n  a owns a\nno predicted conflicts"
      )
      assert.strictEqual(Plan.format(Plan.make([])), "0 tasks:\nno predicted conflicts")
    })

    it("an id given twice counts once, at its first position", () => {
      const plan = Plan.make([
        { id: "a", owns: ["x/**"] },
        { id: "b", owns: ["x/y"] },
        { id: "a", owns: ["z/**"] }
      ])
      assert.deepStrictEqual(
        plan.overlaps.map((o) => [o.a, o.b]),
        [["a", "b"]]
      )
    })

    it("ownedBy and outside: the changed paths a task does not own", () => {
      const task = { id: "parser", owns: ["src/parser", "test/parser.test.ts"] }
      assert.isTrue(Plan.ownedBy(task, "src/parser/a/b.ts"))
      assert.isTrue(Plan.ownedBy("test/parser.test.ts")(task))
      assert.isFalse(Plan.ownedBy(task, "test/lexer.test.ts"))
      assert.deepStrictEqual(
        Plan.outside(task, ["src/parser/x.ts", "package.json", "src/parserx.ts", "test/parser.test.ts"]),
        ["package.json", "src/parserx.ts"]
      )
      assert.deepStrictEqual(Plan.outside(task, []), [])
      assert.deepStrictEqual(Plan.outside(["README.md"])(task), ["README.md"])
    })

    it("plans 200 tasks of 3 globs each quickly", () => {
      const many = Array.from({ length: 200 }, (_, i) => ({
        id: `t${i}`,
        owns: [`src/m${i}/**`, `test/m${i}/*.test.ts`, `docs/{m${i},shared${i % 10}}.md`]
      }))
      const t0 = performance.now()
      const plan = Plan.make(many)
      const ms = performance.now() - t0
      // t_i and t_j share docs/shared{k}.md when i ≡ j (mod 10): 10 classes of 20, 190 pairs each.
      assert.strictEqual(plan.overlaps.length, 10 * 190)
      assert.isBelow(ms, 5000)
    })
  })

  describe("ready", () => {
    const plan = Plan.make([
      { id: "a", owns: ["src/**"] },
      { id: "b", owns: ["src/b.ts"] },
      { id: "c", owns: ["docs/**"] },
      { id: "d", owns: ["src/d/**", "docs/d.md"] }
    ])

    it("a task waits for every overlapping task before it, and for overlapping tasks running", () => {
      assert.deepStrictEqual(Plan.ready(plan, state([], []), ["a", "b", "c", "d"]), ["a", "c"])
      assert.deepStrictEqual(Plan.ready(plan, state(["a", "c"], []), ["b", "d"]), [])
      // a done: b may go; d still waits for c (docs/d.md).
      assert.deepStrictEqual(Plan.ready(plan, state(["c"], ["a"]), ["b", "d"]), ["b"])
      assert.deepStrictEqual(Plan.ready(plan, state(["b"], ["a", "c"]), ["d"]), ["d"])
      assert.deepStrictEqual(plan.pipe(Plan.ready(state([], ["a", "b", "c"]), ["d"])), ["d"])
    })

    it("a running later task (started in parallel mode) blocks an earlier one", () => {
      assert.deepStrictEqual(Plan.ready(plan, state(["b"], []), ["a", "c"]), ["c"])
    })

    it("an earlier overlapping task that is neither running nor done (awaiting a retry) is waited for", () => {
      assert.deepStrictEqual(Plan.ready(plan, state([], []), ["b"]), [])
    })

    it("unknown ids overlap nothing; a candidate given twice is returned once", () => {
      assert.deepStrictEqual(Plan.ready(plan, state(["a"], []), ["x", "c", "x"]), ["x", "c"])
    })

    const runs = { count: 0, waited: 0, retried: 0 }

    it.prop(
      "never deadlocks and never runs two overlapping tasks at once, over random overlap graphs, finishing orders and retries",
      { seed: Schema.Int },
      ({ seed }) => {
        const random = prng(seed)
        const n = 1 + random(12)
        const density = random(8)
        const workers = random(5) === 0 ? Infinity : 1 + random(4)
        // Task i owns a tree of its own, plus one shared file per edge of a random graph.
        const edges = new Set<string>()
        const owns = Array.from({ length: n }, (_, i) => [`own/t${i}/**`])
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            if (random(10) < density) {
              edges.add(`t${i} t${j}`)
              owns[i].push(`shared/e${i}-${j}.ts`)
              owns[j].push(random(2) === 0 ? `shared/e${i}-${j}.ts` : `shared/*${i}-${j}.ts`)
            }
          }
        }
        const ids = Array.from({ length: n }, (_, i) => `t${i}`)
        const plan = Plan.make(ids.map((id, i) => ({ id, owns: owns[i] })))
        assert.deepStrictEqual(new Set(plan.overlaps.map((o) => `${o.a} ${o.b}`)), edges)
        const overlap = (x: string, y: string) => edges.has(`${x} ${y}`) || edges.has(`${y} ${x}`)
        const order = new Map(ids.map((id, i) => [id, i]))

        let waiting = [...ids]
        const running = new Set<string>()
        const done = new Set<string>()
        const retries = new Map(ids.map((id) => [id, random(3)]))
        const firstStart = new Map<string, number>()
        const finished = new Map<string, number>()
        for (let step = 0; done.size < n; step++) {
          assert.isBelow(step, 10_000, "no progress")
          const allowed = Plan.ready(plan, { running, done }, waiting)
          const starting = allowed.slice(0, Math.max(0, workers - running.size))
          for (const id of starting) {
            for (const other of running)
              assert.isFalse(overlap(id, other), `${id} started while ${other} runs`)
            running.add(id)
            if (!firstStart.has(id)) firstStart.set(id, step)
          }
          waiting = waiting.filter((id) => !running.has(id))
          if (allowed.length < waiting.length + starting.length) runs.waited++
          // Nothing running while tasks wait would be a deadlock.
          assert.isAbove(running.size, 0, `deadlock: ${waiting.join(",")} wait, nothing runs`)
          const list = [...running]
          const id = list[random(list.length)]
          running.delete(id)
          if (retries.get(id)! > 0 && random(3) === 0) {
            retries.set(id, retries.get(id)! - 1)
            waiting = [...waiting, id].sort((x, y) => order.get(x)! - order.get(y)!)
            runs.retried++
          } else {
            done.add(id)
            finished.set(id, step)
          }
        }
        // The later of two overlapping tasks started only after the earlier one finished for good.
        for (const edge of edges) {
          const [x, y] = edge.split(" ")
          assert.isAbove(firstStart.get(y)!, finished.get(x)!, `${y} started before ${x} finished`)
        }
        runs.count++
      },
      Check.propOptions({ runs: 400 })
    )

    it("the scheduling property saw waiting and retries", () => {
      assert.isAtLeast(runs.count, 400)
      assert.isAbove(runs.waited, 50)
      assert.isAbove(runs.retried, 50)
    })
  })
})
