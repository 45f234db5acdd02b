import { randomUUID } from 'node:crypto';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { findAction } from '../actions/table.ts';
import type { Family } from '../actions/types.ts';
import { withSentence } from '../config/message-text.ts';
import type { TaniumApi } from '../tanium/client.ts';
import { credentialsByDeadline } from '../tanium/credentials-by-deadline.ts';
import { TaniumError, toTaniumError } from '../tanium/errors.ts';
import { copyKey, recordKey, type Turned, takeTurn } from './batch-copies.ts';
import {
  isEventBridgeEvent,
  type ParsedRequest,
  parseEventBridgeEvent,
  parseMessageBody,
  parseRequest,
  usableId,
} from './envelope.ts';
import { requestKeys } from './logging.ts';
import {
  type DeliveryInfo,
  type Disposition,
  isLastAttempt,
  publishes,
  RequestProcessor,
  replayable,
} from './processor.ts';
import type { ResultSink } from './publisher.ts';
import { delayRedeliveries, type Redelivery } from './redelivery-backoff.ts';
import { RequestTurns } from './request-turns.ts';
import { type ResultDetail, replacementOf, serialisable } from './result.ts';
import { type FamilyHandlerOptions, FamilyRuntime } from './runtime.ts';

export type { Family } from '../actions/types.ts';
export type { FamilyHandlerOptions } from './runtime.ts';

import { abortWindow, PUBLISH_MARGIN_MS, PUBLISH_RESERVE_MS } from './time-budget.ts';

export { PUBLISH_MARGIN_MS, PUBLISH_RESERVE_MS };

/** The deadline when there is no Lambda context (a local run): Lambda's own maximum. */
const NO_CONTEXT_BUDGET_MS = 15 * 60_000;

/**
 * What a family handler returns: the partial batch response for SQS, the result detail for an
 * EventBridge event or a direct invocation.
 */
export type FamilyHandlerResponse = SQSBatchResponse | ResultDetail;

export type FamilyHandler = (event: unknown, context?: Context) => Promise<FamilyHandlerResponse>;

function isSqsEvent(event: unknown): event is SQSEvent {
  if (typeof event !== 'object' || event === null) return false;
  const records = (event as { Records?: unknown }).Records;
  // Lambda never hands a function an empty batch: a payload with `Records: []` is a request to refuse.
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every(
      (record) =>
        typeof record === 'object' &&
        record !== null &&
        (record as { eventSource?: unknown }).eventSource === 'aws:sqs',
    )
  );
}

/**
 * The one handler of every family function, built by the function's entry module (family-handler.ts;
 * vault-family-handler.ts for evidence, vault-reader-family-handler.ts for intel), which says what vault
 * the function has and where its S3 client comes from. It accepts the three shapes a request arrives in:
 * - an SQS batch: records run concurrently (deliveries of one mutating request one after another, see
 *   RequestTurns); only the records that failed transiently are reported in
 *   `batchItemFailures` (so only they are redelivered); on a record's last attempt its failed result is
 *   published before it goes to the dead-letter queue;
 * - an EventBridge event: `detail` is the request;
 * - a direct invocation: the payload is the request, and the result is also the return value.
 * Each request ends in exactly one `Action Result` event (EventBridge and direct invocations are not
 * redelivered, so their transient failures are published as they are, with `error.retryable`). The
 * exception is a duplicate that another delivery's in-progress record stops where SQS cannot bring it
 * back: it publishes nothing and fails, since that delivery publishes the result (see `held`).
 */
export function buildFamilyHandler(
  family: Family,
  options: FamilyHandlerOptions & Required<Pick<FamilyHandlerOptions, 's3Api'>>,
): FamilyHandler {
  const runtime = new FamilyRuntime(family, options);

  return async function handler(event: unknown, context?: Context): Promise<FamilyHandlerResponse> {
    if (context) runtime.addLambdaContext(context);
    const settings = runtime.settings();
    const metrics = runtime.metrics();
    const now = runtime.now();
    const remaining = context ? context.getRemainingTimeInMillis() : NO_CONTEXT_BUDGET_MS;
    const deadline = now + Math.max(0, remaining - PUBLISH_RESERVE_MS);
    const publishing = context
      ? abortWindow(
          remaining - PUBLISH_MARGIN_MS,
          () =>
            new TaniumError(
              'transient',
              `the invocation was about to time out (publishing stops ${PUBLISH_MARGIN_MS} ms before its end)`,
              { retryable: true },
            ),
        )
      : undefined;
    // One credential read per invocation, shared by every record of the batch.
    let client: Promise<TaniumApi> | undefined;
    const settingsProblem = runtime.settingsProblem();
    const processor = new RequestProcessor({
      family,
      ...(settingsProblem ? { unrunnable: settingsProblem } : {}),
      client: () => {
        client ??= credentialsByDeadline(runtime.client(), deadline, runtime.logger);
        return client;
      },
      idempotency: () => runtime.idempotency(),
      vault: () => runtime.vault(),
      logger: runtime.logger,
      metrics,
      now: () => runtime.now(),
      getFileMaxBytes: settings.getFileMaxBytes,
      ...(runtime.sleep ? { sleep: runtime.sleep } : {}),
    });
    /**
     * Publishes a result (queued once its event is built: a few microtasks, or the vault write of a
     * result too big for an event) and resolves with the detail as
     * published (see ResultSink.publish), which is what a caller gets back. A failure is logged here,
     * since the request itself was already logged as done; so is a result published in another form
     * (failed, or without part of its request: one that could not be serialised or stored), which its
     * log line and metrics do not show. `lastAttempt`: no redelivery follows (see PublishOptions).
     */
    const publish = async (
      sink: ResultSink,
      disposition: Disposition,
      lastAttempt: boolean,
    ): Promise<ResultDetail> => {
      const { detail } = disposition;
      const options = { lastAttempt, replayable: replayable(disposition) };
      let published: ResultDetail;
      try {
        published = await sink.publish(
          detail,
          publishing ? { ...options, signal: publishing.signal } : options,
        );
      } catch (error) {
        metrics.unpublished();
        runtime.logger.error('Could not publish the result event', {
          ...requestKeys(detail.requestId, detail.action),
          status: detail.status,
          error: toTaniumError(error).message,
        });
        throw error;
      }
      reportStandIn(detail, published);
      return published;
    };
    const reportStandIn = (detail: ResultDetail, published: ResultDetail): void => {
      const replacement = replacementOf(published);
      if (!replacement) return;
      metrics.replaced();
      const text =
        replacement === 'reduced'
          ? 'The result was published without part of its request'
          : 'The result was replaced by a failed one';
      runtime.logger.error(text, {
        ...requestKeys(detail.requestId, detail.action),
        status: detail.status,
        publishedMessage: published.message,
      });
    };
    const delivery = (attempt: number, redelivered: boolean): DeliveryInfo => ({
      redelivered,
      attempt,
      maxAttempts: settings.maxReceiveCount,
      deadline,
      ...(context ? { lambdaContext: context } : {}),
    });

    try {
      if (isSqsEvent(event)) {
        // Fails the whole invocation when no bus is configured: the messages stay queued, nothing is lost.
        const sink = runtime.sink();
        const redeliveries: Redelivery[] = [];
        const turns = new RequestTurns<Turned>();
        const recordHandler = async (record: SQSRecord): Promise<void> => {
          // The batch's results share PutEvents calls: each record holds the sink until its own is queued.
          const release = sink.hold?.() ?? (() => {});
          try {
            const attempt = Math.max(1, Number(record.attributes?.ApproximateReceiveCount) || 1);
            // SQS always gives a message id; a hand-made event (a console test) may not.
            const parsed = parseMessageBody(record.body, usableId(record.messageId) ?? randomUUID());
            const info = delivery(attempt, true);
            // Only a mutating action keeps an idempotency record a later delivery would meet.
            const definition = parsed.ok ? findAction(parsed.request.action) : undefined;
            const mutating = parsed.ok && definition?.readOnly === false;
            const messageId = record.messageId;
            const disposition = await (mutating
              ? turns
                  .run(
                    recordKey(parsed.request, definition.id),
                    copyKey(parsed.request, definition.id),
                    (turn) => takeTurn(processor, parsed, { ...info, messageId }, turn, runtime.logger),
                  )
                  .then((turned) => turned.disposition)
              : processor.process(parsed, { ...info, messageId }));
            if (publishes(disposition)) {
              const lastAttempt = isLastAttempt(info);
              const published = publish(sink, disposition, lastAttempt);
              release();
              let result: ResultDetail;
              try {
                result = await published;
              } catch (error) {
                if (disposition.kind === 'final' && disposition.answeredAgain) {
                  // Run again, the redelivery could contradict the earlier copy's result, which stands.
                  runtime.logger.error(
                    "The earlier copy's result could not be sent again for this one; the message is done without it",
                    {
                      ...requestKeys(disposition.detail.requestId, disposition.detail.action),
                      error: toTaniumError(error).message,
                    },
                  );
                  return;
                }
                // Backed off like a transient failure of the action: left to the queue's own timeout, a
                // bus that refuses every result would take hours to show in the dead-letter queue. Not a
                // mutation left unrecorded: its stuck record is all that stops a redelivery from running
                // it again, so the redelivery waits the queue's whole timeout, not just until it expires.
                const unrecorded = disposition.kind === 'final' && disposition.unrecorded === true;
                if (!lastAttempt && !unrecorded) {
                  redeliveries.push({
                    messageId: record.messageId,
                    receiptHandle: record.receiptHandle,
                    eventSourceARN: record.eventSourceARN,
                    attempt,
                    recordMayRemain: disposition.kind === 'final' && disposition.recordMayRemain === true,
                  });
                }
                throw error;
              }
              // The vault failed transiently to store the result on the last attempt: as after any
              // transient failure there, the message goes on to the DLQ, whose redrive can publish it whole.
              const echoed = disposition.kind === 'final' && disposition.answeredAgain === true;
              if (replacementOf(result) === 'failed' && result.error?.retryable && !echoed) {
                throw new TaniumError(result.error.kind, result.message, { retryable: true });
              }
            } else if (disposition.kind === 'retry') {
              redeliveries.push({
                messageId: record.messageId,
                receiptHandle: record.receiptHandle,
                eventSourceARN: record.eventSourceARN,
                attempt,
                recordMayRemain: disposition.recordMayRemain,
                heldElsewhere: disposition.heldElsewhere,
                ...(disposition.error.retryAfterMs === undefined
                  ? {}
                  : { retryAfterMs: disposition.error.retryAfterMs }),
              });
            }
            if ('error' in disposition) throw disposition.error;
          } finally {
            release();
          }
        };
        // A batch whose records all failed is reported like any partial failure: SQS redelivers them
        // and the dead-letter queue alarms, instead of counting routine retries as function errors.
        const response = await processPartialResponse(
          event,
          recordHandler,
          new BatchProcessor(EventType.SQS),
          { ...(context ? { context } : {}), throwOnFullBatchFailure: false },
        );
        // Once the batch is done, so a record left in progress has as little of the invocation left to
        // outlast as possible; bounded like publishing, since the response matters more than the delay.
        if (redeliveries.length > 0) {
          await delayRedeliveries(() => runtime.sqs(), redeliveries, {
            queueTimeoutSeconds: settings.queueVisibilityTimeoutSeconds,
            queueUrl: settings.queueUrl,
            remainingMs: context?.getRemainingTimeInMillis(),
            ...(runtime.retryBackoffBaseSeconds === undefined
              ? {}
              : { baseSeconds: runtime.retryBackoffBaseSeconds }),
            logger: runtime.logger,
            ...(publishing ? { signal: publishing.signal } : {}),
          });
        }
        return response;
      }
      let parsed: ParsedRequest;
      if (isEventBridgeEvent(event)) {
        // As for SQS: with no bus configured, fail before Tanium is called, not after.
        const sink = runtime.sink();
        // An event id no request id can be (a hand-made event) is not used, as in SQS; Lambda's request id,
        // which its retries of an asynchronous invocation keep, is the next stable key.
        parsed = parseEventBridgeEvent(event, usableId(context?.awsRequestId) ?? randomUUID());
        const disposition = await processor.process(parsed, delivery(1, false));
        if (disposition.kind === 'held') throw disposition.error;
        // Not left to Lambda's retries of the invocation, which would meet the same vault: a transient
        // failure to store an oversized result is published as such, like a transient failure of the action.
        if (!publishes(disposition)) return disposition.detail;
        try {
          return await publish(sink, disposition, true);
        } catch (error) {
          // As for a direct invocation: a synchronous caller (a console test, a workflow) must learn the
          // request id, which may be Lambda's, and what invoking again does.
          throw unpublished(disposition, error);
        }
      }
      // Lambda keeps the request id across its retries of an asynchronous invocation: with it as the
      // fallback, a retried mutating request finds its idempotency record instead of running again.
      parsed = parseRequest(event, context?.awsRequestId || randomUUID());
      const disposition = await processor.process(parsed, delivery(1, false));
      // Lambda retries a failed asynchronous invocation, and then hands it to the on-failure destination.
      if (disposition.kind === 'held') throw disposition.error;
      if (!publishes(disposition)) return disposition.detail;
      // Lambda serialises what the handler returns: a detail it cannot serialise would fail the call.
      if (!runtime.canPublish()) {
        const returned = serialisable(disposition.detail);
        reportStandIn(disposition.detail, returned);
        return returned;
      }
      try {
        return await publish(runtime.sink(), disposition, true);
      } catch (error) {
        // The invocation still fails (an asynchronous one is retried under the same request id), but
        // a synchronous caller must learn the request id, which may have been generated here.
        throw unpublished(disposition, error);
      }
    } finally {
      publishing?.close();
      try {
        metrics.flush();
      } catch (error) {
        // Thrown here it would replace the batch response: every record would come back, published twice.
        runtime.logger.error('Could not write the metrics of this invocation', {
          error: toTaniumError(error).message,
        });
      }
    }
  };
}

/**
 * The error of a direct invocation (or one with an EventBridge event) whose result could not be
 * published, naming its request id and saying what invoking again does (invokingAgain).
 */
function unpublished(disposition: Disposition, error: unknown): TaniumError {
  const { detail } = disposition;
  const failure = toTaniumError(error);
  return new TaniumError(
    failure.kind,
    withSentence(
      `Request ${detail.requestId} ended (${detail.status}) but its Action Result event could not be published: ${failure.message}`,
      invokingAgain(disposition),
    ),
    { retryable: failure.retryable, cause: error },
  );
}

/** What invoking again with the same request does, for a caller whose result was not published. */
function invokingAgain(disposition: Disposition): string {
  const id = JSON.stringify(disposition.detail.requestId);
  if (!replayable(disposition)) {
    return 'Its idempotency record could not be completed: invoking again may run the action again';
  }
  const final = disposition.kind === 'final' ? disposition : undefined;
  if (final?.refusedBy === 'conflict') {
    return `Invoking again with "requestId": ${id} and these parameters is refused as long as its record for other parameters stands: send a new requestId`;
  }
  if (final?.refusedBy === 'invalid') {
    return 'Invoking again with the same request is refused again by this deployment';
  }
  if (final?.refusedBy === 'unreadable') {
    return 'It ran before and its stored result cannot be read: invoking again does not run it again';
  }
  if (final?.stored) {
    return `Invoking again with "requestId": ${id} returns its stored result without running the action again`;
  }
  const expiry = final?.recordMayRemain
    ? ', once this invocation has timed out and its in-progress record has expired'
    : '';
  return `Nothing of it was stored: invoking again runs it again${expiry}`;
}
