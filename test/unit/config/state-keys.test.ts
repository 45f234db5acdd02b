import { describe, expect, it } from 'vitest';
import { idempotencyKeyPrefix } from '../../../shared/config/state-keys.ts';

describe('State table keys', () => {
  it("keys a family's idempotency records under a prefix of its own", () => {
    // Act / Assess: the stack limits each function's table access to this prefix
    expect(idempotencyKeyPrefix('evidence')).toBe('action-request#evidence');
    expect(idempotencyKeyPrefix('connections')).not.toBe(idempotencyKeyPrefix('evidence'));
  });
});
