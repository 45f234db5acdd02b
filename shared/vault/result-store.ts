import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { isRetryableAwsError } from '../config/aws-errors.ts';
import { VaultError } from '../tanium/errors.ts';
import { RESULTS_PREFIX } from './constants.ts';
import { RESULT_STORE_FAILED, s3ErrorDetails } from './errors.ts';
import { s3ClientConfig } from './s3-config.ts';
import type { ObjectRef } from './types.ts';

/**
 * Where action results too big for an EventBridge entry go (`results/` in the vault bucket). Kept apart
 * from the Vault class so the functions that never touch evidence carry no vault code.
 */
export interface ResultStore {
  /** `signal` cancels the write (the invocation is about to end). */
  putResult(key: string, body: string, signal?: AbortSignal): Promise<ObjectRef>;
}

/** Characters of the encoded request id kept in a result's key: S3 keys end at 1,024 bytes. */
const KEY_ID_CHARS = 200;

/**
 * `results/<requestId>/<digest>.json`. The id is percent-encoded so a caller-chosen id cannot add key
 * segments, its dots too, and an id of one or two dots gets a `_`, so that no URL built from the key
 * resolves out of `results/`; it is cut to 200 characters, between whole characters. The digest is of
 * the stored result itself: every run sharing a request id (another action, a read-only request sent
 * twice, even in the same millisecond) gets its own object, and so does a replay sent with another
 * `context`, which must not rewrite the object an earlier event points to; the same result published
 * again is stored again as it was.
 */
export function resultKey(requestId: string, body: string): string {
  const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
  // Encoded a character at a time and cut before the one that would pass the limit: a cut inside one
  // character's escapes would leave a partial UTF-8 sequence, which decodeURIComponent refuses.
  let id = '';
  for (const char of requestId) {
    const encoded = encodeURIComponent(char).replaceAll('.', '%2E');
    if (id.length + encoded.length > KEY_ID_CHARS) break;
    id += encoded;
  }
  // WHATWG URL takes '%2E' and '%2E%2E' for dot segments too; the digest keeps such ids' results apart.
  const segment = /^(%2E){1,2}$/.test(id) ? `${id}_` : id;
  return `${RESULTS_PREFIX}${segment}/${digest}.json`;
}

/** What a result store needs of the S3 client package. */
export type S3Api = Pick<typeof import('@aws-sdk/client-s3'), 'S3Client' | 'PutObjectCommand'>;

/**
 * Where the S3 client package comes from: the function's bundle (s3-api.ts) where its vault bundles it
 * anyway, the Lambda runtime's AWS SDK otherwise (runtime-s3-api.ts). Called at each write; it fails
 * with a VaultError.
 */
export type S3ApiSource = () => Promise<S3Api>;

/** Stores results with one PutObject. */
export class S3ResultStore implements ResultStore {
  readonly bucket: string;
  private readonly api: S3ApiSource;
  private client: S3Client | undefined;

  /** `client` is one to share (the vault's); else the store builds its own at the first write. */
  constructor(bucket: string, api: S3ApiSource, client?: S3Client) {
    this.bucket = bucket;
    this.api = api;
    this.client = client;
  }

  async putResult(key: string, body: string, signal?: AbortSignal): Promise<ObjectRef> {
    const bytes = Buffer.from(body, 'utf8');
    const { PutObjectCommand, S3Client } = await this.api();
    this.client ??= new S3Client(s3ClientConfig());
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      Body: bytes,
      ContentType: 'application/json',
    });
    try {
      await (signal ? this.client.send(command, { abortSignal: signal }) : this.client.send(command));
    } catch (error) {
      throw new VaultError(`${RESULT_STORE_FAILED}${s3ErrorDetails(error)}`, {
        retryable: isRetryableAwsError(error),
        cause: error,
      });
    }
    return { bucket: this.bucket, key, bytes: bytes.length };
  }
}
