import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TooLargeError } from '../../../shared/tanium/errors.ts';
import { ArchiveError } from '../../../shared/vault/errors.ts';
import { crc32 } from '../../../shared/vault/zip/crc32.ts';
import { baseName, decodeEntryName } from '../../../shared/vault/zip/names.ts';
import { ZipReader, type ZipReaderOptions } from '../../../shared/vault/zip/reader.ts';
import { ZipCryptoDecoder } from '../../../shared/vault/zip/zipcrypto.ts';
import { buildZip, type ZipEntry as WrittenEntry } from '../../emulator/zip.ts';
import { ZipCryptoCipher } from '../../emulator/zipcrypto.ts';
import { failure } from '../../helpers/failure.ts';
import {
  chunked,
  craftZip,
  sampleText,
  sha256,
  unicodePathField,
  ZipWorkspace,
  zip64Field,
} from './zip-fixtures.ts';

interface Extracted {
  name: string;
  baseName: string;
  method: number;
  encrypted: boolean;
  hasDataDescriptor: boolean;
  declaredSize: number | undefined;
  data: Buffer;
}

/** One entry as the emulator's zip writer writes it: unencrypted, its sizes in a data descriptor. */
function written(name: string, data: Buffer, overrides: Partial<WrittenEntry> = {}): WrittenEntry {
  return {
    name,
    data,
    method: 'deflate',
    encryption: 'none',
    password: 'infected',
    dataDescriptor: true,
    mtime: new Date('2024-05-01T12:34:56Z'),
    ...overrides,
  };
}

const DESCRIPTOR_SIGNATURE = Buffer.from('PK\x07\x08');

async function extractAll(
  input: AsyncIterable<Uint8Array>,
  options: ZipReaderOptions = { password: 'infected' },
): Promise<Extracted[]> {
  const out: Extracted[] = [];
  for await (const entry of new ZipReader(input, options)) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry.stream) chunks.push(chunk as Buffer);
    out.push({
      name: entry.name,
      baseName: entry.baseName,
      method: entry.method,
      encrypted: entry.encrypted,
      hasDataDescriptor: entry.hasDataDescriptor,
      declaredSize: entry.declaredSize,
      data: Buffer.concat(chunks),
    });
  }
  return out;
}

describe('Vault: streaming ZIP reader', () => {
  const workspace = new ZipWorkspace();
  let text: Buffer;
  let random: Buffer;
  let small: Buffer;
  let encrypted: Buffer;

  beforeAll(() => {
    text = sampleText(300_000);
    random = randomBytes(150_000);
    small = Buffer.from('hello vault\n');
    workspace.file('report.txt', text);
    workspace.file('blob.bin', random);
    workspace.file('small.txt', small);
    mkdirSync(join(workspace.dir, 'folder', 'sub'), { recursive: true });
    workspace.file('folder/sub/inner.txt', small);
    // -n .bin stores blob.bin, so the archive mixes stored and deflated entries.
    encrypted = workspace.zip('multi.zip', [
      '-P',
      'infected',
      '-n',
      '.bin',
      'multi.zip',
      'report.txt',
      'blob.bin',
      'small.txt',
    ]);
  });

  afterAll(() => workspace.remove());

  it('decrypts and inflates every entry of an Info-ZIP encrypted archive, stored and deflated', async () => {
    // Act
    const entries = await extractAll(chunked(encrypted, 1000));

    // Assess
    expect(entries.map((entry) => [entry.name, entry.encrypted])).toEqual([
      ['report.txt', true],
      ['blob.bin', true],
      ['small.txt', true],
    ]);
    expect(entries[0]!.method).toBe(8);
    expect(entries[1]!.method).toBe(0);
    expect(sha256(entries[0]!.data)).toBe(sha256(text));
    expect(sha256(entries[1]!.data)).toBe(sha256(random));
    expect(sha256(entries[2]!.data)).toBe(sha256(small));
  });

  it('reads the same archive whatever the chunking of the body', async () => {
    for (const size of [7, 12, 30, 65536, encrypted.length]) {
      // Act
      const entries = await extractAll(chunked(encrypted, size));

      // Assess
      expect(entries.map((entry) => sha256(entry.data))).toEqual([
        sha256(text),
        sha256(random),
        sha256(small),
      ]);
    }
  });

  it('reads a deflated entry streamed from stdin (bit 3 data descriptor, Zip64 sizes)', async () => {
    // Prepare
    const archive = workspace.zip('-', ['-P', 'infected', '-', '-'], text);

    // Act
    const [entry, ...rest] = await extractAll(chunked(archive, 4096));

    // Assess
    expect(rest).toEqual([]);
    expect(entry!.hasDataDescriptor).toBe(true);
    expect(entry!.declaredSize).toBeUndefined();
    expect(entry!.method).toBe(8);
    expect(entry!.name).toBe('-');
    expect(sha256(entry!.data)).toBe(sha256(text));
  });

  it('reads a stored entry of unknown size streamed from stdin by finding its data descriptor', async () => {
    // Prepare: random data containing descriptor signatures that must not end the entry early
    const tricky = Buffer.concat([
      random.subarray(0, 5000),
      Buffer.from('PK\x07\x08'),
      randomBytes(40),
      random,
    ]);
    const archive = workspace.zip('-', ['-0', '-P', 'infected', '-', '-'], tricky);

    // Act
    const [entry] = await extractAll(chunked(archive, 333));

    // Assess
    expect(entry!.method).toBe(0);
    expect(entry!.hasDataDescriptor).toBe(true);
    expect(sha256(entry!.data)).toBe(sha256(tricky));
  });

  it('reads archives written with forced data descriptors (zip -fd)', async () => {
    // Prepare
    const archive = workspace.zip('fd.zip', ['-fd', '-P', 'infected', 'fd.zip', 'report.txt', 'small.txt']);

    // Act
    const entries = await extractAll(chunked(archive, 2048));

    // Assess
    expect(entries.map((entry) => [entry.name, entry.hasDataDescriptor, sha256(entry.data)])).toEqual([
      ['report.txt', true, sha256(text)],
      ['small.txt', true, sha256(small)],
    ]);
  });

  it.each([
    ['encrypted', ['-P', 'infected']],
    ['unencrypted, descriptors forced', ['-fd']],
  ])('reads an empty file stored with a Zip64 data descriptor (zip -fz, %s)', async (_label, flags) => {
    // Prepare: the narrow reading of an empty file's wide descriptor matches too (all zeros)
    workspace.file('empty.txt', '');
    const archive = workspace.zip('fz-empty.zip', [
      '-fz',
      ...flags,
      'fz-empty.zip',
      'empty.txt',
      'small.txt',
    ]);

    // Act
    const entries = await extractAll(chunked(archive, 7));

    // Assess: the empty file, and the file after it
    expect(entries.map((entry) => [entry.name, entry.hasDataDescriptor, sha256(entry.data)])).toEqual([
      ['empty.txt', true, sha256(Buffer.alloc(0))],
      ['small.txt', true, sha256(small)],
    ]);
  });

  it('reads an empty file streamed from stdin (stored, Zip64 data descriptor)', async () => {
    // Prepare
    const archive = workspace.zip('-', ['-P', 'infected', '-', '-'], Buffer.alloc(0));

    // Act
    const entries = await extractAll(chunked(archive, 4096));

    // Assess
    expect(entries.map((entry) => [entry.name, entry.data.length])).toEqual([['-', 0]]);
  });

  it('finds where each deflated entry ends when bytes after it were already queued for inflation', async () => {
    // Prepare: entries of several inflate batches each, sizes only in data descriptors, so the reader
    // learns where an entry ends only from zlib, after it has decrypted and queued what follows
    const bigRandom = randomBytes(1_500_000);
    const bigText = sampleText(3_000_000);
    workspace.file('big.bin', bigRandom);
    workspace.file('big.txt', bigText);
    const archive = workspace.zip('fd-big.zip', [
      '-fd',
      '-P',
      'infected',
      'fd-big.zip',
      'big.bin',
      'big.txt',
      'small.txt',
      'blob.bin',
    ]);

    for (const size of [1000, 65_536, 300_000]) {
      // Act
      const entries = await extractAll(chunked(archive, size));

      // Assess
      expect(entries.map((entry) => [entry.name, entry.method, sha256(entry.data)])).toEqual([
        ['big.bin', 8, sha256(bigRandom)],
        ['big.txt', 8, sha256(bigText)],
        ['small.txt', 8, sha256(small)],
        ['blob.bin', 8, sha256(random)],
      ]);
    }
  });

  it('decrypts an archive of many small data-descriptor entries about once, not once per entry', async () => {
    // Prepare: 300 small files whose sizes are only in data descriptors; count what gets decrypted
    const names: string[] = [];
    for (let i = 0; i < 300; i++) {
      const name = `small-${i}.txt`;
      workspace.file(name, sampleText(2_500 + i));
      names.push(name);
    }
    const archive = workspace.zip('fd-many.zip', ['-fd', '-P', 'infected', 'fd-many.zip', ...names]);
    let decrypted = 0;
    const original = ZipCryptoDecoder.prototype.decrypt;
    const decrypt = vi.spyOn(ZipCryptoDecoder.prototype, 'decrypt').mockImplementation(function (
      this: ZipCryptoDecoder,
      input,
      output,
      start = 0,
      end = input.length,
      at = start,
    ) {
      decrypted += end - start;
      original.call(this, input, output, start, end, at);
    });

    // Act
    let entries: Extracted[];
    try {
      entries = await extractAll(chunked(archive, 65_536));
    } finally {
      decrypt.mockRestore();
    }

    // Assess: reading ahead of each entry's end costs some decryption, but not the rest of the archive
    expect(entries.map((entry) => entry.name)).toEqual(names);
    expect(decrypted / archive.length).toBeLessThan(12);
  });

  it('accepts unencrypted entries', async () => {
    // Prepare
    const archive = workspace.zip('plain.zip', ['plain.zip', 'report.txt', 'blob.bin']);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(
      entries.map((entry) => [
        entry.name,
        entry.encrypted,
        entry.hasDataDescriptor,
        entry.declaredSize,
        sha256(entry.data),
      ]),
    ).toEqual([
      ['report.txt', false, false, text.length, sha256(text)],
      ['blob.bin', false, false, random.length, sha256(random)],
    ]);
  });

  it('skips directory entries and gives the base name of nested files', async () => {
    // Prepare
    const archive = workspace.zip('tree.zip', ['-r', '-P', 'infected', 'tree.zip', 'folder']);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((entry) => [entry.name, entry.baseName])).toEqual([
      ['folder/sub/inner.txt', 'inner.txt'],
    ]);
    expect(entries[0]!.data.equals(small)).toBe(true);
  });

  it('refuses an archive with more entries than allowed, directories counted', async () => {
    // Prepare: two directory entries and one file
    const archive = workspace.zip('tree-limit.zip', ['-r', '-P', 'infected', 'tree-limit.zip', 'folder']);

    // Act
    const refused = await failure(extractAll(chunked(archive), { password: 'infected', maxEntries: 2 }));
    const read = await extractAll(chunked(archive), { password: 'infected', maxEntries: 3 });

    // Assess
    expect(refused).toBeInstanceOf(ArchiveError);
    expect(refused.message).toBe(
      'Error while creating file. The archive holds more than 2 entries, more than get file extracts',
    );
    expect(read.map((entry) => entry.name)).toEqual(['folder/sub/inner.txt']);
  });

  it('names an entry from its Info-ZIP Unicode Path field when the field was written for the header name', async () => {
    // Prepare
    const archive = craftZip([
      { name: 'resume.txt', data: small, extra: unicodePathField('dossier/résumé.txt', 'resume.txt') },
    ]);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((entry) => [entry.name, entry.baseName])).toEqual([
      ['dossier/résumé.txt', 'résumé.txt'],
    ]);
  });

  it('ignores a stale Unicode Path field, whose name CRC is not that of the header name (renamed entry)', async () => {
    // Prepare: renamed from old.txt to new.txt by a tool that kept the field written for old.txt
    const archive = craftZip([
      { name: 'new.txt', data: small, extra: unicodePathField('old.txt', 'old.txt') },
    ]);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['new.txt']);
    expect(entries[0]!.data.equals(small)).toBe(true);
  });

  it('splits names on both slashes and backslashes for the base name', () => {
    // Assess
    expect(baseName('C:\\Windows\\Temp\\evil.exe')).toBe('evil.exe');
    expect(baseName('a/b\\c/d.txt')).toBe('d.txt');
    expect(baseName('dir/')).toBe('dir');
    expect(baseName('')).toBe('');
  });

  it.each([
    ['C:\\', ''],
    ['c:', ''],
    ['C:/', ''],
    ['C:notes.txt', 'notes.txt'],
    ['D:\\cases\\C:', 'C:'],
    ['CD:', 'CD:'],
  ])('takes a leading drive of %s for no name, and nothing else for a drive', (path, name) => {
    // A drive root alone names no file: get file falls back to the file id instead of storing "C:".
    expect(baseName(path)).toBe(name);
  });

  it.each([
    ['dir/..', 'dir'],
    ['dir\\.', 'dir'],
    ['a//b//', 'b'],
    ['..', ''],
  ])('skips empty, . and .. segments when taking the base name of %s', (path, name) => {
    expect(baseName(path)).toBe(name);
  });

  it.each([
    ['ASCII bytes, as they are', [0x61, 0x7e, 0x7f], 0, 'a~\u007f'],
    ['valid UTF-8 without the flag, as UTF-8 (Info-ZIP on Unix)', [0xc3, 0xa9, 0x2e, 0x74], 0, 'é.t'],
    [
      'invalid UTF-8 without the flag, as CP437',
      [0x41, 0x80, 0x81, 0x9b, 0xe1, 0xfe, 0xff],
      0,
      'AÇü¢ß■\u00a0',
    ],
    [
      'invalid UTF-8 under the UTF-8 flag, as UTF-8 with replacement characters',
      [0x80, 0x41],
      0x800,
      '\ufffdA',
    ],
    ['valid UTF-8 under the UTF-8 flag among other flags', [0xe2, 0x82, 0xac], 0x809, '€'],
  ])('decodes an entry name of %s', (_, bytes, flags, expected) => {
    // Act
    const name = decodeEntryName(Uint8Array.from(bytes), flags, undefined);

    // Assess
    expect(name).toBe(expected);
  });

  it('takes the Unicode Path name over the header bytes whatever the flags', () => {
    // Act
    const name = decodeEntryName(Uint8Array.from([0x80]), 0x800, 'résumé.txt');

    // Assess
    expect(name).toBe('résumé.txt');
  });

  it.each([
    ['a spanning marker (PK00)', 0x30304b50],
    ['a split-archive marker (PK\x07\x08)', 0x08074b50],
  ])('reads an archive that starts with %s', async (_, marker) => {
    // Prepare
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(marker);
    const archive = Buffer.concat([prefix, craftZip([{ name: 'a.txt', data: small }])]);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['a.txt']);
    expect(entries[0]!.data.equals(small)).toBe(true);
  });

  it('takes a marker signature between entries for corruption, not for a marker', async () => {
    // Prepare: the marker is only valid before the first entry
    const first = craftZip([{ name: 'a.txt', data: small }]);
    const localLength = 30 + 'a.txt'.length + small.length;
    const marker = Buffer.from([0x50, 0x4b, 0x07, 0x08]);
    const archive = Buffer.concat([
      first.subarray(0, localLength),
      marker,
      craftZip([{ name: 'b.txt', data: small }]),
    ]);

    // Act
    const error = await failure(extractAll(chunked(archive)));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. Corrupt archive: unexpected signature 0x08074b50 after entry 1',
    );
  });

  it.each([
    ['the central directory', 0x02014b50],
    ['a Zip64 end-of-central-directory record', 0x06064b50],
    ['a Zip64 end-of-central-directory locator', 0x07064b50],
    ['a digital signature', 0x05054b50],
  ])('ends the entries at %s', async (_, signature) => {
    // Prepare: one entry, then the record and the end-of-central-directory record
    const entry = craftZip([{ name: 'a.txt', data: small }]);
    const localLength = 30 + 'a.txt'.length + small.length;
    const record = Buffer.alloc(16);
    record.writeUInt32LE(signature);
    const archive = Buffer.concat([entry.subarray(0, localLength), record, entry.subarray(-22)]);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((item) => item.name)).toEqual(['a.txt']);
  });

  it('reads an archive of no entries (an end-of-central-directory record alone) as empty', async () => {
    // Act
    const entries = await extractAll(chunked(craftZip([])));

    // Assess
    expect(entries).toEqual([]);
  });

  it('says an input shorter than a signature is not a zip archive', async () => {
    // Act
    const error = await failure(extractAll(chunked(Buffer.from('PK'))));

    // Assess
    expect(error.message).toBe('Error while creating file. The download is not a zip archive');
  });

  it('rejects an archive whose central directory is encrypted (archive extra data record)', async () => {
    // Prepare
    const record = Buffer.alloc(8);
    record.writeUInt32LE(0x08064b50);
    const archive = Buffer.concat([record, craftZip([])]);

    // Act
    const error = await failure(extractAll(chunked(archive)));

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toBe(
      'Error while creating file. The archive uses strong encryption (encrypted central directory), which is not supported',
    );
  });

  it.each([
    ['a slash', 'folder/'],
    ['a backslash', 'folder\\'],
    ['a slash from its Unicode Path field', 'folder'],
  ])(
    'refuses an entry named as a directory by %s that holds data, instead of dropping it',
    async (_case, name) => {
      // Prepare: the header name, or the Unicode Path field written for it, ends like a directory's
      const extra = name === 'folder' ? unicodePathField('folder/', name) : undefined;
      const archive = craftZip([
        { name, data: small, ...(extra ? { extra } : {}) },
        { name: 'b.txt', data: small },
      ]);

      // Act
      const error = await failure(extractAll(chunked(archive)));

      // Assess
      expect(error).toBeInstanceOf(ArchiveError);
      expect(error.message).toBe(
        `Error while creating file. Entry ${extra ? 'folder/' : name} is named as a directory but holds ${small.length} bytes of data, which are not stored`,
      );
    },
  );

  it('skips a directory entry whose name ends with a backslash', async () => {
    // Prepare
    const archive = craftZip([
      { name: 'folder\\', data: Buffer.alloc(0) },
      { name: 'folder\\a.txt', data: small },
    ]);

    // Act
    const reader = new ZipReader(chunked(archive));
    const entries: string[] = [];
    for await (const entry of reader) {
      entries.push(entry.name);
      entry.stream.resume();
    }

    // Assess
    expect(entries).toEqual(['folder\\a.txt']);
    expect(reader.entries).toBe(1);
    expect(reader.bytesRead).toBe(archive.length);
  });

  it('takes the sizes of a local header from its Zip64 extra field, size first', async () => {
    // Prepare: a deflated entry whose 32-bit sizes are 0xffffffff, the real ones in the Zip64 field
    const data = sampleText(5000);
    const deflated = deflateRawSync(data);
    const archive = craftZip([
      {
        name: 'big.txt',
        data: deflated,
        method: 8,
        crc: crc32(data),
        extra: zip64Field([data.length, deflated.length]),
      },
    ]);
    archive.writeUInt32LE(0xffffffff, 18);
    archive.writeUInt32LE(0xffffffff, 22);

    // Act
    const entries = await extractAll(chunked(archive, 1000));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['big.txt']);
    expect(entries[0]!.data.equals(data)).toBe(true);
  });

  it('takes only the compressed size from a Zip64 extra field when only that one overflows', async () => {
    // Prepare: the field holds just the compressed size, as APPNOTE 4.5.3 says when the size fits
    const data = sampleText(5000);
    const deflated = deflateRawSync(data);
    const archive = craftZip([
      { name: 'big.txt', data: deflated, method: 8, crc: crc32(data), extra: zip64Field([deflated.length]) },
    ]);
    archive.writeUInt32LE(0xffffffff, 18);
    archive.writeUInt32LE(data.length, 22);

    // Act
    const entries = await extractAll(chunked(archive, 1000));

    // Assess
    expect(entries[0]!.data.equals(data)).toBe(true);
  });

  it.each([
    ['no Zip64 field', Buffer.alloc(0), 'size'],
    ['an empty Zip64 field', zip64Field([]), 'size'],
    ['a Zip64 field holding the size alone', zip64Field([5000]), 'compressed size'],
  ])(
    'fails an entry whose sizes are 0xffffffff with %s, naming the size it lacks',
    async (_label, extra, missing) => {
      // Prepare: sizes marked as "in the Zip64 field" where it does not hold them
      const data = sampleText(5000);
      const archive = craftZip([
        { name: 'big.txt', data: deflateRawSync(data), method: 8, crc: crc32(data), extra },
      ]);
      archive.writeUInt32LE(0xffffffff, 18);
      archive.writeUInt32LE(0xffffffff, 22);

      // Act: with a cap, the marks taken as sizes would read as an entry too large
      const error = await failure(extractAll(chunked(archive, 1000), { maxEntryBytes: 1_000_000 }));

      // Assess
      expect(error).toBeInstanceOf(ArchiveError);
      expect((error as Error).message).toBe(
        `Error while creating file. Corrupt archive: entry big.txt puts its ${missing} in a Zip64 extra field it does not have or that is too short`,
      );
    },
  );

  it.each([
    ['sizes of 0xffffffff and no Zip64 field, then a 32-bit descriptor', 'marks', 4, 5000],
    ['a Zip64 field, then a 32-bit descriptor', 'zip64', 4, 5000],
    ['no Zip64 field, then a Zip64 descriptor', 'none', 8, 5000],
    // Read in 32 bits, this one's sizes match too (2 and 0): only the header's width first gets it right.
    ['a Zip64 field, then a Zip64 descriptor, for no data', 'zip64', 8, 0],
  ] as const)(
    'reads a data-descriptor entry with %s, and the entry after it',
    async (_case, header, width, length) => {
      // Prepare: bit 3 puts the sizes in the descriptor, whatever the header says; both widths are tried,
      // the header's first, and the one whose sizes match the data is taken
      const data = sampleText(length);
      const deflated = deflateRawSync(data);
      const descriptor = Buffer.alloc(8 + 2 * width);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc32(data), 4);
      const writeSize = (value: number, at: number) =>
        width === 8 ? descriptor.writeBigUInt64LE(BigInt(value), at) : descriptor.writeUInt32LE(value, at);
      writeSize(deflated.length, 8);
      writeSize(data.length, 8 + width);
      const archive = craftZip([
        {
          name: 'streamed.txt',
          data: Buffer.concat([deflated, descriptor]),
          method: 8,
          flags: 8,
          crc: 0,
          ...(header === 'zip64' ? { extra: zip64Field([0, 0]) } : {}),
        },
        { name: 'after.txt', data: small },
      ]);
      if (header === 'marks') {
        archive.writeUInt32LE(0xffffffff, 18);
        archive.writeUInt32LE(0xffffffff, 22);
      }

      // Act
      const entries = await extractAll(chunked(archive, 1000));

      // Assess
      expect(entries.map((entry) => [entry.name, sha256(entry.data)])).toEqual([
        ['streamed.txt', sha256(data)],
        ['after.txt', sha256(small)],
      ]);
    },
  );

  it('ignores a Unicode Path field of a version other than 1', async () => {
    // Prepare
    const field = unicodePathField('other.txt', 'plain.txt');
    field.writeUInt8(2, 4);
    const archive = craftZip([{ name: 'plain.txt', data: small, extra: field }]);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['plain.txt']);
  });

  it('ignores 100,000 bytes of padding after the end-of-central-directory record', async () => {
    // Prepare: up to 64 KiB past the longest (64 KiB) comment is ignored
    const archive = Buffer.concat([craftZip([{ name: 'a.txt', data: small }]), Buffer.alloc(100_000)]);

    // Act
    const entries = await extractAll(chunked(archive, 1000));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['a.txt']);
  });

  it('reports 200,000 bytes after the end-of-central-directory record as a truncated archive', async () => {
    // Prepare: that far past the record, it is no end record of this archive
    const archive = Buffer.concat([craftZip([{ name: 'a.txt', data: small }]), Buffer.alloc(200_000)]);

    // Act
    const inSmallChunks = await failure(extractAll(chunked(archive, 1000)));
    const inOneChunk = await failure(extractAll(chunked(archive, archive.length)));

    // Assess
    for (const error of [inSmallChunks, inOneChunk]) {
      expect(error.message).toBe(
        'Error while creating file. The archive is truncated (the data ended before the end of the archive)',
      );
    }
  });

  it('reports an archive cut right after an entry as truncated, not as empty', async () => {
    // Prepare
    const archive = craftZip([{ name: 'a.txt', data: small }]);
    const localLength = 30 + 'a.txt'.length + small.length;

    // Act
    const error = await failure(extractAll(chunked(archive.subarray(0, localLength))));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. The archive is truncated (the data ended before the end of the archive)',
    );
  });

  it('reads an archive whose end record has a comment, and reports one cut inside the comment as truncated', async () => {
    // Prepare
    const plain = craftZip([{ name: 'a.txt', data: small }]);
    const archive = Buffer.concat([plain, Buffer.from('a comment')]);
    archive.writeUInt16LE('a comment'.length, plain.length - 2);

    // Act
    const entries = await extractAll(chunked(archive));
    const error = await failure(extractAll(chunked(archive.subarray(0, archive.length - 1))));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['a.txt']);
    expect(error.message).toMatch(/The archive is truncated/);
  });

  it('can be iterated only once', async () => {
    // Prepare
    const reader = new ZipReader(chunked(craftZip([{ name: 'a.txt', data: small }])));
    for await (const entry of reader) entry.stream.resume();

    // Act
    const error = await failure(
      (async () => {
        for await (const entry of reader) entry.stream.resume();
      })(),
    );

    // Assess
    expect(error.message).toBe('A ZipReader can be iterated only once');
  });

  it('drains entries larger than the entry buffer that the consumer never reads', async () => {
    // Prepare: a 1 KiB entry buffer, which the skipped file does not fit in
    const archive = craftZip([
      { name: 'dir/', data: Buffer.alloc(0) },
      { name: 'skipped.bin', data: randomBytes(64 * 1024) },
      { name: 'read.txt', data: small },
    ]);
    const names: string[] = [];
    let last = Buffer.alloc(0);

    // Act
    for await (const entry of new ZipReader(chunked(archive), { highWaterMark: 1024 })) {
      names.push(entry.name);
      if (entry.name === 'read.txt') {
        const chunks: Buffer[] = [];
        for await (const chunk of entry.stream) chunks.push(chunk as Buffer);
        last = Buffer.concat(chunks);
      }
    }

    // Assess
    expect(names).toEqual(['skipped.bin', 'read.txt']);
    expect(last.equals(small)).toBe(true);
  }, 5_000);

  it('drains the data of a directory entry larger than the entry buffer, then refuses the entry', async () => {
    // Prepare
    const archive = craftZip([
      { name: 'dir/', data: randomBytes(64 * 1024) },
      { name: 'read.txt', data: small },
    ]);

    // Act
    const error = await failure(extractAll(chunked(archive), { highWaterMark: 1024 }));

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toMatch(/Entry dir\/ is named as a directory but holds 65536 bytes of data/);
  }, 5_000);

  it('fails the stream of an entry left unread when the consumer stops iterating', async () => {
    // Prepare
    const archive = craftZip([{ name: 'big.bin', data: randomBytes(64 * 1024) }]);
    let stream: NodeJS.ReadableStream | undefined;

    // Act
    for await (const entry of new ZipReader(chunked(archive), { highWaterMark: 1024 })) {
      stream = entry.stream;
      break;
    }
    const error = await failure(
      (async () => {
        for await (const _ of stream!) {
          // drain
        }
      })(),
    );

    // Assess
    expect(error.message).toBe('The archive reader was closed before the entry ended');
  });

  it('ignores a Unicode Path field too short to hold its version and name CRC', async () => {
    // Prepare
    const field = Buffer.from([0x75, 0x70, 0x02, 0x00, 0x01, 0x00]);
    const archive = craftZip([{ name: 'plain.txt', data: small, extra: field }]);

    // Act
    const entries = await extractAll(chunked(archive));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['plain.txt']);
  });

  it.each([
    [0xffff + 64 * 1024, 'a.txt'],
    [0xffff + 64 * 1024 + 1, 'truncated'],
  ])(
    'looks for the end record at most 64 KiB past the longest comment: %i bytes of padding read %s',
    async (padding, outcome) => {
      // Prepare: the whole archive in one chunk, so every byte is there to be searched
      const archive = Buffer.concat([craftZip([{ name: 'a.txt', data: small }]), Buffer.alloc(padding)]);

      // Act
      const names = await extractAll(chunked(archive, archive.length)).then(
        (entries) => entries.map((entry) => entry.name).join(),
        (error: Error) => (/The archive is truncated/.test(error.message) ? 'truncated' : error.message),
      );

      // Assess
      expect(names).toBe(outcome);
    },
  );

  it('delivers the next entry when the consumer skipped reading the previous one', async () => {
    // Prepare
    const names: string[] = [];
    let last = Buffer.alloc(0);

    // Act
    for await (const entry of new ZipReader(chunked(encrypted), { password: 'infected' })) {
      names.push(entry.name);
      if (entry.name === 'small.txt') {
        const chunks: Buffer[] = [];
        for await (const chunk of entry.stream) chunks.push(chunk as Buffer);
        last = Buffer.concat(chunks);
      }
    }

    // Assess
    expect(names).toEqual(['report.txt', 'blob.bin', 'small.txt']);
    expect(last.equals(small)).toBe(true);
  });

  it('fails with a clear error when the password is wrong', async () => {
    // Act
    const error = await failure(extractAll(chunked(encrypted), { password: 'not-infected' }));

    // Assess: the check byte catches 255 of 256 wrong passwords; the CRC catches the rest
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toMatch(
      /^Error while creating file\. (Wrong password for entry report\.txt|Corrupt archive: .*wrong password)/,
    );
    expect((error as ArchiveError).retryable).toBe(false);
  });

  it('fails when an encrypted entry comes without a password', async () => {
    // Act
    const error = await failure(extractAll(chunked(encrypted), {}));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. Entry report.txt is encrypted and no password was given',
    );
  });

  it('rejects AES (method 99) and strong encryption entries', async () => {
    // Prepare
    const aes = craftZip([{ name: 'secret.txt', data: randomBytes(64), method: 99, flags: 0x1 }]);
    const strong = craftZip([{ name: 'strong.txt', data: randomBytes(64), flags: 0x41 }]);

    // Act
    const aesError = await failure(extractAll(chunked(aes)));
    const strongError = await failure(extractAll(chunked(strong)));

    // Assess
    expect(aesError).toBeInstanceOf(ArchiveError);
    expect(aesError.message).toBe(
      'Error while creating file. Entry secret.txt uses AES or strong encryption, which is not supported (only traditional PKWARE encryption is)',
    );
    expect(strongError.message).toMatch(
      /^Error while creating file\. Entry strong\.txt uses AES or strong encryption/,
    );
  });

  it('rejects compression methods other than store and deflate', async () => {
    // Prepare
    const bzip2 = craftZip([{ name: 'x.bz2', data: randomBytes(10), method: 12 }]);

    // Act
    const error = await failure(extractAll(chunked(bzip2)));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. Entry x.bz2 uses compression method 12, which is not supported (only stored and deflated)',
    );
  });

  it.for([
    ['an unsupported method', { method: 12 }],
    ['a CRC-32 that does not match', { crc: 0x12345678 }],
  ] as const)("cuts an archive's long entry name in the message of %s", async ([, fault]) => {
    // Prepare: a name of 20,000 characters, as a hostile archive may carry (up to 64 KiB)
    const name = `${'A'.repeat(20_000)}.exe`;
    const archive = craftZip([{ name, data: small, ...fault }]);

    // Act
    const error = await failure(extractAll(chunked(archive)));

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).toContain(`${'A'.repeat(200)}…`);
  });

  it('stops an entry as soon as it inflates past the size its header declares', async () => {
    // Prepare: 4 MiB that deflates to a few KiB, under a local header declaring 10 bytes
    const data = Buffer.alloc(4 * 1024 * 1024, 0x41);
    const archive = craftZip([{ name: 'bomb.txt', data: deflateRawSync(data), method: 8, crc: crc32(data) }]);
    archive.writeUInt32LE(10, 22);
    let delivered = 0;

    // Act
    const error = await failure(
      (async () => {
        for await (const entry of new ZipReader(chunked(archive))) {
          for await (const chunk of entry.stream) delivered += (chunk as Buffer).length;
        }
      })(),
    );

    // Assess
    expect(error.message).toBe(
      'Error while creating file. Corrupt archive: size mismatch for entry bomb.txt',
    );
    expect(delivered).toBeLessThanOrEqual(10);
  });

  it('refuses an entry whose header declares more than the cap before reading its data', async () => {
    // Prepare: a stored entry of 4 MiB against a cap of 1 MiB, read in chunks of 64 KiB
    const archive = craftZip([{ name: 'big.bin', data: Buffer.alloc(4 * 1024 * 1024, 1) }]);
    const reader = new ZipReader(chunked(archive, 64 * 1024), { maxEntryBytes: 1024 * 1024 });

    // Act
    const error = await failure(
      (async () => {
        for await (const entry of reader) entry.stream.resume();
      })(),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(reader.bytesRead).toBeLessThanOrEqual(128 * 1024);
  });

  it('reads a large central directory in small chunks copying each byte a bounded number of times', async () => {
    // Prepare: 1,000 entries with long names make a central directory of about 1 MB
    const archive = craftZip(
      Array.from({ length: 1000 }, (_, index) => ({ name: `${'n'.repeat(990)}${index}`, data: small })),
    );
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = (list: readonly Uint8Array[], totalLength?: number) => {
      const joined = concat(list, totalLength);
      copied += joined.length;
      return joined;
    };

    // Act
    let entries = 0;
    try {
      for await (const entry of new ZipReader(chunked(archive, 100), { maxEntries: 1000 })) {
        entry.stream.resume();
        entries++;
      }
    } finally {
      Buffer.concat = concat;
    }

    // Assess
    expect(entries).toBe(1000);
    expect(copied).toBeLessThan(4 * archive.length);
  });

  it('reports a CRC-32 mismatch instead of ending the entry stream', async () => {
    // Prepare
    const archive = craftZip([{ name: 'a.txt', data: small, crc: 0x12345678 }]);
    const entryErrors: unknown[] = [];
    let ended = false;

    // Act
    const error = await failure(
      (async () => {
        for await (const entry of new ZipReader(chunked(archive))) {
          entry.stream.on('end', () => {
            ended = true;
          });
          try {
            for await (const _chunk of entry.stream) {
              // drain
            }
          } catch (streamError) {
            entryErrors.push(streamError);
            throw streamError;
          }
        }
      })(),
    );

    // Assess
    expect(error.message).toBe('Error while creating file. Corrupt archive: CRC-32 mismatch for entry a.txt');
    expect(entryErrors).toEqual([error]);
    expect(ended).toBe(false);
  });

  it('detects corrupt bytes inside encrypted deflated data', async () => {
    // Prepare
    const corrupt = Buffer.from(encrypted);
    for (let i = 2000; i < 2100; i++) corrupt[i] = corrupt[i]! ^ 0x5a;

    // Act
    const error = await failure(extractAll(chunked(corrupt)));

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toMatch(
      /^Error while creating file\. Corrupt archive: .* in entry report\.txt \(wrong password or corrupt data\)$/,
    );
  });

  it('says a stored entry of unknown size without a descriptor signature is not supported, not truncated', async () => {
    // Prepare: Info-ZIP's stdin entry, stored, with the signature of its data descriptor removed
    const archive = Buffer.from(workspace.zip('-', ['-0', '-P', 'infected', '-', '-'], small));
    const at = archive.indexOf(Buffer.from('PK\x07\x08'), 30);
    const unsigned = Buffer.concat([archive.subarray(0, at), archive.subarray(at + 4)]);

    // Act
    const error = await failure(extractAll(chunked(unsigned)));
    const cut = await failure(extractAll(chunked(unsigned.subarray(0, unsigned.length - 5))));

    // Assess: cut inside its end record, the archive did not end whole
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toBe(
      'Error while creating file. Entry - is stored without its size and without a data descriptor signature, which is not supported',
    );
    expect(cut.message).toBe(
      'Error while creating file. The archive is truncated (the data ended before the end of the archive)',
    );
  });

  it('reads an entry whose header declares exactly the per-entry cap', async () => {
    // Act
    const entries = await extractAll(chunked(craftZip([{ name: 'a.txt', data: small }])), {
      maxEntryBytes: small.length,
    });

    // Assess
    expect(entries.map((entry) => entry.data.toString())).toEqual([small.toString()]);
  });

  it.each([
    ['stored (too small to deflate)', () => small],
    ['deflated', () => text],
  ])('detects a corrupt data descriptor of an entry %s', async (_case, data) => {
    // Prepare: change the CRC in the descriptor of the stdin entry (just after "PK\x07\x08")
    const archive = Buffer.from(workspace.zip('-', ['-P', 'infected', '-', '-'], data()));
    const at = archive.lastIndexOf(DESCRIPTOR_SIGNATURE, archive.indexOf(Buffer.from('PK\x01\x02')));
    archive[at + 4] = archive[at + 4]! ^ 0xff;

    // Act
    const error = await failure(extractAll(chunked(archive)));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. Corrupt archive: CRC-32 mismatch for entry - (wrong password or corrupt data)',
    );
  });

  it('reports a size that does not match the size its local header declares', async () => {
    // Prepare: a stored entry of 12 bytes whose header says 13, with the right CRC-32
    const archive = craftZip([{ name: 'a.txt', data: small }]);
    archive.writeUInt32LE(small.length + 1, 22);

    // Act
    const error = await failure(extractAll(chunked(archive)));

    // Assess
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toBe('Error while creating file. Corrupt archive: size mismatch for entry a.txt');
  });

  it('fails on input that is not a zip archive, or is empty', async () => {
    // Act
    const notZip = await failure(extractAll(chunked(Buffer.from('<html>Service unavailable</html>'))));
    const empty = await failure(extractAll(chunked(Buffer.alloc(0))));

    // Assess
    expect(notZip.message).toBe('Error while creating file. The download is not a zip archive');
    expect(empty.message).toBe('Error while creating file. The archive is empty');
  });

  it('fails on a truncated archive, wherever it is cut', async () => {
    for (const length of [20, 100, Math.floor(encrypted.length / 2), encrypted.length - 10]) {
      // Act
      const error = await failure(extractAll(chunked(encrypted.subarray(0, length))));

      // Assess
      expect(error).toBeInstanceOf(ArchiveError);
      expect(error.message).toBe(
        'Error while creating file. The archive is truncated (the data ended before the end of the archive)',
      );
    }
  });

  it('reads an archive followed by bytes after its end-of-central-directory record', async () => {
    // Prepare: some writers and transfers pad the file; the record itself is complete
    const padded = Buffer.concat([encrypted, Buffer.alloc(10)]);

    // Act
    const entries = await extractAll(chunked(padded, 7_000));

    // Assess
    expect(entries.map((entry) => entry.name)).toEqual(['report.txt', 'blob.bin', 'small.txt']);
    expect(sha256(entries[1]!.data)).toBe(sha256(random));
  });

  it('still reports an archive cut inside its end-of-central-directory record as truncated', async () => {
    // Act
    const error = await failure(extractAll(chunked(encrypted.subarray(0, encrypted.length - 5))));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. The archive is truncated (the data ended before the end of the archive)',
    );
  });

  it('propagates the upstream error unchanged when the body fails mid-download', async () => {
    // Prepare
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    async function* body(): AsyncGenerator<Uint8Array> {
      yield encrypted.subarray(0, 50_000);
      throw reset;
    }

    // Act
    const error = await failure(extractAll(body()));

    // Assess
    expect(error).toBe(reset);
  });

  it('enforces the archive byte limit while reading', async () => {
    // Act
    const error = await failure(
      extractAll(chunked(encrypted), { password: 'infected', maxArchiveBytes: 100_000 }),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(
      'File is larger than the maximum of 100000 bytes allowed by GET_FILE_MAX_BYTES',
    );
  });

  it('enforces the per-entry extracted byte limit', async () => {
    // Prepare: report.txt deflates far below the limit, its extracted size is above it
    const archive = workspace.zip('one.zip', ['-P', 'infected', 'one.zip', 'report.txt']);
    expect(archive.length).toBeLessThan(200_000);

    // Act
    const error = await failure(
      extractAll(chunked(archive), {
        password: 'infected',
        maxArchiveBytes: 200_000,
        maxEntryBytes: 200_000,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(
      'File is larger than the maximum of 200000 bytes allowed by GET_FILE_MAX_BYTES',
    );
  });

  it('enforces the extracted byte limit over all entries together, each under the per-entry limit', async () => {
    // Prepare: report.txt (300,000 bytes, deflated far below that) and blob.bin (150,000), each at most the per-entry limit
    const archive = workspace.zip('two.zip', ['-P', 'infected', 'two.zip', 'report.txt', 'blob.bin']);
    const sum = text.length + random.length;
    const limits = { password: 'infected', maxArchiveBytes: sum, maxEntryBytes: text.length };

    // Act
    const error = await failure(extractAll(chunked(archive), { ...limits, maxTotalBytes: sum - 1 }));
    const read = await extractAll(chunked(archive), { ...limits, maxTotalBytes: sum });

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(
      `Files extracted from the archive total more than the maximum of ${sum - 1} bytes allowed by GET_FILE_MAX_BYTES`,
    );
    expect(read.map((entry) => entry.data.length)).toEqual([text.length, random.length]);
  });

  it('cuts the data of a directory entry at the limit over all entries', async () => {
    // Prepare: a directory entry carrying more data than the archive may extract, drained unyielded
    const archive = craftZip([
      { name: 'hidden/', data: Buffer.alloc(200, 1) },
      { name: 'a.txt', data: Buffer.alloc(100, 2) },
    ]);

    // Act
    const error = await failure(extractAll(chunked(archive), { maxEntryBytes: 1000, maxTotalBytes: 150 }));

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toMatch(/^Files extracted from the archive total more than the maximum of 150 /);
  });

  it('does not read ahead of a consumer that stops draining (backpressure)', async () => {
    // Prepare: a 6 MB entry; count what the reader pulls from the body
    const big = sampleText(6_000_000);
    const archive = workspace.zip('-', ['-0', '-P', 'infected', '-', '-'], big);
    let pulled = 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunked(archive, 16_384)) {
        pulled += chunk.length;
        yield chunk;
      }
    }
    const reader = new ZipReader(body(), { password: 'infected', highWaterMark: 16_384 });
    const iterator = reader[Symbol.asyncIterator]();

    // Act: read one chunk, then let the event loop run while nobody reads
    const { value: entry } = await iterator.next();
    const stream = entry!.stream;
    await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
    stream.read(1000);
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    const pulledWhilePaused = pulled;
    stream.resume();
    await iterator.next();

    // Assess
    expect(pulledWhilePaused).toBeLessThan(200_000);
    expect(pulled).toBe(archive.length);
  });

  it('bounds what it decrypts and queues for inflation ahead of a consumer that stops draining', async () => {
    // Prepare: an 8 MB deflated entry that does not compress, so compressed and extracted sizes match
    const big = randomBytes(8_000_000);
    workspace.file('big-random.bin', big);
    const archive = workspace.zip('big-random.zip', ['-P', 'infected', 'big-random.zip', 'big-random.bin']);
    let pulled = 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunked(archive, 65_536)) {
        pulled += chunk.length;
        yield chunk;
      }
    }
    const iterator = new ZipReader(body(), { password: 'infected' })[Symbol.asyncIterator]();

    // Act: take the entry, read nothing, wait until the reader stops pulling
    const { value: entry } = await iterator.next();
    let pulledWhilePaused = -1;
    for (let still = 0, i = 0; still < 5 && i < 200; i++) {
      still = pulled === pulledWhilePaused ? still + 1 : 0;
      pulledWhilePaused = pulled;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry!.stream) chunks.push(chunk as Buffer);

    // Assess: the entry stream's 1 MiB, zlib's buffers and the batches queued ahead, not the archive
    // (1.9 MB here; four batches queued more would be 2.7 MB, a 64 KiB entry buffer 1.1 MB)
    expect(pulledWhilePaused).toBeGreaterThan(1_500_000);
    expect(pulledWhilePaused).toBeLessThan(2_500_000);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(big));
  });

  it('closes the body when the consumer stops iterating early', async () => {
    // Prepare
    let closed = false;
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        yield* chunked(encrypted, 1000);
      } finally {
        closed = true;
      }
    }

    // Act
    for await (const entry of new ZipReader(body(), { password: 'infected' })) {
      entry.stream.destroy();
      break;
    }

    // Assess
    expect(closed).toBe(true);
  });

  it.each([
    ['a 32-bit data descriptor with its signature', 'deflate', false],
    ['a 32-bit data descriptor without its signature', 'deflate', true],
    ['a stored entry of unknown size and a 32-bit data descriptor', 'store', false],
  ] as const)('reads an entry followed by %s, and the entry after it', async (_case, method, unsigned) => {
    // Prepare
    const first = sampleText(20_000);
    const built = await buildZip([
      written('first.txt', first, { method }),
      written('second.txt', small, { dataDescriptor: false }),
    ]);
    const at = built.indexOf(DESCRIPTOR_SIGNATURE, 30);
    const archive = unsigned ? Buffer.concat([built.subarray(0, at), built.subarray(at + 4)]) : built;

    for (const size of [1, 7, 23, 4096]) {
      // Act
      const entries = await extractAll(chunked(archive, size));

      // Assess
      expect(entries.map((entry) => [entry.name, sha256(entry.data)])).toEqual([
        ['first.txt', sha256(first)],
        ['second.txt', sha256(small)],
      ]);
    }
  });

  it('reads a Zip64 data descriptor without its signature (deflated entry streamed from stdin)', async () => {
    // Prepare
    const built = workspace.zip('-', ['-P', 'infected', '-', '-'], text);
    const at = built.indexOf(DESCRIPTOR_SIGNATURE, 30);
    const archive = Buffer.concat([built.subarray(0, at), built.subarray(at + 4)]);

    // Act
    const entries = await extractAll(chunked(archive, 4096));

    // Assess
    expect(entries.map((entry) => [entry.name, sha256(entry.data)])).toEqual([['-', sha256(text)]]);
  });

  it.each([
    ['sizes that match and a CRC-32 that does not', false, 100, 100, null],
    ['the CRC-32 and compressed size that match and a size that does not', true, 100, 99, null],
    ['the CRC-32 and size that match and a compressed size that does not', true, 99, 100, null],
    ['sizes that match and a CRC-32 that does not, the real one corrupt', false, 100, 100, 'CRC-32 mismatch'],
  ])(
    'takes a descriptor signature inside stored data of unknown size with %s for data',
    async (_case, crcMatches, compressedSize, size, message) => {
      // Prepare: "PK\x07\x08", a CRC and sizes, after 100 bytes of data
      const prefix = Buffer.alloc(100, 0x61);
      const fake = Buffer.alloc(16);
      DESCRIPTOR_SIGNATURE.copy(fake);
      fake.writeUInt32LE(crcMatches ? crc32(prefix) : 0x12345678, 4);
      fake.writeUInt32LE(compressedSize, 8);
      fake.writeUInt32LE(size, 12);
      const data = Buffer.concat([prefix, fake, Buffer.alloc(50, 0x62)]);
      const archive = await buildZip([written('stored.bin', data, { method: 'store' })]);
      if (message !== null) {
        const at = archive.indexOf(DESCRIPTOR_SIGNATURE, 30 + 'stored.bin'.length + 117);
        archive[at + 4] = archive[at + 4]! ^ 0xff;
      }

      for (const chunk of [64, archive.length]) {
        // Act
        const result = await extractAll(chunked(archive, chunk)).then(
          (entries) => entries.map((entry) => sha256(entry.data)),
          (error: Error) => error.message,
        );

        // Assess
        expect(result).toEqual(
          message === null
            ? [sha256(data)]
            : `Error while creating file. Corrupt archive: ${message} for entry stored.bin`,
        );
      }
    },
  );

  it.each([
    ['the CRC-32 byte, the local header carrying the CRC-32', 0x9, 'crc', 'crc', null],
    ['the time byte, the local header carrying no CRC-32', 0x9, 'time', 0, null],
    ['zero, the local header carrying a CRC-32 of zero', 0x9, 0, 0, 'Wrong password for entry a.txt'],
    [
      'neither byte, the local header carrying the CRC-32',
      0x9,
      0x55,
      'crc',
      'Wrong password for entry a.txt',
    ],
    ['the CRC-32 byte, without a data descriptor', 0x1, 'crc', 'crc', null],
    ['the time byte, without a data descriptor', 0x1, 'time', 'crc', 'Wrong password for entry a.txt'],
  ] as const)(
    'checks the password of an entry whose check byte is %s',
    async (_case, flags, checkByte, headerCrc, message) => {
      // Prepare: the DOS time's high byte is 0x64, the CRC-32's high byte that of `small` (0x0c)
      const crc = crc32(small);
      const time = 0x64 << 8;
      const check = checkByte === 'crc' ? crc >>> 24 : checkByte === 'time' ? time >>> 8 : checkByte;
      const cipher = new ZipCryptoCipher('infected');
      const data = Buffer.concat([cipher.header(check), cipher.encrypt(deflateRawSync(small))]);
      const crafted = craftZip([
        { name: 'a.txt', data, method: 8, flags, crc: headerCrc === 'crc' ? crc : headerCrc },
      ]);
      crafted.writeUInt16LE(time, 10);
      crafted.writeUInt32LE(small.length, 22);
      const dataEnd = 30 + 'a.txt'.length + data.length;
      const descriptor = Buffer.alloc(16);
      DESCRIPTOR_SIGNATURE.copy(descriptor);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeUInt32LE(data.length, 8);
      descriptor.writeUInt32LE(small.length, 12);
      const archive =
        flags & 0x8
          ? Buffer.concat([crafted.subarray(0, dataEnd), descriptor, crafted.subarray(dataEnd)])
          : crafted;

      // Act
      const result = await extractAll(chunked(archive)).then(
        (entries) => entries.map((entry) => entry.data.toString()),
        (error: Error) => error.message,
      );

      // Assess
      expect(result).toEqual(message === null ? [small.toString()] : `Error while creating file. ${message}`);
    },
  );

  it.each([
    ['stored', 'store'],
    ['deflated', 'deflate'],
  ] as const)(
    'refuses an encrypted %s entry whose compressed size cannot hold its encryption header',
    async (_case, method) => {
      // Prepare: 11 bytes, one fewer than the encryption header
      const archive = await buildZip([
        written('a.txt', small, { method, encryption: 'zipcrypto', dataDescriptor: false }),
      ]);
      archive.writeUInt32LE(11, 18);

      // Act
      const error = await failure(extractAll(chunked(archive)));

      // Assess
      expect(error).toBeInstanceOf(ArchiveError);
      expect(error.message).toBe('Error while creating file. Corrupt archive: bad sizes for entry a.txt');
    },
  );

  it('skips bytes after the end of a deflate stream inside the compressed size its header declares', async () => {
    // Prepare: 1 MB of junk after the deflated data, counted in the compressed size: more than the
    // reader queues for inflation before zlib tells it where the deflate stream ended
    const data = sampleText(5000);
    const archive = craftZip([
      {
        name: 'a.txt',
        data: Buffer.concat([deflateRawSync(data), randomBytes(1_000_000)]),
        method: 8,
        crc: crc32(data),
      },
      { name: 'b.txt', data: small },
    ]);
    archive.writeUInt32LE(data.length, 22);

    // Act
    const entries = await extractAll(chunked(archive, 1000));

    // Assess
    expect(entries.map((entry) => [entry.name, sha256(entry.data)])).toEqual([
      ['a.txt', sha256(data)],
      ['b.txt', sha256(small)],
    ]);
  });

  it.each([
    ['compressed size', 'unencrypted', 'none', 8, ''],
    ['compressed size', 'encrypted', 'zipcrypto', 8, ' (wrong password or corrupt data)'],
    ['size', 'unencrypted', 'none', 12, ''],
  ] as const)(
    'reports a data descriptor whose %s does not match the %s data before it',
    async (_field, _case, encryption, offset, hint) => {
      // Prepare: one byte more in the descriptor's field than the entry has
      const archive = await buildZip([written('a.txt', sampleText(5000), { encryption })]);
      const at = archive.indexOf(DESCRIPTOR_SIGNATURE, 30);
      archive.writeUInt32LE(archive.readUInt32LE(at + offset) + 1, at + offset);

      // Act
      const error = await failure(extractAll(chunked(archive)));

      // Assess
      expect(error).toBeInstanceOf(ArchiveError);
      expect(error.message).toBe(
        `Error while creating file. Corrupt archive: the data descriptor of entry a.txt does not match its data${hint}`,
      );
    },
  );

  it.each([
    ['inside the data descriptor of a deflated entry', { method: 'deflate' }, -8],
    ['two bytes before the end of the data descriptor of a deflated entry', { method: 'deflate' }, -2],
    ['four bytes before the end of the data descriptor of a deflated entry', { method: 'deflate' }, -4],
    ['inside the signature of the data descriptor of a deflated entry', { method: 'deflate' }, -14],
    ['inside the data of a stored entry of unknown size, past a signature in it', { method: 'store' }, -2000],
    ['inside the data of a stored entry of known size', { method: 'store', dataDescriptor: false }, -2000],
  ] as const)('reports an archive cut %s as truncated', async (_case, overrides, cut) => {
    // Prepare: data holding a descriptor signature that is none (its sizes do not match); `cut` counts
    // back from the central directory, which a data descriptor of 16 bytes comes just before
    const data = Buffer.concat([sampleText(5000), DESCRIPTOR_SIGNATURE, Buffer.alloc(20), sampleText(5000)]);
    const archive = await buildZip([written('a.txt', data, overrides)]);
    const central = archive.indexOf(Buffer.from('PK\x01\x02'));

    // Act
    const error = await failure(extractAll(chunked(archive.subarray(0, central + cut))));

    // Assess
    expect(error.message).toBe(
      'Error while creating file. The archive is truncated (the data ended before the end of the archive)',
    );
  });

  it('fails the iteration when the consumer destroys an entry stream before its end', async () => {
    // Prepare: an entry larger than the entry buffer, so it cannot be done by the time it is destroyed
    const archive = craftZip([
      { name: 'big.bin', data: randomBytes(64 * 1024) },
      { name: 'b.txt', data: small },
    ]);

    // Act
    const error = await failure(
      (async () => {
        for await (const entry of new ZipReader(chunked(archive), { highWaterMark: 1024 })) {
          entry.stream.destroy();
        }
      })(),
    );

    // Assess
    expect(error.message).toBe('The entry stream was destroyed before its end');
  });
});
