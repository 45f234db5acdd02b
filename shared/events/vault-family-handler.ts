import type { Family } from '../actions/types.ts';
import { Vault } from '../vault/vault.ts';
import { buildFamilyHandler, type FamilyHandler } from './handler-factory.ts';
import type { FamilyHandlerOptions } from './runtime.ts';
import { withVaultBuiltBy } from './vault-options.ts';

/**
 * The family handler with the S3 vault (`VAULT_BUCKET`) in every action context: the entry point of the
 * evidence function, whose get file stores files in it. It is a separate module so that only that
 * bundle carries the vault's store code and lib-storage.
 */
export function createFamilyHandler(family: Family, options: FamilyHandlerOptions = {}): FamilyHandler {
  return buildFamilyHandler(family, withVault(options));
}

/** `options` with the vault that stores and reads (see withVaultBuiltBy). */
export function withVault(options: FamilyHandlerOptions): ReturnType<typeof withVaultBuiltBy> {
  return withVaultBuiltBy(
    options,
    ({ settings, ...parts }) => new Vault({ ...parts, spoolMaxBytes: settings.vaultSpoolMaxBytes }),
  );
}
