import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readmePath } from '../../cli/main.ts';

const BIN = fileURLToPath(new URL('../../cli/tanium-tr.mjs', import.meta.url));

describe('Command line: tanium-tr docs', () => {
  it('finds the README of a checkout whose path has a space', () => {
    expect(readmePath('file:///home/me/my%20checkout/cli/main.ts')).toBe('/home/me/my checkout/README.md');
  });

  it('says how to install moto, and exits, when moto cannot start', async () => {
    // Prepare: a PATH with openssl (the emulator's certificates) but no python3
    const pathDir = mkdtempSync(join(tmpdir(), 'no-python-'));
    const openssl = spawnSync('sh', ['-c', 'command -v openssl'], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(openssl, join(pathDir, 'openssl'));
    try {
      const child = spawn(process.execPath, [BIN, 'docs'], {
        env: { ...process.env, PATH: pathDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });

      // Act: a server left open (the emulator) would keep the process alive
      const code = await Promise.race([
        new Promise<number | null>((resolve) => child.on('close', resolve)),
        new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 20_000)),
      ]);
      if (code === 'still running') child.kill('SIGKILL');

      // Assess
      expect(code).toBe(1);
      expect(stderr).toContain("npm run docs failed: moto's server is not available to python3");
      expect(stderr).toContain("pip install 'moto[server]'");
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(pathDir, { recursive: true, force: true });
    }
  });
});
