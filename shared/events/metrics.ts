import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** What one request contributes to the per-action metrics. */
export interface RequestObservation {
  action: string;
  status: 'success' | 'failed';
  /** A transient failure left for redelivery (no result published yet). */
  retrying: boolean;
  durationMs: number;
}

export interface ActionMetrics {
  record(observation: RequestObservation): void;
  /** Writes what this invocation recorded (EMF on stdout). */
  flush(): void;
}

export const METRIC_NAMES = {
  requests: 'Requests',
  failures: 'Failures',
  retries: 'Retries',
  duration: 'Duration',
} as const;

/**
 * EMF metrics per action (dimension `action`): requests, failures, transient retries and duration.
 * One Powertools `Metrics` per action keeps each action's values in one EMF document per invocation,
 * however many records of a batch ran it.
 */
export class PowertoolsActionMetrics implements ActionMetrics {
  private readonly namespace: string;
  private readonly serviceName: string;
  private readonly byAction = new Map<string, Metrics>();

  constructor(options: { namespace: string; serviceName: string }) {
    this.namespace = options.namespace;
    this.serviceName = options.serviceName;
  }

  record(observation: RequestObservation): void {
    const name = observation.action || 'unknown';
    let metrics = this.byAction.get(name);
    if (!metrics) {
      metrics = new Metrics({
        namespace: this.namespace,
        serviceName: this.serviceName,
        defaultDimensions: { action: name },
      });
      this.byAction.set(name, metrics);
    }
    metrics.addMetric(METRIC_NAMES.requests, MetricUnit.Count, 1);
    metrics.addMetric(METRIC_NAMES.failures, MetricUnit.Count, observation.status === 'failed' ? 1 : 0);
    metrics.addMetric(METRIC_NAMES.retries, MetricUnit.Count, observation.retrying ? 1 : 0);
    metrics.addMetric(METRIC_NAMES.duration, MetricUnit.Milliseconds, observation.durationMs);
  }

  flush(): void {
    for (const metrics of this.byAction.values()) {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  }
}
