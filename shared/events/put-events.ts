import { setTimeout as delay } from 'node:timers/promises';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';

export interface PutEventsRetryOptions {
  /** PutEvents calls at most, the first included. */
  attempts: number;
  /** Base of the exponential backoff between calls (full jitter, capped at 2 s). */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
}

export interface PutEventsOutcome {
  calls: number;
  /** Indexes (into the entries given) of the entries still refused after the last attempt. */
  failed: number[];
  /** The error codes of the last attempt, and the last `code: message` seen. */
  codes: string[];
  lastError: string;
}

/**
 * PutEvents with the per-entry retry the API needs: a 200 answer can still report failed entries
 * (throttling, internal errors), and only those are sent again, with backoff and jitter. A failure count
 * without per-entry outcomes sends them all again. Errors thrown by the call itself propagate: the SDK
 * has already retried what it considers retryable.
 */
export async function putEventsWithRetry(
  client: EventBridgeClient,
  entries: PutEventsRequestEntry[],
  options: PutEventsRetryOptions,
): Promise<PutEventsOutcome> {
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const random = options.random ?? Math.random;
  const base = options.baseDelayMs ?? 100;
  let pending = entries.map((_, index) => index);
  let calls = 0;
  let lastError = '';
  let codes = new Set<string>();
  for (let attempt = 1; attempt <= options.attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(random() * Math.min(2000, base * 2 ** (attempt - 2)));
    calls++;
    codes = new Set();
    const response = await client.send(
      new PutEventsCommand({ Entries: pending.map((index) => entries[index]!) }),
    );
    const failed = pending.filter((_, i) => {
      const outcome = response.Entries?.[i];
      if (outcome && !outcome.ErrorCode) return false;
      const code = outcome?.ErrorCode ?? 'UnknownError';
      codes.add(code);
      lastError = `${code}: ${outcome?.ErrorMessage ?? 'no entry outcome returned'}`;
      return true;
    });
    // A failure count without per-entry codes: nothing tells which ones, so all of them go again.
    pending = failed.length === 0 && (response.FailedEntryCount ?? 0) > 0 ? pending : failed;
    if (failed.length === 0 && pending.length > 0) {
      codes.add('UnknownError');
      lastError = 'UnknownError: a failure count without entry outcomes';
    }
  }
  return { calls, failed: pending, codes: [...codes], lastError };
}
