import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { MotoInterrupted, type MotoServer, startMoto } from '../helpers/moto.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HELPER = fileURLToPath(new URL('../helpers/moto.ts', import.meta.url));

/**
 * Whether `pid` is a process still running. A process that has exited but is not yet reaped by whoever
 * inherited it (a zombie: state Z in /proc on Linux) still answers signal 0, yet serves nothing.
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    // The state follows the command name, which is in parentheses and may itself contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/**
 * What a platform engineer's shell may set: a named profile, a service's own endpoint, and settings
 * that make the SDK refuse or skip a custom endpoint.
 */
const SHELL = {
  AWS_PROFILE: 'does-not-exist',
  AWS_DEFAULT_PROFILE: 'does-not-exist',
  AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9',
  AWS_USE_FIPS_ENDPOINT: 'true',
  AWS_USE_DUALSTACK_ENDPOINT: 'true',
  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true',
};

describe('moto helper', () => {
  let moto: MotoServer | undefined;
  const before = { ...process.env };

  /** A server the killed-parent test saw started: one that outlived the test must not outlive the run. */
  let orphan = 0;

  afterEach(async () => {
    await moto?.stop();
    moto = undefined;
    if (orphan && running(orphan)) process.kill(orphan, 'SIGKILL');
    orphan = 0;
    for (const key of Object.keys(SHELL)) delete process.env[key];
    Object.assign(process.env, before);
  });

  it('serves SDK clients built from the environment when the shell names a profile and an endpoint', async () => {
    // Prepare
    Object.assign(process.env, SHELL);
    moto = await startMoto();

    // Act
    const restore = moto.applyEnv();
    const sqs = new SQSClient({});
    const response = await sqs.send(new ListQueuesCommand({}));
    sqs.destroy();
    restore();

    // Assess
    expect(response.$metadata.httpStatusCode).toBe(200);
    for (const [key, value] of Object.entries(SHELL)) expect(process.env[key]).toBe(value);
    expect(process.env.AWS_ENDPOINT_URL).toBe(before.AWS_ENDPOINT_URL);
  });

  it.for(['jsonpath_ng', 'flask_cors'])(
    'names the install when moto lacks its server extras (%s missing), before starting anything',
    async (module) => {
      // Prepare: a module of moto's server extras that fails to import, as when it is not installed
      const stubs = mkdtempSync(join(tmpdir(), 'moto-extras-'));
      mkdirSync(join(stubs, module));
      writeFileSync(
        join(stubs, module, '__init__.py'),
        `raise ModuleNotFoundError("No module named '${module}'", name='${module}')\n`,
      );
      const pythonPath = process.env.PYTHONPATH;
      process.env.PYTHONPATH = stubs;
      let spawned = 0;
      try {
        // Act
        const started = startMoto({ onSpawn: (pid) => (spawned = pid) });

        // Assess
        await expect(started).rejects.toThrow(
          `moto's server is not available to python3. Install it with: pip install 'moto[server]' (python3 cannot import ${module}`,
        );
        expect(spawned).toBe(0);
      } finally {
        if (pythonPath === undefined) delete process.env.PYTHONPATH;
        else process.env.PYTHONPATH = pythonPath;
        rmSync(stubs, { recursive: true, force: true });
      }
    },
  );

  it('gives up waiting at once when Ctrl-C ends the server before it is ready', async () => {
    // Prepare: the terminal's SIGINT reaches python3 too, which then has no exit code, only a signal
    let spawned = 0;

    // Act
    const start = startMoto({
      onSpawn: (pid) => {
        spawned = pid;
        process.kill(pid, 'SIGINT');
      },
    });

    // Assess: stopped by the interruption itself, not by the server's exit read as a crash or by the
    // 30 s start timeout (each of which says something else), and with no server left behind
    await expect(start).rejects.toThrow(MotoInterrupted);
    await expect(start).rejects.toThrow("moto's start was interrupted (SIGINT)");
    expect(spawned).toBeGreaterThan(0);
    expect(() => process.kill(spawned, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('stops at once a server a signal has already ended', async () => {
    // Prepare
    const server = await startMoto();
    const gone = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        try {
          process.kill(server.pid, 0);
        } catch {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    process.kill(server.pid, 'SIGKILL');
    await gone;

    // Act
    const stopped = await Promise.race([
      server.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000)),
    ]);

    // Assess
    expect(stopped).toBe('stopped');
  });

  it("reports a server that dies with no cause, rather than Werkzeug's banner or request log", async () => {
    // Prepare: a server that has printed its start-up banner and logged the readiness probe
    moto = await startMoto();
    const { pid, unexpectedExit } = moto;

    // Act
    process.kill(pid, 'SIGKILL');
    const error = await unexpectedExit;

    // Assess
    expect(error.message).toBe('moto (local AWS) exited unexpectedly (SIGKILL)');
  });

  it('ends the server when the process that started it is killed and cannot stop it', async () => {
    // Prepare: a node process that starts moto through the helper and reports its pid
    const parent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        'const { startMoto } = await import(process.argv[1]); console.log((await startMoto()).pid);',
        HELPER,
      ],
      // tsx is found from the repository, as the CLI finds it.
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let motoPid = 0;
    try {
      motoPid = await new Promise<number>((resolve, reject) => {
        let stdout = '';
        parent.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('utf8');
          const pid = Number(stdout.match(/^(\d+)\n/)?.[1]);
          if (!pid) return;
          orphan = pid;
          resolve(pid);
        });
        parent.once('exit', (code) => reject(new Error(`the parent exited with ${code} before moto was up`)));
      });
      expect(running(motoPid)).toBe(true);

      // Act: SIGKILL runs no handler, so nothing in the parent gets to stop moto
      const parentGone = new Promise((resolve) => parent.once('exit', resolve));
      parent.kill('SIGKILL');
      await parentGone;

      // Assess: the server goes by itself (a failure here is the test's timeout)
      while (running(motoPid)) await delay(50);
      expect(running(motoPid)).toBe(false);
    } finally {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
    }
  }, 30_000);
});
