import type { ActionContext } from '../../shared/actions/types.ts';
import { parseCredentials, type TaniumCredentials } from '../../shared/config/credentials.ts';
import { type ClientLogger, TaniumClient } from '../../shared/tanium/client.ts';
import { clearSessionCache } from '../../shared/tanium/session-cache.ts';
import { type Emulator, type EmulatorOptions, startEmulator } from '../emulator/index.ts';

export { SEEDED } from '../emulator/index.ts';
export type { Emulator };

/** The emulator over HTTPS with a manual clock, unless told otherwise. */
export function startTestEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ tls: true, clock: 'manual', ...options });
}

export interface ClientOptions {
  /** Which credentials to configure (default: the token only). */
  auth?: 'token' | 'password' | 'both';
  /** Raw secret fields overriding the defaults. */
  secret?: Record<string, unknown>;
  logger?: ClientLogger;
  /** The client's wait between attempts (default a real timer). */
  sleep?: (ms: number) => Promise<unknown>;
}

/** Credentials for the emulator, trusting its CA. */
export function credentialsFor(emulator: Emulator, options: ClientOptions = {}): TaniumCredentials {
  const auth = options.auth ?? 'token';
  const { apiToken, username, password, domain } = emulator.credentials;
  return parseCredentials(
    {
      base_url: emulator.url,
      ...(auth !== 'password' ? { api_token: apiToken } : {}),
      ...(auth !== 'token' ? { username, password, domain } : {}),
      ...(emulator.ca ? { ca_bundle: emulator.ca } : {}),
      timeout_seconds: 10,
      ...options.secret,
    },
    'test',
  );
}

/** A client for the emulator with a fresh session cache (each test starts logged out). */
export function clientFor(emulator: Emulator, options: ClientOptions = {}): TaniumClient {
  clearSessionCache();
  return new TaniumClient(credentialsFor(emulator, options), {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    random: () => 0,
  });
}

/** An action context with a generous deadline; waits advance the emulator clock instead of real time. */
export function contextFor(
  client: TaniumClient,
  emulator?: Emulator,
  extra: Partial<ActionContext> = {},
): ActionContext {
  return {
    client,
    deadline: Date.now() + 60_000,
    requestId: 'test-request',
    ...(emulator
      ? {
          now: () => emulator.clock.now(),
          sleep: async (ms: number) => {
            emulator.clock.advance(ms);
          },
        }
      : {}),
    ...extra,
  };
}

/** A logger that keeps every line, to assert that no secret is ever logged. */
export function capturingLogger(): ClientLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (message, extra) => lines.push(JSON.stringify({ level: 'debug', message, ...extra })),
    warn: (message, extra) => lines.push(JSON.stringify({ level: 'warn', message, ...extra })),
  };
}
