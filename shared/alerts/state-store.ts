import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { awsCallError } from '../config/aws-errors.ts';
import { POLLER_KEY_PREFIX } from '../config/state-keys.ts';
import { LeaseLostError } from './errors.ts';
import type { AlertId, Checkpoint, GroupCursor, LeasedState, RecentGroup, StateStore } from './types.ts';

/** The item id: a prefix that cannot collide with Powertools idempotency records in the same table. */
export function stateKey(pollerName: string): string {
  return `${POLLER_KEY_PREFIX}${pollerName}`;
}

interface StateItem {
  id: string;
  leaseOwner?: string;
  leaseUntil?: number;
  version?: number;
  floor?: number;
  /** JSON of RecentGroup[]: one string attribute is far smaller than nested DynamoDB lists. */
  recent?: string;
  olderCount?: number;
  olderBounds?: [number, number];
  belowAtLeast?: number;
  newestPublishedAt?: number;
  /** JSON of GroupCursor, like `recent` (`group` is a DynamoDB reserved word). */
  groupCursor?: string;
  /** JSON of AlertId[], like `recent`. */
  undated?: string;
  updatedAt?: string;
}

function toLeased(item: StateItem | undefined): LeasedState {
  const version = item?.version ?? 0;
  if (item?.floor === undefined) return { checkpoint: undefined, version };
  const checkpoint: Checkpoint = {
    floor: item.floor,
    recent: item.recent ? parseAttribute<RecentGroup[]>(item.id, 'recent', item.recent) : [],
  };
  if (item.olderCount !== undefined) checkpoint.olderCount = item.olderCount;
  if (item.olderBounds !== undefined) checkpoint.olderBounds = [item.olderBounds[0], item.olderBounds[1]];
  if (item.belowAtLeast !== undefined) checkpoint.belowAtLeast = item.belowAtLeast;
  if (item.newestPublishedAt !== undefined) checkpoint.newestPublishedAt = item.newestPublishedAt;
  if (item.groupCursor !== undefined) {
    checkpoint.group = parseAttribute<GroupCursor>(item.id, 'groupCursor', item.groupCursor);
  }
  if (item.undated !== undefined)
    checkpoint.undated = parseAttribute<AlertId[]>(item.id, 'undated', item.undated);
  return { checkpoint, version };
}

function parseAttribute<T>(id: string, name: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(
      `The poller state item ${id} has an unreadable '${name}' attribute (${(error as Error).message}); ` +
        'fix or delete the item to start again from the first-run window',
      { cause: error },
    );
  }
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/**
 * The poller's state in the DynamoDB table shared with the idempotency records (partition key `id`).
 * The item never gets an `expiration`, so the table's TTL leaves it alone. Every write is conditional:
 * the lease on owner and expiry, a save on owner and version, so two runs can never both advance it.
 */
export class DynamoStateStore implements StateStore {
  private readonly documents: DynamoDBDocumentClient;
  /** Names the item in error messages: which table, and which poller's state. */
  private readonly where: string;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly key: string,
  ) {
    this.where = `(item '${key}' of DynamoDB table '${table}')`;
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async acquire(owner: string, leaseUntil: number, now: number): Promise<LeasedState | undefined> {
    try {
      const result = await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression:
            'SET leaseOwner = :owner, leaseUntil = :until, #version = if_not_exists(#version, :zero)',
          ConditionExpression: 'attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':owner': owner, ':until': leaseUntil, ':now': now, ':zero': 0 },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toLeased(result.Attributes as StateItem | undefined);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw awsCallError(`Unable to lease the poller state ${this.where}`, error);
    }
  }

  async save(owner: string, version: number, checkpoint: Checkpoint): Promise<number> {
    const next = version + 1;
    const values: Record<string, unknown> = {
      ':owner': owner,
      ':version': version,
      ':next': next,
      ':floor': checkpoint.floor,
      ':recent': JSON.stringify(checkpoint.recent),
      ':updatedAt': new Date().toISOString(),
    };
    const sets = ['#version = :next', 'floor = :floor', 'recent = :recent', 'updatedAt = :updatedAt'];
    const removes: string[] = [];
    const optional = {
      olderCount: checkpoint.olderCount,
      olderBounds: checkpoint.olderBounds,
      belowAtLeast: checkpoint.belowAtLeast,
      newestPublishedAt: checkpoint.newestPublishedAt,
      groupCursor: checkpoint.group === undefined ? undefined : JSON.stringify(checkpoint.group),
      undated: checkpoint.undated?.length ? JSON.stringify(checkpoint.undated) : undefined,
    };
    for (const [name, value] of Object.entries(optional)) {
      if (value === undefined) removes.push(name);
      else {
        sets.push(`${name} = :${name}`);
        values[`:${name}`] = value;
      }
    }
    try {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: 'leaseOwner = :owner AND #version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new LeaseLostError(undefined, { cause: error });
      throw awsCallError(`Unable to save the poller checkpoint ${this.where}`, error);
    }
    return next;
  }

  async release(owner: string): Promise<void> {
    try {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression: 'SET leaseUntil = :zero',
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner, ':zero': 0 },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error))
        throw awsCallError(`Unable to release the poller lease ${this.where}`, error);
    }
  }
}
