import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_SETTINGS, esbuildBuildOptions } from '../../infra/bundling.ts';
import { PROJECT_ROOT } from '../../infra/constructs/tanium-function.ts';
import { type MotoServer, startMoto } from '../helpers/moto.ts';
import { type Emulator, startTestEmulator } from '../helpers/tanium.ts';

const run = promisify(execFile);
const SECRET = 'tanium-tr/bundled';
const BUS = 'bundled-bus';
const BUCKET = 'bundled-vault';
const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const LAMBDA_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
/** A context that makes a result too big for an EventBridge event (the result echoes it). */
const OVERSIZED_CONTEXT = { note: 'x'.repeat(300_000) };

/**
 * The deployed bundle, not the sources: the stack leaves out of it the credential providers Lambda never
 * reaches and, in the functions without a vault, the S3 client (infra/bundling.ts). So this shows the
 * bundle still reads its secret with the credentials Lambda puts in the environment and stores a result
 * too big for an event with the runtime's S3 client, and says what is missing when either is not there.
 */
describe('a bundled function in a fresh process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bundled-function-'));
  const bundle = join(dir, BUNDLE_SETTINGS.outFile);
  /**
   * The same bundle where `@aws-sdk/client-s3` resolves, as in Lambda, whose runtime provides the AWS
   * SDK: the functions without a vault leave the S3 client out (infra/bundling.ts).
   */
  const withRuntimeSdk = join(dir, 'task');
  const runtimeBundle = join(withRuntimeSdk, BUNDLE_SETTINGS.outFile);
  let moto: MotoServer;
  let emulator: Emulator;

  beforeAll(async () => {
    [moto, emulator] = await Promise.all([startMoto(), startTestEmulator()]);
    const aws = { endpoint: moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS };
    const eventBridge = new EventBridgeClient(aws);
    const s3 = new S3Client({ ...aws, forcePathStyle: true });
    await Promise.all([
      eventBridge.send(new CreateEventBusCommand({ Name: BUS })),
      s3.send(new CreateBucketCommand({ Bucket: BUCKET })),
    ]);
    eventBridge.destroy();
    s3.destroy();
    const secrets = new SecretsManagerClient(aws);
    await secrets.send(
      new CreateSecretCommand({
        Name: SECRET,
        SecretString: JSON.stringify({
          base_url: emulator.url,
          api_token: emulator.credentials.apiToken,
          ca_bundle: emulator.ca,
        }),
      }),
    );
    secrets.destroy();
    await Promise.all(
      [bundle, runtimeBundle].map((outfile) =>
        esbuild.build({ ...esbuildBuildOptions('connections', outfile), logLevel: 'error' }),
      ),
    );
    mkdirSync(join(withRuntimeSdk, 'node_modules', '@aws-sdk'), { recursive: true });
    symlinkSync(
      join(PROJECT_ROOT, 'node_modules', '@aws-sdk', 'client-s3'),
      join(withRuntimeSdk, 'node_modules', '@aws-sdk', 'client-s3'),
      'dir',
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all([moto?.stop(), emulator?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Invokes a bundle's handler directly with test connectivity (no bus unless `env` names one). */
  async function invoke(
    env: Record<string, string>,
    options: { file?: string; requestId?: string; oversized?: boolean } = {},
  ): Promise<{ status: string; message: string; context?: unknown }> {
    const { file = bundle, requestId = 'bundled-req', oversized = false } = options;
    const event = { action: 'test connectivity', parameters: {}, requestId };
    // Built in the child: an environment variable holds far less than the context.
    const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});
const context = { awsRequestId: 'bundled-1', functionName: 'bundled', getRemainingTimeInMillis: () => 30000 };
const event = JSON.parse(process.env.BUNDLED_EVENT);
if (${oversized}) event.context = { note: 'x'.repeat(${OVERSIZED_CONTEXT.note.length}) };
process.stdout.write(JSON.stringify(await handler(event, context)));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: moto.endpoint,
        TANIUM_SECRET_ID: SECRET,
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        BUNDLED_EVENT: JSON.stringify(event),
        ...env,
      },
      timeout: 30_000,
      maxBuffer: 10 * 1024 * 1024,
    });
    return JSON.parse(stdout) as { status: string; message: string; context?: unknown };
  }

  /** The results the vault bucket holds under `results/<requestId>/`. */
  async function storedResults(requestId: string): Promise<unknown[]> {
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: MOTO_CREDENTIALS,
      forcePathStyle: true,
    });
    try {
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `results/${requestId}/` }),
      );
      return await Promise.all(
        (listed.Contents ?? []).map(async ({ Key }) => {
          const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
          return JSON.parse((await object.Body?.transformToString()) ?? '');
        }),
      );
    } finally {
      s3.destroy();
    }
  }

  it('reads its secret with the credentials in the environment, as in Lambda', async () => {
    // Act
    const result = await invoke(LAMBDA_CREDENTIALS);

    // Assess
    expect(result).toMatchObject({ status: 'success', message: 'Test Connectivity Passed' });
  }, 40_000);

  it("names undici's HTTP parser without SIMD, left out, when a process asks for it", async () => {
    // Act
    const result = await invoke({ ...LAMBDA_CREDENTIALS, UNDICI_NO_WASM_SIMD: '1' });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toContain("Cannot find module '../llhttp/llhttp-wasm.js'");
  }, 40_000);

  it('names the provider left out when the environment has no credentials', async () => {
    // Act
    const result = await invoke({});

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toContain('@aws-sdk/credential-provider-');
  }, 40_000);

  it("stores a result too big for an event with the Lambda runtime's S3 client", async () => {
    // Act
    const result = await invoke(
      { ...LAMBDA_CREDENTIALS, EVENT_BUS_NAME: BUS, VAULT_BUCKET: BUCKET },
      { file: runtimeBundle, requestId: 'oversized-1', oversized: true },
    );

    // Assess: the caller gets the whole result back; the event's copy is in the vault
    expect(result).toMatchObject({ status: 'success', context: OVERSIZED_CONTEXT });
    expect(await storedResults('oversized-1')).toEqual([
      expect.objectContaining({ requestId: 'oversized-1', status: 'success', context: OVERSIZED_CONTEXT }),
    ]);
  }, 40_000);

  it('says the S3 client is missing where no copy of the AWS SDK can be found', async () => {
    // Act
    const result = await invoke(
      { ...LAMBDA_CREDENTIALS, EVENT_BUS_NAME: BUS, VAULT_BUCKET: BUCKET },
      { requestId: 'oversized-2', oversized: true },
    );

    // Assess
    expect(result.message).toContain(
      'could not be stored: Error occurred while storing the result in the vault. The S3 client could not be loaded: @aws-sdk/client-s3 was not found (the Lambda runtime provides it)',
    );
    expect(result.message).not.toContain(dir);
    expect(await storedResults('oversized-2')).toEqual([]);
  }, 40_000);
});
