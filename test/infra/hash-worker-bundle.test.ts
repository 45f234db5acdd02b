import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { esbuildBuildOptions } from '../../infra/bundling.ts';
import { PROJECT_ROOT } from '../../infra/constructs/tanium-function.ts';
import { digestsOf } from '../helpers/digests.ts';

describe('the hashing worker in a Lambda bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hash-worker-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts from the single bundled file, hashes, and lets the process exit', async () => {
    // Prepare: the evidence function's hashing, bundled with the stack's esbuild settings.
    const entry = join(dir, 'entry.ts');
    writeFileSync(
      entry,
      `import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from ${JSON.stringify(join(PROJECT_ROOT, 'shared/vault/hashing.ts'))};
const hasher = new HashingStream();
await pipeline(Readable.from([Buffer.alloc(3_000_000, 7)]), hasher, new PassThrough().resume());
process.stdout.write(JSON.stringify(hasher.digests));
`,
    );
    const outfile = join(dir, 'out', 'index.mjs');
    await esbuild.build({ ...esbuildBuildOptions('evidence', outfile, entry), logLevel: 'error' });

    // Act: a fresh Node process, which must end on its own (an idle worker keeps nothing alive).
    const run = spawnSync(process.execPath, [outfile], { encoding: 'utf8', timeout: 20_000 });

    // Assess
    expect(run.error).toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(digestsOf(Buffer.alloc(3_000_000, 7)));
  }, 30_000);
});
