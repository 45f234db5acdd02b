import * as z from 'zod/mini';
import { isRecord } from '../config/is-record.ts';
import { shown } from '../config/message-text.ts';
import { TaniumError, toTaniumError, unexpectedResponse } from '../tanium/errors.ts';
import { MIN_ATTEMPT_MS } from '../tanium/retry-policy.ts';
import { connectionSegment, DEC, query, TR } from '../tanium/routes.ts';
import { connectionIdParam, fetchConnections } from './connection-check.ts';
import { isEmptyPayload } from './empty-payload.ts';
import { failed } from './execute.ts';
import { enumeration, integer, requiredText } from './params.ts';
import { type ActionContext, defineAction } from './types.ts';

const USE_API = 'threat response use api';

const DESTINATION_TYPES = ['hostname', 'ip_address', 'client_id'] as const;
type DestinationType = (typeof DESTINATION_TYPES)[number];
const LOOKUP_KEY: Record<DestinationType, string> = {
  hostname: 'hostname',
  ip_address: 'ip',
  client_id: 'clientId',
};

const destinationParams = {
  destination: requiredText('destination', {
    description: 'Hostname, IP address or client id of the endpoint',
    inUrl: 'query',
  }),
  destination_type: enumeration('destination_type', DESTINATION_TYPES, {
    default: 'hostname',
    description: 'What destination is',
  }),
};

const endpointRows = z.array(z.looseObject({}));

async function lookupEndpoints(
  ctx: ActionContext,
  destination: string,
  type: DestinationType,
  action: string,
) {
  const response = await ctx.client.request({
    method: 'GET',
    path: `${DEC}/endpoints`,
    query: query([[LOOKUP_KEY[type], destination]]),
    deadline: ctx.deadline,
    action,
  });
  // An answer without `data` (`{}`, `{"meta":...}`) or with an empty one (`{"data":{}}`) lists no
  // endpoint (tanium-api.md 2.4); any other `data` that is not a list is a bad answer.
  const payload = response.payload;
  const none = isEmptyPayload(payload) || (!response.wrapped && isRecord(payload));
  const rows = endpointRows.safeParse(none ? [] : payload);
  if (!rows.success) {
    throw unexpectedResponse('a list of endpoints');
  }
  return rows.data;
}

/** The id Tanium answered: a JSON string, plain text, `{id}` or (unwrapped) `{data}`. */
function connectionIdFrom(payload: unknown): string | undefined {
  let value: unknown = payload;
  if (isRecord(value)) value = value.id;
  if (typeof value === 'number') value = String(value);
  if (typeof value !== 'string') return undefined;
  const id = value
    .trim()
    .replace(/^"+|"+$/g, '')
    .trim();
  return id === '' ? undefined : id;
}

export const testConnectivity = defineAction({
  name: 'test connectivity',
  id: 'test_connectivity',
  family: 'connections',
  readOnly: true,
  description: 'Checks the credentials and that Threat Response answers.',
  permission: USE_API,
  params: {},
  async run(ctx) {
    const response = await ctx.client.request({
      method: 'GET',
      path: `${TR}/status`,
      deadline: ctx.deadline,
      action: 'test connectivity',
      permission: USE_API,
    });
    return { message: 'Test Connectivity Passed', summary: { auth: response.auth } };
  },
});

export const listConnectionsAction = defineAction({
  name: 'list connections',
  id: 'list_connections',
  family: 'connections',
  readOnly: true,
  description: 'Lists the live-response connections and their states.',
  params: {},
  async run(ctx) {
    const rows = await fetchConnections(
      ctx,
      'list connections',
      'Unable to list connections. Error message: ',
    );
    const active = rows.filter((row) => row.status === 'connected').length;
    const inactive = rows.filter((row) => row.status === 'disconnected').length;
    const summary: Record<string, number> = { total_connections: rows.length };
    if (active > 0) summary.active_connections = active;
    if (inactive > 0) summary.inactive_connections = inactive;
    return {
      message: `Number of total connections: ${rows.length}, Number of active connections: ${active}, Number of inactive connections: ${inactive}`,
      data: rows,
      summary,
    };
  },
});

const POLL_INTERVAL_MS = 2000;

export const createConnection = defineAction({
  name: 'create connection',
  id: 'create_connection',
  family: 'connections',
  readOnly: false,
  description: 'Opens a live-response connection to an endpoint; optionally waits until it is connected.',
  params: {
    ...destinationParams,
    wait_seconds: integer('wait_seconds', {
      default: 0,
      allowZero: true,
      max: { value: 900, message: 'Please provide a value between 0 and 900 in the wait_seconds parameter' },
      description:
        "Seconds to wait for the connection to become connected (0: do not wait), polling every 2 s and once more at the end; the wait also ends at the function's time limit (the connections function's timeout, 120 s by default). A wait that could never read the connection list reports the state as unknown, with the reason, not as not listed",
    }),
  },
  async run(ctx, params) {
    const action = 'create connection';
    let rows: Array<Record<string, unknown>>;
    try {
      rows = await lookupEndpoints(ctx, params.destination, params.destination_type, action);
    } catch (error) {
      if (error instanceof TaniumError)
        throw error.withPrefix('Get endpoint info for new connection failed. ');
      throw error;
    }
    if (rows.length === 0) {
      throw new TaniumError(
        'not_found',
        `Get endpoint info for new connection failed. Endpoint does not exist: ${shown(params.destination)}`,
      );
    }
    const wanted = params.destination.toLowerCase();
    const candidates = rows.filter(
      (row) =>
        (typeof row.hostname === 'string' && row.hostname.toLowerCase() === wanted) ||
        row.ip === params.destination ||
        String(row.clientId) === params.destination,
    );
    // Rows come in registration order: the last candidate is the most recently registered endpoint.
    const endpoint = (candidates.length > 0 ? candidates : rows).at(-1) as Record<string, unknown>;
    if (!['hostname', 'ip', 'clientId', 'platform'].every((key) => Object.hasOwn(endpoint, key))) {
      throw new TaniumError('tanium', 'Endpoint data lookup failure in create_connection');
    }
    let created: unknown;
    try {
      created = (
        await ctx.client.request({
          method: 'POST',
          path: `${TR}/conns/connect`,
          json: {
            target: {
              hostname: endpoint.hostname,
              ip: endpoint.ip,
              clientId: endpoint.clientId,
              platform: endpoint.platform,
            },
          },
          deadline: ctx.deadline,
          action,
        })
      ).payload;
    } catch (error) {
      if (error instanceof TaniumError) throw error.withPrefix('Create connection failed. ');
      throw error;
    }
    const id = connectionIdFrom(created);
    if (id === undefined)
      throw new TaniumError('tanium', 'Create connection failed. Tanium returned no connection id');
    if (params.wait_seconds === 0) {
      return { message: 'Connection created successfully', data: [{ id }], summary: { connection_id: id } };
    }
    return waitForConnection(ctx, id, params.wait_seconds);
  },
});

/** Room for a timer that fires late, so the last poll still finds MIN_ATTEMPT_MS before the deadline. */
const TIMER_SLACK_MS = 250;

async function waitForConnection(ctx: ActionContext, id: string, waitSeconds: number) {
  const now = ctx.now ?? Date.now;
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = now();
  const requestedUntil = started + waitSeconds * 1000;
  // The last poll goes out at the end of the wait, or while the invocation still leaves the client time
  // for one attempt: stopping at the last 2 s step instead gave up on a connection that came up between
  // it and the end (wait_seconds 3, connected after 2.5 s), and the message overstated the wait.
  // A timer fires late, never early: without the slack the last poll would find less than the client's
  // minimum left and be refused before it was sent.
  const until = Math.min(requestedUntil, ctx.deadline - MIN_ATTEMPT_MS - TIMER_SLACK_MS);
  let status: string | undefined;
  // Every poll may fail transiently: the message must then say nothing was read, not "not listed".
  let listed = false;
  let lastFailure: TaniumError | undefined;
  for (;;) {
    let pause = POLL_INTERVAL_MS;
    try {
      const rows = await fetchConnections(ctx, 'create connection');
      listed = true;
      // As the connect answer was read: a numeric id is its decimal text.
      const row = rows.find(
        (item) => (typeof item.id === 'string' || typeof item.id === 'number') && String(item.id) === id,
      );
      // An empty status is no state (tanium-api.md 1.10): keep waiting, and report it as not listed.
      status = typeof row?.status === 'string' && row.status.trim() !== '' ? row.status : undefined;
    } catch (error) {
      // A transient failed poll is not the connection's state: keep waiting (tanium-api.md 2.3). Any
      // other failure (permission, auth, a 500) would fail every poll alike and hide behind "not listed".
      const failure = toTaniumError(error);
      // Final whatever the cause: the connection exists, and running the request again would open another.
      if (!failure.retryable) {
        return failed(
          new TaniumError(
            failure.kind,
            `Connection created but its state could not be read. ${failure.message}`,
          ),
          { data: [{ id, status: null }], summary: { connection_id: id, connection_status: null } },
        );
      }
      lastFailure = failure;
      // A throttled poll that the client could not wait out: Tanium said when to come back.
      pause = Math.max(pause, failure.retryAfterMs ?? 0);
    }
    if (status !== undefined && status !== 'waiting') break;
    const left = until - now();
    if (left <= 0) break;
    await sleep(Math.min(pause, left));
  }
  const data = [{ id, status: status ?? null }];
  const summary = { connection_id: id, connection_status: status ?? null };
  if (status === 'connected') return { message: 'Connection created successfully', data, summary };
  const state =
    !listed && lastFailure !== undefined
      ? `unknown (the connection list could not be read: ${lastFailure.message})`
      : (status ?? 'not listed');
  const message =
    status === undefined || status === 'waiting'
      ? stillWaiting(state, waitSeconds, until < requestedUntil ? now() - started : undefined)
      : `Connection created but not active. Current state: ${status}`;
  return failed(new TaniumError('connection', message), { data, summary });
}

/**
 * `cutAfterMs` is set when the invocation deadline ended the wait before `wait_seconds`: the message
 * then says how long it really waited, or a 900 s request cut after a few seconds would read as
 * fifteen minutes of waiting.
 */
function stillWaiting(currentState: string, waitSeconds: number, cutAfterMs: number | undefined) {
  const state = `Current state: ${currentState}`;
  if (cutAfterMs === undefined)
    return `Connection created but still waiting after ${waitSeconds} seconds. ${state}`;
  return `Connection created but still waiting after ${Math.floor(cutAfterMs / 1000)} seconds. ${state}. The function's time limit cut the wait short (${waitSeconds} seconds requested)`;
}

export const getEndpoint = defineAction({
  name: 'get endpoint',
  id: 'get_endpoint',
  family: 'connections',
  readOnly: true,
  description: 'Looks an endpoint up by hostname, IP address or client id.',
  params: destinationParams,
  async run(ctx, params) {
    const rows = await lookupEndpoints(ctx, params.destination, params.destination_type, 'get endpoint');
    const last = rows.at(-1);
    if (!last) throw new TaniumError('not_found', 'Get endpoint info failed or endpoint does not exist');
    return {
      message: 'Endpoint information fetched successfully',
      data: rows,
      summary: { hostname: last.hostname ?? null, ip: last.ip ?? null, total_endpoints: rows.length },
    };
  },
});

function connectionCommand(kind: 'close' | 'delete') {
  const verb = kind === 'close' ? 'Close' : 'Delete';
  return defineAction({
    name: `${kind} connection`,
    id: `${kind}_connection`,
    family: 'connections',
    readOnly: false,
    deletes: true,
    description:
      kind === 'close' ? 'Closes a live-response connection.' : 'Deletes a connection and its data.',
    params: { connection_id: connectionIdParam },
    async run(ctx, params) {
      try {
        await ctx.client.request({
          method: 'DELETE',
          path: `${TR}/conns/${kind}/${connectionSegment('connection_id', params.connection_id)}`,
          deadline: ctx.deadline,
          action: `${kind} connection`,
        });
      } catch (error) {
        if (error instanceof TaniumError && error.kind !== 'validation')
          throw error.withPrefix(`${verb} connection failed. `);
        throw error;
      }
      return { message: `${verb} connection requested` };
    },
  });
}

export const closeConnection = connectionCommand('close');
export const deleteConnection = connectionCommand('delete');

export const connectionActions = [
  testConnectivity,
  listConnectionsAction,
  createConnection,
  getEndpoint,
  closeConnection,
  deleteConnection,
];
