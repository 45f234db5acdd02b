import { badRequest, json } from '../http.ts';
import type { Route } from '../router.ts';
import { intelTypeFor } from '../state/intels.ts';

/** File name from Content-Disposition: `filename*` (RFC 5987) wins over `filename`, quoted or not. */
export function dispositionFileName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;\s]+)/i.exec(header);
  if (extended) {
    try {
      return decodeURIComponent(extended[2]!);
    } catch {
      // fall back to the plain parameter
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted) return quoted[1]!.replace(/\\(.)/g, '$1');
  const bare = /filename\s*=\s*([^;\s]+)/i.exec(header);
  return bare?.[1];
}

export const intelRoutes: Route[] = [
  {
    method: 'POST',
    pattern: 'TR/intels',
    permission: 'threat response intels write',
    accepts: 'application/octet-stream',
    handler: ({ state, headers, body }) => {
      const name = dispositionFileName(headers['content-disposition']);
      if (!name) return badRequest('Missing file name');
      if (body.length === 0) return badRequest('Intel document is empty');
      if (!intelTypeFor(name)) return badRequest('Unable to determine intel type from file name');
      return json(200, { data: state.intels.upload(name, body, state.clock.now()) });
    },
  },
  {
    // Not used by the actions; the alert poller reads intel doc names with it.
    method: 'GET',
    pattern: 'TR/intels/:id',
    permission: 'threat response use api',
    handler: ({ state, params }) => {
      const doc = /^\d+$/.test(params.id!) ? state.intels.docs.get(Number(params.id)) : undefined;
      return doc ? json(200, { data: doc }) : json(404, { message: `Intel doc ${params.id} not found` });
    },
  },
];
