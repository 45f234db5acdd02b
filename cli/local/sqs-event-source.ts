import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { DEFAULT_FUNCTIONS } from '../../infra/function-defaults.ts';
import type { Family } from '../../shared/actions/types.ts';
import type { FamilyHandler } from '../../shared/events/family-handler.ts';
import { LOCAL_REGION, type QueueRef } from './aws-resources.ts';

/**
 * A Lambda context for one local invocation, with the remaining time and memory the stack gives the
 * family's function by default (evidence: 600 s, the others 120 s).
 */
export function localLambdaContext(
  family: Family,
  timeoutMs = DEFAULT_FUNCTIONS[family].timeoutSeconds * 1000,
): Context {
  const end = Date.now() + timeoutMs;
  const functionName = `tanium-tr-local-${family}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionVersion: '$LATEST',
    functionName,
    memoryLimitInMB: String(DEFAULT_FUNCTIONS[family].memoryMiB),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:123456789012:function:${functionName}`,
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An SQS message as Lambda's event source hands it to the function. */
function toSqsRecord(message: Message, queue: QueueRef): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: LOCAL_REGION,
  };
}

export async function receiveRecords(
  sqs: SQSClient,
  queue: QueueRef,
  options: { max?: number; waitSeconds?: number; abortSignal?: AbortSignal } = {},
): Promise<SQSRecord[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: options.max ?? 10,
      WaitTimeSeconds: options.waitSeconds ?? 1,
      MessageSystemAttributeNames: ['All'],
    }),
    options.abortSignal ? { abortSignal: options.abortSignal } : {},
  );
  return (received.Messages ?? []).map((message) => toSqsRecord(message, queue));
}

export async function deleteRecords(sqs: SQSClient, queue: QueueRef, records: SQSRecord[]): Promise<void> {
  if (records.length === 0) return;
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queue.url,
      Entries: records.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
    }),
  );
}

/**
 * One poll of Lambda's SQS event source: receive a batch, invoke the handler with an `SQSEvent`,
 * delete what succeeded and leave the reported failures (or the whole batch when the handler threw)
 * to come back after the visibility timeout, or the backoff the handler set on them in moto.
 */
export async function deliverOnce(
  sqs: SQSClient,
  queue: QueueRef,
  handler: FamilyHandler,
  family: Family,
  options: {
    waitSeconds?: number;
    abortSignal?: AbortSignal;
    /** What Lambda logs as the invocation's error when the handler throws: the batch comes back whole. */
    onInvokeError?: (error: unknown, records: readonly SQSRecord[]) => void;
  } = {},
): Promise<{ received: number; failed: number }> {
  // As many records per invocation as the stack's event source hands the function.
  const records = await receiveRecords(sqs, queue, { ...options, max: DEFAULT_FUNCTIONS[family].batchSize });
  if (records.length === 0) return { received: 0, failed: 0 };
  let failedIds: Set<string>;
  try {
    const response = (await handler({ Records: records }, localLambdaContext(family))) as SQSBatchResponse;
    failedIds = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  } catch (error) {
    options.onInvokeError?.(error, records);
    failedIds = new Set(records.map((record) => record.messageId));
  }
  await deleteRecords(
    sqs,
    queue,
    records.filter((record) => !failedIds.has(record.messageId)),
  );
  return { received: records.length, failed: failedIds.size };
}
