/** HTTP dates (RFC 9110 5.6.7), read in the three forms the RFC names and nothing else. */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

/** `Sun, 06 Nov 1994 08:49:37 GMT`: day, month, year, time. */
const IMF_FIXDATE = new RegExp(`^[A-Za-z]{3}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete): day, month, two-digit year, time. */
const RFC_850 = new RegExp(`^[A-Za-z]{6,9}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete, and UTC though it names no zone): month, day, time, year. */
const ASCTIME = new RegExp(`^[A-Za-z]{3} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/** A two-digit year as RFC 9110 reads it: the latest year with those digits no more than 50 years ahead. */
function fullYear(twoDigits: number, now: number): number {
  const current = new Date(now).getUTCFullYear();
  const year = current - (current % 100) + twoDigits;
  return year > current + 50 ? year - 100 : year;
}

/** `[day, month, year, hours, minutes, seconds]` of `text` in one of the three forms. */
function fieldsOf(text: string, now: number): [number, string, number, number, number, number] | undefined {
  const imf = IMF_FIXDATE.exec(text);
  if (imf) {
    const [, day, month = '', year, hours, minutes, seconds] = imf;
    return [Number(day), month, Number(year), Number(hours), Number(minutes), Number(seconds)];
  }
  const rfc850 = RFC_850.exec(text);
  if (rfc850) {
    const [, day, month = '', year, hours, minutes, seconds] = rfc850;
    return [Number(day), month, fullYear(Number(year), now), Number(hours), Number(minutes), Number(seconds)];
  }
  const asctime = ASCTIME.exec(text);
  if (asctime) {
    const [, month = '', day, hours, minutes, seconds, year] = asctime;
    return [Number(day), month, Number(year), Number(hours), Number(minutes), Number(seconds)];
  }
  return undefined;
}

/**
 * `text` as an HTTP date, in ms since the epoch; undefined in any other shape. Date.parse alone reads
 * far more (`1.5` is a day in 2001) and takes an asctime date for local time.
 */
export function parseHttpDate(text: string, now = Date.now()): number | undefined {
  const fields = fieldsOf(text, now);
  if (fields === undefined) return undefined;
  const [day, month, year, hours, minutes, seconds] = fields;
  return Date.UTC(year, MONTHS.indexOf(month), day, hours, minutes, seconds);
}
