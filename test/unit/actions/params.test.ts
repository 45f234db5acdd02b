import { describe, expect, it } from 'vitest';
import { list, parseParams } from '../../../shared/actions/params.ts';

const shape = {
  sort: list('sort', { description: 'Sort keys', dedupe: true }),
  values: list('values', { description: 'Filter values' }),
  operators: list('operators', { description: 'Operators', values: ['eq', 'co'] }),
};

describe('comma-list parameters', () => {
  it('reads a JSON array like the comma list it stands for: items split on commas, trimmed, blanks dropped', () => {
    const parsed = parseParams(shape, {
      sort: ['timestamp,id', ' timestamp ', ''],
      values: ['evil,com', 'x'],
      operators: ['eq, co'],
    });

    expect(parsed).toEqual({
      ok: true,
      value: { sort: ['timestamp', 'id'], values: ['evil', 'com', 'x'], operators: ['eq', 'co'] },
    });
  });

  it('gives an array the same value as the string with the same items', () => {
    const fromString = parseParams(shape, { sort: 'id,timestamp,id', values: 'a,,b, a' });
    const fromArray = parseParams(shape, { sort: ['id', 'timestamp,id'], values: ['a', ' ', 'b, a'] });

    expect(fromArray).toEqual(fromString);
  });

  it('checks allowed values on the split items', () => {
    const parsed = parseParams(shape, { operators: ['eq,like'] });

    expect(parsed).toEqual({
      ok: false,
      message: "Please provide valid input from ['eq', 'co'] in 'operators' action parameter",
    });
  });

  it('refuses an array with an item that is not a string', () => {
    expect(parseParams(shape, { values: ['a', 1] })).toEqual({
      ok: false,
      message: "Please provide a string value in the 'values' parameter",
    });
  });
});
