import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  deleteRecords,
  deliverOnce,
  localLambdaContext,
  receiveRecords,
} from '../../../cli/local/sqs-event-source.ts';
import type { FamilyHandler } from '../../../shared/events/family-handler.ts';

const QUEUE = {
  url: 'http://127.0.0.1:5000/123456789012/tanium-tr-local-connections',
  arn: 'arn:aws:sqs:us-east-1:123456789012:tanium-tr-local-connections',
};

const sqs = mockClient(SQSClient);
const client = new SQSClient({ region: 'us-east-1' });

function message(id: string): Message {
  return {
    MessageId: id,
    ReceiptHandle: `handle-${id}`,
    Body: `{"requestId":"${id}"}`,
    MD5OfBody: `md5-${id}`,
    Attributes: {
      ApproximateReceiveCount: '3',
      SentTimestamp: '1000',
      SenderId: 'sender',
      ApproximateFirstReceiveTimestamp: '2000',
    },
  };
}

/** The receipt handles of every DeleteMessageBatch call, in order. */
function deletedHandles(): string[][] {
  return sqs
    .commandCalls(DeleteMessageBatchCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map((entry) => entry.ReceiptHandle ?? ''));
}

/** A handler that records the events it gets and answers with `failures` as batch item failures. */
function answering(failures: string[] = []) {
  const events: SQSEvent[] = [];
  const handler = (async (event: SQSEvent): Promise<SQSBatchResponse> => {
    events.push(event);
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  }) as FamilyHandler;
  return { events, handler };
}

beforeEach(() => {
  sqs.reset();
  sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('localLambdaContext', () => {
  it('names the function, its log group and ARN after the family, with its memory as deployed', () => {
    const context = localLambdaContext('evidence');

    expect(context).toMatchObject({
      callbackWaitsForEmptyEventLoop: false,
      functionVersion: '$LATEST',
      functionName: 'tanium-tr-local-evidence',
      memoryLimitInMB: '1024',
      logGroupName: '/aws/lambda/tanium-tr-local-evidence',
      logStreamName: 'local',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:tanium-tr-local-evidence',
    });
    expect(localLambdaContext('connections').memoryLimitInMB).toBe('512');
  });

  it('gives each invocation a request id of its own', () => {
    const first = localLambdaContext('connections').awsRequestId;

    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(localLambdaContext('connections').awsRequestId).not.toBe(first);
  });

  it("counts the remaining time down from the family's timeout, and never below zero", () => {
    vi.useFakeTimers({ now: 0 });
    const evidence = localLambdaContext('evidence');
    const connections = localLambdaContext('connections');
    const short = localLambdaContext('connections', 1_000);

    vi.setSystemTime(400);

    expect(evidence.getRemainingTimeInMillis()).toBe(600_000 - 400);
    expect(connections.getRemainingTimeInMillis()).toBe(120_000 - 400);
    expect(short.getRemainingTimeInMillis()).toBe(600);
    vi.setSystemTime(5_000);
    expect(short.getRemainingTimeInMillis()).toBe(0);
  });
});

describe('receiveRecords', () => {
  it('asks for every system attribute, ten messages and a one-second wait by default', async () => {
    sqs.on(ReceiveMessageCommand).resolves({});

    expect(await receiveRecords(client, QUEUE)).toEqual([]);

    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE.url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
    });
  });

  it('passes the batch size, wait and abort signal it is given', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const controller = new AbortController();
    const send = vi.spyOn(client, 'send');

    await receiveRecords(client, QUEUE, { max: 3, waitSeconds: 0, abortSignal: controller.signal });

    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({
      MaxNumberOfMessages: 3,
      WaitTimeSeconds: 0,
    });
    expect(send.mock.calls[0]?.[1]).toEqual({ abortSignal: controller.signal });
  });

  it('hands each message over as an SQS record of the queue, as Lambda does', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [message('m-1')] });

    const [record] = await receiveRecords(client, QUEUE);

    expect(record).toEqual({
      messageId: 'm-1',
      receiptHandle: 'handle-m-1',
      body: '{"requestId":"m-1"}',
      attributes: {
        ApproximateReceiveCount: '3',
        SentTimestamp: '1000',
        SenderId: 'sender',
        ApproximateFirstReceiveTimestamp: '2000',
      },
      messageAttributes: {},
      md5OfBody: 'md5-m-1',
      eventSource: 'aws:sqs',
      eventSourceARN: QUEUE.arn,
      awsRegion: 'us-east-1',
    } satisfies SQSRecord);
  });

  it('fills what a message lacks with what a first delivery would carry', async () => {
    vi.useFakeTimers({ now: 1_234 });
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [{}] });

    const [record] = await receiveRecords(client, QUEUE);

    expect(record).toMatchObject({
      messageId: '',
      receiptHandle: '',
      body: '',
      md5OfBody: '',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1234',
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: '1234',
      },
    });
  });
});

describe('deleteRecords', () => {
  it('deletes the records by receipt handle, in one batch with ids unique in it', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [message('a'), message('b')] });
    const records = await receiveRecords(client, QUEUE);

    await deleteRecords(client, QUEUE, records);

    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE.url,
      Entries: [
        { Id: '0', ReceiptHandle: 'handle-a' },
        { Id: '1', ReceiptHandle: 'handle-b' },
      ],
    });
  });

  it('sends nothing for no records: SQS rejects an empty batch', async () => {
    await deleteRecords(client, QUEUE, []);

    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
  });
});

describe('deliverOnce', () => {
  it("receives as many records as the family's event source hands its function", async () => {
    sqs.on(ReceiveMessageCommand).resolves({});
    const { handler } = answering();

    await deliverOnce(client, QUEUE, handler, 'evidence');
    await deliverOnce(client, QUEUE, handler, 'connections', { waitSeconds: 0 });

    const inputs = sqs.commandCalls(ReceiveMessageCommand).map((call) => call.args[0].input);
    expect(inputs.map((input) => input.MaxNumberOfMessages)).toEqual([1, 5]);
    expect(inputs.map((input) => input.WaitTimeSeconds)).toEqual([1, 0]);
  });

  it('does not invoke the handler when nothing arrived', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const { events, handler } = answering();

    expect(await deliverOnce(client, QUEUE, handler, 'connections')).toEqual({ received: 0, failed: 0 });

    expect(events).toEqual([]);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
  });

  it('invokes the handler with the batch and a context of the family', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [message('a'), message('b')] });
    const contexts: string[] = [];
    const handler = (async (event: SQSEvent, context: { functionName: string }) => {
      contexts.push(context.functionName);
      expect(event.Records.map((record) => record.messageId)).toEqual(['a', 'b']);
      return { batchItemFailures: [] };
    }) as FamilyHandler;

    expect(await deliverOnce(client, QUEUE, handler, 'snapshots')).toEqual({ received: 2, failed: 0 });

    expect(contexts).toEqual(['tanium-tr-local-snapshots']);
    expect(deletedHandles()).toEqual([['handle-a', 'handle-b']]);
  });

  it('deletes only the records the handler did not report as failed', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [message('a'), message('b'), message('c')] });
    const { handler } = answering(['b']);

    expect(await deliverOnce(client, QUEUE, handler, 'connections')).toEqual({ received: 3, failed: 1 });

    expect(deletedHandles()).toEqual([['handle-a', 'handle-c']]);
  });

  it('leaves the whole batch, and says why, when the handler throws', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [message('a'), message('b')] });
    const boom = new Error('boom');
    const handler = (async () => {
      throw boom;
    }) as FamilyHandler;
    const onInvokeError = vi.fn();

    expect(await deliverOnce(client, QUEUE, handler, 'connections', { onInvokeError })).toEqual({
      received: 2,
      failed: 2,
    });

    expect(onInvokeError).toHaveBeenCalledOnce();
    expect(onInvokeError.mock.calls[0]?.[0]).toBe(boom);
    expect(onInvokeError.mock.calls[0]?.[1].map((record: SQSRecord) => record.messageId)).toEqual(['a', 'b']);
    expect(deletedHandles()).toEqual([]);
  });

  it('leaves the whole batch when the handler throws and nobody listens for it', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [message('a')] });
    const handler = (async () => {
      throw new Error('boom');
    }) as FamilyHandler;

    expect(await deliverOnce(client, QUEUE, handler, 'connections')).toEqual({ received: 1, failed: 1 });

    expect(deletedHandles()).toEqual([]);
  });
});
