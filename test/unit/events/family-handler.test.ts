import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { deleteFile, saveFile } from '../../../shared/actions/evidence.ts';
import type { ActionResult } from '../../../shared/actions/types.ts';
import { idempotencyKeyPrefix } from '../../../shared/config/state-keys.ts';
import { PUBLISH_MARGIN_MS, PUBLISH_RESERVE_MS } from '../../../shared/events/family-handler.ts';
import { createPowertoolsLogger } from '../../../shared/events/logging.ts';
import { NO_METRICS } from '../../../shared/events/metrics.ts';
import { hedgedForRedelivery } from '../../../shared/events/processor.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import { withVault } from '../../../shared/events/vault-family-handler.ts';
import { TaniumClient } from '../../../shared/tanium/client.ts';
import { ConfigError, TaniumError } from '../../../shared/tanium/errors.ts';
import { CARRIED_OUT_CAVEAT } from '../../../shared/tanium/responses.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import {
  eventBridgeEvent,
  lambdaContext,
  onFailureRecord,
  sqsEvent,
  sqsRecord,
} from '../../helpers/lambda.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { jsonLinesWrittenWhile } from '../../helpers/stdout.ts';
import {
  acceptAllEntries,
  BUCKET,
  BUS,
  buildHandler,
  credentials,
  ENV,
  fakeIdempotencyTable,
  type LogLine,
  publishedDetails,
  TABLE,
  taniumResponse,
} from './fixtures.ts';

const eventBridge = mockClient(EventBridgeClient);
const s3 = mockClient(S3Client);
const dynamo = mockClient(DynamoDBClient);
const sqs = mockClient(SQSClient);

const CONNECTIONS = [
  { id: 'remote:host-a:1:1', status: 'connected' },
  { id: 'remote:host-b:2:2', status: 'disconnected' },
];

const listConnections = (requestId = 'req-list') => ({
  action: 'list connections',
  parameters: {},
  requestId,
});
const closeConnection = (requestId = 'req-close', connectionId = 'remote:host-a:1:1') => ({
  action: 'close_connection',
  parameters: { connection_id: connectionId },
  requestId,
});
const deleteConnection = (requestId: string) => ({
  action: 'delete_connection',
  parameters: { connection_id: 'remote:host-a:1:1' },
  requestId,
});

/** An error as an AWS SDK client throws it for a service's error answer. */
function awsError(name: string, status: number): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name,
    message: `${name} happened`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

function transient(message = 'Tanium answered HTTP 503') {
  return new TaniumError('transient', message, { retryable: true, status: 503 });
}

/** PutEvents accepts the calls and fails every entry, each time. */
/**
 * A connections handler whose credentials read takes the invocation (60 s) past its end, before the
 * idempotency step. Needs Date faked (`vi.useFakeTimers({ toFake: ['Date'] })`).
 */
function outlivedByItsCredentialsRead() {
  return buildHandler('connections', {
    credentials: async () => {
      vi.setSystemTime(Date.now() + 61_000);
      return credentials();
    },
  }).handler;
}

function busFailsEveryEntry(): void {
  eventBridge.on(PutEventsCommand).resolves({
    FailedEntryCount: 1,
    Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Try again' }],
  });
}

/** The error a direct invocation of `payload` ends with when PutEvents refuses every call. */
async function unpublishedMessage(
  handler: (event: unknown, context: Context) => Promise<unknown>,
  payload: unknown,
): Promise<string> {
  eventBridge
    .on(PutEventsCommand)
    .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
  const failure = await handler(payload, lambdaContext()).catch((error: Error) => error);
  return (failure as Error).message;
}

let request: MockInstance<TaniumClient['request']>;

beforeEach(() => {
  acceptAllEntries(eventBridge);
  s3.on(PutObjectCommand).resolves({});
  fakeIdempotencyTable(dynamo);
  request = vi.spyOn(TaniumClient.prototype, 'request').mockImplementation(async (req) => {
    if (req.method === 'GET') return taniumResponse(CONNECTIONS);
    return taniumResponse(null);
  });
});

afterEach(() => {
  eventBridge.reset();
  s3.reset();
  dynamo.reset();
  sqs.reset();
  // Tests that fake the clock or timers need not restore them themselves, even when they fail.
  vi.useRealTimers();
});

describe('Family handler: event shapes', () => {
  it('publishes the results of a batch in one PutEvents call even when its records finish apart', async () => {
    // Prepare: Tanium answers the records one turn of the event loop apart. Timers are faked, so the
    // sink's hold timer never fires: one call can only come from the records' holds.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const answers: Array<() => void> = [];
    request.mockImplementation(
      () => new Promise((resolve) => answers.push(() => resolve(taniumResponse(CONNECTIONS)))),
    );
    const { handler } = buildHandler('connections');
    const turn = () => new Promise((resolve) => setImmediate(resolve));

    // Act
    const records = Array.from({ length: 6 }, (_, i) => sqsRecord(listConnections(`req-${i}`)));
    const invocation = handler(sqsEvent(...records), lambdaContext());
    for (let answered = 0; answered < 6; answered++) {
      for (let i = 0; i < 100 && answers.length === 0; i++) await turn();
      answers.shift()?.();
      for (let i = 0; i < 3; i++) await turn();
    }
    const response = (await invocation) as SQSBatchResponse;

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls.map((call) => call.args[0].input.Entries?.length)).toEqual([6]);
  });

  it('sends a result at once when the other record of the batch publishes none: it lets go of the sink too', async () => {
    // Prepare: the close fails transiently (redelivered, no result); the list succeeds. Timers are
    // faked, so the sink's hold timer never fires: the list's result goes out only once no record holds it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    request.mockImplementation(async (req) => {
      if (req.method === 'GET') return taniumResponse(CONNECTIONS);
      throw transient();
    });
    const { handler } = buildHandler('connections');
    const turn = () => new Promise((resolve) => setImmediate(resolve));

    // Act
    let response: SQSBatchResponse | undefined;
    void handler(
      sqsEvent(
        sqsRecord(closeConnection('req-retry'), { messageId: 'msg-retry' }),
        sqsRecord(listConnections('req-ok'), { messageId: 'msg-ok' }),
      ),
      lambdaContext(),
    ).then((answer) => {
      response = answer as SQSBatchResponse;
    });
    for (let i = 0; i < 500 && response === undefined; i++) await turn();

    // Assess: the invocation ended without the hold timer; only the list's result was sent
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-retry' }] });
    expect(publishedDetails(eventBridge).map(({ requestId, status }) => ({ requestId, status }))).toEqual([
      { requestId: 'req-ok', status: 'success' },
    ]);
  });

  it('runs a request with a parameter its action does not take, and logs a warning naming it', async () => {
    // Prepare: a typo of create connection's wait_seconds would otherwise pass unnoticed
    const { handler, logs } = buildHandler('connections');

    // Act
    const result = (await handler(
      {
        action: 'close connection',
        parameters: { connection_id: 'remote:host-a:1:1', wait_second: 3 },
        requestId: 'req-typo',
      },
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({ status: 'success', parameter: { wait_second: 3 } });
    expect(logs.filter((line) => line.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'Parameters the action does not take were ignored',
        extra: expect.objectContaining({
          correlation_id: 'req-typo',
          action: 'close connection',
          ignored: ['wait_second'],
          known: ['connection_id'],
        }),
      },
    ]);
    // Nothing close to suggest: no likely names, rather than an empty list of them.
    expect(logs.find((line) => line.level === 'warn')?.extra).not.toHaveProperty('likely');
  });

  it('says in the warning which parameter a misspelt one most likely meant', async () => {
    // Prepare: limt is ignored, so the listing runs with the default limit
    request.mockResolvedValue(taniumResponse({ snapshots: [], totalCount: 0 }));
    const { handler, logs } = buildHandler('snapshots');

    // Act
    await handler(
      { action: 'list snapshots', parameters: { limt: 5, colour: 'x' }, requestId: 'req-limt' },
      lambdaContext(),
    );

    // Assess
    expect(logs.filter((line) => line.level === 'warn')).toEqual([
      expect.objectContaining({
        message: 'Parameters the action does not take were ignored',
        extra: expect.objectContaining({
          ignored: ['limt', 'colour'],
          likely: { limt: 'limit' },
        }),
      }),
    ]);
  });

  it("takes the connector's placeholder parameter of list alerts without a warning", async () => {
    // Prepare: ported playbooks send `ph` with every list alerts
    request.mockResolvedValue(taniumResponse([]));
    const { handler, logs } = buildHandler('alerts');

    // Act
    const result = (await handler(
      { action: 'list alerts', parameters: { ph: 'x', limit: 5 }, requestId: 'req-ph' },
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({ status: 'success' });
    expect(logs.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('runs each record of an SQS batch and publishes one Action Result per request', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const response = (await handler(
      sqsEvent(
        sqsRecord(listConnections('req-1')),
        sqsRecord({ ...listConnections('req-2'), context: { case: 7 } }),
      ),
      lambdaContext(),
    )) as SQSBatchResponse;

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const entries = eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries);
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      EventBusName: BUS,
      Source: 'tanium.threat-response',
      DetailType: 'Action Result',
    });
    const details = publishedDetails(eventBridge).sort((a, b) => a.requestId.localeCompare(b.requestId));
    expect(details[0]).toMatchObject({
      requestId: 'req-1',
      action: 'list connections',
      status: 'success',
      message:
        'Number of total connections: 2, Number of active connections: 1, Number of inactive connections: 1',
      parameter: {},
      data: CONNECTIONS,
      summary: { total_connections: 2, active_connections: 1, inactive_connections: 1 },
      context: {},
    });
    expect(details[0]?.error).toBeUndefined();
    expect(Date.parse(details[0]?.startedAt ?? '')).not.toBeNaN();
    expect(details[0]?.durationMs).toBeGreaterThanOrEqual(0);
    expect(details[1]).toMatchObject({ requestId: 'req-2', context: { case: 7 } });
  });

  it('echoes a null context as null, for a request that ran and for one that was refused', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(
        sqsRecord({ ...listConnections('req-ran'), context: null }),
        sqsRecord({ action: 'list connections', requestId: 'req-refused', context: null, extra: 1 }),
      ),
      lambdaContext(),
    );

    // Assess
    const details = publishedDetails(eventBridge).sort((a, b) => a.requestId.localeCompare(b.requestId));
    expect(details).toEqual([
      expect.objectContaining({ requestId: 'req-ran', status: 'success', context: null }),
      expect.objectContaining({ requestId: 'req-refused', status: 'failed', context: null }),
    ]);
  });

  it('unwraps an SQS body that is a whole EventBridge event', async () => {
    // Prepare
    const { handler } = buildHandler('connections');
    const wrapped = eventBridgeEvent({ action: 'list_connections', parameters: {} }, { id: 'eb-event-9' });

    // Act
    const response = await handler(sqsEvent(sqsRecord(wrapped)), lambdaContext());

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const [detail] = publishedDetails(eventBridge);
    expect(detail).toMatchObject({ requestId: 'eb-event-9', action: 'list connections', status: 'success' });
  });

  it('runs the request of a failed asynchronous invocation redriven from the DLQ, under its key', async () => {
    // Prepare: an asynchronous invocation ran the action, then failed (its result could not be
    // published), and Lambda's on-failure destination put its record in the DLQ
    eventBridge.on(PutEventsCommand).rejectsOnce(new Error('Rate exceeded'));
    const { handler } = buildHandler('connections');
    const invoked = { action: 'close connection', parameters: { connection_id: 'remote:host-a:1:1' } };
    await expect(handler(invoked, lambdaContext({ awsRequestId: 'async-7' }))).rejects.toThrow(
      'Rate exceeded',
    );
    acceptAllEntries(eventBridge);

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(onFailureRecord(invoked, { requestId: 'async-7' }))),
      lambdaContext(),
    );

    // Assess: the stored result is published; Tanium saw one call
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge).at(-1)).toMatchObject({
      requestId: 'async-7',
      action: 'close connection',
      status: 'success',
      message: 'Close connection requested',
    });
    expect(request).toHaveBeenCalledTimes(1);
  });

  it('takes the request from the detail of an EventBridge event and returns the result', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      eventBridgeEvent(listConnections('req-eb')),
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({
      requestId: 'req-eb',
      status: 'success',
      summary: { total_connections: 2 },
    });
    expect(publishedDetails(eventBridge)).toEqual([result]);
  });

  it('returns the result of a direct invocation and publishes it too', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      { action: 'list connections', parameters: {} },
      lambdaContext({ awsRequestId: 'direct-1' }),
    )) as ResultDetail;

    // Assess
    expect(result.status).toBe('success');
    expect(result.requestId).toBe('direct-1');
    expect(publishedDetails(eventBridge)).toEqual([result]);
  });

  it.each([
    ['longer than a request id may be', 'e'.repeat(300)],
    ['with a lone surrogate', 'event-\ud800'],
  ])('does not take an EventBridge event id %s as the request id', async (_what, id) => {
    // Prepare: a hand-made event; bus events have UUIDs
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      eventBridgeEvent({ action: 'list connections', parameters: {} }, { id }),
      lambdaContext({ awsRequestId: 'lambda-request-1' }),
    )) as ResultDetail;

    // Assess: Lambda's request id instead, which its retries of the invocation keep
    expect(result.status).toBe('success');
    expect(result.requestId).toBe('lambda-request-1');
  });

  it('fails a direct invocation whose result cannot be published with its request id, and replays it', async () => {
    // Prepare: the caller gave no request id, so it is the Lambda request id
    let calls = 0;
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
      return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map(() => ({ EventId: 'event' })) };
    });
    const { handler } = buildHandler('connections');
    const payload = { action: 'close connection', parameters: { connection_id: 'remote:host-a:1:1' } };

    // Act
    const failure = await handler(payload, lambdaContext({ awsRequestId: 'sync-1' })).catch(
      (error: Error) => error,
    );
    const again = (await handler(
      { ...payload, requestId: 'sync-1' },
      lambdaContext({ awsRequestId: 'sync-2' }),
    )) as ResultDetail;

    // Assess: the message names the request id to invoke again with; Tanium sees one call
    expect(failure).toBeInstanceOf(TaniumError);
    expect((failure as Error).message).toMatch(
      /^Request sync-1 ended \(success\) but its Action Result event could not be published: .*not authorized.*Invoking again with "requestId": "sync-1" returns its stored result without running the action again$/,
    );
    expect(again).toMatchObject({ requestId: 'sync-1', status: 'success' });
    expect(request).toHaveBeenCalledTimes(1);
  });

  it('keeps the Lambda request id as the request id across retries of an asynchronous invocation', async () => {
    // Prepare: Lambda retries an asynchronous invocation with the same request id
    const { handler } = buildHandler('connections');
    const context = lambdaContext({ awsRequestId: 'async-invocation-1' });

    // Act
    const first = (await handler({ action: 'list connections', parameters: {} }, context)) as ResultDetail;
    const retry = (await handler({ action: 'list connections', parameters: {} }, context)) as ResultDetail;

    // Assess
    expect(first.requestId).toBe('async-invocation-1');
    expect(retry.requestId).toBe('async-invocation-1');
  });

  it('only returns the result of a direct invocation when no bus is configured', async () => {
    // Prepare
    const { handler } = buildHandler('connections', { env: { STATE_TABLE: 'state' } });

    // Act
    const result = (await handler(listConnections(), lambdaContext())) as ResultDetail;

    // Assess
    expect(result.status).toBe('success');
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('uses the SQS message id as the request id when the request has none, so redeliveries keep it', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(sqsRecord({ action: 'list connections' }, { messageId: 'msg-42' })),
      lambdaContext(),
    );

    // Assess
    expect(publishedDetails(eventBridge)[0]?.requestId).toBe('msg-42');
  });

  it('gives the action a deadline 5 s before the invocation ends', async () => {
    // Prepare
    const { handler } = buildHandler('connections', { now: () => 1_000_000 });
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 60_000 };

    // Act
    await handler(sqsEvent(sqsRecord(listConnections())), context);

    // Assess
    expect(request.mock.calls[0]?.[0].deadline).toBe(1_000_000 + 55_000);
  });

  it('fails the whole invocation when no bus is configured, so the messages stay queued', async () => {
    // Prepare
    const { handler } = buildHandler('connections', { env: {} });

    // Act
    const invocation = handler(sqsEvent(sqsRecord(listConnections())), lambdaContext());

    // Assess
    await expect(invocation).rejects.toThrow('EVENT_BUS_NAME is not set');
    expect(request).not.toHaveBeenCalled();
  });

  it('fails an EventBridge event before calling Tanium when no bus is configured', async () => {
    // Prepare
    const { handler } = buildHandler('connections', { env: {} });

    // Act
    const invocation = handler(eventBridgeEvent(listConnections('req-eb-nobus')), lambdaContext());

    // Assess: Tanium is not called for a result that cannot be published (EventBridge retries the event)
    await expect(invocation).rejects.toThrow('EVENT_BUS_NAME is not set');
    expect(request).not.toHaveBeenCalled();
  });
});

describe('Family handler: requests that fail for good', () => {
  it.for([
    { case: "an 'Action Result' as an SQS body", detailType: 'Action Result', via: 'sqs' },
    { case: "an 'Alert' as an SQS body", detailType: 'Alert', via: 'sqs' },
    { case: "an 'Action Result' delivered to the function", detailType: 'Action Result', via: 'eventbridge' },
    {
      case: "the bare detail of an 'Action Result' as an SQS body",
      detailType: 'Action Result',
      via: 'detail',
    },
    {
      case: "the bare detail of an 'Action Result' invoked directly",
      detailType: 'Action Result',
      via: 'direct',
    },
  ])(
    "drops $case, the stack's own event, publishing nothing a rule could bring back",
    async ({ detailType, via }) => {
      // Prepare: a rule of the owner's matching the stack's source delivers what the stack published
      const published = eventBridgeEvent(
        {
          requestId: 'req-looped',
          action: 'close connection',
          status: 'success',
          message: 'Close connection requested',
          startedAt: '2026-12-05T10:00:00.000Z',
          durationMs: 12,
        },
        { source: 'tanium.threat-response', detailType, id: 'event-looped' },
      );
      const { handler, logs, observations } = buildHandler('connections');

      // Act
      const body = via === 'detail' ? published.detail : published;
      const response =
        via === 'eventbridge'
          ? await handler(published, lambdaContext())
          : via === 'direct'
            ? await handler(published.detail, lambdaContext())
            : await handler(sqsEvent(sqsRecord(body, { messageId: 'msg-looped' })), lambdaContext());

      // Assess: handled, not retried, nothing published or run; the owner is told which rule to fix
      if (via === 'eventbridge' || via === 'direct') {
        // The invoker alone is answered: refused as no request
        expect(response).toMatchObject({
          requestId: 'req-looped',
          status: 'failed',
          error: { kind: 'validation' },
        });
      } else {
        expect(response).toEqual({ batchItemFailures: [] });
      }
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
      expect(request).not.toHaveBeenCalled();
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: `An '${detailType}' event this stack published reached the function as a request; it is dropped (a bus rule sends it here: match "detail-type": ["Action Request"])`,
          extra: expect.objectContaining({ correlation_id: 'req-looped' }),
        }),
      );
      expect(observations).toEqual([
        expect.objectContaining({ status: 'failed', serviceFailure: true, retrying: false }),
      ]);
    },
  );

  it("still runs an 'Action Request' sent under the stack's own source", async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(
        sqsRecord(eventBridgeEvent(listConnections('req-own-source'), { source: 'tanium.threat-response' })),
      ),
      lambdaContext(),
    );

    // Assess
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-own-source', status: 'success' }),
    ]);
  });

  it('answers an action of another family with one failed result and never retries it', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord({ action: 'list snapshots', parameters: {}, requestId: 'req-other' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'req-other',
        action: 'list snapshots',
        status: 'failed',
        message:
          "The action 'list snapshots' belongs to the snapshots family, not the connections one: send it to the snapshots queue, or on the bus name it exactly 'list snapshots' or 'list_snapshots' (any case)",
        error: { kind: 'validation', retryable: false },
        data: [],
        summary: {},
      }),
    ]);
    expect(request).not.toHaveBeenCalled();
  });

  it.each([
    [['list connections', 'get process tree'], 'connections'],
    [['bogus', 'Get_Process_Tree', 'list snapshots'], 'investigation'],
    [[7, 'bogus'], 'connections'],
    // The bus matches the items of nested lists too
    [[['Get Process Tree']], 'investigation'],
    // The Kelvin sign is no 'k' to the bus: no family rule takes it, so only the unrouted one did
    [['start quic\u212A scan'], 'connections'],
  ] as const)(
    'answers a bus event whose action is the list %j once, from the %s function, whichever rules delivered it',
    async (action, answering) => {
      // Prepare: EventBridge matches a list when any element does, so every family may receive it
      const families = ['connections', 'investigation', 'snapshots', 'intel'] as const;
      const body = eventBridgeEvent({ action, parameters: {}, requestId: 'req-list' }, { id: 'evt-list' });

      const kits = families.map((family) => buildHandler(family));

      // Act
      const responses = await Promise.all(
        kits.map((kit, index) =>
          kit.handler(sqsEvent(sqsRecord(body, { messageId: families[index] })), lambdaContext()),
        ),
      );

      // Assess: no record is retried, and one failed result comes from the family that answers
      expect(responses).toEqual(families.map(() => ({ batchItemFailures: [] })));
      expect(publishedDetails(eventBridge)).toEqual([
        expect.objectContaining({
          requestId: 'req-list',
          status: 'failed',
          message: "Invalid request: field 'action' must be a string",
        }),
      ]);
      const answered = families.filter((_, index) =>
        kits[index]?.logs.some((line) => line.message === 'Request completed'),
      );
      expect(answered).toEqual([answering]);
      for (const [index, family] of families.entries()) {
        if (family === answering) continue;
        expect(kits[index]?.logs).toContainEqual(
          expect.objectContaining({
            level: 'warn',
            message: `The bus delivered this request to several families (its action is a list); the ${answering} function answers it`,
          }),
        );
      }
    },
  );

  it('answers a bus event whose action is a list nested thousands deep, without overflowing the stack', async () => {
    // Prepare: a 40 KB body; a recursive flatten throws here, and the record would go round to the DLQ
    const action = `${'['.repeat(20_000)}"get process tree"${']'.repeat(20_000)}`;
    const body = JSON.stringify(
      eventBridgeEvent({ action: 0, parameters: {}, requestId: 'req-deep' }),
    ).replace('"action":0', `"action":${action}`);

    // Act
    const responses = await Promise.all(
      (['investigation', 'connections'] as const).map((family) =>
        buildHandler(family).handler(sqsEvent(sqsRecord(body)), lambdaContext()),
      ),
    );

    // Assess: the family whose rule the innermost item matches answers, once
    expect(responses).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-deep', status: 'failed' }),
    ]);
  });

  it.each([
    ['a request', { action: ['list connections'], parameters: {}, requestId: 'req-own' }],
    [
      'an event of a detail-type no stack rule routes',
      eventBridgeEvent(
        { action: ['list connections'], parameters: {}, requestId: 'req-own' },
        { detailType: 'Custom Request' },
      ),
    ],
  ])(
    'answers a list action sent straight to its queue as %s itself: only the bus rules fan a list out',
    async (_shape, body) => {
      // Prepare
      const { handler } = buildHandler('investigation');

      // Act
      const response = await handler(sqsEvent(sqsRecord(body)), lambdaContext());

      // Assess
      expect(response).toEqual({ batchItemFailures: [] });
      expect(publishedDetails(eventBridge)).toEqual([
        expect.objectContaining({ requestId: 'req-own', status: 'failed' }),
      ]);
    },
  );

  it('answers an unknown action with the actions the function runs', async () => {
    // Prepare
    const { handler } = buildHandler('snapshots');

    // Act
    await handler(sqsEvent(sqsRecord({ action: 'reboot endpoint', parameters: {} })), lambdaContext());

    // Assess
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      action: 'reboot endpoint',
      status: 'failed',
      message:
        "Unknown action 'reboot endpoint'. The snapshots function runs: create snapshot, list snapshots, delete snapshot; the other actions are: test connectivity, list connections, create connection, get endpoint, close connection, delete connection, get process, get process tree, get events, get events summary, list files, save file, delete file, get file, upload intel doc, start quick scan, list alerts",
      error: { kind: 'validation', retryable: false },
    });
  });

  it('names the action a misspelt one most likely meant, whichever function runs it', async () => {
    // Prepare
    const { handler } = buildHandler('snapshots');

    // Act
    await handler(sqsEvent(sqsRecord({ action: 'list conections', parameters: {} })), lambdaContext());

    // Assess
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(
        /^Unknown action 'list conections'\. Did you mean 'list connections'\? The snapshots function runs: /,
      ),
      error: { kind: 'validation', retryable: false },
    });
  });

  it('shows the start of an unknown action of any length in its message and log lines', async () => {
    // Prepare: a name the caller made 2 MB long
    const { handler, logs } = buildHandler('snapshots');
    const name = 'B'.repeat(2_000_000);

    // Act
    await handler(sqsEvent(sqsRecord({ action: name, parameters: {} })), lambdaContext());

    // Assess: the result names what was sent; the message and the log keep 64 characters of it
    const [detail] = publishedDetails(eventBridge);
    expect(detail?.message).toMatch(
      new RegExp(`^Unknown action '${'B'.repeat(64)}…'\\. The snapshots function runs:`),
    );
    expect(logs.map((line) => line.extra?.action)).toContain(`${'B'.repeat(64)}…`);
    expect(JSON.stringify(logs).length).toBeLessThan(10_000);
  });

  it('gives a request a generated id when a hand-made SQS record has no message id', async () => {
    // Prepare: as a console test event might be written
    const { handler } = buildHandler('connections');
    const record = { eventSource: 'aws:sqs', body: '{"action":"list connections"}' };

    // Act
    await handler({ Records: [record] }, lambdaContext());

    // Assess
    expect(publishedDetails(eventBridge)[0]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a body that is not JSON with a failed result under the message id', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord('{"action": ', { messageId: 'msg-bad' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'msg-bad',
        action: '',
        status: 'failed',
        message: 'Invalid request: the message body is not valid JSON',
        error: { kind: 'validation', retryable: false },
      }),
    ]);
  });

  it('names the envelope field that is wrong', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(
        sqsRecord({ action: 'list connections', params: {}, requestId: 'req-typo', context: { a: 1 } }),
      ),
      lambdaContext(),
    );

    // Assess
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      requestId: 'req-typo',
      action: 'list connections',
      status: 'failed',
      message: "Invalid request: unknown field 'params'",
      context: { a: 1 },
    });
  });

  it('answers invalid parameters with the parameter message and no Tanium call', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord({ action: 'close connection', parameters: {}, requestId: 'req-params' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      status: 'failed',
      message: "Please provide a value for the 'connection_id' parameter",
      error: { kind: 'validation', retryable: false },
    });
    expect(request).not.toHaveBeenCalled();
  });

  it("refuses what an action's own rules forbid before the credentials and the record, so a corrected request may reuse the requestId", async () => {
    // Prepare: upload intel doc given both a document and a vault id, which its rules forbid
    const items = fakeIdempotencyTable(dynamo);
    request.mockResolvedValue(taniumResponse({ id: 7 }));
    const { handler, credentialReads } = buildHandler('intel');
    const upload = (parameters: Record<string, unknown>) => ({
      action: 'upload intel doc',
      requestId: 'req-doc',
      parameters,
    });

    // Act
    const refused = (await handler(
      upload({ intel_doc: 'rule a { condition: true }', vault_id: 'a'.repeat(40), file_name: 'a.yara' }),
      lambdaContext(),
    )) as ResultDetail;
    const readsWhenRefused = credentialReads.count;
    const itemsWhenRefused = items.size;
    const corrected = (await handler(
      upload({ intel_doc: 'rule a { condition: true }', file_name: 'a.yara' }),
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(refused).toMatchObject({
      status: 'failed',
      message: "Please provide either 'intel_doc' or 'vault_id', not both",
      error: { kind: 'validation', retryable: false },
    });
    expect(readsWhenRefused).toBe(0);
    expect(itemsWhenRefused).toBe(0);
    expect(corrected).toMatchObject({ status: 'success' });
    expect(request).toHaveBeenCalledTimes(1);
  });

  it('refuses an intel document over the size limit as too_large before anything is called', async () => {
    // Prepare
    const items = fakeIdempotencyTable(dynamo);
    const { handler, credentialReads } = buildHandler('intel');

    // Act
    const result = (await handler(
      {
        action: 'upload intel doc',
        requestId: 'req-big',
        parameters: { intel_doc: 'é'.repeat(5 * 1024 * 1024 + 1), file_name: 'big.yara' },
      },
      lambdaContext(),
    )) as ResultDetail;

    // Assess: 10 MiB + 2 bytes once UTF-8 encoded, from fewer characters than that
    expect(result).toMatchObject({
      status: 'failed',
      message: 'Intel document is larger than 10485760 bytes',
      error: { kind: 'too_large', retryable: false },
    });
    expect(credentialReads.count).toBe(0);
    expect(items.size).toBe(0);
    expect(request).not.toHaveBeenCalled();
  });

  it("publishes Tanium's own error for a final Tanium failure and does not retry", async () => {
    // Prepare
    request.mockRejectedValue(new TaniumError('not_found', 'Connection not found', { status: 404 }));
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(sqsEvent(sqsRecord(closeConnection())), lambdaContext());

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      status: 'failed',
      message: 'Close connection failed. Connection not found',
      error: { kind: 'not_found', retryable: false },
    });
  });

  it('answers with a configuration failure when the credentials cannot be read', async () => {
    // Prepare
    const { handler } = buildHandler('connections', {
      credentials: async () => {
        throw new TaniumError('config', "Unable to read the Tanium credentials secret 'tr': AccessDenied");
      },
    });

    // Act
    const response = await handler(sqsEvent(sqsRecord(listConnections())), lambdaContext());

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      status: 'failed',
      message: "Unable to read the Tanium credentials secret 'tr': AccessDenied",
      error: { kind: 'config', retryable: false },
    });
  });

  it("times a request that failed before its action ran by the handler's clock", async () => {
    // Prepare: the handler's clock moves on only while the credentials are read
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const { handler, observations } = buildHandler('connections', {
      now: () => clock,
      credentials: async () => {
        clock += 40;
        throw new ConfigError("Unable to read the Tanium credentials secret 'tr': AccessDenied");
      },
    });

    // Act
    const result = (await handler(listConnections('req-timed'), lambdaContext())) as ResultDetail;

    // Assess: the 40 ms of the read
    expect(result).toMatchObject({ status: 'failed', error: { kind: 'config' }, durationMs: 40 });
    expect(observations).toEqual([expect.objectContaining({ durationMs: 40 })]);
  });

  it.for([
    ['unusable', new ConfigError("The secret's field 'base_url' is missing")],
    ['throttled', new TaniumError('transient', 'Secrets Manager throttled the read', { retryable: true })],
  ] as const)(
    'refuses invalid parameters for good while the secret is %s, before the table or Tanium',
    async ([, secretFailure]) => {
      // Prepare: a mutating request without its connection id, on its last attempt
      const { handler } = buildHandler('connections', {
        credentials: async () => {
          throw secretFailure;
        },
      });
      const invalid = {
        action: 'close connection',
        parameters: {},
        requestId: 'req-invalid',
        context: { t: 1 },
      };

      // Act
      const response = await handler(sqsEvent(sqsRecord(invalid, { receiveCount: 3 })), lambdaContext());

      // Assess: the parameter's own message, not the secret's failure nor "Gave up after 3 attempts"
      expect(response).toEqual({ batchItemFailures: [] });
      expect(publishedDetails(eventBridge)).toEqual([
        expect.objectContaining({
          requestId: 'req-invalid',
          status: 'failed',
          message: "Please provide a value for the 'connection_id' parameter",
          error: { kind: 'validation', retryable: false },
          context: { t: 1 },
        }),
      ]);
      expect(dynamo.calls()).toHaveLength(0);
      expect(request).not.toHaveBeenCalled();
    },
  );

  it('reports the credentials failure of a mutating request even when its in-progress record cannot be deleted', async () => {
    // Prepare: the record written before the credentials read, then a table that refuses the delete
    dynamo.on(DeleteItemCommand).rejects(new Error('InternalServerError'));
    const { handler, observations, logs } = buildHandler('connections', {
      credentials: async () => {
        throw new ConfigError("Unable to read the Tanium credentials secret 'tr': AccessDenied");
      },
    });

    // Act
    const refused = (await handler(closeConnection('req-undeleted'), lambdaContext())) as ResultDetail;

    // Assess: the credentials' own failure, which ServiceFailures counts and on-call is pointed to; the
    // record left behind is said, since it holds the request id until the invocation ends
    expect(refused).toMatchObject({
      status: 'failed',
      message: "Unable to read the Tanium credentials secret 'tr': AccessDenied",
      error: { kind: 'config' },
    });
    expect(observations).toContainEqual(expect.objectContaining({ serviceFailure: true }));
    expect(request).not.toHaveBeenCalled();
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'The action could not start and its in-progress idempotency record could not be deleted',
        extra: expect.objectContaining({ reason: expect.stringContaining('InternalServerError') }),
      }),
    );
  });

  it.for([
    {
      case: 'its in-progress record deleted',
      deleteFails: false,
      ending: /\. Nothing of it was stored: invoking again runs it again$/,
    },
    {
      case: 'its in-progress record left behind',
      deleteFails: true,
      ending:
        /\. Nothing of it was stored: invoking again runs it again, once this invocation has timed out and its in-progress record has expired$/,
    },
  ])(
    'tells a direct caller when invoking again runs a mutating request whose credentials could not be read: $case',
    async ({ deleteFails, ending }) => {
      // Prepare: the record written before the credentials read; the bus refuses the result
      if (deleteFails) dynamo.on(DeleteItemCommand).rejects(new Error('InternalServerError'));
      const { handler, logs } = buildHandler('connections', {
        credentials: async () => {
          throw new ConfigError("Unable to read the Tanium credentials secret 'tr': AccessDenied");
        },
      });

      // Act
      const message = await unpublishedMessage(handler, closeConnection('req-no-secret'));

      // Assess: a record left behind holds the request id until it expires, and only then
      expect(message).toMatch(ending);
      expect(
        logs.some(
          (line) =>
            line.message ===
            'The action could not start and its in-progress idempotency record could not be deleted',
        ),
      ).toBe(deleteFails);
    },
  );

  it('bounds the delete of the in-progress record after credentials that could not be read in time', async () => {
    // Prepare: the secret does not answer before the deadline, nor does the table's delete after it
    dynamo.on(DeleteItemCommand).callsFake(() => new Promise(() => undefined));
    const { handler } = buildHandler('connections', { credentials: () => new Promise(() => undefined) });
    const context = lambdaContext({ remainingMs: 7_000 });

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-slow-secret'), { messageId: 'msg-slow-secret' })),
      context,
    );

    // Assess: the batch response comes back before the invocation ends, the record retried
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-slow-secret' }] });
    expect(request).not.toHaveBeenCalled();
  });

  it('lets a duplicate run while another delivery still reads its credentials, the action running once', async () => {
    // Prepare: one container's secret read is slow; a duplicate arrives at a container that has it
    let release: () => void = () => undefined;
    const slow = buildHandler('connections', {
      credentials: () => new Promise((resolve) => (release = () => resolve(credentials()))),
    });
    const reading = slow.handler(closeConnection('req-slow-read'), lambdaContext());

    // Act: the request's record is not held while the secret is read
    const duplicate = (await buildHandler('connections').handler(
      closeConnection('req-slow-read'),
      lambdaContext(),
    )) as ResultDetail;
    release();
    const first = (await reading) as ResultDetail;

    // Assess: the duplicate ran it; the slow one replays its result
    expect(duplicate).toMatchObject({ status: 'success' });
    expect(first).toMatchObject({ status: 'success', startedAt: duplicate.startedAt });
    expect(request).toHaveBeenCalledTimes(1);
  });

  it('stores nothing for a mutating request whose credentials cannot be read, so it runs once they can', async () => {
    // Prepare
    const broken = buildHandler('connections', {
      credentials: async () => {
        throw new ConfigError("Unable to read the Tanium credentials secret 'tr': AccessDenied");
      },
    });

    // Act: the same request before and after the secret is fixed (another container)
    const refused = (await broken.handler(
      closeConnection('req-fixed-secret'),
      lambdaContext(),
    )) as ResultDetail;
    const ran = (await buildHandler('connections').handler(
      closeConnection('req-fixed-secret'),
      lambdaContext(),
    )) as ResultDetail;

    // Assess: the failure was not stored as the request's result
    expect(refused).toMatchObject({ status: 'failed', error: { kind: 'config' } });
    expect(ran).toMatchObject({ status: 'success' });
    expect(request.mock.calls.filter(([req]) => req.method === 'DELETE')).toHaveLength(1);
  });
});

describe('Family handler: transient failures', () => {
  it('fails only the record that failed transiently and publishes nothing for it', async () => {
    // Prepare
    request.mockImplementation(async (req) => {
      if (req.method === 'DELETE') throw transient();
      return taniumResponse(CONNECTIONS);
    });
    const { handler, logs } = buildHandler('connections');
    const failing = sqsRecord(closeConnection('req-transient'), { messageId: 'msg-2' });

    // Act
    const response = await handler(
      sqsEvent(
        sqsRecord(listConnections('req-a'), { messageId: 'msg-1' }),
        failing,
        sqsRecord(listConnections('req-c')),
      ),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-2' }] });
    expect(
      publishedDetails(eventBridge)
        .map((d) => d.requestId)
        .sort(),
    ).toEqual(['req-a', 'req-c']);
    // Its in-progress record was deleted: nothing to warn of but the retry
    expect(logs.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      'Transient failure; the message will be redelivered',
    ]);
  });

  it('publishes a failed result saying it gave up when the record is on its last attempt', async () => {
    // Prepare
    request.mockRejectedValue(transient());
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections('req-last'), { messageId: 'msg-last', receiveCount: 3 })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-last' }] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'req-last',
        status: 'failed',
        message:
          'Gave up after 3 attempts: Unable to list connections. Error message: Tanium answered HTTP 503',
        error: { kind: 'transient', retryable: true },
      }),
    ]);
  });

  it('says what a 404 would mean when a delete that gave up is sent again or redriven', async () => {
    // Prepare
    request.mockRejectedValue(transient('Tanium answered HTTP 504'));
    const { handler } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(sqsRecord(closeConnection('req-del'), { messageId: 'msg-del', receiveCount: 3 })),
      lambdaContext(),
    );

    // Assess
    expect(publishedDetails(eventBridge)[0]?.message).toMatch(
      /^Gave up after 3 attempts: .*Tanium answered HTTP 504\. If it is sent again \(or redriven\) and answers 404, the item is gone, possibly by one of these attempts if it reached Tanium before its answer was lost\.$/,
    );
  });

  it('reads the last attempt from the configured MAX_RECEIVE_COUNT', async () => {
    // Prepare
    request.mockRejectedValue(transient());
    const { handler } = buildHandler('connections', { env: { ...ENV, MAX_RECEIVE_COUNT: '5' } });

    // Act
    const early = await handler(sqsEvent(sqsRecord(listConnections(), { receiveCount: 3 })), lambdaContext());
    const published = publishedDetails(eventBridge).length;
    await handler(sqsEvent(sqsRecord(listConnections(), { receiveCount: 5 })), lambdaContext());

    // Assess
    expect(early).toMatchObject({ batchItemFailures: [expect.anything()] });
    expect(published).toBe(0);
    expect(publishedDetails(eventBridge)[0]?.message).toMatch(/^Gave up after 5 attempts: /);
  });

  it('says it gave up after 1 attempt when MAX_RECEIVE_COUNT allows only one', async () => {
    // Prepare
    request.mockRejectedValue(transient());
    const { handler } = buildHandler('connections', { env: { ...ENV, MAX_RECEIVE_COUNT: '1' } });

    // Act
    await handler(sqsEvent(sqsRecord(listConnections(), { receiveCount: 1 })), lambdaContext());

    // Assess
    expect(publishedDetails(eventBridge)[0]?.message).toMatch(/^Gave up after 1 attempt: Unable to list/);
  });

  it('publishes a transient failure of an EventBridge event as it is, since nothing redelivers it', async () => {
    // Prepare
    request.mockRejectedValue(transient());
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      eventBridgeEvent(listConnections('req-eb')),
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'Unable to list connections. Error message: Tanium answered HTTP 503',
      error: { kind: 'transient', retryable: true },
    });
    expect(publishedDetails(eventBridge)).toHaveLength(1);
  });

  it('fails the record when the idempotency table is unavailable, before calling Tanium', async () => {
    // Prepare
    dynamo.reset();
    dynamo.rejects(Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' }));
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection(), { messageId: 'msg-ddb' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-ddb' }] });
    expect(request).not.toHaveBeenCalled();
    expect(publishedDetails(eventBridge)).toHaveLength(0);
  });
});

describe('Family handler: redelivery backoff', () => {
  const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/tanium-tr-test-queue';
  const backoffEnv = { ...ENV, MAX_RECEIVE_COUNT: '5', QUEUE_VISIBILITY_TIMEOUT_SECONDS: '720' };
  const buildBackoffHandler = (options: Parameters<typeof buildHandler>[1] = {}) =>
    buildHandler('connections', {
      env: backoffEnv,
      sqsClient: new SQSClient({ region: 'us-east-1' }),
      ...options,
    });
  const visibilityEntries = () =>
    sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input);
  /** The one visibility change that hides `record` for `seconds`. */
  const hiddenFor = (record: { receiptHandle: string }, seconds: number) => [
    {
      QueueUrl: QUEUE_URL,
      Entries: [{ Id: '0', ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds }],
    },
  ];

  beforeEach(() => {
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  });

  it.each([
    [1, 30],
    [2, 60],
    [3, 120],
    [4, 240],
  ])('hides only the record that failed transiently on attempt %i, for %i s', async (attempt, seconds) => {
    // Prepare
    request.mockImplementation(async (req) => {
      if (req.method === 'DELETE') throw transient();
      return taniumResponse(CONNECTIONS);
    });
    const { handler } = buildBackoffHandler();
    const failing = sqsRecord(closeConnection('req-backoff'), { messageId: 'msg-2', receiveCount: attempt });

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections('req-a'), { messageId: 'msg-1', receiveCount: attempt }), failing),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-2' }] });
    expect(visibilityEntries()).toEqual(hiddenFor(failing, seconds));
  });

  it.each([
    ['a read-only action', listConnections('req-throttled')],
    ['a mutating action, through its idempotency step', closeConnection('req-throttled')],
  ])(
    "keeps the record hidden for Tanium's Retry-After when it is longer than the backoff: %s",
    async (_, body) => {
      // Prepare: Tanium throttled the request and asked for 5 minutes, more than the invocation could wait
      request.mockRejectedValue(
        new TaniumError('transient', 'Tanium answered HTTP 429', {
          retryable: true,
          status: 429,
          retryAfterMs: 299_001,
        }),
      );
      const { handler } = buildBackoffHandler();
      const record = sqsRecord(body, { messageId: 'msg-throttled' });

      // Act
      const response = await handler(sqsEvent(record), lambdaContext());

      // Assess
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-throttled' }] });
      expect(visibilityEntries()).toEqual(hiddenFor(record, 300));
    },
  );

  it('sends the visibility change to the queue URL the stack configured', async () => {
    // Prepare: a partition whose queue domain the record's ARN does not give
    request.mockRejectedValue(transient());
    const isoUrl = 'https://sqs.us-iso-east-1.c2s.ic.gov/123456789012/tanium-tr-test-queue';
    const { handler } = buildBackoffHandler({ env: { ...backoffEnv, QUEUE_URL: isoUrl } });
    const record = sqsRecord(listConnections(), { messageId: 'msg-iso' });
    record.eventSourceARN = 'arn:aws-iso:sqs:us-iso-east-1:123456789012:tanium-tr-test-queue';

    // Act
    await handler(sqsEvent(record), lambdaContext());

    // Assess
    expect(visibilityEntries().map((input) => input.QueueUrl)).toEqual([isoUrl]);
  });

  it('leaves the queue timeout to a backoff that would reach it', async () => {
    // Prepare: attempt 3 would wait 120 s, longer than this queue's own 100 s
    request.mockRejectedValue(transient());
    const { handler } = buildBackoffHandler({
      env: { ...backoffEnv, QUEUE_VISIBILITY_TIMEOUT_SECONDS: '100' },
    });

    // Act
    const early = await handler(
      sqsEvent(sqsRecord(listConnections(), { messageId: 'msg-early', receiveCount: 2 })),
      lambdaContext(),
    );
    const late = await handler(
      sqsEvent(sqsRecord(listConnections(), { messageId: 'msg-late', receiveCount: 3 })),
      lambdaContext(),
    );

    // Assess
    expect(early).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-early' }] });
    expect(late).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-late' }] });
    expect(visibilityEntries().flatMap((input) => input.Entries?.map((e) => e.VisibilityTimeout))).toEqual([
      60,
    ]);
  });

  it('makes no call for a record on its last attempt, a final failure or a success', async () => {
    // Prepare
    request.mockImplementation(async (req) => {
      if (req.method === 'DELETE') throw transient();
      throw new TaniumError('not_found', 'Tanium answered HTTP 404', { status: 404 });
    });
    const { handler } = buildBackoffHandler();

    // Act
    const response = await handler(
      sqsEvent(
        sqsRecord(closeConnection('req-last'), { messageId: 'msg-last', receiveCount: 5 }),
        sqsRecord(listConnections('req-final'), { messageId: 'msg-final' }),
        sqsRecord({ action: 'list connections', parameters: { limit: 'x' } }, { messageId: 'msg-bad' }),
      ),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-last' }] });
    expect(publishedDetails(eventBridge)).toHaveLength(3);
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(0);
  });

  it('backs off a record whose result could not be published, as after a transient failure', async () => {
    // Prepare: the bus refuses every entry; the second record's delivery is its last
    busFailsEveryEntry();
    const { handler } = buildBackoffHandler();
    const first = sqsRecord(listConnections('req-a'), { messageId: 'msg-a', receiveCount: 2 });

    // Act
    const response = await handler(
      sqsEvent(first, sqsRecord(listConnections('req-b'), { messageId: 'msg-b', receiveCount: 5 })),
      lambdaContext(),
    );

    // Assess: both come back; only the one with attempts left is hidden for its backoff, instead of the
    // queue's 720 s
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-a' }, { itemIdentifier: 'msg-b' }],
    });
    expect(visibilityEntries()).toEqual(hiddenFor(first, 60));
  });

  it('leaves to the queue a mutation it could not record whose result could not be published either', async () => {
    // Prepare: the record of the close cannot be completed, and the bus refuses every entry. Only the
    // stuck in-progress record stops a redelivery from closing again, and it expires with the invocation
    dynamo
      .on(UpdateItemCommand)
      .rejects(Object.assign(new Error('throttled'), { name: 'ValidationException' }));
    busFailsEveryEntry();
    const { handler } = buildBackoffHandler();

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-stuck'), { messageId: 'msg-stuck', receiveCount: 1 })),
      lambdaContext(),
    );

    // Assess: failed, and hidden for the queue's own timeout, not a backoff that would end with the record
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-stuck' }] });
    expect(visibilityEntries()).toEqual([]);
  });

  it('keeps a record hidden until the invocation ends when its result could not be published and its in-progress record may remain', async () => {
    // Prepare: the credentials cannot be read (a final failure) and the in-progress record cannot be
    // deleted, so it holds the request until the invocation ends; the bus refuses every entry
    dynamo.on(DeleteItemCommand).rejects(new Error('InternalServerError'));
    busFailsEveryEntry();
    const { handler } = buildBackoffHandler({
      credentials: async () => {
        throw new ConfigError("Unable to read the Tanium credentials secret 'tr': AccessDenied");
      },
    });
    const context = lambdaContext({ remainingMs: 90_000 });

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-kept'), { messageId: 'msg-kept', receiveCount: 1 })),
      context,
    );
    const remainingMs = context.getRemainingTimeInMillis();

    // Assess: hidden past the record's expiry, not only for the first attempt's backoff (30 s)
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-kept' }] });
    const seconds = visibilityEntries()[0]?.Entries?.[0]?.VisibilityTimeout ?? 0;
    expect(seconds * 1000).toBeGreaterThan(remainingMs);
    expect(seconds).toBeLessThanOrEqual(Math.ceil(remainingMs / 1000) + 2);
  });

  it('backs off a refused reuse of a requestId whose result could not be published like any other', async () => {
    // Prepare: the requestId's record is another request's, completed; then the bus refuses every entry
    const { handler } = buildBackoffHandler();
    await handler(closeConnection('req-reused'), lambdaContext());
    busFailsEveryEntry();
    const reuse = { ...closeConnection('req-reused'), parameters: { connection_id: 'remote:host-b:2:2' } };
    const record = sqsRecord(reuse, { messageId: 'msg-reused', receiveCount: 1 });

    // Act
    await handler(sqsEvent(record), lambdaContext({ remainingMs: 100_000 }));

    // Assess: the first backoff; no record of this delivery's can be left in progress to wait for
    expect(visibilityEntries()).toEqual(hiddenFor(record, 30));
  });

  it('backs off an invalid request whose result could not be published like any other', async () => {
    // Prepare: a close without its connection id, refused before the idempotency step
    busFailsEveryEntry();
    const { handler } = buildBackoffHandler();
    const invalid = { action: 'close connection', parameters: {}, requestId: 'req-invalid' };
    const record = sqsRecord(invalid, { messageId: 'msg-invalid', receiveCount: 1 });

    // Act
    await handler(sqsEvent(record), lambdaContext({ remainingMs: 100_000 }));

    // Assess: the first backoff; it wrote no record that could be left in progress
    expect(visibilityEntries()).toEqual(hiddenFor(record, 30));
  });

  it('keeps the record failed and logs a warning when ChangeMessageVisibility fails', async () => {
    // Prepare
    sqs
      .on(ChangeMessageVisibilityBatchCommand)
      .rejects(Object.assign(new Error('Access to the resource is denied'), { name: 'AccessDenied' }));
    request.mockRejectedValue(transient());
    const { handler, logs } = buildBackoffHandler();

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections(), { messageId: 'msg-denied' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-denied' }] });
    expect(publishedDetails(eventBridge)).toHaveLength(0);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message:
          'Could not delay the redelivery of failed records; they come back after the queue visibility timeout',
        extra: expect.objectContaining({ messageIds: ['msg-denied'] }),
      }),
    );
  });

  it('logs a warning for an entry SQS refused and keeps its record failed', async () => {
    // Prepare
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', Code: 'ReceiptHandleIsInvalid', SenderFault: true, Message: 'expired' }],
    });
    request.mockRejectedValue(transient());
    const { handler, logs } = buildBackoffHandler();

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections(), { messageId: 'msg-refused' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-refused' }] });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        extra: { messageIds: ['msg-refused'], reason: 'ReceiptHandleIsInvalid: expired' },
      }),
    );
  });

  it('gives up on the change before the invocation ends and still reports the record', async () => {
    // Prepare: SQS never answers; only the invocation's end stops the call. The clock is faked, so the
    // call is seen cut exactly when publishing stops, PUBLISH_MARGIN_MS before the invocation's end.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    request.mockRejectedValue(transient());
    const client = new SQSClient({ region: 'us-east-1' });
    let sent: (signal: AbortSignal | undefined) => void = () => undefined;
    const sending = new Promise<AbortSignal | undefined>((resolve) => (sent = resolve));
    const hang = (_command: unknown, options?: { abortSignal?: AbortSignal }) =>
      new Promise((_resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () => reject(options.abortSignal?.reason));
        sent(options?.abortSignal);
      });
    vi.spyOn(client, 'send').mockImplementation(hang as never);
    const { handler, logs } = buildBackoffHandler({ sqsClient: client });
    const context = lambdaContext({ remainingMs: PUBLISH_MARGIN_MS + 300 });

    // Act
    const invocation = handler(sqsEvent(sqsRecord(listConnections(), { messageId: 'msg-slow' })), context);
    const signal = await sending;
    await vi.advanceTimersByTimeAsync(299);
    const abortedEarly = signal?.aborted;
    await vi.advanceTimersByTimeAsync(1);

    // Assess: the call is cancelled when publishing stops, not before, and the record is still reported
    expect(abortedEarly).toBe(false);
    expect(signal?.aborted).toBe(true);
    const response = await invocation;
    expect(context.getRemainingTimeInMillis()).toBe(PUBLISH_MARGIN_MS);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-slow' }] });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        extra: {
          messageIds: ['msg-slow'],
          reason: `the invocation was about to time out (publishing stops ${PUBLISH_MARGIN_MS} ms before its end)`,
        },
      }),
    );
  });

  it('keeps a record whose in-progress idempotency record may remain hidden until the invocation ends', async () => {
    // Prepare: deleting the in-progress record hangs, so it stays until the invocation's end; the
    // backoff alone (1 s) would bring the redelivery back before that
    request.mockRejectedValue(transient());
    dynamo.on(DeleteItemCommand).callsFake(() => new Promise(() => undefined));
    const { handler } = buildBackoffHandler({ retryBackoffBaseSeconds: 1 });
    const context = lambdaContext({ remainingMs: 7_000 });

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-held'), { messageId: 'msg-held' })),
      context,
    );
    const remainingMs = context.getRemainingTimeInMillis();

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-held' }] });
    const seconds = visibilityEntries()[0]?.Entries?.[0]?.VisibilityTimeout ?? 0;
    expect(seconds * 1000).toBeGreaterThan(remainingMs);
    expect(seconds).toBeLessThanOrEqual(Math.ceil(remainingMs / 1000) + 2);
  });

  it("leaves a record stopped by another delivery's in-progress record to the queue timeout", async () => {
    // Prepare: a delivery of the request is running; the record it holds expires with its invocation,
    // which may end a whole function timeout from now
    let release: () => void = () => undefined;
    request.mockImplementationOnce(
      () => new Promise((resolve) => (release = () => resolve(taniumResponse(null)))),
    );
    const { handler } = buildBackoffHandler();
    const running = handler(sqsEvent(sqsRecord(closeConnection('req-other'))), lambdaContext());
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(1));

    // Act
    const duplicate = await handler(
      sqsEvent(sqsRecord(closeConnection('req-other'), { messageId: 'msg-other' })),
      lambdaContext({ remainingMs: 5_000 }),
    );
    release();
    await running;

    // Assess
    expect(duplicate).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-other' }] });
    expect(visibilityEntries()).toEqual([]);
  });

  it('uses the backoff alone once the in-progress record of a transient failure is deleted', async () => {
    // Prepare
    request.mockRejectedValue(transient());
    const { handler } = buildBackoffHandler({ retryBackoffBaseSeconds: 1 });

    // Act
    await handler(sqsEvent(sqsRecord(closeConnection('req-deleted'))), lambdaContext());

    // Assess
    expect(visibilityEntries()[0]?.Entries?.[0]?.VisibilityTimeout).toBe(1);
  });

  it('leaves the queue timeout alone when the stack did not say what it is', async () => {
    // Prepare
    request.mockRejectedValue(transient());
    const { handler } = buildBackoffHandler({ env: { ...ENV } });

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections(), { messageId: 'm' })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm' }] });
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(0);
  });
});

describe('Family handler: publishing', () => {
  it('sends a PutEvents entry again when EventBridge reports it failed', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-2' }] });
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(sqsEvent(sqsRecord(listConnections())), lambdaContext());

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(2);
  });

  it('fails the record when the entry keeps failing, so the request is redelivered', async () => {
    // Prepare
    busFailsEveryEntry();
    const { handler, logs, metrics } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections(), { messageId: 'msg-pub' })),
      lambdaContext(),
    );

    // Assess: counted for the UnpublishedResults alarm, the action itself having succeeded
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-pub' }] });
    expect(metrics.unpublishedCount).toBe(1);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(4);
    expect(logs.some((line) => line.level === 'info' && line.message === 'Request completed')).toBe(true);
    expect(logs.filter((line) => line.level === 'error')).toEqual([
      expect.objectContaining({
        message: 'Could not publish the result event',
        extra: expect.objectContaining({ correlation_id: 'req-list', action: 'list connections' }),
      }),
    ]);
  });

  it('stops publishing before the invocation ends and fails only the records whose results did not go out', async () => {
    // Prepare: eleven results need two PutEvents calls (ten entries at most per call); the first is
    // accepted, the second never answers. The clock is faked, so the stop is seen exactly when
    // publishing stops, PUBLISH_MARGIN_MS before the invocation's end.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let stalling: () => void = () => undefined;
    const stalledCall = new Promise<void>((resolve) => (stalling = resolve));
    eventBridge
      .on(PutEventsCommand)
      .callsFakeOnce((input: { Entries: unknown[] }) => ({
        FailedEntryCount: 0,
        Entries: input.Entries.map((_, index) => ({ EventId: `e-${index}` })),
      }))
      .callsFake(() => {
        stalling();
        return new Promise(() => undefined);
      });
    const { handler } = buildHandler('connections');
    const records = Array.from({ length: 11 }, (_, i) =>
      sqsRecord(listConnections(`req-${i}`), { messageId: `msg-${i}` }),
    );
    const context = lambdaContext({ remainingMs: 3_000 });
    let settled = false;

    // Act
    const invocation = handler(sqsEvent(...records), context).finally(() => {
      settled = true;
    });
    await stalledCall;
    await vi.advanceTimersByTimeAsync(3_000 - PUBLISH_MARGIN_MS - 1);
    const settledEarly = settled;
    await vi.advanceTimersByTimeAsync(1);

    // Assess: still waiting until publishing stops, and stopped then, with the invocation's margin left
    expect(settledEarly).toBe(false);
    expect(context.getRemainingTimeInMillis()).toBe(PUBLISH_MARGIN_MS);
    const [accepted, stalled] = eventBridge.commandCalls(PutEventsCommand);
    // The SDK call itself is cancelled, not only left behind
    // (the stub's type knows only the command; the SDK's send takes its options second)
    const options = (stalled?.args as unknown[] | undefined)?.[1] as
      | { abortSignal?: AbortSignal }
      | undefined;
    expect(options?.abortSignal?.aborted).toBe(true);
    expect(options?.abortSignal?.reason).toBeInstanceOf(TaniumError);
    expect(options?.abortSignal?.reason).toMatchObject({
      kind: 'transient',
      retryable: true,
      message: `the invocation was about to time out (publishing stops ${PUBLISH_MARGIN_MS} ms before its end)`,
    });
    const response = (await invocation) as SQSBatchResponse;
    const requestIds = (call: typeof accepted) =>
      (call?.args[0].input.Entries ?? []).map(
        (entry) => (JSON.parse(entry.Detail ?? '{}') as ResultDetail).requestId,
      );
    expect(requestIds(accepted)).toHaveLength(10);
    const unpublished = requestIds(stalled);
    expect(unpublished).toHaveLength(1);
    expect(response).toEqual({
      batchItemFailures: unpublished.map((id) => ({ itemIdentifier: id.replace('req-', 'msg-') })),
    });
  });

  it('stores a result over the EventBridge limit in the vault and publishes a dataRef instead of data', async () => {
    // Prepare
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      id: `remote:host-${i}:${i}:1`,
      status: 'connected',
      note: 'x'.repeat(80),
    }));
    request.mockResolvedValue(taniumResponse(rows));
    const { handler } = buildHandler('connections');

    // Act
    await handler(sqsEvent(sqsRecord(listConnections('req/big 1'))), lambdaContext());

    // Assess
    const [put] = s3.commandCalls(PutObjectCommand);
    expect(put?.args[0].input).toMatchObject({
      Bucket: BUCKET,
      Key: expect.stringMatching(/^results\/req%2Fbig%201\/[0-9a-f]{32}\.json$/),
      ContentType: 'application/json',
    });
    const stored = JSON.parse(
      Buffer.from(put?.args[0].input.Body as Uint8Array).toString('utf8'),
    ) as ResultDetail;
    expect(stored.data).toHaveLength(3000);
    expect(stored).toMatchObject({
      requestId: 'req/big 1',
      status: 'success',
      summary: { total_connections: 3000 },
    });
    const [detail] = publishedDetails(eventBridge);
    expect(detail?.data).toBeUndefined();
    expect(detail).toMatchObject({
      requestId: 'req/big 1',
      status: 'success',
      summary: { total_connections: 3000 },
      dataRef: {
        bucket: BUCKET,
        key: put?.args[0].input.Key,
        bytes: Buffer.byteLength(JSON.stringify(stored)),
      },
    });
  });

  it.each([
    [2, 'fails the record for redelivery', 1, 0],
    [3, 'publishes a failed result on the last attempt, and the message goes on to the DLQ', 1, 1],
  ])(
    'when the vault is throttled storing an oversized result on attempt %i of 3, %s',
    async (receiveCount, _what, failedRecords, results) => {
      // Prepare
      const rows = Array.from({ length: 3000 }, (_, i) => ({
        id: `remote:host-${i}:${i}:1`,
        note: 'x'.repeat(80),
      }));
      request.mockResolvedValue(taniumResponse(rows));
      vaultThrottles();
      const { handler } = buildHandler('connections');

      // Act
      const response = (await handler(
        sqsEvent(sqsRecord(listConnections('req-big'), { messageId: 'msg-big', receiveCount })),
        lambdaContext(),
      )) as SQSBatchResponse;

      // Assess
      expect(response.batchItemFailures).toHaveLength(failedRecords);
      const published = publishedDetails(eventBridge);
      expect(published).toHaveLength(results);
      if (results > 0) {
        expect(published[0]).toMatchObject({
          requestId: 'req-big',
          status: 'failed',
          message: expect.stringContaining('could not be stored'),
          error: { kind: 'vault', retryable: true },
          data: [],
        });
        expect(published[0]?.dataRef).toBeUndefined();
      }
    },
  );
});

describe('Family handler: results that cannot be published as they are', () => {
  it("publishes a failed result when Tanium's answer nests too deep to serialise, instead of failing the record", async () => {
    // Prepare: JSON.stringify overflows the call stack on a value nested thousands deep
    let deep: unknown = 1;
    for (let depth = 0; depth < 20_000; depth++) deep = [deep];
    request.mockResolvedValue(
      taniumResponse([{ id: 'remote:host-a:1:1', status: 'connected', extra: deep }]),
    );
    const { handler } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(listConnections('req-deep'), { receiveCount: 1 })),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'req-deep',
        status: 'failed',
        message: expect.stringMatching(
          /^Unable to serialise the result \(a value in Tanium's answer nests too deep\)/,
        ),
        data: [],
        error: { kind: 'tanium', retryable: false },
      }),
    ]);
  });
});

/** The error line saying what went out in place of the action's result (of `status`). */
function replacementLog(message: string, requestId: string, status: ResultDetail['status']) {
  return expect.objectContaining({
    level: 'error',
    message,
    extra: expect.objectContaining({ correlation_id: requestId, status }),
  });
}

/** A failed result went out in place of the action's. */
const replacedLog = (requestId: string, status: ResultDetail['status']) =>
  replacementLog('The result was replaced by a failed one', requestId, status);

/** The result went out without its request's parameter (and context). */
const reducedLog = (requestId: string, status: ResultDetail['status']) =>
  replacementLog('The result was published without part of its request', requestId, status);

/** The vault refuses every write (a result too big for an event cannot be stored). */
const vaultRefuses = () =>
  s3
    .on(PutObjectCommand)
    .rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
    );

/** The vault is throttled on every write. */
const vaultThrottles = () =>
  s3.on(PutObjectCommand).rejects(
    Object.assign(new Error('Please reduce your request rate.'), {
      name: 'SlowDown',
      $metadata: { httpStatusCode: 503 },
    }),
  );

describe('Family handler: results that cannot be serialised, returned', () => {
  let deep: unknown = 1;
  for (let depth = 0; depth < 20_000; depth++) deep = [deep];

  it.each([
    ['an EventBridge event', (body: object) => eventBridgeEvent(body), ENV],
    ['a direct invocation', (body: object) => body, ENV],
    ['a direct invocation with no bus', (body: object) => body, { STATE_TABLE: 'state' }],
  ])('returns %s the failed result it publishes, which Lambda can serialise', async (_shape, wrap, env) => {
    // Prepare: Lambda serialises the return value; a detail JSON.stringify cannot serialise fails the call
    request.mockResolvedValue(
      taniumResponse([{ id: 'remote:host-a:1:1', status: 'connected', extra: deep }]),
    );
    const { handler, logs } = buildHandler('connections', { env });

    // Act
    const returned = (await handler(wrap(listConnections('req-deep')), lambdaContext())) as ResultDetail;

    // Assess
    expect(() => JSON.stringify(returned)).not.toThrow();
    expect(returned).toMatchObject({
      requestId: 'req-deep',
      status: 'failed',
      data: [],
      error: { kind: 'tanium', retryable: false },
    });
    expect(publishedDetails(eventBridge)).toEqual(env === ENV ? [returned] : []);
    // The request's own log line said success: this one says what went out instead
    expect(logs).toContainEqual(replacedLog('req-deep', 'success'));
  });
});

describe('Family handler: a result the vault refused to store', () => {
  it("publishes the action's own result without the context that made it too large, and logs it", async () => {
    // Prepare: an unknown action (a failed result) whose context makes it too large for an event
    vaultRefuses();
    const { handler, logs } = buildHandler('connections');

    // Act
    const returned = (await handler(
      {
        action: 'no such action',
        parameters: {},
        requestId: 'req-refused',
        context: { note: 'x'.repeat(300_000) },
      },
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(returned).toMatchObject({ status: 'failed', error: { kind: 'validation' }, context: {} });
    expect(returned.message).toMatch(
      /Its parameter and context are left out: the result is larger than an EventBridge event allows and could not be stored: .*AccessDenied/,
    );
    expect(publishedDetails(eventBridge)).toEqual([returned]);
    expect(logs).toContainEqual(reducedLog('req-refused', 'failed'));
  });

  it('reports a mutation that ran as a success, and a redelivery replays that success', async () => {
    // Prepare: a large context makes the result too large; the vault refuses it
    vaultRefuses();
    const { handler, logs, metrics } = buildHandler('connections');
    const body = { ...closeConnection('req-ran'), context: { note: 'x'.repeat(300_000) } };

    // Act
    const first = (await handler(sqsEvent(sqsRecord(body)), lambdaContext())) as SQSBatchResponse;
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    await handler(sqsEvent(sqsRecord(body, { receiveCount: 2 })), lambdaContext());

    // Assess: one Tanium call; both results say success, the second with the whole result stored
    expect(first.batchItemFailures).toEqual([]);
    expect(request).toHaveBeenCalledTimes(1);
    const [reduced, replayed] = publishedDetails(eventBridge);
    expect(reduced).toMatchObject({
      requestId: 'req-ran',
      status: 'success',
      message: expect.stringMatching(/^Close connection requested\. Its parameter and context are left out/),
      data: [],
      context: {},
      parameter: {},
    });
    expect(replayed).toMatchObject({ requestId: 'req-ran', status: 'success', dataRef: expect.any(Object) });
    expect(logs).toContainEqual(reducedLog('req-ran', 'success'));
    // The reduced one only: the replay was published whole
    expect(metrics.replacements).toBe(1);
  });

  it('replaces the result with a failed one when its data is what is too large, and logs it', async () => {
    // Prepare
    vaultRefuses();
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      id: `remote:host-${i}:${i}:1`,
      note: 'x'.repeat(80),
    }));
    request.mockResolvedValue(taniumResponse(rows));
    const { handler, logs, metrics } = buildHandler('connections');

    // Act
    const returned = (await handler(
      { ...listConnections('req-rows'), context: { ticket: 7 } },
      lambdaContext(),
    )) as ResultDetail;

    // Assess: the context stays, for the caller to match the result with its request
    expect(returned).toMatchObject({
      status: 'failed',
      data: [],
      summary: {},
      context: { ticket: 7 },
      error: { kind: 'vault', retryable: false },
    });
    expect(returned.message).toMatch(
      /^The result is larger than an EventBridge event allows and could not be stored/,
    );
    expect(logs).toContainEqual(replacedLog('req-rows', 'success'));
    expect(metrics.replacements).toBe(1);
  });
});

describe('Family handler: a result the vault failed to store, outside SQS', () => {
  const rows = Array.from({ length: 3000 }, (_, i) => ({
    id: `remote:host-${i}:${i}:1`,
    note: 'x'.repeat(80),
  }));

  it.each([
    ['an EventBridge event', (body: object) => eventBridgeEvent(body)],
    ['a direct invocation', (body: object) => body],
  ])(
    'publishes a retryable failed result for %s instead of failing into retries that end with none',
    async (_shape, wrap) => {
      // Prepare: no SQS redelivery follows these; Lambda's own retries would meet the same vault
      vaultThrottles();
      request.mockResolvedValue(taniumResponse(rows));
      const { handler, logs } = buildHandler('connections');

      // Act
      const returned = (await handler(wrap(listConnections('req-slow')), lambdaContext())) as ResultDetail;

      // Assess
      expect(returned).toMatchObject({
        requestId: 'req-slow',
        status: 'failed',
        data: [],
        error: { kind: 'vault', retryable: true },
      });
      expect(publishedDetails(eventBridge)).toEqual([returned]);
      expect(logs).toContainEqual(replacedLog('req-slow', 'success'));
    },
  );
});

describe('Family handler: credentials read late', () => {
  it('logs why the credentials read failed once it ends after the deadline', async () => {
    // Prepare: the read fails only after the invocation stopped waiting for it
    let fail: (error: Error) => void = () => undefined;
    const read = new Promise<never>((_resolve, reject) => {
      fail = reject;
    });
    read.catch(() => undefined);
    const { handler, logs } = buildHandler('connections', { credentials: () => read });

    // Act
    const response = (await handler(
      sqsEvent(sqsRecord(closeConnection('req-late'), { messageId: 'msg-late' })),
      lambdaContext({ remainingMs: 3000 }),
    )) as SQSBatchResponse;
    fail(new Error('AccessDeniedException: not authorized to perform secretsmanager:GetSecretValue'));
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'msg-late' }]);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'The credentials read failed after the invocation had stopped waiting for it',
        extra: expect.objectContaining({ error: expect.stringContaining('AccessDeniedException') }),
      }),
    );
  });
  it('gives up saying time ran out, not blaming the table, when the invocation ends before the record is written', async () => {
    // Prepare: the credentials read takes the invocation past its end, before the idempotency step
    vi.useFakeTimers({ toFake: ['Date'] });
    const handler = outlivedByItsCredentialsRead();

    // Act
    const response = (await handler(
      sqsEvent(sqsRecord(closeConnection('req-ended'), { messageId: 'msg-ended', receiveCount: 3 })),
      lambdaContext({ remainingMs: 60_000 }),
    )) as SQSBatchResponse;

    // Assess: to the DLQ with its reason; Tanium never called, nothing left in the table
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'msg-ended' }]);
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        status: 'failed',
        message:
          "Gave up after 3 attempts: The invocation ran out of time before the request's idempotency record could be written. If it is sent again (or redriven) and answers 404, the item is gone, possibly by one of these attempts if it reached Tanium before its answer was lost.",
      }),
    ]);
    expect(request).not.toHaveBeenCalled();
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
  });
});

describe('Family handler: a record the invocation ended before, outside SQS', () => {
  it('publishes a transient, retryable failure saying time ran out', async () => {
    // Prepare: the credentials read takes the invocation past its end, before the idempotency step
    vi.useFakeTimers({ toFake: ['Date'] });
    const handler = outlivedByItsCredentialsRead();

    // Act
    const result = (await handler(
      closeConnection('req-ended-direct'),
      lambdaContext({ remainingMs: 60_000 }),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({
      requestId: 'req-ended-direct',
      status: 'failed',
      message: "The invocation ran out of time before the request's idempotency record could be written",
      error: { kind: 'transient', retryable: true },
    });
    expect(request).not.toHaveBeenCalled();
  });
});

describe('Family handler: the in-progress record of a short invocation', () => {
  it('lets the in-progress record expire with the invocation even when less than the publishing reserve is left', async () => {
    // Prepare: 4 s left, less than PUBLISH_RESERVE_MS; the clock stands still, so the end is exact
    vi.useFakeTimers({ toFake: ['Date'] });
    const { handler } = buildHandler('connections');
    const end = Date.now() + 4_000;

    // Act
    await handler(
      sqsEvent(sqsRecord(closeConnection('req-short'), { messageId: 'msg-short' })),
      lambdaContext({ remainingMs: 4_000 }),
    );

    // Assess: the record written holds the request no longer than the invocation runs
    const written = dynamo.commandCalls(PutItemCommand)[0]?.args[0].input.Item;
    expect(Number(written?.in_progress_expiration?.N)).toBe(end);
  });
});

describe('Family handler: idempotent mutating actions', () => {
  it('replays the stored result for a redelivered request: one Tanium call, two identical results', async () => {
    // Prepare
    const { handler, logs } = buildHandler('connections');

    // Act
    await handler(sqsEvent(sqsRecord(closeConnection('req-once'))), lambdaContext());
    await handler(sqsEvent(sqsRecord(closeConnection('req-once'), { receiveCount: 2 })), lambdaContext());

    // Assess
    expect(request).toHaveBeenCalledTimes(1);
    const [first, second] = publishedDetails(eventBridge);
    expect(first).toMatchObject({
      requestId: 'req-once',
      status: 'success',
      message: 'Close connection requested',
    });
    expect(second).toEqual(first);
    expect(logs.filter((line) => line.message === 'Replayed the stored result')).toHaveLength(1);
  });

  it('keys the record on requestId and action, whichever spelling of the action was used', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    await handler(closeConnection('req-spelling'), lambdaContext());
    await handler({ ...closeConnection('req-spelling'), action: 'close connection' }, lambdaContext());
    await handler(closeConnection('req-other-id'), lambdaContext());
    const other = await handler(
      { ...closeConnection('req-spelling'), action: 'delete connection' },
      lambdaContext(),
    );

    // Assess: the same spelling replays; another id, or another action under the same id, runs
    expect(request).toHaveBeenCalledTimes(3);
    expect(other).toMatchObject({ status: 'success', message: 'Delete connection requested' });
  });

  it('does not store a transient failure, so the redelivery calls Tanium again', async () => {
    // Prepare
    request.mockRejectedValueOnce(transient());
    const { handler } = buildHandler('connections');

    // Act
    const first = await handler(
      sqsEvent(sqsRecord(closeConnection('req-retry'), { messageId: 'm' })),
      lambdaContext(),
    );
    const second = await handler(
      sqsEvent(sqsRecord(closeConnection('req-retry'), { receiveCount: 2 })),
      lambdaContext(),
    );

    // Assess
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: 'm' }] });
    expect(second).toEqual({ batchItemFailures: [] });
    expect(request).toHaveBeenCalledTimes(2);
    expect(publishedDetails(eventBridge)).toEqual([expect.objectContaining({ status: 'success' })]);
  });

  it("says a delete's 404 on a redelivery may follow the earlier delivery's own success, and stores that", async () => {
    // Prepare: the first delivery's DELETE is cut at the deadline (Tanium may have closed it), the
    // redelivery's finds nothing to close
    request.mockRejectedValueOnce(
      new TaniumError('transient', 'the invocation ran out of time during DELETE /conns/close/c', {
        retryable: true,
      }),
    );
    request.mockRejectedValue(new TaniumError('not_found', 'Connection not found', { status: 404 }));
    const { handler } = buildHandler('connections');

    // Act
    await handler(sqsEvent(sqsRecord(closeConnection('req-cut'), { messageId: 'm' })), lambdaContext());
    await handler(sqsEvent(sqsRecord(closeConnection('req-cut'), { receiveCount: 2 })), lambdaContext());
    await handler(sqsEvent(sqsRecord(closeConnection('req-cut'), { receiveCount: 3 })), lambdaContext());

    // Assess: the stored result, replayed by the third delivery, keeps the caveat
    expect(request).toHaveBeenCalledTimes(2);
    const [second, third] = publishedDetails(eventBridge);
    expect(second).toMatchObject({
      status: 'failed',
      message:
        'Close connection failed. Connection not found. This is delivery 2 of the request and an earlier one did not finish: Tanium may have carried it out before this 404.',
      error: { kind: 'not_found', retryable: false },
    });
    expect(third).toEqual(second);
  });

  it("adds the redelivery's caveat to a delete's 404 once, and to no other action or failure", () => {
    // Prepare
    const notFound = (message: string): ActionResult => ({
      status: 'failed',
      message,
      parameter: {},
      data: [],
      summary: {},
      error: { kind: 'not_found', retryable: false },
    });
    const hedged = `Error from server. Status Code: 404 Data from server: Not Found. An earlier attempt of this request got no answer (lost): ${CARRIED_OUT_CAVEAT}.`;

    // Act / Assess
    expect(hedgedForRedelivery(deleteFile, { attempt: 2 }, notFound(hedged)).message).toBe(hedged);
    expect(hedgedForRedelivery(deleteFile, { attempt: 2 }, notFound('Gone!')).message).toBe(
      `Gone! This is delivery 2 of the request and an earlier one did not finish: ${CARRIED_OUT_CAVEAT}.`,
    );
    expect(hedgedForRedelivery(deleteFile, { attempt: 1 }, notFound('Gone')).message).toBe('Gone');
    expect(hedgedForRedelivery(saveFile, { attempt: 2 }, notFound('Gone')).message).toBe('Gone');
  });

  it('stores a final failure, so the redelivery replays it without calling Tanium', async () => {
    // Prepare
    request.mockRejectedValue(new TaniumError('not_found', 'Connection not found', { status: 404 }));
    const { handler } = buildHandler('connections');

    // Act
    await handler(closeConnection('req-404'), lambdaContext());
    await handler(closeConnection('req-404'), lambdaContext());

    // Assess
    expect(request).toHaveBeenCalledTimes(1);
    const [first, second] = publishedDetails(eventBridge);
    expect(second).toEqual(first);
    expect(first?.status).toBe('failed');
  });

  it('refuses a requestId reused with different parameters, naming the action as every message does', async () => {
    // Prepare
    const items = fakeIdempotencyTable(dynamo);
    const { handler } = buildHandler('connections');

    // Act
    await handler(closeConnection('req-reused'), lambdaContext());
    const result = (await handler(
      { ...closeConnection('req-reused'), parameters: { connection_id: 'remote:host-b:2:2' } },
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(request).toHaveBeenCalledTimes(1);
    expect(result).toMatchObject({
      status: 'failed',
      message:
        "Request req-reused was already used for 'close connection' with different parameters; send a new requestId",
      error: { kind: 'validation', retryable: false },
    });
    // The record stays keyed on the identifier, as records already stored are (Powertools' MD5 of the key)
    const hashed = createHash('md5')
      .update(JSON.stringify(['req-reused', 'close_connection']))
      .digest('base64');
    expect([...items.keys()]).toEqual([`${idempotencyKeyPrefix('connections')}#${hashed}`]);
  });

  it('replays the failed result of a refused mutation under its requestId; a new requestId runs it', async () => {
    // Prepare: the token is refused until the owner renews it. A held duplicate of the request may come
    // back after the fix: replaying the failure keeps it from changing Tanium after a failure was reported
    let tokenValid = false;
    request.mockImplementation(async (req) => {
      if (!tokenValid) throw new TaniumError('auth', 'Authentication failed (HTTP 401)', { status: 401 });
      return taniumResponse(req.method === 'GET' ? CONNECTIONS : null);
    });
    const { handler } = buildHandler('connections');

    // Act
    const refused = (await handler(closeConnection('req-fixed'), lambdaContext())) as ResultDetail;
    tokenValid = true;
    const replayed = (await handler(closeConnection('req-fixed'), lambdaContext())) as ResultDetail;
    const resent = (await handler(closeConnection('req-fixed-2'), lambdaContext())) as ResultDetail;

    // Assess
    expect(refused).toMatchObject({ status: 'failed', error: { kind: 'auth' } });
    expect(replayed).toMatchObject({ status: 'failed', message: refused.message });
    expect(resent).toMatchObject({ status: 'success' });
    expect(request.mock.calls.filter(([req]) => req.method === 'DELETE')).toHaveLength(2);
  });

  it('keeps a parameter named __proto__: echoed back, and compared when the requestId is reused', async () => {
    // Prepare: as JSON text, so `__proto__` is an own key, as in an SQS body
    const { handler } = buildHandler('connections');
    const withProto = JSON.parse(
      '{"action":"close connection","requestId":"req-proto","parameters":{"connection_id":"remote:host-a:1:1","__proto__":{"x":1}}}',
    );

    // Act
    const first = (await handler(withProto, lambdaContext())) as ResultDetail;
    const reused = (await handler(
      { ...closeConnection('req-proto'), parameters: { connection_id: 'remote:host-a:1:1' } },
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(JSON.stringify(first.parameter)).toBe('{"connection_id":"remote:host-a:1:1","__proto__":{"x":1}}');
    expect(Object.getPrototypeOf(first.parameter)).toBe(Object.prototype);
    expect(request).toHaveBeenCalledTimes(1);
    expect(reused).toMatchObject({ status: 'failed', error: { kind: 'validation', retryable: false } });
    expect(reused.message).toContain('with different parameters');
  });

  it('replays a request resent with another SOAR context in its parameters, echoing the new one, and warns of no ignored parameter', async () => {
    // Prepare: a bridge forwarding SOAR's param, whose context changes with every SOAR action run
    const { handler, logs } = buildHandler('connections');
    const soar = (guid: string) => ({
      ...closeConnection('req-soar'),
      parameters: {
        connection_id: 'remote:host-a:1:1',
        context: { artifact_id: 7, guid, parent_action_run: [] },
      },
    });

    // Act
    const first = (await handler(soar('run-1'), lambdaContext())) as ResultDetail;
    const resent = (await handler(soar('run-2'), lambdaContext())) as ResultDetail;
    const other = (await handler(
      { ...soar('run-3'), parameters: { ...soar('run-3').parameters, connection_id: 'remote:host-b:1:1' } },
      lambdaContext(),
    )) as ResultDetail;

    // Assess: one DELETE; the replay says it is one of the first run; other parameters are still refused
    expect(request).toHaveBeenCalledTimes(1);
    expect(first).toMatchObject({ status: 'success', parameter: { context: { guid: 'run-1' } } });
    expect(first.summary).not.toHaveProperty('ignored_parameters');
    expect(resent).toMatchObject({ status: 'success', message: first.message, startedAt: first.startedAt });
    expect(resent.parameter).toMatchObject({ context: { guid: 'run-2' } });
    expect(other).toMatchObject({ status: 'failed', error: { kind: 'validation', retryable: false } });
    expect(logs.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it.each([
    [
      'its credentials can no longer be read',
      {
        credentials: async (): Promise<never> => {
          throw new ConfigError(
            "Unable to read the Tanium credentials secret 'tanium': AccessDeniedException",
          );
        },
      },
    ],
  ])(
    'replays a stored success to a redelivery in a container where %s, instead of contradicting it',
    async (_case, broken) => {
      // Prepare: the first delivery closes the connection; its redelivery lands in another container
      const first = (await buildHandler('connections').handler(
        closeConnection('req-stored'),
        lambdaContext(),
      )) as ResultDetail;

      // Act
      const { handler, logs } = buildHandler('connections', broken);
      const replayed = (await handler(closeConnection('req-stored'), lambdaContext())) as ResultDetail;

      // Assess: the stored result needs neither; an action to run would still fail on them
      expect(first).toMatchObject({ status: 'success' });
      expect(replayed).toMatchObject({
        status: 'success',
        message: first.message,
        startedAt: first.startedAt,
      });
      expect(request).toHaveBeenCalledTimes(1);
      expect(logs.filter((line) => line.message === 'Replayed the stored result')).toHaveLength(1);
      const other = (await handler(closeConnection('req-new'), lambdaContext())) as ResultDetail;
      expect(other).toMatchObject({ status: 'failed', error: { kind: 'config' } });
      expect(request).toHaveBeenCalledTimes(1);
    },
  );

  it('retries a duplicate of a request that is still running instead of running it twice', async () => {
    // Prepare
    let release: () => void = () => undefined;
    request.mockImplementationOnce(
      () => new Promise((resolve) => (release = () => resolve(taniumResponse(null)))),
    );
    const { handler } = buildHandler('connections');
    const running = handler(sqsEvent(sqsRecord(closeConnection('req-dup'))), lambdaContext());
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(1));

    // Act
    const duplicate = await handler(
      sqsEvent(sqsRecord(closeConnection('req-dup'), { messageId: 'msg-dup' })),
      lambdaContext(),
    );
    release();
    const original = await running;

    // Assess
    expect(duplicate).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-dup' }] });
    expect(original).toEqual({ batchItemFailures: [] });
    expect(request).toHaveBeenCalledTimes(1);
    expect(publishedDetails(eventBridge)).toHaveLength(1);
  });

  it('runs two deliveries of one request in a batch one after the other: one Tanium call, its result twice', async () => {
    // Prepare: the close waits inside Tanium until released, so side by side the deliveries would overlap
    let release: () => void = () => undefined;
    request.mockImplementation(async (req) => {
      if (req.method === 'GET') return taniumResponse(CONNECTIONS);
      return new Promise((resolve) => (release = () => resolve(taniumResponse(null))));
    });
    const { handler } = buildHandler('connections');
    const invocation = handler(
      sqsEvent(
        sqsRecord(closeConnection('req-twice'), { messageId: 'msg-first' }),
        sqsRecord(listConnections('req-other'), { messageId: 'msg-other' }),
        sqsRecord(closeConnection('req-twice'), { messageId: 'msg-again' }),
      ),
      lambdaContext(),
    );
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(2));

    // Act
    await delay(20);
    release();
    const response = await invocation;

    // Assess: the other request did not wait; the second delivery replayed the first one's result
    expect(response).toEqual({ batchItemFailures: [] });
    expect(request.mock.calls.map(([req]) => req.method).sort()).toEqual(['DELETE', 'GET']);
    const twice = publishedDetails(eventBridge).filter((detail) => detail.requestId === 'req-twice');
    expect(twice).toHaveLength(2);
    expect(twice[1]).toEqual(twice[0]);
    expect(twice[0]).toMatchObject({ status: 'success' });
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)).toEqual([]);
  });

  it('runs deliveries of one read-only request in a batch side by side: nothing of theirs is recorded', async () => {
    // Prepare: every list waits inside Tanium until released
    const releases: Array<() => void> = [];
    request.mockImplementation(
      () => new Promise((resolve) => releases.push(() => resolve(taniumResponse(CONNECTIONS)))),
    );
    const { handler } = buildHandler('connections');

    // Act
    const invocation = handler(
      sqsEvent(
        sqsRecord(listConnections('req-read'), { messageId: 'msg-first' }),
        sqsRecord(listConnections('req-read'), { messageId: 'msg-again' }),
      ),
      lambdaContext(),
    );
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(2));
    for (const release of releases) release();

    // Assess: both were in Tanium at once, and both published
    expect(await invocation).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toHaveLength(2);
  });

  it('runs the later delivery of a request in a batch itself when the earlier one failed transiently', async () => {
    // Prepare
    request.mockRejectedValueOnce(transient());

    // Act
    const { response } = await runBatch([
      sqsRecord(closeConnection('req-retry'), { messageId: 'msg-first' }),
      sqsRecord(closeConnection('req-retry'), { messageId: 'msg-again' }),
    ]);

    // Assess: the first goes back to the queue; the second ran the close and published its result
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-first' }] });
    expect(request).toHaveBeenCalledTimes(2);
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-retry', status: 'success' }),
    ]);
  });

  it.for([
    { case: 'a resend (another message)', ids: ['msg-first', 'msg-again'], failures: [] as string[] },
    { case: 'an SQS duplicate (the same message)', ids: ['msg-dup', 'msg-dup'], failures: [] as string[] },
  ])(
    'hands a transient failure on the last attempt to a later delivery in the batch: one result, not a "gave up" beside it ($case)',
    async ({ ids, failures }) => {
      // Prepare: both on their last attempt; the first one's close fails transiently
      request.mockRejectedValueOnce(transient());

      // Act
      const { response, logs } = await runBatch([
        sqsRecord(closeConnection('req-last'), { messageId: ids[0], receiveCount: 3 }),
        sqsRecord(closeConnection('req-last'), { messageId: ids[1], receiveCount: 3 }),
      ]);

      // Assess: the second ran the close; only its result went out, and no message goes to the DLQ
      expect(response).toEqual({ batchItemFailures: failures });
      expect(request).toHaveBeenCalledTimes(2);
      expect(publishedDetails(eventBridge)).toEqual([
        expect.objectContaining({ requestId: 'req-last', status: 'success' }),
      ]);
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message:
            'Transient failure on the last attempt; a later delivery of the request in this batch runs it again',
          extra: expect.objectContaining({
            correlation_id: 'req-last',
            resultMessage: 'Close connection failed. Tanium answered HTTP 503',
          }),
        }),
      );
    },
  );

  it('gives up on the last delivery of a request in the batch that fails on its last attempt: one result', async () => {
    // Prepare: every close fails transiently
    request.mockRejectedValue(transient());

    // Act
    const { response } = await runBatch([
      sqsRecord(closeConnection('req-down'), { messageId: 'msg-first', receiveCount: 3 }),
      sqsRecord(closeConnection('req-down'), { messageId: 'msg-again', receiveCount: 3 }),
    ]);

    // Assess: the first handed on, the second gave up: one failed result, one message to the DLQ
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-again' }] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'req-down',
        status: 'failed',
        message: expect.stringMatching(/^Gave up after 3 attempts/),
      }),
    ]);
  });

  it('leaves the request with the copy it handed on to when the bus refuses that copy result: to the DLQ, whose redrive replays it', async () => {
    // Prepare: both on their last attempt; the first close fails transiently; the bus refuses every call
    request.mockRejectedValueOnce(transient());
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).rejects(
      Object.assign(new Error('We encountered an internal error. Please try again.'), {
        name: 'InternalException',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
      }),
    );

    // Act
    const { response, logs } = await runBatch([
      sqsRecord(closeConnection('req-refused'), { messageId: 'msg-first', receiveCount: 3 }),
      sqsRecord(closeConnection('req-refused'), { messageId: 'msg-again', receiveCount: 3 }),
    ]);

    // Assess: the first is done, handed on; the second ran the close and goes to the DLQ with its result
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-again' }] });
    expect(request).toHaveBeenCalledTimes(2);
    expect(logs.map((line) => [line.level, line.message])).toEqual(
      expect.arrayContaining([
        [
          'warn',
          'Transient failure on the last attempt; a later delivery of the request in this batch runs it again',
        ],
        ['error', 'Could not publish the result event'],
      ]),
    );

    // Act: the DLQ's redrive, with the bus back
    eventBridge.reset();
    acceptAllEntries(eventBridge);
    const redriven = await runBatch([sqsRecord(closeConnection('req-refused'), { messageId: 'msg-again' })]);

    // Assess: the stored result answers the request; Tanium is not called again
    expect(redriven.response).toEqual({ batchItemFailures: [] });
    expect(request).toHaveBeenCalledTimes(2);
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'req-refused',
        status: 'success',
        message: 'Close connection requested',
      }),
    ]);
  });

  it('counts no retry for copies of a request in the batch that end it on their last attempt', async () => {
    // Prepare
    const { handler, observations } = buildHandler('connections');

    // Act: the first closes the connection, the second replays its result
    const response = await handler(
      sqsEvent(
        sqsRecord(closeConnection('req-both'), { messageId: 'msg-first', receiveCount: 3 }),
        sqsRecord(closeConnection('req-both'), { messageId: 'msg-again', receiveCount: 3 }),
      ),
      lambdaContext(),
    );

    // Assess: neither is left to another delivery
    expect(response).toEqual({ batchItemFailures: [] });
    expect(observations.map((observation) => observation.retrying)).toEqual([false, false]);
  });

  it('gives up rather than hand on a last attempt whose in-progress record may remain: the later one would be held', async () => {
    // Prepare: the close fails transiently and deleting its in-progress record hangs
    request.mockRejectedValueOnce(transient());
    dynamo.on(DeleteItemCommand).callsFake(() => new Promise(() => undefined));

    // Act
    const { response } = await runBatch(
      [
        sqsRecord(closeConnection('req-stuck'), { messageId: 'msg-first', receiveCount: 3 }),
        sqsRecord(closeConnection('req-stuck'), { messageId: 'msg-again', receiveCount: 3 }),
      ],
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 1_000 }),
    );

    // Assess: the first gave up, its message to the DLQ; the second, unrun, is sent the same result
    const published = publishedDetails(eventBridge);
    expect(published).toEqual([
      expect.objectContaining({
        requestId: 'req-stuck',
        status: 'failed',
        message: expect.stringMatching(/^Gave up after 3 attempts/),
      }),
      expect.objectContaining({ status: 'failed' }),
    ]);
    expect(published[1]?.message).toBe(published[0]?.message);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-first' }] });
    expect(request).toHaveBeenCalledTimes(1);
  });

  /** `records` as one SQS batch through the connections handler: its answer, and its log lines. */
  async function runBatch(records: SQSRecord[], context = lambdaContext()) {
    const { handler, logs } = buildHandler('connections');
    const response = (await handler(sqsEvent(...records), context)) as SQSBatchResponse;
    return { response, logs };
  }

  /**
   * A batch whose early copy goes back to the queue and whose last attempt goes to the DLQ behind it:
   * both fail, nothing is published, and the line the DLQ alarm leads to is `line`, at error level.
   */
  function expectBothBackBehindEarlyCopy(
    { response, logs }: { response: unknown; logs: LogLine[] },
    requestId: string,
    line: string,
  ): void {
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-early' }, { itemIdentifier: 'msg-last' }],
    });
    expect(publishedDetails(eventBridge)).toEqual([]);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: line,
        extra: expect.objectContaining({ correlation_id: requestId }),
      }),
    );
  }

  /**
   * `records` through the connections handler with the table never answering, on a faked clock, up to
   * when publishing stops (the deadline 2 s away): whether it had answered by then, its answer, its logs.
   */
  async function withTableHung(records: SQSRecord[]) {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    dynamo.on(PutItemCommand).callsFake(() => new Promise(() => undefined));
    const { handler, logs } = buildHandler('connections');
    let settled = false;
    const invocation = handler(
      sqsEvent(...records),
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 2_000 }),
    ).finally(() => (settled = true));
    // Past the deadline, then a few real turns for the sink's immediate flush (setImmediate is not faked)
    await vi.advanceTimersByTimeAsync(2_100);
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    await vi.advanceTimersByTimeAsync(PUBLISH_RESERVE_MS - PUBLISH_MARGIN_MS - 100);
    const inTime = settled;
    return { inTime, response: await invocation, logs };
  }

  it.for([
    { attempt: 1, failures: 10, results: 0 },
    // The first gives up (its record may remain, so it hands on to none); the others are sent its result
    { attempt: 3, failures: 1, results: 10 },
  ])(
    'ends the later copies of a request in the batch unrun once the deadline passed, within the invocation (attempt $attempt)',
    async ({ attempt, failures, results }) => {
      // Prepare: the first delivery waits for its in-progress record until the deadline; nine more copies
      // of the request follow it in the batch
      const ids = Array.from({ length: 10 }, (_, i) => `msg-${i}`);

      // Act
      const { inTime, response } = await withTableHung(
        ids.map((messageId) => sqsRecord(closeConnection('req-chain'), { messageId, receiveCount: attempt })),
      );

      // Assess: answered before publishing stops; only the first touched the table
      expect(inTime).toBe(true);
      expect(response).toEqual({
        batchItemFailures: ids.slice(0, failures).map((itemIdentifier) => ({ itemIdentifier })),
      });
      expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(1);
      expect(publishedDetails(eventBridge)).toHaveLength(results);
      expect(request).not.toHaveBeenCalled();
    },
  );

  it('sends a last attempt whose turn comes past the deadline behind a retried copy to the DLQ, saying so', async () => {
    // Act: the first copy (attempts left) goes back to the queue
    const batch = await withTableHung([
      sqsRecord(closeConnection('req-behind'), { messageId: 'msg-early' }),
      sqsRecord(closeConnection('req-behind'), { messageId: 'msg-last', receiveCount: 3 }),
    ]);

    // Assess
    expectBothBackBehindEarlyCopy(
      batch,
      'req-behind',
      'Past the deadline, this delivery goes to the dead-letter queue unrun; the earlier copy of the request in this batch goes back to the queue',
    );
  });

  it('fails another request under the record whose turn comes past the deadline as out of time, unrun', async () => {
    // Act: a reuse of the requestId for another connection follows
    const { response, logs } = await withTableHung([
      sqsRecord(closeConnection('req-reuse'), { messageId: 'msg-a' }),
      sqsRecord(closeConnection('req-reuse', 'remote:host-b:2:2'), { messageId: 'msg-b' }),
    ]);

    // Assess: both go back to the queue; only the first waited on the table
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-a' }, { itemIdentifier: 'msg-b' }],
    });
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(1);
    // A transient failure, as the time it lacked may be there on redelivery
    expect(logs).toContainEqual({
      level: 'warn',
      message: 'Transient failure; the message will be redelivered',
      extra: expect.objectContaining({
        correlation_id: 'req-reuse',
        errorKind: 'transient',
        resultMessage: 'The invocation ran out of time before the request could run',
      }),
    });
  });

  it('hands a last attempt on only to a later copy of the same request, not to a reuse of its requestId', async () => {
    // Prepare: the close fails transiently; a later message reuses the requestId for another connection
    request.mockRejectedValueOnce(transient());

    // Act
    const { response } = await runBatch([
      sqsRecord(closeConnection('req-reused'), { messageId: 'msg-close', receiveCount: 3 }),
      sqsRecord(closeConnection('req-reused', 'remote:host-b:2:2'), { messageId: 'msg-other' }),
    ]);

    // Assess: the first request gave up with its own result; the other ran on its own
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-close' }] });
    expect(publishedDetails(eventBridge).map((d) => [d.status, d.parameter])).toEqual([
      ['failed', { connection_id: 'remote:host-a:1:1' }],
      ['success', { connection_id: 'remote:host-b:2:2' }],
    ]);
  });

  it('hands nothing on past the deadline: the last attempt that fails then gives up, and its copies are sent its result unrun', async () => {
    // Prepare: each close fails transiently 600 ms in, past the deadline 500 ms away
    request.mockImplementation(
      () => new Promise((_resolve, reject) => setTimeout(() => reject(transient()), 600)),
    );

    // Act
    const { response } = await runBatch(
      [
        ...['msg-1', 'msg-2', 'msg-3'].map((messageId) =>
          sqsRecord(closeConnection('req-late'), { messageId, receiveCount: 3 }),
        ),
      ],
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 500 }),
    );

    // Assess
    expect(request).toHaveBeenCalledTimes(1);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    const published = publishedDetails(eventBridge);
    expect(published.map((d) => d.message)).toEqual(Array(3).fill(published[0]?.message));
    expect(published[0]?.message).toMatch(/^Gave up after 3 attempts/);
  });

  it('runs the copy a last attempt handed on to even past the deadline, behind another request under its record', async () => {
    // Prepare: the first close fails transiently; a reuse of its requestId for another connection then
    // fails transiently too, past the deadline (500 ms away); the copy comes last
    request
      .mockRejectedValueOnce(transient())
      .mockImplementationOnce(
        () => new Promise((_resolve, reject) => setTimeout(() => reject(transient()), 600)),
      );

    // Act
    const { response } = await runBatch(
      [
        sqsRecord(closeConnection('req-mixed'), { messageId: 'msg-a1', receiveCount: 3 }),
        sqsRecord(closeConnection('req-mixed', 'remote:host-b:2:2'), { messageId: 'msg-b' }),
        sqsRecord(closeConnection('req-mixed'), { messageId: 'msg-a2' }),
      ],
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 500 }),
    );

    // Assess: the copy ran the close and gave the request its result; the other goes back
    expect(request).toHaveBeenCalledTimes(3);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-b' }] });
    expect(publishedDetails(eventBridge).map((d) => [d.status, d.parameter])).toEqual([
      ['success', { connection_id: 'remote:host-a:1:1' }],
    ]);
  });

  it('runs another action under the same requestId beside a slow one, not behind it past the deadline', async () => {
    // Prepare: the delete takes 600 ms, past the deadline 500 ms away
    request.mockImplementationOnce(
      () => new Promise((resolve) => setTimeout(() => resolve(taniumResponse(null)), 600)),
    );

    // Act
    const { response } = await runBatch(
      [
        sqsRecord(deleteConnection('req-pair'), { messageId: 'msg-delete' }),
        sqsRecord(closeConnection('req-pair'), { messageId: 'msg-close' }),
      ],
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 500 }),
    );

    // Assess: both ran and answered
    expect(response).toEqual({ batchItemFailures: [] });
    expect(
      publishedDetails(eventBridge)
        .map((d) => [d.action, d.status])
        .sort(),
    ).toEqual([
      ['close connection', 'success'],
      ['delete connection', 'success'],
    ]);
  });

  it('gives up with its own result on a last attempt behind another action under its requestId going back', async () => {
    // Prepare: every Tanium call fails transiently; a delete with attempts left shares the requestId
    request.mockRejectedValue(transient());

    // Act
    const { response } = await runBatch([
      sqsRecord(deleteConnection('req-two'), { messageId: 'msg-delete' }),
      sqsRecord(closeConnection('req-two'), { messageId: 'msg-close', receiveCount: 3 }),
    ]);

    // Assess: the delete's redelivery answers only the delete; the close says it gave up
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-delete' }, { itemIdentifier: 'msg-close' }],
    });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        action: 'close connection',
        message: expect.stringMatching(/^Gave up after 3/),
      }),
    ]);
  });

  it('leaves the request to an earlier copy going back, not to a later one: no "Gave up" it could contradict', async () => {
    // Prepare: three copies, the first with attempts left, all failing transiently
    request.mockRejectedValue(transient());

    // Act
    const { response } = await runBatch([
      sqsRecord(closeConnection('req-three'), { messageId: 'msg-1' }),
      sqsRecord(closeConnection('req-three'), { messageId: 'msg-2', receiveCount: 3 }),
      sqsRecord(closeConnection('req-three'), { messageId: 'msg-3', receiveCount: 3 }),
    ]);

    // Assess: msg-1 comes back and answers; the two last attempts go to the DLQ without results
    expect(response).toEqual({
      batchItemFailures: [
        { itemIdentifier: 'msg-1' },
        { itemIdentifier: 'msg-2' },
        { itemIdentifier: 'msg-3' },
      ],
    });
    expect(publishedDetails(eventBridge)).toEqual([]);
  });

  it('takes copies with their parameters in another order, nested ones too, for copies of one request', async () => {
    // Prepare: the last attempt fails transiently; the copy lists the same parameters in another order,
    // as it does the keys of an object inside a list inside one
    request.mockRejectedValueOnce(transient());
    const { handler } = buildHandler('connections');
    const copy = (parameters: Record<string, unknown>, messageId: string, receiveCount: number) =>
      sqsRecord(
        { action: 'close_connection', parameters, requestId: 'req-order' },
        { messageId, receiveCount },
      );

    // Act
    const response = await handler(
      sqsEvent(
        copy({ connection_id: 'remote:host-a:1:1', note: { tags: [{ a: 1, b: 2 }], by: 'x' } }, 'msg-1', 3),
        copy({ note: { by: 'x', tags: [{ b: 2, a: 1 }] }, connection_id: 'remote:host-a:1:1' }, 'msg-2', 1),
      ),
      lambdaContext(),
    );

    // Assess: handed on, one result
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([expect.objectContaining({ status: 'success' })]);
  });

  it("says a delete's 404 may follow Tanium carrying out the copy that handed the request on", async () => {
    // Prepare: the last attempt's delete loses its answer (504); its copy then gets a 404
    request
      .mockRejectedValueOnce(
        new TaniumError('transient', 'Tanium answered HTTP 504', { retryable: true, status: 504 }),
      )
      .mockRejectedValueOnce(
        new TaniumError('not_found', 'Error from server. Status Code: 404', { status: 404 }),
      );
    const { handler } = buildHandler('connections');
    const deletion = deleteConnection('req-del');

    // Act
    await handler(
      sqsEvent(
        sqsRecord(deletion, { messageId: 'msg-1', receiveCount: 3 }),
        sqsRecord(deletion, { messageId: 'msg-2' }),
      ),
      lambdaContext(),
    );

    // Assess
    const [result] = publishedDetails(eventBridge);
    expect(result?.message).toContain(
      'An earlier delivery of the request in the same batch did not finish: Tanium may have carried it out before this 404',
    );
  });

  it.for([
    {
      case: 'gave up when the table refused its record once',
      prepare: () => {
        dynamo.on(PutItemCommand).rejectsOnce(awsError('ProvisionedThroughputExceededException', 400));
      },
      status: 'failed',
    },
    {
      case: 'ended without knowing whether Tanium carried it out, its record not completed',
      prepare: () => {
        request.mockRejectedValueOnce(new TaniumError('unknown_outcome', 'The answer to the close was lost'));
        dynamo.on(UpdateItemCommand).rejectsOnce(new Error('table unavailable'));
      },
      status: 'failed',
    },
  ])(
    'sends a later copy the result of an earlier one that $case, running nothing again',
    async ({ prepare, status }) => {
      // Prepare
      prepare();
      const { handler } = buildHandler('connections');

      // Act
      await handler(
        sqsEvent(
          sqsRecord(closeConnection('req-once'), { messageId: 'msg-1', receiveCount: 3 }),
          sqsRecord({ ...closeConnection('req-once'), context: { run: 'again' } }, { messageId: 'msg-2' }),
        ),
        lambdaContext(),
      );

      // Assess: one outcome, sent to each copy under its own context; Tanium saw at most one close
      const published = publishedDetails(eventBridge);
      expect(published.map((d) => [d.status, d.message])).toEqual([
        [status, published[0]?.message],
        [status, published[0]?.message],
      ]);
      expect(published[1]?.context).toEqual({ run: 'again' });
      expect(request.mock.calls.length).toBeLessThanOrEqual(1);
    },
  );

  it('sends every later copy the result of one that gave up, not only the next: nothing runs after it', async () => {
    // Prepare: the table refuses the first copy's record once, so it gives up; two copies follow
    dynamo.on(PutItemCommand).rejectsOnce(awsError('ProvisionedThroughputExceededException', 400));

    // Act
    const { response } = await runBatch([
      sqsRecord(closeConnection('req-3'), { messageId: 'msg-1', receiveCount: 3 }),
      sqsRecord({ ...closeConnection('req-3'), context: { copy: 2 } }, { messageId: 'msg-2' }),
      sqsRecord({ ...closeConnection('req-3'), context: { copy: 3 } }, { messageId: 'msg-3' }),
    ]);

    // Assess
    const published = publishedDetails(eventBridge);
    expect(published.map((d) => d.message)).toEqual(Array(3).fill(published[0]?.message));
    expect(published[0]?.message).toMatch(/^Gave up after 3 attempts/);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    expect(request).not.toHaveBeenCalled();
  });

  it('ends a copy whose resent result the bus refused, rather than run the request after its "Gave up"', async () => {
    // Prepare: the first copy gives up; the bus refuses only the entry of the copy (its own context)
    dynamo.on(PutItemCommand).rejectsOnce(awsError('ProvisionedThroughputExceededException', 400));
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries?: { Detail?: string }[] }) => {
      const entries = (input.Entries ?? []).map((entry) =>
        (entry.Detail ?? '').includes('"copy"')
          ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Try again' }
          : { EventId: 'ok' },
      );
      return { FailedEntryCount: entries.filter((entry) => 'ErrorCode' in entry).length, Entries: entries };
    });

    // Act
    const { response, logs } = await runBatch([
      sqsRecord(closeConnection('req-4'), { messageId: 'msg-1', receiveCount: 3 }),
      sqsRecord({ ...closeConnection('req-4'), context: { copy: true } }, { messageId: 'msg-2' }),
    ]);

    // Assess: the copy's message is done (no redelivery to run it), said at error level
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    expect(request).not.toHaveBeenCalled();
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message:
          "The earlier copy's result could not be sent again for this one; the message is done without it",
        extra: expect.objectContaining({
          correlation_id: 'req-4',
          action: 'close connection',
          error: expect.stringContaining('Try again'),
        }),
      }),
    );
  });

  it('sends a last-attempt copy the resent result without its too-large context when the vault cannot store it', async () => {
    // Prepare: the first copy gives up; the copy's own context makes the resent result too large for an
    // event, and the vault is throttled, so a stand-in goes out for it
    dynamo.on(PutItemCommand).rejectsOnce(awsError('ProvisionedThroughputExceededException', 400));
    vaultThrottles();

    // Act
    const { response } = await runBatch([
      sqsRecord(closeConnection('req-big'), { messageId: 'msg-1', receiveCount: 3 }),
      sqsRecord(
        { ...closeConnection('req-big'), context: { note: 'x'.repeat(300_000) } },
        { messageId: 'msg-2', receiveCount: 3 },
      ),
    ]);

    // Assess: only the first copy's message goes to the DLQ; the copy's result went out reduced
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    const published = publishedDetails(eventBridge);
    expect(published.map((d) => d.status)).toEqual(['failed', 'failed']);
    expect(published[1]?.context).toEqual({});
    expect(request).not.toHaveBeenCalled();
  });

  it("does not wait on a record its own message's copy left when that copy went to the DLQ behind another", async () => {
    // Prepare: msg-x goes back; msg-y's first copy fails behind it and cannot delete its record; then
    // msg-y's second copy (the same last receive)
    request.mockRejectedValueOnce(transient()).mockRejectedValueOnce(transient());
    const items = fakeIdempotencyTable(dynamo);
    let deletes = 0;
    dynamo.on(DeleteItemCommand).callsFake((input: { Key: { id: { S: string } } }) => {
      if (++deletes === 2) throw awsError('InternalServerError', 500);
      items.delete(input.Key.id.S);
      return {};
    });
    const { handler, logs } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(
        sqsRecord(closeConnection('req-l'), { messageId: 'msg-x' }),
        sqsRecord(closeConnection('req-l'), { messageId: 'msg-y', receiveCount: 3 }),
        sqsRecord(closeConnection('req-l'), { messageId: 'msg-y', receiveCount: 3 }),
      ),
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 3_000 }),
    );

    // Assess: no wait for a record no other delivery holds; msg-y's second copy says why it did not run
    expect(logs).not.toContainEqual(
      expect.objectContaining({
        message: 'Another delivery of the request is running it; this last attempt waits for its outcome',
      }),
    );
    expect(logs.filter((line) => line.level === 'error').at(-1)?.extra).toMatchObject({
      correlation_id: 'req-l',
      attempt: 3,
      errorKind: 'transient',
      resultMessage: expect.stringMatching(
        /^The request could not run: an earlier delivery of it in this batch failed/,
      ),
    });
  });

  it('sends a copy past the deadline back when the stored result sent again for it is refused', async () => {
    // Prepare: the bus refuses every entry; the copy's turn comes past the deadline
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => ({
      FailedEntryCount: (input.Entries ?? []).length,
      Entries: (input.Entries ?? []).map(() => ({ ErrorCode: 'InternalFailure', ErrorMessage: 'Try again' })),
    }));

    // Act
    const { response } = await runBatch(
      [
        sqsRecord(closeConnection('req-e'), { messageId: 'msg-1', receiveCount: 3 }),
        sqsRecord({ ...closeConnection('req-e'), context: { copy: 2 } }, { messageId: 'msg-2' }),
      ],
      lambdaContext({ remainingMs: PUBLISH_RESERVE_MS }),
    );

    // Assess: the copy comes back, to replay the stored result then
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-1' }, { itemIdentifier: 'msg-2' }],
    });
  });

  it('lets a last attempt behind its own held copy in the batch wait for the holder elsewhere: no "Gave up"', async () => {
    // Prepare: the message's first receive runs the close in another invocation
    let release: () => void = () => undefined;
    request.mockImplementationOnce(
      () => new Promise((resolve) => (release = () => resolve(taniumResponse(null)))),
    );
    const kit = buildHandler('connections');
    const running = kit.handler(
      sqsEvent(sqsRecord(closeConnection('req-held'), { messageId: 'msg-dup', receiveCount: 1 })),
      lambdaContext(),
    );
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(1));

    // Act: receives 2 and 3 of the same message arrive in one batch; the holder finishes meanwhile
    const answer = kit.handler(
      sqsEvent(
        sqsRecord(closeConnection('req-held'), { messageId: 'msg-dup', receiveCount: 2 }),
        sqsRecord(closeConnection('req-held'), { messageId: 'msg-dup', receiveCount: 3 }),
      ),
      lambdaContext(),
    );
    await vi.waitFor(() =>
      expect(kit.logs).toContainEqual(
        expect.objectContaining({
          message: 'Another delivery of the request is running it; this last attempt waits for its outcome',
        }),
      ),
    );
    release();
    await Promise.all([running, answer]);

    // Assess: only successes, the same result replayed
    expect(new Set(publishedDetails(eventBridge).map((d) => d.status))).toEqual(new Set(['success']));
    expect(request).toHaveBeenCalledTimes(1);
  });

  it.for([
    {
      case: 'a success, before a copy that goes back',
      tanium: async () => taniumResponse(null),
      // msg-back, attempt 1, meets the same throttled table and goes back; the rule before it stands
      records: ['msg-ran', 'msg-back', 'msg-last'],
      failing: ['msg-back'],
      sent: { status: 'success', message: 'Close connection requested' },
    },
    {
      case: "Tanium's refusal",
      tanium: async () => {
        throw new TaniumError('validation', 'Tanium answered HTTP 400: the connection is busy', {
          status: 400,
        });
      },
      records: ['msg-ran', 'msg-last'],
      failing: [],
      sent: {
        status: 'failed',
        message: 'Tanium answered HTTP 400: the connection is busy',
      },
    },
  ])(
    "sends a last attempt failing on the table the earlier copy's result: $case",
    async ({ tanium, records, failing, sent }) => {
      // Prepare: the table refuses every put after the first
      let puts = 0;
      fakeIdempotencyTable(dynamo, (call) => {
        if (call === 'put' && ++puts > 1) throw awsError('ProvisionedThroughputExceededException', 400);
      });
      request.mockImplementation(tanium);
      const receives: Record<string, number> = { 'msg-ran': 2, 'msg-back': 1, 'msg-last': 3 };

      // Act
      const { response, logs } = await runBatch(
        records.map((messageId) =>
          sqsRecord(
            {
              ...closeConnection('req-ended'),
              // Copies from two SOAR action runs: SOAR's own context aside, the same parameters
              parameters: { connection_id: 'remote:host-a:1:1', context: { artifact_id: messageId } },
              context: { messageId },
            },
            { messageId, receiveCount: receives[messageId] },
          ),
        ),
      );

      // Assess: the last attempt done with the earlier copy's outcome, which the log line names
      expect(response).toEqual({ batchItemFailures: failing.map((itemIdentifier) => ({ itemIdentifier })) });
      const published = publishedDetails(eventBridge);
      // each under its own context and SOAR context, which a playbook files the result by
      expect(
        published.map(({ status, message, context, parameter }) => ({ status, message, context, parameter })),
      ).toEqual(
        ['msg-ran', 'msg-last'].map((messageId) => ({
          ...sent,
          context: { messageId },
          parameter: { connection_id: 'remote:host-a:1:1', context: { artifact_id: messageId } },
        })),
      );
      expect(request).toHaveBeenCalledTimes(1);
      expect(logs).toContainEqual(
        expect.objectContaining({
          message:
            'Transient failure on the last attempt; an earlier copy of the request in this batch ended it, and its result is sent again for this one',
          extra: expect.objectContaining({ sentStatus: sent.status }),
        }),
      );
    },
  );

  it('gives up without a result on a last attempt whose earlier copy in the batch goes back to the queue', async () => {
    // Prepare: both closes fail transiently; the earlier copy, another message, has attempts left
    request.mockRejectedValue(transient());

    // Act
    const batch = await runBatch([
      sqsRecord(closeConnection('req-early'), { messageId: 'msg-early' }),
      sqsRecord(closeConnection('req-early'), { messageId: 'msg-last', receiveCount: 3 }),
    ]);

    // Assess: no "Gave up" that the early message's redelivery could contradict
    expectBothBackBehindEarlyCopy(
      batch,
      'req-early',
      'An earlier delivery of the request in this batch goes back to the queue and publishes its result; this message goes to the dead-letter queue without one',
    );
  });

  it('sends both copies of a request in the batch back when they fail with attempts left, neither to the DLQ', async () => {
    // Prepare: both closes fail transiently; the later copy, another message, has attempts left too
    request.mockRejectedValue(transient());

    // Act
    const { response, logs } = await runBatch([
      sqsRecord(closeConnection('req-early'), { messageId: 'msg-early', receiveCount: 1 }),
      sqsRecord(closeConnection('req-early'), { messageId: 'msg-later', receiveCount: 1 }),
    ]);

    // Assess: both come back; no DLQ line sends on-call anywhere
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-early' }, { itemIdentifier: 'msg-later' }],
    });
    expect(publishedDetails(eventBridge)).toEqual([]);
    expect(logs.filter((line) => line.level === 'error')).toEqual([]);
    expect(
      logs.filter(
        (line) =>
          line.level === 'warn' && line.message === 'Transient failure; the message will be redelivered',
      ),
    ).toHaveLength(2);
  });

  it.for([
    {
      case: 'completed unrecorded: the later copy is sent its result',
      failing: 'update',
      failures: [] as string[],
      statuses: ['success', 'success'],
    },
    {
      case: 'failed transiently: the later copy, its last attempt, gives up with a result',
      failing: 'delete',
      // Each receive of the message is a record of the batch: both fail, and the message goes to the DLQ
      failures: ['msg-dup', 'msg-dup'],
      statuses: ['failed'],
    },
  ])(
    'does not wait on a last attempt for the record its own earlier copy in the batch left in progress ($case)',
    async ({ failing, failures, statuses }) => {
      // Prepare: the same message twice (an SQS duplicate), receives 2 and 3; the first copy's record
      // stays in progress: completing it fails, or its close fails transiently and deleting it fails
      if (failing === 'update') dynamo.on(UpdateItemCommand).rejects(new Error('table unavailable'));
      else {
        request.mockRejectedValueOnce(transient());
        dynamo.on(DeleteItemCommand).rejects(new Error('table unavailable'));
      }

      // Act
      const { response, logs } = await runBatch(
        [
          sqsRecord(closeConnection('req-self'), { messageId: 'msg-dup', receiveCount: 2 }),
          sqsRecord(closeConnection('req-self'), { messageId: 'msg-dup', receiveCount: 3 }),
        ],
        lambdaContext({ remainingMs: PUBLISH_RESERVE_MS + 3_000 }),
      );

      // Assess: the request ran once and has its result; no wait for its own batch's record
      expect(request).toHaveBeenCalledTimes(1);
      expect(publishedDetails(eventBridge).map((d) => d.status)).toEqual(statuses);
      expect(response).toEqual({ batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) });
      expect(logs).not.toContainEqual(
        expect.objectContaining({
          message: 'Another delivery of the request is running it; this last attempt waits for its outcome',
        }),
      );
    },
  );

  it('sends a copy behind one left unrecorded that result under its own SOAR context', async () => {
    // Prepare: the table cannot complete the first copy's record; the copies come from two SOAR runs
    dynamo.on(UpdateItemCommand).rejects(new Error('table unavailable'));
    const copy = (messageId: string) =>
      sqsRecord(
        {
          ...closeConnection('req-soar'),
          parameters: { connection_id: 'remote:host-a:1:1', context: { artifact_id: messageId } },
        },
        { messageId },
      );

    // Act
    await runBatch([copy('msg-a'), copy('msg-b')]);

    // Assess: one close; each result names its own SOAR run, which a playbook files it by
    expect(request).toHaveBeenCalledTimes(1);
    expect(publishedDetails(eventBridge).map(({ status, parameter }) => ({ status, parameter }))).toEqual(
      ['msg-a', 'msg-b'].map((messageId) => ({
        status: 'success',
        parameter: { connection_id: 'remote:host-a:1:1', context: { artifact_id: messageId } },
      })),
    );
  });

  /** Runs `duplicate` while the first delivery of `closeConnection(requestId)` waits inside Tanium. */
  async function duplicateWhileRunning(
    first: unknown,
    duplicate: (handler: ReturnType<typeof buildHandler>['handler']) => Promise<unknown>,
  ) {
    let release: () => void = () => undefined;
    request.mockImplementationOnce(
      () => new Promise((resolve) => (release = () => resolve(taniumResponse(null)))),
    );
    const kit = buildHandler('connections');
    const running = kit.handler(first, lambdaContext());
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(1));
    const answer = await duplicate(kit.handler);
    release();
    await running;
    return { answer, logs: kit.logs, observations: kit.observations };
  }

  it.each([
    ['an EventBridge event', (body: object) => eventBridgeEvent(body, { id: 'evt-dup' })],
    ['a direct invocation', (body: object) => body],
  ])(
    'fails a duplicate arriving as %s while the request runs, publishing nothing: the running delivery publishes',
    async (_shape, wrap) => {
      // Act
      const { answer, observations, logs } = await duplicateWhileRunning(
        wrap(closeConnection('req-held')),
        (handler) =>
          handler(wrap(closeConnection('req-held')), lambdaContext()).catch((error: Error) => error),
      );

      // Assess: one result, the real one; the duplicate's invocation fails, so Lambda retries an
      // asynchronous one (then its on-failure destination) and a synchronous caller learns why
      expect(request).toHaveBeenCalledTimes(1);
      expect(publishedDetails(eventBridge)).toEqual([
        expect.objectContaining({ requestId: 'req-held', status: 'success' }),
      ]);
      expect(answer).toBeInstanceOf(TaniumError);
      expect((answer as TaniumError).message).toBe(
        'Request req-held is already being processed by another delivery, which publishes its result',
      );
      expect(observations).toContainEqual(
        expect.objectContaining({ action: 'close connection', status: 'failed', retrying: true }),
      );
      // At error level: Lambda retries an asynchronous one and may send it to the DLQ, whose alarm
      // sends on-call to this line
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message:
            'Another delivery of the request is running it and publishes its result; this invocation fails without one',
        }),
      );
    },
  );

  it("fails Lambda's retry of an asynchronous invocation whose first attempt crashed holding the record", async () => {
    // Prepare: the first attempt never ends (its sandbox died), its in-progress record stays until
    // that invocation's timeout; Lambda's retry comes with the same request id
    request.mockImplementationOnce(() => new Promise(() => undefined));
    const payload = { action: 'close connection', parameters: { connection_id: 'remote:host-a:1:1' } };
    void buildHandler('connections').handler(payload, lambdaContext({ awsRequestId: 'async-1' }));
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(1));

    // Act
    const retry = buildHandler('connections')
      .handler(payload, lambdaContext({ awsRequestId: 'async-1' }))
      .catch((error: Error) => error);

    // Assess: not a success with nothing published, which would end the request without any trace
    await expect(retry).resolves.toBeInstanceOf(TaniumError);
    expect(publishedDetails(eventBridge)).toEqual([]);
  });

  /**
   * The last receive (3) of msg-dup, `closeConnection('req-held')`, arriving while its earlier receive (an
   * SQS duplicate) waits inside Tanium; `settle` ends that Tanium call once the last one waits for it.
   */
  async function lastAttemptWhileHeld(
    settle: (release: (answer: unknown) => void) => void,
    remainingMs = 60_000,
  ) {
    let release: (answer: unknown) => void = () => undefined;
    request.mockImplementationOnce(
      () =>
        new Promise((resolve, reject) => {
          release = (answer) => (answer instanceof Error ? reject(answer) : resolve(answer as never));
        }),
    );
    const kit = buildHandler('connections');
    const running = kit.handler(
      sqsEvent(sqsRecord(closeConnection('req-held'), { messageId: 'msg-dup', receiveCount: 2 })),
      lambdaContext(),
    );
    await vi.waitFor(() => expect(request).toHaveBeenCalledTimes(1));
    const sent = Date.now();
    const last = kit.handler(
      sqsEvent(sqsRecord(closeConnection('req-held'), { messageId: 'msg-dup', receiveCount: 3 })),
      lambdaContext({ remainingMs }),
    );
    await vi.waitFor(() =>
      expect(kit.logs).toContainEqual(
        expect.objectContaining({
          message: 'Another delivery of the request is running it; this last attempt waits for its outcome',
        }),
      ),
    );
    settle(release);
    const answer = await last;
    const lastMs = Date.now() - sent;
    // A holder still running when the last attempt gave up answers now (else a no-op)
    release(taniumResponse(null));
    return { first: await running, answer, logs: kit.logs, lastMs };
  }

  /** A resend of the request (another message) on its `receiveCount`th receive meets the original running. */
  const resendWhileOriginalRuns = (receiveCount: number) =>
    duplicateWhileRunning(
      sqsEvent(sqsRecord(closeConnection('req-held'), { messageId: 'msg-original' })),
      (handler) =>
        handler(
          sqsEvent(sqsRecord(closeConnection('req-held'), { messageId: 'msg-resend', receiveCount })),
          lambdaContext(),
        ),
    );

  it("sends a last attempt held by another message's delivery to the DLQ at once, without a result beside its", async () => {
    // Act: the resend is on its last attempt
    const { answer, logs } = await resendWhileOriginalRuns(3);

    // Assess: no wait (the original comes back if it fails), and only the original's result
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-resend' }] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-held', status: 'success' }),
    ]);
    expect(logs).not.toContainEqual(
      expect.objectContaining({
        message: 'Another delivery of the request is running it; this last attempt waits for its outcome',
      }),
    );
  });

  it("sends a resend held by another message's delivery back while it has attempts left, as a transient failure", async () => {
    // Act: the resend is on its first receive
    const { answer, logs } = await resendWhileOriginalRuns(1);

    // Assess: it comes back to replay the original's result; no DLQ line sends on-call to it
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-resend' }] });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'Transient failure; the message will be redelivered',
        extra: expect.objectContaining({ correlation_id: 'req-held' }),
      }),
    );
    expect(logs.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('lets a last attempt met by a running delivery wait and replay its result: nothing to the DLQ', async () => {
    // Act
    const { first, answer } = await lastAttemptWhileHeld((release) => release(taniumResponse(null)));

    // Assess: one Tanium call, the same result twice, both messages done
    expect(request).toHaveBeenCalledTimes(1);
    expect(first).toEqual({ batchItemFailures: [] });
    expect(answer).toEqual({ batchItemFailures: [] });
    const published = publishedDetails(eventBridge);
    expect(published).toHaveLength(2);
    expect(published[1]).toEqual(published[0]);
    expect(published[0]).toMatchObject({ requestId: 'req-held', status: 'success' });
  });

  it('lets a last attempt run the request itself once the delivery it waited for failed transiently', async () => {
    // Act: the holder's close fails transiently; its message does not come back, this receive being
    // its last
    const { first, answer } = await lastAttemptWhileHeld((release) => release(transient()));

    // Assess: the last attempt ran the close and published the request's only result
    expect(request).toHaveBeenCalledTimes(2);
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-dup' }] });
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-held', status: 'success' }),
    ]);
  });

  it('sends a last attempt still held at its deadline to the DLQ without a failed result beside the real one', async () => {
    // Act: the holder answers only after the last attempt's deadline, 2.5 s away
    const { answer, logs, lastMs } = await lastAttemptWhileHeld(() => undefined, PUBLISH_RESERVE_MS + 2_500);

    // Assess: the holder's result is the only one
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-dup' }] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-held', status: 'success' }),
    ]);
    // At error level: the line that explains the DLQ alarm's message shows at every logLevel
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message:
          'Another delivery of the request is running it and publishes its result; this message goes to the dead-letter queue without one',
      }),
    );
    // Given up at its deadline, 2.5 s away (about 2.0 s in), not a 1 s poll past it (about 4 s), with room
    // for a busy machine's timers; the wait said once
    expect(lastMs).toBeLessThan(3_200);
    expect(
      logs.filter(
        (line) =>
          line.message ===
          'Another delivery of the request is running it; this last attempt waits for its outcome',
      ),
    ).toEqual([
      expect.objectContaining({
        level: 'info',
        extra: expect.objectContaining({ correlation_id: 'req-held' }),
      }),
    ]);
  });

  it('keeps the parameters out of the stored record and replays them from the request', async () => {
    // Prepare
    const items = fakeIdempotencyTable(dynamo);
    const { handler } = buildHandler('connections');

    // Act
    const first = (await handler(closeConnection('req-lean'), lambdaContext())) as ResultDetail;
    const replay = (await handler(closeConnection('req-lean'), lambdaContext())) as ResultDetail;

    // Assess
    const [item] = [...items.values()];
    const stored = JSON.parse(item?.data?.M?.json?.S ?? '{}') as { result?: Record<string, unknown> };
    expect(stored.result).toMatchObject({ status: 'success', message: 'Close connection requested' });
    expect(stored.result).not.toHaveProperty('parameter');
    expect(request).toHaveBeenCalledTimes(1);
    expect(first.parameter).toEqual({ connection_id: 'remote:host-a:1:1' });
    expect(replay).toEqual(first);
  });

  it('answers a request whose stored result cannot be read with an uncertain outcome, and logs it', async () => {
    // Prepare: the request ran before; its stored result was damaged since
    const items = fakeIdempotencyTable(dynamo);
    const { handler, logs, observations } = buildHandler('connections');
    await handler(closeConnection('req-damaged'), lambdaContext());
    for (const item of items.values()) item.data = { M: { json: { S: '{"result":' } } };
    request.mockClear();
    observations.length = 0;

    // Act
    const result = (await handler(closeConnection('req-damaged'), lambdaContext())) as ResultDetail;

    // Assess
    expect(request).not.toHaveBeenCalled();
    expect(result).toMatchObject({ status: 'failed', error: { kind: 'unknown_outcome', retryable: false } });
    expect(logs).toContainEqual({
      level: 'error',
      message: 'The stored result of the request cannot be read; the action is not run again',
      extra: expect.objectContaining({ correlation_id: 'req-damaged', action: 'close connection' }),
    });
    // No write of this delivery's: not an unknown outcome to count or to warn of again
    expect(observations).toEqual([expect.not.objectContaining({ unknownOutcome: true })]);
    expect(logs.some((line) => line.message.startsWith('Request ended without knowing'))).toBe(false);
  });

  it('publishes the result and reports it when the idempotency record cannot be completed', async () => {
    // Prepare: DynamoDB refuses the completed record (an item over 400 KB)
    dynamo.on(UpdateItemCommand).rejects(
      Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
        name: 'ValidationException',
      }),
    );
    const { handler, logs, observations } = buildHandler('connections');

    // Act
    const response = await handler(sqsEvent(sqsRecord(closeConnection('req-unrecorded'))), lambdaContext());

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-unrecorded', status: 'success' }),
    ]);
    const errors = logs.filter((line) => line.level === 'error');
    expect(errors).toEqual([
      {
        level: 'error',
        message: 'The action ran but its idempotency record could not be completed',
        extra: expect.objectContaining({
          correlation_id: 'req-unrecorded',
          action: 'close connection',
          reason: expect.stringContaining('Item size has exceeded the maximum allowed size'),
        }),
      },
    ]);
    expect(JSON.stringify(errors)).not.toContain('remote:host-a:1:1');
    expect(observations).toEqual([expect.objectContaining({ action: 'close connection', unrecorded: true })]);
  });

  it.each([
    ['refuses it', vaultRefuses],
    ['is throttled', vaultThrottles],
  ])(
    'publishes at once, promising no replay, a mutation left unrecorded whose result the vault %s',
    async (_what, vault) => {
      // Prepare: no record completes, the result is too big, and the vault fails on the first attempt
      dynamo.on(UpdateItemCommand).rejects(
        Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
          name: 'ValidationException',
        }),
      );
      vault();
      request.mockResolvedValue(
        taniumResponse({ status: 'ACCEPTED', taskInfo: { id: 1, note: 'x'.repeat(300_000) } }),
      );
      const { handler } = buildHandler('snapshots');

      // Act
      const response = (await handler(
        sqsEvent(
          sqsRecord(
            { action: 'create snapshot', parameters: { connection_id: 'c-1' }, requestId: 'req-once' },
            { messageId: 'msg-once', receiveCount: 1 },
          ),
        ),
        lambdaContext(),
      )) as SQSBatchResponse;

      // Assess: the record is done, with its one result saying what happened
      expect(response.batchItemFailures).toEqual([]);
      const published = publishedDetails(eventBridge);
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({
        requestId: 'req-once',
        status: 'failed',
        error: { kind: 'vault', retryable: false },
      });
      expect(published[0]?.message).toMatch(
        /could not be recorded: sending the request again may run it again$/,
      );
      expect(request).toHaveBeenCalledTimes(1);
    },
  );

  it('does not promise a direct caller a replay of a mutation left unrecorded whose result was not published', async () => {
    // Prepare
    dynamo.on(UpdateItemCommand).rejects(
      Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
        name: 'ValidationException',
      }),
    );
    const { handler } = buildHandler('connections');

    // Act
    const message = await unpublishedMessage(handler, closeConnection('req-unpublished'));

    // Assess
    expect(message).toMatch(
      /could not be published: .*not authorized.*\. Its idempotency record could not be completed: invoking again may run the action again$/,
    );
  });

  it('tells a caller invoking with an EventBridge event which request id its unpublished result has', async () => {
    // Prepare: an event whose id cannot be a request id, so Lambda's request id keys the request
    const { handler } = buildHandler('connections');

    // Act
    const message = await unpublishedMessage(
      (event, context) => handler(event, context),
      eventBridgeEvent(
        { action: 'close connection', parameters: { connection_id: 'remote:host-a:1:1' } },
        { id: ' ' },
      ),
    );

    // Assess: the key it has, and what invoking again with it does
    expect(message).toMatch(
      /^Request [0-9a-f-]{36} ended \(success\) but its Action Result event could not be published: .*not authorized.*\. Invoking again with "requestId": "[0-9a-f-]{36}" returns its stored result/,
    );
  });

  it('fails a direct invocation whose result the bus kept failing as retryable, carrying the bus error as its cause', async () => {
    // Prepare: every entry fails, each time (a transient failure of the bus)
    busFailsEveryEntry();
    const { handler } = buildHandler('connections');

    // Act
    const failure = await handler(listConnections('req-bus-down'), lambdaContext()).catch(
      (error: unknown) => error,
    );

    // Assess: the caller may invoke again; the bus's own error stays reachable
    expect(failure).toBeInstanceOf(TaniumError);
    expect(failure).toMatchObject({ kind: 'transient', retryable: true });
    expect((failure as Error).message).toMatch(
      /^Request req-bus-down ended \(success\) but its Action Result event could not be published: /,
    );
    expect((failure as Error).cause).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain(((failure as Error).cause as Error).message);
  });

  it('tells a direct caller that nothing was stored of a mutation that failed transiently', async () => {
    // Prepare: Tanium answers 503, and the bus refuses the result
    request.mockRejectedValue(transient());
    const { handler } = buildHandler('connections');

    // Act
    const message = await unpublishedMessage(handler, closeConnection('req-nothing'));

    // Assess
    expect(message).toMatch(
      /could not be published: .*not authorized.*\. Nothing of it was stored: invoking again runs it again$/,
    );
  });

  it('tells a direct caller that nothing was stored when the request could not run at all', async () => {
    // Prepare: a bad function setting stops every request before the idempotency step; the bus refuses
    const { handler } = buildHandler('connections', { env: { ...ENV, GET_FILE_MAX_BYTES: '512MB' } });

    // Act
    const message = await unpublishedMessage(handler, closeConnection('req-unrunnable'));

    // Assess
    expect(message).toMatch(
      /could not be published: .*not authorized.*\. Nothing of it was stored: invoking again runs it again$/,
    );
    expect(request).not.toHaveBeenCalled();
  });

  it('starts the next sentence once when the bus error already ends with a full stop', async () => {
    // Prepare: EventBridge's own message ends a sentence
    eventBridge.on(PutEventsCommand).rejects(
      Object.assign(new Error('Event bus tanium-tr does not exist.'), {
        name: 'ResourceNotFoundException',
      }),
    );
    const { handler } = buildHandler('connections');

    // Act
    const failure = await handler(closeConnection('req-bus'), lambdaContext()).catch((error: Error) => error);

    // Assess
    expect((failure as Error).message).toMatch(/does not exist\.\)? [A-Z]/);
    expect((failure as Error).message).not.toContain('..');
  });

  it.for([
    {
      case: 'refused for a reused requestId, that it is refused again',
      damage: false,
      parameters: { connection_id: 'remote:host-b:2:2' },
      expected:
        /could not be published: .*not authorized.*\. Invoking again with "requestId": "req-refused" and these parameters is refused as long as its record for other parameters stands: send a new requestId$/,
    },
    {
      case: 'whose stored result cannot be read, that it does not run again',
      damage: true,
      parameters: { connection_id: 'remote:host-a:1:1' },
      expected:
        /could not be published: .*not authorized.*\. It ran before and its stored result cannot be read: invoking again does not run it again$/,
    },
    {
      case: 'that cannot run at all, that it is refused again',
      damage: false,
      action: 'reboot endpoint',
      parameters: {},
      expected:
        /could not be published: .*not authorized.*\. Invoking again with the same request is refused again by this deployment$/,
    },
  ])('tells a direct caller of a request $case', async ({ damage, parameters, expected, ...request }) => {
    // Prepare: the request ran before under its requestId
    const items = fakeIdempotencyTable(dynamo);
    const { handler } = buildHandler('connections');
    await handler(closeConnection('req-refused'), lambdaContext());
    if (damage) for (const item of items.values()) item.data = { M: { json: { S: '{"result":' } } };

    // Act
    const message = await unpublishedMessage(handler, {
      ...closeConnection('req-refused'),
      ...('action' in request ? { action: request.action } : {}),
      parameters,
    });

    // Assess
    expect(message).toMatch(expected);
  });

  it('tells a direct caller of a read-only action that invoking again runs it again', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const message = await unpublishedMessage(handler, listConnections('req-read'));

    // Assess: nothing stores a read-only result
    expect(message).toMatch(
      /^Request req-read ended \(success\) .*\. Nothing of it was stored: invoking again runs it again$/,
    );
  });

  it('publishes the result at the deadline when the table never confirms the completed record', async () => {
    // Prepare: the record's completion hangs; 6 s left leaves 1 s before the Tanium deadline. The clock
    // is faked, so the result is seen published exactly at the deadline.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let completing: () => void = () => undefined;
    const completion = new Promise<void>((resolve) => (completing = resolve));
    dynamo.on(UpdateItemCommand).callsFake(() => {
      completing();
      return new Promise(() => undefined);
    });
    const { handler, logs, observations } = buildHandler('connections');
    const context = lambdaContext({ remainingMs: 6_000 });

    // Act
    const invocation = handler(sqsEvent(sqsRecord(closeConnection('req-stuck-table'))), context);
    await completion;
    await vi.advanceTimersByTimeAsync(6_000 - PUBLISH_RESERVE_MS - 1);
    const gaveUpEarly = logs.some((line) => line.level === 'error');
    await vi.advanceTimersByTimeAsync(1);
    const response = await invocation;

    // Assess: given up and published at the deadline, the whole publishing reserve left, with the
    // record reported missing
    expect(gaveUpEarly).toBe(false);
    expect(context.getRemainingTimeInMillis()).toBe(PUBLISH_RESERVE_MS);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-stuck-table', status: 'success' }),
    ]);
    expect(logs.filter((line) => line.level === 'error')).toEqual([
      expect.objectContaining({
        message: 'The action ran but its idempotency record could not be completed',
        extra: expect.objectContaining({
          reason: 'the table did not confirm the completed record before the invocation deadline',
        }),
      }),
    ]);
    expect(observations).toEqual([expect.objectContaining({ action: 'close connection', unrecorded: true })]);
  });

  it('waits for a slow completed record until the deadline, not only the minimum', async () => {
    // Prepare: the table takes 2 s to confirm the completed record, with a minute left
    dynamo.on(UpdateItemCommand).callsFake(() => delay(2_000).then(() => ({})));
    const { handler, logs, observations } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(sqsRecord(closeConnection('req-slow-table'))),
      lambdaContext({ remainingMs: 60_000 }),
    );

    // Assess: a slow but healthy table is not reported (it would raise the UnrecordedResults alarm)
    expect(logs.filter((line) => line.level === 'error')).toEqual([]);
    expect(observations).toEqual([
      expect.objectContaining({ action: 'close connection', status: 'success' }),
    ]);
    expect(observations[0]).not.toHaveProperty('unrecorded');
  });

  it('gives the completed record at least a second when the action ran up to the deadline', async () => {
    // Prepare: 6 s left puts the deadline 1 s away; the action takes that second, the save half of one
    request.mockImplementation(() => delay(1_000).then(() => taniumResponse(null)));
    dynamo.on(UpdateItemCommand).callsFake(() => delay(500).then(() => ({})));
    const { handler, observations } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(sqsRecord(closeConnection('req-late-save'))),
      lambdaContext({ remainingMs: 6_000 }),
    );

    // Assess
    expect(observations).toEqual([
      expect.objectContaining({ action: 'close connection', status: 'success' }),
    ]);
    expect(observations[0]).not.toHaveProperty('unrecorded');
  });

  it('gives up before calling Tanium when the table never confirms the in-progress record', async () => {
    // Prepare: the deadline is 1 s away; the table confirms the in-progress record only when the test
    // says so, after the invocation has given up on it
    let confirm: () => void = () => undefined;
    dynamo.on(PutItemCommand).callsFake(() => new Promise((resolve) => (confirm = () => resolve({}))));
    // The late record is then either deleted or, were the action run, completed: either write settles it
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    dynamo.on(DeleteItemCommand).callsFake(() => {
      settle();
      return {};
    });
    dynamo.on(UpdateItemCommand).callsFake(() => {
      settle();
      return {};
    });
    const { handler, logs } = buildHandler('connections');

    // Act: the invocation ends while the record is still unconfirmed; then the late record lands
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-stuck-put'), { messageId: 'msg-stuck-put' })),
      lambdaContext({ remainingMs: 6_000 }),
    );
    const deletedBeforeConfirmed = dynamo.commandCalls(DeleteItemCommand).length;
    confirm();
    await settled;

    // Assess: retried without waiting for the table, and the late record neither runs the action nor
    // stays in progress
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-stuck-put' }] });
    // A warning: a failure that passes by itself is no alarm's business
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'Transient failure; the message will be redelivered',
        extra: expect.objectContaining({
          resultMessage: `The idempotency store (DynamoDB table ${TABLE}) is unavailable: it did not confirm the in-progress record before the invocation deadline`,
        }),
      }),
    );
    expect(deletedBeforeConfirmed).toBe(0);
    expect(request).not.toHaveBeenCalled();
    expect(dynamo.commandCalls(DeleteItemCommand)).toHaveLength(1);
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it.each([
    {
      what: 'refuses the call (access denied): a config failure, counted at every attempt',
      error: () => awsError('AccessDeniedException', 400),
      kind: 'config',
      message: `The idempotency store (DynamoDB table ${TABLE}) refused the call: `,
      counted: true,
    },
    {
      what: 'throttles: a transient failure, not counted',
      error: () => awsError('ProvisionedThroughputExceededException', 400),
      kind: 'transient',
      message: `The idempotency store (DynamoDB table ${TABLE}) is unavailable: `,
      counted: false,
    },
  ])('retries a request whose table $what', async ({ error, kind, message, counted }) => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(error());
    const { handler, logs, observations } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-table'), { messageId: 'msg-table' })),
      lambdaContext(),
    );

    // Assess: Tanium is not called, the message comes back, and ServiceFailures sees only the refusal
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-table' }] });
    expect(request).not.toHaveBeenCalled();
    expect(logs).toContainEqual(
      expect.objectContaining({
        message: 'Transient failure; the message will be redelivered',
        extra: expect.objectContaining({
          errorKind: kind,
          resultMessage: expect.stringContaining(message),
        }),
      }),
    );
    expect(observations).toHaveLength(1);
    expect(observations[0]?.serviceFailure === true).toBe(counted);
  });

  it('replays a stored result in an invocation that starts with its deadline already past', async () => {
    // Prepare: the first delivery completes its record; the redelivery has 4 s left, under the 5 s
    // reserve, and the table takes 20 ms to answer it
    const items = fakeIdempotencyTable(dynamo);
    const { handler } = buildHandler('connections');
    const first = (await handler(closeConnection('req-short'), lambdaContext())) as ResultDetail;
    const [stored] = [...items.values()];
    dynamo.on(PutItemCommand).callsFake(async () => {
      await delay(20);
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: stored,
      });
    });

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-short'), { messageId: 'msg-short', receiveCount: 2 })),
      lambdaContext({ remainingMs: 4_000 }),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(request).toHaveBeenCalledTimes(1);
    expect(publishedDetails(eventBridge).at(-1)).toEqual(first);
  });

  it('does not report a transient failure whose in-progress record could not be deleted', async () => {
    // Prepare: Tanium fails transiently and deleting the in-progress record hangs
    request.mockRejectedValue(transient());
    dynamo.on(DeleteItemCommand).callsFake(() => new Promise(() => undefined));
    const { handler, logs, observations } = buildHandler('connections');

    // Act
    const response = await handler(
      sqsEvent(sqsRecord(closeConnection('req-stuck-delete'), { messageId: 'msg-stuck-delete' })),
      lambdaContext({ remainingMs: 6_000 }),
    );

    // Assess: retried as any transient failure, with a warning instead of the unrecorded error
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-stuck-delete' }] });
    expect(logs.filter((line) => line.level === 'error')).toEqual([]);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'The action failed transiently and its in-progress idempotency record could not be deleted',
        extra: expect.objectContaining({ correlation_id: 'req-stuck-delete', reason: expect.any(String) }),
      }),
    );
    expect(observations[0]).not.toHaveProperty('unrecorded');
  });

  it('never touches the idempotency table for read-only actions', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    await handler(listConnections(), lambdaContext());

    // Assess
    expect(dynamo.calls()).toHaveLength(0);
  });
});

describe('Family handler: settings reach the actions', () => {
  it('caps get file with GET_FILE_MAX_BYTES read once with the other settings', async () => {
    // Prepare
    const stream = vi.spyOn(TaniumClient.prototype, 'stream').mockResolvedValue({
      status: 200,
      headers: { 'content-type': 'application/zip', 'content-length': '1000' },
      body: Readable.from([]),
      auth: 'token',
    });
    const { handler } = buildHandler('evidence', {
      env: { ...ENV, GET_FILE_MAX_BYTES: '10' },
      vault: (settings) => new Vault({ bucket: settings.vaultBucket ?? BUCKET, client: new S3Client({}) }),
    });

    // Act
    const detail = (await handler(
      {
        action: 'get file',
        parameters: { file_id: '79478f3e-061b-4b59-a99a-349415df99a0' },
        requestId: 'req-cap',
      },
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(stream).toHaveBeenCalledTimes(1);
    expect(detail).toMatchObject({
      status: 'failed',
      message: 'File is larger than the maximum of 10 bytes allowed by GET_FILE_MAX_BYTES',
      error: { kind: 'too_large', retryable: false },
    });
  });

  it("gives the actions the handler's sleep", async () => {
    // Prepare: the new connection is still waiting at the first poll, connected at the second
    let polls = 0;
    request.mockImplementation(async (req) => {
      if (req.method === 'POST') return taniumResponse({ id: 'conn-new' });
      if (req.path.includes('/endpoints')) {
        return taniumResponse([{ hostname: 'host-a', ip: '10.0.0.1', clientId: 1, platform: 'Linux' }]);
      }
      polls += 1;
      return taniumResponse([{ id: 'conn-new', status: polls === 1 ? 'waiting' : 'connected' }]);
    });
    const sleep = vi.fn(async () => undefined);
    const { handler } = buildHandler('connections', { sleep });

    // Act
    const result = (await handler(
      {
        action: 'create connection',
        parameters: { destination: 'host-a', wait_seconds: 2 },
        requestId: 'req-sleep',
      },
      lambdaContext(),
    )) as ResultDetail;

    // Assess: the pause between the polls went through it, not a timer of the action's own
    expect(result).toMatchObject({ status: 'success', message: 'Connection created successfully' });
    expect(sleep).toHaveBeenCalledTimes(1);
  });
});

describe('Family handler: log lines through Powertools', () => {
  it('keeps the result message in the retry, give-up and replacement lines (Powertools drops a "message" key)', async () => {
    // Prepare: the real logger; a transient failure on attempts 1 and 3 of 3, then a result the vault refuses
    const logger = createPowertoolsLogger('connections', { POWERTOOLS_LOG_LEVEL: 'INFO' });
    const { handler } = buildHandler('connections', { logger });

    // Act
    const lines = await jsonLinesWrittenWhile(async () => {
      request.mockRejectedValue(
        new TaniumError('transient', 'Error from server. Status Code: 503', { retryable: true }),
      );
      await handler(sqsEvent(sqsRecord(listConnections('req-1'), { receiveCount: 1 })), lambdaContext());
      await handler(sqsEvent(sqsRecord(listConnections('req-3'), { receiveCount: 3 })), lambdaContext());
      vaultRefuses();
      request.mockResolvedValue(
        taniumResponse(
          Array.from({ length: 3000 }, (_, i) => ({ id: `remote:h-${i}:${i}:1`, note: 'x'.repeat(80) })),
        ),
      );
      await handler(listConnections('req-big'), lambdaContext());
    });

    // Assess
    const line = (message: string) => lines.find((candidate) => candidate.message === message);
    expect(line('Transient failure; the message will be redelivered')).toMatchObject({
      resultMessage: 'Unable to list connections. Error message: Error from server. Status Code: 503',
    });
    expect(
      line('Request gave up on its last attempt; the message goes to the dead-letter queue'),
    ).toMatchObject({
      resultMessage: 'Unable to list connections. Error message: Error from server. Status Code: 503',
    });
    expect(line('The result was replaced by a failed one')).toMatchObject({
      publishedMessage: expect.stringMatching(/^The result is larger than an EventBridge event allows/),
    });
    expect(lines.filter((candidate) => String(candidate.message).includes('reserved key'))).toEqual([]);
  });
});

describe('Family handler: the Lambda context in its log lines', () => {
  it('tags every line of an invocation with its function and request id, with its own logger', async () => {
    // Prepare: the logger the handler builds itself, as deployed
    request.mockResolvedValue(taniumResponse(CONNECTIONS));
    const { handler } = buildHandler('connections', {
      logger: undefined,
      env: { ...ENV, POWERTOOLS_LOG_LEVEL: 'INFO' },
    });
    const context = lambdaContext({
      functionName: 'tanium-tr-dev-connections',
      awsRequestId: 'lambda-req-1',
    });

    // Act
    const lines = await jsonLinesWrittenWhile(() => handler(listConnections('req-ctx'), context));

    // Assess
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatchObject({
        function_name: 'tanium-tr-dev-connections',
        function_request_id: 'lambda-req-1',
      });
    }
  });

  it('answers a local run without a context with its own logger, its lines untagged', async () => {
    // Prepare: the logger the handler builds itself, and no Lambda context to tag its lines with
    request.mockResolvedValue(taniumResponse(CONNECTIONS));
    const { handler } = buildHandler('connections', {
      logger: undefined,
      env: { ...ENV, POWERTOOLS_LOG_LEVEL: 'INFO' },
    });

    // Act
    let result: unknown;
    const lines = await jsonLinesWrittenWhile(async () => {
      result = await handler(listConnections('req-no-ctx'));
    });

    // Assess
    expect(result).toMatchObject({ requestId: 'req-no-ctx', status: 'success' });
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toHaveProperty('function_request_id');
  });
});

describe('Family handler: container state, logs and metrics', () => {
  it('reads the credentials once per invocation and keeps one Tanium client across invocations', async () => {
    // Prepare
    const clients = new Set<TaniumClient>();
    request.mockImplementation(async function (this: TaniumClient) {
      clients.add(this);
      return taniumResponse(CONNECTIONS);
    });
    const { handler, credentialReads } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(sqsRecord(listConnections('a')), sqsRecord(listConnections('b'))),
      lambdaContext(),
    );
    await handler(sqsEvent(sqsRecord(listConnections('c'))), lambdaContext());

    // Assess
    expect(credentialReads.count).toBe(2);
    expect(clients.size).toBe(1);
  });

  it.each([
    [2, 'fails the record for redelivery', 1],
    [3, 'publishes its last-attempt result', 1],
  ])(
    "stops waiting for credentials that never come at the invocation's deadline: on attempt %i of 3 it %s",
    async (receiveCount, _what, failedRecords) => {
      // Prepare: Secrets Manager never answers; the invocation has less time left than the publish reserve
      const { handler } = buildHandler('connections', { credentials: () => new Promise(() => {}) });

      // Act: without the bound the handler never settles, and the test times out
      const response = (await handler(
        sqsEvent(
          sqsRecord({ action: 'no such action', parameters: {}, requestId: 'req-unknown' }),
          sqsRecord(closeConnection('req-stuck'), { messageId: 'msg-stuck', receiveCount }),
        ),
        lambdaContext({ remainingMs: 3000 }),
      )) as SQSBatchResponse;

      // Assess
      expect(response.batchItemFailures).toEqual(
        Array.from({ length: failedRecords }, () => ({ itemIdentifier: 'msg-stuck' })),
      );
      expect(request).not.toHaveBeenCalled();
      const published = publishedDetails(eventBridge);
      expect(published.map((d) => d.requestId)).toEqual(
        receiveCount === 3 ? ['req-unknown', 'req-stuck'] : ['req-unknown'],
      );
      if (receiveCount === 3) {
        expect(published[1]).toMatchObject({
          status: 'failed',
          message: expect.stringMatching(
            /^Gave up after 3 attempts: The Tanium credentials could not be read before the invocation's deadline/,
          ),
          error: { kind: 'transient', retryable: true },
        });
      }
    },
  );

  it('builds a new Tanium client when the credential changes', async () => {
    // Prepare
    const clients = new Set<TaniumClient>();
    request.mockImplementation(async function (this: TaniumClient) {
      clients.add(this);
      return taniumResponse(CONNECTIONS);
    });
    let token = 'first-token';
    const { handler } = buildHandler('connections', { token: () => token });

    // Act
    await handler(listConnections('a'), lambdaContext());
    token = 'rotated-token';
    await handler(listConnections('b'), lambdaContext());

    // Assess
    expect(clients.size).toBe(2);
  });

  it('logs each request with its request id as correlation id and no credential', async () => {
    // Prepare
    const { handler, logs } = buildHandler('connections');

    // Act
    await handler(sqsEvent(sqsRecord(listConnections('req-log'))), lambdaContext());

    // Assess
    expect(logs).toContainEqual({
      level: 'info',
      message: 'Request completed',
      extra: expect.objectContaining({
        correlation_id: 'req-log',
        action: 'list connections',
        status: 'success',
      }),
    });
    expect(JSON.stringify(logs)).not.toContain('unit-test-token');
    // The Tanium client's own lines (requests, retries) carry the same key
    expect(request.mock.calls[0]?.[0].logContext).toEqual({ correlation_id: 'req-log' });
  });

  it.each([
    {
      what: 'a failure only the deployment can fix (ServiceFailures)',
      body: listConnections('req-warn'),
      // Tanium refuses the token
      error: new TaniumError('auth', 'Authentication failed (HTTP 401): Tanium rejected the API token.', {
        status: 401,
      }),
      line: 'Request failed for a reason in the deployment, not in the request',
      counted: { serviceFailure: true },
      notCounted: 'unknownOutcome',
    },
    {
      what: 'a write of unknown outcome (UnknownOutcomes)',
      body: closeConnection('req-warn'),
      // Tanium throttled the close after it may have reached it
      error: new TaniumError(
        'unknown_outcome',
        'Error from server. Status Code: 429 Data from server: slow down. The request may have been processed by Tanium; check before running it again.',
        { status: 429 },
      ),
      line: 'Request ended without knowing whether Tanium carried it out',
      counted: { unknownOutcome: true },
      notCounted: 'serviceFailure',
    },
  ])(
    'logs $what as an error, with its message, and counts it',
    async ({ body, error, line, counted, notCounted }) => {
      // Prepare
      request.mockRejectedValue(error);
      const { handler, logs, observations } = buildHandler('connections');

      // Act
      await handler(sqsEvent(sqsRecord(body)), lambdaContext());

      // Assess: every log level (ERROR too) shows the line its alarm points to, and that alarm's metric
      // counts it (not the other's)
      expect(logs).toContainEqual({
        level: 'error',
        message: line,
        extra: expect.objectContaining({
          correlation_id: 'req-warn',
          status: 'failed',
          errorKind: error.kind,
          resultMessage: expect.stringContaining(error.message),
        }),
      });
      expect(logs.some((entry) => entry.message === 'Request completed')).toBe(false);
      expect(observations).toEqual([expect.objectContaining({ status: 'failed', ...counted })]);
      expect(observations[0]).not.toHaveProperty(notCounted);
    },
  );

  it('does not count or warn of a stored unknown outcome again when it is replayed', async () => {
    // Prepare: the first delivery ended unknown_outcome, which its idempotency record keeps
    fakeIdempotencyTable(dynamo);
    request.mockRejectedValue(
      new TaniumError('unknown_outcome', 'Error from server. Status Code: 504 Data from server: timeout', {
        status: 504,
      }),
    );
    const { handler, logs, observations } = buildHandler('connections');
    await handler(closeConnection('req-replayed'), lambdaContext());
    expect(observations).toEqual([expect.objectContaining({ unknownOutcome: true })]);
    logs.length = 0;
    observations.length = 0;

    // Act
    const replayed = (await handler(closeConnection('req-replayed'), lambdaContext())) as ResultDetail;

    // Assess: the same result, from the record; the warning the runbook searches for is the first one only
    expect(replayed).toMatchObject({ status: 'failed', error: { kind: 'unknown_outcome' } });
    expect(request).toHaveBeenCalledTimes(1);
    expect(observations).toEqual([expect.objectContaining({ replayed: true })]);
    expect(observations[0]).not.toHaveProperty('unknownOutcome');
    expect(logs.some((line) => line.message.startsWith('Request ended without knowing'))).toBe(false);
    expect(logs).toContainEqual({
      level: 'info',
      message: 'Replayed the stored result',
      extra: expect.objectContaining({ correlation_id: 'req-replayed', replayed: true }),
    });
  });

  it.each([
    ["a vault_id with no file behind it, the request's own fault", 'NoSuchKey', 404, false, false],
    ["the vault bucket missing (VAULT_BUCKET mistyped), the deployment's", 'NoSuchBucket', 404, false, true],
    ['S3 throttling the read, which may pass', 'SlowDown', 503, true, false],
    ["the vault refusing the read, the deployment's", 'AccessDenied', 403, false, true],
  ])(
    'counts a vault failure only when the deployment must fix it: %s',
    async (_case, s3Error, status, retryable, counted) => {
      // Prepare
      s3.on(GetObjectCommand).rejects(s3ServiceError(s3Error, status));
      const { handler, logs, observations } = buildHandler(
        'intel',
        withVault({ s3Client: new S3Client({ region: 'us-east-1' }) }),
      );

      // Act
      const result = (await handler(
        { action: 'upload intel doc', parameters: { vault_id: 'a'.repeat(40) }, requestId: 'req-vault' },
        lambdaContext(),
      )) as ResultDetail;

      // Assess: kind vault either way (tanium-api.md 2.18), and nothing was sent to Tanium
      expect(result).toMatchObject({ status: 'failed', error: { kind: 'vault', retryable } });
      expect(result).not.toHaveProperty('requestFault');
      expect(request).not.toHaveBeenCalled();
      expect(observations[0]?.serviceFailure === true).toBe(counted);
      expect(logs.some((line) => line.level === 'error' && line.extra?.correlation_id === 'req-vault')).toBe(
        counted,
      );
    },
  );

  it('keeps the batch response when writing the metrics fails, and logs it', async () => {
    // Prepare
    const { handler, logs } = buildHandler('connections', {
      metrics: {
        ...NO_METRICS,
        flush() {
          throw new Error('Too many dimensions');
        },
      },
    });

    // Act
    const response = await handler(sqsEvent(sqsRecord(listConnections('m-1'))), lambdaContext());

    // Assess: the record succeeded; failing the invocation would bring it back and publish it twice
    expect(response).toEqual({ batchItemFailures: [] });
    expect(logs).toContainEqual({
      level: 'error',
      message: 'Could not write the metrics of this invocation',
      extra: { error: expect.stringContaining('Too many dimensions') },
    });
  });

  it('records count, failure and duration per action and flushes them once per invocation', async () => {
    // Prepare: the list's Tanium call takes 30 ms of the handler's clock
    let clock = Date.parse('2026-01-01T00:00:00Z');
    request.mockImplementation(async (req) => {
      if (req.method === 'DELETE') throw transient();
      clock += 30;
      return taniumResponse(CONNECTIONS);
    });
    const { handler, observations, metrics } = buildHandler('connections', { now: () => clock });

    // Act
    await handler(
      sqsEvent(sqsRecord(listConnections('ok')), sqsRecord(closeConnection('retry'))),
      lambdaContext(),
    );

    // Assess
    expect(observations).toHaveLength(2);
    expect(observations).toContainEqual(
      expect.objectContaining({ action: 'list connections', status: 'success', retrying: false }),
    );
    expect(observations).toContainEqual(
      expect.objectContaining({ action: 'close connection', status: 'failed', retrying: true }),
    );
    // The Tanium call took 30 ms: the duration is that call's
    const listed = observations.find((observation) => observation.action === 'list connections');
    expect(listed?.durationMs).toBe(30);
    expect(metrics.flushes).toBe(1);
  });

  it('counts unknown and malformed actions under one metric dimension, and a spelling under its action', async () => {
    // Prepare
    request.mockResolvedValue(taniumResponse(CONNECTIONS));
    const { handler, observations } = buildHandler('connections');

    // Act
    await handler(
      sqsEvent(
        sqsRecord({ action: 'x'.repeat(2000), parameters: {} }),
        sqsRecord({ action: 42, parameters: {} }),
        sqsRecord({ action: 'LIST_CONNECTIONS', parameters: {} }),
      ),
      lambdaContext(),
    );

    // Assess
    expect(observations.map((observation) => observation.action).sort()).toEqual([
      'list connections',
      'unknown',
      'unknown',
    ]);
  });

  it('retries each request under a bad function variable, then publishes that it gave up, naming it', async () => {
    // Prepare: a hand-edited variable the connections function does not even use
    const { handler, credentialReads, logs, observations } = buildHandler('connections', {
      env: { ...ENV, GET_FILE_MAX_BYTES: '512MB' },
    });
    const expected =
      "Invalid function configuration: GET_FILE_MAX_BYTES must be a whole number from 1 to 107374182400; fix the function's environment";

    // Act
    const first = await handler(
      sqsEvent(sqsRecord(listConnections('req-env'), { messageId: 'm1' })),
      lambdaContext(),
    );
    const last = await handler(
      sqsEvent(sqsRecord(listConnections('req-env'), { messageId: 'm1', receiveCount: 3 })),
      lambdaContext(),
    );

    // Assess: redelivered while the operator can fix it, and a result before the DLQ; Tanium untouched
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(last).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        requestId: 'req-env',
        status: 'failed',
        message: `Gave up after 3 attempts: ${expected}`,
        error: { kind: 'config', retryable: true },
      }),
    ]);
    expect(credentialReads.count).toBe(0);
    // Once per container, naming what to fix
    expect(
      logs
        .filter((line) => line.message === 'The function configuration is invalid')
        .map((line) => line.extra.error),
    ).toEqual([expected]);
    // The retry's line too shows at every log level: the ServiceFailures alarm counts that attempt
    expect(
      logs
        .filter((line) => line.extra.correlation_id === 'req-env')
        .map((line) => [line.level, line.message]),
    ).toEqual([
      ['error', 'Transient failure; the message will be redelivered'],
      ['error', 'Request gave up on its last attempt; the message goes to the dead-letter queue'],
    ]);
    // Retryable, yet no time cures it: a service failure at every attempt, not only once it gives up
    expect(observations.map((o) => [o.serviceFailure === true, o.retrying])).toEqual([
      [true, true],
      [true, false],
    ]);
  });

  it('fails every request at once when MAX_RECEIVE_COUNT itself is bad: no last attempt can be told', async () => {
    // Prepare
    const { handler } = buildHandler('connections', { env: { ...ENV, MAX_RECEIVE_COUNT: 'three' } });

    // Act
    const response = await handler(sqsEvent(sqsRecord(listConnections('req-max'))), lambdaContext());

    // Assess: one final result, not a 'gave up' on some guessed attempt (or none before the DLQ)
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        message:
          "Invalid function configuration: MAX_RECEIVE_COUNT must be a whole number from 1 to 1000; fix the function's environment, then send the request again",
        error: { kind: 'config', retryable: false },
      }),
    ]);
  });

  it('fails the invocation when EVENT_BUS_NAME itself is bad: no result could go anywhere', async () => {
    // Prepare
    const { handler } = buildHandler('connections', { env: { ...ENV, EVENT_BUS_NAME: 'b'.repeat(2049) } });

    // Act
    const invocation = handler(sqsEvent(sqsRecord(listConnections())), lambdaContext());

    // Assess
    await expect(invocation).rejects.toThrow(
      'Invalid function configuration: EVENT_BUS_NAME must be at most 2048 characters long',
    );
  });
});

describe('Family handler: payloads that are no SQS batch', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'list connections'],
    ['a number', 42],
  ])('answers a direct invocation whose payload is %s with a failed result', async (_what, payload) => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(payload, lambdaContext({ awsRequestId: 'lambda-odd-1' }))) as ResultDetail;

    // Assess: one failed result under Lambda's request id, and no Tanium call
    expect(result).toMatchObject({
      requestId: 'lambda-odd-1',
      status: 'failed',
      error: { kind: 'validation' },
    });
    expect(publishedDetails(eventBridge)).toEqual([result]);
    expect(request).not.toHaveBeenCalled();
  });

  it.each([
    // Lambda never hands a function an empty batch.
    ['an empty list', () => []],
    ['a null record', () => [null]],
    ['a record from another source', () => [{ eventSource: 'aws:s3' }]],
    [
      'an SQS record beside one from another source',
      () => [sqsRecord(listConnections('req-in-records')), { eventSource: 'aws:s3' }],
    ],
  ])('answers a payload with %s in its Records as a request, not as a batch', async (_what, records) => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      { action: 'list connections', parameters: {}, requestId: 'req-records', Records: records() },
      lambdaContext(),
    )) as ResultDetail;

    // Assess: the request's own failed result naming the field; nothing of the records ran
    expect(result).toMatchObject({
      requestId: 'req-records',
      status: 'failed',
      error: { kind: 'validation' },
    });
    expect(result.message).toMatch(/Records/);
    expect(publishedDetails(eventBridge)).toEqual([result]);
    expect(request).not.toHaveBeenCalled();
  });

  it.each([
    ['null', null],
    ['a string', 'list connections'],
  ])(
    'answers a direct invocation whose payload is %s with a failed result under the Lambda request id',
    async (_what, payload) => {
      // Prepare
      const { handler } = buildHandler('connections');

      // Act
      const result = (await handler(
        payload,
        lambdaContext({ awsRequestId: 'lambda-not-object' }),
      )) as ResultDetail;

      // Assess: refused as a request, not taken for a batch; nothing ran
      expect(result).toMatchObject({
        requestId: 'lambda-not-object',
        status: 'failed',
        error: { kind: 'validation', retryable: false },
      });
      expect(publishedDetails(eventBridge)).toEqual([result]);
      expect(request).not.toHaveBeenCalled();
    },
  );
});

describe('Family handler: invocations without a Lambda context (a local run)', () => {
  it('answers an SQS batch, failing the record that failed transiently', async () => {
    // Prepare: the second request fails transiently; the queue timeout is known, so a backoff is set
    request.mockImplementation(async (req) => {
      if (req.method === 'DELETE') throw transient();
      return taniumResponse(CONNECTIONS);
    });
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    const { handler } = buildHandler('connections', {
      env: { ...ENV, QUEUE_VISIBILITY_TIMEOUT_SECONDS: '720' },
      sqsClient: new SQSClient({ region: 'us-east-1' }),
    });

    // Act
    const response = await handler(
      sqsEvent(
        sqsRecord(listConnections('req-local-1'), { messageId: 'msg-local-1' }),
        sqsRecord(closeConnection('req-local-2'), { messageId: 'msg-local-2' }),
      ),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-local-2' }] });
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({ requestId: 'req-local-1', status: 'success' }),
    ]);
  });

  it("waits for a slow credentials read: the invocation's budget is Lambda's longest, not none", async () => {
    // Prepare: the credentials come a few timer turns late
    const { handler } = buildHandler('connections', {
      credentials: async () => {
        await delay(50);
        return credentials();
      },
    });

    // Act
    const result = (await handler(listConnections('req-local-slow'))) as ResultDetail;

    // Assess: the request ran and its result went out
    expect(result).toMatchObject({ requestId: 'req-local-slow', status: 'success' });
    expect(request).toHaveBeenCalledTimes(1);
    expect(publishedDetails(eventBridge)).toEqual([result]);
  });

  it('answers an EventBridge event under its event id', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      eventBridgeEvent({ action: 'list connections', parameters: {} }, { id: 'event-local-1' }),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({ requestId: 'event-local-1', status: 'success' });
    expect(publishedDetails(eventBridge)).toEqual([result]);
  });

  it('answers an EventBridge event whose id is no request id under a generated one', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler(
      eventBridgeEvent({ action: 'list connections', parameters: {} }, { id: ' ' }),
    )) as ResultDetail;

    // Assess
    expect(result.status).toBe('success');
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a direct invocation without a request id under a generated one', async () => {
    // Prepare
    const { handler } = buildHandler('connections');

    // Act
    const result = (await handler({ action: 'list connections', parameters: {} })) as ResultDetail;

    // Assess
    expect(result.status).toBe('success');
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(publishedDetails(eventBridge)).toEqual([result]);
  });
});

describe('Family handler: a result sink of its own', () => {
  it('publishes each result of a batch through a sink that holds none back', async () => {
    // Prepare: a sink with publish alone, as a local harness gives one
    const sent: ResultDetail[] = [];
    const { handler } = buildHandler('connections', {
      sink: {
        publish: async (detail) => {
          sent.push(detail);
          return detail;
        },
      },
    });

    // Act
    const response = await handler(
      sqsEvent(
        sqsRecord(listConnections('req-own-1'), { messageId: 'msg-own-1' }),
        sqsRecord(listConnections('req-own-2'), { messageId: 'msg-own-2' }),
      ),
      lambdaContext(),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(sent.map((detail) => detail.requestId).sort()).toEqual(['req-own-1', 'req-own-2']);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});

describe('Family handler: an EventBridge event runs once', () => {
  it('calls Tanium once and publishes one result', async () => {
    // Prepare
    const { handler, observations } = buildHandler('connections');

    // Act
    const result = (await handler(
      eventBridgeEvent(listConnections('req-eb-once')),
      lambdaContext(),
    )) as ResultDetail;

    // Assess
    expect(result).toMatchObject({ requestId: 'req-eb-once', status: 'success' });
    expect(request).toHaveBeenCalledTimes(1);
    expect(observations).toHaveLength(1);
    expect(publishedDetails(eventBridge)).toEqual([result]);
  });

  it('fails once its result cannot be published, without running the request again', async () => {
    // Prepare
    const { handler, observations } = buildHandler('connections');

    // Act
    const message = await unpublishedMessage(
      (event, context) => handler(event, context),
      eventBridgeEvent(listConnections('req-eb-unpublished')),
    );

    // Assess
    expect(message).toMatch(
      /^Request req-eb-unpublished ended \(success\) but its Action Result event could not be published: .*not authorized/,
    );
    expect(request).toHaveBeenCalledTimes(1);
    expect(observations).toHaveLength(1);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });
});

describe('Family handler: a missing setting named with what it is for', () => {
  it.each([
    [
      'no bus',
      { STATE_TABLE: TABLE, VAULT_BUCKET: BUCKET },
      listConnections('req-nobus'),
      'EVENT_BUS_NAME is not set: results are published to this EventBridge bus',
    ],
    [
      'no state table',
      { EVENT_BUS_NAME: BUS, VAULT_BUCKET: BUCKET },
      closeConnection('req-notable'),
      'STATE_TABLE is not set: mutating actions keep their idempotency records in this DynamoDB table',
    ],
  ])('says why the setting is needed when there is %s', async (_case, env, body, message) => {
    // Prepare
    const { handler } = buildHandler('connections', { env });

    // Act
    const outcome = await handler(sqsEvent(sqsRecord(body)), lambdaContext()).then(
      () => publishedDetails(eventBridge).map((detail) => detail.message ?? ''),
      (error: Error) => [error.message],
    );

    // Assess
    expect(outcome.join('\n')).toContain(message);
  });
});
