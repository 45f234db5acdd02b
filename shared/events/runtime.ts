import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import type { Family, VaultPort } from '../actions/types.ts';
import { awsClientConfig } from '../config/aws-client-config.ts';
import { credentialReads } from '../config/credential-source.ts';
import type { TaniumCredentials } from '../config/credentials.ts';
import type { Env } from '../config/environment.ts';
import { loadSettingsReportingProblems, requireSetting, type Settings } from '../config/settings.ts';
import { idempotencyKeyPrefix } from '../config/state-keys.ts';
import type { TaniumApi } from '../tanium/client.ts';
import { TaniumClientCache } from '../tanium/client-cache.ts';
import { type TaniumError, VaultError } from '../tanium/errors.ts';
import { RESULT_STORE_FAILED } from '../vault/errors.ts';
import { type ResultStore, type S3ApiSource, S3ResultStore } from '../vault/result-store.ts';
import { createIdempotentExecutor, type IdempotentExecutor } from './idempotency.ts';
import { clientLogger, createPowertoolsLogger, type EventLogger } from './logging.ts';
import { type ActionMetrics, PowertoolsActionMetrics } from './metrics.ts';
import { EventBridgeResultSink, type ResultSink } from './publisher.ts';

/** Everything a family handler builds for itself; each can be replaced (tests, the local pipeline, benches). */
export interface FamilyHandlerOptions {
  /** Environment to read the settings from (default `process.env`, read at the first invocation). */
  env?: Env;
  credentials?: () => Promise<TaniumCredentials>;
  /** The credentials past their cache (see TaniumClientCacheOptions); only used with `credentials`. */
  freshCredentials?: () => Promise<TaniumCredentials>;
  /** Options for the Tanium client (tests: a fixed `random` for backoff). */
  clientOptions?: { random?: () => number };
  eventBridgeClient?: EventBridgeClient;
  /** The S3 client package for results too big for an event: the bundle's or the Lambda runtime's. */
  s3Api?: S3ApiSource;
  s3Client?: S3Client;
  dynamoDBClient?: DynamoDBClient;
  /** Delays the redelivery of records that failed transiently. */
  sqsClient?: SQSClient;
  /** The first redelivery's delay (default 30 s; tests shorten it to see a redelivery come back). */
  retryBackoffBaseSeconds?: number;
  /** Replaces EventBridge publishing altogether. */
  sink?: ResultSink;
  resultStore?: ResultStore;
  idempotency?: IdempotentExecutor;
  /**
   * Builds the vault handed to actions (get file, upload intel doc). Only the evidence and intel entry
   * points pass one (`vault-family-handler.ts`), so the other bundles carry no vault code.
   */
  vault?: (settings: Settings, logger: EventLogger) => VaultPort | undefined;
  /** A Powertools Logger (default) or anything with the same four methods. */
  logger?: EventLogger;
  metrics?: ActionMetrics;
  now?: () => number;
  /** Waits between polls inside actions and between publish attempts. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The per-container state of one family function: settings, one Tanium client, AWS clients, the result
 * sink. Nothing is built at import time (a frozen init must not hold a stale credential); each piece is
 * built on first use and reused by later invocations.
 */
export class FamilyRuntime {
  readonly family: Family;
  readonly logger: EventLogger;
  readonly serviceName: string;
  private readonly options: FamilyHandlerOptions;
  private cachedSettings: { settings: Settings; problem?: TaniumError } | undefined;
  private clients: TaniumClientCache | undefined;
  private cachedSink: ResultSink | undefined;
  private cachedStore: ResultStore | undefined;
  private cachedIdempotency: IdempotentExecutor | undefined;
  private cachedVault: VaultPort | undefined;
  private vaultBuilt = false;
  private cachedMetrics: ActionMetrics | undefined;
  private cachedSqs: SQSClient | undefined;
  private powertoolsLogger: { addContext(context: Context): void } | undefined;

  constructor(family: Family, options: FamilyHandlerOptions = {}) {
    this.family = family;
    this.options = options;
    // The logger is the one piece built eagerly: it holds no credential and reads nothing remote.
    const env = options.env ?? process.env;
    this.serviceName = env.POWERTOOLS_SERVICE_NAME?.trim() || `tanium-tr-${family}`;
    let base = options.logger;
    if (!base) {
      const logger = createPowertoolsLogger(this.serviceName, env);
      this.powertoolsLogger = logger;
      base = logger;
    }
    this.logger = base;
  }

  settings(): Settings {
    return this.loadedSettings().settings;
  }

  /** What is wrong with the function's environment, if anything (see loadSettingsReportingProblems). */
  settingsProblem(): TaniumError | undefined {
    return this.loadedSettings().problem;
  }

  private loadedSettings(): { settings: Settings; problem?: TaniumError } {
    if (!this.cachedSettings) {
      this.cachedSettings = loadSettingsReportingProblems(this.options.env ?? process.env);
      // Once per container: every request's result says it too.
      if (this.cachedSettings.problem) {
        this.logger.error('The function configuration is invalid', {
          error: this.cachedSettings.problem.message,
        });
      }
    }
    return this.cachedSettings;
  }

  /** Adds the Lambda context (function name, request id, cold start) to every log line. */
  addLambdaContext(context: Context): void {
    this.powertoolsLogger?.addContext(context);
  }

  /** The container's Tanium client, rebuilt only when the credential changed (a rotated secret). */
  client(): Promise<TaniumApi> {
    this.clients ??= new TaniumClientCache({
      ...credentialReads(this.options),
      logger: clientLogger(this.logger),
      clientOptions: { answerLimit: this.settings().answerLimit, ...this.options.clientOptions },
    });
    return this.clients.get();
  }

  /** Where results go; a ConfigError when no bus is configured. */
  sink(): ResultSink {
    if (this.options.sink) return this.options.sink;
    if (!this.cachedSink) {
      const settings = this.settings();
      const busName = requireSetting(
        settings,
        'eventBusName',
        'results are published to this EventBridge bus',
      );
      const sinkOptions: ConstructorParameters<typeof EventBridgeResultSink>[0] = {
        busName,
        store: () => this.resultStore(),
      };
      if (this.options.eventBridgeClient) sinkOptions.client = this.options.eventBridgeClient;
      if (this.options.sleep) sinkOptions.sleep = this.options.sleep;
      this.cachedSink = new EventBridgeResultSink(sinkOptions);
    }
    return this.cachedSink;
  }

  /** Whether results have somewhere to go besides the direct-invocation return value. */
  canPublish(): boolean {
    return this.options.sink !== undefined || this.settings().eventBusName !== undefined;
  }

  resultStore(): ResultStore {
    if (this.options.resultStore) return this.options.resultStore;
    if (!this.cachedStore) {
      const bucket = requireSetting(
        this.settings(),
        'vaultBucket',
        'results too big for an EventBridge event are stored there',
      );
      const api = this.options.s3Api;
      // Types make the entry modules give one; a handler built otherwise says what it lacks.
      if (!api) {
        throw new VaultError(`${RESULT_STORE_FAILED}The handler was built without an S3 client package`, {
          retryable: false,
        });
      }
      // The vault's client where there is a vault: one S3 client per container.
      this.cachedStore = new S3ResultStore(bucket, api, this.options.s3Client ?? this.vault()?.s3);
    }
    return this.cachedStore;
  }

  idempotency(): IdempotentExecutor {
    if (this.options.idempotency) return this.options.idempotency;
    if (!this.cachedIdempotency) {
      const tableName = requireSetting(
        this.settings(),
        'stateTable',
        'mutating actions keep their idempotency records in this DynamoDB table',
      );
      const keyPrefix = idempotencyKeyPrefix(this.family);
      this.cachedIdempotency = createIdempotentExecutor(
        this.options.dynamoDBClient
          ? { tableName, keyPrefix, client: this.options.dynamoDBClient }
          : { tableName, keyPrefix },
      );
    }
    return this.cachedIdempotency;
  }

  /** The vault handed to actions (evidence and intel); undefined when the handler was built without one. */
  vault(): VaultPort | undefined {
    if (!this.options.vault) return undefined;
    if (!this.vaultBuilt) {
      this.cachedVault = this.options.vault(this.settings(), this.logger);
      this.vaultBuilt = true;
    }
    return this.cachedVault;
  }

  /** Built on the first record that needs its redelivery delayed. */
  sqs(): SQSClient {
    if (this.options.sqsClient) return this.options.sqsClient;
    // The queue URL is derived from the record's ARN: it names the queue, while the endpoint stays the
    // one the SDK resolves (the region's, or AWS_ENDPOINT_URL locally).
    this.cachedSqs ??= new SQSClient(awsClientConfig({ useQueueUrlAsEndpoint: false }));
    return this.cachedSqs;
  }

  metrics(): ActionMetrics {
    if (this.options.metrics) return this.options.metrics;
    this.cachedMetrics ??= new PowertoolsActionMetrics({
      namespace: this.settings().metricsNamespace,
      serviceName: this.serviceName,
    });
    return this.cachedMetrics;
  }

  now(): number {
    return (this.options.now ?? Date.now)();
  }

  get retryBackoffBaseSeconds(): number | undefined {
    return this.options.retryBackoffBaseSeconds;
  }

  get sleep(): ((ms: number) => Promise<void>) | undefined {
    return this.options.sleep;
  }
}
