import type { ActionContext } from '../shared/actions/types.ts';
import { loadVaultSettings } from '../shared/config/settings.ts';
import { ConfigError } from '../shared/tanium/errors.ts';
import { Vault } from '../shared/vault/vault.ts';

/** The vault of a run and the get file cap that goes with it, read together from one environment. */
type RunVault = Required<Pick<ActionContext, 'vault' | 'getFileMaxBytes'>>;

let shared: { vault: RunVault; from: string } | undefined;
let stopped = false;

/**
 * Stops the stores of the vault cliVault made (see Vault.stopAll), and of the one it makes later: a CLI
 * run interrupted while it still read its credentials builds its vault after the signal.
 */
export function stopCliVault(): void {
  stopped = true;
  shared?.vault.vault.stopAll();
}

/**
 * The run's vault over VAULT_BUCKET (and VAULT_SPOOL_MAX_BYTES), created on first use, with the
 * GET_FILE_MAX_BYTES get file applies: the settings the evidence function reads, read the same way. A
 * later run in the same process with other settings gets a vault of its own.
 */
export function cliVault(env: NodeJS.ProcessEnv = process.env): RunVault {
  const settings = loadVaultSettings(env);
  const from = JSON.stringify(settings);
  if (shared?.from === from) return shared.vault;
  if (!settings.vaultBucket) {
    throw new ConfigError('VAULT_BUCKET is not set: the vault bucket is needed to store files');
  }
  const vault = new Vault({ bucket: settings.vaultBucket, spoolMaxBytes: settings.vaultSpoolMaxBytes });
  if (stopped) vault.stopAll();
  shared = { vault: { vault, getFileMaxBytes: settings.getFileMaxBytes }, from };
  return shared.vault;
}
