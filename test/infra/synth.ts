import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import { buildApp } from '../../infra/build.ts';
import type { EnvironmentConfig, EnvironmentOverrides } from '../../infra/environments.ts';
import { flattenCfnReference } from '../../infra/nag.ts';
import type { TaniumThreatResponseStack } from '../../infra/stack.ts';

export interface Synthesized {
  readonly app: App;
  readonly stack: TaniumThreatResponseStack;
  readonly config: EnvironmentConfig;
  readonly assembly: CloudAssembly;
  readonly template: Template;
  readonly outdir: string;
}

/**
 * An app that skips esbuild (CDK's `aws:cdk:bundling-stacks` switch), for tests that need no assets, in
 * a temporary directory of its own: without one, CDK makes a `cdk.out*` directory under the system's
 * temporary directory when the app is constructed and never removes it. Remove it with `removeApp`.
 */
export function unbundledApp(): App {
  return new App({
    outdir: temporaryOutdir(),
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] },
  });
}

/**
 * The context `cdk.json` gives every `cdk` command, its feature flags above all: tests synthesize the
 * templates `cdk deploy` would deploy, not the ones CDK's legacy defaults would give.
 */
export const CDK_JSON_CONTEXT: Readonly<Record<string, unknown>> = (
  JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

export function removeApp(app: App): void {
  rmSync(app.outdir, { recursive: true, force: true });
}

const temporaryOutdir = () => mkdtempSync(join(tmpdir(), 'tanium-infra-'));

/**
 * Synthesizes one environment the way `cdk synth -c env=<name>` does (cdk-nag included), into a
 * temporary directory. `bundling: false` skips esbuild for tests that look at configuration variants only.
 */
export function synthesize(
  envName: string,
  overrides: EnvironmentOverrides = {},
  { bundling = true }: { bundling?: boolean } = {},
): Synthesized {
  const app = bundling
    ? new App({ outdir: temporaryOutdir(), context: { ...CDK_JSON_CONTEXT } })
    : unbundledApp();
  try {
    const stack = buildApp(app, envName, overrides);
    const assembly = app.synth() as unknown as CloudAssembly;
    const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template);
    return { app, stack, config: stack.config, assembly, template, outdir: app.outdir };
  } catch (error) {
    // The caller gets no outdir to clean up: tests that expect a refusal would leave it behind.
    removeApp(app);
    throw error;
  }
}

export function cleanup(synthesized: Synthesized | undefined): void {
  if (synthesized) rmSync(synthesized.outdir, { recursive: true, force: true });
}

/** The findings cdk-nag left unacknowledged (synthesis also fails on any). */
export function nagViolations(synthesized: Synthesized): unknown[] {
  const file = join(synthesized.assembly.directory, 'validation-report.json');
  if (!existsSync(file)) throw new Error('No validation report: cdk-nag did not run');
  const report = JSON.parse(readFileSync(file, 'utf8')) as { pluginReports: { violations: unknown[] }[] };
  return report.pluginReports.flatMap((r) => r.violations);
}

/** The logical id of a construct's CloudFormation resource (or of the resource itself). */
export function logicalId(stack: Stack, construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return stack.getLogicalId(element);
}

/** `{ Ref: id }` */
export function ref(id: string): { Ref: string } {
  return { Ref: id };
}

/** `{ 'Fn::GetAtt': [id, attribute] }` */
export function getAtt(id: string, attribute = 'Arn'): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [id, attribute] };
}

/** Action -> sorted resources (flattened like cdk-nag's ids), from every policy attached to `roleId`. */
export function permissionsOf(template: Template, roleId: string): Record<string, string[]> {
  const permissions: Record<string, Set<string>> = {};
  const policies = template.findResources('AWS::IAM::Policy');
  for (const policy of Object.values(policies)) {
    const roles = (policy.Properties.Roles ?? []) as unknown[];
    if (!roles.some((r) => JSON.stringify(r) === JSON.stringify(ref(roleId)))) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
      if (statement.Effect !== 'Allow')
        throw new Error(`Unexpected ${statement.Effect} statement on ${roleId}`);
      for (const action of toArray(statement.Action)) {
        permissions[action] ??= new Set();
        for (const resource of toArray(statement.Resource))
          permissions[action].add(flattenCfnReference(resource));
      }
    }
  }
  return Object.fromEntries(Object.entries(permissions).map(([action, set]) => [action, [...set].sort()]));
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

function toArray<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}
