import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TooLargeError, VaultError } from '../../../shared/tanium/errors.ts';
import { ArchiveError } from '../../../shared/vault/errors.ts';
import { buildMetadata, decodeMetadataValue } from '../../../shared/vault/metadata.ts';
import { resultKey, S3ResultStore } from '../../../shared/vault/result-store.ts';
import { bundledS3Api } from '../../../shared/vault/s3-api.ts';
import { Vault, type VaultOptions } from '../../../shared/vault/vault.ts';
import { buildZip } from '../../emulator/zip.ts';
import { hexDigest } from '../../helpers/digests.ts';
import { failure } from '../../helpers/failure.ts';
import { useMotoBucket } from '../../helpers/s3.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { chunked, sampleText, ZipWorkspace } from '../../unit/vault/zip-fixtures.ts';

const BUCKET = 'vault-test';
const MiB = 1024 * 1024;

const digest = hexDigest;

/** The items a store returned, or the error it failed with, for assertions that depend on the mode. */
function settled<T>(work: Promise<T>): Promise<{ items: T } | { error: Error }> {
  return work.then(
    (items) => ({ items }),
    (error: unknown) => ({ error: error as Error }),
  );
}
/**
 * A client of the same moto whose first HEAD of each key misses: a vault using it acts as a request whose
 * check ran just before another request stored the same bytes, which the HEAD after its refused
 * conditional write then finds.
 */
function clientMissingFirstHeads(endpoint: () => string): S3Client {
  const client = new S3Client({
    endpoint: async () => ({ url: new URL(endpoint()) }),
    forcePathStyle: true,
    region: 'us-east-1',
  });
  const seen = new Set<string>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      if (context.commandName !== 'HeadObjectCommand' || seen.has(key)) return next(args);
      seen.add(key);
      throw s3ServiceError('NotFound', 404, 'Not Found');
    },
    { step: 'initialize', name: 'missingFirstHeads' },
  );
  return client;
}

describe.each([
  ['spooled to local storage, then uploaded to vault/<sha1>', {}],
  ['streamed through incoming/, then copied to vault/<sha1>', { spoolMaxBytes: 0 }],
] as const)('Vault: S3 evidence store (moto), %s', (_mode, modeOptions: Partial<VaultOptions>) => {
  const { s3, endpoint } = useMotoBucket(BUCKET);
  const workspace = new ZipWorkspace();
  const files: Record<string, Buffer> = {};
  let archive: Buffer;
  const spoolDir = mkdtempSync(join(tmpdir(), 'vault-spool-'));

  const vault = (options: Partial<VaultOptions> = {}) =>
    new Vault({ bucket: BUCKET, client: s3, spoolDir, ...modeOptions, ...options });

  async function bucketState(): Promise<{ keys: string[]; uploads: number }> {
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    return {
      keys: (objects.Contents ?? []).map((object) => object.Key!).sort(),
      uploads: uploads.Uploads?.length ?? 0,
    };
  }

  async function objectBytes(key: string): Promise<Buffer> {
    const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  }

  beforeAll(async () => {
    files['report.txt'] = sampleText(200_000);
    // Over one 5 MiB part, so this entry goes up as a real multipart upload.
    files['dump.bin'] = randomBytes(6 * MiB);
    files['résumé.txt'] = Buffer.from('non-ASCII name\n');
    for (const [name, data] of Object.entries(files)) workspace.file(name, data);
    archive = workspace.zip('evidence.zip', ['-P', 'infected', 'evidence.zip', ...Object.keys(files)]);
  });

  afterAll(async () => {
    workspace.remove();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  afterEach(() => {
    // Whatever happened, no spooled file outlives the call that wrote it. A leftover is removed after
    // the check, so only the test that left it fails.
    const left = readdirSync(spoolDir);
    for (const name of left) rmSync(join(spoolDir, name), { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it('stores every entry of an encrypted archive as vault/<sha1> with hashes and metadata', async () => {
    // Act
    const items = await vault({ partSize: 5 * MiB }).storeArchive(chunked(archive, 16_384), {
      archiveName: 'evidence.zip',
      fileId: 'f0e1d2c3-0000-4000-8000-000000000001',
      host: 'host-1.example',
      remotePath: 'C:\\Users\\Bob\\Desktop\\évidence',
      requestId: 'req-1',
      maxBytes: 64 * MiB,
    });

    // Assess
    expect(items.map((item) => item.name)).toEqual(['report.txt', 'dump.bin', 'résumé.txt']);
    for (const item of items) {
      const original = files[item.name]!;
      const sha1 = digest('sha1', original);
      expect(item).toEqual({
        vault_id: sha1,
        name: item.name,
        size: original.length,
        hash: sha1,
        sha1,
        sha256: digest('sha256', original),
        md5: digest('md5', original),
        archive_name: 'evidence.zip',
        archive_size: archive.length,
        file_id: 'f0e1d2c3-0000-4000-8000-000000000001',
        mime_type: 'application/octet-stream',
        metadata: {
          sha1,
          sha256: digest('sha256', original),
          md5: digest('md5', original),
          size: original.length,
          archive_size: archive.length,
          contains: [],
          action: 'get file',
        },
        bucket: BUCKET,
        key: `vault/${sha1}`,
        already_stored: false,
        is_archive: false,
      });
      expect((await objectBytes(item.key)).equals(original)).toBe(true);
    }
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: items[2]!.key }));
    const metadata = Object.fromEntries(
      Object.entries(head.Metadata ?? {}).map(([key, value]) => [key, decodeMetadataValue(value)]),
    );
    expect(metadata).toMatchObject({
      'file-name': 'résumé.txt',
      size: String(files['résumé.txt']!.length),
      sha256: items[2]!.sha256,
      md5: items[2]!.md5,
      'file-id': 'f0e1d2c3-0000-4000-8000-000000000001',
      host: 'host-1.example',
      'remote-path': 'C:\\Users\\Bob\\Desktop\\évidence',
      'request-id': 'req-1',
      action: 'get file',
    });
    expect(head.Metadata!['file-name']).toBe('r%C3%A9sum%C3%A9.txt');
    expect(await bucketState()).toEqual({ keys: items.map((item) => item.key).sort(), uploads: 0 });
  });

  it('keeps the spaces at either end of a file name through S3 metadata', async () => {
    // Prepare: HTTP trims a header value, and user metadata travels in headers
    const name = '  rule.yara ';

    // Act
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'vault/x',
        Body: 'x',
        Metadata: buildMetadata({ fileName: name }),
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'vault/x' }));

    // Assess
    expect(decodeMetadataValue(head.Metadata?.['file-name'])).toBe(name);
  });

  it('stores the same content once and reports it as already stored the second time', async () => {
    // Prepare
    const options = { archiveName: 'evidence.zip', fileId: 'id-1', requestId: 'first', maxBytes: 64 * MiB };
    const first = await vault().storeArchive(chunked(archive), options);
    const before = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: first[0]!.key }));

    // Act
    const second = await vault().storeArchive(chunked(archive), { ...options, requestId: 'second' });

    // Assess
    const after = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: first[0]!.key }));
    expect(second.map((item) => item.already_stored)).toEqual([true, true, true]);
    expect(second.map((item) => item.vault_id)).toEqual(first.map((item) => item.vault_id));
    expect(after.ETag).toBe(before.ETag);
    expect(after.LastModified).toEqual(before.LastModified);
    expect(after.Metadata!['request-id']).toBe('first');
    expect(await bucketState()).toEqual({ keys: first.map((item) => item.key).sort(), uploads: 0 });
  });

  it.each([
    ['found by the check before the write', false],
    ['stored after the check, found when the conditional write is refused', true],
  ])(
    'fails a file whose SHA-1 names an object of other bytes, %s, and leaves that object alone',
    async (_case, racing) => {
      // Prepare: another file with report.txt's SHA-1 (a collision someone made) is already in the vault
      const report = files['report.txt']!;
      const key = `vault/${digest('sha1', report)}`;
      const twinSha256 = 'ab'.repeat(32);
      await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: key,
          Body: 'other bytes',
          Metadata: { sha256: twinSha256 },
        }),
      );
      const client = racing ? clientMissingFirstHeads(endpoint) : s3;

      // Act
      const outcome = await settled(
        vault({ client, partSize: 5 * MiB, multipartCopyThreshold: 0 })
          .storeArchive(chunked(archive), {
            archiveName: 'evidence.zip',
            fileId: 'id-twin',
            requestId: 'twin',
            maxBytes: 64 * MiB,
          })
          .finally(() => racing && client.destroy()),
      );

      // Assess: reported stored, its result would give report.txt's hashes for the other bytes
      expect(outcome).toEqual({ error: expect.any(VaultError) });
      const error = (outcome as { error: VaultError }).error;
      expect(error.message).toBe(
        `Error occurred while adding the file to vault. Another file with the same SHA-1 is already stored at ${key} (SHA-256 ${twinSha256}; this file's is ${digest('sha256', report)}): the file was not stored`,
      );
      expect(error.info).toEqual({ kind: 'vault', retryable: false });
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(head.Metadata).toEqual({ sha256: twinSha256 });
      expect((await bucketState()).uploads).toBe(0);
    },
  );

  it('leaves alone the object another request stored after the check, and reports it as already stored', async () => {
    // Prepare: the first request stores the files; the second one's HEADs then miss them, as when both
    // checked before either wrote. 5 MiB parts and multipart copies, so dump.bin goes up as a multipart
    // upload and every copy completes one (moto ignores If-None-Match on CopyObject; the unit tests cover it).
    const options = { archiveName: 'evidence.zip', fileId: 'id-17', requestId: 'first', maxBytes: 64 * MiB };
    const first = await vault().storeArchive(chunked(archive), options);
    const before = await Promise.all(
      first.map((item) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: item.key }))),
    );
    const racing = clientMissingFirstHeads(endpoint);

    // Act
    const second = await vault({ client: racing, partSize: 5 * MiB, multipartCopyThreshold: 0 })
      .storeArchive(chunked(archive), { ...options, requestId: 'second' })
      .finally(() => racing.destroy());

    // Assess
    const after = await Promise.all(
      first.map((item) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: item.key }))),
    );
    expect(second.map((item) => item.already_stored)).toEqual([true, true, true]);
    expect(second.map((item) => item.vault_id)).toEqual(first.map((item) => item.vault_id));
    expect(after.map((head) => head.ETag)).toEqual(before.map((head) => head.ETag));
    expect(after.map((head) => head.Metadata!['request-id'])).toEqual(['first', 'first', 'first']);
    expect(await bucketState()).toEqual({ keys: first.map((item) => item.key).sort(), uploads: 0 });
  });

  it('aborts the multipart upload and leaves nothing when an entry is over the limit', async () => {
    // Prepare: 12 MB of text deflates to far less than the limit, but extracts above it
    workspace.file('huge.txt', sampleText(12 * MiB));
    const big = workspace.zip('huge.zip', ['-P', 'infected', 'huge.zip', 'huge.txt']);
    expect(big.length).toBeLessThan(11 * MiB);

    // Act
    const error = await failure(
      vault({ partSize: 5 * MiB }).storeArchive(chunked(big, 65_536), {
        archiveName: 'huge.zip',
        fileId: 'id-2',
        maxBytes: 11 * MiB,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(
      `File is larger than the maximum of ${11 * MiB} bytes allowed by GET_FILE_MAX_BYTES`,
    );
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('fails an archive whose files total more than the limit, each under it, and leaves no partial upload', async () => {
    // Prepare: three 6 MiB text files deflate to far less than the limit; the third takes the total over
    // it after more than one 5 MiB part
    const names = ['bomb-1.txt', 'bomb-2.txt', 'bomb-3.txt'];
    const contents = names.map((name) => {
      const content = sampleText(6 * MiB);
      workspace.file(name, content);
      return content;
    });
    const bomb = workspace.zip('bomb.zip', ['-P', 'infected', 'bomb.zip', ...names]);
    const limit = 17.5 * MiB;
    expect(bomb.length).toBeLessThan(limit);

    // Act
    const error = await failure(
      vault({ partSize: 5 * MiB }).storeArchive(chunked(bomb, 65_536), {
        archiveName: 'bomb.zip',
        fileId: 'id-15',
        maxBytes: limit,
      }),
    );

    // Assess: the first two files completed before the limit and stay (immutable, content-addressed)
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(
      `Files extracted from the archive total more than the maximum of ${limit} bytes allowed by GET_FILE_MAX_BYTES`,
    );
    expect(await bucketState()).toEqual({
      keys: contents
        .slice(0, 2)
        .map((content) => `vault/${digest('sha1', content)}`)
        .sort(),
      uploads: 0,
    });
  });

  it('applies the limit over all files with keep=archive too, and keeps no archive', async () => {
    // Prepare
    const names = ['bomb-a.txt', 'bomb-b.txt'];
    for (const name of names) workspace.file(name, sampleText(2 * MiB));
    const bomb = workspace.zip('bomb-archive.zip', ['-P', 'infected', 'bomb-archive.zip', ...names]);

    // Act
    const error = await failure(
      vault().storeArchive(chunked(bomb, 65_536), {
        archiveName: 'bomb-archive.zip',
        fileId: 'id-16',
        maxBytes: 3 * MiB,
        keep: 'archive',
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toMatch(/^Files extracted from the archive total more than the maximum of /);
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('rejects an archive whose Content-Length is over the limit before reading it', async () => {
    // Prepare
    const body = Readable.from(chunked(archive));

    // Act
    const error = await failure(
      vault().storeArchive(body, {
        archiveName: 'e.zip',
        fileId: 'id',
        maxBytes: 1000,
        contentLength: archive.length,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(body.destroyed).toBe(true);
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('propagates an upstream error mid-body and leaves no object or upload behind', async () => {
    // Prepare: stop inside dump.bin, after more than one part has been sent
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const cut = archive.indexOf(Buffer.from('dump.bin')) + 5.5 * MiB;
    async function* body(): AsyncGenerator<Uint8Array> {
      yield* chunked(archive.subarray(0, cut), 65_536);
      throw reset;
    }

    // Act
    const error = await failure(
      vault({ partSize: 5 * MiB }).storeArchive(body(), {
        archiveName: 'evidence.zip',
        fileId: 'id-3',
        maxBytes: 64 * MiB,
        keep: 'both',
      }),
    );

    // Assess: report.txt completed before the reset and stays (immutable, content-addressed)
    expect(error).toBe(reset);
    const state = await bucketState();
    expect(state.uploads).toBe(0);
    expect(state.keys).toEqual([`vault/${digest('sha1', files['report.txt']!)}`]);
  });

  it('fails with a clear error and stores nothing for a wrong password', async () => {
    // Act
    const error = await failure(
      vault().storeArchive(chunked(archive), {
        archiveName: 'evidence.zip',
        fileId: 'id-4',
        maxBytes: 64 * MiB,
        password: 'wrong',
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toMatch(/^Error while creating file\. /);
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('fails when the archive holds no file', async () => {
    // Prepare
    mkdirSync(join(workspace.dir, 'empty-dir'));
    const onlyDirectory = workspace.zip('dir.zip', ['-P', 'infected', 'dir.zip', 'empty-dir']);

    // Act
    const error = await failure(
      vault().storeArchive(chunked(onlyDirectory), { archiveName: 'dir.zip', fileId: 'id-5', maxBytes: MiB }),
    );

    // Assess
    expect(error.message).toBe('Error while creating file. The archive contains no file');
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it.each([
    ['three files against a limit of two', { maxArchiveEntries: 2 }, async () => archive, 2],
    [
      '1,001 folders against the default limit',
      {},
      () =>
        buildZip(
          Array.from({ length: 1001 }, (_, i) => ({
            name: `folder-${i}/`,
            method: 'store' as const,
            encryption: 'none' as const,
            dataDescriptor: false,
            mtime: new Date('2024-01-15T10:00:00Z'),
          })),
        ),
      1000,
    ],
  ])('fails an archive with more entries than the vault extracts: %s', async (_case, options, zip, limit) => {
    // Act
    const error = await failure(
      vault(options).storeArchive(chunked(await zip()), {
        archiveName: 'evidence.zip',
        fileId: 'id-14',
        maxBytes: 64 * MiB,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toBe(
      `Error while creating file. The archive holds more than ${limit} entries, more than get file extracts`,
    );
    expect((await bucketState()).uploads).toBe(0);
  });

  it('keeps the original archive as well when the policy is both', async () => {
    // Act
    const items = await vault().storeArchive(chunked(archive), {
      archiveName: 'evidence.zip',
      fileId: 'id-6',
      maxBytes: 64 * MiB,
      keep: 'both',
    });

    // Assess
    expect(items.map((item) => [item.name, item.is_archive])).toEqual([
      ['report.txt', false],
      ['dump.bin', false],
      ['résumé.txt', false],
      ['evidence.zip', true],
    ]);
    const archiveItem = items[3]!;
    expect(archiveItem.vault_id).toBe(digest('sha1', archive));
    expect(archiveItem.size).toBe(archive.length);
    expect(archiveItem.md5).toBe(digest('md5', archive));
    expect((await objectBytes(archiveItem.key)).equals(archive)).toBe(true);
    expect((await bucketState()).keys).toHaveLength(4);
  });

  it('keeps only the archive when the policy is archive, after checking it', async () => {
    // Act
    const items = await vault().storeArchive(chunked(archive), {
      archiveName: 'evidence.zip',
      fileId: 'id-7',
      maxBytes: 64 * MiB,
      keep: 'archive',
    });
    const wrong = await failure(
      vault().storeArchive(chunked(archive), {
        archiveName: 'evidence.zip',
        fileId: 'id-7',
        maxBytes: 64 * MiB,
        keep: 'archive',
        password: 'wrong',
      }),
    );

    // Assess
    expect(items.map((item) => [item.name, item.vault_id, item.already_stored])).toEqual([
      ['evidence.zip', digest('sha1', archive), false],
    ]);
    expect(wrong).toBeInstanceOf(ArchiveError);
    expect(await bucketState()).toEqual({ keys: [`vault/${digest('sha1', archive)}`], uploads: 0 });
  });

  it('copies large objects with UploadPartCopy above the copy threshold', async () => {
    // Act
    const items = await vault({
      multipartCopyThreshold: MiB,
      copyPartSize: 5 * MiB,
      spoolMaxBytes: 0,
    }).storeArchive(chunked(archive), {
      archiveName: 'evidence.zip',
      fileId: 'id-8',
      maxBytes: 64 * MiB,
    });

    // Assess
    const dump = items.find((item) => item.name === 'dump.bin')!;
    expect((await objectBytes(dump.key)).equals(files['dump.bin']!)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: dump.key }));
    expect(head.Metadata!.sha256).toBe(digest('sha256', files['dump.bin']!));
    expect(await bucketState()).toEqual({ keys: items.map((item) => item.key).sort(), uploads: 0 });
  });

  it('wraps S3 failures as a vault error and stops reading the body', async () => {
    // Prepare
    const body = Readable.from(chunked(archive));

    // Act
    const error = await failure(
      vault({ bucket: 'no-such-bucket' }).storeArchive(body, {
        archiveName: 'evidence.zip',
        fileId: 'id-9',
        maxBytes: 64 * MiB,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(/^Error occurred while adding the file to vault\. NoSuchBucket/);
    expect((error as VaultError).retryable).toBe(false);
    expect(body.destroyed).toBe(true);
  });

  it('wraps an S3 failure met while a file larger than a part still streams as a vault error', async () => {
    // Prepare: more than the parts lib-storage reads ahead, so S3 fails before the body has ended
    const body = Readable.from(Array.from({ length: 40 }, () => randomBytes(MiB)));

    // Act
    const error = await failure(
      vault({ bucket: 'no-such-bucket' }).storeEvidence(
        body,
        { fileName: 'dump.bin' },
        { maxBytes: 64 * MiB },
      ),
    );

    // Assess: S3's own error, not the AbortError of a stream its reader left early
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(/^Error occurred while adding the file to vault\. NoSuchBucket/);
  });

  it('reports a spool it cannot write as a vault error and leaves nothing behind', async () => {
    // Prepare: a spool directory that does not exist (in streamed mode the spool is not used at all)
    const unwritable = vault({ spoolDir: join(spoolDir, 'missing', 'dir') });

    // Act
    const result = await settled(
      unwritable.storeArchive(chunked(archive), {
        archiveName: 'evidence.zip',
        fileId: 'id-10',
        maxBytes: 64 * MiB,
      }),
    );

    // Assess
    if (modeOptions.spoolMaxBytes === 0) {
      expect('items' in result && result.items).toHaveLength(3);
    } else {
      expect('error' in result && result.error).toBeInstanceOf(VaultError);
      expect('error' in result && result.error.message).toMatch(
        /^Error occurred while adding the file to vault\. .*ENOENT/,
      );
      expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
    }
  });

  it('removes spool files left by a process that is gone before spooling, and keeps those of a live one', async () => {
    // Prepare: an invocation killed at its timeout left a large file; a parallel process is still writing
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const stale = join(spoolDir, `tanium-vault-p${gone}-${randomUUID()}`);
    const unheld = join(spoolDir, `tanium-vault-p${process.pid}-${randomUUID()}`);
    const live = join(spoolDir, `tanium-vault-p${process.ppid}-${randomUUID()}`);
    const other = join(spoolDir, 'someone-else.tmp');
    writeFileSync(stale, Buffer.alloc(0));
    truncateSync(stale, 256 * MiB);
    for (const file of [unheld, live, other]) writeFileSync(file, 'x');

    // Act
    const items = await vault().storeArchive(chunked(archive), {
      archiveName: 'evidence.zip',
      fileId: 'id-12',
      maxBytes: 64 * MiB,
    });

    // Assess
    const left = readdirSync(spoolDir).sort();
    for (const file of [live, other]) rmSync(file);
    expect(items).toHaveLength(3);
    if (modeOptions.spoolMaxBytes === 0) {
      for (const file of [stale, unheld]) rmSync(file);
      expect(left).toEqual([stale, unheld, live, other].map((file) => basename(file)).sort());
    } else {
      expect(left).toEqual([basename(live), basename(other)].sort());
    }
  });

  it('stops storing a file at the deadline, retryable, and leaves nothing behind', async () => {
    // Act
    const result = await settled(
      vault().storeArchive(chunked(archive), {
        archiveName: 'evidence.zip',
        fileId: 'id-13',
        maxBytes: 64 * MiB,
        deadline: Date.now() - 1,
      }),
    );

    // Assess
    expect('error' in result && result.error).toBeInstanceOf(VaultError);
    expect('error' in result && result.error.message).toBe(
      'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
    );
    expect('error' in result && result.error).toMatchObject({ retryable: true });
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('reads a vault file back for upload intel doc, with its stored name', async () => {
    // Prepare
    const rule = Buffer.from('rule demo { strings: $a = "evil" condition: $a }\n');
    workspace.file('demo.yara', rule);
    const yaraZip = workspace.zip('yara.zip', ['-P', 'infected', 'yara.zip', 'demo.yara']);
    const [item] = await vault().storeArchive(chunked(yaraZip), {
      archiveName: 'yara.zip',
      fileId: 'id-10',
      maxBytes: MiB,
    });

    // Act
    const read = await vault().readForIntelDoc(item!.vault_id.toUpperCase());

    // Assess
    expect(read.name).toBe('demo.yara');
    expect(read.bytes.equals(rule)).toBe(true);
    expect(read.size).toBe(rule.length);
  });

  it('fails to read a missing vault id, not retryable, and refuses files over the limit', async () => {
    // Prepare
    const missing = 'a'.repeat(40);
    const [item] = await vault().storeArchive(chunked(archive), {
      archiveName: 'evidence.zip',
      fileId: 'id-11',
      maxBytes: 64 * MiB,
    });

    // Act
    const notFound = await failure(vault().readForIntelDoc(missing));
    const tooBig = await failure(vault().readForIntelDoc(item!.vault_id, 1000));

    // Assess
    expect(notFound).toBeInstanceOf(VaultError);
    expect(notFound.message).toBe(
      `Unable to read vault_id ${missing} from the vault: no such file in the vault`,
    );
    expect((notFound as VaultError).retryable).toBe(false);
    expect(tooBig).toBeInstanceOf(TooLargeError);
    expect(tooBig.message).toBe('Intel document is larger than 1000 bytes');
  });

  it('reports a missing bucket as the vault failing with S3 details, not as a missing file', async () => {
    // Prepare: VAULT_BUCKET mistyped, or the bucket deleted; GetObject's 404 then names the bucket
    const id = 'b'.repeat(40);

    // Act
    const error = await failure(vault({ bucket: 'no-such-bucket' }).readForIntelDoc(id));

    // Assess: the deployment's fault, which the ServiceFailures alarm counts
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Unable to read vault_id ${id} from the vault: NoSuchBucket: The specified bucket does not exist (HTTP 404)`,
    );
    expect(error).toMatchObject({ retryable: false, requestFault: false });
  });

  it('stores an oversized action result under results/<encoded requestId>/', async () => {
    // Prepare
    const result = {
      requestId: 'req/42',
      action: 'get events',
      startedAt: '2026-01-01T00:00:00.000Z',
      data: [{ big: 'x'.repeat(1000) }],
    };

    // Act
    const ref = await new S3ResultStore(BUCKET, bundledS3Api, s3).putResult(
      resultKey(result.requestId, JSON.stringify(result)),
      JSON.stringify(result),
    );

    // Assess
    expect(ref).toEqual({
      bucket: BUCKET,
      key: expect.stringMatching(/^results\/req%2F42\/[0-9a-f]{32}\.json$/),
      bytes: JSON.stringify(result).length,
    });
    expect(JSON.parse((await objectBytes(ref.key)).toString('utf8'))).toEqual(result);
  });
});
