import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { RunVault } from '../../../cli/vault.ts';
import type { ActionContext } from '../../../shared/actions/types.ts';
import type { TaniumClient } from '../../../shared/tanium/client.ts';
import { VaultError } from '../../../shared/tanium/errors.ts';

const sample = () => Readable.from([Buffer.from('malware sample')]);

/** An action's context as the run gives it, before the vault is attached. */
const context = (): ActionContext => ({
  client: {} as TaniumClient,
  deadline: Date.now() + 60_000,
  requestId: 'cli-1',
});

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

  it('is stopped when the run is interrupted after it opened it', async () => {
    // Prepare
    const run = new RunVault();
    const { vault } = run.open({ VAULT_BUCKET: 'vault-unit' });

    // Act
    run.stop();
    const store = await vault
      .storeEvidence(sample(), { fileName: 'a.exe' }, { maxBytes: 1024 })
      .catch((e: unknown) => e);

    // Assess
    expect(store).toMatchObject({ kind: 'vault', message: 'The vault was stopped: this process is exiting' });
  });

  it('refuses to open without VAULT_BUCKET, naming it', () => {
    // Act / Assess
    expect(() => new RunVault().open({ GET_FILE_MAX_BYTES: '2048' })).toThrow(
      expect.objectContaining({
        kind: 'config',
        message: 'VAULT_BUCKET is not set: the vault bucket is needed to store files',
      }),
    );
  });

  it('gives an action one vault, read from its settings only when the action uses it', () => {
    // Prepare: a bad cap, which only an action that reads the vault hears about
    const ctx = context();
    const bad = context();

    // Act
    new RunVault().attachTo(ctx, { VAULT_BUCKET: 'vault-unit', GET_FILE_MAX_BYTES: '300' });
    new RunVault().attachTo(bad, { VAULT_BUCKET: 'vault-unit', GET_FILE_MAX_BYTES: 'abc' });

    // Assess
    expect(ctx.getFileMaxBytes).toBe(300);
    const first = ctx.vault;
    expect(ctx.vault).toBe(first); // opened once, not on every read
    expect(() => bad.vault).toThrow(/GET_FILE_MAX_BYTES/);
  });

  it('stores in the bucket VAULT_BUCKET names', async () => {
    // Prepare: an S3 that refuses every request
    const s3 = mockClient(S3Client);
    s3.onAnyCommand().rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    try {
      const { vault } = new RunVault().open({ VAULT_BUCKET: 'vault-unit' });

      // Act
      const store = await vault
        .storeEvidence(sample(), { fileName: 'a.exe' }, { maxBytes: 1024 })
        .catch((e: unknown) => e);

      // Assess
      expect(store).toBeInstanceOf(VaultError);
      const buckets = s3.calls().map((call) => (call.args[0].input as { Bucket?: string }).Bucket);
      expect(buckets.length).toBeGreaterThan(0);
      expect(new Set(buckets)).toEqual(new Set(['vault-unit']));
    } finally {
      s3.restore();
    }
  });
});
