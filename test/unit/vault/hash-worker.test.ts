import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { VaultError } from '../../../shared/tanium/errors.ts';
import {
  activeHashJobs,
  HASH_BLOCK_BYTES,
  HASH_BLOCKS_PER_FILE,
  terminateHashWorker,
  WorkerDigester,
} from '../../../shared/vault/hash-worker.ts';
import { type Digests, HashingStream } from '../../../shared/vault/hashing.ts';
import { digestsOf } from '../../helpers/digests.ts';

/** Splits `data` into chunks of uneven sizes, so blocks and chunks never line up. */
function* unevenChunks(data: Buffer): Generator<Buffer> {
  const sizes = [1, 7_000, 65_536, 300_001, 13];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length] as number;
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

/** A slow consumer: what the hashing stream passes on must be the same bytes, in order. */
function collector(): { sink: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      setImmediate(callback);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

async function hashThrough(data: Buffer, worker: boolean): Promise<{ digests: Digests; passed: Buffer }> {
  const hasher = new HashingStream({ worker });
  const out = collector();
  await pipeline(Readable.from(unevenChunks(data)), hasher, out.sink);
  return { digests: hasher.digests, passed: out.bytes() };
}

describe('hashing on the worker thread', () => {
  afterEach(async () => {
    await terminateHashWorker();
  });

  it('computes the same digests as node:crypto over more blocks than are in flight', async () => {
    // More than HASH_BLOCKS_PER_FILE blocks, and not a whole number of them: the stream has to wait for
    // blocks to come back, and the last block is partial.
    const data = randomBytes(HASH_BLOCK_BYTES * (HASH_BLOCKS_PER_FILE + 2) + 12_345);
    const { digests, passed } = await hashThrough(data, true);
    expect(digests).toEqual(digestsOf(data));
    expect(passed.equals(data)).toBe(true);
  });

  it('agrees with hashing on the calling thread', async () => {
    const data = randomBytes(3 * HASH_BLOCK_BYTES + 1);
    const [onWorker, inline] = await Promise.all([hashThrough(data, true), hashThrough(data, false)]);
    expect(onWorker.digests).toEqual(inline.digests);
    expect(inline.digests).toEqual(digestsOf(data));
  });

  it('hashes on the calling thread when told to, starting no job on the worker', async () => {
    const hasher = new HashingStream({ worker: false });
    hasher.write(randomBytes(HASH_BLOCK_BYTES + 10));
    expect(activeHashJobs()).toBe(0);
    hasher.destroy();
  });

  it('refuses the digests until the stream has ended', async () => {
    const data = randomBytes(100);
    const hasher = new HashingStream({ worker: false });
    const out = collector();
    const done = pipeline(Readable.from([data]), hasher, out.sink);
    expect(() => hasher.digests).toThrow('The digests are only known once the stream has ended');
    await done;
    expect(hasher.digests).toEqual({ ...digestsOf(data), size: 100 });
  });

  it('hashes an empty file', async () => {
    const { digests } = await hashThrough(Buffer.alloc(0), true);
    expect(digests).toEqual(digestsOf(Buffer.alloc(0)));
  });

  it('keeps files hashed at the same time apart', async () => {
    const files = [
      randomBytes(2 * HASH_BLOCK_BYTES + 5),
      randomBytes(HASH_BLOCK_BYTES - 5),
      randomBytes(777),
    ];
    const results = await Promise.all(files.map((data) => hashThrough(data, true)));
    for (const [i, result] of results.entries())
      expect(result.digests).toEqual(digestsOf(files[i] as Buffer));
    expect(activeHashJobs()).toBe(0);
  });

  it('drops a file destroyed half way and goes on hashing the next ones', async () => {
    const hasher = new HashingStream({ worker: true });
    const failed = new Promise((resolve) => hasher.once('error', resolve));
    hasher.write(randomBytes(HASH_BLOCK_BYTES + 10));
    expect(activeHashJobs()).toBe(1);
    hasher.destroy(new Error('the download broke'));
    await failed;
    expect(hasher.sourceError?.message).toBe('the download broke');
    expect(activeHashJobs()).toBe(0);
    const data = randomBytes(HASH_BLOCK_BYTES * 2);
    expect((await hashThrough(data, true)).digests).toEqual(digestsOf(data));
  });

  it('fails the file when the worker dies, and starts a new worker for the next file', async () => {
    const hasher = new HashingStream({ worker: true });
    const source = new Readable({ read() {} });
    const done = pipeline(source, hasher, collector().sink);
    source.push(randomBytes(HASH_BLOCK_BYTES * 2));
    await new Promise((resolve) => setImmediate(resolve));
    await terminateHashWorker();
    source.push(null);
    const error = await done.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(VaultError);
    expect(error).toMatchObject({
      retryable: true,
      message: expect.stringMatching(
        /^Error occurred while adding the file to vault\. The hashing worker stopped/,
      ),
    });
    const data = randomBytes(HASH_BLOCK_BYTES + 3);
    expect((await hashThrough(data, true)).digests).toEqual(digestsOf(data));
  });

  it('fails only the files of the dying worker, not one already started on its replacement', async () => {
    // Prepare: a file on the first worker
    const source = new Readable({ read() {} });
    const dying = pipeline(source, new HashingStream({ worker: true }), collector().sink).then(
      () => 'hashed',
      (error: Error) => error.message,
    );
    source.push(randomBytes(HASH_BLOCK_BYTES * 2));
    await new Promise((resolve) => setImmediate(resolve));

    // Act: the worker is stopping while the next file starts on a new one
    const stopping = terminateHashWorker();
    const data = randomBytes(HASH_BLOCK_BYTES * 3);
    const next = hashThrough(data, true);
    for (let i = 0; i < 1000 && activeHashJobs() < 2; i++)
      await new Promise((resolve) => setImmediate(resolve));
    const openTogether = activeHashJobs();
    await stopping;
    source.push(null);

    // Assess
    expect(openTogether).toBe(2);
    expect(await dying).toMatch(/The hashing worker stopped/);
    expect((await next).digests).toEqual(digestsOf(data));
  });

  it('fails a stream waiting for a block, and one waiting for the digests, when the worker stops', async () => {
    // Prepare: each file started on a worker that has yet to run; stopping it now leaves one update
    // waiting for a block (far more bytes than are in flight) and one file waiting for its digests.
    const pending = (promise: Promise<unknown> | undefined) =>
      Promise.race([
        (promise ?? Promise.resolve()).then(
          () => 'settled',
          (error: Error) => error.message,
        ),
        new Promise((resolve) => setTimeout(resolve, 10_000, 'still waiting').unref()),
      ]);
    const streaming = new WorkerDigester();
    const waitingForBlock = streaming.update(randomBytes(HASH_BLOCK_BYTES * HASH_BLOCKS_PER_FILE * 4));
    const ended = new WorkerDigester();
    expect(ended.update(randomBytes(HASH_BLOCK_BYTES * HASH_BLOCKS_PER_FILE))).toBeUndefined();
    const waitingForDigests = ended.digests();

    // Act
    await terminateHashWorker();

    // Assess
    expect(waitingForBlock).toBeInstanceOf(Promise);
    const stopped =
      /^Error occurred while adding the file to vault\. The hashing worker stopped \(exit code \d+\)$/;
    expect(await pending(waitingForBlock)).toMatch(stopped);
    expect(await pending(waitingForDigests)).toMatch(stopped);
    expect(activeHashJobs()).toBe(0);
  });

  it('has at most HASH_BLOCKS_PER_FILE blocks in flight, then makes the stream wait for one', async () => {
    // Prepare
    const digester = new WorkerDigester();
    const blocks = Array.from({ length: HASH_BLOCKS_PER_FILE + 1 }, () => randomBytes(HASH_BLOCK_BYTES));

    // Act: no turn of the event loop in between, so no block can have come back yet
    const waited = blocks.map((block) => digester.update(block));

    // Assess
    expect(waited.map((wait) => wait !== undefined)).toEqual([
      ...Array(HASH_BLOCKS_PER_FILE).fill(false),
      true,
    ]);
    await waited.at(-1);
    const { size: _size, ...expected } = digestsOf(Buffer.concat(blocks));
    expect(await digester.digests()).toEqual(expected);
    expect(activeHashJobs()).toBe(0);
  });

  it('gathers small chunks into one block, so the stream does not wait after a few of them', async () => {
    // Prepare
    const digester = new WorkerDigester();
    const chunks = Array.from({ length: HASH_BLOCKS_PER_FILE + 1 }, () => randomBytes(10));

    // Act
    const waited = chunks.map((chunk) => digester.update(chunk));

    // Assess
    expect(waited).toEqual(Array(HASH_BLOCKS_PER_FILE + 1).fill(undefined));
    const { size: _size, ...expected } = digestsOf(Buffer.concat(chunks));
    expect(await digester.digests()).toEqual(expected);
  });

  it('refuses more bytes once cancelled, and closes the file', async () => {
    // Prepare
    const before = activeHashJobs();
    const digester = new WorkerDigester();
    digester.update(randomBytes(HASH_BLOCK_BYTES + 1));
    expect(activeHashJobs()).toBe(before + 1);

    // Act
    digester.cancel();

    // Assess
    expect(activeHashJobs()).toBe(before);
    await expect(digester.update(randomBytes(10)) ?? Promise.resolve()).rejects.toThrow(
      'Hashing was cancelled',
    );
    await expect(digester.digests()).rejects.toThrow('Hashing was cancelled');
  });

  it('keeps the worker failure as the reason when a failed file is then cancelled', async () => {
    // Prepare: a file whose worker stopped under it
    const digester = new WorkerDigester();
    digester.update(randomBytes(HASH_BLOCK_BYTES));
    await terminateHashWorker();

    // Act: the stream fails and cancels the file
    digester.cancel();

    // Assess
    await expect(digester.digests()).rejects.toThrow(
      /^Error occurred while adding the file to vault\. The hashing worker stopped \(exit code \d+\)$/,
    );
    expect(activeHashJobs()).toBe(0);
  });

  it('goes on hashing on the replacement once the stopped worker has gone: stopping that one fails its files', async () => {
    // Prepare: a file on the first worker, which is stopping while the next file starts on a replacement
    const first = new WorkerDigester();
    first.update(randomBytes(10));
    const stopping = terminateHashWorker();
    const second = new WorkerDigester();
    await stopping;
    const third = new WorkerDigester();
    third.update(randomBytes(10));

    // Act: stop the worker files now hash on
    await terminateHashWorker();

    // Assess: the second and third files were on the same worker
    await expect(first.digests()).rejects.toThrow(/The hashing worker stopped/);
    await expect(second.digests()).rejects.toThrow(/The hashing worker stopped/);
    await expect(third.digests()).rejects.toThrow(/The hashing worker stopped/);
    expect(activeHashJobs()).toBe(0);
  });
});
