import { createHash, randomBytes } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createClock, DEFAULT_START_TIME } from './clock.ts';
import { handleControl } from './control.ts';
import { FaultRegistry } from './faults.ts';
import { json, mediaType, parseJson, type Reply, type RouteContext } from './http.ts';
import { credentialKind, digestCredential, maskHeaders, maskJsonBody, matchesFilter } from './request-log.ts';
import { compressedReply, faultReply, resetSocket, writeReply } from './respond.ts';
import { Router } from './router.ts';
import { routes } from './routes/index.ts';
import { DEFAULT_CONFIG, EmulatorState } from './state/index.ts';
import { createSwitches, resetSwitches } from './switches.ts';
import { tlsMaterial } from './tls.ts';
import type {
  Emulator,
  EmulatorConfig,
  EmulatorCredentials,
  EmulatorOptions,
  FaultSpec,
  RequestLogEntry,
} from './types.ts';

const CONTROL_PREFIX = '/__emulator/';
const MAX_BODY = 64 * 1024 * 1024;
const BEFORE_ROUTE_FAULTS = new Set([
  'status',
  'retryAfterDate',
  'resetBeforeHeaders',
  'malformedJson',
  'html200',
  'redirect',
]);

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function startTimeOf(options: EmulatorOptions): number | undefined {
  if (options.startTime === undefined) return options.clock === 'real' ? undefined : DEFAULT_START_TIME;
  return typeof options.startTime === 'number' ? options.startTime : Date.parse(options.startTime);
}

/** Starts an emulator on 127.0.0.1 (HTTPS with a generated CA unless `tls: false`). */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const useTls = options.tls !== false;
  const clock = createClock(options.clock ?? 'manual', startTimeOf(options));
  const initialConfig: EmulatorConfig = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof EmulatorConfig)[]) {
    if (typeof options[key] === 'number') initialConfig[key] = options[key];
  }
  // Mutable for tests; reset() restores the values given at start.
  const config: EmulatorConfig = { ...initialConfig };
  const switches = createSwitches(options.switches);
  const credentials: EmulatorCredentials = {
    apiToken: `token-${randomBytes(16).toString('hex')}`,
    username: 'tr-admin',
    password: randomBytes(12).toString('base64url'),
    domain: 'CORP',
  };
  const state = new EmulatorState(clock, config, switches, credentials);
  state.reset(options.seed !== false);
  const faults = new FaultRegistry();
  const router = new Router(routes);
  const requests: RequestLogEntry[] = [];
  // As it arrives: a client sends the prefix of its base URL percent-encoded ('/my tanium' as
  // '/my%20tanium'), which the raw request path is compared with.
  const prefix = encodedPath(options.pathPrefix ?? '').replace(/\/+$/, '');
  let seq = 0;
  let connectionCount = 0;
  let tcpConnectionCount = 0;
  /** Tanium requests answered so far on each connection (for faults on reused connections only). */
  const requestsOnConnection = new WeakMap<object, number>();

  async function dispatch(ctx: RouteContext): Promise<Reply> {
    const match = router.match(ctx.method, ctx.path);
    if (match.kind === 'none') return json(404, { text: 'Not Found' });
    if (match.kind === 'bad-encoding') return json(400, { text: 'Bad Request' });
    if (match.kind === 'method') {
      return json(405, { text: 'Method Not Allowed' }, { allow: match.allowed.join(', ') });
    }
    if (match.route.permission !== null) {
      const header = ctx.headers.session;
      const outcome = state.auth.authenticate(Array.isArray(header) ? header[0] : header, ctx.clientIp);
      if (!outcome.ok) return json(outcome.status, { text: outcome.text });
      if (!state.auth.hasPermission(outcome.persona, match.route.permission)) {
        return json(403, { text: `Forbidden: missing permission ${match.route.permission}` });
      }
    }
    const { accepts } = match.route;
    if (accepts && mediaType(ctx.headers['content-type']) !== accepts) {
      return json(415, { text: `Unsupported Media Type: expected ${accepts}` });
    }
    return match.route.handler({ ...ctx, params: match.params });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQuery = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
    const method = (req.method ?? 'GET').toUpperCase();
    const body = await readBody(req);
    if (rawPath.startsWith(CONTROL_PREFIX)) {
      const reply = body
        ? handleControl(
            emulator,
            method,
            rawPath.slice(CONTROL_PREFIX.length),
            new URLSearchParams(rawQuery),
            body,
          )
        : json(413, { text: 'Too large' });
      await writeReply(res, reply);
      return;
    }
    state.tick();
    const earlierOnConnection = requestsOnConnection.get(req.socket) ?? 0;
    requestsOnConnection.set(req.socket, earlierOnConnection + 1);
    const sessionHeader = typeof req.headers.session === 'string' ? req.headers.session : undefined;
    const isJson = /json/i.test(req.headers['content-type'] ?? '');
    const entry: RequestLogEntry = {
      seq: ++seq,
      method,
      path: rawPath,
      rawQuery,
      headers: maskHeaders(req.headers),
      credentialKind: credentialKind(sessionHeader),
      credentialDigest: sessionHeader ? digestCredential(sessionHeader) : null,
      bodyDigest: createHash('sha256')
        .update(body ?? Buffer.alloc(0))
        .digest('hex'),
      bodyLength: body?.length ?? 0,
      clientIp: req.socket.remoteAddress ?? '',
      status: 0,
      time: Date.now(),
      clockTime: clock.now(),
      notes: [],
    };
    if (isJson && body && body.length > 0) {
      const parsed = parseJson(body);
      if (parsed !== undefined) entry.json = maskJsonBody(parsed);
    }
    requests.push(entry);
    const originalWriteHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      entry.status = status;
      return (originalWriteHead as (...args: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;

    const fault = faults.take(method, rawPath, earlierOnConnection > 0);
    if (fault) entry.fault = fault.kind;
    const respondFault = (spec: FaultSpec): boolean => {
      if (spec.kind === 'resetBeforeHeaders') {
        resetSocket(req.socket);
        return true;
      }
      return false;
    };
    if (fault && BEFORE_ROUTE_FAULTS.has(fault.kind) && !fault.processRequest) {
      if (respondFault(fault)) return;
      await writeReply(res, faultReply(fault, rawPath)!);
      return;
    }
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (res.destroyed) return;

    let reply: Reply;
    if (!body) reply = json(413, { text: 'Request body too large' });
    else if (prefix !== '' && !(rawPath === prefix || rawPath.startsWith(`${prefix}/`)))
      reply = json(404, { text: 'Not Found' });
    else {
      const ctx: RouteContext = {
        state,
        method,
        path: rawPath.slice(prefix.length),
        params: {},
        query: new URLSearchParams(rawQuery),
        rawQuery,
        body,
        headers: req.headers,
        clientIp: req.socket.remoteAddress ?? '',
        note: (text) => entry.notes.push(text),
      };
      try {
        reply = await dispatch(ctx);
      } catch (error) {
        process.stderr.write(
          `tanium emulator: ${method} ${rawPath} failed: ${(error as Error).stack ?? error}\n`,
        );
        reply = json(500, { text: `Internal Server Error: ${(error as Error).message}` });
      }
    }
    if (fault && BEFORE_ROUTE_FAULTS.has(fault.kind)) {
      if (respondFault(fault)) return;
      reply = faultReply(fault, rawPath)!;
    }
    if (fault?.kind === 'compressed') reply = compressedReply(reply);
    if (fault?.kind === 'resetMidBody') return writeReply(res, reply, { mode: 'reset' });
    if (fault?.kind === 'closeMidBody') {
      return writeReply(res, reply, { mode: 'close', ...(fault.chunked ? { chunked: true } : {}) });
    }
    if (fault?.kind === 'stallMidBody') {
      return writeReply(res, reply, {
        mode: 'stall',
        ...(fault.ms !== undefined ? { resumeAfterMs: fault.ms } : {}),
      });
    }
    await writeReply(res, reply);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      process.stderr.write(`tanium emulator: ${(error as Error).stack ?? error}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ text: 'Internal Server Error' }));
      } else res.destroy();
    });
  };

  let server: Server;
  let ca: string | undefined;
  if (useTls) {
    const material = await tlsMaterial();
    ca = material.ca;
    server = createHttpsServer({ key: material.key, cert: material.cert }, listener);
    server.on('secureConnection', () => connectionCount++);
  } else {
    server = createHttpServer(listener);
    server.on('connection', () => connectionCount++);
  }
  server.on('connection', () => tcpConnectionCount++);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const emulator: Emulator = {
    url: `${useTls ? 'https' : 'http'}://127.0.0.1:${port}${prefix}`,
    port,
    tls: useTls,
    ca,
    credentials,
    state,
    requests,
    requestCount: (filter) => requests.filter((entry) => matchesFilter(entry, filter)).length,
    get connectionCount() {
      return connectionCount;
    },
    get tcpConnectionCount() {
      return tcpConnectionCount;
    },
    clock,
    faults,
    switches,
    config,
    reset: (resetOptions) => {
      resetSwitches(switches, options.switches);
      Object.assign(config, initialConfig);
      faults.clear();
      requests.length = 0;
      state.reset(resetOptions?.seed ?? options.seed !== false);
    },
    clearRequests: () => {
      requests.length = 0;
    },
    expireToken: (token) => state.expireToken(token),
    expireAllSessions: () => state.expireAllSessions(),
    setTrustedIps: (ips, token) => state.setTrustedIps(ips, token),
    removePermission: (persona, permission) => state.removePermission(persona, permission),
    completeTasks: (ids) => state.completeTasks(ids),
    failTask: (id, error) => state.failTask(id, error),
    addAlerts: (inputs) => state.addAlerts(inputs),
    pruneAlerts: (olderThanMs) => state.pruneAlerts(olderThanMs),
    generateEvents: (connectionId, type, count) => state.generateEvents(connectionId, type, count),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return emulator;
}

/** `path` as a URL carries it: characters a path cannot hold percent-encoded, escapes kept. */
function encodedPath(path: string): string {
  if (path === '') return '';
  return new URL(path.startsWith('/') ? path : `/${path}`, 'http://emulator.invalid').pathname;
}
