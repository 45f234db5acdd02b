import * as z from 'zod/mini';
import { ConfigError } from '../tanium/errors.ts';

type Env = Record<string, string | undefined>;

/** The function configuration of design.md §3, read from the environment the stack sets. */
export interface Settings {
  /** The credentials secret; absent locally, where a file or `TANIUM_*` variables are used instead. */
  taniumSecretId?: string;
  /** Where results are published; required by every invocation that publishes. */
  eventBusName?: string;
  /** The vault bucket: evidence, and results too big for an EventBridge entry. */
  vaultBucket?: string;
  /** Idempotency records of mutating actions (and the poller's state). */
  stateTable?: string;
  /** The queue's redrive setting: a record received this many times is on its last attempt. */
  maxReceiveCount: number;
  getFileMaxBytes: number;
  /**
   * VAULT_SPOOL_MAX_BYTES: files whose cap fits are spooled to local storage (Lambda's /tmp, sized by the
   * function's ephemeral storage) and uploaded straight to `vault/<sha1>`; 0 streams every file.
   */
  vaultSpoolMaxBytes: number;
  /** POWERTOOLS_SERVICE_NAME; the stack sets the function's name (each function defaults its own). */
  serviceName?: string;
  logLevel?: LogLevel;
  metricsNamespace: string;
}

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SETTING_DEFAULTS = {
  /** The stack's default redrive setting (infra/environments.ts). */
  maxReceiveCount: 3,
  /** 512 MiB, the vault's default cap for get file. */
  getFileMaxBytes: 536_870_912,
  /** 1 GiB: the default cap, twice (keep=both), fits the evidence function's 2 GiB of /tmp. */
  vaultSpoolMaxBytes: 1_073_741_824,
  metricsNamespace: 'TaniumThreatResponse',
} as const;

const blankIsUnset = (value: string | undefined) =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

const name = z.optional(z.string().check(z.maxLength(2048, 'must be at most 2048 characters long')));

const positiveInteger = (max: number, min = 1) =>
  z.optional(
    z.pipe(
      z
        .string()
        .check(z.refine((text) => /^\d+$/.test(text), `must be a whole number from ${min} to ${max}`)),
      z.pipe(
        z.transform((text: string) => Number(text)),
        z
          .number()
          .check(
            z.refine(
              (value) => Number.isSafeInteger(value) && value >= min && value <= max,
              `must be a whole number from ${min} to ${max}`,
            ),
          ),
      ),
    ),
  );

const environmentSchema = z.object({
  TANIUM_SECRET_ID: name,
  EVENT_BUS_NAME: name,
  VAULT_BUCKET: name,
  STATE_TABLE: name,
  MAX_RECEIVE_COUNT: positiveInteger(1000),
  GET_FILE_MAX_BYTES: positiveInteger(Number.MAX_SAFE_INTEGER),
  VAULT_SPOOL_MAX_BYTES: positiveInteger(Number.MAX_SAFE_INTEGER, 0),
  POWERTOOLS_SERVICE_NAME: name,
  POWERTOOLS_LOG_LEVEL: z.optional(
    z.pipe(
      z.transform((text: unknown) => String(text).toUpperCase()),
      z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`),
    ),
  ),
  POWERTOOLS_METRICS_NAMESPACE: name,
});

const KEYS = Object.keys(environmentSchema.shape) as (keyof typeof environmentSchema.shape)[];

/**
 * Reads and validates the function configuration. Blank variables count as unset; a bad value is a
 * ConfigError naming the variable (never echoing its value).
 */
export function loadSettings(env: Env = process.env): Settings {
  const raw: Record<string, string | undefined> = {};
  for (const key of KEYS) raw[key] = blankIsUnset(env[key]);
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.')} ${issue.message}`,
    );
    throw new ConfigError(`Invalid function configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const settings: Settings = {
    maxReceiveCount: e.MAX_RECEIVE_COUNT ?? SETTING_DEFAULTS.maxReceiveCount,
    getFileMaxBytes: e.GET_FILE_MAX_BYTES ?? SETTING_DEFAULTS.getFileMaxBytes,
    vaultSpoolMaxBytes: e.VAULT_SPOOL_MAX_BYTES ?? SETTING_DEFAULTS.vaultSpoolMaxBytes,
    metricsNamespace: e.POWERTOOLS_METRICS_NAMESPACE ?? SETTING_DEFAULTS.metricsNamespace,
  };
  if (e.TANIUM_SECRET_ID !== undefined) settings.taniumSecretId = e.TANIUM_SECRET_ID;
  if (e.EVENT_BUS_NAME !== undefined) settings.eventBusName = e.EVENT_BUS_NAME;
  if (e.VAULT_BUCKET !== undefined) settings.vaultBucket = e.VAULT_BUCKET;
  if (e.STATE_TABLE !== undefined) settings.stateTable = e.STATE_TABLE;
  if (e.POWERTOOLS_SERVICE_NAME !== undefined) settings.serviceName = e.POWERTOOLS_SERVICE_NAME;
  if (e.POWERTOOLS_LOG_LEVEL !== undefined) settings.logLevel = e.POWERTOOLS_LOG_LEVEL;
  return settings;
}

/** The value of an optional setting an operation cannot do without, or a ConfigError saying what to set. */
export function requireSetting<K extends 'eventBusName' | 'vaultBucket' | 'stateTable' | 'taniumSecretId'>(
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
  taniumSecretId: 'TANIUM_SECRET_ID',
} as const;
