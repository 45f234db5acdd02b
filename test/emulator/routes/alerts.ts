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
      const asked = paging(query, 100);
      if (isReply(asked)) return asked;
      const cap = state.switches.alertsMaxLimit;
      const page = cap > 0 ? { ...asked, limit: Math.min(asked.limit, cap) } : asked;
      for (const key of new Set(query.keys())) {
        if (!PAGING_KEYS.has(key) && !(FILTER_KEYS as readonly string[]).includes(key))
          note(`ignored query key: ${key}`);
      }
      // Repeated `state` values are alternatives (tanium-api.md 4.8); the contract says nothing of another
      // key given twice, so the emulator assumes the least: the last value counts, as in the connector's
      // own query parsing, and the rest are noted. Different keys must all match, on the string form.
      const filters = FILTER_KEYS.filter((key) => query.has(key)).map((key) => {
        const given = query.getAll(key);
        if (key === 'state' || given.length === 1) return { key, values: new Set(given) };
        note(`repeated query key ${key}: only its last value counts`);
        return { key, values: new Set(given.slice(-1)) };
      });
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
      if (state.switches.alertsBareArray) return json(200, rows);
      return json(200, { data: rows, meta: { totalCount: ordered.length, filteredCount } });
    },
  },
];
