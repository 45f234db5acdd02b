import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultError } from '../../../shared/tanium/errors.ts';
import { CLEANUP_WAIT_MS } from '../../../shared/vault/cleanup.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import { failure } from '../../helpers/failure.ts';
import { type MotoServer, startMoto } from '../../helpers/moto.ts';

const BUCKET = 'vault-deadline-test';
const MiB = 1024 * 1024;

let moto: MotoServer;
let s3: S3Client;
const spoolDir = mkdtempSync(join(tmpdir(), 'vault-deadline-'));

beforeAll(async () => {
  moto = await startMoto();
  moto.applyEnv();
  s3 = new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  rmSync(spoolDir, { recursive: true, force: true });
  await moto?.stop();
});

async function bucketState(bucket = BUCKET): Promise<{ keys: string[]; uploads: number }> {
  const objects = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return {
    keys: (objects.Contents ?? []).map((object) => object.Key!).sort(),
    uploads: uploads.Uploads?.length ?? 0,
  };
}

/**
 * A client of its own on moto whose `commands` S3 holds, before the request is sent (a slow S3), until
 * `heldMs` after the deadline. `sent` has one promise per held call, settled once S3 answered it.
 */
function holdingClient(
  commands: string[],
  deadline: number,
  heldMs: number,
): { client: S3Client; sent: Promise<unknown>[] } {
  const client = new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  const sent: Promise<unknown>[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!commands.includes(context.commandName ?? '')) return next(args);
      const call = delay(Math.max(0, deadline - Date.now()) + heldMs).then(() => next(args));
      sent.push(call);
      return call;
    },
    { step: 'finalizeRequest', name: 'hold' },
  );
  return { client, sent };
}

/** A call to a held command: the abort signal it was sent with, and whether it has settled. */
interface HeldCall {
  command: string;
  signal: AbortSignal | undefined;
  /** Whether the signal had already fired when the call was made (the deadline came before it). */
  abortedWhenSent: boolean;
  settled: boolean;
  done: Promise<unknown>;
}

/**
 * A client of its own on moto whose `commands` S3 holds until the test calls `release`: before the
 * request is sent (a slow S3), or, `answered`, after S3 has done the work (an answer that comes late).
 * Nothing but `release` ends the hold, so a caller that settles while a call is held did not wait for it.
 */
function gatedClient(
  commands: string[],
  { answered = false }: { answered?: boolean } = {},
): { client: S3Client; held: HeldCall[]; release(): Promise<void> } {
  const client = new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const held = commands.includes(context.commandName ?? '');
      if (held && !answered) await gate;
      const result = await next(args);
      if (held && answered) await gate;
      return result;
    },
    { step: 'finalizeRequest', name: 'hold' },
  );
  const held: HeldCall[] = [];
  const send = client.send.bind(client) as (command: object, options?: unknown) => Promise<unknown>;
  client.send = ((command: object, options?: { abortSignal?: AbortSignal }) => {
    const sent = send(command, options);
    const name = command.constructor.name;
    if (commands.includes(name)) {
      const signal = options?.abortSignal;
      const call: HeldCall = {
        command: name,
        signal,
        abortedWhenSent: signal?.aborted ?? false,
        settled: false,
        done: sent,
      };
      sent.then(
        () => (call.settled = true),
        () => (call.settled = true),
      );
      held.push(call);
    }
    return sent;
  }) as S3Client['send'];
  return {
    client,
    held,
    async release() {
      open();
      await Promise.allSettled(held.map((call) => call.done));
    },
  };
}

/**
 * How long a test gives the vault to reach its held call, so that the deadline comes after that call is
 * made: the vault gets there within about 50 ms of the store starting on the streamed path, and within
 * about 300 ms on the spooled one (12 MiB written and hashed first), several times that on a machine
 * busy with other work: 1 s was seen to fall short there, and 2.5 s with the whole suite running beside
 * two mutation-testing runs on two cores. Only the test's release ends a gated hold, so nothing else
 * depends on this margin; it costs the two spooled tests that much time each.
 */
const REACH_HELD_CALL_MS = 5_000;

const DEADLINE_PASSED =
  'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished';

/** Stores `body` as `fileName` under a 64 MiB cap and `deadline`. */
function store(vault: Vault, body: Buffer, fileName: string, deadline: number) {
  return vault.storeEvidence(Readable.from([body]), { fileName }, { maxBytes: 64 * MiB, deadline });
}

describe('Vault: the invocation deadline in the middle of a spooled upload', () => {
  it('aborts the multipart upload before failing, though a part is still in flight', async () => {
    // Prepare: every part is held in flight until the test lets it go, as a slow S3 would
    const body = randomBytes(12 * MiB);
    const slow = gatedClient(['UploadPartCommand']);
    const vault = new Vault({ bucket: BUCKET, client: slow.client, spoolDir });
    const deadline = Date.now() + REACH_HELD_CALL_MS;

    // Act
    const error = await failure(store(vault, body, 'memory.dmp', deadline));
    const parts = slow.held.map((call) => [call.abortedWhenSent, call.settled]);
    const whenFailed = await bucketState();
    await slow.release();
    const afterwards = await bucketState();

    // Assess: nothing waits on the parts lib-storage still has in flight (they were all still held when
    // the store failed), or on a later cleanup; the parts S3 gets afterwards store nothing
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(error).toMatchObject({ retryable: true });
    expect(parts.length).toBeGreaterThan(0);
    expect(parts.every(([abortedWhenSent, settled]) => !abortedWhenSent && !settled)).toBe(true);
    expect(whenFailed).toEqual({ keys: [], uploads: 0 });
    expect(afterwards).toEqual({ keys: [], uploads: 0 });
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('fails within the cleanup bound of the deadline when S3 holds the abort too', async () => {
    // Prepare: a client of its own whose parts and abort are both held until the test releases them
    const body = randomBytes(12 * MiB);
    const slow = gatedClient(['UploadPartCommand', 'AbortMultipartUploadCommand']);
    const vault = new Vault({ bucket: BUCKET, client: slow.client, spoolDir });
    const deadline = Date.now() + REACH_HELD_CALL_MS;

    try {
      // Act
      const error = await failure(store(vault, body, 'pagefile.sys', deadline));
      const parts = slow.held.filter((call) => call.command === 'UploadPartCommand');
      const aborts = slow.held.filter((call) => call.command === 'AbortMultipartUploadCommand');

      // Assess: the vault sent the abort and gave up on it (its cleanup bound cancelled it) while S3
      // still held it, so the failure did not wait on the abort; the spool file is gone. The parts are
      // left to lib-storage's own abort and the lifecycle rule
      expect(error.message).toBe(DEADLINE_PASSED);
      expect(parts.length).toBeGreaterThan(0);
      expect(parts.every((call) => !call.abortedWhenSent && !call.settled)).toBe(true);
      expect(aborts.map((call) => [call.settled, call.signal?.aborted])).toEqual([[false, true]]);
      expect(readdirSync(spoolDir)).toEqual([]);
    } finally {
      await slow.release();
    }
  });
});

describe('Vault: the invocation deadline after a streamed upload', () => {
  it('stops the copy to the content address at the deadline and removes the incoming object', async () => {
    // Prepare: a file streamed through incoming/ (no spool), whose copy S3 holds far past the deadline;
    // a bucket of its own, since the test above leaves its parts to the lifecycle rule
    const bucket = `${BUCKET}-streamed`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(2 * MiB);
    const deadline = Date.now() + REACH_HELD_CALL_MS;
    const slow = gatedClient(['CopyObjectCommand']);
    const vault = new Vault({ bucket, client: slow.client, spoolDir, spoolMaxBytes: 0 });

    // Act
    const error = await failure(store(vault, body, 'hiberfil.sys', deadline));
    const [copy] = slow.held;
    const copyHeldAtFailure = copy?.settled === false;
    const whenFailed = await bucketState(bucket);
    await slow.release();

    // Assess: failed while the copy was still held, the copy cancelled by the deadline, and nothing
    // stored then or once S3 let the copy go
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(error).toMatchObject({ retryable: true });
    expect(slow.held).toHaveLength(1);
    expect(copy?.abortedWhenSent).toBe(false);
    expect(copyHeldAtFailure).toBe(true);
    expect(copy?.signal?.aborted).toBe(true);
    expect(whenFailed).toEqual({ keys: [], uploads: 0 });
    expect(await bucketState(bucket)).toEqual({ keys: [], uploads: 0 });
  });
});

describe('Vault: the deadline and S3 requests already under way on the streamed path', () => {
  it('waits for a PutObject in flight at the deadline before deleting incoming/, so none is left', async () => {
    // Prepare: a file of one part, whose PutObject S3 takes until just after the deadline to store
    const bucket = `${BUCKET}-put`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(MiB);
    const deadline = Date.now() + REACH_HELD_CALL_MS;
    const slow = holdingClient(['PutObjectCommand'], deadline, CLEANUP_WAIT_MS / 2);
    const vault = new Vault({ bucket, client: slow.client, spoolDir, spoolMaxBytes: 0 });

    // Act: the state is read once S3 has answered the PutObject, so one that landed after the delete
    // of incoming/ would be seen
    const error = await failure(store(vault, body, 'small.bin', deadline));
    await Promise.allSettled(slow.sent);

    // Assess
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(slow.sent).toHaveLength(1);
    expect(await bucketState(bucket)).toEqual({ keys: [], uploads: 0 });
  });

  it('reports a file whose copy S3 finished but answered after the deadline as stored', async () => {
    // Prepare: the copy to vault/<sha1> is done at once; its answer comes well after the deadline
    const bucket = `${BUCKET}-late-answer`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(MiB);
    const deadline = Date.now() + REACH_HELD_CALL_MS;
    const slow = gatedClient(['CopyObjectCommand'], { answered: true });
    const vault = new Vault({ bucket, client: slow.client, spoolDir, spoolMaxBytes: 0 });

    try {
      // Act
      const stored = await store(vault, body, 'late.bin', deadline);
      const [copy] = slow.held;

      // Assess: reported stored without waiting for the held answer, which the deadline cancelled
      expect(stored).toMatchObject({ alreadyStored: false, size: MiB });
      expect(slow.held).toHaveLength(1);
      expect(copy?.abortedWhenSent).toBe(false);
      expect(copy?.settled).toBe(false);
      expect(copy?.signal?.aborted).toBe(true);
      expect(await bucketState(bucket)).toEqual({ keys: [stored.key], uploads: 0 });
    } finally {
      await slow.release();
    }
  });
});
