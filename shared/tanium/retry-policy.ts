/** Retry rules of tanium-api.md 1.4, in one place. */

export const MAX_ATTEMPTS = 3;
/** No attempt starts with less time than this before the deadline. */
export const MIN_ATTEMPT_MS = 1000;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 4000;

export const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

export function isIdempotent(method: string): boolean {
  return method === 'GET' || method === 'DELETE' || method === 'HEAD';
}

/** Full jitter: random(0, min(4 s, 250 ms x 2^(n-1))) before attempt n+1. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return fullJitterMs(attempt, BASE_DELAY_MS, MAX_DELAY_MS, random);
}

/** Full jitter after the n-th failed attempt: random(0, min(maxMs, baseMs x 2^(n-1))), whole ms. */
export function fullJitterMs(failed: number, baseMs: number, maxMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (failed - 1)));
}

/** `Retry-After` as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
