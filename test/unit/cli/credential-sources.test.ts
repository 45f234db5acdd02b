import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { credentialSourceWarning } from '../../../cli/main.ts';
import {
  credentialSourcesSet,
  credentialsFromEnv,
  loadCredentials,
} from '../../../shared/config/credential-source.ts';

describe('tanium-tr run with more than one credential source set', () => {
  it('names the secret as the source used and the emulator variables as ignored', () => {
    // Prepare: a deployment shell's secret id, then the emulator walkthrough's variables
    const env = {
      TANIUM_SECRET_ID: 'tanium/prod',
      TANIUM_BASE_URL: 'https://127.0.0.1:8443',
      TANIUM_API_TOKEN: 'token-1',
      TANIUM_CA_BUNDLE: '/tmp/ca.pem',
    };

    // Act
    const warning = credentialSourceWarning(env);

    // Assess
    expect(warning).toMatch(
      /^warning: Tanium credentials from TANIUM_SECRET_ID; ignored: TANIUM_BASE_URL, TANIUM_API_TOKEN, TANIUM_CA_BUNDLE /,
    );
  });

  it('names the file as used over the variables, and the secret over both', () => {
    // Act
    const fileWins = credentialSourceWarning({
      TANIUM_CREDENTIALS_FILE: 'a.json',
      TANIUM_TIMEOUT_SECONDS: '5',
    });
    const secretWins = credentialSourceWarning({ TANIUM_SECRET_ID: 's', TANIUM_CREDENTIALS_FILE: 'a.json' });

    // Assess
    expect(fileWins).toContain('from TANIUM_CREDENTIALS_FILE; ignored: TANIUM_TIMEOUT_SECONDS ');
    expect(secretWins).toContain('from TANIUM_SECRET_ID; ignored: TANIUM_CREDENTIALS_FILE ');
  });

  it.each([
    [{}],
    [{ TANIUM_SECRET_ID: 's', TANIUM_BASE_URL: '' }],
    [{ TANIUM_BASE_URL: 'https://t', TANIUM_API_TOKEN: 'x', TANIUM_CA_BUNDLE: 'ca.pem' }],
  ])('says nothing when one source at most is set: %j', (env) => {
    // Act / Assess
    expect(credentialSourceWarning(env)).toBeUndefined();
  });

  it('counts as the variables source exactly the TANIUM_* variables that source reads', () => {
    // Prepare: an environment that records what credentialsFromEnv reads (its CA file is missing, the
    // last thing it reads, so it stops there)
    const read = new Set<string>();
    const values: Record<string, string> = {
      TANIUM_BASE_URL: 'https://tanium.example.com',
      TANIUM_API_TOKEN: 'token-abcdef',
      TANIUM_USERNAME: 'analyst',
      TANIUM_PASSWORD: 'password',
      TANIUM_DOMAIN: 'corp',
      TANIUM_VERIFY_SERVER_CERT: 'true',
      TANIUM_TIMEOUT_SECONDS: '60',
      TANIUM_CA_BUNDLE: '/nonexistent/ca.pem',
    };
    const recording = new Proxy(values, {
      get(target, name) {
        if (typeof name === 'string' && name.startsWith('TANIUM_')) read.add(name);
        return typeof name === 'string' ? target[name] : undefined;
      },
    });

    // Act
    expect(() => credentialsFromEnv(recording)).toThrow(/TANIUM_CA_BUNDLE/);
    const [counted] = credentialSourcesSet(values);

    // Assess: a variable added to one and not the other would hide, or invent, a conflict
    expect([...(counted ?? [])].sort()).toEqual([...read].sort());
  });
});

describe('tanium-tr run with a TANIUM_* variable it cannot use', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanium-env-'));
  const notPem = join(dir, 'not-a-ca.pem');
  writeFileSync(notPem, 'hello\n');
  const goodPem = join(dir, 'ca.pem');
  writeFileSync(goodPem, `${rootCertificates[0]}\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const BASE = { TANIUM_BASE_URL: 'https://127.0.0.1:9', TANIUM_API_TOKEN: 'token-abcdef' };

  // Named by case, not by the variables: a title holding the temporary directory changes with every
  // process, and a runner that selects tests by title (vitest -t, Stryker's per-test runs) never finds it.
  it.for([
    {
      case: 'a base URL that is no URL',
      env: { ...BASE, TANIUM_BASE_URL: 'tanium.example.com' },
      message:
        'Invalid Tanium credentials in environment (TANIUM_*): TANIUM_BASE_URL must be a URL like https://tanium.example.com',
    },
    {
      case: 'a timeout out of range',
      env: { ...BASE, TANIUM_TIMEOUT_SECONDS: '0' },
      message: 'Invalid Tanium credentials in environment (TANIUM_*): TANIUM_TIMEOUT_SECONDS',
    },
    {
      case: 'a token too short',
      env: { ...BASE, TANIUM_API_TOKEN: 'abc' },
      message: 'Invalid Tanium credentials in environment (TANIUM_*): TANIUM_API_TOKEN is shorter than',
    },
    {
      case: 'a CA bundle file holding no PEM',
      env: { ...BASE, TANIUM_CA_BUNDLE: notPem },
      message: `Invalid Tanium credentials in environment (TANIUM_*): TANIUM_CA_BUNDLE (${notPem}) must hold PEM certificates`,
    },
    // The CA file is named with the CA bundle only
    {
      case: 'a base URL that is no URL, beside a good CA bundle',
      env: { ...BASE, TANIUM_BASE_URL: 'tanium.example.com', TANIUM_CA_BUNDLE: goodPem },
      message:
        'Invalid Tanium credentials in environment (TANIUM_*): TANIUM_BASE_URL must be a URL like https://tanium.example.com',
    },
    {
      case: 'a username without a password',
      env: { TANIUM_BASE_URL: 'https://127.0.0.1:9', TANIUM_USERNAME: 'analyst' },
      message:
        'Please provide either an API token, or username and password credentials (TANIUM_API_TOKEN, or TANIUM_USERNAME and TANIUM_PASSWORD)',
    },
  ])('names the variable to fix: $case', ({ env, message }) => {
    expect(() => credentialsFromEnv(env)).toThrow(message);
    expect(() => credentialsFromEnv(env)).not.toThrow(/field '/);
  });

  // A variable mixed up with another may hold a token: as TANIUM_VERIFY_SERVER_CERT's, a path
  // variable's value stays out of its message
  it.each([
    {
      case: 'a token in TANIUM_CA_BUNDLE',
      value: 'token-in-the-wrong-variable',
      env: { ...BASE, TANIUM_CA_BUNDLE: 'token-in-the-wrong-variable' },
      message: 'Unable to read the CA bundle TANIUM_CA_BUNDLE names: no such file (ENOENT)',
    },
    {
      case: 'a token in TANIUM_CREDENTIALS_FILE',
      value: 'token-in-the-wrong-variable',
      env: { TANIUM_CREDENTIALS_FILE: 'token-in-the-wrong-variable' },
      message:
        'Unable to read the Tanium credentials file TANIUM_CREDENTIALS_FILE names: no such file (ENOENT)',
    },
    {
      // This block's own directory: a stack trace may name the directory the checkout is in
      case: 'a directory in TANIUM_CA_BUNDLE',
      value: dir,
      env: { ...BASE, TANIUM_CA_BUNDLE: dir },
      message: 'Unable to read the CA bundle TANIUM_CA_BUNDLE names: it is a directory (EISDIR)',
    },
  ])(
    'says why the file is unreadable, not what the variable holds: $case',
    async ({ value, env, message }) => {
      // Act
      const error = (await loadCredentials(env).catch((e: unknown) => e)) as Error;

      // Assess: the variable and the reason, and nothing that quotes the value
      expect(error.message).toBe(message);
      expect(inspect(error, { depth: null })).not.toContain(value);
    },
  );
});
