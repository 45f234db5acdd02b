import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LeaseLostError } from '../../../shared/alerts/errors.ts';
import { MAX_LEASE_AHEAD_MS } from '../../../shared/alerts/lease.ts';
import { DynamoStateStore, stateKey } from '../../../shared/alerts/state-store.ts';
import type { Checkpoint } from '../../../shared/alerts/types.ts';
import { failure } from '../../helpers/failure.ts';

const NOW = 1_700_000_000_000;
const TWO_DAYS = 2 * 86_400_000;
/** The furthest from 1970 a Date reaches (ECMA-262). */
const MAX_DATE_MS = 8.64e15;
const GUIDANCE =
  "fix it, or replace it with only {id, floor}, 'floor' the time (epoch milliseconds) from which to publish alerts; deleting it starts again from the first-run window, publishing that window's alerts again";

/** A checkpoint holding every field: every hint and an unfinished walk's and search's progress. */
const FULL_CHECKPOINT: Checkpoint = {
  floor: NOW - 5_000,
  recent: [[NOW - 5_000, [1, 'guid-2']]],
  olderCount: 5_120,
  olderBounds: [4_800, 5_300],
  belowAtLeast: 4_800,
  newestPublishedAt: NOW - 2_000,
  group: { at: NOW - 4_000, passed: 420, edge: [7, 'guid-8'] },
  undated: [12, 'guid-13'],
};

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
    [
      "every hint and an unfinished walk's and search's progress",
      {
        floor: NOW - 5_000,
        recent: `[[${NOW - 5_000},[1,"guid-2"]]]`,
        olderCount: 5_120,
        olderBounds: [4_800, 5_300],
        belowAtLeast: 4_800,
        newestPublishedAt: NOW - 2_000,
        groupCursor: `{"at":${NOW - 4_000},"passed":420,"edge":[7,"guid-8"]}`,
        undated: '[12,"guid-13"]',
      },
      FULL_CHECKPOINT,
    ],
  ])('reads an item holding %s as its checkpoint', async (_case, item, checkpoint) => {
    // Prepare
    const store = storeHolding(item);

    // Act
    const leased = await store.acquire('run-a', NOW + 60_000, NOW);

    // Assess
    expect(leased).toStrictEqual({ checkpoint, version: 3, unsavedSince: NOW });
  });

  it.each([
    ['an hour earlier (a run that failed before its lease)', NOW - 3_600_000],
    ['the first millisecond of 2010', Date.UTC(2010, 0, 1)],
  ])(
    'reads an item never saved, whose first try was %s, as no checkpoint yet and that try',
    async (_case, unsavedSince) => {
      // Prepare: no floor yet, so the first run to take the lease reads from the first try
      const store = storeHolding({ unsavedSince });

      // Act
      const leased = await store.acquire('run-a', NOW + 60_000, NOW);

      // Assess
      expect(leased).toStrictEqual({ checkpoint: undefined, version: 3, unsavedSince });
    },
  );

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

/** The item's key in the calls' inputs. */
const KEY = { id: 'poller#default' };

/** The store on an empty mock, for the calls it sends and what it makes of their answers. */
function newStore(): DynamoStateStore {
  return new DynamoStateStore(new DynamoDBClient({ region: 'us-east-1' }), 'state', stateKey('default'));
}

/** The input of the one UpdateCommand sent. */
function sentInput(): UpdateCommandInput {
  const calls = documents.commandCalls(UpdateCommand);
  expect(calls).toHaveLength(1);
  return calls[0]!.args[0].input;
}

/**
 * DynamoDB refusing a conditional write, with the item it found, still marshalled, as
 * ReturnValuesOnConditionCheckFailure puts it on the error.
 */
function conditionFailed(item?: Record<string, AttributeValue>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: { httpStatusCode: 400 },
    ...(item ? { Item: item } : {}),
  });
}

/** An error DynamoDB answers with other than a failed condition: the table is not there. */
function tableMissing(): Error {
  return Object.assign(new Error('Requested resource not found'), {
    name: 'ResourceNotFoundException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

const WHERE = "(item 'poller#default' of DynamoDB table 'state')";

describe('Poller state in DynamoDB: taking the lease', () => {
  it('creates or updates the poller item, setting the lease and keeping the version and the first try', async () => {
    // Prepare
    documents
      .on(UpdateCommand)
      .resolves({ Attributes: { id: 'poller#default', version: 0, unsavedSince: NOW } });

    // Act
    await newStore().acquire('run-a', NOW + 60_000, NOW, undefined, NOW - 1_000);

    // Assess: the whole item back (ALL_NEW), as the run reads its state from it
    expect(sentInput()).toEqual({
      TableName: 'state',
      Key: KEY,
      UpdateExpression:
        'SET leaseOwner = :owner, leaseUntil = :until, #version = if_not_exists(#version, :zero), unsavedSince = if_not_exists(unsavedSince, :startedAt)',
      ConditionExpression: expect.any(String),
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: {
        ':owner': 'run-a',
        ':until': NOW + 60_000,
        ':now': NOW,
        ':zero': 0,
        ':latest': NOW + MAX_LEASE_AHEAD_MS,
        ':number': 'N',
        ':startedAt': NOW - 1_000,
      },
      ReturnValues: 'ALL_NEW',
    });
  });

  it('leaves the state alone while another run holds its lease, without an error', async () => {
    // Prepare: the lease's condition fails, as it does while another run's lease is current
    documents.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const leased = await newStore().acquire('run-b', NOW + 60_000, NOW);

    // Assess: the run is skipped, not failed
    expect(leased).toBeUndefined();
  });
});

describe('Poller state in DynamoDB: saving a checkpoint', () => {
  it('writes every field of a checkpoint, fenced on the owner and the version, and returns the next version', async () => {
    // Prepare
    documents.on(UpdateCommand).resolves({});

    // Act
    const version = await newStore().save('run-a', 4, FULL_CHECKPOINT);

    // Assess
    expect(version).toBe(5);
    expect(sentInput()).toEqual({
      TableName: 'state',
      Key: KEY,
      UpdateExpression:
        'SET #version = :next, floor = :floor, recent = :recent, updatedAt = :updatedAt, saveId = :saveId, olderCount = :olderCount, olderBounds = :olderBounds, belowAtLeast = :belowAtLeast, newestPublishedAt = :newestPublishedAt, groupCursor = :groupCursor, undated = :undated REMOVE unsavedSince',
      ConditionExpression: 'leaseOwner = :owner AND #version = :version',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: {
        ':saveId': expect.stringMatching(/^[0-9a-f-]{36}$/),
        ':owner': 'run-a',
        ':version': 4,
        ':next': 5,
        ':floor': NOW - 5_000,
        ':recent': `[[${NOW - 5_000},[1,"guid-2"]]]`,
        ':updatedAt': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        ':olderCount': 5_120,
        ':olderBounds': [4_800, 5_300],
        ':belowAtLeast': 4_800,
        ':newestPublishedAt': NOW - 2_000,
        ':groupCursor': `{"at":${NOW - 4_000},"passed":420,"edge":[7,"guid-8"]}`,
        ':undated': '[12,"guid-13"]',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('removes the fields a checkpoint no longer has, rather than keep stale ones', async () => {
    // Prepare
    documents.on(UpdateCommand).resolves({});

    // Act: an empty undated list is nothing to remember either
    await newStore().save('run-a', 0, { floor: NOW - 5_000, recent: [], undated: [] });

    // Assess
    const input = sentInput();
    expect(input.UpdateExpression).toBe(
      'SET #version = :next, floor = :floor, recent = :recent, updatedAt = :updatedAt, saveId = :saveId REMOVE unsavedSince, olderCount, olderBounds, belowAtLeast, newestPublishedAt, groupCursor, undated',
    );
    expect(Object.keys(input.ExpressionAttributeValues ?? {}).sort()).toEqual(
      [':floor', ':next', ':owner', ':recent', ':saveId', ':updatedAt', ':version'].sort(),
    );
  });

  it("counts a save whose condition found the save's own write as saved: the SDK sent it again after losing its answer", async () => {
    // Prepare: the first landing moved the version on, so the resend's condition fails on this save's id
    documents.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
      const saveId = input.ExpressionAttributeValues?.[':saveId'];
      throw conditionFailed(marshall({ id: 'poller#default', leaseOwner: 'run-a', version: 5, saveId }));
    });

    // Act
    const version = await newStore().save('run-a', 4, FULL_CHECKPOINT);

    // Assess
    expect(version).toBe(5);
  });

  it.each([
    [
      'another save wrote the item (another run, or a stale version)',
      () =>
        conditionFailed(
          marshall({ id: 'poller#default', leaseOwner: 'run-b', version: 5, saveId: 'another' }),
        ),
    ],
    ['the item was deleted while the run held it', () => conditionFailed()],
    [
      'the item found holds a number the SDK cannot read (typed by hand: too large, with a fraction)',
      () => conditionFailed({ id: { S: 'poller#default' }, olderCount: { N: '123456789012345678901.5' } }),
    ],
  ])('refuses a save whose condition failed when %s, as a lost lease', async (_case, refused) => {
    // Prepare
    const refusal = refused();
    documents.on(UpdateCommand).rejects(refusal);

    // Act
    const error = await failure(newStore().save('run-a', 4, FULL_CHECKPOINT));

    // Assess: the run stops without counting the save, the refusal kept as the cause
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error.cause).toBe(refusal);
  });

  it('names the item and the failed call for any other error, as a failed save', async () => {
    // Prepare
    documents.on(UpdateCommand).rejects(tableMissing());

    // Act
    const error = await failure(newStore().save('run-a', 4, FULL_CHECKPOINT));

    // Assess
    expect(error).not.toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({
      kind: 'config',
      message: `Unable to save the poller checkpoint ${WHERE}: Requested resource not found`,
    });
  });
});

describe('Poller state in DynamoDB: noting a run that failed before its lease', () => {
  it('keeps the earliest try, creating the item if need be, whoever holds the lease', async () => {
    // Prepare
    documents.on(UpdateCommand).resolves({});

    // Act
    await newStore().noteTried(NOW - 1_000);

    // Assess: no condition, so a run that never held the lease can still note its try
    expect(sentInput()).toStrictEqual({
      TableName: 'state',
      Key: KEY,
      UpdateExpression: 'SET unsavedSince = if_not_exists(unsavedSince, :startedAt)',
      ExpressionAttributeValues: { ':startedAt': NOW - 1_000 },
    });
  });

  it('names the item and the failed call when DynamoDB refuses the note', async () => {
    // Prepare
    documents.on(UpdateCommand).rejects(tableMissing());

    // Act
    const error = await failure(newStore().noteTried(NOW));

    // Assess
    expect(error).toMatchObject({
      kind: 'config',
      message: `Unable to note the failed poller run ${WHERE}: Requested resource not found`,
    });
  });
});

describe('Poller state in DynamoDB: releasing the lease', () => {
  it("ends the lease only while the run still owns it, so a release never ends another run's", async () => {
    // Prepare
    documents.on(UpdateCommand).resolves({});

    // Act
    await newStore().release('run-a');

    // Assess
    expect(sentInput()).toStrictEqual({
      TableName: 'state',
      Key: KEY,
      UpdateExpression: 'SET leaseUntil = :zero',
      ConditionExpression: 'leaseOwner = :owner',
      ExpressionAttributeValues: { ':owner': 'run-a', ':zero': 0 },
    });
  });

  it('ends quietly when another run owns the lease by then', async () => {
    // Prepare
    documents.on(UpdateCommand).rejects(conditionFailed());

    // Act / Assess
    await expect(newStore().release('run-a')).resolves.toBeUndefined();
  });

  it('names the item and the failed call for any other error', async () => {
    // Prepare
    documents.on(UpdateCommand).rejects(tableMissing());

    // Act
    const error = await failure(newStore().release('run-a'));

    // Assess
    expect(error).toMatchObject({
      kind: 'config',
      message: `Unable to release the poller lease ${WHERE}: Requested resource not found`,
    });
  });
});
