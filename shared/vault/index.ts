export { DEFAULTS, INCOMING_PREFIX, OCTET_STREAM, RESULTS_PREFIX, VAULT_PREFIX } from './constants.ts';
export {
  ARCHIVE_ERROR_PREFIX,
  ArchiveError,
  getFileTooLarge,
  VAULT_ADD_ERROR_PREFIX,
  vaultAddError,
} from './errors.ts';
export { type Digests, HashingStream } from './hashing.ts';
export { decodeMetadataValue, encodeMetadataValue, METADATA_KEYS } from './metadata.ts';
export { type ResultStore, resultKey, S3ResultStore } from './result-store.ts';
export { s3ClientConfig } from './s3-config.ts';
export type {
  ByteStream,
  EvidenceMetadata,
  IntelDocSource,
  KeepPolicy,
  ObjectRef,
  StoreArchiveOptions,
  StoredEvidence,
  StoreEvidenceOptions,
  VaultFileItem,
} from './types.ts';
export { KEEP_POLICIES } from './types.ts';
export { getVault, Vault, type VaultOptions, vaultKey } from './vault.ts';
export { baseName, type ZipEntry, ZipReader, type ZipReaderOptions } from './zip/index.ts';
