import { json } from '../http.ts';
import type { Route } from '../router.ts';
import type { Alert } from '../state/alerts.ts';
import { parseSort, sortRows } from '../util.ts';
import { isReply } from './connections.ts';
import { paging } from './paging.ts';

const FILTER_KEYS = [
  'state',
  'type',
  'priority',
  'severity',
  'intelDocId',
  'scanConfigId',
  'computerName',
  'computerIpAddress',
] as const;
const PAGING_KEYS = new Set(['limit', 'offset', 'sort']);

export const alertRoutes: Route[] = [
  {
    method: 'GET',
    pattern: 'TR/alerts',
    permission: 'threat response alerts read',
    handler: ({ state, query, note }) => {
      const page = paging(query, 100);
      if (isReply(page)) return page;
      for (const key of new Set(query.keys())) {
        if (!PAGING_KEYS.has(key) && !(FILTER_KEYS as readonly string[]).includes(key))
          note(`ignored query key: ${key}`);
      }
      // Repeated values of one key are alternatives; different keys must all match; comparison is on the string form.
      const filters = FILTER_KEYS.filter((key) => query.has(key)).map((key) => ({
        key,
        values: new Set(query.getAll(key)),
      }));
      const ordered = state.alerts.ordered(state.switches.alertsSameMsLowestIdFirst);
      const sort = parseSort(query.get('sort'));
      const newestFirst =
        sort.length === 0 || (sort.length === 1 && sort[0]!.field === 'createdAt' && sort[0]!.desc);
      let rows: readonly Alert[];
      let filteredCount: number;
      if (filters.length === 0 && newestFirst) {
        rows = ordered.slice(page.offset, page.offset + page.limit).map((stored) => stored.alert);
        filteredCount = ordered.length;
      } else {
        const matching: Alert[] = [];
        for (const { alert } of ordered) {
          if (filters.every(({ key, values }) => values.has(String(alert[key])))) matching.push(alert);
        }
        filteredCount = matching.length;
        rows = (newestFirst ? matching : sortRows(matching, sort)).slice(
          page.offset,
          page.offset + page.limit,
        );
      }
      return json(200, { data: rows, meta: { totalCount: ordered.length, filteredCount } });
    },
  },
];
