import { NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import * as Pool from "../src/Pool.ts"
import { makeProject, removeProject, tasksOf } from "../test/fixtures/pool/project.ts"

const workers = Number(process.argv[2] ?? 8)
const ids = Array.from({ length: 16 }, (_, i) => `t${String(i).padStart(2, "0")}`)
const p = makeProject()
const prog = Effect.gen(function* () {
  const tasks = yield* tasksOf(
    ids.map((id) => ({
      id,
      prompt: id,
      owns: [`out-${id}.txt`],
      agent: {
        type: "command",
        argv: [
          "sh",
          "-c",
          `echo "s $(date +%s%N) $HANDOFFKIT_TASK_ID" >> /tmp/prof/agents.log; sleep 1 && echo "$HANDOFFKIT_TASK_ID" > "out-$HANDOFFKIT_TASK_ID.txt"; echo "e $(date +%s%N) $HANDOFFKIT_TASK_ID" >> /tmp/prof/agents.log`
        ]
      }
    }))
  )
  console.log("T0", Date.now())
  const tl: Array<string> = []
  ;(globalThis as any).__tl = (t: string, w: string) =>
    tl.push(`${(performance.now() - t0).toFixed(0)} ${t} ${w}`)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const log: Array<string> = []
  const s = yield* Pool.run({
    repo: p.repo,
    root: p.root,
    tasks,
    workers,
    gate: ["true"],
    onEvent: (e: any) =>
      log.push(
        `${(performance.now() - t0).toFixed(0)} ${e._tag} ${e.task ?? e.tasks?.join(",") ?? ""} ${e.phase ?? ""}`
      )
  }).pipe(Effect.provide(Pool.layerFor(p.root)))
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  console.log(
    "rss",
    (process.memoryUsage().rss / 1e6).toFixed(0),
    "heap",
    (process.memoryUsage().heapUsed / 1e6).toFixed(0)
  )
  console.log(
    "wall",
    ms.toFixed(0),
    "trainGateRuns",
    s.trainGateRuns,
    "mainCPU",
    ((cpu.user + cpu.system) / 1000).toFixed(0)
  )
  const tot: Record<string, number> = {}
  for (const t of s.tasks) for (const [k, v] of Object.entries(t.phases)) tot[k] = (tot[k] ?? 0) + v
  console.log(JSON.stringify(tot))
  if (process.env.TL) console.log(log.join("\n"))
  if (process.env.TL2) console.log(tl.join("\n"))
}).pipe(Effect.provide(NodeServices.layer))
Effect.runPromise(prog).finally(() => removeProject(p))
