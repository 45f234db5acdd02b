import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import { TaniumClientCache } from '../../../shared/tanium/client-cache.ts';

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
