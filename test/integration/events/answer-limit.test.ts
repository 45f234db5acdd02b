import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFamilyHandler } from '../../../shared/events/family-handler.ts';
import { NO_METRICS } from '../../../shared/events/metrics.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import { closeAgents } from '../../../shared/tanium/agent.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { credentialsFor, type Emulator, startTestEmulator } from '../../helpers/tanium.ts';
import { silentLogger } from '../../unit/alerts/fake-alerts.ts';

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startTestEmulator();
  emulator.state.alerts.addBacklog(50, 1000);
});

afterAll(async () => {
  await closeAgents();
  await emulator.close();
});

/** The alerts function as Lambda runs it with `memory` MiB and SQS batches of `batchSize` records. */
function alertsFunction(memory: string, batchSize: string) {
  return createFamilyHandler('alerts', {
    env: { EVENT_BUS_NAME: 'bus', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memory, BATCH_SIZE: batchSize },
    credentials: async () => credentialsFor(emulator),
    sink: { publish: async (detail) => detail },
    logger: silentLogger,
    metrics: NO_METRICS,
  });
}

const listAlerts = { action: 'list alerts', parameters: { limit: 50 }, requestId: 'req-answer-limit' };

describe('Family handler: the largest Tanium answer one request reads', () => {
  it("refuses an answer over the request's share of the function's memory, by name and for good", async () => {
    // Act: 128 MiB shared by 10,000 records leaves 1,342 bytes for one answer
    const detail = (await alertsFunction('128', '10000')(listAlerts, lambdaContext())) as ResultDetail;

    // Assess
    expect(detail).toMatchObject({
      status: 'failed',
      message:
        "Response from server is too large: over 1,342 bytes, the most read for one request (a tenth of the function's 128 MiB of memory, shared by a batch of 10000 records: give it more memory or a smaller batch size). Where the action takes a limit, ask for fewer rows",
      error: { kind: 'too_large', retryable: false },
    });
  });

  it('reads the same answer whole when the memory is shared by fewer records', async () => {
    // Act
    const detail = (await alertsFunction('128', '1')(listAlerts, lambdaContext())) as ResultDetail;

    // Assess
    expect(detail).toMatchObject({ status: 'success', summary: { total_alerts: 50 } });
  });
});
