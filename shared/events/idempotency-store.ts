import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { IdempotencyItemAlreadyExistsError } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { IdempotencyRecordOptions } from '@aws-lambda-powertools/idempotency/types';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** Powertools' default attribute names, which the table uses. */
const STATUS_ATTR = 'status';
const EXPIRY_ATTR = 'expiration';
const IN_PROGRESS_EXPIRY_ATTR = 'in_progress_expiration';
const DATA_ATTR = 'data';
const VALIDATION_ATTR = 'validation';
const IN_PROGRESS = 'INPROGRESS';
const COMPLETED = 'COMPLETED';
/** A token of the put that wrote the in-progress record (see `_putRecord`). */
const CLAIM_ATTR = 'claim';
/** The SQS message whose delivery wrote the in-progress record (see `_putRecord`). */
const HOLDER_ATTR = 'holder';

/**
 * What one idempotent run's put knows beyond the record: the SQS message it runs for, and, when it found
 * another delivery's record in progress, the message that one runs for (undefined: not an SQS one).
 */
export interface PutScope {
  messageId?: string;
  heldBy?: string;
  /** Epoch ms: when the invocation ends, the in-progress record's expiry where Powertools gives none. */
  invocationEnd?: number;
}

/** A put refused because its invocation has no time left: nothing was written. */
export class InvocationEnded extends Error {
  constructor() {
    super('the invocation has no time left to write the in-progress record');
    this.name = 'InvocationEnded';
  }
}

/** The scope of the idempotent run in progress on this async path. */
export const putScope = new AsyncLocalStorage<PutScope>();

/** The record in an item, as Powertools reads one (DynamoDBPersistenceLayer._putRecord). */
function existingRecord(item: Record<string, unknown>): IdempotencyRecord {
  return new IdempotencyRecord({
    idempotencyKey: item.id as string,
    status: item[STATUS_ATTR] as IdempotencyRecordOptions['status'],
    expiryTimestamp: item[EXPIRY_ATTR] as number | undefined,
    inProgressExpiryTimestamp: item[IN_PROGRESS_EXPIRY_ATTR] as number | undefined,
    responseData: item[DATA_ATTR] as IdempotencyRecordOptions['responseData'],
    payloadHash: item[VALIDATION_ATTR] as string | undefined,
  });
}

/**
 * Whether `existing` is the completed record `record`'s request will replay: same parameters (the payload
 * hash), so not a reused requestId that Powertools is about to refuse.
 */
function isReplayOf(existing: IdempotencyRecord, record: IdempotencyRecord): boolean {
  return existing.getStatus() === COMPLETED && existing.payloadHash === record.payloadHash;
}

/**
 * Powertools' DynamoDB persistence, knowing its own records: three changes.
 *
 * A put tells its own record from another delivery's. The SDK resends a put whose answer was lost (a
 * timeout, a reset), and the resend fails its condition against the record the first one wrote. Powertools
 * takes that for another delivery running the request: the action never runs, the message waits out a
 * queue timeout, and on its last attempt goes to the DLQ with no result. Values cannot tell the two apart
 * (deliveries of one batch share the invocation's expiry), so each put writes a random token, which only
 * a resend of the same put finds again.
 *
 * A delete removes only the in-progress record its own put wrote, the one with that put's token.
 * Powertools deletes by key alone, and a delete can outlive its invocation: the bound on the table gives
 * up on it, the sandbox freezes with it pending and thaws later, or the SDK resends it after its answer
 * was lost. By then a redelivery may have completed the record (erasing it would let a later duplicate
 * call Tanium again) or be running under its own in-progress record (erasing that would let a duplicate
 * run beside it), which may carry the same in-progress expiry when it is a delivery of the same
 * invocation.
 *
 * A completed record found by a replay is extended (`#extend`).
 *
 * A put names the SQS message it runs for (`holder`, from putScope), and a put that finds another's
 * record in progress learns that one's: a last attempt waits for its holder only when the holder is its
 * own message's earlier receive (an SQS duplicate), which nothing delivers again.
 */
export class OwnRecordsPersistence extends DynamoDBPersistenceLayer {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  /** The claim token each of this container's pending records was written with. */
  readonly #written = new Map<string, string>();

  constructor(options: { tableName: string; client: DynamoDBClient }) {
    super({ tableName: options.tableName, awsSdkV3Client: options.client });
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  /** Powertools' conditional put (DynamoDBPersistenceLayer._putRecord), plus the claim token. */
  protected override async _putRecord(record: IdempotencyRecord): Promise<void> {
    const scope = putScope.getStore();
    // Powertools writes no in-progress expiry when the invocation has no time left (or no Lambda
    // context): such a record would hold the request until the record's own expiry, 21 days. Past the
    // invocation's end, nothing is written at all.
    record.inProgressExpiryTimestamp ??= scope?.invocationEnd;
    const ends = record.inProgressExpiryTimestamp;
    if (ends === undefined || ends <= Date.now()) throw new InvocationEnded();
    const claim = randomUUID();
    const item: Record<string, AttributeValue> = {
      ...this.getKey(record.idempotencyKey),
      [EXPIRY_ATTR]: { N: String(record.expiryTimestamp) },
      [STATUS_ATTR]: { S: record.getStatus() },
      [CLAIM_ATTR]: { S: claim },
    };
    if (record.inProgressExpiryTimestamp !== undefined) {
      item[IN_PROGRESS_EXPIRY_ATTR] = { N: String(record.inProgressExpiryTimestamp) };
    }
    if (this.isPayloadValidationEnabled() && record.payloadHash !== undefined) {
      item[VALIDATION_ATTR] = { S: record.payloadHash };
    }
    if (scope?.messageId !== undefined) item[HOLDER_ATTR] = { S: scope.messageId };
    const now = Date.now();
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: item,
          // No record, an expired one, or an in-progress one whose invocation has ended.
          ConditionExpression:
            'attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)',
          ExpressionAttributeNames: {
            '#id': 'id',
            '#expiry': EXPIRY_ATTR,
            '#in_progress_expiry': IN_PROGRESS_EXPIRY_ATTR,
            '#status': STATUS_ATTR,
          },
          ExpressionAttributeValues: {
            ':now': { N: String(now / 1000) },
            ':now_in_millis': { N: String(now) },
            ':inprogress': { S: IN_PROGRESS },
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = error.Item;
      const existing = item && existingRecord(unmarshall(item));
      // Only this put writes its claim: found in progress, the record is the one its first attempt wrote.
      const ours = item?.[CLAIM_ATTR]?.S === claim && existing?.getStatus() === IN_PROGRESS;
      // Not ours: as Powertools does, with the record found, so that it needs no second read.
      if (!ours) {
        if (scope !== undefined && existing?.getStatus() === IN_PROGRESS)
          scope.heldBy = item?.[HOLDER_ATTR]?.S;
        // Not awaited: the replay must not wait on it (a slow table would turn it into a retry).
        if (existing && isReplayOf(existing, record)) void this.#extend(record);
        throw new IdempotencyItemAlreadyExistsError(
          `Failed to put record for already existing idempotency key: ${record.idempotencyKey}`,
          existing,
        );
      }
      // This put's own in-progress record, written by its first attempt.
    }
    const expiry = record.inProgressExpiryTimestamp;
    if (expiry !== undefined && expiry <= Date.now()) {
      // Answered after its own invocation ended (the sandbox froze with the put pending): that run was
      // given up, and a redelivery may hold the key by now, whose entry this must not replace.
      throw new Error(
        `The in-progress record of ${record.idempotencyKey} was written after its invocation had ended`,
      );
    }
    this.#written.set(record.idempotencyKey, claim);
  }

  /**
   * Gives a completed record that is about to be replayed the life of a new one. Its request came back,
   * maybe from a DLQ redrive that gave it a new message to live in: that message, and any redrive of it,
   * must still find the record, however long ago the action ran. Best effort, never thrown: the replay is
   * right either way, and a record that could not be extended keeps the life it had.
   */
  async #extend(record: IdempotencyRecord): Promise<void> {
    // Still the record replayed when this lands: not one deleted or expired meanwhile (an update would
    // create a stub that blocks the key), another delivery's in-progress one, or a new one for other
    // parameters.
    // Powertools gives '' without payload validation, which this store always has on.
    const hash = record.payloadHash || undefined;
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: this.getKey(record.idempotencyKey),
          UpdateExpression: 'SET #expiry = :expiry',
          ConditionExpression: `#status = :completed AND #expiry < :expiry${hash === undefined ? '' : ' AND #validation = :hash'}`,
          ExpressionAttributeNames: {
            '#status': STATUS_ATTR,
            '#expiry': EXPIRY_ATTR,
            ...(hash === undefined ? {} : { '#validation': VALIDATION_ATTR }),
          },
          ExpressionAttributeValues: {
            ':completed': { S: COMPLETED },
            ':expiry': { N: String(record.expiryTimestamp) },
            ...(hash === undefined ? {} : { ':hash': { S: hash } }),
          },
        }),
      );
    } catch {
      // Already extended by a later delivery, completed anew, or the table failing: nothing to do.
    }
  }

  protected override async _updateRecord(record: IdempotencyRecord): Promise<void> {
    this.#written.delete(record.idempotencyKey);
    await super._updateRecord(record);
  }

  protected override async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    const key = record.idempotencyKey;
    const claim = this.#written.get(key);
    this.#written.delete(key);
    // Powertools deletes only a record its own put wrote: with no claim, none of this container's is left.
    if (claim === undefined) return;
    try {
      await this.#client.send(
        new DeleteItemCommand({
          TableName: this.#tableName,
          Key: this.getKey(key),
          // The claim, not the in-progress expiry: deliveries of one invocation write the same expiry.
          ConditionExpression: '#status = :inProgress AND #claim = :claim',
          ExpressionAttributeNames: { '#status': STATUS_ATTR, '#claim': CLAIM_ATTR },
          ExpressionAttributeValues: { ':inProgress': { S: IN_PROGRESS }, ':claim': { S: claim } },
        }),
      );
    } catch (error) {
      // Someone else's record, or none: there is nothing of ours left to delete.
      if (error instanceof ConditionalCheckFailedException) return;
      throw error;
    }
  }
}
