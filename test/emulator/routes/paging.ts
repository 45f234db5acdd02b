import { badRequest, type Reply } from '../http.ts';
import { parseCount } from '../util.ts';

/** `limit`/`offset` of the list routes; a bad value answers 400 like the server's validation. */
export function paging(
  query: URLSearchParams,
  defaultLimit: number,
): { limit: number; offset: number } | Reply {
  const limit = parseCount(query.get('limit'));
  const offset = parseCount(query.get('offset'));
  if (limit === null || limit === 0) return badRequest(`Invalid limit: ${query.get('limit')}`);
  if (offset === null) return badRequest(`Invalid offset: ${query.get('offset')}`);
  return { limit: limit ?? defaultLimit, offset: offset ?? 0 };
}
