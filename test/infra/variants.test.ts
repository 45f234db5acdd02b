import { type App, FeatureFlags, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/build.ts';
import { POLLER_LAG_METRIC } from '../../infra/constructs/monitoring.ts';
import { manageProviderLogs } from '../../infra/constructs/provider-logs.ts';
import { type EnvironmentOverrides, resolveEnvironment } from '../../infra/environments.ts';
import { FAMILIES, FUNCTION_NAMES, type FunctionName } from '../../infra/families.ts';
import { DEFAULT_FUNCTIONS } from '../../infra/function-defaults.ts';
import { TaniumThreatResponseStack } from '../../infra/stack.ts';
import { DEAD_LETTER_RETENTION_DAYS } from '../../shared/config/retention.ts';
import {
  cleanup,
  getAtt,
  logicalId,
  nagViolations,
  permissionsOf,
  ref,
  removeApp,
  type Synthesized,
  synthesize,
  unbundledApp,
} from './synth.ts';

// Configuration variants a platform team may switch on. Each is synthesized once, checked by cdk-nag,
// without esbuild (the bundles are covered by stack.test.ts).

const ACCESS_LOGS_BY_POLICY = '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy';
const KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:tanium/tr-AbCdEf';

describe('Infrastructure variant: VPC placement with fixed egress', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize(
      'prod',
      { vpc: { enabled: true, maxAzs: 2, natGateways: 2, flowLogRetention: RetentionDays.ONE_MONTH } },
      { bundling: false },
    );
  });

  afterAll(() => {
    cleanup(s);
  });

  it('passes cdk-nag with no unacknowledged finding', () => {
    expect(nagViolations(s)).toEqual([]);
  });

  it('puts every function in the private subnets behind the NAT gateways', () => {
    // Prepare
    const network = s.stack.network!;
    const privateSubnets = network.vpc.privateSubnets.map((subnet) => ref(logicalId(s.stack, subnet)));

    // Assess
    s.template.resourceCountIs('AWS::EC2::NatGateway', 2);
    for (const name of FUNCTION_NAMES) {
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: name }) },
        VpcConfig: {
          SubnetIds: privateSubnets,
          SecurityGroupIds: [getAtt(logicalId(s.stack, network.securityGroup), 'GroupId')],
        },
      });
    }
  });

  it('outputs one egress address per NAT gateway for the trusted IP list', () => {
    // Act
    const outputs = s.template.toJSON().Outputs;

    // Assess
    expect(Object.keys(outputs).filter((key) => key.startsWith('EgressIp'))).toEqual([
      'EgressIp1',
      'EgressIp2',
    ]);
    expect(outputs.EgressIp1.Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/EIP/), 'PublicIp'] });
  });

  it('reaches S3 and DynamoDB through gateway endpoints in the private subnets, not the NAT gateways', () => {
    // Prepare
    const network = s.stack.network!;
    const privateRouteTables = network.vpc.privateSubnets.map((subnet) => ({
      Ref: logicalId(s.stack, subnet.node.findChild('RouteTable') as never),
    }));

    // Assess
    const endpoints = Object.values(s.template.findResources('AWS::EC2::VPCEndpoint'));
    expect(endpoints).toHaveLength(2);
    const services = endpoints.map((endpoint) => JSON.stringify(endpoint.Properties.ServiceName)).sort();
    expect(services[0]).toMatch(/\.dynamodb"/);
    expect(services[1]).toMatch(/\.s3"/);
    for (const endpoint of endpoints) {
      expect(endpoint.Properties.VpcEndpointType).toBe('Gateway');
      expect(endpoint.Properties.RouteTableIds).toEqual(privateRouteTables);
    }
  });

  it("gives every function, CDK's default-group one included, a log group that expires", () => {
    const functions = Object.values(s.template.findResources('AWS::Lambda::Function'));
    const logGroups = s.template.findResources('AWS::Logs::LogGroup');
    expect(functions).toHaveLength(FUNCTION_NAMES.length + 1);
    for (const fn of functions) {
      const logGroupId = String(fn.Properties?.LoggingConfig?.LogGroup?.Ref);
      expect(logGroups[logGroupId]?.Properties?.RetentionInDays).toBe(s.config.logRetention);
    }
  });

  it('refuses, naming it, a CDK provider function it cannot find (one a CDK upgrade renamed)', () => {
    // Prepare
    const app = unbundledApp();
    const stack = new Stack(app, 'Empty');

    try {
      // Act
      const manage = () =>
        manageProviderLogs(stack, 'Logs', 'Custom::RenamedCustomResourceProvider', RetentionDays.ONE_WEEK);

      // Assess
      expect(manage).toThrow("CDK's Custom::RenamedCustomResourceProvider function was not found");
    } finally {
      removeApp(app);
    }
  });

  it('opens no inbound port and records flow logs', () => {
    s.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'Tanium Threat Response functions (egress only)',
      SecurityGroupIngress: Match.absent(),
      // The functions reach Tanium and the AWS APIs on any address and port.
      SecurityGroupEgress: [Match.objectLike({ CidrIp: '0.0.0.0/0', IpProtocol: '-1' })],
    });
    // The default group, which nothing of ours uses, is emptied (CDK's custom resource)
    s.template.hasResourceProperties('Custom::VpcRestrictDefaultSG', {
      DefaultSecurityGroupId: getAtt(logicalId(s.stack, s.stack.network!.vpc), 'DefaultSecurityGroup'),
    });
    s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
    // Kept as the environment's data is, but deleted when a failed first deploy rolls back
    const [flowLog] = Object.values(s.template.findResources('AWS::EC2::FlowLog'));
    const flowLogGroup = s.template.toJSON().Resources[flowLog!.Properties.LogGroupName.Ref];
    expect(flowLogGroup).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('grants the network interface actions inline, not through a managed policy', () => {
    // Prepare
    const fn = s.stack.functions.investigation;

    // Act
    const permissions = permissionsOf(s.template, logicalId(s.stack, fn.role as never));

    // Assess
    for (const action of [
      'ec2:CreateNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
    ]) {
      expect(permissions[action]).toEqual(['*']);
    }
    // Only CDK's own custom resource function (the default group's) logs through the managed basic role
    const roles = s.template.findResources('AWS::IAM::Role');
    expect(Object.keys(roles).filter((role) => roles[role]!.Properties.ManagedPolicyArns)).toEqual([
      expect.stringMatching(/^CustomVpcRestrictDefaultSGCustomResourceProviderRole/),
    ]);
    // Lambda checks these permissions when it creates a VPC function: the policy must come first.
    const policies = s.template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [ref(logicalId(s.stack, fn.role as never))] },
    });
    const vpcAccess = Object.keys(policies).filter((key) => key.includes('VpcAccess'));
    expect(vpcAccess).toHaveLength(1);
    expect(s.template.toJSON().Resources[logicalId(s.stack, fn)].DependsOn).toContain(vpcAccess[0]);
  });

  it("still fails cdk-nag on a new grant on '*' in a function's own policy", () => {
    // Prepare: the network interface wildcard is acknowledged; a wildcard grant added later must not be
    const app = unbundledApp();
    const stack = buildApp(app, 'prod', { vpc: { enabled: true, maxAzs: 2, natGateways: 2 } });
    stack.functions.evidence.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }),
    );

    // Act
    const synth = () => app.synth();

    // Assess
    try {
      expect(synth).toThrow(/EvidenceFunctionRole\/DefaultPolicy[\s\S]*AwsSolutions-IAM5\[Resource::\*\]/);
    } finally {
      removeApp(app);
    }
  });
});

describe('Infrastructure variant: more NAT gateways than the VPC gets zones', () => {
  const threeGateways = { vpc: { enabled: true, maxAzs: 3, natGateways: 3 } } as const;
  const warningAt = (app: App) => {
    const stack = buildApp(app, 'prod', {
      account: '111122223333',
      region: 'eu-west-1',
      ...threeGateways,
    });
    return Annotations.fromStack(stack);
  };

  it('warns when the region has fewer zones than natGateways, naming the zones and the addresses it gets', () => {
    // Prepare: what `cdk.context.json` records for a region of two zones
    const app = unbundledApp();
    app.node.setContext('availability-zones:account=111122223333:region=eu-west-1', [
      'eu-west-1a',
      'eu-west-1b',
    ]);

    try {
      // Act
      const annotations = warningAt(app);

      // Assess
      annotations.hasWarning(
        '/TaniumThreatResponse-prod/Network',
        Match.stringLikeRegexp(
          // The id is what `Annotations.acknowledgeWarning` takes to silence it.
          '^vpc.natGateways is 3 but the VPC has 2 availability zones \\(eu-west-1a, eu-west-1b\\): it gets 2 NAT gateways, so 2 egress addresses.*\\[ack: tanium:nat-gateways\\]',
        ),
      );
    } finally {
      removeApp(app);
    }
  });

  it('stays silent where the region has a zone for each gateway', () => {
    // Prepare
    const app = unbundledApp();
    app.node.setContext('availability-zones:account=111122223333:region=eu-west-1', [
      'eu-west-1a',
      'eu-west-1b',
      'eu-west-1c',
    ]);

    try {
      // Act
      const annotations = warningAt(app);

      // Assess
      annotations.hasNoWarning('*', Match.stringLikeRegexp('natGateways'));
    } finally {
      removeApp(app);
    }
  });

  it('gives one egress address per NAT gateway when there are fewer gateways than zones', () => {
    // Prepare: the zones without a gateway have a public subnet but no Elastic IP
    const app = unbundledApp();

    try {
      // Act
      const stack = buildApp(app, 'prod', { vpc: { enabled: true, maxAzs: 2, natGateways: 1 } });

      // Assess
      expect(stack.network!.vpc.publicSubnets).toHaveLength(2);
      expect(stack.network!.egressIps).toHaveLength(1);
    } finally {
      removeApp(app);
    }
  });

  it('tells a stack of no known account and region, which always gets 2 zones, to declare both', () => {
    // Prepare
    const app = unbundledApp();

    try {
      // Act
      const stack = buildApp(app, 'prod', threeGateways);

      // Assess
      Annotations.fromStack(stack).hasWarning(
        '/TaniumThreatResponse-prod/Network',
        Match.stringLikeRegexp(
          'has 2 availability zones \\(a stack of no known account and region gets 2: declare both\\)',
        ),
      );
    } finally {
      removeApp(app);
    }
  });
});

describe('Infrastructure variant: alarm e-mails', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize(
      'dev',
      { alarms: { topic: true, emailSubscriptions: ['soc@example.com'] } },
      { bundling: false },
    );
  });

  afterAll(() => {
    cleanup(s);
  });

  it('passes cdk-nag with no unacknowledged finding', () => {
    expect(nagViolations(s)).toEqual([]);
  });

  it('subscribes the addresses to a TLS-only topic encrypted with a rotated key CloudWatch may use', () => {
    // Prepare
    const topic = s.stack.monitoring.topic!;
    const topicId = logicalId(s.stack, topic);

    // Assess
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'soc@example.com',
      TopicArn: ref(topicId),
    });
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    // Any alarm of this account, in this stack's partition and region, and nothing else
    const thisAccountsAlarms = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':cloudwatch:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':alarm:*',
        ],
      ],
    };
    // Only this account's alarms may use the key (no confused deputy), and no grant without that condition
    const keyStatements = Object.values(s.template.findResources('AWS::KMS::Key')).flatMap(
      (key) => key.Properties.KeyPolicy.Statement as Array<Record<string, unknown>>,
    );
    const forCloudWatch = keyStatements.filter(
      (statement) => JSON.stringify(statement.Principal) === '{"Service":"cloudwatch.amazonaws.com"}',
    );
    expect(forCloudWatch).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': thisAccountsAlarms },
        },
      }),
    ]);
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    // The topic's own policy replaces SNS's default one: CloudWatch must be allowed to publish there
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sns:Publish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Resource: ref(topicId),
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: { 'aws:SourceArn': Match.exact(thisAccountsAlarms) },
            },
          }),
        ]),
      },
    });
    // Every alarm but the parts of the composite poller failure alarm, which notifies for them
    const parts = FAILURE_ALARM_PARTS.map((part) =>
      logicalId(s.stack, s.stack.monitoring.node.findChild(part)),
    );
    const alarms = s.template.findResources('AWS::CloudWatch::Alarm');
    const notifying = [
      ...Object.entries(alarms)
        .filter(([alarmId]) => !parts.includes(alarmId))
        .map(([, alarm]) => alarm),
      ...Object.values(s.template.findResources('AWS::CloudWatch::CompositeAlarm')),
    ];
    expect(notifying.length).toBeGreaterThan(1);
    for (const alarm of notifying) {
      expect(alarm.Properties.AlarmActions).toEqual([ref(topicId)]);
    }
    for (const part of parts) expect(alarms[part]!.Properties.AlarmActions).toBeUndefined();
  });
});

describe('Infrastructure variant: an imported credentials secret', () => {
  let byArn: Synthesized;
  let byName: Synthesized;

  beforeAll(() => {
    byArn = synthesize(
      'dev',
      { credentials: { mode: 'import', secretCompleteArn: SECRET_ARN, kmsKeyArn: KEY_ARN } },
      { bundling: false },
    );
    byName = synthesize(
      'dev',
      { credentials: { mode: 'import', secretName: 'tanium/tr', kmsKeyArn: KEY_ARN } },
      { bundling: false },
    );
  });

  afterAll(() => {
    cleanup(byArn);
    cleanup(byName);
  });

  it('passes cdk-nag with no unacknowledged finding', () => {
    expect(nagViolations(byArn)).toEqual([]);
    expect(nagViolations(byName)).toEqual([]);
  });

  it('reads a secret imported by complete ARN and creates none', () => {
    // Prepare
    const fn = byArn.stack.functions.connections;

    // Act
    const permissions = permissionsOf(byArn.template, logicalId(byArn.stack, fn.role as never));

    // Assess
    byArn.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(permissions['secretsmanager:GetSecretValue']).toEqual([SECRET_ARN]);
    expect(permissions['kms:Decrypt']).toEqual([KEY_ARN]);
    byArn.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TANIUM_SECRET_ID: SECRET_ARN }) },
    });
    expect(byArn.template.toJSON().Outputs.CredentialsSecretArn.Value).toBe(SECRET_ARN);
  });

  it('reads a secret imported by name (any suffix) and decrypts it with the given key', () => {
    // Prepare
    const fn = byName.stack.functions['alert-poller'];

    // Act
    const permissions = permissionsOf(byName.template, logicalId(byName.stack, fn.role as never));

    // Assess
    expect(permissions['secretsmanager:GetSecretValue']).toEqual([
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:tanium/tr-??????',
    ]);
    expect(permissions['kms:Decrypt']).toEqual([KEY_ARN]);
    byName.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(logicalId(byName.stack, fn.role as never))],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'kms:Decrypt',
            Effect: 'Allow',
            Resource: KEY_ARN,
            // Through Secrets Manager, for this secret only: not any ciphertext under the key.
            Condition: {
              StringEquals: {
                'kms:ViaService': {
                  'Fn::Join': [
                    '',
                    ['secretsmanager.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }],
                  ],
                },
              },
              StringLike: {
                'kms:EncryptionContext:SecretARN': Match.objectLike({ 'Fn::Join': Match.anyValue() }),
              },
            },
          },
        ]),
      },
    });
    byName.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TANIUM_SECRET_ID: 'tanium/tr' }) },
    });
  });
});

describe('Infrastructure variant: queue tuning and request sources', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize(
      'dev',
      {
        maxReceiveCount: 7,
        requestSources: ['soar.pipeline'],
        functions: {
          investigation: {
            timeoutSeconds: 90,
            batchSize: 10,
            maxBatchingWindowSeconds: 20,
            maxConcurrency: 4,
          },
          evidence: { timeoutSeconds: 900, batchSize: 4 },
        },
      },
      { bundling: false },
    );
  });

  afterAll(() => {
    cleanup(s);
  });

  it('applies batch size, batching window and concurrency to the event source', () => {
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(logicalId(s.stack, s.stack.queues.investigation.queue)),
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 20,
      ScalingConfig: { MaximumConcurrency: 4 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('hides a record for six function timeouts plus the batching window', () => {
    const queue = s.template.toJSON().Resources[logicalId(s.stack, s.stack.queues.investigation.queue)];
    expect(queue.Properties.VisibilityTimeout).toBe(6 * 90 + 20);
  });

  it('changes only the function settings given, keeping the defaults of the rest', () => {
    // Prepare
    const props = (name: FunctionName) =>
      s.template.toJSON().Resources[logicalId(s.stack, s.stack.functions[name])].Properties;

    // Assess
    expect(props('investigation')).toMatchObject({
      Timeout: 90,
      MemorySize: DEFAULT_FUNCTIONS.investigation.memoryMiB,
    });
    expect(props('evidence')).toMatchObject({
      Timeout: 900,
      MemorySize: DEFAULT_FUNCTIONS.evidence.memoryMiB,
      EphemeralStorage: { Size: DEFAULT_FUNCTIONS.evidence.ephemeralStorageMiB },
    });
    for (const name of FUNCTION_NAMES.filter((n) => n !== 'investigation' && n !== 'evidence')) {
      expect(props(name)).toMatchObject({
        Timeout: DEFAULT_FUNCTIONS[name].timeoutSeconds,
        MemorySize: DEFAULT_FUNCTIONS[name].memoryMiB,
      });
    }
  });

  it('shares the evidence spool between the records of a batch, which run at once', () => {
    // Prepare
    const evidence = s.template.toJSON().Resources[logicalId(s.stack, s.stack.functions.evidence)];

    // Assess: (2048 MiB - 256 MiB of headroom) / 2 for keep=both / 4 records
    expect(evidence.Properties.Environment.Variables.VAULT_SPOOL_MAX_BYTES).toBe(String(224 * 1024 * 1024));
  });

  it('uses the configured receive count for every queue and tells the functions', () => {
    for (const family of FAMILIES) {
      const queue = s.template.toJSON().Resources[logicalId(s.stack, s.stack.queues[family].queue)];
      expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(7);
    }
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAX_RECEIVE_COUNT: '7' }) },
    });
  });

  it('accepts requests only from the configured sources', () => {
    for (const family of FAMILIES) {
      const rule = s.template.toJSON().Resources[logicalId(s.stack, s.stack.queues[family].rule)];
      expect(rule.Properties.EventPattern.source).toEqual(['soar.pipeline']);
    }
  });
});

describe('Infrastructure variant: a poller every 15 minutes', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize('prod', { poller: { schedule: 'rate(15 minutes)' } }, { bundling: false });
  });

  afterAll(() => {
    cleanup(s);
  });

  it('sizes the stopped and failure alarms from the interval', () => {
    // Assess: three missed runs; failures in three of the last five runs
    expect(stoppedAlarm(s)).toMatchObject({ EvaluationPeriods: 45, DatapointsToAlarm: 45, Threshold: 1 });
    const parts = failureAlarmParts(s);
    expect(parts.runs).toMatchObject({
      MetricName: 'Errors',
      Period: 15 * 60,
      Threshold: 1,
      DatapointsToAlarm: 3,
      EvaluationPeriods: 5,
    });
    // A failing run frees the lease within 3 minutes, before the next one: three runs in a row and one
    // more, the last one's datapoint in the period after it
    expect(parts.spread).toMatchObject({ Period: 15 * 60, DatapointsToAlarm: 3, EvaluationPeriods: 5 });
    // What on-call reads counts the windows in minutes: five periods of 15 minutes each
    expect(parts.runs.AlarmDescription).toMatch(
      / 3 of the last 5 periods of 15 minutes, one per scheduled run \(75 minutes\)$/,
    );
    const [composite] = Object.values(s.template.findResources('AWS::CloudWatch::CompositeAlarm'));
    expect(composite?.Properties.AlarmDescription).toMatch(
      / or 3 in the last 75 minutes with one that failed after 60 s /,
    );
    expect(parts.slow).toMatchObject({
      Metrics: expect.arrayContaining([
        expect.objectContaining({ Expression: 'IF(longest >= 60000, errors, 0)' }),
      ]),
    });
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(15 minutes)' });
  });

  it('gives the lag alarm a period that always holds a run, so a poller still behind stays in alarm', () => {
    // Assess: AlertLag comes as each run ends, up to 15 minutes plus a run (120 s, and the lease's minute) apart
    expect(pollerAlarm(s, POLLER_LAG_METRIC)).toMatchObject({
      Period: 18 * 60,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('Infrastructure variant: a poller every minute with a longer timeout', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize(
      'prod',
      { poller: { schedule: 'rate(1 minute)' }, functions: { 'alert-poller': { timeoutSeconds: 180 } } },
      { bundling: false },
    );
  });

  afterAll(() => {
    cleanup(s);
  });

  it('waits for a streak of slow failing runs, one in 5 minutes, and judges the others over threshold + 2 runs', () => {
    // Assess: a failing run holds the lease up to 180 s and a minute; the runs scheduled meanwhile skip,
    // and the last one's datapoint comes 3 minutes after its start
    const threshold = s.config.alarms.pollerFailureThreshold;
    const parts = failureAlarmParts(s);
    expect(parts.runs).toMatchObject({
      Period: 60,
      DatapointsToAlarm: threshold,
      EvaluationPeriods: threshold + 2,
    });
    expect(parts.spread).toMatchObject({
      Period: 60,
      DatapointsToAlarm: threshold,
      EvaluationPeriods: 5 * threshold + 3 + 1,
    });
    expect(parts.slow).toMatchObject({
      DatapointsToAlarm: 1,
      EvaluationPeriods: 5 * threshold + 3 + 1,
    });
  });
});

/** The construct ids of the poller failure alarm's parts (Monitoring.watchPollerFailures). */
const FAILURE_ALARM_PARTS = [
  'PollerFailedRunsAlarm',
  'PollerFailedRunsSpreadAlarm',
  'PollerSlowFailedRunAlarm',
];

/** The parts of the poller failure alarm, by what they count. */
function failureAlarmParts(s: Synthesized): Record<'runs' | 'spread' | 'slow', Record<string, unknown>> {
  const alarms = s.template.findResources('AWS::CloudWatch::Alarm');
  const [runs, spread, slow] = FAILURE_ALARM_PARTS.map(
    (part) => alarms[logicalId(s.stack, s.stack.monitoring.node.findChild(part))]!.Properties,
  );
  return { runs: runs!, spread: spread!, slow: slow! };
}

/** The alarm on the poller's `metric`: one of the function's, or one of its own. */
function pollerAlarm(s: Synthesized, metric: string): Record<string, unknown> | undefined {
  return Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).find(
    (resource) =>
      resource.Properties.MetricName === metric &&
      (metric === POLLER_LAG_METRIC ||
        JSON.stringify(resource.Properties.Dimensions).includes(
          logicalId(s.stack, s.stack.functions['alert-poller']),
        )),
  )?.Properties;
}

/** The stopped-poller alarm: minutes without an invocation of the poller (FILL over one-minute periods). */
function stoppedAlarm(s: Synthesized): Record<string, unknown> | undefined {
  const alarms = s.template.findResources('AWS::CloudWatch::Alarm');
  return alarms[logicalId(s.stack, s.stack.monitoring.node.findChild('PollerStoppedAlarm'))]?.Properties;
}

describe('Infrastructure variant: a sandbox account with a low concurrency quota', () => {
  let dev: Synthesized;
  let reserved: Synthesized;

  beforeAll(() => {
    dev = synthesize('dev', {}, { bundling: false });
    reserved = synthesize('dev', { poller: { reservedConcurrency: 2 } }, { bundling: false });
  });

  afterAll(() => {
    cleanup(dev);
    cleanup(reserved);
  });

  const reservations = (s: Synthesized) =>
    Object.values(s.template.findResources('AWS::Lambda::Function')).map(
      (fn) => fn.Properties.ReservedConcurrentExecutions,
    );

  it('reserves no concurrency in dev, which an account with a quota of 10 would refuse', () => {
    expect(reservations(dev).filter((value) => value !== undefined)).toEqual([]);
  });

  it('reserves the configured concurrency for the poller only', () => {
    // Prepare
    const pollerId = logicalId(reserved.stack, reserved.stack.functions['alert-poller']);

    // Assess
    expect(reserved.template.toJSON().Resources[pollerId].Properties.ReservedConcurrentExecutions).toBe(2);
    expect(reservations(reserved).filter((value) => value !== undefined)).toEqual([2]);
  });
});

describe('Infrastructure variant: poller filters and tuning', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize(
      'dev',
      {
        // Only the settings, as README shows: the rest of the poller keeps dev's values.
        poller: { settings: { filterState: 'unresolved,inprogress', pageSize: 500, enrichIntelNames: true } },
      },
      { bundling: false },
    );
  });

  afterAll(() => {
    cleanup(s);
  });

  const variables = (name: FunctionName) =>
    s.template.toJSON().Resources[logicalId(s.stack, s.stack.functions[name])].Properties.Environment
      .Variables as Record<string, string>;

  it('gives the poller its settings as the variables it reads, beside the ones the stack sets', () => {
    expect(variables('alert-poller')).toMatchObject({
      POLLER_FILTER_STATE: 'unresolved,inprogress',
      POLLER_PAGE_SIZE: '500',
      POLLER_ENRICH_INTEL_NAMES: 'true',
      POLLER_NAME: expect.any(String),
      POLLER_FIRST_RUN_HOURS: '24',
    });
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Target: Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 120 } }),
    });
  });

  it('gives no family function a poller setting', () => {
    for (const family of FAMILIES) {
      expect(Object.keys(variables(family)).filter((key) => key.startsWith('POLLER_'))).toEqual([]);
    }
  });
});

describe('Infrastructure variant: logs kept for less time than a dead-letter queue keeps a message', () => {
  const annotationsOf = (app: App, envName: string, overrides: EnvironmentOverrides = {}) =>
    Annotations.fromStack(buildApp(app, envName, overrides));

  it.each([
    [RetentionDays.ONE_DAY, '1 day'],
    [RetentionDays.ONE_WEEK, '7 days'],
  ])(
    'warns at synthesis when the function logs are kept %i day(s), saying what would be lost',
    (logRetention, kept) => {
      // Prepare
      const app = unbundledApp();

      try {
        // Act
        const annotations = annotationsOf(app, 'prod', { logRetention });

        // Assess
        annotations.hasWarning(
          '/TaniumThreatResponse-prod',
          Match.stringLikeRegexp(
            // The id is what a sandbox that keeps its logs briefly on purpose acknowledges the warning by.
            `^logRetention keeps the function logs ${kept}, fewer than the ${DEAD_LETTER_RETENTION_DAYS} a dead-letter queue keeps a message: .*AlertsRefused.*UnrecordedResults.*\\[ack: tanium:log-retention\\]$`,
          ),
        );
      } finally {
        removeApp(app);
      }
    },
  );

  it.each([
    ['dev', {}],
    ['prod', {}],
    ['prod', { logRetention: RetentionDays.TWO_WEEKS }],
  ] as const)('stays silent for %s with %j', (envName, overrides) => {
    // Prepare
    const app = unbundledApp();

    try {
      // Act
      const annotations = annotationsOf(app, envName, overrides);

      // Assess
      annotations.hasNoWarning('*', Match.stringLikeRegexp('logRetention'));
    } finally {
      removeApp(app);
    }
  });
});

describe('Infrastructure variant: an app whose context turns a feature flag of the stack off', () => {
  it('keeps access log delivery by bucket policy on, the log bucket keeping ACLs disabled', () => {
    // Prepare: a cdk.json that lost the flag, or an app embedding the stack without it
    const app = unbundledApp();
    app.node.setContext(ACCESS_LOGS_BY_POLICY, false);

    try {
      // Act: with ACL delivery CDK refuses the log bucket's BucketOwnerEnforced ownership outright
      const stack = buildApp(app, 'dev');

      // Assess
      expect(FeatureFlags.of(stack.vault.accessLogsBucket).isEnabled(ACCESS_LOGS_BY_POLICY)).toBe(true);
    } finally {
      removeApp(app);
    }
  });
});

describe('Infrastructure variant: a poller switched off', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthesize('dev', { poller: { enabled: false } }, { bundling: false });
  });

  afterAll(() => {
    cleanup(s);
  });

  it('keeps the schedule, disabled, and no stopped-poller alarm that would page for a poller off on purpose', () => {
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
    expect(s.stack.monitoring.node.tryFindChild('PollerStoppedAlarm')).toBeUndefined();
  });
});

describe('Infrastructure variant: a configuration that skipped validation', () => {
  it('refuses a poller schedule the alarms cannot be sized from', () => {
    // Prepare: the stack alone, without resolveEnvironment's validation that would report it first
    const config = resolveEnvironment('dev');
    const app = unbundledApp();

    // Act
    const build = () =>
      new TaniumThreatResponseStack(app, 'Unvalidated', {
        config: { ...config, poller: { ...config.poller, schedule: 'cron(0 * * * ? *)' } },
      });

    // Assess
    try {
      expect(build).toThrow(/^poller\.schedule must be a rate expression/);
    } finally {
      removeApp(app);
    }
  });
});
