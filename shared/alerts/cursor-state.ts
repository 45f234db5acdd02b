import { unlessAborted } from '../config/unless-aborted.ts';
import type { RunContext } from './run-context.ts';
import type { AlertId, Checkpoint, RecentGroup } from './types.ts';

/**
 * Ids of published alerts without a readable createdAt kept in the checkpoint: far more than Tanium
 * should ever send, and small next to DynamoDB's 400 KB item.
 */
const UNDATED_MEMORY = 1000;

/**
 * Ids ahead of the clock `recent` keeps at most: about 230 KB of the state item's 400 KB even as guids
 * each in its own millisecond, beside a page's worth of others.
 */
const MAX_AHEAD_IDS = 4_000;

/** Positions of the members read of one millisecond, counted from its member deepest in the list. */
export interface GroupTrack {
  at: number;
  pos: Map<string, number>;
  ids: Map<number, AlertId>;
}

/**
 * Where the poller stands in the alert list (STATE in poller.ts): the checkpoint's floor F, recent ids R,
 * offset hints, group cursor G and undated ids U, the rules that move them, and their saving; with what
 * this run has read above the floor (coveredTop, headTop), which those rules depend on.
 */
export class CursorState {
  /** The checkpoint's version in the store: every save is fenced by it. */
  version = 0;
  floor = 0;
  /** R: the ids published at or above the floor, by createdAt, and the same as keys. */
  recent = new Map<number, AlertId[]>();
  recentKeys = new Set<string>();
  olderCount: number | undefined;
  /** Bounds on the number of filtered alerts older than the floor (see floor-search.ts). */
  olderMin = 0;
  olderMax = Number.POSITIVE_INFINITY;
  /** Without counts: the offset of the first alert below the floor is at least this (see floor-search.ts). */
  belowAtLeast = 0;
  newestPublishedAt: number | undefined;
  /** The millisecond larger than a page the walk is inside, and how many of its members are done. */
  group: { at: number; passed: number; resumed: number } | undefined;
  /** Positions in the cursor's millisecond, or else in the coveredTop one (it may turn out too big). */
  tracker: GroupTrack | undefined;
  /** Members of the cursor's millisecond known to be done: never candidates again. */
  readonly groupDone = new Set<string>();
  /** The time below which everything from the floor up was read in this run (∞ once offset 0 connects). */
  coveredTop = Number.NEGATIVE_INFINITY;
  /** createdAt of the newest alert at the head read. */
  headTop: number | undefined;
  /** Whether this run moved the floor past alerts stamped ahead, there being more than `recent` holds. */
  aheadDropped = false;
  /** Published alerts without a readable createdAt (Checkpoint.undated), oldest first, and their keys. */
  private undatedDone: AlertId[] = [];
  readonly undatedDoneKeys = new Set<string>();

  constructor(private readonly run: RunContext) {}

  restore(checkpoint: Checkpoint): void {
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

  /**
   * Records a published alert. `inOrder`: every alert read before it is published too; one that went out
   * past an alert the bus did not take (a partly failed batch) goes into R, since the group cursor would
   * count that alert as done with it.
   */
  remember(id: AlertId, key: string, ts: number, inOrder = true): void {
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
   * `newestInTime`: the newest of them at or before the clock, when an alert stamped ahead went out
   * with them. The walk reaches an alert stamped ahead before it has read all of a millisecond larger
   * than a page below it, so that millisecond is still the newest for the ids at or before the clock,
   * and its group is not done.
   */
  raiseFloor(floor: number, newest: number, newestInTime = newest): void {
    const before = this.floor;
    // Never past the real time minus W, nor past it at all by forgetting ids: alerts stamped ahead (a
    // Tanium clock stepped back, a wrong createdAt) would otherwise put every alert of the next hours
    // below the floor, skipped unseen. The ids above it stay in `recent`, and a done group stays, so
    // nothing is published twice.
    const present = this.run.now();
    const capped = Math.min(floor, present - this.run.settings.overlapWindowMs);
    if (capped > this.floor) this.floor = capped;
    if (this.group && this.group.at < newestInTime && this.group.at <= present) {
      // The whole group is done and holds more than a page: like R's own, it leaves no ids behind.
      this.floor = Math.max(this.floor, this.group.at + 1);
      // Members without a position were read only in pages off the walk: the cursor already had them.
      for (const [key, candidate] of this.run.pending)
        if (candidate.ts === this.group.at) this.run.pending.delete(key);
      this.group = undefined;
      this.tracker = undefined;
    }
    const { maxRecentIds, maxRequestsPerRun } = this.run.settings;
    const { windowIds } = this.run.paging;
    const limit = Math.min(maxRecentIds, windowIds);
    const drop = (ts: number) => {
      for (const id of this.recent.get(ts) ?? []) this.recentKeys.delete(String(id));
      this.recent.delete(ts);
    };
    const count = (ts: number) => this.recent.get(ts)?.length ?? 0;
    const times = [...this.recent.keys()].sort((a, b) => a - b);
    let ahead = 0;
    for (const ts of times) if (ts > present) ahead += count(ts);
    let behind = this.recentKeys.size - ahead;
    // At or before the clock: below the floor, ids go; past a page's worth, the oldest go and the floor
    // with them (never the newest millisecond, whose other members may still be unpublished).
    for (const ts of times) {
      if (ts > present) break;
      const below = ts < this.floor;
      if (!below && (behind <= limit || ts >= newestInTime)) break;
      if (!below) this.floor = ts + 1;
      behind -= count(ts);
      drop(ts);
    }
    // Ahead of the clock, ids are kept beyond that, costing requests rather than alerts, as long as half a
    // run's requests can read past all the ids kept and the state item holds them; beyond that the floor
    // passes the oldest, losing the alerts stamped below them: a run that could not read past them would
    // never reach the newest ones.
    // Not bounded by POLLER_MAX_RECENT_IDS, which only lowers the ids kept at or before the clock: with
    // those at that bound, two alerts stamped ahead would have the floor pass them.
    const readable = windowIds * Math.max(1, Math.floor(maxRequestsPerRun / 2));
    const aheadLimit = Math.min(MAX_AHEAD_IDS, Math.max(0, readable - behind));
    if (ahead > aheadLimit) {
      for (const ts of times) {
        if (!this.recent.has(ts) || ts <= present) continue;
        if (ahead <= aheadLimit || ts >= newest) break;
        ahead -= count(ts);
        this.floor = Math.max(this.floor, ts + 1);
        this.aheadDropped = true;
      }
      for (const ts of times) if (ts < this.floor) drop(ts);
    }
    if (this.floor !== before) {
      this.olderMin = 0;
      this.olderMax = Number.POSITIVE_INFINITY;
      this.belowAtLeast = 0;
    }
  }

  /** The floor once every alert up to `newest` is done: W below it, or below the head read's newest. */
  floorAfter(newest: number): number {
    const W = this.run.settings.overlapWindowMs;
    const visibleBelow = this.headTop === undefined ? newest : this.headTop - W;
    return Math.max(newest - W, Math.min(newest, visibleBelow));
  }

  /** Records a published alert without a readable createdAt, forgetting the oldest beyond UNDATED_MEMORY. */
  rememberUndated(id: AlertId): void {
    const key = String(id);
    if (this.undatedDoneKeys.has(key)) return;
    this.undatedDone.push(id);
    this.undatedDoneKeys.add(key);
    while (this.undatedDone.length > UNDATED_MEMORY)
      this.undatedDoneKeys.delete(String(this.undatedDone.shift()));
  }

  /** Whether the alert with this key is published, whether its createdAt reads now or not. */
  isDone(key: string): boolean {
    return this.recentKeys.has(key) || this.groupDone.has(key) || this.undatedDoneKeys.has(key);
  }

  /**
   * Saves the checkpoint, or throws the store signal's reason once it aborts: a store that ignores the
   * signal must not hold the run past the invocation's end, where nothing would report it.
   */
  async save(): Promise<void> {
    const { store, owner, storeSignal } = this.run.deps;
    this.version = await unlessAborted(
      store.save(owner, this.version, this.checkpoint(), storeSignal),
      storeSignal,
    );
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
    const belowAtLeast = this.belowAtLeastHint();
    if (belowAtLeast > 0) checkpoint.belowAtLeast = belowAtLeast;
    if (this.undatedDone.length > 0) checkpoint.undated = [...this.undatedDone];
    if (this.group) {
      const { at, passed } = this.group;
      const edge: AlertId[] = [];
      for (let position = passed - 1; position >= Math.max(0, passed - this.run.paging.overlap); position--) {
        const id = this.tracker?.ids.get(position);
        if (id === undefined) break;
        edge.unshift(id);
      }
      checkpoint.group = { at, passed, edge };
    }
    return checkpoint;
  }

  /**
   * Without counts, how deep the first alert below the floor was at least, from the latest page that
   * shows it: the dated alerts down to its last one at or above the floor. Arrivals only push it deeper,
   * so the next run's search reads just below it first instead of doubling its way down from the head
   * again after every run that raised the floor (a backlog drained at a few requests a run took three
   * times the runs it takes with counts).
   */
  private belowAtLeastHint(): number {
    if (this.belowAtLeast > 0) return this.belowAtLeast;
    for (let i = this.run.pages.length - 1; i >= 0; i--) {
      const page = this.run.pages[i]!;
      // With counts the older-count hint finds the floor; a bound kept with them would outlive a prune.
      if (page.filteredCount !== undefined) return 0;
      let lastAbove = -1;
      for (let j = 0; j < page.ts.length; j++) {
        if (!page.dated[j]) continue;
        if (page.ts[j]! < this.floor) break;
        lastAbove = j;
      }
      if (lastAbove >= 0 && lastAbove < page.ts.length - 1) return page.offset + lastAbove + 1;
    }
    return 0;
  }

  /** Alerts older than the floor, from the latest page that shows where the floor falls. */
  private olderCountHint(): number | undefined {
    for (let i = this.run.pages.length - 1; i >= 0; i--) {
      const page = this.run.pages[i]!;
      if (page.filteredCount === undefined || page.alerts.length === 0) continue;
      const index = page.ts.findIndex((ts) => ts < this.floor);
      if (index > 0 || (index === 0 && page.offset === 0)) {
        return Math.max(0, page.filteredCount - (page.offset + index));
      }
      if (index === -1 && !page.full) return 0;
    }
    return this.olderCount;
  }
}
