import { readFileSync } from 'node:fs';
import { TransformParameterError } from '@aws-lambda-powertools/parameters/errors';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { ConfigError, TaniumError } from '../tanium/errors.ts';
import { awsClientConfig } from './aws-client-config.ts';
import { errorChain, isRetryableAwsError } from './aws-errors.ts';
import {
  assertHasCredential,
  HOW_TO_FILL_THE_SECRET,
  NO_CREDENTIALS_MESSAGE,
  parseCredentials,
  type TaniumCredentials,
} from './credentials.ts';
import type { Env } from './environment.ts';

/** How long a container keeps the secret before reading it again (rotation is picked up after this). */
export const SECRET_MAX_AGE_SECONDS = 300;

/**
 * How often a cached secret value that cannot be used (`{}` as the stack creates it, a missing field) is
 * read again past the cache: an operator fixing it should not see every request fail for five minutes.
 * Here, not in the client cache, whose re-read (CREDENTIALS_RECHECK_MS) follows Tanium refusing a valid
 * one: an unusable value never builds a client. Its time is bounded like every credentials read, by the
 * invocation's deadline (credentials-by-deadline.ts).
 */
export const UNUSABLE_SECRET_RECHECK_MS = 30_000;

/**
 * How long the credentials last read stand in for the secret after Secrets Manager failed in a way worth
 * retrying (throttling, a 5xx, the network) once the cache expired: the container keeps working, as
 * AWS's own caching clients do, and tries Secrets Manager again after this, not at every record.
 */
export const STALE_SECRET_RETRY_MS = 30_000;

let provider: SecretsProvider | undefined;
/**
 * Per secret: the last value read that held usable credentials, and until when it stands in without
 * asking Secrets Manager (0: ask).
 */
const lastGood = new Map<string, { credentials: TaniumCredentials; quietUntil: number }>();
/** Each secret value Powertools cached, validated (see credentialsFromSecret). */
const parsedSecrets = new WeakMap<object, TaniumCredentials>();
/** Per secret: when its cached value was last found unusable, or read again for being so. */
const unusableSince = new Map<string, number>();

/**
 * Reads the credentials secret through Powertools parameters, cached per container for 5 minutes.
 * `fresh`: read it now whatever the cache holds (Tanium refused the cached value), refreshing the cache.
 * A cached value that cannot be used is read again, at most every UNUSABLE_SECRET_RECHECK_MS.
 */
export async function credentialsFromSecret(
  secretId: string,
  { fresh = false }: { fresh?: boolean } = {},
): Promise<TaniumCredentials> {
  try {
    const credentials = await readSecret(secretId, fresh);
    unusableSince.delete(secretId);
    return credentials;
  } catch (error) {
    if (!(error instanceof UnusableSecret)) throw error;
    const since = unusableSince.get(secretId);
    const now = Date.now();
    if (fresh || since === undefined || now - since < UNUSABLE_SECRET_RECHECK_MS) {
      if (since === undefined || fresh) unusableSince.set(secretId, now);
      throw error;
    }
    unusableSince.set(secretId, now);
    return readSecret(secretId, true);
  }
}

/** The JSON parser's error of an answer the SDK could not parse, which Powertools wraps. */
function unparsedAnswer(
  error: unknown,
): (SyntaxError & { $metadata?: { httpStatusCode?: number } }) | undefined {
  for (const candidate of errorChain(error)) if (candidate instanceof SyntaxError) return candidate;
  return undefined;
}

/**
 * Why Secrets Manager's answer failed: its own text or, for an answer the SDK could not parse (whose
 * message quotes that body and explains the SDK's internals), the status it came with.
 */
function secretsManagerReason(error: unknown): string {
  const unparsed = unparsedAnswer(error);
  if (unparsed !== undefined) {
    const status = unparsed.$metadata?.httpStatusCode;
    return `Secrets Manager's answer could not be read${status === undefined ? '' : ` (HTTP ${status})`}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A secret read fine whose value holds no usable credentials. */
class UnusableSecret extends ConfigError {}

async function readSecret(secretId: string, fresh: boolean): Promise<TaniumCredentials> {
  provider ??= new SecretsProvider({ clientConfig: awsClientConfig() });
  // Not for a read past the cache: Tanium refused these credentials, so only a new value can help.
  const kept = fresh ? undefined : lastGood.get(secretId);
  if (kept !== undefined && Date.now() < kept.quietUntil) return kept.credentials;
  let value: unknown;
  try {
    value = await provider.get(secretId, {
      maxAge: SECRET_MAX_AGE_SECONDS,
      transform: 'json',
      ...(fresh ? { forceFetch: true } : {}),
    });
  } catch (error) {
    // The SDK's and Powertools' messages name the secret and the problem, never the value.
    // Only Powertools' transform says the value is not JSON: an answer of Secrets Manager the SDK could not
    // parse (a 5xx or a proxy's HTML page) fails with a JSON SyntaxError too, and the secret is fine.
    const notJson = error instanceof TransformParameterError;
    const reason = notJson ? 'it is not valid JSON' : secretsManagerReason(error);
    const message = `Unable to read the Tanium credentials secret '${secretId}': ${reason}`;
    // A JSON parser's message quotes part of what it parsed, the secret's value or Secrets Manager's
    // answer holding it: not kept, even as the cause.
    const cause = notJson || unparsedAnswer(error) !== undefined ? undefined : error;
    // Throttling, a 5xx or a network failure is worth another delivery, unless the credentials last read
    // can stand in meanwhile; a missing secret or a denied read is not, and ends the standing in.
    if (isRetryableAwsError(error)) {
      if (kept !== undefined) {
        kept.quietUntil = Date.now() + STALE_SECRET_RETRY_MS;
        return kept.credentials;
      }
      throw new TaniumError('transient', message, { retryable: true, cause });
    }
    lastGood.delete(secretId);
    throw new ConfigError(message, cause);
  }
  if (value === undefined || value === null) {
    lastGood.delete(secretId);
    throw new UnusableSecret(
      `The Tanium credentials secret '${secretId}' has no value yet: ${HOW_TO_FILL_THE_SECRET}`,
    );
  }
  // Powertools hands back the same parsed object while its cache holds: validate it once, not on every
  // invocation (the client cache then also keys it once).
  let parsed = typeof value === 'object' ? parsedSecrets.get(value) : undefined;
  if (parsed === undefined) {
    try {
      parsed = parseCredentials(value, `secret '${secretId}'`);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      lastGood.delete(secretId);
      throw new UnusableSecret(error.message);
    }
    if (typeof value === 'object') parsedSecrets.set(value, parsed);
  }
  // Kept once per value read (a cached read returns the same object), not once per record.
  if (kept?.credentials !== parsed || kept.quietUntil !== 0) {
    lastGood.set(secretId, { credentials: parsed, quietUntil: 0 });
  }
  return parsed;
}

/** What the file system's error codes mean, for the ones a mistyped or misplaced path gives. */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
};

/**
 * A file named by a variable could not be read. Neither the path nor the file system's own message (which
 * quotes it) is given, nor kept as the cause: a variable mixed up with another may hold a token.
 */
function unreadableFile(what: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    typeof code === 'string'
      ? `${FILE_ERRORS[code] ?? 'the file system refused'} (${code})`
      : 'unknown error';
  return new ConfigError(`Unable to read ${what}: ${reason}`);
}

/** Reads a local JSON file with the secret's fields (for the CLI and local runs). */
export function credentialsFromFile(path: string): TaniumCredentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw unreadableFile('the Tanium credentials file TANIUM_CREDENTIALS_FILE names', error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`The Tanium credentials file ${path} is not valid JSON`);
  }
  return parseCredentials(json, `file ${path}`);
}

function parseBoolean(name: string, value: string): boolean {
  const normalized = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(normalized)) return true;
  if (['false', '0', 'no'].includes(normalized)) return false;
  // The value is not echoed: a variable mixed up with another may hold a token.
  throw new ConfigError(
    `Invalid Tanium credentials in environment: ${name} must be true or false (1, 0, yes and no are read too)`,
  );
}

/** The secret's fields and the variable `credentialsFromEnv` reads each from. */
const FIELD_VARIABLES: Readonly<Record<string, string>> = {
  base_url: 'TANIUM_BASE_URL',
  api_token: 'TANIUM_API_TOKEN',
  username: 'TANIUM_USERNAME',
  password: 'TANIUM_PASSWORD',
  domain: 'TANIUM_DOMAIN',
  verify_server_cert: 'TANIUM_VERIFY_SERVER_CERT',
  ca_bundle: 'TANIUM_CA_BUNDLE',
  timeout_seconds: 'TANIUM_TIMEOUT_SECONDS',
};

/** Reads `TANIUM_*` environment variables (for the CLI and local runs). */
export function credentialsFromEnv(env: Env): TaniumCredentials {
  if (!env.TANIUM_BASE_URL) {
    throw new ConfigError(
      'No Tanium credentials configured: set TANIUM_SECRET_ID, TANIUM_CREDENTIALS_FILE, or TANIUM_BASE_URL with TANIUM_API_TOKEN (or TANIUM_USERNAME and TANIUM_PASSWORD)',
    );
  }
  const raw: Record<string, unknown> = {
    base_url: env.TANIUM_BASE_URL,
    api_token: env.TANIUM_API_TOKEN,
    username: env.TANIUM_USERNAME,
    password: env.TANIUM_PASSWORD,
    domain: env.TANIUM_DOMAIN,
  };
  if (env.TANIUM_VERIFY_SERVER_CERT) {
    raw.verify_server_cert = parseBoolean('TANIUM_VERIFY_SERVER_CERT', env.TANIUM_VERIFY_SERVER_CERT);
  }
  if (env.TANIUM_TIMEOUT_SECONDS) {
    // Digits only, as in the secret: Number() would also take 0x10, 1e2 or 1.5e1, and read a blank as 0.
    if (!/^\s*\d+\s*$/.test(env.TANIUM_TIMEOUT_SECONDS)) {
      throw new ConfigError(
        'Invalid Tanium credentials in environment: TANIUM_TIMEOUT_SECONDS must be a whole number of seconds',
      );
    }
    raw.timeout_seconds = Number(env.TANIUM_TIMEOUT_SECONDS);
  }
  if (env.TANIUM_CA_BUNDLE) {
    try {
      raw.ca_bundle = readFileSync(env.TANIUM_CA_BUNDLE, 'utf8');
    } catch (error) {
      throw unreadableFile('the CA bundle TANIUM_CA_BUNDLE names', error);
    }
  }
  try {
    const credentials = parseCredentials(raw, 'environment (TANIUM_*)');
    // Checked here, not at the first request as for a secret, so that the message names the variables.
    assertHasCredential(credentials);
    return credentials;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(namingVariables(error.message, env.TANIUM_CA_BUNDLE), error);
  }
}

/**
 * The credentials' messages name the secret's fields (`field 'base_url'`); read from the environment, the
 * operator sets variables, so each is named instead (the CA bundle with the file it was read from).
 */
function namingVariables(message: string, caBundlePath: string | undefined): string {
  if (message === NO_CREDENTIALS_MESSAGE) {
    return `${message} (TANIUM_API_TOKEN, or TANIUM_USERNAME and TANIUM_PASSWORD)`;
  }
  return message.replace(/field '([a-z_]+)'/g, (whole, field: string) => {
    const variable = FIELD_VARIABLES[field];
    if (variable === undefined) return whole;
    return field === 'ca_bundle' && caBundlePath ? `${variable} (${caBundlePath})` : variable;
  });
}

/**
 * Where credentials come from, in order: the Secrets Manager secret named by `TANIUM_SECRET_ID` (Lambda),
 * a local JSON file named by `TANIUM_CREDENTIALS_FILE`, or `TANIUM_*` variables. `fresh` bypasses the
 * secret's cache (the file and the variables are read as they are every time).
 */
export async function loadCredentials(
  env: Env = process.env,
  options: { fresh?: boolean } = {},
): Promise<TaniumCredentials> {
  if (env.TANIUM_SECRET_ID) return credentialsFromSecret(env.TANIUM_SECRET_ID, options);
  if (env.TANIUM_CREDENTIALS_FILE) return credentialsFromFile(env.TANIUM_CREDENTIALS_FILE);
  return credentialsFromEnv(env);
}

/** The variables `credentialsFromEnv` reads: any one set means that source was meant. */
const ENV_SOURCE_VARIABLES = Object.values(FIELD_VARIABLES);

/**
 * The credential sources set in `env`, each as the variables that set it, in `loadCredentials`'s order:
 * the first is used, the rest are ignored.
 */
export function credentialSourcesSet(env: Env): string[][] {
  const sources = [
    env.TANIUM_SECRET_ID ? ['TANIUM_SECRET_ID'] : [],
    env.TANIUM_CREDENTIALS_FILE ? ['TANIUM_CREDENTIALS_FILE'] : [],
    ENV_SOURCE_VARIABLES.filter((name) => env[name]),
  ];
  return sources.filter((names) => names.length > 0);
}

export interface CredentialReads {
  /** The credentials through their cache. */
  credentials: () => Promise<TaniumCredentials>;
  /** The credentials past their cache, for when Tanium refused the cached ones (see TaniumClientCache). */
  freshCredentials?: () => Promise<TaniumCredentials>;
}

/**
 * How a handler reads its credentials: the reads it was given (tests, the CLI; re-read past the cache only
 * when given that read too), else `loadCredentials` from `env`.
 */
export function credentialReads(options: Partial<CredentialReads> & { env?: Env }): CredentialReads {
  if (options.credentials) {
    return options.freshCredentials
      ? { credentials: options.credentials, freshCredentials: options.freshCredentials }
      : { credentials: options.credentials };
  }
  const env = options.env ?? process.env;
  return {
    credentials: () => loadCredentials(env),
    freshCredentials: () => loadCredentials(env, { fresh: true }),
  };
}

/**
 * Ends the Secrets Manager client's connections, forgetting the cached secret: a read its caller stopped
 * waiting for (at a command-line run's deadline) would otherwise keep the process alive until the SDK
 * gives up on it, retries included. The next read makes a new client.
 */
export function closeCredentialReads(): void {
  provider?.client.destroy();
  provider = undefined;
}

/** Forgets the cached secret (tests). */
export function resetCredentialCache(): void {
  provider = undefined;
  unusableSince.clear();
  lastGood.clear();
}
