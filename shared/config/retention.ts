/**
 * How long the queues keep a request and its idempotency record: plain numbers, shared by the stack (which
 * sets the queues'), the idempotency store, and the messages that promise a replay.
 */

/** How long a family queue keeps a message (SQS's default). */
export const SOURCE_QUEUE_RETENTION_DAYS = 4;

/** How long a dead-letter queue keeps a message, counted from when it was first sent to its family queue. */
export const DEAD_LETTER_RETENTION_DAYS = 14;

/**
 * How long an idempotency record lives, in days: longer than any message that could still run its
 * request. A failed asynchronous invocation reaches the DLQ up to 6 hours after Lambda's retries begin,
 * the DLQ keeps it 14 days, and a redrive on its last day sends it to a family queue that keeps it up to 4
 * more before its first receive: 21 days leave a margin of more than two. A record is refreshed for as
 * long again at each replay, so a request that goes round the DLQ and back more than once still finds it.
 */
export const IDEMPOTENCY_RECORD_DAYS = DEAD_LETTER_RETENTION_DAYS + SOURCE_QUEUE_RETENTION_DAYS + 3;
