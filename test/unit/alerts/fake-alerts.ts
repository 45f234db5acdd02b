import { UnpublishedEntriesError } from '../../../shared/alerts/errors.ts';
import { runPoller } from '../../../shared/alerts/poller.ts';
import type {
  AlertEntry,
  AlertPublisher,
  AlertSource,
  PollerLogger,
  PollerSettings,
  PublishOutcome,
  RunReport,
  SourcePage,
  StateStore,
} from '../../../shared/alerts/types.ts';
import { entrySize } from '../../../shared/events/eventbridge-limits.ts';
import type { Alert } from '../../../shared/tanium/alerts.ts';
import { DeadlineError, TaniumError } from '../../../shared/tanium/errors.ts';

export const T0 = Date.parse('2024-01-15T10:00:00.000Z');

export interface FakeAlert {
  id: number;
  guid: string;
  createdAt: string;
  createdMs: number;
  details?: string;
  intelDocId?: number;
  state?: string;
  /** Sent with neither id nor guid, as a malformed alert would be. */
  anonymous?: boolean;
}

/** How alerts sharing a millisecond are ordered in each answer. */
export type TieOrder = 'highest-id-first' | 'lowest-id-first' | 'shuffled';

/** FakeAlerts' cached sort (see `FakeAlerts.cache`). */
interface SortedAlerts {
  tieOrder: TieOrder;
  entries: Array<{ alert: FakeAlert; index: number; createdMs: number; id: number }>;
  ties: Array<[number, number]>;
}

/**
 * An in-memory Tanium alert list with the behaviours of tanium-api.md 4.8: newest first, arrivals at
 * offset 0, pruning of the oldest, ties in an unspecified order, and a hook that runs before each
 * request so a test can change the list between the pages of one walk.
 */
export class FakeAlerts implements AlertSource {
  /** Changed only through `add` and `prune`, so the cached order knows when it is stale. */
  #alerts: FakeAlert[] = [];
  nextId = 1;
  requests = 0;
  intelRequests = 0;
  tieOrder: TieOrder = 'highest-id-first';
  /** Runs before each page is answered (request number from 1). */
  beforeRequest: ((request: number) => void) | undefined;
  /** Requests (by number) that fail with a transient error. */
  failing = new Set<number>();
  /** Answer without `filteredCount`, as a Tanium that sends no `meta` does: arrivals cannot be counted. */
  omitFilteredCount = false;
  /** Send the count as Tanium's `totalCount` alone (no `filteredCount`), which says nothing of the end. */
  totalCountOnly = false;
  /** The most alerts one answer holds whatever the limit, as a server capping `limit` would. */
  maxLimit = Number.POSITIVE_INFINITY;
  /** Requests (by number) answered with only this many rows, counts unchanged. */
  shortAnswers = new Map<number, number>();
  /**
   * Deadlines as the real client keeps them, on this clock: a request with less than `minAttemptMs` left
   * is not sent, and one still running at the deadline (after `beforeRequest` moved the clock) fails.
   */
  deadlines: { clock: () => number; minAttemptMs: number } | undefined;
  intelNames = new Map<string, string>();
  intelFailing = new Set<string>();
  private seed = 12345;
  /**
   * The list newest first, ties as its `tieOrder` says, each alert with its place in `#alerts` and the
   * createdMs and id it was sorted by; `undefined` once the list changes. Ties are `[start, end)` runs of
   * equal createdMs, reshuffled per request when the tie order is `shuffled`.
   */
  private cache: SortedAlerts | undefined;
  /**
   * Random numbers owed to the sequence: each request draws one per alert, but only shuffled ties read
   * them, so requests in another tie order leave their draws here until a shuffled request needs the seed.
   */
  private pendingDraws = 0;

  get alerts(): readonly FakeAlert[] {
    return this.#alerts;
  }

  add(createdMs: number, fields: Partial<FakeAlert> = {}): FakeAlert {
    const id = fields.id ?? this.nextId;
    this.nextId = Math.max(this.nextId, id + 1);
    const alert: FakeAlert = {
      id,
      guid: `guid-${id}`,
      createdAt: new Date(createdMs).toISOString(),
      createdMs,
      details: JSON.stringify({
        match: { type: 'process', properties: { fullpath: `C:\\x${id}.exe`, md5: 'a'.repeat(32) } },
      }),
      ...fields,
    };
    this.#alerts.push(alert);
    this.cache = undefined;
    return alert;
  }

  /** `count` alerts `spacingMs` apart, the last at `endMs`, ids in time order. */
  addSteady(count: number, spacingMs: number, endMs: number): FakeAlert[] {
    return Array.from({ length: count }, (_, i) => this.add(endMs - (count - 1 - i) * spacingMs));
  }

  addBurst(count: number, atMs: number): FakeAlert[] {
    return Array.from({ length: count }, () => this.add(atMs));
  }

  /** Ids grow while createdAt goes back in time. */
  addOutOfOrder(count: number, newestMs: number, stepMs: number): FakeAlert[] {
    return Array.from({ length: count }, (_, i) => this.add(newestMs - i * stepMs));
  }

  /** Removes alerts created before `cutoffMs`; returns their ids. */
  prune(cutoffMs: number): number[] {
    const gone = this.#alerts.filter((a) => a.createdMs < cutoffMs).map((a) => a.id);
    if (gone.length > 0) {
      this.#alerts = this.#alerts.filter((a) => a.createdMs >= cutoffMs);
      this.cache = undefined;
    }
    return gone;
  }

  /**
   * Removes the alerts with these ids, as alerts that stop matching the poller's filters (say, resolved
   * under `state=unresolved`) leave the list wherever they stand.
   */
  remove(ids: Iterable<number>): void {
    const gone = new Set(ids);
    this.#alerts = this.#alerts.filter((a) => !gone.has(a.id));
    this.cache = undefined;
  }

  /** Lists alerts that left again, as they were (reopened: they match the filters once more). */
  restore(alerts: Iterable<FakeAlert>): void {
    for (const alert of alerts) if (!this.#alerts.includes(alert)) this.#alerts.push(alert);
    this.cache = undefined;
  }

  private random(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2147483648;
    return this.seed / 2147483648;
  }

  /**
   * The list as one answer sees it: newest first, then by id as `tieOrder` says, or for `shuffled` by a
   * fresh random key per alert and request. One random number is drawn per alert (in list order) on
   * every request whatever the tie order, and ties with equal keys keep list order, so the answers and
   * the random sequence are those of sorting the whole list afresh each time; only the sort is cached.
   */
  private ordered(): SortedAlerts['entries'] {
    const count = this.#alerts.length;
    const cache = this.currentCache();
    const entries = cache.entries;
    if (this.tieOrder !== 'shuffled') {
      this.pendingDraws += count;
      return entries;
    }
    for (; this.pendingDraws > 0; this.pendingDraws--) this.random();
    const keys = Array.from({ length: count }, () => this.random());
    for (const [start, end] of cache.ties) {
      const run = entries
        .slice(start, end)
        .sort((x, y) => keys[x.index]! - keys[y.index]! || x.index - y.index);
      for (let i = 0; i < run.length; i++) entries[start + i] = run[i]!;
    }
    return entries;
  }

  /** The cached sort, rebuilt if the list, the tie order, or an alert's createdMs or id changed. */
  private currentCache(): SortedAlerts {
    const cache = this.cache;
    if (
      cache?.tieOrder === this.tieOrder &&
      cache.entries.every((entry) => entry.alert.createdMs === entry.createdMs && entry.alert.id === entry.id)
    ) {
      return cache;
    }
    const tieOrder = this.tieOrder;
    const entries = this.#alerts.map((alert, index) => ({
      alert,
      index,
      createdMs: alert.createdMs,
      id: alert.id,
    }));
    entries.sort((x, y) => {
      if (y.createdMs !== x.createdMs) return y.createdMs - x.createdMs;
      if (tieOrder === 'lowest-id-first') return x.id - y.id;
      if (tieOrder === 'highest-id-first') return y.id - x.id;
      return x.index - y.index;
    });
    const ties: Array<[number, number]> = [];
    for (let start = 0; start < entries.length; ) {
      let end = start + 1;
      while (end < entries.length && entries[end]!.createdMs === entries[start]!.createdMs) end++;
      if (end - start > 1) ties.push([start, end]);
      start = end;
    }
    this.cache = { tieOrder, entries, ties };
    return this.cache;
  }

  async page(offset: number, limit: number, deadline: number): Promise<SourcePage> {
    const deadlines = this.deadlines;
    if (deadlines && deadline - deadlines.clock() < deadlines.minAttemptMs) {
      throw new DeadlineError('transient', 'the invocation ran out of time (nothing was sent)', {
        retryable: true,
      });
    }
    this.requests++;
    this.beforeRequest?.(this.requests);
    if (deadlines && deadlines.clock() > deadline) {
      throw new DeadlineError('transient', 'the invocation ran out of time during GET', { retryable: true });
    }
    if (this.failing.has(this.requests)) {
      throw new TaniumError('transient', 'Error from server. Status Code: 503 Data from server: busy', {
        retryable: true,
        status: 503,
      });
    }
    const ordered = this.ordered();
    const rows = Math.min(limit, this.maxLimit, this.shortAnswers.get(this.requests) ?? limit);
    const alerts = ordered.slice(offset, offset + rows).map(({ alert: a }) => {
      const alert: Alert = a.anonymous
        ? { createdAt: a.createdAt, state: a.state ?? 'unresolved' }
        : { id: a.id, guid: a.guid, createdAt: a.createdAt, state: a.state ?? 'unresolved' };
      if (a.details !== undefined) alert.details = a.details;
      if (a.intelDocId !== undefined) alert.intelDocId = a.intelDocId;
      return alert;
    });
    if (this.omitFilteredCount) return { alerts };
    if (this.totalCountOnly) return { alerts, filteredCount: ordered.length, totalOnly: true };
    const more = offset + alerts.length < ordered.length;
    return more ? { alerts, filteredCount: ordered.length, more } : { alerts, filteredCount: ordered.length };
  }

  async intelDocName(id: string): Promise<string | undefined> {
    this.intelRequests++;
    if (this.intelFailing.has(id)) throw new TaniumError('not_found', 'Error from server. Status Code: 404');
    return this.intelNames.get(id);
  }
}

/** Records every entry; can fail a chosen call to simulate PutEvents trouble. */
export class CapturePublisher implements AlertPublisher {
  calls = 0;
  readonly batches: Array<Record<string, unknown>[]> = [];
  /** The size of each call as EventBridge counts it (the sum of its entries). */
  readonly callBytes: number[] = [];
  failOnCall: number | undefined;
  /** Runs after a successful call (a test can make the next save fail, as a crash would). */
  afterPublish: ((call: number) => void) | undefined;

  /** Refuses the entries this says no to, as EventBridge refuses an entry for its content. */
  refuse: ((detail: Record<string, unknown>) => boolean) | undefined;
  /**
   * Throttles the entries this says yes to past every retry: the call publishes the others and throws,
   * naming them, as EventBridgePublisher does.
   */
  throttle: ((detail: Record<string, unknown>) => boolean) | undefined;

  async publish(entries: AlertEntry[]): Promise<PublishOutcome> {
    this.calls++;
    if (this.failOnCall === this.calls) throw new Error('PutEvents failed');
    const details = entries.map((entry) => JSON.parse(entry.Detail) as Record<string, unknown>);
    const refused = details.flatMap((detail, index) =>
      this.refuse?.(detail) ? [{ index, code: 'InvalidArgument', message: 'Event refused' }] : [],
    );
    const throttled = details.flatMap((detail, index) => (this.throttle?.(detail) ? [index] : []));
    const taken = details.flatMap((_, index) =>
      refused.some((refusal) => refusal.index === index) || throttled.includes(index) ? [] : [index],
    );
    this.batches.push(taken.map((index) => details[index]!));
    this.callBytes.push(entries.reduce((sum, entry) => sum + entrySize(entry), 0));
    if (throttled.length > 0) {
      throw new UnpublishedEntriesError(
        'transient',
        `EventBridge bus 'bus' rejected ${throttled.length} of ${entries.length} alert events after 5 attempts (ThrottlingException): Rate exceeded`,
        taken,
        5,
        { retryable: true },
      );
    }
    this.afterPublish?.(this.calls);
    return { calls: 1, refused };
  }

  get details(): Record<string, unknown>[] {
    return this.batches.flat();
  }

  get ids(): number[] {
    return this.details.map((detail) => detail.id as number);
  }
}

/** Keeps infos, warnings and errors (message and fields) for the tests to read; `clear()` between tests. */
export const silentLogger: PollerLogger & {
  infos: string[];
  infoFields: Array<Record<string, unknown>>;
  warnings: string[];
  warnFields: Array<Record<string, unknown>>;
  errors: string[];
  errorFields: Array<Record<string, unknown>>;
  clear(): void;
} = {
  infos: [],
  infoFields: [],
  warnings: [],
  warnFields: [],
  errors: [],
  errorFields: [],
  debug() {},
  info(message: string, extra: Record<string, unknown> = {}) {
    silentLogger.infos.push(message);
    silentLogger.infoFields.push(extra);
  },
  warn(message: string, extra: Record<string, unknown> = {}) {
    silentLogger.warnings.push(message);
    silentLogger.warnFields.push(extra);
  },
  error(message: string, extra: Record<string, unknown> = {}) {
    silentLogger.errors.push(message);
    silentLogger.errorFields.push(extra);
  },
  clear() {
    silentLogger.infos.length = 0;
    silentLogger.infoFields.length = 0;
    silentLogger.warnings.length = 0;
    silentLogger.warnFields.length = 0;
    silentLogger.errors.length = 0;
    silentLogger.errorFields.length = 0;
  },
};

export function settings(overrides: Partial<PollerSettings> = {}): PollerSettings {
  return {
    pageSize: 50,
    maxRequestsPerRun: 1000,
    overlapWindowMs: 60_000,
    firstRunHours: 24 * 365,
    filterPairs: [],
    maxRecentIds: 20_000,
    enrichIntelNames: false,
    source: 'tanium.threat-response',
    detailType: 'Alert',
    ...overrides,
  };
}

/**
 * One run of the poller against the fake Tanium, as the unit tests drive it: silent logs, a minute to
 * run (or until `stopAt`), a lease that outlasts it, and the test's clock.
 */
export function pollFake(
  world: { tanium: FakeAlerts; store: StateStore; publisher: AlertPublisher },
  owner: string,
  now: () => number,
  overrides: Partial<PollerSettings> = {},
  extra: { stopAt?: number; clock?: () => number } = {},
): Promise<RunReport> {
  return runPoller(
    {
      source: world.tanium,
      store: world.store,
      publisher: world.publisher,
      logger: silentLogger,
      owner,
      stopAt: extra.stopAt ?? Date.now() + 60_000,
      leaseUntil: Date.now() + 120_000,
      now,
      ...(extra.clock ? { clock: extra.clock } : {}),
    },
    settings(overrides),
  );
}

/** Ids that occur more than once. */
export function duplicates(ids: number[]): number[] {
  const seen = new Set<number>();
  const twice = new Set<number>();
  for (const id of ids) (seen.has(id) ? twice : seen).add(id);
  return [...twice].sort((a, b) => a - b);
}

export function sorted(ids: Iterable<number>): number[] {
  return [...ids].sort((a, b) => a - b);
}
