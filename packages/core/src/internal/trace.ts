/**
 * Trace events about envelopes, shared by every primitive that moves them (actors, the broker).
 * @internal
 */
import type * as DeadLetter from "../DeadLetter.ts"
import type { Address, Envelope } from "../Envelope.ts"
import type * as Tracer from "../Tracer.ts"
import * as envelope from "./envelope.ts"

/**
 * A fresh event about an envelope, built in one object literal with every field (absent ones undefined), so
 * that all message events share one shape; `emit` then only fills in `seq` (and `ts` when not given).
 * @internal
 */
export const messageEvent = (
  kind: Tracer.Kind,
  actor: Address,
  peer: Address | undefined,
  env: Envelope<unknown>,
  data?: Record<string, string | number>,
  ts?: number
): Tracer.Emitted =>
  ({
    seq: 0,
    ts,
    kind,
    actor,
    peer,
    messageId: env.id,
    causationId: env.causationId,
    correlationId: env.correlationId,
    data
  }) as Tracer.Emitted

/**
 * A dead-letter sink that first traces each letter as a `dead-letter` event of `address` (with the envelope's
 * ids when the letter is an envelope, and `detail` of it in `data`), then hands it to `sink`.
 * @internal
 */
export const tracedSink = (
  sink: DeadLetter.Sink,
  tracer: Tracer.Tracer,
  address: Address,
  detail?: (env: Envelope<unknown>) => Record<string, string>
): DeadLetter.Sink =>
  tracer.enabled
    ? {
        publish: (letter) => {
          const message = letter.message
          tracer.emit(
            typeof message === "object" && message !== null && envelope.TypeId in message
              ? messageEvent(
                  "dead-letter",
                  address,
                  (message as Envelope<unknown>).from,
                  message as Envelope<unknown>,
                  {
                    reason: letter.reason,
                    ...detail?.(message as Envelope<unknown>)
                  }
                )
              : { kind: "dead-letter", actor: address, data: { reason: letter.reason } }
          )
          sink.publish(letter)
        }
      }
    : sink
