/**
 * The HTTP face of the service, on `effect/http`:
 *
 * - `POST /reviews` with a JSON body `{ code, language? }` (validated with `Review.ReviewRequest`) runs a
 *   review. With `Accept: text/event-stream` it streams server-sent events (`started`, one `finding` per
 *   reviewer as it arrives, `findings`, `done`, or `error`); otherwise it answers the joined findings as
 *   JSON. Every answer carries the run's id in `x-run-id`.
 * - `GET /runs/:id/trace` answers a recent run's trace: its status and its events.
 *
 * Errors are JSON `{ error, message, ... }`: 400 names the field that failed the Schema, 429 names the
 * budget dimension that refused the run (decided before the run starts), 404 an unknown run, 504 a run whose
 * reviewers did not all report in time.
 *
 * A client that goes away interrupts its request's fiber (the Node server does it when the connection closes
 * before the response ends); the request's scope closes, and with it the run (see `Reviews`).
 */
import { ByteSize, Effect, Layer, Result, Schema, SchemaIssue, Stream } from "effect"
import type { LanguageModel } from "effect/ai"
import { Sse } from "effect/encoding"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { HttpServer } from "effect/http"
import type { Registry } from "@handoffkit/core/Registry"
import type { HandoffKit } from "@handoffkit/llm"
import * as Review from "./Review.ts"
import * as Reviews from "./Reviews.ts"

/** One issue of a refused body: the field (a dotted path; `body` for the body itself) and what is wrong. */
export interface FieldIssue {
  readonly field: string
  readonly message: string
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()
const decodeRequest = Schema.decodeUnknownExit(Review.ReviewRequest)

/** Decodes a `POST /reviews` body, or lists what is wrong with it, field by field (unknown fields too). */
export const decodeBody = (body: unknown): Result.Result<Review.ReviewRequest, ReadonlyArray<FieldIssue>> => {
  const exit = decodeRequest(body, { errors: "all", onExcessProperty: "error" })
  if (exit._tag === "Success") return Result.succeed(exit.value)
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure === undefined) return Result.fail([{ field: "body", message: "could not be decoded" }])
  return Result.fail(
    formatIssues(failure.error.issue).issues.map((issue) => ({
      field: issue.path === undefined || issue.path.length === 0 ? "body" : issue.path.map(String).join("."),
      message: issue.message
    }))
  )
}

/** The largest body `POST /reviews` reads. */
export const maxBodySize = ByteSize.megabytes(1)

const error = (status: number, body: { readonly error: string; readonly message: string }, runId?: string) =>
  HttpServerResponse.jsonUnsafe(body, {
    status,
    ...(runId === undefined ? {} : { headers: { "x-run-id": runId } })
  })

const badRequest = (issues: ReadonlyArray<FieldIssue>) =>
  HttpServerResponse.jsonUnsafe(
    {
      error: "InvalidRequest",
      field: issues[0]!.field,
      message: issues.map((issue) => `${issue.field}: ${issue.message}`).join("; "),
      issues
    },
    { status: 400 }
  )

const sseEvent = (event: Review.Progress): string =>
  Sse.encoder.write({ _tag: "Event", event: event.type, id: undefined, data: JSON.stringify(event) })

const postReview = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const body = yield* Effect.option(
    Effect.provideService(request.json, HttpIncomingMessage.MaxBodySize, maxBodySize)
  )
  if (body._tag === "None") {
    return badRequest([{ field: "body", message: "is not a JSON document of at most 1 MB" }])
  }
  const input = decodeBody(body.value)
  if (Result.isFailure(input)) return badRequest(input.failure)
  const reviews = yield* Reviews.Reviews
  const admitted = yield* Effect.result(reviews.start(input.success))
  if (admitted._tag === "Failure") {
    const refused = admitted.failure
    // Refused at admission: no agent started, nothing was spent.
    return HttpServerResponse.jsonUnsafe(
      {
        error: refused._tag,
        dimension: refused.dimension,
        reason: refused.reason,
        requested: refused.requested,
        remaining: refused.remaining,
        message: `the service budget cannot cover another run: ${refused.message}`
      },
      { status: 429 }
    )
  }
  const run = admitted.success
  if ((request.headers["accept"] ?? "").includes("text/event-stream")) {
    return HttpServerResponse.stream(Stream.encodeText(Stream.map(run.progress, sseEvent)), {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-run-id": run.runId }
    })
  }
  const review = yield* Effect.result(run.result)
  if (review._tag === "Failure") {
    return error(504, { error: review.failure._tag, message: review.failure.message }, run.runId)
  }
  return HttpServerResponse.jsonUnsafe(review.success, { headers: { "x-run-id": run.runId } })
})

const getTrace = Effect.gen(function* () {
  const { id } = yield* HttpRouter.params
  const reviews = yield* Reviews.Reviews
  const trace = yield* reviews.trace(id ?? "")
  return trace._tag === "Some"
    ? HttpServerResponse.jsonUnsafe(trace.value)
    : error(404, { error: "NoSuchRun", message: `no recent run has the id ${JSON.stringify(id)}` })
})

/** The routes: `POST /reviews` and `GET /runs/:id/trace`. */
export const routes = Layer.mergeAll(
  HttpRouter.add("POST", "/reviews", postReview),
  HttpRouter.add("GET", "/runs/:id/trace", getTrace)
)

/** Options of `layer`: the reviews service's, and whether the server logs. */
export interface Options extends Reviews.Options {
  /** Log the address listened on and each request (Effect's HTTP logger). Default true. */
  readonly log?: boolean | undefined
}

/**
 * The service: the routes served by the `HttpServer` in context, with the reviews service (also provided
 * to the caller, to read its traces) built from the HandoffKit services.
 */
export const layer = (
  options?: Options
): Layer.Layer<
  Reviews.Reviews,
  never,
  HttpServer.HttpServer | Registry | LanguageModel.LanguageModel | HandoffKit.ServiceBudget
> =>
  HttpRouter.serve(routes, {
    disableLogger: options?.log === false,
    disableListenLog: options?.log === false
  }).pipe(Layer.provideMerge(Reviews.layer(options)))
