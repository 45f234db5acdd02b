import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { describe, expect, it, vi } from 'vitest';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import { type TaniumApi, TaniumClient, type TaniumRequest } from '../../../shared/tanium/client.ts';
import { CREDENTIALS_RECHECK_MS, TaniumClientCache } from '../../../shared/tanium/client-cache.ts';
import { ConfigError, TaniumError } from '../../../shared/tanium/errors.ts';
import { failure } from '../../helpers/failure.ts';

const silent = { debug() {}, warn() {} };

// Real certificates: the secret's CA bundle is parsed when read.
const CA_ONE = `${rootCertificates[0]}\n`;
const CA_TWO = `${rootCertificates[1]}\n`;

function secretWith(token: string, fields: Record<string, unknown> = {}) {
  return parseCredentials({ base_url: 'https://tanium.example.com', api_token: token, ...fields }, 'test');
}

describe('Tanium client cache', () => {
  it('reads the credentials on every call and keeps one client while they stay the same', async () => {
    // Prepare
    let reads = 0;
    const cache = new TaniumClientCache({
      credentials: async () => {
        reads++;
        return secretWith('token-one-123');
      },
      logger: silent,
    });

    // Act
    const first = await cache.get();
    const second = await cache.get();

    // Assess
    expect(reads).toBe(2);
    expect(second).toBe(first);
  });

  it('builds a new client when the secret was rotated', async () => {
    // Prepare
    let token = 'token-one-123';
    const cache = new TaniumClientCache({ credentials: async () => secretWith(token), logger: silent });
    const before = await cache.get();

    // Act
    token = 'token-two-456';
    const after = await cache.get();

    // Assess
    expect(after).not.toBe(before);
    expect(after.credentials.apiToken).toBe('token-two-456');
    expect(await cache.get()).toBe(after);
  });

  it('gives its clients the logger it was given, so their warnings reach the function logs', async () => {
    // Prepare: a secret that turns certificate verification off, which the client warns of once per origin
    const warnings: string[] = [];
    const cache = new TaniumClientCache({
      credentials: async () =>
        secretWith('token-one-123', {
          base_url: 'https://unverified.example.com',
          verify_server_cert: false,
        }),
      logger: { debug() {}, warn: (message) => warnings.push(message) },
    });

    // Act
    await cache.get();

    // Assess
    expect(warnings).toEqual([
      'TLS certificate verification is disabled for Tanium (verify_server_cert is false)',
    ]);
  });

  it.each([
    ['ca_bundle is added', {}, { ca_bundle: CA_ONE }],
    ['ca_bundle is replaced', { ca_bundle: CA_ONE }, { ca_bundle: CA_TWO }],
    ['verify_server_cert changes', { ca_bundle: CA_ONE }, { ca_bundle: CA_ONE, verify_server_cert: false }],
    ['timeout_seconds changes', { ca_bundle: CA_ONE }, { ca_bundle: CA_ONE, timeout_seconds: 120 }],
  ] as const)('builds a new client when only %s', async (_change, original, rotated) => {
    // Prepare: the same token throughout; only the connection settings of the secret change
    let fields: Record<string, unknown> = original;
    const cache = new TaniumClientCache({
      credentials: async () => secretWith('token-one-123', fields),
      logger: silent,
    });
    const before = await cache.get();

    // Act
    fields = rotated;
    const after = await cache.get();

    // Assess
    expect(after).not.toBe(before);
    expect(after.credentials).toEqual(secretWith('token-one-123', rotated));
    expect(await cache.get()).toBe(after);
  });
});

const STATUS: TaniumRequest = { method: 'GET', path: '/plugin/products/threat-response/api/v1/status' };
const WARNED_NEW_ONES =
  'Tanium refused the credentials this container had cached, and the secret holds new ones: using them';
const WARNED_NO_REREAD = 'Could not read the Tanium credentials again after Tanium refused them';

function refusal(options: { afterLostAnswer?: boolean } = {}): TaniumError {
  return new TaniumError('auth', 'Authentication failed (HTTP 401)', { status: 401, ...options });
}

/**
 * Tanium as the clients see it, without a network: `answer` decides each request by the token it
 * carries (an error to throw, or nothing for a 200 whose payload is that token). Returns the tokens sent.
 */
function fakeTanium(answer: (token: string) => Error | undefined): string[] {
  const sent: string[] = [];
  const reply = (client: TaniumClient): string => {
    const token = client.credentials.apiToken ?? '';
    sent.push(token);
    const error = answer(token);
    if (error) throw error;
    return token;
  };
  vi.spyOn(TaniumClient.prototype, 'request').mockImplementation(async function (this: TaniumClient) {
    return { status: 200, payload: reply(this), headers: {}, auth: 'token' };
  });
  vi.spyOn(TaniumClient.prototype, 'stream').mockImplementation(async function (this: TaniumClient) {
    return { status: 200, headers: { token: reply(this) }, body: Readable.from([]), auth: 'token' };
  });
  return sent;
}

/** Tanium with one token revoked: it refuses that one and accepts any other. */
function revoking(revoked: string, error: () => Error = refusal): string[] {
  return fakeTanium((token) => (token === revoked ? error() : undefined));
}

/**
 * A secret as a container reads it through Powertools: `credentials` answers from a cache that lags the
 * value, `freshCredentials` reads the value now and refreshes that cache.
 */
function secretHolding(token: string) {
  const secret = {
    value: secretWith(token),
    cached: secretWith(token),
    freshReads: 0,
    credentials: async () => secret.cached,
    freshCredentials: async () => {
      secret.freshReads++;
      secret.cached = secret.value;
      return secret.value;
    },
  };
  return secret;
}

/** A logger keeping its warnings as they would be printed, to search them for secrets. */
function warningsLogger() {
  const lines: string[] = [];
  return {
    lines,
    debug() {},
    warn: (message: string, extra?: Record<string, unknown>) =>
      lines.push(JSON.stringify({ message, ...extra })),
  };
}

describe('Tanium client cache: credentials Tanium refused', () => {
  it.each([
    ['a request', (api: TaniumApi) => api.request(STATUS).then((response) => response.payload)],
    ['a stream', (api: TaniumApi) => api.stream(STATUS).then((response) => response.headers.token)],
    // What the client takes for no deadline: no timer can be armed for it
    [
      'a request whose deadline is Infinity',
      (api: TaniumApi) =>
        api.request({ ...STATUS, deadline: Number.POSITIVE_INFINITY }).then((response) => response.payload),
    ],
  ] as const)(
    'sends %s refused with a revoked token once more with the rotated one, and keeps it',
    async (_case, send) => {
      // Prepare: the secret was rotated and the old token revoked while the container had it cached
      const sent = revoking('token-old-1');
      const secret = secretHolding('token-old-1');
      const logger = warningsLogger();
      const cache = new TaniumClientCache({ ...secret, logger });
      const api = await cache.get();
      secret.value = secretWith('token-new-2');

      // Act
      const answers = [await send(api), await send(api)];
      const nextInvocation = await cache.get();

      // Assess: one read of the secret and one request sent twice; later calls go to the new client at once
      expect(answers).toEqual(['token-new-2', 'token-new-2']);
      expect(sent).toEqual(['token-old-1', 'token-new-2', 'token-new-2']);
      expect(secret.freshReads).toBe(1);
      expect(api.credentials.apiToken).toBe('token-new-2');
      expect(nextInvocation.credentials.apiToken).toBe('token-new-2');
      expect(logger.lines).toEqual([JSON.stringify({ message: WARNED_NEW_ONES })]);
    },
  );

  it.each([
    ['a write', { method: 'POST', path: '/x' }, refusal()],
    // A GET may be sent again though an earlier attempt got no answer: the client itself just did
    ['a GET whose earlier attempt got no answer', STATUS, refusal({ afterLostAnswer: true })],
  ] as const)('sends %s refused with a revoked token once more', async (_case, request, error) => {
    // Prepare
    const sent = revoking('token-old-1', () => error);
    const secret = secretHolding('token-old-1');
    const api = await new TaniumClientCache({ ...secret, logger: silent }).get();
    secret.value = secretWith('token-new-2');

    // Act
    const response = await api.request(request);

    // Assess
    expect(response.payload).toBe('token-new-2');
    expect(sent).toEqual(['token-old-1', 'token-new-2']);
    expect(secret.freshReads).toBe(1);
  });

  it.each([
    // That write may have been carried out: a replay could repeat it, or answer 404 for what it deleted
    [
      'a DELETE refused after its first attempt got no answer',
      { method: 'DELETE', path: '/x' },
      refusal({ afterLostAnswer: true }),
    ],
    // A credential Tanium accepted, lacking a permission: a rotation does not explain it
    ['a missing permission', STATUS, new TaniumError('permission', 'Forbidden (HTTP 403)', { status: 403 })],
    ['a server error', STATUS, new TaniumError('tanium', 'Server error (HTTP 500)', { status: 500 })],
    ['a failure that only looks like a refusal', STATUS, Object.assign(new Error('odd'), { kind: 'auth' })],
  ] as const)(
    'reports %s as it is, reading nothing and sending nothing again',
    async (_case, request, error) => {
      // Prepare
      const sent = revoking('token-old-1', () => error);
      const secret = secretHolding('token-old-1');
      const api = await new TaniumClientCache({ ...secret, logger: silent }).get();
      secret.value = secretWith('token-new-2');

      // Act
      const outcome = await failure(api.request(request));

      // Assess
      expect(outcome).toBe(error);
      expect(sent).toEqual(['token-old-1']);
      expect(secret.freshReads).toBe(0);
    },
  );

  it.each([
    ['holds the same token', {}],
    // Settings alone cannot explain a refusal; they still apply from then on
    ['changed only its timeout', { timeout_seconds: 33 }],
  ] as const)(
    'reports the refusal when the secret %s, and reads it again at most once a minute',
    async (_case, fields) => {
      // Prepare
      const sent = revoking('token-old-1');
      const secret = secretHolding('token-old-1');
      const logger = warningsLogger();
      let now = 1_000_000;
      const cache = new TaniumClientCache({ ...secret, logger, now: () => now });
      const api = await cache.get();
      secret.value = secretWith('token-old-1', fields);

      // Act: refused at once, a moment before the minute is over, and when it is
      const reads: number[] = [];
      const errors: Error[] = [];
      for (const wait of [0, CREDENTIALS_RECHECK_MS - 1, 1]) {
        now += wait;
        errors.push(await failure(api.request(STATUS)));
        reads.push(secret.freshReads);
      }

      // Assess: each refusal is reported as Tanium's, and nothing is sent twice
      expect(reads).toEqual([1, 1, 2]);
      expect(errors.map((error) => [error.constructor, error.message])).toEqual(
        Array(3).fill([TaniumError, 'Authentication failed (HTTP 401)']),
      );
      expect(sent).toEqual(Array(3).fill('token-old-1'));
      expect((await cache.get()).credentials).toEqual(secretWith('token-old-1', fields));
      expect(logger.lines).toEqual([]);
    },
  );

  it('reads the secret once for requests refused together, and sends each once more', async () => {
    // Prepare: the read answers only once every request was refused, so each refusal finds it running
    let readAsked: () => void = () => undefined;
    let answerRead: () => void = () => undefined;
    const asked = new Promise<void>((resolve) => {
      readAsked = resolve;
    });
    const answered = new Promise<void>((resolve) => {
      answerRead = resolve;
    });
    const sent = revoking('token-old-1');
    const secret = secretHolding('token-old-1');
    const api = await new TaniumClientCache({
      credentials: secret.credentials,
      freshCredentials: async () => {
        readAsked();
        await answered;
        return secret.freshCredentials();
      },
      logger: silent,
    }).get();
    secret.value = secretWith('token-new-2');

    // Act
    const responses = Promise.all([api.request(STATUS), api.request(STATUS), api.request(STATUS)]);
    await asked;
    await new Promise((resolve) => setImmediate(resolve));
    answerRead();

    // Assess
    expect((await responses).map((response) => response.payload)).toEqual(Array(3).fill('token-new-2'));
    expect(sent).toEqual([...Array(3).fill('token-old-1'), ...Array(3).fill('token-new-2')]);
    expect(secret.freshReads).toBe(1);
  });

  it('sends a refused request once more with the credentials a later cached read took, reading nothing', async () => {
    // Prepare: an action still holds the old client when the next invocation's read, its cache
    // expired, takes the rotated secret
    const sent = revoking('token-old-1');
    const secret = secretHolding('token-old-1');
    const cache = new TaniumClientCache({ ...secret, logger: silent });
    const held = await cache.get();
    secret.cached = secretWith('token-new-2');
    await cache.get();

    // Act
    const response = await held.request(STATUS);

    // Assess
    expect(response.payload).toBe('token-new-2');
    expect(sent).toEqual(['token-old-1', 'token-new-2']);
    expect(secret.freshReads).toBe(0);
  });

  it('keeps the new credentials when a cached read that started before the re-read ends after it', async () => {
    // Prepare: the next invocation's read of the cached secret is slow and still holds the old value
    revoking('token-old-1');
    const secret = secretHolding('token-old-1');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holdNext = false;
    const cache = new TaniumClientCache({
      credentials: async () => {
        const value = secret.cached;
        if (holdNext) await held;
        return value;
      },
      freshCredentials: secret.freshCredentials,
      logger: silent,
    });
    const api = await cache.get();
    secret.value = secretWith('token-new-2');
    holdNext = true;
    const slowRead = cache.get();
    holdNext = false;

    // Act: a refusal reads the secret again meanwhile; then the slow read ends
    await api.request(STATUS);
    release();
    const next = await slowRead;

    // Assess: the revoked token is not taken back
    expect(next.credentials.apiToken).toBe('token-new-2');
    expect((await cache.get()).credentials.apiToken).toBe('token-new-2');
  });

  it.each([
    [
      'fails',
      async () => {
        throw new ConfigError("Unable to read the Tanium credentials secret 'tanium': not allowed");
      },
      "Unable to read the Tanium credentials secret 'tanium': not allowed",
    ],
    [
      'fails with an error of its own',
      async () => {
        throw new Error('socket hang up');
      },
      'Unexpected error: socket hang up',
    ],
    [
      'does not answer within its own limit',
      () => new Promise<never>(() => undefined),
      'no answer within 20 ms',
    ],
  ] as const)(
    'reports the refusal, with a warning, when the read again %s',
    async (_case, freshCredentials, reason) => {
      // Prepare
      const sent = revoking('token-old-1');
      const logger = warningsLogger();
      const cache = new TaniumClientCache({
        credentials: async () => secretWith('token-old-1'),
        freshCredentials,
        logger,
        recheckTimeoutMs: 20,
      });

      // Act
      const error = await failure((await cache.get()).request(STATUS));

      // Assess
      expect(error).toMatchObject({ kind: 'auth', message: 'Authentication failed (HTTP 401)' });
      expect(sent).toEqual(['token-old-1']);
      expect(logger.lines).toEqual([JSON.stringify({ message: WARNED_NO_REREAD, error: reason })]);
    },
  );

  it('stops waiting for a read again at the request deadline, before its own limit', async () => {
    // Prepare: Secrets Manager does not answer; the read's own limit is far longer than the deadline
    revoking('token-old-1');
    const logger = warningsLogger();
    const cache = new TaniumClientCache({
      credentials: async () => secretWith('token-old-1'),
      freshCredentials: () => new Promise<never>(() => undefined),
      logger,
      recheckTimeoutMs: 5_000,
    });
    const api = await cache.get();

    // Act
    const error = await failure(api.request({ ...STATUS, deadline: Date.now() + 30 }));

    // Assess: the refusal, before the read gave up (that would have warned)
    expect(error).toMatchObject({ kind: 'auth' });
    expect(logger.lines).toEqual([]);
  });

  it('hands out the client itself, and a refusal as final, without a read past the cache', async () => {
    // Prepare
    const sent = revoking('token-old-1');
    const logger = warningsLogger();
    const cache = new TaniumClientCache({ credentials: async () => secretWith('token-old-1'), logger });

    // Act
    const api = await cache.get();
    const error = await failure(api.request(STATUS));

    // Assess
    expect(api).toBeInstanceOf(TaniumClient);
    expect(error).toMatchObject({ kind: 'auth' });
    expect(sent).toEqual(['token-old-1']);
    expect(logger.lines).toEqual([]);
  });

  it('keeps the token of every client a refused request moved through out of error texts', async () => {
    // Prepare: a record of the batch may still read a body an earlier client fetched, echoing its token;
    // the secret is rotated twice, a minute apart, within the life of one action's client
    const revoked = new Set(['token-old-1']);
    fakeTanium((token) => (revoked.has(token) ? refusal() : undefined));
    const secret = secretHolding('token-old-1');
    let now = 1_000_000;
    const api = await new TaniumClientCache({ ...secret, logger: silent, now: () => now }).get();
    const body = 'refused token-old-1, token-mid-2 and token-new-3';
    const texts = [api.errorText(body, 'text/plain')];

    // Act
    for (const [token, next] of [
      ['token-old-1', 'token-mid-2'],
      ['token-mid-2', 'token-new-3'],
    ] as const) {
      revoked.add(token);
      secret.value = secretWith(next);
      await api.request(STATUS);
      texts.push(api.errorText(body, 'text/plain'));
      now += CREDENTIALS_RECHECK_MS;
    }

    // Assess
    expect(api.credentials.apiToken).toBe('token-new-3');
    // Each text is free of every token known by then: a later one the container had not read yet
    expect(texts).toEqual([
      'refused [redacted], token-mid-2 and token-new-3',
      'refused [redacted], [redacted] and token-new-3',
      'refused [redacted], [redacted] and [redacted]',
    ]);
  });
});
