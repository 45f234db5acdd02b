import {
  EventBridgeClient,
  EventBridgeServiceException,
  PutEventsCommand,
  type PutEventsCommandInput,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, vi } from 'vitest';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import { runPoller } from '../../../shared/alerts/poller.ts';
import { EventBridgePublisher } from '../../../shared/alerts/publisher.ts';
import type {
  AlertSource,
  Checkpoint,
  LeasedState,
  PollerLogger,
  PollerSettings,
  RunReport,
  SourcePage,
} from '../../../shared/alerts/types.ts';
import { MAX_ENTRIES_PER_CALL } from '../../../shared/events/eventbridge-limits.ts';
import { seededHistories } from '../../helpers/seeded-histories.ts';
import { seededRandom } from '../../helpers/seeded-random.ts';
import { type FakeAlert, FakeAlerts, settings, T0 } from './fake-alerts.ts';

/**
 * The poller's promise (design §4: each alert published once in the normal case, at most one batch again
 * after a crash, none ever skipped) under random histories: a backlog and live arrivals (bursts in one
 * millisecond, some larger than a page, alerts that become visible late inside the overlap window,
 * alerts whose createdAt does not read, alerts stamped ahead of the clock, pruning of the oldest) while Tanium fails, runs slow and answers
 * short, the bus refuses, throttles and loses its answers or refuses everything for a run (through the
 * real EventBridgePublisher and its retry), the state store refuses or loses its answers, and the
 * runtime dies in the middle of any call.
 * Runs follow the schedule on one simulated clock; the clock moves with every call. After each save
 * the stored checkpoint is checked against what the bus took: everything it took is in the checkpoint
 * (unless its answer was lost or the save refused), and nothing the bus has not taken lies below the
 * floor. After the faults stop, the poller must catch up; then every alert still listed went out (or,
 * refused by the bus in every form, was logged as dropped), and an alert went out twice only where
 * something it was in went unconfirmed (an answer lost, a save refused, a crash), each at most a batch.
 * The state store is MemoryStateStore, the same contract as the DynamoDB store (whose conditional
 * writes are tested against moto in test/integration/alerts/poller.test.ts).
 */

// The publisher's waits between PutEvents attempts pass on the history's clock, at once.
const waits = vi.hoisted(() => ({ pass: (_ms: number): void => {} }));
vi.mock('node:timers/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:timers/promises')>();
  return {
    ...actual,
    setTimeout: async <T>(ms: number, value?: T) => {
      waits.pass(ms);
      await actual.setImmediate();
      return value;
    },
  };
});

const eventBridge = mockClient(EventBridgeClient);

const DROPPED = 'EventBridge refused an alert event even reduced; it is not published';
const RUN_EVERY_MS = 60_000;
const RUN_BUDGET_MS = 30_000;
/** A run's lease outlasts its hardest end, and ends before the next scheduled run. */
const LEASE_MS = 45_000;
/** How far below the clock an alert may become visible: inside the overlap window, as the design needs. */
const LATE_MS = 30_000;
/** How far ahead of the function's clock Tanium may stamp an alert. */
const AHEAD_MS = 180_000;
/** Arrivals stop, and the faults end, after this many runs; then the poller must catch up. */
const FAULTY_RUNS = 40;
const MAX_RECOVERY_RUNS = 400;

interface Faults {
  /** Chance a Tanium page request fails (503). */
  taniumFails?: number;
  /** Longest a Tanium request takes (ms): reads run into the run's time for reading. */
  taniumMs?: number;
  /** Chance Tanium answers a page with fewer rows than asked, its counts unchanged. */
  shortAnswers?: number;
  /** Chance a PutEvents call is refused whole before the bus takes anything. */
  busDown?: number;
  /** Chance a PutEvents call's answer is lost after the bus took its entries. */
  busLost?: number;
  /** Chance, per entry and call, that the bus throttles an entry. */
  throttled?: number;
  /** Chance a run finds the bus refusing every entry for its content (a broken rule or policy). */
  busRefusesAll?: number;
  /** Share of alerts whose full event the bus refuses (the reduced form goes through). */
  refusedWhole?: number;
  /** Share of alerts the bus refuses in every form (the poller drops them). */
  refusedAlways?: number;
  /** Chance, per state call, that it is refused before it writes. */
  storeFails?: number;
  /** Chance, per state call, that it writes and its answer is lost. */
  storeLost?: number;
  /** Chance, per Tanium, bus and state call, that the runtime dies in it. */
  crash?: number;
  /** Now and then an arrival whose createdAt does not read. */
  undated?: boolean;
  /** Now and then an arrival stamped up to AHEAD_MS ahead of the function's clock (Tanium's runs ahead). */
  ahead?: boolean;
  /** Alerts become visible up to LATE_MS after their createdAt. */
  late?: boolean;
  /** Tanium sends no `meta` counts. */
  noCounts?: boolean;
  /** Tanium sends only `meta.totalCount`, which cannot say where the list ends. */
  totalCountOnly?: boolean;
  /** Tanium caps `limit` below the page size, and says so only by a count, if it sends one. */
  capped?: boolean;
  /** Chance, per Tanium request, that alerts leave the list first (they stop matching a state filter). */
  leaves?: number;
  /**
   * Chance, per Tanium request, that alerts which left come back as they were (reopened), wherever they
   * stand: those below the floor are outside the guarantee, but must not stop the poller.
   */
  reenter?: number;
}

/** The faults given as a chance. */
type ChanceFault = Exclude<
  keyof Faults,
  'taniumMs' | 'undated' | 'ahead' | 'late' | 'noCounts' | 'totalCountOnly' | 'capped'
>;

/**
 * The faults that fired in the current set of histories: one that never fires leaves the set testing
 * less than its name says, with every history still passing.
 */
const fired = new Set<ChanceFault>();

/** A call that never settles: the runtime died in it. */
const DIED = new Promise<never>(() => {});

function serviceUnavailable(): EventBridgeServiceException {
  return new EventBridgeServiceException({
    name: 'ServiceUnavailableException',
    $fault: 'server',
    $metadata: { httpStatusCode: 503 },
    message: 'Service unavailable',
  });
}

function timedOut(): Error {
  return Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' });
}

/** One history: Tanium's list, the bus, the store, the clock, and what the bus took. */
class History {
  readonly random: () => number;
  readonly tanium = new FakeAlerts();
  readonly store: FaultyStore;
  readonly source: AlertSource;
  readonly publisher = new EventBridgePublisher(new EventBridgeClient({ region: 'us-east-1' }), 'bus');
  readonly logger: PollerLogger;
  readonly settings: PollerSettings;
  clock = T0;
  readonly started = T0;
  faults: Faults;
  /** Every alert ever listed, by id. */
  readonly alerts = new Map<number, FakeAlert>();
  readonly undated = new Set<number>();
  readonly refusedWhole = new Set<number>();
  readonly refusedAlways = new Set<number>();
  readonly dropped = new Set<number>();
  /** Alerts that left the list and have not come back; those that did (outside the guarantee). */
  readonly left: FakeAlert[] = [];
  readonly reentered = new Set<number>();
  /** How often the bus took each alert's event. */
  readonly takes = new Map<number, number>();
  /** Alerts the bus took whose record may not have been saved (a lost answer, a refused save, a crash). */
  readonly unconfirmed: Array<Set<number>> = [];
  /** What the bus took in the current run since its last save. */
  sinceSave = new Set<number>();
  /** What went unconfirmed in the current run. */
  runUnconfirmed = new Set<number>();
  readonly violations: string[] = [];
  runs = 0;
  /** Whether the bus refuses every entry in this run. */
  refusingAll = false;
  /** Set while a dead run's leftovers settle: every call from them hangs. */
  frozen = false;
  private died: (() => void) | undefined;

  constructor(
    readonly seed: number,
    faults: Faults,
  ) {
    this.random = seededRandom(seed);
    waits.pass = (ms) => {
      this.clock += ms;
    };
    this.faults = faults;
    this.tanium.tieOrder = (['shuffled', 'lowest-id-first', 'highest-id-first'] as const)[seed % 3]!;
    this.tanium.omitFilteredCount = faults.noCounts === true;
    this.tanium.totalCountOnly = faults.totalCountOnly === true;
    const pageSize = 20 + Math.floor(this.random() * 40);
    if (faults.capped) this.tanium.maxLimit = pageSize - 1 - Math.floor(this.random() * 8);
    this.settings = settings({
      pageSize,
      maxRequestsPerRun: 10 + Math.floor(this.random() * 20),
      firstRunHours: 24,
    });
    this.tanium.deadlines = { clock: () => this.clock, minAttemptMs: 500 };
    this.tanium.beforeRequest = (request) => this.beforeRequest(request);
    this.store = new FaultyStore(this);
    this.source = {
      page: (offset: number, limit: number, deadline: number): Promise<SourcePage> =>
        this.frozen || this.fault('crash') ? this.die() : this.tanium.page(offset, limit, deadline),
    };
    const dropped = this.dropped;
    const quiet = () => {};
    this.logger = {
      debug: quiet,
      info: quiet,
      warn: quiet,
      error(message, extra = {}) {
        if (message === DROPPED) dropped.add(extra.alertId as number);
      },
    };
    // A backlog of up to about 20 minutes: all of it inside the first run's window
    this.addAlerts(this.tanium.addSteady(200 + Math.floor(this.random() * 800), 701, T0 - 1));
  }

  /** True with the chance the fault is given (never while `faults` is off). */
  fault(name: ChanceFault): boolean {
    const chance = this.faults[name] ?? 0;
    const fires = chance > 0 && this.random() < chance;
    if (fires) fired.add(name);
    return fires;
  }

  /** The runtime dies here: the run never resumes, and what it took since its last save is unconfirmed. */
  die(): Promise<never> {
    if (this.frozen) return DIED;
    this.frozen = true;
    this.unconfirm(this.sinceSave);
    this.died?.();
    return DIED;
  }

  unconfirm(ids: Iterable<number>): void {
    const set = new Set(ids);
    if (set.size === 0) return;
    this.unconfirmed.push(set);
    for (const id of set) this.runUnconfirmed.add(id);
  }

  /** Tanium takes its time, alerts arrive, and the request may fail or come back short. */
  private beforeRequest(request: number): void {
    this.clock += 2 + Math.floor(this.random() * (this.faults.taniumMs ?? 300));
    if (this.random() < 0.3) this.arriveNewest();
    if (this.fault('taniumFails')) this.tanium.failing.add(request);
    if (this.fault('leaves')) this.leave();
    if (this.left.length > 0 && this.fault('reenter')) {
      const back = this.left.splice(0, 1 + Math.floor(this.random() * this.left.length));
      for (const alert of back) this.reentered.add(alert.id);
      this.tanium.restore(back);
    }
    // Short answers only where they cannot split a group for good: with the matching count (a short
    // page is read past) and a Tanium keeping one order among equal createdAt (one read as a cap
    // shrinks the page)
    const matchingCount = !this.faults.noCounts && !this.faults.totalCountOnly;
    if (matchingCount && this.tanium.tieOrder !== 'shuffled' && this.fault('shortAnswers'))
      this.tanium.shortAnswers.set(request, 1 + Math.floor(this.random() * (this.settings.pageSize / 2)));
  }

  /**
   * Up to two pages of alerts, next to each other in the list, leave it wherever they stand (resolved
   * under a state filter, say): only alerts alone in their millisecond, as a group larger than a page
   * that loses members below its edge while a run is inside it is outside the guarantee.
   */
  private leave(): void {
    const members = new Map<number, number>();
    for (const alert of this.tanium.alerts)
      members.set(alert.createdMs, (members.get(alert.createdMs) ?? 0) + 1);
    const alone = this.tanium.alerts.filter(
      (alert) => members.get(alert.createdMs) === 1 && !this.undated.has(alert.id),
    );
    const count = 1 + Math.floor(this.random() * 2 * this.settings.pageSize);
    const start = Math.floor(this.random() * alone.length);
    const leaving = alone.slice(start, start + count);
    this.left.push(...leaving);
    this.tanium.remove(leaving.map((alert) => alert.id));
  }

  /**
   * Alerts newer than every listed one, as arrive while a run walks: a burst in one (even) millisecond
   * or a single alert in an odd one. The clock moves on by 4 ms first, so no alert joins a millisecond
   * already listed (a group larger than a page that gains members below its edge is outside the
   * guarantee). A Tanium that reorders equal createdAt between requests gets only bursts that fit in a
   * page with an alert above and one below (and room for two undated alerts listed right above, which
   * count with the group): a larger group relies on one order, as the design says.
   */
  arriveNewest(): void {
    this.clock += 4;
    const even = this.clock - (this.clock % 2);
    if (this.random() < 0.4) {
      const page = Math.min(this.settings.pageSize, this.tanium.maxLimit);
      const largest =
        this.tanium.tieOrder === 'shuffled' ? page - 2 - (this.faults.undated ? 2 : 0) : 2 * page;
      this.addAlerts(this.tanium.addBurst(1 + Math.floor(this.random() * largest), even));
    } else if (this.faults.ahead && this.random() < 0.15) {
      // A single alert, in an odd millisecond: when the clock gets there, arrivals may share it, and
      // a group larger than a page must not grow below its edge
      this.addAlerts([this.tanium.add(even - 1 + 2 * Math.floor((this.random() * AHEAD_MS) / 2))]);
    } else {
      this.addAlerts([this.tanium.add(even - 1)]);
    }
  }

  /**
   * Arrivals between runs: besides the newest, a series spread over the last second or two, an alert
   * that became visible late (up to LATE_MS after its createdAt, but above the saved floor: the design
   * finds one later than that only within about a page of the newest, LATE_MS being well inside W), one
   * whose createdAt does not read, or pruning of the oldest. Visible before the next run reads, so the
   * guarantee holds for each (an alert that becomes visible below what a run already walked, while it
   * walks, is found only within about a page of alerts of the newest: the floor's documented bound).
   */
  arriveBetweenRuns(): void {
    this.clock += 4;
    const odd = this.clock - (this.clock % 2) - 1;
    const floor = this.store.checkpoint?.floor ?? Number.NEGATIVE_INFINITY;
    const roll = this.random();
    if (roll < 0.4) {
      this.arriveNewest();
    } else if (roll < 0.7) {
      this.addAlerts(this.tanium.addSteady(1 + Math.floor(this.random() * 15), 98, odd));
    } else if (roll < 0.8 && this.faults.late) {
      const earliest = Math.max(odd - LATE_MS, floor);
      const at = odd - 2 * Math.floor((this.random() * (odd - earliest)) / 2);
      this.addAlerts([this.tanium.add(at)]);
    } else if (roll < 0.85 && this.faults.undated) {
      // Now and then one listed first, as a null createdAt sorts under -createdAt; else in its place
      const nullFirst = this.random() < 0.1;
      const alert = this.tanium.add(nullFirst ? 8.6e15 : odd, {
        createdAt: (nullFirst ? null : 'not a time') as unknown as string,
      });
      this.undated.add(alert.id);
      this.addAlerts([alert]);
    } else {
      // Pruning takes only the oldest of the backlog, never a live burst a run may be inside
      this.tanium.prune(Math.min(this.clock - 1_100_000, this.started - 600_000));
    }
  }

  private addAlerts(alerts: FakeAlert[]): void {
    for (const alert of alerts) {
      this.alerts.set(alert.id, alert);
      if (this.fault('refusedAlways')) this.refusedAlways.add(alert.id);
      else if (this.fault('refusedWhole')) this.refusedWhole.add(alert.id);
    }
  }

  /** The bus: takes, throttles or refuses each entry; may be down, lose its answer, or see the runtime die. */
  async putEvents(
    input: PutEventsCommandInput,
  ): Promise<{ FailedEntryCount: number; Entries: PutEventsResultEntry[] }> {
    if (this.frozen) return DIED;
    this.clock += 1 + Math.floor(this.random() * 200);
    if (this.fault('busDown')) throw serviceUnavailable();
    const results: PutEventsResultEntry[] = [];
    const took: number[] = [];
    for (const entry of input.Entries ?? []) {
      const detail = JSON.parse(entry.Detail ?? '{}') as { id: number; details_omitted?: string };
      const whole = detail.details_omitted === undefined;
      if (
        this.refusingAll ||
        this.refusedAlways.has(detail.id) ||
        (whole && this.refusedWhole.has(detail.id))
      ) {
        results.push({ ErrorCode: 'InvalidArgument', ErrorMessage: 'Detail is malformed' });
      } else if (this.fault('throttled')) {
        results.push({ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' });
      } else {
        results.push({ EventId: `event-${this.runs}-${took.length}` });
        took.push(detail.id);
      }
    }
    for (const id of took) {
      this.takes.set(id, (this.takes.get(id) ?? 0) + 1);
      this.sinceSave.add(id);
    }
    if (this.fault('crash')) return this.die();
    if (this.fault('busLost')) {
      this.unconfirm(took);
      throw timedOut();
    }
    return { FailedEntryCount: results.filter((result) => result.ErrorCode).length, Entries: results };
  }

  /**
   * A save written: what the bus took since the last one is in it, unless it went unconfirmed, and no
   * alert still listed lies below the floor unless the bus took it or the poller dropped it.
   */
  saved(checkpoint: Checkpoint): void {
    const recent = new Set(checkpoint.recent.flatMap(([, ids]) => ids));
    const undated = new Set(checkpoint.undated ?? []);
    for (const id of this.sinceSave) {
      if (this.runUnconfirmed.has(id)) continue;
      const alert = this.alerts.get(id)!;
      const dated = !this.undated.has(id);
      const covered =
        recent.has(id) ||
        undated.has(id) ||
        (dated && (alert.createdMs < checkpoint.floor || checkpoint.group?.at === alert.createdMs));
      if (!covered)
        this.violations.push(`run ${this.runs}: alert ${id}, taken by the bus, is not in the saved state`);
    }
    this.sinceSave.clear();
    for (const alert of this.tanium.alerts) {
      if (this.undated.has(alert.id) || alert.createdMs >= checkpoint.floor) continue;
      if (this.reentered.has(alert.id)) continue;
      if (!this.takes.has(alert.id) && !this.dropped.has(alert.id))
        this.violations.push(
          `run ${this.runs}: the floor passed alert ${alert.id}, which the bus never took`,
        );
    }
  }

  /** One scheduled run, to its end or to the runtime's death in it. */
  async run(): Promise<RunReport | 'died'> {
    this.runs++;
    this.sinceSave = new Set();
    this.runUnconfirmed = new Set();
    this.refusingAll = this.fault('busRefusesAll');
    const start = this.clock;
    const died = new Promise<'died'>((resolve) => {
      this.died = () => resolve('died');
    });
    const report = await Promise.race([
      runPoller(
        {
          source: this.source,
          store: this.store,
          publisher: this.publisher,
          logger: this.logger,
          owner: `run-${this.runs}`,
          stopAt: start + RUN_BUDGET_MS,
          leaseUntil: start + LEASE_MS,
          now: () => this.clock,
          clock: () => this.clock,
        },
        this.settings,
      ),
      died,
    ]);
    if (report === 'died') {
      // Let whatever the dead run had queued settle into calls that hang, then carry on
      for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
      this.frozen = false;
    } else {
      const unsaved = [...this.sinceSave].filter((id) => !this.runUnconfirmed.has(id));
      if (unsaved.length > 0)
        this.violations.push(
          `run ${this.runs} (${report.status}) ended without saving alerts ${unsaved.join(', ')}`,
        );
    }
    this.clock = Math.max(this.clock, start + RUN_EVERY_MS) + Math.floor(this.random() * 5000);
    return report;
  }
}

/** MemoryStateStore whose calls may be refused, lose their answers, or see the runtime die. */
class FaultyStore extends MemoryStateStore {
  constructor(private readonly history: History) {
    super();
  }

  private async before(): Promise<'lost' | undefined> {
    const history = this.history;
    history.clock += 1 + Math.floor(history.random() * 50);
    if (history.frozen || history.fault('crash')) return history.die();
    if (history.fault('storeFails')) {
      throw Object.assign(new Error('Throughput exceeds the current capacity of your table'), {
        name: 'ProvisionedThroughputExceededException',
      });
    }
    return history.fault('storeLost') ? 'lost' : undefined;
  }

  override async acquire(
    owner: string,
    leaseUntil: number,
    now: number,
    signal?: AbortSignal,
    startedAt?: number,
  ): Promise<LeasedState | undefined> {
    const lost = await this.before();
    const leased = await super.acquire(owner, leaseUntil, now, signal, startedAt);
    if (lost) throw timedOut();
    return leased;
  }

  override async save(owner: string, version: number, checkpoint: Checkpoint): Promise<number> {
    let lost: 'lost' | undefined;
    try {
      lost = await this.before();
    } catch (error) {
      this.history.unconfirm(this.history.sinceSave);
      throw error;
    }
    const saved = await super.save(owner, version, checkpoint);
    this.history.saved(checkpoint);
    if (lost) throw timedOut();
    return saved;
  }

  override async release(owner: string): Promise<void> {
    const lost = await this.before();
    await super.release(owner);
    if (lost) throw timedOut();
  }
}

let history: History;

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => history.putEvents(input));
});

/** The faults, arrivals then the catch-up; returns the reports of the catch-up runs. */
async function live(seed: number, faults: Faults): Promise<Array<RunReport | 'died'>> {
  history = new History(seed, faults);
  for (let run = 0; run < FAULTY_RUNS; run++) {
    await history.run();
    for (let arrivals = Math.floor(history.random() * 4); arrivals > 0; arrivals--)
      history.arriveBetweenRuns();
  }
  // The faults end: Tanium keeps its shape (counts, cap), and one last arrival shows the bus works, so
  // alerts it refuses in every form can be dropped
  const { noCounts, totalCountOnly, capped } = faults;
  history.faults = {
    ...(noCounts ? { noCounts } : {}),
    ...(totalCountOnly ? { totalCountOnly } : {}),
    ...(capped ? { capped } : {}),
  };
  history.tanium.failing.clear();
  history.tanium.shortAnswers.clear();
  history.tanium.beforeRequest = (request) => {
    history.clock += 2 + (request % 50);
  };
  history.clock += 2;
  history.tanium.addSteady(3, 98, history.clock - (history.clock % 2) - 1).forEach((alert) => {
    history.alerts.set(alert.id, alert);
  });
  const reports: Array<RunReport | 'died'> = [];
  for (let run = 0; run < MAX_RECOVERY_RUNS; run++) {
    const report = await history.run();
    reports.push(report);
    if (report !== 'died' && report.status === 'caught_up') return reports;
  }
  throw new Error(
    `history ${seed}: not caught up ${MAX_RECOVERY_RUNS} runs after the faults ended; the last run: ${JSON.stringify(reports.at(-1))}`,
  );
}

/** Every alert still listed went out, or, refused in every form, was logged as dropped and never taken. */
function expectNoneSkipped(h: History): void {
  const missing: number[] = [];
  const wrongDrops: number[] = [];
  for (const alert of h.tanium.alerts) {
    if (h.refusedAlways.has(alert.id)) {
      if (!h.dropped.has(alert.id) || h.takes.has(alert.id)) wrongDrops.push(alert.id);
    } else if (!h.takes.has(alert.id) && !h.reentered.has(alert.id)) {
      missing.push(alert.id);
    }
  }
  expect(missing, 'alerts never published').toEqual([]);
  expect(wrongDrops, 'alerts refused in every form but not dropped (or taken after all)').toEqual([]);
  expect(
    [...h.dropped].filter((id) => !h.refusedAlways.has(id)),
    'alerts dropped that the bus took',
  ).toEqual([]);
}

/** An alert went out again only where a set it was in went unconfirmed, each set at most one batch. */
function expectRepeatsExplained(h: History): void {
  const unexplained: string[] = [];
  for (const [id, count] of h.takes) {
    const chances = h.unconfirmed.filter((set) => set.has(id)).length;
    if (count > 1 + chances) unexplained.push(`${id}: ${count} times, ${chances} unconfirmed`);
  }
  expect(unexplained, 'alerts published again without a lost answer, refused save or crash').toEqual([]);
  expect(
    h.unconfirmed.filter((set) => set.size > MAX_ENTRIES_PER_CALL).map((set) => set.size),
    'more than one batch unconfirmed at once',
  ).toEqual([]);
}

/**
 * The sets of histories. `found`: seeds past the usual range that once failed, kept for good (run with
 * other seeds, 8011 found the floor passing a millisecond larger than a page while an alert stamped
 * ahead went out with part of it; 48, 50 and 62 the floor search stalling on saved bounds that reopened
 * alerts had made stale, as 5 does in the usual range).
 */
const HISTORIES: Array<{
  name: string;
  count: number;
  faults: Faults;
  strict?: boolean;
  found?: readonly number[];
}> = [
  {
    name: 'Tanium fails, runs slow and answers short',
    count: 50,
    faults: { taniumFails: 0.1, taniumMs: 4000, shortAnswers: 0.1, capped: true, late: true },
    strict: true,
  },
  {
    name: 'Tanium caps `limit` and sends only its totalCount',
    count: 25,
    faults: { taniumFails: 0.05, taniumMs: 2000, capped: true, totalCountOnly: true, late: true },
    strict: true,
  },
  {
    name: 'Tanium caps `limit` and sends no counts',
    count: 25,
    faults: { taniumFails: 0.05, taniumMs: 2000, capped: true, noCounts: true, late: true },
    strict: true,
  },
  {
    name: 'the bus refuses, throttles and loses answers',
    count: 50,
    faults: {
      busRefusesAll: 0.05,
      busDown: 0.05,
      busLost: 0.05,
      throttled: 0.1,
      refusedWhole: 0.02,
      refusedAlways: 0.01,
      late: true,
    },
  },
  {
    name: 'the state store refuses and loses answers',
    count: 50,
    faults: { storeFails: 0.05, storeLost: 0.05, taniumFails: 0.03, late: true },
  },
  {
    name: 'the runtime dies in any call',
    count: 50,
    faults: { crash: 0.02, taniumMs: 1500, late: true },
  },
  {
    name: "Tanium's clock runs ahead, with failures",
    count: 50,
    faults: { ahead: true, late: true, taniumFails: 0.05, busLost: 0.03, storeFails: 0.03, crash: 0.01 },
    found: [8011],
  },
  {
    name: 'alerts leave the list while runs walk it',
    count: 25,
    faults: { leaves: 0.15, taniumFails: 0.03, late: true },
    strict: true,
  },
  {
    name: 'reopened alerts come back to the list, anywhere',
    count: 25,
    faults: { leaves: 0.15, reenter: 0.05, taniumFails: 0.03, late: true },
    strict: true,
    found: [48, 50, 62],
  },
  {
    name: 'reopened alerts come back, and Tanium sends no counts',
    count: 25,
    faults: { leaves: 0.15, reenter: 0.05, taniumFails: 0.03, late: true, noCounts: true },
    strict: true,
  },
  {
    name: 'alerts leave the list while runs walk it, and Tanium sends no counts',
    count: 25,
    faults: { leaves: 0.15, taniumFails: 0.03, late: true, noCounts: true },
    strict: true,
  },
  {
    name: 'everything at once, with undated alerts and no counts',
    count: 50,
    faults: {
      taniumFails: 0.05,
      taniumMs: 2500,
      busRefusesAll: 0.03,
      busDown: 0.03,
      busLost: 0.03,
      throttled: 0.05,
      refusedWhole: 0.01,
      refusedAlways: 0.01,
      storeFails: 0.03,
      storeLost: 0.03,
      crash: 0.01,
      undated: true,
      late: true,
      noCounts: true,
    },
  },
];

describe.for(HISTORIES)(
  'Alert poller: the publishing guarantee, $name',
  ({ count, faults, strict, found }) => {
    const given = Object.entries(faults)
      .filter(([name, value]) => typeof value === 'number' && name !== 'taniumMs' && value > 0)
      .map(([name]) => name as ChanceFault);
    const coverage = {
      reset: () => fired.clear(),
      unreached: () => given.filter((name) => !fired.has(name)),
      what: 'faults that never fired',
    };
    seededHistories({ count, found }, coverage, async (seed) => {
      // Act
      const reports = await live(seed, faults);

      // Assess
      expect(reports.at(-1)).toMatchObject({ status: 'caught_up' });
      expect(history.violations).toEqual([]);
      expectNoneSkipped(history);
      expectRepeatsExplained(history);
      if (strict) {
        expect(history.unconfirmed).toEqual([]);
        expect([...history.takes.values()].filter((n) => n > 1)).toEqual([]);
      }
    });
  },
);
