import { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import type { Context } from 'aws-lambda';
import { SHOWN_NAME_CHARS, shown } from '../config/message-text.ts';
import type { ClientLogger } from '../tanium/client.ts';

/** The small logging surface the event layer uses; Powertools' Logger fits behind it. */
export interface EventLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  /** False when debug lines are dropped, so callers can skip building them. Absent: assume enabled. */
  debugEnabled?(): boolean;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/**
 * The keys that tie a log line to its request. The records of a batch run concurrently, so the
 * correlation id travels with each call instead of being set on the logger; an AsyncLocalStorage would
 * do it implicitly but turns on promise hooks for the whole process, which costs every Tanium call.
 */
export function requestKeys(requestId: string, action: string): Record<string, string> {
  // An action that names no action is the caller's text, of any length.
  return { correlation_id: requestId, action: shown(action, SHOWN_NAME_CHARS) };
}

/** The Tanium client's logger (retries, TLS warnings): container-wide, so its lines carry no request id. */
export function clientLogger(logger: EventLogger): ClientLogger {
  return {
    debug: (message, extra) => logger.debug(message, extra),
    warn: (message, extra) => logger.warn(message, extra),
    debugEnabled: () => logger.debugEnabled?.() ?? true,
  };
}

/** The levels Powertools knows (POWERTOOLS_LOG_LEVEL). */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

/** Powertools' numeric threshold for DEBUG (TRACE is lower still). */
const DEBUG_LEVEL = 8;

/**
 * A Powertools Logger (JSON) behind the EventLogger surface, at the level POWERTOOLS_LOG_LEVEL in `env`
 * names (any case; Powertools' own rules otherwise, Advanced Logging Controls included). Nothing the
 * event layer logs holds parameter values or credentials; the Tanium client redacts its own lines. What
 * it does hold from Tanium (a failure's message, with Tanium's error text; connection ids, which name
 * the endpoint) is in the README's "What the logs and records hold".
 */
export function createPowertoolsLogger(
  serviceName: string,
  env: Record<string, string | undefined> = process.env,
): EventLogger & { addContext(context: Context): void } {
  // Powertools matches POWERTOOLS_LOG_LEVEL in upper case only and ignores anything else without a word;
  // a hand-edited `debug` or a typo would then log at INFO with no sign of why.
  const requested = env.POWERTOOLS_LOG_LEVEL?.trim().toUpperCase() || undefined;
  const known = requested !== undefined && (LOG_LEVELS as readonly string[]).includes(requested);
  const logger = new Logger({
    serviceName,
    ...(known ? { logLevel: requested as (typeof LOG_LEVELS)[number] } : {}),
  });
  if (requested !== undefined && !known) {
    logger.warn(
      `POWERTOOLS_LOG_LEVEL is not one of ${LOG_LEVELS.join(', ')}; logging at ${logger.getLevelName()}`,
    );
  }
  // Checked here because Powertools prepares a line (trace id, level lookups) before dropping it, and
  // the Tanium client writes a debug line per request that production levels never print.
  const debugEnabled = () => logger.level <= DEBUG_LEVEL;
  return {
    debug: (message, extra = {}) => {
      if (debugEnabled()) logger.debug(message, extra as LogAttributes);
    },
    debugEnabled,
    info: (message, extra = {}) => logger.info(message, extra as LogAttributes),
    warn: (message, extra = {}) => logger.warn(message, extra as LogAttributes),
    error: (message, extra = {}) => logger.error(message, extra as LogAttributes),
    addContext: (context) => logger.addContext(context),
  };
}
