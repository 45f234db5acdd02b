import { ChangeMessageVisibilityBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CALLS_AT_ONCE, changeVisibility } from '../../../shared/events/sqs-visibility.ts';
import { sendOptions } from '../../helpers/sdk-mock.ts';

const sqs = mockClient(SQSClient);
const URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/q';
const changes = (count: number) =>
  Array.from({ length: count }, (_, index) => ({ receiptHandle: `h${index}`, seconds: 30 + index }));

describe('SQS visibility changes', () => {
  afterEach(() => {
    sqs.reset();
  });

  it('sends ten entries a call and names a refused entry by its place in the whole list', async () => {
    // Prepare: the second call refuses its second entry (the twelfth change)
    sqs
      .on(ChangeMessageVisibilityBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [] })
      .resolvesOnce({
        Successful: [],
        Failed: [{ Id: '1', Code: 'ReceiptHandleIsInvalid', Message: 'expired', SenderFault: true }],
      });

    // Act
    const failures = await changeVisibility(new SQSClient({}), URL, changes(12));

    // Assess
    const calls = sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.Entries?.map((entry) => entry.ReceiptHandle))).toEqual([
      changes(10).map((change) => change.receiptHandle),
      ['h10', 'h11'],
    ]);
    expect(calls[1]?.Entries?.[1]).toEqual({ Id: '1', ReceiptHandle: 'h11', VisibilityTimeout: 41 });
    expect(failures).toEqual([{ index: 11, reason: 'ReceiptHandleIsInvalid: expired' }]);
  });

  it.each([
    [0, 0],
    [10, 1],
    [11, 2],
    [20, 2],
  ])('sends %i changes in %i calls, none of them empty', async (count, calls) => {
    // Prepare
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });

    // Act
    const failures = await changeVisibility(new SQSClient({}), URL, changes(count));

    // Assess
    const sent = sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input);
    expect(sent).toHaveLength(calls);
    expect(sent.flatMap((input) => input.Entries ?? [])).toHaveLength(count);
    expect(failures).toEqual([]);
  });

  it('keeps CALLS_AT_ONCE calls in flight at most, and makes every change', async () => {
    // Prepare: each call answers a little later, counting the calls in flight
    let inFlight = 0;
    let most = 0;
    sqs.on(ChangeMessageVisibilityBatchCommand).callsFake(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      return { Successful: [], Failed: [] };
    });

    // Act: a dry run's release of a thousand messages
    const failures = await changeVisibility(new SQSClient({}), URL, changes(1000));

    // Assess
    const sent = sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input);
    expect(sent.flatMap((input) => input.Entries ?? []).map((entry) => entry.ReceiptHandle)).toEqual(
      changes(1000).map((change) => change.receiptHandle),
    );
    expect(most).toBe(CALLS_AT_ONCE);
    expect(failures).toEqual([]);
  });

  it("names a failed call's entries by their place in the whole list, in order, past the first calls", async () => {
    // Prepare: the 12th and 25th calls fail whole
    let call = 0;
    sqs.on(ChangeMessageVisibilityBatchCommand).callsFake(async () => {
      call++;
      if (call === 12 || call === 25)
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return { Successful: [], Failed: [] };
    });

    // Act
    const failures = await changeVisibility(new SQSClient({}), URL, changes(250));

    // Assess
    expect(failures.map((failure) => failure.index)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => 110 + i),
      ...Array.from({ length: 10 }, (_, i) => 240 + i),
    ]);
  });

  it('names a refused entry by its code alone when SQS sends no message', async () => {
    // Prepare
    sqs
      .on(ChangeMessageVisibilityBatchCommand)
      .resolves({ Successful: [], Failed: [{ Id: '0', Code: 'ReceiptHandleIsInvalid', SenderFault: true }] });

    // Act
    const failures = await changeVisibility(new SQSClient({}), URL, changes(1));

    // Assess: the code alone, nothing trailing it
    expect(failures).toEqual([{ index: 0, reason: 'ReceiptHandleIsInvalid' }]);
  });

  it('passes the abort signal to every call, and no signal when it has none', async () => {
    // Prepare
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    const window = new AbortController();

    // Act
    await changeVisibility(new SQSClient({}), URL, changes(11), window.signal);
    await changeVisibility(new SQSClient({}), URL, changes(1));

    // Assess
    const options = sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map(sendOptions);
    expect(options).toEqual([{ abortSignal: window.signal }, { abortSignal: window.signal }, {}]);
  });

  it('takes an answer that leaves out its Failed list for every change made', async () => {
    // The SDK's answer type allows the list to be missing, as an empty list may be left out.
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [{ Id: '0' }, { Id: '1' }] });

    const failures = await changeVisibility(new SQSClient({}), URL, changes(2));

    expect(failures).toEqual([]);
  });

  it('fails every entry of a call that fails, with its error, and never throws', async () => {
    sqs
      .on(ChangeMessageVisibilityBatchCommand)
      .rejects(Object.assign(new Error('Access to the resource is denied'), { name: 'AccessDenied' }));

    const failures = await changeVisibility(new SQSClient({}), URL, changes(3));

    expect(failures.map((failure) => failure.index)).toEqual([0, 1, 2]);
    expect(failures[0]?.reason).toMatch(/Access to the resource is denied/);
  });
});
