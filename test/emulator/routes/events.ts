import { badRequest, json, notFound, text } from '../http.ts';
import type { Route } from '../router.ts';
import { parseFilters } from '../state/event-query.ts';
import { processRows, TREE_CONTEXTS } from '../state/processes.ts';
import { EVENT_TYPES, type EventType } from '../types.ts';
import { parseCount, parseSort, sortRows } from '../util.ts';
import { activeConnection, isReply } from './connections.ts';

const USE_API = 'threat response use api';
const MAX_LIMIT = 1000;

function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

export const eventRoutes: Route[] = [
  {
    method: 'GET',
    pattern: 'TR/conns/:cid/views/:type/events',
    permission: USE_API,
    handler: ({ state, params, query }) => {
      const connection = activeConnection(state, params.cid!);
      if (isReply(connection)) return connection;
      if (!isEventType(params.type!)) return notFound();
      const limitValue = parseCount(query.get('limit'));
      const offset = parseCount(query.get('offset'));
      if (limitValue === null || limitValue === 0) return badRequest(`Invalid limit: ${query.get('limit')}`);
      if (offset === null) return badRequest(`Invalid offset: ${query.get('offset')}`);
      const filters = parseFilters(query, state.switches.eventsRange400);
      if (!filters.ok) return json(400, { errors: [{ message: filters.message }] });
      // Above the maximum the server quietly serves the maximum.
      const limit = Math.min(limitValue ?? 100, MAX_LIMIT);
      const rows = state.events(connection.hostname).of(params.type).filter(filters.predicate);
      const sorted = sortRows(rows, parseSort(query.get('sort')));
      // One row more than asked tells the caller that more exist.
      return json(200, sorted.slice(offset ?? 0, (offset ?? 0) + limit + 1));
    },
  },
  {
    method: 'GET',
    pattern: 'TR/conns/:cid/views/:type/eventsCount',
    permission: USE_API,
    handler: ({ state, params, query }) => {
      const connection = activeConnection(state, params.cid!);
      if (isReply(connection)) return connection;
      if (!isEventType(params.type!)) return notFound();
      if (state.switches.eventsCountEmptyBody) return text(200, '', 'application/json; charset=utf-8');
      const filters = parseFilters(query, state.switches.eventsRange400);
      if (!filters.ok) return json(400, { errors: [{ message: filters.message }] });
      const cap = state.config.eventsCountCap;
      let count = 0;
      for (const row of state.events(connection.hostname).of(params.type)) {
        if (!filters.predicate(row)) continue;
        if (++count > cap) return json(200, { count: cap, has_more: true });
      }
      return json(200, { count, has_more: false });
    },
  },
  {
    method: 'GET',
    pattern: 'TR/conns/:cid/processevents/:ptid/:type',
    permission: USE_API,
    handler: ({ state, params }) => {
      const connection = activeConnection(state, params.cid!);
      if (isReply(connection)) return connection;
      const type = params.type!;
      if (!isEventType(type) || type === 'combined') return notFound();
      if (!/^\d+$/.test(params.ptid!)) return badRequest(`Invalid process table id: ${params.ptid}`);
      const node = state.processTable(connection.hostname).nodes.get(BigInt(params.ptid!).toString());
      if (!node) return json(200, []);
      if (type === 'process') return json(200, processRows(node));
      const rows = state
        .events(connection.hostname)
        .of('combined')
        .filter(
          (row) => row.process_table_id === node.process_table_id && String(row.type).toLowerCase() === type,
        );
      return json(
        200,
        rows.map(({ id, type: rowType, operation, detail, timestamp, timestamp_raw }) => ({
          id,
          type: rowType,
          operation,
          detail,
          timestamp,
          timestamp_raw,
        })),
      );
    },
  },
  {
    method: 'GET',
    pattern: 'TR/conns/:cid/processtrees/:ptid',
    permission: USE_API,
    handler: ({ state, params, query }) => {
      const connection = activeConnection(state, params.cid!);
      if (isReply(connection)) return connection;
      if (!/^\d+$/.test(params.ptid!)) return badRequest(`Invalid process table id: ${params.ptid}`);
      const limit = parseCount(query.get('limit'));
      if (limit === null || limit === 0) return badRequest(`Invalid limit: ${query.get('limit')}`);
      const contextParam = query.get('context');
      const contexts = contextParam ? contextParam.split(',').map((part) => part.trim()) : [...TREE_CONTEXTS];
      const unknown = contexts.find((context) => !(TREE_CONTEXTS as readonly string[]).includes(context));
      if (unknown !== undefined) return badRequest(`Invalid context: ${unknown}`);
      const table = state.processTable(connection.hostname);
      return json(
        200,
        table.tree(BigInt(params.ptid!).toString(), contexts, limit ?? 100, state.config.ancestorDepthLimit),
      );
    },
  },
];
