/**
 * The alert poller's core: which alerts to read, in which order to publish them, when to move the cursor.
 * This module runs the steps below; the state is cursor-state.ts's, reading alert-reader.ts's, step 3
 * floor-search.ts's, step 4 walk-up.ts's and step 5 batch-publisher.ts's.
 *
 * WHAT THE API GIVES US (tanium-api.md 4.8). Only `sort=-createdAt` (newest first) with `limit`/`offset`
 * paging, plus `meta.filteredCount`. No ascending sort, no id order, no time filter. Between two requests
 * new alerts are inserted at offset 0 (every later alert moves to a higher offset), Tanium prunes the
 * OLDEST alerts (the highest offsets; lower offsets do not move), an alert that stops matching the
 * filters (a state change) leaves the list wherever it stands (every later alert moves up), alerts
 * sharing a `createdAt` come in an unspecified order, and ids say nothing about time.
 *
 * WHY REASON IN TIME, NOT OFFSETS. Offsets move under us, and a page boundary inside a group of equal
 * `createdAt` can drop or repeat members. What a page proves is a time range: a page whose first item is
 * at t1 and last at t2 holds EVERY alert with t2 < createdAt < t1 that existed when it was read (the list
 * is sorted); the groups at t1 and t2 may be partial. A page at offset 0 also holds everything above t2,
 * and a short page (fewer than `limit`) everything below t1, unless Tanium caps `limit`: with
 * `meta.filteredCount` that shows; without any count, once a run a short page that does not reach below
 * F is checked by reading on from its end (not on a first run with a window of 0). Either way a cap found at the head
 * read becomes the run's page size, with a warning.
 *
 * STATE (Checkpoint, one DynamoDB item per poller, saved with conditional writes):
 *   floor F       every alert with createdAt < F is done (published, or older than the first run);
 *   recent R      the ids of every published alert with createdAt >= F (grouped by millisecond);
 *   olderCount    a hint: how many filtered alerts were older than F, to find F's offset in one request
 *                 (olderBounds: what an unfinished search learnt, so a tiny budget still converges;
 *                 without counts, belowAtLeast: how deep F's offset was found to be at least, by
 *                 an unfinished search or, once a run raised F, by the last page that showed it);
 *   group G       only while a run left a single-millisecond group larger than a page unfinished (step
 *                 6): its millisecond g >= F, how many of its members are done counted from its end
 *                 deepest in the list (`passed`), and the ids of the last of them (the edge, M ids).
 * So "published" = {createdAt < F} ∪ R ∪ (the `passed` deepest members of g), and an alert is NEW iff
 * createdAt >= F, its id is not in R, and it is not one of those members. Which members those are is
 * known by position only, so G relies on Tanium keeping the group's order, as such a group already does.
 * The first run sets F to now − the first-run window; with a window of 0, to W below the newest alert
 * (its ids in R), but never lower than now − W − 1 h, even on an empty list: an alert older than that
 * existed at the first run, whenever it appears or starts matching the filters (the hour is what a
 * Tanium clock behind this function's may lag by without losing the first new alerts). "now" is when the
 * first run that took the lease started: a first run after failed ones (the item's `unsavedSince`) reads
 * back from there, with a window of 0 down to that time − W − 1 h, publishing what it finds.
 * Near the top of the list F trails the newest published createdAt by the overlap window W (bounded to
 * about one page of alerts, so the steady state stays one request), so an alert that becomes visible a
 * little late (commit delay), or shares the cursor's millisecond, is still found and published once. Deep in a backlog F follows the cursor itself: anything older than (newest alert
 * at this run's head read − W) was visible before the walk read it, and re-reading a window of old,
 * already published alerts on every run would only cost requests.
 *
 * ONE RUN
 *  1. Lease: a conditional write makes this run the only one (expires after the Lambda's hard deadline,
 *     so a crashed run cannot block the next one for long and a live one cannot be overtaken).
 *  2. Head: read offset 0. If it reaches below F (or is the whole list), everything new is in it: the
 *     steady state costs exactly one request.
 *  3. Locate (backlog): find a page that straddles F (last item < F, first >= F). The first probe comes
 *     from filteredCount − olderCount; otherwise a binary search over offsets, bounds kept in "index of
 *     the first alert below F" and widened by filteredCount growth (arrivals) between probes. Without
 *     counts the search doubles its offset from belowAtLeast (arrivals only push F deeper), reading the
 *     page just below that bound first, so each run gets further than the last, and a run after one
 *     that raised F starts where that one left it.
 *  4. Walk up toward offset 0 with pages that overlap by M items. `coveredTop` is the time below which
 *     everything from F up was read. A new page is accepted only if it CONNECTS to what was read:
 *     its last item is older than coveredTop (the whole coveredTop group lies inside it), or it is short
 *     (end of list). If arrivals pushed it too high (a gap), it is re-read deeper, shifted by the growth
 *     of filteredCount, or when that says nothing new by M, 2M, 4M, ... (up to P − M) in turn, halfway to
 *     an offset read past the list's end when that would reach it. Without counts, the growth a read is
 *     measured by how far top's first alert moved down by the time a page connects. A page wholly below coveredTop (alerts above it left the list) sends the walk on up
 *     from that page. If its bottom falls inside the coveredTop group, it is re-read so that the group
 *     sits inside the page; only a group bigger than a page is accepted on
 *     shared ids (that alone relies on Tanium keeping one order between two requests). The members of
 *     the coveredTop millisecond get positions, counted from its deepest member (a page holding it ends
 *     with an older alert) and carried over by the shared ids. Inside g, a page connects through any
 *     member whose position is known (the edge included), and from below the edge the walk jumps to a
 *     page holding the edge near its bottom, instead of reading the done members again; a jump that
 *     misses the edge (arrivals, removals) walks on from where it was.
 *  5. Publish, oldest first: NEW alerts with createdAt < coveredTop (∞ once offset 0 connects), sorted by
 *     (createdAt, id), in PutEvents batches (10 entries, within 256 KB). After EACH batch, with c its
 *     newest createdAt: R += batch, F = max(F, c − W, min(c, headTop − W)) but never above now − W (an
 *     alert stamped ahead of the real time must not hide the next ones), R pruned below F, and the
 *     checkpoint saved.
 *     Correct because every alert below c was read and is published (ascending order), and ties at c are
 *     still in R. A crash between PutEvents and the save re-publishes that one batch, nothing more; so
 *     does a PutEvents call cut at the run's publish limit (its entries count as not taken, and the run
 *     fails), which leaves the rest of the run's time for saving what the bus confirmed. A state call
 *     still running just before the run's end is cut too: a cut save fails the run rather than leave it
 *     to the Lambda timeout, where it would be neither logged nor counted.
 *     When PutEvents takes only part of a batch and the rest still fails after the publisher's retries,
 *     the entries taken go into R, c is the newest of those below the first entry not taken, the
 *     checkpoint is saved, and the run fails: the next run sends only what was not taken.
 *     An entry EventBridge refuses for its content goes again reduced to the identifying fields; one
 *     refused even so is dropped, logged and counted, but still done: it must not block every later one.
 *     Only once the bus has taken some entry in the run, though: refusing everything points at the bus.
 *     To find out, a batch refused whole is held (not eligible, and F does not pass it) while the next
 *     batches go, up to MAX_HELD_BATCHES; the first entry the bus takes drops the held alerts before its
 *     own batch moves F. If none is taken, the run fails with nothing dropped.
 *     Inside g the members above the edge go out as soon as their position is known (coveredTop = g is
 *     enough), in list order; each batch moves `passed` past them instead of adding them to R. Once a
 *     newer alert is published, g is done: F = g + 1 and G is gone (as R's own trim would drop it).
 *     One stamped ahead does not count: the walk reaches it at the head of the list before all of g,
 *     or of R's newest millisecond at or before the clock, is read, so neither is passed for it
 *     (raiseFloor's newestInTime). So
 *     it is once the walk has risen above g with all of it out, or a next millisecond larger than a page
 *     that a run ends inside could get no G and every later run would repeat that run.
 *  6. Stop before the request budget or the time for reading runs out (three quarters of the run's
 *     time: the last quarter is for publishing; a read the client cuts at that point counts as running
 *     out, not as a Tanium error); what is published is saved; the next run continues from F. A Tanium
 *     error mid-walk publishes what is already proven complete, then fails.
 *     Progress must outlive the run, or a run that cannot get further than the last one repeats it for
 *     ever: if the walk stopped inside a group larger than a page, that group gets G and its members
 *     read so far go out, as many as the time left allows; if it walked
 *     past alerts all published before (no batch moved F) and holds no refused batch, F moves as if the
 *     newest alert below coveredTop had just been published, and the checkpoint is saved.
 *  7. An alert without a readable createdAt takes its neighbours' time for the walk's positions, but is
 *     never a candidate: a borrowed time moves as the list does. At a page's edge it can only borrow
 *     from inside the page, so the floor search judges a page by its dated alerts alone (a full page of
 *     none is the block that sorts first, NULLs, above the floor; undated alerts right below alerts
 *     proven above the floor start a page above it too), a page re-read to hold a group whole also
 *     holds the undated alerts right above it (else the one leading the page would take the group's
 *     time, and the walk would step between two pages for ever), and a run of at least a page less one
 *     of them inside the list, which no page can hold with dated alerts on both sides, connects by the
 *     undated ids two pages share. It goes out before the next batch (which may move F past where it
 *     was read) and is remembered by id (U, the last UNDATED_MEMORY), never moving F; an id in R or U
 *     is done whether its createdAt reads now or not. Refused whole while the bus has taken nothing, it
 *     is held like a dated batch (step 5) and dropped, logged, before the first batch taken moves F.
 *
 * WHAT CANNOT BE GUARANTEED: alerts Tanium prunes before they are read, alerts that become visible (or
 * start matching a filter) more than W below the newest published createdAt (reopened ones below F
 * among them), the members of a single-millisecond group of a page less one or more (undated alerts
 * listed right above it count as members: they take its time) if Tanium reorders them between requests
 * (no page holds such a group between two neighbours, so walk-up takes it on shared ids), the alerts
 * next to a run of undated alerts longer than a page less one if Tanium moves them within it between requests, or, for such a
 * group that one run cannot finish, if members join it below its edge or leave it between runs; and, on
 * the first run, alerts past a short answer of a Tanium that sends no count and caps `limit`.
 */

import { unlessAborted } from '../config/unless-aborted.ts';
import type { Alert } from '../tanium/alerts.ts';
import { type TaniumError, toTaniumError } from '../tanium/errors.ts';
import { alertKey, type Candidate, storedId } from './alert-order.ts';
import { first, last, type Page, Paging } from './alert-page.ts';
import { AlertReader, FUTURE_TOLERANCE_MS } from './alert-reader.ts';
import { BatchPublisher } from './batch-publisher.ts';
import { CursorState } from './cursor-state.ts';
import { LeaseLostError } from './errors.ts';
import { classify, locate } from './floor-search.ts';
import type { RunContext } from './run-context.ts';
import type { PollerDeps, PollerSettings, RunReport, StateStore } from './types.ts';
import { WalkUp } from './walk-up.ts';

export type { PollerDeps } from './types.ts';

const HOUR_MS = 3_600_000;
/** How far behind this function's clock Tanium's may be at a first run with a window of 0. */
const FIRST_RUN_CLOCK_ALLOWANCE_MS = 3_600_000;
/**
 * The share of a run's time for reading Tanium; the rest is kept for publishing what was read. Inside a
 * group larger than a page, members go out only once the walk stops: a run that read until its very end
 * would publish none of them, and every later run would read the same pages again.
 */
const READ_SHARE = 0.75;

/** A run's report before it has done anything. */
export function emptyRunReport(): RunReport {
  return {
    status: 'partial',
    published: 0,
    taniumRequests: 0,
    intelRequests: 0,
    putEventsCalls: 0,
    batches: 0,
    unparseableDetails: 0,
    reducedAlerts: 0,
    refusedAlerts: 0,
    unidentifiedAlerts: 0,
    undatedAlerts: 0,
  };
}

/**
 * The newest alert of a head read that this function's clock can vouch for (CursorState.headTop): one
 * stamped ahead, even within the skew taken as normal, would close the window W below the newest
 * published alert (floorAfter); one lower only keeps more of it open. A head page
 * with no readable time first (undated alerts sort first), or only ahead, hides it: -Infinity keeps the
 * whole window open.
 */
function visibleTop(head: Page, now: number): number {
  if (Number.isNaN(first(head))) return Number.NEGATIVE_INFINITY;
  for (const ts of head.ts) if (!Number.isNaN(ts) && ts <= now) return ts;
  return Number.NEGATIVE_INFINITY;
}

/** Runs the poller once. Never throws for Tanium or publishing failures: they are in the report. */
export async function runPoller(deps: PollerDeps, settings: PollerSettings): Promise<RunReport> {
  return new PollerRun(deps, settings).run();
}

class PollerRun {
  private readonly now: () => number;
  private readonly clock: () => number;
  private readonly report: RunReport = emptyRunReport();
  /** Alerts read at or above the floor and not yet published, by key. */
  private readonly pending = new Map<string, Candidate>();
  /** Alerts without a readable createdAt read in this run and not yet published, by key. */
  private readonly undatedPending = new Map<string, Alert>();
  private readonly context: RunContext;
  private readonly cursor: CursorState;
  private readonly reader: AlertReader;
  private readonly publisher: BatchPublisher;
  private readonly walk: WalkUp;
  /** Whether this run searched for the floor (floor-search.ts): what it learnt is worth saving. */
  private searched = false;

  constructor(
    private readonly deps: PollerDeps,
    private readonly settings: PollerSettings,
  ) {
    this.now = deps.now ?? Date.now;
    this.clock = deps.clock ?? Date.now;
    this.context = {
      deps,
      settings,
      now: this.now,
      clock: this.clock,
      report: this.report,
      paging: new Paging(settings.pageSize),
      pages: [],
      pending: this.pending,
      undatedPending: this.undatedPending,
    };
    this.cursor = new CursorState(this.context);
    this.reader = new AlertReader(this.context, this.cursor);
    this.publisher = new BatchPublisher(this.context, this.cursor);
    this.walk = new WalkUp(this.context, this.reader, this.cursor, this.publisher);
  }

  async run(): Promise<RunReport> {
    const { store, owner, logger } = this.deps;
    const started = this.clock();
    const startedAt = this.deps.startedAt ?? this.now();
    this.reader.readUntil = started + Math.floor(Math.max(0, this.deps.stopAt - started) * READ_SHARE);
    let leased: Awaited<ReturnType<StateStore['acquire']>>;
    try {
      const { storeSignal } = this.deps;
      leased = await unlessAborted(
        store.acquire(owner, this.deps.leaseUntil, this.clock(), storeSignal, startedAt),
        storeSignal,
      );
    } catch (error) {
      // A failed run like any other (reported, counted), not a rejection that skips the metrics.
      const failure = toTaniumError(error);
      this.report.stoppedBy = 'error';
      this.report.error = { kind: failure.kind, message: failure.message };
      return this.finish(failure);
    }
    if (!leased) {
      logger.info('Another poller run holds the lease; skipping this run');
      return { ...this.report, status: 'skipped' };
    }
    this.cursor.version = leased.version;
    if (leased.checkpoint) this.cursor.restore(leased.checkpoint);
    this.reader.publishesNone =
      !leased.checkpoint && this.settings.firstRunHours === 0 && leased.unsavedSince >= startedAt;
    let failure: TaniumError | undefined;
    try {
      const head = await this.reader.readInTime(0, true);
      // A non-empty head page with no readable time at all (undated alerts sort first) hides where the
      // dated alerts start: -Infinity keeps the whole window W open below what is published.
      if (head.alerts.length > 0) this.cursor.headTop = visibleTop(head, this.now());
      if (!leased.checkpoint && (await this.firstRun(head, leased.unsavedSince, startedAt)))
        return this.finish();
      let start: Page | undefined = head;
      if (classify(head, this.cursor.floor) !== 'found') {
        this.searched = true;
        start = await locate(head, this.context.paging, this.reader, this.cursor);
      }
      if (start) await this.walk.walkUp(start);
      await this.publisher.publishUndated();
      // A search that published nothing still learnt where the floor is: keep that for the next run.
      if (this.searched && this.report.batches === 0) await this.cursor.save();
    } catch (error) {
      if (error instanceof LeaseLostError) return this.leaseLost(error);
      failure = toTaniumError(error);
    }
    // Refused alerts no later one showed the bus works for: none is dropped, and the run fails. When the
    // run's time or requests ran out first, it keeps that reason, so the limit's metric counts it too.
    const thrown = failure !== undefined;
    if (!failure) failure = this.publisher.heldFailure();
    if (!failure && this.publisher.undatedRefusal && this.undatedPending.size > 0)
      failure = this.publisher.undatedRefusal;
    if (failure) {
      const stoppedBy = thrown || !this.report.stoppedBy ? 'error' : this.report.stoppedBy;
      this.report.error = { kind: failure.kind, message: failure.message };
      // What is proven complete can still go out, so a failing Tanium call does not stall the backlog;
      // after a PutEvents or DynamoDB failure nothing more is published (at most one batch is repeated).
      try {
        if (this.reader.readFailed) await this.publisher.publishEligible(true);
      } catch (error) {
        if (error instanceof LeaseLostError) return this.leaseLost(error);
        logger.warn('Publishing after a failure failed too', { error: toTaniumError(error).message });
      }
      // Set after that publishing, whose time limit must not pass a thrown failure off as the limit's.
      this.report.stoppedBy = stoppedBy;
    }
    return this.finish(failure);
  }

  /**
   * Stops a run whose save was refused. The lease is released all the same: the release only acts while
   * this run still holds it (a refusal for any other reason than a takeover), and a lease left to expire
   * would skip every run until the function's timeout had passed.
   * A failed run all the same (its error, unless an earlier failure already gave one): a run's lease
   * outlasts its invocation, so a refusal means a clock, a hand-edited state item or a bug let another
   * run in, which must reach the failure alarm. No lag: the run that took over reports its own.
   */
  private async leaseLost(error: LeaseLostError): Promise<RunReport> {
    this.deps.logger.error('Another poller run took over the state; stopping without saving', {
      owner: this.deps.owner,
    });
    this.report.stoppedBy = 'error';
    this.report.error ??= { kind: 'transient', message: error.message };
    await this.releaseLease();
    return { ...this.report, status: 'lease_lost' };
  }

  private async finish(failure?: TaniumError): Promise<RunReport> {
    const report = this.report;
    if (failure) report.status = 'failed';
    else if (
      this.cursor.coveredTop === Number.POSITIVE_INFINITY &&
      !this.publisher.hasEligible() &&
      this.undatedPending.size === 0
    )
      report.status = 'caught_up';
    // 0 until a state is read or a first run sets one: a run that failed before has no floor to report
    // (1970 in the runbook's log line would read as a state reset to publish everything again).
    if (this.cursor.floor !== 0) report.floor = new Date(this.cursor.floor).toISOString();
    const lag = this.lagMs(report.status);
    if (lag !== undefined) report.lagMs = lag;
    if (this.reader.futureKeys.size > 0) {
      report.futureAlerts = this.reader.futureKeys.size;
      this.deps.logger.warn(
        "Alerts created in the future by this function's clock: Tanium's clock is ahead, or they carry a wrong createdAt",
        { count: this.reader.futureKeys.size, newest: new Date(this.reader.newestSeen).toISOString() },
      );
    }
    if (this.cursor.aheadDropped) {
      this.deps.logger.warn(
        "More alerts stamped ahead of this function's clock than a run can read past: the floor passed some of them, so alerts created until the clock reaches them are skipped",
        { floor: report.floor },
      );
    }
    await this.releaseLease();
    return report;
  }

  private async releaseLease(): Promise<void> {
    try {
      const { storeSignal } = this.deps;
      await unlessAborted(this.deps.store.release(this.deps.owner, storeSignal), storeSignal);
    } catch (error) {
      this.deps.logger.warn('Could not release the poller lease; it expires on its own', {
        error: toTaniumError(error).message,
      });
    }
  }

  /**
   * How long the oldest alert known to wait for publishing has waited: 0 when caught up, and unknown
   * (not sent) when the run could not even read the head: the failure alarm covers that, and the age of
   * the newest published alert on a quiet system is no lag.
   */
  private lagMs(status: RunReport['status']): number | undefined {
    if (status === 'caught_up') return 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const candidate of this.pending.values()) if (candidate.ts < oldest) oldest = candidate.ts;
    if (oldest === Number.POSITIVE_INFINITY) {
      // Behind without a read alert in hand (or with undated ones only): the first unpublished one is
      // above what went out last.
      const behind =
        this.undatedPending.size > 0 ||
        (this.cursor.headTop !== undefined && this.cursor.coveredTop !== Number.POSITIVE_INFINITY);
      if (!behind) return undefined;
      oldest = Math.max(this.cursor.floor, this.cursor.newestPublishedAt ?? Number.NEGATIVE_INFINITY);
    }
    return Math.max(0, this.now() - oldest);
  }

  /**
   * Sets the initial floor; returns true when the run is over (nothing to publish). `unsavedSince` is
   * when the first run that took the lease started: before this one when the runs between failed.
   */
  private async firstRun(head: Page, unsavedSince: number, startedAt: number): Promise<boolean> {
    const { firstRunHours, overlapWindowMs } = this.settings;
    const since = Math.min(unsavedSince, startedAt);
    const failedBefore = since < startedAt;
    if (firstRunHours > 0 || failedBefore) {
      // The window is counted from the first run that tried: failed runs lose none of its alerts. With
      // a window of 0, everything created since then is new, with the hour a lagging Tanium clock may
      // need: which existing alerts the failed runs would have seen, nothing tells.
      this.cursor.floor =
        firstRunHours > 0
          ? since - firstRunHours * HOUR_MS
          : since - FIRST_RUN_CLOCK_ALLOWANCE_MS - overlapWindowMs;
      const floor = new Date(this.cursor.floor).toISOString();
      if (failedBefore) {
        this.deps.logger.info('First run after failed ones: publishing the alerts since the first of them', {
          hours: firstRunHours,
          firstTriedAt: new Date(since).toISOString(),
          floor,
        });
      } else {
        this.deps.logger.info('First run: publishing the alerts of the last hours', {
          hours: firstRunHours,
          floor,
        });
      }
      // The head page was read before the floor existed.
      this.pending.clear();
      for (const page of this.context.pages) this.reader.addCandidates(page);
      await this.cursor.save();
      return false;
    }
    // Nothing that exists now is published: the floor goes W below the newest alert, as if it had just
    // been published, and the ids in that window are remembered as done. Only an alert that becomes
    // visible late, created in that window, still counts as new. The newest alert is in Tanium's time,
    // so a Tanium clock behind this function's loses nothing. When the list is empty or its newest alert
    // old, the floor still goes up to an hour before now (this function's clock: the allowance is what
    // a Tanium clock may lag by without its first new alerts falling below the floor): an older alert
    // that appears or starts matching the filters later existed at the first run, and is not published.
    // A head page with no readable time (undated alerts sort first) hides the newest dated alert. Taken
    // as none: the floor is an hour below now, so existing dated alerts of that hour under the undated
    // ones may go out, rather than, with a floor near now, a lagging Tanium clock's first new ones be lost.
    const newest = Number.isNaN(first(head)) ? Number.NEGATIVE_INFINITY : Math.min(first(head), this.now());
    const floor = Math.max(newest, this.now() - FIRST_RUN_CLOCK_ALLOWANCE_MS) - overlapWindowMs;
    // A full head page: everything below it existed too. Not past the clock beyond the skew taken as
    // normal, though: a page stamped all ahead would put the alerts created until the clock reaches it
    // below the floor, unseen (the existing ones below it, stamped ahead too, then go out).
    const bottom = last(head);
    const below = bottom > this.now() + FUTURE_TOLERANCE_MS ? this.now() : bottom + 1;
    this.cursor.floor = head.full && !Number.isNaN(bottom) ? Math.max(floor, below) : floor;
    head.alerts.forEach((alert, i) => {
      const key = alertKey(alert);
      if (key === undefined) return;
      // Existing, like the rest of the head page; with no time of its own, remembered by id.
      if (this.undatedPending.has(key)) this.cursor.rememberUndated(storedId(alert, key));
      else if (head.ts[i]! >= this.cursor.floor) this.cursor.remember(storedId(alert, key), key, head.ts[i]!);
    });
    this.undatedPending.clear();
    this.deps.logger.info('First run: existing alerts are not published', {
      floor: new Date(this.cursor.floor).toISOString(),
    });
    this.pending.clear();
    this.cursor.coveredTop = Number.POSITIVE_INFINITY;
    await this.cursor.save();
    return true;
  }
}
