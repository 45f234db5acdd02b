import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type FileDigests, WorkerDigester } from './hash-worker.ts';

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
  /**
   * Hash on the container's hashing worker thread (default), beside decryption, or on this thread
   * (`false`: what a single small file or a single-CPU machine gains nothing from).
   */
  worker?: boolean;
}

interface Digester {
  /** A promise when the caller must wait before the next chunk (backpressure). */
  update(chunk: Uint8Array): Promise<void> | undefined;
  digests(): Promise<FileDigests>;
  cancel(): void;
}

class InlineDigester implements Digester {
  private readonly hashes = [createHash('sha1'), createHash('sha256'), createHash('md5')] as const;

  update(chunk: Uint8Array): undefined {
    for (const hash of this.hashes) hash.update(chunk);
    return undefined;
  }

  digests(): Promise<FileDigests> {
    const [sha1, sha256, md5] = this.hashes.map((hash) => hash.digest('hex')) as [string, string, string];
    return Promise.resolve({ sha1, sha256, md5 });
  }

  cancel(): void {}
}

/**
 * A pass-through that computes sha1, sha256, md5 and the byte count of what flows through it. It also
 * remembers the first error it was destroyed with, so a caller can tell a failure of the data source
 * (kept as it is) from a failure of the destination (wrapped as a vault error).
 */
export class HashingStream extends Transform {
  private readonly digester: Digester;
  private bytes = 0;
  private result: Digests | undefined;
  /** The error this stream was destroyed with, if any. */
  sourceError: Error | undefined;

  constructor(private readonly options: HashingStreamOptions = {}) {
    // Room for a few inflated batches: the extracting thread delivers in bursts between decryptions, and a
    // full buffer here would pause zlib and then decryption.
    super({ highWaterMark: 1024 * 1024 });
    this.digester = options.worker === false ? new InlineDigester() : new WorkerDigester();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const { maxBytes, tooLarge } = this.options;
    if (maxBytes !== undefined && this.bytes > maxBytes) {
      callback(tooLarge ? tooLarge(maxBytes) : new RangeError(`More than ${maxBytes} bytes`));
      return;
    }
    const wait = this.digester.update(chunk);
    if (wait === undefined) callback(null, chunk);
    else wait.then(() => callback(null, chunk), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.digester.digests().then((digests) => {
      this.result = { ...digests, size: this.bytes };
      callback();
    }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A reader that stops early (lib-storage once S3 failed a part: its for-await returns) destroys the
    // stream with Node's AbortError. That is the destination giving up, not a failure of the data, and
    // kept here it would be reported instead of the S3 error (as a non-retryable "Unexpected error").
    const readerStopped =
      error?.name === 'AbortError' && (error as NodeJS.ErrnoException).code === 'ABORT_ERR';
    if (error && !readerStopped && this.sourceError === undefined) this.sourceError = error;
    if (this.result === undefined) this.digester.cancel();
    callback(error);
  }

  /** The digests; only after the stream has ended. */
  get digests(): Digests {
    if (this.result === undefined) throw new Error('The digests are only known once the stream has ended');
    return this.result;
  }
}
