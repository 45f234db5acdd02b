import { shown } from '../../config/message-text.ts';
import { ArchiveError, getFileTooLarge } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { EntryPump, type ZipEntry } from './entry-pump.ts';
import {
  EOCD_LENGTH,
  FLAG_DESCRIPTOR,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  type LocalHeader,
  METHOD_AES,
  METHOD_DEFLATE,
  METHOD_STORE,
  SIG_ARCHIVE_EXTRA_DATA,
  SIG_CENTRAL,
  SIG_DESCRIPTOR,
  SIG_DIGITAL_SIGNATURE,
  SIG_EOCD,
  SIG_LOCAL,
  SIG_SPANNED_SINGLE,
  SIG_ZIP64_EOCD,
  SIG_ZIP64_LOCATOR,
} from './format.ts';
import { decodeEntryName } from './names.ts';
import { ByteSource, truncatedArchive } from './source.ts';

/** Bytes after the end-of-central-directory record that are ignored (more is a truncated archive). */
const MAX_TRAILING_BYTES = 64 * 1024;
/** A 32-bit size in a local header that stands for "see the Zip64 extra field". */
const ZIP64_MARK = 0xffffffff;

export interface ZipReaderOptions {
  /** Password for ZipCrypto entries (the Tanium convention is `infected`). Unencrypted entries need none. */
  password?: string | Uint8Array;
  /** Maximum number of archive bytes read from the input; checked while reading. */
  maxArchiveBytes?: number;
  /** Maximum number of extracted bytes per entry; checked while inflating. */
  maxEntryBytes?: number;
  /**
   * Maximum number of extracted bytes of all entries together (directories' data included); checked
   * while inflating, failing with the `archiveContentTooLarge` TooLargeError.
   */
  maxTotalBytes?: number;
  /** The error thrown when a limit is exceeded (default: the GET_FILE_MAX_BYTES TooLargeError). */
  tooLarge?: (maxBytes: number) => Error;
  /** Buffer of each entry stream, in bytes (default 1 MiB). */
  highWaterMark?: number;
  /** Entries (files and directories) the archive may hold; more is an ArchiveError. Default: no limit. */
  maxEntries?: number;
}

/**
 * A streaming ZIP reader: it reads local headers in order (the central directory is not needed), so the
 * archive never has to be held whole or seeked. Traditional PKWARE encryption is decrypted on the way;
 * AES / strong encryption is rejected. Directory entries are skipped.
 *
 * Iterate it once: `for await (const entry of new ZipReader(body, options)) { ... }`.
 */
export class ZipReader implements AsyncIterable<ZipEntry> {
  private readonly source: ByteSource;
  private readonly password: Uint8Array | undefined;
  private readonly tooLarge: (maxBytes: number) => Error;
  private started = false;
  private entryCount = 0;
  /** Extracted bytes of the entries already read to their end. */
  private extractedBefore = 0;

  constructor(
    input: AsyncIterable<Uint8Array | string>,
    private readonly options: ZipReaderOptions = {},
  ) {
    this.tooLarge = options.tooLarge ?? getFileTooLarge;
    this.source = new ByteSource(input, options.maxArchiveBytes, this.tooLarge);
    const { password } = options;
    this.password = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  }

  /** Archive bytes read so far (the whole archive once iteration has finished). */
  get bytesRead(): number {
    return this.source.bytesRead;
  }

  /** File entries seen so far (directories not counted). */
  get entries(): number {
    return this.entryCount;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ZipEntry, void, undefined> {
    if (this.started) throw new Error('A ZipReader can be iterated only once');
    this.started = true;
    let current: EntryPump | undefined;
    try {
      for (let index = 0; ; index++) {
        const header = await this.readLocalHeader(index);
        if (header === null) return;
        const { maxEntries } = this.options;
        if (maxEntries !== undefined && index >= maxEntries) {
          throw new ArchiveError(
            `The archive holds more than ${maxEntries} entries, more than get file extracts`,
          );
        }
        current = new EntryPump(
          header,
          this.source,
          this.password,
          this.options,
          this.tooLarge,
          this.extractedBefore,
        );
        current.start();
        const isDirectory = /[/\\]$/.test(header.name);
        if (isDirectory) {
          current.stream.resume();
        } else {
          this.entryCount++;
          yield current.entry();
          // A consumer that never read the stream still gets the next entry: drain it unread.
          if (current.stream.readableFlowing === null) current.stream.resume();
        }
        await current.done;
        // A directory holds no bytes; ones under a directory's name would be evidence dropped unseen.
        if (isDirectory && current.extracted > 0) {
          throw new ArchiveError(
            `Entry ${shown(header.name)} is named as a directory but holds ${current.extracted} bytes of data, which are not stored`,
          );
        }
        this.extractedBefore += current.extracted;
        current = undefined;
      }
    } finally {
      if (current !== undefined)
        current.abort(new Error('The archive reader was closed before the entry ended'));
      await this.source.close().catch(() => undefined);
    }
  }

  /** The next local file header, or null when the central directory (the end of the entries) is reached. */
  private async readLocalHeader(index: number): Promise<LocalHeader | null> {
    const source = this.source;
    let signatureBytes = await source.peek(4);
    if (index === 0 && signatureBytes.length === 4) {
      const first = signatureBytes.readUInt32LE(0);
      // Single-segment archives written for spanning may start with a marker; it carries no data.
      if (first === SIG_SPANNED_SINGLE || first === SIG_DESCRIPTOR) {
        await source.readExact(4);
        signatureBytes = await source.peek(4);
      }
    }
    if (signatureBytes.length < 4) {
      if (index === 0 && signatureBytes.length === 0) throw new ArchiveError('The archive is empty');
      throw index === 0 ? new ArchiveError('The download is not a zip archive') : truncatedArchive();
    }
    const signature = signatureBytes.readUInt32LE(0);
    if (signature === SIG_ARCHIVE_EXTRA_DATA) {
      throw new ArchiveError(
        'The archive uses strong encryption (encrypted central directory), which is not supported',
      );
    }
    if (
      signature === SIG_CENTRAL ||
      signature === SIG_EOCD ||
      signature === SIG_ZIP64_EOCD ||
      signature === SIG_ZIP64_LOCATOR ||
      signature === SIG_DIGITAL_SIGNATURE
    ) {
      await this.drainTrailer();
      return null;
    }
    if (signature !== SIG_LOCAL) {
      throw new ArchiveError(
        index === 0
          ? 'The download is not a zip archive'
          : `Corrupt archive: unexpected signature 0x${signature.toString(16).padStart(8, '0')} after entry ${index}`,
      );
    }
    const fixed = await source.readExact(30);
    const flags = fixed.readUInt16LE(6);
    const method = fixed.readUInt16LE(8);
    const modTime = fixed.readUInt16LE(10);
    const crc = fixed.readUInt32LE(14);
    let compressedSize = fixed.readUInt32LE(18);
    let size = fixed.readUInt32LE(22);
    const nameLength = fixed.readUInt16LE(26);
    const extraLength = fixed.readUInt16LE(28);
    const rawName = await source.readExact(nameLength);
    const extra = await source.readExact(extraLength);

    let zip64 = false;
    // 0xffffffff in the header says "the size is in the Zip64 field" (APPNOTE 4.4.8).
    let sizeInZip64 = size === ZIP64_MARK;
    let compressedSizeInZip64 = compressedSize === ZIP64_MARK;
    let unicodePath: string | undefined;
    for (let offset = 0; offset + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(offset);
      const length = extra.readUInt16LE(offset + 2);
      const body = extra.subarray(offset + 4, offset + 4 + length);
      if (id === 0x0001) {
        zip64 = true;
        let at = 0;
        if (sizeInZip64 && at + 8 <= body.length) {
          size = Number(body.readBigUInt64LE(at));
          sizeInZip64 = false;
          at += 8;
        }
        if (compressedSizeInZip64 && at + 8 <= body.length) {
          compressedSize = Number(body.readBigUInt64LE(at));
          compressedSizeInZip64 = false;
        }
      } else if (
        id === 0x7075 &&
        body.length >= 5 &&
        body[0] === 1 &&
        body.readUInt32LE(1) === crc32(rawName)
      ) {
        // The field holds the CRC of the name it was written beside: another one means a tool renamed
        // the entry and kept the field, which is stale, so the header's own name is the one (APPNOTE 4.6.9).
        unicodePath = body.subarray(5).toString('utf8');
      }
      offset += 4 + length;
    }
    const name = decodeEntryName(rawName, flags, unicodePath);
    // Taken as they stand, the marks would be sizes of 4 GiB: the entry would be refused as too large, or
    // read on to the archive's end and called truncated. An entry with a data descriptor has its sizes
    // there, whatever its header says.
    if ((sizeInZip64 || compressedSizeInZip64) && !(flags & FLAG_DESCRIPTOR)) {
      throw new ArchiveError(
        `Corrupt archive: entry ${shown(name)} puts its ${sizeInZip64 ? 'size' : 'compressed size'} in a Zip64 extra field it does not have or that is too short`,
      );
    }
    if (method === METHOD_AES || flags & FLAG_STRONG_ENCRYPTION) {
      throw new ArchiveError(
        `Entry ${shown(name)} uses AES or strong encryption, which is not supported (only traditional PKWARE encryption is)`,
      );
    }
    if (method !== METHOD_STORE && method !== METHOD_DEFLATE) {
      throw new ArchiveError(
        `Entry ${shown(name)} uses compression method ${method}, which is not supported (only stored and deflated)`,
      );
    }
    if (flags & FLAG_ENCRYPTED && this.password === undefined) {
      throw new ArchiveError(`Entry ${shown(name)} is encrypted and no password was given`);
    }
    return { name, flags, method, modTime, crc, compressedSize, size, zip64 };
  }

  /**
   * Reads the central directory to the end, so the whole body is consumed (and counted against the
   * limit), and checks that a complete end-of-central-directory record is there: otherwise the download
   * was cut. Bytes after the record (padding some writers and transfers add; every entry is read and
   * verified by then) are ignored, up to MAX_TRAILING_BYTES. Only the last chunks that can hold the
   * record, its longest comment and that padding are kept, and joined once at the end: joining on every
   * chunk would copy the kept bytes again for each small chunk a slow server sends.
   */
  private async drainTrailer(): Promise<void> {
    const keep = 0xffff + EOCD_LENGTH + MAX_TRAILING_BYTES;
    const chunks: Buffer[] = [];
    let kept = 0;
    for (;;) {
      const chunk = await this.source.next();
      if (chunk === null) break;
      chunks.push(chunk);
      kept += chunk.length;
      while (kept - chunks[0]!.length >= keep) kept -= chunks.shift()!.length;
    }
    const tail = Buffer.concat(chunks, kept);
    for (let at = tail.length - EOCD_LENGTH; at >= 0 && at >= tail.length - keep; at--) {
      if (tail.readUInt32LE(at) === SIG_EOCD && at + EOCD_LENGTH + tail.readUInt16LE(at + 20) <= tail.length)
        return;
    }
    throw truncatedArchive();
  }
}
