import { isRetryableAwsError } from '../config/aws-errors.ts';
import { TaniumError, TooLargeError, VaultError } from '../tanium/errors.ts';

/** Prefix of every bad-archive message (tanium-api.md 2.17). */
export const ARCHIVE_ERROR_PREFIX = 'Error while creating file. ';
/** Prefix of every S3 failure while storing evidence (tanium-api.md 2.17). */
export const VAULT_ADD_ERROR_PREFIX = 'Error occurred while adding the file to vault. ';
/** Prefix of every failure to store a result too big for an EventBridge event. */
export const RESULT_STORE_FAILED = 'Error occurred while storing the result in the vault. ';

/**
 * The download was not a usable archive: corrupt, truncated, wrong password, AES, no file entry. Kind
 * `tanium` (an unusable 2xx body) and never retried: downloading the same bytes again cannot help.
 */
export class ArchiveError extends TaniumError {
  constructor(details: string, options: { cause?: unknown } = {}) {
    super('tanium', `${ARCHIVE_ERROR_PREFIX}${details}`, { retryable: false, cause: options.cause });
    this.name = 'ArchiveError';
  }
}

export function getFileTooLarge(maxBytes: number): TooLargeError {
  return new TooLargeError(
    `File is larger than the maximum of ${maxBytes} bytes allowed by GET_FILE_MAX_BYTES`,
  );
}

/** All files of one archive together over the cap: a deflate bomb spread over entries each under it. */
export function archiveContentTooLarge(maxBytes: number): TooLargeError {
  return new TooLargeError(
    `Files extracted from the archive total more than the maximum of ${maxBytes} bytes allowed by GET_FILE_MAX_BYTES`,
  );
}

/**
 * Any error the S3 client throws, not only S3's own answers: a timeout or a reset is told by its name,
 * and an answer's HTTP status is added when the error carries one.
 */
type WithResponseMetadata = { $metadata?: { httpStatusCode?: number } };

/**
 * What a status means when S3 answered without an error body (a HEAD never carries one): the SDK then
 * says only `Unknown: UnknownError`.
 */
const BODILESS_MEANINGS: Readonly<Record<number, string>> = {
  301: 'the bucket is in another region than the client',
  400: 'S3 refused the request',
  403: 'access denied: check the function role and the bucket and key policies',
  404: 'no such bucket or object',
};

export function s3ErrorDetails(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as WithResponseMetadata).$metadata?.httpStatusCode;
    if (status !== undefined && error.name === 'Unknown' && error.message === 'UnknownError') {
      return `${BODILESS_MEANINGS[status] ?? 'S3 failed the request'} (HTTP ${status}, no error text)`;
    }
    const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    const suffix = status ? ` (HTTP ${status})` : '';
    // The SDK's own text names no setting; Lambda always sets it, a local run may not.
    const hint = error.message === 'Region is missing' ? ': set AWS_REGION' : '';
    return `${name}${withoutLocalPath(error) || 'unknown error'}${hint}${suffix}`;
  }
  return String(error);
}

/**
 * A file system error's message without the local path Node appends (`ENOENT: ..., open '/tmp/...'`):
 * the message goes into a result event, which must not show the function's file system.
 */
function withoutLocalPath(error: Error): string {
  const { path, dest } = error as NodeJS.ErrnoException & { dest?: unknown };
  let message = error.message;
  for (const local of [dest, path]) {
    if (typeof local === 'string' && local !== '')
      message = message.replaceAll(`'${local}'`, 'the spool file');
  }
  return message.replaceAll(' -> the spool file', '');
}

/**
 * Local storage or descriptors exhausted (a full spool, too many open files): another delivery may land
 * on a fresh container, and a sweep of stale spool files may have freed the space meanwhile.
 */
const EXHAUSTED_LOCAL_CODES = new Set(['ENOSPC', 'EMFILE', 'ENFILE']);

function isLocalExhaustion(error: unknown): boolean {
  return EXHAUSTED_LOCAL_CODES.has((error as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/**
 * Wraps an S3 or spool failure as `Error occurred while adding the file to vault. <details>`, naming the
 * bucket when the failure came from S3 (AWS's own texts often name none).
 */
export function vaultAddError(error: unknown, bucket?: string): VaultError {
  const where = bucket !== undefined && isS3Answer(error) ? ` (bucket ${bucket})` : '';
  return new VaultError(`${VAULT_ADD_ERROR_PREFIX}${s3ErrorDetails(error)}${where}`, {
    retryable: isRetryableAwsError(error) || isLocalExhaustion(error),
    cause: error,
  });
}

/** An error S3 answered (it carries the answer's status), not a spool or network failure. */
function isS3Answer(error: unknown): boolean {
  return (error as WithResponseMetadata | undefined)?.$metadata?.httpStatusCode !== undefined;
}

/** The invocation deadline stopped an upload: retryable, as any timeout is (tanium-api.md 1.7). */
export function deadlinePassedError(cause: unknown): VaultError {
  return new VaultError(
    `${VAULT_ADD_ERROR_PREFIX}The invocation deadline passed before the upload finished`,
    { retryable: true, cause },
  );
}
