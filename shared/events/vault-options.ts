import type { S3Client } from '@aws-sdk/client-s3';
import type { VaultPort } from '../actions/types.ts';
import type { Settings } from '../config/settings.ts';
import { bundledS3Api } from '../vault/s3-api.ts';
import type { EventLogger } from './logging.ts';
import type { FamilyHandlerOptions } from './runtime.ts';

/** What a vault is built from: the bucket, the S3 client given (tests, the CLI), the settings. */
export interface VaultParts {
  bucket: string;
  client?: S3Client;
  settings: Settings;
  logger: EventLogger;
}

/**
 * `options` with the vault `build` makes, where VAULT_BUCKET is set. The vault builds its S3 client on
 * first use (not at import: a frozen init would hold a stale credential); the result store (results too
 * big for an event) borrows it, so a container has one connection pool and one set of credentials, not
 * two, and it uses the S3 client package the vault bundles.
 */
export function withVaultBuiltBy(
  options: FamilyHandlerOptions,
  build: (parts: VaultParts) => VaultPort,
): FamilyHandlerOptions & Required<Pick<FamilyHandlerOptions, 's3Api'>> {
  return {
    s3Api: bundledS3Api,
    vault: (settings, logger) => {
      if (settings.vaultBucket === undefined) return undefined;
      const common = { bucket: settings.vaultBucket, settings, logger };
      return build(options.s3Client ? { ...common, client: options.s3Client } : common);
    },
    ...options,
  };
}
