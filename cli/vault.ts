import type { ActionContext } from '../shared/actions/types.ts';
import type { Env } from '../shared/config/environment.ts';
import { loadVaultSettings } from '../shared/config/settings.ts';
import { ConfigError } from '../shared/tanium/errors.ts';
import { Vault } from '../shared/vault/vault.ts';

/** The vault of a run and the get file cap that goes with it, read together from one environment. */
/** A CLI run's vault stores and reads: the run may be any action. */
type OpenedVault = { vault: Vault } & Required<Pick<ActionContext, 'getFileMaxBytes'>>;

/**
 * The vault of one CLI run: opened when its action needs one, stopped when the run is interrupted (see
 * Vault.stopAll), also if that happens before it is opened: a run interrupted while it still read its
 * credentials opens its vault after the signal.
 */
export class RunVault {
  private vault: Vault | undefined;
  private stopped = false;

  /**
   * The vault over VAULT_BUCKET (and VAULT_SPOOL_MAX_BYTES), with the GET_FILE_MAX_BYTES get file
   * applies: the settings the evidence function reads, read the same way.
   */
  open(env: Env): OpenedVault {
    const settings = loadVaultSettings(env);
    if (!settings.vaultBucket) {
      throw new ConfigError('VAULT_BUCKET is not set: the vault bucket is needed to store files');
    }
    this.vault = new Vault({ bucket: settings.vaultBucket, spoolMaxBytes: settings.vaultSpoolMaxBytes });
    if (this.stopped) this.vault.stopAll();
    return { vault: this.vault, getFileMaxBytes: settings.getFileMaxBytes };
  }

  /**
   * Gives `ctx` the vault and its get file cap, opened (their settings read) only when an action reads
   * them: a vault setting, even a bad one, is no concern of an action that does not use the vault.
   */
  attachTo(ctx: ActionContext, env: Env): void {
    let opened: OpenedVault | undefined;
    const open = () => {
      opened ??= this.open(env);
      return opened;
    };
    Object.defineProperties(ctx, {
      vault: { get: () => open().vault, enumerable: true, configurable: true },
      getFileMaxBytes: { get: () => open().getFileMaxBytes, enumerable: true, configurable: true },
    });
  }

  stop(): void {
    this.stopped = true;
    this.vault?.stopAll();
  }
}
