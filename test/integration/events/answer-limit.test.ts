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

/** The alerts function as Lambda runs it with 128 MiB: a tenth of it is 13.4 MB for a lone request. */
function alertsFunction(published: ResultDetail[] = []) {
  return createFamilyHandler('alerts', {
    env: { EVENT_BUS_NAME: 'bus', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128' },
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

describe('Family handler: the largest Tanium answer one request reads', () => {
  it("refuses an answer over a record's share of the memory when a batch's records share it, by name and for good", async () => {
    // Prepare: 100 records at once leave each a thousandth of 128 MiB, 134 KB; 500 alerts are more
    const published: ResultDetail[] = [];
    const records = Array.from({ length: 100 }, (_, i) =>
      sqsRecord(listAlerts(`req-batch-${i}`), { messageId: `m-${i}` }),
    );

    // Act
    await alertsFunction(published)({ Records: records }, lambdaContext());

    // Assess
    expect(published).toHaveLength(100);
    expect(published[0]).toMatchObject({
      status: 'failed',
      message:
        "Response from server is too large: over 134,217 bytes, the most read for one request (a tenth of the function's 128 MiB of memory, shared by a batch of 100 records: give it more memory or a smaller batch size). Where the action takes a limit, ask for fewer rows",
      error: { kind: 'too_large', retryable: false },
    });
  });

  it('reads the same answer whole for a request that has the memory to itself', async () => {
    // Prepare: the container ran a batch of 100 records before
    const handler = alertsFunction();
    const records = Array.from({ length: 100 }, (_, i) =>
      sqsRecord(listAlerts(`req-earlier-${i}`), { messageId: `e-${i}` }),
    );
    await handler({ Records: records }, lambdaContext());

    // Act: a direct invocation, then a batch of one
    const direct = (await handler(listAlerts('req-direct'), lambdaContext())) as ResultDetail;
    const alone: ResultDetail[] = [];
    await alertsFunction(alone)(
      { Records: [sqsRecord(listAlerts('req-alone'), { messageId: 'm-alone' })] },
      lambdaContext(),
    );

    // Assess
    expect(direct).toMatchObject({ status: 'success', summary: { total_alerts: 500 } });
    expect(alone[0]).toMatchObject({ status: 'success', summary: { total_alerts: 500 } });
  });
});
