/**
 * The poller's schedule as minutes between runs. Only rate expressions are taken: the poller's alarms
 * (stopped, repeated failures) are sized from the interval, which a cron expression does not give.
 */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours)\)$/;

/** Longest interval between polls: beyond it the alert lag alone says more than the alarms can. */
export const MAX_POLL_INTERVAL_MINUTES = 60;

/** The interval of `expression` in minutes, or a message saying what is wrong with it. */
export function pollIntervalMinutes(expression: string): number | string {
  const match = RATE.exec(expression.trim());
  if (!match) {
    return `poller.schedule must be a rate expression such as 'rate(1 minute)' or 'rate(5 minutes)' (got '${expression}'): the poller alarms are sized from its interval`;
  }
  const value = Number(match[1]);
  const unit = match[2]!;
  // EventBridge Scheduler refuses 'rate(1 minutes)' and 'rate(5 minute)' at deploy time.
  if (value === 0 || (value === 1) !== !unit.endsWith('s')) {
    return `poller.schedule '${expression}' is not valid: write 'rate(1 minute)' or 'rate(<n> minutes)' with n > 1 (hours likewise)`;
  }
  const minutes = unit.startsWith('hour') ? value * 60 : value;
  if (minutes > MAX_POLL_INTERVAL_MINUTES) {
    return `poller.schedule must run the poller at least every ${MAX_POLL_INTERVAL_MINUTES} minutes (got '${expression}')`;
  }
  return minutes;
}

/** A stopped poller: no run in three intervals, and never less than ten minutes. */
export function stoppedAlarmMinutes(intervalMinutes: number): number {
  return Math.max(10, 3 * intervalMinutes);
}

/** Repeated failures: `threshold` failed runs within as many intervals, and never less than five minutes. */
export function failureAlarmMinutes(intervalMinutes: number, threshold: number): number {
  return Math.max(5, threshold * intervalMinutes);
}
