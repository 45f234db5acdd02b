import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SQSClient } from '@aws-sdk/client-sqs';
import { likelyNames } from '../shared/actions/closest-name.ts';
import { executeParsed, validateParams } from '../shared/actions/execute.ts';
import { ignoredParamNames } from '../shared/actions/params.ts';
import { findAction, likelyAction } from '../shared/actions/table.ts';
import type { ActionContext, ActionDefinition, ActionResult } from '../shared/actions/types.ts';
import { awsClientConfig } from '../shared/config/aws-client-config.ts';
import {
  closeCredentialReads,
  credentialSourcesSet,
  loadCredentials,
} from '../shared/config/credential-source.ts';
import type { Env } from '../shared/config/environment.ts';
import { clientLogger } from '../shared/events/logging.ts';
import { failedResult, publishedResult } from '../shared/events/result.ts';
import { closeAgents, destroyAgents } from '../shared/tanium/agent.ts';
import { TaniumClient } from '../shared/tanium/client.ts';
import { credentialsByDeadline } from '../shared/tanium/credentials-by-deadline.ts';
import { TaniumError } from '../shared/tanium/errors.ts';
import { releaseAllSpoolFiles } from '../shared/vault/spool.ts';
import { actionInfos, formatActions } from './actions-list.ts';
import {
  DEFAULT_REDRIVE_MAX,
  parseRedriveArgs,
  parseRunArgs,
  type RunArgs,
  UsageError,
  withListArrays,
} from './args.ts';
import { formatResult, terminalSafeJson } from './format.ts';
import { type Io, stderrLogger, stdio } from './local/console.ts';
import { queueRegion, redrive } from './redrive.ts';
import { RunVault } from './vault.ts';

const RUN_USAGE = `  tanium-tr run "<action>" [--param name=value ...] [--json] [--timeout <seconds>]
      Runs one action against the configured Tanium, --timeout bounding the whole run (the
      credentials read included). A list parameter's value may be a comma list or a JSON array of
      strings (--param 'process_context=["parent","node"]'); any other value is text. Each parameter
      is given once.
      Credentials, from the first of these set (a warning names the ones ignored):
      1. TANIUM_SECRET_ID (the Secrets Manager secret, read with the AWS credentials),
      2. TANIUM_CREDENTIALS_FILE (a JSON file with the secret's fields),
      3. TANIUM_BASE_URL with TANIUM_API_TOKEN (or TANIUM_USERNAME/TANIUM_PASSWORD and TANIUM_DOMAIN),
         TANIUM_VERIFY_SERVER_CERT, TANIUM_CA_BUNDLE (PEM file), TANIUM_TIMEOUT_SECONDS.
      get file and upload intel doc from the vault also need VAULT_BUCKET, AWS_REGION and
      AWS credentials (and AWS_ENDPOINT_URL for a local S3 such as moto).`;

const REDRIVE_USAGE = `  tanium-tr redrive --from <dead-letter queue URL> --to <family queue URL> [--max <n>] [--dry-run]
      Moves messages from a dead-letter queue back to a family queue, keeping each request's
      idempotency key: a request sent straight to SQS without a requestId ran under its message id,
      which a moved message loses, so it gets that id as its requestId (a mutating request that already
      ran then replays its stored result instead of running again). Other bodies (bus events, Lambda's
      records of failed asynchronous invocations) are moved as they are. Each message is sent before it
      is deleted. A message too large for the family queue (with its requestId, if given one), or one
      that cannot be given its requestId, is left in the dead-letter queue and named. At most --max
      messages are moved (default ${DEFAULT_REDRIVE_MAX}); --dry-run only says what it would do. The messages a
      run leaves, and all a dry run reads, are visible in the dead-letter queue again when it ends, also
      on Ctrl-C (a run killed outright leaves them hidden for up to an hour). Any other failure (to send,
      to delete, to receive) stops the run after it prints what it moved. Exit status 0 when all went,
      1 when any was left, not deleted or not made visible again, or the run stopped, 2 for a usage
      error (a FIFO --to too, or one whose dead-letter queue is not --from), 130/143/129 when interrupted
      (SIGINT, SIGTERM, SIGHUP).
      AWS credentials from the environment (AWS_ENDPOINT_URL for moto), the region from the queue URL
      (else the environment's).`;

const EXIT_STATUS =
  'Exit status: 0 success, 1 failed result, 2 usage error, 130 stopped by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP.';

const USAGE = `Usage:
${RUN_USAGE}
  tanium-tr actions [--json]      Lists the actions and their parameters.
  tanium-tr emulator [--port <n>] [--http] [--manual-clock]
      Starts the bundled Tanium Threat Response emulator and prints its URL and credentials.
  tanium-tr local                 Runs the whole pipeline locally on the emulator and moto (what npm start runs).
  tanium-tr docs                  Regenerates the README's action reference from the action table.
  tanium-tr redrive --from <dead-letter queue URL> --to <family queue URL> [--max <n>] [--dry-run]
      Moves dead-letter queue messages back, keeping each request's idempotency key (redrive --help).
${EXIT_STATUS}`;

/** The README next to `cli/`; a file path, so a checkout path with a space works (URL paths encode it). */
export function readmePath(moduleUrl: string): string {
  return fileURLToPath(new URL('../README.md', moduleUrl));
}

/**
 * The warning for more than one credential source set, naming the one used and the ones ignored: a
 * deployment shell's TANIUM_SECRET_ID would otherwise send the emulator walkthrough's actions to the real
 * Tanium without a word.
 */
export function credentialSourceWarning(env: Env): string | undefined {
  const [used, ...ignored] = credentialSourcesSet(env);
  if (used === undefined || ignored.length === 0) return undefined;
  return `warning: Tanium credentials from ${used.join(', ')}; ignored: ${ignored.flat().join(', ')} (TANIUM_SECRET_ID wins over TANIUM_CREDENTIALS_FILE, which wins over the other TANIUM_* variables)`;
}

/** What the command line writes to and reads its settings from: the process's own unless given (tests). */
export interface CliContext {
  /** Where the output and the messages go (default: stdout and stderr). */
  io?: Io;
  /**
   * The variables `run` reads (the Tanium credentials, VAULT_BUCKET; default: process.env). The AWS SDK's
   * clients (the vault's S3) still read the process's environment.
   */
  env?: Env;
  /** The SQS client `redrive` uses (default: one from the process's AWS settings). */
  sqs?: SQSClient;
}

/**
 * Runs the command line; returns the exit status. It leaves exiting to its caller, and removes the signal
 * handlers it installs before it returns.
 */
export async function main(
  argv: readonly string[],
  { io = stdio, env = process.env, sqs }: CliContext = {},
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, io, env);
      case 'actions': {
        onlyOptions(rest, ['--json']);
        if (rest.some(isHelp)) {
          io.out(USAGE);
          return 0;
        }
        const infos = actionInfos();
        io.out(rest.includes('--json') ? JSON.stringify(infos, null, 2) : formatActions(infos));
        return 0;
      }
      case 'emulator': {
        const { main: emulatorMain } = await import('../test/emulator/cli.ts');
        return await emulatorMain(rest, io);
      }
      case 'docs': {
        onlyOptions(rest, []);
        if (rest.some(isHelp)) {
          io.out(USAGE);
          return 0;
        }
        const { writeReadmeDocs } = await import('./docs.ts');
        try {
          await writeReadmeDocs(readmePath(import.meta.url));
        } catch (error) {
          // Say what is missing (moto, say) instead of a stack trace.
          io.err(`npm run docs failed: ${error instanceof Error ? error.message : String(error)}`);
          return 1;
        }
        io.out('README.md action reference regenerated');
        return 0;
      }
      case 'redrive':
        return await redriveCommand(rest, io, sqs);
      case 'local': {
        const { runLocalPipeline } = await import('./local-pipeline.ts');
        return await runLocalPipeline(rest, io);
      }
      case undefined:
        // A usage error, told where usage errors go.
        io.err(USAGE);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return 0;
      default:
        throw new UsageError(`Unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      // A command with a usage of its own is answered with it, not with every command's.
      io.err(`${error.message}\n\n${command === 'redrive' ? `Usage:\n${REDRIVE_USAGE}` : USAGE}`);
      return 2;
    }
    throw error;
  }
}

/**
 * A command that takes no argument but `allowed` (and `--help`, which the caller answers): anything else is
 * a usage error, not ignored.
 */
function onlyOptions(args: readonly string[], allowed: readonly string[]): void {
  const unknown = args.find((arg) => !allowed.includes(arg) && !isHelp(arg));
  if (unknown !== undefined) throw new UsageError(`Unknown option ${unknown}`);
}

function isHelp(arg: string): boolean {
  return arg === '--help' || arg === '-h';
}

async function redriveCommand(args: readonly string[], io: Io, sqs: SQSClient | undefined): Promise<number> {
  const parsed = parseRedriveArgs(args);
  if (parsed.help) {
    io.out(`Usage:\n${REDRIVE_USAGE}`);
    return 0;
  }
  const region = queueRegion(parsed.from);
  const client = sqs ?? new SQSClient(awsClientConfig(region ? { region } : {}));
  // Ctrl-C ends the run between messages, and the messages it holds are made visible again.
  const interruption = watchInterrupts();
  const stop = new AbortController();
  let signal: NodeJS.Signals | undefined;
  void interruption.arrived.then((arrived) => {
    signal = arrived;
    stop.abort(arrived);
  });
  try {
    const summary = await redrive(client, parsed, io, { signal: stop.signal });
    const { moved, keyed, left, notDeleted, unreleased, stopped } = summary;
    // The totals also when it stopped: what moved before the failure is not to be moved again by hand.
    const parts = [
      `${parsed.dryRun ? 'would move' : 'moved'} ${moved} message${moved === 1 ? '' : 's'}`,
      ...(keyed > 0 ? [`${keyed} given their message id as requestId`] : []),
      ...(left > 0 ? [`${left} left in the dead-letter queue`] : []),
      ...(notDeleted > 0 ? [`${notDeleted} also still in the dead-letter queue (not deleted)`] : []),
      ...(unreleased > 0 ? [`${unreleased} still hidden in the dead-letter queue`] : []),
    ];
    io.out(parts.join(', '));
    if (stopped !== undefined) io.err(`redrive stopped: ${stopped}`);
    if (signal) return signalStatus(signal);
    return left + notDeleted + unreleased > 0 || stopped !== undefined ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    io.err(`redrive stopped: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    interruption.stop();
    if (!sqs) client.destroy();
  }
}

async function runCommand(args: readonly string[], io: Io, env: Env): Promise<number> {
  const parsed = parseRunArgs(args);
  if (parsed.help) {
    io.out(`Usage:\n${RUN_USAGE}\n${EXIT_STATUS}`);
    return 0;
  }
  const action = findAction(parsed.action);
  if (!action) {
    const meant = likelyAction(parsed.action);
    throw new UsageError(
      `Unknown action '${parsed.action}'.${meant ? ` Did you mean '${meant}'?` : ''} Run 'tanium-tr actions' to list them.`,
    );
  }
  parsed.params = withListArrays(parsed.params, action.params);
  const ignored = ignoredParamNames(action.params, parsed.params, action.placeholders);
  if (ignored.length > 0) {
    const names = Object.keys(action.params);
    const likely = likelyNames(ignored, names);
    const described = ignored.map((name) =>
      likely[name] === undefined ? name : `${name} (did you mean ${likely[name]}?)`,
    );
    io.err(
      `warning: '${action.name}' does not take ${described.join(', ')}; ignored. Its parameters: ${names.join(', ') || 'none'}`,
    );
  }
  const sources = credentialSourceWarning(env);
  if (sources) io.err(sources);
  const interruption = watchInterrupts();
  const vault = new RunVault();
  let result: ActionResult;
  try {
    const running = runAction(action, parsed, io, env, vault);
    const first = await Promise.race([running, interruption.arrived]);
    if (typeof first === 'string') return await stopInterrupted(first, running, io, vault);
    result = first;
  } finally {
    interruption.stop();
    closeCredentialReads();
    await closeAgents();
  }
  // The result as an event carries it.
  const shown = publishedResult(result);
  io.out(parsed.json ? terminalSafeJson(shown) : formatResult(shown));
  return result.status === 'success' ? 0 : 1;
}

/** Runs the action; a configuration problem (no credentials, a bad secret) is a failed result too. */
async function runAction(
  action: ActionDefinition,
  parsed: RunArgs,
  io: Io,
  env: Env,
  vault: RunVault,
): Promise<ActionResult> {
  // Checked first, as a function checks them: invalid input is its own answer, whatever the credentials.
  const params = validateParams(action, parsed.params);
  if (!params.ok) return failedResult(params.message, params.kind, parsed.params);
  // The whole run, the credentials read included, as a function's deadline bounds its invocation.
  const deadline = Date.now() + parsed.timeoutSeconds * 1000;
  try {
    const logger = stderrLogger(io);
    const credentials = await credentialsByDeadline(loadCredentials(env), deadline, logger);
    // Its warnings (TLS verification off, plain http://) go to stderr, leaving stdout to the result.
    const client = new TaniumClient(credentials, { logger: clientLogger(logger) });
    const ctx: ActionContext = { client, deadline, requestId: `cli-${Date.now()}` };
    // get file and upload intel doc (vault_id) need the vault; the other actions run without a bucket.
    if (env.VAULT_BUCKET) vault.attachTo(ctx, env);
    return await executeParsed(action, params.value, parsed.params, ctx);
  } catch (error) {
    if (!(error instanceof TaniumError)) throw error;
    return {
      status: 'failed',
      message: error.message,
      parameter: parsed.params,
      data: [],
      summary: {},
      error: error.info,
    };
  }
}

/**
 * How long a run stopped by a signal waits for its action to wind down: the vault's own cleanup after a
 * failed store (the spool file, an aborted upload) takes a second or so.
 */
export const INTERRUPT_GRACE_MS = 5_000;

/** The first of the INTERRUPTS of a run; later ones are ignored while it stops. */
function watchInterrupts(): { arrived: Promise<NodeJS.Signals>; stop: () => void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const arrived = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  for (const signal of INTERRUPTS) process.on(signal, onSignal);
  return {
    arrived,
    stop: () => {
      for (const signal of INTERRUPTS) process.off(signal, onSignal);
    },
  };
}

/**
 * The signals that stop a run, which then cleans up: Ctrl-C, a supervisor's SIGTERM, and the terminal
 * closing (SIGHUP), which would otherwise end the process with a spool file of evidence left behind.
 */
const INTERRUPTS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The exit status a shell reports for a process ended by `signal`: 130 for SIGINT, 143 SIGTERM, 129 SIGHUP. */
function signalStatus(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/**
 * Stops a run a signal interrupted, leaving no evidence (a malware sample) in the spool or half-uploaded
 * in the bucket. The actions take a deadline, not an abort signal: ending the Tanium connections fails
 * the request in flight, and stopping the vault ends a store as its deadline would, with the same
 * cleanup; a spool file still held after the grace is released here. Returns the status a shell
 * reports for the signal (signalStatus).
 */
async function stopInterrupted(
  signal: NodeJS.Signals,
  running: Promise<ActionResult>,
  io: Io,
  vault: RunVault,
): Promise<number> {
  await destroyAgents();
  // A store past the download (uploading to S3) stops as at its deadline, aborting its multipart upload
  // and deleting its incoming/ object: parts of the evidence would otherwise stay in the bucket.
  vault.stop();
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([
    running.catch(() => undefined),
    new Promise((resolve) => {
      grace = setTimeout(resolve, INTERRUPT_GRACE_MS);
    }),
  ]);
  clearTimeout(grace);
  await releaseAllSpoolFiles();
  io.err('Interrupted.');
  return signalStatus(signal);
}
