import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { isRetryableEntryCode, putEventsWithRetry } from '../../../shared/events/put-events.ts';

const eventBridge = mockClient(EventBridgeClient);

function entries(count: number): PutEventsRequestEntry[] {
  return Array.from({ length: count }, (_, i) => ({ Source: 's', DetailType: 'd', Detail: `{"n":${i}}` }));
}

afterEach(() => {
  eventBridge.reset();
});

describe('PutEvents with retry', () => {
  it.each([
    ['none', 0],
    ['fewer than none', -1],
    ['a fraction', 1.5],
    ['not a number', Number.NaN],
  ])('refuses %s as the number of attempts, naming it, before any call', async (_, attempts) => {
    // Act
    const put = putEventsWithRetry(new EventBridgeClient({}), entries(1), { attempts });

    // Assess: the caller learns what it gave, not only that it was wrong
    await expect(put).rejects.toThrow(
      new RangeError(`PutEvents attempts must be a whole number of at least 1, not ${attempts}`),
    );
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('makes a single call when given one attempt, and reports the entry it throttled', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e-0' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
    });
    const waits: number[] = [];

    // Act
    const outcome = await putEventsWithRetry(new EventBridgeClient({}), entries(2), {
      attempts: 1,
      sleep: async (ms) => waits.push(ms),
    });

    // Assess: one attempt is the least that sends anything, and nothing waits after it
    expect(outcome).toEqual({
      calls: 1,
      errors: [{ index: 1, code: 'ThrottlingException', message: 'Rate exceeded' }],
    });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it.each([
    ['InternalFailure', true],
    ['ThrottlingException', true],
    // An entry without an outcome, and the entries of a later call that threw a retryable error.
    ['UnknownError', true],
    ['CallFailed', true],
    ['InvalidArgument', false],
    ['MalformedDetail', false],
    ['AccessDeniedException', false],
    ['NotAuthorizedForSourceException', false],
    // Entries left unsent when time ran out: whether to send them again is the caller's to decide.
    ['Aborted', false],
    ['', false],
  ])('calls the entry error code %j retryable: %s', (code, retryable) => {
    expect(isRetryableEntryCode(code)).toBe(retryable);
  });
});
