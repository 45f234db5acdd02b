import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import { dispositionFileName, getFile } from '../../../shared/actions/get-file.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import { TaniumClient } from '../../../shared/tanium/client.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { decodeMetadataValue } from '../../../shared/vault/metadata.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import { fileContent } from '../../emulator/state/files.ts';
import { hexDigest } from '../../helpers/digests.ts';
import { useMotoBucket } from '../../helpers/s3.ts';
import { clientFor, contextFor, type Emulator, startTestEmulator } from '../../helpers/tanium.ts';

const BUCKET = 'get-file-vault';
const MiB = 1024 * 1024;
const FILE_ID = '79478f3e-061b-4b59-a99a-349415df99a0';
const FILE_PATH = 'C:\\Users\\bob\\evil.exe';
const FILE_SIZE = 204800;
const DATA_PATH = `${TR}/filedownload/data/${FILE_ID}`;
const EVIDENCE_PATH = `${TR}/filedownload/${FILE_ID}`;

const digest = hexDigest;

/** What the vault must report for bytes the emulator put in the archive, hashed here independently. */
function expectedHashes(bytes: Buffer) {
  const sha1 = digest('sha1', bytes);
  return { vault_id: sha1, hash: sha1, sha1, sha256: digest('sha256', bytes), md5: digest('md5', bytes) };
}

describe('Action: get file', () => {
  const motoBucket = useMotoBucket(BUCKET);
  const { s3 } = motoBucket;
  let emulator: Emulator;
  let client: TaniumClient;
  let ctx: ActionContext;
  const evilExe = fileContent(FILE_PATH, FILE_SIZE);
  const metadataTxt = Buffer.from(`host=test-client-1\npath=${FILE_PATH}\nsize=${FILE_SIZE}\n`);

  const run = (params: Record<string, unknown>, context: ActionContext = ctx) =>
    executeAction(getFile as unknown as ActionDefinition, params, context);
  const calls = () => emulator.requests.map((request) => `${request.method} ${request.path}`);

  async function bucketState(): Promise<{ keys: string[]; uploads: number }> {
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    return {
      keys: (objects.Contents ?? []).map((object) => object.Key!).sort(),
      uploads: uploads.Uploads?.length ?? 0,
    };
  }

  async function objectBytes(key: string): Promise<Buffer> {
    const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  }

  async function objectMetadata(key: string): Promise<Record<string, string | undefined>> {
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return Object.fromEntries(
      Object.entries(head.Metadata ?? {}).map(([name, value]) => [name, decodeMetadataValue(value)]),
    );
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
    ctx = contextFor(client, emulator, {
      vault: new Vault({ bucket: BUCKET, client: s3 }),
      getFileMaxBytes: 64 * MiB,
      requestId: 'req-get-file',
    });
  });

  it('is registered in the evidence family as a writing action', () => {
    expect(findAction('get_file')?.family).toBe('evidence');
    expect(findAction('get file')?.readOnly).toBe(false);
  });

  it('stores the decrypted file as vault/<sha1> with one request when Tanium names the archive', async () => {
    // Act
    const result = await run({ file_id: ` ${FILE_ID} ` });

    // Assess
    const hashes = expectedHashes(evilExe);
    const item = result.data[0] as { archive_size: number };
    expect(result).toEqual({
      status: 'success',
      message: 'File downloaded to vault',
      parameter: { file_id: ` ${FILE_ID} ` },
      data: [
        {
          ...hashes,
          name: 'evil.exe',
          size: FILE_SIZE,
          archive_name: `${FILE_ID}.zip`,
          archive_size: item.archive_size,
          file_id: FILE_ID,
          mime_type: 'application/octet-stream',
          metadata: {
            sha1: hashes.sha1,
            sha256: hashes.sha256,
            md5: hashes.md5,
            size: FILE_SIZE,
            archive_size: item.archive_size,
            contains: [],
            action: 'get file',
          },
          bucket: BUCKET,
          key: `vault/${hashes.sha1}`,
          is_archive: false,
          already_stored: false,
        },
      ],
      summary: { vault_id: hashes.sha1, total_files: 1 },
    });
    expect(item.archive_size).toBeGreaterThan(0);
    expect(calls()).toEqual([`GET ${DATA_PATH}`]);
    expect(emulator.requests[0]?.headers.accept).toBe('application/zip, application/octet-stream');
    expect(emulator.requests[0]?.headers['content-type']).toBeUndefined();
    expect(await objectBytes(`vault/${hashes.sha1}`)).toEqual(evilExe);
    expect(await objectMetadata(`vault/${hashes.sha1}`)).toEqual({
      'file-name': 'evil.exe',
      size: String(FILE_SIZE),
      sha1: hashes.sha1,
      sha256: hashes.sha256,
      md5: hashes.md5,
      'file-id': FILE_ID,
      'request-id': 'req-get-file',
      'archive-name': `${FILE_ID}.zip`,
      action: 'get file',
    });
    expect(await bucketState()).toEqual({ keys: [`vault/${hashes.sha1}`], uploads: 0 });
  });

  it('stores every file of a multi-entry encrypted archive (chunked, data descriptors) and skips directories', async () => {
    // Prepare
    emulator.switches.downloadMultipleEntries = true;
    emulator.switches.downloadChunked = true;
    emulator.switches.downloadDataDescriptor = true;

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.status).toBe('success');
    const items = result.data as Array<Record<string, unknown>>;
    expect(items.map((item) => [item.name, item.size])).toEqual([
      ['evil.exe', FILE_SIZE],
      ['metadata.txt', metadataTxt.length],
    ]);
    expect(items[0]).toMatchObject(expectedHashes(evilExe));
    expect(items[1]).toMatchObject(expectedHashes(metadataTxt));
    expect(result.summary).toEqual({ vault_id: digest('sha1', evilExe), total_files: 2 });
    expect(await objectBytes(`vault/${digest('sha1', evilExe)}`)).toEqual(evilExe);
    expect(await objectBytes(`vault/${digest('sha1', metadataTxt)}`)).toEqual(metadataTxt);
    expect((await bucketState()).keys).toEqual(
      [`vault/${digest('sha1', evilExe)}`, `vault/${digest('sha1', metadataTxt)}`].sort(),
    );
  });

  it('accepts application/octet-stream as a zip', async () => {
    // Prepare
    emulator.switches.downloadOctetStream = true;

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject(expectedHashes(evilExe));
  });

  it('stores identical content once, and a second download reports the same vault id', async () => {
    // Act
    const first = await run({ file_id: FILE_ID });
    const second = await run({ file_id: FILE_ID }, { ...ctx, requestId: 'req-again' });

    // Assess
    const sha1 = digest('sha1', evilExe);
    expect(first.summary).toEqual({ vault_id: sha1, total_files: 1 });
    expect(second.summary).toEqual({ vault_id: sha1, total_files: 1 });
    expect(first.data).toEqual([expect.objectContaining({ already_stored: false })]);
    expect(second.data).toEqual([expect.objectContaining({ already_stored: true })]);
    expect(await bucketState()).toEqual({ keys: [`vault/${sha1}`], uploads: 0 });
    // Written once: the metadata still names the first request.
    expect((await objectMetadata(`vault/${sha1}`))['request-id']).toBe('req-get-file');
  });

  it('asks for the evidence exactly once when the download has no Content-Disposition', async () => {
    // Prepare
    emulator.switches.downloadNoContentDisposition = true;

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name: 'evil.exe', archive_name: `${FILE_ID}.zip` });
    expect(calls()).toEqual([`GET ${DATA_PATH}`, `GET ${EVIDENCE_PATH}`]);
    expect(emulator.requestCount({ method: 'GET', path: EVIDENCE_PATH })).toBe(1);
    const metadata = await objectMetadata(`vault/${digest('sha1', evilExe)}`);
    expect(metadata.host).toBe('test-client-1');
    expect(metadata['remote-path']).toBe(FILE_PATH);
  });

  it.each([
    ['the base name of the evidence path when the download names no file', true, 'evil.exe'],
    ['the file id when nothing else names the file', false, FILE_ID],
  ])('names an entry without a usable name after %s', async (_case, noDisposition, expected) => {
    // Prepare: an entry whose name has no last segment ('..')
    emulator.switches.downloadEntryName = '..';
    emulator.switches.downloadNoContentDisposition = noDisposition;

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name: expected, ...expectedHashes(evilExe) });
    expect(decodeURIComponent((await objectMetadata(`vault/${digest('sha1', evilExe)}`))['file-name']!)).toBe(
      expected,
    );
  });

  it('still stores the file when the evidence lookup fails', async () => {
    // Prepare
    emulator.switches.downloadNoContentDisposition = true;
    emulator.faults.add({ method: 'GET', path: EVIDENCE_PATH, kind: 'status', status: 500 });

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data[0]).toMatchObject({ name: 'evil.exe', archive_name: `${FILE_ID}.zip` });
    const metadata = await objectMetadata(`vault/${digest('sha1', evilExe)}`);
    expect(metadata.host).toBeUndefined();
    expect(metadata['remote-path']).toBeUndefined();
  });

  it('refuses an archive over GET_FILE_MAX_BYTES from its Content-Length, with one request and nothing stored', async () => {
    // Prepare
    emulator.switches.downloadNoContentDisposition = true;
    const small = { ...ctx, getFileMaxBytes: 100_000 };

    // Act
    const result = await run({ file_id: FILE_ID }, small);

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'File is larger than the maximum of 100000 bytes allowed by GET_FILE_MAX_BYTES',
      error: { kind: 'too_large', retryable: false },
    });
    // No evidence lookup either: the size alone decides.
    expect(calls()).toEqual([`GET ${DATA_PATH}`]);
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('accepts an archive whose Content-Length equals GET_FILE_MAX_BYTES and refuses one byte over, before reading it', async () => {
    // Prepare: a stored (uncompressed) entry, so the archive is sent with an exact Content-Length and its
    // file is smaller than the archive: a cap of the archive's size fits the file too. The cap is the
    // largest size allowed, so an archive of exactly that size must be stored. No Content-Disposition:
    // an evidence lookup shows the download got past the Content-Length check.
    emulator.switches.downloadLargeFileBytes = 1000;
    emulator.switches.downloadLargeFileMethod = 'store';
    emulator.switches.downloadNoContentDisposition = true;
    const measured = await run({ file_id: FILE_ID });
    const archiveSize = (measured.data[0] as { archive_size: number }).archive_size;
    expect(archiveSize).toBeGreaterThan(1000);
    await motoBucket.reset();
    emulator.clearRequests();

    // Act
    const refused = await run({ file_id: FILE_ID }, { ...ctx, getFileMaxBytes: archiveSize - 1 });
    const refusedCalls = calls();
    const refusedState = await bucketState();
    emulator.clearRequests();
    const accepted = await run({ file_id: FILE_ID }, { ...ctx, getFileMaxBytes: archiveSize });

    // Assess: refused from the header alone (one request, nothing stored); accepted and stored at the cap
    expect(refused).toMatchObject({
      status: 'failed',
      message: `File is larger than the maximum of ${archiveSize - 1} bytes allowed by GET_FILE_MAX_BYTES`,
      error: { kind: 'too_large', retryable: false },
    });
    expect(refusedCalls).toEqual([`GET ${DATA_PATH}`]);
    expect(refusedState).toEqual({ keys: [], uploads: 0 });
    expect(accepted).toMatchObject({ status: 'success', message: 'File downloaded to vault' });
    expect(accepted.data[0]).toMatchObject({ size: 1000, archive_size: archiveSize });
    expect(calls()).toEqual([`GET ${DATA_PATH}`, `GET ${EVIDENCE_PATH}`]);
    const { vault_id } = accepted.data[0] as { vault_id: string };
    expect(await bucketState()).toEqual({ keys: [`vault/${vault_id}`], uploads: 0 });
  });

  it('refuses a small archive over the cap that arrived whole before it was refused, without crashing', async () => {
    // Prepare: an archive of a few hundred bytes, all of it received with the headers; destroying such an
    // unread body emits an error event, which with no listener would end the process
    emulator.switches.downloadLargeFileBytes = 100;
    emulator.switches.downloadLargeFileMethod = 'store';
    const tiny = { ...ctx, getFileMaxBytes: 150 };

    // Act
    const result = await run({ file_id: FILE_ID }, tiny);
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'File is larger than the maximum of 150 bytes allowed by GET_FILE_MAX_BYTES',
      error: { kind: 'too_large', retryable: false },
    });
  });

  it('aborts a chunked archive that grows past the cap while streaming, leaving no object and no upload', async () => {
    // Prepare: a 7 MiB generated entry, so the vault has started a multipart upload when the cap hits.
    emulator.switches.downloadLargeFileBytes = 7 * MiB;
    emulator.switches.downloadChunked = true;
    const capped = { ...ctx, getFileMaxBytes: 6 * MiB };

    // Act
    const result = await run({ file_id: FILE_ID }, capped);

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: `File is larger than the maximum of ${6 * MiB} bytes allowed by GET_FILE_MAX_BYTES`,
      error: { kind: 'too_large', retryable: false },
    });
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('applies the cap to each extracted file as well as to the archive', async () => {
    // Prepare: a cap the archive fits under but its extracted file does not.
    const first = await run({ file_id: FILE_ID });
    const archiveSize = (first.data[0] as { archive_size: number }).archive_size;
    expect(archiveSize).toBeLessThan(FILE_SIZE);
    await motoBucket.reset();

    // Act
    const result = await run({ file_id: FILE_ID }, { ...ctx, getFileMaxBytes: archiveSize });

    // Assess
    expect(result.message).toBe(
      `File is larger than the maximum of ${archiveSize} bytes allowed by GET_FILE_MAX_BYTES`,
    );
    expect(result.error).toEqual({ kind: 'too_large', retryable: false });
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('applies the cap to all extracted files together, each under it, keeping the files stored before', async () => {
    // Prepare: the two files of the archive are each under a cap their sum is one byte over
    emulator.switches.downloadMultipleEntries = true;
    const sum = FILE_SIZE + metadataTxt.length;

    // Act
    const refused = await run({ file_id: FILE_ID }, { ...ctx, getFileMaxBytes: sum - 1 });
    const state = await bucketState();
    await motoBucket.reset();
    const accepted = await run({ file_id: FILE_ID }, { ...ctx, getFileMaxBytes: sum });

    // Assess: evil.exe was complete before the cap hit (immutable, content-addressed)
    expect(refused).toMatchObject({
      status: 'failed',
      message: `Files extracted from the archive total more than the maximum of ${sum - 1} bytes allowed by GET_FILE_MAX_BYTES`,
      error: { kind: 'too_large', retryable: false },
    });
    expect(state).toEqual({ keys: [`vault/${digest('sha1', evilExe)}`], uploads: 0 });
    expect(accepted.status).toBe('success');
    expect(accepted.data).toHaveLength(2);
  });

  it('applies the default cap, not the environment, when the context does not carry GET_FILE_MAX_BYTES', async () => {
    // Prepare: whoever builds the vault reads the setting (the functions' settings, the CLI); an
    // environment get file read on its own would be a second reading that could disagree
    const { getFileMaxBytes: _, ...withoutCap } = ctx;
    const previous = process.env.GET_FILE_MAX_BYTES;
    process.env.GET_FILE_MAX_BYTES = '1000';

    // Act
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run({ file_id: FILE_ID }, withoutCap);
    } finally {
      if (previous === undefined) delete process.env.GET_FILE_MAX_BYTES;
      else process.env.GET_FILE_MAX_BYTES = previous;
    }

    // Assess
    expect(result.status).toBe('success');
  });

  it.for([
    { cut: 'reset', fault: { kind: 'resetMidBody' } },
    // undici takes the end of a Connection: close answer for its end, and says the body is short
    { cut: 'closed', fault: { kind: 'closeMidBody' } },
    { cut: 'closed (chunked)', fault: { kind: 'closeMidBody', chunked: true } },
  ] as const)(
    'reports a download $cut mid-body as a retryable failure and leaves nothing in the bucket',
    async ({ fault }) => {
      // Prepare
      emulator.faults.add({ method: 'GET', path: DATA_PATH, ...fault });

      // Act
      const result = await run({ file_id: FILE_ID });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        `Error connecting to server: connection reset by 127.0.0.1 (GET ${DATA_PATH})`,
      );
      expect(result.error).toEqual({ kind: 'transient', retryable: true });
      // A reset that reaches the client with the headers is retried by the client like any GET (1.4); one
      // after the headers is left to the redelivery. Either way only the download route is called.
      expect(new Set(calls())).toEqual(new Set([`GET ${DATA_PATH}`]));
      expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
    },
  );

  it('reports a large download cut mid-body after the upload started as retryable, aborting the upload', async () => {
    // Prepare: reset half-way through a 24 MiB stored entry, after at least one 8 MiB part went up. The
    // vault streams (no spool), so the entry goes to incoming/ as a multipart upload while it arrives.
    emulator.switches.downloadLargeFileBytes = 24 * MiB;
    emulator.faults.add({ method: 'GET', path: DATA_PATH, kind: 'resetMidBody' });
    const sent: string[] = [];
    const recording = new S3Client({
      endpoint: motoBucket.endpoint(),
      forcePathStyle: true,
      region: 'us-east-1',
    });
    recording.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize' },
    );
    const streamed = { ...ctx, vault: new Vault({ bucket: BUCKET, client: recording, spoolMaxBytes: 0 }) };

    // Act
    const result = await run({ file_id: FILE_ID }, streamed);

    // Assess
    expect(result.message).toBe(
      `Error connecting to server: connection reset by 127.0.0.1 (GET ${DATA_PATH})`,
    );
    expect(result.error).toEqual({ kind: 'transient', retryable: true });
    // The reset came after the headers: the action reports it instead of downloading again.
    expect(calls()).toEqual([`GET ${DATA_PATH}`]);
    expect(sent).toContain('CreateMultipartUploadCommand');
    expect(sent).toContain('UploadPartCommand');
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
    recording.destroy();
  });

  it('reports a download that stalls mid-body as stopped, with the bytes it sent, retryable, and leaves nothing behind', async () => {
    // Prepare: the archive's length, of which the emulator sends half and then nothing
    const whole = await ctx.client.stream({ method: 'GET', path: DATA_PATH, accept: 'application/zip' });
    let archiveLength = 0;
    for await (const chunk of whole.body) archiveLength += (chunk as Buffer).length;
    emulator.switches.downloadStallMidBody = true;
    const impatient = clientFor(emulator, { secret: { timeout_seconds: 1 } });

    // Act
    const result = await run({ file_id: FILE_ID }, { ...ctx, client: impatient });

    // Assess: Tanium answered, so not "no response"
    const sent = Math.floor(archiveLength / 2).toLocaleString('en-US');
    expect(result.message).toBe(
      `Error connecting to server: 127.0.0.1 stopped sending the answer after ${sent} bytes: nothing for 1 s (GET ${DATA_PATH})`,
    );
    expect(result.error).toEqual({ kind: 'transient', retryable: true });
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('fails with the body when Tanium answers 200 JSON instead of a zip', async () => {
    // Prepare
    emulator.switches.downloadJson200 = true;

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    const evidence = emulator.state.files.find((file) => file.uuid === FILE_ID);
    expect(result).toMatchObject({
      status: 'failed',
      message: `Expected a zip archive but Tanium returned application/json; charset=utf-8: ${JSON.stringify({ evidence })}`,
      error: { kind: 'tanium', retryable: false },
    });
    expect(calls()).toEqual([`GET ${DATA_PATH}`]);
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('asks for the archive as it is, and fails clearly on one a proxy compressed anyway, storing nothing', async () => {
    // Prepare
    emulator.faults.add({ method: 'GET', path: DATA_PATH, kind: 'compressed' });

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message:
        "Tanium's answer came with Content-Encoding gzip, which was not asked for (the client sends accept-encoding: identity) and is not decoded: a proxy between the function and Tanium may be compressing answers",
      error: { kind: 'tanium', retryable: false },
    });
    expect(emulator.requests.map((request) => request.headers['accept-encoding'])).toEqual(['identity']);
    expect(calls()).toEqual([`GET ${DATA_PATH}`]);
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it.each([
    ['aes', /^Error while creating file\. .*AES/i],
    ['wrong-password', /^Error while creating file\. Wrong password for entry evil\.exe$/],
    ['corrupt', /^Error while creating file\. Corrupt archive/],
  ] as const)('fails on a %s archive with the archive error and stores nothing', async (kind, message) => {
    // Prepare
    emulator.switches.downloadArchive = kind;

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toMatch(message);
    expect(result.error).toEqual({ kind: 'tanium', retryable: false });
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('accepts an unencrypted archive', async () => {
    // Prepare
    emulator.switches.downloadArchive = 'unencrypted';

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.data[0]).toMatchObject(expectedHashes(evilExe));
  });

  it('keeps only the password-protected archive with keep=archive, and Info-ZIP can test it', async () => {
    // Act
    const result = await run({ file_id: FILE_ID, keep: 'archive' });

    // Assess
    expect(result.status).toBe('success');
    expect(result.data).toHaveLength(1);
    const item = result.data[0] as {
      name: string;
      size: number;
      archive_size: number;
      key: string;
      sha1: string;
    };
    expect(item.name).toBe(`${FILE_ID}.zip`);
    expect(item.size).toBe(item.archive_size);
    expect(result.summary).toEqual({ vault_id: item.sha1, total_files: 1 });
    expect(await bucketState()).toEqual({ keys: [item.key], uploads: 0 });
    const archive = await objectBytes(item.key);
    expect(digest('sha1', archive)).toBe(item.sha1);
    const dir = mkdtempSync(join(tmpdir(), 'get-file-test-'));
    try {
      const path = join(dir, 'stored.zip');
      writeFileSync(path, archive);
      const test = spawnSync('unzip', ['-P', 'infected', '-t', path], { encoding: 'utf8' });
      expect(test.status).toBe(0);
      expect(test.stdout).toContain('testing: evil.exe');
      expect(test.stdout).toContain('No errors detected');
      const extracted = spawnSync('unzip', ['-P', 'infected', '-p', path, 'evil.exe'], {
        maxBuffer: 8 * MiB,
      });
      expect(digest('sha1', extracted.stdout)).toBe(digest('sha1', evilExe));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the extracted files and the archive with keep=both, extracted files first', async () => {
    // Act
    const result = await run({ file_id: FILE_ID, keep: 'both' });

    // Assess
    const items = result.data as Array<{ name: string; sha1: string; key: string; is_archive: boolean }>;
    expect(items.map((item) => item.name)).toEqual(['evil.exe', `${FILE_ID}.zip`]);
    // A playbook that detonates every vault_id can leave the archive out
    expect(items.map((item) => item.is_archive)).toEqual([false, true]);
    expect(items[0]).toMatchObject(expectedHashes(evilExe));
    expect(result.summary).toEqual({ vault_id: digest('sha1', evilExe), total_files: 2 });
    expect((await bucketState()).keys).toEqual(items.map((item) => item.key).sort());
  });

  it('fails with the Tanium error text when the file does not exist (404)', async () => {
    // Act
    const result = await run({ file_id: 'no-such-file' });

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'Error from server. Status Code: 404 Data from server: File evidence not found: no-such-file',
      error: { kind: 'not_found', retryable: false },
    });
    expect(await bucketState()).toEqual({ keys: [], uploads: 0 });
  });

  it('fails on a 500 without retrying it', async () => {
    // Prepare
    emulator.faults.add({
      method: 'GET',
      path: DATA_PATH,
      kind: 'status',
      status: 500,
      shape: 'message',
      message: 'disk error',
    });

    // Act
    const result = await run({ file_id: FILE_ID });

    // Assess
    expect(result.message).toBe('Error from server. Status Code: 500 Data from server: disk error');
    expect(result.error).toEqual({ kind: 'tanium', retryable: false });
    expect(calls()).toEqual([`GET ${DATA_PATH}`]);
  });

  it('fails with a configuration error, before any call, when no vault is configured', async () => {
    // Prepare
    const { vault: _, ...withoutVault } = ctx;

    // Act
    const result = await run({ file_id: FILE_ID }, withoutVault);

    // Assess
    expect(result).toMatchObject({
      status: 'failed',
      message: 'get file needs the vault: set VAULT_BUCKET',
      error: { kind: 'config', retryable: false },
    });
    expect(emulator.requests).toHaveLength(0);
  });

  it.each([
    [{}, "Please provide a value for the 'file_id' parameter"],
    [{ file_id: '  ' }, "Please provide a value for the 'file_id' parameter"],
    [{ file_id: 42 }, "Please provide a string value in the 'file_id' parameter"],
    [
      { file_id: '..' },
      "Please provide a valid value in the 'file_id' parameter: '.' and '..' are not allowed",
    ],
    [
      { file_id: FILE_ID, keep: 'zip' },
      "Please provide valid input from ['extract', 'archive', 'both'] in 'keep' action parameter",
    ],
  ])('rejects %j before any call', async (params, message) => {
    // Act
    const result = await run(params);

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(message);
    expect(result.error).toEqual({ kind: 'validation', retryable: false });
    expect(emulator.requests).toHaveLength(0);
  });
});

// The header parsing itself is tested in test/unit/actions/get-file.test.ts; this needs a real server.
describe('get file: Content-Disposition file names', () => {
  it('reads a file name sent as raw UTF-8 bytes, which undici hands over as Latin-1', async () => {
    // Prepare: Node writes a header string's characters as single bytes, so these are the UTF-8 bytes
    const raw = Buffer.from('attachment; filename="résumé.zip"', 'utf8').toString('latin1');
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/zip', 'content-disposition': raw });
      response.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = new TaniumClient(
      parseCredentials({ base_url: `http://127.0.0.1:${port}`, api_token: 'token-abcdef' }, 'test'),
    );
    try {
      // Act
      const download = await client.stream({ method: 'GET', path: DATA_PATH });
      download.body.resume();
      const header = download.headers['content-disposition'];

      // Assess
      expect(header).toBe(raw);
      expect(dispositionFileName(typeof header === 'string' ? header : undefined)).toBe('résumé.zip');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
