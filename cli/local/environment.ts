import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { FAMILIES, type Family } from '../../shared/actions/types.ts';
import type { FamilyHandler } from '../../shared/events/family-handler.ts';
import type { EventLogger } from '../../shared/events/logging.ts';
import { type ActionMetrics, NO_METRICS } from '../../shared/events/metrics.ts';
import type { ResultDetail } from '../../shared/events/result.ts';
import { closeAgents } from '../../shared/tanium/agent.ts';
import { startEmulator } from '../../test/emulator/index.ts';
import { type MotoServer, startMoto } from '../../test/helpers/moto.ts';
import { type LocalAws, type LocalResources, localAws, provisionLocalResources } from './aws-resources.ts';
import { stderrLogger, stdio } from './console.ts';
import { createLocalHandlers } from './family-handlers.ts';
import { ResultListener } from './result-listener.ts';
import { deliverOnce } from './sqs-event-source.ts';

// The bundled emulator and moto helper live under test/: the local pipeline is their one non-test user.

type Emulator = Awaited<ReturnType<typeof startEmulator>>;

export interface LocalEnvironment {
  emulator: Emulator;
  moto: MotoServer;
  aws: LocalAws;
  resources: LocalResources;
  handlers: Record<Family, FamilyHandler>;
  results: ResultListener;
  /** Sends a request to a family queue as an SQS message. */
  send(family: Family, request: Record<string, unknown>): Promise<void>;
  /** Polls every family queue like Lambda's event sources until `stop()`. */
  startPollers(): void;
  stop(): Promise<void>;
}

export interface LocalEnvironmentOptions {
  /** Handler logs; default: warnings and errors only, on stderr. */
  logger?: EventLogger;
  metrics?: ActionMetrics;
  visibilityTimeoutSeconds?: number;
  onResult?: (detail: ResultDetail) => void;
  /** Called when a queue poll fails (moto or a handler bug); the pollers keep going. */
  onPollError?: (queue: Family | 'results', error: unknown) => void;
  /** Stops the start-up between steps (and moto's wait to be ready); what was started is stopped. */
  signal?: AbortSignal;
}

/**
 * Starts the emulator and moto, creates the resources and builds one handler per family. Whatever was
 * started is stopped again when a later step fails; `stop()` stops all of it.
 */
export async function startLocalEnvironment(
  options: LocalEnvironmentOptions = {},
): Promise<LocalEnvironment> {
  const stack: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const stop of stack.reverse()) {
      try {
        await stop();
      } catch {
        // stopping the rest matters more than one failed stop
      }
    }
    stack.length = 0;
  };
  try {
    const emulator = await startEmulator({
      tls: true,
      clock: 'real',
      connectDelayMs: 500,
      taskDurationMs: 200,
    });
    stack.push(() => emulator.close());
    options.signal?.throwIfAborted();
    const moto = await startMoto(options.signal ? { signal: options.signal } : {});
    stack.push(() => moto.stop());
    options.signal?.throwIfAborted();
    // The handlers' own clients (secret, bus, table, bucket) find moto through the SDK's standard variables.
    stack.push(moto.applyEnv());
    const aws = localAws(moto.endpoint);
    stack.push(() => aws.destroy());
    stack.push(() => closeAgents());
    const secret: Record<string, unknown> = {
      base_url: emulator.url,
      api_token: emulator.credentials.apiToken,
      ...(emulator.ca ? { ca_bundle: emulator.ca } : {}),
    };
    const resources = await provisionLocalResources(
      aws,
      secret,
      options.visibilityTimeoutSeconds === undefined
        ? {}
        : { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds },
    );
    options.signal?.throwIfAborted();
    const logger = options.logger ?? stderrLogger(stdio);
    const handlers = createLocalHandlers(resources, logger, options.metrics ?? NO_METRICS);
    const controller = new AbortController();
    // Every poller, and the SDK calls each makes, listens to it at once: that is by design, not a leak.
    setMaxListeners(0, controller.signal);
    const results = new ResultListener(aws.sqs, resources.results, options.onResult);
    const running: Promise<void>[] = [];
    /**
     * Runs `poll` until stopped; a failure is reported and the polling goes on, as Lambda's would. A
     * failure that repeats is reported once, until a poll succeeds again.
     */
    const keepPolling = async (queue: Family | 'results', poll: () => Promise<void>) => {
      let failing = false;
      while (!controller.signal.aborted) {
        try {
          await poll();
          failing = false;
        } catch (error) {
          if (controller.signal.aborted) return;
          if (!failing) options.onPollError?.(queue, error);
          failing = true;
          await delay(500);
        }
      }
    };
    running.push(keepPolling('results', () => results.run(controller.signal)));
    stack.push(async () => {
      controller.abort();
      await Promise.allSettled(running);
    });
    let polling = false;
    return {
      emulator,
      moto,
      aws,
      resources,
      handlers,
      results,
      async send(family, request) {
        await aws.sqs.send(
          new SendMessageCommand({
            QueueUrl: resources.queues[family].url,
            MessageBody: JSON.stringify(request),
          }),
        );
      },
      startPollers() {
        if (polling) return;
        polling = true;
        for (const family of FAMILIES) {
          running.push(
            keepPolling(family, () =>
              deliverOnce(aws.sqs, resources.queues[family], handlers[family], family, {
                waitSeconds: 1,
                abortSignal: controller.signal,
                onInvokeError: (error, records) => {
                  if (controller.signal.aborted) return;
                  logger.error(
                    `The ${family} function failed (Lambda's Invoke Error): its ${records.length} message(s) come back until their attempts are spent, then go to the dead-letter queue`,
                    { message: error instanceof Error ? error.message : String(error) },
                  );
                },
              }).then(() => undefined),
            ),
          );
        }
      },
      stop: unwind,
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}
