import type { SQSClient } from '@aws-sdk/client-sqs';
import { toTaniumError } from '../tanium/errors.ts';
import type { EventLogger } from './logging.ts';
import { changeVisibility, type VisibilityFailure } from './sqs-visibility.ts';

/** The first redelivery's delay; each later one doubles it. */
export const RETRY_BACKOFF_BASE_SECONDS = 30;

/** A record failed transiently, before its last attempt: it comes back after a backoff. */
export interface Redelivery {
  messageId: string;
  receiptHandle: string;
  eventSourceARN: string;
  /** 1 for the first delivery (`ApproximateReceiveCount`). */
  attempt: number;
  /**
   * The delivery may have left an in-progress idempotency record behind (a mutating action whose record
   * could not be deleted, or whose idempotency step failed or met another delivery's record).
   */
  recordMayRemain: boolean;
  /**
   * Another delivery's in-progress record stopped this one. It expires with that delivery's invocation,
   * which may end up to a whole function timeout from now: the queue's own timeout (six of them) is left
   * to bring the record back.
   */
  heldElsewhere?: boolean;
  /**
   * Tanium answered 429, 502, 503 or 504 with a `Retry-After` longer than the invocation could wait: coming back
   * sooner would only meet the same refusal, and spend an attempt on it.
   */
  retryAfterMs?: number;
}

export function backoffSeconds(attempt: number, baseSeconds = RETRY_BACKOFF_BASE_SECONDS): number {
  return baseSeconds * 2 ** Math.max(0, attempt - 1);
}

/**
 * The longest a redelivery is ever hidden from when its delay is set: just under the queue's visibility
 * timeout, as a `Retry-After` may ask for any delay below it (redeliveryDelaySeconds makes no change
 * from the timeout up). The stack's retry-span check (infra/queue-timing.ts) counts on it.
 */
export function longestRedeliveryDelaySeconds(queueTimeoutSeconds: number): number {
  return queueTimeoutSeconds - 1;
}

/** What the delay of a redelivery depends on besides the record. */
export interface RedeliveryTiming {
  /** The queue's visibility timeout; unknown leaves every record to it. */
  queueTimeoutSeconds: number | undefined;
  /** The invocation's remaining time when the delay is set; undefined without a Lambda context. */
  remainingMs: number | undefined;
  /** The first backoff (default RETRY_BACKOFF_BASE_SECONDS). */
  baseSeconds?: number;
}

/**
 * How long the record stays hidden from now on, or undefined to leave the queue's own visibility timeout:
 * - the backoff for the attempt that failed, 30 s x 2^(attempt-1), or Tanium's `Retry-After` when longer;
 * - when the delivery may have left an in-progress record behind, at least until this invocation ends
 *   (plus a second for clocks): Powertools makes the record expire with the invocation that wrote it, and a
 *   redelivery before then would find it "already being processed" and spend an attempt failing again.
 *   With no Lambda context the record has no in-progress expiry at all, so nothing shorter helps;
 * - a record met from another delivery expires with that delivery's invocation, which may have started
 *   just before this one met it: the queue's own timeout is left to it;
 * - never longer than the queue's own timeout (6 x the function timeout + the batching window, so it is
 *   never shorter than the invocation): at or above it, or when it is unknown, no change is made.
 */
export function redeliveryDelaySeconds(
  redelivery: Pick<Redelivery, 'attempt' | 'recordMayRemain' | 'heldElsewhere' | 'retryAfterMs'>,
  { queueTimeoutSeconds, remainingMs, baseSeconds }: RedeliveryTiming,
): number | undefined {
  if (queueTimeoutSeconds === undefined || redelivery.heldElsewhere) return undefined;
  let delay = Math.max(
    backoffSeconds(redelivery.attempt, baseSeconds),
    Math.ceil((redelivery.retryAfterMs ?? 0) / 1000),
  );
  if (redelivery.recordMayRemain) {
    if (remainingMs === undefined) return undefined;
    delay = Math.max(delay, Math.ceil(remainingMs / 1000) + 1);
  }
  return delay < queueTimeoutSeconds ? delay : undefined;
}

/** `arn:<partition>:sqs:<region>:<account>:<name>` as the queue URL SQS takes in its calls. */
export function queueUrlFromArn(arn: string): string | undefined {
  const parts = arn.split(':');
  if (parts.length !== 6 || parts[0] !== 'arn' || parts[2] !== 'sqs') return undefined;
  const [, partition, , region, account, name] = parts;
  if (!region || !account || !name) return undefined;
  const suffix = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sqs.${region}.${suffix}/${account}/${name}`;
}

/**
 * The URL of the queue a record came from: the configured one (QUEUE_URL, which the stack takes from
 * CloudFormation and so has the right domain in every partition) when its account and name are the
 * record's, else the one built from the record's ARN.
 */
export function queueUrlFor(arn: string, configured: string | undefined): string | undefined {
  const derived = queueUrlFromArn(arn);
  if (derived === undefined || configured === undefined) return derived;
  // Both end in /<account>/<name>; only the host differs between partitions.
  return pathOf(configured) === pathOf(derived) ? configured : derived;
}

function pathOf(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

/**
 * Hides each record for its delay (`redeliveryDelaySeconds`), ten records a ChangeMessageVisibilityBatch
 * call (changeVisibility). Never throws: a record whose change fails stays failed as it is and comes back
 * after the queue's own visibility timeout, so a warning is all that is lost.
 */
export async function delayRedeliveries(
  sqs: () => SQSClient,
  redeliveries: readonly Redelivery[],
  options: RedeliveryTiming & { logger: EventLogger; signal?: AbortSignal; queueUrl?: string | undefined },
): Promise<void> {
  const byQueue = new Map<string, Array<{ redelivery: Redelivery; seconds: number }>>();
  for (const redelivery of redeliveries) {
    const seconds = redeliveryDelaySeconds(redelivery, options);
    if (seconds === undefined) continue;
    const url = queueUrlFor(redelivery.eventSourceARN, options.queueUrl);
    if (url === undefined) {
      warn(
        options.logger,
        [redelivery],
        `the event source ARN '${redelivery.eventSourceARN}' names no queue`,
      );
      continue;
    }
    const entries = byQueue.get(url) ?? [];
    entries.push({ redelivery, seconds });
    byQueue.set(url, entries);
  }
  await Promise.all(
    [...byQueue].map(async ([url, entries]) => {
      let failures: VisibilityFailure[];
      try {
        failures = await changeVisibility(
          sqs(),
          url,
          entries.map(({ redelivery, seconds }) => ({ receiptHandle: redelivery.receiptHandle, seconds })),
          options.signal,
        );
      } catch (error) {
        // No client could be built: none of the records is delayed.
        const reason = toTaniumError(error).message;
        failures = entries.map((_, index) => ({ index, reason }));
      }
      // One warning per reason, naming its records.
      const byReason = new Map<string, Redelivery[]>();
      for (const { index, reason } of failures) {
        const entry = entries[index];
        if (entry) byReason.set(reason, [...(byReason.get(reason) ?? []), entry.redelivery]);
      }
      for (const [reason, failed] of byReason) warn(options.logger, failed, reason);
    }),
  );
}

function warn(logger: EventLogger, redeliveries: Redelivery[], reason: string): void {
  logger.warn(
    'Could not delay the redelivery of failed records; they come back after the queue visibility timeout',
    { messageIds: redeliveries.map((redelivery) => redelivery.messageId), reason },
  );
}
