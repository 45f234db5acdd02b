// A copy's turn past the deadline, behind an earlier copy of its request in the batch that goes back to
// the queue: what it carries on decides how long its own message stays hidden (redeliveryDelaySeconds).

import { describe, expect, it } from 'vitest';
import { type Turned, takeTurn } from '../../../shared/events/batch-copies.ts';
import { parseMessageBody } from '../../../shared/events/envelope.ts';
import type { Disposition, RequestProcessor } from '../../../shared/events/processor.ts';
import { failedResult, resultDetail, resultForCopy } from '../../../shared/events/result.ts';
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

/** A processor the turn must not reach: past the deadline, a copy behind another ends unrun. */
const unreachable = {
  process: async () => {
    throw new Error('the copy ran past the deadline');
  },
} as unknown as RequestProcessor;

describe('Batch copies: a turn past the deadline behind a copy that goes back to the queue', () => {
  it.each<[string, Disposition, { recordMayRemain: boolean; heldElsewhere: boolean }]>([
    [
      'whose in-progress record may remain: hidden until the invocation ends',
      { kind: 'retry', detail, error, recordMayRemain: true, heldElsewhere: false },
      { recordMayRemain: true, heldElsewhere: false },
    ],
    [
      "that another delivery's record held: left to the queue's own timeout",
      { kind: 'retry', detail, error, recordMayRemain: false, heldElsewhere: true },
      { recordMayRemain: false, heldElsewhere: true },
    ],
    [
      'held on its last attempt by another delivery: left to the queue timeout too',
      { kind: 'held', detail, error },
      { recordMayRemain: false, heldElsewhere: true },
    ],
  ])('goes back as the copy %s', async (_case, previous, carried) => {
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
      error: expect.objectContaining({
        message: 'The invocation ran out of time before this delivery of the request could run',
        retryable: true,
      }),
      ...carried,
    });
    expect(logs.map((line) => line.level)).toEqual(['warn']);
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
