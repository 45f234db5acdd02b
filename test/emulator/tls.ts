import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsMaterial {
  /** PEM of the self-signed CA; clients pass it as `ca_bundle`. */
  ca: string;
  key: string;
  cert: string;
}

const SERVER_EXTENSIONS = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid,issuer',
].join('\n');

let cached: Promise<TlsMaterial> | undefined;

/** Whether `error` is the emulator failing to run openssl for its certificate: a tool to install. */
export function opensslMissing(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 'ENOENT' && /openssl/.test(String(message));
}

/**
 * A CA and a server certificate for 127.0.0.1/localhost, made once per process with openssl (the
 * material is only trusted by clients given the CA, so sharing it between emulators is harmless).
 */
export function tlsMaterial(): Promise<TlsMaterial> {
  cached ??= generate().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function generate(): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'tanium-emulator-tls-'));
  const file = (name: string) => join(dir, name);
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-days',
      '7',
      '-subj',
      '/CN=Tanium TR Emulator Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await run('openssl', [
      'req',
      '-new',
      ...ec,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=127.0.0.1',
    ]);
    await writeFile(file('server.ext'), SERVER_EXTENSIONS);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-set_serial',
      `0x${Date.now().toString(16)}`,
      '-days',
      '7',
      '-extfile',
      file('server.ext'),
      '-out',
      file('server.pem'),
    ]);
    const [ca, key, cert] = await Promise.all([
      readFile(file('ca.pem'), 'utf8'),
      readFile(file('server.key'), 'utf8'),
      readFile(file('server.pem'), 'utf8'),
    ]);
    return { ca, key, cert };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
