/**
 * The vitest projects of the workspace. vitest 5 no longer reads a workspace file by itself:
 * `vitest.config.ts` imports this list as `test.projects`.
 */
export default [
  {
    test: {
      name: "core",
      root: "./packages/core",
      include: ["test/**/*.test.ts"]
    }
  },
  {
    test: {
      name: "llm",
      root: "./packages/llm",
      include: ["test/**/*.test.ts"]
    }
  },
  {
    test: {
      name: "testing",
      root: "./packages/testing",
      include: ["test/**/*.test.ts"]
    }
  },
  {
    test: {
      name: "pool",
      root: "./packages/pool",
      include: ["test/**/*.test.ts"]
    }
  },
  {
    test: {
      name: "cli",
      root: "./packages/cli",
      include: ["test/**/*.test.ts"]
    }
  },
  {
    test: {
      name: "fidelity",
      root: "./packages/fidelity",
      include: ["test/**/*.test.ts"]
    }
  },
  {
    test: {
      name: "cluster",
      root: "./packages/cluster",
      include: ["test/**/*.test.ts"],
      globalSetup: ["./test/fixture/globalSetup.ts"],
      // Each file runs runner processes and a PostgreSQL: one file at a time, so they do not starve each other
      // of CPU past their lock deadlines (the files take as long in a row as side by side on 2 cores).
      fileParallelism: false
    }
  },
  {
    test: {
      name: "examples",
      root: "./examples",
      include: ["*/test/**/*.test.ts"]
    }
  }
]
