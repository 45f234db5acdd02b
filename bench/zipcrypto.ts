/**
 * ZipCrypto decrypt + inflate throughput of the vault's streaming reader against Info-ZIP `unzip`, on a
 * generated ~200 MB file (text that deflates well, mixed with incompressible blocks) zipped with
 * `zip -P infected`. Both sides also compute a SHA-256 of the extracted bytes, and must agree on it.
 *
 *   node --import tsx bench/zipcrypto.ts [megabytes]
 *
 * Prints one JSON line at the end: {"bench":"zipcrypto","mb_per_s":...,"unzip_mb_per_s":...,...}.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipReader } from '../shared/vault/zip/reader.ts';

const megabytes = Number(process.argv[2] ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'bench-zipcrypto-'));

function generate(path: string, bytes: number): void {
  const words = Array.from({ length: 4000 }, () =>
    randomBytes(2 + Math.floor(Math.random() * 6)).toString('hex'),
  );
  const textBlocks = Array.from({ length: 64 }, () => {
    let text = '';
    while (text.length < 65_536) text += `${words[Math.floor(Math.random() * words.length)]} `;
    return Buffer.from(text.slice(0, 65_536));
  });
  const fd = openSync(path, 'w');
  for (let written = 0; written < bytes; written += 65_536) {
    const block = Math.random() < 0.3 ? randomBytes(65_536) : textBlocks[Math.floor(Math.random() * 64)]!;
    writeSync(fd, block);
  }
  closeSync(fd);
}

async function ours(archive: string): Promise<{ seconds: number; bytes: number; sha256: string }> {
  const started = performance.now();
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const entry of new ZipReader(createReadStream(archive), { password: 'infected' })) {
    for await (const chunk of entry.stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  }
  return { seconds: (performance.now() - started) / 1000, bytes, sha256: hash.digest('hex') };
}

function unzip(archive: string): { seconds: number; sha256: string } {
  const started = performance.now();
  const result = spawnSync('sh', ['-c', 'unzip -P infected -p "$1" | sha256sum', 'sh', archive], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`unzip failed: ${result.stderr}`);
  return { seconds: (performance.now() - started) / 1000, sha256: result.stdout.split(/\s/)[0]! };
}

try {
  const input = join(dir, 'payload.bin');
  const archive = join(dir, 'payload.zip');
  generate(input, megabytes * 1024 * 1024);
  const zipped = spawnSync('zip', ['-q', '-P', 'infected', '-j', archive, input]);
  if (zipped.status !== 0) throw new Error(`zip failed: ${zipped.stderr?.toString()}`);
  const archiveBytes = statSync(archive).size;

  await ours(archive); // warm-up: JIT and page cache
  const mine = await ours(archive);
  const theirs = unzip(archive);
  if (mine.sha256 !== theirs.sha256) throw new Error(`SHA-256 differs: ${mine.sha256} vs ${theirs.sha256}`);

  const mbPerS = mine.bytes / 1e6 / mine.seconds;
  const unzipMbPerS = mine.bytes / 1e6 / theirs.seconds;
  console.log(
    JSON.stringify({
      bench: 'zipcrypto',
      extracted_mb: Number((mine.bytes / 1e6).toFixed(1)),
      archive_mb: Number((archiveBytes / 1e6).toFixed(1)),
      seconds: Number(mine.seconds.toFixed(3)),
      unzip_seconds: Number(theirs.seconds.toFixed(3)),
      mb_per_s: Number(mbPerS.toFixed(1)),
      unzip_mb_per_s: Number(unzipMbPerS.toFixed(1)),
      ratio: Number((mbPerS / unzipMbPerS).toFixed(2)),
      peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
