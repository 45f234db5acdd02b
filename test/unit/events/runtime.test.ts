import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { FamilyRuntime } from '../../../shared/events/runtime.ts';

const ENV = { EVENT_BUS_NAME: 'bus', VAULT_BUCKET: 'vault', STATE_TABLE: 'state' };
const CLIENTS = {
  eventBridgeClient: new EventBridgeClient({ region: 'us-east-1' }),
  s3Client: new S3Client({ region: 'us-east-1' }),
  dynamoDBClient: new DynamoDBClient({ region: 'us-east-1' }),
};

describe('Family runtime', () => {
  it.each(['sink', 'resultStore', 'idempotency'] as const)(
    'builds its %s once per container, not per record',
    (piece) => {
      // Prepare
      const runtime = new FamilyRuntime('connections', { env: ENV, ...CLIENTS });

      // Act
      const first = runtime[piece]();
      const again = runtime[piece]();

      // Assess
      expect(again).toBe(first);
    },
  );

  it.each([
    ['no name', {}, 'tanium-tr-connections'],
    ['a blank name', { POWERTOOLS_SERVICE_NAME: '  ' }, 'tanium-tr-connections'],
    ['a name with spaces around it', { POWERTOOLS_SERVICE_NAME: ' soar-actions ' }, 'soar-actions'],
  ])('names its service from POWERTOOLS_SERVICE_NAME given %s', (_case, env, serviceName) => {
    expect(new FamilyRuntime('connections', { env }).serviceName).toBe(serviceName);
  });
});
