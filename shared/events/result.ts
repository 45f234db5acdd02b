import type { ActionResult } from '../actions/types.ts';
import { type ErrorInfo, type ErrorKind, SERVICE_FAILURE_KINDS } from '../tanium/errors.ts';
import type { ObjectRef } from '../vault/types.ts';

/** The contract of result events (design.md §3). */
export const RESULT_SOURCE = 'tanium.threat-response';
export const RESULT_DETAIL_TYPE = 'Action Result';
/** The detail-type of the alert poller's events, under the same source. */
export const ALERT_DETAIL_TYPE = 'Alert';

/** Where a result too big for an event was stored whole. */
export type DataRef = ObjectRef;

/** The `detail` of an `Action Result` event, and the return value of a direct invocation. */
export interface ResultDetail {
  requestId: string;
  /** The action's display name, or the name as requested when it matched no action. */
  action: string;
  status: 'success' | 'failed';
  message: string;
  parameter: Record<string, unknown>;
  /** Absent only when the result was stored whole under `dataRef`. */
  data?: unknown[];
  summary?: Record<string, unknown>;
  error?: ErrorInfo;
  /** The request's `context`, unchanged, `null` included (`{}` when it had none). */
  context: unknown;
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
  dataRef?: DataRef;
}

/** A failed ActionResult for problems found before an action runs (envelope, routing, configuration). */
export function failedResult(
  message: string,
  kind: ErrorKind,
  parameter: Record<string, unknown>,
  retryable = false,
): ActionResult {
  return { status: 'failed', message, parameter, data: [], summary: {}, error: { kind, retryable } };
}

/**
 * A failure only the deployment's owner can fix (SERVICE_FAILURE_KINDS): not a transient one, which may
 * pass by itself (S3 throttling, a deadline during an upload), nor one the request's own input caused
 * under such a kind. A bad function setting fails retryably (a redelivery may reach a container deployed
 * with the fix), but no time cures it, so it counts.
 */
export function isServiceFailure(result: ActionResult): boolean {
  const { error } = result;
  return (
    error !== undefined &&
    (!error.retryable || error.kind === 'config') &&
    SERVICE_FAILURE_KINDS.has(error.kind) &&
    !result.requestFault
  );
}

/** An action's result as published: the fields that only steer the functions (requestFault, retryAfterMs) left out. */
export type PublishedResult = Omit<ActionResult, 'requestFault' | 'retryAfterMs'>;

/** The published part of `result` (the one list of its fields that leave the functions, and the CLI). */
export function publishedResult(result: ActionResult): PublishedResult {
  const { status, message, parameter, data, summary, error } = result;
  return { status, message, parameter, data, summary, ...(error ? { error } : {}) };
}

/** Joins what was requested with what the action returned and when it ran. */
export function resultDetail(
  request: { requestId: string; action: string; context?: unknown },
  result: ActionResult,
  timing: { startedAt: number; durationMs: number },
): ResultDetail {
  const { error, ...published } = publishedResult(result);
  const detail: ResultDetail = {
    requestId: request.requestId,
    action: request.action,
    ...published,
    // Only an absent context defaults: a caller may send `null` and match its results on it.
    context: request.context === undefined ? {} : request.context,
    startedAt: new Date(timing.startedAt).toISOString(),
    durationMs: Math.max(0, Math.round(timing.durationMs)),
  };
  if (error) detail.error = error;
  return detail;
}

/**
 * An earlier copy's result sent for a later copy of the request (one action, the same parameters but for
 * SOAR's `context`): under the later copy's own `context`, and with its own `parameter.context`, which a
 * playbook reads back as it would from a replay.
 */
export function resultForCopy(
  detail: ResultDetail,
  request: { parameters: Record<string, unknown>; context?: unknown } | undefined,
): ResultDetail {
  const { context: _earlier, ...parameter } = detail.parameter;
  const own = request?.parameters;
  return {
    ...detail,
    parameter: own && 'context' in own ? { ...parameter, context: own.context } : parameter,
    context: request?.context === undefined ? {} : request.context,
  };
}

/**
 * The failed result that stands in for one JSON.stringify cannot serialise: only Tanium's answer, in
 * `data` or `summary`, can nest that deep (the request's own fields are checked on arrival).
 */
export function unserialisableResult(detail: ResultDetail, error: unknown): ResultDetail {
  const { dataRef: _dataRef, ...rest } = detail;
  return markReplacement(
    {
      ...rest,
      status: 'failed',
      message: `Unable to serialise the result (a value in Tanium's answer nests too deep): ${error instanceof Error ? error.message : String(error)}`,
      data: [],
      summary: {},
      error: { kind: 'tanium', retryable: false },
    },
    'failed',
  );
}

/**
 * How a result published in place of the action's own differs from it: `failed`, a failed stand-in
 * (the result could not be serialised, or was too big and could not be stored); `reduced`, the action's
 * own result without part of its request (`parameter`, and `context` too if need be).
 */
export type Replacement = 'failed' | 'reduced';

const replacements = new WeakMap<ResultDetail, Replacement>();

/** Marks `detail` as one published in place of the action's own result (see replacementOf). */
export function markReplacement(detail: ResultDetail, kind: Replacement): ResultDetail {
  replacements.set(detail, kind);
  return detail;
}

/**
 * How `detail` differs from the action's own result when it went out in its place, else undefined. The
 * request's log line and metrics describe the action's result, so its replacement has to be reported
 * on its own.
 */
export function replacementOf(detail: ResultDetail): Replacement | undefined {
  return replacements.get(detail);
}

/** `detail`, or the failed result standing in for it when it cannot be serialised (see above). */
export function serialisable(detail: ResultDetail): ResultDetail {
  try {
    JSON.stringify(detail);
    return detail;
  } catch (error) {
    return unserialisableResult(detail, error);
  }
}
