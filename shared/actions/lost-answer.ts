import { TaniumError } from '../tanium/errors.ts';

/**
 * A DELETE that Tanium carried out while its answer was lost (a gateway error, a reset) is retried, and
 * the retry finds nothing: 404. What was asked is done, so the action succeeds and says so in its
 * summary instead of reporting a failure for a file or connection that is gone.
 *
 * A 404 on the first attempt, or on a redelivery (nothing then tells it from a mistyped id), still fails.
 */
export function goneAfterLostAnswer(error: unknown): boolean {
  return error instanceof TaniumError && error.kind === 'not_found' && error.afterLostAnswer;
}
