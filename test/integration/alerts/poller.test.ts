import {
  type AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, it as baseIt, beforeAll, describe, expect } from 'vitest';
import { routeToNewQueue } from '../../../cli/local/aws-resources.ts';
import { LEASE_MARGIN_MS, MAX_LEASE_AHEAD_MS } from '../../../shared/alerts/lease.ts';
import { createPollerHandler } from '../../../shared/alerts/poller-handler.ts';
import { EventBridgePublisher } from '../../../shared/alerts/publisher.ts';
import { TaniumAlertSource } from '../../../shared/alerts/source.ts';
import type {
  AlertEntry,
  AlertPublisher,
  AlertSource,
  PollerLogger,
  PublishOutcome,
  RunReport,
} from '../../../shared/alerts/types.ts';
import { TaniumClient } from '../../../shared/tanium/client.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { clearSessionCache } from '../../../shared/tanium/session-cache.ts';
import type { Alert, Emulator } from '../../emulator/index.ts';
import { createStateTable } from '../../helpers/dynamo.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { type MotoServer, resetMoto, startMoto } from '../../helpers/moto.ts';
import { runsUntilCaughtUp } from '../../helpers/poller-runs.ts';
import { drainQueue } from '../../helpers/queues.ts';
import { credentialsFor, startTestEmulator } from '../../helpers/tanium.ts';

const ALERTS_PATH = `${TR}/alerts`;

const quiet: PollerLogger = { debug() {}, info() {}, warn() {}, error() {} };

let moto: MotoServer;
let dynamo: DynamoDBClient;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;

/**
 * What one test owns: its own emulator, and its own state table, bus, queue and rule in moto. A test that
 * timed out may still be running (publishing, saving, paging, adding alerts); with nothing shared by
 * name or object, what it still does cannot reach the next test's queue, table, emulator or assertions.
 * The helpers take the world they work in as an argument, so nothing they build follows a later test's.
 */
interface World {
  readonly emulator: Emulator;
  readonly table: string;
  readonly bus: string;
  /** The queue Alert events are routed to (`routeToQueue`), and the rule that routes them. */
  readonly queueName: string;
}

let worlds = 0;

/** Forwards to EventBridge (moto) and remembers what went out, so tests can count without a queue. */
class RecordingPublisher implements AlertPublisher {
  readonly ids: number[] = [];
  readonly details: Array<Record<string, unknown>> = [];
  calls = 0;
  /** Throws after this call's PutEvents succeeded, as a crash before the checkpoint would. */
  crashAfterCall: number | undefined;
  private readonly inner: EventBridgePublisher;

  constructor(world: World) {
    this.inner = new EventBridgePublisher(eventBridge, world.bus);
  }

  async publish(entries: AlertEntry[]): Promise<PublishOutcome> {
    const outcome = await this.inner.publish(entries);
    this.calls += outcome.calls;
    for (const entry of entries) {
      const detail = JSON.parse(entry.Detail) as { id: number } & Record<string, unknown>;
      this.ids.push(detail.id);
      this.details.push(detail);
    }
    if (this.crashAfterCall !== undefined && this.calls >= this.crashAfterCall) {
      this.crashAfterCall = undefined;
      throw new Error('Runtime.ExitError');
    }
    return outcome;
  }
}

/** The Tanium source with a hook before each page: alerts arrive or disappear while the poller walks. */
class HookedSource implements AlertSource {
  pages = 0;
  constructor(
    private readonly inner: TaniumAlertSource,
    private readonly before: (page: number) => void,
  ) {}
  page(offset: number, limit: number, deadline: number) {
    this.before(++this.pages);
    return this.inner.page(offset, limit, deadline);
  }
  intelDocName(id: string, deadline: number) {
    return this.inner.intelDocName(id, deadline);
  }
}

/** Writes the poller's state item as a hand edit, a restore or another version would leave it. */
async function putStateItem(world: World, attributes: Record<string, AttributeValue>): Promise<void> {
  await dynamo.send(
    new PutItemCommand({ TableName: world.table, Item: { id: { S: 'poller#default' }, ...attributes } }),
  );
}

function env(world: World, overrides: Record<string, string> = {}) {
  return {
    STATE_TABLE: world.table,
    EVENT_BUS_NAME: world.bus,
    POLLER_FIRST_RUN_HOURS: '48',
    POLLER_PAGE_SIZE: '100',
    POLLER_MAX_REQUESTS_PER_RUN: '25',
    ...overrides,
  };
}

function poller(
  world: World,
  options: { env?: Record<string, string>; publisher?: AlertPublisher; source?: AlertSource } = {},
) {
  const { emulator } = world;
  return createPollerHandler({
    env: env(world, options.env),
    credentials: async () => credentialsFor(emulator),
    dynamoDBClient: dynamo,
    eventBridgeClient: eventBridge,
    logger: quiet,
    metrics: { record() {} },
    now: () => emulator.clock.now(),
    ...(options.publisher ? { publisher: options.publisher } : {}),
    ...(options.source ? { source: options.source } : {}),
  });
}

function taniumSource(world: World, filterPairs: Array<[string, string]> = []): TaniumAlertSource {
  return new TaniumAlertSource(new TaniumClient(credentialsFor(world.emulator)), filterPairs);
}

function untilCaughtUp(handler: ReturnType<typeof poller>, max = 100): Promise<RunReport[]> {
  return runsUntilCaughtUp(() => handler({}, lambdaContext()), max);
}

function duplicates(ids: number[]): number[] {
  const seen = new Set<number>();
  const twice: number[] = [];
  for (const id of ids) {
    if (seen.has(id)) twice.push(id);
    seen.add(id);
  }
  return twice;
}

function sortedIds(alerts: Iterable<{ id: number }>): number[] {
  return [...alerts].map((a) => a.id).sort((a, b) => a - b);
}

function sorted(ids: Iterable<number>): number[] {
  return [...ids].sort((a, b) => a - b);
}

type BusEvent = { source: string; 'detail-type': string; detail: Record<string, unknown> };

/**
 * Routes Alert events to an SQS queue (a rule with a queue target). moto delivers to the queue slowly
 * (most of a second per PutEvents), so only the test that reads events back uses it.
 */
async function routeToQueue(world: World): Promise<string> {
  const queue = await routeToNewQueue(
    { sqs, eventBridge },
    {
      bus: world.bus,
      name: world.queueName,
      pattern: { source: ['tanium.threat-response'], 'detail-type': ['Alert'] },
    },
  );
  return queue.url;
}

beforeAll(async () => {
  moto = await startMoto();
  moto.applyEnv();
  dynamo = new DynamoDBClient({});
  eventBridge = new EventBridgeClient({});
  sqs = new SQSClient({});
});

afterAll(async () => {
  dynamo?.destroy();
  eventBridge?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

const it = baseIt.extend<{ world: World }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
  world: async ({}, use) => {
    const n = ++worlds;
    const emulator = await startTestEmulator({ seed: false });
    try {
      clearSessionCache();
      // Also drops an earlier test's table, bus, queue and rule: a test still running finds them gone.
      await resetMoto(moto.endpoint);
      const world: World = {
        emulator,
        table: `tanium-tr-state-${n}`,
        bus: `tanium-tr-bus-${n}`,
        queueName: `alerts-${n}`,
      };
      await createStateTable(dynamo, world.table);
      await eventBridge.send(new CreateEventBusCommand({ Name: world.bus }));
      await use(world);
    } finally {
      // Closes its connections too: a test still running after its timeout gets errors from Tanium.
      await emulator.close();
    }
  },
});

describe('Alert poller (emulator, DynamoDB and EventBridge)', () => {
  it('delivers each alert once as an Alert event with parsed details, and saves its state', async ({
    world,
  }) => {
    const { emulator } = world;
    // Prepare
    const now = emulator.clock.now();
    const alerts = [
      ...emulator.state.alerts.addOutOfOrder(40, 1000),
      ...emulator.state.alerts.addBurst(15, now - 500),
      ...emulator.addAlerts([
        { createdAt: now - 100, details: '{"match":{"type":"process",' },
        { createdAt: now - 50, details: null },
      ]),
    ];
    const queueUrl = await routeToQueue(world);
    const handler = poller(world);
    // Act
    const report = await handler({}, lambdaContext());
    const events = await drainQueue<BusEvent>(sqs, queueUrl);
    // Assess
    expect(report).toMatchObject({
      status: 'caught_up',
      published: 57,
      taniumRequests: 1,
      putEventsCalls: 6,
    });
    expect(sortedIds(events.map((e) => e.detail as { id: number }))).toEqual(sortedIds(alerts));
    expect(events.every((e) => e.source === 'tanium.threat-response' && e['detail-type'] === 'Alert')).toBe(
      true,
    );
    const good = events.find((e) => e.detail.id === alerts[0]!.id)!.detail;
    expect(good).toMatchObject({
      guid: alerts[0]!.guid,
      event_type: expect.any(String),
      details: { match: {} },
    });
    expect(typeof good.path).toBe('string');
    expect(events.filter((e) => e.detail.details === null)).toHaveLength(2);
    const item = await dynamo.send(
      new GetItemCommand({ TableName: world.table, Key: { id: { S: 'poller#default' } } }),
    );
    expect(item.Item?.floor?.N).toBeDefined();
    expect(item.Item?.expiration).toBeUndefined();
  });

  it('skips an entry of the list that is not an alert, and publishes the others', async ({ world }) => {
    const { emulator } = world;
    // Prepare: Tanium lists a null between two alerts
    const now = emulator.clock.now();
    const alert = (id: number, ago: number) => ({
      id,
      guid: `guid-${id}`,
      createdAt: new Date(now - ago).toISOString(),
      details: '{}',
    });
    emulator.faults.add({
      path: `${TR}/alerts`,
      kind: 'status',
      status: 200,
      shape: 'plain',
      message: JSON.stringify({ data: [alert(2, 1000), null, alert(1, 2000)], meta: { filteredCount: 3 } }),
    });
    const queueUrl = await routeToQueue(world);

    // Act
    const report = await poller(world)({}, lambdaContext());
    const events = await drainQueue<BusEvent>(sqs, queueUrl);

    // Assess: not a run that fails until Tanium drops the entry
    expect(report).toMatchObject({ status: 'caught_up', published: 2, unidentifiedAlerts: 1 });
    expect(sortedIds(events.map((e) => e.detail as { id: number }))).toEqual([1, 2]);
  });

  it('fails with what to do when its saved state cannot be read, without calling Tanium', async ({
    world,
  }) => {
    const { emulator } = world;
    // Prepare
    await putStateItem(world, {
      version: { N: '3' },
      floor: { N: String(Date.UTC(2024, 0, 1)) },
      recent: { S: '[[1,' },
    });
    emulator.clearRequests();
    // Act
    const failure = await poller(world)({}, lambdaContext()).then(
      () => undefined,
      (error: Error) => error.message,
    );
    // Assess
    expect(failure).toMatch(
      /The poller state item poller#default has an unreadable 'recent' attribute \(.+\); fix it, or replace it with only/,
    );
    expect(emulator.requests).toEqual([]);
  });

  it("reads a page of alerts up to a tenth of the function's memory, and fails a larger one by name", async ({
    world,
  }) => {
    const { emulator } = world;
    // Prepare: ten alerts of 1.5 MB each, 15 MB in one page: over a tenth of 128 MiB (13.4 MB)
    emulator.state.alerts.add(
      Array.from({ length: 10 }, (_, i) => ({
        details: JSON.stringify({ padding: `${i}`.repeat(1_500_000) }),
      })),
    );

    // Act
    const small = await poller(world, { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128' } })(
      {},
      lambdaContext(),
    ).then(
      () => undefined,
      (error: Error) => error.message,
    );
    const large = await poller(world, { env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' } })(
      {},
      lambdaContext(),
    );

    // Assess
    expect(small).toMatch(
      /^Response from server is too large: over 13\.4 MB, the most read for one request \(a tenth of the function's 128 MiB of memory\)\. Lower POLLER_PAGE_SIZE, or give the poller more memory/,
    );
    expect(large.published).toBe(10);
  });

  it('needs one Tanium request per run in the steady state', async ({ world }) => {
    const { emulator } = world;
    // Prepare
    emulator.state.alerts.addBacklog(500, 1000);
    const handler = poller(world);
    await untilCaughtUp(handler);
    emulator.clearRequests();
    // Act
    const reports = [await handler({}, lambdaContext()), await handler({}, lambdaContext())];
    // Assess
    expect(reports.map((r) => r.taniumRequests)).toEqual([1, 1]);
    expect(emulator.requestCount({ path: ALERTS_PATH })).toBe(2);
    expect(reports.every((r) => r.published === 0)).toBe(true);
  });

  it.for([
    ['with its counts', false],
    ['as a bare array', true],
  ] as const)(
    'publishes every alert once from a Tanium that caps its page size unsaid, answering %s',
    async ([, bare], { world }) => {
      const { emulator } = world;
      // Prepare: pages of 200 asked, 50 answered
      emulator.switches.alertsMaxLimit = 50;
      emulator.switches.alertsBareArray = bare;
      emulator.state.alerts.addBacklog(500, 1000);
      const publisher = new RecordingPublisher(world);
      // Act
      await untilCaughtUp(poller(world, { publisher, env: { POLLER_PAGE_SIZE: '200' } }));
      // Assess
      expect(duplicates(publisher.ids)).toEqual([]);
      expect(sorted(publisher.ids)).toEqual(sortedIds(emulator.state.alerts.all()));
      const limits = emulator.requests
        .filter((request) => request.path === ALERTS_PATH)
        .map((request) => new URLSearchParams(request.rawQuery).get('limit'));
      expect(limits[0]).toBe('200');
      expect(limits).toContain('50');
    },
  );

  it('drains a backlog oldest first over several runs while alerts keep arriving, bursting and being pruned', async ({
    world,
  }) => {
    const { emulator } = world;
    // Prepare: at 10 requests a run (of 100 alerts a page), a backlog of 1,200 takes more than one run
    // to drain, as 3,000 did at 25, with less than half the PutEvents; spread over the same 50 minutes,
    // so the pruning below reaches as far into it; pruned every 7 pages, so it still comes mid-walk in the
    // first run
    const limits = { POLLER_MAX_REQUESTS_PER_RUN: '10' };
    const backlog = emulator.state.alerts.addBacklog(1200, 2500);
    const all = new Map<number, Alert>(emulator.state.alerts.all().map((a) => [a.id, a]));
    expect(backlog).toBe(1200);
    const pruned = new Set<number>();
    const source = new HookedSource(taniumSource(world), (page) => {
      emulator.clock.advance(700);
      const arrived =
        page % 3 === 0
          ? emulator.state.alerts.addBurst(1 + (page % 12))
          : page % 3 === 1
            ? emulator.state.alerts.addOutOfOrder(3, 100)
            : [];
      for (const alert of arrived) all.set(alert.id, alert);
      if (page % 7 === 0) {
        const before = new Set(emulator.state.alerts.all().map((a) => a.id));
        emulator.pruneAlerts(3000 * 1000 - page * 2000);
        for (const id of before) if (!emulator.state.alerts.get(id)) pruned.add(id);
      }
    });
    const publisher = new RecordingPublisher(world);
    const handler = poller(world, { source, publisher, env: limits });
    // Act
    const during: RunReport[] = [];
    for (let run = 0; run < 8; run++) during.push(await handler({}, lambdaContext()));
    const after = await untilCaughtUp(poller(world, { source: taniumSource(world), publisher, env: limits }));
    // Assess
    expect(during.every((r) => r.taniumRequests <= 10)).toBe(true);
    expect(during.some((r) => r.stoppedBy === 'request_limit')).toBe(true);
    expect(after.at(-1)?.status).toBe('caught_up');
    expect(duplicates(publisher.ids)).toEqual([]);
    const published = new Set(publisher.ids);
    const missing = [...all.keys()].filter((id) => !published.has(id) && !pruned.has(id));
    expect(pruned.size).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('carries on after Tanium errors mid-walk, without losing or repeating alerts', async ({ world }) => {
    const { emulator } = world;
    // Prepare
    emulator.state.alerts.addBacklog(1500, 1000);
    const source = new HookedSource(taniumSource(world), (page) => {
      if (page === 6) emulator.faults.add({ path: ALERTS_PATH, kind: 'status', status: 500, times: 1 });
    });
    const publisher = new RecordingPublisher(world);
    const handler = poller(world, { source, publisher });
    // Act
    const failure = await handler({}, lambdaContext()).then(
      () => undefined,
      (error: unknown) => error,
    );
    const reports = await untilCaughtUp(handler);
    // Assess
    expect(failure).toMatchObject({ kind: 'tanium', message: expect.stringContaining('Status Code: 500') });
    expect(reports.at(-1)?.status).toBe('caught_up');
    expect(duplicates(publisher.ids)).toEqual([]);
    expect(sorted(publisher.ids)).toEqual(sorted(emulator.state.alerts.all().map((a) => a.id)));
  });

  it('re-publishes at most one batch after a crash between PutEvents and the checkpoint', async ({
    world,
  }) => {
    const { emulator } = world;
    // Prepare
    emulator.state.alerts.addBacklog(400, 1000);
    const publisher = new RecordingPublisher(world);
    publisher.crashAfterCall = 7;
    const handler = poller(world, { publisher });
    // Act
    await expect(handler({}, lambdaContext())).rejects.toThrow('Runtime.ExitError');
    await untilCaughtUp(handler);
    // Assess
    const twice = duplicates(publisher.ids);
    expect(twice.length).toBeGreaterThan(0);
    expect(twice.length).toBeLessThanOrEqual(10);
    expect(sorted(new Set(publisher.ids))).toEqual(sorted(emulator.state.alerts.all().map((a) => a.id)));
  });

  // A lease that is not a number is taken over too (NOT attribute_type), which moto cannot evaluate.
  it.for([
    ['a year ahead', 365 * 86_400_000],
    ['a lease margin past the longest run', MAX_LEASE_AHEAD_MS + LEASE_MARGIN_MS],
  ] as const)(
    'takes over a lease no run sets (%s) instead of skipping every run',
    async ([, ahead], { world }) => {
      const { emulator } = world;
      // Prepare: a state item edited by hand. Timed from now, not from when the file was collected: the
      // tests before this one can take longer than the minute past the limit.
      const leaseUntil = { N: String(Date.now() + ahead) };
      await putStateItem(world, { version: { N: '1' }, leaseOwner: { S: 'someone' }, leaseUntil });
      emulator.state.alerts.addBacklog(5, 60_000);
      const publisher = new RecordingPublisher(world);
      // Act
      const report = await poller(world, { publisher })({}, lambdaContext());
      // Assess: the run worked; a skipped run writes no lag, and no alarm would have seen it
      expect(report.status).not.toBe('skipped');
      expect(sorted(publisher.ids)).toEqual(sorted(emulator.state.alerts.all().map((a) => a.id)));
    },
  );

  it.for([
    ['days ahead of the clock', Date.now() + 7 * 86_400_000, 'more than two days ahead of the clock'],
    [
      'in seconds, not milliseconds',
      Math.floor(Date.now() / 1000),
      'before 2010: it must be epoch milliseconds',
    ],
  ])(
    'fails on a floor no run writes (%s), naming it, without calling Tanium',
    async ([, floor, said], { world }) => {
      const { emulator } = world;
      // Prepare
      await putStateItem(world, { version: { N: '2' }, floor: { N: String(floor) }, recent: { S: '[]' } });
      emulator.clearRequests();
      // Act
      const failure = await poller(world)({}, lambdaContext()).then(
        () => undefined,
        (error: Error) => error.message,
      );
      // Assess: it would skip every alert until then, or publish every alert Tanium holds again
      expect(failure).toContain(`The poller state item poller#default has an unreadable 'floor' attribute`);
      expect(failure).toContain(said);
      expect(emulator.requests).toEqual([]);
    },
  );

  it('carries on from a floor minutes ahead of its clock, as runs write when Tanium runs ahead', async ({
    world,
  }) => {
    // Prepare: the floor follows Tanium's alert times, here ten minutes ahead of the function's clock
    await putStateItem(world, {
      version: { N: '2' },
      floor: { N: String(Date.now() + 10 * 60_000) },
      recent: { S: '[]' },
    });
    // Act
    const report = await poller(world)({}, lambdaContext());
    // Assess
    expect(report.status).not.toBe('failed');
  });

  it('lets two concurrent pollers on one table publish each alert once between them', async ({ world }) => {
    const { emulator } = world;
    // Prepare
    emulator.state.alerts.addBacklog(1200, 1000);
    const publisherA = new RecordingPublisher(world);
    const publisherB = new RecordingPublisher(world);
    const a = poller(world, { publisher: publisherA, env: { POLLER_MAX_REQUESTS_PER_RUN: '10' } });
    const b = poller(world, { publisher: publisherB, env: { POLLER_MAX_REQUESTS_PER_RUN: '10' } });
    // Slow alert pages keep every run open long enough for the other poller to meet its lease.
    emulator.faults.add({ method: 'GET', path: ALERTS_PATH, kind: 'delay', ms: 30 });
    // Act
    const statuses: string[] = [];
    for (let round = 0; round < 30; round++) {
      if (round % 4 === 0) emulator.state.alerts.addBurst(7);
      const [ra, rb] = await Promise.all([a({}, lambdaContext()), b({}, lambdaContext())]);
      statuses.push(ra.status, rb.status);
    }
    await untilCaughtUp(a);
    // Assess
    const union = [...publisherA.ids, ...publisherB.ids];
    expect(statuses).toContain('skipped');
    expect(duplicates(union)).toEqual([]);
    expect(sorted(union)).toEqual(sorted(emulator.state.alerts.all().map((a) => a.id)));
  });

  it('applies the filters, adds intel doc names, and publishes without a name when its look-up fails', async ({
    world,
  }) => {
    const { emulator } = world;
    // Prepare
    emulator.state.alerts.addBacklog(200, 1000);
    const publisher = new RecordingPublisher(world);
    const handler = poller(world, {
      publisher,
      env: {
        POLLER_FILTER_STATE: 'unresolved,inprogress',
        POLLER_FILTER_PRIORITY: 'high',
        POLLER_ENRICH_INTEL_NAMES: 'true',
      },
    });
    // Act
    const report = await handler({}, lambdaContext());
    // Assess
    const matching = emulator.state.alerts
      .all()
      .filter((a) => ['unresolved', 'inprogress'].includes(a.state) && a.priority === 'high');
    expect(report.status).toBe('caught_up');
    expect(report.intelRequests).toBeGreaterThan(0);
    expect(sorted(publisher.ids)).toEqual(sortedIds(matching));
    const seededName = emulator.state.intels.docs.get(11)?.name;
    for (const detail of publisher.details) {
      // Intel doc 11 is seeded; 527 does not exist, so its look-up fails and the alert goes out unnamed.
      if (detail.intelDocId === 11) expect(detail.intelDocName).toBe(seededName);
      else expect(detail).not.toHaveProperty('intelDocName');
    }
    expect(publisher.details.some((d) => d.intelDocId === 11)).toBe(true);
    expect(publisher.details.some((d) => d.intelDocId !== 11)).toBe(true);
    const query = emulator.requests.find((r) => r.path === ALERTS_PATH)!.rawQuery;
    expect(query).toBe('limit=100&sort=-createdAt&state=unresolved&state=inprogress&priority=high');
  });
});
