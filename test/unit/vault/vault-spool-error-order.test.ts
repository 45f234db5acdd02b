import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TooLargeError, VaultError } from '../../../shared/tanium/errors.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import { failure } from '../../helpers/failure.ts';

/**
 * pipeline settles only once its last stream has closed, so the spool file's error event (pipeline
 * destroys it with the data's failure) always comes before the vault sees the rejection. Node 22, the
 * Lambda runtime, emits them in that order by itself; Node 20 the other way round.
 */
vi.mock('node:stream/promises', async (importOriginal) => {
  const streams = await importOriginal<typeof import('node:stream/promises')>();
  const pipeline = async (...args: unknown[]) => {
    const sink = args.at(-1) as NodeJS.WritableStream & { closed: boolean };
    const closed = new Promise<void>((resolve) => (sink.closed ? resolve() : sink.once('close', resolve)));
    try {
      return await (streams.pipeline as (...all: unknown[]) => Promise<void>)(...args);
    } finally {
      await closed;
    }
  };
  return { ...streams, pipeline };
});

describe("Vault: the data's failure against the spool's, whichever the runtime reports first", () => {
  let spoolDir: string;
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });

  beforeEach(() => {
    spoolDir = mkdtempSync(join(tmpdir(), 'vault-spool-order-'));
  });
  afterEach(() => {
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it.each([
    ['a connection reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    [
      'an abort',
      Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }),
    ],
  ])(
    'fails a spooled file with the error its data failed with, %s, not as a vault error',
    async (_case, cause) => {
      // Prepare: data that fails after its first bytes
      const source = new Readable({ read() {} });
      source.push(Buffer.from('first bytes'));
      setImmediate(() => source.destroy(cause));
      const vault = new Vault({ bucket: 'vault-unit', client, spoolDir });

      // Act
      const error = await failure(vault.storeEvidence(source, { fileName: 'x.bin' }, { maxBytes: 1024 }));

      // Assess
      expect(error).toBe(cause);
      expect(readdirSync(spoolDir)).toEqual([]);
    },
  );

  it('fails a spooled file over its cap as too large, not as a vault error', async () => {
    // Prepare
    const vault = new Vault({ bucket: 'vault-unit', client, spoolDir });

    // Act
    const error = await failure(
      vault.storeEvidence(
        Readable.from([Buffer.alloc(800), Buffer.alloc(800)]),
        { fileName: 'x.bin' },
        { maxBytes: 1024 },
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe('File is larger than the maximum of 1024 bytes allowed by GET_FILE_MAX_BYTES');
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it("still reports the spool's own failure as a vault error", async () => {
    // Prepare: a spool directory that does not exist
    const vault = new Vault({ bucket: 'vault-unit', client, spoolDir: join(spoolDir, 'missing') });

    // Act
    const error = await failure(
      vault.storeEvidence(Readable.from([Buffer.from('x')]), { fileName: 'x.bin' }, { maxBytes: 1024 }),
    );

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      'Error occurred while adding the file to vault. ENOENT: no such file or directory, open the spool file',
    );
  });
});
