import * as z from 'zod/mini';
import { isRecord } from '../config/is-record.ts';
import { LoginError, TaniumError, unexpectedResponse } from '../tanium/errors.ts';
import { TR } from '../tanium/routes.ts';
import { requiredText } from './params.ts';
import type { ActionContext } from './types.ts';

/** The `connection_id` parameter of every per-connection action; it goes into the request path. */
export const connectionIdParam = requiredText('connection_id', {
  description: 'Connection id, e.g. remote:host:123:1',
  inUrl: 'path',
});

/** A row of `GET TR/conns`: a JSON object; only `id` and `status` are read, each checked where it is. */
export type ConnectionRow = { id?: unknown; status?: unknown } & Record<string, unknown>;

/**
 * A list of JSON objects, kept as Tanium sent them. The same check as `z.looseObject` with optional
 * fields, without its copy of every row key by key, which made up most of a list answer's validation
 * cost (and its garbage) for rows nothing rewrites.
 */
const connectionList = z.array(z.custom<ConnectionRow>(isRecord));

/**
 * `GET TR/conns`, every row kept as Tanium sent it; a body that is not a list is an error. `errorPrefix`
 * goes in front of the request's own failures (not of a malformed body).
 */
export async function fetchConnections(
  ctx: ActionContext,
  action?: string,
  errorPrefix = '',
): Promise<ConnectionRow[]> {
  let payload: unknown;
  try {
    ({ payload } = await ctx.client.request({
      method: 'GET',
      path: `${TR}/conns`,
      deadline: ctx.deadline,
      ...(action ? { action } : {}),
    }));
  } catch (error) {
    if (error instanceof TaniumError && errorPrefix) throw error.withPrefix(errorPrefix);
    throw error;
  }
  const rows = connectionList.safeParse(payload);
  if (!rows.success) throw unexpectedResponse('a list of connections');
  return rows.data;
}

/**
 * Runs a per-connection call and explains its failure (tanium-api.md 1.10). The state check happens only
 * after an HTTP error, not before every call: the connector listed all connections first, which doubled
 * the requests of every happy path.
 */
export async function withConnectionCheck<T>(
  ctx: ActionContext,
  connectionId: string,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!isRouteHttpError(error)) throw error;
    throw (await explainConnection(ctx, connectionId)) ?? error;
  }
}

/**
 * An error status of the route itself. A failed login carries the login's status, and looking the
 * connection up would only log in again (two more attempts against a lockout policy) and hide why it
 * failed; a 2xx that did not parse says nothing about the connection either.
 */
function isRouteHttpError(error: unknown): error is TaniumError {
  if (!(error instanceof TaniumError) || error instanceof LoginError) return false;
  const status = error.status;
  return status !== undefined && status >= 300 && status !== 401 && status !== 403;
}

async function explainConnection(ctx: ActionContext, connectionId: string): Promise<TaniumError | undefined> {
  let connections: ConnectionRow[];
  try {
    connections = await fetchConnections(ctx);
  } catch {
    return undefined; // the lookup failing must not hide the original error
  }
  const match = connections.find((row) => row.id === connectionId);
  if (!match) return new TaniumError('connection', 'Could not find connection');
  const status = match.status;
  if (typeof status !== 'string' || status === '') {
    return new TaniumError(
      'connection',
      'Connection not active. Error occurred while fetching the state of the connection',
    );
  }
  if (status !== 'connected')
    return new TaniumError('connection', `Connection not active. Current state: ${status}`);
  return undefined;
}
