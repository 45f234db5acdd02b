import { ValidationError } from '../tanium/errors.ts';
import { query } from '../tanium/routes.ts';
import { enumeration, list, urlValueProblem } from './params.ts';

/** The event filter builder of tanium-api.md 1.11 (get events, get events summary). */

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

export const filterParams = {
  fields: list('fields', {
    description: 'Comma list of event fields to filter on (parallel to operators and values)',
    paired: true,
  }),
  operators: list('operators', {
    values: OPERATORS,
    description: `Comma list of operators, one per field: ${OPERATORS.join(', ')}`,
    paired: true,
  }),
  values: list('values', {
    description: 'Comma list of values, one per field (isempty/isnull still need a placeholder)',
    paired: true,
  }),
  filter_type: enumeration('filter_type', ['any', 'all'] as const, {
    default: 'all',
    description: 'Whether all filters must match, or any',
  }),
};

export interface FilterInput {
  fields?: string[] | undefined;
  operators?: string[] | undefined;
  values?: string[] | undefined;
  filter_type: 'any' | 'all';
}

/** The filter lists and the prefix of their query keys (`f0`, `o0`, `v0`, ...). */
const FILTER_LISTS = [
  ['fields', 'f'],
  ['operators', 'o'],
  ['values', 'v'],
] as const;

/** The `f{i}/o{i}/v{i}`, `gm1`, `g1` pairs, or none without filters; throws a ValidationError on bad input. */
export function filterPairs(input: FilterInput): Array<[string, string]> {
  const { fields, operators, values } = input;
  if (!fields && !operators && !values) return [];
  // Each list as it is sent, one pair per item, so its share of the URL is named before any other check.
  for (const [name, prefix] of FILTER_LISTS) {
    const items = input[name];
    if (items === undefined) continue;
    const sent = () => query(items.map((item, i) => [`${prefix}${i}`, item] as const)).toString().length;
    const problem = urlValueProblem(name, items.join(','), sent);
    if (problem !== undefined) throw new ValidationError(problem);
  }
  if (!fields || !operators || !values) {
    throw new ValidationError(
      "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
    );
  }
  if (fields.length !== operators.length || fields.length !== values.length) {
    throw new ValidationError(
      `Parameters 'fields', 'operators' and 'values' must have the same number of items (got ${fields.length}, ${operators.length}, ${values.length})`,
    );
  }
  const pairs: Array<[string, string]> = [];
  fields.forEach((field, i) => {
    pairs.push([`f${i}`, field], [`o${i}`, operators[i] as string], [`v${i}`, values[i] as string]);
  });
  pairs.push(['gm1', input.filter_type], ['g1', fields.map((_, i) => String(i)).join(',')]);
  return pairs;
}
