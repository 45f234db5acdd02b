import { alertKey, storedId } from './alert-order.ts';
import { first, last, type Page } from './alert-page.ts';
import type { AlertReader } from './alert-reader.ts';
import type { BatchPublisher } from './batch-publisher.ts';
import type { CursorState } from './cursor-state.ts';
import type { RunContext } from './run-context.ts';

/**
 * Step 4 of a run (poller.ts): from a page that straddles the floor toward offset 0, with pages that
 * connect to what was read, publishing as coverage grows; with the positions of the members of a
 * millisecond larger than a page, which the group cursor needs.
 */
export class WalkUp {
  /** A millisecond seen to hold more alerts than a page in this walk (it gets a cursor if left unfinished). */
  private bigAt: number | undefined;

  constructor(
    private readonly run: RunContext,
    private readonly reader: AlertReader,
    private readonly cursor: CursorState,
    private readonly publisher: BatchPublisher,
  ) {}

  /** Walks toward offset 0 from a page that straddles the floor, publishing as coverage grows. */
  async walkUp(start: Page): Promise<void> {
    const P = this.run.paging.size;
    const M = this.run.paging.overlap;
    const step = P - M;
    let top = start;
    this.cursor.coveredTop =
      start.offset === 0 || start.alerts.length === 0 ? Number.POSITIVE_INFINITY : first(start);
    this.follow();
    this.track(start);
    if (!(await this.publisher.publishEligible(this.cursor.coveredTop === Number.POSITIVE_INFINITY))) return;
    let target = Math.max(0, top.offset - step);
    /** Where the walk goes on if a jump to the group cursor's edge does not land on it. */
    let unlessMissed: number | undefined;
    let jumps = true;
    /** The shallowest offset this walk read past the list's end, while nothing since says it grew. */
    let beyond: number | undefined;
    /** How much deeper the next gap read goes when the estimate says nothing new: doubles each time. */
    let gapStep = M;
    /** Reads since `top` was read, over which its alerts moved down by what arrived. */
    let readsSinceTop = 0;
    const moveTop = (page: Page) => {
      if (page.filteredCount === undefined) this.measureGrowth(top, page, readsSinceTop);
      top = page;
      readsSinceTop = 0;
    };
    while (this.cursor.coveredTop !== Number.POSITIVE_INFINITY) {
      if (!this.reader.budgetLeft()) break;
      const page = await this.reader.readInTime(target);
      if (!page) break;
      readsSinceTop++;
      const jumped = unlessMissed;
      unlessMissed = undefined;
      const grown =
        top.filteredCount !== undefined && page.filteredCount !== undefined
          ? page.filteredCount - top.filteredCount
          : 0;
      if (page.alerts.length === 0) {
        // Pruning shortened the list below `target`: read its end instead (a short page connects).
        beyond = Math.min(beyond ?? page.offset, page.offset);
        const end = page.filteredCount;
        target = end !== undefined && end - step < target ? Math.max(0, end - step) : Math.floor(target / 2);
        continue;
      }
      if (beyond !== undefined && page.offset + page.alerts.length > beyond) beyond = undefined;
      if (Number.isNaN(first(page)) && page.offset > 0) {
        // Only undated alerts, which sort first: nothing dated to connect by, and nothing dated missed
        // (addCandidates took the undated ones). The walk goes on up through them, from this page when
        // it continues the undated alerts that lead `top` (a block of them inside the list).
        if (linksThroughUndated(page, top, P)) moveTop(page);
        target = Math.max(0, page.offset - step);
        continue;
      }
      const bottom = last(page);
      if (page.full && bottom > this.cursor.coveredTop && !linksThroughUndated(page, top, P)) {
        // A gap: arrivals pushed the alerts we need below this page. Read deeper, by twice as much each
        // time the estimate says nothing new: a step of M a read never reaches them while more than M
        // arrive a read.
        const estimate = Math.max(0, top.offset + grown + this.reader.expectedGrowth() - step);
        if (estimate > target) target = estimate;
        else {
          target += gapStep;
          gapStep = Math.min(2 * gapStep, step);
        }
        // Counted from a `top` read before the list shrank, the estimate can lie past its end, which the
        // walk would halve back to here, and so on until the run's requests ran out: halve between them.
        if (beyond !== undefined && target >= beyond) target = Math.floor((page.offset + beyond) / 2);
        continue;
      }
      gapStep = M;
      if (page.full && bottom === this.cursor.coveredTop) {
        // Inside the cursor's group, a page connects through a member whose position is known.
        const inGroup = this.cursor.group?.at === bottom && this.connects(page);
        if (!inGroup && jumped !== undefined) {
          // The jump missed the edge (arrivals or removals moved it): walk on from where it was.
          jumps = false;
          target = jumped;
          continue;
        }
        if (!inGroup) {
          const group = page.ts.filter((ts) => ts === bottom).length;
          // Undated alerts right above the group go with it: one leading the re-read page would take
          // the group's time, so coveredTop would not move, and the walk would step back up to this
          // page and back down again until the run's requests ran out, every run.
          const undated = undatedAbove(page, page.ts.length - group);
          if (group + undated < P - 1) {
            // The page ends inside the coveredTop group: re-read it so the group sits inside the page,
            // below a dated alert.
            target = target + (P - group - undated - 1);
            continue;
          }
          if (!this.sharesIds(page, top, bottom)) {
            target = target + M;
            continue;
          }
        }
        this.bigAt = bottom;
        this.run.deps.logger.warn(
          'More alerts share one createdAt than fit in a page; relying on a stable order',
          {
            createdAt: new Date(bottom).toISOString(),
          },
        );
      }
      if (page.offset === 0) this.cursor.coveredTop = Number.POSITIVE_INFINITY;
      // A page wholly below coveredTop holds nothing new: alerts above the walk left the list (they stopped
      // matching a state filter, say) and everything moved up.
      const rises = first(page) >= this.cursor.coveredTop;
      if (rises) {
        if (this.cursor.coveredTop !== Number.POSITIVE_INFINITY) this.cursor.coveredTop = first(page);
        moveTop(page);
      }
      this.follow();
      this.track(page);
      if (!(await this.publisher.publishEligible(this.cursor.coveredTop === Number.POSITIVE_INFINITY)))
        return;
      if (await this.retireGroup()) {
        this.follow();
        this.track(page);
      }
      const shift =
        top.filteredCount !== undefined && page.filteredCount !== undefined
          ? page.filteredCount - top.filteredCount
          : 0;
      target = Math.max(0, top.offset + Math.max(0, shift) + this.reader.expectedGrowth() - step);
      // Counted from `top`, the next read would be this one again, every time until the run's requests
      // ran out: go on up from this page, which overlaps the next by M.
      if (!rises) target = Math.max(0, Math.min(target, page.offset - step));
      const edge = jumps ? this.edgeTarget(top, Math.max(0, shift)) : undefined;
      if (edge !== undefined && edge < target) {
        unlessMissed = target;
        target = edge;
      }
    }
    // Out of budget: what is proven complete still goes out, and inside a group larger than a page so
    // do its members read so far, or the next run would read the same pages again and never get past it.
    if (this.bigAt === this.cursor.coveredTop) this.openGroup(this.cursor.coveredTop);
    if (await this.publisher.publishEligible(true)) await this.keepCoverage(top);
  }

  /**
   * Without counts, what arrived while the walk read from `top` to `page`: how far the first alert of
   * `top` with an id moved down, a read's share of it, for the reader to allow for before the next read.
   * Without it, arrivals of more than the overlap a read would open a gap above every page the walk read.
   */
  private measureGrowth(top: Page, page: Page, reads: number): void {
    const from = top.alerts.findIndex((alert) => alertKey(alert) !== undefined);
    if (from < 0) return;
    const key = alertKey(top.alerts[from]!);
    const to = page.alerts.findIndex((alert) => alertKey(alert) === key);
    // Not in the page: the page reached above it only, or the alert left the list.
    if (to < 0) return;
    this.reader.noteGrowth(Math.round((page.offset + to - (top.offset + from)) / reads));
  }

  /**
   * The group cursor's millisecond is done once the walk has risen above it with all of it out, as when
   * a newer alert goes out (raiseFloor). Waiting for one deadlocks when the next millisecond is itself
   * larger than a page and the run ends inside it: nothing newer goes out, that millisecond can get no
   * cursor (nor positions) while this one holds it, and every later run walks the same pages again.
   */
  private async retireGroup(): Promise<boolean> {
    const group = this.cursor.group;
    if (
      !group ||
      !(this.cursor.coveredTop > group.at) ||
      this.publisher.hasEligible() ||
      this.publisher.heldFailure() !== undefined ||
      this.run.undatedPending.size > 0
    )
      return false;
    this.cursor.raiseFloor(this.cursor.floor, group.at + 1);
    if (this.cursor.group) return false;
    await this.cursor.save();
    return true;
  }

  /** Without a group cursor, positions are kept for the coveredTop millisecond, from its deepest member. */
  private follow(): void {
    if (
      this.cursor.group ||
      !Number.isFinite(this.cursor.coveredTop) ||
      this.cursor.tracker?.at === this.cursor.coveredTop
    )
      return;
    this.cursor.tracker = { at: this.cursor.coveredTop, pos: new Map(), ids: new Map() };
  }

  /**
   * Positions the tracked millisecond's members in an accepted page: from a member already placed
   * (pages of the walk overlap; a restored cursor places its edge), else from the group's deepest
   * member when the page holds it (an older alert follows it, or the list ends).
   */
  private track(page: Page): void {
    const tracker = this.cursor.tracker;
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
    if (!this.cursor.group || this.cursor.group.at !== this.cursor.tracker?.at) return;
    if (position < this.cursor.group.resumed) {
      this.run.pending.delete(key);
      this.cursor.groupDone.add(key);
      return;
    }
    const candidate = this.run.pending.get(key);
    if (candidate) candidate.rank = position;
  }

  /**
   * A millisecond holding more alerts than a page that a run cannot finish gets a cursor: its members
   * read so far go out, and the next run resumes after the last of them instead of reading them again.
   */
  private openGroup(at: number): void {
    if (this.cursor.group || this.cursor.tracker?.at !== at) return;
    this.cursor.group = { at, passed: 0, resumed: 0 };
    for (const [key, position] of this.cursor.tracker.pos) this.place(key, position);
  }

  private connects(page: Page): boolean {
    const tracker = this.cursor.tracker;
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
    const group = this.cursor.group;
    const tracker = this.cursor.tracker;
    if (!group || tracker?.at !== group.at || this.cursor.coveredTop !== group.at) return undefined;
    const lo = top.ts.indexOf(group.at);
    const key = lo < 0 ? undefined : alertKey(top.alerts[lo]!);
    const position = key === undefined ? undefined : tracker.pos.get(key);
    const edge = group.passed - 1;
    if (position === undefined || position >= edge - this.run.paging.overlap) return undefined;
    const offset = top.offset + shift + this.reader.expectedGrowth() + lo - (edge - position);
    return Math.max(0, offset - (this.run.paging.size - 2 * this.run.paging.overlap));
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
      this.cursor.coveredTop === Number.POSITIVE_INFINITY ||
      this.publisher.hasEligible() ||
      this.publisher.heldFailure() !== undefined ||
      this.run.undatedPending.size > 0
    )
      return;
    let newest = Number.NEGATIVE_INFINITY;
    for (const ts of top.ts) if (ts < this.cursor.coveredTop && ts > newest) newest = ts;
    if (newest === Number.NEGATIVE_INFINITY) return;
    const before = this.cursor.floor;
    this.cursor.raiseFloor(this.cursor.floorAfter(newest), this.cursor.coveredTop);
    if (this.cursor.floor !== before) await this.cursor.save();
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
}

/**
 * Whether the page ends in undated alerts that include one of those leading `top`, together a run of
 * at least P - 1: then only undated alerts lie between its last dated alert and top's first, and no
 * page could hold both with a dated alert above, so it connects although its bottom borrowed a time
 * above coveredTop. A shorter run is not linked: it may sit inside a group of equal createdAt whose
 * order changes between requests (a dated member could pass from above the shared alert to below it);
 * the walk re-reads deeper, as for any gap, until the page holds top's first dated alert.
 */
function linksThroughUndated(page: Page, top: Page, P: number): boolean {
  const run = new Set<string>();
  for (let i = 0; i < top.alerts.length && !top.dated[i]; i++) {
    const key = alertKey(top.alerts[i]!);
    if (key !== undefined) run.add(key);
  }
  if (run.size === 0) return false;
  let shared = false;
  for (let i = page.alerts.length - 1; i >= 0 && !page.dated[i]; i--) {
    const key = alertKey(page.alerts[i]!);
    if (key === undefined) continue;
    if (run.has(key)) shared = true;
    else run.add(key);
  }
  return shared && run.size >= P - 1;
}

/** How many undated alerts lie right above index `end` of the page. */
function undatedAbove(page: Page, end: number): number {
  let count = 0;
  while (end - count - 1 >= 0 && !page.dated[end - count - 1]) count++;
  return count;
}
