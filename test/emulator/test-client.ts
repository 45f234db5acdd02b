import { Agent, request } from 'undici';
import type { Emulator } from './types.ts';

/** A tiny HTTP client for the emulator's own tests: no retries, no redirects, raw answers. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json: unknown;
}

export const TR_PATH = '/plugin/products/threat-response/api/v1';
export const DEC_PATH = '/plugin/products/dec/v1';

export class TestClient {
  readonly agent: Agent;

  constructor(private readonly emulator: Emulator) {
    this.agent = new Agent(emulator.ca ? { connect: { ca: emulator.ca } } : {});
  }

  async call(
    method: string,
    path: string,
    options: {
      session?: string | null;
      headers?: Record<string, string>;
      body?: string | Buffer;
      json?: unknown;
    } = {},
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { ...options.headers };
    const session = options.session === undefined ? this.emulator.credentials.apiToken : options.session;
    if (session !== null) headers.session = session;
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    const response = await request(`${this.emulator.url}${path}`, {
      method: method as 'GET',
      headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher: this.agent,
    });
    const buffer = Buffer.from(await response.body.arrayBuffer());
    const text = buffer.toString('utf8');
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.statusCode, headers: response.headers, body: buffer, text, json };
  }

  get(path: string, session?: string | null): Promise<RawResponse> {
    return this.call('GET', path, session === undefined ? {} : { session });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
