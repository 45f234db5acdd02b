import { isSoarContext } from '../actions/params.ts';
import { TaniumError } from '../tanium/errors.ts';
import type { ActionRequest, ParsedRequest } from './envelope.ts';
import { type EventLogger, requestKeys } from './logging.ts';
import { type DeliveryInfo, type Disposition, isLastAttempt, type RequestProcessor } from './processor.ts';
import { resultForCopy } from './result.ts';

/**
 * The deliveries of one mutating request that share an SQS batch (see RequestTurns): the key they take
 * turns under, what makes two of them copies, and how a delivery's turn is shaped by the copies before it.
 */

/** A delivery's turn among those of its requestId in an SQS batch: how it ended, and its message. */
export interface Turned {
  disposition: Disposition;
  messageId: string;
}

/** The idempotency record a mutating request runs under: its requestId and action. */
export function recordKey(request: ActionRequest, actionId: string): string {
  return JSON.stringify([request.requestId, actionId]);
}

/**
 * What makes two deliveries copies of one request: its action and parameters, SOAR's context aside, as
 * the idempotency key hashes them (keys in any order).
 */
export function copyKey(request: ActionRequest, actionId: string): string {
  const parameters = Object.entries(request.parameters).filter(
    ([name, value]) => !isSoarContext(name, value),
  );
  return JSON.stringify([actionId, sortedEntries(parameters)]);
}

/** Entries sorted by key, each value's own objects in turn as sorted entries (an own `__proto__` key stays a key). */
function sortedEntries(entries: [string, unknown][]): unknown {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (typeof value !== 'object' || value === null) return value;
    return sortedEntries(Object.entries(value));
  };
  return entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => [name, canonical(value)]);
}

/**
 * A delivery's turn under its idempotency record (RequestTurns), shaped by the earlier copies of its
 * request in the batch: past the deadline it ends unrun, unless one handed the request on to it.
 */
export async function takeTurn(
  processor: RequestProcessor,
  parsed: ParsedRequest,
  info: DeliveryInfo & { messageId: string },
  { copies, behindOthers, later }: { copies: Turned[]; behindOthers: boolean; later: () => boolean },
  logger: EventLogger,
): Promise<Turned> {
  const { messageId } = info;
  const previous = copies.at(-1);
  const pastDeadline = Date.now() >= info.deadline;
  // An earlier copy's result that no record replays (it gave up, or its record could not be completed),
  // or one past the deadline, is the request's: sent again for this copy, under its own context, rather
  // than the request run again beside it (a success after a "Gave up", a second delete or POST).
  const unreplayable = copies.map((copy) => copy.disposition).find(settledUnreplayable);
  if (unreplayable) return { disposition: answeredAgain(unreplayable, parsed, logger, true), messageId };
  // (A copy that gave up was answered above.)
  const settled = previous?.disposition;
  if (pastDeadline && settled?.kind === 'final') {
    return { disposition: answeredAgain(settled, parsed, logger, false), messageId };
  }
  // A delivery handed on to runs, whatever the time: the request's result is its own.
  const mustRun =
    previous?.disposition.kind === 'answered-elsewhere' && previous.disposition.handedOn === true;
  if (previous && !mustRun && pastDeadline) {
    return { disposition: afterDeadline(previous.disposition, info, logger), messageId };
  }
  const turnInfo: DeliveryInfo = {
    ...info,
    laterInBatch: later,
    ownCopyLeftRecord: copies.some(
      ({ messageId: copyMessage, disposition: copy }) =>
        copyMessage === messageId &&
        (copy.kind === 'retry' || copy.kind === 'held') &&
        copy.recordMayRemain === true,
    ),
    copyRanBefore: copies.length > 0,
    earlierComesBack: copies.some(
      (copy) => copy.disposition.kind === 'retry' && copy.messageId !== messageId,
    ),
    ...endedBy(copies),
    outOfTime: !mustRun && behindOthers && pastDeadline,
  };
  return { disposition: await processor.process(parsed, turnInfo), messageId };
}

/** The result of the last earlier copy that ended the request, if one did (see DeliveryInfo.endedByCopy). */
function endedBy(copies: Turned[]): Pick<DeliveryInfo, 'endedByCopy'> {
  const ended = copies.findLast(({ disposition }) => disposition.kind === 'final');
  return ended ? { endedByCopy: ended.disposition.detail } : {};
}

/** A copy's outcome no record replays: it gave up, or its result could not be recorded (an echo of one too). */
function settledUnreplayable(
  disposition: Disposition,
): disposition is Extract<Disposition, { kind: 'final' | 'gave-up' }> {
  if (disposition.kind === 'gave-up') return true;
  return (
    disposition.kind === 'final' && (disposition.unrecorded === true || disposition.recordMayRemain === true)
  );
}

/**
 * An earlier copy's settled result as this copy's own: the same outcome, echoing this copy's context.
 * `final`: no record replays it, so this copy must not run again if its event cannot be published.
 */
function answeredAgain(
  settled: Extract<Disposition, { kind: 'final' | 'gave-up' }>,
  parsed: ParsedRequest,
  logger: EventLogger,
  final: boolean,
): Disposition {
  const { detail } = settled;
  logger.info(
    'An earlier copy of the request in this batch ended it; its result is sent again for this one',
    {
      ...requestKeys(detail.requestId, detail.action),
      status: detail.status,
    },
  );
  return {
    kind: 'final',
    detail: resultForCopy(detail, parsed.ok ? parsed.request : undefined),
    ...(settled.kind === 'final' && settled.unrecorded ? { unrecorded: true as const } : {}),
    ...(final ? { answeredAgain: true as const } : {}),
  };
}

/**
 * The turn of a later copy of a request in an SQS batch, starting past the deadline: run, it would wait
 * on the idempotency table again, at least a second each past the deadline, so that a batch of copies
 * could outlast the invocation and lose every record's outcome. The earlier copy answered the request,
 * or goes back to the queue (or was held by another delivery), as this one then does; on its last
 * attempt, to the DLQ.
 */
function afterDeadline(previous: Disposition, delivery: DeliveryInfo, logger: EventLogger): Disposition {
  const { detail } = previous;
  const keys = requestKeys(detail.requestId, detail.action);
  if (previous.kind === 'final' || previous.kind === 'gave-up' || previous.kind === 'answered-elsewhere') {
    logger.info(
      'An earlier copy of the request in this batch answered it; this one ends unrun past the deadline',
      keys,
    );
    return { kind: 'answered-elsewhere', detail };
  }
  const error = new TaniumError(
    'transient',
    'The invocation ran out of time before this delivery of the request could run',
    { retryable: true },
  );
  const because =
    previous.kind === 'held'
      ? 'another delivery holds the request and publishes its result'
      : 'the earlier copy of the request in this batch goes back to the queue';
  if (isLastAttempt(delivery)) {
    // Error level: the DLQ alarm sends on-call to this line.
    logger.error(`Past the deadline, this delivery goes to the dead-letter queue unrun; ${because}`, keys);
    return { kind: 'held', detail, error };
  }
  logger.warn(`Past the deadline, this delivery goes back to the queue unrun; ${because}`, keys);
  return {
    kind: 'retry',
    detail,
    error,
    recordMayRemain: previous.kind === 'retry' && previous.recordMayRemain,
    heldElsewhere: previous.kind === 'held' || (previous.kind === 'retry' && previous.heldElsewhere),
  };
}
