import { describe, expect, it, vi } from 'vitest';
import { createLocalHandlers, functionEnv } from '../../../cli/local/family-handlers.ts';
import { FAMILIES } from '../../../shared/actions/types.ts';
import { NO_METRICS } from '../../../shared/events/metrics.ts';

// Each factory answers with a marker naming itself: the test sees which entry point builds which family.
vi.mock('../../../shared/events/family-handler.ts', () => ({
  createFamilyHandler: vi.fn((family: string) => `plain:${family}`),
}));
vi.mock('../../../shared/events/vault-family-handler.ts', () => ({
  createFamilyHandler: vi.fn((family: string) => `vault:${family}`),
}));
vi.mock('../../../shared/events/vault-reader-family-handler.ts', () => ({
  createFamilyHandler: vi.fn((family: string) => `vault-reader:${family}`),
}));

const { createFamilyHandler } = await import('../../../shared/events/family-handler.ts');

const QUEUE_BASE = 'http://127.0.0.1:5000/123456789012/tanium-tr-local';
const RESOURCES = {
  names: {
    bus: 'bus-1',
    bucket: 'bucket-1',
    table: 'table-1',
    secret: 'secret-1',
    prefix: 'tanium-tr-local',
  },
  queues: Object.fromEntries(
    FAMILIES.map((family) => [
      family,
      {
        url: `${QUEUE_BASE}-${family}`,
        arn: `arn:${family}`,
        deadLetter: { url: `${QUEUE_BASE}-${family}-dlq`, arn: `arn:${family}-dlq` },
      },
    ]),
  ),
  visibilityTimeoutSeconds: 7,
  results: { url: `${QUEUE_BASE}-results`, arn: 'arn:results' },
} as Parameters<typeof functionEnv>[0];

const LOGGER = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe('functionEnv', () => {
  it('sets what the stack sets on the function, with the local resources', () => {
    expect(functionEnv(RESOURCES, 'evidence')).toEqual({
      TANIUM_SECRET_ID: 'secret-1',
      EVENT_BUS_NAME: 'bus-1',
      VAULT_BUCKET: 'bucket-1',
      STATE_TABLE: 'table-1',
      MAX_RECEIVE_COUNT: '3',
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: '7',
      QUEUE_URL: `${QUEUE_BASE}-evidence`,
      QUEUE_BATCH_SIZE: '1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
      POWERTOOLS_SERVICE_NAME: 'evidence',
    });
  });

  it('gives each family its own queue, batch size and memory', () => {
    expect(functionEnv(RESOURCES, 'connections')).toMatchObject({
      QUEUE_URL: `${QUEUE_BASE}-connections`,
      QUEUE_BATCH_SIZE: '5',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      POWERTOOLS_SERVICE_NAME: 'connections',
    });
  });
});

describe('createLocalHandlers', () => {
  it("builds each family's handler as its Lambda entry point does", () => {
    const handlers = createLocalHandlers(RESOURCES, LOGGER, NO_METRICS);

    expect(handlers).toEqual({
      connections: 'plain:connections',
      snapshots: 'plain:snapshots',
      investigation: 'plain:investigation',
      evidence: 'vault:evidence',
      intel: 'vault-reader:intel',
      alerts: 'plain:alerts',
    });
  });

  it('hands each handler the configuration, logger and metrics of its function', () => {
    createLocalHandlers(RESOURCES, LOGGER, NO_METRICS);

    expect(vi.mocked(createFamilyHandler)).toHaveBeenCalledWith('snapshots', {
      env: functionEnv(RESOURCES, 'snapshots'),
      logger: LOGGER,
      metrics: NO_METRICS,
    });
  });
});
