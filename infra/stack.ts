import {
  Annotations,
  CfnOutput,
  Duration,
  type RemovalPolicy,
  Stack,
  type StackProps,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { UNROUTED_FAMILY } from '../shared/actions/table.ts';
import { DEAD_LETTER_RETENTION_DAYS } from '../shared/config/retention.ts';
import { idempotencyKeyPrefix, POLLER_KEY_PREFIX } from '../shared/config/state-keys.ts';
import { FamilyQueue, routeUnroutedRequests } from './constructs/family-queue.ts';
import { Monitoring, POLLER_NAME, queueAgeAlarmSeconds } from './constructs/monitoring.ts';
import { Network } from './constructs/network.ts';
import {
  IDEMPOTENCY_TABLE_ACTIONS,
  POLLER_TABLE_ACTIONS,
  TaniumFunction,
  type TaniumFunctionProps,
} from './constructs/tanium-function.ts';
import { VaultBucket } from './constructs/vault-bucket.ts';
import type { EnvironmentConfig } from './environments.ts';
import {
  FAMILIES,
  type Family,
  type FunctionName,
  MUTATING_FAMILIES,
  mutatingActionNames,
  PUBLISHED_EVENTS,
} from './families.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { pollIntervalMinutes } from './poller-schedule.ts';
import { pollerSettingsEnvironment } from './poller-settings.ts';
import { dataRemovalPolicy, keptEvenOnFailedCreate } from './removal-policy.ts';
import { serviceLimitProblems } from './service-limits.ts';

/** Feature flags this stack relies on, set on the stack so they hold whatever cdk.json says. */
const FEATURE_FLAGS = {
  // Access log delivery by bucket policy: the log bucket keeps ACLs disabled (BucketOwnerEnforced).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
} as const;

/**
 * The largest per-file cap the evidence function spools to /tmp: half its ephemeral storage after
 * 256 MiB of headroom, since keep=both spools the archive and a file at once, shared by the records of
 * a batch, which run at the same time. A larger GET_FILE_MAX_BYTES streams through incoming/ instead, so
 * a small /tmp never fails a download.
 */
export function spoolMaxBytes(ephemeralStorageMiB: number | undefined, batchSize = 1): number {
  const mib = ephemeralStorageMiB ?? 512;
  return Math.max(0, Math.floor(((mib - 256) * 1024 * 1024) / 2 / batchSize));
}

/** The construct id (and output prefix) of a function: `alert-poller` -> `AlertPoller`. */
export function pascalCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _dash, c: string) => c.toUpperCase());
}

export interface TaniumThreatResponseStackProps extends StackProps {
  readonly config: EnvironmentConfig;
}

/**
 * Everything one environment needs: the bus and its rules, a queue and a function per family, the
 * scheduled alert poller, the vault bucket, the credentials secret, the state table and the alarms.
 */
export class TaniumThreatResponseStack extends Stack {
  public readonly config: EnvironmentConfig;
  public readonly bus: events.EventBus;
  public readonly vault: VaultBucket;
  public readonly stateTable: dynamodb.Table;
  public readonly credentials: secretsmanager.ISecret;
  public readonly queues: Record<Family, FamilyQueue>;
  /** Sends the `Action Request` events no family rule matches to the connections queue. */
  public readonly unroutedRequestsRule: events.Rule;
  public readonly functions: Record<FunctionName, TaniumFunction>;
  public readonly pollerSchedule: scheduler.Schedule;
  public readonly pollerScheduleDlq: sqs.Queue;
  public readonly pollerScheduleRole: iam.Role;
  public readonly monitoring: Monitoring;
  public readonly network?: Network;

  /**
   * The bus's resource policy, which the stack owns whole (a grant made outside it is replaced at the
   * next deploy):
   * - results and alerts drive playbooks (a fake alert can start a containment, a fake success hide a
   *   failed delete), and a consumer's rule can only match them by source and detail type. Whoever may
   *   put events on the bus could otherwise send them too: the bus denies those two kinds to everyone but
   *   this stack's functions, whose own grants already limit each to its own kind;
   * - the accounts of `requestSenderAccounts` may put events (requests) on it.
   */
  private busPolicy(): void {
    const published = Object.values(PUBLISHED_EVENTS);
    const sources = [...new Set(published.map((event) => event.source))];
    // Requests may carry the same source (senders choose theirs): only the published kinds are denied.
    const detailTypes = [...new Set(published.map((event) => event.detailType))];
    const publishers = Object.values(this.functions).map((fn) => fn.role!.roleArn);
    // The bus's own Policy property: EventBus.addToResourcePolicy makes an AWS::Events::EventBusPolicy
    // through a deprecated property, which prints a warning at every synthesis.
    // Its ARN from its name: the bus's own ARN attribute would make the bus depend on itself.
    const busArn = this.formatArn({
      service: 'events',
      resource: 'event-bus',
      resourceName: this.config.eventBusName,
    });
    const senders = this.config.requestSenderAccounts;
    (this.bus.node.defaultChild as events.CfnEventBus).policy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'OnlyTheFunctionsPublishResultsAndAlerts',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['events:PutEvents'],
          resources: [busArn],
          conditions: {
            StringEquals: { 'events:source': sources, 'events:detail-type': detailTypes },
            ArnNotEquals: { 'aws:PrincipalArn': publishers },
          },
        }),
        ...(senders.length > 0
          ? [
              new iam.PolicyStatement({
                sid: 'RequestSenderAccounts',
                effect: iam.Effect.ALLOW,
                principals: senders.map((account) => new iam.AccountPrincipal(account)),
                actions: ['events:PutEvents'],
                resources: [busArn],
              }),
            ]
          : []),
      ],
    });
  }

  constructor(scope: Construct, id: string, props: TaniumThreatResponseStackProps) {
    const { config, ...stackProps } = props;
    super(scope, id, {
      terminationProtection: config.terminationProtection,
      description: `Tanium Threat Response actions as event-driven Lambda functions (${config.name})`,
      ...stackProps,
    });
    this.config = config;
    for (const [flag, value] of Object.entries(FEATURE_FLAGS)) this.node.setContext(flag, value);
    Tags.of(this).add('project', 'tanium-tr-serverless');
    Tags.of(this).add('environment', config.name);
    const retention = dataRemovalPolicy(config.retainData);
    this.warnOfShortLogRetention(config);

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: config.eventBusName,
      description: 'Tanium Threat Response action requests, action results and alerts',
    });

    this.vault = new VaultBucket(this, 'Vault', {
      retainData: config.retainData,
      resultsExpirationDays: config.resultsExpirationDays,
      vaultExpirationDays: config.vaultExpirationDays,
      accessLogsExpirationDays: config.accessLogsExpirationDays,
      logRetention: config.logRetention,
    });

    this.stateTable = new dynamodb.Table(this, 'StateTable', {
      // Powertools idempotency's default key; the poller's records share it with their own prefixes.
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiration',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: config.retainData,
      // Deletion protection refuses the delete a failed first deploy's rollback would make.
      removalPolicy: keptEvenOnFailedCreate(config.retainData),
    });

    const { secret, secretId, kmsKeyArn } = this.credentialsSecret(config, retention);
    this.credentials = secret;

    if (config.vpc.enabled)
      this.network = new Network(this, 'Network', {
        vpc: config.vpc,
        retainData: config.retainData,
        logRetention: config.logRetention,
      });

    const common = (name: FunctionName): TaniumFunctionProps => ({
      name,
      settings: config.functions[name],
      logRetention: config.logRetention,
      logRemovalPolicy: retention,
      logLevel: config.logLevel,
      sourceMaps: config.sourceMaps,
      metricsNamespace: config.metricsNamespace,
      vpc: this.network?.vpc,
      securityGroups: this.network ? [this.network.securityGroup] : undefined,
    });

    this.queues = {} as Record<Family, FamilyQueue>;
    this.functions = {} as Record<FunctionName, TaniumFunction>;
    for (const family of FAMILIES) {
      const settings = config.functions[family];
      const queue = new FamilyQueue(this, `${pascalCase(family)}Queue`, {
        family,
        bus: this.bus,
        functionTimeoutSeconds: settings.timeoutSeconds,
        maxBatchingWindowSeconds: settings.maxBatchingWindowSeconds,
        maxReceiveCount: config.maxReceiveCount,
        requestSources: config.requestSources,
        retainData: config.retainData,
      });
      const fn = new TaniumFunction(this, `${pascalCase(family)}Function`, {
        ...common(family),
        environment:
          family === 'evidence'
            ? {
                GET_FILE_MAX_BYTES: String(config.getFileMaxBytes),
                VAULT_SPOOL_MAX_BYTES: String(
                  spoolMaxBytes(settings.ephemeralStorageMiB, settings.batchSize),
                ),
              }
            : {},
      });
      fn.consumeQueue(queue.queue, config.maxReceiveCount, queue.visibilityTimeoutSeconds);
      // A rule or a caller invoking the function directly (asynchronously) gets Lambda's two retries;
      // after them the event goes to the family's DLQ instead of vanishing, and redriven to the queue it
      // runs under its original key (the envelope unwraps the invocation record).
      fn.configureAsyncInvoke({ onFailure: new SqsDestination(queue.deadLetterQueue) });
      fn.grantCredentials(secret, secretId, kmsKeyArn);
      fn.grantPublish(this.bus, PUBLISHED_EVENTS.result);
      this.vault.grantResultsWrite(fn);
      if (family === 'evidence') this.vault.grantEvidence(fn);
      if (family === 'intel') this.vault.grantVaultRead(fn);
      if (MUTATING_FAMILIES.includes(family))
        fn.grantState(this.stateTable, IDEMPOTENCY_TABLE_ACTIONS, `${idempotencyKeyPrefix(family)}#`);
      this.queues[family] = queue;
      this.functions[family] = fn;
    }
    // The connections function (UNROUTED_FAMILY) is the lightest: it answers unknown actions with a
    // failed result.
    this.unroutedRequestsRule = routeUnroutedRequests(this, 'UnroutedRequestsRule', {
      bus: this.bus,
      into: this.queues[UNROUTED_FAMILY],
      requestSources: config.requestSources,
    });

    const poller = new TaniumFunction(this, 'AlertPollerFunction', {
      ...common('alert-poller'),
      // Two polls at once would only race for the lease; where the account allows, prod reserves one.
      reservedConcurrentExecutions: config.poller.reservedConcurrency,
      environment: {
        ...pollerSettingsEnvironment(config.poller.settings ?? {}),
        POLLER_NAME,
        POLLER_FIRST_RUN_HOURS: String(config.poller.firstRunHours),
      },
    });
    poller.grantCredentials(secret, secretId, kmsKeyArn);
    poller.grantPublish(this.bus, PUBLISHED_EVENTS.alert);
    poller.grantState(this.stateTable, POLLER_TABLE_ACTIONS, POLLER_KEY_PREFIX);
    // A poll that fails or waits behind a running one is not worth repeating: the next minute's poll
    // starts from the same checkpoint.
    poller.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
    this.functions['alert-poller'] = poller;
    this.busPolicy();
    this.node.addValidation({ validate: () => serviceLimitProblems(this) });

    this.pollerScheduleDlq = new sqs.Queue(this, 'PollerScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
      removalPolicy: retention,
    });
    Validations.of(this.pollerScheduleDlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the dead-letter queue of the poller schedule; it has no dead-letter queue of its own.',
    });
    const schedulerRole = new iam.Role(this, 'PollerScheduleRole', {
      // Only this account's schedules in the default group (the one the schedule below is in).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': this.account,
            'aws:SourceArn': this.formatArn({
              service: 'scheduler',
              resource: 'schedule-group',
              resourceName: 'default',
            }),
          },
        },
      }),
      description: 'Lets EventBridge Scheduler invoke the alert poller',
    });
    this.pollerScheduleRole = schedulerRole;
    this.pollerSchedule = new scheduler.Schedule(this, 'PollerSchedule', {
      description: 'Runs the Tanium alert poller',
      schedule: scheduler.ScheduleExpression.expression(config.poller.schedule),
      enabled: config.poller.enabled,
      target: new schedulerTargets.LambdaInvoke(poller, {
        role: schedulerRole,
        retryAttempts: config.poller.retryAttempts,
        maxEventAge: Duration.seconds(config.poller.maxEventAgeSeconds),
        deadLetterQueue: this.pollerScheduleDlq,
      }),
    });
    acknowledgeWildcardResource(
      schedulerRole,
      `${poller.functionArn}:*`,
      "CDK's Lambda schedule target also allows the poller's versions and aliases; it names one function.",
    );

    this.monitoring = new Monitoring(this, 'Monitoring', {
      alarms: config.alarms,
      metricsNamespace: config.metricsNamespace,
      retainData: config.retainData,
    });
    for (const family of FAMILIES) {
      const queue = this.queues[family];
      this.monitoring.watchDeadLetterQueue(pascalCase(family), queue.deadLetterQueue, `the ${family} queue`);
      this.monitoring.watchQueueAge(
        pascalCase(family),
        queue.queue,
        `the ${family} queue`,
        queueAgeAlarmSeconds(queue.visibilityTimeoutSeconds),
      );
    }
    this.monitoring.watchDeadLetterQueue('PollerSchedule', this.pollerScheduleDlq, 'the poller schedule');
    // The poller heals on its next run; its own alarm below waits for repeated failures.
    for (const family of FAMILIES) {
      this.monitoring.watchFunctionErrors(pascalCase(family), this.functions[family]);
      this.monitoring.watchReplacedResults(pascalCase(family), family);
      this.monitoring.watchUnpublishedResults(pascalCase(family), family);
      this.monitoring.watchServiceFailures(pascalCase(family), family);
      this.monitoring.watchUndeliveredRequests(
        pascalCase(family),
        this.queues[family].rule,
        config.eventBusName,
      );
      this.monitoring.watchDestinationFailures(pascalCase(family), this.functions[family]);
    }
    this.monitoring.watchUndeliveredRequests(
      'UnroutedRequests',
      this.unroutedRequestsRule,
      config.eventBusName,
    );
    for (const family of MUTATING_FAMILIES) {
      this.monitoring.watchUnrecordedResults(pascalCase(family), family, mutatingActionNames(family));
      // Only mutations write to Tanium (or keep a record that may be unreadable).
      this.monitoring.watchUnknownOutcomes(pascalCase(family), family);
    }
    // validateEnvironment reports this with every other problem; a config that skipped it still stops here.
    const intervalMinutes = pollIntervalMinutes(config.poller.schedule);
    if (typeof intervalMinutes === 'string') throw new Error(intervalMinutes);
    this.monitoring.watchPollerLag(poller, intervalMinutes);
    this.monitoring.watchRefusedAlerts();
    this.monitoring.watchUnidentifiedAlerts();
    this.monitoring.watchPollerFailures(poller, intervalMinutes);
    if (config.poller.enabled) this.monitoring.watchPollerStopped(poller, intervalMinutes);

    this.addOutputs();
  }

  /**
   * Some failures are identified in the logs alone (the ids of alerts the bus refused, the request ids
   * of unrecorded results), and a DLQ message's story is in its function's log: logs gone before the
   * dead-letter queue drops the message leave on-call an alarm and nothing to read. Said, not refused:
   * a sandbox may keep its logs briefly on purpose.
   */
  private warnOfShortLogRetention(config: EnvironmentConfig): void {
    const days: number = config.logRetention;
    if (days >= DEAD_LETTER_RETENTION_DAYS) return;
    Annotations.of(this).addWarningV2(
      'tanium:log-retention',
      `logRetention keeps the function logs ${days} day${days === 1 ? '' : 's'}, fewer than the ${DEAD_LETTER_RETENTION_DAYS} a dead-letter queue keeps a message: the ids of alerts EventBridge refused (AlertsRefused) and the request ids of unrecorded results (UnrecordedResults) are only in the logs, and a DLQ message's log lines may be gone before it is; keep them at least ${DEAD_LETTER_RETENTION_DAYS} days`,
    );
  }

  private credentialsSecret(
    config: EnvironmentConfig,
    removalPolicy: RemovalPolicy,
  ): { secret: secretsmanager.ISecret; secretId: string; kmsKeyArn?: string } {
    const c = config.credentials;
    if (c.mode === 'create') {
      const secret = new secretsmanager.Secret(this, 'CredentialsSecret', {
        secretName: c.secretName,
        description:
          'Tanium Threat Response credentials (JSON: base_url, api_token or username/password, ...)',
        // Created empty; the operator writes the JSON with put-secret-value, which later deploys leave alone.
        secretObjectValue: {},
        removalPolicy,
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The secret holds a Tanium API token or user password issued by Tanium; it is rotated in Tanium and written with put-secret-value, there is no rotation Lambda.',
      });
      return { secret, secretId: secret.secretArn };
    }
    if ('secretCompleteArn' in c) {
      const secret = secretsmanager.Secret.fromSecretCompleteArn(
        this,
        'CredentialsSecret',
        c.secretCompleteArn,
      );
      return { secret, secretId: secret.secretArn, kmsKeyArn: c.kmsKeyArn };
    }
    const secret = secretsmanager.Secret.fromSecretNameV2(this, 'CredentialsSecret', c.secretName);
    // Secrets Manager resolves a name; a partial ARN would be ambiguous.
    return { secret, secretId: c.secretName, kmsKeyArn: c.kmsKeyArn };
  }

  private addOutputs(): void {
    new CfnOutput(this, 'EventBusName', {
      value: this.bus.eventBusName,
      description: 'Send "Action Request" events here',
    });
    new CfnOutput(this, 'EventBusArn', { value: this.bus.eventBusArn });
    for (const family of FAMILIES) {
      new CfnOutput(this, `${pascalCase(family)}QueueUrl`, {
        value: this.queues[family].queue.queueUrl,
        description: `Action requests for the ${family} family`,
      });
      // The redrive of README's Operations needs both ends (start-message-move-task takes ARNs).
      new CfnOutput(this, `${pascalCase(family)}QueueArn`, { value: this.queues[family].queue.queueArn });
      new CfnOutput(this, `${pascalCase(family)}DeadLetterQueueArn`, {
        value: this.queues[family].deadLetterQueue.queueArn,
        description: `Requests of the ${family} family that were not done`,
      });
      // What the runbook's receive-message and purge-queue take.
      new CfnOutput(this, `${pascalCase(family)}DeadLetterQueueUrl`, {
        value: this.queues[family].deadLetterQueue.queueUrl,
        description: `Requests of the ${family} family that were not done (receive-message, purge-queue)`,
      });
    }
    new CfnOutput(this, 'PollerScheduleDeadLetterQueueArn', { value: this.pollerScheduleDlq.queueArn });
    new CfnOutput(this, 'PollerScheduleDeadLetterQueueUrl', {
      value: this.pollerScheduleDlq.queueUrl,
      description: 'Poller runs Lambda refused (purge-queue once the poller runs again)',
    });
    for (const [name, fn] of Object.entries(this.functions)) {
      new CfnOutput(this, `${pascalCase(name)}FunctionName`, { value: fn.functionName });
    }
    new CfnOutput(this, 'VaultBucketName', { value: this.vault.bucket.bucketName });
    new CfnOutput(this, 'CredentialsSecretArn', { value: this.credentials.secretArn });
    new CfnOutput(this, 'StateTableName', { value: this.stateTable.tableName });
    if (this.monitoring.topic)
      new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    this.network?.egressIps.forEach((ip, i) => {
      new CfnOutput(this, `EgressIp${i + 1}`, {
        value: ip,
        description: 'Fixed egress address of the functions: add it to the Tanium API token trusted IP list',
      });
    });
  }
}
