import type { Alert } from '../tanium/alerts.ts';
import type { Candidate } from './alert-order.ts';
import type { Page, Paging } from './alert-page.ts';
import type { PollerDeps, PollerSettings, RunReport } from './types.ts';

/**
 * What the parts of one poller run (poller.ts) share: its dependencies, settings, clocks and report, the
 * page size, the latest pages read, and the alerts read but not yet published. Each part keeps the rest
 * of its state to itself.
 */
export interface RunContext {
  readonly deps: PollerDeps;
  readonly settings: PollerSettings;
  /** Wall-clock time for alert ages (first-run window, lag). */
  readonly now: () => number;
  /** The time limits are checked against it. */
  readonly clock: () => number;
  readonly report: RunReport;
  readonly paging: Paging;
  /** The latest pages read, oldest first. */
  readonly pages: Page[];
  /** Alerts read at or above the floor and not yet published, by key. */
  readonly pending: Map<string, Candidate>;
  /** Alerts without a readable createdAt read in this run and not yet published, by key. */
  readonly undatedPending: Map<string, Alert>;
}
