import type { Handler } from './http.ts';

export const TR = 'plugin/products/threat-response/api/v1';
export const DEC = 'plugin/products/dec/v1';

export interface Route {
  method: string;
  /** Segments separated by `/`; `:name` captures one decoded segment. `TR/` and `DEC/` expand. */
  pattern: string;
  /** Permission the persona needs; null for the login routes (no session). */
  permission: string | null;
  /**
   * The media type a request's `Content-Type` must name (parameters such as `charset` aside), or the
   * route answers 415 as a strict server would: the contract (tanium-api.md 1.3) says what each POST
   * sends, and a client that sent another type would otherwise pass every test here.
   */
  accepts?: 'application/json' | 'application/octet-stream';
  handler: Handler;
}

interface Compiled extends Route {
  segments: string[];
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method'; allowed: string[] }
  | { kind: 'none' }
  | { kind: 'bad-encoding' };

function expand(pattern: string): string[] {
  return pattern
    .replace(/^TR\//, `${TR}/`)
    .replace(/^DEC\//, `${DEC}/`)
    .split('/');
}

/** Matches raw path segments first and decodes them after, so an encoded `/` stays inside its segment. */
export class Router {
  private readonly routes: Compiled[];

  constructor(routes: Route[]) {
    this.routes = routes.map((route) => ({ ...route, segments: expand(route.pattern) }));
  }

  match(method: string, rawPath: string): RouteMatch {
    const parts = rawPath.replace(/^\/+/, '').split('/');
    const allowed: string[] = [];
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const segment = route.segments[i]!;
        const part = parts[i]!;
        if (segment.startsWith(':')) {
          if (part === '') ok = false;
          else {
            try {
              params[segment.slice(1)] = decodeURIComponent(part);
            } catch {
              return { kind: 'bad-encoding' };
            }
          }
        } else if (segment !== part) ok = false;
      }
      if (!ok) continue;
      if (route.method === method) return { kind: 'found', route, params };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: 'method', allowed } : { kind: 'none' };
  }
}
