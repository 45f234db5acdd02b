/**
 * `get file` end to end: a large generated file, deflated and ZipCrypto-encrypted by the Tanium emulator
 * on the fly, downloaded over HTTPS, decrypted, inflated, hashed and streamed into S3 (moto) by the real
 * action, in a child process per size so its peak RSS (process.resourceUsage().maxRSS, plus RSS sampled
 * every 50 ms) is the action's alone. In the same run, on the same archive, two references:
 * - Info-ZIP: `unzip -P infected -p <archive> | sha256sum` on the archive saved to a temporary file;
 * - a plain stream copy: the archive downloaded through the same HTTP client into a SHA-256 only.
 * Throughput is MB/s of extracted bytes (MB = 10^6 bytes) over wall time. Memory is in MB as Lambda's
 * memory setting counts it: MiB (2^20 bytes), which the 256 MB target means.
 *
 *   node --import tsx bench/get-file.ts            # 100 MiB and 1 GiB
 *   node --import tsx bench/get-file.ts --quick    # 20 MiB and 100 MiB
 *   node --import tsx bench/get-file.ts 300        # one size, in MiB
 *
 * Ends with one JSON line: {"bench":"get-file","peak_rss_mb_100mib":...,"peak_rss_mb_1gib":...,
 * "mb_per_s":...,"throughput_vs_unzip":...,"throughput_vs_copy":...} (mb_per_s and the ratios are those
 * of the largest size).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { executeAction } from '../shared/actions/execute.ts';
import { getFile } from '../shared/actions/get-file.ts';
import type { ActionDefinition } from '../shared/actions/types.ts';
import { parseCredentials } from '../shared/config/credentials.ts';
import { TaniumClient } from '../shared/tanium/client.ts';
import { segment, TR } from '../shared/tanium/routes.ts';
import { Vault } from '../shared/vault/vault.ts';
import { type Emulator, startEmulator } from '../test/emulator/index.ts';
import { tlsMaterial } from '../test/emulator/tls.ts';
import { type MotoServer, resetMoto, startMoto } from '../test/helpers/moto.ts';

const MiB = 1024 * 1024;
const BUCKET = 'bench-get-file';
const FILE_ID = '79478f3e-061b-4b59-a99a-349415df99a0';

interface ChildConfig {
  baseUrl: string;
  apiToken: string;
  ca: string;
  motoEndpoint: string;
  fileId: string;
  maxBytes: number;
}

interface ChildReport {
  status: string;
  message: string;
  seconds: number;
  size: number;
  sha256: string;
  maxRssMb: number;
  sampledPeakRssMb: number;
  /** RSS once the modules are loaded, before the action runs. */
  baselineRssMb: number;
  /** Download, decryption, inflation and hashing into the spool: until the first S3 call. */
  extractSeconds: number;
  /** From the first S3 call to the end: existence check, upload, CompleteMultipartUpload. */
  s3Seconds: number;
  completeSeconds: number;
}

function credentialsFor(config: { baseUrl: string; apiToken: string; ca: string }) {
  return parseCredentials(
    { base_url: config.baseUrl, api_token: config.apiToken, ca_bundle: config.ca, timeout_seconds: 120 },
    'bench',
  );
}

// --- the child: one get file, measured -----------------------------------------------------------

async function child(config: ChildConfig): Promise<void> {
  const baseline = process.memoryUsage().rss;
  let sampledPeak = baseline;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 50);
  const s3 = new S3Client({ endpoint: config.motoEndpoint, forcePathStyle: true, region: 'us-east-1' });
  // Where the time goes: the vault calls S3 only once the file is extracted, hashed and spooled.
  let firstS3Call: number | undefined;
  let completeMs = 0;
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const at = performance.now();
      firstS3Call ??= at;
      try {
        return await next(args);
      } finally {
        if (context.commandName === 'CompleteMultipartUploadCommand') completeMs += performance.now() - at;
      }
    },
    { step: 'initialize', name: 'benchS3Timing' },
  );
  const client = new TaniumClient(credentialsFor(config));
  const started = performance.now();
  const result = await executeAction(
    getFile as unknown as ActionDefinition,
    { file_id: config.fileId },
    {
      client,
      deadline: Date.now() + 30 * 60_000,
      requestId: 'bench',
      // Spool up to the cap, as a function with ephemeral storage sized for GET_FILE_MAX_BYTES would.
      vault: new Vault({ bucket: BUCKET, client: s3, spoolMaxBytes: config.maxBytes }),
      getFileMaxBytes: config.maxBytes,
    },
  );
  const ended = performance.now();
  const seconds = (ended - started) / 1000;
  clearInterval(sampler);
  sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  const item = (result.data[0] ?? {}) as { size?: number; sha256?: string };
  const report: ChildReport = {
    status: result.status,
    message: result.message,
    seconds,
    size: item.size ?? 0,
    sha256: item.sha256 ?? '',
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    sampledPeakRssMb: sampledPeak / MiB,
    baselineRssMb: baseline / MiB,
    extractSeconds: ((firstS3Call ?? ended) - started) / 1000,
    s3Seconds: (ended - (firstS3Call ?? ended)) / 1000,
    completeSeconds: completeMs / 1000,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  s3.destroy();
}

// --- the parent: emulator, moto, references ----------------------------------------------------------

function runChild(config: ChildConfig): Promise<ChildReport> {
  const file = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', file, '--child'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        BENCH_GET_FILE_CHILD: JSON.stringify(config),
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'us-east-1',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || line === '') reject(new Error(`get file child exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as ChildReport);
    });
  });
}

/** Downloads the emulator's archive through the project's HTTP client into `sink`. */
async function download(client: TaniumClient, sink: NodeJS.WritableStream): Promise<number> {
  const response = await client.stream({
    method: 'GET',
    path: `${TR}/filedownload/data/${segment('file_id', FILE_ID)}`,
    accept: 'application/zip, application/octet-stream',
  });
  let bytes = 0;
  response.body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await pipeline(response.body, sink);
  return bytes;
}

function hashSink(hash: ReturnType<typeof createHash>): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
}

interface SizeFigures {
  mib: number;
  archiveBytes: number;
  getFile: ChildReport;
  replay: ChildReport;
  getFileMbPerS: number;
  replayMbPerS: number;
  unzipMbPerS: number;
  copyMbPerS: number;
}

/**
 * Serves a saved archive the way the emulator's download route does (same headers, same bytes, same TLS
 * material), but from disk: get file from here measures the action's own pipeline, without the
 * emulator's on-the-fly deflate and encryption in the way.
 */
async function startReplay(archivePath: string): Promise<{ url: string; close(): Promise<void> }> {
  const material = await tlsMaterial();
  const size = statSync(archivePath).size;
  const server = createHttpsServer({ key: material.key, cert: material.cert }, (request, response) => {
    request.resume();
    response.writeHead(200, {
      'content-type': 'application/zip',
      'content-length': String(size),
      'content-disposition': `attachment; filename="${FILE_ID}.zip"`,
    });
    createReadStream(archivePath).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function freshBucket(moto: MotoServer): Promise<void> {
  await resetMoto(moto.endpoint);
  const s3 = new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
}

function check(report: ChildReport, size: number, sha256: string | undefined, what: string): void {
  if (report.status !== 'success') throw new Error(`get file (${what}) failed: ${report.message}`);
  if (report.size !== size)
    throw new Error(`get file (${what}) stored ${report.size} bytes, expected ${size}`);
  if (report.sha256 !== sha256) throw new Error(`get file (${what}) and unzip disagree on the SHA-256`);
}

async function measure(
  emulator: Emulator,
  moto: MotoServer,
  client: TaniumClient,
  dir: string,
  mib: number,
): Promise<SizeFigures> {
  const size = mib * MiB;
  emulator.switches.downloadLargeFileBytes = size;
  emulator.switches.downloadLargeFileMethod = 'deflate';
  const mbPerS = (seconds: number) => size / 1e6 / seconds;

  // Reference archive on disk for Info-ZIP (the emulator generates the same bytes every time).
  const archivePath = join(dir, `archive-${mib}.zip`);
  await download(client, createWriteStream(archivePath));
  const archiveBytes = statSync(archivePath).size;

  // Plain stream copy: the same download into a hash only.
  let started = performance.now();
  await download(client, hashSink(createHash('sha256')));
  const copySeconds = (performance.now() - started) / 1000;

  // Info-ZIP: decrypt + inflate + SHA-256 of the extracted bytes.
  started = performance.now();
  const unzip = spawnSync(
    'bash',
    ['-o', 'pipefail', '-c', 'unzip -P infected -p "$1" | sha256sum', 'bench', archivePath],
    { encoding: 'utf8' },
  );
  const unzipSeconds = (performance.now() - started) / 1000;
  if (unzip.status !== 0) throw new Error(`unzip failed: ${unzip.stderr}`);
  const unzipSha256 = unzip.stdout.split(/\s+/)[0];

  // The action, in its own process: from the emulator, then from the saved archive.
  const common = {
    apiToken: emulator.credentials.apiToken,
    ca: emulator.ca ?? '',
    motoEndpoint: moto.endpoint,
    fileId: FILE_ID,
    maxBytes: 4 * 1024 * MiB,
  };
  await freshBucket(moto);
  const report = await runChild({ ...common, baseUrl: emulator.url });
  check(report, size, unzipSha256, 'emulator');
  await freshBucket(moto);
  const replay = await startReplay(archivePath);
  let replayed: ChildReport;
  try {
    replayed = await runChild({ ...common, baseUrl: replay.url });
  } finally {
    await replay.close();
  }
  check(replayed, size, unzipSha256, 'replay');
  await resetMoto(moto.endpoint);
  rmSync(archivePath, { force: true });

  const figures: SizeFigures = {
    mib,
    archiveBytes,
    getFile: report,
    replay: replayed,
    getFileMbPerS: mbPerS(report.seconds),
    replayMbPerS: mbPerS(replayed.seconds),
    unzipMbPerS: mbPerS(unzipSeconds),
    copyMbPerS: mbPerS(copySeconds),
  };
  const rss = (r: ChildReport) =>
    `peak RSS ${r.maxRssMb.toFixed(0)} MB (sampled ${r.sampledPeakRssMb.toFixed(0)} MB, ${r.baselineRssMb.toFixed(0)} MB before the action)\n` +
    `    extraction into the spool ${r.extractSeconds.toFixed(1)} s, S3 ${r.s3Seconds.toFixed(1)} s (CompleteMultipartUpload ${r.completeSeconds.toFixed(1)} s)`;
  console.error(
    `${mib} MiB (archive ${(archiveBytes / MiB).toFixed(1)} MiB):\n` +
      `  get file from the emulator  ${figures.getFileMbPerS.toFixed(1)} MB/s in ${report.seconds.toFixed(1)} s, ${rss(report)}\n` +
      `  get file, archive from disk ${figures.replayMbPerS.toFixed(1)} MB/s in ${replayed.seconds.toFixed(1)} s, ${rss(replayed)}\n` +
      `  unzip -p | sha256sum        ${figures.unzipMbPerS.toFixed(1)} MB/s in ${unzipSeconds.toFixed(1)} s\n` +
      `  download copy (emulator)    ${figures.copyMbPerS.toFixed(1)} MB/s in ${copySeconds.toFixed(1)} s`,
  );
  return figures;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const explicit = args.find((arg) => /^\d+$/.test(arg));
  const sizes = explicit ? [Number(explicit)] : args.includes('--quick') ? [20, 100] : [100, 1024];
  const dir = mkdtempSync(join(tmpdir(), 'bench-get-file-'));
  let emulator: Emulator | undefined;
  let moto: MotoServer | undefined;
  try {
    moto = await startMoto();
    moto.applyEnv();
    emulator = await startEmulator({ tls: true, clock: 'real' });
    const client = new TaniumClient(
      credentialsFor({
        baseUrl: emulator.url,
        apiToken: emulator.credentials.apiToken,
        ca: emulator.ca ?? '',
      }),
    );
    const results: SizeFigures[] = [];
    for (const mib of sizes) results.push(await measure(emulator, moto, client, dir, mib));
    const peakOf = (figures: SizeFigures) =>
      Number(Math.max(figures.getFile.maxRssMb, figures.replay.maxRssMb).toFixed(1));
    const rssAt = (mib: number) => {
      const found = results.find((figures) => figures.mib === mib);
      return found ? peakOf(found) : null;
    };
    const largest = results.at(-1)!;
    const summary = {
      bench: 'get-file',
      peak_rss_mb_100mib: rssAt(100),
      peak_rss_mb_1gib: rssAt(1024),
      mb_per_s: Number(largest.getFileMbPerS.toFixed(1)),
      throughput_vs_unzip: Number((largest.getFileMbPerS / largest.unzipMbPerS).toFixed(2)),
      throughput_vs_copy: Number((largest.getFileMbPerS / largest.copyMbPerS).toFixed(2)),
      sizes_mib: sizes,
      unzip_mb_per_s: Number(largest.unzipMbPerS.toFixed(1)),
      copy_mb_per_s: Number(largest.copyMbPerS.toFixed(1)),
      // The same action on the same archive served from disk: its own speed, not the emulator's.
      replay_mb_per_s: Number(largest.replayMbPerS.toFixed(1)),
      replay_vs_unzip: Number((largest.replayMbPerS / largest.unzipMbPerS).toFixed(2)),
      peak_rss_mb: Object.fromEntries(results.map((figures) => [figures.mib, peakOf(figures)])),
    };
    console.log(JSON.stringify(summary));
  } finally {
    await emulator?.close();
    await moto?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  await child(JSON.parse(process.env.BENCH_GET_FILE_CHILD ?? '{}') as ChildConfig);
} else {
  await main();
}
