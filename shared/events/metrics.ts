import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The `action` dimension of requests naming no known action: each distinct string would be a new metric. */
export const UNKNOWN_ACTION = 'unknown';

/** What one request contributes to the per-action metrics. */
export interface RequestObservation {
  /** A known action's name, or `UNKNOWN_ACTION`. */
  action: string;
  status: 'success' | 'failed';
  /** A transient failure left for redelivery (no result published yet). */
  retrying: boolean;
  durationMs: number;
  /** A mutating action that ran but whose idempotency record could not be completed. */
  unrecorded?: boolean;
  /** A failure only the deployment's owner can fix (isServiceFailure), to count now. */
  serviceFailure?: boolean;
  /** A write that may or may not have reached Tanium (`unknown_outcome`): someone must check it. */
  unknownOutcome?: boolean;
  /** The stored result of an earlier delivery, published again: it says nothing about now. */
  replayed?: boolean;
}

export interface ActionMetrics {
  record(observation: RequestObservation): void;
  /**
   * A result published in another form than the action's own (failed, or without part of its request:
   * it could not be serialised or stored), which `record` did not see.
   */
  replaced(): void;
  /** A result that could not be published (PutEvents failed or was cut short). */
  unpublished(): void;
  /** Writes what this invocation recorded (EMF on stdout). */
  flush(): void;
}

/** Metrics that go nowhere (the local pipeline, tests that do not look at them). */
export const NO_METRICS: ActionMetrics = {
  record: () => undefined,
  replaced: () => undefined,
  unpublished: () => undefined,
  flush: () => undefined,
};

export const METRIC_NAMES = {
  requests: 'Requests',
  failures: 'Failures',
  retries: 'Retries',
  duration: 'Duration',
  unrecorded: 'UnrecordedResults',
  /** Per function (dimension `service` only): a result replaced is a vault or data problem, not an action's. */
  replaced: 'ReplacedResults',
  /** Per function, as `replaced`: PutEvents, or the vault for a result too big for an event, failing. */
  unpublished: 'UnpublishedResults',
  /** Per function, as `replaced`: final failures only the deployment's owner can fix (isServiceFailure). */
  serviceFailures: 'ServiceFailures',
  /**
   * Per function, as `replaced`: `unknown_outcome` results, each a change Tanium may or may not have made
   * (a write cut off or refused with 429/502/503/504), which a person must check before sending it again.
   */
  unknownOutcomes: 'UnknownOutcomes',
} as const;

/** The per-function counts (dimension `service` only), written only when one of them is above zero. */
interface FamilyTally {
  replaced: number;
  unpublished: number;
  serviceFailures: number;
  unknownOutcomes: number;
}

const emptyFamilyTally = (): FamilyTally => ({
  replaced: 0,
  unpublished: 0,
  serviceFailures: 0,
  unknownOutcomes: 0,
});

/** What one action's requests added up to in the current invocation. */
interface Tally {
  requests: number;
  failures: number;
  retries: number;
  unrecorded: number;
  durations: number[];
}

/**
 * EMF metrics per action (dimension `action`): requests, failures, transient retries and duration.
 * One Powertools `Metrics` per action keeps each action's values in one EMF document per invocation,
 * however many records of a batch ran it. Counts are summed per invocation and handed to Powertools at
 * flush (its per-value bookkeeping costs more than a batch's requests need); every duration is kept.
 */
export class PowertoolsActionMetrics implements ActionMetrics {
  private readonly namespace: string;
  private readonly serviceName: string;
  private readonly byAction = new Map<string, Metrics>();
  private readonly tallies = new Map<string, Tally>();
  private familyMetrics: Metrics | undefined;
  private family = emptyFamilyTally();

  constructor(options: { namespace: string; serviceName: string }) {
    this.namespace = options.namespace;
    this.serviceName = options.serviceName;
  }

  record(observation: RequestObservation): void {
    const name = observation.action || UNKNOWN_ACTION;
    let tally = this.tallies.get(name);
    if (!tally) {
      tally = { requests: 0, failures: 0, retries: 0, unrecorded: 0, durations: [] };
      this.tallies.set(name, tally);
    }
    tally.requests += 1;
    if (observation.status === 'failed') tally.failures += 1;
    if (observation.retrying) tally.retries += 1;
    if (observation.unrecorded) tally.unrecorded += 1;
    tally.durations.push(observation.durationMs);
    if (observation.serviceFailure && !observation.replayed) {
      this.family.serviceFailures += 1;
    }
    // A replay is the same uncertain write, already counted when it happened.
    if (observation.unknownOutcome && !observation.replayed) {
      this.family.unknownOutcomes += 1;
    }
  }

  flush(): void {
    // Taken and cleared first: a flush that fails part-way must not write the same counts again with the
    // next invocation's.
    const tallies = [...this.tallies];
    this.tallies.clear();
    const family = this.family;
    this.family = emptyFamilyTally();
    let firstFailure: unknown;
    const publish = (metrics: Metrics, add: () => void) => {
      try {
        add();
        metrics.publishStoredMetrics();
      } catch (error) {
        // Dropped, or it would be written with the next invocation's; the other documents still go out.
        metrics.clearMetrics();
        firstFailure ??= error;
      }
    };
    for (const [name, tally] of tallies) {
      const metrics = this.metricsFor(name);
      publish(metrics, () => {
        metrics.addMetric(METRIC_NAMES.requests, MetricUnit.Count, tally.requests);
        metrics.addMetric(METRIC_NAMES.failures, MetricUnit.Count, tally.failures);
        metrics.addMetric(METRIC_NAMES.retries, MetricUnit.Count, tally.retries);
        // Only when it happened: the read-only actions never keep a record, so a zero would mislead.
        if (tally.unrecorded > 0) {
          metrics.addMetric(METRIC_NAMES.unrecorded, MetricUnit.Count, tally.unrecorded);
        }
        for (const duration of tally.durations) {
          metrics.addMetric(METRIC_NAMES.duration, MetricUnit.Milliseconds, duration);
        }
      });
    }
    // Only what happened, as for unrecorded results.
    const counts = (Object.keys(family) as Array<keyof FamilyTally>).filter((name) => family[name] > 0);
    if (counts.length > 0) {
      this.familyMetrics ??= new Metrics({ namespace: this.namespace, serviceName: this.serviceName });
      const metrics = this.familyMetrics;
      publish(metrics, () => {
        for (const name of counts) metrics.addMetric(METRIC_NAMES[name], MetricUnit.Count, family[name]);
      });
    }
    if (firstFailure !== undefined) throw firstFailure;
  }

  replaced(): void {
    this.family.replaced += 1;
  }

  unpublished(): void {
    this.family.unpublished += 1;
  }

  private metricsFor(name: string): Metrics {
    let metrics = this.byAction.get(name);
    if (!metrics) {
      metrics = new Metrics({
        namespace: this.namespace,
        serviceName: this.serviceName,
        defaultDimensions: { action: name },
      });
      this.byAction.set(name, metrics);
    }
    return metrics;
  }
}
