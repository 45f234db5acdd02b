import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { keyedBody } from '../shared/events/envelope.ts';
import { toTaniumError } from '../shared/tanium/errors.ts';
import { UsageError } from './args.ts';
import type { Io } from './local/console.ts';

/** How long a received message stays hidden: time to send its copy and delete it. */
const RECEIVE_VISIBILITY_SECONDS = 60;
const DRY_RUN_VISIBILITY_SECONDS = 30;
const DEFAULT_MAX = 10_000;

export const REDRIVE_USAGE = `  tanium-tr redrive --from <dead-letter queue URL> --to <family queue URL> [--max <n>] [--dry-run]
      Moves messages from a dead-letter queue back to a family queue, keeping each request's
      idempotency key: a request sent straight to SQS without a requestId ran under its message id,
      which a moved message loses, so it gets that id as its requestId (a mutating request that already
      ran then replays its stored result instead of running again). Other bodies (bus events, Lambda's
      records of failed asynchronous invocations) are moved as they are. At most --max messages
      (default ${DEFAULT_MAX}); --dry-run only says what it would do, and leaves the messages it read
      hidden for ${DRY_RUN_VISIBILITY_SECONDS} s. Uses the AWS credentials and region of the environment (AWS_ENDPOINT_URL
      for a local SQS such as moto).`;

export interface RedriveArgs {
  from: string;
  to: string;
  max: number;
  dryRun: boolean;
  help: boolean;
}

export function parseRedriveArgs(args: readonly string[]): RedriveArgs {
  const parsed: Partial<RedriveArgs> = { max: DEFAULT_MAX, dryRun: false, help: false };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const value = () => {
      const next = args[index + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      index++;
      return next;
    };
    if (arg === '--help' || arg === '-h') parsed.help = true;
    else if (arg === '--dry-run') parsed.dryRun = true;
    else if (arg === '--from') parsed.from = queueUrl(arg, value());
    else if (arg === '--to') parsed.to = queueUrl(arg, value());
    else if (arg === '--max') {
      const max = Number(value());
      if (!Number.isInteger(max) || max < 1) throw new UsageError('--max must be a whole number from 1');
      parsed.max = max;
    } else throw new UsageError(`Unknown option ${arg}`);
  }
  if (parsed.help) return parsed as RedriveArgs;
  if (parsed.from === undefined || parsed.to === undefined) {
    throw new UsageError('redrive needs --from <dead-letter queue URL> and --to <family queue URL>');
  }
  if (parsed.from === parsed.to) throw new UsageError('--from and --to name the same queue');
  return parsed as RedriveArgs;
}

function queueUrl(option: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      `${option} must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(
      `${option} must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    );
  }
  return value;
}

export interface RedriveSummary {
  moved: number;
  /** Of those, the requests given their message id as requestId. */
  keyed: number;
}

/**
 * Moves up to `max` messages, one at a time: each is sent to `to` before it is deleted from `from`, so a
 * failure leaves it in the dead-letter queue (a failed delete leaves it in both: its key makes the copy
 * a replay). Stops at the first failure to send, or when the dead-letter queue has nothing to give.
 */
export async function redrive(sqs: SQSClient, args: RedriveArgs, io: Io): Promise<RedriveSummary> {
  const summary: RedriveSummary = { moved: 0, keyed: 0 };
  const seen = new Set<string>();
  while (summary.moved < args.max) {
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: args.from,
        MaxNumberOfMessages: Math.min(10, args.max - summary.moved),
        WaitTimeSeconds: 1,
        VisibilityTimeout: args.dryRun ? DRY_RUN_VISIBILITY_SECONDS : RECEIVE_VISIBILITY_SECONDS,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = (received.Messages ?? []).filter((message) => !seen.has(message.MessageId ?? ''));
    if (messages.length === 0) break;
    for (const message of messages) {
      seen.add(message.MessageId ?? '');
      const body = message.Body ?? '';
      const moved = message.MessageId ? keyedBody(body, message.MessageId) : body;
      const keyed = moved !== body;
      const note = keyed ? ` (requestId ${message.MessageId} added)` : '';
      if (args.dryRun) {
        io.out(`would move ${message.MessageId}${note}`);
      } else {
        await sendCopy(sqs, args, message, moved);
        await deleteOriginal(sqs, args.from, message, io);
        io.out(`moved ${message.MessageId}${note}`);
      }
      summary.moved += 1;
      if (keyed) summary.keyed += 1;
      if (summary.moved >= args.max) break;
    }
  }
  return summary;
}

async function sendCopy(
  sqs: SQSClient,
  { from, to }: Pick<RedriveArgs, 'from' | 'to'>,
  message: Message,
  body: string,
): Promise<void> {
  try {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: to,
        MessageBody: body,
        ...(message.MessageAttributes ? { MessageAttributes: message.MessageAttributes } : {}),
      }),
    );
  } catch (error) {
    // Visible again at once, for the next attempt, instead of hidden for the rest of its receive.
    await sqs
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: from,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      )
      .catch(() => undefined);
    throw new RedriveError(
      `Could not send ${message.MessageId} to the queue; it stays in the dead-letter queue: ${toTaniumError(error).message}`,
    );
  }
}

/** Why a redrive stopped, said whole (an SQS error it wraps is already in its message). */
export class RedriveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedriveError';
  }
}

async function deleteOriginal(sqs: SQSClient, from: string, message: Message, io: Io): Promise<void> {
  try {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: from, ReceiptHandle: message.ReceiptHandle }));
  } catch (error) {
    // The copy is sent: the original comes back in the dead-letter queue, and its key makes a second
    // copy a replay of a mutating request, not a second run.
    io.err(
      `warning: ${message.MessageId} was sent to the queue but could not be deleted from the dead-letter queue (${toTaniumError(error).message}); delete it there by hand`,
    );
  }
}
