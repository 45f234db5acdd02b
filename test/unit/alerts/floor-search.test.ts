import { describe, expect, it } from 'vitest';
import { type Page, pageTimes } from '../../../shared/alerts/alert-page.ts';
import { classify } from '../../../shared/alerts/floor-search.ts';
import { T0 } from './fake-alerts.ts';

/*
 * classify on its own: how the floor search judges one page against the floor F (found: it straddles F;
 * shallow: F is deeper; deep: the page is all older). The poller tests reach it only through whole
 * runs, where most of these edges cost many pages to set up.
 */

const F = T0;
const SECOND = 1000;

/** A page at `offset` whose alerts have these createdAt (null: unreadable), newest first. */
function page(offset: number, times: Array<number | null>, full: boolean): Page {
  const alerts = times.map((time, i) => ({
    id: offset + i + 1,
    guid: `guid-${offset + i + 1}`,
    createdAt: time === null ? null : new Date(time).toISOString(),
    state: 'unresolved',
  }));
  return { offset, limit: 4, alerts, ...pageTimes(alerts), filteredCount: undefined, full };
}

describe('Floor search: classify', () => {
  it.each([
    ['an empty page at offset 0 (the whole list is empty)', page(0, [], false), 'found'],
    ['an empty page deeper down (past the end of the list)', page(40, [], false), 'deep'],
    [
      'a full page of undated alerts at offset 0 (NULLs sort first)',
      page(0, [null, null, null, null], true),
      'shallow',
    ],
    ['a short page of undated alerts at offset 0 (the whole list)', page(0, [null, null], false), 'found'],
    ['a full page of undated alerts deeper down', page(40, [null, null, null, null], true), 'shallow'],
    [
      'a short page of undated alerts deeper down (the end of the list)',
      page(40, [null, null], false),
      'deep',
    ],
    [
      'a full page whose first alert is exactly at F and last below it',
      page(40, [F, F - SECOND, F - 2 * SECOND, F - 3 * SECOND], true),
      'found',
    ],
    [
      'a full page all at or above F',
      page(40, [F + 3 * SECOND, F + 2 * SECOND, F + SECOND, F], true),
      'shallow',
    ],
    [
      'a full page all below F',
      page(40, [F - SECOND, F - 2 * SECOND, F - 3 * SECOND, F - 4 * SECOND], true),
      'deep',
    ],
    [
      'a short page all below F at offset 0 (nothing newer exists)',
      page(0, [F - SECOND, F - 2 * SECOND], false),
      'found',
    ],
    [
      'a full page above F that ends in undated alerts',
      page(40, [F + 2 * SECOND, F + SECOND, null, null], true),
      'shallow',
    ],
  ])('judges %s', (_, read, verdict) => {
    // Act / Assess
    expect(classify(read, F)).toBe(verdict);
  });

  it('takes a page at offset 0 for starting above F, whatever the search proved about deeper offsets', () => {
    // Prepare: the whole list is older than F; the search had proved every dated alert down to offset
    // 5 at or above F
    const top = page(0, [F - SECOND, F - 2 * SECOND], false);
    // Act / Assess
    expect(classify(top, F, 5)).toBe('found');
  });

  /** Two undated alerts, then alerts below F, at offset 40 (provenAbove counts the alerts proven above F). */
  const undatedOnTop = page(40, [null, null, F - SECOND, F - 2 * SECOND], true);

  it.each([
    ['they reach right down to the page', 40, 'found'],
    ['they reach into its leading undated alerts', 41, 'found'],
    ['they reach down to its first dated alert', 42, 'found'],
    ['they stop one above the page', 39, 'deep'],
    ['they reach past its first dated alert (the list moved since)', 43, 'deep'],
  ])(
    'takes undated alerts leading a page for above F when alerts proven above F reach them: %s',
    (_, provenAbove, verdict) => {
      // Act / Assess
      expect(classify(undatedOnTop, F, provenAbove)).toBe(verdict);
    },
  );
});

describe('Floor search: the times of a page', () => {
  it.each([
    ['after a dated one takes its time', [F, null, F - SECOND], [F, F, F - SECOND]],
    ['at the bottom of the page takes the time above it', [F, F - SECOND, null], [F, F - SECOND, F - SECOND]],
    ['at the top of the page takes the time below it', [null, F, F - SECOND], [F, F, F - SECOND]],
  ])('gives an alert whose createdAt is unreadable %s', (_, times, expected) => {
    // Prepare
    const { alerts, dated } = page(0, times, false);

    // Act
    const { ts } = pageTimes(alerts);

    // Assess: the page keeps the list's newest-first order, and its oldest time is a real one
    expect(ts).toEqual(expected);
    expect(dated).toEqual(times.map((time) => time !== null));
  });
});

describe('Floor search: the end of a list of undated alerts', () => {
  /** The last two alerts of a list, neither dated, at offset 40. */
  const end = page(40, [null, null], false);

  it.each([
    ['right down to the page', 40, 'found'],
    ['past it', 45, 'found'],
    ['to one above the page', 39, 'deep'],
  ])('takes it for straddling F when alerts proven above F reach %s', (_, provenAbove, verdict) => {
    // Act / Assess
    expect(classify(end, F, provenAbove)).toBe(verdict);
  });
});
