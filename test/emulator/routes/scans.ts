import { badRequest, json, parseJson } from '../http.ts';
import type { Route } from '../router.ts';

export const scanRoutes: Route[] = [
  {
    method: 'POST',
    pattern: 'TR/on-demand-scans',
    permission: 'threat response on demand scans write',
    accepts: 'application/json',
    handler: ({ state, body }) => {
      const input = parseJson(body) as { intelDocId?: unknown; computerGroupId?: unknown } | undefined;
      if (!input || typeof input !== 'object') return badRequest('Invalid JSON body');
      const { intelDocId, computerGroupId } = input;
      if (typeof intelDocId !== 'number' || !Number.isInteger(intelDocId))
        return badRequest('intelDocId must be a number');
      if (typeof computerGroupId !== 'number' || !Number.isInteger(computerGroupId)) {
        return badRequest('computerGroupId must be a number');
      }
      if (!state.intels.docs.has(intelDocId))
        return json(404, { message: `Intel doc ${intelDocId} not found` });
      if (!state.groups.some((group) => group.id === computerGroupId)) {
        return json(404, { text: `Computer group ${computerGroupId} not found` });
      }
      return json(200, { data: state.scans.start(intelDocId, computerGroupId, state.clock.now()) });
    },
  },
];
