import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { MotoInterrupted, type MotoServer, startMoto } from '../helpers/moto.ts';

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

  afterEach(async () => {
    await moto?.stop();
    moto = undefined;
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
});
