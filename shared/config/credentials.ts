import { createHash, X509Certificate } from 'node:crypto';
import type { core } from 'zod/mini';
import * as z from 'zod/mini';
import { ConfigError } from '../tanium/errors.ts';
import { isRecord } from './is-record.ts';
import { describeIssue } from './zod-messages.ts';

/** The credentials secret (design.md §3, tanium-api.md 1.1), validated. */
export interface TaniumCredentials {
  /** `https://host[:port][/prefix]` without trailing `/` or `\`. */
  baseUrl: string;
  apiToken?: string;
  username?: string;
  password?: string;
  domain?: string;
  verifyServerCert: boolean;
  /** Extra trusted CAs (PEM), added to the system roots. */
  caBundle?: string;
  timeoutSeconds: number;
}

const optionalText = z.optional(z.nullable(z.string()));

/**
 * The shortest token or password the secret may hold. Error messages are searched for the secrets to
 * redact them (tanium/error-text.ts), but not for shorter ones: every such run of letters in a message
 * would be replaced.
 */
export const MIN_SECRET_LENGTH = 4;

/** The README section that shows how to write the secret; a message about an unfilled secret points there. */
export const CREDENTIALS_README_HEADING = 'Credentials secret';

/** What an operator facing an unfilled secret needs to know. */
export const HOW_TO_FILL_THE_SECRET = `write a JSON object with base_url and api_token (or username and password), as shown under "${CREDENTIALS_README_HEADING}" in the README`;

// The Secrets Manager console's key/value editor stores every value as a string, so `"60"` and
// `"false"` are taken as well as JSON numbers and booleans; nothing looser, so a typo still fails.
const DIGITS = /^\s*[0-9]+\s*$/;
const TRUE_OR_FALSE = /^\s*(true|false)\s*$/i;
/** What a token or session in the `session` header is: printable ASCII without spaces. */
export const SESSION_HEADER_TEXT = /^[\x21-\x7e]+$/;

const timeoutSeconds = z.pipe(
  z.transform((value: unknown) =>
    typeof value === 'string' && DIGITS.test(value) ? Number(value.trim()) : value,
  ),
  z.int().check(z.minimum(1), z.maximum(900)),
);

const verifyServerCert = z.pipe(
  z.transform((value: unknown) =>
    typeof value === 'string' && TRUE_OR_FALSE.test(value) ? value.trim().toLowerCase() === 'true' : value,
  ),
  z.boolean(),
);

/** What a field that also takes text accepts, for the message when it gets something else. */
const ACCEPTS: Readonly<Record<string, string>> = {
  timeout_seconds: 'a whole number of seconds, as a number or a string of digits',
  verify_server_cert: 'true or false',
};

const secretSchema = z.object({
  base_url: z.string().check(z.trim(), z.minLength(1)),
  api_token: optionalText,
  username: optionalText,
  password: optionalText,
  domain: optionalText,
  verify_server_cert: z.optional(z.nullable(verifyServerCert)),
  ca_bundle: optionalText,
  timeout_seconds: z.optional(z.nullable(timeoutSeconds)),
});

/** The fields the secret may hold, squashed (case and separators dropped) to catch other spellings. */
const SQUASHED_FIELDS = new Map(Object.keys(secretSchema.shape).map((name) => [squash(name), name]));

function squash(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * The field an unknown one is another spelling of (`api-token`, `API_TOKEN`, `apiToken`, `Domain`) when
 * that field itself is absent, or undefined. Such a field would be dropped without a word: a token never
 * sent, verification left on. Other extra fields are left alone (notes an operator keeps in the secret,
 * a second token kept for a staged rotation).
 */
function meantField(name: string, fields: Record<string, unknown>): string | undefined {
  if (Object.hasOwn(secretSchema.shape, name)) return undefined;
  const meant = SQUASHED_FIELDS.get(squash(name));
  // Empty counts as absent: a blank placeholder left beside the value spelled otherwise drops it too.
  const given = fields[meant ?? ''];
  const absent = given === undefined || given === null || (typeof given === 'string' && given.trim() === '');
  return meant !== undefined && absent ? meant : undefined;
}

/**
 * Problems with the PEM blocks of a CA bundle: Node ignores a block it cannot read, so a damaged one
 * would only show as a TLS verification failure at the first request.
 */
function caBundleProblem(bundle: string): string | undefined {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return "field 'ca_bundle' must hold PEM certificates";
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      const escaped = block.includes('\\n') ? ' (it holds \\n escapes where line breaks belong)' : '';
      return `field 'ca_bundle' holds a certificate that cannot be read (certificate ${index + 1} of ${blocks.length})${escaped}`;
    }
  }
  return undefined;
}

/**
 * A missing field reads as "required", not as a type error, and a field that also takes text says
 * what it takes; the received value is never part of the sentence.
 */
function describeCredentialIssue(issue: core.$ZodIssue, fields: Record<string, unknown>): string {
  const field = issue.path.length === 1 ? String(issue.path[0]) : undefined;
  if (field === undefined) return describeIssue(issue);
  const absent = issue.code === 'invalid_type' && (fields[field] === undefined || fields[field] === null);
  const blank = issue.code === 'too_small' && issue.origin === 'string' && issue.minimum === 1;
  if (absent || blank) return `field '${field}' is required`;
  const accepts = ACCEPTS[field];
  if (issue.code === 'invalid_type' && accepts !== undefined) return `field '${field}' must be ${accepts}`;
  return describeIssue(issue);
}

export const NO_CREDENTIALS_MESSAGE =
  'Please provide either an API token, or username and password credentials';

function blankToUndefined(value: string | null | undefined): string | undefined {
  return value === null || value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * Validates the secret's JSON fields. `source` names where they came from (secret id, file, environment)
 * so the message tells the operator what to fix; no field value is ever part of a message.
 */
export function parseCredentials(raw: unknown, source: string): TaniumCredentials {
  // The stack creates the secret as `{}`: say it is unfilled and how to fill it, not that a field is wrong.
  if (isRecord(raw) && Object.keys(raw).length === 0) {
    throw new ConfigError(
      `The Tanium credentials ${source} holds no settings yet: ${HOW_TO_FILL_THE_SECRET}`,
    );
  }
  if (isRecord(raw)) {
    const misspelled = Object.keys(raw).flatMap((name) => {
      const meant = meantField(name, raw);
      return meant === undefined
        ? []
        : [`field '${name}' is not one this service reads: did you mean '${meant}'?`];
    });
    if (misspelled.length > 0) {
      throw new ConfigError(`Invalid Tanium credentials in ${source}: ${misspelled.join('; ')}`);
    }
  }
  const parsed = secretSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = isRecord(raw) ? raw : {};
    const problems = parsed.error.issues.map((issue) => describeCredentialIssue(issue, fields)).join('; ');
    throw new ConfigError(`Invalid Tanium credentials in ${source}: ${problems}`);
  }
  const secret = parsed.data;
  const baseUrl = secret.base_url.replace(/[/\\]+$/, '');
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigError(
      `Invalid Tanium credentials in ${source}: field 'base_url' must be a URL like https://tanium.example.com`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(
      `Invalid Tanium credentials in ${source}: field 'base_url' must start with https:// (or http://)`,
    );
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(
      `Invalid Tanium credentials in ${source}: field 'base_url' must not contain a query, fragment or user info`,
    );
  }
  const caBundle = blankToUndefined(secret.ca_bundle);
  const caProblem = caBundle === undefined ? undefined : caBundleProblem(caBundle);
  if (caProblem !== undefined) throw new ConfigError(`Invalid Tanium credentials in ${source}: ${caProblem}`);
  const credentials: TaniumCredentials = {
    baseUrl,
    verifyServerCert: secret.verify_server_cert ?? true,
    timeoutSeconds: secret.timeout_seconds ?? 60,
  };
  const apiToken = blankToUndefined(secret.api_token);
  const username = blankToUndefined(secret.username);
  const password = blankToUndefined(secret.password);
  const domain = blankToUndefined(secret.domain);
  if (apiToken !== undefined) {
    // Anything else inside a token is a paste accident (a wrapped line, a stray character), and undici
    // refuses some of it (control characters, anything above U+00FF) before sending: every request
    // would fail as a connection error. Caught here, the message names the field.
    if (!SESSION_HEADER_TEXT.test(apiToken.trim())) {
      throw new ConfigError(
        `Invalid Tanium credentials in ${source}: field 'api_token' may hold only printable ASCII characters without spaces (check for a line break or a character pasted with it)`,
      );
    }
    credentials.apiToken = apiToken.trim();
  }
  // A name pasted with a line break or spaces around it fails the login with nothing to say why; a
  // password is taken as it is, since spaces may be part of it.
  if (username !== undefined) credentials.username = username.trim();
  if (password !== undefined) credentials.password = password;
  for (const [field, value] of [
    ['api_token', credentials.apiToken],
    ['password', credentials.password],
  ] as const) {
    // Tanium's answers are searched for the secrets before they reach a message; one this short would
    // match ordinary words, so it could not be kept out of them.
    if (value !== undefined && value.length < MIN_SECRET_LENGTH) {
      throw new ConfigError(
        `Invalid Tanium credentials in ${source}: field '${field}' is shorter than ${MIN_SECRET_LENGTH} characters, too short to be kept out of error messages`,
      );
    }
  }
  if (domain !== undefined) credentials.domain = domain.trim();
  if (caBundle !== undefined) credentials.caBundle = caBundle;
  return credentials;
}

/** Fails the way every action must when no usable credential is configured (kind `config`). */
export function assertHasCredential(credentials: TaniumCredentials): void {
  if (
    credentials.apiToken === undefined &&
    (credentials.username === undefined || credentials.password === undefined)
  ) {
    throw new ConfigError(NO_CREDENTIALS_MESSAGE);
  }
}

/** SHA-256 over the fields that identify a credential: a changed secret starts a fresh session cache. */
export function credentialFingerprint(credentials: TaniumCredentials): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        credentials.baseUrl,
        credentials.apiToken ?? null,
        credentials.username ?? null,
        credentials.password ?? null,
        credentials.domain ?? null,
      ]),
    )
    .digest('hex');
}

/** Every secret string a message or log line must never show. */
export function secretValues(credentials: TaniumCredentials): string[] {
  const values = [credentials.apiToken, credentials.password];
  if (credentials.username !== undefined && credentials.password !== undefined) {
    values.push(Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'));
  }
  return values.filter((v): v is string => typeof v === 'string' && v.length > 0);
}
