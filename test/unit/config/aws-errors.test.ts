import { describe, expect, it } from 'vitest';
import { isAwsRefusal, isRetryableAwsError } from '../../../shared/config/aws-errors.ts';

const awsError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
    ...extra,
  });

describe('AWS errors: which ones retrying can cure', () => {
  it('retries server errors, throttling, timeouts and network failures', () => {
    expect(isRetryableAwsError(awsError('InternalError', 500))).toBe(true);
    expect(isRetryableAwsError(awsError('TooManyRequestsException', 429))).toBe(true);
    expect(isRetryableAwsError(awsError('SlowDown'))).toBe(true);
    expect(isRetryableAwsError(awsError('ThrottlingException', 400))).toBe(true);
    expect(isRetryableAwsError(awsError('TimeoutError'))).toBe(true);
    expect(isRetryableAwsError(awsError('Whatever', 400, { $retryable: {} }))).toBe(true);
    expect(isRetryableAwsError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    // DynamoDB's throughput refusal is a 400 the SDK does not always mark; routes come and go too
    expect(isRetryableAwsError(awsError('ProvisionedThroughputExceededException', 400))).toBe(true);
    for (const code of ['EHOSTUNREACH', 'ENETUNREACH']) {
      expect(isRetryableAwsError(Object.assign(new Error('no route'), { code }))).toBe(true);
    }
  });

  it('finds the cause under the wrappers of Powertools and the SDK', () => {
    const wrapped = new Error('Failed to get secret', {
      cause: new Error('outer', { cause: awsError('ServiceUnavailable', 503) }),
    });
    expect(isRetryableAwsError(wrapped)).toBe(true);
  });

  it.each([
    ['a 500 of any name', 500],
    ['a 429 of any name', 429],
  ])('retries %s', (_case, status) => {
    expect(isRetryableAwsError(awsError('SomethingNew', status))).toBe(true);
  });

  it('stops following causes that go round in a circle, and takes a null cause for none', () => {
    // Prepare
    const circle: Error = awsError('AccessDeniedException', 403);
    circle.cause = new Error('wrapper', { cause: circle });
    const nullCause = Object.assign(awsError('AccessDeniedException', 403), { cause: null });

    // Act / Assess
    expect(isRetryableAwsError(circle)).toBe(false);
    expect(isRetryableAwsError(nullCause)).toBe(false);
    expect(isRetryableAwsError(null)).toBe(false);
  });

  it('does not retry what the caller must fix', () => {
    expect(isRetryableAwsError(awsError('AccessDeniedException', 403))).toBe(false);
    expect(isRetryableAwsError(awsError('NoSuchKey', 404))).toBe(false);
    expect(isRetryableAwsError(awsError('ResourceNotFoundException', 400))).toBe(false);
    expect(isRetryableAwsError('not an error')).toBe(false);
    expect(isRetryableAwsError(undefined)).toBe(false);
  });
});

describe('AWS errors: a refusal only the deployment can fix', () => {
  it('finds a 4xx answer other than throttling, also under the wrappers of Powertools and the SDK', () => {
    const wrapped = new Error('Failed to put record for idempotency key', {
      cause: awsError('ResourceNotFoundException', 400),
    });
    expect(isAwsRefusal(wrapped)).toBe(true);
    expect(isAwsRefusal(awsError('AccessDeniedException', 403))).toBe(true);
  });

  it('is not a refusal when retrying can cure it, or when no AWS service answered', () => {
    expect(isAwsRefusal(awsError('ThrottlingException', 400))).toBe(false);
    expect(isAwsRefusal(awsError('InternalError', 500))).toBe(false);
    expect(isAwsRefusal(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
    expect(
      isAwsRefusal(new Error('it did not confirm the in-progress record before the invocation deadline')),
    ).toBe(false);
  });
});
