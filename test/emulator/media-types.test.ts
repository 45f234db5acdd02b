import { describe, expect, it } from 'vitest';
import { SEEDED } from './index.ts';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

const CONN = `${TR_PATH}/conns/${SEEDED.connectedConnectionId}`;
const JSON_BODY = JSON.stringify({ target: { hostname: 'web-02', clientId: '3380012345' } });

describe('Emulator: request media types', () => {
  const tanium = useEmulator({ tls: false });

  // Each POST of the contract (tanium-api.md 1.3) with a type it does not send, or none: a client that
  // got its Content-Type wrong must fail here, as it would against a strict server.
  it.each([
    ['create connection as text', `${TR_PATH}/conns/connect`, 'text/plain', JSON_BODY, 'application/json'],
    ['create snapshot without a type', `${CONN}/snapshot`, undefined, undefined, 'application/json'],
    ['save file as a form', `${CONN}/file`, 'application/x-www-form-urlencoded', '{}', 'application/json'],
    ['quick scan as text', `${TR_PATH}/on-demand-scans`, 'text/plain', '{}', 'application/json'],
    ['intel doc as JSON', `${TR_PATH}/intels`, 'application/json', 'rule r {}', 'application/octet-stream'],
    ['login without a type', '/api/v2/session/login', undefined, '{}', 'application/json'],
  ])('answers 415 to %s', async (_case, path, type, body, expected) => {
    // Act
    const response = await tanium.client.call('POST', path, {
      ...(type ? { headers: { 'content-type': type } } : {}),
      ...(body !== undefined ? { body } : {}),
    });

    // Assess
    expect(response.status).toBe(415);
    expect(response.json).toEqual({ text: `Unsupported Media Type: expected ${expected}` });
    expect(tanium.emulator.requests.at(-1)?.status).toBe(415);
  });

  it('takes the type in any case and with parameters, as the media type rules allow', async () => {
    // Act
    const response = await tanium.client.call('POST', `${TR_PATH}/conns/connect`, {
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      body: JSON_BODY,
    });

    // Assess
    expect(response.status).toBe(200);
  });

  it('checks the session before the type, as the other routes answer 401 first', async () => {
    // Act
    const response = await tanium.client.call('POST', `${CONN}/snapshot`, { session: null });

    // Assess
    expect(response.status).toBe(401);
  });
});
