/** Command-line flags and statistics shared by the benchmarks. */

/** The value after `--<name>` on the command line, or `fallback`. */
export function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

/**
 * A count given as `--<name>`: a whole number of at least `min` (1 by default). Anything else is an
 * error, not a silent NaN, an endless loop (a concurrency of 0) or a rate divided by the wrong count.
 */
export function numberFlag(name: string, fallback: number, min = 1): number {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`--${name} must be a whole number of at least ${min}`);
  return value;
}

/** The middle value (the upper one of the two middles for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}
