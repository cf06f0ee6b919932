/**
 * Test harness: starts the service on 127.0.0.1 (a free port) against a real ScriptedServer, and talks to it
 * with a real HTTP client (fetch), JSON or server-sent events.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Scope } from "effect"
import { Sse } from "effect/encoding"
import { HttpServer } from "effect/http"
import { Budget, Corpus, Tracer } from "@handoffkit/core"
import { Registry } from "@handoffkit/core/Registry"
import { HandoffKit, OpenAi, ScriptedServer } from "@handoffkit/llm"
import { createServer } from "node:http"
import * as Http from "../src/Http.ts"
import * as Review from "../src/Review.ts"
import * as Reviews from "../src/Reviews.ts"

export interface Started {
  readonly url: string
  readonly model: ScriptedServer.ScriptedServer
  readonly reviews: Reviews.Reviews["Service"]
  readonly registry: Registry["Service"]
  readonly budget: Budget.Budget
}

/**
 * Starts the service in `scope` (the current one by default): a ScriptedServer answering `script`, the
 * HandoffKit services with the given service budget and tracer, the routes on a Node server on 127.0.0.1.
 * `extra` is provided under everything (an OpenTelemetry tracer, say).
 */
export const start = <X = never>(options: {
  readonly script: ScriptedServer.Script
  readonly serviceBudget?: Budget.Limits | undefined
  readonly service?: Http.Options | undefined
  readonly tracer?: Tracer.Tracer | undefined
  readonly extra?: Layer.Layer<X> | undefined
  readonly scope?: Scope.Scope | undefined
}): Effect.Effect<Started, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    // The model server lives in the caller's scope: it outlives a service closed on its own `scope`, so it
    // sees the service close its connections.
    const model = yield* ScriptedServer.make(options.script)
    const scope = options.scope ?? (yield* Effect.scope)
    const kit = HandoffKit.layerWith({
      model: OpenAi.layer({
        model: "gpt-test",
        baseURL: model.url,
        retry: { times: 0, base: 0, cap: 0, jitter: false }
      }),
      budget: HandoffKit.layerBudget(options.serviceBudget ?? {}),
      corpus: Corpus.layerMemory,
      tracer: Layer.succeedContext(Context.make(Tracer.CurrentTracer, options.tracer ?? Tracer.disabled))
    })
    const app = Http.layer({ log: false, ...options.service }).pipe(
      Layer.provideMerge(kit),
      Layer.provideMerge(
        NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1", gracefulShutdownTimeout: 0 })
      ),
      Layer.provide(options.extra ?? Layer.empty)
    )
    const context = yield* Layer.buildWithScope(app, scope)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") return yield* Effect.die("expected an internet address")
    return {
      url: `http://127.0.0.1:${address.port}`,
      model,
      reviews: Context.get(context, Reviews.Reviews),
      registry: Context.get(context, Registry),
      budget: Context.get(context, HandoffKit.ServiceBudget)
    }
  })

/** A reply of the service: status, run id header and parsed JSON body. */
export interface Reply {
  readonly status: number
  readonly runId: string | null
  readonly body: any
}

/** `POST /reviews` with a JSON body (any value, or a raw string), answered as JSON. */
export const post = (url: string, body: unknown, init?: { readonly timeoutMs?: number }): Promise<Reply> =>
  fetch(`${url}/reviews`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(init?.timeoutMs ?? 10_000)
  }).then(async (response) => ({
    status: response.status,
    runId: response.headers.get("x-run-id"),
    body: await response.json()
  }))

/** `GET /runs/:id/trace`. */
export const getTrace = (url: string, runId: string): Promise<Reply> =>
  fetch(`${url}/runs/${encodeURIComponent(runId)}/trace`, { signal: AbortSignal.timeout(10_000) }).then(
    async (response) => ({ status: response.status, runId: null, body: await response.json() })
  )

/** One server-sent event, its data parsed. */
export interface Event {
  readonly event: string
  readonly data: any
}

/** An open event stream: read it event by event, or abort it (the client goes away). */
export interface EventStream {
  readonly status: number
  readonly runId: string | null
  /** The next event; `undefined` once the stream has ended (or broken: see `broken`). */
  readonly next: () => Promise<Event | undefined>
  /** Whether the stream ended by an error rather than cleanly. */
  readonly broken: () => boolean
  readonly abort: () => void
}

/** `POST /reviews` asking for server-sent events; events are parsed with Effect's SSE parser. */
export const postEvents = async (url: string, body: unknown): Promise<EventStream> => {
  const controller = new AbortController()
  const response = await fetch(`${url}/reviews`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal: controller.signal
  })
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  const queue: Array<Event> = []
  const parser = Sse.makeParser((event) => {
    if (event._tag === "Event") queue.push({ event: event.event, data: JSON.parse(event.data) })
  })
  let ended = false
  let failed = false
  const next = async (): Promise<Event | undefined> => {
    while (queue.length === 0 && !ended) {
      const chunk = await reader.read().catch(() => {
        failed = true
        return { done: true as const, value: undefined }
      })
      if (chunk.done) ended = true
      else parser.feed(decoder.decode(chunk.value, { stream: true }))
    }
    return queue.shift()
  }
  return {
    status: response.status,
    runId: response.headers.get("x-run-id"),
    next,
    broken: () => failed,
    abort: () => controller.abort()
  }
}

/** Every event until the stream ends. */
export const drain = async (stream: EventStream): Promise<Array<Event>> => {
  const events: Array<Event> = []
  for (let event = await stream.next(); event !== undefined; event = await stream.next()) events.push(event)
  return events
}

/** Polls `check` every 10 ms of real time until it holds; fails after `ms` naming `what`. */
export const eventually = <A>(
  what: string,
  check: () => Promise<A | undefined> | A | undefined,
  ms = 5_000
): Promise<A> => {
  const deadline = Date.now() + ms
  const poll = async (): Promise<A> => {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
    return poll()
  }
  return poll()
}

/** Polls `check` every 10 ms of real time until it is true; dies after `ms` naming `what`. */
export const waitUntil = (what: string, check: Effect.Effect<boolean>, ms = 5_000): Effect.Effect<void> =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!(yield* check)) {
      if (Date.now() > deadline)
        return yield* Effect.die(new Error(`timed out after ${ms} ms waiting for ${what}`))
      yield* Effect.sleep("10 millis")
    }
  })

/** A script that answers like `Review.script`, except that reviewers named in a `HANG:<names>` marker of
 * the code never answer (their HTTP response hangs until the client goes away). */
export const hangingScript = (delayMs = 20): ScriptedServer.Script => {
  const normal = Review.script({ delayMs })
  return (request) => {
    const marker = /HANG:([a-z,]+)/.exec(JSON.stringify(request.body))
    const reviewer = Review.reviewerOf(request)
    if (marker !== null && reviewer !== undefined && marker[1]!.split(",").includes(reviewer)) {
      return ScriptedServer.Turn.hang()
    }
    return normal(request)
  }
}

/** How many requests the scripted model is answering with a hang right now (recorded, not closed). */
export const hanging = (model: ScriptedServer.ScriptedServer): Effect.Effect<number> =>
  Effect.map(model.requests, (requests) => requests.filter((r) => r.turn?._tag === "Hang").length)
