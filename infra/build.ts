import { Annotations, type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { assertNoCertainClashes, nameClashes } from './environment-clashes.ts';
import {
  ENVIRONMENTS,
  type EnvironmentDeclaration,
  EnvironmentError,
  type EnvironmentOverrides,
  resolveEnvironment,
} from './environments.ts';
import { TaniumThreatResponseStack } from './stack.ts';

/** The stack name of an environment. */
export function stackName(envName: string): string {
  return `TaniumThreatResponse-${envName}`;
}

/**
 * The environment `-c env=<name>` names. There is none by default: a command that named none, or
 * misspelt the key (`-c environment=prod`), would otherwise deploy dev's stack and settings (data
 * deleted with the stack, evidence expiring) to whatever account the profile points at.
 * @throws EnvironmentError listing the environments, and any context key that looks like a misspelt env.
 */
export function environmentFromContext(
  context: Readonly<Record<string, unknown>>,
  names: readonly string[] = Object.keys(ENVIRONMENTS),
): string {
  const name = context.env;
  if (name !== undefined && name !== '') return String(name);
  // CDK's own keys hold a ':' (`aws:cdk:...`, lookups) or start with '@' (feature flags).
  const misspelt = Object.entries(context)
    .filter(([key]) => key !== 'env' && /env/i.test(key) && !key.includes(':') && !key.startsWith('@'))
    .map(([key, value]) => `-c ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const usage = `No environment given: use -c env=<${names.join('|')}> (there is no default)`;
  throw new EnvironmentError(
    misspelt.length > 0 ? `${usage}; ${misspelt.join(', ')} is not read: the key is env` : usage,
  );
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
