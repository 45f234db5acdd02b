import { ChangeMessageVisibilityBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { toTaniumError } from '../tanium/errors.ts';

/** SQS takes at most ten entries per ChangeMessageVisibilityBatch call. */
const ENTRIES_PER_CALL = 10;

/**
 * Calls in flight at once. The SDK's connection timeout counts from when a call is made, not from when
 * one of its 50 sockets is free, so a thousand calls at once (a redrive dry run giving back what it
 * read) would see those at the back time out before reaching SQS, leaving their messages hidden.
 */
export const CALLS_AT_ONCE = 10;

/** How long one received message is to stay hidden from now on. */
export interface VisibilityChange {
  receiptHandle: string | undefined;
  seconds: number;
}

/** A change SQS did not make: its index in the changes given, and why. */
export interface VisibilityFailure {
  index: number;
  reason: string;
}

/**
 * Sets the visibility of messages of one queue, ten a call (CALLS_AT_ONCE calls side by side). Never
 * throws: an entry SQS refused, or every entry of a call that failed, comes back as a failure with its
 * reason.
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
  signal?: AbortSignal,
): Promise<VisibilityFailure[]> {
  const starts: number[] = [];
  for (let start = 0; start < changes.length; start += ENTRIES_PER_CALL) starts.push(start);
  const failures: VisibilityFailure[][] = [];
  let next = 0;
  const caller = async () => {
    while (next < starts.length) {
      const call = next++;
      const start = starts[call]!;
      const batch = changes.slice(start, start + ENTRIES_PER_CALL);
      failures[call] = await changeBatch(sqs, queueUrl, batch, start, signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CALLS_AT_ONCE, starts.length) }, caller));
  return failures.flat();
}

async function changeBatch(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
  offset: number,
  signal: AbortSignal | undefined,
): Promise<VisibilityFailure[]> {
  try {
    const response = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: changes.map((change, index) => ({
          Id: String(index),
          ReceiptHandle: change.receiptHandle,
          VisibilityTimeout: change.seconds,
        })),
      }),
      signal ? { abortSignal: signal } : {},
    );
    return (response.Failed ?? []).map((failed) => ({
      index: offset + Number(failed.Id),
      reason: failed.Message ? `${failed.Code}: ${failed.Message}` : `${failed.Code}`,
    }));
  } catch (error) {
    const reason = toTaniumError(error).message;
    return changes.map((_, index) => ({ index: offset + index, reason }));
  }
}
