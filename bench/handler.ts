/**
 * Handler overhead and container start.
 *
 * 1. Overhead: N `list connections` requests as SQS records through the connections family handler
 *    (envelope, routing, validation, the action, the Powertools logger and metrics, publishing to an
 *    EventBridge client stubbed in-process with aws-sdk-client-mock) next to N raw undici GETs of the same
 *    Tanium route (`GET .../conns`, token auth, JSON parsed) against the same emulator, same run, same
 *    concurrency. Each handler invocation is one SQS batch of `--concurrency` records, which the handler
 *    runs concurrently (as Lambda hands a batch to one function); the raw side sends the same bursts of
 *    `--concurrency` requests, so both sides have the same requests in flight and the ratio is the
 *    handler's own cost. Raw undici with that many requests kept in flight continuously is printed too, for
 *    reference, and so is the same handler without its logger, metrics and publishing (a silent logger,
 *    no metrics, a sink that keeps the result unserialised): what the rest of a record's path costs, which
 *    bounds what any saving in those three parts could bring. Alternating rounds; the ratio is the median
 *    of per-round ratios. Target: >= 0.8.
 * 2. Container start: every function bundled with the stack's esbuild settings (`infra/bundling.ts`);
 *    bundle size (kB = 1000 bytes, the unit of the 1.2 MB limit) and the time to import it in a fresh Node
 *    process with the NODE_OPTIONS the prod environment gives the functions (median of `--imports` runs).
 *    Targets: every bundle under 1,200 kB and 200 ms. For reference, the largest bundle is imported with
 *    source maps on as well (`sourceMaps: true`, the dev environment's setting).
 *
 *   node --import tsx bench/handler.ts [--requests N] [--concurrency C] [--rounds R] [--imports K]
 *
 * Ends with one JSON line: {"bench":"handler","handler_vs_raw_undici":...,"max_bundle_kb":...,
 * "max_import_ms":...,"bundles":{"<function>":{"kb":...,"import_ms":...}}}.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { build } from 'esbuild';
import { esbuildBuildOptions, functionNodeOptions, MAX_BUNDLE_BYTES } from '../infra/bundling.ts';
import { resolveEnvironment } from '../infra/environments.ts';
import { parseCredentials } from '../shared/config/credentials.ts';
import { createFamilyHandler } from '../shared/events/family-handler.ts';
import { NO_METRICS } from '../shared/events/metrics.ts';
import type { ResultDetail } from '../shared/events/result.ts';
import { closeAgents } from '../shared/tanium/agent.ts';
import { TR } from '../shared/tanium/routes.ts';
import { lambdaContext, sqsRecord } from '../test/helpers/lambda.ts';
import { median, numberFlag } from './support/args.ts';
import { startEmulatorProcess } from './support/emulator-process.ts';
import { rawUndiciGet } from './support/raw-undici.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const REQUESTS = numberFlag('requests', 3000);
const CONCURRENCY = numberFlag('concurrency', 10);
const ROUNDS = numberFlag('rounds', 7);
const IMPORTS = numberFlag('imports', 7);
const PATH = `${TR}/conns`;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAX_IMPORT_MS = 200;

// --- 1. handler overhead ---------------------------------------------------------------------------

async function handlerOverhead(): Promise<{
  ratio: number;
  handlerRps: number;
  rawRps: number;
  bareRps: number;
  note: string;
}> {
  const emulator = await startEmulatorProcess();
  const eventBridge = mockClient(EventBridgeClient);
  // A request that fails for good is a published failed result, not a batch item failure: each round's
  // results are checked once its clock has stopped, so a wrong token or a broken route never passes for
  // a rate.
  let published: Array<{ Detail?: string }> = [];
  eventBridge.on(PutEventsCommand).callsFake((input: { Entries?: Array<{ Detail?: string }> }) => {
    published.push(...(input.Entries ?? []));
    return {
      FailedEntryCount: 0,
      Entries: (input.Entries ?? []).map(() => ({ EventId: 'bench' })),
    };
  });
  const credentials = parseCredentials(
    { base_url: emulator.url, api_token: emulator.credentials.apiToken, ca_bundle: emulator.ca },
    'bench',
  );
  process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'Bench';
  const handler = createFamilyHandler('connections', {
    env: { EVENT_BUS_NAME: 'bench-bus', MAX_RECEIVE_COUNT: '3', POWERTOOLS_METRICS_NAMESPACE: 'Bench' },
    credentials: async () => credentials,
    // As deployed: the client behind the re-read of refused credentials (TaniumClientCache).
    freshCredentials: async () => credentials,
    eventBridgeClient: new EventBridgeClient({ region: 'us-east-1' }),
  });
  // Reference only: the same handler with nothing logged, measured or published.
  let kept: ResultDetail[] = [];
  const bareHandler = createFamilyHandler('connections', {
    env: { EVENT_BUS_NAME: 'bench-bus', MAX_RECEIVE_COUNT: '3' },
    credentials: async () => credentials,
    freshCredentials: async () => credentials,
    logger: { debug() {}, info() {}, warn() {}, error() {}, debugEnabled: () => false },
    metrics: NO_METRICS,
    sink: {
      publish: async (detail) => {
        kept.push(detail);
        return detail;
      },
    },
  });
  const raw = rawUndiciGet(emulator, PATH);
  let sequence = 0;
  const record = (): SQSRecord => {
    sequence += 1;
    const id = `bench-${sequence}`;
    return sqsRecord({ action: 'list connections', parameters: {}, requestId: id }, { messageId: id });
  };
  // Far from its end, so that no round runs into the invocation deadline.
  const context = lambdaContext({ remainingMs: 3_600_000, functionName: 'bench-connections' });

  // Lambda hands the function its event ready-made: a round's batches are built before the clock.
  const batches = () => {
    const events: Array<{ Records: SQSRecord[] }> = [];
    for (let left = REQUESTS; left > 0; left -= CONCURRENCY) {
      events.push({ Records: Array.from({ length: Math.min(CONCURRENCY, left) }, record) });
    }
    return events;
  };
  const timed = async (run: typeof handler, events: Array<{ Records: SQSRecord[] }>) => {
    const started = performance.now();
    for (const event of events) {
      const response = (await run(event, context)) as SQSBatchResponse;
      if (response.batchItemFailures.length > 0) throw new Error('a bench record failed');
    }
    return REQUESTS / ((performance.now() - started) / 1000);
  };
  const viaHandler = async () => {
    const rate = await timed(handler, batches());
    const failed = published.filter(
      (entry) => (JSON.parse(entry.Detail ?? '{}') as { status?: string }).status !== 'success',
    );
    if (published.length !== REQUESTS || failed.length > 0) {
      throw new Error(
        `of ${REQUESTS} bench requests, ${published.length} published a result, ${failed.length} failed: ${failed[0]?.Detail ?? ''}`,
      );
    }
    published = [];
    // sinon, under aws-sdk-client-mock, keeps every call's arguments and a captured stack: a heap that
    // would grow across the rounds. A round's calls (one per batch) are dropped once it is timed.
    eventBridge.resetHistory();
    return rate;
  };
  const viaBareHandler = async () => {
    const rate = await timed(bareHandler, batches());
    const failed = kept.filter((detail) => detail.status !== 'success');
    if (kept.length !== REQUESTS || failed.length > 0) {
      throw new Error(
        `of ${REQUESTS} bare handler requests, ${kept.length} kept a result, ${failed.length} failed: ${failed[0]?.message ?? ''}`,
      );
    }
    kept = [];
    return rate;
  };
  const rawGet = raw.get;
  // The same shape as the handler side: bursts of CONCURRENCY requests, each burst awaited as a whole.
  const viaRaw = async () => {
    let left = REQUESTS;
    const started = performance.now();
    while (left > 0) {
      const size = Math.min(CONCURRENCY, left);
      left -= size;
      await Promise.all(Array.from({ length: size }, rawGet));
    }
    return REQUESTS / ((performance.now() - started) / 1000);
  };
  // For reference only: CONCURRENCY requests kept in flight without bursts.
  const viaRawContinuous = async () => {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < REQUESTS) await rawGet();
      }),
    );
    return REQUESTS / ((performance.now() - started) / 1000);
  };

  // Lambda's stdout goes to CloudWatch; here the log and EMF lines are formatted as in Lambda and dropped.
  const write = process.stdout.write.bind(process.stdout);
  const mute = () => {
    process.stdout.write = (() => true) as typeof process.stdout.write;
  };
  const unmute = () => {
    process.stdout.write = write;
  };
  const handlerRates: number[] = [];
  const rawRates: number[] = [];
  const ratios: number[] = [];
  const continuousRates: number[] = [];
  const bareRates: number[] = [];
  try {
    mute();
    await viaHandler();
    await viaRaw();
    await viaBareHandler();
    for (let round = 0; round < ROUNDS; round++) {
      const handlerFirst = round % 2 === 0;
      // The reference side takes turns too: first in one round, last in the next.
      if (!handlerFirst) bareRates.push(await viaBareHandler());
      const a = await (handlerFirst ? viaHandler : viaRaw)();
      const b = await (handlerFirst ? viaRaw : viaHandler)();
      const [h, r] = handlerFirst ? [a, b] : [b, a];
      handlerRates.push(h);
      rawRates.push(r);
      ratios.push(h / r);
      continuousRates.push(await viaRawContinuous());
      if (handlerFirst) bareRates.push(await viaBareHandler());
    }
  } finally {
    unmute();
    await raw.close();
    await closeAgents();
    eventBridge.restore();
    await emulator.stop();
  }
  const note = `handler: ${handlerRates.map((r) => r.toFixed(0)).join(', ')} req/s; raw undici: ${rawRates
    .map((r) => r.toFixed(0))
    .join(', ')} req/s; raw undici without bursts (reference): ${continuousRates
    .map((r) => r.toFixed(0))
    .join(', ')} req/s; handler without logger, metrics and publishing (reference): ${bareRates
    .map((r) => r.toFixed(0))
    .join(
      ', ',
    )} req/s (${REQUESTS} requests x ${ROUNDS} rounds, concurrency ${CONCURRENCY}, HTTPS keep-alive, emulator in its own process)`;
  return {
    ratio: median(ratios),
    handlerRps: median(handlerRates),
    rawRps: median(rawRates),
    bareRps: median(bareRates),
    note,
  };
}

// --- 2. container start ----------------------------------------------------------------------------

interface BundleFigures {
  kb: number;
  import_ms: number;
}

/** What the deployed functions run with: the prod environment's NODE_OPTIONS. */
const PROD_NODE_OPTIONS = functionNodeOptions(resolveEnvironment('prod').sourceMaps);

function importMs(file: string, nodeOptions: { NODE_OPTIONS?: string } = PROD_NODE_OPTIONS): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const times: number[] = [];
  for (let run = 0; run < IMPORTS; run++) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'us-east-1',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...nodeOptions,
      },
    });
    if (child.status !== 0) throw new Error(`importing ${file} failed: ${child.stderr}`);
    const ms = Number(child.stdout);
    if (!Number.isFinite(ms))
      throw new Error(`importing ${file} printed more than its time: ${child.stdout}`);
    times.push(ms);
  }
  return median(times);
}

async function containerStart(): Promise<{
  bundles: Record<string, BundleFigures>;
  withSourceMaps: { name: string; import_ms: number };
}> {
  const functions = readdirSync(join(ROOT, 'functions'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const out = mkdtempSync(join(tmpdir(), 'bench-handler-bundles-'));
  const figures: Record<string, BundleFigures> = {};
  try {
    for (const name of functions) {
      const outfile = join(out, name, 'index.mjs');
      await build({
        ...esbuildBuildOptions(name, outfile),
        logLevel: 'error',
      });
      figures[name] = {
        kb: Number((statSync(outfile).size / 1000).toFixed(1)),
        import_ms: Number(importMs(outfile).toFixed(1)),
      };
    }
    const largest = functions.reduce((a, b) => (figures[b]!.kb > figures[a]!.kb ? b : a));
    const withSourceMaps = {
      name: largest,
      import_ms: Number(importMs(join(out, largest, 'index.mjs'), functionNodeOptions(true)).toFixed(1)),
    };
    return { bundles: figures, withSourceMaps };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const overhead = await handlerOverhead();
const { bundles, withSourceMaps } = await containerStart();
const maxKb = Math.max(...Object.values(bundles).map((b) => b.kb));
const maxImport = Math.max(...Object.values(bundles).map((b) => b.import_ms));

console.error(overhead.note);
console.error(
  `handler ${overhead.handlerRps.toFixed(0)} req/s vs raw undici ${overhead.rawRps.toFixed(0)} req/s: ratio ${overhead.ratio.toFixed(3)} (target >= 0.8)`,
);
console.error(
  `  without logger, metrics and publishing (reference): ${overhead.bareRps.toFixed(0)} req/s, ${(overhead.bareRps / overhead.rawRps).toFixed(3)} of raw undici's median`,
);
for (const [name, b] of Object.entries(bundles)) {
  console.error(
    `  ${name.padEnd(14)} ${String(b.kb).padStart(7)} kB  import ${String(b.import_ms).padStart(6)} ms (median of ${IMPORTS})`,
  );
}
console.error(
  `largest bundle ${maxKb} kB (limit ${MAX_BUNDLE_BYTES / 1000} kB), slowest import ${maxImport} ms (target < ${MAX_IMPORT_MS} ms)`,
);
console.error(
  `  with source maps on (sourceMaps: true, as in dev), ${withSourceMaps.name} imports in ${withSourceMaps.import_ms} ms (median of ${IMPORTS}; reference only)`,
);
console.log(
  JSON.stringify({
    bench: 'handler',
    handler_vs_raw_undici: Number(overhead.ratio.toFixed(3)),
    handler_rps: Math.round(overhead.handlerRps),
    raw_undici_rps: Math.round(overhead.rawRps),
    bare_handler_rps: Math.round(overhead.bareRps),
    max_bundle_kb: maxKb,
    max_import_ms: maxImport,
    bundles,
  }),
);
