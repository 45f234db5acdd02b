import { ChangeMessageVisibilityBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { toTaniumError } from '../tanium/errors.ts';

/** SQS takes at most ten entries per ChangeMessageVisibilityBatch call. */
const ENTRIES_PER_CALL = 10;

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
 * Sets the visibility of messages of one queue, ten a call (the calls side by side). Never throws: an
 * entry SQS refused, or every entry of a call that failed, comes back as a failure with its reason.
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
  signal?: AbortSignal,
): Promise<VisibilityFailure[]> {
  const calls: Array<Promise<VisibilityFailure[]>> = [];
  for (let start = 0; start < changes.length; start += ENTRIES_PER_CALL) {
    calls.push(changeBatch(sqs, queueUrl, changes.slice(start, start + ENTRIES_PER_CALL), start, signal));
  }
  return (await Promise.all(calls)).flat();
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
