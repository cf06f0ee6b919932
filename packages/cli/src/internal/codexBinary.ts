/**
 * Which codex the commands run: the one installed with HandoffKit (`@openai/codex`), else `codex` on PATH.
 * @internal
 */
import { createRequire } from "node:module"

/** The codex executable or its npm entry point (`bin/codex.js`, run with this Node). */
export const codexBinary = (): string => {
  try {
    return createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")
  } catch {
    return "codex"
  }
}

/** The command line that runs `codexBinary()` with `args`. */
export const codexCommand = (
  args: ReadonlyArray<string>
): { readonly file: string; readonly args: ReadonlyArray<string> } => {
  const path = codexBinary()
  return path.endsWith(".js") ? { file: process.execPath, args: [path, ...args] } : { file: path, args }
}
