import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { opensslMissing } from '../test/emulator/tls.ts';
import { MotoInterrupted } from '../test/helpers/moto.ts';
import { type Io, onOutputGone, stderrLogger, stdio } from './local/console.ts';
import { type LocalEnvironment, startLocalEnvironment } from './local/environment.ts';
import { describeResult, INVESTIGATION } from './local/investigation.ts';

const STEP_TIMEOUT_MS = 90_000;

/**
 * `npm start` / `tanium-tr local`: the whole pipeline on this machine with no AWS account. Starts the
 * emulator and moto, creates the resources, sends the typical investigation as SQS messages one step
 * at a time, runs the family handlers as Lambda's SQS event source would, and prints each result as it
 * arrives on the results queue. Stops everything it started on exit, Ctrl-C and failure.
 * Returns the exit status: 0 when every step succeeded, 1 when one failed, 130 on SIGINT (Ctrl-C), 143 on
 * SIGTERM, 141 (as for a command a broken pipe ended) when what it writes to was closed.
 */
export async function runLocalPipeline(args: readonly string[] = [], io: Io = stdio): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(
      'Usage: tanium-tr local\n  Runs the typical investigation through the whole pipeline on this machine.',
    );
    return 0;
  }
  if (args.length > 0) {
    io.err(`Unknown option: ${args[0]}`);
    return 2;
  }
  const interrupted = new AbortController();
  /** The first signal that arrived: the exit status says which, as a shell's does (128 + its number). */
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled ??= signal;
    interrupted.abort();
  };
  /** Set once stdout or stderr broke: stopping the run is then all that is left to do. */
  let outputGone = false;
  const interruption = new Promise<never>((_, reject) => {
    interrupted.signal.addEventListener('abort', () => reject(new Error('interrupted')), { once: true });
  });
  interruption.catch(() => undefined);
  // `on`, not `once`: a second signal while stopping would otherwise kill this process with Node's
  // default action and leave moto running with no parent.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader that went away is handled as Ctrl-C is: stop, then stop what was started.
  const stopWatchingOutput = onOutputGone(() => {
    outputGone = true;
    interrupted.abort();
  });
  /** Whether the run ends with a signal's status: it then ignores signals until it exits. */
  let endsBySignal = false;
  /** The exit status of a run that was cut short, saying so where someone still reads. */
  const stoppedEarly = (): number => {
    if (outputGone) return 141;
    io.err('Interrupted.');
    endsBySignal = true;
    return signalled === 'SIGTERM' ? 143 : 130;
  };
  let environment: LocalEnvironment | undefined;
  /** Set once moto exited on its own: the reason to report, whatever call noticed it first. */
  let motoExit: Error | undefined;
  try {
    io.out('Starting the Tanium emulator and moto (local AWS)...');
    // Once interrupted, or once moto is gone, the handler still running fails to publish or record its
    // result: that is not news next to 'Interrupted.' or the line that says moto exited.
    const quiet: Io = {
      out: (text) => io.out(text),
      err: (text) => {
        if (!interrupted.signal.aborted && motoExit === undefined) io.err(text);
      },
    };
    environment = await startLocalEnvironment({
      logger: stderrLogger(quiet),
      onPollError: (queue, error) => quiet.err(`  ${queue} poll failed: ${(error as Error).message}`),
      signal: interrupted.signal,
    });
    const { emulator, moto, resources } = environment;
    io.out(`Tanium emulator: ${emulator.url}`);
    io.out(
      `moto: ${moto.endpoint} (bus ${resources.names.bus}, bucket ${resources.names.bucket}, table ${resources.names.table})`,
    );
    io.out(`Results arrive on ${resources.results.url} through a rule on the bus.`);
    // Without moto nothing can arrive: say so at once rather than after the step's timeout.
    const motoGone = moto.unexpectedExit.then((error) => {
      motoExit = error;
      return Promise.reject(error);
    });
    motoGone.catch(() => undefined);
    environment.startPollers();

    const state = { connectionId: '' };
    let failures = 0;
    for (const [index, step] of INVESTIGATION.entries()) {
      if (interrupted.signal.aborted) break;
      const requestId = `local-${index + 1}-${randomUUID()}`;
      const parameters = step.parameters(state);
      io.out(`\n[${index + 1}/${INVESTIGATION.length}] ${step.action} -> ${step.family} queue`);
      io.out(`      parameters: ${JSON.stringify(parameters)}`);
      await Promise.race([
        environment.send(step.family, { action: step.action, parameters, requestId }),
        motoGone,
      ]);
      const detail = await Promise.race([
        environment.results.waitFor(requestId, STEP_TIMEOUT_MS),
        interruption,
        motoGone,
      ]);
      for (const line of describeResult(detail)) io.out(line);
      if (detail.status !== 'success') failures++;
      if (step.action === 'create connection') {
        const id = detail.summary?.connection_id;
        if (typeof id !== 'string') {
          io.err('The connection was not created; the investigation cannot go on.');
          return 1;
        }
        state.connectionId = id;
      }
    }
    // A pipe that broke on the last lines reports its error a tick after the write: the stream says so now.
    if (process.stdout.destroyed || process.stderr.destroyed) outputGone = true;
    if (interrupted.signal.aborted || outputGone) return stoppedEarly();
    io.out(
      failures === 0
        ? `\nAll ${INVESTIGATION.length} steps succeeded.`
        : `\n${failures} of ${INVESTIGATION.length} steps failed.`,
    );
    return failures === 0 ? 0 : 1;
  } catch (error) {
    // Ctrl-C also ends the children (openssl, python3): their failure can arrive before this process's
    // own SIGINT handler has run, so give the signal a moment before calling this a failure.
    if (!interrupted.signal.aborted) await delay(100);
    if (interrupted.signal.aborted || error instanceof MotoInterrupted) return stoppedEarly();
    // A call to moto (say, sending the next step) can fail before its exit is seen: name the cause.
    const reported = motoExit ?? error;
    io.err(`The local pipeline failed: ${describeFailure(reported)}`);
    return 1;
  } finally {
    try {
      if (environment) {
        io.out('Stopping the emulator and moto...');
        await environment.stop();
      }
    } finally {
      // Only now: a signal (or a broken pipe) while stopping must not end this process before moto is gone.
      // A run a signal stopped keeps ignoring signals until it exits with that signal's status: one more
      // from an impatient supervisor would otherwise end it by the signal, its status lost. A run whose
      // own status was decided (a signal only came while stopping) hands signals back to Node.
      if (!endsBySignal) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      stopWatchingOutput();
    }
  }
}

/** What a user can act on, for the failures they meet in practice. */
function describeFailure(error: unknown): string {
  if (opensslMissing(error))
    return "openssl is needed to make the Tanium emulator's TLS certificate; install it and run again";
  return error instanceof Error ? error.message : String(error);
}
