import { createHash } from 'node:crypto';

/** Hex digest of `data`, computed independently of the code under test. */
export function hexDigest(algorithm: 'sha1' | 'sha256' | 'md5', data: string | Uint8Array): string {
  return createHash(algorithm).update(data).digest('hex');
}

/** What the vault's hashing must report for `data`. */
export function digestsOf(data: Uint8Array): { sha1: string; sha256: string; md5: string; size: number } {
  return {
    sha1: hexDigest('sha1', data),
    sha256: hexDigest('sha256', data),
    md5: hexDigest('md5', data),
    size: data.length,
  };
}
