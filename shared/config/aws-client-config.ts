/** The part of the SDK's `NodeHttpHandlerOptions` set here (a client accepts it as `requestHandler`). */
export interface AwsHttpOptions {
  connectionTimeout: number;
  socketTimeout: number;
}

/**
 * HTTP settings for every AWS client the functions build. The SDK's defaults wait for ever on an S3
 * request that stops answering, and five minutes for the other services: past the function's timeout,
 * where a record on its last attempt would reach the DLQ with no result. With these, a stuck call fails
 * as a retryable error the handler still has time to report.
 */
export const AWS_HTTP_OPTIONS: Readonly<AwsHttpOptions> = {
  /** Connecting to an AWS endpoint takes milliseconds; seconds mean something is wrong. */
  connectionTimeout: 5_000,
  /**
   * Inactivity, not duration: a large upload part or a slow CompleteMultipartUpload keeps the socket
   * busy (S3 sends whitespace while it completes) and is not cut.
   */
  socketTimeout: 30_000,
};

/** Client options with the HTTP settings above; `extra` (endpoint, addressing) is merged in. */
export function awsClientConfig<T extends object>(extra?: T): T & { requestHandler: AwsHttpOptions } {
  return { ...(extra ?? ({} as T)), requestHandler: { ...AWS_HTTP_OPTIONS } };
}
