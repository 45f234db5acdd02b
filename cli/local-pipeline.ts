import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { FAMILIES, type Family } from '../shared/actions/types.ts';
import { createFamilyHandler, type FamilyHandler } from '../shared/events/family-handler.ts';
import type { EventLogger } from '../shared/events/logging.ts';
import type { ActionMetrics } from '../shared/events/metrics.ts';
import { RESULT_DETAIL_TYPE, RESULT_SOURCE, type ResultDetail } from '../shared/events/result.ts';
import { createFamilyHandler as createVaultFamilyHandler } from '../shared/events/vault-family-handler.ts';
import { closeAgents } from '../shared/tanium/agent.ts';
import { startEmulator } from '../test/emulator/index.ts';
import { type MotoServer, startMoto } from '../test/helpers/moto.ts';

// The bundled emulator and moto helper live under test/: the local pipeline is their one non-test user.

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

const REGION = 'us-east-1';
/** The stack's redrive setting. */
export const LOCAL_MAX_RECEIVE_COUNT = 3;
/** Lambda's remaining time for each local invocation (the family functions' timeout in the stack). */
const FUNCTION_TIMEOUT_MS = 120_000;

export interface LocalNames {
  bus: string;
  bucket: string;
  table: string;
  secret: string;
  prefix: string;
}

export const LOCAL_NAMES: LocalNames = {
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
    region: REGION,
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
  for (const family of FAMILIES) {
    const deadLetter = await createQueue(aws.sqs, `${names.prefix}-${family}-dlq`);
    const queue = await createQueue(aws.sqs, `${names.prefix}-${family}`, {
      VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 5),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetter.arn,
        maxReceiveCount: options.maxReceiveCount ?? LOCAL_MAX_RECEIVE_COUNT,
      }),
    });
    queues[family] = { ...queue, deadLetter };
  }
  const results = await createQueue(aws.sqs, `${names.prefix}-results`);
  const rule = `${names.prefix}-results`;
  await aws.eventBridge.send(
    new PutRuleCommand({
      Name: rule,
      EventBusName: names.bus,
      EventPattern: JSON.stringify({ source: [RESULT_SOURCE], 'detail-type': [RESULT_DETAIL_TYPE] }),
    }),
  );
  await aws.eventBridge.send(
    new PutTargetsCommand({
      Rule: rule,
      EventBusName: names.bus,
      Targets: [{ Id: 'results', Arn: results.arn }],
    }),
  );
  return { names, queues, results };
}

/** The function configuration the stack would set (design.md §3). */
export function functionEnv(resources: LocalResources, family: Family): Record<string, string> {
  return {
    TANIUM_SECRET_ID: resources.names.secret,
    EVENT_BUS_NAME: resources.names.bus,
    VAULT_BUCKET: resources.names.bucket,
    STATE_TABLE: resources.names.table,
    MAX_RECEIVE_COUNT: String(LOCAL_MAX_RECEIVE_COUNT),
    POWERTOOLS_SERVICE_NAME: family,
  };
}

/** A Lambda context for one local invocation. */
export function localLambdaContext(family: Family, timeoutMs = FUNCTION_TIMEOUT_MS): Context {
  const end = Date.now() + timeoutMs;
  const functionName = `tanium-tr-local-${family}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionVersion: '$LATEST',
    functionName,
    memoryLimitInMB: '512',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:123456789012:function:${functionName}`,
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An SQS message as Lambda's event source hands it to the function. */
export function toSqsRecord(message: Message, queue: QueueRef): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: REGION,
  };
}

export async function receiveRecords(
  sqs: SQSClient,
  queue: QueueRef,
  options: { max?: number; waitSeconds?: number; abortSignal?: AbortSignal } = {},
): Promise<SQSRecord[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: options.max ?? 10,
      WaitTimeSeconds: options.waitSeconds ?? 1,
      MessageSystemAttributeNames: ['All'],
    }),
    options.abortSignal ? { abortSignal: options.abortSignal } : {},
  );
  return (received.Messages ?? []).map((message) => toSqsRecord(message, queue));
}

export async function deleteRecords(sqs: SQSClient, queue: QueueRef, records: SQSRecord[]): Promise<void> {
  if (records.length === 0) return;
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queue.url,
      Entries: records.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
    }),
  );
}

/**
 * One poll of Lambda's SQS event source: receive a batch, invoke the handler with an `SQSEvent`,
 * delete what succeeded and leave the reported failures (or the whole batch when the handler threw)
 * to come back after the visibility timeout.
 */
export async function deliverOnce(
  sqs: SQSClient,
  queue: QueueRef,
  handler: FamilyHandler,
  family: Family,
  options: { waitSeconds?: number; abortSignal?: AbortSignal } = {},
): Promise<{ received: number; failed: number }> {
  const records = await receiveRecords(sqs, queue, options);
  if (records.length === 0) return { received: 0, failed: 0 };
  let failedIds: Set<string>;
  try {
    const response = (await handler({ Records: records }, localLambdaContext(family))) as SQSBatchResponse;
    failedIds = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  } catch {
    failedIds = new Set(records.map((record) => record.messageId));
  }
  await deleteRecords(
    sqs,
    queue,
    records.filter((record) => !failedIds.has(record.messageId)),
  );
  return { received: records.length, failed: failedIds.size };
}

/** Reads the results queue and hands each `Action Result` detail to whoever waits for its request id. */
export class ResultListener {
  private readonly sqs: SQSClient;
  private readonly queue: QueueRef;
  private readonly waiting = new Map<string, (detail: ResultDetail) => void>();
  private readonly arrived = new Map<string, ResultDetail[]>();
  private readonly onResult: ((detail: ResultDetail) => void) | undefined;

  constructor(sqs: SQSClient, queue: QueueRef, onResult?: (detail: ResultDetail) => void) {
    this.sqs = sqs;
    this.queue = queue;
    this.onResult = onResult;
  }

  /** Polls until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let records: SQSRecord[];
      try {
        records = await receiveRecords(this.sqs, this.queue, { waitSeconds: 1, abortSignal: signal });
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      for (const record of records) {
        const event = JSON.parse(record.body) as { detail: ResultDetail };
        const detail = event.detail;
        this.onResult?.(detail);
        const list = this.arrived.get(detail.requestId) ?? [];
        list.push(detail);
        this.arrived.set(detail.requestId, list);
        this.waiting.get(detail.requestId)?.(detail);
      }
      await deleteRecords(this.sqs, this.queue, records);
    }
  }

  /** Every result that arrived for `requestId` so far. */
  resultsFor(requestId: string): ResultDetail[] {
    return this.arrived.get(requestId) ?? [];
  }

  /** Resolves with the `count`-th result of `requestId` (1 = the first). */
  waitFor(requestId: string, timeoutMs: number, count = 1): Promise<ResultDetail> {
    const have = this.resultsFor(requestId);
    if (have.length >= count) return Promise.resolve(have[count - 1] as ResultDetail);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        reject(new Error(`No result for request ${requestId} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      // A wait cut short by Ctrl-C must not keep the process alive.
      timer.unref();
      this.waiting.set(requestId, () => {
        const all = this.resultsFor(requestId);
        if (all.length < count) return;
        clearTimeout(timer);
        this.waiting.delete(requestId);
        resolve(all[count - 1] as ResultDetail);
      });
    });
  }
}

export interface LocalEnvironment {
  emulator: Emulator;
  moto: MotoServer;
  aws: LocalAws;
  resources: LocalResources;
  handlers: Record<Family, FamilyHandler>;
  results: ResultListener;
  /** Sends a request to a family queue as an SQS message. */
  send(family: Family, request: Record<string, unknown>): Promise<void>;
  /** Polls every family queue like Lambda's event sources until `stop()`. */
  startPollers(): void;
  stop(): Promise<void>;
}

export interface LocalEnvironmentOptions {
  /** Handler logs; default: warnings and errors only, on stderr. */
  logger?: EventLogger;
  metrics?: ActionMetrics;
  visibilityTimeoutSeconds?: number;
  onResult?: (detail: ResultDetail) => void;
  /** Called when a queue poll fails (moto or a handler bug); the pollers keep going. */
  onPollError?: (family: Family, error: unknown) => void;
}

const VAULT_FAMILIES: ReadonlySet<Family> = new Set(['evidence', 'intel']);

const quietMetrics: ActionMetrics = { record: () => undefined, flush: () => undefined };

/**
 * Starts the emulator and moto, creates the resources and builds one handler per family. Whatever was
 * started is stopped again when a later step fails; `stop()` stops all of it.
 */
export async function startLocalEnvironment(
  options: LocalEnvironmentOptions = {},
): Promise<LocalEnvironment> {
  const stack: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const stop of stack.reverse()) {
      try {
        await stop();
      } catch {
        // stopping the rest matters more than one failed stop
      }
    }
    stack.length = 0;
  };
  try {
    const emulator = await startEmulator({
      tls: true,
      clock: 'real',
      connectDelayMs: 500,
      taskDurationMs: 200,
    });
    stack.push(() => emulator.close());
    const moto = await startMoto();
    stack.push(() => moto.stop());
    // The handlers' own clients (secret, bus, table, bucket) find moto through the SDK's standard variables.
    const saved = saveEnv([
      'AWS_ENDPOINT_URL',
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
    ]);
    moto.applyEnv();
    stack.push(() => restoreEnv(saved));
    const aws = localAws(moto.endpoint);
    stack.push(() => aws.destroy());
    stack.push(() => closeAgents());
    const secret: Record<string, unknown> = {
      base_url: emulator.url,
      api_token: emulator.credentials.apiToken,
      ...(emulator.ca ? { ca_bundle: emulator.ca } : {}),
    };
    const resources = await provisionLocalResources(
      aws,
      secret,
      options.visibilityTimeoutSeconds === undefined
        ? {}
        : { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds },
    );
    const logger = options.logger ?? stderrLogger(stdio);
    const handlers = {} as Record<Family, FamilyHandler>;
    for (const family of FAMILIES) {
      // As the entry points do: only evidence and intel get the vault.
      const create = VAULT_FAMILIES.has(family) ? createVaultFamilyHandler : createFamilyHandler;
      handlers[family] = create(family, {
        env: functionEnv(resources, family),
        logger,
        metrics: options.metrics ?? quietMetrics,
      });
    }
    const controller = new AbortController();
    const results = new ResultListener(aws.sqs, resources.results, options.onResult);
    const running: Promise<void>[] = [];
    running.push(results.run(controller.signal).catch(() => undefined));
    stack.push(async () => {
      controller.abort();
      await Promise.allSettled(running);
    });
    let polling = false;
    return {
      emulator,
      moto,
      aws,
      resources,
      handlers,
      results,
      async send(family, request) {
        await aws.sqs.send(
          new SendMessageCommand({
            QueueUrl: resources.queues[family].url,
            MessageBody: JSON.stringify(request),
          }),
        );
      },
      startPollers() {
        if (polling) return;
        polling = true;
        for (const family of FAMILIES) {
          running.push(
            (async () => {
              while (!controller.signal.aborted) {
                try {
                  await deliverOnce(aws.sqs, resources.queues[family], handlers[family], family, {
                    waitSeconds: 1,
                    abortSignal: controller.signal,
                  });
                } catch (error) {
                  if (controller.signal.aborted) return;
                  options.onPollError?.(family, error);
                  await delay(500);
                }
              }
            })(),
          );
        }
      },
      stop: unwind,
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

function saveEnv(keys: string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((key) => [key, process.env[key]]));
}

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}

/** Handler warnings and errors as one short line each; the JSON logs are what Lambda would keep. */
export function stderrLogger(io: Io): EventLogger {
  const line =
    (level: string) =>
    (message: string, extra: Record<string, unknown> = {}) => {
      const id = typeof extra.correlation_id === 'string' ? ` [${extra.correlation_id}]` : '';
      const detail = typeof extra.message === 'string' ? `: ${extra.message}` : '';
      io.err(`  ${level}${id} ${message}${detail}`);
    };
  return { debug: () => undefined, info: () => undefined, warn: line('warn'), error: line('error') };
}

/** One step of the investigation; `parameters` may use what earlier steps returned. */
export interface InvestigationStep {
  family: Family;
  action: string;
  parameters: (state: { connectionId: string }) => Record<string, unknown>;
}

/** The typical investigation of the product documentation, step by step. */
export const INVESTIGATION: readonly InvestigationStep[] = [
  {
    family: 'connections',
    action: 'create connection',
    parameters: () => ({ destination: 'test-client-1', destination_type: 'hostname', wait_seconds: 30 }),
  },
  { family: 'connections', action: 'list connections', parameters: () => ({}) },
  {
    family: 'investigation',
    action: 'get process tree',
    parameters: ({ connectionId }) => ({
      connection_id: connectionId,
      process_table_id: '72057594038528503',
    }),
  },
  {
    family: 'investigation',
    action: 'get events',
    parameters: ({ connectionId }) => ({ connection_id: connectionId, event_type: 'process', limit: 10 }),
  },
  {
    family: 'evidence',
    action: 'save file',
    parameters: ({ connectionId }) => ({
      connection_id: connectionId,
      file_path: 'C:\\Users\\bob\\Downloads\\evil.exe',
    }),
  },
  { family: 'evidence', action: 'list files', parameters: () => ({}) },
  {
    family: 'connections',
    action: 'close connection',
    parameters: ({ connectionId }) => ({ connection_id: connectionId }),
  },
];

const STEP_TIMEOUT_MS = 90_000;

function describeResult(detail: ResultDetail): string[] {
  const lines = [`      ${detail.status}: ${detail.message} (${detail.durationMs} ms)`];
  if (detail.summary && Object.keys(detail.summary).length > 0) {
    lines.push(`      summary: ${JSON.stringify(detail.summary)}`);
  }
  if (detail.dataRef) lines.push(`      data: stored at s3://${detail.dataRef.bucket}/${detail.dataRef.key}`);
  else lines.push(`      data: ${detail.data?.length ?? 0} item(s)`);
  return lines;
}

/**
 * `npm start` / `tanium-tr local`: the whole pipeline on this machine with no AWS account. Starts the
 * emulator and moto, creates the resources, sends the typical investigation as SQS messages one step
 * at a time, runs the family handlers as Lambda's SQS event source would, and prints each result as it
 * arrives on the results queue. Stops everything it started on exit, Ctrl-C and failure.
 * Returns the exit status: 0 when every step succeeded, 1 when one failed, 130 when interrupted.
 */
export async function runLocalPipeline(args: readonly string[] = [], io: Io = stdio): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(
      'Usage: tanium-tr local\n  Runs the typical investigation through the whole pipeline on this machine.',
    );
    return 0;
  }
  if (args.length > 0) {
    io.err(`Unknown option: ${args[0]}`);
    return 2;
  }
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  const interruption = new Promise<never>((_, reject) => {
    interrupted.signal.addEventListener('abort', () => reject(new Error('interrupted')), { once: true });
  });
  interruption.catch(() => undefined);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let environment: LocalEnvironment | undefined;
  try {
    io.out('Starting the Tanium emulator and moto (local AWS)...');
    environment = await startLocalEnvironment({
      logger: stderrLogger(io),
      onPollError: (family, error) => io.err(`  ${family} poll failed: ${(error as Error).message}`),
    });
    const { emulator, moto, resources } = environment;
    io.out(`Tanium emulator: ${emulator.url}`);
    io.out(
      `moto: ${moto.endpoint} (bus ${resources.names.bus}, bucket ${resources.names.bucket}, table ${resources.names.table})`,
    );
    io.out(`Results arrive on ${resources.results.url} through a rule on the bus.`);
    environment.startPollers();

    const state = { connectionId: '' };
    let failures = 0;
    for (const [index, step] of INVESTIGATION.entries()) {
      if (interrupted.signal.aborted) break;
      const requestId = `local-${index + 1}-${randomUUID()}`;
      const parameters = step.parameters(state);
      io.out(`\n[${index + 1}/${INVESTIGATION.length}] ${step.action} -> ${step.family} queue`);
      io.out(`      parameters: ${JSON.stringify(parameters)}`);
      await environment.send(step.family, { action: step.action, parameters, requestId });
      const detail = await Promise.race([
        environment.results.waitFor(requestId, STEP_TIMEOUT_MS),
        interruption,
      ]);
      for (const line of describeResult(detail)) io.out(line);
      if (detail.status !== 'success') failures++;
      if (step.action === 'create connection') {
        const id = detail.summary?.connection_id;
        if (typeof id !== 'string') {
          io.err('The connection was not created; the investigation cannot go on.');
          return 1;
        }
        state.connectionId = id;
      }
    }
    if (interrupted.signal.aborted) {
      io.err('Interrupted.');
      return 130;
    }
    io.out(
      failures === 0
        ? `\nAll ${INVESTIGATION.length} steps succeeded.`
        : `\n${failures} of ${INVESTIGATION.length} steps failed.`,
    );
    return failures === 0 ? 0 : 1;
  } catch (error) {
    if (interrupted.signal.aborted) {
      io.err('Interrupted.');
      return 130;
    }
    io.err(`The local pipeline failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (environment) {
      io.out('Stopping the emulator and moto...');
      await environment.stop();
    }
  }
}
