import type { RunReport } from '../../shared/alerts/types.ts';

/** Runs the poller again and again, as its schedule would, until it reports it is caught up (or fails after `max` runs). */
export async function runsUntilCaughtUp(run: () => Promise<RunReport>, max: number): Promise<RunReport[]> {
  const reports: RunReport[] = [];
  for (let i = 0; i < max; i++) {
    const report = await run();
    reports.push(report);
    if (report.status === 'caught_up') return reports;
  }
  throw new Error(`not caught up after ${max} runs`);
}
