import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

// The README's example is the first ```ts block; run it as written (only its last line, which prints the
// result, becomes an export), so the front page cannot drift from the API.
it.live("the README example runs and prints what it says", () =>
  Effect.gen(function* () {
    const root = path.resolve(import.meta.dirname, "../../..")
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.isString(block, "README.md has a ts example")
    const expected = /\/\/ "(.*)"\s*$/.exec(block!.trim())?.[1]
    assert.isString(expected, "the example ends with the result it prints")
    const source = block!.replace(
      /Effect\.runPromise\(program\)\.then\(console\.log\).*$/m,
      "export default program"
    )
    const file = path.join(import.meta.dirname, ".readme-example.gen.ts")
    fs.writeFileSync(file, source)
    const mod = yield* Effect.promise(() => import(/* @vite-ignore */ file))
    const result = yield* mod.default as Effect.Effect<unknown>
    assert.strictEqual(result, expected)
  })
)
