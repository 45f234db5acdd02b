import type { IncomingHttpHeaders } from 'node:http';
import type { EmulatorState } from './state/index.ts';

/** What a route answers; the server writes it (and faults may break it on the way). */
export interface Reply {
  status: number;
  headers?: Record<string, string | number>;
  body?: string | Buffer | AsyncIterable<Buffer>;
  /** Announced length of a streamed body; omitted means chunked. */
  length?: number;
  /** Stop sending after this many body bytes and hang (the download stall switch). */
  stallAfter?: number;
}

export interface RouteContext {
  state: EmulatorState;
  method: string;
  /** Path relative to the emulator's prefix, raw (still percent-encoded). */
  path: string;
  /** Decoded path parameters. */
  params: Record<string, string>;
  query: URLSearchParams;
  rawQuery: string;
  body: Buffer;
  headers: IncomingHttpHeaders;
  clientIp: string;
  /** Adds a remark to this request's log entry (e.g. an ignored query key). */
  note(text: string): void;
}

export type Handler = (ctx: RouteContext) => Reply | Promise<Reply>;

export const JSON_TYPE = 'application/json; charset=utf-8';

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

export function text(status: number, body: string, contentType = 'text/plain; charset=utf-8'): Reply {
  return { status, headers: { 'content-type': contentType }, body };
}

export function empty(status: number): Reply {
  return { status };
}

export const notFound = (): Reply => json(404, { text: 'Not Found' });

export function badRequest(message: string): Reply {
  return json(400, { text: message });
}

/** A `Content-Type` header's media type, lower case, without its parameters (`charset=...`). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parses a JSON request body; undefined when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
