import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { type AnswerLimit, answerLimit as answerLimitFor, FEWER_ROWS } from '../config/answer-limit.ts';
import {
  assertHasCredential,
  credentialFingerprint,
  SESSION_HEADER_TEXT,
  secretValues,
  type TaniumCredentials,
} from '../config/credentials.ts';
import { SHOWN_NAME_CHARS, shown } from '../config/message-text.ts';
import { unlessAborted } from '../config/unless-aborted.ts';
import { agentFor, requestStarted, usableAgent } from './agent.ts';
import { DeadlineSignals } from './deadline-signals.ts';
import { errorText, looksLikeHtml } from './error-text.ts';
import { LoginError, TaniumError, TooLargeError } from './errors.ts';
import { httpError, parseBody } from './responses.ts';
import {
  backoffMs,
  isIdempotent,
  MAX_ATTEMPTS,
  MAX_PAUSE_MS,
  MIN_ATTEMPT_MS,
  PAUSE_STATUSES,
  RETRYABLE_STATUSES,
  retryAfterMs,
} from './retry-policy.ts';
import { API_V2, MAX_URL_CHARS } from './routes.ts';
import {
  REFUSED_LOGIN_MEMORY_MS,
  rememberSession,
  type SessionEntry,
  sessionEntry,
  tokenReplayEnded,
  tokenReplayStarted,
} from './session-cache.ts';
import {
  classifyTransportError,
  neverSent,
  transientFailure,
  transportError,
  UNKNOWN_OUTCOME_SUFFIX,
} from './transport-errors.ts';
import { type Agent, request as undiciRequest } from './undici-core.ts';
import { USER_AGENT } from './version.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface TaniumRequest {
  method: HttpMethod;
  /** An encoded path built with `routes.ts` (starts with `/`; the base URL's prefix is added). */
  path: string;
  query?: URLSearchParams;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body; `contentType` says what it is. */
  body?: Uint8Array | string;
  contentType?: string;
  headers?: Record<string, string>;
  accept?: string;
  /** The Tanium permission the route needs, named when a final 403 is reported. */
  permission?: string;
  /** What the route needs in words, where no permission name is documented (responses.ts RequestFacts). */
  access?: string;
  /** The action's display name, for messages. */
  action?: string;
  /** Epoch ms after which no attempt may run (the invocation deadline). */
  deadline?: number;
  /** Added to this request's log lines (e.g. the requestId the line belongs to). Never credentials. */
  logContext?: Record<string, unknown>;
}

export interface TaniumResponse<T = unknown> {
  status: number;
  /** The body with a `{data: ...}` wrapper removed; `null` for an empty body. */
  payload: T;
  /** `body.meta` when the body was wrapped. */
  meta?: unknown;
  /** The body was a `{data: ...}` object: `payload` is its `data`. */
  wrapped?: boolean;
  headers: IncomingHttpHeaders;
  /** Which credential the successful attempt used. */
  auth: 'token' | 'session';
}

export interface TaniumStream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  auth: 'token' | 'session';
}

export interface ClientLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  /**
   * False when debug lines are dropped. The client writes one per request; building its attributes
   * cost more than the rest of the client's own work, for a line production levels never print.
   */
  debugEnabled?(): boolean;
}

const silentLogger: ClientLogger = { debug() {}, warn() {}, debugEnabled: () => false };

/**
 * The session a login answered, trimmed. One the header cannot carry would be cached and fail every
 * later call before sending, never with the 401 that starts a new login. The value is not quoted in the
 * message: it may be a session after all.
 */
function usableSession(value: string): string {
  const session = value.trim();
  if (session === '') throw new TaniumError('auth', 'Tanium answered the login without a session');
  if (!SESSION_HEADER_TEXT.test(session)) {
    throw new TaniumError('auth', 'Tanium answered the login with a session the session header cannot carry');
  }
  return session;
}

/** A request without a deadline (the CLI, tests): only its own timeout bounds it. */
const NO_DEADLINE = Number.POSITIVE_INFINITY;

interface Credential {
  kind: 'token' | 'session';
  value: string;
}

type Body = Dispatcher.ResponseData['body'];

/** A response whose body is read already (`text`), or handed over as a stream (2xx in stream mode). */
interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body?: Body;
  /** An earlier attempt may have been carried out, its answer lost: a final 404 of a DELETE says so. */
  afterLostAnswer?: boolean;
}

/** Gateway errors: the server behind the gateway may have carried the request out. */
const LOST_ANSWER_STATUSES = new Set([502, 504]);

type Mode = 'json' | 'stream';

/** A content coding other than identity that an answer declares, else undefined. */
function contentCoding(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['content-encoding'];
  const coding = (Array.isArray(value) ? value.join(', ') : (value ?? '')).trim();
  return coding === '' || coding.toLowerCase() === 'identity' ? undefined : coding;
}

/**
 * Until when Tanium asked to hold off, and the status that asked; `until` 0 when it never did. Clients
 * that talk to the same server may share one: the client a rotated secret brings must not send what the
 * one before it was asked to hold.
 */
export interface TaniumPause {
  until: number;
  status: number;
}

export function newPause(): TaniumPause {
  return { until: 0, status: 0 };
}

/** Warnings already logged by this container, keyed by what they are about. */
const warned = new Set<string>();

/**
 * The Tanium Threat Response HTTP client: one per container, over a shared keep-alive agent.
 * It owns authentication (token, session login, the single replay of 1.2), retries (1.4), URL safety
 * (1.5) and the reading of responses and errors (1.6, 1.7). It knows nothing of actions or AWS.
 */
export class TaniumClient {
  readonly credentials: TaniumCredentials;
  private readonly origin: string;
  private readonly prefix: string;
  private readonly host: string;
  private readonly port: string;
  private readonly entry: SessionEntry;
  private readonly logger: ClientLogger;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private agent: Agent;
  private readonly errorTextOf = (body: string, contentType: string) => this.errorText(body, contentType);
  private readonly deadlines = new DeadlineSignals();
  private readonly answerLimit: AnswerLimit;
  /**
   * Until when Tanium asked this container to hold off (a 429 or 503 with `Retry-After`), and the status
   * that asked. The records of a batch share the client: without it, each would meet the same refusal.
   */
  private readonly pause: TaniumPause;

  constructor(
    credentials: TaniumCredentials,
    options: {
      logger?: ClientLogger;
      random?: () => number;
      /** Waits between attempts (default a timer); tests see the waits without spending them. */
      sleep?: (ms: number) => Promise<unknown>;
      /** The largest answer read whole (default MAX_ANSWER_BYTES); a larger one is a too_large error. */
      answerLimit?: AnswerLimit;
      /** The pause to share (see TaniumPause); default one of the client's own. */
      pause?: TaniumPause;
    } = {},
  ) {
    assertHasCredential(credentials);
    this.credentials = credentials;
    const base = new URL(credentials.baseUrl);
    this.origin = base.origin;
    this.prefix = base.pathname.replace(/\/+$/, '');
    this.host = base.hostname;
    this.port = base.port || (base.protocol === 'https:' ? '443' : '80');
    this.entry = sessionEntry(credentialFingerprint(credentials));
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? delay;
    this.answerLimit = options.answerLimit ?? answerLimitFor(undefined);
    this.pause = options.pause ?? newPause();
    this.agent = agentFor(credentials);
    // Once per origin and setting: a rotated secret that turns verification off must still be heard.
    if (!credentials.verifyServerCert) {
      this.warnOnce(
        `insecure ${this.origin}`,
        'TLS certificate verification is disabled for Tanium (verify_server_cert is false)',
      );
    }
    if (base.protocol === 'http:') {
      this.warnOnce(
        `http ${this.origin}`,
        'The Tanium base URL uses plain http://; credentials travel unencrypted',
      );
    }
  }

  private warnOnce(key: string, message: string): void {
    if (warned.has(key)) return;
    warned.add(key);
    this.logger.warn(message);
  }

  /**
   * A JSON request: the payload, or a TaniumError with the contract's message and kind. The payload is
   * whatever Tanium sent: each caller validates what it reads.
   */
  async request(request: TaniumRequest): Promise<TaniumResponse<unknown>> {
    const { response, credential } = await this.authenticated(request, 'json');
    const contentType = header(response.headers, 'content-type');
    if (response.status < 200 || response.status >= 300) {
      throw httpError(
        this.errorTextWith(credential),
        request,
        response.status,
        response.text,
        contentType,
        credential.kind,
        failureFacts(response),
      );
    }
    const body = parseBody(this.errorTextWith(credential), response.status, response.text, contentType);
    const result: TaniumResponse<unknown> = {
      status: response.status,
      payload: body.payload,
      headers: response.headers,
      auth: credential.kind,
    };
    if (body.meta !== undefined) result.meta = body.meta;
    if (body.wrapped) result.wrapped = true;
    return result;
  }

  /** A streaming request (get file): the body is handed over unread on 2xx. */
  async stream(request: TaniumRequest): Promise<TaniumStream> {
    const { response, credential } = await this.authenticated(request, 'stream');
    if (response.status < 200 || response.status >= 300 || response.body === undefined) {
      throw httpError(
        this.errorTextWith(credential),
        request,
        response.status,
        response.text,
        header(response.headers, 'content-type'),
        credential.kind,
        failureFacts(response),
      );
    }
    return { status: response.status, headers: response.headers, body: response.body, auth: credential.kind };
  }

  /** Strings that must never appear in a message or log line. */
  secrets(): string[] {
    return [...secretValues(this.credentials), ...this.entry.issued];
  }

  /** An error body's text for a message (tanium-api.md 1.7), without any secret. */
  errorText(body: string, contentType: string): string {
    return errorText(body, contentType, this.secrets());
  }

  /**
   * The same, redacting as well the credential the answer was for: a session issued before the latest
   * ones (MAX_REMEMBERED_SESSIONS) may still be in use by a slow request, and an echo of it must not show.
   */
  private errorTextWith(credential: Credential): (body: string, contentType: string) => string {
    if (credential.kind === 'token' || this.entry.issued.has(credential.value)) return this.errorTextOf;
    return (body, contentType) => errorText(body, contentType, [...this.secrets(), credential.value]);
  }

  // --- authentication (1.2) ---------------------------------------------------------------------

  private async authenticated(
    request: TaniumRequest,
    mode: Mode,
  ): Promise<{ response: RawResponse; credential: Credential }> {
    const deadline = request.deadline ?? NO_DEADLINE;
    // Checked before the credentials: a URL that can never be sent must not cost a login (tanium-api.md
    // 1.9), nor wait on one that fails transiently and be retried for it.
    const url = this.url(request);
    let credential = await this.currentCredential(deadline, request);
    // The session this container had when the request went out: one that differs after the 401/403 was
    // made by another request meanwhile, and is used instead of logging in again.
    const sessionWhenSent = this.entry.session;
    let response = await this.withRetries(request, credential, mode, url);
    if (response.status !== 401 && response.status !== 403) return { response, credential };

    const { username, password } = this.credentials;
    const canLogin = username !== undefined && password !== undefined;
    if (credential.kind === 'token' && !canLogin) return { response, credential };

    // A session opened for the token's refusal is not stale for a request sent with the token, whenever
    // it was sent: a slow replay of the request that opened it would otherwise let every token 401
    // arriving in the meantime open one more.
    const forToken =
      credential.kind === 'token' &&
      this.entry.tokenSession !== undefined &&
      this.entry.tokenSession === this.entry.session;
    let session: string;
    try {
      session = await this.login(deadline, request, forToken ? undefined : sessionWhenSent);
    } catch (error) {
      // Shared by concurrent callers, so copied: this request's earlier attempt may have been carried out.
      throw response.afterLostAnswer && error instanceof LoginError ? error.afterLost() : error;
    }
    const sentWith = credential.kind;
    if (sentWith === 'token') tokenReplayStarted(this.entry, session);
    credential = { kind: 'session', value: session };
    const lostBefore = response.afterLostAnswer === true;
    let replayed: RawResponse | undefined;
    try {
      replayed = await this.withRetries(request, credential, mode, url);
    } finally {
      // The session worked where the token did not (expired, IP not trusted): stop sending the token.
      const beaten = replayed !== undefined && replayed.status !== 401 && replayed.status !== 403;
      if (sentWith === 'token' && tokenReplayEnded(this.entry, session, beaten)) {
        this.logger.warn(
          'The Tanium API token was rejected; this container now uses a username/password session',
        );
      }
    }
    response = replayed;
    // An attempt before the replay got no answer: a 404 now (a DELETE) still says Tanium may have acted.
    if (lostBefore) response.afterLostAnswer = true;
    return { response, credential };
  }

  private async currentCredential(deadline: number, request: TaniumRequest): Promise<Credential> {
    const { apiToken } = this.credentials;
    if (apiToken !== undefined && !this.entry.tokenRejected) return { kind: 'token', value: apiToken };
    if (this.entry.session !== undefined) return { kind: 'session', value: this.entry.session };
    return { kind: 'session', value: await this.login(deadline, request, undefined) };
  }

  /**
   * Logs in once for all concurrent callers. `stale` is the session the container had when the failed
   * request was sent (none: it went out with the token, or before any login).
   */
  private login(deadline: number, request: TaniumRequest, stale: string | undefined): Promise<string> {
    if (this.entry.login) return this.entry.login;
    const refused = this.entry.refusedLogin;
    if (refused && Date.now() - refused.at < REFUSED_LOGIN_MEMORY_MS) {
      return Promise.reject(refused.error.repeated());
    }
    // Another request logged in since this one was sent (its session failed, or its token did): use that
    // session instead of opening another one on Tanium.
    if (this.entry.session !== undefined && this.entry.session !== stale) {
      return Promise.resolve(this.entry.session);
    }
    const login = this.performLogin(deadline, request).finally(() => {
      this.entry.login = undefined;
    });
    this.entry.login = login;
    return login;
  }

  private async performLogin(deadline: number, request: TaniumRequest): Promise<string> {
    const { username = '', password = '', domain } = this.credentials;
    const action = request.action;
    try {
      const modern = await this.withRetries(
        {
          method: 'POST',
          path: `${API_V2}/session/login`,
          json: domain === undefined ? { username, password } : { username, password, domain },
          deadline,
          ...(action ? { action } : {}),
        },
        undefined,
        'json',
      );
      let session: string | undefined;
      if (modern.status === 404) {
        session = await this.legacyLogin(deadline, action);
      } else {
        if (modern.status < 200 || modern.status >= 300) throw this.loginFailure(modern);
        const parsed = parseBody(
          this.errorTextOf,
          modern.status,
          modern.text,
          header(modern.headers, 'content-type'),
        ).payload;
        const value =
          parsed && typeof parsed === 'object' ? (parsed as { session?: unknown }).session : undefined;
        session = usableSession(typeof value === 'string' ? value : '');
      }
      this.entry.session = session;
      this.entry.refusedLogin = undefined;
      rememberSession(this.entry, session);
      this.logger.debug('Logged in to Tanium with username and password');
      return session;
    } catch (error) {
      if (error instanceof TaniumError) {
        // A login changes nothing on the server, so an uncertain outcome is simply transient.
        const uncertain = error.kind === 'unknown_outcome';
        const kind = uncertain
          ? 'transient'
          : ['tanium', 'not_found', 'permission'].includes(error.kind)
            ? 'auth'
            : error.kind;
        const message = uncertain ? error.message.replace(UNKNOWN_OUTCOME_SUFFIX, '') : error.message;
        const failure = new LoginError(kind, `Login failed: ${message}`, {
          retryable: uncertain || error.retryable,
          ...(error.status === undefined ? {} : { status: error.status }),
          ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
          cause: error,
        });
        // The credentials refused (a wrong password, a locked or disabled account: 401 or 403), not a
        // login answered with something unusable: not tried again for a while.
        if (failure.kind === 'auth' && (failure.status === 401 || failure.status === 403)) {
          this.entry.refusedLogin = { at: Date.now(), error: failure };
        }
        throw failure;
      }
      throw error;
    }
  }

  private async legacyLogin(deadline: number, action: string | undefined): Promise<string> {
    const { username = '', password = '', domain } = this.credentials;
    if (domain !== undefined)
      this.logger.warn("Tanium's legacy /auth login does not support a domain; it is ignored");
    const basic = Buffer.from(`${username}:${password}`).toString('base64');
    const response = await this.withRetries(
      {
        method: 'POST',
        path: '/auth',
        headers: { authorization: `Basic ${basic}` },
        body: '',
        deadline,
        ...(action ? { action } : {}),
      },
      undefined,
      'json',
    );
    if (response.status < 200 || response.status >= 300) throw this.loginFailure(response);
    const contentType = header(response.headers, 'content-type');
    // A proxy's or portal's catch-all page answers 200 too.
    if (looksLikeHtml(response.text, contentType)) {
      throw new TaniumError(
        'tanium',
        `Unexpected HTML response from server. Status Code: ${response.status} Data from server: ${this.errorText(response.text, 'text/html')}`,
        { status: response.status },
      );
    }
    return usableSession(response.text);
  }

  /** A login answered with an error status; performLogin turns it into `Login failed: ...`. */
  private loginFailure(response: RawResponse): TaniumError {
    const contentType = header(response.headers, 'content-type');
    return httpError(
      this.errorTextOf,
      { method: 'POST' },
      response.status,
      response.text,
      contentType,
      undefined,
      failureFacts(response),
    );
  }

  // --- retries (1.4) ----------------------------------------------------------------------------

  private async withRetries(
    request: TaniumRequest,
    credential: Credential | undefined,
    mode: Mode,
    url = this.url(request),
  ): Promise<RawResponse> {
    const deadline = request.deadline ?? NO_DEADLINE;
    const idempotent = isIdempotent(request.method);
    let lostAnswer = false;
    // The time this request's own waits have run to, so that the pause its own answer asked for is not
    // waited again after its retry's wait: by the clock alone that holds only when sleeps are real.
    let waitedTo = 0;
    for (let attempt = 1; ; attempt++) {
      if (deadline - Date.now() < MIN_ATTEMPT_MS) {
        throw transportError('no_time', '', this.describe(request), undefined);
      }
      if (this.pause.until > Date.now()) {
        waitedTo = await this.waitOutPause(request, deadline, waitedTo);
      }
      let response: RawResponse;
      try {
        response = await this.exchange(request, url, credential, deadline, mode);
      } catch (error) {
        if (error instanceof TaniumError) throw error;
        if (error instanceof NeverDispatched) {
          throw transportError('no_time', '', this.describe(request), error.cause);
        }
        const deadlineHit = Date.now() >= deadline - 5;
        const { failure, code } = classifyTransportError(error, deadlineHit);
        const retryable = neverSent(failure) || (idempotent && transientFailure(failure));
        const wait = backoffMs(attempt, this.random);
        if (retryable && attempt < MAX_ATTEMPTS && Date.now() + wait + MIN_ATTEMPT_MS <= deadline) {
          if (!neverSent(failure)) lostAnswer = true;
          waitedTo = Math.max(Date.now(), waitedTo) + wait;
          this.logger.debug('Retrying Tanium request after a transport failure', {
            ...request.logContext,
            method: request.method,
            path: request.path,
            attempt,
            failure,
          });
          await this.sleep(wait);
          continue;
        }
        throw transportError(failure, code, this.describe(request), error);
      }
      if (lostAnswer) response.afterLostAnswer = true;
      if (!RETRYABLE_STATUSES.has(response.status)) return response;
      const askedMs = retryAfterMs(response.headers['retry-after']);
      if (askedMs !== undefined && PAUSE_STATUSES.has(response.status)) {
        this.notePause(response.status, askedMs);
      }
      if (!idempotent || attempt >= MAX_ATTEMPTS) return response;
      const wait = askedMs ?? backoffMs(attempt, this.random);
      if (Date.now() + wait + MIN_ATTEMPT_MS > deadline) return response;
      if (LOST_ANSWER_STATUSES.has(response.status)) lostAnswer = true;
      waitedTo = Math.max(Date.now(), waitedTo) + wait;
      this.logger.debug('Retrying Tanium request', {
        ...request.logContext,
        method: request.method,
        path: request.path,
        status: response.status,
        attempt,
        waitMs: wait,
      });
      await this.sleep(wait);
    }
  }

  /** Holds this container's requests for what Tanium asked, up to MAX_PAUSE_MS (a later ask may extend it). */
  private notePause(status: number, askedMs: number): void {
    const until = Date.now() + Math.min(askedMs, MAX_PAUSE_MS);
    if (until <= this.pause.until) return;
    // Once a pause, not once a refused request: a batch's requests in flight may all meet it.
    if (this.pause.until <= Date.now()) {
      this.logger.warn("Tanium asked to hold off; this container's requests wait", {
        status,
        pauseMs: until - Date.now(),
      });
    }
    this.pause.until = until;
    this.pause.status = status;
  }

  /**
   * Waits out the pause Tanium asked for, beyond what this request waited already (`waitedTo`), and
   * returns the time waited to. A pause that would leave less than an attempt's time before the deadline
   * fails the request unsent, as transient: its redelivery waits as long (`retryAfterMs`).
   */
  private async waitOutPause(request: TaniumRequest, deadline: number, waitedTo: number): Promise<number> {
    for (;;) {
      const from = Math.max(Date.now(), waitedTo);
      const held = this.pause.until - from;
      if (held <= 0) return waitedTo;
      if (from + held + MIN_ATTEMPT_MS > deadline) {
        const { method, path } = this.describe(request);
        throw new TaniumError(
          'transient',
          `Tanium asked to hold off for ${Math.ceil(held / 1000)} s more (a ${this.pause.status} answer with Retry-After); ${method} ${path} was not sent, as the wait would outlast the invocation`,
          { retryable: true, retryAfterMs: held },
        );
      }
      this.logger.debug('Holding a Tanium request while Tanium asked to hold off', {
        ...request.logContext,
        method: request.method,
        path: request.path,
        waitMs: held,
      });
      waitedTo = from + held;
      await this.sleep(held);
    }
  }

  /** One HTTP exchange, bounded by the per-request timeout and the invocation deadline. */
  private async exchange(
    request: TaniumRequest,
    url: string,
    credential: Credential | undefined,
    deadline: number,
    mode: Mode,
  ): Promise<RawResponse> {
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      accept: request.accept ?? 'application/json',
      // undici does not decode content codings, and a request without this header accepts any (RFC 9110
      // 12.5.3): a proxy in front of Tanium could gzip the JSON or the evidence archive.
      'accept-encoding': 'identity',
      ...request.headers,
    };
    if (credential) headers.session = credential.value;
    let body: string | Uint8Array | undefined;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers['content-type'] = 'application/json';
    } else if (request.body !== undefined) {
      body = request.body;
      if (request.contentType) headers['content-type'] = request.contentType;
      if (body.length === 0) headers['content-length'] = '0';
    }
    const timeoutMs = this.credentials.timeoutSeconds * 1000;
    const started = Date.now();
    // A closed agent (closeAgents() at CLI exit or in tests), or one idle long enough that its sockets may
    // be dead, is replaced by a fresh one.
    const agent = usableAgent(this.agent, this.credentials, started);
    this.agent = agent;
    const signal = Number.isFinite(deadline) ? this.deadlines.at(deadline) : undefined;
    const done = requestStarted(agent);
    const pending = undiciRequest(agent, {
      origin: this.origin,
      path: url,
      method: request.method,
      headers,
      body: body ?? null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      ...(signal ? { signal } : {}),
    });
    let settled = false;
    pending.then(
      (answer) => {
        settled = true;
        // Done once its body is read, streamed to its end, or dropped (undici destroys a body on error).
        answer.body.once('close', done);
      },
      () => {
        settled = true;
        done();
      },
    );
    let response: Dispatcher.ResponseData;
    try {
      // Raced as well: undici acts on an abort only once the request has a connection, so a connect or
      // TLS handshake that stalls would hold the call until the connect timeout, past the deadline.
      response = await unlessAborted(pending, signal);
    } catch (error) {
      if (signal?.aborted && !settled) {
        // A request on a connection fails at once when aborted; one that still has none was not sent.
        await new Promise((resolve) => setImmediate(resolve));
        if (!settled) {
          // Not counted as in flight any longer: undici drops it unsent once it connects (by its connect
          // timeout at the latest, whose timer counts no frozen time), and until then the agent's
          // connections would not be judged idle, so the next invocation's first POST could go on one a
          // freeze left dead.
          done();
          throw new NeverDispatched(error);
        }
      }
      throw error;
    }
    if (this.logger.debugEnabled?.() ?? true) {
      this.logger.debug('Tanium request', {
        ...request.logContext,
        method: request.method,
        path: request.path,
        status: response.statusCode,
        ms: Date.now() - started,
        auth: credential?.kind ?? 'none',
      });
    }
    const status = response.statusCode;
    const coding = contentCoding(response.headers);
    if (coding !== undefined && status >= 200 && status < 300) {
      // Read as it is, it would fail as "not JSON" or "not a zip archive", pointing at Tanium's data.
      response.body.on('error', () => undefined);
      response.body.destroy();
      throw new TaniumError(
        'tanium',
        `Tanium's answer came with Content-Encoding ${shown(coding, SHOWN_NAME_CHARS)}, which was not asked for (the client sends accept-encoding: identity) and is not decoded: a proxy between the function and Tanium may be compressing answers`,
        { status },
      );
    }
    if (mode === 'stream' && status >= 200 && status < 300) {
      return { status, headers: response.headers, text: '', body: response.body };
    }
    // Read inside the retry loop, so a reset mid-body is retried like a reset before the headers.
    const text = await readText(response.body, this.answerLimit);
    return { status, headers: response.headers, text };
  }

  /** The path and query, checked to stay on the base URL's origin (1.5). */
  private url(request: TaniumRequest): string {
    if (!request.path.startsWith('/')) throw new TaniumError('validation', `Invalid route ${request.path}`);
    const search = request.query?.toString();
    const pathAndQuery = `${this.prefix}${request.path}${search ? `?${search}` : ''}`;
    if (pathAndQuery.length > MAX_URL_CHARS) {
      // Each parameter is bounded on its own (params.ts); several long ones can still add up.
      throw new TaniumError(
        'validation',
        `The request URL would be ${pathAndQuery.length.toLocaleString('en-US')} characters long once its parameters are encoded, over the ${MAX_URL_CHARS.toLocaleString('en-US')} a Tanium server can be relied on to accept: shorten the parameter values`,
      );
    }
    const resolved = new URL(pathAndQuery, this.origin);
    if (resolved.origin !== this.origin) {
      throw new TaniumError('validation', 'Refusing a request that would leave the configured Tanium server');
    }
    return pathAndQuery;
  }

  private describe(request: TaniumRequest) {
    return {
      method: request.method,
      path: `${this.prefix}${request.path}`,
      host: this.host,
      port: this.port,
      timeoutSeconds: this.credentials.timeoutSeconds,
    };
  }
}

/** The deadline came while the request was still waiting for a connection: nothing reached Tanium. */
class NeverDispatched extends Error {
  constructor(cause: unknown) {
    super('the deadline came before the request had a connection', { cause });
    this.name = 'NeverDispatched';
  }
}

/** What a final error answer says beyond its status and body (see httpError). */
function failureFacts(response: RawResponse): { afterLostAnswer: boolean; retryAfterMs?: number } {
  const wait = retryAfterMs(response.headers['retry-after']);
  return {
    afterLostAnswer: response.afterLostAnswer ?? false,
    ...(wait === undefined ? {} : { retryAfterMs: wait }),
  };
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value)?.toLowerCase() ?? '';
}

/** A byte count for a message: bytes below a megabyte, else MB with one decimal. */
function megabytes(bytes: number): string {
  if (bytes < 1_000_000) return `${bytes.toLocaleString('en-US')} bytes`;
  return `${(bytes / 1_000_000).toLocaleString('en-US', { maximumFractionDigits: 1 })} MB`;
}

/**
 * UTF-8 that drops a leading byte order mark (TextDecoder's default, unlike Buffer's toString): some
 * servers start their answers with one, and JSON.parse refuses it as an unexpected token.
 */
const UTF8 = new TextDecoder();

/**
 * Reads a JSON answer whole, up to `limit` bytes. Listeners rather than async iteration: this runs for
 * every request, and an async iterator costs a promise per chunk.
 */
function readText(body: Body, limit: AnswerLimit): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit.bytes) {
        body.destroy();
        // The contract's message first; then what the limit is and what brings an answer under it.
        const why = limit.why ? ` (${limit.why})` : '';
        reject(
          new TooLargeError(
            `Response from server is too large: over ${megabytes(limit.bytes)}, the most read for one request${why}. ${limit.advice ?? FEWER_ROWS}`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    body.once('error', reject);
    body.once('end', () => {
      // undici frees the socket for reuse a moment after the body ends; resolving on the next turn lets
      // the caller's next request find it idle instead of opening a second connection.
      setImmediate(() => resolve(UTF8.decode(Buffer.concat(chunks, size))));
    });
  });
}

/** What actions use of the client; `withLogContext` returns the same surface for one request. */
export type TaniumApi = Pick<TaniumClient, 'request' | 'stream' | 'credentials' | 'errorText'>;

/**
 * The container's client seen from one request: every call carries `context` into the client's log
 * lines (the records of a batch run concurrently, so the correlation id cannot be process-wide).
 * Sessions, sockets and retries stay shared.
 */
export function withLogContext(client: TaniumApi, context: Record<string, unknown>): TaniumApi {
  return {
    // Read when used: the client behind it may move to rotated credentials mid-action (TaniumClientCache).
    get credentials() {
      return client.credentials;
    },
    errorText: (body, contentType) => client.errorText(body, contentType),
    request: (request) => client.request({ ...request, logContext: { ...context, ...request.logContext } }),
    stream: (request) => client.stream({ ...request, logContext: { ...context, ...request.logContext } }),
  };
}
