import { randomBytes } from 'node:crypto';
import type { Clock, EmulatorConfig, EmulatorCredentials } from '../types.ts';

export const PERMISSIONS = {
  useApi: 'threat response use api',
  intelsWrite: 'threat response intels write',
  scansWrite: 'threat response on demand scans write',
  alertsRead: 'threat response alerts read',
  groupsRead: 'computer groups read',
} as const;
export type Permission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];

export const FULL_PERSONA = 'full';

export interface ApiToken {
  value: string;
  expiresAt: number;
  /** Exact client IPs; `*` trusts every address. */
  trustedIps: string[];
  persona: string;
}

export interface User {
  username: string;
  password: string;
  domain: string;
  persona: string;
}

export interface Session {
  value: string;
  username: string;
  persona: string;
  expiresAt: number;
}

export type AuthOutcome =
  | { ok: true; persona: string; kind: 'token' | 'session' }
  | { ok: false; status: 401 | 403; text: string };

export const DEFAULT_TRUSTED_IPS = ['127.0.0.1', '::1'];

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** Tokens, users, sessions and personas, with Tanium's split between 401 (token) and 403 (session). */
export class AuthStore {
  readonly personas = new Map<string, Set<string>>();
  readonly tokens = new Map<string, ApiToken>();
  readonly users = new Map<string, User>();
  readonly sessions = new Map<string, Session>();
  private sessionCounter = 224;

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
  ) {}

  clear(): void {
    this.personas.clear();
    this.tokens.clear();
    this.users.clear();
    this.sessions.clear();
    this.sessionCounter = 224;
  }

  seed(credentials: EmulatorCredentials): void {
    this.personas.set(FULL_PERSONA, new Set(Object.values(PERMISSIONS)));
    this.personas.set('api-only', new Set([PERMISSIONS.useApi]));
    this.addToken({ value: credentials.apiToken, persona: FULL_PERSONA });
    this.addUser({ ...credentials, persona: FULL_PERSONA });
  }

  addToken(input: Partial<ApiToken> & { persona: string }): ApiToken {
    const token: ApiToken = {
      value: input.value ?? `token-${randomBytes(16).toString('hex')}`,
      expiresAt: input.expiresAt ?? this.clock.now() + this.config.tokenTtlMs,
      trustedIps: input.trustedIps ?? [...DEFAULT_TRUSTED_IPS],
      persona: input.persona,
    };
    this.tokens.set(token.value, token);
    return token;
  }

  addUser(user: User): void {
    this.users.set(user.username.toLowerCase(), { ...user });
  }

  /** Returns a new session for good credentials; `domain`, when given, must match the user's. */
  login(username: string, password: string, domain?: string): Session | undefined {
    const user = this.users.get(username.toLowerCase());
    if (!user || user.password !== password) return undefined;
    if (domain !== undefined && domain !== '' && domain.toLowerCase() !== user.domain.toLowerCase())
      return undefined;
    const session: Session = {
      value: `1-${this.sessionCounter++}-${randomBytes(32).toString('hex')}`,
      username: user.username,
      persona: user.persona,
      expiresAt: this.clock.now() + this.config.sessionTtlMs,
    };
    this.sessions.set(session.value, session);
    return session;
  }

  authenticate(value: string | undefined, clientIp: string): AuthOutcome {
    const now = this.clock.now();
    if (value === undefined || value === '') return { ok: false, status: 401, text: 'Unauthorized' };
    if (value.startsWith('token-')) {
      const token = this.tokens.get(value);
      const ip = normalizeIp(clientIp);
      const trusted = token?.trustedIps.some((allowed) => allowed === '*' || normalizeIp(allowed) === ip);
      if (!token || token.expiresAt <= now || !trusted)
        return { ok: false, status: 401, text: 'Unauthorized' };
      return { ok: true, persona: token.persona, kind: 'token' };
    }
    const session = this.sessions.get(value);
    if (!session || session.expiresAt <= now) {
      if (session) this.sessions.delete(value);
      return { ok: false, status: 403, text: 'Forbidden: session is invalid or expired' };
    }
    // Tanium sessions expire after inactivity, so every use extends them.
    session.expiresAt = now + this.config.sessionTtlMs;
    return { ok: true, persona: session.persona, kind: 'session' };
  }

  hasPermission(persona: string, permission: string): boolean {
    return this.personas.get(persona)?.has(permission) ?? false;
  }

  /** Expires one token (default: every token). */
  expireToken(value?: string): void {
    const now = this.clock.now();
    for (const token of this.tokens.values())
      if (value === undefined || token.value === value) token.expiresAt = now;
  }

  expireAllSessions(): void {
    this.sessions.clear();
  }

  /** Replaces the trusted IPs of one token (default: every token). */
  setTrustedIps(ips: string[], value?: string): void {
    for (const token of this.tokens.values())
      if (value === undefined || token.value === value) token.trustedIps = [...ips];
  }

  removePermission(persona: string, permission: string): void {
    this.personas.get(persona)?.delete(permission);
  }

  addPermission(persona: string, permission: string): void {
    const set = this.personas.get(persona) ?? new Set<string>();
    set.add(permission);
    this.personas.set(persona, set);
  }
}
