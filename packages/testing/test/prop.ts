/**
 * Options shared by the property tests (copied from the core's `test/prop.ts`): at least 200 runs, and replay
 * from the environment.
 *
 * A failing property prints `Replay: [...]`. Re-run exactly that case with
 * `HANDOFFKIT_REPLAY='[...]' npx vitest run <file> -t '<test name>'`, or explore other schedules with
 * `HANDOFFKIT_SEED=<n>`; `HANDOFFKIT_RUNS=<n>` raises the number of runs (it never goes below the default).
 */
export const propOptions = (options?: { readonly runs?: number; readonly timeout?: number }) => {
  const runs = Math.max(options?.runs ?? 200, Number(process.env.HANDOFFKIT_RUNS ?? 0))
  const seed = process.env.HANDOFFKIT_SEED
  const replay = process.env.HANDOFFKIT_REPLAY
  return {
    timeout: options?.timeout ?? 60_000,
    arbitrary: {
      runs,
      ...(seed !== undefined && seed !== "" ? { seed } : {}),
      ...(replay !== undefined && replay !== "" ? { replay } : {})
    }
  }
}
