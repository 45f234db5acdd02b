import { afterEach, describe, expect, it, vi } from 'vitest';

type Crc32 = (data: Uint8Array, previous?: number) => number;

/** The module as it loads on a Node 20.x older than 20.15, whose zlib has no crc32. */
async function loadWithoutNativeCrc32(): Promise<Crc32> {
  vi.resetModules();
  vi.doMock('node:zlib', async (importOriginal) => ({
    ...(await importOriginal<typeof import('node:zlib')>()),
    crc32: undefined,
  }));
  const module = await import('../../../shared/vault/zip/crc32.ts');
  return module.crc32;
}

describe('Vault: ZIP CRC-32 fallback without zlib.crc32', () => {
  afterEach(() => {
    vi.doUnmock('node:zlib');
    vi.resetModules();
  });

  it.each([
    ['', 0],
    ['a', 0xe8b7be43],
    ['123456789', 0xcbf43926],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ])('computes the standard CRC-32 of %j', async (text, expected) => {
    // Prepare
    const crc32 = await loadWithoutNativeCrc32();

    // Act
    const value = crc32(Buffer.from(text, 'latin1'));

    // Assess
    expect(value).toBe(expected);
  });

  it('continues a checksum from a previous value, as the entry stream does chunk by chunk', async () => {
    // Prepare
    const crc32 = await loadWithoutNativeCrc32();
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff));

    // Act
    const whole = crc32(data);
    const resumed = crc32(data.subarray(400), crc32(data.subarray(0, 400)));

    // Assess
    expect(resumed).toBe(whole);
    expect(whole).toBeGreaterThan(0x7fffffff);
  });
});
