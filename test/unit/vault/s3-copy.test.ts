// The server-side copy from incoming/ to vault/<sha1>, driven directly: which S3 requests it sends, with
// which inputs, and what it leaves behind when one of them fails.

import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type CopyRequest, copyObject } from '../../../shared/vault/s3-copy.ts';
import { failure } from '../../helpers/failure.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { sendOptions } from '../../helpers/sdk-mock.ts';

const BUCKET = 'vault-unit';
const FROM = 'incoming/abc';
const TO = 'vault/0123456789abcdef0123456789abcdef01234567';
const METADATA = { 'file-name': 'big.bin', sha256: 'f'.repeat(64) };

const s3 = mockClient(S3Client);
const client = new S3Client({
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});

function request(size: number, abortSignal?: AbortSignal): CopyRequest {
  return { bucket: BUCKET, from: FROM, to: TO, size, metadata: METADATA, abortSignal };
}

/** The inputs of every call of one command, in the order they were sent. */
function inputs<T extends object>(command: new (input: T) => unknown): T[] {
  return s3
    .calls()
    .filter((call) => call.args[0] instanceof command)
    .map((call) => (call.args[0] as unknown as { input: T }).input);
}

/** The command names of every call, in the order they were sent. */
function sent(): string[] {
  return s3.calls().map((call) => call.args[0].constructor.name);
}

afterEach(() => {
  s3.reset();
});

describe('S3 copy: one CopyObject or a multipart copy', () => {
  it.each([
    ['under the threshold', 9, 'CopyObjectCommand'],
    ['at the threshold', 10, 'CopyObjectCommand'],
    ['over the threshold', 11, 'CreateMultipartUploadCommand'],
  ])('copies an object %s starting with a %s', async (_case, size, first) => {
    // Prepare
    s3.on(CopyObjectCommand).resolves({});
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"copy"' } });
    s3.on(CompleteMultipartUploadCommand).resolves({});

    // Act
    await copyObject(client, request(size), { multipartCopyThreshold: 10, copyPartSize: 4 });

    // Assess: CopyObject copies up to 5 GiB, so the threshold itself still goes in one request
    expect(sent()[0]).toBe(first);
  });

  it('copies in one conditional CopyObject that replaces the metadata, under the abort signal of the request', async () => {
    // Prepare
    s3.on(CopyObjectCommand).resolves({});
    const signal = new AbortController().signal;

    // Act
    await copyObject(client, request(5, signal), { multipartCopyThreshold: 10, copyPartSize: 4 });

    // Assess: the source's checksum is a multipart composite, so a full-object one is asked for; the
    // deadline must be able to stop the copy, not only the requests around it
    expect(inputs(CopyObjectCommand)).toEqual([
      {
        Bucket: BUCKET,
        Key: TO,
        CopySource: `${BUCKET}/${FROM}`,
        MetadataDirective: 'REPLACE',
        Metadata: METADATA,
        ContentType: 'application/octet-stream',
        ChecksumAlgorithm: 'CRC32',
        IfNoneMatch: '*',
      },
    ]);
    expect(s3.calls().map(sendOptions)).toEqual([{ abortSignal: signal }]);
  });
});

describe('S3 copy: the ranges of a multipart copy', () => {
  it.each<[string, number, number, string[]]>([
    ['one byte', 1, 4, ['bytes=0-0']],
    ['less than one range', 3, 4, ['bytes=0-2']],
    ['exactly one range', 4, 4, ['bytes=0-3']],
    ['whole ranges', 8, 4, ['bytes=0-3', 'bytes=4-7']],
    ['a short last range', 10, 4, ['bytes=0-3', 'bytes=4-7', 'bytes=8-9']],
    ['a last range of one byte', 9, 4, ['bytes=0-3', 'bytes=4-7', 'bytes=8-8']],
  ])('copies %s in ranges that end at the last byte of the object', async (_case, size, partSize, ranges) => {
    // Prepare
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber: number }) => ({
      CopyPartResult: { ETag: `"copy-${input.PartNumber}"` },
    }));
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const signal = new AbortController().signal;

    // Act
    await copyObject(client, request(size, signal), { multipartCopyThreshold: 0, copyPartSize: partSize });

    // Assess: a range past the object's end, or an empty one after the last, fails the whole copy
    const numbers = ranges.map((_range, index) => index + 1);
    expect(inputs(CreateMultipartUploadCommand)).toEqual([
      { Bucket: BUCKET, Key: TO, Metadata: METADATA, ContentType: 'application/octet-stream' },
    ]);
    expect(inputs(UploadPartCopyCommand).sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0))).toEqual(
      ranges.map((range, index) => ({
        Bucket: BUCKET,
        Key: TO,
        UploadId: 'upload-1',
        PartNumber: index + 1,
        CopySource: `${BUCKET}/${FROM}`,
        CopySourceRange: range,
      })),
    );
    expect(inputs(CompleteMultipartUploadCommand)).toEqual([
      {
        Bucket: BUCKET,
        Key: TO,
        UploadId: 'upload-1',
        MultipartUpload: { Parts: numbers.map((part) => ({ PartNumber: part, ETag: `"copy-${part}"` })) },
        IfNoneMatch: '*',
      },
    ]);
    // The deadline's signal reaches every request of the copy
    expect(s3.calls().map(sendOptions)).toEqual(s3.calls().map(() => ({ abortSignal: signal })));
  });

  it('completes a part S3 copied without an ETag under an empty one, for S3 to refuse, not the copy to crash', async () => {
    // Prepare
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCopyCommand).resolves({});
    s3.on(CompleteMultipartUploadCommand).resolves({});

    // Act
    await copyObject(client, request(6), { multipartCopyThreshold: 0, copyPartSize: 4 });

    // Assess
    expect(inputs(CompleteMultipartUploadCommand)[0]?.MultipartUpload).toEqual({
      Parts: [
        { PartNumber: 1, ETag: '' },
        { PartNumber: 2, ETag: '' },
      ],
    });
  });

  it.each([
    ['more ranges than copies at a time', 10, 4],
    ['fewer ranges than copies at a time', 3, 3],
  ])('copies %s, never more than four ranges at once', async (_case, parts, most) => {
    // Prepare: each range takes a while, so every copy that may run at once does
    let running = 0;
    let peak = 0;
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber: number }) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(10);
      running--;
      return { CopyPartResult: { ETag: `"copy-${input.PartNumber}"` } };
    });
    s3.on(CompleteMultipartUploadCommand).resolves({});

    // Act
    await copyObject(client, request(parts), { multipartCopyThreshold: 0, copyPartSize: 1 });

    // Assess: every range copied once, as many at a time as the queue allows
    expect(peak).toBe(most);
    expect(
      inputs(UploadPartCopyCommand)
        .map((input) => input.PartNumber)
        .sort((a, b) => a! - b!),
    ).toEqual(Array.from({ length: parts }, (_part, index) => index + 1));
  });
});

describe('S3 copy: a multipart copy that fails', () => {
  it.each<[string, typeof UploadPartCopyCommand | typeof CompleteMultipartUploadCommand]>([
    ['a part copy', UploadPartCopyCommand],
    ['the completion', CompleteMultipartUploadCommand],
  ])('aborts its upload when %s fails, and fails with what S3 answered', async (_case, failing) => {
    // Prepare
    const refused = s3ServiceError('InternalError', 500);
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"copy"' } });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    s3.on(AbortMultipartUploadCommand).resolves({});
    s3.on(failing as typeof UploadPartCopyCommand).rejects(refused);

    // Act
    const error = await failure(
      copyObject(client, request(8), { multipartCopyThreshold: 0, copyPartSize: 4 }),
    );

    // Assess: the caller tells S3's answer by its own kind, so it goes up unwrapped
    expect(error).toBe(refused);
    expect(inputs(AbortMultipartUploadCommand)).toEqual([{ Bucket: BUCKET, Key: TO, UploadId: 'upload-1' }]);
    expect(sent().at(-1)).toBe('AbortMultipartUploadCommand');
  });

  it('completes nothing after a part copy failed, once the one still copying settled', async () => {
    // Prepare: two ranges copy at once; the first fails while the second still runs
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber: number }) => {
      if (input.PartNumber === 1) throw s3ServiceError('InternalError', 500);
      await sleep(20);
      return { CopyPartResult: { ETag: '"copy"' } };
    });
    s3.on(AbortMultipartUploadCommand).resolves({});

    // Act
    const error = await failure(
      copyObject(client, request(8), { multipartCopyThreshold: 0, copyPartSize: 4 }),
    );

    // Assess
    expect(error.name).toBe('InternalError');
    expect(sent()).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCopyCommand',
      'UploadPartCopyCommand',
      'AbortMultipartUploadCommand',
    ]);
  });

  it('copies and aborts nothing when S3 refuses to start it: no upload was started', async () => {
    // Prepare
    const refused = s3ServiceError('AccessDenied', 403);
    s3.on(CreateMultipartUploadCommand).rejects(refused);

    // Act
    const error = await failure(
      copyObject(client, request(8), { multipartCopyThreshold: 0, copyPartSize: 4 }),
    );

    // Assess
    expect(error).toBe(refused);
    expect(sent()).toEqual(['CreateMultipartUploadCommand']);
  });
});
