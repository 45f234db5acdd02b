import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { VaultError } from '../tanium/errors.ts';
import { RESULTS_PREFIX } from '../vault/constants.ts';
import { isRetryableS3Error, s3ErrorDetails } from '../vault/errors.ts';
import type { DataRef } from './result.ts';

/**
 * Where results too big for an EventBridge entry go. The vault's `Vault.putResult` has the same shape;
 * this one exists so the functions that never touch evidence do not bundle the vault (and lib-storage).
 */
export interface ResultStore {
  putResult(key: string, body: string): Promise<DataRef>;
}

/** `results/<requestId>.json`, the id percent-encoded so a caller-chosen id cannot add key segments. */
export function resultObjectKey(requestId: string): string {
  return `${RESULTS_PREFIX}${encodeURIComponent(requestId)}.json`;
}

/** S3 client settings: path-style addressing when an endpoint override (moto, local S3) is configured. */
export function s3Config(env: Record<string, string | undefined> = process.env) {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return endpoint ? { endpoint, forcePathStyle: true } : {};
}

/** Stores results with one PutObject into the vault bucket. */
export class S3ResultStore implements ResultStore {
  readonly bucket: string;
  private client: S3Client | undefined;

  constructor(bucket: string, client?: S3Client) {
    this.bucket = bucket;
    this.client = client;
  }

  async putResult(key: string, body: string): Promise<DataRef> {
    const bytes = Buffer.from(body, 'utf8');
    this.client ??= new S3Client(s3Config());
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: 'application/json' }),
      );
    } catch (error) {
      throw new VaultError(`Error occurred while storing the result in the vault. ${s3ErrorDetails(error)}`, {
        retryable: isRetryableS3Error(error),
        cause: error,
      });
    }
    return { bucket: this.bucket, key, bytes: bytes.length };
  }
}
