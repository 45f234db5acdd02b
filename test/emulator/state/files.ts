import { createHash } from 'node:crypto';
import { hashString, mulberry32 } from '../util.ts';

export interface FileEvidence {
  uuid: string;
  evidenceType: 'file';
  hostname: string;
  path: string;
  username: string;
  size: number;
  hash: string;
  downloaded: string;
  process_creation_time: string | null;
  last_modified: string | null;
  created_by: string | null;
  comments: string | null;
  tags: string | null;
}

/** Deterministic file contents for an endpoint path: an executable-looking head, then mixed text and noise. */
export function fileContent(path: string, size: number): Buffer {
  const random = mulberry32(hashString(path));
  const out = Buffer.alloc(size);
  const text = Buffer.from(`MZ This program cannot be run in DOS mode. ${path}\r\n`);
  let offset = 0;
  while (offset < size) {
    if (random() < 0.5) offset += text.copy(out, offset, 0, Math.min(text.length, size - offset));
    else {
      const end = Math.min(size, offset + 64);
      for (; offset < end; offset++) out[offset] = Math.floor(random() * 256);
    }
  }
  return out;
}

/** Size of the file at a path, derived from the path so repeated collections agree. */
export function fileSizeFor(path: string): number {
  return 1024 + (hashString(path) % 65536);
}

const BLOCK = 64 * 1024;
let baseBlock: Buffer | undefined;

/**
 * `size` bytes generated block by block (64 KiB, each stamped with its index so no two blocks are equal
 * and deflate finds no long repeats): for streaming and memory tests with files of hundreds of MB.
 */
export async function* generatedChunks(size: number): AsyncGenerator<Buffer> {
  if (!baseBlock) {
    const random = mulberry32(42);
    baseBlock = Buffer.alloc(BLOCK);
    for (let i = 0; i < BLOCK; i++) baseBlock[i] = Math.floor(random() * 256);
  }
  let index = 0n;
  for (let sent = 0; sent < size; sent += BLOCK) {
    const block = Buffer.from(baseBlock.subarray(0, Math.min(BLOCK, size - sent)));
    if (block.length >= 8) block.writeBigUInt64LE(index);
    index++;
    yield block;
  }
}

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

export function makeEvidence(input: {
  uuid: string;
  hostname: string;
  path: string;
  downloaded: string;
  size?: number;
}): FileEvidence {
  const size = input.size ?? fileSizeFor(input.path);
  return {
    uuid: input.uuid,
    evidenceType: 'file',
    hostname: input.hostname,
    path: input.path,
    username: 'administrator',
    size,
    hash: md5(fileContent(input.path, size)),
    downloaded: input.downloaded,
    process_creation_time: '2021-11-16T19:19:53.000Z',
    last_modified: '2021-11-16T19:19:39.000Z',
    created_by: null,
    comments: null,
    tags: null,
  };
}

export function seedFiles(): FileEvidence[] {
  return [
    makeEvidence({
      uuid: '79478f3e-061b-4b59-a99a-349415df99a0',
      hostname: 'test-client-1',
      path: 'C:\\Users\\bob\\evil.exe',
      downloaded: '2022-01-11 20:03:15.629',
      size: 204800,
    }),
    makeEvidence({
      uuid: 'a3c1e5f7-0b2d-4f6e-8a9c-1d3e5f7a9b0c',
      hostname: 'web-02',
      path: '/home/dev/x.sh',
      downloaded: '2022-01-12T08:00:00.000Z',
      size: 2048,
    }),
    makeEvidence({
      uuid: 'c9d8e7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f',
      hostname: 'test-client-1',
      path: 'C:\\Users\\bob\\Desktop\\résumé (final).pdf',
      downloaded: '2022-01-13 09:30:00.000',
    }),
  ];
}

/** True when a path does not exist on the endpoint: collecting it fails the task. */
export function isAbsentPath(path: string): boolean {
  return /missing|does-not-exist|nonexistent/i.test(path) || path.trim() === '';
}
