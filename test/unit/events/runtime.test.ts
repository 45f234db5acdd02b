import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import type { VaultPort } from '../../../shared/actions/types.ts';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import type { IdempotentExecutor } from '../../../shared/events/idempotency.ts';
import { NO_METRICS, PowertoolsActionMetrics } from '../../../shared/events/metrics.ts';
import type { ResultSink } from '../../../shared/events/publisher.ts';
import { resultDetail } from '../../../shared/events/result.ts';
import { FamilyRuntime } from '../../../shared/events/runtime.ts';
import { ConfigError, VaultError } from '../../../shared/tanium/errors.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { type ResultStore, S3ResultStore } from '../../../shared/vault/result-store.ts';
import { bundledS3Api } from '../../../shared/vault/s3-api.ts';
import { startAnsweringServer } from '../../helpers/answering-server.ts';
import { jsonLinesWrittenBy } from '../../helpers/stdout.ts';
import { recordingLogger } from './fixtures.ts';

const ENV = { EVENT_BUS_NAME: 'bus', VAULT_BUCKET: 'vault', STATE_TABLE: 'state' };
const CLIENTS = {
  eventBridgeClient: new EventBridgeClient({ region: 'us-east-1' }),
  s3Api: bundledS3Api,
  s3Client: new S3Client({ region: 'us-east-1' }),
  dynamoDBClient: new DynamoDBClient({ region: 'us-east-1' }),
};

describe('Family runtime', () => {
  it.each(['sink', 'resultStore', 'idempotency'] as const)(
    'builds its %s once per container, not per record',
    (piece) => {
      // Prepare
      const runtime = new FamilyRuntime('connections', { env: ENV, ...CLIENTS });

      // Act
      const first = runtime[piece]();
      const again = runtime[piece]();

      // Assess
      expect(again).toBe(first);
    },
  );

  it('refuses to store a result when built without an S3 client package, for good', () => {
    // Prepare
    const { s3Api: _api, ...withoutApi } = CLIENTS;
    const runtime = new FamilyRuntime('connections', { env: ENV, ...withoutApi });

    // Act
    const error = (() => {
      try {
        runtime.resultStore();
      } catch (e) {
        return e;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).message).toBe(
      'Error occurred while storing the result in the vault. The handler was built without an S3 client package',
    );
    expect((error as VaultError).retryable).toBe(false);
  });

  it.each([
    ['no name', {}, 'tanium-tr-connections'],
    ['a blank name', { POWERTOOLS_SERVICE_NAME: '  ' }, 'tanium-tr-connections'],
    ['a name with spaces around it', { POWERTOOLS_SERVICE_NAME: ' soar-actions ' }, 'soar-actions'],
  ])('names its service from POWERTOOLS_SERVICE_NAME given %s', (_case, env, serviceName) => {
    expect(new FamilyRuntime('connections', { env }).serviceName).toBe(serviceName);
  });
  it('uses the pieces it is given instead of building its own', () => {
    // Prepare
    const sink = { publish: vi.fn() } as unknown as ResultSink;
    const resultStore = { putResult: vi.fn() } as unknown as ResultStore;
    const idempotency = {} as IdempotentExecutor;
    const sqsClient = new SQSClient({ region: 'us-east-1' });
    const runtime = new FamilyRuntime('connections', {
      env: {},
      sink,
      resultStore,
      idempotency,
      sqsClient,
      metrics: NO_METRICS,
    });

    // Act, Assess: none of them needs the settings a built one would (no bus, bucket or table)
    expect(runtime.sink()).toBe(sink);
    expect(runtime.resultStore()).toBe(resultStore);
    expect(runtime.idempotency()).toBe(idempotency);
    expect(runtime.sqs()).toBe(sqsClient);
    expect(runtime.metrics()).toBe(NO_METRICS);
  });

  it('can publish with a sink it is given even when no bus is configured, and not without either', () => {
    const sink = { publish: vi.fn() } as unknown as ResultSink;
    expect(new FamilyRuntime('connections', { env: {}, sink }).canPublish()).toBe(true);
    expect(new FamilyRuntime('connections', { env: {} }).canPublish()).toBe(false);
    expect(new FamilyRuntime('connections', { env: { EVENT_BUS_NAME: 'bus' } }).canPublish()).toBe(true);
  });

  it('says which setting a result too big for an event lacks when no vault bucket is configured', () => {
    const runtime = new FamilyRuntime('connections', { env: { EVENT_BUS_NAME: 'bus' }, ...CLIENTS });
    expect(() => runtime.resultStore()).toThrow(
      new ConfigError('VAULT_BUCKET is not set: results too big for an EventBridge event are stored there'),
    );
  });

  it.each([
    ['it is given', (s3Client: S3Client) => ({ s3Client })],
    [
      'of the vault it builds',
      (s3Client: S3Client) => ({ vault: () => ({ s3: s3Client }) as unknown as VaultPort }),
    ],
  ])('stores results with the S3 client %s', async (_case, options) => {
    // Prepare
    const s3Client = new S3Client({ region: 'us-east-1' });
    const s3 = mockClient(s3Client);
    s3.onAnyCommand().resolves({});
    const { s3Client: _own, ...clients } = CLIENTS;
    const runtime = new FamilyRuntime('connections', { env: ENV, ...clients, ...options(s3Client) });

    // Act
    await runtime.resultStore().putResult('results/req-1.json', '{}');

    // Assess
    expect(s3.calls()).toHaveLength(1);
  });

  it('builds a result store of its own S3 client when given none and no vault', () => {
    const { s3Client: _own, ...clients } = CLIENTS;
    expect(new FamilyRuntime('connections', { env: ENV, ...clients }).resultStore()).toBeInstanceOf(
      S3ResultStore,
    );
  });

  it('publishes through the EventBridge client it is given, waiting with the sleep it is given', async () => {
    // Prepare: the bus throttles the first entry, so the sink waits once and sends it again
    const eventBridgeClient = new EventBridgeClient({ region: 'us-east-1' });
    const eventBridge = mockClient(eventBridgeClient);
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException' }] })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const sleep = vi.fn(async () => undefined);
    const runtime = new FamilyRuntime('connections', { env: ENV, ...CLIENTS, eventBridgeClient, sleep });
    const detail = resultDetail(
      { requestId: 'req-1', action: 'list connections' },
      { status: 'success', message: 'Listed 0 connections', parameter: {}, data: [], summary: {} },
      { startedAt: 0, durationMs: 1 },
    );

    // Act
    await runtime.sink().publish(detail);

    // Assess
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(2);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('builds the vault once, from its settings, and has none when built without one', () => {
    // Prepare
    const vault = vi.fn(() => undefined);
    const runtime = new FamilyRuntime('connections', { env: ENV, ...CLIENTS, vault });

    // Act
    runtime.vault();
    runtime.vault();

    // Assess: built once even though it came back undefined
    expect(vault).toHaveBeenCalledTimes(1);
    expect(vault).toHaveBeenCalledWith(runtime.settings(), runtime.logger);
    expect(new FamilyRuntime('connections', { env: ENV }).vault()).toBeUndefined();
  });

  it('builds its own SQS client and metrics once per container when given none', () => {
    // Prepare
    const runtime = new FamilyRuntime('connections', { env: { POWERTOOLS_METRICS_NAMESPACE: 'TaniumTR' } });

    // Act
    const sqsClient = runtime.sqs();
    const metrics = runtime.metrics();

    // Assess
    expect(sqsClient).toBeInstanceOf(SQSClient);
    expect(runtime.sqs()).toBe(sqsClient);
    // The queue URL names the queue only: the endpoint stays the one the SDK resolves
    expect(sqsClient.config.useQueueUrlAsEndpoint).toBe(false);
    expect(metrics).toBeInstanceOf(PowertoolsActionMetrics);
    expect(runtime.metrics()).toBe(metrics);
    const documents = jsonLinesWrittenBy(() => {
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 1 });
      metrics.flush();
    });
    expect(documents[0]).toMatchObject({
      service: 'tanium-tr-connections',
      _aws: { CloudWatchMetrics: [{ Namespace: 'TaniumTR' }] },
    });
  });

  it("gives the Tanium client the answer limit of the function's memory and batch size", async () => {
    // Prepare: a tenth of 128 MiB shared by 10,000 records is 1,342 bytes; Tanium answers 2 kB
    const tanium = await startAnsweringServer((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ data: ['x'.repeat(2048)] }));
    });
    const runtime = new FamilyRuntime('connections', {
      env: { ...ENV, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128', QUEUE_BATCH_SIZE: '10000' },
      credentials: async () =>
        parseCredentials({ base_url: tanium.url, api_token: 'unit-test-token' }, 'test'),
      logger: recordingLogger([]),
    });

    try {
      // Act
      const client = await runtime.client();
      const request = client.request({ method: 'GET', path: `${TR}/conns`, deadline: Date.now() + 5000 });

      // Assess
      await expect(request).rejects.toThrow(
        "Response from server is too large: over 1,342 bytes, the most read for one request (a tenth of the function's 128 MiB of memory, shared by the 10000 records of a full batch). Where the action takes a limit, ask for fewer rows, or give the function more memory or a smaller batchSize",
      );
    } finally {
      tanium.close();
    }
  });
});
