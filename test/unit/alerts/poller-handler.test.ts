import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import { createPollerHandler } from '../../../shared/alerts/poller-handler.ts';
import { DeadlineError } from '../../../shared/tanium/errors.ts';
import { failure } from '../../helpers/failure.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { CapturePublisher, silentLogger } from './fake-alerts.ts';

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
});
