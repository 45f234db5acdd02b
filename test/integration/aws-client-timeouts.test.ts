import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryStateStore } from '../../shared/alerts/memory-store.ts';
import { createPollerHandler } from '../../shared/alerts/poller-handler.ts';
import { credentialsFromSecret } from '../../shared/config/credential-source.ts';
import { idempotencyKeyPrefix } from '../../shared/config/state-keys.ts';
import { createFamilyHandler } from '../../shared/events/family-handler.ts';
import { createIdempotentExecutor } from '../../shared/events/idempotency.ts';
import { NO_METRICS } from '../../shared/events/metrics.ts';
import { EventBridgeResultSink } from '../../shared/events/publisher.ts';
import { TaniumError } from '../../shared/tanium/errors.ts';
import { taniumFailure } from '../helpers/failure.ts';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/lambda.ts';
import { type SilentEndpoint, startSilentEndpoint } from '../helpers/silent-endpoint.ts';
import { FakeAlerts, silentLogger } from '../unit/alerts/fake-alerts.ts';

/**
 * Every AWS client the functions build must get the shared HTTP settings (`awsClientConfig`); the S3
 * clients are covered in vault/silent-endpoint.test.ts. Here each other client is pointed at an endpoint
 * that accepts connections and never answers. The settings are the real ones with the inactivity limit
 * cut to 300 ms: a client built without them waits for the SDK's default of minutes and the test times out.
 */
vi.mock('../../shared/config/aws-client-config.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../shared/config/aws-client-config.ts')>();
  return {
    ...real,
    awsClientConfig: (extra?: object) => {
      const config = real.awsClientConfig(extra);
      return { ...config, requestHandler: { ...config.requestHandler, socketTimeout: 300 } };
    },
  };
});

const STUCK_MS = 8_000;

let silent: SilentEndpoint;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  silent = await startSilentEndpoint();
  const env = {
    AWS_ENDPOINT_URL: silent.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_MAX_ATTEMPTS: '1',
  };
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  silent.close();
});

describe('AWS clients against an endpoint that stops answering', () => {
  it('fails a credentials read from Secrets Manager as retryable', { timeout: STUCK_MS }, async () => {
    const error = await taniumFailure(credentialsFromSecret('tanium-tr/credentials'));

    expect(error).toMatchObject({ kind: 'transient', retryable: true });
    expect(error.message).toContain("Unable to read the Tanium credentials secret 'tanium-tr/credentials'");
  });

  it('fails a result publish to EventBridge as retryable', { timeout: STUCK_MS }, async () => {
    const sink = new EventBridgeResultSink({ busName: 'bus', sleep: async () => {} });

    const error = await taniumFailure(
      sink.publish({
        requestId: 'r-1',
        action: 'list connections',
        status: 'success',
        message: 'ok',
        parameter: {},
        data: [],
        summary: {},
        context: {},
        startedAt: new Date().toISOString(),
        durationMs: 1,
      }),
    );

    expect(error).toMatchObject({ kind: 'transient', retryable: true });
    expect(error.message).toContain('Unable to publish the result to EventBridge');
  });

  it('fails an idempotent request as retryable when DynamoDB stops answering', {
    timeout: STUCK_MS,
  }, async () => {
    const executor = createIdempotentExecutor({
      tableName: 'state',
      keyPrefix: idempotencyKeyPrefix('connections'),
    });
    let ran = false;

    const error = await taniumFailure(
      executor.execute(
        { requestId: 'r-2', action: 'create connection', parameters: {} },
        async () => {
          ran = true;
          return { status: 'success' } as never;
        },
        lambdaContext(),
      ),
    );

    expect(error).toMatchObject({ kind: 'transient', retryable: true });
    expect(error.message).toContain('The idempotency store (DynamoDB table state) is unavailable');
    expect(ran).toBe(false);
  });

  it('leaves a failed record to the queue when delaying its redelivery stops answering', {
    timeout: STUCK_MS,
  }, async () => {
    // No Lambda context, so no invocation deadline bounds the call: only the client's own limits do.
    const warnings: string[] = [];
    const handler = createFamilyHandler('connections', {
      env: { EVENT_BUS_NAME: 'bus', MAX_RECEIVE_COUNT: '5', QUEUE_VISIBILITY_TIMEOUT_SECONDS: '720' },
      credentials: async () => {
        throw new TaniumError('transient', 'Tanium answered HTTP 503', { retryable: true });
      },
      sink: { publish: async (detail) => detail },
      logger: { debug() {}, info() {}, error() {}, warn: (message) => void warnings.push(message) },
      metrics: NO_METRICS,
    });

    const response = await handler(
      sqsEvent(sqsRecord({ action: 'list connections', parameters: {} }, { messageId: 'm-1' })),
    );

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    expect(warnings).toContain(
      'Could not delay the redelivery of failed records; they come back after the queue visibility timeout',
    );
  });

  it("fails the alert poller's run when its DynamoDB state read stops answering", {
    timeout: STUCK_MS,
  }, async () => {
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' },
      source: new FakeAlerts(),
      logger: silentLogger,
      metrics: { record() {} },
    });

    const error = await taniumFailure(handler({}, lambdaContext()));

    expect(error.kind).toBe('transient');
    expect(error.message).toMatch(
      /^Unable to lease the poller state \(item 'poller#default' of DynamoDB table 'state'\): .*timed out/,
    );
  });

  it("fails the alert poller's run when its PutEvents stops answering", { timeout: STUCK_MS }, async () => {
    const alerts = new FakeAlerts();
    const now = Date.now();
    alerts.add(now - 60_000);
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' },
      source: alerts,
      store: new MemoryStateStore(),
      logger: silentLogger,
      metrics: { record() {} },
      now: () => now,
    });

    const error = await taniumFailure(handler({}, lambdaContext()));

    expect(error.kind).toBe('transient');
    expect(error.message).toContain("PutEvents of 1 alert event to bus 'bus' failed: ");
    expect(error.message).toContain('timed out');
  });
});
