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
  // The stack hands the schedule to EventBridge Scheduler exactly as written.
  if (expression !== expression.trim()) {
    return `poller.schedule '${expression}' has white space around it: write '${expression.trim()}'`;
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

/** Runs beyond the threshold in the failure alarm's window: a run that succeeds in between still alarms. */
const FAILURE_WINDOW_SLACK_RUNS = 2;

/** CloudWatch evaluates an alarm over at most a day (evaluation periods x period). */
export const MAX_ALARM_WINDOW_MINUTES = 1440;

/**
 * Repeated failures: `threshold` of the last `threshold + 2` runs failed, one datapoint per run (a
 * window of exactly `threshold` runs would need every one of them to fail, and clock-aligned windows
 * would split a streak of failures between two of them).
 */
export function failureAlarmWindow(
  intervalMinutes: number,
  threshold: number,
): { periodMinutes: number; evaluationPeriods: number; datapointsToAlarm: number } {
  return {
    periodMinutes: intervalMinutes,
    evaluationPeriods: threshold + FAILURE_WINDOW_SLACK_RUNS,
    datapointsToAlarm: threshold,
  };
}

/** The largest failure threshold whose alarm window CloudWatch accepts for this interval. */
export function maxFailureThreshold(intervalMinutes: number): number {
  return Math.floor(MAX_ALARM_WINDOW_MINUTES / intervalMinutes) - FAILURE_WINDOW_SLACK_RUNS;
}
