import { describe, expect, it } from 'vitest';
import { backoffMs, isIdempotent, retryAfterMs } from '../../../shared/tanium/retry-policy.ts';

describe('Retry policy', () => {
  it('waits with full jitter capped at 4 s', () => {
    expect(backoffMs(1, () => 0.999)).toBe(249);
    expect(backoffMs(2, () => 0.5)).toBe(250);
    expect(backoffMs(10, () => 0.999)).toBe(3996);
    expect(backoffMs(3, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it('treats only GET and DELETE as safe to repeat', () => {
    expect(isIdempotent('GET')).toBe(true);
    expect(isIdempotent('DELETE')).toBe(true);
    expect(isIdempotent('POST')).toBe(false);
    expect(isIdempotent('PUT')).toBe(false);
  });
});
