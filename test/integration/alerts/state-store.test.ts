import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { LeaseLostError } from '../../../shared/alerts/errors.ts';
import { DynamoStateStore, stateKey } from '../../../shared/alerts/state-store.ts';
import type { Checkpoint } from '../../../shared/alerts/types.ts';
import { useMotoStateTable } from '../../helpers/dynamo.ts';
import { failure } from '../../helpers/failure.ts';

const TABLE = 'tanium-tr-state';
const NOW = 1_700_000_000_000;
const checkpoint = (floor: number): Checkpoint => ({ floor, recent: [[floor, [1, 2]]] });

const table = useMotoStateTable(TABLE);

/**
 * A client whose first update with a condition containing `condition` lands in DynamoDB but loses its
 * answer (a reset), so the SDK sends it again; `sent()` counts those updates.
 */
function losingFirstAnswer(condition: string): { client: DynamoDBClient; sent: () => number } {
  const client = new DynamoDBClient({ maxAttempts: 3 });
  let sent = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const input = args.input as { ConditionExpression?: string };
      if (input.ConditionExpression?.includes(condition) && ++sent === 1) {
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
      }
      return result;
    },
    { step: 'finalizeRequest', name: 'loseFirstAnswer', priority: 'low' },
  );
  return { client, sent: () => sent };
}
let store: DynamoStateStore;

beforeEach(() => {
  store = new DynamoStateStore(table.client(), TABLE, stateKey('default'));
});

describe('Poller state in DynamoDB: the lease and fenced saves', () => {
  it('gives the lease to one run at a time, and to another once it expired', async () => {
    // Act
    const first = await store.acquire('run-a', NOW + 60_000, NOW);
    const whileHeld = await store.acquire('run-b', NOW + 60_000, NOW + 1_000);
    const afterExpiry = await store.acquire('run-b', NOW + 200_000, NOW + 61_000);

    // Assess: nothing was saved, so the second run learns when the first one started
    expect(first).toEqual({ checkpoint: undefined, version: 0, unsavedSince: NOW });
    expect(whileHeld).toBeUndefined();
    expect(afterExpiry).toEqual({ checkpoint: undefined, version: 0, unsavedSince: NOW });
  });

  it('takes the lease when the SDK sends the request again after losing its answer', async () => {
    // Prepare: the lease lands, but its answer is lost; the resend finds the lease it took
    const { client, sent } = losingFirstAnswer('leaseUntil < :now');
    const flaky = new DynamoStateStore(client, TABLE, stateKey('default'));

    // Act
    const leased = await flaky.acquire('req-1/run-a', NOW + 60_000, NOW);
    const other = await store.acquire('req-1/run-b', NOW + 60_000, NOW + 1_000);

    // Assess: sent twice, held once; another run, even of the same request id, is kept out
    expect(sent()).toBe(2);
    expect(leased).toEqual({ checkpoint: undefined, version: 0, unsavedSince: NOW });
    expect(other).toBeUndefined();
    client.destroy();
  });

  it('counts a save the SDK sent again after its answer was lost as saved', async () => {
    // Prepare: the first save lands, but its answer is lost; the SDK's resend then finds version 1
    const { client, sent } = losingFirstAnswer(':version');
    const flaky = new DynamoStateStore(client, TABLE, stateKey('default'));
    await flaky.acquire('run-a', NOW + 60_000, NOW);

    // Act
    const version = await flaky.save('run-a', 0, checkpoint(NOW - 5_000));
    const nextVersion = await flaky.save('run-a', version, checkpoint(NOW - 4_000));

    // Assess: sent twice, counted once, and the run goes on from there
    expect(sent()).toBe(2);
    expect(version).toBe(1);
    expect(nextVersion).toBe(2);
    await flaky.release('run-a');
    expect(await store.acquire('run-b', NOW + 60_000, NOW + 1_000)).toEqual({
      checkpoint: checkpoint(NOW - 4_000),
      version: 2,
      unsavedSince: NOW + 1_000,
    });
    client.destroy();
  });

  it('refuses the save of a run whose expired lease another run took, even at the same version', async () => {
    // Prepare: run A's lease expires mid-run and run B takes over before A saves
    const a = await store.acquire('run-a', NOW + 60_000, NOW);
    await store.acquire('run-b', NOW + 200_000, NOW + 61_000);

    // Act
    const late = store.save('run-a', a!.version, checkpoint(NOW - 5_000));

    // Assess: A is fenced off; B saves and A's checkpoint never lands
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.save('run-b', 0, checkpoint(NOW - 1_000))).toBe(1);
    const next = await store.acquire('run-c', NOW + 400_000, NOW + 300_000);
    expect(next).toEqual({ checkpoint: checkpoint(NOW - 1_000), version: 1, unsavedSince: NOW + 300_000 });
  });

  it('refuses the save of a run whose state item was deleted while it ran', async () => {
    // Prepare: an operator deletes the item mid-run, so the failed condition finds no item at all
    await store.acquire('run-a', NOW + 60_000, NOW);
    await table
      .client()
      .send(new DeleteItemCommand({ TableName: TABLE, Key: { id: { S: stateKey('default') } } }));

    // Act
    const late = store.save('run-a', 0, checkpoint(NOW - 5_000));

    // Assess: not counted as its own write landing; the next run starts from a fresh item
    await expect(late).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.acquire('run-b', NOW + 60_000, NOW + 1_000)).toEqual({
      checkpoint: undefined,
      version: 0,
      unsavedSince: NOW + 1_000,
    });
  });

  it('refuses a save from a stale version of the same owner', async () => {
    // Prepare
    await store.acquire('run-a', NOW + 60_000, NOW);
    expect(await store.save('run-a', 0, checkpoint(NOW - 5_000))).toBe(1);

    // Act / Assess
    await expect(store.save('run-a', 0, checkpoint(NOW - 9_000))).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.save('run-a', 1, checkpoint(NOW - 4_000))).toBe(2);
  });

  it('keeps the hints and what an unfinished walk or search learnt, and drops them once a save has none', async () => {
    // Prepare: every optional field, the ones kept as plain DynamoDB numbers and lists included
    await store.acquire('run-a', NOW + 60_000, NOW);
    const inside: Checkpoint = {
      ...checkpoint(NOW - 5_000),
      olderCount: 5_120,
      olderBounds: [4_800, 5_300],
      newestPublishedAt: NOW - 2_000,
      belowAtLeast: 4_800,
      group: { at: NOW - 4_000, passed: 420, edge: [7, 'guid-8', 9] },
      undated: [12, 'guid-13'],
    };

    // Act
    await store.save('run-a', 0, inside);
    await store.release('run-a');
    const saved = await store.acquire('run-b', NOW + 60_000, NOW + 1_000);
    await store.save('run-b', 1, checkpoint(NOW - 3_000));
    await store.release('run-b');
    const after = await store.acquire('run-c', NOW + 60_000, NOW + 2_000);

    // Assess: the later save omits them, so the store removes them rather than keep stale ones
    expect(saved?.checkpoint).toEqual(inside);
    expect(after?.checkpoint).toStrictEqual(checkpoint(NOW - 3_000));
  });

  it('lets only the owner release the lease', async () => {
    // Prepare
    await store.acquire('run-a', NOW + 60_000, NOW);

    // Act
    await store.release('run-b');
    const afterOtherRelease = await store.acquire('run-c', NOW + 60_000, NOW + 1_000);
    await store.release('run-a');
    const afterOwnRelease = await store.acquire('run-c', NOW + 60_000, NOW + 1_000);

    // Assess
    expect(afterOtherRelease).toBeUndefined();
    expect(afterOwnRelease).toEqual({ checkpoint: undefined, version: 0, unsavedSince: NOW });
  });

  it('keeps the start of a run that failed before its lease as the earliest unsaved one', async () => {
    // Act: two runs fail before their lease (their credentials), then a run takes it
    await store.noteTried(NOW - 7_200_000);
    await store.noteTried(NOW - 3_600_000);
    const leased = await store.acquire('run-a', NOW + 60_000, NOW);

    // Assess
    expect(leased).toEqual({ checkpoint: undefined, version: 0, unsavedSince: NOW - 7_200_000 });
  });

  it('keeps when the earliest run since the last save started, in the time it was given, until a save', async () => {
    // Prepare: the alerts' time (startedAt) differs from the lease's clock, as in the poller's tests
    const startedAt = NOW - 86_400_000;
    await store.acquire('run-a', NOW + 60_000, NOW, undefined, startedAt);
    await store.release('run-a');

    // Act
    const second = await store.acquire('run-b', NOW + 60_000, NOW + 1_000, undefined, startedAt + 1_000);
    await store.save('run-b', 0, checkpoint(NOW - 5_000));
    await store.release('run-b');
    const afterSave = await store.acquire('run-c', NOW + 60_000, NOW + 2_000, undefined, startedAt + 2_000);

    // Assess
    expect(second?.unsavedSince).toBe(startedAt);
    expect(afterSave?.unsavedSince).toBe(startedAt + 2_000);
  });

  it('names the table and the poller in every call when the table is missing, as a configuration to fix', async () => {
    // Prepare
    const missing = new DynamoStateStore(table.client(), 'no-such-table', stateKey('edr'));

    // Act
    const lease = await failure(missing.acquire('run-a', NOW + 60_000, NOW));
    const save = await failure(missing.save('run-a', 0, checkpoint(NOW)));
    const noted = await failure(missing.noteTried(NOW));
    const release = await failure(missing.release('run-a'));

    // Assess
    expect(lease).toMatchObject({
      kind: 'config',
      retryable: false,
      message: expect.stringMatching(
        /^Unable to lease the poller state \(item 'poller#edr' of DynamoDB table 'no-such-table'\): .*not found/i,
      ),
    });
    expect(save).toMatchObject({
      kind: 'config',
      message: expect.stringContaining(
        "Unable to save the poller checkpoint (item 'poller#edr' of DynamoDB table 'no-such-table')",
      ),
    });
    expect(noted).toMatchObject({
      kind: 'config',
      message: expect.stringContaining(
        "Unable to note the failed poller run (item 'poller#edr' of DynamoDB table 'no-such-table')",
      ),
    });
    expect(release).toMatchObject({
      kind: 'config',
      message: expect.stringContaining(
        "Unable to release the poller lease (item 'poller#edr' of DynamoDB table 'no-such-table')",
      ),
    });
  });
});
