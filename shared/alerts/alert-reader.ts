import { jsonOr } from '../config/json-or.ts';
import type { Alert } from '../tanium/alerts.ts';
import { causedByDeadline, toTaniumError } from '../tanium/errors.ts';
import { scalarOrUndefined, shownScalar } from './alert-event.ts';
import { alertKey } from './alert-order.ts';
import { type Page, pageTimes } from './alert-page.ts';
import type { CursorState } from './cursor-state.ts';
import type { RunContext } from './run-context.ts';
import { MIN_PAGE_SIZE } from './settings.ts';
import type { SourcePage } from './types.ts';

/** Clock skew between Tanium and Lambda taken as normal before an alert counts as from the future. */
export const FUTURE_TOLERANCE_MS = 60_000;

/**
 * Reads pages of the alert list within the run's request budget and time for reading, and takes from
 * them the alerts still to publish (RunContext.pending and undatedPending).
 */
export class AlertReader {
  /** Epoch ms (the clock's scale): no Tanium read starts after this, and none runs past it. */
  readUntil = Number.POSITIVE_INFINITY;
  /** Whether a Tanium read failed (not cut by the deadline): what is proven complete may still go out. */
  readFailed = false;
  /** Whether this run publishes nothing it reads: a first run with a window of 0, no run failed before. */
  publishesNone = false;
  /** Whether this run already read past a short answer to see if Tanium capped it (continuesPast). */
  private probed = false;
  /** filteredCount growth between recent consecutive reads: arrivals to expect before the next one. */
  private readonly growth: number[] = [];
  /** Alerts read whose createdAt is ahead of this function's clock by more than the tolerance. */
  readonly futureKeys = new Set<string>();
  /** createdAt of the newest of them. */
  newestSeen = Number.NEGATIVE_INFINITY;
  /** What the alerts without an id counted in this run hold (createdAt and details). */
  private readonly unidentified = new Set<string>();

  constructor(
    private readonly run: RunContext,
    private readonly cursor: CursorState,
  ) {}

  /** Whether another read may start; when not, the report says which limit stopped the run. */
  budgetLeft(): boolean {
    if (this.run.clock() >= this.readUntil) {
      this.run.report.stoppedBy = 'time_limit';
      return false;
    }
    if (this.run.report.taniumRequests >= this.run.settings.maxRequestsPerRun) {
      this.run.report.stoppedBy = 'request_limit';
      return false;
    }
    return true;
  }

  /**
   * A page, or undefined when the time for reading ran out during the request (the client had no time
   * left to send it, or it was still running at the read deadline, login included): the run then stops
   * as at its time limit, publishing what it read, instead of failing and leaving a large group where it
   * was. Not the head read: a run that read nothing has learnt nothing, and a Tanium that never answers
   * must fail its runs, or no alarm would tell.
   */
  async readInTime(offset: number, head: true): Promise<Page>;
  async readInTime(offset: number): Promise<Page | undefined>;
  async readInTime(offset: number, head = false): Promise<Page | undefined> {
    this.run.report.taniumRequests++;
    const limit = this.run.paging.size;
    let result: SourcePage;
    try {
      result = await this.run.deps.source.page(offset, limit, this.readUntil);
    } catch (error) {
      if (!head && causedByDeadline(error)) {
        this.run.report.stoppedBy = 'time_limit';
        this.run.deps.logger.warn("A Tanium read was cut at the end of the run's time for reading", {
          offset,
          error: toTaniumError(error).message,
        });
        return undefined;
      }
      this.readFailed = true;
      throw error;
    }
    const length = result.alerts.length;
    const { ts, dated } = pageTimes(result.alerts);
    let more = result.more === true;
    if (!more && (await this.continuesPast(result, offset, ts))) more = true;
    // Taken for the end of the list, a short page Tanium says is not the end would let the floor pass
    // every alert below it: it counts as full. Only the head read (before the walk has fixed its steps)
    // sets the page size for the run; deeper, a short page is as likely a count taken before a prune,
    // and at offset 0 later on, without counts, alerts that arrived before the check past its end.
    if (more && head && length >= MIN_PAGE_SIZE && length < limit) {
      this.run.deps.logger.warn(
        'Tanium answered fewer alerts than asked although more match: it caps the page size; reading on with the smaller pages',
        { limit, answered: length, offset, filteredCount: result.filteredCount, setting: 'POLLER_PAGE_SIZE' },
      );
      this.run.paging.use(length);
    }
    const page: Page = {
      offset,
      limit,
      alerts: result.alerts,
      ts,
      dated,
      filteredCount: result.filteredCount,
      full: length >= this.run.paging.size || more,
    };
    const previous = this.run.pages.at(-1);
    if (previous?.filteredCount !== undefined && page.filteredCount !== undefined) {
      this.noteGrowth(page.filteredCount - previous.filteredCount);
    }
    this.run.pages.push(page);
    if (this.run.pages.length > 8) this.run.pages.shift();
    this.addCandidates(page);
    return page;
  }

  /**
   * Without the matching count (none, or only `totalCount`, which cannot say where the matching alerts
   * end), a short answer is the end of the list only if Tanium honours `limit`: one that
   * caps it silently would let the floor pass every alert below the page. So once a run, a short answer
   * that does not already reach below the floor (nothing under it is still to publish) is checked by
   * reading on from its end; alerts there mean it was capped. Also on a first run that backfills a
   * window (one more request, once), not on one that publishes nothing it reads.
   */
  private async continuesPast(result: SourcePage, offset: number, ts: number[]): Promise<boolean> {
    const length = result.alerts.length;
    if ((result.filteredCount !== undefined && !result.totalOnly) || this.probed) return false;
    if (this.publishesNone) return false;
    if (length < MIN_PAGE_SIZE || length >= this.run.paging.size) return false;
    if ((ts[length - 1] ?? Number.NaN) < this.cursor.floor) return false;
    this.probed = true;
    // No request or time left to check: not taking it for the end is the side that cannot lose alerts.
    // The page then counts as full and cannot reach below F (that needed no check), so the run stops
    // at its next budget check, as budgetLeft records here.
    if (!this.budgetLeft()) return true;
    this.run.report.taniumRequests++;
    let next: SourcePage;
    try {
      next = await this.run.deps.source.page(offset + length, this.run.paging.size, this.readUntil);
    } catch (error) {
      // Out of time to check: as with no request left, the page is not taken for the end of the list.
      if (causedByDeadline(error)) return true;
      this.readFailed = true;
      throw error;
    }
    return next.alerts.length > 0;
  }

  addCandidates(page: Page): void {
    const future = this.run.now() + FUTURE_TOLERANCE_MS;
    page.alerts.forEach((alert, i) => {
      const key = alertKey(alert);
      // Without a time of its own an alert sits at its neighbours' (pageTimes), which says nothing about
      // where it stands against the floor: it is reported wherever it is read.
      const dated = page.dated[i]!;
      const ts = page.ts[i]!;
      if (dated && !(ts >= this.cursor.floor)) return;
      if (key === undefined) {
        this.reportUnidentified(alert);
        return;
      }
      // An alert whose createdAt turned readable or unreadable since it went out is still done.
      const published = this.cursor.isDone(key);
      if (!dated) {
        if (!published && !this.run.pending.has(key)) this.run.undatedPending.set(key, alert);
        return;
      }
      if (ts > future) {
        this.futureKeys.add(key);
        this.newestSeen = Math.max(this.newestSeen, ts);
      }
      if (published || this.run.pending.has(key) || this.run.undatedPending.has(key)) return;
      this.run.pending.set(key, { alert, key, ts });
    });
  }

  /** An alert without id or guid: nothing tells whether it went out already. Logged once per run. */
  private reportUnidentified(alert: Alert): void {
    // Pages overlap: counted once per run by what it holds (identical ones count once; the alarm
    // needs one).
    const seen = `${String(scalarOrUndefined(alert.createdAt))}:${jsonOr(alert.details ?? null, '(unwritable)')}`;
    if (this.unidentified.has(seen)) return;
    this.unidentified.add(seen);
    this.run.report.unidentifiedAlerts++;
    this.run.deps.logger.error('An alert without id or guid cannot be deduplicated; it is skipped', {
      createdAt: shownScalar(alert.createdAt),
    });
  }

  /**
   * Arrivals between two consecutive reads: from the counts, or without them from where an alert read
   * before stands now (walk-up.ts).
   */
  noteGrowth(perRead: number): void {
    this.growth.push(Math.max(0, perRead));
    if (this.growth.length > 4) this.growth.shift();
  }

  /** Arrivals to allow for before the next read: the largest recent growth, so gaps stay rare. */
  expectedGrowth(): number {
    return this.growth.length === 0
      ? 0
      : Math.min(Math.max(...this.growth), this.run.paging.size - 2 * this.run.paging.overlap);
  }
}
