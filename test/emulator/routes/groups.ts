import { json, notFound } from '../http.ts';
import type { Route } from '../router.ts';

const GROUPS_READ = 'computer groups read';

export const groupRoutes: Route[] = [
  {
    method: 'GET',
    pattern: 'api/v2/management_rights_groups/:id',
    permission: GROUPS_READ,
    handler: ({ state, params }) => {
      if (!/^\d+$/.test(params.id!)) return notFound();
      const group = state.groups.find(
        (candidate) => candidate.id === Number(params.id) && candidate.management_rights_flag,
      );
      return group ? json(200, { data: group }) : notFound();
    },
  },
  {
    method: 'GET',
    pattern: 'api/v2/groups/by-name/:name',
    permission: GROUPS_READ,
    handler: ({ state, params }) => {
      const group = state.groups.find((candidate) => candidate.name === params.name);
      if (group) return json(200, { data: group });
      if (state.switches.groupsByNameEmptyData) return json(200, { data: {} });
      return json(404, { text: `GroupNotFound: no group named '${params.name}'` });
    },
  },
];
