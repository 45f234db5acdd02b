import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/tanium/errors.ts';
import { connectionSegment, pagePairs, query, segment } from '../../../shared/tanium/routes.ts';

describe('Tanium routes', () => {
  it('encodes a hostile value so it cannot change the path, query or fragment', () => {
    // Act
    const encoded = segment('file_id', '../x?y#z');

    // Assess
    expect(encoded).toBe('..%2Fx%3Fy%23z');
    expect(new URL(`https://tanium.example.com/api/${encoded}`).pathname).toBe('/api/..%2Fx%3Fy%23z');
  });

  it.each(['.', '..'])('refuses %j as a path segment before any call', (value) => {
    expect(() => segment('connection_id', value)).toThrow(ValidationError);
    expect(() => segment('connection_id', value)).toThrow(
      "Please provide a valid value in the 'connection_id' parameter: '.' and '..' are not allowed",
    );
  });

  it('keeps the colons of a connection id literal and encodes everything else', () => {
    expect(connectionSegment('connection_id', 'remote:host:123:1')).toBe('remote:host:123:1');
    expect(connectionSegment('connection_id', 'remote:a/b:1?:#')).toBe('remote:a%2Fb:1%3F:%23');
  });

  it('builds queries in the given order with form encoding', () => {
    const built = query([
      ['limit', 1000],
      ['sort', '-timestamp,id'],
      ['v0', 'C:\\Windows cmd'],
    ]);
    expect(built.toString()).toBe('limit=1000&sort=-timestamp%2Cid&v0=C%3A%5CWindows+cmd');
  });

  it.each([
    { offset: undefined, sort: undefined, pairs: [['limit', 50]] },
    { offset: 0, sort: '', pairs: [['limit', 50]] },
    {
      offset: 100,
      sort: undefined,
      pairs: [
        ['limit', 50],
        ['offset', 100],
      ],
    },
    {
      offset: 0,
      sort: '-id',
      pairs: [
        ['limit', 50],
        ['sort', '-id'],
      ],
    },
    {
      offset: 100,
      sort: 'id',
      pairs: [
        ['limit', 50],
        ['offset', 100],
        ['sort', 'id'],
      ],
    },
  ])(
    'pages with limit, offset only above 0, and sort only when given (offset $offset, sort $sort)',
    ({ offset, sort, pairs }) => {
      // Act
      const built = pagePairs(50, offset, sort);

      // Assess
      expect(built).toEqual(pairs);
    },
  );

  it('sends the paging pairs in the order the connector sent them', () => {
    // Act
    const built = query(pagePairs(1000, 2000, '-timestamp'));

    // Assess
    expect(built.toString()).toBe('limit=1000&offset=2000&sort=-timestamp');
  });
});
