import { ChangeMessageVisibilityBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  delayRedeliveries,
  longestRedeliveryDelaySeconds,
  queueUrlFor,
  queueUrlFromArn,
  redeliveryDelaySeconds,
} from '../../../shared/events/redelivery-backoff.ts';
import { type LogLine, recordingLogger } from './fixtures.ts';

describe('Redelivery backoff', () => {
  it('derives the queue URL from the event source ARN, in the China partition too', () => {
    expect(queueUrlFromArn('arn:aws:sqs:eu-west-1:111122223333:tanium-tr-prod-connections')).toBe(
      'https://sqs.eu-west-1.amazonaws.com/111122223333/tanium-tr-prod-connections',
    );
    expect(queueUrlFromArn('arn:aws-cn:sqs:cn-north-1:111122223333:q')).toBe(
      'https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q',
    );
    expect(queueUrlFromArn('arn:aws:sns:eu-west-1:111122223333:topic')).toBeUndefined();
    expect(queueUrlFromArn('not an arn')).toBeUndefined();
  });

  it.each([
    ['another scheme', 'urn:aws:sqs:eu-west-1:111122223333:q'],
    ['a part too many', 'arn:aws:sqs:eu-west-1:111122223333:q:extra'],
    ['no region', 'arn:aws:sqs::111122223333:q'],
    ['no account', 'arn:aws:sqs:eu-west-1::q'],
    ['no name', 'arn:aws:sqs:eu-west-1:111122223333:'],
  ])('builds no queue URL from an ARN with %s', (_, arn) => {
    expect(queueUrlFromArn(arn)).toBeUndefined();
  });

  it("takes the configured queue URL for that queue's records, in a partition whose domain the ARN does not give", () => {
    const isoArn = 'arn:aws-iso:sqs:us-iso-east-1:111122223333:tanium-tr-prod-evidence';
    const isoUrl = 'https://sqs.us-iso-east-1.c2s.ic.gov/111122223333/tanium-tr-prod-evidence';
    expect(queueUrlFor(isoArn, isoUrl)).toBe(isoUrl);
    // Another queue's record (another name or account), or no usable setting: built from the ARN.
    expect(queueUrlFor('arn:aws:sqs:us-east-1:111122223333:other', isoUrl)).toBe(
      'https://sqs.us-east-1.amazonaws.com/111122223333/other',
    );
    expect(queueUrlFor('arn:aws:sqs:us-east-1:444455556666:tanium-tr-prod-evidence', isoUrl)).toBe(
      'https://sqs.us-east-1.amazonaws.com/444455556666/tanium-tr-prod-evidence',
    );
    expect(queueUrlFor('arn:aws:sqs:us-east-1:111122223333:q', 'not a url')).toBe(
      'https://sqs.us-east-1.amazonaws.com/111122223333/q',
    );
    expect(queueUrlFor('arn:aws:sqs:us-east-1:111122223333:q', undefined)).toBe(
      'https://sqs.us-east-1.amazonaws.com/111122223333/q',
    );
    // Neither names a queue: two paths that cannot be read are no match.
    expect(queueUrlFor('not an arn', 'not a url')).toBeUndefined();
  });

  it('doubles the backoff per attempt and leaves what would reach the queue timeout to the queue', () => {
    const timing = { queueTimeoutSeconds: 720, remainingMs: 100_000 };
    const delays = [1, 2, 3, 4, 5].map((attempt) =>
      redeliveryDelaySeconds({ attempt, recordMayRemain: false }, timing),
    );

    expect(delays).toEqual([30, 60, 120, 240, 480]);
    expect(redeliveryDelaySeconds({ attempt: 6, recordMayRemain: false }, timing)).toBeUndefined();
  });

  it("waits at least Tanium's Retry-After, and leaves a longer one than the queue timeout to the queue", () => {
    const timing = { queueTimeoutSeconds: 720, remainingMs: 100_000 };
    const delay = (attempt: number, retryAfterMs: number) =>
      redeliveryDelaySeconds({ attempt, recordMayRemain: false, retryAfterMs }, timing);

    expect(delay(1, 300_500)).toBe(301);
    // The backoff when it is the longer.
    expect(delay(4, 10_000)).toBe(240);
    expect(delay(1, 720_000)).toBeUndefined();
  });

  it('never hides a record longer than the longest delay the stack counts on, whatever asks for longer', () => {
    // Prepare: the stack's retry-span check adds this to each attempt (infra/queue-timing.ts)
    const timing = { queueTimeoutSeconds: 720, remainingMs: 900_000 };
    const longest = longestRedeliveryDelaySeconds(720);

    // Act
    const delays = [1, 5, 6].flatMap((attempt) =>
      [false, true].flatMap((recordMayRemain) =>
        [undefined, 718_500, 719_000, 719_001, 3_600_000].map((retryAfterMs) =>
          redeliveryDelaySeconds(
            { attempt, recordMayRemain, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
            timing,
          ),
        ),
      ),
    );

    // Assess: a Retry-After just under the queue timeout is honoured, at that longest
    expect(longest).toBe(719);
    expect(delays).toContain(longest);
    expect(delays.every((delay) => delay === undefined || delay <= longest)).toBe(true);
  });

  it("leaves a record stopped by another delivery's in-progress record to the queue", () => {
    expect(
      redeliveryDelaySeconds(
        { attempt: 1, recordMayRemain: true, heldElsewhere: true },
        { queueTimeoutSeconds: 720, remainingMs: 10_000 },
      ),
    ).toBeUndefined();
  });

  it('waits out the invocation when an in-progress record may remain, and gives up without a context', () => {
    expect(
      redeliveryDelaySeconds(
        { attempt: 1, recordMayRemain: true },
        { queueTimeoutSeconds: 720, remainingMs: 100_500 },
      ),
    ).toBe(102);
    expect(
      redeliveryDelaySeconds(
        { attempt: 1, recordMayRemain: true },
        { queueTimeoutSeconds: 720, remainingMs: undefined },
      ),
    ).toBeUndefined();
    expect(
      redeliveryDelaySeconds(
        { attempt: 1, recordMayRemain: false },
        { queueTimeoutSeconds: 720, remainingMs: undefined },
      ),
    ).toBe(30);
  });
});

describe('Redelivery backoff: the visibility changes', () => {
  const sqs = mockClient(SQSClient);
  const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/111122223333/q';
  const redelivery = (messageId: string, eventSourceARN = 'arn:aws:sqs:us-east-1:111122223333:q') => ({
    messageId,
    receiptHandle: `handle-${messageId}`,
    eventSourceARN,
    attempt: 1,
    recordMayRemain: false,
  });
  const timing = { queueTimeoutSeconds: 720, remainingMs: 100_000 };

  afterEach(() => {
    sqs.reset();
  });

  it('delays the records of a queue and warns about one whose event source ARN names no queue', async () => {
    // Prepare
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    const lines: LogLine[] = [];

    // Act
    await delayRedeliveries(
      () => new SQSClient({}),
      [redelivery('msg-a'), redelivery('msg-odd', 'not an arn')],
      { ...timing, logger: recordingLogger(lines) },
    );

    // Assess: no call goes to a queue nobody named
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, Entries: [{ Id: '0', ReceiptHandle: 'handle-msg-a', VisibilityTimeout: 30 }] },
    ]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        extra: { messageIds: ['msg-odd'], reason: "the event source ARN 'not an arn' names no queue" },
      }),
    ]);
  });

  it('warns about the refused records SQS names, and does not throw over a refusal it names by an Id never sent', async () => {
    // Prepare: the second entry is refused, and so is an entry '7' this call never had
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({
      Successful: [{ Id: '0' }],
      Failed: [
        { Id: '1', Code: 'ReceiptHandleIsInvalid', Message: 'expired', SenderFault: true },
        { Id: '7', Code: 'InternalError', SenderFault: false },
      ],
    });
    const lines: LogLine[] = [];

    // Act
    await delayRedeliveries(() => new SQSClient({}), [redelivery('msg-a'), redelivery('msg-b')], {
      ...timing,
      logger: recordingLogger(lines),
    });

    // Assess: a refusal that names no record of ours has no record to warn about
    expect(lines).toEqual([
      {
        level: 'warn',
        message:
          'Could not delay the redelivery of failed records; they come back after the queue visibility timeout',
        extra: { messageIds: ['msg-b'], reason: 'ReceiptHandleIsInvalid: expired' },
      },
    ]);
  });

  it('warns, naming every record, when no SQS client can be built, and does not throw', async () => {
    // Prepare
    const lines: LogLine[] = [];
    const noClient = () => {
      throw new Error('Region is missing');
    };

    // Act
    await delayRedeliveries(noClient, [redelivery('msg-a'), redelivery('msg-b')], {
      ...timing,
      logger: recordingLogger(lines),
    });

    // Assess
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        extra: { messageIds: ['msg-a', 'msg-b'], reason: expect.stringMatching(/Region is missing/) },
      }),
    ]);
  });
});
