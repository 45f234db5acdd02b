import { describe, expect, it } from 'vitest';
import {
  filterPairs,
  loadPollerConfig,
  POLLER_DEFAULTS,
  pollerMetricsTarget,
} from '../../../shared/alerts/settings.ts';
import { ConfigError } from '../../../shared/tanium/errors.ts';

const base = { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' };

describe('Alert poller settings', () => {
  it('uses the documented defaults', () => {
    // Act
    const config = loadPollerConfig(base);
    // Assess
    expect(config).toMatchObject({
      stateTable: 'state',
      eventBusName: 'bus',
      pollerName: 'default',
      firstRunHours: 24,
      pageSize: POLLER_DEFAULTS.pageSize,
      maxRequestsPerRun: POLLER_DEFAULTS.maxRequestsPerRun,
      overlapWindowMs: 60_000,
      filterPairs: [],
      enrichIntelNames: false,
      source: 'tanium.threat-response',
      detailType: 'Alert',
      reserveSeconds: 10,
      maxRunSeconds: 0,
      maxRecentIds: POLLER_DEFAULTS.maxRecentIds,
      serviceName: 'tanium-tr-alert-poller',
      metricsNamespace: POLLER_DEFAULTS.metricsNamespace,
    });
  });

  it('reads the POLLER_* variables', () => {
    // Act
    const config = loadPollerConfig({
      ...base,
      POLLER_NAME: 'high-only',
      POLLER_FIRST_RUN_HOURS: '0',
      POLLER_PAGE_SIZE: '500',
      POLLER_MAX_REQUESTS_PER_RUN: '20',
      POLLER_OVERLAP_SECONDS: '30',
      POLLER_RESERVE_SECONDS: '20',
      POLLER_MAX_RECENT_IDS: '500',
      POLLER_ENRICH_INTEL_NAMES: 'true',
      POLLER_FILTER_STATE: 'unresolved, inprogress',
      POLLER_FILTER_PRIORITY: 'high',
      POLLER_FILTER_SEVERITY: 'critical',
      POWERTOOLS_SERVICE_NAME: 'poller-high',
      POLLER_FILTER_INTEL_DOC_ID: '11',
      POLLER_FILTER_QUERY: '?computerName=web%2002&sort=id&limit=5',
    });
    // Assess
    expect(config).toMatchObject({
      pollerName: 'high-only',
      firstRunHours: 0,
      pageSize: 500,
      maxRequestsPerRun: 20,
      overlapWindowMs: 30_000,
      reserveSeconds: 20,
      maxRecentIds: 500,
      enrichIntelNames: true,
      serviceName: 'poller-high',
    });
    expect(config.filterPairs).toEqual([
      ['state', 'unresolved'],
      ['state', 'inprogress'],
      ['priority', 'high'],
      ['severity', 'critical'],
      ['intelDocId', '11'],
      ['computerName', 'web 02'],
    ]);
  });

  it('names the variable that is wrong', () => {
    // Act / Assess
    expect(() =>
      loadPollerConfig({
        ...base,
        POLLER_PAGE_SIZE: '5',
        POLLER_FIRST_RUN_HOURS: '-1',
        POLLER_ENRICH_INTEL_NAMES: 'sometimes',
      }),
    ).toThrow(
      'Invalid poller configuration: POLLER_FIRST_RUN_HOURS must be a whole number from 0 to 8784; POLLER_PAGE_SIZE must be a whole number from 10 to 1000; POLLER_ENRICH_INTEL_NAMES must be one of true, false, 1, 0, yes, no',
    );
    expect(() => loadPollerConfig({ ...base, POLLER_FIRST_RUN_HOURS: '-1' })).toThrow(ConfigError);
    expect(() => loadPollerConfig({ EVENT_BUS_NAME: 'bus' })).toThrow('STATE_TABLE must be set');
    // Fewer requests than a run needs to locate, walk and re-read could stall the poller for good.
    expect(() => loadPollerConfig({ ...base, POLLER_MAX_REQUESTS_PER_RUN: '9' })).toThrow(
      'Invalid poller configuration: POLLER_MAX_REQUESTS_PER_RUN must be a whole number from 10 to 100000',
    );
  });

  it.for([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['Yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ] as const)('reads POLLER_ENRICH_INTEL_NAMES %s as %s', ([text, enrich]) => {
    // Act / Assess
    expect(loadPollerConfig({ ...base, POLLER_ENRICH_INTEL_NAMES: text }).enrichIntelNames).toBe(enrich);
  });

  it('names both missing variables at once, so one redeploy fixes both', () => {
    // Act / Assess
    expect(() => loadPollerConfig({})).toThrow(
      'Invalid poller configuration: STATE_TABLE and EVENT_BUS_NAME must be set',
    );
  });

  it.for([
    ['a'.repeat(64), 'a'.repeat(64)],
    ['prod_high.v-2', 'prod_high.v-2'],
    ['a'.repeat(65), undefined],
    ['high only', undefined],
    ['high/only', undefined],
  ] as const)('reads POLLER_NAME %s, which names the state item and a metric dimension', ([text, name]) => {
    const read = () => loadPollerConfig({ ...base, POLLER_NAME: text }).pollerName;
    if (name === undefined) {
      expect(read).toThrow('Invalid poller configuration: POLLER_NAME must be 1-64 letters, digits, _ . -');
    } else {
      expect(read()).toBe(name);
    }
  });

  it.for([
    [
      { POLLER_FILTER_PRIORITY: 'high, low' },
      'POLLER_FILTER_PRIORITY lists 2 values of priority (high, low)',
    ],
    [{ POLLER_FILTER_SEVERITY: 'critical,high,low' }, 'POLLER_FILTER_SEVERITY lists 3 values of severity'],
    [{ POLLER_FILTER_INTEL_DOC_ID: '11,12' }, 'POLLER_FILTER_INTEL_DOC_ID lists 2 values of intelDocId'],
    [{ POLLER_FILTER_QUERY: 'type=a&type=b' }, 'POLLER_FILTER_QUERY lists 2 values of type (a, b)'],
    [
      { POLLER_FILTER_PRIORITY: 'high', POLLER_FILTER_QUERY: 'priority=low' },
      'POLLER_FILTER_PRIORITY and POLLER_FILTER_QUERY list 2 values of priority (high, low)',
    ],
    [
      {
        POLLER_FILTER_STATE: 'unresolved',
        POLLER_FILTER_PRIORITY: 'high,low',
        POLLER_FILTER_QUERY: 'type=a',
      },
      'POLLER_FILTER_PRIORITY lists 2 values of priority (high, low)',
    ],
    [
      { POLLER_FILTER_SEVERITY: 'critical', POLLER_FILTER_QUERY: 'type=a&type=b' },
      'POLLER_FILTER_QUERY lists 2 values of type (a, b)',
    ],
  ] as const)('refuses %o: Tanium takes alternatives for state alone', ([env, text]) => {
    // Act / Assess
    const load = () => loadPollerConfig({ ...base, ...env });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`Invalid poller configuration: ${text}`);
    expect(load).toThrow(/run a poller per value \(POLLER_NAME\)/);
  });

  it('takes repeated states from the list and the query, and one value of every other filter', () => {
    // Act
    const config = loadPollerConfig({
      ...base,
      POLLER_FILTER_STATE: 'unresolved',
      POLLER_FILTER_PRIORITY: 'high,',
      POLLER_FILTER_QUERY: 'state=inprogress&type=detect.match&sort=id&sort=-id',
    });

    // Assess
    expect(config.filterPairs).toEqual([
      ['state', 'unresolved'],
      ['priority', 'high'],
      ['state', 'inprogress'],
      ['type', 'detect.match'],
    ]);
  });

  it.for([
    ['0', 0],
    ['5', 5],
    ['900', 900],
    ['4', undefined],
    ['1', undefined],
    ['901', undefined],
  ] as const)(
    'reads POLLER_MAX_RUN_SECONDS %s: no limit, or long enough for a run to read Tanium',
    ([text, seconds]) => {
      const read = () => loadPollerConfig({ ...base, POLLER_MAX_RUN_SECONDS: text }).maxRunSeconds;
      if (seconds === undefined) {
        expect(read).toThrow(
          'Invalid poller configuration: POLLER_MAX_RUN_SECONDS must be 0 or a whole number from 5 to 900',
        );
      } else {
        expect(read()).toBe(seconds);
      }
    },
  );

  it('reads where the metrics go apart from the other settings, so that a run they fail is still counted', () => {
    // Act / Assess
    expect(pollerMetricsTarget({ POLLER_PAGE_SIZE: 'lots' })).toEqual({
      namespace: POLLER_DEFAULTS.metricsNamespace,
      serviceName: POLLER_DEFAULTS.serviceName,
      pollerName: POLLER_DEFAULTS.pollerName,
    });
    expect(
      pollerMetricsTarget({
        POLLER_NAME: 'high',
        POWERTOOLS_SERVICE_NAME: 'p',
        POWERTOOLS_METRICS_NAMESPACE: 'N',
      }),
    ).toEqual({ namespace: 'N', serviceName: 'p', pollerName: 'high' });
    // A bad one of its own leaves the run uncounted; loadPollerConfig's error names it
    expect(pollerMetricsTarget({ POLLER_NAME: 'high only' })).toBeUndefined();
  });

  it('lets a failure other than a bad setting through when reading where the metrics go, instead of counting nothing', () => {
    // Prepare: an environment that cannot be read at all, which is no bad setting to report
    const failure = new Error('environment unavailable');
    const env = {
      get POLLER_NAME(): string {
        throw failure;
      },
    };

    // Act / Assess
    expect(() => pollerMetricsTarget(env)).toThrow(failure);
  });

  it('refuses a metrics namespace CloudWatch would refuse, which would leave its alarms blind', () => {
    // Act / Assess
    expect(() => loadPollerConfig({ ...base, POWERTOOLS_METRICS_NAMESPACE: 'N'.repeat(256) })).toThrow(
      /^Invalid poller configuration: POWERTOOLS_METRICS_NAMESPACE must be 1 to 255 of the characters CloudWatch allows/,
    );
    expect(() => loadPollerConfig({ ...base, POWERTOOLS_METRICS_NAMESPACE: 'AWS/Poller' })).toThrow(
      'Invalid poller configuration: POWERTOOLS_METRICS_NAMESPACE must not start with AWS/ (reserved for AWS)',
    );
    expect(loadPollerConfig({ ...base, POWERTOOLS_METRICS_NAMESPACE: 'Tanium/prod' }).metricsNamespace).toBe(
      'Tanium/prod',
    );
  });

  it('rejects a raw query that is not key=value', () => {
    // Act / Assess
    expect(() => filterPairs({ query: 'state' })).toThrow(
      "Invalid poller configuration: POLLER_FILTER_QUERY: Unable to parse provided query: every part must be key=value (got 'state')",
    );
    expect(() => filterPairs({ intelDocId: 'abc' })).toThrow(ConfigError);
  });

  it.for(['abc', '11a', 'a11', '-11', '1.5'])(
    'refuses an intel doc id %j, which Tanium would not match to any intel doc, whichever variable gives it',
    (id) => {
      // Act / Assess
      expect(() => filterPairs({ intelDocId: `7,${id}` })).toThrow(
        'Invalid poller configuration: POLLER_FILTER_INTEL_DOC_ID must list integers',
      );
      expect(() => filterPairs({ query: `state=unresolved&intelDocId=${encodeURIComponent(id)}` })).toThrow(
        `Invalid poller configuration: POLLER_FILTER_QUERY: intelDocId must be an integer (got '${id}')`,
      );
      expect(() => filterPairs({ query: `scanConfigId=${encodeURIComponent(id)}` })).toThrow(
        `Invalid poller configuration: POLLER_FILTER_QUERY: scanConfigId must be an integer (got '${id}')`,
      );
    },
  );

  it('takes integer ids from the raw query, and any value of the other filters', () => {
    // Act / Assess
    expect(
      filterPairs({ query: 'intelDocId=42&scanConfigId=7&computerName=web-02&type=detect.match' }),
    ).toEqual([
      ['intelDocId', '42'],
      ['scanConfigId', '7'],
      ['computerName', 'web-02'],
      ['type', 'detect.match'],
    ]);
  });

  it('rejects white space around a key or value, which Tanium would take for an unknown key and ignore', () => {
    // Act / Assess: every run would publish every alert, unfiltered
    expect(() => filterPairs({ query: 'state=unresolved&priority =high' })).toThrow(
      "Invalid poller configuration: POLLER_FILTER_QUERY: Unable to parse provided query: 'priority =high' has white space around its key or value",
    );
    expect(() => filterPairs({ query: ' state=unresolved' })).toThrow(ConfigError);
  });
});
