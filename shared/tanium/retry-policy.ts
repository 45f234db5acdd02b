import { parseHttpDate } from './http-date.ts';

/** Retry rules of tanium-api.md 1.4, in one place. */

export const MAX_ATTEMPTS = 3;
/** No attempt starts with less time than this before the deadline. */
export const MIN_ATTEMPT_MS = 1000;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 4000;

export const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Answers whose `Retry-After` speaks for the server, not for the one request (RFC 9110 10.2.3): the
 * container's other requests hold off as long, instead of each meeting the same refusal.
 */
export const PAUSE_STATUSES = new Set([429, 503]);
/**
 * The longest such a pause holds the container's requests, whatever `Retry-After` asked: a proxy's bad
 * clock or a stale header then costs at most a minute, and a throttled Tanium sees one request a minute.
 */
export const MAX_PAUSE_MS = 60_000;

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

/**
 * `Retry-After` as seconds (a fraction too, which some servers send, rounded up to whole ms) or an HTTP
 * date, in ms from now; undefined when absent or unreadable, so the jittered backoff applies.
 */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const seconds = /^(\d+)(?:\.(\d+))?$/.exec(trimmed);
  if (seconds) {
    // Milliseconds from the digits: in floating point, 1.1 x 1000 is 1100.0000000000002.
    const fraction = (seconds[2] ?? '').padEnd(3, '0');
    const past = /[1-9]/.test(fraction.slice(3)) ? 1 : 0;
    return Number(seconds[1]) * 1000 + Number(fraction.slice(0, 3)) + past;
  }
  const date = parseHttpDate(trimmed, now);
  return date === undefined ? undefined : Math.max(0, date - now);
}
