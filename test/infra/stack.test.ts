import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_SETTINGS,
  esbuildBuildOptions,
  externalModules,
  MAX_BUNDLE_BYTES,
  VAULT_FUNCTIONS,
} from '../../infra/bundling.ts';
import {
  POLLER_LAG_METRIC,
  POLLER_NAME,
  POLLER_REFUSED_METRIC,
  POLLER_UNIDENTIFIED_METRIC,
  UNRECORDED_RESULTS_METRIC,
} from '../../infra/constructs/monitoring.ts';
import { IDEMPOTENCY_TABLE_ACTIONS, POLLER_TABLE_ACTIONS } from '../../infra/constructs/tanium-function.ts';
import { ENVIRONMENT_NAMES } from '../../infra/environments.ts';
import {
  FAMILIES,
  FUNCTION_NAMES,
  type FunctionName,
  familyActionNames,
  MUTATING_FAMILIES,
  POLLER_FUNCTION,
  PUBLISHED_EVENTS,
} from '../../infra/families.ts';
import { pollerSettingsEnvironment } from '../../infra/poller-settings.ts';
import { visibilityTimeoutSeconds } from '../../infra/queue-timing.ts';
import { pascalCase, spoolMaxBytes } from '../../infra/stack.ts';
import { ACTIONS } from '../../shared/actions/table.ts';
import { DEAD_LETTER_RETENTION_DAYS, SOURCE_QUEUE_RETENTION_DAYS } from '../../shared/config/retention.ts';
import { POLLER_KEY_PREFIX } from '../../shared/config/state-keys.ts';
import {
  cleanup,
  getAtt,
  logicalId,
  nagViolations,
  permissionsOf,
  ref,
  type Synthesized,
  synthesize,
} from './synth.ts';

const DAY_SECONDS = 86_400;

/** An entry of an alarm's `Metrics` (a metric math alarm). */
interface MetricQuery {
  Id: string;
  Expression?: string;
  ReturnData?: boolean;
  MetricStat?: {
    Metric: { Namespace?: string; MetricName: string; Dimensions: { Name: string; Value: string }[] };
    Stat: string;
  };
}

/**
 * The environment whose functions are bundled with esbuild. The bundles do not depend on the
 * environment (cdkBundlingOptions takes no configuration; what differs, NODE_OPTIONS for source maps,
 * is in the template), so one environment's bundles are checked and the others skip bundling. Prod's,
 * as the bundles deployed where it matters.
 */
const BUNDLED_ENVIRONMENT = 'prod';

it('bundles the functions of an environment the stack tests synthesize', () => {
  expect(ENVIRONMENT_NAMES).toContain(BUNDLED_ENVIRONMENT);
});

// Construct ids and output keys come from it: a change renames outputs the README and the runbook name
// (ConnectionsQueueUrl, AlertPollerFunctionName) and replaces every resource under a renamed construct.
it.each([
  ['connections', 'Connections'],
  ['alert-poller', 'AlertPoller'],
])('names %s %s in construct ids and output keys', (name, expected) => {
  expect(pascalCase(name)).toBe(expected);
});

// One synthesis per environment, with cdk-nag, shared by every test below.
describe.each(ENVIRONMENT_NAMES)('Infrastructure: the %s environment', (envName) => {
  let s: Synthesized;
  const bundled = envName === BUNDLED_ENVIRONMENT;

  // Bundling the seven functions with esbuild takes well under a minute alone, longer on a loaded machine.
  beforeAll(() => {
    s = synthesize(envName, {}, { bundling: bundled });
  }, 240_000);

  afterAll(() => {
    cleanup(s);
  });

  const id = (construct: Parameters<typeof logicalId>[1]) => logicalId(s.stack, construct);
  const fnId = (name: FunctionName) => id(s.stack.functions[name]);
  const fnResource = (name: FunctionName) => s.template.toJSON().Resources[fnId(name)];
  /**
   * DeletionPolicy: where the environment retains data, kept on delete but deleted by a failed first
   * deploy's rollback, unless that deletion could fail (`keptOnFailedCreate`).
   */
  const deletion = (keptOnFailedCreate = false) => {
    if (!s.config.retainData) return 'Delete';
    return keptOnFailedCreate ? 'Retain' : 'RetainExceptOnCreate';
  };
  const replacement = () => (s.config.retainData ? 'Retain' : 'Delete');

  describe('cdk-nag (AwsSolutions)', () => {
    it('reports no finding that is not acknowledged', () => {
      expect(nagViolations(s)).toEqual([]);
    });

    it('gives every acknowledgement a reason', () => {
      // Prepare
      const acknowledgements = s.assembly
        .getStackByName(s.stack.stackName)
        .findMetadataByType('aws:cdk:acknowledged-rules')
        .flatMap((entry) => Object.entries(entry.data as unknown as Record<string, string>));

      // Assess
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const [rule, reason] of acknowledgements) {
        expect(rule).toMatch(/AwsSolutions-/);
        expect(reason.length, rule).toBeGreaterThan(30);
      }
    });
  });

  describe('event bus and family queues', () => {
    it('creates the named bus', () => {
      s.template.hasResourceProperties('AWS::Events::EventBus', { Name: s.config.eventBusName });
    });

    it('lets no one but the functions put results or alerts on the bus', () => {
      // Prepare
      const bus = s.template.toJSON().Resources[id(s.stack.bus)];
      const roles = FUNCTION_NAMES.map((name) => getAtt(id(s.stack.functions[name].role as never)));

      // Assess: one deny, on what results and alerts carry, for every principal but those roles: a
      // request under the same source still goes through
      expect(bus.Properties.Policy.Statement).toEqual([
        {
          Sid: 'OnlyTheFunctionsPublishResultsAndAlerts',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'events:PutEvents',
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':events:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                `:event-bus/${s.config.eventBusName}`,
              ],
            ],
          },
          Condition: {
            StringEquals: {
              'events:source': ['tanium.threat-response'],
              'events:detail-type': ['Action Result', 'Alert'],
            },
            ArnNotEquals: { 'aws:PrincipalArn': roles },
          },
        },
      ]);
    });

    it.each(FAMILIES)(
      'routes "Action Request" events for %s actions (both spellings, any case) to its queue',
      (family) => {
        // Prepare
        const queue = s.stack.queues[family];

        // Assess
        s.template.hasResourceProperties('AWS::Events::Rule', {
          EventBusName: ref(id(s.stack.bus)),
          EventPattern: {
            ...(s.config.requestSources.length > 0 ? { source: s.config.requestSources } : {}),
            'detail-type': ['Action Request'],
            detail: { action: familyActionNames(family).map((name) => ({ 'equals-ignore-case': name })) },
          },
          Targets: [
            Match.objectLike({
              Arn: getAtt(id(queue.queue)),
              DeadLetterConfig: { Arn: getAtt(id(queue.deadLetterQueue)) },
            }),
          ],
        });
      },
    );

    it('routes requests no family rule takes (unknown action, none) to the connections queue', () => {
      // Prepare
      const queue = s.stack.queues.connections;

      // Assess: the pattern's matching itself is checked against moto in request-routing.test.ts
      s.template.hasResourceProperties('AWS::Events::Rule', {
        EventBusName: ref(id(s.stack.bus)),
        EventPattern: {
          ...(s.config.requestSources.length > 0 ? { source: s.config.requestSources } : {}),
          'detail-type': ['Action Request'],
          detail: {
            action: [
              { exists: false },
              { 'anything-but': { 'equals-ignore-case': FAMILIES.flatMap(familyActionNames) } },
            ],
          },
        },
        Targets: [
          Match.objectLike({
            Arn: getAtt(id(queue.queue)),
            DeadLetterConfig: { Arn: getAtt(id(queue.deadLetterQueue)) },
          }),
        ],
      });
    });

    it.each(FAMILIES)(
      'gives the %s queue a DLQ, SSE, TLS only and a visibility timeout of 6x the function',
      (family) => {
        // Prepare
        const queue = s.stack.queues[family];
        const settings = s.config.functions[family];
        const resources = s.template.toJSON().Resources;

        // Assess
        const props = resources[id(queue.queue)].Properties;
        expect(props.RedrivePolicy).toEqual({
          deadLetterTargetArn: getAtt(id(queue.deadLetterQueue)),
          maxReceiveCount: s.config.maxReceiveCount,
        });
        expect(props.SqsManagedSseEnabled).toBe(true);
        expect(resources[id(queue.deadLetterQueue)].Properties.SqsManagedSseEnabled).toBe(true);
        expect(resources[id(queue.deadLetterQueue)].DeletionPolicy).toBe(deletion());
        expect(resources[id(queue.deadLetterQueue)].UpdateReplacePolicy).toBe(replacement());
        // IDEMPOTENCY_RECORD_DAYS is sized from these two: a record must outlive every redelivery.
        expect(props.MessageRetentionPeriod).toBe(SOURCE_QUEUE_RETENTION_DAYS * DAY_SECONDS);
        expect(resources[id(queue.deadLetterQueue)].Properties.MessageRetentionPeriod).toBe(
          DEAD_LETTER_RETENTION_DAYS * DAY_SECONDS,
        );
        expect(props.VisibilityTimeout).toBeGreaterThanOrEqual(6 * settings.timeoutSeconds);
        expect(props.VisibilityTimeout).toBe(
          visibilityTimeoutSeconds(settings.timeoutSeconds, settings.maxBatchingWindowSeconds),
        );
        for (const q of [queue.queue, queue.deadLetterQueue]) {
          s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
            Queues: [ref(id(q))],
            PolicyDocument: {
              Statement: Match.arrayWith([
                Match.objectLike({
                  Effect: 'Deny',
                  Action: 'sqs:*',
                  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
                }),
              ]),
            },
          });
        }
      },
    );

    it('lets only the rule of its family send to each queue', () => {
      for (const family of FAMILIES) {
        const queue = s.stack.queues[family];
        s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [ref(id(queue.queue))],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Allow',
                Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
                Principal: { Service: 'events.amazonaws.com' },
                Condition: { ArnEquals: { 'aws:SourceArn': getAtt(id(queue.rule)) } },
              }),
            ]),
          },
        });
      }
    });
  });

  describe('functions', () => {
    it.each(FUNCTION_NAMES)('runs %s on nodejs22.x arm64 with its memory, timeout and log group', (name) => {
      // Prepare
      const settings = s.config.functions[name];
      const fn = s.stack.functions[name];

      // Act
      const props = fnResource(name).Properties;

      // Assess
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Handler).toBe('index.handler');
      expect(props.MemorySize).toBe(settings.memoryMiB);
      expect(props.Timeout).toBe(settings.timeoutSeconds);
      expect(props.EphemeralStorage?.Size).toBe(settings.ephemeralStorageMiB);
      expect(props.LoggingConfig).toEqual({ LogGroup: ref(id(fn.functionLogGroup)) });
      const logGroup = s.template.toJSON().Resources[id(fn.functionLogGroup)];
      expect(logGroup.Properties.RetentionInDays).toBe(s.config.logRetention);
      expect(logGroup.DeletionPolicy).toBe(deletion());
    });

    it('has npm run test:lambda-node run the suite on the Node major the functions run on', () => {
      // Prepare: a runtime moved to another major leaves the script testing the old one
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        scripts: Record<string, string>;
      };

      // Act
      const majors = new Set(
        FUNCTION_NAMES.map((name) => /^nodejs(\d+)\.x$/.exec(fnResource(name).Properties.Runtime)?.[1]),
      );

      // Assess
      expect([...majors]).toEqual([/--package=node@(\d+) /.exec(pkg.scripts['test:lambda-node'] ?? '')?.[1]]);
    });

    it('gives every function in the template, CDK helpers included, a log group that expires', () => {
      // Prepare: Lambda's own log group for a function would never expire and outlive the stack
      const functions = s.template.findResources('AWS::Lambda::Function');
      const logGroups = s.template.findResources('AWS::Logs::LogGroup');

      // Assess
      expect(Object.keys(functions)).toHaveLength(FUNCTION_NAMES.length + (s.config.retainData ? 0 : 1));
      for (const fn of Object.values(functions)) {
        const logGroupId = String(fn.Properties?.LoggingConfig?.LogGroup?.Ref);
        expect(logGroups[logGroupId]?.Properties?.RetentionInDays).toBe(s.config.logRetention);
      }
    });

    it('gives get file more memory and /tmp than the other families', () => {
      const evidence = s.config.functions.evidence;
      for (const name of FUNCTION_NAMES.filter((n) => n !== 'evidence')) {
        expect(evidence.memoryMiB).toBeGreaterThan(s.config.functions[name].memoryMiB);
      }
      expect(fnResource('evidence').Properties.EphemeralStorage.Size).toBeGreaterThan(512);
    });

    it.each(FUNCTION_NAMES)('configures %s through the environment variables of design.md §3', (name) => {
      // Prepare
      const expected: Record<string, unknown> = {
        POWERTOOLS_SERVICE_NAME: name,
        POWERTOOLS_LOG_LEVEL: s.config.logLevel,
        POWERTOOLS_METRICS_NAMESPACE: s.config.metricsNamespace,
        // Source maps cost every cold start the parse of the .map file: dev has them, prod not.
        ...(envName === 'dev' ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
        TANIUM_SECRET_ID: ref(id(s.stack.credentials as never)),
        EVENT_BUS_NAME: ref(id(s.stack.bus)),
      };
      if (name !== 'alert-poller') {
        expected.VAULT_BUCKET = ref(id(s.stack.vault.bucket));
        expected.MAX_RECEIVE_COUNT = String(s.config.maxReceiveCount);
        // The most records that share the memory: the largest Tanium answer each may read follows.
        expected.QUEUE_BATCH_SIZE = String(s.config.functions[name].batchSize);
        // The cap of a retry's backoff: the queue's own visibility timeout.
        expected.QUEUE_VISIBILITY_TIMEOUT_SECONDS = String(
          visibilityTimeoutSeconds(
            s.config.functions[name].timeoutSeconds,
            s.config.functions[name].maxBatchingWindowSeconds,
          ),
        );
        // Where the backoff changes the visibility: CloudFormation's URL, right in every partition.
        expected.QUEUE_URL = ref(id(s.stack.queues[name].queue));
      } else {
        expected.POLLER_FIRST_RUN_HOURS = String(s.config.poller.firstRunHours);
        expected.POLLER_NAME = POLLER_NAME;
        Object.assign(expected, pollerSettingsEnvironment(s.config.poller.settings ?? {}));
      }
      if (name === 'alert-poller' || MUTATING_FAMILIES.includes(name)) {
        expected.STATE_TABLE = ref(id(s.stack.stateTable));
      }
      if (name === 'evidence') {
        expected.GET_FILE_MAX_BYTES = String(s.config.getFileMaxBytes);
        // Half of /tmp after headroom: the default cap fits twice (keep=both) in the default 2 GiB.
        expected.VAULT_SPOOL_MAX_BYTES = String(
          spoolMaxBytes(
            s.config.functions.evidence.ephemeralStorageMiB,
            s.config.functions.evidence.batchSize,
          ),
        );
        expect(Number(expected.VAULT_SPOOL_MAX_BYTES)).toBeGreaterThanOrEqual(s.config.getFileMaxBytes);
        // Pinned for the default 2 GiB: (2048 - 256 MiB of headroom) / 2 = 896 MiB
        if (s.config.functions.evidence.ephemeralStorageMiB === 2048) {
          expect(expected.VAULT_SPOOL_MAX_BYTES).toBe('939524096');
        }
      }

      // Assess
      expect(fnResource(name).Properties.Environment.Variables).toEqual(expected);
    });

    it.each(FAMILIES)('feeds %s from its queue with partial batch failures', (family) => {
      const settings = s.config.functions[family];
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: getAtt(id(s.stack.queues[family].queue)),
        FunctionName: ref(fnId(family)),
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: settings.batchSize,
        MaximumBatchingWindowInSeconds:
          settings.maxBatchingWindowSeconds > 0 ? settings.maxBatchingWindowSeconds : Match.absent(),
        ScalingConfig: { MaximumConcurrency: settings.maxConcurrency },
      });
    });

    it('has one event source per family queue and none for the poller', () => {
      const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'));
      expect(mappings).toHaveLength(FAMILIES.length);
      expect(
        mappings.every((m) => m.Properties.FunctionResponseTypes?.includes('ReportBatchItemFailures')),
      ).toBe(true);
      expect(
        mappings.some(
          (m) => JSON.stringify(m.Properties.FunctionName) === JSON.stringify(ref(fnId('alert-poller'))),
        ),
      ).toBe(false);
    });
  });

  // Registered for the bundled environment only: the others have no bundles to read.
  if (bundled) {
    describe('bundles', () => {
      const assetDir = (name: FunctionName) => {
        const key: string = fnResource(name).Properties.Code.S3Key;
        return join(s.assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
      };

      it.each(FUNCTION_NAMES)(
        'bundles %s as minified ESM under 1.2 MB with a separate source map',
        (name) => {
          // Prepare
          const dir = assetDir(name);

          // Act
          const code = readFileSync(join(dir, BUNDLE_SETTINGS.outFile), 'utf8');
          const map = JSON.parse(readFileSync(join(dir, `${BUNDLE_SETTINGS.outFile}.map`), 'utf8'));

          // Assess (booleans, so a failure does not print a megabyte of bundle)
          expect(statSync(join(dir, BUNDLE_SETTINGS.outFile)).size).toBeLessThan(MAX_BUNDLE_BYTES);
          expect(code.startsWith(BUNDLE_SETTINGS.banner), 'starts with the createRequire banner').toBe(true);
          expect(
            /export\s*\{[^}]*\bas handler\b|export\s*\{\s*handler\b/.test(code),
            'exports handler as ESM',
          ).toBe(true);
          expect(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/.test(code), 'links the separate map').toBe(
            true,
          );
          expect(map.sourcesContent, 'map without sources').toBeUndefined();
          // The AWS SDK is bundled, not left to the runtime's copy: no static import of it at all, and the
          // only dynamic ones are the credential providers Lambda never reaches and, in the functions
          // without a vault, the S3 client for results too big for an event.
          expect(/from\s*["']@(aws-sdk|smithy)\//.test(code), 'no static external SDK import').toBe(false);
          const dynamic = [...code.matchAll(/import\(\s*["'](@(?:aws-sdk|smithy)\/[^"']+)["']\s*\)/g)].map(
            (m) => m[1] ?? '',
          );
          expect(
            dynamic.every((module) => externalModules(name).includes(module)),
            dynamic.join(),
          ).toBe(true);
          // Only the vault functions carry the S3 client ("AmazonS3" names the service in its commands).
          const vault = VAULT_FUNCTIONS.includes(name);
          expect(code.includes('"AmazonS3"'), 'bundles the S3 client').toBe(vault);
          expect(dynamic.includes('@aws-sdk/client-s3'), 'imports the S3 client when needed').toBe(
            !vault && name !== POLLER_FUNCTION,
          );
          expect(existsSync(join(dir, 'index.js'))).toBe(false);
        },
      );

      it('builds the same bundle as esbuild with the shared settings (what the benchmark measures)', async () => {
        // Prepare
        const out = mkdtempSync(join(tmpdir(), 'tanium-bundle-'));
        try {
          const outfile = join(out, BUNDLE_SETTINGS.outFile);

          // Act
          await esbuild.build({
            ...esbuildBuildOptions('connections', outfile),
            logLevel: 'silent',
          });

          // Assess
          const same = readFileSync(outfile).equals(
            readFileSync(join(assetDir('connections'), BUNDLE_SETTINGS.outFile)),
          );
          expect(same, 'esbuild output equals the deployed bundle').toBe(true);
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      });
    });
  }

  describe('least privilege', () => {
    const vaultArn = () => `<${id(s.stack.vault.bucket)}.Arn>`;

    /** Everything each function may do, resource by resource; anything else is a failure. */
    function expectedPermissions(name: FunctionName): Record<string, string[]> {
      const fn = s.stack.functions[name];
      const p: Record<string, string[]> = {};
      const add = (actions: readonly string[], resources: string[]) => {
        for (const action of actions) p[action] = [...(p[action] ?? []), ...resources].sort();
      };
      add(['logs:CreateLogStream', 'logs:PutLogEvents'], [`<${id(fn.functionLogGroup)}.Arn>`]);
      add(['secretsmanager:GetSecretValue'], [`<${id(s.stack.credentials as never)}>`]);
      add(['events:PutEvents'], [`<${id(s.stack.bus)}.Arn>`]);
      if (name === 'alert-poller') {
        add(POLLER_TABLE_ACTIONS, [`<${id(s.stack.stateTable)}.Arn>`]);
        return p;
      }
      add(
        [
          'sqs:ReceiveMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueUrl',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
        ],
        [`<${id(s.stack.queues[name].queue)}.Arn>`],
      );
      // The on-failure destination of asynchronous invocations.
      add(
        ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        [`<${id(s.stack.queues[name].deadLetterQueue)}.Arn>`],
      );
      add(['s3:PutObject'], [`${vaultArn()}/results/*`]);
      if (name === 'evidence') {
        add(['s3:GetObject'], [`${vaultArn()}/vault/*`, `${vaultArn()}/incoming/*`]);
        add(
          ['s3:PutObject', 's3:AbortMultipartUpload'],
          [`${vaultArn()}/vault/*`, `${vaultArn()}/incoming/*`],
        );
        add(['s3:DeleteObject'], [`${vaultArn()}/incoming/*`]);
        add(['s3:ListBucket'], [vaultArn()]);
      }
      if (name === 'intel') {
        add(['s3:GetObject'], [`${vaultArn()}/vault/*`]);
        add(['s3:ListBucket'], [vaultArn()]);
      }
      if (MUTATING_FAMILIES.includes(name))
        add(IDEMPOTENCY_TABLE_ACTIONS, [`<${id(s.stack.stateTable)}.Arn>`]);
      return p;
    }

    it.each(FUNCTION_NAMES)('grants %s exactly the actions and resources it uses', (name) => {
      // Act
      const actual = permissionsOf(s.template, id(s.stack.functions[name].role as never));

      // Assess
      expect(actual).toEqual(expectedPermissions(name));
      expect(Object.keys(actual).filter((action) => action.includes('*'))).toEqual([]);
    });

    it.each(FUNCTION_NAMES)('attaches no managed or inline policy to the %s role', (name) => {
      const role = s.template.toJSON().Resources[id(s.stack.functions[name].role as never)];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.Policies).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    });

    it.each([
      // Each family only its own records: a compromised function cannot erase another's and rerun a mutation.
      ...MUTATING_FAMILIES.map((name): [FunctionName, string] => [name, `action-request#${name}#*`]),
      ['alert-poller', `${POLLER_KEY_PREFIX}*`] as [FunctionName, string],
    ])('limits %s to its own items in the state table (keys %s)', (name, keys) => {
      // Prepare
      const roleId = id(s.stack.functions[name].role as never);
      const statements = Object.values(s.template.findResources('AWS::IAM::Policy'))
        .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>)
        .filter((statement) => [statement.Action].flat().some((a) => String(a).startsWith('dynamodb:')));

      // Assess
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(statement.Condition).toEqual({
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keys] },
        });
      }
    });

    it.each(FUNCTION_NAMES)('lets %s put only its own kind of event on the bus', (name) => {
      // Prepare: a function able to put `Action Request` events could make another family mutate
      const roleId = id(s.stack.functions[name].role as never);
      const expected = name === 'alert-poller' ? PUBLISHED_EVENTS.alert : PUBLISHED_EVENTS.result;

      // Act
      const statements = Object.values(s.template.findResources('AWS::IAM::Policy'))
        .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>)
        .filter((statement) => [statement.Action].flat().includes('events:PutEvents'));

      // Assess
      expect(statements).toHaveLength(1);
      expect(statements[0]!.Condition).toEqual({
        StringEquals: { 'events:source': [expected.source], 'events:detail-type': [expected.detailType] },
      });
      expect(expected).toEqual({
        source: 'tanium.threat-response',
        detailType: name === 'alert-poller' ? 'Alert' : 'Action Result',
      });
    });

    it('keeps idempotency records away from the read-only families', () => {
      for (const name of ['investigation', 'alerts'] as const) {
        const actions = Object.keys(permissionsOf(s.template, id(s.stack.functions[name].role as never)));
        // The role's policies were found: a role read as having none has no dynamodb action either
        expect(actions).toContain('events:PutEvents');
        expect(actions.filter((action) => action.startsWith('dynamodb:'))).toEqual([]);
      }
    });
  });

  describe('vault bucket', () => {
    /** `bucket` blocks public access, disables ACLs, encrypts, and its policy denies requests without TLS. */
    const expectPrivateAndTlsOnly = (bucket: Parameters<typeof id>[0]) => {
      const properties = s.template.toJSON().Resources[id(bucket)].Properties;
      expect(properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
      ]);
      expect(properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: ref(id(bucket)),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    };

    it('blocks public access, enforces TLS, encrypts, versions and disables ACLs', () => {
      // Prepare
      const bucket = s.template.toJSON().Resources[id(s.stack.vault.bucket)];

      // Assess
      expectPrivateAndTlsOnly(s.stack.vault.bucket);
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.LoggingConfiguration.DestinationBucketName).toEqual(
        ref(id(s.stack.vault.accessLogsBucket)),
      );
    });

    it('aborts stale multipart uploads, expires incoming/ and results/, and tiers (and in dev expires) evidence', () => {
      // Act
      const rules =
        s.template.toJSON().Resources[id(s.stack.vault.bucket)].Properties.LifecycleConfiguration.Rules;

      // Assess: old versions of uploads in flight and of results go a day after they are replaced, so a
      // versioned bucket does not keep what the current-version expiry removed
      expect(rules).toEqual(
        expect.arrayContaining([
          {
            Id: 'abort-incomplete-multipart-uploads',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          },
          {
            Id: 'expire-incoming',
            Prefix: 'incoming/',
            ExpirationInDays: 1,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
            Status: 'Enabled',
          },
          {
            Id: 'expire-results',
            Prefix: 'results/',
            ExpirationInDays: s.config.resultsExpirationDays,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
            Status: 'Enabled',
          },
        ]),
      );
      expect(rules).toHaveLength(4);
      // One rule for all of vault/ (S3 refuses two expiring one prefix in the older form): evidence goes
      // to Intelligent-Tiering as written, old versions go after 30 days, and the current version is kept
      // unless the environment says for how long (dev: 30 days), which also clears expired delete markers
      const evidence = rules.filter((r: { Prefix?: string }) => r.Prefix === 'vault/');
      expect(s.config.vaultExpirationDays).toBe(envName === 'dev' ? 30 : undefined);
      expect(evidence).toEqual([
        {
          Id: 'evidence',
          Prefix: 'vault/',
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 0 }],
          ...(envName === 'dev' ? { ExpirationInDays: 30 } : { ExpiredObjectDeleteMarker: true }),
        },
      ]);
    });

    it('keeps access logs private, TLS only and encrypted under a prefix of their own, for the configured days', () => {
      // Prepare
      const resources = s.template.toJSON().Resources;
      const logs = resources[id(s.stack.vault.accessLogsBucket)].Properties;

      // Assess
      expect(resources[id(s.stack.vault.bucket)].Properties.LoggingConfiguration).toEqual({
        DestinationBucketName: ref(id(s.stack.vault.accessLogsBucket)),
        LogFilePrefix: 'vault/',
      });
      expect(logs.LifecycleConfiguration.Rules).toEqual([
        { Id: 'expire-access-logs', ExpirationInDays: s.config.accessLogsExpirationDays, Status: 'Enabled' },
      ]);
      expectPrivateAndTlsOnly(s.stack.vault.accessLogsBucket);
    });

    it('keeps the bucket and its access logs according to the environment', () => {
      const resources = s.template.toJSON().Resources;
      const { bucket, accessLogsBucket } = s.stack.vault;
      expect(resources[id(bucket)].DeletionPolicy).toBe(deletion());
      // S3 may have delivered access logs before the rollback: a bucket not empty cannot be deleted
      expect(resources[id(accessLogsBucket)].DeletionPolicy).toBe(deletion(true));
      for (const each of [bucket, accessLogsBucket]) {
        expect(resources[id(each)].UpdateReplacePolicy).toBe(replacement());
      }
      s.template.resourceCountIs('Custom::S3AutoDeleteObjects', s.config.retainData ? 0 : 2);
    });
  });

  describe('credentials, state and schedule', () => {
    it('creates the credentials secret empty, for put-secret-value', () => {
      const secret = s.template.toJSON().Resources[id(s.stack.credentials as never)];
      expect(secret.Type).toBe('AWS::SecretsManager::Secret');
      expect(secret.Properties.SecretString).toBe('{}');
      expect(secret.Properties.GenerateSecretString).toBeUndefined();
      // A named secret kept by a failed first deploy would fail every retry with "already exists"
      expect(secret.DeletionPolicy).toBe(deletion());
    });

    it('creates the on-demand state table with key id, TTL expiration and point-in-time recovery', () => {
      const table = s.template.toJSON().Resources[id(s.stack.stateTable)];
      expect(table.Properties).toMatchObject({
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: s.config.retainData,
      });
      // Its deletion protection would refuse a failed first deploy's rollback
      expect(table.DeletionPolicy).toBe(deletion(true));
    });

    it('runs the poller on a schedule with retries and a dead-letter queue', () => {
      s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: s.config.poller.schedule,
        State: 'ENABLED',
        Target: Match.objectLike({
          Arn: getAtt(fnId('alert-poller')),
          RetryPolicy: {
            MaximumRetryAttempts: s.config.poller.retryAttempts,
            MaximumEventAgeInSeconds: s.config.poller.maxEventAgeSeconds,
          },
          DeadLetterConfig: { Arn: getAtt(id(s.stack.pollerScheduleDlq)) },
          RoleArn: getAtt(id(s.stack.pollerScheduleRole)),
        }),
      });
      s.template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
      const dlq = s.template.toJSON().Resources[id(s.stack.pollerScheduleDlq)];
      expect(dlq.DeletionPolicy).toBe(deletion());
      expect(dlq.UpdateReplacePolicy).toBe(replacement());
    });

    it("lets only this account's default schedule group assume the schedule's role", () => {
      const role = s.template.toJSON().Resources[id(s.stack.pollerScheduleRole)];
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: {
            StringEquals: {
              'aws:SourceAccount': { Ref: 'AWS::AccountId' },
              'aws:SourceArn': {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    ':scheduler:',
                    { Ref: 'AWS::Region' },
                    ':',
                    { Ref: 'AWS::AccountId' },
                    ':schedule-group/default',
                  ],
                ],
              },
            },
          },
        },
      ]);
      expect(s.template.toJSON().Resources[id(s.stack.pollerSchedule)].Properties.GroupName).toBeUndefined();
    });

    it('lets the schedule invoke only the poller', () => {
      const roleId = id(s.stack.pollerScheduleRole);
      expect(permissionsOf(s.template, roleId)).toEqual({
        'lambda:InvokeFunction': [`<${fnId('alert-poller')}.Arn>`, `<${fnId('alert-poller')}.Arn>:*`].sort(),
        'sqs:SendMessage': [`<${id(s.stack.pollerScheduleDlq)}.Arn>`],
      });
    });

    it('reserves the configured concurrency for the poller and drops polls that waited behind it', () => {
      expect(fnResource('alert-poller').Properties.ReservedConcurrentExecutions).toBe(
        s.config.poller.reservedConcurrency,
      );
      for (const family of FAMILIES) {
        expect(fnResource(family).Properties.ReservedConcurrentExecutions).toBeUndefined();
      }
      s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: ref(fnId('alert-poller')),
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    });

    it("sends a family's failed asynchronous invocations to its DLQ, not into the void", () => {
      for (const family of FAMILIES) {
        s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
          FunctionName: ref(fnId(family)),
          DestinationConfig: {
            OnFailure: { Destination: getAtt(id(s.stack.queues[family].deadLetterQueue), 'Arn') },
          },
        });
      }
    });
  });

  describe('alarms', () => {
    const alarms = () => Object.values(s.template.findResources('AWS::CloudWatch::Alarm'));

    it('alarms on any message in every dead-letter queue, visible or hidden by a redrive', () => {
      const dlqs = [...FAMILIES.map((f) => s.stack.queues[f].deadLetterQueue), s.stack.pollerScheduleDlq];
      for (const dlq of dlqs) {
        const dimensions = JSON.stringify([{ Name: 'QueueName', Value: getAtt(id(dlq), 'QueueName') }]);
        const onQueue = alarms().filter((alarm) =>
          (alarm.Properties.Metrics ?? []).some(
            (query: MetricQuery) =>
              query.MetricStat?.Metric.Namespace === 'AWS/SQS' &&
              JSON.stringify(query.MetricStat.Metric.Dimensions) === dimensions,
          ),
        );
        expect(onQueue).toHaveLength(1);
        const alarm = onQueue[0]!.Properties;
        // Missing data keeps the state: SQS stops a queue's metrics after six hours without access, even
        // with messages in it, which must not turn the alarm OK.
        expect(alarm).toMatchObject({
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 0,
          TreatMissingData: 'ignore',
        });
        expect(alarm.AlarmDescription).toMatch(/^Messages in the dead-letter queue of .*hidden/);
        const queries: MetricQuery[] = alarm.Metrics;
        // `tanium-tr redrive` hides what it reads for up to an hour: the alarm must count those too.
        expect(
          queries
            .filter((query) => query.MetricStat)
            .map((query) => [query.Id, query.MetricStat?.Metric.MetricName, query.MetricStat?.Stat])
            .sort(),
        ).toEqual([
          ['hidden', 'ApproximateNumberOfMessagesNotVisible', 'Maximum'],
          ['visible', 'ApproximateNumberOfMessagesVisible', 'Maximum'],
        ]);
        expect(queries.find((query) => query.Expression)?.Expression).toBe('visible + hidden');
      }
    });

    it.each(FAMILIES)(
      'alarms when a request waits in the %s queue longer than its deliveries take',
      (name) => {
        // Prepare: SQS counts a message's age only until its third receive
        const queue = s.stack.queues[name];

        // Assess
        s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: getAtt(id(queue.queue), 'QueueName') }],
          Statistic: 'Maximum',
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 3 * queue.visibilityTimeoutSeconds,
          TreatMissingData: 'notBreaching',
        });
        expect(3 * queue.visibilityTimeoutSeconds).toBe(name === 'evidence' ? 10_800 : 2160);
      },
    );

    it.each(FAMILIES)(
      'alarms on any error of the %s function, in every period an invocation ending now started in',
      (name) => {
        // Errors are stamped with the invocation's start: a run timing out at 120 s (600 s for evidence),
        // its metrics up to a minute late, started in this 5-minute period or up to 1 (3) before
        s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: ref(fnId(name)) }],
          // Every failed invocation in the period counts, not their average
          Statistic: 'Sum',
          Period: 300,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          DatapointsToAlarm: 1,
          EvaluationPeriods: name === 'evidence' ? 4 : 2,
          TreatMissingData: 'notBreaching',
        });
      },
    );

    /** An alarm on one of the poller's own metrics (namespace, dimensions as the poller emits them). */
    const hasPollerMetricAlarm = (metricName: string, properties: Record<string, unknown>) =>
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: s.config.metricsNamespace,
        MetricName: metricName,
        Dimensions: [
          { Name: 'poller', Value: POLLER_NAME },
          { Name: 'service', Value: 'alert-poller' },
        ],
        ComparisonOperator: 'GreaterThanThreshold',
        ...properties,
      });

    it('alarms when an alert has waited too long to be published', () => {
      hasPollerMetricAlarm(POLLER_LAG_METRIC, {
        Statistic: 'Maximum',
        // A run every minute of up to 120 s: a lag at least every 4 minutes, so none of these is empty
        Period: 300,
        // The metric is in milliseconds; the setting in seconds.
        Threshold: s.config.alarms.pollerLagSeconds * 1000,
        TreatMissingData: 'notBreaching',
      });
      expect(fnResource('alert-poller').Properties.Environment.Variables.POLLER_NAME).toBe(POLLER_NAME);
      // What the poller names its `service` dimension after (its POWERTOOLS_SERVICE_NAME)
      expect(fnResource('alert-poller').Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe(
        'alert-poller',
      );
    });

    it('alarms when the poller drops an alert EventBridge refused, on the metric the poller emits', () => {
      hasPollerMetricAlarm(POLLER_REFUSED_METRIC, { Statistic: 'Sum', Threshold: 0 });
    });

    it('alarms when the poller skips an alert without id or guid, on the metric the poller emits', () => {
      hasPollerMetricAlarm(POLLER_UNIDENTIFIED_METRIC, { Statistic: 'Sum', Threshold: 0 });
    });

    it.each(MUTATING_FAMILIES)(
      'alarms when the %s function cannot complete an idempotency record, on every mutating action it runs',
      (family) => {
        const service = fnResource(family).Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME;
        const mutating = ACTIONS.filter((a) => a.family === family && !a.readOnly).map((a) => a.name);
        const dimension = (query: MetricQuery, name: string) =>
          query.MetricStat?.Metric.Dimensions.find((d) => d.Name === name)?.Value;
        const alarm = alarms().find((candidate) =>
          (candidate.Properties.Metrics ?? []).some(
            (query: MetricQuery) =>
              query.MetricStat?.Metric.MetricName === UNRECORDED_RESULTS_METRIC &&
              dimension(query, 'service') === service,
          ),
        );
        expect(alarm?.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
        const queries: MetricQuery[] = alarm?.Properties.Metrics ?? [];
        const stats = queries.filter((query) => query.MetricStat);
        // Exactly the dimensions the handlers' EMF documents carry (service and action), no other.
        expect(
          stats.map((query) => [
            query.MetricStat?.Metric.MetricName,
            query.MetricStat?.Metric.Dimensions.map((d) => d.Name).sort(),
            dimension(query, 'service'),
            dimension(query, 'action'),
          ]),
        ).toEqual(
          mutating.map((action) => [UNRECORDED_RESULTS_METRIC, ['action', 'service'], service, action]),
        );
        expect(stats.every((query) => query.MetricStat?.Stat === 'Sum' && query.ReturnData === false)).toBe(
          true,
        );
        const sum = queries.find((query) => query.Expression);
        // `+`, which counts a missing value as 0: each action's count exists only where it went unrecorded
        expect(sum?.Expression).toBe(stats.map((query) => query.Id).join(' + '));
      },
    );

    /**
     * The alarm on any of a family handler's per-function counts: the handlers write these with the
     * service dimension only, whatever the action.
     */
    const functionCountAlarm = (family: FunctionName, metric: string, says: string) => ({
      AlarmDescription: Match.stringLikeRegexp(says),
      Namespace: s.config.metricsNamespace,
      MetricName: metric,
      Dimensions: [
        {
          Name: 'service',
          Value: fnResource(family).Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME,
        },
      ],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });

    it.each(
      FAMILIES.flatMap((family) =>
        (
          [
            // The names the handlers write, each with what its alarm says
            ['ReplacedResults', 'published results in place of the actions'],
            ['UnpublishedResults', 'could not publish results'],
            // The lines it sends on-call to are logged at error level, which every logLevel shows
            ['ServiceFailures', 'failed requests for a reason in the deployment.*error level'],
          ] as const
        ).map(([metric, says]) => [family, metric, says] as const),
      ),
    )("alarms on any of the %s function's %s", (family, metric, says) => {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', functionCountAlarm(family, metric, says));
    });

    it('alarms on any write of unknown outcome, in the families that write to Tanium only', () => {
      const watched = FAMILIES.filter(
        (family) =>
          Object.keys(
            s.template.findResources('AWS::CloudWatch::Alarm', {
              Properties: functionCountAlarm(
                family,
                'UnknownOutcomes',
                'may or may not have carried out.*error level',
              ),
            }),
          ).length === 1,
      );
      expect(watched).toEqual([...MUTATING_FAMILIES]);
    });

    it('alarms on repeated poller failures and when the poller stops running', () => {
      // Prepare
      const threshold = s.config.alarms.pollerFailureThreshold;
      const errors = {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: ref(fnId('alert-poller')) }],
        Statistic: 'Sum',
        // One datapoint a scheduled minute
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      };
      const alarmId = (properties: Record<string, unknown>) => {
        const found = Object.keys(
          s.template.findResources('AWS::CloudWatch::Alarm', { Properties: Match.objectLike(properties) }),
        );
        expect(found).toHaveLength(1);
        return found[0]!;
      };

      // Assess: runs failing one a minute, in `threshold` of the last `threshold + 2`
      const runs = alarmId({ ...errors, DatapointsToAlarm: threshold, EvaluationPeriods: threshold + 2 });
      // Runs failing slowly: one killed at its 120 s timeout holds the lease a minute more, so the next
      // works 4 minutes after it; the streak and one run more, the last one's datapoint 2 minutes on
      const spread = alarmId({
        ...errors,
        DatapointsToAlarm: threshold,
        EvaluationPeriods: 4 * threshold + 2 + 1,
      });
      // A failed run that lasted half a minute or more may have kept the next one from working
      const slow = alarmId({
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'IF(longest >= 30000, errors, 0)', ReturnData: true }),
          Match.objectLike({
            Id: 'errors',
            MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'Errors' }), Stat: 'Sum' }),
          }),
          Match.objectLike({
            Id: 'longest',
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                MetricName: 'Duration',
                Dimensions: [{ Name: 'FunctionName', Value: ref(fnId('alert-poller')) }],
              }),
              Stat: 'Maximum',
              Period: 60,
            }),
          }),
        ]),
        DatapointsToAlarm: 1,
        EvaluationPeriods: 4 * threshold + 2 + 1,
        TreatMissingData: 'notBreaching',
      });
      const composites = Object.values(s.template.findResources('AWS::CloudWatch::CompositeAlarm'));
      expect(composites).toHaveLength(1);
      // Runs failing one a minute, or a streak of slow ones: the composite alone notifies
      const rule = (composites[0]!.Properties.AlarmRule['Fn::Join'][1] as unknown[])
        .map((part) =>
          typeof part === 'string' ? part : `<${(part as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]}>`,
        )
        .join('');
      expect(rule).toBe(`(ALARM("<${runs}>") OR (ALARM("<${spread}>") AND ALARM("<${slow}>")))`);
      // Stopped: ten minutes without an invocation, each minute counted (0 where none was written)
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: [
          Match.objectLike({ Id: 'expr_1', Expression: 'FILL(invocations, 0)', ReturnData: true }),
          Match.objectLike({
            Id: 'invocations',
            MetricStat: {
              Metric: {
                Namespace: 'AWS/Lambda',
                MetricName: 'Invocations',
                Dimensions: [{ Name: 'FunctionName', Value: ref(fnId('alert-poller')) }],
              },
              Period: 60,
              Stat: 'Sum',
            },
            ReturnData: false,
          }),
        ],
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        EvaluationPeriods: 10,
        DatapointsToAlarm: 10,
        TreatMissingData: 'breaching',
      });
      // A DLQ alarm per family and for the schedule; an error, a queue age, a replaced results, an
      // unpublished results, a service failures, an undelivered requests and a destination failures
      // alarm per family, and an undelivered requests one for the unrouted-requests rule; two per
      // family with mutating actions (unrecorded results, unknown outcomes); and seven for the poller
      // (lag, dropped alerts, alerts without id, the three parts of the repeated failures one, stopped).
      expect(alarms()).toHaveLength(8 * FAMILIES.length + 2 * MUTATING_FAMILIES.length + 9);
    });

    it('notifies the alarm topic when the environment has one, of every alarm but the parts of a composite one', () => {
      const topic = s.stack.monitoring.topic;
      s.template.resourceCountIs('AWS::SNS::Topic', s.config.alarms.topic ? 1 : 0);
      const composites = Object.values(s.template.findResources('AWS::CloudWatch::CompositeAlarm'));
      const parts = new Set(
        JSON.stringify(composites.map((composite) => composite.Properties.AlarmRule))
          .match(/"Fn::GetAtt":\["[^"]+/g)
          ?.map((getAttr) => getAttr.slice('"Fn::GetAtt":["'.length)),
      );
      const resources = s.template.findResources('AWS::CloudWatch::Alarm');
      expect(parts.size).toBe(3);
      for (const part of parts) {
        expect(resources[part]?.Properties.AlarmActions).toBeUndefined();
        expect(resources[part]?.Properties.OKActions).toBeUndefined();
      }
      const notifying = [
        ...Object.entries(resources)
          .filter(([alarmId]) => !parts.has(alarmId))
          .map(([, alarm]) => alarm),
        ...composites,
      ];
      for (const alarm of notifying) {
        if (topic) {
          expect(alarm.Properties.AlarmActions).toEqual([ref(id(topic))]);
          expect(alarm.Properties.OKActions).toEqual([ref(id(topic))]);
        } else {
          expect(alarm.Properties.AlarmActions).toBeUndefined();
        }
      }
    });

    it('tells whoever an alarm pages what it watches, and labels the graphs of the metric math ones', () => {
      // Prepare: the alarm resources by construct id, descriptions with their CloudFormation values as JSON
      const resources = {
        ...s.template.findResources('AWS::CloudWatch::Alarm'),
        ...s.template.findResources('AWS::CloudWatch::CompositeAlarm'),
      };
      const properties = (construct: string) =>
        resources[id(s.stack.monitoring.node.findChild(construct))]!.Properties;
      const description = (construct: string) => {
        const text = properties(construct).AlarmDescription;
        return typeof text === 'string' ? text : JSON.stringify(text);
      };
      const label = (construct: string) =>
        (properties(construct).Metrics as (MetricQuery & { Label?: string })[]).find(
          (query) => query.Expression,
        )?.Label;
      const t = s.config.alarms.pollerFailureThreshold;
      // At rate(1 minute): one period a minute, a streak of slow runs taking 4 minutes each
      const runs = t + 2;
      const spread = 4 * t + 3;

      // Assess
      for (const family of FAMILIES) {
        const name = pascalCase(family);
        expect(description(`${name}DlqAlarm`)).toBe(
          `Messages in the dead-letter queue of the ${family} queue (visible, or hidden while being read or redriven)`,
        );
        expect(label(`${name}DlqAlarm`)).toBe(`Messages in the dead-letter queue of the ${family} queue`);
        expect(description(`${name}QueueAgeAlarm`)).toBe(
          `A request has waited more than ${3 * s.stack.queues[family].visibilityTimeoutSeconds} s in the ${family} queue: nothing consumes the queue, or it is backed up`,
        );
        expect(description(`${name}ErrorsAlarm`)).toMatch(/^Errors in the \w+ function \(whole invocations/);
        // The rule's name and the function's are known at deploy time only
        expect(description(`${name}UndeliveredAlarm`)).toMatch(
          /^\{"Fn::Join":\["",\["Requests matched by ",\{"Fn::Select".*," reached neither their queue nor its dead-letter queue: they are lost"\]\]\}$/,
        );
        expect(description(`${name}DestinationFailuresAlarm`)).toMatch(
          /^\{"Fn::Join":\["",\["Failed asynchronous invocations of ",\{"Ref":.*," that could not reach its dead-letter queue: they are lost"\]\]\}$/,
        );
      }
      for (const family of MUTATING_FAMILIES) {
        expect(description(`${pascalCase(family)}UnrecordedResultsAlarm`)).toMatch(
          new RegExp(`^The ${family} function ran an action whose idempotency record it could not complete`),
        );
        expect(label(`${pascalCase(family)}UnrecordedResultsAlarm`)).toBe(
          `${UNRECORDED_RESULTS_METRIC} (${family})`,
        );
      }
      expect(description('PollerScheduleDlqAlarm')).toMatch(
        /^Messages in the dead-letter queue of the poller schedule/,
      );
      expect(description('PollerLagAlarm')).toBe(
        `An alert has waited more than ${s.config.alarms.pollerLagSeconds} s to be published (the longest AlertLag over 5 minutes)`,
      );
      expect(description('PollerRefusedAlertsAlarm')).toMatch(
        /dropped an alert EventBridge refused; its id is in/,
      );
      expect(description('PollerUnidentifiedAlertsAlarm')).toMatch(/skipped an alert without id or guid/);
      expect(description('PollerStoppedAlarm')).toBe('The alert poller has not run for 10 minutes');
      expect(label('PollerStoppedAlarm')).toBe('Poller invocations (0 where none)');
      // One minute, singular; any other count, plural
      expect(description('PollerFailedRunsAlarm')).toBe(
        `Part of the poller failures alarm, which notifies: failed alert polls in ${t} of the last ${runs} periods of 1 minute, one per scheduled run (${runs} minutes)`,
      );
      expect(description('PollerFailedRunsSpreadAlarm')).toBe(
        `Part of the poller failures alarm, which notifies: failed alert polls in ${t} of the last ${spread} periods of 1 minute, one per scheduled run (${spread} minutes), the time a streak of slow failing runs and one run more take`,
      );
      expect(description('PollerSlowFailedRunAlarm')).toBe(
        `Part of the poller failures alarm, which notifies: an alert poll that failed after 30 s or more in the last ${spread} periods of 1 minute, one per scheduled run (${spread} minutes)`,
      );
      expect(label('PollerSlowFailedRunAlarm')).toBe('Poller runs failed after 30 s or more');
      expect(description('PollerRepeatedFailuresAlarm')).toBe(
        `Failed alert polls: ${t} of the last ${runs} runs, or ${t} in the last ${spread} minutes with one that failed after 30 s or more (a slow failing run keeps the next scheduled ones from running)`,
      );
    });
  });

  describe('outputs and environment', () => {
    it('outputs the bus, the queue URLs and ARNs, the dead-letter queue ARNs and URLs, the bucket and the secret', () => {
      // Prepare
      const outputs = s.template.toJSON().Outputs;

      // Assess
      expect(outputs.EventBusName.Value).toEqual(ref(id(s.stack.bus)));
      expect(outputs.EventBusArn.Value).toEqual(getAtt(id(s.stack.bus)));
      for (const family of FAMILIES) {
        expect(outputs[`${pascalCase(family)}QueueUrl`].Value).toEqual(ref(id(s.stack.queues[family].queue)));
        // Both ends of a redrive (start-message-move-task)
        expect(outputs[`${pascalCase(family)}QueueArn`].Value).toEqual(
          getAtt(id(s.stack.queues[family].queue), 'Arn'),
        );
        expect(outputs[`${pascalCase(family)}DeadLetterQueueArn`].Value).toEqual(
          getAtt(id(s.stack.queues[family].deadLetterQueue), 'Arn'),
        );
        // What the runbook's receive-message and purge-queue take
        expect(outputs[`${pascalCase(family)}DeadLetterQueueUrl`].Value).toEqual(
          ref(id(s.stack.queues[family].deadLetterQueue)),
        );
      }
      expect(outputs.PollerScheduleDeadLetterQueueArn.Value).toEqual(
        getAtt(id(s.stack.pollerScheduleDlq), 'Arn'),
      );
      expect(outputs.PollerScheduleDeadLetterQueueUrl.Value).toEqual(ref(id(s.stack.pollerScheduleDlq)));
      expect(outputs.VaultBucketName.Value).toEqual(ref(id(s.stack.vault.bucket)));
      expect(outputs.CredentialsSecretArn.Value).toEqual(ref(id(s.stack.credentials as never)));
      // The rest of what README's list of outputs promises; the alarm topic only where there is one
      for (const name of FUNCTION_NAMES) {
        expect(outputs[`${pascalCase(name)}FunctionName`].Value).toEqual(ref(fnId(name)));
      }
      expect(outputs.StateTableName.Value).toEqual(ref(id(s.stack.stateTable)));
      const topic = s.stack.monitoring.topic;
      expect(outputs.AlarmTopicArn?.Value).toEqual(topic ? ref(id(topic)) : undefined);
    });

    it('names the stack after the environment and protects production from deletion', () => {
      expect(s.stack.stackName).toBe(`TaniumThreatResponse-${envName}`);
      expect(s.stack.terminationProtection).toBe(envName === 'prod');
      expect(s.config.retainData).toBe(envName === 'prod');
    });

    it('places no function in a VPC unless the environment asks for it', () => {
      s.template.resourceCountIs('AWS::EC2::VPC', s.config.vpc.enabled ? 1 : 0);
      for (const name of FUNCTION_NAMES) {
        expect(fnResource(name).Properties.VpcConfig === undefined).toBe(!s.config.vpc.enabled);
      }
    });
  });
});
