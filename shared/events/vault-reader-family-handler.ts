import type { Family } from '../actions/types.ts';
import { VaultReader } from '../vault/vault-reader.ts';
import { buildFamilyHandler, type FamilyHandler } from './handler-factory.ts';
import type { FamilyHandlerOptions } from './runtime.ts';
import { withVaultBuiltBy } from './vault-options.ts';

/**
 * The family handler with a vault that only reads (`VAULT_BUCKET`): the entry point of the intel
 * function, whose upload intel doc reads documents stored by get file. Its bundle holds the S3 client
 * but none of the store code (lib-storage, the archive reader, the hashing worker).
 */
export function createFamilyHandler(family: Family, options: FamilyHandlerOptions = {}): FamilyHandler {
  return buildFamilyHandler(family, withVaultReader(options));
}

/** `options` with the vault that reads (see withVaultBuiltBy). */
export function withVaultReader(options: FamilyHandlerOptions): ReturnType<typeof withVaultBuiltBy> {
  return withVaultBuiltBy(options, ({ bucket, client }) =>
    client ? new VaultReader({ bucket, client }) : new VaultReader({ bucket }),
  );
}
