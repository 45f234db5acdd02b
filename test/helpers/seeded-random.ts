/** A reproducible random sequence in [0, 1) per seed (Park-Miller), for seeded simulations. */
export function seededRandom(seed: number): () => number {
  let state = (seed * 7919) % 2147483647;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

/**
 * The seeds a set of seeded histories runs: `count` of the usual range, then `found` (seeds past it that
 * once failed, kept for good). SIMULATION_SEED_OFFSET shifts the usual range, to search further:
 * `SIMULATION_SEED_OFFSET=8000 npx vitest run test/unit/alerts/poller-simulation.test.ts`.
 */
export function historySeeds(count: number, found: readonly number[] = [], env = process.env): number[] {
  const raw = env.SIMULATION_SEED_OFFSET ?? '0';
  const offset = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (Number.isNaN(offset)) {
    throw new Error(`SIMULATION_SEED_OFFSET must be a whole number from 0 to 999999999, not '${raw}'`);
  }
  return [...Array.from({ length: count }, (_, index) => index + 1 + offset), ...found];
}
