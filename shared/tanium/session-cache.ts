import { setMostRecent } from '../config/recent-map.ts';
import type { LoginError } from './errors.ts';

/**
 * Per-container memory of which credential works, keyed by the credential fingerprint (tanium-api.md
 * 1.2). Nothing here is ever persisted: sessions live only in memory.
 */
export interface SessionEntry {
  session?: string;
  /** Set once a fresh session succeeded where the token got 401/403: the token is not sent again. */
  tokenRejected: boolean;
  /**
   * The session a login opened (or a request took) because Tanium refused the token, while replays with
   * it run and, after them, if one beat the token. A request sent with the token meanwhile uses it
   * rather than logging in again: its 401 says nothing the login did not already answer, even when it
   * was sent after that login.
   */
  tokenSession?: string;
  /** Replays with `tokenSession` still running (tokenReplayStarted, tokenReplayEnded). */
  tokenSessionReplays: number;
  /** The login in flight, so concurrent requests share one login. */
  login?: Promise<string>;
  /** The last login Tanium refused these credentials, and when (see REFUSED_LOGIN_MEMORY_MS). */
  refusedLogin?: { at: number; error: LoginError };
  /** The latest sessions issued here (see MAX_REMEMBERED_SESSIONS), so messages can redact them. */
  issued: Set<string>;
}

/**
 * How long a refused login is answered without asking Tanium again. Records of one batch, and the
 * batches after it, would each log in with the refused password: enough failed logins lock the account
 * at Tanium (or at its directory), for the people who share it too. A rotated secret is another
 * credential, with its own entry, and logs in at once.
 */
export const REFUSED_LOGIN_MEMORY_MS = 60_000;

/**
 * Sessions remembered for redaction. Tanium can only echo a session it was sent, and older ones are no
 * longer sent; without a bound, a persona lacking a permission (one login per denied request) would grow
 * the set, and the cost of redacting every error body, for the container's whole life.
 */
export const MAX_REMEMBERED_SESSIONS = 8;

/** A request refused with the token replays with `session`, which token refusals then share. */
export function tokenReplayStarted(entry: SessionEntry, session: string): void {
  if (entry.tokenSession !== session) entry.tokenSessionReplays = 0;
  entry.tokenSession = session;
  entry.tokenSessionReplays += 1;
}

/**
 * A replay with `session` for a token refusal ended; `beaten`: it got past the 401/403 the token got.
 * Once none is left running and none beat the token (all refused as well, a permission neither has, or
 * unanswered), nothing says the session beats the token, and it may expire unused: the next refusal
 * logs in afresh. Returns true when this replay is the one that sets the token aside.
 */
export function tokenReplayEnded(entry: SessionEntry, session: string, beaten: boolean): boolean {
  if (entry.tokenSession === session) {
    entry.tokenSessionReplays -= 1;
    if (entry.tokenSessionReplays === 0 && !beaten && !entry.tokenRejected) entry.tokenSession = undefined;
  }
  if (!beaten || entry.tokenRejected) return false;
  entry.tokenRejected = true;
  return true;
}

/** Records a session issued by a login, forgetting the oldest beyond MAX_REMEMBERED_SESSIONS. */
export function rememberSession(entry: SessionEntry, session: string): void {
  entry.issued.delete(session);
  entry.issued.add(session);
  for (const oldest of entry.issued) {
    if (entry.issued.size <= MAX_REMEMBERED_SESSIONS) break;
    entry.issued.delete(oldest);
  }
}

/**
 * Credentials remembered at once, the least recently used forgotten first. A container uses one, or two
 * around a rotation; without a bound, every credential it ever rotated away from would keep its entry
 * (and the sessions issued for it) for the container's whole life. A client keeps its own entry, so one
 * still finishing a request under a forgotten credential is not affected.
 */
export const MAX_REMEMBERED_CREDENTIALS = 4;

const entries = new Map<string, SessionEntry>();

export function sessionEntry(fingerprint: string): SessionEntry {
  const entry = entries.get(fingerprint) ?? {
    tokenRejected: false,
    tokenSessionReplays: 0,
    issued: new Set<string>(),
  };
  setMostRecent(entries, fingerprint, entry, MAX_REMEMBERED_CREDENTIALS);
  return entry;
}

/** Forgets every cached session (tests). */
export function clearSessionCache(): void {
  entries.clear();
}
