import { first, last, type Page, type Paging } from './alert-page.ts';
import type { AlertReader } from './alert-reader.ts';
import type { CursorState } from './cursor-state.ts';

/** found: the page straddles the floor; shallow: the floor is deeper; deep: the page is all older. */
export function classify(page: Page, floor: number): 'found' | 'shallow' | 'deep' {
  if (page.alerts.length === 0) return page.offset === 0 ? 'found' : 'deep';
  const reachesBelow = !page.full || last(page) < floor;
  const startsAbove = page.offset === 0 || first(page) >= floor;
  if (reachesBelow && startsAbove) return 'found';
  return startsAbove ? 'shallow' : 'deep';
}

/**
 * A page that straddles the floor, found by bisection on K, the offset of the first alert below the
 * floor. With filteredCount known the bounds are kept as bounds on the number of alerts OLDER than the
 * floor (older = filteredCount − K), which arrivals do not change: a shallow page at o proves
 * older <= count − o − length, a deep one older >= count − o. They are saved when the search does not
 * finish, so even a tiny request budget converges over runs. Without counts only K's lower bound is
 * kept (arrivals only raise K), or a backlog deeper than one run's doubling could search is never found.
 */
export async function locate(
  head: Page,
  paging: Paging,
  reader: AlertReader,
  cursor: CursorState,
): Promise<Page | undefined> {
  const P = paging.size;
  const M = paging.overlap;
  const headLength = head.alerts.length;
  let count = head.filteredCount;
  let kLow = Math.max(headLength, cursor.belowAtLeast);
  let kHigh: number | undefined;
  let guess = cursor.olderCount;
  // A saved lower bound is first read just below it: each run gets at least a page further.
  let resume = kLow > headLength;
  while (reader.budgetLeft()) {
    let low = kLow;
    let high = kHigh;
    let target: number | undefined;
    if (count !== undefined) {
      low = Math.max(headLength, count - cursor.olderMax);
      high = count - cursor.olderMin;
      // Pruning lowers the number of older alerts, which can leave a stale lower bound behind.
      if (high < low) {
        cursor.olderMin = 0;
        high = count;
      }
      if (high < low) {
        cursor.olderMax = Number.POSITIVE_INFINITY;
        low = headLength;
      }
      if (guess !== undefined && count - guess >= low && count - guess <= high) target = count - guess;
    }
    guess = undefined;
    let offset: number;
    if (target !== undefined) offset = target - (P - M);
    else if (high === undefined && resume) offset = low - M;
    else if (high === undefined) offset = Math.max(2 * low, low + P) - (P - M);
    else if (high - low <= P - M - 1) offset = low - M;
    else offset = Math.floor((low + high) / 2) - Math.floor(P / 2);
    resume = false;
    const page = await reader.readInTime(Math.max(0, offset));
    if (!page) break;
    if (page.filteredCount !== undefined) count = page.filteredCount;
    const verdict = classify(page, cursor.floor);
    if (verdict === 'found') return page;
    if (verdict === 'shallow') {
      kLow = Math.max(kLow, page.offset + page.alerts.length);
      if (page.filteredCount !== undefined) {
        cursor.olderMax = Math.min(cursor.olderMax, page.filteredCount - page.offset - page.alerts.length);
      }
      if (page.filteredCount === undefined) cursor.belowAtLeast = kLow;
    } else {
      kHigh = page.offset;
      if (page.filteredCount !== undefined) {
        cursor.olderMin = Math.max(cursor.olderMin, page.filteredCount - page.offset);
      }
    }
    if (kHigh !== undefined && kHigh <= kLow) {
      // A saved bound the list no longer bears out (alerts above the floor were pruned): start over.
      kLow = headLength;
      cursor.belowAtLeast = 0;
    }
  }
  return undefined;
}
