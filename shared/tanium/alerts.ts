import * as z from 'zod/mini';
import { isRecord } from '../config/is-record.ts';
import { SHOWN_NAME_CHARS, shown } from '../config/message-text.ts';
import type { TaniumApi } from './client.ts';
import { unexpectedResponse, ValidationError } from './errors.ts';
import { pagePairs, query, TR } from './routes.ts';

/**
 * Threat Response alerts (tanium-api.md 2.20, 3.3, 4.8): one page of them, the query syntax of list
 * alerts, and the enrichment shared by the list alerts action and the alert poller.
 */

export const ALERTS_READ = 'threat response alerts read';

/** An alert as Tanium sends it; every field passes through, `details` is a JSON-encoded string. */
const alertSchema = z.looseObject({
  id: z.optional(z.unknown()),
  guid: z.optional(z.unknown()),
  createdAt: z.optional(z.unknown()),
  details: z.optional(z.unknown()),
});
export type Alert = z.infer<typeof alertSchema>;

const entryList = z.array(z.unknown());
/** A count in `meta`: a finite number, or else taken as not sent. */
const metaCount = z.number();

export interface AlertsMeta {
  totalCount?: number;
  filteredCount?: number;
  [key: string]: unknown;
}

/** The fields enrichment adds; `details` stays as received. */
export interface AlertEnrichment {
  path: string;
  event_type: string;
  md5?: string;
  sha1?: string;
  sha256?: string;
  details_error?: string;
}

export type EnrichedAlert = Alert & AlertEnrichment;

type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return isRecord(value) ? value : undefined;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * `details` as an object: the JSON string decoded, or an object used as is. A missing value, text that is
 * not JSON, or JSON that is not an object gives the reason instead.
 */
export function parseAlertDetails(details: unknown): { details: Json } | { error: string } {
  if (details === undefined || details === null) return { error: 'details is missing' };
  let value: unknown = details;
  if (typeof details === 'string') {
    try {
      value = JSON.parse(details);
    } catch (error) {
      return { error: (error as Error).message };
    }
  }
  const object = asObject(value);
  return object ? { details: object } : { error: 'details is not a JSON object' };
}

/**
 * The derived fields of 2.20. The hash preference differs on purpose: `md5` prefers the match's own
 * property, `sha1`/`sha256` the nested file's. The connector wrote `fullpath` into `md5`; this does not.
 */
export function alertEnrichment(details: unknown): AlertEnrichment {
  const parsed = parseAlertDetails(details);
  if ('error' in parsed) {
    return { path: '', event_type: '', details_error: `Unable to parse details: ${parsed.error}` };
  }
  const match = asObject(parsed.details.match);
  const properties = asObject(match?.properties) ?? {};
  const file = asObject(properties.file) ?? {};
  const enrichment: AlertEnrichment = {
    path:
      (typeof properties.fullpath === 'string' ? properties.fullpath : undefined) ??
      (typeof file.fullpath === 'string' ? file.fullpath : undefined) ??
      '',
    event_type: typeof match?.type === 'string' ? match.type : '',
  };
  const md5 = nonEmpty(properties.md5) ?? nonEmpty(file.md5);
  const sha1 = nonEmpty(file.sha1) ?? nonEmpty(properties.sha1);
  const sha256 = nonEmpty(file.sha256) ?? nonEmpty(properties.sha256);
  if (md5 !== undefined) enrichment.md5 = md5;
  if (sha1 !== undefined) enrichment.sha1 = sha1;
  if (sha256 !== undefined) enrichment.sha256 = sha256;
  return enrichment;
}

/**
 * The alert with `path`, `event_type`, the hashes and, when `details` cannot be read, `details_error`.
 * The alert is never dropped: one bad `details` must not hide the others.
 */
export function enrichAlert(alert: Alert): EnrichedAlert {
  return { ...alert, ...alertEnrichment(alert.details) };
}

/**
 * Parses list alerts' `query` (tanium-api.md 2.20): a leading `?` dropped, URL query decoding, repeated
 * keys kept in order, `limit`/`offset` dropped (the parameters win). Throws a ValidationError for a part
 * that is not `key=value`.
 */
export function parseAlertQuery(text: string | undefined): Array<[string, string]> {
  if (text === undefined) return [];
  const body = text.startsWith('?') ? text.slice(1) : text;
  for (const part of body.split('&')) {
    if (part === '') continue;
    if (part.indexOf('=') <= 0) {
      throw new ValidationError(
        `Unable to parse provided query: every part must be key=value (got '${shown(part)}')`,
      );
    }
    const badEscape = nonUtf8Escape(part);
    if (badEscape !== undefined) {
      throw new ValidationError(
        `Unable to parse provided query: '${shown(part)}' has ${badEscape}, which is not UTF-8 percent-encoding and would be sent as U+FFFD (write é as %C3%A9, not %E9)`,
      );
    }
  }
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of new URLSearchParams(body)) {
    // Tanium ignores a key it does not know, so ' state' (a space after '&' or a pasted line) would drop
    // the filter and list every alert; 'unresolved\n' would match none. No alert filter has either.
    if (key.trim() !== key || value.trim() !== value) {
      throw new ValidationError(
        `Unable to parse provided query: '${shown(`${key}=${value}`)}' has white space around its key or value`,
      );
    }
    // For the same reason: '&amp;' copied from HTML makes the key 'amp;priority', a pasted URL makes it
    // 'https://...alerts?state'. Every alert filter (tanium-api.md 4.8) is a plain name.
    if (!FILTER_NAME.test(key)) {
      throw new ValidationError(
        `Unable to parse provided query: '${shown(key, SHOWN_NAME_CHARS)}' is not a filter name (letters, digits, '_', '.', '-', '[' and ']'), and Tanium would ignore it; write '&' between filters, not '&amp;', and give the query alone, not a URL`,
      );
    }
    if (key !== 'limit' && key !== 'offset') pairs.push([key, value]);
  }
  return pairs;
}

/** What a filter's name may hold: Tanium's are camelCase words, and bracket or dotted forms are kept. */
const FILTER_NAME = /^[A-Za-z0-9_.\-[\]]+$/;

const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * The first run of `%xx` escapes in `part` that is not UTF-8, which URLSearchParams would turn into
 * U+FFFD and so filter on something else; undefined when there is none. A `%` not followed by two hex
 * digits stays a literal `%`, as URLSearchParams keeps it.
 */
function nonUtf8Escape(part: string): string | undefined {
  for (const [run] of part.matchAll(PERCENT_RUN)) {
    try {
      // Throws URIError for escapes that are not UTF-8, and only for those in a run of valid escapes.
      decodeURIComponent(run);
    } catch {
      return shown(run, SHOWN_NAME_CHARS);
    }
  }
  return undefined;
}

export interface AlertsPageRequest {
  limit: number;
  /** Sent only when > 0. */
  offset?: number;
  /** Filters and `sort`, in order, after `limit` and `offset`. */
  pairs?: ReadonlyArray<readonly [string, string]>;
  deadline: number;
  /** The display name used in messages (default `list alerts`). */
  action?: string;
  /**
   * An entry that is not an object becomes an empty alert in its place instead of failing the page: the
   * poller counts positions, and skips (and logs) an alert without id, where one bad entry would
   * otherwise fail every run until Tanium dropped it.
   */
  placeholders?: boolean;
}

export interface AlertsPage {
  /** The alerts as Tanium sent them (not enriched). */
  alerts: Alert[];
  /** `meta` of the response (`totalCount`, `filteredCount`), when Tanium sent one. */
  meta?: AlertsMeta;
}

/**
 * `meta` as Tanium sent it, but for a count that is not a number: dropped, not passed on as one. The
 * poller takes `filteredCount ?? totalCount` for where it stands in the list: a `filteredCount` of the
 * wrong type would hide a good `totalCount`.
 */
function checkedMeta(meta: Json): AlertsMeta {
  const { totalCount, filteredCount, ...rest } = meta;
  const checked: AlertsMeta = rest;
  const total = metaCount.safeParse(totalCount);
  if (total.success) checked.totalCount = total.data;
  const filtered = metaCount.safeParse(filteredCount);
  if (filtered.success) checked.filteredCount = filtered.data;
  return checked;
}

/** `GET TR/alerts?limit=<n>[&offset=<n>][&<pairs>]`: one page, the wrapped or the bare form. */
export async function listAlertsPage(client: TaniumApi, request: AlertsPageRequest): Promise<AlertsPage> {
  const pairs = [...pagePairs(request.limit, request.offset), ...(request.pairs ?? [])];
  const response = await client.request({
    method: 'GET',
    path: `${TR}/alerts`,
    query: query(pairs),
    deadline: request.deadline,
    action: request.action ?? 'list alerts',
    permission: ALERTS_READ,
  });
  const entries = entryList.safeParse(response.payload ?? []);
  if (!entries.success) throw unexpectedResponse('a list of alerts');
  const alerts: Alert[] = [];
  for (const entry of entries.data) {
    const alert = alertSchema.safeParse(entry);
    if (alert.success) alerts.push(alert.data);
    else if (request.placeholders) alerts.push({});
    else throw unexpectedResponse('a list of alerts');
  }
  const meta = asObject(response.meta);
  return meta ? { alerts, meta: checkedMeta(meta) } : { alerts };
}
