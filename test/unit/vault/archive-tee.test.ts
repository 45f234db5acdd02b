import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { VaultError } from '../../../shared/tanium/errors.ts';
import { type ArchiveVault, storeArchive } from '../../../shared/vault/archive-store.ts';
import type { ByteStream, EvidenceMetadata, StoredEvidence } from '../../../shared/vault/types.ts';
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
    const storing = storeArchive(
      source,
      { archiveName: 'memory.zip', fileId: 'file-1', maxBytes: 64 * MiB, keep: 'both' },
      vault,
    );
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
    const error = await storeArchive(
      source,
      { archiveName: 'memory.zip', fileId: 'file-1', maxBytes: 64 * MiB, keep: 'both' },
      vault,
    ).catch((thrown: unknown) => thrown);

    // Assess: the S3 failure, not a read error it caused, and the download is let go
    expect(error).toBe(refused);
    expect(source.destroyed).toBe(true);
  }, 5_000);
});
