import { S3Client } from '@aws-sdk/client-s3';
import type { Family } from '../actions/types.ts';
import { s3ClientConfig } from '../vault/s3-config.ts';
import { Vault } from '../vault/vault.ts';
import { createFamilyHandler as createBaseHandler, type FamilyHandler } from './family-handler.ts';
import type { FamilyHandlerOptions } from './runtime.ts';

/**
 * The family handler with the S3 vault (`VAULT_BUCKET`) in every action context: the entry point of the
 * families whose actions read or write evidence (evidence, intel). It is a separate module so that only
 * those bundles carry the vault and lib-storage.
 */
export function createFamilyHandler(family: Family, options: FamilyHandlerOptions = {}): FamilyHandler {
  return createBaseHandler(family, withVault(options));
}

/**
 * `options` with the vault added. One S3 client serves the vault and the results too big for an event:
 * one connection pool and one set of credentials per container instead of two. Building it reads
 * nothing remote.
 */
export function withVault(options: FamilyHandlerOptions): FamilyHandlerOptions {
  const s3Client = options.s3Client ?? new S3Client(s3ClientConfig());
  return {
    vault: (settings) => {
      if (settings.vaultBucket === undefined) return undefined;
      return new Vault({
        bucket: settings.vaultBucket,
        client: s3Client,
        spoolMaxBytes: settings.vaultSpoolMaxBytes,
      });
    },
    ...options,
    s3Client,
  };
}
