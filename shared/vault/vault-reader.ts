import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { isRetryableAwsError } from '../config/aws-errors.ts';
import { unlessAborted } from '../config/unless-aborted.ts';
import { TooLargeError, VaultError } from '../tanium/errors.ts';
import { DEFAULTS, VAULT_PREFIX } from './constants.ts';
import { s3ErrorDetails } from './errors.ts';
import { decodeMetadataValue, METADATA_KEYS } from './metadata.ts';
import { s3ClientConfig } from './s3-config.ts';
import type { IntelDocSource } from './types.ts';

export interface VaultReaderOptions {
  /** The vault bucket (VAULT_BUCKET). */
  bucket: string;
  /** An S3 client to use; otherwise one is created on first use (path-style when AWS_ENDPOINT_URL is set). */
  client?: S3Client;
}

/** The object a vault id names: `vault/<sha1>`, in lower case. */
export function vaultKey(vaultId: string): string {
  return `${VAULT_PREFIX}${vaultId.toLowerCase()}`;
}

const VAULT_ID = /^[0-9a-f]{40}$/i;

/**
 * Whether S3 said the object is missing, by the error's name, not its 404: GetObject on a missing
 * bucket is a 404 too (`NoSuchBucket`), a deployment fault to report, not a missing file. HeadObject's
 * 404 has no body, so the SDK names both `NotFound`; the write that follows a HEAD names the bucket.
 */
export function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NotFound' || error.name === 'NoSuchKey';
}

/**
 * The vault as upload intel doc uses it: reads `vault/<sha1>`. The intel function's whole vault, so its
 * bundle holds none of the store code (lib-storage, the archive reader, the hashing worker); the
 * evidence function's Vault adds the stores.
 */
export class VaultReader {
  readonly bucket: string;
  private client: S3Client | undefined;
  /** Aborted by stopAll: every store and read then stops as at its deadline. */
  protected readonly stopping = new AbortController();

  constructor(options: VaultReaderOptions) {
    this.bucket = options.bucket;
    this.client = options.client;
    // Every store in progress listens to it (a batch of records, two stores each with keep=both).
    setMaxListeners(0, this.stopping.signal);
  }

  /**
   * Stops every store and read in progress as if its deadline had come, so the same cleanup runs (the
   * multipart upload aborted, `incoming/` deleted, the spool file removed), and every later one at once:
   * for a process about to exit, such as a CLI run stopped by a signal.
   */
  stopAll(): void {
    this.stopping.abort(new Error('the vault was stopped'));
  }

  /** A store or read after stopAll fails at once, before it reads a byte. */
  protected assertRunning(): void {
    if (this.stopping.signal.aborted) {
      throw new VaultError('The vault was stopped: this process is exiting', { retryable: false });
    }
  }

  /** The S3 client, created once on first use (not at import, so a frozen init holds no stale credential). */
  get s3(): S3Client {
    this.client ??= new S3Client(s3ClientConfig());
    return this.client;
  }

  /**
   * Reads `vault/<vaultId>` for upload intel doc, streaming and stopping at `maxBytes`. A missing object
   * is a VaultError `Unable to read vault_id <id> from the vault: <reason>` (not retryable); above the
   * limit: TooLargeError `Intel document is larger than <maxBytes> bytes`. Stopped at `deadline` (epoch
   * ms) with a retryable VaultError, so a stalled S3 ends in a result instead of an invocation timeout.
   */
  async readForIntelDoc(
    vaultId: string,
    maxBytes: number = DEFAULTS.intelDocMaxBytes,
    deadline?: number,
  ): Promise<IntelDocSource> {
    this.assertRunning();
    const fail = (reason: string, retryable: boolean, cause?: unknown, requestFault = false) =>
      new VaultError(`Unable to read vault_id ${vaultId} from the vault: ${reason}`, {
        retryable,
        cause,
        requestFault,
      });
    const tooLarge = () => new TooLargeError(`Intel document is larger than ${maxBytes} bytes`);
    if (!VAULT_ID.test(vaultId)) throw fail('not a vault id (40 hex characters)', false, undefined, true);
    const stop = deadlineAbort(deadline, this.stopping.signal);
    const { signal } = stop.controller;
    const late = (cause: unknown) =>
      fail('the invocation deadline passed before the document was read', true, cause);
    try {
      let response: GetObjectCommandOutput;
      try {
        // Raced as well: the signal reaches an HTTP request, not a retry's wait before the next one.
        response = await unlessAborted(
          this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: vaultKey(vaultId) }), {
            abortSignal: signal,
          }),
          signal,
        );
      } catch (error) {
        if (signal.aborted) throw late(error);
        // The request named a file the vault does not hold: its own fault, not the vault's.
        if (isNotFound(error)) throw fail('no such file in the vault', false, error, true);
        throw fail(s3ErrorDetails(error), isRetryableAwsError(error), error);
      }
      const stream = response.Body as Readable | undefined;
      const name = decodeMetadataValue(response.Metadata?.[METADATA_KEYS.fileName]);
      // The vault's objects are its content's SHA-1: bytes that are not (an object written or changed
      // outside this service) must not reach Tanium as an intel document under that id.
      const checked = (bytes: Buffer): IntelDocSource => {
        const sha1 = createHash('sha1').update(bytes).digest('hex');
        if (sha1 !== vaultId.toLowerCase()) {
          throw fail(
            `its content does not match the vault_id (its SHA-1 is ${sha1}): the object was written or changed outside this service, and is not sent`,
            false,
          );
        }
        return { bytes, name, size: bytes.length };
      };
      if (!stream) return checked(Buffer.alloc(0));
      if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
        // Unread: an error its destruction emits must find a listener, or it would end the process.
        stream.on('error', () => undefined);
        stream.destroy();
        throw tooLarge();
      }
      // A body that stalls mid-way is cut at the deadline too.
      const cut = () => stream.destroy(late(signal.reason));
      signal.addEventListener('abort', cut, { once: true });
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of stream) {
          size += (chunk as Buffer).length;
          if (size > maxBytes) {
            stream.destroy();
            throw tooLarge();
          }
          chunks.push(chunk as Buffer);
        }
      } catch (error) {
        if (error instanceof TooLargeError || error instanceof VaultError) throw error;
        throw fail(s3ErrorDetails(error), true, error);
      } finally {
        signal.removeEventListener('abort', cut);
      }
      return checked(Buffer.concat(chunks, size));
    } finally {
      stop.clear();
    }
  }
}

/** A controller aborted at `deadline` (epoch ms; never without one) or when `stopped` is (stopAll). */
export function deadlineAbort(
  deadline: number | undefined,
  stopped: AbortSignal,
): { controller: AbortController; clear: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort(stopped.aborted ? stopped.reason : undefined);
  if (stopped.aborted) stop();
  else stopped.addEventListener('abort', stop, { once: true });
  const timer = deadline === undefined ? undefined : setTimeout(stop, Math.max(0, deadline - Date.now()));
  timer?.unref();
  return {
    controller,
    clear: () => {
      clearTimeout(timer);
      stopped.removeEventListener('abort', stop);
    },
  };
}
