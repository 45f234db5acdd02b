import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RunVault } from '../../../cli/vault.ts';

const sample = () => Readable.from([Buffer.from('malware sample')]);

describe('The vault of a CLI run', () => {
  it('is stopped when the run was interrupted before it opened it', async () => {
    // Act: the signal comes while the run still reads its credentials; the vault is opened afterwards
    const run = new RunVault();
    run.stop();
    const { vault, getFileMaxBytes } = run.open({ VAULT_BUCKET: 'vault-unit', GET_FILE_MAX_BYTES: '2048' });
    const store = await vault
      .storeEvidence(sample(), { fileName: 'a.exe' }, { maxBytes: 1024 })
      .catch((e: unknown) => e);

    // Assess
    expect(store).toMatchObject({ kind: 'vault', message: 'The vault was stopped: this process is exiting' });
    expect(getFileMaxBytes).toBe(2048);
  });

  it('belongs to its run: another run is not stopped by this one', async () => {
    // Act: a sample over the cap, which a running vault refuses by its size before any S3 call
    const interrupted = new RunVault();
    interrupted.stop();
    const next = new RunVault().open({ VAULT_BUCKET: 'vault-b', GET_FILE_MAX_BYTES: '200' });
    const store = await next.vault
      .storeEvidence(sample(), { fileName: 'a.exe' }, { maxBytes: 4 })
      .catch((e: unknown) => e);

    // Assess
    expect(store).toMatchObject({ kind: 'too_large' });
    expect(next.getFileMaxBytes).toBe(200);
  });
});
