import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { RunReport } from './types.ts';

/** Records one run's numbers; the default writes CloudWatch EMF through Powertools. */
export interface PollerMetrics {
  record(report: RunReport): void;
}

export const POLLER_METRIC_NAMES = {
  published: 'AlertsPublished',
  lag: 'AlertLag',
  taniumRequests: 'TaniumRequests',
  intelRequests: 'IntelDocLookups',
  putEventsCalls: 'PutEventsCalls',
  timeLimitHit: 'RunsHitTimeLimit',
  requestLimitHit: 'RunsHitRequestLimit',
  failed: 'RunsFailed',
  skipped: 'RunsSkipped',
  unparseable: 'UnparseableDetails',
  reduced: 'AlertsReduced',
  refused: 'AlertsRefused',
  unidentified: 'AlertsWithoutId',
  undated: 'AlertsWithoutTime',
} as const;

export class PowertoolsPollerMetrics implements PollerMetrics {
  private readonly metrics: Metrics;

  constructor(options: { namespace: string; serviceName: string; pollerName: string }) {
    this.metrics = new Metrics({
      namespace: options.namespace,
      serviceName: options.serviceName,
      defaultDimensions: { poller: options.pollerName },
    });
  }

  record(report: RunReport): void {
    const m = this.metrics;
    const names = POLLER_METRIC_NAMES;
    m.addMetric(names.published, MetricUnit.Count, report.published);
    m.addMetric(names.taniumRequests, MetricUnit.Count, report.taniumRequests);
    m.addMetric(names.intelRequests, MetricUnit.Count, report.intelRequests);
    m.addMetric(names.putEventsCalls, MetricUnit.Count, report.putEventsCalls);
    m.addMetric(names.timeLimitHit, MetricUnit.Count, report.stoppedBy === 'time_limit' ? 1 : 0);
    m.addMetric(names.requestLimitHit, MetricUnit.Count, report.stoppedBy === 'request_limit' ? 1 : 0);
    m.addMetric(
      names.failed,
      MetricUnit.Count,
      report.status === 'failed' || report.status === 'lease_lost' ? 1 : 0,
    );
    m.addMetric(names.skipped, MetricUnit.Count, report.status === 'skipped' ? 1 : 0);
    m.addMetric(names.unparseable, MetricUnit.Count, report.unparseableDetails);
    m.addMetric(names.reduced, MetricUnit.Count, report.reducedAlerts);
    m.addMetric(names.refused, MetricUnit.Count, report.refusedAlerts);
    m.addMetric(names.unidentified, MetricUnit.Count, report.unidentifiedAlerts);
    m.addMetric(names.undated, MetricUnit.Count, report.undatedAlerts);
    if (report.lagMs !== undefined) m.addMetric(names.lag, MetricUnit.Milliseconds, report.lagMs);
    m.publishStoredMetrics();
  }
}
