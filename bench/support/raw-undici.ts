import { Agent } from 'undici';

/**
 * The reference side of the overhead benchmarks: plain undici GETs of one emulator route with the token,
 * the body read and parsed, and nothing else.
 */
export function rawUndiciGet(
  emulator: { url: string; ca: string | undefined; credentials: { apiToken: string } },
  path: string,
) {
  const agent = new Agent({ connect: { ca: emulator.ca }, keepAliveTimeout: 30_000, connections: 32 });
  const origin = new URL(emulator.url).origin;
  const headers = {
    session: emulator.credentials.apiToken,
    accept: 'application/json',
    'user-agent': 'bench',
  };
  const get = async (): Promise<unknown> => {
    const response = await agent.request({ origin, path, method: 'GET', headers });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`raw request failed: ${response.statusCode}`);
    return JSON.parse(text) as unknown;
  };
  return { get, close: () => agent.close() };
}
