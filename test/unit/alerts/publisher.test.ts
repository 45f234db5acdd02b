import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventBridgePublisher } from '../../../shared/alerts/publisher.ts';
import type { AlertEntry } from '../../../shared/alerts/types.ts';

// The publisher takes no sleep of its own: the waits between PutEvents calls go through node's timer,
// recorded here instead of waited.
const timer = vi.hoisted(() => ({ waits: [] as number[] }));

vi.mock('node:timers/promises', async (original) => ({
  ...(await original<typeof import('node:timers/promises')>()),
  setTimeout: async (ms: number) => {
    timer.waits.push(ms);
  },
}));

const BUS = 'tanium-tr-bus';
const eventBridge = mockClient(EventBridgeClient);

function entries(count: number): AlertEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    Source: 'tanium.threat-response',
    DetailType: 'Alert',
    Detail: JSON.stringify({ id: i + 1 }),
  }));
}

/** `entries` as the publisher sends them, to its bus. */
function onBus(sent: AlertEntry[]) {
  return sent.map((entry) => ({ ...entry, EventBusName: BUS }));
}

function publisher(attempts = 5) {
  return new EventBridgePublisher(new EventBridgeClient({ region: 'us-east-1' }), BUS, {
    attempts,
    baseDelayMs: 1,
    random: () => 0,
  });
}

beforeEach(() => {
  timer.waits = [];
});

afterEach(() => {
  eventBridge.reset();
});

describe('Alert publisher: PutEvents', () => {
  it('sends the entries to the bus in one call when all succeed', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 0, Entries: entries(3).map((_, i) => ({ EventId: `e${i}` })) });
    // Act
    const { calls, refused } = await publisher().publish(entries(3));
    // Assess
    expect(calls).toBe(1);
    expect(refused).toEqual([]);
    const sent = eventBridge.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries!;
    expect(sent).toHaveLength(3);
    expect(sent.every((entry) => entry.EventBusName === BUS)).toBe(true);
  });

  it('retries only the entries that failed', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException' },
          { EventId: 'c' },
          { ErrorCode: 'InternalFailure' },
        ],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }, { EventId: 'd' }] });
    // Act
    const { calls } = await publisher().publish(entries(4));
    // Assess
    expect(calls).toBe(2);
    const retried = eventBridge.commandCalls(PutEventsCommand)[1]!.args[0].input.Entries!;
    expect(retried.map((entry) => JSON.parse(entry.Detail!).id)).toEqual([2, 4]);
  });

  it('waits before each resend, a full jitter of 100 ms doubling per call, with no delay options given', async () => {
    // Prepare: the entry is throttled four times, then taken; the jitter draws half of each ceiling
    const throttled = { FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException' }] };
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce(throttled)
      .resolvesOnce(throttled)
      .resolvesOnce(throttled)
      .resolvesOnce(throttled)
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }] });
    const halfway = new EventBridgePublisher(new EventBridgeClient({ region: 'us-east-1' }), BUS, {
      random: () => 0.5,
    });

    // Act
    const { calls } = await halfway.publish(entries(1));

    // Assess
    expect(calls).toBe(5);
    expect(timer.waits).toEqual([50, 100, 200, 400]);
  });

  it('sends every entry again when PutEvents reports a failure count without saying which', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { EventId: 'b' }] })
      .resolvesOnce({ FailedEntryCount: 2 })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }, { EventId: 'b' }] });
    // Act
    const { calls } = await publisher().publish(entries(2));
    // Assess
    expect(calls).toBe(3);
    const sent = eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries!.length);
    expect(sent).toEqual([2, 2, 2]);
  });

  it.each([
    [
      'an entry failing without a message',
      { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] },
      '(InternalFailure): no error message',
    ],
    ['no entry outcomes', { FailedEntryCount: 1 }, '(UnknownError): no entry outcome returned'],
    [
      'a failure count without a failed entry',
      { FailedEntryCount: 1, Entries: [{ EventId: 'a' }] },
      '(UnknownError): a failure count without entry outcomes',
    ],
  ])('throws when entries still fail after the last attempt: %s', async (_, answer, reason) => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves(answer);
    // Act
    const attempt = publisher(3).publish(entries(1));
    // Assess
    await expect(attempt).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
      message: `EventBridge bus '${BUS}' rejected 1 of 1 alert event after 3 attempts ${reason}`,
    });
    // The same entry on every call, whatever the answer left unsaid
    const sent = eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries);
    expect(sent).toEqual(Array.from({ length: 3 }, () => onBus(entries(1))));
  });

  it('names the entries the bus took when others still fail after the last attempt', async () => {
    // Prepare: of four entries the bus takes the 1st at once and the 4th on the retry; the 2nd stays
    // throttled, the 3rd is refused for its content
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 3,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
          { ErrorCode: 'InvalidArgument', ErrorMessage: 'Detail is not valid' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
        ],
      })
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }, { EventId: 'd' }],
      })
      .resolves({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
      });
    // Act
    const attempt = publisher(3).publish(entries(4));
    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'UnpublishedEntriesError',
      kind: 'transient',
      retryable: true,
      accepted: [0, 3],
      calls: 3,
      message: `EventBridge bus '${BUS}' rejected 1 of 4 alert events after 3 attempts (ThrottlingException): Rate exceeded`,
    });
  });

  it('names the bus when the call itself fails, and says whether another run can cure it', async () => {
    // Prepare
    const denied = Object.assign(new Error('User is not authorized to perform: events:PutEvents'), {
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 400 },
    });
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    eventBridge.on(PutEventsCommand).rejectsOnce(denied).rejectsOnce(throttled);
    // Act
    const first = publisher().publish(entries(2));
    await expect(first).rejects.toMatchObject({
      kind: 'config',
      retryable: false,
      message: `PutEvents of 2 alert events to bus '${BUS}' failed: User is not authorized to perform: events:PutEvents`,
    });
    const second = publisher().publish(entries(1));
    // Assess
    await expect(second).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
      message: `PutEvents of 1 alert event to bus '${BUS}' failed: Rate exceeded`,
    });
  });

  it('calls a timeout on the call resending a throttled entry transient, not a rejection to fix', async () => {
    // Prepare: the first call takes one entry and throttles the other; the retry times out
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
      })
      .rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    // Act
    const attempt = publisher().publish(entries(2));
    // Assess
    await expect(attempt).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
      accepted: [0],
      message: `EventBridge bus '${BUS}' rejected 1 of 2 alert events after 2 attempts (CallFailed): TimeoutError: socket hang up`,
    });
  });

  it.each([
    ['a plain error', new Error('boom'), '(RequestFailed): RequestFailed: boom'],
    [
      'a named error',
      Object.assign(new Error('boom'), { name: 'SerializationException' }),
      '(SerializationException): SerializationException: boom',
    ],
    ['a value that is no Error', 'boom', '(RequestFailed): boom'],
  ])(
    'names what the call resending a throttled entry threw when it is %s, keeping the entry taken',
    async (_, thrown, reason) => {
      // Prepare: the first call takes one entry and throttles the other; the retry throws
      eventBridge
        .on(PutEventsCommand)
        .resolvesOnce({
          FailedEntryCount: 1,
          Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
        })
        .callsFake(() => Promise.reject(thrown));
      // Act
      const attempt = publisher().publish(entries(2));
      // Assess
      await expect(attempt).rejects.toMatchObject({
        name: 'UnpublishedEntriesError',
        accepted: [0],
        calls: 2,
        message: `EventBridge bus '${BUS}' rejected 1 of 2 alert events ${reason}`,
      });
    },
  );

  it.each(['InvalidArgument', 'MalformedDetail'])(
    'returns the entries refused with %s, without sending them again',
    async (code) => {
      // Prepare
      eventBridge.on(PutEventsCommand).resolves({
        FailedEntryCount: 1,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: code, ErrorMessage: 'Detail is not valid' },
          { EventId: 'c' },
        ],
      });
      // Act
      const outcome = await publisher().publish(entries(3));
      // Assess
      expect(outcome).toEqual({
        calls: 1,
        refused: [{ index: 1, code, message: 'Detail is not valid' }],
      });
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    },
  );

  it('returns the refused entries in the order given, whichever call refused them', async () => {
    // Prepare: the 2nd entry is refused at once; the 1st is throttled, then refused on the retry
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
          { ErrorCode: 'InvalidArgument', ErrorMessage: 'Detail is not valid' },
        ],
      })
      .resolves({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed' }],
      });
    // Act
    const { refused } = await publisher().publish(entries(2));
    // Assess
    expect(refused).toEqual([
      { index: 0, code: 'MalformedDetail', message: 'Detail is malformed' },
      { index: 1, code: 'InvalidArgument', message: 'Detail is not valid' },
    ]);
  });

  it.each([0, 1.5, Number.NaN])(
    'refuses %s attempts, which would drop the entries unreported',
    async (attempts) => {
      // Act
      const attempt = publisher(attempts).publish(entries(1));
      // Assess
      await expect(attempt).rejects.toMatchObject({
        kind: 'config',
        retryable: false,
        cause: expect.any(RangeError),
      });
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
    },
  );

  it('makes no call for no entries, which PutEvents would refuse', async () => {
    // Act
    const outcome = await publisher().publish([]);
    // Assess
    expect(outcome).toEqual({ calls: 0, refused: [] });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('throws at once when the bus refuses the source: a configuration to fix, not an alert to drop', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 2,
      Entries: [
        { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source' },
        { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source' },
      ],
    });
    // Act
    const attempt = publisher().publish(entries(2));
    // Assess
    await expect(attempt).rejects.toMatchObject({
      kind: 'config',
      retryable: false,
      message: `EventBridge bus '${BUS}' rejected 2 of 2 alert events (NotAuthorizedForSourceException): Not authorized for the source`,
    });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
  });
});

describe('Alert publisher: entries rejected for different reasons', () => {
  it('calls a failure transient when one rejected entry was throttled and another refused for good, naming both codes', async () => {
    // Prepare: one attempt; the bus throttles the 1st entry and denies the 2nd
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 2,
      Entries: [
        { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
        { ErrorCode: 'AccessDeniedException', ErrorMessage: 'Not allowed' },
      ],
    });
    // Act
    const attempt = publisher(1).publish(entries(2));
    // Assess: the throttled entry may go through on the next run, so the run is not failed as a configuration
    await expect(attempt).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
      accepted: [],
      message: `EventBridge bus '${BUS}' rejected 2 of 2 alert events after 1 attempt (ThrottlingException, AccessDeniedException): Rate exceeded`,
    });
  });
});

/**
 * PutEvents answers `first`, then never answers the retry; resolves once the retry was sent, when the
 * test aborts the run's signal.
 */
function answerThenHang(first: { FailedEntryCount: number; Entries: object[] }): Promise<void> {
  let retrying: () => void = () => undefined;
  const retried = new Promise<void>((resolve) => (retrying = resolve));
  eventBridge
    .on(PutEventsCommand)
    .resolvesOnce(first)
    .callsFake(() => {
      retrying();
      return new Promise(() => undefined);
    });
  return retried;
}

describe('Alert publisher: the run is running out of time', () => {
  it('passes its signal to each PutEvents call and, aborted, names the entries the bus confirmed', async () => {
    // Prepare: the first call takes the 1st entry and throttles the 2nd; the retry never answers
    const stop = new AbortController();
    const retried = answerThenHang({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
    });

    // Act
    const attempt = publisher().publish(entries(2), stop.signal);
    await retried;
    stop.abort(new Error("the run's time for publishing ran out"));

    // Assess: the 1st entry is published and said so; the 2nd is unknown, to be sent again, not refused
    await expect(attempt).rejects.toMatchObject({
      name: 'UnpublishedEntriesError',
      kind: 'transient',
      retryable: true,
      accepted: [0],
      calls: 2,
      message: `PutEvents to bus '${BUS}' stopped with 1 of 2 alert events not confirmed after 2 attempts: the run's time for publishing ran out`,
    });
    // (the stub's type knows only the command; the SDK's send takes its options second)
    const signals = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => ((call.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal);
    expect(signals).toEqual([stop.signal, stop.signal]);
  });

  it('sends nothing once its signal is aborted, and names no entry as taken', async () => {
    // Prepare
    const stop = new AbortController();
    stop.abort(new Error("the run's time for publishing ran out"));

    // Act
    const attempt = publisher().publish(entries(2), stop.signal);

    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'UnpublishedEntriesError',
      retryable: true,
      accepted: [],
      calls: 0,
    });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('says which entries were refused and how many were not confirmed when both happen to one batch', async () => {
    // Prepare: the bus refuses the 1st entry for who sends it and throttles the 2nd; the retry never answers
    const stop = new AbortController();
    const retried = answerThenHang({
      FailedEntryCount: 2,
      Entries: [
        { ErrorCode: 'AccessDeniedException', ErrorMessage: 'Not allowed' },
        { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
      ],
    });

    // Act
    const attempt = publisher().publish(entries(2), stop.signal);
    await retried;
    stop.abort(new Error("the run's time for publishing ran out"));

    // Assess
    await expect(attempt).rejects.toMatchObject({
      kind: 'transient',
      accepted: [],
      message: `EventBridge bus '${BUS}' rejected 1 of 2 alert events after 2 attempts (AccessDeniedException): Not allowed; 1 more not confirmed: the run's time for publishing ran out`,
    });
  });
});
