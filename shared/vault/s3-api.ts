import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3ApiSource } from './result-store.ts';

/** The S3 client package of the bundle: for the functions whose vault bundles it anyway. */
export const bundledS3Api: S3ApiSource = async () => ({ S3Client, PutObjectCommand });
