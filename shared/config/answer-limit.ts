import { type Env, envInteger } from './environment.ts';

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
  /** What brings an answer under it, ending that message (default: ask for fewer rows). */
  advice?: string;
}

/** What a request can do about an answer over the limit, wherever it runs. */
export const FEWER_ROWS = 'Where the action takes a limit, ask for fewer rows';

/**
 * The largest answer one request reads in a function of `memoryMiB` (Lambda's
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE) whose queue hands it up to `batchSize` records at once. The same for
 * every request of the function, whatever its batch-mates: a too_large failure is final, so it must not
 * depend on how SQS happened to group a request. Without a memory size (the CLI, tests),
 * MAX_ANSWER_BYTES.
 */
export function answerLimit(memoryMiB: number | undefined, batchSize = 1): AnswerLimit {
  if (memoryMiB === undefined) return { bytes: MAX_ANSWER_BYTES };
  const share = Math.floor((memoryMiB * 1024 * 1024) / (MEMORY_PER_ANSWER_DIVISOR * batchSize));
  if (share >= MAX_ANSWER_BYTES) return { bytes: MAX_ANSWER_BYTES };
  const shared = batchSize === 1 ? '' : `, shared by the ${batchSize} records of a full batch`;
  const remedy = batchSize === 1 ? 'more memory' : 'more memory or a smaller batchSize';
  return {
    bytes: share,
    why: `a tenth of the function's ${memoryMiB} MiB of memory${shared}`,
    advice: `${FEWER_ROWS}, or give the function ${remedy}`,
  };
}

/** Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in its own range: the family settings read it with it too. */
export const LAMBDA_MEMORY_MIB = envInteger(128, 10_240);

/** Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE, or undefined outside Lambda (or when it is not a size). */
export function lambdaMemoryMiB(env: Env): number | undefined {
  const parsed = LAMBDA_MEMORY_MIB.safeParse(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE?.trim() || undefined);
  return parsed.success ? parsed.data : undefined;
}
