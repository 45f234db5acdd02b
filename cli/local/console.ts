import type { EventLogger } from '../../shared/events/logging.ts';

/** Where the local pipeline writes its lines; tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const stdio: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Handler warnings and errors as one short line each; the JSON logs are what Lambda would keep. */
export function stderrLogger(io: Io): EventLogger {
  const line =
    (level: string) =>
    (message: string, extra: Record<string, unknown> = {}) => {
      const id = typeof extra.correlation_id === 'string' ? ` [${extra.correlation_id}]` : '';
      const detail = typeof extra.message === 'string' ? `: ${extra.message}` : '';
      io.err(`  ${level}${id} ${message}${detail}`);
    };
  return { debug: () => undefined, info: () => undefined, warn: line('warn'), error: line('error') };
}
