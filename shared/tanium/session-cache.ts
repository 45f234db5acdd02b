/**
 * Per-container memory of which credential works, keyed by the credential fingerprint (tanium-api.md
 * 1.2). Nothing here is ever persisted: sessions live only in memory.
 */
export interface SessionEntry {
  session?: string;
  /** Set once a fresh session succeeded where the token got 401/403: the token is not sent again. */
  tokenRejected: boolean;
  /** The login in flight, so concurrent requests share one login. */
  login?: Promise<string>;
  /** Every session string issued here, so messages can redact them. */
  issued: Set<string>;
}

const entries = new Map<string, SessionEntry>();

export function sessionEntry(fingerprint: string): SessionEntry {
  let entry = entries.get(fingerprint);
  if (!entry) {
    entry = { tokenRejected: false, issued: new Set() };
    entries.set(fingerprint, entry);
  }
  return entry;
}

/** Forgets every cached session (tests). */
export function clearSessionCache(): void {
  entries.clear();
}
