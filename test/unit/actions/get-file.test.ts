import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import { getFile } from '../../../shared/actions/get-file.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import type { TaniumApi } from '../../../shared/tanium/client.ts';
import { errorText } from '../../../shared/tanium/error-text.ts';
import type { Vault } from '../../../shared/vault/vault.ts';

/** Where get file cuts a non-zip body for its message. */
const CUT = 64 * 1024;
const token = 'tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const password = 'Pa"ss\\wörd&<9>';

/** A Tanium answering the download with `chunks` under `contentType` (then a reset if `failAfter`). */
function contextFor(contentType: string, chunks: Buffer[], failAfter = false): ActionContext {
  const client = {
    credentials: { baseUrl: 'https://tanium.example', timeoutSeconds: 30 },
    errorText: (body: string, type: string) => errorText(body, type, [token, password]),
    request: () => Promise.reject(new Error('no lookup expected')),
    stream: () =>
      Promise.resolve({
        status: 200,
        headers: { 'content-type': contentType },
        body: Readable.from(
          (function* () {
            yield* chunks;
            if (failAfter) throw new Error('socket hang up');
          })(),
        ),
        auth: 'session' as const,
      }),
  } as unknown as TaniumApi;
  return {
    client,
    deadline: Date.now() + 60_000,
    requestId: 'req-1',
    vault: {} as Vault,
    getFileMaxBytes: 1024,
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

const run = (ctx: ActionContext) =>
  executeAction(getFile as unknown as ActionDefinition, { file_id: 'f-1' }, ctx);

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

  it('reads a JSON body that starts with a byte order mark as JSON', async () => {
    // Prepare
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"message":"File 7 not found"}'),
    ]);

    // Act
    const result = await run(contextFor('application/json', [body]));

    // Assess
    expect(result.message).toBe(
      'Expected a zip archive but Tanium returned application/json: File 7 not found',
    );
  });
});
