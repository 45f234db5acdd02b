import {
  ENVIRONMENTS,
  type EnvironmentConfig,
  type EnvironmentDeclaration,
  EnvironmentError,
  type EnvironmentOverrides,
  resolveEnvironment,
} from './environments.ts';

/**
 * What two environments deployed to one account and region cannot share: a bus name or a created
 * secret's name (the second deploy fails on it), or a metrics namespace (each environment's alarms would
 * fire on the other's metrics, whose dimensions name no environment).
 */
const UNIQUE: ReadonlyArray<readonly [string, (config: EnvironmentConfig) => string | undefined]> = [
  ['eventBusName', (config) => config.eventBusName],
  ['metricsNamespace', (config) => config.metricsNamespace],
  [
    'credentials.secretName',
    (config) => (config.credentials.mode === 'create' ? config.credentials.secretName : undefined),
  ],
];

/** An environment naming no account (or region) deploys wherever the caller's credentials point. */
function mayShareTarget(a: EnvironmentConfig, b: EnvironmentConfig): boolean {
  const same = (x: string | undefined, y: string | undefined) =>
    x === undefined || y === undefined || x === y;
  return same(a.account, b.account) && same(a.region, b.region);
}

/**
 * Throws when `config` (the environment being synthesized) shares a name that must be unique with
 * another declared environment that may deploy to the same account and region. Environments that do not
 * resolve are left to their own synthesis to report.
 */
export function assertNoClashes(
  config: EnvironmentConfig,
  declarations: Readonly<Record<string, EnvironmentDeclaration>> = ENVIRONMENTS,
  overridesOf: (name: string) => EnvironmentOverrides = () => ({}),
): void {
  const problems: string[] = [];
  for (const other of Object.keys(declarations)) {
    if (other === config.name) continue;
    let resolved: EnvironmentConfig;
    try {
      resolved = resolveEnvironment(other, overridesOf(other), declarations);
    } catch {
      continue;
    }
    if (!mayShareTarget(config, resolved)) continue;
    for (const [setting, read] of UNIQUE) {
      const ours = read(config);
      if (ours !== undefined && ours === read(resolved)) {
        problems.push(
          `${setting} '${ours}' is also environment '${other}'s, which may deploy to the same account and region`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new EnvironmentError(
      `Invalid configuration for environment '${config.name}': ${problems.join('; ')}`,
    );
  }
}
