import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EmulatorCredentials, EmulatorOptions } from '../../test/emulator/index.ts';

export interface EmulatorProcess {
  url: string;
  ca: string | undefined;
  credentials: EmulatorCredentials;
  pid: number;
  /** Requests and connections the emulator has seen so far. */
  counts(): Promise<{ count: number; connections: number }>;
  stop(): Promise<void>;
}

/** Starts the Tanium emulator in a child process and waits for its URL and credentials. */
export async function startEmulatorProcess(options: EmulatorOptions = {}): Promise<EmulatorProcess> {
  const child = fork(
    fileURLToPath(new URL('./emulator-child.ts', import.meta.url)),
    [JSON.stringify(options)],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const info = await new Promise<{ url: string; ca?: string; credentials: EmulatorCredentials }>(
    (resolve, reject) => {
      child.once('message', (message) =>
        resolve(message as { url: string; ca?: string; credentials: EmulatorCredentials }),
      );
      child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
    },
  );
  return {
    url: info.url,
    ca: info.ca,
    credentials: info.credentials,
    pid: child.pid ?? 0,
    counts: () =>
      new Promise((resolve) => {
        child.once('message', (message) => resolve(message as { count: number; connections: number }));
        child.send({ type: 'count' });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
