import type { EventLogger } from '../../shared/events/logging.ts';

/** Where the local pipeline writes its lines; tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Writes a line unless the stream failed before: nobody reads a broken pipe. */
function writeLine(stream: NodeJS.WriteStream, text: string): void {
  if (!stream.destroyed) stream.write(`${text}\n`);
}

export const stdio: Io = {
  out: (text) => writeLine(process.stdout, text),
  err: (text) => writeLine(process.stderr, text),
};

/**
 * Calls `onGone` when stdout or stderr fails: EPIPE once the reader went away (`| head` has read its
 * lines), EIO once the terminal closed. With no listener that failure is an uncaught 'error' event that
 * ends the process before anything it started is stopped. Returns the function that stops listening.
 */
export function onOutputGone(onGone: (error: Error) => void): () => void {
  const listener = (error: Error) => onGone(error);
  process.stdout.on('error', listener);
  process.stderr.on('error', listener);
  return () => {
    process.stdout.off('error', listener);
    process.stderr.off('error', listener);
  };
}

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
