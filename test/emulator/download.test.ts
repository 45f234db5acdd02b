import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedChunks, SEEDED } from './index.ts';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';
import { ZipCryptoCipher } from './zipcrypto.ts';

const run = promisify(execFile);
const DATA = `${TR_PATH}/filedownload/data/${SEEDED.fileEvidenceUuid}`;

describe('Emulator: file evidence downloads are real ZipCrypto archives', () => {
  const tanium = useEmulator();
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'emulator-zip-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs Info-ZIP's integrity test; resolves with its output, rejects when it reports an error. */
  const unzipTest = async (body: Buffer, name: string, password = 'infected') => {
    const file = join(dir, name);
    await writeFile(file, body);
    const { stdout } = await run('unzip', ['-P', password, '-t', file]);
    return stdout;
  };

  it('sends one encrypted, deflated entry with Content-Length and Content-Disposition', async () => {
    // Act
    const response = await tanium.client.get(DATA);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/zip');
    expect(response.headers['content-disposition']).toBe(
      `attachment; filename="${SEEDED.fileEvidenceUuid}.zip"`,
    );
    expect(Number(response.headers['content-length'])).toBe(response.body.length);
    expect(response.body.readUInt16LE(6) & 0x1).toBe(1);
    expect(response.body.readUInt16LE(8)).toBe(8);
    expect(await unzipTest(response.body, 'single.zip')).toMatch(/testing: evil\.exe\s+OK/);
  });

  it('is accepted by unzip with several entries and with data descriptors', async () => {
    // Prepare
    tanium.emulator.switches.downloadMultipleEntries = true;
    tanium.emulator.switches.downloadDataDescriptor = true;

    // Act
    const response = await tanium.client.get(DATA);

    // Assess
    expect(response.body.readUInt16LE(6) & 0x8).toBe(0x8);
    const output = await unzipTest(response.body, 'multi.zip');
    expect(output).toMatch(/testing: evil\.exe\s+OK/);
    expect(output).toMatch(/testing: collected\/metadata\.txt\s+OK/);
    expect(output).toMatch(/No errors detected/);
  });

  it('fails unzip with the wrong password and with a corrupt archive', async () => {
    // Prepare
    const good = (await tanium.client.get(DATA)).body;
    tanium.emulator.switches.downloadArchive = 'corrupt';
    const corrupt = (await tanium.client.get(DATA)).body;

    // Act
    const exitCode = (body: Buffer, name: string, password?: string) =>
      unzipTest(body, name, password).then(
        () => 0,
        (error: { code?: number }) => error.code,
      );
    const wrongPassword = await exitCode(good, 'wrong.zip', 'not-the-password');
    const damaged = await exitCode(corrupt, 'corrupt.zip');
    const intact = await exitCode(good, 'good.zip');

    // Assess
    expect(wrongPassword).not.toBe(0);
    expect(damaged).not.toBe(0);
    expect(intact).toBe(0);
  });

  it('honours the header switches: no Content-Disposition, octet-stream, chunked', async () => {
    // Prepare
    tanium.emulator.switches.downloadNoContentDisposition = true;
    tanium.emulator.switches.downloadOctetStream = true;
    tanium.emulator.switches.downloadChunked = true;

    // Act
    const response = await tanium.client.get(DATA);

    // Assess
    expect(response.headers['content-disposition']).toBeUndefined();
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.headers['content-length']).toBeUndefined();
    expect(response.headers['transfer-encoding']).toBe('chunked');
    expect(await unzipTest(response.body, 'chunked.zip')).toMatch(/No errors detected/);
  });

  it('streams a generated large file with an exact Content-Length and the generator bytes', async () => {
    // Prepare
    const size = 3 * 1024 * 1024 + 123;
    tanium.emulator.switches.downloadLargeFileBytes = size;
    const expected = createHash('sha1');
    for await (const chunk of generatedChunks(size)) expected.update(chunk);

    // Act
    const response = await tanium.client.get(DATA);
    const file = join(dir, 'large.zip');
    await writeFile(file, response.body);
    const { stdout } = await run('unzip', ['-P', 'infected', '-p', file], {
      encoding: 'buffer',
      maxBuffer: 16 * 1024 * 1024,
    });

    // Assess
    expect(Number(response.headers['content-length'])).toBe(response.body.length);
    expect(stdout.length).toBe(size);
    expect(createHash('sha1').update(stdout).digest('hex')).toBe(expected.digest('hex'));
  });

  it('answers a JSON 200 and 404 for unknown evidence', async () => {
    // Prepare
    tanium.emulator.switches.downloadJson200 = true;

    // Act
    const jsonAnswer = await tanium.client.get(DATA);
    const unknown = await tanium.client.get(
      `${TR_PATH}/filedownload/data/00000000-0000-4000-8000-000000000000`,
    );

    // Assess
    expect(jsonAnswer.headers['content-type']).toMatch(/^application\/json/);
    expect(unknown.status).toBe(404);
  });

  it('round-trips the ZipCrypto cipher', () => {
    // Prepare
    const plain = Buffer.from('The quick brown fox jumps over the lazy dog');

    // Act
    const encrypted = new ZipCryptoCipher('infected').encrypt(plain);
    const decrypted = new ZipCryptoCipher('infected').decrypt(encrypted);

    // Assess
    expect(encrypted.equals(plain)).toBe(false);
    expect(decrypted.equals(plain)).toBe(true);
  });

  it("makes a wrong-password archive's check byte fail for the reader's password every time", () => {
    // Prepare: with random headers, about 8 of 2,000 would pass a one-byte check by chance
    const checks = Array.from({ length: 2000 }, () => {
      // Act
      const header = new ZipCryptoCipher('not-infected').header(0xa7, { refusedBy: 'infected' });
      return new ZipCryptoCipher('infected').decrypt(header)[11];
    });

    // Assess
    expect(checks.filter((check) => check === 0xa7)).toEqual([]);
    // The header still carries the check byte for its own password.
    const own = new ZipCryptoCipher('not-infected').header(0xa7, { refusedBy: 'infected' });
    expect(new ZipCryptoCipher('not-infected').decrypt(own)[11]).toBe(0xa7);
  });
});
