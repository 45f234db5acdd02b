import { IdempotencyItemAlreadyExistsError } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { DeleteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Powertools' default attribute names, which the table uses. */
const STATUS_ATTR = 'status';
const IN_PROGRESS_EXPIRY_ATTR = 'in_progress_expiration';
const IN_PROGRESS = 'INPROGRESS';

/** Whether `existing` holds exactly what putting `record` writes (an in-progress record of this invocation). */
function sameWrite(existing: IdempotencyRecord, record: IdempotencyRecord): boolean {
  return (
    existing.getStatus() === IN_PROGRESS &&
    record.inProgressExpiryTimestamp !== undefined &&
    existing.inProgressExpiryTimestamp === record.inProgressExpiryTimestamp &&
    existing.expiryTimestamp === record.expiryTimestamp &&
    existing.payloadHash === record.payloadHash
  );
}

/**
 * Powertools' DynamoDB persistence, except that a delete removes only the in-progress record this
 * container wrote. Powertools deletes by key alone, and a delete can outlive its invocation: the bound
 * on the table gives up on it, the sandbox freezes with it pending and thaws later. By then a redelivery
 * may have completed the record (erasing it would let a later duplicate call Tanium again) or be running
 * under its own in-progress record (erasing that would let a duplicate run beside it). And a put whose
 * answer was lost knows its own record when the SDK's resend finds it.
 */
export class OwnRecordDeletes extends DynamoDBPersistenceLayer {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  /** The in-progress expiry (epoch ms) each of this container's pending records was written with. */
  readonly #written = new Map<string, number | undefined>();

  constructor(options: { tableName: string; client: DynamoDBClient }) {
    super({ tableName: options.tableName, awsSdkV3Client: options.client });
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  protected override async _putRecord(record: IdempotencyRecord): Promise<void> {
    const key = record.idempotencyKey;
    try {
      await super._putRecord(record);
    } catch (error) {
      // The SDK resends a put whose answer was lost (a timeout, a reset), and the resend fails its
      // condition against the record the first one wrote: that record is ours, not another delivery's,
      // which would otherwise wait for nobody (and on the last attempt publish nothing). Only while no put
      // of this container holds the key: two deliveries in one batch write the same values, and the
      // first to get here claims it (the set below runs before anything else can).
      const existing = error instanceof IdempotencyItemAlreadyExistsError ? error.existingRecord : undefined;
      if (!existing || this.#written.has(key) || !sameWrite(existing, record)) throw error;
    }
    this.#written.set(key, record.inProgressExpiryTimestamp);
  }

  protected override async _updateRecord(record: IdempotencyRecord): Promise<void> {
    this.#written.delete(record.idempotencyKey);
    await super._updateRecord(record);
  }

  protected override async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    const key = record.idempotencyKey;
    const expiry = this.#written.get(key);
    this.#written.delete(key);
    const ours = expiry === undefined ? 'attribute_not_exists(#expiry)' : '#expiry = :expiry';
    try {
      await this.#client.send(
        new DeleteItemCommand({
          TableName: this.#tableName,
          Key: this.getKey(key),
          ConditionExpression: `#status = :inProgress AND ${ours}`,
          ExpressionAttributeNames: { '#status': STATUS_ATTR, '#expiry': IN_PROGRESS_EXPIRY_ATTR },
          ExpressionAttributeValues: {
            ':inProgress': { S: IN_PROGRESS },
            ...(expiry === undefined ? {} : { ':expiry': { N: String(expiry) } }),
          },
        }),
      );
    } catch (error) {
      // Someone else's record, or none: there is nothing of ours left to delete.
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return;
      throw error;
    }
  }
}
