import { beforeEach, describe, expect, it } from 'vitest';
import { Paging } from '../../../shared/alerts/alert-page.ts';
import { AlertReader, FUTURE_TOLERANCE_MS } from '../../../shared/alerts/alert-reader.ts';
import { CursorState } from '../../../shared/alerts/cursor-state.ts';
import type { RunContext } from '../../../shared/alerts/run-context.ts';
import type { PollerDeps, RunReport, SourcePage } from '../../../shared/alerts/types.ts';
import { DeadlineError, TaniumError } from '../../../shared/tanium/errors.ts';
import { settings, silentLogger, T0 } from './fake-alerts.ts';

/*
 * The reader on its own, over a source that answers each read with the next of its scripted pages: what
 * it records of the reads (growth, pages, page size, budget), which whole poller runs reach only through
 * their effect on the walk.
 */

const SECOND = 1000;

/** `count` alerts a second apart, the newest at `newest`, newest first, ids from `firstId`. */
function alerts(count: number, newest: number, firstId = 1): SourcePage['alerts'] {
  return Array.from({ length: count }, (_, i) => ({
    id: firstId + i,
    createdAt: new Date(newest - i * SECOND).toISOString(),
  }));
}

let answers: Array<SourcePage | Error>;
let asked: number[];
let clock: number;

function reader(pageSize = 50, floor = 0): { reader: AlertReader; run: RunContext } {
  const source = {
    async page(offset: number) {
      asked.push(offset);
      const answer = answers.shift();
      if (answer === undefined) throw new Error('no page scripted');
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  const run: RunContext = {
    deps: { source, logger: silentLogger } as unknown as PollerDeps,
    settings: settings({ pageSize, maxRequestsPerRun: 3 }),
    now: () => T0,
    clock: () => clock,
    report: { taniumRequests: 0, unidentifiedAlerts: 0 } as RunReport,
    paging: new Paging(pageSize),
    pages: [],
    pending: new Map(),
    undatedPending: new Map(),
  };
  const cursor = new CursorState(run);
  cursor.floor = floor;
  return { reader: new AlertReader(run, cursor), run };
}

beforeEach(() => {
  silentLogger.clear();
  answers = [];
  asked = [];
  clock = T0;
});

describe('Alert reader: the budget', () => {
  it('starts no read at the very millisecond its time for reading ends', () => {
    // Prepare
    const { reader: r, run } = reader();
    r.readUntil = clock;

    // Act / Assess
    expect(r.budgetLeft()).toBe(false);
    expect(run.report.stoppedBy).toBe('time_limit');
  });

  it('has not failed before a read fails, and has once one does', async () => {
    // Prepare
    const { reader: r } = reader();
    answers = [new TaniumError('tanium', 'index busy')];
    expect(r.readFailed).toBe(false);

    // Act / Assess
    await expect(r.readInTime(0, true)).rejects.toThrow('index busy');
    expect(r.readFailed).toBe(true);
  });

  it('logs where a read cut at the end of the time for reading was, and why', async () => {
    // Prepare
    const { reader: r, run } = reader();
    answers = [new DeadlineError('transient', 'No time left to send the request', {})];

    // Act
    const page = await r.readInTime(100);

    // Assess
    expect(page).toBeUndefined();
    expect(run.report.stoppedBy).toBe('time_limit');
    expect(silentLogger.warnFields).toEqual([{ offset: 100, error: 'No time left to send the request' }]);
  });
});

describe('Alert reader: growth between reads', () => {
  /** Reads one page per count, each at offset 0 with a full page, and returns the reader. */
  async function readCounts(counts: Array<number | undefined>): Promise<AlertReader> {
    const { reader: r } = reader();
    answers = counts.map((filteredCount) => ({
      alerts: alerts(50, T0),
      ...(filteredCount === undefined ? {} : { filteredCount }),
    }));
    for (const _ of counts) await r.readInTime(0);
    return r;
  }

  it.each([
    ['one read, nothing to compare', [100], 0],
    ['a count that grew by 3', [100, 103], 3],
    ['a count that shrank (a prune), then grew by 2', [100, 90, 92], 2],
    ['the largest of the last four growths', [100, 120, 121, 122, 123], 20],
    ['only the last four growths, the oldest forgotten', [100, 120, 121, 122, 123, 124], 1],
    ['a read without a count, which adds none', [100, 103, undefined], 3],
    ['at most a page less twice the overlap (50 - 2 * 5)', [100, 190], 40],
  ])('expects %s', async (_case, counts, expected) => {
    // Act
    const r = await readCounts(counts);

    // Assess
    expect(r.expectedGrowth()).toBe(expected);
  });

  it('keeps the last eight pages it read', async () => {
    // Prepare
    const { reader: r, run } = reader();
    answers = Array.from({ length: 9 }, (_, i) => ({ alerts: alerts(50, T0 - i * 50 * SECOND, i * 50 + 1) }));

    // Act
    for (let i = 0; i < 9; i++) await r.readInTime(i * 50);

    // Assess
    expect(run.pages.map((page) => page.offset)).toEqual([50, 100, 150, 200, 250, 300, 350, 400]);
  });
});

describe('Alert reader: a Tanium that caps the page size', () => {
  it.each([
    ['the head read answers 10 (the smallest page size) of 50', 0, true, 10, 10],
    ['the head read answers 9, fewer than the smallest page size', 0, true, 9, 50],
    ['a deeper read answers 10', 100, false, 10, 50],
    // Without counts, alerts that arrived between such a read and the check past its end pass for a cap
    ['a later read of offset 0 (the search or walk back at the top) answers 10', 0, false, 10, 50],
  ])(
    'adopts the smaller page size only when %s although more match',
    async (_case, offset, head, length, size) => {
      // Prepare
      const { reader: r, run } = reader();
      answers = [{ alerts: alerts(length, T0), filteredCount: 500, more: true }];

      // Act
      const page = head ? await r.readInTime(offset, true) : await r.readInTime(offset);

      // Assess
      expect(run.paging.size).toBe(size);
      expect(page?.full).toBe(true);
    },
  );

  it('says in its warning what it asked, what came and where', async () => {
    // Prepare
    const { reader: r } = reader();
    answers = [{ alerts: alerts(20, T0), filteredCount: 500, more: true }];

    // Act
    await r.readInTime(0, true);

    // Assess
    expect(silentLogger.warnFields).toEqual([
      { limit: 50, answered: 20, offset: 0, filteredCount: 500, setting: 'POLLER_PAGE_SIZE' },
    ]);
  });
});

describe('Alert reader: checking a short page without counts', () => {
  it.each([
    ['10 alerts, the smallest page size', 10, T0 - 9 * SECOND],
    ['a last alert exactly at the floor', 20, T0 - 19 * SECOND],
  ])('reads on past a short page of %s', async (_case, length, floor) => {
    // Prepare
    const { reader: r } = reader(50, floor);
    answers = [{ alerts: alerts(length, T0) }, { alerts: alerts(1, floor - SECOND, 100) }];

    // Act
    const page = await r.readInTime(0, true);

    // Assess: alerts past it show Tanium capped the page
    expect(asked).toEqual([0, length]);
    expect(page.full).toBe(true);
  });

  it('takes a short page for the end of the list, unchecked, in a run that publishes nothing it reads', async () => {
    // Prepare
    const { reader: r, run } = reader(50, T0 - 60 * SECOND);
    r.publishesNone = true;
    answers = [{ alerts: alerts(20, T0) }];

    // Act
    const page = await r.readInTime(0, true);

    // Assess
    expect(asked).toEqual([0]);
    expect(page.full).toBe(false);
    expect(run.paging.size).toBe(50);
  });

  it('checks only once a run', async () => {
    // Prepare
    const { reader: r } = reader(50, T0 - 60 * SECOND);
    answers = [{ alerts: alerts(20, T0) }, { alerts: [] }, { alerts: alerts(20, T0) }];

    // Act
    const first = await r.readInTime(0, true);
    const second = await r.readInTime(0, true);

    // Assess
    expect(asked).toEqual([0, 20, 0]);
    expect(first.full).toBe(false);
    expect(second.full).toBe(false);
  });

  it('fails the read when the check fails on Tanium', async () => {
    // Prepare
    const { reader: r } = reader(50, T0 - 60 * SECOND);
    answers = [{ alerts: alerts(20, T0) }, new TaniumError('tanium', 'index busy')];

    // Act / Assess
    await expect(r.readInTime(0, true)).rejects.toThrow('index busy');
    expect(r.readFailed).toBe(true);
  });
});

describe('Alert reader: alerts stamped ahead', () => {
  it('takes an alert for one stamped ahead only beyond the tolerance', () => {
    // Prepare
    const { reader: r } = reader();
    const edge = T0 + FUTURE_TOLERANCE_MS;
    const read = [
      { id: 1, createdAt: new Date(edge + 1).toISOString() },
      { id: 2, createdAt: new Date(edge).toISOString() },
    ];

    // Act
    r.addCandidates({
      offset: 0,
      limit: 50,
      alerts: read,
      ts: [edge + 1, edge],
      dated: [true, true],
      filteredCount: undefined,
      full: false,
    });

    // Assess
    expect([...r.futureKeys]).toEqual(['1']);
    expect(r.newestSeen).toBe(edge + 1);
  });
});
