import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessRunning } from '../../shared/vault/spool.ts';

const PREFIX = 'tanium-emulator-archives-';
const OWNED = /^tanium-emulator-archives-p(\d+)-/;

/**
 * Large generated archives are built (deflated and encrypted in JavaScript, slower than a client can
 * read) once per process and then served from a temporary file, so a benchmark measures the client and
 * not the emulator's archive writer. The first download streams while the file is written.
 */
let dir: string | undefined;
const ready = new Map<string, { path: string; length: number }>();

/**
 * The cache of a process that is gone: a test worker ended by a signal never runs its 'exit' handler,
 * and each cache holds up to hundreds of MB.
 */
function removeDeadCaches(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = OWNED.exec(name)?.[1];
    if (pid !== undefined && !isProcessRunning(Number(pid))) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

function cacheDir(): string {
  if (!dir) {
    removeDeadCaches();
    dir = mkdtempSync(join(tmpdir(), `${PREFIX}p${process.pid}-`));
    const created = dir;
    process.once('exit', () => rmSync(created, { recursive: true, force: true }));
  }
  return dir;
}

export function cachedArchive(key: string): { body: AsyncIterable<Buffer>; length: number } | undefined {
  const hit = ready.get(key);
  if (!hit) return undefined;
  return { body: createReadStream(hit.path, { highWaterMark: 1024 * 1024 }), length: hit.length };
}

/** Passes the archive through while writing it; it becomes a cache entry once complete. */
export async function* recordArchive(key: string, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const final = join(cacheDir(), `${ready.size}-${Date.now()}.zip`);
  const partial = `${final}.partial`;
  const file = createWriteStream(partial);
  let complete = false;
  try {
    for await (const chunk of chunks) {
      if (!file.write(chunk)) await new Promise<void>((resolve) => file.once('drain', () => resolve()));
      yield chunk;
    }
    complete = true;
  } finally {
    await new Promise<void>((resolve) => file.end(() => resolve()));
    if (complete) {
      renameSync(partial, final);
      ready.set(key, { path: final, length: statSync(final).size });
    } else {
      rmSync(partial, { force: true });
    }
  }
}
