import { RemovalPolicy } from 'aws-cdk-lib';

/**
 * What becomes of a resource holding data when the stack or the resource goes: deleted unless the
 * environment retains data, and then kept on delete and on replacement but not when a failed first
 * deploy rolls back (CloudFormation's RetainExceptOnCreate). A plain Retain would leave every such
 * resource of the failed deploy behind, and a kept named secret would fail each retry ("already exists").
 */
export function dataRemovalPolicy(retainData: boolean): RemovalPolicy {
  return retainData ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY;
}

/**
 * For what a failed first deploy's rollback could not delete, which would leave the stack in
 * ROLLBACK_FAILED: kept then too, under its generated name, where it stops no retry.
 */
export function keptEvenOnFailedCreate(retainData: boolean): RemovalPolicy {
  return retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
}
