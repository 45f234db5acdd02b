import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../../shared/alerts/alert-order.ts';
import { Paging } from '../../../shared/alerts/alert-page.ts';
import { CursorState } from '../../../shared/alerts/cursor-state.ts';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import { emptyRunReport } from '../../../shared/alerts/poller.ts';
import type { RunContext } from '../../../shared/alerts/run-context.ts';
import type { AlertId, Checkpoint, PollerSettings } from '../../../shared/alerts/types.ts';
import { CapturePublisher, FakeAlerts, settings, silentLogger, T0 } from './fake-alerts.ts';

/*
 * CursorState on its own: the rules that move the floor F, recent R and the group cursor G (poller.ts's
 * STATE), at their edges. The poller tests reach these rules only through whole runs; here each one is
 * pinned directly, so a wrong comparison or bound shows as the rule it breaks.
 */

const NOW = T0;
/** The overlap window W of `settings()`. */
const W = 60_000;
/** Well below everything the tests publish: a checkpoint's floor that leaves all their ids above it. */
const LOW = NOW - 100 * W;
const OWNER = 'run-1';

/**
 * A cursor on a run whose clock reads NOW. With the page size of 50, a page keeps 5 ids of overlap on
 * each side, so `recent` holds at most 40 ids at or before the clock (Paging.windowIds).
 */
function cursor(overrides: Partial<PollerSettings> = {}): {
  state: CursorState;
  run: RunContext;
  store: MemoryStateStore;
} {
  const chosen = settings({ pageSize: 50, overlapWindowMs: W, ...overrides });
  const store = new MemoryStateStore();
  const run: RunContext = {
    deps: {
      source: new FakeAlerts(),
      store,
      publisher: new CapturePublisher(),
      logger: silentLogger,
      owner: OWNER,
      stopAt: NOW + 60_000,
      leaseUntil: NOW + 120_000,
    },
    settings: chosen,
    now: () => NOW,
    clock: () => NOW,
    report: emptyRunReport(),
    paging: new Paging(chosen.pageSize),
    pages: [],
    pending: new Map(),
    undatedPending: new Map(),
  };
  return { state: new CursorState(run), run, store };
}

/** `count` ids from `from` on, as numbers. */
function ids(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** Records ids published at `ts`, in order, the way the publisher does. */
function publish(state: CursorState, ts: number, published: AlertId[]): void {
  for (const id of published) state.remember(id, String(id), ts);
}

/** `recent` as [ms, ids] pairs, oldest first, to compare whole. */
function recentOf(state: CursorState): Array<[number, AlertId[]]> {
  return [...state.recent.entries()].sort((a, b) => a[0] - b[0]);
}

/** A read alert not yet published, at `ts`. */
function candidate(id: number, ts: number): Candidate {
  return { alert: { id, createdAt: new Date(ts).toISOString() }, key: String(id), ts };
}

/** What `save` writes, read back from the store. */
async function saved(state: CursorState, store: MemoryStateStore): Promise<Checkpoint | undefined> {
  await store.acquire(OWNER, NOW + 120_000, NOW);
  await state.save();
  return store.checkpoint;
}

describe('CursorState.restore', () => {
  it('starts as a first run: nothing restored, nothing done', () => {
    const { state } = cursor();
    expect([state.floor, state.recent.size, state.aheadDropped]).toEqual([0, 0, false]);
  });

  it('takes the floor, the recent ids (done, by key), the search hints and the undated ids', async () => {
    const { state, store } = cursor();
    state.restore({
      floor: LOW,
      recent: [
        [LOW + 10, [1, 'guid-2']],
        [LOW + 20, [3]],
      ],
      olderCount: 7,
      olderBounds: [2, 9],
      belowAtLeast: 40,
      newestPublishedAt: LOW + 20,
      undated: ['u-1', 4],
    });

    expect(state.floor).toBe(LOW);
    expect(recentOf(state)).toEqual([
      [LOW + 10, [1, 'guid-2']],
      [LOW + 20, [3]],
    ]);
    // Numeric ids are matched by the same string key as the alerts read.
    expect([...state.recentKeys]).toEqual(['1', 'guid-2', '3']);
    expect([state.olderCount, state.olderMin, state.olderMax, state.belowAtLeast]).toEqual([7, 2, 9, 40]);
    expect(state.newestPublishedAt).toBe(LOW + 20);
    expect(['u-1', '4'].map((key) => state.isDone(key))).toEqual([true, true]);
    expect(state.group).toBeUndefined();
    expect(state.tracker).toBeUndefined();
    // The undated ids go back out with the next save, oldest first.
    expect((await saved(state, store))?.undated).toEqual(['u-1', 4]);
  });

  it('keeps the defaults for the hints a checkpoint lacks', async () => {
    const { state, store } = cursor();
    state.restore({ floor: LOW, recent: [] });

    expect(state.olderCount).toBeUndefined();
    expect(state.olderMin).toBe(0);
    expect(state.olderMax).toBe(Number.POSITIVE_INFINITY);
    expect(state.belowAtLeast).toBe(0);
    expect(state.aheadDropped).toBe(false);
    // No undated ids were restored, so none are saved.
    expect((await saved(state, store))?.undated).toBeUndefined();
  });

  it("restores a group cursor at the floor, its edge done at the positions just below 'passed'", () => {
    const { state } = cursor();
    // The group sits exactly at the floor: its members are not below it, so the cursor still counts.
    state.restore({ floor: LOW, recent: [], group: { at: LOW, passed: 10, edge: [71, 72, 73] } });

    // `resumed` remembers where this run started inside the group (walk-up.ts).
    expect(state.group).toEqual({ at: LOW, passed: 10, resumed: 10 });
    expect(state.tracker?.at).toBe(LOW);
    // Positions count from the group's deepest member (0): the edge is the newest of the 10 done, 7 to 9.
    expect([...(state.tracker?.pos ?? [])]).toEqual([
      ['71', 7],
      ['72', 8],
      ['73', 9],
    ]);
    expect([...(state.tracker?.ids ?? [])]).toEqual([
      [7, 71],
      [8, 72],
      [9, 73],
    ]);
    expect(['71', '72', '73'].map((key) => state.isDone(key))).toEqual([true, true, true]);
  });

  it('drops a group cursor below the floor: everything there is done already', () => {
    const { state } = cursor();
    state.restore({ floor: LOW, recent: [], group: { at: LOW - 1, passed: 10, edge: [71] } });

    expect(state.group).toBeUndefined();
    expect(state.tracker).toBeUndefined();
    expect(state.isDone('71')).toBe(false);
  });
});

describe('CursorState.remember', () => {
  it('adds published ids to recent by millisecond, as done keys', () => {
    const { state } = cursor();
    publish(state, LOW + 10, [1, 2]);
    publish(state, LOW + 20, [3]);

    expect(recentOf(state)).toEqual([
      [LOW + 10, [1, 2]],
      [LOW + 20, [3]],
    ]);
    expect(['1', '2', '3'].map((key) => state.isDone(key))).toEqual([true, true, true]);
  });

  describe('inside a group cursor', () => {
    const G = LOW + 100;

    /** A cursor with 3 members of G done (ids 1-3) and ids 8 and 9 read at positions 5 and 6 above them. */
    function inGroup(): CursorState {
      const { state } = cursor();
      state.restore({ floor: LOW, recent: [], group: { at: G, passed: 3, edge: [1, 2, 3] } });
      state.tracker?.pos.set('8', 5).set('9', 6);
      state.tracker?.ids.set(5, 8).set(6, 9);
      return state;
    }

    it('moves the cursor past a member published in list order, instead of adding it to recent', () => {
      const state = inGroup();
      state.remember(8, '8', G);

      // Everything up to position 5 is done: `passed` counts 6 members.
      expect(state.group?.passed).toBe(6);
      expect(state.isDone('8')).toBe(true);
      expect(state.recent.size).toBe(0);
      expect(state.recentKeys.has('8')).toBe(false);

      // A member below that is already covered: the cursor does not move back.
      state.remember(2, '2', G);
      expect(state.group?.passed).toBe(6);
      expect(state.recent.size).toBe(0);
    });

    it('adds a member published out of list order to recent: the cursor would pass an unpublished one', () => {
      const state = inGroup();
      state.remember(9, '9', G, false);

      expect(state.group?.passed).toBe(3);
      expect(recentOf(state)).toEqual([[G, [9]]]);
      expect(state.isDone('9')).toBe(true);
    });

    it('adds a member without a known position, or an id at another millisecond, to recent', () => {
      const state = inGroup();
      state.remember(20, '20', G);
      // Same key as a positioned member, but published at another time: not the group's member.
      state.remember(8, '8', G + 1);

      expect(state.group?.passed).toBe(3);
      expect(recentOf(state)).toEqual([
        [G, [20]],
        [G + 1, [8]],
      ]);
    });
  });

  it('uses recent when positions are kept but no group cursor exists (the walk still sizing a group)', () => {
    const { state } = cursor();
    state.tracker = { at: LOW + 5, pos: new Map([['8', 0]]), ids: new Map([[0, 8]]) };
    state.remember(8, '8', LOW + 5);

    expect(state.group).toBeUndefined();
    expect(recentOf(state)).toEqual([[LOW + 5, [8]]]);
  });
});

describe('CursorState.raiseFloor', () => {
  it('moves the floor up and forgets the ids below it, keeping those at it', () => {
    const { state } = cursor();
    state.restore({
      floor: LOW,
      recent: [
        [LOW + 1, [1]],
        [LOW + 2, [2, 3]],
        [LOW + 3, [4]],
      ],
    });
    state.raiseFloor(LOW + 2, LOW + 3);

    expect(state.floor).toBe(LOW + 2);
    expect(recentOf(state)).toEqual([
      [LOW + 2, [2, 3]],
      [LOW + 3, [4]],
    ]);
    expect(state.isDone('1')).toBe(false);
  });

  it('forgets the ids below a floor raised past them before it counts the page kept', () => {
    const { state } = cursor();
    publish(state, LOW + 1, ids(1, 30));
    publish(state, NOW - 3 * W, ids(101, 20));
    publish(state, NOW - 2 * W, ids(201, 20));
    state.raiseFloor(LOW + 10, NOW - 2 * W);

    // The floor is where it was raised to, not just past the ids it left behind; the 40 ids above it
    // are a page's worth, so they all stay.
    expect(state.floor).toBe(LOW + 10);
    expect(recentOf(state)).toEqual([
      [NOW - 3 * W, ids(101, 20)],
      [NOW - 2 * W, ids(201, 20)],
    ]);
  });

  it('never moves it past the clock minus W, however new the alert published', () => {
    // An alert stamped ahead must not put the next hours' alerts below the floor.
    const { state } = cursor();
    state.raiseFloor(NOW + 5_000, NOW + 5_000);
    expect(state.floor).toBe(NOW - W);
  });

  it('never lowers it', () => {
    const { state } = cursor();
    state.restore({ floor: NOW - W, recent: [] });
    state.raiseFloor(NOW - 2 * W, NOW - 2 * W);
    expect(state.floor).toBe(NOW - W);
  });

  it('forgets the floor search hints when the floor moves, and only then', () => {
    const { state } = cursor();
    state.restore({ floor: LOW, recent: [], olderCount: 7, olderBounds: [2, 9], belowAtLeast: 40 });

    // The same floor: where it sits in the list is still what the hints say.
    state.raiseFloor(LOW, LOW);
    expect([state.olderMin, state.olderMax, state.belowAtLeast]).toEqual([2, 9, 40]);

    state.raiseFloor(LOW + 1, LOW + 1);
    expect([state.olderMin, state.olderMax, state.belowAtLeast]).toEqual([0, Number.POSITIVE_INFINITY, 0]);
    // The count itself is a hint checked against the pages read (olderCountHint): it stays.
    expect(state.olderCount).toBe(7);
  });

  describe('a group cursor', () => {
    const G = NOW - 3 * W;

    function inGroup(at = G): { state: CursorState; run: RunContext } {
      const made = cursor();
      made.state.restore({ floor: LOW, recent: [], group: { at, passed: 3, edge: [1, 2, 3] } });
      return made;
    }

    it('is done once a newer alert is published: the floor passes it and its pending members go', () => {
      const { state, run } = inGroup();
      // Members read only in pages off the walk, and one newer alert still to publish.
      run.pending.set('50', candidate(50, G)).set('60', candidate(60, G + 1));
      state.raiseFloor(LOW, G + 1);

      expect(state.floor).toBe(G + 1);
      expect(state.group).toBeUndefined();
      expect(state.tracker).toBeUndefined();
      expect([...run.pending.keys()]).toEqual(['60']);
    });

    it('leaves a floor already above the group where it is', () => {
      const { state } = inGroup();
      state.raiseFloor(NOW - W, G + 1);

      expect(state.floor).toBe(NOW - W);
      expect(state.group).toBeUndefined();
    });

    it('stays while its own millisecond is the newest published', () => {
      const { state } = inGroup();
      state.raiseFloor(LOW, G);

      expect(state.floor).toBe(LOW);
      expect(state.group?.at).toBe(G);
    });

    it('stays when the only newer alert published is stamped ahead', () => {
      const { state } = inGroup();
      state.raiseFloor(LOW, NOW + 5_000, G);

      expect(state.floor).toBe(LOW);
      expect(state.group?.at).toBe(G);
    });

    it('is done at the clock, but stays while ahead of it', () => {
      // A group stamped ahead is not passed: the alerts of the coming moments would go below the floor.
      const atClock = inGroup(NOW);
      atClock.state.raiseFloor(LOW, NOW + 1);
      expect(atClock.state.group).toBeUndefined();
      expect(atClock.state.floor).toBe(NOW + 1);

      const ahead = inGroup(NOW + 1);
      ahead.state.raiseFloor(LOW, NOW + 2);
      expect(ahead.state.group?.at).toBe(NOW + 1);
      expect(ahead.state.floor).toBe(LOW);
    });
  });

  describe('at or before the clock, recent keeps about a page of ids', () => {
    const older: [number, AlertId[]] = [NOW - 3 * W, ids(1, 30)];
    const newer: [number, AlertId[]] = [NOW - 2 * W, ids(101, 20)];
    it.each([
      [
        'drops the oldest milliseconds past 40 ids, the floor with them',
        [older, newer],
        NOW - 3 * W + 1,
        [newer],
      ],
      ['keeps exactly 40', [[NOW - 3 * W, ids(1, 20)], newer], LOW, [[NOW - 3 * W, ids(1, 20)], newer]],
      // A partly failed batch can leave a newer millisecond in recent before an older one.
      ['goes by time, not by the order the ids were published in', [newer, older], NOW - 3 * W + 1, [newer]],
    ] as Array<[string, Array<[number, AlertId[]]>, number, Array<[number, AlertId[]]>]>)(
      '%s',
      (_case, published, floor, recent) => {
        const { state } = cursor();
        for (const [ts, batch] of published) publish(state, ts, batch);
        state.raiseFloor(LOW, NOW - 2 * W);

        expect(state.floor).toBe(floor);
        expect(recentOf(state)).toEqual(recent);
        // An id passed by the floor is no longer one the run counts as done.
        expect(state.isDone('1')).toBe(floor === LOW);
      },
    );

    it('never drops the newest millisecond, whose other members may still be unpublished', () => {
      const { state } = cursor();
      publish(state, NOW - 2 * W, ids(1, 50));
      state.raiseFloor(LOW, NOW - 2 * W);

      expect(state.floor).toBe(LOW);
      expect(state.recentKeys.size).toBe(50);
    });

    it('never drops the newest millisecond at or before the clock when an alert stamped ahead went out with it', () => {
      // The walk reached the alert stamped ahead, at the head of the list, before it had read all of the
      // millisecond larger than a page below it: that millisecond's other members may be unpublished.
      const { state } = cursor();
      publish(state, NOW - 2 * W, ids(1, 45));
      publish(state, NOW + 5_000, [900]);
      state.raiseFloor(LOW, NOW + 5_000, NOW - 2 * W);

      expect(state.floor).toBe(LOW);
      expect(recentOf(state)).toEqual([
        [NOW - 2 * W, ids(1, 45)],
        [NOW + 5_000, [900]],
      ]);
    });

    it('uses POLLER_MAX_RECENT_IDS when it is below the page', () => {
      const { state } = cursor({ maxRecentIds: 10 });
      publish(state, NOW - 3 * W, ids(1, 15));
      publish(state, NOW - 2 * W, ids(101, 5));
      state.raiseFloor(LOW, NOW - 2 * W);

      expect(state.floor).toBe(NOW - 3 * W + 1);
      expect(state.recentKeys.size).toBe(5);
    });

    it('counts the ids at the clock itself, and drops them too when not the newest', () => {
      const { state } = cursor();
      publish(state, NOW - 2 * W, ids(1, 5));
      publish(state, NOW, ids(101, 45));
      // 50 ids at or before the clock: both milliseconds go, being older than the newest published.
      state.raiseFloor(LOW, NOW + 10);

      expect(state.floor).toBe(NOW + 1);
      expect(state.recent.size).toBe(0);
    });

    it('counts the ids at the clock as at or before it, not ahead', () => {
      const { state } = cursor();
      publish(state, NOW - 2 * W, ids(1, 30));
      publish(state, NOW, ids(101, 15));
      state.raiseFloor(LOW, NOW);

      // 45 ids at or before the clock: the older millisecond goes.
      expect(state.floor).toBe(NOW - 2 * W + 1);
      expect(recentOf(state)).toEqual([[NOW, ids(101, 15)]]);
    });
  });

  describe('ahead of the clock, recent keeps what a run can read past', () => {
    it('keeps ids ahead beyond a page, without counting them against it', () => {
      const { state } = cursor();
      publish(state, NOW - 2 * W, ids(1, 30));
      publish(state, NOW + 1_000, ids(101, 30));
      state.raiseFloor(LOW, NOW + 2_000);

      expect(state.floor).toBe(LOW);
      expect(state.recentKeys.size).toBe(60);
      expect(state.aheadDropped).toBe(false);
    });

    it('passes the oldest ones past half the run’s requests’ worth, with the ids below them', () => {
      // Two requests a run: one page of 40 ids can be read past, less the 10 kept at the clock.
      const { state } = cursor({ maxRequestsPerRun: 2 });
      state.restore({ floor: LOW, recent: [], olderBounds: [2, 9] });
      publish(state, NOW, ids(1, 10));
      publish(state, NOW + 1_000, ids(101, 20));
      publish(state, NOW + 2_000, ids(201, 15));
      state.raiseFloor(LOW, NOW + 3_000);

      // 35 ids ahead > 30: the older 20 go, and the floor passes them and the 10 at the clock.
      expect(state.floor).toBe(NOW + 1_001);
      expect(recentOf(state)).toEqual([[NOW + 2_000, ids(201, 15)]]);
      expect(state.aheadDropped).toBe(true);
      expect(state.olderMin).toBe(0);
    });

    // Two requests a run: 30 ids can be read past (a page of 40 less the 10 kept at the clock).
    it.each([
      [
        'keeps exactly as many as a run can read past',
        15,
        15,
        LOW,
        [
          [NOW, ids(1, 10)],
          [NOW + 1_000, ids(101, 15)],
          [NOW + 2_000, ids(201, 15)],
        ],
        false,
      ],
      // 35 ids ahead: passing the oldest 5 (and the 10 at the clock below them) leaves exactly 30.
      [
        'stops passing them once what is left can be read past',
        5,
        30,
        NOW + 1_001,
        [[NOW + 2_000, ids(201, 30)]],
        true,
      ],
    ] as const)('%s', (_case, older, newer, floor, recent, dropped) => {
      const { state } = cursor({ maxRequestsPerRun: 2 });
      publish(state, NOW, ids(1, 10));
      publish(state, NOW + 1_000, ids(101, older));
      publish(state, NOW + 2_000, ids(201, newer));
      state.raiseFloor(LOW, NOW + 3_000);

      expect(state.floor).toBe(floor);
      expect(recentOf(state)).toEqual(recent);
      expect(state.aheadDropped).toBe(dropped);
    });

    it('reads a page per two requests, and at least one page', () => {
      // Four requests: two pages (80 ids) can be read past.
      const four = cursor({ maxRequestsPerRun: 4 });
      publish(four.state, NOW + 1_000, ids(1, 40));
      publish(four.state, NOW + 2_000, ids(101, 30));
      four.state.raiseFloor(LOW, NOW + 3_000);
      expect(four.state.recentKeys.size).toBe(70);

      // One request still reads one page past.
      const one = cursor({ maxRequestsPerRun: 1 });
      publish(one.state, NOW + 1_000, ids(1, 20));
      publish(one.state, NOW + 2_000, ids(101, 20));
      one.state.raiseFloor(LOW, NOW + 3_000);
      expect(one.state.recentKeys.size).toBe(40);
      expect(one.state.aheadDropped).toBe(false);
    });

    it('keeps at most 4000 however many requests a run has: the state item must hold them', () => {
      const { state } = cursor();
      publish(state, NOW + 1_000, ids(1, 4_001));
      publish(state, NOW + 2_000, [9_001]);
      state.raiseFloor(LOW, NOW + 2_000);

      expect(state.floor).toBe(NOW + 1_001);
      expect(recentOf(state)).toEqual([[NOW + 2_000, [9_001]]]);
      expect(state.aheadDropped).toBe(true);
    });

    it('never passes the newest millisecond, nor drops the ids at the floor', () => {
      const { state } = cursor({ maxRequestsPerRun: 2 });
      state.restore({ floor: NOW - 2 * W, recent: [[NOW - 2 * W, ids(1, 5)]] });
      publish(state, NOW + 1_000, ids(101, 50));
      state.raiseFloor(NOW - 2 * W, NOW + 1_000);

      expect(state.floor).toBe(NOW - 2 * W);
      expect(state.recentKeys.size).toBe(55);
      expect(state.aheadDropped).toBe(false);
    });
  });
});
