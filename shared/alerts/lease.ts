/**
 * How long a run's lease outlasts its invocation's deadline: room for clock skew between two
 * containers, so that no run takes the state while the one holding it may still be alive. The stack's
 * poller alarms count it too: a run that could not release its lease keeps the next runs skipping
 * until then.
 */
export const LEASE_MARGIN_MS = 60_000;

/** Lambda's longest invocation: no run holds the state longer, its margin aside. */
export const MAX_INVOCATION_MS = 15 * 60_000;

/**
 * How far ahead of a run's clock a lease another run set can be: its whole invocation and the margin,
 * and a margin more for the clocks' difference. One further ahead was set by no run, and is taken over.
 */
export const MAX_LEASE_AHEAD_MS = MAX_INVOCATION_MS + 2 * LEASE_MARGIN_MS;
