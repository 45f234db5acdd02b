import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent } from './undici-core.ts';

export const CONNECT_TIMEOUT_MS = 10_000;

export interface TlsSettings {
  verifyServerCert: boolean;
  caBundle?: string;
}

/**
 * Past this idle time the agent's pooled sockets are not trusted, and the next request goes on a new
 * agent. A server closes idle keep-alive connections (Node's default after 5 s) and a NAT gateway
 * forgets them (AWS after 350 s, with no FIN at all); undici retires a socket on the server's FIN or its
 * own idle timer, but Lambda freezes the process between invocations, so neither is handled before the
 * next invocation writes its request on the dead socket. The reset that follows leaves a POST's outcome
 * unknown (tanium-api.md 1.4): it is never retried. A new TLS connection after an idle spell is cheap.
 */
export const IDLE_REUSE_LIMIT_MS = 4_000;

const agents = new Map<string, Agent>();
/** When each agent last started or answered a request. */
const lastUsed = new WeakMap<Agent, number>();

/**
 * One keep-alive agent per container and TLS setting: sockets (and TLS sessions) are reused across
 * invocations, and a changed CA bundle or verification flag never reuses a socket made under the old one.
 */
export function agentFor(tls: TlsSettings): Agent {
  const key = agentKey(tls);
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 300_000,
      connections: 32,
      connect: {
        timeout: CONNECT_TIMEOUT_MS,
        rejectUnauthorized: tls.verifyServerCert,
        // One secure context for every socket of the agent: parsing the system roots plus the bundle for
        // each new connection costs tens of milliseconds.
        ...(tls.caBundle
          ? { secureContext: createSecureContext({ ca: [...rootCertificates, tls.caBundle] }) }
          : {}),
      },
    });
    agents.set(key, agent);
  }
  return agent;
}

/**
 * The agent to send a request on at `now`: `agent` itself, or, when it has carried nothing for
 * IDLE_REUSE_LIMIT_MS, a new one for the same TLS setting in its place (the old one closes once the
 * requests still on it are done).
 */
export function usableAgent(agent: Agent, tls: TlsSettings, now: number): Agent {
  const last = lastUsed.get(agent);
  let usable = agent;
  if (agent.closed || (last !== undefined && now - last > IDLE_REUSE_LIMIT_MS)) {
    const key = agentKey(tls);
    if (agents.get(key) === agent) {
      agents.delete(key);
      agent.close().catch(() => undefined);
    }
    usable = agentFor(tls);
  }
  lastUsed.set(usable, now);
  return usable;
}

/** Records that `agent` answered a request at `now` (see usableAgent). */
export function markUsed(agent: Agent, now: number): void {
  lastUsed.set(agent, now);
}

function agentKey(tls: TlsSettings): string {
  return `${tls.verifyServerCert}:${tls.caBundle ? createHash('sha256').update(tls.caBundle).digest('hex') : ''}`;
}

/** Closes every agent (tests, CLI exit). */
export async function closeAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((agent) => agent.close().catch(() => undefined)));
}
