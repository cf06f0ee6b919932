/**
 * Benchmark runner: `npm run bench [-- [--strict] [PREFIX...]]`.
 *
 * Discovers `packages/*\/bench/*.bench.ts` and `examples/*\/bench/*.bench.ts`, each default-exporting (or
 * exporting as `benchmarks`) an array of `Benchmark | BenchSpec` (see `bench-types.d.ts`), runs those whose
 * name starts with one of the PREFIXes (all when none is given), one after the other, and prints one JSON
 * object per benchmark on stdout:
 *
 *   {"bench":NAME,"value":N,"unit":U,"baseline":WHAT|null,"ratio":R|null[,"ok":BOOL][,"error":MSG]}
 *
 * `ratio` is value / baseline value measured in the same run. `ok` appears when the benchmark declares
 * `expect`. Nothing else goes to stdout (progress and console output of benchmarks go to stderr).
 *
 * Exit code: 1 when a benchmark threw, when no benchmark matched, or, with `--strict`, when a threshold was
 * missed; 0 otherwise. Needs `--expose-gc` for memory benchmarks: started without it, the runner re-executes
 * itself with it.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { Benchmark, BenchSpec } from "./bench-kit.ts"
import { meets, toBenchmark } from "./bench-kit.ts"

const root = resolve(fileURLToPath(import.meta.url), "../..")

if ((globalThis as { gc?: unknown }).gc === undefined) {
  const self = fileURLToPath(import.meta.url)
  const child = spawnSync(process.execPath, ["--expose-gc", self, ...process.argv.slice(2)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? 1)
}

const usage = `usage: node scripts/bench.ts [--strict] [PREFIX...]
  PREFIX    run only benchmarks whose name starts with PREFIX (any of them)
  --strict  exit 1 if a benchmark misses its "expect" thresholds
  --list    print the names of the matching benchmarks on stderr and exit`

const args = process.argv.slice(2)
const flags = new Set(args.filter((a) => a.startsWith("--")))
const prefixes = args.filter((a) => !a.startsWith("--"))
for (const flag of flags) {
  if (!["--strict", "--list", "--help"].includes(flag)) {
    process.stderr.write(`unknown option ${flag}\n${usage}\n`)
    process.exit(2)
  }
}
if (flags.has("--help")) {
  process.stderr.write(`${usage}\n`)
  process.exit(0)
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

// stdout carries the JSON lines only: anything a benchmark prints through console goes to stderr.
for (const method of ["log", "info", "debug", "warn"] as const) {
  console[method] = (...data: Array<unknown>) => console.error(...data)
}

const discover = (): Array<string> => {
  const files: Array<string> = []
  for (const group of ["packages", "examples"]) {
    const groupDir = join(root, group)
    if (!existsSync(groupDir)) continue
    for (const entry of readdirSync(groupDir, { withFileTypes: true }).toSorted((a, b) =>
      a.name.localeCompare(b.name)
    )) {
      const benchDir = join(groupDir, entry.name, "bench")
      if (!entry.isDirectory() || !existsSync(benchDir)) continue
      for (const file of readdirSync(benchDir).toSorted()) {
        if (file.endsWith(".bench.ts")) files.push(join(benchDir, file))
      }
    }
  }
  return files
}

const describe = (value: unknown): string => (value instanceof Error ? value.message : String(value))

const validate = (entry: unknown, file: string): Benchmark | BenchSpec => {
  const where = relative(root, file)
  if (typeof entry !== "object" || entry === null) throw new Error(`${where}: a benchmark must be an object`)
  const e = entry as Record<string, unknown>
  if (typeof e["name"] !== "string" || e["name"] === "") throw new Error(`${where}: benchmark without a name`)
  if (typeof e["unit"] !== "string") throw new Error(`${where}: benchmark ${e["name"]} has no unit`)
  if (typeof e["run"] !== "function" && typeof e["measure"] !== "function") {
    throw new Error(`${where}: benchmark ${e["name"]} has neither run() nor measure()`)
  }
  return entry as Benchmark | BenchSpec
}

const load = async (): Promise<Array<Benchmark>> => {
  const benchmarks: Array<Benchmark> = []
  const seen = new Map<string, string>()
  for (const file of discover()) {
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown; benchmarks?: unknown }
    const list = mod.default ?? mod.benchmarks
    if (list === undefined) continue // a helper module living in bench/
    if (!Array.isArray(list))
      throw new Error(`${relative(root, file)}: the export must be an array of benchmarks`)
    for (const entry of list) {
      const benchmark = toBenchmark(validate(entry, file))
      const other = seen.get(benchmark.name)
      if (other !== undefined) {
        throw new Error(`benchmark ${benchmark.name} is defined twice: ${other} and ${relative(root, file)}`)
      }
      seen.set(benchmark.name, relative(root, file))
      benchmarks.push(benchmark)
    }
  }
  return benchmarks
}

const round = (x: number): number => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x)

const main = async (): Promise<number> => {
  const all = await load()
  const selected =
    prefixes.length === 0 ? all : all.filter((b) => prefixes.some((prefix) => b.name.startsWith(prefix)))
  if (selected.length === 0) {
    log(`no benchmark matches ${prefixes.join(", ") || "(all)"}; known: ${all.map((b) => b.name).join(", ")}`)
    return 1
  }
  if (flags.has("--list")) {
    for (const b of selected) log(b.name)
    return 0
  }
  let failed = false
  let missed = false
  for (const b of selected) {
    const start = performance.now()
    log(`${b.name} ...`)
    const line: Record<string, unknown> = { bench: b.name }
    try {
      const m = await b.run()
      const ratio = m.baseline !== undefined && m.baseline !== 0 ? m.value / m.baseline : null
      Object.assign(line, {
        value: round(m.value),
        unit: b.unit,
        baseline: b.baseline ?? null,
        ratio: ratio === null ? null : round(ratio)
      })
      if (b.expect !== undefined) {
        const ok = meets(b.expect, ratio)
        line["ok"] = ok
        if (!ok) missed = true
      }
    } catch (error) {
      failed = true
      Object.assign(line, {
        value: null,
        unit: b.unit,
        baseline: b.baseline ?? null,
        ratio: null,
        error: describe(error)
      })
    }
    process.stdout.write(`${JSON.stringify(line)}\n`)
    log(`${b.name} done in ${((performance.now() - start) / 1000).toFixed(1)} s`)
  }
  if (missed)
    log(flags.has("--strict") ? "thresholds missed (--strict): failing" : "thresholds missed (report only)")
  return failed || (missed && flags.has("--strict")) ? 1 : 0
}

// Exit explicitly: a benchmark that leaks a timer or a fiber must not keep the process alive (stdout is
// synchronous for files and pipes on Linux, so every JSON line is out by then).
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exit(1)
  }
)
