import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_LEASE_AHEAD_MS } from '../../../shared/alerts/lease.ts';
import { DynamoStateStore, stateKey } from '../../../shared/alerts/state-store.ts';
import { failure } from '../../helpers/failure.ts';

const NOW = 1_700_000_000_000;
const GUIDANCE =
  "fix it, or replace it with only {id, floor}, 'floor' the time (epoch milliseconds) from which to publish alerts; deleting it starts again from the first-run window, publishing that window's alerts again";

const documents = mockClient(DynamoDBDocumentClient);

beforeEach(() => {
  documents.reset();
});

/** The store as it reads back an item already in the table (the lease update returns it whole). */
function storeHolding(item: Record<string, unknown>): DynamoStateStore {
  documents.on(UpdateCommand).resolves({
    Attributes: { id: stateKey('default'), leaseOwner: 'run-a', leaseUntil: NOW, version: 3, ...item },
  });
  return new DynamoStateStore(new DynamoDBClient({ region: 'us-east-1' }), 'state', stateKey('default'));
}

describe('Poller state in DynamoDB: a damaged item', () => {
  it.each([
    [
      'a recent attribute that is an object',
      { floor: NOW, recent: '{"x":1}' },
      "has an unreadable 'recent' attribute (attribute 'recent' must be an array; it must hold a list of [createdAt, [alert ids]] groups)",
    ],
    [
      'a recent attribute whose groups are strings',
      { floor: NOW, recent: '["a","b"]' },
      "has an unreadable 'recent' attribute (attribute 'recent.0' must be a tuple; attribute 'recent.1' must be a tuple; it must hold a list of [createdAt, [alert ids]] groups)",
    ],
    [
      'a floor that is not a number',
      { floor: 'abc', recent: '[]' },
      "has an unreadable 'floor' attribute (attribute 'floor' must be a number)",
    ],
    [
      'a first run start in seconds, from which a first run would publish every alert Tanium holds',
      { unsavedSince: NOW / 1000 },
      "has an unreadable 'unsavedSince' attribute (attribute 'unsavedSince' is 1700000000 (1970-01-20T16:13:20.000Z), before 2010: it must be epoch milliseconds)",
    ],
    [
      'a first run start that is not a number',
      { unsavedSince: 'yesterday' },
      "has an unreadable 'unsavedSince' attribute (attribute 'unsavedSince' must be a number)",
    ],
  ])('refuses %s, naming the item, what is wrong and what to do', async (_case, item, expected) => {
    // Prepare
    const store = storeHolding(item);

    // Act
    const error = await failure(store.acquire('run-a', NOW + 60_000, NOW));

    // Assess: a configuration error the run reports, not a TypeError from deep in the poller
    expect(error).toMatchObject({
      kind: 'config',
      retryable: false,
      message:
        "Unable to lease the poller state (item 'poller#default' of DynamoDB table 'state'): " +
        `The poller state item poller#default ${expected}; ${GUIDANCE}`,
    });
  });
});

describe('Poller state in DynamoDB: the invocation running out of time', () => {
  it('passes its signal to the lease, the save and the release, so that each can be cut', async () => {
    // Prepare
    const store = storeHolding({ floor: NOW, recent: '[]' });
    const stop = new AbortController();

    // Act
    const leased = await store.acquire('run-a', NOW + 60_000, NOW, stop.signal);
    await store.save('run-a', leased!.version, { floor: NOW, recent: [] }, stop.signal);
    await store.release('run-a', stop.signal);

    // Assess (the stub's type knows only the command; the SDK's send takes its options second)
    const options = documents.commandCalls(UpdateCommand).map((call) => (call.args as unknown[])[1]);
    expect(options).toEqual([
      { abortSignal: stop.signal },
      { abortSignal: stop.signal },
      { abortSignal: stop.signal },
    ]);
  });
});

describe('Poller state in DynamoDB: a lease no run set', () => {
  it('asks DynamoDB to let a run take over a lease beyond the longest run, or one that is not a number', async () => {
    // Prepare: moto cannot evaluate a comparison with a string lease, so the condition is checked as sent
    const store = storeHolding({ floor: NOW, recent: '[]' });

    // Act
    await store.acquire('run-b', NOW + 60_000, NOW);

    // Assess
    const input = documents.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner OR leaseUntil > :latest OR NOT attribute_type(leaseUntil, :number)',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':latest': NOW + MAX_LEASE_AHEAD_MS,
      ':number': 'N',
    });
  });
});
