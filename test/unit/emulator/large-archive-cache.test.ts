import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cachedArchive, recordArchive } from '../../emulator/large-archive-cache.ts';

const made: string[] = [];

function cacheOf(pid: number): string {
  const dir = join(tmpdir(), `tanium-emulator-archives-p${pid}-test${made.length}`);
  mkdirSync(dir);
  made.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('Emulator archive cache', () => {
  it('removes the caches of processes that are gone and keeps those of running ones', async () => {
    // Prepare: a process that has exited, and one that runs (this worker's parent)
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const stale = cacheOf(gone);
    const live = cacheOf(process.ppid);

    // Act: the first archive recorded creates this process's cache
    async function* body() {
      yield Buffer.from('zip');
    }
    for await (const _ of recordArchive('k', body())) {
      // drained
    }

    // Assess
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(cachedArchive('k')?.length).toBe(3);
  });
});
