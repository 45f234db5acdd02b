import type { ActionResult } from '../shared/actions/types.ts';
import { isRecord } from '../shared/config/is-record.ts';
import { cutTo } from '../shared/config/message-text.ts';

const MAX_CELL = 60;
/**
 * Where a value an analyst copies (an id, a hash, a path) is cut all the same: past any id or digest,
 * far past most paths, and short of a blob that would widen every row of the table to its length.
 */
const MAX_COPYABLE_CELL = 256;

/** Printed under a result whose table lost text to MAX_CELL, so nobody takes a cut cell for the value. */
export const CUT_FOOTER = '(some cells were cut; --json prints every value whole)';

/**
 * Characters a terminal acts on or that disguise text, beyond C0: DEL and C1 controls (the one-character
 * CSI U+009B), the Unicode line separators and interlinear annotation marks, and every character Unicode
 * says to render invisibly (Default_Ignorable_Code_Point): bidi overrides and marks
 * (`invoice\u202Efdp.exe` shows as `invoiceexe.pdf`), zero-width characters, the soft hyphen, variation
 * selectors, Hangul fillers and tag characters (U+E0000-U+E007F, which can carry a hidden second text).
 */
const UNSAFE_BEYOND_C0 = '\\u007f-\\u009f\\u2028\\u2029\\ufff9-\\ufffb\\p{Default_Ignorable_Code_Point}';

/** With the C0 controls (ESC, BEL, ...): what plain text must not carry. */
const UNSAFE = new RegExp(`[\\u0000-\\u001f${UNSAFE_BEYOND_C0}]`, 'gu');

/** In JSON, C0 is escaped in strings by JSON.stringify itself (and its \n lays out the lines). */
const UNSAFE_IN_JSON = new RegExp(`[${UNSAFE_BEYOND_C0}]`, 'gu');

/**
 * `\uNNNN` for each UTF-16 unit (a tag character is a surrogate pair): visible, and what a JSON or
 * JavaScript reader takes back.
 */
function unicodeEscape(char: string): string {
  let text = '';
  for (let i = 0; i < char.length; i++) text += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return text;
}

/** `\xNN` for a control character (shorter, as terminals and C show them), `\uNNNN` above. */
function escaped(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : unicodeEscape(char);
}

/**
 * One line of text safe for a terminal: whitespace runs become one space and every other UNSAFE
 * character a visible escape. Results carry endpoint data (command lines, file names) an attacker chose,
 * and ESC or BEL sequences in it would retitle, clear or rewrite the analyst's terminal.
 */
export function plain(text: string): string {
  return text.replace(/\s+/g, ' ').replace(UNSAFE, escaped);
}

/**
 * JSON text with every UNSAFE character left in strings written as a JSON `\uNNNN` escape: the same
 * document for a parser, nothing for a terminal to act on (JSON.stringify escapes C0 only).
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, unicodeEscape);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  return plain(typeof value === 'object' ? JSON.stringify(value) : String(value));
}

/** A path: `C:\...`, `\\server\...`, `\Device\...` or `/...`, spaces or not. */
const PATH = /^(?:[A-Za-z]:\\|\\|\/)/;
/** What makes a value that starts like a path a command line: a quote, or an argument (` -x`, ` /x`). */
const ARGUMENTS = /"|\s[-/]/;

/**
 * A table cell: free text cut to MAX_CELL, and a value an analyst copies into the next command (one word
 * such as an id or a hash, or a path) only past MAX_COPYABLE_CELL, since a cut one would be a wrong
 * value. An object or a list is shown as JSON, and cut as free text.
 */
function cell(value: unknown): { text: string; cut: boolean } {
  const flat = cellText(value);
  const copyable =
    typeof value !== 'object' && (!flat.includes(' ') || (PATH.test(flat) && !ARGUMENTS.test(flat)));
  const max = copyable ? MAX_COPYABLE_CELL : MAX_CELL;
  // Cut between whole characters: half a surrogate pair prints as a replacement character, or breaks
  // the line for a terminal that refuses it.
  return { text: cutTo(flat, max), cut: flat.length > max };
}

/**
 * A plain-text table of list items: the columns are the keys of the items, in first-seen order. `cut`
 * says whether a free-text cell was shortened.
 */
export function table(rows: readonly unknown[]): { text: string; cut: boolean } {
  const records = rows.map((row) => (isRecord(row) ? row : { value: row }));
  const columns: string[] = [];
  for (const record of records) {
    for (const key of Object.keys(record)) if (!columns.includes(key)) columns.push(key);
  }
  let cut = false;
  const cells = records.map((record) =>
    columns.map((column) => {
      const shown = cell((record as Record<string, unknown>)[column]);
      cut ||= shown.cut;
      return shown.text;
    }),
  );
  // The keys come from the endpoint's data as much as the values do.
  const headers = columns.map(plain);
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, i) => value.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const text = [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
  return { text, cut };
}

/** The readable form of a result: status and message, the summary, then the data as a table. */
export function formatResult(result: ActionResult): string {
  const lines = [`${result.status === 'success' ? 'SUCCESS' : 'FAILED'}: ${plain(result.message)}`];
  if (result.error)
    lines.push(`error: ${plain(result.error.kind)}${result.error.retryable ? ' (retryable)' : ''}`);
  const summary = Object.entries(result.summary);
  if (summary.length > 0) {
    lines.push('', 'Summary:');
    // Whole, however long: a summary holds the values (hash, file name, connection id) used next.
    for (const [key, value] of summary) lines.push(`  ${plain(key)}: ${cellText(value)}`);
  }
  if (result.data.length > 0) {
    const data = table(result.data);
    lines.push('', `Data (${result.data.length}):`, data.text);
    if (data.cut) lines.push(CUT_FOOTER);
  }
  return lines.join('\n');
}
