import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { unlessAborted } from '../config/unless-aborted.ts';
import { s3ErrorDetails } from './errors.ts';

/**
 * How long a cleanup after a failure (aborting an upload, deleting `incoming/`) may hold the failed
 * result: it often runs at the invocation deadline, when S3 is slow, and the bucket's lifecycle rule
 * removes what it leaves.
 */
export const CLEANUP_WAIT_MS = 1_000;

/**
 * All the cleanup calls of one store after its deadline, one after another, end within this: each may
 * wait CLEANUP_WAIT_MS, and three in a row (in-flight parts, the multipart abort, the incoming delete)
 * used up the publishing reserve the action and its idempotency record also need (time-budget.ts).
 */
export const CLEANUP_AFTER_DEADLINE_MS = 1_500;

/** How long the next cleanup call may wait now (0 or less: no time left for it). */
export type CleanupBudget = () => number;

export const EACH_CALL: CleanupBudget = () => CLEANUP_WAIT_MS;

export function cleanupBudget(deadline: number | undefined): CleanupBudget {
  if (deadline === undefined) return EACH_CALL;
  const end = deadline + CLEANUP_AFTER_DEADLINE_MS;
  return () => Math.min(CLEANUP_WAIT_MS, end - Date.now());
}

/**
 * Runs a cleanup call for at most `ms` (none when that is 0 or less); a failed or abandoned one is left to the bucket's
 * lifecycle rules. Resolves with why it did not complete (for a caller that logs it), or undefined. The
 * race, not only the abort signal, is what bounds it: a signal reaches the HTTP request, not whatever the
 * call is waiting on first.
 */
export async function bestEffort(
  send: (abortSignal: AbortSignal) => Promise<unknown>,
  ms: number = CLEANUP_WAIT_MS,
): Promise<string | undefined> {
  if (ms <= 0) return 'no time left for cleanup';
  const giveUp = new AbortController();
  const timer = setTimeout(() => giveUp.abort(), ms);
  try {
    await unlessAborted(send(giveUp.signal), giveUp.signal);
    return undefined;
  } catch (error) {
    return giveUp.signal.aborted ? `no answer within ${ms} ms` : s3ErrorDetails(error);
  } finally {
    clearTimeout(timer);
  }
}

/** Best effort: a failure leaves the parts to the bucket's lifecycle rule for incomplete uploads. */
export async function abortUpload(
  s3: S3Client,
  bucket: string,
  key: string,
  uploadId: string | undefined,
  budget: CleanupBudget = EACH_CALL,
): Promise<void> {
  if (!uploadId) return;
  await bestEffort(
    (abortSignal) =>
      s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
        abortSignal,
      }),
    budget(),
  );
}
