import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ResultListener } from '../../../cli/local/result-listener.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';

const QUEUE = {
  url: 'http://127.0.0.1:5000/123456789012/tanium-tr-local-results',
  arn: 'arn:aws:sqs:us-east-1:123456789012:tanium-tr-local-results',
};

const sqs = mockClient(SQSClient);
const client = new SQSClient({ region: 'us-east-1' });

function detail(requestId: string, message = 'done'): ResultDetail {
  return {
    requestId,
    action: 'list connections',
    status: 'success',
    message,
    parameter: {},
    data: [],
    context: {},
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1,
  };
}

/** An `Action Result` event as the bus rule puts it on the results queue. */
function resultMessage(id: string, body: unknown): Message {
  return {
    MessageId: id,
    ReceiptHandle: `handle-${id}`,
    Body: typeof body === 'string' ? body : JSON.stringify({ 'detail-type': 'Action Result', detail: body }),
  };
}

/** The receipt handles of every DeleteMessageBatch call, in order. */
function deletedHandles(): string[][] {
  return sqs
    .commandCalls(DeleteMessageBatchCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map((entry) => entry.ReceiptHandle ?? ''));
}

/**
 * Answers each receive with the next batch and aborts once the last one was handed out, so that `run`
 * returns after handling every batch.
 */
function receives(controller: AbortController, batches: Message[][]): void {
  let next = 0;
  sqs.on(ReceiveMessageCommand).callsFake(async () => {
    const batch = batches[next] ?? [];
    next += 1;
    if (next >= batches.length) controller.abort();
    return { Messages: batch };
  });
}

beforeEach(() => {
  sqs.reset();
  sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('ResultListener.run', () => {
  it('receives with a one-second wait and the abort signal, until the signal aborts', async () => {
    const controller = new AbortController();
    receives(controller, [[], [], []]);
    const send = vi.spyOn(client, 'send');

    await new ResultListener(client, QUEUE).run(controller.signal);

    const calls = sqs.commandCalls(ReceiveMessageCommand);
    expect(calls).toHaveLength(3);
    expect(calls[0]?.args[0].input).toMatchObject({ QueueUrl: QUEUE.url, WaitTimeSeconds: 1 });
    expect(send.mock.calls[0]?.[1]).toEqual({ abortSignal: controller.signal });
  });

  it('does not receive at all once the signal aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    sqs.on(ReceiveMessageCommand).resolves({});

    await new ResultListener(client, QUEUE).run(controller.signal);

    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });

  it('hands every result to onResult, keeps them by request id, and deletes them', async () => {
    const controller = new AbortController();
    receives(controller, [
      [resultMessage('1', detail('req-a', 'first')), resultMessage('2', detail('req-b'))],
      [resultMessage('3', detail('req-a', 'second'))],
    ]);
    const seen: string[] = [];
    const listener = new ResultListener(client, QUEUE, (result) => seen.push(result.requestId));

    await listener.run(controller.signal);

    expect(seen).toEqual(['req-a', 'req-b', 'req-a']);
    expect(listener.resultsFor('req-a').map((result) => result.message)).toEqual(['first', 'second']);
    expect(listener.resultsFor('req-b')).toEqual([detail('req-b')]);
    expect(listener.resultsFor('req-c')).toEqual([]);
    expect(deletedHandles()).toEqual([['handle-1', 'handle-2'], ['handle-3']]);
  });

  it('ends quietly when the receive fails because the signal aborted it', async () => {
    const controller = new AbortController();
    sqs.on(ReceiveMessageCommand).callsFake(async () => {
      controller.abort();
      throw new Error('Request aborted');
    });

    await expect(new ResultListener(client, QUEUE).run(controller.signal)).resolves.toBeUndefined();
  });

  it('passes on a receive failure while it still runs', async () => {
    const controller = new AbortController();
    sqs.on(ReceiveMessageCommand).rejects(new Error('queue does not exist'));

    await expect(new ResultListener(client, QUEUE).run(controller.signal)).rejects.toThrow(
      'queue does not exist',
    );
  });

  it('deletes a batch with messages that are no result, then says what the first one was', async () => {
    const controller = new AbortController();
    const long = `not json ${'x'.repeat(300)}`;
    receives(controller, [
      [
        resultMessage('1', long),
        resultMessage('2', detail('req-a')),
        resultMessage('3', { requestId: 42 }),
        resultMessage('4', 'null'),
      ],
      [],
    ]);
    const listener = new ResultListener(client, QUEUE);

    const error = await listener.run(controller.signal).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );

    expect(error?.message).toBe(`Not an Action Result event on the results queue: ${long.slice(0, 200)}`);
    expect(listener.resultsFor('req-a')).toHaveLength(1);
    expect(deletedHandles()).toEqual([['handle-1', 'handle-2', 'handle-3', 'handle-4']]);
    // It stops at the bad batch instead of reading on.
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
  });

  it('does not take an event whose request id is not a string as a result', async () => {
    const controller = new AbortController();
    receives(controller, [[resultMessage('1', { requestId: 42 })]]);
    const onResult = vi.fn();

    await expect(new ResultListener(client, QUEUE, onResult).run(controller.signal)).rejects.toThrow(
      'Not an Action Result event on the results queue: {"detail-type":"Action Result","detail":{"requestId":42}}',
    );
    expect(onResult).not.toHaveBeenCalled();
  });
});

describe('ResultListener.waitFor', () => {
  it('resolves at once with a result that already arrived', async () => {
    const controller = new AbortController();
    receives(controller, [[resultMessage('1', detail('req-a', 'first'))]]);
    const listener = new ResultListener(client, QUEUE);
    await listener.run(controller.signal);

    await expect(listener.waitFor('req-a', 10)).resolves.toMatchObject({ message: 'first' });
  });

  it('resolves with the count-th result once it arrives, not before', async () => {
    const controller = new AbortController();
    receives(controller, [
      [resultMessage('1', detail('req-a', 'first'))],
      [resultMessage('2', detail('req-b'))],
      [resultMessage('3', detail('req-a', 'second'))],
    ]);
    const listener = new ResultListener(client, QUEUE);
    const settledAfter: number[] = [];
    const second = listener.waitFor('req-a', 5_000, 2).then((result) => {
      settledAfter.push(sqs.commandCalls(DeleteMessageBatchCommand).length);
      return result;
    });

    await listener.run(controller.signal);

    await expect(second).resolves.toMatchObject({ message: 'second' });
    expect(settledAfter).toEqual([3]);
    await expect(listener.waitFor('req-a', 10, 2)).resolves.toMatchObject({ message: 'second' });
  });

  it('resolves every wait for the same request, each with the result it waits for', async () => {
    const controller = new AbortController();
    receives(controller, [
      [resultMessage('1', detail('req-a', 'first'))],
      [resultMessage('2', detail('req-a', 'second'))],
    ]);
    const listener = new ResultListener(client, QUEUE);
    const second = listener.waitFor('req-a', 5_000, 2);
    const first = listener.waitFor('req-a', 5_000);
    const again = listener.waitFor('req-a', 5_000);

    await listener.run(controller.signal);

    await expect(first).resolves.toMatchObject({ message: 'first' });
    await expect(again).resolves.toMatchObject({ message: 'first' });
    await expect(second).resolves.toMatchObject({ message: 'second' });
  });

  it('keeps the other waits for a request when one of them times out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const controller = new AbortController();
    receives(controller, [[resultMessage('1', detail('req-a'))]]);
    const listener = new ResultListener(client, QUEUE);
    const patient = listener.waitFor('req-a', 60_000);
    const hasty = listener.waitFor('req-a', 1_000).catch(() => 'timed out');
    await vi.advanceTimersByTimeAsync(1_000);

    await listener.run(controller.signal);

    expect(await hasty).toBe('timed out');
    await expect(patient).resolves.toMatchObject({ requestId: 'req-a' });
  });

  it('rejects after the timeout, saying where a request that never answered went', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const listener = new ResultListener(client, QUEUE);
    const waiting = listener.waitFor('req-a', 2_600);
    const outcome = waiting.then(
      () => 'resolved',
      (error: Error) => error.message,
    );

    await vi.advanceTimersByTimeAsync(2_599);
    await vi.advanceTimersByTimeAsync(1);

    expect(await outcome).toBe(
      "No result for request req-a within 3 s (a request whose function failed every attempt is in its family's dead-letter queue)",
    );
  });

  it('does not resolve a wait that timed out when its result comes later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const controller = new AbortController();
    receives(controller, [[resultMessage('1', detail('req-a'))]]);
    const listener = new ResultListener(client, QUEUE);
    const waiting = listener.waitFor('req-a', 1_000).catch(() => 'timed out');
    await vi.advanceTimersByTimeAsync(1_000);

    await listener.run(controller.signal);

    expect(await waiting).toBe('timed out');
  });

  it('clears its timer once the result arrived, and is done with later results', async () => {
    const controller = new AbortController();
    receives(controller, [[resultMessage('1', detail('req-a'))], [resultMessage('2', detail('req-a'))]]);
    const listener = new ResultListener(client, QUEUE);
    const clear = vi.spyOn(globalThis, 'clearTimeout');
    const waiting = listener.waitFor('req-a', 60_000);

    await listener.run(controller.signal);

    await expect(waiting).resolves.toMatchObject({ requestId: 'req-a' });
    expect(clear).toHaveBeenCalledOnce();
  });

  it('does not keep the process alive while it waits', () => {
    const set = vi.spyOn(globalThis, 'setTimeout');
    const listener = new ResultListener(client, QUEUE);

    void listener.waitFor('req-a', 60_000).catch(() => undefined);

    const timer = set.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    clearTimeout(timer);
  });
});
