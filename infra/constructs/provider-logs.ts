import { type CfnResource, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * A CDK custom resource provider's function (one per stack, `Custom::<Name>CustomResourceProvider`)
 * writes to a log group Lambda creates on its own, which never expires and outlives `cdk destroy`. It
 * gets one of the stack's own, kept `retention` and deleted after the function.
 */
export function manageProviderLogs(
  scope: Construct,
  id: string,
  providerId: string,
  retention: logs.RetentionDays,
): void {
  const handler = Stack.of(scope).node.tryFindChild(providerId)?.node.tryFindChild('Handler');
  if (!handler) throw new Error(`CDK's ${providerId} function was not found`);
  const logGroup = new logs.LogGroup(scope, id, { retention, removalPolicy: RemovalPolicy.DESTROY });
  const cfnHandler = handler as CfnResource;
  cfnHandler.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
  cfnHandler.addResourceDependency(logGroup.node.defaultChild as CfnResource);
}
