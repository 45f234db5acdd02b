import { empty, json, parseJson, type Reply, text } from '../http.ts';
import type { Route } from '../router.ts';
import type { ConnectionRecord, ConnectTarget } from '../state/connections.ts';
import { findEndpoints } from '../state/endpoints.ts';
import type { EmulatorState } from '../state/index.ts';

/**
 * The guard of every per-connection route: unknown → 404, not connected → 400. A successful use keeps
 * the connection from idling out.
 */
export function activeConnection(state: EmulatorState, id: string): ConnectionRecord | Reply {
  const record = state.connections.get(id);
  if (!record) return json(404, { text: `Connection not found: ${id}` });
  if (state.connections.status(record) !== 'connected') {
    return json(400, { errors: [{ message: `Connection ${id} is not active` }] });
  }
  state.connections.touch(record);
  return record;
}

export function isReply(value: unknown): value is Reply {
  return (
    typeof value === 'object' &&
    value !== null &&
    'status' in value &&
    typeof (value as Reply).status === 'number'
  );
}

export const connectionRoutes: Route[] = [
  {
    method: 'GET',
    pattern: 'TR/status',
    permission: 'threat response use api',
    handler: ({ state }) =>
      json(200, {
        data: { status: 'ok', version: '4.6.2', time: new Date(state.clock.now()).toISOString() },
      }),
  },
  {
    method: 'GET',
    pattern: 'TR/conns',
    permission: 'threat response use api',
    handler: ({ state }) =>
      json(
        200,
        state.connections.list().map((record) => state.connections.toJson(record)),
      ),
  },
  {
    method: 'GET',
    pattern: 'DEC/endpoints',
    permission: 'threat response use api',
    handler: ({ state, query }) => {
      const lookup = {
        hostname: query.get('hostname') ?? undefined,
        ip: query.get('ip') ?? undefined,
        clientId: query.get('clientId') ?? undefined,
      };
      return json(200, { data: findEndpoints(state.endpoints, lookup) });
    },
  },
  {
    method: 'POST',
    pattern: 'TR/conns/connect',
    permission: 'threat response use api',
    accepts: 'application/json',
    handler: ({ state, body }) => {
      const input = parseJson(body) as { target?: ConnectTarget } | undefined;
      const target = input?.target;
      if (!target || typeof target !== 'object') return json(400, { text: 'Missing connection target' });
      const clientId =
        target.clientId === undefined || target.clientId === null ? undefined : String(target.clientId);
      const hostname = typeof target.hostname === 'string' ? target.hostname : undefined;
      if (!clientId && !hostname)
        return json(400, { text: 'Connection target needs a hostname or clientId' });
      const endpoint = state.endpoints.find(
        (record) =>
          (clientId === undefined || record.endpoint.clientId === clientId) &&
          (hostname === undefined || record.endpoint.hostname.toLowerCase() === hostname.toLowerCase()),
      );
      const record = state.connections.connect(target, endpoint);
      return state.switches.connectTextPlain ? text(200, record.id) : json(200, record.id);
    },
  },
  {
    method: 'DELETE',
    pattern: 'TR/conns/close/:cid',
    permission: 'threat response use api',
    handler: ({ state, params }) =>
      state.connections.close(params.cid!)
        ? empty(200)
        : json(404, { text: `Connection not found: ${params.cid}` }),
  },
  {
    method: 'DELETE',
    pattern: 'TR/conns/delete/:cid',
    permission: 'threat response use api',
    handler: ({ state, params }) =>
      state.connections.delete(params.cid!)
        ? empty(204)
        : json(404, { text: `Connection not found: ${params.cid}` }),
  },
];
