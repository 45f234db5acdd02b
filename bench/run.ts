/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name> [args]` runs one. Each benchmark is
 * `bench/<name>.ts`, runs in its own Node process (so one's memory or agents never skew another's), and
 * ends by printing one JSON line with its figures.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = ['client', 'handler', 'get-file', 'poller'] as const;
/** Run by name only: it needs Info-ZIP's zip and unzip, and writes a file of about 200 MB. */
const BY_NAME_ONLY = ['zipcrypto'] as const;

const [name, ...args] = process.argv.slice(2);
const names = name ? [name] : [...BENCHMARKS];
let failures = 0;
for (const bench of names) {
  const file = fileURLToPath(new URL(`./${bench}.ts`, import.meta.url));
  if (!existsSync(file)) {
    console.error(`Unknown benchmark '${bench}'. Known: ${[...BENCHMARKS, ...BY_NAME_ONLY].join(', ')}`);
    process.exit(2);
  }
  // Figures differ between Node majors (the tests run on the machine's, Lambda on 22): say which ran.
  console.error(`\n=== bench ${bench} (Node ${process.version}) ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file, ...args], {
    stdio: 'inherit',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  if (run.status !== 0) {
    console.error(`bench ${bench} failed with exit status ${run.status}`);
    failures++;
  }
}
process.exit(failures > 0 ? 1 : 0);
