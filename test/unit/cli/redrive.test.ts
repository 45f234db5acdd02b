import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RedriveArgs } from '../../../cli/args.ts';
import { main } from '../../../cli/main.ts';
import { queueRegion, redrive } from '../../../cli/redrive.ts';

const DLQ = 'https://sqs.us-east-1.amazonaws.com/123456789012/tanium-tr-dev-connections-dlq';
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/tanium-tr-dev-connections';
const ARGS: RedriveArgs = { from: DLQ, to: QUEUE, max: 10_000, dryRun: false, help: false };

const sqs = mockClient(SQSClient);

/** A DLQ message as a receive returns it; `handle` is this receive's receipt handle. */
function message(
  id: string,
  handle: string,
  body: unknown = { action: 'list connections', requestId: id },
): Message {
  return {
    MessageId: id,
    ReceiptHandle: handle,
    Body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

/** The receipt handles each ChangeMessageVisibilityBatch call set to `seconds`, in order. */
function visibilityChanges(seconds: number): string[][] {
  return sqs
    .commandCalls(ChangeMessageVisibilityBatchCommand)
    .map((call) => call.args[0].input.Entries ?? [])
    .filter((entries) => entries.every((entry) => entry.VisibilityTimeout === seconds))
    .map((entries) => entries.map((entry) => entry.ReceiptHandle ?? ''));
}

function lines() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) } };
}

const TIMING = { receiveSeconds: 60, holdSeconds: 3600, heldOnlyReceives: 10 };

const DLQ_ARN = 'arn:aws:sqs:us-east-1:123456789012:tanium-tr-dev-connections-dlq';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:tanium-tr-dev-connections';

/**
 * GetQueueAttributes answered as SQS answers it: only the attributes asked for. By default the family
 * queue sends its dead letters to the dead-letter queue and takes messages up to 1,024 bytes; `family`
 * changes its attributes (undefined: one it does not have).
 */
function queues(family: Record<string, string | undefined> = {}): void {
  const attributes: Record<string, Record<string, string | undefined>> = {
    [QUEUE]: {
      QueueArn: QUEUE_ARN,
      MaximumMessageSize: '1024',
      FifoQueue: 'false',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 3 }),
      ...family,
    },
    [DLQ]: { QueueArn: DLQ_ARN, MaximumMessageSize: '262144' },
  };
  sqs.on(GetQueueAttributesCommand).callsFake(({ QueueUrl, AttributeNames }) => {
    const known = attributes[QueueUrl] ?? {};
    const asked = (AttributeNames ?? []).filter((name: string) => known[name] !== undefined);
    return { Attributes: Object.fromEntries(asked.map((name: string) => [name, known[name]])) };
  });
}

describe('redrive: usage', () => {
  it('prints its whole usage on --help without touching SQS, and names itself in the general one', async () => {
    const { out, io } = lines();
    const general = lines();

    expect(await main(['redrive', '--help'], { io, sqs: new SQSClient({}) })).toBe(0);
    expect(await main(['--help'], { io: general.io })).toBe(0);

    expect(out.join('\n')).toMatch(/keeping each request's\s+idempotency key/);
    expect(out.join('\n')).toContain('130/143/129 when interrupted');
    expect(sqs.calls()).toHaveLength(0);
    expect(general.out.join('\n')).toContain(
      'tanium-tr redrive --from <dead-letter queue URL> --to <family queue URL>',
    );
  });
});

describe('redrive: usage errors', () => {
  it("answers a usage error with its own usage, not every command's", async () => {
    const { err, io } = lines();

    expect(await main(['redrive', '--max', '0'], { io, sqs: new SQSClient({}) })).toBe(2);

    const text = err.join('\n');
    expect(text).toMatch(/^--max must be a whole number from 1\n\nUsage:\n {2}tanium-tr redrive --from/);
    expect(text).not.toContain('tanium-tr run');
    expect(sqs.calls()).toHaveLength(0);
  });
});

describe('redrive: the region of a queue URL', () => {
  it.for([
    ['https://sqs.eu-west-1.amazonaws.com/123456789012/tanium-tr-prod-connections-dlq', 'eu-west-1'],
    ['https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q', 'us-gov-west-1'],
    ['https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q', 'cn-north-1'],
    ['https://ap-southeast-2.queue.amazonaws.com/123456789012/q', 'ap-southeast-2'],
    ['http://127.0.0.1:4566/123456789012/q', undefined],
    ['https://sqs.eu-west-1.amazonaws.com.example.org/123456789012/q', undefined],
    ['https://notsqs.eu-west-1.amazonaws.com/123456789012/q', undefined],
    ['not a url', undefined],
  ] as const)('reads %s as %s', ([url, region]) => {
    expect(queueRegion(url)).toBe(region);
  });
});

describe('redrive against SQS failures (scripted SQS)', () => {
  beforeEach(() => {
    queues();
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'copy' });
    sqs.on(DeleteMessageCommand).resolves({});
  });

  afterEach(() => {
    sqs.reset();
  });

  it('leaves the SQS client it was given open, for its caller to use again', async () => {
    // Prepare
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1')] })
      .resolves({});
    const client = new SQSClient({});
    const destroy = vi.spyOn(client, 'destroy');
    const { out, err, io } = lines();

    // Act
    const status = await main(['redrive', '--from', DLQ, '--to', QUEUE], { io, sqs: client });

    // Assess
    expect(status).toBe(0);
    expect(out.at(-1)).toBe('moved 1 message');
    expect(err).toEqual([]);
    expect(destroy).not.toHaveBeenCalled();
  });

  it('stops at the first delete that fails, counts the message sent, and gives back the rest of the batch', async () => {
    // Prepare: DeleteMessage denied, as a role without sqs:DeleteMessage would be for every message
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1'), message('m2', 'h2'), message('m3', 'h3')] })
      .resolves({});
    sqs.on(DeleteMessageCommand).rejects(Object.assign(new Error('Access denied'), { name: 'AccessDenied' }));
    const { out, err, io } = lines();

    // Act
    const status = await main(['redrive', '--from', DLQ, '--to', QUEUE], { io, sqs: new SQSClient({}) });

    // Assess: one copy sent, no second; the sent one and the two untouched are visible again at once
    expect(status).toBe(1);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
    expect(out.at(-1)).toBe('moved 1 message, 1 also still in the dead-letter queue (not deleted)');
    expect(err.join('\n')).toMatch(
      /^redrive stopped: m1 was sent to the queue but could not be deleted from the dead-letter queue \(Access denied\); delete it there by hand/,
    );
    expect(visibilityChanges(0)).toEqual([['h1', 'h2', 'h3']]);
  });

  it('stops at a send that fails, printing what it moved, and gives back the rest of the batch at once', async () => {
    // Prepare
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1'), message('m2', 'h2'), message('m3', 'h3')] })
      .resolves({});
    sqs
      .on(SendMessageCommand)
      .resolvesOnce({ MessageId: 'copy' })
      .rejects(Object.assign(new Error('Throttled'), { name: 'ThrottlingException' }));
    const { out, err, io } = lines();

    // Act
    const status = await main(['redrive', '--from', DLQ, '--to', QUEUE], { io, sqs: new SQSClient({}) });

    // Assess
    expect(status).toBe(1);
    expect(out.at(-1)).toBe('moved 1 message');
    expect(err.join('\n')).toMatch(
      /^redrive stopped: Could not send m2 to the queue; it stays in the dead-letter queue: Throttled/,
    );
    expect(sqs.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle)).toEqual([
      'h1',
    ]);
    expect(visibilityChanges(0)).toEqual([['h2', 'h3']]);
  });

  it('hides a left message again under the handle it comes back with, and gives it back under the latest one', async () => {
    // Prepare: a message too large for the queue, back twice (each receive gives a new receipt handle)
    const big = { action: 'list connections', requestId: 'big', parameters: { note: 'x'.repeat(2000) } };
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('big', 'h1', big)] })
      .resolvesOnce({ Messages: [message('big', 'h2', big)] })
      .resolvesOnce({ Messages: [message('big', 'h3', big)] })
      .resolves({});
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, { timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 0, left: 1, unreleased: 0 });
    expect(visibilityChanges(3600)).toEqual([['h1'], ['h2'], ['h3']]);
    expect(visibilityChanges(0)).toEqual([['h3']]);
  });

  it('counts only receives in a row that bring back nothing but messages it left', async () => {
    // Prepare: two such receives, a message to move, two more such receives, another message to move;
    // the bound is three in a row, which neither stretch reaches
    const big = { action: 'list connections', requestId: 'big', parameters: { note: 'x'.repeat(2000) } };
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('big', 'h0', big)] })
      .resolvesOnce({ Messages: [message('big', 'h1', big)] })
      .resolvesOnce({ Messages: [message('big', 'h2', big)] })
      .resolvesOnce({ Messages: [message('m1', 'g1')] })
      .resolvesOnce({ Messages: [message('big', 'h3', big)] })
      .resolvesOnce({ Messages: [message('big', 'h4', big)] })
      .resolvesOnce({ Messages: [message('m2', 'g2')] })
      .resolves({});
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, {
      timing: { ...TIMING, heldOnlyReceives: 3 },
    });

    // Assess
    expect(summary).toMatchObject({ moved: 2, left: 1 });
  });

  it('counts message attributes in the size SQS takes, and forwards them', async () => {
    // Prepare: a small body whose attribute takes it over the queue's 1,024 bytes, and one within it
    const attribute = (value: string) => ({ note: { DataType: 'String', StringValue: value } });
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          { ...message('big', 'h1'), MessageAttributes: attribute('x'.repeat(1000)) },
          { ...message('ok', 'h2'), MessageAttributes: attribute('trace-7') },
        ],
      })
      .resolves({});
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, { timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 1, left: 1 });
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.MessageAttributeNames).toEqual(['All']);
    expect(sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input.MessageAttributes)).toEqual([
      attribute('trace-7'),
    ]);
  });

  it('refuses one queue named twice under two URLs before touching a message', async () => {
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: { QueueArn: 'arn:aws:sqs:us-east-1:123456789012:dlq', MaximumMessageSize: '1024' },
    });
    const { err, io } = lines();

    const status = await main(['redrive', '--from', DLQ, '--to', `${DLQ}-again`], {
      io,
      sqs: new SQSClient({}),
    });

    expect(status).toBe(2);
    expect(err.join('\n')).toMatch(
      /--from and --to name the same queue \(arn:aws:sqs:us-east-1:123456789012:dlq\)/,
    );
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });

  it('exits 143 on SIGTERM, giving back what it held, and leaves no signal listener behind', async () => {
    // Prepare: SIGTERM arrives while the first copy is sent (its listener, the newest, called as Node would)
    const before = process.listenerCount('SIGTERM');
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1'), message('m2', 'h2')] })
      .resolves({});
    sqs.on(SendMessageCommand).callsFake(() => {
      const listener = process.listeners('SIGTERM').at(-1) as (signal: NodeJS.Signals) => void;
      listener('SIGTERM');
      return { MessageId: 'copy' };
    });
    const { out, err, io } = lines();

    // Act
    const status = await main(['redrive', '--from', DLQ, '--to', QUEUE], { io, sqs: new SQSClient({}) });

    // Assess
    expect(status).toBe(143);
    expect(out.at(-1)).toBe('moved 1 message');
    expect(err.join('\n')).toContain('redrive stopped: interrupted (SIGTERM)');
    expect(visibilityChanges(0)).toEqual([['h2']]);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('goes on past receives that bring back only messages it left, to the ones not yet moved', async () => {
    // Prepare: four receives of the left message alone, then a message to move
    const big = { action: 'list connections', requestId: 'big', parameters: { note: 'x'.repeat(2000) } };
    let receive = sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: [message('big', 'h0', big)] });
    for (let again = 1; again <= 4; again++) {
      receive = receive.resolvesOnce({ Messages: [message('big', `h${again}`, big)] });
    }
    receive.resolvesOnce({ Messages: [message('m1', 'g1')] }).resolves({});
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, { timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 1, left: 1 });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
  });

  it('ends a run that only meets the messages it left, after as many receives as its bound', async () => {
    // Prepare: the left message comes back for ever (a run far longer than its hold)
    const big = { action: 'list connections', requestId: 'big', parameters: { note: 'x'.repeat(2000) } };
    let handle = 0;
    sqs.on(ReceiveMessageCommand).callsFake(() => ({ Messages: [message('big', `h${handle++}`, big)] }));
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, {
      timing: { ...TIMING, heldOnlyReceives: 3 },
    });

    // Assess: the first receive, then three bringing only it
    expect(summary).toMatchObject({ moved: 0, left: 1 });
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(4);
  });

  it('stops between messages when interrupted, and gives back what it had not moved', async () => {
    // Prepare: the interruption arrives while the first copy is sent
    const stop = new AbortController();
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1'), message('m2', 'h2')] })
      .resolves({});
    sqs.on(SendMessageCommand).callsFake(() => {
      stop.abort('SIGINT');
      return { MessageId: 'copy' };
    });
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, { signal: stop.signal, timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 1, stopped: 'interrupted (SIGINT)' });
    expect(visibilityChanges(0)).toEqual([['h2']]);
  });

  it.for([
    ['a run', false],
    ['a dry run', true],
  ] as const)(
    'lets %s finish the receive Ctrl-C arrives in, and gives back what it brought',
    async ([, dryRun]) => {
      // Prepare: the interruption arrives while a receive waits; SQS has hidden what it answers
      const stop = new AbortController();
      sqs.on(ReceiveMessageCommand).callsFake(() => {
        stop.abort('SIGINT');
        return { Messages: [message('m1', 'h1'), message('m2', 'h2')] };
      });
      const { io } = lines();

      // Act
      const summary = await redrive(new SQSClient({}), { ...ARGS, dryRun }, io, {
        signal: stop.signal,
        timing: TIMING,
      });

      // Assess
      expect(summary).toMatchObject({ moved: 0, stopped: 'interrupted (SIGINT)', unreleased: 0 });
      expect(visibilityChanges(0)).toEqual([['h1', 'h2']]);
      // The receive is not given the signal: cut on its way back, its messages would stay hidden, no
      // handle to give them back with
      const receive = sqs.calls().find((call) => call.args[0] instanceof ReceiveMessageCommand);
      expect((receive?.args as unknown[] | undefined)?.[1]).toBeUndefined();
      expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.VisibilityTimeout).toBe(
        TIMING.receiveSeconds,
      );
    },
  );

  it('holds what a dry run receives for the hold, once it has the messages in hand', async () => {
    // Prepare
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1'), message('m2', 'h2')] })
      .resolves({});
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), { ...ARGS, dryRun: true }, io, { timing: TIMING });

    // Assess: received for the short receive time, then hidden for the hold, then given back
    expect(summary).toMatchObject({ moved: 2, unreleased: 0 });
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.VisibilityTimeout).toBe(
      TIMING.receiveSeconds,
    );
    expect(visibilityChanges(TIMING.holdSeconds)).toEqual([['h1', 'h2']]);
    expect(visibilityChanges(0)).toEqual([['h1', 'h2']]);
  });

  it('fails the run when the messages it held cannot be made visible again', async () => {
    // Prepare: a dry run, whose release SQS refuses
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1')] })
      .resolves({});
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', Code: 'ReceiptHandleIsInvalid', SenderFault: true }],
    });
    const { out, err, io } = lines();

    // Act
    const status = await main(['redrive', '--from', DLQ, '--to', QUEUE, '--dry-run'], {
      io,
      sqs: new SQSClient({}),
    });

    // Assess
    expect(status).toBe(1);
    expect(out.at(-1)).toBe('would move 1 message, 1 still hidden in the dead-letter queue');
    expect(err).toContain(
      'warning: 1 message(s) the run held could not be made visible again; they reappear in the dead-letter queue within 60 minutes',
    );
  });

  it.for([
    [
      'has no dead-letter queue',
      { RedrivePolicy: undefined },
      `--to (${QUEUE_ARN}) has no dead-letter queue, not to --from (${DLQ_ARN})`,
    ],
    [
      'sends its dead letters to another queue',
      { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `${DLQ_ARN}-other` }) },
      `--to (${QUEUE_ARN}) sends its dead letters to ${DLQ_ARN}-other, not to --from (${DLQ_ARN})`,
    ],
    [
      'is a FIFO queue',
      { FifoQueue: 'true' },
      '--to names a FIFO queue; the family queues are standard queues',
    ],
  ] as const)('refuses a --to that %s before touching a message', async ([, family, refusal]) => {
    // Prepare
    queues(family);
    const { err, io } = lines();

    // Act
    const status = await main(['redrive', '--from', DLQ, '--to', QUEUE], { io, sqs: new SQSClient({}) });

    // Assess
    expect(status).toBe(2);
    expect(err[0]?.split('\n')[0]).toContain(refusal);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });

  it.for([
    ['dead-letter queue', DLQ],
    ['family queue', QUEUE],
  ] as const)(
    'stops before touching a message when the %s cannot be read, saying which',
    async ([what, url]) => {
      // Prepare
      sqs.on(GetQueueAttributesCommand, { QueueUrl: url }).rejects(new Error('Access denied'));
      const { err, io } = lines();

      // Act
      const status = await main(['redrive', '--from', DLQ, '--to', QUEUE], { io, sqs: new SQSClient({}) });

      // Assess
      expect(status).toBe(1);
      expect(err).toEqual([
        `redrive stopped: Could not read the ${what} ${url}; nothing was moved: Access denied`,
      ]);
      expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
    },
  );

  it('stops at a receive that fails, with nothing to give back', async () => {
    // Prepare
    sqs.on(ReceiveMessageCommand).rejects(new Error('Access denied'));
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, { timing: TIMING });

    // Assess
    expect(summary).toEqual({
      moved: 0,
      keyed: 0,
      left: 0,
      notDeleted: 0,
      unreleased: 0,
      stopped: 'Access denied',
    });
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(0);
  });

  it('moves no more than --max, asking each receive for no more than are still to move', async () => {
    // Prepare: a queue that always has more (each receive brings as many as asked, new ones)
    let next = 0;
    sqs.on(ReceiveMessageCommand).callsFake(({ MaxNumberOfMessages }) => ({
      Messages: Array.from({ length: MaxNumberOfMessages }, () => message(`m${++next}`, `h${next}`)),
    }));
    const { io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), { ...ARGS, max: 12 }, io, { timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 12, left: 0 });
    expect(
      sqs.commandCalls(ReceiveMessageCommand).map((call) => call.args[0].input.MaxNumberOfMessages),
    ).toEqual([10, 2]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(12);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(12);
  });

  it('gives a request without a key its message id as requestId, and says so', async () => {
    // Prepare
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m1', 'h1', { action: 'list connections' }), message('m2', 'h2')] })
      .resolves({});
    const { out, io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), ARGS, io, { timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 2, keyed: 1 });
    expect(out).toEqual(['moved m1 (requestId m1 added)', 'moved m2']);
    expect(
      sqs.commandCalls(SendMessageCommand).map((call) => JSON.parse(call.args[0].input.MessageBody ?? '')),
    ).toEqual([
      { action: 'list connections', requestId: 'm1' },
      { action: 'list connections', requestId: 'm2' },
    ]);
  });

  it('changes nothing on a dry run: sends and deletes nothing, and says what it would move', async () => {
    // Prepare: one to key, one too large to move
    const big = { action: 'list connections', parameters: { note: 'x'.repeat(2000) } };
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          message('m1', 'h1', { action: 'list connections' }),
          message('m2', 'h2'),
          message('big', 'h3', big),
        ],
      })
      .resolves({});
    const { out, err, io } = lines();

    // Act
    const summary = await redrive(new SQSClient({}), { ...ARGS, dryRun: true }, io, { timing: TIMING });

    // Assess
    expect(summary).toMatchObject({ moved: 2, keyed: 1, left: 1, unreleased: 0 });
    expect(out).toEqual(['would move m1 (requestId m1 added)', 'would move m2']);
    expect(err).toEqual([
      expect.stringMatching(
        /^left big in the dead-letter queue: \d+ bytes with its requestId, over the family queue's 1024; move it by hand$/,
      ),
    ]);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    expect(visibilityChanges(0)).toEqual([['h1', 'h2', 'h3']]);
    // Done at the first receive that brings nothing
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(2);
  });

  it.for([
    ['a string attribute', { note: { DataType: 'String', StringValue: 'v' } }, 4 + 6 + 1],
    ['a binary attribute', { blob: { DataType: 'Binary', BinaryValue: new Uint8Array(5) } }, 4 + 6 + 5],
  ] as const)(
    "moves a message with %s that just fits the family queue's limit, and leaves one a byte over",
    async ([, attributes, attributeBytes]) => {
      // Prepare: the body, the attribute's name, its type and its value count against the 1,024 bytes
      sqs
        .on(ReceiveMessageCommand)
        .resolvesOnce({
          Messages: [
            { ...message('fits', 'h1', 'x'.repeat(1024 - attributeBytes)), MessageAttributes: attributes },
            { ...message('over', 'h2', 'x'.repeat(1025 - attributeBytes)), MessageAttributes: attributes },
          ],
        })
        .resolves({});
      const { err, io } = lines();

      // Act
      const summary = await redrive(new SQSClient({}), ARGS, io, { timing: TIMING });

      // Assess
      expect(summary).toMatchObject({ moved: 1, left: 1 });
      expect(
        sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input.MessageBody?.length),
      ).toEqual([1024 - attributeBytes]);
      expect(err).toEqual([
        "left over in the dead-letter queue: 1025 bytes, over the family queue's 1024; move it by hand",
      ]);
    },
  );
});
