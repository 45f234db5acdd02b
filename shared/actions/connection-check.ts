import { TaniumError } from '../tanium/errors.ts';
import { TR } from '../tanium/routes.ts';
import type { ActionContext } from './types.ts';

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
    if (
      !(error instanceof TaniumError) ||
      error.status === undefined ||
      error.status === 401 ||
      error.status === 403
    ) {
      throw error;
    }
    throw (await explainConnection(ctx, connectionId)) ?? error;
  }
}

async function explainConnection(ctx: ActionContext, connectionId: string): Promise<TaniumError | undefined> {
  let connections: unknown;
  try {
    connections = (await ctx.client.request({ method: 'GET', path: `${TR}/conns`, deadline: ctx.deadline }))
      .payload;
  } catch {
    return undefined; // the lookup failing must not hide the original error
  }
  if (!Array.isArray(connections)) return undefined;
  const match = connections.find(
    (item): item is Record<string, unknown> =>
      typeof item === 'object' && item !== null && (item as Record<string, unknown>).id === connectionId,
  );
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
