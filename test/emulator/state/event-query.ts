import type { EventRow } from './events.ts';

export const OPERATORS = [
  'co',
  'nc',
  'isempty',
  'isnull',
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'range',
] as const;

export interface Filter {
  field: string;
  operator: string;
  value: string;
}

export type FilterParse =
  | { ok: true; predicate: (row: EventRow) => boolean }
  | { ok: false; message: string };

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

const INTEGER = /^\s*-?\d+\s*$/;

/**
 * Integers compare exactly (64-bit ids are strings past 2^53: as doubles, neighbouring ids would be
 * equal), other numbers as numbers, everything else as text.
 */
function compare(actual: unknown, expected: string): number {
  const integer = typeof actual === 'number' ? Number.isSafeInteger(actual) : INTEGER.test(String(actual));
  if (integer && INTEGER.test(expected)) {
    const x = BigInt(String(actual).trim());
    const y = BigInt(expected.trim());
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const a = asNumber(actual);
  const b = asNumber(expected);
  if (a !== undefined && b !== undefined) return a - b;
  const text = actual === null || actual === undefined ? '' : String(actual);
  return text < expected ? -1 : text > expected ? 1 : 0;
}

function test(filter: Filter, row: EventRow): boolean {
  const actual = row[filter.field];
  const text = actual === null || actual === undefined ? '' : String(actual);
  switch (filter.operator) {
    case 'eq':
      return actual !== undefined && actual !== null && compare(actual, filter.value) === 0;
    case 'ne':
      return actual === undefined || actual === null || compare(actual, filter.value) !== 0;
    case 'co':
      return text.toLowerCase().includes(filter.value.toLowerCase());
    case 'nc':
      return !text.toLowerCase().includes(filter.value.toLowerCase());
    case 'gt':
      return actual !== null && actual !== undefined && compare(actual, filter.value) > 0;
    case 'gte':
      return actual !== null && actual !== undefined && compare(actual, filter.value) >= 0;
    case 'lt':
      return actual !== null && actual !== undefined && compare(actual, filter.value) < 0;
    case 'lte':
      return actual !== null && actual !== undefined && compare(actual, filter.value) <= 0;
    case 'isempty':
      return text === '';
    case 'isnull':
      return actual === null || actual === undefined;
    default:
      return false;
  }
}

/**
 * Reads `f{i}/o{i}/v{i}`, `gm1` and `g1` as the recorder views do. Without `g1` every filter takes part;
 * `range` answers 400 while the switch says so (the emulator does not model its value syntax).
 */
export function parseFilters(query: URLSearchParams, rangeIs400: boolean): FilterParse {
  const filters = new Map<number, Filter>();
  for (const key of query.keys()) {
    const match = /^f(\d+)$/.exec(key);
    if (!match) continue;
    const index = Number(match[1]);
    const operator = query.get(`o${index}`);
    const value = query.get(`v${index}`);
    if (operator === null || value === null)
      return { ok: false, message: `Filter ${index} needs o${index} and v${index}` };
    if (!(OPERATORS as readonly string[]).includes(operator))
      return { ok: false, message: `Invalid operator: ${operator}` };
    if (operator === 'range' && rangeIs400)
      return { ok: false, message: `Operator range is not supported for field ${query.get(key)}` };
    filters.set(index, { field: query.get(key)!, operator, value });
  }
  const mode = query.get('gm1') ?? 'all';
  if (mode !== 'all' && mode !== 'any') return { ok: false, message: `Invalid group match: ${mode}` };
  let members = [...filters.keys()];
  const group = query.get('g1');
  if (group !== null) {
    members = [];
    for (const part of group.split(',')) {
      const index = Number(part.trim());
      if (!Number.isInteger(index) || !filters.has(index))
        return { ok: false, message: `Invalid filter group: ${group}` };
      members.push(index);
    }
  }
  const chosen = members.map((index) => filters.get(index)!);
  if (chosen.length === 0) return { ok: true, predicate: () => true };
  return {
    ok: true,
    predicate:
      mode === 'all' ? (row) => chosen.every((f) => test(f, row)) : (row) => chosen.some((f) => test(f, row)),
  };
}
