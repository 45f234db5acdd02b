import { describe, expect, it } from 'vitest';
import { setMostRecent } from '../../../shared/config/recent-map.ts';

describe('setMostRecent', () => {
  it('keeps at most max entries, forgetting the least recently set or used first', () => {
    // Prepare
    const map = new Map<string, number>();
    setMostRecent(map, 'a', 1, 3);
    setMostRecent(map, 'b', 2, 3);
    setMostRecent(map, 'c', 3, 3);

    // Act: 'a' used again, then one entry more than the bound
    setMostRecent(map, 'a', 10, 3);
    setMostRecent(map, 'd', 4, 3);

    // Assess: 'b' was the least recently used
    expect([...map]).toEqual([
      ['c', 3],
      ['a', 10],
      ['d', 4],
    ]);
  });

  it('brings a map already over the bound down to it', () => {
    const map = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);

    setMostRecent(map, 'd', 4, 2);

    expect([...map.keys()]).toEqual(['c', 'd']);
  });
});
