import { ValidationError } from './errors.ts';

/** Threat Response 4.x resources. */
export const TR = '/plugin/products/threat-response/api/v1';
/** Endpoint lookup (Direct Endpoint Connections). */
export const DEC = '/plugin/products/dec/v1';
/** Platform routes: login, computer groups. */
export const API_V2 = '/api/v2';

/**
 * The longest path and query the client sends. Common web servers and proxies refuse request lines over
 * 8 KB (Apache's 8,190, nginx's 8 KB buffers) with a 414 or 431 that names nothing; this stays under
 * them with room for the method and protocol.
 */
export const MAX_URL_CHARS = 8000;

/**
 * One dynamic path segment, encoded so that no parameter value can change the route: `/`, `?`, `#`
 * and `%` are escaped, and `.`/`..` (which URL normalisation would resolve) are refused outright.
 */
export function segment(name: string, value: string | number): string {
  const text = String(value);
  if (isDotSegment(text)) throw new ValidationError(dotSegmentMessage(name));
  return encodeURIComponent(text);
}

/** Whether `text` is a path segment URL normalisation would resolve, moving the request elsewhere. */
export const isDotSegment = (text: string): boolean => text === '.' || text === '..';

export const dotSegmentMessage = (name: string) =>
  `Please provide a valid value in the '${name}' parameter: '.' and '..' are not allowed`;

/** A connection id segment: encoded like any other, but `:` stays literal as Tanium writes it. */
export function connectionSegment(name: string, value: string): string {
  return segment(name, value).replace(/%3A/gi, ':');
}

/** Builds a query string in the given order (URLSearchParams: space -> `+`, `,` -> `%2C`). */
export function query(pairs: Iterable<readonly [string, string | number]>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of pairs) params.append(key, String(value));
  return params;
}

/**
 * The paging pairs every list route takes, in the order the connector sent them: `limit`, then
 * `offset` only when above 0, then `sort` when given.
 */
export function pagePairs(
  limit: number,
  offset = 0,
  sort?: string,
): Array<readonly [string, string | number]> {
  const pairs: Array<readonly [string, string | number]> = [['limit', limit]];
  if (offset > 0) pairs.push(['offset', offset]);
  if (sort !== undefined && sort !== '') pairs.push(['sort', sort]);
  return pairs;
}
