import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { isRetryableAwsError } from '../config/aws-errors.ts';
import { VaultError } from '../tanium/errors.ts';
import { RESULTS_PREFIX } from './constants.ts';
import { s3ErrorDetails } from './errors.ts';
import { s3ClientConfig } from './s3-config.ts';
import type { ObjectRef } from './types.ts';

/**
 * Where action results too big for an EventBridge entry go (`results/` in the vault bucket). Kept apart
 * from the Vault class so the functions that never touch evidence bundle one S3 client and not
 * lib-storage.
 */
export interface ResultStore {
  putResult(key: string, body: string): Promise<ObjectRef>;
}

/** `results/<requestId>.json`; the id is percent-encoded so a caller-chosen id cannot add key segments. */
export function resultKey(requestId: string): string {
  return `${RESULTS_PREFIX}${encodeURIComponent(requestId)}.json`;
}

/** Stores results with one PutObject. */
export class S3ResultStore implements ResultStore {
  readonly bucket: string;
  private client: S3Client | undefined;

  constructor(bucket: string, client?: S3Client) {
    this.bucket = bucket;
    this.client = client;
  }

  async putResult(key: string, body: string): Promise<ObjectRef> {
    const bytes = Buffer.from(body, 'utf8');
    this.client ??= new S3Client(s3ClientConfig());
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: 'application/json' }),
      );
    } catch (error) {
      throw new VaultError(`Error occurred while storing the result in the vault. ${s3ErrorDetails(error)}`, {
        retryable: isRetryableAwsError(error),
        cause: error,
      });
    }
    return { bucket: this.bucket, key, bytes: bytes.length };
  }
}
