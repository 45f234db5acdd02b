import { describe, expect, it } from 'vitest';
import { ArchiveError } from '../../../shared/vault/errors.ts';
import { ByteSource } from '../../../shared/vault/zip/source.ts';
import { failure } from '../../helpers/failure.ts';

/** An upstream body that yields `chunks` and records what the reader asked of it. */
function upstream(chunks: (Uint8Array | string)[]): AsyncIterable<Uint8Array | string> & {
  pulls: number;
  returned: number;
} {
  const body = {
    pulls: 0,
    returned: 0,
    [Symbol.asyncIterator]: () => {
      let index = 0;
      return {
        next: async (): Promise<IteratorResult<Uint8Array | string>> => {
          body.pulls++;
          return index < chunks.length
            ? { done: false, value: chunks[index++]! }
            : { done: true, value: undefined };
        },
        return: async (): Promise<IteratorResult<Uint8Array | string>> => {
          body.returned++;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return body;
}

const tooLarge = (maxBytes: number): Error => new Error(`over ${maxBytes}`);

describe('Vault: ZIP byte source', () => {
  it('reads a string chunk as latin1 bytes, one byte per character', async () => {
    // Prepare
    const source = new ByteSource(upstream(['\u00e9\u00ffA']), undefined, tooLarge);

    // Act
    const chunk = await source.next();

    // Assess
    expect([...chunk!]).toEqual([0xe9, 0xff, 0x41]);
    expect(source.bytesRead).toBe(3);
  });

  it('reads a Uint8Array view at its own offset in a larger buffer', async () => {
    // Prepare
    const backing = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const source = new ByteSource(upstream([backing.subarray(2, 5)]), undefined, tooLarge);

    // Act
    const chunk = await source.next();

    // Assess
    expect(Buffer.isBuffer(chunk)).toBe(true);
    expect(chunk!.readUInt16LE(0)).toBe(0x0403);
    expect(chunk!.length).toBe(3);
  });

  it('closes an upstream iterator that has no return method', async () => {
    // Prepare
    const iterator = {
      next: async (): Promise<IteratorResult<Uint8Array>> => ({ done: false, value: Uint8Array.from([1]) }),
    };
    const source = new ByteSource({ [Symbol.asyncIterator]: () => iterator }, undefined, tooLarge);
    await source.next();

    // Act
    await source.close();

    // Assess
    expect(await source.next()).toBeNull();
  });

  it('skips empty upstream chunks instead of taking them for data or for the end', async () => {
    // Prepare
    const empty = new Uint8Array(0);
    const source = new ByteSource(
      upstream([empty, Uint8Array.from([1, 2]), empty, Uint8Array.from([3])]),
      undefined,
      tooLarge,
    );

    // Act
    const first = await source.next();
    const second = await source.next();
    const end = await source.next();

    // Assess
    expect([...first!]).toEqual([1, 2]);
    expect([...second!]).toEqual([3]);
    expect(end).toBeNull();
  });

  it('returns at most the bytes asked for and keeps the rest for the next read', async () => {
    // Prepare
    const source = new ByteSource(upstream([Uint8Array.from([1, 2, 3, 4])]), undefined, tooLarge);

    // Act
    const head = await source.next(3);
    const rest = await source.next();

    // Assess
    expect([...head!]).toEqual([1, 2, 3]);
    expect([...rest!]).toEqual([4]);
    expect(source.bytesRead).toBe(4);
  });

  it('accepts exactly the byte limit and fails with the given error one byte over it', async () => {
    // Prepare
    const atLimit = new ByteSource(upstream([Uint8Array.from([1, 2]), Uint8Array.from([3])]), 3, tooLarge);
    const overLimit = new ByteSource(
      upstream([Uint8Array.from([1, 2]), Uint8Array.from([3, 4])]),
      3,
      tooLarge,
    );

    // Act
    const read = await atLimit.peek(10);
    const error = await failure(overLimit.peek(10));

    // Assess
    expect([...read]).toEqual([1, 2, 3]);
    expect(error.message).toBe('over 3');
  });

  it('peeks across chunks without consuming, then reads exactly what was peeked', async () => {
    // Prepare
    const source = new ByteSource(
      upstream([Uint8Array.from([1, 2]), Uint8Array.from([3, 4, 5])]),
      undefined,
      tooLarge,
    );

    // Act
    const peeked = await source.peek(4);
    const nothing = await source.readExact(0);
    const exact = await source.readExact(4);
    const rest = await source.next();

    // Assess
    expect([...peeked]).toEqual([1, 2, 3, 4]);
    expect(nothing.length).toBe(0);
    expect([...exact]).toEqual([1, 2, 3, 4]);
    expect([...rest!]).toEqual([5]);
    expect(source.bytesRead).toBe(5);
  });

  it('peeks fewer bytes only at the end of the input, where an exact read is a truncated archive', async () => {
    // Prepare
    const source = new ByteSource(upstream([Uint8Array.from([1, 2])]), undefined, tooLarge);

    // Act
    const peeked = await source.peek(3);
    const error = await failure(source.readExact(3));

    // Assess
    expect([...peeked]).toEqual([1, 2]);
    expect(error).toBeInstanceOf(ArchiveError);
    expect(error.message).toMatch(/The archive is truncated/);
  });

  it('gives unread bytes back first, ignoring an empty give-back', async () => {
    // Prepare
    const source = new ByteSource(upstream([Uint8Array.from([1, 2, 3])]), undefined, tooLarge);
    const first = (await source.next(1))!;

    // Act
    source.unread(Buffer.alloc(0));
    source.unread(first);
    const again = await source.readExact(3);

    // Assess
    expect([...again]).toEqual([1, 2, 3]);
    expect(source.bytesRead).toBe(3);
  });

  it('stops the upstream on close, drops what it held, and reads nothing more', async () => {
    // Prepare
    const body = upstream([Uint8Array.from([1, 2, 3]), Uint8Array.from([4])]);
    const source = new ByteSource(body, undefined, tooLarge);
    await source.peek(2);
    const pullsBeforeClose = body.pulls;

    // Act
    await source.close();
    await source.close();
    const after = await source.next();

    // Assess
    expect(body.returned).toBe(1);
    expect(after).toBeNull();
    expect(body.pulls).toBe(pullsBeforeClose);
  });

  it('does not stop an upstream that has already ended', async () => {
    // Prepare
    const body = upstream([Uint8Array.from([1])]);
    const source = new ByteSource(body, undefined, tooLarge);
    await source.peek(5);

    // Act
    await source.close();

    // Assess
    expect(body.returned).toBe(0);
  });
});
