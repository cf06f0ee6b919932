import { assert, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

// docs/testing.md shows this example's two files in full; they are the code that runs (the property test next to
// this file), so the page must show them word for word.
const read = (file: string) => fs.readFileSync(path.join(import.meta.dirname, "..", file), "utf8")

it("docs/testing.md shows the example's topology and its property test as they are", () => {
  const root = path.resolve(import.meta.dirname, "../../..")
  const page = fs.readFileSync(path.join(root, "docs/testing.md"), "utf8")
  const section = page.slice(page.indexOf("## Example: a three-agent topology"))
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
  assert.strictEqual(blocks.length, 2)
  assert.strictEqual(blocks[0], read("src/topology.ts"))
  assert.strictEqual(blocks[1], read("test/topology.test.ts"))
})
