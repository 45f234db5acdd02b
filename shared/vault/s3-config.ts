import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { awsClientConfig } from '../config/aws-client-config.ts';

/**
 * S3 client settings: the shared HTTP timeouts, and path-style addressing when an endpoint override
 * (moto, local S3) is configured.
 */
export function s3ClientConfig(env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return awsClientConfig<S3ClientConfig>(endpoint ? { endpoint, forcePathStyle: true } : {});
}
