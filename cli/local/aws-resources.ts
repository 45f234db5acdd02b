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
import { FAMILIES, type Family } from '../../shared/actions/types.ts';
import { RESULT_DETAIL_TYPE, RESULT_SOURCE } from '../../shared/events/result.ts';

export const LOCAL_REGION = 'us-east-1';
/**
 * Fewer deliveries than the stack's 5 (infra/environments.ts): locally nothing throttles a receive, and a
 * redelivery test reaches the DLQ in three polls.
 */
export const LOCAL_MAX_RECEIVE_COUNT = 3;

export interface LocalNames {
  bus: string;
  bucket: string;
  table: string;
  secret: string;
  prefix: string;
}

const LOCAL_NAMES: LocalNames = {
  bus: 'tanium-tr-local',
  bucket: 'tanium-tr-local-vault',
  table: 'tanium-tr-local-state',
  secret: 'tanium-tr-local/credentials',
  prefix: 'tanium-tr-local',
};

export interface QueueRef {
  url: string;
  arn: string;
}

export interface LocalResources {
  names: LocalNames;
  queues: Record<Family, QueueRef & { deadLetter: QueueRef }>;
  /** The family queues' visibility timeout, which the handlers are told as the stack tells them. */
  visibilityTimeoutSeconds: number;
  /** Receives every `Action Result` through a bus rule. */
  results: QueueRef;
}

/** AWS clients pointed at one endpoint (moto). */
export interface LocalAws {
  endpoint: string;
  sqs: SQSClient;
  eventBridge: EventBridgeClient;
  s3: S3Client;
  dynamodb: DynamoDBClient;
  secrets: SecretsManagerClient;
  destroy(): void;
}

export function localAws(endpoint: string): LocalAws {
  const common = {
    endpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' },
  };
  const clients = {
    sqs: new SQSClient(common),
    eventBridge: new EventBridgeClient(common),
    s3: new S3Client({ ...common, forcePathStyle: true }),
    dynamodb: new DynamoDBClient(common),
    secrets: new SecretsManagerClient(common),
  };
  return {
    endpoint,
    ...clients,
    destroy() {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string> = {},
): Promise<QueueRef> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl ?? '';
  const described = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: described.Attributes?.QueueArn ?? '' };
}

/**
 * What the CDK stack creates, in moto: the bus, a queue with a DLQ per family, the state table, the
 * vault bucket, the credentials secret, and a results queue subscribed to the bus by a rule.
 */
export async function provisionLocalResources(
  aws: LocalAws,
  secret: Record<string, unknown>,
  options: { names?: LocalNames; visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {},
): Promise<LocalResources> {
  const names = options.names ?? LOCAL_NAMES;
  await aws.eventBridge.send(new CreateEventBusCommand({ Name: names.bus }));
  await aws.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  await aws.dynamodb.send(
    new CreateTableCommand({
      TableName: names.table,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await aws.dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: names.table,
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    }),
  );
  await aws.secrets.send(
    new CreateSecretCommand({ Name: names.secret, SecretString: JSON.stringify(secret) }),
  );

  const queues = {} as LocalResources['queues'];
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 5;
  for (const family of FAMILIES) {
    const deadLetter = await createQueue(aws.sqs, `${names.prefix}-${family}-dlq`);
    const queue = await createQueue(aws.sqs, `${names.prefix}-${family}`, {
      VisibilityTimeout: String(visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetter.arn,
        maxReceiveCount: options.maxReceiveCount ?? LOCAL_MAX_RECEIVE_COUNT,
      }),
    });
    queues[family] = { ...queue, deadLetter };
  }
  const results = await routeToNewQueue(aws, {
    bus: names.bus,
    name: `${names.prefix}-results`,
    pattern: { source: [RESULT_SOURCE], 'detail-type': [RESULT_DETAIL_TYPE] },
  });
  return { names, queues, visibilityTimeoutSeconds, results };
}

/**
 * A rule on `bus` that delivers what `pattern` matches into a new queue, both called `name`: how a
 * consumer receives results or alerts, and how the tests watch the bus.
 */
export async function routeToNewQueue(
  aws: Pick<LocalAws, 'sqs' | 'eventBridge'>,
  options: { bus: string; name: string; pattern: Record<string, unknown> },
): Promise<QueueRef> {
  const queue = await createQueue(aws.sqs, options.name);
  await aws.eventBridge.send(
    new PutRuleCommand({
      Name: options.name,
      EventBusName: options.bus,
      EventPattern: JSON.stringify(options.pattern),
    }),
  );
  await aws.eventBridge.send(
    new PutTargetsCommand({
      Rule: options.name,
      EventBusName: options.bus,
      Targets: [{ Id: 'queue', Arn: queue.arn }],
    }),
  );
  return queue;
}
