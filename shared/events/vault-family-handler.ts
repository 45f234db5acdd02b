import type { Family } from '../actions/types.ts';
import { bundledS3Api } from '../vault/s3-api.ts';
import { Vault } from '../vault/vault.ts';
import { buildFamilyHandler, type FamilyHandler } from './handler-factory.ts';
import type { FamilyHandlerOptions } from './runtime.ts';

/**
 * The family handler with the S3 vault (`VAULT_BUCKET`) in every action context: the entry point of the
 * families whose actions read or write evidence (evidence, intel). It is a separate module so that only
 * those bundles carry the vault and lib-storage.
 */
export function createFamilyHandler(family: Family, options: FamilyHandlerOptions = {}): FamilyHandler {
  return buildFamilyHandler(family, withVault(options));
}

/**
 * `options` with the vault added. The vault builds its S3 client on first use (not at import: a frozen
 * init would hold a stale credential); the result store (results too big for an event) borrows it, so a
 * container has one connection pool and one set of credentials, not two, and it uses the S3 client
 * package the vault bundles.
 */
export function withVault(
  options: FamilyHandlerOptions,
): FamilyHandlerOptions & Required<Pick<FamilyHandlerOptions, 's3Api'>> {
  return {
    s3Api: bundledS3Api,
    vault: (settings, logger) => {
      if (settings.vaultBucket === undefined) return undefined;
      const client = options.s3Client;
      const common = { spoolMaxBytes: settings.vaultSpoolMaxBytes, logger };
      return new Vault(
        client
          ? { bucket: settings.vaultBucket, client, ...common }
          : { bucket: settings.vaultBucket, ...common },
      );
    },
    ...options,
  };
}
