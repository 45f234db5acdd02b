/** Time kept back from the invocation's remaining time for publishing the result after the last call. */
export const PUBLISH_RESERVE_MS = 5_000;

/**
 * Publishing stops this long before the invocation ends: a publish still running when Lambda times out
 * loses the partial batch response, and SQS redelivers the whole batch, published results included.
 */
export const PUBLISH_MARGIN_MS = 1_000;

/**
 * The shortest family function timeout that leaves an action any time: the publishing reserve, and as
 * much again for the idempotency record and one Tanium call.
 */
export const MIN_FAMILY_TIMEOUT_SECONDS = (2 * PUBLISH_RESERVE_MS) / 1000;
