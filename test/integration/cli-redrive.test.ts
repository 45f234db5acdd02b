import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalAws, localAws } from '../../cli/local/aws-resources.ts';
import { main } from '../../cli/main.ts';
import { parseMessageBody } from '../../shared/events/envelope.ts';
import { type MotoServer, startMoto } from '../helpers/moto.ts';
import { receiveAll } from '../helpers/queues.ts';

let moto: MotoServer;
let aws: LocalAws;

beforeAll(async () => {
  moto = await startMoto();
  aws = localAws(moto.endpoint);
});

afterAll(async () => {
  aws?.destroy();
  await moto?.stop();
});

/** A dead-letter queue and a family queue that sends its dead letters there, for one test. */
async function queuePair(): Promise<{ dlq: string; queue: string }> {
  const suffix = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const dlq = await createQueue(`redrive-dlq-${suffix}`);
  return { dlq, queue: await createQueue(`redrive-queue-${suffix}`, await redrivePolicy(dlq)) };
}

async function createQueue(name: string, attributes?: Record<string, string>): Promise<string> {
  const created = await aws.sqs.send(
    new CreateQueueCommand({ QueueName: name, ...(attributes ? { Attributes: attributes } : {}) }),
  );
  return created.QueueUrl ?? '';
}

/** The attribute that makes a queue send its dead letters to `dlq`, as each family queue does. */
async function redrivePolicy(dlq: string): Promise<{ RedrivePolicy: string }> {
  const { Attributes } = await aws.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }),
  );
  return { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes?.QueueArn, maxReceiveCount: 5 }) };
}

async function send(url: string, body: unknown): Promise<string> {
  const sent = await aws.sqs.send(
    new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(body) }),
  );
  return sent.MessageId ?? '';
}

/** `tanium-tr redrive ...` in this process, on moto's SQS. */
async function redrive(...args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(['redrive', ...args], {
    io: { out: (line) => out.push(line), err: (line) => err.push(line) },
    sqs: aws.sqs,
  });
  return { status, out, err };
}

describe('CLI: redrive', () => {
  let queues: { dlq: string; queue: string };

  beforeEach(async () => {
    queues = await queuePair();
  });

  it('moves every message back, giving a request sent without requestId the message id it ran under', async () => {
    // Prepare: what a family DLQ holds: a request sent straight to SQS without requestId, one with it,
    // and a bus event (keyed on its event id)
    const bare = { action: 'close connection', parameters: { connection_id: 'remote:web-02:1:1' } };
    const withId = { ...bare, requestId: 'soar-42' };
    const busEvent = {
      version: '0',
      id: 'event-7',
      'detail-type': 'Action Request',
      source: 'soar.pipeline',
      detail: bare,
    };
    const bareId = await send(queues.dlq, bare);
    await send(queues.dlq, withId);
    await send(queues.dlq, busEvent);

    // Act
    const run = await redrive('--from', queues.dlq, '--to', queues.queue);

    // Assess: the dead-letter queue is empty, and each request keeps the key it ran under
    expect(run.status).toBe(0);
    expect(run.out.at(-1)).toBe('moved 3 messages, 1 given their message id as requestId');
    expect(run.out).toContain(`moved ${bareId} (requestId ${bareId} added)`);
    expect(await receiveAll(aws.sqs, queues.dlq)).toEqual([]);
    const moved = await receiveAll(aws.sqs, queues.queue);
    const bodies = moved.map((message) => JSON.parse(message.Body ?? '') as Record<string, unknown>);
    expect(bodies).toHaveLength(3);
    expect(bodies).toContainEqual({ ...bare, requestId: bareId });
    expect(bodies).toContainEqual(withId);
    expect(bodies).toContainEqual(busEvent);
    // What the family handler keys each on, under the message ids they now have
    const keys = moved.map((message) => {
      const parsed = parseMessageBody(message.Body ?? '', message.MessageId ?? '');
      return parsed.ok ? parsed.request.requestId : undefined;
    });
    expect(keys.sort()).toEqual([bareId, 'event-7', 'soar-42'].sort());
  });

  it('moves nothing on --dry-run, and leaves every message it read visible again', async () => {
    // Prepare
    for (let index = 0; index < 3; index++) {
      await send(queues.dlq, { action: 'list connections', requestId: `r-${index}` });
    }

    // Act
    const dry = await redrive('--from', queues.dlq, '--to', queues.queue, '--dry-run');

    // Assess: a real run straight after it finds them all
    expect(dry.status).toBe(0);
    expect(dry.out.at(-1)).toBe('would move 3 messages');
    expect(await receiveAll(aws.sqs, queues.queue)).toEqual([]);
    expect(await receiveAll(aws.sqs, queues.dlq)).toHaveLength(3);
  });

  it('moves one message when --max is 1', async () => {
    for (let index = 0; index < 3; index++) {
      await send(queues.dlq, { action: 'list connections', requestId: `r-${index}` });
    }

    const run = await redrive('--from', queues.dlq, '--to', queues.queue, '--max', '1');

    expect(run.out.at(-1)).toBe('moved 1 message');
    expect(await receiveAll(aws.sqs, queues.queue)).toHaveLength(1);
    expect(await receiveAll(aws.sqs, queues.dlq)).toHaveLength(2);
  });

  it('leaves a message too large for the queue once keyed, names it, and moves the others', async () => {
    // Prepare: a family queue taking 1,024 bytes, and a request without requestId just under it
    const small = await createQueue(`redrive-small-${Date.now()}`, {
      MaximumMessageSize: '1024',
      ...(await redrivePolicy(queues.dlq)),
    });
    const bigId = await send(queues.dlq, {
      action: 'list connections',
      parameters: { note: 'x'.repeat(960) },
    });
    await send(queues.dlq, { action: 'list connections', requestId: 'r-small' });

    // Act
    const run = await redrive('--from', queues.dlq, '--to', small);

    // Assess
    expect(run.status).toBe(1);
    expect(run.out.at(-1)).toBe('moved 1 message, 1 left in the dead-letter queue');
    expect(run.err.join('\n')).toMatch(
      new RegExp(
        `^left ${bigId} in the dead-letter queue: \\d+ bytes with its requestId, over the family queue's 1024; move it by hand`,
      ),
    );
    expect(
      (await receiveAll(aws.sqs, small)).map((message) => JSON.parse(message.Body ?? '').requestId),
    ).toEqual(['r-small']);
    // The message left is visible in the dead-letter queue again, to be moved by hand
    expect((await receiveAll(aws.sqs, queues.dlq)).map((message) => message.MessageId)).toEqual([bigId]);
  });

  it('leaves a request that cannot be written again with its key, and a dry run leaves it visible too', async () => {
    // Prepare: a bus event without a usable id (keyed on the message id) with a field nested too deep to
    // serialise again, and an ordinary request
    const deep = `{"version":"0","id":"","detail-type":"Action Request","source":"s","detail":{"action":"close connection","parameters":{"connection_id":"c"}},"extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const deepId = (await aws.sqs.send(new SendMessageCommand({ QueueUrl: queues.dlq, MessageBody: deep })))
      .MessageId;
    await send(queues.dlq, { action: 'list connections', requestId: 'r-ok' });

    // Act
    const dry = await redrive('--from', queues.dlq, '--to', queues.queue, '--dry-run');
    const run = await redrive('--from', queues.dlq, '--to', queues.queue);

    // Assess: the dry run gave both back; the real run moved the ordinary one and left the other, visible
    expect(dry.out.at(-1)).toBe('would move 1 message, 1 left in the dead-letter queue');
    expect(run.status).toBe(1);
    expect(run.out.at(-1)).toBe('moved 1 message, 1 left in the dead-letter queue');
    expect(run.err.join('\n')).toContain(
      `left ${deepId} in the dead-letter queue: it cannot be given its requestId`,
    );
    expect((await receiveAll(aws.sqs, queues.dlq)).map((message) => message.MessageId)).toEqual([deepId]);
  });

  it('touches nothing when the family queue cannot be read, and says so', async () => {
    // Prepare
    await send(queues.dlq, { action: 'list connections', requestId: 'r-1' });

    // Act
    const run = await redrive('--from', queues.dlq, '--to', `${moto.endpoint}/123456789012/no-such-queue`);

    // Assess: the message is still there, not hidden
    expect(run.status).toBe(1);
    expect(run.err.join('\n')).toMatch(
      /^redrive stopped: Could not read the family queue .*; nothing was moved: /,
    );
    expect(run.out).toEqual([]);
    expect(await receiveAll(aws.sqs, queues.dlq)).toHaveLength(1);
  });

  it('refuses a FIFO family queue before touching a message', async () => {
    const fifo =
      (
        await aws.sqs.send(
          new CreateQueueCommand({
            QueueName: `redrive-${Date.now()}.fifo`,
            Attributes: { FifoQueue: 'true' },
          }),
        )
      ).QueueUrl ?? '';
    await send(queues.dlq, { action: 'list connections', requestId: 'r-1' });

    const run = await redrive('--from', queues.dlq, '--to', fifo);

    expect(run.status).toBe(2);
    expect(run.err.join('\n')).toMatch(/--to names a FIFO queue/);
    expect(await receiveAll(aws.sqs, queues.dlq)).toHaveLength(1);
  });

  it('refuses a family queue whose dead-letter queue is not --from (another family) before touching a message', async () => {
    // Prepare: another family's queue and dead-letter queue
    const other = await queuePair();
    await send(queues.dlq, { action: 'list connections', requestId: 'r-1' });

    // Act
    const run = await redrive('--from', queues.dlq, '--to', other.queue);

    // Assess
    expect(run.status).toBe(2);
    expect(run.err.join('\n')).toMatch(
      /--to \(arn:aws:sqs:[^)]*redrive-queue-[^)]*\) sends its dead letters to arn:[^ ]*redrive-dlq-[^ ]*, not to --from \(arn:[^)]*\): give --to the family queue whose dead-letter queue --from is/,
    );
    expect(run.out).toEqual([]);
    expect(await receiveAll(aws.sqs, queues.dlq)).toHaveLength(1);
    expect(await receiveAll(aws.sqs, other.queue)).toHaveLength(0);
  });

  it('refuses --from and --to swapped, leaving the family queue as it was', async () => {
    // Prepare: a live request in the family queue
    await send(queues.queue, { action: 'list connections', requestId: 'r-live' });

    // Act
    const run = await redrive('--from', queues.queue, '--to', queues.dlq);

    // Assess
    expect(run.status).toBe(2);
    expect(run.err.join('\n')).toMatch(
      /--to \(arn:[^)]*redrive-dlq-[^)]*\) has no dead-letter queue, not to --from/,
    );
    expect(await receiveAll(aws.sqs, queues.queue)).toHaveLength(1);
    expect(await receiveAll(aws.sqs, queues.dlq)).toHaveLength(0);
  });

  it.each([
    [[], /needs --from <dead-letter queue URL> and --to <family queue URL>/],
    [['--from', 'x', '--to', 'https://q'], /--from must be a queue URL/],
    [['--from', 'https://q', '--to', 'https://q'], /--from and --to name the same queue/],
    [['--from', 'https://a', '--to', 'https://b', '--max', '0'], /--max must be a whole number from 1/],
    [['--from', 'https://a', '--to', 'https://b', '--force'], /Unknown option --force/],
  ])('refuses %j as a usage error', async (args, message) => {
    const run = await redrive(...args);
    expect(run.status).toBe(2);
    expect(run.err.join('\n')).toMatch(message);
  });
});
