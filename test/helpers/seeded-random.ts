/** A reproducible random sequence in [0, 1) per seed (Park-Miller), for seeded simulations. */
export function seededRandom(seed: number): () => number {
  let state = (seed * 7919) % 2147483647;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}
