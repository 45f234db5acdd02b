import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, buildConnector } from './undici-core.ts';

export const CONNECT_TIMEOUT_MS = 10_000;

export interface TlsSettings {
  verifyServerCert: boolean;
  caBundle?: string;
}

/**
 * Past this idle time a pooled connection is not trusted, and the next request goes on a new agent. A
 * server closes idle keep-alive connections (Node's default after 5 s) and a NAT gateway forgets them
 * (AWS after 350 s, with no FIN at all); undici retires a socket on the server's FIN or its own idle
 * timer, but Lambda freezes the process between invocations, so neither is handled before the next
 * invocation writes its request on the dead socket. The reset that follows leaves a POST's outcome
 * unknown (tanium-api.md 1.4): it is never retried. A new TLS connection after an idle spell is cheap.
 */
export const IDLE_REUSE_LIMIT_MS = 4_000;

const agents = new Map<string, Agent>();
/** The open connections of each agent, and when each last received anything (or connected). */
const connections = new WeakMap<Agent, Map<Socket, number>>();
/**
 * Per TLS setting, kept across agents: one secure context (parsing the system roots plus the bundle
 * costs tens of milliseconds) and undici's connector, whose TLS session cache lets the first
 * connection of a replacing agent resume a session instead of a full handshake.
 */
const connectors = new Map<string, ReturnType<typeof buildConnector>>();
/**
 * TLS settings kept at once, the least recently set up forgotten first (its agent closed once its
 * requests are done). A container meets one, or two around a rotation of `ca_bundle`; each costs about
 * 1 MB of native memory (its secure context), which would otherwise grow with every rotation the
 * container lives through.
 */
export const MAX_TLS_SETTINGS = 4;
/** Requests of each agent not yet done with (their body read or dropped). */
const inFlight = new WeakMap<Agent, number>();

/**
 * One keep-alive agent per TLS setting: sockets are reused by the requests of a batch and by invocations
 * that follow within a few seconds, TLS sessions beyond that, and a changed CA bundle or verification flag
 * never reuses a socket made under the old one.
 */
export function agentFor(tls: TlsSettings): Agent {
  const key = agentKey(tls);
  let agent = agents.get(key);
  if (!agent) {
    const open = new Map<Socket, number>();
    const connect = connectorFor(key, tls);
    agent = new Agent({
      // While the process runs, undici retires idle sockets before usableAgent would judge them stale, so
      // only an idle spell spent frozen replaces the whole agent.
      keepAliveTimeout: IDLE_REUSE_LIMIT_MS - 1000,
      keepAliveMaxTimeout: IDLE_REUSE_LIMIT_MS - 1000,
      connections: 32,
      connect: (options, callback) =>
        connect(options, (...args) => {
          const socket = args[1];
          if (socket) watch(open, socket);
          callback(...args);
        }),
    });
    connections.set(agent, open);
    agents.set(key, agent);
  }
  return agent;
}

/**
 * Notes when `socket` last received anything. 'readable', not 'data': undici reads the socket itself,
 * and a 'data' listener would switch it to flowing mode and take the bytes from undici.
 */
function watch(open: Map<Socket, number>, socket: Socket): void {
  open.set(socket, Date.now());
  socket.on('readable', () => {
    if (open.has(socket)) open.set(socket, Date.now());
  });
  socket.once('close', () => open.delete(socket));
}

/**
 * The agent to send a request on at `now`: `agent` itself, or, when one of its connections has received
 * nothing for IDLE_REUSE_LIMIT_MS (undici may pick any of them), a new agent for the same TLS setting in
 * its place. The old one closes once the requests still on it are done.
 */
export function usableAgent(agent: Agent, tls: TlsSettings, now: number): Agent {
  // Judged only between requests: a connection waiting on a slow answer receives nothing for as long and
  // is not dead, and a freeze happens between invocations, when none is in flight.
  if (!agent.closed && ((inFlight.get(agent) ?? 0) > 0 || !hasStaleConnection(agent, now))) return agent;
  const key = agentKey(tls);
  if (agents.get(key) === agent) {
    agents.delete(key);
    agent.close().catch(() => undefined);
  }
  return agentFor(tls);
}

/** Counts a request on `agent` until the returned function is called (once is enough). */
export function requestStarted(agent: Agent): () => void {
  inFlight.set(agent, (inFlight.get(agent) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    inFlight.set(agent, Math.max(0, (inFlight.get(agent) ?? 1) - 1));
  };
}

function hasStaleConnection(agent: Agent, now: number): boolean {
  const open = connections.get(agent);
  if (open === undefined) return false;
  for (const lastActive of open.values()) if (now - lastActive > IDLE_REUSE_LIMIT_MS) return true;
  return false;
}

function connectorFor(key: string, tls: TlsSettings): ReturnType<typeof buildConnector> {
  let connector = connectors.get(key);
  // Moved to the end (most recently set up); the oldest is the Map's first.
  connectors.delete(key);
  if (!connector) {
    forgetOldestSettings();
    connector = buildConnector({
      timeout: CONNECT_TIMEOUT_MS,
      rejectUnauthorized: tls.verifyServerCert,
      ...(tls.caBundle
        ? { secureContext: createSecureContext({ ca: [...rootCertificates, tls.caBundle] }) }
        : {}),
    });
  }
  connectors.set(key, connector);
  return connector;
}

function forgetOldestSettings(): void {
  for (const oldest of connectors.keys()) {
    if (connectors.size < MAX_TLS_SETTINGS) return;
    connectors.delete(oldest);
    const agent = agents.get(oldest);
    agents.delete(oldest);
    // A client still holding it gets a new agent for its setting at its next request (usableAgent).
    agent?.close().catch(() => undefined);
  }
}

function agentKey(tls: TlsSettings): string {
  return `${tls.verifyServerCert}:${tls.caBundle ? createHash('sha256').update(tls.caBundle).digest('hex') : ''}`;
}

/** Closes every agent (tests, CLI exit). */
export function closeAgents(): Promise<void> {
  return endAgents((agent) => agent.close());
}

/**
 * Ends every agent now, failing the requests in flight (a download included) rather than waiting for
 * them as `closeAgents` does: for a CLI run stopped by a signal, whose action takes no abort signal.
 */
export function destroyAgents(): Promise<void> {
  return endAgents((agent) => agent.destroy());
}

async function endAgents(end: (agent: Agent) => Promise<void>): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  connectors.clear();
  await Promise.all(all.map((agent) => end(agent).catch(() => undefined)));
}
