import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type MotoServer, resetMoto, startMoto } from './moto.ts';

/**
 * For a test file on S3: moto started once for the file (its standard variables applied), and before
 * each test its state reset and `bucket` created empty (`reset()` does it again). `s3` is a client for
 * it, usable once moto runs (it reads moto's address, `endpoint()`, when it sends).
 */
export function useMotoBucket(bucket: string): {
  s3: S3Client;
  endpoint(): string;
  reset(): Promise<void>;
} {
  let moto: MotoServer | undefined;
  const endpoint = () => {
    if (!moto) throw new Error('moto starts in beforeAll: use the S3 client inside a test');
    return moto.endpoint;
  };
  const s3 = new S3Client({
    endpoint: async () => ({ url: new URL(endpoint()) }),
    forcePathStyle: true,
    region: 'us-east-1',
  });
  beforeAll(async () => {
    moto = await startMoto();
    moto.applyEnv();
  });
  afterAll(async () => {
    s3.destroy();
    await moto?.stop();
  });
  const reset = async () => {
    await resetMoto(endpoint());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  };
  beforeEach(reset);
  return { s3, endpoint, reset };
}
