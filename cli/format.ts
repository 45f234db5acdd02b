import type { ActionResult } from '../shared/actions/types.ts';

const MAX_CELL = 60;

function cell(value: unknown): string {
  const text =
    value === null || value === undefined
      ? ''
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > MAX_CELL ? `${flat.slice(0, MAX_CELL - 1)}…` : flat;
}

/** A plain-text table of list items: the columns are the keys of the items, in first-seen order. */
export function table(rows: readonly unknown[]): string {
  const records = rows.map((row) =>
    row && typeof row === 'object' && !Array.isArray(row) ? row : { value: row },
  );
  const columns: string[] = [];
  for (const record of records) {
    for (const key of Object.keys(record)) if (!columns.includes(key)) columns.push(key);
  }
  const cells = records.map((record) =>
    columns.map((column) => cell((record as Record<string, unknown>)[column])),
  );
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, i) => value.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** The readable form of a result: status and message, the summary, then the data as a table. */
export function formatResult(result: ActionResult): string {
  const lines = [`${result.status === 'success' ? 'SUCCESS' : 'FAILED'}: ${result.message}`];
  if (result.error) lines.push(`error: ${result.error.kind}${result.error.retryable ? ' (retryable)' : ''}`);
  const summary = Object.entries(result.summary);
  if (summary.length > 0) {
    lines.push('', 'Summary:');
    for (const [key, value] of summary) lines.push(`  ${key}: ${cell(value)}`);
  }
  if (result.data.length > 0) lines.push('', `Data (${result.data.length}):`, table(result.data));
  return lines.join('\n');
}
