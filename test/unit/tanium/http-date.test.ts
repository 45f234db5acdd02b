import { describe, expect, it } from 'vitest';
import { parseHttpDate } from '../../../shared/tanium/http-date.ts';

// The forms and the lenient reading are pinned through Retry-After in retry-policy.test.ts.
describe('HTTP dates', () => {
  it.each([
    ['a four-digit year below 100 as that year', 'Thu, 01 Jan 0026 00:00:03 GMT', '0026-01-01T00:00:03Z'],
    ['29 February of the year 0, a leap year', 'Sat, 29 Feb 0000 12:00:00 GMT', '0000-02-29T12:00:00Z'],
    ['29 February 2000, a leap year', 'Tue, 29 Feb 2000 12:00:00 GMT', '2000-02-29T12:00:00Z'],
    ['a leap second as the next minute', 'Thu, 01 Jan 2026 00:00:60 GMT', '2026-01-01T00:01:00Z'],
    ['an offset ahead of UTC', 'Thu, 01 Jan 0026 01:00:00 +0100', '0026-01-01T00:00:00Z'],
    ['a date with spaces around it', '  Thu, 01 Jan 2026 00:00:03 GMT \t', '2026-01-01T00:00:03Z'],
  ])('reads %s', (_case, text, iso) => {
    // Act
    const time = parseHttpDate(text, Date.parse('2026-01-01T00:00:00Z'));

    // Assess
    expect(time).toBe(Date.parse(iso));
  });

  it.each([
    ['29 February 1900, not a leap year', 'Thu, 29 Feb 1900 12:00:00 GMT'],
    ['29 February of the year 26', 'Thu, 29 Feb 0026 12:00:00 GMT'],
  ])('refuses %s', (_case, text) => {
    expect(parseHttpDate(text, Date.parse('2026-01-01T00:00:00Z'))).toBeUndefined();
  });
});
