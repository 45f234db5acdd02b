/** Public types of the Tanium Threat Response emulator (see README.md). */

import type { Alert, AlertInput } from './state/alerts.ts';
import type { EmulatorState } from './state/index.ts';

export type ClockMode = 'real' | 'manual';

export interface Clock {
  readonly mode: ClockMode;
  /** Emulator time in epoch milliseconds. */
  now(): number;
  /** Moves emulator time forward (both modes; the real clock keeps an offset). */
  advance(ms: number): number;
  /** Sets emulator time to an epoch-ms value. */
  set(ms: number): number;
}

export const EVENT_TYPES = [
  'combined',
  'dns',
  'driver',
  'file',
  'network',
  'process',
  'registry',
  'security',
  'image',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Named behaviour toggles of tanium-api.md section 4; `reset()` restores the defaults. */
export interface Switches {
  /** `/api/v2/session/login` answers 404 so clients fall back to the legacy `/auth`. */
  loginRoute404: boolean;
  /** `POST TR/conns/connect` answers the id as `text/plain` instead of a JSON string. */
  connectTextPlain: boolean;
  /** `eventsCount` answers 200 with an empty body. */
  eventsCountEmptyBody: boolean;
  /** `groups/by-name/{name}` answers 200 `{"data":{}}` instead of 404 for an unknown name. */
  groupsByNameEmptyData: boolean;
  /** Alerts sharing a `createdAt` come lowest id first (default: highest id first). */
  alertsSameMsLowestIdFirst: boolean;
  /**
   * When > 0, `TR/alerts` answers at most this many alerts a page whatever `limit` asks, without saying so
   * (a server capping its page size), `meta` counting as before.
   */
  alertsMaxLimit: number;
  /** `TR/alerts` answers the bare array of alerts, without `data` and `meta` (accepted by 2.20). */
  alertsBareArray: boolean;
  /** Every task fails; a string is used as the task's `error` text. */
  taskFailure: boolean | string;
  /** The download omits `Content-Disposition`. */
  downloadNoContentDisposition: boolean;
  /** The download is sent as `application/octet-stream`. */
  downloadOctetStream: boolean;
  /** The download is sent chunked, without `Content-Length`. */
  downloadChunked: boolean;
  /** The archive holds the file, a directory entry and a second file. */
  downloadMultipleEntries: boolean;
  /** Entries use data descriptors (flag bit 3). */
  downloadDataDescriptor: boolean;
  /** The name of the file's entry in the archive; null (default): the base name of the evidence path. */
  downloadEntryName: string | null;
  /** `zipcrypto` (default), `unencrypted`, `aes` (method 99), `corrupt` (damaged data) or `wrong-password`. */
  downloadArchive: 'zipcrypto' | 'unencrypted' | 'aes' | 'corrupt' | 'wrong-password';
  /** When > 0 every download is one generated entry of this many bytes, streamed (never held in memory). */
  downloadLargeFileBytes: number;
  /** `store` keeps an exact `Content-Length`; `deflate` streams chunked. */
  downloadLargeFileMethod: 'store' | 'deflate';
  /** The download answers 200 `application/json`. */
  downloadJson200: boolean;
  /** The download stops sending after part of the body (until the client gives up or the server closes). */
  downloadStallMidBody: boolean;
  /** The `range` event operator answers 400 (default true: the emulator does not implement it). */
  eventsRange400: boolean;
}

export type FaultBodyShape = 'text' | 'errors' | 'message' | 'html' | 'plain' | 'empty';

/** Where a fault applies; omitted fields match everything. */
export interface FaultMatch {
  method?: string;
  /** Path without query: exact, a prefix when it ends with `*`, or a RegExp. Over HTTP use `pathRegex` for a regex. */
  path?: string | RegExp;
  /** Number of matching requests it applies to; omitted: until cleared. */
  times?: number;
  /** Run the route handler (state changes happen) before the fault replaces or breaks the answer. */
  processRequest?: boolean;
  /**
   * Only requests that are not the first on their connection: a server or NAT gateway that forgot an idle
   * keep-alive connection resets the next request sent on it, with no FIN the client could have seen.
   */
  reusedConnectionOnly?: boolean;
}

export type FaultAction =
  | { kind: 'status'; status: number; shape?: FaultBodyShape; message?: string; retryAfter?: number | string }
  /** 429 (or `status`) with `Retry-After` as an HTTP date `inMs` from now (real time). */
  | { kind: 'retryAfterDate'; inMs: number; status?: number }
  | { kind: 'resetBeforeHeaders' }
  | { kind: 'resetMidBody' }
  /**
   * The answer goes out with `Connection: close` and the connection ends (a FIN) after half its body,
   * as a proxy cutting an upstream answer short does; `chunked` sends the body chunked instead of with a
   * Content-Length.
   */
  | { kind: 'closeMidBody'; chunked?: boolean }
  | { kind: 'delay'; ms: number }
  | { kind: 'stallMidBody'; ms?: number }
  | { kind: 'malformedJson' }
  | { kind: 'html200' }
  /** The route runs and its answer goes out gzipped with Content-Encoding, asked for or not (a proxy). */
  | { kind: 'compressed' }
  | { kind: 'redirect'; location?: string; status?: number };

export type FaultSpec = FaultMatch & FaultAction;

export interface FaultRule {
  id: number;
  spec: FaultSpec;
  remaining: number | null;
  hits: number;
}

export interface Faults {
  add(spec: FaultSpec): number;
  clear(id?: number): void;
  list(): FaultRule[];
}

export interface RequestLogEntry {
  seq: number;
  method: string;
  /** Raw path as sent, without the query. */
  path: string;
  /** Raw query without `?`, exactly as sent ('' when none). */
  rawQuery: string;
  /** Headers as received, credentials (`session`, `authorization`, `cookie`) masked. */
  headers: Record<string, string | string[] | undefined>;
  /** `token`, `session`, `other` (any other value) or `none` for the `session` header. */
  credentialKind: 'token' | 'session' | 'other' | 'none';
  /** First 16 hex characters of the SHA-256 of the `session` header, to compare with a known credential. */
  credentialDigest: string | null;
  bodyDigest: string;
  bodyLength: number;
  /** Parsed JSON request body (login passwords masked), when the body is JSON. */
  json?: unknown;
  clientIp: string;
  /** 0 until answered; stays 0 when the connection was reset before headers. */
  status: number;
  /** Real time of arrival (epoch ms). */
  time: number;
  /** Emulator clock at arrival. */
  clockTime: number;
  /** Kind of the fault applied, if any. */
  fault?: string;
  /** Remarks such as ignored query keys. */
  notes: string[];
}

export interface RequestFilter {
  method?: string;
  /** Exact path, prefix with trailing `*`, or RegExp. */
  path?: string | RegExp;
  status?: number;
}

export interface EmulatorCredentials {
  apiToken: string;
  username: string;
  password: string;
  domain: string;
}

export interface EmulatorConfig {
  connectDelayMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  taskDurationMs: number;
  sessionTtlMs: number;
  tokenTtlMs: number;
  eventsCountCap: number;
  /** Ancestors returned before one `<Pruned Process>` node. */
  ancestorDepthLimit: number;
}

export interface EmulatorOptions extends Partial<EmulatorConfig> {
  /** HTTPS with a generated CA (default true); false for plain HTTP. */
  tls?: boolean;
  /** `manual` (default for tests) or `real`. */
  clock?: ClockMode;
  /** Start of emulator time (epoch ms or ISO); default 2024-01-15T10:00:00.000Z on a manual clock. */
  startTime?: number | string;
  /** Seed the default data set (default true). */
  seed?: boolean;
  /** Listening port; 0 (default) picks a free one. */
  port?: number;
  /** Path prefix the routes are served under (e.g. `/tanium`); included in `url`. */
  pathPrefix?: string;
  switches?: Partial<Switches>;
}

/** A running emulator (see README.md). */
export interface Emulator {
  /** Base URL for the client's `base_url`, e.g. `https://127.0.0.1:PORT` (plus the path prefix, if any). */
  readonly url: string;
  readonly port: number;
  readonly tls: boolean;
  /** PEM of the CA that signed the server certificate (for `ca_bundle`); undefined over plain HTTP. */
  readonly ca: string | undefined;
  /** A valid API token and a user (with domain) holding every permission. */
  readonly credentials: EmulatorCredentials;
  /** The in-memory model and its control methods. */
  readonly state: EmulatorState;
  /** Request log, oldest first (control requests under `/__emulator` are not logged). */
  readonly requests: RequestLogEntry[];
  requestCount(filter?: RequestFilter): number;
  /** Connections accepted so far (TLS: completed handshakes). */
  readonly connectionCount: number;
  /** TCP connections accepted so far, including failed TLS handshakes. */
  readonly tcpConnectionCount: number;
  readonly clock: Clock;
  readonly faults: Faults;
  /** Mutable switches; `reset()` restores the defaults given at start. */
  readonly switches: Switches;
  readonly config: EmulatorConfig;
  /** Re-seeds the state (credentials stay), clears faults and the request log, restores switches and config. */
  reset(options?: { seed?: boolean }): void;
  clearRequests(): void;
  expireToken(token?: string): void;
  expireAllSessions(): void;
  setTrustedIps(ips: string[], token?: string): void;
  removePermission(persona: string, permission: string): void;
  completeTasks(ids?: number[]): number[];
  failTask(id: number, error?: string): boolean;
  addAlerts(inputs: AlertInput[] | number): Alert[];
  pruneAlerts(olderThanMs: number): number;
  generateEvents(connectionId: string, type: EventType, count: number): Record<string, unknown>[];
  close(): Promise<void>;
}
