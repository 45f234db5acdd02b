import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as z from 'zod/mini';
import type {
  AlarmConfig,
  CredentialsSecretConfig,
  EnvironmentConfig,
  PollerConfig,
  VpcConfig,
} from './environments.ts';
import { FUNCTION_NAMES, type FunctionName } from './families.ts';
import type { FunctionSettings } from './function-defaults.ts';
import type { PollerSettings } from './poller-settings.ts';

/**
 * The schema of one object's settings, held by tsc to T: every key of T and no other (an extra key of
 * the literal is an excess property), a required one never optional, an optional one never required,
 * each parsing to its type. `satisfies z.ZodType<T>` alone would miss an optional key on either side.
 */
type ShapeOf<T> = {
  readonly [K in keyof T]-?: Record<never, never> extends Pick<T, K>
    ? z.ZodMiniOptional<z.ZodMiniType<T[K]>>
    : z.ZodMiniType<T[K]>;
};

/**
 * zod/mini carries no messages of its own ("Invalid input"), so each schema states what it expects. A
 * required setting that is missing says so: `retainData: undefined` unsets nothing.
 */
function expecting(what: string) {
  return {
    error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`),
  };
}

const number = z.number(expecting('a number'));
const string = z.string(expecting('a string'));
const boolean = z.boolean(expecting('true or false'));
const strings = z.array(string, expecting('a list of strings'));
const retentionDays = z.enum(RetentionDays, expecting('a RetentionDays value'));
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/** An object of settings that names any key it does not know, with the ones it does. */
function settings<Shape extends z.core.$ZodShape>(shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown ${issue.keys.join(', ')} (known: ${known})`
        : 'must be a group of settings (an object)',
  });
}

const functionSettings = settings({
  memoryMiB: number,
  timeoutSeconds: number,
  ephemeralStorageMiB: z.optional(number),
  batchSize: number,
  maxBatchingWindowSeconds: number,
  maxConcurrency: z.optional(number),
} satisfies ShapeOf<FunctionSettings>);

const pollerSettings = settings({
  pageSize: z.optional(number),
  maxRequestsPerRun: z.optional(number),
  overlapSeconds: z.optional(number),
  reserveSeconds: z.optional(number),
  maxRunSeconds: z.optional(number),
  maxRecentIds: z.optional(number),
  filterState: z.optional(string),
  filterPriority: z.optional(string),
  filterSeverity: z.optional(string),
  filterIntelDocId: z.optional(string),
  filterQuery: z.optional(string),
  enrichIntelNames: z.optional(boolean),
} satisfies ShapeOf<PollerSettings>);

// A key given as `undefined` counts as absent, as in the declarations' types, so `secretName: undefined`
// beside an ARN is no second secret.
const importByArn = z.strictObject({
  mode: z.literal('import'),
  secretCompleteArn: string,
  secretName: z.optional(z.undefined()),
  kmsKeyArn: z.optional(string),
});
const importByName = z.strictObject({
  mode: z.literal('import'),
  secretName: string,
  secretCompleteArn: z.optional(z.undefined()),
  kmsKeyArn: z.optional(string),
});

const credentials = z.discriminatedUnion(
  'mode',
  [
    settings({ mode: z.literal('create'), secretName: z.optional(string) }),
    // The first stage gives the discriminated union the option's `mode`, which a plain union does not expose.
    z.pipe(
      z.looseObject({ mode: z.literal('import') }),
      z.union([importByArn, importByName], {
        error:
          'must name the secret to import by exactly one of secretCompleteArn or secretName, with an optional kmsKeyArn, all strings',
      }),
    ),
  ],
  {
    // Typed for the union's own issue only, but a value that is no object raises `invalid_type` too.
    error: (issue) =>
      issue.code === 'invalid_union'
        ? "must be 'create' or 'import'"
        : "must be { mode: 'create', ... } or { mode: 'import', ... }",
  },
) satisfies z.ZodMiniType<CredentialsSecretConfig>;

/** The shape of a resolved configuration: each setting of its type, no key unknown. The ranges come after it. */
export const environmentConfigSchema = settings({
  name: string,
  account: z.optional(string),
  region: z.optional(string),
  retainData: boolean,
  terminationProtection: boolean,
  eventBusName: string,
  maxReceiveCount: number,
  resultsExpirationDays: number,
  vaultExpirationDays: z.optional(number),
  accessLogsExpirationDays: number,
  logRetention: retentionDays,
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  sourceMaps: boolean,
  getFileMaxBytes: number,
  functions: settings(
    Object.fromEntries(FUNCTION_NAMES.map((fn) => [fn, functionSettings])) as Record<
      FunctionName,
      typeof functionSettings
    >,
  ),
  poller: settings({
    schedule: string,
    firstRunHours: number,
    retryAttempts: number,
    maxEventAgeSeconds: number,
    enabled: boolean,
    reservedConcurrency: z.optional(number),
    settings: z.optional(pollerSettings),
  } satisfies ShapeOf<PollerConfig>),
  credentials,
  vpc: settings({
    enabled: boolean,
    maxAzs: number,
    natGateways: number,
    flowLogRetention: retentionDays,
  } satisfies ShapeOf<VpcConfig>),
  alarms: settings({
    topic: boolean,
    emailSubscriptions: strings,
    pollerLagSeconds: number,
    pollerFailureThreshold: number,
  } satisfies ShapeOf<AlarmConfig>),
  requestSources: strings,
  requestSenderAccounts: strings,
  metricsNamespace: string,
} satisfies ShapeOf<EnvironmentConfig>);

/** One problem, named by its dotted path: `functions.evidence.timeoutSeconds must be a number`. */
export function describeSettingIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return path ? `${path}: ${issue.message}` : issue.message;
  return `${path} ${issue.message}`;
}
