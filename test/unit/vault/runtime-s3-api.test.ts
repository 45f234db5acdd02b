import * as s3 from '@aws-sdk/client-s3';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { VaultError } from '../../../shared/tanium/errors.ts';
import { runtimeS3Api, s3LoadError } from '../../../shared/vault/runtime-s3-api.ts';
import { failure } from '../../helpers/failure.ts';

// A bundle that cannot find the package at all is run in test/integration/bundled-function.test.ts.
describe("Results too big for an event: the Lambda runtime's S3 client", () => {
  it('loads the S3 client package when first asked', async () => {
    // Act
    const api = await runtimeS3Api();

    // Assess
    expect(api).toEqual({ S3Client: s3.S3Client, PutObjectCommand: s3.PutObjectCommand });
  });

  it('fails with the vault error saying why when the package does not load', async () => {
    // Prepare: the package throws while it loads, as a broken copy of the SDK would
    vi.doMock('@aws-sdk/client-s3', () => {
      throw new SyntaxError('Unexpected token');
    });
    onTestFinished(() => {
      vi.doUnmock('@aws-sdk/client-s3');
    });

    // Act
    const error = await failure(runtimeS3Api());

    // Assess: not retryable, another delivery would load the same package (the test runner wraps the
    // package's own error, so only the start of the text is the vault's)
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(
      /^Error occurred while storing the result in the vault\. The S3 client could not be loaded: /,
    );
    expect((error as VaultError).retryable).toBe(false);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('says the package is missing, without the bundle path, and that retrying cannot help', () => {
    // Prepare: Node's own error for a bare specifier no node_modules holds.
    const missing = Object.assign(
      new Error("Cannot find package '@aws-sdk/client-s3' imported from /var/task/index.mjs"),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );

    // Act
    const error = s3LoadError(missing);

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toBe(
      'Error occurred while storing the result in the vault. The S3 client could not be loaded: @aws-sdk/client-s3 was not found (the Lambda runtime provides it)',
    );
    expect(error.retryable).toBe(false);
    expect(error.cause).toBe(missing);
  });

  it('passes on why any other load failed', () => {
    // Act
    const error = s3LoadError(new SyntaxError('Unexpected token'));

    // Assess
    expect(error.message).toBe(
      'Error occurred while storing the result in the vault. The S3 client could not be loaded: SyntaxError: Unexpected token',
    );
    expect(error.retryable).toBe(false);
  });

  it('still says the package did not load when the import failed without an error', () => {
    // Act
    const error = s3LoadError(undefined);

    // Assess
    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(
      /^Error occurred while storing the result in the vault\. The S3 client could not be loaded: /,
    );
    expect(error.retryable).toBe(false);
  });
});
