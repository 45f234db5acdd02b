import { VaultError } from '../tanium/errors.ts';
import { RESULT_STORE_FAILED, s3ErrorDetails } from './errors.ts';
import type { S3ApiSource } from './result-store.ts';

/**
 * The S3 client package, imported when a result first needs it. The functions without a vault use S3
 * for nothing else and leave the package out of their bundles (infra/bundling.ts), so in Lambda this
 * loads the copy of the AWS SDK the runtime provides; run from the sources, the project's. Node keeps
 * the module once loaded.
 */
export const runtimeS3Api: S3ApiSource = async () => {
  try {
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    return { S3Client, PutObjectCommand };
  } catch (error) {
    throw s3LoadError(error);
  }
};

/**
 * Why the package did not load. Only outside Lambda (a bundle run where no copy of the SDK can be
 * found), and retrying cannot help. Node's text names the bundle's path, which a result must not show.
 */
export function s3LoadError(error: unknown): VaultError {
  const missing = (error as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND';
  const reason = missing
    ? '@aws-sdk/client-s3 was not found (the Lambda runtime provides it)'
    : s3ErrorDetails(error);
  return new VaultError(`${RESULT_STORE_FAILED}The S3 client could not be loaded: ${reason}`, {
    retryable: false,
    cause: error,
  });
}
