import * as z from 'zod/mini';
import { type Env, envInteger, envText, InvalidEnvironment, readEnvironment } from '../config/environment.ts';
import { SHOWN_NAME_CHARS, shown } from '../config/message-text.ts';
import { envMetricsNamespace } from '../config/metrics-namespace.ts';
import { SETTING_DEFAULTS } from '../config/settings.ts';
import { parseAlertQuery } from '../tanium/alerts.ts';
import { ConfigError, TaniumError } from '../tanium/errors.ts';
import { ALERT_DETAIL_TYPE, ALERT_SOURCE } from './alert-event.ts';
import type { PollerSettings } from './types.ts';

/** The poller's configuration: the function settings it needs plus the POLLER_* knobs (README.md). */
export interface PollerConfig extends PollerSettings {
  stateTable: string;
  eventBusName: string;
  /** Names the state item (`poller#<name>`): several pollers (say, with different filters) share a table. */
  pollerName: string;
  /**
   * Seconds kept free before the Lambda deadline for the last batch and checkpoint: a PutEvents call
   * may run into the first half, the state calls until just before the end (runLimits in
   * poller-handler.ts). Of the time before them, the poller reads Tanium for the first three quarters
   * only (READ_SHARE in poller.ts), so that what it read can still be published.
   */
  reserveSeconds: number;
  /** Upper bound on one run's duration, below the Lambda timeout (0: the Lambda's remaining time). */
  maxRunSeconds: number;
  serviceName: string;
  metricsNamespace: string;
}

/**
 * The shortest run that can read Tanium: it reads for three quarters of its time (READ_SHARE in
 * poller.ts), and the Tanium client starts no request with less than a second left (MIN_ATTEMPT_MS). A
 * shorter POLLER_MAX_RUN_SECONDS, or a timeout this close to the reserve, would fail every run.
 */
export const MIN_RUN_SECONDS = 5;

/** The smallest page: POLLER_PAGE_SIZE's minimum, and the smallest cap a run adopts from Tanium's answers. */
export const MIN_PAGE_SIZE = 10;

export const POLLER_DEFAULTS = {
  pollerName: 'default',
  firstRunHours: 24,
  pageSize: 200,
  maxRequestsPerRun: 100,
  overlapSeconds: 60,
  reserveSeconds: 10,
  maxRunSeconds: 0,
  maxRecentIds: 20_000,
  serviceName: 'tanium-tr-alert-poller',
  metricsNamespace: SETTING_DEFAULTS.metricsNamespace,
} as const;

const flag = z.optional(
  z.pipe(
    z.transform((value: unknown) => String(value).toLowerCase()),
    z.enum(['true', 'false', '1', '0', 'yes', 'no'], 'must be one of true, false, 1, 0, yes, no'),
  ),
);

const pollerName = z.optional(
  z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . -')),
);

/** The variables naming where the poller's metrics go (namespace, dimensions service and poller). */
const metricsTargetSchema = z.object({
  POLLER_NAME: pollerName,
  POWERTOOLS_SERVICE_NAME: envText,
  POWERTOOLS_METRICS_NAMESPACE: envMetricsNamespace,
});

const environmentSchema = z.object({
  STATE_TABLE: envText,
  EVENT_BUS_NAME: envText,
  POLLER_NAME: pollerName,
  POLLER_FIRST_RUN_HOURS: envInteger(0, 24 * 366),
  POLLER_PAGE_SIZE: envInteger(MIN_PAGE_SIZE, 1000),
  // Below 8, a run that must locate the cursor, walk and re-read a page ending inside a burst of equal
  // createdAt could end every time before saving progress, and the poller would stall (seen at 5).
  POLLER_MAX_REQUESTS_PER_RUN: envInteger(10, 100_000),
  POLLER_OVERLAP_SECONDS: envInteger(0, 86_400),
  POLLER_RESERVE_SECONDS: envInteger(1, 600),
  POLLER_MAX_RUN_SECONDS: envInteger(MIN_RUN_SECONDS, 900, { orZero: true }),
  POLLER_MAX_RECENT_IDS: envInteger(100, 40_000),
  POLLER_FILTER_STATE: envText,
  POLLER_FILTER_PRIORITY: envText,
  POLLER_FILTER_SEVERITY: envText,
  POLLER_FILTER_INTEL_DOC_ID: envText,
  POLLER_FILTER_QUERY: envText,
  POLLER_ENRICH_INTEL_NAMES: flag,
  POWERTOOLS_SERVICE_NAME: envText,
  POWERTOOLS_METRICS_NAMESPACE: envMetricsNamespace,
});

function items(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * The one filter Tanium's alerts API takes repeated, as alternatives (tanium-api.md 4.8). What a server
 * does with another key given twice is nowhere written: keeping one of the values would drop the alerts
 * of the others while the poller reports itself caught up, so the poller never sends one.
 */
const REPEATABLE_FILTER = 'state';

/** What an id filter may be: Tanium's ids are integers. */
const INTEGER = /^\d+$/;
/** The alert filters that take an id (tanium-api.md 4.8). */
const ID_FILTERS: readonly string[] = ['intelDocId', 'scanConfigId'];

/** The variable behind each named filter that takes one value, for the message refusing a repeat. */
const NAMED_FILTER_VARIABLES: Readonly<Record<string, string>> = {
  priority: 'POLLER_FILTER_PRIORITY',
  severity: 'POLLER_FILTER_SEVERITY',
  intelDocId: 'POLLER_FILTER_INTEL_DOC_ID',
};

/**
 * The filters as query pairs, in a fixed order: the named filters (a comma list of states becoming
 * repeated `state`, which Tanium treats as alternatives), then the raw query. `limit`, `offset` and `sort`
 * belong to the poller and are dropped from the raw query. Any other key given more than once, by a comma
 * list, the raw query, or both, is a ConfigError (REPEATABLE_FILTER).
 */
export function filterPairs(env: {
  state?: string | undefined;
  priority?: string | undefined;
  severity?: string | undefined;
  intelDocId?: string | undefined;
  query?: string | undefined;
}): Array<[string, string]> {
  const named: Array<[string, string]> = [];
  for (const state of items(env.state)) named.push(['state', state]);
  for (const priority of items(env.priority)) named.push(['priority', priority]);
  for (const severity of items(env.severity)) named.push(['severity', severity]);
  for (const id of items(env.intelDocId)) {
    if (!INTEGER.test(id)) {
      throw new ConfigError('Invalid poller configuration: POLLER_FILTER_INTEL_DOC_ID must list integers');
    }
    named.push(['intelDocId', id]);
  }
  let raw: Array<[string, string]>;
  try {
    raw = parseAlertQuery(env.query);
  } catch (error) {
    const message = error instanceof TaniumError ? error.message : String(error);
    throw new ConfigError(`Invalid poller configuration: POLLER_FILTER_QUERY: ${message}`);
  }
  const queried = raw.filter((pair) => pair[0] !== 'sort');
  // Tanium matches an id that is no integer to nothing: the poller would report itself caught up while
  // it never saw an alert.
  const badId = queried.find(([key, value]) => ID_FILTERS.includes(key) && !INTEGER.test(value));
  if (badId) {
    throw new ConfigError(
      `Invalid poller configuration: POLLER_FILTER_QUERY: ${badId[0]} must be an integer (got '${shown(badId[1])}')`,
    );
  }
  const pairs = [...named, ...queried];
  const repeated = pairs.find(
    ([key], index) => key !== REPEATABLE_FILTER && pairs.findIndex((pair) => pair[0] === key) !== index,
  );
  if (repeated) {
    const key = repeated[0];
    const values = pairs.filter((pair) => pair[0] === key).map((pair) => pair[1]);
    const variables = [
      ...(named.some((pair) => pair[0] === key) ? [NAMED_FILTER_VARIABLES[key]] : []),
      ...(queried.some((pair) => pair[0] === key) ? ['POLLER_FILTER_QUERY'] : []),
    ];
    const name = shown(key, SHOWN_NAME_CHARS);
    throw new ConfigError(
      `Invalid poller configuration: ${variables.join(' and ')} ${variables.length > 1 ? 'list' : 'lists'} ${values.length} values of ${name} (${shown(values.join(', '))}); Tanium takes alternatives for ${REPEATABLE_FILTER} alone and may keep one value, dropping the alerts of the others unseen. Give one value, run a poller per value (POLLER_NAME), or leave the filter out and match ${name} in the EventBridge rule that takes the Alert events`,
    );
  }
  return pairs;
}

/** Where the poller's metrics go: the namespace and the values of the dimensions service and poller. */
export interface PollerMetricsTarget {
  namespace: string;
  serviceName: string;
  pollerName: string;
}

function metricsTarget(e: z.infer<typeof metricsTargetSchema>): PollerMetricsTarget {
  return {
    namespace: e.POWERTOOLS_METRICS_NAMESPACE ?? POLLER_DEFAULTS.metricsNamespace,
    serviceName: e.POWERTOOLS_SERVICE_NAME ?? POLLER_DEFAULTS.serviceName,
    pollerName: e.POLLER_NAME ?? POLLER_DEFAULTS.pollerName,
  };
}

/**
 * The metrics target read apart from the other settings, so that a run a bad setting fails is still
 * counted (RunsFailed); undefined when one of its own variables is bad (loadPollerConfig names it).
 */
export function pollerMetricsTarget(env: Env): PollerMetricsTarget | undefined {
  try {
    return metricsTarget(readEnvironment(metricsTargetSchema, env, 'poller configuration'));
  } catch (error) {
    if (error instanceof InvalidEnvironment) return undefined;
    throw error;
  }
}

/** Reads and validates the poller's environment; a bad value is a ConfigError naming the variable. */
export function loadPollerConfig(env: Env = process.env): PollerConfig {
  const e = readEnvironment(environmentSchema, env, 'poller configuration');
  const target = metricsTarget(e);
  const missing = (['STATE_TABLE', 'EVENT_BUS_NAME'] as const).filter((key) => e[key] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(`Invalid poller configuration: ${missing.join(' and ')} must be set`);
  }
  return {
    stateTable: e.STATE_TABLE!,
    eventBusName: e.EVENT_BUS_NAME!,
    pollerName: target.pollerName,
    firstRunHours: e.POLLER_FIRST_RUN_HOURS ?? POLLER_DEFAULTS.firstRunHours,
    pageSize: e.POLLER_PAGE_SIZE ?? POLLER_DEFAULTS.pageSize,
    maxRequestsPerRun: e.POLLER_MAX_REQUESTS_PER_RUN ?? POLLER_DEFAULTS.maxRequestsPerRun,
    overlapWindowMs: (e.POLLER_OVERLAP_SECONDS ?? POLLER_DEFAULTS.overlapSeconds) * 1000,
    reserveSeconds: e.POLLER_RESERVE_SECONDS ?? POLLER_DEFAULTS.reserveSeconds,
    maxRunSeconds: e.POLLER_MAX_RUN_SECONDS ?? POLLER_DEFAULTS.maxRunSeconds,
    maxRecentIds: e.POLLER_MAX_RECENT_IDS ?? POLLER_DEFAULTS.maxRecentIds,
    filterPairs: filterPairs({
      state: e.POLLER_FILTER_STATE,
      priority: e.POLLER_FILTER_PRIORITY,
      severity: e.POLLER_FILTER_SEVERITY,
      intelDocId: e.POLLER_FILTER_INTEL_DOC_ID,
      query: e.POLLER_FILTER_QUERY,
    }),
    enrichIntelNames: ['true', '1', 'yes'].includes(e.POLLER_ENRICH_INTEL_NAMES ?? 'false'),
    source: ALERT_SOURCE,
    detailType: ALERT_DETAIL_TYPE,
    serviceName: target.serviceName,
    metricsNamespace: target.namespace,
  };
}
