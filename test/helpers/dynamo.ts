import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type MotoServer, resetMoto, startMoto } from './moto.ts';

/** The stack's state table (idempotency records and the poller's state): partition key `id`. */
export async function createStateTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

/**
 * For a test file on DynamoDB: moto started once for the file (its standard variables applied), and
 * before each test its state reset and `tableName` created empty. `client()` is the suite's client.
 */
export function useMotoStateTable(tableName: string): { client(): DynamoDBClient } {
  let moto: MotoServer | undefined;
  let client: DynamoDBClient | undefined;
  beforeAll(async () => {
    moto = await startMoto();
    moto.applyEnv();
    client = new DynamoDBClient({});
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });
  beforeEach(async () => {
    await resetMoto(moto!.endpoint);
    await createStateTable(client!, tableName);
  });
  return {
    client() {
      if (!client) throw new Error('the moto state table is only there inside a test');
      return client;
    },
  };
}
