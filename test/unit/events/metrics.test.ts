import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  METRIC_NAMES,
  PowertoolsActionMetrics,
  type RequestObservation,
} from '../../../shared/events/metrics.ts';
import { jsonLinesWrittenBy, linesWrittenBy } from '../../helpers/stdout.ts';

interface EmfDocument {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  action: string;
  [metric: string]: unknown;
}

/** The EMF documents written while `run` runs. */
function emitted(run: () => void): EmfDocument[] {
  return jsonLinesWrittenBy(run).filter((line) => '_aws' in line) as unknown as EmfDocument[];
}

describe('per-action metrics', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes one EMF document per action per invocation, counts summed and every duration kept', () => {
    const metrics = new PowertoolsActionMetrics({
      namespace: 'TaniumTR',
      serviceName: 'tanium-tr-connections',
    });
    const documents = emitted(() => {
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 12 });
      metrics.record({ action: 'list connections', status: 'failed', retrying: true, durationMs: 30 });
      metrics.record({ action: 'list connections', status: 'failed', retrying: false, durationMs: 7 });
      metrics.record({ action: 'get endpoint', status: 'success', retrying: false, durationMs: 5 });
      metrics.flush();
    });

    expect(documents).toHaveLength(2);
    const list = documents.find((document) => document.action === 'list connections');
    expect(list).toMatchObject({
      [METRIC_NAMES.requests]: 3,
      [METRIC_NAMES.failures]: 2,
      [METRIC_NAMES.retries]: 1,
      [METRIC_NAMES.duration]: [12, 30, 7],
      service: 'tanium-tr-connections',
    });
    const directive = list?._aws.CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe('TaniumTR');
    // The stack's alarms on these metrics name exactly these dimensions.
    expect(directive?.Dimensions).toEqual([['service', 'action']]);
    expect(documents.find((document) => document.action === 'get endpoint')).toMatchObject({
      [METRIC_NAMES.requests]: 1,
      [METRIC_NAMES.failures]: 0,
      [METRIC_NAMES.retries]: 0,
      [METRIC_NAMES.duration]: 5,
    });
  });

  it('counts results whose idempotency record could not be completed, only where there were some', () => {
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'svc' });
    const documents = emitted(() => {
      metrics.record({ action: 'close connection', status: 'success', retrying: false, durationMs: 3 });
      metrics.record({
        action: 'close connection',
        status: 'success',
        retrying: false,
        durationMs: 4,
        unrecorded: true,
      });
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 2 });
      metrics.flush();
    });

    const close = documents.find((document) => document.action === 'close connection');
    const list = documents.find((document) => document.action === 'list connections');
    expect(close?.[METRIC_NAMES.unrecorded]).toBe(1);
    expect(list).not.toHaveProperty(METRIC_NAMES.unrecorded);
  });

  it('counts replaced results per function (dimension service only), once per invocation that had some', () => {
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'connections' });
    const documents = emitted(() => {
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 2 });
      metrics.replaced();
      metrics.replaced();
      metrics.flush();
    });
    const next = emitted(() => {
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 2 });
      metrics.flush();
    });

    const family = documents.find((document) => METRIC_NAMES.replaced in document);
    expect(family).toMatchObject({ [METRIC_NAMES.replaced]: 2, service: 'connections' });
    // The stack's alarm names exactly this dimension: any action, known or not, counts.
    expect(family?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
    expect(documents.filter((document) => document.action === 'list connections')).toHaveLength(1);
    // The next invocation was written, without the replaced count: an empty flush would not show it
    expect(next.filter((document) => document.action === 'list connections')).toHaveLength(1);
    expect(next.some((document) => METRIC_NAMES.replaced in document)).toBe(false);
  });

  it('counts final failures only the deployment can fix, and unpublished results, per function', () => {
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'connections' });
    const failed = (more: Partial<RequestObservation> = {}) =>
      metrics.record({
        action: 'close connection',
        status: 'failed',
        retrying: false,
        durationMs: 1,
        ...more,
      });
    const documents = emitted(() => {
      for (let i = 0; i < 4; i++) failed({ serviceFailure: true });
      // A bad function setting on an attempt before the last counts too; other failures, and a stored
      // failure replayed, do not
      failed({ serviceFailure: true, retrying: true });
      failed();
      failed({ serviceFailure: true, replayed: true });
      metrics.unpublished();
      metrics.flush();
    });

    const family = documents.find((document) => METRIC_NAMES.serviceFailures in document);
    expect(family).toMatchObject({
      [METRIC_NAMES.serviceFailures]: 5,
      [METRIC_NAMES.unpublished]: 1,
      service: 'connections',
    });
    expect(family).not.toHaveProperty(METRIC_NAMES.replaced);
    expect(family?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
  });

  it('counts writes of unknown outcome per function, but not their replays', () => {
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'snapshots' });
    const failed = (more: Partial<RequestObservation> = {}) =>
      metrics.record({
        action: 'create snapshot',
        status: 'failed',
        retrying: false,
        durationMs: 1,
        ...more,
      });
    const documents = emitted(() => {
      failed({ unknownOutcome: true });
      failed({ unknownOutcome: true });
      failed({ unknownOutcome: true, replayed: true });
      failed();
      metrics.flush();
    });

    const family = documents.find((document) => METRIC_NAMES.unknownOutcomes in document);
    expect(family).toMatchObject({ [METRIC_NAMES.unknownOutcomes]: 2, service: 'snapshots' });
    expect(family).not.toHaveProperty(METRIC_NAMES.serviceFailures);
    expect(family?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
  });

  it('starts every invocation from zero and writes nothing for an invocation without requests', () => {
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'svc' });
    emitted(() => {
      metrics.record({ action: 'list connections', status: 'failed', retrying: false, durationMs: 3 });
      metrics.flush();
    });
    expect(emitted(() => metrics.flush())).toHaveLength(0);
    const next = emitted(() => {
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 4 });
      metrics.flush();
    });
    expect(next[0]).toMatchObject({
      [METRIC_NAMES.requests]: 1,
      [METRIC_NAMES.failures]: 0,
      [METRIC_NAMES.duration]: 4,
    });
  });

  it('writes only the action documents, no line of an empty per-function document, when nothing counted there', () => {
    // Prepare
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'svc' });
    metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 3 });

    // Act: this invocation's flush, then one of an invocation without requests
    const lines = linesWrittenBy(() => {
      metrics.flush();
      metrics.flush();
    });

    // Assess: Powertools warns on stderr, in plain text, of a document published with no metric in it
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ action: 'list connections' });
  });

  it("writes the other documents when one fails, and none of a failed flush's counts again later", () => {
    // Prepare: writing the first action's document fails
    const metrics = new PowertoolsActionMetrics({ namespace: 'TaniumTR', serviceName: 'svc' });
    vi.spyOn(Metrics.prototype, 'publishStoredMetrics').mockImplementationOnce(() => {
      throw new Error('stdout is gone');
    });
    metrics.record({ action: 'list connections', status: 'failed', retrying: false, durationMs: 3 });
    metrics.record({ action: 'get endpoint', status: 'success', retrying: false, durationMs: 2 });
    metrics.replaced();
    let failure: unknown;
    const flushed = emitted(() => {
      try {
        metrics.flush();
      } catch (error) {
        failure = error;
      }
    });

    // Act
    const next = emitted(() => {
      metrics.record({ action: 'list connections', status: 'success', retrying: false, durationMs: 4 });
      metrics.flush();
    });

    // Assess: the failure is reported after the others went out; the next invocation has its own only
    expect((failure as Error).message).toBe('stdout is gone');
    expect(flushed.map((document) => document.action ?? 'family')).toEqual(['get endpoint', 'family']);
    expect(next).toHaveLength(1);
    expect(next[0]).toMatchObject({ [METRIC_NAMES.requests]: 1, [METRIC_NAMES.failures]: 0 });
  });
});
