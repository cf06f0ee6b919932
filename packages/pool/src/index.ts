/**
 * The worktree worker pool: a list of tasks feeds one queue mailbox, N coding agents pull from it, each works in
 * its own git worktree, the repository's test suite decides, and a local merge train merges passing work back.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Agents from "./Agents.ts"

/** @since 0.1.0 */
export * as Gate from "./Gate.ts"

/** @since 0.1.0 */
export * as Git from "./Git.ts"

/** @since 0.1.0 */
export * as Journal from "./Journal.ts"

/** @since 0.1.0 */
export * as Plan from "./Plan.ts"

/** @since 0.1.0 */
export * as Pool from "./Pool.ts"

/** @since 0.1.0 */
export * as Progress from "./Progress.ts"

/** @since 0.1.0 */
export * as Task from "./Task.ts"
