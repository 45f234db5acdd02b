import { loadPollerConfig, MIN_RUN_SECONDS, POLLER_DEFAULTS } from '../shared/alerts/settings.ts';

/**
 * The alert poller's tuning and filters (README "Alert events"), each given to the function as its
 * POLLER_* variable. Set here, they survive deploys; a change in the console is undone by the next one.
 * `POLLER_NAME` and `POLLER_FIRST_RUN_HOURS` are not among them: the stack sets those itself.
 */
export interface PollerSettings {
  readonly pageSize?: number;
  readonly maxRequestsPerRun?: number;
  readonly overlapSeconds?: number;
  readonly reserveSeconds?: number;
  readonly maxRunSeconds?: number;
  readonly maxRecentIds?: number;
  /** Comma list, e.g. `unresolved,inprogress`. */
  readonly filterState?: string;
  /** One value each: Tanium takes alternatives for `state` alone (filterPairs in shared/alerts/settings.ts). */
  readonly filterPriority?: string;
  readonly filterSeverity?: string;
  /** One intel doc id. */
  readonly filterIntelDocId?: string;
  /** Raw query like list alerts' `query`. */
  readonly filterQuery?: string;
  readonly enrichIntelNames?: boolean;
}

/** The variable each setting becomes. */
export const POLLER_SETTING_VARIABLES = {
  pageSize: 'POLLER_PAGE_SIZE',
  maxRequestsPerRun: 'POLLER_MAX_REQUESTS_PER_RUN',
  overlapSeconds: 'POLLER_OVERLAP_SECONDS',
  reserveSeconds: 'POLLER_RESERVE_SECONDS',
  maxRunSeconds: 'POLLER_MAX_RUN_SECONDS',
  maxRecentIds: 'POLLER_MAX_RECENT_IDS',
  filterState: 'POLLER_FILTER_STATE',
  filterPriority: 'POLLER_FILTER_PRIORITY',
  filterSeverity: 'POLLER_FILTER_SEVERITY',
  filterIntelDocId: 'POLLER_FILTER_INTEL_DOC_ID',
  filterQuery: 'POLLER_FILTER_QUERY',
  enrichIntelNames: 'POLLER_ENRICH_INTEL_NAMES',
} as const satisfies Record<keyof PollerSettings, `POLLER_${string}`>;

function isSettingName(name: string): name is keyof PollerSettings {
  return Object.hasOwn(POLLER_SETTING_VARIABLES, name);
}

/** The function's environment variables for `settings`; unset settings leave the poller's defaults. */
export function pollerSettingsEnvironment(settings: PollerSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings)) {
    if (value !== undefined && isSettingName(name)) env[POLLER_SETTING_VARIABLES[name]] = String(value);
  }
  return env;
}

/**
 * What is wrong with `settings`, as the poller itself would judge it at run time (its own parser reads
 * the variables), so a bad value fails the synthesis instead of every scheduled run. Unknown names are
 * the environment schema's to report.
 */
export function pollerSettingsProblems(
  settings: PollerSettings,
  firstRunHours: number,
  timeoutSeconds: number,
): string[] {
  const problems: string[] = [];
  try {
    loadPollerConfig({
      // Set by the stack; placeholders here so the check covers the settings alone.
      STATE_TABLE: 'state',
      EVENT_BUS_NAME: 'bus',
      POLLER_FIRST_RUN_HOURS: String(firstRunHours),
      ...pollerSettingsEnvironment(settings),
    });
  } catch (error) {
    problems.push(`poller.settings: ${error instanceof Error ? error.message : String(error)}`);
  }
  // A reserve within MIN_RUN_SECONDS of the function's timeout leaves every run no time to read Tanium;
  // the default counts too (a short timeout with the default reserve polls nothing).
  const reserve = settings.reserveSeconds ?? POLLER_DEFAULTS.reserveSeconds;
  if (timeoutSeconds - reserve < MIN_RUN_SECONDS) {
    const which = settings.reserveSeconds === undefined ? ', the default' : '';
    problems.push(
      `poller.settings.reserveSeconds must be at least ${MIN_RUN_SECONDS} s below the alert-poller timeoutSeconds, the time a run needs to read Tanium (${reserve}${which}, against ${timeoutSeconds})`,
    );
  }
  return problems;
}
