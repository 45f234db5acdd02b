import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BUNDLE_SETTINGS, esbuildBuildOptions } from '../../infra/bundling.ts';
import { visibilityTimeoutSeconds } from '../../infra/constructs/family-queue.ts';
import { cdkBundlingOptions, PROJECT_ROOT } from '../../infra/constructs/tanium-function.ts';
import { ENVIRONMENT_NAMES, ENVIRONMENTS, resolveEnvironment } from '../../infra/environments.ts';
import { FAMILIES, FAMILY_ACTIONS, familyActionNames } from '../../infra/families.ts';
import { flattenCfnReference } from '../../infra/nag.ts';
import {
  POLLER_SETTING_VARIABLES,
  type PollerSettings,
  pollerSettingsEnvironment,
} from '../../infra/poller-settings.ts';
import { loadPollerConfig, POLLER_DEFAULTS } from '../../shared/alerts/settings.ts';

const run = promisify(execFile);

describe('Infrastructure configuration: environments', () => {
  it('offers dev and prod', () => {
    expect(ENVIRONMENT_NAMES).toEqual(expect.arrayContaining(['dev', 'prod']));
  });

  it('retains data and protects the stack in prod, and lets dev be destroyed', () => {
    // Act
    const dev = resolveEnvironment('dev');
    const prod = resolveEnvironment('prod');

    // Assess
    expect(prod.retainData).toBe(true);
    expect(prod.terminationProtection).toBe(true);
    expect(dev.retainData).toBe(false);
    expect(dev.terminationProtection).toBe(false);
    expect(dev.vpc.enabled).toBe(false);
    expect(prod.vpc.enabled).toBe(false);
  });

  it('names the known environments when asked for an unknown one', () => {
    expect(() => resolveEnvironment('staging')).toThrow(
      "Unknown environment 'staging': use -c env=<dev|prod>",
    );
  });

  it.each(ENVIRONMENT_NAMES)(
    'lets %s survive throttled receives: 5 deliveries and a bounded concurrency per family',
    (name) => {
      // Act
      const config = resolveEnvironment(name);

      // Assess: AWS's advice for queues Lambda consumes; a throttled receive counts as a delivery
      expect(config.maxReceiveCount).toBeGreaterThanOrEqual(5);
      for (const family of FAMILIES) {
        expect(config.functions[family].maxConcurrency).toBeGreaterThanOrEqual(2);
      }
    },
  );

  it.each([1, 2.5, 1001])('rejects a family maxConcurrency of %s, naming the function', (value) => {
    expect(() =>
      resolveEnvironment('dev', {
        functions: {
          ...ENVIRONMENTS.dev.functions,
          intel: { ...ENVIRONMENTS.dev.functions.intel, maxConcurrency: value },
        },
      }),
    ).toThrow(/intel: maxConcurrency must be unset or an integer from 2 to 1000/);
  });

  it('rejects a receive count outside 1..1000, naming the setting', () => {
    expect(() => resolveEnvironment('dev', { maxReceiveCount: 0 })).toThrow(/maxReceiveCount must be/);
  });

  it('reserves concurrency for the poller in prod only, so dev deploys to a low-quota sandbox account', () => {
    expect(resolveEnvironment('prod').poller.reservedConcurrency).toBe(1);
    expect(resolveEnvironment('dev').poller.reservedConcurrency).toBeUndefined();
  });

  it.each([0, 1.5, 1001])('rejects a poller reserved concurrency of %s, naming the setting', (value) => {
    expect(() =>
      resolveEnvironment('dev', { poller: { ...ENVIRONMENTS.dev.poller, reservedConcurrency: value } }),
    ).toThrow(/poller.reservedConcurrency must be unset or an integer from 1 to 1000/);
  });

  it('rejects more NAT gateways than availability zones', () => {
    expect(() =>
      resolveEnvironment('prod', {
        vpc: { ...ENVIRONMENTS.prod.vpc, enabled: true, maxAzs: 1, natGateways: 2 },
      }),
    ).toThrow(/vpc.natGateways/);
  });

  it('rejects alarm e-mails without the alarm topic', () => {
    expect(() =>
      resolveEnvironment('dev', {
        alarms: { ...ENVIRONMENTS.dev.alarms, emailSubscriptions: ['soc@example.com'] },
      }),
    ).toThrow(/alarms.emailSubscriptions/);
  });

  it('rejects a function timeout the queue visibility timeout cannot cover', () => {
    expect(() =>
      resolveEnvironment('dev', {
        functions: {
          ...ENVIRONMENTS.dev.functions,
          evidence: { ...ENVIRONMENTS.dev.functions.evidence, timeoutSeconds: 901 },
        },
      }),
    ).toThrow(/evidence: timeoutSeconds must be 1..900/);
  });
});

describe('Infrastructure configuration: poller settings', () => {
  /** Every setting, each with a valid value other than the poller's default. */
  const EVERY_SETTING: Required<PollerSettings> = {
    pageSize: POLLER_DEFAULTS.pageSize + 50,
    maxRequestsPerRun: POLLER_DEFAULTS.maxRequestsPerRun + 1,
    overlapSeconds: POLLER_DEFAULTS.overlapSeconds + 1,
    reserveSeconds: POLLER_DEFAULTS.reserveSeconds + 1,
    maxRunSeconds: 90,
    maxRecentIds: POLLER_DEFAULTS.maxRecentIds + 1,
    filterState: 'unresolved,inprogress',
    filterPriority: 'high',
    filterSeverity: 'critical',
    filterIntelDocId: '12,34',
    filterQuery: 'computerName=web-02',
    enrichIntelNames: true,
  };
  const withPoller = (settings: PollerSettings) => ({
    poller: { ...ENVIRONMENTS.dev.poller, settings },
  });
  const REQUIRED = { STATE_TABLE: 'state', EVENT_BUS_NAME: 'bus' };

  it.each(Object.entries(POLLER_SETTING_VARIABLES))(
    'passes %s as %s, a variable the poller reads',
    (name, variable) => {
      // Prepare
      const value = EVERY_SETTING[name as keyof PollerSettings];

      // Act
      const env = pollerSettingsEnvironment({ [name]: value });

      // Assess
      expect(env).toEqual({ [variable]: String(value) });
      expect(loadPollerConfig({ ...REQUIRED, ...env })).not.toEqual(loadPollerConfig(REQUIRED));
    },
  );

  it('rejects a poller timeout the default reserve would use up, naming both settings', () => {
    expect(() =>
      resolveEnvironment('dev', {
        functions: {
          ...ENVIRONMENTS.dev.functions,
          'alert-poller': { ...ENVIRONMENTS.dev.functions['alert-poller'], timeoutSeconds: 10 },
        },
      }),
    ).toThrow(
      'poller.settings.reserveSeconds must be below the alert-poller timeoutSeconds (10, the default, against 10)',
    );
  });

  it('accepts every setting with a valid value', () => {
    expect(resolveEnvironment('dev', withPoller(EVERY_SETTING)).poller.settings).toEqual(EVERY_SETTING);
  });

  it.each([
    [{ pageSize: 5 }, /poller.settings: .*POLLER_PAGE_SIZE must be a whole number from 10 to 1000/],
    [{ filterIntelDocId: 'abc' }, /poller.settings: .*POLLER_FILTER_INTEL_DOC_ID must list integers/],
    [{ maxRecentIds: 50_000 }, /POLLER_MAX_RECENT_IDS/],
    [{ reserveSeconds: 120 }, /poller.settings.reserveSeconds must be below the alert-poller timeoutSeconds/],
    [{ pageSiz: 100 } as PollerSettings, /poller.settings: unknown pageSiz \(known: pageSize, /],
  ])('rejects %j as the poller would, naming the setting', (settings, message) => {
    expect(() => resolveEnvironment('dev', withPoller(settings))).toThrow(message);
  });
});

describe('Infrastructure configuration: families', () => {
  it('covers the 20 connector actions, each in one family', () => {
    const all = Object.values(FAMILY_ACTIONS).flat();
    expect(all).toHaveLength(20);
    expect(new Set(all).size).toBe(20);
  });

  it('matches display names and identifiers', () => {
    expect(familyActionNames('investigation')).toEqual([
      'get process',
      'get process tree',
      'get events',
      'get events summary',
      'get_process',
      'get_process_tree',
      'get_events',
      'get_events_summary',
    ]);
  });

  it('has the families of design.md §1', () => {
    expect(FAMILIES).toEqual(['connections', 'snapshots', 'investigation', 'evidence', 'intel', 'alerts']);
  });
});

describe('Infrastructure configuration: bundling and helpers', () => {
  it('feeds CDK and esbuild the same settings', () => {
    // Act
    const cdk = cdkBundlingOptions();
    const direct = esbuildBuildOptions('entry.ts', 'out/index.mjs');

    // Assess
    expect(cdk).toMatchObject({
      format: 'esm',
      minify: true,
      sourceMap: true,
      sourceMapMode: 'default',
      sourcesContent: false,
      target: 'node22',
      externalModules: BUNDLE_SETTINGS.external,
      mainFields: ['module', 'main'],
      banner: BUNDLE_SETTINGS.banner,
      forceDockerBundling: false,
    });
    expect(direct).toMatchObject({
      bundle: true,
      format: cdk.format,
      platform: 'node',
      minify: cdk.minify,
      sourcemap: cdk.sourceMap,
      sourcesContent: cdk.sourcesContent,
      target: cdk.target,
      external: cdk.externalModules,
      mainFields: cdk.mainFields,
      banner: { js: cdk.banner },
    });
  });

  it('hides a queued record for six function timeouts plus the batching window', () => {
    expect(visibilityTimeoutSeconds(120, 0)).toBe(720);
    expect(visibilityTimeoutSeconds(60, 5)).toBe(365);
  });

  it('spells CloudFormation references the way cdk-nag names findings', () => {
    expect(
      flattenCfnReference({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket1', 'Arn'] }, '/results/*']] }),
    ).toBe('<Bucket1.Arn>/results/*');
    expect(flattenCfnReference({ Ref: 'Secret1' })).toBe('<Secret1>');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an Fn::Sub template, not a JavaScript one.
    expect(flattenCfnReference({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::x' })).toBe(
      'arn:<AWS::Partition>:s3:::x',
    );
  });
});

describe('Infrastructure app entry (cdk.json)', () => {
  // What the CDK CLI does for `cdk synth -c env=<name>`: run the app with the context in CDK_CONTEXT_JSON.
  async function runApp(context: Record<string, unknown>) {
    const outdir = mkdtempSync(join(tmpdir(), 'tanium-app-'));
    try {
      const result = await run(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          CDK_OUTDIR: outdir,
          // Bundling is covered by stack.test.ts; skip it here.
          CDK_CONTEXT_JSON: JSON.stringify({ ...context, 'aws:cdk:bundling-stacks': [] }),
        },
      }).then(
        () => ({ ok: true as const, stderr: '' }),
        (error: { stderr: string }) => ({ ok: false as const, stderr: error.stderr }),
      );
      return { ...result, files: readdirSync(outdir) };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }

  // A whole synth in a child process: about 20 s alone, longer on a loaded two-core machine.
  it('synthesizes the stack of the environment given with -c env', { timeout: 90_000 }, async () => {
    // Act
    const result = await runApp({ env: 'prod' });

    // Assess
    expect(result.ok).toBe(true);
    expect(result.files).toContain('TaniumThreatResponse-prod.template.json');
  });

  it('fails with the list of environments when -c env names none', async () => {
    // Act
    const result = await runApp({ env: 'staging' });

    // Assess
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain("Unknown environment 'staging'");
  });
});
