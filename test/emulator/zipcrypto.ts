import { randomBytes } from 'node:crypto';

/**
 * Traditional PKWARE encryption ("ZipCrypto", APPNOTE 6.1). Tanium wraps collected files in it with the
 * password `infected`; it is weak on purpose (it only keeps scanners off the payload), and small enough
 * to implement here rather than trusting an archiver to produce exactly what Tanium sends.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crcUpdate(crc: number, byte: number): number {
  return (CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
}

export class ZipCryptoCipher {
  private k0 = 0x12345678;
  private k1 = 0x23456789;
  private k2 = 0x34567890;
  private readonly password: string;

  constructor(password: string) {
    this.password = password;
    for (const byte of Buffer.from(password, 'utf8')) this.update(byte);
  }

  private update(plain: number): void {
    this.k0 = crcUpdate(this.k0, plain);
    this.k1 = (Math.imul((this.k1 + (this.k0 & 0xff)) >>> 0, 134775813) + 1) >>> 0;
    this.k2 = crcUpdate(this.k2, this.k1 >>> 24);
  }

  private keystreamByte(): number {
    const temp = (this.k2 | 2) & 0xffff;
    return (Math.imul(temp, temp ^ 1) >>> 8) & 0xff;
  }

  /** Encrypts a copy of `plain`; the cipher state carries over to the next chunk. */
  encrypt(plain: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(plain.length);
    for (let i = 0; i < plain.length; i++) {
      const byte = plain[i]!;
      out[i] = byte ^ this.keystreamByte();
      this.update(byte);
    }
    return out;
  }

  /** Decrypts a copy of `cipher` (used by the tests to check round trips). */
  decrypt(cipher: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(cipher.length);
    for (let i = 0; i < cipher.length; i++) {
      const byte = cipher[i]! ^ this.keystreamByte();
      out[i] = byte;
      this.update(byte);
    }
    return out;
  }

  /**
   * The 12-byte encryption header: 11 random bytes and a check byte, which is the CRC-32's high byte, or
   * the DOS time's high byte when the sizes and CRC follow in a data descriptor (flag bit 3).
   */
  header(checkByte: number, { refusedBy }: { refusedBy?: string } = {}): Buffer {
    let plain = randomBytes(12);
    plain[11] = checkByte & 0xff;
    // A wrong password passes the one-byte check once in 256 headers: a reader given `refusedBy` must
    // always find the password wrong, so headers that would pass are drawn again. Both ciphers are at
    // their initial state here, the header being the entry's first bytes.
    while (refusedBy !== undefined && passesCheck(plain, this.password, refusedBy)) {
      plain = randomBytes(12);
      plain[11] = checkByte & 0xff;
    }
    return this.encrypt(plain);
  }
}

/** Whether `plain`, encrypted under `password`, decrypts under `other` to the same check byte. */
function passesCheck(plain: Buffer, password: string, other: string): boolean {
  const encrypted = new ZipCryptoCipher(password).encrypt(plain);
  return new ZipCryptoCipher(other).decrypt(encrypted)[11] === plain[11];
}
