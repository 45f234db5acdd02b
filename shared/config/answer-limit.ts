/** The most of one Tanium answer the client reads whole (JSON or error text), whatever the memory. */
export const MAX_ANSWER_BYTES = 50 * 1024 * 1024;

/**
 * An answer read whole is held about five times over while its request runs: the body, the parsed value,
 * the result, the event and their serialisations. One answer may take a tenth of the function's memory
 * divided among the records that run at once, which leaves the rest to the runtime, so a batch of
 * requests with a huge `limit` fails each request by name instead of running the container out of
 * memory, which would lose the results of the whole batch.
 */
const MEMORY_PER_ANSWER_DIVISOR = 10;

export interface AnswerLimit {
  bytes: number;
  /** Why the limit is below MAX_ANSWER_BYTES (the memory share), for the message of an answer over it. */
  why?: string;
}

/**
 * The largest answer one request reads in a function of `memoryMiB` (Lambda's
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE) running `recordsAtOnce` records concurrently (the invocation's SQS
 * batch, else one). Without a memory size (the CLI, tests), MAX_ANSWER_BYTES.
 */
export function answerLimit(memoryMiB: number | undefined, recordsAtOnce = 1): AnswerLimit {
  if (memoryMiB === undefined) return { bytes: MAX_ANSWER_BYTES };
  const share = Math.floor((memoryMiB * 1024 * 1024) / (MEMORY_PER_ANSWER_DIVISOR * recordsAtOnce));
  if (share >= MAX_ANSWER_BYTES) return { bytes: MAX_ANSWER_BYTES };
  const batch = recordsAtOnce === 1 ? 'one record' : `a batch of ${recordsAtOnce} records`;
  return {
    bytes: share,
    why: `a tenth of the function's ${memoryMiB} MiB of memory, shared by ${batch}: give it more memory or a smaller batch size`,
  };
}
