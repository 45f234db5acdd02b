import { describe, expect, it } from 'vitest';
import { backoffMs, isIdempotent, retryAfterMs } from '../../../shared/tanium/retry-policy.ts';

describe('Retry policy', () => {
  it('waits with full jitter capped at 4 s', () => {
    expect(backoffMs(1, () => 0.999)).toBe(249);
    expect(backoffMs(2, () => 0.5)).toBe(250);
    expect(backoffMs(10, () => 0.999)).toBe(3996);
    expect(backoffMs(3, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it.each([
    ['1.5', 1_500],
    ['0.5', 500],
    [' 1.1 ', 1_100],
    ['2.0', 2_000],
    ['0.0001', 1],
    ['120', 120_000],
  ])('reads a Retry-After of %j seconds as %i ms, fractions rounded up to whole ms', (header, ms) => {
    // Act
    const wait = retryAfterMs(header, Date.parse('2026-01-01T00:00:00Z'));

    // Assess
    expect(wait).toBe(ms);
  });

  it.each([
    ['IMF-fixdate', 'Thu, 01 Jan 2026 00:00:03 GMT'],
    ['RFC 850', 'Thursday, 01-Jan-26 00:00:03 GMT'],
    ['asctime, read as UTC', 'Thu Jan  1 00:00:03 2026'],
    ['IMF-fixdate with a one-digit day (as Java writes it)', 'Thu, 1 Jan 2026 00:00:03 GMT'],
    ['IMF-fixdate in lower case', 'thu, 01 jan 2026 00:00:03 gmt'],
    ['IMF-fixdate with UTC', 'Thu, 01 Jan 2026 00:00:03 UTC'],
    ['IMF-fixdate with +0000', 'Thu, 01 Jan 2026 00:00:03 +0000'],
    ['IMF-fixdate with an offset', 'Thu, 01 Jan 2026 01:00:03 +0100'],
    ['IMF-fixdate with an offset in hours and minutes', 'Thu, 01 Jan 2026 01:30:03 +0130'],
    ['IMF-fixdate with an offset behind UTC', 'Wed, 31 Dec 2025 22:30:03 -0130'],
    ['IMF-fixdate with runs of spaces', 'Thu,  01 Jan  2026 00:00:03   GMT'],
    ['RFC 850 with a four-digit year', 'Thursday, 01-Jan-2026 00:00:03 GMT'],
  ])('reads a Retry-After HTTP date in %s form', (_form, header) => {
    // Act
    const wait = retryAfterMs(header, Date.parse('2026-01-01T00:00:00Z'));

    // Assess
    expect(wait).toBe(3_000);
  });

  it.each([
    ['Thu, 01 Jan 2026 23:00:00 GMT', 82_800_000],
    ['Thu, 01 Jan 2026 00:59:00 GMT', 3_540_000],
    ['Thu, 01 Jan 2026 00:00:60 GMT', 60_000],
  ])('reads a Retry-After of %j, at the last hour, minute or (leap) second, as %i ms', (header, ms) => {
    // Act
    const wait = retryAfterMs(header, Date.parse('2026-01-01T00:00:00Z'));

    // Assess
    expect(wait).toBe(ms);
  });

  it.each(
    ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].map(
      (name, month) => [name, month],
    ),
  )('reads the month %s in a Retry-After HTTP date', (name, month) => {
    // Prepare: the 15th of that month in 2026, as JavaScript writes an HTTP date
    const now = Date.parse('2026-01-01T00:00:00Z');
    const date = Date.UTC(2026, month, 15);
    const header = new Date(date).toUTCString();

    // Act
    const wait = retryAfterMs(header, now);

    // Assess
    expect(header).toContain(` ${name} 2026 `);
    expect(wait).toBe(date - now);
  });

  it.each([
    [
      'exactly 50 years ahead, in this century',
      'Wednesday, 01-Jan-76 00:00:03 GMT',
      Date.UTC(2076, 0, 1, 0, 0, 3),
    ],
    [
      'more than 50 years ahead, in the last century',
      'Saturday, 01-Jan-77 00:00:03 GMT',
      Date.UTC(1977, 0, 1, 0, 0, 3),
    ],
  ])('reads the two-digit year of an RFC 850 Retry-After %s', (_year, header, date) => {
    // Act
    const now = Date.parse('2026-01-01T00:00:00Z');
    const wait = retryAfterMs(header, now);

    // Assess: a date in the past is no wait at all
    expect(wait).toBe(Math.max(0, date - now));
  });

  it.each([
    '1.5e1',
    '0x10',
    '-1',
    '1.',
    '.5',
    '2026-01-01T00:00:03Z',
    'Thu, 01 Jan 2026 00:00:03',
    'Jan 1 2026',
    ' ',
    'Sat, 31 Feb 2026 00:00:00 GMT',
    'Thu, 01 Jan 2026 99:99:99 GMT',
    'Thu, 00 Jan 2026 00:00:03 GMT',
    'Thu, 01 Jan 2026 24:00:00 GMT',
    'Thu, 01 Jan 2026 00:60:00 GMT',
    'Thu, 01 Jan 2026 00:00:61 GMT',
  ])('treats a Retry-After of %j as absent, so the backoff applies', (header) => {
    // Act
    const wait = retryAfterMs(header, Date.parse('2026-01-01T00:00:00Z'));

    // Assess
    expect(wait).toBeUndefined();
  });

  it('treats only GET, DELETE and HEAD as safe to repeat', () => {
    expect(isIdempotent('GET')).toBe(true);
    expect(isIdempotent('DELETE')).toBe(true);
    expect(isIdempotent('HEAD')).toBe(true);
    expect(isIdempotent('POST')).toBe(false);
    expect(isIdempotent('PUT')).toBe(false);
  });
});
