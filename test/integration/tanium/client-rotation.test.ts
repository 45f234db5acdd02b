import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TaniumCredentials } from '../../../shared/config/credentials.ts';
import { closeAgents } from '../../../shared/tanium/agent.ts';
import { type TaniumApi, withLogContext } from '../../../shared/tanium/client.ts';
import { CREDENTIALS_RECHECK_MS, TaniumClientCache } from '../../../shared/tanium/client-cache.ts';
import { ConfigError, LoginError } from '../../../shared/tanium/errors.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { clearSessionCache } from '../../../shared/tanium/session-cache.ts';
import { digestCredential } from '../../emulator/index.ts';
import { taniumFailure } from '../../helpers/failure.ts';
import { capturingLogger, credentialsFor, type Emulator, startTestEmulator } from '../../helpers/tanium.ts';

const STATUS = { method: 'GET', path: `${TR}/status` } as const;
const LOGIN = '/api/v2/session/login';

/**
 * A Secrets Manager secret as a container sees it through Powertools: `credentials` answers from a
 * cache, `freshCredentials` reads the secret now and refreshes that cache (forceFetch).
 */
class SecretStandIn {
  value: TaniumCredentials;
  private cached: TaniumCredentials;
  freshReads = 0;

  constructor(initial: TaniumCredentials) {
    this.value = initial;
    this.cached = initial;
  }

  /** Set to hold the next cached read's answer (the value it read) until the promise settles. */
  holdNextRead: Promise<void> | undefined;

  readonly credentials = async (): Promise<TaniumCredentials> => {
    const value = this.cached;
    const hold = this.holdNextRead;
    this.holdNextRead = undefined;
    if (hold) await hold;
    return value;
  };

  readonly freshCredentials = async (): Promise<TaniumCredentials> => {
    this.freshReads++;
    this.cached = this.value;
    return this.value;
  };

  /** The cache's time ran out: the next cached read answers with the secret's value. */
  expireCache(): void {
    this.cached = this.value;
  }
}

describe('Tanium client: a secret rotated while its value is cached', () => {
  let emulator: Emulator;
  let now: number;

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterAll(async () => {
    await closeAgents();
    await emulator.close();
  });
  beforeEach(() => {
    emulator.reset();
    clearSessionCache();
    now = 1_000_000;
  });

  function cacheOver(
    secret: SecretStandIn,
    logger = capturingLogger(),
    sleep?: (ms: number) => Promise<unknown>,
  ): TaniumClientCache {
    return new TaniumClientCache({
      credentials: secret.credentials,
      freshCredentials: secret.freshCredentials,
      logger,
      clientOptions: { random: () => 0, ...(sleep ? { sleep } : {}) },
      now: () => now,
    });
  }

  /**
   * Rotates the secret to a second token of the full persona (created before the first is revoked, as a
   * rotation does), unknown to the container's cache yet. Returns the new token.
   */
  function rotate(
    secret: SecretStandIn,
    auth: 'token' | 'both' = 'token',
    fields: Record<string, unknown> = {},
  ): string {
    const token = emulator.state.auth.addToken({ persona: 'full' }).value;
    secret.value = credentialsFor(emulator, { auth, secret: { api_token: token, ...fields } });
    return token;
  }

  it('sends a request the revoked token got refused once more with the new token, and keeps it', async () => {
    // Prepare
    const logger = capturingLogger();
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = cacheOver(secret, logger);
    // As an action holds it: through the request's log context
    const api = withLogContext(await cache.get(), { requestId: 'r-1' });
    await api.request(STATUS);
    const newToken = rotate(secret);
    emulator.expireToken(emulator.credentials.apiToken);

    // Act
    const refusedFirst = await api.request(STATUS);
    const next = await api.request(STATUS);
    const nextInvocation = await (await cache.get()).request(STATUS);

    // Assess: one extra request and one read of the secret; the action's later calls, and the next
    // invocation's, use the new token directly
    expect([refusedFirst.status, next.status, nextInvocation.status]).toEqual([200, 200, 200]);
    expect(emulator.requests.map((r) => [r.credentialDigest, r.status])).toEqual([
      [digestCredential(emulator.credentials.apiToken), 200],
      [digestCredential(emulator.credentials.apiToken), 401],
      [digestCredential(newToken), 200],
      [digestCredential(newToken), 200],
      [digestCredential(newToken), 200],
    ]);
    expect(secret.freshReads).toBe(1);
    // What get file names in its messages and the intel cache keys on: the credentials in use
    expect(api.credentials.apiToken).toBe(newToken);
    expect(logger.lines.join('\n')).toContain('the secret holds new ones');
    expect(logger.lines.join('\n')).not.toContain(newToken);
  });

  it('sends it once more after a failed login when the password was changed', async () => {
    // Prepare: username and password only; the session expires, and the password changed meanwhile
    const secret = new SecretStandIn(credentialsFor(emulator, { auth: 'password' }));
    const cache = cacheOver(secret);
    const api = await cache.get();
    await api.request(STATUS);
    const { username, domain } = emulator.credentials;
    emulator.state.auth.addUser({ username, domain, password: 'new-password-1', persona: 'full' });
    secret.value = credentialsFor(emulator, { auth: 'password', secret: { password: 'new-password-1' } });
    emulator.expireAllSessions();

    // Act
    const response = await api.request(STATUS);

    // Assess
    expect(response.status).toBe(200);
    expect(emulator.requests.map((r) => [r.path, r.status])).toEqual([
      ['/api/v2/session/login', 200],
      [`${TR}/status`, 200],
      [`${TR}/status`, 403],
      ['/api/v2/session/login', 401],
      ['/api/v2/session/login', 200],
      [`${TR}/status`, 200],
    ]);
    expect(secret.freshReads).toBe(1);
  });

  it('reports the refusal when the secret did not change, and reads it again at most once a minute', async () => {
    // Prepare: the token expired and nobody rotated it
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    emulator.expireToken();

    // Act
    const first = await taniumFailure(api.request(STATUS));
    const second = await taniumFailure(api.request(STATUS));
    now += CREDENTIALS_RECHECK_MS;
    const third = await taniumFailure(api.request(STATUS));

    // Assess: nothing is sent twice; the refusal is the contract's final auth failure
    expect([first.kind, second.kind, third.kind]).toEqual(['auth', 'auth', 'auth']);
    expect(first.message).toMatch(/^Authentication failed \(HTTP 401\): Tanium rejected the API token/);
    expect(emulator.requests).toHaveLength(3);
    expect(secret.freshReads).toBe(2);
  });

  it('sends nothing again and reads nothing for a failure that is not a refusal of the credentials', async () => {
    // Prepare: a write whose answer was lost (it may have been carried out), and a server error
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    rotate(secret);
    emulator.faults.add({ method: 'POST', path: `${TR}/intels`, times: 1, kind: 'status', status: 502 });
    emulator.faults.add({ method: 'GET', path: STATUS.path, times: 1, kind: 'status', status: 500 });

    // Act
    const write = await taniumFailure(api.request({ method: 'POST', path: `${TR}/intels`, json: {} }));
    const read = await taniumFailure(api.request(STATUS));

    // Assess
    expect([write.kind, read.kind]).toEqual(['unknown_outcome', 'tanium']);
    expect(emulator.requests).toHaveLength(2);
    expect(secret.freshReads).toBe(0);
  });

  it('does not send a refused DELETE again whose first attempt may have been carried out', async () => {
    // Prepare: the first attempt's answer is lost; by the retry the token was revoked and rotated
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    rotate(secret);
    const path = `${TR}/conns/remote/remote:gone:1:1`;
    emulator.faults.add({ method: 'DELETE', path, times: 1, kind: 'status', status: 502 });
    emulator.faults.add({ method: 'DELETE', path, times: 1, kind: 'status', status: 401 });

    // Act
    const error = await taniumFailure(api.request({ method: 'DELETE', path }));

    // Assess: the refusal is reported; a replay could only answer 404 for what Tanium may have deleted
    expect(error.kind).toBe('auth');
    expect(emulator.requests.map((r) => r.status)).toEqual([502, 401]);
    expect(secret.freshReads).toBe(0);
  });

  it('sends a refused GET once more with the new token though its first attempt got no answer', async () => {
    // Prepare: the gateway answers the first attempt 502; by the retry the token was revoked and rotated
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    const newToken = rotate(secret);
    emulator.expireToken(emulator.credentials.apiToken);
    emulator.faults.add({ method: 'GET', path: STATUS.path, times: 1, kind: 'status', status: 502 });

    // Act
    const response = await api.request(STATUS);

    // Assess: a GET has no outcome a repeat could spoil; the client itself repeated it
    expect(response.status).toBe(200);
    expect(emulator.requests.map((r) => [r.credentialDigest, r.status])).toEqual([
      [digestCredential(emulator.credentials.apiToken), 502],
      [digestCredential(emulator.credentials.apiToken), 401],
      [digestCredential(newToken), 200],
    ]);
    expect(secret.freshReads).toBe(1);
  });

  it('reads the secret once for a batch of requests refused at once, and sends each once more', async () => {
    // Prepare: the read answers only once every request was refused, so each refusal finds it in flight.
    // The clock is asked once per refusal that finds no newer credential yet: it counts them.
    const secret = new SecretStandIn(credentialsFor(emulator));
    let refusals = 0;
    let everyRefusal: () => void = () => undefined;
    const allRefused = new Promise<void>((resolve) => {
      everyRefusal = resolve;
    });
    const api = await new TaniumClientCache({
      credentials: secret.credentials,
      freshCredentials: async () => {
        await allRefused;
        return secret.freshCredentials();
      },
      logger: capturingLogger(),
      clientOptions: { random: () => 0 },
      now: () => {
        if (++refusals === 10) everyRefusal();
        return now;
      },
    }).get();
    const newToken = rotate(secret);
    emulator.expireToken(emulator.credentials.apiToken);

    // Act
    const responses = await Promise.all(Array.from({ length: 10 }, () => api.request(STATUS)));

    // Assess
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(secret.freshReads).toBe(1);
    expect(emulator.requests.filter((r) => r.status === 401)).toHaveLength(10);
    expect(emulator.requests.filter((r) => r.credentialDigest === digestCredential(newToken))).toHaveLength(
      10,
    );
  });

  it.for([
    ['a streamed request', (api: TaniumApi) => api.stream(STATUS)],
    // What the client itself takes for no deadline: no timer can be armed for it
    [
      'a request whose deadline is Infinity',
      (api: TaniumApi) => api.request({ ...STATUS, deadline: Number.POSITIVE_INFINITY }),
    ],
  ] as const)('sends %s the revoked token got refused once more with the new token', async ([, send]) => {
    // Prepare
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    const newToken = rotate(secret);
    emulator.expireToken(emulator.credentials.apiToken);

    // Act
    const response = await send(api);
    if ('body' in response) response.body.resume();

    // Assess
    expect(response.status).toBe(200);
    expect(emulator.requests.map((r) => [r.credentialDigest, r.status])).toEqual([
      [digestCredential(emulator.credentials.apiToken), 401],
      [digestCredential(newToken), 200],
    ]);
  });

  it('sends a refused request once more with the credentials a later cached read took, reading nothing', async () => {
    // Prepare: an action still holds the old client when the next invocation's read, its cache
    // expired, takes the rotated secret
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = cacheOver(secret);
    const held = await cache.get();
    const newToken = rotate(secret);
    secret.expireCache();
    await cache.get();
    emulator.expireToken(emulator.credentials.apiToken);

    // Act
    const response = await held.request(STATUS);

    // Assess: the secret is not read again for what the container already knows
    expect(response.status).toBe(200);
    expect(emulator.requests.map((r) => [r.credentialDigest, r.status])).toEqual([
      [digestCredential(emulator.credentials.apiToken), 401],
      [digestCredential(newToken), 200],
    ]);
    expect(secret.freshReads).toBe(0);
  });

  it('keeps both tokens out of error texts once a refused request moved to the new one', async () => {
    // Prepare: a record of the batch may still read a body the old client fetched, echoing the old token
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    const oldToken = emulator.credentials.apiToken;
    const newToken = rotate(secret);
    emulator.expireToken(oldToken);
    await api.request(STATUS);

    // Act
    const text = api.errorText(`refused ${oldToken}, then ${newToken}`, 'text/plain');

    // Assess
    expect(api.credentials.apiToken).toBe(newToken);
    expect(text).toContain('refused');
    expect(text).not.toContain(oldToken);
    expect(text).not.toContain(newToken);
  });

  it('reports a refusal as final, warning of no re-read, when the cache was given no read past its cache', async () => {
    // Prepare: the secret was rotated, but this cache can only wait for its own cache to expire
    const logger = capturingLogger();
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = new TaniumClientCache({ credentials: secret.credentials, logger });
    rotate(secret);
    emulator.expireToken(emulator.credentials.apiToken);

    // Act
    const error = await taniumFailure((await cache.get()).request(STATUS));

    // Assess
    expect(error.kind).toBe('auth');
    expect(emulator.requests).toHaveLength(1);
    const lines = logger.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('stops waiting for a secret read that does not answer, and reports the refusal', async () => {
    // Prepare: Secrets Manager never answers
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = new TaniumClientCache({
      credentials: secret.credentials,
      freshCredentials: () => new Promise<never>(() => undefined),
      logger: capturingLogger(),
      // Longer than any test may run: only the request's deadline can end the wait.
      recheckTimeoutMs: 600_000,
    });
    emulator.expireToken();

    // Act
    const error = await taniumFailure(
      (await cache.get()).request({ ...STATUS, deadline: Date.now() + 1500 }),
    );

    // Assess: the refusal itself, in time for the request's result to be published
    expect(error.kind).toBe('auth');
    expect(emulator.requests).toHaveLength(1);
  });

  it('does not send again a DELETE whose answer was lost when the login after its refusal fails', async () => {
    // Prepare: token and password; the first attempt's answer is lost, the retry's token is refused,
    // and the login is refused too (both were rotated)
    const secret = new SecretStandIn(credentialsFor(emulator, { auth: 'both' }));
    const api = await cacheOver(secret).get();
    rotate(secret, 'both');
    const path = `${TR}/conns/remote/remote:gone:1:1`;
    emulator.faults.add({ method: 'DELETE', path, times: 1, kind: 'status', status: 502 });
    emulator.faults.add({ method: 'DELETE', path, times: 1, kind: 'status', status: 401 });
    emulator.faults.add({ method: 'POST', path: LOGIN, times: 1, kind: 'status', status: 401 });

    // Act
    const error = await taniumFailure(api.request({ method: 'DELETE', path }));

    // Assess
    expect(error).toBeInstanceOf(LoginError);
    expect(error.afterLostAnswer).toBe(true);
    expect(emulator.requests.map((r) => [r.method, r.status])).toEqual([
      ['DELETE', 502],
      ['DELETE', 401],
      ['POST', 401],
    ]);
    expect(secret.freshReads).toBe(0);
  });

  it('keeps the new credentials when a cached read that started before the re-read ends after it', async () => {
    // Prepare: the next invocation's read of the cached secret is slow and still holds the old value
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = cacheOver(secret);
    const api = await cache.get();
    const newToken = rotate(secret);
    emulator.expireToken(emulator.credentials.apiToken);
    let release: () => void = () => undefined;
    secret.holdNextRead = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowRead = cache.get();

    // Act: a refusal re-reads the secret meanwhile; then the slow read ends
    await api.request(STATUS);
    release();
    const next = await (await slowRead).request(STATUS);

    // Assess: the old, revoked token is not taken back
    expect(next.status).toBe(200);
    expect(emulator.requests.map((r) => [r.credentialDigest, r.status])).toEqual([
      [digestCredential(emulator.credentials.apiToken), 401],
      [digestCredential(newToken), 200],
      [digestCredential(newToken), 200],
    ]);
  });

  it('does not send a refused request again when only the connection settings of the secret changed', async () => {
    // Prepare: the token was revoked; the secret's new value changes the timeout only
    const logger = capturingLogger();
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret, logger).get();
    secret.value = credentialsFor(emulator, { secret: { timeout_seconds: 33 } });
    emulator.expireToken();

    // Act
    const error = await taniumFailure(api.request(STATUS));

    // Assess: the same token would only be refused again; the new settings still apply from now on
    expect(error.kind).toBe('auth');
    expect(emulator.requests).toHaveLength(1);
    expect(secret.freshReads).toBe(1);
    expect(logger.lines.join('\n')).not.toContain('the secret holds new ones');
  });

  it('does not read the secret again for a missing permission', async () => {
    // Prepare: a 403 is a credential Tanium accepted; a rotation does not explain it
    const secret = new SecretStandIn(credentialsFor(emulator));
    const api = await cacheOver(secret).get();
    emulator.removePermission('full', 'threat response alerts read');

    // Act
    const error = await taniumFailure(api.request({ method: 'GET', path: `${TR}/alerts` }));

    // Assess
    expect(error.kind).toBe('permission');
    expect(secret.freshReads).toBe(0);
  });

  it('gives up a secret read that does not answer within its own limit, with a warning', async () => {
    // Prepare: no deadline on the request, so only the re-read's limit ends the wait
    const logger = capturingLogger();
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = new TaniumClientCache({
      credentials: secret.credentials,
      freshCredentials: () => new Promise<never>(() => undefined),
      logger,
      recheckTimeoutMs: 50,
    });
    emulator.expireToken();

    // Act
    const error = await taniumFailure((await cache.get()).request(STATUS));

    // Assess
    expect(error.kind).toBe('auth');
    expect(logger.lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual({
      level: 'warn',
      message: 'Could not read the Tanium credentials again after Tanium refused them',
      error: 'no answer within 50 ms',
    });
  });

  it('reports the refusal when the secret cannot be read again, with a warning', async () => {
    // Prepare
    const logger = capturingLogger();
    const secret = new SecretStandIn(credentialsFor(emulator));
    const cache = new TaniumClientCache({
      credentials: secret.credentials,
      freshCredentials: async () => {
        throw new ConfigError("Unable to read the Tanium credentials secret 'tanium': not allowed");
      },
      logger,
    });
    emulator.expireToken();

    // Act
    const error = await taniumFailure((await cache.get()).request(STATUS));

    // Assess
    expect(error.kind).toBe('auth');
    expect(emulator.requests).toHaveLength(1);
    expect(logger.lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual({
      level: 'warn',
      message: 'Could not read the Tanium credentials again after Tanium refused them',
      error: "Unable to read the Tanium credentials secret 'tanium': not allowed",
    });
  });

  it.each([
    { server: 'the same server', baseUrl: (url: string) => url, holds: true },
    // The emulator under another name: to the client, another server
    {
      server: 'another server',
      baseUrl: (url: string) => url.replace('127.0.0.1', 'localhost'),
      holds: false,
    },
  ])(
    'makes the client a rotation brings wait out a pause Tanium asked for, when it is $server: $holds',
    async ({ baseUrl, holds }) => {
      // Prepare: a 429 asks for 2 s; waits are recorded, not spent (time stands still)
      const waits: number[] = [];
      const secret = new SecretStandIn(credentialsFor(emulator));
      const cache = cacheOver(secret, capturingLogger(), async (ms) => waits.push(ms));
      emulator.faults.add({
        method: 'GET',
        path: STATUS.path,
        times: 1,
        kind: 'status',
        status: 429,
        retryAfter: 2,
      });
      const before = await cache.get();
      await before.request(STATUS);
      rotate(secret, 'token', { base_url: baseUrl(emulator.url) });
      secret.expireCache();

      // Act
      const after = await cache.get();
      const waited = waits.length;
      const response = await after.request(STATUS);

      // Assess: a new client, which holds its request for what is left of the pause on that server only
      expect(after).not.toBe(before);
      expect(response.status).toBe(200);
      const held = waits.slice(waited);
      if (holds) {
        expect(held).toHaveLength(1);
        expect(held[0]).toBeGreaterThan(1000);
        expect(held[0]).toBeLessThanOrEqual(2000);
      } else {
        expect(held).toEqual([]);
      }
    },
  );
});
