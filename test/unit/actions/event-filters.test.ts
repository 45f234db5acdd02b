import { describe, expect, it } from 'vitest';
import { filterPairs } from '../../../shared/actions/event-filters.ts';
import { ValidationError } from '../../../shared/tanium/errors.ts';

/** `count` filters of `field` = `value`. */
function filters(count: number, value: string) {
  return {
    fields: Array.from({ length: count }, () => 'remote_address'),
    operators: Array.from({ length: count }, () => 'eq'),
    values: Array.from({ length: count }, () => value),
    filter_type: 'all' as const,
  };
}

describe('event filters: their share of the URL', () => {
  it.each([
    // 400 values of 8 characters, 3,599 joined by commas but 5,489 sent as v0=...&v1=...
    ['abcdefgh', '5,489'],
    // 400 values of one character sent as nine (%E2%82%AC): short enough to skip the count without
    // the commas between them, which make the list 799 characters as written
    ['€', '5,889'],
  ])(
    'measures each list as it is sent, one pair per item, and names the one too long (400 of %j)',
    (value, length) => {
      // Arrange
      const input = { ...filters(400, value), fields: ['f'], operators: ['eq'] };

      // Act
      const attempt = () => filterPairs(input);

      // Assess: named before the lists' counts are compared
      expect(attempt).toThrow(ValidationError);
      expect(attempt).toThrow(
        `Please provide a shorter value in the 'values' parameter: it is ${length} characters long once URL-encoded, over the 4,000 one parameter may take of a Tanium request URL`,
      );
    },
  );

  it('builds the pairs of filters whose lists each stay within it', () => {
    // Arrange: 200 filters; the longest list, fields, is sent as 200 pairs of 3,889 characters
    const input = filters(200, 'x');

    // Act
    const pairs = filterPairs(input);

    // Assess
    expect(pairs).toHaveLength(3 * 200 + 2);
    expect(pairs.slice(0, 3)).toEqual([
      ['f0', 'remote_address'],
      ['o0', 'eq'],
      ['v0', 'x'],
    ]);
  });
});

describe('event filters: the three lists', () => {
  it.each([['fields'], ['operators'], ['values']] as const)(
    'refuses filters without %s, whichever the other two are',
    (missing) => {
      // Arrange
      const input = { ...filters(2, 'x'), [missing]: undefined };

      // Act
      const attempt = () => filterPairs(input);

      // Assess
      expect(attempt).toThrow(ValidationError);
      expect(attempt).toThrow(
        "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
      );
    },
  );
});
