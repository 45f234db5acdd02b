import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VAULT_FUNCTIONS } from '../../infra/bundling.ts';
import { ENVIRONMENT_NAMES } from '../../infra/environments.ts';
import { FAMILIES, FUNCTION_NAMES, type FunctionName, MUTATING_FAMILIES } from '../../infra/families.ts';
import { INCOMING_PREFIX, RESULTS_PREFIX, VAULT_PREFIX } from '../../shared/vault/constants.ts';
import { callsOf, type FunctionCalls, type SdkCall } from './sdk-calls.ts';
import { cleanup, logicalId, permissionsOf, type Synthesized, synthesize } from './synth.ts';

/**
 * Calls a bundle includes that its function never makes, and so is not granted. The scan works file by
 * file, so a function carrying a module for another family's sake needs an entry here, with the reason.
 */
interface NeverMade {
  readonly functions: readonly FunctionName[];
  readonly file: string;
  readonly actions: readonly string[];
  readonly reason: string;
}

const NEVER_MADE: readonly NeverMade[] = [
  {
    functions: FAMILIES.filter((family) => !MUTATING_FAMILIES.includes(family)),
    file: 'shared/events/idempotency-store.ts',
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    reason:
      'The idempotency step runs for mutating actions only (processor.ts); a read-only family has none.',
  },
];

type PrefixesByAction = Readonly<Record<string, readonly string[]>>;

/**
 * The vault prefixes a file's S3 object calls use, action by action, every one of which must be granted:
 * a grant on another prefix (the results store's s3:PutObject on `results/*`) does not cover them.
 */
const S3_PREFIXES: Readonly<Record<string, PrefixesByAction>> = {
  // The S3 client packages the result store writes with (bundled, or the Lambda runtime's).
  'shared/vault/s3-api.ts': { 's3:PutObject': [RESULTS_PREFIX] },
  'shared/vault/runtime-s3-api.ts': { 's3:PutObject': [RESULTS_PREFIX] },
  // Upload intel doc reads documents from vault/ (the intel function's whole vault).
  'shared/vault/vault-reader.ts': { 's3:GetObject': [VAULT_PREFIX] },
  // Evidence streams into incoming/ (or uploads to vault/ from its spool), checks vault/ first, and deletes
  // only what it left in incoming/.
  'shared/vault/vault.ts': {
    's3:GetObject': [VAULT_PREFIX],
    's3:PutObject': [VAULT_PREFIX, INCOMING_PREFIX],
    's3:AbortMultipartUpload': [VAULT_PREFIX, INCOMING_PREFIX],
    's3:DeleteObject': [INCOMING_PREFIX],
  },
  // The copy reads incoming/ and writes vault/.
  'shared/vault/s3-copy.ts': {
    's3:GetObject': [INCOMING_PREFIX],
    's3:PutObject': [VAULT_PREFIX],
  },
  // Aborts the multipart uploads of both paths and of a multipart copy.
  'shared/vault/cleanup.ts': { 's3:AbortMultipartUpload': [VAULT_PREFIX, INCOMING_PREFIX] },
};

/** Why a role with `permissions` does not allow `call`, or undefined when it does. */
function refusal(call: SdkCall, permissions: Record<string, string[]>): string | undefined {
  const resources = permissions[call.action];
  if (!resources) return `its role lacks ${call.action}`;
  if (!call.action.startsWith('s3:') || call.action === 's3:ListBucket') return undefined;
  const prefixes = S3_PREFIXES[call.file]?.[call.action];
  if (!prefixes) return `S3_PREFIXES does not say which vault prefixes ${call.file} uses for ${call.action}`;
  const missing = prefixes.filter(
    (prefix) => !resources.some((resource) => resource.endsWith(`/${prefix}*`)),
  );
  if (missing.length === 0) return undefined;
  return `its role grants ${call.action} only on ${resources.join(', ')}, not on ${missing.join(' and ')}`;
}

function neverMade(name: FunctionName, call: SdkCall): boolean {
  return NEVER_MADE.some(
    (entry) =>
      entry.functions.includes(name) && entry.file === call.file && entry.actions.includes(call.action),
  );
}

/**
 * The role policies against the code: the exact test in stack.test.ts compares them with a hand-written
 * copy of the grants, and neither the SDK mocks nor moto enforce IAM, so only this ties a new SDK call
 * to the permission it needs before AWS answers AccessDenied.
 */
describe('Permissions: the AWS calls in the code', () => {
  const found = {} as Record<FunctionName, FunctionCalls>;

  // One esbuild metafile build per function (about a second each), bundled as the stack bundles it.
  beforeAll(async () => {
    for (const name of FUNCTION_NAMES) found[name] = await callsOf(name);
  }, 120_000);

  it.each(FUNCTION_NAMES)('knows the IAM action of every call the %s bundle can send', (name) => {
    expect(found[name].unknown).toEqual([]);
  });

  it.each(FUNCTION_NAMES)('finds the calls every function makes in the %s bundle', (name) => {
    // Every function reads its Tanium credentials and publishes: a scan that misses these misses all.
    const actions = found[name].calls.map((call) => call.action);
    expect(actions).toContain('secretsmanager:GetSecretValue');
    expect(actions).toContain('events:PutEvents');
  });

  it.each(FAMILIES)("finds the result store's S3 write in the %s bundle", (name) => {
    // Every family stores results too big for an event, with the S3 client its vault bundles or, where
    // there is no vault, the Lambda runtime's, which only a dynamic import names.
    // Act
    const writers = found[name].calls
      .filter((call) => call.action === 's3:PutObject')
      .map((call) => call.file)
      .filter((file) => S3_PREFIXES[file]?.['s3:PutObject']?.includes(RESULTS_PREFIX));

    // Assess
    expect([...new Set(writers)]).toEqual([
      VAULT_FUNCTIONS.includes(name) ? 'shared/vault/s3-api.ts' : 'shared/vault/runtime-s3-api.ts',
    ]);
  });

  it('finds the vault writes (lib-storage among them) in the evidence bundle only', () => {
    // Act: intel's vault only reads; the other functions have none
    const writers = FUNCTION_NAMES.filter((name) =>
      found[name].calls.some((call) => call.command.startsWith('Upload ->')),
    );

    // Assess
    expect(writers).toEqual(['evidence']);
  });

  it.each(FUNCTION_NAMES)('finds a call for every AWS SDK client in the %s bundle', (name) => {
    // A bundled client with no call found is sent to by code the scan does not see.
    const used = new Set(found[name].calls.map((call) => call.client));
    expect(found[name].bundledClients.filter((client) => !used.has(client))).toEqual([]);
  });

  it.each(FUNCTION_NAMES)(
    'leaves the credential providers Lambda never reaches out of the %s bundle',
    (name) => {
      // Lambda puts the role's credentials in the environment, so the default chain stops at fromEnv:
      // the later links only add size and import time (infra/bundling.ts).
      const providers = found[name].bundledPackages.filter((p) => p.includes('credential-provider'));
      expect(providers).toEqual(['@aws-sdk/credential-provider-env', '@aws-sdk/credential-provider-node']);
    },
  );

  describe.each(ENVIRONMENT_NAMES)('the %s environment', (envName) => {
    let s: Synthesized;

    // The policies do not depend on the bundles: synthesized without esbuild.
    beforeAll(() => {
      s = synthesize(envName, {}, { bundling: false });
    }, 120_000);

    afterAll(() => {
      cleanup(s);
    });

    const granted = (name: FunctionName) =>
      permissionsOf(s.template, logicalId(s.stack, s.stack.functions[name].role as never));

    it.each(FUNCTION_NAMES)('grants %s every action its code can send', (name) => {
      // Prepare
      const permissions = granted(name);

      // Act
      const missing = found[name].calls
        .filter((call) => !neverMade(name, call))
        .map((call) => [call, refusal(call, permissions)] as const)
        .filter(([, why]) => why !== undefined)
        .map(([call, why]) => `${name} sends ${call.command} (${call.file}) but ${why}`);

      // Assess
      expect([...new Set(missing)]).toEqual([]);
    });

    it('excuses only calls that are still in a bundle and still not granted', () => {
      // Prepare
      const stale: string[] = [];

      // Act
      for (const entry of NEVER_MADE) {
        for (const name of entry.functions) {
          const permissions = granted(name);
          for (const action of entry.actions) {
            const excused = found[name].calls.some(
              (call) =>
                call.file === entry.file &&
                call.action === action &&
                refusal(call, permissions) !== undefined,
            );
            if (!excused) stale.push(`${name}: ${action} from ${entry.file} needs no entry in NEVER_MADE`);
          }
        }
      }

      // Assess
      expect(stale).toEqual([]);
    });
  });
});
