import { type CfnResource, Stack, Token } from 'aws-cdk-lib';
import { CfnEventBus, CfnRule } from 'aws-cdk-lib/aws-events';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

/** EventBridge's default quota on one event pattern, in characters of its JSON. */
export const MAX_EVENT_PATTERN_CHARS = 2048;
/** Lambda's limit on a function's environment variables, keys and values together. */
export const MAX_ENVIRONMENT_BYTES = 4096;
/** EventBridge's default quota on a bus's resource policy, in characters. */
export const MAX_BUS_POLICY_CHARS = 10_240;
/** What a value known only at deploy time (an ARN, a queue URL, a table name) is counted as. */
const DEPLOY_TIME_VALUE_BYTES = 256;

/**
 * Limits CloudFormation would only enforce at deploy time, halfway through an update that then rolls
 * back: settings such as many `requestSources` or long poller filters synthesize fine and fail there.
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
      // Role ARNs are deploy-time values here: counted at the length they will have.
      const chars = JSON.stringify(stack.resolve(node.policy), (_key, value: unknown) =>
        isDeployTimeValue(value) ? 'x'.repeat(DEPLOY_TIME_VALUE_BYTES) : value,
      ).length;
      if (chars > MAX_BUS_POLICY_CHARS) {
        problems.push(
          `${pathOf(node)}: its resource policy is about ${chars} characters, over EventBridge's ${MAX_BUS_POLICY_CHARS} (fewer requestSenderAccounts)`,
        );
      }
    }
    if (node instanceof CfnFunction) {
      const bytes = environmentBytes(stack.resolve(node.environment));
      if (bytes > MAX_ENVIRONMENT_BYTES) {
        problems.push(
          `${pathOf(node)}: its environment variables take about ${bytes} bytes, over Lambda's ${MAX_ENVIRONMENT_BYTES} (shorter poller settings such as filterQuery)`,
        );
      }
    }
  }
  return problems;
}

function environmentBytes(environment: unknown): number {
  // The L1 property, resolved: CDK's own (camelCase) shape, not CloudFormation's.
  const variables = (environment as { variables?: Record<string, unknown> } | undefined)?.variables ?? {};
  let bytes = 0;
  for (const [name, value] of Object.entries(variables)) {
    bytes += Buffer.byteLength(name);
    bytes +=
      typeof value === 'string' && !Token.isUnresolved(value)
        ? Buffer.byteLength(value)
        : DEPLOY_TIME_VALUE_BYTES;
  }
  return bytes;
}

/** A resolved CloudFormation reference or function ({"Ref": ...}, {"Fn::GetAtt": ...}, {"Fn::Join": ...}). */
function isDeployTimeValue(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}

function pathOf(node: CfnResource): string {
  return node.node.path;
}
