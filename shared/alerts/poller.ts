/**
 * The alert poller's core: which alerts to read, in which order to publish them, when to move the cursor.
 *
 * WHAT THE API GIVES US (tanium-api.md 4.8). Only `sort=-createdAt` (newest first) with `limit`/`offset`
 * paging, plus `meta.filteredCount`. No ascending sort, no id order, no time filter. Between two requests
 * new alerts are inserted at offset 0 (every later alert moves to a higher offset), Tanium prunes the
 * OLDEST alerts (the highest offsets; lower offsets do not move), alerts sharing a `createdAt` come in an
 * unspecified order, and ids say nothing about time.
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
 *                 without counts, belowAtLeast: how deep F's offset was found to be at least);
 *   group G       only while a run left a single-millisecond group larger than a page unfinished (step
 *                 6): its millisecond g >= F, how many of its members are done counted from its end
 *                 deepest in the list (`passed`), and the ids of the last of them (the edge, M ids).
 * So "published" = {createdAt < F} ∪ R ∪ (the `passed` deepest members of g), and an alert is NEW iff
 * createdAt >= F, its id is not in R, and it is not one of those members. Which members those are is
 * known by position only, so G relies on Tanium keeping the group's order, as such a group already does.
 * The first run sets F to now − the first-run window; with a window of 0, to W below the newest alert
 * (its ids in R), but never lower than now − W − 1 h, even on an empty list: an alert older than that
 * existed at the first run, whenever it appears or starts matching the filters (the hour is what a
 * Tanium clock behind this function's may lag by without losing the first new alerts).
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
 *     page just below that bound first, so each run gets further than the last.
 *  4. Walk up toward offset 0 with pages that overlap by M items. `coveredTop` is the time below which
 *     everything from F up was read. A new page is accepted only if it CONNECTS to what was read:
 *     its last item is older than coveredTop (the whole coveredTop group lies inside it), or it is short
 *     (end of list). If arrivals pushed it too high (a gap), it is re-read deeper, shifted by the growth
 *     of filteredCount (or by M when unknown). If its bottom falls inside the coveredTop group, it is
 *     re-read so that the group sits inside the page; only a group bigger than a page is accepted on
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
 *     still in R. A crash between PutEvents and the save re-publishes that one batch, nothing more.
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
 *     never a candidate: a borrowed time moves as the list does. It goes out before the next batch
 *     (which may move F past where it was read) and is remembered by id (U, the last UNDATED_MEMORY),
 *     never moving F; an id in R or U is done whether its createdAt reads now or not.
 *
 * WHAT CANNOT BE GUARANTEED: alerts Tanium prunes before they are read, alerts that become visible (or
 * start matching a filter) more than W below the newest published createdAt, the members of a
 * single-millisecond group larger than a page if Tanium reorders them between requests, or, for such a
 * group that one run cannot finish, if members join it below its edge or leave it between runs; and, on
 * the first run, alerts past a short answer of a Tanium that sends no count and caps `limit`.
 */
import { jsonOr } from '../config/json-or.ts';
import type { Alert } from '../tanium/alerts.ts';
import { causedByDeadline, TaniumError, toTaniumError } from '../tanium/errors.ts';
import {
  alertDetail,
  alertEntry,
  entrySize,
  MAX_ENTRIES_PER_CALL,
  MAX_REQUEST_BYTES,
  REFUSED_OMITTED,
  reducedAlertEntry,
  scalarOrUndefined,
} from './alert-event.ts';
import { LeaseLostError, UnpublishedEntriesError } from './errors.ts';
import { MIN_PAGE_SIZE } from './settings.ts';
import type {
  AlertEntry,
  AlertId,
  AlertPublisher,
  AlertSource,
  Checkpoint,
  PollerLogger,
  PollerSettings,
  PublishOutcome,
  RecentGroup,
  RunReport,
  SourcePage,
  StateStore,
} from './types.ts';

export interface PollerDeps {
  source: AlertSource;
  store: StateStore;
  publisher: AlertPublisher;
  logger: PollerLogger;
  /** Names this run in the lease: unique per run (the Lambda request id and a random part). */
  owner: string;
  /** Epoch ms (Date.now scale): no Tanium request or publish starts after this. */
  stopAt: number;
  /** Epoch ms (Date.now scale) until which the lease holds: after the hardest possible end of this run. */
  leaseUntil: number;
  /** Wall-clock time for alert ages (first-run window, lag); Date.now by default. */
  now?: () => number;
  /** Date.now by default; the time limit is checked against it. */
  clock?: () => number;
}

interface Page {
  offset: number;
  limit: number;
  alerts: Alert[];
  /** createdAt in epoch ms, per alert (an unreadable value takes its neighbour's, to keep the order). */
  ts: number[];
  /** Per alert, whether its own createdAt was readable. */
  dated: boolean[];
  filteredCount: number | undefined;
  full: boolean;
}

/**
 * Batches EventBridge refused whole, even reduced, before it had taken anything in the run: not yet
 * dropped, because only a later alert the bus takes shows that the bus itself works.
 */
const MAX_HELD_BATCHES = 5;

/**
 * Ids of published alerts without a readable createdAt kept in the checkpoint: far more than Tanium
 * should ever send, and small next to DynamoDB's 400 KB item.
 */
const UNDATED_MEMORY = 1000;

/** A prefix of candidates that fits one PutEvents call, and its events. */
interface PreparedBatch {
  batch: Candidate[];
  entries: AlertEntry[];
  details: Record<string, unknown>[];
}

/** A batch held that way: its alerts, and each one's two refusals (by index into `batch`). */
interface HeldBatch {
  batch: Candidate[];
  details: Record<string, unknown>[];
  refusals: Refusal[];
  error: PublishError;
}

interface Refusal {
  index: number;
  first: { code: string; message: string };
  again: { code: string; message: string };
}

interface Candidate {
  alert: Alert;
  key: string;
  ts: number;
  /** Position in the group cursor's millisecond (GroupTrack), once known: its publishing order. */
  rank?: number;
}

/** Positions of the members read of one millisecond, counted from its member deepest in the list. */
interface GroupTrack {
  at: number;
  pos: Map<string, number>;
  ids: Map<number, AlertId>;
}

const HOUR_MS = 3_600_000;
/** Clock skew between Tanium and Lambda taken as normal before an alert counts as from the future. */
const FUTURE_TOLERANCE_MS = 60_000;
/** How far behind this function's clock Tanium's may be at a first run with a window of 0. */
const FIRST_RUN_CLOCK_ALLOWANCE_MS = 3_600_000;
/**
 * The share of a run's time for reading Tanium; the rest is kept for publishing what was read. Inside a
 * group larger than a page, members go out only once the walk stops: a run that read until its very end
 * would publish none of them, and every later run would read the same pages again.
 */
const READ_SHARE = 0.75;

function first(page: Page): number {
  return page.ts[0] ?? Number.NaN;
}

function last(page: Page): number {
  return page.ts[page.ts.length - 1] ?? Number.NaN;
}

/**
 * The id that makes an alert unique (Tanium's `id`, else its `guid`). Only a number or a non-empty string
 * is one: any object would become "[object Object]", and every alert after the first would pass for it.
 */
export function alertKey(alert: Alert): string | undefined {
  return usableKey(alert.id) ?? usableKey(alert.guid);
}

function usableKey(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function storedId(alert: Alert, key: string): AlertId {
  return typeof alert.id === 'number' ? alert.id : key;
}

function pageTimes(alerts: Alert[]): { ts: number[]; dated: boolean[] } {
  const ts = alerts.map((alert) => Date.parse(String(alert.createdAt)));
  const dated = ts.map((time) => !Number.isNaN(time));
  for (let i = 1; i < ts.length; i++) if (Number.isNaN(ts[i])) ts[i] = ts[i - 1]!;
  for (let i = ts.length - 2; i >= 0; i--) if (Number.isNaN(ts[i])) ts[i] = ts[i + 1]!;
  return { ts, dated };
}

function compareKeys(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

function oldestFirst(a: Candidate, b: Candidate): number {
  const byRank = a.rank !== undefined && b.rank !== undefined ? a.rank - b.rank : 0;
  return a.ts - b.ts || byRank || compareKeys(a.key, b.key);
}

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

/** Runs the poller once. Never throws for Tanium or publishing failures: they are in the report. */
export async function runPoller(deps: PollerDeps, settings: PollerSettings): Promise<RunReport> {
  return new PollerRun(deps, settings).run();
}

class PollerRun {
  /** The configured page size, or the smaller one Tanium proved it caps `limit` at. */
  private pageSize: number;
  /** Items shared by two consecutive pages of the walk. */
  private overlap: number;
  /** Ids kept below the newest published millisecond: fewer than a page. */
  private windowIds: number;
  private readonly now: () => number;
  private readonly clock: () => number;

  private version = 0;
  private floor = 0;
  private recent = new Map<number, AlertId[]>();
  private recentKeys = new Set<string>();
  private olderCount: number | undefined;
  /** Bounds on the number of filtered alerts older than the floor (see locate). */
  private olderMin = 0;
  private olderMax = Number.POSITIVE_INFINITY;
  /** Without counts: the offset of the first alert below the floor is at least this (see locate). */
  private belowAtLeast = 0;
  private searched = false;
  /** Whether the state came from a checkpoint (not the first run). */
  private restored = false;
  /** Whether this run already read past a short answer to see if Tanium capped it (continuesPast). */
  private probed = false;
  private newestPublishedAt: number | undefined;
  /** The millisecond larger than a page the walk is inside, and how many of its members are done. */
  private group: { at: number; passed: number; resumed: number } | undefined;
  /** A millisecond seen to hold more alerts than a page in this walk (it gets a cursor if left unfinished). */
  private bigAt: number | undefined;
  /** Positions in the cursor's millisecond, or else in the coveredTop one (it may turn out too big). */
  private tracker: GroupTrack | undefined;
  /** Members of the cursor's millisecond known to be done: never candidates again. */
  private readonly groupDone = new Set<string>();

  private readonly pending = new Map<string, Candidate>();
  private coveredTop = Number.NEGATIVE_INFINITY;
  private readonly pages: Page[] = [];
  private readonly intelNames = new Map<string, string | undefined>();
  private readFailed = false;
  /** Epoch ms (the clock's scale): no Tanium read starts after this, and none runs past it. */
  private readUntil = Number.POSITIVE_INFINITY;
  /** Whether EventBridge has taken at least one entry in this run: the bus itself works. */
  private busTookAnEntry = false;
  /** Batches refused whole while the bus had taken nothing; their alerts are not eligible meanwhile. */
  private readonly held: HeldBatch[] = [];
  private readonly heldKeys = new Set<string>();
  /** filteredCount growth between recent consecutive reads: arrivals to expect before the next one. */
  private readonly growth: number[] = [];
  /** createdAt of the newest alert at the head read. */
  private headTop: number | undefined;
  /** Alerts read whose createdAt is ahead of this function's clock by more than the tolerance. */
  private readonly futureKeys = new Set<string>();
  private newestSeen = Number.NEGATIVE_INFINITY;

  private readonly report: RunReport = emptyRunReport();
  /** What the alerts without an id counted in this run hold (createdAt and details). */
  private readonly unidentified = new Set<string>();
  /** Published alerts without a readable createdAt (Checkpoint.undated), oldest first, and their keys. */
  private undatedDone: AlertId[] = [];
  private readonly undatedDoneKeys = new Set<string>();
  /** Alerts without a readable createdAt read in this run and not yet published, by key. */
  private readonly undatedPending = new Map<string, Alert>();
  /**
   * The bus refused a whole batch of them before taking anything in the run: they wait, nothing
   * dropped, while dated batches go; once one is taken they go again (and a refusal then drops them).
   */
  private undatedRefusal: RefusedWhole | undefined;

  constructor(
    private readonly deps: PollerDeps,
    private readonly settings: PollerSettings,
  ) {
    this.pageSize = settings.pageSize;
    this.overlap = 0;
    this.windowIds = 0;
    this.usePageSize(settings.pageSize);
    this.now = deps.now ?? Date.now;
    this.clock = deps.clock ?? Date.now;
  }

  async run(): Promise<RunReport> {
    const { store, owner, logger } = this.deps;
    const started = this.clock();
    this.readUntil = started + Math.floor(Math.max(0, this.deps.stopAt - started) * READ_SHARE);
    let leased: Awaited<ReturnType<StateStore['acquire']>>;
    try {
      leased = await store.acquire(owner, this.deps.leaseUntil, this.clock());
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
    this.version = leased.version;
    if (leased.checkpoint) this.restore(leased.checkpoint);
    let failure: TaniumError | undefined;
    try {
      const head = await this.readInTime(0, true);
      // A non-empty head page with no readable time at all (undated alerts sort first) hides where the
      // dated alerts start: -Infinity keeps the whole window W open below what is published.
      if (head.alerts.length > 0)
        this.headTop = Number.isNaN(first(head)) ? Number.NEGATIVE_INFINITY : first(head);
      if (!leased.checkpoint && (await this.firstRun(head))) return this.finish();
      const start = this.classify(head) === 'found' ? head : await this.locate(head);
      if (start) await this.walkUp(start);
      await this.publishUndated();
      // A search that published nothing still learnt where the floor is: keep that for the next run.
      if (this.searched && this.report.batches === 0) await this.save();
    } catch (error) {
      if (error instanceof LeaseLostError) {
        logger.error('Another poller run took over the state; stopping without saving', {
          owner,
        });
        return this.leaseLost();
      }
      failure = toTaniumError(error);
    }
    // Refused alerts no later one showed the bus works for: none is dropped, and the run fails. When the
    // run's time or requests ran out first, it keeps that reason, so the limit's metric counts it too.
    const thrown = failure !== undefined;
    if (!failure && this.held.length > 0) failure = this.held[0]!.error;
    if (!failure && this.undatedRefusal && this.undatedPending.size > 0) failure = this.undatedRefusal;
    if (failure) {
      const stoppedBy = thrown || !this.report.stoppedBy ? 'error' : this.report.stoppedBy;
      this.report.error = { kind: failure.kind, message: failure.message };
      // What is proven complete can still go out, so a failing Tanium call does not stall the backlog;
      // after a PutEvents or DynamoDB failure nothing more is published (at most one batch is repeated).
      try {
        if (this.readFailed) await this.publishEligible(true);
      } catch (error) {
        if (error instanceof LeaseLostError) return this.leaseLost();
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
   */
  private async leaseLost(): Promise<RunReport> {
    await this.releaseLease();
    return { ...this.report, status: 'lease_lost' };
  }

  private async finish(failure?: TaniumError): Promise<RunReport> {
    const report = this.report;
    if (failure) report.status = 'failed';
    else if (
      this.coveredTop === Number.POSITIVE_INFINITY &&
      !this.hasEligible() &&
      this.undatedPending.size === 0
    )
      report.status = 'caught_up';
    report.floor = new Date(this.floor).toISOString();
    const lag = this.lagMs(report.status);
    if (lag !== undefined) report.lagMs = lag;
    if (this.futureKeys.size > 0) {
      report.futureAlerts = this.futureKeys.size;
      this.deps.logger.warn(
        "Alerts created in the future by this function's clock: Tanium's clock is ahead, or they carry a wrong createdAt",
        { count: this.futureKeys.size, newest: new Date(this.newestSeen).toISOString() },
      );
    }
    await this.releaseLease();
    return report;
  }

  private async releaseLease(): Promise<void> {
    try {
      await this.deps.store.release(this.deps.owner);
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
        (this.headTop !== undefined && this.coveredTop !== Number.POSITIVE_INFINITY);
      if (!behind) return undefined;
      oldest = Math.max(this.floor, this.newestPublishedAt ?? Number.NEGATIVE_INFINITY);
    }
    return Math.max(0, this.now() - oldest);
  }

  // --- state ------------------------------------------------------------------------------------

  private restore(checkpoint: Checkpoint): void {
    this.restored = true;
    this.floor = checkpoint.floor;
    for (const [ts, ids] of checkpoint.recent) {
      this.recent.set(ts, [...ids]);
      for (const id of ids) this.recentKeys.add(String(id));
    }
    this.olderCount = checkpoint.olderCount;
    if (checkpoint.olderBounds) [this.olderMin, this.olderMax] = checkpoint.olderBounds;
    this.belowAtLeast = checkpoint.belowAtLeast ?? 0;
    this.newestPublishedAt = checkpoint.newestPublishedAt;
    for (const id of checkpoint.undated ?? []) this.rememberUndated(id);
    const group = checkpoint.group;
    if (group && group.at >= this.floor) {
      this.group = { at: group.at, passed: group.passed, resumed: group.passed };
      this.tracker = { at: group.at, pos: new Map(), ids: new Map() };
      group.edge.forEach((id, i) => {
        const position = group.passed - group.edge.length + i;
        this.tracker!.pos.set(String(id), position);
        this.tracker!.ids.set(position, id);
        this.groupDone.add(String(id));
      });
    }
  }

  /** Sets the initial floor; returns true when the run is over (nothing to publish). */
  private async firstRun(head: Page): Promise<boolean> {
    const { firstRunHours, overlapWindowMs } = this.settings;
    if (firstRunHours > 0) {
      this.floor = this.now() - firstRunHours * HOUR_MS;
      this.deps.logger.info('First run: publishing the alerts of the last hours', {
        hours: firstRunHours,
        floor: new Date(this.floor).toISOString(),
      });
      // The head page was read before the floor existed.
      this.pending.clear();
      for (const page of this.pages) this.addCandidates(page);
      await this.save();
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
    this.floor = head.full && !Number.isNaN(last(head)) ? Math.max(floor, last(head) + 1) : floor;
    head.alerts.forEach((alert, i) => {
      const key = alertKey(alert);
      if (key === undefined) return;
      // Existing, like the rest of the head page; with no time of its own, remembered by id.
      if (this.undatedPending.has(key)) this.rememberUndated(storedId(alert, key));
      else if (head.ts[i]! >= this.floor) this.remember(storedId(alert, key), key, head.ts[i]!);
    });
    this.undatedPending.clear();
    this.deps.logger.info('First run: existing alerts are not published', {
      floor: new Date(this.floor).toISOString(),
    });
    this.pending.clear();
    this.coveredTop = Number.POSITIVE_INFINITY;
    await this.save();
    return true;
  }

  /**
   * Records a published alert. `inOrder`: every alert read before it is published too; one that went out
   * past an alert the bus did not take (a partly failed batch) goes into R, since the group cursor would
   * count that alert as done with it.
   */
  private remember(id: AlertId, key: string, ts: number, inOrder = true): void {
    const position = this.group?.at === ts && inOrder ? this.tracker?.pos.get(key) : undefined;
    if (this.group && position !== undefined) {
      // Published in list order, so every member below it is done too: the cursor, not R, holds them.
      this.group.passed = Math.max(this.group.passed, position + 1);
      this.groupDone.add(key);
      return;
    }
    const group = this.recent.get(ts);
    if (group) group.push(id);
    else this.recent.set(ts, [id]);
    this.recentKeys.add(key);
  }

  /**
   * Moves the floor up and forgets the ids below it. Besides the time window, `recent` keeps at most
   * about one page of ids (never dropping the newest millisecond, whose other members may still be
   * unpublished), so the steady state's head page always reaches below the floor: one request.
   */
  private raiseFloor(floor: number, newest: number): void {
    const before = this.floor;
    // Never past the real time minus W: one alert stamped ahead (a Tanium clock stepped back, a wrong
    // createdAt) would otherwise put every alert of the next hours below the floor, skipped unseen. The
    // ids above the cap stay in `recent`, so nothing is published twice.
    const capped = Math.min(floor, this.now() - this.settings.overlapWindowMs);
    if (capped > this.floor) this.floor = capped;
    if (this.group && this.group.at < newest) {
      // The whole group is done and holds more than a page: like R's own, it leaves no ids behind.
      this.floor = Math.max(this.floor, this.group.at + 1);
      // Members without a position were read only in pages off the walk: the cursor already had them.
      for (const [key, candidate] of this.pending)
        if (candidate.ts === this.group.at) this.pending.delete(key);
      this.group = undefined;
      this.tracker = undefined;
    }
    const limit = Math.min(this.settings.maxRecentIds, this.windowIds);
    let size = this.recentKeys.size;
    for (const ts of [...this.recent.keys()].sort((a, b) => a - b)) {
      if (ts >= this.floor && (size <= limit || ts >= newest)) break;
      if (ts >= this.floor) this.floor = ts + 1;
      for (const id of this.recent.get(ts) ?? []) this.recentKeys.delete(String(id));
      this.recent.delete(ts);
      size = this.recentKeys.size;
    }
    if (this.floor !== before) {
      this.olderMin = 0;
      this.olderMax = Number.POSITIVE_INFINITY;
      this.belowAtLeast = 0;
    }
  }

  private checkpoint(): Checkpoint {
    const recent: RecentGroup[] = [...this.recent.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([ts, ids]) => [ts, [...ids]]);
    const checkpoint: Checkpoint = { floor: this.floor, recent };
    const olderCount = this.olderCountHint();
    if (olderCount !== undefined) checkpoint.olderCount = olderCount;
    if (this.olderMin > 0 || this.olderMax !== Number.POSITIVE_INFINITY) {
      checkpoint.olderBounds = [this.olderMin, Math.min(this.olderMax, Number.MAX_SAFE_INTEGER)];
    }
    if (this.newestPublishedAt !== undefined) checkpoint.newestPublishedAt = this.newestPublishedAt;
    if (this.belowAtLeast > 0) checkpoint.belowAtLeast = this.belowAtLeast;
    if (this.undatedDone.length > 0) checkpoint.undated = [...this.undatedDone];
    if (this.group) {
      const { at, passed } = this.group;
      const edge: AlertId[] = [];
      for (let position = passed - 1; position >= Math.max(0, passed - this.overlap); position--) {
        const id = this.tracker?.ids.get(position);
        if (id === undefined) break;
        edge.unshift(id);
      }
      checkpoint.group = { at, passed, edge };
    }
    return checkpoint;
  }

  private async save(): Promise<void> {
    this.version = await this.deps.store.save(this.deps.owner, this.version, this.checkpoint());
  }

  /** Alerts older than the floor, from the latest page that shows where the floor falls. */
  private olderCountHint(): number | undefined {
    for (let i = this.pages.length - 1; i >= 0; i--) {
      const page = this.pages[i]!;
      if (page.filteredCount === undefined || page.alerts.length === 0) continue;
      const index = page.ts.findIndex((ts) => ts < this.floor);
      if (index > 0 || (index === 0 && page.offset === 0)) {
        return Math.max(0, page.filteredCount - (page.offset + index));
      }
      if (index === -1 && !page.full) return 0;
    }
    return this.olderCount;
  }

  // --- reading ----------------------------------------------------------------------------------

  private budgetLeft(): boolean {
    if (this.clock() >= this.readUntil) {
      this.report.stoppedBy = 'time_limit';
      return false;
    }
    if (this.report.taniumRequests >= this.settings.maxRequestsPerRun) {
      this.report.stoppedBy = 'request_limit';
      return false;
    }
    return true;
  }

  private usePageSize(size: number): void {
    this.pageSize = size;
    // At least 2: the walk steps by P - M, so with 1 each page would end on coveredTop itself, never
    // below it, and every page would be re-read as if it ended inside a group (two reads per alert).
    this.overlap = Math.max(2, Math.floor(size / 10));
    this.windowIds = size - 2 * this.overlap;
  }

  /**
   * A page, or undefined when the time for reading ran out during the request (the client had no time
   * left to send it, or it was still running at the read deadline, login included): the run then stops
   * as at its time limit, publishing what it read, instead of failing and leaving a large group where it
   * was. Not the head read: a run that read nothing has learnt nothing, and a Tanium that never answers
   * must fail its runs, or no alarm would tell.
   */
  private async readInTime(offset: number, head: true): Promise<Page>;
  private async readInTime(offset: number): Promise<Page | undefined>;
  private async readInTime(offset: number, head = false): Promise<Page | undefined> {
    this.report.taniumRequests++;
    const limit = this.pageSize;
    let result: SourcePage;
    try {
      result = await this.deps.source.page(offset, limit, this.readUntil);
    } catch (error) {
      if (!head && causedByDeadline(error)) {
        this.report.stoppedBy = 'time_limit';
        this.deps.logger.warn("A Tanium read was cut at the end of the run's time for reading", {
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
    // sets the page size for the run; deeper, a short page is as likely a count taken before a prune.
    if (more && offset === 0 && length >= MIN_PAGE_SIZE && length < limit) {
      this.deps.logger.warn(
        'Tanium answered fewer alerts than asked although more match: it caps the page size; reading on with the smaller pages',
        { limit, answered: length, offset, filteredCount: result.filteredCount, setting: 'POLLER_PAGE_SIZE' },
      );
      this.usePageSize(length);
    }
    const page: Page = {
      offset,
      limit,
      alerts: result.alerts,
      ts,
      dated,
      filteredCount: result.filteredCount,
      full: length >= this.pageSize || more,
    };
    const previous = this.pages.at(-1);
    if (previous?.filteredCount !== undefined && page.filteredCount !== undefined) {
      this.growth.push(Math.max(0, page.filteredCount - previous.filteredCount));
      if (this.growth.length > 4) this.growth.shift();
    }
    this.pages.push(page);
    if (this.pages.length > 8) this.pages.shift();
    this.addCandidates(page);
    return page;
  }

  /**
   * Without any count, a short answer is the end of the list only if Tanium honours `limit`: one that
   * caps it silently would let the floor pass every alert below the page. So once a run, a short answer
   * that does not already reach below the floor (nothing under it is still to publish) is checked by
   * reading on from its end; alerts there mean it was capped. Also on a first run that backfills a
   * window (one more request, once), not on one with a window of 0, which publishes nothing it reads.
   */
  private async continuesPast(result: SourcePage, offset: number, ts: number[]): Promise<boolean> {
    const length = result.alerts.length;
    if (result.filteredCount !== undefined || this.probed) return false;
    if (!this.restored && this.settings.firstRunHours === 0) return false;
    if (length < MIN_PAGE_SIZE || length >= this.pageSize) return false;
    if ((ts[length - 1] ?? Number.NaN) < this.floor) return false;
    this.probed = true;
    // No request or time left to check: not taking it for the end is the side that cannot lose alerts.
    // The page then counts as full and cannot reach below F (that needed no check), so the run stops
    // at its next budget check, as budgetLeft records here.
    if (!this.budgetLeft()) return true;
    this.report.taniumRequests++;
    let next: SourcePage;
    try {
      next = await this.deps.source.page(offset + length, this.pageSize, this.readUntil);
    } catch (error) {
      // Out of time to check: as with no request left, the page is not taken for the end of the list.
      if (causedByDeadline(error)) return true;
      this.readFailed = true;
      throw error;
    }
    return next.alerts.length > 0;
  }

  private addCandidates(page: Page): void {
    const future = this.now() + FUTURE_TOLERANCE_MS;
    page.alerts.forEach((alert, i) => {
      const key = alertKey(alert);
      // Without a time of its own an alert sits at its neighbours' (pageTimes), which says nothing about
      // where it stands against the floor: it is reported wherever it is read.
      const dated = page.dated[i]!;
      const ts = page.ts[i]!;
      if (dated && !(ts >= this.floor)) return;
      if (key === undefined) {
        this.reportUnidentified(alert);
        return;
      }
      // An alert whose createdAt turned readable or unreadable since it went out is still done.
      const published = this.recentKeys.has(key) || this.groupDone.has(key) || this.undatedDoneKeys.has(key);
      if (!dated) {
        if (!published && !this.pending.has(key)) this.undatedPending.set(key, alert);
        return;
      }
      if (ts > future) {
        this.futureKeys.add(key);
        this.newestSeen = Math.max(this.newestSeen, ts);
      }
      if (published || this.pending.has(key) || this.undatedPending.has(key)) return;
      this.pending.set(key, { alert, key, ts });
    });
  }

  /** An alert without id or guid: nothing tells whether it went out already. Logged once per run. */
  private reportUnidentified(alert: Alert): void {
    // Pages overlap: counted once per run by what it holds (identical ones count once; the alarm
    // needs one).
    const seen = `${String(scalarOrUndefined(alert.createdAt))}:${jsonOr(alert.details ?? null, '(unwritable)')}`;
    if (this.unidentified.has(seen)) return;
    this.unidentified.add(seen);
    this.report.unidentifiedAlerts++;
    this.deps.logger.error('An alert without id or guid cannot be deduplicated; it is skipped', {
      createdAt: scalarOrUndefined(alert.createdAt),
    });
  }

  /** Records a published alert without a readable createdAt, forgetting the oldest beyond UNDATED_MEMORY. */
  private rememberUndated(id: AlertId): void {
    const key = String(id);
    if (this.undatedDoneKeys.has(key)) return;
    this.undatedDone.push(id);
    this.undatedDoneKeys.add(key);
    while (this.undatedDone.length > UNDATED_MEMORY)
      this.undatedDoneKeys.delete(String(this.undatedDone.shift()));
  }

  /** found: the page straddles the floor; shallow: the floor is deeper; deep: the page is all older. */
  private classify(page: Page): 'found' | 'shallow' | 'deep' {
    if (page.alerts.length === 0) return page.offset === 0 ? 'found' : 'deep';
    const reachesBelow = !page.full || last(page) < this.floor;
    const startsAbove = page.offset === 0 || first(page) >= this.floor;
    if (reachesBelow && startsAbove) return 'found';
    return startsAbove ? 'shallow' : 'deep';
  }

  /**
   * A page that straddles the floor, found by bisection on K, the offset of the first alert below the
   * floor. With filteredCount known the bounds are kept as bounds on the number of alerts OLDER than the
   * floor (older = filteredCount − K), which arrivals do not change: a shallow page at o proves
   * older <= count − o − length, a deep one older >= count − o. They are saved when the search does not
   * finish, so even a tiny request budget converges over runs. Without counts only K's lower bound is
   * kept (arrivals only raise K), or a backlog deeper than one run's doubling could search is never found.
   */
  private async locate(head: Page): Promise<Page | undefined> {
    const P = this.pageSize;
    const M = this.overlap;
    const headLength = head.alerts.length;
    let count = head.filteredCount;
    let kLow = Math.max(headLength, this.belowAtLeast);
    let kHigh: number | undefined;
    let guess = this.olderCount;
    // A saved lower bound is first read just below it: each run gets at least a page further.
    let resume = kLow > headLength;
    this.searched = true;
    while (this.budgetLeft()) {
      let low = kLow;
      let high = kHigh;
      let target: number | undefined;
      if (count !== undefined) {
        low = Math.max(headLength, count - this.olderMax);
        high = count - this.olderMin;
        // Pruning lowers the number of older alerts, which can leave a stale lower bound behind.
        if (high < low) {
          this.olderMin = 0;
          high = count;
        }
        if (high < low) {
          this.olderMax = Number.POSITIVE_INFINITY;
          low = headLength;
        }
        if (guess !== undefined && count - guess >= low && count - guess <= high) target = count - guess;
      }
      guess = undefined;
      let offset: number;
      if (target !== undefined) offset = target - (P - M);
      else if (high === undefined && resume) offset = low - M;
      else if (high === undefined) offset = Math.max(2 * low, low + P) - (P - M);
      else if (high - low <= P - M - 1) offset = low - M;
      else offset = Math.floor((low + high) / 2) - Math.floor(P / 2);
      resume = false;
      const page = await this.readInTime(Math.max(0, offset));
      if (!page) break;
      if (page.filteredCount !== undefined) count = page.filteredCount;
      const verdict = this.classify(page);
      if (verdict === 'found') return page;
      if (verdict === 'shallow') {
        kLow = Math.max(kLow, page.offset + page.alerts.length);
        if (page.filteredCount !== undefined) {
          this.olderMax = Math.min(this.olderMax, page.filteredCount - page.offset - page.alerts.length);
        }
        if (page.filteredCount === undefined) this.belowAtLeast = kLow;
      } else {
        kHigh = page.offset;
        if (page.filteredCount !== undefined) {
          this.olderMin = Math.max(this.olderMin, page.filteredCount - page.offset);
        }
      }
      if (kHigh !== undefined && kHigh <= kLow) {
        // A saved bound the list no longer bears out (alerts above the floor were pruned): start over.
        kLow = headLength;
        this.belowAtLeast = 0;
      }
    }
    return undefined;
  }

  /** Walks toward offset 0 from a page that straddles the floor, publishing as coverage grows. */
  private async walkUp(start: Page): Promise<void> {
    const P = this.pageSize;
    const M = this.overlap;
    const step = P - M;
    let top = start;
    this.coveredTop =
      start.offset === 0 || start.alerts.length === 0 ? Number.POSITIVE_INFINITY : first(start);
    this.follow();
    this.track(start);
    if (!(await this.publishEligible(this.coveredTop === Number.POSITIVE_INFINITY))) return;
    let target = Math.max(0, top.offset - step);
    /** Where the walk goes on if a jump to the group cursor's edge does not land on it. */
    let unlessMissed: number | undefined;
    let jumps = true;
    while (this.coveredTop !== Number.POSITIVE_INFINITY) {
      if (!this.budgetLeft()) break;
      const page = await this.readInTime(target);
      if (!page) break;
      const jumped = unlessMissed;
      unlessMissed = undefined;
      const grown =
        top.filteredCount !== undefined && page.filteredCount !== undefined
          ? page.filteredCount - top.filteredCount
          : 0;
      if (page.alerts.length === 0) {
        // Pruning shortened the list below `target`: read its end instead (a short page connects).
        const end = page.filteredCount;
        target = end !== undefined && end - step < target ? Math.max(0, end - step) : Math.floor(target / 2);
        continue;
      }
      if (Number.isNaN(first(page)) && page.offset > 0) {
        // Only undated alerts, which sort first: nothing dated to connect by, and nothing dated missed
        // (addCandidates took the undated ones). The walk goes on up through them.
        target = Math.max(0, page.offset - step);
        continue;
      }
      const bottom = last(page);
      if (page.full && bottom > this.coveredTop) {
        // A gap: arrivals pushed the alerts we need below this page. Read deeper.
        const estimate = Math.max(0, top.offset + grown + this.expectedGrowth() - step);
        target = estimate > target ? estimate : target + M;
        continue;
      }
      if (page.full && bottom === this.coveredTop) {
        // Inside the cursor's group, a page connects through a member whose position is known.
        const inGroup = this.group?.at === bottom && this.connects(page);
        if (!inGroup && jumped !== undefined) {
          // The jump missed the edge (arrivals or removals moved it): walk on from where it was.
          jumps = false;
          target = jumped;
          continue;
        }
        if (!inGroup) {
          const group = page.ts.filter((ts) => ts === bottom).length;
          if (group < P - 1) {
            // The page ends inside the coveredTop group: re-read it so the group sits inside the page.
            target = target + (P - group - 1);
            continue;
          }
          if (!this.sharesIds(page, top, bottom)) {
            target = target + M;
            continue;
          }
        }
        this.bigAt = bottom;
        this.deps.logger.warn(
          'More alerts share one createdAt than fit in a page; relying on a stable order',
          {
            createdAt: new Date(bottom).toISOString(),
          },
        );
      }
      if (page.offset === 0) this.coveredTop = Number.POSITIVE_INFINITY;
      if (first(page) >= this.coveredTop) {
        if (this.coveredTop !== Number.POSITIVE_INFINITY) this.coveredTop = first(page);
        top = page;
      }
      this.follow();
      this.track(page);
      if (!(await this.publishEligible(this.coveredTop === Number.POSITIVE_INFINITY))) return;
      const shift =
        top.filteredCount !== undefined && page.filteredCount !== undefined
          ? page.filteredCount - top.filteredCount
          : 0;
      target = Math.max(0, top.offset + Math.max(0, shift) + this.expectedGrowth() - step);
      const edge = jumps ? this.edgeTarget(top, Math.max(0, shift)) : undefined;
      if (edge !== undefined && edge < target) {
        unlessMissed = target;
        target = edge;
      }
    }
    // Out of budget: what is proven complete still goes out, and inside a group larger than a page so
    // do its members read so far, or the next run would read the same pages again and never get past it.
    if (this.bigAt === this.coveredTop) this.openGroup(this.coveredTop);
    if (await this.publishEligible(true)) await this.keepCoverage(top);
  }

  /** Without a group cursor, positions are kept for the coveredTop millisecond, from its deepest member. */
  private follow(): void {
    if (this.group || !Number.isFinite(this.coveredTop) || this.tracker?.at === this.coveredTop) return;
    this.tracker = { at: this.coveredTop, pos: new Map(), ids: new Map() };
  }

  /**
   * Positions the tracked millisecond's members in an accepted page: from a member already placed
   * (pages of the walk overlap; a restored cursor places its edge), else from the group's deepest
   * member when the page holds it (an older alert follows it, or the list ends).
   */
  private track(page: Page): void {
    const tracker = this.tracker;
    if (!tracker) return;
    const lo = page.ts.indexOf(tracker.at);
    if (lo < 0) return;
    let hi = lo;
    while (hi + 1 < page.ts.length && page.ts[hi + 1] === tracker.at) hi++;
    let deepest: number | undefined;
    for (let i = lo; i <= hi && deepest === undefined; i++) {
      const key = alertKey(page.alerts[i]!);
      const position = key === undefined ? undefined : tracker.pos.get(key);
      if (position !== undefined) deepest = position - (hi - i);
    }
    if (deepest === undefined && (hi < page.ts.length - 1 || !page.full)) deepest = 0;
    if (deepest === undefined) return;
    for (let i = hi; i >= lo; i--) {
      const alert = page.alerts[i]!;
      const key = alertKey(alert);
      if (key === undefined) continue;
      const position = deepest + (hi - i);
      tracker.pos.set(key, position);
      tracker.ids.set(position, storedId(alert, key));
      this.place(key, position);
    }
  }

  /**
   * In the cursor's millisecond, a member below where this run resumed is done; one above it gets its
   * rank. (What this run publishes itself is known by id.)
   */
  private place(key: string, position: number): void {
    if (!this.group || this.group.at !== this.tracker?.at) return;
    if (position < this.group.resumed) {
      this.pending.delete(key);
      this.groupDone.add(key);
      return;
    }
    const candidate = this.pending.get(key);
    if (candidate) candidate.rank = position;
  }

  /**
   * A millisecond holding more alerts than a page that a run cannot finish gets a cursor: its members
   * read so far go out, and the next run resumes after the last of them instead of reading them again.
   */
  private openGroup(at: number): void {
    if (this.group || this.tracker?.at !== at) return;
    this.group = { at, passed: 0, resumed: 0 };
    for (const [key, position] of this.tracker.pos) this.place(key, position);
  }

  private connects(page: Page): boolean {
    const tracker = this.tracker;
    if (!tracker) return false;
    return page.alerts.some((alert, i) => {
      const key = alertKey(alert);
      return page.ts[i] === tracker.at && key !== undefined && tracker.pos.has(key);
    });
  }

  /**
   * When the walk is inside the cursor's group below its last done member (the edge), the offset of a
   * page that holds the edge a little above its bottom, so that nothing done is read again. Counted from
   * `top`'s newest member of the group, whose position is known.
   */
  private edgeTarget(top: Page, shift: number): number | undefined {
    const group = this.group;
    const tracker = this.tracker;
    if (!group || tracker?.at !== group.at || this.coveredTop !== group.at) return undefined;
    const lo = top.ts.indexOf(group.at);
    const key = lo < 0 ? undefined : alertKey(top.alerts[lo]!);
    const position = key === undefined ? undefined : tracker.pos.get(key);
    const edge = group.passed - 1;
    if (position === undefined || position >= edge - this.overlap) return undefined;
    const offset = top.offset + shift + this.expectedGrowth() + lo - (edge - position);
    return Math.max(0, offset - (this.pageSize - 2 * this.overlap));
  }

  /**
   * A run that stops early may have walked past alerts that were all published before (ids in R), so
   * no batch moved the floor: the next run would repeat the same reads and, with a small budget, never
   * get further. Everything below coveredTop is read and done, so the floor moves as if the newest of
   * them had just been published, and the checkpoint is saved.
   */
  private async keepCoverage(top: Page): Promise<void> {
    // Held alerts are not done: the floor must not pass them.
    if (
      this.coveredTop === Number.POSITIVE_INFINITY ||
      this.hasEligible() ||
      this.held.length > 0 ||
      this.undatedPending.size > 0
    )
      return;
    let newest = Number.NEGATIVE_INFINITY;
    for (const ts of top.ts) if (ts < this.coveredTop && ts > newest) newest = ts;
    if (newest === Number.NEGATIVE_INFINITY) return;
    const before = this.floor;
    this.raiseFloor(this.floorAfter(newest), this.coveredTop);
    if (this.floor !== before) await this.save();
  }

  /** The floor once every alert up to `newest` is done: W below it, or below the head read's newest. */
  private floorAfter(newest: number): number {
    const W = this.settings.overlapWindowMs;
    const visibleBelow = this.headTop === undefined ? newest : this.headTop - W;
    return Math.max(newest - W, Math.min(newest, visibleBelow));
  }

  /** Arrivals to allow for before the next read: the largest recent growth, so gaps stay rare. */
  private expectedGrowth(): number {
    return this.growth.length === 0
      ? 0
      : Math.min(Math.max(...this.growth), this.pageSize - 2 * this.overlap);
  }

  private sharesIds(page: Page, top: Page, ts: number): boolean {
    const keys = new Set<string>();
    top.alerts.forEach((alert, i) => {
      const key = alertKey(alert);
      if (key !== undefined && top.ts[i] === ts) keys.add(key);
    });
    return page.alerts.some((alert) => {
      const key = alertKey(alert);
      return key !== undefined && keys.has(key);
    });
  }

  // --- publishing -------------------------------------------------------------------------------

  private eligible(): Candidate[] {
    const list: Candidate[] = [];
    for (const candidate of this.pending.values()) if (this.isEligible(candidate)) list.push(candidate);
    return list.sort(oldestFirst);
  }

  private hasEligible(): boolean {
    for (const candidate of this.pending.values()) if (this.isEligible(candidate)) return true;
    return false;
  }

  /**
   * Below coveredTop; in the cursor's millisecond, only members whose position is known (read in
   * pages that connect to its done members), and already while the walk is inside it.
   */
  private isEligible(candidate: Candidate): boolean {
    if (this.heldKeys.has(candidate.key)) return false;
    if (this.group?.at === candidate.ts) {
      return candidate.rank !== undefined && this.coveredTop >= candidate.ts;
    }
    return candidate.ts < this.coveredTop;
  }

  /**
   * Publishes the eligible alerts oldest first: whole batches only, or everything when `flush`.
   * Returns false when the time limit stopped it.
   */
  private async publishEligible(flush: boolean): Promise<boolean> {
    // Undated alerts first: the batches below may move F past where they were read, and nothing but
    // this run's memory holds them.
    if (!(await this.publishUndated())) return false;
    const eligible = this.eligible();
    let next = 0;
    while (eligible.length - next >= MAX_ENTRIES_PER_CALL || (flush && next < eligible.length)) {
      if (this.publishingTimeUp()) return false;
      next += await this.publishBatch(eligible.slice(next, next + MAX_ENTRIES_PER_CALL));
    }
    return true;
  }

  /** Publishes a prefix of `candidates` that fits one PutEvents call; returns how many went out. */
  private async publishBatch(candidates: Candidate[]): Promise<number> {
    const prepared = await this.entriesFor(candidates);
    const { batch, details } = prepared;
    try {
      await this.send(prepared, (taken, dropped) => this.settle(batch, details, taken, dropped));
    } catch (error) {
      if (!(error instanceof RefusedWhole) || this.held.length >= MAX_HELD_BATCHES) throw error;
      // The next batches tell whether the bus refuses everything or only these alerts.
      this.held.push({ batch, details, refusals: error.refusals, error });
      for (const candidate of batch) this.heldKeys.add(candidate.key);
    }
    return batch.length;
  }

  /**
   * Publishes a prepared batch and records what the bus took with `record`. When it took part of the
   * batch before the rest failed for good, those are recorded (the next run must send only the others)
   * and the failure goes on.
   */
  private async send(
    { batch, entries, details }: PreparedBatch,
    record: (taken: ReadonlySet<number>, dropped: ReadonlySet<number>) => Promise<void>,
  ): Promise<void> {
    let dropped: Set<number>;
    try {
      dropped = await this.publishEntries(entries, details);
    } catch (error) {
      if (error instanceof PublishError && error.accepted.size > 0) await record(error.accepted, new Set());
      throw error;
    }
    await record(new Set(batch.keys()), dropped);
  }

  /** Whether the run's time is up for publishing; it then stops as at its time limit. */
  private publishingTimeUp(): boolean {
    if (this.clock() < this.deps.stopAt) return false;
    this.report.stoppedBy = 'time_limit';
    return true;
  }

  /** The longest prefix of `candidates` that fits one PutEvents call, as entries. */
  private async entriesFor(candidates: Candidate[]): Promise<PreparedBatch> {
    const entries: AlertEntry[] = [];
    const details: Record<string, unknown>[] = [];
    let bytes = 0;
    for (const candidate of candidates) {
      const name = await this.intelDocName(candidate.alert);
      const detail = alertDetail(candidate.alert, name);
      const entry = alertEntry(detail, this.entryOptions());
      const size = entrySize(entry);
      if (entries.length > 0 && bytes + size > MAX_REQUEST_BYTES) break;
      entries.push(entry);
      details.push(detail);
      bytes += size;
    }
    return { batch: candidates.slice(0, entries.length), entries, details };
  }

  /**
   * Publishes the alerts without a readable createdAt read so far: they have no place in the list, so
   * each is remembered by id instead and never moves the floor. Returns false when the time limit
   * stopped it.
   */
  private async publishUndated(): Promise<boolean> {
    if (this.undatedRefusal && !this.busTookAnEntry) return true;
    const waiting: Candidate[] = [...this.undatedPending].map(([key, alert]) => ({
      alert,
      key,
      ts: Number.NaN,
    }));
    for (let next = 0; next < waiting.length; ) {
      if (this.publishingTimeUp()) return false;
      const prepared = await this.entriesFor(waiting.slice(next, next + MAX_ENTRIES_PER_CALL));
      const { batch, details } = prepared;
      for (const candidate of batch) {
        this.deps.logger.warn(
          'Publishing an alert without a readable createdAt; it is remembered by its id',
          {
            alertId: candidate.alert.id,
            guid: candidate.alert.guid,
            createdAt: candidate.alert.createdAt,
          },
        );
      }
      try {
        await this.send(prepared, (taken, dropped) => this.settleUndated(batch, details, taken, dropped));
      } catch (error) {
        if (!(error instanceof RefusedWhole)) throw error;
        this.undatedRefusal = error;
        return true;
      }
      next += batch.length;
    }
    return true;
  }

  private async settleUndated(
    batch: Candidate[],
    details: Record<string, unknown>[],
    taken: ReadonlySet<number>,
    dropped: ReadonlySet<number>,
  ): Promise<void> {
    await this.countSettled(details, taken, dropped);
    for (const index of taken) {
      const { alert, key } = batch[index]!;
      this.rememberUndated(storedId(alert, key));
      this.undatedPending.delete(key);
    }
    this.report.undatedAlerts += taken.size - dropped.size;
    await this.save();
  }

  /** What settling any batch starts with: held batches dropped once the bus took one, and the counts. */
  private async countSettled(
    details: Record<string, unknown>[],
    taken: ReadonlySet<number>,
    dropped: ReadonlySet<number>,
  ): Promise<void> {
    // The bus took an alert after refusing the held ones: they are dropped, and done before this batch
    // raises the floor past them.
    if (taken.size > 0 && this.held.length > 0) await this.dropHeld();
    this.report.batches++;
    this.report.published += taken.size - dropped.size;
    this.report.unparseableDetails += details.filter(
      (detail, index) => detail.details_error !== undefined && taken.has(index) && !dropped.has(index),
    ).length;
  }

  /**
   * Records a batch the bus took (`taken`, by index: every entry but after a failure) and saves: R gets
   * every alert taken, and F rises only as far as the taken alerts below the first one not taken.
   */
  private async settle(
    batch: Candidate[],
    details: Record<string, unknown>[],
    taken: ReadonlySet<number>,
    dropped: ReadonlySet<number>,
  ): Promise<void> {
    await this.countSettled(details, taken, dropped);
    // The batch is sorted oldest first: below its first alert not taken, everything read is published.
    let newest = Number.NEGATIVE_INFINITY;
    let complete = true;
    batch.forEach((candidate, index) => {
      if (!taken.has(index)) {
        complete = false;
        return;
      }
      this.remember(storedId(candidate.alert, candidate.key), candidate.key, candidate.ts, complete);
      this.pending.delete(candidate.key);
      if (complete && candidate.ts > newest) newest = candidate.ts;
      if (this.newestPublishedAt === undefined || candidate.ts > this.newestPublishedAt)
        this.newestPublishedAt = candidate.ts;
    });
    if (newest !== Number.NEGATIVE_INFINITY) {
      // Everything read below `newest` is published (oldest first). The window W stays open only near
      // the top of the list: an alert older than (newest at the head read − W) was visible before this
      // walk.
      const W = this.settings.overlapWindowMs;
      const visibleBelow = this.headTop === undefined ? newest : this.headTop - W;
      this.raiseFloor(Math.max(newest - W, Math.min(newest, visibleBelow)), newest);
    }
    await this.save();
  }

  private entryOptions() {
    return { source: this.settings.source, detailType: this.settings.detailType };
  }

  /**
   * Publishes one batch. An entry EventBridge refuses for its content goes again with the alert's
   * identifying fields only; one refused even so is dropped (logged with its id) so that it cannot stop
   * every later alert, but only once the bus has taken some entry in this run: when it takes none, the
   * bus is the likelier cause, and the run fails with nothing dropped. Returns the indexes of the dropped
   * alerts; they still count as done.
   */
  private async publishEntries(
    entries: AlertEntry[],
    details: Record<string, unknown>[],
  ): Promise<Set<number>> {
    /** `position` maps an index into `sent` to one into `entries`; `taken`: entries already published. */
    const send = async (sent: AlertEntry[], position: (index: number) => number, taken: number[]) => {
      let outcome: PublishOutcome;
      try {
        outcome = await this.deps.publisher.publish(sent);
      } catch (error) {
        const accepted = new Set(taken);
        if (error instanceof UnpublishedEntriesError) {
          this.report.putEventsCalls += error.calls;
          for (const index of error.accepted) accepted.add(position(index));
          if (error.accepted.length > 0) this.busTookAnEntry = true;
          // Taken in their reduced form (the second call): counted as such, like the reduced ones of a
          // batch that goes through.
          if (sent !== entries) this.report.reducedAlerts += error.accepted.length;
        }
        throw new PublishError(toTaniumError(error), accepted);
      }
      this.report.putEventsCalls += outcome.calls;
      if (outcome.refused.length < sent.length) this.busTookAnEntry = true;
      return outcome.refused;
    };
    const identity = (index: number) => alertIdentity(details[index] ?? {});
    const refused = await send(entries, (index) => index, []);
    if (refused.length === 0) return new Set();
    for (const refusal of refused) {
      this.deps.logger.warn('EventBridge refused an alert event; publishing its identifying fields only', {
        ...identity(refusal.index),
        code: refusal.code,
        error: refusal.message,
      });
    }
    const reduced = refused.map((refusal) =>
      reducedAlertEntry(details[refusal.index] ?? {}, REFUSED_OMITTED, this.entryOptions()),
    );
    // Indexes into `entries` of the alerts refused again, with both refusals.
    const wasRefused = new Set(refused.map((refusal) => refusal.index));
    const refusedAgain = (
      await send(
        reduced,
        (index) => refused[index]!.index,
        entries.flatMap((_, index) => (wasRefused.has(index) ? [] : [index])),
      )
    ).map((again) => ({
      index: refused[again.index]!.index,
      first: refused[again.index]!,
      again,
    }));
    if (refusedAgain.length > 0 && !this.busTookAnEntry) {
      // Nothing taken in this run, so every entry of the batch was refused twice.
      const { again } = refusedAgain[0]!;
      throw new RefusedWhole(
        new TaniumError(
          'transient',
          `EventBridge refused every alert event of this run, even reduced to identifying fields (${again.code}: ${again.message}); none was dropped. Check the bus and its rules`,
          { retryable: true },
        ),
        refusedAgain,
      );
    }
    this.logDropped(refusedAgain, details);
    const dropped = new Set(refusedAgain.map(({ index }) => index));
    this.report.reducedAlerts += refused.length - dropped.size;
    this.report.refusedAlerts += dropped.size;
    return dropped;
  }

  private logDropped(refusals: Refusal[], details: Record<string, unknown>[]): void {
    for (const { index, first, again } of refusals) {
      this.deps.logger.error('EventBridge refused an alert event even reduced; it is not published', {
        ...alertIdentity(details[index] ?? {}),
        code: again.code,
        error: again.message,
        firstCode: first.code,
        firstError: first.message,
      });
    }
  }

  /** Drops the held batches, oldest first, as publishEntries drops an alert refused even reduced. */
  private async dropHeld(): Promise<void> {
    const held = this.held.splice(0);
    this.heldKeys.clear();
    for (const { batch, details, refusals } of held) {
      this.logDropped(refusals, details);
      this.report.refusedAlerts += refusals.length;
      const all = new Set(batch.keys());
      await this.settle(batch, details, all, all);
    }
  }

  private async intelDocName(alert: Alert): Promise<string | undefined> {
    const { source } = this.deps;
    if (!this.settings.enrichIntelNames || !source.intelDocName) return undefined;
    const id = alert.intelDocId;
    if (id === undefined || id === null || id === '') return undefined;
    const key = String(id);
    if (this.intelNames.has(key)) return this.intelNames.get(key);
    // Cached even when it fails: one slow or missing intel doc must not cost a request per alert.
    this.intelNames.set(key, undefined);
    if (this.clock() >= this.deps.stopAt) return undefined;
    this.report.intelRequests++;
    try {
      const name = await source.intelDocName(key, this.deps.stopAt);
      this.intelNames.set(key, name);
      return name;
    } catch (error) {
      this.deps.logger.warn('Intel doc name lookup failed; alerts are published without it', {
        intelDocId: key,
        error: toTaniumError(error).message,
      });
      return undefined;
    }
  }
}

/**
 * A PutEvents failure that survived the retries: of the batch, only the entries in `accepted` (indexes
 * into it) went out, and only those are checkpointed.
 */
class PublishError extends TaniumError {
  constructor(
    cause: TaniumError,
    readonly accepted: ReadonlySet<number> = new Set(),
  ) {
    super(cause.kind, cause.message, { retryable: cause.retryable, cause });
    this.name = 'PublishError';
  }
}

/**
 * What a log line says to identify an alert: scalars only, since a log line holding a value nested
 * thousands deep would fail to serialise.
 */
function alertIdentity(detail: Record<string, unknown>) {
  return {
    alertId: scalarOrUndefined(detail.id),
    guid: scalarOrUndefined(detail.guid),
    createdAt: scalarOrUndefined(detail.createdAt),
  };
}

/** Every entry of a batch refused, even reduced, while the bus had taken nothing in the run. */
class RefusedWhole extends PublishError {
  constructor(
    cause: TaniumError,
    readonly refusals: Refusal[],
  ) {
    super(cause);
    this.name = 'RefusedWhole';
  }
}
