import { entrySize, MAX_ENTRIES_PER_CALL, MAX_ENTRY_BYTES } from '../events/eventbridge-limits.ts';
import { type Alert, alertEnrichment, parseAlertDetails } from '../tanium/alerts.ts';
import type { AlertEntry } from './types.ts';

export { entrySize, MAX_ENTRIES_PER_CALL };
/** PutEvents limit for a call: the sum of its entries' sizes (and so for one entry). */
export const MAX_REQUEST_BYTES = MAX_ENTRY_BYTES;

export const ALERT_SOURCE = 'tanium.threat-response';
export const ALERT_DETAIL_TYPE = 'Alert';

export const DETAILS_OMITTED = 'details omitted: the alert exceeds the EventBridge entry size limit';
export const REFUSED_OMITTED = 'details omitted: EventBridge refused the whole alert';

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

export interface AlertEntryOptions {
  source?: string;
  detailType?: string;
  eventBusName?: string;
}

function makeEntry(body: Record<string, unknown>, options: AlertEntryOptions): AlertEntry {
  const entry: AlertEntry = {
    Source: options.source ?? ALERT_SOURCE,
    DetailType: options.detailType ?? ALERT_DETAIL_TYPE,
    Detail: JSON.stringify(body),
  };
  if (options.eventBusName) entry.EventBusName = options.eventBusName;
  return entry;
}

/**
 * An entry for one alert. An alert too big for a PutEvents call loses its `details` (and then every
 * field but the identifying ones) rather than blocking the poller forever.
 */
export function alertEntry(detail: Record<string, unknown>, options: AlertEntryOptions = {}): AlertEntry {
  let entry = makeEntry(detail, options);
  if (entrySize(entry) <= MAX_REQUEST_BYTES) return entry;
  const { details: _details, details_raw: _raw, ...rest } = detail;
  entry = makeEntry({ ...rest, details: null, details_omitted: DETAILS_OMITTED }, options);
  if (entrySize(entry) <= MAX_REQUEST_BYTES) return entry;
  return reducedAlertEntry(detail, DETAILS_OMITTED, options);
}

/** The alert's identifying fields only, with `details_omitted` saying why the rest is missing. */
export function reducedAlertEntry(
  detail: Record<string, unknown>,
  why: string,
  options: AlertEntryOptions = {},
): AlertEntry {
  const minimal: Record<string, unknown> = { details: null, details_omitted: why };
  for (const key of KEPT_WHEN_SHRUNK) if (detail[key] !== undefined) minimal[key] = detail[key];
  return makeEntry(minimal, options);
}
