import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { FamilyRuntime } from '../../../shared/events/runtime.ts';
import { VaultError } from '../../../shared/tanium/errors.ts';
import { bundledS3Api } from '../../../shared/vault/s3-api.ts';

const ENV = { EVENT_BUS_NAME: 'bus', VAULT_BUCKET: 'vault', STATE_TABLE: 'state' };
const CLIENTS = {
  eventBridgeClient: new EventBridgeClient({ region: 'us-east-1' }),
  s3Api: bundledS3Api,
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

  it('refuses to store a result when built without an S3 client package, for good', () => {
    // Prepare
    const { s3Api: _api, ...withoutApi } = CLIENTS;
    const runtime = new FamilyRuntime('connections', { env: ENV, ...withoutApi });

    // Act
    const error = (() => {
      try {
        runtime.resultStore();
      } catch (e) {
        return e;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).message).toBe(
      'Error occurred while storing the result in the vault. The handler was built without an S3 client package',
    );
    expect((error as VaultError).retryable).toBe(false);
  });

  it.each([
    ['no name', {}, 'tanium-tr-connections'],
    ['a blank name', { POWERTOOLS_SERVICE_NAME: '  ' }, 'tanium-tr-connections'],
    ['a name with spaces around it', { POWERTOOLS_SERVICE_NAME: ' soar-actions ' }, 'soar-actions'],
  ])('names its service from POWERTOOLS_SERVICE_NAME given %s', (_case, env, serviceName) => {
    expect(new FamilyRuntime('connections', { env }).serviceName).toBe(serviceName);
  });
});
