import { afterEach, describe, expect, it, vi } from 'vitest';
import { UnpublishedEntriesError } from '../../../shared/alerts/errors.ts';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import { createPollerHandler } from '../../../shared/alerts/poller-handler.ts';
import type {
  AlertEntry,
  AlertPublisher,
  AlertSource,
  Checkpoint,
  PublishOutcome,
  SourcePage,
} from '../../../shared/alerts/types.ts';
import { MAX_ENTRIES_PER_CALL } from '../../../shared/events/eventbridge-limits.ts';
import { DeadlineError } from '../../../shared/tanium/errors.ts';
import { MIN_ATTEMPT_MS } from '../../../shared/tanium/retry-policy.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { historySeeds, seededRandom } from '../../helpers/seeded-random.ts';
import { FakeAlerts, T0 } from './fake-alerts.ts';

/**
 * The alert poller's Lambda handler under slow dependencies, on a faked clock: what
 * poller-simulation.test.ts does not run (the handler's time budget, its publishing and state-call
 * windows, its lease length against the timeout). A history is 30 scheduled invocations a minute apart,
 * with each function timeout and reserve the settings allow; DynamoDB, the bus and Tanium are now and
 * then slow by seconds (Tanium by up to 40 s), a call's write landing before its answer, so that a cut
 * answer may hide a landed write. An invocation still running at its timeout dies where it is, as Lambda
 * ends it. The last 15 invocations meet no slowness. Checked: no invocation reaches its timeout (the
 * handler always ends itself, reported); every alert went to the bus; repeats are at most a batch per
 * failed invocation; and no invocation skips behind a lease whose run ended without a cut call.
 */

afterEach(() => {
  vi.useRealTimers();
});

const SCHEDULE_MS = 60_000;
const INVOCATIONS = 30;
const QUIET_INVOCATIONS = 15;
const SEEDS_PER_SETTING = 8;
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

interface World {
  random: () => number;
  /** Runs (by owner) Lambda ended at their timeout: nothing they start afterwards happens. */
  dead: Set<string>;
  /** How many times the bus took each alert id. */
  taken: Map<number, number>;
  slow: { store: number; bus: number; tanium: number };
}

/** Waits `ms` on the faked clock, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const NEVER = new Promise<never>(() => undefined);

/** Before the write and after it: a few ms, or seconds each when the service is slow. */
function delays(world: World, slowness: number): [number, number] {
  return world.random() < slowness ? [world.random() * 8000, world.random() * 8000] : [5, 5];
}

/** MemoryStateStore's contract with DynamoDB's timing; records which runs had a call cut. */
class SlowStore extends MemoryStateStore {
  readonly cut = new Set<string>();
  readonly ended = new Set<string>();
  readonly wrongSkips: string[] = [];

  constructor(private readonly world: World) {
    super();
  }

  private async call<T>(owner: string, signal: AbortSignal | undefined, write: () => Promise<T>): Promise<T> {
    const [before, after] = delays(this.world, this.world.slow.store);
    try {
      await sleep(before, signal);
      if (this.world.dead.has(owner)) return NEVER;
      const result = await write();
      await sleep(after, signal);
      return result;
    } catch (error) {
      this.cut.add(owner);
      throw error;
    }
  }

  override acquire(owner: string, until: number, now: number, signal?: AbortSignal, startedAt?: number) {
    return this.call(owner, signal, async () => {
      const holder = this.leaseOwner;
      const leased = await super.acquire(owner, until, now, signal, startedAt);
      const released = holder !== undefined && this.ended.has(holder) && !this.cut.has(holder);
      if (!leased && released && !this.world.dead.has(holder)) {
        this.wrongSkips.push(`${owner} skipped behind ${holder}, which had ended`);
      }
      return leased;
    });
  }

  override save(owner: string, version: number, checkpoint: Checkpoint, signal?: AbortSignal) {
    return this.call(owner, signal, () => super.save(owner, version, checkpoint));
  }

  override release(owner: string, signal?: AbortSignal) {
    return this.call(owner, signal, () => super.release(owner));
  }
}

/** The bus under EventBridgePublisher's contract: a call its signal cuts confirms nothing. */
class SlowBus implements AlertPublisher {
  constructor(
    private readonly world: World,
    private readonly owner: () => string,
  ) {}

  async publish(entries: AlertEntry[], signal?: AbortSignal): Promise<PublishOutcome> {
    const [before, after] = delays(this.world, this.world.slow.bus);
    const unconfirmed = () =>
      new UnpublishedEntriesError('transient', 'PutEvents cut', [], 1, { retryable: true });
    try {
      await sleep(before, signal);
    } catch {
      throw unconfirmed();
    }
    if (this.world.dead.has(this.owner())) return NEVER;
    for (const entry of entries) {
      const id = (JSON.parse(entry.Detail) as { id: number }).id;
      this.world.taken.set(id, (this.world.taken.get(id) ?? 0) + 1);
    }
    try {
      await sleep(after, signal);
    } catch {
      throw unconfirmed();
    }
    return { calls: 1, refused: [] };
  }
}

/** Tanium behind the client's deadline rules: no request with under a second left, none past it. */
function slowTanium(world: World, alerts: FakeAlerts, owner: () => string): AlertSource {
  return {
    async page(offset: number, limit: number, deadline: number): Promise<SourcePage> {
      if (deadline - Date.now() < MIN_ATTEMPT_MS) {
        throw new DeadlineError('transient', 'no time for a request', { retryable: true });
      }
      const ms = world.random() < world.slow.tanium ? world.random() * 40_000 : 50;
      if (Date.now() + ms > deadline) {
        await sleep(deadline - Date.now());
        throw new DeadlineError('transient', 'cut at the deadline', { retryable: true });
      }
      await sleep(ms);
      if (world.dead.has(owner())) return NEVER;
      return alerts.page(offset, limit, deadline);
    },
  };
}

interface Setting {
  reserveSeconds: number;
  timeoutMs: number;
}

async function history(seed: number, { reserveSeconds, timeoutMs }: Setting) {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(T0);
  const world: World = {
    random: seededRandom(seed),
    dead: new Set(),
    taken: new Map(),
    slow: { store: 0.15, bus: 0.15, tanium: 0.2 },
  };
  const alerts = new FakeAlerts();
  alerts.addSteady(300, 2000, T0 - 1000);
  const store = new SlowStore(world);
  const outcome = { killed: [] as string[], failed: 0 };
  for (let invocation = 0; invocation < INVOCATIONS; invocation++) {
    const at = T0 + invocation * SCHEDULE_MS;
    if (Date.now() < at) await vi.advanceTimersByTimeAsync(at - Date.now());
    const quiet = invocation >= INVOCATIONS - QUIET_INVOCATIONS;
    if (quiet) world.slow = { store: 0, bus: 0, tanium: 0 };
    else alerts.addSteady(1 + Math.floor(world.random() * 30), 1, Date.now() - 5);
    const run = { owner: '', ended: false };
    // The run's own name, as it takes the lease: what dies with it at the timeout.
    const runStore = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'acquire') {
          return (owner: string, ...rest: [number, number, AbortSignal?, number?]) => {
            run.owner = owner;
            return target.acquire(owner, ...rest);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const handler = createPollerHandler({
      env: {
        STATE_TABLE: 'state',
        EVENT_BUS_NAME: 'bus',
        POLLER_FIRST_RUN_HOURS: '24',
        POLLER_RESERVE_SECONDS: String(reserveSeconds),
        POLLER_PAGE_SIZE: '20',
      },
      source: slowTanium(world, alerts, () => run.owner),
      store: runStore,
      publisher: new SlowBus(world, () => run.owner),
      logger: SILENT,
      metrics: { record: () => undefined },
      now: () => Date.now(),
    });
    const end = () => {
      run.ended = true;
      store.ended.add(run.owner);
    };
    void handler(
      {},
      lambdaContext({ remainingMs: timeoutMs, awsRequestId: `invocation-${invocation}` }),
    ).then(end, () => {
      end();
      outcome.failed++;
    });
    setTimeout(() => {
      if (run.ended) return;
      world.dead.add(run.owner);
      outcome.killed.push(`invocation ${invocation}`);
    }, timeoutMs);
  }
  await vi.advanceTimersByTimeAsync(10 * SCHEDULE_MS);
  const missing = alerts.alerts.map((alert) => alert.id).filter((id) => !world.taken.has(id));
  const repeats = [...world.taken.values()].reduce((sum, times) => sum + times - 1, 0);
  return {
    killed: outcome.killed,
    missing,
    repeatsPastBound: Math.max(0, repeats - MAX_ENTRIES_PER_CALL * outcome.failed),
    wrongSkips: store.wrongSkips,
  };
}

const SETTINGS: Setting[] = [1, 2, 5, 10].flatMap((reserveSeconds) =>
  [15_000, 30_000, 60_000, 120_000].map((timeoutMs) => ({ reserveSeconds, timeoutMs })),
);

describe('Alert poller handler: seeded histories of slow dependencies', () => {
  it.for(SETTINGS)(
    'ends every run itself and loses nothing with a $reserveSeconds s reserve and a $timeoutMs ms timeout',
    async (setting) => {
      const problems: unknown[] = [];
      for (const seed of historySeeds(SEEDS_PER_SETTING)) {
        const result = await history(
          seed * 1000 + setting.reserveSeconds * 7 + setting.timeoutMs / 1000,
          setting,
        );
        vi.useRealTimers();
        const { killed, missing, repeatsPastBound, wrongSkips } = result;
        if (killed.length + missing.length + repeatsPastBound + wrongSkips.length > 0) {
          problems.push({ seed, killed, missing: missing.length, repeatsPastBound, wrongSkips });
        }
      }
      expect(problems).toEqual([]);
    },
  );
});
