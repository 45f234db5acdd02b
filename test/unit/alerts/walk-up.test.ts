import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import type { PollerSettings, RunReport } from '../../../shared/alerts/types.ts';
import { runsUntilCaughtUp } from '../../helpers/poller-runs.ts';
import {
  CapturePublisher,
  duplicates,
  FakeAlerts,
  pollFake,
  silentLogger,
  sorted,
  T0,
} from './fake-alerts.ts';

/**
 * The walk toward offset 0 (shared/alerts/walk-up.ts) and the search for the floor's page that starts it
 * (floor-search.ts), pinned by what Tanium sees: the offsets each run asks for. Other tests check that
 * nothing is lost; these check that the reads are the ones meant (a jump inside a group larger than a
 * page, a re-read for arrivals, the end of a pruned list, a list that alerts leave), so a walk or search
 * that still gets there by reading more pages, or by reading one again and again, is caught.
 */

let tanium: FakeAlerts;
let store: MemoryStateStore;
let publisher: CapturePublisher;
/** The offsets of the requests of each run, in order. */
let offsets: number[][];
let runs: number;
const now = T0 + 60_000;

beforeEach(() => {
  silentLogger.clear();
  tanium = new FakeAlerts();
  store = new MemoryStateStore();
  publisher = new CapturePublisher();
  offsets = [];
  runs = 0;
  const page = tanium.page.bind(tanium);
  tanium.page = (offset, limit, deadline) => {
    offsets.at(-1)?.push(offset);
    return page(offset, limit, deadline);
  };
});

function poll(overrides: Partial<PollerSettings>): Promise<RunReport> {
  runs++;
  offsets.push([]);
  return pollFake({ tanium, store, publisher }, `run-${runs}`, () => now, overrides);
}

function pollUntilCaughtUp(overrides: Partial<PollerSettings>, max = 50): Promise<RunReport[]> {
  return runsUntilCaughtUp(() => poll(overrides), max);
}

/** Every alert still listed went out, once (but those without id or guid, which are never published). */
function expectAllOnce(): void {
  expect(duplicates(publisher.ids)).toEqual([]);
  const published = new Set(publisher.ids);
  expect(tanium.alerts.filter((a) => !a.anonymous && !published.has(a.id))).toEqual([]);
}

/** Runs until caught up (at most `max` runs), with the group cursor each run leaves in the store. */
async function pollRecordingGroups(
  overrides: Partial<PollerSettings>,
  max: number,
): Promise<{ reports: RunReport[]; groups: unknown[] }> {
  const groups: unknown[] = [];
  const reports = await runsUntilCaughtUp(async () => {
    const report = await poll(overrides);
    groups.push(store.checkpoint?.group);
    return report;
  }, max);
  return { reports, groups };
}

/**
 * Without counts, a backlog of 300 (the alerts `keyless` picks without id or guid) walked in pages of 25
 * at 30 requests a run, while `perRequest` alerts arrive before each request from the walk's second
 * read on, for 60 requests.
 */
function walkUnderArrivals(perRequest: number, keyless: (index: number) => boolean): Promise<RunReport[]> {
  tanium.omitFilteredCount = true;
  tanium.addSteady(300, 1000, T0).forEach((alert, i) => {
    if (keyless(i)) alert.anonymous = true;
  });
  let arrived = 0;
  tanium.beforeRequest = (n) => {
    if (n >= 7 && n < 67) tanium.addSteady(perRequest, 1, T0 + 100 + 10 * arrived++);
  };
  return pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 30 });
}

const summary = (reports: RunReport[]) => reports.map((r) => [r.status, r.published, r.taniumRequests]);

describe('Walk-up: reads', () => {
  it("jumps to the group cursor's edge in each run inside a millisecond larger than a page, and saves the cursor", async () => {
    // Prepare: 130 alerts in one millisecond under pages of 20 and 6 requests a run: the cursor it leaves
    // (passed, edge) lets each later run jump from the floor's page to just below the edge
    tanium.tieOrder = 'lowest-id-first';
    const expected = [
      ...tanium.addSteady(10, 1000, T0 - 20_000),
      ...tanium.addBurst(130, T0 - 10_000),
      ...tanium.addSteady(10, 500, T0),
    ];
    const { reports, groups } = await pollRecordingGroups({ pageSize: 20, maxRequestsPerRun: 6 }, 30);
    // Assess: each run after the first jumps from the head straight to the group cursor's edge
    expect(summary(reports)).toEqual([
      ['partial', 55, 6],
      ['partial', 52, 6],
      ['caught_up', 43, 6],
    ]);
    expect(offsets).toEqual([
      [0, 75, 112, 131, 113, 95],
      [0, 132, 114, 79, 61, 43],
      [0, 132, 114, 27, 9, 0],
    ]);
    expect(groups).toEqual([
      { at: T0 - 10_000, passed: 45, edge: [97, 96] },
      { at: T0 - 10_000, passed: 97, edge: [45, 44] },
      undefined,
    ]);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(sorted(expected.map((a) => a.id)));
  });

  it('hands the group cursor on to a next millisecond larger than a page once its own is all out', async () => {
    // Prepare: without counts, a 30-alert millisecond right below a 100-alert one, pages of 10 and 10
    // requests a run: the second run finishes the first group and stops inside the second, which can get
    // no cursor while the first one's is kept, and only an alert newer than the first going out ends it
    tanium.omitFilteredCount = true;
    tanium.addSteady(5, 1000, T0 - 100_000);
    tanium.addBurst(30, T0 - 50_000);
    tanium.addBurst(100, T0 - 40_000);
    tanium.addSteady(5, 1000, T0);
    const { reports, groups } = await pollRecordingGroups({ pageSize: 10, maxRequestsPerRun: 10 }, 8);
    // Assess: the third run, with the first group all out, hands the cursor on to the 100-alert
    // millisecond (before, every run from the third read these pages and published nothing)
    expect(summary(reports)).toEqual([
      ['partial', 32, 10],
      ['partial', 3, 10],
      ['partial', 54, 10],
      ['caught_up', 51, 10],
    ]);
    expect(offsets).toEqual([
      [0, 12, 36, 84, 180, 132, 124, 116, 108, 100],
      [0, 133, 125, 102, 94, 86, 78, 70, 62, 54],
      [0, 133, 125, 99, 91, 83, 75, 67, 59, 51],
      [0, 103, 95, 45, 37, 29, 21, 13, 5, 0],
    ]);
    expect(groups).toEqual([
      { at: T0 - 50_000, passed: 27, edge: [31, 32] },
      { at: T0 - 50_000, passed: 30, edge: [34, 35] },
      { at: T0 - 40_000, passed: 54, edge: [88, 89] },
      undefined,
    ]);
    expectAllOnce();
  });

  it('allows for arrivals between reads inside a millisecond larger than a page', async () => {
    // Prepare: 4 arrivals before every third request, while the walk is inside a 70-alert millisecond
    const expected = [
      ...tanium.addSteady(10, 1000, T0 - 20_000),
      ...tanium.addBurst(70, T0 - 10_000),
      ...tanium.addSteady(10, 500, T0),
    ];
    tanium.beforeRequest = (request) => {
      if (request % 3 === 0) expected.push(...tanium.addSteady(4, 1, T0 + request * 10));
    };
    const reports = await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 8 });
    expect(summary(reports)).toEqual([
      ['partial', 73, 8],
      ['partial', 0, 8],
      ['caught_up', 49, 8],
    ]);
    expect(offsets).toEqual([
      [0, 45, 67, 85, 67, 53, 39, 25],
      [0, 84, 66, 13, 48, 50, 52, 54],
      [0, 92, 110, 92, 29, 15, 1, 0],
    ]);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(sorted(expected.map((a) => a.id)));
  });

  it('reads deeper for arrivals and reads the new end of a list that pruning shortened', async () => {
    // Prepare: 7 arrivals during the walk (a gap it reads deeper for), then a prune of the oldest 50
    const expected = tanium.addSteady(200, 1000, T0);
    tanium.beforeRequest = (request) => {
      if (request === 3) expected.push(...tanium.addSteady(7, 1, T0 + 100));
      if (request === 5) tanium.prune(T0 - 150_000);
    };
    const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 10 });
    expect(summary(reports)).toEqual([
      ['partial', 138, 10],
      ['caught_up', 62, 4],
    ]);
    expect(offsets).toEqual([
      [0, 100, 150, 179, 202, 153, 130, 107, 84, 61],
      [0, 45, 22, 0],
    ]);
    const left = new Set(tanium.alerts.map((a) => a.id));
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids.filter((id) => left.has(id)))).toEqual(
      sorted(tanium.alerts.map((a) => a.id)),
    );
  });

  it('walks a group larger than a page under arrivals when Tanium sends no count', async () => {
    // Prepare: no filteredCount (arrivals cannot be counted), a 50-alert millisecond, and 6 arrivals
    tanium.omitFilteredCount = true;
    tanium.tieOrder = 'lowest-id-first';
    const expected = [
      ...tanium.addSteady(60, 1000, T0 - 100_000),
      ...tanium.addBurst(50, T0 - 30_000),
      ...tanium.addSteady(30, 1000, T0),
    ];
    tanium.beforeRequest = (request) => {
      if (request === 4) expected.push(...tanium.addSteady(6, 1, T0 + 100));
    };
    const reports = await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 7 });
    expect(summary(reports)).toEqual([
      ['partial', 13, 7],
      ['partial', 91, 7],
      ['caught_up', 42, 6],
    ]);
    expect(offsets).toEqual([
      [0, 22, 66, 154, 110, 132, 146],
      [0, 132, 114, 96, 78, 60, 42],
      [0, 84, 66, 26, 8, 0],
    ]);
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(sorted(expected.map((a) => a.id)));
  });

  it('walks up through a block of undated alerts longer than a page at the top of the list', async () => {
    // Prepare: 45 alerts with a null createdAt (listed first) above a backlog of 100
    const NULL = null as unknown as string;
    const dated = tanium.addSteady(100, 1000, T0 - 1000);
    const undated = Array.from({ length: 45 }, () => tanium.add(8.6e15, { createdAt: NULL }));
    const reports = await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 40 });
    expect(summary(reports)).toEqual([['caught_up', 145, 11]]);
    expect(offsets).toEqual([[0, 72, 108, 126, 108, 90, 72, 54, 36, 18, 0]]);
    expect(sorted(publisher.ids)).toEqual(sorted([...dated, ...undated].map((a) => a.id)));
  });

  it('walks up through a block of undated alerts inside the list', async () => {
    // Prepare: 30 alerts with a null createdAt listed between dated ones, longer than a page
    const NULL = null as unknown as string;
    const all = [
      ...tanium.addSteady(60, 1000, T0 - 100_000),
      ...Array.from({ length: 30 }, () => tanium.add(T0 - 50_000, { createdAt: NULL })),
      ...tanium.addSteady(40, 1000, T0),
    ];
    const reports = await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 8 });
    expect(summary(reports)).toEqual([
      ['partial', 86, 8],
      ['caught_up', 44, 5],
    ]);
    expect(offsets).toEqual([
      [0, 65, 97, 115, 97, 79, 61, 43],
      [0, 54, 36, 18, 0],
    ]);
    expect(sorted(publisher.ids)).toEqual(sorted(all.map((a) => a.id)));
  });

  it('moves the floor to just past the newest alert below the last page read when its requests run out', async () => {
    // Prepare: as in poller.test.ts, 300 alerts all published but one near the floor, 4 requests a run
    const all = tanium.addSteady(300, 1000, T0);
    const late = all[10]!;
    const recent = all.filter((a) => a !== late).map((a): [number, number[]] => [a.createdMs, [a.id]]);
    store.checkpoint = { floor: T0 - 300_000, recent, olderCount: 0 };
    const report = await poll({ maxRequestsPerRun: 4 });
    // Assess: the floor passes every alert below the top of the last page (T0 - 165 s), exactly
    expect(summary([report])).toEqual([['partial', 1, 4]]);
    expect(publisher.ids).toEqual([late.id]);
    expect(offsets).toEqual([[0, 255, 210, 165]]);
    expect(store.checkpoint?.floor).toBe(T0 - 165_999);
  });

  it.each([
    ['counts', false, 2, 150_000, [[0, 100, 126, 149, 126, 103, 80, 57, 34, 11, 0]]],
    [
      'counts',
      false,
      6,
      160_000,
      [
        [0, 100, 150, 175, 198, 175, 138, 115, 92, 69, 46, 23],
        [0, 22, 0],
      ],
    ],
    [
      'counts',
      false,
      6,
      150_000,
      [
        [0, 100, 150, 175, 198, 175, 128, 105, 82, 59, 36, 13],
        [0, 12, 0],
      ],
    ],
    ['no counts', true, 2, 150_000, [[0, 27, 81, 189, 135, 151, 112, 89, 66, 43, 20, 0]]],
    ['no counts', true, 5, 60_000, [[0, 27, 81, 189, 200, 166, 83, 41, 18, 0]]],
    ['no counts', true, 5, 100_000, [[0, 27, 81, 189, 200, 166, 83, 60, 37, 14, 0]]],
  ])(
    'reads the end of a list that pruning shortened below the page asked for (%s: omitted %s, prune before request %i, cut %i ms)',
    async (_case, omit, request, cut, expected) => {
      // Prepare: a backlog of 200 alerts walked from the end of the list; before one request, Tanium
      // prunes the oldest, so the page the walk asks for may lie past the end of the list: with a count
      // the walk reads the list's end (one step above filteredCount), without one it halves the offset
      tanium.omitFilteredCount = omit;
      tanium.addSteady(200, 1000, T0);
      tanium.beforeRequest = (n) => {
        if (n === request) tanium.prune(T0 - cut);
      };
      // Act
      await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 12 });
      // Assess: every alert left went out once, through exactly these reads
      expect(offsets).toEqual(expected);
      expectAllOnce();
    },
  );

  it.each([
    [10, [[0, 55, 82, 100, 82, 64, 46, 28, 30, 34, 16, 0]]],
    [19, [[0, 59, 89, 107, 89, 71, 53, 35, 17, 0]]],
    [20, [[0, 60, 90, 108, 90, 72, 54, 36, 18, 0]]],
    [21, [[0, 60, 90, 108, 90, 72, 54, 36, 18, 0]]],
    [39, [[0, 69, 104, 122, 104, 86, 68, 50, 32, 14, 0]]],
  ])(
    'walks up through a block of %i undated alerts inside the list, pages of 20',
    async (block, expected) => {
      // Prepare: a run of undated alerts between dated ones; from P - 1 = 19 on, a page that ends in it
      // and shares one with `top` connects; a shorter run makes the walk re-read deeper instead
      const NULL = null as unknown as string;
      const all = [
        ...tanium.addSteady(60, 1000, T0 - 100_000),
        ...Array.from({ length: block }, () => tanium.add(T0 - 50_000, { createdAt: NULL })),
        ...tanium.addSteady(40, 1000, T0),
      ];
      // Act
      const reports = await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 40 });
      // Assess
      expect(reports.map((r) => r.status)).toEqual(['caught_up']);
      expect(offsets).toEqual(expected);
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(sorted(all.map((a) => a.id)));
    },
  );
});

describe('Walk-up: arrivals while it walks', () => {
  /** The reads of a walk under 1 and under 3 arrivals a request, however many alerts lack an id. */
  const ONE = [
    0, 27, 81, 189, 405, 297, 274, 297, 275, 253, 231, 209, 187, 165, 143, 121, 99, 77, 55, 33, 11, 0,
  ];
  const THREE = [
    0, 27, 81, 189, 405, 297, 274, 276, 280, 288, 312, 268, 270, 274, 282, 263, 244, 225, 206, 186, 166, 146,
    126, 106, 86, 66, 46, 26, 6, 0,
  ];
  const none = () => false;
  // Every other alert without id or guid: half the pages the walk reads start with one that cannot be
  // found again in a later page.
  const everyOther = (i: number) => i % 2 === 0;
  // 50 in a row, two pages' worth: some pages hold none to follow, and the next page up need not hold the
  // one followed.
  const aBlock = (i: number) => i >= 100 && i < 150;
  it.each([
    ['every alert with an id', 1, none, ONE, 316],
    ['every alert with an id', 3, none, THREE, 372],
    ['every other alert without one', 1, everyOther, ONE, 166],
    ['every other alert without one', 3, everyOther, THREE, 222],
    ['50 in a row without one', 1, aBlock, ONE, 266],
    [
      '50 in a row without one',
      3,
      aBlock,
      [...THREE.slice(0, 19), 187, 168, 148, 128, 108, 88, 68, 48, 28, 8, 0],
      322,
    ],
  ])(
    'connects and walks on up without counts while alerts arrive before each request (%s, %i a request)',
    async (_case, perRequest, keyless, expected, published) => {
      // Act: 1 arrival a read made the walk read two offsets in turn for whole runs; more than the 2 that
      // pages of 25 overlap by kept its gap reads (2 deeper each) from ever catching up
      const reports = await walkUnderArrivals(perRequest, keyless);

      // Assess: gap reads go deeper faster than the list grows, and once a page connects, the walk
      // allows for the arrivals it measured by how far the first alert with an id of a page it had read
      // moved down (measured from the page's first alert, which matches any other without an id, it
      // reads 297 and 274 in turn for whole runs; looking one up fails every run), in one run
      expect(offsets).toEqual([expected]);
      expect(summary(reports)).toEqual([['caught_up', published, expected.length]]);
      expectAllOnce();
    },
  );
});

describe('Walk-up: alerts that leave the list above the walk', () => {
  it.each([
    // Before the fix, each of these runs read one offset again and again until its requests ran out
    // (263 nine times; 240 eight times; 251 seven times; 274 and 137 in turn), the next run recovering.
    [
      'a count, 25 alerts gone before request 6',
      false,
      25,
      6,
      [
        [0, 150, 225, 263, 286, 263, 240, 217, 194, 171, 148, 125, 102, 79],
        [0, 58, 35, 12, 0],
      ],
    ],
    [
      'a count, 40 alerts gone before request 7',
      false,
      40,
      7,
      [
        [0, 150, 225, 263, 286, 263, 240, 217, 194, 171, 148, 125, 102, 79],
        [0, 58, 35, 12, 0],
      ],
    ],
    [
      'no count, 25 alerts gone before request 8',
      true,
      25,
      8,
      [
        [0, 27, 81, 189, 405, 297, 274, 251, 228, 205, 182, 159, 136, 113],
        [0, 113, 90, 67, 44, 21, 0],
      ],
    ],
    [
      'no count, 40 alerts gone before request 7: the estimate lies past the shrunken end',
      true,
      40,
      7,
      [
        [0, 27, 81, 189, 405, 297, 274, 137, 205, 239, 260, 216, 193, 170],
        [0, 170, 147, 124, 101, 78, 55, 32, 9, 0],
      ],
    ],
  ])(
    'goes on up when alerts above it stop matching the filters (%s)',
    async (_case, omit, gone, request, expected) => {
      // Prepare: a backlog of 300 walked from its end; before one request, alerts well above the walk
      // leave the list (resolved under a state filter, say), so everything above the walk moves up
      tanium.omitFilteredCount = omit;
      const all = tanium.addSteady(300, 1000, T0);
      const leaving = all.slice(150, 150 + gone).map((a) => a.id);
      tanium.beforeRequest = (n) => {
        if (n === request) tanium.remove(leaving);
      };

      // Act
      const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 14 });

      // Assess: no read repeats the one before it, and every alert still listed went out once
      expect(offsets).toEqual(expected);
      expect(reports.map((r) => r.status)).toEqual(['partial', 'caught_up']);
      expect(duplicates(publisher.ids)).toEqual([]);
      const left = new Set(tanium.alerts.map((a) => a.id));
      expect(sorted(publisher.ids.filter((id) => left.has(id)))).toEqual(sorted(left));
    },
  );

  it('reads past an offset it found beyond the end once arrivals have lengthened the list', async () => {
    // Prepare: without counts, 40 alerts leave the list, so offset 274 is read empty; then 60 arrive,
    // so the alerts the walk needs lie below 274 after all
    tanium.omitFilteredCount = true;
    const all = tanium.addSteady(300, 1000, T0);
    tanium.beforeRequest = (n) => {
      if (n === 7) tanium.remove(all.slice(150, 190).map((a) => a.id));
      if (n === 8) tanium.addSteady(60, 1, T0 + 100);
    };

    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 24 });

    // Assess: once 274 answers with alerts, the walk reads deeper than it (it read 273 until its
    // requests ran out when it held on to the end it had seen)
    expect(offsets).toEqual([
      [
        0, 27, 81, 189, 405, 297, 274, 137, 205, 239, 256, 274, 276, 280, 288, 304, 320, 283, 262, 241, 220,
        197, 174, 151,
      ],
      [0, 151, 128, 105, 82, 59, 36, 13, 0],
    ]);
    expect(reports.map((r) => [r.status, r.published])).toEqual([
      ['partial', 168],
      ['caught_up', 152],
    ]);
    expectAllOnce();
  });
});

describe('Floor search: the runs that drain a backlog', () => {
  it('starts each run without counts just below where the last one left the floor', async () => {
    // Prepare: without counts, a backlog of 1,000 drained at 10 requests a run
    tanium.omitFilteredCount = true;
    tanium.addSteady(1000, 50, T0);

    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 10 });

    // Assess: after the first search, a run reads right below the bound the last one saved and walks
    // on (19 runs when each searched down from the head again, doubling its offset)
    expect(offsets).toEqual([
      [0, 27, 81, 189, 405, 837, 1701, 1269, 1053, 945],
      [0, 968, 1963, 1466, 1217, 1093, 1031, 1000, 991, 968],
      [0, 988, 965, 942, 919, 896, 873, 850, 827, 804],
      [0, 824, 801, 778, 755, 732, 709, 686, 663, 640],
      [0, 660, 637, 614, 591, 568, 545, 522, 499, 476],
      [0, 496, 473, 450, 427, 404, 381, 358, 335, 312],
      [0, 332, 309, 286, 263, 240, 217, 194, 171, 148],
      [0, 168, 145, 122, 99, 76, 53, 30, 7, 0],
    ]);
    expect(reports.at(-1)?.status).toBe('caught_up');
    expectAllOnce();
  });

  it('starts over from the head when alerts above the saved bound left the list between runs', async () => {
    // Prepare: without counts, the newest 300 of a backlog of 1,000 leave the list after two runs, so
    // the saved bound lies past the first alert below the floor
    tanium.omitFilteredCount = true;
    const all = tanium.addSteady(1000, 50, T0);
    await poll({ pageSize: 25, maxRequestsPerRun: 10 });
    await poll({ pageSize: 25, maxRequestsPerRun: 10 });
    tanium.remove(all.slice(700).map((a) => a.id));

    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 10 });

    // Assess: the read below the bound finds only older alerts, and the search bisects from the head
    expect(offsets[2]).toEqual([0, 988, 494, 741, 618, 680, 657, 634, 611, 588]);
    expect(summary(reports).at(-1)).toEqual(['caught_up', 97, 8]);
    expectAllOnce();
  });
});

describe('Floor search: a list that changes under it', () => {
  it.each([
    ['a count', false, [[0, 100, 0]]],
    ['no count', true, [[0, 27, 23, 0, 10]]],
  ])(
    'starts over from offset 0 when the list becomes shorter than the head it read (%s)',
    async (_case, omit, expected) => {
      // Prepare: all but the newest 10 of 200 alerts leave the list after the head is read. Before, the
      // search read offset 23, past the new end, until the run's requests ran out
      tanium.omitFilteredCount = omit;
      const all = tanium.addSteady(200, 1000, T0);
      tanium.beforeRequest = (n) => {
        if (n === 2) tanium.remove(all.slice(10).map((a) => a.id));
      };

      // Act
      const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 14 });

      // Assess
      expect(offsets).toEqual(expected);
      expect(reports.map((r) => r.status)).toEqual(['caught_up']);
      expectAllOnce();
    },
  );

  it('drops an end it read before arrivals pushed the floor below it (no count)', async () => {
    // Prepare: 44 arrivals after the search read the list's end at 110. Before, it kept that end and
    // dropped the fresh bound above it, reading 100 and 55 in turn until its requests ran out
    tanium.omitFilteredCount = true;
    tanium.addSteady(110, 1000, T0);
    tanium.beforeRequest = (n) => {
      if (n === 5) tanium.addSteady(44, 1, T0 + 100);
    };

    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 50, maxRequestsPerRun: 20 });

    // Assess
    expect(offsets).toEqual([[0, 55, 165, 110, 100, 255, 177, 145, 100, 55, 10, 0]]);
    expect(reports.map((r) => r.status)).toEqual(['caught_up']);
    expectAllOnce();
  });

  it.each([
    [
      'a count',
      false,
      [
        [0, 23, 0],
        [0, 17, 0],
        [0, 17, 0],
      ],
    ],
    [
      'no count',
      true,
      [
        [0, 27, 40, 23, 0],
        [0, 27, 40, 23, 0],
        [0, 27, 40, 23, 0],
      ],
    ],
  ])(
    'ends the search at the end of a list holding only undated alerts, more than a page (%s)',
    async (_case, omit, expected) => {
      // Prepare: 40 alerts with a null createdAt and nothing else. Before, every run read offset 23 until
      // its requests ran out and ended partial, forever
      tanium.omitFilteredCount = omit;
      const NULL = null as unknown as string;
      for (let i = 0; i < 40; i++) tanium.add(8.6e15, { createdAt: NULL });

      // Act
      const reports: RunReport[] = [];
      for (let i = 0; i < 3; i++) reports.push(await poll({ pageSize: 25, maxRequestsPerRun: 10 }));

      // Assess
      expect(offsets).toEqual(expected);
      expect(reports.map((r) => r.status)).toEqual(['caught_up', 'caught_up', 'caught_up']);
      expectAllOnce();
    },
  );

  it('ends the search when the dated alerts leave a list that keeps more than a page of undated ones', async () => {
    // Prepare: 30 dated alerts below 40 undated ones, published by a first run; then the dated ones leave
    const NULL = null as unknown as string;
    const dated = tanium.addSteady(30, 1000, T0);
    for (let i = 0; i < 40; i++) tanium.add(8.6e15, { createdAt: NULL });
    const reports = [await poll({ pageSize: 25, maxRequestsPerRun: 10 })];
    tanium.remove(dated.map((a) => a.id));

    // Act
    for (let i = 0; i < 3; i++) reports.push(await poll({ pageSize: 25, maxRequestsPerRun: 10 }));

    // Assess: before, the runs after the first read offset 31 until their requests ran out
    expect(offsets).toEqual([
      [0, 35, 58, 35, 12, 0],
      [0, 8, 31, 8, 0],
      [0, 17, 0],
      [0, 17, 0],
    ]);
    expect(reports.map((r) => r.status)).toEqual(['caught_up', 'caught_up', 'caught_up', 'caught_up']);
    expectAllOnce();
  });
});

describe('Floor search: offset 0 read again', () => {
  it('takes arrivals found past a short page at offset 0, read after the head, for arrivals, not a cap (no count)', async () => {
    // Prepare: after the head read, all but 10 of 200 alerts leave the list, so the search starts over
    // and reads offset 0 again (10 alerts); 12 arrive before the check past its end, which finds them
    tanium.omitFilteredCount = true;
    const all = tanium.addSteady(200, 1000, T0);
    tanium.beforeRequest = (n) => {
      if (n === 2) tanium.remove(all.slice(0, 190).map((a) => a.id));
      if (n === 5) tanium.addSteady(12, 1, T0 + 100);
    };

    // Act
    const reports = await pollUntilCaughtUp({ pageSize: 25, maxRequestsPerRun: 14 });

    // Assess: the run keeps its pages of 25 (before, it took 10 for Tanium's cap, warned about it, and
    // read 0, 27, 23, 0, 10, 8, 16, 8, 0)
    expect(offsets).toEqual([[0, 27, 23, 0, 10, 8, 0]]);
    expect(reports.map((r) => [r.status, r.published])).toEqual([['caught_up', 37]]);
    expect(silentLogger.warnings).toEqual([]);
    expectAllOnce();
  });
});

describe('Floor search: what it starts from and what it saves', () => {
  /**
   * 200 alerts a second apart under a floor 100 s below the newest: offsets 0..100 are at or above it,
   * so K (the first offset below it) is 101 and 99 alerts are older. The ids above it are already
   * published (in `recent`).
   */
  const backlog = (extra: Record<string, unknown>, depth = 100) => {
    const all = tanium.addSteady(200, 1000, T0);
    const floor = T0 - depth * 1000;
    const recent = all
      .filter((a) => a.createdMs >= floor)
      .map((a): [number, number[]] => [a.createdMs, [a.id]]);
    store.checkpoint = { floor, recent, ...extra };
  };

  it.each([
    ['a guess at the lower bound', { olderCount: 99, olderBounds: [0, 99] }, [0, 78, 55, 32, 9, 0]],
    [
      'a guess above the bounds (K below the lower one), ignored',
      { olderCount: 170, olderBounds: [0, 99] },
      [0, 138, 107, 99, 76, 53, 30, 7, 0],
    ],
    [
      'a guess below the bounds (K above the upper one), ignored',
      { olderCount: 10, olderBounds: [50, 99] },
      [0, 113, 99, 76, 53, 30, 7, 0],
    ],
    ['bounds that meet', { olderBounds: [99, 99] }, [0, 99, 76, 53, 30, 7, 0]],
    ['bounds one page apart (P - M - 1)', { olderBounds: [77, 99] }, [0, 99, 76, 53, 30, 7, 0]],
    ['bounds one page and one apart (P - M)', { olderBounds: [76, 99] }, [0, 100, 77, 54, 31, 8, 0]],
    [
      'a lower bound on K saved while Tanium sent no counts',
      { belowAtLeast: 60 },
      [0, 100, 77, 54, 31, 8, 0],
    ],
  ])('starts the search from the saved state (%s)', async (_case, extra, expected) => {
    // Prepare
    backlog(extra);
    // Act
    const report = await poll({ pageSize: 25, maxRequestsPerRun: 40 });
    // Assess: the search's first read is the page ending at K = count − guess when the guess lies within
    // the bounds (78), else the bisection of the bounds (low = count − olderMax, high = count − olderMin),
    // or low − M once they fit in one page (99); a lower bound on K alone does not decide it with a count
    expect(offsets).toEqual([expected]);
    expect([report.status, report.published]).toEqual(['caught_up', 0]);
  });

  it.each([
    ['a count: bounds on the older alerts, no bound on K', false, [0, 100], { olderBounds: [0, 75] }],
    ['no count: a bound on K, no bounds on the older alerts', true, [0, 27], { belowAtLeast: 52 }],
  ])('saves what a search cut short by its requests learnt (%s)', async (_case, omit, read, saved) => {
    // Prepare: K is 151, so the one page the search may read (with a count, 100; without, 27) is
    // shallow: all it learns is a bound
    tanium.omitFilteredCount = omit;
    backlog({}, 150);
    // Act
    const report = await poll({ pageSize: 25, maxRequestsPerRun: 2 });
    // Assess
    expect(offsets).toEqual([read]);
    expect([report.status, report.published]).toEqual(['partial', 0]);
    // Assess: only the bound this kind of answer keeps is saved (no bound to go NaN without a count)
    expect({ ...store.checkpoint, recent: undefined }).toEqual({ floor: T0 - 150_000, ...saved });
  });
});

describe('Floor search: the bound a run that raised the floor saves', () => {
  it.each([
    ['no count', true, [0, 55, 165, 385, 275, 300], T0 - 275_999, 276],
    ['a count', false, [0, 255, 210, 165, 120, 75], T0 - 75_999, undefined],
  ])('saves belowAtLeast only without counts (%s)', async (_case, omit, read, floor, bound) => {
    // Prepare: 300 alerts all published but one near the floor, 6 requests a run
    tanium.omitFilteredCount = omit;
    const all = tanium.addSteady(300, 1000, T0);
    const late = all[10]!;
    const recent = all.filter((a) => a !== late).map((a): [number, number[]] => [a.createdMs, [a.id]]);
    store.checkpoint = { floor: T0 - 300_000, recent, olderCount: 0 };
    // Act
    const report = await poll({ maxRequestsPerRun: 6 });
    // Assess: without a count, the last page (300) lies wholly below the floor the run leaves, and the
    // one before it (275) starts with the last alert at or above it, so the first below it is at 276
    // at least; with a count, the older-count hint finds the floor and a bound would outlive a prune
    expect(report.status).toBe('partial');
    expect(offsets).toEqual([read]);
    expect(store.checkpoint?.floor).toBe(floor);
    expect(store.checkpoint?.belowAtLeast).toBe(bound);
  });

  it('takes the bound from the last page that shows a dated alert, past one of undated alerts only', async () => {
    // Prepare: without counts, 45 undated alerts (listed first) above 100 dated ones; the first run's
    // requests run out on a page of undated alerts only (offset 24), which says nothing about the floor
    tanium.omitFilteredCount = true;
    const NULL = null as unknown as string;
    tanium.addSteady(100, 1000, T0 - 1000);
    for (let i = 0; i < 45; i++) tanium.add(8.6e15, { createdAt: NULL });

    // Act
    const reports = [await poll({ pageSize: 20, maxRequestsPerRun: 13 })];
    const saved = store.checkpoint?.belowAtLeast;
    reports.push(...(await pollUntilCaughtUp({ pageSize: 20, maxRequestsPerRun: 13 })));

    // Assess: the bound comes from the page before (42), so the next run starts its search at it (62)
    // rather than at or below the undated page's own offset
    expect(saved).toBe(62);
    expect(offsets).toEqual([
      [0, 22, 66, 154, 110, 132, 145, 114, 96, 78, 60, 42, 24],
      [0, 60, 42, 24, 6, 0],
    ]);
    expect(reports.map((r) => r.status)).toEqual(['partial', 'caught_up']);
    expectAllOnce();
  });
});
