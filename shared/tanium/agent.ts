import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent } from './undici-core.ts';

export const CONNECT_TIMEOUT_MS = 10_000;

export interface TlsSettings {
  verifyServerCert: boolean;
  caBundle?: string;
}

const agents = new Map<string, Agent>();

/**
 * One keep-alive agent per container and TLS setting: sockets (and TLS sessions) are reused across
 * invocations, and a changed CA bundle or verification flag never reuses a socket made under the old one.
 */
export function agentFor(tls: TlsSettings): Agent {
  const key = `${tls.verifyServerCert}:${tls.caBundle ? createHash('sha256').update(tls.caBundle).digest('hex') : ''}`;
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

/** Closes every agent (tests, CLI exit). */
export async function closeAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((agent) => agent.close().catch(() => undefined)));
}
