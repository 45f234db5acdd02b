import { describe, expect, it } from 'vitest';
import {
  type FailureAlarmWindows,
  failureAlarmWindows,
  lagAlarmPeriodMinutes,
  longestRunSeconds,
  MAX_ALARM_WINDOW_MINUTES,
  maxFailureThreshold,
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

/** A run as CloudWatch sees it: its start stamps its datapoints, written only as it ends. */
interface SeenRun extends Run {
  failed: boolean;
}

/**
 * The composite failure alarm at an evaluation at `now` (failureAlarmWindows): its parts count the
 * complete periods before `now` (the current one may still take datapoints) that hold a failed run
 * whose datapoints are written; the slow-run part takes the longest invocation of each period.
 */
function failureAlarmFires(
  windows: FailureAlarmWindows,
  runs: SeenRun[],
  now: number,
  /** Seconds from a run's end until CloudWatch has its datapoints. */
  delay = 0,
): boolean {
  const period = windows.periodMinutes * 60;
  const current = Math.floor(now / period) - 1;
  const written = runs.filter((run) => run.end + delay <= now);
  const longest = new Map<number, number>();
  for (const run of written) {
    const p = Math.floor(run.start / period);
    longest.set(p, Math.max(longest.get(p) ?? 0, run.end - run.start));
  }
  const failing = (evaluationPeriods: number, slowOnly: boolean) =>
    new Set(
      written
        .filter((run) => run.failed)
        .map((run) => Math.floor(run.start / period))
        .filter((p) => p > current - evaluationPeriods && p <= current)
        .filter((p) => !slowOnly || (longest.get(p) ?? 0) >= windows.slowRunSeconds),
    ).size;
  const threshold = windows.datapointsToAlarm;
  return (
    failing(windows.runsEvaluationPeriods, false) >= threshold ||
    (failing(windows.slowEvaluationPeriods, false) >= threshold &&
      failing(windows.slowEvaluationPeriods, true) >= 1)
  );
}

describe('Poller failure alarm window', () => {
  /**
   * How a failing run can end, in seconds from its start: what it holds the lease for, and when its
   * function ends (when Lambda writes its Errors and Duration datapoints, stamped with its start).
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
  type Failure = ReturnType<typeof failures>[keyof ReturnType<typeof failures>];

  /** Metrics delays the alarm must take: none, and Lambda's datapoints up to a minute late. */
  const DELAYS = [0, 30, 60];

  /** Whether the alarm fires at some evaluation, once a minute, on a streak failing as `streak` says. */
  function firesOnStreak(
    intervalMinutes: number,
    timeout: number,
    threshold: number,
    offset: number,
    streak: (index: number) => Failure,
  ): boolean {
    const windows = failureAlarmWindows(intervalMinutes, timeout, threshold);
    const runs = workingRuns(intervalMinutes * 60, offset, threshold, streak).map((run) => ({
      ...run,
      failed: true,
    }));
    const longestWindow = Math.max(windows.runsEvaluationPeriods, windows.slowEvaluationPeriods);
    const span = longestWindow * windows.periodMinutes * 60 + Math.max(...DELAYS);
    return DELAYS.every((delay) =>
      evaluations(runs, span).some((now) => failureAlarmFires(windows, runs, now, delay)),
    );
  }

  it.each(INTERVALS)(
    'alarms on every streak of threshold failing runs, whatever the timeout (rate(%i minutes))',
    (intervalMinutes) => {
      const missed: string[] = [];
      for (const timeout of TIMEOUTS) {
        for (const threshold of [1, 3, 5]) {
          for (const [how, failure] of Object.entries(failures(timeout))) {
            for (const offset of offsets(intervalMinutes * 60)) {
              // Act: a streak of `threshold` failing runs, and the alarm's evaluations once a minute after it
              if (!firesOnStreak(intervalMinutes, timeout, threshold, offset, () => failure)) {
                missed.push(
                  `timeout ${timeout}, threshold ${threshold}, a run that ${how}, offset ${offset}`,
                );
              }
            }
          }
        }
      }

      // Assess
      expect(missed).toEqual([]);
    },
  );

  it.each(INTERVALS)(
    'stays in alarm while every run keeps failing, once it has fired (rate(%i minutes))',
    (intervalMinutes) => {
      const flaps: string[] = [];
      for (const timeout of TIMEOUTS) {
        const windows = failureAlarmWindows(intervalMinutes, timeout, 3);
        for (const [how, failure] of Object.entries(failures(timeout))) {
          for (const offset of offsets(intervalMinutes * 60)) {
            for (const delay of DELAYS) {
              // Act: an outage of 30 failing runs; the alarm evaluated once a minute until the last is written
              const runs = workingRuns(intervalMinutes * 60, offset, 30, () => failure).map((run) => ({
                ...run,
                failed: true,
              }));
              const last = Math.max(...runs.map((run) => run.end)) + delay;
              const states: boolean[] = [];
              for (let now = 60; now <= last; now += 60) {
                states.push(failureAlarmFires(windows, runs, now, delay));
              }
              const fired = states.indexOf(true);
              // Assess: from its first firing on, never OK again while the runs fail (an OK would notify)
              if (fired === -1 || states.slice(fired).includes(false)) {
                flaps.push(`timeout ${timeout}, a run that ${how}, offset ${offset}, delay ${delay}`);
              }
            }
          }
        }
      }
      expect(flaps).toEqual([]);
    },
  );

  it.each(INTERVALS)(
    'alarms on every streak of 3 failing runs that fail in different ways (rate(%i minutes))',
    (intervalMinutes) => {
      const missed: string[] = [];
      for (const timeout of TIMEOUTS) {
        const ways = Object.entries(failures(timeout));
        for (const first of ways) {
          for (const second of ways) {
            for (const third of ways) {
              const streak = [first, second, third];
              for (const offset of offsets(intervalMinutes * 60)) {
                // Act: e.g. a run killed at its timeout, then runs that fail at once
                if (!firesOnStreak(intervalMinutes, timeout, 3, offset, (index) => streak[index]![1])) {
                  missed.push(
                    `timeout ${timeout}, offset ${offset}: ${streak.map(([how]) => how).join('; ')}`,
                  );
                }
              }
            }
          }
        }
      }

      // Assess
      expect(missed).toEqual([]);
    },
  );

  /**
   * The chance that one evaluation finds the alarm firing, for a poller whose runs, every interval, each
   * fail at once with probability `p`, independently: every pattern of failed runs over the periods the
   * alarm reads, weighted by its probability (exact, no sampling).
   */
  function sporadicAlarmChance(
    intervalMinutes: number,
    timeout: number,
    threshold: number,
    p: number,
  ): number {
    const windows = failureAlarmWindows(intervalMinutes, timeout, threshold);
    const interval = intervalMinutes * 60;
    const periods = Math.max(windows.runsEvaluationPeriods, windows.slowEvaluationPeriods);
    const count = (periods * windows.periodMinutes) / intervalMinutes;
    // As the period of the last run closes: every period read holds its runs, their datapoints written.
    const now = count * interval;
    let chance = 0;
    for (let pattern = 0; pattern < 2 ** count; pattern++) {
      const runs: SeenRun[] = [];
      let failedRuns = 0;
      for (let index = 0; index < count; index++) {
        const failed = (pattern >> index) % 2 === 1;
        if (failed) failedRuns++;
        // A run that succeeds ends well within its interval too, shorter than slowRunSeconds.
        runs.push({ start: index * interval + 0.2, end: index * interval + (failed ? 1.2 : 20.2), failed });
      }
      if (failureAlarmFires(windows, runs, now)) {
        chance += p ** failedRuns * (1 - p) ** (count - failedRuns);
      }
    }
    return chance;
  }

  /** The chance of at least `least` failures among `runs` runs failing independently with probability `p`. */
  function atLeast(least: number, runs: number, p: number): number {
    let chance = 0;
    for (let k = least; k <= runs; k++) {
      let ways = 1;
      for (let i = 0; i < k; i++) ways = (ways * (runs - i)) / (i + 1);
      chance += ways * p ** k * (1 - p) ** (runs - k);
    }
    return chance;
  }

  it.each([
    { schedule: 'rate(1 minute), 120 s (the defaults)', intervalMinutes: 1, timeout: 120 },
    { schedule: 'rate(1 minute), 180 s', intervalMinutes: 1, timeout: 180 },
    { schedule: 'rate(15 minutes), 120 s', intervalMinutes: 15, timeout: 120 },
  ])(
    'judges runs that fail now and then over threshold + 2 runs, not the longer window ($schedule)',
    ({ intervalMinutes, timeout }) => {
      // Act: one run in 20 fails, at once, and the next run comes on time
      const chance = sporadicAlarmChance(intervalMinutes, timeout, 3, 0.05);

      // Assess: 3 of the last 5 runs, about 0.12 %, below 1 %. Counted over the longer window alone (15
      // periods at the defaults) it would be 3.6 %; over threshold + 2 runs at the slow pace (20), 7.5 %.
      // No run here lasts slowRunSeconds, so the longer window never counts: runs that fail slowly now
      // and then are judged over it (README)
      expect(chance).toBeCloseTo(atLeast(3, 5, 0.05), 12);
      expect(chance).toBeLessThan(0.01);
    },
  );

  it.each(INTERVALS)(
    'allows the thresholds whose windows CloudWatch can evaluate, within a day (rate(%i minutes))',
    (intervalMinutes) => {
      const days = (threshold: number, timeout: number) => {
        const windows = failureAlarmWindows(intervalMinutes, timeout, threshold);
        const periods = Math.max(windows.runsEvaluationPeriods, windows.slowEvaluationPeriods);
        return (periods * windows.periodMinutes) / MAX_ALARM_WINDOW_MINUTES;
      };
      for (const timeout of TIMEOUTS) {
        const most = maxFailureThreshold(intervalMinutes, timeout);
        expect(most).toBeGreaterThanOrEqual(1);
        expect(days(most, timeout)).toBeLessThanOrEqual(1);
        expect(days(most + 1, timeout)).toBeGreaterThan(1);
      }
    },
  );

  it('keeps the window of threshold + 2 runs when runs end well within an interval', () => {
    expect(failureAlarmWindows(15, 120, 3)).toEqual({
      periodMinutes: 15,
      datapointsToAlarm: 3,
      runsEvaluationPeriods: 5,
      // Three runs and one more, a failing run's datapoint within the next period
      slowEvaluationPeriods: 5,
      slowRunSeconds: 60,
    });
  });

  it('waits for a streak of slow failures at the defaults, and at rate(1 minute) with a 900 s timeout', () => {
    // 3 runs killed at 120 s 4 minutes apart and one more, the last one's datapoint 2 minutes after its start
    expect(failureAlarmWindows(1, 120, 3)).toMatchObject({
      runsEvaluationPeriods: 5,
      slowEvaluationPeriods: 15,
      slowRunSeconds: 30,
    });
    // 17 minutes apart, the last one's datapoint 15 minutes after its start
    expect(failureAlarmWindows(1, 900, 3)).toMatchObject({
      runsEvaluationPeriods: 5,
      slowEvaluationPeriods: 67,
      slowRunSeconds: 30,
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

/** The aligned periods of `period` seconds, between the first and the last stamp, that hold none. */
function periodsWithout(stamps: number[], period: number): number[] {
  const held = new Set(stamps.map((stamp) => Math.floor(stamp / period)));
  const missing: number[] = [];
  for (let p = Math.min(...held); p <= Math.max(...held); p++) if (!held.has(p)) missing.push(p);
  return missing;
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
          for (const p of periodsWithout(
            runs.map((run) => run.end),
            period,
          )) {
            empty.push(`timeout ${timeout}, first run at ${offset} s: period ${p}`);
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

/**
 * The stopped alarm at an evaluation at minute `now`: it alarms when none of the last `minutes` one-minute
 * periods holds an invocation CloudWatch has by then (its start stamps it, and its datapoint arrives as
 * it ends, or later); the empty minutes are filled with 0, so each counts.
 */
function stoppedAt(
  now: number,
  minutes: number,
  invocations: Array<{ start: number; seen: number }>,
): boolean {
  return !invocations.some(
    (invocation) =>
      invocation.seen <= now * 60 &&
      Math.floor(invocation.start / 60) >= now - minutes &&
      Math.floor(invocation.start / 60) < now,
  );
}

/** Lambda's Invocations datapoints, after their run's end, up to two minutes late, varying by run. */
const LATENESS = [0, 120, 30, 120, 60, 0, 120];

describe('Poller stopped alarm', () => {
  it.each(INTERVALS)(
    'never alarms on a healthy poller allowed one run at a time, its datapoints written as runs end, up to two minutes late (rate(%i minutes))',
    (intervalMinutes) => {
      const raised: string[] = [];
      // Also timeouts just past a whole number of intervals: the throttled gap is then longest, the
      // first invocation counted coming almost an interval after the run's end.
      const pastAnInterval = [1, 2].map((k) => k * intervalMinutes * 60 + 1).filter((t) => t <= 900);
      for (const timeout of [...TIMEOUTS, ...pastAnInterval]) {
        const minutes = stoppedAlarmMinutes(intervalMinutes, timeout);
        for (const offset of offsets(intervalMinutes * 60)) {
          // Act: runs as long as the timeout allows; a scheduled invocation during one is throttled
          const runs = workingRuns(intervalMinutes * 60, offset, 40, () => ({
            holds: timeout - 0.5,
            lasts: timeout - 0.5,
          }));
          const invocations = runs.map((run, index) => ({
            start: run.start,
            seen: run.end + LATENESS[index % LATENESS.length]!,
          }));
          const first = Math.floor(runs[0]!.start / 60) + minutes;
          const last = Math.floor(runs.at(-1)!.start / 60);
          for (let now = first; now <= last; now++) {
            if (stoppedAt(now, minutes, invocations)) {
              raised.push(`timeout ${timeout}, first run at ${offset} s: minute ${now}`);
            }
          }
        }
      }

      // Assess: "The alert poller has not run" while it runs
      expect(raised).toEqual([]);
    },
  );

  it('stays at ten minutes for the default schedule and timeout', () => {
    expect(stoppedAlarmMinutes(1, 120)).toBe(10);
    expect(stoppedAlarmMinutes(5, 120)).toBe(15);
    // rate(1 minute) with runs of up to 15 minutes: one whose datapoint is 16 minutes old when the next
    // starts, its own written 15 minutes later, and two minutes for a late datapoint
    expect(stoppedAlarmMinutes(1, 900)).toBe(33);
  });
});
