import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { abortUpload } from './cleanup.ts';
import { DEFAULTS, OCTET_STREAM } from './constants.ts';
import { vaultAddError } from './errors.ts';

/** One copy inside the bucket, `from` to `to`, with `metadata` replacing the source's. */
export interface CopyRequest {
  bucket: string;
  from: string;
  to: string;
  size: number;
  metadata: Record<string, string>;
  abortSignal?: AbortSignal | undefined;
}

export interface CopyLimits {
  /** Above this size, UploadPartCopy (CopyObject handles up to 5 GiB). */
  multipartCopyThreshold: number;
  /** Range per UploadPartCopy. */
  copyPartSize: number;
}

/**
 * Server-side copy with new metadata; UploadPartCopy above the single-copy limit (5 GiB). Creates `to`
 * only if it does not exist (see Vault.storedMeanwhile); a multipart copy refused so aborts its upload.
 */
export async function copyObject(s3: S3Client, request: CopyRequest, limits: CopyLimits): Promise<void> {
  if (request.size > limits.multipartCopyThreshold) {
    await multipartCopy(s3, request, limits.copyPartSize);
    return;
  }
  const { bucket, from, to, metadata, abortSignal } = request;
  await s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: to,
      CopySource: `${bucket}/${from}`,
      MetadataDirective: 'REPLACE',
      Metadata: metadata,
      ContentType: OCTET_STREAM,
      // A fresh full-object checksum: the source's is a per-part composite of the multipart upload.
      ChecksumAlgorithm: 'CRC32',
      IfNoneMatch: '*',
    }),
    { abortSignal },
  );
}

async function multipartCopy(s3: S3Client, request: CopyRequest, copyPartSize: number): Promise<void> {
  const { bucket, from, to, size, metadata, abortSignal } = request;
  const copySource = `${bucket}/${from}`;
  const created = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: to,
      Metadata: metadata,
      ContentType: OCTET_STREAM,
    }),
    { abortSignal },
  );
  const uploadId = created.UploadId;
  // Without it no part can be copied, and no upload aborted: nothing was started that could be cleaned up.
  if (!uploadId) throw vaultAddError(new Error(`S3 started the multipart copy to ${to} without an UploadId`));
  try {
    const ranges: { partNumber: number; start: number; end: number }[] = [];
    for (let start = 0, partNumber = 1; start < size; start += copyPartSize, partNumber++) {
      ranges.push({ partNumber, start, end: Math.min(size, start + copyPartSize) - 1 });
    }
    const parts: { PartNumber: number; ETag: string }[] = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      // After a failure no new range starts: the upload is about to be aborted.
      while (!failed && next < ranges.length) {
        const range = ranges[next++]!;
        try {
          const result = await s3.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: to,
              UploadId: uploadId,
              PartNumber: range.partNumber,
              CopySource: copySource,
              CopySourceRange: `bytes=${range.start}-${range.end}`,
            }),
            { abortSignal },
          );
          parts.push({ PartNumber: range.partNumber, ETag: result.CopyPartResult?.ETag ?? '' });
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    // Every part in flight settles before the abort (S3 may keep the storage of a part that completes
    // after it), and before incoming/, which the copies read, is deleted.
    const outcomes = await Promise.allSettled(
      Array.from({ length: Math.min(DEFAULTS.queueSize * 2, ranges.length) }, worker),
    );
    const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
    if (rejected) throw rejected.reason;
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: to,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        IfNoneMatch: '*',
      }),
      { abortSignal },
    );
  } catch (error) {
    await abortUpload(s3, bucket, to, uploadId);
    throw error;
  }
}
