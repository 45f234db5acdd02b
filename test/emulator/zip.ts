import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { ZipCryptoCipher } from './zipcrypto.ts';

export interface ZipEntry {
  /** Name inside the archive; a trailing `/` makes a directory entry (stored, never encrypted). */
  name: string;
  /** Contents held in memory. */
  data?: Buffer;
  /** Contents produced on the fly (large files); always written with a data descriptor. */
  stream?: () => AsyncIterable<Buffer>;
  /** Size of `stream` in bytes, needed to predict the archive length of stored entries. */
  size?: number;
  method: 'store' | 'deflate';
  encryption: 'zipcrypto' | 'none' | 'aes';
  password?: string;
  /** A password that must fail the entry's password check (a wrong-password archive). */
  refusedBy?: string;
  dataDescriptor: boolean;
  mtime: Date;
}

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const DESCRIPTOR = 16;
const ENCRYPTION_HEADER = 12;

interface Written {
  name: Buffer;
  flags: number;
  method: number;
  versionNeeded: number;
  time: number;
  date: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
  extra: Buffer;
  directory: boolean;
}

function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getUTCFullYear());
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

function localHeader(entry: Written, descriptor: boolean): Buffer {
  const header = Buffer.alloc(LOCAL_HEADER);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(entry.versionNeeded, 4);
  header.writeUInt16LE(entry.flags, 6);
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt16LE(entry.time, 10);
  header.writeUInt16LE(entry.date, 12);
  header.writeUInt32LE(descriptor ? 0 : entry.crc, 14);
  header.writeUInt32LE(descriptor ? 0 : entry.compressedSize, 18);
  header.writeUInt32LE(descriptor ? 0 : entry.size, 22);
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(entry.extra.length, 28);
  return Buffer.concat([header, entry.name, entry.extra]);
}

function dataDescriptor(entry: Written): Buffer {
  const record = Buffer.alloc(DESCRIPTOR);
  record.writeUInt32LE(0x08074b50, 0);
  record.writeUInt32LE(entry.crc, 4);
  record.writeUInt32LE(entry.compressedSize, 8);
  record.writeUInt32LE(entry.size, 12);
  return record;
}

function centralHeader(entry: Written): Buffer {
  const header = Buffer.alloc(CENTRAL_HEADER);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(20, 4); // made by MS-DOS, so the external attributes are DOS attributes
  header.writeUInt16LE(entry.versionNeeded, 6);
  header.writeUInt16LE(entry.flags, 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(entry.time, 12);
  header.writeUInt16LE(entry.date, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(entry.compressedSize, 20);
  header.writeUInt32LE(entry.size, 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt16LE(entry.extra.length, 30);
  header.writeUInt32LE(entry.directory ? 0x10 : 0x20, 38);
  header.writeUInt32LE(entry.offset, 42);
  return Buffer.concat([header, entry.name, entry.extra]);
}

function endRecord(count: number, size: number, offset: number): Buffer {
  const record = Buffer.alloc(END_RECORD);
  record.writeUInt32LE(0x06054b50, 0);
  record.writeUInt16LE(count, 8);
  record.writeUInt16LE(count, 10);
  record.writeUInt32LE(size, 12);
  record.writeUInt32LE(offset, 16);
  return record;
}

function describe(entry: ZipEntry, offset: number): Written {
  const name = Buffer.from(entry.name, 'utf8');
  const directory = entry.name.endsWith('/');
  const { time, date } = dosDateTime(entry.mtime);
  const encrypted = !directory && entry.encryption !== 'none';
  const descriptor = !directory && (entry.dataDescriptor || entry.stream !== undefined);
  let flags = 0;
  if (encrypted) flags |= 0x1;
  if (descriptor) flags |= 0x8;
  if (/[^\x20-\x7e]/.test(entry.name)) flags |= 0x800;
  const aes = encrypted && entry.encryption === 'aes';
  const method = directory ? 0 : aes ? 99 : entry.method === 'deflate' ? 8 : 0;
  // AE-2 extra field: vendor version 2, "AE", AES-256, real method deflate.
  const extra = aes
    ? Buffer.from([0x01, 0x99, 0x07, 0x00, 0x02, 0x00, 0x41, 0x45, 0x03, 0x08, 0x00])
    : Buffer.alloc(0);
  return {
    name,
    flags,
    method,
    versionNeeded: aes ? 51 : 20,
    time,
    date,
    crc: 0,
    compressedSize: 0,
    size: 0,
    offset,
    extra,
    directory,
  };
}

async function* plainChunks(entry: ZipEntry): AsyncGenerator<Buffer> {
  if (entry.data) yield entry.data;
  else if (entry.stream) for await (const chunk of entry.stream()) yield chunk;
}

/**
 * Writes a zip archive as a sequence of chunks. In-memory entries are compressed and encrypted up front;
 * streamed entries pass through deflate and ZipCrypto chunk by chunk, their CRC and sizes going into a
 * data descriptor, so a GiB-sized archive never sits in memory.
 */
export async function* zipChunks(entries: ZipEntry[]): AsyncGenerator<Buffer> {
  const written: Written[] = [];
  let offset = 0;
  for (const entry of entries) {
    const record = describe(entry, offset);
    const descriptor = (record.flags & 0x8) !== 0;
    if (record.directory) {
      const header = localHeader(record, false);
      offset += header.length;
      written.push(record);
      yield header;
      continue;
    }
    const cipher =
      record.flags & 0x1 && entry.encryption === 'zipcrypto'
        ? new ZipCryptoCipher(entry.password ?? 'infected')
        : undefined;
    if (entry.encryption === 'aes') {
      const payload = randomBytes(16 + 2 + (entry.data?.length ?? 64) + 10);
      record.size = entry.data?.length ?? 64;
      record.compressedSize = payload.length;
      const header = localHeader(record, false);
      offset += header.length + payload.length;
      written.push(record);
      yield header;
      yield payload;
      continue;
    }
    if (entry.data && !descriptor) {
      record.crc = crc32(entry.data) >>> 0;
      record.size = entry.data.length;
      const body = record.method === 8 ? deflateRawSync(entry.data) : entry.data;
      const encrypted = cipher
        ? Buffer.concat([cipher.header(record.crc >>> 24, refusal(entry)), cipher.encrypt(body)])
        : body;
      record.compressedSize = encrypted.length;
      const header = localHeader(record, false);
      offset += header.length + encrypted.length;
      written.push(record);
      yield header;
      yield encrypted;
      continue;
    }
    const header = localHeader(record, true);
    yield header;
    offset += header.length;
    let compressed = 0;
    if (cipher) {
      const encryptionHeader = cipher.header(record.time >> 8, refusal(entry));
      compressed += encryptionHeader.length;
      yield encryptionHeader;
    }
    let crc = 0;
    let size = 0;
    const counted = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of plainChunks(entry)) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        yield chunk;
      }
    };
    const body: AsyncIterable<Buffer> =
      record.method === 8 ? Readable.from(counted()).pipe(createDeflateRaw({ level: 6 })) : counted();
    for await (const chunk of body) {
      const out = cipher ? cipher.encrypt(chunk) : chunk;
      compressed += out.length;
      yield out;
    }
    record.crc = crc >>> 0;
    record.size = size;
    record.compressedSize = compressed;
    const trailer = dataDescriptor(record);
    offset += compressed + trailer.length;
    written.push(record);
    yield trailer;
  }
  const central = Buffer.concat(written.map(centralHeader));
  yield central;
  yield endRecord(written.length, central.length, offset);
}

export async function buildZip(entries: ZipEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of zipChunks(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Exact archive length for one streamed, stored entry (so a large download can carry Content-Length);
 * undefined when it cannot be known before compressing.
 */
export function predictStoredLength(entry: ZipEntry): number | undefined {
  if (entry.method !== 'store' || entry.size === undefined || entry.encryption === 'aes') return undefined;
  const name = Buffer.byteLength(entry.name, 'utf8');
  const encryption = entry.encryption === 'zipcrypto' ? ENCRYPTION_HEADER : 0;
  return LOCAL_HEADER + name + encryption + entry.size + DESCRIPTOR + CENTRAL_HEADER + name + END_RECORD;
}

function refusal(entry: ZipEntry): { refusedBy?: string } {
  return entry.refusedBy === undefined ? {} : { refusedBy: entry.refusedBy };
}
