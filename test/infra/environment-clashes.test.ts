import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../infra/build.ts';
import { assertNoCertainClashes, nameClashes } from '../../infra/environment-clashes.ts';
import { ENVIRONMENTS, type EnvironmentDeclaration, resolveEnvironment } from '../../infra/environments.ts';
import { problemsOf } from './problems.ts';
import { removeApp, unbundledApp } from './synth.ts';

/** prod's names, copied by 'soc'; where each deploys is added per test. */
function declarationsWith(prod: Partial<EnvironmentDeclaration>, soc: Partial<EnvironmentDeclaration>) {
  return {
    prod: { eventBusName: 'tanium-tr', credentials: { mode: 'create', secretName: 'tanium/tr' }, ...prod },
    soc: {
      eventBusName: 'tanium-tr',
      metricsNamespace: 'TaniumThreatResponse/prod',
      credentials: { mode: 'create', secretName: 'tanium/tr' },
      ...soc,
    },
  } as Record<string, EnvironmentDeclaration>;
}

describe('Environments: names unique per account and region', () => {
  it('finds no clash among the declared environments', () => {
    for (const name of Object.keys(ENVIRONMENTS)) {
      expect(nameClashes(resolveEnvironment(name))).toEqual({ certain: [], possible: [] });
    }
  });

  it('refuses a bus name, metrics namespace or secret name another environment has in the same place', () => {
    // Prepare
    const place = { account: '111122223333', region: 'eu-west-1' };
    const declarations = declarationsWith(place, place);

    // Act
    const clashes = nameClashes(resolveEnvironment('soc', {}, declarations), {}, declarations);
    const refusal = problemsOf(() => assertNoCertainClashes('soc', clashes));

    // Assess
    expect(clashes.possible).toEqual([]);
    expect(refusal).toMatch(/^Invalid configuration for environment 'soc': /);
    for (const [setting, value] of [
      ['eventBusName', 'tanium-tr'],
      ['metricsNamespace', 'TaniumThreatResponse/prod'],
      ['credentials.secretName', 'tanium/tr'],
    ]) {
      expect(refusal).toContain(
        `${setting} '${value}' is also environment 'prod's, which deploys to the same account and region`,
      );
    }
  });

  it('only warns of the same names when an environment names no account: its profile decides', () => {
    // Prepare: prod names its account; soc is deployed with the CLI's default profile
    const declarations = declarationsWith({ account: '111122223333', region: 'eu-west-1' }, {});

    // Act
    const unknown = nameClashes(resolveEnvironment('soc', {}, declarations), {}, declarations);
    const sameProfile = nameClashes(
      resolveEnvironment('soc', {}, declarations),
      { account: '111122223333', region: 'eu-west-1' },
      declarations,
    );
    const otherProfile = nameClashes(
      resolveEnvironment('soc', {}, declarations),
      { account: '444455556666', region: 'eu-west-1' },
      declarations,
    );

    // Assess: the profile's account is where soc goes, so the same one is a certain clash
    expect(unknown.certain).toEqual([]);
    expect(unknown.possible).toHaveLength(3);
    expect(unknown.possible[0]).toContain('which may deploy to the same account and region');
    expect(sameProfile.certain).toHaveLength(3);
    expect(otherProfile).toEqual({ certain: [], possible: [] });
    expect(() => assertNoCertainClashes('soc', unknown)).not.toThrow();
  });

  it('only warns when the account is the same and the region unknown', () => {
    // Prepare: both name the account; soc's region is the profile's
    const declarations = declarationsWith(
      { account: '111122223333', region: 'eu-west-1' },
      { account: '111122223333' },
    );

    // Act
    const clashes = nameClashes(resolveEnvironment('soc', {}, declarations), {}, declarations);

    // Assess
    expect(clashes.certain).toEqual([]);
    expect(clashes.possible).toHaveLength(3);
  });

  it('lets two environments in one place import the same secret: only a created one is theirs alone', () => {
    // Prepare
    const place = { account: '111122223333', region: 'eu-west-1' };
    const imported = { mode: 'import', secretName: 'tanium/tr' } as const;
    const declarations = declarationsWith(
      { ...place, eventBusName: 'tanium-tr-prod', credentials: imported },
      { ...place, eventBusName: 'tanium-tr-soc', metricsNamespace: 'Tanium/soc', credentials: imported },
    );

    // Act / Assess
    expect(nameClashes(resolveEnvironment('soc', {}, declarations), {}, declarations)).toEqual({
      certain: [],
      possible: [],
    });
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
    for (const name of Object.keys(declarations)) {
      expect(nameClashes(resolveEnvironment(name, {}, declarations), {}, declarations)).toEqual({
        certain: [],
        possible: [],
      });
    }
  });

  // A file's first build of the whole stack loads most of the CDK: about 10 s alone, and past the default
  // timeout when the whole suite shares the cores.
  describe('is checked when the app is built', { timeout: 120_000 }, () => {
    // The CLI's profile points at prod's account and region
    const profileAtProd = () => {
      vi.stubEnv('CDK_DEFAULT_ACCOUNT', '111122223333');
      vi.stubEnv('CDK_DEFAULT_REGION', 'eu-west-1');
    };

    it('refused where the clash is certain', () => {
      // Prepare
      profileAtProd();
      const certain = declarationsWith({ account: '111122223333', region: 'eu-west-1' }, {});
      // Without esbuild: only the annotations matter.
      const app = unbundledApp();
      try {
        // Act
        const refused = problemsOf(() => buildApp(app, 'soc', {}, certain));

        // Assess
        expect(refused).toContain(
          "eventBusName 'tanium-tr' is also environment 'prod's, which deploys to the same",
        );
      } finally {
        vi.unstubAllEnvs();
        removeApp(app);
      }
    });

    it('a synthesis warning where it is possible', () => {
      // Prepare
      profileAtProd();
      const possible = declarationsWith({}, {});
      const app = unbundledApp();
      try {
        // Act
        const warned = buildApp(app, 'soc', {}, possible);

        // Assess
        Annotations.fromStack(warned).hasWarning(
          '*',
          Match.stringLikeRegexp("eventBusName 'tanium-tr' is also environment 'prod's, which may deploy"),
        );
      } finally {
        vi.unstubAllEnvs();
        removeApp(app);
      }
    });
  });
});
