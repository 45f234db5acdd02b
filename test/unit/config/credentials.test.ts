import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AWS_HTTP_OPTIONS } from '../../../shared/config/aws-client-config.ts';
import { errorChain } from '../../../shared/config/aws-errors.ts';
import {
  closeCredentialReads,
  credentialReads,
  credentialsFromEnv,
  credentialsFromFile,
  loadCredentials,
  resetCredentialCache,
  SECRET_MAX_AGE_SECONDS,
  STALE_SECRET_RETRY_MS,
  UNUSABLE_SECRET_RECHECK_MS,
} from '../../../shared/config/credential-source.ts';
import {
  assertHasCredential,
  CREDENTIALS_README_HEADING,
  credentialFingerprint,
  NO_CREDENTIALS_MESSAGE,
  parseCredentials,
  secretValues,
  type TaniumCredentials,
} from '../../../shared/config/credentials.ts';
import { ConfigError, type TaniumError } from '../../../shared/tanium/errors.ts';
import { CLIENT_VERSION } from '../../../shared/tanium/version.ts';

const secretsManager = mockClient(SecretsManagerClient);
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'creds-'));
  tempDirs.push(dir);
  return dir;
}

describe('Credentials', () => {
  afterEach(() => {
    secretsManager.reset();
    resetCredentialCache();
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('applies the defaults and trims the base URL', () => {
    // Act
    const credentials = parseCredentials(
      { base_url: 'https://tanium.example.com/prefix//\\', api_token: 'token-1' },
      'test',
    );

    // Assess: strictly, so that no field the secret left out is even present
    expect(credentials).toStrictEqual({
      baseUrl: 'https://tanium.example.com/prefix',
      apiToken: 'token-1',
      verifyServerCert: true,
      timeoutSeconds: 60,
    });
  });

  it('names the field that is wrong and never the value', () => {
    const attempt = () =>
      parseCredentials(
        { base_url: 'https://t.example.com', password: 12345678, timeout_seconds: 1000 },
        'secret x',
      );
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      new ConfigError(
        "Invalid Tanium credentials in secret x: field 'password' must be a string; field 'timeout_seconds' must be at most 900",
      ),
    );
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain('12345678');
    }
  });

  it.each([
    ['a line break', 'SECRETtok\nen'],
    ['DEL', 'SECRETtok\x7fen'],
    ['a line separator', 'SECRETtok\u2028en'],
    ['a non-ASCII letter', 'SECRETtokĀen'],
  ])('refuses an API token with %s, which no header can carry, naming the field', (_label, token) => {
    // Act
    const attempt = () =>
      parseCredentials({ base_url: 'https://t.example.com', api_token: token }, 'secret x');

    // Assess: a config error, not a connection error on every request; the token is not shown
    expect(attempt).toThrow(
      new ConfigError(
        "Invalid Tanium credentials in secret x: field 'api_token' may hold only printable ASCII characters without spaces (check for a line break or a character pasted with it)",
      ),
    );
  });

  it('names a field spelled another way and what it stands for, and leaves other extra fields alone', () => {
    // Act
    const respelled = () =>
      parseCredentials(
        { base_url: 'https://t.example.com', 'api-token': 'tok-1', VerifyServerCert: false },
        "secret 'tr'",
      );
    // A blank placeholder left beside the value spelled otherwise is as good as absent
    const besideBlank = () =>
      parseCredentials(
        {
          base_url: 'https://t.example.com',
          api_token: ' ',
          API_TOKEN: 'tok-1',
          username: 'u',
          password: 'pass',
        },
        "secret 'tr'",
      );
    const withExtras = parseCredentials(
      {
        base_url: 'https://t.example.com',
        api_token: 'tok-1',
        API_TOKEN: 'next',
        api_token_2: 'staged',
        password_v2: 'staged',
        domain_id: '7',
        notes: 'rotated by the SOC team',
      },
      "secret 'tr'",
    );

    // Assess
    expect(respelled).toThrow(
      "Invalid Tanium credentials in secret 'tr': field 'api-token' is not one this service reads: did you mean 'api_token'?; field 'VerifyServerCert' is not one this service reads: did you mean 'verify_server_cert'?",
    );
    expect(besideBlank).toThrow("field 'API_TOKEN' is not one this service reads: did you mean 'api_token'?");
    expect(withExtras.apiToken).toBe('tok-1');
  });

  it('names a field spelled another way beside a null placeholder, and not beside a value that is no text', () => {
    // Act
    const besideNull = () =>
      parseCredentials({ base_url: 'https://t.example.com', api_token: null, API_TOKEN: 'tok-1' }, 'f');
    const besideFalse = parseCredentials(
      {
        base_url: 'https://t.example.com',
        api_token: 'tok-1',
        verify_server_cert: false,
        VerifyServerCert: true,
      },
      'f',
    );

    // Assess: the token would otherwise never be sent; false is a value given, not a blank one
    expect(besideNull).toThrow(
      new ConfigError(
        "Invalid Tanium credentials in f: field 'API_TOKEN' is not one this service reads: did you mean 'api_token'?",
      ),
    );
    expect(besideFalse.verifyServerCert).toBe(false);
  });

  it.each([
    ['null', null],
    ['empty', ''],
    ['blank', ' \n'],
  ])('takes an optional field that is %s for an absent one', (_case, blank) => {
    // Act
    const withToken = parseCredentials(
      {
        base_url: 'https://t.example.com',
        api_token: 'tok-1',
        username: blank,
        password: blank,
        domain: blank,
        ca_bundle: blank,
      },
      'f',
    );
    const withPassword = parseCredentials(
      { base_url: 'https://t.example.com', api_token: blank, username: 'bob', password: 'pass' },
      'f',
    );

    // Assess: not a field that fails as too short, or a bundle without certificates
    expect(withToken).toStrictEqual({
      baseUrl: 'https://t.example.com',
      apiToken: 'tok-1',
      verifyServerCert: true,
      timeoutSeconds: 60,
    });
    expect(withPassword).toStrictEqual({
      baseUrl: 'https://t.example.com',
      username: 'bob',
      password: 'pass',
      verifyServerCert: true,
      timeoutSeconds: 60,
    });
  });

  it.each([
    ['a string', 'hunter2-token'],
    ['an array', ['hunter2-token']],
    ['null', null],
    ['a number', 12345678],
  ])('says a secret that is %s must be an object, without showing it', (_case, raw) => {
    // Act
    const attempt = () => parseCredentials(raw, 'f');

    // Assess: whole, so neither the value nor a made-up field name is part of it
    expect(attempt).toThrow(
      new ConfigError("Invalid Tanium credentials in f: field '(root)' must be an object"),
    );
  });

  it('trims the user name and domain, not the password', () => {
    // Act
    const credentials = parseCredentials(
      { base_url: 'https://t.example.com', username: ' bob\n', password: ' pw ', domain: 'CORP\n' },
      "secret 'tr'",
    );

    // Assess
    expect(credentials).toMatchObject({ username: 'bob', password: ' pw ', domain: 'CORP' });
  });

  it('refuses a CA bundle holding a certificate that cannot be read, before any request', () => {
    // Prepare
    const good = rootCertificates[0]!;
    const damaged = good.replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!!!!!');
    const escaped = good.replaceAll('\n', '\\n');
    const parse = (ca_bundle: string) => () =>
      parseCredentials({ base_url: 'https://t.example.com', api_token: 'tok-1', ca_bundle }, "secret 'tr'");

    // Act / Assess
    // Whole messages: the note on escapes only where the block holds them
    expect(parse(`${good}\n${damaged}`)).toThrow(
      new ConfigError(
        "Invalid Tanium credentials in secret 'tr': field 'ca_bundle' holds a certificate that cannot be read (certificate 2 of 2)",
      ),
    );
    expect(parse(escaped)).toThrow(
      new ConfigError(
        "Invalid Tanium credentials in secret 'tr': field 'ca_bundle' holds a certificate that cannot be read (certificate 1 of 1) (it holds \\n escapes where line breaks belong)",
      ),
    );
    expect(parse('not a certificate')).toThrow("field 'ca_bundle' must hold PEM certificates");
    expect(parse(`${good}\n${rootCertificates[1]}`)().caBundle).toContain('-----BEGIN CERTIFICATE-----');
  });

  it('takes an API token with a line break after it, as a pasted one often has', () => {
    expect(
      parseCredentials({ base_url: 'https://t.example.com', api_token: ' token-1 \n' }, 'x').apiToken,
    ).toBe('token-1');
  });

  it('accepts the strings the Secrets Manager console key/value editor stores', () => {
    // Act
    const fromConsole = parseCredentials(
      {
        base_url: 'https://t.example.com',
        api_token: 'tok-1',
        timeout_seconds: ' 030 ',
        verify_server_cert: ' FALSE ',
      },
      'f',
    );
    // With spaces around it too: such a true must not turn verification off
    const trueInAnyCase = parseCredentials(
      { base_url: 'https://t.example.com', timeout_seconds: '900', verify_server_cert: ' True\n' },
      'f',
    );
    const fromJson = parseCredentials(
      { base_url: 'https://t.example.com', timeout_seconds: 1, verify_server_cert: false },
      'f',
    );

    // Assess
    expect(fromConsole).toMatchObject({ timeoutSeconds: 30, verifyServerCert: false });
    expect(trueInAnyCase).toMatchObject({ timeoutSeconds: 900, verifyServerCert: true });
    expect(fromJson).toMatchObject({ timeoutSeconds: 1, verifyServerCert: false });
  });

  it('keeps the 1..900 range for a timeout given as a string', () => {
    expect(() => parseCredentials({ base_url: 'https://t.example.com', timeout_seconds: '0' }, 'f')).toThrow(
      "Invalid Tanium credentials in f: field 'timeout_seconds' must be at least 1",
    );
    expect(() =>
      parseCredentials({ base_url: 'https://t.example.com', timeout_seconds: ' 901' }, 'f'),
    ).toThrow("Invalid Tanium credentials in f: field 'timeout_seconds' must be at most 900");
  });

  it.each([
    ['timeout_seconds', 'hunter2', "field 'timeout_seconds' must be a whole number of seconds"],
    ['timeout_seconds', '1.5', "field 'timeout_seconds' must be a whole number of seconds"],
    ['timeout_seconds', '-5', "field 'timeout_seconds' must be a whole number of seconds"],
    ['timeout_seconds', '', "field 'timeout_seconds' must be a whole number of seconds"],
    ['timeout_seconds', 1.5, "field 'timeout_seconds' must be a whole number of seconds"],
    ['timeout_seconds', true, "field 'timeout_seconds' must be a whole number of seconds"],
    ['verify_server_cert', 'hunter2', "field 'verify_server_cert' must be true or false"],
    ['verify_server_cert', 'yes', "field 'verify_server_cert' must be true or false"],
    ['verify_server_cert', '', "field 'verify_server_cert' must be true or false"],
    ['verify_server_cert', 0, "field 'verify_server_cert' must be true or false"],
  ])('rejects %s %j naming the field and what it accepts, not the value', (field, value, expected) => {
    // Act
    const error = (() => {
      try {
        parseCredentials({ base_url: 'https://t.example.com', api_token: 'tok-1', [field]: value }, 'f');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`Invalid Tanium credentials in f: ${expected}`);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it.each([
    ['missing', {}],
    ['null', { base_url: null }],
    ['blank', { base_url: '   ' }],
  ])('says base_url is required when it is %s', (_case, fields) => {
    expect(() => parseCredentials({ api_token: 'tok-1', ...fields }, "secret 'x'")).toThrow(
      "Invalid Tanium credentials in secret 'x': field 'base_url' is required",
    );
  });

  it('still calls a base_url of the wrong type a type error', () => {
    expect(() => parseCredentials({ base_url: 5, api_token: 'tok-1' }, 'f')).toThrow(
      "field 'base_url' must be a string",
    );
  });

  it('explains how to fill a secret that holds no settings yet (the stack creates it as {})', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: '{}' });
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

    // Act
    const failure = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' }).catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(ConfigError);
    const message = (failure as Error).message;
    expect(message).toContain("The Tanium credentials secret 'tanium/creds' holds no settings yet");
    expect(message).toContain('base_url');
    expect(message).toContain('api_token');
    expect(message).toContain(`"${CREDENTIALS_README_HEADING}"`);
    expect(message).not.toContain('must be a string');
    expect(readme).toContain(`\n### ${CREDENTIALS_README_HEADING}\n`);
  });

  it.each([
    ['tanium.example.com', 'must be a URL like https://tanium.example.com'],
    ['ftp://t.example.com', 'must start with https:// (or http://)'],
    ['https://t.example.com/?a=b', 'must not contain a query, fragment or user info'],
    ['https://t.example.com/#top', 'must not contain a query, fragment or user info'],
    ['https://admin:hunter2@t.example.com', 'must not contain a query, fragment or user info'],
  ])('rejects the base URL %s, without showing it', (baseUrl, problem) => {
    expect(() => parseCredentials({ base_url: baseUrl, api_token: 'tok-1' }, 'f')).toThrow(
      new ConfigError(`Invalid Tanium credentials in f: field 'base_url' ${problem}`),
    );
  });

  it('takes a plain http:// base URL (the client warns of it)', () => {
    expect(
      parseCredentials({ base_url: 'http://t.example.com:8080/x/', api_token: 'tok-1' }, 'f').baseUrl,
    ).toBe('http://t.example.com:8080/x');
  });

  it.each([
    ['a token', { api_token: 'tok-1' }, true],
    ['a username and password', { username: 'bob', password: 'pass' }, true],
    ['a token and a username', { api_token: 'tok-1', username: 'bob' }, true],
    ['a username alone', { username: 'bob' }, false],
    ['a password alone', { password: 'pass' }, false],
    ['a domain alone', { domain: 'CORP' }, false],
  ])('takes %s as a credential: %s', (_case, fields, usable) => {
    // Prepare
    const credentials = parseCredentials({ base_url: 'https://t.example.com', ...fields }, 'f');

    // Act
    const check = () => assertHasCredential(credentials);

    // Assess
    if (usable) expect(check).not.toThrow();
    else expect(check).toThrow(new ConfigError(NO_CREDENTIALS_MESSAGE));
  });

  it('refuses a token or password too short to be kept out of error messages, without showing it', () => {
    // Act
    const password = () =>
      parseCredentials({ base_url: 'https://t.example.com', username: 'bob', password: 'pw3' }, 'f');
    const token = () => parseCredentials({ base_url: 'https://t.example.com', api_token: 'tk3' }, 'f');

    // Assess
    expect(password).toThrow(
      "Invalid Tanium credentials in f: field 'password' is shorter than 4 characters, too short to be kept out of error messages",
    );
    expect(token).toThrow(/field 'api_token' is shorter than 4 characters/);
    expect(token).not.toThrow(/tk3/);
  });

  it('gives a changed secret a different fingerprint', () => {
    const a = parseCredentials({ base_url: 'https://t.example.com', api_token: 'aaaa' }, 'f');
    const b = parseCredentials({ base_url: 'https://t.example.com', api_token: 'bbbb' }, 'f');
    expect(credentialFingerprint(a)).not.toBe(credentialFingerprint(b));
    expect(credentialFingerprint(a)).toBe(credentialFingerprint({ ...a }));
  });

  it('changes the fingerprint with each field that identifies the credential, and with no other', () => {
    // Prepare: the session cache keys on it, so a changed password or user must start a new session
    const base = {
      base_url: 'https://t.example.com',
      api_token: 'tok-1',
      username: 'bob',
      password: 'pass',
      domain: 'CORP',
    };
    const fingerprint = (fields: Record<string, unknown>) =>
      credentialFingerprint(parseCredentials({ ...base, ...fields }, 'f'));

    // Act
    const identifying = [
      {},
      { base_url: 'https://other.example.com' },
      { api_token: 'tok-2' },
      { username: 'alice' },
      { password: 'pass-2' },
      { domain: 'OTHER' },
    ].map(fingerprint);
    const settingsOnly = [
      { verify_server_cert: false },
      { timeout_seconds: 30 },
      { ca_bundle: rootCertificates[0] },
    ].map(fingerprint);

    // Assess
    expect(new Set(identifying).size).toBe(identifying.length);
    expect(settingsOnly).toEqual(Array(3).fill(identifying[0]));
  });

  it.each([
    ['a token', { apiToken: 'tok-1' }, ['tok-1']],
    ['a password without a username', { password: 'pass' }, ['pass']],
    // What the Basic login header carries
    ['a username and password', { username: 'bob', password: 'pass' }, ['pass', 'Ym9iOnBhc3M=']],
    [
      'a token, username and password',
      { apiToken: 'tok-1', username: 'bob', password: 'pass' },
      ['tok-1', 'pass', 'Ym9iOnBhc3M='],
    ],
    ['a username alone', { username: 'bob' }, []],
    // An empty one would match everywhere in a text it is searched for
    ['empty values', { apiToken: '', password: '' }, []],
  ])('lists the secrets of %s that must never show', (_case, fields, expected) => {
    // Prepare
    const credentials: TaniumCredentials = {
      baseUrl: 'https://t.example.com',
      verifyServerCert: true,
      timeoutSeconds: 60,
      ...fields,
    };

    // Act / Assess
    expect(secretValues(credentials)).toEqual(expected);
  });

  it('reads TANIUM_* environment variables, including a CA bundle file', () => {
    // Prepare
    const dir = tempDir();
    const caPath = join(dir, 'ca.pem');
    writeFileSync(caPath, `${rootCertificates[0]}\n`);

    // Act
    const credentials = credentialsFromEnv({
      TANIUM_BASE_URL: 'https://t.example.com',
      TANIUM_USERNAME: 'bob',
      TANIUM_PASSWORD: 'pass',
      TANIUM_DOMAIN: 'CORP',
      TANIUM_VERIFY_SERVER_CERT: 'false',
      TANIUM_CA_BUNDLE: caPath,
      TANIUM_TIMEOUT_SECONDS: '30',
    });

    // Assess
    expect(credentials).toMatchObject({
      username: 'bob',
      domain: 'CORP',
      verifyServerCert: false,
      timeoutSeconds: 30,
      caBundle: readFileSync(caPath, 'utf8'),
    });
  });

  it.each(['0x10', '1e2', '0b11', '1.5e1', '30.0', ' ', '-5'])(
    'refuses TANIUM_TIMEOUT_SECONDS=%j, which is no whole number of seconds',
    (value) => {
      // Act / Assess
      expect(() =>
        credentialsFromEnv({
          TANIUM_BASE_URL: 'https://t.example.com',
          TANIUM_API_TOKEN: 'token-abcdef',
          TANIUM_TIMEOUT_SECONDS: value,
        }),
      ).toThrow(
        'Invalid Tanium credentials in environment: TANIUM_TIMEOUT_SECONDS must be a whole number of seconds',
      );
    },
  );

  it('reads TANIUM_TIMEOUT_SECONDS with spaces around its digits', () => {
    // Act
    const credentials = credentialsFromEnv({
      TANIUM_BASE_URL: 'https://t.example.com',
      TANIUM_API_TOKEN: 'token-abcdef',
      TANIUM_TIMEOUT_SECONDS: ' 60 ',
    });

    // Assess
    expect(credentials.timeoutSeconds).toBe(60);
  });

  it.each([
    ['true', true],
    [' TRUE\n', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    [' False ', false],
    ['0', false],
    ['no', false],
  ])('reads TANIUM_VERIFY_SERVER_CERT=%j as %s', (value, verifyServerCert) => {
    // Act
    const credentials = credentialsFromEnv({
      TANIUM_BASE_URL: 'https://t.example.com',
      TANIUM_API_TOKEN: 'token-abcdef',
      TANIUM_VERIFY_SERVER_CERT: value,
    });

    // Assess
    expect(credentials.verifyServerCert).toBe(verifyServerCert);
  });

  it('explains how to configure credentials when none are set', () => {
    expect(() => credentialsFromEnv({})).toThrow('No Tanium credentials configured: set TANIUM_SECRET_ID');
    expect(() =>
      credentialsFromEnv({ TANIUM_BASE_URL: 'https://t', TANIUM_VERIFY_SERVER_CERT: 'maybe' }),
    ).toThrow(
      // Whole: the value given is not echoed.
      /^Invalid Tanium credentials in environment: TANIUM_VERIFY_SERVER_CERT must be true or false \(1, 0, yes and no are read too\)$/,
    );
  });

  it('reads a local JSON file with the secret fields', () => {
    const dir = tempDir();
    const path = join(dir, 'tanium.json');
    writeFileSync(path, JSON.stringify({ base_url: 'https://t.example.com', api_token: 'tok-1' }));
    expect(credentialsFromFile(path).apiToken).toBe('tok-1');
    writeFileSync(path, '{not json');
    expect(() => credentialsFromFile(path)).toThrow('is not valid JSON');
  });

  it('names the variable of a credentials file it cannot read, and the file whose field is wrong', () => {
    // Prepare
    const dir = tempDir();
    const missing = join(dir, 'missing.json');
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ base_url: 'tanium.example.com', api_token: 'tok-1' }));

    // Act / Assess
    expect(() => credentialsFromFile(missing)).toThrow(ConfigError);
    expect(() => credentialsFromFile(missing)).toThrow(
      new ConfigError(
        'Unable to read the Tanium credentials file TANIUM_CREDENTIALS_FILE names: no such file (ENOENT)',
      ),
    );
    expect(() => credentialsFromFile(wrong)).toThrow(
      `Invalid Tanium credentials in file ${wrong}: field 'base_url' must be a URL`,
    );
  });

  it('takes the credentials from the secret, else the file, else the TANIUM_* variables', async () => {
    // Prepare: each source holds a token of its own
    secretsManager.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'from-secret' }),
    });
    const file = join(tempDir(), 'tanium.json');
    writeFileSync(file, JSON.stringify({ base_url: 'https://t.example.com', api_token: 'from-file' }));
    const variables = { TANIUM_BASE_URL: 'https://t.example.com', TANIUM_API_TOKEN: 'from-variables' };

    // Act
    const all = await loadCredentials({
      TANIUM_SECRET_ID: 'tanium/creds',
      TANIUM_CREDENTIALS_FILE: file,
      ...variables,
    });
    const fileAndVariables = await loadCredentials({ TANIUM_CREDENTIALS_FILE: file, ...variables });
    const variablesOnly = await loadCredentials(variables);

    // Assess
    expect([all, fileAndVariables, variablesOnly].map((credentials) => credentials.apiToken)).toEqual([
      'from-secret',
      'from-file',
      'from-variables',
    ]);
  });

  it('reads a secret that held no usable settings again after 30 s, not after the cache expires', async () => {
    // Prepare: the container cached the stack's {}; the operator then fills the secret in
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      secretsManager
        .on(GetSecretValueCommand)
        .resolvesOnce({ SecretString: '{}' })
        .resolves({
          SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'tok-1' }),
        });
      const env = { TANIUM_SECRET_ID: 'tanium/creds' };
      const first = await loadCredentials(env).catch((e: unknown) => e);
      vi.setSystemTime(Date.now() + UNUSABLE_SECRET_RECHECK_MS - 1000);
      const soon = await loadCredentials(env).catch((e: unknown) => e);

      // Act: 30 s on exactly
      vi.setSystemTime(Date.now() + 1000);
      const later = await loadCredentials(env);
      const cachedAgain = await loadCredentials(env);

      // Assess: one read for the first failures (cached), one past the cache, then the cache again
      expect(first).toBeInstanceOf(ConfigError);
      expect(soon).toBeInstanceOf(ConfigError);
      expect(later.apiToken).toBe('tok-1');
      expect(cachedAgain).toBe(later);
      expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a read that failed, without reading again at once, though the value before was unusable', async () => {
    // Prepare: the container cached the stack's {}; when that cache expires, Secrets Manager throttles
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      secretsManager
        .on(GetSecretValueCommand)
        .resolvesOnce({ SecretString: '{}' })
        .rejectsOnce(
          Object.assign(new Error('Rate exceeded'), {
            name: 'ThrottlingException',
            $metadata: { httpStatusCode: 400 },
          }),
        )
        .resolves({
          SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'tok-1' }),
        });
      const env = { TANIUM_SECRET_ID: 'tanium/creds' };
      await loadCredentials(env).catch((e: unknown) => e);

      // Act
      vi.setSystemTime(Date.now() + (SECRET_MAX_AGE_SECONDS + 1) * 1000);
      const failure = await loadCredentials(env).catch((e: unknown) => e);

      // Assess: the read again past the cache is for a value that cannot be used, not for a failed
      // read: that one is the delivery's to retry, and a second call at once would only add to the load
      expect(failure).toMatchObject({ kind: 'transient', retryable: true });
      expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  describe('when Secrets Manager fails after the cache expired', () => {
    const throttled = () =>
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      });
    const good = (token: string) => ({
      SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: token }),
    });
    const env = { TANIUM_SECRET_ID: 'tanium/creds' };
    const pastCache = () => vi.setSystemTime(Date.now() + (SECRET_MAX_AGE_SECONDS + 1) * 1000);

    it(`keeps using the credentials last read, asking again ${STALE_SECRET_RETRY_MS / 1000} s later`, async () => {
      // Prepare: a good value, then Secrets Manager throttles once the cache expired, then answers
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        secretsManager
          .on(GetSecretValueCommand)
          .resolvesOnce(good('tok-1'))
          .rejectsOnce(throttled())
          .resolves(good('tok-2'));
        const first = await loadCredentials(env);
        pastCache();

        // Act
        const during = await loadCredentials(env);
        const quiet = await loadCredentials(env);
        const callsQuiet = secretsManager.commandCalls(GetSecretValueCommand).length;
        vi.setSystemTime(Date.now() + STALE_SECRET_RETRY_MS);
        const after = await loadCredentials(env);

        // Assess: the failed read stands in with what was read, without a read per record meanwhile
        expect(during).toBe(first);
        expect(quiet).toBe(first);
        expect(callsQuiet).toBe(2);
        expect(after.apiToken).toBe('tok-2');
        expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(3);
      } finally {
        vi.useRealTimers();
      }
    });

    it('fails a read past the cache, for credentials Tanium refused, as a transient error', async () => {
      // Prepare
      secretsManager.on(GetSecretValueCommand).resolvesOnce(good('tok-1')).rejects(throttled());
      await loadCredentials(env);

      // Act
      const refreshed = await loadCredentials(env, { fresh: true }).catch((e: unknown) => e);

      // Assess: only a new value could help, and none came
      expect(refreshed).toMatchObject({ kind: 'transient', retryable: true });
    });

    it.each([
      [
        'was denied',
        (mock: ReturnType<typeof secretsManager.on>) =>
          mock.rejectsOnce(
            Object.assign(new Error('not authorized to perform: secretsmanager:GetSecretValue'), {
              name: 'AccessDeniedException',
              $metadata: { httpStatusCode: 400 },
            }),
          ),
      ],
      [
        'found no usable credentials',
        (mock: ReturnType<typeof secretsManager.on>) => mock.resolvesOnce({ SecretString: '{}' }),
      ],
      ['found no value', (mock: ReturnType<typeof secretsManager.on>) => mock.resolvesOnce({})],
    ])('stands in with nothing after a read that %s', async (_, ended) => {
      // Prepare: a good value, past the cache the read that ends the stand-in, then throttling
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        ended(secretsManager.on(GetSecretValueCommand).resolvesOnce(good('tok-1'))).rejects(throttled());
        await loadCredentials(env);
        pastCache();

        // Act
        const ending = await loadCredentials(env).catch((e: unknown) => e);
        // Past the cache of what that read left: a plain read, not the recheck of an unusable value
        pastCache();
        const after = await loadCredentials(env).catch((e: unknown) => e);

        // Assess
        expect(ending).toBeInstanceOf(ConfigError);
        expect(after).toMatchObject({ kind: 'transient', retryable: true });
      } finally {
        vi.useRealTimers();
      }
    });
  });

  it('reads the Secrets Manager secret once and caches it for the container', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'tok-1' }),
    });

    // Act
    const first = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });
    const second = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });

    // Assess: the same object, validated once, so the client cache keys it once too
    expect(first.apiToken).toBe('tok-1');
    expect(second).toBe(first);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('ends the Secrets Manager client when the reads are closed, and reads the secret anew after', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'tok-1' }),
    });
    const destroy = vi.spyOn(SecretsManagerClient.prototype, 'destroy');
    // A command-line run closes them whatever its credentials came from: nothing to end yet
    closeCredentialReads();
    await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });

    // Act
    closeCredentialReads();
    const again = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });

    // Assess
    expect(again.apiToken).toBe('tok-1');
    expect(destroy).toHaveBeenCalledTimes(1);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('reads the secret with the HTTP timeouts of every AWS client, so a stuck read fails in time', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'tok-1' }),
    });

    // Act
    await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });

    // Assess: the SDK's default would wait five minutes, past the function's timeout (the handler's
    // settings are read where the SDK keeps them, having built its HTTP handler from them)
    const client = secretsManager.send.thisValues[0] as SecretsManagerClient;
    const handler = client.config.requestHandler as unknown as { configProvider: Promise<object> };
    expect(await handler.configProvider).toMatchObject(AWS_HTTP_OPTIONS);
  });

  it('validates a secret read again (after the cache) anew', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({
        SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'token-one' }),
      })
      .resolves({
        SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'token-two' }),
      });
    const first = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });

    // Act: a new container, or the end of the five minutes, reads it again
    resetCredentialCache();
    const second = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });

    // Assess
    expect(first.apiToken).toBe('token-one');
    expect(second.apiToken).toBe('token-two');
  });

  it('reads the secret past its cache when asked, and keeps the new value cached', async () => {
    // Prepare: the secret is rotated after the container cached it
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({
        SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'token-one' }),
      })
      .resolves({
        SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'token-two' }),
      });
    const env = { TANIUM_SECRET_ID: 'tanium/creds' };
    await loadCredentials(env);

    // Act
    const cached = await loadCredentials(env);
    const fresh = await loadCredentials(env, { fresh: true });
    const afterwards = await loadCredentials(env);

    // Assess
    expect([cached.apiToken, fresh.apiToken, afterwards.apiToken]).toEqual([
      'token-one',
      'token-two',
      'token-two',
    ]);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('re-reads past the cache only where the credentials come from the configuration or a given read', async () => {
    // Prepare
    const given = async () =>
      parseCredentials({ base_url: 'https://t.example.com', api_token: 'tok-1' }, 'test');
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({
        SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'token-one' }),
      })
      .resolves({
        SecretString: JSON.stringify({ base_url: 'https://t.example.com', api_token: 'token-two' }),
      });

    // Act
    const configured = credentialReads({ env: { TANIUM_SECRET_ID: 'tanium/creds' } });
    const cached = [await configured.credentials(), await configured.credentials()];
    const fresh = await configured.freshCredentials?.();
    const injected = credentialReads({ credentials: given });
    const both = credentialReads({ credentials: given, freshCredentials: given });

    // Assess
    expect([...cached, fresh].map((credentials) => credentials?.apiToken)).toEqual([
      'token-one',
      'token-one',
      'token-two',
    ]);
    expect(injected).toEqual({ credentials: given });
    expect(both).toEqual({ credentials: given, freshCredentials: given });
  });

  it.each([
    ['no string value', {}],
    ['the JSON value null', { SecretString: 'null' }],
  ])('explains how to fill a secret that has %s', async (_case, answer) => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves(answer);

    // Act
    const failure = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/unset' }).catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe(
      `The Tanium credentials secret 'tanium/unset' has no value yet: write a JSON object with base_url and api_token (or username and password), as shown under "${CREDENTIALS_README_HEADING}" in the README`,
    );
  });

  it('reports a secret that is not JSON without showing its value', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'hunter2-not-json' });
    const failure = loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' });
    await expect(failure).rejects.toThrow(
      "Unable to read the Tanium credentials secret 'tanium/creds': it is not valid JSON",
    );
    await expect(failure).rejects.not.toThrow('hunter2');
    // Not even as the cause, whose parser message quotes the value
    const error = (await failure.catch((e: unknown) => e)) as Error;
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2');
    expect(error.cause).toBeUndefined();
  });

  it.for([
    [502, 'transient', ' (HTTP 502)'],
    [200, 'config', ' (HTTP 200)'],
    // Without the SDK's metadata, so without a status to name
    [undefined, 'config', ''],
  ] as const)(
    'reports an answer of Secrets Manager the SDK could not parse (status %s) as such, not as a secret that is not JSON',
    async ([status, kind, statusText]) => {
      // Prepare: what the SDK throws for a proxy's HTML page in place of Secrets Manager's JSON
      secretsManager
        .on(GetSecretValueCommand)
        .rejects(
          Object.assign(
            new SyntaxError(
              `Unexpected token '<', "<html><bod"... is not valid JSON\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.`,
            ),
            status === undefined ? {} : { $metadata: { httpStatusCode: status } },
          ),
        );

      // Act
      const error = (await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' }).catch((e: unknown) => e)) as
        | TaniumError
        | undefined;

      // Assess
      expect(error).toMatchObject({ kind, retryable: kind === 'transient' });
      expect(error?.message).toBe(
        `Unable to read the Tanium credentials secret 'tanium/creds': Secrets Manager's answer could not be read${statusText}`,
      );
      // The parser's message quotes what it read, which may hold the secret: not kept as the cause.
      expect(error?.cause).toBeUndefined();
    },
  );

  it('reports throttling while reading the secret as retryable, and a missing secret as not', async () => {
    // Prepare
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    secretsManager.on(GetSecretValueCommand).rejectsOnce(throttled);

    // Act
    const transient = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' }).catch((e: unknown) => e);
    resetCredentialCache();
    secretsManager.on(GetSecretValueCommand).rejects(
      Object.assign(new Error("Secrets Manager can't find the specified secret."), {
        name: 'ResourceNotFoundException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const missing = await loadCredentials({ TANIUM_SECRET_ID: 'tanium/creds' }).catch((e: unknown) => e);

    // Assess
    expect(transient).toMatchObject({ kind: 'transient', retryable: true });
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as ConfigError).message).toContain("can't find the specified secret");
    // The SDK's error names the secret, never its value: kept, as the cause, for diagnosis
    expect([...errorChain(transient)]).toContain(throttled);
    expect([...errorChain(missing)].map((error) => error.name)).toContain('ResourceNotFoundException');
  });

  it('keeps the client version equal to package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(CLIENT_VERSION).toBe(pkg.version);
  });
});
