import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFamilyHandler } from '../../../shared/events/family-handler.ts';
import { NO_METRICS } from '../../../shared/events/metrics.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import { closeAgents } from '../../../shared/tanium/agent.ts';
import { lambdaContext, sqsRecord } from '../../helpers/lambda.ts';
import { credentialsFor, type Emulator, startTestEmulator } from '../../helpers/tanium.ts';
import { silentLogger } from '../../unit/alerts/fake-alerts.ts';

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startTestEmulator();
  emulator.state.alerts.addBacklog(500, 1000);
});

afterAll(async () => {
  await closeAgents();
  await emulator.close();
});

/** The alerts function as Lambda runs it with 128 MiB and a queue batch size of `batchSize`. */
function alertsFunction(batchSize: string, published: ResultDetail[] = []) {
  return createFamilyHandler('alerts', {
    env: { EVENT_BUS_NAME: 'bus', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128', QUEUE_BATCH_SIZE: batchSize },
    credentials: async () => credentialsFor(emulator),
    sink: {
      publish: async (detail) => {
        published.push(detail);
        return detail;
      },
    },
    logger: silentLogger,
    metrics: NO_METRICS,
  });
}

const listAlerts = (requestId: string) => ({
  action: 'list alerts',
  parameters: { limit: 500 },
  requestId,
});

const TOO_LARGE = {
  status: 'failed',
  message:
    "Response from server is too large: over 134,217 bytes, the most read for one request (a tenth of the function's 128 MiB of memory, shared by the 100 records of a full batch). Where the action takes a limit, ask for fewer rows, or give the function more memory or a smaller batchSize",
  error: { kind: 'too_large', retryable: false },
};

describe('Family handler: the largest Tanium answer one request reads', () => {
  it("refuses an answer over a request's share of the memory, by name and for good, whatever its batch-mates", async () => {
    // Prepare: batches of up to 100 records leave each a thousandth of 128 MiB, 134 KB; 500 alerts are
    // more. A request that fails for good must fail alone as in a full batch, or its outcome would
    // depend on how SQS grouped it.
    const handler = alertsFunction('100');
    const published: ResultDetail[] = [];
    const batch = Array.from({ length: 3 }, (_, i) =>
      sqsRecord(listAlerts(`req-batch-${i}`), { messageId: `m-${i}` }),
    );

    // Act
    const direct = (await handler(listAlerts('req-direct'), lambdaContext())) as ResultDetail;
    await alertsFunction('100', published)({ Records: batch }, lambdaContext());

    // Assess
    expect(direct).toMatchObject(TOO_LARGE);
    expect(published).toHaveLength(3);
    for (const detail of published) expect(detail).toMatchObject(TOO_LARGE);
  });

  it('reads the same answer whole where the queue hands over one record at a time', async () => {
    // Act
    const direct = (await alertsFunction('1')(listAlerts('req-alone'), lambdaContext())) as ResultDetail;

    // Assess
    expect(direct).toMatchObject({ status: 'success', summary: { total_alerts: 500 } });
  });
});
