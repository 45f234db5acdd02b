import { ConfigError, TooLargeError, ValidationError, VaultError } from '../tanium/errors.ts';
import { TR } from '../tanium/routes.ts';
import { DEFAULTS } from '../vault/constants.ts';
import { isEmptyPayload } from './empty-payload.ts';
import { hasLoneSurrogate, loneSurrogateMessage, optionalText, requiredMessage } from './params.ts';
import { defineAction } from './types.ts';

/** upload intel doc (tanium-api.md 2.18): a YARA / OpenIOC / STIX document, from text or the vault. */

const ACTION = 'upload intel doc';
const INTELS_WRITE = 'threat response intels write';
const MAX_BYTES = DEFAULTS.intelDocMaxBytes;
const MAX_NAME_BYTES = 255;
const VAULT_ID = /^[0-9a-f]{40}$/i;

const NOT_BOTH = "Please provide either 'intel_doc' or 'vault_id', not both";
const DOC_AND_NAME = 'Error: please provide an intel doc and target file name';
const BAD_VAULT_ID = "Please provide a valid vault id (40 hex characters) in the 'vault_id' parameter";
const NOT_PLAIN = "Please provide a plain file name in the 'file_name' parameter";
// Both go out as UTF-8 (the name percent-encoded in a header): a lone surrogate would make
// encodeURIComponent throw, or the document reach Tanium with U+FFFD in its place.
const BROKEN_NAME = loneSurrogateMessage('file_name', 'no file name');
const BROKEN_DOC = loneSurrogateMessage('intel_doc', 'no UTF-8 document');

/** A name Tanium can store as is: no directories, no control characters, at most 255 UTF-8 bytes. */
function isPlainFileName(name: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[/\\\u0000-\u001f\u007f-\u009f]/.test(name)) return false;
  return Buffer.byteLength(name, 'utf8') <= MAX_NAME_BYTES;
}

/**
 * `attachment; filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded name>` (RFC 6266 / 5987):
 * servers that only read `filename` get a safe ASCII name, the others the exact one.
 */
export function intelDocDisposition(name: string): string {
  let fallback = '';
  for (const char of name) {
    const code = char.codePointAt(0)!;
    fallback += code > 0x7e || char === '"' || char === '\\' ? '_' : char;
  }
  // encodeURIComponent leaves ' ( ) * unescaped; RFC 5987's attr-char does not allow them.
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

function intelDocIdOf(payload: unknown): unknown {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return null;
  const id = (payload as { id?: unknown }).id;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
}

/** The document to upload: its text and name, or a vault id and the name given, if any. */
type IntelDocument = { text: string; name: string } | { vaultId: string; name: string | undefined };

/** The document, by every rule the parameters alone decide (`check`), in the contract's order. */
function documentOf(params: {
  intel_doc?: string | undefined;
  vault_id?: string | undefined;
  file_name?: string | undefined;
}): IntelDocument {
  const { intel_doc: text, vault_id: vaultId, file_name: name } = params;
  if (text !== undefined && vaultId !== undefined) throw new ValidationError(NOT_BOTH);
  if (vaultId === undefined) {
    if (name === undefined || text === undefined) throw new ValidationError(DOC_AND_NAME);
    checkName(name);
    if (hasLoneSurrogate(text)) throw new ValidationError(BROKEN_DOC);
    return { text, name };
  }
  if (!VAULT_ID.test(vaultId)) throw new ValidationError(BAD_VAULT_ID);
  if (name !== undefined) checkName(name);
  return { vaultId: vaultId.toLowerCase(), name };
}

/** The contract's rule for a file name, then the one its encoding adds (the contract's messages first). */
function checkName(name: string): void {
  if (!isPlainFileName(name)) throw new ValidationError(NOT_PLAIN);
  if (hasLoneSurrogate(name)) throw new ValidationError(BROKEN_NAME);
}

export const uploadIntelDoc = defineAction({
  name: ACTION,
  id: 'upload_intel_doc',
  family: 'intel',
  readOnly: false,
  description:
    'Uploads an intel document (YARA, OpenIOC or STIX, told by the file name) to Threat Response, from text or from a vault file.',
  permission: INTELS_WRITE,
  params: {
    file_name: optionalText('file_name', {
      description:
        'Target file name; its extension tells Tanium the type (.yara/.yar, .ioc, .stix/.xml). Default with vault_id: the name stored with the vault file (files stored by get file have one)',
    }),
    intel_doc: optionalText('intel_doc', { trim: false, description: 'The document text' }),
    vault_id: optionalText('vault_id', {
      description: 'Vault id (SHA-1, 40 hex characters) of the document',
    }),
  },
  check(params) {
    const document = documentOf(params);
    if ('text' in document && Buffer.byteLength(document.text, 'utf8') > MAX_BYTES) {
      throw new TooLargeError(`Intel document is larger than ${MAX_BYTES} bytes`);
    }
  },
  async run(ctx, params) {
    const document = documentOf(params);
    let body: Buffer;
    let name: string;
    if ('text' in document) {
      name = document.name;
      body = Buffer.from(document.text, 'utf8');
    } else {
      const { vaultId } = document;
      if (!ctx.vault)
        throw new ConfigError('upload intel doc needs the vault for vault_id: set VAULT_BUCKET');
      // A failed read fails the action: posting an empty or partial body would replace a real document.
      const source = await ctx.vault.readForIntelDoc(vaultId, MAX_BYTES, ctx.deadline);
      if (source.size === 0) {
        throw new VaultError(`Unable to read vault_id ${vaultId} from the vault: the file is empty`, {
          requestFault: true,
        });
      }
      body = source.bytes;
      if (document.name !== undefined) {
        name = document.name;
      } else {
        // The contract's messages, with why: the caller gave no file_name and may not know that only
        // files stored by get file carry a name.
        if (source.name === undefined || source.name === '')
          throw new ValidationError(
            `${requiredMessage('file_name')}: vault_id ${vaultId} has no stored file name (files stored by get file have one)`,
          );
        if (!isPlainFileName(source.name))
          throw new ValidationError(
            `${NOT_PLAIN}: the name stored with vault_id ${vaultId} is not a plain file name`,
          );
        name = source.name;
      }
    }

    // A POST is retried only when it never reached Tanium (client rule): one request, one revision.
    const response = await ctx.client.request({
      method: 'POST',
      path: `${TR}/intels`,
      body,
      contentType: 'application/octet-stream',
      headers: { 'content-disposition': intelDocDisposition(name) },
      deadline: ctx.deadline,
      action: ACTION,
      permission: INTELS_WRITE,
    });
    const payload = response.payload;
    return {
      message: 'Uploaded intel document to Tanium Threat Response',
      data: isEmptyPayload(payload) ? [] : [payload],
      summary: { intel_doc_id: intelDocIdOf(payload) },
    };
  },
});
