import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { SETTING_DEFAULTS } from '../shared/config/settings.ts';
import type { FunctionName } from './families.ts';
import { DEFAULT_FUNCTIONS, type FunctionSettings } from './function-defaults.ts';
import { type PollerSettings, pollerSettingsProblems } from './poller-settings.ts';

export type { FunctionSettings } from './function-defaults.ts';
export type { PollerSettings } from './poller-settings.ts';

/**
 * Where the Tanium credentials come from. `create` makes an empty secret (`{}`) for the operator to
 * fill; `import` uses one that already exists, by complete ARN or by name.
 */
export type CredentialsSecretConfig =
  | { readonly mode: 'create'; readonly secretName?: string }
  | { readonly mode: 'import'; readonly secretCompleteArn: string; readonly kmsKeyArn?: string }
  | { readonly mode: 'import'; readonly secretName: string; readonly kmsKeyArn?: string };

/**
 * Optional VPC placement. Tanium API tokens can be limited to trusted IP addresses
 * (`api_token_trusted_ip_address_list`); a VPC whose private subnets leave through NAT gateways gives
 * the functions fixed egress addresses (the stack outputs them) to put on that list.
 */
export interface VpcConfig {
  readonly enabled: boolean;
  readonly maxAzs: number;
  /** One NAT gateway means one address to trust; one per AZ survives an AZ outage. */
  readonly natGateways: number;
  readonly flowLogRetention: RetentionDays;
}

export interface AlarmConfig {
  /** Create an SNS topic that every alarm notifies (and its OK transitions). */
  readonly topic: boolean;
  /** E-mail addresses subscribed to the topic (each must confirm the subscription). */
  readonly emailSubscriptions: readonly string[];
  /** The poller is lagging when the newest alert it published is older than this. */
  readonly pollerLagSeconds: number;
  /** Poller errors within five minutes that raise the failure alarm (it runs every minute). */
  readonly pollerFailureThreshold: number;
}

export interface PollerConfig {
  readonly schedule: string;
  /** How far back the first run reads alerts when it has no checkpoint yet. */
  readonly firstRunHours: number;
  /** Scheduler retries when Lambda refuses the invocation. */
  readonly retryAttempts: number;
  readonly maxEventAgeSeconds: number;
  readonly enabled: boolean;
  /**
   * Concurrency reserved for the poller; unset reserves none. The poller's lease already makes an
   * overlapping run skip; a reservation only saves starting it. Accounts with a low concurrency quota
   * (new ones have 10) refuse any reservation, so a sandbox deploy must leave this unset.
   */
  readonly reservedConcurrency?: number;
  /** The poller's tuning and filters (POLLER_* variables); unset ones keep the poller's defaults. */
  readonly settings?: PollerSettings;
}

export interface EnvironmentConfig {
  readonly name: string;
  /** Account and region to deploy to; when absent the CDK CLI's defaults (the current profile) apply. */
  readonly account?: string;
  readonly region?: string;
  /** Keep data (bucket, table, secret, logs, dead-letter queues) when the stack or a resource is deleted. */
  readonly retainData: boolean;
  readonly terminationProtection: boolean;
  readonly eventBusName: string;
  /**
   * Deliveries before a request goes to its family's DLQ (also given to the functions, which publish
   * the "gave up" result on the last one). A receive whose batch Lambda throttles counts too, and then
   * no result is published, hence AWS's advice of at least 5 for queues Lambda consumes.
   */
  readonly maxReceiveCount: number;
  /** Retention of `results/` objects (oversized action results) in the vault bucket. */
  readonly resultsExpirationDays: number;
  /** Retention of the vault bucket's access logs. */
  readonly accessLogsExpirationDays: number;
  readonly logRetention: RetentionDays;
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Largest archive or extracted file the evidence function accepts (tanium-api.md 2.17). */
  readonly getFileMaxBytes: number;
  readonly functions: Readonly<Record<FunctionName, FunctionSettings>>;
  readonly poller: PollerConfig;
  readonly credentials: CredentialsSecretConfig;
  readonly vpc: VpcConfig;
  readonly alarms: AlarmConfig;
  /** Limit which event sources may send requests through the bus rules; empty accepts any source. */
  readonly requestSources: readonly string[];
  /** Namespace of the functions' custom metrics (Powertools). */
  readonly metricsNamespace: string;
}

const BASE: Omit<EnvironmentConfig, 'name' | 'eventBusName'> = {
  retainData: false,
  terminationProtection: false,
  maxReceiveCount: SETTING_DEFAULTS.maxReceiveCount,
  resultsExpirationDays: 30,
  accessLogsExpirationDays: 90,
  logRetention: RetentionDays.ONE_MONTH,
  logLevel: 'INFO',
  getFileMaxBytes: 536_870_912,
  functions: DEFAULT_FUNCTIONS,
  poller: {
    schedule: 'rate(1 minute)',
    firstRunHours: 24,
    retryAttempts: 2,
    maxEventAgeSeconds: 120,
    enabled: true,
  },
  credentials: { mode: 'create' },
  vpc: { enabled: false, maxAzs: 2, natGateways: 1, flowLogRetention: RetentionDays.ONE_MONTH },
  alarms: { topic: false, emailSubscriptions: [], pollerLagSeconds: 900, pollerFailureThreshold: 3 },
  requestSources: [],
  metricsNamespace: 'TaniumThreatResponse',
};

/**
 * The deployable environments, selected with `cdk synth|deploy -c env=<name>`. Edit these (or add one)
 * to set an account, region, imported secret, VPC egress or alarm recipients.
 */
export const ENVIRONMENTS = {
  dev: {
    ...BASE,
    name: 'dev',
    eventBusName: 'tanium-tr-dev',
    logRetention: RetentionDays.ONE_WEEK,
    logLevel: 'DEBUG',
    resultsExpirationDays: 7,
    accessLogsExpirationDays: 14,
    vpc: { ...BASE.vpc, flowLogRetention: RetentionDays.ONE_WEEK },
  },
  prod: {
    ...BASE,
    name: 'prod',
    eventBusName: 'tanium-tr-prod',
    poller: { ...BASE.poller, reservedConcurrency: 1 },
    retainData: true,
    terminationProtection: true,
    logRetention: RetentionDays.THREE_MONTHS,
    accessLogsExpirationDays: 365,
    alarms: { ...BASE.alarms, topic: true },
    vpc: { ...BASE.vpc, flowLogRetention: RetentionDays.THREE_MONTHS },
  },
} as const satisfies Record<string, EnvironmentConfig>;

export type EnvironmentName = keyof typeof ENVIRONMENTS;

export const ENVIRONMENT_NAMES = Object.keys(ENVIRONMENTS) as EnvironmentName[];

/** Settings a caller (a test, another app) may replace; nested groups replace whole. */
export type EnvironmentOverrides = Partial<EnvironmentConfig>;

/**
 * The configuration for `name`, with overrides applied and checked.
 * @throws Error naming the known environments when `name` is not one of them, or naming the bad setting.
 */
export function resolveEnvironment(name: string, overrides: EnvironmentOverrides = {}): EnvironmentConfig {
  if (!Object.hasOwn(ENVIRONMENTS, name)) {
    throw new Error(`Unknown environment '${name}': use -c env=<${ENVIRONMENT_NAMES.join('|')}>`);
  }
  const config: EnvironmentConfig = { ...ENVIRONMENTS[name as EnvironmentName], ...overrides };
  validateEnvironment(config);
  return config;
}

function validateEnvironment(config: EnvironmentConfig): void {
  const problems: string[] = [];
  if (
    !Number.isInteger(config.maxReceiveCount) ||
    config.maxReceiveCount < 1 ||
    config.maxReceiveCount > 1000
  ) {
    problems.push('maxReceiveCount must be an integer from 1 to 1000');
  }
  if (!Number.isInteger(config.resultsExpirationDays) || config.resultsExpirationDays < 1) {
    problems.push('resultsExpirationDays must be a positive integer');
  }
  for (const [fn, s] of Object.entries(config.functions)) {
    if (s.timeoutSeconds < 1 || s.timeoutSeconds > 900) problems.push(`${fn}: timeoutSeconds must be 1..900`);
    if (s.memoryMiB < 128 || s.memoryMiB > 10240) problems.push(`${fn}: memoryMiB must be 128..10240`);
    if (s.batchSize < 1 || s.batchSize > 10) {
      // Above 10 SQS requires a batching window and the whole batch shares one timeout; keep it simple.
      problems.push(`${fn}: batchSize must be 1..10`);
    }
    if (
      s.maxConcurrency !== undefined &&
      (!Number.isInteger(s.maxConcurrency) || s.maxConcurrency < 2 || s.maxConcurrency > 1000)
    ) {
      problems.push(`${fn}: maxConcurrency must be unset or an integer from 2 to 1000`);
    }
    if (s.maxBatchingWindowSeconds < 0 || s.maxBatchingWindowSeconds > 300) {
      problems.push(`${fn}: maxBatchingWindowSeconds must be 0..300`);
    }
    // The queue's visibility timeout is six times the function timeout plus the window, at most 12 hours.
    if (6 * s.timeoutSeconds + s.maxBatchingWindowSeconds > 43_200) {
      problems.push(`${fn}: timeoutSeconds too large for the queue's visibility timeout`);
    }
  }
  const reserved = config.poller.reservedConcurrency;
  if (reserved !== undefined && (!Number.isInteger(reserved) || reserved < 1 || reserved > 1000)) {
    problems.push('poller.reservedConcurrency must be unset or an integer from 1 to 1000');
  }
  problems.push(
    ...pollerSettingsProblems(
      config.poller.settings ?? {},
      config.poller.firstRunHours,
      config.functions['alert-poller'].timeoutSeconds,
    ),
  );
  if (config.vpc.enabled && (config.vpc.natGateways < 1 || config.vpc.natGateways > config.vpc.maxAzs)) {
    problems.push('vpc.natGateways must be 1..vpc.maxAzs: the fixed egress addresses are the NAT gateways');
  }
  if (config.alarms.emailSubscriptions.length > 0 && !config.alarms.topic) {
    problems.push('alarms.emailSubscriptions needs alarms.topic = true');
  }
  if (problems.length > 0) {
    throw new Error(`Invalid configuration for environment '${config.name}': ${problems.join('; ')}`);
  }
}
