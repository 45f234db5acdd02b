import { setTimeout as delay } from 'node:timers/promises';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { isRetryableAwsError } from '../config/aws-errors.ts';
import { unlessAborted } from '../config/unless-aborted.ts';
import { fullJitterMs } from '../tanium/retry-policy.ts';

export interface PutEventsRetryOptions {
  /** PutEvents calls at most, the first included. */
  attempts: number;
  /** Base of the exponential backoff between calls (full jitter, capped at 2 s). */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
  /**
   * Aborted when the caller can wait no longer (the invocation is about to end): the call in flight is
   * cancelled, no wait or call follows, and the entries not yet accepted are reported as `ABORTED_CODE`.
   */
  signal?: AbortSignal;
}

export interface EntryError {
  /** Index into the entries given. */
  index: number;
  code: string;
  message: string;
}

export interface PutEventsOutcome {
  calls: number;
  /** The entries still refused after the last attempt (by index), and why, the last time each was sent. */
  errors: EntryError[];
}

/**
 * The code of entries left pending when a later PutEvents call threw a retryable error (a timeout, a
 * reset, throttling): the message names the error.
 */
export const CALL_FAILED_CODE = 'CallFailed';

/**
 * Entry error codes worth sending again (PutEventsResultEntry: InternalFailure and ThrottlingException
 * are the retryable ones). `UnknownError` stands for an entry without an outcome. Every other code
 * (InvalidArgument, MalformedDetail, AccessDeniedException, NotAuthorizedForSourceException, ...) says
 * the same entry would be refused again.
 */
const RETRYABLE_ENTRY_CODES = new Set([
  'InternalFailure',
  'ThrottlingException',
  'UnknownError',
  CALL_FAILED_CODE,
]);

export function isRetryableEntryCode(code: string): boolean {
  return RETRYABLE_ENTRY_CODES.has(code);
}

/** The longest wait between two PutEvents calls (before jitter). */
const MAX_DELAY_MS = 2000;

/** The code of the entries left unsent because the signal was aborted. */
export const ABORTED_CODE = 'Aborted';

function reasonText(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}

/**
 * PutEvents with the per-entry retry the API needs: a 200 answer can still report failed entries
 * (throttling, internal errors), and only those are sent again, with backoff and jitter. An entry refused
 * for a reason that would not change (an invalid or unauthorised entry) is not sent again: it is reported
 * at once. A failure count without per-entry outcomes sends them all again. An error thrown by the first
 * call propagates (the SDK has already retried what it considers retryable); thrown by a later one, it
 * fails only the entries still pending, under the error's name, since earlier calls published the rest.
 * Once `signal` is aborted
 * nothing more is sent or awaited, and the entries not accepted yet come back as `ABORTED_CODE` errors.
 */
export async function putEventsWithRetry(
  client: EventBridgeClient,
  entries: PutEventsRequestEntry[],
  options: PutEventsRetryOptions,
): Promise<PutEventsOutcome> {
  // Fewer than one call would send nothing and report nothing: every entry lost without a word.
  if (!Number.isInteger(options.attempts) || options.attempts < 1) {
    throw new RangeError(`PutEvents attempts must be a whole number of at least 1, not ${options.attempts}`);
  }
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const random = options.random ?? Math.random;
  const base = options.baseDelayMs ?? 100;
  const { signal } = options;
  let pending = entries.map((_, index) => index);
  const final: EntryError[] = [];
  let retryable: EntryError[] = [];
  let calls = 0;
  for (let attempt = 1; attempt <= options.attempts && pending.length > 0; attempt++) {
    let response: PutEventsCommandOutput;
    try {
      if (attempt > 1) {
        await unlessAborted(sleep(fullJitterMs(attempt - 1, base, MAX_DELAY_MS, random)), signal);
      }
      if (signal?.aborted) throw signal.reason;
      calls++;
      const command = new PutEventsCommand({ Entries: pending.map((index) => entries[index]!) });
      const sent = signal ? client.send(command, { abortSignal: signal }) : client.send(command);
      response = await unlessAborted(sent, signal);
    } catch (error) {
      if (signal?.aborted) {
        // Out of time: what earlier calls accepted stays accepted; only the rest is reported unsent.
        const message = reasonText(signal);
        retryable = pending.map((index) => ({ index, code: ABORTED_CODE, message }));
        break;
      }
      // Thrown before anything went out: the caller reports the call's own error.
      if (pending.length === entries.length) throw error;
      // An earlier call published the others: failing them too would have them sent again (a second
      // result, a repeated alert). Only the entries still pending fail, under the call's error.
      const named = error instanceof Error ? error : undefined;
      const name = named?.name && named.name !== 'Error' ? named.name : 'RequestFailed';
      const message = named ? `${name}: ${named.message}` : String(error);
      const code = isRetryableAwsError(error) ? CALL_FAILED_CODE : name;
      retryable = pending.map((index) => ({ index, code, message }));
      break;
    }
    retryable = [];
    let refused = 0;
    for (const [i, index] of pending.entries()) {
      const outcome = response.Entries?.[i];
      if (outcome && !outcome.ErrorCode) continue;
      const code = outcome?.ErrorCode ?? 'UnknownError';
      const message = outcome?.ErrorMessage ?? (outcome ? 'no error message' : 'no entry outcome returned');
      const error = { index, code, message };
      refused++;
      (isRetryableEntryCode(code) ? retryable : final).push(error);
    }
    if (refused === 0 && (response.FailedEntryCount ?? 0) > 0) {
      // A failure count without per-entry codes: nothing tells which ones, so all of them go again.
      retryable = pending.map((index) => ({
        index,
        code: 'UnknownError',
        message: 'a failure count without entry outcomes',
      }));
    }
    pending = retryable.map((error) => error.index);
  }
  const errors = [...final, ...retryable].sort((a, b) => a.index - b.index);
  return { calls, errors };
}
