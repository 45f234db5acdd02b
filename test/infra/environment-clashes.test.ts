import { describe, expect, it } from 'vitest';
import { assertNoClashes } from '../../infra/environment-clashes.ts';
import { ENVIRONMENTS, type EnvironmentDeclaration, resolveEnvironment } from '../../infra/environments.ts';

function clashesOf(name: string, declarations: Record<string, EnvironmentDeclaration>): string {
  try {
    assertNoClashes(resolveEnvironment(name, {}, declarations), declarations);
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

describe('Environments: names unique per account and region', () => {
  it('accepts the declared environments', () => {
    for (const name of Object.keys(ENVIRONMENTS)) {
      expect(() => assertNoClashes(resolveEnvironment(name))).not.toThrow();
    }
  });

  it('refuses a bus name, metrics namespace or secret name another environment has in the same place', () => {
    // Prepare: 'soc' copies prod's names; neither names an account, so both may land in the same one
    const declarations: Record<string, EnvironmentDeclaration> = {
      prod: { eventBusName: 'tanium-tr', credentials: { mode: 'create', secretName: 'tanium/tr' } },
      soc: {
        eventBusName: 'tanium-tr',
        metricsNamespace: 'TaniumThreatResponse/prod',
        credentials: { mode: 'create', secretName: 'tanium/tr' },
      },
    };

    // Act
    const message = clashesOf('soc', declarations);

    // Assess
    expect(message).toMatch(/^Invalid configuration for environment 'soc': /);
    expect(message).toContain("eventBusName 'tanium-tr' is also environment 'prod's");
    expect(message).toContain("metricsNamespace 'TaniumThreatResponse/prod' is also environment 'prod's");
    expect(message).toContain("credentials.secretName 'tanium/tr' is also environment 'prod's");
  });

  it('lets environments in different accounts or regions share names', () => {
    // Prepare
    const declarations: Record<string, EnvironmentDeclaration> = {
      eu: {
        eventBusName: 'tanium-tr',
        account: '111122223333',
        region: 'eu-west-1',
        metricsNamespace: 'Tanium',
      },
      us: {
        eventBusName: 'tanium-tr',
        account: '111122223333',
        region: 'us-east-1',
        metricsNamespace: 'Tanium',
      },
      other: {
        eventBusName: 'tanium-tr',
        account: '444455556666',
        region: 'eu-west-1',
        metricsNamespace: 'Tanium',
      },
    };

    // Act and assess
    for (const name of Object.keys(declarations)) expect(clashesOf(name, declarations)).toBe('');
  });
});
