import { createHash } from 'node:crypto';
import { credentialFingerprint, type TaniumCredentials } from '../config/credentials.ts';
import { type ClientLogger, TaniumClient } from './client.ts';

export interface TaniumClientCacheOptions {
  /** The credentials, read through their own cache (Secrets Manager, a file, the environment). */
  credentials: () => Promise<TaniumCredentials>;
  logger: ClientLogger;
  /** Options for the client (tests: a fixed `random` for backoff). */
  clientOptions?: { random?: () => number };
}

/**
 * What the client is built from: the credential plus its connection settings. A secret rotated only to
 * fix `ca_bundle`, `verify_server_cert` or `timeout_seconds` must take effect without a new container;
 * the session cache stays keyed on the credential alone, so such a change keeps the session.
 */
function clientKey(credentials: TaniumCredentials): string {
  const caBundle = credentials.caBundle
    ? createHash('sha256').update(credentials.caBundle).digest('hex')
    : '';
  return [
    credentialFingerprint(credentials),
    credentials.verifyServerCert,
    caBundle,
    credentials.timeoutSeconds,
  ].join(':');
}

/**
 * A container's Tanium client. The credentials are read on every call (once per invocation); the client,
 * with its sockets and its session, is rebuilt only when the secret changed (a rotated value).
 */
export class TaniumClientCache {
  private cached: { credentials: TaniumCredentials; key: string; client: TaniumClient } | undefined;

  constructor(private readonly options: TaniumClientCacheOptions) {}

  async get(): Promise<TaniumClient> {
    const credentials = await this.options.credentials();
    // The secret source hands back the same object while its cache holds: nothing to hash then.
    if (this.cached?.credentials === credentials) return this.cached.client;
    const key = clientKey(credentials);
    const client =
      this.cached?.key === key
        ? this.cached.client
        : new TaniumClient(credentials, { logger: this.options.logger, ...this.options.clientOptions });
    this.cached = { credentials, key, client };
    return client;
  }
}
