import { type CfnResource, Stack } from 'aws-cdk-lib';
import { CfnEventBus, CfnRule } from 'aws-cdk-lib/aws-events';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { isRecord } from '../shared/config/is-record.ts';

/** EventBridge's default quota on one event pattern, in characters of its JSON. */
export const MAX_EVENT_PATTERN_CHARS = 2048;
/** Lambda's limit on a function's environment variables, measured as their JSON. */
export const MAX_ENVIRONMENT_BYTES = 4096;
/** EventBridge's default quota on a bus's resource policy, in characters. */
export const MAX_BUS_POLICY_CHARS = 10_240;
/** What a value known only at deploy time (a role ARN, a queue URL, a table name) is counted as. */
const DEPLOY_TIME_VALUE = 'x'.repeat(256);
/** The pseudo parameters, at their longest. */
const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws-us-gov',
  'AWS::Region': 'us-isof-south-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com.cn',
};

/**
 * Limits CloudFormation would only enforce at deploy time, halfway through an update that then rolls
 * back: settings such as many `requestSources` or long poller filters synthesize fine and fail there.
 * The quotas are EventBridge's and Lambda's defaults.
 */
export function serviceLimitProblems(scope: IConstruct): string[] {
  const stack = Stack.of(scope);
  const problems: string[] = [];
  for (const node of scope.node.findAll()) {
    if (node instanceof CfnRule && node.eventPattern !== undefined) {
      const chars = JSON.stringify(stack.resolve(node.eventPattern)).length;
      if (chars > MAX_EVENT_PATTERN_CHARS) {
        problems.push(
          `${pathOf(node)}: its event pattern is ${chars} characters, over EventBridge's ${MAX_EVENT_PATTERN_CHARS} (fewer or shorter requestSources)`,
        );
      }
    }
    if (node instanceof CfnEventBus && node.policy !== undefined) {
      const chars = JSON.stringify(deployed(stack.resolve(node.policy))).length;
      if (chars > MAX_BUS_POLICY_CHARS) {
        problems.push(
          `${pathOf(node)}: its resource policy is about ${chars} characters, over EventBridge's ${MAX_BUS_POLICY_CHARS} (fewer requestSenderAccounts)`,
        );
      }
    }
    if (node instanceof CfnFunction) {
      // The L1 property, resolved: CDK's own (camelCase) shape, not CloudFormation's.
      const resolved = stack.resolve(node.environment) as { variables?: unknown } | undefined;
      const bytes = Buffer.byteLength(JSON.stringify(deployed(resolved?.variables ?? {})));
      if (bytes > MAX_ENVIRONMENT_BYTES) {
        problems.push(
          `${pathOf(node)}: its environment variables take about ${bytes} bytes, over Lambda's ${MAX_ENVIRONMENT_BYTES} (shorter poller settings such as filterQuery)`,
        );
      }
    }
  }
  return problems;
}

/**
 * A resolved CloudFormation value as deployed, near enough to measure: pseudo parameters at their
 * longest, joins joined, any other reference or function at DEPLOY_TIME_VALUE's length.
 */
function deployed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deployed);
  if (!isRecord(value)) return value;
  const [key, ...more] = Object.keys(value);
  if (key !== undefined && more.length === 0 && (key === 'Ref' || key.startsWith('Fn::'))) {
    const argument = value[key];
    if (key === 'Ref' && typeof argument === 'string')
      return PSEUDO_PARAMETERS[argument] ?? DEPLOY_TIME_VALUE;
    if (key === 'Fn::Join' && Array.isArray(argument) && Array.isArray(argument[1])) {
      return (deployed(argument[1]) as unknown[]).map(String).join(String(argument[0]));
    }
    return DEPLOY_TIME_VALUE;
  }
  return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, deployed(inner)]));
}

function pathOf(node: CfnResource): string {
  return node.node.path;
}
