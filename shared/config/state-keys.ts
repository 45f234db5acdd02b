/**
 * How items in the shared state table are keyed. The functions write these keys and the stack limits
 * each function's table access to its own prefix (`dynamodb:LeadingKeys`), so both read them here.
 */

/** Powertools idempotency records of the family functions: `action-request#<family>#<hash>`. */
export const IDEMPOTENCY_KEY_PREFIX = 'action-request';

/**
 * A family's own idempotency records: each function may touch only these, so a compromised function
 * (the evidence one parses hostile archives) cannot erase another family's records and make it run a
 * mutation twice.
 */
export function idempotencyKeyPrefix(family: string): string {
  return `${IDEMPOTENCY_KEY_PREFIX}#${family}`;
}

/** The alert poller's state: `poller#<name>`. */
export const POLLER_KEY_PREFIX = 'poller#';
