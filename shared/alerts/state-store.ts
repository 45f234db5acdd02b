import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod/mini';
import { awsCallError } from '../config/aws-errors.ts';
import { POLLER_KEY_PREFIX } from '../config/state-keys.ts';
import { describeIssue } from '../config/zod-messages.ts';
import { LeaseLostError } from './errors.ts';
import { MAX_LEASE_AHEAD_MS } from './lease.ts';
import type { AlertId, Checkpoint, GroupCursor, LeasedState, RecentGroup, StateStore } from './types.ts';

/** The item id: a prefix that cannot collide with Powertools idempotency records in the same table. */
export function stateKey(pollerName: string): string {
  return `${POLLER_KEY_PREFIX}${pollerName}`;
}

/** The furthest from 1970 a Date reaches (ECMA-262): the poller turns these times into ISO strings. */
const MAX_DATE_MS = 8.64e15;
const epochMs = z
  .number()
  .check(z.refine((value) => Math.abs(value) <= MAX_DATE_MS, 'must be epoch milliseconds a date can hold'));
const alertId = z.union([z.number(), z.string()]);

/**
 * The stored item, checked as read: a damaged one (edited by hand, written by another version) would
 * otherwise fail every run with a TypeError naming neither the item nor the attribute.
 */
const stateItemSchema = z.object({
  version: z.optional(z.number()),
  floor: z.optional(epochMs),
  /** JSON of RecentGroup[]: one string attribute is far smaller than nested DynamoDB lists. */
  recent: z.optional(z.string()),
  olderCount: z.optional(z.number()),
  olderBounds: z.optional(z.tuple([z.number(), z.number()])),
  belowAtLeast: z.optional(z.number()),
  newestPublishedAt: z.optional(epochMs),
  /** JSON of GroupCursor, like `recent` (`group` is a DynamoDB reserved word). */
  groupCursor: z.optional(z.string()),
  /** JSON of AlertId[], like `recent`. */
  undated: z.optional(z.string()),
  unsavedSince: z.optional(epochMs),
});

/** An attribute held as JSON text, and the shape it must have in words (for the error). */
interface JsonAttribute<T> {
  name: string;
  schema: z.ZodMiniType<T>;
  shape: string;
}

const RECENT: JsonAttribute<RecentGroup[]> = {
  name: 'recent',
  schema: z.array(z.tuple([epochMs, z.array(alertId)])),
  shape: 'a list of [createdAt, [alert ids]] groups',
};
const GROUP_CURSOR: JsonAttribute<GroupCursor> = {
  name: 'groupCursor',
  schema: z.object({ at: epochMs, passed: z.number(), edge: z.array(alertId) }),
  shape: 'an object {at, passed, edge}',
};
const UNDATED: JsonAttribute<AlertId[]> = {
  name: 'undated',
  schema: z.array(alertId),
  shape: 'a list of alert ids',
};

/** No poller state existed before this: an earlier floor is a value in seconds, or typed by hand. */
const EARLIEST_FLOOR_MS = Date.UTC(2010, 0, 1);

/**
 * How far ahead of the function's clock a floor may be. Runs follow Tanium's alert times, so a Tanium
 * whose clock runs ahead (a time zone taken for UTC: hours) moves the floor ahead too; a floor days
 * ahead was typed by hand.
 */
const MAX_FLOOR_AHEAD_MS = 2 * 86_400_000;

/**
 * A floor no run writes, checked as read: one days ahead of the clock would skip every alert until
 * then, and one before 2010 (seconds written for milliseconds) would publish every alert Tanium holds
 * again; both silently, each run reporting itself caught up.
 */
function floorProblem(floor: number, now: number): string | undefined {
  if (floor > now + MAX_FLOOR_AHEAD_MS) {
    return `attribute 'floor' is ${floor} (${new Date(floor).toISOString()}), more than two days ahead of the clock (${new Date(now).toISOString()}): every alert until then would be skipped`;
  }
  if (floor < EARLIEST_FLOOR_MS) {
    return `attribute 'floor' is ${floor} (${new Date(floor).toISOString()}), before 2010: it must be epoch milliseconds`;
  }
  return undefined;
}

function toLeased(
  id: string,
  attributes: Record<string, unknown> | undefined,
  now: number,
  startedAt: number,
): LeasedState {
  if (attributes === undefined) return { checkpoint: undefined, version: 0, unsavedSince: startedAt };
  const parsed = stateItemSchema.safeParse(attributes);
  if (!parsed.success) {
    const { issues } = parsed.error;
    const names = [...new Set(issues.map((issue) => String(issue.path[0])))];
    const problems = issues.map((issue) => describeIssue(issue, 'attribute')).join('; ');
    throw unreadable(id, names, problems);
  }
  const item = parsed.data;
  const version = item.version ?? 0;
  // Written by every lease since the last save, so absent only from an item written by hand.
  const unsavedSince = item.unsavedSince ?? startedAt;
  if (item.floor === undefined) {
    // A first run reads from here: before 2010 it would publish every alert Tanium holds.
    if (unsavedSince < EARLIEST_FLOOR_MS) {
      throw unreadable(
        id,
        ['unsavedSince'],
        `attribute 'unsavedSince' is ${unsavedSince} (${new Date(unsavedSince).toISOString()}), before 2010: it must be epoch milliseconds`,
      );
    }
    return { checkpoint: undefined, version, unsavedSince };
  }
  const problem = floorProblem(item.floor, now);
  if (problem !== undefined) throw unreadable(id, ['floor'], problem);
  const checkpoint: Checkpoint = {
    floor: item.floor,
    recent: item.recent ? parseAttribute(id, RECENT, item.recent) : [],
  };
  if (item.olderCount !== undefined) checkpoint.olderCount = item.olderCount;
  if (item.olderBounds !== undefined) checkpoint.olderBounds = [item.olderBounds[0], item.olderBounds[1]];
  if (item.belowAtLeast !== undefined) checkpoint.belowAtLeast = item.belowAtLeast;
  if (item.newestPublishedAt !== undefined) checkpoint.newestPublishedAt = item.newestPublishedAt;
  if (item.groupCursor !== undefined) {
    checkpoint.group = parseAttribute(id, GROUP_CURSOR, item.groupCursor);
  }
  if (item.undated !== undefined) checkpoint.undated = parseAttribute(id, UNDATED, item.undated);
  return { checkpoint, version, unsavedSince };
}

function parseAttribute<T>(id: string, { name, schema, shape }: JsonAttribute<T>, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw unreadable(id, [name], (error as Error).message, error);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      describeIssue({ ...issue, path: [name, ...issue.path] }, 'attribute'),
    );
    throw unreadable(id, [name], `${problems.join('; ')}; it must hold ${shape}`);
  }
  return parsed.data;
}

/**
 * What an operator can do about a damaged item. Deleting it is the easy way, and the costly one: the
 * next run starts as a first run and publishes the whole first-run window again.
 */
const REPAIR_GUIDANCE =
  "fix it, or replace it with only {id, floor}, 'floor' the time (epoch milliseconds) from which to publish alerts; deleting it starts again from the first-run window, publishing that window's alerts again";

function unreadable(id: string, names: string[], problems: string, cause?: unknown): Error {
  const what =
    names.length === 1
      ? `an unreadable '${names[0]}' attribute`
      : `unreadable attributes ${names.map((name) => `'${name}'`).join(', ')}`;
  return new Error(
    `The poller state item ${id} has ${what} (${problems}); ${REPAIR_GUIDANCE}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Whether the item a failed save's condition found is that save's own write: the SDK sends an update
 * again when its answer was lost (a timeout, a reset), and the resend then fails the version check its
 * first landing moved on. Each save writes an id of its own, so no other write passes for it.
 */
function ownWriteLanded(error: ConditionalCheckFailedException, saveId: string): boolean {
  // ReturnValuesOnConditionCheckFailure puts the item found on the error, still marshalled: the document
  // client converts results, not errors.
  if (!error.Item) return false;
  try {
    return unmarshall(error.Item).saveId === saveId;
  } catch {
    return false;
  }
}

/**
 * The poller's state in the DynamoDB table shared with the idempotency records (partition key `id`).
 * The item never gets an `expiration`, so the table's TTL leaves it alone. Every write is conditional:
 * the lease on expiry (or its own owner), a save on owner and version, so two runs can never both
 * advance it. An owner names one run, never the request id alone: two deliveries of one scheduled
 * invocation share it and may run at once.
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

  async acquire(
    owner: string,
    leaseUntil: number,
    now: number,
    signal?: AbortSignal,
    startedAt = now,
  ): Promise<LeasedState | undefined> {
    try {
      const result = await this.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression:
            'SET leaseOwner = :owner, leaseUntil = :until, #version = if_not_exists(#version, :zero), unsavedSince = if_not_exists(unsavedSince, :startedAt)',
          // The owner's own lease too: the SDK sends the update again when its answer was lost, and the
          // resend would otherwise find the lease its first landing took. Owners are unique per run. And
          // a lease no run sets (beyond the longest one, or not a number: written by hand) is taken over:
          // it would keep every run skipping, which no alarm sees.
          ConditionExpression:
            'attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner OR leaseUntil > :latest OR NOT attribute_type(leaseUntil, :number)',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':until': leaseUntil,
            ':now': now,
            ':zero': 0,
            ':latest': now + MAX_LEASE_AHEAD_MS,
            ':number': 'N',
            ':startedAt': startedAt,
          },
          ReturnValues: 'ALL_NEW',
        }),
        signal,
      );
      return toLeased(this.key, result.Attributes, now, startedAt);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw awsCallError(`Unable to lease the poller state ${this.where}`, error);
    }
  }

  async save(owner: string, version: number, checkpoint: Checkpoint, signal?: AbortSignal): Promise<number> {
    const next = version + 1;
    const saveId = randomUUID();
    const values: Record<string, unknown> = {
      ':saveId': saveId,
      ':owner': owner,
      ':version': version,
      ':next': next,
      ':floor': checkpoint.floor,
      ':recent': JSON.stringify(checkpoint.recent),
      ':updatedAt': new Date().toISOString(),
    };
    const sets = [
      '#version = :next',
      'floor = :floor',
      'recent = :recent',
      'updatedAt = :updatedAt',
      'saveId = :saveId',
    ];
    // The next lease marks its own run as the earliest unsaved one.
    const removes = ['unsavedSince'];
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
      await this.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: 'leaseOwner = :owner AND #version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
        signal,
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        if (ownWriteLanded(error, saveId)) return next;
        throw new LeaseLostError(undefined, { cause: error });
      }
      throw awsCallError(`Unable to save the poller checkpoint ${this.where}`, error);
    }
    return next;
  }

  async noteTried(startedAt: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression: 'SET unsavedSince = if_not_exists(unsavedSince, :startedAt)',
          ExpressionAttributeValues: { ':startedAt': startedAt },
        }),
        signal,
      );
    } catch (error) {
      throw awsCallError(`Unable to note the failed poller run ${this.where}`, error);
    }
  }

  async release(owner: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: this.key },
          UpdateExpression: 'SET leaseUntil = :zero',
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner, ':zero': 0 },
        }),
        signal,
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException))
        throw awsCallError(`Unable to release the poller lease ${this.where}`, error);
    }
  }

  private send(command: UpdateCommand, signal: AbortSignal | undefined) {
    return signal ? this.documents.send(command, { abortSignal: signal }) : this.documents.send(command);
  }
}
