import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import { dispositionFileName, getFile } from '../../../shared/actions/get-file.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import type { TaniumApi, TaniumRequest } from '../../../shared/tanium/client.ts';
import { errorText } from '../../../shared/tanium/error-text.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import type { StoreArchiveOptions, VaultFileItem } from '../../../shared/vault/types.ts';
import type { Vault } from '../../../shared/vault/vault.ts';
import { VaultReader } from '../../../shared/vault/vault-reader.ts';

/** Where get file cuts a non-zip body for its message. */
const CUT = 64 * 1024;
/** How much of a non-zip body get file reads: the cut, and a margin past it for a secret the cut splits. */
const READ = CUT + 16 * 1024;
const token = 'tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const password = 'Pa"ss\\wörd&<9>';
const DATA_PATH = `${TR}/filedownload/data/f-1`;
const EVIDENCE_PATH = `${TR}/filedownload/f-1`;
const MAX_BYTES = 1024;

/** How a fake Tanium answers the download and the evidence lookup, and what the fake vault reports. */
interface Fake {
  status?: number;
  headers?: IncomingHttpHeaders;
  body?: Readable;
  /** The lookup's payload (no evidence by default), or the error it fails with. */
  evidence?: unknown;
  items?: VaultFileItem[];
  baseUrl?: string;
  deadline?: number;
}

/** What the fakes were asked: the download and lookup requests, and each archive the vault was given. */
interface Seen {
  streams: TaniumRequest[];
  lookups: TaniumRequest[];
  stored: Array<{ bytes: Buffer; options: StoreArchiveOptions }>;
}

/** A context whose Tanium answers as `fake` says (a small zip by default) and whose vault reads it all. */
function fakeTanium(fake: Fake = {}): { ctx: ActionContext; seen: Seen; body: Readable } {
  const seen: Seen = { streams: [], lookups: [], stored: [] };
  const body = fake.body ?? Readable.from([Buffer.from('PK\x03\x04')]);
  const client = {
    credentials: { baseUrl: fake.baseUrl ?? 'https://tanium.example', timeoutSeconds: 30 },
    errorText: (text: string, type: string) => errorText(text, type, [token, password]),
    request: (request: TaniumRequest) => {
      seen.lookups.push(request);
      const evidence = fake.evidence ?? {};
      return evidence instanceof Error
        ? Promise.reject(evidence)
        : Promise.resolve({ status: 200, payload: evidence, headers: {} });
    },
    stream: (request: TaniumRequest) => {
      seen.streams.push(request);
      return Promise.resolve({
        status: fake.status ?? 200,
        headers: fake.headers ?? { 'content-type': 'application/zip' },
        body,
        auth: 'session' as const,
      });
    },
  } as unknown as TaniumApi;
  const vault = {
    storeArchive: async (archive: AsyncIterable<Uint8Array>, options: StoreArchiveOptions) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of archive) chunks.push(chunk);
      seen.stored.push({ bytes: Buffer.concat(chunks), options });
      return fake.items ?? [];
    },
  } as unknown as Vault;
  const ctx: ActionContext = {
    client,
    deadline: fake.deadline ?? Date.now() + 60_000,
    requestId: 'req-1',
    vault,
    getFileMaxBytes: MAX_BYTES,
  };
  return { ctx, seen, body };
}

/** A body sending `chunks`, then failing with `error` when one is given. */
function bodyOf(chunks: Buffer[], error?: unknown): Readable {
  return Readable.from(
    (function* () {
      yield* chunks;
      if (error !== undefined) throw error;
    })(),
  );
}

/** A Tanium answering the download with `chunks` under `contentType` (then a reset if `failAfter`). */
function contextFor(contentType: string, chunks: Buffer[], failAfter = false): ActionContext {
  const body = bodyOf(chunks, failAfter ? new Error('socket hang up') : undefined);
  return fakeTanium({ headers: { 'content-type': contentType }, body }).ctx;
}

/** A vault item as the vault reports it, named `name`. */
function vaultItem(name: string, isArchive = false): VaultFileItem {
  const sha1 = `${name}-sha1`;
  return {
    vault_id: sha1,
    name,
    size: 10,
    hash: sha1,
    sha1,
    sha256: `${name}-sha256`,
    md5: `${name}-md5`,
    archive_name: 'evidence.zip',
    archive_size: 4,
    file_id: 'f-1',
    mime_type: 'application/octet-stream',
    metadata: {
      sha1,
      sha256: `${name}-sha256`,
      md5: `${name}-md5`,
      size: 10,
      archive_size: 4,
      contains: [name],
      action: 'get file',
    },
    bucket: 'vault-bucket',
    key: `vault/${sha1}`,
    already_stored: false,
    is_archive: isArchive,
  };
}

/** `form` placed so the cut leaves `before` of its bytes, after filler the message does not show. */
function bodyAround(contentType: string, label: string, form: string, before: number, total: number): Buffer {
  const html = contentType.includes('html');
  const open = html ? '<html><head><script>' : '';
  const close = html ? '</script></head><body><p>' : '';
  const fill = CUT - before - Buffer.byteLength(open + close + label);
  const head = `${open}${(html ? 'x' : ' ').repeat(fill)}${close}${label}`;
  const tail = ` more text${html ? '</p></body></html>' : ''}`;
  const body = Buffer.from(`${head}${form}${tail}`);
  return Buffer.concat([body, Buffer.from(' '.repeat(Math.max(0, total - body.length)))]);
}

/** Every piece of a secret's form long enough to be recognised (MIN_SECRET_LENGTH in config/credentials). */
function pieces(form: string): string[] {
  return Array.from({ length: form.length - 3 }, (_, i) => form.slice(0, i + 4));
}

const run = (ctx: ActionContext, params: Record<string, unknown> = { file_id: 'f-1' }) =>
  executeAction(getFile as unknown as ActionDefinition, params, ctx);

describe('get file: storing the download', () => {
  it('stores the archive under the name Tanium gave it, without looking up the evidence', async () => {
    // Prepare
    const archive = Buffer.from('PK\x03\x04zip');
    const items = [vaultItem('evil.exe')];
    const { ctx, seen, body } = fakeTanium({
      headers: {
        'content-type': 'application/zip',
        'content-length': String(archive.length),
        'content-disposition': 'attachment; filename="evidence.zip"',
      },
      body: Readable.from([archive]),
      items,
    });

    // Act
    const result = await run(ctx, { file_id: 'f-1', keep: 'both' });

    // Assess: the vault got every byte, and the options the contract asks for
    expect(result).toEqual({
      status: 'success',
      message: 'File downloaded to vault',
      parameter: { file_id: 'f-1', keep: 'both' },
      data: items,
      summary: { vault_id: 'evil.exe-sha1', total_files: 1 },
    });
    expect(seen.streams).toEqual([
      {
        method: 'GET',
        path: DATA_PATH,
        accept: 'application/zip, application/octet-stream',
        deadline: ctx.deadline,
        action: 'get file',
      },
    ]);
    expect(seen.lookups).toEqual([]);
    expect(seen.stored).toStrictEqual([
      {
        bytes: archive,
        options: {
          archiveName: 'evidence.zip',
          fileId: 'f-1',
          requestId: 'req-1',
          maxBytes: MAX_BYTES,
          contentLength: archive.length,
          keep: 'both',
          deadline: ctx.deadline,
        },
      },
    ]);
    expect(body.destroyed).toBe(true);
  });

  // The summary names the first item (extracted files come before the archive) and counts them all.
  it.each([
    ['no item', [], null],
    [
      'the extracted file and the archive',
      [vaultItem('evil.exe'), vaultItem('evidence.zip', true)],
      'evil.exe-sha1',
    ],
  ])('sums up %s', async (_case, items, vaultId) => {
    // Act
    const result = await run(fakeTanium({ items }).ctx);

    // Assess
    expect(result.data).toEqual(items);
    expect(result.summary).toEqual({ vault_id: vaultId, total_files: items.length });
  });

  it('names the archive after the file id, with host and path from the evidence, when the download names no file', async () => {
    // Prepare
    const { ctx, seen } = fakeTanium({
      evidence: { evidence: { hostname: 'host-1', path: 'C:\\Users\\bob\\evil.exe' } },
    });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.status).toBe('success');
    expect(seen.lookups).toEqual([
      { method: 'GET', path: EVIDENCE_PATH, deadline: ctx.deadline, action: 'get file' },
    ]);
    expect(seen.stored[0]?.options).toStrictEqual({
      archiveName: 'f-1.zip',
      fileId: 'f-1',
      host: 'host-1',
      remotePath: 'C:\\Users\\bob\\evil.exe',
      requestId: 'req-1',
      maxBytes: MAX_BYTES,
      keep: 'extract',
      deadline: ctx.deadline,
    });
  });

  // The lookup only adds what it knows for sure: an empty or non-text field, or a failed lookup, adds
  // nothing and never fails the download.
  it.each([
    ['only a host', { evidence: { hostname: 'host-1' } }, { host: 'host-1' }],
    ['only a path', { evidence: { path: '/tmp/evil' } }, { remotePath: '/tmp/evil' }],
    ['empty fields', { evidence: { hostname: '', path: '' } }, {}],
    ['fields that are not text', { evidence: { hostname: 7, path: ['/tmp/evil'] } }, {}],
    ['a null evidence', { evidence: null }, {}],
    ['no evidence', {}, {}],
    ['a body that is not an object', 'File 7 not found', {}],
    ['a failed lookup', new TaniumError('tanium', 'Not found', { status: 404 }), {}],
  ])('stores the file with what the evidence says when it holds %s', async (_case, evidence, details) => {
    // Prepare
    const { ctx, seen } = fakeTanium({ evidence });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.status).toBe('success');
    expect(seen.lookups).toHaveLength(1);
    const { archiveName, fileId, host, remotePath } = seen.stored[0]!.options;
    expect({ archiveName, fileId, host, remotePath }).toStrictEqual({
      archiveName: 'f-1.zip',
      fileId: 'f-1',
      host: undefined,
      remotePath: undefined,
      ...details,
    });
  });

  // Only a Content-Length of digits is believed; the vault checks the bytes it gets in any case.
  it.each([
    ['equal to the cap', String(MAX_BYTES), MAX_BYTES],
    ['absent', undefined, undefined],
    ['empty', '', undefined],
    ['with a trailing word', '12 bytes', undefined],
    ['with a leading sign', '+12', undefined],
  ])('hands the vault a Content-Length %s as the size to expect', async (_case, length, expected) => {
    // Prepare
    const headers: IncomingHttpHeaders = { 'content-type': 'application/zip', 'content-length': length };
    const { ctx, seen } = fakeTanium({ headers });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.status).toBe('success');
    const { options } = seen.stored[0]!;
    expect(options.contentLength).toBe(expected);
    expect('contentLength' in options).toBe(expected !== undefined);
  });

  it('refuses an archive whose Content-Length is over GET_FILE_MAX_BYTES before looking anything up', async () => {
    // Prepare
    const headers = { 'content-type': 'application/zip', 'content-length': String(MAX_BYTES + 1) };
    const { ctx, seen } = fakeTanium({ headers });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: `File is larger than the maximum of ${MAX_BYTES} bytes allowed by GET_FILE_MAX_BYTES`,
      error: { kind: 'too_large', retryable: false },
    });
    expect(seen.lookups).toEqual([]);
    expect(seen.stored).toEqual([]);
  });

  it('fails with a configuration error, before any call, when there is no vault', async () => {
    // Prepare
    const { ctx, seen } = fakeTanium();
    const { vault: _, ...withoutVault } = ctx;

    // Act
    const result = await run(withoutVault);

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'get file needs the vault: set VAULT_BUCKET',
      error: { kind: 'config', retryable: false },
    });
    expect(seen.streams).toEqual([]);
  });

  it("fails with a configuration error, before any call, given the intel function's vault, which only reads", async () => {
    // Prepare
    const { ctx, seen } = fakeTanium();

    // Act
    const result = await run({ ...ctx, vault: new VaultReader({ bucket: 'vault' }) });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'get file needs a vault that stores files: the evidence function has one',
      error: { kind: 'config', retryable: false },
    });
    expect(seen.streams).toEqual([]);
  });
});

/** A body that raises an abort error when destroyed unread, as undici's does, and notes whether anyone listened. */
class AbortingBody extends Readable {
  errorHeard: boolean | undefined;

  override _read(): void {
    // Never read: the download is refused first.
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.errorHeard = this.listenerCount('error') > 0;
    callback(error ?? new Error('aborted'));
  }
}

describe('get file: letting go of the download', () => {
  it('destroys the body of a refused download, listening for the abort error that raises', async () => {
    // Prepare: an unread body left open would hold the socket; its error unheard would end the process
    const body = new AbortingBody();
    const headers = { 'content-type': 'application/zip', 'content-length': String(MAX_BYTES + 1) };
    const { ctx } = fakeTanium({ headers, body });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.status).toBe('failed');
    expect(body.destroyed).toBe(true);
    expect(body.errorHeard).toBe(true);
  });
});

describe('get file: a download that fails part-way', () => {
  /** A failure of the socket, as Node and undici report it. */
  const socketError = (code: string) => Object.assign(new Error(`socket: ${code}`), { code });
  const resetMessage = `Error connecting to server: connection reset by tanium.example (GET ${DATA_PATH})`;

  // What the message says comes from the base URL (host, port, path prefix) and from the bytes counted.
  it.each([
    ['a reset', 'https://tanium.example', socketError('ECONNRESET'), resetMessage, 'transient'],
    [
      'a reset, under a base URL with a path',
      'https://tanium.example/tanium//',
      socketError('ECONNRESET'),
      `Error connecting to server: connection reset by tanium.example (GET /tanium${DATA_PATH})`,
      'transient',
    ],
    [
      'a refusal on the default HTTPS port',
      'https://tanium.example',
      socketError('ECONNREFUSED'),
      'Error connecting to server: connection refused by tanium.example:443',
      'transport',
    ],
    [
      'a refusal on the default HTTP port',
      'http://tanium.example',
      socketError('ECONNREFUSED'),
      'Error connecting to server: connection refused by tanium.example:80',
      'transport',
    ],
    [
      'a refusal on a port of its own',
      'https://tanium.example:8443',
      socketError('ECONNREFUSED'),
      'Error connecting to server: connection refused by tanium.example:8443',
      'transport',
    ],
    [
      'a stall, with the bytes sent before it',
      'https://tanium.example',
      socketError('UND_ERR_BODY_TIMEOUT'),
      `Error connecting to server: tanium.example stopped sending the answer after 1,500 bytes: nothing for 30 s (GET ${DATA_PATH})`,
      'transient',
    ],
    [
      'an error already in the contract terms, as it is',
      'https://tanium.example',
      new TaniumError('vault', 'Vault write failed'),
      'Vault write failed',
      'vault',
    ],
  ])('reports %s', async (_case, baseUrl, error, message, kind) => {
    // Prepare: 1,500 bytes in two chunks, then the failure
    const body = bodyOf([Buffer.alloc(1000), Buffer.alloc(500)], error);
    const { ctx } = fakeTanium({ baseUrl, body });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(message);
    expect(result.error?.kind).toBe(kind);
  });

  // Within 5 ms of the deadline the invocation ran out of time, whatever the socket said.
  it.each([
    [
      '5 ms before the deadline',
      5,
      `Error connecting to server: the invocation ran out of time during GET ${DATA_PATH}`,
    ],
    ['6 ms before the deadline', 6, resetMessage],
  ])('reports a reset %s as such', async (_case, before, message) => {
    // Prepare
    const deadline = 1_800_000_000_000;
    vi.spyOn(Date, 'now').mockReturnValue(deadline - before);
    const body = bodyOf([Buffer.alloc(10)], socketError('ECONNRESET'));
    const { ctx } = fakeTanium({ body, deadline });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.message).toBe(message);
  });
});

describe('get file: a body that is not a zip', () => {
  // What shows after the label: nothing, or the piece the cut left when it is long enough to be hidden
  // as a secret cut short (half of it, and 8 characters, as it is).
  it.each([
    ['the session token, as is', 'text/html', token, 20, ' [redacted]'],
    [
      'the password, HTML-escaped',
      'text/html',
      'Pa&quot;ss\\w&ouml;rd&amp;&lt;9&gt;'.replace('&ouml;', 'ö'),
      16,
      ' [redacted]',
    ],
    ['the password, percent-encoded', 'text/html', encodeURIComponent(password), 16, ''],
    ['the password, escaped as in JSON', 'text/plain', JSON.stringify(password).slice(1, -1), 12, ''],
    ['the password, as is, cut inside a character', 'text/plain', password, 8, ''],
  ])('shows no piece of %s that the cut splits', async (_case, contentType, form, before, shown) => {
    // Prepare: the body goes on well past what is read, in network-sized chunks
    const body = bodyAround(contentType, 'session: ', form, before, CUT + 64 * 1024);
    const chunks = Array.from({ length: Math.ceil(body.length / 16_384) }, (_, i) =>
      body.subarray(i * 16_384, (i + 1) * 16_384),
    );

    // Act
    const result = await run(contextFor(contentType, chunks));

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(
      `Expected a zip archive but Tanium returned ${contentType}: session:${shown}`,
    );
    for (const piece of [...pieces(form), ...pieces(token), ...pieces(password)]) {
      expect(result.message).not.toContain(piece);
    }
  });

  it('shows no piece of a secret the end of a body that broke off splits', async () => {
    // Prepare: the connection drops 12 bytes into the token
    const body = bodyAround('text/html', 'session: ', token, 12, 0);
    const sent = body.subarray(0, CUT);

    // Act
    const result = await run(contextFor('text/html', [sent], true));

    // Assess: the page's only text is too close to where it broke off to be shown
    expect(result.message).toBe('Expected a zip archive but Tanium returned text/html');
  });

  it('shows nothing of a short body that broke off, rather than call it empty', async () => {
    // Prepare: all of it is within the margin where a secret could have been cut
    const sent = Buffer.from('Error: service unavailable');

    // Act
    const result = await run(contextFor('text/plain', [sent], true));

    // Assess
    expect(result.message).toBe('Expected a zip archive but Tanium returned text/plain');
  });

  it('shows the secret as redacted when the whole body was read', async () => {
    // Prepare: past the cut, but within what is read
    const body = bodyAround('text/html', 'session: ', token, 20, CUT + 100);

    // Act
    const result = await run(contextFor('text/html', [body]));

    // Assess
    expect(result.message).toBe(
      'Expected a zip archive but Tanium returned text/html: session: [redacted] more text',
    );
  });

  it('reads a JSON body of exactly the size it reads as whole', async () => {
    // Prepare: the message comes after padding, so only the whole body parses
    const json = (pad: string) => `{"pad":"${pad}","message":"File 7 not found"}`;
    const body = Buffer.from(json('x'.repeat(READ - json('').length)));
    expect(body.length).toBe(READ);

    // Act
    const result = await run(contextFor('application/json', [body]));

    // Assess
    expect(result.message).toBe(
      'Expected a zip archive but Tanium returned application/json: File 7 not found',
    );
  });

  it('stops reading a body that goes on and on', async () => {
    // Prepare: 16 MiB in network-sized chunks, counting those Tanium had to send
    let sent = 0;
    const body = Readable.from(
      (function* () {
        for (; sent < 1024; sent++) yield Buffer.alloc(16_384, 'x');
      })(),
    );
    const { ctx } = fakeTanium({ headers: { 'content-type': 'text/plain' }, body });

    // Act
    const result = await run(ctx);

    // Assess: what is read is 80 KiB, six chunks, and the stream buffers a few more at most
    expect(result.status).toBe('failed');
    expect(sent).toBeLessThan(64);
  });

  // The message shows the server's own words: a JSON body's message, an HTML page's visible text.
  it.each([
    [
      'a JSON body that starts with a byte order mark, as JSON',
      'application/json',
      '\uFEFF{"message":"File 7 not found"}',
      'File 7 not found',
    ],
    [
      'an HTML page as HTML whatever the case of its content type',
      'Text/HTML',
      '<p>File 7 &amp; its evidence are gone</p>',
      'File 7 & its evidence are gone',
    ],
  ])('reads %s', async (_case, contentType, text, said) => {
    // Act
    const result = await run(contextFor(contentType, [Buffer.from(text)]));

    // Assess
    expect(result.message).toBe(`Expected a zip archive but Tanium returned ${contentType}: ${said}`);
  });

  it('says so when the download has no content type', async () => {
    // Prepare
    const { ctx } = fakeTanium({ headers: {}, body: Readable.from([Buffer.from('Not found')]) });

    // Act
    const result = await run(ctx);

    // Assess
    expect(result.message).toBe('Expected a zip archive but Tanium returned no content type: Not found');
  });

  it("fails as Tanium's error, with the status it answered", async () => {
    // Prepare
    const { ctx } = fakeTanium({
      status: 203,
      headers: { 'content-type': 'text/plain' },
      body: Readable.from([Buffer.from('Not a zip')]),
    });

    // Act
    const outcome = getFile.run(ctx, { file_id: 'f-1', keep: 'extract' });

    // Assess
    await expect(outcome).rejects.toMatchObject({
      kind: 'tanium',
      status: 203,
      retryable: false,
      message: 'Expected a zip archive but Tanium returned text/plain: Not a zip',
    });
  });
});

describe('get file: Content-Disposition file names', () => {
  it.each([
    // Quoted or not, with or without spaces, the first of each parameter, reduced to its base name
    ['attachment; filename="evidence.zip"', 'evidence.zip'],
    ['attachment; filename=evidence.zip', 'evidence.zip'],
    ['filename=evidence.zip', 'evidence.zip'],
    ['attachment;filename=evidence.zip', 'evidence.zip'],
    ['attachment; FileName = "dir/e;v.zip"', 'e;v.zip'],
    ['attachment; filename=" evidence.zip "', 'evidence.zip'],
    ['attachment; filename="first.zip"; filename="second.zip"', 'first.zip'],
    ['attachment; filename="C:\\\\temp\\\\evidence.zip"', 'evidence.zip'],
    ['attachment; filename="dir/sub/e;v.zip"', 'e;v.zip'],
    // A quote that does not close is part of the name
    ['attachment; filename="evidence.zip', '"evidence.zip'],
    ['attachment; filename=evidence.zip"', 'evidence.zip"'],
    ['attachment; filename="', '"'],
    // filename* (RFC 5987) wins when it can be read
    ['attachment; filename="fallback.zip"; filename*=UTF-8\'\'r%C3%A9sum%C3%A9.zip', 'résumé.zip'],
    ["attachment; filename*=utf8''%C3%A9t%C3%A9.zip", 'été.zip'],
    ["attachment; filename*=UTF-8 ''%C3%A9t%C3%A9.zip", 'été.zip'],
    ["attachment; filename*=''%C3%A9t%C3%A9.zip", 'été.zip'],
    ["attachment; filename*=iso-8859-1'en'%E9t%E9.zip", 'été.zip'],
    ["attachment; filename*=latin1''%E9t%E9.zip", 'été.zip'],
    ["attachment; filename*=UTF-8''report%202024.zip", 'report 2024.zip'],
    ["attachment; filename*=UTF-8''50%off.zip", '50%off.zip'],
    ['attachment; filename*=UTF-8\'\'%FF%FE.zip; filename="plain.zip"', 'plain.zip'],
    ["attachment; filename*=windows-1252''%E9t%E9.zip; filename=plain.zip", 'plain.zip'],
    ['attachment; filename*=evidence.zip; filename=plain.zip', 'plain.zip'],
    // Raw bytes in filename*, as undici hands them over (a Latin-1 character a byte), are those bytes
    ["attachment; filename*=UTF-8''rÃ©sumÃ©.zip; filename=plain.zip", 'résumé.zip'],
    ["attachment; filename*=iso-8859-1''caf\u00e9.zip", 'café.zip'],
    ["attachment; filename*=UTF-8''caf\u00e9.zip; filename=plain.zip", 'plain.zip'],
    ["attachment; filename*=UTF-8''日本.zip", '日本.zip'],
    // A plain name sent as raw UTF-8 is read as such; one decoded already stays as it is
    ['attachment; filename="rÃ©sumÃ©.zip"', 'résumé.zip'],
    ['attachment; filename="æ\u0097¥æ\u009c¬.zip"', '日本.zip'],
    ['attachment; filename="æ\u0097¥æ\u009c¬"', '日本'],
    ['attachment; filename="\u00e9t\u00e9.zip"', 'été.zip'],
    ['attachment; filename="日本.zip"', '日本.zip'],
    ['attachment; filename="Ã©–1.zip"', 'Ã©–1.zip'],
    ['attachment; filename="rÃ©sumÃ©.zip"; filename*=UTF-8\'\'%C3%A9t%C3%A9.zip', 'été.zip'],
    // No usable name
    ['attachment', undefined],
    ['attachment; filename=""', undefined],
    [undefined, undefined],
  ])('reads %j as %j', (header, name) => {
    expect(dispositionFileName(header)).toBe(name);
  });
});
