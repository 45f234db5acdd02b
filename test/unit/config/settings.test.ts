import { describe, expect, it } from 'vitest';
import { answerLimit, lambdaMemoryMiB } from '../../../shared/config/answer-limit.ts';
import {
  loadSettings,
  loadSettingsReportingProblems,
  loadVaultSettings,
  requireSetting,
} from '../../../shared/config/settings.ts';
import { ConfigError } from '../../../shared/tanium/errors.ts';

describe('Function settings', () => {
  it('reads every variable the stack sets', () => {
    // Prepare
    const env = {
      EVENT_BUS_NAME: 'tanium-tr-bus',
      VAULT_BUCKET: 'tanium-tr-vault',
      STATE_TABLE: 'tanium-tr-state',
      MAX_RECEIVE_COUNT: '5',
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: '720',
      QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/111122223333/tanium-tr-prod-connections',
      GET_FILE_MAX_BYTES: '1048576',
      VAULT_SPOOL_MAX_BYTES: '0',
      POWERTOOLS_METRICS_NAMESPACE: 'TaniumTR',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      QUEUE_BATCH_SIZE: '5',
    };

    // Act
    const settings = loadSettings(env);

    // Assess
    expect(settings).toEqual({
      eventBusName: 'tanium-tr-bus',
      vaultBucket: 'tanium-tr-vault',
      stateTable: 'tanium-tr-state',
      maxReceiveCount: 5,
      queueVisibilityTimeoutSeconds: 720,
      queueUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/tanium-tr-prod-connections',
      getFileMaxBytes: 1_048_576,
      vaultSpoolMaxBytes: 0,
      metricsNamespace: 'TaniumTR',
      // A tenth of 512 MiB, shared by the 5 records of a full batch
      answerLimit: {
        bytes: 10_737_418,
        why: "a tenth of the function's 512 MiB of memory, shared by the 5 records of a full batch",
        advice:
          'Where the action takes a limit, ask for fewer rows, or give the function more memory or a smaller batchSize',
      },
    });
  });

  it('gives one Tanium answer a tenth of the memory, shared by the records at once, and 50 MiB at most', () => {
    // Act / Assess
    expect(answerLimit(512, 5).bytes).toBe(10_737_418);
    expect(answerLimit(128, 1)).toEqual({
      bytes: 13_421_772,
      why: "a tenth of the function's 128 MiB of memory",
      advice: 'Where the action takes a limit, ask for fewer rows, or give the function more memory',
    });
    expect(answerLimit(512, 1)).toEqual({ bytes: 52_428_800 });
    // A tenth of 500 MiB is exactly 50 MiB: the cap itself, not a limit the memory set below it
    expect(answerLimit(500, 1)).toEqual({ bytes: 52_428_800 });
    expect(answerLimit(10_240, 1)).toEqual({ bytes: 52_428_800 });
    // Outside Lambda (the CLI, tests): no memory size, the contract's 50 MiB
    expect(answerLimit(undefined, 10)).toEqual({ bytes: 52_428_800 });
  });

  it.each([
    ['a size', '1024', 1024],
    ['a size with spaces around it', ' 512 ', 512],
    ['no size (outside Lambda)', undefined, undefined],
    ['a blank size', '  ', undefined],
    ["a size below Lambda's least", '64', undefined],
    ['no number', 'lots', undefined],
  ])("reads Lambda's memory size from %s", (_case, value, expected) => {
    // Act
    const memory = lambdaMemoryMiB({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: value });

    // Assess
    expect(memory).toBe(expected);
  });

  it("reads the vault's settings alone for the CLI, whatever else the shell holds", () => {
    // Act
    const vault = loadVaultSettings({
      VAULT_BUCKET: 'evidence',
      GET_FILE_MAX_BYTES: '1048576',
      QUEUE_BATCH_SIZE: 'auto',
      MAX_RECEIVE_COUNT: '0',
    });

    // Assess: the variables it never reads are not its business; its own are still checked
    expect(vault).toEqual({
      vaultBucket: 'evidence',
      getFileMaxBytes: 1_048_576,
      vaultSpoolMaxBytes: 1_073_741_824,
    });
    expect(() => loadVaultSettings({ GET_FILE_MAX_BYTES: '12MB' })).toThrow(
      'Invalid function configuration: GET_FILE_MAX_BYTES must be a whole number from 1 to 107374182400',
    );
    expect(loadVaultSettings({ GET_FILE_MAX_BYTES: String(100 * 1024 ** 3) }).getFileMaxBytes).toBe(
      107_374_182_400,
    );
    expect(() => loadVaultSettings({ GET_FILE_MAX_BYTES: String(100 * 1024 ** 3 + 1) })).toThrow(
      /GET_FILE_MAX_BYTES must be a whole number from 1 to 107374182400/,
    );
  });

  it('uses the defaults when variables are unset or blank', () => {
    // Act
    const settings = loadSettings({ EVENT_BUS_NAME: '  ', MAX_RECEIVE_COUNT: '' });

    // Assess
    expect(settings).toEqual({
      maxReceiveCount: 5,
      getFileMaxBytes: 536_870_912,
      vaultSpoolMaxBytes: 1_073_741_824,
      metricsNamespace: 'TaniumThreatResponse',
      answerLimit: { bytes: 52_428_800 },
    });
  });

  it('names every invalid variable without echoing its value', () => {
    // Act
    const load = () =>
      loadSettings({
        MAX_RECEIVE_COUNT: '0',
        QUEUE_VISIBILITY_TIMEOUT_SECONDS: '43201',
        GET_FILE_MAX_BYTES: '12MB',
        VAULT_SPOOL_MAX_BYTES: '-1',
      });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      'Invalid function configuration: MAX_RECEIVE_COUNT must be a whole number from 1 to 1000; QUEUE_VISIBILITY_TIMEOUT_SECONDS must be a whole number from 0 to 43200; GET_FILE_MAX_BYTES must be a whole number from 1 to 107374182400; VAULT_SPOOL_MAX_BYTES must be a whole number from 0 to 9007199254740991',
    );
  });

  it('keeps the valid variables and names the bad ones as a retryable problem, for the family functions', () => {
    // Act
    const good = loadSettingsReportingProblems({ EVENT_BUS_NAME: 'bus', MAX_RECEIVE_COUNT: '4' });
    const bad = loadSettingsReportingProblems({
      EVENT_BUS_NAME: 'bus',
      MAX_RECEIVE_COUNT: '4',
      GET_FILE_MAX_BYTES: '12MB',
      VAULT_SPOOL_MAX_BYTES: '-1',
    });

    // Assess
    expect(good.problem).toBeUndefined();
    expect(bad.settings).toMatchObject({
      eventBusName: 'bus',
      maxReceiveCount: 4,
      getFileMaxBytes: 536_870_912,
      vaultSpoolMaxBytes: 1_073_741_824,
    });
    expect(bad.problem).toMatchObject({
      kind: 'config',
      retryable: true,
      message:
        "Invalid function configuration: GET_FILE_MAX_BYTES must be a whole number from 1 to 107374182400; VAULT_SPOOL_MAX_BYTES must be a whole number from 0 to 9007199254740991; fix the function's environment",
    });
  });

  it('reports a bad MAX_RECEIVE_COUNT as a problem to fix before sending the request again, not retried', () => {
    // Act: with no count, no attempt can be told to be the last, so none is retried
    const { settings, problem } = loadSettingsReportingProblems({
      EVENT_BUS_NAME: 'bus',
      MAX_RECEIVE_COUNT: '0',
    });

    // Assess
    expect(settings).toMatchObject({ eventBusName: 'bus', maxReceiveCount: 5 });
    expect(problem).toMatchObject({
      kind: 'config',
      retryable: false,
      message:
        "Invalid function configuration: MAX_RECEIVE_COUNT must be a whole number from 1 to 1000; fix the function's environment, then send the request again",
    });
  });

  it('still throws for a bad EVENT_BUS_NAME, with which no result can be published', () => {
    // Act
    const load = () =>
      loadSettingsReportingProblems({ EVENT_BUS_NAME: 'b'.repeat(2049), GET_FILE_MAX_BYTES: '12MB' });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      'Invalid function configuration: EVENT_BUS_NAME must be at most 2048 characters long; GET_FILE_MAX_BYTES must be a whole number from 1 to 107374182400',
    );
  });

  it.each([
    ['longer than CloudWatch allows', 'N'.repeat(256)],
    ['longer than any variable', 'N'.repeat(2049)],
    ['holding a character CloudWatch refuses', 'Tanium!'],
    ['under AWS/', 'AWS/Tanium'],
  ])('reports a metrics namespace %s as an invalid configuration, not echoing it', (_, namespace) => {
    // Act: EMF under a namespace CloudWatch refuses is dropped, and every alarm on it stays silent
    const { settings, problem } = loadSettingsReportingProblems({
      EVENT_BUS_NAME: 'bus',
      POWERTOOLS_METRICS_NAMESPACE: namespace,
    });

    // Assess: named, retryable (no request runs under it), the default meanwhile
    expect(problem).toMatchObject({ kind: 'config', retryable: true });
    expect(problem?.message).toMatch(/^Invalid function configuration: POWERTOOLS_METRICS_NAMESPACE must/);
    expect(problem?.message).not.toContain(namespace);
    expect(settings.metricsNamespace).toBe('TaniumThreatResponse');
  });

  it("takes a namespace of CloudWatch's longest, 255 characters", () => {
    expect(loadSettings({ POWERTOOLS_METRICS_NAMESPACE: 'N'.repeat(255) }).metricsNamespace).toBe(
      'N'.repeat(255),
    );
  });

  it('leaves POWERTOOLS_LOG_LEVEL to the logger: a bad level does not fail the function', () => {
    expect(loadSettings({ POWERTOOLS_LOG_LEVEL: 'verbose', EVENT_BUS_NAME: 'bus' })).toMatchObject({
      eventBusName: 'bus',
    });
  });

  it('says which variable to set when an operation needs one', () => {
    // Prepare
    const settings = loadSettings({});

    // Act
    const require = () =>
      requireSetting(settings, 'stateTable', 'mutating actions keep their idempotency records there');

    // Assess
    expect(require).toThrow('STATE_TABLE is not set: mutating actions keep their idempotency records there');
  });

  it('gives the value of a setting an operation needs when it is set', () => {
    // Prepare
    const settings = loadSettings({ VAULT_BUCKET: 'evidence' });

    // Act
    const bucket = requireSetting(settings, 'vaultBucket', 'get file stores its files there');

    // Assess
    expect(bucket).toBe('evidence');
  });
});
