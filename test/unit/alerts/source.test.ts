import { describe, expect, it } from 'vitest';
import { TaniumAlertSource } from '../../../shared/alerts/source.ts';
import type { TaniumApi } from '../../../shared/tanium/client.ts';

/** The poller's source over a client that answers one page of `alerts` with `meta`. */
function sourceAnswering(
  alerts: unknown[],
  meta: unknown,
  filterPairs: ReadonlyArray<readonly [string, string]> = [],
): TaniumAlertSource {
  const client = {
    request: async () => ({ status: 200, payload: alerts, meta, wrapped: true, headers: {}, auth: 'token' }),
  } as unknown as TaniumApi;
  return new TaniumAlertSource(client, filterPairs);
}

const ALERTS = [
  { id: 2, createdAt: '2024-01-01T00:00:02.000Z' },
  { id: 1, createdAt: '2024-01-01T00:00:01.000Z' },
];

describe('Alert source: the counts in meta', () => {
  it.each([
    ['a string', '40'],
    ['null', null],
    ['an object', { value: 40 }],
  ])('takes totalCount when filteredCount is %s', async (_, filteredCount) => {
    // Arrange
    const source = sourceAnswering(ALERTS, { filteredCount, totalCount: 40 });

    // Act
    const page = await source.page(0, 2, Date.now() + 60_000);

    // Assess: the count is known, but says nothing about more matching alerts, nor about their end
    expect(page.filteredCount).toBe(40);
    expect(page.more).toBeUndefined();
    expect(page.totalOnly).toBe(true);
  });

  it('takes totalCount when there is no filteredCount, marking it as the total', async () => {
    // Act
    const page = await sourceAnswering(ALERTS, { totalCount: 40 }).page(0, 2, Date.now() + 60_000);

    // Assess
    expect(page).toEqual({ alerts: ALERTS, filteredCount: 40, totalOnly: true });
  });

  it('takes no totalCount when the poller filters the list: it counts the alerts the filters hide', async () => {
    // Act
    const page = await sourceAnswering(ALERTS, { totalCount: 40 }, [['state', 'unresolved']]).page(
      0,
      2,
      Date.now() + 60_000,
    );

    // Assess: as with no count at all
    expect(page).toEqual({ alerts: ALERTS });
  });

  it('reports no count when neither count is a number', async () => {
    // Arrange
    const source = sourceAnswering(ALERTS, { filteredCount: '40', totalCount: 'many' });

    // Act
    const page = await source.page(0, 2, Date.now() + 60_000);

    // Assess
    expect(page.filteredCount).toBeUndefined();
    expect(page.more).toBeUndefined();
  });

  it('reads more alerts past the page from a numeric filteredCount', async () => {
    // Arrange
    const source = sourceAnswering(ALERTS, { filteredCount: 5, totalCount: 40 });

    // Act
    const page = await source.page(0, 2, Date.now() + 60_000);

    // Assess
    expect(page.filteredCount).toBe(5);
    expect(page.more).toBe(true);
    expect(page.totalOnly).toBeUndefined();
  });
});

describe('Alert source: the end of the list', () => {
  it('passes on the alerts of an answer that has no meta, with no count and nothing said of more', async () => {
    // Arrange: a Tanium that sends the bare list
    const source = sourceAnswering(ALERTS, undefined);

    // Act
    const page = await source.page(0, 2, Date.now() + 60_000);

    // Assess
    expect(page).toEqual({ alerts: ALERTS });
  });

  it.each([
    ['the head page that holds every match', 0, 2, undefined],
    ['a deeper page that ends on the last match', 3, 5, undefined],
    ['a deeper page with matches past it', 3, 6, true],
  ])('says whether more alerts follow %s', async (_, offset, filteredCount, more) => {
    // Arrange
    const source = sourceAnswering(ALERTS, { filteredCount });

    // Act
    const page = await source.page(offset, 2, Date.now() + 60_000);

    // Assess: only the matches past this page's last alert make it not the end
    expect(page.filteredCount).toBe(filteredCount);
    expect(page.more).toBe(more);
  });
});
