import * as zlib from 'node:zlib';

/** The CRC-32 (IEEE 802.3, reflected 0xEDB88320) table the ZipCrypto key schedule steps through per byte. */
export const CRC32_TABLE: Int32Array = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32Js(data: Uint8Array, previous: number): number {
  const table = CRC32_TABLE;
  let crc = ~previous;
  for (let i = 0; i < data.length; i++) crc = (crc >>> 8) ^ table[(crc ^ data[i]!) & 0xff]!;
  return ~crc >>> 0;
}

// zlib.crc32 is native (Node >= 20.15 / 22.2); the table loop is the fallback for older 20.x.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data`, continuing from `previous` (0 for a fresh checksum). */
export function crc32(data: Uint8Array, previous = 0): number {
  return nativeCrc32 ? nativeCrc32(data, previous) >>> 0 : crc32Js(data, previous);
}
