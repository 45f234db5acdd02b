import { CRC32_TABLE } from './crc32.ts';

/** Length of the encryption header that precedes the data of every ZipCrypto entry. */
export const ZIPCRYPTO_HEADER_LENGTH = 12;

/**
 * Traditional PKWARE decryption (APPNOTE 6.1). The three keys live in a typed array and the loop only
 * does integer arithmetic and table lookups, so decrypting allocates nothing per byte.
 */
export class ZipCryptoDecoder {
  private readonly keys = new Int32Array(3);

  constructor(password: Uint8Array) {
    this.keys[0] = 0x12345678;
    this.keys[1] = 0x23456789;
    this.keys[2] = 0x34567890;
    for (let i = 0; i < password.length; i++) this.updateKeys(password[i]!);
  }

  private updateKeys(byte: number): void {
    const table = CRC32_TABLE;
    const keys = this.keys;
    const k0 = (keys[0]! >>> 8) ^ table[(keys[0]! ^ byte) & 0xff]!;
    const k1 = (Math.imul(keys[1]! + (k0 & 0xff), 134775813) + 1) | 0;
    keys[0] = k0;
    keys[1] = k1;
    keys[2] = (keys[2]! >>> 8) ^ table[(keys[2]! ^ (k1 >>> 24)) & 0xff]!;
  }

  /**
   * Decrypts `input[start, end)` into `output` at `outOffset` (the two may be the same buffer at the same
   * offset for in-place decryption).
   */
  decrypt(input: Uint8Array, output: Uint8Array, start = 0, end = input.length, outOffset = start): void {
    const table = CRC32_TABLE;
    let k0 = this.keys[0]!;
    let k1 = this.keys[1]!;
    let k2 = this.keys[2]!;
    let o = outOffset;
    for (let i = start; i < end; i++) {
      const t = (k2 | 2) & 0xffff;
      const plain = (input[i]! ^ (Math.imul(t, t ^ 1) >>> 8)) & 0xff;
      output[o++] = plain;
      k0 = (k0 >>> 8) ^ table[(k0 ^ plain) & 0xff]!;
      k1 = (Math.imul(k1 + (k0 & 0xff), 134775813) + 1) | 0;
      k2 = (k2 >>> 8) ^ table[(k2 ^ (k1 >>> 24)) & 0xff]!;
    }
    this.keys[0] = k0;
    this.keys[1] = k1;
    this.keys[2] = k2;
  }
}
