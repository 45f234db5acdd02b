import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { ResultDetail } from '../../shared/events/result.ts';
import type { QueueRef } from './aws-resources.ts';
import { deleteRecords, receiveRecords } from './sqs-event-source.ts';

/** Reads the results queue and hands each `Action Result` detail to whoever waits for its request id. */
export class ResultListener {
  private readonly sqs: SQSClient;
  private readonly queue: QueueRef;
  /** Per request id, a check for each pending `waitFor`: two may wait for the same id (its 1st and 2nd result). */
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly arrived = new Map<string, ResultDetail[]>();
  private readonly onResult: ((detail: ResultDetail) => void) | undefined;

  constructor(sqs: SQSClient, queue: QueueRef, onResult?: (detail: ResultDetail) => void) {
    this.sqs = sqs;
    this.queue = queue;
    this.onResult = onResult;
  }

  /** Polls until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let records: SQSRecord[];
      try {
        records = await receiveRecords(this.sqs, this.queue, { waitSeconds: 1, abortSignal: signal });
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      let unreadable: string | undefined;
      for (const record of records) {
        const detail = readResult(record.body);
        if (!detail) {
          unreadable ??= record.body.slice(0, 200);
          continue;
        }
        this.onResult?.(detail);
        const list = this.arrived.get(detail.requestId) ?? [];
        list.push(detail);
        this.arrived.set(detail.requestId, list);
        for (const check of this.waiting.get(detail.requestId) ?? []) check();
      }
      await deleteRecords(this.sqs, this.queue, records);
      // Deleted first, so it is reported once instead of on every redelivery.
      if (unreadable !== undefined)
        throw new Error(`Not an Action Result event on the results queue: ${unreadable}`);
    }
  }

  /** Every result that arrived for `requestId` so far. */
  resultsFor(requestId: string): ResultDetail[] {
    return this.arrived.get(requestId) ?? [];
  }

  /** Resolves with the `count`-th result of `requestId` (1 = the first). */
  waitFor(requestId: string, timeoutMs: number, count = 1): Promise<ResultDetail> {
    const have = this.resultsFor(requestId);
    if (have.length >= count) return Promise.resolve(have[count - 1] as ResultDetail);
    return new Promise((resolve, reject) => {
      const checks = this.waiting.get(requestId) ?? new Set<() => void>();
      this.waiting.set(requestId, checks);
      const stopWaiting = () => {
        checks.delete(check);
        if (checks.size === 0) this.waiting.delete(requestId);
      };
      const timer = setTimeout(() => {
        stopWaiting();
        reject(
          new Error(
            `No result for request ${requestId} within ${Math.round(timeoutMs / 1000)} s (a request whose function failed every attempt is in its family's dead-letter queue)`,
          ),
        );
      }, timeoutMs);
      // A wait cut short by Ctrl-C must not keep the process alive.
      timer.unref();
      const check = () => {
        const all = this.resultsFor(requestId);
        if (all.length < count) return;
        clearTimeout(timer);
        stopWaiting();
        resolve(all[count - 1] as ResultDetail);
      };
      checks.add(check);
    });
  }
}

/** The result detail of an `Action Result` event body, or undefined when the body is not one. */
function readResult(body: string): ResultDetail | undefined {
  try {
    const event = JSON.parse(body) as { detail?: ResultDetail };
    return typeof event.detail?.requestId === 'string' ? event.detail : undefined;
  } catch {
    return undefined;
  }
}
