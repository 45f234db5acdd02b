import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { INVESTIGATION } from '../../cli/local/investigation.ts';
import { FAMILIES } from '../../shared/actions/types.ts';
import { isProcessRunning } from '../../shared/vault/spool.ts';
import { postEmulatorControl } from '../helpers/emulator-control.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Kills of the CLIs still running: a test that timed out must not leave its pipeline behind. */
const running = new Set<() => void>();
afterEach(() => {
  for (const kill of running) kill();
  running.clear();
});

/**
 * `npm start` in a process group of its own (`detached`), so that a test timing out kills npm, the CLI
 * under it and moto with one signal; the kill stays registered after npm exits, in case a child outlived it.
 */
function runNpmStart(
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start'], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const kill = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch (error) {
        // The whole group is gone already.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    };
    running.add(kill);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Whether anything still accepts TCP connections on the URL's port (TLS or not). */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Adds a fault through the emulator's control surface. The emulator runs in the pipeline's process with
 * a CA of its own; this one call to loopback control needs no trust in it.
 */
function addFault(emulatorUrl: string, fault: Record<string, unknown>): Promise<void> {
  return postEmulatorControl(emulatorUrl, '/__emulator/faults', fault);
}

/**
 * The CLI itself (not npm), so a signal reaches the pipeline's process; `onStdout` sees all output so far.
 * `detached`: in a process group of its own, which `process.kill(-pid)` signals whole, as a terminal's
 * Ctrl-C does (python3 included).
 */
function runCli(
  onStdout: (stdout: string) => void = () => undefined,
  { detached = false, env = process.env }: { detached?: boolean; env?: NodeJS.ProcessEnv } = {},
) {
  const child = spawn(process.execPath, ['cli/tanium-tr.mjs', 'local'], {
    cwd: ROOT,
    env,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stderr.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString('utf8');
  });
  child.stdout.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString('utf8');
    onStdout(output.stdout);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // A detached CLI leads its own process group: moto goes with it.
    if (detached && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  };
  running.add(kill);
  void exited.then(() => running.delete(kill));
  return { child, output, exited, kill };
}

/** Both servers the pipeline printed are gone. */
async function expectStopped(stdout: string): Promise<void> {
  expect(stdout).toContain('Stopping the emulator and moto...');
  const moto = stdout.match(/^moto: (http:\/\/127\.0\.0\.1:\d+)/m)?.[1];
  const emulator = stdout.match(/^Tanium emulator: (https:\/\/127\.0\.0\.1:\d+)/m)?.[1];
  expect(moto).toBeDefined();
  expect(emulator).toBeDefined();
  expect(await accepts(moto ?? '')).toBe(false);
  expect(await accepts(emulator ?? '')).toBe(false);
}

describe('npm start (the local pipeline)', () => {
  it('runs the typical investigation, prints every step result, stops what it started and exits 0', async () => {
    // Prepare: a platform engineer's shell, with a profile (one this machine does not have) and an endpoint
    const shell = {
      ...process.env,
      AWS_PROFILE: 'does-not-exist',
      AWS_DEFAULT_PROFILE: 'does-not-exist',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9',
      AWS_USE_FIPS_ENDPOINT: 'true',
      AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true',
    };

    // Act
    const { code, stdout, stderr } = await runNpmStart(shell);

    // Assess
    expect(stderr).not.toMatch(/\b(warn|error)\b/);
    expect(code).toBe(0);
    for (const [index, step] of INVESTIGATION.entries()) {
      expect(stdout).toContain(
        `[${index + 1}/${INVESTIGATION.length}] ${step.action} -> ${step.family} queue`,
      );
    }
    expect(stdout.match(/^ {6}success: /gm)).toHaveLength(INVESTIGATION.length);
    expect(stdout).toMatch(
      /summary: \{"connection_id":"remote:test-client-1:\d+:\d+","connection_status":"connected"\}/,
    );
    expect(stdout).toContain(`All ${INVESTIGATION.length} steps succeeded.`);
    await expectStopped(stdout);
  }, 180_000);

  it('stops what it started and exits 130 on Ctrl-C', async () => {
    // Prepare
    let onStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      onStarted = resolve;
    });
    const cli = runCli((stdout) => {
      if (stdout.includes(`[1/${INVESTIGATION.length}]`)) onStarted();
    });

    // Act
    let code: number | null;
    try {
      // A CLI that exits before its first step must fail here, with what it said, not time out.
      const first = await Promise.race([started.then(() => 'started' as const), cli.exited]);
      if (first !== 'started')
        throw new Error(`the pipeline exited (${first}) before its first step: ${cli.output.stderr}`);
      cli.child.kill('SIGINT');
      code = await cli.exited;
    } finally {
      cli.kill();
    }

    // Assess
    expect(code).toBe(130);
    expect(cli.output.stderr).toContain('Interrupted.');
    expect(cli.output.stdout).not.toContain('steps succeeded');
    await expectStopped(cli.output.stdout);
  }, 180_000);

  it.each([500, 1500, 3000])(
    // Where the signal lands depends on the machine: moto's probe, its start, or the first steps.
    'exits 130 within seconds on a terminal Ctrl-C %i ms into the start',
    async (afterMs) => {
      // Prepare: a terminal sends Ctrl-C to the whole process group, python3 (probe, then moto) included
      let signalledAt = 0;
      const cli = runCli(
        (stdout) => {
          if (signalledAt !== 0 || !stdout.includes('Starting the Tanium emulator and moto')) return;
          signalledAt = -1;
          setTimeout(() => {
            signalledAt = Date.now();
            if (cli.child.pid !== undefined) process.kill(-cli.child.pid, 'SIGINT');
          }, afterMs);
        },
        { detached: true },
      );

      // Act
      const code = await cli.exited;

      // Assess
      expect(signalledAt).toBeGreaterThan(0);
      expect(code).toBe(130);
      expect(cli.output.stderr).toContain('Interrupted.');
      expect(cli.output.stderr).not.toContain('pip install');
    },
    60_000,
  );

  it('says openssl is needed when it is missing, rather than a bare spawn error', async () => {
    // Prepare: a PATH with nothing on it (the emulator makes its certificate with openssl first)
    const pathDir = mkdtempSync(join(tmpdir(), 'no-openssl-'));
    const cli = runCli(undefined, { env: { ...process.env, PATH: pathDir } });
    try {
      // Act
      const code = await cli.exited;

      // Assess
      expect(code).toBe(1);
      expect(cli.output.stderr.trim()).toBe(
        "The local pipeline failed: openssl is needed to make the Tanium emulator's TLS certificate; install it and run again",
      );
    } finally {
      cli.kill();
      rmSync(pathDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops moto and exits 143 when sent SIGTERM twice while moto is still starting', async () => {
    // Prepare: a supervisor that signals only the CLI's process, and again while it is stopping; the
    // signals go as soon as moto's process exists
    const cli = runCli();
    let motoPid: number | undefined;
    const watch = setInterval(() => {
      if (motoPid !== undefined || cli.child.pid === undefined) return;
      const found = spawnSync('pgrep', ['-P', String(cli.child.pid), '-f', 'moto_server.py'], {
        encoding: 'utf8',
      });
      const pid = Number(found.stdout.split(/\s+/).find(Boolean));
      if (!pid) return;
      motoPid = pid;
      cli.child.kill('SIGTERM');
      setTimeout(() => cli.child.kill('SIGTERM'), 100);
    }, 25);

    // Act
    let code: number | null;
    try {
      code = await cli.exited;
    } finally {
      clearInterval(watch);
      cli.kill();
    }
    const motoAlive = motoPid !== undefined && isProcessRunning(motoPid);
    if (motoAlive) process.kill(motoPid!, 'SIGKILL');

    // Assess: 143, as a shell reports a command SIGTERM ended
    expect(motoPid).toBeDefined();
    expect(code).toBe(143);
    expect(cli.output.stderr).toContain('Interrupted.');
    expect(motoAlive).toBe(false);
  }, 60_000);

  it('stops moto and exits 143 when sent SIGTERM again while it is stopping', async () => {
    // Prepare: SIGTERM to the CLI alone once a step runs, and again once it says it is stopping
    let motoPid: number | undefined;
    let signals = 0;
    const cli = runCli((stdout) => {
      const pid = cli.child.pid;
      if (pid === undefined) return;
      if (signals === 0 && stdout.includes(`[1/${INVESTIGATION.length}]`)) {
        signals++;
        const found = spawnSync('pgrep', ['-P', String(pid), '-f', 'moto_server.py'], { encoding: 'utf8' });
        motoPid = Number(found.stdout.split(/\s+/).find(Boolean)) || undefined;
        cli.child.kill('SIGTERM');
      } else if (signals === 1 && stdout.includes('Stopping the emulator and moto...')) {
        signals++;
        cli.child.kill('SIGTERM');
      }
    });

    // Act
    const code = await cli.exited;
    const motoAlive = motoPid !== undefined && isProcessRunning(motoPid);
    if (motoAlive) process.kill(motoPid!, 'SIGKILL');

    // Assess
    expect(signals).toBe(2);
    expect(motoPid).toBeDefined();
    expect(code).toBe(143);
    expect(motoAlive).toBe(false);
  }, 60_000);

  it('stops what it started and exits 141 when its output is closed, as `| head` does', async () => {
    // Prepare: the reader goes away once the servers are printed, so the first step's result meets a
    // broken pipe
    let servers: { moto: string; emulator: string } | undefined;
    const cli = runCli((stdout) => {
      const moto = stdout.match(/^moto: (http:\/\/127\.0\.0\.1:\d+)/m)?.[1];
      const emulator = stdout.match(/^Tanium emulator: (https:\/\/127\.0\.0\.1:\d+)/m)?.[1];
      if (servers || !moto || !emulator) return;
      servers = { moto, emulator };
      cli.child.stdout.destroy();
    });

    // Act
    let code: number | null;
    try {
      code = await cli.exited;
    } finally {
      cli.kill();
    }

    // Assess: not the uncaught EPIPE that ended the process with moto still running
    expect(servers).toBeDefined();
    expect(cli.output.stderr).not.toContain('EPIPE');
    expect(cli.output.stderr.trim()).toBe('');
    expect(code).toBe(141);
    expect(await accepts(servers?.moto ?? '')).toBe(false);
    expect(await accepts(servers?.emulator ?? '')).toBe(false);
  }, 60_000);

  it('fails at once, saying so, when moto exits in the middle of the run', async () => {
    // Prepare: moto (the pipeline's python3 child) is killed once the first step is sent
    let killed = false;
    const cli = runCli((stdout) => {
      if (killed || !stdout.includes(`[1/${INVESTIGATION.length}]`)) return;
      killed = true;
      const found = spawnSync('pgrep', ['-P', String(cli.child.pid), 'python3'], { encoding: 'utf8' });
      for (const pid of found.stdout.split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    });

    // Act
    let code: number | null;
    try {
      code = await cli.exited;
    } finally {
      cli.kill();
    }

    // Assess: moto's exit is the cause given (not the step's 90 s running out), and one line per queue
    // at most about the failed polls
    expect(killed).toBe(true);
    expect(code).toBe(1);
    expect(cli.output.stderr).toMatch(/The local pipeline failed: moto \(local AWS\) exited unexpectedly/);
    expect(cli.output.stderr.match(/poll failed/g)?.length ?? 0).toBeLessThanOrEqual(FAMILIES.length + 1);
    expect(cli.output.stderr).not.toContain('MaxListenersExceededWarning');
    // Neither moto's request log or start-up banner as the cause nor the handler's knock-on failures after it.
    expect(cli.output.stderr).not.toMatch(/HTTP\/1\.1|Could not publish|idempotency record/);
    expect(cli.output.stderr).not.toMatch(/development server|Running on|CTRL\+C/);
  }, 120_000);

  it('prints nothing but "Interrupted." on a terminal Ctrl-C during a step', async () => {
    // Prepare: the whole process group gets the signal once the first step is sent, so moto goes away
    // while that step's handler is still running
    let signalled = false;
    const cli = runCli(
      (stdout) => {
        if (signalled || !stdout.includes(`[1/${INVESTIGATION.length}]`) || cli.child.pid === undefined)
          return;
        signalled = true;
        process.kill(-cli.child.pid, 'SIGINT');
      },
      { detached: true },
    );

    // Act
    const code = await cli.exited;

    // Assess
    expect(code).toBe(130);
    expect(cli.output.stderr.trim()).toBe('Interrupted.');
  }, 60_000);

  it('reports the failed step, still runs the rest, stops what it started and exits 1', async () => {
    // Prepare: get process tree answered 404 by Tanium from before its step is sent
    let faultAt = -1;
    let faulted: Promise<void> | undefined;
    const cli = runCli((stdout) => {
      const emulator = stdout.match(/^Tanium emulator: (https:\/\/127\.0\.0\.1:\d+)/m)?.[1];
      if (emulator && !faulted) {
        faulted = addFault(emulator, {
          kind: 'status',
          status: 404,
          shape: 'text',
          message: 'Process table id not found',
          pathRegex: '/processtrees/',
        }).then(() => {
          faultAt = cli.output.stdout.length;
        });
        faulted.catch(() => undefined);
      }
    });

    // Act
    let code: number | null;
    try {
      code = await cli.exited;
    } finally {
      cli.kill();
    }

    // Assess
    await faulted;
    const { stdout, stderr } = cli.output;
    const treeStep = `[3/${INVESTIGATION.length}] get process tree -> investigation queue`;
    expect(faultAt).toBeGreaterThan(-1);
    // The fault must be in place before the step is sent, or this test proves nothing.
    expect(stdout.indexOf(treeStep)).toBeGreaterThan(faultAt - 1);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /get process tree -> investigation queue\n.*\n {6}failed: .*Process table id not found/,
    );
    expect(stdout.match(/^ {6}success: /gm)).toHaveLength(INVESTIGATION.length - 1);
    expect(stdout).toContain(`1 of ${INVESTIGATION.length} steps failed.`);
    expect(stdout).not.toContain('steps succeeded');
    expect(stderr).not.toContain('The local pipeline failed');
    await expectStopped(stdout);
  }, 180_000);
});
