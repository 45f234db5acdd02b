import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { likelyNames } from '../actions/closest-name.ts';
import { executeParsed, validateParams } from '../actions/execute.ts';
import { ignoredParamNames } from '../actions/params.ts';
import { ACTIONS, actionsOf, findAction, likelyAction } from '../actions/table.ts';
import type { ActionContext, ActionDefinition, ActionResult, Family, VaultPort } from '../actions/types.ts';
import { SHOWN_NAME_CHARS, shown, withSentence } from '../config/message-text.ts';
import { type TaniumApi, withLogContext } from '../tanium/client.ts';
import { DeadlineError, type ErrorKind, TaniumError, toTaniumError } from '../tanium/errors.ts';
import { CARRIED_OUT_CAVEAT } from '../tanium/responses.ts';
import type { ActionRequest, ParsedRequest } from './envelope.ts';
import {
  HeldByAnotherDelivery,
  IdempotencyConflict,
  type IdempotencyKey,
  type IdempotentExecutor,
  NotRun,
  RecordNotWritten,
  type StoredOutcome,
  UnreadableRecord,
} from './idempotency.ts';
import { type EventLogger, requestKeys } from './logging.ts';
import { type ActionMetrics, UNKNOWN_ACTION } from './metrics.ts';
import { failedResult, isServiceFailure, type ResultDetail, resultDetail, resultForCopy } from './result.ts';

/** How often a last attempt that another delivery holds asks whether the holder is done. */
const HOLDER_POLL_MS = 1_000;

/**
 * What to do with a request once processed:
 * - `final`: publish the result; the delivery is done.
 * - `retry`: a transient failure; publish nothing and fail the delivery so SQS redelivers it.
 *   `recordMayRemain`: the delivery may have left an in-progress idempotency record that only expires
 *   with the invocation, so the redelivery must not come sooner; `heldElsewhere`: another delivery's
 *   record stopped it, which expires with that delivery's invocation.
 * - `gave-up`: a transient failure on the last attempt; publish the failed result and fail the delivery
 *   so the message lands in the dead-letter queue.
 * - `answered-elsewhere`: another delivery answers the request; publish nothing, the delivery is done.
 *   An invalid request the bus also delivered to another family, whose function answers it
 *   (RejectedRequest.answeredBy), or a transient failure on the last attempt with a later delivery of
 *   the request in the same SQS batch, which runs it again (a "gave up" beside its result would
 *   contradict it).
 * - `held`: another delivery of the request holds its in-progress record, so it is running it and will
 *   publish its result; this one publishes nothing (a failed result beside that one would contradict
 *   it) and fails. Reached where an SQS `retry` cannot be: an SQS message on its last attempt (it lands
 *   in the dead-letter queue), or an EventBridge event or direct invocation (Lambda retries an
 *   asynchronous one, then sends it to the on-failure destination; the holder may be this request's own
 *   earlier attempt that crashed, whose record only a later retry outlives).
 */
export type Disposition =
  | {
      kind: 'final';
      detail: ResultDetail;
      /** A mutation whose idempotency record could not be completed: nothing replays this result. */
      unrecorded?: true;
      /**
       * Its in-progress record may remain until this invocation ends (a transient failure whose record
       * could not be deleted): a redelivery or a new invocation before then would find it.
       */
      recordMayRemain?: true;
      /** A mutating action's outcome its idempotency record keeps (or replayed from it). */
      stored?: true;
      /**
       * Refused without running, as it would be again: its requestId was used with other parameters
       * (`conflict`), it ran before and its stored result cannot be read (`unreadable`), or the request
       * itself cannot run here (`invalid`: malformed, unknown, another family's).
       */
      refusedBy?: 'conflict' | 'unreadable' | 'invalid';
      /**
       * An earlier copy's result in the same batch that no record replays, sent again for this one
       * (family-handler's takeTurn): run again, this copy could contradict it.
       */
      answeredAgain?: true;
    }
  | {
      kind: 'retry';
      detail: ResultDetail;
      error: TaniumError;
      recordMayRemain: boolean;
      /** Another delivery's in-progress record stopped this one: when that record expires is unknown. */
      heldElsewhere: boolean;
    }
  | { kind: 'gave-up'; detail: ResultDetail; error: TaniumError }
  | {
      kind: 'held';
      detail: ResultDetail;
      error: TaniumError;
      /** Its own in-progress record may remain (see `final`): a later copy of the message would meet it. */
      recordMayRemain?: true;
    }
  | {
      kind: 'answered-elsewhere';
      detail: ResultDetail;
      /** Left to a later delivery of the request in the same batch, which must run, even past the deadline. */
      handedOn?: true;
    };

/**
 * Whether an idempotency record replays the disposition's result to a redelivery or a resend: not the
 * result of a mutation whose record could not be completed (see PublishOptions.replayable).
 */
export function replayable(disposition: Disposition): boolean {
  return !(disposition.kind === 'final' && disposition.unrecorded);
}

/** Whether this delivery publishes the disposition's result. */
export function publishes(disposition: Disposition): boolean {
  return disposition.kind === 'final' || disposition.kind === 'gave-up';
}

export interface DeliveryInfo {
  /** Whether a failed delivery comes back (SQS). EventBridge and direct invocations publish every failure. */
  redelivered: boolean;
  /** 1 for the first delivery (`ApproximateReceiveCount`). */
  attempt: number;
  /** The queue's `maxReceiveCount`: the attempt after which the message goes to the DLQ. */
  maxAttempts: number;
  /** Epoch ms: no Tanium call may run past this. */
  deadline: number;
  /** The Lambda context, for the idempotency record's in-progress expiry. */
  lambdaContext?: Context;
  /** The SQS message delivering the request. */
  messageId?: string;
  /** Whether another delivery of the request waits in this SQS batch to take its turn after this one. */
  laterInBatch?: () => boolean;
  /**
   * Whether a copy of the request from this same message (an SQS duplicate) failed transiently before
   * this one in the SQS batch and left its record in progress, which no waiting frees.
   */
  ownCopyLeftRecord?: boolean;
  /** Whether a copy of the request took its turn before this one in the batch: it may have reached Tanium. */
  copyRanBefore?: boolean;
  /**
   * Whether its turn came past the deadline behind other requests under its record: it fails as run out
   * of time without touching the table, whose waits would run past the invocation's end.
   */
  outOfTime?: boolean;
  /**
   * Whether an earlier copy of the request in the batch, another message, failed transiently and goes
   * back to the queue: its redelivery answers the request, so this one gives up without a result.
   */
  earlierComesBack?: boolean;
  /**
   * The result of an earlier copy of the request in the batch that ended it (a run or a replay): a last
   * attempt that would give up behind it (the idempotency table failing just then) is sent this instead,
   * where a "Gave up" would contradict it.
   */
  endedByCopy?: ResultDetail;
}

/** What the processor needs from the container: built lazily, reused across requests. */
export interface ProcessorDependencies {
  family: Family;
  /**
   * Why no action may run in this container (a bad function variable): every request that would run one
   * fails with it instead, before Tanium, the vault or a record (a failed credentials read fails it
   * before Tanium and the vault, a mutating action's through the idempotency step, so that a stored
   * result is still replayed).
   */
  unrunnable?: TaniumError;
  client(): Promise<TaniumApi>;
  /** Only called for mutating actions. */
  idempotency(): IdempotentExecutor;
  vault(): VaultPort | undefined;
  logger: EventLogger;
  metrics: ActionMetrics;
  now(): number;
  sleep?: (ms: number) => Promise<void>;
  /** GET_FILE_MAX_BYTES, read once per container with the other settings. */
  getFileMaxBytes?: number;
}

/**
 * A DELETE's 404 on a redelivery, said to be no proof: an earlier delivery ended without a result of its
 * own only by failing retryably, which a DELETE cut at the deadline does after it may have reached
 * Tanium. Within one delivery the Tanium client says the same of a retry after a lost answer.
 */
export function hedgedForRedelivery(
  definition: ActionDefinition,
  delivery: Pick<DeliveryInfo, 'attempt' | 'copyRanBefore'>,
  result: ActionResult,
): ActionResult {
  const again = delivery.attempt > 1 || delivery.copyRanBefore === true;
  if (!definition.deletes || !again || result.error?.kind !== 'not_found') return result;
  // Once is enough: the client already says so when an attempt of this delivery lost its answer.
  if (result.message.includes(CARRIED_OUT_CAVEAT)) return result;
  const which =
    delivery.attempt > 1
      ? `This is delivery ${delivery.attempt} of the request and an earlier one did not finish`
      : 'An earlier delivery of the request in the same batch did not finish';
  return { ...result, message: withSentence(result.message, `${which}: ${CARRIED_OUT_CAVEAT}.`) };
}

function unknownActionMessage(action: string, family: Family): string {
  const names = actionsOf(family).map((definition) => definition.name);
  const others = ACTIONS.filter((definition) => definition.family !== family).map((d) => d.name);
  const meant = likelyAction(action);
  const guess = meant ? ` Did you mean '${meant}'?` : '';
  // Requests the bus could not route reach one family; the sender may have meant any action.
  return `Unknown action '${shown(action, SHOWN_NAME_CHARS)}'.${guess} The ${family} function runs: ${names.join(', ')}; the other actions are: ${others.join(', ')}`;
}

function otherFamilyMessage(definition: ActionDefinition, family: Family): string {
  // Also reached from the bus, where a spelling no family rule takes ('get  process tree') ends here.
  return `The action '${definition.name}' belongs to the ${definition.family} family, not the ${family} one: send it to the ${definition.family} queue, or on the bus name it exactly '${definition.name}' or '${definition.id}' (any case)`;
}

/** The queue's last delivery of a record: after it, a failure sends the message to the DLQ. */
export function isLastAttempt(delivery: Pick<DeliveryInfo, 'attempt' | 'maxAttempts'>): boolean {
  return delivery.attempt >= delivery.maxAttempts;
}

/**
 * The message of a request that gave up. A delete's says what a 404 means if it is sent again: one of
 * its attempts may have reached Tanium and lost its answer (or none did: the sentence holds either way),
 * and a redriven message starts again at delivery 1, where hedgedForRedelivery does not say so.
 */
function gaveUpMessage(attempts: number, message: string, deletes: boolean): string {
  const gaveUp = `Gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${message}`;
  if (!deletes) return gaveUp;
  return withSentence(
    gaveUp,
    'If it is sent again (or redriven) and answers 404, the item is gone, possibly by one of these attempts if it reached Tanium before its answer was lost.',
  );
}

/**
 * Turns one request into one disposition. Never throws: envelope, routing and parameter problems are
 * final failed results; everything retryable is a `retry` (or `gave-up` on the last attempt).
 */
export class RequestProcessor {
  private readonly deps: ProcessorDependencies;

  constructor(deps: ProcessorDependencies) {
    this.deps = deps;
  }

  async process(parsed: ParsedRequest, delivery: DeliveryInfo): Promise<Disposition> {
    const startedAt = this.deps.now();
    if (!parsed.ok) {
      const { rejected } = parsed;
      if (rejected.ownEvent !== undefined) {
        // Error level, and counted as a service failure, whose alarm sends on-call to this line: a rule
        // of the deployment's owner routes the stack's own events here. Nothing is published, as a
        // result would match that rule again.
        this.deps.metrics.record({
          action: UNKNOWN_ACTION,
          status: 'failed',
          retrying: false,
          durationMs: 0,
          serviceFailure: true,
        });
        this.deps.logger.error(
          `An '${rejected.ownEvent}' event this stack published reached the function as a request; it is dropped (a bus rule sends it here: match "detail-type": ["Action Request"])`,
          requestKeys(rejected.requestId, rejected.action),
        );
        return {
          kind: 'answered-elsewhere',
          detail: resultDetail(rejected, failedResult(rejected.message, 'validation', rejected.parameters), {
            startedAt,
            durationMs: 0,
          }),
        };
      }
      if (rejected.answeredBy !== undefined && rejected.answeredBy !== this.deps.family) {
        this.deps.logger.warn(
          `The bus delivered this request to several families (its action is a list); the ${rejected.answeredBy} function answers it`,
          requestKeys(rejected.requestId, rejected.action),
        );
        const result = failedResult(rejected.message, 'validation', rejected.parameters);
        return {
          kind: 'answered-elsewhere',
          detail: resultDetail(rejected, result, { startedAt, durationMs: 0 }),
        };
      }
      return this.refuse(rejected, findAction(rejected.action), rejected.message, startedAt, delivery);
    }
    const { request } = parsed;
    const definition = findAction(request.action);
    const routingProblem = !definition
      ? unknownActionMessage(request.action, this.deps.family)
      : definition.family !== this.deps.family
        ? otherFamilyMessage(definition, this.deps.family)
        : undefined;
    if (!definition || routingProblem) {
      return this.refuse(request, definition, routingProblem ?? '', startedAt, delivery);
    }
    // Checked before anything is called: a request that can never run gets its validation result and is
    // never retried, whatever the secret or the idempotency table are going through.
    const params = validateParams(definition, request.parameters);
    if (!params.ok) {
      return this.refuse(request, definition, params.message, startedAt, delivery, params.kind);
    }
    const ignored = ignoredParamNames(definition.params, request.parameters, definition.placeholders);
    if (ignored.length > 0) {
      const known = Object.keys(definition.params);
      // A misspelt optional parameter leaves the action on its default: the likely name says which.
      const likely = likelyNames(ignored, known);
      this.deps.logger.warn('Parameters the action does not take were ignored', {
        ...requestKeys(request.requestId, definition.name),
        ignored,
        known,
        ...(Object.keys(likely).length > 0 ? { likely } : {}),
      });
    }
    let outcome: StoredOutcome;
    let replayed = false;
    let unrecorded = false;
    // Until the idempotent run says otherwise: a failure inside it may leave its record in progress.
    let recordMayRemain = false;
    let heldElsewhere = false;
    let conflict = false;
    // The request ran before and its stored result cannot be read: an unknown outcome, but no new write.
    let unreadable = false;
    // Only a mutating action's outcome that went through the idempotency step completed (or was replayed
    // from it): a transient one is thrown back out of Powertools, and a failure before or of the step
    // never reached it.
    let stored = false;
    try {
      // A setting may be the state table's own: a bad one fails before the idempotency step.
      if (this.deps.unrunnable) throw this.deps.unrunnable;
      if (delivery.outOfTime) {
        throw new DeadlineError('transient', 'The invocation ran out of time before the request could run', {
          retryable: true,
        });
      }
      // Read before the idempotency step, as a slow read would otherwise hold the request's record (and
      // every duplicate of it) for its length. A mutating request whose credentials cannot be read
      // still goes through the step, which replays a stored result (a redelivery must not answer the
      // success it stored with this failure) and otherwise stores nothing (NotRun).
      let ctx: ActionContext | undefined;
      let credentialsFailure: unknown;
      try {
        ctx = await this.actionContext(request, delivery);
      } catch (error) {
        if (definition.readOnly) throw error;
        credentialsFailure = error;
      }
      const run = async (): Promise<StoredOutcome> => {
        if (ctx === undefined) throw new NotRun(credentialsFailure);
        const started = this.deps.now();
        const result = hedgedForRedelivery(
          definition,
          delivery,
          await executeParsed(definition, params.value, request.parameters, ctx),
        );
        return { result, startedAt: started, durationMs: this.deps.now() - started };
      };
      if (definition.readOnly) {
        outcome = await run();
      } else {
        const key = { requestId: request.requestId, action: definition.id, parameters: request.parameters };
        let recordError: string | undefined;
        recordMayRemain = true;
        ({ outcome, replayed, recordError } = await this.executeOnceFree(
          key,
          run,
          request,
          definition,
          delivery,
        ));
        recordMayRemain = recordError !== undefined;
        stored = replayed || (recordError === undefined && outcome.result.error?.retryable !== true);
        if (recordError !== undefined && outcome.result.error?.retryable === true) {
          // A transient failure is run again on redelivery anyway; its in-progress record, which could
          // not be deleted, expires with this invocation, and the message stays hidden until then
          // (`recordMayRemain`).
          this.deps.logger.warn(
            'The action failed transiently and its in-progress idempotency record could not be deleted',
            {
              ...requestKeys(request.requestId, definition.name),
              reason: recordError,
            },
          );
        } else if (recordError !== undefined) {
          unrecorded = true;
          // The result still goes out; the record stays in progress until it expires, after which a
          // redelivery (or a duplicate) would call Tanium again.
          this.deps.logger.error('The action ran but its idempotency record could not be completed', {
            ...requestKeys(request.requestId, definition.name),
            reason: recordError,
          });
        }
      }
    } catch (thrown) {
      // Credentials, configuration or the idempotency store: the action itself never ran (this time).
      const error = thrown instanceof NotRun ? thrown.reason : thrown;
      heldElsewhere = error instanceof HeldByAnotherDelivery;
      conflict = error instanceof IdempotencyConflict;
      if (error instanceof UnreadableRecord) {
        unreadable = true;
        this.deps.logger.error(
          'The stored result of the request cannot be read; the action is not run again',
          {
            ...requestKeys(request.requestId, definition.name),
            reason: error.message,
          },
        );
      }
      const failure = toTaniumError(error);
      if (thrown instanceof NotRun) {
        // Powertools deletes the record of a run that could not start; when it could not, the record stays
        // until the invocation ends, whatever the failure.
        recordMayRemain = thrown.recordError !== undefined;
        if (recordMayRemain) {
          this.deps.logger.warn(
            'The action could not start and its in-progress idempotency record could not be deleted',
            { ...requestKeys(request.requestId, definition.name), reason: thrown.recordError },
          );
        }
      } else if (!failure.retryable || heldElsewhere || error instanceof RecordNotWritten) {
        // Only a transient failure of the idempotency step may leave this delivery's record in progress;
        // a conflict or an unreadable record is another delivery's completed one, a held one another's
        // running one, and a put refused for want of time wrote none.
        recordMayRemain = false;
      }
      const result = failedResult(failure.message, failure.kind, request.parameters, failure.retryable);
      outcome = { result, startedAt, durationMs: this.deps.now() - startedAt };
    }
    return this.finish(request, request.action, definition, outcome, delivery, replayed, {
      unrecorded,
      recordMayRemain,
      heldElsewhere,
      stored,
      unreadable,
      conflict,
    });
  }

  /**
   * The idempotent run. On an SQS message's last attempt, a request held by its own message's earlier
   * receive (an SQS duplicate) is waited for until the deadline: nothing delivers the message again, so
   * the holder's transient failure would leave the request with no result. Once the holder is done, the
   * run replays its result, or runs the action when it stored none.
   */
  private async executeOnceFree(
    key: IdempotencyKey,
    run: () => Promise<StoredOutcome>,
    request: ActionRequest,
    definition: ActionDefinition,
    delivery: DeliveryInfo,
  ): ReturnType<IdempotentExecutor['execute']> {
    const idempotency = this.deps.idempotency();
    let waiting = false;
    for (;;) {
      try {
        return await idempotency.execute(
          key,
          run,
          delivery.lambdaContext,
          delivery.deadline,
          delivery.messageId,
        );
      } catch (error) {
        const ownMessage =
          error instanceof HeldByAnotherDelivery &&
          error.holder !== undefined &&
          error.holder === delivery.messageId;
        if (ownMessage && delivery.ownCopyLeftRecord === true) {
          // Its own message's earlier copy in this batch, done and failed, left the record: no other
          // delivery holds the request, and none is to come if this is the message's last.
          throw new TaniumError(
            'transient',
            'The request could not run: an earlier delivery of it in this batch failed and left its record in progress',
            { retryable: true, cause: error },
          );
        }
        // Only its own message's earlier receive: another message holding it comes back if it fails.
        const mayWait = ownMessage && delivery.redelivered && isLastAttempt(delivery);
        if (!mayWait) throw error;
        if (this.deps.now() + HOLDER_POLL_MS >= delivery.deadline) throw error;
        if (!waiting) {
          waiting = true;
          this.deps.logger.info(
            'Another delivery of the request is running it; this last attempt waits for its outcome',
            {
              ...requestKeys(request.requestId, definition.name),
            },
          );
        }
        // A timer of its own: the actions' sleep may be faked away, which would spin this loop.
        await delay(HOLDER_POLL_MS);
      }
    }
  }

  private async actionContext(request: ActionRequest, delivery: DeliveryInfo): Promise<ActionContext> {
    const ctx: ActionContext = {
      // The key every request-scoped line uses (requestKeys), so one filter finds the Tanium calls too.
      client: withLogContext(await this.deps.client(), { correlation_id: request.requestId }),
      deadline: delivery.deadline,
      requestId: request.requestId,
    };
    const vault = this.deps.vault();
    if (vault) ctx.vault = vault;
    if (this.deps.sleep) ctx.sleep = this.deps.sleep;
    if (this.deps.getFileMaxBytes !== undefined) ctx.getFileMaxBytes = this.deps.getFileMaxBytes;
    return ctx;
  }

  /**
   * A request that cannot run (invalid, unknown or misrouted): one failed result, of kind validation or
   * the one an action's own check gave (too_large).
   */
  private refuse(
    request: { requestId: string; action: string; parameters: Record<string, unknown>; context?: unknown },
    definition: ActionDefinition | undefined,
    message: string,
    startedAt: number,
    delivery: DeliveryInfo,
    kind: ErrorKind = 'validation',
  ): Disposition {
    const result = failedResult(message, kind, request.parameters);
    return this.finish(
      request,
      request.action,
      definition,
      { result, startedAt, durationMs: 0 },
      delivery,
      false,
      { invalid: true },
    );
  }

  /** `requestedAction` as sent; `definition` when it names a known action (the result then uses its name). */
  private finish(
    request: { requestId: string; parameters: Record<string, unknown>; context?: unknown },
    requestedAction: string,
    definition: ActionDefinition | undefined,
    outcome: StoredOutcome,
    delivery: DeliveryInfo,
    replayed: boolean,
    {
      unrecorded = false,
      recordMayRemain = false,
      heldElsewhere = false,
      stored = false,
      unreadable = false,
      conflict = false,
      invalid = false,
    }: {
      unrecorded?: boolean;
      recordMayRemain?: boolean;
      heldElsewhere?: boolean;
      stored?: boolean;
      unreadable?: boolean;
      conflict?: boolean;
      invalid?: boolean;
    } = {},
  ): Disposition {
    const { result } = outcome;
    // A write of this delivery whose outcome is unknown; a replayed or unreadable record is an earlier one's.
    const unknownOutcome = result.error?.kind === 'unknown_outcome' && !replayed && !unreadable;
    const transient = result.status === 'failed' && result.error?.retryable === true;
    const action = definition?.name ?? requestedAction;
    const lastAttempt = isLastAttempt(delivery);
    let published: ActionResult = result;
    if (transient && delivery.redelivered && lastAttempt) {
      published = {
        ...result,
        message: gaveUpMessage(delivery.attempt, result.message, definition?.deletes === true),
      };
    }
    const detail = resultDetail(
      { requestId: request.requestId, action, context: request.context },
      published,
      outcome,
    );
    const held = heldElsewhere && (!delivery.redelivered || lastAttempt);
    // Not when its record may remain: the later delivery would find it and be held, leaving no result.
    const givingUp = transient && delivery.redelivered && lastAttempt && !held;
    // Not when its record may remain: the later delivery would find it and be held, leaving no result;
    // nor past the deadline: handed on and on, the copies would outlast the invocation.
    // An earlier copy coming back answers the request: no later copy needs it handed on.
    const answeredByCopy = givingUp && delivery.endedByCopy !== undefined;
    const leftToEarlier = givingUp && !answeredByCopy && delivery.earlierComesBack === true;
    const handedOn =
      givingUp &&
      !answeredByCopy &&
      !leftToEarlier &&
      !recordMayRemain &&
      this.deps.now() < delivery.deadline &&
      delivery.laterInBatch?.() === true;
    // Counted as a retry too: the request's result comes from another delivery.
    const retrying =
      (transient && delivery.redelivered && !lastAttempt) ||
      held ||
      handedOn ||
      leftToEarlier ||
      answeredByCopy;
    this.deps.metrics.record({
      action: definition?.name ?? UNKNOWN_ACTION,
      status: result.status,
      retrying,
      durationMs: detail.durationMs,
      ...(unrecorded ? { unrecorded } : {}),
      // Counted at every attempt: only a bad function setting is one and retried, and only a deployment
      // cures it, so its requests would otherwise reach the alarm minutes later, once they give up.
      ...(isServiceFailure(result) ? { serviceFailure: true } : {}),
      ...(unknownOutcome ? { unknownOutcome } : {}),
      ...(replayed ? { replayed } : {}),
    });
    const log = {
      ...requestKeys(request.requestId, action),
      status: detail.status,
      durationMs: detail.durationMs,
      ...(result.error ? { errorKind: result.error.kind } : {}),
      ...(replayed ? { replayed } : {}),
      attempt: delivery.attempt,
    };
    // Built only for the dispositions that fail the delivery: an error captures a stack, and a
    // success would pay for it on every record.
    // With Tanium's Retry-After, which the redelivery must not come sooner than.
    const transientError = () =>
      new TaniumError(result.error?.kind ?? 'transient', result.message, {
        retryable: true,
        ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }),
      });
    if (held) {
      if (delivery.redelivered) {
        // Error level: the DLQ alarm sends on-call to the log for this message's request id, and this
        // line is all that explains it.
        this.deps.logger.error(
          'Another delivery of the request is running it and publishes its result; this message goes to the dead-letter queue without one',
          log,
        );
      } else {
        // Error level too: an asynchronous invocation held this way is retried by Lambda and may end in
        // the family's DLQ, where the DLQ alarm sends on-call to this line.
        this.deps.logger.error(
          'Another delivery of the request is running it and publishes its result; this invocation fails without one',
          log,
        );
      }
      return { kind: 'held', detail, error: transientError() };
    }
    if (!transient || !delivery.redelivered) {
      if (!replayed && isServiceFailure(result)) {
        // Error level, which every logLevel shows: the ServiceFailures alarm sends on-call to this line.
        this.deps.logger.error('Request failed for a reason in the deployment, not in the request', {
          ...log,
          resultMessage: result.message,
        });
      } else if (unknownOutcome) {
        // Error level too, for the UnknownOutcomes alarm: each one is a change to check in Tanium.
        this.deps.logger.error('Request ended without knowing whether Tanium carried it out', {
          ...log,
          resultMessage: result.message,
        });
      } else {
        this.deps.logger.info(replayed ? 'Replayed the stored result' : 'Request completed', log);
      }
      return {
        kind: 'final',
        detail,
        ...(unrecorded ? { unrecorded } : {}),
        ...(recordMayRemain ? { recordMayRemain } : {}),
        ...(stored ? { stored } : {}),
        ...refusal(conflict, unreadable, invalid),
      };
    }
    if (answeredByCopy && delivery.endedByCopy) {
      this.deps.logger.warn(
        'Transient failure on the last attempt; an earlier copy of the request in this batch ended it, and its result is sent again for this one',
        { ...log, resultMessage: result.message, sentStatus: delivery.endedByCopy.status },
      );
      return {
        kind: 'final',
        detail: resultForCopy(delivery.endedByCopy, request),
      };
    }
    if (handedOn) {
      this.deps.logger.warn(
        'Transient failure on the last attempt; a later delivery of the request in this batch runs it again',
        {
          ...log,
          resultMessage: result.message,
        },
      );
      return { kind: 'answered-elsewhere', detail, handedOn: true };
    }
    if (leftToEarlier) {
      // Error level, as for a held delivery: the DLQ alarm sends on-call to this line.
      this.deps.logger.error(
        'An earlier delivery of the request in this batch goes back to the queue and publishes its result; this message goes to the dead-letter queue without one',
        { ...log, resultMessage: result.message },
      );
      return {
        kind: 'held',
        detail,
        error: transientError(),
        ...(recordMayRemain ? { recordMayRemain: true as const } : {}),
      };
    }
    if (lastAttempt) {
      this.deps.logger.error(
        'Request gave up on its last attempt; the message goes to the dead-letter queue',
        // `message` is a key Powertools keeps for the line's own text (and drops from extras).
        { ...log, resultMessage: result.message },
      );
      return { kind: 'gave-up', detail, error: transientError() };
    }
    // A bad function setting is retried but counted by the ServiceFailures alarm at every attempt: its
    // line must show at every logLevel, as the final ones do. Other transient failures pass by themselves.
    const retryLine = { ...log, resultMessage: result.message };
    if (isServiceFailure(result)) {
      this.deps.logger.error('Transient failure; the message will be redelivered', retryLine);
    } else {
      this.deps.logger.warn('Transient failure; the message will be redelivered', retryLine);
    }
    return { kind: 'retry', detail, error: transientError(), recordMayRemain, heldElsewhere };
  }
}

/** Why a final result was refused without running, as it would be again (see Disposition.refusedBy). */
function refusal(
  conflict: boolean,
  unreadable: boolean,
  invalid: boolean,
): { refusedBy?: 'conflict' | 'unreadable' | 'invalid' } {
  if (conflict) return { refusedBy: 'conflict' };
  if (unreadable) return { refusedBy: 'unreadable' };
  if (invalid) return { refusedBy: 'invalid' };
  return {};
}
