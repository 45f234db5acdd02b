import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LocalEnvironmentOptions } from '../../../cli/local/environment.ts';
import { INVESTIGATION } from '../../../cli/local/investigation.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';
import { MotoInterrupted } from '../../../test/helpers/moto.ts';

vi.mock('../../../cli/local/environment.ts', () => ({ startLocalEnvironment: vi.fn() }));
vi.mock('../../../cli/local/console.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../cli/local/console.ts')>()),
  onOutputGone: vi.fn(),
}));
// The grace for a signal after a child's failure, without its tenth of a second.
vi.mock('node:timers/promises', () => ({
  setTimeout: vi.fn(() => new Promise((resolve) => setImmediate(resolve))),
}));

const { startLocalEnvironment } = await import('../../../cli/local/environment.ts');
const { onOutputGone } = await import('../../../cli/local/console.ts');
const { setTimeout: delay } = await import('node:timers/promises');
const { runLocalPipeline } = await import('../../../cli/local-pipeline.ts');

function lines() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) } };
}

function result(requestId: string, overrides: Partial<ResultDetail> = {}): ResultDetail {
  return {
    requestId,
    action: 'an action',
    status: 'success',
    message: 'done',
    parameter: {},
    data: [],
    context: {},
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 12,
    ...overrides,
  };
}

interface Sent {
  family: string;
  request: { action: string; parameters: Record<string, unknown>; requestId: string };
}

/** What the fake environment saw and what the test can make it do. */
let sent: Sent[];
let calls: string[];
let options: LocalEnvironmentOptions | undefined;
let answer: (request: Sent['request']) => Promise<ResultDetail>;
let onSend: (request: Sent['request']) => void;
let onStop: () => void;
let motoExit: (error: Error) => void;
let outputGone: ((error: Error) => void) | undefined;
let stopWatchingOutput: ReturnType<typeof vi.fn<() => void>>;

/** The SIGINT and SIGTERM listeners the run added: a test calls them as the signal would. */
type SignalListener = (signal: NodeJS.Signals) => void;
const before = { SIGINT: [] as SignalListener[], SIGTERM: [] as SignalListener[] };
function added(signal: 'SIGINT' | 'SIGTERM'): SignalListener[] {
  return (process.listeners(signal) as SignalListener[]).filter(
    (listener) => !before[signal].includes(listener),
  );
}
function signal(name: 'SIGINT' | 'SIGTERM'): void {
  for (const listener of added('SIGINT')) listener(name);
}

function fakeEnvironment() {
  let exited: (error: Error) => void = () => undefined;
  const unexpectedExit = new Promise<Error>((resolve) => {
    exited = resolve;
  });
  motoExit = exited;
  return {
    emulator: { url: 'https://127.0.0.1:8443' },
    moto: { endpoint: 'http://127.0.0.1:5000', unexpectedExit },
    resources: {
      names: { bus: 'bus-1', bucket: 'bucket-1', table: 'table-1' },
      results: { url: 'http://127.0.0.1:5000/123456789012/results' },
    },
    startPollers: () => calls.push('start pollers'),
    send: async (family: string, request: Sent['request']) => {
      calls.push(`send ${request.action}`);
      sent.push({ family, request });
      onSend(request);
    },
    results: {
      waitFor: (requestId: string, timeoutMs: number) => {
        calls.push(`wait ${timeoutMs}`);
        const request = sent.find((entry) => entry.request.requestId === requestId)?.request;
        return request ? answer(request) : Promise.reject(new Error('unknown request'));
      },
    },
    stop: async () => {
      calls.push('stop');
      onStop();
    },
  };
}

beforeEach(() => {
  vi.clearAllMocks();
  before.SIGINT = process.listeners('SIGINT') as SignalListener[];
  before.SIGTERM = process.listeners('SIGTERM') as SignalListener[];
  sent = [];
  calls = [];
  options = undefined;
  onSend = () => undefined;
  onStop = () => undefined;
  answer = async (request) =>
    result(
      request.requestId,
      request.action === 'create connection' ? { summary: { connection_id: 'conn-1' } } : {},
    );
  stopWatchingOutput = vi.fn<() => void>();
  vi.mocked(onOutputGone).mockImplementation((onGone) => {
    outputGone = onGone;
    return stopWatchingOutput;
  });
  vi.mocked(startLocalEnvironment).mockImplementation(async (given) => {
    options = given;
    calls.push('start');
    return fakeEnvironment() as never;
  });
});

afterEach(() => {
  // A run that a signal ended keeps its listeners on purpose: the test process must not.
  for (const name of ['SIGINT', 'SIGTERM'] as const)
    for (const listener of added(name)) process.off(name, listener);
});

describe('runLocalPipeline', () => {
  it.each([['--help'], ['-h']])('prints its usage for %s and starts nothing', async (flag) => {
    const { out, err, io } = lines();

    await expect(runLocalPipeline([flag], io)).resolves.toBe(0);

    expect(out).toEqual([
      'Usage: tanium-tr local\n  Runs the typical investigation through the whole pipeline on this machine.',
    ]);
    expect(err).toEqual([]);
    expect(startLocalEnvironment).not.toHaveBeenCalled();
  });

  it('refuses an unknown option with status 2', async () => {
    const { out, err, io } = lines();

    await expect(runLocalPipeline(['--fast', '--more'], io)).resolves.toBe(2);

    expect(err).toEqual(['Unknown option: --fast']);
    expect(out).toEqual([]);
    expect(startLocalEnvironment).not.toHaveBeenCalled();
  });

  it('runs every step in turn, prints each result, stops everything and exits 0', async () => {
    const { out, err, io } = lines();

    await expect(runLocalPipeline([], io)).resolves.toBe(0);

    expect(err).toEqual([]);
    expect(out.slice(0, 4)).toEqual([
      'Starting the Tanium emulator and moto (local AWS)...',
      'Tanium emulator: https://127.0.0.1:8443',
      'moto: http://127.0.0.1:5000 (bus bus-1, bucket bucket-1, table table-1)',
      'Results arrive on http://127.0.0.1:5000/123456789012/results through a rule on the bus.',
    ]);
    expect(out.slice(4, 8)).toEqual([
      '\n[1/7] create connection -> connections queue',
      '      parameters: {"destination":"test-client-1","destination_type":"hostname","wait_seconds":30}',
      '      success: done (12 ms)',
      '      summary: {"connection_id":"conn-1"}',
    ]);
    expect(out.slice(-2)).toEqual(['\nAll 7 steps succeeded.', 'Stopping the emulator and moto...']);
    expect(calls.slice(0, 4)).toEqual(['start', 'start pollers', 'send create connection', 'wait 90000']);
    expect(calls.at(-1)).toBe('stop');
    expect(sent.map((entry) => [entry.family, entry.request.action])).toEqual(
      INVESTIGATION.map((step) => [step.family, step.action]),
    );
    // Later steps use the connection the first one made.
    expect(sent[2]?.request.parameters).toEqual({
      connection_id: 'conn-1',
      process_table_id: '72057594038528503',
    });
    const ids = sent.map((entry) => entry.request.requestId);
    for (const [index, id] of ids.entries())
      expect(id).toMatch(new RegExp(`^local-${index + 1}-[0-9a-f-]{36}$`));
    expect(new Set(ids).size).toBe(ids.length);
    expect(added('SIGINT')).toEqual([]);
    expect(added('SIGTERM')).toEqual([]);
    expect(stopWatchingOutput).toHaveBeenCalledOnce();
  });

  it('counts the steps that failed and exits 1', async () => {
    const { out, io } = lines();
    answer = async (request) =>
      result(request.requestId, {
        status: request.action.startsWith('get ') ? 'failed' : 'success',
        summary: request.action === 'create connection' ? { connection_id: 'conn-1' } : {},
      });

    await expect(runLocalPipeline([], io)).resolves.toBe(1);

    expect(sent).toHaveLength(INVESTIGATION.length);
    expect(out).toContain('      failed: done (12 ms)');
    expect(out.slice(-2)).toEqual(['\n2 of 7 steps failed.', 'Stopping the emulator and moto...']);
  });

  it('goes no further when the connection was not created', async () => {
    const { err, io } = lines();
    answer = async (request) =>
      result(request.requestId, { status: 'failed', summary: { connection_id: 7 } });

    await expect(runLocalPipeline([], io)).resolves.toBe(1);

    expect(err).toEqual(['The connection was not created; the investigation cannot go on.']);
    expect(sent).toHaveLength(1);
    expect(calls.at(-1)).toBe('stop');
  });

  it('goes no further when the failed connection step has no summary at all', async () => {
    const { err, io } = lines();
    answer = async (request) => {
      const { summary: _none, ...failed } = result(request.requestId, { status: 'failed' });
      return failed;
    };

    await expect(runLocalPipeline([], io)).resolves.toBe(1);

    expect(err).toEqual(['The connection was not created; the investigation cannot go on.']);
    expect(sent).toHaveLength(1);
  });

  it('hands the environment a logger and poll-error reporter that write to stderr', async () => {
    const { err, io } = lines();
    onSend = () => {
      options?.onPollError?.('evidence', new Error('moto is slow'));
      options?.logger?.error('handler broke', { message: 'why' });
    };

    await runLocalPipeline([], io);

    expect(err.slice(0, 2)).toEqual(['  evidence poll failed: moto is slow', '  error handler broke: why']);
    expect(options?.signal?.aborted).toBe(false);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('stops on %s while waiting for a result and exits %i', async (name, status) => {
    const { out, err, io } = lines();
    answer = () => {
      for (const listener of added(name)) listener(name);
      // A second signal while stopping must not change the status.
      onStop = () => signal(name === 'SIGINT' ? 'SIGTERM' : 'SIGINT');
      return new Promise(() => undefined);
    };

    await expect(runLocalPipeline([], io)).resolves.toBe(status);

    expect(err).toEqual(['Interrupted.']);
    expect(out.at(-1)).toBe('Stopping the emulator and moto...');
    expect(calls.at(-1)).toBe('stop');
    expect(sent).toHaveLength(1);
    expect(options?.signal?.aborted).toBe(true);
    // Until it exits, one more signal from an impatient supervisor must not end it by Node's default.
    expect(added('SIGINT')).toHaveLength(1);
    expect(added('SIGTERM')).toHaveLength(1);
  });

  it('sends no further step once interrupted, even when the result already arrived', async () => {
    const { err, io } = lines();
    answer = async (request) => {
      signal('SIGINT');
      return result(request.requestId, { summary: { connection_id: 'conn-1' } });
    };

    await expect(runLocalPipeline([], io)).resolves.toBe(130);

    expect(sent).toHaveLength(1);
    expect(err).toEqual(['Interrupted.']);
  });

  it('says nothing more of the handlers once interrupted', async () => {
    const { err, io } = lines();
    answer = () => {
      signal('SIGINT');
      options?.onPollError?.('results', new Error('aborted'));
      options?.logger?.warn('could not publish');
      return new Promise(() => undefined);
    };

    await runLocalPipeline([], io);

    expect(err).toEqual(['Interrupted.']);
  });

  it('exits 130 with nothing to stop when interrupted while starting', async () => {
    const { out, err, io } = lines();
    vi.mocked(startLocalEnvironment).mockImplementation(async (given) => {
      signal('SIGINT');
      given?.signal?.throwIfAborted();
      throw new Error('unreachable');
    });

    await expect(runLocalPipeline([], io)).resolves.toBe(130);

    expect(err).toEqual(['Interrupted.']);
    expect(out).toEqual(['Starting the Tanium emulator and moto (local AWS)...']);
    expect(delay).not.toHaveBeenCalled();
  });

  it("takes moto's start cut short by Ctrl-C as an interruption, after a moment for the signal", async () => {
    const { err, io } = lines();
    vi.mocked(startLocalEnvironment).mockRejectedValue(new MotoInterrupted('SIGINT'));

    await expect(runLocalPipeline([], io)).resolves.toBe(130);

    expect(err).toEqual(['Interrupted.']);
    expect(delay).toHaveBeenCalledWith(100);
  });

  it('gives the signal that follows a child failure its moment, then exits by it', async () => {
    const { err, io } = lines();
    vi.mocked(startLocalEnvironment).mockRejectedValue(new Error('openssl exited with SIGINT'));
    vi.mocked(delay).mockImplementationOnce((async () => signal('SIGTERM')) as never);

    await expect(runLocalPipeline([], io)).resolves.toBe(143);

    expect(err).toEqual(['Interrupted.']);
  });

  it('reports a start-up failure and exits 1', async () => {
    const { out, err, io } = lines();
    vi.mocked(startLocalEnvironment).mockRejectedValue(new Error('no python3'));

    // No arguments at all is a run, as `npm start` makes it.
    await expect(runLocalPipeline(undefined, io)).resolves.toBe(1);

    expect(err).toEqual(['The local pipeline failed: no python3']);
    expect(out).toEqual(['Starting the Tanium emulator and moto (local AWS)...']);
    expect(added('SIGINT')).toEqual([]);
    expect(stopWatchingOutput).toHaveBeenCalledOnce();
  });

  it('says to install openssl when it is missing', async () => {
    const { err, io } = lines();
    vi.mocked(startLocalEnvironment).mockRejectedValue(
      Object.assign(new Error('spawn openssl ENOENT'), { code: 'ENOENT' }),
    );

    await runLocalPipeline([], io);

    expect(err).toEqual([
      "The local pipeline failed: openssl is needed to make the Tanium emulator's TLS certificate; install it and run again",
    ]);
  });

  it('reports a failure that is no Error as it is', async () => {
    const { err, io } = lines();
    vi.mocked(startLocalEnvironment).mockRejectedValue('plain reason');

    await runLocalPipeline([], io);

    expect(err).toEqual(['The local pipeline failed: plain reason']);
  });

  it('fails at once when moto exits, stops the rest, and hushes the handlers', async () => {
    const { err, io } = lines();
    answer = () => {
      motoExit(new Error('moto (local AWS) exited unexpectedly (SIGKILL)'));
      setImmediate(() => options?.logger?.error('could not publish'));
      return new Promise(() => undefined);
    };

    await expect(runLocalPipeline([], io)).resolves.toBe(1);

    expect(err).toEqual(['The local pipeline failed: moto (local AWS) exited unexpectedly (SIGKILL)']);
    expect(calls.at(-1)).toBe('stop');
  });

  it('names the exit of moto when a call to it failed first', async () => {
    const { err, io } = lines();
    onSend = () => {
      motoExit(new Error('moto (local AWS) exited unexpectedly (1)'));
      throw new Error('connect ECONNREFUSED');
    };

    await expect(runLocalPipeline([], io)).resolves.toBe(1);

    expect(err).toEqual(['The local pipeline failed: moto (local AWS) exited unexpectedly (1)']);
  });

  it('stops quietly with status 141 when its output is gone', async () => {
    const { out, err, io } = lines();
    answer = () => {
      outputGone?.(new Error('write EPIPE'));
      return new Promise(() => undefined);
    };

    await expect(runLocalPipeline([], io)).resolves.toBe(141);

    expect(err).toEqual([]);
    expect(out.at(-1)).toBe('Stopping the emulator and moto...');
    expect(calls.at(-1)).toBe('stop');
    expect(options?.signal?.aborted).toBe(true);
  });

  it('exits 141 when stdout broke on the last lines, before its error event', async () => {
    const { err, io } = lines();
    // Restored here: restoreMocks leaves a getter spy on process.stdout in place for the next test.
    const destroyed = vi.spyOn(process.stdout, 'destroyed', 'get').mockReturnValue(true);
    try {
      await expect(runLocalPipeline([], io)).resolves.toBe(141);
    } finally {
      destroyed.mockRestore();
    }

    expect(sent).toHaveLength(INVESTIGATION.length);
    expect(err).toEqual([]);
  });

  it('exits 141 when stderr broke on the last lines', async () => {
    const { io } = lines();
    const destroyed = vi.spyOn(process.stderr, 'destroyed', 'get').mockReturnValue(true);
    try {
      await expect(runLocalPipeline([], io)).resolves.toBe(141);
    } finally {
      destroyed.mockRestore();
    }
  });

  it('keeps its status when a signal only comes while stopping, and hands signals back', async () => {
    const { err, io } = lines();
    onStop = () => signal('SIGINT');

    await expect(runLocalPipeline([], io)).resolves.toBe(0);

    expect(err).toEqual([]);
    expect(added('SIGINT')).toEqual([]);
    expect(added('SIGTERM')).toEqual([]);
  });

  it('still hands signals back and stops watching its output when stopping fails', async () => {
    const { io } = lines();
    onStop = () => {
      throw new Error('moto would not stop');
    };

    await expect(runLocalPipeline([], io)).rejects.toThrow('moto would not stop');

    expect(added('SIGINT')).toEqual([]);
    expect(added('SIGTERM')).toEqual([]);
    expect(stopWatchingOutput).toHaveBeenCalledOnce();
  });
});
