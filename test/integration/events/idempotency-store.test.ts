import { randomBytes } from 'node:crypto';
import {
  type AttributeValue,
  DeleteItemCommand,
  DynamoDBClient,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  DEAD_LETTER_RETENTION_DAYS,
  IDEMPOTENCY_RECORD_DAYS,
  SOURCE_QUEUE_RETENTION_DAYS,
} from '../../../shared/config/retention.ts';
import { idempotencyKeyPrefix } from '../../../shared/config/state-keys.ts';
import {
  createIdempotentExecutor,
  HeldByAnotherDelivery,
  type IdempotencyKey,
  type IdempotentExecutor,
  type IdempotentRun,
  RecordNotWritten,
  type StoredOutcome,
  UnreadableRecord,
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
 * A delivery of KEY running its action through `executor` until `finish()`: resolved once its
 * in-progress record is written and the action started.
 */
async function runningDelivery(
  executor: IdempotentExecutor,
  context = lambdaContext(),
  messageId?: string,
): Promise<{ run: Promise<IdempotentRun>; finish: () => void }> {
  const started = signal();
  const finish = signal();
  const run = executor.execute(
    KEY,
    async () => {
      started.open();
      await finish.promise;
      return outcome('success', 'closed');
    },
    context,
    Date.now() + 30_000,
    messageId,
  );
  await started.promise;
  return { run, finish: finish.open };
}

/** Sets attributes of the table's only record, as another writer (or damage) would. */
async function setOnTheRecord(values: Record<string, AttributeValue>): Promise<void> {
  const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
  const names = Object.keys(values);
  await table.client().send(
    new UpdateItemCommand({
      TableName: TABLE,
      Key: { id: Items[0]!.id! },
      UpdateExpression: `SET ${names.map((_, i) => `#a${i} = :v${i}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(names.map((name, i) => [`#a${i}`, name])),
      ExpressionAttributeValues: Object.fromEntries(names.map((name, i) => [`:v${i}`, values[name]!])),
    }),
  );
}

/**
 * A client whose `commandName` calls wait until `release()`: a delete left pending when its invocation
 * gave up on the table, sent only when a frozen sandbox thaws; a replay's extension landing late. With
 * `landsFirst`, a call is sent once before it waits (`landed`), as when its answer is lost and the SDK
 * resends it. `sent` settles once the held call has been answered.
 */
function heldCalls(
  commandName: 'DeleteItemCommand' | 'UpdateItemCommand',
  options: { landsFirst?: boolean } = {},
): {
  client: DynamoDBClient;
  release: () => void;
  landed: Promise<void>;
  sent: Promise<void>;
} {
  const client = new DynamoDBClient({});
  const released = signal();
  const landed = signal();
  const answered = signal();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== commandName) return next(args);
      if (options.landsFirst) {
        await next(args);
        landed.open();
      }
      await released.promise;
      try {
        return await next(args);
      } finally {
        answered.open();
      }
    },
    { step: 'initialize', name: 'holdCalls' },
  );
  return { client, release: released.open, landed: landed.promise, sent: answered.promise };
}

/**
 * Delivery A fails transiently with its in-progress record's delete stuck; its bound gives up after the
 * minimum second and the delete stays pending. Its in-progress record expires with its short invocation.
 */
async function abandonedDelete() {
  const held = heldCalls('DeleteItemCommand');
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

  it.for([
    {
      case: 'a redelivery',
      // A's delete is pending; redelivery B is running the action
      prepare: async () => {
        const held = await abandonedDelete();
        onTestFinished(() => held.client.destroy());
        const executor = createIdempotentExecutor({
          tableName: TABLE,
          keyPrefix: KEY_PREFIX,
          client: table.client(),
        });
        return { held, executor, b: await runningDelivery(executor) };
      },
    },
    {
      case: 'a delivery of the same invocation',
      // Deliveries of one invocation write the same in-progress expiry (the clock is held still so that
      // they do to the millisecond). A fails transiently; its delete lands, its answer is lost, and the
      // SDK's resend is held; a delivery B of the same invocation then runs the action
      prepare: async () => {
        vi.useFakeTimers({ toFake: ['Date'] });
        onTestFinished(() => {
          vi.useRealTimers();
        });
        const context = lambdaContext();
        const held = heldCalls('DeleteItemCommand', { landsFirst: true });
        onTestFinished(() => held.client.destroy());
        const a = createIdempotentExecutor({
          tableName: TABLE,
          keyPrefix: KEY_PREFIX,
          client: held.client,
        }).execute(
          KEY,
          async () => outcome('failed', 'Tanium did not answer', true),
          context,
          Date.now() + 30_000,
        );
        onTestFinished(async () => {
          await a;
        });
        await held.landed;
        const executor = createIdempotentExecutor({
          tableName: TABLE,
          keyPrefix: KEY_PREFIX,
          client: table.client(),
        });
        return { held, executor, b: await runningDelivery(executor, context) };
      },
    },
  ])(
    "does not let A's late delete erase the in-progress record of $case while it runs",
    async ({ prepare }) => {
      // Prepare
      const { held, executor, b } = await prepare();

      // Act: A's delete goes out while B runs, then a duplicate C arrives
      held.release();
      await held.sent;
      const action = vi.fn(async () => outcome('success', 'closed twice'));
      const c = executor.execute(KEY, action, lambdaContext(), Date.now() + 30_000);

      // Assess: C is told to retry later instead of running the action beside B
      await expect(c).rejects.toThrow('is already being processed by another delivery');
      expect(action).not.toHaveBeenCalled();
      b.finish();
      await expect(b.run).resolves.toMatchObject({ replayed: false });
    },
  );

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

describe('Idempotency records in DynamoDB: a put answered after its invocation', () => {
  it("leaves a redelivery's record to that delivery when the earlier put's answer arrives late", async () => {
    // Prepare: one container; invocation 1's put lands, but its answer is held (the sandbox froze), so
    // invocation 1 gives up on the table after the minimum second
    const answered = signal();
    const client = new DynamoDBClient({});
    let held = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        if (context.commandName === 'PutItemCommand' && !held) {
          held = true;
          await answered.promise;
        }
        return output;
      },
      { step: 'deserialize', name: 'holdFirstPutAnswer' },
    );
    const executor = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client });
    const first = await executor
      .execute(
        KEY,
        async () => outcome('success', 'never run'),
        lambdaContext({ remainingMs: 200 }),
        Date.now() + 200,
      )
      .catch((error: unknown) => error);
    expect(first).toMatchObject({ kind: 'transient', retryable: true });
    // Invocation 2, the redelivery, once invocation 1's record has expired: its action runs
    const bRunning = signal();
    const bMayEnd = signal();
    const b = executor.execute(
      KEY,
      async () => {
        bRunning.open();
        await bMayEnd.promise;
        return outcome('failed', 'Tanium did not answer', true);
      },
      lambdaContext(),
      Date.now() + 30_000,
    );
    await bRunning.promise;

    // Act: invocation 1's answer arrives now; then B fails transiently and deletes its own record
    answered.open();
    await new Promise((resolve) => setTimeout(resolve, 100));
    bMayEnd.open();
    const second = await b;

    // Assess: B's record is gone, so the next redelivery runs instead of being held for nobody
    expect(second).toMatchObject({
      replayed: false,
      outcome: { result: { message: 'Tanium did not answer' } },
    });
    expect(second.recordError).toBeUndefined();
    const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
    expect(Items).toEqual([]);
    client.destroy();
  });
});

describe('Idempotency records in DynamoDB: a put whose answer was lost', () => {
  /**
   * A client that loses the answer to its first PutItem after DynamoDB wrote it, so the SDK resends it;
   * `meanwhile` runs between the two (another writer's turn).
   */
  function firstPutAnswerLost(meanwhile: () => Promise<void> = async () => undefined): DynamoDBClient {
    const client = new DynamoDBClient({});
    let lost = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        if (context.commandName === 'PutItemCommand' && !lost) {
          lost = true;
          await meanwhile();
          throw Object.assign(new Error('the connection dropped before the answer'), {
            name: 'TimeoutError',
            $metadata: {},
          });
        }
        return output;
      },
      // Inside the SDK's retry loop, as a lost answer is.
      { step: 'deserialize', name: 'loseFirstPutAnswer' },
    );
    return client;
  }

  it('runs the action under the record its own resent put found, instead of waiting for nobody', async () => {
    // Prepare
    const client = firstPutAnswerLost();
    const executor = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client });
    const action = vi.fn(async () => outcome('success', 'closed'));

    // Act
    const run = await executor.execute(KEY, action, lambdaContext(), Date.now() + 30_000);
    const replay = await createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: table.client(),
    }).execute(KEY, vi.fn(), lambdaContext(), Date.now() + 30_000);

    // Assess: it ran once, and its result was recorded for the next delivery
    expect(action).toHaveBeenCalledTimes(1);
    expect(run).toMatchObject({ replayed: false, outcome: { result: { message: 'closed' } } });
    expect(run.recordError).toBeUndefined();
    expect(replay).toMatchObject({ replayed: true, outcome: { result: { message: 'closed' } } });
    client.destroy();
  });

  it('replays the result another delivery completed between the lost answer and the resend', async () => {
    // Prepare: the first put is written and its answer lost; before the SDK resends it, another
    // delivery (whose late completion outlived its bound) marks the record completed
    const client = firstPutAnswerLost(() =>
      setOnTheRecord({
        status: { S: 'COMPLETED' },
        data: { M: { json: { S: JSON.stringify(outcome('success', 'closed by the other delivery')) } } },
      }),
    );
    const action = vi.fn(async () => outcome('success', 'closed'));

    // Act
    const run = await createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client }).execute(
      KEY,
      action,
      lambdaContext(),
      Date.now() + 30_000,
    );

    // Assess: a completed record is a result to replay, whoever's claim it carries
    expect(action).not.toHaveBeenCalled();
    expect(run).toMatchObject({
      replayed: true,
      outcome: { result: { message: 'closed by the other delivery' } },
    });
    client.destroy();
  });

  it('still holds a second delivery of the same batch back while the first runs', async () => {
    // Prepare: both deliveries share the invocation, so their records hold the same values (the clock
    // is held still so that they do to the millisecond, as a resent put's do)
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const executor = createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: table.client(),
    });
    const context = lambdaContext();
    const { run: first, finish } = await runningDelivery(executor, context);

    // Act
    const second = vi.fn(async () => outcome('success', 'closed again'));
    const held = await executor
      .execute(KEY, second, context, Date.now() + 30_000)
      .catch((error: unknown) => error);
    finish();
    await first;

    // Assess
    expect(second).not.toHaveBeenCalled();
    expect(held).toBeInstanceOf(HeldByAnotherDelivery);
  });
});

describe('Idempotency records in DynamoDB: which message holds a record', () => {
  it.for([
    { case: 'an SQS message', holder: 'msg-1' as string | undefined },
    { case: 'no SQS message (an EventBridge event)', holder: undefined },
  ])("names the holding delivery's message to a delivery it holds back ($case)", async ({ holder }) => {
    // Prepare: the first delivery runs, its record in progress
    const executor = createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: table.client(),
    });
    const { run: first, finish } = await runningDelivery(executor, lambdaContext(), holder);

    // Act
    const held = await executor
      .execute(KEY, vi.fn(), lambdaContext(), Date.now() + 30_000, 'msg-2')
      .catch((error: unknown) => error);
    finish();
    await first;

    // Assess
    expect(held).toBeInstanceOf(HeldByAnotherDelivery);
    expect((held as HeldByAnotherDelivery).holder).toBe(holder);
  });
});

describe('Idempotency records in DynamoDB: deliveries of one batch', () => {
  it('holds back a second delivery whose put fails before the first put has its answer', async () => {
    // Prepare: the first put is written, but its answer waits until the second put has failed
    const client = new DynamoDBClient({});
    const firstWritten = signal();
    const answerFirst = signal();
    let puts = 0;
    let reads = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetItemCommand') reads++;
        if (context.commandName !== 'PutItemCommand' || ++puts > 1) return next(args);
        const output = await next(args);
        firstWritten.open();
        await answerFirst.promise;
        return output;
      },
      { step: 'deserialize', name: 'holdFirstPutAnswer' },
    );
    const executor = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client });
    const context = lambdaContext();
    const firstAction = vi.fn(async () => outcome('success', 'closed'));
    const first = executor.execute(KEY, firstAction, context, Date.now() + 30_000);
    await firstWritten.promise;

    // Act
    const secondAction = vi.fn(async () => outcome('success', 'closed again'));
    const second = await executor
      .execute(KEY, secondAction, context, Date.now() + 30_000)
      .catch((error: unknown) => error);
    answerFirst.open();
    const firstRun = await first;

    // Assess
    expect(second).toBeInstanceOf(HeldByAnotherDelivery);
    expect(secondAction).not.toHaveBeenCalled();
    expect(firstAction).toHaveBeenCalledTimes(1);
    expect(firstRun.replayed).toBe(false);
    // The failed put's answer held the record: no second read of it
    expect(reads).toBe(0);
    client.destroy();
  });

  it('holds back a later delivery while a record the first could not complete stays in progress', async () => {
    // Prepare: the first delivery runs, but the table refuses its completed record
    const client = new DynamoDBClient({});
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateItemCommand')
          throw Object.assign(new Error('refused'), { name: 'ValidationException', $metadata: {} });
        return next(args);
      },
      { step: 'initialize', name: 'refuseUpdates' },
    );
    const executor = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client });
    const context = lambdaContext();
    const first = await executor.execute(
      KEY,
      async () => outcome('success', 'closed'),
      context,
      Date.now() + 30_000,
    );

    // Act
    const laterAction = vi.fn(async () => outcome('success', 'closed again'));
    const later = await executor
      .execute(KEY, laterAction, context, Date.now() + 30_000)
      .catch((error: unknown) => error);

    // Assess: the action ran once; the record it left in progress is not taken for the later one's own
    expect(first.recordError).toContain('refused');
    expect(later).toBeInstanceOf(HeldByAnotherDelivery);
    expect(laterAction).not.toHaveBeenCalled();
    client.destroy();
  });
});

describe('Idempotency records in DynamoDB: when an in-progress record expires', () => {
  const executor = () =>
    createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client: table.client() });

  /** The in-progress expiry of the table's only record, as the action sees it while it runs. */
  async function expiryWhileRunning(context: Parameters<IdempotentExecutor['execute']>[2], saveBy?: number) {
    let expiry: string | undefined;
    await executor().execute(
      KEY,
      async () => {
        const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
        expiry = Items[0]?.in_progress_expiration?.N;
        return outcome('success', 'closed');
      },
      context,
      saveBy,
    );
    return Number(expiry);
  }

  it('writes no record for an invocation with no time left, where Powertools would give it no expiry', async () => {
    // Prepare: a Lambda context at its end (Powertools then writes an in-progress record without an
    // expiry, which would hold the request for the record's 21 days)
    const action = vi.fn(async () => outcome('success', 'closed'));

    // Act
    const failure = await executor()
      .execute(KEY, action, lambdaContext({ remainingMs: 0 }), Date.now())
      .catch((error: unknown) => error);

    // Assess: a transient failure saying why, nothing run, nothing left in the table
    expect(failure).toBeInstanceOf(RecordNotWritten);
    expect(failure).toMatchObject({
      kind: 'transient',
      retryable: true,
      message: "The invocation ran out of time before the request's idempotency record could be written",
    });
    expect(action).not.toHaveBeenCalled();
    const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
    expect(Items).toEqual([]);
  });

  it.for([
    {
      case: 'the deadline it was given, and the publishing reserve after it',
      saveBy: 60_000,
      expected: 65_000,
    },
    { case: "Lambda's longest invocation when it was given none", saveBy: undefined, expected: 15 * 60_000 },
  ])('expires a record written without a Lambda context at $case', async ({ saveBy, expected }) => {
    // Prepare
    const now = Date.now();

    // Act
    const expiry = await expiryWhileRunning(undefined, saveBy === undefined ? undefined : now + saveBy);

    // Assess: within the second the run took to start
    expect(expiry - now).toBeGreaterThanOrEqual(expected);
    expect(expiry - now).toBeLessThan(expected + 1_000);
  });

  it("expires a record written with a Lambda context at the invocation's end", async () => {
    // Prepare
    const now = Date.now();

    // Act
    const expiry = await expiryWhileRunning(lambdaContext({ remainingMs: 40_000 }), now + 35_000);

    // Assess: the context's end (which counts from its creation, a moment after \`now\`), not 15 minutes
    expect(expiry - now).toBeGreaterThanOrEqual(39_000);
    expect(expiry - now).toBeLessThan(41_000);
  });
});

describe('Idempotency records in DynamoDB: what a record keeps', () => {
  const executor = () =>
    createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client: table.client() });

  /** A get file result item as the vault builds it, with its own random hashes. */
  function storedFile(n: number): Record<string, unknown> {
    const hex = (bytes: number) => randomBytes(bytes).toString('hex');
    const [sha1, sha256, md5] = [hex(20), hex(32), hex(16)];
    return {
      vault_id: sha1,
      name: `extracted-file-${n}.bin`,
      size: 1000 + n,
      hash: sha1,
      sha1,
      sha256,
      md5,
      archive_name: 'evidence.zip',
      archive_size: 123_456_789,
      file_id: 'file-evidence-1',
      mime_type: 'application/octet-stream',
      metadata: {
        sha1,
        sha256,
        md5,
        size: 1000 + n,
        archive_size: 123_456_789,
        contains: [],
        action: 'get file',
      },
      bucket: 'tanium-tr-vault',
      key: `vault/${sha1}`,
      already_stored: false,
      is_archive: false,
    };
  }

  it('records and replays a result larger than a DynamoDB item holds as JSON (get file of 1,000 files)', async () => {
    // Prepare
    const big = outcome('success', 'Stored 1000 files');
    big.result.data = Array.from({ length: 1000 }, (_, n) => storedFile(n));
    expect(Buffer.byteLength(JSON.stringify(big))).toBeGreaterThan(400 * 1024);

    // Act
    const run = await executor().execute(KEY, async () => big, lambdaContext(), Date.now() + 30_000);
    const replay = await executor().execute(KEY, vi.fn(), lambdaContext(), Date.now() + 30_000);

    // Assess
    expect(run.recordError).toBeUndefined();
    expect(replay.replayed).toBe(true);
    expect(replay.outcome).toEqual(big);
  });

  it('records what JSON keeps of values DynamoDB would refuse (undefined, numbers beyond 2^53)', async () => {
    // Prepare
    const odd = outcome('success', 'closed');
    odd.result.summary = { total: 1.5e300, note: undefined };

    // Act
    const run = await executor().execute(KEY, async () => odd, lambdaContext(), Date.now() + 30_000);
    const replay = await executor().execute(KEY, vi.fn(), lambdaContext(), Date.now() + 30_000);

    // Assess
    expect(run.recordError).toBeUndefined();
    expect(replay.outcome.result.summary).toEqual({ total: 1.5e300 });
  });

  it('replays a record written before outcomes were kept as text', async () => {
    // Prepare: a completed record whose outcome is the DynamoDB map the earlier format stored
    await executor().execute(
      KEY,
      async () => outcome('success', 'closed'),
      lambdaContext(),
      Date.now() + 30_000,
    );
    await setOnTheRecord({
      data: {
        M: {
          result: {
            M: {
              status: { S: 'success' },
              message: { S: 'closed earlier' },
              data: { L: [] },
              summary: { M: {} },
            },
          },
          startedAt: { N: '1700000000000' },
          durationMs: { N: '12' },
        },
      },
    });
    const action = vi.fn(async () => outcome('success', 'closed again'));

    // Act
    const replay = await executor().execute(KEY, action, lambdaContext(), Date.now() + 30_000);

    // Assess
    expect(action).not.toHaveBeenCalled();
    expect(replay).toMatchObject({
      replayed: true,
      outcome: { result: { message: 'closed earlier', parameter: KEY.parameters }, durationMs: 12 },
    });
  });

  it('reports a completed record it cannot read as an uncertain outcome, without running the action', async () => {
    // Prepare: a completed record whose stored outcome was damaged
    await executor().execute(
      KEY,
      async () => outcome('success', 'closed'),
      lambdaContext(),
      Date.now() + 30_000,
    );
    await setOnTheRecord({ data: { M: { json: { S: '{"result":' } } } });
    const action = vi.fn(async () => outcome('success', 'closed again'));

    // Act
    const error = await executor()
      .execute(KEY, action, lambdaContext(), Date.now() + 30_000)
      .catch((caught: unknown) => caught);

    // Assess
    expect(action).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(UnreadableRecord);
    expect(error).toMatchObject({ kind: 'unknown_outcome', retryable: false });
    expect((error as Error).message).toMatch(
      /^Request req-late-delete ran 'close connection' before, but its stored result cannot be read \(.+\)\. The request may have been processed by Tanium; check before running it again\.$/,
    );
  });
});

describe('Idempotency records in DynamoDB: how long a record lives', () => {
  const executor = () =>
    createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client: table.client() });
  const DAY = 86_400;

  /** The `expiration` (epoch seconds) of the table's only record. */
  async function expiration(): Promise<number> {
    const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
    expect(Items).toHaveLength(1);
    return Number(Items[0]?.expiration?.N);
  }

  /** The request's record, completed by a first delivery that closed the connection. */
  const completed = () =>
    executor().execute(KEY, async () => outcome('success', 'closed'), lambdaContext(), Date.now() + 30_000);

  /** A completed record a day from its end (completed 20 days ago); its expiration. */
  async function completedNearItsEnd(): Promise<number> {
    await completed();
    const nearItsEnd = Math.floor(Date.now() / 1000) + DAY;
    await setOnTheRecord({ expiration: { N: String(nearItsEnd) } });
    return nearItsEnd;
  }

  it('outlives every message that could still run its request: a DLQ message redriven on its last day', async () => {
    // Act
    const now = Date.now() / 1000;
    await completed();

    // Assess: the DLQ keeps a message 14 days, and a redrive gives it up to 4 more in the family queue
    expect(await expiration()).toBeGreaterThan(
      now + (DEAD_LETTER_RETENTION_DAYS + SOURCE_QUEUE_RETENTION_DAYS) * DAY,
    );
  });

  it('is extended by a replay, so a request sent round the DLQ again still finds it', async () => {
    // Prepare
    const nearItsEnd = await completedNearItsEnd();

    // Act
    const action = vi.fn(async () => outcome('success', 'closed again'));
    const replay = await executor().execute(KEY, action, lambdaContext(), Date.now() + 30_000);

    // Assess: the extension is not waited for by the replay, so it is looked for until it lands
    expect(action).not.toHaveBeenCalled();
    expect(replay).toMatchObject({ replayed: true, outcome: { result: { message: 'closed' } } });
    await vi.waitFor(async () =>
      expect(await expiration()).toBeGreaterThan(nearItsEnd + (IDEMPOTENCY_RECORD_DAYS - 2) * DAY),
    );
  });

  it('replays without waiting for the extension, which a slow table would turn into a retry', async () => {
    // Prepare: a completed record; then a table whose UpdateItem calls hang until released
    await completed();
    const client = new DynamoDBClient({});
    const released = signal();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateItemCommand') await released.promise;
        return next(args);
      },
      { step: 'initialize', name: 'holdUpdates' },
    );
    const slow = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client });

    // Act: a redelivery with the least time the bound gives (1 s)
    const action = vi.fn(async () => outcome('success', 'closed again'));
    const replay = await slow.execute(KEY, action, lambdaContext({ remainingMs: 100 }), Date.now() + 100);
    released.open();

    // Assess
    expect(action).not.toHaveBeenCalled();
    expect(replay).toMatchObject({ replayed: true, outcome: { result: { message: 'closed' } } });
    client.destroy();
  });

  it('is not extended by a reused requestId with other parameters, which is refused', async () => {
    // Prepare: a client that counts the UpdateItem calls it starts
    const nearItsEnd = await completedNearItsEnd();
    const client = new DynamoDBClient({});
    onTestFinished(() => client.destroy());
    const updates: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateItemCommand') updates.push(context.commandName);
        return next(args);
      },
      { step: 'initialize', name: 'countUpdates' },
    );

    // Act
    const other = { ...KEY, parameters: { connection_id: 'c-2' } };
    const refused = createIdempotentExecutor({ tableName: TABLE, keyPrefix: KEY_PREFIX, client }).execute(
      other,
      async () => outcome('success', 'other'),
      lambdaContext(),
      Date.now() + 30_000,
    );

    // Assess: the extension, not awaited, would have started by the next turn of the event loop
    await expect(refused).rejects.toThrow('was already used for');
    await new Promise((resolve) => setImmediate(resolve));
    expect(updates).toEqual([]);
    expect(await expiration()).toBe(nearItsEnd);
  });

  /** A replay whose extension is held until `release()`; the record as it was replayed. */
  async function replayExtendedLate() {
    await completed();
    const held = heldCalls('UpdateItemCommand');
    onTestFinished(() => held.client.destroy());
    const replay = await createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: KEY_PREFIX,
      client: held.client,
    }).execute(KEY, async () => outcome('success', 'closed again'), lambdaContext(), Date.now() + 30_000);
    expect(replay.replayed).toBe(true);
    const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
    return { held, record: Items[0]! };
  }

  it('is not brought back by an extension landing after the record was deleted (expired)', async () => {
    // Prepare: DynamoDB's TTL deletes the record while the extension is on its way
    const { held, record } = await replayExtendedLate();
    await table.client().send(new DeleteItemCommand({ TableName: TABLE, Key: { id: record.id! } }));

    // Act
    held.release();
    await held.sent;

    // Assess: an item with only an id and an expiration would block the key for 21 days
    const { Items = [] } = await table.client().send(new ScanCommand({ TableName: TABLE }));
    expect(Items).toEqual([]);
  });

  const expired = { N: '100' };
  it.each([
    [
      'in progress: another delivery runs the request anew',
      { status: { S: 'INPROGRESS' }, expiration: expired },
    ],
    [
      'completed for other parameters: the request id reused once the record had expired',
      { validation: { S: 'another-hash' }, expiration: expired },
    ],
    [
      'extended further by a later replay, whose extension landed first',
      { expiration: { N: String(Math.floor(Date.now() / 1000) + IDEMPOTENCY_RECORD_DAYS * DAY + 60) } },
    ],
  ])('leaves a record %s alone when the extension lands late', async (_case, values) => {
    // Prepare
    const { held } = await replayExtendedLate();
    await setOnTheRecord(values);

    // Act
    held.release();
    await held.sent;

    // Assess
    expect(await expiration()).toBe(Number(values.expiration.N));
  });
});
