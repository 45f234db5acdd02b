import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { LOCAL_MAX_RECEIVE_COUNT, localAws } from '../../../cli/local/aws-resources.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../cli/local/environment.ts';
import { functionEnv } from '../../../cli/local/family-handlers.ts';
import {
  deleteRecords,
  deliverOnce,
  localLambdaContext,
  receiveRecords,
} from '../../../cli/local/sqs-event-source.ts';
import { DEFAULT_FUNCTIONS } from '../../../infra/function-defaults.ts';
import { FAMILIES, type Family } from '../../../shared/actions/types.ts';
import { createFamilyHandler } from '../../../shared/events/family-handler.ts';
import { NO_METRICS } from '../../../shared/events/metrics.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import { SEEDED } from '../../emulator/index.ts';
import { type LogLine, recordingLogger } from '../../unit/events/fixtures.ts';

const TR = '/plugin/products/threat-response/api/v1';
const RESULT_WAIT_MS = 20_000;

let env: LocalEnvironment;
const logs: LogLine[] = [];
const pollErrors: string[] = [];
let sequence = 0;

function requestId(label: string): string {
  sequence += 1;
  return `it-${label}-${sequence}-${Date.now()}`;
}

/** Sends one request, runs one poll of the family's event source, and waits for its result on the bus. */
async function roundTrip(family: Family, request: { action: string; parameters: Record<string, unknown> }) {
  const id = requestId(family);
  await env.send(family, { ...request, requestId: id });
  await deliverUntilReceived(family);
  return env.results.waitFor(id, RESULT_WAIT_MS);
}

async function deliverUntilReceived(family: Family): Promise<void> {
  for (let poll = 0; poll < 20; poll++) {
    const { received } = await deliverOnce(
      env.aws.sqs,
      env.resources.queues[family],
      env.handlers[family],
      family,
    );
    if (received > 0) return;
  }
  throw new Error(`Nothing arrived on the ${family} queue`);
}

beforeAll(async () => {
  env = await startLocalEnvironment({
    visibilityTimeoutSeconds: 1,
    logger: recordingLogger(logs),
    onPollError: (queue, error) => pollErrors.push(`${queue}: ${(error as Error).message}`),
  });
});

afterAll(async () => {
  await env?.stop();
});

beforeEach(() => {
  env.emulator.faults.clear();
  env.emulator.clearRequests();
});

describe('Pipeline: SQS -> family handler -> EventBridge rule -> results queue', () => {
  it('answers a connections request', async () => {
    // Act
    const detail = await roundTrip('connections', { action: 'list connections', parameters: {} });

    // Assess
    expect(detail).toMatchObject({ action: 'list connections', status: 'success', context: {} });
    expect(detail.data).toContainEqual(expect.objectContaining({ id: SEEDED.connectedConnectionId }));
  });

  it('answers a snapshots request', async () => {
    // Act
    const detail = await roundTrip('snapshots', { action: 'list_snapshots', parameters: {} });

    // Assess
    expect(detail).toMatchObject({ action: 'list snapshots', status: 'success' });
    expect(detail.data?.length).toBeGreaterThan(0);
  });

  it('answers an investigation request', async () => {
    // Act
    const detail = await roundTrip('investigation', {
      action: 'get events',
      parameters: { connection_id: SEEDED.connectedConnectionId, event_type: 'process', limit: 5 },
    });

    // Assess
    expect(detail).toMatchObject({
      action: 'get events',
      status: 'success',
      message: 'Type: process, More data: True',
      summary: { type: 'process', more_data: true },
    });
    expect(detail.data).toHaveLength(5);
  });

  it('answers an evidence request', async () => {
    // Act
    const detail = await roundTrip('evidence', { action: 'list files', parameters: {} });

    // Assess
    expect(detail).toMatchObject({ action: 'list files', status: 'success' });
    expect(detail.data).toContainEqual(expect.objectContaining({ uuid: SEEDED.fileEvidenceUuid }));
  });

  it('answers an intel request', async () => {
    // Act
    const detail = await roundTrip('intel', {
      action: 'start quick scan',
      parameters: { intel_doc_id: SEEDED.intelDocId, computer_group_name: SEEDED.groupName },
    });

    // Assess
    expect(detail).toMatchObject({ action: 'start quick scan', status: 'success' });
  });

  it('answers an alerts request', async () => {
    // Act
    const detail = await roundTrip('alerts', { action: 'list alerts', parameters: { limit: 3 } });

    // Assess
    expect(detail).toMatchObject({ action: 'list alerts', status: 'success' });
    expect(detail.data).toHaveLength(3);
  });

  it('answers a request sent to the wrong queue with a failed result and deletes the message', async () => {
    // Act
    const detail = await roundTrip('alerts', { action: 'list files', parameters: {} });

    // Assess
    expect(detail).toMatchObject({ status: 'failed', error: { kind: 'validation', retryable: false } });
    expect(await receiveRecords(env.aws.sqs, env.resources.queues.alerts, { waitSeconds: 0 })).toEqual([]);
  });

  it('reports a message on the results queue that is not a result once, and goes on listening', async () => {
    // Prepare
    pollErrors.length = 0;
    await env.aws.sqs.send(
      new SendMessageCommand({ QueueUrl: env.resources.results.url, MessageBody: 'not an event' }),
    );

    // Act: a request after it still gets its result
    const detail = await roundTrip('connections', { action: 'list connections', parameters: {} });

    // Assess (the failure is reported once the listener has deleted the batch it came in)
    for (let i = 0; i < 50 && pollErrors.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(detail.status).toBe('success');
    expect(pollErrors).toEqual(['results: Not an Action Result event on the results queue: not an event']);
  });
});

describe('Pipeline: redelivery', () => {
  it('calls Tanium once for a redelivered mutating request and publishes two identical results', async () => {
    // Prepare
    const id = requestId('close');
    const connectionId = 'remote:db-01:6660000001:5';
    await env.send('connections', {
      action: 'close connection',
      parameters: { connection_id: connectionId },
      requestId: id,
    });
    const queue = env.resources.queues.connections;

    // Act: the first invocation publishes but its messages are not deleted (as if the function crashed
    // afterwards), so SQS hands the message out again after the visibility timeout.
    let first: Awaited<ReturnType<typeof receiveRecords>> = [];
    while (first.length === 0) first = await receiveRecords(env.aws.sqs, queue);
    await env.handlers.connections({ Records: first }, localLambdaContext('connections'));
    const firstResult = await env.results.waitFor(id, RESULT_WAIT_MS, 1);
    let second: Awaited<ReturnType<typeof receiveRecords>> = [];
    while (second.length === 0) second = await receiveRecords(env.aws.sqs, queue);
    await env.handlers.connections({ Records: second }, localLambdaContext('connections'));
    await deleteRecords(env.aws.sqs, queue, second);
    const secondResult = await env.results.waitFor(id, RESULT_WAIT_MS, 2);

    // Assess
    expect(second[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(env.emulator.requestCount({ method: 'DELETE', path: `${TR}/conns/close/${connectionId}` })).toBe(
      1,
    );
    expect(firstResult).toMatchObject({
      requestId: id,
      status: 'success',
      message: 'Close connection requested',
    });
    expect(secondResult).toEqual(firstResult);
    expect(
      logs.some((line) => line.message === 'Replayed the stored result' && line.extra.correlation_id === id),
    ).toBe(true);
    // The stack lets each family function touch only items under its prefix (dynamodb:LeadingKeys).
    const { Items = [] } = await env.aws.dynamodb.send(
      new ScanCommand({ TableName: env.resources.names.table }),
    );
    expect(Items.length).toBeGreaterThan(0);
    for (const item of Items) {
      expect(item.id?.S).toMatch(/^action-request#(connections|snapshots|evidence|intel)#/);
    }
    expect(Items.some((item) => item.id?.S?.startsWith('action-request#connections#'))).toBe(true);
  });

  it('invokes each family as the stack does: its batch size, its timeout as the remaining time', async () => {
    // Prepare: seven requests waiting on the connections queue
    const ids = Array.from({ length: 7 }, () => requestId('batch'));
    for (const id of ids)
      await env.send('connections', { action: 'list connections', parameters: {}, requestId: id });
    const invocations: Array<{ records: number; remainingMs: number }> = [];
    const recording = async (event: unknown, context?: Context) => {
      invocations.push({
        records: (event as SQSEvent).Records.length,
        remainingMs: context?.getRemainingTimeInMillis() ?? 0,
      });
      return env.handlers.connections(event, context);
    };

    // Act
    let delivered = 0;
    for (let poll = 0; poll < 20 && delivered < ids.length; poll++) {
      delivered += (
        await deliverOnce(env.aws.sqs, env.resources.queues.connections, recording, 'connections')
      ).received;
    }
    await Promise.all(ids.map((id) => env.results.waitFor(id, RESULT_WAIT_MS)));

    // Assess
    expect(Math.max(...invocations.map((invocation) => invocation.records))).toBe(
      DEFAULT_FUNCTIONS.connections.batchSize,
    );
    for (const { remainingMs } of invocations) {
      expect(remainingMs).toBeGreaterThan(DEFAULT_FUNCTIONS.connections.timeoutSeconds * 1000 - 5_000);
      expect(remainingMs).toBeLessThanOrEqual(DEFAULT_FUNCTIONS.connections.timeoutSeconds * 1000);
    }
    for (const family of FAMILIES) {
      const context = localLambdaContext(family);
      expect(context.memoryLimitInMB).toBe(String(DEFAULT_FUNCTIONS[family].memoryMiB));
      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(
        DEFAULT_FUNCTIONS[family].timeoutSeconds * 1000 - 5_000,
      );
    }
  });

  it('hands the evidence function one record per invocation, as its event source does', async () => {
    // Prepare: two evidence requests waiting; a stand-in handler only counts what it is given
    for (let i = 0; i < 2; i++) {
      await env.send('evidence', { action: 'list files', parameters: {}, requestId: requestId('evidence') });
    }
    const sizes: number[] = [];
    const counting = async (event: unknown) => {
      sizes.push((event as SQSEvent).Records.length);
      return { batchItemFailures: [] };
    };

    // Act
    for (let poll = 0; poll < 20 && sizes.length < 2; poll++) {
      await deliverOnce(env.aws.sqs, env.resources.queues.evidence, counting, 'evidence');
    }

    // Assess
    expect(DEFAULT_FUNCTIONS.evidence.batchSize).toBe(1);
    expect(sizes).toEqual([1, 1]);
  });

  it('retries a transient failure through SQS, then publishes that it gave up and leaves the message to the DLQ', async () => {
    // Prepare
    env.emulator.faults.add({ method: 'GET', path: `${TR}/snapshot`, kind: 'status', status: 503 });
    const id = requestId('gave-up');
    await env.send('snapshots', { action: 'list snapshots', parameters: {}, requestId: id });
    const queue = env.resources.queues.snapshots;

    // Act: three deliveries (MAX_RECEIVE_COUNT), each failing the record, then one more receive that
    // SQS answers by moving the message to the dead-letter queue.
    const failedCounts: number[] = [];
    for (let poll = 0; poll < 30 && failedCounts.length < 3; poll++) {
      const { received, failed } = await deliverOnce(env.aws.sqs, queue, env.handlers.snapshots, 'snapshots');
      if (received > 0) failedCounts.push(failed);
      if (received > 0 && failed === 0) break;
    }
    const detail: ResultDetail = await env.results.waitFor(id, RESULT_WAIT_MS);
    let deadLetters: Awaited<ReturnType<typeof receiveRecords>> = [];
    for (let poll = 0; poll < 10 && deadLetters.length === 0; poll++) {
      await receiveRecords(env.aws.sqs, queue, { waitSeconds: 1 });
      deadLetters = await receiveRecords(env.aws.sqs, queue.deadLetter, { waitSeconds: 0 });
    }

    // Assess
    expect(failedCounts).toEqual([1, 1, 1]);
    expect(env.results.resultsFor(id)).toHaveLength(1);
    expect(detail).toMatchObject({
      status: 'failed',
      error: { kind: 'transient', retryable: true },
    });
    expect(detail.message).toMatch(/^Gave up after 3 attempts: /);
    expect(deadLetters.map((record) => JSON.parse(record.body).requestId)).toEqual([id]);
  });
});

/**
 * A queue of its own hiding a failed record for `visibilitySeconds`, and a snapshots handler told so,
 * whose ChangeMessageVisibility calls to moto are recorded (`hidden`, the seconds asked for).
 */
async function visibilityWatch(
  label: string,
  visibilitySeconds: number,
  options: { retryBackoffBaseSeconds?: number } = {},
) {
  const name = `${env.resources.names.prefix}-${label}-${Date.now()}`;
  const created = await env.aws.sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: String(visibilitySeconds) } }),
  );
  const url = created.QueueUrl ?? '';
  const attributes = await env.aws.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const queue = { url, arn: attributes.Attributes?.QueueArn ?? '' };
  const hidden: number[] = [];
  const { sqs: sqsClient, destroy } = localAws(env.moto.endpoint);
  sqsClient.middlewareStack.add(
    (next) => async (args) => {
      const { Entries } = args.input as { Entries?: Array<{ VisibilityTimeout?: number }> };
      for (const entry of Entries ?? []) hidden.push(entry.VisibilityTimeout ?? -1);
      return next(args);
    },
    { step: 'initialize' },
  );
  const handler = createFamilyHandler('snapshots', {
    env: {
      ...functionEnv(env.resources, 'snapshots'),
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(visibilitySeconds),
    },
    logger: recordingLogger(logs),
    metrics: NO_METRICS,
    sqsClient,
    ...options,
  });
  return { queue, hidden, handler, destroy };
}

describe('Pipeline: redelivery backoff', () => {
  it('brings a transient failure back after its backoff, not after the queue visibility timeout', async () => {
    // Prepare: a queue that hides a failed record for 60 s, and a handler told so, whose first backoff is 2 s
    const { queue, hidden, handler, destroy } = await visibilityWatch('backoff', 60, {
      retryBackoffBaseSeconds: 2,
    });
    env.emulator.faults.add({ method: 'GET', path: `${TR}/snapshot`, kind: 'status', status: 503 });
    const id = requestId('backoff');
    await env.aws.sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: JSON.stringify({ action: 'list snapshots', parameters: {}, requestId: id }),
      }),
    );

    // Act: the first delivery fails; once Tanium answers again, poll until the message comes back
    let first = { received: 0, failed: 0 };
    for (let poll = 0; poll < 10 && first.received === 0; poll++) {
      first = await deliverOnce(env.aws.sqs, queue, handler, 'snapshots');
    }
    env.emulator.faults.clear();
    let again = { received: 0, failed: 0 };
    for (let poll = 0; poll < 15 && again.received === 0; poll++) {
      again = await deliverOnce(env.aws.sqs, queue, handler, 'snapshots', { waitSeconds: 1 });
    }
    const detail = await env.results.waitFor(id, RESULT_WAIT_MS);

    // Assess
    expect(first).toEqual({ received: 1, failed: 1 });
    expect(again).toEqual({ received: 1, failed: 0 });
    // Hidden for the first backoff, not left to the queue's 60 s (which the polls above would outlast)
    expect(hidden).toEqual([2]);
    destroy();
    expect(detail).toMatchObject({ requestId: id, status: 'success' });
    expect(logs.filter((line) => line.message.startsWith('Could not delay'))).toEqual([]);
  });
});

describe('Pipeline: credentials', () => {
  it("keeps Tanium's token out of every log line and result, also when Tanium's answer quotes it", async () => {
    // Prepare: an error answer that quotes the token back, as a proxy or a debug build might
    const token = env.emulator.credentials.apiToken;
    env.emulator.faults.add({
      method: 'GET',
      path: `${TR}/conns`,
      kind: 'status',
      status: 500,
      shape: 'message',
      message: `invalid session ${token}`,
      times: 1,
    });
    const from = logs.length;

    // Act
    const failed = await roundTrip('connections', { action: 'list connections', parameters: {} });
    const succeeded = await roundTrip('connections', { action: 'list connections', parameters: {} });

    // Assess: the lines of both runs, debug ones included (the client's own), and both results
    const lines = logs.slice(from);
    expect(failed).toMatchObject({
      status: 'failed',
      message:
        'Unable to list connections. Error message: Error from server. Status Code: 500 Data from server: invalid session [redacted]',
    });
    expect(succeeded.status).toBe('success');
    expect(lines.some((line) => line.level === 'debug')).toBe(true);
    expect(JSON.stringify([lines, failed, succeeded])).not.toContain(token);
  });
});

describe('Pipeline: Retry-After', () => {
  it("keeps a throttled record hidden for Tanium's Retry-After when the invocation could not wait it out", async () => {
    // Prepare: a queue hiding a failed record for 600 s; Tanium answers 503 asking for 200 s, longer
    // than the function's 120 s, so the client gives up at once and the redelivery must wait instead
    const { queue, hidden, handler, destroy } = await visibilityWatch('retry-after', 600);
    env.emulator.faults.add({
      method: 'GET',
      path: `${TR}/snapshot`,
      kind: 'status',
      status: 503,
      retryAfter: 200,
      times: 1,
    });
    await env.aws.sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: JSON.stringify({
          action: 'list snapshots',
          parameters: {},
          requestId: requestId('retry-after'),
        }),
      }),
    );

    // Act
    let first = { received: 0, failed: 0 };
    for (let poll = 0; poll < 10 && first.received === 0; poll++) {
      first = await deliverOnce(env.aws.sqs, queue, handler, 'snapshots');
    }
    destroy();

    // Assess: one attempt at Tanium, and the record hidden 200 s, not the first backoff's 30
    expect(first).toEqual({ received: 1, failed: 1 });
    expect(env.emulator.requestCount({ path: `${TR}/snapshot` })).toBe(1);
    expect(hidden).toEqual([200]);
    expect(logs.filter((line) => line.message.startsWith('Could not delay'))).toEqual([]);
  });
});

describe('Pipeline: results over the EventBridge limit', () => {
  it('stores the whole result in the vault bucket and publishes a dataRef', async () => {
    // Prepare
    const connectionId = SEEDED.connectedConnectionId;
    env.emulator.generateEvents(connectionId, 'process', 3000);

    // Act
    const detail = await roundTrip('investigation', {
      action: 'get events',
      parameters: { connection_id: connectionId, event_type: 'process', limit: 1000 },
    });

    // Assess
    expect(detail.data).toBeUndefined();
    expect(detail.dataRef).toMatchObject({
      bucket: env.resources.names.bucket,
      key: expect.stringMatching(new RegExp(`^results/${detail.requestId}/[0-9a-f]{32}\\.json$`)),
    });
    const object = await env.aws.s3.send(
      new GetObjectCommand({ Bucket: detail.dataRef?.bucket, Key: detail.dataRef?.key }),
    );
    const stored = JSON.parse(await (object.Body?.transformToString() ?? '')) as ResultDetail;
    expect(stored).toMatchObject({ requestId: detail.requestId, status: 'success', summary: detail.summary });
    expect(stored.data).toHaveLength(1000);
  });
});

describe('Pipeline: a function that throws', () => {
  it("logs Lambda's Invoke Error for the batch, which comes back until it goes to the DLQ", async () => {
    // Prepare: an environment of its own, whose connections function has a bug
    const lines: LogLine[] = [];
    const own = await startLocalEnvironment({ visibilityTimeoutSeconds: 1, logger: recordingLogger(lines) });
    try {
      own.handlers.connections = async () => {
        throw new Error('handler bug: boom');
      };
      own.startPollers();

      // Act
      await own.send('connections', {
        action: 'list connections',
        parameters: {},
        requestId: requestId('bug'),
      });

      // Assess: every attempt is logged, as Lambda logs each failed invocation
      const errors = () => lines.filter((line) => line.level === 'error');
      await vi.waitFor(() => expect(errors()).toHaveLength(LOCAL_MAX_RECEIVE_COUNT), {
        timeout: 20_000,
        interval: 200,
      });
      expect(errors()).toEqual(
        Array.from({ length: LOCAL_MAX_RECEIVE_COUNT }, () => ({
          level: 'error',
          message:
            "The connections function failed (Lambda's Invoke Error): its 1 message(s) come back until their attempts are spent, then go to the dead-letter queue",
          extra: { message: 'handler bug: boom' },
        })),
      );
      const dlq = own.resources.queues.connections.deadLetter.url;
      await vi.waitFor(
        async () => {
          const { Attributes } = await own.aws.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['ApproximateNumberOfMessages'] }),
          );
          expect(Attributes?.ApproximateNumberOfMessages).toBe('1');
        },
        { timeout: 5_000, interval: 200 },
      );
    } finally {
      await own.stop();
    }
  });
});
