import { loadVaultSettings } from '../shared/config/settings.ts';
import { ConfigError } from '../shared/tanium/errors.ts';
import { Vault } from '../shared/vault/vault.ts';

let shared: Vault | undefined;
let stopped = false;

/**
 * Stops the stores of the vault cliVault made (see Vault.stopAll), and of the one it makes later: a CLI
 * run interrupted while it still read its credentials builds its vault after the signal.
 */
export function stopCliVault(): void {
  stopped = true;
  shared?.stopAll();
}

/** The run's vault over VAULT_BUCKET (and VAULT_SPOOL_MAX_BYTES), created on first use. */
export function cliVault(env: NodeJS.ProcessEnv = process.env): Vault {
  if (shared) return shared;
  const settings = loadVaultSettings(env);
  if (!settings.vaultBucket) {
    throw new ConfigError('VAULT_BUCKET is not set: the vault bucket is needed to store files');
  }
  shared = new Vault({ bucket: settings.vaultBucket, spoolMaxBytes: settings.vaultSpoolMaxBytes });
  if (stopped) shared.stopAll();
  return shared;
}
