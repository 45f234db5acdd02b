import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TooLargeError, VaultError } from '../../../shared/tanium/errors.ts';
import { deadlineAbort, isNotFound, VaultReader } from '../../../shared/vault/vault-reader.ts';
import { hexDigest } from '../../helpers/digests.ts';
import { failure } from '../../helpers/failure.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { sendOptions } from '../../helpers/sdk-mock.ts';

const BUCKET = 'vault-unit';

const s3 = mockClient(S3Client);

afterEach(() => {
  s3.reset();
  vi.useRealTimers();
});

/** The intel function's vault over the mocked client. */
function reader(): VaultReader {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return new VaultReader({ bucket: BUCKET, client });
}

/** An S3 call that never answers, as over a stalled connection. */
function neverAnswers(): Promise<never> {
  return new Promise(() => undefined);
}

describe('VaultReader: what counts as a missing object', () => {
  it.each(['NoSuchKey', 'NotFound'])('takes an S3 answer named %s for a missing object', (name) => {
    // Act
    const missing = isNotFound(s3ServiceError(name, 404));

    // Assess
    expect(missing).toBe(true);
  });

  it.each([
    ['a missing bucket, though a 404 too', s3ServiceError('NoSuchBucket', 404)],
    [
      'an error of the name NoSuchKey that S3 did not answer',
      Object.assign(new Error('gone'), { name: 'NoSuchKey' }),
    ],
    [
      'an error of the name NotFound that S3 did not answer',
      Object.assign(new Error('gone'), { name: 'NotFound' }),
    ],
    ['a broken connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['nothing at all', undefined],
  ])('does not take %s for a missing object', (_case, error) => {
    // Act
    const missing = isNotFound(error);

    // Assess
    expect(missing).toBe(false);
  });
});

describe('VaultReader: reading an intel document (mocked S3)', () => {
  const content = Buffer.from('rule demo { condition: true }');
  const sha1 = hexDigest('sha1', content);

  it('reads an object whose content is its vault_id', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({
      Body: Readable.from([content]) as never,
      ContentLength: content.length,
    });

    // Act
    const read = await reader().readForIntelDoc(sha1.toUpperCase());

    // Assess
    expect(read).toMatchObject({ bytes: content, size: content.length });
  });

  it('reads an empty document S3 answers without a body', async () => {
    // Prepare
    const empty = Buffer.alloc(0);
    s3.on(GetObjectCommand).resolves({ ContentLength: 0 });

    // Act
    const read = await reader().readForIntelDoc(hexDigest('sha1', empty));

    // Assess
    expect(read).toMatchObject({ bytes: empty, size: 0 });
  });

  it('refuses to send an object whose content is not its vault_id, naming what it holds', async () => {
    // Prepare: the object under vault/<sha1> was overwritten outside the service
    const other = Buffer.from('rule planted { condition: true }');
    s3.on(GetObjectCommand).resolves({ Body: Readable.from([other]) as never, ContentLength: other.length });

    // Act
    const error = await failure(reader().readForIntelDoc(sha1));

    // Assess: the vault's fault (an alarm's business), not retried
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Unable to read vault_id ${sha1} from the vault: its content does not match the vault_id (its SHA-1 is ${hexDigest('sha1', other)}): the object was written or changed outside this service, and is not sent`,
    );
    expect(error).toMatchObject({ retryable: false, requestFault: false });
  });

  it.each([
    ['39 hex characters', 'a'.repeat(39)],
    ['41 hex characters', 'a'.repeat(41)],
    ['a non-hex character', `${'a'.repeat(39)}g`],
    ['a vault id after other text', `x${'a'.repeat(40)}`],
    ['a vault id before other text', `${'a'.repeat(40)}x`],
  ])('refuses %s as a vault_id, the request at fault, without asking S3', async (_case, vaultId) => {
    // Act
    const error = await failure(reader().readForIntelDoc(vaultId));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Unable to read vault_id ${vaultId} from the vault: not a vault id (40 hex characters)`,
    );
    expect(error).toMatchObject({ retryable: false, requestFault: true });
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it.each(['NoSuchKey', 'NotFound'])(
    'reports an object S3 says is missing (%s) as the request at fault, not retried',
    async (name) => {
      // Prepare
      s3.on(GetObjectCommand).rejects(s3ServiceError(name, 404));

      // Act
      const error = await failure(reader().readForIntelDoc(sha1));

      // Assess
      expect(error.message).toBe(`Unable to read vault_id ${sha1} from the vault: no such file in the vault`);
      expect(error).toMatchObject({ retryable: false, requestFault: true });
    },
  );

  it.each([
    ['says its length', content.length],
    ['does not say its length', undefined],
  ])('reads a document of exactly the limit whose answer %s', async (_case, length) => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: Readable.from([content]) as never, ContentLength: length });

    // Act
    const read = await reader().readForIntelDoc(sha1, content.length);

    // Assess
    expect(read).toMatchObject({ bytes: content, size: content.length });
  });

  it('refuses a document over the limit whose answer does not say its length, once it reads past it', async () => {
    // Prepare: no Content-Length, so only the bytes read tell
    const body = Readable.from([content.subarray(0, 10), content.subarray(10)]);
    s3.on(GetObjectCommand).resolves({ Body: body as never });

    // Act
    const error = await failure(reader().readForIntelDoc(sha1, content.length - 1));

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(`Intel document is larger than ${content.length - 1} bytes`);
    expect(body.destroyed).toBe(true);
  });

  it('fails retryably, with what went wrong, when the body breaks off while it is read', async () => {
    // Prepare: the connection resets after the first bytes
    const body = new Readable({ read() {} });
    body.push(content.subarray(0, 10));
    setImmediate(() => body.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    s3.on(GetObjectCommand).resolves({ Body: body as never, ContentLength: content.length });

    // Act
    const error = await failure(reader().readForIntelDoc(sha1));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(`Unable to read vault_id ${sha1} from the vault: socket hang up`);
    expect(error).toMatchObject({ retryable: true, requestFault: false });
  });

  it('sends the GetObject for vault/<sha1> with the signal that ends it', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({
      Body: Readable.from([content]) as never,
      ContentLength: content.length,
    });

    // Act
    await reader().readForIntelDoc(sha1.toUpperCase(), 1024, Date.now() + 60_000);

    // Assess: the deadline reaches the HTTP request, not only the wait for it
    const gets = s3.commandCalls(GetObjectCommand);
    expect(gets.map((call) => call.args[0].input)).toEqual([{ Bucket: BUCKET, Key: `vault/${sha1}` }]);
    expect(sendOptions(gets[0]!)).toEqual({ abortSignal: expect.any(AbortSignal) });
  });

  it('fails a read that breaks off before S3 answers retryably, as the vault at fault, not as a missing file', async () => {
    // Prepare: not an S3 answer, so nothing says the object is missing
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    s3.on(GetObjectCommand).rejects(reset);

    // Act
    const error = await failure(reader().readForIntelDoc(sha1));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(`Unable to read vault_id ${sha1} from the vault: socket hang up`);
    expect(error).toMatchObject({ retryable: true, requestFault: false });
  });

  it('refuses a document whose answer says it is over the limit without reading a byte of it', async () => {
    // Prepare: a body that records whether it was read
    let read = false;
    const body = new Readable({
      read() {
        read = true;
        this.push(content);
        this.push(null);
      },
    });
    s3.on(GetObjectCommand).resolves({ Body: body as never, ContentLength: content.length + 1 });

    // Act
    const error = await failure(reader().readForIntelDoc(sha1, content.length));

    // Assess
    expect(error).toBeInstanceOf(TooLargeError);
    expect(error.message).toBe(`Intel document is larger than ${content.length} bytes`);
    expect(read).toBe(false);
    expect(body.destroyed).toBe(true);
  });

  it('keeps listening to the unread body of a document over the limit, so the error its destruction emits does not end the process', async () => {
    // Prepare: a body whose destruction fails, as an aborted socket's may; an 'error' emitted with no
    // listener throws, which in Lambda would end the process
    const body = new Readable({
      read() {},
      destroy(_error, callback) {
        callback(new Error('aborted'));
      },
    });
    const emitted: { heard: boolean }[] = [];
    const emit = body.emit.bind(body);
    body.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event !== 'error') return emit(event, ...args);
      try {
        emitted.push({ heard: emit(event, ...args) });
      } catch {
        emitted.push({ heard: false });
      }
      return true;
    }) as typeof body.emit;
    s3.on(GetObjectCommand).resolves({ Body: body as never, ContentLength: content.length + 1 });

    // Act
    const error = await failure(reader().readForIntelDoc(sha1, content.length));
    await sleep(10);

    // Assess: the error is emitted on a later tick, after the read failed, and finds a listener
    expect(error).toBeInstanceOf(TooLargeError);
    expect(emitted).toEqual([{ heard: true }]);
  });

  it('leaves no timer behind once a document with a deadline is read', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    s3.on(GetObjectCommand).resolves({
      Body: Readable.from([content]) as never,
      ContentLength: content.length,
    });

    // Act
    const read = await reader().readForIntelDoc(sha1, 1024, Date.now() + 60_000);

    // Assess: the deadline's timer is cleared with the read, not left to fire for every document read
    expect(read).toMatchObject({ bytes: content, size: content.length });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('VaultReader: stopAll', () => {
  const sha1 = 'a'.repeat(40);

  it('fails a read begun after stopAll at once, for good, without asking S3', async () => {
    // Prepare
    const vault = reader();
    vault.stopAll();

    // Act
    const error = await failure(vault.readForIntelDoc(sha1));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe('The vault was stopped: this process is exiting');
    expect((error as VaultError).retryable).toBe(false);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('stops a read S3 does not answer, as its deadline would, saying the vault was stopped', async () => {
    // Prepare
    s3.on(GetObjectCommand).callsFake(neverAnswers);
    const vault = reader();

    // Act
    const reading = failure(vault.readForIntelDoc(sha1));
    await sleep(10);
    vault.stopAll();
    const error = await reading;

    // Assess: retryable, so another process reads it again
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Unable to read vault_id ${sha1} from the vault: the invocation deadline passed before the document was read`,
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(error.cause).toEqual(new Error('the vault was stopped'));
  });
});

describe('VaultReader: deadlineAbort', () => {
  it('aborts at once, with its reason, when the vault was stopped already', () => {
    // Prepare
    const stopping = new AbortController();
    const reason = new Error('the vault was stopped');
    stopping.abort(reason);

    // Act
    const stop = deadlineAbort(undefined, stopping.signal);

    // Assess
    expect(stop.controller.signal.aborted).toBe(true);
    expect(stop.controller.signal.reason).toBe(reason);
  });

  it('aborts when the vault is stopped later', () => {
    // Prepare
    const stopping = new AbortController();
    const stop = deadlineAbort(undefined, stopping.signal);

    // Act
    stopping.abort(new Error('the vault was stopped'));

    // Assess
    expect(stop.controller.signal.aborted).toBe(true);
  });

  it('no longer aborts, at the deadline or on a stop, once cleared', async () => {
    // Prepare
    const stopping = new AbortController();
    const stop = deadlineAbort(Date.now() + 5, stopping.signal);

    // Act
    stop.clear();
    await sleep(20);
    stopping.abort(new Error('the vault was stopped'));

    // Assess
    expect(stop.controller.signal.aborted).toBe(false);
  });

  it('aborts at the deadline', async () => {
    // Prepare
    const stop = deadlineAbort(Date.now() + 5, new AbortController().signal);

    // Act
    await sleep(20);

    // Assess
    expect(stop.controller.signal.aborted).toBe(true);
    stop.clear();
  });
});
