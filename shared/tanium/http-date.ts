/**
 * HTTP dates (RFC 9110 5.6.7) in the three forms the RFC names, read as leniently as it asks recipients
 * to be: any case, runs of spaces, a one-digit day, a four-digit year in the obsolete RFC 850 form, and
 * a zone of GMT, UTC, UT, Z or a numeric offset, as servers do send. Nothing else: Date.parse alone
 * reads far more (`1.5` is a day in 2001) and takes an asctime date for local time.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{1,2}):(\\d{2}):(\\d{2})';
const ZONE = '(gmt|utc|ut|z|[+-]\\d{4})';

/** `Sun, 06 Nov 1994 08:49:37 GMT`: day, month, year, time, zone. */
const IMF_FIXDATE = new RegExp(`^[a-z]{3}, (\\d{1,2}) ${MONTH} (\\d{4}) ${TIME} ${ZONE}$`, 'i');
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete): day, month, year (two or four digits), time, zone. */
const RFC_850 = new RegExp(`^[a-z]{6,9}, (\\d{1,2})-${MONTH}-(\\d{2}|\\d{4}) ${TIME} ${ZONE}$`, 'i');
/** `Sun Nov  6 08:49:37 1994` (obsolete, and UTC though it names no zone): month, day, time, year. */
const ASCTIME = new RegExp(`^[a-z]{3} ${MONTH} (\\d{1,2}) ${TIME} (\\d{4})$`, 'i');

interface Fields {
  day: number;
  month: number;
  year: number;
  hours: number;
  minutes: number;
  seconds: number;
  offsetMinutes: number;
}

/** A two-digit year as RFC 9110 reads it: the latest year with those digits no more than 50 years ahead. */
function fullYear(digits: string, now: number): number {
  if (digits.length === 4) return Number(digits);
  const current = new Date(now).getUTCFullYear();
  const year = current - (current % 100) + Number(digits);
  return year > current + 50 ? year - 100 : year;
}

function offsetMinutes(zone: string | undefined): number {
  if (zone === undefined || !/^[+-]/.test(zone)) return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
}

function fieldsOf(text: string, now: number): Fields | undefined {
  const month = (name = '') => MONTHS.indexOf(name.toLowerCase());
  const imf = IMF_FIXDATE.exec(text) ?? RFC_850.exec(text);
  if (imf) {
    const [, day, name, year = '', hours, minutes, seconds, zone] = imf;
    return {
      day: Number(day),
      month: month(name),
      year: fullYear(year, now),
      hours: Number(hours),
      minutes: Number(minutes),
      seconds: Number(seconds),
      offsetMinutes: offsetMinutes(zone),
    };
  }
  const asctime = ASCTIME.exec(text);
  if (asctime) {
    const [, name, day, hours, minutes, seconds, year] = asctime;
    return {
      day: Number(day),
      month: month(name),
      year: Number(year),
      hours: Number(hours),
      minutes: Number(minutes),
      seconds: Number(seconds),
      offsetMinutes: 0,
    };
  }
  return undefined;
}

/** `text` as an HTTP date, in ms since the epoch; undefined in any other shape, or naming no real time. */
export function parseHttpDate(text: string, now = Date.now()): number | undefined {
  const fields = fieldsOf(text.trim().replace(/\s+/g, ' '), now);
  if (fields === undefined) return undefined;
  const { day, month, year, hours, minutes, seconds } = fields;
  // A Date rolls 31 Feb over to March and 99:99 into later days: such a date is no date at all.
  if (hours > 23 || minutes > 59 || seconds > 60) return undefined;
  const date = new Date(0);
  // Not Date.UTC: it reads a year below 100 as 19xx, and `0026` is the year 26.
  date.setUTCFullYear(year, month, day);
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month) return undefined;
  date.setUTCHours(hours, minutes, seconds);
  return date.getTime() - fields.offsetMinutes * 60_000;
}
