import { describe, expect, it } from 'vitest';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import { TaniumClientCache } from '../../../shared/tanium/client-cache.ts';

const silent = { debug() {}, warn() {} };

function secretWith(token: string) {
  return parseCredentials({ base_url: 'https://tanium.example.com', api_token: token }, 'test');
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
    expect(after.secrets()).toContain('token-two-456');
    expect(await cache.get()).toBe(after);
  });
});
