import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { parseCredentials, type TaniumCredentials } from '../../../shared/config/credentials.ts';
import {
  createFamilyHandler,
  type Family,
  type FamilyHandlerOptions,
} from '../../../shared/events/family-handler.ts';
import type { EventLogger } from '../../../shared/events/logging.ts';
import type { ActionMetrics, RequestObservation } from '../../../shared/events/metrics.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import type { TaniumResponse } from '../../../shared/tanium/client.ts';

export const BUS = 'tanium-tr-test-bus';
export const BUCKET = 'tanium-tr-test-vault';
export const TABLE = 'tanium-tr-test-state';

export const ENV = {
  EVENT_BUS_NAME: BUS,
  VAULT_BUCKET: BUCKET,
  STATE_TABLE: TABLE,
  MAX_RECEIVE_COUNT: '3',
};

export function credentials(token = 'unit-test-token'): TaniumCredentials {
  return parseCredentials({ base_url: 'https://tanium.example.test', api_token: token }, 'test');
}

export function taniumResponse<T>(payload: T): TaniumResponse<T> {
  return { status: 200, payload, headers: {}, auth: 'token' };
}

export interface LogLine {
  level: string;
  message: string;
  extra: Record<string, unknown>;
}

export function recordingLogger(lines: LogLine[]): EventLogger {
  const at =
    (level: string) =>
    (message: string, extra: Record<string, unknown> = {}) =>
      lines.push({ level, message, extra });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function recordingMetrics(
  observations: RequestObservation[],
): ActionMetrics & { flushes: number; replacements: number; unpublishedCount: number } {
  const metrics = {
    flushes: 0,
    replacements: 0,
    unpublishedCount: 0,
    record: (observation: RequestObservation) => void observations.push(observation),
    replaced: () => {
      metrics.replacements++;
    },
    unpublished: () => {
      metrics.unpublishedCount++;
    },
    flush: () => {
      metrics.flushes++;
    },
  };
  return metrics;
}

/** Makes the mocked EventBridge accept every entry of every PutEvents call. */
export function acceptAllEntries(eventBridge: AwsClientStub<EventBridgeClient>): void {
  eventBridge.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: (input.Entries ?? []).map((_, index) => ({ EventId: `event-${index}` })),
  }));
}

/** The details of every `Action Result` event sent through the mocked EventBridge client. */
export function publishedDetails(eventBridge: AwsClientStub<EventBridgeClient>): ResultDetail[] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => JSON.parse(entry.Detail ?? '{}') as ResultDetail);
}

/** A call on the fake idempotency table, for a test that makes some of them fail. */
export type TableCall = 'put' | 'update' | 'get' | 'delete';

/**
 * A DynamoDB table in memory behind aws-sdk-client-mock, with the conditional put Powertools
 * idempotency relies on, so the real persistence layer runs in unit tests. `fails` may throw an error
 * for a call, before it changes anything (as a throttled or refused request does).
 */
export function fakeIdempotencyTable(
  dynamo: AwsClientStub<DynamoDBClient>,
  fails: (call: TableCall) => void = () => undefined,
): Map<string, Record<string, AttributeValue>> {
  const items = new Map<string, Record<string, AttributeValue>>();
  const keyOf = (key: Record<string, AttributeValue> | undefined) => key?.id?.S ?? '';
  dynamo.on(PutItemCommand).callsFake((input: { Item: Record<string, AttributeValue> }) => {
    fails('put');
    const id = keyOf(input.Item);
    const existing = items.get(id);
    const nowSeconds = Date.now() / 1000;
    const expired = existing && Number(existing.expiration?.N ?? 0) < nowSeconds;
    const inProgressExpired =
      existing?.status?.S === 'INPROGRESS' &&
      existing.in_progress_expiration !== undefined &&
      Number(existing.in_progress_expiration.N) < Date.now();
    if (existing && !expired && !inProgressExpired) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: existing,
      });
    }
    items.set(id, { ...input.Item });
    return {};
  });
  dynamo
    .on(UpdateItemCommand)
    .callsFake(
      (input: {
        Key: Record<string, AttributeValue>;
        ExpressionAttributeNames: Record<string, string>;
        ExpressionAttributeValues: Record<string, AttributeValue>;
        UpdateExpression: string;
      }) => {
        fails('update');
        const id = keyOf(input.Key);
        const item = { ...(items.get(id) ?? input.Key) };
        const assignments = input.UpdateExpression.replace(/^SET /, '').split(', ');
        for (const assignment of assignments) {
          const [name, value] = assignment.split(' = ') as [string, string];
          const attribute = input.ExpressionAttributeNames[name] as string;
          item[attribute] = input.ExpressionAttributeValues[value] as AttributeValue;
        }
        items.set(id, item);
        return {};
      },
    );
  dynamo.on(GetItemCommand).callsFake((input: { Key: Record<string, AttributeValue> }) => {
    fails('get');
    return { Item: items.get(keyOf(input.Key)) };
  });
  dynamo.on(DeleteItemCommand).callsFake((input: { Key: Record<string, AttributeValue> }) => {
    fails('delete');
    items.delete(keyOf(input.Key));
    return {};
  });
  return items;
}

export interface HandlerKit {
  handler: ReturnType<typeof createFamilyHandler>;
  logs: LogLine[];
  observations: RequestObservation[];
  metrics: ReturnType<typeof recordingMetrics>;
  credentialReads: { count: number };
}

/** A family handler wired to mocked AWS clients, a fixed credential and recording logger and metrics. */
export function buildHandler(
  family: Family,
  overrides: Partial<FamilyHandlerOptions> & { token?: () => string } = {},
): HandlerKit {
  const logs: LogLine[] = [];
  const observations: RequestObservation[] = [];
  const metrics = recordingMetrics(observations);
  const credentialReads = { count: 0 };
  const { token, ...options } = overrides;
  const handler = createFamilyHandler(family, {
    env: ENV,
    credentials: async () => {
      credentialReads.count++;
      return credentials(token?.());
    },
    eventBridgeClient: new EventBridgeClient({ region: 'us-east-1' }),
    s3Client: new S3Client({ region: 'us-east-1' }),
    dynamoDBClient: new DynamoDBClient({ region: 'us-east-1' }),
    logger: recordingLogger(logs),
    metrics,
    sleep: async () => undefined,
    ...options,
  });
  return { handler, logs, observations, metrics, credentialReads };
}
