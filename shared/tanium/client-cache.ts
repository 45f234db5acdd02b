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
 * A container's Tanium client. The credentials are read on every call (once per invocation); the client,
 * with its sockets and its session, is rebuilt only when the credential itself changed (a rotated secret).
 */
export class TaniumClientCache {
  private cached: { fingerprint: string; client: TaniumClient } | undefined;

  constructor(private readonly options: TaniumClientCacheOptions) {}

  async get(): Promise<TaniumClient> {
    const credentials = await this.options.credentials();
    const fingerprint = credentialFingerprint(credentials);
    if (this.cached?.fingerprint !== fingerprint) {
      const client = new TaniumClient(credentials, {
        logger: this.options.logger,
        ...this.options.clientOptions,
      });
      this.cached = { fingerprint, client };
    }
    return this.cached.client;
  }
}
