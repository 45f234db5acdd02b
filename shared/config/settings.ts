import * as z from 'zod/mini';
import { ConfigError, TaniumError } from '../tanium/errors.ts';
import { type AnswerLimit, answerLimit, LAMBDA_MEMORY_MIB } from './answer-limit.ts';
import { type Env, envInteger, envText, InvalidEnvironment, readEnvironment } from './environment.ts';
import { envMetricsNamespace } from './metrics-namespace.ts';

/**
 * The function configuration of design.md §3, read from the environment the stack sets. Not here:
 * TANIUM_SECRET_ID (read by the credential source, config/credential-source.ts), POWERTOOLS_SERVICE_NAME
 * (read where the logger and metrics are built) and POWERTOOLS_LOG_LEVEL (read by the logger,
 * events/logging.ts, which warns and runs at INFO on an unknown level rather than failing every request).
 */
export interface Settings {
  /** Where results are published; required by every invocation that publishes. */
  eventBusName?: string;
  /** The vault bucket: evidence, and results too big for an EventBridge entry. */
  vaultBucket?: string;
  /** Idempotency records of mutating actions (and the poller's state). */
  stateTable?: string;
  /** The queue's redrive setting: a record received this many times is on its last attempt. */
  maxReceiveCount: number;
  /**
   * The queue's visibility timeout: a record failed transiently is hidden for a shorter backoff instead
   * (events/redelivery-backoff.ts). Unset: the queue's own timeout applies.
   */
  queueVisibilityTimeoutSeconds?: number;
  /**
   * The family queue's URL, for the backoff's ChangeMessageVisibility calls. Unset (or another queue's
   * record), the URL is built from the record's ARN, which knows the commercial and China domains only.
   */
  queueUrl?: string;
  getFileMaxBytes: number;
  /**
   * VAULT_SPOOL_MAX_BYTES: files whose cap fits are spooled to local storage (Lambda's /tmp, sized by the
   * function's ephemeral storage) and uploaded straight to `vault/<sha1>`; 0 streams every file.
   */
  vaultSpoolMaxBytes: number;
  metricsNamespace: string;
  /**
   * The largest Tanium answer one request reads (config/answer-limit.ts), from the memory Lambda gives
   * the function (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) and QUEUE_BATCH_SIZE, the most records its queue hands
   * over at once.
   */
  answerLimit: AnswerLimit;
}

export const SETTING_DEFAULTS = {
  /** The stack's redrive default too (infra/environments.ts takes it from here). */
  maxReceiveCount: 5,
  /** 512 MiB, the vault's default cap for get file. */
  getFileMaxBytes: 536_870_912,
  /** 1 GiB: the default cap, twice (keep=both), fits the evidence function's 2 GiB of /tmp. */
  vaultSpoolMaxBytes: 1_073_741_824,
  metricsNamespace: 'TaniumThreatResponse',
} as const;

/**
 * The largest GET_FILE_MAX_BYTES: 100 GiB. The vault's upload parts grow with the cap (S3 takes 10,000
 * parts), and so does the memory they hold; no function downloads more in its 15 minutes anyway.
 */
export const MAX_GET_FILE_BYTES = 100 * 1024 ** 3;

/** The variables the vault and get file read: all the CLI needs of the function configuration. */
const vaultEnvironmentShape = {
  VAULT_BUCKET: envText,
  GET_FILE_MAX_BYTES: envInteger(1, MAX_GET_FILE_BYTES),
  VAULT_SPOOL_MAX_BYTES: envInteger(0, Number.MAX_SAFE_INTEGER),
};

const vaultSchema = z.object(vaultEnvironmentShape);

// The vault's variables in their places: problems are named in this order.
const environmentSchema = z.object({
  EVENT_BUS_NAME: envText,
  VAULT_BUCKET: vaultEnvironmentShape.VAULT_BUCKET,
  STATE_TABLE: envText,
  MAX_RECEIVE_COUNT: envInteger(1, 1000),
  // SQS's own range.
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: envInteger(0, 43_200),
  QUEUE_URL: envText,
  GET_FILE_MAX_BYTES: vaultEnvironmentShape.GET_FILE_MAX_BYTES,
  VAULT_SPOOL_MAX_BYTES: vaultEnvironmentShape.VAULT_SPOOL_MAX_BYTES,
  POWERTOOLS_METRICS_NAMESPACE: envMetricsNamespace,
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: LAMBDA_MEMORY_MIB,
  // SQS's own range for a Lambda event source.
  QUEUE_BATCH_SIZE: envInteger(1, 10_000),
});

export type VaultSettings = Pick<Settings, 'vaultBucket' | 'getFileMaxBytes' | 'vaultSpoolMaxBytes'>;

/**
 * The vault's settings alone, for the CLI, which runs no function: a variable of the function
 * configuration it never uses (a QUEUE_BATCH_SIZE set for something else in the user's shell) must not
 * fail its get file.
 */
export function loadVaultSettings(env: Env = process.env): VaultSettings {
  return vaultSettingsOf(readEnvironment(vaultSchema, env, 'function configuration'));
}

/** The vault's settings from its variables, validated: the defaults where they are unset. */
function vaultSettingsOf(e: z.infer<typeof vaultSchema>): VaultSettings {
  return {
    ...(e.VAULT_BUCKET !== undefined ? { vaultBucket: e.VAULT_BUCKET } : {}),
    getFileMaxBytes: e.GET_FILE_MAX_BYTES ?? SETTING_DEFAULTS.getFileMaxBytes,
    vaultSpoolMaxBytes: e.VAULT_SPOOL_MAX_BYTES ?? SETTING_DEFAULTS.vaultSpoolMaxBytes,
  };
}

/** Reads and validates the function configuration (blank variables count as unset). */
export function loadSettings(env: Env = process.env): Settings {
  const e = readEnvironment(environmentSchema, env, 'function configuration');
  const settings: Settings = {
    ...vaultSettingsOf(e),
    maxReceiveCount: e.MAX_RECEIVE_COUNT ?? SETTING_DEFAULTS.maxReceiveCount,
    metricsNamespace: e.POWERTOOLS_METRICS_NAMESPACE ?? SETTING_DEFAULTS.metricsNamespace,
    answerLimit: answerLimit(e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, e.QUEUE_BATCH_SIZE),
  };
  if (e.EVENT_BUS_NAME !== undefined) settings.eventBusName = e.EVENT_BUS_NAME;
  if (e.STATE_TABLE !== undefined) settings.stateTable = e.STATE_TABLE;
  if (e.QUEUE_VISIBILITY_TIMEOUT_SECONDS !== undefined) {
    settings.queueVisibilityTimeoutSeconds = e.QUEUE_VISIBILITY_TIMEOUT_SECONDS;
  }
  if (e.QUEUE_URL !== undefined) settings.queueUrl = e.QUEUE_URL;
  return settings;
}

/**
 * The settings, and what is wrong with them: every variable that does not validate is dropped (its
 * default applies) and named in `problem`, a `config` failure. A family function keeps publishing under
 * them, so each request ends in a result saying what to fix instead of the whole invocation failing
 * with no result at all. The failure is retryable (SQS redelivers the request while the variable is
 * fixed, and its last attempt publishes that it gave up) unless MAX_RECEIVE_COUNT is the bad one: no
 * last attempt can be told then, so every request fails at once. A bad EVENT_BUS_NAME still throws:
 * with no bus, no result can go anywhere.
 */
export function loadSettingsReportingProblems(env: Env = process.env): {
  settings: Settings;
  problem?: TaniumError;
} {
  try {
    return { settings: loadSettings(env) };
  } catch (error) {
    if (!(error instanceof InvalidEnvironment)) throw error;
    const bad = error.variables;
    const usable: Env = { ...env };
    for (const name of bad) delete usable[name];
    if (bad.includes('EVENT_BUS_NAME')) throw error;
    const retryable = !bad.includes('MAX_RECEIVE_COUNT');
    const problem = new TaniumError(
      'config',
      `${error.message}; fix the function's environment${retryable ? '' : ', then send the request again'}`,
      { retryable },
    );
    return { settings: loadSettings(usable), problem };
  }
}

/** The value of an optional setting an operation cannot do without, or a ConfigError saying what to set. */
export function requireSetting<K extends 'eventBusName' | 'vaultBucket' | 'stateTable'>(
  settings: Settings,
  key: K,
  purpose: string,
): string {
  const value = settings[key];
  if (value === undefined) throw new ConfigError(`${ENV_NAMES[key]} is not set: ${purpose}`);
  return value;
}

const ENV_NAMES = {
  eventBusName: 'EVENT_BUS_NAME',
  vaultBucket: 'VAULT_BUCKET',
  stateTable: 'STATE_TABLE',
} as const;
