import { vi } from 'vitest';

/** Captures what is written to stdout and stderr until `stop`, which returns its non-empty lines. */
function capture(): { stop(): string[] } {
  const chunks: string[] = [];
  const keep = (chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(keep);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(keep);
  return {
    stop: () => {
      out.mockRestore();
      err.mockRestore();
      return chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '');
    },
  };
}

const jsonLines = (lines: string[]) =>
  lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

/** Every non-empty line written to stdout and stderr while `run` runs, JSON or not (a warning's text). */
export function linesWrittenBy(run: () => void): string[] {
  const capturing = capture();
  let lines: string[] = [];
  try {
    run();
  } finally {
    // The streams come back even when `run` throws.
    lines = capturing.stop();
  }
  return lines;
}

/**
 * The JSON lines (Powertools log lines, EMF documents) written to stdout and stderr while `run` runs;
 * nothing reaches the terminal meanwhile.
 */
export function jsonLinesWrittenBy(run: () => void): Record<string, unknown>[] {
  return jsonLines(linesWrittenBy(run));
}

/** As jsonLinesWrittenBy, for work that ends when the promise `run` returns settles. */
export async function jsonLinesWrittenWhile(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const capturing = capture();
  let lines: string[] = [];
  try {
    await run();
  } finally {
    lines = capturing.stop();
  }
  return jsonLines(lines);
}
