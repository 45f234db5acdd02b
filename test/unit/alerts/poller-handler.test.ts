import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { POLLER_NAME } from '../../../infra/constructs/monitoring.ts';
import { POLLER_FUNCTION } from '../../../infra/families.ts';
import { LEASE_MARGIN_MS, MAX_INVOCATION_MS } from '../../../shared/alerts/lease.ts';
import { MemoryStateStore } from '../../../shared/alerts/memory-store.ts';
import {
  createPollerHandler,
  type PollerHandlerOptions,
  runLimits,
} from '../../../shared/alerts/poller-handler.ts';
import type { RunReport } from '../../../shared/alerts/types.ts';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import { ConfigError, DeadlineError } from '../../../shared/tanium/errors.ts';
import { startAnsweringServer } from '../../helpers/answering-server.ts';
import { failure, taniumFailure } from '../../helpers/failure.ts';
import { lambdaContext } from '../../helpers/lambda.ts';
import { jsonLinesWrittenWhile } from '../../helpers/stdout.ts';
import { CapturePublisher, duplicates, FakeAlerts, silentLogger, sorted, T0 } from './fake-alerts.ts';

const eventBridge = mockClient(EventBridgeClient);
/** Every DynamoDB client's state calls (none answers unless a test says so). */
const documents = mockClient(DynamoDBDocumentClient);
const HOUR_MS = 3_600_000;

afterEach(() => {
  eventBridge.reset();
  documents.reset();
  vi.useRealTimers();
});

/**
 * A poller handler on fakes (alerts, store, publisher as given), its first run reading the last hour, at
 * T0 unless told otherwise, its reports recorded in `recorded`.
 */
function fakeHandler(options: Partial<PollerHandlerOptions>, recorded: RunReport[] = []) {
  return createPollerHandler({
    env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '1' },
    logger: silentLogger,
    metrics: { record: (report) => recorded.push(report) },
    now: () => T0,
    ...options,
  });
}

/** PutEvents taking every entry, as the bus does when it works. */
function acceptAll(input: { Entries?: PutEventsRequestEntry[] }) {
  return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `e-${i}` })) };
}

/** The alert ids of one PutEvents call. */
function sentIds(call: { args: [PutEventsCommand, ...unknown[]] } | undefined): number[] {
  return (call?.args[0].input.Entries ?? []).map(
    (entry) => (JSON.parse(entry.Detail ?? '{}') as { id: number }).id,
  );
}

/** Whether a promise has settled yet, and the promise to await once it has. */
function watch<T>(promise: Promise<T>) {
  const state = { settled: false };
  const outcome = promise.finally(() => {
    state.settled = true;
  });
  // Read later by the test; meanwhile a rejection is not unhandled.
  outcome.catch(() => undefined);
  return { state, outcome };
}

/**
 * Runs the poller handler 20 s before its invocation's end (a reserve of 10 s: state calls stop at 19 s)
 * with the state store's `call` never answering, on a faked clock, up to that limit. `settledEarly`:
 * whether the run had ended 1 ms before it; `hungWith`: the signal the hanging call was given.
 */
async function runWithStoreCallHanging(call: 'acquire' | 'save' | 'release') {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  silentLogger.clear();
  const tanium = new FakeAlerts();
  tanium.addSteady(5, 1000, T0 - 60_000);
  const store = new MemoryStateStore();
  let hungWith: unknown;
  Object.assign(store, {
    [call]: (...args: unknown[]) => {
      hungWith = args.find((arg) => arg instanceof AbortSignal);
      return new Promise(() => undefined);
    },
  });
  const publisher = new CapturePublisher();
  const recorded: RunReport[] = [];
  const handler = fakeHandler({ source: tanium, store, publisher }, recorded);
  const run = watch(handler({}, lambdaContext({ remainingMs: 20_000 })));
  await vi.advanceTimersByTimeAsync(19_000 - 1);
  const settledEarly = run.state.settled;
  await vi.advanceTimersByTimeAsync(1);
  return { outcome: run.outcome, settledEarly, recorded, publisher, hungWith: () => hungWith };
}

describe('Alert poller handler: reading the credentials', () => {
  /** A poller handler whose credentials come from `credentials`; what it publishes and counts. */
  function readingCredentials(credentials: PollerHandlerOptions['credentials']) {
    const publisher = new CapturePublisher();
    const recorded: RunReport[] = [];
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' },
      credentials,
      store: new MemoryStateStore(),
      publisher,
      logger: silentLogger,
      metrics: { record: (report) => recorded.push(report) },
    });
    return { handler, publisher, recorded };
  }
  it('counts a run that could not read the credentials as the first try: the first run to succeed loses nothing', async () => {
    // Prepare: a new deployment whose secret is still empty; alerts older than the first try and during it
    const store = new MemoryStateStore();
    const tanium = new FakeAlerts();
    tanium.addSteady(5, 1000, T0 - 2 * 3_600_000);
    const publisher = new CapturePublisher();
    const env = { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '0' };
    const common = { env, store, publisher, logger: silentLogger, metrics: { record: () => undefined } };
    const emptySecret = createPollerHandler({
      ...common,
      credentials: async () => {
        throw new ConfigError('Invalid Tanium credentials in the secret: base_url is missing');
      },
      now: () => T0,
    });
    const failed = await failure(emptySecret({}, lambdaContext()));
    const created = tanium.addSteady(5, 60_000, T0 + 600_000);

    // Act: the secret is filled in; the next run, an hour later, is the first to take the lease
    const working = createPollerHandler({ ...common, source: tanium, now: () => T0 + 3_600_000 });
    const report = await working({}, lambdaContext());

    // Assess: the alerts created since the first try went out, none older than its hour of allowance
    expect(failed).toBeInstanceOf(ConfigError);
    expect(report).toMatchObject({ status: 'caught_up', published: 5 });
    expect(sorted(publisher.ids)).toEqual(sorted(created.map((a) => a.id)));
  });

  it('records the first try as when the run began, not when it gave up waiting for Secrets Manager', async () => {
    // Prepare: Secrets Manager hangs (the clock moves 110 s on while it is read) on a new deployment
    // whose first-run window is an hour
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const store = new MemoryStateStore();
    const env = { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '1' };
    const common = { env, store, logger: silentLogger, metrics: { record: () => undefined } };
    const hanging = createPollerHandler({
      ...common,
      publisher: new CapturePublisher(),
      credentials: () => {
        vi.setSystemTime(Date.now() + 110_000);
        return new Promise(() => undefined);
      },
      now: () => Date.now(),
    });
    const failed = await failure(hanging({}, lambdaContext({ remainingMs: 120_000 })));

    // Act: an hour later the secret works
    vi.setSystemTime(T0 + HOUR_MS);
    const tanium = new FakeAlerts();
    const [inWindow] = tanium.addSteady(1, 1000, T0 - HOUR_MS + 30_000);
    tanium.addSteady(1, 1000, T0 - HOUR_MS - 30_000);
    const publisher = new CapturePublisher();
    const working = createPollerHandler({ ...common, source: tanium, publisher, now: () => T0 + HOUR_MS });
    const report = await working({}, lambdaContext({ remainingMs: 120_000 }));

    // Assess: the window is the hour before the first try began, no less
    expect(failed).toBeInstanceOf(DeadlineError);
    expect(store.unsavedSince).toBeUndefined();
    expect(report).toMatchObject({ status: 'caught_up', published: 1 });
    expect(publisher.ids).toEqual([inWindow?.id]);
  });

  it("counts a first run's window from when the invocation began, however long its credentials took", async () => {
    // Prepare: getting the alert source (reading the credentials) takes 100 s of the alerts' clock
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const tanium = new FakeAlerts();
    const [inWindow] = tanium.addSteady(1, 1000, T0 - HOUR_MS + 30_000);
    const publisher = new CapturePublisher();
    const options: PollerHandlerOptions = {
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '1' },
      logger: silentLogger,
      metrics: { record: () => undefined },
      store: new MemoryStateStore(),
      publisher,
      now: () => Date.now(),
    };
    // Read by the handler when it runs (a spread would read it once, before): the clock moves then.
    Object.defineProperty(options, 'source', {
      get: () => {
        vi.setSystemTime(Date.now() + 100_000);
        return tanium;
      },
    });

    // Act: 900 s to run, 100 of them spent on the credentials
    const report = await createPollerHandler(options)({}, lambdaContext({ remainingMs: 900_000 }));

    // Assess: the alert created 59.5 minutes before the invocation began is in its hour
    expect(report).toMatchObject({ status: 'caught_up', published: 1 });
    expect(publisher.ids).toEqual([inWindow?.id]);
  });

  it("fails the run in time when the credentials cannot be read before the run's budget ends", async () => {
    // Prepare: Secrets Manager never answers; the run has 1 s beyond its 10 s reserve
    const { handler, publisher } = readingCredentials(() => new Promise(() => undefined));

    // Act
    const error = await failure(handler({}, lambdaContext({ remainingMs: 11_000 })));

    // Assess: a retryable failure that says why, not a bare Lambda timeout; nothing published
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error.message).toBe("The Tanium credentials could not be read before the invocation's deadline");
    expect(publisher.calls).toBe(0);
  });

  it.each([
    ['a reserve longer than the time left', '600', 120_000],
    ['a reserve as long as the time left', '120', 120_000],
  ])(
    'fails the run as a config error naming POLLER_RESERVE_SECONDS for %s',
    async (_, reserve, remainingMs) => {
      // Prepare: the variable raised in the console past the function's timeout
      silentLogger.clear();
      const recorded: RunReport[] = [];
      const credentials = vi.fn(async () => {
        throw new Error('not read: the reserve is refused first');
      });
      const handler = createPollerHandler({
        env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_RESERVE_SECONDS: reserve },
        credentials,
        store: new MemoryStateStore(),
        publisher: new CapturePublisher(),
        logger: silentLogger,
        metrics: { record: (report) => recorded.push(report) },
      });

      // Act
      const error = await failure(handler({}, lambdaContext({ remainingMs })));

      // Assess: counted and logged as a failed run, saying what to change
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toBe(
        `POLLER_RESERVE_SECONDS (${reserve} s) leaves this invocation (120 s left) no time to run: keep it at least 5 s below the function's timeout`,
      );
      expect(credentials).not.toHaveBeenCalled();
      expect(recorded.map((report) => report.status)).toEqual(['failed']);
      expect(silentLogger.errors).toEqual(['Alert poller run failed']);
    },
  );

  it("gives up on credentials that come after the run's stop time, leaving the reserve to the state calls", async () => {
    // Prepare: 20 s left and a 10 s reserve, so the run stops at 10 s; Secrets Manager takes 12 s (the
    // faked clock moves on while it is read), then answers
    vi.useFakeTimers({ toFake: ['Date'] });
    const { handler, publisher } = readingCredentials(() => {
      vi.setSystemTime(Date.now() + 12_000);
      return new Promise((resolve) =>
        setTimeout(
          () =>
            resolve({
              baseUrl: 'https://tanium.invalid',
              apiToken: 'token-1',
              verifyServerCert: true,
              timeoutSeconds: 10,
            }),
          50,
        ),
      );
    });

    // Act
    const error = await failure(handler({}, lambdaContext({ remainingMs: 20_000 })));

    // Assess: no run starts in the reserve, which is kept for publishing and saving what was read
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error.message).toBe("The Tanium credentials could not be read before the invocation's deadline");
    expect(publisher.calls).toBe(0);
  });

  it('counts and logs a run whose credentials cannot be read as a failed run', async () => {
    // Prepare: the secret as a new stack creates it, before anyone has written the credentials
    silentLogger.clear();
    const { handler, publisher, recorded } = readingCredentials(async () => {
      throw new ConfigError('The credentials secret has no base_url');
    });

    // Act
    const error = await failure(handler({}, lambdaContext({ remainingMs: 60_000 })));

    // Assess: RunsFailed counts it and the log says why, as for a run that failed on Tanium
    expect(error).toBeInstanceOf(ConfigError);
    expect(recorded).toEqual([
      expect.objectContaining({
        status: 'failed',
        stoppedBy: 'error',
        published: 0,
        error: { kind: 'config', message: 'The credentials secret has no base_url' },
      }),
    ]);
    expect(silentLogger.errors).toEqual(['Alert poller run failed']);
    expect(silentLogger.errorFields[0]).toMatchObject({ error: { kind: 'config' } });
    expect(publisher.calls).toBe(0);
  });

  it('reports a run whose credentials cannot be read by that failure, when noting its first try fails too', async () => {
    // Prepare: the secret is empty and DynamoDB refuses the note of the first try
    silentLogger.clear();
    const store = new MemoryStateStore();
    store.noteTried = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' },
      credentials: async () => {
        throw new ConfigError('The credentials secret has no base_url');
      },
      store,
      publisher: new CapturePublisher(),
      logger: silentLogger,
      metrics: { record: () => undefined },
    });

    // Act
    const error = await failure(handler({}, lambdaContext()));

    // Assess: the secret is what the operator must fix; the state's trouble is a warning beside it
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('The credentials secret has no base_url');
    expect(silentLogger.warnings).toEqual(['Could not record the failed run in the poller state']);
    expect(silentLogger.warnFields[0]).toEqual({
      reason: expect.stringContaining('ProvisionedThroughputExceededException'),
    });
    expect(silentLogger.errors).toEqual(['Alert poller run failed']);
  });
});

describe('Alert poller handler: its Tanium client', () => {
  it('reads a page of alerts up to a tenth of the memory its environment gives, and says what to lower past that', async () => {
    // Prepare: a Tanium answering 14 MB, over a tenth of 128 MiB (13.4 MB); the memory is in the
    // environment the handler is given, not the process's
    const server = await startAnsweringServer((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`"${'x'.repeat(14_000_000)}"`);
    });
    const publisher = new CapturePublisher();
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128' },
      credentials: async () =>
        parseCredentials({ base_url: server.url, api_token: 'token-1', timeout_seconds: 10 }, 'test'),
      store: new MemoryStateStore(),
      publisher,
      logger: silentLogger,
      metrics: { record: () => undefined },
    });

    // Act
    const error = await taniumFailure(handler({}, lambdaContext({ remainingMs: 60_000 }))).finally(() =>
      server.close(),
    );

    // Assess: the poller's own advice, not a family function's
    expect(error.message).toBe(
      "Response from server is too large: over 13.4 MB, the most read for one request (a tenth of the function's 128 MiB of memory). Lower POLLER_PAGE_SIZE, or give the poller more memory",
    );
    expect(publisher.calls).toBe(0);
  });
});

describe('Alert poller handler: the lease', () => {
  it('lets one of two deliveries of the same scheduled invocation publish, not both', async () => {
    // Prepare: Lambda may deliver an asynchronous invocation twice at once, under one request id
    const tanium = new FakeAlerts();
    tanium.addSteady(30, 1000, T0 - 60_000);
    const publisher = new CapturePublisher();
    const store = new MemoryStateStore();
    const handler = () => fakeHandler({ source: tanium, store, publisher });
    const context = lambdaContext({ awsRequestId: 'scheduled-1', remainingMs: 60_000 });

    // Act: two containers, one event
    const reports = await Promise.all([handler()({}, context), handler()({}, context)]);

    // Assess
    expect(reports.map((report) => report.status).sort()).toEqual(['caught_up', 'skipped']);
    expect(publisher.ids).toHaveLength(30);
    expect(duplicates(publisher.ids)).toEqual([]);
  });

  it('takes a lease no longer than an invocation can last, whatever time its context gives', async () => {
    // Prepare: a context outside Lambda (a local run) with an hour left; a store recording the lease
    const store = new MemoryStateStore();
    const leases: number[] = [];
    const acquire = store.acquire.bind(store);
    store.acquire = (owner: string, leaseUntil: number, now: number) => {
      leases.push(leaseUntil - now);
      return acquire(owner, leaseUntil, now);
    };
    const handler = fakeHandler({ source: new FakeAlerts(), store, publisher: new CapturePublisher() });

    // Act
    await handler({}, lambdaContext({ remainingMs: 3_600_000 }));

    // Assess: a longer one another run would take over at once (MAX_LEASE_AHEAD_MS), both then holding it
    expect(leases).toHaveLength(1);
    expect(leases[0]).toBeLessThanOrEqual(MAX_INVOCATION_MS + LEASE_MARGIN_MS);
    expect(leases[0]).toBeGreaterThan(MAX_INVOCATION_MS);
  });

  it.each([
    ['no context (a local run)', undefined, /^run\//],
    ['a context that gives no remaining time', { awsRequestId: 'request-1' }, /^request-1\//],
  ])(
    'takes a lease of a minute and its margin with %s, named after the request',
    async (_case, context, owner) => {
      // Prepare: a store recording the lease
      const store = new MemoryStateStore();
      const leases: Array<{ owner: string; length: number }> = [];
      const acquire = store.acquire.bind(store);
      store.acquire = (name: string, leaseUntil: number, now: number) => {
        leases.push({ owner: name, length: leaseUntil - now });
        return acquire(name, leaseUntil, now);
      };
      const handler = fakeHandler({ source: new FakeAlerts(), store, publisher: new CapturePublisher() });

      // Act
      const report = await handler({}, context);

      // Assess: the owner says which invocation holds the state, when there is one to name
      expect(report.status).toBe('caught_up');
      expect(leases).toEqual([{ owner: expect.stringMatching(owner), length: expect.any(Number) }]);
      expect(leases[0]?.length).toBeLessThanOrEqual(60_000 + LEASE_MARGIN_MS);
      expect(leases[0]?.length).toBeGreaterThan(50_000 + LEASE_MARGIN_MS);
    },
  );

  it('fails a run whose lease another run took, after counting and logging it as a failed run', async () => {
    // Prepare: after the second batch another run holds the state, as if this one had stalled past its lease
    silentLogger.clear();
    const tanium = new FakeAlerts();
    tanium.addSteady(60, 1000, T0 - 120_000);
    const store = new MemoryStateStore();
    const publisher = new CapturePublisher();
    publisher.afterPublish = (call) => {
      if (call === 2) store.leaseOwner = 'someone-else';
    };
    const recorded: RunReport[] = [];
    const handler = fakeHandler({ source: tanium, store, publisher }, recorded);

    // Act
    const error = await taniumFailure(handler({}, lambdaContext({ remainingMs: 60_000 })));

    // Assess: Lambda's Errors (the failure alarm) sees it, RunsFailed counts it, the runbook's line is there
    expect(error.message).toBe('Another poller run took over the state');
    expect(recorded).toEqual([
      expect.objectContaining({
        status: 'lease_lost',
        stoppedBy: 'error',
        published: 20,
        error: { kind: 'transient', message: 'Another poller run took over the state' },
      }),
    ]);
    expect(recorded[0]?.lagMs).toBeUndefined();
    expect(silentLogger.errors).toEqual([
      'Another poller run took over the state; stopping without saving',
      'Alert poller run failed',
    ]);
    expect(silentLogger.errorFields[1]).toMatchObject({ status: 'lease_lost', error: { kind: 'transient' } });
  });
});

describe('Alert poller handler: reporting a run', () => {
  it("logs a finished run's report as the line the runbook reads", async () => {
    // Prepare
    const tanium = new FakeAlerts();
    tanium.addSteady(3, 1000, T0 - 60_000);
    const infos: Array<[string, Record<string, unknown> | undefined]> = [];
    const logger = {
      ...silentLogger,
      info: (message: string, extra?: Record<string, unknown>) => infos.push([message, extra]),
    };
    const handler = fakeHandler({
      source: tanium,
      store: new MemoryStateStore(),
      publisher: new CapturePublisher(),
      logger,
    });

    // Act
    const report = await handler({}, lambdaContext());

    // Assess
    expect(infos).toContainEqual(['Alert poller run finished', report]);
    expect(report).toMatchObject({ status: 'caught_up', published: 3 });
  });

  it("measures a run's lag on the clock it is given, the one alert ages are read on", async () => {
    // Prepare: more alerts than ten requests of ten read; the clock says T0
    const tanium = new FakeAlerts();
    tanium.addSteady(300, 1000, T0 - 60_000);
    const recorded: RunReport[] = [];
    const handler = fakeHandler(
      {
        env: {
          STATE_TABLE: 'state',
          EVENT_BUS_NAME: 'bus',
          POLLER_FIRST_RUN_HOURS: '1',
          POLLER_PAGE_SIZE: '10',
          POLLER_MAX_REQUESTS_PER_RUN: '10',
        },
        source: tanium,
        store: new MemoryStateStore(),
        publisher: new CapturePublisher(),
      },
      recorded,
    );

    // Act
    const report = await handler({}, lambdaContext());

    // Assess: behind by minutes of alerts, not by the years between T0 and the machine's clock
    expect(report).toMatchObject({ status: 'partial', stoppedBy: 'request_limit' });
    expect(report.lagMs).toBeGreaterThan(60_000);
    expect(report.lagMs).toBeLessThan(HOUR_MS);
    expect(recorded).toEqual([report]);
  });
});

describe('Alert poller handler: its default logger', () => {
  /** A run on fakes logging through the default logger; the JSON lines it writes and its report. */
  async function loggedRun(env: Record<string, string>) {
    const tanium = new FakeAlerts();
    tanium.addSteady(3, 1000, T0 - 60_000);
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '1', ...env },
      source: tanium,
      store: new MemoryStateStore(),
      publisher: new CapturePublisher(),
      metrics: { record: () => undefined },
      now: () => T0,
    });
    return jsonLinesWrittenWhile(() => handler({}, lambdaContext({ awsRequestId: 'request-7' })));
  }

  it("names its lines after the trimmed service name and the invocation's request id", async () => {
    // Act: the service name as a hand edit in the console may leave it
    const lines = await loggedRun({ POWERTOOLS_SERVICE_NAME: ` ${POLLER_FUNCTION} ` });

    // Assess: the service the metrics' dimension names, and the request the Lambda's own lines name
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: 'Alert poller run finished',
        service: POLLER_FUNCTION,
        function_request_id: 'request-7',
      }),
    );
  });

  it('logs at the level its environment sets', async () => {
    // Act
    const lines = await loggedRun({ POWERTOOLS_LOG_LEVEL: 'ERROR' });

    // Assess
    expect(lines).toEqual([]);
  });
});

describe('Alert poller handler: the clients it is given', () => {
  it('publishes through the EventBridge client it is given, not one of its own', async () => {
    // Prepare: the given client answers; any other would reach the unanswering class-wide mock
    const tanium = new FakeAlerts();
    tanium.addSteady(3, 1000, T0 - 60_000);
    const client = new EventBridgeClient({ region: 'us-east-1' });
    const given = mockClient(client);
    given.on(PutEventsCommand).callsFake(acceptAll);
    const handler = fakeHandler({ source: tanium, store: new MemoryStateStore(), eventBridgeClient: client });

    // Act
    const report = await handler({}, lambdaContext());

    // Assess
    expect(report).toMatchObject({ status: 'caught_up', published: 3 });
    expect(given.commandCalls(PutEventsCommand)).toHaveLength(1);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('keeps its state through the DynamoDB client it is given, in the item of its table and poller', async () => {
    // Prepare: the class-wide mock answers every client's state calls and records which client sent each
    // (a document client shares the configuration of the client it wraps)
    const tanium = new FakeAlerts();
    tanium.addSteady(3, 1000, T0 - 60_000);
    documents
      .on(UpdateCommand)
      .callsFake((input: UpdateCommandInput) =>
        input.ReturnValues === 'ALL_NEW'
          ? { Attributes: { id: 'poller#edr', version: 0, unsavedSince: T0 } }
          : {},
      );
    const client = new DynamoDBClient({ region: 'us-east-1' });
    const handler = fakeHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_FIRST_RUN_HOURS: '1', POLLER_NAME: 'edr' },
      source: tanium,
      publisher: new CapturePublisher(),
      dynamoDBClient: client,
    });

    // Act
    const report = await handler({}, lambdaContext());

    // Assess: the lease, the saves and the release, each through the given client
    expect(report).toMatchObject({ status: 'caught_up', published: 3 });
    const calls = documents.commandCalls(UpdateCommand);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.map((call) => [call.args[0].input.TableName, call.args[0].input.Key])).toEqual(
      calls.map(() => ['state', { id: 'poller#edr' }]),
    );
    expect(calls.every((call) => call.thisValue.config === client.config)).toBe(true);
  });
});

describe('Alert poller handler: a configuration that cannot be used', () => {
  it('counts and logs a run that a bad setting stops before it starts, then fails it', async () => {
    // Prepare: a page size changed by hand in the Lambda console
    silentLogger.clear();
    const recorded: RunReport[] = [];
    const publisher = new CapturePublisher();
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_PAGE_SIZE: 'lots' },
      source: new FakeAlerts(),
      store: new MemoryStateStore(),
      publisher,
      logger: silentLogger,
      metrics: { record: (report) => recorded.push(report) },
    });

    // Act
    const error = await failure(handler({}, lambdaContext({ remainingMs: 60_000 })));

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('POLLER_PAGE_SIZE');
    expect(recorded).toEqual([
      expect.objectContaining({
        status: 'failed',
        stoppedBy: 'error',
        error: { kind: 'config', message: error.message },
      }),
    ]);
    expect(silentLogger.errors).toEqual(['Alert poller run failed']);
    expect(silentLogger.errorFields[0]).toMatchObject({ error: { kind: 'config', message: error.message } });
    expect(publisher.calls).toBe(0);
  });

  it("writes the failure as a JSON log line and RunsFailed under the alarms' dimensions, with the default logger and metrics", async () => {
    // Prepare: the variables the stack sets, and a bad one
    const handler = createPollerHandler({
      env: {
        STATE_TABLE: 'state',
        EVENT_BUS_NAME: 'bus',
        POLLER_NAME: POLLER_NAME,
        POWERTOOLS_SERVICE_NAME: POLLER_FUNCTION,
        POWERTOOLS_METRICS_NAMESPACE: 'TaniumThreatResponse/dev',
        POLLER_PAGE_SIZE: '5',
      },
    });
    let error: unknown;

    // Act
    const lines = await jsonLinesWrittenWhile(() =>
      handler({}, lambdaContext({ remainingMs: 60_000 })).catch((thrown: unknown) => {
        error = thrown;
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'Alert poller run failed',
        service: POLLER_FUNCTION,
        error: { kind: 'config', message: expect.stringContaining('POLLER_PAGE_SIZE') },
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ service: POLLER_FUNCTION, poller: POLLER_NAME, RunsFailed: 1 }),
    );
  });

  it('still logs the failure when the variables naming the metrics are bad too, counting nothing', async () => {
    // Prepare
    silentLogger.clear();
    const handler = createPollerHandler({
      env: { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus', POLLER_NAME: 'no spaces allowed' },
      logger: silentLogger,
    });
    let error: unknown;

    // Act
    const lines = await jsonLinesWrittenWhile(() =>
      handler({}, lambdaContext({ remainingMs: 60_000 })).catch((thrown: unknown) => {
        error = thrown;
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect(silentLogger.errors).toEqual(['Alert poller run failed']);
    expect(silentLogger.errorFields[0]).toMatchObject({
      error: { kind: 'config', message: expect.stringContaining('POLLER_NAME') },
    });
    expect(lines).toEqual([]);
  });
});

describe('Alert poller handler: the run ends itself', () => {
  it.each([
    ['10 s', 60_000, 10, 0, { stopAt: 50_000, publishUntil: 55_000, storeUntil: 59_000 }],
    ['1 s, the smallest', 60_000, 1, 0, { stopAt: 59_000, publishUntil: 59_500, storeUntil: 59_750 }],
    [
      '10 s under a 20 s run cap',
      60_000,
      10,
      20,
      { stopAt: 20_000, publishUntil: 25_000, storeUntil: 29_000 },
    ],
    ['10 s, more than the time left', 8_000, 10, 0, { stopAt: 0, publishUntil: 3_000, storeUntil: 7_000 }],
  ])(
    'cuts publishing halfway through a reserve of %s and the state calls just before the end',
    (_case, remainingMs, reserveSeconds, maxRunSeconds, expected) => {
      // Prepare
      const started = 1_000_000;

      // Act
      const limits = runLimits(started, remainingMs, { reserveSeconds, maxRunSeconds });

      // Assess
      expect(limits).toEqual({
        stopAt: started + expected.stopAt,
        publishUntil: started + expected.publishUntil,
        storeUntil: started + expected.storeUntil,
      });
    },
  );

  it.each([
    [10, 15_000],
    [1, 19_500],
  ])(
    'with a reserve of %i s, cuts a PutEvents call that does not answer at %i ms, saves what went out, and the next run sends the rest',
    async (reserveSeconds, cutAtMs) => {
      // Prepare: 15 alerts, two PutEvents calls; the bus takes the first and never answers the second.
      // The clock is faked, so the cut is seen exactly at the publish limit.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      silentLogger.clear();
      const tanium = new FakeAlerts();
      tanium.addSteady(15, 1000, T0 - 60_000);
      const store = new MemoryStateStore();
      const recorded: RunReport[] = [];
      let stalling: () => void = () => undefined;
      const stalled = new Promise<void>((resolve) => (stalling = resolve));
      eventBridge
        .on(PutEventsCommand)
        .callsFakeOnce(acceptAll)
        .callsFake(() => {
          stalling();
          return new Promise(() => undefined);
        });
      const handler = createPollerHandler({
        env: {
          STATE_TABLE: 'state',
          EVENT_BUS_NAME: 'bus',
          POLLER_FIRST_RUN_HOURS: '1',
          POLLER_RESERVE_SECONDS: String(reserveSeconds),
        },
        source: tanium,
        store,
        eventBridgeClient: new EventBridgeClient({ region: 'us-east-1' }),
        logger: silentLogger,
        metrics: { record: (report) => recorded.push(report) },
        now: () => T0,
      });

      // Act
      const run = watch(handler({}, lambdaContext({ remainingMs: 20_000 })));
      await stalled;
      await vi.advanceTimersByTimeAsync(cutAtMs - 1);
      const settledEarly = run.state.settled;
      await vi.advanceTimersByTimeAsync(1);
      const error = await taniumFailure(run.outcome);
      const leaseAfterRun = store.leaseUntil;
      eventBridge.on(PutEventsCommand).callsFake(acceptAll);
      const next = await handler({}, lambdaContext({ remainingMs: 20_000 }));

      // Assess: not cut before the publish limit; cut then, SDK call included, and the run failed loudly
      expect(settledEarly).toBe(false);
      const [accepted, cut, resent] = eventBridge.commandCalls(PutEventsCommand);
      const signal = ((cut?.args as unknown[] | undefined)?.[1] as { abortSignal?: AbortSignal } | undefined)
        ?.abortSignal;
      expect(signal?.aborted).toBe(true);
      expect(error.kind).toBe('transient');
      expect(error.message).toBe(
        `PutEvents to bus 'bus' stopped with 5 of 5 alert events not confirmed after 1 attempt: the run's time for publishing ran out (halfway through POLLER_RESERVE_SECONDS, ${reserveSeconds} s, the rest being kept to save the state)`,
      );
      expect(recorded[0]).toMatchObject({ status: 'failed', published: 10, putEventsCalls: 2 });
      expect(silentLogger.errors).toEqual(['Alert poller run failed']);
      // The lease was released, so the next run was not skipped; it sends again only what was cut
      expect(leaseAfterRun).toBe(0);
      expect(next).toMatchObject({ status: 'caught_up', published: 5 });
      expect(sentIds(resent)).toEqual(sentIds(cut));
      expect(sorted([...sentIds(accepted), ...sentIds(resent)])).toEqual(
        sorted(tanium.alerts.map((a) => a.id)),
      );
      expect(duplicates([...sentIds(accepted), ...sentIds(resent)])).toEqual([]);
    },
  );

  it.each(['acquire', 'save'] as const)(
    'cuts a state %s that does not answer just before the end, and fails the run with its log line and metric',
    async (call) => {
      // Prepare: DynamoDB never answers that call, whatever the signal says (runWithStoreCallHanging)

      // Act
      const { outcome, settledEarly, recorded } = await runWithStoreCallHanging(call);
      const error = await taniumFailure(outcome);

      // Assess
      const reason =
        "the run was about to time out (the poller's state calls stop just before its end, so that it is still reported)";
      expect(settledEarly).toBe(false);
      expect(error).toMatchObject({ kind: 'transient', message: reason });
      expect(recorded).toEqual([
        expect.objectContaining({
          status: 'failed',
          stoppedBy: 'error',
          error: { kind: 'transient', message: reason },
        }),
      ]);
      expect(silentLogger.errors).toEqual(['Alert poller run failed']);
    },
  );

  it('leaves the floor out of the failure of a run that never read its state, rather than 1970', async () => {
    // Act: the lease is never taken (runWithStoreCallHanging)
    const { outcome, recorded } = await runWithStoreCallHanging('acquire');
    await outcome.catch(() => undefined);

    // Assess: the report and the runbook's log line have no floor to give
    expect(recorded[0]).not.toHaveProperty('floor');
    expect(silentLogger.errorFields[0]).not.toHaveProperty('floor');
  });

  it('names the floor a first run set in the failure of its save', async () => {
    // Act: the first run's save never answers (runWithStoreCallHanging): its window is the hour before T0
    const { outcome, recorded } = await runWithStoreCallHanging('save');
    await outcome.catch(() => undefined);

    // Assess
    expect(recorded[0]?.floor).toBe(new Date(T0 - HOUR_MS).toISOString());
    expect(silentLogger.errorFields[0]?.floor).toBe(new Date(T0 - HOUR_MS).toISOString());
  });

  it.each(['acquire', 'save', 'release'] as const)(
    'hands the state %s its signal, so that the cut cancels the DynamoDB call and not only the wait for it',
    async (call) => {
      // Prepare: DynamoDB never answers that call (runWithStoreCallHanging)

      // Act
      const { outcome, hungWith } = await runWithStoreCallHanging(call);
      await outcome.catch(() => undefined);

      // Assess: the call in flight got the signal the cut aborted; a request left running could land after
      // the run was reported
      const signal = hungWith();
      expect(signal).toBeInstanceOf(AbortSignal);
      expect((signal as AbortSignal).aborted).toBe(true);
    },
  );

  it('leaves no timer of its limits behind once a run has ended', async () => {
    // Prepare: a run on a faked clock, its limits minutes away
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const tanium = new FakeAlerts();
    tanium.addSteady(3, 1000, T0 - 60_000);
    const handler = fakeHandler({
      source: tanium,
      store: new MemoryStateStore(),
      publisher: new CapturePublisher(),
    });

    // Act
    const report = await handler({}, lambdaContext({ remainingMs: 600_000 }));

    // Assess: the publishing and state cut-offs are cleared, so neither fires later in a warm container
    expect(report).toMatchObject({ status: 'caught_up', published: 3 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cuts a lease release that does not answer just before the end, and reports the run as it went', async () => {
    // Prepare: DynamoDB never answers the release (runWithStoreCallHanging)

    // Act
    const { outcome, settledEarly, recorded, publisher } = await runWithStoreCallHanging('release');
    const report = await outcome;

    // Assess: the alerts went out and were saved; only the release is given up, with a warning
    expect(settledEarly).toBe(false);
    expect(report).toMatchObject({ status: 'caught_up', published: 5 });
    expect(recorded).toEqual([report]);
    expect(publisher.ids).toHaveLength(5);
    expect(silentLogger.warnings).toEqual(['Could not release the poller lease; it expires on its own']);
    expect(silentLogger.warnFields).toEqual([{ error: expect.stringContaining('about to time out') }]);
  });
});
