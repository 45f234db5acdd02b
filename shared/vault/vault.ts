import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isDeepStrictEqual } from 'node:util';
import { DeleteObjectCommand, HeadObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { unlessAborted } from '../config/unless-aborted.ts';
import { VaultError } from '../tanium/errors.ts';
import { type ArchiveVault, PROGRESS_INTERVAL_MS, storeArchive } from './archive-store.ts';
import { abortUpload, bestEffort, type CleanupBudget, cleanupBudget, EACH_CALL } from './cleanup.ts';
import { DEFAULTS, INCOMING_PREFIX, OCTET_STREAM } from './constants.ts';
import {
  deadlinePassedError,
  getFileTooLarge,
  s3ErrorDetails,
  VAULT_ADD_ERROR_PREFIX,
  vaultAddError,
} from './errors.ts';
import { type Digests, HashingStream } from './hashing.ts';
import { buildMetadata, METADATA_KEYS } from './metadata.ts';
import { type CopyLimits, copyObject } from './s3-copy.ts';
import { claimSpoolFile, releaseSpoolFile } from './spool.ts';
import type {
  ByteStream,
  EvidenceMetadata,
  StoreArchiveOptions,
  StoredEvidence,
  StoreEvidenceOptions,
  VaultFileItem,
  VaultLogger,
} from './types.ts';
import { deadlineAbort, isNotFound, VaultReader, type VaultReaderOptions, vaultKey } from './vault-reader.ts';

const silentLogger: VaultLogger = { warn() {} };

export interface VaultOptions extends VaultReaderOptions {
  /** Default: silent. */
  logger?: VaultLogger;
  /** Multipart upload part size in bytes (default 8 MiB, at least 5 MiB; raised to keep under 10,000 parts). */
  partSize?: number;
  /** Objects above this size are copied with UploadPartCopy (default 5 GiB, the CopyObject limit). */
  multipartCopyThreshold?: number;
  /** Range per UploadPartCopy (default 512 MiB). */
  copyPartSize?: number;
  /** Where extracted files are spooled (default the OS temporary directory: Lambda's /tmp). */
  spoolDir?: string;
  /**
   * Files whose cap (`maxBytes`) is at most this are spooled to `spoolDir` and uploaded straight to
   * `vault/<sha1>` (default 1 GiB; 0 never spools). Larger caps stream through `incoming/` instead.
   */
  spoolMaxBytes?: number;
  /** Entries one archive may hold (default 1,000); more fails get file with an ArchiveError. */
  maxArchiveEntries?: number;
  /** How often a running get file logs its progress (default PROGRESS_INTERVAL_MS). */
  progressIntervalMs?: number;
}

function toReadable(body: ByteStream): Readable {
  return body instanceof Readable ? body : Readable.from(body, { objectMode: false });
}

/**
 * The S3 evidence vault: files stored content-addressed under `vault/<sha1>`, streamed (never held
 * whole) through `incoming/<uuid>`, which never outlives a call: on any failure the multipart upload is
 * aborted and the incoming object deleted (a delete failing once the file is stored is only logged).
 * Completed `vault/<sha1>` objects are immutable and shared by every request that stores the same bytes,
 * so they are never rolled back.
 */
export class Vault extends VaultReader {
  private readonly partSize: number;
  private readonly copyLimits: CopyLimits;
  private readonly spoolDir: string;
  private readonly spoolMaxBytes: number;
  private readonly maxArchiveEntries: number;
  private readonly progressIntervalMs: number;
  private readonly logger: VaultLogger;

  constructor(options: VaultOptions) {
    super(options);
    this.logger = options.logger ?? silentLogger;
    this.partSize = Math.max(DEFAULTS.minPartSize, options.partSize ?? DEFAULTS.partSize);
    this.copyLimits = {
      multipartCopyThreshold: options.multipartCopyThreshold ?? DEFAULTS.multipartCopyThreshold,
      copyPartSize: Math.max(DEFAULTS.minPartSize, options.copyPartSize ?? DEFAULTS.copyPartSize),
    };
    this.spoolDir = options.spoolDir ?? tmpdir();
    this.spoolMaxBytes = Math.max(0, options.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes);
    this.maxArchiveEntries = options.maxArchiveEntries ?? DEFAULTS.maxArchiveEntries;
    this.progressIntervalMs = options.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
  }

  /**
   * Stores one file in the vault as `vault/<sha1>` with sha1, sha256, md5 and size computed on the way,
   * and leaves an existing object alone. When the file's cap fits the spool, the file is written to local
   * storage first and then uploaded straight to its content address (a known file is never uploaded);
   * otherwise it streams to `incoming/<uuid>` and is copied. A failure of the data (size cap, bad archive,
   * upstream error) is rethrown as it is; an S3 failure is a VaultError `Error occurred while adding the
   * file to vault. <details>`, retryable as S3 says. Either way nothing partial stays in the bucket or in
   * the spool.
   */
  async storeEvidence(
    body: ByteStream,
    metadata: EvidenceMetadata,
    options: StoreEvidenceOptions = {},
  ): Promise<StoredEvidence> {
    this.assertRunning();
    if (options.maxBytes !== undefined && options.maxBytes <= this.spoolMaxBytes) {
      return this.storeSpooled(toReadable(body), metadata, options);
    }
    return this.storeStreamed(toReadable(body), metadata, options);
  }

  /**
   * The spool path: with the bytes on local disk and the SHA-1 known before anything is sent, there is
   * no copy inside S3 (which costs as much as the upload for large files) and no upload for a duplicate.
   */
  private async storeSpooled(
    source: Readable,
    metadata: EvidenceMetadata,
    options: StoreEvidenceOptions,
  ): Promise<StoredEvidence> {
    const hasher = hashingFor(options);
    const file = claimSpoolFile(this.spoolDir);
    // Large writes (the default is 16 KiB) keep the spool off the extraction's critical path.
    // Only this user may read it (it holds extracted evidence, possibly malware), and it must be new.
    const sink = createWriteStream(file, { highWaterMark: 1024 * 1024, mode: 0o600, flags: 'wx' });
    let writeError: Error | undefined;
    sink.once('error', (error) => {
      // pipeline destroys the sink with the data's own failure too, after the hasher, and Node 22 emits it
      // before pipeline rejects (Node 20 after): the spool's own failure is one that came first.
      if (hasher.errored === null) writeError = error;
    });
    // The upload's read of the spool file: lib-storage keeps reading it while parts it sent without an
    // abort signal are still in flight, after done() rejected at the deadline.
    let spoolRead: ReadStream | undefined;
    try {
      try {
        await pipeline(source, hasher, sink);
      } catch (error) {
        // A full or unwritable spool is a vault problem; the data's own failure is reported as it is.
        throw writeError ? vaultAddError(writeError, this.bucket) : (hasher.sourceError ?? error);
      }
      const digests = hasher.digests;
      const key = vaultKey(digests.sha1);
      const deadline = deadlineAbort(options.deadline, this.stopping.signal);
      let upload: Upload | undefined;
      try {
        let alreadyStored = await this.holds(key, digests, deadline.controller.signal);
        if (!alreadyStored) {
          const written = this.objectMetadata(metadata, digests);
          spoolRead = createReadStream(file);
          upload = new Upload({
            client: this.s3,
            params: {
              Bucket: this.bucket,
              Key: key,
              Body: spoolRead,
              ContentType: OCTET_STREAM,
              Metadata: written,
              // lib-storage sends it with the PutObject or the CompleteMultipartUpload that creates the
              // object: see storedMeanwhile.
              IfNoneMatch: '*',
            },
            partSize: Math.max(this.partSize, Math.ceil(digests.size / DEFAULTS.maxParts)),
            // Reading from local disk costs no decryption, so more parts in flight only wait on S3.
            queueSize: Math.max(DEFAULTS.queueSize, 4),
            leavePartsOnError: false,
            // Stopped before the invocation times out, so the spool file is still removed below.
            abortController: deadline.controller,
          });
          try {
            await upload.done();
          } catch (error) {
            if (deadline.controller.signal.aborted) throw error;
            const storedBy = await this.storedMeanwhile(error, key, written, deadline.controller.signal);
            if (!storedBy) throw error;
            // Nothing to clean up: lib-storage aborts a multipart upload whose completion failed before
            // rejecting (a failed abort leaves its parts to the bucket's lifecycle rule).
            alreadyStored = storedBy === 'another write';
          }
        }
        return { vaultId: digests.sha1, bucket: this.bucket, key, ...digests, alreadyStored };
      } catch (error) {
        if (deadline.controller.signal.aborted) {
          // lib-storage rejects done() at once but aborts the multipart upload only after its parts in
          // flight settle, in the background: a sandbox frozen before that would leave the parts stored
          // until the lifecycle rule. The upload's key is vault/<sha1>, so nothing is deleted.
          await abortUpload(this.s3, this.bucket, key, upload?.uploadId, cleanupBudget(options.deadline));
          throw deadlinePassedError(error);
        }
        throw error instanceof VaultError ? error : vaultAddError(error, this.bucket);
      } finally {
        deadline.clear();
      }
    } finally {
      // A write stream destroyed while its file was still opening (the data failed at once, the thread
      // pool busy) creates the file afterwards: removed before then, it would stay in the spool.
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
      // Closed, not only unlinked: an open descriptor keeps the file's blocks in the spool (Lambda's /tmp)
      // until the abandoned upload's requests end, which a stalled S3 holds into the next invocation.
      if (spoolRead && !spoolRead.closed) {
        const read = spoolRead;
        read.on('error', () => undefined);
        const closed = new Promise<void>((resolve) => read.once('close', () => resolve()));
        read.destroy();
        await closed;
      }
      await releaseSpoolFile(file);
    }
  }

  private objectMetadata(metadata: EvidenceMetadata, digests: Digests): Record<string, string> {
    return buildMetadata({
      fileName: metadata.fileName,
      size: digests.size,
      sha1: digests.sha1,
      sha256: digests.sha256,
      md5: digests.md5,
      fileId: metadata.fileId,
      host: metadata.host,
      remotePath: metadata.remotePath,
      requestId: metadata.requestId,
      archiveName: metadata.archiveName,
      action: metadata.action ?? 'get file',
    });
  }

  /** The streaming path, for caps larger than the spool: `incoming/<uuid>`, then a copy to `vault/<sha1>`. */
  private async storeStreamed(
    source: Readable,
    metadata: EvidenceMetadata,
    options: StoreEvidenceOptions,
  ): Promise<StoredEvidence> {
    const hasher = hashingFor(options);
    source.pipe(hasher);
    // pipe() does not forward errors; the source's error is what the caller must see.
    source.once('error', (error) => hasher.destroy(error));
    const incomingKey = `${INCOMING_PREFIX}${randomUUID()}`;
    const partSize = Math.max(this.partSize, Math.ceil((options.maxBytes ?? 0) / DEFAULTS.maxParts));
    // The download is bounded by the deadline, but not what S3 does after it: the last parts, and the
    // copy to vault/<sha1>, which for gigabytes takes a while. Stopped in time, the request still ends
    // in a result (a retryable failure) instead of an invocation timeout that publishes none.
    const deadline = deadlineAbort(options.deadline, this.stopping.signal);
    const { signal } = deadline.controller;
    const cleanup = cleanupBudget(options.deadline);
    // Not lib-storage's own abort: it leaves the requests in flight running, and a PutObject landing
    // after incoming/ was deleted would leave the object behind. Failing its body instead makes the upload
    // fail once those requests settled, which is waited for (bounded) before incoming/ is deleted.
    const stopUpload = () => hasher.destroy(deadlinePassedError(signal.reason));
    signal.addEventListener('abort', stopUpload, { once: true });
    if (signal.aborted) stopUpload();
    try {
      const upload = new Upload({
        client: this.s3,
        params: { Bucket: this.bucket, Key: incomingKey, Body: hasher, ContentType: OCTET_STREAM },
        partSize,
        queueSize: DEFAULTS.queueSize,
        leavePartsOnError: false,
      });
      const uploading = upload.done();
      try {
        await unlessAborted(uploading, signal);
      } catch (error) {
        if (signal.aborted) await bestEffort(() => uploading, cleanup());
        const sourceError = hasher.sourceError;
        // Stop the source too when S3 failed (an archive entry stream aborts the whole archive read).
        const stop =
          sourceError ?? (signal.aborted ? deadlinePassedError(error) : vaultAddError(error, this.bucket));
        hasher.destroy(stop);
        if (!source.destroyed) source.destroy(stop);
        await this.discardIncoming(incomingKey, upload.uploadId, cleanup);
        throw stop;
      }
      signal.removeEventListener('abort', stopUpload);
      const digests = hasher.digests;
      const key = vaultKey(digests.sha1);
      let alreadyStored: boolean | undefined;
      try {
        // Raced as well: the signal reaches an HTTP request, not a retry's wait before the next one.
        alreadyStored = await unlessAborted(this.holds(key, digests, signal), signal);
        if (!alreadyStored) {
          const metadataOut = this.objectMetadata(metadata, digests);
          try {
            const copy = {
              bucket: this.bucket,
              from: incomingKey,
              to: key,
              size: digests.size,
              metadata: metadataOut,
              abortSignal: signal,
            };
            await unlessAborted(copyObject(this.s3, copy, this.copyLimits), signal);
          } catch (error) {
            if (signal.aborted) throw error;
            const storedBy = await this.storedMeanwhile(error, key, metadataOut, signal);
            if (!storedBy) throw error;
            // The conditional copy created nothing (a multipart one aborted its upload): incoming/ goes below.
            alreadyStored = storedBy === 'another write';
          }
        }
      } catch (error) {
        // A copy S3 finished but answered too late, or an object that was there all along, is stored:
        // failing would send a "not stored" result for a file in the vault.
        const stored = signal.aborted && (await this.holdsWithin(key, digests.sha256, cleanup()));
        await this.discardIncoming(incomingKey, undefined, cleanup);
        if (stored) {
          return {
            vaultId: digests.sha1,
            bucket: this.bucket,
            key,
            ...digests,
            alreadyStored: alreadyStored ?? true,
          };
        }
        if (signal.aborted) throw deadlinePassedError(error);
        throw error instanceof VaultError ? error : vaultAddError(error, this.bucket);
      }
      await this.removeIncoming(incomingKey, metadata.requestId);
      return { vaultId: digests.sha1, bucket: this.bucket, key, ...digests, alreadyStored };
    } finally {
      signal.removeEventListener('abort', stopUpload);
      deadline.clear();
    }
  }

  /**
   * Deletes `incoming/<uuid>` once `vault/<sha1>` is complete. A failure does not fail the file: it is
   * stored, and a retry would only store it again; the bucket's lifecycle rule expires what is left.
   */
  private async removeIncoming(key: string, requestId: string | undefined): Promise<void> {
    // Bounded like every cleanup call: the file is stored, and a stalled S3 must not hold its result
    // past the time kept for publishing it.
    const failure = await bestEffort((abortSignal) =>
      this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }),
    );
    if (failure !== undefined) {
      this.logger.warn(
        'Could not delete the incoming object after storing the file; the lifecycle rule of the bucket expires it',
        {
          ...(requestId === undefined ? {} : { correlation_id: requestId }),
          bucket: this.bucket,
          key,
          error: failure,
        },
      );
    }
  }

  /**
   * The get file pipeline (archive-store.ts): every file of the downloaded zip stored, and by policy the
   * archive itself; one result item per stored file.
   */
  async storeArchive(body: ByteStream, options: StoreArchiveOptions): Promise<VaultFileItem[]> {
    this.assertRunning();
    const vault: ArchiveVault = {
      storeEvidence: (file, metadata, fileOptions) => this.storeEvidence(file, metadata, fileOptions),
      spoolDir: this.spoolDir,
      spoolMaxBytes: this.spoolMaxBytes,
      maxArchiveEntries: this.maxArchiveEntries,
      progressIntervalMs: this.progressIntervalMs,
      logger: this.logger,
    };
    return storeArchive(toReadable(body), options, vault);
  }

  /**
   * Whether a write to `vault/<sha1>` made conditional (`If-None-Match: *`) failed because the object is
   * there after all, and whose write put it there. Two records saving one file both miss the HEAD, and an
   * unconditional write would replace the first one's metadata (its file name, host, request id) while
   * its result says it stored the file. 412: the object is there; it is this write's own when the SDK
   * sent the write again after losing the answer to a write that landed, which its metadata tells. 409:
   * a concurrent write to the key is in progress and may still fail, so only an object found says it is
   * stored; otherwise the 409 fails the file, retryably.
   */
  private async storedMeanwhile(
    error: unknown,
    key: string,
    written: Record<string, string>,
    abortSignal: AbortSignal,
  ): Promise<'this write' | 'another write' | undefined> {
    if (!(error instanceof S3ServiceException)) return undefined;
    const status = error.$metadata.httpStatusCode;
    const refused = error.name === 'PreconditionFailed' || status === 412;
    if (!refused && error.name !== 'ConditionalRequestConflict' && status !== 409) return undefined;
    let found: Record<string, string> | undefined;
    try {
      found = await this.metadataOf(key, abortSignal);
    } catch (headError) {
      // A 409 whose object cannot be read fails the file with its own error, retryably.
      if (!refused) return undefined;
      // There, but not known to hold these bytes (sameBytes): a redelivery checks again.
      throw new VaultError(
        `${VAULT_ADD_ERROR_PREFIX}${key} is stored already, but could not be read to check it holds this file. ${s3ErrorDetails(headError)}`,
        { retryable: true, cause: headError },
      );
    }
    if (!found) {
      if (!refused) return undefined;
      // Refused as there, then gone (expired, deleted): nothing holds the file now, so nothing may say
      // it is stored; a redelivery writes it again.
      throw new VaultError(
        `${VAULT_ADD_ERROR_PREFIX}${key} refused the write as stored already, then was not found`,
        { retryable: true, cause: error },
      );
    }
    if (isDeepStrictEqual(found, written)) return 'this write';
    sameBytes(key, found, written[METADATA_KEYS.sha256]);
    return 'another write';
  }

  /**
   * Whether `vault/<sha1>` is there already, holding these bytes: one whose SHA-256 differs fails the
   * file (sameBytes) rather than be reported as this file's.
   */
  private async holds(key: string, digests: Digests, abortSignal: AbortSignal): Promise<boolean> {
    const found = await this.metadataOf(key, abortSignal);
    if (found === undefined) return false;
    sameBytes(key, found, digests.sha256);
    return true;
  }

  /** The object's user metadata, or undefined when there is no object. */
  private async metadataOf(
    key: string,
    abortSignal?: AbortSignal,
  ): Promise<Record<string, string> | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal,
      });
      return head.Metadata ?? {};
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Whether `vault/<sha1>` holds a file with this SHA-256 (or one its metadata does not name), given at
   * most `ms`; false when S3 does not say in time, fails, or holds other bytes (sameBytes), which a
   * redelivery then finds and reports.
   */
  private async holdsWithin(key: string, sha256: string, ms: number): Promise<boolean> {
    let found = false;
    await bestEffort(async (abortSignal) => {
      const metadata = await this.metadataOf(key, abortSignal);
      found = metadata !== undefined && holdsSameBytes(metadata, sha256);
    }, ms);
    return found;
  }

  /** Best effort: abort the multipart upload (if lib-storage did not) and delete the incoming object. */
  private async discardIncoming(
    key: string,
    uploadId: string | undefined,
    budget: CleanupBudget = EACH_CALL,
  ): Promise<void> {
    // The abort first: a CompleteMultipartUpload still in flight then fails, instead of creating the
    // object after a delete that found nothing.
    await abortUpload(this.s3, this.bucket, key, uploadId, budget);
    await bestEffort(
      (abortSignal) =>
        this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }),
      budget(),
    );
  }
}

/**
 * Throws when the object at `key` (found with metadata `found`) holds other bytes than a file whose
 * SHA-256 is `sha256`: two files with one SHA-1, which someone can make on purpose. Reported as stored,
 * the file's result would give its own hashes with a `vault_id` of other bytes, and an analyst would open
 * the wrong evidence. An object whose metadata has no SHA-256 cannot be told apart and counts as the same.
 */
function sameBytes(key: string, found: Record<string, string>, sha256: string | undefined): void {
  if (holdsSameBytes(found, sha256)) return;
  throw new VaultError(
    `${VAULT_ADD_ERROR_PREFIX}Another file with the same SHA-1 is already stored at ${key} (SHA-256 ${found[METADATA_KEYS.sha256]}; this file's is ${sha256}): the file was not stored`,
    { retryable: false },
  );
}

/** Whether an object with metadata `found` holds the file whose SHA-256 is `sha256`, as far as it says. */
function holdsSameBytes(found: Record<string, string>, sha256: string | undefined): boolean {
  const stored = found[METADATA_KEYS.sha256];
  return stored === undefined || sha256 === undefined || stored === sha256;
}

/** Hashes a file on its way and enforces its size cap (GET_FILE_MAX_BYTES by default). */
function hashingFor(options: StoreEvidenceOptions): HashingStream {
  return new HashingStream({ maxBytes: options.maxBytes, tooLarge: options.tooLarge ?? getFileTooLarge });
}
