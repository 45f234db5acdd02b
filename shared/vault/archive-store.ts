import { PassThrough, type Readable } from 'node:stream';
import { VaultError } from '../tanium/errors.ts';
import { OCTET_STREAM } from './constants.ts';
import { ArchiveError, getFileTooLarge } from './errors.ts';
import { removeStaleSpoolFiles } from './spool.ts';
import type {
  ByteStream,
  EvidenceMetadata,
  StoreArchiveOptions,
  StoredEvidence,
  StoreEvidenceOptions,
  VaultFileItem,
  VaultLogger,
} from './types.ts';
import { baseName } from './zip/names.ts';
import { ZipReader } from './zip/reader.ts';

/** How often a get file still running logs how far it got. */
export const PROGRESS_INTERVAL_MS = 30_000;

/** What storing an archive needs of the vault: its store of one file, and its settings. */
export interface ArchiveVault {
  storeEvidence(
    body: ByteStream,
    metadata: EvidenceMetadata,
    options: StoreEvidenceOptions,
  ): Promise<StoredEvidence>;
  spoolDir: string;
  spoolMaxBytes: number;
  maxArchiveEntries: number;
  progressIntervalMs: number;
  logger: VaultLogger;
}

/**
 * The get file pipeline: reads the downloaded zip once (decrypting and inflating while streaming),
 * stores every file entry (and, by policy, the archive itself) and returns one result item per stored
 * file, extracted files first. Errors: TooLargeError (GET_FILE_MAX_BYTES: the archive, each file, all
 * files together), ArchiveError (`Error while creating file. ...`), VaultError, or the body's own
 * error (a reset stays retryable).
 */
export async function storeArchive(
  source: Readable,
  options: StoreArchiveOptions,
  vault: ArchiveVault,
): Promise<VaultFileItem[]> {
  const keep = options.keep ?? 'extract';
  const tooLarge = getFileTooLarge;
  if (options.contentLength !== undefined && options.contentLength > options.maxBytes) {
    source.destroy();
    throw tooLarge(options.maxBytes);
  }
  // A file left by an invocation killed at its timeout would otherwise fill the spool for good. Swept
  // here, before any entry stream exists: an entry failing during the sweep would have no listener yet.
  if (options.maxBytes <= vault.spoolMaxBytes) await removeStaleSpoolFiles(vault.spoolDir);
  const common: Omit<EvidenceMetadata, 'fileName'> = {
    fileId: options.fileId,
    host: options.host,
    remotePath: options.remotePath,
    requestId: options.requestId,
    archiveName: options.archiveName,
  };

  let archiveBody: PassThrough | undefined;
  let archiveStore: Promise<StoredEvidence> | undefined;
  let archiveFailure: unknown;
  if (keep !== 'extract') {
    archiveBody = new PassThrough({ highWaterMark: 64 * 1024 });
    archiveStore = vault.storeEvidence(
      archiveBody,
      { ...common, fileName: options.archiveName },
      { maxBytes: options.maxBytes, tooLarge, deadline: options.deadline },
    );
    archiveStore.catch((error: unknown) => {
      archiveFailure = error;
    });
  }
  const input = archiveBody ? teeInto(source, archiveBody, () => archiveFailure) : source;
  const reader = new ZipReader(input, {
    password: options.password ?? 'infected',
    maxArchiveBytes: options.maxBytes,
    maxEntryBytes: options.maxBytes,
    // Tanium's archive holds the one file asked for, which the per-entry cap already bounds, and the
    // function's timeout and spool are sized for one file of the cap: all entries together get the same
    // cap, so entries each under it cannot add up to hundreds of GiB of inflating and uploading. Checked
    // under keep=archive too, where the entries are still inflated to verify them.
    maxTotalBytes: options.maxBytes,
    maxEntries: vault.maxArchiveEntries,
    tooLarge,
  });

  const stored: { name: string; evidence: StoredEvidence }[] = [];
  // Until the archive's own upload is done too (keep=both), which for gigabytes outlasts the read.
  const stopProgress = logProgress(vault, options, reader, () => stored.length);
  try {
    try {
      for await (const entry of reader) {
        const name = entry.baseName || baseName(options.remotePath ?? '') || options.fileId;
        if (keep === 'archive') {
          // Still read every entry: a wrong password or a corrupt archive must fail here as well.
          entry.stream.resume();
          continue;
        }
        // The reader enforces the cap per entry too; passing it here picks the spool when the cap fits it.
        const evidence = await vault.storeEvidence(
          entry.stream,
          { ...common, fileName: name },
          { maxBytes: options.maxBytes, tooLarge, deadline: options.deadline },
        );
        stored.push({ name, evidence });
      }
      if (reader.entries === 0) throw new ArchiveError('The archive contains no file');
      archiveBody?.end();
    } catch (error) {
      archiveBody?.destroy(error instanceof Error ? error : new Error(String(error)));
      if (!source.destroyed) source.destroy();
      await archiveStore?.catch(() => undefined);
      // When storing the archive failed, the read failed because of it: report the S3 error.
      throw archiveFailure instanceof VaultError ? archiveFailure : error;
    }
    const archiveSize = reader.bytesRead;
    const items = stored.map(({ name, evidence }) => resultItem(evidence, name, options, archiveSize, false));
    if (archiveStore) {
      const archive = await archiveStore;
      items.push(resultItem(archive, options.archiveName, options, archiveSize, true));
    }
    return items;
  } finally {
    stopProgress();
  }
}

/**
 * Logs, every progressIntervalMs while an archive is stored, how much of it was read and how many files
 * are stored: a multi-gigabyte get file runs for minutes, and its log would otherwise show nothing
 * between the request and its result. Returns the stop.
 */
function logProgress(
  vault: ArchiveVault,
  options: StoreArchiveOptions,
  reader: ZipReader,
  filesStored: () => number,
): () => void {
  const info = vault.logger.info?.bind(vault.logger);
  if (!info) return () => undefined;
  const started = Date.now();
  const timer = setInterval(() => {
    info('get file still running', {
      ...(options.requestId === undefined ? {} : { correlation_id: options.requestId }),
      fileId: options.fileId,
      archiveBytesRead: reader.bytesRead,
      ...(options.contentLength === undefined ? {} : { archiveBytes: options.contentLength }),
      filesStored: filesStored(),
      elapsedSeconds: Math.round((Date.now() - started) / 1000),
    });
  }, vault.progressIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function resultItem(
  evidence: StoredEvidence,
  name: string,
  options: StoreArchiveOptions,
  archiveSize: number,
  isArchive: boolean,
): VaultFileItem {
  const { sha1, sha256, md5, size } = evidence;
  return {
    vault_id: sha1,
    name,
    size,
    hash: sha1,
    sha1,
    sha256,
    md5,
    archive_name: options.archiveName,
    archive_size: archiveSize,
    file_id: options.fileId,
    mime_type: OCTET_STREAM,
    metadata: { sha1, sha256, md5, size, archive_size: archiveSize, contains: [], action: 'get file' },
    bucket: evidence.bucket,
    key: evidence.key,
    already_stored: evidence.alreadyStored,
    is_archive: isArchive,
  };
}

/**
 * Feeds every archive chunk to `sink` (the archive's own upload) before the zip reader sees it, waiting
 * while the sink is full, so both consumers advance together and memory stays bounded.
 */
async function* teeInto(
  source: Readable,
  sink: PassThrough,
  sinkFailure: () => unknown,
): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of source) {
    if (sink.destroyed) throw sinkFailure() ?? new Error('The archive upload stopped');
    if (!sink.write(chunk)) {
      await drainOrClose(sink);
      if (sink.destroyed) throw sinkFailure() ?? new Error('The archive upload stopped');
    }
    yield chunk as Uint8Array;
  }
}

/** Resolves on 'drain' or 'close', removing both listeners (racing two `once()` would leave one per wait). */
function drainOrClose(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
