import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FAMILIES, type Family } from '../../../shared/actions/types.ts';
import { NO_METRICS } from '../../../shared/events/metrics.ts';

// Every stand-in writes what happened to `events`: the tests read the order of start and stop from it.
const events: string[] = [];

vi.mock('../../../test/emulator/index.ts', () => ({ startEmulator: vi.fn() }));
vi.mock('../../../test/helpers/moto.ts', () => ({ startMoto: vi.fn() }));
vi.mock('../../../cli/local/aws-resources.ts', () => ({
  localAws: vi.fn(),
  provisionLocalResources: vi.fn(),
}));
vi.mock('../../../cli/local/family-handlers.ts', () => ({ createLocalHandlers: vi.fn() }));
vi.mock('../../../cli/local/result-listener.ts', () => ({ ResultListener: vi.fn() }));
vi.mock('../../../cli/local/sqs-event-source.ts', () => ({ deliverOnce: vi.fn() }));
vi.mock('../../../shared/tanium/agent.ts', () => ({ closeAgents: vi.fn() }));
vi.mock('../../../cli/local/console.ts', () => ({ stderrLogger: vi.fn(), stdio: { name: 'stdio' } }));
// The pollers' back-off after a failure, without its half second: the event loop still turns.
vi.mock('node:timers/promises', () => ({
  setTimeout: vi.fn((ms: number) => {
    events.push(`delay ${ms}`);
    return new Promise((resolve) => setImmediate(resolve));
  }),
}));

const { startEmulator } = await import('../../../test/emulator/index.ts');
const { startMoto } = await import('../../../test/helpers/moto.ts');
const { localAws, provisionLocalResources } = await import('../../../cli/local/aws-resources.ts');
const { createLocalHandlers } = await import('../../../cli/local/family-handlers.ts');
const { ResultListener } = await import('../../../cli/local/result-listener.ts');
const { deliverOnce } = await import('../../../cli/local/sqs-event-source.ts');
const { closeAgents } = await import('../../../shared/tanium/agent.ts');
const { stderrLogger } = await import('../../../cli/local/console.ts');
const { startLocalEnvironment } = await import('../../../cli/local/environment.ts');

const sqs = mockClient(SQSClient);
const client = new SQSClient({ region: 'us-east-1' });

const RESOURCES = {
  names: { bus: 'bus-1', bucket: 'bucket-1', table: 'table-1', secret: 'secret-1', prefix: 'p' },
  queues: Object.fromEntries(
    FAMILIES.map((family) => [
      family,
      { url: `url-${family}`, arn: `arn-${family}`, deadLetter: { url: `dlq-${family}`, arn: 'dlq' } },
    ]),
  ),
  visibilityTimeoutSeconds: 5,
  results: { url: 'url-results', arn: 'arn-results' },
};
const HANDLERS = Object.fromEntries(FAMILIES.map((family) => [family, `handler-${family}`]));
const LOGGER = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
const DEFAULT_LOGGER = { name: 'default logger' };

/** Resolves once `signal` aborts: how a long poll ends when the environment stops. */
function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Lets pending polls and back-offs run. */
async function settle(turns = 20): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
}

let emulatorCa: string | undefined;
let resultsRun: (signal: AbortSignal) => Promise<void>;

let listener: { run: (signal: AbortSignal) => Promise<void> };

beforeEach(() => {
  vi.clearAllMocks();
  events.length = 0;
  emulatorCa = 'ca-pem';
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({});
  vi.mocked(startEmulator).mockImplementation((async () => {
    events.push('start emulator');
    return {
      url: 'https://127.0.0.1:8443',
      credentials: { apiToken: 'token-1' },
      ca: emulatorCa,
      close: async () => {
        events.push('close emulator');
      },
    };
  }) as never);
  vi.mocked(startMoto).mockImplementation((async () => {
    events.push('start moto');
    return {
      endpoint: 'http://127.0.0.1:5000',
      applyEnv: () => {
        events.push('apply env');
        return () => events.push('restore env');
      },
      stop: async () => {
        events.push('stop moto');
      },
    };
  }) as never);
  vi.mocked(localAws).mockImplementation(((endpoint: string) => {
    events.push(`clients for ${endpoint}`);
    return { endpoint, sqs: client, destroy: () => events.push('destroy clients') };
  }) as never);
  vi.mocked(closeAgents).mockImplementation(async () => {
    events.push('close agents');
  });
  vi.mocked(provisionLocalResources).mockImplementation((async () => {
    events.push('provision');
    return RESOURCES;
  }) as never);
  vi.mocked(createLocalHandlers).mockImplementation((() => {
    events.push('handlers');
    return HANDLERS;
  }) as never);
  vi.mocked(stderrLogger).mockReturnValue(DEFAULT_LOGGER as never);
  resultsRun = async (signal) => {
    events.push('results poll');
    await untilAborted(signal);
  };
  listener = { run: (signal: AbortSignal) => resultsRun(signal) };
  // A function, not an arrow: the code under test calls it with `new`.
  // biome-ignore lint/complexity/useArrowFunction: an arrow function cannot be a constructor
  vi.mocked(ResultListener).mockImplementation(function () {
    return listener;
  } as never);
  vi.mocked(deliverOnce).mockImplementation(async (_sqs, _queue, _handler, family, options) => {
    events.push(`poll ${family}`);
    await untilAborted(options?.abortSignal);
    return { received: 0, failed: 0 };
  });
});

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function start(options: Parameters<typeof startLocalEnvironment>[0] = {}) {
  const environment = await startLocalEnvironment(options);
  stops.push(() => environment.stop());
  return environment;
}

const STARTED = [
  'start emulator',
  'start moto',
  'apply env',
  'clients for http://127.0.0.1:5000',
  'provision',
  'handlers',
  'results poll',
];

describe('startLocalEnvironment', () => {
  it('starts the emulator, then moto, points the SDK at moto, and provisions the resources', async () => {
    const environment = await start();

    expect(events).toEqual(STARTED);
    expect(startEmulator).toHaveBeenCalledWith({
      tls: true,
      clock: 'real',
      connectDelayMs: 500,
      taskDurationMs: 200,
    });
    expect(startMoto).toHaveBeenCalledWith({});
    expect(provisionLocalResources).toHaveBeenCalledWith(
      environment.aws,
      { base_url: 'https://127.0.0.1:8443', api_token: 'token-1', ca_bundle: 'ca-pem' },
      {},
    );
    // No timeout key at all, not one set to undefined: the resources' own default applies.
    expect(vi.mocked(provisionLocalResources).mock.calls[0]?.[2]).toStrictEqual({});
    expect(environment.resources).toBe(RESOURCES);
    expect(environment.handlers).toBe(HANDLERS);
    expect(environment.aws.sqs).toBe(client);
  });

  it('leaves the CA out of the secret when the emulator has none', async () => {
    emulatorCa = undefined;

    const environment = await start();

    expect(vi.mocked(provisionLocalResources).mock.calls[0]?.[1]).toEqual({
      base_url: 'https://127.0.0.1:8443',
      api_token: 'token-1',
    });
    expect(environment.emulator.url).toBe('https://127.0.0.1:8443');
  });

  it('passes on the visibility timeout and the abort signal it is given', async () => {
    const signal = new AbortController().signal;

    await start({ visibilityTimeoutSeconds: 9, signal });

    expect(startMoto).toHaveBeenCalledWith({ signal });
    expect(vi.mocked(provisionLocalResources).mock.calls[0]?.[2]).toEqual({ visibilityTimeoutSeconds: 9 });
  });

  it('builds the handlers with warnings on stderr and no metrics unless told otherwise', async () => {
    await start();

    expect(stderrLogger).toHaveBeenCalledWith({ name: 'stdio' });
    expect(createLocalHandlers).toHaveBeenCalledWith(RESOURCES, DEFAULT_LOGGER, NO_METRICS);
  });

  it('builds the handlers with the logger and metrics it is given', async () => {
    const metrics = { ...NO_METRICS };

    await start({ logger: LOGGER, metrics });

    expect(stderrLogger).not.toHaveBeenCalled();
    expect(createLocalHandlers).toHaveBeenCalledWith(RESOURCES, LOGGER, metrics);
  });

  it('listens on the results queue at once, handing each result to onResult', async () => {
    const onResult = vi.fn();

    const environment = await start({ onResult });

    expect(ResultListener).toHaveBeenCalledWith(client, RESOURCES.results, onResult);
    expect(environment.results).toBe(listener);
    expect(deliverOnce).not.toHaveBeenCalled();
  });

  it('sends a request to its family queue as a JSON message', async () => {
    const environment = await start();

    await environment.send('evidence', { action: 'list files', requestId: 'r-1' });

    expect(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: 'url-evidence',
      MessageBody: '{"action":"list files","requestId":"r-1"}',
    });
  });

  it('polls every family queue once pollers start, once however often it is asked', async () => {
    const environment = await start();

    environment.startPollers();
    environment.startPollers();
    await settle();

    const calls = vi.mocked(deliverOnce).mock.calls;
    expect(calls.map((call) => call[3])).toEqual([...FAMILIES]);
    const [sqsClient, queue, handler, family, options] = calls[1] ?? [];
    expect([sqsClient, queue, handler, family]).toEqual([
      client,
      RESOURCES.queues[FAMILIES[1] as Family],
      HANDLERS[FAMILIES[1] as Family],
      FAMILIES[1],
    ]);
    expect(options).toMatchObject({ waitSeconds: 1 });
    // One signal for every poller and the results listener: stopping aborts them all.
    expect(options?.abortSignal).toBe(calls[0]?.[4]?.abortSignal);
    expect(options?.abortSignal?.aborted).toBe(false);
    // Seven pollers and each SDK call listen to that signal: no max-listeners warning.
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    for (let added = 0; added < 20; added++) options?.abortSignal?.addEventListener('abort', () => undefined);
    expect(warn).not.toHaveBeenCalled();
  });

  it('polls a family queue again after each delivery', async () => {
    const environment = await start();
    vi.mocked(deliverOnce).mockImplementation(async (_sqs, _queue, _handler, family, options) => {
      events.push(`poll ${family}`);
      if (events.filter((event) => event === `poll ${family}`).length >= 3)
        await untilAborted(options?.abortSignal);
      return { received: 1, failed: 0 };
    });

    environment.startPollers();
    await settle();

    expect(events.filter((event) => event === 'poll intel')).toHaveLength(3);
  });

  it("logs a handler's invoke error as Lambda would, unless the environment is stopping", async () => {
    const environment = await start({ logger: LOGGER });
    environment.startPollers();
    await settle();
    const onInvokeError = vi
      .mocked(deliverOnce)
      .mock.calls.find((call) => call[3] === 'snapshots')?.[4]?.onInvokeError;

    onInvokeError?.(new Error('boom'), [{}, {}] as never);
    onInvokeError?.('not an error', [{}] as never);

    expect(LOGGER.error.mock.calls).toEqual([
      [
        "The snapshots function failed (Lambda's Invoke Error): its 2 message(s) come back until their attempts are spent, then go to the dead-letter queue",
        { message: 'boom' },
      ],
      [
        "The snapshots function failed (Lambda's Invoke Error): its 1 message(s) come back until their attempts are spent, then go to the dead-letter queue",
        { message: 'not an error' },
      ],
    ]);

    await environment.stop();
    onInvokeError?.(new Error('late'), [{}] as never);
    expect(LOGGER.error).toHaveBeenCalledTimes(2);
  });

  it('reports a failing poll once until it succeeds again, backing off and polling on', async () => {
    const answers = ['fail', 'fail', 'ok', 'fail'];
    resultsRun = async (signal) => {
      const answer = answers.shift();
      events.push(`results ${answer ?? 'wait'}`);
      if (answer === 'fail') throw new Error(`failure ${answers.length}`);
      if (answer === undefined) await untilAborted(signal);
    };
    const onPollError = vi.fn();

    await start({ onPollError });
    await settle();

    expect(onPollError.mock.calls).toEqual([
      ['results', new Error('failure 3')],
      ['results', new Error('failure 0')],
    ]);
    expect(events.slice(STARTED.length - 1)).toEqual([
      'results fail',
      'delay 500',
      'results fail',
      'delay 500',
      'results ok',
      'results fail',
      'delay 500',
      'results wait',
    ]);
  });

  it('keeps polling after a failure when nobody listens for poll errors', async () => {
    const answers = ['fail', 'ok'];
    resultsRun = async (signal) => {
      const answer = answers.shift();
      events.push(`results ${answer ?? 'wait'}`);
      if (answer === 'fail') throw new Error('moto is restarting');
      if (answer === undefined) await untilAborted(signal);
    };

    await start();
    await settle();

    expect(events.slice(STARTED.length - 1)).toEqual([
      'results fail',
      'delay 500',
      'results ok',
      'results wait',
    ]);
  });

  it('names the family whose poll failed, and does not report a poll the stop cut short', async () => {
    const onPollError = vi.fn();
    const environment = await start({ onPollError });
    vi.mocked(deliverOnce).mockImplementation(async (_sqs, _queue, _handler, family, options) => {
      await untilAborted(options?.abortSignal);
      throw new Error(`${family} aborted`);
    });
    vi.mocked(deliverOnce).mockImplementationOnce(async () => {
      throw new Error('moto gone');
    });
    environment.startPollers();
    await settle(3);

    await environment.stop();

    expect(onPollError.mock.calls).toEqual([[FAMILIES[0], new Error('moto gone')]]);
  });

  it('stops what it started in reverse order, pollers first, and only once', async () => {
    const environment = await start();
    environment.startPollers();
    await settle();
    events.length = 0;

    await environment.stop();
    await environment.stop();

    expect(events).toEqual(['close agents', 'destroy clients', 'restore env', 'stop moto', 'close emulator']);
    const signal = vi.mocked(deliverOnce).mock.calls[0]?.[4]?.abortSignal;
    expect(signal?.aborted).toBe(true);
  });

  it('waits for the pollers to end before closing the rest', async () => {
    const environment = await start();
    resultsRun = async () => undefined;
    vi.mocked(deliverOnce).mockImplementation(async (_sqs, _queue, _handler, family, options) => {
      await untilAborted(options?.abortSignal);
      await settle(2);
      events.push(`poll ${family} ended`);
      throw new Error('aborted');
    });
    environment.startPollers();
    await settle();

    await environment.stop();

    expect(events.indexOf('close agents')).toBeGreaterThan(events.indexOf(`poll ${FAMILIES.at(-1)} ended`));
    expect(events.filter((event) => event.endsWith(' ended'))).toHaveLength(FAMILIES.length);
  });

  it('stops the rest when one stop fails', async () => {
    vi.mocked(closeAgents).mockRejectedValue(new Error('agents stuck'));
    const environment = await start();
    events.length = 0;

    await expect(environment.stop()).resolves.toBeUndefined();

    expect(events).toEqual(['destroy clients', 'restore env', 'stop moto', 'close emulator']);
  });

  it('stops what it started and passes the error on when a step fails', async () => {
    vi.mocked(provisionLocalResources).mockRejectedValue(new Error('moto said no'));

    await expect(startLocalEnvironment()).rejects.toThrow('moto said no');

    expect(events).toEqual([
      'start emulator',
      'start moto',
      'apply env',
      'clients for http://127.0.0.1:5000',
      'close agents',
      'destroy clients',
      'restore env',
      'stop moto',
      'close emulator',
    ]);
  });

  it('closes the emulator when moto does not start', async () => {
    vi.mocked(startMoto).mockRejectedValue(new Error('no python3'));

    await expect(startLocalEnvironment()).rejects.toThrow('no python3');

    expect(events).toEqual(['start emulator', 'close emulator']);
  });

  /** A stand-in for a start-up step that logs `step`, aborts `controller` meanwhile, and returns `value`. */
  const abortingStep = (controller: AbortController, step: string, value: unknown) =>
    (async () => {
      events.push(step);
      controller.abort();
      return value;
    }) as never;

  it('stops before moto when aborted while the emulator starts', async () => {
    const controller = new AbortController();
    vi.mocked(startEmulator).mockImplementationOnce(
      abortingStep(controller, 'start emulator', { close: async () => events.push('close emulator') }),
    );

    await expect(startLocalEnvironment({ signal: controller.signal })).rejects.toThrow(/abort/i);

    expect(events).toEqual(['start emulator', 'close emulator']);
  });

  it('stops moto and the emulator when aborted while moto starts', async () => {
    const controller = new AbortController();
    vi.mocked(startMoto).mockImplementationOnce(
      abortingStep(controller, 'start moto', { stop: async () => events.push('stop moto') }),
    );

    await expect(startLocalEnvironment({ signal: controller.signal })).rejects.toThrow(/abort/i);

    expect(events).toEqual(['start emulator', 'start moto', 'stop moto', 'close emulator']);
  });

  it('builds no handler and stops everything when aborted while provisioning', async () => {
    const controller = new AbortController();
    vi.mocked(provisionLocalResources).mockImplementationOnce(
      abortingStep(controller, 'provision', RESOURCES),
    );

    await expect(startLocalEnvironment({ signal: controller.signal })).rejects.toThrow(/abort/i);

    expect(events).toEqual([
      'start emulator',
      'start moto',
      'apply env',
      'clients for http://127.0.0.1:5000',
      'provision',
      'close agents',
      'destroy clients',
      'restore env',
      'stop moto',
      'close emulator',
    ]);
  });
});
