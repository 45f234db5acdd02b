import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Vault } from '../../../shared/vault/vault.ts';
import { failure } from '../../helpers/failure.ts';

/**
 * Spool files open through a gate the test holds: under load the thread pool may open a file only after
 * the call that asked for it has failed and moved on.
 */
const gate = vi.hoisted(() => {
  let release: () => void = () => undefined;
  let requested: () => void = () => undefined;
  let opened: () => void = () => undefined;
  return {
    open: new Promise<void>((resolve) => (release = resolve)),
    release: () => release(),
    requested: new Promise<void>((resolve) => (requested = resolve)),
    markRequested: () => requested(),
    opened: new Promise<void>((resolve) => (opened = resolve)),
    markOpened: () => opened(),
  };
});

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const gatedOpen = (...args: Parameters<typeof fs.open>) => {
    const callback = args.at(-1) as (error: NodeJS.ErrnoException | null, fd: number) => void;
    const [path, flags, mode] = args as unknown as [string, string, number];
    gate.markRequested();
    void gate.open.then(() =>
      fs.open(path, flags, mode, (error, fd) => {
        gate.markOpened();
        callback(error, fd);
      }),
    );
  };
  return {
    ...fs,
    createWriteStream: (path: string, options: Parameters<typeof fs.createWriteStream>[1] & object) =>
      fs.createWriteStream(path, {
        ...options,
        fs: { open: gatedOpen, write: fs.write, writev: fs.writev, close: fs.close },
      }),
  };
});

describe('Vault: a spool file still opening when its data fails', () => {
  let spoolDir: string;

  beforeEach(() => {
    spoolDir = mkdtempSync(join(tmpdir(), 'vault-spool-open-'));
  });
  afterEach(() => {
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it('is removed once it is open, not before: nothing is left in the spool', async () => {
    // Prepare: a source that has already failed
    const failing = new Readable({ read() {} });
    failing.destroy(new Error('upstream reset'));
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const vault = new Vault({ bucket: 'vault-unit', client, spoolDir });

    // Act: the file opens only after the data failed, and after the call ended if it does not wait
    const store = failure(vault.storeEvidence(failing, { fileName: 'x.bin' }, { maxBytes: 1024 }));
    await gate.requested;
    await Promise.race([store, new Promise((resolve) => setTimeout(resolve, 200))]);
    gate.release();
    const error = await store;
    await gate.opened;
    // The stream closes the file it opened on its own: give that its turn
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(error.message).toBe('upstream reset');
    expect(readdirSync(spoolDir)).toEqual([]);
  });
});
