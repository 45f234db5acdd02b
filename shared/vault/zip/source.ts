import { ArchiveError } from '../errors.ts';

/** Turns an upstream chunk into a Buffer view without copying. */
function asBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'latin1');
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export const truncatedArchive = (): ArchiveError =>
  new ArchiveError('The archive is truncated (the data ended before the end of the archive)');

/**
 * A pull-based byte reader over the archive body. It asks upstream for the next chunk only when the
 * parser needs bytes, so backpressure reaches the HTTP body. Errors of the upstream iterator are
 * rethrown unchanged (a reset mid-download stays retryable); a clean early end is a truncated archive.
 */
export class ByteSource {
  private readonly iterator: AsyncIterator<Uint8Array | string>;
  /** Bytes given back by the parser (read ahead past the end of an entry), consumed first. */
  private readonly pending: Buffer[] = [];
  private ended = false;
  private bytesFromUpstream = 0;

  constructor(
    source: AsyncIterable<Uint8Array | string>,
    private readonly maxBytes: number | undefined,
    private readonly tooLarge: (maxBytes: number) => Error,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Bytes received from upstream so far. */
  get bytesRead(): number {
    return this.bytesFromUpstream;
  }

  /** The next chunk of at most `max` bytes, or null at the end of the input. */
  async next(max = Number.POSITIVE_INFINITY): Promise<Buffer | null> {
    let chunk = this.pending.pop();
    while (chunk === undefined || chunk.length === 0) {
      if (this.ended) return null;
      const result = await this.iterator.next();
      if (result.done) {
        this.ended = true;
        return null;
      }
      chunk = asBuffer(result.value);
      this.bytesFromUpstream += chunk.length;
      if (this.maxBytes !== undefined && this.bytesFromUpstream > this.maxBytes) {
        throw this.tooLarge(this.maxBytes);
      }
    }
    if (chunk.length > max) {
      this.pending.push(chunk.subarray(max));
      return chunk.subarray(0, max);
    }
    return chunk;
  }

  /** Gives bytes back; the next read returns them first. */
  unread(chunk: Buffer): void {
    if (chunk.length > 0) this.pending.push(chunk);
  }

  /** Up to `n` bytes without consuming them (fewer only at the end of the input). */
  async peek(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let length = 0;
    while (length < n) {
      const chunk = await this.next(n - length);
      if (chunk === null) break;
      parts.push(chunk);
      length += chunk.length;
    }
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    this.unread(joined);
    return joined;
  }

  /** Exactly `n` bytes, or a truncated-archive error. */
  async readExact(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    const bytes = await this.peek(n);
    if (bytes.length < n) throw truncatedArchive();
    this.pending.pop();
    return bytes;
  }

  /** Stops reading upstream (destroys a Node stream through its iterator's return()). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.pending.length = 0;
    await this.iterator.return?.();
  }
}
