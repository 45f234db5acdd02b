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
import { CLEANUP_WAIT_MS, Vault } from '../../../shared/vault/vault.ts';
import { failure } from '../../helpers/failure.ts';
import { type MotoServer, startMoto } from '../../helpers/moto.ts';

const BUCKET = 'vault-deadline-test';
const MiB = 1024 * 1024;
/** How long a part stays in flight after the deadline: longer than the vault may take to give up. */
const PART_HELD_MS = 1_500;

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
 * A client of its own on moto whose `commands` S3 holds until `heldMs` after the deadline: before the
 * request is sent (a slow S3), or, `answered`, after S3 has done the work (an answer that comes late).
 */
function holdingClient(
  commands: string[],
  deadline: number,
  heldMs: number,
  { answered = false }: { answered?: boolean } = {},
): S3Client {
  const client = new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  const hold = () => delay(Math.max(0, deadline - Date.now()) + heldMs);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const held = commands.includes(context.commandName ?? '');
      if (held && !answered) await hold();
      const result = await next(args);
      if (held && answered) await hold();
      return result;
    },
    { step: 'finalizeRequest', name: 'hold' },
  );
  return client;
}

const DEADLINE_PASSED =
  'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished';

/** Stores `body` as `fileName` under a 64 MiB cap and `deadline`. */
function store(vault: Vault, body: Buffer, fileName: string, deadline: number) {
  return vault.storeEvidence(Readable.from([body]), { fileName }, { maxBytes: 64 * MiB, deadline });
}

describe('Vault: the invocation deadline in the middle of a spooled upload', () => {
  it('aborts the multipart upload before failing, though a part is still in flight', async () => {
    // Prepare: every part is held in flight until well after the deadline, as a slow S3 would
    const deadline = Date.now() + 2_000;
    const slow = holdingClient(['UploadPartCommand'], deadline, PART_HELD_MS);
    const vault = new Vault({ bucket: BUCKET, client: slow, spoolDir });
    const body = randomBytes(12 * MiB);

    // Act
    const error = await failure(store(vault, body, 'memory.dmp', deadline));
    const whenFailed = await bucketState();
    await delay(PART_HELD_MS + 500);
    const afterwards = await bucketState();

    // Assess: nothing waits on the parts lib-storage still has in flight, or on a later cleanup
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(error).toMatchObject({ retryable: true });
    expect(whenFailed).toEqual({ keys: [], uploads: 0 });
    expect(afterwards).toEqual({ keys: [], uploads: 0 });
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('fails within the cleanup bound of the deadline when S3 holds the abort too', async () => {
    // Prepare: a client of its own whose parts and abort are both held far past the deadline
    const deadline = Date.now() + 2_000;
    const slow = holdingClient(['UploadPartCommand', 'AbortMultipartUploadCommand'], deadline, 8_000);
    const vault = new Vault({ bucket: BUCKET, client: slow, spoolDir });

    // Act
    const error = await failure(store(vault, randomBytes(12 * MiB), 'pagefile.sys', deadline));
    const lateBy = Date.now() - deadline;

    // Assess: the failure does not wait on the abort, and the spool file is gone; the parts are left
    // to lib-storage's own abort and the lifecycle rule
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(lateBy).toBeLessThan(CLEANUP_WAIT_MS + 1_000);
    expect(readdirSync(spoolDir)).toEqual([]);
  });
});

describe('Vault: the invocation deadline after a streamed upload', () => {
  it('stops the copy to the content address at the deadline and removes the incoming object', async () => {
    // Prepare: a file streamed through incoming/ (no spool), whose copy S3 holds far past the deadline;
    // a bucket of its own, since the test above leaves its parts to the lifecycle rule
    const bucket = `${BUCKET}-streamed`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const deadline = Date.now() + 1_500;
    const slow = holdingClient(['CopyObjectCommand'], deadline, 8_000);
    const vault = new Vault({ bucket, client: slow, spoolDir, spoolMaxBytes: 0 });

    // Act
    const error = await failure(store(vault, randomBytes(2 * MiB), 'hiberfil.sys', deadline));
    const lateBy = Date.now() - deadline;

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(error).toMatchObject({ retryable: true });
    expect(lateBy).toBeLessThan(2 * CLEANUP_WAIT_MS + 1_000);
    expect(await bucketState(bucket)).toEqual({ keys: [], uploads: 0 });
  });
});

describe('Vault: the deadline and S3 requests already under way on the streamed path', () => {
  it('waits for a PutObject in flight at the deadline before deleting incoming/, so none is left', async () => {
    // Prepare: a file of one part, whose PutObject S3 takes until just after the deadline to store
    const bucket = `${BUCKET}-put`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const deadline = Date.now() + 1_000;
    const slow = holdingClient(['PutObjectCommand'], deadline, CLEANUP_WAIT_MS / 2);
    const vault = new Vault({ bucket, client: slow, spoolDir, spoolMaxBytes: 0 });

    // Act
    const error = await failure(store(vault, randomBytes(MiB), 'small.bin', deadline));
    await delay(CLEANUP_WAIT_MS * 2);

    // Assess
    expect(error.message).toBe(DEADLINE_PASSED);
    expect(await bucketState(bucket)).toEqual({ keys: [], uploads: 0 });
  });

  it('reports a file whose copy S3 finished but answered after the deadline as stored', async () => {
    // Prepare: the copy to vault/<sha1> is done at once; its answer comes well after the deadline
    const bucket = `${BUCKET}-late-answer`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const deadline = Date.now() + 1_000;
    const slow = holdingClient(['CopyObjectCommand'], deadline, 5_000, { answered: true });
    const vault = new Vault({ bucket, client: slow, spoolDir, spoolMaxBytes: 0 });

    // Act
    const stored = await store(vault, randomBytes(MiB), 'late.bin', deadline);
    const lateBy = Date.now() - deadline;

    // Assess
    expect(stored).toMatchObject({ alreadyStored: false, size: MiB });
    expect(lateBy).toBeLessThan(2 * CLEANUP_WAIT_MS + 1_000);
    expect(await bucketState(bucket)).toEqual({ keys: [stored.key], uploads: 0 });
  });
});
