import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** A moto server (real S3, SQS, Secrets Manager, EventBridge, DynamoDB endpoints) on a loopback port. */
export interface MotoServer {
  endpoint: string;
  port: number;
  pid: number;
  /**
   * Sets the SDK's standard environment so every AWS client in this process talks to moto, removing what
   * would override it; returns a function that puts the environment back as it was.
   */
  applyEnv(): () => void;
  /**
   * Settles with the error to report if the server exits before `stop()` (killed, crashed): a run that
   * waits on moto can fail at once instead of at its own timeout. Never settles otherwise.
   */
  unexpectedExit: Promise<Error>;
  stop(): Promise<void>;
}

/** moto's server with DynamoDB's atomic conditional writes restored (see the script's docstring). */
const LAUNCHER = fileURLToPath(new URL('./moto_server.py', import.meta.url));

const INSTALL_HINT = "moto's server is not available to python3. Install it with: pip install 'moto[server]'";

/**
 * Variables that would take the SDK away from moto: with AWS_PROFILE set the default credential chain
 * uses the profile, not the credentials in the environment, and a service's AWS_ENDPOINT_URL_<SERVICE>
 * wins over AWS_ENDPOINT_URL. Engineers' shells often set them.
 */
function overridesMoto(key: string): boolean {
  return key === 'AWS_PROFILE' || key === 'AWS_DEFAULT_PROFILE' || key.startsWith('AWS_ENDPOINT_URL_');
}

/** `env` without the variables that would take an SDK client (or moto's own boto3) away from moto. */
export function withoutAwsOverrides(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !overridesMoto(key)));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** moto's start was cut short by Ctrl-C (or SIGTERM), which the terminal sends to python3 as well. */
export class MotoInterrupted extends Error {
  constructor(signal: string) {
    super(`moto's start was interrupted (${signal})`);
    this.name = 'MotoInterrupted';
  }
}

const INTERRUPTS: readonly string[] = ['SIGINT', 'SIGTERM'];

export function motoAvailable(): boolean {
  return motoProblem() === undefined;
}

/**
 * Why moto's server cannot run here, with what to do; undefined when it can. The launcher imports what
 * the server will (moto without its server extras imports, then fails at start or on a first request).
 */
export function motoProblem(): string | undefined {
  const probe = spawnSync('python3', [LAUNCHER, '--check'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // An interrupted probe says nothing about moto: the install hint would mislead.
  if (probe.signal && INTERRUPTS.includes(probe.signal)) throw new MotoInterrupted(probe.signal);
  if (probe.status === 0) return undefined;
  const said = probe.stderr?.toString('utf8').trim().split('\n').at(-1)?.trim();
  return said && probe.status === MISSING_EXIT_CODE ? `${INSTALL_HINT} (${said})` : INSTALL_HINT;
}

/** moto_server.py --check's exit code when a module the server needs is missing. */
const MISSING_EXIT_CODE = 3;

/** Whether the child has ended: by a signal it has no exit code, only a signal code. */
function ended(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Ends the child with SIGTERM, SIGKILL after 5 s; resolves once it has exited. */
async function terminate(child: ChildProcess): Promise<void> {
  // Ctrl-C reaches moto too: it may be gone already, and 'exit' would never come again.
  if (ended(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => ended(child) || child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Starts moto's server (`python3 -m moto.server`, through LAUNCHER) on a free loopback port. */
export async function startMoto(
  options: {
    /** Sees the server's process as soon as it is spawned (tests interrupt it there). */
    onSpawn?: (pid: number) => void;
    /** Stops waiting for the server and ends it (throws MotoInterrupted). */
    signal?: AbortSignal;
  } = {},
): Promise<MotoServer> {
  const problem = motoProblem();
  if (problem !== undefined) throw new Error(problem);
  const port = await freePort();
  const child: ChildProcess = spawn('python3', [LAUNCHER, '127.0.0.1', String(port)], {
    // stdin is a pipe this process never writes to or closes: the server exits at its end of file, which
    // comes when this process ends by any means, SIGKILL and crashes included, where `stop()` never runs.
    stdio: ['pipe', 'ignore', 'pipe'],
    // moto's boto3 fails every request with a 500 page when AWS_PROFILE names a profile it cannot find.
    env: {
      ...withoutAwsOverrides(process.env),
      MOTO_ALLOW_NONEXISTENT_REGION: 'true',
      MOTO_PORT: String(port),
    },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.signalCode && INTERRUPTS.includes(child.signalCode))
      throw new MotoInterrupted(child.signalCode);
    if (options.signal?.aborted) {
      await terminate(child);
      throw new MotoInterrupted('aborted');
    }
    if (ended(child)) {
      throw new Error(`moto server exited with ${child.exitCode ?? child.signalCode}: ${stderr}`);
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok || response.status < 500) {
        await response.arrayBuffer();
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not start within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const pid = child.pid ?? 0;
  let stopping = false;
  const unexpectedExit = new Promise<Error>((resolve) => {
    child.once('exit', (code, signal) => {
      if (stopping) return;
      // Werkzeug logs every request and its start-up banner on stderr; those lines are no cause.
      const tail = stderr
        .trim()
        .split('\n')
        .filter((line) => line.trim() !== '' && !isWerkzeugChatter(line))
        .slice(-3)
        .join('\n');
      resolve(
        new Error(`moto (local AWS) exited unexpectedly (${code ?? signal})${tail ? `: ${tail}` : ''}`),
      );
    });
  });
  return {
    endpoint,
    port,
    pid,
    unexpectedExit,
    applyEnv() {
      const motoEnv: Record<string, string> = {
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_SESSION_TOKEN: 'testing',
        // Set, not only unset: a config file (even its default profile) can turn these on, and each
        // makes the SDK refuse or skip the custom endpoint. Variables win over the file.
        AWS_USE_FIPS_ENDPOINT: 'false',
        AWS_USE_DUALSTACK_ENDPOINT: 'false',
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false',
      };
      const changed = [...Object.keys(motoEnv), ...Object.keys(process.env).filter(overridesMoto)];
      const saved = new Map(changed.map((key) => [key, process.env[key]]));
      for (const key of changed) delete process.env[key];
      Object.assign(process.env, motoEnv);
      return () => {
        for (const [key, value] of saved) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      };
    },
    async stop() {
      stopping = true;
      await terminate(child);
    },
  };
}

/**
 * Werkzeug's own lines on stderr: the request log and the start-up banner (the development-server
 * warning, `* Running on ...`, `Press CTRL+C to quit`), possibly coloured. What a crash printed is the rest.
 */
function isWerkzeugChatter(line: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI colour codes Werkzeug may add
  const text = line.replace(/\u001b\[[0-9;]*m/g, '').trim();
  return (
    /^\S+ - - \[[^\]]*\] "/.test(text) ||
    text.startsWith('WARNING: This is a development server.') ||
    /^\* (Running on|Serving Flask app|Debug mode|Restarting with|Debugger)/.test(text) ||
    text === 'Press CTRL+C to quit'
  );
}

/** Clears all of moto's state between tests without restarting it. */
export async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
}
