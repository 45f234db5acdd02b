/**
 * How long a family queue keeps and hides its records, and how long a request can keep failing before
 * its last attempt: plain numbers, shared by the queue construct and the environment checks.
 */
import { SOURCE_QUEUE_RETENTION_DAYS } from '../shared/config/retention.ts';
import { backoffSeconds, longestRedeliveryDelaySeconds } from '../shared/events/redelivery-backoff.ts';

/**
 * The share of the retention period a request's retries may take. The rest is for waiting in a backlog
 * before the first attempt (maxConcurrency throttles the queue), so a request reaches its last attempt,
 * and the dead-letter queue with a failed result, before SQS deletes it unseen.
 */
const RETRY_SHARE_OF_RETENTION = 0.5;

/** Six function timeouts plus the batching window: AWS's guidance for Lambda event source queues. */
export function visibilityTimeoutSeconds(
  functionTimeoutSeconds: number,
  maxBatchingWindowSeconds: number,
): number {
  return 6 * functionTimeoutSeconds + maxBatchingWindowSeconds;
}

/**
 * The longest a request whose every attempt fails transiently takes from its first receive to its last,
 * `maxReceiveCount`-th. A failed attempt hides the record from when it ends, at most a function timeout
 * after the receive, for its backoff (events/redelivery-backoff.ts), or for longer when Tanium's
 * `Retry-After` asks: anything up to just under the queue's visibility timeout. Once the backoff itself
 * reaches that timeout no change is made, and the queue's own timeout applies from the receive (as it
 * does when the change fails). Each receive may also wait out the batching window.
 */
export function longestRetrySpanSeconds(
  settings: { timeoutSeconds: number; maxBatchingWindowSeconds: number },
  maxReceiveCount: number,
): number {
  const visibility = visibilityTimeoutSeconds(settings.timeoutSeconds, settings.maxBatchingWindowSeconds);
  const longestDelay = longestRedeliveryDelaySeconds(visibility);
  let span = 0;
  for (let attempt = 1; attempt < maxReceiveCount; attempt++) {
    // A Retry-After may stretch any backoff the functions would set to the longest delay, which with
    // the invocation before it outlasts the queue's own timeout.
    const back = backoffSeconds(attempt) < visibility ? settings.timeoutSeconds + longestDelay : visibility;
    span += back + settings.maxBatchingWindowSeconds;
  }
  return span;
}

/** The most the retries of one request may span: half the time the queue keeps it. */
export const MAX_RETRY_SPAN_SECONDS = SOURCE_QUEUE_RETENTION_DAYS * 86_400 * RETRY_SHARE_OF_RETENTION;
