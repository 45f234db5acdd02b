import { describe, expect, it } from 'vitest';
import {
  encodedLength,
  enumeration,
  ignoredParamNames,
  integer,
  list,
  MAX_URL_VALUE_CHARS,
  optionalText,
  parseParams,
  requiredId64,
  requiredNameOrId,
  requiredText,
} from '../../../shared/actions/params.ts';

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

  it('refuses an array item holding a comma in a list whose items pair up by position', () => {
    // Split, 'cmd.exe /c a,b' would be two values: the counts would no longer match, or with one value
    // short elsewhere every later value would pair with another field.
    const paired = { values: list('values', { description: 'Filter values', paired: true }) };

    expect(parseParams(paired, { values: ['whoami', 'cmd.exe /c a,b'] })).toEqual({
      ok: false,
      message: "Please provide items without commas in the 'values' parameter (got 'cmd.exe /c a,b')",
    });
    expect(parseParams(paired, { values: 'whoami,bob' })).toEqual({
      ok: true,
      value: { values: ['whoami', 'bob'] },
    });
  });

  it('refuses an array with an item that is not a string', () => {
    expect(parseParams(shape, { values: ['a', 1] })).toEqual({
      ok: false,
      message: "Please provide a string value in the 'values' parameter",
    });
  });
});

describe('integer parameters (tanium-api.md 1.9)', () => {
  const integers = {
    limit: integer('limit', { default: 1000, description: 'Page size' }),
    offset: integer('offset', { default: 0, allowZero: true, description: 'Rows to skip' }),
  };

  it.each([
    ['"1e3"', '1e3'],
    ['10.5', 10.5],
    ['true', true],
    ['"10.0"', '10.0'],
    ['2^53', 9007199254740992],
    ['"2^53"', '9007199254740992'],
  ])('refuses %s as not an integer, naming the parameter unquoted', (_, value) => {
    expect(parseParams(integers, { limit: value })).toEqual({
      ok: false,
      message: 'Please provide a valid integer value in the limit parameter',
    });
  });

  it('reads digits with surrounding spaces as the number', () => {
    expect(parseParams(integers, { limit: ' 10 ' })).toEqual({ ok: true, value: { limit: 10, offset: 0 } });
  });

  it('reads "-0" as zero, not as a negative number: refused where zero is, the plain 0 where it is allowed', () => {
    // "-0" is a valid integer form (digits with a leading `-`) whose value is zero.
    expect(parseParams(integers, { limit: '-0' })).toEqual({
      ok: false,
      message: 'Please provide a valid non-zero positive integer value in the limit parameter',
    });
    expect(parseParams(integers, { offset: '-0' })).toEqual({ ok: true, value: { limit: 1000, offset: 0 } });
    expect(parseParams(integers, { offset: -0 })).toEqual({ ok: true, value: { limit: 1000, offset: 0 } });
  });
});

describe('string parameters (tanium-api.md 1.9)', () => {
  const strings = {
    connection_id: requiredText('connection_id', { description: 'Connection id' }),
    sort: optionalText('sort', { description: 'Sort column' }),
    filter_type: enumeration('filter_type', ['any', 'all'] as const, {
      default: 'all',
      description: 'Filter mode',
    }),
  };

  it.each([
    ['connection_id', 42],
    ['connection_id', true],
    ['connection_id', { id: 'remote:x:1:1' }],
    ['sort', 7],
    ['filter_type', ['any']],
  ])("refuses a non-string %s (%j) with the parameter's name", (name, value) => {
    expect(parseParams(strings, { connection_id: 'remote:x:1:1', [name]: value })).toEqual({
      ok: false,
      message: `Please provide a string value in the '${name}' parameter`,
    });
  });
});

describe('parameters the action does not take', () => {
  it('names them, in the order given, and nothing else', () => {
    expect(ignoredParamNames(shape, { sort: 'a', wait_second: 3, Sort: 'b', values: 'x' })).toEqual([
      'wait_second',
      'Sort',
    ]);
    expect(ignoredParamNames(shape, { sort: 'a' })).toEqual([]);
  });

  it("leaves out SOAR's own context, an object a bridge forwarding SOAR's param sends on every call", () => {
    const soarContext = { artifact_id: 7, guid: 'a1b2', parent_action_run: [] };
    expect(ignoredParamNames(shape, { context: soarContext, wait_second: 3 })).toEqual(['wait_second']);
    // Tanium's name for get process tree's process_context is not SOAR's
    expect(ignoredParamNames(shape, { context: 'parent,node' })).toEqual(['context']);
    expect(ignoredParamNames(shape, { context: ['parent'] })).toEqual(['context']);
  });

  it("leaves out the action's placeholders", () => {
    expect(ignoredParamNames(shape, { ph: '', wait_second: 3 }, ['ph'])).toEqual(['wait_second']);
  });

  it('lists at most 10 names, each cut to 64 characters, since they come from the caller', () => {
    const raw = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`${'k'.repeat(70)}${i}`, 1]));
    const names = ignoredParamNames(shape, raw);
    expect(names).toHaveLength(10);
    expect(names[0]).toBe(`${'k'.repeat(64)}…`);
  });

  it('does not mistake an inherited property for a parameter', () => {
    expect(ignoredParamNames(shape, JSON.parse('{"toString": 1, "__proto__": 2}'))).toEqual([
      'toString',
      '__proto__',
    ]);
  });
});

describe('parameters that go into a request URL', () => {
  const urlShape = {
    connection_id: requiredText('connection_id', { description: 'Connection id', inUrl: 'path' }),
    query: optionalText('query', { description: 'Query', trim: false, inUrl: 'query' }),
    group: requiredNameOrId('group', { description: 'Group', inUrl: 'path' }),
    values: list('values', { description: 'Filter values', inUrl: 'query' }),
    file_path: optionalText('file_path', { description: 'Goes into a JSON body' }),
  };
  const valid = { connection_id: 'remote:host:1:1', group: 'All' };

  it('takes a value exactly as long as one parameter may be once encoded', () => {
    // Arrange: one character short, then a character that encodes to three
    const parsed = parseParams(urlShape, { ...valid, query: `${'a'.repeat(MAX_URL_VALUE_CHARS - 3)}&` });

    expect(parsed).toMatchObject({ ok: true, value: { query: `${'a'.repeat(MAX_URL_VALUE_CHARS - 3)}&` } });
  });

  it.each([
    ['connection_id', 'a'.repeat(MAX_URL_VALUE_CHARS + 1), 4001],
    // 700 characters, each two UTF-8 bytes, each byte three characters once encoded
    ['query', 'é'.repeat(700), 4200],
    ['group', ' '.repeat(1) + 'x'.repeat(4100), 4100],
  ])('refuses a %s over the limit by name, counting it as encoded', (name, value, length) => {
    const parsed = parseParams(urlShape, { ...valid, [name]: value });

    expect(parsed).toEqual({
      ok: false,
      message: `Please provide a shorter value in the '${name}' parameter: it is ${length.toLocaleString('en-US')} characters long once URL-encoded, over the 4,000 one parameter may take of a Tanium request URL`,
    });
  });

  it('counts the items of a list together, as they travel in one URL', () => {
    const items = Array.from({ length: 500 }, () => 'abcdefgh');

    const parsed = parseParams(urlShape, { ...valid, values: items });

    // 500 items of 8 characters and 499 commas, each comma three characters once encoded
    expect(parsed).toMatchObject({
      ok: false,
      message: expect.stringContaining("'values' parameter: it is 5,497"),
    });
  });

  it('refuses an unpaired surrogate, which no URL can carry, and keeps a paired one', () => {
    const lone = parseParams(urlShape, { ...valid, query: 'x\ud800y' });
    const paired = parseParams(urlShape, { ...valid, query: 'x\ud83d\ude00y' });

    expect(lone).toEqual({
      ok: false,
      message:
        "Please provide a valid value in the 'query' parameter: it holds an unpaired UTF-16 surrogate, which no URL can carry",
    });
    expect(paired).toMatchObject({ ok: true, value: { query: 'x\u{1F600}y' } });
  });

  it.each(['.', '..', ' .. '])(
    'refuses %j where it would be a path segment, which URL normalisation would resolve, but not in a query',
    (value) => {
      const inPath = parseParams(urlShape, { ...valid, group: value });
      const inQuery = parseParams(urlShape, { ...valid, query: value.trim() });

      expect(inPath).toEqual({
        ok: false,
        message: "Please provide a valid value in the 'group' parameter: '.' and '..' are not allowed",
      });
      expect(inQuery).toMatchObject({ ok: true, value: { query: value.trim() } });
    },
  );

  it('leaves a long value alone when it does not go into a URL', () => {
    const path = 'C:\\'.concat('d'.repeat(20_000));

    expect(parseParams(urlShape, { ...valid, file_path: path })).toMatchObject({
      ok: true,
      value: { file_path: path },
    });
  });

  it('counts the encoded length as the encoder of its place in the URL does', () => {
    const samples = ['', "AZaz09-_.!~*'()", ' /?#&=+%,:;@$', 'é€😀', '\u0000\u007f\u0080\u07ff\u0800\uffff'];

    for (const text of samples) {
      // Path segments go through encodeURIComponent (segment()), query values through URLSearchParams
      expect(encodedLength(text, 'path')).toBe(encodeURIComponent(text).length);
      expect(encodedLength(text, 'query')).toBe(new URLSearchParams([['k', text]]).toString().length - 2);
    }
  });
});

describe('parameters sent as null, arrays or with white space', () => {
  const shapeM = {
    connection_id: requiredText('connection_id', { description: 'Connection id' }),
    limit: integer('limit', { default: 1000, description: 'Page size' }),
    sort: optionalText('sort', { description: 'Sort column' }),
  };

  it('treats null like an absent parameter: the default, or the missing-value message', () => {
    expect(parseParams(shapeM, { connection_id: 'remote:x:1:1', limit: null, sort: null })).toEqual({
      ok: true,
      value: { connection_id: 'remote:x:1:1', limit: 1000 },
    });
    expect(parseParams(shapeM, { connection_id: null })).toEqual({
      ok: false,
      message: "Please provide a value for the 'connection_id' parameter",
    });
  });

  it('refuses an integer sent as a JSON array with the integer message, without throwing', () => {
    expect(parseParams(shapeM, { connection_id: 'remote:x:1:1', limit: ['10'] })).toEqual({
      ok: false,
      message: 'Please provide a valid integer value in the limit parameter',
    });
  });

  it('trims an enumeration value before checking it', () => {
    const enumShape = {
      filter_type: enumeration('filter_type', ['any', 'all'] as const, {
        default: 'all',
        description: 'Mode',
      }),
    };
    expect(parseParams(enumShape, { filter_type: ' any ' })).toEqual({
      ok: true,
      value: { filter_type: 'any' },
    });
  });
});

describe('64-bit ids (process_table_id)', () => {
  const idShape = { process_table_id: requiredId64('process_table_id', 'Process table id') };

  it.each([['abc12'], ['12abc'], ['1 2'], [['12']]])(
    'refuses %j with the integer message, without throwing',
    (value) => {
      expect(parseParams(idShape, { process_table_id: value })).toEqual({
        ok: false,
        message: 'Please provide a valid integer value in the process_table_id parameter',
      });
    },
  );

  it('keeps a value past 2^53 sent as digits exactly, trimmed', () => {
    expect(parseParams(idShape, { process_table_id: ' 18446744073709551615 ' })).toEqual({
      ok: true,
      value: { process_table_id: '18446744073709551615' },
    });
  });
});

describe('lists that go into a request body', () => {
  it('leaves a long list alone when it goes into a request body', () => {
    const bodyList = { values: list('values', { description: 'Filter values', paired: true }) };
    const items = Array.from({ length: 600 }, (_, i) => `value-${i}`);

    expect(parseParams(bodyList, { values: items })).toEqual({ ok: true, value: { values: items } });
  });
});

describe('warnings for parameters the action does not take', () => {
  it('names an unknown parameter whose value is an object: only context belongs to the SOAR platform', () => {
    expect(ignoredParamNames(shape, { wait_second: { seconds: 3 }, context: { guid: 'g' } })).toEqual([
      'wait_second',
    ]);
  });
});

describe('the encoded length of a value', () => {
  it('counts a character from U+10000 on as four UTF-8 bytes', () => {
    expect(encodedLength('\u{10000}', 'path')).toBe(encodeURIComponent('\u{10000}').length);
    expect(encodedLength('\u{10000}', 'query')).toBe(12);
  });
});
