import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import * as z from 'zod/mini';
import { SETTING_DEFAULTS } from '../config/settings.ts';
import type { TaniumApi } from '../tanium/client.ts';
import { ConfigError, TaniumError } from '../tanium/errors.ts';
import { segment, TR } from '../tanium/routes.ts';
import { classifyTransportError, transportError } from '../tanium/transport-errors.ts';
import { getFileTooLarge } from '../vault/errors.ts';
import { KEEP_POLICIES, type KeepPolicy, type VaultFileItem } from '../vault/types.ts';
import { baseName } from '../vault/zip/names.ts';
import { enumeration, requiredText } from './params.ts';
import { type ActionContext, defineAction } from './types.ts';

/** The `file_id` parameter of get file and delete file; it goes into the request path. */
export const fileIdParam = requiredText('file_id', {
  description: 'File evidence uuid, as listed by list files',
  inUrl: 'path',
});

/** get file (tanium-api.md 2.17): a collected file, downloaded as a zip and stored in the S3 vault. */

const ACTION = 'get file';
const ACCEPT = 'application/zip, application/octet-stream';
/** How much of an unexpected (non-zip) body the error message is taken from. */
const ERROR_BODY_BYTES = 64 * 1024;
/**
 * Read past ERROR_BODY_BYTES so that a secret the cut splits is whole in the longer read: a secret's
 * longest form (percent-encoded) takes up to 12 bytes a character, so this covers secrets of up to 1,365
 * characters, far beyond any token, session or password Tanium issues or accepts.
 */
const SECRET_MARGIN_BYTES = 16 * 1024;

const evidenceResponse = z.looseObject({
  evidence: z.optional(
    z.nullable(
      z.looseObject({
        path: z.optional(z.unknown()),
        hostname: z.optional(z.unknown()),
      }),
    ),
  ),
});

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Percent-decodes an RFC 5987 value (`charset'lang'%xx...`); undefined when it cannot be read. */
function decodeExtendedValue(value: string): string | undefined {
  const match = /^([^']*)'[^']*'(.*)$/s.exec(value);
  if (!match) return undefined;
  const charset = match[1]!.trim().toLowerCase();
  const text = match[2]!;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '%' && /^[0-9a-f]{2}$/i.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      // RFC 5987 wants every other byte escaped, but a server may send raw ones, which undici hands
      // over one Latin-1 character a byte: that character is the byte. Only text decoded already has
      // characters past U+00FF.
      const code = char.charCodeAt(0);
      if (code <= 0xff) bytes.push(code);
      else bytes.push(...Buffer.from(char, 'utf8'));
    }
  }
  const buffer = Buffer.from(bytes);
  if (charset === 'utf-8' || charset === 'utf8' || charset === '') {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    } catch {
      return undefined;
    }
  }
  if (charset === 'iso-8859-1' || charset === 'latin1') return buffer.toString('latin1');
  return undefined;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A plain `filename` as servers mean it: undici hands header bytes over as Latin-1, so a name sent as
 * raw UTF-8 (common, though RFC 6266 wants `filename*`) reads as mojibake. Bytes that decode as UTF-8
 * are taken as UTF-8, as browsers do; others stay Latin-1.
 */
function headerText(value: string): string {
  if (!/[\u0080-\uffff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  // A character above U+00FF cannot come from Latin-1 bytes: the text was decoded already.
  if (bytes.toString('latin1') !== value) return value;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return value;
  }
}

/**
 * The file name a `Content-Disposition` header carries: `filename*` (RFC 5987) wins over `filename`
 * (quoted or not, raw UTF-8 read as such), reduced to its base name. Undefined when the header names no
 * usable file.
 */
export function dispositionFileName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const params = new Map<string, string>();
  for (const match of header.matchAll(/(?:^|;)\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    const key = match[1]!.toLowerCase();
    let value = match[2]!.trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(.)/gs, '$1');
    }
    if (!params.has(key)) params.set(key, value);
  }
  const extended = params.get('filename*');
  const plain = params.get('filename');
  const candidates = [
    extended === undefined ? undefined : decodeExtendedValue(extended),
    plain === undefined ? undefined : headerText(plain),
  ];
  for (const candidate of candidates) {
    const name = candidate === undefined ? '' : baseName(candidate.trim());
    if (name !== '') return name;
  }
  return undefined;
}

/** Turns a failure of the download body (reset, stall, deadline) into the transport error of 1.7. */
function bodyFailure(
  client: TaniumApi,
  path: string,
  deadline: number,
  error: unknown,
  bytesReceived: number,
): TaniumError {
  if (error instanceof TaniumError) return error;
  const base = new URL(client.credentials.baseUrl);
  const { failure, code } = classifyTransportError(error, Date.now() >= deadline - 5);
  return transportError(
    failure,
    code,
    {
      method: 'GET',
      path: `${base.pathname.replace(/\/+$/, '')}${path}`,
      host: base.hostname,
      port: base.port || (base.protocol === 'https:' ? '443' : '80'),
      timeoutSeconds: client.credentials.timeoutSeconds,
      bytesReceived,
    },
    error,
  );
}

/**
 * The download body with its transport errors already in the contract's terms (a reset stays
 * retryable); `toError` is told how many bytes came before the failure, which a stall reports.
 */
async function* translated(
  body: Readable,
  toError: (error: unknown, bytesReceived: number) => TaniumError,
): AsyncGenerator<Uint8Array, void, undefined> {
  let received = 0;
  try {
    for await (const chunk of body) {
      received += (chunk as Uint8Array).length;
      yield chunk as Uint8Array;
    }
  } catch (error) {
    throw toError(error, received);
  }
}

/** The first `limit` bytes of a body, and whether the body went on past them (or broke off). */
async function readStart(body: Readable, limit: number): Promise<{ bytes: Buffer; cut: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > limit) break;
    }
  } catch {
    // What arrived before the failure is enough for the message, but it may end inside a secret.
    cut = true;
  }
  const bytes = Buffer.concat(chunks);
  return { bytes: bytes.subarray(0, limit), cut: cut || bytes.length > limit };
}

/** Without the bytes of a character the cut split, which would decode to U+FFFD and hide a secret's start. */
function decodeStart(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes, { stream: true });
}

/**
 * The text of a non-zip body for the message. errorText redacts whole secrets and starts of at least half
 * of one, so a cut through one could show a shorter start. A secret split by the cut SECRET_MARGIN_BYTES before the end of what was read is
 * whole, so redacted, in all of it; one split by the end starts after that earlier cut. Only what the two
 * texts agree on is shown: it holds a piece of neither.
 */
function unexpectedBodyText(client: TaniumApi, start: { bytes: Buffer; cut: boolean }, contentType: string) {
  // TextDecoder, unlike Buffer, drops a leading byte order mark, which would keep JSON from parsing.
  if (!start.cut) return client.errorText(new TextDecoder().decode(start.bytes), contentType);
  const shortBytes = start.bytes.subarray(0, Math.max(0, start.bytes.length - SECRET_MARGIN_BYTES));
  // errorText would call it an empty response, which it was not.
  if (shortBytes.length === 0) return '';
  const short = client.errorText(decodeStart(shortBytes), contentType);
  const long = client.errorText(decodeStart(start.bytes), contentType);
  if (short === long) return short;
  let same = 0;
  while (same < short.length && short[same] === long[same]) same++;
  return short.slice(0, same).trimEnd();
}

/** `evidence.path` and `evidence.hostname`, or nothing: this lookup never fails the action. */
async function evidenceDetails(
  ctx: ActionContext,
  fileId: string,
): Promise<{ host?: string; remotePath?: string }> {
  try {
    const response = await ctx.client.request({
      method: 'GET',
      path: `${TR}/filedownload/${segment('file_id', fileId)}`,
      deadline: ctx.deadline,
      action: ACTION,
    });
    const parsed = evidenceResponse.safeParse(response.payload);
    const evidence = parsed.success ? parsed.data.evidence : undefined;
    const details: { host?: string; remotePath?: string } = {};
    if (typeof evidence?.hostname === 'string' && evidence.hostname !== '') details.host = evidence.hostname;
    if (typeof evidence?.path === 'string' && evidence.path !== '') details.remotePath = evidence.path;
    return details;
  } catch {
    return {};
  }
}

/**
 * The data item of 2.17, plus where the object is and `is_archive`: with keep=both the archive is an item
 * too, and a playbook that detonates every item's vault_id must be able to leave it out.
 */
function dataItem(item: VaultFileItem) {
  return {
    vault_id: item.vault_id,
    name: item.name,
    size: item.size,
    hash: item.hash,
    sha1: item.sha1,
    sha256: item.sha256,
    md5: item.md5,
    archive_name: item.archive_name,
    archive_size: item.archive_size,
    file_id: item.file_id,
    mime_type: item.mime_type,
    metadata: item.metadata,
    bucket: item.bucket,
    key: item.key,
    is_archive: item.is_archive,
    already_stored: item.already_stored,
  };
}

export const getFile = defineAction({
  name: ACTION,
  id: 'get_file',
  family: 'evidence',
  // It writes to the vault; the event layer makes it idempotent per requestId.
  readOnly: false,
  changesOnly: 'vault',
  description:
    'Downloads a collected file (a zip protected with the password "infected") and stores every file in it in the S3 vault.',
  params: {
    file_id: fileIdParam,
    keep: enumeration<KeepPolicy>('keep', KEEP_POLICIES, {
      default: 'extract',
      description:
        'What to store: the extracted files (extract), the password-protected archive as downloaded (archive), or both (the archive is then one of the items, with is_archive true, and counts in total_files)',
    }),
  },
  async run(ctx, params) {
    const vault = ctx.vault;
    if (!vault) throw new ConfigError('get file needs the vault: set VAULT_BUCKET');
    // Only the evidence function's vault stores files (the intel function's only reads them).
    if (!('storeArchive' in vault)) {
      throw new ConfigError('get file needs a vault that stores files: the evidence function has one');
    }
    const maxBytes = ctx.getFileMaxBytes ?? SETTING_DEFAULTS.getFileMaxBytes;
    const keep: KeepPolicy = params.keep;
    const fileId = params.file_id;
    const path = `${TR}/filedownload/data/${segment('file_id', fileId)}`;

    const download = await ctx.client.stream({
      method: 'GET',
      path,
      accept: ACCEPT,
      deadline: ctx.deadline,
      action: ACTION,
    });
    const body = download.body;
    try {
      const contentType = firstHeader(download.headers, 'content-type') ?? '';
      if (!/zip|octet-stream/i.test(contentType)) {
        const start = await readStart(body, ERROR_BODY_BYTES + SECRET_MARGIN_BYTES);
        const said = unexpectedBodyText(ctx.client, start, contentType.toLowerCase());
        throw new TaniumError(
          'tanium',
          `Expected a zip archive but Tanium returned ${contentType || 'no content type'}${said ? `: ${said}` : ''}`,
          { status: download.status },
        );
      }
      const lengthHeader = firstHeader(download.headers, 'content-length');
      const contentLength = lengthHeader && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
      // Checked before the metadata lookup too: an archive over the cap needs no second request.
      if (contentLength !== undefined && contentLength > maxBytes) throw getFileTooLarge(maxBytes);

      const nameFromHeader = dispositionFileName(firstHeader(download.headers, 'content-disposition'));
      // The connector always asked for the evidence; only a nameless download needs it (for its name).
      const details = nameFromHeader === undefined ? await evidenceDetails(ctx, fileId) : {};
      const items = await vault.storeArchive(
        translated(body, (error, received) => bodyFailure(ctx.client, path, ctx.deadline, error, received)),
        {
          archiveName: nameFromHeader ?? `${fileId}.zip`,
          fileId,
          ...details,
          requestId: ctx.requestId,
          maxBytes,
          ...(contentLength === undefined ? {} : { contentLength }),
          keep,
          deadline: ctx.deadline,
        },
      );
      return {
        message: 'File downloaded to vault',
        data: items.map(dataItem),
        summary: { vault_id: items[0]?.vault_id ?? null, total_files: items.length },
      };
    } finally {
      // A failed or refused download must not keep the socket (or a stalled body) open. An unread body
      // that arrived whole emits an abort error when destroyed: with no listener it would end the process.
      if (!body.destroyed) {
        body.on('error', () => undefined);
        body.destroy();
      }
    }
  },
});
