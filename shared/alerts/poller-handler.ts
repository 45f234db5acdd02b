import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { answerLimit, lambdaMemoryMiB } from '../config/answer-limit.ts';
import { awsClientConfig } from '../config/aws-client-config.ts';
import { credentialReads } from '../config/credential-source.ts';
import type { TaniumCredentials } from '../config/credentials.ts';
import type { Env } from '../config/environment.ts';
import { unlessAborted } from '../config/unless-aborted.ts';
import { clientLogger, createPowertoolsLogger } from '../events/logging.ts';
import { abortWindow, PUBLISH_MARGIN_MS } from '../events/time-budget.ts';
import type { TaniumApi } from '../tanium/client.ts';
import { TaniumClientCache } from '../tanium/client-cache.ts';
import { credentialsByDeadline } from '../tanium/credentials-by-deadline.ts';
import { ConfigError, TaniumError, toTaniumError } from '../tanium/errors.ts';
import { LEASE_MARGIN_MS, MAX_INVOCATION_MS } from './lease.ts';
import { type PollerMetrics, PowertoolsPollerMetrics } from './metrics.ts';
import { emptyRunReport, runPoller } from './poller.ts';
import { EventBridgePublisher } from './publisher.ts';
import {
  loadPollerConfig,
  MIN_RUN_SECONDS,
  POLLER_DEFAULTS,
  type PollerConfig,
  pollerMetricsTarget,
} from './settings.ts';
import { TaniumAlertSource } from './source.ts';
import { DynamoStateStore, stateKey } from './state-store.ts';
import type { AlertPublisher, AlertSource, PollerLogger, RunReport, StateStore } from './types.ts';

/** Everything the handler builds for itself; each piece can be replaced (tests, the benchmark, the CLI). */
export interface PollerHandlerOptions {
  /** Environment to read the configuration from (default `process.env`, read at the first invocation). */
  env?: Env;
  credentials?: () => Promise<TaniumCredentials>;
  /** The credentials past their cache (see TaniumClientCacheOptions); only used with `credentials`. */
  freshCredentials?: () => Promise<TaniumCredentials>;
  clientOptions?: { random?: () => number };
  /** Replaces Tanium altogether. */
  source?: AlertSource;
  store?: StateStore;
  publisher?: AlertPublisher;
  dynamoDBClient?: DynamoDBClient;
  eventBridgeClient?: EventBridgeClient;
  logger?: PollerLogger;
  metrics?: PollerMetrics;
  /** Wall-clock time for alert ages (first-run window, lag). */
  now?: () => number;
}

/** The scheduled event is ignored; the context gives the deadline and the lease owner. */
export type PollerHandler = (event: unknown, context?: Partial<Context>) => Promise<RunReport>;

/** Remaining time assumed outside Lambda (CLI, tests) when no context says otherwise. */
const DEFAULT_REMAINING_MS = 60_000;
/**
 * The share of the reserve a PutEvents call started before `stopAt` may still use; the rest is for
 * saving what the bus confirmed and releasing the lease. Half: a healthy call takes milliseconds, and
 * a save after a call cut at this point still has seconds at the default reserve.
 */
const PUBLISH_SHARE_OF_RESERVE = 0.5;

/** When a run's parts must stop (epoch ms, Date.now scale). */
export interface RunLimits {
  /** No Tanium read or new batch of alerts starts after this (a batch's retries may). */
  stopAt: number;
  /** PutEvents calls (and their retries) still running are cut here. */
  publishUntil: number;
  /** State store calls still running are cut here: a save cut fails the run. */
  storeUntil: number;
}

/**
 * A run's limits from the invocation's remaining time: `stopAt` keeps POLLER_RESERVE_SECONDS free (or
 * comes at POLLER_MAX_RUN_SECONDS), the run's end is `stopAt` plus that reserve (never past the
 * invocation's end), publishing stops halfway through the reserve and the state store's calls
 * PUBLISH_MARGIN_MS before the end (at most a quarter of the reserve), so the run still logs and counts
 * itself before Lambda stops it, as the family functions keep that margin to report their records.
 */
export function runLimits(
  started: number,
  remainingMs: number,
  settings: Pick<PollerConfig, 'reserveSeconds' | 'maxRunSeconds'>,
): RunLimits {
  const reserveMs = settings.reserveSeconds * 1000;
  let budget = remainingMs - reserveMs;
  if (settings.maxRunSeconds > 0) budget = Math.min(budget, settings.maxRunSeconds * 1000);
  const stopAt = started + Math.max(0, budget);
  const end = Math.min(started + remainingMs, stopAt + reserveMs);
  return {
    stopAt,
    publishUntil: Math.max(stopAt, end - reserveMs * (1 - PUBLISH_SHARE_OF_RESERVE)),
    storeUntil: end - Math.min(PUBLISH_MARGIN_MS, reserveMs / 4),
  };
}

/**
 * The alert poller's Lambda handler (functions/alert-poller). Configuration, AWS clients and the Tanium
 * client are built at the first invocation and reused; a rotated secret gets a new Tanium client. A
 * failed run (Tanium, PutEvents or DynamoDB) throws after saving what it published, so the Lambda's
 * error metric shows it; the next scheduled run carries on from the saved state. So does a run whose
 * configuration cannot be read or whose lease another run took, each logged and counted (RunsFailed)
 * like any failed run first. PutEvents and state calls that stop answering are cut before the
 * invocation ends (runLimits), so even then the run is logged and counted.
 */
export function createPollerHandler(options: PollerHandlerOptions = {}): PollerHandler {
  let config: PollerConfig | undefined;
  let logger: (PollerLogger & { addContext?(context: Context): void }) | undefined;
  let cachedStore: StateStore | undefined;
  let cachedPublisher: AlertPublisher | undefined;
  let metrics: PollerMetrics | undefined;
  let clients: TaniumClientCache | undefined;
  let cachedSource: { client: TaniumApi; source: AlertSource } | undefined;

  async function alertSource(settings: PollerConfig, log: PollerLogger): Promise<AlertSource> {
    if (options.source) return options.source;
    clients ??= new TaniumClientCache({
      ...credentialReads(options),
      logger: clientLogger(log),
      // One run at a time: a tenth of the memory, as a family function's lone request gets.
      clientOptions: {
        answerLimit: {
          ...answerLimit(lambdaMemoryMiB(options.env ?? process.env)),
          advice: 'Lower POLLER_PAGE_SIZE, or give the poller more memory',
        },
        ...options.clientOptions,
      },
    });
    const client = await clients.get();
    if (cachedSource?.client !== client) {
      cachedSource = { client, source: new TaniumAlertSource(client, settings.filterPairs) };
    }
    return cachedSource.source;
  }

  return async (_event, context) => {
    const started = Date.now();
    // The first try, on the alerts' clock, is when the invocation began: a first-run window counted from
    // after a slow credentials read (up to the run's budget) would start that much late.
    const startedAt = (options.now ?? Date.now)();
    // Never more than an invocation can have: a context outside Lambda (a local run, a bench) may give
    // more, and a run outliving its lease (MAX_LEASE_AHEAD_MS) could share the state with another.
    const remaining = Math.min(
      context?.getRemainingTimeInMillis?.() ?? DEFAULT_REMAINING_MS,
      MAX_INVOCATION_MS,
    );
    if (!logger) {
      const serviceName =
        (options.env ?? process.env).POWERTOOLS_SERVICE_NAME?.trim() || POLLER_DEFAULTS.serviceName;
      logger = options.logger ?? createPowertoolsLogger(serviceName, options.env ?? process.env);
    }
    if (context?.awsRequestId && logger.addContext) logger.addContext(context as Context);
    const log = logger;

    /** A failed run's count and log line (what the runbook searches for), then its error for Lambda's. */
    const failed = (report: RunReport, thrown: unknown): never => {
      metrics?.record(report);
      log.error('Alert poller run failed', { ...report });
      if (thrown !== undefined) throw thrown;
      const error = report.error;
      throw new TaniumError(
        (error?.kind as TaniumError['kind']) ?? 'tanium',
        error?.message ?? 'Alert poller run failed',
      );
    };

    let settings: PollerConfig;
    let store: StateStore;
    let publisher: AlertPublisher;
    try {
      // Read on its own and first: a run that a bad setting fails is still counted.
      metrics ??= options.metrics ?? defaultMetrics(options.env ?? process.env);
      config ??= loadPollerConfig(options.env ?? process.env);
      settings = config;
      refuseReserveAtTimeout(settings.reserveSeconds, remaining);
      cachedStore ??=
        options.store ??
        new DynamoStateStore(
          options.dynamoDBClient ?? new DynamoDBClient(awsClientConfig()),
          settings.stateTable,
          stateKey(settings.pollerName),
        );
      cachedPublisher ??=
        options.publisher ??
        new EventBridgePublisher(
          options.eventBridgeClient ?? new EventBridgeClient(awsClientConfig()),
          settings.eventBusName,
        );
      store = cachedStore;
      publisher = cachedPublisher;
    } catch (error) {
      return failed(failedReport(error), error);
    }

    const limits = runLimits(started, remaining, settings);
    const publishing = abortWindow(
      limits.publishUntil - Date.now(),
      () =>
        new TaniumError(
          'transient',
          `the run's time for publishing ran out (halfway through POLLER_RESERVE_SECONDS, ${settings.reserveSeconds} s, the rest being kept to save the state)`,
          { retryable: true },
        ),
    );
    const storing = abortWindow(
      limits.storeUntil - Date.now(),
      () =>
        new TaniumError(
          'transient',
          "the run was about to time out (the poller's state calls stop just before its end, so that it is still reported)",
          { retryable: true },
        ),
    );
    let report: RunReport;
    // runPoller reports Tanium, publishing and state failures in its report. Anything thrown is a failed
    // run as well (its metric, its log line), then thrown again: the credentials read above all, since a
    // missing or unusable secret is the commonest reason a new deployment's poller fails.
    let thrown: unknown;
    try {
      // Bounded like the run itself: a stalled Secrets Manager otherwise ends the run as a bare timeout.
      const source = await credentialsByDeadline(alertSource(settings, logger), limits.stopAt, logger).catch(
        async (error: unknown) => {
          await noteTried(store, startedAt, storing.signal, log);
          throw error;
        },
      );
      report = await runPoller(
        {
          source,
          store,
          publisher,
          logger,
          // One name per run: Lambda may deliver a scheduled invocation twice at once, under one request id.
          owner: `${context?.awsRequestId ?? 'run'}/${randomUUID()}`,
          stopAt: limits.stopAt,
          leaseUntil: started + remaining + LEASE_MARGIN_MS,
          publishSignal: publishing.signal,
          storeSignal: storing.signal,
          startedAt,
          ...(options.now ? { now: options.now } : {}),
        },
        settings,
      );
    } catch (error) {
      thrown = error;
      report = failedReport(error);
    } finally {
      publishing.close();
      storing.close();
    }
    // A lost lease is a failed run too (see PollerRun.leaseLost), though it has nothing to throw.
    if (report.status === 'failed' || report.status === 'lease_lost') return failed(report, thrown);
    metrics?.record(report);
    log.info('Alert poller run finished', { ...report });
    return report;
  };
}

/**
 * A run failing before its lease (the credentials read: a new deployment's empty or wrong secret) still
 * marks the first try, so that the first run to succeed loses none of the alerts created meanwhile.
 * Best effort: the run's own failure is what is reported.
 */
async function noteTried(store: StateStore, startedAt: number, signal: AbortSignal, logger: PollerLogger) {
  try {
    await unlessAborted(store.noteTried(startedAt, signal), signal);
  } catch (error) {
    logger.warn('Could not record the failed run in the poller state', {
      reason: toTaniumError(error).message,
    });
  }
}

/**
 * Synthesis keeps POLLER_RESERVE_SECONDS at least MIN_RUN_SECONDS below the function's timeout, but the
 * variable or the timeout can be changed in the console: a reserve that takes all the invocation's time
 * would fail every run for want of time to read the credentials, a message that points at the secret.
 */
function refuseReserveAtTimeout(reserveSeconds: number, remainingMs: number): void {
  if (reserveSeconds * 1000 < remainingMs) return;
  throw new ConfigError(
    `POLLER_RESERVE_SECONDS (${reserveSeconds} s) leaves this invocation (${Math.floor(remainingMs / 1000)} s left) no time to run: keep it at least ${MIN_RUN_SECONDS} s below the function's timeout`,
  );
}

/** The report of a run that `error` ended before runPoller could report it. */
function failedReport(error: unknown): RunReport {
  const failure = toTaniumError(error);
  return {
    ...emptyRunReport(),
    status: 'failed',
    stoppedBy: 'error',
    error: { kind: failure.kind, message: failure.message },
  };
}

/** Powertools metrics, or none when the variables naming them are bad (the configuration's error says so). */
function defaultMetrics(env: Env): PollerMetrics | undefined {
  const target = pollerMetricsTarget(env);
  return target && new PowertoolsPollerMetrics(target);
}
