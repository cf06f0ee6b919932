/**
 * Starts the review service on 127.0.0.1 (port `PORT`, default 8787): offline against a scripted model by
 * default, against OpenAI when OPENAI_API_KEY is set. Start it with `npm start -w examples/effect-service`;
 * SIGTERM or Ctrl-C interrupts the runs in flight, flushes the trace and exits.
 *
 * docs/embedding.md shows this file: keep the two identical (a test checks it).
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Layer } from "effect"
import { HandoffKit, OpenAi } from "@handoffkit/llm"
import { createServer } from "node:http"
import * as Http from "./Http.ts"
import * as Review from "./Review.ts"

// The model, the service budget, the Registry and the trace file, from the environment (see HandoffKit).
const Kit = HandoffKit.layerWith({ model: OpenAi.layerLiveOrScripted(Review.script()) })

const Server = NodeHttpServer.layerConfig(createServer, {
  port: Config.Int("PORT").pipe(Config.withDefault(8787)), // 0: any free port
  host: Config.succeed("127.0.0.1"),
  // Shutdown stops accepting at once and interrupts the runs in flight instead of waiting for them.
  gracefulShutdownTimeout: Config.succeed(0)
})

const Service = Http.layer().pipe(Layer.provide([Kit, Server]))

Layer.launch(Service).pipe(NodeRuntime.runMain)
