import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type MotoServer, startMoto } from '../helpers/moto.ts';

/** What a platform engineer's shell often sets: a named profile and a service's own endpoint. */
const SHELL = {
  AWS_PROFILE: 'does-not-exist',
  AWS_DEFAULT_PROFILE: 'does-not-exist',
  AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9',
};

describe('moto helper', () => {
  let moto: MotoServer | undefined;
  const before = { ...process.env };

  afterEach(async () => {
    await moto?.stop();
    moto = undefined;
    for (const key of Object.keys(SHELL)) delete process.env[key];
    Object.assign(process.env, before);
  });

  it('serves SDK clients built from the environment when the shell names a profile and an endpoint', async () => {
    // Prepare
    Object.assign(process.env, SHELL);
    moto = await startMoto();

    // Act
    const restore = moto.applyEnv();
    const sqs = new SQSClient({});
    const response = await sqs.send(new ListQueuesCommand({}));
    sqs.destroy();
    restore();

    // Assess
    expect(response.$metadata.httpStatusCode).toBe(200);
    for (const [key, value] of Object.entries(SHELL)) expect(process.env[key]).toBe(value);
    expect(process.env.AWS_ENDPOINT_URL).toBe(before.AWS_ENDPOINT_URL);
  });
});
