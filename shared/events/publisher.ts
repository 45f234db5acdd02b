import { setTimeout as delay } from 'node:timers/promises';
import { EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { awsClientConfig } from '../config/aws-client-config.ts';
import { cutTo, withSentence } from '../config/message-text.ts';
import { IDEMPOTENCY_RECORD_DAYS } from '../config/retention.ts';
import { sqsSafeJson } from '../config/sqs-safe-json.ts';
import { unlessAborted } from '../config/unless-aborted.ts';
import { ConfigError, TaniumError, toTaniumError } from '../tanium/errors.ts';
import { type ResultStore, resultKey } from '../vault/result-store.ts';
import { entrySize, MAX_ENTRIES_PER_CALL, MAX_ENTRY_BYTES, MAX_EVENT_BYTES } from './eventbridge-limits.ts';
import { isRetryableEntryCode, type PutEventsOutcome, putEventsWithRetry } from './put-events.ts';
import {
  markReplacement,
  RESULT_DETAIL_TYPE,
  RESULT_SOURCE,
  type ResultDetail,
  replacementOf,
  unserialisableResult,
} from './result.ts';

/** Lambda's limit for what a synchronous invocation returns: a larger result is returned as its reference. */
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

export interface PublishOptions {
  /**
   * No redelivery will follow, so a failure a retry could cure is reported in the event instead of
   * failing the record into the DLQ with no result at all.
   */
  lastAttempt?: boolean;
  /**
   * False for a mutation whose idempotency record could not be completed: nothing replays its result, so
   * a redelivery (or a caller resending) would run it again. It is then published now whatever the
   * vault does, as on a last attempt, and a failed stand-in for it is not retryable.
   */
  replayable?: boolean;
  /**
   * Aborted when the invocation is about to end: publishing stops (calls in flight are cancelled) and
   * fails with a retryable error, so the handler still returns which records to redeliver.
   */
  signal?: AbortSignal;
}

/** Where result details go: EventBridge in Lambda, something else in tests or on a console. */
export interface ResultSink {
  /**
   * Publishes the result; resolves with what a caller (a direct invocation) gets back: `detail` itself
   * up to the 6 MB Lambda can return, and above that the detail as published (`dataRef`, no `data`); or
   * the result published in its place (`replacementOf`): a failed stand-in for a result that cannot be
   * serialised, and for an oversized one the vault did not store, or that result without the request's
   * parameter and context when they are what made it too big.
   */
  publish(detail: ResultDetail, options?: PublishOptions): Promise<ResultDetail>;
  /**
   * Announces a result still being worked on (a record of the batch in progress), so results that are
   * ready wait for it to share a call instead of going out one by one. Returns the release, called once
   * the result was handed to `publish` or will not be.
   */
  hold?(): () => void;
}

/** The longest a ready result waits for the results still held before it is sent anyway. */
export const MAX_HOLD_MS = 25;
/** Attempts for an entry PutEvents reports as failed (the SDK retries thrown errors itself). */
export const PUBLISH_ATTEMPTS = 4;
const MESSAGE_LIMIT_WHEN_STRIPPED = 2048;
/** Characters of the vault's error a stand-in message keeps, so that the action's own words still fit. */
const STORE_ERROR_CHARS = 512;
/**
 * Characters of the request id and the action kept in an event stripped to fit. A request id is at most
 * 256 characters when validated; an unknown action's name is whatever the sender wrote.
 */
const NAME_LIMIT_WHEN_STRIPPED = 256;

export interface EventBridgeSinkOptions {
  busName: string;
  client?: EventBridgeClient;
  /**
   * Where a result over the size limit goes. Without one, such a result is answered as a function
   * without VAULT_BUCKET answers it: a failed result saying the vault is not set.
   */
  store?: () => ResultStore;
  sleep?: (ms: number) => Promise<void>;
}

/** The store of a sink given none, failing as the functions' result store does without a bucket. */
function noVault(): ResultStore {
  throw new ConfigError('VAULT_BUCKET is not set: results too big for an EventBridge event are stored there');
}

/**
 * Publishes one `Action Result` event per result; results ready together share a PutEvents call.
 * PutEvents can accept the call and still fail some entries (throttling, internal errors): every entry's
 * outcome is checked and only the failed entries are sent again, with backoff. A result over the entry limit is stored whole under `results/` and the event carries
 * `dataRef` instead of `data`.
 */
export class EventBridgeResultSink implements ResultSink {
  readonly busName: string;
  private client: EventBridgeClient | undefined;
  private readonly store: () => ResultStore;
  private readonly sleep: (ms: number) => Promise<void>;
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private holds = 0;
  private scheduled: { cancel(): void; held: boolean } | undefined;

  constructor(options: EventBridgeSinkOptions) {
    this.busName = options.busName;
    this.client = options.client;
    this.store = options.store ?? noVault;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
  }

  async publish(detail: ResultDetail, options: PublishOptions = {}): Promise<ResultDetail> {
    let outcome: EntryOutcome;
    try {
      outcome = await this.entryFor(detail, options);
    } catch (error) {
      if (!(error instanceof Unserialisable)) throw error;
      // No retry would help. The stand-in goes through the same size checks as any result.
      outcome = await this.entryFor(unserialisableResult(detail, error.cause), options);
    }
    await this.put(outcome.entry, options.signal);
    return outcome.returned;
  }

  hold(): () => void {
    this.holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      if (this.queue.length > 0) this.schedule();
    };
  }

  /** `event` as the entry to put and as what a caller gets back. */
  private published(event: ResultDetail): EntryOutcome {
    return { entry: this.entry(event), returned: event };
  }

  private entry(detail: unknown): PutEventsRequestEntry {
    return {
      EventBusName: this.busName,
      Source: RESULT_SOURCE,
      DetailType: RESULT_DETAIL_TYPE,
      Detail: sqsSafeJson(JSON.stringify(detail)),
    };
  }

  /** The event for `detail`, and what a caller gets back (see ResultSink.publish). */
  private async entryFor(detail: ResultDetail, options: PublishOptions): Promise<EntryOutcome> {
    const { signal, replayable = true } = options;
    let whole: PutEventsRequestEntry;
    try {
      whole = this.entry(detail);
    } catch (error) {
      // JSON.stringify overflows the call stack on a value nested thousands deep.
      throw new Unserialisable(error);
    }
    if (entrySize(whole) <= MAX_EVENT_BYTES) return { entry: whole, returned: detail };
    let dataRef: ResultDetail['dataRef'];
    try {
      dataRef = await unlessAborted(
        this.store().putResult(resultKey(detail.requestId, whole.Detail ?? ''), whole.Detail ?? '', signal),
        signal,
      );
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal);
      const failure = toTaniumError(error);
      if (failure.retryable && !options.lastAttempt && replayable) throw failure;
      // Redelivery cannot fix a refused write, none follows the last attempt, and none may follow an
      // unrecorded result: tell the requester instead of looping to the DLQ or reaching it with no result.
      return this.unstored(detail, failure, replayable);
    }
    // A caller gets the whole result back unless Lambda could not return it; then the reference.
    const returnable = Buffer.byteLength(whole.Detail ?? '') <= MAX_RESPONSE_BYTES;
    const { data: _data, ...withoutData } = detail;
    const referenced = this.published({ ...withoutData, dataRef });
    if (entrySize(referenced.entry) <= MAX_EVENT_BYTES) {
      return returnable ? { ...referenced, returned: detail } : referenced;
    }
    // Huge parameters, context or summary: the event keeps what identifies the request, `parameter`
    // empty, then without the summary or the context, whichever is too big, then without both; the
    // stored object has the rest.
    const base: ResultDetail = {
      ...identity(detail),
      status: detail.status,
      message: cutTo(detail.message, MESSAGE_LIMIT_WHEN_STRIPPED),
      parameter: {},
      summary: detail.summary ?? {},
      ...(detail.error ? { error: detail.error } : {}),
      context: detail.context,
      startedAt: detail.startedAt,
      durationMs: detail.durationMs,
      dataRef,
    };
    const stripped = this.firstThatFits([
      base,
      { ...base, summary: {} },
      { ...base, context: {} },
      { ...base, summary: {}, context: {} },
    ]);
    if (returnable) return { entry: stripped.entry, returned: detail };
    // Parameters or context near the 6 MB a direct invocation may carry: then only what the event has.
    const returned =
      Buffer.byteLength(JSON.stringify(referenced.returned)) <= MAX_RESPONSE_BYTES
        ? referenced.returned
        : stripped.returned;
    return { entry: stripped.entry, returned };
  }

  /**
   * The event for a result too big for an EventBridge event that the vault did not store. What makes a
   * result that big is often the request's own `parameter` or `context` (an intel doc's text, a large
   * context): without them, the action's own status, message, data and summary still go out, so a
   * mutation that ran is not reported as failed for its request's size. Otherwise a failed result stands
   * in for it. Either way the event is marked as a replacement, which the handler logs.
   */
  private unstored(detail: ResultDetail, failure: TaniumError, replayable: boolean): EntryOutcome {
    const notStored = `the result is larger than an EventBridge event allows and could not be stored: ${cutTo(failure.message, STORE_ERROR_CHARS)}`;
    // A caller resends what is retryable: with no record to replay, that could run a mutation twice.
    const resendable = (error: ResultDetail['error']) =>
      error === undefined || replayable ? error : { ...error, retryable: false };
    const { dataRef: _ref, error: ownError, ...rest } = detail;
    const own: ResultDetail = { ...rest, ...(ownError ? { error: resendable(ownError) } : {}) };
    // An action that failed keeps its own reason and error kind: the caller must still learn why it
    // failed, and a playbook branches on the kind.
    const stored = capitalised(notStored);
    const failed: ResultDetail = {
      ...own,
      status: 'failed',
      message:
        detail.status === 'success'
          ? succeeded(stored, detail, replayable)
          : followedBy(detail.message, stored),
      data: [],
      summary: {},
      error: resendable(detail.status === 'success' ? failure.info : (ownError ?? failure.info)),
    };
    // A failed stand-in already (a result that could not be serialised) stays one, reduced or not.
    const reduced = replacementOf(detail) ?? 'reduced';
    // Best first: the action's own result before a failed one; the caller's context, which it matches
    // results by, is the last thing left out.
    return this.firstThatFits([
      ...withoutRequest(own, notStored).map((event) => markReplacement(event, reduced)),
      ...[failed, ...withoutRequest(failed, 'too large for an EventBridge event')].map((event) =>
        markReplacement(event, 'failed'),
      ),
    ]);
  }

  /**
   * The first of `events` that fits an EventBridge entry, else the last one, which its caller makes fit
   * (names and messages cut, nothing of the request's own).
   */
  private firstThatFits(events: readonly ResultDetail[]): EntryOutcome {
    let outcome: EntryOutcome | undefined;
    for (const event of events) {
      outcome = this.published(event);
      if (entrySize(outcome.entry) <= MAX_EVENT_BYTES) return outcome;
    }
    return outcome!;
  }

  /**
   * Queues the entry for the next PutEvents call, of up to 10 entries and 256 KB. The call goes out on
   * the next turn of the event loop, or, while results are still held (records of the same SQS batch
   * still running), once the last of them is released or after MAX_HOLD_MS, whichever comes first.
   */
  private put(entry: PutEventsRequestEntry, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    const size = entrySize(entry);
    return new Promise<void>((resolve, reject) => {
      if (this.queuedBytes + size > MAX_ENTRY_BYTES) this.flush();
      this.queue.push({ entry, size, resolve, reject, ...(signal ? { signal } : {}) });
      this.queuedBytes += size;
      if (this.queue.length >= MAX_ENTRIES_PER_CALL) this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    const held = this.holds > 0;
    if (this.scheduled) {
      // A pending immediate is already the soonest a call can go; a pending timer stays while results
      // are held and gives way to an immediate once none is.
      if (!this.scheduled.held || held) return;
      this.scheduled.cancel();
    }
    if (held) {
      const timer = setTimeout(() => this.flush(), MAX_HOLD_MS);
      this.scheduled = { held, cancel: () => clearTimeout(timer) };
    } else {
      const immediate = setImmediate(() => this.flush());
      this.scheduled = { held, cancel: () => clearImmediate(immediate) };
    }
  }

  private flush(): void {
    this.scheduled?.cancel();
    this.scheduled = undefined;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    if (batch.length === 0) return;
    // Whatever send() did not settle when it threw (a client that cannot be built, a failing sleep) fails
    // now instead of leaving its records waiting until the invocation times out.
    this.send(batch).catch((error: unknown) => {
      const failure = publishError(error instanceof Error ? error.message : String(error), error);
      for (const item of batch) item.reject(failure);
    });
  }

  /** Sends a batch, then again the entries PutEvents reported as failed, until none is left or attempts run out. */
  private async send(batch: Pending[]): Promise<void> {
    this.client ??= new EventBridgeClient(awsClientConfig());
    let outcome: PutEventsOutcome;
    try {
      outcome = await putEventsWithRetry(
        this.client,
        batch.map((item) => item.entry),
        { attempts: PUBLISH_ATTEMPTS, sleep: this.sleep, ...batchSignal(batch) },
      );
    } catch (error) {
      const failure = publishError(error instanceof Error ? error.message : String(error), error);
      for (const item of batch) item.reject(failure);
      return;
    }
    const errors = new Map(outcome.errors.map((error) => [error.index, error]));
    for (const [index, item] of batch.entries()) {
      const error = errors.get(index);
      if (!error) {
        item.resolve();
        continue;
      }
      // Still retryable: the record fails and SQS delivers it again (its stored result is replayed).
      const tries = isRetryableEntryCode(error.code) ? ` (after ${outcome.calls} attempts)` : '';
      item.reject(publishError(`${error.code}: ${error.message}${tries}`));
    }
  }
}

interface Pending {
  entry: PutEventsRequestEntry;
  size: number;
  resolve: () => void;
  reject: (error: Error) => void;
  signal?: AbortSignal;
}

/** A batch stops when the first of its results runs out of time (they all share one invocation). */
function batchSignal(batch: Pending[]): { signal?: AbortSignal } {
  const signals = [...new Set(batch.flatMap((item) => (item.signal ? [item.signal] : [])))];
  if (signals.length === 0) return {};
  return { signal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals) };
}

/** A result JSON.stringify could not serialise (its `cause`). */
class Unserialisable extends Error {
  constructor(cause: unknown) {
    super('the result cannot be serialised', { cause });
    this.name = 'Unserialisable';
  }
}

/** An event to put, and the detail a caller of `publish` gets back. */
interface EntryOutcome {
  entry: PutEventsRequestEntry;
  returned: ResultDetail;
}

/**
 * `message` and what the failed stand-in for a successful result adds: a caller told only "failed"
 * might send the request again under a new id and run a mutation twice. The same id replays a mutating
 * action's stored result while its record lives, unless none could be recorded (`replayable` false).
 */
function succeeded(message: string, detail: ResultDetail, replayable: boolean): string {
  if (detail.status !== 'success') return message;
  if (!replayable) {
    return withSentence(
      message,
      'The action itself succeeded, but its result could not be recorded: sending the request again may run it again',
    );
  }
  return withSentence(
    message,
    `The action itself succeeded: send the request again, with the same parameters and "requestId": ${JSON.stringify(detail.requestId)}, for its result (a mutating action is not run again within ${IDEMPOTENCY_RECORD_DAYS} days)`,
  );
}

/** `detail` without the request's `parameter`, then without its `context` too; `why` ends the message. */
function withoutRequest(detail: ResultDetail, why: string): ResultDetail[] {
  return [
    { ...detail, message: followedBy(detail.message, `Its parameter is left out: ${why}`), parameter: {} },
    {
      ...detail,
      ...identity(detail),
      message: followedBy(detail.message, `Its parameter and context are left out: ${why}`),
      parameter: {},
      context: {},
    },
  ];
}

/**
 * `message` and then `sentence` in at most MESSAGE_LIMIT_WHEN_STRIPPED characters: `message` is cut to
 * leave the sentence its room, as the sentence says why the event is not the whole result.
 */
function followedBy(message: string, sentence: string): string {
  const room = Math.max(1, MESSAGE_LIMIT_WHEN_STRIPPED - sentence.length - 2);
  return cutTo(withSentence(cutTo(message, room), sentence), MESSAGE_LIMIT_WHEN_STRIPPED);
}

function capitalised(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** The request id and the action as far as an event stripped to fit keeps them. */
function identity(detail: ResultDetail): { requestId: string; action: string } {
  return {
    requestId: cutTo(detail.requestId, NAME_LIMIT_WHEN_STRIPPED),
    action: cutTo(detail.action, NAME_LIMIT_WHEN_STRIPPED),
  };
}

function abortedError(signal: AbortSignal): TaniumError {
  const reason: unknown = signal.reason;
  return publishError(reason instanceof Error ? reason.message : String(reason), reason);
}

function publishError(reason: string, cause?: unknown): TaniumError {
  return new TaniumError('transient', `Unable to publish the result to EventBridge: ${reason}`, {
    retryable: true,
    cause,
  });
}
