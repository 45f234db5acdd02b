import type { Alert } from '../tanium/alerts.ts';

/** One page of the newest-first alert list as read, each alert with its time. */
export interface Page {
  offset: number;
  limit: number;
  alerts: Alert[];
  /** createdAt in epoch ms, per alert (an unreadable value takes its neighbour's, to keep the order). */
  ts: number[];
  /** Per alert, whether its own createdAt was readable. */
  dated: boolean[];
  filteredCount: number | undefined;
  full: boolean;
}

/** createdAt of the page's newest alert (NaN for an empty page). */
export function first(page: Page): number {
  return page.ts[0] ?? Number.NaN;
}

/** createdAt of the page's oldest alert (NaN for an empty page). */
export function last(page: Page): number {
  return page.ts[page.ts.length - 1] ?? Number.NaN;
}

/** createdAt per alert in epoch ms; an unreadable one takes a neighbour's, to keep the list's order. */
export function pageTimes(alerts: Alert[]): { ts: number[]; dated: boolean[] } {
  const ts = alerts.map((alert) => Date.parse(String(alert.createdAt)));
  const dated = ts.map((time) => !Number.isNaN(time));
  for (let i = 1; i < ts.length; i++) if (Number.isNaN(ts[i])) ts[i] = ts[i - 1]!;
  for (let i = ts.length - 2; i >= 0; i--) if (Number.isNaN(ts[i])) ts[i] = ts[i + 1]!;
  return { ts, dated };
}

/** The run's page size and what follows from it; it shrinks once if Tanium proves it caps `limit`. */
export class Paging {
  /** The configured page size, or the smaller one Tanium proved it caps `limit` at. */
  size: number;
  /** Items shared by two consecutive pages of the walk. */
  overlap = 0;
  /** Ids kept below the newest published millisecond: fewer than a page. */
  windowIds = 0;

  constructor(size: number) {
    this.size = size;
    this.use(size);
  }

  use(size: number): void {
    this.size = size;
    // At least 2: the walk steps by P - M, so with 1 each page would end on coveredTop itself, never
    // below it, and every page would be re-read as if it ended inside a group (two reads per alert).
    this.overlap = Math.max(2, Math.floor(size / 10));
    this.windowIds = size - 2 * this.overlap;
  }
}
