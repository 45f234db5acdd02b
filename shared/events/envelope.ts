import type { core } from 'zod/mini';
import * as z from 'zod/mini';
import { ruleFamilyOf, UNROUTED_FAMILY } from '../actions/table.ts';
import type { Family } from '../actions/types.ts';
import { isRecord } from '../config/is-record.ts';
import { sqsSafeJson } from '../config/sqs-safe-json.ts';
import { describeIssue } from '../config/zod-messages.ts';
import { ALERT_DETAIL_TYPE, RESULT_DETAIL_TYPE, RESULT_SOURCE } from './result.ts';

/** An action request (design.md §3) after validation; `requestId` is always set. */
export interface ActionRequest {
  action: string;
  parameters: Record<string, unknown>;
  requestId: string;
  /** Echoed back unchanged in the result; `undefined` when the request had none. */
  context?: unknown;
}

/**
 * A request that could not be read: what is known of it (for the failed result) and why.
 * `action` is the raw value when it was a string, otherwise empty.
 */
export interface RejectedRequest {
  action: string;
  parameters: Record<string, unknown>;
  requestId: string;
  context?: unknown;
  message: string;
  /**
   * For a bus event whose `action` is a list: the one family that answers it. EventBridge matches a
   * list when any element matches, so several family rules (and the unrouted one) can each deliver it.
   */
  answeredBy?: Family;
  /**
   * The detail-type of an event the stack itself published (an `Action Result`, an `Alert`) that a bus
   * rule delivered as if it were a request: answered, it would come back through the same rule.
   */
  ownEvent?: string;
}

export type ParsedRequest = { ok: true; request: ActionRequest } | { ok: false; rejected: RejectedRequest };

/** The detail-type of the requests the stack's bus rules route to the family queues. */
export const REQUEST_DETAIL_TYPE = 'Action Request';

/** The fields of an EventBridge event this layer reads (the rest is ignored). */
export interface EventBridgeEnvelope {
  id?: string;
  source: string;
  'detail-type': string;
  detail: unknown;
}

/**
 * The fields read of a Lambda invocation record: what an on-failure destination sends (here to the
 * family's DLQ) when an asynchronous invocation failed every attempt.
 */
export interface InvocationRecord {
  version: string;
  requestContext: { requestId?: unknown; functionArn: string; condition?: unknown };
  /** The event the function was invoked with. */
  requestPayload: unknown;
}

export const MAX_REQUEST_ID_LENGTH = 256;

/**
 * How deep a request may nest objects and lists. The result echoes `parameters` and `context`, and
 * serialising a value nested a few thousand deep (a body of a few KB) overflows the call stack: the
 * record would then fail on every delivery instead of getting its failed result.
 */
export const MAX_REQUEST_DEPTH = 100;

/** Invocation records a body may nest: a redrive that failed again wraps the first one. */
const MAX_INVOCATION_RECORDS = 2;

/** A UTF-16 surrogate without its other half: such a string has no UTF-8 form (S3 keys, the results). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether a request gives no `requestId`. Blank counts as none, as for a parameter (tanium-api.md 1.9): a
 * bridge that writes an unset field as "" or " " would otherwise key every such request on one id, and a
 * mutating request would replay another's stored result instead of running.
 */
function noRequestId(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** An id given by a wrapper (an event id, a Lambda request id) when it could be a `requestId`. */
export function usableId(value: unknown): string | undefined {
  return typeof value === 'string' &&
    value.trim() !== '' &&
    value.length <= MAX_REQUEST_ID_LENGTH &&
    !LONE_SURROGATE.test(value)
    ? value
    : undefined;
}

const requestSchema = z.strictObject({
  // Blank too: trimmed, it would name no action and fail as unknown, listing every action there is.
  action: z.string().check(z.refine((value) => value.trim() !== '')),
  parameters: z.optional(z.nullable(z.looseObject({}))),
  requestId: z.optional(
    z.nullable(
      z.string().check(
        z.maxLength(MAX_REQUEST_ID_LENGTH),
        z.refine((value) => !LONE_SURROGATE.test(value), 'must be well-formed text (no lone surrogate)'),
      ),
    ),
  ),
  context: z.optional(z.unknown()),
});

const INVALID = 'Invalid request: ';

/** True for an EventBridge event (a bus rule delivering to a Lambda, or to a queue whose body is the event). */
export function isEventBridgeEvent(value: unknown): value is EventBridgeEnvelope {
  return (
    isRecord(value) &&
    'detail' in value &&
    typeof value['detail-type'] === 'string' &&
    typeof value.source === 'string'
  );
}

/** True for a Lambda invocation record (no request has these fields: the request schema is strict). */
function isInvocationRecord(value: unknown): value is InvocationRecord {
  return (
    isRecord(value) &&
    'requestPayload' in value &&
    typeof value.version === 'string' &&
    isRecord(value.requestContext) &&
    typeof value.requestContext.functionArn === 'string'
  );
}

/**
 * Validates a request payload. `fallbackId` is used when the request carries no `requestId`: callers pass
 * an id that is stable across redeliveries (the SQS message id, the EventBridge event id), so a redelivered
 * request keeps its idempotency key.
 */
export function parseRequest(payload: unknown, fallbackId: string): ParsedRequest {
  const { request, wrapperId, event } = locateRequest(payload);
  const id = wrapperId ?? fallbackId;
  return (
    (event ? ownEventRejection(event, request, id) : bareResultRejection(request, id)) ??
    parseBareRequest(request, id)
  );
}

/**
 * An EventBridge event delivered to the function: its `detail` is the request, keyed on its id, read as
 * the queue path reads the `detail` of an event in a message body (no further wrapper taken off), so an
 * event gets the same answer whether its rule targets the function or the function's queue.
 */
export function parseEventBridgeEvent(event: EventBridgeEnvelope, fallbackId: string): ParsedRequest {
  const id = usableId(event.id) ?? fallbackId;
  return ownEventRejection(event, event.detail, id) ?? parseBareRequest(event.detail, id);
}

/** What the stack itself publishes; the bus refuses these from anyone but its functions. */
const PUBLISHED_DETAIL_TYPES: ReadonlySet<string> = new Set([RESULT_DETAIL_TYPE, ALERT_DETAIL_TYPE]);

/**
 * A result or an alert the stack published, delivered as a request: answered, the answer would come back
 * through the rule that delivered it, without end.
 */
function ownEventRejection(
  event: EventBridgeEnvelope,
  detail: unknown,
  id: string,
): ParsedRequest | undefined {
  if (event.source !== RESULT_SOURCE || !PUBLISHED_DETAIL_TYPES.has(event['detail-type'])) return undefined;
  const parsed = reject(
    isRecord(detail) ? detail : {},
    id,
    `${INVALID}an '${event['detail-type']}' event the stack published is not a request`,
  );
  if (!parsed.ok) parsed.rejected.ownEvent = event['detail-type'];
  return parsed;
}

/**
 * The `detail` of a result without its event (a rule passing on `$.detail`): answered as a request, its
 * failed result would come back the same way. No request has these fields (the schema refuses them).
 */
function bareResultRejection(payload: unknown, id: string): ParsedRequest | undefined {
  if (!isRecord(payload) || typeof payload.status !== 'string') return undefined;
  // A result echoes `parameter`; a request, however malformed, that sends `parameters` is answered.
  if (!('startedAt' in payload) || !('durationMs' in payload) || 'parameters' in payload) return undefined;
  return ownEventRejection(
    { source: RESULT_SOURCE, 'detail-type': RESULT_DETAIL_TYPE, detail: payload },
    payload,
    id,
  );
}

/**
 * The request inside `payload` (the same object, not a copy), and the id its wrappers give it when the
 * request has no `requestId`; undefined when none does, and the caller's fallback is its key.
 */
function locateRequest(payload: unknown): {
  request: unknown;
  wrapperId: string | undefined;
  event?: EventBridgeEnvelope;
} {
  let unwrapped = payload;
  let id: string | undefined;
  // Only the wrappers a request arrives in, in this order: unwrapping whatever else looks like one
  // would let a body of wrappers nested thousands deep overflow the call stack.
  for (let records = 0; records < MAX_INVOCATION_RECORDS && isInvocationRecord(unwrapped); records++) {
    // A failed asynchronous invocation redriven from the DLQ (twice: a redrive by invoking the function
    // that failed again). Its Lambda request id was the fallback of that invocation (an EventBridge event
    // brings its own), so the request keeps its idempotency key; the innermost one is the original's.
    id = usableId(unwrapped.requestContext.requestId) ?? id;
    unwrapped = unwrapped.requestPayload;
  }
  if (isEventBridgeEvent(unwrapped)) {
    const event = unwrapped;
    id = usableId(event.id) ?? id;
    return { request: event.detail, wrapperId: id, event };
  }
  return { request: unwrapped, wrapperId: id };
}

/**
 * `body` with its request's `requestId` set to `messageId` when the request would otherwise be keyed on
 * the SQS message id (one sent straight to SQS without a requestId), else `body` unchanged. Moved to
 * another queue a message gets a new id: a request keyed on the old one would lose its idempotency key,
 * and a mutating one that already ran would run again instead of replaying its stored result. Undefined
 * when it needs the key but cannot be written again with it (something beside the request nests too deep
 * to serialise): such a message must not be moved as it is.
 */
export function keyedBody(body: string, messageId: string): string | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    return body;
  }
  const { request, wrapperId } = locateRequest(payload);
  if (wrapperId !== undefined || !isRecord(request) || !noRequestId(request.requestId)) return body;
  // Refused whatever its key, and too deep to serialise again (JSON.stringify would overflow the stack).
  if (nestedDeeperThan(request, MAX_REQUEST_DEPTH)) return body;
  request.requestId = messageId;
  try {
    // Escaped as the sender may have written them.
    return sqsSafeJson(JSON.stringify(payload));
  } catch {
    return undefined;
  }
}

/** A request itself, unwrapped. */
function parseBareRequest(payload: unknown, fallbackId: string): ParsedRequest {
  if (!isRecord(payload)) {
    return reject(
      {},
      fallbackId,
      `${INVALID}the request must be a JSON object with 'action' and 'parameters' fields`,
    );
  }
  if (nestedDeeperThan(payload, MAX_REQUEST_DEPTH)) {
    // What nests too deep is not echoed back (serialising it would overflow the stack); the rest is, the
    // context above all, which a playbook matches its results by.
    const echoed = (value: unknown) => !nestedDeeperThan(value, MAX_REQUEST_DEPTH - 1);
    return reject(
      {
        requestId: payload.requestId,
        action: payload.action,
        ...(echoed(payload.parameters) ? { parameters: payload.parameters } : {}),
        ...(echoed(payload.context) ? { context: payload.context } : {}),
      },
      fallbackId,
      `${INVALID}it nests objects or lists more than ${MAX_REQUEST_DEPTH} levels deep`,
    );
  }
  const parsed = requestSchema.safeParse(
    noRequestId(payload.requestId) ? { ...payload, requestId: undefined } : payload,
  );
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => describeRequestIssue(issue, payload));
    return reject(payload, fallbackId, `${INVALID}${problems.join('; ')}`);
  }
  const request: ActionRequest = {
    action: parsed.data.action.trim(),
    // The sender's own object, which the schema has checked: zod's copy drops an own `__proto__` key,
    // which is echoed back and compared with a reused requestId's parameters like any other.
    parameters: parsed.data.parameters ? (payload.parameters as Record<string, unknown>) : {},
    requestId: parsed.data.requestId ?? fallbackId,
  };
  if (parsed.data.context !== undefined) request.context = parsed.data.context;
  return { ok: true, request };
}

/**
 * zod's terms for an `action` that is missing, empty or blank ("must be a string", a failed check) do not
 * tell the sender what to fix.
 */
function describeRequestIssue(issue: core.$ZodIssue, payload: Record<string, unknown>): string {
  if (issue.path.length === 1 && issue.path[0] === 'action') {
    const { action } = payload;
    if (action === undefined) return "field 'action' is required";
    if (action === '') return "field 'action' is empty";
    if (typeof action === 'string' && action.trim() === '') return "field 'action' is blank";
  }
  return describeIssue(issue);
}

/**
 * Reads an SQS message body: JSON, a request, a whole EventBridge event wrapping one, or the invocation
 * record of a failed asynchronous invocation wrapping either.
 */
export function parseMessageBody(body: string, fallbackId: string): ParsedRequest {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    return reject({}, fallbackId, `${INVALID}the message body is not valid JSON`);
  }
  const parsed = parseRequest(payload, fallbackId);
  // Only the stack's own wiring (its rules take `Action Request` events into the family queues) is
  // known to fan a list out.
  if (
    !parsed.ok &&
    isEventBridgeEvent(payload) &&
    payload['detail-type'] === REQUEST_DETAIL_TYPE &&
    isRecord(payload.detail)
  ) {
    const answeredBy = listAnswerer(payload.detail.action);
    if (answeredBy) parsed.rejected.answeredBy = answeredBy;
  }
  return parsed;
}

/**
 * Which family answers a list `action` the bus delivered: the family of the first element a family rule
 * takes, which therefore received it; when none does, only the unrouted rule can have matched.
 */
function listAnswerer(action: unknown): Family | undefined {
  if (!Array.isArray(action)) return undefined;
  // The bus matches the items of nested lists too, as if flattened. Walked with a stack of its own:
  // `flat` recurses, and a body of a few KB nested thousands deep would overflow the call stack.
  const pending: unknown[] = [...action].reverse();
  while (pending.length > 0) {
    const item = pending.pop();
    if (Array.isArray(item)) {
      for (let index = item.length - 1; index >= 0; index--) pending.push(item[index]);
    } else if (typeof item === 'string') {
      const family = ruleFamilyOf(item);
      if (family) return family;
    }
  }
  return UNROUTED_FAMILY;
}

/** Whether `value` holds an object or list `limit` levels down; walked with a stack of its own. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

function reject(raw: Record<string, unknown>, fallbackId: string, message: string): ParsedRequest {
  const requestId = usableId(raw.requestId) ?? fallbackId;
  const rejected: RejectedRequest = {
    action: typeof raw.action === 'string' ? raw.action.trim() : '',
    parameters: isRecord(raw.parameters) ? raw.parameters : {},
    requestId,
    message,
  };
  if (raw.context !== undefined) rejected.context = raw.context;
  return { ok: false, rejected };
}
