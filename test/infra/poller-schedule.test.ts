import { describe, expect, it } from 'vitest';
import {
  failureAlarmWindow,
  lagAlarmPeriodMinutes,
  longestRunSeconds,
  stoppedAlarmMinutes,
} from '../../infra/poller-schedule.ts';
import { POLLER_DEFAULTS } from '../../shared/alerts/settings.ts';

/*
 * The poller's alarms against a simulated schedule: runs start on the scheduled times (a little late),
 * a run holds the lease until it ends (or its margin past the timeout when it could not release it), and
 * a run scheduled while the lease is held skips. CloudWatch's periods are aligned on multiples of the
 * period; an alarm sees a datapoint only once it is written.
 */

const INTERVALS = [1, 2, 3, 5, 7, 15, 30, 60];
const TIMEOUTS = [11, 60, 119, 120, 180, 600, 900];
/**
 * When the runs start within a period: on its start, just after it, halfway, just before the next; each
 * a little after its scheduled time (the scheduler, a cold start), by the same delay every time.
 */
function offsets(periodSeconds: number): number[] {
  return [0.2, 3.2, periodSeconds / 2, periodSeconds - 0.8];
}

interface Run {
  start: number;
  end: number;
}

/** The runs that take the lease, given how long each one holds it and when its function ends. */
function workingRuns(
  intervalSeconds: number,
  offset: number,
  count: number,
  run: (index: number, start: number) => { holds: number; lasts: number },
): Run[] {
  const runs: Run[] = [];
  let leaseFree = Number.NEGATIVE_INFINITY;
  for (let tick = 0; runs.length < count; tick++) {
    const start = offset + tick * intervalSeconds;
    if (start <= leaseFree) continue;
    const { holds, lasts } = run(runs.length, start);
    runs.push({ start, end: start + lasts });
    leaseFree = start + holds;
  }
  return runs;
}

describe('Poller failure alarm window', () => {
  /**
   * How a failing run can end, in seconds from its start: what it holds the lease for, and when its
   * function ends (when Lambda writes its Errors datapoint, stamped with its start).
   */
  const failures = (timeout: number) => ({
    'fails at once': { holds: 1, lasts: 1 },
    // A first Tanium read that never answers, cut at the end of the time for reading.
    'fails at its read deadline': {
      holds: 0.75 * (timeout - POLLER_DEFAULTS.reserveSeconds),
      lasts: 0.75 * (timeout - POLLER_DEFAULTS.reserveSeconds),
    },
    'fails at the end of its invocation': { holds: timeout - 0.5, lasts: timeout - 0.5 },
    'is killed at its timeout, leaving the lease': { holds: longestRunSeconds(timeout), lasts: timeout },
  });

  it.each(INTERVALS)(
    'alarms on every streak of threshold failing runs, whatever the timeout (rate(%i minutes))',
    (intervalMinutes) => {
      const missed: string[] = [];
      for (const timeout of TIMEOUTS) {
        for (const threshold of [1, 3, 5]) {
          const window = failureAlarmWindow(intervalMinutes, timeout, threshold);
          const period = window.periodMinutes * 60;
          for (const [how, failure] of Object.entries(failures(timeout))) {
            for (const offset of offsets(period)) {
              // Act: a streak of `threshold` failing runs, and the alarm's evaluations once a minute after it
              const runs = workingRuns(intervalMinutes * 60, offset, threshold, () => failure);
              const fired = evaluations(runs, window.evaluationPeriods * period).some((now) => {
                // Complete periods only: the current one may still take datapoints.
                const current = Math.floor(now / period) - 1;
                const breaching = new Set(
                  runs
                    .filter((run) => run.end <= now)
                    .map((run) => Math.floor(run.start / period))
                    .filter((p) => p > current - window.evaluationPeriods && p <= current),
                );
                return breaching.size >= window.datapointsToAlarm;
              });
              if (!fired) missed.push(`timeout ${timeout}, threshold ${threshold}, a run that ${how}`);
            }
          }
        }
      }

      // Assess
      expect(missed).toEqual([]);
    },
  );

  it('keeps the window of threshold + 2 runs when runs end well within an interval', () => {
    expect(failureAlarmWindow(15, 120, 3)).toEqual({
      periodMinutes: 15,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
  });
});

/**
 * Once a minute from the last datapoint written (with every datapoint of the streak needed, none comes
 * earlier) until the window has passed it.
 */
function evaluations(runs: Run[], windowSeconds: number): number[] {
  const written = Math.max(...runs.map((run) => run.end));
  const times: number[] = [];
  for (let now = Math.ceil(written / 60) * 60; now <= written + windowSeconds + 60; now += 60)
    times.push(now);
  return times;
}

describe('Poller lag alarm period', () => {
  it.each(INTERVALS)(
    "holds a lag datapoint in every period while runs report it, whatever the runs' lengths (rate(%i minutes))",
    (intervalMinutes) => {
      const empty: string[] = [];
      for (const timeout of TIMEOUTS) {
        const period = lagAlarmPeriodMinutes(intervalMinutes, timeout) * 60;
        for (const offset of offsets(intervalMinutes * 60)) {
          // Act: runs of a lagging poller, alternating short and whole-timeout ones; each writes its lag as it ends
          const lengths = [1, timeout - 0.5, timeout - POLLER_DEFAULTS.reserveSeconds, 5];
          const runs = workingRuns(intervalMinutes * 60, offset, 40, (index) => {
            const lasts = lengths[index % lengths.length]!;
            return { holds: lasts, lasts };
          });
          const written = new Set(runs.map((run) => Math.floor(run.end / period)));
          const first = Math.min(...written);
          const last = Math.max(...written);
          for (let p = first; p <= last; p++) {
            if (!written.has(p)) empty.push(`timeout ${timeout}, first run at ${offset} s: period ${p}`);
          }
        }
      }

      // Assess: an empty period would read as no lag, and the alarm would go back to OK
      expect(empty).toEqual([]);
    },
  );

  it('stays at 5 minutes for the default schedule and timeout, and covers an interval and a run beyond', () => {
    expect(lagAlarmPeriodMinutes(1, 120)).toBe(5);
    // 15 minutes, plus a run of up to 120 s and the lease's minute
    expect(lagAlarmPeriodMinutes(15, 120)).toBe(18);
  });
});

describe('Poller stopped alarm period', () => {
  it.each(INTERVALS)(
    'sees an invocation in every period of a healthy poller allowed one run at a time (rate(%i minutes))',
    (intervalMinutes) => {
      const empty: string[] = [];
      for (const timeout of TIMEOUTS) {
        const period = stoppedAlarmMinutes(intervalMinutes, timeout) * 60;
        for (const offset of offsets(intervalMinutes * 60)) {
          // Act: runs as long as the timeout allows; a scheduled invocation during one is throttled
          const runs = workingRuns(intervalMinutes * 60, offset, 40, () => ({
            holds: timeout - 0.5,
            lasts: timeout - 0.5,
          }));
          const invoked = new Set(runs.map((run) => Math.floor(run.start / period)));
          const first = Math.min(...invoked);
          const last = Math.max(...invoked);
          for (let p = first; p <= last; p++) {
            if (!invoked.has(p)) empty.push(`timeout ${timeout}, first run at ${offset} s: period ${p}`);
          }
        }
      }

      // Assess: an empty period would raise "The alert poller has not run" while it runs
      expect(empty).toEqual([]);
    },
  );

  it('stays at ten minutes for the default schedule and timeout', () => {
    expect(stoppedAlarmMinutes(1, 120)).toBe(10);
    expect(stoppedAlarmMinutes(5, 120)).toBe(15);
    // rate(1 minute) with runs of up to 15 minutes
    expect(stoppedAlarmMinutes(1, 900)).toBe(16);
  });
});
