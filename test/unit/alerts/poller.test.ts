import { beforeEach, describe, expect, it } from 'vitest';
import { alertDetail, alertEntry, UNSERIALISABLE_OMITTED } from '../../../shared/alerts/alert-event.ts';
import { alertKey } from '../../../shared/alerts/alert-order.ts';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import type { PollerSettings, RunReport } from '../../../shared/alerts/types.ts';
import { entrySize } from '../../../shared/events/eventbridge-limits.ts';
import { DeadlineError, LoginError, TaniumError } from '../../../shared/tanium/errors.ts';
import { runsUntilCaughtUp } from '../../helpers/poller-runs.ts';
import {
  CapturePublisher,
  duplicates,
  type FakeAlert,
  FakeAlerts,
  pollFake,
  silentLogger,
  sorted,
  T0,
} from './fake-alerts.ts';

let tanium: FakeAlerts;
let store: MemoryStateStore;
let publisher: CapturePublisher;
let now: number;
let runs: number;

function poll(
  overrides: Partial<PollerSettings> = {},
  extra: { stopAt?: number; clock?: () => number } = {},
) {
  runs++;
  return pollFake({ tanium, store, publisher }, `run-${runs}`, () => now, overrides, extra);
}

/** Runs until the poller reports it is caught up (or `max` runs). */
function pollUntilCaughtUp(overrides: Partial<PollerSettings> = {}, max = 200): Promise<RunReport[]> {
  return runsUntilCaughtUp(() => poll(overrides), max);
}

/** Thirty alerts a second apart up to T0, all published. */
async function caughtUpAtT0(overrides: Partial<PollerSettings> = {}): Promise<void> {
  tanium.addSteady(30, 1000, T0);
  await pollUntilCaughtUp(overrides);
}

/** Caught up at T0, then the alerts `add` stamps ahead of the clock published, the clock at T0 + 1 s. */
async function publishedAhead(add: () => unknown, overrides: Partial<PollerSettings> = {}): Promise<void> {
  await caughtUpAtT0(overrides);
  add();
  now = T0 + 1000;
  await pollUntilCaughtUp(overrides);
}

/** Runs until caught up after an alert created `ageMs` before now becomes visible only 5 s later; it went out once. */
async function publishedOnceWhenLate(ageMs: number, overrides: Partial<PollerSettings> = {}): Promise<void> {
  const late = tanium.add(now - ageMs);
  now += 5000;
  await pollUntilCaughtUp(overrides);
  expect(publisher.ids.filter((id) => id === late.id)).toHaveLength(1);
  expect(duplicates(publisher.ids)).toEqual([]);
}

/**
 * A run in which the bus refuses `refused` fails and leaves the floor at `floor`, so the next run, the bus
 * working again, publishes that alert alone. Returns the next run's report.
 */
async function refusedKeptAboveFloor(
  refused: FakeAlert,
  floor: number,
  overrides: Partial<PollerSettings>,
): Promise<RunReport> {
  publisher.refuse = (detail) => detail.id === refused.id;
  const failed = await poll(overrides);
  const floorAfter = store.checkpoint?.floor;
  publisher.refuse = undefined;
  const next = await poll(overrides);
  expect(failed).toMatchObject({ status: 'failed', published: 0 });
  expect(floorAfter).toBe(floor);
  expect(next.published).toBe(1);
  expect(publisher.ids).toEqual([refused.id]);
  return next;
}

/**
 * An alert whose event is exactly `bytes` long as EventBridge counts it (`entrySize`, itself pinned to
 * the API's rule in test/unit/events/publisher.test.ts), padded inside its details.
 */
function alertOfSize(createdMs: number, bytes: number): FakeAlert {
  const alert = tanium.add(createdMs);
  const sizeWith = (padding: number) => {
    alert.details = JSON.stringify({
      match: { type: 'process', properties: { fullpath: 'C:\\a.exe', padding: 'x'.repeat(padding) } },
    });
    const { id, guid, createdAt, details } = alert;
    const detail = alertDetail({ id, guid, createdAt, state: 'unresolved', details });
    return entrySize(alertEntry(detail, { source: 'tanium.threat-response', detailType: 'Alert' }));
  };
  const padding = bytes - sizeWith(0);
  if (sizeWith(padding) !== bytes) throw new Error(`cannot make an event of ${bytes} bytes`);
  return alert;
}

function ids(alerts: FakeAlert[]): number[] {
  return sorted(alerts.map((a) => a.id));
}

beforeEach(() => {
  silentLogger.clear();
  tanium = new FakeAlerts();
  store = new MemoryStateStore();
  publisher = new CapturePublisher();
  now = T0;
  runs = 0;
});

describe('Alert poller: first run', () => {
  it('publishes nothing that exists when the first-run window is 0, then only later alerts', async () => {
    // Prepare
    tanium.addSteady(120, 1000, T0);
    // Act
    const first = await poll({ firstRunHours: 0 });
    const later = tanium.addSteady(5, 10, T0 + 5000);
    now = T0 + 10_000;
    const second = await poll({ firstRunHours: 0 });
    // Assess
    expect(first.published).toBe(0);
    expect(first.taniumRequests).toBe(1);
    expect(second.published).toBe(5);
    expect(sorted(publisher.ids)).toEqual(ids(later));
  });

  it("publishes the first alerts after a first run that saw none, although Tanium's clock is behind", async () => {
    // Prepare: no overlap window, and Tanium's clock 30 s behind this function's
    await poll({ firstRunHours: 0, overlapWindowMs: 0 });
    now = T0 + 5000;
    const added = tanium.add(now - 30_000);
    // Act
    const next = await poll({ firstRunHours: 0, overlapWindowMs: 0 });
    // Assess
    expect(next).toMatchObject({ status: 'caught_up', published: 1 });
    expect(publisher.ids).toEqual([added.id]);
  });

  it.each([
    ['saw alerts', true],
    ['saw none', false],
  ])(
    "publishes every alert after a first run that %s, with Tanium's clock 5 minutes behind",
    async (_case, seeded) => {
      // Prepare: the first run's floor comes from Tanium's newest alert, or allows for its clock lagging
      const skew = 300_000;
      if (seeded) tanium.addSteady(10, 1000, T0 - skew);
      await poll({ firstRunHours: 0 });
      const later: number[] = [];
      // Act
      for (let i = 1; i <= 6; i++) {
        now = T0 + i * 30_000;
        later.push(tanium.add(now - skew).id);
        await poll({ firstRunHours: 0 });
      }
      // Assess
      expect(sorted(publisher.ids)).toEqual(sorted(later));
    },
  );

  it('publishes only the alerts of the last N hours, oldest first', async () => {
    // Prepare
    const old = tanium.addSteady(30, 60_000, T0 - 3 * 3_600_000);
    const recent = tanium.addSteady(300, 20_000, T0);
    // Act
    await pollUntilCaughtUp({ firstRunHours: 2 });
    // Assess
    const inWindow = recent.filter((a) => a.createdMs >= T0 - 2 * 3_600_000);
    expect(sorted(publisher.ids)).toEqual(ids(inWindow));
    expect(publisher.ids).not.toContain(old[0]!.id);
    const times = publisher.details.map((d) => Date.parse(d.createdAt as string));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('publishes nothing and needs one request when Tanium has no alerts', async () => {
    // Act
    const report = await poll({ firstRunHours: 0 });
    const added = tanium.add(T0 + 1000);
    now = T0 + 5000;
    const next = await poll({ firstRunHours: 0 });
    // Assess
    expect(report).toMatchObject({ published: 0, taniumRequests: 1, status: 'caught_up' });
    expect(next.published).toBe(1);
    expect(publisher.ids).toEqual([added.id]);
  });

  it('reads only the head at a first run with a window of 0 on a short page when Tanium sends no count', async () => {
    // Prepare: whatever lies past a short page existed at this run, and none of it would go out
    tanium.omitFilteredCount = true;
    tanium.addSteady(20, 1000, T0);
    // Act
    const report = await poll({ firstRunHours: 0 });
    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 0, taniumRequests: 1 });
  });

  it('publishes nothing that exists when the window is 0 and a millisecond runs past the full head page', async () => {
    // Prepare: the head page ends inside a burst that goes on below it, older than W below the newest
    tanium.addBurst(10, T0 - 50_000);
    tanium.addSteady(45, 1000, T0);
    // Act
    await poll({ firstRunHours: 0 });
    const later = tanium.addSteady(3, 10, T0 + 5000);
    now = T0 + 10_000;
    await poll({ firstRunHours: 0 });
    // Assess
    expect(sorted(publisher.ids)).toEqual(ids(later));
  });

  it('publishes an alert that becomes visible late after a first run with a window of 0 on a short list', async () => {
    // Prepare: the whole list fits a page, so the floor stays W below its newest alert
    tanium.addSteady(5, 5000, T0);
    await poll({ firstRunHours: 0 });
    // Act and Assess
    await publishedOnceWhenLate(40_000);
  });

  it('keeps as done only the ids at or above the floor a first run with a window of 0 sets', async () => {
    // Prepare: a short list reaching 2 minutes below its newest alert, twice W
    const all = tanium.addSteady(5, 30_000, T0);
    // Act
    await poll({ firstRunHours: 0 });
    // Assess: the floor is W below the newest alert; the ids below it need no keeping
    expect(store.checkpoint!.floor).toBe(T0 - 60_000);
    const remembered = store.checkpoint!.recent.flatMap(([, group]) => group);
    expect(sorted(remembered as number[])).toEqual(ids(all.slice(-3)));
  });

  it('does not publish an alert created exactly W below the newest one at a first run with a window of 0', async () => {
    // Prepare
    tanium.add(T0 - 60_000);
    tanium.add(T0);
    // Act
    await poll({ firstRunHours: 0 });
    const later = tanium.add(T0 + 5000);
    now = T0 + 10_000;
    await poll({ firstRunHours: 0 });
    // Assess
    expect(publisher.ids).toEqual([later.id]);
  });

  it.for([
    // window 0: everything created since the first try, and the hour a lagging Tanium clock may need
    { hours: 0, from: T0 - 3_600_000 - 60_000 },
    // a window of N hours counts from the first try, however long the failures lasted
    { hours: 2, from: T0 - 2 * 3_600_000 },
  ])(
    'loses none of the alerts created while the first runs failed (window $hours)',
    async ({ hours, from }) => {
      // Prepare: alerts every 10 minutes for a day; the first runs (from T0 for 5 hours) all fail
      const settingsUsed = { firstRunHours: hours, overlapWindowMs: 60_000 };
      const all = tanium.addSteady(24 * 6 + 1, 600_000, T0 + 12 * 3_600_000);
      const failedRuns: RunReport[] = [];
      for (let hour = 0; hour < 5; hour++) {
        now = T0 + hour * 3_600_000;
        tanium.failing.add(tanium.requests + 1);
        failedRuns.push(await poll(settingsUsed));
      }

      // Act: Tanium answers again at T0 + 12 h
      now = T0 + 12 * 3_600_000;
      await pollUntilCaughtUp(settingsUsed);

      // Assess: every alert from the first try's window on, each once, and none older
      expect(failedRuns.map((r) => r.status)).toEqual(Array(5).fill('failed'));
      expect(store.saves).toBeGreaterThan(0);
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(ids(all.filter((a) => a.createdMs >= from)));
    },
  );

  it('counts a first run that failed only once it took the lease: a skipped one does not move the window', async () => {
    // Prepare: another run holds the lease at T0, so that run is skipped, not failed
    tanium.addSteady(6, 600_000, T0 + 3_600_000);
    store.leaseOwner = 'other';
    store.leaseUntil = Number.MAX_SAFE_INTEGER;
    const skipped = await poll({ firstRunHours: 0 });
    store.leaseOwner = undefined;
    store.leaseUntil = 0;

    // Act: the next run, an hour later, is the first to take the lease
    now = T0 + 3_600_000;
    const first = await poll({ firstRunHours: 0 });

    // Assess: it publishes none of what exists, as a first run with window 0 does
    expect(skipped.status).toBe('skipped');
    expect(silentLogger.infos).toContain('Another poller run holds the lease; skipping this run');
    expect(first.published).toBe(0);
    expect(publisher.ids).toEqual([]);
  });

  it.each([
    {
      run: 'with a window of hours',
      hours: 2,
      triedAt: T0,
      message: 'First run: publishing the alerts of the last hours',
      fields: { hours: 2, floor: new Date(T0 - 2 * 3_600_000).toISOString() },
    },
    {
      run: 'with a window of 0',
      hours: 0,
      triedAt: T0,
      message: 'First run: existing alerts are not published',
      fields: { floor: new Date(T0 - 3_600_000 - 60_000).toISOString() },
    },
    {
      run: 'with a window of hours after failed ones',
      hours: 2,
      triedAt: T0 - 600_000,
      message: 'First run after failed ones: publishing the alerts since the first of them',
      fields: {
        hours: 2,
        firstTriedAt: new Date(T0 - 600_000).toISOString(),
        floor: new Date(T0 - 600_000 - 2 * 3_600_000).toISOString(),
      },
    },
    {
      run: 'with a window of 0 after failed ones',
      hours: 0,
      triedAt: T0 - 600_000,
      message: 'First run after failed ones: publishing the alerts since the first of them',
      fields: {
        hours: 0,
        firstTriedAt: new Date(T0 - 600_000).toISOString(),
        floor: new Date(T0 - 600_000 - 3_600_000 - 60_000).toISOString(),
      },
    },
  ])(
    'logs which first run it is and the floor it starts from ($run)',
    async ({ hours, triedAt, message, fields }) => {
      // Prepare: runs that failed before this one left when the first of them tried
      if (triedAt < T0) await store.noteTried(triedAt);
      // Act
      await poll({ firstRunHours: hours });
      // Assess: exactly one first-run line, which says where the floor went
      const firstRunLines = silentLogger.infos.flatMap((line, i) =>
        line.startsWith('First run') ? [{ line, fields: silentLogger.infoFields[i] }] : [],
      );
      expect(firstRunLines).toEqual([{ line: message, fields }]);
    },
  );

  it.each([
    { window: '0 h', hours: 0, seen: 'no alert' },
    { window: '0 h', hours: 0, seen: 'week-old alerts only' },
    { window: '2 h', hours: 2, seen: 'no alert' },
  ])(
    'does not publish alerts older than the first-run window that appear later (window $window, first run saw $seen)',
    async ({ hours, seen }) => {
      // Prepare: what the first run sees (say, with a state filter that every older alert fails)
      if (seen !== 'no alert') tanium.addSteady(5, 1000, T0 - 7 * 24 * 3_600_000);
      await poll({ firstRunHours: hours });
      // Act: alerts that existed at the first run start matching; one becomes visible late; one is new
      const threeDaysOld = tanium.add(T0 - 3 * 24 * 3_600_000);
      // Older than the hour a first run with window 0 allows for a Tanium clock that lags
      const earlier = tanium.add(T0 - 90 * 60_000);
      const lateVisible = tanium.add(T0 - 30_000);
      const later = tanium.add(T0 + 5000);
      now = T0 + 10_000;
      const next = await poll({ firstRunHours: hours });
      // Assess
      expect(next.status).toBe('caught_up');
      expect(publisher.ids).not.toContain(threeDaysOld.id);
      const expected = hours > 0 ? [earlier, lateVisible, later] : [lateVisible, later];
      expect(sorted(publisher.ids)).toEqual(ids(expected));
    },
  );
});

describe('Alert poller: steady state', () => {
  it('makes exactly one request per run when there are no new alerts', async () => {
    // Prepare
    tanium.addSteady(400, 1000, T0);
    await pollUntilCaughtUp();
    publisher.batches.length = 0;
    const saves = store.saves;
    // Act: the 60 s overlap window holds 60 alerts, more than the 50 of a page
    const reports = [await poll(), await poll(), await poll()];
    // Assess: nor a write to the state item, which keeps the ids of a page less two overlaps (40), the
    // floor right above the newest alert whose id it dropped
    expect(store.saves).toBe(saves);
    expect(store.checkpoint?.recent.flatMap(([, group]) => group)).toHaveLength(40);
    expect(store.checkpoint?.floor).toBe(T0 - 39_999);
    // and counts the alerts below the floor, which the next run's head read is checked against
    expect(store.checkpoint?.olderCount).toBe(360);
    expect(reports.map((r) => r.taniumRequests)).toEqual([1, 1, 1]);
    expect(reports.every((r) => r.status === 'caught_up' && r.published === 0)).toBe(true);
    expect(publisher.calls).toBeGreaterThan(0);
    expect(publisher.batches).toHaveLength(0);
  });

  it('keeps the floor W below the newest published alert, which an older late one does not lower', async () => {
    // Prepare
    await caughtUpAtT0();
    const caughtUp = store.checkpoint;
    // Act
    await publishedOnceWhenLate(40_000);
    // Assess
    expect(caughtUp).toMatchObject({ floor: T0 - 60_000, newestPublishedAt: T0, olderCount: 0 });
    expect(store.checkpoint?.newestPublishedAt).toBe(T0);
  });

  it('saves the ids of the checkpoint in createdAt order, a late alert among them', async () => {
    // Prepare
    await caughtUpAtT0();

    // Act: the late alert is published after newer ones
    await publishedOnceWhenLate(40_000);

    // Assess
    const times = store.checkpoint!.recent.map(([ts]) => ts);
    expect(times).toContain(T0 - 40_000);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('saves only the floor and the ids when a run knows nothing more', async () => {
    // Act: nothing to read, nothing published
    await poll();

    // Assess: no empty or undefined fields beside them
    expect(store.checkpoint).toStrictEqual({ floor: expect.any(Number), recent: [] });
  });

  it('publishes every alert of a steady arrival exactly once over many runs', async () => {
    // Prepare
    const expected: FakeAlert[] = [];
    // Act
    for (let minute = 0; minute < 30; minute++) {
      now = T0 + minute * 60_000;
      expected.push(...tanium.addSteady(7 + (minute % 5) * 3, 60_000 / 20, now));
      await poll({ firstRunHours: 1 });
    }
    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('batches PutEvents by 10 entries', async () => {
    // Prepare
    tanium.addSteady(35, 100, T0);
    // Act
    await poll();
    // Assess
    expect(publisher.batches.map((b) => b.length)).toEqual([10, 10, 10, 5]);
  });

  it('sends each full batch of 10 as soon as the walk has read it, before reading the next page', async () => {
    // Prepare: pages of 21 over a backlog of 60, so pages of the walk end with 10 or 20 alerts ready
    tanium.addSteady(60, 1000, T0);
    const publishedAtEachRead: number[] = [];
    tanium.beforeRequest = () => {
      publishedAtEachRead.push(publisher.ids.length);
    };
    // Act
    await poll({ pageSize: 21 });
    // Assess
    expect(publishedAtEachRead).toEqual([0, 0, 0, 10, 20, 40]);
    expect(publisher.batches.map((b) => b.length)).toEqual([10, 10, 10, 10, 10, 10]);
  });
});

describe('Alert poller: ties, order and arrivals', () => {
  it.each([
    [62_144, [3]],
    [62_145, [2, 1]],
  ])(
    'puts events in one PutEvents call up to 262,144 bytes in all (third event %i bytes)',
    async (third, batches) => {
      // Prepare: events of exactly 100,000, 100,000 and `third` bytes as EventBridge counts them
      const alerts = [100_000, 100_000, third].map((bytes, i) => alertOfSize(T0 - (3 - i) * 1000, bytes));
      // Act
      const report = await poll();
      // Assess
      expect(report.published).toBe(3);
      expect(publisher.batches.map((batch) => batch.length)).toEqual(batches);
      expect(publisher.callBytes[0]).toBe(batches[0] === 3 ? 262_144 : 200_000);
      expect(publisher.ids).toEqual(alerts.map((alert) => alert.id));
      expect(publisher.details.every((detail) => detail.details_omitted === undefined)).toBe(true);
    },
  );

  it('publishes every member of equal-createdAt bursts that straddle pages and runs', async () => {
    // Prepare
    tanium.tieOrder = 'shuffled';
    const expected = [
      ...tanium.addSteady(40, 1000, T0 - 10_000),
      ...tanium.addBurst(15, T0 - 5000),
      ...tanium.addBurst(3, T0 - 4000),
      ...tanium.addBurst(18, T0 - 3000),
      ...tanium.addBurst(12, T0),
    ];
    // Act
    await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 6 });
    const late = tanium.addBurst(9, T0); // same millisecond as the cursor
    expected.push(...late);
    await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 6 });
    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('keeps every id of the newest millisecond when it holds more alerts than the ids kept, for its late members', async () => {
    // Prepare: caught up on a millisecond of 45 alerts, more than the 40 ids pages of 50 keep below it
    // but fewer than a page; then 3 more of that millisecond become visible
    tanium.tieOrder = 'lowest-id-first';
    const expected = [...tanium.addSteady(20, 1000, T0 - 30_000), ...tanium.addBurst(45, T0 - 5000)];
    await poll({ pageSize: 50 });
    const late = tanium.addBurst(3, T0 - 5000);
    now = T0 + 1000;

    // Act
    const report = await poll({ pageSize: 50 });

    // Assess: the floor stayed at or below that millisecond, its ids in R, so only the late ones go out
    expect(report.published).toBe(3);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids([...expected, ...late]));
  });

  it('publishes a single-millisecond group larger than a page when Tanium keeps its order', async () => {
    // Prepare
    tanium.tieOrder = 'lowest-id-first';
    const expected = [
      ...tanium.addSteady(10, 1000, T0 - 20_000),
      ...tanium.addBurst(130, T0 - 10_000),
      ...tanium.addSteady(10, 500, T0),
    ];
    // Act
    await pollUntilCaughtUp({ pageSize: 40, maxRequestsPerRun: 8 });
    // Assess: the operator is told which millisecond relies on Tanium's order
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    const warning = silentLogger.warnings.indexOf(
      'More alerts share one createdAt than fit in a page; relying on a stable order',
    );
    expect(silentLogger.warnFields[warning]).toEqual({ createdAt: new Date(T0 - 10_000).toISOString() });
  });

  it('does not pass a member of a group larger than a page the bus did not take, sent with newer alerts', async () => {
    // Prepare: a millisecond of 130 alerts under pages of 20 takes more than one run; its member last in
    // list order goes out in one batch with newer alerts, and stays throttled past the retries in that run
    tanium.tieOrder = 'lowest-id-first';
    const older = tanium.addSteady(10, 1000, T0 - 20_000);
    const burst = tanium.addBurst(130, T0 - 10_000);
    const newer = tanium.addSteady(10, 500, T0);
    const lastMember = burst[0]!;
    publisher.throttle = (detail) => detail.id === lastMember.id;
    const limits = { pageSize: 20, maxRequestsPerRun: 10 };
    const first = await poll(limits);
    const groupLeft = store.checkpoint?.group;
    let failed = first;
    for (let run = 0; run < 10 && failed.status !== 'failed'; run++) failed = await poll(limits);
    const takenWithIt = publisher.batches.at(-1)!.map((detail) => detail.id as number);
    publisher.throttle = undefined;
    // Act
    await pollUntilCaughtUp(limits);
    // Assess
    expect(groupLeft?.at).toBe(T0 - 10_000);
    // The edge: the ids of the last M (2 with pages of 20) members done, to find the group again by
    expect(groupLeft?.edge).toHaveLength(2);
    expect(failed.status).toBe('failed');
    expect(takenWithIt).toContain(newer[0]!.id);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids([...older, ...burst, ...newer]));
  });

  it.each([
    ['with', 5, false],
    ['without', 5, true],
    ['with', 0, false],
    ['without', 0, true],
  ])(
    'drains a single-millisecond group larger than one run can read over successive runs (%s filteredCount, %i alerts below it)',
    async (_, below, omitFilteredCount) => {
      // Prepare: caught up; then 1,000 alerts in one millisecond and 3 later ones, with pages of 50
      // and 20 requests a run: getting past the group needs more pages than one run may read. Without
      // alerts below it, the group ends the list: its deepest member is known by the short last page
      tanium.tieOrder = 'lowest-id-first';
      tanium.omitFilteredCount = omitFilteredCount;
      const limits = { pageSize: 50, maxRequestsPerRun: 20, firstRunHours: 24 };
      const expected = tanium.addSteady(below, 1000, T0 - 10_000);
      await poll(limits);
      expected.push(...tanium.addBurst(1000, T0), ...tanium.addSteady(3, 1000, T0 + 5000));
      now = T0 + 60_000;
      // Act
      const reports = await pollUntilCaughtUp(limits, 30);
      // Assess
      expect(reports.length).toBeGreaterThan(1);
      expect(reports.slice(0, -1).every((r) => r.stoppedBy === 'request_limit' && r.published > 0)).toBe(
        true,
      );
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(ids(expected));
      expect(store.checkpoint?.group).toBeUndefined();
      expect(store.checkpoint!.recent.flatMap(([, group]) => group).length).toBeLessThanOrEqual(50);
    },
  );

  it.each([
    ['a source that ignores deadlines', 10, undefined],
    ['a client that needs 5 ms to send one', 12, 5],
    ['a client that needs 5 ms to send one', 13, 5],
    ['a client that needs 1 ms to send one', 10, 1],
  ])(
    'drains a group larger than one run can read when the time limit stops each run (%s, %i ms a request)',
    async (_source, requestMs, minAttemptMs) => {
      // Prepare: the group above, but every Tanium request takes requestMs of a 200 ms run and the request
      // budget is never reached: each run ends at its time for reading while still inside the group; with
      // minAttemptMs, reads fail at that deadline the way the real client's do
      tanium.tieOrder = 'lowest-id-first';
      const limits = { pageSize: 50, maxRequestsPerRun: 100, firstRunHours: 24 };
      const expected = tanium.addSteady(5, 1000, T0 - 10_000);
      await poll(limits);
      expected.push(...tanium.addBurst(1000, T0), ...tanium.addSteady(3, 1000, T0 + 5000));
      now = T0 + 60_000;
      // Past the first run's released lease, which the store keeps as expiring at 0.
      let fakeClock = 1000;
      tanium.beforeRequest = () => {
        fakeClock += requestMs;
      };
      if (minAttemptMs !== undefined) tanium.deadlines = { clock: () => fakeClock, minAttemptMs };
      // Act
      const reports: RunReport[] = [];
      for (let i = 0; i < 40 && reports.at(-1)?.status !== 'caught_up'; i++) {
        reports.push(await poll(limits, { stopAt: fakeClock + 200, clock: () => fakeClock }));
      }
      // Assess: no run fails, and each one gets further
      expect(reports.at(-1)?.status).toBe('caught_up');
      expect(reports.slice(0, -1).every((r) => r.stoppedBy === 'time_limit' && r.published > 0)).toBe(true);
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(ids(expected));
      expect(store.checkpoint?.group).toBeUndefined();
    },
  );

  it('fails a run whose head read the deadline cut, and says nothing about a time limit', async () => {
    // Prepare: every request outlasts the run, as against a Tanium that never answers
    tanium.addSteady(20, 1000, T0);
    let fakeClock = 1000;
    tanium.beforeRequest = () => {
      fakeClock += 500;
    };
    tanium.deadlines = { clock: () => fakeClock, minAttemptMs: 5 };
    // Act
    const report = await poll({}, { stopAt: fakeClock + 200, clock: () => fakeClock });
    // Assess: failed by the deadline itself (not by reading past a head read that came back empty)
    expect(report).toMatchObject({ status: 'failed', stoppedBy: 'error', published: 0 });
    expect(report.error).toMatchObject({ kind: 'transient', message: expect.stringMatching(/time/) });
    expect(report.error?.message).not.toMatch(/undefined/);
  });

  it('stops at the time for reading when a read behind a login is cut at its deadline', async () => {
    // Prepare: a backlog; the third read's login (a LoginError around the deadline) runs out of time
    tanium.addSteady(300, 1000, T0);
    const page = tanium.page.bind(tanium);
    let reads = 0;
    tanium.page = async (offset, limit, deadline) => {
      reads++;
      if (reads === 3) {
        const cut = new DeadlineError('transient', 'the invocation ran out of time during POST /login', {
          retryable: true,
        });
        throw new LoginError('transient', `Login failed: ${cut.message}`, { retryable: true, cause: cut });
      }
      return page(offset, limit, deadline);
    };
    // Act
    const report = await poll({ pageSize: 50 });
    // Assess
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'time_limit' });
    expect(silentLogger.warnings).toContain("A Tanium read was cut at the end of the run's time for reading");
  });

  it('does not read past a short page once the time for reading is up', async () => {
    // Prepare: no counts and a short first answer, which a run checks by reading on from its end; every
    // request takes 100 ms of a 120 ms run
    tanium.omitFilteredCount = true;
    tanium.addSteady(20, 1000, T0);
    let fakeClock = 0;
    tanium.beforeRequest = () => {
      fakeClock += 100;
    };
    // Act
    const report = await poll({}, { stopAt: 120, clock: () => fakeClock });
    // Assess: the short page is not taken for the end of the list either
    expect(tanium.requests).toBe(1);
    expect(report).toMatchObject({ stoppedBy: 'time_limit', published: 0 });
    tanium.beforeRequest = undefined;
    await pollUntilCaughtUp();
    expect(sorted(publisher.ids)).toHaveLength(20);
    expect(duplicates(publisher.ids)).toEqual([]);
  });

  it('does not take a short page for the end of the list when the read that checks it is cut by the deadline', async () => {
    // Prepare: no counts; the first answer is capped at 20 of 60 alerts, silently, and the read on from
    // its end that would show the cap runs out of time
    tanium.omitFilteredCount = true;
    const expected = tanium.addSteady(60, 1000, T0);
    const page = tanium.page.bind(tanium);
    let reads = 0;
    tanium.page = async (offset, limit, deadline) => {
      reads++;
      if (reads === 1) return page(offset, 20, deadline);
      if (reads === 2)
        throw new DeadlineError('transient', 'the invocation ran out of time', { retryable: true });
      return page(offset, limit, deadline);
    };

    // Act
    await pollUntilCaughtUp({ pageSize: 50 });

    // Assess: the 40 alerts below the capped page still go out
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it.each([
    [
      'cut by the deadline, takes the page for capped and publishes every alert in the run',
      new DeadlineError('transient', 'the invocation ran out of time', { retryable: true }),
      { status: 'caught_up', published: 60 },
    ],
    [
      'failing on Tanium, fails the run and says why',
      new TaniumError('transient', 'Error from server. Status Code: 503', { retryable: true, status: 503 }),
      { status: 'failed', stoppedBy: 'error', error: { message: 'Error from server. Status Code: 503' } },
    ],
  ])('when the read that checks a short page is %s', async (_, error, expected) => {
    // Prepare: no counts; the first answer is capped at 20 of 60 alerts, silently, and the read on from
    // its end that would show the cap fails
    tanium.omitFilteredCount = true;
    tanium.addSteady(60, 1000, T0);
    const page = tanium.page.bind(tanium);
    let reads = 0;
    tanium.page = async (offset, limit, deadline) => {
      reads++;
      if (reads === 1) return page(offset, 20, deadline);
      if (reads === 2) throw error;
      return page(offset, limit, deadline);
    };

    // Act
    const report = await poll({ pageSize: 50 });

    // Assess: only a read the deadline cut is no failure of Tanium's
    expect(report).toMatchObject(expected);
  });

  it('does not count a group member the bus did not take as done when later members of its batch went out', async () => {
    // Prepare: a 1,000-alert millisecond drained over several runs; in the first of them the bus keeps
    // refusing the group's 3rd member while the rest of its batch goes out
    tanium.tieOrder = 'lowest-id-first';
    const limits = { pageSize: 50, maxRequestsPerRun: 20, firstRunHours: 24 };
    const expected = tanium.addSteady(5, 1000, T0 - 10_000);
    await poll(limits);
    const burst = tanium.addBurst(1000, T0);
    expected.push(...burst, ...tanium.addSteady(3, 1000, T0 + 5000));
    now = T0 + 60_000;
    const members = new Set(burst.map((alert) => alert.id));
    let seen = 0;
    let victim: unknown;
    publisher.throttle = (detail) => {
      if (!members.has(detail.id as number)) return false;
      if (victim === undefined && ++seen === 3) victim = detail.id;
      return detail.id === victim;
    };
    const failed = await poll(limits);
    publisher.throttle = undefined;
    // Act
    await pollUntilCaughtUp(limits, 40);
    // Assess
    expect(failed.status).toBe('failed');
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('re-reads a page inside a group larger than a page that shares no ids with what it read before', async () => {
    // Prepare: 60 alerts in one millisecond, pages of 20, no filteredCount (arrivals cannot be counted),
    // no overlap window (nothing below the newest published alert is looked at again), and 10 arrivals
    // just before the 5th request: the next page lands 10 alerts higher, inside the group, past members
    // not read yet
    tanium.tieOrder = 'lowest-id-first';
    tanium.omitFilteredCount = true;
    const expected = [
      ...tanium.addSteady(5, 1000, T0 - 20_000),
      ...tanium.addBurst(60, T0 - 10_000),
      ...tanium.addSteady(5, 500, T0),
    ];
    tanium.beforeRequest = (request) => {
      if (request === 5) expected.push(...tanium.addSteady(10, 1, T0 + 1000));
    };
    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 20, overlapWindowMs: 0 });
    await pollUntilCaughtUp({ pageSize: 20, overlapWindowMs: 0 });
    // Assess: the re-read goes deeper, toward what it read, so the one run catches up
    expect(reports.map((report) => report.status)).toEqual(['caught_up']);
    expect(reports[0]!.taniumRequests).toBeLessThanOrEqual(14);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('reads on past a full page whose last alert is at the floor, for arrivals later in that millisecond', async () => {
    // Prepare: caught up on 5 alerts in one millisecond; then 3 more in that millisecond and 9 newer
    // ones. With pages of 10 and the lowest id of a tie listed first, the newest page (the 9 newer alerts
    // and the tie's first member) is full and ends exactly at the floor, with the 3 late members listed
    // below it: a full page whose last alert is at the floor has not reached below it, so the run must
    // read on. No overlap window, which would otherwise re-read the floor's millisecond and hide a miss.
    tanium.tieOrder = 'lowest-id-first';
    const limits = { pageSize: 10, overlapWindowMs: 0 };
    const expected = tanium.addBurst(5, T0);
    await poll(limits);
    expected.push(...tanium.addBurst(3, T0), ...tanium.addSteady(9, 1000, T0 + 9000));
    now = T0 + 60_000;
    // Act
    await poll(limits);
    await poll(limits);
    // Assess
    expect(expected).toHaveLength(17);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('does not rely on ids being in createdAt order', async () => {
    // Prepare
    const expected = [...tanium.addOutOfOrder(120, T0, 700)];
    await pollUntilCaughtUp({ pageSize: 25 });
    // Act: newer ids, older times, but within the overlap window of the cursor
    now = T0 + 30_000;
    expected.push(...tanium.addOutOfOrder(20, T0 + 15_000, 1000));
    await pollUntilCaughtUp({ pageSize: 25 });
    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('publishes an alert that becomes visible late, inside the overlap window', async () => {
    // Prepare
    const expected = tanium.addSteady(20, 1000, T0);
    await poll();
    // Act: committed late, 40 s older than the newest published alert
    expected.push(tanium.add(T0 - 40_000));
    const report = await poll();
    // Assess
    expect(report.published).toBe(1);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it.each([
    ['with', false, 4, 60, 14],
    ['without', true, 7, 30, 18],
  ])(
    'reads deeper past a page arrivals pushed above what it read, %s filteredCount, in a bounded number of requests',
    async (_, omitFilteredCount, request, arrivals, maxRequests) => {
      // Prepare: 300 alerts a second apart below a floor 310 s back; a burst of arrivals just before the
      // walk's second (with counts) or fourth (without) page pushes that page above what was read: a gap
      tanium.omitFilteredCount = omitFilteredCount;
      tanium.addSteady(300, 1000, T0 - 60_000);
      store.checkpoint = { floor: T0 - 310_000, recent: [] };
      tanium.beforeRequest = (n) => {
        if (n === request) tanium.addSteady(arrivals, 100, T0 - 10_000);
      };

      // Act
      const report = await poll({ pageSize: 50 });

      // Assess: with counts, the re-read goes down by the growth counted, at once; without, a step at a
      // time from where it was, never the same page again
      expect(report.status).toBe('caught_up');
      expect(report.taniumRequests).toBeLessThanOrEqual(maxRequests);
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(ids(tanium.alerts.filter((a) => a.createdMs >= T0 - 310_000)));
    },
  );

  it('loses nothing when alerts arrive between the pages of a walk', async () => {
    // Prepare
    const expected = tanium.addSteady(2000, 1000, T0);
    let clock = T0;
    tanium.beforeRequest = () => {
      // 0 to 30 new alerts before every request, sometimes several in one millisecond, a second apart:
      // this function's clock moves with Tanium's (alerts far ahead of it are kept in `recent`)
      clock += 1000;
      now = clock;
      const count = (tanium.requests * 37) % 31;
      for (let i = 0; i < count; i++) expected.push(tanium.add(clock + (i % 3)));
    };
    // Act
    const reports: RunReport[] = [];
    for (let run = 0; run < 20; run++) reports.push(await poll({ pageSize: 50, maxRequestsPerRun: 40 }));
    tanium.beforeRequest = undefined;
    await pollUntilCaughtUp({ pageSize: 50, maxRequestsPerRun: 40 });
    // Assess
    expect(reports.every((r) => r.published > 0)).toBe(true);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });
});

describe('Alert poller: backlog', () => {
  it('drains a large backlog oldest first over several runs with bounded requests per run', async () => {
    // Prepare
    const expected = tanium.addSteady(5000, 1000, T0);
    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 100, maxRequestsPerRun: 12 });
    // Assess
    expect(reports.length).toBeGreaterThan(3);
    expect(Math.max(...reports.map((r) => r.taniumRequests))).toBeLessThanOrEqual(12);
    expect(reports.slice(0, -1).every((r) => r.stoppedBy === 'request_limit')).toBe(true);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    const times = publisher.details.map((d) => Date.parse(d.createdAt as string));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('walks a backlog a page at a time with the smallest page size, and catches up on the least budget', async () => {
    // Prepare: pages of 10 (POLLER_PAGE_SIZE's minimum, or a Tanium capping `limit`), no counts
    tanium.omitFilteredCount = true;
    const expected = tanium.addSteady(300, 1000, T0);

    // Act
    const one = await poll({ pageSize: 10, maxRequestsPerRun: 1000 });
    publisher = new CapturePublisher();
    store = new MemoryStateStore();
    const reports = await pollUntilCaughtUp({ pageSize: 10, maxRequestsPerRun: 10 });

    // Assess: one run covers the backlog in about one request per 8 alerts (pages overlapping by 2),
    // and runs of 10 requests (POLLER_MAX_REQUESTS_PER_RUN's minimum) keep making progress
    expect(one.status).toBe('caught_up');
    expect(one.taniumRequests).toBeLessThan(300 / 8 + 12);
    expect(reports.length).toBeGreaterThan(1);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('finds the cursor again in one request per run from the saved hint', async () => {
    // Prepare
    tanium.addSteady(3000, 1000, T0);
    // Act
    const first = await poll({ pageSize: 100, maxRequestsPerRun: 10 });
    const second = await poll({ pageSize: 100, maxRequestsPerRun: 10 });
    // Assess: head + one locate probe, then walking pages only
    expect(first.published).toBeGreaterThan(0);
    expect(second.published).toBeGreaterThanOrEqual(8 * 90 - 10);
  });

  it('keeps going when Tanium prunes the oldest alerts while the backlog drains', async () => {
    // Prepare
    const all = tanium.addSteady(4000, 1000, T0);
    const pruned = new Set<number>();
    let cutoff = T0 - 4000 * 1000;
    tanium.beforeRequest = (n) => {
      if (n % 7 === 0) {
        cutoff += 30_000;
        for (const id of tanium.prune(cutoff)) pruned.add(id);
      }
    };
    // Act
    await pollUntilCaughtUp({ pageSize: 100, maxRequestsPerRun: 15 });
    // Assess
    const published = new Set(publisher.ids);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(pruned.size).toBeGreaterThan(0);
    const missing = all.filter((a) => !published.has(a.id) && !pruned.has(a.id));
    expect(missing).toEqual([]);
  });

  it.each([
    ['without', true, 300, 250_000, 7, 11],
    ['with', false, 1000, 990_000, 9, 12],
  ])(
    'reads further up when pruning empties the page the walk asks for, %s filteredCount',
    async (_, omitFilteredCount, backlog, floorAge, request, maxRequests) => {
      // Prepare: a backlog a second apart under an old floor; just before one of the walk's pages Tanium
      // prunes everything older than 100 s, leaving 101 alerts, far fewer than that page's offset
      tanium.omitFilteredCount = omitFilteredCount;
      tanium.addSteady(backlog, 1000, T0);
      store.checkpoint = { floor: T0 - floorAge, recent: [] };
      tanium.beforeRequest = (n) => {
        if (n === request) tanium.prune(T0 - 100_000);
      };

      // Act
      const report = await poll();

      // Assess: with nothing there it reads higher up (straight to the list's end when Tanium counts it),
      // not deeper, and still catches up in this run
      expect(report.status).toBe('caught_up');
      expect(report.taniumRequests).toBeLessThanOrEqual(maxRequests);
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(publisher.ids).toEqual(expect.arrayContaining(ids([...tanium.alerts])));
    },
  );

  it('finds a backlog deeper than one run can search when Tanium sends no count', async () => {
    // Prepare: 3,000 alerts, pages of 50, 5 requests a run, no filteredCount: the doubling search for
    // the end of the list needs more requests than a run has
    tanium.omitFilteredCount = true;
    const expected = tanium.addSteady(3000, 1000, T0);
    // Act
    const reports = await pollUntilCaughtUp({ maxRequestsPerRun: 5 }, 300);
    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    expect(reports.at(-1)?.status).toBe('caught_up');
  });

  it('starts its search over in the same run when the depth it saved is deeper than the list now holds', async () => {
    // Prepare: no counts; the last run learnt that the floor lies at least 2,000 alerts down, but Tanium
    // has pruned the list to 300 since, 200 of them above the floor
    tanium.omitFilteredCount = true;
    const all = tanium.addSteady(300, 1000, T0);
    store.checkpoint = { floor: T0 - 199_500, recent: [], belowAtLeast: 2000 };

    // Act
    const report = await poll({ pageSize: 50 });

    // Assess: not the rest of the run's budget spent reading past the end of the list
    expect(report.status).toBe('caught_up');
    expect(report.taniumRequests).toBeLessThanOrEqual(12);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(all.filter((alert) => alert.createdMs >= T0 - 199_500)));
  });

  it('stops at the time limit with the cursor saved, and the next run continues', async () => {
    // Prepare
    const expected = tanium.addSteady(1500, 1000, T0);
    let fakeClock = 0;
    tanium.beforeRequest = () => {
      fakeClock += 10;
    };
    // Act
    const limited = await poll({ pageSize: 100 }, { stopAt: 55, clock: () => fakeClock });
    const savedFloor = store.checkpoint?.floor;
    tanium.beforeRequest = undefined;
    await pollUntilCaughtUp({ pageSize: 100 });
    // Assess
    expect(limited.stoppedBy).toBe('time_limit');
    expect(limited.status).toBe('partial');
    expect(limited.taniumRequests).toBeLessThanOrEqual(6);
    expect(savedFloor).toBeGreaterThan(T0 - 1500 * 1000);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('moves the floor up to the newest published alert deep in a backlog, not W below it', async () => {
    // Prepare: alerts older than W below the newest alert at the head read were visible before the walk
    tanium.addSteady(600, 1000, T0);
    // Act
    const report = await poll({ maxRequestsPerRun: 6 });
    // Assess
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'request_limit' });
    expect(report.published).toBeGreaterThan(0);
    expect(store.checkpoint?.newestPublishedAt).toBeLessThan(T0 - 120_000);
    expect(store.checkpoint?.floor).toBe(store.checkpoint?.newestPublishedAt);
    // Saved when the first run set the floor and after each batch, not once more for the search
    expect(store.saves).toBe(1 + report.batches);
  });

  it('saves the floor past the published alerts it walked by after publishing a late one, when its requests run out', async () => {
    // Prepare: 300 alerts a second apart, all published before but one near the floor (a late one);
    // the hint finds the floor in one request, and 4 requests a run stop the walk at the page at offset 165
    const all = tanium.addSteady(300, 1000, T0);
    const late = all[10]!;
    const floor = T0 - 300_000;
    const recent = all.filter((a) => a !== late).map((a): [number, number[]] => [a.createdMs, [a.id]]);
    store.checkpoint = { floor, recent, olderCount: 0 };

    // Act
    const report = await poll({ maxRequestsPerRun: 4 });

    // Assess: the late alert's batch put the floor at its createdAt; everything read below the top of
    // the last page (T0 − 165 s, whose millisecond may hold members not read yet) is done, so the saved
    // floor passes every alert below that top, not the top itself
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'request_limit', published: 1 });
    expect(publisher.ids).toEqual([late.id]);
    expect(store.checkpoint?.floor).toBeGreaterThan(T0 - 166_000);
    expect(store.checkpoint?.floor).toBeLessThanOrEqual(T0 - 165_000);
  });
});

describe('Alert poller: alerts without a readable createdAt', () => {
  const NULL = null as unknown as string;

  it('publishes one that Tanium lists first (as NULLs sort under -createdAt) once, in all the runs', async () => {
    // Prepare: an alert with a null createdAt listed first, so it borrows the newest time on the page
    const dated = tanium.add(T0 - 600_000);
    const undated = tanium.add(8.6e15, { createdAt: NULL });
    const arrivals: FakeAlert[] = [];

    // Act: runs two minutes apart, one new alert before each
    const reports: RunReport[] = [await poll()];
    for (let i = 1; i <= 10; i++) {
      now = T0 + i * 120_000;
      arrivals.push(tanium.add(now - 1000));
      reports.push(await poll());
    }

    // Assess: every alert exactly once; the undated one remembered by id, with a warning once
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids([dated, undated, ...arrivals]));
    expect(reports.map((report) => report.undatedAlerts)).toEqual([1, ...Array(10).fill(0)]);
    expect(reports.every((report) => report.status === 'caught_up')).toBe(true);
    expect(silentLogger.warnFields.filter((fields) => fields.alertId === undated.id)).toEqual([
      { alertId: undated.id, guid: undated.guid, createdAt: null },
    ]);
    expect(store.checkpoint?.undated).toEqual([undated.id]);
  });

  it('publishes a lone alert whose createdAt does not parse instead of holding it back in silence', async () => {
    // Prepare
    const undated = tanium.add(T0, { createdAt: 'yesterday' });

    // Act
    const report = await poll();
    const next = await poll();

    // Assess
    expect(report).toMatchObject({ status: 'caught_up', undatedAlerts: 1, published: 1 });
    expect(next).toMatchObject({ status: 'caught_up', published: 0 });
    expect(publisher.ids).toEqual([undated.id]);
  });

  it('logs an unreadable createdAt cut to 200 characters, and leaves out one that is not a scalar', async () => {
    // Prepare: what Tanium sent is echoed by the warning, so it is bounded like any echoed value
    const long = tanium.add(T0, { createdAt: 'x'.repeat(5000) });
    const nested = tanium.add(T0 + 1, { createdAt: { when: 'yesterday' } as unknown as string });

    // Act
    await poll();

    // Assess
    const warned = (id: unknown) => silentLogger.warnFields.find((fields) => fields.alertId === id);
    expect(warned(long.id)?.createdAt).toBe(`${'x'.repeat(200)}…`);
    const at = silentLogger.warnFields.findIndex((fields) => fields.alertId === long.id);
    expect(silentLogger.warnings[at]).toBe(
      'Publishing an alert without a readable createdAt; it is remembered by its id',
    );
    expect(warned(nested.id)).toMatchObject({ alertId: nested.id });
    expect(warned(nested.id)?.createdAt).toBeUndefined();
  });

  it('publishes one that Tanium lists last, below the floor, once', async () => {
    // Prepare
    const dated = tanium.addSteady(10, 100_000, T0 - 10_000);
    await poll();
    now = T0 + 60_000;
    const undated = tanium.add(0, { createdAt: NULL });

    // Act
    const report = await poll();
    await poll();

    // Assess
    expect(report.undatedAlerts).toBe(1);
    expect(sorted(publisher.ids)).toEqual(ids([...dated, undated]));
  });

  it('does not publish one that existed at a first run that publishes nothing existing', async () => {
    // Prepare
    tanium.add(T0 - 5000);
    const undated = tanium.add(T0 - 1000, { createdAt: NULL });

    // Act
    await poll({ firstRunHours: 0 });
    const remembered = store.checkpoint?.undated;
    now = T0 + 60_000;
    const later = tanium.add(T0 + 30_000);
    await poll({ firstRunHours: 0 });

    // Assess: remembered by id, not under a borrowed time that leaves R once the floor passes it
    expect(remembered).toEqual([undated.id]);
    expect(publisher.ids).toEqual([later.id]);
  });

  it('keeps the overlap window below the newest alert when a page of undated ones tops the list', async () => {
    // Prepare: more undated alerts than a page sort first, so the head read shows no time at all
    tanium.addSteady(30, 1000, T0 - 120_000);
    for (let i = 0; i < 10; i++) tanium.add(8.6e15, { createdAt: NULL });
    await poll({ pageSize: 10 });
    const late = tanium.add(T0 - 120_500);
    now = T0 + 60_000;

    // Act: an alert created just under the newest one becomes visible late
    await poll({ pageSize: 10 });

    // Assess
    expect(publisher.ids).toContain(late.id);
    expect(duplicates(publisher.ids)).toEqual([]);
  });

  /** A backlog with an undated alert among dated ones of its millisecond, past the first run. */
  async function backlogAroundUndated() {
    await poll({ firstRunHours: 0 });
    now = T0 + 600_000;
    const backlog = tanium.addSteady(120, 1000, T0 + 500_000);
    backlog.push(tanium.add(T0 + 430_000, { id: 5000 }));
    const undated = tanium.add(T0 + 430_000, { id: 5001, createdAt: NULL });
    backlog.push(tanium.add(T0 + 430_000, { id: 5002 }));
    return [...backlog, undated];
  }

  it('publishes an undated alert read mid-walk even when the run then fails on Tanium', async () => {
    // Prepare: Tanium fails a read once 70 alerts went out, after the page holding the undated one
    const expected = await backlogAroundUndated();
    let failed = false;
    tanium.beforeRequest = (request) => {
      if (failed || publisher.details.length < 70) return;
      failed = true;
      tanium.failing.add(request);
    };

    // Act
    await pollUntilCaughtUp({ pageSize: 10 });

    // Assess: not left behind by a floor that moved past where it was read
    expect(failed).toBe(true);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('publishes an undated alert read mid-walk even when a PutEvents call then fails', async () => {
    // Prepare
    const expected = await backlogAroundUndated();
    publisher.failOnCall = publisher.calls + 11;

    // Act
    await pollUntilCaughtUp({ pageSize: 10 });

    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('fails the run when the PutEvents call for an undated alert fails, and publishes nothing twice', async () => {
    // Prepare: the undated alert goes out first, on the call that fails
    const undated = tanium.add(T0 - 5000, { createdAt: 'garbage' });
    const dated = tanium.addSteady(5, 1000, T0);
    publisher.failOnCall = 1;

    // Act
    const failed = await poll();
    const next = await poll();

    // Assess: a failed run (RunsFailed counts it), not one that holds the alert as refused and goes on
    expect(failed).toMatchObject({ status: 'failed', published: 0 });
    expect(failed.error?.message).toMatch(/PutEvents failed/);
    expect(next.status).toBe('caught_up');
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids([undated, ...dated]));
  });

  it('reports the PutEvents failure that stopped the run, not the refusal of an undated alert held before it', async () => {
    // Prepare: the undated alert is refused even reduced (calls 1 and 2), then the dated batch's call fails
    const bad = tanium.add(8.6e15, { createdAt: NULL });
    tanium.addSteady(5, 1000, T0 - 1000);
    publisher.refuse = (detail) => detail.id === bad.id;
    publisher.failOnCall = 3;

    // Act
    const failed = await poll();

    // Assess
    expect(failed).toMatchObject({ status: 'failed', stoppedBy: 'error', published: 0, refusedAlerts: 0 });
    expect(failed.error?.message).toMatch(/PutEvents failed/);
  });

  it.each([
    ['readable, then not', T0 - 1000, NULL],
    ['unreadable, then readable', 8.6e15, new Date(T0 - 2000).toISOString()],
  ])('publishes an alert once whose createdAt turns %s', async (_label, createdMs, later) => {
    // Prepare
    const alert = tanium.add(createdMs, createdMs === 8.6e15 ? { createdAt: NULL } : {});
    await poll();
    alert.createdAt = later;
    now = T0 + 60_000;

    // Act
    await poll();

    // Assess
    expect(publisher.ids).toEqual([alert.id]);
  });

  it('lets dated alerts go when the bus refuses an undated one, then drops that one', async () => {
    // Prepare: the undated alert, published first, is refused even reduced
    const bad = tanium.add(8.6e15, { createdAt: NULL });
    const dated = tanium.addSteady(5, 1000, T0 - 1000);
    publisher.refuse = (detail) => detail.id === bad.id;

    // Act
    const report = await poll();
    const next = await poll();

    // Assess: not a run that fails before any dated alert, every run
    expect(report).toMatchObject({ status: 'caught_up', published: 5, refusedAlerts: 1 });
    expect(sorted(publisher.ids)).toEqual(ids(dated));
    expect(silentLogger.errorFields.map((fields) => fields.alertId)).toEqual([bad.id]);
    expect(next).toMatchObject({ status: 'caught_up', published: 0, putEventsCalls: 0 });
  });

  it('counts an undated alert the bus refuses even reduced as refused, not as published undated', async () => {
    // Prepare: two undated alerts go out in one call; the bus takes one and refuses the other for good
    const bad = tanium.add(8.6e15, { createdAt: NULL });
    const good = tanium.add(8.6e15, { createdAt: NULL });
    publisher.refuse = (detail) => detail.id === bad.id;

    // Act
    const report = await poll();

    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 1, undatedAlerts: 1, refusedAlerts: 1 });
    expect(publisher.ids).toEqual([good.id]);
  });

  it('keeps a lone refused undated alert, failing the run, until a dated one shows the bus works', async () => {
    // Prepare
    const bad = tanium.add(8.6e15, { createdAt: NULL });
    publisher.refuse = (detail) => detail.id === bad.id;

    // Act
    const alone = await poll();
    now = T0 + 60_000;
    const newer = tanium.add(T0 + 30_000);
    const withNewer = await poll();

    // Assess
    expect(alone).toMatchObject({ status: 'failed', refusedAlerts: 0, published: 0 });
    expect(withNewer).toMatchObject({ status: 'caught_up', refusedAlerts: 1, published: 1 });
    expect(publisher.ids).toEqual([newer.id]);
  });

  it.each([
    ['an undated alert', (): FakeAlert => tanium.add(T0 - 250_000, { createdAt: 'not a time' })],
    ['a dated alert', (): FakeAlert => tanium.alerts.find((a) => a.createdMs === T0 - 250_000)!],
  ])(
    'keeps the floor below %s the bus refused in a run that only walked past published ones',
    async (_, refusedAlert) => {
      // Prepare: 200 alerts whose ids the checkpoint holds (published before a crash, say) but one the
      // bus refuses, and 4 requests a run: the walk stops below the top of the list
      const dated = tanium.addSteady(200, 1000, T0 - 100_000);
      const refusedOne = refusedAlert();
      const floor = T0 - 280_000;
      const recent = dated
        .filter((a) => a.createdMs >= floor && a !== refusedOne)
        .map((a): [number, number[]] => [a.createdMs, [a.id]]);
      store.checkpoint = { floor, recent };

      // Act, assess: held, it is not done, so the floor does not pass where it was read; the next run
      // finds it
      await refusedKeptAboveFloor(refusedOne, floor, { maxRequestsPerRun: 4 });
    },
  );

  it.each([
    ['an undated alert', (): FakeAlert => tanium.add(T0 - 25_500, { createdAt: 'not a time' })],
    ['a dated alert', (): FakeAlert => tanium.alerts.find((a) => a.createdMs === T0 - 25_000)!],
  ])(
    "keeps the floor below %s the bus refused in a run that rises above the group cursor's millisecond",
    async (_, refusedAlert) => {
      // Prepare: a group cursor whose 30 members are all out (as a run whose requests run out before it
      // reads above them leaves it), over older alerts whose ids the checkpoint holds but one the bus
      // refuses; the head is all members, so only the floor keeps the next run reading down to that one.
      // Rising above the group ends its cursor by moving the floor past its millisecond.
      tanium.tieOrder = 'lowest-id-first';
      const older = tanium.addSteady(10, 1000, T0 - 20_000);
      const burst = tanium.addBurst(30, T0 - 10_000);
      const refusedOne = refusedAlert();
      const floor = T0 - 30_000;
      const recent = older
        .filter((a) => a !== refusedOne)
        .map((a): [number, number[]] => [a.createdMs, [a.id]]);
      // Positions count from the member deepest in the list: with the lowest id listed first, burst[0]
      // is the newest in list order (29), the last done.
      const edge = [burst[1]!.id, burst[0]!.id];
      store.checkpoint = { floor, recent, group: { at: T0 - 10_000, passed: 30, edge } };

      // Act, assess: held, it is not done, so the cursor is not ended past it; the next run finds it
      const next = await refusedKeptAboveFloor(refusedOne, floor, { pageSize: 20 });
      expect(next.status).toBe('caught_up');
    },
  );

  it('reports lag while only undated alerts wait, the time limit having stopped the run', async () => {
    // Prepare: the clock passes the run's end once the first batch is out
    for (let i = 0; i < 15; i++) tanium.add(8.6e15, { createdAt: NULL });
    let late = 0;
    publisher.afterPublish = () => {
      late = 120_000;
    };

    // Act
    const report = await poll({}, { stopAt: Date.now() + 60_000, clock: () => Date.now() + late });

    // Assess
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'time_limit', undatedAlerts: 10 });
    // Undated, the alerts left could be as old as the floor: the lag counts from there, on the alerts' clock
    expect(report.lagMs).toBe(now - store.checkpoint!.floor);
    expect(report.lagMs).toBeGreaterThan(0);
  });

  it('walks up through more undated alerts than a page at the top of the list, and catches up', async () => {
    // Prepare: a backlog under a block of undated alerts more than two pages long
    const dated = tanium.addSteady(100, 1000, T0 - 1000);
    const undated = Array.from({ length: 45 }, () => tanium.add(8.6e15, { createdAt: NULL }));

    // Act
    const report = await poll({ pageSize: 20, maxRequestsPerRun: 40 });

    // Assess: caught up, not a walk reading the same page until the request budget runs out
    expect(report).toMatchObject({ status: 'caught_up', undatedAlerts: 45 });
    expect(report.taniumRequests).toBeLessThan(20);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids([...dated, ...undated]));
  });

  it('reports an entry with neither id nor time that Tanium lists below the floor', async () => {
    // Prepare: after a first run, a null entry (no id, no time) at the end of the list
    tanium.addSteady(10, 100_000, T0 - 10_000);
    await poll();
    now = T0 + 60_000;
    tanium.add(0, { anonymous: true, createdAt: NULL });

    // Act
    const report = await poll();

    // Assess: its borrowed time is below the floor, yet it is not skipped in silence
    expect(report.unidentifiedAlerts).toBe(1);
    expect(silentLogger.errors).toEqual([
      'An alert without id or guid cannot be deduplicated; it is skipped',
    ]);
  });

  it('logs the createdAt of an entry without id or guid cut to 200 characters', async () => {
    // Prepare
    tanium.add(T0, { anonymous: true, createdAt: 'y'.repeat(5000) });

    // Act
    await poll();

    // Assess
    expect(silentLogger.errorFields).toContainEqual({ createdAt: `${'y'.repeat(200)}…` });
  });

  it('counts an entry with neither id nor time once per run across overlapping pages', async () => {
    // Prepare: a backlog walked over overlapping pages, one entry in it with nothing to place it by (what
    // a null in Tanium's list becomes)
    const all = tanium.addSteady(120, 1000, T0);
    Object.assign(all[60]!, { anonymous: true, createdAt: null });

    // Act
    const report = await poll();

    // Assess
    expect(report).toMatchObject({ status: 'caught_up', unidentifiedAlerts: 1, undatedAlerts: 0 });
    expect(report.taniumRequests).toBeGreaterThan(1);
    expect(sorted(publisher.ids)).toEqual(ids(all.filter((_, index) => index !== 60)));
  });

  it('starts from an empty-looking list when the first run reads only entries without a time', async () => {
    // Prepare: the only entry has neither id nor time; nothing existing is to be published
    tanium.add(T0 - 1000, { anonymous: true, createdAt: NULL });

    // Act
    const first = await poll({ firstRunHours: 0 });
    now = T0 + 60_000;
    const later = tanium.add(T0 + 30_000);
    const second = await poll({ firstRunHours: 0 });

    // Assess: a report, not a thrown RangeError that keeps the lease; the next run goes on
    expect(first).toMatchObject({ status: 'caught_up', unidentifiedAlerts: 1 });
    expect(second.status).toBe('caught_up');
    expect(publisher.ids).toEqual([later.id]);
  });

  it('remembers the last 1,000 alerts it published without a readable createdAt, forgetting the oldest', async () => {
    // Prepare: a checkpoint that already remembers 1,000 of them (long gone from Tanium), and one more
    const remembered = Array.from({ length: 1000 }, (_, i) => i + 1);
    store.checkpoint = { floor: T0 - 60_000, recent: [], undated: remembered };
    tanium.nextId = 5000;
    const undated = tanium.add(T0, { createdAt: 'not a time' });

    // Act
    const report = await poll();

    // Assess: the state item stays bounded; the newest is kept, the oldest dropped
    expect(report).toMatchObject({ status: 'caught_up', published: 1, undatedAlerts: 1 });
    expect(store.checkpoint?.undated).toEqual([...remembered.slice(1), undated.id]);
  });

  it('publishes a newer alert once when the alert read first had a createdAt that does not parse', async () => {
    // Prepare: the undated alert is the newest when first read; then a newer one arrives
    const older = tanium.add(T0 - 5000);
    const undated = tanium.add(T0 - 1000, { createdAt: 'not a time' });
    await poll();
    now = T0 + 60_000;
    const newer = tanium.add(now - 1000);

    // Act
    await poll();

    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids([older, undated, newer]));
  });

  it.for([
    [true, 1],
    [false, 1],
    [false, 3],
    [false, 4],
    [false, 8],
  ] as const)(
    'walks up past undated alerts right above a group (counts %s, %i undated) instead of between two pages',
    async ([counts, undatedCount]) => {
      // Prepare: pages of 10 (each re-read to hold the group whole, with a dated alert above it) and
      // two runs' requests at most; undated alerts right above the group took the dated alert's place
      // (from 4 on, they and the group fill at least a page less one: no re-read fits a dated alert above)
      tanium.omitFilteredCount = !counts;
      const dated = [...tanium.addSteady(1, 1000, T0 - 600_000), ...tanium.addBurst(5, T0 - 400_000)];
      const undated = Array.from({ length: undatedCount }, () =>
        tanium.add(T0 - 300_000, { createdAt: 'not a time' }),
      );
      dated.push(...tanium.addSteady(8, 1000, T0 - 200_000));

      // Act
      const first = await poll({ pageSize: 10, maxRequestsPerRun: 10 });
      const second = await poll({ pageSize: 10, maxRequestsPerRun: 10 });

      // Assess
      expect(first).toMatchObject({ status: 'caught_up', published: dated.length + undatedCount });
      expect(second).toMatchObject({ status: 'caught_up', published: 0, taniumRequests: 1 });
      expect(sorted(publisher.ids)).toEqual(ids([...dated, ...undated]));
    },
  );

  it.for([true, false])(
    'finds the floor past undated alerts at the edges of the pages it probes (counts %s)',
    async (counts) => {
      // Prepare: the floor lies between the newest dated alerts and three undated ones; the head page
      // ends with two of them (borrowing the newer time), and a probe below starts with them
      // (borrowing the older one)
      tanium.omitFilteredCount = !counts;
      tanium.addSteady(1, 1000, T0 - 600_000);
      tanium.addBurst(10, T0 - 400_000);
      const undated = Array.from({ length: 3 }, () => tanium.add(T0 - 300_000, { createdAt: 'not a time' }));
      const newest = tanium.addSteady(8, 1000, T0 - 200_000);
      store.checkpoint = { floor: T0 - 260_000, recent: [] };

      // Act
      const report = await poll({ pageSize: 10, maxRequestsPerRun: 10 });

      // Assess
      expect(report).toMatchObject({ status: 'caught_up', published: 11 });
      expect(sorted(publisher.ids)).toEqual(ids([...undated, ...newest]));
    },
  );
});

describe('Alert poller: runs of alerts without a readable createdAt', () => {
  const NULL = null as unknown as string;
  /** Pages of 10, so that a few undated alerts fill one. */
  const SMALL = { pageSize: 10, maxRequestsPerRun: 20 };

  it('keeps publishing once more alerts with a null createdAt than two pages top the list (no counts)', async () => {
    // Prepare: caught up, then 40 alerts listed first (NULLs sort under -createdAt) and a newer one
    tanium.omitFilteredCount = true;
    const dated = tanium.addSteady(30, 1000, T0 - 1000);
    await poll(SMALL);
    const nulls = Array.from({ length: 40 }, () => tanium.add(8.6e15, { createdAt: NULL }));
    now = T0 + 60_000;
    const newer = tanium.add(now - 1000);

    // Act
    const report = await poll(SMALL);
    now = T0 + 120_000;
    const next = await poll(SMALL);

    // Assess: a page of them tells nothing about the floor; it used to bound the search and loop
    expect([report.status, next.status]).toEqual(['caught_up', 'caught_up']);
    expect(sorted(publisher.ids)).toEqual(ids([...dated, ...nulls, newer]));
  });

  it('finds the floor under 60 alerts with a null createdAt, with counts and no hint', async () => {
    // Prepare
    tanium.addSteady(20, 1000, T0 - 400_000);
    const newer = tanium.addSteady(5, 1000, T0 - 200_000);
    const nulls = Array.from({ length: 60 }, () => tanium.add(8.6e15, { createdAt: NULL }));
    store.checkpoint = { floor: T0 - 300_000, recent: [] };

    // Act
    const report = await poll(SMALL);

    // Assess
    expect(report.status).toBe('caught_up');
    expect(sorted(publisher.ids)).toEqual(ids([...newer, ...nulls]));
  });

  it('reads a list that ends in undated alerts at a first run without counts', async () => {
    // Prepare
    tanium.omitFilteredCount = true;
    const undated = Array.from({ length: 3 }, () => tanium.add(1, { createdAt: 'not a time' }));
    const dated = tanium.addSteady(19, 1000, T0 - 1000);

    // Act
    const report = await poll(SMALL);

    // Assess
    expect(report.status).toBe('caught_up');
    expect(sorted(publisher.ids)).toEqual(ids([...dated, ...undated]));
  });

  it.for([true, false])(
    'finds the floor when only alerts with a null createdAt lie above it (counts %s)',
    async (counts) => {
      // Prepare: the newest dated alerts stopped matching the filter, say
      tanium.omitFilteredCount = !counts;
      tanium.addSteady(30, 1000, T0 - 400_000);
      const nulls = Array.from({ length: 25 }, () => tanium.add(8.6e15, { createdAt: NULL }));
      store.checkpoint = { floor: T0 - 100_000, recent: [] };

      // Act
      const report = await poll(SMALL);

      // Assess
      expect(report.status).toBe('caught_up');
      expect(sorted(publisher.ids)).toEqual(ids(nulls));
    },
  );

  it.for([
    [true, 12],
    [false, 12],
    [true, 9],
    [false, 9],
  ] as const)(
    'walks up past a block of undated alerts inside the list, longer than a page or a page less one (counts %s, %i)',
    async ([counts, length]) => {
      // Prepare: 9 is the shortest block two pages of 10 link through by its ids alone
      tanium.omitFilteredCount = !counts;
      const older = tanium.addSteady(20, 1000, T0 - 400_000);
      const block = Array.from({ length }, () => tanium.add(T0 - 300_000, { createdAt: 'not a time' }));
      const newer = tanium.addSteady(15, 1000, T0 - 200_000);

      // Act
      const report = await poll(SMALL);

      // Assess
      expect(report.status).toBe('caught_up');
      expect(sorted(publisher.ids)).toEqual(ids([...older, ...block, ...newer]));
    },
  );

  it('needs no more than the head read once caught up past a page of undated alerts at the floor', async () => {
    // Prepare
    tanium.addSteady(5, 1000, T0 - 400_000);
    for (let i = 0; i < 10; i++) tanium.add(T0 - 300_000, { createdAt: 'not a time' });
    tanium.addSteady(2, 1000, T0 - 200_000);
    await poll({ ...SMALL, maxRequestsPerRun: 30 });

    // Act
    const next = await poll({ ...SMALL, maxRequestsPerRun: 30 });

    // Assess
    expect(next).toMatchObject({ status: 'caught_up', published: 0 });
  });

  it('drops, logs and counts an undated alert the bus refuses whole before the floor passes it', async () => {
    // Prepare: the undated alert is refused (calls 1 and 2: whole, then reduced), a dated batch is taken
    // (call 3, moving the floor past where it was read), then PutEvents fails (call 4)
    tanium.addSteady(3, 100_000, T0 - 3_000_000);
    const refused = tanium.add(T0 - 2_750_000, { createdAt: 'not a time' });
    tanium.addSteady(25, 100_000, T0 - 1000);
    store.checkpoint = { floor: T0 - 3_500_000, recent: [] };
    publisher.refuse = (detail) => detail.id === refused.id;
    publisher.failOnCall = 4;

    // Act
    const reports: RunReport[] = [];
    for (let i = 0; i < 3; i++) {
      now += 60_000;
      reports.push(await poll({ ...SMALL, maxRequestsPerRun: 100 }));
    }

    // Assess: not lost in silence: dropped like a refused dated alert, once
    expect(reports.map((report) => report.status)).toEqual(['failed', 'caught_up', 'caught_up']);
    expect(reports.reduce((sum, report) => sum + report.refusedAlerts, 0)).toBe(1);
    expect(silentLogger.errorFields.map((fields) => fields.alertId)).toEqual([refused.id]);
    expect(duplicates(publisher.ids)).toEqual([]);
  });
});

describe('Alert poller: alerts without an id', () => {
  it('identifies an alert by a number or string id, else its guid, never by an object', () => {
    // Act / Assess
    expect(alertKey({ id: 7, guid: 'g-7' })).toBe('7');
    expect(alertKey({ id: 'a-7' })).toBe('a-7');
    expect(alertKey({ id: { value: 7 }, guid: 'g-7' })).toBe('g-7');
    expect(alertKey({ id: '', guid: 'g-8' })).toBe('g-8');
    expect(alertKey({ id: [7] })).toBeUndefined();
    expect(alertKey({ id: null, guid: { value: 'g' } })).toBeUndefined();
  });

  it('remembers only the identified alerts of the head at a first run with a window of 0', async () => {
    // Prepare: existing alerts, one of them without id or guid
    const all = tanium.addSteady(5, 1000, T0);
    all[2]!.anonymous = true;
    // Act
    const report = await poll({ firstRunHours: 0 });
    // Assess: the ids kept as done are the others', and nothing stands for the one without an id
    expect(report).toMatchObject({ status: 'caught_up', published: 0 });
    const remembered = store.checkpoint!.recent.flatMap(([, group]) => group);
    expect(remembered).toHaveLength(4);
    expect(sorted(remembered as number[])).toEqual(ids(all.filter((a) => a !== all[2])));
  });

  it('skips an alert without id or guid, counts it once per run, and publishes the others', async () => {
    // Prepare: a backlog whose walk ends by reading the head page again, one alert there without id or guid
    const all = tanium.addSteady(120, 1000, T0);
    const anonymous = all[115]!;
    anonymous.anonymous = true;
    // Act
    const report = await poll();
    // Assess
    expect(report).toMatchObject({ status: 'caught_up', unidentifiedAlerts: 1 });
    expect(report.taniumRequests).toBeGreaterThan(1);
    expect(sorted(publisher.ids)).toEqual(ids(all.filter((a) => a !== anonymous)));
    expect(silentLogger.errors).toEqual([
      'An alert without id or guid cannot be deduplicated; it is skipped',
    ]);
  });

  it.each([
    ['createdAt', T0 - 2000, {}],
    ['details', T0 - 1000, { details: JSON.stringify({ match: { type: 'file' } }) }],
  ])(
    'counts two alerts without id or guid that differ only in their %s as two',
    async (_, createdMs, other) => {
      // Prepare: two alerts without id or guid, the second unlike the first in one field
      const all = tanium.addSteady(10, 1000, T0);
      const first = tanium.add(T0 - 1000, { anonymous: true });
      tanium.add(createdMs, { anonymous: true, details: first.details, ...other });
      // Act
      const report = await poll();
      // Assess: each is an alert of its own the alarm on AlertsWithoutId should count
      expect(report.unidentifiedAlerts).toBe(2);
      expect(sorted(publisher.ids)).toEqual(ids(all));
    },
  );
});

describe('Alert poller: alerts too deep to serialise', () => {
  /** Valid JSON that JSON.parse reads and JSON.stringify overflows the stack on. */
  const deepDetails = `{"match":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;

  it('publishes one without its details and goes on, instead of failing every run', async () => {
    // Prepare
    const all = tanium.addSteady(12, 1000, T0);
    const deep = all[4]!;
    deep.details = deepDetails;
    // Act
    const report = await poll();
    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 12 });
    expect(sorted(publisher.ids)).toEqual(ids(all));
    const published = publisher.batches.flat().find((detail) => detail.id === deep.id);
    expect(published).toMatchObject({ details: null, details_omitted: UNSERIALISABLE_OMITTED });
  });

  it('skips one without id or guid, counting it, and publishes the others', async () => {
    // Prepare
    const all = tanium.addSteady(12, 1000, T0);
    const anonymous = all[4]!;
    anonymous.anonymous = true;
    anonymous.details = JSON.parse(deepDetails) as unknown as string;
    // Act
    const report = await poll();
    // Assess
    expect(report).toMatchObject({ status: 'caught_up', unidentifiedAlerts: 1 });
    expect(sorted(publisher.ids)).toEqual(ids(all.filter((a) => a !== anonymous)));
  });
});

describe('Alert poller: saved search bounds the list no longer bears out', () => {
  it('finds the floor when more alerts lie below it than an earlier search saved (they came back)', async () => {
    // Prepare: 2,000 alerts below the floor, where an unfinished search saved that at most 10 are (the
    // rest reopened since, under a state filter), and a backlog of 300 above it, deeper than the head
    const floor = T0 - 3_600_000 + 1;
    tanium.addSteady(2000, 1000, floor - 1);
    store.checkpoint = { floor, recent: [], olderBounds: [0, 10], newestPublishedAt: floor };
    const backlog = tanium.addSteady(300, 1000, T0);
    now = T0 + 1000;
    // Act
    const reports = await pollUntilCaughtUp({}, 20);
    // Assess: the page that proves the saved bound wrong wins over it, and the backlog goes out
    expect(reports.at(-1)?.status).toBe('caught_up');
    expect(sorted(publisher.ids)).toEqual(ids(backlog));
    expect(duplicates(publisher.ids)).toEqual([]);
  });
});

describe('Alert poller: a Tanium that caps the page size', () => {
  it('reads past a short page when Tanium counts more alerts, and loses none of a burst', async () => {
    // Prepare: caught up, then a burst of 250 while Tanium answers at most 30 rows for a limit of 50
    tanium.addSteady(40, 1000, T0);
    await pollUntilCaughtUp();
    tanium.maxLimit = 30;
    const burst = tanium.addSteady(250, 10, T0 + 60_000);
    now = T0 + 61_000;
    // Act
    const reports = await pollUntilCaughtUp();
    const steady = [await poll(), await poll()];
    // Assess
    expect(sorted(publisher.ids.filter((id) => id >= burst[0]!.id))).toEqual(ids(burst));
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(reports.at(-1)!.status).toBe('caught_up');
    expect(silentLogger.warnings.some((w) => w.includes('caps the page size'))).toBe(true);
    expect(steady.map((r) => r.taniumRequests)).toEqual([1, 1]);
  });

  it.each([1, 5, 20, 49])(
    'reads on when one deeper answer holds only %i rows, without shrinking the pages of the run',
    async (rows) => {
      // Prepare: a backlog; the second answer of the run is short although Tanium counts more
      const backlog = tanium.addSteady(400, 1000, T0);
      tanium.shortAnswers.set(2, rows);
      // Act
      const reports = await pollUntilCaughtUp();
      // Assess
      expect(sorted(publisher.ids)).toEqual(ids(backlog));
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(reports[0]!.taniumRequests).toBeLessThan(40);
    },
  );

  it.each([
    ['no count', () => (tanium.omitFilteredCount = true)],
    // totalCount alone (`filteredCount` missing or null) cannot say where the list ends either
    ['only its totalCount', () => (tanium.totalCountOnly = true)],
  ])(
    'reads past a short page when Tanium sends %s, and adopts the page size it caps `limit` at',
    async (_, counts) => {
      // Prepare: caught up, then 150 alerts while Tanium answers at most 100 rows
      counts();
      tanium.maxLimit = 100;
      const expected = tanium.addSteady(10, 1000, T0 - 120_000);
      await poll({ pageSize: 200 });
      expected.push(...tanium.addSteady(150, 100, T0 + 300_000));
      now = T0 + 600_000;
      // Act
      const report = await poll({ pageSize: 200 });
      const next = await poll({ pageSize: 200 });
      // Assess
      expect(report.status).toBe('caught_up');
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(ids(expected));
      expect(silentLogger.warnings.filter((w) => w.includes('caps the page size'))).toHaveLength(1);
      expect(next).toMatchObject({ status: 'caught_up', published: 0, taniumRequests: 1 });
    },
  );

  it('takes a short page for the end of the list when Tanium sends no count, once checked', async () => {
    // Prepare
    tanium.omitFilteredCount = true;
    tanium.addSteady(20, 1000, T0);
    // Act: the first run's backfill checks past its short page once, as does a later run whose page
    // does not reach below the floor (its 20 alerts are all within the overlap window)
    const report = await poll();
    now = T0 + 60_000;
    const next = await poll();
    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 20, taniumRequests: 2 });
    expect(next).toMatchObject({ status: 'caught_up', published: 0, taniumRequests: 2 });
  });

  it('backfills past a cap on `limit` at the first run when Tanium sends no count', async () => {
    // Prepare: 150 alerts in the first-run window; Tanium answers at most 100 rows and sends no meta
    tanium.omitFilteredCount = true;
    tanium.maxLimit = 100;
    const expected = tanium.addSteady(150, 1000, T0);
    // Act
    await pollUntilCaughtUp({ pageSize: 200 });
    // Assess
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    expect(silentLogger.warnings.filter((w) => w.includes('caps the page size'))).toHaveLength(1);
  });

  it('backfills past a cap on `limit` at a first run with a window of 0 that follows failed ones', async () => {
    // Prepare: the first try fails; 45 alerts are created meanwhile; Tanium caps `limit` at 20, no count
    tanium.omitFilteredCount = true;
    tanium.maxLimit = 20;
    tanium.failing.add(1);
    await poll({ firstRunHours: 0, pageSize: 50 });
    now = T0 + 600_000;
    const created = tanium.addSteady(45, 1000, now - 60_000);
    // Act
    await pollUntilCaughtUp({ firstRunHours: 0, pageSize: 50 });
    // Assess
    expect(sorted(publisher.ids)).toEqual(ids(created));
    expect(silentLogger.warnings.filter((w) => w.includes('caps the page size'))).toHaveLength(1);
  });
});

describe('Alert poller: failures', () => {
  it('publishes what is proven complete when Tanium fails mid-walk, and the next run finishes', async () => {
    // Prepare
    const expected = tanium.addSteady(1200, 1000, T0);
    tanium.failing = new Set([8]);
    const newestOfEachPage: number[] = [];
    const page = tanium.page.bind(tanium);
    tanium.page = async (offset, limit, deadline) => {
      const answer = await page(offset, limit, deadline);
      newestOfEachPage.push(Date.parse(answer.alerts[0]!.createdAt as string));
      return answer;
    };
    // Act
    const failed = await poll({ pageSize: 100 });
    const failedRun = [...publisher.ids];
    const lastBatchOfFailedRun = publisher.batches.at(-1)?.length;
    const provenBelow = newestOfEachPage.at(-1)!;
    const rest = await pollUntilCaughtUp({ pageSize: 100 });
    // Assess: the walk reads upward; everything below the newest alert of its last page is proven
    // complete and goes out, the last few in a partial batch of their own
    expect(failed.status).toBe('failed');
    expect(failed.error?.kind).toBe('transient');
    expect(sorted(failedRun)).toEqual(ids(expected.filter((alert) => alert.createdMs < provenBelow)));
    expect(lastBatchOfFailedRun).toBeLessThan(10);
    expect(rest.at(-1)?.status).toBe('caught_up');
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('reports a Tanium failure as the reason the run stopped, even when its time ran out as it failed', async () => {
    // Prepare: the eighth read fails, and the clock passes the run's end at that moment
    tanium.addSteady(1200, 1000, T0);
    tanium.failing = new Set([8]);
    let late = 0;
    tanium.beforeRequest = (request) => {
      if (request === 8) late = 120_000;
    };

    // Act
    const failed = await poll(
      { pageSize: 100 },
      { stopAt: Date.now() + 60_000, clock: () => Date.now() + late },
    );

    // Assess: RunsFailed, not RunsHitTimeLimit, although what was proven complete went out first
    expect(failed).toMatchObject({ status: 'failed', stoppedBy: 'error', error: { kind: 'transient' } });
    expect(failed.published).toBeGreaterThan(0);
  });

  it('reports a PutEvents failure as the reason the run stopped, even after its reads reached the request limit', async () => {
    // Prepare: the last call, for what the walk read before its budget ran out, fails
    tanium.addSteady(600, 1000, T0);
    publisher.failOnCall = 8;

    // Act
    const failed = await poll({ maxRequestsPerRun: 6 });

    // Assess: RunsFailed, not RunsHitRequestLimit
    expect(publisher.calls).toBe(8);
    expect(failed).toMatchObject({ status: 'failed', stoppedBy: 'error', published: 70 });
    expect(failed.error?.message).toMatch(/PutEvents failed/);
  });

  it('reports the Tanium failure when publishing what was proven complete after it fails too', async () => {
    // Prepare: the eighth read fails, then the first PutEvents call after it
    const expected = tanium.addSteady(1200, 1000, T0);
    tanium.failing = new Set([8]);
    tanium.beforeRequest = (request) => {
      if (request === 8) publisher.failOnCall = publisher.calls + 1;
    };

    // Act
    const failed = await poll({ pageSize: 100 });
    const warnings = [...silentLogger.warnings];
    const warnFields = [...silentLogger.warnFields];
    tanium.beforeRequest = undefined;
    await pollUntilCaughtUp({ pageSize: 100 });

    // Assess: the run's error is the first failure; the second one is logged
    expect(failed).toMatchObject({ status: 'failed', stoppedBy: 'error', error: { kind: 'transient' } });
    expect(failed.error?.message).toMatch(/Status Code: 503/);
    expect(warnings).toEqual(['Publishing after a failure failed too']);
    expect(warnFields).toEqual([{ error: expect.stringMatching(/PutEvents failed/) }]);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('stops without saving when another run takes over while it publishes after a Tanium failure', async () => {
    // Prepare: the eighth read fails; another run takes the state over before the next save
    tanium.addSteady(1200, 1000, T0);
    tanium.failing = new Set([8]);
    tanium.beforeRequest = (request) => {
      if (request === 8) store.leaseOwner = 'someone-else';
    };

    // Act
    const report = await poll({ pageSize: 100 });

    // Assess
    expect(report).toMatchObject({ status: 'lease_lost', stoppedBy: 'error', error: { kind: 'transient' } });
    expect(silentLogger.warnings).not.toContain('Publishing after a failure failed too');
  });

  it('fails a head request without touching the state', async () => {
    // Prepare
    const expected = tanium.addSteady(30, 1000, T0);
    await poll();
    tanium.add(T0 + 1000);
    tanium.failing = new Set([tanium.requests + 1]);
    const version = store.version;
    // Act
    const report = await poll();
    // Assess
    expect(report.status).toBe('failed');
    expect(store.version).toBe(version);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('reports a state store that cannot be read as a failed run, without reading Tanium', async () => {
    // Prepare
    tanium.addSteady(30, 1000, T0);
    store.acquire = async () => {
      throw new Error('ProvisionedThroughputExceededException: slow down');
    };
    // Act
    const report = await poll();
    // Assess
    expect(report).toMatchObject({
      status: 'failed',
      stoppedBy: 'error',
      taniumRequests: 0,
      error: { message: expect.stringContaining('slow down') },
    });
    expect(publisher.ids).toEqual([]);
  });

  it('re-publishes at most one batch after a crash between PutEvents and the checkpoint', async () => {
    // Prepare
    const expected = tanium.addSteady(95, 1000, T0);
    const save = store.save.bind(store);
    let crashNextSave = false;
    publisher.afterPublish = (call) => {
      if (call === 4) crashNextSave = true;
    };
    store.save = async (...args) => {
      if (crashNextSave) {
        crashNextSave = false;
        throw new Error('Runtime exited');
      }
      return save(...args);
    };
    // Act
    const crashed = await poll();
    const next = await poll();
    // Assess
    expect(crashed.status).toBe('failed');
    expect(crashed.published).toBe(40);
    expect(next.status).toBe('caught_up');
    const twice = duplicates(publisher.ids);
    expect(twice.length).toBeLessThanOrEqual(10);
    expect(twice).toEqual(sorted(publisher.batches[3]!.map((d) => d.id as number)));
    expect(sorted(new Set(publisher.ids))).toEqual(ids(expected));
  });

  it('does not advance the cursor past a batch that PutEvents did not take', async () => {
    // Prepare
    const expected = tanium.addSteady(45, 1000, T0);
    publisher.failOnCall = 3;
    // Act
    const failed = await poll();
    const next = await poll();
    // Assess
    expect(failed).toMatchObject({ status: 'failed', published: 20, putEventsCalls: 2, batches: 2 });
    expect(failed.error?.message).toMatch(/PutEvents failed/);
    expect(next.published).toBe(25);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('remembers the events PutEvents took from a batch whose other entries kept failing', async () => {
    // Prepare: alerts 5 minutes apart, so that the floor follows each batch closely; three alerts of
    // the second batch stay throttled past the retries, two of them below alerts the bus took
    const expected = tanium.addSteady(25, 300_000, T0);
    const throttled = new Set([expected[12]!.id, expected[15]!.id, expected[19]!.id]);
    publisher.throttle = (detail) => throttled.has(detail.id as number);
    // Act
    const failed = await poll();
    const takenInFailedRun = [...publisher.ids];
    publisher.throttle = undefined;
    const next = await poll();
    // Assess: the failed run still saved what went out; the next one sends only the rest
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    // One call for the first batch, and the five attempts the publisher made at the second
    expect(failed).toMatchObject({
      status: 'failed',
      published: 17,
      reducedAlerts: 0,
      putEventsCalls: 6,
      error: { kind: 'transient' },
    });
    expect(failed.error?.message).toMatch(/rejected 3 of 10 alert events after 5 attempts/);
    expect(sorted(takenInFailedRun)).toEqual(ids(expected.slice(0, 20).filter((a) => !throttled.has(a.id))));
    expect(next).toMatchObject({ status: 'caught_up', published: 8 });
  });

  it.each([
    // the bus refuses the 3rd alert whole and throttles its reduced form during the first run
    { case: 'the reduced form of a refused alert keeps failing', refusedWhole: [2], reducedTaken: 0 },
    // it refuses the 3rd and 6th whole; of their reduced forms, sent together, it takes the 3rd's and
    // throttles the 6th's: the 3rd must not go out again
    {
      case: 'one refused alert is taken reduced beside another whose reduced form keeps failing',
      refusedWhole: [2, 5],
      reducedTaken: 1,
    },
  ])('remembers the events PutEvents took when $case', async ({ refusedWhole, reducedTaken }) => {
    // Prepare: the last refused alert's reduced form is the one throttled
    const expected = tanium.addSteady(12, 300_000, T0);
    const refused = new Set(refusedWhole.map((index) => expected[index]!.id));
    const throttled = expected[refusedWhole.at(-1)!]!;
    publisher.refuse = (detail) => refused.has(detail.id as number) && detail.details_omitted === undefined;
    publisher.throttle = (detail) => detail.id === throttled.id && detail.details_omitted !== undefined;
    // Act
    const failed = await poll();
    publisher.throttle = undefined;
    const next = await poll();
    // Assess: the next run sends only what the bus did not take
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    expect(failed).toMatchObject({ status: 'failed', published: 9, reducedAlerts: reducedTaken });
    expect(next).toMatchObject({ status: 'caught_up', published: 3, reducedAlerts: 1 });
  });

  it('keeps the ids above an alert PutEvents did not take when a small page size bounds the ids kept', async () => {
    // Prepare: pages of 10 keep 6 ids below the newest published millisecond; the second oldest alert
    // stays throttled past the retries, below alerts the bus took in the same batch
    const expected = tanium.addSteady(12, 1000, T0);
    const throttled = expected[1]!;
    publisher.throttle = (detail) => detail.id === throttled.id;
    // Act
    const failed = await poll({ pageSize: 10 });
    publisher.throttle = undefined;
    const next = await poll({ pageSize: 10 });
    // Assess
    expect(failed.status).toBe('failed');
    expect(next.status).toBe('caught_up');
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('publishes an alert EventBridge refuses whole with its identifying fields only', async () => {
    // Prepare: EventBridge refuses the full event of the 3rd alert (whose details cannot be parsed, so
    // the full event carries details_raw and details_error), not its reduced form
    const expected = tanium.addSteady(12, 1000, T0);
    const refused = expected[2]!;
    refused.details = '{"match":';
    publisher.refuse = (detail) => detail.id === refused.id && detail.details_omitted === undefined;
    // Act
    const report = await poll();
    // Assess
    expect(report.status).toBe('caught_up');
    expect(report.published).toBe(12);
    expect(report.reducedAlerts).toBe(1);
    expect(report.refusedAlerts).toBe(0);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
    const reduced = publisher.details.find((detail) => detail.id === refused.id);
    expect(reduced).toEqual({
      id: refused.id,
      guid: refused.guid,
      state: 'unresolved',
      createdAt: refused.createdAt,
      path: '',
      event_type: '',
      details: null,
      details_omitted: 'details omitted: EventBridge refused the whole alert',
    });
    expect(publisher.details.find((detail) => detail.id === expected[3]!.id)).toMatchObject({
      details: { match: { type: 'process' } },
    });
    // The warning names the alert as its reduced event does, so that the two can be matched up
    expect(silentLogger.warnings).toEqual([
      'EventBridge refused an alert event; publishing its identifying fields only',
    ]);
    expect(silentLogger.warnFields).toEqual([
      {
        alertId: refused.id,
        guid: refused.guid,
        createdAt: refused.createdAt,
        code: 'InvalidArgument',
        error: 'Event refused',
      },
    ]);
  });

  it('sends both the full and the reduced event with the source and detail type of its settings', async () => {
    // Prepare: rules match on both, so an alert sent again reduced must not fall back to the defaults
    const [taken, refused] = tanium.addSteady(2, 1000, T0);
    publisher.refuse = (detail) => detail.id === refused!.id && detail.details_omitted === undefined;
    const sent: Array<{ Source: string; DetailType: string; id: unknown }> = [];
    const publish = publisher.publish.bind(publisher);
    publisher.publish = (entries) => {
      for (const { Source, DetailType, Detail } of entries)
        sent.push({ Source, DetailType, id: (JSON.parse(Detail) as { id: unknown }).id });
      return publish(entries);
    };

    // Act
    const report = await poll({ source: 'custom.source', detailType: 'Custom Alert' });

    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 2, reducedAlerts: 1 });
    const custom = { Source: 'custom.source', DetailType: 'Custom Alert' };
    expect(sent).toEqual([
      { ...custom, id: taken!.id },
      { ...custom, id: refused!.id },
      { ...custom, id: refused!.id },
    ]);
  });

  it('drops an alert EventBridge refuses even reduced, logs it, and carries on with the later ones', async () => {
    // Prepare
    const first = tanium.addSteady(12, 1000, T0);
    const refusedId = first[4]!.id;
    publisher.refuse = (detail) => detail.id === refusedId;
    // Act
    const report = await poll();
    const later = tanium.addSteady(3, 10, T0 + 5000);
    now = T0 + 10_000;
    const next = await poll();
    // Assess
    expect(report.status).toBe('caught_up');
    expect(report.published).toBe(11);
    expect(report.reducedAlerts).toBe(0);
    expect(report.refusedAlerts).toBe(1);
    expect(silentLogger.errors).toEqual([
      'EventBridge refused an alert event even reduced; it is not published',
    ]);
    expect(silentLogger.errorFields[0]).toMatchObject({
      alertId: refusedId,
      guid: first[4]!.guid,
      code: 'InvalidArgument',
      firstCode: 'InvalidArgument',
    });
    expect(next.published).toBe(3);
    expect(next.refusedAlerts).toBe(0);
    expect(sorted(publisher.ids)).toEqual(ids([...first, ...later].filter((a) => a.id !== refusedId)));
    expect(duplicates(publisher.ids)).toEqual([]);
  });

  it('reduces one refused alert and drops another in the same batch, and counts each once', async () => {
    // Prepare: the 2nd alert is refused whole only; the 5th, whose details cannot be parsed, always
    const alerts = tanium.addSteady(10, 1000, T0);
    const [reducedOne, droppedOne] = [alerts[1]!, alerts[4]!];
    droppedOne.details = 'not json';
    publisher.refuse = (detail) =>
      detail.id === droppedOne.id || (detail.id === reducedOne.id && detail.details_omitted === undefined);
    // Act
    const report = await poll();
    // Assess
    expect(report).toMatchObject({ published: 9, reducedAlerts: 1, refusedAlerts: 1, unparseableDetails: 0 });
    expect(silentLogger.errorFields.map((fields) => fields.alertId)).toEqual([droppedOne.id]);
    expect(sorted(publisher.ids)).toEqual(ids(alerts.filter((a) => a.id !== droppedOne.id)));
  });

  it('keeps a lone refused alert until a newer one shows the bus works, then drops it', async () => {
    // Prepare: the only new alert is refused even reduced
    const [lone] = tanium.addSteady(1, 1000, T0);
    publisher.refuse = (detail) => detail.id === lone!.id;
    // Act
    const alone = await poll();
    const newer = tanium.addSteady(2, 10, T0 + 5000);
    now = T0 + 10_000;
    const withNewer = await poll();
    // Assess
    expect(alone).toMatchObject({ status: 'failed', refusedAlerts: 0, published: 0 });
    expect(withNewer).toMatchObject({ status: 'caught_up', refusedAlerts: 1, published: 2 });
    expect(sorted(publisher.ids)).toEqual(ids(newer));
  });

  it('counts a run its time limit stopped while it held a refused alert as failed and stopped by the limit', async () => {
    // Prepare: the oldest new alert, too big to share a call, is refused even reduced; the clock passes
    // the run's end after that call
    const lone = alertOfSize(T0 - 5000, 150_000);
    const newer = alertOfSize(T0 - 1000, 200_000);
    publisher.refuse = (detail) => detail.id === lone.id;
    let late = 0;
    publisher.afterPublish = () => {
      late = 120_000;
    };

    // Act
    const limited = await poll({}, { stopAt: Date.now() + 60_000, clock: () => Date.now() + late });
    publisher.afterPublish = undefined;
    const next = await poll();

    // Assess: RunsFailed and RunsHitTimeLimit both count it; the refused alert is dropped only later
    expect(limited).toMatchObject({
      status: 'failed',
      stoppedBy: 'time_limit',
      refusedAlerts: 0,
      published: 0,
    });
    expect(limited.error?.message).toMatch(/refused/);
    expect(next).toMatchObject({ status: 'caught_up', refusedAlerts: 1, published: 1 });
    expect(publisher.ids).toEqual([newer.id]);
  });

  it('drops a whole batch of refused alerts once a newer alert shows the bus works', async () => {
    // Prepare: the ten oldest new alerts, a whole first batch, are refused even reduced
    const bad = tanium.addSteady(10, 1000, T0 - 100_000);
    const good = tanium.addSteady(5, 1000, T0 - 10_000);
    const badIds = new Set(bad.map((a) => a.id));
    publisher.refuse = (detail) => badIds.has(detail.id as number);

    // Act
    const report = await poll();
    const next = await poll();

    // Assess: not a poller that fails on the same batch every run; the refused ones logged, not again
    // Two calls for the refused batch, one for the newer alerts: dropped, it is not sent again
    expect(report).toMatchObject({ status: 'caught_up', refusedAlerts: 10, published: 5, putEventsCalls: 3 });
    expect(sorted(publisher.ids)).toEqual(ids(good));
    expect(sorted(silentLogger.errorFields.map((fields) => fields.alertId as number))).toEqual(ids(bad));
    expect(next).toMatchObject({ status: 'caught_up', published: 0, putEventsCalls: 0 });
  });

  it('drops a lone refused alert when the newer one that shows the bus works needs a call of its own', async () => {
    // Prepare: the refused alert and the next one do not fit one PutEvents call together
    const lone = alertOfSize(T0 - 5000, 150_000);
    const big = alertOfSize(T0 - 1000, 200_000);
    publisher.refuse = (detail) => detail.id === lone.id;

    // Act
    const report = await poll();

    // Assess
    expect(report).toMatchObject({ status: 'caught_up', refusedAlerts: 1, published: 1 });
    expect(publisher.ids).toEqual([big.id]);
  });

  it('stops trying batches after five refused whole when the bus takes none, and drops nothing', async () => {
    // Prepare
    const expected = tanium.addSteady(80, 100, T0 - 60_000);
    const triedWhole: number[] = [];
    publisher.refuse = (detail) => {
      if (detail.details_omitted === undefined) triedWhole.push(detail.id as number);
      return true;
    };

    // Act
    const failed = await poll();
    publisher.refuse = undefined;
    const next = await poll();

    // Assess: two calls (whole, then reduced) for each of the six batches tried, not one per alert read;
    // a batch held is not tried again while the next ones tell whether the bus works
    expect(failed).toMatchObject({ status: 'failed', refusedAlerts: 0, published: 0, putEventsCalls: 12 });
    expect(triedWhole).toHaveLength(60);
    expect(duplicates(triedWhole)).toEqual([]);
    expect(next.status).toBe('caught_up');
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('drops nothing when the bus refuses every alert of the run, even reduced, and fails the run', async () => {
    // Prepare
    const expected = tanium.addSteady(12, 1000, T0);
    publisher.refuse = () => true;
    // Act
    const failed = await poll();
    publisher.refuse = undefined;
    const next = await poll();
    // Assess: a failure of its own (RunsFailed), to be retried by the next run
    expect(failed).toMatchObject({ status: 'failed', stoppedBy: 'error', error: { kind: 'transient' } });
    expect(failed.error?.message).toMatch(
      /^EventBridge refused every alert event of this run, even reduced to identifying fields \(InvalidArgument: Event refused\); none was dropped/,
    );
    expect(failed.refusedAlerts).toBe(0);
    expect(next.status).toBe('caught_up');
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('publishes alerts whose details cannot be parsed, with the reason', async () => {
    // Prepare
    tanium.add(T0 - 2000, { details: '{"match":{"type":"process",' });
    tanium.add(T0 - 1000, { details: undefined });
    tanium.add(T0);
    // Act
    const report = await poll();
    // Assess
    expect(report.published).toBe(3);
    expect(report.unparseableDetails).toBe(2);
    const [broken, missing, good] = publisher.details;
    expect(broken).toMatchObject({ details: null, path: '', event_type: '' });
    expect(broken?.details_raw).toBe('{"match":{"type":"process",');
    expect(String(broken?.details_error)).toMatch(/^Unable to parse details: /);
    expect(missing).toMatchObject({
      details: null,
      details_error: 'Unable to parse details: details is missing',
    });
    expect(good).toMatchObject({ event_type: 'process', details: { match: { type: 'process' } } });
  });
});

describe('Alert poller: clock and lag', () => {
  it('does not let one alert stamped an hour ahead hide the alerts created after it', async () => {
    // Prepare: caught up, then an alert from the future (a Tanium clock stepped back, a wrong createdAt)
    tanium.addSteady(30, 1000, T0);
    await pollUntilCaughtUp();
    const future = tanium.add(T0 + 3_600_000);
    now = T0 + 1000;
    const withFuture = await poll();
    // Act: one real alert a minute for ten minutes
    const later: FakeAlert[] = [];
    for (let minute = 1; minute <= 10; minute++) {
      now = T0 + minute * 60_000;
      later.push(tanium.add(now - 1000));
      await poll();
    }
    // Assess
    expect(withFuture).toMatchObject({ published: 1, futureAlerts: 1 });
    const warned = silentLogger.warnings.findIndex((w) => w.includes('created in the future'));
    expect(silentLogger.warnFields[warned]).toEqual({
      count: 1,
      newest: new Date(future.createdMs).toISOString(),
    });
    expect(publisher.ids.filter((id) => id === future.id)).toHaveLength(1);
    expect(sorted(publisher.ids.filter((id) => id > future.id))).toEqual(ids(later));
    expect(duplicates(publisher.ids)).toEqual([]);
  });

  it.for([
    { case: 'more than a page of alerts an hour ahead', aheadMs: 3_600_000, spread: 100, requests: 100 },
    {
      case: 'more than a page of alerts three days ahead',
      aheadMs: 3 * 86_400_000,
      spread: 100,
      requests: 100,
    },
    // Read over several runs, so the walk keeps a group cursor until the newer ones are done
    {
      case: 'a millisecond of more alerts than a run reads, then newer ones',
      aheadMs: 3_600_000,
      spread: 0,
      requests: 4,
    },
  ])(
    'does not let $case hide the alerts created after them, nor damage the state',
    async ({ aheadMs, spread, requests }) => {
      // Prepare: caught up, then alerts from the future: a Tanium clock that ran ahead and was corrected
      const limits = { pageSize: 50, maxRequestsPerRun: requests };
      await caughtUpAtT0(limits);
      const ahead = Array.from({ length: 250 }, (_, i) => tanium.add(T0 + aheadMs + i * spread));
      if (spread === 0) ahead.push(...tanium.addSteady(5, 100, T0 + aheadMs + 1000));
      now = T0 + 1000;
      await pollUntilCaughtUp(limits);
      // Act: one real alert a minute for ten minutes
      const later: FakeAlert[] = [];
      const reports: RunReport[] = [];
      for (let minute = 1; minute <= 10; minute++) {
        now = T0 + minute * 60_000;
        later.push(tanium.add(now - 1000));
        reports.push(...(await pollUntilCaughtUp(limits)));
      }
      // Assess: every alert once; no run failed (a floor days ahead would make the state unreadable)
      expect(reports.filter((r) => r.status === 'failed')).toEqual([]);
      expect(store.checkpoint!.floor).toBeLessThanOrEqual(now);
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids.filter((id) => id >= ahead[0]!.id))).toEqual(ids([...ahead, ...later]));
    },
  );

  it('keeps the overlap window for real alerts while alerts stamped ahead are remembered', async () => {
    // Prepare: caught up; 100 alerts an hour ahead (two pages' worth), then three real ones published
    const limits = { pageSize: 50, maxRequestsPerRun: 100 };
    await publishedAhead(() => tanium.addSteady(100, 100, T0 + 3_600_000), limits);
    now = T0 + 300_000;
    for (const age of [50_000, 30_000, 1000]) tanium.add(now - age);
    await pollUntilCaughtUp(limits);

    // Act / Assess: an alert created 40 s ago, inside the overlap window (60 s), becomes visible only now
    await publishedOnceWhenLate(40_000, limits);
  });

  it('keeps no more ids stamped ahead than the state item holds, whatever the settings allow', async () => {
    // Prepare: settings under which half a run reads past 25,000 ids; 6,000 alerts a day ahead
    const limits = { pageSize: 1000, maxRequestsPerRun: 100, maxRecentIds: 40_000 };
    await caughtUpAtT0(limits);
    tanium.addSteady(6000, 10, T0 + 86_400_000);
    now = T0 + 1000;

    // Act
    await pollUntilCaughtUp(limits);

    // Assess: at most 4,000 ahead, well under DynamoDB's 400 KB item, and the warning
    const kept = store.checkpoint!.recent.reduce((n, [, group]) => n + group.length, 0);
    expect(kept).toBeLessThanOrEqual(4_000 + 800);
    expect(JSON.stringify(store.checkpoint!.recent).length).toBeLessThan(200_000);
    expect(silentLogger.warnings.some((w) => w.includes('More alerts stamped ahead of this function'))).toBe(
      true,
    );
  });

  it('keeps the overlap window below the newest published alert when the head holds alerts stamped ahead', async () => {
    // Prepare: caught up; ten alerts an hour ahead; then a real alert created 70 s ago is published
    const limits = { pageSize: 50, maxRequestsPerRun: 100 };
    await publishedAhead(() => tanium.addSteady(10, 100, T0 + 3_600_000), limits);
    now = T0 + 300_000;
    tanium.add(now - 70_000);
    await pollUntilCaughtUp(limits);

    // Act / Assess: an alert created 5 s before it (inside W = 60 s) becomes visible only now
    await publishedOnceWhenLate(75_000, limits);
  });

  it('keeps the overlap window below the newest real alert when the one the head read lists first is stamped ahead', async () => {
    // Prepare: caught up; then an alert an hour ahead and a real one created 10 s ago are published
    await caughtUpAtT0();
    tanium.add(T0 + 3_600_000);
    tanium.add(T0 + 20_000);
    now = T0 + 30_000;
    await pollUntilCaughtUp();

    // Act / Assess: an alert created 55 s before the real one (inside W = 60 s) becomes visible only now
    await publishedOnceWhenLate(65_000);
  });

  it('counts an alert stamped exactly at the clock as real when it moves the floor', async () => {
    // Prepare: a backlog 100 s old and one alert created now; the clock passes the run's end after the
    // backlog's two batches, before that alert goes out
    tanium.addSteady(20, 1000, T0 - 100_000);
    tanium.add(T0);
    let late = 0;
    publisher.afterPublish = (call) => {
      if (call === 2) late = 120_000;
    };

    // Act
    const report = await poll({}, { stopAt: Date.now() + 60_000, clock: () => Date.now() + late });
    const floorBehind = store.checkpoint?.floor;
    publisher.afterPublish = undefined;
    const next = await poll();

    // Assess: everything older than W below the newest alert at the head read was visible before the
    // walk, so the floor follows the published alerts themselves; once that alert is out, W below it
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'time_limit', published: 20 });
    expect(floorBehind).toBe(T0 - 100_000);
    expect(next).toMatchObject({ status: 'caught_up', published: 1 });
    expect(store.checkpoint?.floor).toBe(T0 - 60_000);
  });

  it.for([
    { case: 'an hour', aheadMs: 3_600_000 },
    { case: 'ten days', aheadMs: 10 * 86_400_000 },
  ])(
    'does not let a first run with a window of 0 whose full head page is $case ahead put the floor past the clock',
    async ({ aheadMs }) => {
      // Prepare: more than a page of alerts stamped ahead when the poller first runs
      tanium.addSteady(60, 1000, T0 + aheadMs);
      await poll({ firstRunHours: 0, pageSize: 50 });
      const floor = store.checkpoint!.floor;
      // Act
      now = T0 + 60_000;
      const real = tanium.add(now - 1000);
      await pollUntilCaughtUp({ firstRunHours: 0, pageSize: 50 });
      // Assess
      expect(floor).toBeLessThanOrEqual(T0);
      expect(publisher.ids).toContain(real.id);
    },
  );

  it('publishes nothing existing at a first run with a window of 0 on a busy list under a Tanium clock 30 s ahead', async () => {
    // Prepare: 100 alerts in 10 s, stamped by a clock 30 s ahead (skew taken as normal)
    tanium.addSteady(100, 100, T0 + 30_000);
    await poll({ firstRunHours: 0, pageSize: 50 });
    // Act
    now = T0 + 1000;
    await poll({ firstRunHours: 0, pageSize: 50 });
    // Assess
    expect(publisher.ids).toEqual([]);
  });

  it.for([
    { case: 'in the same batch', apart: false, aheadMs: 3_600_000 },
    { case: 'published before, within the skew taken as normal', apart: true, aheadMs: 50_000 },
  ])(
    'keeps the overlap window below the newest real alert with one stamped ahead $case',
    async ({ apart, aheadMs }) => {
      // Prepare: caught up; an alert with a wrong createdAt ahead and a real one 70 s old are published
      const limits = { pageSize: 50, maxRequestsPerRun: 100 };
      await caughtUpAtT0(limits);
      if (apart) {
        now = T0 + 250_000;
        tanium.add(T0 + 300_000 + aheadMs);
        await pollUntilCaughtUp(limits);
      } else tanium.add(T0 + 300_000 + aheadMs);
      now = T0 + 300_000;
      tanium.add(now - 70_000);
      await pollUntilCaughtUp(limits);

      // Act / Assess: an alert created 5 s before the real one becomes visible only now
      await publishedOnceWhenLate(75_000, limits);
    },
  );

  it('keeps two alerts stamped ahead when POLLER_MAX_RECENT_IDS already bounds the ids behind the clock', async () => {
    // Prepare: 150 alerts in the last 30 s fill the 100 ids the setting keeps; then two an hour ahead
    const limits = { pageSize: 200, maxRequestsPerRun: 100, maxRecentIds: 100 };
    tanium.addSteady(150, 200, T0);
    await pollUntilCaughtUp(limits);
    now = T0 + 1000;
    tanium.add(T0 + 3_600_000);
    tanium.add(T0 + 3_601_000);
    await pollUntilCaughtUp(limits);
    // Act
    now = T0 + 60_000;
    const real = tanium.add(now - 1000);
    await pollUntilCaughtUp(limits);
    // Assess
    expect(store.checkpoint!.floor).toBeLessThanOrEqual(now);
    expect(publisher.ids).toContain(real.id);
    expect(silentLogger.warnings.some((w) => w.includes('More alerts stamped ahead of this function'))).toBe(
      false,
    );
  });

  it('lets the floor pass alerts stamped ahead beyond what a run can read past, saying so', async () => {
    // Prepare: caught up; then 400 alerts an hour ahead, more than half a run's requests read past
    const limits = { pageSize: 50, maxRequestsPerRun: 10, maxRecentIds: 100 };
    await caughtUpAtT0(limits);
    const ahead = Array.from({ length: 400 }, (_, i) => tanium.add(T0 + 3_600_000 + i * 100));
    now = T0 + 1000;
    // Act
    const reports = await pollUntilCaughtUp(limits);
    // Assess: each published once, and the floor passed some of them with a warning
    expect(reports.every((r) => r.status !== 'failed')).toBe(true);
    expect(sorted(publisher.ids.filter((id) => id >= ahead[0]!.id))).toEqual(ids(ahead));
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(store.checkpoint!.floor).toBeGreaterThan(now);
    const passed = silentLogger.warnFields.filter((_, i) =>
      silentLogger.warnings[i]!.includes('More alerts stamped ahead of this function'),
    );
    expect(passed.length).toBeGreaterThan(0);
    for (const fields of passed) expect(reports.map((r) => r.floor)).toContain(fields.floor);
  });

  it('reports no lag once caught up, even after publishing alerts hours old', async () => {
    // Prepare: a first-run backfill whose newest alert is five hours old
    tanium.addSteady(20, 1000, T0 - 5 * 3_600_000);
    // Act
    const report = await poll();
    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 20, lagMs: 0 });
  });

  it('sends no lag when a quiet poller cannot read Tanium: the failure alarm covers that', async () => {
    // Prepare: caught up three hours ago, nothing new since
    tanium.addSteady(20, 1000, T0);
    await pollUntilCaughtUp();
    now = T0 + 3 * 3_600_000;
    tanium.failing.add(tanium.requests + 1);
    // Act
    const report = await poll();
    // Assess
    expect(report.status).toBe('failed');
    expect(report.lagMs).toBeUndefined();
  });

  it('reports, while behind, how long the oldest unpublished alert has waited', async () => {
    // Prepare: a backlog larger than one run may read
    const backlog = tanium.addSteady(300, 1000, T0);
    now = T0 + 10_000;
    // Act
    const report = await poll({ maxRequestsPerRun: 6 });
    // Assess
    const published = new Set(publisher.ids);
    const oldestWaiting = Math.min(...backlog.filter((a) => !published.has(a.id)).map((a) => a.createdMs));
    expect(report.status).toBe('partial');
    expect(report.published).toBeGreaterThan(0);
    expect(report.lagMs).toBe(now - oldestWaiting);
  });

  it.each([
    { case: 'passes', past: 60_000 },
    // the run's end itself is already past it: no batch starts at that instant
    { case: 'reaches exactly', past: 0 },
  ])(
    'reports a run the time limit stopped after its first batch as behind, although it read the whole list, when the clock $case its end',
    async ({ past }) => {
      // Prepare: the clock moves to the run's end (or past it) once the first batch is out
      const backlog = tanium.addSteady(25, 1000, T0);
      now = T0 + 10_000;
      const stopAt = Date.now() + 60_000;
      let ended = false;
      publisher.afterPublish = () => {
        ended = true;
      };

      // Act
      const report = await poll({}, { stopAt, clock: () => (ended ? stopAt + past : Date.now()) });

      // Assess
      expect(report).toMatchObject({ status: 'partial', stoppedBy: 'time_limit', published: 10 });
      expect(report.lagMs).toBe(now - backlog[10]!.createdMs);
    },
  );

  it('reports the lag of the oldest alert left when newer ones were read after it', async () => {
    // Prepare: the clock passes the run's end during the read that follows the fifth batch, so alerts
    // read before that page and after it both wait
    const backlog = tanium.addSteady(120, 1000, T0);
    now = T0 + 10_000;
    let late = 0;
    tanium.beforeRequest = () => {
      if (publisher.calls === 5) late = 120_000;
    };

    // Act
    const report = await poll({}, { stopAt: Date.now() + 60_000, clock: () => Date.now() + late });

    // Assess
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'time_limit', published: 50 });
    expect(report.lagMs).toBe(now - backlog[50]!.createdMs);
  });

  it.for([
    { saved: 'the newest published alert', newestPublishedAt: T0 - 30_000, lagMs: 30_000 },
    {
      saved: 'the floor, when the state has no newest published alert',
      newestPublishedAt: undefined,
      lagMs: 129_000,
    },
  ])(
    'reports, while behind with no alert read left to publish, the lag from $saved',
    async ({ newestPublishedAt, lagMs }) => {
      // Prepare: every alert above the floor is published, more than a page of them, so the head read
      // does not reach the floor and the one request of the run is spent
      const published = tanium.addSteady(100, 1000, T0 - 30_000);
      store.checkpoint = {
        floor: published[0]!.createdMs,
        recent: published.map((alert) => [alert.createdMs, [alert.id]]),
        ...(newestPublishedAt === undefined ? {} : { newestPublishedAt }),
      };

      // Act
      const report = await poll({ maxRequestsPerRun: 1 });

      // Assess
      expect(report).toMatchObject({ status: 'partial', stoppedBy: 'request_limit', published: 0, lagMs });
    },
  );

  it('sends no lag when a quiet poller that read the whole list cannot save what it learnt', async () => {
    // Prepare: every alert above the floor is published, more than a page of them, so the run searches
    // for the floor and saves what it found; that save fails
    const published = tanium.addSteady(100, 1000, T0 - 30_000);
    store.checkpoint = {
      floor: published[0]!.createdMs,
      recent: published.map((alert) => [alert.createdMs, [alert.id]]),
      newestPublishedAt: T0 - 30_000,
    };
    store.save = async () => {
      throw new Error('DynamoDB is unavailable');
    };

    // Act
    const report = await poll();

    // Assess: nothing waits, and the failure alarm covers the failed run
    expect(report).toMatchObject({ status: 'failed', published: 0 });
    expect(report.lagMs).toBeUndefined();
  });
});

describe('Alert poller: concurrency', () => {
  it('lets only one of two overlapping runs publish', async () => {
    // Prepare
    const expected = tanium.addSteady(300, 1000, T0);
    // Act
    const [a, b] = await Promise.all([poll(), poll()]);
    await pollUntilCaughtUp();
    // Assess
    expect([a.status, b.status].sort()).toEqual(['caught_up', 'skipped']);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(ids(expected));
  });

  it('stops a run whose lease was taken over after it expired', async () => {
    // Prepare
    tanium.addSteady(60, 1000, T0);
    publisher.afterPublish = (call) => {
      // Another run takes over (as if this one had stalled past its lease)
      if (call === 2) store.leaseOwner = 'someone-else';
    };
    // Act
    const report = await poll();
    const next = await poll();
    // Assess: the run that took over keeps its lease, and the log names the run that lost it
    expect(report.status).toBe('lease_lost');
    expect(publisher.calls).toBe(2);
    expect(store.version).toBe(2);
    expect(next.status).toBe('skipped');
    expect(silentLogger.errorFields).toEqual([{ owner: 'run-1' }]);
  });

  it.each([
    { holder: 'another run, until this very instant', owner: 'other', until: T0, status: 'skipped' },
    { holder: 'another run, until just before now', owner: 'other', until: T0 - 1, status: 'caught_up' },
    {
      holder: 'this same run (its answer lost, sent again)',
      owner: 'run-1',
      until: T0 + 60_000,
      status: 'caught_up',
    },
  ])('takes the lease held by $holder: $status', async ({ owner, until, status }) => {
    // Prepare
    tanium.addSteady(3, 1000, T0);
    store.leaseOwner = owner;
    store.leaseUntil = until;
    // Act
    const report = await poll({}, { clock: () => T0 });
    // Assess
    expect(report.status).toBe(status);
    expect(publisher.ids).toHaveLength(status === 'skipped' ? 0 : 3);
  });

  it('releases the lease when a save is refused while it still holds it, so the next run is not skipped', async () => {
    // Prepare: a refusal that is no takeover (the version moved under the same owner)
    tanium.addSteady(60, 1000, T0);
    publisher.afterPublish = (call) => {
      if (call === 2) store.version += 1;
    };
    // Act
    const report = await poll();
    publisher.afterPublish = undefined;
    const next = await poll();
    // Assess
    expect(report.status).toBe('lease_lost');
    expect(next.status).not.toBe('skipped');
  });
});

describe('Alert poller: intel doc names', () => {
  it('adds intel doc names, looked up once per run, and carries on when a lookup fails', async () => {
    // Prepare
    tanium.intelNames.set('11', 'Mimikatz');
    tanium.intelFailing.add('527');
    for (let i = 0; i < 12; i++) tanium.add(T0 - 1000 * i, { intelDocId: i % 2 ? 11 : 527 });
    // Act
    const report = await poll({ enrichIntelNames: true });
    // Assess
    expect(report.published).toBe(12);
    expect(report.intelRequests).toBe(2);
    expect(tanium.intelRequests).toBe(2);
    const named = publisher.details.filter((d) => d.intelDocId === 11);
    expect(named.every((d) => d.intelDocName === 'Mimikatz')).toBe(true);
    expect(publisher.details.filter((d) => d.intelDocId === 527).every((d) => !('intelDocName' in d))).toBe(
      true,
    );
  });

  it('names a failed lookup by its intel doc id cut as an alert id is, not whole', async () => {
    // Prepare: an alert whose intel doc id is 20,000 characters, whose lookup fails
    const long = '7'.repeat(20_000);
    tanium.intelFailing.add(long);
    tanium.add(T0 - 1000, { intelDocId: long as unknown as number });
    // Act
    const report = await poll({ enrichIntelNames: true });
    // Assess: published as Tanium sent it; the warning carries the id's first 1,024 characters
    expect(report.published).toBe(1);
    expect(publisher.details[0]?.intelDocId).toBe(long);
    const field =
      silentLogger.warnFields[
        silentLogger.warnings.indexOf('Intel doc name lookup failed; alerts are published without it')
      ];
    expect(field?.intelDocId).toBe(long.slice(0, 1024));
  });

  it.each([
    ['enrichment is off', false, 11],
    ['the intel doc id is null', true, null],
    ['the intel doc id is empty', true, ''],
    ['the alert has no intel doc id', true, undefined],
  ])('looks up no intel doc name and adds none when %s', async (_, enrichIntelNames, intelDocId) => {
    // Prepare: a Tanium that knows the name of intel doc 11
    tanium.intelNames.set('11', 'Mimikatz');
    for (let i = 0; i < 3; i++) tanium.add(T0 - 1000 * i, { intelDocId: intelDocId as number });
    // Act
    const report = await poll({ enrichIntelNames });
    // Assess: every alert goes out as Tanium sent it, without a request per alert for a name
    expect(report.published).toBe(3);
    expect(report.intelRequests).toBe(0);
    expect(tanium.intelRequests).toBe(0);
    expect(publisher.details.every((d) => d.intelDocId === intelDocId && !('intelDocName' in d))).toBe(true);
  });

  it("looks up no more intel doc names once the run's time is up, and still publishes the batch", async () => {
    // Prepare: the first lookup takes the clock to the run's stop time
    const stopAt = T0 + 60_000;
    let clock = T0;
    for (const id of [11, 12, 13]) tanium.intelNames.set(String(id), `intel ${id}`);
    for (const id of [11, 12, 13]) tanium.add(T0 - id * 1000, { intelDocId: id });
    const lookup = tanium.intelDocName.bind(tanium);
    tanium.intelDocName = async (id: string) => {
      clock = stopAt;
      return lookup(id);
    };
    // Act
    const report = await poll({ enrichIntelNames: true }, { stopAt, clock: () => clock });
    // Assess: only the oldest alert, looked up first, has its name
    expect(report.intelRequests).toBe(1);
    expect(tanium.intelRequests).toBe(1);
    expect(publisher.details.map((d) => [d.intelDocId, d.intelDocName])).toEqual([
      [13, 'intel 13'],
      [12, undefined],
      [11, undefined],
    ]);
  });
});

/** A reproducible random sequence in [0, 1) per seed (Park-Miller). */
function seededRandom(seed: number): () => number {
  let state = seed * 7919;
  return () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
}

/**
 * A new Tanium, state and bus for one seeded history, Tanium ordering equal-millisecond alerts in each
 * of its ways in turn by seed; returns the history's random sequence.
 */
function freshHistory(seed: number): () => number {
  tanium = new FakeAlerts();
  store = new MemoryStateStore();
  publisher = new CapturePublisher();
  tanium.tieOrder = seed % 3 === 0 ? 'shuffled' : seed % 3 === 1 ? 'lowest-id-first' : 'highest-id-first';
  return seededRandom(seed);
}

describe('Alert poller: randomized histories', () => {
  it('keeps draining under a small request budget and bursts that nearly fill a page', async () => {
    for (let seed = 1; seed <= 15; seed++) {
      // Prepare: pages of 30, 5 requests a run, bursts of up to 29 alerts in one millisecond, pruning
      // and failing requests while alerts arrive
      const random = freshHistory(seed);
      let clock = T0;
      const all = [...tanium.addSteady(2000, 700, clock)];
      const pruned = new Set<number>();
      tanium.beforeRequest = (n) => {
        clock += Math.floor(random() * 3000);
        const roll = random();
        if (roll < 0.3) all.push(...tanium.addBurst(1 + Math.floor(random() * 29), clock));
        else if (roll < 0.6) all.push(...tanium.addSteady(1 + Math.floor(random() * 20), 97, clock));
        else if (roll < 0.7) for (const id of tanium.prune(clock - 1_100_000)) pruned.add(id);
        if (random() < 0.05) tanium.failing.add(n);
      };
      const limits = { pageSize: 30, maxRequestsPerRun: 5, firstRunHours: 24 };
      // Act
      for (let run = 0; run < 80; run++) {
        now = clock;
        await poll(limits);
      }
      tanium.beforeRequest = undefined;
      tanium.failing.clear();
      await pollUntilCaughtUp(limits, 300);
      // Assess
      const published = new Set(publisher.ids);
      expect(duplicates(publisher.ids), `seed ${seed}`).toEqual([]);
      const missing = all.filter((a) => !published.has(a.id) && !pruned.has(a.id)).map((a) => a.id);
      expect(missing, `seed ${seed}`).toEqual([]);
    }
  });

  it('publishes every surviving alert exactly once under mixed arrivals, bursts, shuffles and pruning', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      // Prepare
      const random = freshHistory(seed);
      let clock = T0;
      const all = [...tanium.addSteady(800 + seed * 50, 900, clock)];
      const pruned = new Set<number>();
      tanium.beforeRequest = () => {
        clock += Math.floor(random() * 3000);
        const roll = random();
        if (roll < 0.3) all.push(...tanium.addBurst(1 + Math.floor(random() * 25), clock));
        else if (roll < 0.6) all.push(...tanium.addSteady(1 + Math.floor(random() * 20), 97, clock));
        else if (roll < 0.65) for (const id of tanium.prune(clock - 700_000)) pruned.add(id);
      };
      // Act
      for (let run = 0; run < 60; run++) {
        now = clock;
        await poll({ pageSize: 30 + seed, maxRequestsPerRun: 10 + seed });
      }
      tanium.beforeRequest = undefined;
      await pollUntilCaughtUp({ pageSize: 30 + seed, maxRequestsPerRun: 10 + seed });
      // Assess
      const published = new Set(publisher.ids);
      expect(duplicates(publisher.ids), `seed ${seed}`).toEqual([]);
      const missing = all.filter((a) => !published.has(a.id) && !pruned.has(a.id)).map((a) => a.id);
      expect(missing, `seed ${seed}`).toEqual([]);
    }
  });
});
