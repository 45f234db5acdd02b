import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface Digests {
  sha1: string;
  sha256: string;
  md5: string;
  size: number;
}

export interface HashingStreamOptions {
  /** Fails the stream with `tooLarge(maxBytes)` once more than this many bytes went through. */
  maxBytes?: number;
  tooLarge?: (maxBytes: number) => Error;
}

/**
 * A pass-through that computes sha1, sha256, md5 and the byte count of what flows through it. It also
 * remembers the first error it was destroyed with, so a caller can tell a failure of the data source
 * (kept as it is) from a failure of the destination (wrapped as a vault error).
 */
export class HashingStream extends Transform {
  private readonly sha1 = createHash('sha1');
  private readonly sha256 = createHash('sha256');
  private readonly md5 = createHash('md5');
  private bytes = 0;
  private result: Digests | undefined;
  /** The error this stream was destroyed with, if any. */
  sourceError: Error | undefined;

  constructor(private readonly options: HashingStreamOptions = {}) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const { maxBytes, tooLarge } = this.options;
    if (maxBytes !== undefined && this.bytes > maxBytes) {
      callback(tooLarge ? tooLarge(maxBytes) : new RangeError(`More than ${maxBytes} bytes`));
      return;
    }
    this.sha1.update(chunk);
    this.sha256.update(chunk);
    this.md5.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const digest = (hash: Hash) => hash.digest('hex');
    this.result = {
      sha1: digest(this.sha1),
      sha256: digest(this.sha256),
      md5: digest(this.md5),
      size: this.bytes,
    };
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error && this.sourceError === undefined) this.sourceError = error;
    callback(error);
  }

  /** The digests; only after the stream has ended. */
  get digests(): Digests {
    if (this.result === undefined) throw new Error('The digests are only known once the stream has ended');
    return this.result;
  }
}
