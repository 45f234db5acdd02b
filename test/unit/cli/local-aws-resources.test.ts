import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  LOCAL_MAX_RECEIVE_COUNT,
  LOCAL_REGION,
  type LocalAws,
  localAws,
  provisionLocalResources,
  routeToNewQueue,
} from '../../../cli/local/aws-resources.ts';
import { FAMILIES } from '../../../shared/actions/types.ts';

const ENDPOINT = 'http://127.0.0.1:5000';
const BASE = `${ENDPOINT}/123456789012`;

const sqs = mockClient(SQSClient);
const eventBridge = mockClient(EventBridgeClient);
const s3 = mockClient(S3Client);
const dynamodb = mockClient(DynamoDBClient);
const secrets = mockClient(SecretsManagerClient);

/** Every command any mocked client was sent, in order, as `Client:Command`. */
function commandOrder(): string[] {
  const named = [
    ['sqs', sqs],
    ['eventBridge', eventBridge],
    ['s3', s3],
    ['dynamodb', dynamodb],
    ['secrets', secrets],
  ] as const;
  return named
    .flatMap(([client, mock]) =>
      mock.calls().map((call) => ({
        // sinon numbers every call across its stubs: the order in which the clients were sent them.
        order: (call as unknown as { callId: number }).callId,
        name: `${client}:${call.args[0].constructor.name}`,
      })),
    )
    .sort((a, b) => a.order - b.order)
    .map((entry) => entry.name);
}

function clients(): LocalAws {
  return {
    endpoint: ENDPOINT,
    sqs: new SQSClient({ region: LOCAL_REGION }),
    eventBridge: new EventBridgeClient({ region: LOCAL_REGION }),
    s3: new S3Client({ region: LOCAL_REGION }),
    dynamodb: new DynamoDBClient({ region: LOCAL_REGION }),
    secrets: new SecretsManagerClient({ region: LOCAL_REGION }),
    destroy: () => undefined,
  };
}

/** Queue attributes each created queue was given, by name. */
function queueAttributes(): Record<string, Record<string, string> | undefined> {
  return Object.fromEntries(
    sqs
      .commandCalls(CreateQueueCommand)
      .map((call) => [call.args[0].input.QueueName ?? '', call.args[0].input.Attributes]),
  );
}

beforeEach(() => {
  for (const mock of [sqs, eventBridge, s3, dynamodb, secrets]) mock.reset();
  // moto answers with a URL and an ARN derived from the name: the test can tell the queues apart.
  sqs.on(CreateQueueCommand).callsFake(async (input: { QueueName: string }) => ({
    QueueUrl: `${BASE}/${input.QueueName}`,
  }));
  sqs.on(GetQueueAttributesCommand).callsFake(async (input: { QueueUrl: string }) => ({
    Attributes: { QueueArn: `arn:aws:sqs:us-east-1:123456789012:${input.QueueUrl.split('/').at(-1)}` },
  }));
});

describe('localAws', () => {
  it('points every client at the endpoint, in the local region, with moto credentials', async () => {
    const aws = localAws(ENDPOINT);
    try {
      expect(aws.endpoint).toBe(ENDPOINT);
      for (const client of [aws.sqs, aws.eventBridge, aws.s3, aws.dynamodb, aws.secrets]) {
        const endpoint = await client.config.endpoint?.();
        expect(`${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`).toBe(ENDPOINT);
        expect(await client.config.region()).toBe('us-east-1');
        await expect(client.config.credentials()).resolves.toMatchObject({
          accessKeyId: 'testing',
          secretAccessKey: 'testing',
          sessionToken: 'testing',
        });
      }
      // moto serves buckets under its one host name, not as subdomains.
      expect(aws.s3.config.forcePathStyle).toBe(true);
    } finally {
      aws.destroy();
    }
  });

  it('destroys every client it made', () => {
    const aws = localAws(ENDPOINT);
    const destroyed = [aws.sqs, aws.eventBridge, aws.s3, aws.dynamodb, aws.secrets].map((client) =>
      vi.spyOn(client, 'destroy'),
    );

    aws.destroy();

    for (const destroy of destroyed) expect(destroy).toHaveBeenCalledOnce();
  });
});

describe('provisionLocalResources', () => {
  it('creates the bus, bucket, table with its TTL and the secret before the queues', async () => {
    await provisionLocalResources(clients(), { base_url: 'https://127.0.0.1:1', api_token: 'token-1' });

    expect(eventBridge.commandCalls(CreateEventBusCommand)[0]?.args[0].input).toEqual({
      Name: 'tanium-tr-local',
    });
    expect(s3.commandCalls(CreateBucketCommand)[0]?.args[0].input).toEqual({
      Bucket: 'tanium-tr-local-vault',
    });
    expect(dynamodb.commandCalls(CreateTableCommand)[0]?.args[0].input).toEqual({
      TableName: 'tanium-tr-local-state',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect(dynamodb.commandCalls(UpdateTimeToLiveCommand)[0]?.args[0].input).toEqual({
      TableName: 'tanium-tr-local-state',
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
    const secret = secrets.commandCalls(CreateSecretCommand)[0]?.args[0].input;
    expect(secret?.Name).toBe('tanium-tr-local/credentials');
    expect(JSON.parse(secret?.SecretString ?? '')).toEqual({
      base_url: 'https://127.0.0.1:1',
      api_token: 'token-1',
    });
    // The TTL needs its table, and the queues come after what the handlers read.
    expect(commandOrder().slice(0, 6)).toEqual([
      'eventBridge:CreateEventBusCommand',
      's3:CreateBucketCommand',
      'dynamodb:CreateTableCommand',
      'dynamodb:UpdateTimeToLiveCommand',
      'secrets:CreateSecretCommand',
      'sqs:CreateQueueCommand',
    ]);
  });

  it('gives each family a queue whose redrive policy points at its own DLQ', async () => {
    const resources = await provisionLocalResources(clients(), {});

    const attributes = queueAttributes();
    for (const family of FAMILIES) {
      const name = `tanium-tr-local-${family}`;
      // The DLQ must exist first: the redrive policy names its ARN.
      expect(attributes[`${name}-dlq`]).toEqual({});
      expect(attributes[name]).toEqual({
        VisibilityTimeout: '5',
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: `arn:aws:sqs:us-east-1:123456789012:${name}-dlq`,
          maxReceiveCount: LOCAL_MAX_RECEIVE_COUNT,
        }),
      });
      expect(resources.queues[family]).toEqual({
        url: `${BASE}/${name}`,
        arn: `arn:aws:sqs:us-east-1:123456789012:${name}`,
        deadLetter: {
          url: `${BASE}/${name}-dlq`,
          arn: `arn:aws:sqs:us-east-1:123456789012:${name}-dlq`,
        },
      });
    }
    expect(Object.keys(resources.queues)).toEqual([...FAMILIES]);
    expect(LOCAL_MAX_RECEIVE_COUNT).toBe(3);
    expect(resources.visibilityTimeoutSeconds).toBe(5);
  });

  it('asks for the ARN of each queue it created', async () => {
    await provisionLocalResources(clients(), {});

    const asked = sqs.commandCalls(GetQueueAttributesCommand).map((call) => call.args[0].input);
    expect(asked).toHaveLength(FAMILIES.length * 2 + 1);
    expect(asked[0]).toEqual({
      QueueUrl: `${BASE}/tanium-tr-local-${FAMILIES[0]}-dlq`,
      AttributeNames: ['QueueArn'],
    });
  });

  it('takes the names, visibility timeout and receive count it is given', async () => {
    const names = { bus: 'bus-1', bucket: 'bucket-1', table: 'table-1', secret: 'secret-1', prefix: 'p' };

    const resources = await provisionLocalResources(
      clients(),
      {},
      { names, visibilityTimeoutSeconds: 42, maxReceiveCount: 7 },
    );

    expect(resources.names).toBe(names);
    expect(resources.visibilityTimeoutSeconds).toBe(42);
    expect(queueAttributes()['p-alerts']).toEqual({
      VisibilityTimeout: '42',
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: 'arn:aws:sqs:us-east-1:123456789012:p-alerts-dlq',
        maxReceiveCount: 7,
      }),
    });
    expect(eventBridge.commandCalls(CreateEventBusCommand)[0]?.args[0].input.Name).toBe('bus-1');
    expect(s3.commandCalls(CreateBucketCommand)[0]?.args[0].input.Bucket).toBe('bucket-1');
    expect(dynamodb.commandCalls(CreateTableCommand)[0]?.args[0].input.TableName).toBe('table-1');
    expect(dynamodb.commandCalls(UpdateTimeToLiveCommand)[0]?.args[0].input.TableName).toBe('table-1');
    expect(secrets.commandCalls(CreateSecretCommand)[0]?.args[0].input.Name).toBe('secret-1');
    expect(eventBridge.commandCalls(PutRuleCommand)[0]?.args[0].input).toMatchObject({
      Name: 'p-results',
      EventBusName: 'bus-1',
    });
  });

  it('routes every Action Result on the bus to the results queue', async () => {
    const resources = await provisionLocalResources(clients(), {});

    expect(resources.results).toEqual({
      url: `${BASE}/tanium-tr-local-results`,
      arn: 'arn:aws:sqs:us-east-1:123456789012:tanium-tr-local-results',
    });
    expect(queueAttributes()['tanium-tr-local-results']).toEqual({});
    const rule = eventBridge.commandCalls(PutRuleCommand)[0]?.args[0].input;
    expect(rule).toMatchObject({ Name: 'tanium-tr-local-results', EventBusName: 'tanium-tr-local' });
    expect(JSON.parse(rule?.EventPattern ?? '')).toEqual({
      source: ['tanium.threat-response'],
      'detail-type': ['Action Result'],
    });
  });
});

describe('routeToNewQueue', () => {
  it('creates the queue, then a rule with the pattern, then the queue as its target', async () => {
    const pattern = { source: ['a'], detail: { severity: ['high'] } };

    const queue = await routeToNewQueue(clients(), { bus: 'bus-1', name: 'watch-1', pattern });

    expect(queue).toEqual({
      url: `${BASE}/watch-1`,
      arn: 'arn:aws:sqs:us-east-1:123456789012:watch-1',
    });
    expect(eventBridge.commandCalls(PutRuleCommand)[0]?.args[0].input).toEqual({
      Name: 'watch-1',
      EventBusName: 'bus-1',
      EventPattern: JSON.stringify(pattern),
    });
    expect(eventBridge.commandCalls(PutTargetsCommand)[0]?.args[0].input).toEqual({
      Rule: 'watch-1',
      EventBusName: 'bus-1',
      Targets: [{ Id: 'queue', Arn: 'arn:aws:sqs:us-east-1:123456789012:watch-1' }],
    });
    expect(commandOrder()).toEqual([
      'sqs:CreateQueueCommand',
      'sqs:GetQueueAttributesCommand',
      'eventBridge:PutRuleCommand',
      'eventBridge:PutTargetsCommand',
    ]);
  });

  it('answers with empty strings when moto gives no URL or ARN', async () => {
    sqs.on(CreateQueueCommand).resolves({});
    sqs.on(GetQueueAttributesCommand).resolves({});

    const queue = await routeToNewQueue(clients(), { bus: 'bus-1', name: 'watch-1', pattern: {} });

    expect(queue).toEqual({ url: '', arn: '' });
    expect(sqs.commandCalls(GetQueueAttributesCommand)[0]?.args[0].input.QueueUrl).toBe('');
  });
});
