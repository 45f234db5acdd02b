import type { Page, Paging } from './alert-page.ts';
import type { AlertReader } from './alert-reader.ts';
import type { CursorState } from './cursor-state.ts';

/**
 * The page's first and last alerts with a readable createdAt (index): the others only borrow a
 * neighbour's time, which says nothing about the floor. The whole page when none is dated.
 */
function datedSpan(page: Page): { first: number; last: number } {
  const firstDated = page.dated.indexOf(true);
  if (firstDated < 0) return { first: 0, last: page.alerts.length - 1 };
  return { first: firstDated, last: page.dated.lastIndexOf(true) };
}

/**
 * found: the page straddles the floor; shallow: the floor is deeper; deep: the page is all older. Judged
 * by its dated alerts: undated ones at its top or bottom borrow a time from their only neighbour, so a
 * page ending in undated alerts would pass for reaching as deep as they do (and one starting with them
 * for starting as low), and the search would bound the floor's offset where it is not.
 */
export function classify(page: Page, floor: number, provenAbove = 0): 'found' | 'shallow' | 'deep' {
  if (page.alerts.length === 0) return page.offset === 0 ? 'found' : 'deep';
  if (!page.dated.includes(true)) {
    // No time at all says nothing about the floor. A full page of them is taken for the block that
    // sorts first (NULL createdAt), above every dated alert; a short one ends the list, which bounds
    // the floor's offset from above and nothing more (locate).
    if (page.offset === 0) return page.full ? 'shallow' : 'found';
    // The end of a list that holds no dated alert below what is proven above the floor: it straddles.
    if (!page.full && page.offset <= provenAbove) return 'found';
    return page.full ? 'shallow' : 'deep';
  }
  const span = datedSpan(page);
  const reachesBelow = !page.full || (page.ts[span.last] ?? Number.NaN) < floor;
  // Undated alerts leading the page, right below alerts proven at or above the floor (provenAbove: the
  // offset down to which every dated alert is), start it above the floor as well as a dated one would.
  const startsAbove =
    page.offset === 0 ||
    (page.ts[span.first] ?? Number.NaN) >= floor ||
    (page.offset <= provenAbove && provenAbove <= page.offset + span.first);
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
  // The head proves the dated alerts down to its last one above the floor, not the undated below them.
  let headLength = head.alerts.length === 0 ? 0 : datedSpan(head).last + 1;
  let count = head.filteredCount;
  let kLow = Math.max(headLength, cursor.belowAtLeast);
  let kHigh: number | undefined;
  let guess = cursor.olderCount;
  // A saved lower bound is first read just below it: each run gets at least a page further.
  let resume = kLow > headLength;
  /** What the last page read proved: the bound it set is the one to keep when the two disagree. */
  let lastVerdict: 'shallow' | 'deep' | undefined;
  while (reader.budgetLeft()) {
    let low = kLow;
    let high = kHigh;
    let target: number | undefined;
    if (count !== undefined) {
      low = Math.max(headLength, count - cursor.olderMax);
      high = count - cursor.olderMin;
      // The bounds disagree: the one the last page did not just prove is stale. Pruning lowers the number
      // of older alerts (a stale lower bound); alerts that come back below the floor (reopened under a
      // state filter) raise it (a stale upper bound, which kept every page read below the floor, so
      // that the search stalled there run after run, publishing nothing).
      if (high < low && lastVerdict === 'deep') {
        cursor.olderMax = Number.POSITIVE_INFINITY;
        low = headLength;
      }
      if (high < low) {
        cursor.olderMin = 0;
        high = count;
      }
      if (high < low) {
        cursor.olderMax = Number.POSITIVE_INFINITY;
        low = headLength;
      }
      // The list is now shorter than the head read: alerts it held left, and it proves nothing.
      if (high < low) {
        headLength = 0;
        low = 0;
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
    const provenAbove =
      count !== undefined && Number.isFinite(cursor.olderMax)
        ? Math.max(headLength, count - cursor.olderMax)
        : kLow;
    const verdict = classify(page, cursor.floor, provenAbove);
    if (verdict === 'found') return page;
    lastVerdict = verdict;
    const span = datedSpan(page);
    if (verdict === 'shallow') {
      // Every dated alert down to the page's last one is at or above the floor.
      const above = page.offset + span.last + 1;
      kLow = Math.max(kLow, above);
      if (page.filteredCount !== undefined) {
        cursor.olderMax = Math.min(cursor.olderMax, page.filteredCount - above);
      }
      if (page.filteredCount === undefined) cursor.belowAtLeast = kLow;
    } else {
      // The page's first dated alert is below the floor; a page without any ends the list.
      kHigh = page.dated.includes(true) ? page.offset + span.first : page.offset + page.alerts.length;
      if (page.filteredCount !== undefined) {
        cursor.olderMin = Math.max(cursor.olderMin, page.filteredCount - kHigh);
      }
    }
    if (kHigh !== undefined && kHigh < kLow) {
      if (verdict === 'shallow') {
        // Arrivals pushed the floor below an end read before them: that end no longer holds.
        kHigh = undefined;
      } else {
        // A lower bound the list no longer bears out (alerts above the floor were pruned or left the
        // list): start over, from offset 0 when even the head's alerts are no longer all there.
        if (kHigh < headLength) headLength = 0;
        kLow = headLength;
        cursor.belowAtLeast = 0;
      }
    }
  }
  return undefined;
}
