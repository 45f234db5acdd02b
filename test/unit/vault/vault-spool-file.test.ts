import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  claimSpoolFile,
  isProcessRunning,
  releaseAllSpoolFiles,
  releaseSpoolFile,
  removeStaleSpoolFiles,
} from '../../../shared/vault/spool.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import { failure } from '../../helpers/failure.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';

const s3 = mockClient(S3Client);

describe('Vault: the spool file', () => {
  let spoolDir: string;

  beforeEach(() => {
    spoolDir = mkdtempSync(join(tmpdir(), 'vault-spool-mode-'));
  });
  /** A vault over the mocked S3 that spools into this test's directory. */
  const spoolingVault = (options: Partial<ConstructorParameters<typeof Vault>[0]> = {}) =>
    new Vault({
      bucket: 'vault-unit',
      client: new S3Client({
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      }),
      spoolDir,
      ...options,
    });
  afterEach(() => {
    s3.reset();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it('is readable by this user only while the extracted file waits in it', async () => {
    // Prepare: look at the spool file while its upload runs; with no umask, only the mode given keeps
    // others out (a umask of 077 would hide a file created 0644)
    const umask = process.umask(0);
    onTestFinished(() => {
      process.umask(umask);
    });
    const modes: number[] = [];
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(PutObjectCommand).callsFake(() => {
      for (const name of readdirSync(spoolDir)) modes.push(statSync(join(spoolDir, name)).mode & 0o777);
      return {};
    });
    const vault = spoolingVault();

    // Act
    await vault.storeEvidence(
      Readable.from([Buffer.from('malware sample')]),
      { fileName: 'a.exe' },
      {
        maxBytes: 1024,
      },
    );

    // Assess: other local users (a CLI run on a shared host) cannot read the evidence
    expect(modes).toEqual([0o600]);
  });

  it.each([
    ['a cap of exactly spoolMaxBytes', 1024, 'vault'],
    ['a cap above spoolMaxBytes', 1025, 'incoming'],
    ['no cap', undefined, 'incoming'],
  ])(
    'takes %s to the right path: uploaded straight to its content address, or streamed through incoming/',
    async (_case, maxBytes, uploadedTo) => {
      // Prepare
      s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
      s3.on(PutObjectCommand).resolves({});
      s3.on(CopyObjectCommand).resolves({});
      s3.on(DeleteObjectCommand).resolves({});
      const vault = spoolingVault({ spoolMaxBytes: 1024 });

      // Act
      const stored = await vault.storeEvidence(
        Readable.from([Buffer.from('malware sample')]),
        { fileName: 'a.exe' },
        { maxBytes },
      );

      // Assess
      const [put] = s3.commandCalls(PutObjectCommand);
      expect(put?.args[0].input.Key?.split('/')[0]).toBe(uploadedTo);
      expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(uploadedTo === 'incoming' ? 1 : 0);
      expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, alreadyStored: false });
    },
  );

  it('is removed by releaseAllSpoolFiles while its upload still runs, as a CLI run stopped by a signal needs', async () => {
    // Prepare: an upload that waits until the test lets it go
    let uploading: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      uploading = resolve;
    });
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(PutObjectCommand).callsFake(async () => {
      uploading();
      await gate;
      return {};
    });
    const vault = spoolingVault();
    const store = vault.storeEvidence(
      Readable.from([Buffer.from('malware sample')]),
      { fileName: 'a.exe' },
      { maxBytes: 1024 },
    );
    await started;
    const held = readdirSync(spoolDir);

    // Act
    await releaseAllSpoolFiles();

    // Assess
    expect(held).toHaveLength(1);
    expect(readdirSync(spoolDir)).toEqual([]);
    finish();
    await store;
  });

  it('aborts the multipart upload and removes the spool file when stopAll stops a store, as a CLI run stopped by a signal needs', async () => {
    // Prepare: a two-part upload whose parts never finish
    let partStarted: () => void = () => undefined;
    const uploading = new Promise<void>((resolve) => {
      partStarted = resolve;
    });
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCommand).callsFake(() => {
      partStarted();
      return new Promise(() => undefined);
    });
    s3.on(AbortMultipartUploadCommand).resolves({});
    const vault = spoolingVault({ partSize: 5 * 1024 * 1024 });
    const store = vault.storeEvidence(
      Readable.from([Buffer.alloc(6 * 1024 * 1024, 1)]),
      { fileName: 'a.exe' },
      { maxBytes: 8 * 1024 * 1024 },
    );
    const outcome = store.then(
      () => 'stored',
      () => 'stopped',
    );
    await uploading;

    // Act
    vault.stopAll();

    // Assess
    expect(await outcome).toBe('stopped');
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({ Bucket: 'vault-unit', UploadId: 'upload-1' }),
    ]);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('stops a store when stopAll comes while its file is still being spooled, storing nothing', async () => {
    // Prepare: the vault is stopped as the last bytes are read into the spool, before anything is sent
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(PutObjectCommand).resolves({});
    const vault = spoolingVault();
    const chunks = [Buffer.from('malware '), Buffer.from('sample')];
    const source = new Readable({
      read() {
        const chunk = chunks.shift();
        if (chunk === undefined) vault.stopAll();
        this.push(chunk ?? null);
      },
    });

    // Act
    const error = await failure(vault.storeEvidence(source, { fileName: 'a.exe' }, { maxBytes: 1024 }));

    // Assess
    expect(error).toMatchObject({
      kind: 'vault',
      retryable: true,
      message:
        'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
    });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('fails a store or read begun after stopAll at once, before reading a byte', async () => {
    // Prepare
    const vault = spoolingVault();
    let read = false;
    const source = new Readable({
      read() {
        read = true;
        this.push(null);
      },
    });
    vault.stopAll();

    // Act
    const store = await vault
      .storeEvidence(source, { fileName: 'a.exe' }, { maxBytes: 1024 })
      .catch((e) => e);
    const intel = await vault.readForIntelDoc('a'.repeat(40)).catch((e) => e);

    // Assess
    for (const error of [store, intel]) {
      expect(error).toMatchObject({
        kind: 'vault',
        retryable: false,
        message: 'The vault was stopped: this process is exiting',
      });
    }
    expect(read).toBe(false);
    expect(s3.calls()).toHaveLength(0);
  });

  it('sweeps the files of a gone process, of no pid, and those of this process no call holds, and keeps the rest', async () => {
    // Prepare: a killed invocation's file, one named before the pid was in the name, one of this process
    // that no call holds, one a parallel live process writes, one this process still holds, someone else's
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const stale = `tanium-vault-p${gone}-${randomUUID()}`;
    const unnumbered = `tanium-vault-${randomUUID()}`;
    const unheld = `tanium-vault-p${process.pid}-${randomUUID()}`;
    const live = `tanium-vault-p${process.ppid}-${randomUUID()}`;
    const other = 'someone-else.tmp';
    const held = claimSpoolFile(spoolDir);
    onTestFinished(() => releaseSpoolFile(held));
    for (const name of [stale, unnumbered, unheld, live, other]) writeFileSync(join(spoolDir, name), 'x');
    writeFileSync(held, 'x');

    // Act
    await removeStaleSpoolFiles(spoolDir);

    // Assess: parallel runs on one machine share the directory
    expect(readdirSync(spoolDir).sort()).toEqual([live, other, basename(held)].sort());
  });

  it('forgets a spool file once released, so a sweep removes it should a late write bring it back', async () => {
    // Prepare
    const file = claimSpoolFile(spoolDir);
    await releaseSpoolFile(file);
    writeFileSync(file, 'x');

    // Act
    await removeStaleSpoolFiles(spoolDir);

    // Assess
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('leaves a spool directory that is not there as it is', async () => {
    // Act
    const sweep = removeStaleSpoolFiles(join(spoolDir, 'missing'));

    // Assess
    await expect(sweep).resolves.toBeUndefined();
  });

  it.each([
    ['this process', () => process.pid, true],
    ['the init process, whoever owns it', () => 1, true],
    ['a process that has exited', () => spawnSync(process.execPath, ['-e', '']).pid, false],
  ])('tells whether %s runs', (_case, pid, running) => {
    // Assess
    expect(isProcessRunning(pid())).toBe(running);
  });

  it('runs a batch of concurrent stores without a listener-leak warning', async () => {
    // Prepare: every store listens for stopAll while it runs
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    onTestFinished(() => {
      process.off('warning', onWarning);
    });
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(PutObjectCommand).resolves({});
    const vault = spoolingVault();

    // Act
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        vault.storeEvidence(
          Readable.from([Buffer.from(`sample ${i}`)]),
          { fileName: `${i}.exe` },
          { maxBytes: 1024 },
        ),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
