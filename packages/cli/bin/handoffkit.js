#!/usr/bin/env node
// The `handoffkit` bin. HandoffKit runs on Node >= 22 (it is TypeScript run by Node's type stripping); the
// repository's `npm install` brings Node 24 as the `node` package. On an older Node this re-runs itself with
// that one, passing the arguments through untouched (no shell) and the exit code back.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const major = Number(process.versions.node.split(".")[0])

if (major >= 22) {
  await import(pathToFileURL(join(here, "..", "src", "bin.ts")).href)
} else {
  let node
  try {
    node = join(dirname(createRequire(import.meta.url).resolve("node/package.json")), "bin", "node")
  } catch {
    node = undefined
  }
  if (node === undefined || !existsSync(node)) {
    console.error(
      `handoffkit: needs Node >= 22 (this is ${process.version}); run \`npm install\` in the HandoffKit repository, which brings Node 24`
    )
    process.exit(2)
  }
  const child = spawnSync(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? (child.signal === "SIGINT" ? 130 : 1))
}
