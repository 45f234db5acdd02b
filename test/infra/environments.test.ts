import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { environmentFromContext } from '../../infra/build.ts';
import {
  BUNDLE_SETTINGS,
  esbuildBuildOptions,
  externalModules,
  functionNodeOptions,
  VAULT_FUNCTIONS,
} from '../../infra/bundling.ts';
import { cdkBundlingOptions, PROJECT_ROOT } from '../../infra/constructs/tanium-function.ts';
import {
  type CredentialsSecretConfig,
  ENVIRONMENT_NAMES,
  ENVIRONMENTS,
  type EnvironmentDeclaration,
  type EnvironmentOverrides,
  resolveEnvironment,
} from '../../infra/environments.ts';
import {
  FAMILIES,
  FAMILY_ACTIONS,
  type Family,
  FUNCTION_NAMES,
  familyActionNames,
  MUTATING_FAMILIES,
  mutatingActionNames,
} from '../../infra/families.ts';
import { flattenCfnReference } from '../../infra/nag.ts';
import {
  POLLER_SETTING_VARIABLES,
  type PollerSettings,
  pollerSettingsEnvironment,
} from '../../infra/poller-settings.ts';
import { longestRetrySpanSeconds, visibilityTimeoutSeconds } from '../../infra/queue-timing.ts';
import { loadPollerConfig, POLLER_DEFAULTS } from '../../shared/alerts/settings.ts';
import { loadSettingsReportingProblems } from '../../shared/config/settings.ts';
import { IDEMPOTENCY_EXPIRES_SECONDS } from '../../shared/events/idempotency.ts';
import {
  longestRedeliveryDelaySeconds,
  redeliveryDelaySeconds,
} from '../../shared/events/redelivery-backoff.ts';
import { problemsOf } from './problems.ts';
import { CDK_JSON_CONTEXT, cleanup, nagViolations, synthesize } from './synth.ts';

const run = promisify(execFile);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod-AbCdEf';

describe('Infrastructure configuration: environments', () => {
  it('offers dev and prod', () => {
    expect(ENVIRONMENT_NAMES).toEqual(expect.arrayContaining(['dev', 'prod']));
  });

  it('retains data and protects the stack in prod, and lets dev be destroyed', () => {
    // Act
    const dev = resolveEnvironment('dev');
    const prod = resolveEnvironment('prod');

    // Assess
    expect(prod.retainData).toBe(true);
    expect(prod.terminationProtection).toBe(true);
    expect(dev.retainData).toBe(false);
    expect(dev.terminationProtection).toBe(false);
    expect(dev.vpc.enabled).toBe(false);
    expect(prod.vpc.enabled).toBe(false);
  });

  it('names the known environments when asked for an unknown one', () => {
    expect(() => resolveEnvironment('staging')).toThrow(
      "Unknown environment 'staging': use -c env=<dev|prod>",
    );
  });

  it.each(ENVIRONMENT_NAMES)(
    'lets %s survive throttled receives: 5 deliveries and a bounded concurrency per family',
    (name) => {
      // Act
      const config = resolveEnvironment(name);

      // Assess: AWS's advice for queues Lambda consumes; a throttled receive counts as a delivery
      expect(config.maxReceiveCount).toBeGreaterThanOrEqual(5);
      for (const family of FAMILIES) {
        expect(config.functions[family].maxConcurrency).toBeGreaterThanOrEqual(2);
      }
    },
  );

  it.each([1, 2.5, 1001])('rejects a family maxConcurrency of %s, naming the function', (value) => {
    expect(() =>
      resolveEnvironment('dev', {
        functions: { intel: { maxConcurrency: value } },
      }),
    ).toThrow(/intel: maxConcurrency must be unset or an integer from 2 to 1000/);
  });

  it('rejects an account, a region or a bus name that CloudFormation would refuse at deploy time', () => {
    // Act
    const problems = problemsOf(() =>
      resolveEnvironment('prod', { account: '123', region: 'moon-1', eventBusName: 'tanium/tr' }),
    );

    // Assess
    expect(problems).toContain("account must be a 12-digit AWS account id: got '123'");
    expect(problems).toContain("region must be an AWS region name such as eu-west-1: got 'moon-1'");
    expect(problems).toContain(
      "eventBusName must be 1 to 256 letters, digits, '.', '-' or '_', and not 'default': got 'tanium/tr'",
    );
    expect(() => resolveEnvironment('dev', { eventBusName: 'default' })).toThrow(/and not 'default'/);
    for (const region of ['eu-west-1', 'us-gov-west-1', 'cn-north-1', 'ap-southeast-5', 'eusc-de-east-1']) {
      expect(() => resolveEnvironment('prod', { account: '111122223333', region })).not.toThrow();
    }
  });

  it('rejects a receive count outside 1..1000 as the functions would, naming the setting and its variable', () => {
    for (const maxReceiveCount of [0, 1001, 2.5]) {
      expect(() => resolveEnvironment('dev', { maxReceiveCount })).toThrow(
        "Invalid configuration for environment 'dev': maxReceiveCount: MAX_RECEIVE_COUNT must be a whole number from 1 to 1000",
      );
    }
  });

  it('rejects a receive count whose retries could outlast the queue, naming the function and the most it allows', () => {
    // Act / Assess: evidence (600 s timeout, 1 hour visibility) gets there long before the other families
    expect(() => resolveEnvironment('prod', { maxReceiveCount: 60 })).toThrow(
      'evidence: maxReceiveCount 60 with timeoutSeconds 600 lets a failing request retry for up to 60.2 hours, past the 48 its queue allows before it could be deleted unanswered (it keeps messages 4 days): lower maxReceiveCount to at most 47',
    );
    expect(() => resolveEnvironment('prod', { maxReceiveCount: 60 })).not.toThrow(/connections:/);
    expect(() => resolveEnvironment('prod', { maxReceiveCount: 47 })).not.toThrow();
    // Within 48 hours by the backoff alone, not with Retry-After delays of up to an hour after each attempt
    expect(() => resolveEnvironment('prod', { maxReceiveCount: 49 })).toThrow(
      /evidence: maxReceiveCount 49 with timeoutSeconds 600 lets a failing request retry for up to 49.2 hours/,
    );
    expect(() =>
      resolveEnvironment('prod', { maxReceiveCount: 47, functions: { evidence: { timeoutSeconds: 900 } } }),
    ).toThrow(/evidence: maxReceiveCount 47 with timeoutSeconds 900 .* at most 31$/);
    expect(() => resolveEnvironment('dev', { maxReceiveCount: 500 })).toThrow(
      /connections: maxReceiveCount 500 with timeoutSeconds 120 .* at most \d+/,
    );
  });

  it('counts retries as the functions delay them: up to a function timeout, then up to the queue timeout', () => {
    // Any of the 30 to 480 s backoffs after a 120 s attempt may be stretched by a Retry-After to 719 s,
    // just under the 720 s queue timeout; from the 6th attempt (960 s) no change is made and the queue
    // timeout applies
    expect(longestRetrySpanSeconds({ timeoutSeconds: 120, maxBatchingWindowSeconds: 0 }, 5)).toBe(
      4 * (120 + 719),
    );
    expect(longestRetrySpanSeconds({ timeoutSeconds: 120, maxBatchingWindowSeconds: 0 }, 7)).toBe(
      5 * (120 + 719) + 720,
    );
    // The batching window delays each receive, and lengthens the queue timeout as well
    expect(longestRetrySpanSeconds({ timeoutSeconds: 120, maxBatchingWindowSeconds: 10 }, 2)).toBe(
      120 + 729 + 10,
    );
    expect(longestRetrySpanSeconds({ timeoutSeconds: 120, maxBatchingWindowSeconds: 0 }, 1)).toBe(0);
  });

  it('counts the longest delay the functions can set, whatever Retry-After Tanium sends', () => {
    // Prepare: a 120 s function's queue hides a record 720 s; its attempt ends at most 120 s after the receive
    const queueTimeoutSeconds = visibilityTimeoutSeconds(120, 0);
    const delays = [1, 2, 3, 4, 5, 6].flatMap((attempt) =>
      [0, 300_000, 719_000, 719_001, 720_000, 86_400_000].map((retryAfterMs) =>
        redeliveryDelaySeconds(
          { attempt, recordMayRemain: false, retryAfterMs },
          { queueTimeoutSeconds, remainingMs: 0 },
        ),
      ),
    );
    const longest = Math.max(...delays.filter((delay) => delay !== undefined));

    // Act
    const span = longestRetrySpanSeconds({ timeoutSeconds: 120, maxBatchingWindowSeconds: 0 }, 2);

    // Assess: the span of one attempt covers the invocation and the longest delay it may set
    expect(longest).toBe(longestRedeliveryDelaySeconds(queueTimeoutSeconds));
    expect(span).toBe(120 + longest);
  });

  it('reserves concurrency for the poller in prod only, so dev deploys to a low-quota sandbox account', () => {
    expect(resolveEnvironment('prod').poller.reservedConcurrency).toBe(1);
    expect(resolveEnvironment('dev').poller.reservedConcurrency).toBeUndefined();
  });

  // README's environment table and its load-on-Tanium figure state these; a change here changes both.
  it.each(ENVIRONMENT_NAMES)(
    'gives the %s functions the sizes and limits the README documents',
    (envName) => {
      // Act
      const { functions } = resolveEnvironment(envName);

      // Assess
      const family = {
        memoryMiB: 512,
        timeoutSeconds: 120,
        batchSize: 5,
        maxBatchingWindowSeconds: 0,
        maxConcurrency: 5,
      };
      expect(functions).toEqual({
        connections: family,
        snapshots: family,
        investigation: family,
        evidence: {
          ...family,
          memoryMiB: 1024,
          timeoutSeconds: 600,
          ephemeralStorageMiB: 2048,
          batchSize: 1,
        },
        intel: family,
        alerts: family,
        'alert-poller': { ...family, batchSize: 1 },
      });
      // "at most the sum over the families of maxConcurrency x batchSize requests in flight: 130"
      const inFlight = FAMILIES.reduce((sum, name) => {
        const f = functions[name];
        return sum + (f.maxConcurrency ?? 0) * f.batchSize;
      }, 0);
      expect(inFlight).toBe(130);
    },
  );

  it('turns source maps on in dev only: Node parses the map at every cold start', () => {
    expect(resolveEnvironment('dev').sourceMaps).toBe(true);
    expect(resolveEnvironment('prod').sourceMaps).toBe(false);
    expect(resolveEnvironment('prod', { sourceMaps: true }).sourceMaps).toBe(true);
  });

  it.each([0, 1.5, 1001])('rejects a poller reserved concurrency of %s, naming the setting', (value) => {
    expect(() => resolveEnvironment('dev', { poller: { reservedConcurrency: value } })).toThrow(
      /poller.reservedConcurrency must be unset or an integer from 1 to 1000/,
    );
  });

  it('accepts a KMS key ARN of any partition for an imported secret', () => {
    for (const kmsKeyArn of [
      'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab',
    ]) {
      const config = resolveEnvironment('dev', {
        credentials: { mode: 'import', secretName: 'tanium', kmsKeyArn },
      });
      expect(config.credentials).toEqual({ mode: 'import', secretName: 'tanium', kmsKeyArn });
    }
  });

  it.each([
    [
      'an ARN given as the name of an imported secret',
      {
        mode: 'import',
        secretName: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod-AbCdEf',
      },
      "credentials.secretName 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod-AbCdEf' is an ARN: give a complete ARN as secretCompleteArn, or the secret's name as secretName",
    ],
    [
      'an ARN given as the name of a created secret',
      { mode: 'create', secretName: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod' },
      "credentials.secretName 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod' is an ARN: a created secret takes a name; to use an existing secret, set { mode: 'import', secretCompleteArn }",
    ],
    [
      'a created name Secrets Manager refuses',
      { mode: 'create', secretName: 'tanium prod!' },
      "credentials.secretName must be 1 to 512 letters, digits or / _ + = . @ - (Secrets Manager's rules): got 'tanium prod!'",
    ],
    [
      'a name longer than 512 characters',
      { mode: 'import', secretName: 'a'.repeat(513) },
      /credentials\.secretName must be 1 to 512 letters/,
    ],
    [
      'a name given as the complete ARN',
      { mode: 'import', secretCompleteArn: 'tanium/prod' },
      "credentials.secretCompleteArn 'tanium/prod' is a name, not an ARN: give it as { mode: 'import', secretName: 'tanium/prod' }",
    ],
    [
      'a partial ARN, without the suffix Secrets Manager adds',
      {
        mode: 'import',
        secretCompleteArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod',
      },
      "credentials.secretCompleteArn must be a secret's complete ARN (arn:<partition>:secretsmanager:<region>:<12-digit account>:secret:<name>-<6 characters>), as describe-secret prints it; for a partial ARN give the secret's name as secretName: got 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod'",
    ],
    [
      'the ARN of another service',
      { mode: 'import', secretCompleteArn: 'arn:aws:ssm:eu-west-1:111122223333:parameter/tanium-AbCdEf' },
      /credentials\.secretCompleteArn must be a secret's complete ARN/,
    ],
  ] as const)('rejects %s, saying which setting takes what', (_, credentials, message) => {
    // Act
    const problems = problemsOf(() =>
      resolveEnvironment('prod', { credentials: credentials as CredentialsSecretConfig }),
    );

    // Assess
    if (typeof message === 'string') expect(problems).toContain(message);
    else expect(problems).toMatch(message);
  });

  it('accepts secret names and complete ARNs as Secrets Manager writes them, in any partition', () => {
    // Prepare
    const accepted: CredentialsSecretConfig[] = [
      { mode: 'create', secretName: 'tanium/tr_prod+1=a.b@c-d' },
      { mode: 'import', secretName: 'tanium/prod' },
      {
        mode: 'import',
        secretCompleteArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:tanium/prod-AbCdEf',
      },
      {
        mode: 'import',
        secretCompleteArn: 'arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:tanium-a1B2c3',
      },
    ];

    // Act and assess
    for (const credentials of accepted) {
      expect(resolveEnvironment('prod', { credentials }).credentials).toEqual(credentials);
    }
  });

  it.each([
    [
      'a secret of another region than the stack',
      { region: 'us-east-1', credentials: { mode: 'import', secretCompleteArn: SECRET_ARN } },
      "credentials.secretCompleteArn is a secret of region eu-west-1, but the stack deploys to us-east-1: the functions read it from their own region's Secrets Manager, which does not find it (import its replica in us-east-1)",
    ],
    [
      'a key of another region than the secret',
      {
        credentials: {
          mode: 'import',
          secretCompleteArn: SECRET_ARN,
          kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        },
      },
      'credentials.kmsKeyArn is a key of region us-east-1, but the secret is in eu-west-1: the key that encrypts a secret is in its region',
    ],
    [
      'a secret of another account without its customer managed key',
      { account: '444455556666', credentials: { mode: 'import', secretCompleteArn: SECRET_ARN } },
      'credentials.secretCompleteArn is a secret of account 111122223333, but the stack deploys to 444455556666: a secret read from another account is encrypted with a customer managed key (aws/secretsmanager cannot be used across accounts), which kmsKeyArn must name so that the functions may decrypt it',
    ],
  ] as const)('rejects %s, which every function would fail to read', (_, overrides, message) => {
    expect(problemsOf(() => resolveEnvironment('prod', overrides as EnvironmentOverrides))).toContain(
      message,
    );
  });

  it('accepts a secret of the stack’s region and account, or of another account with its key', () => {
    const key = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    for (const overrides of [
      { account: '111122223333', region: 'eu-west-1' },
      { account: '444455556666', region: 'eu-west-1', kmsKeyArn: key },
    ]) {
      const { kmsKeyArn, ...target } = overrides as { kmsKeyArn?: string; account: string; region: string };
      const credentials: CredentialsSecretConfig = {
        mode: 'import',
        secretCompleteArn: SECRET_ARN,
        ...(kmsKeyArn ? { kmsKeyArn } : {}),
      };
      expect(resolveEnvironment('prod', { ...target, credentials }).credentials).toEqual(credentials);
    }
  });

  it('rejects more NAT gateways than availability zones', () => {
    expect(() =>
      resolveEnvironment('prod', {
        vpc: { enabled: true, maxAzs: 1, natGateways: 2 },
      }),
    ).toThrow(/vpc.natGateways/);
  });

  it('says an alarm e-mail is not an address once, however often it is listed', () => {
    // Act
    const problems = problemsOf(() =>
      resolveEnvironment('prod', { alarms: { emailSubscriptions: ['soc', 'soc', 'soc'] } }),
    );

    // Assess
    expect(problems.match(/'soc' is not an email address/g)).toHaveLength(1);
    expect(problems.match(/'soc' is listed more than once/g)).toHaveLength(1);
  });

  it('rejects an alarm e-mail listed twice, in any case, once however often it repeats', () => {
    // Act
    const problems = problemsOf(() =>
      resolveEnvironment('prod', {
        alarms: {
          emailSubscriptions: ['soc@example.com', 'oncall@example.com', 'SOC@Example.com', 'soc@example.com'],
        },
      }),
    );

    // Assess
    expect(problems).toContain(
      "alarms.emailSubscriptions: 'SOC@Example.com' is listed more than once (addresses are compared ignoring case)",
    );
    expect(problems.match(/listed more than once/g)).toHaveLength(1);
    expect(problems).not.toContain('oncall@example.com');
  });

  it('refuses a vault expiry within the life of the idempotency records that name its objects', () => {
    // Prepare: from the TTL the functions write, however long that is
    const recordDays = Math.ceil(IDEMPOTENCY_EXPIRES_SECONDS / 86_400);

    // Act / Assess: a get file replayed with its requestId returns the vault_ids it stored
    for (const vaultExpirationDays of [7, recordDays]) {
      expect(() => resolveEnvironment('prod', { vaultExpirationDays })).toThrow(
        `vaultExpirationDays must be unset or more than ${recordDays}, the days an idempotency record lives: a get file replayed with its requestId within them returns the vault_ids it stored, which must still exist`,
      );
    }
    expect(resolveEnvironment('prod', { vaultExpirationDays: recordDays + 1 }).vaultExpirationDays).toBe(
      recordDays + 1,
    );
    expect(resolveEnvironment('prod').vaultExpirationDays).toBeUndefined();
    expect(resolveEnvironment('dev').vaultExpirationDays).toBeGreaterThan(recordDays);
  });

  it('rejects alarm e-mails without the alarm topic', () => {
    expect(() =>
      resolveEnvironment('dev', {
        alarms: { emailSubscriptions: ['soc@example.com'] },
      }),
    ).toThrow(/alarms.emailSubscriptions/);
  });

  it.each([
    [{ getFileMaxBytes: 0 }, /getFileMaxBytes: .*GET_FILE_MAX_BYTES must be a whole number from 1 to /],
    [{ getFileMaxBytes: 2 ** 53 }, /getFileMaxBytes: .*GET_FILE_MAX_BYTES must be a whole number from 1 to /],
    [{ accessLogsExpirationDays: 0 }, /accessLogsExpirationDays must be a positive integer/],
    [{ vaultExpirationDays: 0.5 }, /vaultExpirationDays must be unset or a positive integer/],
    [{ vaultExpirationDays: 0 }, /vaultExpirationDays must be unset or a positive integer/],
    [{ logRetention: 4 }, /logRetention must be a RetentionDays value/],
    [
      { functions: { evidence: { ephemeralStorageMiB: 256 } } },
      /evidence: ephemeralStorageMiB must be unset or an integer from 512 to 10240/,
    ],
    [{ alarms: { pollerLagSeconds: 0 } }, /alarms.pollerLagSeconds must be positive/],
    [
      {
        credentials: {
          mode: 'import',
          secretName: 'tanium',
          kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/tanium',
        },
      },
      /credentials.kmsKeyArn must be a KMS key ARN \(arn:aws:kms:<region>:<account>:key\/<key id>\), not an alias: got 'arn:aws:kms:eu-west-1:123456789012:alias\/tanium'/,
    ],
    [
      {
        credentials: {
          mode: 'import',
          secretName: 'tanium',
          kmsKeyArn: '1234abcd-12ab-34cd-56ef-1234567890ab',
        },
      },
      /credentials.kmsKeyArn must be a KMS key ARN/,
    ],
    [{ alarms: { pollerFailureThreshold: 1.5 } }, /alarms.pollerFailureThreshold must be a positive integer/],
    [{ poller: { schedule: 'every minute' } }, /poller.schedule must be a rate expression/],
    [{ poller: { schedule: 'cron(0/5 * * * ? *)' } }, /poller.schedule must be a rate expression/],
    [{ poller: { schedule: 'rate(1 minutes)' } }, /write 'rate\(1 minute\)' or 'rate\(<n> minutes\)'/],
    [{ poller: { schedule: 'rate(5 minute)' } }, /write 'rate\(1 minute\)'/],
    [{ poller: { schedule: 'rate(0 minutes)' } }, /is not valid/],
    [
      { poller: { schedule: ' rate(5 minutes)' } },
      "poller.schedule ' rate(5 minutes)' has white space around it: write 'rate(5 minutes)'",
    ],
    [
      { poller: { schedule: 'rate(1 minute)\n' } },
      /poller.schedule 'rate\(1 minute\)\n' has white space around it/,
    ],
    [{ poller: { schedule: 'rate(2 hours)' } }, /at least every 60 minutes/],
    [
      { poller: { schedule: 'rate(1 hour)' }, alarms: { pollerFailureThreshold: 23 } },
      /alarms.pollerFailureThreshold must be at most 22 with poller.schedule 'rate\(1 hour\)' .*\(one per 60 minutes\)/,
    ],
    // A failing run can hold the lease 900 s and a minute: one working run in 17 minutes, so the window
    // of a streak of 84 spans 84 x 17 minutes and its last datapoint 15 minutes on, and a minute: 1,444
    [
      { functions: { 'alert-poller': { timeoutSeconds: 900 } }, alarms: { pollerFailureThreshold: 84 } },
      /alarms.pollerFailureThreshold must be at most 83 with poller.schedule 'rate\(1 minute\)' and the alert-poller timeoutSeconds 900: .*one per 17 minutes/,
    ],
    // Values CloudFormation, SNS or CloudWatch would refuse only at deploy, or drop without a word
    [{ functions: { evidence: { memoryMiB: 512.5 } } }, /evidence: memoryMiB must be a whole number/],
    [{ functions: { intel: { batchSize: 2.5 } } }, /intel: batchSize must be a whole number/],
    [{ functions: { intel: { timeoutSeconds: 60.5 } } }, /intel: timeoutSeconds must be a whole number/],
    [
      { functions: { alerts: { maxBatchingWindowSeconds: 0.5 } } },
      /alerts: maxBatchingWindowSeconds must be a whole number/,
    ],
    [{ poller: { retryAttempts: 186 } }, /poller.retryAttempts must be an integer from 0 to 185/],
    [{ resultsExpirationDays: 0 }, /resultsExpirationDays must be a positive integer/],
    [{ resultsExpirationDays: 7.5 }, /resultsExpirationDays must be a positive integer/],
    [{ functions: { evidence: { timeoutSeconds: 0 } } }, /evidence: timeoutSeconds must be 1..900/],
    [{ functions: { evidence: { memoryMiB: 127 } } }, /evidence: memoryMiB must be 128..10240/],
    [{ functions: { evidence: { memoryMiB: 10_241 } } }, /evidence: memoryMiB must be 128..10240/],
    [{ functions: { intel: { batchSize: 0 } } }, /intel: batchSize must be 1..10/],
    [{ functions: { intel: { batchSize: 11 } } }, /intel: batchSize must be 1..10/],
    [
      { functions: { alerts: { maxBatchingWindowSeconds: -1 } } },
      /alerts: maxBatchingWindowSeconds must be 0..300/,
    ],
    [
      { functions: { alerts: { maxBatchingWindowSeconds: 301 } } },
      /alerts: maxBatchingWindowSeconds must be 0..300/,
    ],
    [
      { functions: { evidence: { ephemeralStorageMiB: 10_241 } } },
      /evidence: ephemeralStorageMiB must be unset or an integer from 512 to 10240/,
    ],
    [
      { functions: { evidence: { ephemeralStorageMiB: 1024.5 } } },
      /evidence: ephemeralStorageMiB must be unset or an integer from 512 to 10240/,
    ],
    [{ poller: { retryAttempts: -1 } }, /poller.retryAttempts must be an integer from 0 to 185/],
    [{ poller: { retryAttempts: 1.5 } }, /poller.retryAttempts must be an integer from 0 to 185/],
    [
      { poller: { maxEventAgeSeconds: 86_401 } },
      /poller.maxEventAgeSeconds must be an integer from 60 to 86400/,
    ],
    [
      { poller: { maxEventAgeSeconds: 90.5 } },
      /poller.maxEventAgeSeconds must be an integer from 60 to 86400/,
    ],
    [
      { vpc: { enabled: true, natGateways: 0 } },
      'vpc.natGateways must be 1..vpc.maxAzs: the fixed egress addresses are the NAT gateways',
    ],
    [{ vpc: { maxAzs: 1.5 } }, /vpc.maxAzs and vpc.natGateways must be whole numbers, maxAzs at least 1/],
    [
      { vpc: { natGateways: 1.5 } },
      /vpc.maxAzs and vpc.natGateways must be whole numbers, maxAzs at least 1/,
    ],
    [{ alarms: { pollerFailureThreshold: 0 } }, /alarms.pollerFailureThreshold must be a positive integer/],
    [{ alarms: { pollerLagSeconds: -1 } }, /alarms.pollerLagSeconds must be positive/],
    [{ poller: { maxEventAgeSeconds: 30 } }, /poller.maxEventAgeSeconds must be an integer from 60 to 86400/],
    [{ vpc: { maxAzs: 0 } }, /vpc.maxAzs and vpc.natGateways must be whole numbers, maxAzs at least 1/],
    [
      { alarms: { topic: true, emailSubscriptions: ['soc@example.com', 'not-an-email'] } },
      /alarms.emailSubscriptions: 'not-an-email' is not an email address/,
    ],
    [{ metricsNamespace: '' }, /metricsNamespace '' must be 1 to 255 of the characters CloudWatch allows/],
    [{ metricsNamespace: 'Tanium!' }, /metricsNamespace 'Tanium!' must be 1 to 255/],
    [{ metricsNamespace: '   ' }, /metricsNamespace ' {3}' must be 1 to 255 .*no space at either end/],
    // The functions trim their variables: they would write under 'Tanium', the alarms watch 'Tanium '
    [{ metricsNamespace: 'Tanium ' }, /metricsNamespace 'Tanium ' must be 1 to 255 .*no space at either end/],
    [{ metricsNamespace: 'T'.repeat(256) }, /metricsNamespace 'T{256}' must be 1 to 255/],
    [{ metricsNamespace: ':Tanium' }, /metricsNamespace ':Tanium' must be .*not starting with ':'/],
    [{ metricsNamespace: 'AWS/Lambda' }, /metricsNamespace 'AWS\/Lambda' must not start with AWS\//],
  ] as const)('rejects %j, naming the setting', (overrides, message) => {
    expect(() => resolveEnvironment('dev', overrides as EnvironmentOverrides)).toThrow(message);
  });

  it.each([
    { resultsExpirationDays: 1, accessLogsExpirationDays: 1 },
    { functions: { evidence: { memoryMiB: 128, batchSize: 1, maxBatchingWindowSeconds: 0 } } },
    { functions: { evidence: { memoryMiB: 10_240, batchSize: 10, maxBatchingWindowSeconds: 300 } } },
    { functions: { intel: { maxConcurrency: 2, ephemeralStorageMiB: 512 } } },
    { functions: { intel: { maxConcurrency: 1000, ephemeralStorageMiB: 10_240 } } },
    { functions: { 'alert-poller': { timeoutSeconds: 900 } } },
    { poller: { retryAttempts: 0, maxEventAgeSeconds: 60, reservedConcurrency: 1000 } },
    { poller: { retryAttempts: 185, maxEventAgeSeconds: 86_400 } },
    { vpc: { enabled: true, maxAzs: 2, natGateways: 2 } },
    { vpc: { enabled: true, maxAzs: 1, natGateways: 1 } },
    { alarms: { pollerFailureThreshold: 1 } },
  ] as const)('accepts %j, at the edge of its range', (overrides) => {
    // Act
    const config = resolveEnvironment('dev', overrides as EnvironmentOverrides);

    // Assess
    expect(config).toMatchObject(overrides);
  });

  it('accepts the largest poller failure threshold whose alarm CloudWatch can evaluate', () => {
    // Act / Assess: the most the messages above name
    expect(() =>
      resolveEnvironment('dev', {
        functions: { 'alert-poller': { timeoutSeconds: 900 } },
        alarms: { pollerFailureThreshold: 83 },
      }),
    ).not.toThrow();
    expect(() =>
      resolveEnvironment('dev', {
        poller: { schedule: 'rate(1 hour)' },
        alarms: { pollerFailureThreshold: 22 },
      }),
    ).not.toThrow();
  });

  it('rejects a function timeout the queue visibility timeout cannot cover', () => {
    expect(() =>
      resolveEnvironment('dev', {
        functions: { evidence: { timeoutSeconds: 901 } },
      }),
    ).toThrow(/evidence: timeoutSeconds must be 1..900/);
  });

  it('rejects a family timeout that the publishing reserve would use up', () => {
    expect(() => resolveEnvironment('dev', { functions: { connections: { timeoutSeconds: 9 } } })).toThrow(
      'connections: timeoutSeconds must be at least 10: 5 s of every invocation are kept for publishing results',
    );
    expect(
      resolveEnvironment('dev', { functions: { connections: { timeoutSeconds: 10 } } }).functions.connections,
    ).toMatchObject({ timeoutSeconds: 10 });
  });
});

describe('Infrastructure configuration: partial overrides', () => {
  it('keeps the other evidence settings and the other functions when one evidence setting changes', () => {
    // Prepare
    const plain = resolveEnvironment('dev');

    // Act
    const config = resolveEnvironment('dev', { functions: { evidence: { timeoutSeconds: 900 } } });

    // Assess
    expect(config).toEqual({
      ...plain,
      functions: { ...plain.functions, evidence: { ...plain.functions.evidence, timeoutSeconds: 900 } },
    });
  });

  it('keeps the poller defaults when only one poller setting is given', () => {
    // Prepare
    const plain = resolveEnvironment('prod');

    // Act
    const config = resolveEnvironment('prod', {
      poller: { settings: { filterState: 'unresolved,inprogress' } },
    });

    // Assess
    expect(config).toEqual({
      ...plain,
      poller: { ...plain.poller, settings: { filterState: 'unresolved,inprogress' } },
    });
  });

  it('resolves a declaration that states only what differs, at any depth, as a platform team writes it', () => {
    // Prepare
    const declarations = {
      soc: {
        eventBusName: 'tanium-tr-soc',
        functions: { evidence: { timeoutSeconds: 900 } },
        poller: { settings: { filterState: 'unresolved', pageSize: 500 } },
      },
    } satisfies Record<string, EnvironmentDeclaration>;
    const dev = resolveEnvironment('dev');

    // Act
    const soc = resolveEnvironment('soc', { poller: { settings: { pageSize: 300 } } }, declarations);

    // Assess: dev differs from BASE only in settings soc does not touch
    expect(soc.name).toBe('soc');
    expect(soc.eventBusName).toBe('tanium-tr-soc');
    expect(soc.functions).toEqual({
      ...dev.functions,
      evidence: { ...dev.functions.evidence, timeoutSeconds: 900 },
    });
    expect(soc.poller).toEqual({ ...dev.poller, settings: { filterState: 'unresolved', pageSize: 300 } });
    expect(soc.alarms).toEqual(dev.alarms);
  });

  it('starts an environment that extends another from that one, and lets it unset an optional setting', () => {
    // Prepare
    const declarations = {
      ...ENVIRONMENTS,
      staging: {
        extends: 'prod',
        eventBusName: 'tanium-tr-staging',
        poller: { reservedConcurrency: undefined },
        alarms: { emailSubscriptions: ['soc@example.com'] },
      },
    } satisfies Record<string, EnvironmentDeclaration>;
    const prod = resolveEnvironment('prod');

    // Act
    const staging = resolveEnvironment('staging', {}, declarations);

    // Assess
    expect(staging).toEqual({
      ...prod,
      name: 'staging',
      eventBusName: 'tanium-tr-staging',
      metricsNamespace: 'TaniumThreatResponse/staging',
      poller: { ...prod.poller, reservedConcurrency: undefined },
      alarms: { ...prod.alarms, emailSubscriptions: ['soc@example.com'] },
    });
  });

  it('gives every environment its own metrics namespace unless it names one, and never inherits it', () => {
    // Prepare: alarms of two environments in one account would otherwise react to each other's metrics
    const declarations = {
      prod: { eventBusName: 'tanium-tr-prod', metricsNamespace: 'Soc/Tanium' },
      soc: { extends: 'prod', eventBusName: 'tanium-tr-soc' },
    } satisfies Record<string, EnvironmentDeclaration>;

    // Act
    const prod = resolveEnvironment('prod', {}, declarations);
    const soc = resolveEnvironment('soc', {}, declarations);

    // Assess
    expect(resolveEnvironment('dev').metricsNamespace).toBe('TaniumThreatResponse/dev');
    expect(resolveEnvironment('prod').metricsNamespace).toBe('TaniumThreatResponse/prod');
    expect(prod.metricsNamespace).toBe('Soc/Tanium');
    expect(soc.metricsNamespace).toBe('TaniumThreatResponse/soc');
    expect(resolveEnvironment('dev', { metricsNamespace: 'Custom Ns/dev#1:a' }).metricsNamespace).toBe(
      'Custom Ns/dev#1:a',
    );
  });

  it.each([
    ['TaniumThreatResponse/dev', true],
    ['Custom Ns/dev#1:a', true],
    ['N'.repeat(255), true],
    // Over CloudWatch's 255 but within the functions' limit on other names: refused on both sides
    ['N'.repeat(256), false],
    ['N'.repeat(2049), false],
    ['Tanium!', false],
    [':Tanium', false],
    ['AWS/Lambda', false],
  ])('judges the metrics namespace %j as the functions and the poller do', (namespace, valid) => {
    // Act
    const synthesis = () => resolveEnvironment('dev', { metricsNamespace: namespace });
    const functions = loadSettingsReportingProblems({ POWERTOOLS_METRICS_NAMESPACE: namespace });
    const poller = () =>
      loadPollerConfig({
        STATE_TABLE: 'state',
        EVENT_BUS_NAME: 'bus',
        POWERTOOLS_METRICS_NAMESPACE: namespace,
      });

    // Assess: what synthesis would refuse, a hand-edited function refuses too, and names
    if (valid) {
      expect(synthesis().metricsNamespace).toBe(namespace);
      expect(functions.problem).toBeUndefined();
      expect(functions.settings.metricsNamespace).toBe(namespace);
      expect(poller().metricsNamespace).toBe(namespace);
    } else {
      expect(synthesis).toThrow(/metricsNamespace '.*' must/);
      expect(functions.problem?.message).toMatch(
        /^Invalid function configuration: POWERTOOLS_METRICS_NAMESPACE must/,
      );
      expect(poller).toThrow(/^Invalid poller configuration: POWERTOOLS_METRICS_NAMESPACE must/);
    }
  });

  it('does not inherit the names unique in an account: the bus and a created secret', () => {
    // Prepare
    const declarations = {
      prod: { eventBusName: 'tanium-tr-prod', credentials: { mode: 'create', secretName: 'tanium-tr/prod' } },
      soc: { extends: 'prod', eventBusName: 'tanium-tr-soc' },
      shared: {
        eventBusName: 'tanium-tr-shared',
        credentials: { mode: 'import', secretName: 'tanium-tr/shared' },
      },
      copy: { extends: 'shared', eventBusName: 'tanium-tr-copy' },
      // What tsc refuses and synth, under tsx, still reads
      nameless: { extends: 'prod' } as unknown as EnvironmentDeclaration,
    } satisfies Record<string, EnvironmentDeclaration>;

    // Act
    const soc = resolveEnvironment('soc', {}, declarations);
    const copy = resolveEnvironment('copy', {}, declarations);

    // Assess: a created secret gets the stack's generated name; an imported one is shared on purpose
    expect(soc).toMatchObject({ eventBusName: 'tanium-tr-soc', credentials: { mode: 'create' } });
    expect(soc.credentials).not.toHaveProperty('secretName');
    expect(copy.credentials).toEqual({ mode: 'import', secretName: 'tanium-tr/shared' });
    expect(problemsOf(() => resolveEnvironment('nameless', {}, declarations))).toBe(
      "Invalid configuration for environment 'nameless': eventBusName is required in every environment: it is never inherited, since a bus name is unique in an account and region",
    );
    // The bus may come with the overrides instead
    expect(
      resolveEnvironment('nameless', { eventBusName: 'tanium-tr-nameless' }, declarations).eventBusName,
    ).toBe('tanium-tr-nameless');
  });

  it('replaces lists and the credentials choice whole instead of merging them', () => {
    // Prepare
    const declarations = {
      a: {
        eventBusName: 'bus-a',
        alarms: { topic: true, emailSubscriptions: ['a@example.com'] },
        requestSources: ['one', 'two'],
        credentials: {
          mode: 'import',
          secretCompleteArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tanium-AbCdEf',
          kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1',
        },
      },
      b: {
        extends: 'a',
        eventBusName: 'bus-b',
        alarms: { emailSubscriptions: ['b@example.com'] },
        requestSources: ['three'],
        credentials: { mode: 'import', secretName: 'tanium' },
      },
    } satisfies Record<string, EnvironmentDeclaration>;

    // Act
    const b = resolveEnvironment('b', {}, declarations);

    // Assess
    expect(b.alarms.emailSubscriptions).toEqual(['b@example.com']);
    expect(b.alarms.topic).toBe(true);
    expect(b.requestSources).toEqual(['three']);
    expect(b.credentials).toEqual({ mode: 'import', secretName: 'tanium' });
  });

  it.each([
    [
      'an unknown function',
      { functions: { evidenc: { timeoutSeconds: 900 } } },
      /functions: unknown evidenc \(known: connections, /,
    ],
    [
      'a function that is not a group',
      { functions: { evidence: 900 } },
      /functions\.evidence must be a group of settings \(an object\)/,
    ],
    ['functions set to null', { functions: null }, /functions must be a group of settings/],
    ['a poller that is a string', { poller: 'off' }, /poller must be a group of settings/],
    ['alarms set to null', { alarms: null }, /alarms must be a group of settings/],
    [
      'poller settings set to null',
      { poller: { settings: null } },
      /poller\.settings must be a group of settings/,
    ],
    [
      'an unknown poller setting',
      { poller: { settings: { pageSiz: 100 } } },
      /poller\.settings: unknown pageSiz \(known: pageSize, /,
    ],
    [
      'a timeout given as text',
      { functions: { evidence: { timeoutSeconds: '900' } } },
      /functions\.evidence\.timeoutSeconds must be a number/,
    ],
    [
      'a required function setting unset',
      { functions: { evidence: { timeoutSeconds: undefined } } },
      /functions\.evidence\.timeoutSeconds is required/,
    ],
    [
      'a required poller setting unset',
      { poller: { firstRunHours: undefined } },
      /poller\.firstRunHours is required/,
    ],
    ['a required switch unset', { retainData: undefined }, /retainData is required/],
    [
      'a required list unset',
      { alarms: { emailSubscriptions: undefined } },
      /alarms\.emailSubscriptions is required/,
    ],
    ['a switch given as text', { poller: { enabled: 'yes' } }, /poller\.enabled must be true or false/],
    [
      'a list given as one string',
      { requestSources: 'soar.pipeline' },
      /requestSources must be a list of strings/,
    ],
    ['an unknown vpc setting', { vpc: { enabld: true } }, /vpc: unknown enabld \(known: enabled, /],
    ['an unknown top-level setting', { retainDta: true }, /unknown retainDta \(known: /],
    [
      'an import naming no secret',
      { credentials: { mode: 'import' } },
      /credentials must name the secret to import by exactly one of secretCompleteArn or secretName, with an optional kmsKeyArn, all strings/,
    ],
    [
      'an import naming two secrets',
      { credentials: { mode: 'import', secretCompleteArn: 'arn', secretName: 'tanium' } },
      /credentials must name the secret to import by exactly one of secretCompleteArn or secretName/,
    ],
    [
      'a create with an ARN',
      { credentials: { mode: 'create', secretCompleteArn: 'arn' } },
      /credentials: unknown secretCompleteArn \(known: mode, secretName\)/,
    ],
    [
      'an unknown credentials mode',
      { credentials: { mode: 'imported', secretName: 'tanium' } },
      /credentials\.mode must be 'create' or 'import'/,
    ],
    [
      'a flow log retention that is no RetentionDays value',
      { vpc: { flowLogRetention: 4 } },
      /vpc\.flowLogRetention must be a RetentionDays value/,
    ],
    ['an unknown log level', { logLevel: 'TRACE' }, /logLevel must be one of DEBUG, INFO, WARN, ERROR/],
  ])('reports %s in the problems list, not as a TypeError', (_, overrides, message) => {
    expect(problemsOf(() => resolveEnvironment('dev', overrides as unknown as EnvironmentOverrides))).toMatch(
      message,
    );
  });

  it('takes a secret name given as undefined beside an imported ARN as unset, as its type allows', () => {
    // Act
    const config = resolveEnvironment('dev', {
      credentials: { mode: 'import', secretCompleteArn: SECRET_ARN, secretName: undefined },
    });

    // Assess
    expect(config.credentials).toEqual({ mode: 'import', secretCompleteArn: SECRET_ARN });
  });

  it('lists every shape problem at once', () => {
    // Act
    const message = problemsOf(() =>
      resolveEnvironment('dev', {
        functions: { evidenc: {} },
        alarms: null,
        requestSources: 'soar.pipeline',
      } as unknown as EnvironmentOverrides),
    );

    // Assess
    expect(message).toMatch(/functions: unknown evidenc/);
    expect(message).toMatch(/alarms must be a group of settings/);
    expect(message).toMatch(/requestSources must be a list of strings/);
  });

  it('names an environment that extends an unknown one, or a cycle of them', () => {
    expect(
      problemsOf(() => resolveEnvironment('b', {}, { b: { extends: 'prd', eventBusName: 'bus-b' } })),
    ).toBe(
      "Invalid configuration for environment 'b': b extends 'prd', which is not an environment (known: b)",
    );
    expect(
      problemsOf(() =>
        resolveEnvironment(
          'a',
          {},
          {
            a: { extends: 'b', eventBusName: 'bus-a' },
            b: { extends: 'a', eventBusName: 'bus-b' },
          },
        ),
      ),
    ).toMatch(/extend one another in a cycle: a -> b -> a/);
  });
});

describe('Infrastructure configuration: poller settings', () => {
  /** Every setting, each with a valid value other than the poller's default. */
  const EVERY_SETTING: Required<PollerSettings> = {
    pageSize: POLLER_DEFAULTS.pageSize + 50,
    maxRequestsPerRun: POLLER_DEFAULTS.maxRequestsPerRun + 1,
    overlapSeconds: POLLER_DEFAULTS.overlapSeconds + 1,
    reserveSeconds: POLLER_DEFAULTS.reserveSeconds + 1,
    maxRunSeconds: 90,
    maxRecentIds: POLLER_DEFAULTS.maxRecentIds + 1,
    filterState: 'unresolved,inprogress',
    filterPriority: 'high',
    filterSeverity: 'critical',
    filterIntelDocId: '12',
    filterQuery: 'computerName=web-02',
    enrichIntelNames: true,
  };
  const withPoller = (settings: PollerSettings) => ({ poller: { settings } });
  const REQUIRED = { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' };

  it.each(Object.entries(POLLER_SETTING_VARIABLES))(
    'passes %s as %s, a variable the poller reads',
    (name, variable) => {
      // Prepare
      const value = EVERY_SETTING[name as keyof PollerSettings];

      // Act
      const env = pollerSettingsEnvironment({ [name]: value });

      // Assess
      expect(env).toEqual({ [variable]: String(value) });
      expect(loadPollerConfig({ ...REQUIRED, ...env })).not.toEqual(loadPollerConfig(REQUIRED));
    },
  );

  it('passes no variable for a setting left undefined, nor for a name the poller does not know', () => {
    expect(pollerSettingsEnvironment({ pageSize: undefined, pageSiz: 100 } as PollerSettings)).toEqual({});
  });

  it('rejects a poller timeout the default reserve would use up, naming both settings', () => {
    expect(() =>
      resolveEnvironment('dev', {
        functions: { 'alert-poller': { timeoutSeconds: 10 } },
      }),
    ).toThrow(
      'poller.settings.reserveSeconds must be at least 5 s below the alert-poller timeoutSeconds, the time a run needs to read Tanium (10, the default, against 10)',
    );
  });

  it('accepts a reserve that leaves a run exactly the time it needs to read Tanium', () => {
    const resolved = resolveEnvironment('dev', {
      functions: { 'alert-poller': { timeoutSeconds: 15 } },
    });
    expect(resolved.functions['alert-poller'].timeoutSeconds).toBe(15);
  });

  it('accepts every setting with a valid value', () => {
    expect(resolveEnvironment('dev', withPoller(EVERY_SETTING)).poller.settings).toEqual(EVERY_SETTING);
  });

  it.each([
    [{ pageSize: 5 }, /poller.settings: .*POLLER_PAGE_SIZE must be a whole number from 10 to 1000/],
    [{ filterIntelDocId: 'abc' }, /poller.settings: .*POLLER_FILTER_INTEL_DOC_ID must list integers/],
    [
      { filterSeverity: 'critical,high' },
      /poller.settings: .*POLLER_FILTER_SEVERITY lists 2 values of severity/,
    ],
    [{ maxRecentIds: 50_000 }, /POLLER_MAX_RECENT_IDS/],
    [
      { reserveSeconds: 120 },
      /poller.settings.reserveSeconds must be at least 5 s below the alert-poller timeoutSeconds/,
    ],
    [
      { reserveSeconds: 116 },
      'poller.settings.reserveSeconds must be at least 5 s below the alert-poller timeoutSeconds, the time a run needs to read Tanium (116, against 120)',
    ],
    [
      { maxRunSeconds: 4 },
      /poller.settings: .*POLLER_MAX_RUN_SECONDS must be 0 or a whole number from 5 to 900/,
    ],
    [{ pageSiz: 100 } as PollerSettings, /poller.settings: unknown pageSiz \(known: pageSize, /],
  ])('rejects %j as the poller would, naming the setting', (settings, message) => {
    expect(() => resolveEnvironment('dev', withPoller(settings))).toThrow(message);
  });
});

describe('Infrastructure configuration: families', () => {
  it('covers the 20 connector actions, each in one family', () => {
    const all = Object.values(FAMILY_ACTIONS).flat();
    expect(all).toHaveLength(20);
    expect(new Set(all).size).toBe(20);
  });

  it('matches display names and identifiers', () => {
    expect(familyActionNames('investigation')).toEqual([
      'get process',
      'get process tree',
      'get events',
      'get events summary',
      'get_process',
      'get_process_tree',
      'get_events',
      'get_events_summary',
    ]);
  });

  it('has the families of design.md §1', () => {
    expect(FAMILIES).toEqual(['connections', 'snapshots', 'investigation', 'evidence', 'intel', 'alerts']);
  });

  // The stack gives these families the state table and alarms on their unrecorded results: a family
  // missing here would replay a create or a delete on redelivery.
  it.each<[Family, string[]]>([
    ['connections', ['create connection', 'close connection', 'delete connection']],
    ['snapshots', ['create snapshot', 'delete snapshot']],
    ['investigation', []],
    // get file changes only the vault, and a replay must return the vault_ids it stored.
    ['evidence', ['save file', 'delete file', 'get file']],
    ['intel', ['upload intel doc', 'start quick scan']],
    ['alerts', []],
  ])('keeps idempotency records for the %s actions that change state: %j', (family, mutating) => {
    expect(mutatingActionNames(family)).toEqual(mutating);
  });

  it('counts as mutating exactly the families with an action that changes state', () => {
    expect(MUTATING_FAMILIES).toEqual(['connections', 'snapshots', 'evidence', 'intel']);
  });
});

describe('Infrastructure configuration: bundling and helpers', () => {
  it.each(FUNCTION_NAMES)('feeds CDK and esbuild the same settings for %s', (name) => {
    // Act
    const cdk = cdkBundlingOptions(name);
    const direct = esbuildBuildOptions(name, 'out/index.mjs');

    // Assess
    expect(cdk).toMatchObject({
      format: 'esm',
      minify: true,
      sourceMap: true,
      sourceMapMode: 'default',
      sourcesContent: false,
      target: 'node22',
      externalModules: [
        ...BUNDLE_SETTINGS.external,
        ...(VAULT_FUNCTIONS.includes(name) ? [] : ['@aws-sdk/client-s3']),
      ],
      mainFields: ['module', 'main'],
      banner: BUNDLE_SETTINGS.banner,
      forceDockerBundling: false,
    });
    expect(direct).toMatchObject({
      bundle: true,
      format: cdk.format,
      platform: 'node',
      minify: cdk.minify,
      sourcemap: cdk.sourceMap,
      sourcesContent: cdk.sourcesContent,
      target: cdk.target,
      external: cdk.externalModules,
      mainFields: cdk.mainFields,
      banner: { js: cdk.banner },
      entryPoints: [join(PROJECT_ROOT, 'functions', name, 'index.ts')],
    });
  });

  it.each<[boolean, Record<string, string>]>([
    [true, { NODE_OPTIONS: '--enable-source-maps' }],
    // Without source maps Node need not parse a .map file at every cold start.
    [false, {}],
  ])('with source maps %s, sets the NODE_OPTIONS %j', (sourceMaps, options) => {
    expect(functionNodeOptions(sourceMaps)).toEqual(options);
  });

  it('leaves the S3 client to the Lambda runtime in every function without a vault', () => {
    // Act
    const leftOut = FUNCTION_NAMES.filter((name) => externalModules(name).includes('@aws-sdk/client-s3'));

    // Assess
    expect(leftOut).toEqual(['connections', 'snapshots', 'investigation', 'alerts', 'alert-poller']);
  });

  it('bundles the S3 client into exactly the functions whose entry builds a vault', () => {
    // Prepare: an entry that builds a vault uses a vault family handler (one that stores, one that reads).
    const withVault = FUNCTION_NAMES.filter((name) =>
      /vault(-reader)?-family-handler/.test(
        readFileSync(join(PROJECT_ROOT, 'functions', name, 'index.ts'), 'utf8'),
      ),
    );

    // Assess
    expect(withVault).toEqual(['evidence', 'intel']);
    expect([...VAULT_FUNCTIONS]).toEqual(withVault);
  });

  it('hides a queued record for six function timeouts plus the batching window', () => {
    expect(visibilityTimeoutSeconds(120, 0)).toBe(720);
    expect(visibilityTimeoutSeconds(60, 5)).toBe(365);
  });

  it.each([
    [
      'a join of an attribute and a path',
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket1', 'Arn'] }, '/results/*']] },
      '<Bucket1.Arn>/results/*',
    ],
    [
      'a join keeps its delimiter',
      { 'Fn::Join': [':', ['arn', { Ref: 'AWS::Partition' }, 's3']] },
      'arn:<AWS::Partition>:s3',
    ],
    ['a reference', { Ref: 'Secret1' }, '<Secret1>'],
    [
      'a substitution, every placeholder',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an Fn::Sub template, not a JavaScript one.
      { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket1}/*' },
      'arn:<AWS::Partition>:s3:::<Bucket1>/*',
    ],
    ['an imported value', { 'Fn::ImportValue': 'shared-bucket-arn' }, 'shared-bucket-arn'],
    ['a missing part', undefined, ''],
    ['a number', 42, '42'],
    ['null', null, 'null'],
    ['an object that is no reference', { Bucket: 'b' }, '{"Bucket":"b"}'],
  ])('spells %s the way cdk-nag names findings', (_, value, expected) => {
    expect(flattenCfnReference(value)).toBe(expected);
  });
});

// Each app run is a fresh Node process that loads the CDK (and a synthesis for dev): about 10 s alone,
// and well past the default timeout when the whole suite shares the cores.
describe('Infrastructure app entry (cdk.json)', { timeout: 120_000 }, () => {
  // What the CDK CLI does for `cdk synth -c env=<name>`: run the app with the context in CDK_CONTEXT_JSON.
  // Only what needs the real entry runs it: the entry hands `-c env` to buildApp, shown by a name that
  // fails fast; what buildApp makes of a known name is checked in-process below.
  async function runApp(context: Record<string, unknown>) {
    const outdir = mkdtempSync(join(tmpdir(), 'tanium-app-'));
    try {
      const result = await run(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          CDK_OUTDIR: outdir,
          // Bundling is covered by stack.test.ts; skip it here.
          CDK_CONTEXT_JSON: JSON.stringify({
            ...CDK_JSON_CONTEXT,
            ...context,
            'aws:cdk:bundling-stacks': [],
          }),
        },
      }).then(
        () => ({ ok: true as const, stderr: '' }),
        (error: { stderr: string }) => ({ ok: false as const, stderr: error.stderr }),
      );
      return { ...result, files: readdirSync(outdir) };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }

  it('selects the environment -c env names, failing with the list of environments when it names none', async () => {
    // Act
    const unknown = await runApp({ env: 'staging' });
    const dev = await runApp({ env: 'dev' });

    // Assess: the name reached the environment lookup from the context
    expect(unknown.ok).toBe(false);
    // The message alone, not buried under a stack trace
    expect(unknown.stderr.trim()).toBe("Unknown environment 'staging': use -c env=<dev|prod>");
    expect(unknown.files).toEqual([]);
    // A known one is synthesized into the output directory (the entry ends in app.synth())
    expect(dev.ok).toBe(true);
    expect(dev.files).toContain('TaniumThreatResponse-dev.template.json');
  });

  it('sets every feature flag the installed aws-cdk-lib recommends, at the recommended value', () => {
    // Unset, a flag keeps CDK's legacy behaviour for any construct added later, and every synth and deploy
    // warns about it. A CDK upgrade that brings new flags fails here: check what each changes in the
    // templates (`npx cdk flags --unstable=flags -c env=dev`, `cdk diff`), then set it in cdk.json.
    const unset = Object.entries(CURRENTLY_RECOMMENDED_FLAGS)
      .filter(([flag, value]) => JSON.stringify(CDK_JSON_CONTEXT[flag]) !== JSON.stringify(value))
      .map(([flag, value]) => `${flag}: ${JSON.stringify(value)}`);

    expect(unset).toEqual([]);
  });

  it('has no environment by default, so a command that names none deploys nothing', async () => {
    // Prepare
    const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8'));

    // Act: the key misspelt, as `cdk deploy -c environment=prod` gives it
    const misspelt = await runApp({ environment: 'prod' });

    // Assess
    expect(cdkJson.context?.env).toBeUndefined();
    expect(misspelt.ok).toBe(false);
    expect(misspelt.stderr.trim()).toBe(
      'No environment given: use -c env=<dev|prod> (there is no default); -c environment=prod is not read: the key is env',
    );
    expect(misspelt.files).toEqual([]);
  });

  it.each([
    [{}, 'No environment given: use -c env=<dev|prod> (there is no default)'],
    [{ env: '' }, 'No environment given: use -c env=<dev|prod> (there is no default)'],
    [
      // CDK's own context (its switches, lookups and feature flags) is no misspelling
      { ENV: 'prod', envName: 7, 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:newStyleEnvironment': true },
      'No environment given: use -c env=<dev|prod> (there is no default); -c ENV=prod, -c envName=7 is not read: the key is env',
    ],
    [
      // A value given as JSON is shown as JSON; a key starting with '@' is a flag even without a ':'
      { environments: ['prod'], '@environment-flag': true },
      'No environment given: use -c env=<dev|prod> (there is no default); -c environments=["prod"] is not read: the key is env',
    ],
  ])('refuses context %j, naming what looks like a misspelt env', (context, message) => {
    // Act
    const refusal = () => environmentFromContext(context);

    // Assess: the whole message (an empty env is not a misspelling of itself)
    expect(refusal).toThrow(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  it('takes no lookup that cdk.context.json keeps for a misspelt env, whatever it looked up', () => {
    // Prepare: a lookup's key names what it looked up, here a parameter with "environment" in its name
    const context = { 'ssm:account=111122223333:parameterName=/tanium/environment:region=eu-west-1': 'prod' };

    // Act
    const refusal = () => environmentFromContext(context);

    // Assess: the whole message, so that a key wrongly named as a misspelling would show
    expect(refusal).toThrow(/^No environment given: use -c env=<dev\|prod> \(there is no default\)$/);
  });

  it('takes the environment from env alone', () => {
    expect(environmentFromContext({ env: 'prod', environment: 'dev' })).toBe('prod');
  });

  it('synthesizes the stack of the environment it is given, cdk-nag passing', () => {
    // Act: what the entry does with `-c env=prod`
    const s = synthesize('prod', {}, { bundling: false });

    // Assess
    try {
      expect(readdirSync(s.outdir)).toContain('TaniumThreatResponse-prod.template.json');
      expect(s.stack.stackName).toBe('TaniumThreatResponse-prod');
      expect(s.config).toEqual(resolveEnvironment('prod'));
      expect(s.assembly.getStackByName('TaniumThreatResponse-prod').terminationProtection).toBe(true);
      expect(nagViolations(s)).toEqual([]);
    } finally {
      cleanup(s);
    }
  });
});
