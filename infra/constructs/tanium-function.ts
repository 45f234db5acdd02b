import { fileURLToPath } from 'node:url';
import { Duration, type RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import {
  type BundlingOptions,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { BUNDLE_SETTINGS, externalModules, functionEntry, functionNodeOptions } from '../bundling.ts';
import type { FunctionSettings } from '../environments.ts';
import type { FunctionName } from '../families.ts';

/** The repository root: entry points and the lock file are found from here, whatever the cwd. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** DynamoDB actions Powertools idempotency performs on its records (get, conditional put, update, delete). */
export const IDEMPOTENCY_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;

/**
 * DynamoDB actions the alert poller performs on its state record: conditional updates only (lease,
 * checkpoint, release), each returning the new item.
 */
export const POLLER_TABLE_ACTIONS = ['dynamodb:UpdateItem'] as const;

export interface TaniumFunctionProps {
  /** Which entry point: `functions/<name>/index.ts`. */
  readonly name: FunctionName;
  readonly settings: FunctionSettings;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly logLevel: string;
  /** NODE_OPTIONS=--enable-source-maps (see EnvironmentConfig.sourceMaps). */
  readonly sourceMaps?: boolean;
  readonly metricsNamespace: string;
  readonly vpc?: ec2.IVpc;
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly reservedConcurrentExecutions?: number;
  readonly environment?: Record<string, string>;
}

/**
 * A project function: nodejs22.x on arm64, bundled with the shared esbuild settings (minified ESM,
 * the AWS SDK included, separate source maps), its own log group with retention, and a role that starts
 * with nothing but write access to that log group. Each `grant*` method sets the environment variable
 * the code reads and the least permission that goes with it, so the two cannot drift apart.
 */
export class TaniumFunction extends NodejsFunction {
  public readonly functionLogGroup: logs.LogGroup;
  private readonly settings: FunctionSettings;

  constructor(scope: Construct, id: string, props: TaniumFunctionProps) {
    const { settings } = props;
    // Created before the function (on the parent scope) because they are part of its properties.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    // An explicit role, so no managed policy is attached (AWSLambdaBasicExecutionRole writes to any log group).
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${props.name} function`,
    });
    logGroup.grantWrite(role);
    let vpcAccess: iam.Policy | undefined;
    if (props.vpc) {
      // What AWSLambdaVPCAccessExecutionRole grants, without a managed policy: Lambda manages the
      // function's network interfaces. EC2 does not scope these actions to resources. A policy of its own,
      // so the acknowledgement of its wildcard covers these actions only, not a later grant on `*` in the
      // role's default policy.
      vpcAccess = new iam.Policy(scope, `${id}VpcAccess`, {
        roles: [role],
        statements: [
          new iam.PolicyStatement({
            actions: [
              'ec2:CreateNetworkInterface',
              'ec2:DescribeNetworkInterfaces',
              'ec2:DescribeSubnets',
              'ec2:DeleteNetworkInterface',
              'ec2:AssignPrivateIpAddresses',
              'ec2:UnassignPrivateIpAddresses',
            ],
            resources: ['*'],
          }),
        ],
      });
      Validations.of(vpcAccess).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Lambda creates and deletes the network interfaces of a VPC function; these EC2 actions take no resource ARN.',
      });
    }

    super(scope, id, {
      entry: functionEntry(props.name),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: settings.memoryMiB,
      timeout: Duration.seconds(settings.timeoutSeconds),
      ephemeralStorageSize: settings.ephemeralStorageMiB
        ? Size.mebibytes(settings.ephemeralStorageMiB)
        : undefined,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role,
      logGroup,
      vpc: props.vpc,
      // Private subnets routed through the NAT gateways: the functions' fixed egress addresses.
      vpcSubnets: props.vpc ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } : undefined,
      securityGroups: props.securityGroups,
      description: `Tanium Threat Response: ${props.name}`,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.name,
        POWERTOOLS_LOG_LEVEL: props.logLevel,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        ...functionNodeOptions(props.sourceMaps ?? false),
        ...props.environment,
      },
      bundling: cdkBundlingOptions(props.name),
    });
    // Lambda checks the role can manage network interfaces when it creates a VPC function.
    if (vpcAccess) this.node.addDependency(vpcAccess);
    this.functionLogGroup = logGroup;
    this.settings = settings;
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x is the runtime the design fixes (an LTS runtime Lambda supports; the code also runs on the Node 20 toolchain).',
    });
  }

  /** Read the Tanium credentials: `TANIUM_SECRET_ID` and `secretsmanager:GetSecretValue` on that secret. */
  grantCredentials(secret: secretsmanager.ISecret, secretId: string, kmsKeyArn?: string): void {
    this.addEnvironment('TANIUM_SECRET_ID', secretId);
    // A secret imported by name has no full ARN: match the six characters Secrets Manager appends.
    const secretArn = secret.secretFullArn ?? `${secret.secretArn}-??????`;
    iam.Grant.addToPrincipal({
      grantee: this,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [secretArn],
    });
    // No cdk-nag acknowledgement for the suffix: AwsSolutions-IAM5 flags `*` only, not `?`.
    if (kmsKeyArn) {
      // Only as Secrets Manager's caller for this one secret: without the conditions the role could
      // decrypt anything else encrypted under the key, directly.
      iam.Grant.addToPrincipal({
        grantee: this,
        actions: ['kms:Decrypt'],
        resourceArns: [kmsKeyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `secretsmanager.${Stack.of(this).region}.${Stack.of(this).urlSuffix}`,
          },
          StringLike: { 'kms:EncryptionContext:SecretARN': secretArn },
        },
      });
    }
  }

  /**
   * Publish results or alerts: `EVENT_BUS_NAME`, and `events:PutEvents` on that bus only, for events of
   * `event.source` and `event.detailType` only. The bus also carries `Action Request` events into the family queues:
   * without the condition, a compromised function (the evidence one parses hostile archives) could
   * request a mutating action of another family.
   */
  grantPublish(bus: events.IEventBus, event: { source: string; detailType: string }): void {
    this.addEnvironment('EVENT_BUS_NAME', bus.eventBusName);
    iam.Grant.addToPrincipal({
      grantee: this,
      actions: ['events:PutEvents'],
      resourceArns: [bus.eventBusArn],
      conditions: {
        StringEquals: { 'events:source': [event.source], 'events:detail-type': [event.detailType] },
      },
    });
  }

  /**
   * Use the state table: `STATE_TABLE` and exactly `actions` on it, on the items whose key starts with
   * `keyPrefix` only. The family functions and the poller share the table: neither may touch the
   * other's records (a family function could otherwise overwrite the poller's checkpoint).
   */
  grantState(table: dynamodb.ITable, actions: readonly string[], keyPrefix: string): void {
    this.addEnvironment('STATE_TABLE', table.tableName);
    iam.Grant.addToPrincipal({
      grantee: this,
      actions: [...actions],
      resourceArns: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${keyPrefix}*`] } },
    });
  }

  /**
   * Consume a family queue with partial batch responses; `MAX_RECEIVE_COUNT` tells the handler which
   * delivery is the last one before the DLQ, `QUEUE_VISIBILITY_TIMEOUT_SECONDS` the most a retry's backoff
   * may hide a record for, `QUEUE_URL` where the backoff sends that change, and `QUEUE_BATCH_SIZE` how
   * many records may share the function's memory (the largest Tanium answer each reads follows from it).
   * The event source's grant includes sqs:ChangeMessageVisibility on this queue, which the backoff uses.
   */
  consumeQueue(queue: sqs.IQueue, maxReceiveCount: number, visibilityTimeoutSeconds: number): SqsEventSource {
    const { settings } = this;
    this.addEnvironment('MAX_RECEIVE_COUNT', String(maxReceiveCount));
    this.addEnvironment('QUEUE_BATCH_SIZE', String(settings.batchSize));
    this.addEnvironment('QUEUE_VISIBILITY_TIMEOUT_SECONDS', String(visibilityTimeoutSeconds));
    this.addEnvironment('QUEUE_URL', queue.queueUrl);
    const source = new SqsEventSource(queue, {
      batchSize: settings.batchSize,
      maxBatchingWindow:
        settings.maxBatchingWindowSeconds > 0
          ? Duration.seconds(settings.maxBatchingWindowSeconds)
          : undefined,
      reportBatchItemFailures: true,
      maxConcurrency: settings.maxConcurrency,
    });
    this.addEventSource(source);
    return source;
  }
}

/** CDK's spelling of BUNDLE_SETTINGS, for the `NodejsFunction` of the function `name`. */
export function cdkBundlingOptions(name: FunctionName): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: BUNDLE_SETTINGS.target,
    minify: BUNDLE_SETTINGS.minify,
    sourceMap: BUNDLE_SETTINGS.sourcemap,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: BUNDLE_SETTINGS.sourcesContent,
    mainFields: [...BUNDLE_SETTINGS.mainFields],
    externalModules: externalModules(name),
    banner: BUNDLE_SETTINGS.banner,
    // esbuild is a devDependency; bundling never needs Docker.
    forceDockerBundling: false,
  };
}
