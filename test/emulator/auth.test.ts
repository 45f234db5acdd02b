import { describe, expect, it } from 'vitest';
import { PERMISSIONS } from './state/auth.ts';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

describe('Emulator: authentication as Tanium does it', () => {
  const tanium = useEmulator();

  const login = async () => {
    const response = await tanium.client.call('POST', '/api/v2/session/login', {
      session: null,
      json: {
        username: tanium.emulator.credentials.username,
        password: tanium.emulator.credentials.password,
        domain: tanium.emulator.credentials.domain,
      },
    });
    return (response.json as { data: { session: string } }).data.session;
  };

  it('accepts the API token in the session header', async () => {
    // Act
    const response = await tanium.client.get(`${TR_PATH}/status`);

    // Assess
    expect(response.status).toBe(200);
    expect(tanium.emulator.requests.at(-1)?.credentialKind).toBe('token');
    expect(tanium.emulator.requests.at(-1)?.headers.session).toBe('[masked]');
  });

  it('answers 401 Unauthorized without a session header or with an unknown token', async () => {
    // Act
    const missing = await tanium.client.get(`${TR_PATH}/status`, null);
    const unknown = await tanium.client.get(`${TR_PATH}/status`, 'token-0123456789abcdef');

    // Assess
    expect(missing.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.json).toEqual({ text: 'Unauthorized' });
  });

  it('answers 401 for an expired token and for a client outside the trusted IPs', async () => {
    // Prepare
    tanium.emulator.setTrustedIps(['10.9.9.9']);

    // Act
    const untrusted = await tanium.client.get(`${TR_PATH}/status`);
    tanium.emulator.setTrustedIps(['127.0.0.1']);
    const trusted = await tanium.client.get(`${TR_PATH}/status`);
    tanium.emulator.expireToken();
    const expired = await tanium.client.get(`${TR_PATH}/status`);

    // Assess
    expect(untrusted.status).toBe(401);
    expect(trusted.status).toBe(200);
    expect(expired.status).toBe(401);
  });

  it('answers 403 for a value that is not a live session', async () => {
    // Act
    const response = await tanium.client.get(`${TR_PATH}/status`, 'not-a-session');

    // Assess
    expect(response.status).toBe(403);
    expect(response.json).toEqual({ text: 'Forbidden: session is invalid or expired' });
  });

  it('issues sessions on login that work until expired', async () => {
    // Prepare
    const session = await login();

    // Act
    const live = await tanium.client.get(`${TR_PATH}/status`, session);
    tanium.emulator.expireAllSessions();
    const expired = await tanium.client.get(`${TR_PATH}/status`, session);

    // Assess
    expect(session).toMatch(/^1-\d+-[0-9a-f]{64}$/);
    expect(live.status).toBe(200);
    expect(expired.status).toBe(403);
  });

  it('expires sessions after the TTL of inactivity on the clock', async () => {
    // Prepare
    const session = await login();

    // Act
    tanium.emulator.clock.advance(tanium.emulator.config.sessionTtlMs - 1);
    const stillLive = await tanium.client.get(`${TR_PATH}/status`, session);
    tanium.emulator.clock.advance(tanium.emulator.config.sessionTtlMs);
    const expired = await tanium.client.get(`${TR_PATH}/status`, session);

    // Assess
    expect(stillLive.status).toBe(200);
    expect(expired.status).toBe(403);
  });

  it('rejects bad credentials with 401 Invalid credentials and masks passwords in the log', async () => {
    // Act
    const response = await tanium.client.call('POST', '/api/v2/session/login', {
      session: null,
      json: { username: tanium.emulator.credentials.username, password: 'wrong' },
    });

    // Assess
    expect(response.status).toBe(401);
    expect(response.json).toEqual({ text: 'Invalid credentials' });
    expect(tanium.emulator.requests.at(-1)?.json).toEqual({
      username: tanium.emulator.credentials.username,
      password: '[masked]',
    });
  });

  it('falls back to the legacy /auth route when the login switch answers 404', async () => {
    // Prepare
    tanium.emulator.switches.loginRoute404 = true;
    const basic = Buffer.from(
      `${tanium.emulator.credentials.username}:${tanium.emulator.credentials.password}`,
    ).toString('base64');

    // Act
    const modern = await tanium.client.call('POST', '/api/v2/session/login', { session: null, json: {} });
    const legacy = await tanium.client.call('POST', '/auth', {
      session: null,
      headers: { authorization: `Basic ${basic}` },
    });
    const bad = await tanium.client.call('POST', '/auth', {
      session: null,
      headers: { authorization: 'Basic eDp5' },
    });
    const used = await tanium.client.get(`${TR_PATH}/status`, legacy.text.trim());

    // Assess
    expect(modern.status).toBe(404);
    expect(legacy.status).toBe(200);
    expect(legacy.headers['content-type']).toMatch(/^text\/plain/);
    expect(bad.status).toBe(401);
    expect(bad.text).toBe('Unauthorized');
    expect(used.status).toBe(200);
  });

  it('answers 403 missing permission when the persona lacks the route permission', async () => {
    // Prepare
    tanium.emulator.removePermission('full', PERMISSIONS.alertsRead);

    // Act
    const alerts = await tanium.client.get(`${TR_PATH}/alerts`);
    const status = await tanium.client.get(`${TR_PATH}/status`);

    // Assess
    expect(alerts.status).toBe(403);
    expect(alerts.json).toEqual({ text: 'Forbidden: missing permission threat response alerts read' });
    expect(status.status).toBe(200);
  });

  it('answers 404 Not Found for unknown routes and 405 for a wrong method', async () => {
    // Act
    const unknown = await tanium.client.get(`${TR_PATH}/nothing-here`);
    const wrongMethod = await tanium.client.call('PUT', `${TR_PATH}/conns`);

    // Assess
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ text: 'Not Found' });
    expect(wrongMethod.status).toBe(405);
  });
});
