import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MIN_SAVE_MS } from '../../../shared/events/idempotency.ts';
import { PUBLISH_MARGIN_MS, PUBLISH_RESERVE_MS } from '../../../shared/events/time-budget.ts';
import { TooLargeError, VaultError } from '../../../shared/tanium/errors.ts';
import { CLEANUP_AFTER_DEADLINE_MS } from '../../../shared/vault/cleanup.ts';
import { ArchiveError } from '../../../shared/vault/errors.ts';
import { resultKey, S3ResultStore } from '../../../shared/vault/result-store.ts';
import { runtimeS3Api } from '../../../shared/vault/runtime-s3-api.ts';
import { bundledS3Api } from '../../../shared/vault/s3-api.ts';
import { Vault, type VaultOptions } from '../../../shared/vault/vault.ts';
import { buildZip } from '../../emulator/zip.ts';
import { digestsOf, hexDigest } from '../../helpers/digests.ts';
import { failure } from '../../helpers/failure.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { sendOptions } from '../../helpers/sdk-mock.ts';

const BUCKET = 'vault-unit';
const MiB = 1024 * 1024;

const s3 = mockClient(S3Client);

/** A streamed vault (no spool) over the mocked client, copying in 5 MiB ranges above 1 MiB. */
function streamedVault(options: Partial<VaultOptions> = {}): Vault {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return new Vault({
    bucket: BUCKET,
    client,
    spoolMaxBytes: 0,
    partSize: 5 * MiB,
    multipartCopyThreshold: MiB,
    copyPartSize: 5 * MiB,
    ...options,
  });
}

/** A zip of one file, encrypted with Tanium's password, as a get file downloads it. */
function oneFileArchive(name: string, data: Buffer): Promise<Buffer> {
  return buildZip([
    {
      name,
      data,
      method: 'store',
      encryption: 'zipcrypto',
      password: 'infected',
      dataDescriptor: false,
      mtime: new Date('2024-01-15T10:00:00Z'),
    },
  ]);
}

function zeros(bytes: number): Readable {
  return Readable.from(
    (function* () {
      for (let left = bytes; left > 0; left -= MiB) yield Buffer.alloc(Math.min(MiB, left));
    })(),
  );
}

beforeEach(() => {
  // The upload to incoming/ goes through; vault/<sha1> does not exist yet.
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
  s3.on(UploadPartCommand).resolves({ ETag: '"part"' });
  s3.on(CompleteMultipartUploadCommand).resolves({});
  s3.on(PutObjectCommand).resolves({});
  s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
  s3.on(DeleteObjectCommand).resolves({});
});

afterEach(() => {
  s3.reset();
});

describe('Vault: S3 calls of the streamed path (mocked S3)', () => {
  it('starts no part copy after one failed and aborts the copy only once every started part settled', async () => {
    // Prepare: 6 ranges, 4 copied at a time; part 2 fails while parts 1, 3 and 4 are still copying
    const events: string[] = [];
    s3.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber: number }) => {
      const part = input.PartNumber;
      events.push(`start ${part}`);
      await sleep(part === 2 ? 5 : 50);
      events.push(`settled ${part}`);
      if (part === 2) throw s3ServiceError('InternalError', 500);
      return { CopyPartResult: { ETag: `"copy-${part}"` } };
    });
    s3.on(AbortMultipartUploadCommand).callsFake(async (input: { Key: string }) => {
      events.push(`abort ${input.Key.split('/')[0]}`);
      return {};
    });

    // Act
    const error = await failure(streamedVault().storeEvidence(zeros(26 * MiB), { fileName: 'big.bin' }));
    // Long enough for any copy still running in the background to finish and take another range.
    await sleep(200);

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Error occurred while adding the file to vault. InternalError: InternalError happened (HTTP 500) (bucket ${BUCKET})`,
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(events.filter((event) => event.startsWith('start')).sort()).toEqual([
      'start 1',
      'start 2',
      'start 3',
      'start 4',
    ]);
    expect(events.slice(-1)).toEqual(['abort vault']);
    expect(events.filter((event) => event.startsWith('settled'))).toHaveLength(4);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input.Key).toMatch(/^incoming\//);
  });

  it.each([
    ['uploads in 8 MiB parts by default', { partSize: undefined }, undefined, UploadPartCommand, 12, 2],
    ["uploads in parts of S3's 5 MiB minimum at least", { partSize: 1 }, undefined, UploadPartCommand, 12, 3],
    ['uploads a cap of 9,000 x 6 MiB in 6 MiB parts', {}, 9000 * 6 * MiB, UploadPartCommand, 12, 2],
    [
      'copies in 512 MiB ranges by default',
      { copyPartSize: undefined },
      undefined,
      UploadPartCopyCommand,
      6,
      1,
    ],
    [
      "copies in ranges of S3's 5 MiB minimum at least",
      { copyPartSize: 1 },
      undefined,
      UploadPartCopyCommand,
      6,
      2,
    ],
  ])('%s', async (_case, options, maxBytes, command, mebibytes, parts) => {
    // Prepare
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"copy"' } });

    // Act
    await streamedVault(options).storeEvidence(zeros(mebibytes * MiB), { fileName: 'big.bin' }, { maxBytes });

    // Assess
    expect(s3.calls().filter((call) => call.args[0] instanceof command)).toHaveLength(parts);
  });

  it('copies a file under the copy threshold in one CopyObject that replaces the metadata of incoming/', async () => {
    // Act
    const stored = await streamedVault().storeEvidence(Readable.from([Buffer.from('evidence')]), {
      fileName: 'a.txt',
    });

    // Assess: without REPLACE, S3 keeps the metadata of incoming/ and drops the hashes the vault checks
    // later; the checksum of incoming/ is a multipart composite, not one of the whole object
    const incoming = s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key;
    const copies = s3.commandCalls(CopyObjectCommand);
    expect(copies.map((call) => call.args[0].input)).toEqual([
      {
        Bucket: BUCKET,
        Key: stored.key,
        CopySource: `${BUCKET}/${incoming}`,
        MetadataDirective: 'REPLACE',
        Metadata: expect.objectContaining({ 'file-name': 'a.txt', sha256: stored.sha256 }),
        ContentType: 'application/octet-stream',
        ChecksumAlgorithm: 'CRC32',
        IfNoneMatch: '*',
      },
    ]);
    expect(sendOptions(copies[0]!)).toEqual({ abortSignal: expect.any(AbortSignal) });
  });

  it.each([
    ['copied from incoming/', {}, CopyObjectCommand, undefined, 'get file'],
    [
      'uploaded from the spool, whose size its cap just fits',
      { spoolMaxBytes: 1024 },
      PutObjectCommand,
      undefined,
      'get file',
    ],
    [
      'copied from incoming/, for another action',
      {},
      CopyObjectCommand,
      'upload intel doc',
      'upload intel doc',
    ],
    [
      'uploaded from the spool, for another action',
      { spoolMaxBytes: MiB },
      PutObjectCommand,
      'upload intel doc',
      'upload intel doc',
    ],
  ] as const)(
    'writes every field of a file %s to the metadata of vault/<sha1> and reports its digests (action %s)',
    async (_case, options, command, action, writtenAction) => {
      // Prepare
      const body = Buffer.from('evidence');
      const metadata = {
        fileName: 'a.txt',
        fileId: 'file-7',
        host: 'host-1',
        remotePath: 'C:\\Temp\\a.txt',
        requestId: 'req-7',
        archiveName: 'a.zip',
        ...(action === undefined ? {} : { action }),
      };

      const logger = { warn: vi.fn() };

      // Act
      const stored = await streamedVault({ ...options, logger }).storeEvidence(
        Readable.from([body]),
        metadata,
        {
          maxBytes: 1024,
        },
      );

      // Assess: one check of vault/<sha1>, which the deadline's signal can stop; the result names the
      // object by its SHA-1, and the object's metadata says what it holds
      const heads = s3.commandCalls(HeadObjectCommand);
      expect(heads.map((call) => [call.args[0].input, sendOptions(call)])).toEqual([
        [{ Bucket: BUCKET, Key: stored.key }, { abortSignal: expect.any(AbortSignal) }],
      ]);
      const digests = digestsOf(body);
      expect(stored).toEqual({
        vaultId: digests.sha1,
        bucket: BUCKET,
        key: `vault/${digests.sha1}`,
        ...digests,
        alreadyStored: false,
      });
      const writes = s3
        .calls()
        .map((call) => call.args[0])
        .filter((sent) => sent instanceof command && sent.input.Key === stored.key);
      // Conditional, so evidence another request stored meanwhile is never replaced
      expect(writes.map((sent) => sent.input)).toEqual([
        expect.objectContaining({
          Bucket: BUCKET,
          IfNoneMatch: '*',
          ContentType: 'application/octet-stream',
        }),
      ]);
      expect(writes.map((sent) => (sent.input as { Metadata?: Record<string, string> }).Metadata)).toEqual([
        {
          'file-name': 'a.txt',
          size: String(body.length),
          sha1: digests.sha1,
          sha256: digests.sha256,
          md5: digests.md5,
          'file-id': 'file-7',
          host: 'host-1',
          'remote-path': 'C:\\Temp\\a.txt',
          'request-id': 'req-7',
          'archive-name': 'a.zip',
          action: writtenAction,
        },
      ]);
      // incoming/, if used, is deleted with a signal that bounds the wait, and nothing is worth a warning
      expect(
        s3
          .commandCalls(DeleteObjectCommand)
          .map((call) => [call.args[0].input.Key?.split('/')[0], sendOptions(call)]),
      ).toEqual(
        command === CopyObjectCommand ? [['incoming', { abortSignal: expect.any(AbortSignal) }]] : [],
      );
      expect(logger.warn).not.toHaveBeenCalled();
    },
  );

  it('copies a file of whole ranges part by part and completes the parts in order, whatever order they finish in', async () => {
    // Prepare: 15 MiB is exactly three 5 MiB ranges, so no empty range may follow the last; the last
    // part finishes first
    s3.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber: number }) => {
      await sleep(60 - 20 * input.PartNumber);
      return { CopyPartResult: { ETag: `"copy-${input.PartNumber}"` } };
    });

    // Act
    const stored = await streamedVault().storeEvidence(zeros(15 * MiB), { fileName: 'big.bin' });

    // Assess
    const incoming = s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key;
    const toVault = (calls: { args: [{ input: { Key?: string } }, unknown?] }[]) =>
      calls.filter((call) => call.args[0].input.Key === stored.key);
    const created = toVault(s3.commandCalls(CreateMultipartUploadCommand));
    const copied = s3.commandCalls(UploadPartCopyCommand);
    const completed = toVault(s3.commandCalls(CompleteMultipartUploadCommand));
    expect(created.map((call) => call.args[0].input)).toEqual([
      {
        Bucket: BUCKET,
        Key: stored.key,
        Metadata: expect.objectContaining({ 'file-name': 'big.bin', sha256: stored.sha256 }),
        ContentType: 'application/octet-stream',
      },
    ]);
    expect(copied.map((call) => call.args[0].input)).toEqual(
      [1, 2, 3].map((part) => ({
        Bucket: BUCKET,
        Key: stored.key,
        UploadId: 'upload-1',
        PartNumber: part,
        CopySource: `${BUCKET}/${incoming}`,
        CopySourceRange: `bytes=${(part - 1) * 5 * MiB}-${part * 5 * MiB - 1}`,
      })),
    );
    // Conditional like the single copy: evidence another request stored meanwhile is never replaced
    expect(completed.map((call) => call.args[0].input)).toEqual([
      {
        Bucket: BUCKET,
        Key: stored.key,
        UploadId: 'upload-1',
        MultipartUpload: { Parts: [1, 2, 3].map((part) => ({ PartNumber: part, ETag: `"copy-${part}"` })) },
        IfNoneMatch: '*',
      },
    ]);
    // The deadline's signal reaches every request of the copy
    for (const call of [...created, ...copied, ...completed]) {
      expect(sendOptions(call)).toEqual({ abortSignal: expect.any(AbortSignal) });
    }
  });

  it('fails the file, copying no part, when S3 starts the multipart copy without an upload id', async () => {
    // Prepare: 2 MiB goes to incoming/ in one PutObject, so the only multipart upload is the copy's
    s3.on(CreateMultipartUploadCommand).resolves({});
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"copy"' } });

    // Act
    const error = await failure(streamedVault().storeEvidence(zeros(2 * MiB), { fileName: 'big.bin' }));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(
      /^Error occurred while adding the file to vault\. S3 started the multipart copy to vault\/[0-9a-f]{40} without an UploadId$/,
    );
    expect((error as VaultError).retryable).toBe(false);
    expect(s3.commandCalls(UploadPartCopyCommand)).toHaveLength(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input.Key).toMatch(/^incoming\//);
  });

  it('leaves no incoming/ object when a CompleteMultipartUpload in flight at the deadline lands late', async () => {
    // Prepare: the deadline passes while S3 is completing the upload. Which of a late Complete and the
    // vault's abort wins cannot be told in advance: S3 here lets the Complete win (the case that leaves an
    // object), landing once the abort is sent, or at the latest once the vault has answered. Only the
    // deadline's timer is faked, so the Complete can make it expire; the vault's own bounded waits run.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldAdvanceTime: true });
    const deadlineInMs = 600_000;
    const events: string[] = [];
    const objects = new Set<string>();
    let landNow: () => void = () => undefined;
    const mayLand = new Promise<void>((resolve) => {
      landNow = resolve;
    });
    let completed: Promise<unknown> = Promise.resolve();
    s3.on(CompleteMultipartUploadCommand).callsFake((input: { Key: string }) => {
      vi.advanceTimersByTime(deadlineInMs);
      completed = mayLand.then(() => {
        objects.add(input.Key);
        events.push(`added ${input.Key}`);
        return {};
      });
      return completed;
    });
    s3.on(AbortMultipartUploadCommand).callsFake(async () => {
      // S3 refuses to abort an upload that its Complete has just finished.
      landNow();
      await completed;
      throw s3ServiceError('NoSuchUpload', 404);
    });
    s3.on(DeleteObjectCommand).callsFake(async (input: { Key: string }) => {
      if (objects.delete(input.Key)) events.push(`deleted ${input.Key}`);
      return {};
    });

    // Act
    let error: Error;
    try {
      error = await failure(
        streamedVault().storeEvidence(
          zeros(6 * MiB),
          { fileName: 'dump.bin' },
          { deadline: Date.now() + deadlineInMs },
        ),
      );
      // Had the vault stopped without aborting, its Complete would still land: as late as S3 allows.
      landNow();
      await completed;
    } finally {
      vi.useRealTimers();
    }

    // Assess
    const incoming = s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.Key;
    expect(error.message).toBe(
      'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
    );
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
    expect(incoming).toMatch(/^incoming\//);
    expect(events).toEqual([`added ${incoming}`, `deleted ${incoming}`]);
    expect([...objects]).toEqual([]);
  });

  it('ends every cleanup after the deadline within one shared budget when S3 stops answering', async () => {
    // Prepare: S3 takes the upload's start, then answers nothing (a degraded network path), and the
    // deadline passes while the first part is in flight: the part, the multipart abort and the incoming
    // delete would each wait their full CLEANUP_WAIT_MS, one after another
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const deadlineInMs = 600_000;
    const never = () => new Promise<never>(() => undefined);
    let partSent: () => void = () => undefined;
    const partInFlight = new Promise<void>((resolve) => {
      partSent = resolve;
    });
    s3.on(UploadPartCommand).callsFake(() => {
      vi.advanceTimersByTime(deadlineInMs);
      partSent();
      return never();
    });
    s3.on(AbortMultipartUploadCommand).callsFake(never);
    s3.on(DeleteObjectCommand).callsFake(never);
    const deadline = Date.now() + deadlineInMs;
    let settledAt: number | undefined;
    try {
      const storing = streamedVault()
        .storeEvidence(zeros(12 * MiB), { fileName: 'dump.bin' }, { deadline })
        .then(
          () => undefined,
          (error: unknown) => error,
        )
        .finally(() => {
          settledAt = Date.now();
        });

      // Act: from the deadline on, the clock runs well past every wait there is
      await partInFlight;
      for (let step = 0; step < 200 && settledAt === undefined; step++) await vi.advanceTimersByTimeAsync(50);
      const error = await storing;

      // Assess: a failed store, in time for the idempotency record and the result to go out
      expect(error).toBeInstanceOf(VaultError);
      expect(s3.commandCalls(UploadPartCommand).length).toBeGreaterThan(0);
      expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
      expect(settledAt! - deadline).toBeLessThanOrEqual(CLEANUP_AFTER_DEADLINE_MS);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the cleanup budget after a deadline inside the publishing reserve', () => {
    // The store's cleanup, then the idempotency record's delete, then PutEvents (at least a second)
    expect(CLEANUP_AFTER_DEADLINE_MS + MIN_SAVE_MS + 1_000).toBeLessThanOrEqual(
      PUBLISH_RESERVE_MS - PUBLISH_MARGIN_MS,
    );
  });

  it('stores the file when deleting incoming/ after the copy fails, with a warning', async () => {
    // Prepare
    const logger = { warn: vi.fn() };
    s3.on(CopyObjectCommand).resolves({});
    s3.on(DeleteObjectCommand).rejects(s3ServiceError('InternalError', 500));
    const body = Buffer.from('evidence');

    // Act
    const stored = await streamedVault({ logger }).storeEvidence(Readable.from([body]), {
      fileName: 'a.txt',
    });

    // Assess: vault/<sha1> is complete; the bucket's lifecycle rule expires incoming/
    const copy = s3.commandCalls(CopyObjectCommand)[0]!.args[0].input;
    const incoming = s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key;
    expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, size: body.length, alreadyStored: false });
    expect(copy).toMatchObject({ Key: stored.key, CopySource: `${BUCKET}/${incoming}` });
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith(
      'Could not delete the incoming object after storing the file; the lifecycle rule of the bucket expires it',
      { bucket: BUCKET, key: incoming, error: 'InternalError: InternalError happened (HTTP 500)' },
    );
  });
});

describe('Vault: S3 failing while the file still streams (mocked S3)', () => {
  it.each([
    ['to incoming/', {}, 'incoming'],
    ['from the spool', { spoolMaxBytes: 64 * MiB }, 'vault'],
  ])(
    'reports a failed part of an upload %s as a retryable vault error naming S3, and aborts the upload',
    async (_case, options, prefix) => {
      // Prepare: 40 MiB, more than lib-storage reads ahead, goes up in 5 MiB parts, and S3 fails every
      // part; the SDK does not retry
      s3.on(UploadPartCommand).rejects(s3ServiceError('InternalError', 500));
      const body = zeros(40 * MiB);
      const client = new S3Client({
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      });

      // Act
      const error = await failure(
        streamedVault({ client, ...options }).storeEvidence(
          body,
          { fileName: 'big.bin' },
          { maxBytes: 64 * MiB },
        ),
      );

      // Assess: not the AbortError lib-storage's early stop gives the stream (a non-retryable failure);
      // the body stopped, not left open; no parts left stored; incoming/, if used, deleted
      expect(error).toBeInstanceOf(VaultError);
      expect(body.destroyed).toBe(true);
      expect(error.message).toBe(
        `Error occurred while adding the file to vault. InternalError: InternalError happened (HTTP 500) (bucket ${BUCKET})`,
      );
      expect((error as VaultError).retryable).toBe(true);
      expect(s3.commandCalls(AbortMultipartUploadCommand).map((call) => call.args[0].input)).toContainEqual(
        expect.objectContaining({ UploadId: 'upload-1', Key: expect.stringMatching(`^${prefix}/`) }),
      );
      expect(
        s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key?.split('/')[0]),
      ).toEqual(prefix === 'incoming' ? ['incoming'] : []);
    },
  );

  it('gives each cleanup call of a store without a deadline its full wait, and the signal that ends it', async () => {
    // Prepare: S3 fails a part; aborting the upload and deleting incoming/ answer, if slowly
    s3.on(UploadPartCommand).rejects(s3ServiceError('AccessDenied', 403));
    s3.on(AbortMultipartUploadCommand).callsFake(async () => {
      await sleep(50);
      return {};
    });
    s3.on(DeleteObjectCommand).callsFake(async () => {
      await sleep(50);
      return {};
    });

    // Act
    await failure(streamedVault().storeEvidence(zeros(12 * MiB), { fileName: 'big.bin' }));

    // Assess: the vault's abort (lib-storage sends its own, without options) and delete each came with a
    // signal, which their answers came before
    const unbounded = { abortSignal: expect.objectContaining({ aborted: false }) };
    expect(s3.commandCalls(AbortMultipartUploadCommand).map(sendOptions).filter(Boolean)).toEqual([
      unbounded,
    ]);
    expect(s3.commandCalls(DeleteObjectCommand).map(sendOptions)).toEqual([unbounded]);
  });

  it('reports a failed part of the upload of the archive itself as the vault error naming S3, and stops reading it', async () => {
    // Prepare: keep=archive, so the only upload is the archive's, 40 MiB in 5 MiB parts, which S3 fails
    // while the zip is still being read; the SDK does not retry
    s3.on(UploadPartCommand).rejects(s3ServiceError('InternalError', 500));
    const archive = await oneFileArchive('memory.dmp', Buffer.alloc(40 * MiB, 7));
    const body = Readable.from(
      (function* () {
        for (let at = 0; at < archive.length; at += MiB) yield archive.subarray(at, at + MiB);
      })(),
    );
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });

    // Act
    const error = await failure(
      streamedVault({ client }).storeArchive(body, {
        archiveName: 'memory.zip',
        fileId: 'file-1',
        maxBytes: 64 * MiB,
        keep: 'archive',
      }),
    );

    // Assess: S3's failure, not the stopped read it caused
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Error occurred while adding the file to vault. InternalError: InternalError happened (HTTP 500) (bucket ${BUCKET})`,
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(body.destroyed).toBe(true);
  });
});

describe('Vault: the size cap of one file (mocked S3)', () => {
  it('fails an archive holding more files than the vault is set to extract, with an archive error', async () => {
    // Prepare: two files, for a vault that extracts one
    const entry = (name: string) => ({
      name,
      data: Buffer.from(name),
      method: 'store' as const,
      encryption: 'zipcrypto' as const,
      password: 'infected',
      dataDescriptor: false,
      mtime: new Date('2024-01-15T10:00:00Z'),
    });
    const archive = await buildZip([entry('a.txt'), entry('b.txt')]);

    // Act
    const error = await failure(
      streamedVault({ maxArchiveEntries: 1 }).storeArchive(Readable.from([archive]), {
        archiveName: 'a.zip',
        fileId: 'file-1',
        maxBytes: MiB,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toBe(
      'Error while creating file. The archive holds more than 1 entries, more than get file extracts',
    );
  });

  it.each([
    ['streamed through incoming/', {}],
    ['spooled', { spoolMaxBytes: MiB }],
  ])(
    'fails a file %s over its cap with the GET_FILE_MAX_BYTES error when no other is given',
    async (_case, options) => {
      // Act
      const error = await failure(
        streamedVault(options).storeEvidence(zeros(2048), { fileName: 'a.bin' }, { maxBytes: 1024 }),
      );

      // Assess: nothing written to vault/
      expect(error).toBeInstanceOf(TooLargeError);
      expect(error.message).toBe(
        'File is larger than the maximum of 1024 bytes allowed by GET_FILE_MAX_BYTES',
      );
      expect(
        s3.commandCalls(PutObjectCommand).filter((call) => call.args[0].input.Key?.startsWith('vault/')),
      ).toEqual([]);
    },
  );
  it.each([
    ['one byte over the cap fails before any of it is read', 1, TooLargeError],
    ['exactly at the cap is stored', 0, undefined],
  ])('an archive whose Content-Length is %s', async (_case, over, refusal) => {
    // Prepare: a body that records whether it was read; unread, not even the first file is stored
    const archive = await oneFileArchive('a.txt', Buffer.from('evidence'));
    let read = false;
    const body = new Readable({
      read() {
        read = true;
        this.push(archive);
        this.push(null);
      },
    });

    // Act
    const outcome = await streamedVault()
      .storeArchive(body, {
        archiveName: 'a.zip',
        fileId: 'file-1',
        maxBytes: archive.length - over,
        contentLength: archive.length,
      })
      .catch((error: unknown) => error);

    // Assess
    if (refusal === undefined) {
      expect(outcome).toMatchObject([{ name: 'a.txt', archive_size: archive.length }]);
    } else {
      expect(outcome).toBeInstanceOf(refusal);
      expect((outcome as Error).message).toBe(
        `File is larger than the maximum of ${archive.length - over} bytes allowed by GET_FILE_MAX_BYTES`,
      );
      expect(read).toBe(false);
      expect(body.destroyed).toBe(true);
      expect(s3.calls()).toHaveLength(0);
    }
  });
});

describe('Vault: S3 answers without an error text', () => {
  it.for([
    [403, 'access denied: check the function role and the bucket and key policies (HTTP 403, no error text)'],
    [301, 'the bucket is in another region than the client (HTTP 301, no error text)'],
    [418, 'S3 failed the request (HTTP 418, no error text)'],
  ] as const)('says what a bodiless HEAD answered %i means, and names the bucket', async ([status, text]) => {
    // Prepare: what the SDK throws for a HEAD refused, which carries no error body to name it
    s3.on(HeadObjectCommand).rejects(s3ServiceError('Unknown', status, 'UnknownError'));

    // Act
    const error = await failure(
      streamedVault().storeEvidence(
        Readable.from([Buffer.from('evidence')]),
        { fileName: 'a.txt' },
        { maxBytes: MiB },
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(`Error occurred while adding the file to vault. ${text} (bucket ${BUCKET})`);
    expect((error as VaultError).retryable).toBe(false);
  });
});

describe('Vault: the spool (mocked S3)', () => {
  const spoolRoot = mkdtempSync(join(tmpdir(), 'vault-spool-unit-'));
  afterAll(() => rmSync(spoolRoot, { recursive: true, force: true }));

  /** Descriptors of this process open on files under `dir`, deleted ones included. */
  function openFilesUnder(dir: string): string[] {
    return readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        return target.startsWith(dir) ? [target] : [];
      } catch {
        return [];
      }
    });
  }

  it('closes the spool file when the deadline stops an upload S3 stalls, so /tmp gets its space back', async () => {
    // Prepare: S3 never answers the parts of the upload from the spool, which holds more than the
    // parts lib-storage reads ahead
    const spoolDir = mkdtempSync(join(spoolRoot, 'stall-'));
    s3.on(UploadPartCommand).callsFake(() => new Promise(() => undefined));
    const client = new S3Client({ region: 'us-east-1' });
    const vault = new Vault({ bucket: BUCKET, client, spoolDir, partSize: 5 * MiB });

    // Act
    const error = await failure(
      vault.storeEvidence(
        zeros(40 * MiB),
        { fileName: 'x.bin' },
        {
          maxBytes: 64 * MiB,
          deadline: Date.now() + 2000,
        },
      ),
    );

    // Assess: the deadline's retryable failure; the upload had begun, and the vault aborted it (lib-storage
    // would only once the stalled parts settle); the file is gone, and so is every descriptor on it
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({ UploadId: 'upload-1', Key: expect.stringMatching(/^vault\//) }),
    ]);
    expect(readdirSync(spoolDir)).toEqual([]);
    expect(openFilesUnder(spoolDir)).toEqual([]);
  });

  it('fails a spooled file retryably, uploading nothing, when its check of vault/<sha1> fails after the deadline', async () => {
    // Prepare: the HEAD answers with an error only once the deadline has passed
    s3.on(HeadObjectCommand).callsFake(async () => {
      await sleep(400);
      throw s3ServiceError('SlowDown', 503);
    });
    const vault = streamedVault({ spoolDir: spoolRoot, spoolMaxBytes: MiB });

    // Act
    const error = await failure(
      vault.storeEvidence(
        Readable.from([Buffer.from('evidence')]),
        { fileName: 'a.txt' },
        { maxBytes: 1024, deadline: Date.now() + 100 },
      ),
    );

    // Assess: the deadline's failure, not S3's answer to a request it cut short
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('keeps four parts of an upload from the spool in flight, from a file only this user may read', async () => {
    // Prepare: 8 parts, whose uploads S3 holds until the test lets them go
    const spoolDir = mkdtempSync(join(spoolRoot, 'parallel-'));
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    s3.on(UploadPartCommand).callsFake(async () => {
      await held;
      return { ETag: '"part"' };
    });
    const vault = streamedVault({ spoolDir, spoolMaxBytes: 64 * MiB });

    // Act
    const storing = vault.storeEvidence(zeros(40 * MiB), { fileName: 'x.bin' }, { maxBytes: 64 * MiB });
    try {
      await vi.waitFor(() => expect(s3.commandCalls(UploadPartCommand)).toHaveLength(4), { timeout: 10_000 });
      await sleep(100);
      // Assess: no fifth part starts while four are held; the spool file (extracted evidence, possibly
      // malware) is not readable by other users
      expect(s3.commandCalls(UploadPartCommand)).toHaveLength(4);
      expect(readdirSync(spoolDir).map((name) => statSync(join(spoolDir, name)).mode & 0o777)).toEqual([
        0o600,
      ]);
    } finally {
      release();
      await storing;
    }
  });

  it('removes the spool files of a killed invocation before an archive whose cap the spool just fits', async () => {
    // Prepare: a file of this process that no call holds, as a run killed at its timeout leaves one; a cap
    // equal to the spool size still spools every file, so the sweep must run for it too
    const spoolDir = mkdtempSync(join(spoolRoot, 'sweep-'));
    writeFileSync(join(spoolDir, `tanium-vault-p${process.pid}-${randomUUID()}`), 'x');
    const archive = await oneFileArchive('a.txt', Buffer.from('evidence'));
    const vault = streamedVault({ spoolDir, spoolMaxBytes: MiB });

    // Act
    const items = await vault.storeArchive(Readable.from([archive]), {
      archiveName: 'a.zip',
      fileId: 'file-1',
      maxBytes: MiB,
    });

    // Assess
    expect(items.map((item) => item.name)).toEqual(['a.txt']);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it.each([
    ['spooled', { spoolMaxBytes: MiB }, []],
    ['streamed through incoming/', {}, ['incoming']],
  ] as const)(
    'uploads nothing to vault/<sha1> for a %s file the vault already holds',
    async (_case, options, dropped) => {
      // Prepare
      const body = Buffer.from('evidence');
      s3.on(HeadObjectCommand).resolves({ Metadata: { sha256: hexDigest('sha256', body) } });
      const vault = streamedVault({ spoolDir: spoolRoot, ...options });

      // Act
      const stored = await vault.storeEvidence(
        Readable.from([body]),
        { fileName: 'a.txt' },
        { maxBytes: 1024 },
      );

      // Assess
      expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, alreadyStored: true });
      const toVault = s3
        .calls()
        .filter((call) => (call.args[0].input as { Key?: string }).Key === stored.key);
      expect(toVault.map((call) => call.args[0].constructor.name)).toEqual(['HeadObjectCommand']);
      expect(
        s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key?.split('/')[0]),
      ).toEqual(dropped);
    },
  );

  it('reports a spooled file another request stored after the check as already stored', async () => {
    // Prepare: the upload to vault/<sha1>, conditional on the key being absent, is refused: the object
    // is there now, another request's, with the same SHA-256
    const body = Buffer.from('evidence');
    s3.on(PutObjectCommand).rejects(s3ServiceError('PreconditionFailed', 412));
    s3.on(HeadObjectCommand)
      .rejectsOnce(s3ServiceError('NotFound', 404))
      .resolves({ Metadata: { 'request-id': 'another', sha256: hexDigest('sha256', body) } });
    const vault = streamedVault({ spoolDir: spoolRoot, spoolMaxBytes: MiB });

    // Act
    const stored = await vault.storeEvidence(
      Readable.from([body]),
      { fileName: 'a.txt' },
      { maxBytes: 1024 },
    );

    // Assess
    expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, size: body.length, alreadyStored: true });
    expect(s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key)).toEqual([stored.key]);
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
  });

  it.each([
    ['a spooled file', { spoolMaxBytes: MiB }, new Error('upstream reset'), []],
    [
      'a spooled file',
      { spoolMaxBytes: MiB },
      Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }),
      [],
    ],
    ['a file streamed through incoming/', {}, new Error('upstream reset'), ['incoming']],
  ] as const)('fails %s with the error its data failed with: %s', async (_case, options, cause, dropped) => {
    // Prepare
    const source = new Readable({ read() {} });
    source.push(Buffer.from('evid'));
    setImmediate(() => source.destroy(cause));
    const vault = streamedVault({ spoolDir: spoolRoot, ...options });

    // Act
    const error = await failure(vault.storeEvidence(source, { fileName: 'a.txt' }, { maxBytes: 1024 }));

    // Assess: nothing reached vault/; incoming/, if used, is dropped
    expect(error).toBe(cause);
    expect(
      s3.calls().filter((call) => (call.args[0].input as { Key?: string }).Key?.startsWith('vault/')),
    ).toEqual([]);
    expect(s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key?.split('/')[0])).toEqual(
      dropped,
    );
  });

  it("says what failed on the spool without naming the function's files", async () => {
    // Prepare: a spool directory that does not exist
    const spoolDir = join(spoolRoot, 'missing');
    const vault = new Vault({ bucket: BUCKET, client: new S3Client({ region: 'us-east-1' }), spoolDir });

    // Act
    const error = await failure(
      vault.storeEvidence(Readable.from([Buffer.from('x')]), { fileName: 'x' }, { maxBytes: 1024 }),
    );

    // Assess
    expect(error.message).toBe(
      'Error occurred while adding the file to vault. ENOENT: no such file or directory, open the spool file',
    );
    expect(error.message).not.toContain(spoolRoot);
  });
});

describe('Vault: the conditional copy to vault/<sha1> (mocked S3)', () => {
  it.each([
    ['a 412', 'PreconditionFailed', 412],
    ['a 412 without an error text', 'Unknown', 412],
    ['a refusal inside a 200 answer', 'PreconditionFailed', 200],
    ['a 409', 'ConditionalRequestConflict', 409],
    ['a 409 without an error text', 'Unknown', 409],
    ['a conflict inside a 200 answer', 'ConditionalRequestConflict', 200],
  ])(
    'reports a file another request stored after the check as already stored, and drops incoming/, given %s',
    async (_case, name, status) => {
      // Prepare: S3 refuses the copy, conditional on the key being absent, as the object is there now:
      // another request's, with the same SHA-256. A bodiless answer carries only its status, and an error
      // S3 puts in a 200 answer to a copy only its name
      s3.on(CopyObjectCommand).rejects(s3ServiceError(name, status));
      const body = Buffer.from('evidence');
      s3.on(HeadObjectCommand)
        .rejectsOnce(s3ServiceError('NotFound', 404))
        .resolves({ Metadata: { 'request-id': 'another', sha256: hexDigest('sha256', body) } });

      // Act
      const stored = await streamedVault().storeEvidence(Readable.from([body]), { fileName: 'a.txt' });

      // Assess
      const copy = s3.commandCalls(CopyObjectCommand)[0]!.args[0].input;
      const incoming = s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key;
      expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, size: body.length, alreadyStored: true });
      expect(copy).toMatchObject({ Key: stored.key, CopySource: `${BUCKET}/${incoming}`, IfNoneMatch: '*' });
      expect(incoming).toMatch(/^incoming\//);
      // The second HEAD asks whose write the object is, and whether it holds these bytes
      expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
    },
  );

  it.each([
    ['the check before its copy from incoming/ finds', {}, false],
    ['the check before its upload from the spool finds', { spoolMaxBytes: MiB }, false],
    ['the copy is refused (412), and the HEAD then finds', {}, true],
  ] as const)(
    'fails a file for good, storing nothing, when %s another file with the same SHA-1',
    async (_case, options, refused) => {
      // Prepare: vault/<sha1> holds other bytes (a SHA-1 collision, which can be made on purpose)
      const body = Buffer.from('evidence');
      const other = { Metadata: { 'request-id': 'another', sha256: 'f'.repeat(64) } };
      if (refused) {
        s3.on(CopyObjectCommand).rejects(s3ServiceError('PreconditionFailed', 412));
        s3.on(HeadObjectCommand).rejectsOnce(s3ServiceError('NotFound', 404)).resolves(other);
      } else {
        s3.on(HeadObjectCommand).resolves(other);
      }

      // Act
      const error = await failure(
        streamedVault(options).storeEvidence(
          Readable.from([body]),
          { fileName: 'a.txt' },
          { maxBytes: 1024 },
        ),
      );

      // Assess: not reported as stored (its vault_id would open the other file); not retried, as a
      // redelivery meets the same object; nothing written to vault/, incoming/ (if used) dropped
      const { sha1, sha256 } = digestsOf(body);
      expect(error).toBeInstanceOf(VaultError);
      expect(error.message).toBe(
        `Error occurred while adding the file to vault. Another file with the same SHA-1 is already stored at vault/${sha1} (SHA-256 ${'f'.repeat(64)}; this file's is ${sha256}): the file was not stored`,
      );
      expect((error as VaultError).retryable).toBe(false);
      expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(refused ? 1 : 0);
      expect(
        s3.commandCalls(PutObjectCommand).filter((call) => call.args[0].input.Key?.startsWith('vault/')),
      ).toEqual([]);
      expect(
        s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key?.split('/')[0]),
      ).toEqual('spoolMaxBytes' in options ? [] : ['incoming']);
    },
  );

  it('fails a file retryably when the 412 says the object is there but the HEAD then finds none', async () => {
    // Prepare: refused as stored, then deleted or expired before the HEAD
    s3.on(CopyObjectCommand).rejects(s3ServiceError('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));

    // Act
    const error = await failure(
      streamedVault().storeEvidence(Readable.from([Buffer.from('evidence')]), { fileName: 'a.txt' }),
    );

    // Assess: nothing holds the file, so it is not reported stored
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).info).toEqual({ kind: 'vault', retryable: true });
    expect((error as VaultError).message).toMatch(
      /^Error occurred while adding the file to vault\. vault\/[0-9a-f]{40} refused the write as stored already, then was not found$/,
    );
  });

  it('fails a file retryably when the 412 says the object is there but its HEAD cannot tell whose bytes it holds', async () => {
    // Prepare: the copy is refused, the object being there; the HEAD that would check its SHA-256 fails
    s3.on(CopyObjectCommand).rejects(s3ServiceError('PreconditionFailed', 412));
    s3.on(HeadObjectCommand)
      .rejectsOnce(s3ServiceError('NotFound', 404))
      .rejects(s3ServiceError('SlowDown', 503));

    // Act
    const error = await failure(
      streamedVault().storeEvidence(Readable.from([Buffer.from('evidence')]), { fileName: 'a.txt' }),
    );

    // Assess: not reported as stored, which an object of other bytes with the same SHA-1 would be
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).info).toEqual({ kind: 'vault', retryable: true });
    expect((error as VaultError).message).toMatch(
      /^Error occurred while adding the file to vault\. vault\/[0-9a-f]{40} is stored already, but could not be read to check it holds this file\. SlowDown/,
    );
  });

  it.each([
    ['finds another file with the same SHA-1', { Metadata: { sha256: 'f'.repeat(64) } }],
    ['fails', s3ServiceError('SlowDown', 503)],
  ])(
    'does not take the file as stored when the deadline stops the copy and the HEAD then %s',
    async (_case, afterDeadline) => {
      // Prepare: the first HEAD misses, the copy never answers; the HEAD after the deadline cannot show
      // the file is there
      const head = s3.on(HeadObjectCommand).rejectsOnce(s3ServiceError('NotFound', 404));
      if (afterDeadline instanceof Error) head.rejects(afterDeadline);
      else head.resolves(afterDeadline);
      s3.on(CopyObjectCommand).callsFake(() => new Promise(() => undefined));

      // Act
      const error = await failure(
        streamedVault().storeEvidence(
          Readable.from([Buffer.from('evidence')]),
          { fileName: 'a.txt' },
          { deadline: Date.now() + 300 },
        ),
      );

      // Assess: the deadline's retryable failure; the redelivery's check tells what is there
      expect(error).toBeInstanceOf(VaultError);
      expect((error as VaultError).info).toEqual({ kind: 'vault', retryable: true });
      expect((error as VaultError).message).toBe(
        'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
      );
      expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
    },
  );

  it('fails a file whose copy S3 failed before the deadline, though the object appears meanwhile', async () => {
    // Prepare: the copy fails; another request stores the same bytes meanwhile. Only a deadline leaves it
    // unknown whether the copy landed, so only then is the object looked at again
    const body = Buffer.from('evidence');
    s3.on(CopyObjectCommand).rejects(s3ServiceError('InternalError', 500));
    s3.on(HeadObjectCommand)
      .rejectsOnce(s3ServiceError('NotFound', 404))
      .resolves({ Metadata: { 'request-id': 'another', sha256: hexDigest('sha256', body) } });

    // Act
    const error = await failure(streamedVault().storeEvidence(Readable.from([body]), { fileName: 'a.txt' }));

    // Assess: retried, and the redelivery finds the object
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Error occurred while adding the file to vault. InternalError: InternalError happened (HTTP 500) (bucket ${BUCKET})`,
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key).toMatch(/^incoming\//);
  });

  it('reports a file as already stored when the deadline stops its check but the object holds its bytes', async () => {
    // Prepare: the check before the copy never answers; by the deadline the file is there, another
    // request's, with the same SHA-256
    const body = Buffer.from('evidence');
    s3.on(HeadObjectCommand)
      .callsFakeOnce(() => new Promise(() => undefined))
      .resolves({ Metadata: { 'request-id': 'another', sha256: hexDigest('sha256', body) } });

    // Act
    const stored = await streamedVault().storeEvidence(
      Readable.from([body]),
      { fileName: 'a.txt' },
      { deadline: Date.now() + 300 },
    );

    // Assess: not this request's write, so "already stored"; nothing copied, incoming/ dropped
    expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, size: body.length, alreadyStored: true });
    expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key).toMatch(/^incoming\//);
  });

  it.each([
    ['its copy from incoming/', {}, 'incoming'],
    ['its upload from the spool', { spoolMaxBytes: MiB }, undefined],
  ] as const)(
    "reports a file as this request's own when the 412 answers the SDK's resend of %s",
    async (_case, options, dropped) => {
      // Prepare: the write to vault/<sha1> lands but its answer is lost; the resend is refused, the object
      // being there now, with the metadata this request wrote
      const refused = s3ServiceError('PreconditionFailed', 412);
      const vaultWrites = () =>
        [...s3.commandCalls(CopyObjectCommand), ...s3.commandCalls(PutObjectCommand)]
          .map((call) => call.args[0].input)
          .filter((input) => input.Key?.startsWith('vault/'));
      s3.on(CopyObjectCommand).rejects(refused);
      s3.on(PutObjectCommand).callsFake(async (input: { Key: string }) => {
        if (input.Key.startsWith('vault/')) throw refused;
        return {};
      });
      s3.on(HeadObjectCommand)
        .rejectsOnce(s3ServiceError('NotFound', 404))
        .callsFake(() => ({ Metadata: vaultWrites()[0]!.Metadata }));

      // Act
      const stored = await streamedVault(options).storeEvidence(
        Readable.from([Buffer.from('evidence')]),
        { fileName: 'a.txt', requestId: 'req-own' },
        { maxBytes: 1024 },
      );

      // Assess: stored by this request, not "already stored"; incoming/, if used, is dropped all the same
      expect(stored.alreadyStored).toBe(false);
      expect(vaultWrites()).toHaveLength(1);
      expect(
        s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input.Key?.split('/')[0]),
      ).toEqual(dropped ? [dropped] : []);
    },
  );

  it('reports a copy that met a concurrent write as already stored once a HEAD finds the object', async () => {
    // Prepare: the first HEAD misses; by the copy another request is writing the key, then it is there
    s3.on(CopyObjectCommand).rejects(s3ServiceError('ConditionalRequestConflict', 409));
    s3.on(HeadObjectCommand).rejectsOnce(s3ServiceError('NotFound', 404)).resolves({});

    // Act
    const stored = await streamedVault().storeEvidence(Readable.from([Buffer.from('evidence')]), {
      fileName: 'a.txt',
    });

    // Assess
    expect(stored.alreadyStored).toBe(true);
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key).toMatch(/^incoming\//);
  });

  it.each([
    ['finds no object', s3ServiceError('NotFound', 404)],
    ['cannot be read', s3ServiceError('SlowDown', 503)],
  ])(
    'fails retryably, leaving nothing, when a concurrent write the copy met has not stored the object: the HEAD %s',
    async (_case, headError) => {
      // Prepare: the other write may still fail, so the file is not reported as stored
      s3.on(CopyObjectCommand).rejects(s3ServiceError('ConditionalRequestConflict', 409));
      s3.on(HeadObjectCommand).rejectsOnce(s3ServiceError('NotFound', 404)).rejects(headError);

      // Act
      const error = await failure(
        streamedVault().storeEvidence(Readable.from([Buffer.from('evidence')]), { fileName: 'a.txt' }),
      );

      // Assess
      expect(error).toBeInstanceOf(VaultError);
      expect(error.message).toBe(
        `Error occurred while adding the file to vault. ConditionalRequestConflict: ConditionalRequestConflict happened (HTTP 409) (bucket ${BUCKET})`,
      );
      expect((error as VaultError).retryable).toBe(true);
      expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(2);
      expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key).toMatch(/^incoming\//);
    },
  );
});

describe('Vault: the names of the files of an archive (mocked S3)', () => {
  it.each([
    ['its own name, whatever the remote path', 'notes.txt', 'C:\\Temp\\dump.bin', 'notes.txt'],
    ["the remote path's last segment for an entry without one", '..', 'C:\\Temp\\dump.bin', 'dump.bin'],
    ['the file id for an entry without one and no remote path', '..', undefined, 'file-1'],
    ['the file id for an entry named "." and an empty remote path', '.', '', 'file-1'],
  ])('names a stored file by %s', async (_case, entryName, remotePath, name) => {
    // Prepare
    const archive = await oneFileArchive(entryName, Buffer.from('evidence'));

    // Act
    const items = await streamedVault().storeArchive(Readable.from([archive]), {
      archiveName: 'a.zip',
      fileId: 'file-1',
      remotePath,
      maxBytes: MiB,
    });

    // Assess: the name is also the file-name metadata of vault/<sha1>
    expect(items.map((item) => item.name)).toEqual([name]);
    expect(s3.commandCalls(CopyObjectCommand)[0]!.args[0].input.Metadata?.['file-name']).toBe(name);
  });
});

describe('Vault: progress of a long get file', () => {
  /** A 1 MiB archive of one file, and a body that delivers it in 64 KiB chunks 10 ms apart. */
  async function slowArchive(): Promise<{ archive: Buffer; body: Readable }> {
    const archive = await buildZip([
      {
        name: 'memory.dmp',
        data: Buffer.alloc(MiB, 7),
        method: 'store',
        encryption: 'zipcrypto',
        password: 'infected',
        dataDescriptor: false,
        mtime: new Date('2024-01-15T10:00:00Z'),
      },
    ]);
    const body = Readable.from(
      (async function* () {
        for (let at = 0; at < archive.length; at += 64 * 1024) {
          await sleep(10);
          yield archive.subarray(at, at + 64 * 1024);
        }
      })(),
    );
    return { archive, body };
  }

  function progressLines(): { lines: Record<string, unknown>[]; logger: VaultOptions['logger'] } {
    const lines: Record<string, unknown>[] = [];
    const logger = { warn: () => undefined, info: (_message: string, extra = {}) => lines.push(extra) };
    return { lines, logger };
  }

  it('logs how far a running archive got, with the request id, and stops when it ends', async () => {
    // Prepare
    const { archive, body } = await slowArchive();
    const { lines, logger } = progressLines();
    const vault = streamedVault({ logger, progressIntervalMs: 25 });
    const started = Date.now();

    // Act
    const items = await vault.storeArchive(body, {
      archiveName: 'memory.zip',
      fileId: 'file-9',
      requestId: 'req-progress',
      maxBytes: 64 * MiB,
      contentLength: archive.length,
    });
    const seconds = Math.ceil((Date.now() - started) / 1000);
    const after = lines.length;
    await sleep(80);

    // Assess
    expect(items).toHaveLength(1);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines[0]).toMatchObject({
      correlation_id: 'req-progress',
      fileId: 'file-9',
      archiveBytes: archive.length,
      filesStored: 0,
    });
    const read = lines.map((line) => line.archiveBytesRead as number);
    expect(read.at(-1)).toBeGreaterThan(read[0]!);
    for (const line of lines) expect(line.elapsedSeconds).toBeGreaterThanOrEqual(0);
    for (const line of lines) expect(line.elapsedSeconds).toBeLessThanOrEqual(seconds);
    expect(lines.length).toBe(after);
  });

  it('stores an archive without progress lines for a logger that has no info', async () => {
    // Prepare: the interval would fire several times during the read
    const { body } = await slowArchive();
    const vault = streamedVault({ logger: { warn: () => undefined }, progressIntervalMs: 25 });

    // Act
    const items = await vault.storeArchive(body, {
      archiveName: 'memory.zip',
      fileId: 'file-11',
      maxBytes: 64 * MiB,
    });

    // Assess
    expect(items.map((item) => item.name)).toEqual(['memory.dmp']);
  });

  it('keeps logging while the archive itself is still being stored after the read (keep=both)', async () => {
    // Prepare: the copy of the archive to its content address takes 200 ms after everything was read
    const { body } = await slowArchive();
    const { lines, logger } = progressLines();
    s3.on(CopyObjectCommand).callsFake(async (input: { Metadata?: Record<string, string> }) => {
      if (input.Metadata?.['file-name'] === 'memory.zip') await sleep(200);
      return {};
    });
    const vault = streamedVault({ logger, progressIntervalMs: 25, multipartCopyThreshold: 64 * MiB });

    // Act
    const items = await vault.storeArchive(body, {
      archiveName: 'memory.zip',
      fileId: 'file-10',
      maxBytes: 64 * MiB,
      keep: 'both',
    });

    // Assess: lines after the extracted file was stored, while the archive's copy ran
    expect(items).toHaveLength(2);
    expect(lines.filter((line) => line.filesStored === 1).length).toBeGreaterThan(2);
  });
});

describe('Vault: results too big for an event (mocked S3)', () => {
  it('stores a result as JSON under its key and counts its size in UTF-8 bytes', async () => {
    // Prepare: non-ASCII data, so the result has more bytes than characters
    const body = JSON.stringify({ requestId: 'req-1', data: ['résumé', '日本'] });
    const key = resultKey('req-1', body);

    // Act
    const ref = await new S3ResultStore(
      BUCKET,
      bundledS3Api,
      new S3Client({ region: 'us-east-1' }),
    ).putResult(key, body, new AbortController().signal);

    // Assess: the signal reaches the request, so the end of the invocation stops the write
    const puts = s3.commandCalls(PutObjectCommand);
    expect(puts.map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: key, Body: Buffer.from(body, 'utf8'), ContentType: 'application/json' },
    ]);
    expect(sendOptions(puts[0]!)).toEqual({ abortSignal: expect.any(AbortSignal) });
    expect(ref).toEqual({ bucket: BUCKET, key, bytes: Buffer.byteLength(body) });
  });

  it.each([
    ['the bundled one', bundledS3Api],
    ["the Lambda runtime's, imported then", runtimeS3Api],
  ])('builds its S3 client on first use when none is given: %s', async (_source, api) => {
    // Act
    const ref = await new S3ResultStore(BUCKET, api).putResult('results/req-1/r.json', '{}');

    // Assess
    expect(s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key)).toEqual([
      'results/req-1/r.json',
    ]);
    expect(ref).toEqual({ bucket: BUCKET, key: 'results/req-1/r.json', bytes: 2 });
  });

  it.each([
    [
      'retryably when S3 is slow',
      s3ServiceError('SlowDown', 503),
      true,
      'SlowDown: SlowDown happened (HTTP 503)',
    ],
    [
      'for good when the role may not write',
      s3ServiceError('AccessDenied', 403),
      false,
      'AccessDenied: AccessDenied happened (HTTP 403)',
    ],
  ])(
    'fails a result write %s, as a vault error saying what S3 answered',
    async (_case, refusal, retryable, details) => {
      // Prepare
      s3.on(PutObjectCommand).rejects(refusal);

      // Act
      const error = await failure(
        new S3ResultStore(BUCKET, bundledS3Api, new S3Client({ region: 'us-east-1' })).putResult(
          'results/req-1/r.json',
          '{}',
        ),
      );

      // Assess
      expect(error).toBeInstanceOf(VaultError);
      expect(error.message).toBe(`Error occurred while storing the result in the vault. ${details}`);
      expect((error as VaultError).retryable).toBe(retryable);
      expect(error.cause).toBe(refusal);
    },
  );
});
