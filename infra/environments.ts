import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { POLLER_DEFAULTS } from '../shared/alerts/settings.ts';
import { InvalidEnvironment } from '../shared/config/environment.ts';
import { isRecord } from '../shared/config/is-record.ts';
import { metricsNamespaceProblem as namespaceProblem } from '../shared/config/metrics-namespace.ts';
import { IDEMPOTENCY_RECORD_DAYS, SOURCE_QUEUE_RETENTION_DAYS } from '../shared/config/retention.ts';
import { loadSettings, SETTING_DEFAULTS } from '../shared/config/settings.ts';
import { MIN_FAMILY_TIMEOUT_SECONDS, PUBLISH_RESERVE_MS } from '../shared/events/time-budget.ts';
import { describeSettingIssue, environmentConfigSchema } from './environment-schema.ts';
import type { FunctionName } from './families.ts';
import { DEFAULT_FUNCTIONS, type FunctionSettings } from './function-defaults.ts';
import { intervalsPerRun, maxFailureThreshold, pollIntervalMinutes } from './poller-schedule.ts';
import { type PollerSettings, pollerSettingsProblems } from './poller-settings.ts';
import { longestRetrySpanSeconds, MAX_RETRY_SPAN_SECONDS, visibilityTimeoutSeconds } from './queue-timing.ts';

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
  /** The poller-lag alarm fires when an alert has waited longer than this to be published. */
  readonly pollerLagSeconds: number;
  /**
   * Failed poller runs that raise the poller-failure alarm, among the last threshold + a few runs
   * (failureAlarmWindows in poller-schedule.ts).
   */
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
  /**
   * Keep data (bucket, table, secret, logs, dead-letter queues) when the stack or a resource is deleted,
   * but not when a failed first deploy rolls back (see removal-policy.ts).
   */
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
  /**
   * Retention of the vault's `vault/` objects (get file's evidence, the intel docs put there), after
   * which S3 deletes them; unset keeps them until deleted by hand, as evidence usually must be.
   */
  readonly vaultExpirationDays?: number;
  /** Retention of the vault bucket's access logs. */
  readonly accessLogsExpirationDays: number;
  readonly logRetention: RetentionDays;
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * Stack traces through the bundles' .map files (NODE_OPTIONS=--enable-source-maps). Node reads and
   * parses the 1.3 MB map when the function starts: about 30 ms more on every cold start.
   */
  readonly sourceMaps: boolean;
  /**
   * Largest archive, extracted file, and total extracted from one archive the evidence function accepts
   * (tanium-api.md 2.17).
   */
  readonly getFileMaxBytes: number;
  readonly functions: Readonly<Record<FunctionName, FunctionSettings>>;
  readonly poller: PollerConfig;
  readonly credentials: CredentialsSecretConfig;
  readonly vpc: VpcConfig;
  readonly alarms: AlarmConfig;
  /** Limit which event sources may send requests through the bus rules; empty accepts any source. */
  readonly requestSources: readonly string[];
  /**
   * Other AWS accounts allowed to put events on the bus (a SOAR pipeline deployed elsewhere). The stack
   * owns the bus's resource policy, so a grant made outside it (`aws events put-permission`) is replaced
   * at the next deploy: cross-account senders are declared here.
   */
  readonly requestSenderAccounts: readonly string[];
  /**
   * Namespace of the functions' custom metrics (Powertools), and of the alarms on them. Never inherited
   * and by default `TaniumThreatResponse/<environment>`: two environments in one account and region
   * sharing a namespace would each alarm on the other's metrics (the dimensions name no environment).
   */
  readonly metricsNamespace: string;
}

/**
 * Every setting optional at every depth. A list is a value, not a group: one given replaces the list
 * it overrides whole (no concatenation).
 */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/**
 * Only what differs from the configuration it applies to. Groups (`functions`, `functions.<name>`,
 * `poller`, `poller.settings`, `vpc`, `alarms`) merge key by key, so `functions: { evidence: {
 * timeoutSeconds: 900 } }` keeps every other setting. Lists (`alarms.emailSubscriptions`,
 * `requestSources`, `requestSenderAccounts`) replace whole, and so does `credentials`: it is a choice between creating and
 * importing, and a merge could keep a created secret's name beside an imported secret's ARN. A key set
 * to `undefined` unsets an optional setting, e.g. `poller: { reservedConcurrency: undefined }`.
 */
export type EnvironmentOverrides = DeepPartial<Omit<EnvironmentConfig, 'name' | 'credentials'>> & {
  readonly credentials?: CredentialsSecretConfig;
};

/** One entry of ENVIRONMENTS, whose key is the environment's name. */
export type EnvironmentDeclaration = EnvironmentOverrides & {
  /** The environment whose resolved settings this one starts from; BASE when absent. */
  readonly extends?: string;
  /** Never inherited: a bus name is unique in an account and region, so two environments cannot share one. */
  readonly eventBusName: string;
};

/** What every environment starts from (unless it extends another). */
const BASE: Omit<EnvironmentConfig, 'name' | 'eventBusName' | 'metricsNamespace'> = {
  retainData: false,
  terminationProtection: false,
  maxReceiveCount: SETTING_DEFAULTS.maxReceiveCount,
  resultsExpirationDays: 30,
  accessLogsExpirationDays: 90,
  logRetention: RetentionDays.ONE_MONTH,
  logLevel: 'INFO',
  sourceMaps: false,
  getFileMaxBytes: SETTING_DEFAULTS.getFileMaxBytes,
  functions: DEFAULT_FUNCTIONS,
  poller: {
    schedule: 'rate(1 minute)',
    firstRunHours: POLLER_DEFAULTS.firstRunHours,
    retryAttempts: 2,
    maxEventAgeSeconds: 120,
    enabled: true,
  },
  credentials: { mode: 'create' },
  vpc: { enabled: false, maxAzs: 2, natGateways: 1, flowLogRetention: RetentionDays.ONE_MONTH },
  alarms: { topic: false, emailSubscriptions: [], pollerLagSeconds: 900, pollerFailureThreshold: 3 },
  requestSources: [],
  requestSenderAccounts: [],
};

/** The metrics namespace of an environment that names none (see EnvironmentConfig.metricsNamespace). */
function defaultMetricsNamespace(environment: string): string {
  return `${SETTING_DEFAULTS.metricsNamespace}/${environment}`;
}

/**
 * The deployable environments, selected with `cdk synth|deploy -c env=<name>`. Each states only what
 * differs from BASE (or from the environment it `extends`); see EnvironmentOverrides for how groups,
 * lists and `credentials` combine. Edit these (or add one) to set an account, region, imported secret,
 * VPC egress or alarm recipients.
 */
export const ENVIRONMENTS = {
  dev: {
    eventBusName: 'tanium-tr-dev',
    // As long as a dead-letter queue keeps a message (the stack warns of less): a DLQ message's log
    // lines must still be there when someone reads it, in dev too.
    logRetention: RetentionDays.TWO_WEEKS,
    logLevel: 'DEBUG',
    sourceMaps: true,
    resultsExpirationDays: 7,
    // Test evidence: dev's buckets are emptied on destroy anyway.
    vaultExpirationDays: 30,
    accessLogsExpirationDays: 14,
    vpc: { flowLogRetention: RetentionDays.ONE_WEEK },
  },
  prod: {
    eventBusName: 'tanium-tr-prod',
    poller: { reservedConcurrency: 1 },
    retainData: true,
    terminationProtection: true,
    logRetention: RetentionDays.THREE_MONTHS,
    accessLogsExpirationDays: 365,
    alarms: { topic: true },
    vpc: { flowLogRetention: RetentionDays.THREE_MONTHS },
  },
} as const satisfies Record<string, EnvironmentDeclaration>;

export type EnvironmentName = keyof typeof ENVIRONMENTS;

export const ENVIRONMENT_NAMES = Object.keys(ENVIRONMENTS) as EnvironmentName[];

/**
 * The configuration for `name`: BASE, then each environment it extends, then its own declaration, then
 * `overrides`, checked. `declarations` stands in for ENVIRONMENTS in tests.
 * @throws Error naming the known environments when `name` is not one of them, or listing every problem.
 */
export function resolveEnvironment(
  name: string,
  overrides: EnvironmentOverrides = {},
  declarations: Readonly<Record<string, EnvironmentDeclaration>> = ENVIRONMENTS,
): EnvironmentConfig {
  if (!Object.hasOwn(declarations, name)) {
    throw new EnvironmentError(
      `Unknown environment '${name}': use -c env=<${Object.keys(declarations).join('|')}>`,
    );
  }
  const chain = extendsChain(name, declarations);
  if (typeof chain === 'string') throwProblems(name, [chain]);
  let merged: unknown = BASE;
  for (const [at, { extends: _, ...declared }] of chain.entries()) {
    merged = merge(merged, at === chain.length - 1 ? declared : inheritable(declared));
  }
  if (
    overrides.eventBusName === undefined &&
    (merged as { eventBusName?: unknown }).eventBusName === undefined
  ) {
    throwProblems(name, [
      'eventBusName is required in every environment: it is never inherited, since a bus name is unique in an account and region',
    ]);
  }
  // The name is the key: a stray `name` (no type check under tsx) must not rename the stack.
  const parsed = environmentConfigSchema.safeParse({
    metricsNamespace: defaultMetricsNamespace(name),
    ...(merge(merged, overrides) as object),
    name,
  });
  // The value checks read the settings as typed, so they run only once the shape is right.
  if (!parsed.success) throwProblems(name, parsed.error.issues.map(describeSettingIssue));
  validateEnvironment(parsed.data);
  return parsed.data;
}

/**
 * What an environment takes from one it extends: all but the names that must be unique in an account
 * and region, the bus, the metrics namespace and a created secret (which then gets the name
 * CloudFormation generates for the stack). An imported secret is shared on purpose and is inherited whole.
 */
function inheritable(declared: Omit<EnvironmentDeclaration, 'extends'>): EnvironmentOverrides {
  const { eventBusName: _, metricsNamespace: __, ...rest } = declared;
  if (rest.credentials?.mode === 'create' && rest.credentials.secretName !== undefined) {
    return { ...rest, credentials: { mode: 'create' } };
  }
  return rest;
}

/** The declarations `name` resolves from, the farthest ancestor first, or the problem with them. */
function extendsChain(
  name: string,
  declarations: Readonly<Record<string, EnvironmentDeclaration>>,
): EnvironmentDeclaration[] | string {
  const names: string[] = [];
  for (let current: string | undefined = name; current !== undefined; ) {
    if (names.includes(current)) {
      return `environments extend one another in a cycle: ${[...names, current].join(' -> ')}`;
    }
    const declaration: EnvironmentDeclaration | undefined = Object.hasOwn(declarations, current)
      ? declarations[current]
      : undefined;
    if (declaration === undefined) {
      const known = Object.keys(declarations).join(', ');
      return `${names.at(-1)} extends '${current}', which is not an environment (known: ${known})`;
    }
    names.push(current);
    current = declaration.extends;
  }
  return names.reverse().map((n) => declarations[n]!);
}

function throwProblems(name: string, problems: readonly string[]): never {
  throw new EnvironmentError(`Invalid configuration for environment '${name}': ${problems.join('; ')}`);
}

/** An unknown environment or an invalid configuration: its message says what to fix. */
export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/**
 * `override` on `base`: where both are plain objects, key by key; anything else (a list, a value)
 * replaces, and so does `credentials`, a choice rather than a group (see EnvironmentOverrides). An
 * unknown key is kept as given, for the shape check to name.
 */
function merge(base: unknown, override: unknown, path = ''): unknown {
  if (path === 'credentials' || !isRecord(base) || !isRecord(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    merged[key] = merge(base[key], value, path ? `${path}.${key}` : key);
  }
  return merged;
}

/** How long an idempotency record lives (the TTL the functions write), in whole days, rounded up. */
const RECORD_LIFE_DAYS = IDEMPOTENCY_RECORD_DAYS;

function hours(seconds: number): string {
  return (seconds / 3600).toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** The largest maxReceiveCount whose retries stay within MAX_RETRY_SPAN_SECONDS for `settings`. */
function mostReceives(settings: FunctionSettings): number {
  let count = 1;
  while (count < 1000 && longestRetrySpanSeconds(settings, count + 1) <= MAX_RETRY_SPAN_SECONDS) count++;
  return count;
}

/**
 * The environment's settings the family functions get as variables, each as their own parser
 * (loadSettings) judges it: a value they would refuse fails the synthesis, not every request.
 */
const FUNCTION_SETTING_VARIABLES = {
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  getFileMaxBytes: 'GET_FILE_MAX_BYTES',
} as const satisfies Partial<Record<keyof EnvironmentConfig, string>>;

function functionSettingProblems(config: EnvironmentConfig): string[] {
  const problems: string[] = [];
  const settings = Object.keys(FUNCTION_SETTING_VARIABLES) as Array<keyof typeof FUNCTION_SETTING_VARIABLES>;
  for (const setting of settings) {
    try {
      // One variable at a time, so each problem names its own setting.
      loadSettings({ [FUNCTION_SETTING_VARIABLES[setting]]: String(config[setting]) });
    } catch (error) {
      if (!(error instanceof InvalidEnvironment)) throw error;
      problems.push(...error.problems.map((problem) => `${setting}: ${problem}`));
    }
  }
  return problems;
}

/** The value checks, on a configuration whose shape is already known right. */
function validateEnvironment(config: EnvironmentConfig): void {
  const problems = functionSettingProblems(config);
  for (const key of ['resultsExpirationDays', 'accessLogsExpirationDays'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) problems.push(`${key} must be a positive integer`);
  }
  const { vaultExpirationDays } = config;
  if (vaultExpirationDays === undefined) {
    // Kept until deleted by hand.
  } else if (!Number.isInteger(vaultExpirationDays) || vaultExpirationDays < 1) {
    problems.push('vaultExpirationDays must be unset or a positive integer');
  } else if (vaultExpirationDays <= RECORD_LIFE_DAYS) {
    // A get file replayed with its requestId answers from its record, with the vault_ids it stored:
    // objects expired before the record would be ids of nothing.
    problems.push(
      `vaultExpirationDays must be unset or more than ${RECORD_LIFE_DAYS}, the days an idempotency record lives: a get file replayed with its requestId within them returns the vault_ids it stored, which must still exist`,
    );
  }
  for (const [fn, s] of Object.entries(config.functions)) {
    // CloudFormation takes whole numbers only: a fraction would synthesize and fail at deploy.
    for (const key of ['timeoutSeconds', 'memoryMiB', 'batchSize', 'maxBatchingWindowSeconds'] as const) {
      if (!Number.isInteger(s[key])) problems.push(`${fn}: ${key} must be a whole number`);
    }
    if (s.timeoutSeconds < 1 || s.timeoutSeconds > 900) problems.push(`${fn}: timeoutSeconds must be 1..900`);
    else if (fn !== 'alert-poller' && s.timeoutSeconds < MIN_FAMILY_TIMEOUT_SECONDS) {
      // Below it, the time kept for publishing leaves none for the action: every request would fail.
      problems.push(
        `${fn}: timeoutSeconds must be at least ${MIN_FAMILY_TIMEOUT_SECONDS}: ${PUBLISH_RESERVE_MS / 1000} s of every invocation are kept for publishing results`,
      );
    }
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
    if (
      s.ephemeralStorageMiB !== undefined &&
      (!Number.isInteger(s.ephemeralStorageMiB) ||
        s.ephemeralStorageMiB < 512 ||
        s.ephemeralStorageMiB > 10240)
    ) {
      problems.push(`${fn}: ephemeralStorageMiB must be unset or an integer from 512 to 10240`);
    }
    if (s.maxBatchingWindowSeconds < 0 || s.maxBatchingWindowSeconds > 300) {
      problems.push(`${fn}: maxBatchingWindowSeconds must be 0..300`);
    }
    // SQS allows a visibility timeout of at most 12 hours.
    if (visibilityTimeoutSeconds(s.timeoutSeconds, s.maxBatchingWindowSeconds) > 43_200) {
      problems.push(`${fn}: timeoutSeconds too large for the queue's visibility timeout`);
    } else if (fn !== 'alert-poller' && Number.isInteger(config.maxReceiveCount)) {
      // Past the retention, SQS deletes a request still retrying: no last attempt, no failed result, no
      // dead-letter message, and no age alarm (SQS stops counting age after three receives).
      const span = longestRetrySpanSeconds(s, config.maxReceiveCount);
      if (span > MAX_RETRY_SPAN_SECONDS) {
        problems.push(
          `${fn}: maxReceiveCount ${config.maxReceiveCount} with timeoutSeconds ${s.timeoutSeconds} lets a failing request retry for up to ${hours(span)} hours, past the ${hours(MAX_RETRY_SPAN_SECONDS)} its queue allows before it could be deleted unanswered (it keeps messages ${SOURCE_QUEUE_RETENTION_DAYS} days): lower maxReceiveCount to at most ${mostReceives(s)}`,
        );
      }
    }
  }
  const interval = pollIntervalMinutes(config.poller.schedule);
  if (typeof interval === 'string') problems.push(interval);
  // The scheduler target's retry policy, whose limits CDK would otherwise report one at a time.
  const { retryAttempts, maxEventAgeSeconds } = config.poller;
  if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
    problems.push('poller.retryAttempts must be an integer from 0 to 185');
  }
  if (!Number.isInteger(maxEventAgeSeconds) || maxEventAgeSeconds < 60 || maxEventAgeSeconds > 86_400) {
    problems.push('poller.maxEventAgeSeconds must be an integer from 60 to 86400');
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
  if (
    !Number.isInteger(config.vpc.maxAzs) ||
    config.vpc.maxAzs < 1 ||
    !Number.isInteger(config.vpc.natGateways)
  ) {
    problems.push('vpc.maxAzs and vpc.natGateways must be whole numbers, maxAzs at least 1');
  }
  problems.push(...secretProblems(config.credentials));
  const kmsKeyArn = config.credentials.mode === 'import' ? config.credentials.kmsKeyArn : undefined;
  if (kmsKeyArn !== undefined && !KMS_KEY_ARN.test(kmsKeyArn)) {
    // An alias ARN synthesizes and deploys, but a grant on an alias does not cover its key: every
    // function would then fail on the secret with AccessDenied.
    problems.push(
      `credentials.kmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not an alias: got '${kmsKeyArn}'`,
    );
  }
  problems.push(...importedSecretPlacementProblems(config));
  // CDK refuses a repeated endpoint with a stack trace; mail ignores case, so 'SOC@' beside 'soc@'
  // would be two subscriptions sending every alarm twice to one inbox.
  const addresses = new Map<string, number>();
  for (const address of config.alarms.emailSubscriptions) {
    const key = address.toLowerCase();
    addresses.set(key, (addresses.get(key) ?? 0) + 1);
    if (addresses.get(key) === 2) {
      problems.push(
        `alarms.emailSubscriptions: '${address}' is listed more than once (addresses are compared ignoring case)`,
      );
    } else if (addresses.get(key) === 1 && !EMAIL.test(address)) {
      problems.push(`alarms.emailSubscriptions: '${address}' is not an email address`);
    }
  }
  // CloudFormation would only refuse these at deploy time, CDK's own error as a stack trace.
  if (config.account !== undefined && !ACCOUNT_ID.test(config.account)) {
    problems.push(`account must be a 12-digit AWS account id: got '${config.account}'`);
  }
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const account of config.requestSenderAccounts) {
    if (seen.has(account)) {
      // Once per account, however many times it is listed.
      if (!repeated.has(account))
        problems.push(`requestSenderAccounts: '${account}' is listed more than once`);
      repeated.add(account);
      continue;
    }
    seen.add(account);
    if (!ACCOUNT_ID.test(account)) {
      problems.push(`requestSenderAccounts: '${account}' is not a 12-digit AWS account id`);
    } else if (account === config.account) {
      // The account's own principals need no resource policy grant (their IAM policies decide).
      problems.push(`requestSenderAccounts: '${account}' is the stack's own account`);
    }
  }
  if (config.region !== undefined && !REGION.test(config.region)) {
    problems.push(`region must be an AWS region name such as eu-west-1: got '${config.region}'`);
  }
  if (!EVENT_BUS_NAME.test(config.eventBusName) || config.eventBusName === 'default') {
    problems.push(
      `eventBusName must be 1 to 256 letters, digits, '.', '-' or '_', and not 'default': got '${config.eventBusName}'`,
    );
  }
  const namespace = metricsNamespaceProblem(config.metricsNamespace);
  if (namespace) problems.push(namespace);
  if (config.alarms.emailSubscriptions.length > 0 && !config.alarms.topic) {
    problems.push('alarms.emailSubscriptions needs alarms.topic = true');
  }
  const pollerTimeout = config.functions['alert-poller'].timeoutSeconds;
  if (!(config.alarms.pollerLagSeconds > 0)) problems.push('alarms.pollerLagSeconds must be positive');
  if (!Number.isInteger(config.alarms.pollerFailureThreshold) || config.alarms.pollerFailureThreshold < 1) {
    problems.push('alarms.pollerFailureThreshold must be a positive integer');
  } else if (typeof interval === 'number' && validPollerTimeout(pollerTimeout)) {
    // The failure alarm's windows hold threshold + 2 runs, and a streak of threshold runs at the pace
    // slow failing runs can come, which a longer timeout slows (failureAlarmWindows in poller-schedule.ts).
    const most = maxFailureThreshold(interval, pollerTimeout);
    if (config.alarms.pollerFailureThreshold > most) {
      problems.push(
        `alarms.pollerFailureThreshold must be at most ${most} with poller.schedule '${config.poller.schedule}' and the alert-poller timeoutSeconds ${pollerTimeout}: the failure alarm's windows span threshold + 2 runs, and a streak of threshold runs and one more at the pace slow failing runs can come (one per ${intervalsPerRun(interval, pollerTimeout) * interval} minutes), and CloudWatch evaluates an alarm over at most a day`,
      );
    }
  }
  if (problems.length > 0) throwProblems(config.name, problems);
}

/** A timeout the function checks above accept (they report the others). */
function validPollerTimeout(seconds: number): boolean {
  return Number.isInteger(seconds) && seconds >= 1 && seconds <= 900;
}

const ACCOUNT_ID = /^\d{12}$/;
/** `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`. */
const REGION = /^[a-z]{2,4}(-[a-z]+)+-\d+$/;
/** A custom bus name (EventBridge also allows '/' in partner bus names only). */
const EVENT_BUS_NAME = /^[.\-_A-Za-z0-9]{1,256}$/;
/** What SNS needs to send the subscription's confirmation: one @ with a dotted domain after it. */
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s.]+$/;
/** Secrets Manager's rules for a secret's name. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/**
 * A secret's complete ARN in any partition: its name, then the hyphen and six characters Secrets Manager
 * adds. A partial ARN (the name alone) gets a grant on that exact string, which matches no secret.
 */
const SECRET_COMPLETE_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
/** A KMS key's ARN in any partition (aws, aws-cn, aws-us-gov, ...): the key itself, not an alias. */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/**
 * The secret's name or ARN as Secrets Manager and IAM take it. CDK takes any string: an ARN given as a
 * name becomes the grant `secret:arn:aws:...-??????` and every action fails with AccessDenied, a name
 * given as an ARN fails with CDK's stack trace, and a name Secrets Manager refuses fails only at deploy.
 */
function secretProblems(credentials: CredentialsSecretConfig): string[] {
  const name = 'secretName' in credentials ? credentials.secretName : undefined;
  const arn = 'secretCompleteArn' in credentials ? credentials.secretCompleteArn : undefined;
  const problems: string[] = [];
  if (name?.startsWith('arn:')) {
    problems.push(
      credentials.mode === 'import'
        ? `credentials.secretName '${name}' is an ARN: give a complete ARN as secretCompleteArn, or the secret's name as secretName`
        : `credentials.secretName '${name}' is an ARN: a created secret takes a name; to use an existing secret, set { mode: 'import', secretCompleteArn }`,
    );
  } else if (name !== undefined && !SECRET_NAME.test(name)) {
    problems.push(
      `credentials.secretName must be 1 to 512 letters, digits or / _ + = . @ - (Secrets Manager's rules): got '${name}'`,
    );
  }
  if (arn !== undefined && !arn.startsWith('arn:') && SECRET_NAME.test(arn)) {
    problems.push(
      `credentials.secretCompleteArn '${arn}' is a name, not an ARN: give it as { mode: 'import', secretName: '${arn}' }`,
    );
  } else if (arn !== undefined && !SECRET_COMPLETE_ARN.test(arn)) {
    problems.push(
      `credentials.secretCompleteArn must be a secret's complete ARN (arn:<partition>:secretsmanager:<region>:<12-digit account>:secret:<name>-<6 characters>), as describe-secret prints it; for a partial ARN give the secret's name as secretName: got '${arn}'`,
    );
  }
  return problems;
}

/** The region and account of an ARN that matched its pattern above. */
function arnPlace(arn: string): { region: string; account: string } {
  const [, , , region = '', account = ''] = arn.split(':');
  return { region, account };
}

/**
 * Where an imported secret (and its key) can be read from, against where the stack deploys, as far as
 * either is known. Each of these deploys, and then every request and every poll fails on the secret:
 * the functions call Secrets Manager in their own region, the key grant's kms:ViaService names that
 * region, and a secret read from another account must use a customer managed key the role may decrypt.
 */
function importedSecretPlacementProblems(config: EnvironmentConfig): string[] {
  const c = config.credentials;
  if (c.mode !== 'import') return [];
  const secret =
    'secretCompleteArn' in c && SECRET_COMPLETE_ARN.test(c.secretCompleteArn)
      ? arnPlace(c.secretCompleteArn)
      : undefined;
  const key = c.kmsKeyArn !== undefined && KMS_KEY_ARN.test(c.kmsKeyArn) ? arnPlace(c.kmsKeyArn) : undefined;
  const problems: string[] = [];
  if (secret && config.region !== undefined && secret.region !== config.region) {
    problems.push(
      `credentials.secretCompleteArn is a secret of region ${secret.region}, but the stack deploys to ${config.region}: the functions read it from their own region's Secrets Manager, which does not find it (import its replica in ${config.region})`,
    );
  }
  const secretRegion = secret?.region ?? config.region;
  if (key && secretRegion !== undefined && key.region !== secretRegion) {
    problems.push(
      `credentials.kmsKeyArn is a key of region ${key.region}, but the secret is in ${secretRegion}: the key that encrypts a secret is in its region`,
    );
  }
  if (secret && config.account !== undefined && secret.account !== config.account && !key) {
    problems.push(
      `credentials.secretCompleteArn is a secret of account ${secret.account}, but the stack deploys to ${config.account}: a secret read from another account is encrypted with a customer managed key (aws/secretsmanager cannot be used across accounts), which kmsKeyArn must name so that the functions may decrypt it`,
    );
  }
  return problems;
}

/** The environment's namespace under the rules the functions also apply (shared/config/metrics-namespace.ts). */
function metricsNamespaceProblem(namespace: string): string | undefined {
  const problem = namespaceProblem(namespace);
  return problem === undefined ? undefined : `metricsNamespace '${namespace}' ${problem}`;
}
