import { createReadStream, createWriteStream, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Large generated archives are built (deflated and encrypted in JavaScript, slower than a client can
 * read) once per process and then served from a temporary file, so a benchmark measures the client and
 * not the emulator's archive writer. The first download streams while the file is written.
 */
let dir: string | undefined;
const ready = new Map<string, { path: string; length: number }>();

function cacheDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'tanium-emulator-archives-'));
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
