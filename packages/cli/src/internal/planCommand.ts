/**
 * `handoffkit plan TASKS`: the ownership overlaps and the conflicts they predict, before anything runs.
 * @internal
 */
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Plan from "@handoffkit/pool/Plan"
import * as Task from "@handoffkit/pool/Task"

/** `handoffkit plan`. */
export const plan = Command.make(
  "plan",
  {
    tasks: Argument.String("tasks").pipe(Argument.withDescription("The task file (YAML or JSON)")),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print the plan as JSON"), Flag.withDefault(false))
  },
  Effect.fn("handoffkit/cli/plan")(function* (input) {
    const file = yield* Task.decodeFile(input.tasks)
    const made = Plan.make(file.tasks)
    if (input.json) {
      yield* Console.log(
        JSON.stringify(
          {
            file: file.file,
            tasks: made.tasks.map((task) => ({ id: task.id, owns: task.owns })),
            overlaps: made.overlaps
          },
          null,
          2
        )
      )
    } else yield* Console.log(Plan.format(made))
  })
).pipe(
  Command.withDescription(
    "Show which tasks own overlapping paths: they are predicted to conflict and are never run at the same time"
  ),
  Command.withExamples([{ command: "handoffkit plan tasks.yaml", description: "" }])
)
