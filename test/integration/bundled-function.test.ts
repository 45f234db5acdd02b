import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_SETTINGS, esbuildBuildOptions } from '../../infra/bundling.ts';
import { PROJECT_ROOT } from '../../infra/constructs/tanium-function.ts';
import { type MotoServer, startMoto } from '../helpers/moto.ts';
import { type Emulator, startTestEmulator } from '../helpers/tanium.ts';

const run = promisify(execFile);
const SECRET = 'tanium-tr/bundled';

/**
 * The deployed bundle, not the sources: the stack leaves the credential providers Lambda never reaches
 * out of it (infra/bundling.ts), so this shows the bundle still reads its secret with the credentials
 * Lambda puts in the environment, and says what is missing when there are none.
 */
describe('a bundled function in a fresh process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bundled-function-'));
  const bundle = join(dir, BUNDLE_SETTINGS.outFile);
  let moto: MotoServer;
  let emulator: Emulator;

  beforeAll(async () => {
    [moto, emulator] = await Promise.all([startMoto(), startTestEmulator()]);
    const secrets = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
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
    await esbuild.build({
      ...esbuildBuildOptions(join(PROJECT_ROOT, 'functions/connections/index.ts'), bundle),
      logLevel: 'error',
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([moto?.stop(), emulator?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Invokes the bundle's handler directly (no bus: the result is only returned). */
  async function invoke(env: Record<string, string>): Promise<{ status: string; message: string }> {
    const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
const context = { awsRequestId: 'bundled-1', functionName: 'bundled', getRemainingTimeInMillis: () => 30000 };
process.stdout.write(JSON.stringify(await handler({ action: 'test connectivity', parameters: {} }, context)));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: moto.endpoint,
        TANIUM_SECRET_ID: SECRET,
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...env,
      },
      timeout: 30_000,
    });
    return JSON.parse(stdout) as { status: string; message: string };
  }

  it('reads its secret with the credentials in the environment, as in Lambda', async () => {
    // Act
    const result = await invoke({ AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });

    // Assess
    expect(result).toMatchObject({ status: 'success', message: 'Test Connectivity Passed' });
  }, 40_000);

  it('names the provider left out when the environment has no credentials', async () => {
    // Act
    const result = await invoke({});

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toContain('@aws-sdk/credential-provider-');
  }, 40_000);
});
