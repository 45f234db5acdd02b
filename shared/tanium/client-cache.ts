import { createHash } from 'node:crypto';
import type { AnswerLimit } from '../config/answer-limit.ts';
import { credentialFingerprint, type TaniumCredentials } from '../config/credentials.ts';
import { unlessAborted } from '../config/unless-aborted.ts';
import {
  type ClientLogger,
  newPause,
  type TaniumApi,
  TaniumClient,
  type TaniumPause,
  type TaniumRequest,
} from './client.ts';
import { signalAt } from './deadline-signals.ts';
import { errorText } from './error-text.ts';
import { TaniumError, toTaniumError } from './errors.ts';

/**
 * The least time between two early re-reads of the credentials after Tanium refused them. (A secret that
 * cannot even be parsed is read again by the credential source: UNUSABLE_SECRET_RECHECK_MS.)
 */
export const CREDENTIALS_RECHECK_MS = 60_000;
/**
 * The longest a re-read may take. Refusals meanwhile wait for it, and the SDK's own retries of a stalled
 * Secrets Manager call would hold each of them to its deadline.
 */
export const CREDENTIALS_RECHECK_TIMEOUT_MS = 5_000;

export interface TaniumClientCacheOptions {
  /** The credentials, read through their own cache (Secrets Manager, a file, the environment). */
  credentials: () => Promise<TaniumCredentials>;
  /**
   * The credentials read past that cache (Secrets Manager's value now), once Tanium refused the cached
   * ones; the read also refreshes the cache. Absent: a refused credential is final until the cache expires.
   */
  freshCredentials?: () => Promise<TaniumCredentials>;
  logger: ClientLogger;
  /** Options for the client (tests: a fixed `random` for backoff, `sleep` to see the waits unspent). */
  clientOptions?: {
    random?: () => number;
    answerLimit?: AnswerLimit;
    sleep?: (ms: number) => Promise<unknown>;
  };
  /** The clock of the re-read's rate limit (tests). */
  now?: () => number;
  /** The re-read's own limit (tests); CREDENTIALS_RECHECK_TIMEOUT_MS by default. */
  recheckTimeoutMs?: number;
}

interface Entry {
  credentials: TaniumCredentials;
  key: string;
  /** The credential alone (see credentialFingerprint): what a refusal is about. */
  fingerprint: string;
  client: TaniumClient;
  /** What callers get: the client, or the client behind the re-check of refused credentials. */
  api: TaniumApi;
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
 * A final 401, or a failed login (refused, or answered with something that is no session): either way a
 * request Tanium never carried out, which a new credential may pass. Deadlines and the network end in
 * other kinds. Not when an earlier attempt of a write got no answer: that one may have been carried out
 * (a GET may be sent again, as the client itself just did). Not a 403 either: that is a credential Tanium
 * accepted lacking a permission, which a rotation does not explain (an expired session's 403 ends in a
 * login).
 */
function refusedCredential(error: unknown, request: TaniumRequest): boolean {
  if (!(error instanceof TaniumError) || error.kind !== 'auth') return false;
  return !error.afterLostAnswer || request.method === 'GET';
}

/**
 * A container's Tanium client. The credentials are read on every call (once per invocation); the client,
 * with its sockets and its session, is rebuilt only when the secret changed (a rotated value).
 *
 * With `freshCredentials`, a request Tanium refuses makes the container read the secret again at once
 * (at most once a minute) instead of when its cache expires: a token rotated and revoked at once would
 * otherwise fail every request of a warm container for minutes, finally (`auth` is not retryable). When
 * the credential changed (not only the connection settings), the refused request is sent once more with it.
 */
export class TaniumClientCache {
  private cached: Entry | undefined;
  private recheck: Promise<Entry | undefined> | undefined;
  private lastRecheck = Number.NEGATIVE_INFINITY;
  /** Reads of the credentials started, and the latest re-read (by that count) whose value was adopted. */
  private reads = 0;
  private latestReread = 0;
  /** Each server's pause (by origin), shared by the clients built for it: a rotation does not end one. */
  private readonly pauses = new Map<string, TaniumPause>();

  constructor(private readonly options: TaniumClientCacheOptions) {}

  async get(): Promise<TaniumApi> {
    const read = ++this.reads;
    const credentials = await this.options.credentials();
    // A re-read that started later and was adopted meanwhile is at least as fresh: a cached read that
    // ended after it must not bring the revoked credentials back.
    if (this.cached && read < this.latestReread) return this.cached.api;
    // The secret source hands back the same object while its cache holds: nothing to hash then.
    if (this.cached?.credentials === credentials) return this.cached.api;
    return this.adopt(credentials).api;
  }

  private adopt(credentials: TaniumCredentials): Entry {
    const key = clientKey(credentials);
    if (this.cached?.key === key) {
      this.cached = { ...this.cached, credentials };
      return this.cached;
    }
    const client = new TaniumClient(credentials, {
      logger: this.options.logger,
      ...this.options.clientOptions,
      pause: this.pauseOf(credentials),
    });
    const fingerprint = credentialFingerprint(credentials);
    const entry: Entry = { credentials, key, fingerprint, client, api: client };
    if (this.options.freshCredentials) entry.api = this.rechecking(entry);
    this.cached = entry;
    return entry;
  }

  private pauseOf(credentials: TaniumCredentials): TaniumPause {
    const origin = new URL(credentials.baseUrl).origin;
    let pause = this.pauses.get(origin);
    if (!pause) {
      pause = newPause();
      this.pauses.set(origin, pause);
    }
    return pause;
  }

  /** `entry`'s client, sending a request Tanium refused once more when a re-read finds a new secret. */
  private rechecking(entry: Entry): TaniumApi {
    let current = entry;
    /** Every entry this client sent with: a body any of them fetched may still be read. */
    const senders = [entry];
    const send = async <T>(
      request: TaniumRequest,
      call: (client: TaniumClient) => Promise<T>,
    ): Promise<T> => {
      const used = current;
      try {
        return await call(used.client);
      } catch (error) {
        if (!refusedCredential(error, request)) throw error;
        const fresh = await this.afterRefusal(used, request.deadline);
        if (!fresh) throw error;
        // Later calls of the same action go straight to the new client.
        current = fresh;
        if (!senders.includes(fresh)) senders.push(fresh);
        return call(fresh.client);
      }
    };
    return {
      get credentials() {
        return current.client.credentials;
      },
      // A record of the batch may still read a body an earlier client fetched: every one's secrets go.
      errorText: (body, contentType) =>
        senders.length === 1
          ? entry.client.errorText(body, contentType)
          : errorText(
              body,
              contentType,
              senders.flatMap((sender) => sender.client.secrets()),
            ),
      request: (request) => send(request, (client) => client.request(request)),
      stream: (request) => send(request, (client) => client.stream(request)),
    };
  }

  /**
   * The entry to send a refused request with again: the current one, when it holds another credential
   * than `refused` (a newer read; `adopt` always makes the newest current), or one a re-read of the secret
   * finds with another credential; undefined when the credential is the same (a change of only the
   * connection settings cannot explain a refusal), the secret was re-read within the last
   * CREDENTIALS_RECHECK_MS, or cannot be read before `deadline`.
   */
  private async afterRefusal(refused: Entry, deadline: number | undefined): Promise<Entry | undefined> {
    if (this.cached && this.cached.fingerprint !== refused.fingerprint) return this.cached;
    const now = (this.options.now ?? Date.now)();
    if (!this.recheck) {
      if (now - this.lastRecheck < CREDENTIALS_RECHECK_MS) return undefined;
      this.lastRecheck = now;
      this.recheck = this.reread(refused).finally(() => {
        this.recheck = undefined;
      });
    }
    // reread never rejects: a rejection here is the deadline.
    const signal = deadline !== undefined && Number.isFinite(deadline) ? signalAt(deadline) : undefined;
    return unlessAborted(this.recheck, signal).catch(() => undefined);
  }

  private async reread(refused: Entry): Promise<Entry | undefined> {
    const limitMs = this.options.recheckTimeoutMs ?? CREDENTIALS_RECHECK_TIMEOUT_MS;
    const giveUp = AbortSignal.timeout(limitMs);
    const read = ++this.reads;
    try {
      const credentials = await unlessAborted(this.options.freshCredentials!(), giveUp);
      this.latestReread = Math.max(this.latestReread, read);
      // A slow re-read answering with the value from before a rotation that a later cached read already
      // adopted would take it back; the next re-read allowed (a minute on) heals it. Too rare for more.
      const entry = this.adopt(credentials);
      if (entry.fingerprint === refused.fingerprint) return undefined;
      this.options.logger.warn(
        'Tanium refused the credentials this container had cached, and the secret holds new ones: using them',
      );
      return entry;
    } catch (error) {
      this.options.logger.warn('Could not read the Tanium credentials again after Tanium refused them', {
        error: giveUp.aborted ? `no answer within ${limitMs} ms` : toTaniumError(error).message,
      });
      return undefined;
    }
  }
}
