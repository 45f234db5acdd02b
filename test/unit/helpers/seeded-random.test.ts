import { describe, expect, it } from 'vitest';
import { historySeeds, seededRandom } from '../../helpers/seeded-random.ts';

describe('Seeded histories: their seeds', () => {
  it('runs the first seeds of the usual range, then the ones found past it', () => {
    expect(historySeeds(3, [8011], {})).toEqual([1, 2, 3, 8011]);
    expect(historySeeds(2, undefined, {})).toEqual([1, 2]);
  });

  it('shifts the usual range by SIMULATION_SEED_OFFSET, keeping the ones found', () => {
    expect(historySeeds(3, [3200], { SIMULATION_SEED_OFFSET: '8000' })).toEqual([8001, 8002, 8003, 3200]);
  });

  it.each(['-1', '1.5', 'eight', ''])('refuses SIMULATION_SEED_OFFSET=%j, saying what it takes', (raw) => {
    expect(() => historySeeds(3, [], { SIMULATION_SEED_OFFSET: raw })).toThrow(
      `SIMULATION_SEED_OFFSET must be a whole number from 0 to 999999999, not '${raw}'`,
    );
  });

  it('gives each seed its own sequence, the same every time', () => {
    const first = seededRandom(7);
    const again = seededRandom(7);
    const other = seededRandom(8);
    const draws = [first(), first()];

    expect([again(), again()]).toEqual(draws);
    expect(other()).not.toBe(draws[0]);
  });
});
