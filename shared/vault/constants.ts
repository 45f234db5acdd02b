export const VAULT_PREFIX = 'vault/';
/**
 * Uploads in progress; every object here is deleted by the call that wrote it (success or failure), but
 * for a failed delete once the file is stored: the bucket's lifecycle rule expires that one.
 */
export const INCOMING_PREFIX = 'incoming/';
export const RESULTS_PREFIX = 'results/';
export const OCTET_STREAM = 'application/octet-stream';

export const DEFAULTS = {
  /** lib-storage part size: memory held per upload is about (queueSize + 1) x partSize. */
  partSize: 8 * 1024 * 1024,
  minPartSize: 5 * 1024 * 1024,
  queueSize: 2,
  /** S3 allows 10,000 parts; keep a margin so a file at the cap never needs more. */
  maxParts: 9000,
  /** CopyObject handles up to 5 GiB; above that, UploadPartCopy. */
  multipartCopyThreshold: 5 * 1024 * 1024 * 1024,
  copyPartSize: 512 * 1024 * 1024,
  intelDocMaxBytes: 10 * 1024 * 1024,
  /**
   * Largest per-file cap for which extracted files are spooled to local storage (Lambda's /tmp) before
   * the upload (VAULT_SPOOL_MAX_BYTES). With `keep=both` two files are spooled at once.
   */
  spoolMaxBytes: 1024 * 1024 * 1024,
  /**
   * Entries (files and directories) one archive may hold. Tanium's download holds the one file asked
   * for; an archive of many tiny entries would make as many objects and result items, and run the
   * function into its timeout instead of ending in a result.
   */
  maxArchiveEntries: 1000,
} as const;
