import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { esbuildBuildOptions } from '../infra/bundling.ts';

const name = process.argv[2] ?? 'connections';
const out = `/tmp/impb/${name}/index.mjs`;
await build({ ...esbuildBuildOptions(`functions/${name}/index.ts`, out), logLevel: 'error' });
const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(out).href)}); process.stdout.write(String(performance.now() - t));`;
const times: number[] = [];
for (let i = 0; i < Number(process.argv[3] ?? 11); i++) {
  const c = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
  times.push(Number(c.stdout));
}
times.sort((a, b) => a - b);
console.log(
  name,
  times.map((t) => t.toFixed(0)).join(' '),
  'median',
  times[Math.floor(times.length / 2)]?.toFixed(1),
);
