import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VaultError } from '../../../shared/tanium/errors.ts';
import { CLEANUP_WAIT_MS } from '../../../shared/vault/cleanup.ts';
import { Vault, type VaultOptions } from '../../../shared/vault/vault.ts';
import { buildZip } from '../../emulator/zip.ts';
import { failure } from '../../helpers/failure.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';

const BUCKET = 'vault-unit';
const VAULT_ID = 'a'.repeat(40);

const s3 = mockClient(S3Client);

function vault(options: Partial<VaultOptions> = {}): Vault {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return new Vault({ bucket: BUCKET, client, ...options });
}

/**
 * An S3 call that never answers, as over a stalled connection. The mock does not see the SDK's abort
 * signal, so only a race bounds the wait.
 */
function neverAnswers(): Promise<never> {
  return new Promise(() => undefined);
}

afterEach(() => {
  s3.reset();
});

describe('Vault: S3 calls that never answer', () => {
  it('stores a streamed file when deleting incoming/ gets no answer, with a warning', async () => {
    // Prepare: the copy to vault/<sha1> succeeds, the delete of incoming/ then stalls
    const logger = { warn: vi.fn() };
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(PutObjectCommand).resolves({});
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(CopyObjectCommand).resolves({});
    s3.on(DeleteObjectCommand).callsFake(neverAnswers);
    const body = Buffer.from('evidence');

    // Act
    const stored = await vault({ spoolMaxBytes: 0, logger }).storeEvidence(Readable.from([body]), {
      fileName: 'a.txt',
      requestId: 'req-slow-delete',
    });

    // Assess: the file is stored; the bucket's lifecycle rule expires incoming/
    const incoming = s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input.Key;
    expect(stored).toMatchObject({ key: `vault/${stored.sha1}`, size: body.length, alreadyStored: false });
    expect(incoming).toMatch(/^incoming\//);
    expect(logger.warn).toHaveBeenCalledWith(
      'Could not delete the incoming object after storing the file; the lifecycle rule of the bucket expires it',
      {
        correlation_id: 'req-slow-delete',
        bucket: BUCKET,
        key: incoming,
        error: `no answer within ${CLEANUP_WAIT_MS} ms`,
      },
    );
  });

  it.each(['archive', 'both'] as const)(
    'stops storing the archive itself at the deadline when S3 does not answer (keep=%s)',
    async (keep) => {
      // Prepare: every file is stored but the archive, whose copy to vault/<sha1> never gets an answer
      s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
      s3.on(PutObjectCommand).resolves({});
      s3.on(DeleteObjectCommand).resolves({});
      s3.on(CopyObjectCommand).callsFake(async (input: { Metadata?: Record<string, string> }) =>
        input.Metadata?.['file-name'] === 'a.zip' ? neverAnswers() : {},
      );
      const archive = await buildZip([
        {
          name: 'a.txt',
          data: Buffer.from('evidence'),
          method: 'store',
          encryption: 'zipcrypto',
          password: 'infected',
          dataDescriptor: false,
          mtime: new Date('2024-01-15T10:00:00Z'),
        },
      ]);

      // Act
      const error = await failure(
        vault({ spoolMaxBytes: 0 }).storeArchive(Readable.from([archive]), {
          archiveName: 'a.zip',
          fileId: 'file-1',
          maxBytes: 1024 * 1024,
          keep,
          deadline: Date.now() + 300,
        }),
      );

      // Assess: a retryable failure, so the request is delivered again instead of timing out
      expect(error).toBeInstanceOf(VaultError);
      expect(error.message).toBe(
        'Error occurred while adding the file to vault. The invocation deadline passed before the upload finished',
      );
      expect((error as VaultError).retryable).toBe(true);
    },
  );

  it('stops reading an intel document at the deadline when S3 does not answer', async () => {
    // Prepare
    s3.on(GetObjectCommand).callsFake(neverAnswers);

    // Act
    const error = await failure(vault().readForIntelDoc(VAULT_ID, 1024, Date.now() + 50));

    // Assess: a retryable failure, so the request is delivered again instead of timing out
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Unable to read vault_id ${VAULT_ID} from the vault: the invocation deadline passed before the document was read`,
    );
    expect((error as VaultError).retryable).toBe(true);
  });

  it('stops reading an intel document at the deadline when its body stalls', async () => {
    // Prepare: the first bytes arrive, the rest never does
    const body = new Readable({ read() {} });
    body.push(Buffer.from('<OpenIOC>'));
    s3.on(GetObjectCommand).resolves({ Body: body as never, ContentLength: 100 });

    // Act
    const error = await failure(vault().readForIntelDoc(VAULT_ID, 1024, Date.now() + 50));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      `Unable to read vault_id ${VAULT_ID} from the vault: the invocation deadline passed before the document was read`,
    );
    expect((error as VaultError).retryable).toBe(true);
    expect(body.destroyed).toBe(true);
  });
});
