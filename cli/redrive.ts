import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { isRecord } from '../shared/config/is-record.ts';
import { keyedBody } from '../shared/events/envelope.ts';
import { changeVisibility } from '../shared/events/sqs-visibility.ts';
import { type RedriveArgs, UsageError } from './args.ts';
import type { Io } from './local/console.ts';

/** How long a received message stays hidden: time to send its copy and delete it. */
const RECEIVE_VISIBILITY_SECONDS = 60;
/**
 * How long a message the run keeps in the dead-letter queue (one it leaves, everything a dry run reads)
 * stays hidden, so the run does not meet it again; all are made visible again when the run ends, also
 * on Ctrl-C. Only a run killed outright leaves them hidden, for at most this long.
 */
const HOLD_SECONDS = 3600;
/**
 * Receives in a row that bring only messages the run holds (each back after a whole hold) before it
 * ends: a run longer than the hold would otherwise keep meeting them.
 */
const HELD_ONLY_RECEIVES = 10;

/** The run's timings and bounds; tests shorten them. */
export interface RedriveTiming {
  receiveSeconds: number;
  holdSeconds: number;
  heldOnlyReceives: number;
}

const TIMING: RedriveTiming = {
  receiveSeconds: RECEIVE_VISIBILITY_SECONDS,
  holdSeconds: HOLD_SECONDS,
  heldOnlyReceives: HELD_ONLY_RECEIVES,
};

export interface RedriveSummary {
  /** Sent to the family queue (or, dry, would be); deleted from the dead-letter queue unless `notDeleted`. */
  moved: number;
  /** Of those, the requests given their message id as requestId. */
  keyed: number;
  /** Left in the dead-letter queue: too large for the family queue once keyed, or unable to take its key. */
  left: number;
  /** Sent, but still in the dead-letter queue too: its delete failed (which stops the run). */
  notDeleted: number;
  /** Held by the run and not made visible again at its end: hidden until their hold runs out. */
  unreleased: number;
  /** Why the run stopped before the queue was done (a failure, an interruption). */
  stopped?: string;
}

/**
 * The region an AWS queue URL names (`https://sqs.<region>.amazonaws.com/...`, the legacy
 * `https://<region>.queue.amazonaws.com/...`, FIFO-endpoint and China forms alike); undefined for
 * another host (a local endpoint). A queue is called in its own region, whatever the shell's is, and a
 * shell without one can still redrive.
 */
export function queueRegion(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  const match = /^(?:sqs(?:-fips)?\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$/.exec(host);
  return match?.[1] ?? match?.[2];
}

/**
 * Moves up to `max` messages, one at a time: each is sent to `to` before it is deleted from `from`, so a
 * failure leaves it in the dead-letter queue (a failed delete leaves it in both: its key makes the copy a
 * replay). A message it cannot move as it should (too large, or unable to take its key) is left and
 * named; any other failure stops the run (`stopped`). What the run keeps in the dead-letter queue is
 * made visible again at its end.
 */
export async function redrive(
  sqs: SQSClient,
  args: RedriveArgs,
  io: Io,
  { signal, timing = TIMING }: { signal?: AbortSignal; timing?: RedriveTiming } = {},
): Promise<RedriveSummary> {
  const maxBytes = await checkQueues(sqs, args);
  return new Redrive(sqs, args, io, maxBytes, timing, signal).run();
}

class Redrive {
  private readonly summary: RedriveSummary = { moved: 0, keyed: 0, left: 0, notDeleted: 0, unreleased: 0 };
  /** Handled: moved, left or (dry) read. */
  private readonly seen = new Set<string>();
  /** Received and not handled yet (a stopped run gives them back). */
  private pending: Message[] = [];
  /** Kept in the dead-letter queue by this run (left, or read by a dry run), by message id, hidden. */
  private readonly held = new Map<string, Message>();

  constructor(
    private readonly sqs: SQSClient,
    private readonly args: RedriveArgs,
    private readonly io: Io,
    private readonly maxBytes: number,
    private readonly timing: RedriveTiming,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async run(): Promise<RedriveSummary> {
    let heldOnly = 0;
    try {
      while (this.summary.moved < this.args.max && heldOnly < this.timing.heldOnlyReceives) {
        this.checkInterrupt();
        const batch = await this.receive(Math.min(10, this.args.max - this.summary.moved));
        if (batch.length === 0) break;
        // Only a held message can come back (one that outlasted its hold): hidden again, under the new
        // receipt handle, the one that gives it back at the end. Every other message seen before was
        // moved and deleted, or stopped the run.
        const again = batch.filter((message) => this.held.has(message.MessageId ?? ''));
        this.pending = batch.filter((message) => !this.seen.has(message.MessageId ?? ''));
        await this.holdAgain(again);
        // A dry run keeps everything it reads: hidden long enough not to meet it again.
        if (this.args.dryRun) await this.hide(this.pending);
        heldOnly = this.pending.length === 0 && again.length === batch.length ? heldOnly + 1 : 0;
        while (this.pending.length > 0 && this.summary.moved < this.args.max) {
          this.checkInterrupt();
          const message = this.pending[0]!;
          this.seen.add(message.MessageId ?? '');
          await this.moveOne(message);
          this.pending.shift();
        }
      }
    } catch (error) {
      this.summary.stopped = this.signal?.aborted ? interrupted(this.signal) : errorText(error);
    } finally {
      const released = await release(this.sqs, this.args.from, [...this.pending, ...this.held.values()]);
      this.summary.unreleased = released.failed;
      if (released.failed > 0) {
        this.io.err(
          `warning: ${released.failed} message(s) the run held could not be made visible again; they reappear in the dead-letter queue within ${Math.ceil(this.timing.holdSeconds / 60)} minutes`,
        );
      }
    }
    return this.summary;
  }

  private checkInterrupt(): void {
    if (this.signal?.aborted) throw new Error(interrupted(this.signal));
  }

  /**
   * Not cut by Ctrl-C, which waits for its long poll (a second): SQS hides what it answers as it answers,
   * so a receive cut on its way back would leave those messages hidden with no handle to give them back.
   * Hidden for the short receive time even on a dry run, which holds them for longer once in hand: an
   * answer lost on the network hides them for a minute, not the hold.
   */
  private async receive(count: number): Promise<Message[]> {
    const received = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.args.from,
        MaxNumberOfMessages: count,
        WaitTimeSeconds: 1,
        VisibilityTimeout: this.timing.receiveSeconds,
        MessageAttributeNames: ['All'],
      }),
    );
    return received.Messages ?? [];
  }

  private async moveOne(message: Message): Promise<void> {
    const id = message.MessageId ?? '(no id)';
    const body = message.Body ?? '';
    const moved = message.MessageId ? keyedBody(body, message.MessageId) : body;
    if (moved === undefined) {
      await this.leave(message, `it cannot be given its requestId (${id}): part of it nests too deep`);
      return;
    }
    const keyed = moved !== body;
    const size = messageBytes(moved, message);
    if (size > this.maxBytes) {
      await this.leave(
        message,
        `${size} bytes${keyed ? ' with its requestId' : ''}, over the family queue's ${this.maxBytes}`,
      );
      return;
    }
    const note = keyed ? ` (requestId ${id} added)` : '';
    if (this.args.dryRun) {
      this.held.set(id, message);
      this.io.out(`would move ${id}${note}`);
    } else {
      await this.send(message, moved);
      // In the family queue now, whatever the delete does.
      this.io.out(`moved ${id}${note}`);
    }
    this.summary.moved += 1;
    if (keyed) this.summary.keyed += 1;
    if (!this.args.dryRun) await this.deleteOriginal(message);
  }

  /** Leaves `message` in the dead-letter queue, hidden until the run ends, and says why. */
  private async leave(message: Message, why: string): Promise<void> {
    this.summary.left += 1;
    this.held.set(message.MessageId ?? '', message);
    if (!this.args.dryRun) await this.hide([message]);
    this.io.err(`left ${message.MessageId} in the dead-letter queue: ${why}; move it by hand`);
  }

  /** Takes the new receipt handles of held messages received again, and hides them again. */
  private async holdAgain(again: readonly Message[]): Promise<void> {
    for (const message of again) this.held.set(message.MessageId ?? '', message);
    await this.hide(again);
  }

  private async hide(messages: readonly Message[]): Promise<void> {
    await setVisibility(this.sqs, this.args.from, messages, this.timing.holdSeconds);
  }

  private async send(message: Message, body: string): Promise<void> {
    try {
      await this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.args.to,
          MessageBody: body,
          ...(message.MessageAttributes ? { MessageAttributes: message.MessageAttributes } : {}),
        }),
      );
    } catch (error) {
      throw new Error(
        `Could not send ${message.MessageId} to the queue; it stays in the dead-letter queue: ${errorText(error)}`,
      );
    }
  }

  private async deleteOriginal(message: Message): Promise<void> {
    try {
      await this.sqs.send(
        new DeleteMessageCommand({ QueueUrl: this.args.from, ReceiptHandle: message.ReceiptHandle }),
      );
    } catch (error) {
      // The copy is sent and the original stays: moved again, a request would be sent twice (its key makes
      // a mutating one a replay, not a second run). A delete that fails once (a denied permission) would
      // fail for every message, so the run stops here instead of copying the whole queue.
      this.summary.notDeleted += 1;
      throw new Error(
        `${message.MessageId} was sent to the queue but could not be deleted from the dead-letter queue (${errorText(error)}); delete it there by hand before moving the rest`,
      );
    }
  }
}

/**
 * The family queue's largest message (MaximumMessageSize), once both queues are read, before any message
 * is touched: refuses a FIFO family queue (the stack never makes one, and its messages need a group id),
 * one queue named twice under two URLs (every message would be sent back where it came from), and a
 * queue whose dead-letter queue is not `from`. Another family's queue would answer each request with a
 * failed "belongs to another family" result and delete it, and the two URLs swapped would move live
 * requests into the dead-letter queue; both empty the queue they read, and the requests are lost.
 */
async function checkQueues(sqs: SQSClient, { from, to }: Pick<RedriveArgs, 'from' | 'to'>): Promise<number> {
  const target = await queueAttributes(sqs, to, 'family queue', [
    'QueueArn',
    'MaximumMessageSize',
    'FifoQueue',
    'RedrivePolicy',
  ]);
  const source = await queueAttributes(sqs, from, 'dead-letter queue', ['QueueArn']);
  if (target.FifoQueue === 'true') {
    throw new UsageError('--to names a FIFO queue; the family queues are standard queues');
  }
  if (target.QueueArn !== undefined && target.QueueArn === source.QueueArn) {
    throw new UsageError(`--from and --to name the same queue (${target.QueueArn})`);
  }
  const deadLetters = deadLetterTarget(target.RedrivePolicy);
  if (deadLetters !== source.QueueArn) {
    const what =
      deadLetters === undefined ? 'has no dead-letter queue' : `sends its dead letters to ${deadLetters}`;
    throw new UsageError(
      `--to (${target.QueueArn ?? to}) ${what}, not to --from (${source.QueueArn ?? from}): give --to the family queue whose dead-letter queue --from is (outputs <Family>QueueUrl and <Family>DeadLetterQueueUrl)`,
    );
  }
  return Number(target.MaximumMessageSize) || SQS_DEFAULT_MAX_BYTES;
}

/** The ARN a queue's RedrivePolicy sends its dead letters to, if it has a readable one. */
function deadLetterTarget(policy: string | undefined): string | undefined {
  if (policy === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(policy);
    const arn = isRecord(parsed) ? parsed.deadLetterTargetArn : undefined;
    return typeof arn === 'string' ? arn : undefined;
  } catch {
    return undefined;
  }
}

async function queueAttributes(
  sqs: SQSClient,
  url: string,
  what: string,
  names: Array<'QueueArn' | 'MaximumMessageSize' | 'FifoQueue' | 'RedrivePolicy'>,
): Promise<Record<string, string>> {
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }),
    );
    return Attributes ?? {};
  } catch (error) {
    throw new Error(`Could not read the ${what} ${url}; nothing was moved: ${errorText(error)}`);
  }
}

/** When the queue does not say: the smallest MaximumMessageSize SQS has defaulted to, so nothing sent is refused. */
const SQS_DEFAULT_MAX_BYTES = 262_144;

/** What SQS counts against MaximumMessageSize: the body, and each attribute's name, type and value. */
function messageBytes(body: string, message: Message): number {
  let bytes = Buffer.byteLength(body);
  for (const [name, attribute] of Object.entries(message.MessageAttributes ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(attribute.DataType ?? '');
    bytes += attribute.StringValue !== undefined ? Buffer.byteLength(attribute.StringValue) : 0;
    bytes += attribute.BinaryValue?.byteLength ?? 0;
  }
  return bytes;
}

/** Makes `messages` visible in the dead-letter queue again at once; best effort. */
async function release(
  sqs: SQSClient,
  from: string,
  messages: readonly Message[],
): Promise<{ failed: number }> {
  return { failed: (await setVisibility(sqs, from, messages, 0)).length };
}

/** Sets how long `messages` stay hidden; the changes SQS did not make. */
function setVisibility(sqs: SQSClient, queueUrl: string, messages: readonly Message[], seconds: number) {
  return changeVisibility(
    sqs,
    queueUrl,
    messages.map((message) => ({ receiptHandle: message.ReceiptHandle, seconds })),
  );
}

function interrupted(signal: AbortSignal): string {
  return `interrupted (${String(signal.reason)})`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
