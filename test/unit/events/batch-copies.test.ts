// How the copies of one request in an SQS batch share an outcome, turn by turn. A copy's turn past the
// deadline, behind an earlier copy that goes back to the queue: what it carries on decides how long its
// own message stays hidden (redeliveryDelaySeconds). One behind a result no record replays is sent that
// result rather than run the request again; one that runs learns what the copies before it left.

import { describe, expect, it } from 'vitest';
import { copyKey, recordKey, type Turned, takeTurn } from '../../../shared/events/batch-copies.ts';
import { parseMessageBody } from '../../../shared/events/envelope.ts';
import type { DeliveryInfo, Disposition, RequestProcessor } from '../../../shared/events/processor.ts';
import {
  failedResult,
  type ResultDetail,
  resultDetail,
  resultForCopy,
} from '../../../shared/events/result.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import { type LogLine, recordingLogger } from './fixtures.ts';

const REQUEST = {
  action: 'close connection',
  parameters: { connection_id: 'remote:host-a:1:1' },
  requestId: 'req-copies',
};
const detail = resultDetail(
  REQUEST,
  failedResult('Tanium did not answer', 'transient', REQUEST.parameters, true),
  {
    startedAt: 0,
    durationMs: 1,
  },
);
const error = new TaniumError('transient', 'Tanium did not answer', { retryable: true });

const KEYS = { correlation_id: REQUEST.requestId, action: REQUEST.action };
const BACK_TO_QUEUE = 'the earlier copy of the request in this batch goes back to the queue';
const HELD_ELSEWHERE = 'another delivery holds the request and publishes its result';
/** The error of a copy that ends unrun past the deadline: transient, so its redelivery runs it. */
const OUT_OF_TIME = expect.objectContaining({
  kind: 'transient',
  message: 'The invocation ran out of time before this delivery of the request could run',
  retryable: true,
});

/** A processor the turn must not reach: past the deadline, a copy behind another ends unrun. */
const unreachable = {
  process: async () => {
    throw new Error('the copy ran past the deadline');
  },
} as unknown as RequestProcessor;

describe('Batch copies: a turn past the deadline behind an earlier copy', () => {
  it.each<[string, Disposition, { recordMayRemain: boolean; heldElsewhere: boolean }, string]>([
    [
      'whose in-progress record may remain: hidden until the invocation ends',
      { kind: 'retry', detail, error, recordMayRemain: true, heldElsewhere: false },
      { recordMayRemain: true, heldElsewhere: false },
      BACK_TO_QUEUE,
    ],
    [
      "that another delivery's record held: left to the queue's own timeout",
      { kind: 'retry', detail, error, recordMayRemain: false, heldElsewhere: true },
      { recordMayRemain: false, heldElsewhere: true },
      BACK_TO_QUEUE,
    ],
    [
      'held on its last attempt by another delivery: left to the queue timeout too',
      { kind: 'held', detail, error },
      { recordMayRemain: false, heldElsewhere: true },
      HELD_ELSEWHERE,
    ],
  ])('goes back as the copy %s', async (_case, previous, carried, because) => {
    // Prepare
    const logs: LogLine[] = [];
    const copies: Turned[] = [{ disposition: previous, messageId: 'msg-1' }];

    // Act
    const { disposition } = await takeTurn(
      unreachable,
      parseMessageBody(JSON.stringify(REQUEST), 'msg-2'),
      { redelivered: true, attempt: 1, maxAttempts: 3, deadline: Date.now() - 1, messageId: 'msg-2' },
      { copies, behindOthers: true, later: () => false },
      recordingLogger(logs),
    );

    // Assess
    expect(disposition).toEqual({
      kind: 'retry',
      detail,
      error: OUT_OF_TIME,
      ...carried,
    });
    // The line says why the message comes back, which on-call reads before the redelivery
    expect(logs).toEqual([
      {
        level: 'warn',
        message: `Past the deadline, this delivery goes back to the queue unrun; ${because}`,
        extra: KEYS,
      },
    ]);
  });

  it.each<[string, Disposition, Disposition, LogLine]>([
    [
      'a copy that goes back: the DLQ alarm names why',
      { kind: 'retry', detail, error, recordMayRemain: true, heldElsewhere: false },
      { kind: 'held', detail, error: OUT_OF_TIME },
      {
        level: 'error',
        message: `Past the deadline, this delivery goes to the dead-letter queue unrun; ${BACK_TO_QUEUE}`,
        extra: KEYS,
      },
    ],
    [
      'a copy another delivery held',
      { kind: 'held', detail, error },
      { kind: 'held', detail, error: OUT_OF_TIME },
      {
        level: 'error',
        message: `Past the deadline, this delivery goes to the dead-letter queue unrun; ${HELD_ELSEWHERE}`,
        extra: KEYS,
      },
    ],
    [
      'a copy answered elsewhere, which it leaves the request to, on its last attempt too',
      { kind: 'answered-elsewhere', detail },
      { kind: 'answered-elsewhere', detail },
      {
        level: 'info',
        message:
          'An earlier copy of the request in this batch answered it; this one ends unrun past the deadline',
        extra: KEYS,
      },
    ],
  ])('ends a last attempt unrun behind %s', async (_case, previous, expected, line) => {
    // Prepare
    const logs: LogLine[] = [];

    // Act
    const { disposition, messageId } = await takeTurn(
      unreachable,
      parseMessageBody(JSON.stringify(REQUEST), 'msg-2'),
      { redelivered: true, attempt: 3, maxAttempts: 3, deadline: Date.now() - 1, messageId: 'msg-2' },
      { copies: [{ disposition: previous, messageId: 'msg-1' }], behindOthers: true, later: () => false },
      recordingLogger(logs),
    );

    // Assess
    expect({ disposition, messageId }).toEqual({ disposition: expected, messageId: 'msg-2' });
    expect(logs).toEqual([line]);
  });
});

describe("Batch copies: an earlier copy's result sent for a later copy", () => {
  const earlier = resultDetail(
    { ...REQUEST, context: { run: 1 } },
    failedResult('Tanium did not answer', 'transient', { ...REQUEST.parameters, context: 'run 1' }, true),
    { startedAt: 0, durationMs: 1 },
  );

  it.each<[string, Parameters<typeof resultForCopy>[1], Record<string, unknown>, unknown]>([
    [
      'with its own context and parameter.context',
      { parameters: { ...REQUEST.parameters, context: 'run 2' }, context: { run: 2 } },
      { ...REQUEST.parameters, context: 'run 2' },
      { run: 2 },
    ],
    ['with a null context', { parameters: REQUEST.parameters, context: null }, REQUEST.parameters, null],
    ['without a context', { parameters: REQUEST.parameters }, REQUEST.parameters, {}],
    ['whose body did not parse', undefined, REQUEST.parameters, {}],
  ])('goes out under the later copy %s', (_case, request, parameter, context) => {
    // Act
    const detail = resultForCopy(earlier, request);

    // Assess: the earlier copy's outcome, with nothing of its context left
    expect(detail).toEqual({ ...earlier, parameter, context });
  });
});

describe("Batch copies: an earlier copy's result that no record replays", () => {
  const later = { ...REQUEST, context: { copy: 2 } };
  const own = resultForCopy(detail, later);
  const resent: LogLine = {
    level: 'info',
    message: 'An earlier copy of the request in this batch ended it; its result is sent again for this one',
    extra: { ...KEYS, status: detail.status },
  };

  it.each<[string, Turned['disposition'][], number, Disposition]>([
    [
      'gave up',
      [{ kind: 'gave-up', detail, error }],
      Date.now() + 60_000,
      { kind: 'final', detail: own, answeredAgain: true },
    ],
    [
      'was left unrecorded: nothing replays it to the redelivery either',
      [{ kind: 'final', detail, unrecorded: true }],
      Date.now() + 60_000,
      { kind: 'final', detail: own, unrecorded: true, answeredAgain: true },
    ],
    [
      'may have left its record in progress',
      [{ kind: 'final', detail, recordMayRemain: true }],
      Date.now() + 60_000,
      { kind: 'final', detail: own, answeredAgain: true },
    ],
    [
      'gave up, before a copy that went back: no result after its "Gave up"',
      [
        { kind: 'gave-up', detail, error },
        { kind: 'retry', detail, error, recordMayRemain: false, heldElsewhere: false },
      ],
      Date.now() + 60_000,
      { kind: 'final', detail: own, answeredAgain: true },
    ],
    [
      'stored, when the turn comes past the deadline: its record replays it if the result is lost',
      [{ kind: 'final', detail, stored: true }],
      Date.now() - 1,
      { kind: 'final', detail: own },
    ],
  ])(
    'is sent for a later copy, which runs nothing, when the earlier one %s',
    async (_case, earlier, deadline, expected) => {
      // Prepare
      const logs: LogLine[] = [];
      const copies = earlier.map((disposition, index) => ({ disposition, messageId: `msg-${index}` }));

      // Act
      const turned = await takeTurn(
        unreachable,
        parseMessageBody(JSON.stringify(later), 'msg-later'),
        { redelivered: true, attempt: 1, maxAttempts: 3, deadline, messageId: 'msg-later' },
        { copies, behindOthers: true, later: () => false },
        recordingLogger(logs),
      );

      // Assess: the earlier copy's outcome under this copy's own context, flagged as no record's
      expect(turned).toEqual({ disposition: expected, messageId: 'msg-later' });
      expect(logs).toEqual([resent]);
    },
  );
});

describe('Batch copies: what a turn that runs learns of the copies before it', () => {
  // Another result than the copies' own, to tell which one the turn learns
  const ended: ResultDetail = { ...detail, status: 'success', message: 'closed' };
  const retry = (recordMayRemain: boolean): Disposition => ({
    kind: 'retry',
    detail,
    error,
    recordMayRemain,
    heldElsewhere: false,
  });
  // Only that a copy ran before it, which may have reached Tanium
  const ranBefore = {
    ownCopyLeftRecord: false,
    copyRanBefore: true,
    earlierComesBack: false,
    outOfTime: false,
  };

  it.each<[string, Turned[], { behindOthers?: boolean; pastDeadline?: boolean }, Partial<DeliveryInfo>]>([
    [
      'none before it',
      [],
      { behindOthers: true },
      { ownCopyLeftRecord: false, copyRanBefore: false, earlierComesBack: false, outOfTime: false },
    ],
    [
      'its own message, gone back with its record left',
      [{ disposition: retry(true), messageId: 'msg-2' }],
      {},
      { ...ranBefore, ownCopyLeftRecord: true },
    ],
    [
      'its own message, held with its record left',
      [{ disposition: { kind: 'held', detail, error, recordMayRemain: true }, messageId: 'msg-2' }],
      {},
      { ...ranBefore, ownCopyLeftRecord: true },
    ],
    [
      'its own message, gone back with its record deleted',
      [{ disposition: retry(false), messageId: 'msg-2' }],
      {},
      ranBefore,
    ],
    [
      'another message, gone back with its record left: that one comes back',
      [{ disposition: retry(true), messageId: 'msg-1' }],
      {},
      { ...ranBefore, earlierComesBack: true },
    ],
    [
      'two that ended it: the last one is the result it is sent',
      [
        { disposition: { kind: 'final', detail, stored: true }, messageId: 'msg-0' },
        { disposition: { kind: 'final', detail: ended, stored: true }, messageId: 'msg-1' },
      ],
      {},
      { ...ranBefore, endedByCopy: ended },
    ],
    [
      'one that handed the request on to it, past the deadline: it runs, in time',
      [{ disposition: { kind: 'answered-elsewhere', detail, handedOn: true }, messageId: 'msg-1' }],
      { behindOthers: true, pastDeadline: true },
      ranBefore,
    ],
    [
      'none, behind other requests past the deadline: out of time',
      [],
      { behindOthers: true, pastDeadline: true },
      { ownCopyLeftRecord: false, copyRanBefore: false, earlierComesBack: false, outOfTime: true },
    ],
  ])('runs with %s', async (_case, copies, { behindOthers = false, pastDeadline = false }, learnt) => {
    // Prepare
    const seen: DeliveryInfo[] = [];
    const outcome: Disposition = { kind: 'final', detail: ended, stored: true };
    const processor = {
      process: async (_parsed: unknown, info: DeliveryInfo) => {
        seen.push(info);
        return outcome;
      },
    } as unknown as RequestProcessor;
    const later = () => false;
    const deadline = pastDeadline ? Date.now() - 1 : Date.now() + 60_000;
    const info = { redelivered: true, attempt: 2, maxAttempts: 3, deadline, messageId: 'msg-2' };

    // Act
    const turned = await takeTurn(
      processor,
      parseMessageBody(JSON.stringify(REQUEST), 'msg-2'),
      info,
      { copies, behindOthers, later },
      recordingLogger([]),
    );

    // Assess
    expect(turned).toEqual({ disposition: outcome, messageId: 'msg-2' });
    expect(seen).toEqual([{ ...info, laterInBatch: later, ...learnt }]);
  });
});

describe('Batch copies: which deliveries are copies of one request', () => {
  const key = (parameters: Record<string, unknown>) =>
    copyKey({ ...REQUEST, parameters }, 'close-connection');

  it.each<[string, Record<string, unknown>, Record<string, unknown>, boolean]>([
    ['parameters in another order for copies', { a: 1, b: 2, c: 3 }, { c: 3, a: 1, b: 2 }, true],
    [
      'nested objects in another order for copies',
      { a: { y: [{ q: 1, p: 2 }], x: 1 } },
      { a: { x: 1, y: [{ p: 2, q: 1 }] } },
      true,
    ],
    [
      'copies from SOAR runs of their own context',
      { a: 1, context: { run: 1 } },
      { a: 1, context: { run: 2 } },
      true,
    ],
    [
      'a context that is no SOAR context for a parameter that differs',
      { a: 1, context: 'run 1' },
      { a: 1, context: 'run 2' },
      false,
    ],
    [
      'an array and an object of its indexes for other parameters',
      { a: [1, 2] },
      { a: { 0: 1, 1: 2 } },
      false,
    ],
    ['an array in another order for another parameter', { a: [1, 2] }, { a: [2, 1] }, false],
    ['null and an empty object for other parameters', { a: null }, { a: {} }, false],
    ['null and no value for other parameters', { a: null }, {}, false],
  ])('takes %s', (_case, first, second, copies) => {
    // Act
    const same = key(first) === key(second);

    // Assess
    expect(same).toBe(copies);
  });

  it('tells copies of one request by their action too, and records by requestId and action', () => {
    // Act
    const copies = [copyKey(REQUEST, 'close-connection'), copyKey(REQUEST, 'delete-file')];
    const records = [
      recordKey(REQUEST, 'close-connection'),
      recordKey({ ...REQUEST, requestId: 'req-other' }, 'close-connection'),
      recordKey(REQUEST, 'delete-file'),
    ];

    // Assess
    expect(new Set(copies).size).toBe(2);
    expect(new Set(records).size).toBe(3);
  });
});
