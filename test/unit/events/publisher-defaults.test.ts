import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventBridgeResultSink } from '../../../shared/events/publisher.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import { acceptAllEntries } from './fixtures.ts';

// What the functions run with, which every other publisher test replaces: the client the sink builds
// itself, and node's timer between PutEvents retries.
const defaults = vi.hoisted(() => ({ clientConfigFails: false, waits: [] as number[] }));

vi.mock('node:timers/promises', async (original) => ({
  ...(await original<typeof import('node:timers/promises')>()),
  setTimeout: async (ms: number) => {
    defaults.waits.push(ms);
  },
}));

vi.mock('../../../shared/config/aws-client-config.ts', async (original) => {
  const actual = await original<typeof import('../../../shared/config/aws-client-config.ts')>();
  return {
    ...actual,
    awsClientConfig: (...args: Parameters<typeof actual.awsClientConfig>) => {
      if (defaults.clientConfigFails) throw new Error('Region is missing');
      return actual.awsClientConfig(...args);
    },
  };
});

const eventBridge = mockClient(EventBridgeClient);

const result: ResultDetail = {
  requestId: 'req-1',
  action: 'list connections',
  status: 'success',
  message: 'Listed connections',
  parameter: {},
  data: [],
  summary: {},
  context: {},
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 3,
};

beforeEach(() => {
  acceptAllEntries(eventBridge);
  defaults.clientConfigFails = false;
  defaults.waits = [];
});

afterEach(() => {
  eventBridge.reset();
});

describe('Result publishing with the defaults the functions use', () => {
  it('builds its own EventBridge client when given none', async () => {
    // Prepare
    const sink = new EventBridgeResultSink({ busName: 'bus' });

    // Act
    await sink.publish(result);

    // Assess
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('waits between the calls that resend a throttled entry', async () => {
    // Prepare: the entry is throttled twice, then taken
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'x' }],
      })
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'x' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });

    // Act
    await sink.publish(result);

    // Assess: one wait before each resend, through node's timer
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(3);
    expect(defaults.waits).toHaveLength(2);
  });

  it('fails the publish, saying why, when its client cannot be built, instead of leaving it pending', async () => {
    // Prepare
    defaults.clientConfigFails = true;
    const sink = new EventBridgeResultSink({ busName: 'bus' });

    // Act
    const publishing = sink.publish(result);

    // Assess
    await expect(publishing).rejects.toThrow(
      'Unable to publish the result to EventBridge: Region is missing',
    );
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});
