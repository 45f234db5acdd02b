import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Io, stdio } from '../../cli/local/console.ts';
import { startEmulator } from './server.ts';
import { opensslMissing } from './tls.ts';
import type { EmulatorOptions } from './types.ts';

const USAGE = `Usage: emulator [--port <n>] [--http] [--manual-clock]
  --port <n>       listen on this port (default: a free one)
  --http           plain HTTP instead of HTTPS
  --manual-clock   time only moves through POST /__emulator/clock`;

export function parseArgs(argv: readonly string[]): EmulatorOptions | string {
  const options: EmulatorOptions = { clock: 'real' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--http') options.tls = false;
    else if (arg === '--manual-clock') options.clock = 'manual';
    else if (arg === '--port' || arg.startsWith('--port=')) {
      const value = arg.includes('=') ? arg.slice(7) : argv[++i];
      if (!value || !/^\d+$/.test(value) || Number(value) > 65535)
        return `Invalid --port value: ${value ?? ''}`;
      options.port = Number(value);
    } else if (arg === '--help' || arg === '-h') return USAGE;
    else return `Unknown option: ${arg}\n${USAGE}`;
  }
  return options;
}

/**
 * Starts the emulator for manual use and the local pipeline; prints where it listens and how to log in,
 * and runs until SIGINT or SIGTERM. Returns the exit status: 0, 1 when it cannot start, 2 for bad usage,
 * 130 when signalled before it was up. Writes to `io` (default: stdout and stderr).
 */
export async function main(argv: readonly string[] = process.argv.slice(2), io: Io = stdio): Promise<number> {
  const options = parseArgs(argv);
  if (typeof options === 'string') {
    io.err(options);
    return options === USAGE ? 0 : 2;
  }
  // Listening from before the start: a signal while openssl makes the certificate would otherwise end
  // the process at once and leave the temporary directory with the CA's private key behind. Handled, it
  // lets the start finish (which removes that directory) and then stops.
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await serve(options, stopping.signal, io);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Starts the emulator and serves until `stop` is aborted; see `main`. */
async function serve(options: EmulatorOptions, stop: AbortSignal, io: Io): Promise<number> {
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  try {
    emulator = await startEmulator(options);
  } catch (error) {
    // A terminal's Ctrl-C ends openssl too: its failure is the interruption, not a reason to report.
    if (stop.aborted) return 130;
    io.err(`The emulator could not start: ${startFailure(error, options.port)}`);
    return 1;
  }
  if (stop.aborted) {
    await emulator.close();
    return 130;
  }
  let caDir: string | undefined;
  let caFile: string | undefined;
  if (emulator.ca) {
    caDir = await mkdtemp(join(tmpdir(), 'tanium-emulator-ca-'));
    caFile = join(caDir, 'ca.pem');
    await writeFile(caFile, emulator.ca);
  }
  const lines = [
    `Tanium TR emulator listening on ${emulator.url}`,
    caFile ? `CA certificate (ca_bundle): ${caFile}` : 'Plain HTTP (no CA)',
    `api_token: ${emulator.credentials.apiToken}`,
    `username: ${emulator.credentials.username}`,
    `password: ${emulator.credentials.password}`,
    `domain: ${emulator.credentials.domain}`,
    `clock: ${emulator.clock.mode}; controls under ${emulator.url}/__emulator/ (see test/emulator/README.md)`,
    '',
    'To run actions against it from another shell:',
    `  export TANIUM_BASE_URL=${emulator.url}`,
    `  export TANIUM_API_TOKEN=${emulator.credentials.apiToken}`,
    ...(caFile ? [`  export TANIUM_CA_BUNDLE=${caFile}`] : []),
    '  npx tanium-tr run "list connections"',
    '',
    'Press Ctrl+C to stop.',
  ];
  io.out(lines.join('\n'));
  if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
  await emulator.close();
  if (caDir) await rm(caDir, { recursive: true, force: true });
  io.out('Tanium TR emulator stopped.');
  return 0;
}

/** What a user can act on, for the failures starting the emulator meets in practice. */
export function startFailure(error: unknown, port: number | undefined): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'EADDRINUSE')
    return `port ${port} is already in use; pick another with --port, or leave it out`;
  if (code === 'EACCES') return `port ${port} needs privileges this user lacks; pick one above 1023`;
  if (opensslMissing(error))
    return 'openssl is needed to make its TLS certificate; install it, or run with --http';
  return error instanceof Error ? error.message : String(error);
}
