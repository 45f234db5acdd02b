import { json, notFound, parseJson, text } from '../http.ts';
import type { Route } from '../router.ts';

export const authRoutes: Route[] = [
  {
    method: 'POST',
    pattern: 'api/v2/session/login',
    permission: null,
    accepts: 'application/json',
    handler: ({ state, body }) => {
      if (state.switches.loginRoute404) return notFound();
      const input = parseJson(body) as
        | { username?: unknown; password?: unknown; domain?: unknown }
        | undefined;
      if (!input || typeof input !== 'object') return json(400, { text: 'Invalid JSON body' });
      const { username, password, domain } = input;
      if (typeof username !== 'string' || typeof password !== 'string')
        return json(401, { text: 'Invalid credentials' });
      const session = state.auth.login(username, password, typeof domain === 'string' ? domain : undefined);
      if (!session) return json(401, { text: 'Invalid credentials' });
      return json(200, { data: { session: session.value } });
    },
  },
  {
    method: 'POST',
    pattern: 'auth',
    permission: null,
    handler: ({ state, headers }) => {
      const header = headers.authorization ?? '';
      const match = /^Basic\s+(\S+)$/i.exec(header);
      const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const session =
        colon > 0 ? state.auth.login(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
      if (!session) return text(401, 'Unauthorized');
      return text(200, `${session.value}\n`);
    },
  },
];
