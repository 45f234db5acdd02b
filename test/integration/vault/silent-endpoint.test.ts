import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_HTTP_OPTIONS } from '../../../shared/config/aws-client-config.ts';
import { VaultError } from '../../../shared/tanium/errors.ts';
import { S3ResultStore } from '../../../shared/vault/result-store.ts';
import { bundledS3Api } from '../../../shared/vault/s3-api.ts';
import { s3ClientConfig } from '../../../shared/vault/s3-config.ts';
import { failure } from '../../helpers/failure.ts';
import { type SilentEndpoint, startSilentEndpoint } from '../../helpers/silent-endpoint.ts';

let silent: SilentEndpoint;
let endpoint = '';

beforeAll(async () => {
  silent = await startSilentEndpoint();
  endpoint = silent.url;
});

afterAll(() => {
  silent.close();
});

describe('An AWS endpoint that stops answering', () => {
  it('gives every S3 client an inactivity timeout, so a stuck call cannot outlive the function', () => {
    expect(AWS_HTTP_OPTIONS.socketTimeout).toBeGreaterThan(0);
    expect(AWS_HTTP_OPTIONS.connectionTimeout).toBeGreaterThan(0);
    expect(s3ClientConfig({ AWS_ENDPOINT_URL: endpoint }).requestHandler).toEqual(AWS_HTTP_OPTIONS);
  });

  it('fails a result store as a retryable vault error once the socket has been idle too long', async () => {
    // Prepare: the stores' own settings, with the inactivity limit shortened for the test
    const client = new S3Client({
      ...s3ClientConfig({ AWS_ENDPOINT_URL: endpoint }),
      requestHandler: { ...AWS_HTTP_OPTIONS, socketTimeout: 300 },
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    const store = new S3ResultStore('bucket', bundledS3Api, client);

    // Act
    const error = await failure(store.putResult('results/x/y.json', '{}'));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error).toMatchObject({ kind: 'vault', retryable: true });
    expect(error.message).toContain('timed out');
    client.destroy();
  });

  it('stops a result write at once when its signal is aborted, whatever the inactivity limit', async () => {
    // Prepare: the production settings, 30 s of inactivity allowed
    const client = new S3Client({
      ...s3ClientConfig({ AWS_ENDPOINT_URL: endpoint }),
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    const store = new S3ResultStore('bucket', bundledS3Api, client);

    // Act
    const error = await failure(store.putResult('results/x/y.json', '{}', AbortSignal.timeout(200)));

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    // The signal ended it, not the 30 s inactivity limit (which the test's own timeout would not outlast)
    expect(error.message).toContain('Request aborted');
    expect(error.message).not.toContain('timed out');
    client.destroy();
  });
});
