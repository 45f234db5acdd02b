import { S3ServiceException } from '@aws-sdk/client-s3';

/**
 * An error as the S3 client throws it for an S3 error answer: the vault tells S3's answers (a missing
 * key, a refused conditional write) from other failures by their class, so a plain Error would not do.
 */
export function s3ServiceError(
  name: string,
  status: number,
  message = `${name} happened`,
): S3ServiceException {
  return new S3ServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}
