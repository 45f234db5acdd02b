import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_LEASE_AHEAD_MS } from '../../../shared/alerts/lease.ts';
import { DynamoStateStore, stateKey } from '../../../shared/alerts/state-store.ts';
import { failure } from '../../helpers/failure.ts';

const NOW = 1_700_000_000_000;
const TWO_DAYS = 2 * 86_400_000;
/** The furthest from 1970 a Date reaches (ECMA-262). */
const MAX_DATE_MS = 8.64e15;
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
    [
      'a floor more than two days ahead of the clock, which would skip every alert until then',
      { floor: NOW + TWO_DAYS + 1, recent: '[]' },
      "has an unreadable 'floor' attribute (attribute 'floor' is 1700172800001 (2023-11-16T22:13:20.001Z), more than two days ahead of the clock (2023-11-14T22:13:20.000Z): every alert until then would be skipped)",
    ],
    [
      'a floor in seconds, which would publish every alert Tanium holds again',
      { floor: NOW / 1000, recent: '[]' },
      "has an unreadable 'floor' attribute (attribute 'floor' is 1700000000 (1970-01-20T16:13:20.000Z), before 2010: it must be epoch milliseconds)",
    ],
    [
      'a time past the furthest a date reaches',
      { floor: NOW, recent: '[]', newestPublishedAt: MAX_DATE_MS + 1 },
      "has an unreadable 'newestPublishedAt' attribute (attribute 'newestPublishedAt': must be epoch milliseconds a date can hold)",
    ],
    [
      'two attributes of the wrong type, naming both',
      { version: 'three', floor: 'abc', recent: '[]' },
      "has unreadable attributes 'version', 'floor' (attribute 'version' must be a number; attribute 'floor' must be a number)",
    ],
    [
      'a group cursor without its position and edge',
      { floor: NOW, recent: '[]', groupCursor: `{"at":${NOW}}` },
      "has an unreadable 'groupCursor' attribute (attribute 'groupCursor.passed' must be a number; attribute 'groupCursor.edge' must be an array; it must hold an object {at, passed, edge})",
    ],
    [
      'undated ids that are objects',
      { floor: NOW, recent: '[]', undated: '[{"id":1}]' },
      "has an unreadable 'undated' attribute (attribute 'undated.0' is invalid; it must hold a list of alert ids)",
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

describe('Poller state in DynamoDB: an item edited by hand', () => {
  it.each([
    [
      'only its id and floor (the repair guidance)',
      { floor: NOW - 60_000 },
      { floor: NOW - 60_000, recent: [] },
    ],
    [
      'a floor exactly two days ahead of the clock',
      { floor: NOW + TWO_DAYS, recent: '[]' },
      { floor: NOW + TWO_DAYS, recent: [] },
    ],
    [
      'a floor at the first millisecond of 2010',
      { floor: Date.UTC(2010, 0, 1), recent: '[]' },
      { floor: Date.UTC(2010, 0, 1), recent: [] },
    ],
    [
      'a time at the furthest a date reaches',
      { floor: NOW, recent: '[]', newestPublishedAt: MAX_DATE_MS },
      { floor: NOW, recent: [], newestPublishedAt: MAX_DATE_MS },
    ],
  ])('reads an item holding %s as its checkpoint', async (_case, item, checkpoint) => {
    // Prepare
    const store = storeHolding(item);

    // Act
    const leased = await store.acquire('run-a', NOW + 60_000, NOW);

    // Assess
    expect(leased).toStrictEqual({ checkpoint, version: 3, unsavedSince: NOW });
  });

  it('names the JSON error of an attribute that does not parse, and keeps it as the cause', async () => {
    // Prepare
    const store = storeHolding({ floor: NOW, recent: '[[1700000000000, [1, 2]' });
    const syntax = await failure(Promise.resolve().then(() => JSON.parse('[[1700000000000, [1, 2]')));

    // Act
    const error = await failure(store.acquire('run-a', NOW + 60_000, NOW));

    // Assess
    expect(error.message).toBe(
      "Unable to lease the poller state (item 'poller#default' of DynamoDB table 'state'): " +
        `The poller state item poller#default has an unreadable 'recent' attribute (${syntax.message}); ${GUIDANCE}`,
    );
    expect((error.cause as Error).cause).toBeInstanceOf(SyntaxError);
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
