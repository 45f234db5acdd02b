// The store's own writes, as DynamoDB receives them: the condition each put, extension and delete is sent
// with, and what a put makes of a condition that failed. The table's side of those conditions is tested
// against moto (test/integration/events/idempotency-store.test.ts); here, the exact requests.

import { IdempotencyConfig, IdempotencyItemAlreadyExistsError } from '@aws-lambda-powertools/idempotency';
import { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  InvocationEnded,
  OwnRecordsPersistence,
  type PutScope,
  putScope,
} from '../../../shared/events/idempotency-store.ts';

const dynamo = mockClient(DynamoDBClient);
const TABLE = 'test-state';
const KEY = 'connections#req-1';
/** Epoch ms, on a whole second so that `:now` is the plain seconds. */
const NOW = 1_700_000_000_000;
const ENDS = NOW + 30_000;
const EXPIRY = NOW / 1000 + 3600;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The store with its protected persistence calls opened up, as Powertools makes them. */
class Store extends OwnRecordsPersistence {
  put(record: IdempotencyRecord): Promise<void> {
    return this._putRecord(record);
  }
  update(record: IdempotencyRecord): Promise<void> {
    return this._updateRecord(record);
  }
  delete(record: IdempotencyRecord): Promise<void> {
    return this._deleteRecord(record);
  }
}

/** A store configured as createIdempotentExecutor configures it (`validation`: payload validation on). */
function store({ validation = true }: { validation?: boolean } = {}): Store {
  const persistence = new Store({ tableName: TABLE, client: new DynamoDBClient({ region: 'us-east-1' }) });
  persistence.configure({
    config: new IdempotencyConfig({
      eventKeyJmesPath: '[requestId, action]',
      ...(validation ? { payloadValidationJmesPath: 'parameters' } : {}),
    }),
  });
  return persistence;
}

function inProgress(options: { ends?: number; hash?: string } = {}): IdempotencyRecord {
  return new IdempotencyRecord({
    idempotencyKey: KEY,
    status: 'INPROGRESS',
    expiryTimestamp: EXPIRY,
    inProgressExpiryTimestamp: 'ends' in options ? options.ends : ENDS,
    payloadHash: 'hash' in options ? options.hash : 'hash-1',
  });
}

/** The record Powertools completes a run with. */
const completedRecord = () =>
  new IdempotencyRecord({
    idempotencyKey: KEY,
    status: 'COMPLETED',
    expiryTimestamp: EXPIRY,
    responseData: { status: 'success' },
    payloadHash: 'hash-1',
  });

/** Runs `act` in a put scope, as the executor does. */
function inScope<T>(scope: PutScope | undefined, act: () => Promise<T>): Promise<T> {
  return scope === undefined ? act() : putScope.run(scope, act);
}

/** The input of the `index`th call of a command. */
function sent<I extends object>(command: new (input: I) => { input: I }, index = 0): I {
  const call = dynamo.commandCalls(command as never)[index];
  expect(call).toBeDefined();
  return call!.args[0].input as I;
}

/** The claim token the first put wrote. */
const claimWritten = () => sent(PutItemCommand).Item!.claim!.S!;

function conditionFailed(item?: Record<string, AttributeValue>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item ? { Item: item } : {}),
  });
}

/** A put refused with `error` a second after it was sent: a record expiring as the put reaches it. */
function refusedASecondLater(error: () => Error): () => never {
  return () => {
    vi.setSystemTime(NOW + 1000);
    throw error();
  };
}

beforeEach(() => {
  dynamo.reset();
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Idempotency store: the in-progress put', () => {
  it.each([
    {
      case: 'an SQS message, payload validation on',
      scope: { messageId: 'msg-1' } as PutScope | undefined,
      validation: true,
      extra: { validation: { S: 'hash-1' }, holder: { S: 'msg-1' } },
    },
    {
      case: 'no SQS message (an EventBridge event)',
      scope: {} as PutScope | undefined,
      validation: true,
      extra: { validation: { S: 'hash-1' } },
    },
    {
      case: 'no put scope at all',
      scope: undefined,
      validation: true,
      extra: { validation: { S: 'hash-1' } },
    },
    {
      case: 'payload validation off',
      scope: { messageId: 'msg-1' },
      validation: false,
      extra: { holder: { S: 'msg-1' } },
    },
  ])(
    'writes the record with its claim, under the condition that keeps a live record ($case)',
    async ({ scope, validation, extra }) => {
      // Prepare
      dynamo.on(PutItemCommand).resolves({});

      // Act
      await inScope(scope, () => store({ validation }).put(inProgress()));

      // Assess: the condition refuses a live record, and names the one it finds (ALL_OLD)
      expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(1);
      expect(sent(PutItemCommand)).toEqual({
        TableName: TABLE,
        Item: {
          id: { S: KEY },
          expiration: { N: String(EXPIRY) },
          status: { S: 'INPROGRESS' },
          claim: { S: expect.stringMatching(UUID) },
          in_progress_expiration: { N: String(ENDS) },
          ...extra,
        },
        ConditionExpression:
          'attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)',
        ExpressionAttributeNames: {
          '#id': 'id',
          '#expiry': 'expiration',
          '#in_progress_expiry': 'in_progress_expiration',
          '#status': 'status',
        },
        ExpressionAttributeValues: {
          ':now': { N: String(NOW / 1000) },
          ':now_in_millis': { N: String(NOW) },
          ':inprogress': { S: 'INPROGRESS' },
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    },
  );

  it('writes no validation hash that Powertools did not compute', async () => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});

    // Act
    await store().put(inProgress({ hash: undefined }));

    // Assess
    expect(sent(PutItemCommand).Item).not.toHaveProperty('validation');
  });

  it('writes a new claim with every put, which only a resend of that put finds again', async () => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});
    const persistence = store();

    // Act
    await persistence.put(inProgress());
    await persistence.put(inProgress());

    // Assess
    expect(sent(PutItemCommand, 0).Item!.claim!.S).not.toBe(sent(PutItemCommand, 1).Item!.claim!.S);
  });

  it.each([
    {
      case: "the invocation's end where Powertools gives no in-progress expiry",
      ends: undefined,
      invocationEnd: ENDS,
      written: ENDS,
    },
    {
      case: "Powertools' own in-progress expiry over the invocation's end",
      ends: NOW + 5_000,
      invocationEnd: ENDS,
      written: NOW + 5_000,
    },
    {
      case: 'an invocation ending one millisecond from now',
      ends: undefined,
      invocationEnd: NOW + 1,
      written: NOW + 1,
    },
  ])('expires the in-progress record at $case', async ({ ends, invocationEnd, written }) => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});

    // Act
    await inScope({ invocationEnd }, () => store().put(inProgress({ ends })));

    // Assess
    expect(sent(PutItemCommand).Item!.in_progress_expiration).toEqual({ N: String(written) });
  });

  it.each([
    {
      case: 'no in-progress expiry and no invocation end',
      ends: undefined,
      scope: {} as PutScope | undefined,
    },
    { case: 'no in-progress expiry and no put scope', ends: undefined, scope: undefined },
    { case: 'an invocation ending now', ends: undefined, scope: { invocationEnd: NOW } },
    { case: 'an invocation already ended', ends: undefined, scope: { invocationEnd: NOW - 1 } },
    { case: 'an in-progress expiry already past', ends: NOW, scope: { invocationEnd: ENDS } },
  ])('writes nothing for $case', async ({ ends, scope }) => {
    // Prepare: a record with no in-progress expiry would hold its request for the record's 21 days
    dynamo.on(PutItemCommand).resolves({});

    // Act
    const error = await inScope(scope, () => store().put(inProgress({ ends }))).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(InvocationEnded);
    expect(error).toMatchObject({
      name: 'InvocationEnded',
      message: 'the invocation has no time left to write the in-progress record',
    });
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it.each([
    { case: 'after its invocation had ended', answeredAt: ENDS + 1 },
    { case: 'at the very end of its invocation', answeredAt: ENDS },
  ])(
    'gives up a record whose put was answered $case, leaving it to the redelivery',
    async ({ answeredAt }) => {
      // Prepare: the sandbox froze with the put pending and thawed later
      dynamo.on(PutItemCommand).callsFake(() => {
        vi.setSystemTime(answeredAt);
        return {};
      });
      dynamo.on(DeleteItemCommand).resolves({});
      const persistence = store();

      // Act
      const error = await persistence.put(inProgress()).catch((e: unknown) => e);
      await persistence.delete(inProgress());

      // Assess: the record may be a redelivery's by now, so this run must not delete it either
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe(
        `The in-progress record of ${KEY} was written after its invocation had ended`,
      );
      expect(dynamo.commandCalls(DeleteItemCommand)).toHaveLength(0);
    },
  );

  it('passes on a failure of the table other than the condition', async () => {
    // Prepare
    const failure = Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
    dynamo.on(PutItemCommand).rejects(failure);

    // Act
    const error = await store()
      .put(inProgress())
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBe(failure);
  });
});

describe('Idempotency store: a put whose condition failed', () => {
  /** Attributes of a record another put wrote. */
  const othersRecord = (values: Record<string, AttributeValue>): Record<string, AttributeValue> => ({
    id: { S: KEY },
    expiration: { N: String(EXPIRY) },
    in_progress_expiration: { N: String(ENDS) },
    validation: { S: 'hash-1' },
    claim: { S: 'another-claim' },
    ...values,
  });

  it('takes a record with its own claim for its own first attempt, whose answer was lost', async () => {
    // Prepare: the SDK resent the put, which finds the item the first attempt wrote
    dynamo.on(PutItemCommand).callsFake((input: { Item: Record<string, AttributeValue> }) => {
      throw conditionFailed(input.Item);
    });
    dynamo.on(DeleteItemCommand).resolves({});
    const persistence = store();

    // Act
    await persistence.put(inProgress());
    await persistence.delete(inProgress());

    // Assess: the record is its own, so that its delete later removes it
    expect(sent(DeleteItemCommand).ExpressionAttributeValues![':claim']).toEqual({ S: claimWritten() });
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it.each<{
    case: string;
    item: Record<string, AttributeValue>;
    unclaimed?: boolean;
    status: string;
    heldBy: string | undefined;
  }>([
    {
      case: 'in progress, held by an SQS message',
      item: { status: { S: 'INPROGRESS' }, holder: { S: 'msg-1' } },
      status: 'INPROGRESS',
      heldBy: 'msg-1',
    },
    {
      case: 'in progress, held by no SQS message',
      item: { status: { S: 'INPROGRESS' } },
      status: 'INPROGRESS',
      heldBy: undefined,
    },
    {
      case: 'in progress, written before records carried a claim',
      item: { status: { S: 'INPROGRESS' }, holder: { S: 'msg-1' } },
      unclaimed: true,
      status: 'INPROGRESS',
      heldBy: 'msg-1',
    },
    {
      case: 'completed by another delivery',
      item: { status: { S: 'COMPLETED' }, holder: { S: 'msg-1' }, data: { S: 'result' } },
      status: 'COMPLETED',
      heldBy: 'not learned',
    },
    {
      case: 'expired while in progress',
      item: { status: { S: 'INPROGRESS' }, holder: { S: 'msg-1' }, expiration: { N: String(NOW / 1000) } },
      status: 'EXPIRED',
      heldBy: 'not learned',
    },
  ])(
    'refuses a record $case, handing Powertools the record found',
    async ({ item, unclaimed, status, heldBy }) => {
      // Prepare
      const found = othersRecord(item);
      if (unclaimed) delete found.claim;
      // The table answers a second later, when a record expiring at the put's \`:now\` has expired
      dynamo.on(PutItemCommand).callsFake(refusedASecondLater(() => conditionFailed(found)));
      const scope: PutScope = { messageId: 'msg-2', heldBy: 'not learned' };

      // Act
      const error = await putScope.run(scope, () => store().put(inProgress())).catch((e: unknown) => e);

      // Assess: Powertools reads the record from the error, without a second read
      expect(error).toBeInstanceOf(IdempotencyItemAlreadyExistsError);
      expect((error as Error).message).toBe(
        `Failed to put record for already existing idempotency key: ${KEY}`,
      );
      const existing = (error as IdempotencyItemAlreadyExistsError).existingRecord!;
      expect(existing).toBeInstanceOf(IdempotencyRecord);
      expect(existing.getStatus()).toBe(status);
      expect(existing).toMatchObject({
        idempotencyKey: KEY,
        expiryTimestamp: Number(found.expiration!.N),
        inProgressExpiryTimestamp: ENDS,
        payloadHash: 'hash-1',
        responseData: found.data?.S,
      });
      // Only a record in progress names the delivery holding it back
      expect(scope.heldBy).toBe(heldBy);
    },
  );

  it.each([
    { case: 'completed', status: 'COMPLETED' },
    { case: 'expired', status: 'INPROGRESS', expiration: NOW / 1000 },
  ])(
    'refuses a record with its own claim that is no longer in progress ($case)',
    async ({ status, expiration }) => {
      // Prepare: between the lost answer and the resend, the record moved on
      dynamo.on(PutItemCommand).callsFake((input: { Item: Record<string, AttributeValue> }) =>
        refusedASecondLater(() =>
          conditionFailed({
            ...input.Item,
            status: { S: status },
            ...(expiration === undefined ? {} : { expiration: { N: String(expiration) } }),
          }),
        )(),
      );
      dynamo.on(UpdateItemCommand).resolves({});

      // Act
      const error = await store()
        .put(inProgress())
        .catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(IdempotencyItemAlreadyExistsError);
    },
  );

  it('refuses a record the table did not return, as Powertools would', async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(conditionFailed());
    const scope: PutScope = {};

    // Act
    const error = await putScope.run(scope, () => store().put(inProgress())).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(IdempotencyItemAlreadyExistsError);
    expect((error as IdempotencyItemAlreadyExistsError).existingRecord).toBeUndefined();
    expect(scope).not.toHaveProperty('heldBy');
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it('refuses a record found in progress outside any put scope', async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(conditionFailed(othersRecord({ status: { S: 'INPROGRESS' } })));

    // Act
    const error = await store()
      .put(inProgress())
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(IdempotencyItemAlreadyExistsError);
  });
});

describe('Idempotency store: a replay extends the completed record', () => {
  const completed = (values: Record<string, AttributeValue> = {}) =>
    conditionFailed({
      id: { S: KEY },
      status: { S: 'COMPLETED' },
      expiration: { N: String(NOW / 1000 + 60) },
      validation: { S: 'hash-1' },
      claim: { S: 'another-claim' },
      ...values,
    });

  it('gives the record the life of a new one, only while it is still the one replayed', async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(completed());
    dynamo.on(UpdateItemCommand).resolves({});

    // Act
    await store()
      .put(inProgress())
      .catch(() => undefined);

    // Assess: not a deleted record (the update would create a stub), nor one for other parameters
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(1);
    expect(sent(UpdateItemCommand)).toEqual({
      TableName: TABLE,
      Key: { id: { S: KEY } },
      UpdateExpression: 'SET #expiry = :expiry',
      ConditionExpression: '#status = :completed AND #expiry < :expiry AND #validation = :hash',
      ExpressionAttributeNames: { '#status': 'status', '#expiry': 'expiration', '#validation': 'validation' },
      ExpressionAttributeValues: {
        ':completed': { S: 'COMPLETED' },
        ':expiry': { N: String(EXPIRY) },
        ':hash': { S: 'hash-1' },
      },
    });
  });

  it("extends a record without a hash as Powertools writes one with payload validation off ('')", async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(completed({ validation: { S: '' } }));
    dynamo.on(UpdateItemCommand).resolves({});

    // Act
    await store({ validation: false })
      .put(inProgress({ hash: '' }))
      .catch(() => undefined);

    // Assess
    expect(sent(UpdateItemCommand)).toEqual({
      TableName: TABLE,
      Key: { id: { S: KEY } },
      UpdateExpression: 'SET #expiry = :expiry',
      ConditionExpression: '#status = :completed AND #expiry < :expiry',
      ExpressionAttributeNames: { '#status': 'status', '#expiry': 'expiration' },
      ExpressionAttributeValues: { ':completed': { S: 'COMPLETED' }, ':expiry': { N: String(EXPIRY) } },
    });
  });

  it.each([
    { case: 'completed for other parameters', error: () => completed({ validation: { S: 'hash-2' } }) },
    { case: 'in progress', error: () => completed({ status: { S: 'INPROGRESS' } }) },
    { case: 'expired', error: () => completed({ expiration: { N: String(NOW / 1000) } }) },
  ])('leaves a record $case alone', async ({ error }) => {
    // Prepare
    dynamo.on(PutItemCommand).callsFake(refusedASecondLater(error));
    dynamo.on(UpdateItemCommand).resolves({});

    // Act
    await store()
      .put(inProgress())
      .catch(() => undefined);

    // Assess
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it.each([
    { case: 'fails', update: () => Promise.reject(new Error('the table failed the update')) },
    { case: 'never answers', update: () => new Promise<never>(() => undefined) },
  ])('replays without waiting on an extension that $case', async ({ update }) => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(completed());
    dynamo.on(UpdateItemCommand).callsFake(update);

    // Act
    const error = await store()
      .put(inProgress())
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(IdempotencyItemAlreadyExistsError);
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(1);
  });
});

describe('Idempotency store: deletes and completions', () => {
  it('deletes only the in-progress record its own put wrote, by that put claim', async () => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
    const persistence = store();
    await persistence.put(inProgress());

    // Act
    await persistence.delete(inProgress());
    await persistence.delete(inProgress());

    // Assess: once, since its record is then gone
    expect(dynamo.commandCalls(DeleteItemCommand)).toHaveLength(1);
    expect(sent(DeleteItemCommand)).toEqual({
      TableName: TABLE,
      Key: { id: { S: KEY } },
      ConditionExpression: '#status = :inProgress AND #claim = :claim',
      ExpressionAttributeNames: { '#status': 'status', '#claim': 'claim' },
      ExpressionAttributeValues: { ':inProgress': { S: 'INPROGRESS' }, ':claim': { S: claimWritten() } },
    });
  });

  it.each([
    { case: 'it never wrote', prepare: async (_persistence: Store) => undefined },
    {
      case: 'another store wrote',
      prepare: async () => {
        await store().put(inProgress());
      },
    },
    {
      case: 'it completed',
      prepare: async (persistence: Store) => {
        await persistence.put(inProgress());
        await persistence.update(completedRecord());
      },
    },
  ])('deletes no record $case', async ({ prepare }) => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).resolves({});
    const persistence = store();
    await prepare(persistence);

    // Act
    await persistence.delete(inProgress());

    // Assess
    expect(dynamo.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });

  it("completes the record through Powertools, with the store's table and client", async () => {
    // Prepare
    dynamo.on(UpdateItemCommand).resolves({});
    const client = new DynamoDBClient({ region: 'us-east-1' });

    // Act
    await new Store({ tableName: TABLE, client }).update(completedRecord());

    // Assess
    expect(dynamo.send.thisValues).toHaveLength(1);
    expect(dynamo.send.thisValues[0]).toBe(client);
    expect(sent(UpdateItemCommand)).toMatchObject({
      TableName: TABLE,
      Key: { id: { S: KEY } },
      ExpressionAttributeValues: { ':status': { S: 'COMPLETED' } },
    });
  });

  it.each([
    { case: "someone else's record, or none", error: conditionFailed(), thrown: false },
    {
      case: 'a failing table',
      error: Object.assign(new Error('the table failed the delete'), { name: 'InternalServerError' }),
      thrown: true,
    },
  ])('reports a delete refused for $case only when the table failed', async ({ error, thrown }) => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(DeleteItemCommand).rejects(error);
    const persistence = store();
    await persistence.put(inProgress());

    // Act
    const result = await persistence.delete(inProgress()).then(
      () => 'deleted',
      (e: unknown) => e,
    );

    // Assess
    expect(result).toBe(thrown ? error : 'deleted');
  });
});
