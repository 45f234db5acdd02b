import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { methodMatches, pathMatches } from './matchers.ts';
import type { RequestFilter, RequestLogEntry } from './types.ts';

const MASKED_HEADERS = new Set(['session', 'authorization', 'cookie', 'proxy-authorization']);

/** First 16 hex characters of a credential's SHA-256: lets tests tell credentials apart without logging them. */
export function digestCredential(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

export function credentialKind(value: string | undefined): RequestLogEntry['credentialKind'] {
  if (value === undefined || value === '') return 'none';
  if (value.startsWith('token-')) return 'token';
  if (/^1-\d+-[0-9a-f]{64}$/.test(value)) return 'session';
  return 'other';
}

export function maskHeaders(headers: IncomingHttpHeaders): RequestLogEntry['headers'] {
  const masked: RequestLogEntry['headers'] = {};
  for (const [name, value] of Object.entries(headers)) {
    masked[name] = MASKED_HEADERS.has(name) ? '[masked]' : value;
  }
  return masked;
}

export function maskJsonBody(value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value) && 'password' in value) {
    return { ...(value as Record<string, unknown>), password: '[masked]' };
  }
  return value;
}

export function matchesFilter(entry: RequestLogEntry, filter: RequestFilter = {}): boolean {
  return (
    methodMatches(filter.method, entry.method) &&
    pathMatches(filter.path, entry.path) &&
    (filter.status === undefined || filter.status === entry.status)
  );
}
