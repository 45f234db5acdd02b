import { describe, expect, it } from 'vitest';
import { closestName } from '../../../shared/actions/closest-name.ts';
import { ACTIONS } from '../../../shared/actions/table.ts';

const actionNames = ACTIONS.map((action) => action.name);

describe('closestName', () => {
  it.each([
    ['list conections', 'list connections'],
    ['list_connectoins', 'list connections'],
    ['Get Proces Tree', 'get process tree'],
    ['get  process   tree', 'get process tree'],
    ['  get proces tree  ', 'get process tree'],
    ['delete snapshots', 'delete snapshot'],
    ['start quickscan', 'start quick scan'],
  ])('takes %j for %j', (typed, meant) => {
    expect(closestName(typed, actionNames)).toBe(meant);
  });

  it.each([
    ['frobnicate', 'nothing near it'],
    ['list', 'a short name is allowed one edit, and every action is further'],
    ['', 'empty'],
  ])('suggests nothing for %j (%s)', (typed) => {
    expect(closestName(typed, actionNames)).toBeUndefined();
  });

  it('allows a name a third of its length in edits: one for up to five characters, two from six', () => {
    // "lmt" is two edits from "limit": too many for three characters.
    expect(closestName('lmt', ['limit'])).toBeUndefined();
    expect(closestName('limt', ['limit'])).toBe('limit');
    expect(closestName('ofset', ['offset'])).toBe('offset');
    expect(closestName('ofsetx', ['offset'])).toBe('offset');
    // Blank is no name, even beside a one-letter candidate one edit away.
    expect(closestName('  ', ['a'])).toBeUndefined();
  });

  it('takes the closest name when another is further off but still within reach', () => {
    // One edit from the first, two (the most six characters allow) from the second: not a tie.
    expect(closestName('abcdef', ['abcdeg', 'abcdgh'])).toBe('abcdeg');
    // Two edits from each, at the very limit: a tie, so no guess.
    expect(closestName('abcdef', ['abcdgh', 'abcdij'])).toBeUndefined();
  });

  it('counts only a true swap of two letters as one edit', () => {
    // "ab" is two edits from "bc" and from "ca" (neither is "ab" with two letters swapped).
    expect(closestName('ab', ['bc'])).toBeUndefined();
    expect(closestName('ab', ['ca'])).toBeUndefined();
    // A swap costs one edit, no less: as far as a substitution, so a tie.
    expect(closestName('lmiit', ['limit', 'lmiix'])).toBeUndefined();
  });

  it('suggests nothing when two names are equally close', () => {
    // "gat file" is one edit from "get file" and from "got file", and four from "list files".
    expect(closestName('gat file', ['get file', 'got file'])).toBeUndefined();
    expect(closestName('gat file', ['get file', 'list files'])).toBe('get file');
  });

  it('suggests a parameter name in another letter case or with a slip of the keys', () => {
    const params = ['connection_id', 'limit', 'offset', 'event_type'];
    expect(closestName('LIMIT', params)).toBe('limit');
    expect(closestName('limt', params)).toBe('limit');
    // Two letters swapped is one slip, not two edits: "lmiit" is allowed one, being short.
    expect(closestName('lmiit', params)).toBe('limit');
    expect(closestName('connectionid', params)).toBe('connection_id');
    expect(closestName('evnet_type', params)).toBe('event_type');
    expect(closestName('sort', params)).toBeUndefined();
  });

  it('looks no further at input far longer than any name', () => {
    // 256 characters that normalise to "list connections" (a run of spaces counts as one), then 257.
    const padded = `list${' '.repeat(241)}connections`;
    expect(padded.length).toBe(256);
    expect(closestName(padded, actionNames)).toBe('list connections');
    expect(closestName(`${padded} `, actionNames)).toBeUndefined();
  });

  it('allows at most three edits, whatever the length', () => {
    const long = 'abcdefghijklmnopqrstuvwxyz';
    expect(closestName(`${long.slice(0, 23)}123`, [long])).toBe(long);
    expect(closestName(`${long.slice(0, 22)}1234`, [long])).toBeUndefined();
  });
});
