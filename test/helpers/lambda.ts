import { randomUUID } from 'node:crypto';
import type { Context, EventBridgeEvent, SQSEvent, SQSRecord } from 'aws-lambda';

/** A Lambda context whose remaining time counts down from `remainingMs` (default 60 s) in real time. */
export function lambdaContext(
  options: { remainingMs?: number; functionName?: string; awsRequestId?: string } = {},
): Context {
  const functionName = options.functionName ?? 'tanium-tr-test-function';
  const end = Date.now() + (options.remainingMs ?? 60_000);
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionVersion: '$LATEST',
    functionName,
    memoryLimitInMB: '256',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]abcdef123456abcdef123456abcdef12',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    awsRequestId: options.awsRequestId ?? randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** One SQS record; `body` objects are JSON-encoded, strings are taken as they are (malformed bodies). */
export function sqsRecord(
  body: unknown,
  options: { receiveCount?: number; messageId?: string } = {},
): SQSRecord {
  return {
    messageId: options.messageId ?? randomUUID(),
    receiptHandle: `receipt-${randomUUID()}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: '1767225600000',
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: '1767225600001',
    },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:tanium-tr-test-queue',
    awsRegion: 'us-east-1',
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** An EventBridge event as a bus rule delivers it (to a Lambda, or as an SQS body). */
export function eventBridgeEvent<T>(
  detail: T,
  options: { detailType?: string; source?: string; id?: string } = {},
): EventBridgeEvent<string, T> {
  return {
    version: '0',
    id: options.id ?? randomUUID(),
    'detail-type': options.detailType ?? 'Action Request',
    source: options.source ?? 'soar.pipeline',
    account: '123456789012',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

/**
 * The record a Lambda on-failure destination sends (to a queue: as the message body) when an
 * asynchronous invocation failed every attempt.
 */
export function onFailureRecord(requestPayload: unknown, options: { requestId?: string } = {}) {
  return {
    version: '1.0',
    timestamp: '2026-01-01T00:00:05.000Z',
    requestContext: {
      requestId: options.requestId ?? randomUUID(),
      functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:tanium-tr-test-function:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: {
      errorType: 'TaniumError',
      errorMessage: 'Unable to publish the result to EventBridge: Rate exceeded',
      trace: [],
    },
  };
}
