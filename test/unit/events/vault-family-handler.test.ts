import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RequestObservation } from '../../../shared/events/metrics.ts';
import { FamilyRuntime } from '../../../shared/events/runtime.ts';
import { createFamilyHandler, withVault } from '../../../shared/events/vault-family-handler.ts';
import {
  createFamilyHandler as createReaderFamilyHandler,
  withVaultReader,
} from '../../../shared/events/vault-reader-family-handler.ts';
import { Vault } from '../../../shared/vault/vault.ts';
import { VaultReader } from '../../../shared/vault/vault-reader.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { recordingLogger, recordingMetrics } from './fixtures.ts';

const s3 = mockClient(S3Client);

afterEach(() => {
  s3.reset();
});

describe.each([
  {
    module: 'vault-family-handler (evidence: stores and reads)',
    family: 'evidence' as const,
    withVaultOf: withVault,
    create: createFamilyHandler,
    stores: true,
  },
  {
    module: 'vault-reader-family-handler (intel: reads)',
    family: 'intel' as const,
    withVaultOf: withVaultReader,
    create: createReaderFamilyHandler,
    stores: false,
  },
])('The vault families: $module', ({ family, withVaultOf, create, stores }) => {
  it('build the vault their function needs, and no more', () => {
    // Act
    const vault = new FamilyRuntime(family, withVaultOf({ env: { VAULT_BUCKET: 'vault' } })).vault();

    // Assess: only the evidence function's vault has the store code (and lib-storage) behind it
    expect(vault).toBeInstanceOf(VaultReader);
    expect(vault instanceof Vault).toBe(stores);
    expect(vault !== undefined && 'storeArchive' in vault).toBe(stores);
  });

  it('use one S3 client for the vault and for results too big for an event', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    s3.on(GetObjectCommand).rejects(s3ServiceError('NoSuchKey', 404));
    const options = withVaultOf({ env: { VAULT_BUCKET: 'vault' } });
    // Built on first use, not with the handler: a frozen init must not hold a stale credential
    expect(options.s3Client).toBeUndefined();
    const runtime = new FamilyRuntime(family, options);

    // Act
    await runtime.resultStore().putResult('results/req-1.json', '{}');
    await runtime
      .vault()
      ?.readForIntelDoc('a'.repeat(40))
      .catch(() => undefined);

    // Assess: both calls went out, through one client instance
    expect(s3.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'PutObjectCommand',
      'GetObjectCommand',
    ]);
    expect(new Set(s3.send.thisValues).size).toBe(1);
    // The vault the client was built for reads from VAULT_BUCKET
    expect(runtime.vault()?.bucket).toBe('vault');
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input.Bucket).toBe('vault');
  });

  it('have no vault when VAULT_BUCKET is not set', () => {
    const runtime = new FamilyRuntime(family, withVaultOf({ env: {} }));
    expect(runtime.vault()).toBeUndefined();
  });

  it('get a working family handler from this module', async () => {
    // Prepare: no bus configured, so a direct invocation only returns its result; logs and metrics
    // recorded, not written to the test run's output
    const observations: RequestObservation[] = [];
    const handler = create(family, {
      env: { VAULT_BUCKET: 'vault' },
      logger: recordingLogger([]),
      metrics: recordingMetrics(observations),
    });

    // Act
    const result = await handler({ action: 'no such action', parameters: {}, requestId: 'req-vault-1' });

    // Assess
    expect(result).toMatchObject({ requestId: 'req-vault-1', status: 'failed' });
    expect(observations).toHaveLength(1);
  });

  it('use the S3 client they are given', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const client = new S3Client({ region: 'us-east-1' });
    const runtime = new FamilyRuntime(
      family,
      withVaultOf({ env: { VAULT_BUCKET: 'vault' }, s3Client: client }),
    );

    // Act
    await runtime.resultStore().putResult('results/req-2.json', '{}');

    // Assess
    expect(runtime.vault()?.s3).toBe(client);
    expect(s3.send.thisValues).toHaveLength(1);
    expect(s3.send.thisValues[0]).toBe(client);
  });
});

describe('The evidence vault', () => {
  it("reports what it worked around through the function's logger", async () => {
    // Prepare: the file is stored, only the cleanup of incoming/ fails
    s3.on(PutObjectCommand).resolves({});
    s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
    s3.on(CopyObjectCommand).resolves({});
    s3.on(DeleteObjectCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const client = new S3Client({ region: 'us-east-1' });
    const runtime = new FamilyRuntime(
      'evidence',
      withVault({ env: { VAULT_BUCKET: 'vault' }, s3Client: client, logger }),
    );

    // Act
    await (runtime.vault() as Vault).storeEvidence(Readable.from([Buffer.from('x')]), { fileName: 'x.txt' });

    // Assess
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringMatching(/^Could not delete the incoming object/),
      expect.objectContaining({ bucket: 'vault', error: 'AccessDenied: denied' }),
    );
  });
});
