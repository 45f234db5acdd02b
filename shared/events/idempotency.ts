import { gunzipSync, gzipSync } from 'node:zlib';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { isSoarContext } from '../actions/params.ts';
import { findAction } from '../actions/table.ts';
import type { ActionResult } from '../actions/types.ts';
import { awsClientConfig } from '../config/aws-client-config.ts';
import { isAwsRefusal } from '../config/aws-errors.ts';
import { IDEMPOTENCY_RECORD_DAYS } from '../config/retention.ts';
import { DeadlineError, TaniumError } from '../tanium/errors.ts';
import { UNKNOWN_OUTCOME_SUFFIX } from '../tanium/transport-errors.ts';
import { InvocationEnded, OwnRecordsPersistence, type PutScope, putScope } from './idempotency-store.ts';
import { PUBLISH_RESERVE_MS } from './time-budget.ts';

/** What a mutating request's record keeps: the result and when it ran, so a replay is identical. */
export interface StoredOutcome {
  result: ActionResult;
  startedAt: number;
  durationMs: number;
}

/** The payload hashed for the key (`requestId` + `action`) and for validation (`parameters`). */
export interface IdempotencyKey {
  requestId: string;
  /** The action's identifier, so both spellings of a name share one record. */
  action: string;
  parameters: Record<string, unknown>;
}

export interface IdempotentRun {
  outcome: StoredOutcome;
  /** True when the stored result was returned and the action did not run. */
  replayed: boolean;
  /**
   * Set when the action ran but its record could not be completed (an item over DynamoDB's 400 KB, the
   * table failing): why. The record stays in progress until it expires, and a later delivery runs the
   * action again.
   */
  recordError?: string;
}

/**
 * What the record keeps: the outcome without `parameter` (the request's own parameters, which payload
 * validation guarantees a replay was sent with again: often the bulk of a request, an inline intel
 * document; what Tanium's answer echoes of them, such as an uploaded document's `contents`, stays in
 * the result's data), as JSON text, gzipped above GZIP_ABOVE_BYTES. Text, because DynamoDB's marshalling refuses
 * values JSON takes (undefined, numbers beyond 2^53); gzipped, because a DynamoDB item stops at 400 KB
 * and a get file of a few hundred files is more than that as JSON (its hashes and keys repeat).
 */
type RecordedOutcome = { json: string } | { gzip: Uint8Array };

/** Outcomes up to this size are kept as plain text, readable in the table. */
export const GZIP_ABOVE_BYTES = 32 * 1024;

function recorded(outcome: StoredOutcome): RecordedOutcome {
  const { parameter: _parameter, ...result } = outcome.result;
  const json = JSON.stringify({ ...outcome, result });
  return Buffer.byteLength(json) <= GZIP_ABOVE_BYTES ? { json } : { gzip: gzipSync(json) };
}

/** Enough of an outcome's shape to publish it again; the rest passes through as stored. */
const recordedShape = z.object({
  result: z.looseObject({ status: z.enum(['success', 'failed']), message: z.string() }),
  startedAt: z.number(),
  durationMs: z.number(),
});

function replayedOutcome(record: unknown, key: IdempotencyKey): StoredOutcome {
  let parsed: unknown;
  try {
    const stored = record as Partial<{ json: unknown; gzip: unknown; result: unknown }>;
    if (stored?.result !== undefined) {
      // Written before outcomes were kept as text (records then lived 14 days): the outcome itself.
      parsed = stored;
    } else {
      const text =
        typeof stored?.json === 'string'
          ? stored.json
          : stored?.gzip instanceof Uint8Array
            ? gunzipSync(stored.gzip).toString('utf8')
            : undefined;
      if (text === undefined) throw new Error('it holds neither json nor gzip');
      parsed = JSON.parse(text);
    }
  } catch (error) {
    throw new UnreadableRecord(key, error instanceof Error ? error.message : String(error));
  }
  const outcome = recordedShape.safeParse(parsed);
  if (!outcome.success) throw new UnreadableRecord(key, 'it is not a stored outcome');
  const stored = parsed as Omit<StoredOutcome, 'result'> & { result: Omit<ActionResult, 'parameter'> };
  return { ...stored, result: { ...stored.result, parameter: key.parameters } };
}

export interface IdempotentExecutor {
  /**
   * `saveBy` (epoch ms) bounds the table at both ends of the action, each time given at least
   * MIN_SAVE_MS: the in-progress record must be in place by then, or the run is given up before the
   * action starts (a retryable failure); once the action has run, the completed record is waited for
   * until then, and a save still running is left to finish on its own and the run reported unrecorded.
   * A stuck table therefore cannot hold the result past the invocation's end.
   */
  execute(
    key: IdempotencyKey,
    run: () => Promise<StoredOutcome>,
    context?: Context,
    saveBy?: number,
    /** The SQS message the run is for: its record names it (see HeldByAnotherDelivery.holder). */
    messageId?: string,
  ): Promise<IdempotentRun>;
}

/** Lambda's longest invocation: the in-progress record's expiry when nothing tells when this one ends. */
const MAX_INVOCATION_MS = 15 * 60_000;

/** The least time the completed record is given, even for an action that ran up to its deadline. */
export const MIN_SAVE_MS = 1_000;

/** What the table is left to do once the run is over: complete its record, or delete it. */
type RecordWrite = 'complete' | 'delete';

class SaveTimedOut extends Error {
  constructor(write: RecordWrite) {
    super(
      write === 'complete'
        ? 'the table did not confirm the completed record before the invocation deadline'
        : 'the table did not confirm the delete of the in-progress record before the invocation deadline',
    );
    this.name = 'SaveTimedOut';
  }
}

/** The in-progress record was not confirmed in time: the action was not run. */
class StoreTimedOut extends Error {
  constructor() {
    super('it did not confirm the in-progress record before the invocation deadline');
    this.name = 'StoreTimedOut';
  }
}

/**
 * What a run throws when it cannot start the action (its credentials could not be read): the action
 * never ran, so nothing is stored, and the request fails with `reason`. Thrown from inside the step only
 * so that a replay, which does not need the credentials, is not refused for them.
 */
export class NotRun extends Error {
  readonly reason: unknown;
  /**
   * Why its in-progress record could not be deleted (in time), when it could not: the record then stays
   * until it expires with the invocation.
   */
  recordError: string | undefined;
  constructor(reason: unknown) {
    super('the action could not start', { cause: reason });
    this.name = 'NotRun';
    this.reason = reason;
  }
}

/** Thrown into Powertools when the in-progress record came after the run was given up: nothing runs. */
class RunAbandoned extends Error {
  constructor() {
    super('the run was given up before the in-progress record was confirmed');
    this.name = 'RunAbandoned';
  }
}

/** What the idempotent function tells the bound: whether the action may still start, and when it has run. */
interface RunHooks {
  mayStart(): boolean;
  ran(next: RecordWrite): void;
}

/**
 * The idempotent call `start` makes, bounded by `saveBy` as IdempotentExecutor.execute describes. The
 * action itself is not timed here: it has its own deadline.
 */
function boundedRun<T>(start: (hooks: RunHooks) => Promise<T>, saveBy: number | undefined): Promise<T> {
  let state: 'waiting' | 'running' | 'ran' | 'abandoned' = 'waiting';
  let timer: NodeJS.Timeout | undefined;
  let giveUp: (error: Error) => void = () => undefined;
  const gaveUp = new Promise<never>((_resolve, reject) => {
    giveUp = reject;
  });
  const work = start({
    mayStart: () => {
      if (state !== 'waiting') return false;
      state = 'running';
      return true;
    },
    ran: (next) => {
      state = 'ran';
      if (saveBy === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(() => giveUp(new SaveTimedOut(next)), Math.max(MIN_SAVE_MS, saveBy - Date.now()));
    },
  });
  if (saveBy === undefined) return work;
  timer = setTimeout(
    () => {
      if (state !== 'waiting') return;
      state = 'abandoned';
      giveUp(new StoreTimedOut());
    },
    // As for the completed record, at least MIN_SAVE_MS: an invocation that starts with its deadline
    // already past (a short timeout) can still replay a stored result.
    Math.max(MIN_SAVE_MS, saveBy - Date.now()),
  );
  // The call goes on after the bound gives up; its outcome no longer matters to anyone.
  work.catch(() => undefined);
  return Promise.race([work, gaveUp]).finally(() => clearTimeout(timer));
}

/** How long a record lives (see IDEMPOTENCY_RECORD_DAYS), the TTL Powertools writes. */
export const IDEMPOTENCY_EXPIRES_SECONDS = IDEMPOTENCY_RECORD_DAYS * 24 * 3600;

/** Thrown out of the idempotent function so Powertools deletes the in-progress record instead of storing it. */
class RetryableOutcome extends Error {
  readonly outcome: StoredOutcome;
  constructor(outcome: StoredOutcome) {
    super(outcome.result.message);
    this.name = 'RetryableOutcome';
    this.outcome = outcome;
  }
}

function isRetryable(outcome: StoredOutcome): boolean {
  return outcome.result.status === 'failed' && outcome.result.error?.retryable === true;
}

/**
 * The key as its parameters are hashed, which a later request with the same requestId must match.
 *
 * SOAR's own `context` (isSoarContext) is left out: it is no parameter of the action, and it changes
 * with every SOAR action run, so a bridge resending a request under its requestId must get its stored
 * result, not a refusal for other parameters. (A replay still echoes the `parameter` it was sent.)
 *
 * Powertools sorts the parameters before hashing them by building a new object with assignments, which
 * turns an own `__proto__` key (JSON text can hold one) into a prototype and loses it: a reused requestId
 * would then match with or without it. Such a key is renamed in the hashed copy; parameters without one,
 * nearly all, are hashed as they always were, so records already stored still match.
 *
 * Its sort also compares keys ignoring case and never calls two keys equal, so keys that differ only in
 * case (`Note`, `note`) stay in the order they came in, and a copy sending them in another order would be
 * refused for other parameters. An object holding such keys has them all renamed to their code units in
 * the hashed copy, which no two keys share and which sort the same whatever the order they came in.
 */
function withHashableParameters(key: IdempotencyKey): IdempotencyKey {
  let parameters = key.parameters;
  if (Object.hasOwn(parameters, 'context') && isSoarContext('context', parameters.context)) {
    const { context: _soar, ...rest } = parameters;
    parameters = rest;
  }
  if (hasOwnProtoKey(parameters)) parameters = renameProtoKeys(parameters);
  if (hasCaseTiedKeys(parameters)) parameters = renameCaseTiedKeys(parameters);
  return parameters === key.parameters ? key : { ...key, parameters };
}

const PROTO = '__proto__';
const RENAMED_PROTO = '__proto__ (own key)';

function hasOwnProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasOwnProtoKey);
  if (typeof value !== 'object' || value === null) return false;
  return Object.hasOwn(value, PROTO) || Object.values(value).some(hasOwnProtoKey);
}

function renameProtoKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(renameProtoKeys) as T;
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([name, item]) => [
      name === PROTO ? RENAMED_PROTO : name,
      renameProtoKeys(item),
    ]),
  ) as T;
}

function caseTied(keys: string[]): boolean {
  return new Set(keys.map((name) => name.toLowerCase())).size < keys.length;
}

function hasCaseTiedKeys(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasCaseTiedKeys);
  if (typeof value !== 'object' || value === null) return false;
  return caseTied(Object.keys(value)) || Object.values(value).some(hasCaseTiedKeys);
}

/** `case-tied ` and the name's UTF-16 code units in hex: lower case already, and one name each. */
function codeUnitName(name: string): string {
  let hex = '';
  for (let i = 0; i < name.length; i++) hex += name.charCodeAt(i).toString(16).padStart(4, '0');
  return `case-tied ${hex}`;
}

function renameCaseTiedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(renameCaseTiedKeys) as T;
  if (typeof value !== 'object' || value === null) return value;
  const rename = caseTied(Object.keys(value)) ? codeUnitName : (name: string) => name;
  return Object.fromEntries(
    Object.entries(value).map(([name, item]) => [rename(name), renameCaseTiedKeys(item)]),
  ) as T;
}

function causeText(error: Error): string {
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

/**
 * Powertools idempotency over DynamoDB (`STATE_TABLE`, key `id`, TTL `expiration`). Powertools stores
 * what the function returns and deletes the record when it throws: successes and final failures are
 * returned (a redelivery replays them without calling Tanium), transient failures are thrown so a
 * redelivery runs the action for real.
 */
export function createIdempotentExecutor(options: {
  tableName: string;
  /** The records' key prefix (`idempotencyKeyPrefix(family)`), which the function's grant is limited to. */
  keyPrefix: string;
  client?: DynamoDBClient;
  expiresAfterSeconds?: number;
}): IdempotentExecutor {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[requestId, action]',
    payloadValidationJmesPath: 'parameters',
    expiresAfterSeconds: options.expiresAfterSeconds ?? IDEMPOTENCY_EXPIRES_SECONDS,
    throwOnNoIdempotencyKey: true,
  });
  const persistenceStore = new OwnRecordsPersistence({
    tableName: options.tableName,
    client: options.client ?? new DynamoDBClient(awsClientConfig()),
  });
  const idempotent = makeIdempotent(
    async (_key: IdempotencyKey, run: () => Promise<StoredOutcome>): Promise<RecordedOutcome> => {
      const outcome = await run();
      if (isRetryable(outcome)) throw new RetryableOutcome(outcome);
      return recorded(outcome);
    },
    { persistenceStore, config, keyPrefix: options.keyPrefix },
  );

  return {
    async execute(key, run, context, saveBy, messageId) {
      const scope: PutScope = {
        ...(messageId === undefined ? {} : { messageId }),
        invocationEnd: context
          ? Date.now() + context.getRemainingTimeInMillis()
          : saveBy === undefined
            ? Date.now() + MAX_INVOCATION_MS
            : saveBy + PUBLISH_RESERVE_MS,
      };
      // The in-progress record expires with the invocation, so a crashed attempt does not block redelivery.
      if (context) config.registerLambdaContext(context);
      let produced: StoredOutcome | undefined;
      let notRun: NotRun | undefined;
      try {
        const record = await boundedRun(
          (hooks) =>
            putScope.run(scope, () =>
              idempotent(withHashableParameters(key), async () => {
                // Powertools then deletes the in-progress record it has just written.
                if (!hooks.mayStart()) throw new RunAbandoned();
                try {
                  produced = await run();
                } catch (error) {
                  // Powertools deletes the in-progress record next: bounded like the completion's write.
                  if (error instanceof NotRun) {
                    notRun = error;
                    hooks.ran('delete');
                  }
                  throw error;
                }
                // A transient outcome is thrown back out, and Powertools deletes its record.
                hooks.ran(isRetryable(produced) ? 'delete' : 'complete');
                return produced;
              }),
            ),
          saveBy,
        );
        if (produced !== undefined) return { outcome: produced, replayed: false };
        return { outcome: replayedOutcome(record, key), replayed: true };
      } catch (error) {
        if (error instanceof RetryableOutcome) return { outcome: error.outcome, replayed: false };
        if (error instanceof UnreadableRecord) throw error;
        if (notRun !== undefined) {
          // Its own failure, not the store's: the delete that failed or timed out only leaves the record.
          if (error !== notRun)
            notRun.recordError = error instanceof Error ? causeText(error) : String(error);
          throw notRun;
        }
        const name = error instanceof Error ? error.name : '';
        // The action ran but its record could not be completed (or deleted): a final result is published
        // now, since running it again on redelivery would repeat the call; a transient one is retried anyway.
        if (produced !== undefined) {
          const recordError = error instanceof Error ? causeText(error) : String(error);
          return { outcome: produced, replayed: false, recordError };
        }
        if (name === 'IdempotencyValidationError') {
          throw new IdempotencyConflict(key);
        }
        if (name === 'IdempotencyAlreadyInProgressError')
          throw new HeldByAnotherDelivery(key, error, scope.heldBy);
        if (error instanceof Error && error.cause instanceof InvocationEnded)
          throw new RecordNotWritten(error);
        const reason = error instanceof Error ? causeText(error) : String(error);
        // A refusal (the table deleted, the function's access to it or its key removed) is the
        // deployment's to fix: a config failure, counted by ServiceFailures at every attempt instead of
        // surfacing only in the DLQ minutes later. Still retried, so a redelivery reaches the fix.
        // AWS's texts rarely name the table (ResourceNotFound names none): the message does.
        const store = `The idempotency store (DynamoDB table ${options.tableName})`;
        if (isAwsRefusal(error)) {
          throw new TaniumError('config', `${store} refused the call: ${reason}`, {
            retryable: true,
            cause: error,
          });
        }
        throw new TaniumError('transient', `${store} is unavailable: ${reason}`, {
          retryable: true,
          cause: error,
        });
      }
    },
  };
}

/**
 * The action's display name (`close connection`), as every other message names it; the key keeps the
 * identifier, which stored records are matched by.
 */
function actionName(key: IdempotencyKey): string {
  return findAction(key.action)?.name ?? key.action;
}

/**
 * The request's record is completed but its outcome cannot be read back: the action ran before, so it
 * is not run again, and no delivery can do better than say so.
 */
export class UnreadableRecord extends TaniumError {
  constructor(key: IdempotencyKey, reason: string) {
    super(
      'unknown_outcome',
      `Request ${key.requestId} ran '${actionName(key)}' before, but its stored result cannot be read (${reason}).${UNKNOWN_OUTCOME_SUFFIX}`,
    );
    this.name = 'UnreadableRecord';
  }
}

/**
 * The invocation ended before the request's in-progress record could be written (see
 * OwnRecordsPersistence): nothing was written or run, and a redelivery runs it.
 */
export class RecordNotWritten extends DeadlineError {
  constructor(cause: unknown) {
    super(
      'transient',
      "The invocation ran out of time before the request's idempotency record could be written",
      {
        retryable: true,
        cause,
      },
    );
    this.name = 'RecordNotWritten';
  }
}

/** A requestId used again with other parameters: a caller mistake, never retried. */
export class IdempotencyConflict extends TaniumError {
  constructor(key: IdempotencyKey) {
    super(
      'validation',
      `Request ${key.requestId} was already used for '${actionName(key)}' with different parameters; send a new requestId`,
    );
    this.name = 'IdempotencyConflict';
  }
}

/**
 * Another delivery of the request holds its in-progress record: an SQS message comes back later (that
 * record expires with the other delivery's invocation, which may have started up to a function timeout
 * ago or just now); otherwise this delivery publishes nothing and leaves the result to that one.
 */
export class HeldByAnotherDelivery extends TaniumError {
  /** The SQS message the holding delivery runs for, when its record names one. */
  readonly holder: string | undefined;
  constructor(key: IdempotencyKey, cause: unknown, holder?: string) {
    super(
      'transient',
      `Request ${key.requestId} is already being processed by another delivery, which publishes its result`,
      { retryable: true, cause },
    );
    this.name = 'HeldByAnotherDelivery';
    this.holder = holder;
  }
}
