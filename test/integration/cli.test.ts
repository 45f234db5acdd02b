import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { ACTIONS } from '../../shared/actions/table.ts';
import { resetCredentialCache } from '../../shared/config/credential-source.ts';
import { closeAgents } from '../../shared/tanium/agent.ts';
import { TR } from '../../shared/tanium/routes.ts';
import { clearSessionCache } from '../../shared/tanium/session-cache.ts';
import { isProcessRunning } from '../../shared/vault/spool.ts';
import { postEmulatorControl } from '../helpers/emulator-control.ts';
import { freePort, type MotoServer, startMoto, withoutAwsOverrides } from '../helpers/moto.ts';
import { startSilentEndpoint } from '../helpers/silent-endpoint.ts';

const BIN = fileURLToPath(new URL('../../cli/tanium-tr.mjs', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the command line in this process, as cli/tanium-tr.mjs does, with `env` as its environment: what it
 * writes to stdout and stderr, line for line, and the exit status it returns. A process of its own costs
 * two seconds and more (node, tsx, the sources); the tests of what needs one (signals, the entry script,
 * npm) spawn it.
 */
async function cliInProcess(env: Record<string, string | undefined>, args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = {
    out: (text: string) => {
      stdout += `${text}\n`;
    },
    err: (text: string) => {
      stderr += `${text}\n`;
    },
  };
  const status = await main(args, { io, env });
  return { status, stdout, stderr };
}

/** The SIGINT and SIGTERM listeners of this process, to tell that a command left none of its own behind. */
function signalListeners(): unknown[] {
  return [...process.listeners('SIGINT'), ...process.listeners('SIGTERM')];
}

/**
 * What a command run in this process may leave to the next one: the Tanium client's agents and sessions,
 * the cached credentials, signal listeners, changes to process.env. Resets the caches after each test and
 * fails the test that left a listener or changed the environment.
 */
function isolateInProcessRuns(): void {
  let listeners: unknown[] = [];
  let savedEnv: NodeJS.ProcessEnv = {};
  beforeEach(() => {
    listeners = signalListeners();
    savedEnv = { ...process.env };
  });
  afterEach(async () => {
    await closeAgents();
    clearSessionCache();
    resetCredentialCache();
    expect(signalListeners()).toEqual(listeners);
    expect(process.env).toEqual(savedEnv);
  });
}

describe('Command line: tanium-tr against the emulator started from the command line', () => {
  let emulator: ChildProcess;
  let motoStarted: Promise<MotoServer> | undefined;
  let moto: MotoServer;
  let env: Record<string, string>;

  isolateInProcessRuns();
  const cliWith = (extraEnv: Record<string, string>, ...args: string[]): Promise<Run> =>
    cliInProcess({ ...process.env, ...env, ...extraEnv }, args);
  const cli = (...args: string[]): Promise<Run> => cliWith({}, ...args);

  /** An S3 client for the moto at `endpoint`. */
  const motoS3 = (endpoint: string) =>
    new S3Client({
      endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });

  /** Sets emulator switches through its control surface (it trusts the CA the emulator printed). */
  const setSwitches = (switches: Record<string, unknown>): Promise<void> =>
    postEmulatorControl(
      env.TANIUM_BASE_URL as string,
      '/__emulator/switches',
      switches,
      readFileSync(env.TANIUM_CA_BUNDLE as string),
    );

  beforeAll(async () => {
    // Prepare: moto stands in for S3 (one server for the file: each test has a bucket of its own), started
    // while `tanium-tr emulator` starts; the emulator's export lines are read as a shell would
    motoStarted = startMoto();
    const port = await freePort();
    emulator = spawn(process.execPath, [BIN, 'emulator', '--port', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      emulator.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Press Ctrl+C')) resolve();
      });
      emulator.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${output}`)));
    });
    env = {};
    for (const match of output.matchAll(/export (TANIUM_[A-Z_]+)=(\S+)/g))
      env[match[1] as string] = match[2] as string;
    moto = await motoStarted;
  }, 60_000);

  afterAll(async () => {
    // Stopped even when the emulator did not start.
    await motoStarted?.then(
      (started) => started.stop(),
      () => undefined,
    );
    if (!emulator || emulator.exitCode !== null || emulator.signalCode !== null) return;
    const exited = new Promise((resolve) => emulator.once('exit', resolve));
    emulator.kill('SIGTERM');
    await exited;
  });

  it('prints the credentials a shell needs', () => {
    expect(Object.keys(env).sort()).toEqual(['TANIUM_API_TOKEN', 'TANIUM_BASE_URL', 'TANIUM_CA_BUNDLE']);
  });

  it('runs an action and prints the result readably, with a table for the data', async () => {
    // Act
    const run = await cli('run', 'list connections');

    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^SUCCESS: Number of total connections: \d+/);
    expect(run.stdout).toContain('total_connections:');
    expect(run.stdout).toMatch(/\nid\s+status\s+/);
    expect(run.stdout).toContain('remote:test-client-1:2029399999:1');
  });

  it('prints the result object alone with --json', async () => {
    const run = await cli(
      'run',
      'get_process_tree',
      '--param',
      'connection_id=remote:test-client-1:2029399999:1',
      '--param',
      'process_table_id=72057594038528503',
      '--json',
    );
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      status: 'success',
      message: 'Process tree retrieved',
      parameter: { process_table_id: '72057594038528503' },
    });
  });

  /** `tanium-tr run get file` of the emulator's seeded file, as the spawned tests run it. */
  const GET_FILE = [BIN, 'run', 'get file', '--param', 'file_id=79478f3e-061b-4b59-a99a-349415df99a0'];

  /** The process environment of a spawned get file: the emulator's credentials, S3 at `endpoint`. */
  function getFileEnv(endpoint: string, extra: Record<string, string>): NodeJS.ProcessEnv {
    return {
      ...withoutAwsOverrides(process.env),
      ...env,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      ...extra,
    };
  }

  it('stores get file evidence in the vault bucket named by VAULT_BUCKET, run as its own process', async () => {
    // Prepare: the vault bucket in moto; a process of its own, the whole way a user runs it, with the AWS
    // SDK reading its environment
    const s3 = motoS3(moto.endpoint);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'cli-vault' }));

      // Act
      const run = spawnSync(process.execPath, [...GET_FILE, '--json'], {
        env: getFileEnv(moto.endpoint, { VAULT_BUCKET: 'cli-vault' }),
        encoding: 'utf8',
      });

      // Assess
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout) as {
        message: string;
        data: Array<{ key: string; name: string }>;
      };
      expect(result.message).toBe('File downloaded to vault');
      const stored = await s3.send(new HeadObjectCommand({ Bucket: 'cli-vault', Key: result.data[0]!.key }));
      expect(stored.ContentLength).toBeGreaterThan(0);
      expect(result.data[0]!.name).toBe('evil.exe');
    } finally {
      s3.destroy();
    }
  });

  it('caps get file at GET_FILE_MAX_BYTES, as the evidence function does', () => {
    // Prepare: an S3 that answers nothing; the cap refuses the archive before the vault sends a request
    const capped = getFileEnv('http://127.0.0.1:9', {
      VAULT_BUCKET: 'cli-vault-capped',
      GET_FILE_MAX_BYTES: '100',
    });

    // Act
    const run = spawnSync(process.execPath, [...GET_FILE, '--json'], { env: capped, encoding: 'utf8' });

    // Assess
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'failed',
      message: 'File is larger than the maximum of 100 bytes allowed by GET_FILE_MAX_BYTES',
      error: { kind: 'too_large', retryable: false },
    });
  });

  it.for([
    ['Ctrl-C', 130, 'SIGINT'],
    ['its terminal closing', 129, 'SIGHUP'],
  ] as const)(
    'removes the spool file of a get file stopped by %s mid-download, and exits %s',
    { timeout: 120_000 },
    async ([, status, signal]) => {
      // Prepare: a TMPDIR of the CLI's own, moto as the vault, and a large download that stalls after 1 MiB
      // (the extracted file is then being spooled)
      const childTmp = mkdtempSync(join(tmpdir(), 'cli-interrupted-get-file-'));
      let child: ChildProcess | undefined;
      try {
        const s3 = motoS3(moto.endpoint);
        await s3.send(new CreateBucketCommand({ Bucket: 'cli-vault-interrupted' }));
        s3.destroy();
        await setSwitches({ downloadLargeFileBytes: 8 * 1024 * 1024, downloadStallMidBody: true });
        const running = spawn(process.execPath, GET_FILE, {
          env: getFileEnv(moto.endpoint, { TMPDIR: childTmp, VAULT_BUCKET: 'cli-vault-interrupted' }),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = running;
        let stderr = '';
        running.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        const exited = new Promise<number | null>((resolve) => running.once('close', resolve));
        const spooled = () =>
          readdirSync(childTmp).filter((name) => name.startsWith(`tanium-vault-p${running.pid}-`));
        const deadline = Date.now() + 60_000;
        while (spooled().length === 0 && running.exitCode === null && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(spooled()).toHaveLength(1);

        // Act
        running.kill(signal);
        const code = await exited;

        // Assess
        expect(code).toBe(status);
        expect(stderr).toContain('Interrupted.');
        expect(spooled()).toEqual([]);
      } finally {
        if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await setSwitches({ downloadLargeFileBytes: 0, downloadStallMidBody: false });
        rmSync(childTmp, { recursive: true, force: true });
      }
    },
  );

  it.each([
    [
      'TLS verification is off',
      { TANIUM_VERIFY_SERVER_CERT: 'false' },
      ['test connectivity'],
      'warn TLS certificate verification is disabled for Tanium (verify_server_cert is false)',
    ],
    [
      'a parameter is one the action does not take',
      {},
      ['list connections', '--param', 'limitt=1'],
      "warning: 'list connections' does not take limitt; ignored. Its parameters: none",
    ],
    [
      'a parameter looks like a typo of one the action takes',
      {},
      ['list snapshots', '--param', 'limt=1'],
      "warning: 'list snapshots' does not take limt (did you mean limit?); ignored. Its parameters: limit, offset",
    ],
  ])('warns on stderr when %s, leaving stdout to the result', async (_case, extraEnv, args, warning) => {
    // Act
    const run = await cliWith(extraEnv, 'run', ...args, '--json');

    // Assess
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'success' });
    expect(run.stderr).toContain(warning);
  });

  it("prints a throttled request's result without the Retry-After kept for the functions' redelivery", async () => {
    // Prepare: Tanium asks for an hour, more than the run may wait
    await postEmulatorControl(
      env.TANIUM_BASE_URL as string,
      '/__emulator/faults',
      {
        method: 'GET',
        path: `${TR}/conns`,
        times: 1,
        kind: 'status',
        status: 429,
        retryAfter: 3600,
      },
      readFileSync(env.TANIUM_CA_BUNDLE as string),
    );

    // Act
    const run = await cli('run', 'list connections', '--json');

    // Assess: the result as an event would carry it
    expect(run.status).toBe(1);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'failed', error: { kind: 'transient', retryable: true } });
    expect(Object.keys(result).sort()).toEqual([
      'data',
      'error',
      'message',
      'parameter',
      'status',
      'summary',
    ]);
  });

  it('warns that the TANIUM_* variables are ignored when TANIUM_CREDENTIALS_FILE is set too', async () => {
    // Prepare: the file holds the same emulator credentials, so only the warning tells the sources apart
    const dir = mkdtempSync(join(tmpdir(), 'cli-credentials-'));
    try {
      const file = join(dir, 'tanium.json');
      writeFileSync(
        file,
        JSON.stringify({
          base_url: env.TANIUM_BASE_URL,
          api_token: env.TANIUM_API_TOKEN,
          ca_bundle: readFileSync(env.TANIUM_CA_BUNDLE as string, 'utf8'),
        }),
      );

      // Act
      const run = await cliWith({ TANIUM_CREDENTIALS_FILE: file }, 'run', 'list connections', '--json');

      // Assess
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ status: 'success' });
      expect(run.stderr).toContain(
        'warning: Tanium credentials from TANIUM_CREDENTIALS_FILE; ignored: TANIUM_BASE_URL, TANIUM_API_TOKEN, TANIUM_CA_BUNDLE',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 for a failed result', async () => {
    const run = await cli('run', 'get endpoint', '--param', 'destination=nobody', '--json');
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'failed',
      message: 'Get endpoint info failed or endpoint does not exist',
      error: { kind: 'not_found', retryable: false },
    });
  });

  it('answers invalid parameters with what to fix, before reading credentials, as a function does', async () => {
    const run = await cliInProcess({ PATH: process.env.PATH ?? '' }, ['run', 'close connection']);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("FAILED: Please provide a value for the 'connection_id' parameter");
  });

  it('runs an action that does not use the vault whatever the vault settings say', async () => {
    // Act: settings exported for get file, one of them bad
    const run = await cliWith(
      { VAULT_BUCKET: 'evidence', GET_FILE_MAX_BYTES: 'abc' },
      'run',
      'list connections',
    );

    // Assess
    expect(run.stdout).not.toContain('GET_FILE_MAX_BYTES');
    expect(run.status).toBe(0);
  });

  it('fails get file on a bad vault setting, naming it', async () => {
    // Act
    const run = await cliWith(
      { VAULT_BUCKET: 'evidence', GET_FILE_MAX_BYTES: 'abc' },
      'run',
      'get file',
      '--param',
      'file_id=79478f3e-061b-4b59-a99a-349415df99a0',
    );

    // Assess
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('GET_FILE_MAX_BYTES');
  });

  it('exits 1 with a clear message when no credentials are configured', async () => {
    const run = await cliInProcess({ PATH: process.env.PATH ?? '' }, ['run', 'list connections']);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('FAILED: No Tanium credentials configured');
  });

  it.each([
    [['run', 'no such action'], "Unknown action 'no such action'. Run 'tanium-tr actions' to list them."],
    [['run', 'list conections'], "Unknown action 'list conections'. Did you mean 'list connections'?"],
    [['run'], 'Name the action to run'],
    [['run', 'list connections', '--param', 'novalue'], '--param needs name=value'],
    [['frobnicate'], "Unknown command 'frobnicate'"],
    [
      ['run', 'list connections', '--timeout', '3000000'],
      '--timeout needs a whole number of seconds from 2 to 86400',
    ],
    [
      ['run', 'list connections', '--timeout', '1'],
      '--timeout needs a whole number of seconds from 2 to 86400',
    ],
    [['run', 'list connections', '--timeout=1'], '--timeout needs a whole number of seconds from 2 to 86400'],
    [['actions', '--jsn'], 'Unknown option --jsn'],
    [['docs', '--check'], 'Unknown option --check'],
    [['emulator', '--bogus'], 'Unknown option: --bogus'],
    [['emulator', '--port', '99999'], 'Invalid --port value: 99999'],
    [[], 'Usage:'],
  ])('exits 2 for the usage error %j', async (args, message) => {
    const run = await cli(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it.each([['actions'], ['docs']])('prints the usage and exits 0 for %s --help', async (command) => {
    const run = await cli(command, '--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage:');
  });

  it.each([[['--help']], [['-h']], [['list connections', '--json', '--help']]])(
    'prints the usage of run and exits 0 for run %j, running nothing',
    async (args) => {
      // Act
      const run = await cli('run', ...args);

      // Assess
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/^Usage:\n {2}tanium-tr run "<action>"/);
      expect(run.stdout).not.toContain('tanium-tr actions');
      expect(run.stdout).not.toContain('SUCCESS');
      expect(run.stderr).toBe('');
    },
  );

  it('takes --timeout=<seconds> as it takes --timeout <seconds>', async () => {
    // Act
    const run = await cli('run', 'list connections', '--timeout=30', '--json');

    // Assess
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'success' });
  });

  it('exits 1 with a plain message when the emulator port is taken', async () => {
    // Act: the port of the emulator this suite started
    const port = new URL(env.TANIUM_BASE_URL!).port;
    const run = await cli('emulator', '--port', port);

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe(
      `The emulator could not start: port ${port} is already in use; pick another with --port, or leave it out`,
    );
  });

  it('lists every action with its parameters as JSON', async () => {
    const run = await cli('actions', '--json');
    expect(run.status).toBe(0);
    const listed = JSON.parse(run.stdout) as Array<{
      name: string;
      id: string;
      family: string;
      readOnly: boolean;
    }>;
    expect(listed.map((a) => a.id)).toEqual(ACTIONS.map((a) => a.id));
    expect(listed.find((a) => a.id === 'get_events')).toMatchObject({
      name: 'get events',
      family: 'investigation',
      readOnly: true,
      parameters: expect.arrayContaining([
        expect.objectContaining({ name: 'event_type', type: 'enum', required: true }),
        expect.objectContaining({ name: 'limit', type: 'integer', default: 1000 }),
      ]),
    });
  });
});

describe('Command line: the tanium-tr entry script', () => {
  it('runs as a command through its shebang, exiting 2 with the usage for a usage error', () => {
    // Act: the script itself, as npm links it as `tanium-tr`, with this node first on the PATH
    const run = spawnSync(BIN, ['frobnicate'], {
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      encoding: 'utf8',
    });

    // Assess
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("Unknown command 'frobnicate'");
    expect(run.stderr).toContain('Usage:');
    expect(run.stdout).toBe('');
  });
});

describe('Command line: a credentials secret that does not answer', () => {
  it('ends the run at --timeout, the secret read included, and exits without waiting for the SDK', async () => {
    // Prepare: Secrets Manager accepts the connection and never answers (a proxy that hangs)
    const silent = await startSilentEndpoint();
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [BIN, 'run', 'list connections', '--timeout', '2'], {
        env: {
          ...withoutAwsOverrides(process.env),
          TANIUM_SECRET_ID: 'tanium/creds',
          AWS_ENDPOINT_URL: silent.url,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
          AWS_MAX_ATTEMPTS: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });

      // Act: the SDK alone would give up after its 30 s socket timeout, past this test's own limit
      const running = child;
      const status = await new Promise<number | null>((resolve) => running.on('exit', resolve));

      // Assess
      expect(status).toBe(1);
      expect(stdout).toContain("The Tanium credentials could not be read before the invocation's deadline");
    } finally {
      if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      silent.close();
    }
  }, 20_000);
});

describe('Command line: tanium-tr emulator stopped while it starts', () => {
  it('removes the temporary directory with the CA private key when Ctrl-C comes during the certificate', () => {
    // Prepare: a TMPDIR of the emulator's own, so what it leaves there is exactly what it created, and an
    // openssl in front of the real one that sends the CLI SIGINT as the first certificate is being made
    const root = mkdtempSync(join(tmpdir(), 'emulator-cli-signal-'));
    try {
      const childTmp = join(root, 'tmp');
      const bin = join(root, 'bin');
      mkdirSync(childTmp);
      mkdirSync(bin);
      const openssl = spawnSync('sh', ['-c', 'command -v openssl'], { encoding: 'utf8' }).stdout.trim();
      expect(openssl).not.toBe('');
      const marker = join(root, 'signalled');
      writeFileSync(
        join(bin, 'openssl'),
        [
          '#!/bin/sh',
          `if [ ! -e '${marker}' ]; then : > '${marker}'; kill -INT "$PPID"; fi`,
          `exec '${openssl}' "$@"`,
          '',
        ].join('\n'),
      );
      chmodSync(join(bin, 'openssl'), 0o755);

      // Act
      const run = spawnSync(process.execPath, [BIN, 'emulator'], {
        env: { ...process.env, TMPDIR: childTmp, PATH: `${bin}:${process.env.PATH ?? ''}` },
        encoding: 'utf8',
        timeout: 60_000,
      });

      // Assess: the signal came while the key was being written, and nothing of it is left
      expect(readdirSync(root)).toContain('signalled');
      // tsx keeps its cache there too.
      expect(readdirSync(childTmp).filter((name) => name.startsWith('tanium-emulator-'))).toEqual([]);
      expect(run.signal).toBeNull();
      expect(run.status).toBe(130);
      expect(run.stdout).not.toContain('listening');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});

/** Every process under `pid`, children first found first (npm runs a script through `sh -c`). */
function descendants(pid: number): number[] {
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map(Number);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** SIGKILL to a whole process group: what a test leaves behind, npm or not. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    // The whole group is gone already.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

describe('Command line: npm scripts stopped with SIGTERM', () => {
  it('ends the node process of npm run emulator when npm alone gets SIGTERM', async () => {
    // Prepare: npm in a process group of its own, so whatever the test leaves is killed in one go
    const ROOT = fileURLToPath(new URL('../../', import.meta.url));
    const port = await freePort();
    const npm = spawn('npm', ['run', 'emulator', '--', '--port', String(port)], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const npmPid = npm.pid as number;
    try {
      let output = '';
      await new Promise<void>((resolve, reject) => {
        npm.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Press Ctrl+C')) resolve();
        });
        npm.once('exit', (code) => reject(new Error(`npm exited with ${code}: ${output}`)));
      });
      // The node process itself, not the `sh -c` that names the same script in its arguments.
      const node = descendants(npmPid).find((pid) => {
        const [program, script] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return program !== undefined && /(^|\/)node$/.test(program) && script === 'cli/tanium-tr.mjs';
      });
      expect(node).toBeDefined();

      // Act
      process.kill(npmPid, 'SIGTERM');

      // Assess: a generous deadline for the emulator to stop, not a measure of how fast it does
      const deadline = Date.now() + 30_000;
      while (isProcessRunning(node as number) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(isProcessRunning(node as number)).toBe(false);
    } finally {
      killGroup(npmPid);
    }
  }, 60_000);

  it.each(['start', 'emulator', 'docs'])(
    'runs npm %s through exec, so the signals npm forwards reach node rather than sh',
    (script) => {
      // Prepare
      const ROOT = fileURLToPath(new URL('../../', import.meta.url));
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      };

      // Assess
      expect(pkg.scripts[script]).toMatch(/^exec node cli\/tanium-tr\.mjs /);
    },
  );
});
