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

  /**
   * AlertsPublished every run (a zero says the poller ran and found nothing), AlertLag whenever known;
   * every other count only when above zero. CloudWatch bills a custom metric for each hour it is written,
   * and a run every minute writing a dozen zeros cost more than the poller itself; the alarms on those
   * counts treat a missing value as nothing to report.
   */
  record(report: RunReport): void {
    const m = this.metrics;
    const names = POLLER_METRIC_NAMES;
    const count = (name: string, value: number) => {
      if (value > 0) m.addMetric(name, MetricUnit.Count, value);
    };
    m.addMetric(names.published, MetricUnit.Count, report.published);
    count(names.taniumRequests, report.taniumRequests);
    count(names.intelRequests, report.intelRequests);
    count(names.putEventsCalls, report.putEventsCalls);
    count(names.timeLimitHit, report.stoppedBy === 'time_limit' ? 1 : 0);
    count(names.requestLimitHit, report.stoppedBy === 'request_limit' ? 1 : 0);
    count(names.failed, report.status === 'failed' || report.status === 'lease_lost' ? 1 : 0);
    count(names.skipped, report.status === 'skipped' ? 1 : 0);
    count(names.unparseable, report.unparseableDetails);
    count(names.reduced, report.reducedAlerts);
    count(names.refused, report.refusedAlerts);
    count(names.unidentified, report.unidentifiedAlerts);
    count(names.undated, report.undatedAlerts);
    if (report.lagMs !== undefined) m.addMetric(names.lag, MetricUnit.Milliseconds, report.lagMs);
    m.publishStoredMetrics();
  }
}
