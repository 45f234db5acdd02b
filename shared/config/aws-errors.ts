import { TaniumError } from '../tanium/errors.ts';

/** AWS error names that mean "try again later" whatever the service (S3 spells some its own way). */
const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  // DynamoDB, as a 400 the SDK does not always mark retryable.
  'ProvisionedThroughputExceededException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  // S3: a conditional write met another write to the same key in progress; AWS says to retry.
  'ConditionalRequestConflict',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

interface AwsLikeError {
  name?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/**
 * Whether an AWS SDK error, or the network under it, is one that retrying can cure: marked retryable,
 * 5xx or 429, throttling, a timeout, a reset. Causes are followed a few levels (Powertools and the SDK
 * wrap errors).
 */
export function isRetryableAwsError(error: unknown): boolean {
  for (const candidate of errorChain(error)) {
    const status = candidate.$metadata?.httpStatusCode ?? 0;
    if (candidate.$retryable || status >= 500 || status === 429) return true;
    if (candidate.name && RETRYABLE_NAMES.has(candidate.name)) return true;
    if (candidate.code && NETWORK_CODES.has(candidate.code)) return true;
  }
  return false;
}

/** `error` and its causes, a few levels down (Powertools and the SDK wrap errors). */
export function* errorChain(error: unknown): Generator<AwsLikeError> {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    yield current as AwsLikeError;
    current = (current as AwsLikeError).cause;
  }
}

/**
 * A failed AWS call as an error that says what was being done: transient when retrying can cure it;
 * otherwise `config`, since a missing resource or a denied call is the deployment's to fix.
 */
export function awsCallError(what: string, error: unknown): TaniumError {
  const reason = error instanceof Error ? error.message : String(error);
  const retryable = isRetryableAwsError(error);
  return new TaniumError(retryable ? 'transient' : 'config', `${what}: ${reason}`, {
    retryable,
    cause: error,
  });
}

/**
 * Whether `error` (or an error it wraps) is an AWS service's refusal that retrying cannot cure: a 4xx
 * answer other than throttling (access denied, a missing table or key, a KMS key disabled). Not an error
 * that never reached the service, nor one that is not AWS's.
 */
export function isAwsRefusal(error: unknown): boolean {
  if (isRetryableAwsError(error)) return false;
  for (const candidate of errorChain(error)) {
    const status = candidate.$metadata?.httpStatusCode ?? 0;
    if (status >= 400 && status < 500) return true;
  }
  return false;
}
