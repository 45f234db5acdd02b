/**
 * How long a run's lease outlasts its invocation's deadline: room for clock skew between two
 * containers, so that no run takes the state while the one holding it may still be alive. The stack's
 * poller alarms count it too: a run that could not release its lease keeps the next runs skipping
 * until then.
 */
export const LEASE_MARGIN_MS = 60_000;
