import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { cliVault, stopCliVault } from '../../../cli/vault.ts';

describe('The vault of a CLI run', () => {
  it('is stopped when the run was interrupted before it built one', async () => {
    // Act: the signal comes while the run still reads its credentials; the vault is built afterwards
    stopCliVault();
    const { vault, getFileMaxBytes } = cliVault({ VAULT_BUCKET: 'vault-unit', GET_FILE_MAX_BYTES: '2048' });
    const store = await vault
      .storeEvidence(
        Readable.from([Buffer.from('malware sample')]),
        { fileName: 'a.exe' },
        { maxBytes: 1024 },
      )
      .catch((e: unknown) => e);

    // Assess
    expect(store).toMatchObject({ kind: 'vault', message: 'The vault was stopped: this process is exiting' });
    expect(getFileMaxBytes).toBe(2048);
  });

  it('is the same for runs with the same settings, and another for runs with other settings', () => {
    // Act
    const first = cliVault({ VAULT_BUCKET: 'vault-a', GET_FILE_MAX_BYTES: '100' });
    const again = cliVault({ VAULT_BUCKET: 'vault-a', GET_FILE_MAX_BYTES: '100' });
    const other = cliVault({ VAULT_BUCKET: 'vault-b', GET_FILE_MAX_BYTES: '200' });

    // Assess
    expect(again).toBe(first);
    expect(other.vault).not.toBe(first.vault);
    expect(other.getFileMaxBytes).toBe(200);
  });
});
