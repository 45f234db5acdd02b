import {
  ENVIRONMENTS,
  type EnvironmentConfig,
  type EnvironmentDeclaration,
  EnvironmentError,
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

/** Where the environment being synthesized goes when it names no account or region: the CLI's defaults. */
export interface DefaultTarget {
  account?: string | undefined;
  region?: string | undefined;
}

/**
 * Whether two environments deploy to the same account and region: `same` when both are known and
 * equal, `apart` when either differs, `maybe` when one is unknown (an environment naming no account is
 * deployed wherever its deployer's profile points, which may be another account).
 */
function sharedTarget(
  ours: { account?: string | undefined; region?: string | undefined },
  theirs: EnvironmentConfig,
): 'same' | 'apart' | 'maybe' {
  const compare = (x: string | undefined, y: string | undefined) =>
    x === undefined || y === undefined ? 'maybe' : x === y ? 'same' : 'apart';
  const account = compare(ours.account, theirs.account);
  const region = compare(ours.region, theirs.region);
  if (account === 'apart' || region === 'apart') return 'apart';
  return account === 'same' && region === 'same' ? 'same' : 'maybe';
}

export interface NameClashes {
  /** With an environment known to deploy to the same account and region. */
  certain: string[];
  /** With an environment that may, depending on the profiles they are deployed with. */
  possible: string[];
}

/**
 * The names `config` (the environment being synthesized) shares with other declared environments that
 * must be unique per account and region. Environments that do not resolve are left to their own
 * synthesis to report.
 */
export function nameClashes(
  config: EnvironmentConfig,
  defaults: DefaultTarget = {},
  declarations: Readonly<Record<string, EnvironmentDeclaration>> = ENVIRONMENTS,
): NameClashes {
  const clashes: NameClashes = { certain: [], possible: [] };
  const ours = { account: config.account ?? defaults.account, region: config.region ?? defaults.region };
  for (const other of Object.keys(declarations)) {
    if (other === config.name) continue;
    let resolved: EnvironmentConfig;
    try {
      resolved = resolveEnvironment(other, {}, declarations);
    } catch {
      continue;
    }
    const target = sharedTarget(ours, resolved);
    if (target === 'apart') continue;
    for (const [setting, read] of UNIQUE) {
      const value = read(config);
      if (value === undefined || value !== read(resolved)) continue;
      const where =
        target === 'same'
          ? 'deploys to the same account and region'
          : 'may deploy to the same account and region';
      (target === 'same' ? clashes.certain : clashes.possible).push(
        `${setting} '${value}' is also environment '${other}'s, which ${where}`,
      );
    }
  }
  return clashes;
}

/** Throws on the certain clashes of `clashes` (see nameClashes). */
export function assertNoCertainClashes(name: string, clashes: NameClashes): void {
  if (clashes.certain.length > 0) {
    throw new EnvironmentError(
      `Invalid configuration for environment '${name}': ${clashes.certain.join('; ')}`,
    );
  }
}
