/**
 * How items in the shared state table are keyed. The functions write these keys and the stack limits
 * each function's table access to its own prefix (`dynamodb:LeadingKeys`), so both read them here.
 */

/** Powertools idempotency records of the family functions: `action-request#<hash>`. */
export const IDEMPOTENCY_KEY_PREFIX = 'action-request';

/** The alert poller's state: `poller#<name>`. */
export const POLLER_KEY_PREFIX = 'poller#';
