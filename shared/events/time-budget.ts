import { setMaxListeners } from 'node:events';

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

/**
 * A signal aborted with `reason()` once `ms` have passed; `close` stops its timer when the invocation
 * ends sooner. The reason is built only when it fires: most invocations end long before, and an error
 * captures a stack.
 */
export function abortWindow(ms: number, reason: () => Error): { signal: AbortSignal; close(): void } {
  const controller = new AbortController();
  // Every record of a batch listens to it at once, twice per call in flight (unlessAborted and the SDK's
  // own handler): six results stored in the vault together passed Node's default of 10 and logged a
  // MaxListenersExceededWarning every such invocation. It lives for one invocation: nothing accumulates.
  setMaxListeners(0, controller.signal);
  const timer = setTimeout(() => controller.abort(reason()), Math.max(0, ms));
  // The timer must not keep a local run's process alive.
  timer.unref?.();
  return { signal: controller.signal, close: () => clearTimeout(timer) };
}
