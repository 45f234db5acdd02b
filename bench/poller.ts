/**
 * Alert poller: draining a backlog, and the steady state.
 *
 * The Tanium emulator (in this process, HTTPS, manual clock) holds a backlog of `--backlog` alerts one
 * second apart (default 100,000, about 28 hours). The poller's Lambda handler runs again and again, as
 * the scheduler would, with the default settings (page 200, 100 requests per run) and a first-run window
 * that covers the whole backlog, until it reports it is caught up; then `--steady` more runs with no new
 * alerts. DynamoDB and EventBridge are moto's (`--aws memory` uses in-memory stand-ins instead, to see
 * the poller's own cost). Every published id is recorded to count duplicates and missing alerts.
 *
 *   node --import tsx bench/poller.ts [--backlog N] [--steady N] [--aws moto|memory]
 *                                     [--page-size N] [--max-requests N]
 *
 * Ends with one JSON line: {"bench":"poller","backlog_alerts":...,"tanium_requests":...,
 * "putevents_calls":...,"runs":...,"steady_requests_per_run":...,"duplicates":...,"missing":...,...}.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { MemoryStateStore } from '../shared/alerts/memory-store.ts';
import { createPollerHandler } from '../shared/alerts/poller-handler.ts';
import { EventBridgePublisher } from '../shared/alerts/publisher.ts';
import type { AlertEntry, AlertPublisher, PublishOutcome, RunReport } from '../shared/alerts/types.ts';
import { parseCredentials } from '../shared/config/credentials.ts';
import { closeAgents } from '../shared/tanium/agent.ts';
import { TR } from '../shared/tanium/routes.ts';
import { startEmulator } from '../test/emulator/index.ts';
import { type MotoServer, motoAvailable, startMoto } from '../test/helpers/moto.ts';
import { flag, numberFlag } from './support/args.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BACKLOG = numberFlag('backlog', 100_000);
const STEADY_RUNS = numberFlag('steady', 5);
const AWS = flag('aws', 'moto');
const PAGE_SIZE = flag('page-size', '200');
const MAX_REQUESTS = flag('max-requests', '100');
/** What a Lambda run is given (the stack's timeout for the poller). */
const RUN_MS = 300_000;
const MAX_RUNS = 1000;

/** Publishes for real and remembers the ids, to count duplicates and missing alerts at the end. */
class CountingPublisher implements AlertPublisher {
  readonly ids: number[] = [];
  constructor(private readonly inner: AlertPublisher) {}
  async publish(entries: AlertEntry[], signal?: AbortSignal): Promise<PublishOutcome> {
    const outcome = await this.inner.publish(entries, signal);
    for (const entry of entries) this.ids.push((JSON.parse(entry.Detail) as { id: number }).id);
    return outcome;
  }
}

const memoryEventBridge: AlertPublisher = { publish: async () => ({ calls: 1, refused: [] }) };

function context(run: number): Partial<Context> {
  const end = Date.now() + RUN_MS;
  return { awsRequestId: `bench-run-${run}`, getRemainingTimeInMillis: () => end - Date.now() };
}

async function main(): Promise<void> {
  const emulator = await startEmulator({ tls: true, clock: 'manual', seed: false });
  let moto: MotoServer | undefined;
  const useMoto = AWS === 'moto' && motoAvailable();
  if (AWS === 'moto' && !useMoto)
    console.error('moto is not available; using in-memory DynamoDB and EventBridge');
  let dynamo: DynamoDBClient | undefined;
  let eventBridge: EventBridgeClient | undefined;
  try {
    let inner: AlertPublisher = memoryEventBridge;
    if (useMoto) {
      moto = await startMoto();
      moto.applyEnv();
      dynamo = new DynamoDBClient({});
      eventBridge = new EventBridgeClient({});
      await dynamo.send(
        new CreateTableCommand({
          TableName: 'state',
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await eventBridge.send(new CreateEventBusCommand({ Name: 'bus' }));
      inner = new EventBridgePublisher(eventBridge, 'bus');
    }
    const publisher = new CountingPublisher(inner);
    const backlogHours = Math.ceil(BACKLOG / 3600) + 1;
    emulator.state.alerts.addBacklog(BACKLOG, 1000);
    const expected = new Set(emulator.state.alerts.all().map((alert) => alert.id));
    const { apiToken } = emulator.credentials;
    const credentials = parseCredentials(
      { base_url: emulator.url, api_token: apiToken, ca_bundle: emulator.ca, timeout_seconds: 30 },
      'bench',
    );
    const handler = createPollerHandler({
      env: {
        STATE_TABLE: 'state',
        EVENT_BUS_NAME: 'bus',
        POLLER_FIRST_RUN_HOURS: String(backlogHours),
        POLLER_PAGE_SIZE: PAGE_SIZE,
        POLLER_MAX_REQUESTS_PER_RUN: MAX_REQUESTS,
      },
      credentials: async () => credentials,
      publisher,
      ...(useMoto ? { dynamoDBClient: dynamo! } : { store: new MemoryStateStore() }),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      metrics: { record() {} },
      now: () => emulator.clock.now(),
    });

    emulator.clearRequests();
    const started = performance.now();
    const reports: RunReport[] = [];
    for (let run = 1; run <= MAX_RUNS; run++) {
      const report = await handler({}, context(run));
      reports.push(report);
      console.error(
        `run ${run}: ${report.status}${report.stoppedBy ? ` (${report.stoppedBy})` : ''}, published ${report.published}, tanium requests ${report.taniumRequests}, putevents ${report.putEventsCalls}`,
      );
      if (report.status === 'caught_up') break;
      // The scheduler's next minute.
      emulator.clock.advance(60_000);
    }
    const drainMs = performance.now() - started;
    const drainRequests = emulator.requestCount({ path: `${TR}/alerts` });

    emulator.clearRequests();
    const steady: RunReport[] = [];
    for (let run = 0; run < STEADY_RUNS; run++) {
      emulator.clock.advance(60_000);
      steady.push(await handler({}, context(reports.length + run + 1)));
    }
    const steadyRequests = emulator.requestCount({ path: `${TR}/alerts` });

    const seen = new Set<number>();
    let duplicates = 0;
    for (const id of publisher.ids) {
      if (seen.has(id)) duplicates++;
      seen.add(id);
    }
    let missing = 0;
    for (const id of expected) if (!seen.has(id)) missing++;
    const result = {
      bench: 'poller',
      backlog_alerts: BACKLOG,
      tanium_requests: drainRequests,
      putevents_calls: reports.reduce((sum, r) => sum + r.putEventsCalls, 0),
      runs: reports.length,
      steady_requests_per_run: STEADY_RUNS > 0 ? steadyRequests / STEADY_RUNS : null,
      duplicates,
      missing,
      caught_up: reports.at(-1)?.status === 'caught_up',
      drain_wall_ms: Math.round(drainMs),
      max_requests_per_run: Math.max(...reports.map((r) => r.taniumRequests)),
      runs_hit_time_limit: reports.filter((r) => r.stoppedBy === 'time_limit').length,
      page_size: Number(PAGE_SIZE),
      aws: useMoto ? 'moto' : 'memory',
      steady_published: steady.reduce((sum, r) => sum + r.published, 0),
    };
    console.log(JSON.stringify(result));
    if (duplicates > 0 || missing > 0 || !result.caught_up) process.exitCode = 1;
  } finally {
    await emulator.close();
    await closeAgents();
    dynamo?.destroy();
    eventBridge?.destroy();
    await moto?.stop();
  }
}

await main();
