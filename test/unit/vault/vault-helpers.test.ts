import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { AWS_HTTP_OPTIONS } from '../../../shared/config/aws-client-config.ts';
import { TooLargeError, VaultError } from '../../../shared/tanium/errors.ts';
import { bestEffort } from '../../../shared/vault/cleanup.ts';
import {
  ArchiveError,
  archiveContentTooLarge,
  deadlinePassedError,
  getFileTooLarge,
  vaultAddError,
} from '../../../shared/vault/errors.ts';
import { HashingStream } from '../../../shared/vault/hashing.ts';
import {
  buildMetadata,
  decodeMetadataValue,
  encodeMetadataValue,
  encodeWithin,
  MAX_METADATA_BYTES,
  METADATA_KEYS,
  METADATA_VALUE_BUDGETS,
} from '../../../shared/vault/metadata.ts';
import { resultKey } from '../../../shared/vault/result-store.ts';
import { s3ClientConfig } from '../../../shared/vault/s3-config.ts';
import { vaultKey } from '../../../shared/vault/vault-reader.ts';

const START = '2026-01-01T00:00:00.000Z';

describe('Vault: helpers', () => {
  it('percent-encodes non-ASCII metadata values and decodes them back', () => {
    // Prepare
    const names = ['plain.txt', 'résumé 100%.txt', 'C:\\Temp\\日本.exe', 'tab\there', '  rule.yara ', ' '];

    // Act
    const encoded = names.map(encodeMetadataValue);

    // Assess
    expect(encoded[0]).toBe('plain.txt');
    expect(encoded[1]).toBe('r%C3%A9sum%C3%A9 100%25.txt');
    // HTTP trims spaces at either end of a header value: those travel encoded
    expect(encoded[4]).toBe('%20%20rule.yara%20');
    expect(encoded[5]).toBe('%20');
    // Only the runs at the ends: spaces inside a value travel as they are
    expect(encodeMetadataValue(`${' '.repeat(3)}x${' '.repeat(1_000)}y `)).toBe(
      `${'%20'.repeat(3)}x${' '.repeat(1_000)}y%20`,
    );
    // A control character's escape keeps its leading zero; the last printable character stays as it is,
    // the one after it does not, and escapes are upper case
    expect(encoded[3]).toBe('tab%09here');
    expect(encodeMetadataValue('a~b\x7f')).toBe('a~b%7F');
    for (const value of encoded) expect(value).toMatch(/^[\x20-\x7e]*$/);
    expect(encoded.map(decodeMetadataValue)).toEqual(names);
  });

  it('reads an absent metadata value as absent, and a value that is no valid percent-encoding as it is', () => {
    // Assess
    expect(decodeMetadataValue(undefined)).toBeUndefined();
    expect(decodeMetadataValue('100%')).toBe('100%');
    expect(decodeMetadataValue('%E6%97')).toBe('%E6%97');
  });

  it('cuts long metadata values at an escape boundary', () => {
    // Act
    const encoded = encodeWithin('é'.repeat(1000), 512);

    // Assess
    expect(encoded.length).toBeLessThanOrEqual(512);
    expect(decodeMetadataValue(encoded)).toBe('é'.repeat(encoded.length / 6));
    // A value that exactly fills the budget is kept whole; a character that does not fit is left out whole
    expect(encodeWithin('abc', 3)).toBe('abc');
    expect(encodeWithin('aé', 7)).toBe('a%C3%A9');
    expect(encodeWithin('aé', 6)).toBe('a');
  });

  it("keeps every file name of at most 255 UTF-8 bytes whole, within S3's 2 KB of metadata", () => {
    // Prepare: the worst case, 3 encoded characters per byte
    const name = `${'検'.repeat(83)}.yara`;
    expect(Buffer.byteLength(name)).toBe(254);
    const longest = Object.fromEntries(
      Object.entries(METADATA_VALUE_BUDGETS).map(([field, budget]) => [field, 'x'.repeat(budget + 50)]),
    );

    // Act
    const metadata = buildMetadata({ ...longest, fileName: name });
    const full = buildMetadata(longest);

    // Assess
    expect(decodeMetadataValue(metadata['file-name'])).toBe(name);
    const bytes = Object.entries(full).reduce(
      (total, [key, value]) => total + Buffer.byteLength(key) + Buffer.byteLength(value),
      0,
    );
    expect(Object.keys(full)).toEqual(Object.values(METADATA_KEYS));
    expect(bytes).toBeLessThanOrEqual(MAX_METADATA_BYTES);
  });

  it('keeps the extension of a file name it has to cut', () => {
    // Prepare
    const name = `${'マルウェア検出ルール_'.repeat(40)}.yara`;
    const archive = `${'証拠'.repeat(200)}.zip`;

    // Act
    const metadata = buildMetadata({ fileName: name, archiveName: archive, remotePath: `C:\\${name}` });

    // Assess
    const fileName = decodeMetadataValue(metadata['file-name'])!;
    expect(metadata['file-name']!.length).toBeLessThanOrEqual(METADATA_VALUE_BUDGETS.fileName);
    expect(fileName).toMatch(/^(マルウェア検出ルール_)+マ?.*\.yara$/);
    expect(name.startsWith(fileName.slice(0, -'.yara'.length))).toBe(true);
    expect(decodeMetadataValue(metadata['archive-name'])).toMatch(/^(証拠)+証?\.zip$/);
    expect(metadata['archive-name']!.length).toBeLessThanOrEqual(METADATA_VALUE_BUDGETS.archiveName);
    // A path keeps its start: where the file was matters more than its (separately stored) name.
    expect(decodeMetadataValue(metadata['remote-path'])).toMatch(/^C:\\マルウェア/);
  });

  it.each([
    ['without an extension', `${'x'.repeat(254)} Z`],
    ['whose extension is longer than a quarter of the budget', `a.${'b'.repeat(300)}`],
  ])('cuts a file name %s like any value, keeping its start', (_case, name) => {
    // Act
    const metadata = buildMetadata({ archiveName: name });

    // Assess
    expect(metadata['archive-name']).toBe(name.slice(0, METADATA_VALUE_BUDGETS.archiveName));
  });

  it('leaves unknown values out of the metadata', () => {
    // Act
    const metadata = buildMetadata({ fileName: 'a.txt', size: 3, host: undefined, remotePath: '' });

    // Assess
    expect(metadata).toEqual({ 'file-name': 'a.txt', size: '3' });
  });

  it('stores each value under its own S3 metadata key', () => {
    // Act
    const metadata = buildMetadata({
      fileName: 'a.txt',
      size: 3,
      sha1: 's1',
      sha256: 's256',
      md5: 'm5',
      fileId: '42',
      host: 'ws-01',
      remotePath: 'C:\\a.txt',
      requestId: 'req-1',
      archiveName: 'a.zip',
      action: 'get-file',
    });

    // Assess: the keys the vault's own checks and every reader of x-amz-meta-* rely on
    expect(metadata).toEqual({
      'file-name': 'a.txt',
      size: '3',
      sha1: 's1',
      sha256: 's256',
      md5: 'm5',
      'file-id': '42',
      host: 'ws-01',
      'remote-path': 'C:\\a.txt',
      'request-id': 'req-1',
      'archive-name': 'a.zip',
      action: 'get-file',
    });
  });

  it('fails the hashing stream above its byte limit and remembers the error', async () => {
    // Prepare
    const hasher = new HashingStream({ maxBytes: 10, tooLarge: getFileTooLarge });

    // Act
    const error = await pipeline(
      Readable.from([Buffer.alloc(8), Buffer.alloc(8)]),
      hasher,
      async (source) => {
        for await (const _chunk of source) {
          // drain
        }
      },
    ).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect((error as Error).message).toBe(
      'File is larger than the maximum of 10 bytes allowed by GET_FILE_MAX_BYTES',
    );
    expect(hasher.sourceError).toBe(error);
  });

  it.each([
    [10, undefined],
    [11, TooLargeError],
  ])(
    'lets exactly maxBytes through the hashing stream and fails one byte more (%i of 10 bytes)',
    async (bytes, failure) => {
      // Prepare: the cap is the largest size allowed, not the first size refused; chunks of 5 and the
      // rest, so the cap is met by a sum of chunks, not by one chunk
      const content = Buffer.alloc(bytes, 1);
      const hasher = new HashingStream({ maxBytes: 10, tooLarge: getFileTooLarge });

      // Act
      const error = await pipeline(
        Readable.from([content.subarray(0, 5), content.subarray(5)]),
        hasher,
        async (source) => {
          for await (const _chunk of source) {
            // drain
          }
        },
      ).catch((caught: unknown) => caught);

      // Assess
      if (failure === undefined) {
        expect(error).toBeUndefined();
        expect(hasher.digests.size).toBe(10);
        expect(hasher.sourceError).toBeUndefined();
      } else {
        expect(error).toBeInstanceOf(failure);
        expect(hasher.sourceError).toBe(error);
      }
    },
  );

  it('fails the hashing stream above its byte limit with a RangeError when no error is given', async () => {
    // Prepare
    const hasher = new HashingStream({ maxBytes: 10 });

    // Act
    const error = await pipeline(Readable.from([Buffer.alloc(11)]), hasher, async (source) => {
      for await (const _chunk of source) {
        // drain
      }
    }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe('More than 10 bytes');
  });

  it('does not take a reader that stops early as a failure of the data', async () => {
    // Prepare
    const hasher = new HashingStream({ worker: false });
    hasher.write(Buffer.alloc(8));

    // Act: what lib-storage does once S3 failed a part
    for await (const _chunk of hasher) break;

    // Assess
    expect(hasher.destroyed).toBe(true);
    expect(hasher.sourceError).toBeUndefined();
  });

  it.each([
    ['an error of its own', new Error('the download broke')],
    [
      'an AbortError that is not a reader stopping',
      new DOMException('The operation was aborted', 'AbortError'),
    ],
  ])('remembers the hashing stream was destroyed with %s', async (_case, failure) => {
    // Prepare
    const hasher = new HashingStream({ worker: false });
    const failed = new Promise((resolve) => hasher.once('error', resolve));

    // Act
    hasher.destroy(failure);
    await failed;

    // Assess
    expect(hasher.sourceError).toBe(failure);
  });

  it('wraps S3 errors as vault errors, retryable for 5xx and throttling only', () => {
    // Prepare
    const s3Error = (name: string, status: number) =>
      Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

    // Act
    const slowDown = vaultAddError(s3Error('SlowDown', 503));
    const denied = vaultAddError(s3Error('AccessDenied', 403));

    // Assess
    expect(slowDown).toBeInstanceOf(VaultError);
    expect(slowDown.message).toBe(
      'Error occurred while adding the file to vault. SlowDown: SlowDown happened (HTTP 503)',
    );
    expect(slowDown.info).toEqual({ kind: 'vault', retryable: true });
    expect(denied.info).toEqual({ kind: 'vault', retryable: false });
  });

  it('names the setting when the S3 client has no region (a local run without AWS_REGION)', async () => {
    // Prepare: the SDK's own error. An empty region is checked as a missing one, before any lookup in
    // the environment, the AWS config files or the instance metadata service: nothing leaves the process.
    const { S3Client, HeadObjectCommand } = await import('@aws-sdk/client-s3');
    let thrown: unknown;
    try {
      const client = new S3Client({ region: '', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }));
    } catch (error) {
      thrown = error;
    }

    // Act
    const error = vaultAddError(thrown);

    // Assess
    expect(error.message).toBe(
      'Error occurred while adding the file to vault. Region is missing: set AWS_REGION',
    );
  });

  it.each([
    [
      'a bodiless 400',
      Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 400 } }),
      'S3 refused the request (HTTP 400, no error text) (bucket evidence)',
    ],
    [
      'a bodiless 404',
      Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 404 } }),
      'no such bucket or object (HTTP 404, no error text) (bucket evidence)',
    ],
    // Without a status the SDK's text is all there is, and it is no S3 answer: no bucket either.
    [
      'an Unknown error without a status',
      Object.assign(new Error('UnknownError'), { name: 'Unknown' }),
      'Unknown: UnknownError',
    ],
    [
      'an Unknown error with its own text',
      Object.assign(new Error('socket hang up'), { name: 'Unknown', $metadata: { httpStatusCode: 400 } }),
      'Unknown: socket hang up (HTTP 400) (bucket evidence)',
    ],
    // Only the SDK's bodiless answer is read by its status; a named error keeps its own text.
    [
      'a named error whose text is UnknownError',
      Object.assign(new Error('UnknownError'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
      'NotFound: UnknownError (HTTP 404) (bucket evidence)',
    ],
    [
      'a text quoting undefined, without a local path',
      Object.assign(new Error("EBADF: bad file descriptor, read 'undefined'"), { code: 'EBADF' }),
      "EBADF: bad file descriptor, read 'undefined'",
    ],
    ['a plain Error, whose name says nothing', new Error('write EPIPE'), 'write EPIPE'],
    ['an error with an empty name', Object.assign(new Error('reset'), { name: '' }), 'reset'],
    [
      'an error with no text',
      Object.assign(new Error(''), { name: 'TimeoutError' }),
      'TimeoutError: unknown error',
    ],
    ['a value that is no Error', 'socket closed', 'socket closed'],
    [
      'an error with a status of 0',
      Object.assign(new Error('aborted'), { name: 'AbortError', $metadata: { httpStatusCode: 0 } }),
      'AbortError: aborted (bucket evidence)',
    ],
    [
      'a file system error naming its local path',
      Object.assign(new Error("EACCES: permission denied, open 'spool-1'"), {
        code: 'EACCES',
        path: 'spool-1',
      }),
      'EACCES: permission denied, open the spool file',
    ],
    [
      'a rename naming both local paths',
      Object.assign(new Error("EXDEV: cross-device link not permitted, rename 'spool-1' -> 'spool-2'"), {
        code: 'EXDEV',
        path: 'spool-1',
        dest: 'spool-2',
      }),
      'EXDEV: cross-device link not permitted, rename the spool file',
    ],
    // An empty path would turn every '' of the message into the spool file.
    [
      'a file system error with an empty path',
      Object.assign(new Error("EIO: i/o error, read ''"), { code: 'EIO', path: '' }),
      "EIO: i/o error, read ''",
    ],
  ])('describes %s as the vault error a result carries', (_case, failure, details) => {
    // Act
    const error = vaultAddError(failure, 'evidence');

    // Assess
    expect(error.message).toBe(`Error occurred while adding the file to vault. ${details}`);
    expect(error.cause).toBe(failure);
  });

  it('tells an archive error, the cap of all files and the deadline apart by kind, retry and text', () => {
    // Prepare
    const cause = new Error('bad CRC');

    // Act
    const archive = new ArchiveError('The archive is corrupt', { cause });
    const total = archiveContentTooLarge(1024);
    const deadline = deadlinePassedError(cause);

    // Assess: downloading the same bytes again cannot help an archive error; a deadline can pass
    expect(archive).toMatchObject({ name: 'ArchiveError', kind: 'tanium', retryable: false, cause });
    expect(archive.message).toBe('Error while creating file. The archive is corrupt');
    expect(new ArchiveError('No file').cause).toBeUndefined();
    expect(total).toBeInstanceOf(TooLargeError);
    expect(total.message).toBe(
      'Files extracted from the archive total more than the maximum of 1024 bytes allowed by GET_FILE_MAX_BYTES',
    );
    expect(deadline).toBeInstanceOf(VaultError);
    expect(deadline).toMatchObject({ retryable: true, cause });
    expect(deadline.message).toBe(
      'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
    );
  });

  it('wraps a failure that is no error at all as a vault error that is not retried', () => {
    // Act
    const error = vaultAddError(undefined, 'evidence');

    // Assess
    expect(error.message).toBe('Error occurred while adding the file to vault. undefined');
    expect(error.info).toEqual({ kind: 'vault', retryable: false });
  });

  it('wraps a full spool or exhausted file descriptors as a retryable vault error', () => {
    // Prepare
    const local = (code: string) => Object.assign(new Error(`${code}: write failed`), { code });

    // Act
    const errors = ['ENOSPC', 'EMFILE', 'ENFILE'].map((code) => vaultAddError(local(code)));
    const denied = vaultAddError(local('EACCES'));

    // Assess
    for (const error of errors) expect(error.info).toEqual({ kind: 'vault', retryable: true });
    expect(errors[0]!.message).toBe('Error occurred while adding the file to vault. ENOSPC: write failed');
    expect(denied.info).toEqual({ kind: 'vault', retryable: false });
  });

  it('gives every result sharing a request id its own key, and the same result published again the same one', () => {
    // Prepare
    const run = { requestId: 'req-1', action: 'get events', startedAt: START, data: [1], context: { t: 1 } };
    const key = (result: typeof run) => resultKey(result.requestId, JSON.stringify(result));

    // Act: another action, another start, the same start with other data, a replay with another context
    const keys = [
      key(run),
      key({ ...run, action: 'get process tree' }),
      key({ ...run, startedAt: '2026-01-01T00:00:00.001Z' }),
      key({ ...run, data: [2] }),
      key({ ...run, context: { t: 2 } }),
    ];

    // Assess: a replay with another context must not rewrite the object an earlier event points to
    expect(new Set(keys).size).toBe(5);
    expect(key({ ...run })).toBe(keys[0]);
  });

  it("keeps a result key under S3's 1,024 bytes and whole escapes for the longest request id", () => {
    // Prepare: 256 characters of three UTF-8 bytes each encode to 2,304 characters
    const requestId = `${'é'.repeat(255)}€`;

    // Act
    const key = resultKey(requestId, `{"requestId":${JSON.stringify(requestId)}}`);

    // Assess
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    const readable = key.split('/')[1] ?? '';
    expect(readable.length).toBeLessThanOrEqual(200);
    expect(readable.length).toBeGreaterThan(190);
    expect(decodeURIComponent(readable)).toMatch(/^é+$/);
  });

  it.each([
    ['three-byte characters and an emoji', '日本語😀'.repeat(40)],
    ['emoji only', '😀'.repeat(100)],
    ['ASCII, one character past the limit', 'a'.repeat(201)],
  ])(
    'cuts a long request id of %s between whole characters, so its key segment decodes',
    (_what, requestId) => {
      // Act
      const key = resultKey(requestId, `{"requestId":${JSON.stringify(requestId)}}`);

      // Assess: the longest whole-character start of the id that fits
      const readable = key.split('/')[1] ?? '';
      expect(readable.length).toBeLessThanOrEqual(200);
      const decoded = decodeURIComponent(readable);
      expect(requestId.startsWith(decoded)).toBe(true);
      const next = String.fromCodePoint(requestId.codePointAt(decoded.length) ?? 0);
      expect(readable.length + encodeURIComponent(next).length).toBeGreaterThan(200);
    },
  );

  it('keeps every result key inside results/ for a URL built from it, and distinct ids apart', () => {
    // Prepare
    const ids = ['.', '..', 'a.b', '%2E', '...', 'a%2Eb', './x', '../..'];

    // Act
    const keys = ids.map((requestId) => resultKey(requestId, `{"requestId":${JSON.stringify(requestId)}}`));

    // Assess: WHATWG URL (fetch, browsers, presigning helpers) resolves '%2E' and '%2E%2E' segments too
    for (const key of keys) {
      expect(new URL(key, 'https://vault.example/').pathname).toBe(`/${key}`);
    }
    const segments = keys.map((key) => key.split('/')[1] ?? '');
    expect(segments.slice(0, 3)).toEqual(['%2E_', '%2E%2E_', 'a%2Eb']);
    expect(segments.slice(3).map((segment) => decodeURIComponent(segment))).toEqual(ids.slice(3));
    expect(new Set(segments).size).toBe(ids.length);
  });

  it.each([
    ['answers', 20, () => Promise.resolve({}), 0, undefined, 1],
    ['has no time left', 0, () => Promise.resolve({}), 0, 'no time left for cleanup', 0],
    ['fails', 20, () => Promise.reject(new Error('socket hang up')), 0, 'socket hang up', 1],
    ['does not answer in time', 20, () => new Promise(() => undefined), 20, 'no answer within 20 ms', 1],
  ])(
    'tells why a cleanup call that %s did not complete (undefined: it did), and leaves no timer behind',
    async (_case, ms, answer, elapsed, why, calls) => {
      // Prepare: a pending timer would keep a CLI run alive after its result
      vi.useFakeTimers();
      onTestFinished(() => {
        vi.useRealTimers();
      });
      const send = vi.fn(answer);

      // Act
      const outcome = bestEffort(send, ms);
      await vi.advanceTimersByTimeAsync(elapsed);

      // Assess
      expect(await outcome).toBe(why);
      expect(send).toHaveBeenCalledTimes(calls);
      expect(vi.getTimerCount()).toBe(0);
    },
  );

  it('builds vault and result keys and a path-style client config when an endpoint is set', () => {
    // Assess
    expect(vaultKey('ABCDEF0123456789ABCDEF0123456789ABCDEF01')).toBe(
      'vault/abcdef0123456789abcdef0123456789abcdef01',
    );
    expect(resultKey('req/1 ../x', '{}')).toMatch(/^results\/req%2F1%20%2E%2E%2Fx\/[0-9a-f]{32}\.json$/);
    expect(s3ClientConfig({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' })).toEqual({
      endpoint: 'http://127.0.0.1:5000',
      forcePathStyle: true,
      requestHandler: AWS_HTTP_OPTIONS,
    });
    expect(s3ClientConfig({})).toEqual({ requestHandler: AWS_HTTP_OPTIONS });
  });
});
