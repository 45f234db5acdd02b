import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  POLLER_LAG_METRIC,
  POLLER_NAME,
  POLLER_REFUSED_METRIC,
  POLLER_UNIDENTIFIED_METRIC,
} from '../../../infra/constructs/monitoring.ts';
import { POLLER_FUNCTION } from '../../../infra/families.ts';
import { PowertoolsPollerMetrics } from '../../../shared/alerts/metrics.ts';
import { emptyRunReport } from '../../../shared/alerts/poller.ts';
import { loadPollerConfig } from '../../../shared/alerts/settings.ts';
import type { RunReport } from '../../../shared/alerts/types.ts';
import { jsonLinesWrittenBy } from '../../helpers/stdout.ts';

describe('Alert poller metrics', () => {
  it('writes one EMF document with the names, namespace and dimensions its alarms watch', () => {
    // Prepare: the poller's settings from the environment the stack gives it
    const settings = loadPollerConfig({
      STATE_TABLE: 'state',
      EVENT_BUS_NAME: 'bus',
      POLLER_NAME,
      POWERTOOLS_SERVICE_NAME: POLLER_FUNCTION,
      POWERTOOLS_METRICS_NAMESPACE: 'TaniumThreatResponse',
    });
    const metrics = new PowertoolsPollerMetrics({
      namespace: settings.metricsNamespace,
      serviceName: settings.serviceName,
      pollerName: settings.pollerName,
    });
    const report: RunReport = {
      status: 'partial',
      stoppedBy: 'request_limit',
      published: 40,
      taniumRequests: 10,
      intelRequests: 0,
      putEventsCalls: 4,
      batches: 4,
      unparseableDetails: 0,
      reducedAlerts: 0,
      refusedAlerts: 1,
      unidentifiedAlerts: 2,
      undatedAlerts: 0,
      lagMs: 90_000,
    };

    // Act
    const lines = jsonLinesWrittenBy(() => metrics.record(report));

    // Assess
    expect(lines).toHaveLength(1);
    const emf = lines[0] as { _aws: { CloudWatchMetrics: Record<string, unknown>[] } } & Record<
      string,
      unknown
    >;
    expect(emf._aws.CloudWatchMetrics).toEqual([
      expect.objectContaining({ Namespace: 'TaniumThreatResponse', Dimensions: [['service', 'poller']] }),
    ]);
    expect(emf).toMatchObject({
      service: POLLER_FUNCTION,
      poller: POLLER_NAME,
      [POLLER_LAG_METRIC]: 90_000,
      [POLLER_REFUSED_METRIC]: 1,
      [POLLER_UNIDENTIFIED_METRIC]: 2,
      RunsHitRequestLimit: 1,
    });
  });

  it('writes the counts of a quiet run only when above zero, and always what was published', () => {
    // Prepare: a run that caught up and found nothing new
    const metrics = new PowertoolsPollerMetrics({
      namespace: 'TaniumThreatResponse',
      serviceName: 'p',
      pollerName: 'q',
    });
    const quiet: RunReport = { ...emptyRunReport(), status: 'caught_up', taniumRequests: 1, lagMs: 0 };

    // Act
    const [emf] = jsonLinesWrittenBy(() => metrics.record(quiet)) as Array<{
      _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> };
    }>;

    // Assess: each metric written is one CloudWatch bills for that hour
    expect(emf?._aws.CloudWatchMetrics[0]?.Metrics.map((metric) => metric.Name).sort()).toEqual([
      POLLER_LAG_METRIC,
      'AlertsPublished',
      'TaniumRequests',
    ]);
  });

  it.for([
    [{ published: 3 }, 'AlertsPublished', 3],
    [{ taniumRequests: 2 }, 'TaniumRequests', 2],
    [{ intelRequests: 2 }, 'IntelDocLookups', 2],
    [{ putEventsCalls: 2 }, 'PutEventsCalls', 2],
    [{ stoppedBy: 'time_limit' }, 'RunsHitTimeLimit', 1],
    [{ stoppedBy: 'request_limit' }, 'RunsHitRequestLimit', 1],
    [{ status: 'failed', stoppedBy: 'error' }, 'RunsFailed', 1],
    [{ status: 'lease_lost', stoppedBy: 'error' }, 'RunsFailed', 1],
    [{ status: 'skipped' }, 'RunsSkipped', 1],
    [{ unparseableDetails: 2 }, 'UnparseableDetails', 2],
    [{ reducedAlerts: 2 }, 'AlertsReduced', 2],
    [{ refusedAlerts: 2 }, 'AlertsRefused', 2],
    [{ unidentifiedAlerts: 2 }, 'AlertsWithoutId', 2],
    [{ undatedAlerts: 2 }, 'AlertsWithoutTime', 2],
  ] as const)('writes a run of %o as %s, a count, and no other count above zero', ([fields, name, value]) => {
    // Prepare
    const metrics = new PowertoolsPollerMetrics({ namespace: 'N', serviceName: 'p', pollerName: 'q' });
    const report: RunReport = { ...emptyRunReport(), ...fields };

    // Act
    const [emf] = jsonLinesWrittenBy(() => metrics.record(report)) as Array<
      { _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string; Unit: string }> }> } } & Record<
        string,
        unknown
      >
    >;

    // Assess: the alarms and dashboards read each count by its name
    const written = emf?._aws.CloudWatchMetrics[0]?.Metrics ?? [];
    expect(written).toContainEqual({ Name: name, Unit: 'Count' });
    expect(written.map((metric) => metric.Name).sort()).toEqual(
      [...new Set(['AlertsPublished', name])].sort(),
    );
    expect(emf?.[name]).toBe(value);
  });

  it('writes the lag in milliseconds', () => {
    // Prepare
    const metrics = new PowertoolsPollerMetrics({ namespace: 'N', serviceName: 'p', pollerName: 'q' });

    // Act
    const [emf] = jsonLinesWrittenBy(() => metrics.record({ ...emptyRunReport(), lagMs: 1500 })) as Array<{
      _aws: { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string; Unit: string }> }> };
    }>;

    // Assess
    expect(emf?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({
      Name: POLLER_LAG_METRIC,
      Unit: 'Milliseconds',
    });
  });

  it("names in README's metrics heading the dimensions every document carries", () => {
    // Prepare: an operator builds a CloudWatch query from the heading
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const heading = readme.split('\n').find((line) => line.startsWith('### Metrics (EMF'));
    const metrics = new PowertoolsPollerMetrics({ namespace: 'N', serviceName: 'p', pollerName: 'q' });

    // Act
    const [emf] = jsonLinesWrittenBy(() => metrics.record(emptyRunReport())) as Array<{
      _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> };
    }>;

    // Assess
    const named = [...(heading ?? '').matchAll(/`([^`]+)`/g)].map((match) => match[1]);
    expect(named.sort()).toEqual([...(emf?._aws.CloudWatchMetrics[0]?.Dimensions[0] ?? [])].sort());
  });
});
