import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import * as zlib from 'node:zlib';
import { shown } from '../../config/message-text.ts';
import { ArchiveError, archiveContentTooLarge } from '../errors.ts';
import { crc32 } from './crc32.ts';
import {
  DESCRIPTOR_SIG_BYTES,
  EOCD_LENGTH,
  EOCD_SIG_BYTES,
  FLAG_DESCRIPTOR,
  FLAG_ENCRYPTED,
  type LocalHeader,
  METHOD_DEFLATE,
  SIG_DESCRIPTOR,
  U32,
} from './format.ts';
import { baseName as pathBaseName } from './names.ts';
import { type ByteSource, truncatedArchive } from './source.ts';
import { ZIPCRYPTO_HEADER_LENGTH, ZipCryptoDecoder } from './zipcrypto.ts';

/** Decrypted bytes per zlib write, and zlib's output buffer: one thread-pool pass per batch, usually. */
const INFLATE_BATCH_BYTES = 256 * 1024;
/**
 * The first batch of an entry whose size is only in its data descriptor. Its end is known only once zlib
 * has inflated it, and everything read by then past it is decrypted for nothing; batches double from
 * here, so an archive of many small such entries is not decrypted many times over.
 */
const FIRST_DESCRIPTOR_BATCH_BYTES = 4 * 1024;
/** zlib's output buffer for entries declared smaller than a batch (zlib's default is 16 KiB). */
const MIN_INFLATE_CHUNK_BYTES = 16 * 1024;
/** Batches handed to zlib and not yet done, at most, besides the one being decrypted. */
const INFLATE_BATCHES_AHEAD = 2;
/** Decrypted bytes between two turns of the event loop (about half a millisecond of decryption). */
const YIELD_EVERY_BYTES = 64 * 1024;
/** The longest data descriptor: a signature, a CRC-32 and two 64-bit sizes. */
const DESCRIPTOR_PEEK_BYTES = 24;

/** Decrypted bytes on their way to zlib, and the raw bytes they came from (given back if past the end). */
interface InflateBatch {
  buffer: Buffer;
  /** Bytes this batch takes before it goes to zlib (at most the buffer's length). */
  capacity: number;
  length: number;
  raws: Buffer[];
  /** Bytes written to zlib up to and including this batch. */
  fedThrough: number;
  /** Once zlib is done with the batch: the bytes it had taken by then. */
  taken: Promise<number> | undefined;
}

/** The last `length` bytes of `chunks` taken together, as one buffer. */
function tailOf(chunks: Buffer[], length: number): Buffer {
  const parts: Buffer[] = [];
  let needed = length;
  for (let i = chunks.length - 1; i >= 0 && needed > 0; i--) {
    const chunk = chunks[i]!;
    const part = chunk.length <= needed ? chunk : chunk.subarray(chunk.length - needed);
    parts.unshift(part);
    needed -= part.length;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}

const EMPTY = Buffer.alloc(0);

/** One file of the archive. Read `stream` to the end (or `resume()` it) before asking for the next entry. */
export interface ZipEntry {
  /** The name as stored (may contain directories, with `/` or `\`). */
  name: string;
  /** The last segment of `name`, split on `/` and `\`; may be empty for odd names. */
  baseName: string;
  flags: number;
  /** 0 = stored, 8 = deflated. */
  method: number;
  encrypted: boolean;
  /** Whether sizes and CRC follow the data in a data descriptor (general purpose flag bit 3). */
  hasDataDescriptor: boolean;
  /** Extracted size from the local header; undefined when it is only in the data descriptor. */
  declaredSize: number | undefined;
  /**
   * The decrypted, inflated bytes. The stream ends only after the CRC-32 and sizes were verified, and
   * errors (ArchiveError, TooLargeError, or the upstream error) instead of ending when they do not match.
   */
  stream: Readable;
}

/** The limits of ZipReaderOptions that bound one entry (see there). */
export interface EntryLimits {
  maxEntryBytes?: number;
  maxTotalBytes?: number;
  highWaterMark?: number;
}

/** Reads one entry's data from the source into its output stream, verifying it on the way. */
export class EntryPump {
  readonly stream: Readable;
  done: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private finished = false;
  /** Rejecters of the waits in progress; a Set (not Promise.race on one long-lived promise) so nothing leaks. */
  private readonly waiters = new Set<(error: Error) => void>();
  private readWaiter: (() => void) | undefined;
  private inflater: zlib.InflateRaw | undefined;
  private decoder: ZipCryptoDecoder | undefined;
  private crc = 0;
  private size = 0;
  private readonly displayName: string;

  constructor(
    private readonly header: LocalHeader,
    private readonly source: ByteSource,
    private readonly password: Uint8Array | undefined,
    private readonly options: EntryLimits,
    private readonly tooLarge: (maxBytes: number) => Error,
    /** Bytes the archive's earlier entries extracted, counted against `maxTotalBytes`. */
    private readonly extractedBefore: number,
  ) {
    // Names come from the archive: up to 64 KiB, which a failed result would otherwise carry whole.
    this.displayName = shown(header.name);
    this.stream = new Readable({
      highWaterMark: options.highWaterMark ?? 1024 * 1024,
      read: () => {
        const waiter = this.readWaiter;
        this.readWaiter = undefined;
        waiter?.();
        if (this.inflater?.isPaused()) this.inflater.resume();
      },
      destroy: (error, callback) => {
        if (!this.finished) this.abort(error ?? new Error('The entry stream was destroyed before its end'));
        callback(error);
      },
    });
    // Every failure also reaches the iterator, so an entry nobody listens to must not crash the process.
    this.stream.on('error', () => undefined);
  }

  /** Bytes extracted so far (all of the entry's once `done` resolved). */
  get extracted(): number {
    return this.size;
  }

  entry(): ZipEntry {
    const { header } = this;
    return {
      name: header.name,
      baseName: pathBaseName(header.name),
      flags: header.flags,
      method: header.method,
      encrypted: (header.flags & FLAG_ENCRYPTED) !== 0,
      hasDataDescriptor: (header.flags & FLAG_DESCRIPTOR) !== 0,
      declaredSize: header.flags & FLAG_DESCRIPTOR ? undefined : header.size,
      stream: this.stream,
    };
  }

  start(): void {
    this.done = this.run().then(
      () => {
        this.finished = true;
        this.stream.push(null);
      },
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        this.abort(failure);
        throw this.failure ?? failure;
      },
    );
    this.done.catch(() => undefined);
  }

  /** Stops the entry: the stream errors with `error` and the pump's pending wait rejects. */
  abort(error: Error): void {
    if (this.failure !== undefined || this.finished) return;
    this.failure = error;
    for (const reject of this.waiters) reject(error);
    this.waiters.clear();
    this.inflater?.destroy();
    this.stream.destroy(error);
  }

  /** Awaits `promise` unless the entry is aborted first. */
  private wait<T>(promise: Promise<T>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiters.add(reject);
      promise.then(
        (value) => {
          this.waiters.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.waiters.delete(reject);
          reject(error);
        },
      );
    });
  }

  private async run(): Promise<void> {
    const { header } = this;
    const hasDescriptor = (header.flags & FLAG_DESCRIPTOR) !== 0;
    const max = this.options.maxEntryBytes;
    // A size the header declares over the cap fails before any byte is read, as it would after.
    if (!hasDescriptor && max !== undefined && header.size > max) throw this.tooLarge(max);
    let consumed = 0;
    if (header.flags & FLAG_ENCRYPTED) {
      const encryptionHeader = await this.wait(this.source.readExact(ZIPCRYPTO_HEADER_LENGTH));
      this.decoder = new ZipCryptoDecoder(this.password!);
      const plain = Buffer.allocUnsafe(ZIPCRYPTO_HEADER_LENGTH);
      this.decoder.decrypt(encryptionHeader, plain);
      const check = plain[ZIPCRYPTO_HEADER_LENGTH - 1]!;
      const timeCheck = (header.modTime >>> 8) & 0xff;
      const crcCheck = header.crc >>> 24;
      const expected = hasDescriptor ? timeCheck : crcCheck;
      // Some writers use the CRC byte even with a data descriptor; accept either there.
      if (check !== expected && !(hasDescriptor && header.crc !== 0 && check === crcCheck)) {
        throw new ArchiveError(`Wrong password for entry ${this.displayName}`);
      }
      consumed = ZIPCRYPTO_HEADER_LENGTH;
    }
    if (header.method === METHOD_DEFLATE) {
      consumed = await this.inflate(consumed, hasDescriptor);
    } else if (!hasDescriptor) {
      consumed = await this.copyStored(consumed);
    } else {
      // A stored entry of unknown size: its end is the data descriptor that matches what came before it.
      await this.scanStoredForDescriptor(consumed);
      return;
    }
    if (hasDescriptor) await this.readDescriptor(consumed);
    else this.verify(header.crc, header.size);
  }

  private checkError(kind: 'CRC-32' | 'size'): ArchiveError {
    const hint = this.decoder ? ' (wrong password or corrupt data)' : '';
    return new ArchiveError(`Corrupt archive: ${kind} mismatch for entry ${this.displayName}${hint}`);
  }

  private verify(expectedCrc: number, expectedSize: number): void {
    if (this.size !== expectedSize) throw this.checkError('size');
    if (this.crc !== expectedCrc >>> 0) throw this.checkError('CRC-32');
  }

  /** Decrypts a chunk into a new buffer: the raw bytes may be shared (tee) or given back to the source. */
  private decrypt(raw: Buffer): Buffer {
    if (!this.decoder) return raw;
    const plain = Buffer.allocUnsafe(raw.length);
    this.decoder.decrypt(raw, plain);
    return plain;
  }

  /** Counts, checks and checksums extracted bytes; false when the entry went over its limit. */
  private account(plain: Buffer): boolean {
    this.size += plain.length;
    // Past the size its header declares, an entry is corrupt or a bomb: stop now, not after inflating
    // (and hashing and spooling) up to the cap only to fail on the size at its end.
    if (!(this.header.flags & FLAG_DESCRIPTOR) && this.size > this.header.size) {
      this.abort(this.checkError('size'));
      return false;
    }
    const max = this.options.maxEntryBytes;
    if (max !== undefined && this.size > max) {
      this.abort(this.tooLarge(max));
      return false;
    }
    const total = this.options.maxTotalBytes;
    if (total !== undefined && this.extractedBefore + this.size > total) {
      this.abort(archiveContentTooLarge(total));
      return false;
    }
    this.crc = crc32(plain, this.crc);
    return true;
  }

  private async emit(plain: Buffer): Promise<void> {
    if (plain.length === 0) return;
    if (!this.account(plain)) throw this.failure;
    if (!this.stream.push(plain)) {
      await this.wait(
        new Promise<void>((resolve) => {
          this.readWaiter = resolve;
        }),
      );
    }
  }

  private async copyStored(consumedBefore: number): Promise<number> {
    let remaining = this.header.compressedSize - consumedBefore;
    if (remaining < 0) throw new ArchiveError(`Corrupt archive: bad sizes for entry ${this.displayName}`);
    while (remaining > 0) {
      const raw = await this.wait(this.source.next(remaining));
      if (raw === null) throw truncatedArchive();
      remaining -= raw.length;
      await this.emit(this.decrypt(raw));
    }
    return this.header.compressedSize;
  }

  private async inflate(consumedBefore: number, hasDescriptor: boolean): Promise<number> {
    // A small entry (size known from its header) gets buffers to its size, not a batch's.
    const declared = hasDescriptor ? INFLATE_BATCH_BYTES : this.header.size;
    const inflater = zlib.createInflateRaw({
      chunkSize: Math.min(INFLATE_BATCH_BYTES, Math.max(MIN_INFLATE_CHUNK_BYTES, declared)),
    });
    this.inflater = inflater;
    const ended = new Promise<void>((resolve) => inflater.once('end', resolve));
    inflater.once('error', (error: Error) => {
      const hint = this.decoder ? ' (wrong password or corrupt data)' : '';
      this.abort(new ArchiveError(`Corrupt archive: ${error.message} in entry ${this.displayName}${hint}`));
    });
    inflater.on('data', (plain: Buffer) => {
      if (this.failure !== undefined) return;
      if (!this.account(plain)) return;
      if (!this.stream.push(plain)) inflater.pause();
    });

    let remaining = hasDescriptor ? Number.POSITIVE_INFINITY : this.header.compressedSize - consumedBefore;
    if (remaining < 0) throw new ArchiveError(`Corrupt archive: bad sizes for entry ${this.displayName}`);
    // zlib inflates on the thread pool, but each batch it finishes is handed the next one from this
    // thread. Decrypted bytes therefore go to zlib in large batches, a few queued ahead, so this thread
    // (decryption is the bottleneck) rarely waits for zlib and zlib rarely waits for it.
    const inFlight: InflateBatch[] = [];
    const spare: Buffer[] = [];
    const emptyBatch = (): InflateBatch => ({
      buffer: EMPTY,
      capacity: 0,
      length: 0,
      raws: [],
      fedThrough: 0,
      taken: undefined,
    });
    let batch = emptyBatch();
    let batchBytes = hasDescriptor ? FIRST_DESCRIPTOR_BATCH_BYTES : INFLATE_BATCH_BYTES;
    let fed = 0;
    let streamEnded = false;
    let sinceYield = 0;

    /** Settles the oldest batch; true when the deflate stream ended inside it. */
    const settleOldest = async (): Promise<boolean> => {
      const oldest = inFlight.shift()!;
      const taken = await this.wait(oldest.taken!);
      spare.push(oldest.buffer);
      // zlib stops taking input at the end of the deflate stream; what it left belongs to what follows.
      const leftover = oldest.fedThrough - taken;
      if (leftover === 0) {
        batchBytes = Math.min(INFLATE_BATCH_BYTES, batchBytes * 2);
        return false;
      }
      const later = inFlight.splice(0);
      // Batches queued after the end are not inflated, but zlib still calls back for each of them.
      await this.wait(Promise.all(later.map((queued) => queued.taken)));
      if (hasDescriptor) {
        // Give back what follows the stream; the source reads what was given back last first.
        for (const raw of [batch, ...later.reverse()].flatMap((pending) => pending.raws.reverse())) {
          this.source.unread(raw);
        }
        this.source.unread(tailOf(oldest.raws, leftover));
      }
      return true;
    };
    /** Hands the batch being filled to zlib, once there is room in the queue. */
    const submit = async (): Promise<boolean> => {
      while (inFlight.length >= INFLATE_BATCHES_AHEAD) {
        if (await settleOldest()) return true;
      }
      fed += batch.length;
      batch.fedThrough = fed;
      const input = batch.buffer.subarray(0, batch.length);
      batch.taken = new Promise<number>((resolve, reject) => {
        // Read in the callback: zlib may be into the next batch by the time the caller looks.
        inflater.write(input, (error) => (error ? reject(error) : resolve(inflater.bytesWritten)));
      });
      // Awaited by settleOldest(); when the loop leaves early (upstream error, abort) nobody will, and the
      // original failure is what gets reported.
      batch.taken.catch(() => undefined);
      inFlight.push(batch);
      batch = emptyBatch();
      return false;
    };

    while (remaining > 0 && !streamEnded) {
      if (batch.length === 0) {
        // A small entry gets a buffer to its size; a reused one is taken only when it is large enough.
        batch.capacity = Math.min(batchBytes, remaining);
        const reused = spare.pop();
        batch.buffer =
          reused && reused.length >= batch.capacity ? reused : Buffer.allocUnsafe(batch.capacity);
      }
      const raw = await this.wait(this.source.next(Math.min(remaining, batch.capacity - batch.length)));
      if (raw === null) break;
      if (!hasDescriptor) remaining -= raw.length;
      if (this.decoder) this.decoder.decrypt(raw, batch.buffer, 0, raw.length, batch.length);
      else raw.copy(batch.buffer, batch.length);
      // Only bytes past the end of a descriptor entry are ever given back.
      if (hasDescriptor) batch.raws.push(raw);
      batch.length += raw.length;
      if (batch.length === batch.capacity) streamEnded = await submit();
      sinceYield += raw.length;
      if (sinceYield >= YIELD_EVERY_BYTES) {
        // Let callbacks run: zlib gets its next batch (or its next pass over this one) from them, and the
        // body may have bytes ready, so this loop would otherwise go on through microtasks alone.
        sinceYield = 0;
        await setImmediate();
      }
    }
    if (!streamEnded && batch.length > 0) streamEnded = await submit();
    while (!streamEnded && inFlight.length > 0) streamEnded = await settleOldest();
    if (!streamEnded && remaining > 0) throw truncatedArchive();
    if (!hasDescriptor) {
      // Bytes after the end of the deflate stream but inside the declared size are skipped, as unzip does.
      while (remaining > 0) {
        const raw = await this.wait(this.source.next(remaining));
        if (raw === null) throw truncatedArchive();
        remaining -= raw.length;
      }
    }
    inflater.end();
    await this.wait(ended);
    return hasDescriptor ? consumedBefore + inflater.bytesWritten : this.header.compressedSize;
  }

  /** Reads the data descriptor after a bit-3 entry, in its 32-bit or Zip64 form, with or without signature. */
  private async readDescriptor(consumed: number): Promise<void> {
    const bytes = await this.wait(this.source.peek(DESCRIPTOR_PEEK_BYTES));
    const hasSignature = bytes.length >= 4 && bytes.readUInt32LE(0) === SIG_DESCRIPTOR;
    const widths = this.header.zip64 ? [8, 4] : [4, 8];
    const offsets = hasSignature ? [4, 0] : [0];
    for (const offset of offsets) {
      for (const width of widths) {
        const length = offset + 4 + 2 * width;
        if (bytes.length < length) continue;
        const crc = bytes.readUInt32LE(offset);
        const compressed =
          width === 8 ? Number(bytes.readBigUInt64LE(offset + 4)) : bytes.readUInt32LE(offset + 4);
        const size =
          width === 8 ? Number(bytes.readBigUInt64LE(offset + 12)) : bytes.readUInt32LE(offset + 8);
        const modulus = width === 8 ? Number.MAX_SAFE_INTEGER : U32;
        if (compressed !== consumed % modulus || size !== this.size % modulus) continue;
        await this.wait(this.source.readExact(length));
        if (this.crc !== crc) throw this.checkError('CRC-32');
        return;
      }
    }
    // A whole archive has at least its end record (22 bytes) after any descriptor, so the 24 bytes asked
    // for are there unless the archive ends early: a form cut short is a truncated archive, not a corrupt one.
    if (bytes.length < DESCRIPTOR_PEEK_BYTES) throw truncatedArchive();
    throw new ArchiveError(
      `Corrupt archive: the data descriptor of entry ${this.displayName} does not match its data${
        this.decoder ? ' (wrong password or corrupt data)' : ''
      }`,
    );
  }

  /**
   * Stored data of unknown length (Info-ZIP writes this for `-0` from stdin): process bytes in order and
   * stop at the first descriptor signature whose sizes and CRC match everything before it. The last 23
   * bytes are held back because a descriptor may start there.
   */
  private async scanStoredForDescriptor(consumedBefore: number): Promise<void> {
    const holdBack = 23;
    let consumed = consumedBefore;
    let carry: Buffer = Buffer.alloc(0);
    let sizesMatched = false;
    for (;;) {
      const chunk = await this.wait(this.source.next());
      if (chunk === null) {
        if (sizesMatched) throw this.checkError('CRC-32');
        // The archive ended whole, with its end record, and no descriptor was found on the way: it has
        // none with a signature, and without one the end of stored data cannot be told while streaming.
        const end = carry.lastIndexOf(EOCD_SIG_BYTES);
        if (end !== -1 && carry.length - end >= EOCD_LENGTH) {
          throw new ArchiveError(
            `Entry ${this.displayName} is stored without its size and without a data descriptor signature, which is not supported`,
          );
        }
        throw truncatedArchive();
      }
      const buffer = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let processed = 0;
      let keepFrom = Math.max(0, buffer.length - holdBack);
      let searchFrom = 0;
      for (;;) {
        const at = buffer.indexOf(DESCRIPTOR_SIG_BYTES, searchFrom);
        if (at === -1 || buffer.length - at < 16) break;
        await this.emit(this.decrypt(buffer.subarray(processed, at)));
        consumed += at - processed;
        processed = at;
        const crc = buffer.readUInt32LE(at + 4);
        const matches32 =
          buffer.readUInt32LE(at + 8) === consumed % U32 && buffer.readUInt32LE(at + 12) === this.size % U32;
        const wideKnown = buffer.length - at >= 24;
        const matches64 =
          wideKnown &&
          Number(buffer.readBigUInt64LE(at + 8)) === consumed &&
          Number(buffer.readBigUInt64LE(at + 16)) === this.size;
        // A Zip64 entry's descriptor is read in its wide form first, as readDescriptor does: for an empty
        // file the narrow reading of a wide descriptor matches too (all zeros) and would end 8 bytes early.
        const wideFirst = this.header.zip64;
        if ((wideFirst || !matches32) && !wideKnown) {
          // The wide form may still match once more bytes arrive.
          keepFrom = at;
          break;
        }
        const length = wideFirst && matches64 ? 24 : matches32 ? 16 : matches64 ? 24 : 0;
        if (length > 0 && this.crc === crc) {
          this.source.unread(buffer.subarray(at + length));
          return;
        }
        if (length > 0) sizesMatched = true;
        searchFrom = at + 1;
      }
      keepFrom = Math.max(keepFrom, processed);
      await this.emit(this.decrypt(buffer.subarray(processed, keepFrom)));
      consumed += keepFrom - processed;
      carry = Buffer.from(buffer.subarray(keepFrom));
    }
  }
}
