import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import type { Reply } from './http.ts';
import type { FaultSpec } from './types.ts';

export interface BodyBreak {
  /** `close`: a `Connection: close` answer whose connection ends (FIN) mid-body. */
  mode: 'reset' | 'stall' | 'close';
  /** Close mode: send the body chunked, without a Content-Length. */
  chunked?: boolean;
  /** Body bytes sent before breaking; default half the body. */
  after?: number;
  /** Stall only: resume after this many ms (default: never). */
  resumeAfterMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Sends a TCP RST where possible (a plain destroy only closes, which clients report differently). */
export function resetSocket(socket: Socket | null | undefined): void {
  if (!socket) return;
  const raw = ((socket as unknown as { _parent?: Socket })._parent ?? socket) as Socket;
  try {
    raw.resetAndDestroy();
  } catch {
    socket.destroy();
  }
  if (raw !== socket) socket.destroy();
}

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function breakBody(res: ServerResponse, action: BodyBreak): Promise<'stop' | 'resume'> {
  if (action.mode === 'reset') {
    resetSocket(res.socket);
    return 'stop';
  }
  if (action.mode === 'close') {
    res.socket?.end();
    return 'stop';
  }
  if (action.resumeAfterMs === undefined) return 'stop';
  await sleep(action.resumeAfterMs);
  return res.destroyed ? 'stop' : 'resume';
}

/** Writes a reply, optionally breaking it part-way through the body (reset or stall). */
export async function writeReply(res: ServerResponse, reply: Reply, bodyBreak?: BodyBreak): Promise<void> {
  const headers: Record<string, string | number> = { ...reply.headers };
  const body = reply.body;
  const breakAction =
    bodyBreak ??
    (reply.stallAfter !== undefined ? { mode: 'stall' as const, after: reply.stallAfter } : undefined);
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    let buffer = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
    // A break needs a body to break; an empty answer gets a stand-in the client never sees whole.
    if (breakAction && buffer.length < 2) buffer = Buffer.from('{"data":[]}');
    if (breakAction?.mode === 'close') headers.connection = 'close';
    if (!breakAction?.chunked) headers['content-length'] = buffer.length;
    res.writeHead(reply.status, headers);
    if (!breakAction) {
      res.end(buffer);
      return;
    }
    const cut = Math.max(1, Math.min(buffer.length - 1, breakAction.after ?? Math.floor(buffer.length / 2)));
    res.write(buffer.subarray(0, cut));
    if ((await breakBody(res, breakAction)) === 'resume') res.end(buffer.subarray(cut));
    return;
  }
  if (breakAction?.mode === 'close') headers.connection = 'close';
  if (reply.length !== undefined && !breakAction?.chunked) headers['content-length'] = reply.length;
  res.writeHead(reply.status, headers);
  const breakAt = breakAction
    ? (breakAction.after ?? Math.floor((reply.length ?? 2 * 65536) / 2))
    : Number.POSITIVE_INFINITY;
  let sent = 0;
  let broken = false;
  for await (const chunk of body) {
    if (res.destroyed) return;
    let piece = chunk;
    if (!broken && breakAction && sent + piece.length >= breakAt) {
      const cut = Math.max(0, breakAt - sent);
      if (cut > 0) res.write(piece.subarray(0, cut));
      broken = true;
      if ((await breakBody(res, breakAction)) === 'stop') return;
      piece = piece.subarray(cut);
    }
    sent += piece.length;
    if (piece.length > 0 && !res.write(piece)) await waitForDrain(res);
  }
  if (!res.destroyed) res.end();
}

const HTML_STATUSES = new Set([502, 503, 504]);

function html(status: number, title: string): string {
  return `<html><head><title>${status} ${title}</title></head><body><h1>${status} ${title}</h1><p>nginx</p></body></html>`;
}

/** The answer a fault puts in place of the route's (for the fault kinds that answer before or instead). */
export function faultReply(spec: FaultSpec, path: string): Reply | undefined {
  switch (spec.kind) {
    case 'status': {
      const reason = STATUS_CODES[spec.status] ?? 'Error';
      const message = spec.message ?? reason;
      const headers: Record<string, string> = {};
      if (spec.retryAfter !== undefined) headers['retry-after'] = String(spec.retryAfter);
      const shape = spec.shape ?? (HTML_STATUSES.has(spec.status) ? 'html' : 'text');
      const jsonType = { 'content-type': 'application/json; charset=utf-8' };
      switch (shape) {
        case 'text':
          return {
            status: spec.status,
            headers: { ...headers, ...jsonType },
            body: JSON.stringify({ text: message }),
          };
        case 'errors':
          return {
            status: spec.status,
            headers: { ...headers, ...jsonType },
            body: JSON.stringify({ errors: [{ message }] }),
          };
        case 'message':
          return {
            status: spec.status,
            headers: { ...headers, ...jsonType },
            body: JSON.stringify({ message }),
          };
        case 'html':
          return {
            status: spec.status,
            headers: { ...headers, 'content-type': 'text/html' },
            body: html(spec.status, spec.message ?? reason),
          };
        case 'plain':
          return {
            status: spec.status,
            headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' },
            body: message,
          };
        case 'empty':
          return { status: spec.status, headers };
      }
      return undefined;
    }
    case 'retryAfterDate':
      return {
        status: spec.status ?? 429,
        headers: {
          'retry-after': new Date(Date.now() + spec.inMs).toUTCString(),
          'content-type': 'application/json; charset=utf-8',
        },
        body: JSON.stringify({ text: 'Too Many Requests' }),
      };
    case 'malformedJson':
      return {
        status: 200,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: '{"data":[{"id":1,"status":',
      };
    case 'html200':
      return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: '<!DOCTYPE html><html><head><title>Tanium Console</title><script>var x=1;</script></head><body><h1>Sign in</h1><p>Your session has ended.</p></body></html>',
      };
    case 'redirect':
      return {
        status: spec.status ?? 302,
        headers: { location: spec.location ?? `https://elsewhere.invalid${path}` },
      };
    default:
      return undefined;
  }
}

/**
 * The route's answer gzipped, as a proxy in front of Tanium might send it to a client that did not say
 * which codings it accepts (the `compressed` fault). The client says `identity`, so this is a proxy
 * that ignores it.
 */
export function compressedReply(reply: Reply): Reply {
  const { length: _announced, body, ...rest } = reply;
  const headers = { ...reply.headers, 'content-encoding': 'gzip' };
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    return { ...rest, headers, body: gzipSync(body ?? '') };
  }
  return { ...rest, headers, body: Readable.from(body).pipe(createGzip()) };
}
