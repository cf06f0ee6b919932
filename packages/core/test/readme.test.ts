import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

// The README's examples are its ```ts blocks; each is run as written (only its last line, which prints the
// result, becomes an export) and must produce the value its last comment shows, so the front page cannot
// drift from the API.
const root = path.resolve(import.meta.dirname, "../../..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)

describe("README", () => {
  it("has examples", () => {
    assert.isAtLeast(blocks.length, 2)
  })

  blocks.forEach((block, i) => {
    it.live(`example ${i + 1} runs and prints what it says`, () =>
      Effect.gen(function* () {
        const comment = /\/\/ (.*)\s*$/.exec(block.trim())?.[1]
        assert.isString(comment, "the example ends with the result it prints")
        const expected: unknown = JSON.parse(comment!)
        const source = block.replace(
          /Effect\.runPromise\(program\)\.then\(console\.log\).*$/m,
          "export default program"
        )
        assert.notStrictEqual(source, block, "the example ends by running `program`")
        const file = path.join(import.meta.dirname, `.readme-example-${i + 1}.gen.ts`)
        fs.writeFileSync(file, source)
        const mod = yield* Effect.promise(() => import(/* @vite-ignore */ file))
        const result = yield* mod.default as Effect.Effect<unknown>
        assert.deepStrictEqual(result, expected)
      })
    )
  })
})
