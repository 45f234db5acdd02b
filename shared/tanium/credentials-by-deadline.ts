import { unlessAborted } from '../config/unless-aborted.ts';
import { signalAt } from './deadline-signals.ts';
import { DeadlineError, toTaniumError } from './errors.ts';

/**
 * What needs the Tanium credentials (the client, the poller's alert source), or a retryable failure once
 * `deadline` passes while they are still being read (Secrets Manager unreachable, the SDK retrying for
 * longer than the function's timeout): the caller then fails in time with a clear reason, instead of the
 * invocation timing out.
 */
export async function credentialsByDeadline<T>(
  pending: Promise<T>,
  deadline: number,
  logger: { warn(message: string, extra?: Record<string, unknown>): void },
): Promise<T> {
  const signal = signalAt(deadline);
  try {
    return await unlessAborted(pending, signal);
  } catch (error) {
    if (!signal.aborted) throw error;
    // Why the read was slow (no route to Secrets Manager, access denied after the SDK's retries) shows
    // only once it ends: logged then, as nothing waits for it any more.
    pending.catch((late: unknown) => {
      logger.warn('The credentials read failed after the invocation had stopped waiting for it', {
        error: toTaniumError(late).message,
      });
    });
    throw new DeadlineError(
      'transient',
      "The Tanium credentials could not be read before the invocation's deadline",
      { retryable: true },
    );
  }
}
