import type { Readable } from 'node:stream';

/** What to keep of a downloaded archive (the extracted files, the password-protected archive, or both). */
export const KEEP_POLICIES = ['extract', 'archive', 'both'] as const;
export type KeepPolicy = (typeof KEEP_POLICIES)[number];

/** Bytes to store: a Node stream (an HTTP body) or any async iterable of byte chunks. */
export type ByteStream = Readable | AsyncIterable<Uint8Array>;

/** Where an object lives. */
export interface ObjectRef {
  bucket: string;
  key: string;
  bytes: number;
}

/** Facts about a file that go into the vault object's metadata. */
export interface EvidenceMetadata {
  /** The file's name (base name, no directories). */
  fileName: string;
  /** The Tanium file evidence id. */
  fileId?: string;
  host?: string;
  remotePath?: string;
  requestId?: string;
  /** The archive the file came from. */
  archiveName?: string;
  /** The action that stored it (default `get file`). */
  action?: string;
}

export interface StoreEvidenceOptions {
  /** Fails with `tooLarge(maxBytes)` (default: the GET_FILE_MAX_BYTES error) above this many bytes. */
  maxBytes?: number;
  tooLarge?: (maxBytes: number) => Error;
  /** Epoch ms: an upload of a spooled file still running then is stopped (and the spool file removed). */
  deadline?: number;
}

/** A file stored content-addressed under `vault/<sha1>`. */
export interface StoredEvidence {
  vaultId: string;
  bucket: string;
  key: string;
  sha1: string;
  sha256: string;
  md5: string;
  size: number;
  /** True when `vault/<sha1>` already existed: nothing was rewritten. */
  alreadyStored: boolean;
}

export interface StoreArchiveOptions {
  /** The archive's file name (from Content-Disposition, else `<file_id>.zip`). */
  archiveName: string;
  /** The Tanium file evidence id. */
  fileId: string;
  /** Known from the evidence metadata only; omitted when unknown. */
  host?: string;
  remotePath?: string;
  requestId?: string;
  /** GET_FILE_MAX_BYTES: applies to the archive, to each extracted file and to all of them together. */
  maxBytes: number;
  /** The response's Content-Length, checked against maxBytes before reading. */
  contentLength?: number;
  /** ZipCrypto password (default `infected`). */
  password?: string;
  /** Default `extract`. */
  keep?: KeepPolicy;
  /** Epoch ms by which every upload must be done (the invocation deadline less a margin). */
  deadline?: number;
}

/** One data item of the get file result (tanium-api.md 2.17), plus where the object is. */
export interface VaultFileItem {
  vault_id: string;
  name: string;
  size: number;
  hash: string;
  sha1: string;
  sha256: string;
  md5: string;
  archive_name: string;
  archive_size: number;
  file_id: string;
  mime_type: 'application/octet-stream';
  metadata: {
    sha1: string;
    sha256: string;
    md5: string;
    size: number;
    archive_size: number;
    contains: string[];
    action: 'get file';
  };
  bucket: string;
  key: string;
  already_stored: boolean;
  /** True for the item of the original (password-protected) archive under the `archive`/`both` policies. */
  is_archive: boolean;
}

/** A vault file read back for upload intel doc. */
export interface IntelDocSource {
  bytes: Buffer;
  /** The stored file name (metadata `file-name`), when the object has one. */
  name: string | undefined;
  size: number;
}

/** Where the vault reports what it worked around (the function's logger). */
export interface VaultLogger {
  warn(message: string, extra?: Record<string, unknown>): void;
  /** Progress of a long get file; without it, none is logged. */
  info?(message: string, extra?: Record<string, unknown>): void;
}
