import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { idempotencyKeyPrefix } from '../../../shared/config/state-keys.ts';
import {
  createIdempotentExecutor,
  type IdempotencyKey,
  type StoredOutcome,
} from '../../../shared/events/idempotency.ts';
import { useMotoStateTable } from '../../helpers/dynamo.ts';
import { lambdaContext } from '../../helpers/lambda.ts';

const TABLE = 'tanium-tr-state';
const KEY_PREFIX = idempotencyKeyPrefix('connections');
const KEY: IdempotencyKey = {
  requestId: 'req-late-delete',
  action: 'close_connection',
  parameters: { connection_id: 'c-1' },
};

const outcome = (status: 'success' | 'failed', message: string, retryable?: boolean): StoredOutcome => ({
  result: {
    status,
    message,
    parameter: KEY.parameters,
    data: [],
    summary: {},
    ...(retryable === undefined ? {} : { error: { kind: 'transient', retryable } }),
  },
  startedAt: Date.now(),
  durationMs: 1,
});

const table = useMotoStateTable(TABLE);

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * A client whose DeleteItem calls wait until `release()`: a delete left pending when its invocation gave
 * up on the table, sent only when a frozen sandbox thaws.
 */
function heldDeletes(): { client: DynamoDBClient; release: () => void; sent: Promise<void> } {
  const client = new DynamoDBClient({});
  const released = signal();
  const deleteSent = signal();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'DeleteItemCommand') return next(args);
      await released.promise;
      try {
        return await next(args);
      } finally {
        deleteSent.open();
      }
    },
    { step: 'initialize', name: 'holdDeletes' },
  );
  return { client, release: released.open, sent: deleteSent.promise };
}

/**
 * Delivery A fails transiently with its in-progress record's delete stuck; its bound gives up after the
 * minimum second and the delete stays pending. Its in-progress record expires with its short invocation.
 */
async function abandonedDelete() {
  const held = heldDeletes();
  const first = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client: held.client });
  const run = await first.execute(
    KEY,
    async () => outcome('failed', 'Tanium did not answer', true),
    lambdaContext({ remainingMs: 200 }),
    Date.now() + 200,
  );
  expect(run.recordError).toContain('did not confirm');
  await new Promise((resolve) => setTimeout(resolve, 300));
  return held;
}

describe('Idempotency records in DynamoDB: a delete that arrives late', () => {
  it('does not erase the result a redelivery completed after the delete was sent', async () => {
    // Prepare: A's delete is pending; redelivery B runs the action and completes the record
    const held = await abandonedDelete();
    const second = createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: table.client(),
    });
    const b = await second.execute(
      KEY,
      async () => outcome('success', 'closed'),
      lambdaContext(),
      Date.now() + 30_000,
    );
    expect(b).toMatchObject({ replayed: false, outcome: { result: { message: 'closed' } } });

    // Act: A's sandbox thaws and its delete goes out
    held.release();
    await held.sent;
    const action = vi.fn(async () => outcome('success', 'closed again'));
    const c = await second.execute(KEY, action, lambdaContext(), Date.now() + 30_000);

    // Assess: a later duplicate still replays B's result, and Tanium is not called a second time
    expect(action).not.toHaveBeenCalled();
    expect(c).toMatchObject({
      replayed: true,
      outcome: { result: { status: 'success', message: 'closed' } },
    });
    held.client.destroy();
  });

  it("does not erase a redelivery's own in-progress record while that delivery runs", async () => {
    // Prepare: A's delete is pending; redelivery B is running the action
    const held = await abandonedDelete();
    const second = createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: table.client(),
    });
    const running = signal();
    const bStarted = signal();
    const b = second.execute(
      KEY,
      async () => {
        bStarted.open();
        await running.promise;
        return outcome('success', 'closed');
      },
      lambdaContext(),
      Date.now() + 30_000,
    );
    await bStarted.promise;

    // Act: A's delete goes out while B runs, then a duplicate C arrives
    held.release();
    await held.sent;
    const action = vi.fn(async () => outcome('success', 'closed twice'));
    const c = second.execute(KEY, action, lambdaContext(), Date.now() + 30_000);

    // Assess: C is told to retry later instead of running the action beside B
    await expect(c).rejects.toThrow('is already being processed by another delivery');
    expect(action).not.toHaveBeenCalled();
    running.open();
    await expect(b).resolves.toMatchObject({ replayed: false });
    held.client.destroy();
  });

  it('still deletes its own in-progress record after a transient failure, so the redelivery runs', async () => {
    // Prepare
    const executor = createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: table.client(),
    });
    await executor.execute(
      KEY,
      async () => outcome('failed', 'Tanium did not answer', true),
      lambdaContext(),
      Date.now() + 30_000,
    );

    // Act
    const action = vi.fn(async () => outcome('success', 'closed'));
    const redelivery = await executor.execute(KEY, action, lambdaContext(), Date.now() + 30_000);

    // Assess
    expect(action).toHaveBeenCalledTimes(1);
    expect(redelivery).toMatchObject({ replayed: false, outcome: { result: { message: 'closed' } } });
  });
});
