import { afterAll, beforeAll, expect, it } from 'vitest';
import { historySeeds } from './seeded-random.ts';

/** What a set of histories must reach between them: a fault that fired, a check exercised. */
export interface SetCoverage {
  /** Forgets what earlier sets reached. */
  reset: () => void;
  /** What no history of the set reached. */
  unreached: () => string[];
  /** The assertion's message. */
  what: string;
}

/**
 * One set of seeded histories, inside its `describe`: `history` for each seed (historySeeds), then, once
 * every seed of the set ran, that the set reached all it must. A run filtered to one seed reaches less,
 * so it is not checked then.
 */
export function seededHistories(
  set: { count: number; found?: readonly number[] },
  coverage: SetCoverage,
  history: (seed: number) => Promise<void>,
): void {
  let ran = 0;
  beforeAll(coverage.reset);
  afterAll(() => {
    if (ran < set.count) return;
    expect(coverage.unreached(), coverage.what).toEqual([]);
  });
  it.for(historySeeds(set.count, set.found))('history %i', async (seed) => {
    await history(seed);
    ran++;
  });
}
