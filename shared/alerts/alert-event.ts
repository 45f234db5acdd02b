import { jsonOr } from '../config/json-or.ts';
import { shown, wholeCharacters } from '../config/message-text.ts';
import { sqsSafeJson } from '../config/sqs-safe-json.ts';
import { entrySize, MAX_EVENT_BYTES } from '../events/eventbridge-limits.ts';
import { ALERT_DETAIL_TYPE, RESULT_SOURCE } from '../events/result.ts';
import { type Alert, alertEnrichment, parseAlertDetails } from '../tanium/alerts.ts';
import type { AlertEntry } from './types.ts';

/** The source of every event the stack publishes, results and alerts alike. */
export const ALERT_SOURCE = RESULT_SOURCE;
export { ALERT_DETAIL_TYPE };

export const DETAILS_OMITTED = 'details omitted: the alert exceeds the EventBridge entry size limit';
export const REFUSED_OMITTED = 'details omitted: EventBridge refused the whole alert';
export const UNSERIALISABLE_OMITTED =
  'details omitted: a value in the alert nests too deep to be written as JSON';

/**
 * The event's `detail` (design.md §3): the alert as Tanium sent it, `details` decoded into an object and
 * the derived fields of list alerts. An unreadable `details` becomes `null` with the original text in
 * `details_raw`, so consumers matching on `detail.details.*` never see a string there.
 */
export function alertDetail(alert: Alert, intelDocName?: string): Record<string, unknown> {
  const parsed = parseAlertDetails(alert.details);
  const detail: Record<string, unknown> = { ...alert, ...alertEnrichment(alert.details) };
  if ('details' in parsed) detail.details = parsed.details;
  else {
    detail.details = null;
    if (alert.details !== undefined && alert.details !== null) detail.details_raw = alert.details;
  }
  if (intelDocName !== undefined) detail.intelDocName = intelDocName;
  return detail;
}

const KEPT_WHEN_SHRUNK = [
  'id',
  'guid',
  'type',
  'state',
  'priority',
  'severity',
  'intelDocId',
  'intelDocName',
  'scanConfigId',
  'computerName',
  'computerIpAddress',
  'createdAt',
  'alertedAt',
  'updatedAt',
  'path',
  'event_type',
  'md5',
  'sha1',
  'sha256',
] as const;

/** Bounds the reduced entry well under the entry limit whatever each field of KEPT_WHEN_SHRUNK holds. */
const MAX_KEPT_CHARACTERS = 1024;

/**
 * A kept string field as a reduced entry and a log line both carry it: cut between whole characters,
 * since half a surrogate pair would reach consumers as a lone surrogate (or U+FFFD once re-encoded).
 */
const keptText = (value: string): string => wholeCharacters(value, MAX_KEPT_CHARACTERS);

export interface AlertEntryOptions {
  source?: string;
  detailType?: string;
  eventBusName?: string;
}

function makeEntry(body: Record<string, unknown>, options: AlertEntryOptions): AlertEntry {
  const entry = entryIfWritable(body, options);
  if (!entry) throw new Error('An alert entry of scalar fields could not be written as JSON');
  return entry;
}

/** The entry, or undefined when `body` cannot be written as JSON (see jsonOr): an alert failing every run would stop the poller. */
function entryIfWritable(body: Record<string, unknown>, options: AlertEntryOptions): AlertEntry | undefined {
  const json = jsonOr(body, undefined);
  if (json === undefined) return undefined;
  // An alert's strings come from the endpoint (file names, command lines): one U+FFFF in them must not
  // make the event undeliverable to a rule's queue.
  const detail = sqsSafeJson(json);
  const entry: AlertEntry = {
    Source: options.source ?? ALERT_SOURCE,
    DetailType: options.detailType ?? ALERT_DETAIL_TYPE,
    Detail: detail,
  };
  if (options.eventBusName) entry.EventBusName = options.eventBusName;
  return entry;
}

/**
 * An entry for one alert. An alert too big for an event (MAX_EVENT_BYTES), or too deeply nested to serialise, loses
 * its `details` (and then every field but the identifying ones) rather than blocking the poller forever.
 */
export function alertEntry(detail: Record<string, unknown>, options: AlertEntryOptions = {}): AlertEntry {
  const whole = entryIfWritable(detail, options);
  if (whole && entrySize(whole) <= MAX_EVENT_BYTES) return whole;
  const why = whole ? DETAILS_OMITTED : UNSERIALISABLE_OMITTED;
  const { details: _details, details_raw: _raw, ...rest } = detail;
  const lighter = entryIfWritable({ ...rest, details: null, details_omitted: why }, options);
  if (lighter && entrySize(lighter) <= MAX_EVENT_BYTES) return lighter;
  return reducedAlertEntry(detail, why, options);
}

/**
 * The alert's identifying fields only, with `details_omitted` saying why the rest is missing. Only
 * scalar values are kept: every field of an alert passes through as Tanium sent it, and this entry must
 * always be writable and small.
 */
export function reducedAlertEntry(
  detail: Record<string, unknown>,
  why: string,
  options: AlertEntryOptions = {},
): AlertEntry {
  const minimal: Record<string, unknown> = { details: null, details_omitted: why };
  for (const key of KEPT_WHEN_SHRUNK) {
    const value = scalarOrUndefined(detail[key]);
    if (value !== undefined) minimal[key] = typeof value === 'string' ? keptText(value) : value;
  }
  return makeEntry(minimal, options);
}

/** A value Tanium sent, as a log line may echo it: a scalar, a string cut (shown); anything else left out. */
export function shownScalar(value: unknown): string | number | boolean | null | undefined {
  const scalar = scalarOrUndefined(value);
  return typeof scalar === 'string' ? shown(scalar) : scalar;
}

/** An alert's id or guid as a log line names it: cut as a reduced event cuts it, to be searched for. */
export function shownAlertId(value: unknown): string | number | boolean | null | undefined {
  const scalar = scalarOrUndefined(value);
  return typeof scalar === 'string' ? keptText(scalar) : scalar;
}

/** `value` when it is a string, number, boolean or null: what a log line or a reduced entry can carry. */
export function scalarOrUndefined(value: unknown): string | number | boolean | null | undefined {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value)
    ? (value as string | number | boolean | null)
    : undefined;
}
