import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import { createPollerHandler } from '../../../shared/alerts/poller-handler.ts';
import type { RunReport } from '../../../shared/alerts/types.ts';
import { ConfigError, DeadlineError } from '../../../shared/tanium/errors.ts';
import { failure } from '../../helpers/failure.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { CapturePublisher, duplicates, FakeAlerts, silentLogger, T0 } from './fake-alerts.ts';

describe('Alert poller handler: reading the credentials', () => {
  it("fails the run in time when the credentials cannot be read before the run's budget ends", async () => {
    // Prepare: Secrets Manager never answers; the run has 1 s beyond its 10 s reserve
    const publisher = new CapturePublisher();
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' },
      credentials: () => new Promise(() => undefined),
      store: new MemoryStateStore(),
      publisher,
      logger: silentLogger,
      metrics: { record() {} },
    });

    // Act
    const error = await failure(handler({}, lambdaContext({ remainingMs: 11_000 })));

    // Assess: a retryable failure that says why, not a bare Lambda timeout; nothing published
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error.message).toBe("The Tanium credentials could not be read before the invocation's deadline");
    expect(publisher.calls).toBe(0);
  });

  it('counts and logs a run whose credentials cannot be read as a failed run', async () => {
    // Prepare: the secret as a new stack creates it, before anyone has written the credentials
    silentLogger.clear();
    const recorded: RunReport[] = [];
    const publisher = new CapturePublisher();
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' },
      credentials: async () => {
        throw new ConfigError('The credentials secret has no base_url');
      },
      store: new MemoryStateStore(),
      publisher,
      logger: silentLogger,
      metrics: { record: (report) => recorded.push(report) },
    });

    // Act
    const error = await failure(handler({}, lambdaContext({ remainingMs: 60_000 })));

    // Assess: RunsFailed counts it and the log says why, as for a run that failed on Tanium
    expect(error).toBeInstanceOf(ConfigError);
    expect(recorded).toEqual([
      expect.objectContaining({
        status: 'failed',
        stoppedBy: 'error',
        published: 0,
        error: { kind: 'config', message: 'The credentials secret has no base_url' },
      }),
    ]);
    expect(silentLogger.errors).toEqual(['Alert poller run failed']);
    expect(silentLogger.errorFields[0]).toMatchObject({ error: { kind: 'config' } });
    expect(publisher.calls).toBe(0);
  });
});

describe('Alert poller handler: the lease', () => {
  it('lets one of two deliveries of the same scheduled invocation publish, not both', async () => {
    // Prepare: Lambda may deliver an asynchronous invocation twice at once, under one request id
    const tanium = new FakeAlerts();
    tanium.addSteady(30, 1000, T0 - 60_000);
    const publisher = new CapturePublisher();
    const store = new MemoryStateStore();
    const handler = () =>
      createPollerHandler({
        env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '1' },
        source: tanium,
        store,
        publisher,
        logger: silentLogger,
        metrics: { record() {} },
        now: () => T0,
      });
    const context = lambdaContext({ awsRequestId: 'scheduled-1', remainingMs: 60_000 });

    // Act: two containers, one event
    const reports = await Promise.all([handler()({}, context), handler()({}, context)]);

    // Assess
    expect(reports.map((report) => report.status).sort()).toEqual(['caught_up', 'skipped']);
    expect(publisher.ids).toHaveLength(30);
    expect(duplicates(publisher.ids)).toEqual([]);
  });
});
