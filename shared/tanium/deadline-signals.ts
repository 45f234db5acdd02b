import { setMaxListeners } from 'node:events';

/** A signal that aborts (with a TimeoutError) at `deadline` (epoch ms), or within a millisecond when it has passed. */
export function signalAt(deadline: number): AbortSignal {
  // AbortSignal.timeout takes whole milliseconds only; a deadline computed as a share of a budget is not.
  return AbortSignal.timeout(Math.max(1, Math.ceil(deadline - Date.now())));
}

/** Deadlines kept at once: an invocation has one, so a handful covers overlapping invocations. */
const KEPT = 8;

/**
 * Abort signals that fire at a deadline, one per deadline. Every request of an invocation shares the
 * invocation's deadline, so they share one timer instead of each arming its own (a timer and an abort
 * listener per request are a measurable part of a fast request).
 */
export class DeadlineSignals {
  private readonly signals = new Map<number, AbortSignal>();

  /** A signal that aborts at `deadline` (epoch ms), or within a millisecond when it has passed. */
  at(deadline: number): AbortSignal {
    let signal = this.signals.get(deadline);
    if (signal) return signal;
    // Forgetting a signal does not disarm it: requests still holding it are bounded all the same.
    if (this.signals.size >= KEPT) this.signals.clear();
    signal = signalAt(deadline);
    // All of a batch's requests listen to it at once; that is by design, not a leak.
    setMaxListeners(0, signal);
    this.signals.set(deadline, signal);
    return signal;
  }
}
