import { Annotations, type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { assertNoCertainClashes, nameClashes } from './environment-clashes.ts';
import {
  ENVIRONMENTS,
  type EnvironmentDeclaration,
  type EnvironmentOverrides,
  resolveEnvironment,
} from './environments.ts';
import { TaniumThreatResponseStack } from './stack.ts';

/** The stack name of an environment. */
export function stackName(envName: string): string {
  return `TaniumThreatResponse-${envName}`;
}

/**
 * Adds the stack of environment `envName` to `app`, checked by cdk-nag's AwsSolutions pack: synthesis
 * fails on any finding not acknowledged with a reason.
 */
export function buildApp(
  app: App,
  envName: string,
  overrides: EnvironmentOverrides = {},
  declarations: Readonly<Record<string, EnvironmentDeclaration>> = ENVIRONMENTS,
): TaniumThreatResponseStack {
  const config = resolveEnvironment(envName, overrides, declarations);
  const clashes = nameClashes(
    config,
    { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    declarations,
  );
  assertNoCertainClashes(config.name, clashes);
  const stack = new TaniumThreatResponseStack(app, stackName(config.name), {
    config,
    env: {
      account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT,
      region: config.region ?? process.env.CDK_DEFAULT_REGION,
    },
  });
  // Deployed with different profiles, such environments are apart: said, not refused.
  for (const clash of clashes.possible) Annotations.of(stack).addWarningV2('tanium:shared-name', clash);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
