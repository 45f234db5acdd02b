// The executor's own contract as the processor relies on it: what it stores, refuses, compares and reports.

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idempotencyKeyPrefix } from '../../../shared/config/state-keys.ts';
import {
  createIdempotentExecutor,
  GZIP_ABOVE_BYTES,
  HeldByAnotherDelivery,
  IDEMPOTENCY_EXPIRES_SECONDS,
  IdempotencyConflict,
  type IdempotencyKey,
  NotRun,
  type StoredOutcome,
  UnreadableRecord,
} from '../../../shared/events/idempotency.ts';
import { PUBLISH_RESERVE_MS } from '../../../shared/events/time-budget.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { fakeIdempotencyTable, type TableCall } from './fixtures.ts';

const dynamo = mockClient(DynamoDBClient);
const TABLE = 'test-state';
const KEY: IdempotencyKey = {
  requestId: 'req-1',
  action: 'close_connection',
  parameters: { connection_id: 'c-1' },
};

let items: Map<string, Record<string, AttributeValue>>;
let failing: TableCall | undefined;
beforeEach(() => {
  dynamo.reset();
  failing = undefined;
  items = fakeIdempotencyTable(dynamo, (call) => {
    if (call === failing)
      throw Object.assign(new Error(`the table failed the ${call}`), { name: 'InternalServerError' });
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const executor = () =>
  createIdempotentExecutor({
    tableName: TABLE,
    keyPrefix: idempotencyKeyPrefix('connections'),
    client: new DynamoDBClient({ region: 'us-east-1' }),
  });

function outcome(
  status: 'success' | 'failed',
  message: string,
  error?: { kind: 'transient'; retryable: boolean },
  parameters: Record<string, unknown> = KEY.parameters,
): StoredOutcome {
  return {
    result: { status, message, parameter: parameters, data: [], summary: {}, ...(error ? { error } : {}) },
    startedAt: 1_700_000_000_000,
    durationMs: 1,
  };
}

const deadline = () => Date.now() + 30_000;

/** The only record's attributes. */
function onlyRecord(): Record<string, AttributeValue> {
  expect(items.size).toBe(1);
  return [...items.values()][0]!;
}

/** A first delivery that completes, then a second execute of the same key: its error. */
async function replayWithData(data: AttributeValue | undefined): Promise<unknown> {
  await executor().execute(KEY, async () => outcome('success', 'closed'), lambdaContext(), deadline());
  const record = onlyRecord();
  if (data === undefined) delete record.data;
  else record.data = data;
  const action = vi.fn(async () => outcome('success', 'again'));
  const error = await executor()
    .execute(KEY, action, lambdaContext(), deadline())
    .then(
      (run) => ({ notThrown: run }),
      (caught: unknown) => caught,
    );
  expect(action).not.toHaveBeenCalled();
  return error;
}

/** Runs `first`, then `second` under the same requestId: whether the second replayed or was refused. */
async function reuse(first: Record<string, unknown>, second: Record<string, unknown>) {
  const ex = executor();
  await ex.execute(
    { ...KEY, parameters: first },
    async () => outcome('success', 'first', undefined, first),
    lambdaContext(),
    deadline(),
  );
  const action = vi.fn(async () => outcome('success', 'second', undefined, second));
  return ex
    .execute({ ...KEY, parameters: second }, action, lambdaContext(), deadline())
    .then((run) => (run.replayed ? 'replayed' : 'ran'))
    .catch((error: unknown) => (error instanceof IdempotencyConflict ? 'conflict' : error));
}

describe('Idempotent executor: stored outcomes', () => {
  it('keeps an outcome of exactly GZIP_ABOVE_BYTES as readable JSON text', async () => {
    const base = outcome('success', '');
    const { parameter: _p, ...result } = base.result;
    const bytes = Buffer.byteLength(JSON.stringify({ ...base, result }));
    const exact = outcome('success', 'x'.repeat(GZIP_ABOVE_BYTES - bytes));
    await executor().execute(KEY, async () => exact, lambdaContext(), deadline());
    const data = onlyRecord().data?.M;
    expect(Object.keys(data ?? {})).toEqual(['json']);
    expect(Buffer.byteLength(data!.json!.S!)).toBe(GZIP_ABOVE_BYTES);
  });
});

describe('Idempotent executor: outcomes over GZIP_ABOVE_BYTES', () => {
  it('keeps a larger outcome gzipped and replays it as it ran', async () => {
    const large = outcome('success', 'x'.repeat(GZIP_ABOVE_BYTES + 1));
    await executor().execute(KEY, async () => large, lambdaContext(), deadline());
    expect(Object.keys(onlyRecord().data?.M ?? {})).toEqual(['gzip']);
    const action = vi.fn(async () => outcome('success', 'again'));
    const replay = await executor().execute(KEY, action, lambdaContext(), deadline());
    expect(action).not.toHaveBeenCalled();
    expect(replay).toEqual({ outcome: large, replayed: true });
  });
});

describe('Idempotent executor: records written before outcomes were kept as text', () => {
  it('replays a record whose data is the outcome itself', async () => {
    const replay = await replayWithData({
      M: {
        result: {
          M: {
            status: { S: 'success' },
            message: { S: 'closed before' },
            data: { L: [] },
            summary: { M: {} },
          },
        },
        startedAt: { N: '1600000000000' },
        durationMs: { N: '7' },
      },
    });
    expect(replay).toEqual({
      notThrown: {
        outcome: {
          result: {
            status: 'success',
            message: 'closed before',
            data: [],
            summary: {},
            parameter: KEY.parameters,
          },
          startedAt: 1_600_000_000_000,
          durationMs: 7,
        },
        replayed: true,
      },
    });
  });
});

describe('Idempotent executor: records it cannot replay', () => {
  it.each([
    ['not an outcome at all', '{"something":"else"}'],
    ['a result without status and message', '{"result":{},"startedAt":1,"durationMs":1}'],
    [
      'a result with an unknown status',
      '{"result":{"status":"maybe","message":"x"},"startedAt":1,"durationMs":1}',
    ],
  ])('refuses a record whose JSON is %s, without replaying it', async (_case, json) => {
    const error = await replayWithData({ M: { json: { S: json } } });
    expect(error).toBeInstanceOf(UnreadableRecord);
    expect((error as Error).message).toContain('(it is not a stored outcome)');
  });
});

describe('Idempotent executor: records without an outcome', () => {
  it.each([
    ['no data attribute', undefined],
    ['a data map with neither key', { M: { other: { S: 'x' } } } as AttributeValue],
  ])('says a record with %s holds neither', async (_case, data) => {
    const error = await replayWithData(data);
    expect(error).toBeInstanceOf(UnreadableRecord);
    expect((error as Error).message).toContain('(it holds neither json nor gzip)');
  });
});

describe('Idempotent executor: damaged records', () => {
  it('names the JSON error of a damaged record', async () => {
    const error = await replayWithData({ M: { json: { S: '{"result":' } } });
    expect(error).toBeInstanceOf(UnreadableRecord);
    expect((error as Error).message).toMatch(/\(.*JSON.*\)/);
    expect((error as Error).message).not.toContain('it is not a stored outcome');
  });
});

describe('Idempotent executor: writes cut by the deadline', () => {
  it('says the delete, not the completed record, timed out after a transient failure', async () => {
    dynamo.on(DeleteItemCommand).callsFake(() => new Promise(() => undefined));
    const run = await executor().execute(
      KEY,
      async () => outcome('failed', 'Tanium did not answer', { kind: 'transient', retryable: true }),
      lambdaContext({ remainingMs: 200 }),
      Date.now() + 200,
    );
    expect(run.replayed).toBe(false);
    expect(run.recordError).toBe(
      'the table did not confirm the delete of the in-progress record before the invocation deadline',
    );
  });
});

describe('Idempotent executor: timers', () => {
  it('leaves no timer behind once the run is over, or after a replay', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    const before = timers();
    const run = await executor().execute(
      KEY,
      async () => outcome('success', 'closed'),
      lambdaContext(),
      deadline(),
    );
    expect(run.recordError).toBeUndefined();
    expect(timers()).toBe(before);
    // the replay path leaves none either
    const replay = await executor().execute(KEY, vi.fn(), lambdaContext(), deadline());
    expect(replay.replayed).toBe(true);
    expect(timers()).toBe(before);
  });
});

describe('Idempotent executor: the parameters a reused requestId must match', () => {
  it('compares a context parameter that is not an object, like any other', async () => {
    expect(await reuse({ connection_id: 'c-1', context: 'a' }, { connection_id: 'c-1', context: 'b' })).toBe(
      'conflict',
    );
  });
  it('leaves out a SOAR context object', async () => {
    expect(
      await reuse(
        { connection_id: 'c-1', context: { artifact_id: '1' } },
        { connection_id: 'c-1', context: { artifact_id: '2' } },
      ),
    ).toBe('replayed');
  });
});

describe('Idempotent executor: parameters named __proto__', () => {
  it("does not take a renamed __proto__ for a parameter named ''", async () => {
    expect(await reuse(JSON.parse('{"__proto__":"x"}'), { '': 'x' })).toBe('conflict');
  });
  it('compares a __proto__ key inside an array beside other items', async () => {
    expect(await reuse(JSON.parse('{"list":[{"__proto__":"x"},2]}'), { list: [{}, 2] })).toBe('conflict');
  });
  it('compares a nested __proto__ key beside another parameter', async () => {
    expect(await reuse(JSON.parse('{"a":{"__proto__":"x"},"b":"y"}'), { a: {}, b: 'y' })).toBe('conflict');
  });
  it('keeps an array an array in the hash when there is a __proto__ key', async () => {
    expect(
      await reuse(
        JSON.parse('{"__proto__":"x","list":["a"]}'),
        JSON.parse('{"__proto__":"x","list":{"0":"a"}}'),
      ),
    ).toBe('conflict');
  });
  it('runs a request with a __proto__ key and a null value', async () => {
    const parameters = JSON.parse('{"__proto__":"x","note":null}');
    const action = vi.fn(async () => outcome('success', 'closed', undefined, parameters));
    const run = await executor().execute({ ...KEY, parameters }, action, lambdaContext(), deadline());
    expect(action).toHaveBeenCalledTimes(1);
    expect(run).toMatchObject({ replayed: false, outcome: { result: { status: 'success' } } });
  });
});

describe('Idempotent executor: parameter names that differ only in case', () => {
  it('replays a copy sending them in the other order', async () => {
    expect(await reuse({ c: 'x', Note: 1, note: 2 }, { note: 2, c: 'x', Note: 1 })).toBe('replayed');
  });
  it('replays a copy sending nested ones in the other order', async () => {
    expect(await reuse({ list: [{ A: 1, a: 2 }] }, { list: [{ a: 2, A: 1 }] })).toBe('replayed');
  });
  it('still tells which value went with which name', async () => {
    expect(await reuse({ Note: 1, note: 2 }, { note: 1, Note: 2 })).toBe('conflict');
  });
  it('still tells them from the same values under other names', async () => {
    expect(await reuse({ Note: 1, note: 2 }, { NOTE: 1, note: 2 })).toBe('conflict');
  });
});

describe('Idempotent executor: what it reports', () => {
  it('reports no record error for a run that could not start when its record was deleted', async () => {
    const reason = new Error('the credentials could not be read');
    const error = await executor()
      .execute(
        KEY,
        async () => {
          throw new NotRun(reason);
        },
        lambdaContext(),
        deadline(),
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotRun);
    expect((error as NotRun).reason).toBe(reason);
    expect((error as NotRun).recordError).toBeUndefined();
    expect(items.size).toBe(0);
  });
});

describe('Idempotent executor: outcomes it could not record', () => {
  it('does not call an outcome it could not record a replay', async () => {
    failing = 'update';
    const action = vi.fn(async () => outcome('success', 'closed'));
    const run = await executor().execute(KEY, action, lambdaContext(), deadline());
    expect(action).toHaveBeenCalledTimes(1);
    expect(run.recordError).toBeDefined();
    expect(run.replayed).toBe(false);
  });
});

describe('Idempotent executor: a request another delivery runs', () => {
  it('refuses a second delivery while the first runs, as a transient failure', async () => {
    let finish: () => void = () => undefined;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const first = executor().execute(
      KEY,
      async () => {
        started();
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
        return outcome('success', 'closed');
      },
      lambdaContext(),
      deadline(),
    );
    await running;
    const second = await executor()
      .execute(KEY, vi.fn(), lambdaContext(), deadline(), 'message-2')
      .catch((caught: unknown) => caught);
    finish();
    await first;
    expect(second).toBeInstanceOf(HeldByAnotherDelivery);
    expect(second).toMatchObject({ kind: 'transient', retryable: true });
  });
});

describe('Idempotent executor: what it keeps and for how long', () => {
  it('keeps a final failure without an error detail, so a redelivery replays it', async () => {
    const refused = outcome('failed', 'refused by Tanium');
    const run = await executor().execute(KEY, async () => refused, lambdaContext(), deadline());
    expect(run).toEqual({ outcome: refused, replayed: false });
    const action = vi.fn(async () => outcome('success', 'again'));
    const replay = await executor().execute(KEY, action, lambdaContext(), deadline());
    expect(action).not.toHaveBeenCalled();
    expect(replay).toEqual({ outcome: refused, replayed: true });
  });

  it('runs and keeps a request with a null parameter', async () => {
    const parameters = { connection_id: 'c-1', note: null };
    const action = vi.fn(async () => outcome('success', 'closed', undefined, parameters));
    const run = await executor().execute({ ...KEY, parameters }, action, lambdaContext(), deadline());
    expect(action).toHaveBeenCalledTimes(1);
    expect(run).toEqual({ outcome: outcome('success', 'closed', undefined, parameters), replayed: false });
    expect(onlyRecord().status?.S).toBe('COMPLETED');
  });

  it('keeps a record for IDEMPOTENCY_EXPIRES_SECONDS unless told otherwise', async () => {
    const before = Math.floor(Date.now() / 1000);
    await executor().execute(KEY, async () => outcome('success', 'closed'), lambdaContext(), deadline());
    const after = Math.ceil(Date.now() / 1000);
    const expiration = Number(onlyRecord().expiration?.N);
    expect(expiration).toBeGreaterThanOrEqual(before + IDEMPOTENCY_EXPIRES_SECONDS);
    expect(expiration).toBeLessThanOrEqual(after + IDEMPOTENCY_EXPIRES_SECONDS);
  });

  it('sends its calls through the DynamoDB client it is given', async () => {
    const client = new DynamoDBClient({ region: 'us-east-1' });
    const given = createIdempotentExecutor({
      tableName: TABLE,
      keyPrefix: idempotencyKeyPrefix('connections'),
      client,
    });
    await given.execute(KEY, async () => outcome('success', 'closed'), lambdaContext(), deadline());
    expect(dynamo.send.thisValues.length).toBeGreaterThan(0);
    expect(dynamo.send.thisValues.every((value) => value === client)).toBe(true);
  });
});

describe('Idempotent executor: the in-progress expiry without a Lambda context', () => {
  /** The in_progress_expiration of the record while the action runs. */
  async function inProgressExpiry(saveBy: number | undefined): Promise<number> {
    let expiry = Number.NaN;
    await executor().execute(
      KEY,
      async () => {
        expiry = Number(onlyRecord().in_progress_expiration?.N);
        return outcome('success', 'closed');
      },
      undefined,
      saveBy,
    );
    return expiry;
  }

  it('lets the record expire with the invocation, PUBLISH_RESERVE_MS after the deadline', async () => {
    const saveBy = Date.now() + 30_000;
    expect(await inProgressExpiry(saveBy)).toBe(saveBy + PUBLISH_RESERVE_MS);
  });

  it("lets the record expire after Lambda's longest invocation when nothing tells its end", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(1_800_000_000_000);
      expect(await inProgressExpiry(undefined)).toBe(1_800_000_000_000 + 15 * 60_000);
    } finally {
      vi.useRealTimers();
    }
  });
});
