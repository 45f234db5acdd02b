import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TooLargeError, VaultError } from '../../../shared/tanium/errors.ts';
import { type ArchiveVault, storeArchive } from '../../../shared/vault/archive-store.ts';
import { ArchiveError, getFileTooLarge } from '../../../shared/vault/errors.ts';
import type {
  ByteStream,
  EvidenceMetadata,
  StoredEvidence,
  StoreEvidenceOptions,
  VaultFileItem,
} from '../../../shared/vault/types.ts';
import { buildZip } from '../../emulator/zip.ts';
import { craftZip } from './zip-fixtures.ts';

const MiB = 1024 * 1024;
const CHUNK = 16 * 1024;

/** What a store of `body` answers once it has read it all. */
async function drained(body: ByteStream, fileName: string): Promise<StoredEvidence> {
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) size += chunk.length;
  return {
    vaultId: fileName,
    bucket: 'vault',
    key: `vault/${fileName}`,
    sha1: fileName,
    sha256: fileName,
    md5: fileName,
    size,
    alreadyStored: false,
  };
}

/** A vault whose stores are `storeEvidence`; nothing goes through the spool. */
function archiveVault(storeEvidence: ArchiveVault['storeEvidence']): ArchiveVault {
  return {
    storeEvidence,
    spoolDir: tmpdir(),
    spoolMaxBytes: 0,
    maxArchiveEntries: 10,
    progressIntervalMs: 60_000,
    logger: { warn() {} },
  };
}

/** `archive` as a download body in 16 KiB chunks, `pulled` told the bytes read from it so far. */
function download(archive: Buffer, pulled: (bytes: number) => void = () => undefined): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < archive.length; offset += CHUNK) {
        const chunk = archive.subarray(offset, offset + CHUNK);
        pulled(chunk.length);
        yield chunk;
      }
    })(),
  );
}

/** The options of the keep=both tests: a memory dump and its archive, well under the size cap. */
const KEEP_BOTH = { archiveName: 'memory.zip', fileId: 'file-1', maxBytes: 64 * MiB, keep: 'both' } as const;

describe('storeArchive: the archive kept whole as well (keep=both)', () => {
  it('reads no further ahead of a stalled archive upload than its buffers hold, then finishes', async () => {
    // Prepare: a 4 MiB archive read in 16 KiB chunks, counted as they are pulled; the extracted file is
    // stored at once, the archive's own upload does not read until released
    const archive = craftZip([{ name: 'memory.dmp', data: randomBytes(4 * MiB) }]);
    let pulled = 0;
    const source = download(archive, (bytes) => {
      pulled += bytes;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stores: string[] = [];
    const vault = archiveVault(async (body: ByteStream, metadata: EvidenceMetadata) => {
      stores.push(metadata.fileName);
      if (metadata.fileName === 'memory.zip') await released;
      return drained(body, metadata.fileName);
    });

    // Act: start, and wait until the read stops moving
    const storing = storeArchive(source, KEEP_BOTH, vault);
    let seen = -1;
    while (seen !== pulled) {
      seen = pulled;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const pulledWhileStalled = pulled;
    release();
    const items = await storing;

    // Assess: held back by the archive's buffer (64 KiB each side) and the source's own read-ahead (16
    // chunks), nowhere near the whole archive; once released, both stores get every byte
    expect(pulledWhileStalled).toBeGreaterThan(0);
    expect(pulledWhileStalled).toBeLessThan(MiB);
    expect(stores).toEqual(['memory.zip', 'memory.dmp']);
    expect(items.map((item) => [item.name, item.size, item.is_archive])).toEqual([
      ['memory.dmp', 4 * MiB, false],
      ['memory.zip', archive.length, true],
    ]);
  });

  it("stops the read with the upload's own failure when the upload fails while the read waits on it", async () => {
    // Prepare: the archive's upload fails once the read is held up behind it
    const archive = craftZip([{ name: 'memory.dmp', data: randomBytes(4 * MiB) }]);
    const source = download(archive);
    const refused = new VaultError('Could not store the evidence in the vault: Access Denied');
    const vault = archiveVault(async (body: ByteStream, metadata: EvidenceMetadata) => {
      if (metadata.fileName !== 'memory.zip') return drained(body, metadata.fileName);
      const stream = body as Readable;
      // As the vault's streamed store does: it listens for its body's failure, and fails its body.
      stream.once('error', () => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
      stream.destroy(refused);
      // Its promise rejects later, once the partial upload is discarded.
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw refused;
    });

    // Act
    const error = await storeArchive(source, KEEP_BOTH, vault).catch((thrown: unknown) => thrown);

    // Assess: the S3 failure, not a read error it caused, and the download is let go
    expect(error).toBe(refused);
    expect(source.destroyed).toBe(true);
  }, 5_000);
});

/** A zip of `files`, encrypted with `password` as Tanium encrypts a get file's archive. */
function encryptedZip(files: Record<string, Buffer>, password = 'infected'): Promise<Buffer> {
  return buildZip(
    Object.entries(files).map(([name, data]) => ({
      name,
      data,
      method: 'store' as const,
      encryption: data.length === 0 && name.endsWith('/') ? ('none' as const) : ('zipcrypto' as const),
      password,
      dataDescriptor: false,
      mtime: new Date('2024-01-15T10:00:00Z'),
    })),
  );
}

/** A vault recording every store it is asked for: the file's name, its metadata, its options, its bytes. */
function recordingVault(overrides: Partial<ArchiveVault> = {}): {
  vault: ArchiveVault;
  stores: { metadata: EvidenceMetadata; options: StoreEvidenceOptions; bytes: number }[];
} {
  const stores: { metadata: EvidenceMetadata; options: StoreEvidenceOptions; bytes: number }[] = [];
  const vault = archiveVault(async (body, metadata, options) => {
    const evidence = await drained(body, metadata.fileName);
    stores.push({ metadata, options, bytes: evidence.size });
    return evidence;
  });
  return { vault: { ...vault, ...overrides }, stores };
}

describe('storeArchive: the archive upload stopping the read (keep=both)', () => {
  it.each([
    ['before the read starts', 0],
    ['while the read waits on it', 50],
  ])(
    'stops the read when the upload stops %s, before its own failure is known',
    async (_case, delay) => {
      // Prepare: the upload destroys its body, and its promise rejects only later (as a partial upload
      // being discarded): the read cannot report the upload's error yet
      const archive = craftZip([{ name: 'memory.dmp', data: randomBytes(4 * MiB) }]);
      const source = download(archive);
      const vault = archiveVault(async (body: ByteStream, metadata: EvidenceMetadata) => {
        if (metadata.fileName !== 'memory.zip') return drained(body, metadata.fileName);
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        (body as Readable).destroy();
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('the upload gave up');
      });

      // Act
      const error = await storeArchive(source, KEEP_BOTH, vault).catch((thrown: unknown) => thrown);

      // Assess: only a VaultError of the upload replaces the read's own error
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe('The archive upload stopped');
      expect(source.destroyed).toBe(true);
    },
    5_000,
  );

  it('stops the read when the upload stopped while a file store held the read up', async () => {
    // Prepare: the first file's store waits before reading; meanwhile the upload destroys its body, which
    // is then closed long before the read goes on, and its promise rejects only later
    const archive = craftZip([
      { name: 'a.bin', data: randomBytes(1024) },
      { name: 'b.bin', data: randomBytes(MiB) },
    ]);
    const source = download(archive);
    const vault = archiveVault(async (body: ByteStream, metadata: EvidenceMetadata) => {
      if (metadata.fileName === 'a.bin') await new Promise((resolve) => setTimeout(resolve, 50));
      if (metadata.fileName !== 'memory.zip') return drained(body, metadata.fileName);
      await new Promise((resolve) => setTimeout(resolve, 10));
      (body as Readable).destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      throw new Error('the upload gave up');
    });

    // Act
    const error = await storeArchive(source, KEEP_BOTH, vault).catch((thrown: unknown) => thrown);

    // Assess: no write waits on a body that will never drain or close again
    expect((error as Error).message).toBe('The archive upload stopped');
    expect(source.destroyed).toBe(true);
  }, 5_000);

  it("stops the read with the upload's own error when the upload failed before the read went on", async () => {
    // Prepare: an upload that fails at once, with an error that is no VaultError
    const archive = craftZip([{ name: 'memory.dmp', data: randomBytes(MiB) }]);
    const refused = new Error('the upload refused its body');
    const vault = archiveVault(async (body: ByteStream, metadata: EvidenceMetadata) => {
      if (metadata.fileName !== 'memory.zip') return drained(body, metadata.fileName);
      (body as Readable).destroy();
      throw refused;
    });

    // Act
    const error = await storeArchive(download(archive), KEEP_BOTH, vault).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBe(refused);
  }, 5_000);

  it('leaves no listener behind on the archive upload for each wait on it', async () => {
    // Prepare: a slow upload, so the read waits on it many times; the listeners are counted per chunk
    const archive = craftZip([{ name: 'memory.dmp', data: randomBytes(4 * MiB) }]);
    const counts = { drain: 0, close: 0 };
    const vault = archiveVault(async (body: ByteStream, metadata: EvidenceMetadata) => {
      if (metadata.fileName !== 'memory.zip') return drained(body, metadata.fileName);
      const stream = body as Readable;
      let size = 0;
      for await (const chunk of stream as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        counts.drain = Math.max(counts.drain, stream.listenerCount('drain'));
        counts.close = Math.max(counts.close, stream.listenerCount('close'));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return { ...(await drained(Readable.from([]), metadata.fileName)), size };
    });

    // Act
    const items = await storeArchive(download(archive), KEEP_BOTH, vault);

    // Assess: one wait at a time (the iterator of the upload holds close listeners of its own)
    expect(items.at(-1)?.size).toBe(archive.length);
    expect(counts.drain).toBe(1);
    expect(counts.close).toBeLessThanOrEqual(3);
  }, 10_000);
});

describe('storeArchive: what it stores and returns', () => {
  const OPTIONS = {
    archiveName: 'evidence.zip',
    fileId: 'file-7',
    host: 'ws-01',
    remotePath: 'C:\\Users\\kim\\report.docx',
    requestId: 'req-7',
    maxBytes: MiB,
    deadline: 1_900_000_000_000,
  };

  it.each([
    ['extract', ['report.docx'], [['report.docx', false]]],
    ['archive', ['evidence.zip'], [['evidence.zip', true]]],
    [
      'both',
      ['evidence.zip', 'report.docx'],
      [
        ['report.docx', false],
        ['evidence.zip', true],
      ],
    ],
  ] as const)(
    'stores, for keep=%s, %j with the evidence metadata, the cap and the deadline',
    async (keep, names, items) => {
      // Prepare
      const archive = await encryptedZip({ 'report.docx': Buffer.from('quarterly figures') });
      const { vault, stores } = recordingVault();

      // Act
      const result = await storeArchive(download(archive), { ...OPTIONS, keep }, vault);

      // Assess: every store names where the file came from and is held to GET_FILE_MAX_BYTES and the
      // deadline; the archive is stored whole, and extracted files come first in the result
      expect(stores.map((store) => store.metadata.fileName).sort()).toEqual(names);
      for (const { metadata, options, bytes } of stores) {
        expect(metadata).toEqual({
          fileName: metadata.fileName,
          fileId: 'file-7',
          host: 'ws-01',
          remotePath: 'C:\\Users\\kim\\report.docx',
          requestId: 'req-7',
          archiveName: 'evidence.zip',
        });
        expect(options).toEqual({ maxBytes: MiB, tooLarge: getFileTooLarge, deadline: 1_900_000_000_000 });
        expect(bytes).toBe(metadata.fileName === 'evidence.zip' ? archive.length : 17);
      }
      expect(result.map((item) => [item.name, item.is_archive])).toEqual(items);
    },
  );

  it('returns for each stored file its hashes, where it is stored and the archive it came from', async () => {
    // Prepare
    const archive = await encryptedZip({ 'report.docx': Buffer.from('quarterly figures') });
    const vault = archiveVault(async (body, metadata) => ({
      ...(await drained(body, metadata.fileName)),
      sha1: `sha1-${metadata.fileName}`,
      sha256: `sha256-${metadata.fileName}`,
      md5: `md5-${metadata.fileName}`,
      bucket: 'evidence-bucket',
      key: `vault/sha1-${metadata.fileName}`,
      alreadyStored: metadata.fileName === 'evidence.zip',
    }));

    // Act
    const items = await storeArchive(download(archive), { ...OPTIONS, keep: 'both' }, vault);

    // Assess
    const item = (name: string, size: number, isArchive: boolean) => ({
      vault_id: `sha1-${name}`,
      name,
      size,
      hash: `sha1-${name}`,
      sha1: `sha1-${name}`,
      sha256: `sha256-${name}`,
      md5: `md5-${name}`,
      archive_name: 'evidence.zip',
      archive_size: archive.length,
      file_id: 'file-7',
      mime_type: 'application/octet-stream',
      metadata: {
        sha1: `sha1-${name}`,
        sha256: `sha256-${name}`,
        md5: `md5-${name}`,
        size,
        archive_size: archive.length,
        contains: [],
        action: 'get file',
      },
      bucket: 'evidence-bucket',
      key: `vault/sha1-${name}`,
      already_stored: isArchive,
      is_archive: isArchive,
    });
    expect(items).toEqual([item('report.docx', 17, false), item('evidence.zip', archive.length, true)]);
  });

  it.each([
    ['the remote path', 'C:\\Users\\kim\\report.docx', 'report.docx'],
    ['the file id, without a remote path', undefined, 'file-7'],
    ['the file id, for a remote path that is a drive root', 'C:\\', 'file-7'],
  ])('names a file whose entry name has no base name after %s', async (_case, remotePath, name) => {
    // Prepare: an entry named as a drive alone, which has no base name
    const archive = await encryptedZip({ 'C:': Buffer.from('data') });
    const { vault, stores } = recordingVault();

    // Act
    const items = await storeArchive(download(archive), { ...OPTIONS, remotePath }, vault);

    // Assess
    expect(items.map((item) => item.name)).toEqual([name]);
    expect(stores.map((store) => store.metadata.fileName)).toEqual([name]);
  });

  it('opens an archive encrypted with the password given instead of the Tanium default', async () => {
    // Prepare
    const archive = await encryptedZip({ 'report.docx': Buffer.from('quarterly figures') }, 'other-secret');
    const { vault } = recordingVault();

    // Act
    const items = await storeArchive(download(archive), { ...OPTIONS, password: 'other-secret' }, vault);

    // Assess
    expect(items.map((item) => [item.name, item.size])).toEqual([['report.docx', 17]]);
  });

  it.each(['extract', 'archive', 'both'] as const)(
    'fails an archive holding only a directory as an archive error (keep=%s), storing nothing kept',
    async (keep) => {
      // Prepare
      const archive = await encryptedZip({ 'Users/': Buffer.alloc(0) });
      const { vault, stores } = recordingVault();

      // Act
      const error = await storeArchive(download(archive), { ...OPTIONS, keep }, vault).catch(
        (thrown: unknown) => thrown,
      );

      // Assess: the archive's own upload (keep=archive, both) is stopped rather than completed
      expect(error).toBeInstanceOf(ArchiveError);
      expect((error as Error).message).toBe('Error while creating file. The archive contains no file');
      expect(stores).toEqual([]);
    },
  );

  it.each([
    ['over the cap', MiB + 1, true],
    ['exactly at the cap', MiB, false],
  ])(
    'refuses a download whose Content-Length is %s before reading it',
    async (_case, contentLength, refused) => {
      // Prepare
      const archive = await encryptedZip({ 'report.docx': Buffer.from('quarterly figures') });
      const source = download(archive);
      const { vault, stores } = recordingVault();

      // Act
      const outcome = await storeArchive(source, { ...OPTIONS, contentLength }, vault).catch(
        (thrown: unknown) => thrown,
      );

      // Assess: a refused download is let go unread, with the GET_FILE_MAX_BYTES error
      if (refused) {
        expect(outcome).toBeInstanceOf(TooLargeError);
        expect((outcome as Error).message).toBe(getFileTooLarge(MiB).message);
        expect(source.destroyed).toBe(true);
        expect(stores).toEqual([]);
      } else {
        expect((outcome as VaultFileItem[]).map((item) => item.name)).toEqual(['report.docx']);
      }
    },
  );
});

describe('storeArchive: progress lines and cleanup', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs every interval how far the archive got, leaving out what it does not know, and stops at the end', async () => {
    // Prepare: the clock is faked so the elapsed seconds are exact; the second file's store is held
    // until released, so the read stands still with one file stored
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const archive = await encryptedZip({ 'a.txt': Buffer.from('first'), 'b.txt': Buffer.from('second') });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let storing!: () => void;
    const heldUp = new Promise<void>((resolve) => {
      storing = resolve;
    });
    const lines: [string, Record<string, unknown>][] = [];
    const vault: ArchiveVault = {
      ...archiveVault(async (body, metadata) => {
        if (metadata.fileName === 'b.txt') {
          storing();
          await released;
        }
        return drained(body, metadata.fileName);
      }),
      progressIntervalMs: 30_000,
      logger: { warn() {}, info: (message: string, extra = {}) => lines.push([message, extra]) },
    };

    // Act: 75 s pass while b.txt is stored, then it ends; a minute later nothing more is logged
    const result = storeArchive(
      download(archive),
      { archiveName: 'e.zip', fileId: 'file-3', maxBytes: MiB },
      vault,
    );
    await heldUp;
    vi.advanceTimersByTime(75_000);
    const bytesRead = lines.map(([, extra]) => extra.archiveBytesRead);
    release();
    await result;
    vi.advanceTimersByTime(60_000);

    // Assess: no correlation_id without a request id, no archiveBytes without a Content-Length
    expect(lines).toEqual([
      [
        'get file still running',
        { fileId: 'file-3', archiveBytesRead: bytesRead[0], filesStored: 1, elapsedSeconds: 30 },
      ],
      [
        'get file still running',
        { fileId: 'file-3', archiveBytesRead: bytesRead[0], filesStored: 1, elapsedSeconds: 60 },
      ],
    ]);
    expect(bytesRead[0]).toBeGreaterThan(0);
    for (const [, extra] of lines) {
      expect(Object.keys(extra)).toEqual(['fileId', 'archiveBytesRead', 'filesStored', 'elapsedSeconds']);
    }
  });

  it.each([
    ['an error', new Error('InternalError happened'), 'InternalError happened'],
    ['a value that is no error', 'socket closed', 'socket closed'],
  ])(
    'stops the archive upload and the download when storing a file fails with %s',
    async (_case, failure, text) => {
      // Prepare: keep=both; the extracted file's store fails, the archive's upload reads until it fails
      const archive = await encryptedZip({ 'report.docx': Buffer.from('quarterly figures') });
      const source = download(archive);
      let archiveUpload: unknown;
      const vault = archiveVault(async (body, metadata) => {
        if (metadata.fileName !== 'report.docx') {
          archiveUpload = await drained(body, metadata.fileName).catch((error: unknown) => error);
          throw archiveUpload;
        }
        await drained(body, metadata.fileName);
        throw failure;
      });

      // Act
      const error = await storeArchive(
        source,
        { archiveName: 'e.zip', fileId: 'file-4', maxBytes: MiB, keep: 'both' },
        vault,
      ).catch((thrown: unknown) => thrown);

      // Assess: the file's own failure is reported; the archive's upload got an error (never a complete
      // body it would store), and the download is let go
      expect(error).toBe(failure);
      expect(archiveUpload).toBeInstanceOf(Error);
      expect((archiveUpload as Error).message).toBe(text);
      expect(source.destroyed).toBe(true);
    },
  );
});
