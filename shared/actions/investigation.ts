import * as z from 'zod/mini';
import { unexpectedResponse } from '../tanium/errors.ts';
import { connectionSegment, pagePairs, query, segment, TR } from '../tanium/routes.ts';
import { connectionIdParam, withConnectionCheck } from './connection-check.ts';
import { filterPairs, filterParams } from './event-filters.ts';
import { enumeration, integer, list, requiredId64 } from './params.ts';
import { type ActionContext, defineAction } from './types.ts';

/** The investigation family (tanium-api.md 2.10-2.13): process data and recorder events of a connection. */

export const EVENT_TYPES = [
  'combined',
  'dns',
  'driver',
  'file',
  'network',
  'process',
  'registry',
  'security',
  'image',
] as const;

export const PROCESS_CONTEXTS = ['parent', 'node', 'siblings', 'children'] as const;

/** Tanium pages events by at most this many rows; a larger limit is clamped, as the connector did. */
const MAX_EVENTS = 1000;

const processTableId = requiredId64(
  'process_table_id',
  'Process table id of the process (a 64-bit id, kept as a decimal string)',
);
const eventType = enumeration('event_type', EVENT_TYPES, { description: 'Recorder event type' });

// Rows are checked to be objects and passed on whole: 64-bit ids arrive as strings and stay strings.
const rows = z.array(z.looseObject({}));
const eventCount = z.looseObject({ count: z.optional(z.nullable(z.number())) });

/** A per-connection route's path, e.g. `TR/conns/<cid>/processtrees/<ptid>`. */
function connectionPath(id: string, ...rest: string[]): string {
  return [`${TR}/conns/${connectionSegment('connection_id', id)}`, ...rest].join('/');
}

async function getRows(
  ctx: ActionContext,
  id: string,
  request: { path: string; query?: URLSearchParams; action: string },
  what: string,
): Promise<Array<Record<string, unknown>>> {
  const response = await withConnectionCheck(ctx, id, () =>
    ctx.client.request({ method: 'GET', deadline: ctx.deadline, ...request }),
  );
  const parsed = rows.safeParse(response.payload ?? []);
  if (!parsed.success) {
    throw unexpectedResponse(`a list of ${what}`);
  }
  return parsed.data;
}

export const getProcess = defineAction({
  name: 'get process',
  id: 'get_process',
  family: 'investigation',
  readOnly: true,
  description: "Gets a process's create and end events from the endpoint's recorder.",
  params: { connection_id: connectionIdParam, process_table_id: processTableId },
  async run(ctx, params) {
    const path = connectionPath(
      params.connection_id,
      'processevents',
      segment('process_table_id', params.process_table_id),
      // The route's last segment is an event type; this action always asks for the process itself.
      'process',
    );
    const data = await getRows(ctx, params.connection_id, { path, action: 'get process' }, 'process events');
    if (data.length === 0) return { message: 'No process information found' };
    return { message: 'Process information retrieved', data };
  },
});

export const getProcessTree = defineAction({
  name: 'get process tree',
  id: 'get_process_tree',
  family: 'investigation',
  readOnly: true,
  description: 'Gets the process tree around a process: ancestors, the node, siblings and children.',
  params: {
    connection_id: connectionIdParam,
    process_table_id: processTableId,
    process_context: list('process_context', {
      values: PROCESS_CONTEXTS,
      dedupe: true,
      description: `Comma list of parts of the tree to return: ${PROCESS_CONTEXTS.join(', ')} (default all)`,
    }),
    limit: integer('limit', {
      default: 100,
      description: 'Maximum number of siblings and of children (Tanium caps them at 602 and 301)',
    }),
  },
  async run(ctx, params) {
    const path = connectionPath(
      params.connection_id,
      'processtrees',
      segment('process_table_id', params.process_table_id),
    );
    const pairs: Array<[string, string | number]> = [['limit', params.limit]];
    if (params.process_context) pairs.push(['context', params.process_context.join(',')]);
    const data = await getRows(
      ctx,
      params.connection_id,
      { path, query: query(pairs), action: 'get process tree' },
      'process tree nodes',
    );
    if (data.length === 0) return { message: 'No process tree found' };
    return { message: 'Process tree retrieved', data, summary: { total_items: data.length } };
  },
});

export const getEvents = defineAction({
  name: 'get events',
  id: 'get_events',
  family: 'investigation',
  readOnly: true,
  description: "Gets one type of recorder events from a connection's endpoint, filtered, sorted and paged.",
  params: {
    connection_id: connectionIdParam,
    event_type: eventType,
    limit: integer('limit', {
      default: MAX_EVENTS,
      description: `Maximum number of events to return (above ${MAX_EVENTS} counts as ${MAX_EVENTS})`,
    }),
    offset: integer('offset', { default: 0, allowZero: true, description: 'Number of events to skip' }),
    sort: list('sort', {
      dedupe: true,
      description: 'Comma list of fields to sort by, `-` prefix for descending, priority left to right',
      inUrl: 'query',
    }),
    ...filterParams,
  },
  check(params) {
    filterPairs(params);
  },
  async run(ctx, params) {
    const filters = filterPairs(params);
    const limit = Math.min(params.limit, MAX_EVENTS);
    const pairs = [...pagePairs(limit, params.offset, params.sort?.join(',')), ...filters];
    const path = connectionPath(
      params.connection_id,
      'views',
      segment('event_type', params.event_type),
      'events',
    );
    const received = await getRows(
      ctx,
      params.connection_id,
      { path, query: query(pairs), action: 'get events' },
      'events',
    );
    // Tanium sends one row past the limit when more exist: it signals more_data and is not a result.
    const moreData = received.length > limit;
    return {
      message: `Type: ${params.event_type}, More data: ${moreData ? 'True' : 'False'}`,
      data: received.slice(0, limit),
      summary: { type: params.event_type, more_data: moreData },
    };
  },
});

export const getEventsSummary = defineAction({
  name: 'get events summary',
  id: 'get_events_summary',
  family: 'investigation',
  readOnly: true,
  description:
    "Counts one type of recorder events on a connection, with the same filters as get events; above Tanium's cap the count is a lower bound, which summary more_data (additive) says (false otherwise).",
  params: {
    connection_id: connectionIdParam,
    event_type: eventType,
    ...filterParams,
  },
  check(params) {
    filterPairs(params);
  },
  async run(ctx, params) {
    const filters = filterPairs(params);
    const path = connectionPath(
      params.connection_id,
      'views',
      segment('event_type', params.event_type),
      'eventsCount',
    );
    const response = await withConnectionCheck(ctx, params.connection_id, () =>
      ctx.client.request({
        method: 'GET',
        path,
        ...(filters.length > 0 ? { query: query(filters) } : {}),
        deadline: ctx.deadline,
        action: 'get events summary',
      }),
    );
    const key = `${params.event_type}_events_count`;
    const label = `${params.event_type.charAt(0).toUpperCase()}${params.event_type.slice(1)} events count`;
    const payload = response.payload;
    if (payload === null || payload === '') {
      return { message: `${label}: 0`, data: [], summary: { [key]: 0, more_data: false } };
    }
    const parsed = eventCount.safeParse(payload);
    if (!parsed.success) {
      throw unexpectedResponse('an event count');
    }
    const count = parsed.data.count ?? 0;
    // Tanium stops counting at a cap and says so with has_more: the count is then a lower bound. The
    // message stays the contract's exact string (1.8), so the summary carries it.
    const moreData = parsed.data.has_more === true;
    return {
      message: `${label}: ${count}`,
      data: [parsed.data],
      summary: { [key]: count, more_data: moreData },
    };
  },
});

export const investigationActions = [getProcess, getProcessTree, getEvents, getEventsSummary];
