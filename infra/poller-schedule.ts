import { LEASE_MARGIN_MS } from '../shared/alerts/lease.ts';

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

/**
 * The longest one run keeps the next from working, in seconds: a run holds the lease until it ends, by
 * its function's timeout at the latest, or, when it could not release it (killed at the timeout, its
 * state calls cut), until the lease's margin past that. Runs scheduled meanwhile skip, and a skipped run
 * is an invocation, not an error, with no AlertLag either.
 */
export function longestRunSeconds(timeoutSeconds: number): number {
  return timeoutSeconds + LEASE_MARGIN_MS / 1000;
}

/**
 * Schedule intervals from one working run to the next, at the slowest: the first run scheduled after
 * the lease is free (a run starts a little after its scheduled time, so a lease ending exactly on the
 * next one still holds it then).
 */
export function intervalsPerRun(intervalMinutes: number, timeoutSeconds: number): number {
  return Math.floor(longestRunSeconds(timeoutSeconds) / (intervalMinutes * 60)) + 1;
}

/** CloudWatch's default period for the poller's own metrics, and the lag alarm's shortest. */
const LAG_MIN_PERIOD_MINUTES = 5;

/**
 * The lag alarm's period: AlertLag comes once per working run, as it ends, so at most an interval plus
 * a run's length apart (the next run starts on the first scheduled time after the last one ended, and
 * may run its whole length). Every period then holds one, so a poller still behind stays in alarm
 * without leaning on CloudWatch carrying an older datapoint over an empty period (it looks back over a
 * range of a length it does not document, then reads the missing data as no lag and goes OK). Whole
 * minutes, as CloudWatch needs above 60 s.
 */
export function lagAlarmPeriodMinutes(intervalMinutes: number, timeoutSeconds: number): number {
  const gapSeconds = intervalMinutes * 60 + longestRunSeconds(timeoutSeconds);
  return Math.max(LAG_MIN_PERIOD_MINUTES, Math.ceil(gapSeconds / 60));
}

/**
 * How much later a run's Invocations datapoint may be in CloudWatch than its run's end, at most, in
 * seconds: the scheduler and Lambda's event queue may start the run late, and Lambda's metrics take a
 * while to arrive. A stopped alarm that reads a late run as none would alarm on a healthy poller.
 */
const INVOCATION_LATENESS_SECONDS = 120;

/**
 * A stopped poller: the minutes without an invocation after which the stopped alarm fires (one-minute
 * periods, all of them empty). Three intervals, and never less than ten minutes; and never less than two
 * runs' whole length plus an interval and the lateness above. Lambda writes an invocation's datapoint as
 * it ends, stamped with its start; and with one concurrent run allowed (prod's reserved concurrency), the
 * scheduled invocations that come while a run is going are throttled and count as none. So a healthy
 * poller's last datapoint may be a run's length and an interval old when the next run starts, and that
 * run's own datapoint comes only a run's length later.
 */
export function stoppedAlarmMinutes(intervalMinutes: number, timeoutSeconds: number): number {
  const longestGapSeconds = intervalMinutes * 60 + 2 * timeoutSeconds + INVOCATION_LATENESS_SECONDS;
  return Math.max(10, 3 * intervalMinutes, Math.ceil(longestGapSeconds / 60));
}

/** Runs beyond the threshold among those counted: a run that succeeds in between still alarms. */
const FAILURE_WINDOW_SLACK_RUNS = 2;

/**
 * The longest window of a poller alarm (evaluation periods x period): CloudWatch's limit for periods
 * under an hour. Hourly periods may span a week, but a streak of failures a day long is not worth
 * waiting for: the stack keeps them to a day too.
 */
export const MAX_ALARM_WINDOW_MINUTES = 1440;

/**
 * The poller-failure alarm: CloudWatch alarms on the function's Errors (and Duration), one datapoint
 * per scheduled time (one-interval periods), combined by a composite alarm that fires on either of
 *
 * - `threshold` failed runs in the last `threshold + 2` periods (`runsEvaluationPeriods`): runs that fail
 *   and free the lease within their interval come one per period, so these are the last threshold + 2
 *   runs, and a poller whose runs fail now and then is judged over those alone;
 * - `threshold` failed runs in the last `slowEvaluationPeriods`, while one of them lasted
 *   `slowRunSeconds` or more. A run that fails at its read deadline, at the end of its invocation or
 *   killed at its timeout (the lease kept a minute more) makes the runs scheduled meanwhile skip
 *   (invocations, not errors), so a streak of such runs comes up to intervalsPerRun intervals apart and
 *   never fits the first window. This window holds a streak of `threshold` at that pace and one run
 *   more, from the first one's start (Lambda stamps a run's Errors with its start) to the moment the
 *   last one's datapoint is written, as it ends. Counting only alongside a slow failure keeps it from
 *   judging runs that fail quickly, an interval apart, over that longer window.
 *
 * Known gap: an outage whose runs first fail quickly, then slowly, can turn the alarm OK (notifying) for
 * up to a run's length, until the first slow run's datapoint is written: the quick failures have left
 * the first window, and the slow-run part has nothing yet.
 *
 * The simulation that checks all this judges each window's periods as they fall. CloudWatch judges the
 * most recent datapoints that exist, looking further back over periods that hold none (in prod, the
 * invocations throttled during a long run write nothing): it alarms on at least the failures simulated,
 * and may stay in alarm or go OK later.
 *
 * A window of exactly `threshold` runs would need every one of them to fail, and clock-aligned windows
 * would split a streak between two of them: hence the slack of two runs, and the write delay.
 */
export interface FailureAlarmWindows {
  /** The interval. */
  periodMinutes: number;
  /** The threshold: failed runs in either window. */
  datapointsToAlarm: number;
  /** threshold + 2. */
  runsEvaluationPeriods: number;
  /** The time a streak of slow failing runs and one run more take (slowStreakPeriods). */
  slowEvaluationPeriods: number;
  /** How long a run that failed slowly lasted, at least (slowRunSeconds). */
  slowRunSeconds: number;
}

export function failureAlarmWindows(
  intervalMinutes: number,
  timeoutSeconds: number,
  threshold: number,
): FailureAlarmWindows {
  return {
    periodMinutes: intervalMinutes,
    datapointsToAlarm: threshold,
    runsEvaluationPeriods: threshold + FAILURE_WINDOW_SLACK_RUNS,
    slowEvaluationPeriods: slowStreakPeriods(intervalMinutes, timeoutSeconds, threshold),
    slowRunSeconds: slowRunSeconds(intervalMinutes, timeoutSeconds),
  };
}

/**
 * Periods from a slow streak's first failed run to the datapoint of its `threshold`th, and one slow run
 * more: the runs' starts span (threshold - 1) x intervalsPerRun periods, the last one's datapoint comes
 * up to its timeout after its start, and only complete periods are evaluated. Without the extra run, a
 * window exactly one streak long would lose a failure off its end as the next one's datapoint arrives:
 * an outage of slow runs would turn the alarm OK and back on every run. The extra run also absorbs
 * Lambda's metrics coming up to a minute late (the simulation checks 0, 30 and 60 s).
 */
function slowStreakPeriods(intervalMinutes: number, timeoutSeconds: number, threshold: number): number {
  const writtenWithin = Math.ceil(timeoutSeconds / (intervalMinutes * 60));
  return threshold * intervalsPerRun(intervalMinutes, timeoutSeconds) + writtenWithin + 1;
}

/**
 * How long a failed run lasts (Lambda's Duration) when it may have kept the next scheduled run from
 * working: one released the lease as it ended, so it must have lasted about an interval; one killed at
 * its timeout kept it a minute more, so it lasted its timeout. Half the shorter of the two: runs start a
 * few seconds after their scheduled time, by varying delays, and a run taken for slow when it was not
 * only lets the longer window count.
 */
function slowRunSeconds(intervalMinutes: number, timeoutSeconds: number): number {
  return Math.min(intervalMinutes * 60, timeoutSeconds) / 2;
}

/** The largest failure threshold whose alarm windows CloudWatch accepts for this interval and timeout. */
export function maxFailureThreshold(intervalMinutes: number, timeoutSeconds: number): number {
  const periods = Math.floor(MAX_ALARM_WINDOW_MINUTES / intervalMinutes);
  const slowMost = Math.floor(
    (periods - slowStreakPeriods(intervalMinutes, timeoutSeconds, 0)) /
      intervalsPerRun(intervalMinutes, timeoutSeconds),
  );
  return Math.min(periods - FAILURE_WINDOW_SLACK_RUNS, slowMost);
}
