import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { intelDocDisposition, uploadIntelDoc } from '../../../shared/actions/upload-intel-doc.ts';
import type { TaniumClient } from '../../../shared/tanium/client.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { encodeMetadataValue, METADATA_KEYS } from '../../../shared/vault/metadata.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import { FULL_PERSONA } from '../../emulator/index.ts';
import { hexDigest } from '../../helpers/digests.ts';
import { useMotoBucket } from '../../helpers/s3.ts';
import { clientFor, contextFor, type Emulator, startTestEmulator } from '../../helpers/tanium.ts';

const BUCKET = 'intel-vault';
const INTELS = `${TR}/intels`;
const RULE = 'rule ExampleRule { strings: $a = "text here" condition: $a }';
const MISSING_ID = 'f'.repeat(40);

const sha256 = (data: string | Uint8Array) => hexDigest('sha256', data);

describe('Action: upload intel doc', () => {
  const { s3 } = useMotoBucket(BUCKET);
  let emulator: Emulator;
  let client: TaniumClient;
  let vault: Vault;
  let ctx: ActionContext;

  const run = (params: Record<string, unknown>, context: ActionContext = ctx) =>
    executeAction(uploadIntelDoc as unknown as ActionDefinition, params, context);
  const posts = () => emulator.requestCount({ method: 'POST', path: INTELS });

  /** Stores a document in the vault the way get file would, returning its vault id. */
  async function storeInVault(content: string | Buffer, fileName: string): Promise<string> {
    const stored = await vault.storeEvidence(Readable.from([Buffer.from(content)]), {
      fileName,
      action: 'test',
    });
    return stored.vaultId;
  }

  beforeAll(async () => {
    emulator = await startTestEmulator();
    client = clientFor(emulator);
  });

  afterAll(async () => {
    await emulator?.close();
  });

  beforeEach(async () => {
    emulator.reset();
    vault = new Vault({ bucket: BUCKET, client: s3 });
    ctx = contextFor(client, emulator, { vault });
  });

  it('is registered in the intel family with its permission', () => {
    expect(findAction('upload_intel_doc')?.family).toBe('intel');
    expect(findAction('upload intel doc')?.permission).toBe('threat response intels write');
    expect(findAction('upload intel doc')?.readOnly).toBe(false);
  });

  it('uploads a document given as text with one request and returns the new intel doc', async () => {
    // Act
    const result = await run({ file_name: 'test_file_1.yara', intel_doc: RULE });

    // Assess
    const doc = emulator.state.intels.docs.get(527);
    expect(doc).toMatchObject({ name: 'test_file_1.yara', type: 'yara', revisionId: 1, contents: RULE });
    expect(result).toEqual({
      status: 'success',
      message: 'Uploaded intel document to Tanium Threat Response',
      parameter: { file_name: 'test_file_1.yara', intel_doc: RULE },
      data: [doc],
      summary: { intel_doc_id: 527 },
    });
    expect(emulator.requests).toHaveLength(1);
    const post = emulator.requests[0]!;
    expect(`${post.method} ${post.path}`).toBe(`POST ${INTELS}`);
    expect(post.headers['content-type']).toBe('application/octet-stream');
    expect(post.headers['content-disposition']).toBe(
      `attachment; filename="test_file_1.yara"; filename*=UTF-8''test_file_1.yara`,
    );
    expect(post.bodyDigest).toBe(sha256(RULE));
  });

  it('sends a non-ASCII name as RFC 5987 filename* with an ASCII fallback, and Tanium stores the exact name', async () => {
    // Prepare
    const name = 'règle "spéciale" 東京 (v2).yara';
    const text = '/* ünïcödé */ rule R { condition: true }';

    // Act
    const result = await run({ file_name: name, intel_doc: text });

    // Assess
    expect(result.status).toBe('success');
    const post = emulator.requests[0]!;
    expect(post.headers['content-disposition']).toBe(
      `attachment; filename="r_gle _sp_ciale_ __ (v2).yara"; filename*=UTF-8''r%C3%A8gle%20%22sp%C3%A9ciale%22%20%E6%9D%B1%E4%BA%AC%20%28v2%29.yara`,
    );
    expect(post.bodyDigest).toBe(sha256(Buffer.from(text, 'utf8')));
    expect(post.bodyLength).toBe(Buffer.byteLength(text, 'utf8'));
    expect(result.data).toEqual([expect.objectContaining({ name, md5: hexDigest('md5', text) })]);
  });

  it('uploads a name and a document holding surrogate pairs (emoji) as they are', async () => {
    // Prepare
    const name = 'rule😀.yara';
    const text = 'rule R { strings: $a = "😀" condition: $a }';

    // Act
    const result = await run({ file_name: name, intel_doc: text });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name });
    expect(emulator.requests[0]?.bodyDigest).toBe(sha256(Buffer.from(text, 'utf8')));
  });

  it('keeps the document text exactly as given (no trimming)', async () => {
    // Prepare
    const text = `\n  ${RULE}  \n`;

    // Act
    await run({ file_name: 'spaced.yara', intel_doc: text });

    // Assess
    expect(emulator.requests[0]?.bodyDigest).toBe(sha256(text));
  });

  it('creates a new revision of the same document when a name is uploaded again', async () => {
    // Act
    await run({ file_name: 'test_file_1.yara', intel_doc: RULE });
    const again = await run({ file_name: 'test_file_1.yara', intel_doc: `${RULE} // v2` });

    // Assess
    expect(again.summary).toEqual({ intel_doc_id: 527 });
    expect(again.data[0]).toMatchObject({ id: 527, revisionId: 2 });
  });

  it('uploads the bytes of a vault file under its stored name', async () => {
    // Prepare
    const bytes = Buffer.from(`${RULE}\n// stored by get file: é\n`, 'utf8');
    const vaultId = await storeInVault(bytes, 'from-vault.yara');

    // Act
    const result = await run({ vault_id: vaultId });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ id: 527, name: 'from-vault.yara', size: bytes.length });
    expect(result.summary).toEqual({ intel_doc_id: 527 });
    const post = emulator.requests[0]!;
    expect(post.bodyDigest).toBe(sha256(bytes));
    expect(post.headers['content-disposition']).toBe(
      `attachment; filename="from-vault.yara"; filename*=UTF-8''from-vault.yara`,
    );
  });

  it('uploads a vault file under its whole stored name when the name is long and non-ASCII', async () => {
    // Prepare: 191 UTF-8 bytes, 551 characters once percent-encoded for the object metadata
    const name = `${'マルウェア検出ルール_'.repeat(6)}.yara`;
    const stored = await vault.storeEvidence(Readable.from([Buffer.from(RULE)]), {
      fileName: name,
      fileId: 'f'.repeat(36),
      host: `${'h'.repeat(60)}.example`,
      remotePath: `C:\\${'証拠\\'.repeat(60)}${name}`,
      requestId: 'r'.repeat(100),
      archiveName: `${'アーカイブ'.repeat(20)}.zip`,
      action: 'get file',
    });

    // Act
    const result = await run({ vault_id: stored.vaultId });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name, type: 'yara' });
    expect(emulator.requests[0]?.headers['content-disposition']).toBe(intelDocDisposition(name));
  });

  it('uses file_name over the stored name and accepts an upper-case vault id', async () => {
    // Prepare
    const vaultId = await storeInVault(RULE, 'stored.bin');

    // Act
    const result = await run({ vault_id: ` ${vaultId.toUpperCase()} `, file_name: 'renamed.yar' });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name: 'renamed.yar', type: 'yara' });
    expect(emulator.requests[0]?.bodyDigest).toBe(sha256(RULE));
  });

  it('fails without posting anything when the vault has no such file', async () => {
    // Act
    const result = await run({ vault_id: MISSING_ID, file_name: 'rules.yara' });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: `Unable to read vault_id ${MISSING_ID} from the vault: no such file in the vault`,
      error: { kind: 'vault', retryable: false },
    });
    expect(posts()).toBe(0);
    expect(emulator.requests).toHaveLength(0);
  });

  it('fails without posting anything when the vault file is empty', async () => {
    // Prepare: an empty object placed directly (get file never stores one, but a bucket can hold it).
    const emptySha1 = hexDigest('sha1', '');
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `vault/${emptySha1}`, Body: new Uint8Array(0) }),
    );

    // Act
    const result = await run({ vault_id: emptySha1, file_name: 'rules.yara' });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: `Unable to read vault_id ${emptySha1} from the vault: the file is empty`,
      error: { kind: 'vault', retryable: false },
      // The request's fault, not the vault's: no service failure for the owner to fix
      requestFault: true,
    });
    expect(emulator.requests).toHaveLength(0);
  });

  // Objects put by hand: get file always stores a plain name, so only such a file can lack one.
  it.each([
    ['has no stored name', `${RULE} `, undefined, 'no name'],
    ['has an empty stored name', `${RULE}\n`, '', 'no name'],
    ['has a stored name with a path in it', RULE, 'rules/a.yara', 'not plain'],
  ] as const)(
    'asks for file_name when the vault file %s, before posting',
    async (_case, text, stored, refusal) => {
      // Prepare
      const content = Buffer.from(text);
      const sha1 = hexDigest('sha1', content);
      await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `vault/${sha1}`,
          Body: content,
          ...(stored === undefined
            ? {}
            : { Metadata: { [METADATA_KEYS.fileName]: encodeMetadataValue(stored) } }),
        }),
      );

      // Act
      const result = await run({ vault_id: sha1 });

      // Assess
      expect(result.message).toBe(
        refusal === 'no name'
          ? `Please provide a value for the 'file_name' parameter: vault_id ${sha1} has no stored file name (files stored by get file have one)`
          : `Please provide a plain file name in the 'file_name' parameter: the name stored with vault_id ${sha1} is not a plain file name`,
      );
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requests).toHaveLength(0);
    },
  );

  it('refuses a vault file over 10 MiB without posting', async () => {
    // Prepare
    const vaultId = await storeInVault(Buffer.alloc(10 * 1024 * 1024 + 1, 0x41), 'big.yara');

    // Act
    const result = await run({ vault_id: vaultId });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'Intel document is larger than 10485760 bytes',
      error: { kind: 'too_large', retryable: false },
    });
    expect(emulator.requests).toHaveLength(0);
  });

  it('uploads a text document of exactly 10 MiB', async () => {
    // Prepare
    const text = 'é'.repeat(5 * 1024 * 1024);

    // Act
    const result = await run({ file_name: 'limit.yara', intel_doc: text });

    // Assess
    expect(result.status).toBe('success');
    expect(emulator.requests[0]?.bodyLength).toBe(10_485_760);
  });

  it('refuses a text document over 10 MiB without posting', async () => {
    // Act
    const result = await run({ file_name: 'big.yara', intel_doc: 'é'.repeat(5 * 1024 * 1024 + 1) });

    // Assess
    expect(result.message).toBe('Intel document is larger than 10485760 bytes');
    expect(result.error).toEqual({ kind: 'too_large', retryable: false });
    expect(emulator.requests).toHaveLength(0);
  });

  it('fails with a configuration error when vault_id is given and no vault is configured', async () => {
    // Prepare
    const { vault: _, ...withoutVault } = ctx;

    // Act
    const result = await run({ vault_id: MISSING_ID }, withoutVault);

    // Assess
    expect(result.message).toBe('upload intel doc needs the vault for vault_id: set VAULT_BUCKET');
    expect(result.error).toEqual({ kind: 'config', retryable: false });
    expect(emulator.requests).toHaveLength(0);
  });

  it('does not need the vault for a text document', async () => {
    // Prepare
    const { vault: _, ...withoutVault } = ctx;

    // Act
    const result = await run({ file_name: 'no-vault.yara', intel_doc: RULE }, withoutVault);

    // Assess
    expect(result.status).toBe('success');
  });

  it('reports the Tanium error when the type cannot be told from the name (400)', async () => {
    // Act
    const result = await run({ file_name: 'notes.txt', intel_doc: RULE });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message:
        'Error from server. Status Code: 400 Data from server: Unable to determine intel type from file name',
      error: { kind: 'tanium', retryable: false },
    });
    expect(posts()).toBe(1);
  });

  it('names the permission when the token lacks intels write (403), without a replay', async () => {
    // Prepare
    emulator.removePermission(FULL_PERSONA, 'threat response intels write');

    // Act
    const result = await run({ file_name: 'test_file_1.yara', intel_doc: RULE });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message:
        "Permission denied (HTTP 403): the Tanium user or API token lacks the 'threat response intels write' permission needed by upload intel doc. Tanium said: Forbidden: missing permission threat response intels write",
      error: { kind: 'permission', retryable: false },
    });
    expect(posts()).toBe(1);
    expect(emulator.state.intels.revisions).toHaveLength(0);
  });

  it('does not retry a POST that failed with a 503 (it may have been processed)', async () => {
    // Prepare
    emulator.faults.add({ method: 'POST', path: INTELS, kind: 'status', status: 503, times: 1 });

    // Act
    const result = await run({ file_name: 'test_file_1.yara', intel_doc: RULE });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toContain('Status Code: 503');
    expect(posts()).toBe(1);
  });

  const NOT_BOTH = "Please provide either 'intel_doc' or 'vault_id', not both";
  const NO_DOC = 'Error: please provide an intel doc and target file name';
  const BAD_VAULT_ID = "Please provide a valid vault id (40 hex characters) in the 'vault_id' parameter";
  const NOT_PLAIN = "Please provide a plain file name in the 'file_name' parameter";

  it.each<[Record<string, unknown>, string]>([
    [{ intel_doc: RULE, vault_id: MISSING_ID, file_name: 'a.yara' }, NOT_BOTH],
    [{ intel_doc: RULE, vault_id: 'not-hex' }, NOT_BOTH],
    [{}, NO_DOC],
    [{ file_name: 'a.yara' }, NO_DOC],
    [{ intel_doc: RULE }, NO_DOC],
    [{ file_name: 'a.yara', intel_doc: '   ' }, NO_DOC],
    [{ vault_id: 'abc' }, BAD_VAULT_ID],
    [{ vault_id: 'g'.repeat(40) }, BAD_VAULT_ID],
    [{ vault_id: `${'a'.repeat(40)}0` }, BAD_VAULT_ID],
    // A path, C0, DEL and C1 controls, and a name of over 255 UTF-8 bytes
    ...[
      'rules/a.yara',
      'rules\\a.yara',
      'a\u0007.yara',
      'a\u001f.yara',
      'a\u007f.yara',
      'a\u0085.yara',
      'a\u009f.yara',
      `${'é'.repeat(126)}.yara`,
    ].map((name): [Record<string, unknown>, string] => [{ file_name: name, intel_doc: RULE }, NOT_PLAIN]),
    [{ file_name: 'a.yara', vault_id: 'xyz' }, BAD_VAULT_ID],
    [{ file_name: 7, intel_doc: RULE }, "Please provide a string value in the 'file_name' parameter"],
    [
      { file_name: 'rule\uD83D.yara', intel_doc: RULE },
      "Please provide a valid value in the 'file_name' parameter: it holds an unpaired UTF-16 surrogate, which no file name can carry",
    ],
    [
      { file_name: 'rule\uDE00.yara', vault_id: MISSING_ID },
      "Please provide a valid value in the 'file_name' parameter: it holds an unpaired UTF-16 surrogate, which no file name can carry",
    ],
    [
      { file_name: 'a.yara', intel_doc: 'rule a { strings: $a = "\uD800" condition: $a }' },
      "Please provide a valid value in the 'intel_doc' parameter: it holds an unpaired UTF-16 surrogate, which no UTF-8 document can carry",
    ],
    // The contract's messages come before the ones a broken encoding adds
    [{ file_name: 'a\uD800.yara' }, NO_DOC],
    [{ file_name: 'a\uD800.yara', vault_id: 'zz' }, BAD_VAULT_ID],
    [{ file_name: 'a/b.yara', intel_doc: 'x\uD800' }, NOT_PLAIN],
    [{ file_name: 'a\u0001\uD800.yara', intel_doc: RULE }, NOT_PLAIN],
  ])('rejects %j before touching the vault or Tanium', async (params, message) => {
    // Act
    const result = await run(params);

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(message);
    expect(result.error).toEqual({ kind: 'validation', retryable: false });
    expect(emulator.requests).toHaveLength(0);
  });

  it.each([
    ['{"id":"abc-1","name":"a.yara"}', [{ id: 'abc-1', name: 'a.yara' }], 'abc-1'],
    ['{"id":true}', [{ id: true }], null],
    ['[{"id":5}]', [[{ id: 5 }]], null],
    ['"stored"', ['stored'], null],
    ['{}', [], null],
    ['null', [], null],
  ])(
    'passes on the answer %s and takes only a number or text as the intel doc id',
    async (answer, data, id) => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: INTELS,
        kind: 'status',
        status: 200,
        shape: 'plain',
        message: answer,
      });

      // Act
      const result = await run({ file_name: 'test_file_1.yara', intel_doc: RULE });

      // Assess
      expect(result).toMatchObject({ status: 'success', data, summary: { intel_doc_id: id } });
    },
  );

  it('accepts a file name of exactly 255 UTF-8 bytes', async () => {
    // Prepare
    const name = `${'é'.repeat(125)}.yara`;
    expect(Buffer.byteLength(name)).toBe(255);

    // Act
    const result = await run({ file_name: name, intel_doc: RULE });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name });
  });
});

describe('upload intel doc: Content-Disposition', () => {
  it.each([
    ['test_file_1.yara', `attachment; filename="test_file_1.yara"; filename*=UTF-8''test_file_1.yara`],
    ["it's (1)*.ioc", `attachment; filename="it's (1)*.ioc"; filename*=UTF-8''it%27s%20%281%29%2A.ioc`],
    ['a"b\\c.xml', `attachment; filename="a_b_c.xml"; filename*=UTF-8''a%22b%5Cc.xml`],
    ['😀.stix', `attachment; filename="_.stix"; filename*=UTF-8''%F0%9F%98%80.stix`],
    ['~a~.yar', `attachment; filename="~a~.yar"; filename*=UTF-8''~a~.yar`],
    ['a\u007f.yar', `attachment; filename="a_.yar"; filename*=UTF-8''a%7F.yar`],
  ])('writes %j as %j', (name, header) => {
    expect(intelDocDisposition(name)).toBe(header);
  });
});
